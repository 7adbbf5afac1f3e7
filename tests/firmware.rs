//! Signed firmware, end to end: the real daemon on the sim board installs only releases signed
//! by a key of its configuration, not older than the running one unless marked as rollback
//! releases; and the vendor's tools (`facegate firmware keygen|sign|verify`) as a vendor and
//! a technician run them. Updates are served by the mock cloud on 127.0.0.1.

mod common;

use common::firmware::Vendor;
use common::{DEADLINE, Daemon, MockCloud, facegate_command};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

fn start(extra_toml: &str) -> (MockCloud, Daemon) {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let daemon = Daemon::start(&cloud.url(), extra_toml);
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "{}", daemon.log_tail(40));
    (cloud, daemon)
}

/// Serves `bytes` at a fresh path, sends an update of `update_type` for it and returns every
/// result code in order with the final message.
fn update(cloud: &MockCloud, daemon: &Daemon, update_type: &str, bytes: Vec<u8>) -> (Vec<String>, String) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = format!("/fw/release-{}.bin", N.fetch_add(1, Ordering::SeqCst));
    let len = bytes.len().to_string();
    cloud.serve_file(&path, bytes);
    let id = cloud.push_command(
        "/device/update",
        json!({"isOnlineUpdate": "1", "updateType": update_type, "updateUrl": format!("{}{path}", cloud.url()), "updateKey": len}),
    );
    let code = |r: &Value| r["errorCode"].as_str().unwrap_or_default().to_string();
    let done =
        cloud.wait_until(DEADLINE, |c| c.results_for(&id).iter().any(|r| !["500", "501"].contains(&code(r).as_str())));
    assert!(done, "no final result for update {id}\n{}\n{}", cloud.dump(), daemon.log_tail(40));
    let results = cloud.results_for(&id);
    let msg = results.last().and_then(|r| r["msg"].as_str()).unwrap_or_default().to_string();
    (results.iter().map(code).collect(), msg)
}

fn installs(daemon: &Daemon) -> Vec<Value> {
    daemon.actuator_log().into_iter().filter(|a| a["kind"] == "install").collect()
}

fn leftovers(daemon: &Daemon) -> Vec<String> {
    match std::fs::read_dir(daemon.dir().join("update")) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Bytes without a period.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed * 2 + 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Asserts that `bytes` is refused with 504, saying `why`, with nothing installed or left.
fn assert_refused(cloud: &MockCloud, daemon: &Daemon, case: &str, bytes: Vec<u8>, why: &str) {
    let before = installs(daemon).len();
    let (codes, msg) = update(cloud, daemon, "0", bytes);
    assert_eq!(codes, ["500", "504"], "{case}: {msg}\n{}", daemon.log_tail(30));
    assert!(msg.starts_with("固件哈希值校验失败: "), "{case}: the code's prompt comes first: {msg}");
    assert!(msg.contains(why), "{case}: the message says why ({why}): {msg}");
    assert_eq!(installs(daemon).len(), before, "{case}: something was installed");
    assert!(leftovers(daemon).is_empty(), "{case}: {:?}", leftovers(daemon));
}

fn installed_version(daemon: &Daemon, update_type: &str) -> Option<String> {
    let store = facegate::store::Store::open_readonly(daemon.dir()).unwrap();
    store.state(&format!("firmware_version_{update_type}")).unwrap()
}

#[test]
fn only_intact_files_signed_by_a_configured_key_are_installed() {
    let vendor = Vendor::new();
    let (cloud, daemon) = start(&vendor.config());
    let fw = payload(50_000, 1);

    // The correctly signed release installs, with the usual progress, as its bare payload.
    let (codes, _) = update(&cloud, &daemon, "0", vendor.sign_as(&fw, "2.0", false));
    assert_eq!(codes, ["500", "501", "100"], "{}", daemon.log_tail(30));
    let done = installs(&daemon);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["bytes"], fw.len() as u64, "the trailer is cut off before the installer runs");
    assert_eq!(installed_version(&daemon, "0").as_deref(), Some("2.0"));
    assert!(leftovers(&daemon).is_empty(), "{:?}", leftovers(&daemon));

    let signed = vendor.sign_as(&fw, "2.1", false);
    let trailer = signed.len() - fw.len();
    assert_refused(&cloud, &daemon, "unsigned", fw.clone(), "no facegate signature");
    let stranger = Vendor::new();
    assert_refused(&cloud, &daemon, "another key", stranger.sign_as(&fw, "2.1", false), &stranger.key_id());
    for at in [0, fw.len() / 2, fw.len() - 1] {
        let mut bad = signed.clone();
        bad[at] ^= 0x40;
        assert_refused(&cloud, &daemon, &format!("payload byte {at} flipped"), bad, "SHA-512");
    }
    // Envelope bytes: payload length, flags, key id, hash, version, signature, header length.
    for (field, at, why) in [
        ("payload length", 8, "payload"),
        ("flags", 16, "flags"),
        ("key id", 20, "not a configured key"),
        ("payload hash", 40, "SHA-512"),
        ("version", trailer - 64 - 12 - 1, "does not verify"),
        ("signature", trailer - 40, "does not verify"),
        ("header length", trailer - 11, "header length"),
        ("footer magic", trailer - 1, "no facegate signature"),
    ] {
        let mut bad = signed.clone();
        bad[fw.len() + at] ^= 0x02;
        assert_refused(&cloud, &daemon, &format!("envelope {field} flipped"), bad, why);
    }
    assert_refused(&cloud, &daemon, "end cut off", signed[..signed.len() - 1].to_vec(), "no facegate signature");
    assert_refused(&cloud, &daemon, "start cut off", signed[1000..].to_vec(), "payload");
    // A valid signature, of another file of the same length.
    let mut other = payload(fw.len(), 2);
    other.extend_from_slice(&signed[fw.len()..]);
    assert_refused(&cloud, &daemon, "signature of another file", other, "SHA-512");

    // Downgrade: refused unless marked as a rollback release; the same version again is fine.
    assert_refused(&cloud, &daemon, "downgrade", vendor.sign_as(&fw, "1.9", false), "older than the installed 2.0");
    let (codes, _) = update(&cloud, &daemon, "0", vendor.sign_as(&fw, "1.9", true));
    assert_eq!(codes, ["500", "501", "100"], "a rollback release\n{}", daemon.log_tail(30));
    assert_eq!(installed_version(&daemon, "0").as_deref(), Some("1.9"));
    let (codes, _) = update(&cloud, &daemon, "0", vendor.sign_as(&fw, "1.9.0", false));
    assert_eq!(codes, ["500", "501", "100"], "the same version\n{}", daemon.log_tail(30));
    assert_refused(&cloud, &daemon, "downgrade after rollback", vendor.sign_as(&fw, "1.8.9", false), "older");
    // Versions are kept per update type: a kernel has its own.
    let (codes, _) = update(&cloud, &daemon, "3", vendor.sign_as(&fw, "0.1", false));
    assert_eq!(codes, ["500", "501", "100"], "{}", daemon.log_tail(30));
    assert_eq!(installed_version(&daemon, "3").as_deref(), Some("0.1"));
    assert_eq!(installs(&daemon).len(), 4);
}

#[test]
fn keys_rotate_any_configured_key_is_trusted() {
    let (old, new, retired) = (Vendor::new(), Vendor::new(), Vendor::new());
    // One key as a file, one inline.
    let config = format!(
        "[update]\npublic_keys = [{:?}, {:?}]\n",
        old.public_key_file().display().to_string(),
        new.public_key()
    );
    let (cloud, daemon) = start(&config);
    let fw = payload(20_000, 3);
    let (codes, msg) = update(&cloud, &daemon, "0", new.sign(&fw));
    assert_eq!(codes, ["500", "501", "100"], "the second key: {msg}");
    let (codes, msg) = update(&cloud, &daemon, "0", old.sign(&fw));
    assert_eq!(codes, ["500", "501", "100"], "the first key: {msg}");
    assert_refused(&cloud, &daemon, "a key no longer configured", retired.sign(&fw), &retired.key_id());
    assert_eq!(installs(&daemon).len(), 2);
}

#[test]
fn without_keys_nothing_is_downloaded_or_installed() {
    let (cloud, daemon) = start("");
    let (codes, msg) = update(&cloud, &daemon, "0", payload(1000, 4));
    assert_eq!(codes, ["504"], "{msg}");
    assert!(msg.contains("remote updates are disabled"), "{msg}");
    assert!(!cloud.requests().iter().any(|r| r.path.starts_with("/fw/")), "downloaded anyway: {}", cloud.dump());
    assert!(installs(&daemon).is_empty());
    let status = String::from_utf8_lossy(&daemon.cli(&["status"]).stdout).to_string();
    assert!(status.contains("remote updates disabled"), "{status}");
    let doctor = String::from_utf8_lossy(&daemon.cli(&["doctor"]).stdout).to_string();
    assert!(doctor.lines().any(|l| l.starts_with("OK") && l.contains("remote updates disabled")), "{doctor}");
}

#[test]
fn allow_unsigned_installs_unsigned_files_and_is_called_out_as_insecure() {
    let (cloud, mut daemon) = start("[update]\nallow_unsigned = true\n");
    let fw = payload(5000, 5);
    let (codes, msg) = update(&cloud, &daemon, "0", fw.clone());
    assert_eq!(codes, ["500", "501", "100"], "{msg}");
    assert_eq!(installs(&daemon)[0]["bytes"], fw.len() as u64);
    let status = daemon.cli(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["firmware_updates"].as_str().unwrap().starts_with("INSECURE"), "{status}");
    let doctor = daemon.cli(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert!(text.lines().any(|l| l.starts_with("FAIL") && l.contains("INSECURE")), "{text}");
    assert!(!doctor.status.success(), "doctor fails on an insecure configuration\n{text}");
    // Called out at every start.
    daemon.restart();
    assert!(
        daemon.wait_until(DEADLINE, |d| d.log_text().matches("INSECURE: allow_unsigned").count() >= 2),
        "{}",
        daemon.log_tail(40)
    );
}

/// A directory with the "installed agent" (a script) the built-in installer would replace.
fn agent_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix("facegate-agent-").tempdir().unwrap();
    let target = dir.path().join("facegate-agent");
    std::fs::write(&target, b"#!/bin/sh\necho previous\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, target)
}

#[test]
fn the_agents_self_update_obeys_the_same_rules() {
    let vendor = Vendor::new();
    let (dir, target) = agent_dir();
    let config = format!("{}agent_path = {:?}\n", vendor.config(), target.display().to_string());
    let (cloud, mut daemon) = start(&config);
    let new_agent = b"#!/bin/sh\necho 'new, broken' >&2\nexit 1\n".to_vec();
    let own = env!("CARGO_PKG_VERSION");
    let cases = [
        ("unsigned", new_agent.clone(), "no facegate signature".to_string()),
        ("another key", Vendor::new().sign_as(&new_agent, "9.0", false), "not a configured key".to_string()),
        (
            "older than this agent",
            vendor.sign_as(&new_agent, "0.0.1", false),
            format!("older than the installed {own}"),
        ),
    ];
    for (case, bytes, why) in cases {
        let (codes, msg) = update(&cloud, &daemon, "1", bytes);
        assert_eq!(codes, ["500", "504"], "{case}: {msg}");
        assert!(msg.contains(&why), "{case}: {msg}");
        assert_eq!(std::fs::read(&target).unwrap(), b"#!/bin/sh\necho previous\n", "{case}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{case}: {names:?}");
        assert!(leftovers(&daemon).is_empty(), "{case}");
    }
    assert!(daemon.is_running(), "{}", daemon.log_tail(30));
    // Signed and not older, it gets as far as the start-up check (which this script fails).
    let (codes, msg) = update(&cloud, &daemon, "1", vendor.sign_as(&new_agent, own, false));
    assert_eq!(codes, ["500", "501", "505"], "{msg}");
}

fn firmware_cli(args: &[&str]) -> Output {
    facegate_command().arg("firmware").args(args).output().expect("run facegate firmware")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A device configuration trusting `keys`, for `firmware verify --config`.
fn device_config(dir: &Path, keys: &[String]) -> PathBuf {
    let path = dir.join("device.toml");
    let text = format!(
        "[device]\ndevice_no = \"FG1\"\n[cloud]\nurl = \"http://127.0.0.1:9\"\n[storage]\ndir = {:?}\n[update]\npublic_keys = {keys:?}\n",
        dir.join("storage").display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn vendor_tools_keygen_sign_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let out = firmware_cli(&["keygen", &p("v.key")]);
    assert!(out.status.success(), "{}", text(&out));
    let mode = |f: &str| std::fs::metadata(p(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("v.key"), 0o600, "the private key is the owner's only");
    assert_eq!(mode("v.key.pub"), 0o644);
    let private = std::fs::read(p("v.key")).unwrap();
    let again = firmware_cli(&["keygen", &p("v.key")]);
    assert!(!again.status.success() && text(&again).contains("never overwritten"), "{}", text(&again));
    assert_eq!(std::fs::read(p("v.key")).unwrap(), private, "the key was kept");
    let public = std::fs::read_to_string(p("v.key.pub")).unwrap();
    let key_id = public.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    assert!(text(&out).contains(&key_id), "keygen prints the key id: {}", text(&out));

    let payload_bytes = payload(10_000, 6);
    std::fs::write(p("app.bin"), &payload_bytes).unwrap();
    let out = firmware_cli(&[
        "sign",
        "--key",
        &p("v.key"),
        &p("app.bin"),
        &p("app.signed"),
        "--version",
        "3.2.1",
        "--rollback",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("3.2.1") && text(&out).contains(&key_id), "{}", text(&out));
    let signed = std::fs::read(p("app.signed")).unwrap();
    assert_eq!(&signed[..payload_bytes.len()], &payload_bytes[..], "the payload is kept as it is");
    let resign = firmware_cli(&["sign", "--key", &p("v.key"), &p("app.signed"), &p("twice.bin")]);
    assert!(!resign.status.success() && text(&resign).contains("already signed"), "{}", text(&resign));
    assert!(!Path::new(&p("twice.bin")).exists());
    let bad_version =
        firmware_cli(&["sign", "--key", &p("v.key"), &p("app.bin"), &p("x.bin"), "--version", "3.2-beta"]);
    assert!(!bad_version.status.success() && text(&bad_version).contains("3.2-beta"), "{}", text(&bad_version));
    let not_a_key = firmware_cli(&["sign", "--key", &p("v.key.pub"), &p("app.bin"), &p("x.bin")]);
    assert!(!not_a_key.status.success(), "{}", text(&not_a_key));

    // Verify: who signed it, the version, OK.
    let trusting = device_config(dir.path(), &[p("v.key.pub")]);
    let out = facegate_command()
        .args(["firmware", "verify", "--config"])
        .arg(&trusting)
        .arg(p("app.signed"))
        .output()
        .unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains(&format!("key {key_id}")), "{shown}");
    assert!(shown.contains("3.2.1 (rollback release)"), "{shown}");
    assert!(shown.contains("result       OK"), "{shown}");
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "{shown}");
    // Not OK: altered, unsigned, or signed by a key the configuration does not trust.
    let verify = |config: &Path, file: &str| {
        facegate_command().args(["firmware", "verify", "--config"]).arg(config).arg(file).output().unwrap()
    };
    let mut altered = signed.clone();
    altered[5] ^= 1;
    std::fs::write(p("altered.bin"), &altered).unwrap();
    for (file, why) in [("altered.bin", "SHA-512"), ("app.bin", "no facegate signature")] {
        let out = verify(&trusting, &p(file));
        assert!(!out.status.success(), "{file}: {}", text(&out));
        assert!(text(&out).contains("NOT OK") && text(&out).contains(why), "{file}: {}", text(&out));
    }
    let other = tempfile::tempdir().unwrap();
    let stranger = Vendor::new();
    let out = verify(&device_config(other.path(), &[stranger.public_key()]), &p("app.signed"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("(not a configured key)"), "{}", text(&out));
}

#[test]
fn config_check_names_a_bad_public_key() {
    let dir = tempfile::tempdir().unwrap();
    for (keys, why) in [
        ("[\"no-such-key.pub\"]", "no-such-key.pub"),
        ("[\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"]", "32 bytes"),
        ("[\"zz\"]", "zz"),
    ] {
        let config = device_config(dir.path(), &[]);
        let text_cfg =
            std::fs::read_to_string(&config).unwrap().replace("public_keys = []", &format!("public_keys = {keys}"));
        std::fs::write(&config, text_cfg).unwrap();
        let out = facegate_command().args(["config", "check", "--config"]).arg(&config).output().unwrap();
        assert!(!out.status.success(), "{keys}: {}", text(&out));
        let shown = text(&out);
        assert!(shown.contains("device.toml:8: key `update.public_keys` entry 1"), "{keys}: {shown}");
        assert!(shown.contains(why), "{keys}: {shown}");
    }
}

/// Peak RSS in kB that `facegate firmware ...` printed under FACEGATE_REPORT_PEAK_RSS.
fn peak_rss_kb(out: &Output) -> u64 {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or_else(|| panic!("no VmHWM line: {stderr}"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("bad VmHWM line: {line}"))
}

#[test]
fn a_200_mb_release_signs_and_verifies_in_bounded_memory() {
    const SIZE: u64 = 200 * 1024 * 1024;
    // Far below the file's size: the whole file in memory could never fit.
    const BOUND_KB: u64 = 32 * 1024;
    let vendor = Vendor::new();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rootfs.img");
    // Mostly a hole, with data at both ends and in the middle: a flipped byte anywhere counts.
    let f = std::fs::File::create(&input).unwrap();
    f.set_len(SIZE).unwrap();
    use std::os::unix::fs::FileExt;
    for at in [0, SIZE / 2, SIZE - 4096] {
        f.write_all_at(&payload(4096, at), at).unwrap();
    }
    drop(f);
    let signed = dir.path().join("rootfs.signed");
    let out = facegate_command()
        .args(["firmware", "sign", "--key"])
        .arg(vendor.key())
        .arg(&input)
        .arg(&signed)
        .args(["--version", "5.0"])
        .env("FACEGATE_REPORT_PEAK_RSS", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let sign_kb = peak_rss_kb(&out);
    std::fs::remove_file(&input).unwrap();
    let config = device_config(dir.path(), &[vendor.public_key()]);
    let verify = |file: &Path| {
        facegate_command()
            .args(["firmware", "verify", "--config"])
            .arg(&config)
            .arg(file)
            .env("FACEGATE_REPORT_PEAK_RSS", "1")
            .output()
            .unwrap()
    };
    let out = verify(&signed);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("{SIZE} bytes")), "{}", text(&out));
    let verify_kb = peak_rss_kb(&out);
    eprintln!("200 MiB release: peak RSS sign {sign_kb} kB, verify {verify_kb} kB");
    assert!(sign_kb < BOUND_KB, "sign peaked at {sign_kb} kB");
    assert!(verify_kb < BOUND_KB, "verify peaked at {verify_kb} kB");
    // The whole payload was read: a byte flipped in the middle is found.
    let f = std::fs::OpenOptions::new().write(true).open(&signed).unwrap();
    f.write_all_at(&[0xFF], SIZE / 2 + 100).unwrap();
    drop(f);
    let out = verify(&signed);
    assert!(!out.status.success() && text(&out).contains("SHA-512"), "{}", text(&out));
}
