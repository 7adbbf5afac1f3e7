//! Board profiles: which GPIO lines, serial ports and camera a terminal model uses.
//!
//! A profile is a TOML file (`board/*.toml`); the shipped ones are built into the binary so
//! `sim` works with no file installed. A profile with a wrong value is refused with the file,
//! line and key, e.g. `board/x.toml:7:8: key `relay.line`: invalid type: string "a", expected u32`.
//!
//! Profile data only: parsing, validation and the built-in profiles. Claiming the lines, ports
//! and camera a profile names is `hw`'s job (`hw::open`, `hw::doctor`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::protocol::devinfo::BAUD_RATES;
use crate::{Error, Result};

/// The shipped profiles, by name.
pub const BUILTIN: [(&str, &str); 4] = [
    ("sim", include_str!("../board/sim.toml")),
    ("rpi4", include_str!("../board/rpi4.toml")),
    ("rv1126", include_str!("../board/rv1126.toml")),
    ("rk3568", include_str!("../board/rk3568.toml")),
];

/// Which backends a profile uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoardKind {
    /// Nothing touches the host; actuator actions are logged as JSON lines.
    Sim,
    /// gpio-cdev, serial ports and V4L2.
    Linux,
}

/// A terminal model's hardware.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardProfile {
    /// Short name, for logs and `status`.
    pub name: String,
    /// `sim` or `linux`.
    pub kind: BoardKind,
    /// What the profile is for, free text.
    #[serde(default)]
    pub description: String,
    /// The door relay (required on `linux`).
    pub relay: Option<RelayProfile>,
    /// The Wiegand input (card reader or keypad).
    pub wiegand_in: Option<WiegandInProfile>,
    /// The Wiegand output towards a third-party controller.
    pub wiegand_out: Option<WiegandOutProfile>,
    /// The RS485 port.
    pub rs485: Option<Rs485Profile>,
    /// A serial QR-code reader.
    pub qr_reader: Option<QrReaderProfile>,
    /// The camera for snapshots.
    pub camera: Option<CameraProfile>,
    /// The exit button (request to exit): active while pressed.
    pub exit_button: Option<InputLineProfile>,
    /// The door contact: active while the door is open.
    pub door_contact: Option<InputLineProfile>,
    /// The fire panel's release input: active while the fire alarm runs.
    pub fire_input: Option<InputLineProfile>,
    /// The tamper switch: active while the housing is open.
    pub tamper: Option<InputLineProfile>,
    /// The alarm output (siren or buzzer relay): active while an alarm runs.
    pub alarm_output: Option<RelayProfile>,
    /// Where the profile was read from, for messages.
    #[serde(skip)]
    pub source: String,
}

/// A GPIO output line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayProfile {
    /// The gpiochip: a path (`/dev/gpiochip0`), a name (`gpiochip0`) or a label (`pinctrl-bcm2711`).
    pub chip: String,
    /// The line offset on that chip.
    pub line: u32,
    /// The relay is energised by a low level.
    #[serde(default)]
    pub active_low: bool,
}

/// A GPIO input line of the door (exit button, door contact, fire input, tamper).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputLineProfile {
    /// The gpiochip (path, name or label).
    pub chip: String,
    /// The line offset on that chip.
    pub line: u32,
    /// The input is active at a low level (a contact to ground with a pull-up).
    #[serde(default)]
    pub active_low: bool,
    /// A new level counts once it has held this long (0..=[`MAX_DEBOUNCE_MS`]).
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
}

/// The longest debounce of an input line: a second would make an exit button feel broken.
pub const MAX_DEBOUNCE_MS: u64 = 1000;

/// The largest line offset a profile may name. SoC GPIO controllers have tens to a few hundred
/// lines per chip; a number beyond this is a global (sysfs) GPIO number or a typo, which would
/// only fail at the claim, on the board.
pub const MAX_LINE_OFFSET: u32 = 1023;

fn default_debounce_ms() -> u64 {
    50
}

/// The end-of-frame silence of a Wiegand input without `end_gap_bit_times`, in measured bit
/// periods; also the decoder's default.
pub const DEFAULT_END_GAP_BIT_TIMES: u64 = 4;

/// The Wiegand input lines.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WiegandInProfile {
    /// The gpiochip of both lines (path, name or label).
    pub chip: String,
    /// Line offset of D0.
    pub d0: u32,
    /// Line offset of D1.
    pub d1: u32,
    /// The input stage inverts (an optocoupler): pulses are rising edges at the GPIO.
    #[serde(default)]
    pub inverted: bool,
    /// Silence, in measured bit periods, that ends a frame (2..=16).
    #[serde(default = "default_end_gap_bit_times")]
    pub end_gap_bit_times: u64,
}

fn default_end_gap_bit_times() -> u64 {
    DEFAULT_END_GAP_BIT_TIMES
}

/// The Wiegand output lines and timing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WiegandOutProfile {
    /// The gpiochip of both lines (path, name or label).
    pub chip: String,
    /// Line offset of D0.
    pub d0: u32,
    /// Line offset of D1.
    pub d1: u32,
    /// The output stage inverts (a transistor pulling the Wiegand line): a pulse is a high GPIO
    /// level. Without it a pulse is a low GPIO level, the Wiegand line itself.
    #[serde(default)]
    pub inverted: bool,
    /// Pulse width in microseconds (common readers: 50).
    #[serde(default = "default_pulse_us")]
    pub pulse_us: u32,
    /// Bit period in microseconds (common readers: 2000).
    #[serde(default = "default_period_us")]
    pub period_us: u32,
    /// Frame format: 26 or 34.
    #[serde(default)]
    pub bits: WiegandFormat,
    /// A card number over 24 bits on a 26-bit output: `"send34"` (the default) sends it as a
    /// 34-bit frame, `"refuse"` sends nothing. Never truncated.
    #[serde(default)]
    pub wide_cards: WideCards,
}

/// What a 26-bit Wiegand output does with a card number that needs 25 to 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WideCards {
    /// Sends it as a 34-bit frame (controllers that read both formats).
    #[default]
    Send34,
    /// Sends nothing and says why (controllers that read 26-bit frames only).
    Refuse,
}

fn default_pulse_us() -> u32 {
    50
}

fn default_period_us() -> u32 {
    2000
}

/// The Wiegand output frame formats; in a board profile, `bits = 26` or `bits = 34`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "u8")]
pub enum WiegandFormat {
    /// 26 bits: 24 data bits; a larger number is never truncated (see [`WideCards`]).
    #[default]
    W26,
    /// 34 bits: 32 data bits.
    W34,
}

impl TryFrom<u8> for WiegandFormat {
    type Error = String;

    fn try_from(bits: u8) -> std::result::Result<WiegandFormat, String> {
        match bits {
            26 => Ok(WiegandFormat::W26),
            34 => Ok(WiegandFormat::W34),
            other => Err(format!("{other} is not an output format; use 26 or 34")),
        }
    }
}

/// How the RS485 transceiver's driver-enable (DE) is switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverEnable {
    /// The UART driver does it (kernel RS485 mode, TIOCSRS485, RTS as DE).
    Kernel,
    /// A GPIO line (`de_chip`, `de_line`) raised around each write.
    Gpio,
    /// The transceiver switches by itself (auto-direction modules).
    None,
}

/// The RS485 port.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rs485Profile {
    /// The tty, e.g. `/dev/ttyS3`.
    pub tty: String,
    /// How DE is switched.
    pub driver_enable: DriverEnable,
    /// The gpiochip of the DE line (`driver_enable = "gpio"`).
    pub de_chip: Option<String>,
    /// The DE line offset (`driver_enable = "gpio"`).
    pub de_line: Option<u32>,
    /// DE is enabled by a low level.
    #[serde(default)]
    pub de_active_low: bool,
}

/// A serial QR-code reader.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrReaderProfile {
    /// The tty, e.g. `/dev/ttyUSB0`.
    pub tty: String,
    /// Baud rate (most readers: 9600 or 115200).
    #[serde(default = "default_qr_baud")]
    pub baud: u32,
}

fn default_qr_baud() -> u32 {
    9600
}

/// Pixel formats a camera may be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CameraFormat {
    /// Motion JPEG: frames pass through unchanged.
    #[serde(rename = "MJPG")]
    Mjpg,
    /// Packed YUV 4:2:2, encoded here.
    #[serde(rename = "YUYV")]
    Yuyv,
    /// Planar YUV 4:2:0, encoded here.
    #[serde(rename = "NV12")]
    Nv12,
}

/// The camera.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraProfile {
    /// The V4L2 device, e.g. `/dev/video0`.
    pub device: String,
    /// Preferred pixel format; another of the three is accepted if the driver insists.
    pub format: CameraFormat,
    /// Preferred width in pixels.
    pub width: u32,
    /// Preferred height in pixels.
    pub height: u32,
    /// Frames thrown away after the stream starts, while auto-exposure settles.
    #[serde(default)]
    pub skip_frames: u32,
}

impl BoardProfile {
    /// The Wiegand output format (26-bit when the profile has no output).
    pub fn wiegand_out_format(&self) -> WiegandFormat {
        self.wiegand_out.as_ref().map(|w| w.bits).unwrap_or_default()
    }

    /// What the Wiegand output does with a number over 24 bits (send 34-bit by default).
    pub fn wiegand_wide_cards(&self) -> WideCards {
        self.wiegand_out.as_ref().map(|w| w.wide_cards).unwrap_or_default()
    }

    /// The door's input lines the profile has, with their tables' names.
    pub fn door_inputs(&self) -> Vec<(&'static str, &InputLineProfile)> {
        [
            ("exit_button", &self.exit_button),
            ("door_contact", &self.door_contact),
            ("fire_input", &self.fire_input),
            ("tamper", &self.tamper),
        ]
        .into_iter()
        .filter_map(|(name, l)| l.as_ref().map(|l| (name, l)))
        .collect()
    }

    /// Checks the door inputs' debounce, and every GPIO line of the profile (relay, Wiegand
    /// in and out, the RS485 DE line, the door inputs and the alarm output): an offset below
    /// [`MAX_LINE_OFFSET`], and no line claimed twice.
    fn validate_lines(&self) -> std::result::Result<(), (&'static str, String)> {
        for (name, l) in self.door_inputs() {
            if l.debounce_ms > MAX_DEBOUNCE_MS {
                let key = match name {
                    "exit_button" => "exit_button.debounce_ms",
                    "door_contact" => "door_contact.debounce_ms",
                    "fire_input" => "fire_input.debounce_ms",
                    _ => "tamper.debounce_ms",
                };
                return Err((key, format!("{} ms is outside 0..={MAX_DEBOUNCE_MS} ms", l.debounce_ms)));
            }
        }
        // (key, chip, offset) of every line, in the order the profile's tables are read.
        let mut lines: Vec<(&'static str, &str, u32)> = Vec::new();
        if let Some(r) = &self.relay {
            lines.push(("relay.line", &r.chip, r.line));
        }
        if let Some(w) = &self.wiegand_in {
            lines.extend([("wiegand_in.d0", w.chip.as_str(), w.d0), ("wiegand_in.d1", w.chip.as_str(), w.d1)]);
        }
        if let Some(w) = &self.wiegand_out {
            lines.extend([("wiegand_out.d0", w.chip.as_str(), w.d0), ("wiegand_out.d1", w.chip.as_str(), w.d1)]);
        }
        if let Some(Rs485Profile { de_chip: Some(chip), de_line: Some(line), .. }) = &self.rs485 {
            lines.push(("rs485.de_line", chip, *line));
        }
        for (name, l) in self.door_inputs() {
            let key = match name {
                "exit_button" => "exit_button.line",
                "door_contact" => "door_contact.line",
                "fire_input" => "fire_input.line",
                _ => "tamper.line",
            };
            lines.push((key, &l.chip, l.line));
        }
        if let Some(a) = &self.alarm_output {
            lines.push(("alarm_output.line", &a.chip, a.line));
        }
        for (i, &(key, chip, line)) in lines.iter().enumerate() {
            if line > MAX_LINE_OFFSET {
                return Err((
                    key,
                    format!(
                        "line {line} is beyond {MAX_LINE_OFFSET}: the offset on the chip is wanted (`gpioinfo {chip}`), \
                         not a global GPIO number"
                    ),
                ));
            }
            if let Some((first, _, _)) = lines[..i].iter().find(|(_, c, l)| *c == chip && *l == line) {
                let name = key.split('.').next().unwrap_or(key);
                let first = first.split('.').next().unwrap_or(first);
                return Err((key, format!("{name} is line {line} of {chip}, already used by {first}")));
            }
        }
        Ok(())
    }

    /// Checks what serde cannot: returns the offending key (`table.key`) and why.
    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        if self.kind == BoardKind::Linux && self.relay.is_none() {
            return Err(("relay", "a linux board needs a [relay] table (chip, line)".into()));
        }
        if let Some(w) = &self.wiegand_in {
            if w.d0 == w.d1 {
                return Err(("wiegand_in.d1", format!("D1 is line {}, the same as D0", w.d1)));
            }
            if !(2..=16).contains(&w.end_gap_bit_times) {
                return Err(("wiegand_in.end_gap_bit_times", format!("{} is outside 2..=16", w.end_gap_bit_times)));
            }
        }
        if let Some(w) = &self.wiegand_out {
            if w.d0 == w.d1 {
                return Err(("wiegand_out.d1", format!("D1 is line {}, the same as D0", w.d1)));
            }
            if !(20..=1000).contains(&w.pulse_us) {
                return Err(("wiegand_out.pulse_us", format!("{} us is outside 20..=1000 us", w.pulse_us)));
            }
            if w.period_us < w.pulse_us * 2 || w.period_us > 20_000 {
                return Err((
                    "wiegand_out.period_us",
                    format!("{} us must be at least twice pulse_us ({}) and at most 20000", w.period_us, w.pulse_us),
                ));
            }
        }
        self.validate_lines()?;
        if let Some(r) = &self.rs485 {
            let gpio = r.driver_enable == DriverEnable::Gpio;
            if gpio && r.de_chip.is_none() {
                return Err(("rs485.de_chip", "driver_enable = \"gpio\" needs de_chip and de_line".into()));
            }
            if gpio && r.de_line.is_none() {
                return Err(("rs485.de_line", "driver_enable = \"gpio\" needs de_chip and de_line".into()));
            }
            if !gpio && (r.de_chip.is_some() || r.de_line.is_some()) {
                return Err((
                    "rs485.driver_enable",
                    "de_chip and de_line are only used with driver_enable = \"gpio\"".into(),
                ));
            }
        }
        if let Some(q) = &self.qr_reader {
            if !BAUD_RATES.contains(&q.baud) {
                return Err(("qr_reader.baud", format!("{} is not one of {:?}", q.baud, BAUD_RATES)));
            }
        }
        if let Some(c) = &self.camera {
            if c.width == 0 || c.width % 2 == 1 || c.width > 8192 {
                return Err(("camera.width", format!("{} is not an even width up to 8192", c.width)));
            }
            if c.height == 0 || c.height > 8192 {
                return Err(("camera.height", format!("{} is not a height from 1 to 8192", c.height)));
            }
        }
        Ok(())
    }
}

/// Parses a profile; `file` names it in error messages.
pub fn parse_profile(text: &str, file: &str) -> Result<BoardProfile> {
    let mut profile: BoardProfile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let key = key_at(text, offset, e.message());
        let (line, col) = line_col(text, offset);
        Error::Config(format!("{file}:{line}:{col}: key `{key}`: {}", e.message()))
    })?;
    profile.validate().map_err(|(key, message)| {
        let (line, col) = locate(text, key);
        Error::Config(format!("{file}:{line}:{col}: key `{key}`: {message}"))
    })?;
    profile.source = file.to_string();
    Ok(profile)
}

/// Loads a profile: `spec` is a built-in name (`sim`, `rpi4`, `rv1126`, `rk3568`) or a path to a
/// `.toml` file, relative paths being taken from `base_dir` (the configuration's directory).
pub fn load_profile(spec: &str, base_dir: Option<&Path>) -> Result<BoardProfile> {
    let is_name = !spec.contains('/') && !spec.ends_with(".toml");
    if is_name {
        return match BUILTIN.iter().find(|(name, _)| *name == spec) {
            Some((name, text)) => parse_profile(text, &format!("board/{name}.toml (built-in)")),
            None => Err(Error::Config(format!(
                "board `{spec}` is not a built-in profile (built-in: {}); give the path of a .toml file for other boards",
                BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))),
        };
    }
    let path = match base_dir {
        Some(base) if Path::new(spec).is_relative() => base.join(spec),
        _ => PathBuf::from(spec),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io_path("reading board profile", &path, e))?;
    parse_profile(&text, &path.display().to_string())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The name of a `[table]` header line.
fn header(line: &str) -> Option<String> {
    let t = line.trim();
    t.starts_with('[').then(|| t.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string())
}

/// The `[table]` in force at byte `offset` ("" for the top level).
fn table_at(text: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if pos > offset {
            break;
        }
        if let Some(name) = header(line) {
            table = name;
        }
        pos += line.len();
    }
    table
}

/// The dotted key a serde error at `offset` is about: the key of a `key = value` line, or the
/// field named in a "missing field" message under the table header the span points at.
fn key_at(text: &str, offset: usize, message: &str) -> String {
    let start = text.get(..offset.min(text.len())).and_then(|b| b.rfind('\n')).map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let table = table_at(text, offset);
    let join = |key: &str| {
        if table.is_empty() { key.to_string() } else { format!("{table}.{key}") }
    };
    let trimmed = line.trim();
    if !trimmed.starts_with('[') {
        if let Some((key, _)) = line.split_once('=') {
            return join(key.trim());
        }
    }
    let quoted = message.split('`').nth(1).unwrap_or("");
    if message.starts_with("missing field") && !quoted.is_empty() {
        return join(quoted);
    }
    if table.is_empty() { "(top level)".to_string() } else { table }
}

/// Where `table.key` is written: its own line, else its table header, else the top of the file.
fn locate(text: &str, dotted: &str) -> (usize, usize) {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    let mut header_at = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if let Some(name) = header(line) {
            current = name;
            if current == table {
                header_at.get_or_insert(pos + (line.len() - t.len()));
            }
        } else if current == table {
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return line_col(text, pos + (line.len() - t.len()));
                }
            }
        }
        pos += line.len();
    }
    header_at.map_or((1, 1), |h| line_col(text, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_load() {
        for (name, _) in BUILTIN {
            let p = load_profile(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, name);
            assert!(p.source.contains(&format!("board/{name}.toml")));
        }
        let sim = load_profile("sim", None).unwrap();
        assert_eq!(sim.kind, BoardKind::Sim);
        let rk = load_profile("rk3568", None).unwrap();
        assert_eq!(rk.kind, BoardKind::Linux);
        assert!(rk.relay.is_some());
    }

    #[test]
    fn builtin_profiles_say_which_door_lines_they_have() {
        let names = |p: &str| {
            let p = load_profile(p, None).unwrap();
            let mut n: Vec<&str> = p.door_inputs().into_iter().map(|(n, _)| n).collect();
            if p.alarm_output.is_some() {
                n.push("alarm_output");
            }
            n
        };
        let all = ["exit_button", "door_contact", "fire_input", "tamper", "alarm_output"];
        assert_eq!(names("rv1126"), all);
        assert_eq!(names("rk3568"), all);
        assert_eq!(
            names("rpi4"),
            ["exit_button", "door_contact", "alarm_output"],
            "the bench has no fire panel or tamper"
        );
        assert!(names("sim").is_empty(), "the sim board's inputs need no lines");
        let rpi = load_profile("rpi4", None).unwrap();
        let exit = rpi.exit_button.unwrap();
        assert!(exit.active_low);
        assert_eq!(exit.debounce_ms, 50);
    }

    #[test]
    fn door_lines_are_bounded_and_never_shared() {
        let with = |extra: &str| format!("{GOOD}\n{extra}");
        let ok = with("[door_contact]\nchip = \"gpiochip0\"\nline = 5\ndebounce_ms = 1000\n");
        let p = parse_profile(&ok, "x.toml").unwrap();
        assert_eq!(p.door_contact.as_ref().map(|l| l.debounce_ms), Some(1000), "at the bound");
        let past = with("[door_contact]\nchip = \"gpiochip0\"\nline = 5\ndebounce_ms = 1001\n");
        assert_eq!(error(&past), "x.toml:17:1: key `door_contact.debounce_ms`: 1001 ms is outside 0..=1000 ms");
        let shared = with("[exit_button]\nchip = \"gpiochip0\"\nline = 17\n");
        assert_eq!(
            error(&shared),
            "x.toml:16:1: key `exit_button.line`: exit_button is line 17 of gpiochip0, already used by relay"
        );
        let alarm = with("[tamper]\nchip = \"gpiochip1\"\nline = 3\n[alarm_output]\nchip = \"gpiochip1\"\nline = 3\n");
        assert_eq!(
            error(&alarm),
            "x.toml:19:1: key `alarm_output.line`: alarm_output is line 3 of gpiochip1, already used by tamper"
        );
        // The same offset on another chip is another line.
        parse_profile(&with("[tamper]\nchip = \"gpiochip1\"\nline = 17\n"), "x.toml").unwrap();
        let unknown = with("[door_contact]\nchip = \"gpiochip0\"\nline = 5\nnormally = \"open\"\n");
        assert!(
            error(&unknown).starts_with("x.toml:17:1: key `door_contact.normally`: unknown field"),
            "{}",
            error(&unknown)
        );
    }

    #[test]
    fn every_gpio_line_is_bounded_and_claimed_once() {
        // GOOD: relay gpiochip0 17, wiegand_out gpiochip0 23/24.
        let at_bound = GOOD.replace("line = 17", &format!("line = {MAX_LINE_OFFSET}"));
        parse_profile(&at_bound, "x.toml").unwrap();
        let past = GOOD.replace("line = 17", &format!("line = {}", MAX_LINE_OFFSET + 1));
        assert_eq!(
            error(&past),
            "x.toml:6:1: key `relay.line`: line 1024 is beyond 1023: the offset on the chip is wanted \
             (`gpioinfo gpiochip0`), not a global GPIO number"
        );
        let wiegand_on_relay = GOOD.replace("d0 = 23", "d0 = 17");
        assert_eq!(
            error(&wiegand_on_relay),
            "x.toml:10:1: key `wiegand_out.d0`: wiegand_out is line 17 of gpiochip0, already used by relay"
        );
        let de_on_wiegand = format!(
            "{GOOD}\n[rs485]\ntty = \"/dev/ttyS1\"\ndriver_enable = \"gpio\"\nde_chip = \"gpiochip0\"\nde_line = 24\n"
        );
        assert_eq!(
            error(&de_on_wiegand),
            "x.toml:18:1: key `rs485.de_line`: rs485 is line 24 of gpiochip0, already used by wiegand_out"
        );
        let input_past = format!("{GOOD}\n[exit_button]\nchip = \"gpiochip2\"\nline = 4096\n");
        assert!(
            error(&input_past).starts_with("x.toml:16:1: key `exit_button.line`: line 4096 is beyond"),
            "{}",
            error(&input_past)
        );
    }

    #[test]
    fn unknown_builtin_lists_the_known_ones() {
        let err = load_profile("rpi5", None).unwrap_err().to_string();
        assert!(err.contains("rpi5") && err.contains("sim, rpi4, rv1126, rk3568"), "{err}");
    }

    const GOOD: &str = "name = \"bench\"\nkind = \"linux\"\n\n[relay]\nchip = \"gpiochip0\"\nline = 17\n\n[wiegand_out]\nchip = \"gpiochip0\"\nd0 = 23\nd1 = 24\nbits = 34\n";

    #[test]
    fn wide_cards_go_out_as_34_bits_unless_the_profile_refuses_them() {
        let p = parse_profile(GOOD, "b.toml").unwrap();
        assert_eq!(p.wiegand_wide_cards(), WideCards::Send34, "the default");
        let p = parse_profile(&format!("{GOOD}wide_cards = \"refuse\"\n"), "b.toml").unwrap();
        assert_eq!(p.wiegand_wide_cards(), WideCards::Refuse);
        let err = parse_profile(&format!("{GOOD}wide_cards = \"truncate\"\n"), "b.toml").unwrap_err().to_string();
        assert!(err.contains("wide_cards"), "{err}");
    }

    #[test]
    fn profile_from_a_path_relative_to_the_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("boards")).unwrap();
        std::fs::write(dir.path().join("boards/bench.toml"), GOOD).unwrap();
        let p = load_profile("boards/bench.toml", Some(dir.path())).unwrap();
        assert_eq!(p.relay, Some(RelayProfile { chip: "gpiochip0".into(), line: 17, active_low: false }));
        let out = p.wiegand_out.as_ref().unwrap();
        assert_eq!((out.pulse_us, out.period_us, out.bits), (50, 2000, WiegandFormat::W34));
        assert_eq!(p.wiegand_out_format(), WiegandFormat::W34);
        let err = load_profile("boards/none.toml", Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("boards/none.toml"), "{err}");
    }

    fn error(text: &str) -> String {
        match parse_profile(text, "x.toml").unwrap_err() {
            Error::Config(m) => m,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn wrong_values_name_file_line_and_key() {
        let bad_type = GOOD.replace("line = 17", "line = \"17\"");
        assert!(error(&bad_type).starts_with("x.toml:6:8: key `relay.line`: invalid type"), "{}", error(&bad_type));

        let unknown = GOOD.replace("line = 17", "line = 17\nlevel = 1");
        assert!(
            error(&unknown).starts_with("x.toml:7:1: key `relay.level`: unknown field `level`"),
            "{}",
            error(&unknown)
        );

        let missing = GOOD.replace("line = 17\n", "");
        assert!(
            error(&missing).starts_with("x.toml:4:1: key `relay.line`: missing field `line`"),
            "{}",
            error(&missing)
        );

        let kind = GOOD.replace("\"linux\"", "\"linx\"");
        assert!(error(&kind).starts_with("x.toml:2:8: key `kind`: unknown variant `linx`"), "{}", error(&kind));

        let bits = GOOD.replace("bits = 34", "bits = 32");
        assert!(
            error(&bits).starts_with("x.toml:12:8: key `wiegand_out.bits`: 32 is not an output format"),
            "{}",
            error(&bits)
        );

        let same = GOOD.replace("d1 = 24", "d1 = 23");
        assert_eq!(error(&same), "x.toml:11:1: key `wiegand_out.d1`: D1 is line 23, the same as D0");

        let timing = GOOD.replace("bits = 34", "period_us = 60");
        assert_eq!(
            error(&timing),
            "x.toml:12:1: key `wiegand_out.period_us`: 60 us must be at least twice pulse_us (50) and at most 20000"
        );

        let no_relay = "name = \"x\"\nkind = \"linux\"\n";
        assert!(error(no_relay).starts_with("x.toml:1:1: key `relay`: a linux board needs"), "{}", error(no_relay));

        let de = "name = \"x\"\nkind = \"sim\"\n[rs485]\ntty = \"/dev/ttyS1\"\ndriver_enable = \"gpio\"\nde_chip = \"gpio3\"\n";
        assert_eq!(error(de), "x.toml:3:1: key `rs485.de_line`: driver_enable = \"gpio\" needs de_chip and de_line");

        let syntax = "name = \"x\"\nkind = \"sim\"\n[relay\n";
        assert!(error(syntax).starts_with("x.toml:3:"), "{}", error(syntax));
    }
}
