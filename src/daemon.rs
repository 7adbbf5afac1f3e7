//! `facegate run`: claims the hardware, opens the store and starts the threads.
//!
//! Threads, not async: the scheduler (registration, heartbeat, polls), the record uploader, one
//! thread per input device, the control socket. A credential is handled on the thread that
//! received it, under one lock, so the decision engine sees events one at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::access::{self, AccessPolicy, Engine};
use crate::board::{self, BoardKind};
use crate::cloud::{self, Transport};
use crate::config::Config;
use crate::ctl::{self, Request, Response};
use crate::hw::door::Door;
use crate::hw::jpeg::SnapSize;
use crate::hw::wiegand::WiegandFormat;
use crate::hw::{
    Announcer, BoardOptions, Camera, HwParams, InputEvent, InputStats, Rs485Out, SharedParams, System, WiegandOut,
};
use crate::model::{Credential, Source};
use crate::protocol::devinfo::{DeviceParams, SnapshotMode};
use crate::store::{NewRecord, Store};
use crate::{Error, Result};

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Tells systemd's watchdog the agent is alive (a no-op outside systemd).
pub fn watchdog_ping() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
}

/// Local wall-clock time for a Unix ms and a UTC offset in hours.
pub fn local_time(unix_ms: i64, tz_hours: i32) -> chrono::NaiveDateTime {
    let utc = chrono::DateTime::from_timestamp_millis(unix_ms).unwrap_or_default().naive_utc();
    utc + chrono::Duration::hours(i64::from(tz_hours))
}

/// The actuators other than the relay, each behind its own lock.
pub struct Actuators {
    /// Wiegand output to a third-party controller.
    pub wiegand_out: Mutex<Option<Box<dyn WiegandOut>>>,
    /// RS485 transmitter.
    pub rs485_out: Mutex<Option<Box<dyn Rs485Out>>>,
    /// Camera.
    pub camera: Mutex<Option<Box<dyn Camera>>>,
    /// Voice and display.
    pub announcer: Mutex<Box<dyn Announcer>>,
    /// Reboot, clock, install.
    pub system: Mutex<Box<dyn System>>,
}

/// State shared by every thread of the daemon.
pub struct Shared {
    /// The configuration.
    pub cfg: Config,
    /// The device parameters currently in force (cloud-set or defaults).
    pub params: RwLock<DeviceParams>,
    /// Bumped whenever `params` changes, so cached policies are rebuilt.
    pub params_version: AtomicU64,
    /// The door relay controller.
    door: Mutex<Door>,
    /// The board's Wiegand output format (26 or 34 bits).
    pub wiegand_format: WiegandFormat,
    /// Device parameters the hardware threads follow live.
    pub hw_params: SharedParams,
    /// The other actuators.
    pub actuators: Actuators,
    /// Whether the last exchange with the cloud succeeded.
    pub online: AtomicBool,
    /// Set on SIGTERM/SIGINT; sleeping threads wait on it.
    stop: (Mutex<bool>, Condvar),
    /// Wakes the uploader when a record was committed or the schedule changed.
    pub uploader_wake: (Mutex<bool>, Condvar),
    /// Records whose door waits for the cloud's controlState, with their deadlines.
    pub awaiting: Mutex<HashMap<u64, Instant>>,
    /// Input counters, kept up to date by the hardware threads themselves.
    pub input_stats: Arc<Mutex<InputStats>>,
    /// The recognizer's most recent face photo, for face/photo with photoType 0.
    pub last_face_photo: Mutex<Option<(Instant, Vec<u8>)>>,
    /// Whether the cloud's recordService is on.
    pub record_service: AtomicBool,
    /// Whether the board is the sim board (never touches the host).
    pub board_is_sim: bool,
    /// Set when a new agent was installed and this process should exit to be replaced.
    pub restart_requested: AtomicBool,
    /// Whether the board has a camera (read without waiting for a snapshot in progress).
    has_camera: bool,
    /// Records to give a camera snapshot once their door opened (see [`snapshot_worker`]).
    snapshots: std::sync::mpsc::Sender<(u64, SnapSize, Instant)>,
    access: Mutex<AccessWorker>,
}

struct AccessWorker {
    store: Store,
    engine: Engine,
    policy: AccessPolicy,
    policy_version: u64,
}

impl Shared {
    /// Wakes the uploader thread.
    pub fn wake_uploader(&self) {
        let (lock, cv) = &self.uploader_wake;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    /// Waits until woken or `timeout`; returns early on shutdown.
    pub fn wait_uploader(&self, timeout: Duration) {
        let (lock, cv) = &self.uploader_wake;
        let mut woken = lock.lock().unwrap_or_else(|e| e.into_inner());
        if !*woken && !self.is_shutting_down() {
            woken = cv.wait_timeout(woken, timeout).unwrap_or_else(|e| e.into_inner()).0;
        }
        *woken = false;
    }

    /// Whether the daemon is stopping.
    pub fn is_shutting_down(&self) -> bool {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks every thread to stop and wakes the sleepers.
    pub fn request_shutdown(&self) {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.1.notify_all();
        self.wake_uploader();
    }

    /// Sleeps up to `d` (a blocking wait), returning early with true on shutdown.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = self.stop.0.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self.stop.1.wait_timeout(stopped, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// A copy of the device parameters in force.
    pub fn params(&self) -> DeviceParams {
        self.params.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts new device parameters in force without a restart.
    pub fn set_params(&self, params: DeviceParams) {
        let hold = params.always_open_door();
        *self.params.write().unwrap_or_else(|e| e.into_inner()) = params;
        self.params_version.fetch_add(1, Ordering::SeqCst);
        self.hw_params.set(hw_params(&self.params()));
        self.door().set_hold(hold);
    }

    /// Local time now, in the device's time zone.
    pub fn local_now(&self, unix_ms: i64) -> chrono::NaiveDateTime {
        local_time(unix_ms, self.time_zone())
    }

    /// Pulses the door for the configured openDoorTimeDelayMs (or `ms`).
    pub fn open_door(&self, ms: Option<u64>) {
        let ms = ms.unwrap_or_else(|| u64::from(self.params().open_door_time_delay_ms()));
        self.door().pulse(Duration::from_millis(ms));
    }

    /// Speaks and shows a text (either may be empty).
    pub fn announce(&self, voice: &str, display: &str) {
        if voice.is_empty() && display.is_empty() {
            return;
        }
        self.actuators.announcer.lock().unwrap_or_else(|e| e.into_inner()).announce(voice, display);
    }

    /// One camera frame as a JPEG of `size`, if there is a camera.
    pub fn snap(&self, size: SnapSize, timeout: Duration) -> Result<Vec<u8>> {
        let mut cam = self.actuators.camera.lock().unwrap_or_else(|e| e.into_inner());
        match cam.as_mut() {
            Some(c) => c.snap_jpeg(size, timeout),
            None => Err(Error::Hardware("this board profile has no camera".into())),
        }
    }

    /// Handles one credential: decide, commit the record, then drive the door.
    pub fn present(&self, credential: Credential, source: Source) -> Response {
        match self.present_inner(credential, source) {
            Ok(r) => r,
            Err(e) => {
                log::error!("credential not handled: {e}");
                cloud::note_error(self, &e.to_string());
                Response::error(e.to_string())
            }
        }
    }

    fn present_inner(&self, credential: Credential, source: Source) -> Result<Response> {
        let mut w = self.access.lock().unwrap_or_else(|e| e.into_inner());
        let version = self.params_version.load(Ordering::SeqCst);
        let params = self.params();
        if w.policy_version != version {
            let (policy, warnings) = AccessPolicy::from_params(params.as_map());
            for w in warnings {
                log::warn!("device parameters: {w}");
            }
            w.policy = policy;
            w.policy_version = version;
        }
        let person = match &credential {
            // Readers and clouds disagree on leading zeros: 0008899 is card 8899.
            Credential::Card(n) => match w.store.person_by_card(n)? {
                None if n.starts_with('0') => w.store.person_by_card(n.trim_start_matches('0'))?,
                found => found,
            },
            Credential::Face { id_number, .. } => w.store.person(id_number)?,
            Credential::Password(p) => w.store.person_by_password(p)?,
            _ => None,
        };
        let now = now_ms();
        let local = self.local_now(now);
        let AccessWorker { engine, policy, store, .. } = &mut *w;
        let decision = engine.decide(&credential, person.as_ref(), policy, local, now);
        log::info!(
            "{source:?} {}: {} ({})",
            describe(&credential),
            if decision.open {
                "open"
            } else if decision.await_cloud {
                "cloud decides"
            } else {
                "denied"
            },
            decision.reason
        );
        if !decision.record {
            if decision.open {
                self.open_door(None);
            }
            self.announce(&decision.voice, &decision.display);
            let detail = if decision.repeat {
                format!("{}; same person within recogIntervalTime: not recorded again", decision.reason)
            } else {
                decision.reason.to_string()
            };
            return Ok(Response { ok: true, open: decision.open, detail, ..Response::default() });
        }
        let mut fields = access::record_fields(&decision, person.as_ref(), &credential, policy);
        fields.insert("passTime".into(), crate::protocol::time::format_pass_time(local));
        let recognition_photo = match &credential {
            Credential::Face { photo, .. } | Credential::Stranger { photo } => {
                if let Some(p) = photo {
                    *self.last_face_photo.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), p.clone()));
                }
                photo.clone()
            }
            _ => None,
        };
        // jpegEncodeSizeMode: the recognizer's photo as it gave it; otherwise (cards,
        // passwords, QR codes, a face without a photo) a camera frame of that size, taken after
        // the door opened so the camera never delays it.
        let snap_size = match params.jpeg_encode_size_mode() {
            SnapshotMode::NoImage => None,
            SnapshotMode::SmallFace => Some(SnapSize::Small),
            SnapshotMode::FullImage => Some(SnapSize::Full),
        };
        let recognition_photo = snap_size.and(recognition_photo);
        let snapshot = snap_size.filter(|_| recognition_photo.is_none() && self.has_camera);
        let compare_ref = person.as_ref().and_then(|p| {
            let slot = store.photos_slots(&p.id_number).ok()?.into_iter().next()?;
            Some((p.id_number.clone(), slot))
        });
        let held = !self.online.load(Ordering::Relaxed) && !params.cloud_offline_retransmission();
        let outcome = store.insert_record(&NewRecord {
            created_ms: now,
            fields,
            recognition_photo,
            compare_ref,
            held,
            awaiting_snapshot: snapshot.is_some(),
        })?;
        if outcome.evicted > 0 {
            log::warn!(
                "storage cap reached: {} undelivered record(s) dropped to keep record {}",
                outcome.evicted,
                outcome.msg_id
            );
        }
        drop(w);
        // The record is durable: now the door and the network may hear of it.
        if decision.open {
            self.open_door(None);
            self.wiegand_forward(&credential);
        }
        if decision.await_cloud {
            let wait = Duration::from_millis(self.cfg.cloud.control_wait_ms);
            self.awaiting.lock().unwrap_or_else(|e| e.into_inner()).insert(outcome.msg_id, Instant::now() + wait);
        }
        self.announce(&decision.voice, &decision.display);
        match snapshot {
            // The worker wakes the uploader once the photo is attached.
            Some(size) => {
                if self.snapshots.send((outcome.msg_id, size, Instant::now())).is_err() {
                    log::warn!("record {}: no snapshot worker; sent without a photo after restart", outcome.msg_id);
                }
            }
            None => self.wake_uploader(),
        }
        let detail = if decision.await_cloud {
            format!("{}; waiting for the cloud's controlState", decision.reason)
        } else {
            decision.reason.to_string()
        };
        Ok(Response {
            ok: true,
            msg_id: outcome.msg_id.to_string(),
            open: decision.open,
            detail,
            ..Response::default()
        })
    }

    /// Forwards a granted card on the Wiegand output when entranceWgOutMode asks for it.
    fn wiegand_forward(&self, credential: &Credential) {
        let Credential::Card(number) = credential else { return };
        let mode = self.params().get("entranceWgOutMode").to_string();
        if let Err(e) = self.wiegand_send(&mode, number) {
            log::warn!("Wiegand output: {e}");
        }
    }

    /// Sends `card` on the Wiegand output under out-mode `mode` (nothing when the mode is off).
    pub fn wiegand_send(&self, mode: &str, card: &str) -> Result<()> {
        let Some(bits) = crate::hw::wiegand::out_frame(mode, card, self.wiegand_format)? else {
            return Ok(());
        };
        match self.actuators.wiegand_out.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(out) => out.send(&bits),
            None => Err(Error::Hardware("this board profile has no Wiegand output".into())),
        }
    }

    /// The door controller.
    pub fn door(&self) -> std::sync::MutexGuard<'_, Door> {
        self.door.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device's UTC offset in hours (cloud-set timeZone, else `[device] time_zone`).
    pub fn time_zone(&self) -> i32 {
        self.params().time_zone_hours()
    }

    /// Live status for `facegate status` through the control socket.
    pub fn live_status(&self) -> serde_json::Value {
        let stats = *self.input_stats.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({
            "door": if self.door().state().open { "open" } else { "closed" },
            "cloud": if self.online.load(Ordering::Relaxed) { "online" } else { "offline" },
            "wiegand_parity_errors": stats.wiegand_parity_errors,
            "wiegand_noise": stats.wiegand_noise,
            "wiegand_unknown_length": stats.wiegand_unknown_length,
        })
    }

    fn control(&self, req: Request) -> Response {
        let b64 = |s: Option<String>| -> std::result::Result<Option<Vec<u8>>, Response> {
            s.map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|e| Response::error(format!("photo is not base64: {e}")))
            })
            .transpose()
        };
        match req {
            Request::Card { number } => self.present(Credential::Card(number.trim().to_string()), Source::Control),
            Request::Face { id_number, score, photo_b64 } => match b64(photo_b64) {
                Ok(photo) => self.present(Credential::Face { id_number, score, photo }, Source::Control),
                Err(r) => r,
            },
            Request::Stranger { photo_b64 } => match b64(photo_b64) {
                Ok(photo) => self.present(Credential::Stranger { photo }, Source::Control),
                Err(r) => r,
            },
            Request::Qr { data } => self.present(Credential::Qr(data.into_bytes()), Source::Control),
            Request::Password { password } => self.present(Credential::Password(password), Source::Control),
            Request::RelayOpen { ms } => {
                self.open_door(ms);
                Response { ok: true, open: true, detail: "relay pulsed".into(), ..Response::default() }
            }
            Request::Status => Response { ok: true, data: self.live_status(), ..Response::default() },
            Request::Snap => match self.snap(SnapSize::Full, Duration::from_secs(5)) {
                Ok(jpeg) => Response {
                    ok: true,
                    data: serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(jpeg)),
                    ..Response::default()
                },
                Err(e) => Response::error(e.to_string()),
            },
        }
    }
}

fn describe(c: &Credential) -> String {
    match c {
        Credential::Card(n) => format!("card {n}"),
        Credential::Face { id_number, .. } => format!("face {id_number}"),
        Credential::Stranger { .. } => "stranger".into(),
        Credential::Qr(d) => format!("QR code ({} bytes)", d.len()),
        Credential::Password(_) => "password".into(),
        Credential::Rs485(d) => format!("RS485 data ({} bytes)", d.len()),
    }
}

/// The hardware-relevant device parameters.
pub fn hw_params(params: &DeviceParams) -> HwParams {
    HwParams {
        serial_baud: params.entrance_serial_baud_rate(),
        serial_in_mode: params.get("entranceSerialInMode").to_string(),
        wiegand_in_mode: params.get("entranceWgInMode").to_string(),
        wiegand_out_mode: params.get("entranceWgOutMode").to_string(),
    }
}

/// Splits a configured command line into its words ("" = none).
fn argv(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_string).collect()
}

/// Options for claiming the board, from the configuration and the device parameters.
pub fn board_options(cfg: &Config, hw: SharedParams) -> BoardOptions {
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

/// The device parameters in force at start: what the cloud set (stored), over the local
/// `[params]` of the configuration and `[device] time_zone`, over the spec's defaults.
pub fn initial_params(cfg: &Config, stored: &std::collections::BTreeMap<String, String>) -> DeviceParams {
    let mut merged = cfg.params.clone();
    merged.entry("timeZone".into()).or_insert_with(|| cfg.device.time_zone.to_string());
    merged.extend(stored.iter().map(|(k, v)| (k.clone(), v.clone())));
    DeviceParams::from_stored(&merged)
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(cfg: Config) -> Result<()> {
    log::info!("facegate {} starting, device {}", env!("CARGO_PKG_VERSION"), cfg.device.device_no);
    let store = Store::open(&cfg.storage.dir)?;
    crate::firmware::log_policy(&cfg.update, cfg.path.parent());
    // A download cut short by a crash or power cut is never resumed into an install.
    cloud::update::remove_stale_download(&cfg.storage.dir);
    let params = initial_params(&cfg, &store.params()?);
    let mut store = store;
    match store.release_snapshot_waits() {
        Ok(0) => {}
        Ok(n) => log::warn!("{n} record(s) lost their camera snapshot in a crash or power cut: sent without it"),
        Err(e) => log::error!("{e}"),
    }
    let hw_params = SharedParams::new(hw_params(&params));
    let profile = board::load_profile(&cfg.board.profile, cfg.path.parent())?;
    let board = crate::hw::open(&profile, &cfg.storage.dir, &board_options(&cfg, hw_params.clone()))?;
    log::info!("board {} claimed, store {} open", board.name, cfg.storage.dir.display());
    let transport = Transport::new(&cfg.cloud)?;
    let door = Door::new(board.relay)?;
    door.set_hold(params.always_open_door());
    let mut access_store = Store::open(&cfg.storage.dir)?;
    access_store.set_caps(cfg.storage.max_records, cfg.storage.max_record_photo_bytes);
    // Inputs: every device thread feeds one channel; one thread hands events to the engine.
    let (tx, rx) = std::sync::mpsc::channel::<InputEvent>();
    let inputs = (board.inputs)(tx)?;
    let (snap_tx, snap_rx) = std::sync::mpsc::channel();
    let has_camera = board.camera.is_some();
    let shared = Arc::new(Shared {
        params: RwLock::new(params),
        params_version: AtomicU64::new(1),
        door: Mutex::new(door),
        actuators: Actuators {
            wiegand_out: Mutex::new(board.wiegand_out),
            rs485_out: Mutex::new(board.rs485_out),
            camera: Mutex::new(board.camera),
            announcer: Mutex::new(board.announcer),
            system: Mutex::new(board.system),
        },
        online: AtomicBool::new(false),
        stop: (Mutex::new(false), Condvar::new()),
        uploader_wake: (Mutex::new(false), Condvar::new()),
        awaiting: Mutex::new(HashMap::new()),
        input_stats: inputs.stats.clone(),
        last_face_photo: Mutex::new(None),
        record_service: AtomicBool::new(true),
        board_is_sim: profile.kind == BoardKind::Sim,
        wiegand_format: profile.wiegand_out_format(),
        hw_params,
        restart_requested: AtomicBool::new(false),
        has_camera,
        snapshots: snap_tx,
        access: Mutex::new(AccessWorker {
            store: access_store,
            engine: Engine::default(),
            policy: AccessPolicy::default(),
            policy_version: 0,
        }),
        cfg,
    });
    drop(store);

    let s = shared.clone();
    spawn("inputs", move || {
        for ev in rx {
            s.present(ev.credential, ev.source);
        }
    })?;

    let s = shared.clone();
    spawn("snapshots", move || snapshot_worker(&s, &snap_rx))?;

    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, term.clone()).map_err(|e| Error::io("installing signal handlers", e))?;
    }

    let s = shared.clone();
    let socket = ctl::serve(&shared.cfg.socket_path(), move |req| s.control(req))?;
    log::info!("control socket {}", socket.display());

    let s = shared.clone();
    let t = transport.clone();
    let uploader = spawn("uploader", move || cloud::uploader::run(&s, &t))?;
    let s = shared.clone();
    let scheduler = spawn("scheduler", move || cloud::scheduler::run(&s, &transport))?;
    let s = shared.clone();
    spawn("signals", move || {
        while !term.load(Ordering::Relaxed) && !s.is_shutting_down() {
            std::thread::sleep(Duration::from_millis(200));
        }
        s.request_shutdown();
    })?;

    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    log::info!("ready");

    // Stopping: SIGTERM/SIGINT, or an installed update asking for a restart.
    while !shared.sleep(Duration::from_secs(3600)) {}
    log::info!("stopping");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    shared.request_shutdown();
    let _ = uploader.join();
    let _ = scheduler.join();
    shared.door().shutdown();
    let _ = std::fs::remove_file(&socket);
    if shared.restart_requested.load(Ordering::SeqCst) {
        log::info!("stopped for a restart into the installed (or restored) agent; relay released");
    } else {
        log::info!("stopped; relay released");
    }
    Ok(())
}

/// How long a record's camera snapshot may take before the record goes without one.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(3);

/// A snapshot taken later than this after its event would not show who passed: in a burst of
/// events faster than the camera, the records that waited this long go without one.
const SNAPSHOT_MAX_DELAY: Duration = Duration::from_secs(1);

/// Takes the camera snapshot of each record queued by [`Shared::present`], attaches it and wakes
/// the uploader; a failed snapshot is logged and the record goes without a photo.
fn snapshot_worker(shared: &Shared, queue: &std::sync::mpsc::Receiver<(u64, SnapSize, Instant)>) {
    let mut store = match Store::open(&shared.cfg.storage.dir) {
        Ok(s) => s,
        Err(e) => {
            log::error!("snapshot worker cannot open the store (records go after a restart): {e}");
            return;
        }
    };
    store.set_caps(shared.cfg.storage.max_records, shared.cfg.storage.max_record_photo_bytes);
    let mut late = 0u64;
    for (msg_id, size, queued) in queue {
        let photo = if queued.elapsed() > SNAPSHOT_MAX_DELAY {
            late += 1;
            if late.is_power_of_two() {
                log::warn!("{late} record(s) so far went without a snapshot: events came faster than the camera");
            }
            None
        } else {
            match shared.snap(size, SNAPSHOT_TIMEOUT) {
                Ok(p) => Some(p),
                Err(e) => {
                    log::warn!("record {msg_id}: no camera snapshot, sent without a photo: {e}");
                    None
                }
            }
        };
        match store.attach_snapshot(msg_id, photo.as_deref()) {
            Ok(0) => {}
            Ok(evicted) => {
                log::warn!("storage cap reached: {evicted} undelivered record(s) dropped for record {msg_id}'s photo")
            }
            Err(e) => log::error!("record {msg_id}: {e}; it goes after a restart"),
        }
        shared.wake_uploader();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| Error::io(format!("starting the {name} thread"), e))
}

/// `facegate doctor`: one line per item, OK or FAIL with the reason; true when all passed.
pub fn doctor(cfg: &Config, out: &mut dyn std::io::Write) -> Result<bool> {
    let mut all_ok = true;
    let mut line = |ok: bool, item: &str, detail: &str| {
        all_ok &= ok;
        let _ = writeln!(out, "{:<4} {:<22} {}", if ok { "OK" } else { "FAIL" }, item, detail);
    };
    line(true, "config", &cfg.path.display().to_string());
    match Store::open(&cfg.storage.dir) {
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
    if let Ok(r) = ctl::request(&cfg.socket_path(), &Request::RelayOpen { ms }, Duration::from_secs(5)) {
        return if r.ok { Ok("relay pulsed by the daemon".into()) } else { Err(Error::Control(r.error)) };
    }
    let params = stored_params(cfg);
    let ms = ms.unwrap_or_else(|| u64::from(params.open_door_time_delay_ms()));
    let profile = board::load_profile(&cfg.board.profile, cfg.path.parent())?;
    let board =
        crate::hw::open(&profile, &cfg.storage.dir, &board_options(cfg, SharedParams::new(hw_params(&params))))?;
    let mut door = Door::new(board.relay)?;
    door.pulse(Duration::from_millis(ms));
    std::thread::sleep(Duration::from_millis(ms));
    door.shutdown();
    Ok(format!("relay pulsed for {ms} ms"))
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
            .map_err(|e| Error::Control(format!("bad snapshot from the daemon: {e}")));
    }
    let params = stored_params(cfg);
    let profile = board::load_profile(&cfg.board.profile, cfg.path.parent())?;
    let board =
        crate::hw::open(&profile, &cfg.storage.dir, &board_options(cfg, SharedParams::new(hw_params(&params))))?;
    match board.camera {
        Some(mut c) => c.snap_jpeg(SnapSize::Full, Duration::from_secs(5)),
        None => Err(Error::Hardware("this board profile has no camera".into())),
    }
}

fn stored_params(cfg: &Config) -> DeviceParams {
    let stored = Store::open_readonly(&cfg.storage.dir).and_then(|s| s.params()).unwrap_or_default();
    initial_params(cfg, &stored)
}
