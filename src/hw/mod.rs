//! The terminal's hardware behind small traits, with a Linux backend and a `sim` backend.
//!
//! The daemon only sees these traits. `sim` logs every actuator action as a JSON line to
//! `<storage.dir>/sim-actuators.jsonl` and never touches the host; `linux` uses gpio-cdev,
//! serialport and v4l.

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::Result;
use crate::model::{Credential, Source};

/// The door relay. Timing (pulses, hold-open) lives above it, in the door controller.
pub trait Relay: Send {
    /// Energises (`true`, door unlocked) or releases (`false`) the relay.
    fn set(&mut self, open: bool) -> Result<()>;
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
}

/// Handles on the running input threads.
#[derive(Default)]
pub struct InputHandles {
    /// Live input counters.
    pub stats: std::sync::Arc<std::sync::Mutex<InputStats>>,
}

/// Where the sim board writes its actuator log.
pub fn sim_actuator_log(storage_dir: &std::path::Path) -> PathBuf {
    storage_dir.join("sim-actuators.jsonl")
}

pub(crate) mod sim;

pub(crate) mod command;
pub(crate) mod door;
pub(crate) mod jpeg;
// The Linux backend's ioctl and libc calls (serial pty set-up, GPIO, the clock); they are to
// move into one `hw/linux/sys.rs` that alone allows unsafe code.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) mod linux;
pub mod serial;
pub mod wiegand;

/// The device parameters (set by the cloud through setDevInfo) that the hardware backends
/// follow while running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwParams {
    /// `entranceSerialBaudRate`, already validated (see [`serial::parse_baud`]).
    pub serial_baud: u32,
    /// `entranceSerialInMode`: `0` off, `4` pass-through; the vendor modes are refused.
    pub serial_in_mode: String,
    /// `entranceWgInMode`: `0` off, `1` IC card number.
    pub wiegand_in_mode: String,
    /// `entranceWgOutMode`: `0` off, `1` card number, `2` temperature (refused: no sensor).
    pub wiegand_out_mode: String,
}

impl Default for HwParams {
    /// Wiegand readers read cards, RS485 input is off until the cloud enables pass-through.
    fn default() -> HwParams {
        HwParams {
            serial_baud: 9600,
            serial_in_mode: "0".into(),
            wiegand_in_mode: "1".into(),
            wiegand_out_mode: "1".into(),
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
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
