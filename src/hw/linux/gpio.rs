//! GPIO through the character device (gpio-cdev): the relay, the Wiegand output lines, an
//! RS485 driver-enable line, the alarm output, the Wiegand input thread and the door's input
//! threads (exit button, door contact, fire, tamper).

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gpio_cdev::{Chip, EventRequestFlags, LineEventHandle, LineHandle, LineRequestFlags};

use super::sys::{self, Clock};
use crate::access::doorwatch::{Debounce, Event as DoorEvent, Input as DoorInput};
use crate::board::InputLineProfile;
use crate::hw::wiegand::{self, DecoderTiming, OutTiming, PulseLines, WiegandInput, WiegandLine};
use crate::hw::{InputEvent, InputStats, Relay, SharedParams, WiegandBits, WiegandOut};
use crate::{Error, Result};

/// The consumer label shown by `gpioinfo` for lines facegate holds.
const CONSUMER: &str = "facegate";

/// Opens a gpiochip given as a path, a name (`gpiochip0`) or a label (`gpio3`, `pinctrl-bcm2711`).
pub fn open_chip(spec: &str) -> Result<Chip> {
    let dev = format!("/dev/{spec}");
    let path = if spec.starts_with('/') {
        spec.to_string()
    } else if std::path::Path::new(&dev).exists() {
        dev
    } else {
        let chips: Vec<Chip> = gpio_cdev::chips().map(|it| it.flatten().collect()).unwrap_or_default();
        match chips.into_iter().find(|c| c.label() == spec) {
            Some(chip) => return Ok(chip),
            None => {
                return Err(Error::Hardware(format!(
                    "no gpiochip is named or labelled `{spec}` (missing); the chips here are: {}",
                    list_chips()
                )));
            }
        }
    };
    // Opened once by hand first so the error says missing or permission, not an ioctl failure.
    File::open(&path).map_err(|e| Error::io(format!("opening {path} ({})", reason(&e)), e))?;
    Chip::new(&path).map_err(|e| Error::hardware(format!("{path} is not a usable gpiochip"), e))
}

/// `gpiochip0 [pinctrl-bcm2711], ...`, for messages.
fn list_chips() -> String {
    let names: Vec<String> = gpio_cdev::chips()
        .map(|it| it.flatten().map(|c| format!("{} [{}]", c.name(), c.label())).collect())
        .unwrap_or_default();
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

/// The short reason a technician acts on: missing, permission or busy.
pub fn reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "missing",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        _ if e.raw_os_error() == Some(libc::EBUSY) => "busy",
        _ => "error",
    }
}

/// Checks a line without requesting it (requesting would drive outputs): exists, and who holds it.
pub fn check_line(chip: &str, line: u32) -> std::result::Result<String, String> {
    let mut c = open_chip(chip).map_err(|e| e.to_string())?;
    let l = c
        .get_line(line)
        .map_err(|_| format!("{} has no line {line} (it has {})", c.path().display(), c.num_lines()))?;
    let info = l.info().map_err(|e| format!("line info: {e}"))?;
    if info.is_used() {
        Err(format!("busy: used by {:?}", info.consumer().unwrap_or("the kernel")))
    } else {
        Ok(format!("{} line {line} is free", c.path().display()))
    }
}

/// A requested output line with its active level.
pub struct OutputLine {
    handle: LineHandle,
    active_low: bool,
    what: String,
}

impl OutputLine {
    /// Requests `line` of `chip` as an output, initially inactive; `what` names it in errors.
    pub fn request(chip: &str, line: u32, active_low: bool, what: &str) -> Result<OutputLine> {
        let mut c = open_chip(chip)?;
        let path = c.path().display().to_string();
        let l = c
            .get_line(line)
            .map_err(|e| Error::hardware(format!("{what}: {path} has no line {line} (it has {})", c.num_lines()), e))?;
        if let Ok(info) = l.info() {
            if info.is_used() {
                return Err(Error::Hardware(format!(
                    "{what}: line {line} of {path} is busy, used by {:?}",
                    info.consumer().unwrap_or("the kernel")
                )));
            }
        }
        let handle = l
            .request(LineRequestFlags::OUTPUT, u8::from(active_low), CONSUMER)
            .map_err(|e| Error::hardware(format!("{what}: requesting line {line} of {path}"), e))?;
        Ok(OutputLine { handle, active_low, what: format!("{what} ({path} line {line})") })
    }

    /// Drives the line to its active (`true`) or inactive level.
    pub fn set(&self, active: bool) -> Result<()> {
        self.handle.set_value(u8::from(active != self.active_low)).map_err(|e| Error::hardware(self.what.clone(), e))
    }
}

/// The door relay on a GPIO line.
pub struct GpioRelay(pub OutputLine);

impl Relay for GpioRelay {
    fn set(&mut self, open: bool) -> Result<()> {
        self.0.set(open)
    }
}

/// The Wiegand output: two lines bit-banged with the profile's timing.
pub struct GpioWiegandOut {
    /// The D0 line.
    pub d0: OutputLine,
    /// The D1 line.
    pub d1: OutputLine,
    /// Pulse width and period.
    pub timing: OutTiming,
}

impl PulseLines for GpioWiegandOut {
    fn set(&mut self, line: WiegandLine, active: bool) -> Result<()> {
        match line {
            WiegandLine::D0 => self.d0.set(active),
            WiegandLine::D1 => self.d1.set(active),
        }
    }
}

impl WiegandOut for GpioWiegandOut {
    fn send(&mut self, bits: &WiegandBits) -> Result<()> {
        let timing = self.timing;
        let result = wiegand::send_frame(self, bits, timing);
        if result.is_err() {
            // Never leave a line pulled: the controller would read a stuck bit stream.
            let _ = self.d0.set(false);
            let _ = self.d1.set(false);
        }
        result
    }
}

/// The two Wiegand input lines, requested for pulse-start edges.
pub struct WiegandInLines {
    d0: LineEventHandle,
    d1: LineEventHandle,
}

impl WiegandInLines {
    /// Requests D0 and D1 of `chip` for edge events: falling edges, or rising ones behind an
    /// inverting input stage.
    pub fn request(chip: &str, d0: u32, d1: u32, inverted: bool) -> Result<WiegandInLines> {
        let mut c = open_chip(chip)?;
        let path = c.path().display().to_string();
        // Rebuilt per request: the flags type is neither Copy nor Clone.
        let edge = || {
            if inverted { EventRequestFlags::RISING_EDGE } else { EventRequestFlags::FALLING_EDGE }
        };
        let mut request = |offset: u32, name: &str| -> Result<LineEventHandle> {
            let what = format!("Wiegand input {name}: line {offset} of {path}");
            let l = c.get_line(offset).map_err(|e| Error::hardware(format!("{what}: no such line"), e))?;
            if let Ok(info) = l.info() {
                if info.is_used() {
                    let by = info.consumer().unwrap_or("the kernel").to_string();
                    return Err(Error::Hardware(format!("{what} is busy, used by {by:?}")));
                }
            }
            l.events(LineRequestFlags::INPUT, edge(), CONSUMER).map_err(|e| Error::hardware(what, e))
        };
        Ok(WiegandInLines { d0: request(d0, "D0")?, d1: request(d1, "D1")? })
    }
}

/// The clock the kernel stamps GPIO events with: CLOCK_MONOTONIC since Linux 5.7,
/// CLOCK_REALTIME before. Chosen by which one the first event is closer to.
fn event_clock(first_ts: u64) -> Clock {
    let mono = sys::now_ns(Clock::Monotonic);
    let real = sys::now_ns(Clock::Realtime);
    if first_ts.abs_diff(mono) <= first_ts.abs_diff(real) { Clock::Monotonic } else { Clock::Realtime }
}

/// Starts the Wiegand input thread; it runs until `events` is closed.
pub fn spawn_wiegand_reader(
    lines: WiegandInLines,
    timing: DecoderTiming,
    params: SharedParams,
    events: Sender<InputEvent>,
    stats: Arc<Mutex<InputStats>>,
) -> Result<()> {
    std::thread::Builder::new()
        .name("wiegand-in".into())
        .spawn(move || {
            if let Err(e) = run_wiegand_reader(lines, timing, &params, &events, &stats) {
                log::error!("Wiegand input stopped: {e}");
            }
        })
        .map_err(|e| Error::io("starting the Wiegand input thread", e))?;
    Ok(())
}

fn run_wiegand_reader(
    mut lines: WiegandInLines,
    timing: DecoderTiming,
    params: &SharedParams,
    events: &Sender<InputEvent>,
    stats: &Mutex<InputStats>,
) -> Result<()> {
    let mut input = WiegandInput::new(timing);
    let mut clock = None;
    loop {
        // Wait for an edge, or exactly until the current frame's end-of-frame silence has passed.
        let timeout = match (input.decoder.deadline(), clock) {
            (Some(deadline), Some(c)) => Some(Duration::from_nanos(deadline.saturating_sub(sys::now_ns(c)))),
            _ => None,
        };
        let ready = match sys::wait_readable([lines.d0.as_fd(), lines.d1.as_fd()], timeout) {
            Ok(ready) => ready,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("waiting for Wiegand edges", e)),
        };
        for (ready, (handle, line)) in
            ready.into_iter().zip([(&mut lines.d0, WiegandLine::D0), (&mut lines.d1, WiegandLine::D1)])
        {
            if ready {
                let event =
                    handle.get_event().map_err(|e| Error::hardware(format!("reading a Wiegand {line:?} edge"), e))?;
                if clock.is_none() {
                    clock = Some(event_clock(event.timestamp()));
                }
                input.decoder.edge(line, event.timestamp());
            }
        }
        let now = clock.map_or(0, sys::now_ns);
        let new_events = input.events(params.get().wiegand_in_mode, now);
        *stats.lock().unwrap_or_else(|p| p.into_inner()) = input.decoder.stats();
        for event in new_events {
            if events.send(event).is_err() {
                return Ok(());
            }
        }
    }
}

/// The alarm output on a GPIO line.
pub struct GpioAlarmOutput(pub OutputLine);

impl crate::hw::AlarmOutput for GpioAlarmOutput {
    fn set(&mut self, on: bool) -> Result<()> {
        self.0.set(on)
    }
}

/// One of the door's input lines, requested for both edges.
pub struct DoorInputLine {
    input: DoorInput,
    handle: LineEventHandle,
    active_low: bool,
    debounce_ms: u64,
    what: String,
}

impl DoorInputLine {
    /// Requests `profile`'s line for edge events, as `input`.
    pub fn request(input: DoorInput, profile: &InputLineProfile) -> Result<DoorInputLine> {
        let mut c = open_chip(&profile.chip)?;
        let what = format!("{}: line {} of {}", input.name(), profile.line, c.path().display());
        let l = c.get_line(profile.line).map_err(|e| Error::hardware(format!("{what}: no such line"), e))?;
        if let Ok(info) = l.info() {
            if info.is_used() {
                let by = info.consumer().unwrap_or("the kernel").to_string();
                return Err(Error::Hardware(format!("{what} is busy, used by {by:?}")));
            }
        }
        let handle = l
            .events(LineRequestFlags::INPUT, EventRequestFlags::BOTH_EDGES, CONSUMER)
            .map_err(|e| Error::hardware(what.clone(), e))?;
        Ok(DoorInputLine { input, handle, active_low: profile.active_low, debounce_ms: profile.debounce_ms, what })
    }

    /// The line's level now, as active or not.
    fn active(&self) -> Result<bool> {
        let v = self.handle.get_value().map_err(|e| Error::hardware(format!("reading {}", self.what), e))?;
        Ok((v != 0) != self.active_low)
    }
}

/// Starts the thread of one door input: it sleeps in the kernel until an edge (no periodic
/// wake-up while idle), waits out the debounce time, and sends each new stable level.
pub fn spawn_door_input(line: DoorInputLine, events: Sender<DoorEvent>) -> Result<()> {
    std::thread::Builder::new()
        .name(format!("in-{}", line.input.name()))
        .spawn(move || {
            if let Err(e) = run_door_input(line, &events) {
                log::error!("door input stopped: {e}");
            }
        })
        .map_err(|e| Error::io("starting a door input thread", e))?;
    Ok(())
}

fn run_door_input(mut line: DoorInputLine, events: &Sender<DoorEvent>) -> Result<()> {
    let ms = || sys::now_ns(Clock::Monotonic) / 1_000_000;
    let initial = line.active()?;
    if events.send(DoorEvent::Level(line.input, initial)).is_err() {
        return Ok(());
    }
    let mut debounce = Debounce::new(line.debounce_ms, Some(initial));
    loop {
        let timeout = debounce.deadline().map(|t| Duration::from_millis(t.saturating_sub(ms())));
        let [ready] = match sys::wait_readable([line.handle.as_fd()], timeout) {
            Ok(ready) => ready,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(format!("waiting for {}", line.what), e)),
        };
        if ready {
            // The event only says an edge came; the level is read after it, so a burst of
            // bounces ends at the level the line really settled on.
            line.handle.get_event().map_err(|e| Error::hardware(format!("reading {}", line.what), e))?;
            debounce.edge(line.active()?, ms());
        }
        if let Some(level) = debounce.settle(ms()) {
            if events.send(DoorEvent::Level(line.input, level)).is_err() {
                return Ok(());
            }
        }
    }
}
