//! The gate: the one place a credential becomes a decision, a committed record, a door pulse,
//! a Wiegand forward and a snapshot request — and the one owner of the door and the other
//! actuators (Wiegand and RS485 out, camera, voice and display).
//!
//! Everything that opens the door goes through here: credentials from the readers and the
//! control socket ([`Gate::present`]), the cloud's remote open ([`Gate::remote_open`]), the
//! cloud's verdict for a visitor whose door waits for it ([`Gate::cloud_verdict`]) and the
//! technician's `relay open` ([`Gate::pulse`]). A credential is handled under one lock, so the
//! decision engine sees events one at a time; the record is durable before the door opens or
//! the network hears of it.

mod snapshot;
mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::access::doorwatch::Input as DoorInput;
use crate::access::{self, Decision, Engine};
use crate::config::OnFull;
use crate::hw::command::AlarmCommand;
use crate::hw::door::{Door, MAX_PULSE};
use crate::hw::jpeg::SnapSize;
use crate::hw::wiegand::{WideCards, WiegandFormat};
use crate::hw::{AlarmOutput, Announcer, Camera, Rs485Out, WiegandOut};
use crate::model::{CardNumber, Credential, Source};
use crate::protocol::devinfo::WiegandOutMode;
use crate::settings::{Settings, SettingsCell};
use crate::store::{NewRecord, Store, UnrecordedPasses};
use crate::{Error, Result};

pub use snapshot::SnapshotQueue;

/// Called after a record was committed and is ready to send (the uploader's wake-up); the gate
/// does not know who listens.
pub type RecordNotify = Box<dyn Fn() + Send + Sync>;

/// The actuators the gate owns, as claimed from the board.
pub struct Actuators {
    /// The door relay's controller.
    pub door: Door,
    /// Wiegand output to a third-party controller, if the board has one.
    pub wiegand_out: Option<Box<dyn WiegandOut>>,
    /// The board's Wiegand output format (26 or 34 bits).
    pub wiegand_format: WiegandFormat,
    /// What a 26-bit output does with a number over 24 bits.
    pub wiegand_wide: WideCards,
    /// RS485 transmitter, if the board has one.
    pub rs485_out: Option<Box<dyn Rs485Out>>,
    /// Camera, if the board has one.
    pub camera: Option<Box<dyn Camera>>,
    /// Voice and display.
    pub announcer: Box<dyn Announcer>,
    /// The door's input lines the board has.
    pub door_lines: Vec<DoorInput>,
    /// The alarm output (siren, buzzer), if the board has one.
    pub alarm_output: Option<Box<dyn AlarmOutput>>,
    /// The `[alarm] command`, if one is configured.
    pub alarm_command: Option<AlarmCommand>,
}

/// What the gate needs besides its actuators.
pub struct Wiring {
    /// The settings in force.
    pub settings: Arc<SettingsCell>,
    /// The gate's own store connection (records, persons), with the outbox caps set.
    pub store: Store,
    /// Whether the last exchange with the cloud succeeded (kept by the cloud session): a record
    /// made offline with retransmission off is held.
    pub cloud_online: Arc<AtomicBool>,
    /// How long a visitor's door waits for the cloud's controlState.
    pub control_wait: Duration,
    /// Told about every record ready to send.
    pub on_record: RecordNotify,
    /// What a valid credential does when its record cannot be saved (`[storage] on_full`).
    pub on_full: OnFull,
}

/// What happened to one presented credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// Whether the door opened.
    pub open: bool,
    /// The committed record, if one was made.
    pub msg_id: Option<u64>,
    /// Why, for a person reading it.
    pub detail: String,
}

/// The gate of one door.
pub struct Gate {
    settings: Arc<SettingsCell>,
    door: Mutex<Door>,
    wiegand_out: Mutex<Option<Box<dyn WiegandOut>>>,
    wiegand_format: WiegandFormat,
    wiegand_wide: WideCards,
    rs485_out: Mutex<Option<Box<dyn Rs485Out>>>,
    camera: Mutex<Option<Box<dyn Camera>>>,
    /// Read without waiting for a snapshot in progress.
    has_camera: bool,
    announcer: Mutex<Box<dyn Announcer>>,
    decider: Mutex<Decider>,
    /// Records whose door waits for the cloud's controlState, with their deadlines.
    awaiting: Mutex<HashMap<u64, Instant>>,
    /// Persons the cloud deleted whose delete could not be stored (a full disk): unknown to
    /// the door until the delete, or a new add, is stored. A revoked card must not open for
    /// as long as the disk stays full.
    revoked: Mutex<std::collections::HashSet<String>>,
    /// The recognizer's most recent face photo, for face/photo with photoType 0.
    last_face_photo: Mutex<Option<(Instant, Vec<u8>)>>,
    cloud_online: Arc<AtomicBool>,
    control_wait: Duration,
    snapshots: Sender<snapshot::Job>,
    /// Snapshot jobs queued and not yet attached: the uploader holds the backlog while a live
    /// record's photo is still coming (counted, not guessed from the clock: under load the
    /// camera and the store can take longer than any fixed patience).
    snapshots_in_flight: AtomicUsize,
    on_record: RecordNotify,
    on_full: OnFull,
    /// The door's own inputs and alarms.
    watch: watch::Watch,
}

/// The state a decision needs, under one lock.
struct Decider {
    store: Store,
    engine: Engine,
    /// Passes admitted although their record could not be saved.
    unrecorded: UnrecordedPasses,
}

impl Gate {
    /// A gate over `actuators`; the returned queue feeds [`Gate::run_snapshots`], which the
    /// caller runs on a thread of its own with a store connection of its own.
    pub fn new(actuators: Actuators, wiring: Wiring) -> (Gate, SnapshotQueue) {
        let (tx, queue) = snapshot::queue();
        let watch = watch::Watch::new(actuators.door_lines, actuators.alarm_output, actuators.alarm_command);
        let mut door = actuators.door;
        door.observe(watch.sender());
        door.set_hold(wiring.settings.get().always_open);
        let gate = Gate {
            settings: wiring.settings,
            door: Mutex::new(door),
            wiegand_out: Mutex::new(actuators.wiegand_out),
            wiegand_format: actuators.wiegand_format,
            wiegand_wide: actuators.wiegand_wide,
            rs485_out: Mutex::new(actuators.rs485_out),
            has_camera: actuators.camera.is_some(),
            camera: Mutex::new(actuators.camera),
            announcer: Mutex::new(actuators.announcer),
            decider: Mutex::new(Decider {
                unrecorded: UnrecordedPasses::open(wiring.store.path().parent().unwrap_or(std::path::Path::new("."))),
                store: wiring.store,
                engine: Engine::default(),
            }),
            awaiting: Mutex::new(HashMap::new()),
            revoked: Mutex::new(std::collections::HashSet::new()),
            last_face_photo: Mutex::new(None),
            cloud_online: wiring.cloud_online,
            control_wait: wiring.control_wait,
            snapshots: tx,
            snapshots_in_flight: AtomicUsize::new(0),
            on_record: wiring.on_record,
            on_full: wiring.on_full,
            watch,
        };
        (gate, queue)
    }

    /// Puts new settings in force: the next credential, pulse and frame follow them, and the
    /// door holds open or closes with `alwaysOpenDoor`. The door watch's timing comes from
    /// the configuration and stays.
    pub fn apply_settings(&self, settings: Settings) {
        let settings = settings.keeping_door_of(&self.settings.get());
        let hold = settings.always_open;
        self.settings.replace(settings);
        self.door().set_hold(hold);
    }

    /// Handles one credential: decide, commit the record, then drive the door. A failure (the
    /// store) is logged and remembered for `facegate status`; the door stays as it was.
    pub fn present(&self, credential: Credential, source: Source) -> Result<Passage> {
        let result = self.decide_and_record(credential, source);
        if let Err(e) = &result {
            log::error!("credential not handled: {e}");
            let mut d = self.decider();
            if let Err(e2) = d.store.note_error(&e.to_string()) {
                log::error!("cannot remember the error for `facegate status`: {e2}");
            }
        }
        result
    }

    fn decide_and_record(&self, credential: Credential, source: Source) -> Result<Passage> {
        let settings = self.settings.get();
        let mut d = self.decider();
        let person = match &credential {
            // By value: 0008899 is card 8899 (the store keys cards by their normalised form).
            Credential::Card(n) => d.store.person_by_card(n)?,
            Credential::Face { id_number, .. } => d.store.person(id_number)?,
            Credential::Password(p) => d.store.person_by_password(p)?,
            _ => None,
        };
        // A person whose delete is not stored yet is nobody.
        let person = person.filter(|p| !self.is_revoked(&p.id_number));
        let now = crate::clock::now_ms();
        let local = settings.local_time(now);
        let Decider { engine, store, .. } = &mut *d;
        let policy = &settings.policy;
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
                if decision.repeat {
                    self.door().pulse_renewed(settings.open_door);
                } else {
                    self.door().pulse(settings.open_door);
                }
            }
            self.announce(&decision.voice, &decision.display);
            let detail = if decision.repeat {
                format!("{}; same person within recogIntervalTime: not recorded again", decision.reason)
            } else {
                decision.reason.to_string()
            };
            return Ok(Passage { open: decision.open, msg_id: None, detail });
        }
        let mut fields = access::record_fields(&decision, person.as_ref(), &credential, policy);
        fields.insert("passTime".into(), crate::protocol::time::format_pass_time(local));
        let recognition_photo = match &credential {
            Credential::Face { photo, .. } | Credential::Stranger { photo } => {
                if let Some(p) = photo {
                    *lock(&self.last_face_photo) = Some((Instant::now(), p.clone()));
                }
                photo.clone()
            }
            _ => None,
        };
        // jpegEncodeSizeMode: the recognizer's photo as it gave it; otherwise (cards,
        // passwords, QR codes, a face without a photo) a camera frame of that size, taken after
        // the door opened so the camera never delays it.
        let snap_size = settings.snap_size();
        let recognition_photo = snap_size.and(recognition_photo);
        let snapshot = snap_size.filter(|_| recognition_photo.is_none() && self.has_camera);
        let compare_ref = person.as_ref().and_then(|p| {
            let slot = store.photos_slots(&p.id_number).ok()?.into_iter().next()?;
            Some((p.id_number.clone(), slot))
        });
        let held = !self.cloud_online.load(Ordering::Relaxed) && !settings.retransmission;
        if snapshot.is_some() {
            // Counted before the record is visible to the uploader, so it never sees the record
            // waiting for a snapshot without the job in flight.
            self.snapshots_in_flight.fetch_add(1, Ordering::SeqCst);
        }
        let inserted = store.insert_record(&NewRecord {
            created_ms: now,
            fields,
            recognition_photo,
            compare_ref,
            held,
            awaiting_snapshot: snapshot.is_some(),
        });
        let outcome = match inserted {
            Ok(outcome) => outcome,
            Err(e) => {
                if snapshot.is_some() {
                    self.snapshots_in_flight.fetch_sub(1, Ordering::SeqCst);
                }
                return self.pass_without_record(d, e, &decision, &credential, &settings, now);
            }
        };
        if outcome.evicted > 0 {
            log::warn!(
                "storage cap reached: {} undelivered record(s) dropped to keep record {}",
                outcome.evicted,
                outcome.msg_id
            );
        }
        if outcome.photos_dropped > 0 {
            log::warn!(
                "disk short of space: the photos of {} undelivered record(s) dropped to keep record {}",
                outcome.photos_dropped,
                outcome.msg_id
            );
        }
        drop(d);
        // The record is durable: now the door and the network may hear of it. The snapshot
        // below must show who passed, so it is queued only once the relay has switched.
        if decision.open {
            self.door().pulse_and_wait(settings.open_door, Duration::from_secs(1));
            self.wiegand_forward(&credential, settings.wiegand_out);
        }
        if decision.await_cloud {
            lock(&self.awaiting).insert(outcome.msg_id, Instant::now() + self.control_wait);
        }
        self.announce(&decision.voice, &decision.display);
        match snapshot {
            // The worker tells the uploader once the photo is attached.
            Some(size) => {
                if self.snapshots.send(snapshot::Job { msg_id: outcome.msg_id, size, queued: Instant::now() }).is_err()
                {
                    self.snapshots_in_flight.fetch_sub(1, Ordering::SeqCst);
                    log::warn!("record {}: no snapshot worker; sent without a photo after restart", outcome.msg_id);
                }
            }
            None => (self.on_record)(),
        }
        let detail = if decision.await_cloud {
            format!("{}; waiting for the cloud's controlState", decision.reason)
        } else {
            decision.reason.to_string()
        };
        Ok(Passage { open: decision.open, msg_id: Some(outcome.msg_id), detail })
    }

    /// The record of a decided credential could not be saved (a full disk, mostly). A valid
    /// credential still opens the door under `[storage] on_full = "admit"` (the default: a
    /// full disk must not lock everybody out), and the pass is counted where no new space is
    /// needed ([`UnrecordedPasses`]); anything else fails as before, the door shut.
    fn pass_without_record(
        &self,
        mut d: MutexGuard<'_, Decider>,
        e: Error,
        decision: &Decision,
        credential: &Credential,
        settings: &Settings,
        now: i64,
    ) -> Result<Passage> {
        d.engine.record_not_saved(decision);
        let full = crate::store::is_out_of_space(&e);
        let text = e.to_string();
        let text = text.trim_start_matches("storage error: ");
        let why = if full { format!("disk full: {text}") } else { text.to_string() };
        if !decision.open || self.on_full == OnFull::Deny {
            if decision.open {
                log::error!("{}: door kept shut ([storage] on_full = \"deny\")", describe(credential));
            }
            return Err(if full { Error::Store(why) } else { e });
        }
        let n = d.unrecorded.add(now, &why);
        log::error!(
            "{} admitted WITHOUT a record ({n} such passes so far, see `facegate status`): {why}",
            describe(credential)
        );
        if let Err(e2) = d.store.note_error(&why) {
            log::debug!("the error could not be noted in the database either: {e2}");
        }
        drop(d);
        self.door().pulse_and_wait(settings.open_door, Duration::from_secs(1));
        self.wiegand_forward(credential, settings.wiegand_out);
        self.announce(&decision.voice, &decision.display);
        let cause = if full { "the disk is full" } else { "the store failed" };
        Ok(Passage { open: true, msg_id: None, detail: format!("{}; NOT RECORDED: {cause}", decision.reason) })
    }

    /// Passes admitted without a record, as counted in memory (it includes any the counter
    /// file could not take).
    pub fn unrecorded_passes(&self) -> u64 {
        self.decider().unrecorded.current().count
    }

    /// The cloud's answer to record `msg_id`: `open` is its controlState (`None` when it gave
    /// none). The door opens only if it still waits for that record; the texts are announced
    /// unless the wait ran out (a late "barrier opens" would tell whoever stands there
    /// something false).
    pub fn cloud_verdict(&self, msg_id: u64, open: Option<bool>, voice: &str, display: &str) {
        let deadline = lock(&self.awaiting).remove(&msg_id);
        // None: no door waits for this record; Some(false): it waited, but no longer does.
        let in_time = deadline.map(|d| Instant::now() <= d);
        if open == Some(true) {
            match in_time {
                Some(true) => {
                    log::info!("cloud opened the door for record {msg_id}");
                    self.door().pulse(self.settings.get().open_door);
                }
                Some(false) => log::warn!("cloud said open for record {msg_id} after the wait ran out"),
                None => log::debug!("cloud said open for record {msg_id} (no door waiting)"),
            }
        }
        if in_time != Some(false) {
            self.announce(voice, display);
        }
    }

    /// The cloud deleted person `id_number` but the delete could not be stored: the door
    /// treats the person as unknown until [`Gate::person_stored`] says the store caught up.
    pub fn revoke_unstored(&self, id_number: &str) {
        if lock(&self.revoked).insert(id_number.trim().to_string()) {
            log::warn!("person {id_number} is deleted by the cloud but the delete is not stored: denied until it is");
        }
    }

    /// A change to person `id_number` (a delete, an add, a modify) is stored: any revocation
    /// held for it in memory ends.
    pub fn person_stored(&self, id_number: &str) {
        let mut revoked = lock(&self.revoked);
        if !revoked.is_empty() && revoked.remove(id_number.trim()) {
            log::info!("person {id_number}: the cloud's change is stored");
        }
    }

    fn is_revoked(&self, id_number: &str) -> bool {
        let revoked = lock(&self.revoked);
        !revoked.is_empty() && revoked.contains(id_number.trim())
    }

    /// The cloud's remote open (`device/open`): a pulse of openDoorTimeDelayMs and its text.
    pub fn remote_open(&self, text: &str) {
        self.door().pulse(self.settings.get().open_door);
        self.announce(text, text);
    }

    /// A technician's pulse (`facegate relay open`), `ms` or openDoorTimeDelayMs long; a length
    /// outside 1 ms..=[`MAX_PULSE`] is refused and the door left as it is.
    pub fn pulse(&self, ms: Option<u64>) -> Result<Duration> {
        let length = match ms {
            None => self.settings.get().open_door,
            Some(ms) => check_pulse_ms(ms)?,
        };
        self.door().pulse(length);
        Ok(length)
    }

    /// Ends a running pulse (`facegate relay close`): the door closes unless alwaysOpenDoor
    /// holds it.
    pub fn end_pulse(&self) {
        log::info!("pulse ended by the technician");
        self.door().end_pulse();
    }

    /// Speaks and shows a text (either may be empty).
    pub fn announce(&self, voice: &str, display: &str) {
        if voice.is_empty() && display.is_empty() {
            return;
        }
        lock(&self.announcer).announce(voice, display);
    }

    /// Sends a card number on the Wiegand output (the cloud's broadcast `wgData`), whatever
    /// entranceWgOutMode says about passing cards; returns the frame's length in bits.
    pub fn send_wiegand_card(&self, card: &CardNumber) -> Result<usize> {
        self.wiegand_send(WiegandOutMode::CardNumber, card).map(|bits| bits.unwrap_or(0))
    }

    /// Writes bytes on the RS485 output (the cloud's broadcast `rs485Data`).
    pub fn send_rs485(&self, data: &[u8]) -> Result<()> {
        match lock(&self.rs485_out).as_mut() {
            Some(p) => p.write(data),
            None => Err(Error::Hardware("no RS485 port on this board".into())),
        }
    }

    /// Whether a record's camera snapshot is queued or being taken: it will be attached (or the
    /// record let go without one) within the worker's bound, `snapshot::SNAPSHOT_TIMEOUT` per job.
    pub fn snapshots_in_flight(&self) -> bool {
        self.snapshots_in_flight.load(Ordering::SeqCst) > 0
    }

    /// One camera frame as a JPEG of `size`, if there is a camera.
    pub fn snap(&self, size: SnapSize, timeout: Duration) -> Result<Vec<u8>> {
        match lock(&self.camera).as_mut() {
            Some(c) => c.snap_jpeg(size, timeout),
            None => Err(Error::Hardware("this board profile has no camera".into())),
        }
    }

    /// The recognizer's face photo if one came within `max_age`.
    pub fn recent_face_photo(&self, max_age: Duration) -> Option<Vec<u8>> {
        match &*lock(&self.last_face_photo) {
            Some((at, jpeg)) if at.elapsed() <= max_age => Some(jpeg.clone()),
            _ => None,
        }
    }

    /// Whether the relay is energised now, door unlocked (`facegate status`).
    pub fn door_is_open(&self) -> bool {
        self.door().state().open
    }

    /// Releases the relay for good and switches the alarm output off (the daemon is stopping).
    pub fn shutdown(&self) {
        self.stop_watch();
        self.door().shutdown();
    }

    /// Forwards a granted card on the Wiegand output when entranceWgOutMode asks for it.
    fn wiegand_forward(&self, credential: &Credential, mode: WiegandOutMode) {
        let Credential::Card(number) = credential else { return };
        if let Err(e) = self.wiegand_send(mode, number) {
            log::warn!("Wiegand output: {e}");
        }
    }

    /// Sends `card` as `mode` says; the frame's length in bits, `None` when the mode is off.
    fn wiegand_send(&self, mode: WiegandOutMode, card: &CardNumber) -> Result<Option<usize>> {
        let Some(bits) = crate::hw::wiegand::out_frame(mode, card, self.wiegand_format, self.wiegand_wide)? else {
            return Ok(None);
        };
        match lock(&self.wiegand_out).as_mut() {
            Some(out) => out.send(&bits).map(|()| Some(bits.0.len())),
            None => Err(Error::Hardware("this board profile has no Wiegand output".into())),
        }
    }

    fn door(&self) -> MutexGuard<'_, Door> {
        lock(&self.door)
    }

    fn decider(&self) -> MutexGuard<'_, Decider> {
        lock(&self.decider)
    }
}

/// A pulse length asked for by a person (`relay open --ms`, the control socket): 1 ms up to
/// [`MAX_PULSE`].
pub fn check_pulse_ms(ms: u64) -> Result<Duration> {
    let max = MAX_PULSE.as_millis();
    if ms == 0 || u128::from(ms) > max {
        return Err(Error::Control(format!("a relay pulse of {ms} ms is refused: from 1 to {max} ms")));
    }
    Ok(Duration::from_millis(ms))
}

/// A lock that survives a panicked holder: every value behind the gate's locks stays valid
/// between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::hw::Relay;
    use crate::model::Person;
    use crate::protocol::devinfo::DeviceParams;

    /// What the actuators did, in order.
    type Log = Arc<Mutex<Vec<String>>>;

    struct RecordingRelay(Log);
    impl Relay for RecordingRelay {
        fn set(&mut self, open: bool) -> Result<()> {
            lock(&self.0).push(format!("relay {open}"));
            Ok(())
        }
    }

    struct RecordingAnnouncer(Log);
    impl Announcer for RecordingAnnouncer {
        fn announce(&mut self, voice: &str, display: &str) {
            lock(&self.0).push(format!("say {voice}/{display}"));
        }
    }

    struct RecordingAlarm(Log);
    impl AlarmOutput for RecordingAlarm {
        fn set(&mut self, on: bool) -> Result<()> {
            lock(&self.0).push(format!("alarm {on}"));
            Ok(())
        }
    }

    struct Rig {
        gate: Gate,
        log: Log,
        told: Arc<AtomicUsize>,
        _dir: tempfile::TempDir,
    }

    fn rig(params: &[(&str, &str)]) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::default();
        let told = Arc::new(AtomicUsize::new(0));
        let params = DeviceParams::from_stored(&params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        let told2 = told.clone();
        let (gate, _queue) = Gate::new(
            Actuators {
                door: Door::new(Box::new(RecordingRelay(log.clone()))).unwrap(),
                wiegand_out: None,
                wiegand_format: WiegandFormat::default(),
                wiegand_wide: WideCards::default(),
                rs485_out: None,
                camera: None,
                announcer: Box::new(RecordingAnnouncer(log.clone())),
                door_lines: DoorInput::ALL.to_vec(),
                alarm_output: Some(Box::new(RecordingAlarm(log.clone()))),
                alarm_command: None,
            },
            Wiring {
                settings: Arc::new(SettingsCell::new(Settings::new(params))),
                store: Store::open(dir.path()).unwrap(),
                cloud_online: Arc::new(AtomicBool::new(true)),
                control_wait: Duration::from_secs(60),
                on_record: Box::new(move || {
                    told2.fetch_add(1, Ordering::SeqCst);
                }),
                on_full: OnFull::Admit,
            },
        );
        Rig { gate, log, told, _dir: dir }
    }

    fn card(n: &str) -> Credential {
        Credential::Card(crate::model::CardNumber::parse(n).unwrap())
    }

    /// Waits (bounded) until the door thread has energised the relay `n` times in all.
    fn opened(log: &Log, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if lock(log).iter().filter(|l| *l == "relay true").count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn opens(log: &Log) -> usize {
        lock(log).iter().filter(|l| *l == "relay true").count()
    }

    #[test]
    fn a_card_is_committed_then_opens_and_the_uploader_is_told() {
        let r = rig(&[("faceRFIDCardEnable", "1"), ("jpegEncodeSizeMode", "0")]);
        let person = Person { id_number: "P1".into(), name: "Ann".into(), card: "8899".into(), ..Person::default() };
        r.gate.decider().store.upsert_person(&person, &[]).unwrap();
        // Readers and clouds disagree on leading zeros.
        let p = r.gate.present(card("0008899"), Source::Control).unwrap();
        assert!(p.open, "{p:?}");
        let msg_id = p.msg_id.expect("a record was made");
        assert!(opened(&r.log, 1), "{:?}", lock(&r.log));
        assert_eq!(r.told.load(Ordering::SeqCst), 1, "the uploader hears of the record once");
        let stored = r.gate.decider().store.records_list(false, 10, 0).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].msg_id, msg_id);
        assert_eq!(stored[0].fields.get("idNumber").map(String::as_str), Some("P1"));
        // An unknown card: a record, no door.
        let p = r.gate.present(card("1"), Source::Control).unwrap();
        assert!(!p.open && p.msg_id.is_some(), "{p:?}");
        assert_eq!(r.told.load(Ordering::SeqCst), 2);
        r.gate.shutdown();
        assert_eq!(opens(&r.log), 1, "{:?}", lock(&r.log));
    }

    /// A snapshot that cannot be attached (the write fails: a full disk, here a database
    /// locked past the busy timeout) must not keep its record from the uploader until a
    /// restart: the soak found one record owed for good after storage pressure.
    #[test]
    fn a_record_whose_snapshot_cannot_be_attached_still_reaches_the_uploader() {
        let r = rig(&[]);
        let db = r.gate.decider().store.path().to_path_buf();
        let msg_id = r
            .gate
            .decider()
            .store
            .insert_record(&crate::store::NewRecord { created_ms: 1, awaiting_snapshot: true, ..Default::default() })
            .unwrap()
            .msg_id;
        let waiting = || r.gate.decider().store.oldest_snapshot_wait_id().unwrap();
        assert_eq!(waiting(), Some(msg_id));
        let (tx, queue) = snapshot::queue();
        // Another writer holds the database for longer than the store waits for it.
        let blocker = rusqlite::Connection::open(&db).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        r.gate.snapshots_in_flight.fetch_add(1, Ordering::SeqCst);
        tx.send(snapshot::Job { msg_id, size: SnapSize::Small, queued: Instant::now() }).unwrap();
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                r.gate.run_snapshots(queue, Store::open(db.parent().unwrap()).unwrap());
            });
            // The worker's write has failed once the store's busy timeout has passed.
            let deadline = Instant::now() + Duration::from_secs(30);
            while r.gate.snapshots_in_flight() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!r.gate.snapshots_in_flight(), "the worker never finished the job");
            assert_eq!(waiting(), Some(msg_id), "the record was released while the database was locked");
            blocker.execute_batch("ROLLBACK").unwrap();
            // With the database free again, the record goes without a restart.
            let deadline = Instant::now() + Duration::from_secs(10);
            while waiting().is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(waiting(), None, "the record still waits for a snapshot that will never come");
            assert!(r.told.load(Ordering::SeqCst) >= 2, "the uploader was told when the record went");
            drop(tx);
            worker.join().unwrap();
        });
    }

    #[test]
    fn the_clouds_verdict_opens_only_a_door_that_still_waits() {
        let r = rig(&[]);
        // No door waits for record 1: the texts are shown, the door stays shut.
        r.gate.cloud_verdict(1, Some(true), "hello", "shown");
        assert!(lock(&r.log).contains(&"say hello/shown".to_string()), "{:?}", lock(&r.log));
        // Record 2 waits, in time: the door opens.
        lock(&r.gate.awaiting).insert(2, Instant::now() + Duration::from_secs(60));
        r.gate.cloud_verdict(2, Some(true), "in", "time");
        assert!(opened(&r.log, 1), "{:?}", lock(&r.log));
        // The same verdict again: no longer waiting, no second opening.
        r.gate.cloud_verdict(2, Some(true), "", "");
        // Record 3's wait ran out: neither the door nor a late "barrier opens".
        lock(&r.gate.awaiting).insert(3, Instant::now() - Duration::from_millis(1));
        r.gate.cloud_verdict(3, Some(true), "late", "late");
        // "close" for a waiting record: shown, not opened.
        lock(&r.gate.awaiting).insert(4, Instant::now() + Duration::from_secs(60));
        r.gate.cloud_verdict(4, Some(false), "no", "entry");
        r.gate.shutdown();
        let log = lock(&r.log).clone();
        assert_eq!(opens(&r.log), 1, "{log:?}");
        assert!(!log.iter().any(|l| l.contains("late")), "{log:?}");
        assert!(log.contains(&"say no/entry".to_string()), "{log:?}");
    }

    #[test]
    fn a_pulse_beyond_the_maximum_is_refused_and_a_pulse_can_be_ended() {
        let r = rig(&[]);
        for ms in [0, 60_001, u64::MAX] {
            let err = r.gate.pulse(Some(ms)).unwrap_err().to_string();
            assert!(err.contains("from 1 to 60000 ms"), "{err}");
        }
        assert_eq!(opens(&r.log), 0, "{:?}", lock(&r.log));
        assert_eq!(r.gate.pulse(Some(60_000)).unwrap(), MAX_PULSE);
        assert!(opened(&r.log, 1), "{:?}", lock(&r.log));
        r.gate.end_pulse();
        let deadline = Instant::now() + Duration::from_secs(10);
        while r.gate.door_is_open() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!r.gate.door_is_open(), "relay close ended the minute-long pulse");
        r.gate.shutdown();
    }

    /// Waits (bounded) until `cond` holds for the actuator log.
    fn logged(log: &Log, cond: impl Fn(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if cond(&lock(log)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn the_door_watch_relocks_on_close_and_raises_forced_open_until_shutdown() {
        let r = rig(&[("openDoorTimeDelayMs", "60000")]);
        let log = r.log.clone();
        let gate = Arc::new(r.gate);
        let g = gate.clone();
        let watch = std::thread::spawn(move || g.run_door_watch());
        gate.door_input(DoorInput::DoorContact, false).unwrap();
        gate.door_input(DoorInput::ExitButton, true).unwrap();
        gate.door_input(DoorInput::ExitButton, false).unwrap();
        assert!(opened(&log, 1), "{:?}", lock(&log));
        gate.door_input(DoorInput::DoorContact, true).unwrap();
        gate.door_input(DoorInput::DoorContact, false).unwrap();
        // The minute-long pulse ends as the door closes.
        assert!(logged(&log, |l| l.last().map(String::as_str) == Some("relay false")), "{:?}", lock(&log));
        gate.door_input(DoorInput::DoorContact, true).unwrap();
        assert!(logged(&log, |l| l.iter().any(|e| e == "alarm true")), "{:?}", lock(&log));
        assert!(lock(&log).contains(&"say Door forced open/Door forced open".to_string()), "{:?}", lock(&log));
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.door_view().alarms.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(gate.door_view(), watch::DoorView { door: "open", alarms: vec!["forced_open"], fire: false });
        assert_eq!(opens(&log), 1, "a forced door is not opened by the relay: {:?}", lock(&log));
        // Stopping switches the siren off and ends the watch.
        gate.shutdown();
        watch.join().unwrap();
        assert_eq!(
            lock(&log).iter().filter(|e| e.starts_with("alarm")).collect::<Vec<_>>(),
            ["alarm true", "alarm false"]
        );
    }

    #[test]
    fn new_settings_reach_the_next_pulse_and_the_hold() {
        let r = rig(&[]);
        r.gate.apply_settings(Settings::new(DeviceParams::from_stored(
            &[("alwaysOpenDoor".to_string(), "1".to_string())].into(),
        )));
        assert!(opened(&r.log, 1), "alwaysOpenDoor holds the door open: {:?}", lock(&r.log));
        assert!(r.gate.settings.get().always_open);
        r.gate.shutdown();
        assert_eq!(lock(&r.log).last().map(String::as_str), Some("relay false"), "released at shutdown");
    }
}
