//! Signed releases, below the configuration and the update policy: the envelope (a trailer
//! with the payload's hash, a version and an Ed25519 signature), the keys a device trusts and
//! the vendor's key files, and the streaming verification of a file. `config` parses
//! `[update] public_keys` with [`keys`]; `firmware` decides what may be installed.

pub mod envelope;
pub mod keys;
pub mod verify;
