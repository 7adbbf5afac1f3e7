//! The newcomer's first run: the real `facegate` daemon on the sim board against a local mock
//! cloud, narrated in plain lines. It ends by itself: exit 0 when every step was seen.
//!
//! Run it with `scripts/demo.sh` (which builds everything first).

#[path = "../tests/common/mock_cloud.rs"]
mod mock_cloud;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use mock_cloud::MockCloud;
use serde_json::{Value, json};

const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    match demo() {
        Ok(()) => println!("demo finished: every step seen"),
        Err(e) => {
            println!("demo FAILED: {e}");
            std::process::exit(1);
        }
    }
}

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo() -> Result<(), String> {
    let bin = facegate_binary()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cloud = MockCloud::start();
    cloud.set_register_resp(json!({
        "errorCode": "100",
        "personService": "1", "personServiceInterval": "1",
        "openService": "1", "openServiceInterval": "1",
        "heatbeatService": "1", "heatbeatServiceInterval": "5",
        "recordService": "1",
        "setDevInfoService": "1", "setDevInfoServiceInterval": "1",
    }));
    // Card alone opens (faceRFIDCardEnable 1); the spec's default wants a face with the card.
    let set_msg =
        cloud.push_command("/device/setDevInfo", json!({"isOnlineSetDevInfo": "1", "faceRFIDCardEnable": "1"}));
    let persons = [("1001", "张三", "8899"), ("1002", "李四", "8900"), ("1003", "Alice", "8901")];
    for (id, name, card) in persons {
        cloud.push_command("/person/operate", person_command(id, name, card));
    }
    let config = write_config(dir.path(), &cloud.url())?;
    println!("mock cloud listening on {}", cloud.url());
    println!("starting {} run --config {}", bin.display(), config.display());
    let log = dir.path().join("facegate.log");
    let child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let daemon = Daemon { child, log };

    step(&cloud, &daemon, "registration", |c| c.count("/device/register") > 0)?;
    let reg = cloud.requests_to("/device/register").remove(0);
    println!(
        "registered: device {} signed {}",
        reg.field("deviceNo").unwrap_or_default(),
        reg.field("sign").unwrap_or_default()
    );

    step(&cloud, &daemon, "device parameters set", |c| !c.results_for(&set_msg).is_empty())?;
    println!(
        "the cloud set faceRFIDCardEnable=1 (card or face opens): result {}",
        cloud.results_for(&set_msg)[0].get("errorCode").and_then(Value::as_str).unwrap_or("")
    );

    step(&cloud, &daemon, "three persons synced", |c| {
        c.requests_to("/person/operate")
            .iter()
            .filter(|r| r.is_result() && r.field("errorCode").as_deref() == Some("100"))
            .count()
            >= 3
    })?;
    println!("three persons synced: {}", persons.map(|p| p.1).join(", "));

    let out = Command::new(&bin).args(["card", "8899", "--config"]).arg(&config).output().map_err(|e| e.to_string())?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !said.starts_with("door opened") {
        return Err(format!("card 8899 did not open the door: {said} {}", String::from_utf8_lossy(&out.stderr)));
    }
    wait_relay(dir.path(), "open", 1)?;
    println!("a card read opened the door: card 8899 -> {said}");

    step(&cloud, &daemon, "record upload", |c| !c.records().is_empty())?;
    let rec = cloud.records().remove(0);
    let f = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    println!(
        "the record reached the cloud: msgID {} for {} {} (snapType {}, compareResult {})",
        f("msgID"),
        f("idNumber"),
        f("name"),
        f("snapType"),
        f("compareResult")
    );

    // Let the card's pulse end first, so the remote open shows as a pulse of its own.
    // (The first "closed" is the release at start-up.)
    wait_relay(dir.path(), "closed", 2)?;
    let msg_id = cloud.push_command("/device/open", json!({"isOnlineOpen": "1", "msg": "欢迎光临"}));
    step(&cloud, &daemon, "remote open reported", |c| !c.results_for(&msg_id).is_empty())?;
    wait_relay(dir.path(), "open", 2)?;
    let result = cloud.results_for(&msg_id).remove(0);
    println!(
        "a remote open: relay pulsed, result reported (msgID {}, errorCode {})",
        msg_id,
        result.get("errorCode").and_then(Value::as_str).unwrap_or("")
    );
    drop(daemon);
    Ok(())
}

fn step(cloud: &MockCloud, daemon: &Daemon, what: &str, cond: impl Fn(&MockCloud) -> bool) -> Result<(), String> {
    if cloud.wait_until(STEP_TIMEOUT, cond) {
        return Ok(());
    }
    let log = std::fs::read_to_string(&daemon.log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    Err(format!(
        "no {what} within {} s; daemon log ends:\n{}",
        STEP_TIMEOUT.as_secs(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

/// Waits until the sim actuator log shows the relay in `state` `n` times.
fn wait_relay(dir: &Path, state: &str, n: usize) -> Result<(), String> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while relay_count(dir, state) < n {
        if Instant::now() > deadline {
            return Err(format!(
                "relay {state} {} times in the sim actuator log, expected {n}",
                relay_count(dir, state)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn relay_count(dir: &Path, state: &str) -> usize {
    std::fs::read_to_string(dir.join("sim-actuators.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "relay" && v["state"] == state)
        .count()
}

/// The `facegate` binary built beside this example (target/<profile>/facegate).
fn facegate_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FACEGATE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin =
        exe.parent().and_then(Path::parent).map(|d| d.join("facegate")).ok_or("cannot locate the target directory")?;
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!("{} not built: run `cargo build --release` first (scripts/demo.sh does)", bin.display()))
    }
}

fn write_config(dir: &Path, url: &str) -> Result<PathBuf, String> {
    let path = dir.join("facegate.toml");
    let text = format!(
        "[device]\ndevice_no = \"FGDEMO01\"\n\n[cloud]\nurl = \"{url}\"\nretry_initial_ms = 200\nretry_max_ms = 2000\n\n\
         [storage]\ndir = \"{}\"\n\n[board]\nprofile = \"sim\"\n",
        dir.display()
    );
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

fn person_command(id: &str, name: &str, card: &str) -> Value {
    json!({
        "isRegisterPersonInfo": "1",
        "personInfoCount": "1",
        "personInfoData": [{
            "operateType": "0",
            "idNumber": id,
            "name": name,
            "normalNumber": card,
            "validDateStart": "2020_01_01",
            "validDateEnd": "2099_12_31",
            "priority": "2",
            "registerPhoto1": tiny_jpeg_b64(),
            "registerPhotoID1": "1",
        }]
    })
}

/// A small grey JPEG, so the persons have a real registration photo.
fn tiny_jpeg_b64() -> String {
    let mut out = Vec::new();
    let pixels = vec![128u8; 32 * 32 * 3];
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, 32, 32, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a constant image cannot fail");
    base64::engine::general_purpose::STANDARD.encode(out)
}
