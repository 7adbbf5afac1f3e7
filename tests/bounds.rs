//! Every input bounded, every card found: card numbers, Wiegand out, relay pulses and the
//! control socket, with the real daemon on the sim board against the mock cloud.
//!
//! Memory and thread counts are read from /proc/PID/status; run with `--nocapture` to see them.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{DEADLINE, Daemon, MockCloud};
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;

/// Cards enabled, every service polled each second.
fn daemon(cloud: &MockCloud) -> Daemon {
    cloud.set_register_resp(MockCloud::fast_services());
    let d = Daemon::start(&cloud.url(), "[params]\nfaceRFIDCardEnable = \"1\"\n");
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "no registration\n{}", cloud.dump());
    d
}

fn status_field(d: &Daemon, field: &str) -> u64 {
    let pid = d.pid().expect("the daemon runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.trim_start_matches(field).trim().trim_end_matches("kB").trim().parse().expect("a number")
}

fn rss(d: &Daemon) -> u64 {
    status_field(d, "VmRSS:") * 1024
}

fn threads(d: &Daemon) -> u64 {
    status_field(d, "Threads:")
}

/// Sends `cmd` to the cloud's command queue and waits for its one result.
fn command(cloud: &MockCloud, d: &Daemon, path: &str, cmd: Value) -> Value {
    let id = cloud.push_command(path, cmd);
    let got = cloud.wait_until(DEADLINE, |c| !c.results_for(&id).is_empty());
    assert!(got, "no result for {path}\n{}\n{}", cloud.dump(), d.log_tail(40));
    cloud.results_for(&id).remove(0)
}

/// Registers one person holding `card` (no photo: a card is enough).
fn register(cloud: &MockCloud, d: &Daemon, id: &str, card: &str) -> Value {
    let person = json!({
        "operateType": "0", "idNumber": id, "name": format!("holder of {card}"), "normalNumber": card,
        "validDateStart": "2020_01_01", "validDateEnd": "2099_12_31", "priority": "2",
    });
    command(
        cloud,
        d,
        "/person/operate",
        json!({"isRegisterPersonInfo": "1", "personInfoCount": "1", "personInfoData": [person]}),
    )
}

/// `facegate card N`: (exit success, stdout, stderr).
fn card(d: &Daemon, number: &str) -> (bool, String, String) {
    let out = d.cli(&["card", number]);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// One request line over a fresh connection, and the answer.
fn control(d: &Daemon, line: &[u8]) -> Value {
    let mut s = UnixStream::connect(d.socket_path()).expect("the control socket");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let line = line.to_vec();
        // The daemon may close before it read everything: the write then fails, harmlessly.
        std::thread::spawn(move || {
            let _ = s.write_all(&line);
            let _ = s.write_all(b"\n");
        })
    };
    let mut answer = String::new();
    BufReader::new(&mut s).read_line(&mut answer).expect("an answer");
    drop(s);
    writer.join().unwrap();
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer:?}"))
}

/// The normalNumber of every record the cloud received, in order.
fn uploaded_cards(cloud: &MockCloud) -> Vec<String> {
    cloud.records().iter().map(|r| r.get("normalNumber").and_then(Value::as_str).unwrap_or("").to_string()).collect()
}

/// Presents a known card and waits until its record reached the cloud: everything made before
/// it has been uploaded too (records go in msgID order).
fn flush_records(cloud: &MockCloud, d: &Daemon, marker: &str) {
    let (ok, out, err) = card(d, marker);
    assert!(ok, "{out}{err}");
    let got = cloud.wait_until(DEADLINE, |c| uploaded_cards(c).iter().any(|n| n == marker));
    assert!(got, "record of {marker} not uploaded\n{}\n{}", cloud.dump(), d.log_tail(40));
}

#[test]
fn leading_zeros_are_insignificant_and_other_numbers_are_other_cards() {
    let cloud = MockCloud::start();
    let mut d = daemon(&cloud);
    assert_eq!(register(&cloud, &d, "A", "0012345")["errorCode"], "100");
    assert_eq!(register(&cloud, &d, "B", "777")["errorCode"], "100");
    // Registered 0012345, read 12345 (a Wiegand reader yields a number): admitted.
    let (ok, out, err) = card(&d, "12345");
    assert!(ok && out.contains("door opened"), "{out}{err}\n{}", d.log_tail(20));
    // Registered 777, read 0000777: admitted.
    let (ok, out, err) = card(&d, "0000777");
    assert!(ok && out.contains("door opened"), "{out}{err}");
    // Registered 12345 / read 123450: another card.
    let (ok, out, err) = card(&d, "123450");
    assert!(ok && out.contains("door stays closed") && out.contains("unknown card"), "{out}{err}");
    // The card number the cloud gets is the one read.
    let got = cloud.wait_until(DEADLINE, |c| uploaded_cards(c).len() >= 3);
    assert!(got, "{}", cloud.dump());
    assert_eq!(uploaded_cards(&cloud), ["12345", "0000777", "123450"]);
    // One card, one holder: 00777 is card 777, already B's.
    let r = register(&cloud, &d, "C", "00777");
    assert_eq!(r["errorCode"], "300", "{r}");
    d.stop();
}

#[test]
fn registered_12345_is_admitted_when_read_as_0012345() {
    let cloud = MockCloud::start();
    let mut d = daemon(&cloud);
    assert_eq!(register(&cloud, &d, "A", "12345")["errorCode"], "100");
    let (ok, out, err) = card(&d, "0012345");
    assert!(ok && out.contains("door opened"), "{out}{err}");
    d.stop();
}

#[test]
fn invalid_card_numbers_are_refused_everywhere_and_reach_no_cloud() {
    let cloud = MockCloud::start();
    let mut d = daemon(&cloud);
    let too_long = "1".repeat(44);
    for bad in ["abc", "", "12 34", too_long.as_str(), "+5", "0x"] {
        let (ok, out, err) = card(&d, bad);
        assert!(!ok, "card {bad:?} exits non-zero: {out}");
        assert!(err.contains("card refused"), "card {bad:?}: {err}");
        // The daemon refuses it too, whoever asks.
        let r = control(&d, json!({"cmd": "card", "number": bad}).to_string().as_bytes());
        assert_eq!(r["ok"], false, "{bad:?}: {r}");
        assert!(r["error"].as_str().unwrap().contains("card refused"), "{r}");
    }
    // At the bound: 32 digits are a card (unknown here).
    let (ok, out, err) = card(&d, &"9".repeat(32));
    assert!(ok && out.contains("record"), "{out}{err}");
    // A hex UID says so: 0x22C3 is card 8899.
    assert_eq!(register(&cloud, &d, "H", "8899")["errorCode"], "100");
    let (ok, out, err) = card(&d, "0x22C3");
    assert!(ok && out.contains("door opened"), "{out}{err}");
    flush_records(&cloud, &d, "4242");
    assert_eq!(
        uploaded_cards(&cloud),
        ["9".repeat(32).as_str(), "0x22C3", "4242"],
        "no refused card reached the cloud"
    );
    // The cloud's person records: a bad normalNumber is the spec's 300, and nothing is stored.
    for bad in ["12ab", "12 34", too_long.as_str()] {
        let r = register(&cloud, &d, "X", bad);
        assert_eq!(r["errorCode"], "300", "{bad:?}: {r}");
    }
    let out = d.cli(&["persons", "count"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "only H is registered");
    d.stop();
}

#[test]
fn a_10_mb_card_over_the_socket_is_refused_without_growing_the_daemon() {
    let cloud = MockCloud::start();
    let mut d = daemon(&cloud);
    // Warm up the control path so its own first allocations do not count.
    assert_eq!(control(&d, br#"{"cmd":"card","number":"1"}"#)["ok"], true);
    let before = rss(&d);
    let mut line = br#"{"cmd":"card","number":""#.to_vec();
    line.extend(std::iter::repeat_n(b'7', 10 << 20));
    line.extend(br#""}"#);
    let r = control(&d, &line);
    assert_eq!(r["ok"], false, "{r}");
    assert!(r["error"].as_str().unwrap().contains("longer than"), "{r}");
    let after = rss(&d);
    println!(
        "RSS before {:.1} MiB, after the 10 MB card {:.1} MiB",
        before as f64 / MIB as f64,
        after as f64 / MIB as f64
    );
    assert!(after < before + 4 * MIB, "RSS grew from {before} to {after} bytes");
    // The number alone at the socket's size bound is refused by the card check.
    let r = control(&d, json!({"cmd": "card", "number": "7".repeat(1000)}).to_string().as_bytes());
    assert!(r["error"].as_str().unwrap().contains("too long"), "{r}");
    flush_records(&cloud, &d, "4242");
    assert_eq!(uploaded_cards(&cloud), ["1", "4242"], "the refused cards made no record");
    d.stop();
}

#[test]
fn broadcast_wg_data_40485068_goes_out_as_34_bits_and_the_result_says_so() {
    let cloud = MockCloud::start();
    let mut d = daemon(&cloud);
    let r = command(&cloud, &d, "/device/broadcast", json!({"isonlineBroadcast": "1", "wgData": "40485068"}));
    assert_eq!(r["errorCode"], "100", "{r}");
    assert!(r.to_string().contains("40485068 sent as a 34-bit Wiegand frame"), "{r}");
    let wg: Vec<Value> = d.actuator_log().into_iter().filter(|a| a["kind"] == "wiegand_out").collect();
    assert_eq!(wg.len(), 1, "{wg:?}");
    let frame: Vec<bool> = wg[0]["frame"].as_str().unwrap().bytes().map(|b| b == b'1').collect();
    assert_eq!(frame.len(), 34, "{wg:?}");
    let number = frame[1..33].iter().fold(0u64, |n, &b| (n << 1) | u64::from(b));
    assert_eq!(number, 40_485_068, "{wg:?}");
    // Past 32 bits and not a number: refused with an error code, nothing sent.
    for bad in ["4294967296", "12ab"] {
        let r = command(&cloud, &d, "/device/broadcast", json!({"isonlineBroadcast": "1", "wgData": bad}));
        assert_ne!(r["errorCode"], "100", "{r}");
        assert!(r.to_string().contains("wgData"), "{r}");
    }
    assert_eq!(d.actuator_log().iter().filter(|a| a["kind"] == "wiegand_out").count(), 1);
    d.stop();
}

#[test]
fn relay_pulses_are_bounded_and_relay_close_ends_one() {
    let cloud = MockCloud::start();
    let mut d = daemon(&cloud);
    let relay = |d: &Daemon| -> Vec<String> {
        d.actuator_log()
            .iter()
            .filter(|a| a["kind"] == "relay")
            .map(|a| a["state"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let start = relay(&d);
    for ms in ["999999999", "60001", "0"] {
        let out = d.cli(&["relay", "open", "--ms", ms]);
        assert!(!out.status.success(), "--ms {ms}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("from 1 to 60000 ms"), "{out:?}");
    }
    let r = control(&d, br#"{"cmd":"relay_open","ms":18446744073709551615}"#);
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(relay(&d), start, "no refused pulse moved the relay");
    // At the bound, then ended: the door closes long before the minute is over.
    let opened = Instant::now();
    let out = d.cli(&["relay", "open", "--ms", "60000"]);
    assert!(out.status.success(), "{out:?}");
    assert!(d.wait_until(DEADLINE, |d| relay(d).last().map(String::as_str) == Some("open")));
    let out = d.cli(&["relay", "close"]);
    assert!(out.status.success(), "{out:?}");
    assert!(d.wait_until(DEADLINE, |d| relay(d).last().map(String::as_str) == Some("closed")), "{:?}", relay(&d));
    assert!(opened.elapsed() < Duration::from_secs(50), "closed by relay close, not by the pulse's end");
    d.stop();
}

#[test]
fn held_connections_are_bounded_and_a_card_works_after_they_close() {
    let cloud = MockCloud::start();
    let mut d = daemon(&cloud);
    assert_eq!(register(&cloud, &d, "A", "8899")["errorCode"], "100");
    let base_threads = threads(&d);
    // The limit is 16; hold 16 that are served, then one more.
    let mut held = Vec::new();
    for _ in 0..16 {
        let mut s = UnixStream::connect(d.socket_path()).unwrap();
        s.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
        let mut answer = String::new();
        BufReader::new(s.try_clone().unwrap()).read_line(&mut answer).unwrap();
        assert!(answer.contains("\"ok\":true"), "{answer}");
        held.push(s);
    }
    let excess = UnixStream::connect(d.socket_path()).unwrap();
    excess.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut lines = BufReader::new(excess).lines();
    let refusal = lines.next().expect("one line").unwrap();
    assert!(refusal.contains("busy"), "{refusal}");
    assert!(lines.next().is_none(), "and closed");
    let peak_threads = threads(&d);
    println!("threads: {base_threads} before, {peak_threads} with 17 connections");
    assert!(peak_threads <= base_threads + 16, "{base_threads} -> {peak_threads}");
    // The rest of the daemon does not wait for the socket: the cloud's commands still run.
    assert_eq!(register(&cloud, &d, "B", "9900")["errorCode"], "100");
    drop(held);
    // A card over a fresh connection works once the holders are gone.
    let got = d.wait_until(DEADLINE, |d| card(d, "8899").1.contains("door opened"));
    assert!(got, "{}", d.log_tail(20));
    d.stop();
}

#[test]
fn idle_connections_are_closed_within_seconds() {
    let cloud = MockCloud::start();
    let mut d = daemon(&cloud);
    let s = UnixStream::connect(d.socket_path()).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let at = Instant::now();
    let mut lines = BufReader::new(s).lines();
    assert!(lines.next().is_none(), "closed without an answer");
    let idle = at.elapsed();
    println!("idle connection closed after {idle:?}");
    assert!(idle < Duration::from_secs(30), "{idle:?}");
    d.stop();
}

/// A configuration in `dir` with its store in `dir/store`, plus `extra`.
fn config_file(dir: &std::path::Path, url: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("facegate.toml");
    let text = format!(
        "[device]\ndevice_no = \"FGB01\"\n\n[cloud]\nurl = \"{url}\"\nconnect_timeout_ms = 500\n\n\
         [storage]\ndir = \"{}\"\n{extra}",
        dir.join("store").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn facegate(args: &[&str], config: &std::path::Path) -> std::process::Output {
    common::facegate_command().args(args).arg("--config").arg(config).output().expect("run facegate")
}

fn output(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn config_check_refuses_what_run_cannot_use_and_run_creates_nothing_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store").join("facegate.db");
    // config check and run refuse the same things, with file, line and qualified key.
    for (url, extra, key) in [
        ("http://", "", "facegate.toml:5: key `cloud.url`"),
        ("http://a host/x", "", "facegate.toml:5: key `cloud.url`"),
        ("http://127.0.0.1:9", "\n[board]\nprofile = \"no-such-board\"\n", "no-such-board"),
        ("http://127.0.0.1:9", "\n[board]\nprofile = \"boards/missing.toml\"\n", "missing.toml"),
    ] {
        let cfg = config_file(dir.path(), url, extra);
        let check = facegate(&["config", "check"], &cfg);
        assert!(!check.status.success() && output(&check).contains(key), "{url} {extra}: {}", output(&check));
        let run = facegate(&["run"], &cfg);
        assert!(!run.status.success() && output(&run).contains(key), "{url} {extra}: {}", output(&run));
        assert!(!db.exists(), "{url} {extra}: run created the database before refusing");
    }
    // A profile that parses but whose relay chip does not exist: config check cannot know (it
    // touches no hardware), run's claim fails, and it fails before the database is created.
    let profile = dir.path().join("nochip.toml");
    std::fs::write(
        &profile,
        "name = \"nochip\"\nkind = \"linux\"\n\n[relay]\nchip = \"/nonexistent/gpiochip7\"\nline = 3\n",
    )
    .unwrap();
    let cfg =
        config_file(dir.path(), "http://127.0.0.1:9", &format!("\n[board]\nprofile = \"{}\"\n", profile.display()));
    let run = facegate(&["run"], &cfg);
    assert!(!run.status.success() && output(&run).contains("gpiochip7"), "{}", output(&run));
    assert!(!db.exists(), "run created the database before the board's claim failed");
    // A line offset no chip has (a global GPIO number, a typo): config check names it.
    std::fs::write(&profile, "name = \"badline\"\nkind = \"linux\"\n\n[relay]\nchip = \"gpiochip0\"\nline = 5000\n")
        .unwrap();
    for command in [&["config", "check"][..], &["run"]] {
        let out = facegate(command, &cfg);
        assert!(
            !out.status.success()
                && output(&out).contains("nochip.toml:6:1: key `relay.line`: line 5000 is beyond 1023"),
            "{command:?}: {}",
            output(&out)
        );
    }
    assert!(!db.exists(), "run created the database before refusing the profile");
    let cfg = config_file(dir.path(), "http://127.0.0.1:9", "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("connect_timeout_ms = 500", "connect_timeout_ms = 0");
    std::fs::write(&cfg, text).unwrap();
    let check = facegate(&["config", "check"], &cfg);
    assert!(
        output(&check).contains("facegate.toml:6: key `cloud.connect_timeout_ms`: 0 is outside"),
        "{}",
        output(&check)
    );
    // doctor and status on a fresh directory look, and create no database.
    let cfg = config_file(dir.path(), "http://127.0.0.1:9", "");
    let doctor = facegate(&["doctor"], &cfg);
    assert!(output(&doctor).contains("no database yet"), "{}", output(&doctor));
    let _ = facegate(&["status"], &cfg);
    assert!(!db.exists(), "doctor or status created the database");
}
