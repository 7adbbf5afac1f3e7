//! Verification of a firmware file on disk, streamed: the trailer is read from the end, the
//! payload is hashed 64 KiB at a time, so memory stays the same for a 1 KB or a 1 GB file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::envelope::{self, Envelope, EnvelopeError, HASH_LEN, Header, KeyId};
use super::keys::PublicKey;

/// Read size while hashing.
const CHUNK: usize = 64 * 1024;

/// What a file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No trailer at all.
    Unsigned,
    /// Trailer well formed and the payload matches its hash; `by` is the configured key whose
    /// signature verified, `None` when no key was given to check it with.
    Signed {
        /// The signed header.
        header: Header,
        /// The key that verified it.
        by: Option<KeyId>,
    },
}

/// Why a file is refused, with what its trailer said when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// For the cloud's message and the technician.
    pub why: String,
    /// The header, when the trailer parsed (boxed: a refusal stays small to pass around).
    pub header: Option<Box<Header>>,
}

impl Refused {
    fn new(why: impl Into<String>, header: Option<&Header>) -> Refused {
        Refused { why: why.into(), header: header.cloned().map(Box::new) }
    }
}

/// Checks the file at `path` against `keys` (empty: the signature is not checked).
pub fn verify_file(path: &Path, keys: &[PublicKey]) -> Result<Verdict, Refused> {
    let io = |what: &str, e: std::io::Error| Refused::new(format!("cannot {what} {}: {e}", path.display()), None);
    let mut file = File::open(path).map_err(|e| io("open", e))?;
    let len = file.metadata().map_err(|e| io("read", e))?.len();
    let envelope = match read_envelope(&mut file, len).map_err(|e| io("read", e))? {
        Ok(env) => env,
        Err(EnvelopeError::NotSigned) => return Ok(Verdict::Unsigned),
        Err(e) => return Err(Refused::new(e.to_string(), None)),
    };
    let header = &envelope.header;
    let hash = hash_payload(&mut file, header.payload_len).map_err(|e| io("read", e))?;
    if hash != header.payload_hash {
        return Err(Refused::new(
            "the payload does not match the SHA-512 in its signed header (altered, or the trailer of another file)",
            Some(header),
        ));
    }
    if keys.is_empty() {
        return Ok(Verdict::Signed { header: header.clone(), by: None });
    }
    let Some(key) = keys.iter().find(|k| k.id == header.key_id) else {
        let known: Vec<String> = keys.iter().map(|k| k.id.to_string()).collect();
        return Err(Refused::new(
            format!("signed by key {}, which is not a configured key ({})", header.key_id, known.join(", ")),
            Some(header),
        ));
    };
    if !key.verifies(&envelope.signed, &envelope.signature) {
        return Err(Refused::new(
            format!("the signature of key {} does not verify: the header was altered", key.id),
            Some(header),
        ));
    }
    Ok(Verdict::Signed { header: header.clone(), by: Some(key.id) })
}

/// The trailer at the end of `file` (`len` bytes): I/O errors outside, format errors inside.
pub(crate) fn read_envelope(file: &mut File, len: u64) -> std::io::Result<Result<Envelope, EnvelopeError>> {
    let tail_len = len.min(envelope::TRAILER_MAX as u64);
    let mut tail = vec![0u8; tail_len as usize];
    file.seek(SeekFrom::Start(len - tail_len))?;
    file.read_exact(&mut tail)?;
    Ok(envelope::parse_tail(&tail, len))
}

/// SHA-512 of the first `len` bytes of `file`, read in chunks.
fn hash_payload(file: &mut File, len: u64) -> std::io::Result<[u8; HASH_LEN]> {
    file.seek(SeekFrom::Start(0))?;
    hash_stream(&mut file.take(len), len)
}

/// SHA-512 of exactly `len` bytes from `reader` (an error if it ends before).
pub(crate) fn hash_stream(reader: &mut dyn Read, len: u64) -> std::io::Result<[u8; HASH_LEN]> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA512);
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let want = left.min(CHUNK as u64) as usize;
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the file ended {left} bytes before its payload's end"),
            ));
        }
        ctx.update(&buf[..n]);
        left -= n as u64;
    }
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok(out)
}

/// Cuts the trailer off a verified file, leaving the payload to install as it is.
pub(crate) fn strip(path: &Path, payload_len: u64) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(payload_len)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::envelope::Version;
    use crate::signing::keys::SigningKey;

    fn signed(key: &SigningKey, payload: &[u8]) -> Vec<u8> {
        let hash = hash_stream(&mut &payload[..], payload.len() as u64).unwrap();
        let header = Header {
            payload_len: payload.len() as u64,
            rollback: false,
            key_id: key.public.id,
            payload_hash: hash,
            version: Version::parse("2.1").unwrap(),
        };
        let mut f = payload.to_vec();
        f.extend(header.trailer(&key.sign(&header.encode())));
        f
    }

    fn verify_bytes(dir: &Path, bytes: &[u8], keys: &[PublicKey]) -> Result<Verdict, Refused> {
        let path = dir.join("fw.bin");
        std::fs::write(&path, bytes).unwrap();
        verify_file(&path, keys)
    }

    #[test]
    fn a_signed_file_verifies_and_strips_to_its_payload() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = SigningKey::generate().unwrap();
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let file = signed(&key, &payload);
        let keys = [key.public.clone()];
        match verify_bytes(dir.path(), &file, &keys) {
            Ok(Verdict::Signed { header, by }) => {
                assert_eq!(by, Some(key.public.id));
                assert_eq!(header.version.as_str(), "2.1");
                strip(&dir.path().join("fw.bin"), header.payload_len).unwrap();
                assert_eq!(std::fs::read(dir.path().join("fw.bin")).unwrap(), payload);
            }
            other => panic!("{other:?}"),
        }
        // Without keys the trailer and hash are still checked; the signature is not.
        assert!(matches!(verify_bytes(dir.path(), &file, &[]), Ok(Verdict::Signed { by: None, .. })));
        assert_eq!(verify_bytes(dir.path(), &payload, &keys), Ok(Verdict::Unsigned));
        // The empty payload.
        let empty = signed(&key, b"");
        assert!(matches!(verify_bytes(dir.path(), &empty, &keys), Ok(Verdict::Signed { .. })));
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = SigningKey::generate().unwrap();
        let keys = [key.public.clone()];
        let file = signed(&key, &[0x5A; 300]);
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            let verdict = verify_bytes(dir.path(), &bad, &keys);
            assert!(!matches!(verdict, Ok(Verdict::Signed { .. })), "byte {i} flipped: {verdict:?}");
        }
        for len in 0..file.len() {
            let verdict = verify_bytes(dir.path(), &file[..len], &keys);
            assert!(!matches!(verdict, Ok(Verdict::Signed { .. })), "cut to {len}: {verdict:?}");
            let verdict = verify_bytes(dir.path(), &file[file.len() - len..], &keys);
            assert!(!matches!(verdict, Ok(Verdict::Signed { .. })), "first {} cut: {verdict:?}", file.len() - len);
        }
    }

    #[test]
    fn only_configured_keys_verify_and_any_of_them_does() {
        let dir = tempfile::tempdir().unwrap();
        let (_, old) = SigningKey::generate().unwrap();
        let (_, new) = SigningKey::generate().unwrap();
        let (_, stranger) = SigningKey::generate().unwrap();
        let keys = [old.public.clone(), new.public.clone()];
        for k in [&old, &new] {
            let verdict = verify_bytes(dir.path(), &signed(k, b"payload"), &keys);
            assert!(matches!(verdict, Ok(Verdict::Signed { by: Some(id), .. }) if id == k.public.id), "{verdict:?}");
        }
        let refused = verify_bytes(dir.path(), &signed(&stranger, b"payload"), &keys).unwrap_err();
        assert!(refused.why.contains(&stranger.public.id.to_string()), "{}", refused.why);
        // A stranger's signature under a configured key's id.
        let mut forged = signed(&stranger, b"payload");
        let id_at = 7 + 20;
        forged[id_at..id_at + 8].copy_from_slice(&new.public.id.0);
        let refused = verify_bytes(dir.path(), &forged, &keys).unwrap_err();
        assert!(refused.why.contains("does not verify"), "{}", refused.why);
        // The trailer of one file on another of the same length.
        let a = signed(&new, b"payload");
        let mut b = b"PAYLOAD".to_vec();
        b.extend(&a[7..]);
        let refused = verify_bytes(dir.path(), &b, &keys).unwrap_err();
        assert!(refused.why.contains("SHA-512"), "{}", refused.why);
    }
}
