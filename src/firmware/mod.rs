//! Signed firmware: only a file signed with a vendor key the device trusts is installed.
//!
//! A release is the payload with a signature trailer appended (`envelope`): the SHA-512 of the
//! payload, a version and a rollback flag, signed with Ed25519. The device holds public keys
//! only (`[update] public_keys`, `keys`); the private key stays on the vendor's signing machine
//! (`facegate firmware keygen/sign`, `cli`).
//!
//! The update service checks a download after it is complete and before any installer runs
//! (`admit`): trailer, payload hash, signature from a configured key, then the version. A
//! release older than the one running is refused unless its trailer marks it as a rollback
//! release. "The one running" is, per update type:
//! - the agent itself (updateType 1 through the built-in installer): this binary's own version;
//! - anything else (file system 0, kernel 3, or an application handed to `install_application`):
//!   the version of the last signed release of that type installed, kept in the store's state
//!   (`firmware_version_<type>`); none before the first one.
//!
//! Without keys there are no remote updates at all, unless `allow_unsigned = true`, which is
//! called out as insecure by `status`, `doctor` and the log at every start.

pub mod cli;

pub use crate::signing::{envelope, keys, verify};

use std::path::Path;

use crate::config::UpdateSection;
use crate::store::Store;
use envelope::Version;
use keys::PublicKey;
use verify::Verdict;

/// What a configuration allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Only files signed by one of these keys.
    Signed(Vec<PublicKey>),
    /// No key: remote updates are refused.
    Disabled,
    /// `allow_unsigned = true`: unsigned files are installed (signed ones still checked
    /// against the keys, if any).
    Insecure(Vec<PublicKey>),
}

impl Policy {
    /// The policy of `[update]`; `base_dir` resolves relative key paths. Key errors were
    /// reported when the configuration was loaded, so one here means a key file changed since.
    pub fn of(update: &UpdateSection, base_dir: Option<&Path>) -> Result<Policy, String> {
        let keys = keys::parse_all(&update.public_keys, base_dir)
            .map_err(|(i, why)| format!("[update] public_keys entry {}: {why}", i + 1))?;
        Ok(match (update.allow_unsigned, keys.is_empty()) {
            (true, _) => Policy::Insecure(keys),
            (false, true) => Policy::Disabled,
            (false, false) => Policy::Signed(keys),
        })
    }

    /// One line for `status`, `doctor` and the log; `false` when it deserves attention.
    pub fn describe(&self) -> (bool, String) {
        let ids = |keys: &[PublicKey]| keys.iter().map(|k| k.id.to_string()).collect::<Vec<_>>().join(", ");
        match self {
            Policy::Signed(keys) => (true, format!("signed only, keys {}", ids(keys))),
            Policy::Disabled => (true, "remote updates disabled: no [update] public_keys".to_string()),
            Policy::Insecure(keys) if keys.is_empty() => {
                (false, "INSECURE: allow_unsigned, any firmware installs".to_string())
            }
            Policy::Insecure(keys) => {
                (false, format!("INSECURE: allow_unsigned, unsigned firmware installs (keys {})", ids(keys)))
            }
        }
    }
}

/// The policy line of a configuration, for `status` and `doctor`.
pub fn policy_line(update: &UpdateSection, base_dir: Option<&Path>) -> (bool, String) {
    match Policy::of(update, base_dir) {
        Ok(p) => p.describe(),
        Err(e) => (false, e),
    }
}

/// Logs the policy at start; an insecure one as a warning.
pub fn log_policy(update: &UpdateSection, base_dir: Option<&Path>) {
    match policy_line(update, base_dir) {
        (true, line) => log::info!("firmware: {line}"),
        (false, line) => log::warn!("firmware: {line}"),
    }
}

/// Why an update is refused without keys.
const DISABLED: &str = "remote updates are disabled: no [update] public_keys configured (allow_unsigned is not set)";

/// Refuses an update before anything is downloaded when no file could be installed.
pub(crate) fn refuse_before_download(update: &UpdateSection, base_dir: Option<&Path>) -> Result<(), String> {
    match Policy::of(update, base_dir)? {
        Policy::Disabled => Err(DISABLED.into()),
        Policy::Signed(_) | Policy::Insecure(_) => Ok(()),
    }
}

/// A verified download, cut down to its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// The release version, when the file was signed.
    pub(crate) version: Option<Version>,
}

/// Verifies the download at `file` and cuts its trailer off; `running` is the version it must
/// not be older than. The error says why nothing may be installed.
pub(crate) fn admit(
    file: &Path,
    update: &UpdateSection,
    base_dir: Option<&Path>,
    running: Option<&Version>,
) -> Result<Admitted, String> {
    let policy = Policy::of(update, base_dir)?;
    let (keys, insecure) = match &policy {
        Policy::Disabled => return Err(DISABLED.into()),
        Policy::Signed(keys) => (keys.as_slice(), false),
        Policy::Insecure(keys) => (keys.as_slice(), true),
    };
    match verify::verify_file(file, keys).map_err(|r| r.why)? {
        Verdict::Unsigned if insecure => {
            log::warn!("firmware: installing an UNSIGNED file (allow_unsigned = true)");
            Ok(Admitted { version: None })
        }
        Verdict::Unsigned => Err(envelope::EnvelopeError::NotSigned.to_string()),
        Verdict::Signed { header, by } => {
            if let Some(running) = running {
                if header.version.older_than(running) && !header.rollback {
                    return Err(format!(
                        "version {} is older than the installed {running} and not marked as a rollback release",
                        header.version
                    ));
                }
            }
            match by {
                Some(id) => log::info!("firmware: version {} signed by key {id}", header.version),
                None => log::warn!("firmware: version {}: signature NOT checked (no public key)", header.version),
            }
            verify::strip(file, header.payload_len)
                .map_err(|e| format!("cannot cut the signature off {}: {e}", file.display()))?;
            Ok(Admitted { version: Some(header.version) })
        }
    }
}

/// This agent's own version: the floor of a self-update.
pub fn agent_version() -> Version {
    Version::parse(env!("CARGO_PKG_VERSION")).expect("the package version is numeric")
}

fn state_key(update_type: &str) -> String {
    format!("firmware_version_{update_type}")
}

/// The version of the last signed release of `update_type` installed, if any.
pub(crate) fn installed_version(store: &Store, update_type: &str) -> Option<Version> {
    let text = store.state(&state_key(update_type)).ok().flatten()?;
    Version::parse(&text).ok()
}

/// Remembers the installed release of `update_type` (unsigned ones leave the record alone).
pub(crate) fn record_installed(store: &mut Store, update_type: &str, admitted: &Admitted) {
    if let Some(v) = &admitted.version {
        if let Err(e) = store.set_state(&state_key(update_type), v.as_str()) {
            log::error!("installed version {v} of updateType {update_type} not recorded: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const BASE: &str =
        "[device]\ndevice_no = \"FG0001\"\n[cloud]\nurl = \"http://127.0.0.1:1\"\n[storage]\ndir = \"/tmp/x\"\n";

    #[test]
    fn config_names_file_line_and_entry_of_a_bad_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facegate.toml");
        let (_, key) = keys::SigningKey::generate().unwrap();
        std::fs::write(dir.path().join("vendor.pub"), keys::public_key_file(&key.public)).unwrap();
        let good = key.public.to_base64();
        let text =
            format!("{BASE}[update]\npublic_keys = [\n  \"vendor.pub\",\n  \"{good}\",\n  \"missing.pub\",\n]\n");
        let err = Config::parse(&text, &path).unwrap_err().to_string();
        assert!(err.contains("facegate.toml:11: key `update.public_keys` entry 3"), "{err}");
        assert!(err.contains("missing.pub"), "{err}");
        let text = format!("{BASE}[update]\npublic_keys = [\"vendor.pub\", \"{}=\"]\n", &good[..43]);
        assert!(Config::parse(&text, &path).is_ok(), "a key of 44 base64 characters ending in '=' is fine");
        let text = format!("{BASE}[update]\npublic_keys = [\"vendor.pub\", \"{}==\"]\n", &good[..42]);
        let err = Config::parse(&text, &path).unwrap_err().to_string();
        assert!(err.contains("facegate.toml:8: key `update.public_keys` entry 2"), "{err}");
        let cfg =
            Config::parse(&format!("{BASE}[update]\npublic_keys = [\"vendor.pub\", \"{good}\"]\n"), &path).unwrap();
        assert_eq!(Policy::of(&cfg.update, cfg.path.parent()).unwrap(), Policy::Signed(vec![key.public.clone(); 2]));
    }

    #[test]
    fn policy_lines_call_out_unsigned_updates() {
        let mut update = UpdateSection::default();
        assert_eq!(Policy::of(&update, None).unwrap(), Policy::Disabled);
        assert!(refuse_before_download(&update, None).unwrap_err().contains("disabled"));
        update.allow_unsigned = true;
        let (ok, line) = policy_line(&update, None);
        assert!(!ok && line.starts_with("INSECURE"), "{line}");
        assert!(refuse_before_download(&update, None).is_ok());
    }
}
