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
    /// The header, when the trailer parsed.
    pub header: Option<Header>,
}

impl Refused {
    fn new(why: impl Into<String>, header: Option<&Header>) -> Refused {
        Refused { why: why.into(), header: header.cloned() }
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
