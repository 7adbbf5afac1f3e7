//! Outage recovery benchmark: the real daemon against the mock cloud on 127.0.0.1.
//!
//! 1. **Bare drain**: 2 x 1,000 undelivered records written into the store before the daemon
//!    starts, the cloud up throughout. The first 1,000 carry no photo (the figure measured
//!    before 2026-12-07); the next 1,000 are like the recovery's: a card record's fields and the
//!    sim camera's snapshot (4.4 KB of JPEG, 5.9 KB in Base64 per uploadRecord). Each drain is
//!    timed from the arrival of its first record (the one before it, for the second) to the
//!    arrival of its last.
//! 2. **Recovery**: the same daemon; the cloud refuses connections, 1,000 cards are read during
//!    a 60-s outage, the cloud comes back: time from its return to the arrival of the last of
//!    the 1,000, split into noticing (the return to the first record) and draining. Goal
//!    (issue 14): at most 1 s + 1.25 x the bare drain of the same kind of records (with their
//!    snapshots).
//!
//! Times are the mock's arrival instants of the requests (answered at once), not the bench's
//! polling; the mock's log elides the photos so that polling it costs the daemon nothing.
//!
//! The back-off is the configuration's default (`retry_initial_ms` 1 s, `retry_max_ms` 60 s).
//! Run: `cargo bench --bench outage_recovery`. FACEGATE_BENCH_OUTAGE_S shortens the outage,
//! FACEGATE_BENCH_RECORDS changes the count. Without `--bench` (`cargo test --benches`) it is a
//! smoke run of 20 records and a 2-s outage.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::{Daemon, MockCloud};
use facegate::ctl::{self, Request};
use facegate::store::{NewRecord, Store};
use serde_json::Value;

/// Bound for every wait, so a broken daemon cannot keep the benchmark running.
const STEP_TIMEOUT: Duration = Duration::from_secs(900);

const RECORD: &str = "/face/record";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// The arrival of the first uploadRecord of each msgID.
fn arrivals(cloud: &MockCloud) -> HashMap<String, Instant> {
    let mut first = HashMap::new();
    for r in cloud.requests_to(RECORD) {
        if let Some(id) = r.body.get("msgID").and_then(Value::as_str) {
            first.entry(id.to_string()).or_insert(r.at);
        }
    }
    first
}

/// Waits until every id in `ids` was uploaded; the arrival of each, in the order of `ids`.
/// `before`: how many uploadRecords came before the first of `ids` could.
fn wait_all(cloud: &MockCloud, before: usize, ids: &[String], what: &str) -> Vec<Instant> {
    // Counting is cheap; the ids are looked at only once there can be enough of them.
    let ok = cloud.wait_until(STEP_TIMEOUT, |c| {
        if c.count(RECORD) < before + ids.len() {
            return false;
        }
        let seen = arrivals(c);
        ids.iter().all(|id| seen.contains_key(id))
    });
    assert!(ok, "{what}: not every record arrived");
    let seen = arrivals(cloud);
    ids.iter().map(|id| seen[id]).collect()
}

fn span(from: Instant, times: &[Instant]) -> Duration {
    times.iter().max().expect("records").saturating_duration_since(from)
}

/// Stores `n` undelivered records: card records like the sim's, with `photo` when given.
fn store_records(store: &mut Store, n: u64, first_card: u64, photo: Option<&[u8]>) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut fields = BTreeMap::new();
            fields.insert("snapType".to_string(), if photo.is_some() { "5" } else { "0" }.to_string());
            fields.insert("compareResult".to_string(), "0".to_string());
            fields.insert("cardNumber".to_string(), format!("{}", first_card + i));
            if photo.is_some() {
                // The fields of a card read on the sim board (the recovery's records).
                for k in ["birth", "company", "data", "department", "idNumber", "name", "phone", "sex"] {
                    fields.insert(k.to_string(), String::new());
                }
                fields.insert("inOutMode".to_string(), "0".to_string());
                fields.insert("passTime".to_string(), "2026-12-08 06:59:32.208".to_string());
                fields.insert("validDateStart".to_string(), String::new());
                fields.insert("validDateEnd".to_string(), String::new());
                fields.insert("visitorVoiceText".to_string(), "无记录".to_string());
            }
            let rec = NewRecord {
                created_ms: 1_700_000_000_000 + (first_card + i) as i64,
                fields,
                recognition_photo: photo.map(<[u8]>::to_vec),
                compare_ref: None,
                held: false,
                awaiting_snapshot: false,
            };
            store.insert_record(&rec).expect("storing a record").msg_id.to_string()
        })
        .collect()
}

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "outage_recovery".contains(f.as_str())) {
        return;
    }
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n = env_u64("FACEGATE_BENCH_RECORDS", if smoke { 20 } else { 1_000 });
    let outage = Duration::from_secs(env_u64("FACEGATE_BENCH_OUTAGE_S", if smoke { 2 } else { 60 }));

    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    // The photos are not needed in the log, and copying 2,000 of them per look would slow the
    // mock (its lock) and the machine while the daemon drains.
    cloud.elide_strings_over(256);
    let d = Daemon::prepare(|dir| {
        let mut c = common::ConfigBuilder::new(&cloud.url(), dir);
        c.remove("cloud", "retry_initial_ms").remove("cloud", "retry_max_ms").set("log", "level", "info");
        c.render()
    });
    // The sim camera's snapshot, as the cards read during the outage will carry it.
    let snap_path = d.dir().join("bench-snap.jpg");
    let out = d.cli(&["snap", snap_path.to_str().expect("a UTF-8 temp dir")]);
    assert!(out.status.success(), "facegate snap: {}", String::from_utf8_lossy(&out.stderr));
    let snap = std::fs::read(&snap_path).expect("reading the snapshot");

    // 1. The bare drains: records stored before the start, all of them backlog, oldest first.
    let (plain_ids, photo_ids) = {
        let mut store = Store::open(d.dir()).expect("opening the store");
        (store_records(&mut store, n, 600_000, None), store_records(&mut store, n, 700_000, Some(&snap)))
    };
    let mut d = d;
    d.spawn();
    let plain = wait_all(&cloud, 0, &plain_ids, "bare drain");
    let photos = wait_all(&cloud, plain_ids.len(), &photo_ids, "bare drain with snapshots");
    let plain_first = *plain.iter().min().expect("records");
    let plain_last = *plain.iter().max().expect("records");
    let bare_plain = plain_last - plain_first;
    let bare = span(plain_last, &photos);

    // 2. The outage.
    cloud.pause();
    let offline = d.wait_until(STEP_TIMEOUT, |d| {
        ctl::request(&d.socket_path(), &Request::Status, Duration::from_secs(5))
            .is_ok_and(|r| r.data["cloud"] == "offline")
    });
    assert!(offline, "the daemon never noticed the outage");
    let down = Instant::now();
    let ids: Vec<String> = (0..n)
        .map(|i| {
            let r = ctl::request(
                &d.socket_path(),
                &Request::Card { number: format!("{}", 800_000 + i) },
                Duration::from_secs(30),
            )
            .expect("card");
            assert!(r.ok, "{r:?}");
            r.msg_id
        })
        .collect();
    let made = down.elapsed();
    std::thread::sleep(outage.saturating_sub(made));
    let outage_len = down.elapsed();
    let sent_before = cloud.count(RECORD);
    cloud.resume();
    let back = Instant::now();
    let recovered = wait_all(&cloud, sent_before, &ids, "recovery");
    let recovery = span(back, &recovered);
    // Noticing: the return to the first exchange of any kind, and to the first record.
    let first_any = cloud.requests().iter().map(|r| r.at).filter(|at| *at >= back).min().expect("requests");
    let first_record = *recovered.iter().min().expect("records");
    let notice = first_record.saturating_duration_since(back);
    let drain = recovery.saturating_sub(notice);
    let goal = Duration::from_secs(1) + bare.mul_f64(1.25);
    let rate = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "outage_recovery: {n} records; bare drain without photos {:.3} s ({:.0} records/s), with snapshots {:.3} s \
         ({:.0} records/s); outage {:.1} s ({n} made in {:.1} s); return to first exchange {:.3} s, to first record \
         {:.3} s, drain {:.3} s ({:.0} records/s); return to last acknowledgement {:.3} s; \
         goal <= 1 s + 1.25 x bare (with snapshots) = {:.3} s: {}",
        bare_plain.as_secs_f64(),
        rate(bare_plain),
        bare.as_secs_f64(),
        rate(bare),
        outage_len.as_secs_f64(),
        made.as_secs_f64(),
        first_any.saturating_duration_since(back).as_secs_f64(),
        notice.as_secs_f64(),
        drain.as_secs_f64(),
        rate(drain),
        recovery.as_secs_f64(),
        goal.as_secs_f64(),
        if recovery <= goal { "met" } else { "missed" }
    );
    d.stop();
}
