//! The rest of the door on the sim board, through the CLI and the real daemon: exit button,
//! door contact (relock on close, held open, forced open), fire release, tamper, the alarm
//! output and the `[alarm] command`.

mod common;

use std::path::Path;
use std::process::Output;

use common::{DEADLINE, Daemon, MockCloud};
use serde_json::{Value, json};

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Starts a daemon with `extra` config and waits until its control socket answers.
fn daemon(cloud: &MockCloud, extra: &str) -> Daemon {
    let d = Daemon::start(&cloud.url(), extra);
    assert!(d.wait_until(DEADLINE, |d| live(d).is_object()), "the daemon never answered\n{}", d.log_tail(40));
    d
}

/// The running daemon's live status (`null` when it does not answer).
fn live(d: &Daemon) -> Value {
    let out = d.cli(&["status", "--json"]);
    serde_json::from_slice::<Value>(&out.stdout).map(|v| v["live"].clone()).unwrap_or(Value::Null)
}

/// `facegate input LINE STATE`, which must succeed.
fn input(d: &Daemon, line: &str, state: &str) {
    let out = d.cli(&["input", line, state]);
    assert!(out.status.success(), "input {line} {state}: {}", text(&out));
}

/// The states of the actuator log's entries of `kind` (relay: open/closed; alarm_output: on/off).
fn states(d: &Daemon, kind: &str) -> Vec<String> {
    d.actuator_log()
        .iter()
        .filter(|v| v["kind"] == kind)
        .map(|v| v["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn displays(d: &Daemon) -> Vec<String> {
    d.actuator_log()
        .iter()
        .filter(|v| v["kind"] == "announce")
        .map(|v| v["display"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Waits until `what` of the live status is `want`.
fn live_is(d: &Daemon, what: &str, want: &str) {
    assert!(
        d.wait_until(DEADLINE, |d| live(d)[what] == want),
        "status {what} never became {want:?}: {}\n{}",
        live(d),
        d.log_tail(30)
    );
}

/// Waits until the log of `kind` has exactly `want` (in order).
fn log_is(d: &Daemon, kind: &str, want: &[&str]) {
    assert!(
        d.wait_until(DEADLINE, |d| states(d, kind) == want),
        "{kind}: {:?}, expected {want:?}\n{}",
        states(d, kind),
        d.log_tail(30)
    );
}

/// An alarm command that appends its two arguments to `<dir>/alarms`.
fn alarm_script(dir: &Path) -> String {
    let script = dir.join("alarm.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$1 $2\" >> {}\n", dir.join("alarms").display())).unwrap();
    format!("[alarm]\ncommand = \"sh {}\"\n", script.display())
}

/// The harness's temp dir is only known once the daemon is made: a second dir holds the
/// alarm script for the daemon's config.
fn script_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn exit_button_pulses_and_the_door_relocks_as_soon_as_it_closes() {
    let cloud = MockCloud::start();
    // A minute-long pulse: only relock-on-close can end it within the test.
    let d = daemon(&cloud, "[params]\nopenDoorTimeDelayMs = \"60000\"\n");
    log_is(&d, "relay", &["closed"]);
    live_is(&d, "door", "unknown");
    input(&d, "door_contact", "closed");
    live_is(&d, "door", "closed");
    input(&d, "exit_button", "press");
    log_is(&d, "relay", &["closed", "open"]);
    assert!(d.log_text().contains("exit button: local open for 60000 ms"), "{}", d.log_tail(20));
    input(&d, "door_contact", "open");
    live_is(&d, "door", "open");
    input(&d, "door_contact", "closed");
    log_is(&d, "relay", &["closed", "open", "closed"]);
    assert!(d.log_text().contains("relock on close"), "{}", d.log_tail(20));
    live_is(&d, "relay", "closed");
    // A granted pass through the door, no alarm at any point.
    assert_eq!(live(&d)["alarms"], "none");
    assert!(states(&d, "alarm_output").is_empty());
    // The press was used by that pass: opening again is forced.
    input(&d, "door_contact", "open");
    live_is(&d, "alarms", "forced_open");
    log_is(&d, "relay", &["closed", "open", "closed"]);
}

#[test]
fn a_held_exit_button_does_not_hold_the_door_unless_configured() {
    let cloud = MockCloud::start();
    let d = daemon(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    input(&d, "exit_button", "hold");
    // The pulse ends while the button is still held.
    log_is(&d, "relay", &["closed", "open", "closed"]);
    input(&d, "exit_button", "release");

    let held = daemon(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n[door]\nexit_hold = true\n");
    input(&held, "exit_button", "hold");
    log_is(&held, "relay", &["closed", "open"]);
    live_is(&held, "relay", "open");
    // Still open well after the 200 ms pulse: the button holds it. (A slow machine can only
    // hide a failure here, never make one.) Then a last pulse after release.
    assert!(held.log_text().contains("held open by its own inputs"), "{}", held.log_tail(20));
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(states(&held, "relay"), ["closed", "open"], "{}", held.log_tail(20));
    input(&held, "exit_button", "release");
    log_is(&held, "relay", &["closed", "open", "closed"]);
}

#[test]
fn held_open_alarm_drives_the_alarm_output_and_command_until_the_door_closes() {
    let cloud = MockCloud::start();
    let scripts = script_dir();
    let extra = format!("[door]\nheld_open_secs = 1\n{}", alarm_script(scripts.path()));
    let d = daemon(&cloud, &extra);
    input(&d, "door_contact", "closed");
    live_is(&d, "door", "closed");
    input(&d, "exit_button", "press");
    input(&d, "door_contact", "open");
    log_is(&d, "alarm_output", &["on"]);
    live_is(&d, "alarms", "held_open");
    assert!(displays(&d).contains(&"Door held open".to_string()), "{:?}", displays(&d));
    input(&d, "door_contact", "closed");
    log_is(&d, "alarm_output", &["on", "off"]);
    live_is(&d, "alarms", "none");
    assert!(
        d.wait_until(DEADLINE, |_| std::fs::read_to_string(scripts.path().join("alarms")).unwrap_or_default()
            == "held_open start\nheld_open end\n"),
        "{:?}\n{}",
        std::fs::read_to_string(scripts.path().join("alarms")),
        d.log_tail(30)
    );
}

#[test]
fn forced_open_without_a_grant_and_not_after_one() {
    let cloud = MockCloud::start();
    let d = daemon(&cloud, "[door]\nforced_window_secs = 300\n");
    input(&d, "door_contact", "closed");
    live_is(&d, "door", "closed");
    // A technician's pulse is a grant: opening after it is a pass.
    let out = d.cli(&["relay", "open", "--ms", "50"]);
    assert!(out.status.success(), "{}", text(&out));
    input(&d, "door_contact", "open");
    live_is(&d, "door", "open");
    input(&d, "door_contact", "closed");
    live_is(&d, "door", "closed");
    assert_eq!(live(&d)["alarms"], "none", "{}", d.log_tail(20));
    // The grant was used by that pass: the next opening is forced.
    input(&d, "door_contact", "open");
    live_is(&d, "alarms", "forced_open");
    log_is(&d, "alarm_output", &["on"]);
    assert!(displays(&d).contains(&"Door forced open".to_string()), "{:?}", displays(&d));
    input(&d, "door_contact", "closed");
    live_is(&d, "alarms", "none");
    log_is(&d, "alarm_output", &["on", "off"]);
}

#[test]
fn fire_holds_the_door_over_relay_close_and_restores_always_open() {
    let cloud = MockCloud::start();
    let d = daemon(&cloud, "");
    log_is(&d, "relay", &["closed"]);
    input(&d, "fire_input", "active");
    log_is(&d, "relay", &["closed", "open"]);
    live_is(&d, "fire_mode", "on: door held open");
    live_is(&d, "alarms", "fire");
    // A technician ending a pulse does not lock a door held for fire.
    let out = d.cli(&["relay", "close"]);
    assert!(out.status.success(), "{}", text(&out));
    input(&d, "fire_input", "clear");
    log_is(&d, "relay", &["closed", "open", "closed"]);
    live_is(&d, "fire_mode", "off");
    log_is(&d, "alarm_output", &["on", "off"]);

    // With alwaysOpenDoor set, the fire changes nothing on the relay and leaves it open after.
    let held = daemon(&cloud, "[params]\nalwaysOpenDoor = \"1\"\n");
    log_is(&held, "relay", &["closed", "open"]);
    input(&held, "fire_input", "active");
    live_is(&held, "fire_mode", "on: door held open");
    input(&held, "fire_input", "clear");
    live_is(&held, "fire_mode", "off");
    log_is(&held, "alarm_output", &["on", "off"]);
    assert_eq!(states(&held, "relay"), ["closed", "open"], "the relay stayed open: alwaysOpenDoor is restored");
    live_is(&held, "relay", "open");
}

#[test]
fn tamper_alarms_until_it_clears() {
    let cloud = MockCloud::start();
    let scripts = script_dir();
    let d = daemon(&cloud, &alarm_script(scripts.path()));
    input(&d, "tamper", "active");
    live_is(&d, "alarms", "tamper");
    log_is(&d, "alarm_output", &["on"]);
    input(&d, "tamper", "clear");
    live_is(&d, "alarms", "none");
    log_is(&d, "alarm_output", &["on", "off"]);
    assert!(
        d.wait_until(DEADLINE, |_| std::fs::read_to_string(scripts.path().join("alarms")).unwrap_or_default()
            == "tamper start\ntamper end\n"),
        "{:?}",
        std::fs::read_to_string(scripts.path().join("alarms"))
    );
    // Status as text names them too, within 80 columns.
    let shown = text(&d.cli(&["status"]));
    assert!(shown.lines().any(|l| l.starts_with("fire mode") && l.ends_with("off")), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("alarms") && l.ends_with("none")), "{shown}");
}

#[test]
fn bad_inputs_are_refused_and_drive_nothing() {
    let cloud = MockCloud::start();
    let d = daemon(&cloud, "");
    log_is(&d, "relay", &["closed"]);
    for (line, state, says) in [
        ("doorbell", "press", "no door input `doorbell`"),
        ("door_contact", "ajar", "use open, closed"),
        ("exit_button", "open", "use press, hold, release"),
        ("fire_input", "press", "use active, clear"),
    ] {
        let out = d.cli(&["input", line, state]);
        assert!(!out.status.success(), "{line} {state}: {}", text(&out));
        assert!(text(&out).contains(says), "{line} {state}: {}", text(&out));
    }
    // A good one after them goes through: they did not break the watch.
    input(&d, "tamper", "active");
    live_is(&d, "alarms", "tamper");
    assert_eq!(states(&d, "relay"), ["closed"], "no bad input moved the relay");
}

#[test]
fn door_and_alarm_settings_are_bounded_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "[device]\ndevice_no = \"FGDOOR1\"\n[cloud]\nurl = \"http://127.0.0.1:9\"\n[storage]\ndir = \"{}\"\n",
        dir.path().join("store").display()
    );
    let check = |extra: &str| {
        let path = dir.path().join("facegate.toml");
        std::fs::write(&path, format!("{base}{extra}")).unwrap();
        let out = common::facegate_command().args(["config", "check", "--config"]).arg(&path).output().unwrap();
        (out.status.success(), text(&out))
    };
    for ok in [
        "[door]\nheld_open_secs = 3600\nforced_window_secs = 300\nexit_hold = true\n",
        "[door]\nheld_open_secs = 0\nforced_window_secs = 1\n",
        "[alarm]\ncommand = \"logger -t door\"\ntimeout_ms = 300000\n",
    ] {
        let (passed, out) = check(ok);
        assert!(passed, "{ok}: {out}");
    }
    for (bad, says) in [
        ("[door]\nheld_open_secs = 3601\n", ":8: key `door.held_open_secs`: 3601 is outside 0..=3600 s"),
        ("[door]\nforced_window_secs = 0\n", ":8: key `door.forced_window_secs`: 0 is outside 1..=300 s"),
        ("[door]\nforced_window_secs = 301\n", ":8: key `door.forced_window_secs`: 301 is outside"),
        ("[alarm]\ntimeout_ms = 0\n", ":8: key `alarm.timeout_ms`: 0 is outside 1..=300000 ms"),
        ("[door]\nheld_open = 5\n", "unknown field `held_open`"),
    ] {
        let (passed, out) = check(bad);
        assert!(!passed && out.contains("facegate.toml") && out.contains(says), "{bad}: {out}");
    }
}

#[test]
fn two_cards_shown_while_the_door_is_unlocked_cover_two_passes() {
    let cloud = MockCloud::start();
    // A minute-long pulse: only relock-on-close can end it within the test.
    let d = daemon_with_cards(&cloud, "");
    input(&d, "door_contact", "closed");
    live_is(&d, "door", "closed");
    for card in ["4242", "4343"] {
        let out = d.cli(&["card", card]);
        assert!(text(&out).starts_with("door opened; record "), "card {card}: {}", text(&out));
    }
    // A passes: the door closes behind A, and B's grant keeps the relay released.
    input(&d, "door_contact", "open");
    live_is(&d, "door", "open");
    input(&d, "door_contact", "closed");
    live_is(&d, "door", "closed");
    // B passes: not forced, and B's close relocks.
    input(&d, "door_contact", "open");
    live_is(&d, "door", "open");
    assert_eq!(live(&d)["alarms"], "none", "{}", d.log_tail(20));
    assert_eq!(states(&d, "relay"), ["closed", "open"], "relocked before B passed\n{}", d.log_tail(20));
    input(&d, "door_contact", "closed");
    log_is(&d, "relay", &["closed", "open", "closed"]);
    assert!(states(&d, "alarm_output").is_empty(), "{}", d.log_tail(20));
    // Both grants used: a third opening is forced.
    input(&d, "door_contact", "open");
    live_is(&d, "alarms", "forced_open");
}

#[test]
fn a_flicked_tamper_switch_leaves_a_busy_alarm_command_told_its_current_state() {
    let cloud = MockCloud::start();
    let scripts = script_dir();
    let (out, block) = (scripts.path().join("alarms"), scripts.path().join("block"));
    let script = scripts.path().join("alarm.sh");
    // Each run records its arguments, then stays busy while the block file exists.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $2\" >> {}\nwhile [ -e {} ]; do sleep 0.05; done\n",
            out.display(),
            block.display()
        ),
    )
    .unwrap();
    std::fs::write(&block, "").unwrap();
    let d = daemon(&cloud, &format!("[alarm]\ncommand = \"sh {}\"\n", script.display()));
    let heard = || std::fs::read_to_string(&out).unwrap_or_default();
    input(&d, "tamper", "active");
    assert!(d.wait_until(DEADLINE, |_| heard() == "tamper start\n"), "{:?}\n{}", heard(), d.log_tail(20));
    // The tester's flicking while the command is busy, left clear at the end.
    for _ in 0..25 {
        input(&d, "tamper", "clear");
        input(&d, "tamper", "active");
    }
    input(&d, "tamper", "clear");
    live_is(&d, "alarms", "none");
    // A fire meanwhile reaches the command while tamper's run is still busy.
    input(&d, "fire_input", "active");
    assert!(d.wait_until(DEADLINE, |_| heard() == "tamper start\nfire start\n"), "{:?}\n{}", heard(), d.log_tail(20));
    // Released: the command hears tamper's current state, once.
    std::fs::remove_file(&block).unwrap();
    assert!(
        d.wait_until(DEADLINE, |_| heard() == "tamper start\nfire start\ntamper end\n"),
        "{:?}\n{}",
        heard(),
        d.log_tail(20)
    );
    assert!(d.log_text().contains("50 tamper notices coalesced"), "{}", d.log_tail(20));
    // Nothing else is pending for tamper: its next notice is the next line.
    input(&d, "tamper", "active");
    assert!(
        d.wait_until(DEADLINE, |_| heard() == "tamper start\nfire start\ntamper end\ntamper start\n"),
        "{:?}\n{}",
        heard(),
        d.log_tail(20)
    );
}

#[test]
fn doctor_fails_an_alarm_or_announcer_command_that_cannot_run() {
    let cloud = MockCloud::start();
    let scripts = script_dir();
    let plain = scripts.path().join("announce.sh");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let missing = scripts.path().join("alarm.sh");
    let toml =
        format!("[alarm]\ncommand = \"{} x\"\n[announcer]\ncommand = \"{}\"\n", missing.display(), plain.display());
    let d = Daemon::prepare(|dir| {
        let mut c = common::ConfigBuilder::new(&cloud.url(), dir);
        c.merge_toml(&toml);
        c.render()
    });
    let out = d.cli(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{report}");
    let row = |item: &str| report.lines().find(|l| l.contains(item)).unwrap_or_default().to_string();
    assert!(row("alarm command").starts_with("FAIL") && row("alarm command").contains("alarm.sh"), "{report}");
    assert!(
        row("announcer command").starts_with("FAIL") && row("announcer command").ends_with("is not executable"),
        "{report}"
    );
    // A program on PATH is fine; no command configured, no line.
    let ok = Daemon::prepare(|dir| {
        let mut c = common::ConfigBuilder::new(&cloud.url(), dir);
        c.merge_toml("[alarm]\ncommand = \"sh /etc/facegate/alarm.sh\"\n");
        c.render()
    });
    let report = String::from_utf8_lossy(&ok.cli(&["doctor"]).stdout).to_string();
    assert!(report.lines().any(|l| l.starts_with("OK") && l.contains("alarm command")), "{report}");
    assert!(!report.contains("announcer command"), "{report}");
}

/// The second outside tester: one card swiped four times within `recogIntervalTime` gave one
/// record and three "not recorded again", and let four people through with no alarm. The
/// repeats renew the one grant: one pass, and the next opening is forced.
#[test]
fn one_card_swiped_again_and_again_covers_one_pass() {
    let cloud = MockCloud::start();
    let d = daemon_with_cards(&cloud, "recogIntervalTime = \"60\"\n");
    input(&d, "door_contact", "closed");
    live_is(&d, "door", "closed");
    let first = d.cli(&["card", "4242"]);
    assert!(text(&first).starts_with("door opened; record "), "{}", text(&first));
    for _ in 0..3 {
        let again = d.cli(&["card", "4242"]);
        assert!(text(&again).contains("not recorded again"), "{}", text(&again));
    }
    // One person passes; the door relocks behind them, and a second opening on the same
    // single record is forced (with a grant per swipe it was a pass, and no alarm came).
    input(&d, "door_contact", "open");
    live_is(&d, "door", "open");
    input(&d, "door_contact", "closed");
    live_is(&d, "door", "closed");
    input(&d, "door_contact", "open");
    live_is(&d, "alarms", "forced_open");
    log_is(&d, "relay", &["closed", "open", "closed"]);
}

/// A daemon whose cloud has registered persons A (card 4242) and B (card 4343), with a
/// minute-long door pulse and `extra` more `[params]` lines; returns once they are stored.
fn daemon_with_cards(cloud: &MockCloud, extra: &str) -> Daemon {
    cloud.set_register_resp(MockCloud::fast_services());
    cloud.push_command(
        "/person/operate",
        json!({"isRegisterPersonInfo": "1", "personInfoData": [
            {"operateType": "0", "idNumber": "7001", "name": "A", "normalNumber": "4242",
             "validDateStart": "2020_1_1", "validDateEnd": "2099_12_31", "priority": "2"},
            {"operateType": "0", "idNumber": "7002", "name": "B", "normalNumber": "4343",
             "validDateStart": "2020_1_1", "validDateEnd": "2099_12_31", "priority": "2"}]}),
    );
    let d = daemon(cloud, &format!("[params]\nfaceRFIDCardEnable = \"1\"\nopenDoorTimeDelayMs = \"60000\"\n{extra}"));
    assert!(
        cloud.wait_until(DEADLINE, |c| c.requests_to("/person/operate").iter().any(|r| r.is_result())),
        "{}",
        cloud.dump()
    );
    d
}
