//! A standalone mock cloud for demos and manual tests: serves the protocol on 127.0.0.1
//! until killed and prints one line per request.
//!
//! ```text
//! cargo run --example mock_cloud -- --port 8090 [--persons N] [--interval SECS] [--firmware FILE]
//! ```
//!
//! `--persons N` queues N person additions (card numbers, no photos) on `/person/operate`;
//! `--interval` is the poll interval handed out in registerResp (default 2 seconds, every
//! service on); `--firmware` serves a file at `/firmware/<name>` for `device/update`.
//!
//! Commands can be queued while it runs: each line on stdin is `PATH JSON`, e.g.
//! `/device/open {"isOnlineOpen":"1","msg":"hello"}`.

// The file allows dead code itself: the example uses a part of it.
#[path = "../tests/common/mock_cloud.rs"]
mod mock_cloud;

use mock_cloud::MockCloud;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: mock_cloud [--port PORT] [--persons N] [--interval SECS] [--firmware FILE]\n\
                     stdin: one command per line, `PATH JSON`, queued for that endpoint";

struct Args {
    port: u16,
    persons: u32,
    interval: u32,
    firmware: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { port: 8090, persons: 0, interval: 2, firmware: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--port" => args.port = number(&value("--port")?, "--port")?,
            "--persons" => args.persons = number(&value("--persons")?, "--persons")?,
            "--interval" => args.interval = number(&value("--interval")?, "--interval")?,
            "--firmware" => args.firmware = Some(value("--firmware")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn number<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{name}: not a number: {s}"))
}

/// A person addition as the cloud sends it on `person/operate` (protocol.md §2.10).
fn person_command(i: u32) -> Value {
    json!({
        "isRegisterPersonInfo": "1",
        "personInfoCount": "1",
        "personInfoData": [{
            "operateType": "0",
            "idNumber": (10001 + i).to_string(),
            "name": format!("Person {}", i + 1),
            "normalNumber": (800001 + i).to_string(),
            "validDateStart": "2020_01_01",
            "validDateEnd": "2099_12_31",
            "priority": "0",
        }],
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("mock_cloud: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    let cloud = match MockCloud::start_on(args.port) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mock_cloud: cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let mut services = MockCloud::fast_services();
    let interval = args.interval.to_string();
    if let Value::Object(m) = &mut services {
        for (k, v) in m.iter_mut() {
            if k.ends_with("Interval") {
                *v = interval.clone().into();
            }
        }
    }
    cloud.set_register_resp(services);
    // It runs until killed: keep the request log (only used for printing) small.
    cloud.keep_last(100);
    cloud.elide_strings_over(256);
    for i in 0..args.persons {
        cloud.push_command("/person/operate", person_command(i));
    }
    if let Some(file) = &args.firmware {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("mock_cloud: cannot read {file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let name = Path::new(file).file_name().map_or("firmware.bin".into(), |n| n.to_string_lossy().into_owned());
        println!("firmware: {}/firmware/{name} ({} bytes = updateKey)", cloud.url(), bytes.len());
        cloud.serve_file(&format!("/firmware/{name}"), bytes);
    }
    let started = Instant::now();
    cloud.on_request(move |r| {
        let mut line = format!("{:9.3}s {} {}", started.elapsed().as_secs_f64(), r.method, r.path);
        if let Some(t) = r.msg_type() {
            line.push_str(&format!(" {t}"));
        }
        for key in ["msgID", "index", "errorCode", "normalNumber", "snapType", "compareResult"] {
            if let Some(v) = r.field(key) {
                line.push_str(&format!(" {key}={v}"));
            }
        }
        for key in ["recognitionPhoto", "photo"] {
            if let Some(photo) = r.field(key) {
                // Long strings are kept as "<N bytes elided>": N is the Base64 length.
                let len = photo
                    .strip_prefix('<')
                    .and_then(|p| p.strip_suffix(" bytes elided>"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(photo.len());
                line.push_str(&format!(" {key}={len}b64"));
            }
        }
        if let Some(raw) = &r.raw {
            line.push_str(&format!(" ({} bytes, not JSON)", raw.len()));
        }
        println!("{line} -> {}", r.answer);
    });
    println!("mock cloud listening on {} ({} person commands queued)", cloud.url(), args.persons);
    for line in std::io::stdin().lines().map_while(Result::ok) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once(' ').map(|(path, cmd)| (path, serde_json::from_str::<Value>(cmd.trim()))) {
            Some((path, Ok(cmd))) => {
                let msg_id = cloud.push_command(path, cmd);
                println!("queued {path} msgID={msg_id}");
            }
            _ => eprintln!("mock_cloud: stdin line is not `PATH JSON`: {line}"),
        }
    }
    loop {
        std::thread::park();
    }
}
