//! emu-probe: the guest-side instrument of the emulated board test bed.
//!
//! It plays the hardware around the terminal: it watches the relay, alarm and Wiegand output
//! lines of the gpio-sim chip (by sampling their sysfs `value`), drives the Wiegand input lines
//! (by writing their sysfs `pull`), checks JPEG files and forwards log lines to /dev/kmsg so that
//! they reach the console whole. std only: it is built with plain `rustc` for the guest.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::os::unix::fs::FileExt;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const USAGE: &str = "usage:
  emu-probe watch [--relay VALUE_FILE] [--alarm VALUE_FILE] [--trace-gpio RELAY,D0,D1[,ALARM]]
                  [--wg-active 0|1] [--timeout-ms N] -- COMMAND [ARGS...]
  emu-probe wiegand-send D0_PULL D1_PULL BITS NUMBER [--bad-parity] [--period-us N]
                  [--pulse-us N] [--inverted]
  emu-probe wiegand-frame BITS NUMBER [--bad-parity]
  emu-probe jpeg FILE
  emu-probe wait-tcp HOST:PORT SECONDS
  emu-probe kmsg PREFIX        (stdin lines to /dev/kmsg, one record each)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("watch") => watch(&args[1..]),
        Some("wiegand-send") => wiegand_send(&args[1..]),
        Some("wiegand-frame") => wiegand_frame_cmd(&args[1..]),
        Some("jpeg") => jpeg(&args[1..]),
        Some("kmsg") => kmsg(&args[1..]),
        Some("wait-tcp") => wait_tcp(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emu-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A sysfs attribute kept open: re-reading at offset 0 makes the kernel produce it anew.
struct Level {
    file: File,
    path: String,
}

impl Level {
    fn open(path: &str) -> Result<Level, String> {
        let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
        Ok(Level { file, path: path.to_string() })
    }

    fn read(&self) -> Result<bool, String> {
        let mut buf = [0u8; 8];
        let n = self.file.read_at(&mut buf, 0).map_err(|e| format!("{}: {e}", self.path))?;
        match buf[..n].first() {
            Some(b'1') => Ok(true),
            Some(b'0') => Ok(false),
            _ => Err(format!("{}: unexpected {:?}", self.path, &buf[..n])),
        }
    }
}

/// An output line sampled while a command runs: its pulses to level 1, as a meter sees them.
struct Sampled {
    name: &'static str,
    level: Level,
    prev: bool,
    rise: Option<Instant>,
    pulses: Vec<Duration>,
}

impl Sampled {
    fn open(name: &'static str, path: &str) -> Result<Sampled, String> {
        let level = Level::open(path)?;
        let prev = level.read()?;
        if prev {
            println!("{name} already at level 1 before the command");
        }
        Ok(Sampled { name, level, prev, rise: None, pulses: Vec::new() })
    }

    fn sample(&mut self, now: Instant) -> Result<(), String> {
        let level = self.level.read()?;
        if level && !self.prev {
            self.rise = Some(now);
        }
        if !level && self.prev {
            if let Some(rise) = self.rise.take() {
                self.pulses.push(now - rise);
            }
        }
        self.prev = level;
        Ok(())
    }

    fn report(&self) {
        if let Some(rise) = self.rise {
            println!("{} level 1 for more than {} ms (still high at the timeout)", self.name, rise.elapsed().as_millis());
        }
        if self.pulses.is_empty() && self.rise.is_none() {
            println!("{} never went to level 1", self.name);
        }
        for p in &self.pulses {
            println!("{} level 1 for {} ms", self.name, p.as_millis());
        }
    }
}

/// Where the kernel's gpio_value tracepoint records every level set on an output line.
const TRACE: &str = "/sys/kernel/tracing/trace";

/// One `gpio_value` trace event: CLOCK_MONOTONIC time, global GPIO number, level set.
#[derive(Debug, Clone, Copy, PartialEq)]
struct GpioSet {
    at: Duration,
    gpio: u32,
    level: bool,
}

/// Parses the `set` events of a trace, e.g.
/// `facegate-97 [001] ..... 12.345678: gpio_value: 504 set 1`.
fn parse_trace(text: &str) -> Vec<GpioSet> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(pos) = line.find(": gpio_value: ") else { continue };
        let Some(ts) = line[..pos].rsplit(' ').next() else { continue };
        let mut words = line[pos + 14..].split_whitespace();
        let (Some(gpio), Some("set"), Some(level)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let (Ok(secs), Ok(gpio)) = (ts.parse::<f64>(), gpio.parse::<u32>()) else { continue };
        out.push(GpioSet { at: Duration::from_secs_f64(secs), gpio, level: level == "1" });
    }
    out
}

/// The durations of the pulses to level 1 on `gpio`, from its set events.
fn pulses(events: &[GpioSet], gpio: u32) -> Vec<Duration> {
    let mut rise = None;
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e.gpio == gpio) {
        match (e.level, rise) {
            (true, None) => rise = Some(e.at),
            (false, Some(r)) => {
                out.push(e.at.saturating_sub(r));
                rise = None;
            }
            _ => {}
        }
    }
    out
}

/// The Wiegand frame on the output lines: a bit per pulse start, D0 = 0 and D1 = 1, with the
/// widths and spacing of the pulses.
fn wiegand_from_trace(events: &[GpioSet], d0: u32, d1: u32, active: bool) -> (Vec<bool>, Vec<Duration>, Vec<Duration>) {
    let mut bits = Vec::new();
    let mut starts = Vec::new();
    let mut widths = Vec::new();
    let mut on: [Option<Duration>; 2] = [None, None];
    for e in events.iter().filter(|e| e.gpio == d0 || e.gpio == d1) {
        let i = usize::from(e.gpio == d1);
        if e.level == active && on[i].is_none() {
            on[i] = Some(e.at);
            bits.push(i == 1);
            starts.push(e.at);
        } else if e.level != active {
            if let Some(t) = on[i].take() {
                widths.push(e.at.saturating_sub(t));
            }
        }
    }
    let periods = starts.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    (bits, widths, periods)
}

fn monotonic_now() -> Duration {
    // The guest's /init sets the trace clock to "mono": CLOCK_MONOTONIC, whose absolute
    // value Instant does not expose.
    let mut ts = [0i64; 2];
    // SAFETY: clock_gettime writes one struct timespec (two longs on 64-bit Linux) into `ts`.
    unsafe { clock_gettime(1, ts.as_mut_ptr()) };
    Duration::new(ts[0] as u64, ts[1] as u32)
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, ts: *mut i64) -> i32;
}

fn range_us(d: &[Duration]) -> String {
    let min = d.iter().min().map_or(0, Duration::as_micros);
    let max = d.iter().max().map_or(0, Duration::as_micros);
    format!("{min}..{max} us")
}

/// Runs COMMAND and reports what the outputs did meanwhile: the relay and alarm levels sampled
/// from the simulator's sysfs `value` (as a meter on the relay coil would see it), and, from the
/// gpio_value trace, the exact relay and alarm pulses and the frame on the Wiegand output.
/// It waits for the relay's pulse to end and for the alarm output to be off again.
fn watch(args: &[String]) -> Result<(), String> {
    let mut relay = None;
    let mut alarm = None;
    let mut gpios: Option<(u32, u32, u32)> = None;
    let mut alarm_gpio = None;
    let mut wg_active = true;
    let mut timeout = Duration::from_millis(5000);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--relay" => {
                relay = Some(Sampled::open("relay", arg(args, i + 1)?)?);
                i += 2;
            }
            "--alarm" => {
                alarm = Some(Sampled::open("alarm", arg(args, i + 1)?)?);
                i += 2;
            }
            "--trace-gpio" => {
                let v: Vec<u32> =
                    arg(args, i + 1)?.split(',').map(|x| number(x).map(|n| n as u32)).collect::<Result<_, _>>()?;
                let (r, d0, d1) = match v[..] {
                    [r, d0, d1] => (r, d0, d1),
                    [r, d0, d1, a] => {
                        alarm_gpio = Some(a);
                        (r, d0, d1)
                    }
                    _ => return Err("--trace-gpio wants RELAY,D0,D1[,ALARM]".into()),
                };
                gpios = Some((r, d0, d1));
                i += 2;
            }
            "--wg-active" => {
                wg_active = arg(args, i + 1)? == "1";
                i += 2;
            }
            "--timeout-ms" => {
                timeout = Duration::from_millis(number(arg(args, i + 1)?)?);
                i += 2;
            }
            "--" => {
                i += 1;
                break;
            }
            other => return Err(format!("watch: unknown argument {other}")),
        }
    }
    let cmd = &args[i..];
    if cmd.is_empty() {
        return Err("watch: no command after --".into());
    }
    if gpios.is_some() {
        // Opening the trace for writing with truncation clears the ring buffer.
        File::create(TRACE).map_err(|e| format!("{TRACE}: {e}"))?;
    }
    let start = Instant::now();
    let mut child = Command::new(&cmd[0]).args(&cmd[1..]).spawn().map_err(|e| format!("cannot run {}: {e}", cmd[0]))?;
    let mut child_status = None;
    let mut events = Vec::new();
    let mut last_trace_read = Instant::now();
    loop {
        let now = Instant::now();
        for s in [&mut relay, &mut alarm].into_iter().flatten() {
            s.sample(now)?;
        }
        if child_status.is_none() {
            child_status = child.try_wait().map_err(|e| e.to_string())?;
        }
        if gpios.is_some() && now - last_trace_read > Duration::from_millis(100) {
            events = parse_trace(&std::fs::read_to_string(TRACE).unwrap_or_default());
            last_trace_read = now;
        }
        let relay_settled = relay.as_ref().map_or(true, |r| !r.pulses.is_empty() && !r.prev);
        let alarm_settled = alarm.as_ref().map_or(true, |a| !a.prev);
        // The Wiegand output is quiet when its last level change is 300 ms old.
        let wg_settled = match gpios {
            Some((_, d0, d1)) => quiet(events.iter().rev().find(|e| e.gpio == d0 || e.gpio == d1), monotonic_now()),
            None => true,
        };
        // With a trace, the last read must be fresh: it decides whether the outputs are quiet.
        let trace_fresh = gpios.is_none() || now - last_trace_read < Duration::from_millis(50);
        if child_status.is_some() && relay_settled && alarm_settled && wg_settled && trace_fresh {
            break;
        }
        if now - start > timeout {
            if child_status.is_none() {
                let _ = child.kill();
                child_status = child.wait().ok();
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for s in [&relay, &alarm].into_iter().flatten() {
        s.report();
    }
    if let Some((r, d0, d1)) = gpios {
        let events = parse_trace(&std::fs::read_to_string(TRACE).unwrap_or_default());
        for p in pulses(&events, r) {
            println!("relay trace level 1 for {:.1} ms", p.as_secs_f64() * 1000.0);
        }
        for p in alarm_gpio.map(|a| pulses(&events, a)).unwrap_or_default() {
            println!("alarm trace level 1 for {:.1} ms", p.as_secs_f64() * 1000.0);
        }
        let (bits, widths, periods) = wiegand_from_trace(&events, d0, d1, wg_active);
        if bits.is_empty() {
            println!("wiegand out nothing");
        } else {
            let text: String = bits.iter().map(|&b| if b { '1' } else { '0' }).collect();
            let (value, parity) = decode(&bits);
            println!("wiegand out {}-bit {text} number {value} parity {parity}", bits.len());
            println!("wiegand out pulse {} period {}", range_us(&widths), range_us(&periods));
        }
    }
    match child_status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{} exited with {s}", cmd[0])),
        None => Err(format!("{} did not finish", cmd[0])),
    }
}

/// Whether the last output event is absent or long enough ago for the frame to be over.
fn quiet(last: Option<&GpioSet>, now: Duration) -> bool {
    match last {
        None => true,
        Some(e) => now.saturating_sub(e.at) > Duration::from_millis(300),
    }
}

fn arg(args: &[String], i: usize) -> Result<&str, String> {
    args.get(i).map(String::as_str).ok_or_else(|| format!("{} needs a value", args[i - 1]))
}

fn number(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

/// A Wiegand card frame of `len` bits: even parity over the first half of the data bits, the
/// data bits (the number, most significant first), odd parity over the second half.
fn wiegand_frame(len: usize, value: u64, bad_parity: bool) -> Result<Vec<bool>, String> {
    if len != 26 && len != 34 {
        return Err(format!("{len}-bit frames are not supported (26 or 34)"));
    }
    let data_len = len - 2;
    if value >> data_len != 0 {
        return Err(format!("{value} does not fit in {data_len} data bits"));
    }
    let data: Vec<bool> = (0..data_len).rev().map(|i| value >> i & 1 == 1).collect();
    let half = data_len / 2;
    let ones = |s: &[bool]| s.iter().filter(|&&b| b).count();
    let even = ones(&data[..half]) % 2 == 1;
    let mut odd = ones(&data[half..]) % 2 == 0;
    if bad_parity {
        odd = !odd;
    }
    let mut frame = vec![even];
    frame.extend(data);
    frame.push(odd);
    Ok(frame)
}

/// The number in a card frame's data bits, and whether both parities hold.
fn decode(bits: &[bool]) -> (u64, &'static str) {
    if bits.len() < 4 {
        return (0, "n/a");
    }
    let data = &bits[1..bits.len() - 1];
    let value = data.iter().fold(0u64, |v, &b| v << 1 | u64::from(b));
    let half = data.len() / 2;
    let ones = |s: &[bool]| s.iter().filter(|&&b| b).count();
    let even_ok = (ones(&data[..half]) + usize::from(bits[0])) % 2 == 0;
    let odd_ok = (ones(&data[half..]) + usize::from(bits[bits.len() - 1])) % 2 == 1;
    (value, if even_ok && odd_ok { "ok" } else { "bad" })
}

fn wiegand_frame_cmd(args: &[String]) -> Result<(), String> {
    let (Some(len), Some(value)) = (args.first(), args.get(1)) else {
        return Err(USAGE.into());
    };
    let (len, value) = (number(len)?, number(value)?);
    let bad = args.iter().any(|a| a == "--bad-parity");
    let frame = wiegand_frame(len as usize, value, bad)?;
    println!("{}", frame.iter().map(|&b| if b { '1' } else { '0' }).collect::<String>());
    Ok(())
}

/// Plays a Wiegand reader on the simulated input lines: a pulse is the line pulled low (or
/// high with `--inverted`, an optocoupler stage), which the kernel turns into an edge event
/// with its own timestamp.
fn wiegand_send(args: &[String]) -> Result<(), String> {
    if args.len() < 4 {
        return Err(USAGE.into());
    }
    let open = |p: &str| OpenOptions::new().write(true).open(p).map_err(|e| format!("{p}: {e}"));
    let d0 = open(&args[0])?;
    let d1 = open(&args[1])?;
    let len = number(&args[2])? as usize;
    let value = number(&args[3])?;
    let mut bad = false;
    let mut period = Duration::from_micros(5000);
    let mut pulse = Duration::from_micros(500);
    let mut inverted = false;
    let mut i = 4;
    while i < args.len() {
        match args[i].as_str() {
            "--bad-parity" => bad = true,
            "--inverted" => inverted = true,
            "--period-us" => {
                period = Duration::from_micros(number(arg(args, i + 1)?)?);
                i += 1;
            }
            "--pulse-us" => {
                pulse = Duration::from_micros(number(arg(args, i + 1)?)?);
                i += 1;
            }
            other => return Err(format!("wiegand-send: unknown argument {other}")),
        }
        i += 1;
    }
    let (active, idle): (&[u8], &[u8]) = if inverted { (b"pull-up", b"pull-down") } else { (b"pull-down", b"pull-up") };
    let frame = wiegand_frame(len, value, bad)?;
    realtime_priority();
    let text: String = frame.iter().map(|&b| if b { '1' } else { '0' }).collect();
    // A real reader never pauses mid-frame; an emulated CPU may. A pause that long is an
    // end of frame to the decoder, so such a frame is played again after a silence.
    let too_late = Duration::from_millis(30);
    for attempt in 1..=3 {
        let start = Instant::now();
        let mut worst = Duration::ZERO;
        let mut last: Option<Instant> = None;
        for (n, &bit) in frame.iter().enumerate() {
            let line = if bit { &d1 } else { &d0 };
            // Each bit starts on its own schedule, so one late write does not shift the rest;
            // but never sooner than half a period after the last one: gpio-sim drops an edge
            // that comes while the kernel still handles the line's previous one, so bits
            // crammed together to catch up would be lost.
            let due = start + period * n as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            } else {
                worst = worst.max(due.elapsed());
            }
            if let Some(wait) = last.and_then(|l| (l + period / 2).checked_duration_since(Instant::now())) {
                std::thread::sleep(wait);
            }
            last = Some(Instant::now());
            line.write_at(active, 0).map_err(|e| format!("pull: {e}"))?;
            std::thread::sleep(pulse);
            line.write_at(idle, 0).map_err(|e| format!("pull: {e}"))?;
        }
        if worst < too_late {
            println!("sent {len}-bit {text} in {} ms", start.elapsed().as_millis());
            return Ok(());
        }
        println!("attempt {attempt}: a bit went out {} ms late; playing the frame again", worst.as_millis());
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(format!("could not play the {len}-bit frame on time in 3 attempts"))
}

/// Asks for SCHED_FIFO so that guest processes do not delay the pulses (best effort: the
/// emulating host may still pause the whole virtual CPU).
fn realtime_priority() {
    unsafe extern "C" {
        fn sched_setscheduler(pid: i32, policy: i32, param: *const i32) -> i32;
    }
    let priority: i32 = 50;
    // SAFETY: struct sched_param is one int; pid 0 is this process; SCHED_FIFO is 1.
    let _ = unsafe { sched_setscheduler(0, 1, &priority) };
}

/// Checks that FILE is a complete baseline or progressive JPEG and prints its size.
fn jpeg(args: &[String]) -> Result<(), String> {
    let path = args.first().ok_or_else(|| USAGE.to_string())?;
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if data.len() < 4 || data[..2] != [0xFF, 0xD8] {
        return Err(format!("{path}: no JPEG start-of-image marker"));
    }
    if data[data.len() - 2..] != [0xFF, 0xD9] {
        return Err(format!("{path}: no JPEG end-of-image marker"));
    }
    let mut i = 2;
    while i + 9 < data.len() {
        if data[i] != 0xFF {
            return Err(format!("{path}: bad marker at byte {i}"));
        }
        let marker = data[i + 1];
        let seg_len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        if matches!(marker, 0xC0..=0xC2) {
            let h = u16::from_be_bytes([data[i + 5], data[i + 6]]);
            let w = u16::from_be_bytes([data[i + 7], data[i + 8]]);
            let comps = data[i + 9];
            println!("jpeg {w}x{h} {comps} components {} bytes", data.len());
            return Ok(());
        }
        if marker == 0xDA {
            break;
        }
        i += 2 + seg_len;
    }
    Err(format!("{path}: no frame header before the scan"))
}

/// Waits until something accepts connections at HOST:PORT (busybox nc cannot just probe).
fn wait_tcp(args: &[String]) -> Result<(), String> {
    let (Some(addr), Some(secs)) = (args.first(), args.get(1)) else {
        return Err(USAGE.into());
    };
    let deadline = Instant::now() + Duration::from_secs(number(secs)?);
    loop {
        match std::net::TcpStream::connect(addr.as_str()) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(format!("{addr}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Copies stdin to /dev/kmsg one line per record: printk serialises records on the console,
/// where plain writes from several processes would interleave mid-line.
fn kmsg(args: &[String]) -> Result<(), String> {
    let prefix = args.first().map(String::as_str).unwrap_or("");
    let mut out = OpenOptions::new().write(true).open("/dev/kmsg").map_err(|e| format!("/dev/kmsg: {e}"))?;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut rec = format!("{prefix}{line}");
        rec.truncate(900);
        // A lost log line is not worth dying for; a full log buffer just drops it.
        let _ = out.write_all(rec.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_parity() {
        for len in [26, 34] {
            for value in [0u64, 1, 800001, (1 << (len - 2)) - 1] {
                let f = wiegand_frame(len, value, false).unwrap();
                assert_eq!(f.len(), len);
                assert_eq!(decode(&f), (value, "ok"));
                let bad = wiegand_frame(len, value, true).unwrap();
                assert_eq!(decode(&bad), (value, "bad"));
            }
        }
    }

    #[test]
    fn trace_lines_give_pulses_and_frames() {
        let t = "# tracer: nop\n\
            facegate-97 [001] ..... 10.000000: gpio_value: 504 set 1\n\
            facegate-97 [001] ..... 10.100000: gpio_value: 507 set 1\n\
            facegate-97 [001] ..... 10.101000: gpio_value: 507 set 0\n\
            facegate-97 [001] ..... 10.120000: gpio_value: 508 set 1\n\
            facegate-97 [001] ..... 10.121000: gpio_value: 508 set 0\n\
            facegate-97 [001] ..... 10.980000: gpio_value: 504 set 0\n\
            emu-probe-9 [000] ..... 10.990000: gpio_value: 505 get 1\n";
        let ev = parse_trace(t);
        assert_eq!(ev.len(), 6);
        let p = pulses(&ev, 504);
        assert_eq!(p.len(), 1);
        assert!((p[0].as_secs_f64() - 0.98).abs() < 1e-6);
        let (bits, widths, periods) = wiegand_from_trace(&ev, 507, 508, true);
        assert_eq!(bits, vec![false, true]);
        assert_eq!(widths.len(), 2);
        assert_eq!(periods.len(), 1);
        assert!((periods[0].as_secs_f64() - 0.02).abs() < 1e-6);
    }

    #[test]
    fn known_h10301_frame() {
        // Facility 1, card 1: the classic example frame.
        let f = wiegand_frame(26, 1 << 16 | 1, false).unwrap();
        let s: String = f.iter().map(|&b| if b { '1' } else { '0' }).collect();
        assert_eq!(s, "10000000100000000000000010");
    }
}
