//! The technician's commands: config check/show, status, doctor, relay, snap, persons, records,
//! with and without a running daemon.

mod common;

use std::path::Path;
use std::process::Output;

use common::{DEADLINE, Daemon, MockCloud};
use serde_json::{Value, json};

fn facegate(args: &[&str], config: &Path) -> Output {
    common::facegate_command().args(args).arg("--config").arg(config).output().expect("run facegate")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("facegate.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn base_config(dir: &Path, url: &str) -> String {
    format!(
        "[device]\ndevice_no = \"FGCLI01\"\n\n[cloud]\nurl = \"{url}\"\nconnect_timeout_ms = 500\nread_timeout_ms = 2000\n\n\
         [storage]\ndir = \"{}\"\n",
        dir.join("store").display()
    )
}

#[test]
fn config_check_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), &base_config(dir.path(), "http://127.0.0.1:9"));
    let out = facegate(&["config", "check"], &good);
    assert!(out.status.success(), "{}", text(&out));

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, base_config(dir.path(), "http://127.0.0.1:9").replace("device_no", "devce_no")).unwrap();
    let out = facegate(&["config", "check"], &broken);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains(&format!("{}:2:", broken.display())), "{msg}");
    assert!(msg.contains("devce_no"), "{msg}");

    let wrong_type = dir.path().join("type.toml");
    std::fs::write(&wrong_type, base_config(dir.path(), "http://127.0.0.1:9").replace("500", "\"soon\"")).unwrap();
    let out = facegate(&["config", "check"], &wrong_type);
    assert!(!out.status.success());
    assert!(text(&out).contains("key `cloud.connect_timeout_ms`"), "{}", text(&out));

    let bad_board = dir.path().join("board.toml");
    std::fs::write(
        &bad_board,
        format!("{}\n[board]\nprofile = \"no-such-board\"\n", base_config(dir.path(), "http://x")),
    )
    .unwrap();
    let out = facegate(&["config", "check"], &bad_board);
    assert!(!out.status.success(), "{}", text(&out));
}

#[test]
fn status_works_on_a_fresh_storage_dir_without_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &base_config(dir.path(), "http://127.0.0.1:9"));
    let out = facegate(&["status"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    for needle in ["FGCLI01", "not running", "never registered", "last contact", "never"] {
        assert!(shown.contains(needle), "{needle} missing in:\n{shown}");
    }
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "{shown}");
    assert!(!dir.path().join("store").exists(), "status must not create the storage dir");

    let out = facegate(&["status", "--json"], &cfg);
    let v: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(v["device_no"], "FGCLI01");
    assert_eq!(v["daemon_running"], false);
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &base_config(dir.path(), "http://127.0.0.1:9"));
    for cmd in [
        vec!["run"],
        vec!["status"],
        vec!["config", "check"],
        vec!["persons", "list"],
        vec!["records", "list"],
        vec!["doctor"],
        vec!["relay", "open"],
        vec!["snap"],
        vec!["card"],
        vec!["face"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = facegate(&args, &cfg);
        assert!(out.status.success(), "{cmd:?} --help: {}", text(&out));
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(help.contains("Usage"), "{help}");
        assert!(help.lines().all(|l| l.chars().count() <= 80), "{cmd:?}:\n{help}");
    }
}

#[test]
fn doctor_relay_and_snap_on_the_sim_board_without_a_daemon() {
    let cloud = MockCloud::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &base_config(dir.path(), &cloud.url()));
    let out = facegate(&["doctor"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(report.lines().all(|l| l.starts_with("OK ")), "{report}");
    for item in ["config", "storage", "sim board", "cloud"] {
        assert!(report.contains(item), "{item} missing:\n{report}");
    }

    let out = facegate(&["relay", "open", "--ms", "50"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    let log = std::fs::read_to_string(dir.path().join("store/sim-actuators.jsonl")).unwrap();
    let states: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "relay")
        .map(|v| v["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["closed", "open", "closed"], "{log}");

    let jpeg = dir.path().join("snap.jpg");
    let out = facegate(&["snap", jpeg.to_str().unwrap()], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    let bytes = std::fs::read(&jpeg).unwrap();
    let mut decoder = jpeg_decoder::Decoder::new(&bytes[..]);
    decoder.decode().expect("snap is a JPEG");
    assert!(decoder.info().unwrap().width > 0);
}

#[test]
fn doctor_fails_when_the_cloud_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback is closed on test machines: a refused connection.
    let cfg = write_config(dir.path(), &base_config(dir.path(), "http://127.0.0.1:9"));
    let out = facegate(&["doctor"], &cfg);
    assert!(!out.status.success());
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(report.lines().any(|l| l.starts_with("FAIL") && l.contains("cloud")), "{report}");
}

#[test]
fn commands_talk_to_a_running_daemon() {
    let cloud = MockCloud::start();
    let mut services = MockCloud::fast_services();
    services["getDevInfoService"] = json!("0");
    cloud.set_register_resp(services);
    cloud.push_command(
        "/person/operate",
        json!({"isRegisterPersonInfo": "1", "personInfoData": [{
            "operateType": "0", "idNumber": "7001", "name": "Ada", "normalNumber": "4242",
            "validDateStart": "2020_1_1", "validDateEnd": "2099_12_31", "priority": "2"}]}),
    );
    let daemon = Daemon::start(&cloud.url(), "[params]\nfaceRFIDCardEnable = \"1\"\n");
    assert!(
        cloud.wait_until(DEADLINE, |c| c.requests_to("/person/operate").iter().any(|r| r.is_result())),
        "{}",
        cloud.dump()
    );

    let out = daemon.cli(&["status"]);
    let shown = text(&out);
    assert!(shown.contains("running") && !shown.contains("not running"), "{shown}");
    assert!(shown.contains("registered"), "{shown}");
    assert!(shown.contains("door"), "{shown}");

    let out = daemon.cli(&["persons", "show", "7001"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Ada") && text(&out).contains("4242"), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&daemon.cli(&["persons", "count"]).stdout).trim(), "1");

    let out = daemon.cli(&["card", "4242"]);
    assert!(text(&out).starts_with("door opened; record "), "{}", text(&out));
    assert!(cloud.wait_until(DEADLINE, |c| !c.records().is_empty()), "{}", cloud.dump());
    assert!(
        daemon.wait_until(DEADLINE, |d| {
            String::from_utf8_lossy(&d.cli(&["records", "count"]).stdout).starts_with("1 kept, 0 pending")
        }),
        "{}",
        text(&daemon.cli(&["records", "count"]))
    );
    let out = daemon.cli(&["records", "list"]);
    assert!(text(&out).contains("delivered") && text(&out).contains("7001"), "{}", text(&out));

    // With the daemon holding the hardware, the relay is pulsed through it.
    let out = daemon.cli(&["relay", "open", "--ms", "20"]);
    assert!(text(&out).contains("by the daemon"), "{}", text(&out));
}
