//! The technician's commands that need more than the store: `doctor`, `relay open` and `snap`
//! (through the running daemon when there is one), and `facegate status`.

pub mod inspect;
pub mod status;
mod text;

use std::time::Duration;

use base64::Engine as _;

use crate::board;
use crate::cloud::{self, Transport};
use crate::config::Config;
use crate::ctl::{self, Request};
use crate::daemon::board_options;
use crate::hw::door::Door;
use crate::hw::jpeg::SnapSize;
use crate::settings::{Settings, SettingsCell};
use crate::store::Store;
use crate::{Error, Result};

/// `facegate doctor`: one line per item, OK or FAIL with the reason; true when all passed.
pub fn doctor(cfg: &Config, out: &mut dyn std::io::Write) -> Result<bool> {
    let mut all_ok = true;
    let mut line = |ok: bool, item: &str, detail: &str| {
        all_ok &= ok;
        let _ = writeln!(out, "{:<4} {:<22} {}", if ok { "OK" } else { "FAIL" }, item, detail);
    };
    line(true, "config", &cfg.path.display().to_string());
    // Read-only: doctor never creates (or upgrades) the database; the daemon does. The
    // directory is made, as the daemon would, so the board checks below can write in it.
    let db = cfg.storage.dir.join(crate::store::DB_FILE);
    let made = std::fs::create_dir_all(&cfg.storage.dir);
    // Below the reserve the storage line fails whatever the database says: records are being
    // dropped to make room, and soon a pass may go unrecorded.
    let disk = status::DiskLine::of(&cfg.storage.dir, cfg.storage.reserve_bytes);
    let unrecorded = crate::store::Unrecorded::read(&cfg.storage.dir).count;
    let space = match unrecorded {
        0 => format!("; {}", disk.describe()),
        n => format!("; {}; {n} passes admitted without a record (disk full)", disk.describe()),
    };
    let mut line = |ok: bool, item: &str, detail: &str| {
        if item == "storage" {
            line(ok && !disk.below_reserve(), item, &format!("{detail}{space}"))
        } else {
            line(ok, item, detail)
        }
    };
    match Store::open_readonly(&cfg.storage.dir) {
        Err(_) if made.is_err() => {
            let why = made.err().map(|e| e.to_string()).unwrap_or_default();
            line(false, "storage", &format!("{}: {why}", cfg.storage.dir.display()))
        }
        Err(_) if !db.exists() => line(
            true,
            "storage",
            &format!("{}: no database yet (the daemon creates it on its first start)", db.display()),
        ),
        Ok(store) => match store.integrity_check() {
            Ok(r) if r == "ok" => line(
                true,
                "storage",
                &format!(
                    "{}: integrity ok, {} persons, {} pending records",
                    cfg.storage.dir.display(),
                    store.person_count().unwrap_or(0),
                    store.pending_count().unwrap_or(0)
                ),
            ),
            Ok(r) => line(false, "storage", &format!("integrity check: {r}")),
            Err(e) => line(false, "storage", &e.to_string()),
        },
        Err(e) => line(false, "storage", &e.to_string()),
    }
    match board::load_profile(&cfg.board.profile, cfg.path.parent()) {
        Ok(profile) => {
            let running = ctl::request(&cfg.socket_path(), &Request::Status, Duration::from_secs(2)).is_ok();
            if running {
                line(true, "daemon", "running: it holds the hardware, so busy lines are expected");
            }
            for d in crate::hw::doctor(&profile, &cfg.storage.dir) {
                // A line, port or camera held by the running daemon is in use, not broken.
                if !d.ok && running && d.detail.contains("busy") {
                    line(true, &d.item, &format!("in use by the running daemon ({})", d.detail));
                } else {
                    line(d.ok, &d.item, &d.detail);
                }
            }
        }
        Err(e) => line(false, "board profile", &e.to_string()),
    }
    // A configured command whose program cannot run would only show in the log at the first
    // alarm (or greeting): too late.
    for (item, command) in [("alarm command", &cfg.alarm.command), ("announcer command", &cfg.announcer.command)] {
        if !command.trim().is_empty() {
            match crate::hw::command::find_program(command) {
                Ok(path) => line(true, item, &path.display().to_string()),
                Err(e) => line(false, item, &e),
            }
        }
    }
    let (firmware_ok, firmware) = crate::firmware::policy_line(&cfg.update, cfg.path.parent());
    line(firmware_ok, "firmware updates", &firmware);
    match Transport::new(&cfg.cloud) {
        Ok(t) => match cloud::probe(&t, cfg) {
            Ok(detail) => line(true, "cloud", &detail),
            Err(e) => line(false, "cloud", &e),
        },
        Err(e) => line(false, "cloud", &e.to_string()),
    }
    Ok(all_ok)
}

/// `facegate relay open`: through the daemon if it runs, else by claiming the board directly.
pub fn relay_open(cfg: &Config, ms: Option<u64>) -> Result<String> {
    // Refused before anything is claimed or sent, whether the daemon runs or not.
    ms.map(crate::gate::check_pulse_ms).transpose()?;
    if let Ok(r) = ctl::request(&cfg.socket_path(), &Request::RelayOpen { ms }, Duration::from_secs(5)) {
        return if r.ok { Ok("relay pulsed by the daemon".into()) } else { Err(Error::Control(r.error)) };
    }
    // The daemon is not running: this process claims the board for one pulse.
    let settings = stored_settings(cfg);
    let ms = ms.unwrap_or_else(|| settings.get().open_door.as_millis() as u64);
    let profile = board::load_profile(&cfg.board.profile, cfg.path.parent())?;
    let board = crate::hw::open(&profile, &cfg.storage.dir, &board_options(cfg, settings.hw_handle()))?;
    let mut door = Door::new(board.relay)?;
    door.pulse(Duration::from_millis(ms));
    std::thread::sleep(Duration::from_millis(ms));
    door.shutdown();
    Ok(format!("relay pulsed for {ms} ms"))
}

/// `facegate relay close`: ends the daemon's running pulse. Without a daemon no pulse runs
/// (`relay open` without a daemon holds the board until its pulse ends).
pub fn relay_close(cfg: &Config) -> Result<String> {
    let r = ctl::request(&cfg.socket_path(), &Request::RelayClose, Duration::from_secs(5))?;
    if r.ok { Ok("pulse ended by the daemon".into()) } else { Err(Error::Control(r.error)) }
}

/// `facegate input LINE STATE`: drives one of the sim board's door inputs through the running
/// daemon (there is nothing to drive without it).
pub fn input(cfg: &Config, line: &str, state: &str) -> Result<String> {
    let req = Request::Input { line: line.to_string(), state: state.to_string() };
    let r = ctl::request(&cfg.socket_path(), &req, Duration::from_secs(5))?;
    if r.ok { Ok(r.detail) } else { Err(Error::Control(r.error)) }
}

/// `facegate snap`: through the daemon if it runs, else from the camera directly.
pub fn snap(cfg: &Config) -> Result<Vec<u8>> {
    if let Ok(r) = ctl::request(&cfg.socket_path(), &Request::Snap, Duration::from_secs(10)) {
        if !r.ok {
            return Err(Error::Hardware(r.error));
        }
        let b64 = r.data.as_str().unwrap_or_default();
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| Error::caused(crate::ErrorKind::Control, "bad snapshot from the daemon", e));
    }
    let settings = stored_settings(cfg);
    let profile = board::load_profile(&cfg.board.profile, cfg.path.parent())?;
    let board = crate::hw::open(&profile, &cfg.storage.dir, &board_options(cfg, settings.hw_handle()))?;
    match board.camera {
        Some(mut c) => c.snap_jpeg(SnapSize::Full, Duration::from_secs(5)),
        None => Err(Error::Hardware("this board profile has no camera".into())),
    }
}

/// The settings a running daemon would start with (the store may not exist yet: then the
/// configuration's and the spec's defaults).
fn stored_settings(cfg: &Config) -> SettingsCell {
    let stored = Store::open_readonly(&cfg.storage.dir).and_then(|s| s.params()).unwrap_or_default();
    SettingsCell::new(Settings::initial(cfg, &stored))
}
