//! Start-up and idle benchmark: the real daemon (release build) on the sim board against the
//! mock cloud on 127.0.0.1.
//!
//! 1. **Start-up**, with 100,000 persons (card, no photo) and 100,000 delivered records stored:
//!    from spawning `facegate run` to its `READY=1` (sd_notify, read from a `NOTIFY_SOCKET` of
//!    this benchmark) and to its first door decision (a card presented through the control
//!    socket, tried every millisecond from the spawn on, answered "door opened"). Rounds of
//!    starts, medians; next to the floor of the same run: spawning `facegate --version`.
//! 2. **Idle**: the daemon with the cloud answering "nothing to do" and the spec's default
//!    services and intervals (the mock's registerResp names no service: person/operate every
//!    30 s, records on), systemd's watchdog as the shipped unit sets it (`WatchdogSec=30`:
//!    `WATCHDOG_USEC`, `WATCHDOG_PID`), no events. Over `FACEGATE_BENCH_IDLE_S` seconds
//!    (default 60): CPU time and wake-ups (voluntary context switches) per minute of each thread,
//!    from `/proc/PID/task/*/stat` and `status`, and the watchdog pings and cloud requests seen.
//!    Goal: no thread wakes more often than the watchdog needs (a ping every 15 s) plus the
//!    polls the cloud asked for.
//!
//! `cargo bench --bench startup`; `FACEGATE_BENCH_BIN` (another daemon binary to measure),
//! `FACEGATE_BENCH_PERSONS`, `FACEGATE_BENCH_RECORDS`,
//! `FACEGATE_BENCH_ROUNDS` (default 5), `FACEGATE_BENCH_IDLE_S`, `FACEGATE_BENCH_PARTS`
//! (`startup,idle`). Without `--bench` (`cargo test --benches`) a small smoke run.

#[path = "../tests/common/mock_cloud.rs"]
mod mock_cloud;

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use facegate::ctl::{self, Request};
use facegate::model::{Person, Priority};
use facegate::store::Store;
use mock_cloud::MockCloud;

/// Bound of every wait.
const WAIT: Duration = Duration::from_secs(300);

/// systemd's watchdog timeout in the shipped unit (`systemd/facegate.service`).
const WATCHDOG_SEC: u64 = 30;

/// The daemon binary: this build's, or `FACEGATE_BENCH_BIN` (another build to compare with).
fn daemon_bin() -> PathBuf {
    std::env::var_os("FACEGATE_BENCH_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_facegate")), PathBuf::from)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let persons = env_usize("FACEGATE_BENCH_PERSONS", if full { 100_000 } else { 1_000 });
    let records = env_usize("FACEGATE_BENCH_RECORDS", if full { 100_000 } else { 1_000 });
    let rounds = env_usize("FACEGATE_BENCH_ROUNDS", if full { 5 } else { 1 });
    let idle_s = env_usize("FACEGATE_BENCH_IDLE_S", if full { 60 } else { 3 });
    let parts = std::env::var("FACEGATE_BENCH_PARTS").unwrap_or_else(|_| "startup,idle".into());
    println!("# facegate start-up and idle benchmark ({persons} persons, {records} records stored)\n");

    let dir = tempfile::tempdir().expect("temp dir");
    let seeding = Instant::now();
    seed(dir.path(), persons, records);
    eprintln!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());
    let cloud = MockCloud::start();
    cloud.keep_last(100);

    println!("| measure | facegate | baseline | goal |");
    println!("|---|---|---|---|");
    if parts.contains("startup") {
        let mut ready = Vec::new();
        let mut door = Vec::new();
        let mut floor = Vec::new();
        for round in 0..rounds {
            let (r, d) = start_once(dir.path(), &cloud.url(), card_of(persons / 2 + round));
            let f = exec_floor();
            eprintln!(
                "round {round}: READY {:.1} ms, first door decision {:.1} ms; `facegate --version` {:.1} ms",
                ms(r),
                ms(d),
                ms(f)
            );
            ready.push(ms(r));
            door.push(ms(d));
            floor.push(ms(f));
        }
        println!(
            "| start to READY=1, median of {rounds} | {:.0} ms (range {:.0}–{:.0}) | {:.1} ms (spawning `facegate --version`) | |",
            median(&ready),
            min(&ready),
            max(&ready),
            median(&floor)
        );
        println!(
            "| start to the first door decision, median of {rounds} | {:.0} ms (range {:.0}–{:.0}) | | < 1000 ms: {} |",
            median(&door),
            min(&door),
            max(&door),
            if median(&door) < 1000.0 { "met" } else { "**missed**" }
        );
    }
    if parts.contains("idle") {
        idle(dir.path(), &cloud, Duration::from_secs(idle_s as u64));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// Card number of person `i`.
fn card_of(i: usize) -> String {
    (10_000_000 + i).to_string()
}

/// Persons with a card each (no photo) and delivered card records, as a terminal holds them
/// after a while in service. Records are written in one transaction through SQL (the store's
/// triggers keep its counters), not one fsync each.
fn seed(dir: &Path, persons: usize, records: usize) {
    let mut store = Store::open(dir).expect("store");
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
    drop(store);
    let mut db = rusqlite::Connection::open(Store::db_path(dir)).expect("opening the store");
    let tx = db.transaction().expect("transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO records (created_ms, name, id_number, state, fields, photo_bytes)
                 VALUES (?1, ?2, ?3, 1, ?4, 0)",
            )
            .expect("prepare");
        for i in 0..records {
            let p = i % persons.max(1);
            let mut fields = BTreeMap::new();
            for (k, v) in [("snapType", "4"), ("compareResult", "0"), ("inOutMode", "1")] {
                fields.insert(k.to_string(), v.to_string());
            }
            fields.insert("idNumber".into(), format!("P{p:06}"));
            fields.insert("name".into(), format!("Person {p}"));
            fields.insert("normalNumber".into(), card_of(p));
            fields.insert("passTime".into(), "2026-11-29 08:30:00.123".into());
            let json = serde_json::to_string(&fields).expect("json");
            insert
                .execute(rusqlite::params![1_700_000_000_000i64 + i as i64, &fields["name"], &fields["idNumber"], json])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
    let store = Store::open(dir).expect("store");
    assert_eq!(store.record_count().unwrap(), records as u64);
}

/// A `facegate run` child with a notify socket; killed (SIGTERM, then waited for) on drop.
struct Run {
    child: Child,
    notify: UnixDatagram,
    socket: PathBuf,
}

impl Run {
    fn spawn(dir: &Path, cloud_url: &str, watchdog: bool) -> (Run, Instant) {
        let config = dir.join("facegate.toml");
        std::fs::write(
            &config,
            format!(
                "[device]\ndevice_no = \"FGBENCH1\"\n[cloud]\nurl = \"{cloud_url}\"\n[storage]\ndir = \"{d}\"\n\
                 [board]\nprofile = \"sim\"\n[control]\nsocket = \"{d}/control.sock\"\n[log]\nlevel = \"info\"\n\
                 [params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\n",
                d = dir.display()
            ),
        )
        .expect("writing the config");
        let notify_path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
        let log = std::fs::File::create(dir.join("daemon.log")).expect("log");
        // WATCHDOG_PID must be the daemon's own pid: a shell that execs the daemon keeps it.
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(if watchdog {
                "WATCHDOG_PID=$$ exec \"$0\" run --config \"$1\""
            } else {
                "exec \"$0\" run --config \"$1\""
            })
            .arg(daemon_bin())
            .arg(&config)
            .env("NOTIFY_SOCKET", &notify_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if watchdog {
            cmd.env("WATCHDOG_USEC", (WATCHDOG_SEC * 1_000_000).to_string());
        }
        let t0 = Instant::now();
        let child = cmd.spawn().expect("starting facegate");
        (Run { child, notify, socket: dir.join("control.sock") }, t0)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Starts the daemon once: (spawn to READY=1, spawn to the first door decision).
fn start_once(dir: &Path, cloud_url: &str, card: String) -> (Duration, Duration) {
    let (run, t0) = Run::spawn(dir, cloud_url, false);
    // The card is tried from another thread from the spawn on, so READY is read as it comes.
    let (tx, rx) = mpsc::channel();
    let socket = run.socket.clone();
    let presenter = std::thread::spawn(move || {
        let end = t0 + WAIT;
        loop {
            match ctl::request(&socket, &Request::Card { number: card.clone() }, Duration::from_secs(30)) {
                Ok(r) => {
                    let at = t0.elapsed();
                    assert!(r.ok && r.open, "the first card did not open: {r:?}");
                    let _ = tx.send(at);
                    return;
                }
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("no door decision within {WAIT:?}: {e}"),
            }
        }
    });
    run.notify.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = [0u8; 512];
    let ready = loop {
        let n = run.notify.recv(&mut buf).expect("no READY=1 from the daemon");
        if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
            break t0.elapsed();
        }
    };
    let door = rx.recv_timeout(WAIT).expect("no door decision");
    presenter.join().expect("the presenter thread");
    (ready, door)
}

/// Spawning and reaping `facegate --version`: the floor of any start.
fn exec_floor() -> Duration {
    let t0 = Instant::now();
    let out = Command::new(daemon_bin()).arg("--version").output().expect("facegate --version");
    let d = t0.elapsed();
    assert!(out.status.success());
    d
}

/// CPU ticks and context switches of one thread.
#[derive(Clone, Copy, Default)]
struct ThreadUse {
    ticks: u64,
    voluntary: u64,
    involuntary: u64,
}

/// Every thread of `pid` by tid: (name, use so far).
fn threads(pid: u32) -> BTreeMap<u32, (String, ThreadUse)> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for task in tasks.flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let name = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map_or("?", |(n, _)| n).to_string();
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
        let field = |key: &str| {
            status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
        };
        out.insert(
            tid,
            (
                name,
                ThreadUse {
                    ticks,
                    voluntary: field("voluntary_ctxt_switches:"),
                    involuntary: field("nonvoluntary_ctxt_switches:"),
                },
            ),
        );
    }
    out
}

fn idle(dir: &Path, cloud: &MockCloud, span: Duration) {
    cloud.clear_requests();
    let (run, _) = Run::spawn(dir, &cloud.url(), true);
    run.notify.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = [0u8; 512];
    loop {
        let n = run.notify.recv(&mut buf).expect("no READY=1 from the daemon");
        if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
            break;
        }
    }
    // Past registration and the first polls: the steady state.
    let end = Instant::now() + WAIT;
    while cloud.count("/device/register") == 0 {
        assert!(Instant::now() < end, "the daemon did not register");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));
    cloud.clear_requests();
    let before = threads(run.pid());
    run.notify.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let t0 = Instant::now();
    let mut pings = 0u64;
    while t0.elapsed() < span {
        if let Ok(n) = run.notify.recv(&mut buf) {
            pings += String::from_utf8_lossy(&buf[..n]).lines().filter(|l| *l == "WATCHDOG=1").count() as u64;
        }
    }
    let after = threads(run.pid());
    let minutes = t0.elapsed().as_secs_f64() / 60.0;
    let requests = cloud.requests();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut busiest = 0.0f64;
    let (mut total_cpu, mut total_wakes) = (0.0, 0.0);
    println!(
        "| idle: watchdog pings / cloud requests per minute | {:.1} / {:.1} | {:.1} pings (a ping per {} s) | |",
        pings as f64 / minutes,
        requests.len() as f64 / minutes,
        60.0 / (WATCHDOG_SEC as f64 / 2.0),
        WATCHDOG_SEC / 2
    );
    for (tid, (name, end)) in &after {
        let start = before.get(tid).map(|(_, u)| *u).unwrap_or_default();
        let cpu_ms = (end.ticks - start.ticks) as f64 * 1000.0 / hz / minutes;
        let wakes = (end.voluntary - start.voluntary) as f64 / minutes;
        let preempted = (end.involuntary - start.involuntary) as f64 / minutes;
        total_cpu += cpu_ms;
        total_wakes += wakes;
        if !(name.starts_with("ctl-conn")) {
            busiest = busiest.max(wakes);
        }
        println!(
            "| idle thread `{name}`: CPU / wake-ups / preemptions per minute | {cpu_ms:.0} ms / {wakes:.1} / {preempted:.1} | | |"
        );
    }
    println!(
        "| idle daemon, all threads: CPU / wake-ups per minute over {:.0} s | {total_cpu:.0} ms / {total_wakes:.1} | | busiest thread {busiest:.1} wake-ups/min |",
        minutes * 60.0
    );
    let mut paths: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *paths.entry(r.path.clone()).or_default() += 1;
    }
    eprintln!("cloud requests while idle: {paths:?}");
}
