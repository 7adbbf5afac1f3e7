//! The one error type of facegate.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong, with messages a user can act on.
#[derive(Debug)]
pub enum Error {
    /// A configuration or board-profile file is wrong. The message names file, line and key.
    Config(String),
    /// The SQLite store could not be opened or used.
    Store(String),
    /// A file or device could not be read or written.
    Io {
        /// What was being done, e.g. "opening /dev/gpiochip0".
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The cloud could not be reached or answered with something unusable.
    Cloud(String),
    /// A message did not follow the protocol.
    Protocol(String),
    /// A hardware backend failed (no underlying error: the message says it all).
    Hardware(String),
    /// A hardware backend failed with an underlying error.
    HardwareCaused {
        /// What was being done, e.g. "claiming relay line 17 of /dev/gpiochip0".
        context: String,
        /// The driver's or library's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The daemon is not running or the control socket refused the request.
    Control(String),
}

/// Result with facegate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    /// A hardware failure with the driver's or library's error kept as its source.
    pub fn hardware(context: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::HardwareCaused { context: context.into(), source: source.into() }
    }

    /// Wraps an I/O error on a path.
    pub fn io_path(what: &str, path: &std::path::Path, source: std::io::Error) -> Error {
        Error::io(format!("{what} {}", PathBuf::from(path).display()), source)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "configuration error: {m}"),
            Error::Store(m) => write!(f, "storage error: {m}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Cloud(m) => write!(f, "cloud: {m}"),
            Error::Protocol(m) => write!(f, "protocol: {m}"),
            Error::Hardware(m) => write!(f, "hardware: {m}"),
            Error::HardwareCaused { context, source } => write!(f, "hardware: {context}: {source}"),
            Error::Control(m) => write!(f, "control socket: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::HardwareCaused { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Store(e.to_string())
    }
}
