//! Outage recovery benchmark: the real daemon against the mock cloud on 127.0.0.1.
//!
//! 1. **Bare drain**: 1,000 undelivered records written into the store before the daemon
//!    starts; time from the first uploadRecord to the last acknowledged (the cloud up throughout).
//! 2. **Recovery**: the same daemon; the cloud refuses connections, 1,000 cards are read during
//!    a 60-s outage, the cloud comes back: time from its return to the last of the 1,000
//!    acknowledged. Goal (issue 14): at most 1 s + 1.25 x the bare drain.
//!
//! The back-off is the configuration's default (`retry_initial_ms` 1 s, `retry_max_ms` 60 s).
//! Run: `cargo bench --bench outage_recovery`. FACEGATE_BENCH_OUTAGE_S shortens the outage,
//! FACEGATE_BENCH_RECORDS changes the count. Without `--bench` (`cargo test --benches`) it is a
//! smoke run of 20 records and a 2-s outage.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Daemon, MockCloud};
use facegate::ctl::{self, Request};
use facegate::store::{NewRecord, Store};
use serde_json::Value;

/// Bound for every wait, so a broken daemon cannot keep the benchmark running.
const STEP_TIMEOUT: Duration = Duration::from_secs(900);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn msg_ids(cloud: &MockCloud) -> HashSet<String> {
    cloud.records().iter().filter_map(|r| r.get("msgID").and_then(Value::as_str).map(str::to_string)).collect()
}

/// Waits until every id in `ids` was uploaded; the instant it saw the last.
fn wait_all(cloud: &MockCloud, ids: &[String], what: &str) -> Instant {
    let ok = cloud.wait_until(STEP_TIMEOUT, |c| {
        let seen = msg_ids(c);
        ids.iter().all(|id| seen.contains(id))
    });
    assert!(ok, "{what}: not every record arrived");
    Instant::now()
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
    let d = Daemon::prepare(|dir| {
        let mut c = common::ConfigBuilder::new(&cloud.url(), dir);
        c.remove("cloud", "retry_initial_ms").remove("cloud", "retry_max_ms").set("log", "level", "info");
        c.render()
    });
    // 1. The bare drain: records stored before the start, all of them backlog.
    let mut bare_ids = Vec::new();
    {
        let mut store = Store::open(d.dir()).expect("opening the store");
        for i in 0..n {
            let mut fields = BTreeMap::new();
            fields.insert("snapType".to_string(), "0".to_string());
            fields.insert("compareResult".to_string(), "0".to_string());
            fields.insert("cardNumber".to_string(), format!("{}", 600_000 + i));
            let rec = NewRecord {
                created_ms: 1_700_000_000_000 + i as i64,
                fields,
                recognition_photo: None,
                compare_ref: None,
                held: false,
                awaiting_snapshot: false,
            };
            bare_ids.push(store.insert_record(&rec).expect("storing a record").msg_id.to_string());
        }
    }
    let mut d = d;
    d.spawn();
    assert!(cloud.wait_until(STEP_TIMEOUT, |c| !c.records().is_empty()), "no record was sent");
    let first = Instant::now();
    let last = wait_all(&cloud, &bare_ids, "bare drain");
    let bare = last - first;

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
    cloud.resume();
    let back = Instant::now();
    let last = wait_all(&cloud, &ids, "recovery");
    let recovery = last - back;
    let goal = Duration::from_secs(1) + bare.mul_f64(1.25);
    println!(
        "outage_recovery: {n} records; bare drain {:.3} s ({:.0} records/s); outage {:.1} s ({n} made in {:.1} s); \
         return to last acknowledgement {:.3} s; goal <= 1 s + 1.25 x bare = {:.3} s: {}",
        bare.as_secs_f64(),
        n as f64 / bare.as_secs_f64().max(1e-9),
        outage_len.as_secs_f64(),
        made.as_secs_f64(),
        recovery.as_secs_f64(),
        goal.as_secs_f64(),
        if recovery <= goal { "met" } else { "missed" }
    );
    d.stop();
}
