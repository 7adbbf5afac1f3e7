//! Proof under fire: the real daemon on the sim board against the mock cloud, killed with
//! SIGKILL over and over, and a week-long outage.
//!
//! `crash_torture` streams QR and card events into the control socket while the mock cloud
//! syncs persons, and SIGKILLs the daemon at random moments — during start-up, at a random
//! time, right after an event was sent (mid-commit), while a record upload is on the wire,
//! during a person sync — and restarts it, many times. At the end: every event the socket
//! acknowledged reached the cloud under its one msgID, no event has two msgIDs, the persons
//! table equals what the cloud sent, and SQLite's integrity check passes.
//! Environment: `FACEGATE_TORTURE_KILLS` (default 30), `FACEGATE_TORTURE_MAX_GAP_MS` (longest
//! random run time between kills, default 2000), `FACEGATE_TORTURE_SEED` (default: from the
//! clock; printed, so a failure can be replayed). `tools/torture.sh` runs the long version.
//!
//! `week_outage` fills the outbox with a week of records made while the cloud was away
//! (`FACEGATE_OUTAGE_RECORDS`, default 100,000) through `facegate::store::Store`, adds live
//! events through the socket while the mock is paused, then lets the cloud back: the outbox
//! stays under its caps, evictions are counted, and every kept record arrives oldest first.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{DEADLINE, Daemon, MockCloud, Req};
use facegate::ctl::{self, Request};
use facegate::store::{NewRecord, RecordFilter, RecordState, Store};
use serde_json::{Value, json};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A 16x16 grey JPEG of the given shade: a real, decodable registration photo.
fn jpeg(shade: u8) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&[shade; 16 * 16 * 3], 16, 16, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a constant image cannot fail");
    out
}

/// Only the services the torture needs, polled every second.
fn register_resp() -> Value {
    let mut resp = MockCloud::fast_services();
    let obj = resp.as_object_mut().expect("registerResp is an object");
    for (k, v) in obj.iter_mut() {
        let keep = ["personService", "recordService", "heatbeatService"].contains(&k.as_str());
        if k.ends_with("Service") && !keep {
            *v = "0".into();
        }
    }
    resp
}

/// The identity of the event an uploadRecord (or a stored record) carries: QR events by
/// their data, card events by the card number.
fn event_key(fields: impl Fn(&str) -> Option<String>) -> String {
    match fields("data").filter(|d| !d.is_empty()) {
        Some(data) => match base64::engine::general_purpose::STANDARD.decode(data.trim()) {
            Ok(bytes) => format!("qr:{}", String::from_utf8_lossy(&bytes)),
            Err(_) => format!("qr-not-base64:{data}"),
        },
        None => format!("card:{}", fields("normalNumber").unwrap_or_default()),
    }
}

// ---------------------------------------------------------------------------------------
// Crash torture

/// What the cloud saw, filled in by the mock's request hook (the mock's own log is bounded).
#[derive(Default)]
struct CloudLog {
    /// msgID -> the event key of every upload with that msgID (re-sends included).
    uploads: HashMap<u64, Vec<String>>,
    /// Uploads whose msgID is not a number.
    bad_ids: Vec<String>,
    /// person/operate msgID -> the errorCodes of its results.
    person_results: HashMap<String, Vec<String>>,
    /// person/operate msgID -> (daemon start, when) of the poll that carried it away.
    taken: HashMap<String, (u64, Instant)>,
}

/// Where the next kill comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Phase {
    /// A few ms after the process started: store open, recovery, socket bind, registration.
    Startup,
    /// At a random moment while events, uploads and syncs run.
    Timed,
    /// Just after an event was sent to the socket: during its commit.
    Commit,
    /// While an uploadRecord is on the wire (the cloud has it, the daemon has no answer).
    Upload,
    /// Shortly after a person/operate command was handed out: during the person sync.
    PersonSync,
}

const PHASES: [Phase; 5] = [Phase::Startup, Phase::Timed, Phase::Commit, Phase::Upload, Phase::PersonSync];

/// SIGKILLs the daemon from any thread, but only while the test has not reaped it, so a
/// recycled pid can never be hit.
#[derive(Default)]
struct Killer {
    pid: Mutex<Option<u32>>,
    /// A kill armed for the next matching request at the mock, with a delay.
    armed: Mutex<Option<(Phase, Duration)>>,
    fired: AtomicBool,
}

impl Killer {
    fn kill(&self) {
        let mut pid = lock(&self.pid);
        if let Some(p) = pid.take() {
            // SAFETY: kill(2) on our own child, which the test has not reaped yet (the pid is
            // taken out of the slot before any reaping), so the pid still names it.
            unsafe {
                libc::kill(p as libc::pid_t, libc::SIGKILL);
            }
            self.fired.store(true, Ordering::SeqCst);
        }
    }

    /// Fires an armed kill of `phase`, now or after its delay on another thread.
    fn trigger(self: &Arc<Killer>, phase: Phase) {
        let delay = {
            let mut armed = lock(&self.armed);
            match *armed {
                Some((p, d)) if p == phase => {
                    *armed = None;
                    d
                }
                _ => return,
            }
        };
        if delay.is_zero() {
            self.kill();
        } else {
            let k = self.clone();
            thread::spawn(move || {
                thread::sleep(delay);
                k.kill();
            });
        }
    }
}

/// The event stream's outcome.
#[derive(Default)]
struct Events {
    /// Keys of every event sent, acknowledged or not.
    attempted: HashSet<String>,
    /// (key, msgID) of every event the socket acknowledged, in order.
    acked: Vec<(String, u64)>,
    /// Events answered without a record or with an error while the daemon ran.
    anomalies: Vec<String>,
    /// Events the socket did not answer (daemon down or killed mid-request).
    unanswered: u64,
}

/// A person as the cloud last sent it.
#[derive(Clone, Debug, PartialEq)]
struct Expected {
    name: String,
    card: String,
    photo_id: String,
    photo: Vec<u8>,
}

enum PersonOp {
    Upsert(String, Expected),
    Delete(String),
}

/// The cloud operator's side of person sync: one command at a time, re-sent (same msgID)
/// when the daemon that took it died before answering, as a cloud re-sends an unanswered
/// command.
struct Operator {
    rng: fastrand::Rng,
    model: BTreeMap<String, Expected>,
    next_id: u64,
    outstanding: Option<(String, Value, Vec<PersonOp>)>,
    pushed: u64,
    resent: u64,
    failures: Vec<String>,
}

impl Operator {
    fn person_json(id: &str, p: &Expected, op: &str) -> Value {
        json!({
            "operateType": op,
            "idNumber": id,
            "name": p.name,
            "normalNumber": p.card,
            "validDateStart": "2020_01_01",
            "validDateEnd": "2099_12_31",
            "priority": "2",
            "registerPhoto1": b64(&p.photo),
            "registerPhotoID1": p.photo_id,
        })
    }

    fn new_person(&mut self, prefix: &str, card_base: u64) -> (String, Expected) {
        self.next_id += 1;
        let n = self.next_id;
        let id = format!("{prefix}{n}");
        let p = Expected {
            name: format!("P{n}"),
            card: (card_base + n).to_string(),
            photo_id: (n % 1000 + 1).to_string(),
            photo: jpeg((n % 200) as u8 + 20),
        };
        (id, p)
    }

    /// The next command: mostly new card holders, some modifies, some short-lived persons
    /// added and deleted.
    fn next_command(&mut self) -> (Value, Vec<PersonOp>) {
        let mut data = Vec::new();
        let mut ops = Vec::new();
        let r = self.rng.u8(0..100);
        let holders: Vec<String> = self.model.keys().filter(|k| k.starts_with("tp")).cloned().collect();
        let temps: Vec<String> = self.model.keys().filter(|k| k.starts_with("te")).cloned().collect();
        if r < 55 || holders.is_empty() {
            for _ in 0..self.rng.usize(2..=8) {
                let (id, p) = self.new_person("tp", 7_000_000);
                data.push(Operator::person_json(&id, &p, "0"));
                ops.push(PersonOp::Upsert(id, p));
            }
        } else if r < 75 {
            for _ in 0..self.rng.usize(1..=2) {
                let id = holders[self.rng.usize(..holders.len())].clone();
                let mut p = self.model[&id].clone();
                self.next_id += 1;
                p.name = format!("M{}", self.next_id);
                p.photo = jpeg((self.next_id % 200) as u8 + 20);
                p.photo_id = (self.next_id % 1000 + 1).to_string();
                data.push(Operator::person_json(&id, &p, "1"));
                ops.push(PersonOp::Upsert(id, p));
            }
        } else if r < 90 || temps.is_empty() {
            for _ in 0..self.rng.usize(1..=2) {
                let (id, p) = self.new_person("te", 9_000_000);
                data.push(Operator::person_json(&id, &p, "0"));
                ops.push(PersonOp::Upsert(id, p));
            }
        } else {
            let id = temps[self.rng.usize(..temps.len())].clone();
            data.push(json!({"operateType": "2", "idNumber": id}));
            ops.push(PersonOp::Delete(id));
        }
        let cmd =
            json!({"isRegisterPersonInfo": "1", "personInfoCount": data.len().to_string(), "personInfoData": data});
        (cmd, ops)
    }

    /// One step: settle the outstanding command, or send the next one. Returns false when
    /// there is nothing left to do and `stopping` is set.
    fn step(
        &mut self,
        cloud: &MockCloud,
        log: &Mutex<CloudLog>,
        generation: u64,
        cards: &Mutex<Vec<String>>,
        stopping: bool,
    ) -> bool {
        if let Some((msg_id, cmd, _)) = &self.outstanding {
            let (result, taken) = {
                let log = lock(log);
                (log.person_results.get(msg_id).and_then(|r| r.first().cloned()), log.taken.get(msg_id).copied())
            };
            match result {
                Some(code) if code == "100" => {
                    let (_, _, ops) = self.outstanding.take().expect("checked above");
                    for op in ops {
                        match op {
                            PersonOp::Upsert(id, p) => {
                                if id.starts_with("tp") && !self.model.contains_key(&id) {
                                    lock(cards).push(p.card.clone());
                                }
                                self.model.insert(id, p);
                            }
                            PersonOp::Delete(id) => {
                                self.model.remove(&id);
                            }
                        }
                    }
                }
                Some(code) => {
                    self.failures.push(format!("person/operate {msg_id} answered {code}: {cmd}"));
                    self.outstanding = None;
                }
                None => {
                    // Taken by a daemon that has since been killed (or long ago: its answer
                    // may have been lost with a process the mock was still serving). A
                    // duplicate is harmless: every operation is idempotent and the queue
                    // keeps the order.
                    let lost = taken.is_some_and(|(g, at)| g < generation || at.elapsed() > Duration::from_secs(10));
                    if lost && cloud.pending("/person/operate") == 0 {
                        cloud.push_command("/person/operate", cmd.clone());
                        lock(log).taken.remove(msg_id);
                        self.resent += 1;
                    }
                }
            }
            return true;
        }
        if stopping {
            return false;
        }
        let (mut cmd, ops) = self.next_command();
        // Our own msgIDs, kept with the command so a re-send carries the same one.
        let msg_id = format!("{:06}", 500_000 + self.pushed);
        cmd["msgID"] = msg_id.clone().into();
        cloud.push_command("/person/operate", cmd.clone());
        self.pushed += 1;
        self.outstanding = Some((msg_id, cmd, ops));
        true
    }
}

/// Parses `msgID=...` out of the mock's answer summary.
fn answered_msg_id(answer: &str) -> Option<String> {
    answer.split_whitespace().find_map(|w| w.strip_prefix("msgID=")).map(str::to_string)
}

/// Installs the hook that keeps the cloud log and fires armed kills.
fn watch(cloud: &MockCloud, log: Arc<Mutex<CloudLog>>, killer: Arc<Killer>, generation: Arc<AtomicU64>) {
    cloud.on_request(move |r: &Req| {
        if r.method != "POST" {
            return;
        }
        match r.path.as_str() {
            "/face/record" => {
                let key = event_key(|k| r.field(k));
                let id = r.field("msgID").unwrap_or_default();
                {
                    let mut log = lock(&log);
                    match id.trim().parse::<u64>() {
                        Ok(n) => log.uploads.entry(n).or_default().push(key),
                        Err(_) => log.bad_ids.push(id),
                    }
                }
                killer.trigger(Phase::Upload);
            }
            "/person/operate" if r.is_result() => {
                let id = r.field("msgID").unwrap_or_default();
                let code = r.field("errorCode").unwrap_or_default();
                lock(&log).person_results.entry(id).or_default().push(code);
            }
            "/person/operate" if r.answer.contains("isRegisterPersonInfo=1") => {
                if let Some(id) = answered_msg_id(&r.answer) {
                    lock(&log).taken.insert(id, (generation.load(Ordering::SeqCst), Instant::now()));
                }
                killer.trigger(Phase::PersonSync);
            }
            _ => {}
        }
    });
}

/// Sends events to the control socket until `stop`: QR codes with unique data, and cards
/// of confirmed persons, each card once. `started` counts requests about to be sent.
fn drive_events(
    socket: PathBuf,
    seed: u64,
    cards: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    started: Arc<AtomicU64>,
) -> Events {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut ev = Events::default();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let card = if rng.bool() { lock(&cards).pop() } else { None };
        let (key, req) = match card {
            Some(c) => (format!("card:{c}"), Request::Card { number: c }),
            None => {
                let data = format!("tq-{n}");
                (format!("qr:{data}"), Request::Qr { data })
            }
        };
        ev.attempted.insert(key.clone());
        started.fetch_add(1, Ordering::SeqCst);
        match ctl::request(&socket, &req, Duration::from_secs(30)) {
            Ok(r) if r.ok && !r.msg_id.is_empty() => match r.msg_id.parse::<u64>() {
                Ok(id) => ev.acked.push((key, id)),
                Err(_) => ev.anomalies.push(format!("{key}: msgID {:?} is not a number", r.msg_id)),
            },
            Ok(r) if r.ok => ev.anomalies.push(format!("{key}: no record ({})", r.detail)),
            Ok(r) => ev.anomalies.push(format!("{key}: error {}", r.error)),
            Err(_) => {
                ev.unanswered += 1;
                thread::sleep(Duration::from_millis(10));
            }
        }
        thread::sleep(Duration::from_millis(rng.u64(0..6)));
    }
    ev
}

/// Waits until the control socket answers; panics with the log when it never does.
fn wait_ready(daemon: &mut Daemon, killer: &Killer) {
    if socket_answers(daemon) {
        return;
    }
    lock(&killer.pid).take();
    let running = daemon.is_running();
    panic!("the daemon did not answer on its control socket (running: {running})\n{}", daemon.log_tail(60));
}

/// Whether the control socket answers a status request within [`DEADLINE`].
fn socket_answers(daemon: &Daemon) -> bool {
    daemon.wait_until(DEADLINE, |d| {
        ctl::request(&d.socket_path(), &Request::Status, Duration::from_secs(5)).is_ok_and(|r| r.ok)
    })
}

/// Kills the daemon now (unless an armed kill already did) and reaps it; panics if it had
/// exited by itself.
fn kill_and_reap(daemon: &mut Daemon, killer: &Killer) {
    let ours = lock(&killer.pid).take();
    if ours.is_some() && !daemon.is_running() {
        panic!("the daemon exited by itself\n{}", daemon.log_tail(60));
    }
    daemon.kill9();
}

/// Sets the flags on drop, so helper threads end even when an assertion panics.
struct StopOnDrop(Vec<Arc<AtomicBool>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for f in &self.0 {
            f.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn crash_torture() {
    let kills = env_u64("FACEGATE_TORTURE_KILLS", 30);
    let max_gap = env_u64("FACEGATE_TORTURE_MAX_GAP_MS", 2000).max(1);
    let seed = env_u64(
        "FACEGATE_TORTURE_SEED",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
    );
    eprintln!("crash_torture: {kills} kills, timed kills within {max_gap} ms, FACEGATE_TORTURE_SEED={seed}");
    let began = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed);

    let cloud = Arc::new(MockCloud::start());
    cloud.set_register_resp(register_resp());
    cloud.keep_last(2_000);
    cloud.elide_strings_over(200);
    let log = Arc::new(Mutex::new(CloudLog::default()));
    let killer = Arc::new(Killer::default());
    let generation = Arc::new(AtomicU64::new(0));
    watch(&cloud, log.clone(), killer.clone(), generation.clone());

    // Written now, started in the loop: the first start is the first torture cycle.
    let mut daemon = Daemon::prepare(|dir| {
        let mut c = common::ConfigBuilder::new(&cloud.url(), dir);
        c.set("log", "level", "info")
            .set("storage", "max_records", 10_000_000)
            .merge_toml("[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\n");
        c.render()
    });

    let cards = Arc::new(Mutex::new(Vec::new()));
    let stop_events = Arc::new(AtomicBool::new(false));
    let stop_sync = Arc::new(AtomicBool::new(false));
    let _stop_guard = StopOnDrop(vec![stop_events.clone(), stop_sync.clone()]);
    let started = Arc::new(AtomicU64::new(0));
    let driver = {
        let (socket, cards, stop, started) =
            (daemon.socket_path(), cards.clone(), stop_events.clone(), started.clone());
        let seed = rng.u64(..);
        thread::spawn(move || drive_events(socket, seed, cards, stop, started))
    };
    let operator = {
        let (cloud, log, generation, cards, stop) =
            (cloud.clone(), log.clone(), generation.clone(), cards.clone(), stop_sync.clone());
        let mut op = Operator {
            rng: fastrand::Rng::with_seed(rng.u64(..)),
            model: BTreeMap::new(),
            next_id: 0,
            outstanding: None,
            pushed: 0,
            resent: 0,
            failures: Vec::new(),
        };
        thread::spawn(move || {
            let end_by = || Instant::now() + DEADLINE;
            let mut deadline: Option<Instant> = None;
            loop {
                let stopping = stop.load(Ordering::SeqCst);
                if stopping && deadline.is_none() {
                    deadline = Some(end_by());
                }
                if !op.step(&cloud, &log, generation.load(Ordering::SeqCst), &cards, stopping) {
                    break;
                }
                if deadline.is_some_and(|d| Instant::now() > d) {
                    op.failures
                        .push(format!("person/operate {:?} never answered", op.outstanding.as_ref().map(|o| &o.0)));
                    break;
                }
                thread::sleep(Duration::from_millis(5));
            }
            op
        })
    };

    let mut by_phase: BTreeMap<Phase, u64> = BTreeMap::new();
    let mut fallback_kills = 0u64;
    for _ in 0..kills {
        let phase = PHASES[rng.usize(..PHASES.len())];
        *by_phase.entry(phase).or_default() += 1;
        generation.fetch_add(1, Ordering::SeqCst);
        killer.fired.store(false, Ordering::SeqCst);
        daemon.spawn();
        *lock(&killer.pid) = daemon.pid();
        if phase != Phase::Startup {
            wait_ready(&mut daemon, &killer);
            // Some work between kills: events, uploads and syncs run for a while.
            thread::sleep(Duration::from_millis(rng.u64(0..max_gap)));
        }
        match phase {
            Phase::Startup => thread::sleep(Duration::from_millis(rng.u64(0..150))),
            Phase::Timed => {}
            Phase::Commit => {
                let before = started.load(Ordering::SeqCst);
                let end = Instant::now() + Duration::from_secs(10);
                while started.load(Ordering::SeqCst) == before && Instant::now() < end {
                    thread::sleep(Duration::from_micros(200));
                }
                thread::sleep(Duration::from_micros(rng.u64(0..5_000)));
            }
            Phase::Upload | Phase::PersonSync => {
                // Mostly at once (the answer is never written), sometimes just after it.
                let delay = if rng.bool() { Duration::ZERO } else { Duration::from_micros(rng.u64(0..30_000)) };
                *lock(&killer.armed) = Some((phase, delay));
                let end = Instant::now() + Duration::from_secs(20);
                while !killer.fired.load(Ordering::SeqCst) && Instant::now() < end {
                    thread::sleep(Duration::from_millis(2));
                }
                if lock(&killer.armed).take().is_some() {
                    fallback_kills += 1;
                }
            }
        }
        kill_and_reap(&mut daemon, &killer);
    }

    // Calm: one last start, the events stop, the sync finishes, the outbox drains.
    generation.fetch_add(1, Ordering::SeqCst);
    daemon.spawn();
    *lock(&killer.pid) = daemon.pid();
    wait_ready(&mut daemon, &killer);
    stop_events.store(true, Ordering::SeqCst);
    let events = driver.join().expect("the event driver panicked");
    stop_sync.store(true, Ordering::SeqCst);
    let op = operator.join().expect("the person operator panicked");
    let storage = daemon.dir().to_path_buf();
    // A record is marked delivered only after the mock answered, and the mock logs before it
    // answers: an empty outbox means the cloud log is complete.
    let drained = daemon.wait_until(DEADLINE * 2, |_| {
        Store::open_readonly(&storage).and_then(|s| s.pending_count()).is_ok_and(|n| n == 0)
    });
    assert!(drained, "the outbox did not drain after the last start\n{}\n{}", daemon.log_tail(40), cloud.dump());
    // The last blow, after everything was delivered.
    kill_and_reap(&mut daemon, &killer);

    let log = lock(&log);
    let mut violations = Vec::new();
    violations.extend(events.anomalies.iter().map(|a| format!("event answered oddly: {a}")));
    violations.extend(op.failures.iter().cloned());
    violations.extend(log.bad_ids.iter().map(|id| format!("uploadRecord with msgID {id:?}")));
    violations.extend(check_records(&events, &log.uploads, &storage));
    violations.extend(check_persons(&op.model, &storage));
    violations.extend(check_database(&storage));

    let resent = log.uploads.values().filter(|v| v.len() > 1).count();
    let acked_keys: HashSet<&String> = events.acked.iter().map(|(k, _)| k).collect();
    let delivered_keys: HashSet<&String> = log.uploads.values().filter_map(|v| v.first()).collect();
    let unacked_delivered = delivered_keys.iter().filter(|k| !acked_keys.contains(**k)).count();
    eprintln!(
        "crash_torture: {kills} kills {by_phase:?} ({fallback_kills} armed kills fell back to a timed one), \
         {} events sent, {} acknowledged, {} unanswered ({unacked_delivered} of those committed and delivered \
         anyway), {} records at the cloud, {resent} msgIDs uploaded more than once, {} person commands \
         ({} re-sent), {} persons, {:.1} s, seed {seed}",
        events.attempted.len(),
        events.acked.len(),
        events.unanswered,
        log.uploads.len(),
        op.pushed,
        op.resent,
        op.model.len(),
        began.elapsed().as_secs_f64(),
    );
    assert!(!events.acked.is_empty(), "no event was ever acknowledged\n{}", daemon.log_tail(60));
    assert!(
        violations.is_empty(),
        "{} violations (seed {seed}):\n{}",
        violations.len(),
        violations.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Every acknowledged event reached the cloud under its msgID, no event has two msgIDs, a
/// msgID always carries the same event, msgIDs only grow, and the outbox agrees.
fn check_records(events: &Events, uploads: &HashMap<u64, Vec<String>>, storage: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut ids_of: HashMap<&String, HashSet<u64>> = HashMap::new();
    for (id, keys) in uploads {
        let first = &keys[0];
        if keys.iter().any(|k| k != first) {
            v.push(format!("msgID {id} was uploaded carrying different events: {keys:?}"));
        }
        if !events.attempted.contains(first) {
            v.push(format!("msgID {id} carries {first}, an event never sent"));
        }
        ids_of.entry(first).or_default().insert(*id);
    }
    for (key, ids) in &ids_of {
        if ids.len() > 1 {
            v.push(format!("event {key} reached the cloud under several msgIDs: {ids:?}"));
        }
    }
    let mut last = 0u64;
    for (key, id) in &events.acked {
        match ids_of.get(key) {
            None => v.push(format!("event {key}, acknowledged as record {id}, never reached the cloud")),
            Some(ids) if !ids.contains(id) => {
                v.push(format!("event {key}, acknowledged as record {id}, reached the cloud as {ids:?}"))
            }
            Some(_) => {}
        }
        if *id <= last {
            v.push(format!("msgID {id} acknowledged after {last}: msgIDs must only grow"));
        }
        last = last.max(*id);
    }
    let store = match Store::open(storage) {
        Ok(s) => s,
        Err(e) => return vec![format!("the store does not open after the last kill: {e}")],
    };
    let mut after = 0;
    let mut stored = 0usize;
    loop {
        let page = match store.records_page(&RecordFilter::All, after, 500) {
            Ok(p) => p,
            Err(e) => {
                v.push(format!("reading the outbox: {e}"));
                break;
            }
        };
        let Some(last) = page.last() else { break };
        after = last.msg_id;
        for r in &page {
            stored += 1;
            if r.state != RecordState::Delivered {
                v.push(format!("record {} is still {} at the end", r.msg_id, r.state.name()));
            }
            let key = event_key(|k| r.fields.get(k).cloned());
            match uploads.get(&r.msg_id) {
                None => v.push(format!("record {} ({key}) is in the outbox but never reached the cloud", r.msg_id)),
                Some(keys) if keys[0] != key => {
                    v.push(format!("record {} is {key} in the outbox but {} at the cloud", r.msg_id, keys[0]))
                }
                Some(_) => {}
            }
        }
    }
    if stored != uploads.len() {
        v.push(format!("{stored} records in the outbox, {} msgIDs at the cloud", uploads.len()));
    }
    v
}

/// The persons table equals what the cloud sent: same persons, names, cards and photos.
fn check_persons(model: &BTreeMap<String, Expected>, storage: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let store = match Store::open(storage) {
        Ok(s) => s,
        Err(e) => return vec![format!("the store does not open: {e}")],
    };
    let mut seen = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = store.persons_page(after, 500).expect("listing persons");
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (_, p) in page {
            let photos = store.photos(&p.id_number).expect("reading photos");
            let (photo_id, photo) = match photos.as_slice() {
                [one] if one.slot == 1 => (one.photo_id.clone(), one.jpeg.clone()),
                other => {
                    v.push(format!(
                        "person {} has photos in slots {:?}",
                        p.id_number,
                        other.iter().map(|p| p.slot).collect::<Vec<_>>()
                    ));
                    (String::new(), Vec::new())
                }
            };
            seen.insert(p.id_number.clone(), Expected { name: p.name, card: p.card, photo_id, photo });
        }
    }
    for (id, want) in model {
        match seen.get(id) {
            None => v.push(format!("person {id} ({}) was sent by the cloud but is not stored", want.name)),
            Some(got) if got != want => v.push(format!(
                "person {id} stored as {} / card {} / photo {} ({} bytes), the cloud sent {} / {} / {} ({} bytes)",
                got.name,
                got.card,
                got.photo_id,
                got.photo.len(),
                want.name,
                want.card,
                want.photo_id,
                want.photo.len()
            )),
            Some(_) => {}
        }
    }
    for id in seen.keys().filter(|id| !model.contains_key(*id)) {
        v.push(format!("person {id} is stored but the cloud deleted it or never sent it"));
    }
    v
}

/// SQLite's own checks, and the outbox counters against the rows.
fn check_database(storage: &Path) -> Vec<String> {
    let mut v = Vec::new();
    match Store::open(storage).and_then(|s| s.integrity_check()) {
        Ok(r) if r == "ok" => {}
        Ok(r) => v.push(format!("integrity_check: {r}")),
        Err(e) => v.push(format!("integrity_check failed to run: {e}")),
    }
    let conn = rusqlite::Connection::open(Store::db_path(storage)).expect("opening the database");
    let fk: i64 = conn.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).expect("fk check");
    if fk != 0 {
        v.push(format!("foreign_key_check: {fk} rows"));
    }
    let (total, pending, held): (i64, i64, i64) = conn
        .query_row("SELECT total, pending, held FROM outbox_stats", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("outbox_stats");
    let (rows, rows_pending, rows_held): (i64, i64, i64) = conn
        .query_row("SELECT COUNT(*), COALESCE(SUM(state = 0), 0), COALESCE(SUM(state = 2), 0) FROM records", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("counting records");
    if (total, pending, held) != (rows, rows_pending, rows_held) {
        v.push(format!(
            "outbox counters say {total} records, {pending} pending, {held} held; the table has {rows}, \
             {rows_pending}, {rows_held}"
        ));
    }
    v
}

// ---------------------------------------------------------------------------------------
// A week-long outage

/// Bytes of the files directly in `dir` (the database and its WAL and shared-memory files).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[test]
fn week_outage() {
    const MAX_RECORDS: u64 = 2_000;
    const MAX_PHOTO_BYTES: u64 = 1 << 20;
    const PHOTO_BYTES: usize = 4_096;
    const LIVE: usize = 30;
    let total = env_u64("FACEGATE_OUTAGE_RECORDS", 100_000);
    let began = Instant::now();
    // tmpfs when there is one: 100,000 fsynced commits on a disk take minutes, and this test
    // is about caps and order, not the medium (crash_torture runs on the disk).
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.expect("temp dir");
    let storage = tmp.path().join("storage");

    // A week of passes made while the cloud was away: one every ~6 s, a face photo on every
    // tenth.
    let week_ms: i64 = 7 * 24 * 3600 * 1000;
    let start_ms = now_ms() - week_ms - 60_000;
    let mut store = Store::open(&storage).expect("opening the store");
    store.set_caps(MAX_RECORDS, MAX_PHOTO_BYTES);
    let mut evicted = 0u64;
    let mut peak_bytes = 0u64;
    for i in 0..total {
        let mut fields = BTreeMap::new();
        fields.insert("snapType".to_string(), "0".to_string());
        fields.insert("compareResult".to_string(), "0".to_string());
        fields.insert("data".to_string(), b64(format!("wk-{i}").as_bytes()));
        let photo = (i % 10 == 0).then(|| vec![0xD8; PHOTO_BYTES]);
        let record = NewRecord {
            created_ms: start_ms + (i as i64) * (week_ms / total.max(1) as i64),
            fields,
            recognition_photo: photo,
            compare_ref: None,
            held: false,
            awaiting_snapshot: false,
        };
        evicted += store.insert_record(&record).expect("storing a record").evicted;
        if i % 1_000 == 999 {
            peak_bytes = peak_bytes.max(dir_bytes(&storage));
        }
    }
    let prefill_s = began.elapsed().as_secs_f64();
    assert_eq!(store.record_count().unwrap(), MAX_RECORDS.min(total));
    assert!(common::record_photo_bytes(&storage) <= MAX_PHOTO_BYTES);
    assert_eq!(store.evicted_count().unwrap(), evicted);
    assert_eq!(evicted, total - store.record_count().unwrap(), "every record not kept was counted as evicted");
    drop(store);

    // The daemon starts while the cloud is still away; live passes through the socket.
    let cloud = MockCloud::start();
    cloud.set_register_resp(register_resp());
    cloud.elide_strings_over(200);
    cloud.pause();
    let mut daemon = Daemon::start_with(&cloud.url(), |c| {
        c.set("storage", "dir", storage.display().to_string())
            .set("storage", "max_records", MAX_RECORDS as i64)
            .set("storage", "max_record_photo_bytes", MAX_PHOTO_BYTES as i64)
            .set("log", "level", "info");
    });
    assert!(socket_answers(&daemon), "the daemon did not start\n{}", daemon.log_tail(30));
    let mut live_ids = Vec::new();
    for i in 0..LIVE {
        let out = daemon.cli(&["qr", &format!("live-{i}")]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "facegate qr failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        let id = text
            .split(';')
            .find_map(|p| p.trim().strip_prefix("record "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no record number in {text:?}"));
        live_ids.push(id);
    }
    // Each live pass gets one try while the cloud is away, then joins the backlog.
    let tried = daemon.wait_until(DEADLINE, |_| {
        let Ok(s) = Store::open_readonly(&storage) else { return false };
        s.records_list(true, LIVE, 0).is_ok_and(|l| l.iter().all(|r| r.attempts > 0))
    });
    assert!(tried, "live records were not tried while the cloud was away\n{}", daemon.log_tail(30));
    assert!(daemon.log_text().contains("storage cap reached"), "evictions of live passes are logged");
    let count = daemon.cli(&["records", "count"]);
    let count = String::from_utf8_lossy(&count.stdout).trim().to_string();
    let kept: Vec<u64> = {
        let s = Store::open_readonly(&storage).unwrap();
        assert_eq!(s.record_count().unwrap(), MAX_RECORDS.min(total + LIVE as u64));
        assert_eq!(s.evicted_count().unwrap(), total + LIVE as u64 - s.record_count().unwrap());
        assert_eq!(
            count,
            format!("{} kept, {} pending, {} evicted", MAX_RECORDS, MAX_RECORDS, s.evicted_count().unwrap())
        );
        let mut ids: Vec<u64> = s.records_list(true, usize::MAX, 0).unwrap().iter().map(|r| r.msg_id).collect();
        ids.sort_unstable();
        ids
    };
    assert!(live_ids.iter().all(|id| kept.contains(id)), "a live pass was evicted instead of the oldest backlog");
    peak_bytes = peak_bytes.max(dir_bytes(&storage));

    // The cloud is back: everything kept arrives, oldest first, nothing evicted shows up.
    cloud.resume();
    let delivered = daemon.wait_until(DEADLINE * 2, |_| {
        Store::open_readonly(&storage).and_then(|s| s.pending_count()).is_ok_and(|n| n == 0)
    });
    assert!(delivered, "the backlog did not drain\n{}", daemon.log_tail(30));
    let mut first_seen = Vec::new();
    let mut seen = HashSet::new();
    for r in cloud.records() {
        let id: u64 = r["msgID"].as_str().and_then(|s| s.parse().ok()).expect("numeric msgID");
        if seen.insert(id) {
            first_seen.push(id);
        }
    }
    let out_of_order = first_seen.windows(2).filter(|w| w[0] > w[1]).count();
    assert_eq!(first_seen.len(), kept.len(), "every kept record arrives, and only those");
    assert_eq!(seen, kept.iter().copied().collect::<HashSet<u64>>(), "the records that arrive are the kept ones");
    assert_eq!(out_of_order, 0, "records arrived out of order: {:?}", &first_seen[..first_seen.len().min(20)]);
    peak_bytes = peak_bytes.max(dir_bytes(&storage));
    // Disk bound: the photo cap, a generous 1 KiB per kept record, and the WAL between
    // checkpoints (1000 pages of 4 KiB).
    let bound = MAX_PHOTO_BYTES + MAX_RECORDS * 1_024 + 1_000 * 4_096;
    eprintln!(
        "week_outage: {total} records over a week + {LIVE} live, {} kept, {} evicted, storage peak {} KiB \
         (bound {} KiB), {} delivered in order; prefill {prefill_s:.1} s, total {:.1} s",
        kept.len(),
        total + LIVE as u64 - kept.len() as u64,
        peak_bytes / 1024,
        bound / 1024,
        first_seen.len(),
        began.elapsed().as_secs_f64()
    );
    assert!(peak_bytes <= bound, "storage grew to {peak_bytes} bytes, over {bound}");
    daemon.stop();
}
