//! Persons benchmark: the real daemon against the mock cloud on 127.0.0.1.
//!
//! 1. A bare poll loop: ureq POSTs of person/operate's poll request, answered "nothing to do",
//!    from this process against the same mock (before and after the sync).
//! 2. A sync of 10,000 persons, each with a ~20 KB JPEG, one person per command as the spec
//!    recommends: persons per second, and the ratio to the bare poll rate.
//! 3. 100,000 persons (with photos) written straight into the store, then the daemon started on
//!    them and made to work (person/count, a card read, adds, a person/info extraction); the
//!    daemon's peak RSS (VmHWM) is read from /proc.
//!
//! Run: `cargo bench --bench persons` (release profile). Sizes can be changed with
//! FACEGATE_BENCH_SYNC, FACEGATE_BENCH_STORED and FACEGATE_BENCH_PHOTO_BYTES. Without `--bench`
//! (`cargo test --benches`) it is a smoke run of a few persons.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{DEVICE_NO, Daemon, MockCloud};
use facegate::model::{Person, PersonPhoto, Priority};
use facegate::store::Store;
use serde_json::{Value, json};

/// Bound for every wait, so a broken daemon cannot keep the benchmark running.
const STEP_TIMEOUT: Duration = Duration::from_secs(1800);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that does not name this benchmark skips it.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "persons".contains(f.as_str())) {
        return;
    }
    // `cargo test --benches` runs this without `--bench`: a small smoke run then, so that a test
    // run proves the benchmark works without syncing thousands of persons.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let sync_n = env_usize("FACEGATE_BENCH_SYNC", if smoke { 30 } else { 10_000 });
    let stored_n = env_usize("FACEGATE_BENCH_STORED", if smoke { 300 } else { 100_000 });
    let photo_bytes = env_usize("FACEGATE_BENCH_PHOTO_BYTES", 20_000);
    if smoke {
        println!("smoke run (not started by `cargo bench`): {sync_n} persons synced, {stored_n} stored");
    }

    let photos: Vec<Vec<u8>> = (0..8).map(|seed| photo_near(photo_bytes, seed)).collect();
    let sizes: Vec<usize> = photos.iter().map(Vec::len).collect();
    println!("persons benchmark ({} build)", if cfg!(debug_assertions) { "debug" } else { "release" });
    println!(
        "photos: 8 JPEGs of 240x320 pixels, {}..{} bytes",
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap()
    );

    let polls = if smoke { 300 } else { 5_000 };
    let cloud = MockCloud::start();
    cloud.keep_last(2_000);
    cloud.elide_strings_over(256);
    let before = bare_poll_rate(&cloud.url(), polls, false);
    println!("bare poll loop (before): {before:.0} polls/s");
    let like_daemon = bare_poll_rate(&cloud.url(), polls, true);
    println!("bare poll loop with the daemon's timeouts: {like_daemon:.0} polls/s");

    let commits = if smoke { 20 } else { 300 };
    let commit_before = bare_commit_secs(&photos[0], commits);
    println!("bare durable commit of a person-sized row (before): {:.0} µs", commit_before * 1e6);

    let (rate, sync_hwm) = sync(&cloud, &photos, sync_n);
    let after = bare_poll_rate(&cloud.url(), polls, false);
    println!("bare poll loop (after): {after:.0} polls/s");
    let commit_after = bare_commit_secs(&photos[0], commits);
    println!("bare durable commit of a person-sized row (after): {:.0} µs", commit_after * 1e6);
    let bare = (before + after) / 2.0;
    let commit = (commit_before + commit_after) / 2.0;
    // The protocol's ceiling: each person costs two exchanges (command, result) and one durable
    // commit before its result, whatever the daemon does.
    let ideal = 1.0 / (2.0 / bare + commit);
    println!(
        "sync: {rate:.1} persons/s = {:.3} of the bare poll rate ({bare:.0} polls/s); daemon VmHWM {sync_hwm:.1} MiB",
        rate / bare
    );
    println!(
        "| person sync / protocol-bound ideal 1/(2 x {:.0} µs exchange + {:.0} µs commit) | {rate:.0} persons/s | \
         {ideal:.0} persons/s | {:.2} | >= 0.7: {} |",
        1e6 / bare,
        commit * 1e6,
        rate / ideal,
        if rate / ideal >= 0.7 { "met" } else { "**missed**" }
    );

    breakdown(&cloud, &photos, if smoke { 10 } else { 500 }, rate);

    let hwm = stored(&photos, stored_n, if smoke { 20 } else { 200 });
    println!("daemon VmHWM with {stored_n} persons stored: {hwm:.1} MiB (goal < 16 MiB)");
}

/// A 240x320 JPEG (a smooth picture with some grain, like a face photo) whose size is close to
/// `target` bytes, by searching the quality.
fn photo_near(target: usize, seed: u64) -> Vec<u8> {
    let (w, h) = (240u16, 320u16);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (f32::from(x) - 120.0, f32::from(y) - 150.0);
            let face = if dx * dx / 80.0f32.powi(2) + dy * dy / 105.0f32.powi(2) < 1.0 { 60.0 } else { 0.0 };
            let grain = rng.f32() * 24.0;
            let base = f32::from(y) * 0.4 + f32::from(x) * 0.2 + face + grain;
            pixels.push((base + 40.0).min(255.0) as u8);
            pixels.push((base + 10.0 + seed as f32 * 7.0).min(255.0) as u8);
            pixels.push((base * 0.8).min(255.0) as u8);
        }
    }
    let encode = |q: u8| {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, q)
            .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
            .expect("encoding an in-memory image cannot fail");
        out
    };
    let (mut lo, mut hi) = (5u8, 98u8);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if encode(mid).len() <= target { lo = mid } else { hi = mid - 1 }
    }
    encode(lo)
}

/// Polls per second of a plain keep-alive ureq client posting person/operate's poll request to
/// the mock, which answers "nothing to do". `with_timeouts` sets the connect and whole-request
/// timeouts the daemon's transport sets (ureq then resolves the host on a thread of its own for
/// every request), to show what that costs.
fn bare_poll_rate(url: &str, n: usize, with_timeouts: bool) -> f64 {
    let mut config = ureq::Agent::config_builder().no_delay(true).http_status_as_error(false);
    if with_timeouts {
        config = config.timeout_connect(Some(Duration::from_secs(5))).timeout_global(Some(Duration::from_secs(15)));
    }
    let agent: ureq::Agent = config.build().into();
    let body = serde_json::to_vec(&json!({
        "msgType": "registerPersonInfoReq", "deviceNo": DEVICE_NO, "version": "V1.0",
    }))
    .expect("a JSON literal serialises");
    let url = format!("{url}/person/operate");
    let warm_up = 200;
    let mut start = Instant::now();
    for i in 0..warm_up + n {
        if i == warm_up {
            start = Instant::now();
        }
        let mut resp = agent
            .post(&url)
            .header("Content-Type", "application/json;charset=UTF-8")
            .send(&body[..])
            .expect("the mock cloud answers");
        let answer = resp.body_mut().read_to_vec().expect("the mock cloud's answer is read");
        assert!(resp.status() == 200 && !answer.is_empty(), "the mock answered {}", resp.status());
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Mean seconds of one bare durable commit of a person-sized row (the fields and one photo)
/// with the store's pragmas (WAL, synchronous=FULL): the floor of saving one synced person.
fn bare_commit_secs(photo: &[u8], n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut conn = rusqlite::Connection::open(dir.path().join("bare.db")).expect("bare db");
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"));
    conn.pragma_update(None, "synchronous", "FULL").expect("synchronous");
    conn.execute_batch("CREATE TABLE persons (id TEXT PRIMARY KEY, fields TEXT NOT NULL, jpeg BLOB NOT NULL)")
        .expect("bare table");
    let fields = person_command(0, "").to_string();
    let t0 = Instant::now();
    for i in 0..n {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("tx");
        tx.prepare_cached("INSERT OR REPLACE INTO persons (id, fields, jpeg) VALUES (?1, ?2, ?3)")
            .expect("prepare")
            .execute(rusqlite::params![format!("S{i:06}"), fields, photo])
            .expect("insert");
        tx.commit().expect("commit");
    }
    t0.elapsed().as_secs_f64() / n as f64
}

/// Counts what the mock saw, from its request hook.
#[derive(Default)]
struct Tally {
    results: AtomicU64,
    failures: AtomicU64,
    items: AtomicU64,
    first_result: Mutex<Option<Instant>>,
    last_result: Mutex<Option<Instant>>,
    first_failure: Mutex<Option<String>>,
}

fn watch(cloud: &MockCloud) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let t = tally.clone();
    cloud.on_request(move |r| {
        if r.is_stream_item() {
            t.items.fetch_add(1, Ordering::SeqCst);
        } else if r.path == "/person/operate" && r.is_result() {
            let now = Some(r.at);
            t.first_result.lock().unwrap().get_or_insert(r.at);
            *t.last_result.lock().unwrap() = now;
            if r.field("errorCode").as_deref() != Some("100") {
                t.failures.fetch_add(1, Ordering::SeqCst);
                t.first_failure.lock().unwrap().get_or_insert_with(|| r.body.to_string());
            }
            t.results.fetch_add(1, Ordering::SeqCst);
        }
    });
    tally
}

fn person_command(i: usize, photo_b64: &str) -> Value {
    json!({
        "isRegisterPersonInfo": "1",
        "personInfoCount": "1",
        "personInfoData": [{
            "operateType": "0",
            "idNumber": format!("S{i:06}"),
            "normalNumber": format!("{}", 500_000 + i),
            "name": format!("同步人员{i}"),
            "sex": "男",
            "phone": "18868681819",
            "validDateStart": "2020_01_01",
            "validDateEnd": "2099_12_31",
            "priority": "0",
            "registerPhoto1": photo_b64,
            "registerPhotoID1": "1",
            "passTime1": "06_00,09_00,18_00,21_00",
            "passTime7": "00_00,23_59",
        }]
    })
}

fn wait(what: &str, daemon: &Daemon, cond: impl Fn() -> bool) {
    let end = Instant::now() + STEP_TIMEOUT;
    while !cond() {
        assert!(Instant::now() < end, "no {what} within {:?}\n{}", STEP_TIMEOUT, daemon.log_tail(30));
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Syncs `n` persons, one per command; returns persons per second and the daemon's VmHWM (MiB).
fn sync(cloud: &MockCloud, photos: &[Vec<u8>], n: usize) -> (f64, f64) {
    let b64: Vec<String> = photos.iter().map(|p| base64::engine::general_purpose::STANDARD.encode(p)).collect();
    let tally = watch(cloud);
    cloud.set_register_resp(json!({"errorCode": "100", "personService": "1", "personServiceInterval": "1"}));
    const AHEAD: usize = 300;
    let mut pushed = 0;
    while pushed < n.min(AHEAD) {
        cloud.push_command("/person/operate", person_command(pushed, &b64[pushed % b64.len()]));
        pushed += 1;
    }
    let started = Instant::now();
    let mut daemon = Daemon::start_with(&cloud.url(), |c| {
        c.set("log", "level", "info");
    });
    let mut next_report = 1_000;
    let end = Instant::now() + STEP_TIMEOUT;
    loop {
        let done = tally.results.load(Ordering::SeqCst) as usize;
        if done >= n {
            break;
        }
        assert!(daemon.is_running() && Instant::now() < end, "sync stalled at {done}\n{}", daemon.log_tail(30));
        // Keep the cloud's queue topped up without holding all the commands in memory.
        while pushed < n && cloud.pending("/person/operate") < AHEAD {
            cloud.push_command("/person/operate", person_command(pushed, &b64[pushed % b64.len()]));
            pushed += 1;
        }
        if done >= next_report {
            println!("  {done} persons synced after {:.1} s", started.elapsed().as_secs_f64());
            next_report += 1_000;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let first = tally.first_result.lock().unwrap().expect("results arrived");
    let last = tally.last_result.lock().unwrap().expect("results arrived");
    let failures = tally.failures.load(Ordering::SeqCst);
    assert_eq!(failures, 0, "rejected persons, first: {:?}", tally.first_failure.lock().unwrap());
    let hwm = vm_mib(&daemon, "VmHWM");
    let cpu = cpu_secs(&daemon);
    let count = String::from_utf8_lossy(&daemon.cli(&["persons", "count"]).stdout).trim().to_string();
    assert_eq!(count, n.to_string(), "persons stored after the sync");
    daemon.stop();
    let rate = (n - 1) as f64 / last.duration_since(first).as_secs_f64();
    println!(
        "sync: {n} persons, first to last result {:.1} s ({:.1} s from the daemon's start); \
         daemon CPU {:.0} µs per person",
        last.duration_since(first).as_secs_f64(),
        last.duration_since(started).as_secs_f64(),
        cpu * 1e6 / n as f64
    );
    (rate, hwm)
}

/// The parts of one person's sync measured one by one in this process: the two exchanges (with
/// the daemon's client settings), decoding the command, validating the person and committing
/// it, plus a commit of a few bytes (the floor of a durable write). Each is the best of three
/// rounds of `n`, which filters out most of the noise of a shared machine. Prints them next to
/// the measured time per person of the sync.
fn breakdown(cloud: &MockCloud, photos: &[Vec<u8>], n: usize, sync_rate: f64) {
    use facegate::protocol::{PersonOperateCommand, decode_message};
    let b64: Vec<String> = photos.iter().map(|p| base64::engine::general_purpose::STANDARD.encode(p)).collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .no_delay(true)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    let post = |path: &str, body: &[u8]| -> Vec<u8> {
        let mut resp = agent
            .post(format!("{}{path}", cloud.url()))
            .header("Content-Type", "application/json;charset=UTF-8")
            .send(body)
            .expect("the mock cloud answers");
        resp.body_mut().with_config().limit(4 << 20).read_to_vec().expect("the answer is read")
    };
    let poll =
        serde_json::to_vec(&json!({"msgType": "registerPersonInfoReq", "deviceNo": DEVICE_NO, "version": "V1.0"}))
            .expect("a JSON literal serialises");
    let result = serde_json::to_vec(&json!({
        "msgType": "registerPersonInfoResp", "msgID": "000001", "deviceNo": DEVICE_NO,
        "errorCode": "100", "msg": "操作成功",
    }))
    .expect("a JSON literal serialises");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut store = Store::open(dir.path()).expect("the store opens");

    // Best of three rounds, in microseconds per person.
    let mut best = [(f64::MAX, f64::MAX); 6];
    for round in 0..3 {
        let mut parts = [(0.0, 0.0); 6];
        let mut time = |slot: usize, t: Clock| parts[slot] = t.per(n);
        for i in 0..n {
            cloud.push_command("/person/operate", person_command(round * n + i, &b64[i % b64.len()]));
        }
        let t = Clock::now();
        let bodies: Vec<Vec<u8>> = (0..n).map(|_| post("/person/operate", &poll)).collect();
        time(0, t);
        let t = Clock::now();
        let commands: Vec<PersonOperateCommand> =
            bodies.iter().map(|b| decode_message(b).expect("the mock's command decodes")).collect();
        time(1, t);
        let t = Clock::now();
        let checked: Vec<_> = commands
            .iter()
            .map(|c| facegate::cloud::person_operate::validate(&c.persons[0]).expect("the person is valid"))
            .collect();
        time(2, t);
        let t = Clock::now();
        for (person, photos) in &checked {
            store.upsert_person(person, photos).expect("the person is saved");
        }
        time(3, t);
        let t = Clock::now();
        for _ in 0..n {
            post("/person/operate", &result);
        }
        time(4, t);
        let t = Clock::now();
        for i in 0..n {
            store.set_state("bench", &i.to_string()).expect("state is saved");
        }
        time(5, t);
        for (b, p) in best.iter_mut().zip(parts) {
            *b = (b.0.min(p.0), b.1.min(p.1));
        }
    }
    let [fetch, decode, validate, commit, report, floor] = best;
    let part = |(wall, cpu): (f64, f64)| format!("{wall:.0} ({cpu:.0})");
    println!(
        "one person, in µs of wall (and CPU) time, best of 3 x {n}: command exchange {} + decode {} + \
         validate {} + commit {} + result exchange {} = {:.0}; the daemon's sync: {:.0}; \
         a commit of a few bytes: {}",
        part(fetch),
        part(decode),
        part(validate),
        part(commit),
        part(report),
        fetch.0 + decode.0 + validate.0 + commit.0 + report.0,
        1e6 / sync_rate,
        part(floor)
    );
}

/// Wall time and this thread's CPU time, so CPU-bound parts can be told from waits (and from a
/// machine busy with other work).
#[derive(Clone, Copy)]
struct Clock {
    wall: Instant,
    cpu_ns: u64,
}

impl Clock {
    fn now() -> Clock {
        Clock { wall: Instant::now(), cpu_ns: thread_cpu_ns() }
    }

    /// Microseconds of wall and CPU time since `self`, divided by `n`.
    fn per(self, n: usize) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64() * 1e6 / n as f64;
        let cpu = (thread_cpu_ns() - self.cpu_ns) as f64 / 1e3 / n as f64;
        (wall, cpu)
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is available on Linux");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// User plus system CPU seconds the daemon has used, from /proc/PID/stat.
fn cpu_secs(daemon: &Daemon) -> f64 {
    let pid = daemon.pid().expect("the daemon runs");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat is readable");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').expect("stat has the command in parentheses") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

/// A field of /proc/PID/status in MiB.
fn vm_mib(daemon: &Daemon, field: &str) -> f64 {
    let pid = daemon.pid().expect("the daemon runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status is readable");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.trim_start_matches(':').trim().strip_suffix("kB")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kib / 1024.0
}

fn stored_person(i: usize) -> Person {
    let mut p = Person {
        id_number: format!("P{i:06}"),
        name: format!("人员{i}"),
        card: format!("{}", 100_000 + i),
        priority: Priority::AnyTime,
        valid_start: "2020_01_01".into(),
        valid_end: "2099_12_31".into(),
        ..Person::default()
    };
    p.pass_times[0] = "06_00,09_00,18_00,21_00".into();
    p.extra.insert("sex".into(), "女".into());
    p.extra.insert("phone".into(), "18868681819".into());
    p
}

/// Seeds `n` persons with photos, starts the daemon on them, makes it work and returns its
/// VmHWM in MiB.
fn stored(photos: &[Vec<u8>], n: usize, adds: usize) -> f64 {
    let cloud = MockCloud::start();
    cloud.keep_last(2_000);
    cloud.elide_strings_over(256);
    let tally = watch(&cloud);
    cloud.set_register_resp(json!({
        "errorCode": "100",
        "personService": "1", "personServiceInterval": "1",
        "getRegisterCountService": "1", "getRegisterCountServiceInterval": "1",
        "getRegisterInfoService": "1", "getRegisterInfoServiceInterval": "1",
    }));
    let mut daemon = Daemon::prepare(|dir| {
        let mut c = common::ConfigBuilder::new(&cloud.url(), dir);
        c.set("log", "level", "info").set("storage", "max_persons", 1_000_000).set("params", "faceRFIDCardEnable", "1");
        c.render()
    });

    let seeding = Instant::now();
    {
        let mut store = Store::open(daemon.dir()).expect("the store opens");
        let mut batch = Vec::with_capacity(1_000);
        for i in 0..n {
            let photo = PersonPhoto { slot: 1, photo_id: "1".into(), jpeg: photos[i % photos.len()].clone() };
            batch.push((stored_person(i), vec![photo]));
            if batch.len() == 1_000 || i + 1 == n {
                store.upsert_persons(&batch).expect("seeding persons");
                batch.clear();
            }
        }
    }
    let db = std::fs::metadata(Store::db_path(daemon.dir())).map(|m| m.len()).unwrap_or(0);
    println!("seeded {n} persons with photos in {:.1} s ({} MiB database)", seeding.elapsed().as_secs_f64(), db >> 20);

    daemon.spawn();
    wait("registration", &daemon, || cloud.count("/device/register") > 0);
    println!("  after start: VmRSS {:.1} MiB", vm_mib(&daemon, "VmRSS"));

    let msg = cloud.push_command("/person/count", json!({"isonlineGetRegisterCount": "1"}));
    wait("person/count result", &daemon, || !cloud.results_for(&msg).is_empty());
    let num = cloud.results_for(&msg)[0]["personNum"].as_str().unwrap_or_default().to_string();
    assert_eq!(num, n.to_string(), "person/count");
    println!("  person/count answered {num}");

    let card = format!("{}", 100_000 + n / 2);
    let out = daemon.cli(&["card", &card]);
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(said.starts_with("door opened"), "card {card}: {said} {}", String::from_utf8_lossy(&out.stderr));
    println!("  card {card}: {said}");

    let b64 = base64::engine::general_purpose::STANDARD.encode(&photos[0]);
    for i in 0..adds {
        cloud.push_command("/person/operate", person_command(i, &b64));
    }
    wait("person adds", &daemon, || tally.results.load(Ordering::SeqCst) >= adds as u64);
    assert_eq!(tally.failures.load(Ordering::SeqCst), 0, "{:?}", tally.first_failure.lock().unwrap());
    let first = tally.first_result.lock().unwrap().expect("results arrived");
    let last = tally.last_result.lock().unwrap().expect("results arrived");
    println!(
        "  {adds} adds on top of them: {:.1} persons/s",
        (adds - 1) as f64 / last.duration_since(first).as_secs_f64()
    );

    let items = 2_000.min(n as u64);
    cloud.push_command("/person/info", json!({"isonlineGetRegister": "1"}));
    wait("the first person/info item", &daemon, || tally.items.load(Ordering::SeqCst) >= 1);
    let t = Instant::now();
    wait("person/info items", &daemon, || tally.items.load(Ordering::SeqCst) >= items);
    println!(
        "  person/info: the first {items} of {} persons, {:.0} items/s",
        n + adds,
        (items - 1) as f64 / t.elapsed().as_secs_f64()
    );

    let hwm = vm_mib(&daemon, "VmHWM");
    println!("  VmRSS now {:.1} MiB", vm_mib(&daemon, "VmRSS"));
    daemon.stop();
    hwm
}
