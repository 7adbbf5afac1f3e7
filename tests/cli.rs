//! The technician's commands: config check/show, status, doctor, relay, snap, persons, records,
//! with and without a running daemon.

mod common;

use std::path::Path;
use std::process::Output;

use common::{ConfigBuilder, DEADLINE, Daemon, MockCloud};
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
    // The daemon's counters have the longest labels: they keep a space before their value.
    assert!(shown.lines().any(|l| l == "wiegand parity errors   0"), "{shown}");
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "{shown}");

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

/// Every line of `out`'s stdout, which must be within 80 columns.
fn lines_within_80(out: &Output) -> String {
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "a line is longer than 80 columns:\n{shown}");
    shown
}

#[test]
fn without_a_config_file_the_error_points_to_the_template_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = facegate(&["status"], &dir.path().join("facegate.toml"));
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr).to_string();
    for needle in ["cannot read", "packaging/facegate.toml", "--config PATH", "REQUIRED"] {
        assert!(msg.contains(needle), "{needle} missing in: {msg}");
    }
    assert!(msg.trim_end().lines().count() == 1, "one line: {msg}");
}

#[test]
fn config_check_refuses_a_missing_or_garbage_root_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let body = base_config(dir.path(), "https://127.0.0.1:9")
        .replace("read_timeout_ms = 2000\n", &format!("read_timeout_ms = 2000\nroot_ca = \"{}\"\n", ca.display()));
    let cfg = write_config(dir.path(), &body);
    let check = || facegate(&["config", "check"], &cfg);

    // Missing: the file, line and key, and the CA's path.
    let out = check();
    assert!(!out.status.success(), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains(&format!("{}:8: key `cloud.root_ca`: {}", cfg.display(), ca.display())), "{msg}");
    // status still tells what it knows (the daemon would not start, but the store is readable).
    let out = facegate(&["status"], &cfg);
    assert!(out.status.success(), "{}", text(&out));

    // Not PEM at all; and a PEM frame around garbage.
    std::fs::write(&ca, "this is not a certificate\n").unwrap();
    let out = check();
    assert!(!out.status.success() && text(&out).contains("no certificate"), "{}", text(&out));
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n!!! not base64 !!!\n-----END CERTIFICATE-----\n").unwrap();
    let out = check();
    assert!(!out.status.success() && text(&out).contains("key `cloud.root_ca`"), "{}", text(&out));

    // A real certificate passes.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let out = check();
    assert!(out.status.success(), "{}", text(&out));
}

/// The example configuration in README.md's "Configuration" section.
fn readme_example_config() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Configuration").nth(1).expect("README has a Configuration section");
    let block = section.split("```toml\n").nth(1).expect("the section has a toml block");
    block.split("```").next().unwrap().to_string()
}

#[test]
fn the_readme_example_config_checks_and_runs_as_printed() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let example = readme_example_config();
    // Only what must differ on a test machine: no network but loopback, no root for the paths.
    for needle in ["https://cloud.example:8443/path", "\"/var/lib/facegate\"", "\"/run/facegate/control.sock\""] {
        assert!(example.contains(needle), "the README example changed: {needle} missing");
    }
    let mut daemon = Daemon::prepare(|dir| {
        example
            .replace("https://cloud.example:8443/path", &cloud.url())
            .replace("\"/var/lib/facegate\"", &format!("\"{}\"", dir.display()))
            .replace("\"/run/facegate/control.sock\"", &format!("\"{}\"", dir.join("control.sock").display()))
    });
    let out = daemon.cli(&["config", "check"]);
    assert!(out.status.success(), "{}", text(&out));
    daemon.spawn();
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "{}\n{}", cloud.dump(), daemon.log_tail(30));
    assert!(
        daemon.wait_until(DEADLINE, |d| {
            String::from_utf8_lossy(&d.cli(&["status"]).stdout)
                .lines()
                .any(|l| l.starts_with("registration") && l.ends_with(" registered"))
        }),
        "{}",
        daemon.log_tail(30)
    );
    assert!(daemon.is_running(), "{}", daemon.log_tail(30));
    let shown = lines_within_80(&daemon.cli(&["status"]));
    assert!(shown.lines().any(|l| l.starts_with("daemon") && l.ends_with(" running")), "{shown}");
}

/// The value and source `config show` prints for one device parameter.
fn shown_param(d: &Daemon, key: &str) -> (String, String) {
    let out = d.cli(&["config", "show"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    // The whole output is TOML: the configuration, then [device_params].
    let table: toml::Table = stdout.parse().unwrap_or_else(|e| panic!("config show is not TOML: {e}\n{stdout}"));
    let value = table["device_params"][key].as_str().unwrap_or_else(|| panic!("no {key}:\n{stdout}")).to_string();
    let section = stdout.split("[device_params]").nth(1).unwrap();
    let line = section.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap();
    let source = line.rsplit("# ").next().unwrap().to_string();
    (value, source)
}

#[test]
fn config_show_prints_the_parameters_in_force_and_their_source() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let mut d = Daemon::prepare(|dir| {
        let mut c = ConfigBuilder::new(&cloud.url(), dir);
        c.merge_toml("[params]\nfaceRFIDCardEnable = \"1\"\n");
        c.render()
    });
    let expect = |d: &Daemon, key: &str, value: &str, source: &str| {
        assert_eq!(shown_param(d, key), (value.to_string(), source.to_string()), "{key}");
    };
    let before_and_after = |d: &Daemon| {
        expect(d, "faceRFIDCardEnable", "1", "local");
        expect(d, "recogIntervalTime", "3", "default");
        expect(d, "timeZone", "8", "local");
    };
    // Before the daemon ever ran: no store yet.
    before_and_after(&d);
    d.spawn();
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "{}", cloud.dump());
    assert!(d.wait_until(DEADLINE, |d| facegate::store::Store::db_path(d.dir()).exists()));
    before_and_after(&d);

    // The cloud sets one parameter, and one the file sets locally: the cloud's values win.
    cloud.push_command(
        "/device/setDevInfo",
        json!({"isOnlineSetDevInfo": "1", "voiceVolume": "7", "faceRFIDCardEnable": "0"}),
    );
    assert!(
        cloud.wait_until(DEADLINE, |c| c.requests_to("/device/setDevInfo").iter().any(|r| r.is_result())),
        "{}",
        cloud.dump()
    );
    expect(&d, "voiceVolume", "7", "cloud");
    expect(&d, "faceRFIDCardEnable", "0", "cloud");
    expect(&d, "recogIntervalTime", "3", "default");
    d.stop();
    expect(&d, "voiceVolume", "7", "cloud");
}

#[test]
fn status_keeps_to_80_columns_with_long_values() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:9/{}", "a-long-path-segment/".repeat(8));
    let profile = "/opt/vendor boards/entrance gate/the left door of the north building, rewired in 2026.toml";
    let body = format!(
        "{}\n[board]\nprofile = \"{profile}\"\n",
        base_config(dir.path(), &url).replace("FGCLI01", "FG-A-DEVICE-NUMBER-OF-32-CHARS-X")
    );
    let cfg = write_config(dir.path(), &body);
    let out = facegate(&["status"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    let shown = lines_within_80(&out);
    // Values wrap at spaces: every word of the profile is whole on some line.
    for word in profile.split(' ') {
        assert!(shown.split_whitespace().any(|w| w == word), "{word:?} was cut:\n{shown}");
    }
    // A URL has no spaces: it is cut, and nothing of it is lost.
    let joined: String = shown.split_whitespace().collect();
    assert!(joined.contains(&url), "{shown}");
    // The values start in one column, after a gap.
    let column = shown.lines().next().unwrap().find("FG-A").unwrap();
    assert!(shown.lines().all(|l| l.len() > column && l[..column].ends_with("  ")), "{shown}");
}

#[test]
fn status_after_the_daemon_stopped_shows_history_not_a_registration_in_progress() {
    // Port 9 on loopback is closed: the daemon keeps registering.
    let mut d = Daemon::start("http://127.0.0.1:9", "");
    let registering = |d: &Daemon| {
        String::from_utf8_lossy(&d.cli(&["status"]).stdout)
            .lines()
            .any(|l| l.starts_with("registration") && l.ends_with(" registering"))
    };
    assert!(d.wait_until(DEADLINE, registering), "{}", text(&d.cli(&["status"])));
    d.stop();
    let out = d.cli(&["status"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = lines_within_80(&out);
    assert!(!registering(&d), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("daemon") && l.ends_with("not running")), "{shown}");
    assert!(shown.contains("was registering when the daemon last ran"), "{shown}");
}

#[test]
fn records_list_aligns_its_columns_and_shows_the_zone() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    cloud.push_command(
        "/person/operate",
        json!({"isRegisterPersonInfo": "1", "personInfoData": [{
            "operateType": "0", "idNumber": "7001", "name": "Ada Lovelace", "normalNumber": "4242",
            "validDateStart": "2020_1_1", "validDateEnd": "2099_12_31", "priority": "2"}]}),
    );
    let d = Daemon::start(&cloud.url(), "[device]\ntime_zone = -5\n[params]\nfaceRFIDCardEnable = \"1\"\n");
    assert!(
        cloud.wait_until(DEADLINE, |c| c.requests_to("/person/operate").iter().any(|r| r.is_result())),
        "{}",
        cloud.dump()
    );
    for card in ["4242", "999", "4242"] {
        let out = d.cli(&["card", card]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = d.cli(&["records", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = lines_within_80(&out);
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines.len() >= 3, "{shown}");
    let header = lines[0];
    for row in &lines[1..] {
        // msgIDs are 10 digits (seeded with the creation time): the next column still lines up.
        let (id, _) = row.split_once(' ').unwrap();
        assert!(id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()), "{shown}");
        for column in ["passTime", "state", "snap", "cmp", "idNumber"] {
            let at = header.find(column).unwrap();
            // An unknown card's record has no idNumber: its line ends before that column.
            if column == "idNumber" && row.len() <= at {
                continue;
            }
            assert!(row[..at].ends_with(' ') && !row[at..].starts_with(' '), "{column} misaligned:\n{shown}");
        }
        let pass_time = &row[header.find("passTime").unwrap()..header.find("state").unwrap()];
        assert!(pass_time.trim_end().ends_with("-05:00"), "{shown}");
    }
    // Newest first, as --help says.
    let ids: Vec<u64> = lines[1..].iter().map(|l| l.split(' ').next().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{shown}");
    assert!(shown.contains("7001 Ada Lovelace"), "{shown}");
}
