//! `facegate run`: claims the hardware, opens the store and wires the threads.
//!
//! Threads, not async: the scheduler (registration, heartbeat, polls), the record uploader, one
//! thread per input device feeding one channel, the gate's snapshot worker, the control socket.
//! Each part is built here and handed only the handles it needs: the gate owns the door and the
//! other actuators, the cloud session sees the gate, the settings and its own lifecycle.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;

use crate::access::doorwatch::{self, Input as DoorInput};
use crate::board::{self, BoardKind};
use crate::cloud::{self, Handles, Lifecycle, Transport};
use crate::config::Config;
use crate::ctl::{self, Request, Response};
use crate::gate::{Actuators, Gate, Passage, Wiring};
use crate::hw::BoardOptions;
use crate::hw::command::AlarmCommand;
use crate::hw::door::Door;
use crate::hw::jpeg::SnapSize;
use crate::hw::{InputEvent, InputStats, SharedParams};
use crate::model::{CardNumber, Credential, Source};
use crate::settings::{Settings, SettingsCell};
use crate::store::Store;
use crate::{Error, Result};

/// Splits a configured command line into its words ("" = none).
fn argv(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_string).collect()
}

/// Options for claiming the board, from the configuration and the hardware parameters' handle.
pub(crate) fn board_options(cfg: &Config, hw: SharedParams) -> BoardOptions {
    let install = [
        ("0", &cfg.update.install_filesystem),
        ("1", &cfg.update.install_application),
        ("3", &cfg.update.install_kernel),
    ];
    BoardOptions {
        announcer_command: Some(argv(&cfg.announcer.command)).filter(|a| !a.is_empty()),
        reboot_command: argv(&cfg.system.reboot_command),
        install_commands: install
            .into_iter()
            .filter(|(_, c)| !c.trim().is_empty())
            .map(|(t, c)| (t.to_string(), argv(c)))
            .collect(),
        params: hw,
    }
}

/// A store connection with the outbox caps of the configuration (for the threads that add
/// records or photos).
fn open_outbox(cfg: &Config) -> Result<Store> {
    let mut store = Store::open(&cfg.storage.dir)?;
    store.set_caps(cfg.storage.max_records, cfg.storage.max_record_photo_bytes);
    store.set_reserve(cfg.storage.reserve_bytes);
    Ok(store)
}

/// Runs the daemon until SIGTERM or SIGINT (or an installed update asks for a restart).
pub fn run(cfg: Config) -> Result<()> {
    log::info!("facegate {} starting, device {}", env!("CARGO_PKG_VERSION"), cfg.device.device_no);
    // A write past the file size limit (RLIMIT_FSIZE) must fail with EFBIG, as a full disk
    // fails with ENOSPC, instead of killing the daemon with SIGXFSZ: the door keeps working.
    signal_hook::flag::register(signal_hook::consts::SIGXFSZ, Arc::new(AtomicBool::new(false)))
        .map_err(|e| Error::io("installing the SIGXFSZ handler", e))?;
    // Everything that can be refused is checked before the first file is created: a missing
    // or bad board profile or an unreadable root_ca leaves no database behind.
    let profile = board::load_profile(&cfg.board.profile, cfg.path.parent())?;
    let transport = Transport::new(&cfg.cloud)?;
    // The hardware is claimed before the database is created: a board whose lines cannot be
    // had (a wrong chip, a line a kernel driver holds) leaves no database behind. A store that
    // already exists gives the stored device parameters the claim is made with.
    let stored = if Store::db_path(&cfg.storage.dir).is_file() {
        Store::open(&cfg.storage.dir)?.params()?
    } else {
        Default::default()
    };
    let settings = Arc::new(SettingsCell::new(Settings::initial(&cfg, &stored)));
    let board = crate::hw::open(&profile, &cfg.storage.dir, &board_options(&cfg, settings.hw_handle()))?;
    let mut store = Store::open(&cfg.storage.dir)?;
    crate::firmware::log_policy(&cfg.update, cfg.path.parent());
    // A download cut short by a crash or power cut is never resumed into an install.
    cloud::update::remove_stale_download(&cfg.storage.dir);
    match store.release_snapshot_waits() {
        Ok(0) => {}
        Ok(n) => log::warn!("{n} record(s) lost their camera snapshot in a crash or power cut: sent without it"),
        Err(e) => log::error!("{e}"),
    }
    drop(store);
    log::info!("board {} claimed, store {} open", board.name, cfg.storage.dir.display());
    let door = Door::new(board.relay)?;
    let gate_store = open_outbox(&cfg)?;
    // Inputs: every device thread feeds one channel; one thread hands events to the gate.
    let (tx, rx) = std::sync::mpsc::channel::<InputEvent>();
    let inputs = (board.inputs)(tx)?;
    let alarm_command = match argv(&cfg.alarm.command) {
        a if a.is_empty() => None,
        a => Some(AlarmCommand::new(a, Duration::from_millis(cfg.alarm.timeout_ms))?),
    };
    let online = Arc::new(AtomicBool::new(false));
    let uploader = Arc::new(cloud::uploader::Signal::default());
    let wake = uploader.clone();
    let (gate, snapshots) = Gate::new(
        Actuators {
            door,
            wiegand_out: board.wiegand_out,
            wiegand_format: profile.wiegand_out_format(),
            wiegand_wide: profile.wiegand_wide_cards(),
            rs485_out: board.rs485_out,
            camera: board.camera,
            announcer: board.announcer,
            door_lines: board.door_lines,
            alarm_output: board.alarm_output,
            alarm_command,
        },
        Wiring {
            settings: settings.clone(),
            store: gate_store,
            cloud_online: online.clone(),
            control_wait: Duration::from_millis(cfg.cloud.control_wait_ms),
            on_record: Box::new(move || wake.wake()),
            on_full: cfg.storage.on_full,
        },
    );
    let gate = Arc::new(gate);
    (board.door_inputs)(gate.door_events())?;
    let g = gate.clone();
    spawn("door-watch", move || g.run_door_watch())?;
    let handles = Arc::new(Handles {
        settings,
        gate: gate.clone(),
        system: Mutex::new(board.system),
        lifecycle: Lifecycle::default(),
        uploader,
        link: cloud::Link::new(cfg.cloud.retry_initial_ms, cfg.cloud.retry_max_ms, online),
        board_is_sim: profile.kind == BoardKind::Sim,
        cfg,
    });

    let g = gate.clone();
    spawn("inputs", move || {
        for ev in rx {
            // A failure is logged and noted for `facegate status` by the gate itself.
            let _ = g.present(ev.credential, ev.source);
        }
    })?;

    let g = gate.clone();
    let snapshot_store = open_outbox(&handles.cfg);
    spawn("snapshots", move || match snapshot_store {
        Ok(store) => g.run_snapshots(snapshots, store),
        Err(e) => log::error!("snapshot worker cannot open the store (records go after a restart): {e}"),
    })?;

    // SIGTERM and SIGINT each write a byte into this pair: the signals thread sleeps in `read`
    // until one comes, instead of waking to look at a flag.
    let (mut signalled, signal_pipe) =
        std::os::unix::net::UnixStream::pair().map_err(|e| Error::io("installing signal handlers", e))?;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_pipe
            .try_clone()
            .and_then(|end| signal_hook::low_level::pipe::register(sig, end))
            .map_err(|e| Error::io("installing signal handlers", e))?;
    }

    let h = handles.clone();
    let stats = inputs.stats.clone();
    let socket = ctl::serve(&handles.cfg.socket_path(), move |req| control(&h, &stats, req))?;
    log::info!("control socket {}", socket.display());

    let h = handles.clone();
    let t = transport.clone();
    let uploader = spawn("uploader", move || cloud::uploader::run(&h, &t))?;
    let h = handles.clone();
    let scheduler = spawn("scheduler", move || cloud::scheduler::run(&h, &transport))?;
    let h = handles.clone();
    spawn("signals", move || {
        use std::io::Read as _;
        let mut byte = [0u8; 1];
        loop {
            match signalled.read(&mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("waiting for SIGTERM: {e}; SIGTERM and SIGINT no longer stop the daemon");
                    return;
                }
                Ok(_) => break,
            }
        }
        h.stop();
    })?;

    // Outside systemd there is no one to notify: the result says nothing to act on.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    log::info!("ready");

    // Stopping: SIGTERM/SIGINT, or an installed update asking for a restart.
    while !handles.lifecycle.sleep(Duration::from_secs(3600)) {}
    log::info!("stopping");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    handles.stop();
    join(uploader);
    join(scheduler);
    gate.shutdown();
    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove the control socket {}: {e}", socket.display()),
    }
    if handles.lifecycle.restart_requested() {
        log::info!("stopped for a restart into the installed (or restored) agent; relay released");
    } else {
        log::info!("stopped; relay released");
    }
    Ok(())
}

/// One request on the control socket: credentials and `relay open` go to the gate.
fn control(handles: &Handles, input_stats: &Mutex<InputStats>, req: Request) -> Response {
    let gate = &handles.gate;
    let b64 = |s: Option<String>| -> std::result::Result<Option<Vec<u8>>, Response> {
        s.map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| Response::error(format!("photo is not base64: {e}")))
        })
        .transpose()
    };
    let present = |credential: Credential| passage(gate.present(credential, Source::Control));
    match req {
        // Refused before the gate: an invalid number makes no record and reaches no cloud.
        Request::Card { number } => match CardNumber::parse(&number) {
            Ok(card) => present(Credential::Card(card)),
            Err(e) => Response::error(format!("card refused: {e}")),
        },
        Request::Face { id_number, score, photo_b64 } => match b64(photo_b64) {
            Ok(photo) => present(Credential::Face { id_number, score, photo }),
            Err(r) => r,
        },
        Request::Stranger { photo_b64 } => match b64(photo_b64) {
            Ok(photo) => present(Credential::Stranger { photo }),
            Err(r) => r,
        },
        Request::Qr { data } => present(Credential::Qr(data.into_bytes())),
        Request::Password { password } => present(Credential::Password(password)),
        Request::RelayOpen { ms } => match gate.pulse(ms) {
            Ok(length) => Response {
                ok: true,
                open: true,
                detail: format!("relay pulsed for {} ms", length.as_millis()),
                ..Response::default()
            },
            Err(e) => Response::error(e.to_string()),
        },
        Request::RelayClose => {
            gate.end_pulse();
            Response { ok: true, detail: "pulse ended".into(), ..Response::default() }
        }
        Request::Input { line, state } => door_input(handles, &line, &state),
        Request::Status => {
            let stats = *input_stats.lock().unwrap_or_else(|e| e.into_inner());
            let link = handles.link.view();
            let view = gate.door_view();
            let data = serde_json::json!({
                "relay": if gate.door_is_open() { "open" } else { "closed" },
                "door": view.door,
                "alarms": if view.alarms.is_empty() { "none".to_string() } else { view.alarms.join(", ") },
                "fire_mode": if view.fire { "on: door held open" } else { "off" },
                "cloud": if link.up { "online" } else { "offline" },
                "link": { "up": link.up, "since_ms": link.since_ms, "backoff_ms": link.backoff_ms },
                "wiegand_parity_errors": stats.wiegand_parity_errors,
                "wiegand_noise": stats.wiegand_noise,
                "wiegand_unknown_length": stats.wiegand_unknown_length,
            });
            // Counted in memory too: the counter file may have been impossible to write.
            let mut data = data;
            match gate.unrecorded_passes() {
                0 => {}
                n => data["passes_not_recorded"] = n.into(),
            }
            Response { ok: true, data, ..Response::default() }
        }
        Request::Snap => match gate.snap(SnapSize::Full, Duration::from_secs(5)) {
            Ok(jpeg) => Response {
                ok: true,
                data: serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(jpeg)),
                ..Response::default()
            },
            Err(e) => Response::error(e.to_string()),
        },
    }
}

/// `facegate input LINE STATE`: a level of one of the door's inputs, on the sim board only (a
/// real board's inputs are its wires: a technician's word must not release a door or silence
/// a fire input).
fn door_input(handles: &Handles, line: &str, state: &str) -> Response {
    if !handles.board_is_sim {
        return Response::error("the door's inputs are driven from the CLI on the sim board only");
    }
    let Some(input) = DoorInput::from_name(line) else {
        let names: Vec<&str> = DoorInput::ALL.iter().map(|i| i.name()).collect();
        return Response::error(format!("no door input `{line}`; the inputs are {}", names.join(", ")));
    };
    let levels = match doorwatch::levels_of(input, state) {
        Ok(levels) => levels,
        Err(e) => return Response::error(e),
    };
    for &active in levels {
        if let Err(e) = handles.gate.door_input(input, active) {
            return Response::error(e.to_string());
        }
    }
    Response { ok: true, detail: format!("{line} {state}"), ..Response::default() }
}

/// The control socket's answer for a presented credential.
fn passage(result: Result<Passage>) -> Response {
    match result {
        Ok(p) => Response {
            ok: true,
            msg_id: p.msg_id.map(|id| id.to_string()).unwrap_or_default(),
            open: p.open,
            detail: p.detail,
            ..Response::default()
        },
        Err(e) => Response::error(e.to_string()),
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| Error::io(format!("starting the {name} thread"), e))
}

/// Waits for a thread; one that panicked has already printed why, and the daemon stops anyway.
fn join(thread: JoinHandle<()>) {
    let name = thread.thread().name().unwrap_or("?").to_string();
    if thread.join().is_err() {
        log::error!("the {name} thread panicked");
    }
}
