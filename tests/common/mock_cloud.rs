//! A mock of the cloud platform: a small HTTP/1.1 server on 127.0.0.1 that gives the
//! protocol's default answers, queues commands for the poll endpoints, records every request
//! and misbehaves on demand.
//!
//! std and serde_json only, so that integration tests and `examples/mock_cloud.rs` (which
//! also runs inside an emulated ARM guest) can include the same file with `#[path]`.
//!
//! How a POST is classified (the device sends results to the poll URL, see protocol.md §1.6):
//! 1. a path with a fixed reply ([`MockCloud::set_fixed_reply`]) gets that reply;
//! 2. `/device/register`, `/device/heatbeat`, `/device/uploadDevInfo` and `/face/record`
//!    get `registerResp`, `keepAliveResp`, `uploadDevInfoResp` and `uploadRecordResp`;
//! 3. a body carrying `index` or `token` is a streamed item (person/info, face/get) and gets
//!    `onlineGetRegisterResult` / `onlineGetRecordResult` echoing its `index`;
//! 4. a body carrying `errorCode` is the result of a command and gets `{"errorCode":"100"}`;
//! 5. anything else on a poll endpoint must be that endpoint's `...Req` poll, and gets the
//!    next queued command or a "nothing to do" command (flag `"0"`); a wrong `msgType` there
//!    gets HTTP 400 with errorCode 203, so a daemon bug shows up in the request log.
//!
//! Every answer is written with one `write_all` of one buffer and TCP_NODELAY is set: an
//! answer in two pieces stalls a keep-alive client on Nagle plus delayed ACK (design.md).
#![allow(dead_code)]

use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Largest request body accepted; beyond it the mock answers 413 and closes.
const MAX_REQUEST_BODY: usize = 256 << 20;
/// Largest request head (request line and headers).
const MAX_REQUEST_HEAD: usize = 64 << 10;
/// An "endless" chunked answer still stops here, so a client without a size limit cannot
/// keep a test running forever.
const ENDLESS_CAP: usize = 1 << 30;
/// Granularity of interruptible sleeps (delays, drips, `wait_until`).
const NAP: Duration = Duration::from_millis(5);

/// One poll endpoint of the protocol (Appendix B of protocol.md).
struct PollEndpoint {
    path: &'static str,
    /// `msgType` of the device's poll.
    poll: &'static str,
    /// `msgType` of the cloud's command (and of the device's result).
    command: &'static str,
    /// The command's "do it" flag.
    flag: &'static str,
    /// The switch in `registerResp`; its interval field is this name plus "Interval".
    service: &'static str,
}

const POLL_ENDPOINTS: &[PollEndpoint] = &[
    PollEndpoint {
        path: "/device/open",
        poll: "onlineOpenReq",
        command: "onlineOpenResp",
        flag: "isOnlineOpen",
        service: "openService",
    },
    PollEndpoint {
        path: "/device/update",
        poll: "onlineUpdateReq",
        command: "onlineUpdateResp",
        flag: "isOnlineUpdate",
        service: "updateService",
    },
    PollEndpoint {
        path: "/device/reboot",
        poll: "onlineRebootReq",
        command: "onlineRebootResp",
        flag: "isOnlineReboot",
        service: "rebootService",
    },
    PollEndpoint {
        path: "/device/setDevInfo",
        poll: "onlineSetDevInfoReq",
        command: "onlineSetDevInfoResp",
        flag: "isOnlineSetDevInfo",
        service: "setDevInfoService",
    },
    PollEndpoint {
        path: "/device/broadcast",
        poll: "onlineBroadcastReq",
        command: "onlineBroadcastResp",
        flag: "isonlineBroadcast",
        service: "broadcastService",
    },
    PollEndpoint {
        path: "/device/setTime",
        poll: "onlineSetTimeReq",
        command: "onlineSetTimeResp",
        flag: "isonlineSetTime",
        service: "setTimeService",
    },
    PollEndpoint {
        path: "/person/operate",
        poll: "registerPersonInfoReq",
        command: "registerPersonInfoResp",
        flag: "isRegisterPersonInfo",
        service: "personService",
    },
    PollEndpoint {
        path: "/person/count",
        poll: "onlineGetRegisterCountReq",
        command: "onlineGetRegisterCountResp",
        flag: "isonlineGetRegisterCount",
        service: "getRegisterCountService",
    },
    PollEndpoint {
        path: "/person/info",
        poll: "onlineGetRegisterReq",
        command: "onlineGetRegisterResp",
        flag: "isonlineGetRegister",
        service: "getRegisterInfoService",
    },
    PollEndpoint {
        path: "/face/photo",
        poll: "onlineGetPhotoReq",
        command: "onlineGetPhotoResp",
        flag: "isonlineGetPhoto",
        service: "photoService",
    },
    PollEndpoint {
        path: "/face/clear",
        poll: "onlineDeleteSnapRecordReq",
        command: "onlineDeleteSnapRecordResp",
        flag: "isonlineDeleteRecord",
        service: "deleteRecordService",
    },
    PollEndpoint {
        path: "/face/get",
        poll: "onlineGetRecordReq",
        command: "onlineGetRecordResp",
        flag: "isonlineGetRecord",
        service: "getRecordService",
    },
];

fn poll_endpoint(path: &str) -> Option<&'static PollEndpoint> {
    POLL_ENDPOINTS.iter().find(|p| p.path == path)
}

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct Req {
    /// HTTP method, e.g. "POST" or "GET".
    pub method: String,
    /// Path without the query string, e.g. "/device/open".
    pub path: String,
    /// Header names in lower case, values as sent.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Null` when empty or not JSON.
    pub body: Value,
    /// The raw body when it was not empty and not JSON.
    pub raw: Option<Vec<u8>>,
    /// When the request was complete.
    pub at: Instant,
    /// Which TCP connection carried it (numbered from 1), to observe keep-alive reuse.
    pub conn: u64,
    /// A short description of what the mock answered, e.g. "200 onlineOpenResp cmd 000001".
    pub answer: String,
}

impl Req {
    /// The value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body's `msgType`, when it is a string.
    pub fn msg_type(&self) -> Option<&str> {
        self.body.get("msgType").and_then(Value::as_str)
    }

    /// A body field as text: strings as they are, numbers and booleans printed.
    pub fn field(&self, key: &str) -> Option<String> {
        self.body.get(key).and_then(value_text)
    }

    /// Whether this is the device's result for a command (a POST whose body has `errorCode`).
    pub fn is_result(&self) -> bool {
        self.method == "POST" && self.body.get("errorCode").is_some()
    }

    /// Whether this is a streamed person/info or face/get item (carries `index` or `token`).
    pub fn is_stream_item(&self) -> bool {
        self.method == "POST" && (self.body.get("index").is_some() || self.body.get("token").is_some())
    }
}

/// How the mock answers `uploadRecord` on `/face/record`.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordReply {
    /// `uploadRecordResp` echoing the msgID, errorCode 100 (the default).
    Echo,
    /// For the next `times` records answer a msgID that is not the record's, then `Echo`.
    WrongMsgId {
        /// How many records get the wrong msgID.
        times: usize,
    },
    /// Echo plus `controlState` (e.g. "open" or "close") and `msg` (the announcement).
    ControlState(String, String),
    /// Echo the msgID but with this errorCode (e.g. "200").
    ErrorCode(String),
    /// Answer every record with this HTTP status and a small JSON body.
    Status(u16),
    /// Answer with this JSON; `msgID`, `msgType` and `deviceNo` are filled in when absent.
    Custom(Value),
}

impl RecordReply {
    /// Echo with a `controlState` and announcement, e.g. `RecordReply::control("open", "welcome")`.
    pub fn control(state: &str, msg: &str) -> RecordReply {
        RecordReply::ControlState(state.to_string(), msg.to_string())
    }
}

/// A way to answer badly, injected with [`MockCloud::misbehave`].
///
/// Misbehaviours that replace the answer (`Status`, `NotJson`, `Drop`, `EndlessChunked`,
/// `Redirect`) leave queued commands and record-reply counters untouched, so the command is
/// still delivered once the device retries. Those that alter or slow down a real answer
/// (`NullsAndNumbers`, `UnknownMsgType`, `BigBody`, `Delay`, `Drip`) consume it. On file
/// downloads the JSON-altering ones leave the file untouched.
#[derive(Clone, Debug, PartialEq)]
pub enum Misbehaviour {
    /// Answer with this HTTP status (e.g. 500) and a small JSON body with errorCode 200.
    Status(u16),
    /// HTTP 200 with an HTML body.
    NotJson,
    /// The real answer with digit-only strings turned into numbers, `""` into `null`, and an
    /// extra `null` field: the leniency the daemon must have.
    NullsAndNumbers,
    /// The real answer with `msgType` replaced by one the protocol does not define.
    UnknownMsgType,
    /// The real answer padded with a `padding` field to this many bytes (e.g. 2 MB, which a
    /// 4 MiB limit accepts, or 64 MB, which it must refuse).
    BigBody(usize),
    /// The real answer, written only after this long.
    Delay(Duration),
    /// Read the request, then close the connection without a byte of answer.
    Drop,
    /// A 200 with a chunked JSON body that never ends (capped at 1 GiB, or until the client
    /// goes away).
    EndlessChunked,
    /// The real answer (status line, headers and body) one byte every `every`, at most
    /// `bytes` bytes; the connection is closed if the answer was not complete by then.
    Drip {
        /// Pause before each byte.
        every: Duration,
        /// How many bytes are sent in total.
        bytes: usize,
    },
    /// A 302 to this URL.
    Redirect(String),
}

impl Misbehaviour {
    /// A drip of one byte per second, `bytes` bytes long.
    pub fn drip(bytes: usize) -> Misbehaviour {
        Misbehaviour::Drip { every: Duration::from_secs(1), bytes }
    }

    /// Whether the real answer is never sent, so queued commands stay queued.
    fn replaces_answer(&self) -> bool {
        matches!(
            self,
            Misbehaviour::Status(_)
                | Misbehaviour::NotJson
                | Misbehaviour::Drop
                | Misbehaviour::EndlessChunked
                | Misbehaviour::Redirect(_)
        )
    }
}

struct Rule {
    path: Option<String>,
    what: Misbehaviour,
    left: usize,
}

struct Queued {
    cmd: Value,
    /// Send as pushed, without filling in msgType/deviceNo.
    exact: bool,
}

struct State {
    register_resp: Option<Value>,
    fixed: HashMap<String, Value>,
    queues: HashMap<String, VecDeque<Queued>>,
    next_msg_id: u64,
    requests: Vec<Req>,
    record_reply: RecordReply,
    /// (path, index): answer a wrong index the next time this item arrives.
    wrong_index: Vec<(String, String)>,
    rules: Vec<Rule>,
    files: HashMap<String, Arc<Vec<u8>>>,
    /// (bytes, times): cut the next `times` downloads after `bytes` body bytes.
    cut: Option<(usize, usize)>,
    ignore_range: bool,
    /// Keep only this many requests in the log.
    keep_last: usize,
    /// Record longer JSON strings (photos) as a short placeholder.
    elide_over: Option<usize>,
}

type Hook = Arc<dyn Fn(&Req) + Send + Sync>;

struct Inner {
    state: Mutex<State>,
    stop: AtomicBool,
    next_conn: AtomicU64,
    conns: Mutex<HashMap<u64, TcpStream>>,
    handlers: Mutex<Vec<JoinHandle<()>>>,
    hook: Mutex<Option<Hook>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not make every later assertion fail with PoisonError.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sleeps, but returns early (false) when the mock is being dropped.
    fn nap(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            thread::sleep(NAP.min(end - now));
        }
    }

    fn shutdown_connections(&self) {
        for s in lock(&self.conns).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// The accept thread of one bound listener; dropping the listener refuses connections.
struct Acceptor {
    quit: Arc<AtomicBool>,
    addr: SocketAddr,
    thread: JoinHandle<()>,
}

impl Acceptor {
    fn spawn(listener: TcpListener, inner: Arc<Inner>) -> io::Result<Acceptor> {
        let addr = listener.local_addr()?;
        let quit = Arc::new(AtomicBool::new(false));
        let q = quit.clone();
        let thread =
            thread::Builder::new().name("mock-cloud-accept".into()).spawn(move || accept_loop(listener, inner, q))?;
        Ok(Acceptor { quit, addr, thread })
    }

    fn stop(self) {
        self.quit.store(true, Ordering::SeqCst);
        // accept() has no timeout: a connection of our own wakes it up to see the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        let _ = self.thread.join();
    }
}

fn accept_loop(listener: TcpListener, inner: Arc<Inner>, quit: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if quit.load(Ordering::SeqCst) || inner.stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(_) => {
                // E.g. EMFILE: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // A safety net only: a client that stops reading must not pin a thread forever.
        let _ = stream.set_write_timeout(Some(Duration::from_secs(120)));
        let id = inner.next_conn.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&inner.conns).insert(id, clone);
        }
        let inner2 = inner.clone();
        let spawned = thread::Builder::new().name(format!("mock-cloud-conn-{id}")).spawn(move || {
            serve_connection(&inner2, stream, id);
            lock(&inner2.conns).remove(&id);
        });
        let mut handlers = lock(&inner.handlers);
        handlers.retain(|h| !h.is_finished());
        if let Ok(h) = spawned {
            handlers.push(h);
        } else {
            lock(&inner.conns).remove(&id);
        }
    }
}

/// The mock cloud. Start it, point the daemon at [`MockCloud::url`], queue commands,
/// inspect the requests. Dropping it stops every thread.
pub struct MockCloud {
    inner: Arc<Inner>,
    port: u16,
    acceptor: Mutex<Option<Acceptor>>,
}

impl MockCloud {
    /// Starts a mock on a free port of 127.0.0.1. Panics if no port can be bound.
    pub fn start() -> MockCloud {
        MockCloud::start_on(0).expect("mock cloud: cannot bind 127.0.0.1:0")
    }

    /// Starts a mock on a given port of 127.0.0.1 (0 = any free port).
    pub fn start_on(port: u16) -> io::Result<MockCloud> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                register_resp: None,
                fixed: HashMap::new(),
                queues: HashMap::new(),
                next_msg_id: 1,
                requests: Vec::new(),
                record_reply: RecordReply::Echo,
                wrong_index: Vec::new(),
                rules: Vec::new(),
                files: HashMap::new(),
                cut: None,
                ignore_range: false,
                keep_last: usize::MAX,
                elide_over: None,
            }),
            stop: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
            conns: Mutex::new(HashMap::new()),
            handlers: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
        });
        let acceptor = Acceptor::spawn(listener, inner.clone())?;
        Ok(MockCloud { inner, port, acceptor: Mutex::new(Some(acceptor)) })
    }

    /// The base URL to configure as `[cloud] url`, e.g. "http://127.0.0.1:40123".
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bound port (kept across `pause`/`resume`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `registerResp` that switches on every service, each poll with interval "1" second,
    /// for tests that should not wait for the spec's 30-second defaults.
    pub fn fast_services() -> Value {
        let mut m = Map::new();
        m.insert("msgType".into(), "registerResp".into());
        m.insert("errorCode".into(), "100".into());
        for p in POLL_ENDPOINTS {
            m.insert(p.service.into(), "1".into());
            m.insert(format!("{}Interval", p.service), "1".into());
        }
        m.insert("heatbeatService".into(), "1".into());
        m.insert("heatbeatServiceInterval".into(), "1".into());
        m.insert("recordService".into(), "1".into());
        m.insert("getDevInfoService".into(), "1".into());
        Value::Object(m)
    }

    /// Sets the answer to `/device/register`; `msgType` and `deviceNo` are filled in when
    /// absent. The default is errorCode 100 with no service fields (spec defaults apply).
    pub fn set_register_resp(&self, resp: Value) {
        self.inner.state().register_resp = Some(resp);
    }

    /// Answers every POST to `path` with this JSON, whatever the body (overrides the
    /// built-in classification; e.g. a heartbeat answer with errorCode 200).
    pub fn set_fixed_reply(&self, path: &str, reply: Value) {
        self.inner.state().fixed.insert(norm(path), reply);
    }

    /// Removes a reply set with [`MockCloud::set_fixed_reply`].
    pub fn clear_fixed_reply(&self, path: &str) {
        self.inner.state().fixed.remove(&norm(path));
    }

    /// Queues a command for the next poll of `path` and returns its msgID. Missing `msgType`
    /// (the endpoint's command type) and `msgID` (six digits, counting up) are filled in now,
    /// a missing `deviceNo` from the poll when it is sent.
    pub fn push_command(&self, path: &str, cmd: Value) -> String {
        let path = norm(path);
        let mut st = self.inner.state();
        let mut cmd = cmd;
        let mut msg_id = String::new();
        if let Value::Object(m) = &mut cmd {
            if let (Some(p), false) = (poll_endpoint(&path), m.contains_key("msgType")) {
                m.insert("msgType".into(), p.command.into());
            }
            if !m.contains_key("msgID") {
                m.insert("msgID".into(), format!("{:06}", st.next_msg_id).into());
                st.next_msg_id += 1;
            }
            msg_id = m.get("msgID").and_then(value_text).unwrap_or_default();
        }
        st.queues.entry(path).or_default().push_back(Queued { cmd, exact: false });
        msg_id
    }

    /// Queues a command exactly as given (nothing filled in), for malformed-command tests.
    pub fn push_command_exact(&self, path: &str, cmd: Value) {
        self.inner.state().queues.entry(norm(path)).or_default().push_back(Queued { cmd, exact: true });
    }

    /// How many commands are still queued for `path`.
    pub fn pending(&self, path: &str) -> usize {
        self.inner.state().queues.get(&norm(path)).map_or(0, VecDeque::len)
    }

    /// Sets how `/face/record` uploads are answered.
    pub fn set_record_reply(&self, reply: RecordReply) {
        self.inner.state().record_reply = reply;
    }

    /// The next time the streamed item with this `index` arrives on `path` (e.g.
    /// "/person/info"), acknowledge it with a wrong index (index + 1), once.
    pub fn wrong_index_once(&self, path: &str, index: u64) {
        self.inner.state().wrong_index.push((norm(path), index.to_string()));
    }

    /// Misbehaves for the next `times` requests to `path` (`None`: any path). Rules are
    /// used in the order they were added.
    pub fn misbehave(&self, path: Option<&str>, what: Misbehaviour, times: usize) {
        if times > 0 {
            self.inner.state().rules.push(Rule { path: path.map(norm), what, left: times });
        }
    }

    /// Forgets every pending misbehaviour.
    pub fn clear_misbehaviour(&self) {
        self.inner.state().rules.clear();
    }

    /// Serves `bytes` to GET (and HEAD) requests on `path`, with Range support.
    pub fn serve_file(&self, path: &str, bytes: Vec<u8>) {
        self.inner.state().files.insert(norm(path), Arc::new(bytes));
    }

    /// For the next `times` file downloads, close the connection after `k_bytes` body
    /// bytes although the headers announced more.
    pub fn cut_downloads_after(&self, k_bytes: usize, times: usize) {
        self.inner.state().cut = if times > 0 { Some((k_bytes, times)) } else { None };
    }

    /// When set, Range headers are ignored and files are always answered 200 in full.
    pub fn ignore_range(&self, ignore: bool) {
        self.inner.state().ignore_range = ignore;
    }

    /// Calls `hook` for every request once its answer is decided, before it is written (the
    /// example prints with it).
    pub fn on_request(&self, hook: impl Fn(&Req) + Send + Sync + 'static) {
        *lock(&self.inner.hook) = Some(Arc::new(hook));
    }

    /// Keeps only the last `n` requests in the log, so a long-running mock does not grow
    /// without bound (the default keeps all).
    pub fn keep_last(&self, n: usize) {
        let mut st = self.inner.state();
        st.keep_last = n;
        let excess = st.requests.len().saturating_sub(n);
        st.requests.drain(..excess);
    }

    /// Records JSON strings longer than `len` bytes (Base64 photos) as "<N bytes elided>"
    /// in the log, for syncs of many persons with photos. Answers are not affected.
    pub fn elide_strings_over(&self, len: usize) {
        self.inner.state().elide_over = Some(len);
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Req> {
        self.inner.state().requests.clone()
    }

    /// The requests to `path`, oldest first.
    pub fn requests_to(&self, path: &str) -> Vec<Req> {
        let path = norm(path);
        self.inner.state().requests.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// How many requests `path` received (cheaper than `requests_to` in wait loops).
    pub fn count(&self, path: &str) -> usize {
        let path = norm(path);
        self.inner.state().requests.iter().filter(|r| r.path == path).count()
    }

    /// Bodies of the POSTs that carry `errorCode` and this `msgID`: the device's results
    /// for a command (and streamed items, which echo the command's msgID).
    pub fn results_for(&self, msg_id: &str) -> Vec<Value> {
        self.inner
            .state()
            .requests
            .iter()
            .filter(|r| r.is_result() && r.field("msgID").as_deref() == Some(msg_id))
            .map(|r| r.body.clone())
            .collect()
    }

    /// Bodies of every `uploadRecord` POSTed to `/face/record`, re-sends included.
    pub fn records(&self) -> Vec<Value> {
        self.inner
            .state()
            .requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/face/record")
            .map(|r| r.body.clone())
            .collect()
    }

    /// Bodies of the streamed items (person/info, face/get) POSTed to `path`.
    pub fn stream_items(&self, path: &str) -> Vec<Value> {
        let path = norm(path);
        self.inner
            .state()
            .requests
            .iter()
            .filter(|r| r.path == path && r.is_stream_item())
            .map(|r| r.body.clone())
            .collect()
    }

    /// Forgets the recorded requests (queues and settings stay).
    pub fn clear_requests(&self) {
        self.inner.state().requests.clear();
    }

    /// Polls `cond` every few milliseconds until it holds (true) or `timeout` passes
    /// (false). A deadline, not a timing assertion: give it generous timeouts.
    pub fn wait_until(&self, timeout: Duration, cond: impl Fn(&MockCloud) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `path` has received at least `n` requests.
    pub fn wait_for_requests(&self, path: &str, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |c| c.count(path) >= n)
    }

    /// The request log, one line per request, for assertion messages.
    pub fn dump(&self) -> String {
        let st = self.inner.state();
        let first = st.requests.first().map(|r| r.at);
        let mut out = String::new();
        for r in &st.requests {
            let t = first.map_or(0.0, |f| r.at.duration_since(f).as_secs_f64());
            out.push_str(&format!("{t:9.3}s {}\n", describe(r)));
        }
        out
    }

    /// Closes the listener (new connections are refused) and cuts open connections: the
    /// cloud is down until [`MockCloud::resume`].
    pub fn pause(&self) {
        let mut acc = lock(&self.acceptor);
        if let Some(a) = acc.take() {
            a.stop();
        }
        self.inner.shutdown_connections();
    }

    /// Binds the same port again (retrying briefly while the kernel frees it) and serves.
    /// Panics if the port stays taken, e.g. by another process that bound it meanwhile.
    pub fn resume(&self) {
        let mut acc = lock(&self.acceptor);
        if acc.is_some() {
            return;
        }
        let end = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() >= end => {
                    panic!("mock cloud: cannot re-bind 127.0.0.1:{}: {e}", self.port)
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        };
        *acc = Some(Acceptor::spawn(listener, self.inner.clone()).expect("mock cloud: cannot start accept thread"));
    }
}

impl Drop for MockCloud {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(a) = lock(&self.acceptor).take() {
            a.stop();
        }
        self.inner.shutdown_connections();
        let handlers: Vec<_> = lock(&self.inner.handlers).drain(..).collect();
        for h in handlers {
            let _ = h.join();
        }
    }
}

/// "device/open" and "/device/open?x=1" both become "/device/open".
fn norm(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    if path.starts_with('/') { path.to_string() } else { format!("/{path}") }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe(r: &Req) -> String {
    let mut s = format!("{} {}", r.method, r.path);
    if let Some(t) = r.msg_type() {
        s.push_str(&format!(" {t}"));
    }
    if let Some(id) = r.field("msgID") {
        s.push_str(&format!(" msgID={id}"));
    }
    if let Some(i) = r.field("index") {
        s.push_str(&format!(" index={i}"));
    }
    if let Some(e) = r.field("errorCode") {
        s.push_str(&format!(" errorCode={e}"));
    }
    if let Some(raw) = &r.raw {
        s.push_str(&format!(" ({} bytes, not JSON)", raw.len()));
    }
    s.push_str(&format!(" -> {}", r.answer));
    s
}

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

// ---------------------------------------------------------------------------------------
// HTTP

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

enum ReadError {
    /// The client closed the connection between requests.
    Closed,
    /// Broken request: answer this status and close.
    Bad(u16, &'static str),
    Io,
}

fn read_line(r: &mut BufReader<TcpStream>, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut line = Vec::new();
    let n = r.by_ref().take(limit as u64).read_until(b'\n', &mut line).map_err(|_| ReadError::Io)?;
    if n == 0 {
        return Err(ReadError::Closed);
    }
    if !line.ends_with(b"\n") {
        return Err(if n >= limit { ReadError::Bad(431, "header line too long") } else { ReadError::Io });
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(line)
}

fn read_request(r: &mut BufReader<TcpStream>, w: &mut TcpStream) -> Result<Request, ReadError> {
    // Tolerate empty lines between keep-alive requests (RFC 9112 §2.2).
    let mut line = read_line(r, MAX_REQUEST_HEAD)?;
    while line.is_empty() {
        line = read_line(r, MAX_REQUEST_HEAD)?;
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    let mut parts = line.split_whitespace();
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) => (m.to_string(), t.to_string(), v.to_string()),
        _ => return Err(ReadError::Bad(400, "bad request line")),
    };
    let mut headers = Vec::new();
    let mut head_len = line.len();
    loop {
        let h = match read_line(r, MAX_REQUEST_HEAD) {
            Ok(h) => h,
            Err(ReadError::Closed) => return Err(ReadError::Io),
            Err(e) => return Err(e),
        };
        if h.is_empty() {
            break;
        }
        head_len += h.len();
        if head_len > MAX_REQUEST_HEAD {
            return Err(ReadError::Bad(431, "request head too large"));
        }
        let h = String::from_utf8_lossy(&h).into_owned();
        match h.split_once(':') {
            Some((n, v)) => headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string())),
            None => return Err(ReadError::Bad(400, "bad header line")),
        }
    }
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.to_ascii_lowercase());
    let connection = get("connection").unwrap_or_default();
    let keep_alive =
        if version == "HTTP/1.0" { connection.contains("keep-alive") } else { !connection.contains("close") };
    if get("expect").is_some_and(|e| e.contains("100-continue")) {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|_| ReadError::Io)?;
    }
    let body = if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        read_chunked(r)?
    } else if let Some(len) = get("content-length") {
        let len: usize = len.trim().parse().map_err(|_| ReadError::Bad(400, "bad Content-Length"))?;
        if len > MAX_REQUEST_BODY {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).map_err(|_| ReadError::Io)?;
        body
    } else {
        Vec::new()
    };
    Ok(Request { method, path: norm(&target), headers, body, keep_alive })
}

fn read_chunked(r: &mut BufReader<TcpStream>) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r, 1024).map_err(|_| ReadError::Bad(400, "bad chunk size line"))?;
        let line = String::from_utf8_lossy(&line).into_owned();
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| ReadError::Bad(400, "bad chunk size"))?;
        if size == 0 {
            // Trailer fields, up to the empty line.
            while !read_line(r, MAX_REQUEST_HEAD)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_REQUEST_BODY {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).map_err(|_| ReadError::Io)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(|_| ReadError::Io)?;
        if &crlf != b"\r\n" {
            return Err(ReadError::Bad(400, "chunk not followed by CRLF"));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Mock Status",
    }
}

/// An answer before it is written.
struct Answer {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// HEAD: announce the length but send no body.
    head_only: bool,
    /// For downloads cut short: send only this many body bytes, then close.
    cut_after: Option<usize>,
}

impl Answer {
    fn json(status: u16, v: &Value) -> Answer {
        Answer {
            status,
            content_type: "application/json;charset=UTF-8",
            headers: Vec::new(),
            body: serde_json::to_vec(v).unwrap_or_default(),
            head_only: false,
            cut_after: None,
        }
    }

    fn error(status: u16, code: &str, msg: &str) -> Answer {
        Answer::json(status, &json!({"errorCode": code, "msg": format!("mock cloud: {msg}")}))
    }

    /// Status line, headers and body in one buffer, so that one write sends it all.
    fn to_bytes(&self, keep_alive: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 256);
        out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).as_bytes());
        out.extend_from_slice(format!("Content-Type: {}\r\n", self.content_type).as_bytes());
        out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        let conn = if keep_alive { "keep-alive" } else { "close" };
        out.extend_from_slice(format!("Connection: {conn}\r\n\r\n").as_bytes());
        if !self.head_only {
            let n = self.cut_after.map_or(self.body.len(), |k| k.min(self.body.len()));
            out.extend_from_slice(&self.body[..n]);
        }
        out
    }

    fn summary(&self) -> String {
        let mut s = self.status.to_string();
        if let Ok(v) = serde_json::from_slice::<Value>(&self.body) {
            if let Some(t) = v.get("msgType").and_then(Value::as_str) {
                s.push_str(&format!(" {t}"));
            }
            if let Some(o) = v.as_object() {
                for (k, v) in o {
                    let shown = k == "msgID" || k == "errorCode" || k == "index" || k.starts_with("is");
                    if let (true, Some(text)) = (shown, value_text(v)) {
                        s.push_str(&format!(" {k}={text}"));
                    }
                }
            }
        } else if !self.body.is_empty() {
            s.push_str(&format!(" {} bytes", self.body.len()));
        }
        s
    }
}

/// What to do on the wire.
enum Plan {
    Write(Answer),
    Delay(Duration, Answer),
    Drip(Duration, usize, Answer),
    Drop,
    Endless,
}

fn serve_connection(inner: &Inner, stream: TcpStream, conn: u64) {
    let mut w = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut r = BufReader::with_capacity(64 << 10, stream);
    loop {
        if inner.stop.load(Ordering::SeqCst) {
            return;
        }
        let req = match read_request(&mut r, &mut w) {
            Ok(req) => req,
            Err(ReadError::Bad(status, msg)) => {
                let a = Answer::error(status, "200", msg);
                let _ = w.write_all(&a.to_bytes(false));
                let _ = w.shutdown(Shutdown::Write);
                return;
            }
            Err(_) => return,
        };
        let keep_alive = req.keep_alive;
        let (plan, recorded) = decide(inner, req, conn);
        let hook = lock(&inner.hook).clone();
        if let Some(hook) = hook {
            hook(&recorded);
        }
        let keep = match plan {
            Plan::Write(a) => write_answer(&mut w, &a, keep_alive),
            Plan::Delay(d, a) => inner.nap(d) && write_answer(&mut w, &a, keep_alive),
            Plan::Drip(every, bytes, a) => {
                let all = a.to_bytes(keep_alive);
                let n = bytes.min(all.len());
                let mut ok = true;
                for b in &all[..n] {
                    if !inner.nap(every) || w.write_all(std::slice::from_ref(b)).is_err() {
                        ok = false;
                        break;
                    }
                }
                ok && n == all.len() && keep_alive
            }
            Plan::Drop => false,
            Plan::Endless => {
                write_endless(inner, &mut w);
                false
            }
        };
        if !keep {
            let _ = w.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Writes the answer in one piece; returns whether the connection stays open.
fn write_answer(w: &mut TcpStream, a: &Answer, keep_alive: bool) -> bool {
    let cut = a.cut_after.is_some_and(|k| k < a.body.len()) && !a.head_only;
    let keep_alive = keep_alive && !cut;
    if w.write_all(&a.to_bytes(keep_alive)).is_err() || w.flush().is_err() {
        return false;
    }
    if cut {
        // Orderly FIN after the partial body, like a server process that died mid-transfer.
        let _ = w.shutdown(Shutdown::Write);
    }
    keep_alive
}

fn write_endless(inner: &Inner, w: &mut TcpStream) {
    let mut first = Vec::new();
    first.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
    );
    let start = br#"{"msgType":"endless","padding":""#;
    first.extend_from_slice(format!("{:x}\r\n", start.len()).as_bytes());
    first.extend_from_slice(start);
    first.extend_from_slice(b"\r\n");
    if w.write_all(&first).is_err() {
        return;
    }
    let mut chunk = format!("{:x}\r\n", 64 << 10).into_bytes();
    chunk.extend(std::iter::repeat_n(b'a', 64 << 10));
    chunk.extend_from_slice(b"\r\n");
    let mut sent = 0;
    while sent < ENDLESS_CAP && !inner.stop.load(Ordering::SeqCst) {
        if w.write_all(&chunk).is_err() {
            return;
        }
        sent += 64 << 10;
    }
}

/// Records the request and decides the answer, all under the state lock.
fn decide(inner: &Inner, req: Request, conn: u64) -> (Plan, Req) {
    let (body, raw) = if req.body.is_empty() {
        (Value::Null, None)
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(v) => (v, None),
            Err(_) => (Value::Null, Some(req.body.clone())),
        }
    };
    let mut rec = Req {
        method: req.method.clone(),
        path: req.path.clone(),
        headers: req.headers.clone(),
        body,
        raw,
        at: Instant::now(),
        conn,
        answer: String::new(),
    };
    let mut st = inner.state();
    let rule = take_rule(&mut st, &req.path);
    let plan = match rule {
        Some(m) if m.replaces_answer() => {
            let plan = match &m {
                Misbehaviour::Status(code) => {
                    Plan::Write(Answer::error(*code, "200", &format!("injected HTTP {code}")))
                }
                Misbehaviour::NotJson => Plan::Write(Answer {
                    status: 200,
                    content_type: "text/html",
                    headers: Vec::new(),
                    body: b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>".to_vec(),
                    head_only: false,
                    cut_after: None,
                }),
                Misbehaviour::Redirect(url) => {
                    let mut a = Answer::json(302, &json!({}));
                    a.body.clear();
                    a.headers.push(("Location".into(), url.clone()));
                    Plan::Write(a)
                }
                Misbehaviour::Drop => Plan::Drop,
                _ => Plan::Endless,
            };
            rec.answer = format!("misbehaviour {m:?}");
            plan
        }
        other => {
            let mut a = answer(&mut st, &req, &rec);
            let summary = a.summary();
            let plan = match other {
                None => Plan::Write(a),
                Some(m) => {
                    rec.answer = format!("misbehaviour {m:?}, ");
                    let is_json = a.content_type.starts_with("application/json");
                    match m {
                        Misbehaviour::NullsAndNumbers if is_json => {
                            a.body = transform_json(&a.body, |v| {
                                nulls_and_numbers(v);
                                if let Value::Object(o) = v {
                                    o.insert("mockNull".into(), Value::Null);
                                }
                            });
                            Plan::Write(a)
                        }
                        Misbehaviour::UnknownMsgType if is_json => {
                            a.body = transform_json(&a.body, |v| {
                                if let Value::Object(o) = v {
                                    o.insert("msgType".into(), "mockUnknownMsgType".into());
                                }
                            });
                            Plan::Write(a)
                        }
                        Misbehaviour::BigBody(size) => {
                            a.body = padded(&a.body, size);
                            a.content_type = "application/json;charset=UTF-8";
                            a.cut_after = None;
                            Plan::Write(a)
                        }
                        Misbehaviour::Delay(d) => Plan::Delay(d, a),
                        Misbehaviour::Drip { every, bytes } => Plan::Drip(every, bytes, a),
                        _ => Plan::Write(a),
                    }
                }
            };
            rec.answer.push_str(&summary);
            plan
        }
    };
    if let Some(max) = st.elide_over {
        elide(&mut rec.body, max);
    }
    st.requests.push(rec.clone());
    if st.requests.len() > st.keep_last {
        let excess = st.requests.len() - st.keep_last;
        st.requests.drain(..excess);
    }
    (plan, rec)
}

fn take_rule(st: &mut State, path: &str) -> Option<Misbehaviour> {
    let applies = |r: &Rule| match r.path.as_deref() {
        None => true,
        Some(p) => p == path,
    };
    let i = st.rules.iter().position(|r| r.left > 0 && applies(r))?;
    let rule = &mut st.rules[i];
    rule.left -= 1;
    let what = rule.what.clone();
    if rule.left == 0 {
        st.rules.remove(i);
    }
    Some(what)
}

fn elide(v: &mut Value, max: usize) {
    match v {
        Value::String(s) if s.len() > max => *v = format!("<{} bytes elided>", s.len()).into(),
        Value::Array(a) => a.iter_mut().for_each(|x| elide(x, max)),
        Value::Object(o) => o.values_mut().for_each(|x| elide(x, max)),
        _ => {}
    }
}

fn transform_json(body: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            f(&mut v);
            serde_json::to_vec(&v).unwrap_or_default()
        }
        Err(_) => body.to_vec(),
    }
}

fn nulls_and_numbers(v: &mut Value) {
    match v {
        Value::String(s) if s.is_empty() => *v = Value::Null,
        Value::String(s) if s.len() < 16 && s.bytes().all(|b| b.is_ascii_digit()) => {
            if let Ok(n) = s.parse::<u64>() {
                *v = Value::from(n);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(nulls_and_numbers),
        Value::Object(o) => o.values_mut().for_each(nulls_and_numbers),
        _ => {}
    }
}

/// The answer as a JSON object with a `padding` string making it about `size` bytes.
fn padded(body: &[u8], size: usize) -> Vec<u8> {
    let mut obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    obj.insert("padding".into(), "".into());
    // The padding goes in as bytes, not through serde_json: escaping a 64 MB string in a debug
    // build takes seconds on a loaded machine, all of them under the state lock, and the
    // device's read timeout would then fire before the size limit it is tested against.
    let small = serde_json::to_vec(&obj).unwrap_or_default();
    let marker = br#""padding":"""#;
    let at = small.windows(marker.len()).position(|w| w == marker).map_or(small.len(), |i| i + marker.len() - 1);
    let fill = size.saturating_sub(small.len());
    let mut out = Vec::with_capacity(small.len() + fill);
    out.extend_from_slice(&small[..at]);
    out.resize(at + fill, b'x');
    out.extend_from_slice(&small[at..]);
    out
}

/// The normal answer to a request (may update queues and counters).
fn answer(st: &mut State, req: &Request, rec: &Req) -> Answer {
    let device_no = rec.field("deviceNo").unwrap_or_default();
    let path = req.path.as_str();
    if req.method == "GET" || req.method == "HEAD" {
        return file_answer(st, req);
    }
    if req.method != "POST" {
        return Answer::error(405, "200", "only POST and GET are served");
    }
    if let Some(v) = st.fixed.get(path) {
        return Answer::json(200, v);
    }
    let with_ids = |mut v: Value, msg_type: &str| {
        if let Value::Object(o) = &mut v {
            if !msg_type.is_empty() {
                o.entry("msgType").or_insert_with(|| msg_type.into());
            }
            o.entry("deviceNo").or_insert_with(|| device_no.clone().into());
        }
        v
    };
    match path {
        "/device/register" => {
            let resp = st.register_resp.clone().unwrap_or_else(|| json!({"errorCode": "100"}));
            return Answer::json(200, &with_ids(resp, "registerResp"));
        }
        "/device/heatbeat" => {
            let resp = json!({"registerTime": unix_secs().to_string(), "errorCode": "100"});
            return Answer::json(200, &with_ids(resp, "keepAliveResp"));
        }
        "/device/uploadDevInfo" => {
            let resp = json!({"errorCode": "100", "msg": "ok"});
            return Answer::json(200, &with_ids(resp, "uploadDevInfoResp"));
        }
        "/face/record" => return record_answer(st, rec, &device_no),
        _ => {}
    }
    if rec.body.get("index").is_some() || rec.body.get("token").is_some() {
        let result_type = match path {
            "/person/info" => "onlineGetRegisterResult",
            "/face/get" => "onlineGetRecordResult",
            _ if rec.msg_type().is_some_and(|t| t.contains("Register")) => "onlineGetRegisterResult",
            _ => "onlineGetRecordResult",
        };
        let index = rec.field("index").unwrap_or_default();
        let mut answered = index.clone();
        if let Some(i) = st.wrong_index.iter().position(|(p, idx)| p == path && *idx == index) {
            st.wrong_index.remove(i);
            answered = index.parse::<u64>().map_or_else(|_| format!("{index}x"), |n| (n + 1).to_string());
        }
        let resp = json!({
            "msgID": rec.field("msgID").unwrap_or_default(),
            "errorCode": "100",
            "index": answered,
        });
        return Answer::json(200, &with_ids(resp, result_type));
    }
    if rec.body.get("errorCode").is_some() {
        return Answer::json(200, &json!({"errorCode": "100", "msg": "ok"}));
    }
    let endpoint = poll_endpoint(path);
    if let Some(p) = endpoint {
        if rec.msg_type() != Some(p.poll) {
            let msg = format!("expected msgType {} (a poll) or a result with errorCode", p.poll);
            return Answer::error(400, "203", &msg);
        }
    }
    if let Some(q) = st.queues.get_mut(path).and_then(VecDeque::pop_front) {
        let cmd = if q.exact { q.cmd } else { with_ids(q.cmd, endpoint.map_or("", |p| p.command)) };
        return Answer::json(200, &cmd);
    }
    match endpoint {
        Some(p) => {
            let mut idle = Map::new();
            idle.insert("msgType".into(), p.command.into());
            idle.insert("msgID".into(), "000000".into());
            idle.insert("deviceNo".into(), device_no.into());
            idle.insert(p.flag.into(), "0".into());
            Answer::json(200, &Value::Object(idle))
        }
        None => Answer::error(404, "203", &format!("no endpoint {path}")),
    }
}

fn record_answer(st: &mut State, rec: &Req, device_no: &str) -> Answer {
    let msg_id = rec.field("msgID").unwrap_or_default();
    let mut resp = json!({
        "msgType": "uploadRecordResp",
        "msgID": msg_id,
        "deviceNo": device_no,
        "errorCode": "100",
    });
    match &mut st.record_reply {
        RecordReply::Echo => {}
        RecordReply::WrongMsgId { times } => {
            if *times > 0 {
                resp["msgID"] = format!("{msg_id}-wrong").into();
                *times -= 1;
            }
            if *times == 0 {
                st.record_reply = RecordReply::Echo;
            }
        }
        RecordReply::ControlState(state, msg) => {
            resp["controlState"] = state.clone().into();
            resp["msg"] = msg.clone().into();
        }
        RecordReply::ErrorCode(code) => resp["errorCode"] = code.clone().into(),
        RecordReply::Status(code) => {
            return Answer::error(*code, "200", &format!("record answered HTTP {code}"));
        }
        RecordReply::Custom(v) => {
            let mut v = v.clone();
            if let Value::Object(o) = &mut v {
                o.entry("msgType").or_insert_with(|| "uploadRecordResp".into());
                o.entry("msgID").or_insert_with(|| msg_id.clone().into());
                o.entry("deviceNo").or_insert_with(|| device_no.into());
            }
            resp = v;
        }
    }
    Answer::json(200, &resp)
}

fn file_answer(st: &mut State, req: &Request) -> Answer {
    let file = match st.files.get(&req.path) {
        Some(f) => f.clone(),
        None => return Answer::error(404, "200", &format!("no file at {}", req.path)),
    };
    let total = file.len();
    let mut a = Answer {
        status: 200,
        content_type: "application/octet-stream",
        headers: vec![("Accept-Ranges".into(), "bytes".into())],
        body: Vec::new(),
        head_only: req.method == "HEAD",
        cut_after: None,
    };
    let range = if st.ignore_range { None } else { req.header("range").map(parse_range) };
    let (start, end) = match range {
        None | Some(RangeSpec::Ignore) => (0, total),
        Some(RangeSpec::Unsatisfiable) => {
            let mut a = Answer::error(416, "200", "range not satisfiable");
            a.headers.push(("Content-Range".into(), format!("bytes */{total}")));
            return a;
        }
        Some(RangeSpec::From(s)) if s < total => (s, total),
        Some(RangeSpec::Span(s, e)) if s < total && s <= e => (s, (e + 1).min(total)),
        Some(RangeSpec::Suffix(n)) if n > 0 && total > 0 => (total - n.min(total), total),
        Some(_) => {
            let mut a = Answer::error(416, "200", "range not satisfiable");
            a.headers.push(("Content-Range".into(), format!("bytes */{total}")));
            return a;
        }
    };
    if range.is_some_and(|r| r != RangeSpec::Ignore) {
        a.status = 206;
        a.headers.push(("Content-Range".into(), format!("bytes {start}-{}/{total}", end - 1)));
    }
    a.body = file[start..end].to_vec();
    if !a.head_only {
        if let Some((k, times)) = st.cut {
            a.cut_after = Some(k);
            st.cut = if times > 1 { Some((k, times - 1)) } else { None };
        }
    }
    a
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum RangeSpec {
    /// `bytes=S-`
    From(usize),
    /// `bytes=S-E` (inclusive)
    Span(usize, usize),
    /// `bytes=-N`: the last N bytes.
    Suffix(usize),
    /// Several ranges or another unit: answered 200 in full, as RFC 9110 allows.
    Ignore,
    Unsatisfiable,
}

fn parse_range(h: &str) -> RangeSpec {
    let spec = match h.trim().strip_prefix("bytes=") {
        Some(s) if !s.contains(',') => s.trim(),
        _ => return RangeSpec::Ignore,
    };
    let (a, b) = match spec.split_once('-') {
        Some(x) => x,
        None => return RangeSpec::Unsatisfiable,
    };
    match (a.trim().parse::<usize>(), b.trim()) {
        (Ok(s), "") => RangeSpec::From(s),
        (Ok(s), e) => e.parse().map_or(RangeSpec::Unsatisfiable, |e| RangeSpec::Span(s, e)),
        (Err(_), e) if a.trim().is_empty() => e.parse().map_or(RangeSpec::Unsatisfiable, RangeSpec::Suffix),
        _ => RangeSpec::Unsatisfiable,
    }
}
