//! Firmware keys: the public keys a device trusts (`[update] public_keys`) and the vendor's
//! private key file, in the text forms `facegate firmware keygen` writes.
//!
//! A `public_keys` entry is the key itself — 64 hex digits or 44 base64 characters for the 32
//! bytes of an Ed25519 public key — or the path of a file holding one (a `.pub` file from
//! keygen; lines starting with `#` are comments). A relative path is taken from the
//! configuration file's directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;

use super::envelope::KeyId;

/// Bytes of an Ed25519 public key.
const PUBLIC_KEY_LEN: usize = 32;
/// Keys a device trusts at most: a few for a rotation, never a list to search.
pub(crate) const MAX_KEYS: usize = 16;
/// Key files are a few lines: anything longer is not one (and /dev/zero never ends).
const KEY_FILE_MAX: u64 = 4096;

/// A public key the device trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The raw Ed25519 key.
    pub bytes: [u8; PUBLIC_KEY_LEN],
    /// Its id.
    pub id: KeyId,
}

impl PublicKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, String> {
        let bytes: [u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| format!("an Ed25519 public key is {PUBLIC_KEY_LEN} bytes, this one is {}", bytes.len()))?;
        Ok(PublicKey { bytes, id: KeyId::of(&bytes) })
    }

    /// Whether `signature` over `message` was made by this key.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.bytes)
            .verify(message, signature)
            .is_ok()
    }

    /// The key as base64, the form keygen prints and `public_keys` accepts.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }
}

/// Parses the key text itself: 64 hex digits or 44 base64 characters.
fn parse_inline(text: &str) -> Option<Result<PublicKey, String>> {
    let t = text.trim();
    if t.len() == 2 * PUBLIC_KEY_LEN && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Vec<u8> =
            (0..PUBLIC_KEY_LEN).map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).expect("hex digits")).collect();
        return Some(PublicKey::from_bytes(&bytes));
    }
    // Base64 of 32 bytes is 44 characters ending in '=': no plausible file name.
    if t.len() == 44 && t.ends_with('=') {
        return Some(
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(|e| format!("not base64: {e}"))
                .and_then(|b| PublicKey::from_bytes(&b)),
        );
    }
    None
}

/// One `public_keys` entry: the key itself, or a file holding it (relative to `base_dir`).
pub fn parse_entry(entry: &str, base_dir: Option<&Path>) -> Result<PublicKey, String> {
    if let Some(key) = parse_inline(entry) {
        return key;
    }
    if entry.trim().is_empty() {
        return Err("empty: give the key (64 hex digits or 44 base64 characters) or a key file's path".into());
    }
    let path = Path::new(entry);
    let path: PathBuf = match base_dir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    };
    let text = read_key_file(&path)?;
    let line = key_line(&text).map_err(|why| format!("{}: {why}", path.display()))?;
    parse_inline(line)
        .unwrap_or_else(|| Err("not a public key (64 hex digits or 44 base64 characters)".into()))
        .map_err(|why| format!("{}: {why}", path.display()))
}

/// Reads a small key file, refusing anything longer than a key file can be.
pub(crate) fn read_key_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!("{}: {e} (an entry is a key of 64 hex digits or 44 base64 characters, or a key file)", path.display())
    })?;
    let mut text = String::new();
    file.take(KEY_FILE_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: not a key file: {e}", path.display()))?;
    if text.len() as u64 > KEY_FILE_MAX {
        return Err(format!("{}: longer than {KEY_FILE_MAX} bytes: not a key file", path.display()));
    }
    Ok(text)
}

/// The one line of a key file that is not blank or a `#` comment.
pub(crate) fn key_line(text: &str) -> Result<&str, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let first = lines.next().ok_or("holds no key")?;
    if lines.next().is_some() {
        return Err("holds more than one key line".into());
    }
    Ok(first)
}

/// Every configured key, or the first entry that is not one (with its index).
pub fn parse_all(entries: &[String], base_dir: Option<&Path>) -> Result<Vec<PublicKey>, (usize, String)> {
    if entries.len() > MAX_KEYS {
        return Err((MAX_KEYS, format!("{} keys: at most {MAX_KEYS}", entries.len())));
    }
    entries.iter().enumerate().map(|(i, e)| parse_entry(e, base_dir).map_err(|why| (i, why))).collect()
}

/// The vendor's signing key, read from a file keygen wrote.
pub struct SigningKey {
    pair: ring::signature::Ed25519KeyPair,
    /// The matching public key.
    pub public: PublicKey,
}

impl SigningKey {
    /// Parses a private key file's text (base64 of PKCS#8, `#` comments).
    pub fn parse(text: &str) -> Result<SigningKey, String> {
        use ring::signature::KeyPair;
        let der = base64::engine::general_purpose::STANDARD
            .decode(key_line(text)?)
            .map_err(|e| format!("not a facegate signing key (base64): {e}"))?;
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|e| format!("not an Ed25519 PKCS#8 signing key: {e}"))?;
        let public = PublicKey::from_bytes(pair.public_key().as_ref())?;
        Ok(SigningKey { pair, public })
    }

    /// A new key from the system's random source: the private key file's text.
    pub fn generate() -> Result<(String, SigningKey), String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "the system's random source failed".to_string())?;
        let text = format!(
            "# facegate firmware signing key (Ed25519, PKCS#8). Secret: keep it on the signing\n\
             # machine only, never on a device.\n{}\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        let key = SigningKey::parse(&text)?;
        Ok((text, key))
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

/// A `.pub` file's text for `key`.
pub fn public_key_file(key: &PublicKey) -> String {
    format!("# facegate firmware public key, id {}\n{}\n", key.id, key.to_base64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_keys_in_hex_and_base64_and_key_files() {
        let (_, key) = SigningKey::generate().unwrap();
        let hex: String = key.public.bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_entry(&hex, None).unwrap(), key.public);
        assert_eq!(parse_entry(&hex.to_uppercase(), None).unwrap(), key.public);
        assert_eq!(parse_entry(&key.public.to_base64(), None).unwrap(), key.public);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vendor.pub"), public_key_file(&key.public)).unwrap();
        assert_eq!(parse_entry("vendor.pub", Some(dir.path())).unwrap(), key.public);
        let abs = dir.path().join("vendor.pub").display().to_string();
        assert_eq!(parse_entry(&abs, None).unwrap(), key.public);
    }

    #[test]
    fn bad_entries_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let err = |e: &str| parse_entry(e, Some(dir.path())).unwrap_err();
        assert!(err("").contains("empty"));
        // 63 and 65 hex digits are no key: taken as file names, which do not exist.
        assert!(err(&"a".repeat(63)).contains("No such file"));
        assert!(err(&"a".repeat(65)).contains("No such file"));
        // Base64 of 31 bytes (44 characters, "=="), broken base64, and 33 bytes (44 characters
        // without '=': taken as a file name).
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        assert_eq!(short.len(), 44);
        assert!(err(&short).contains("32 bytes, this one is 31"), "{}", err(&short));
        assert!(err(&format!("{}=", "*".repeat(43))).contains("not base64"));
        let long = base64::engine::general_purpose::STANDARD.encode([1u8; 33]);
        assert!(err(&long).contains("No such file"));
        // Files: empty, two keys, garbage, too long.
        let write = |name: &str, text: &[u8]| {
            std::fs::write(dir.path().join(name), text).unwrap();
            name.to_string()
        };
        assert!(err(&write("empty.pub", b"# nothing\n\n")).contains("holds no key"));
        let one = "a".repeat(64);
        assert!(err(&write("two.pub", format!("{one}\n{one}\n").as_bytes())).contains("more than one"));
        assert!(err(&write("garbage.pub", b"hello\n")).contains("not a public key"));
        assert!(err(&write("binary.pub", &[0xff, 0xfe, 0])).contains("not a key file"));
        let big = vec![b'#'; KEY_FILE_MAX as usize + 1];
        assert!(err(&write("big.pub", &big)).contains("longer than"));
        let at_bound =
            [b"#".repeat(KEY_FILE_MAX as usize - 66), b"\n".to_vec(), one.into_bytes(), b"\n".to_vec()].concat();
        assert_eq!(at_bound.len() as u64, KEY_FILE_MAX);
        assert!(parse_entry(&write("bound.pub", &at_bound), Some(dir.path())).is_ok());
    }

    #[test]
    fn at_most_max_keys() {
        let (_, key) = SigningKey::generate().unwrap();
        let entries = vec![key.public.to_base64(); MAX_KEYS];
        assert_eq!(parse_all(&entries, None).unwrap().len(), MAX_KEYS);
        let too_many = vec![key.public.to_base64(); MAX_KEYS + 1];
        let (_, why) = parse_all(&too_many, None).unwrap_err();
        assert!(why.contains("at most 16"), "{why}");
    }

    #[test]
    fn a_generated_key_signs_what_its_public_key_verifies() {
        let (text, key) = SigningKey::generate().unwrap();
        let again = SigningKey::parse(&text).unwrap();
        assert_eq!(again.public, key.public);
        let sig = key.sign(b"header");
        assert!(key.public.verifies(b"header", &sig));
        assert!(!key.public.verifies(b"headeR", &sig));
        let (_, other) = SigningKey::generate().unwrap();
        assert!(!other.public.verifies(b"header", &sig));
        assert_ne!(other.public.id, key.public.id);
        assert!(SigningKey::parse(&key.public.to_base64()).is_err());
        assert!(SigningKey::parse("").is_err());
    }
}
