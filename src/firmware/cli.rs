//! `facegate firmware keygen|sign|verify`: the vendor's signing tools and the technician's
//! check, in the same binary. keygen and sign need no device configuration: they run on the
//! vendor's signing machine, which is the only place the private key ever is.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::envelope::{EnvelopeError, Header, Version};
use super::keys::{self, SigningKey};
use super::verify::{self, Verdict};
use crate::config::Config;

/// The `firmware` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Make a signing key: OUT (private: keep it off the devices) and OUT.pub (public: for
    /// [update] public_keys).
    Keygen {
        /// The private key file to create (never overwritten).
        out: PathBuf,
    },
    /// Append a signature trailer to IN, written to OUT.
    Sign {
        /// The private key file keygen wrote.
        #[arg(long, value_name = "K")]
        key: PathBuf,
        /// The payload: what the device installs.
        #[arg(value_name = "IN")]
        input: PathBuf,
        /// The signed file to serve as updateUrl.
        #[arg(value_name = "OUT")]
        out: PathBuf,
        /// The release version (1 to 4 dot-separated numbers); facegate's own version when not
        /// given, which is right only for the agent built from this source.
        #[arg(long, value_name = "V")]
        version: Option<String>,
        /// Mark it as a rollback release: devices running a newer version install it too.
        #[arg(long)]
        rollback: bool,
    },
    /// Check FILE against the public keys of the configuration (--config): who signed it,
    /// the version, OK or why not. Exits non-zero unless OK.
    Verify {
        /// The signed file.
        file: PathBuf,
    },
}

/// Runs one subcommand; `config` is the --config path (used by verify only).
pub fn run(action: Action, config: &Path) -> ExitCode {
    let result = match action {
        Action::Keygen { out } => keygen(&out),
        Action::Sign { key, input, out, version, rollback } => sign(&key, &input, &out, version.as_deref(), rollback),
        Action::Verify { file } => check(config, &file),
    };
    // A measurement hook for the bounded-memory test: the peak resident size of this process.
    if std::env::var_os("FACEGATE_REPORT_PEAK_RSS").is_some() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: unknown");
        eprintln!("{hwm}");
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("facegate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn keygen(out: &Path) -> Result<bool, String> {
    let public_path = PathBuf::from(format!("{}.pub", out.display()));
    for p in [out, &public_path] {
        if p.exists() {
            return Err(format!("{} exists: a key is never overwritten", p.display()));
        }
    }
    let (private_text, key) = SigningKey::generate()?;
    create_new(out, 0o600, private_text.as_bytes())?;
    create_new(&public_path, 0o644, keys::public_key_file(&key.public).as_bytes())?;
    println!("private key  {} (keep it on this machine only)", out.display());
    println!("public key   {}, id {}", public_path.display(), key.public.id);
    println!("             {}", key.public.to_base64());
    println!("Put the public key (or its file) in [update] public_keys on the devices.");
    Ok(true)
}

/// Writes a new file that must not exist yet, with `mode` from its creation.
fn create_new(path: &Path, mode: u32, bytes: &[u8]) -> Result<(), String> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn sign(key: &Path, input: &Path, out: &Path, version: Option<&str>, rollback: bool) -> Result<bool, String> {
    let key = SigningKey::parse(&keys::read_key_file(key)?).map_err(|e| format!("{}: {e}", key.display()))?;
    let version = Version::parse(version.unwrap_or(env!("CARGO_PKG_VERSION")))?;
    let io = |what: &str, p: &Path, e: std::io::Error| format!("cannot {what} {}: {e}", p.display());
    let mut src = File::open(input).map_err(|e| io("open", input, e))?;
    let len = src.metadata().map_err(|e| io("read", input, e))?.len();
    match verify::read_envelope(&mut src, len).map_err(|e| io("read", input, e))? {
        Err(EnvelopeError::NotSigned) => {}
        Ok(env) => {
            return Err(format!(
                "{} is already signed (key {}, version {}): sign the payload itself",
                input.display(),
                env.header.key_id,
                env.header.version
            ));
        }
        // A damaged trailer-like end is payload bytes like any other.
        Err(EnvelopeError::Malformed(_)) => {}
    }
    // Written beside OUT and renamed: OUT is never a half-signed file.
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let written = (|| -> Result<Header, String> {
        let mut dst = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&partial)
            .map_err(|e| io("create", &partial, e))?;
        use std::io::Seek;
        src.seek(std::io::SeekFrom::Start(0)).map_err(|e| io("read", input, e))?;
        let payload_hash = verify::hash_stream(&mut Tee { from: &mut src, to: &mut dst }, len)
            .map_err(|e| format!("cannot copy {} to {}: {e}", input.display(), partial.display()))?;
        let header = Header { payload_len: len, rollback, key_id: key.public.id, payload_hash, version };
        let trailer = header.trailer(&key.sign(&header.encode()));
        dst.write_all(&trailer).and_then(|()| dst.sync_all()).map_err(|e| io("write", &partial, e))?;
        Ok(header)
    })();
    let header = written.inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    std::fs::rename(&partial, out).map_err(|e| io("rename to", out, e))?;
    println!(
        "{}: {} payload bytes, version {}{}, signed by key {}",
        out.display(),
        len,
        header.version,
        if rollback { " (rollback release)" } else { "" },
        header.key_id
    );
    Ok(true)
}

/// Copies what is read through it to `to`.
struct Tee<'a> {
    from: &'a mut File,
    to: &'a mut File,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.from.read(buf)?;
        self.to.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn check(config: &Path, file: &Path) -> Result<bool, String> {
    let cfg = Config::load(config).map_err(|e| e.to_string())?;
    let keys = keys::parse_all(&cfg.update.public_keys, cfg.path.parent())
        .map_err(|(i, why)| format!("[update] public_keys entry {}: {why}", i + 1))?;
    let line = |k: &str, v: &str| println!("{k:<12} {v}");
    line("file", &file.display().to_string());
    if keys.is_empty() {
        line("keys", &format!("none in {}: no signature can be checked", cfg.path.display()));
    }
    let verdict = verify::verify_file(file, &keys);
    let header = match &verdict {
        Ok(Verdict::Signed { header, .. }) => Some(header),
        Ok(Verdict::Unsigned) => None,
        Err(refused) => refused.header.as_deref(),
    };
    if let Some(h) = header {
        let trusted = keys.iter().any(|k| k.id == h.key_id);
        line("signed by", &format!("key {}{}", h.key_id, if trusted { "" } else { " (not a configured key)" }));
        line("version", &format!("{}{}", h.version, if h.rollback { " (rollback release)" } else { "" }));
        line("payload", &format!("{} bytes", h.payload_len));
    }
    let (ok, result) = match verdict {
        Ok(Verdict::Signed { by: Some(_), .. }) => (true, "OK".to_string()),
        Ok(Verdict::Signed { by: None, .. }) => (false, "NOT OK: no configured key to check the signature".into()),
        Ok(Verdict::Unsigned) => (false, format!("NOT OK: {}", EnvelopeError::NotSigned)),
        Err(refused) => (false, format!("NOT OK: {}", refused.why)),
    };
    line("result", &result);
    Ok(ok)
}
