//! The control socket: one JSON object per line in each direction.
//!
//! The CLI (`facegate card 123`, `relay open`, `status`) and the vendor's UI or recognizer use it
//! to inject credentials and read live state. The socket is owner/group only (mode 0660).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A request on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// A card number was read.
    Card {
        /// The card number as printed or decoded.
        number: String,
    },
    /// The recognizer matched a registered face.
    Face {
        /// The person's idNumber.
        id_number: String,
        /// Similarity score.
        #[serde(default)]
        score: Option<f32>,
        /// Base64 JPEG snapshot.
        #[serde(default)]
        photo_b64: Option<String>,
    },
    /// The recognizer saw a face it could not match.
    Stranger {
        /// Base64 JPEG snapshot.
        #[serde(default)]
        photo_b64: Option<String>,
    },
    /// A QR code was scanned.
    Qr {
        /// The code's text.
        data: String,
    },
    /// A password was typed.
    Password {
        /// The password.
        password: String,
    },
    /// Pulse the door relay.
    RelayOpen {
        /// Pulse length; the device parameter openDoorTimeDelayMs when absent.
        #[serde(default)]
        ms: Option<u64>,
    },
    /// End a running pulse (the door closes unless held open).
    RelayClose,
    /// Live status of the running daemon.
    Status,
    /// One camera frame as base64 JPEG.
    Snap,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// For credentials: the msgID of the committed record ("" when no record was made).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub msg_id: String,
    /// For credentials: whether the door opened (or waits for the cloud, see `detail`).
    #[serde(default)]
    pub open: bool,
    /// A human-readable summary.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Structured data (live status, snapshot).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Response {
    /// A failed response with a reason.
    pub fn error(msg: impl Into<String>) -> Response {
        Response { ok: false, error: msg.into(), ..Response::default() }
    }
}

/// Binds the socket (replacing a stale one) with mode 0660 from the start and serves each
/// connection with `handle` on its own thread, until the listener is dropped with the process.
pub fn serve<F>(path: &Path, handle: F) -> Result<PathBuf>
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io_path("creating", dir, e))?;
    if UnixStream::connect(path).is_ok() {
        return Err(Error::Control(format!("{} is in use: another facegate daemon is running", path.display())));
    }
    // bind(2) gives the socket the umask's mode, and connect(2) checks the mode only when a
    // client connects: bound in place, another user could connect (and stay connected) before
    // a chmod under a permissive umask. So the socket is bound in a private (0700) directory,
    // made 0660 there, and renamed into place (replacing a stale one from a crash).
    let private = tempfile::Builder::new()
        .prefix(".fg")
        .tempdir_in(dir)
        .map_err(|e| Error::io_path("creating a private directory in", dir, e))?;
    // As short as "control.sock", so a path that fits sun_path bound in place fits here too.
    let staged = private.path().join("s");
    let listener = UnixListener::bind(&staged).map_err(|e| Error::io_path("binding", &staged, e))?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| Error::io_path("setting permissions on", &staged, e))?;
    std::fs::rename(&staged, path).map_err(|e| Error::io_path("moving the control socket to", path, e))?;
    let handle = std::sync::Arc::new(handle);
    std::thread::Builder::new()
        .name("ctl".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handle = handle.clone();
                let _ = std::thread::Builder::new().name("ctl-conn".into()).spawn(move || {
                    serve_connection(stream, &*handle);
                });
            }
        })
        .map_err(|e| Error::io("starting the control thread", e))?;
    Ok(path.to_path_buf())
}

fn serve_connection(stream: UnixStream, handle: &dyn Fn(Request) -> Response) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let reader = BufReader::new(stream.take_limited());
    for line in reader.lines() {
        let Ok(line) = line else { return };
        if line.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(req) => handle(req),
            Err(e) => Response::error(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_default();
        out.push(b'\n');
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

/// Bounds what one connection may send, so a stuck client cannot grow memory without end.
trait TakeLimited {
    fn take_limited(self) -> std::io::Take<UnixStream>;
}

impl TakeLimited for UnixStream {
    fn take_limited(self) -> std::io::Take<UnixStream> {
        std::io::Read::take(self, 64 * 1024 * 1024)
    }
}

/// Sends one request to the daemon and waits for its answer.
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        Error::io(
            format!("cannot reach the daemon at {} (is `facegate run` running with this --config?)", path.display()),
            e,
        )
    })?;
    stream.set_read_timeout(Some(timeout)).ok();
    let mut line = serde_json::to_vec(req).map_err(|e| Error::Control(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(|e| Error::io("writing to the control socket", e))?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(|e| Error::io("reading from the control socket", e))?;
    serde_json::from_str(&answer).map_err(|e| Error::Control(format!("unreadable answer from the daemon: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_over_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        serve(&path, |req| match req {
            Request::Card { number } => Response { ok: true, msg_id: number, open: true, ..Response::default() },
            _ => Response::error("nope"),
        })
        .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let r = request(&path, &Request::Card { number: "42".into() }, Duration::from_secs(5)).unwrap();
        assert!(r.ok && r.open);
        assert_eq!(r.msg_id, "42");
        let r = request(&path, &Request::Status, Duration::from_secs(5)).unwrap();
        assert!(!r.ok);
        assert_eq!(r.error, "nope");
        // A second daemon on the same socket is refused rather than stealing it.
        assert!(serve(&path, |_| Response::default()).is_err());
    }

    #[test]
    fn socket_is_born_private_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        // What a crashed daemon leaves: a socket file nobody listens on.
        drop(UnixListener::bind(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        serve(&path, |_| Response { ok: true, ..Response::default() }).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(request(&path, &Request::Status, Duration::from_secs(5)).unwrap().ok);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["c.sock"], "the private staging directory is gone");
    }

    #[test]
    fn request_without_daemon_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = request(&dir.path().join("none.sock"), &Request::Status, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("facegate run"), "{err}");
        // The socket's error is kept for whoever needs more than the text.
        assert!(matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound), "{err:?}");
    }

    #[test]
    fn wire_format_is_tagged() {
        let s = serde_json::to_string(&Request::RelayOpen { ms: Some(500) }).unwrap();
        assert_eq!(s, r#"{"cmd":"relay_open","ms":500}"#);
    }
}
