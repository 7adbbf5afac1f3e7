//! Wiegand: decoding frames from timed falling edges, keypad entry, encoding card frames and
//! the pulse timing of the output.
//!
//! Everything here is pure: the Linux backend only feeds edge timestamps (taken by the kernel
//! in its interrupt handler, so a slow daemon thread does not distort them) and drives lines.
//!
//! End of frame is found from the measured bit period: a frame ends after
//! [`DecoderTiming::end_gap_bit_times`] bit periods of silence. A fixed timeout long enough for
//! slow readers (period up to ~20 ms) would merge the 4-bit frames a fast keypad sends for
//! consecutive keys; one short enough for those would split frames of slow readers.

use std::collections::VecDeque;

use super::{InputEvent, InputStats, WiegandBits};
use crate::board::{BoardProfile, DEFAULT_END_GAP_BIT_TIMES, WiegandOutProfile};
use crate::model::{CardNumber, Credential, Source};
use crate::protocol::devinfo::{WiegandInMode, WiegandOutMode};
use crate::{Error, Result};

/// The output frame formats (a board profile's `bits`), here where frames are coded.
pub use crate::board::{WideCards, WiegandFormat};

/// One of the two Wiegand data lines: a pulse on D0 is a 0 bit, on D1 a 1 bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WiegandLine {
    /// The data-0 line.
    D0,
    /// The data-1 line.
    D1,
}

/// A decoded Wiegand frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WiegandFrame {
    /// 26-bit (H10301): 8-bit facility code and 16-bit card number, both parities good.
    Card26 {
        /// Facility (site) code.
        facility: u8,
        /// Card number within the facility.
        card: u16,
    },
    /// 34-bit: 16-bit facility and 16-bit card number; IC card readers put the card's 32-bit
    /// serial number here.
    Card34 {
        /// High 16 data bits.
        facility: u16,
        /// Low 16 data bits.
        card: u16,
    },
    /// 37-bit (H10304): 16-bit facility code and 19-bit card number.
    Card37 {
        /// Facility code.
        facility: u16,
        /// 19-bit card number.
        card: u32,
    },
    /// One keypad key: 0..=9, 10 = `*` (clear), 11 = `#` (enter); from a 4-bit frame or an
    /// 8-bit frame whose high nibble is the complement of the low one.
    Key(u8),
    /// A frame of another length, bits as received.
    Raw(Vec<bool>),
}

impl WiegandFrame {
    /// The card number as the decimal the cloud and `normalNumber` use: all data bits between
    /// the parity bits read as one binary number (26-bit: 24 bits, 34-bit: 32 bits, 37-bit: 35 bits).
    pub fn card_number(&self) -> Option<u64> {
        match *self {
            WiegandFrame::Card26 { facility, card } => Some(u64::from(facility) << 16 | u64::from(card)),
            WiegandFrame::Card34 { facility, card } => Some(u64::from(facility) << 16 | u64::from(card)),
            WiegandFrame::Card37 { facility, card } => Some(u64::from(facility) << 19 | u64::from(card)),
            WiegandFrame::Key(_) | WiegandFrame::Raw(_) => None,
        }
    }
}

/// Why a frame (or pulse) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WiegandFault {
    /// A frame of a known length whose parity (or keypad complement) check failed.
    Parity {
        /// The bits as received.
        bits: Vec<bool>,
    },
    /// A pulse too close to the previous one (bounce, crosstalk) or a burst too short to be a frame.
    Noise {
        /// What was seen, for the log.
        detail: String,
    },
}

/// Timing limits of the decoder. The defaults fit readers from 200 us to 20 ms bit period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderTiming {
    /// A falling edge closer than this to its neighbour is noise: the Wiegand minimum bit
    /// period is 200 us and a pulse lasts 20..100 us, so a second edge within 120 us is a bounce.
    pub min_bit_interval_ns: u64,
    /// Silence, in measured bit periods, that ends a frame.
    pub end_gap_bit_times: u64,
    /// Lower bound of the end-of-frame silence, against timestamp jitter of threaded interrupts.
    pub min_end_gap_ns: u64,
    /// Upper bound of the end-of-frame silence, and the wait after a first lone bit (whose
    /// period is not known yet).
    pub max_end_gap_ns: u64,
}

impl DecoderTiming {
    /// The timing for a profile's Wiegand input: the defaults with its end-of-frame silence.
    pub fn of(profile: &BoardProfile) -> DecoderTiming {
        let mut timing = DecoderTiming::default();
        if let Some(w) = &profile.wiegand_in {
            timing.end_gap_bit_times = w.end_gap_bit_times;
        }
        timing
    }
}

impl Default for DecoderTiming {
    fn default() -> DecoderTiming {
        DecoderTiming {
            min_bit_interval_ns: 120_000,
            end_gap_bit_times: DEFAULT_END_GAP_BIT_TIMES,
            min_end_gap_ns: 1_000_000,
            max_end_gap_ns: 100_000_000,
        }
    }
}

/// Longest frame collected; no reader sends more, so longer bursts are interference.
const MAX_FRAME_BITS: usize = 128;

/// The frame decoder: fed with falling edges and the current time, it yields frames and faults.
///
/// Edges may arrive slightly out of order (D0 and D1 are read from two descriptors); they are
/// kept sorted by timestamp.
#[derive(Debug, Clone)]
pub struct WiegandDecoder {
    timing: DecoderTiming,
    /// The current frame: (timestamp, bit), sorted by timestamp.
    edges: Vec<(u64, bool)>,
    out: VecDeque<std::result::Result<WiegandFrame, WiegandFault>>,
    stats: InputStats,
}

impl WiegandDecoder {
    /// A decoder with the given timing.
    pub fn new(timing: DecoderTiming) -> WiegandDecoder {
        WiegandDecoder { timing, edges: Vec::new(), out: VecDeque::new(), stats: InputStats::default() }
    }

    /// Feeds one falling edge with its timestamp (ns, any monotonic clock).
    pub fn edge(&mut self, line: WiegandLine, ts_ns: u64) {
        if let Some(deadline) = self.deadline() {
            if ts_ns >= deadline {
                self.finish();
            }
        }
        let bit = line == WiegandLine::D1;
        let at = self.edges.partition_point(|&(t, _)| t <= ts_ns);
        let near = |i: usize| self.edges.get(i).map(|&(t, _)| t.abs_diff(ts_ns));
        let too_close = [at.checked_sub(1).and_then(near), near(at)]
            .into_iter()
            .flatten()
            .any(|d| d < self.timing.min_bit_interval_ns);
        if too_close {
            self.stats.wiegand_noise += 1;
            self.out.push_back(Err(WiegandFault::Noise {
                detail: format!("{line:?} pulse less than {} us from another", self.timing.min_bit_interval_ns / 1000),
            }));
            return;
        }
        self.edges.insert(at, (ts_ns, bit));
        if self.edges.len() >= MAX_FRAME_BITS {
            // A floating or oscillating line never goes quiet; bound the frame instead.
            self.finish();
        }
    }

    /// When the current frame ends if no further edge arrives (same clock as the edges).
    pub fn deadline(&self) -> Option<u64> {
        let &(last, _) = self.edges.last()?;
        Some(last.saturating_add(self.end_gap()))
    }

    /// Ends the current frame if its end-of-frame silence has passed at `now_ns`.
    pub fn poll(&mut self, now_ns: u64) {
        if self.deadline().is_some_and(|d| now_ns >= d) {
            self.finish();
        }
    }

    /// Ends the current frame now, whatever the time (shutdown, tests).
    pub fn flush(&mut self) {
        self.finish();
    }

    /// The next decoded frame or fault, oldest first.
    pub fn next_frame(&mut self) -> Option<std::result::Result<WiegandFrame, WiegandFault>> {
        self.out.pop_front()
    }

    /// Counters of parity errors, noise and unknown lengths since the decoder was made.
    pub fn stats(&self) -> InputStats {
        self.stats
    }

    /// The bit period: the median interval between edges. The median, not the minimum, because
    /// edge timestamps jitter (interrupt latency, an emulated or busy board): two edges landing
    /// close together must not shrink the end-of-frame silence and cut a frame apart.
    fn typical_interval(&self) -> Option<u64> {
        let mut intervals: Vec<u64> = self.edges.windows(2).map(|w| w[1].0 - w[0].0).collect();
        if intervals.is_empty() {
            return None;
        }
        let mid = intervals.len() / 2;
        Some(*intervals.select_nth_unstable(mid).1)
    }

    fn end_gap(&self) -> u64 {
        let t = &self.timing;
        match self.typical_interval() {
            Some(period) => period.saturating_mul(t.end_gap_bit_times).clamp(t.min_end_gap_ns, t.max_end_gap_ns),
            None => t.max_end_gap_ns,
        }
    }

    /// Classifies the collected edges. The bit period is only known once the frame is complete,
    /// so a gap inside it longer than the end-of-frame silence splits it after the fact.
    fn finish(&mut self) {
        if self.edges.is_empty() {
            return;
        }
        let gap = self.end_gap();
        let edges = std::mem::take(&mut self.edges);
        let mut start = 0;
        for i in 1..=edges.len() {
            if i == edges.len() || edges[i].0 - edges[i - 1].0 > gap {
                let bits: Vec<bool> = edges[start..i].iter().map(|&(_, b)| b).collect();
                let item = classify(bits);
                match &item {
                    Err(WiegandFault::Parity { .. }) => self.stats.wiegand_parity_errors += 1,
                    Err(WiegandFault::Noise { .. }) => self.stats.wiegand_noise += 1,
                    Ok(WiegandFrame::Raw(_)) => self.stats.wiegand_unknown_length += 1,
                    Ok(_) => {}
                }
                self.out.push_back(item);
                start = i;
            }
        }
    }
}

impl Default for WiegandDecoder {
    fn default() -> WiegandDecoder {
        WiegandDecoder::new(DecoderTiming::default())
    }
}

/// Reads `bits` as an unsigned big-endian number.
fn number(bits: &[bool]) -> u64 {
    bits.iter().fold(0, |n, &b| n << 1 | u64::from(b))
}

fn ones(bits: &[bool]) -> usize {
    bits.iter().filter(|&&b| b).count()
}

/// Checks the two parity bits of a card frame: the first bit makes `even` even, the last
/// makes `odd` odd (both ranges include their parity bit).
fn parity_ok(bits: &[bool], even: std::ops::Range<usize>, odd: std::ops::Range<usize>) -> bool {
    ones(&bits[even]) % 2 == 0 && ones(&bits[odd]) % 2 == 1
}

fn classify(bits: Vec<bool>) -> std::result::Result<WiegandFrame, WiegandFault> {
    let n = bits.len();
    let parity_error = |bits| Err(WiegandFault::Parity { bits });
    match n {
        0..=3 => Err(WiegandFault::Noise { detail: format!("burst of {n} pulse(s), too short for a frame") }),
        4 => Ok(WiegandFrame::Key(number(&bits) as u8)),
        8 => {
            let (high, low) = (number(&bits[..4]) as u8, number(&bits[4..]) as u8);
            if high == !low & 0x0f { Ok(WiegandFrame::Key(low)) } else { parity_error(bits) }
        }
        26 if parity_ok(&bits, 0..13, 13..26) => {
            Ok(WiegandFrame::Card26 { facility: number(&bits[1..9]) as u8, card: number(&bits[9..25]) as u16 })
        }
        34 if parity_ok(&bits, 0..17, 17..34) => {
            Ok(WiegandFrame::Card34 { facility: number(&bits[1..17]) as u16, card: number(&bits[17..33]) as u16 })
        }
        37 if parity_ok(&bits, 0..19, 18..37) => {
            Ok(WiegandFrame::Card37 { facility: number(&bits[1..17]) as u16, card: number(&bits[17..36]) as u32 })
        }
        26 | 34 | 37 => parity_error(bits),
        _ => Ok(WiegandFrame::Raw(bits)),
    }
}

/// Encodes a card number with both parity bits. A number the frame cannot carry (over 24
/// bits for 26-bit, over 32 bits for 34-bit) is refused: a truncated number is another card.
pub fn encode_card(number: u64, format: WiegandFormat) -> Result<WiegandBits> {
    let data_bits = match format {
        WiegandFormat::W26 => 24,
        WiegandFormat::W34 => 32,
    };
    if number >> data_bits != 0 {
        return Err(Error::Hardware(format!(
            "card number {number} needs more than {data_bits} bits: it does not fit a {}-bit Wiegand frame",
            data_bits + 2
        )));
    }
    let data: Vec<bool> = (0..data_bits).rev().map(|i| number >> i & 1 == 1).collect();
    let half = data_bits / 2;
    let mut bits = Vec::with_capacity(data_bits + 2);
    bits.push(ones(&data[..half]) % 2 == 1);
    bits.extend_from_slice(&data);
    bits.push(ones(&data[half..]) % 2 == 0);
    Ok(WiegandBits(bits))
}

/// The frame to send for `card` under `entranceWgOutMode` `mode`: `None` when the output is off.
/// The card number mode sends the card's value: in the profile's `format` when it fits 24
/// bits; a number of 25 to 32 bits as a 34-bit frame, or refused when the profile says
/// `wide_cards = "refuse"`; a larger one is refused. Temperature is refused: this terminal
/// has no temperature sensor and sending a made-up value would mislead the controller.
pub fn out_frame(
    mode: WiegandOutMode,
    card: &CardNumber,
    format: WiegandFormat,
    wide: WideCards,
) -> Result<Option<WiegandBits>> {
    match mode {
        WiegandOutMode::Off => Ok(None),
        WiegandOutMode::CardNumber => {
            let Some(number) = card.value().filter(|n| n >> 32 == 0) else {
                return Err(Error::Hardware(format!(
                    "card number {card} needs more than 32 bits: no Wiegand frame carries it, nothing sent"
                )));
            };
            let format = match (format, number >> 24 == 0, wide) {
                (format, true, _) => format,
                (WiegandFormat::W34, false, _) | (WiegandFormat::W26, false, WideCards::Send34) => WiegandFormat::W34,
                (WiegandFormat::W26, false, WideCards::Refuse) => {
                    return Err(Error::Hardware(format!(
                        "card number {card} needs more than 24 bits and this board's profile refuses wider \
                         frames than 26 bits (wiegand_out.wide_cards = \"refuse\"): nothing sent"
                    )));
                }
            };
            encode_card(number, format).map(Some)
        }
        WiegandOutMode::Temperature => Err(Error::Hardware(
            "entranceWgOutMode 2 (temperature) needs a temperature sensor this terminal does not have; \
             Wiegand output skipped"
                .into(),
        )),
    }
}

/// Pulse width and period of the Wiegand output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutTiming {
    /// How long a line is pulled for one bit (common readers: 50 us).
    pub pulse_ns: u64,
    /// Start-to-start distance of two bits (common readers: 2 ms).
    pub period_ns: u64,
}

impl OutTiming {
    /// A profile's output timing (microseconds there) in the writer's units.
    pub fn of(profile: &WiegandOutProfile) -> OutTiming {
        OutTiming { pulse_ns: u64::from(profile.pulse_us) * 1000, period_ns: u64::from(profile.period_us) * 1000 }
    }
}

impl Default for OutTiming {
    fn default() -> OutTiming {
        OutTiming { pulse_ns: 50_000, period_ns: 2_000_000 }
    }
}

/// One output pulse, relative to the start of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pulse {
    /// The line to pull.
    pub line: WiegandLine,
    /// When the pulse starts (its falling edge), ns after the frame start.
    pub start_ns: u64,
    /// How long the line stays pulled.
    pub width_ns: u64,
}

/// The pulses that send `bits`, first bit first.
pub fn pulse_schedule(bits: &WiegandBits, timing: OutTiming) -> Vec<Pulse> {
    (0u64..)
        .zip(&bits.0)
        .map(|(i, &bit)| Pulse {
            line: if bit { WiegandLine::D1 } else { WiegandLine::D0 },
            start_ns: i * timing.period_ns,
            width_ns: timing.pulse_ns,
        })
        .collect()
}

/// The two output lines, as the bit-banging writer needs them.
pub trait PulseLines {
    /// Pulls (`true`) or releases (`false`) `line`.
    fn set(&mut self, line: WiegandLine, active: bool) -> Result<()>;
}

/// Sends `bits` on `lines`: the pulse width is held by spinning (sleeping would overshoot
/// 50 us many times over), the rest of each period by sleeping.
pub fn send_frame(lines: &mut dyn PulseLines, bits: &WiegandBits, timing: OutTiming) -> Result<()> {
    use std::time::{Duration, Instant};
    // Waking from sleep takes up to ~100 us; sleep until a bit before the next edge, then spin.
    const WAKE_MARGIN: Duration = Duration::from_micros(200);
    let start = Instant::now();
    let wait_until = |t: Instant| {
        let now = Instant::now();
        if t > now + WAKE_MARGIN {
            std::thread::sleep(t - now - WAKE_MARGIN);
        }
        while Instant::now() < t {
            std::hint::spin_loop();
        }
    };
    for pulse in pulse_schedule(bits, timing) {
        wait_until(start + Duration::from_nanos(pulse.start_ns));
        lines.set(pulse.line, true)?;
        // A late start must not shorten the pulse: a reader needs its full width.
        let pulled = Instant::now();
        let scheduled_end = start + Duration::from_nanos(pulse.start_ns + pulse.width_ns);
        wait_until(scheduled_end.max(pulled + Duration::from_nanos(pulse.width_ns)));
        lines.set(pulse.line, false)?;
    }
    Ok(())
}

/// Keys typed on a Wiegand keypad, collected into a password: digits accumulate, `#` enters,
/// `*` clears, and a pause longer than the entry timeout starts over.
#[derive(Debug, Clone)]
pub struct KeypadEntry {
    digits: String,
    last_key_ns: Option<u64>,
    timeout_ns: u64,
}

/// The key code of `*` on Wiegand keypads.
pub const KEY_CLEAR: u8 = 10;
/// The key code of `#` on Wiegand keypads.
pub const KEY_ENTER: u8 = 11;
/// Longest password kept; the spec's `password` field is short and anything longer is a stuck key.
const MAX_PASSWORD_DIGITS: usize = 16;

impl KeypadEntry {
    /// An empty entry that forgets digits after `timeout_ns` without a key.
    pub fn new(timeout_ns: u64) -> KeypadEntry {
        KeypadEntry { digits: String::new(), last_key_ns: None, timeout_ns }
    }

    /// Takes one key pressed at `now_ns`; returns the password when `#` completes one.
    pub fn key(&mut self, key: u8, now_ns: u64) -> Option<String> {
        if self.last_key_ns.is_some_and(|t| now_ns.saturating_sub(t) > self.timeout_ns) {
            self.digits.clear();
        }
        self.last_key_ns = Some(now_ns);
        match key {
            0..=9 if self.digits.len() < MAX_PASSWORD_DIGITS => self.digits.push(char::from(b'0' + key)),
            KEY_CLEAR => self.digits.clear(),
            KEY_ENTER if !self.digits.is_empty() => return Some(std::mem::take(&mut self.digits)),
            _ => {}
        }
        None
    }
}

/// Shortest raw frame passed on as a card: readers of 32-bit serials without parity exist,
/// while shorter odd lengths are nearly always interference.
const MIN_RAW_CARD_BITS: usize = 24;

/// The Wiegand input as a whole: decoder, keypad entry and the mapping to credentials
/// under `entranceWgInMode`. The thread around it only reads edges and the clock.
#[derive(Debug, Clone)]
pub struct WiegandInput {
    /// The frame decoder.
    pub decoder: WiegandDecoder,
    keypad: KeypadEntry,
    faults: FaultLog,
}

/// Logs input faults at most once per interval: a floating line makes thousands of edges a
/// second and must not flood the log, while the counters in `status` stay exact.
#[derive(Debug, Clone, Default)]
struct FaultLog {
    last_ns: Option<u64>,
    suppressed: u64,
}

/// Shortest interval between two logged input faults.
const FAULT_LOG_INTERVAL_NS: u64 = 10_000_000_000;

impl FaultLog {
    fn warn(&mut self, now_ns: u64, message: std::fmt::Arguments<'_>) {
        if self.last_ns.is_some_and(|t| now_ns.saturating_sub(t) < FAULT_LOG_INTERVAL_NS) {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            log::warn!("Wiegand: {message} (and {} more input faults since the last report)", self.suppressed);
        } else {
            log::warn!("Wiegand: {message}");
        }
        self.last_ns = Some(now_ns);
        self.suppressed = 0;
    }
}

impl WiegandInput {
    /// A Wiegand input with the given decoder timing; typed digits are forgotten after 10 s.
    pub fn new(timing: DecoderTiming) -> WiegandInput {
        WiegandInput {
            decoder: WiegandDecoder::new(timing),
            keypad: KeypadEntry::new(10_000_000_000),
            faults: FaultLog::default(),
        }
    }

    /// Drains the decoder into credentials at `now_ns`; `mode` is `entranceWgInMode` (off, or
    /// cards and keys). Faults are logged and counted, never returned.
    pub fn events(&mut self, mode: WiegandInMode, now_ns: u64) -> Vec<InputEvent> {
        self.decoder.poll(now_ns);
        let mut events = Vec::new();
        while let Some(item) = self.decoder.next_frame() {
            let frame = match item {
                Ok(frame) => frame,
                Err(WiegandFault::Parity { bits }) => {
                    let (n, b) = (bits.len(), bit_string(&bits));
                    self.faults.warn(now_ns, format_args!("{n}-bit frame failed its parity check, ignored ({b})"));
                    continue;
                }
                Err(WiegandFault::Noise { detail }) => {
                    self.faults.warn(now_ns, format_args!("noise on the input lines: {detail}"));
                    continue;
                }
            };
            if mode == WiegandInMode::Off {
                log::debug!("Wiegand: {frame:?} ignored, entranceWgInMode is 0 (off)");
                continue;
            }
            let credential = match frame {
                WiegandFrame::Key(key) => match self.keypad.key(key, now_ns) {
                    Some(password) => Credential::Password(password),
                    None => continue,
                },
                WiegandFrame::Raw(bits) if (MIN_RAW_CARD_BITS..=64).contains(&bits.len()) => {
                    log::info!("Wiegand: {}-bit frame of no known format, read as a card number", bits.len());
                    Credential::Card(CardNumber::from_value(number(&bits)))
                }
                WiegandFrame::Raw(bits) => {
                    let (n, b) = (bits.len(), bit_string(&bits));
                    self.faults.warn(now_ns, format_args!("{n}-bit frame of no known format ignored ({b})"));
                    continue;
                }
                card => match card.card_number() {
                    Some(n) => Credential::Card(CardNumber::from_value(n)),
                    None => continue,
                },
            };
            events.push(InputEvent { credential, source: Source::Wiegand });
        }
        events
    }
}

/// Bits as `0`/`1` text, for logs and the sim actuator log.
pub fn bit_string(bits: &[bool]) -> String {
    bits.iter().map(|&b| if b { '1' } else { '0' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const US: u64 = 1_000;

    #[test]
    fn timing_of_a_profile() {
        let text = "name = \"x\"\nkind = \"sim\"\n[wiegand_in]\nchip = \"c\"\nd0 = 1\nd1 = 2\nend_gap_bit_times = 9\n\
                    [wiegand_out]\nchip = \"c\"\nd0 = 3\nd1 = 4\npulse_us = 100\nperiod_us = 1000\n";
        let p = crate::board::parse_profile(text, "x.toml").unwrap();
        assert_eq!(DecoderTiming::of(&p), DecoderTiming { end_gap_bit_times: 9, ..DecoderTiming::default() });
        assert_eq!(
            OutTiming::of(p.wiegand_out.as_ref().unwrap()),
            OutTiming { pulse_ns: 100_000, period_ns: 1_000_000 }
        );
        // No input in the profile: the decoder's defaults, which a profile's default matches.
        let sim = crate::board::load_profile("sim", None).unwrap();
        assert_eq!(DecoderTiming::of(&sim), DecoderTiming::default());
        let text = "name = \"x\"\nkind = \"sim\"\n[wiegand_in]\nchip = \"c\"\nd0 = 1\nd1 = 2\n";
        let p = crate::board::parse_profile(text, "x.toml").unwrap();
        assert_eq!(DecoderTiming::of(&p), DecoderTiming::default());
    }

    fn bits(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == '1').collect()
    }

    /// Falling edges of `bits` sent from `start` with `period`.
    fn edges(bits: &[bool], start: u64, period: u64) -> Vec<(WiegandLine, u64)> {
        (0u64..)
            .zip(bits)
            .map(|(i, &b)| (if b { WiegandLine::D1 } else { WiegandLine::D0 }, start + i * period))
            .collect()
    }

    fn decode(edges: &[(WiegandLine, u64)]) -> (Vec<std::result::Result<WiegandFrame, WiegandFault>>, InputStats) {
        let mut d = WiegandDecoder::default();
        for &(line, t) in edges {
            d.edge(line, t);
        }
        d.poll(edges.last().map_or(0, |e| e.1) + 1_000 * MS);
        assert_eq!(d.deadline(), None, "the frame must have ended");
        let out = std::iter::from_fn(|| d.next_frame()).collect();
        (out, d.stats())
    }

    #[test]
    fn decodes_26_bit_frame_at_fast_and_slow_periods() {
        let frame = encode_card(0x12_3456, WiegandFormat::W26).unwrap();
        for period in [250 * US, 2 * MS, 20 * MS] {
            let (out, stats) = decode(&edges(&frame.0, 5 * MS, period));
            assert_eq!(out, vec![Ok(WiegandFrame::Card26 { facility: 0x12, card: 0x3456 })], "period {period}");
            assert_eq!(stats, InputStats::default());
        }
    }

    #[test]
    fn known_26_bit_card_matches_reference_bits() {
        // Facility 1, card 1 in the H10301 layout: the leading even parity covers 0000 0001 0000
        // (one 1: parity 1), the trailing odd parity 0000 0000 0001 (one 1 already: parity 0).
        let expected = bits("10000000100000000000000010");
        assert_eq!(encode_card(1 << 16 | 1, WiegandFormat::W26).unwrap().0, expected);
        let (out, _) = decode(&edges(&expected, 0, 2 * MS));
        assert_eq!(out, vec![Ok(WiegandFrame::Card26 { facility: 1, card: 1 })]);
    }

    #[test]
    fn jittered_edges_do_not_cut_a_frame_apart() {
        // A 26-bit frame at a 2 ms period where two edges land 150 us apart (interrupt jitter).
        let bits = encode_card(12345, WiegandFormat::W26).unwrap().0;
        let mut e = edges(&bits, 1_000_000, 2_000_000);
        e[10].1 = e[9].1 + 150_000;
        let (frames, stats) = decode(&e);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert!(matches!(frames[0], Ok(WiegandFrame::Card26 { .. })), "{frames:?}");
        assert_eq!(stats.wiegand_parity_errors, 0);
    }

    #[test]
    fn decodes_34_and_37_bit_frames() {
        let w34 = encode_card(40_485_068, WiegandFormat::W34).unwrap();
        let (out, _) = decode(&edges(&w34.0, 0, 2 * MS));
        assert_eq!(out.len(), 1);
        let frame = out[0].clone().unwrap();
        assert_eq!(frame.card_number(), Some(40_485_068));

        // 37-bit H10304: facility 0xABCD, card 0x5_4321; parity bit 1 even over bits 2..19,
        // bit 37 odd over bits 19..36 (one-based).
        let data: Vec<bool> = (0..35).rev().map(|i| (0xABCDu64 << 19 | 0x5_4321) >> i & 1 == 1).collect();
        let mut w37 = vec![ones(&data[..18]) % 2 == 1];
        w37.extend_from_slice(&data);
        w37.push(ones(&data[17..]) % 2 == 0);
        let (out, stats) = decode(&edges(&w37, 0, MS));
        assert_eq!(out, vec![Ok(WiegandFrame::Card37 { facility: 0xABCD, card: 0x5_4321 })]);
        assert_eq!(stats, InputStats::default());
    }

    #[test]
    fn parity_errors_are_counted_not_decoded() {
        for format in [WiegandFormat::W26, WiegandFormat::W34] {
            for flip in [0, 5, 20] {
                let mut b = encode_card(0xA5_5A5A, format).unwrap().0;
                b[flip] = !b[flip];
                let (out, stats) = decode(&edges(&b, 0, 2 * MS));
                assert_eq!(out, vec![Err(WiegandFault::Parity { bits: b.clone() })]);
                assert_eq!(stats.wiegand_parity_errors, 1);
            }
        }
        // An 8-bit keypad frame whose high nibble is not the complement of the low one.
        let (out, stats) = decode(&edges(&bits("00000101"), 0, 2 * MS));
        assert!(matches!(out[..], [Err(WiegandFault::Parity { .. })]));
        assert_eq!(stats.wiegand_parity_errors, 1);
    }

    #[test]
    fn keypad_frames_of_4_and_8_bits() {
        let (out, _) = decode(&edges(&bits("0111"), 0, 2 * MS));
        assert_eq!(out, vec![Ok(WiegandFrame::Key(7))]);
        let (out, _) = decode(&edges(&bits("01001011"), 0, 2 * MS));
        assert_eq!(out, vec![Ok(WiegandFrame::Key(KEY_ENTER))]);
    }

    #[test]
    fn fast_keypad_frames_close_together_stay_apart() {
        // Three 4-bit keys at a 300 us bit period, 6 ms apart: a fixed 25 ms timeout would merge them.
        let mut all = Vec::new();
        for (i, key) in ["0001", "0010", "1011"].iter().enumerate() {
            all.extend(edges(&bits(key), i as u64 * 6 * MS, 300 * US));
        }
        let (out, stats) = decode(&all);
        assert_eq!(out, vec![Ok(WiegandFrame::Key(1)), Ok(WiegandFrame::Key(2)), Ok(WiegandFrame::Key(11))]);
        assert_eq!(stats, InputStats::default());
    }

    #[test]
    fn live_deadline_follows_the_measured_period() {
        let mut d = WiegandDecoder::default();
        d.edge(WiegandLine::D0, 0);
        assert_eq!(d.deadline(), Some(DecoderTiming::default().max_end_gap_ns));
        d.edge(WiegandLine::D1, 2 * MS);
        assert_eq!(d.deadline(), Some(2 * MS + 4 * 2 * MS));
        d.poll(2 * MS + 8 * MS - 1);
        assert!(d.next_frame().is_none(), "the frame must not end before its silence");
        d.poll(10 * MS);
        assert!(matches!(d.next_frame(), Some(Err(WiegandFault::Noise { .. }))));
    }

    #[test]
    fn bounce_pulses_are_noise_and_do_not_corrupt_the_frame() {
        let frame = encode_card(777_777, WiegandFormat::W26).unwrap();
        let mut e = edges(&frame.0, 0, 2 * MS);
        // A bounce 30 us after bit 3 on the same line, and a crosstalk pulse on the other line.
        e.insert(4, (e[3].0, e[3].1 + 30 * US));
        let other = if e[10].0 == WiegandLine::D0 { WiegandLine::D1 } else { WiegandLine::D0 };
        e.insert(11, (other, e[10].1 + 50 * US));
        let (out, stats) = decode(&e);
        assert_eq!(out.iter().filter(|r| matches!(r, Err(WiegandFault::Noise { .. }))).count(), 2);
        assert!(out.contains(&Ok(WiegandFrame::Card26 {
            facility: (777_777 >> 16) as u8,
            card: (777_777u32 & 0xffff) as u16
        })));
        assert_eq!(stats.wiegand_noise, 2);
        assert_eq!(stats.wiegand_parity_errors, 0);
    }

    #[test]
    fn isolated_short_bursts_are_noise() {
        let (out, stats) = decode(&[(WiegandLine::D1, 0)]);
        assert!(matches!(out[..], [Err(WiegandFault::Noise { .. })]));
        assert_eq!(stats.wiegand_noise, 1);
        let (out, stats) = decode(&edges(&bits("101"), 0, 2 * MS));
        assert!(matches!(out[..], [Err(WiegandFault::Noise { .. })]));
        assert_eq!(stats.wiegand_noise, 1);
    }

    #[test]
    fn an_endless_burst_is_cut_into_bounded_frames() {
        let e = edges(&vec![true; 300], 0, 300 * US);
        let mut d = WiegandDecoder::default();
        for &(line, t) in &e {
            d.edge(line, t);
        }
        let lengths: Vec<usize> = std::iter::from_fn(|| d.next_frame())
            .map(|r| match r {
                Ok(WiegandFrame::Raw(bits)) => bits.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lengths, vec![MAX_FRAME_BITS, MAX_FRAME_BITS]);
        d.flush();
        assert_eq!(d.next_frame(), Some(Ok(WiegandFrame::Raw(vec![true; 300 - 2 * MAX_FRAME_BITS]))));
    }

    #[test]
    fn short_and_odd_frames_are_raw() {
        let b = bits("1011001110001");
        let (out, stats) = decode(&edges(&b, 0, 2 * MS));
        assert_eq!(out, vec![Ok(WiegandFrame::Raw(b))]);
        assert_eq!(stats.wiegand_unknown_length, 1);
    }

    #[test]
    fn a_frame_split_by_a_long_gap_is_two_frames() {
        let frame = encode_card(123_456, WiegandFormat::W26).unwrap().0;
        let mut e = edges(&frame[..10], 0, 2 * MS);
        e.extend(edges(&frame[10..], 200 * MS, 2 * MS));
        let (out, stats) = decode(&e);
        assert_eq!(out, vec![Ok(WiegandFrame::Raw(frame[..10].to_vec())), Ok(WiegandFrame::Raw(frame[10..].to_vec()))]);
        assert_eq!(stats.wiegand_unknown_length, 2);
        assert_eq!(stats.wiegand_parity_errors, 0);
    }

    #[test]
    fn a_gap_within_the_upper_bound_still_splits_once_the_period_is_known() {
        // A stray pulse 40 ms before a 2 ms-period card: within the lone-bit wait, but 20 bit times.
        let frame = encode_card(4242, WiegandFormat::W26).unwrap().0;
        let mut e = vec![(WiegandLine::D0, 0)];
        e.extend(edges(&frame, 40 * MS, 2 * MS));
        let (out, stats) = decode(&e);
        assert!(matches!(out[0], Err(WiegandFault::Noise { .. })));
        assert_eq!(out[1], Ok(WiegandFrame::Card26 { facility: 0, card: 4242 }));
        assert_eq!(stats.wiegand_noise, 1);
    }

    #[test]
    fn edges_out_of_order_are_sorted() {
        let frame = encode_card(99, WiegandFormat::W26).unwrap();
        let mut e = edges(&frame.0, 0, 2 * MS);
        e.swap(7, 8);
        let (out, _) = decode(&e);
        assert_eq!(out, vec![Ok(WiegandFrame::Card26 { facility: 0, card: 99 })]);
    }

    #[test]
    fn encode_decode_round_trip_through_the_pulse_schedule() {
        let timing = OutTiming::default();
        for (number, format) in [
            (0, WiegandFormat::W26),
            (16_777_215, WiegandFormat::W26),
            (u64::from(u32::MAX), WiegandFormat::W34),
            (40_485_068, WiegandFormat::W34),
        ] {
            let frame = encode_card(number, format).unwrap();
            let schedule = pulse_schedule(&frame, timing);
            assert!(schedule.iter().all(|p| p.width_ns == 50_000));
            let e: Vec<_> = schedule.iter().map(|p| (p.line, 1_000 * MS + p.start_ns)).collect();
            let (out, _) = decode(&e);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].as_ref().unwrap().card_number(), Some(number));
        }
    }

    #[test]
    fn frames_refuse_numbers_they_cannot_carry() {
        assert!(encode_card(0xFF_FFFF, WiegandFormat::W26).is_ok());
        let err = encode_card(0x100_0000, WiegandFormat::W26).unwrap_err().to_string();
        assert!(err.contains("26-bit"), "{err}");
        assert!(encode_card(u64::from(u32::MAX), WiegandFormat::W34).is_ok());
        assert!(encode_card(1 << 32, WiegandFormat::W34).is_err());
    }

    #[test]
    fn a_wide_card_goes_out_as_34_bits_or_is_refused_never_truncated() {
        let card = |n: &str| CardNumber::parse(n).unwrap();
        let send = |n: &str, format, wide| out_frame(WiegandOutMode::CardNumber, &card(n), format, wide);
        // The spec's broadcast example needs 26 bits.
        let frame = send("40485068", WiegandFormat::W26, WideCards::Send34).unwrap().unwrap();
        assert_eq!(frame.0.len(), 34);
        let (out, _) = decode(&edges(&frame.0, 0, 2 * MS));
        assert_eq!(out[0].as_ref().unwrap().card_number(), Some(40_485_068));
        let err = send("40485068", WiegandFormat::W26, WideCards::Refuse).unwrap_err().to_string();
        assert!(err.contains("refuse") && err.contains("nothing sent"), "{err}");
        // At the 24-bit bound: the profile's format; one past it: 34 bits.
        assert_eq!(send("16777215", WiegandFormat::W26, WideCards::Refuse).unwrap().unwrap().0.len(), 26);
        assert_eq!(send("0016777216", WiegandFormat::W26, WideCards::Send34).unwrap().unwrap().0.len(), 34);
        assert_eq!(send("12", WiegandFormat::W34, WideCards::Refuse).unwrap().unwrap().0.len(), 34);
        // At the 32-bit bound and past it.
        assert_eq!(send("4294967295", WiegandFormat::W26, WideCards::Send34).unwrap().unwrap().0.len(), 34);
        for n in ["4294967296", "99999999999999999999999999999999"] {
            let err = send(n, WiegandFormat::W34, WideCards::Send34).unwrap_err().to_string();
            assert!(err.contains("32 bits"), "{err}");
        }
    }

    #[test]
    fn out_mode_mapping() {
        // Codes outside 0..=2 never get here: the device parameters refuse them on setDevInfo.
        let n123 = CardNumber::parse("123").unwrap();
        let wide = WideCards::default();
        assert_eq!(out_frame(WiegandOutMode::Off, &n123, WiegandFormat::W26, wide).unwrap(), None);
        assert_eq!(
            out_frame(WiegandOutMode::CardNumber, &n123, WiegandFormat::W34, wide).unwrap(),
            Some(encode_card(123, WiegandFormat::W34).unwrap())
        );
        let err = out_frame(WiegandOutMode::Temperature, &n123, WiegandFormat::W26, wide).unwrap_err().to_string();
        assert!(err.contains("temperature"), "{err}");
    }

    struct Recorder(Vec<(WiegandLine, bool)>);
    impl PulseLines for Recorder {
        fn set(&mut self, line: WiegandLine, active: bool) -> Result<()> {
            self.0.push((line, active));
            Ok(())
        }
    }

    #[test]
    fn writer_pulls_and_releases_each_bit_in_order() {
        let frame = WiegandBits(bits("1001"));
        let mut rec = Recorder(Vec::new());
        send_frame(&mut rec, &frame, OutTiming { pulse_ns: 20_000, period_ns: 200_000 }).unwrap();
        use WiegandLine::{D0, D1};
        assert_eq!(
            rec.0,
            vec![(D1, true), (D1, false), (D0, true), (D0, false), (D0, true), (D0, false), (D1, true), (D1, false)]
        );
    }

    #[test]
    fn keypad_entry_builds_passwords() {
        let mut k = KeypadEntry::new(10 * 1_000 * MS);
        assert_eq!(k.key(1, 0), None);
        assert_eq!(k.key(2, MS), None);
        assert_eq!(k.key(KEY_ENTER, 2 * MS), Some("12".into()));
        assert_eq!(k.key(KEY_ENTER, 3 * MS), None, "enter on an empty entry gives nothing");
        k.key(9, 4 * MS);
        k.key(KEY_CLEAR, 5 * MS);
        k.key(4, 6 * MS);
        assert_eq!(k.key(KEY_ENTER, 7 * MS), Some("4".into()));
        k.key(5, 8 * MS);
        assert_eq!(k.key(6, 8 * MS + 11 * 1_000 * MS), None);
        assert_eq!(
            k.key(KEY_ENTER, 9 * MS + 11 * 1_000 * MS),
            Some("6".into()),
            "digits before a long pause are forgotten"
        );
    }

    #[test]
    fn input_maps_frames_to_credentials_and_honours_the_mode() {
        let mut input = WiegandInput::new(DecoderTiming::default());
        let feed = |input: &mut WiegandInput, b: &[bool], start: u64| {
            for (line, t) in edges(b, start, 2 * MS) {
                input.decoder.edge(line, t);
            }
        };
        let card = encode_card(40_485_068, WiegandFormat::W34).unwrap().0;
        feed(&mut input, &card, 0);
        let ev = input.events(WiegandInMode::CardNumber, 1_000 * MS);
        assert_eq!(
            ev,
            vec![InputEvent {
                credential: Credential::Card(CardNumber::from_value(40485068)),
                source: Source::Wiegand
            }]
        );

        for (i, key) in ["0011", "0101", "1011"].iter().enumerate() {
            feed(&mut input, &bits(key), 2_000 * MS + i as u64 * 300 * MS);
        }
        let ev = input.events(WiegandInMode::CardNumber, 3_000 * MS);
        assert_eq!(ev, vec![InputEvent { credential: Credential::Password("35".into()), source: Source::Wiegand }]);

        feed(&mut input, &card, 4_000 * MS);
        assert!(input.events(WiegandInMode::Off, 5_000 * MS).is_empty(), "mode 0 turns the input off");

        let raw32 = bits("10000000000000000000000000000011");
        feed(&mut input, &raw32, 6_000 * MS);
        let ev = input.events(WiegandInMode::CardNumber, 7_000 * MS);
        assert_eq!(ev[0].credential, Credential::Card(CardNumber::from_value((1u64 << 31) | 3)));
    }
}
