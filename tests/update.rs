//! Safe remote maintenance, end to end: firmware updates served over HTTP on 127.0.0.1
//! (installed, refused, resumed, bounded, exclusive), the built-in agent installer with its
//! start-up check and rollback, remote reboot and setTime, all with the real daemon on the sim
//! board against the mock cloud. Firmware is signed by a vendor key the daemon trusts
//! (tests/firmware.rs has the refusals of unsigned and altered files).

mod common;

use common::firmware::Vendor;
use common::{DEADLINE, DEVICE_NO, Daemon, MockCloud, Req};
use facegate::cloud::update::TRIAL_KEY;
use facegate::store::Store;
use serde_json::{Value, json};
use sha2::Digest;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const UPDATE: &str = "/device/update";
/// Where the mock cloud serves the firmware.
const FW_PATH: &str = "/firmware/facegate-fw.bin";
const FW_LEN: usize = 300_000;

/// Bytes without a period, so a download resumed at the wrong offset changes the hash.
fn firmware(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed * 2 + 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the file at `path` holds exactly `expected`; on a difference, a short description
/// of both (never megabytes of bytes in a failure message).
fn check_content(path: &std::path::Path, expected: &[u8]) -> Result<(), String> {
    let describe = |b: &[u8]| format!("{} bytes, sha256 {}", b.len(), &sha256_hex(b)[..16]);
    match std::fs::read(path) {
        Ok(bytes) if bytes == expected => Ok(()),
        Ok(bytes) => Err(format!("{} holds {}, expected {}", path.display(), describe(&bytes), describe(expected))),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// The mock cloud with every service polled each second, and the daemon registered with it,
/// trusting the returned vendor's key.
fn start(extra_toml: &str) -> (MockCloud, Daemon, Vendor) {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let vendor = Vendor::new();
    let daemon = Daemon::start_with(&cloud.url(), |c| {
        c.merge_toml(&vendor.config()).merge_toml(extra_toml);
    });
    assert!(
        cloud.wait_for_requests("/device/register", 1, DEADLINE),
        "the daemon never registered\n{}\n{}",
        cloud.dump(),
        daemon.log_tail(40)
    );
    (cloud, daemon, vendor)
}

/// Queues an update command; `url` is sent exactly as given.
fn push_update(cloud: &MockCloud, update_type: &str, url: &str, key: &str) -> String {
    cloud.push_command(
        UPDATE,
        json!({"isOnlineUpdate": "1", "updateType": update_type, "updateUrl": url, "updateKey": key}),
    )
}

fn code_of(result: &Value) -> String {
    result["errorCode"].as_str().unwrap_or_default().to_string()
}

/// Progress codes (500 downloading, 501 upgrading) are followed by exactly one final code.
fn is_final(code: &str) -> bool {
    code != "500" && code != "501"
}

/// Table 3.2 of the spec: the prompt each update code comes with.
fn prompt(code: &str) -> &'static str {
    match code {
        "500" => "下载中",
        "501" => "升级中",
        "502" => "固件下载失败",
        "503" => "固件长度校验失败",
        "504" => "固件哈希值校验失败",
        "505" => "固件版本校验失败",
        "506" => "固件本地升级失败",
        "507" => "固件已经在升级中",
        _ => "",
    }
}

/// Waits for the final result of update `msg_id` and returns every result's code in order,
/// after checking that each result is a well-formed `onlineUpdateResp` for that command.
fn update_codes(cloud: &MockCloud, daemon: &Daemon, msg_id: &str) -> Vec<String> {
    let done = cloud.wait_until(DEADLINE, |c| c.results_for(msg_id).iter().any(|r| is_final(&code_of(r))));
    assert!(done, "no final result for update {msg_id}\n{}\n{}", cloud.dump(), daemon.log_tail(60));
    let results = cloud.results_for(msg_id);
    for r in &results {
        assert_eq!(r["msgType"], "onlineUpdateResp", "{r}");
        assert_eq!(r["msgID"], msg_id, "{r}");
        assert_eq!(r["deviceNo"], DEVICE_NO, "{r}");
        let code = code_of(r);
        let msg = r["msg"].as_str().unwrap_or_default();
        assert!(msg.starts_with(prompt(&code)), "result {code} should say {:?}: {r}", prompt(&code));
    }
    results.iter().map(code_of).collect()
}

/// The sim board's `install` actions.
fn installs(daemon: &Daemon) -> Vec<Value> {
    daemon.actuator_log().into_iter().filter(|a| a["kind"] == "install").collect()
}

/// What is left under `<storage>/update` (the directory itself may stay).
fn leftovers(daemon: &Daemon) -> Vec<String> {
    match std::fs::read_dir(daemon.dir().join("update")) {
        Ok(entries) => entries.map(|e| e.expect("readable entry").file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

fn gets(cloud: &MockCloud, path: &str) -> Vec<Req> {
    cloud.requests_to(path).into_iter().filter(|r| r.method == "GET").collect()
}

/// An HTTP server for one file that holds every answer until released, so that a test can
/// act while a download is known to be in progress.
struct HeldFileServer {
    url: String,
    addr: std::net::SocketAddr,
    gate: Arc<(Mutex<bool>, Condvar)>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HeldFileServer {
    fn start(body: Vec<u8>) -> HeldFileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, n, s) = (gate.clone(), requests.clone(), stop.clone());
        let body = Arc::new(body);
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (g, n, body) = (g.clone(), n.clone(), body.clone());
                thread::spawn(move || serve_held(conn, &g, &n, &body));
            }
        });
        HeldFileServer { url: format!("http://{addr}/held/fw.bin"), addr, gate, requests, stop, thread: Some(thread) }
    }

    /// Lets every held and future request be answered.
    fn release(&self) {
        *self.gate.0.lock().unwrap() = true;
        self.gate.1.notify_all();
    }
}

impl Drop for HeldFileServer {
    fn drop(&mut self) {
        self.release();
        self.stop.store(true, Ordering::SeqCst);
        // accept() has no timeout: a connection of our own wakes it up to see the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_held(conn: TcpStream, gate: &(Mutex<bool>, Condvar), requests: &AtomicUsize, body: &[u8]) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone the connection"));
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    // Bounded so that a test failing before release() cannot hang this thread forever.
    let guard = gate.0.lock().unwrap();
    let _unused = gate.1.wait_timeout_while(guard, DEADLINE, |open| !*open).unwrap();
    let mut answer =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    answer.extend_from_slice(body);
    let mut conn = conn;
    let _ = conn.write_all(&answer);
}

#[test]
fn update_installs_the_file_and_reports_progress_with_the_clouds_msg_id() {
    let (cloud, daemon, vendor) = start("");
    let signed = vendor.sign(&firmware(FW_LEN, 1));
    cloud.serve_file(FW_PATH, signed.clone());
    let id = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &signed.len().to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "501", "100"], "{}", daemon.log_tail(40));
    let installs = installs(&daemon);
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(installs[0]["update_type"], "0");
    assert_eq!(installs[0]["bytes"], FW_LEN as u64);
    assert_eq!(gets(&cloud, FW_PATH).len(), 1, "{}", cloud.dump());
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn update_url_with_stray_spaces_as_in_the_spec_example_still_downloads() {
    let (cloud, daemon, vendor) = start("");
    let signed = vendor.sign(&firmware(FW_LEN, 2));
    cloud.serve_file(FW_PATH, signed.clone());
    // The spec prints its example as "https:// ip:port /deviceFirmware/".
    let spaced = format!(" http:// 127.0.0.1:{} {FW_PATH} ", cloud.port());
    let id = push_update(&cloud, "1", &spaced, &format!(" {} ", signed.len()));
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "501", "100"], "{}", daemon.log_tail(40));
    let installs = installs(&daemon);
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(installs[0]["update_type"], "1");
    assert_eq!(installs[0]["bytes"], FW_LEN as u64);
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn wrong_length_is_refused_with_503_and_nothing_is_installed() {
    let (cloud, daemon, vendor) = start("");
    let signed = vendor.sign(&firmware(FW_LEN, 3));
    cloud.serve_file(FW_PATH, signed.clone());
    let id = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &(signed.len() - 1).to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "503"], "{}", daemon.log_tail(40));
    assert!(installs(&daemon).is_empty(), "{:?}", installs(&daemon));
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn configured_sha256_refuses_other_content_with_504() {
    let other = firmware(FW_LEN, 5);
    let (cloud, daemon, vendor) = start(&format!("[update]\nsha256 = \"{}\"\n", sha256_hex(&other)));
    // Correctly signed, yet not the file the configuration names.
    let signed = vendor.sign(&firmware(FW_LEN, 4));
    cloud.serve_file(FW_PATH, signed.clone());
    let id = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &signed.len().to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "504"], "{}", daemon.log_tail(40));
    let refusal = cloud.results_for(&id).pop().expect("final result");
    assert!(refusal["msg"].as_str().unwrap_or_default().contains("sha256"), "{refusal}");
    assert!(installs(&daemon).is_empty(), "{:?}", installs(&daemon));
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn firmware_beyond_max_bytes_is_refused_with_502() {
    let (cloud, daemon, vendor) = start("[update]\nmax_bytes = 100000\n");
    let signed = vendor.sign(&firmware(FW_LEN, 6));
    cloud.serve_file(FW_PATH, signed.clone());
    let id = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &signed.len().to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "502"], "{}", daemon.log_tail(40));
    assert!(installs(&daemon).is_empty(), "{:?}", installs(&daemon));
    // A file that is too large is not worth retrying.
    assert_eq!(gets(&cloud, FW_PATH).len(), 1, "{}", cloud.dump());
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn a_connection_cut_once_is_resumed_with_a_range_request() {
    let vendor = Vendor::new();
    let fw = vendor.sign(&firmware(FW_LEN, 7));
    // The hash proves that the resumed bytes were put at the right place (so does the signature).
    let (cloud, daemon, _) = start(&format!("{}sha256 = \"{}\"\n", vendor.config(), sha256_hex(&fw)));
    let len = fw.len();
    cloud.serve_file(FW_PATH, fw);
    cloud.cut_downloads_after(100_000, 1);
    let id = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &len.to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "501", "100"], "{}", daemon.log_tail(40));
    let gets = gets(&cloud, FW_PATH);
    assert_eq!(gets.len(), 2, "{}", cloud.dump());
    assert_eq!(gets[0].header("range"), None);
    assert_eq!(gets[1].header("range"), Some("bytes=100000-"), "{}", cloud.dump());
    assert!(gets[1].answer.starts_with("206"), "{}", cloud.dump());
    let installs = installs(&daemon);
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(installs[0]["bytes"], FW_LEN as u64);
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn a_server_that_ignores_range_makes_the_download_start_over_and_succeed() {
    let vendor = Vendor::new();
    let fw = vendor.sign(&firmware(FW_LEN, 8));
    let (cloud, daemon, _) = start(&format!("{}sha256 = \"{}\"\n", vendor.config(), sha256_hex(&fw)));
    let len = fw.len();
    cloud.serve_file(FW_PATH, fw);
    cloud.ignore_range(true);
    cloud.cut_downloads_after(100_000, 1);
    let id = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &len.to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "501", "100"], "{}", daemon.log_tail(40));
    let gets = gets(&cloud, FW_PATH);
    assert_eq!(gets.len(), 2, "{}", cloud.dump());
    assert_eq!(gets[1].header("range"), Some("bytes=100000-"), "{}", cloud.dump());
    assert!(gets[1].answer.starts_with("200"), "the mock must have sent the whole file again: {}", cloud.dump());
    let installs = installs(&daemon);
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(installs[0]["bytes"], FW_LEN as u64);
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn a_connection_cut_every_time_gives_502_after_the_bounded_retries() {
    let retries = 3;
    let (cloud, daemon, vendor) = start(&format!("[update]\ndownload_retries = {retries}\n"));
    cloud.serve_file(FW_PATH, vendor.sign(&firmware(FW_LEN, 9)));
    // Each attempt gets 10 000 more bytes: far from the whole file within the budget.
    cloud.cut_downloads_after(10_000, 1000);
    let id = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &FW_LEN.to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "502"], "{}", daemon.log_tail(40));
    let gets = gets(&cloud, FW_PATH);
    assert_eq!(gets.len(), retries + 1, "one attempt plus {retries} retries\n{}", cloud.dump());
    for (i, g) in gets.iter().enumerate().skip(1) {
        assert_eq!(g.header("range"), Some(format!("bytes={}-", i * 10_000).as_str()), "{}", cloud.dump());
    }
    assert!(installs(&daemon).is_empty(), "{:?}", installs(&daemon));
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn a_second_update_during_the_first_is_refused_with_507() {
    let (cloud, daemon, vendor) = start("");
    let held_fw = vendor.sign(&firmware(FW_LEN, 10));
    let held_len = held_fw.len().to_string();
    let held = HeldFileServer::start(held_fw);
    let small = vendor.sign(&firmware(1000, 11));
    let small_len = small.len().to_string();
    cloud.serve_file(FW_PATH, small);
    let first = push_update(&cloud, "0", &held.url, &held_len);
    let second = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &small_len);
    // The first download is held by the server until the second command has been answered.
    assert_eq!(update_codes(&cloud, &daemon, &second), ["507"], "{}", daemon.log_tail(40));
    // The first download may reach the server only now; it is held there either way.
    assert!(cloud.wait_until(DEADLINE, |_| held.requests.load(Ordering::SeqCst) >= 1), "first download never started");
    // "Downloading" was acknowledged before the GET went out; nothing else was reported since.
    let first_so_far: Vec<String> = cloud.results_for(&first).iter().map(code_of).collect();
    assert_eq!(first_so_far, ["500"], "the first update is still downloading");
    assert!(gets(&cloud, FW_PATH).is_empty(), "the refused update downloaded nothing: {}", cloud.dump());
    held.release();
    assert_eq!(update_codes(&cloud, &daemon, &first), ["500", "501", "100"], "{}", daemon.log_tail(40));
    let installs = installs(&daemon);
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(installs[0]["bytes"], FW_LEN as u64);
    // Once the first is over, a new update runs.
    let third = push_update(&cloud, "0", &format!("{}{FW_PATH}", cloud.url()), &small_len);
    assert_eq!(update_codes(&cloud, &daemon, &third), ["500", "501", "100"], "{}", daemon.log_tail(40));
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
}

#[test]
fn a_download_interrupted_by_a_crash_is_removed_at_the_next_start() {
    let (cloud, mut daemon, vendor) = start("");
    let held_fw = vendor.sign(&firmware(FW_LEN, 12));
    let held_len = held_fw.len().to_string();
    let held = HeldFileServer::start(held_fw);
    push_update(&cloud, "0", &held.url, &held_len);
    assert!(
        cloud.wait_until(DEADLINE, |_| held.requests.load(Ordering::SeqCst) >= 1),
        "the download never started\n{}",
        daemon.log_tail(40)
    );
    assert!(!leftovers(&daemon).is_empty(), "the download in progress should be on disk");
    daemon.kill9();
    let polls = cloud.count(UPDATE);
    daemon.spawn();
    assert!(cloud.wait_for_requests(UPDATE, polls + 1, DEADLINE), "{}", daemon.log_tail(40));
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
    assert!(installs(&daemon).is_empty(), "{:?}", installs(&daemon));
}

/// A directory holding the "installed agent" the built-in installer replaces: a small
/// script standing for the previous version (never the binary under test).
struct AgentDir {
    dir: tempfile::TempDir,
}

const PREVIOUS_AGENT: &[u8] = b"#!/bin/sh\necho 'facegate, previous version'\n";

impl AgentDir {
    fn new() -> AgentDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new().prefix("facegate-agent-").tempdir().expect("temp dir");
        let a = AgentDir { dir };
        std::fs::write(a.target(), PREVIOUS_AGENT).expect("write the previous agent");
        std::fs::set_permissions(a.target(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        a
    }

    fn target(&self) -> PathBuf {
        self.dir.path().join("facegate-agent")
    }

    fn prev(&self) -> PathBuf {
        self.dir.path().join("facegate-agent.prev")
    }

    fn config(&self) -> String {
        format!("[update]\nagent_path = {:?}\n", self.target().display().to_string())
    }

    /// Every file name in the directory, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("read the agent dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn trial_plan(daemon: &Daemon) -> Option<String> {
    let store = Store::open_readonly(daemon.dir()).expect("open the store");
    store.state(TRIAL_KEY).expect("read the state").filter(|p| !p.is_empty())
}

/// Waits until the daemon exits without being asked to.
fn wait_for_exit(daemon: &mut Daemon) -> bool {
    let end = Instant::now() + DEADLINE;
    while daemon.is_running() {
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn agent_installer_refuses_a_new_binary_that_fails_its_start_up_check() {
    let agent = AgentDir::new();
    let (cloud, mut daemon, vendor) = start(&agent.config());
    // Signed by the vendor, and still refused: it cannot register.
    let broken = vendor.sign(b"#!/bin/sh\necho 'broken build' >&2\nexit 1\n");
    let len = broken.len();
    cloud.serve_file(FW_PATH, broken);
    let id = push_update(&cloud, "1", &format!("{}{FW_PATH}", cloud.url()), &len.to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "501", "505"], "{}", daemon.log_tail(40));
    let refusal = cloud.results_for(&id).pop().expect("final result");
    assert!(refusal["msg"].as_str().unwrap_or_default().contains("broken build"), "the cloud learns why: {refusal}");
    assert_eq!(check_content(&agent.target(), PREVIOUS_AGENT), Ok(()), "the previous agent is kept");
    assert_eq!(agent.names(), ["facegate-agent"], "no .new or .prev left behind");
    assert!(installs(&daemon).is_empty(), "{:?}", installs(&daemon));
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
    assert_eq!(trial_plan(&daemon), None, "nothing is on trial");
    assert!(daemon.is_running(), "a refused agent does not stop the running one\n{}", daemon.log_tail(40));
}

#[test]
fn agent_installer_puts_a_good_binary_in_place_and_rolls_back_an_overdue_one() {
    let agent = AgentDir::new();
    let (cloud, mut daemon, vendor) = start(&agent.config());
    // The new version is a copy of the real daemon: its start-up check really registers.
    let new_agent = std::fs::read(env!("CARGO_BIN_EXE_facegate")).expect("read the facegate binary");
    let signed = vendor.sign_as(&new_agent, env!("CARGO_PKG_VERSION"), false);
    let len = signed.len();
    cloud.serve_file(FW_PATH, signed);
    let id = push_update(&cloud, "1", &format!("{}{FW_PATH}", cloud.url()), &len.to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "501", "100"], "{}", daemon.log_tail(40));

    // The start-up check registered between "upgrading" and the final result.
    let requests = cloud.requests();
    let at = |code: &str| {
        requests
            .iter()
            .position(|r| {
                r.is_result()
                    && r.field("msgID").as_deref() == Some(&id)
                    && r.field("errorCode").as_deref() == Some(code)
            })
            .expect("result seen")
    };
    let (upgrading, done) = (at("501"), at("100"));
    assert!(
        requests[upgrading..done].iter().any(|r| r.path == "/device/register"),
        "no registration by the new binary during the check\n{}",
        cloud.dump()
    );

    // The daemon exits by itself so that the service manager starts the new agent.
    assert!(wait_for_exit(&mut daemon), "the daemon kept running after installing\n{}", daemon.log_tail(40));
    assert_eq!(check_content(&agent.target(), &new_agent), Ok(()), "the new agent is in place");
    assert_eq!(check_content(&agent.prev(), PREVIOUS_AGENT), Ok(()), "the previous agent is kept as .prev");
    assert_eq!(agent.names(), ["facegate-agent", "facegate-agent.prev"], "no .new left behind");
    let installs = installs(&daemon);
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert_eq!(installs[0]["update_type"], "1");
    assert_eq!(installs[0]["path"], agent.target().display().to_string());
    assert_eq!(installs[0]["bytes"], new_agent.len() as u64, "the signature trailer was cut off");
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));
    let plan: Value = serde_json::from_str(&trial_plan(&daemon).expect("the new agent is on trial")).unwrap();
    assert_eq!(plan["target"], agent.target().display().to_string(), "{plan}");
    assert_eq!(plan["prev"], agent.prev().display().to_string(), "{plan}");
    assert!(plan["deadline_ms"].as_i64().unwrap() > now_ms(), "{plan}");

    // Started again within the deadline, it registers: the update is confirmed and kept.
    let registrations = cloud.count("/device/register");
    daemon.spawn();
    assert!(cloud.wait_for_requests("/device/register", registrations + 1, DEADLINE), "{}", daemon.log_tail(40));
    assert!(daemon.wait_until(DEADLINE, |d| trial_plan(d).is_none()), "trial not confirmed\n{}", daemon.log_tail(40));
    assert!(daemon.is_running(), "{}", daemon.log_tail(40));
    assert_eq!(check_content(&agent.target(), &new_agent), Ok(()), "the confirmed agent stays");
    daemon.stop();

    // An agent on trial past its deadline without registering: the previous one comes back
    // at start, and the daemon exits to be restarted as that one.
    let overdue = json!({"target": agent.target(), "prev": agent.prev(), "deadline_ms": now_ms() - 60_000});
    Store::open(daemon.dir()).unwrap().set_state(TRIAL_KEY, &overdue.to_string()).unwrap();
    daemon.spawn();
    assert!(wait_for_exit(&mut daemon), "the daemon did not exit after rolling back\n{}", daemon.log_tail(40));
    assert_eq!(check_content(&agent.target(), PREVIOUS_AGENT), Ok(()), "the previous agent is back");
    assert_eq!(agent.names(), ["facegate-agent"]);
    assert_eq!(trial_plan(&daemon), None, "the rollback is done once");

    // The next start is an ordinary one.
    let registrations = cloud.count("/device/register");
    daemon.spawn();
    assert!(cloud.wait_for_requests("/device/register", registrations + 1, DEADLINE), "{}", daemon.log_tail(40));
    assert!(daemon.is_running(), "{}", daemon.log_tail(40));
    assert_eq!(check_content(&agent.target(), PREVIOUS_AGENT), Ok(()));
}

#[test]
fn agent_installer_accepts_a_new_agent_that_writes_much_to_stderr_during_its_check() {
    let agent = AgentDir::new();
    let (cloud, mut daemon, vendor) = start(&format!("{}rollback_timeout_s = 30\n", agent.config()));
    // More than a pipe holds, then the real daemon's check: a full pipe must not pass for a
    // binary that cannot register.
    let chatty = format!(
        "#!/bin/sh\nyes 'starting up' | head -c 262144 >&2\nexec {:?} \"$@\"\n",
        env!("CARGO_BIN_EXE_facegate")
    )
    .into_bytes();
    let signed = vendor.sign(&chatty);
    let len = signed.len();
    cloud.serve_file(FW_PATH, signed);
    let id = push_update(&cloud, "1", &format!("{}{FW_PATH}", cloud.url()), &len.to_string());
    assert_eq!(update_codes(&cloud, &daemon, &id), ["500", "501", "100"], "{}", daemon.log_tail(40));
    assert!(wait_for_exit(&mut daemon), "the daemon kept running after installing\n{}", daemon.log_tail(40));
    assert_eq!(check_content(&agent.target(), &chatty), Ok(()));
    assert_eq!(check_content(&agent.prev(), PREVIOUS_AGENT), Ok(()));
}

#[test]
fn reboot_is_reported_before_the_reboot_action() {
    let (cloud, daemon, _) = start("");
    // When the cloud receives the result, the sim log must not show the reboot yet.
    let reboots_when_reported: Arc<Mutex<Option<usize>>> = Arc::new(Mutex::new(None));
    let seen = reboots_when_reported.clone();
    let log = daemon.dir().join("sim-actuators.jsonl");
    cloud.on_request(move |r| {
        if r.path == "/device/reboot" && r.is_result() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let reboots = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|a| a["kind"] == "reboot")
                .count();
            *seen.lock().unwrap() = Some(reboots);
        }
    });
    let id = cloud.push_command("/device/reboot", json!({"isOnlineReboot": "1"}));
    assert!(
        daemon.wait_until(DEADLINE, |d| d.actuator_log().iter().any(|a| a["kind"] == "reboot")),
        "no reboot\n{}\n{}",
        cloud.dump(),
        daemon.log_tail(40)
    );
    let results = cloud.results_for(&id);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["msgType"], "onlineRebootResp");
    assert_eq!(results[0]["errorCode"], "100");
    assert_eq!(*reboots_when_reported.lock().unwrap(), Some(0), "the reboot happened before the report");
    let reboots = daemon.actuator_log().iter().filter(|a| a["kind"] == "reboot").count();
    assert_eq!(reboots, 1);
}

#[test]
fn set_time_sets_the_clock_in_the_device_time_zone_and_refuses_absurd_times() {
    // Locally UTC-5; the cloud then sets UTC+3, which must win.
    let (cloud, daemon, _) = start("[device]\ntime_zone = -5\n");
    let tz = cloud.push_command("/device/setDevInfo", json!({"isOnlineSetDevInfo": "1", "timeZone": "3"}));
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&tz).is_empty()), "{}", cloud.dump());
    assert_eq!(cloud.results_for(&tz)[0]["errorCode"], "100", "{:?}", cloud.results_for(&tz));

    let set_clocks = |d: &Daemon| -> Vec<i64> {
        d.actuator_log().iter().filter(|a| a["kind"] == "set_clock").map(|a| a["unix_ms"].as_i64().unwrap()).collect()
    };
    let before = set_clocks(&daemon);
    let id =
        cloud.push_command("/device/setTime", json!({"isonlineSetTime": "1", "timeStamp": "2098-03-04 05:06:07.8"}));
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&id).is_empty()), "{}", cloud.dump());
    let results = cloud.results_for(&id);
    assert_eq!(results[0]["msgType"], "onlineSetTimeResp", "{results:?}");
    assert_eq!(results[0]["errorCode"], "100", "{results:?}");
    // 2098-03-04 05:06:07.8 at UTC+3 is 2098-03-04T02:06:07.8Z (a date after any build: the
    // clock is never set before the binary's build time).
    let expected = 4_044_737_167_800i64;
    let after = set_clocks(&daemon);
    assert_eq!(&after[before.len()..], [expected], "{after:?}");

    // Before 2024: refused with 200, and the clock is left alone.
    let absurd =
        cloud.push_command("/device/setTime", json!({"isonlineSetTime": "1", "timeStamp": "2001-01-01 00:00:00.0"}));
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&absurd).is_empty()), "{}", cloud.dump());
    let results = cloud.results_for(&absurd);
    assert_eq!(results[0]["errorCode"], "200", "{results:?}");
    assert_eq!(set_clocks(&daemon), after, "the clock was set to an absurd time");

    // After 2099, and before this build: refused alike.
    for absurd in ["2100-01-01 00:00:00.0", "9999-12-31 23:59:59.0", "2024-06-01 00:00:00.0"] {
        let id = cloud.push_command("/device/setTime", json!({"isonlineSetTime": "1", "timeStamp": absurd}));
        assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&id).is_empty()), "{}", cloud.dump());
        let results = cloud.results_for(&id);
        assert_eq!(results[0]["errorCode"], "200", "{absurd}: {results:?}");
    }
    assert_eq!(set_clocks(&daemon), after, "the clock was set to an absurd time");
}
