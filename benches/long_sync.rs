//! Long person sync benchmark: the real daemon against the mock cloud on 127.0.0.1.
//!
//! 100,000 persons, one per person/operate command, every service interval at 30 s (so a stall
//! of the old kind, one command per interval after 10,000 in a row, would show at once): the
//! rate in each window of 10,000 persons, min/max of those rates (no stall: >= 0.5) and the
//! whole time. Card-only persons (no photo): the figure is the scheduler and the protocol, not
//! JPEG checks (the persons bench measures those).
//!
//! Run: `cargo bench --bench long_sync`; FACEGATE_BENCH_SYNC changes the count. Without
//! `--bench` (`cargo test --benches`) it is a smoke run of 300 persons in windows of 100.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Daemon, MockCloud};
use serde_json::json;

/// No progress for this long ends the run as a failure.
const STALL: Duration = Duration::from_secs(120);

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "long_sync".contains(f.as_str())) {
        return;
    }
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("FACEGATE_BENCH_SYNC").ok().and_then(|v| v.parse().ok()).unwrap_or(if smoke {
        300
    } else {
        100_000
    });
    let window = if smoke { 100 } else { 10_000 };

    let cloud = MockCloud::start();
    let mut services = MockCloud::fast_services();
    for (k, v) in services.as_object_mut().expect("object").iter_mut() {
        if k.ends_with("Interval") {
            *v = json!("30");
        }
    }
    cloud.set_register_resp(services);
    cloud.keep_last(64);
    for i in 0..n {
        let person = json!({
            "operateType": "0",
            "idNumber": format!("P{i:07}"),
            "name": format!("n{i}"),
            "normalNumber": format!("{}", 10_000_000 + i),
            "validDateStart": "2020_01_01",
            "validDateEnd": "2099_12_31",
        });
        cloud.push_command(
            "/person/operate",
            json!({"isRegisterPersonInfo": "1", "personInfoCount": "1", "personInfoData": [person]}),
        );
    }
    let mut d = Daemon::start_with(&cloud.url(), |c| {
        c.set("log", "level", "info");
    });
    // Windows are timed from the first command taken.
    let started = loop {
        if cloud.pending("/person/operate") < n {
            break Instant::now();
        }
        assert!(d.is_running(), "the daemon exited");
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut marks = vec![started];
    let mut last_progress = (n, Instant::now());
    loop {
        let left = cloud.pending("/person/operate");
        let done = n - left;
        while done >= marks.len() * window {
            marks.push(Instant::now());
        }
        if left == 0 {
            break;
        }
        if left != last_progress.0 {
            last_progress = (left, Instant::now());
        }
        assert!(last_progress.1.elapsed() < STALL, "no progress for {STALL:?} with {left} of {n} left");
        std::thread::sleep(Duration::from_millis(20));
    }
    let whole = marks.last().expect("one mark at least").duration_since(started);
    let rates: Vec<f64> =
        marks.windows(2).map(|w| window as f64 / w[1].duration_since(w[0]).as_secs_f64().max(1e-9)).collect();
    let (min, max) = rates.iter().fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "long_sync: {n} persons in {:.1} s ({:.0}/s); per {window}: [{}] persons/s; min/max {:.2}",
        whole.as_secs_f64(),
        n as f64 / whole.as_secs_f64().max(1e-9),
        shown.join(", "),
        if max > 0.0 { min / max } else { 0.0 }
    );
    d.stop();
}
