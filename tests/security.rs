//! Security properties of the real daemon on the sim board, against the mock cloud.
//!
//! - the storage directory, the database and every file holding devicePassword are private
//!   to the daemon's user, even under umask 000;
//! - the control socket is owner/group only;
//! - devicePassword, wireless passwords and persons' door passwords never reach the logs or
//!   the technician's commands;
//! - nothing the cloud sends (updateUrl, photo IDs, idNumber) becomes a path outside the
//!   storage directory;
//! - https certificate verification cannot be turned off by anything the cloud sends (an
//!   `openssl s_server` with a self-signed certificate plays the untrusted server).
//!
//! Every test here runs the daemon under umask 000, the worst an init system or a vendor's
//! start script may hand it: modes must come from the daemon, not from luck.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use common::firmware::Vendor;
use common::{DEADLINE, Daemon, MockCloud};
use serde_json::{Value, json};

/// Sets the process umask to 000; the daemons these tests start inherit it.
fn hostile_umask() {
    // SAFETY: umask(2) only swaps the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0);
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A 16x16 grey JPEG: a decodable registration photo.
fn jpeg() -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&[128; 16 * 16 * 3], 16, 16, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a constant image cannot fail");
    out
}

/// Every file and directory under `dir`, depth first.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        out.push(p.clone());
        if is_dir {
            out.extend(walk(&p));
        }
    }
    out
}

/// Waits for the final result of a command (the last one the mock received for `msg_id`,
/// once its code is not a progress code) and returns it.
fn final_result(cloud: &MockCloud, msg_id: &str, daemon: &Daemon) -> Value {
    let done = |c: &MockCloud| {
        c.results_for(msg_id).last().is_some_and(|r| !matches!(r["errorCode"].as_str(), Some("500") | Some("501")))
    };
    assert!(cloud.wait_until(DEADLINE, done), "no result for {msg_id}\n{}\n{}", cloud.dump(), daemon.log_tail(40));
    cloud.results_for(msg_id).pop().expect("checked above")
}

fn person(id: &str, name: &str, card: &str, photo_id: &str) -> Value {
    json!({
        "operateType": "0",
        "idNumber": id,
        "name": name,
        "normalNumber": card,
        "validDateStart": "2020_01_01",
        "validDateEnd": "2099_12_31",
        "priority": "2",
        "registerPhoto1": b64(&jpeg()),
        "registerPhotoID1": photo_id,
    })
}

fn person_command(persons: Vec<Value>) -> Value {
    json!({"isRegisterPersonInfo": "1", "personInfoCount": persons.len().to_string(), "personInfoData": persons})
}

#[test]
fn storage_and_secret_files_are_private() {
    hostile_umask();
    const SECRET: &str = "Fg7!dbSecret";
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let set = cloud.push_command("/device/setDevInfo", json!({"isOnlineSetDevInfo": "1", "devicePassword": SECRET}));
    // A storage directory the daemon creates itself, two levels deep.
    let mut daemon = Daemon::start_with(&cloud.url(), |c| {
        let dir = PathBuf::from(c.get("storage", "dir").and_then(|v| v.as_str()).expect("base sets storage.dir"));
        c.set("storage", "dir", dir.join("var/facegate").display().to_string());
    });
    let storage = daemon.dir().join("var/facegate");
    let result = final_result(&cloud, &set, &daemon);
    assert_eq!(result["errorCode"], "100", "{result}");
    assert_eq!(daemon.cli(&["card", "123"]).status.code(), Some(0));

    let top = daemon.dir().join("var");
    let check = |when: &str| {
        assert_eq!(mode(&top), 0o700, "{when}: the storage directory's parent it created");
        assert_eq!(mode(&storage), 0o700, "{when}: the storage directory");
        let db = storage.join("facegate.db");
        assert_eq!(mode(&db), 0o600, "{when}: {}", db.display());
        let mut holders = Vec::new();
        for p in walk(&storage) {
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_file() && fs::read(&p).is_ok_and(|b| b.windows(SECRET.len()).any(|w| w == SECRET.as_bytes())) {
                holders.push(p.clone());
                assert_eq!(mode(&p) & 0o077, 0, "{when}: {} holds devicePassword and others may read it", p.display());
            }
            if meta.is_file() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("facegate.db")) {
                assert_eq!(mode(&p), 0o600, "{when}: {}", p.display());
            }
        }
        assert!(!holders.is_empty(), "{when}: devicePassword is stored somewhere under {}", storage.display());
        holders
    };
    let running = check("while running");
    daemon.stop();
    let stopped = check("after a clean stop");
    eprintln!("files holding devicePassword: running {running:?}, stopped {stopped:?}");
}

#[test]
fn control_socket_is_owner_and_group_only() {
    hostile_umask();
    let cloud = MockCloud::start();
    let mut daemon = Daemon::start(&cloud.url(), "");
    let socket = daemon.socket_path();
    assert!(daemon.wait_until(DEADLINE, |d| d.cli(&["card", "1"]).status.success()), "{}", daemon.log_tail(30));
    let meta = fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(mode(&socket), 0o660, "control socket mode");
    // A crash leaves the socket file behind; the next start replaces it with the same mode.
    daemon.kill9();
    assert!(socket.exists(), "SIGKILL leaves the stale socket");
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o777)).unwrap();
    daemon.spawn();
    assert!(daemon.wait_until(DEADLINE, |d| d.cli(&["card", "2"]).status.success()), "{}", daemon.log_tail(30));
    assert_eq!(mode(&socket), 0o660, "control socket mode after replacing a stale one");
}

const DEVICE_PW: &str = "Dv9#secretPW";
const WIFI_PW: &str = "Wl4nSecret88";
const LOGIN_KEY: &str = "LkSecret4242";
const DOOR_PW: &str = "Dp5secret731";
const LOCAL_PW: &str = "LocSecret0123";
const SECRETS: [&str; 5] = [DEVICE_PW, WIFI_PW, LOGIN_KEY, DOOR_PW, LOCAL_PW];

/// Every secret the daemon can hold, in use: a local devicePassword in `[params]`, the
/// cloud's devicePassword, wireless password and login key (setDevInfo), a person's door
/// password (person/operate) that then opens the door; a restart, so the parameters go to
/// the cloud in uploadDevInfo. Returns the daemon, still running, with its log at `level`.
fn secrets_in_use(level: &str) -> (MockCloud, Daemon) {
    hostile_umask();
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let set = cloud.push_command(
        "/device/setDevInfo",
        json!({
            "isOnlineSetDevInfo": "1",
            "devicePassword": DEVICE_PW,
            "wirelessPassword": WIFI_PW,
            "wirelessSsid": "site-wifi",
            "loginKey": LOGIN_KEY,
        }),
    );
    let mut p = person("5001", "Door Password", "", "1");
    p["password"] = DOOR_PW.into();
    let add = cloud.push_command("/person/operate", person_command(vec![p]));
    let mut daemon = Daemon::start_with(&cloud.url(), |c| {
        c.set("log", "level", level).merge_toml(&format!("[params]\ndevicePassword = \"{LOCAL_PW}\"\n"));
    });
    assert_eq!(final_result(&cloud, &set, &daemon)["errorCode"], "100");
    assert_eq!(final_result(&cloud, &add, &daemon)["errorCode"], "100");
    let pass = daemon.cli(&["password", DOOR_PW]);
    let pass_text = String::from_utf8_lossy(&pass.stdout).to_string();
    assert!(pass_text.starts_with("door opened"), "the door password works: {pass_text}");
    cloud.clear_requests();
    daemon.restart();
    assert!(cloud.wait_until(DEADLINE, |c| c.count("/device/uploadDevInfo") > 0), "{}", cloud.dump());
    let upload = cloud.requests_to("/device/uploadDevInfo").remove(0);
    assert_eq!(upload.field("devicePassword").as_deref(), Some(DEVICE_PW), "the cloud gets what it set");
    (cloud, daemon)
}

/// The lines of `text` that show one of [`SECRETS`], labelled with `what`.
fn leaks(what: &str, text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| SECRETS.iter().any(|s| l.contains(s)))
        .map(|l| format!("{what}: {}", l.chars().take(300).collect::<String>()))
        .collect()
}

#[test]
fn secrets_never_reach_the_logs() {
    let (_cloud, mut daemon) = secrets_in_use("debug");
    daemon.stop();
    let log = daemon.log_text();
    assert!(log.contains("setDevInfo"), "the log covers the parameter change");
    let found = leaks("daemon log", &log);
    assert!(found.is_empty(), "{} log lines show a secret:\n{}", found.len(), found.join("\n"));
}

#[test]
fn secrets_never_reach_the_logs_at_trace() {
    let (_cloud, mut daemon) = secrets_in_use("trace");
    daemon.stop();
    let log = daemon.log_text();
    assert!(log.contains("POST /device/uploadDevInfo"), "trace logging was on and showed the upload");
    let found = leaks("daemon log", &log);
    assert!(found.is_empty(), "{} log lines show a secret:\n{}", found.len(), found.join("\n"));
}

/// The secrets shown by `facegate ARGS`, run against the daemon.
fn command_leaks(daemon: &Daemon, args: &[&str]) -> Vec<String> {
    let out = daemon.cli(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    leaks(&format!("facegate {}", args.join(" ")), &text)
}

#[test]
fn technician_commands_hide_secrets() {
    let (_cloud, daemon) = secrets_in_use("info");
    let mut found = Vec::new();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["persons", "show", "5001"],
        &["persons", "list"],
        &["records", "list"],
        &["doctor"],
    ] {
        found.extend(command_leaks(&daemon, args));
    }
    assert!(found.is_empty(), "{} lines show a secret:\n{}", found.len(), found.join("\n"));
}

#[test]
fn config_show_hides_secrets() {
    let (_cloud, daemon) = secrets_in_use("info");
    let found = command_leaks(&daemon, &["config", "show"]);
    assert!(found.is_empty(), "{} lines show a secret:\n{}", found.len(), found.join("\n"));
}

#[test]
fn rejected_device_password_is_not_logged() {
    hostile_umask();
    // Invalid (a space), so rejected with 400; still what someone typed as the password.
    const TYPO: &str = "Rj3 secret pw";
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let set = cloud.push_command("/device/setDevInfo", json!({"isOnlineSetDevInfo": "1", "devicePassword": TYPO}));
    let mut daemon = Daemon::start(&cloud.url(), "");
    assert_eq!(final_result(&cloud, &set, &daemon)["errorCode"], "400");
    let log = daemon.log_text();
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains(TYPO)).collect();
    assert!(leaks.is_empty(), "a rejected devicePassword is logged:\n{}", leaks.join("\n"));
    daemon.stop();
}

#[test]
fn cloud_input_never_becomes_a_path() {
    hostile_umask();
    const MARK: &str = "fgEscapeMark";
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    // Signed by a vendor the daemon trusts: these downloads get as far as the installer.
    let vendor = Vendor::new();
    let firmware = vendor.sign(&[0x7Fu8; 2048]);
    for path in [
        format!("/tmp/{MARK}"),
        format!("/a/../../../../../../../../tmp/{MARK}"),
        format!("/fw/..%2F..%2F..%2F{MARK}"),
        format!("/fw/{MARK}.bin"),
    ] {
        cloud.serve_file(&path, firmware.clone());
    }
    let url = cloud.url();
    let update_urls = [
        format!("{url}/a/../../../../../../../../tmp/{MARK}"),
        format!("{url}/fw/..%2F..%2F..%2F{MARK}"),
        format!("{url}/fw/{MARK}.bin?name=../../../../{MARK}"),
        format!("file:///tmp/{MARK}"),
    ];
    let persons = cloud.push_command(
        "/person/operate",
        person_command(vec![
            person(&format!("../../{MARK}"), "Slash", "", "1"),
            person(&format!("..\\..\\{MARK}"), "Backslash", "", "1"),
            person("..", "Dots", "", "1"),
            person("6001", "Photo id", "", &format!("../../{MARK}")),
        ]),
    );

    let tmp = tempfile::tempdir().unwrap();
    let args_file = tmp.path().join("enroll-args");
    let script = tmp.path().join("enroll.sh");
    fs::write(
        &script,
        format!("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '{}'\n", args_file.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o700)).unwrap();
    let mut daemon = Daemon::start_with(&url, |c| {
        let dir = PathBuf::from(c.get("storage", "dir").and_then(|v| v.as_str()).expect("base sets storage.dir"));
        c.set("storage", "dir", dir.join("a/b/storage").display().to_string())
            .set("recognizer", "enroll_command", script.display().to_string())
            .set("recognizer", "timeout_ms", 10_000)
            .merge_toml(&vendor.config());
    });
    let storage = daemon.dir().join("a/b/storage");

    let result = final_result(&cloud, &persons, &daemon);
    assert_eq!(result["errorCode"], "300", "persons with / or \\ in idNumber or a non-numeric photo ID: {result}");
    let msg = result["msg"].as_str().unwrap_or("");
    for bad in [format!("../../{MARK}"), format!("..\\..\\{MARK}"), "6001".to_string()] {
        assert!(msg.contains(&bad), "{bad} is named in {msg}");
    }
    let stored = daemon.cli(&["persons", "list"]);
    let stored = String::from_utf8_lossy(&stored.stdout).to_string();
    assert!(!stored.contains(MARK), "a rejected person was stored:\n{stored}");
    // One update at a time: a second one while the first runs is refused (507) untried.
    for u in &update_urls {
        let id = cloud.push_command(
            "/device/update",
            json!({"isOnlineUpdate": "1", "updateType": "0", "updateUrl": u, "updateKey": firmware.len().to_string()}),
        );
        let r = final_result(&cloud, &id, &daemon);
        let code = r["errorCode"].as_str().unwrap_or("");
        assert!(["100", "502"].contains(&code), "update from {u}: {r}");
    }

    // The recognizer saw the idNumber only as an argument, the photos as files of its own.
    let args = fs::read_to_string(&args_file).unwrap_or_default();
    assert!(args.lines().any(|l| l == ".."), "the person \"..\" was enrolled:\n{args}");
    for photo in args.lines().filter(|l| l.ends_with(".jpg")) {
        assert!(!photo.contains(MARK) && !photo.contains(".."), "photo path from cloud data: {photo}");
        assert!(Path::new(photo).file_name().is_some_and(|n| n.to_string_lossy().starts_with("photo")), "{photo}");
    }

    // Nothing named after cloud data anywhere: not in the test dir, not in /tmp.
    let mut escaped: Vec<PathBuf> =
        walk(daemon.dir()).into_iter().filter(|p| p.to_string_lossy().contains(MARK)).collect();
    let tmp_top = fs::read_dir("/tmp").map(|rd| rd.flatten().map(|e| e.path()).collect::<Vec<_>>()).unwrap_or_default();
    escaped.extend(tmp_top.into_iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(MARK))));
    assert!(escaped.is_empty(), "files named from cloud data: {escaped:?}");
    // Everything the daemon wrote is inside the storage directory (plus the harness's files).
    let harness = ["facegate.toml", "stdout.log", "stderr.log", "control.sock"];
    for p in walk(daemon.dir()) {
        let inside = p.starts_with(&storage) || storage.starts_with(&p);
        let harness_file = p.parent() == Some(daemon.dir())
            && p.file_name().is_some_and(|n| harness.contains(&n.to_string_lossy().as_ref()));
        assert!(inside || harness_file, "{} was written outside the storage directory", p.display());
    }
    let actions = fs::read_to_string(storage.join("sim-actuators.jsonl")).unwrap_or_default();
    let installs: Vec<Value> = actions
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "install")
        .collect();
    // The served files did download and install, from the fixed place in the storage.
    assert!(!installs.is_empty(), "no update was installed:\n{}", cloud.dump());
    for install in &installs {
        let path = install["path"].as_str().unwrap_or("");
        assert_eq!(Path::new(path), storage.join("update/firmware.download"), "installed from {path}");
    }
    daemon.stop();
}

/// An `openssl s_server` with a certificate for 127.0.0.1 from a fresh private CA: a TLS
/// server nobody trusts unless told to. It answers with the reversed request text, not HTTP.
struct TlsServer {
    child: Child,
    port: u16,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| dir.path().join(name);
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| {
                    panic!("this test needs the openssl command (Debian: apt-get install openssl): {e}")
                });
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        // A private CA, and a server certificate for 127.0.0.1 signed by it.
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-subj", "/CN=facegate test CA", "-days", "2", "-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat(),
        );
        openssl(
            &[&["req", "-new"][..], &ec, &["-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "leaf.csr"]]
                .concat(),
        );
        fs::write(
            file("leaf.ext"),
            "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n\
             keyUsage=critical,digitalSignature\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
        let (key, cert) = (file("key.pem"), file("cert.pem"));
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-rev", "-cert"])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            // s_server stops at the end of its input: keep a pipe open for its lifetime.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start openssl s_server");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = output.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        let mut server = TlsServer { child, port: 0, ca: file("ca.pem"), output, _dir: dir };
        let end = std::time::Instant::now() + DEADLINE;
        while server.port == 0 {
            assert!(std::time::Instant::now() < end, "openssl s_server did not start:\n{}", server.output());
            server.port = server
                .output()
                .lines()
                .find_map(|l| l.strip_prefix("ACCEPT 127.0.0.1:"))
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(0);
            thread::sleep(Duration::from_millis(10));
        }
        server
    }

    fn output(&self) -> String {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_verification_cannot_be_turned_off_by_the_cloud() {
    hostile_umask();
    let tls = TlsServer::start();
    let https = format!("https://127.0.0.1:{}", tls.port);
    let cert_errors = |log: &str| log.lines().filter(|l| l.to_lowercase().contains("certificate")).count();

    // An untrusted https cloud: the handshake is refused, nothing is ever registered.
    let mut untrusted = Daemon::start(&https, "");
    assert!(
        untrusted.wait_until(DEADLINE, |d| cert_errors(&d.log_text()) >= 2),
        "no certificate error from an untrusted server\n{}",
        untrusted.log_tail(20)
    );
    assert!(!untrusted.log_text().contains("registered with"), "{}", untrusted.log_tail(20));
    untrusted.stop();
    // The server saw every handshake fail: not one request byte was sent.
    let seen = tls.output();
    assert!(seen.contains("CONNECTION FAILURE"), "the server saw the refused handshakes:\n{seen}");
    assert!(!seen.contains("CONNECTION ESTABLISHED"), "a handshake with the untrusted server completed:\n{seen}");

    // The same server trusted through [cloud] root_ca: the handshake completes and the
    // failure is the server's non-HTTP answer, so the refusal above was the certificate.
    let cert = tls.ca.display().to_string();
    let mut trusted = Daemon::start_with(&https, |c| {
        c.set("cloud", "root_ca", cert.clone());
    });
    let failures = |d: &Daemon| -> Vec<String> {
        d.log_text().lines().filter(|l| l.contains("registration failed")).map(str::to_string).collect()
    };
    assert!(trusted.wait_until(DEADLINE, |d| failures(d).len() >= 2), "{}", trusted.log_tail(20));
    assert!(tls.output().contains("CONNECTION ESTABLISHED"), "the trusted handshake completed:\n{}", tls.output());
    assert!(
        failures(&trusted).iter().all(|l| !l.to_lowercase().contains("certificate")),
        "a trusted root still fails the handshake:\n{}",
        failures(&trusted).join("\n")
    );
    trusted.stop();

    // The cloud itself (reachable, plain http here) asks for the check to be off and for
    // firmware from the untrusted server: the parameters are not settings, the download fails.
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let set = cloud.push_command(
        "/device/setDevInfo",
        json!({
            "isOnlineSetDevInfo": "1",
            "httpsVerify": "0",
            "sslVerify": "0",
            "tlsVerify": "0",
            "verifyCertificate": "0",
            "insecure": "1",
            "httpMsgUrl": https,
        }),
    );
    let update = cloud.push_command(
        "/device/update",
        json!({"isOnlineUpdate": "1", "updateType": "0", "updateUrl": format!("{https}/fw.bin"), "updateKey": "1024"}),
    );
    // With a trusted key, so that the update gets as far as the download.
    let vendor = Vendor::new();
    let mut daemon = Daemon::start(&cloud.url(), &vendor.config());
    let set_result = final_result(&cloud, &set, &daemon);
    assert!(
        set_result["param"].as_str().unwrap_or("").is_empty(),
        "no TLS switch became a device parameter: {set_result}"
    );
    let result = final_result(&cloud, &update, &daemon);
    assert_eq!(result["errorCode"], "502", "{result}");
    let msg = result["msg"].as_str().unwrap_or("").to_lowercase();
    assert!(msg.contains("certificate"), "the download failed on the certificate: {result}");
    let heartbeats = cloud.count("/device/heatbeat");
    assert!(
        cloud.wait_until(DEADLINE, |c| c.count("/device/heatbeat") > heartbeats),
        "the daemon kept talking to its configured cloud"
    );
    daemon.stop();
}
