//! The control socket: one JSON object per line in each direction.
//!
//! The CLI (`facegate card 123`, `relay open`, `status`) and the vendor's UI or recognizer use it
//! to inject credentials and read live state. The socket is owner/group only (mode 0660).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    /// Drive one of the sim board's door inputs (`exit_button`, `door_contact`, `fire_input`,
    /// `tamper`) to a state (`press`, `open`, `closed`, `active`, `clear`...).
    Input {
        /// The input's name.
        line: String,
        /// The state's word.
        state: String,
    },
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

/// Connections served at once; one more is answered with one refusal line and closed. The
/// CLI and a vendor UI or recognizer hold one or two each: 16 is room for all with margin, and
/// bounds the handler threads (and their two descriptors each) whatever a client does.
pub const MAX_CONNECTIONS: usize = 16;

/// A connection that sends no complete request for this long is closed (the CLI sends its one
/// line at once; a recognizer that keeps its connection sends within seconds or reconnects).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest request line (without its newline): a face photo (400 KB, the registration limit) as Base64 with the
/// rest of its request fits; a longer line is refused and its connection closed, unread.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The longest socket path: `sun_path` holds 108 bytes with its terminating NUL.
pub const MAX_SOCKET_PATH_BYTES: usize = 107;

/// The private staging name next to the socket while it is bound (`.fgXXX/s`), which must fit
/// `sun_path` as well.
const STAGING_NAME_BYTES: usize = 9;

/// Whether `path` can be bound as the control socket (its length and its staging path's); the
/// reason otherwise, naming `path`.
pub fn check_socket_path(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let len = path.as_os_str().as_bytes().len();
    let dir_len = path.parent().map_or(0, |d| d.as_os_str().as_bytes().len()).max(1);
    if len > MAX_SOCKET_PATH_BYTES || dir_len + STAGING_NAME_BYTES > MAX_SOCKET_PATH_BYTES {
        return Err(format!(
            "{} is {len} bytes: a socket path has at most {MAX_SOCKET_PATH_BYTES} bytes, and its directory at most {}",
            path.display(),
            MAX_SOCKET_PATH_BYTES - STAGING_NAME_BYTES
        ));
    }
    Ok(())
}

/// Binds the socket (replacing a stale one) with mode 0660 from the start and serves each
/// connection with `handle` on its own thread, at most [`MAX_CONNECTIONS`] at once, until the
/// listener is dropped with the process.
pub fn serve<F>(path: &Path, handle: F) -> Result<PathBuf>
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    check_socket_path(path).map_err(Error::Control)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io_path("creating", dir, e))?;
    if UnixStream::connect(path).is_ok() {
        return Err(Error::Control(format!("{} is in use: another facegate daemon is running", path.display())));
    }
    // Bound in a private directory, then renamed into place: the socket is never reachable
    // with the umask's mode, and a stale one is replaced atomically.
    let private = tempfile::Builder::new()
        .prefix(".fg")
        .rand_bytes(3)
        .tempdir_in(dir)
        .map_err(|e| Error::io_path("creating a private directory in", dir, e))?;
    let staged = private.path().join("s");
    let listener = UnixListener::bind(&staged).map_err(|e| Error::io_path("binding", &staged, e))?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| Error::io_path("setting permissions on", &staged, e))?;
    std::fs::rename(&staged, path).map_err(|e| Error::io_path("moving the control socket to", path, e))?;
    let handle = std::sync::Arc::new(handle);
    let open = std::sync::Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("ctl".into())
        .spawn(move || {
            let mut accept_warned: Option<Instant> = None;
            loop {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors (EMFILE/ENFILE) or memory: say so (once a minute),
                        // and wait instead of spinning on a connection that stays queued. The
                        // credential path needs no new descriptor and goes on meanwhile.
                        if accept_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                            log::warn!("control socket: cannot accept a connection: {e}");
                            accept_warned = Some(Instant::now());
                        }
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    open.fetch_sub(1, Ordering::SeqCst);
                    refuse_busy(stream);
                    continue;
                }
                let handle = handle.clone();
                let slot = ConnectionSlot(open.clone());
                let spawned = std::thread::Builder::new().name("ctl-conn".into()).spawn(move || {
                    let _slot = slot;
                    serve_connection(stream, &*handle);
                });
                if let Err(e) = spawned {
                    log::warn!("control socket: cannot start a connection thread: {e}");
                }
            }
        })
        .map_err(|e| Error::io("starting the control thread", e))?;
    Ok(path.to_path_buf())
}

/// Frees a connection's place when its thread ends, however it ends.
struct ConnectionSlot(std::sync::Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells a connection over the limit why it is closed, without waiting on it.
fn refuse_busy(mut stream: UnixStream) {
    let _ = stream.set_nonblocking(true);
    let answer = Response::error(format!("busy: {MAX_CONNECTIONS} control connections are open, the limit; retry"));
    let mut line = serde_json::to_vec(&answer).unwrap_or_default();
    line.push(b'\n');
    let _ = stream.write_all(&line);
}

fn serve_connection(stream: UnixStream, handle: &dyn Fn(Request) -> Response) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    // A client that stops reading cannot hold the thread for ever either.
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        // One byte past the limit tells a line at the limit from one beyond it.
        let limit = MAX_REQUEST_BYTES as u64 + 1;
        match (&mut reader).take(limit).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() > MAX_REQUEST_BYTES {
            let answer =
                Response::error(format!("request refused: longer than {MAX_REQUEST_BYTES} bytes; connection closed"));
            let mut out = serde_json::to_vec(&answer).unwrap_or_default();
            out.push(b'\n');
            let _ = writer.write_all(&out);
            return;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Request>(&text) {
            Ok(req) => handle(req),
            Err(e) => Response::error(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_default();
        out.push(b'\n');
        if writer.write_all(&out).is_err() {
            return;
        }
        // Freed now: a photo-sized line must not stay allocated for the connection's life.
        if line.capacity() > 64 * 1024 {
            line = Vec::new();
        }
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
    serde_json::from_str(&answer)
        .map_err(|e| Error::caused(crate::ErrorKind::Control, "unreadable answer from the daemon", e))
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

    #[test]
    fn connections_beyond_the_limit_are_refused_with_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        serve(&path, |_| Response { ok: true, ..Response::default() }).unwrap();
        let mut held: Vec<UnixStream> = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            let mut c = UnixStream::connect(&path).unwrap();
            // Each is served: an answer proves its thread holds a place.
            c.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
            let mut answer = String::new();
            BufReader::new(c.try_clone().unwrap()).read_line(&mut answer).unwrap();
            assert!(answer.contains("\"ok\":true"), "{answer}");
            held.push(c);
        }
        let excess = UnixStream::connect(&path).unwrap();
        excess.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut lines = BufReader::new(excess).lines();
        let refusal = lines.next().unwrap().unwrap();
        assert!(refusal.contains("busy") && refusal.contains(&MAX_CONNECTIONS.to_string()), "{refusal}");
        assert!(lines.next().is_none(), "closed after the one line");
        drop(held);
        // The holders' places come back once their threads see them close.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = request(&path, &Request::Status, Duration::from_secs(5)).unwrap();
            if r.ok {
                break;
            }
            assert!(Instant::now() < deadline, "still refused: {r:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_request_line_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        serve(&path, |req| match req {
            Request::Qr { data } => Response { ok: true, detail: data.len().to_string(), ..Response::default() },
            _ => Response::error("nope"),
        })
        .unwrap();
        // At the bound: served.
        // The bound counts the line without its newline.
        let overhead = r#"{"cmd":"qr","data":""}"#.len();
        let at = Request::Qr { data: "q".repeat(MAX_REQUEST_BYTES - overhead) };
        let r = request(&path, &at, Duration::from_secs(10)).unwrap();
        assert!(r.ok, "{r:?}");
        // One byte past it: refused, and the connection closed.
        let past = Request::Qr { data: "q".repeat(MAX_REQUEST_BYTES - overhead + 1) };
        let r = request(&path, &past, Duration::from_secs(10)).unwrap();
        assert!(!r.ok && r.error.contains("longer than"), "{r:?}");
    }

    #[test]
    fn socket_paths_are_bounded_before_binding() {
        let dir = tempfile::tempdir().unwrap();
        let long = dir.path().join("d".repeat(120)).join("c.sock");
        let err = serve(&long, |_| Response::default()).unwrap_err().to_string();
        assert!(err.contains("at most 107 bytes") && err.contains(&long.display().to_string()), "{err}");
        assert!(!dir.path().join("d".repeat(120)).exists(), "nothing created");
        assert!(check_socket_path(Path::new(&format!("/{}", "s".repeat(106)))).is_ok(), "107 bytes");
        assert!(check_socket_path(Path::new(&format!("/{}", "s".repeat(107)))).is_err(), "108 bytes");
        // The staging name must fit next to it: a directory of at most 98 bytes.
        assert!(check_socket_path(Path::new(&format!("/{}/{}", "d".repeat(97), "s".repeat(8)))).is_ok());
        assert!(check_socket_path(Path::new(&format!("/{}/s", "d".repeat(98)))).is_err(), "directory too long");
    }
}
