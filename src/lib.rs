//! facegate: the on-device agent of a face-recognition access-control terminal.
//!
//! The daemon drives the door hardware, keeps persons and access records in SQLite and
//! speaks the terminal's cloud protocol. Pure logic (`protocol`, `access`, Wiegand bit
//! coding) is kept apart from I/O (`store`, `cloud`, `hw`, `ctl`).

pub mod access;
pub mod board;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod error;
pub mod gate;
pub mod hw;
pub mod logger;
pub mod model;
pub mod protocol;
pub mod settings;
pub mod store;

pub use error::{Error, Result};
