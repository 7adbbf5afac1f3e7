//! Access and records benchmark: the real daemon (release build) on the sim board against the
//! mock cloud on 127.0.0.1, next to bare baselines.
//!
//! `cargo bench --bench access` prints a Markdown table (the figures of BENCHMARKS.md):
//! 1. card-to-relay latency with 100,000 persons stored, p50/p99, two ways: from sending the
//!    control-socket request to the relay "open" line's timestamp (`t`, Unix ms) in the sim
//!    actuator log, and the control request's round trip (the daemon answers after the record
//!    is committed and the relay commanded);
//! 2. durable record commits per second through `Store::insert_record`, next to a bare
//!    rusqlite insert loop with the same pragmas (WAL, synchronous=FULL), one transaction each;
//! 3. backlog drain rate of the uploader to the mock cloud, next to a bare ureq POST loop of the
//!    same payloads on one keep-alive connection.
//!
//! Environment: `FACEGATE_BENCH_BIN` (the daemon binary to measure, default this build's),
//! `FACEGATE_BENCH_SAMPLES` (latency samples, default 1000),
//! `FACEGATE_BENCH_RECORDS` (commits and backlog size, default 2000), `FACEGATE_BENCH_PARTS`
//! (any of `latency,commits,drain`, default all).

#[path = "../tests/common/mock_cloud.rs"]
mod mock_cloud;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use facegate::ctl::{self, Request};
use facegate::model::{Person, Priority};
use facegate::store::{NewRecord, Store};
use mock_cloud::MockCloud;
use serde_json::Value;

/// Persons stored for the latency part (a smoke run under `cargo test` uses fewer).
const PERSONS: usize = 100_000;
const WAIT: Duration = Duration::from_secs(120);

/// When set, this binary is the bare POST loop's client: POST each line of the file named by
/// [`POST_LOOP_BODIES`] to this URL, one after another on one keep-alive connection.
const POST_LOOP_URL: &str = "FACEGATE_BENCH_POST_LOOP_URL";
const POST_LOOP_BODIES: &str = "FACEGATE_BENCH_POST_LOOP_BODIES";

fn main() {
    if let (Ok(url), Ok(bodies)) = (std::env::var(POST_LOOP_URL), std::env::var(POST_LOOP_BODIES)) {
        bare_post_loop(&url, Path::new(&bodies));
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this without it, on a debug
    // build: then a small smoke run only checks that every part still works.
    let full = std::env::args().any(|a| a == "--bench");
    let (persons, samples, records, rounds) = if full {
        (
            PERSONS,
            env_usize("FACEGATE_BENCH_SAMPLES", 1_000),
            env_usize("FACEGATE_BENCH_RECORDS", 2_000),
            env_usize("FACEGATE_BENCH_ROUNDS", 5),
        )
    } else {
        (1_000, 20, 50, 1)
    };
    println!("# facegate access benchmark ({persons} persons, {samples} latency samples, {records} records)\n");
    let parts = std::env::var("FACEGATE_BENCH_PARTS").unwrap_or_else(|_| "latency,commits,drain".into());
    let latency = parts.contains("latency").then(|| card_to_relay(persons, samples));
    let commits = parts.contains("commits").then(|| record_commits(records));
    let drain = parts.contains("drain").then(|| backlog_drain(records, rounds));
    println!("| measure | facegate | baseline | ratio | goal |");
    println!("|---|---|---|---|---|");
    if let Some(latency) = latency {
        print_latency(&latency);
    }
    if let Some(commits) = commits {
        println!(
            "| durable record commits | {:.0} /s | {:.0} /s (bare rusqlite) | {:.2} | >= 0.50 |",
            commits.store,
            commits.bare,
            commits.store / commits.bare
        );
    }
    if let Some(drain) = drain {
        println!(
            "| backlog drain to the mock cloud, median of rounds | {:.0} /s | {:.0} /s (bare ureq) | {:.2} | >= 0.80 |",
            drain.daemon, drain.bare, drain.ratio
        );
        println!(
            "| CPU per drained record, median of rounds | {:.0} us (daemon process) | {:.0} us (bare loop) | | |",
            drain.daemon_cpu_us, drain.bare_cpu_us
        );
    }
}

fn print_latency(latency: &Latency) {
    let (relay, bare) = (&latency.to_relay, &latency.bare_commit);
    println!(
        "| card to relay \"open\" line (seen by inotify), p50 / p99 / max | {:.2} / {:.2} / {:.2} ms | \
         {:.2} / {:.2} / {:.2} ms (one bare durable commit) | overhead p50 {:.2}, p99 {:.2} ms | p99 overhead <= 0.5 ms: {} |",
        relay.p50,
        relay.p99,
        relay.max,
        bare.p50,
        bare.p99,
        bare.max,
        relay.p50 - bare.p50,
        relay.p99 - bare.p99,
        if relay.p99 - bare.p99 <= 0.5 { "met" } else { "**missed**" }
    );
    println!(
        "| card to relay \"open\" line (its own `t`, ±1 ms), p50 / p99 / max | {:.1} / {:.1} / {:.1} ms | | | |",
        latency.to_relay_t.p50, latency.to_relay_t.p99, latency.to_relay_t.max
    );
    println!(
        "| control request round trip, p50 / p99 / max | {:.2} / {:.2} / {:.2} ms | | | |",
        latency.round_trip.p50, latency.round_trip.p99, latency.round_trip.max
    );
    println!(
        "| `facegate card` CLI round trip, p50 / p99 | {:.1} / {:.1} ms | | | |",
        latency.cli.p50, latency.cli.p99
    );
    println!("| cards through the daemon (sequential) | {:.0} /s | | | |", latency.cards_per_s);
}

/// The daemon binary: this build's, or `FACEGATE_BENCH_BIN` (another build to compare with
/// in the same run, e.g. the one before a change).
fn daemon_bin() -> PathBuf {
    std::env::var_os("FACEGATE_BENCH_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_facegate")), PathBuf::from)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn unix_ms_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// Percentiles of a sample, in the sample's unit.
struct Spread {
    p50: f64,
    p99: f64,
    max: f64,
}

fn spread(mut v: Vec<f64>) -> Spread {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let at = |p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    Spread { p50: at(50), p99: at(99), max: v[v.len() - 1] }
}

/// A `facegate run` child, killed with the temp dir.
struct Daemon {
    child: Child,
    dir: PathBuf,
    config: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, cloud_url: &str, extra: &str) -> Daemon {
        let config = dir.join("facegate.toml");
        let text = format!(
            "[device]\ndevice_no = \"FGBENCH1\"\n[cloud]\nurl = \"{cloud_url}\"\nretry_initial_ms = 50\n\
             retry_max_ms = 500\n[storage]\ndir = \"{d}\"\n[board]\nprofile = \"sim\"\n\
             [control]\nsocket = \"{d}/control.sock\"\n[log]\nlevel = \"info\"\n{extra}",
            d = dir.display()
        );
        std::fs::write(&config, text).expect("writing the config");
        let log = File::create(dir.join("daemon.log")).expect("creating the log");
        let child = Command::new(daemon_bin())
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting facegate");
        let d = Daemon { child, dir: dir.to_path_buf(), config };
        let end = Instant::now() + WAIT;
        while ctl::request(&d.socket(), &Request::Status, Duration::from_secs(5)).is_err() {
            assert!(Instant::now() < end, "the daemon did not come up:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Reads the sim actuator log as it grows, on a thread of its own woken by inotify when the
/// daemon writes it: each line comes with the instant it was seen, a finer clock than the
/// line's own `t` (whole milliseconds). The instant is late by the watcher's wake-up only.
struct ActuatorTail {
    lines: mpsc::Receiver<(Instant, Value)>,
    backlog: Vec<(Instant, Value)>,
    stop: Arc<AtomicBool>,
}

impl ActuatorTail {
    fn new(dir: &Path) -> ActuatorTail {
        let (tx, lines) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let path = dir.join("sim-actuators.jsonl");
        let quit = stop.clone();
        std::thread::spawn(move || watch_lines(&path, &tx, &quit));
        ActuatorTail { lines, backlog: Vec::new(), stop }
    }

    /// Waits for the next relay line with this state: when it was seen, and its `t` (Unix ms).
    fn wait_relay(&mut self, state: &str) -> (Instant, i64) {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.backlog.iter().position(|(_, v)| v["kind"] == "relay" && v["state"] == state) {
                let (seen, line) = self.backlog[i].clone();
                self.backlog.drain(..=i);
                return (seen, line["t"].as_i64().expect("t is Unix ms"));
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.backlog.push(line),
                Err(_) => panic!("no relay {state} line"),
            }
        }
    }
}

impl Drop for ActuatorTail {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The watcher thread of [`ActuatorTail`]: sends every complete line of `path` with the
/// instant it was read, until `stop`.
fn watch_lines(path: &Path, tx: &mpsc::Sender<(Instant, Value)>, stop: &AtomicBool) {
    while !path.exists() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("a path without NUL");
    // SAFETY: inotify_init1 has no preconditions; the watch takes a valid C string.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    assert!(fd >= 0, "inotify_init1");
    // SAFETY: as above.
    let wd = unsafe { libc::inotify_add_watch(fd, c_path.as_ptr(), libc::IN_MODIFY) };
    assert!(wd >= 0, "inotify_add_watch");
    let mut file = File::open(path).expect("opening the actuator log");
    let mut pending = String::new();
    let mut events = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        // Read what is there, then sleep until the next write (the watch was set before the
        // read, so no write is missed in between).
        let mut buf = String::new();
        let _ = file.read_to_string(&mut buf);
        let seen = Instant::now();
        pending.push_str(&buf);
        if let Some(end) = pending.rfind('\n') {
            let complete: String = pending.drain(..=end).collect();
            for line in complete.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
                if tx.send((seen, line)).is_err() {
                    return;
                }
            }
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; then a read into a buffer of the given length.
        unsafe {
            libc::poll(&mut pfd, 1, 100);
            libc::read(fd, events.as_mut_ptr().cast(), events.len());
        }
    }
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(fd) };
}

struct Latency {
    /// Request sent to the relay's "open" line, as the watcher saw it (µs clock).
    to_relay: Spread,
    /// The same from the line's own `t` (whole milliseconds, ±1 ms).
    to_relay_t: Spread,
    round_trip: Spread,
    /// One bare durable commit (rusqlite, the store's pragmas) after each card, same run.
    bare_commit: Spread,
    cli: Spread,
    cards_per_s: f64,
}

/// Card number of person `i`.
fn card_of(i: usize) -> String {
    (10_000_000 + i).to_string()
}

/// A plain table in a database of its own next to the store, with the store's pragmas: one
/// `BEGIN IMMEDIATE … COMMIT` of a card record's columns is the floor of the record's commit.
fn bare_db(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join("bare.db")).expect("bare db");
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"));
    conn.pragma_update(None, "synchronous", "FULL").expect("synchronous");
    conn.pragma_update(None, "foreign_keys", true).expect("foreign_keys");
    conn.pragma_update(None, "journal_size_limit", 64i64 << 20).expect("journal_size_limit");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy_timeout");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS records (
            msg_id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL,
            name TEXT NOT NULL, id_number TEXT NOT NULL, state INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, fields TEXT NOT NULL, compare_id TEXT,
            compare_slot INTEGER, photo_bytes INTEGER NOT NULL DEFAULT 0)",
    )
    .expect("bare table");
    conn
}

/// One bare durable commit of record `i`'s columns.
fn bare_commit(conn: &mut rusqlite::Connection, i: usize) {
    let fields = card_record_fields(i);
    let json = serde_json::to_string(&fields).expect("json");
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("tx");
    tx.prepare_cached(
        "INSERT INTO records (created_ms, name, id_number, state, fields, compare_id, compare_slot,
             photo_bytes) VALUES (?1, ?2, ?3, 0, ?4, NULL, NULL, 0)",
    )
    .expect("prepare")
    .execute(rusqlite::params![1_700_000_000_000 + i as i64, &fields["name"], &fields["idNumber"], json])
    .expect("insert");
    tx.commit().expect("commit");
}

fn card_to_relay(persons: usize, samples: usize) -> Latency {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut store = Store::open(dir.path()).expect("store");
        let started = Instant::now();
        for chunk in (0..persons).collect::<Vec<_>>().chunks(10_000) {
            let batch: Vec<(Person, Vec<_>)> = chunk
                .iter()
                .map(|&i| {
                    let p = Person {
                        id_number: format!("P{i:06}"),
                        name: format!("Person {i}"),
                        card: card_of(i),
                        priority: Priority::AnyTime,
                        valid_start: "2020_01_01".into(),
                        valid_end: "2099_12_31".into(),
                        ..Person::default()
                    };
                    (p, Vec::new())
                })
                .collect();
            store.upsert_persons(&batch).expect("seeding persons");
        }
        assert_eq!(store.person_count().unwrap(), persons as u64);
        eprintln!("{persons} persons stored in {:.1} s", started.elapsed().as_secs_f64());
    }
    let cloud = MockCloud::start();
    cloud.keep_last(1_000);
    let d = Daemon::start(
        dir.path(),
        &cloud.url(),
        "[params]\nfaceRFIDCardEnable = \"1\"\nopenDoorTimeDelayMs = \"1\"\nrecogIntervalTime = \"0\"\n",
    );
    let mut bare = bare_db(dir.path());
    let mut tail = ActuatorTail::new(dir.path());
    // The release line of start-up, then a warm-up.
    tail.wait_relay("closed");
    let present = |i: usize| {
        let r = ctl::request(&d.socket(), &Request::Card { number: card_of(i) }, Duration::from_secs(30))
            .expect("control request");
        assert!(r.ok && r.open, "card {} did not open: {r:?}\n{}", card_of(i), d.log());
    };
    for i in 0..50 {
        present(i * 1_999 % persons);
        tail.wait_relay("open");
        tail.wait_relay("closed");
        bare_commit(&mut bare, i);
    }
    let mut to_relay = Vec::with_capacity(samples);
    let mut to_relay_t = Vec::with_capacity(samples);
    let mut round_trip = Vec::with_capacity(samples);
    let mut bare_commits = Vec::with_capacity(samples);
    let started = Instant::now();
    let mut busy = Duration::ZERO;
    for k in 0..samples {
        // Spread over the whole table, so lookups are not all in one page.
        let i = (k * 7_919 + 13) % persons;
        let sent_ms = unix_ms_f64();
        let t0 = Instant::now();
        present(i);
        let rtt = t0.elapsed();
        busy += rtt;
        round_trip.push(rtt.as_secs_f64() * 1000.0);
        let (seen, opened_ms) = tail.wait_relay("open");
        to_relay.push(seen.saturating_duration_since(t0).as_secs_f64() * 1000.0);
        // `t` is whole milliseconds, truncated: the true time is up to 1 ms later.
        to_relay_t.push(opened_ms as f64 - sent_ms.floor());
        tail.wait_relay("closed");
        // The floor of the same moment: one bare durable commit, between two cards.
        let t = Instant::now();
        bare_commit(&mut bare, 1_000 + k);
        bare_commits.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let wall = started.elapsed();
    eprintln!("{samples} cards in {:.1} s (door pulses and bare commits included)", wall.as_secs_f64());
    let mut cli = Vec::new();
    for k in 0..samples.min(100) {
        let t0 = Instant::now();
        let out = Command::new(daemon_bin())
            .args(["card", &card_of(k * 997 % persons), "--config"])
            .arg(&d.config)
            .output()
            .expect("facegate card");
        cli.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("door opened"), "{out:?}");
        tail.wait_relay("closed");
    }
    drop(d);
    Latency {
        to_relay: spread(to_relay),
        to_relay_t: spread(to_relay_t),
        round_trip: spread(round_trip),
        bare_commit: spread(bare_commits),
        cli: spread(cli),
        cards_per_s: samples as f64 / busy.as_secs_f64(),
    }
}

struct Commits {
    store: f64,
    bare: f64,
}

/// The fields of a typical card record, as the decision engine builds them.
fn card_record_fields(i: usize) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    for (k, v) in [
        ("snapType", "4"),
        ("compareResult", "0"),
        ("sex", ""),
        ("birth", ""),
        ("company", "XX 科技有限公司"),
        ("department", "测试部"),
        ("phone", "18868681819"),
        ("validDateStart", "2020_01_01"),
        ("validDateEnd", "2099_12_31"),
        ("visitorVoiceText", "欢迎光临"),
        ("inOutMode", "1"),
        ("data", ""),
        ("passTime", "2026-11-29 08:30:00.123"),
    ] {
        f.insert(k.to_string(), v.to_string());
    }
    f.insert("idNumber".into(), format!("P{i:06}"));
    f.insert("name".into(), format!("Person {i}"));
    f.insert("normalNumber".into(), card_of(i));
    f
}

fn record_commits(n: usize) -> Commits {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path()).expect("store");
    let t0 = Instant::now();
    for i in 0..n {
        let rec = NewRecord {
            created_ms: 1_700_000_000_000 + i as i64,
            fields: card_record_fields(i),
            recognition_photo: None,
            compare_ref: None,
            held: false,
            awaiting_snapshot: false,
        };
        store.insert_record(&rec).expect("insert_record");
    }
    let store_rate = n as f64 / t0.elapsed().as_secs_f64();
    drop(store);

    let mut conn = bare_db(dir.path());
    let t0 = Instant::now();
    for i in 0..n {
        bare_commit(&mut conn, i);
    }
    let bare_rate = n as f64 / t0.elapsed().as_secs_f64();
    Commits { store: store_rate, bare: bare_rate }
}

struct Drain {
    daemon: f64,
    bare: f64,
    /// Median of the per-round ratios.
    ratio: f64,
    /// CPU per record of the whole daemon process from its first upload on, median.
    daemon_cpu_us: f64,
    /// CPU per record of the bare loop's process, median.
    bare_cpu_us: f64,
}

/// A JPEG of noise, about the size of a recognition snapshot (noise does not compress).
fn snapshot_jpeg() -> Vec<u8> {
    let (w, h) = (96u16, 96u16);
    let mut rng = fastrand::Rng::with_seed(7);
    let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3).map(|_| rng.u8(..)).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 75)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a JPEG");
    out
}

/// The baseline: a bare ureq agent (keep-alive, TCP_NODELAY like the daemon's) POSTing the
/// bodies one after another and reading each answer.
fn bare_post_loop(url: &str, bodies: &Path) {
    let text = std::fs::read_to_string(bodies).expect("reading the bodies");
    // The daemon's agent settings (src/cloud/transport.rs), minus TLS: nothing to configure.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(15)))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .no_delay(true)
        .max_idle_connections_per_host(2)
        .build()
        .into();
    let cpu_before = own_cpu_us();
    for body in text.lines() {
        let mut resp = agent
            .post(url)
            .header("Content-Type", "application/json;charset=UTF-8")
            .send(body.as_bytes())
            .expect("bare POST");
        let answer = resp.body_mut().read_to_vec().expect("answer");
        assert!(!answer.is_empty());
    }
    println!("{}", own_cpu_us() - cpu_before);
}

/// CPU time (user + system) this process has used, in microseconds.
fn own_cpu_us() -> u64 {
    // SAFETY: getrusage(2) fills the struct we pass; an all-zero rusage is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// CPU time (user + system) process `pid` has used so far, in microseconds (clock-tick
/// resolution, 10 ms here).
fn cpu_us_of(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    // utime and stime are fields 14 and 15 of stat(5), i.e. 12 and 13 after the ")".
    let ticks: u64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000 / hz
}

/// Records per second between the first and the last upload the mock received.
fn rate(reqs: &[mock_cloud::Req]) -> f64 {
    let first = reqs.first().expect("uploads").at;
    let last = reqs.last().expect("uploads").at;
    (reqs.len() - 1) as f64 / last.duration_since(first).as_secs_f64()
}

fn backlog_drain(n: usize, rounds: usize) -> Drain {
    let dir = tempfile::tempdir().expect("temp dir");
    let photo = snapshot_jpeg();
    {
        let mut store = Store::open(dir.path()).expect("store");
        for i in 0..n {
            let rec = NewRecord {
                created_ms: 1_700_000_000_000 + i as i64,
                fields: card_record_fields(i),
                recognition_photo: Some(photo.clone()),
                compare_ref: None,
                held: false,
                awaiting_snapshot: false,
            };
            store.insert_record(&rec).expect("insert_record");
        }
    }
    let cloud = MockCloud::start();
    let conns = |reqs: &[mock_cloud::Req]| reqs.iter().map(|r| r.conn).collect::<HashSet<u64>>().len();
    let url = format!("{}/face/record", cloud.url());
    let file = dir.path().join("bodies.jsonl");
    // Rounds pair a daemon drain with a bare loop right after it, so both meet the same load
    // on this shared machine; the medians are reported. Between rounds the same records are
    // made pending again while the daemon is stopped.
    let mut daemon_rates = Vec::new();
    let mut bare_rates = Vec::new();
    let mut ratios = Vec::new();
    let (mut daemon_cpus, mut bare_cpus) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round > 0 {
            let db = rusqlite::Connection::open(Store::db_path(dir.path())).expect("opening the store");
            db.execute("UPDATE records SET state = 0, attempts = 0", []).expect("making records pending");
        }
        cloud.clear_requests();
        let d = Daemon::start(dir.path(), &cloud.url(), "");
        // Poll a cheap count: copying the request log (10 KB bodies) in a loop would take the
        // CPU from the daemon being measured.
        let end = Instant::now() + WAIT;
        // The daemon's CPU from its first upload on, so start-up is not counted per record.
        while cloud.count("/face/record") == 0 {
            assert!(Instant::now() < end, "no upload:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(1));
        }
        let cpu_at_first = cpu_us_of(d.child.id());
        let uploads = loop {
            if cloud.count("/face/record") >= n {
                let uploads = cloud.requests_to("/face/record");
                let ids: HashSet<&str> =
                    uploads.iter().filter_map(|r| r.body.get("msgID").and_then(Value::as_str)).collect();
                if ids.len() >= n {
                    break uploads;
                }
            }
            assert!(Instant::now() < end, "only {} of {n} records drained:\n{}", cloud.count("/face/record"), d.log());
            std::thread::sleep(Duration::from_millis(50));
        };
        let daemon_cpu = cpu_us_of(d.child.id()).saturating_sub(cpu_at_first) as f64 / n as f64;
        drop(d);
        let daemon_rate = rate(&uploads);
        if round == 0 {
            let bodies: Vec<String> = uploads.iter().map(|r| r.body.to_string()).collect();
            eprintln!(
                "{} uploads of about {} bytes each ({} bytes of JPEG)",
                bodies.len(),
                bodies[0].len(),
                photo.len()
            );
            std::fs::write(&file, bodies.join("\n")).expect("writing the bodies");
        }

        // In-process, the client thread and the mock trade the CPU cheaply; the daemon cannot,
        // so the bare loop also runs in a process of its own (this binary, re-run as a client).
        cloud.clear_requests();
        let out = Command::new(std::env::current_exe().expect("this binary"))
            .env(POST_LOOP_URL, &url)
            .env(POST_LOOP_BODIES, &file)
            .stderr(Stdio::inherit())
            .output()
            .expect("running the bare loop");
        assert!(out.status.success(), "the bare loop failed");
        let bare_cpu = String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().unwrap_or(0.0) / n as f64;
        let replayed = cloud.requests_to("/face/record");
        let bare_rate = rate(&replayed);
        eprintln!(
            "round {round}: daemon {daemon_rate:.0}/s, {daemon_cpu:.0} us CPU/record ({} uploads, {} \
             connections), bare {bare_rate:.0}/s, {bare_cpu:.0} us CPU/record ({} uploads, {} connections)",
            uploads.len(),
            conns(&uploads),
            replayed.len(),
            conns(&replayed)
        );
        daemon_cpus.push(daemon_cpu);
        bare_cpus.push(bare_cpu);
        daemon_rates.push(daemon_rate);
        bare_rates.push(bare_rate);
        ratios.push(daemon_rate / bare_rate);
    }
    Drain {
        daemon: spread(daemon_rates).p50,
        bare: spread(bare_rates).p50,
        ratio: spread(ratios).p50,
        daemon_cpu_us: spread(daemon_cpus).p50,
        bare_cpu_us: spread(bare_cpus).p50,
    }
}
