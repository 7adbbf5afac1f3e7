//! The terminal's hardware behind small traits, with a Linux backend and a `sim` backend.
//!
//! The daemon only sees these traits. `sim` logs every actuator action as a JSON line to
//! `<storage.dir>/sim-actuators.jsonl` and never touches the host; `linux` uses gpio-cdev,
//! serialport and v4l.
//!
//! The hardware is claimed *from* a board profile, which is plain data: [`open`] claims what
//! it names, [`doctor`] checks each item without driving any output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::Result;
use crate::access::doorwatch::{Event as DoorEvent, Input as DoorInput};
use crate::board::{BoardKind, BoardProfile};
use crate::model::{Credential, Source};

/// The door relay. Timing (pulses, hold-open) lives above it, in the door controller.
pub trait Relay: Send {
    /// Energises (`true`, door unlocked) or releases (`false`) the relay.
    fn set(&mut self, open: bool) -> Result<()>;
}

/// The alarm output (a siren or buzzer relay).
pub trait AlarmOutput: Send {
    /// Switches it on (`true`, an alarm runs) or off.
    fn set(&mut self, on: bool) -> Result<()>;
}

/// A Wiegand frame: the bits as sent on the wire, first bit first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WiegandBits(pub Vec<bool>);

/// The Wiegand output port, towards a third-party controller.
pub trait WiegandOut: Send {
    /// Sends one frame with the board's pulse width and period.
    fn send(&mut self, bits: &WiegandBits) -> Result<()>;
}

/// The RS485 port's transmit side.
pub trait Rs485Out: Send {
    /// Writes the bytes, driving the transceiver's driver-enable around them.
    fn write(&mut self, data: &[u8]) -> Result<()>;
}

/// The camera: one frame on demand.
pub trait Camera: Send {
    /// Captures one frame as a JPEG of `size` within `timeout`.
    fn snap_jpeg(&mut self, size: jpeg::SnapSize, timeout: Duration) -> Result<Vec<u8>>;
}

/// Voice and display output (a TTS, the vendor's UI, or the log).
pub trait Announcer: Send {
    /// Speaks `voice` and shows `display`; either may be empty.
    fn announce(&mut self, voice: &str, display: &str);
}

/// The operating system: reboot, clock, firmware installation.
pub trait System: Send {
    /// Reboots the terminal (the sim board only logs it).
    fn reboot(&mut self) -> Result<()>;
    /// Sets the system clock to `unix_ms` (the sim board only logs it).
    fn set_clock(&mut self, unix_ms: i64) -> Result<()>;
    /// Installs a verified firmware file of the spec's `updateType`.
    fn install(&mut self, update_type: &str, file: &std::path::Path) -> Result<()>;
}

/// A credential read by an input device.
#[derive(Debug, Clone, PartialEq)]
pub struct InputEvent {
    /// What was read.
    pub credential: Credential,
    /// Which device read it.
    pub source: Source,
}

/// Counters of input problems, shown by `facegate status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Wiegand frames that failed their parity check.
    pub wiegand_parity_errors: u64,
    /// Wiegand pulses too short or too isolated to be bits.
    pub wiegand_noise: u64,
    /// Wiegand frames of a length that is not a known format (passed on as raw bits).
    pub wiegand_unknown_length: u64,
}

/// All the hardware of one terminal, as claimed from its board profile.
pub struct Board {
    /// The profile's name, for logs and `status`.
    pub name: String,
    /// The door relay.
    pub relay: Box<dyn Relay>,
    /// The Wiegand output, if the profile has one.
    pub wiegand_out: Option<Box<dyn WiegandOut>>,
    /// The RS485 transmitter, if the profile has one.
    pub rs485_out: Option<Box<dyn Rs485Out>>,
    /// The camera, if the profile has one.
    pub camera: Option<Box<dyn Camera>>,
    /// Voice and display.
    pub announcer: Box<dyn Announcer>,
    /// Reboot, clock, install.
    pub system: Box<dyn System>,
    /// Starts the input threads (Wiegand in, RS485 in, QR reader); they send to `events`
    /// until the receiver is dropped.
    pub inputs: Box<dyn FnOnce(Sender<InputEvent>) -> Result<InputHandles> + Send>,
    /// The door's input lines the board has (exit button, door contact, fire, tamper).
    pub door_lines: Vec<DoorInput>,
    /// The alarm output, if the board has one.
    pub alarm_output: Option<Box<dyn AlarmOutput>>,
    /// Starts the door-input threads; each sends a debounced [`DoorEvent::Level`] per change
    /// (the first one with the level read at start) until the receiver is dropped.
    pub door_inputs: DoorInputStarter,
}

/// Starts the door-input threads of a board (see [`Board::door_inputs`]).
pub type DoorInputStarter = Box<dyn FnOnce(Sender<DoorEvent>) -> Result<()> + Send>;

/// Handles on the running input threads.
#[derive(Default)]
pub struct InputHandles {
    /// Live input counters.
    pub stats: std::sync::Arc<std::sync::Mutex<InputStats>>,
}

/// How the daemon wants the board set up beyond the profile.
#[derive(Debug, Clone)]
pub struct BoardOptions {
    /// Voice/display command (argv, texts appended); `None` logs announcements.
    pub announcer_command: Option<Vec<String>>,
    /// Reboot command (argv); default `systemctl reboot`.
    pub reboot_command: Vec<String>,
    /// Install command (argv) per `updateType` (`0` file system, `1` application, `3` kernel);
    /// `{file}` is replaced by the firmware path, or the path is appended.
    pub install_commands: BTreeMap<String, Vec<String>>,
    /// Device parameters the backends follow live (baud, serial and Wiegand modes).
    pub params: SharedParams,
}

impl Default for BoardOptions {
    fn default() -> BoardOptions {
        BoardOptions {
            announcer_command: None,
            reboot_command: vec!["systemctl".into(), "reboot".into()],
            install_commands: BTreeMap::new(),
            params: SharedParams::default(),
        }
    }
}

/// Claims the hardware a profile names: opens every configured line, port and camera. The sim
/// board logs to `<storage_dir>/sim-actuators.jsonl`.
pub fn open(profile: &BoardProfile, storage_dir: &Path, opts: &BoardOptions) -> Result<Board> {
    match profile.kind {
        BoardKind::Sim => Ok(sim::board(&profile.name, storage_dir)),
        #[cfg(target_os = "linux")]
        BoardKind::Linux => linux::open(profile, opts),
        #[cfg(not(target_os = "linux"))]
        BoardKind::Linux => {
            let _ = opts;
            Err(crate::Error::Hardware(format!("board {} needs Linux", profile.name)))
        }
    }
}

/// One line of `facegate doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorLine {
    /// What was checked, e.g. "relay gpiochip0 line 17".
    pub item: String,
    /// Whether it is usable.
    pub ok: bool,
    /// Why not (missing, permission, busy...) or what was found.
    pub detail: String,
}

impl std::fmt::Display for DoctorLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<4} {}: {}", if self.ok { "OK" } else { "FAIL" }, self.item, self.detail)
    }
}

/// Opens every configured line, port and camera of the profile (without driving any output)
/// and says, one line per item, whether it is usable and why not.
pub fn doctor(profile: &BoardProfile, storage_dir: &Path) -> Vec<DoctorLine> {
    match profile.kind {
        BoardKind::Sim => {
            let log = sim_actuator_log(storage_dir);
            let writable = std::fs::metadata(storage_dir).map(|m| m.is_dir() && !m.permissions().readonly());
            vec![DoctorLine {
                item: format!("sim board {}", profile.name),
                ok: matches!(writable, Ok(true)),
                detail: match writable {
                    Ok(true) => format!("actuator actions are logged to {}", log.display()),
                    Ok(false) => format!("{} is not a writable directory", storage_dir.display()),
                    Err(e) => format!("{}: {e}", storage_dir.display()),
                },
            }]
        }
        #[cfg(target_os = "linux")]
        BoardKind::Linux => linux::doctor(profile),
        #[cfg(not(target_os = "linux"))]
        BoardKind::Linux => {
            vec![DoctorLine { item: format!("board {}", profile.name), ok: false, detail: "needs Linux".into() }]
        }
    }
}

/// Where the sim board writes its actuator log.
pub fn sim_actuator_log(storage_dir: &Path) -> PathBuf {
    storage_dir.join("sim-actuators.jsonl")
}

pub(crate) mod sim;

pub(crate) mod command;
pub mod disk;
pub(crate) mod door;
pub(crate) mod jpeg;
// The Linux backend; its libc calls and ioctls are all in `linux::sys`, the one module that
// allows unsafe code.
#[cfg(target_os = "linux")]
pub(crate) mod linux;
pub mod serial;
pub mod wiegand;

/// Kills `child` and every process in its group: `child` must lead one (spawned with
/// `process_group(0)`) and not be reaped yet. Here rather than in `command`, which `linux`
/// imports (a cycle); only the group kill of the Linux backend reaches the C library.
pub(crate) fn kill_process_group(child: &mut std::process::Child) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    return linux::sys::kill_process_group(child.id());
    #[cfg(not(target_os = "linux"))]
    return child.kill();
}

/// The device parameters (set by the cloud through setDevInfo) that the hardware backends
/// follow while running.
///
/// Typed once by `settings` when the parameters change; the input threads read a copy per frame
/// (three plain values: no allocation, no parsing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwParams {
    /// `entranceSerialBaudRate`, already validated by the device-parameter table.
    pub serial_baud: u32,
    /// `entranceSerialInMode`: off and pass-through are implemented; the vendor modes are
    /// refused (see [`serial::pass_through`]).
    pub serial_in_mode: serial::SerialInMode,
    /// `entranceWgInMode`: off, or IC card numbers.
    pub wiegand_in_mode: crate::protocol::devinfo::WiegandInMode,
}

impl Default for HwParams {
    /// Wiegand readers read cards, RS485 input is off until the cloud enables pass-through.
    fn default() -> HwParams {
        HwParams {
            serial_baud: 9600,
            serial_in_mode: serial::SerialInMode::Off,
            wiegand_in_mode: crate::protocol::devinfo::WiegandInMode::CardNumber,
        }
    }
}

/// [`HwParams`] shared between the daemon (which updates them when the cloud changes device
/// parameters) and the input threads (which read them for every frame), so no re-claim is needed.
#[derive(Debug, Clone, Default)]
pub struct SharedParams(std::sync::Arc<std::sync::Mutex<HwParams>>);

impl SharedParams {
    /// Wraps the initial parameters.
    pub fn new(params: HwParams) -> SharedParams {
        SharedParams(std::sync::Arc::new(std::sync::Mutex::new(params)))
    }

    /// A copy of the current parameters.
    pub fn get(&self) -> HwParams {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the parameters; running input threads pick them up at their next frame or idle wake-up.
    pub fn set(&self, params: HwParams) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = params;
    }
}

/// Whether `e` is a camera that gave no frame in time, which the photo service reports as
/// error code 600 ("device photo timeout").
pub fn is_camera_timeout(e: &crate::Error) -> bool {
    matches!(e, crate::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_claim_and_doctor() {
        let dir = tempfile::tempdir().unwrap();
        let p = crate::board::load_profile("sim", None).unwrap();
        let mut board = open(&p, dir.path(), &BoardOptions::default()).unwrap();
        assert_eq!(board.name, "sim");
        board.relay.set(true).unwrap();
        let log = std::fs::read_to_string(sim_actuator_log(dir.path())).unwrap();
        assert!(log.contains("\"state\":\"open\""));
        let lines = doctor(&p, dir.path());
        assert!(lines.iter().all(|l| l.ok), "{lines:?}");
        let lines = doctor(&p, &dir.path().join("missing"));
        assert!(!lines[0].ok && lines[0].to_string().starts_with("FAIL"), "{lines:?}");
    }
}
