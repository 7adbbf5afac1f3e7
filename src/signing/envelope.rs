//! The signature trailer appended to a firmware payload: its layout, encoding and a parser
//! that checks every field against its bound. Pure: no I/O.
//!
//! ```text
//! payload     N bytes, installed exactly as it is once the trailer is cut off
//! header      HEADER_MIN..=HEADER_MAX bytes, the signed part:
//!   magic         8  "FGFWHDR1"
//!   payload_len   8  u64 LE, = N
//!   flags         4  u32 LE, bit 0 = rollback release; every other bit must be 0
//!   key_id        8  the first 8 bytes of SHA-256(the signer's 32-byte public key)
//!   payload_hash 64  SHA-512 of the payload
//!   version_len   1  1..=32
//!   version       version_len ASCII bytes: 1 to 4 dot-separated numbers of 1 to 9 digits
//! signature  64 bytes: Ed25519 over the header
//! footer     12 bytes:
//!   header_len    4  u32 LE
//!   magic         8  "FGFWSIG1"
//! ```
//!
//! Ed25519 signs a message it must hold whole, so the payload (hundreds of MB) is not signed
//! directly: the header carries its SHA-512 and the header is signed. Changing a payload byte
//! changes the hash; changing a header byte breaks the signature. The trailer sits at the end so
//! the payload needs no copy to be installed: the file is truncated to `payload_len`.

use std::fmt;

/// Starts the signed header (a signature over anything else never verifies as a header).
pub(crate) const HEADER_MAGIC: &[u8; 8] = b"FGFWHDR1";
/// Ends a signed file.
pub(crate) const FOOTER_MAGIC: &[u8; 8] = b"FGFWSIG1";
/// An Ed25519 signature.
pub(crate) const SIGNATURE_LEN: usize = 64;
/// `header_len` and the footer magic.
pub(crate) const FOOTER_LEN: usize = 12;
/// SHA-512.
pub(crate) const HASH_LEN: usize = 64;
/// Bytes of a key id.
pub(crate) const KEY_ID_LEN: usize = 8;
/// Longest version string.
pub(crate) const VERSION_MAX: usize = 32;
/// Header bytes before the version string.
const FIXED_LEN: usize = 8 + 8 + 4 + KEY_ID_LEN + HASH_LEN + 1;
/// Smallest header: a one-character version.
pub(crate) const HEADER_MIN: usize = FIXED_LEN + 1;
/// Largest header.
pub(crate) const HEADER_MAX: usize = FIXED_LEN + VERSION_MAX;
/// The longest trailer: what a verifier reads from the end of a file.
pub(crate) const TRAILER_MAX: usize = HEADER_MAX + SIGNATURE_LEN + FOOTER_LEN;
/// Flag bit: this release may replace a newer one.
const FLAG_ROLLBACK: u32 = 1;

/// A release version: 1 to 4 dot-separated decimal numbers, compared number by number
/// (a missing number counts as 0, so 1.2 = 1.2.0 < 1.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    text: String,
    parts: [u32; 4],
}

impl Version {
    /// Parses "1.2.3"; the error says which rule was broken.
    pub fn parse(text: &str) -> Result<Version, String> {
        if text.is_empty() || text.len() > VERSION_MAX {
            return Err(format!("version {text:?} must be 1 to {VERSION_MAX} characters"));
        }
        let mut parts = [0u32; 4];
        let numbers: Vec<&str> = text.split('.').collect();
        if numbers.len() > parts.len() {
            return Err(format!("version {text:?} has more than 4 numbers"));
        }
        for (slot, n) in parts.iter_mut().zip(&numbers) {
            if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("version {text:?}: each part must be 1 to 9 digits (like 1.4.2)"));
            }
            *slot = n.parse().map_err(|_| format!("version {text:?} is not a number"))?;
        }
        Ok(Version { text: text.to_string(), parts })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this version is older than `other`.
    pub fn older_than(&self, other: &Version) -> bool {
        self.parts < other.parts
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The first 8 bytes of SHA-256 of a public key: names the key in headers and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl KeyId {
    /// The id of a raw 32-byte Ed25519 public key.
    pub fn of(public_key: &[u8]) -> KeyId {
        let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..KEY_ID_LEN]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// What the signed header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Bytes of payload before the header.
    pub payload_len: u64,
    /// May replace a newer release.
    pub rollback: bool,
    /// Which key signed it.
    pub key_id: KeyId,
    /// SHA-512 of the payload.
    pub payload_hash: [u8; HASH_LEN],
    /// The release version.
    pub version: Version,
}

impl Header {
    /// The header's bytes: what is signed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_MAX);
        out.extend_from_slice(HEADER_MAGIC);
        out.extend_from_slice(&self.payload_len.to_le_bytes());
        out.extend_from_slice(&(if self.rollback { FLAG_ROLLBACK } else { 0 }).to_le_bytes());
        out.extend_from_slice(&self.key_id.0);
        out.extend_from_slice(&self.payload_hash);
        // Version::parse bounds the text to VERSION_MAX, so it fits in one byte.
        out.push(self.version.as_str().len() as u8);
        out.extend_from_slice(self.version.as_str().as_bytes());
        out
    }

    /// The whole trailer: header, `signature` of it, footer.
    pub fn trailer(&self, signature: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
        let header = self.encode();
        let mut out = header.clone();
        out.extend_from_slice(signature);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(FOOTER_MAGIC);
        out
    }
}

/// A trailer found at the end of a file, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The decoded header.
    pub header: Header,
    /// The header's bytes, as signed.
    pub signed: Vec<u8>,
    /// The signature over `signed`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl Envelope {
    /// Bytes of the trailer after the payload.
    pub fn trailer_len(&self) -> u64 {
        (self.signed.len() + SIGNATURE_LEN + FOOTER_LEN) as u64
    }
}

/// Why a trailer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// No footer magic at the end: the file was never signed, or lost its end.
    NotSigned,
    /// A field is out of its bound or contradicts another; the text says which.
    Malformed(String),
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::NotSigned => {
                write!(f, "no facegate signature at the end of the file (unsigned, or cut short)")
            }
            EnvelopeError::Malformed(why) => write!(f, "damaged signature trailer: {why}"),
        }
    }
}

/// Parses the trailer from `tail`, the last `tail.len()` bytes of a file of `file_len` bytes
/// (at least `min(file_len, TRAILER_MAX)` of them).
pub fn parse_tail(tail: &[u8], file_len: u64) -> Result<Envelope, EnvelopeError> {
    let bad = |why: String| Err(EnvelopeError::Malformed(why));
    if (tail.len() as u64) > file_len {
        return bad(format!("{} trailer bytes in a file of {file_len}", tail.len()));
    }
    if tail.len() < FOOTER_LEN || &tail[tail.len() - 8..] != FOOTER_MAGIC {
        return Err(EnvelopeError::NotSigned);
    }
    let footer = &tail[tail.len() - FOOTER_LEN..];
    let header_len = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]) as usize;
    if !(HEADER_MIN..=HEADER_MAX).contains(&header_len) {
        return bad(format!("header length {header_len} is outside {HEADER_MIN}..={HEADER_MAX}"));
    }
    let trailer_len = header_len + SIGNATURE_LEN + FOOTER_LEN;
    if tail.len() < trailer_len {
        return bad(format!("the file ends {} bytes into a {trailer_len}-byte trailer", tail.len()));
    }
    let trailer = &tail[tail.len() - trailer_len..];
    let (signed, rest) = trailer.split_at(header_len);
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(&rest[..SIGNATURE_LEN]);
    if &signed[..8] != HEADER_MAGIC {
        return bad("the header does not start with its magic".into());
    }
    let u64_at = |at: usize| u64::from_le_bytes(signed[at..at + 8].try_into().expect("8 bytes"));
    let payload_len = u64_at(8);
    let flags = u32::from_le_bytes(signed[16..20].try_into().expect("4 bytes"));
    if flags & !FLAG_ROLLBACK != 0 {
        return bad(format!("unknown flags {flags:#x}"));
    }
    let mut key_id = [0u8; KEY_ID_LEN];
    key_id.copy_from_slice(&signed[20..20 + KEY_ID_LEN]);
    let mut payload_hash = [0u8; HASH_LEN];
    payload_hash.copy_from_slice(&signed[28..28 + HASH_LEN]);
    let version_len = signed[FIXED_LEN - 1] as usize;
    if FIXED_LEN + version_len != header_len {
        return bad(format!("version length {version_len} does not fill the {header_len}-byte header"));
    }
    let version = std::str::from_utf8(&signed[FIXED_LEN..])
        .map_err(|_| EnvelopeError::Malformed("the version is not text".into()))
        .and_then(|v| Version::parse(v).map_err(EnvelopeError::Malformed))?;
    let expected = file_len - trailer_len as u64;
    if payload_len != expected {
        return bad(format!(
            "the header declares a {payload_len}-byte payload, the file holds {expected} (cut short or added to)"
        ));
    }
    Ok(Envelope {
        header: Header {
            payload_len,
            rollback: flags & FLAG_ROLLBACK != 0,
            key_id: KeyId(key_id),
            payload_hash,
            version,
        },
        signed: signed.to_vec(),
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(payload_len: u64, version: &str) -> Header {
        Header {
            payload_len,
            rollback: false,
            key_id: KeyId([7; KEY_ID_LEN]),
            payload_hash: [9; HASH_LEN],
            version: Version::parse(version).unwrap(),
        }
    }

    /// A file of `payload_len` zero bytes with a trailer for `h`.
    fn file(h: &Header, payload_len: usize) -> Vec<u8> {
        let mut f = vec![0u8; payload_len];
        f.extend(h.trailer(&[5; SIGNATURE_LEN]));
        f
    }

    fn parse(f: &[u8]) -> Result<Envelope, EnvelopeError> {
        let from = f.len().saturating_sub(TRAILER_MAX);
        parse_tail(&f[from..], f.len() as u64)
    }

    fn malformed(f: &[u8]) -> String {
        match parse(f) {
            Err(EnvelopeError::Malformed(why)) => why,
            other => panic!("expected a malformed trailer, got {other:?}"),
        }
    }

    /// Rewrites the footer's header length.
    fn set_header_len(f: &mut [u8], n: u32) {
        let at = f.len() - FOOTER_LEN;
        f[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }

    #[test]
    fn a_trailer_round_trips_with_its_fields() {
        let mut h = header(10, "1.20.3");
        h.rollback = true;
        let env = parse(&file(&h, 10)).unwrap();
        assert_eq!(env.header, h);
        assert_eq!(env.signed, h.encode());
        assert_eq!(env.signature, [5; SIGNATURE_LEN]);
        assert_eq!(env.trailer_len() as usize, h.encode().len() + SIGNATURE_LEN + FOOTER_LEN);
    }

    #[test]
    fn an_empty_payload_is_a_valid_envelope() {
        let h = header(0, "1");
        let f = file(&h, 0);
        assert_eq!(f.len(), HEADER_MIN + SIGNATURE_LEN + FOOTER_LEN);
        assert_eq!(parse(&f).unwrap().header.payload_len, 0);
    }

    #[test]
    fn header_sizes_at_and_past_their_bounds() {
        // The smallest and the largest header parse.
        assert_eq!(header(3, "1").encode().len(), HEADER_MIN);
        assert!(parse(&file(&header(3, "1"), 3)).is_ok());
        let longest = "123456789.123456789.123456789.12";
        assert_eq!(longest.len(), VERSION_MAX);
        assert_eq!(header(3, longest).encode().len(), HEADER_MAX);
        assert!(parse(&file(&header(3, longest), 3)).is_ok());
        // One byte less or more than the bounds, or absurd: refused before anything is read.
        for n in [0, HEADER_MIN as u32 - 1, HEADER_MAX as u32 + 1, u32::MAX] {
            let mut f = file(&header(3, "1.0"), 3);
            set_header_len(&mut f, n);
            assert!(malformed(&f).contains("header length"), "{n}");
        }
        // A header length that disagrees with the version it holds.
        let mut f = file(&header(3, "1.0"), 3);
        set_header_len(&mut f, HEADER_MIN as u32);
        assert!(parse(&f).is_err());
    }

    #[test]
    fn version_bounds() {
        assert!(Version::parse("1").is_ok());
        assert!(Version::parse("999999999.0.0.1").is_ok());
        for bad in ["", "1.2.3.4.5", "1..2", "1.2.", "v1.2", "1.2-rc1", "1234567890", " 1", "+1", "1.2.3.4444444444"] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Version::parse(&"1".repeat(VERSION_MAX + 1)).is_err());
        // A version length of 0 in a header, and one past the maximum.
        let mut f = file(&header(3, "1"), 3);
        let version_len_at = 3 + FIXED_LEN - 1;
        f[version_len_at] = 0;
        assert!(parse(&f).is_err());
        f[version_len_at] = (VERSION_MAX + 1) as u8;
        assert!(parse(&f).is_err());
        // A non-digit version inside a well-sized header.
        let mut f = file(&header(3, "1.2"), 3);
        f[3 + FIXED_LEN + 1] = b'x';
        assert!(malformed(&f).contains("version"));
        let mut f = file(&header(3, "1.2"), 3);
        f[3 + FIXED_LEN + 1] = 0xff;
        assert!(malformed(&f).contains("not text"));
    }

    #[test]
    fn versions_compare_number_by_number() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert!(v("1.9").older_than(&v("1.10")));
        assert!(v("1.2").older_than(&v("1.2.1")));
        assert!(!v("1.2").older_than(&v("1.2.0")));
        assert!(!v("2").older_than(&v("1.99.99.99")));
        assert!(v("0.1.0").older_than(&v("0.1.0.1")));
    }

    #[test]
    fn declared_payload_lengths_must_match_the_file() {
        for declared in [0, 2, 4, u64::MAX / 2, u64::MAX] {
            let f = file(&header(declared, "1"), 3);
            assert!(malformed(&f).contains("payload"), "{declared}");
        }
        // The payload cut short at its start or its end, or grown.
        let f = file(&header(3, "1"), 3);
        assert!(malformed(&f[1..]).contains("payload"));
        let mut longer = vec![1u8];
        longer.extend(&f);
        assert!(malformed(&longer).contains("payload"));
    }

    #[test]
    fn unknown_flags_and_a_wrong_header_magic_are_refused() {
        let f = file(&header(3, "1"), 3);
        let mut flags = f.clone();
        flags[3 + 16] = 0b10;
        assert!(malformed(&flags).contains("flags"));
        let mut flags = f.clone();
        flags[3 + 19] = 0x80;
        assert!(malformed(&flags).contains("flags"));
        let mut magic = f.clone();
        magic[3] ^= 1;
        assert!(malformed(&magic).contains("magic"));
    }

    #[test]
    fn garbage_and_short_files_are_not_signed() {
        assert_eq!(parse(b""), Err(EnvelopeError::NotSigned));
        assert_eq!(parse(b"FGFWSIG"), Err(EnvelopeError::NotSigned));
        assert_eq!(parse(&[0xAB; 4096]), Err(EnvelopeError::NotSigned));
        // The footer alone, or the footer with part of its trailer: too short for its header.
        let f = file(&header(3, "1"), 3);
        let footer = &f[f.len() - FOOTER_LEN..];
        assert!(malformed(footer).contains("ends"));
        let cut = &f[f.len() - FOOTER_LEN - SIGNATURE_LEN - 5..];
        assert!(malformed(cut).contains("ends"));
        // The end cut off: the footer's magic is gone.
        assert_eq!(parse(&f[..f.len() - 1]), Err(EnvelopeError::NotSigned));
        // More tail than file is a caller's bug, reported rather than trusted.
        assert!(parse_tail(&f, 3).is_err());
    }
}
