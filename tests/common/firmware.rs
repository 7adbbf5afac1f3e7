//! Signed firmware for tests: a vendor key made with `facegate firmware keygen` and releases
//! signed with `facegate firmware sign`, both the real binary.

use std::path::{Path, PathBuf};

use super::facegate_command;

/// A vendor signing key in its own temp dir.
pub struct Vendor {
    dir: tempfile::TempDir,
}

impl Vendor {
    /// A fresh key pair.
    pub fn new() -> Vendor {
        let dir = tempfile::Builder::new().prefix("facegate-vendor-").tempdir().expect("temp dir");
        let out = facegate_command().arg("firmware").arg("keygen").arg(dir.path().join("vendor.key")).output().unwrap();
        assert!(out.status.success(), "keygen failed: {}", String::from_utf8_lossy(&out.stderr));
        Vendor { dir }
    }

    /// The private key file.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("vendor.key")
    }

    /// The public key file keygen wrote.
    pub fn public_key_file(&self) -> PathBuf {
        self.dir.path().join("vendor.key.pub")
    }

    /// The public key in base64, as the .pub file holds it.
    pub fn public_key(&self) -> String {
        let text = std::fs::read_to_string(self.public_key_file()).expect("read the .pub file");
        text.lines().find(|l| !l.starts_with('#')).expect("a key line").trim().to_string()
    }

    /// The key id keygen printed in the .pub file's comment.
    pub fn key_id(&self) -> String {
        let text = std::fs::read_to_string(self.public_key_file()).expect("read the .pub file");
        text.lines().next().and_then(|l| l.rsplit(' ').next()).expect("an id").to_string()
    }

    /// `[update]` trusting this key only.
    pub fn config(&self) -> String {
        format!("[update]\npublic_keys = [{:?}]\n", self.public_key())
    }

    /// `payload` signed as `version` (a rollback release when `rollback`).
    pub fn sign_as(&self, payload: &[u8], version: &str, rollback: bool) -> Vec<u8> {
        let input = tempfile::NamedTempFile::new_in(self.dir.path()).expect("temp file");
        std::fs::write(input.path(), payload).expect("write the payload");
        let out = self.dir.path().join("signed.bin");
        self.sign_file(input.path(), &out, version, rollback);
        let signed = std::fs::read(&out).expect("read the signed file");
        std::fs::remove_file(&out).expect("remove the signed file");
        signed
    }

    /// `payload` signed as version 1.0.
    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        self.sign_as(payload, "1.0", false)
    }

    /// Runs `facegate firmware sign` on files.
    pub fn sign_file(&self, input: &Path, out: &Path, version: &str, rollback: bool) {
        let mut cmd = facegate_command();
        cmd.args(["firmware", "sign", "--key"]).arg(self.key()).arg(input).arg(out).args(["--version", version]);
        if rollback {
            cmd.arg("--rollback");
        }
        let res = cmd.output().expect("run facegate firmware sign");
        assert!(res.status.success(), "sign failed: {}", String::from_utf8_lossy(&res.stderr));
    }
}
