//! facegate: the on-device agent of a face-recognition access-control terminal.
//!
//! The daemon drives the door hardware, keeps persons and access records in SQLite and
//! speaks the terminal's cloud protocol. The modules form layers that only point down (see
//! docs/architecture.md; `tests/layers.rs` checks it): leaves (`model`, `error`, `clock`),
//! pure logic (`protocol`, `access`, `board`), effects (`store`, `hw`, `config`, `ctl`),
//! `settings`, `gate`, `cloud`, and at the top `daemon` and `cli`.

// Unsafe code is refused everywhere: every FFI call and ioctl lives in `hw::linux::sys`, the
// one module that allows it, each with its SAFETY line.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod access;
pub mod board;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod error;
pub mod firmware;
pub(crate) mod gate;
pub mod hw;
pub mod logger;
pub mod model;
pub mod protocol;
pub(crate) mod settings;
pub mod signing;
pub mod store;

pub use error::{Error, Kind as ErrorKind, Result};
