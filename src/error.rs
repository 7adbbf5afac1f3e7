//! The one error type of facegate.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong, with messages a user can act on and the underlying error
/// kept as the source where there is one.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration or board-profile file is wrong. The message names file, line and key.
    Config(String),
    /// The store refused a value or found no database (no underlying error).
    Store(String),
    /// SQLite failed.
    Sqlite {
        /// What was being done, e.g. "saving daemon state".
        context: String,
        /// What a technician can do about it (names the file), or "".
        advice: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
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
    /// A failure of one of the kinds above whose underlying error is kept as its source (a
    /// JPEG that would not encode, a PEM file that would not parse, an unreadable answer).
    Caused {
        /// Which part failed; it gives the message's prefix.
        kind: Kind,
        /// What was being done, e.g. "claiming relay line 17 of /dev/gpiochip0".
        context: String,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The daemon is not running or the control socket refused the request.
    Control(String),
}

/// Which part of the terminal an [`Error::Caused`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// The configuration or a board profile.
    Config,
    /// The cloud or its transport.
    Cloud,
    /// A hardware backend.
    Hardware,
    /// The control socket.
    Control,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Config => "configuration error",
            Kind::Cloud => "cloud",
            Kind::Hardware => "hardware",
            Kind::Control => "control socket",
        }
    }
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
        Error::caused(Kind::Hardware, context, source)
    }

    /// A failure of `kind` while doing `context`, keeping `source` as the cause.
    pub fn caused(
        kind: Kind,
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Caused { kind, context: context.into(), source: source.into() }
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
            Error::Sqlite { context, advice, source } if advice.is_empty() => {
                write!(f, "storage error: {context}: {source}")
            }
            Error::Sqlite { context, advice, source } => write!(f, "storage error: {context}: {source}; {advice}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Cloud(m) => write!(f, "cloud: {m}"),
            Error::Protocol(m) => write!(f, "protocol: {m}"),
            Error::Hardware(m) => write!(f, "hardware: {m}"),
            Error::Caused { kind, context, source } => write!(f, "{}: {context}: {source}", kind.prefix()),
            Error::Control(m) => write!(f, "control socket: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Sqlite { source, .. } => Some(source),
            Error::Caused { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    /// A SQLite error met outside the store's own wrappers (which add context and advice).
    fn from(source: rusqlite::Error) -> Error {
        Error::Sqlite { context: "database operation".into(), advice: String::new(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_keep_their_source_and_say_what_to_do() {
        let source = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        let e = Error::Sqlite { context: "saving daemon state".into(), advice: "free some space".into(), source };
        assert_eq!(e.to_string(), "storage error: saving daemon state: database or disk is full; free some space");
        let inner = std::error::Error::source(&e).expect("the SQLite error is kept");
        assert!(inner.downcast_ref::<rusqlite::Error>().is_some());
        let flat: Error = rusqlite::Error::QueryReturnedNoRows.into();
        assert!(matches!(flat, Error::Sqlite { .. }), "{flat:?}");
        assert!(std::error::Error::source(&flat).is_some());
    }
}
