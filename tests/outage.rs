//! Outages and long syncs over the long haul (issue 14): the real daemon against the mock cloud.
//!
//! - 20 records made during a 10-s outage all reach the cloud within 3 s of its return, with
//!   `retry_max_ms` at its default (60 s): the first success anywhere ends the outage.
//! - Two live records made while the cloud is away, visible to the uploader at once: each gets
//!   its try (as one live batch) and both arrive after the return.
//! - A person sync longer than the old burst cap (10,000 commands) with a 30-s interval never
//!   pauses for an interval.

mod common;

use std::time::{Duration, Instant};

use common::{DEADLINE, Daemon, Misbehaviour, MockCloud};
use facegate::ctl::{self, Request};
use facegate::store::Store;
use serde_json::{Value, json};

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn status(d: &Daemon) -> Option<Value> {
    ctl::request(&d.socket_path(), &Request::Status, Duration::from_secs(5)).ok().map(|r| r.data)
}

fn card(d: &Daemon, number: &str) -> String {
    let r = ctl::request(&d.socket_path(), &Request::Card { number: number.into() }, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("card {number}: {e}\n{}", d.log_tail(40)));
    assert!(r.ok && !r.msg_id.is_empty(), "{r:?}");
    r.msg_id
}

/// Starts the daemon with the cloud's defaults for back-off and waits for its first poll.
fn start_with_default_backoff(cloud: &MockCloud) -> Daemon {
    let d = Daemon::start_with(&cloud.url(), |c| {
        c.remove("cloud", "retry_initial_ms").remove("cloud", "retry_max_ms");
    });
    assert!(cloud.wait_for_requests("/device/open", 1, DEADLINE), "no poll\n{}", d.log_tail(40));
    d
}

fn go_offline(d: &Daemon, cloud: &MockCloud) {
    cloud.pause();
    let offline = d.wait_until(DEADLINE, |d| status(d).is_some_and(|s| s["cloud"] == "offline"));
    assert!(offline, "the daemon never noticed the cloud was gone\n{}", d.log_tail(40));
}

/// (a) With `retry_max_ms` at its default, 20 records made during a 10-s outage are all
/// acknowledged within 3 s of the cloud's return (before: none within 40 s in 3 runs of 4, the
/// shared back-off having doubled per record to 60 s). The bound is 3 times what the link needs
/// (a probe every retry_initial_ms = 1 s: the gap is a sixtieth of the outage, never less).
#[test]
fn records_of_a_ten_second_outage_arrive_within_three_seconds_of_the_return() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let d = start_with_default_backoff(&cloud);
    go_offline(&d, &cloud);
    let outage = Instant::now();
    let ids: Vec<String> = (0..20).map(|i| card(&d, &format!("{}", 700_000 + i))).collect();
    let rest = Duration::from_secs(10).saturating_sub(outage.elapsed());
    std::thread::sleep(rest);
    assert_eq!(status(&d).expect("status")["cloud"], "offline");
    cloud.resume();
    let back = Instant::now();
    let all = cloud.wait_until(DEADLINE, |c| {
        let seen: Vec<String> = c.records().iter().map(|r| text(r, "msgID")).collect();
        ids.iter().all(|id| seen.contains(id))
    });
    let took = back.elapsed();
    assert!(all, "not every record arrived\n{}", d.log_tail(60));
    assert!(
        took <= Duration::from_secs(3),
        "the last record arrived {took:?} after the cloud's return\n{}",
        d.log_tail(60)
    );
    let link = status(&d).expect("status")["link"].clone();
    assert!(link["up"] == true && link["backoff_ms"] == 0, "{link}");
    // No failure while the link was down escalated per record: far fewer tries than records.
    let failures = d.log_text().matches(" not delivered (").count();
    assert!(failures < 20, "{failures} failed tries for 20 records in 10 s\n{}", d.log_tail(60));
}

/// (c) Two live records made while the cloud is away and visible to the uploader at once (put
/// into the outbox while it waits): the failed try of the first counts for both, so neither is
/// left untried behind the backlog; both arrive after the return, oldest first. Before, the
/// second never had a try of its own (the flake of `week_outage`).
#[test]
fn two_live_records_visible_at_once_while_offline_both_get_their_try() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let d = start_with_default_backoff(&cloud);
    go_offline(&d, &cloud);
    // One record and its failed try: the uploader now waits for its next probe (about 1 s).
    let first = card(&d, "710000");
    let tried = |id: &str| {
        let list = Store::open_readonly(d.dir()).and_then(|s| s.records_list(true, 100, 0));
        list.is_ok_and(|l| l.iter().any(|r| r.msg_id.to_string() == id && r.attempts > 0))
    };
    assert!(d.wait_until(DEADLINE, |_| tried(&first)), "the first record was never tried\n{}", d.log_tail(40));
    // Two more, made back to back while the uploader waits for its next try (a record does not
    // cut that wait short): it sees both at once.
    let a = card(&d, "710001");
    let b = card(&d, "710002");
    let both = d.wait_until(DEADLINE, |_| tried(&a) && tried(&b));
    let list = Store::open_readonly(d.dir()).and_then(|s| s.records_list(true, 100, 0)).expect("records");
    let attempts: Vec<(u64, u32)> = list.iter().map(|r| (r.msg_id, r.attempts)).collect();
    assert!(
        both,
        "a live record made offline was left without a try: {first} {a} {b}: {attempts:?}\n{}",
        d.log_tail(400)
    );
    cloud.resume();
    let arrived = cloud.wait_until(DEADLINE, |c| {
        let seen: Vec<String> = c.records().iter().map(|r| text(r, "msgID")).collect();
        [&first, &a, &b].iter().all(|id| seen.contains(id))
    });
    assert!(arrived, "{}", d.log_tail(40));
    let order: Vec<String> = cloud.records().iter().map(|r| text(r, "msgID")).collect();
    let pos = |id: &str| order.iter().position(|x| x == id).expect("seen");
    assert!(pos(&first) < pos(&a) && pos(&a) < pos(&b), "oldest first: {order:?}");
}

/// (b) 25,000 persons, one per command, with every interval at 30 s: the sync streams from the
/// first command to the last without one interval-long pause (before: after 10,000 commands in
/// a row each further one waited the full interval). Cheap persons without photos so it runs in
/// a debug build; the largest gap between two commands is measured and bounded well below the
/// interval.
#[test]
fn a_sync_of_25000_persons_never_pauses_for_an_interval() {
    const N: usize = 25_000;
    let cloud = MockCloud::start();
    let mut services = MockCloud::fast_services();
    for (k, v) in services.as_object_mut().expect("object").iter_mut() {
        if k.ends_with("Interval") {
            *v = json!("30");
        }
    }
    cloud.set_register_resp(services);
    cloud.keep_last(64);
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        // A card-only person: no photo to decode, so the sync costs the protocol, not JPEGs.
        let person = json!({
            "operateType": "0",
            "idNumber": format!("P{i:06}"),
            "name": format!("n{i}"),
            "normalNumber": format!("{}", 3_000_000 + i),
            "validDateStart": "2020_01_01",
            "validDateEnd": "2099_12_31",
        });
        ids.push(cloud.push_command(
            "/person/operate",
            json!({"isRegisterPersonInfo": "1", "personInfoCount": "1", "personInfoData": [person]}),
        ));
    }
    let d = Daemon::start(&cloud.url(), "");
    let started = Instant::now();
    let mut largest = Duration::ZERO;
    let (mut last_left, mut last_change) = (cloud.pending("/person/operate"), Instant::now());
    while last_left > 0 {
        std::thread::sleep(Duration::from_millis(100));
        let left = cloud.pending("/person/operate");
        if left != last_left {
            largest = largest.max(last_change.elapsed());
            (last_left, last_change) = (left, Instant::now());
        }
        assert!(
            last_change.elapsed() < Duration::from_secs(25),
            "the sync stalled with {left} of {N} left after {:?}\n{}",
            started.elapsed(),
            d.log_tail(40)
        );
    }
    eprintln!("25,000-person sync: {:?}, largest gap between commands {largest:?}", started.elapsed());
    let count = d.wait_until(DEADLINE, |_| {
        Store::open_readonly(d.dir()).and_then(|s| s.person_count()).is_ok_and(|n| n == N as u64)
    });
    assert!(count, "not every person was stored\n{}", d.log_tail(40));
    assert!(largest < Duration::from_secs(25), "largest gap {largest:?}");
}

/// A cloud stuck re-sending one command (the same msgID every poll) is slowed down: after
/// `STUCK_REPEATS` (3) in a row the service is polled at its interval, and the log and
/// `facegate status` say why; once the cloud moves on, its commands stream again at once. The
/// gaps are measured at the mock: the stuck ones are bounded from below (the daemon waits at
/// least the interval, which load can only lengthen), the streaming ones from above by the same
/// interval, a bound generous enough for a loaded machine.
#[test]
fn a_cloud_repeating_one_msg_id_is_polled_at_its_interval() {
    const INTERVAL: Duration = Duration::from_secs(10);
    let cloud = MockCloud::start();
    let mut services = MockCloud::fast_services();
    services["setDevInfoServiceInterval"] = json!(INTERVAL.as_secs().to_string());
    cloud.set_register_resp(services);
    let stuck = json!({"msgID": "777777", "isOnlineSetDevInfo": "1", "voiceVolume": "5"});
    for _ in 0..4 {
        cloud.push_command("/device/setDevInfo", stuck.clone());
    }
    let moved_on: Vec<String> = (0..3)
        .map(|i| {
            cloud.push_command("/device/setDevInfo", json!({"isOnlineSetDevInfo": "1", "voiceVolume": i.to_string()}))
        })
        .collect();
    let d = Daemon::start(&cloud.url(), "");
    let done = cloud.wait_until(DEADLINE + 3 * INTERVAL, |c| c.pending("/device/setDevInfo") == 0);
    assert!(done, "the commands were never all polled\n{}\n{}", cloud.dump(), d.log_tail(40));
    // The polls that carried a command, in order (the last poll of the queue carried none).
    let polls: Vec<(Instant, String)> = cloud
        .requests_to("/device/setDevInfo")
        .into_iter()
        .filter(|r| !r.is_result())
        .map(|r| (r.at, r.answer))
        .collect();
    let carried: Vec<&(Instant, String)> = polls.iter().filter(|(_, a)| !a.contains("msgID=000000")).collect();
    assert_eq!(carried.len(), 7, "{polls:?}");
    let gap = |i: usize| carried[i].0 - carried[i - 1].0;
    // The 3rd 777777 in a row marks the cloud stuck: the 4th, and the first command after it,
    // each wait an interval.
    for i in [3, 4] {
        assert!(gap(i) >= INTERVAL - Duration::from_millis(50), "poll #{i} came {:?} after the last", gap(i));
    }
    // Once the cloud moved on, its commands stream: no interval between them.
    for i in [5, 6] {
        assert!(gap(i) < INTERVAL, "poll #{i} came {:?} after the last: the slow-down outlived the repeats", gap(i));
    }
    for id in &moved_on {
        assert!(
            cloud.wait_until(DEADLINE, |c| !c.results_for(id).is_empty()),
            "no result for {id}\n{}",
            d.log_tail(40)
        );
    }
    let log = d.log_text();
    assert_eq!(
        log.matches("re-sends command msgID \"777777\"").count(),
        1,
        "said once in the log, not per poll\n{}",
        d.log_tail(40)
    );
    let out = d.cli(&["status", "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let last_error = text(&shown, "last_error");
    assert!(last_error.contains("777777"), "status --json: {shown}");
}

/// (e) A cloud that answers HTTP 500 for 10 s (reachable, so the link stays up) and then
/// properly again: the records made meanwhile are all acknowledged within 3 s of its return,
/// with `retry_max_ms` at its default. Before, the uploader's own back-off for bad answers had
/// doubled to 8 s and more, and nothing ended it when the polls were answered properly again
/// (the soak's seed 643543733, step 149: 253 records 10.5 s after an 8-s garbage outage).
#[test]
fn records_of_a_ten_second_http_500_outage_arrive_within_three_seconds_of_its_end() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let d = start_with_default_backoff(&cloud);
    http_500_outage_ends_within_three_seconds(&cloud, &d, 10, 720_000, 2);
}

/// The field soak's seed 20261207: 312 records arrived 19 s after a 13-s HTTP 500 outage,
/// because the scheduler, whose first proper poll would have woken the uploader, was sitting
/// out a stream item's back-off, and the uploader's own back-off had doubled to 19 s. Here
/// the services are polled once an hour, so nothing but the uploader's own retries can notice
/// the end of a 20-s outage: they must come at the link's pace (a second), not doubled (the
/// try after the end would be 3 to 16 s late).
#[test]
fn records_of_an_http_500_outage_arrive_within_three_seconds_of_its_end_with_no_poll_to_wake_them() {
    let cloud = MockCloud::start();
    let mut hourly = MockCloud::fast_services();
    for (k, v) in hourly.as_object_mut().unwrap().iter_mut() {
        if k.ends_with("Interval") {
            *v = "3600".into();
        }
    }
    cloud.set_register_resp(hourly);
    let d = start_with_default_backoff(&cloud);
    http_500_outage_ends_within_three_seconds(&cloud, &d, 20, 730_000, 5);
}

/// Cards read during an HTTP 500 outage of `secs` seconds (the first numbered from `first`):
/// the uploader must have met the 500s `min_failures` times, and every record must arrive
/// within 3 s of the outage's end.
fn http_500_outage_ends_within_three_seconds(
    cloud: &MockCloud,
    d: &Daemon,
    secs: u64,
    first: u32,
    min_failures: usize,
) {
    cloud.misbehave(None, Misbehaviour::Status(500), usize::MAX / 2);
    let outage = Instant::now();
    let ids: Vec<String> = (0..20).map(|i| card(d, &format!("{}", first + i))).collect();
    std::thread::sleep(Duration::from_secs(secs).saturating_sub(outage.elapsed()));
    let failures = d.log_text().matches(" not delivered (").count();
    assert!(
        failures >= min_failures,
        "the uploader should have met the 500s {min_failures} times, not {failures}\n{}",
        d.log_tail(40)
    );
    cloud.clear_misbehaviour();
    let back = Instant::now();
    let all = cloud.wait_until(DEADLINE, |c| {
        let seen: Vec<String> = c.records().iter().map(|r| text(r, "msgID")).collect();
        ids.iter().all(|id| seen.contains(id))
    });
    let took = back.elapsed();
    assert!(all, "not every record arrived\n{}", d.log_tail(60));
    assert!(
        took <= Duration::from_secs(3),
        "the last record arrived {took:?} after the 500s ended\n{}",
        d.log_tail(60)
    );
}
