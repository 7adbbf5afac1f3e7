//! emu-probe: the guest-side instrument of the emulated board test bed.
//!
//! It plays the hardware around the terminal: it watches the relay and Wiegand output lines of
//! the gpio-sim chip (by sampling their sysfs `value`), drives the Wiegand input lines (by
//! writing their sysfs `pull`), checks JPEG files and forwards log lines to /dev/kmsg so that
//! they reach the console whole. std only: it is built with plain `rustc` for the guest.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::os::unix::fs::FileExt;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const USAGE: &str = "usage:
  emu-probe watch [--relay VALUE_FILE] [--wg-out D0_VALUE D1_VALUE] [--wg-active 0|1]
                  [--timeout-ms N] -- COMMAND [ARGS...]
  emu-probe wiegand-send D0_PULL D1_PULL BITS NUMBER [--bad-parity] [--period-us N]
                  [--pulse-us N] [--inverted]
  emu-probe wiegand-frame BITS NUMBER [--bad-parity]
  emu-probe jpeg FILE
  emu-probe kmsg PREFIX        (stdin lines to /dev/kmsg, one record each)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("watch") => watch(&args[1..]),
        Some("wiegand-send") => wiegand_send(&args[1..]),
        Some("wiegand-frame") => wiegand_frame_cmd(&args[1..]),
        Some("jpeg") => jpeg(&args[1..]),
        Some("kmsg") => kmsg(&args[1..]),
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

/// Samples the relay and the Wiegand output lines while COMMAND runs, then reports what the
/// lines did: how long the relay was at level 1 and which frame appeared on the output.
fn watch(args: &[String]) -> Result<(), String> {
    let mut relay = None;
    let mut wg = None;
    let mut wg_active = true;
    let mut timeout = Duration::from_millis(5000);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--relay" => {
                relay = Some(Level::open(arg(args, i + 1)?)?);
                i += 2;
            }
            "--wg-out" => {
                wg = Some((Level::open(arg(args, i + 1)?)?, Level::open(arg(args, i + 2)?)?));
                i += 3;
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
    let start = Instant::now();
    let relay_idle = match &relay {
        Some(r) => Some(r.read()?),
        None => None,
    };
    if relay_idle == Some(true) {
        println!("relay already at level 1 before the command");
    }
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", cmd[0]))?;
    let mut child_status = None;
    let mut relay_rise: Option<Instant> = None;
    let mut relay_pulses: Vec<Duration> = Vec::new();
    let mut relay_prev = relay_idle.unwrap_or(false);
    // Wiegand output: a pulse on D0 is a 0 bit, on D1 a 1 bit; a bit is taken at the pulse's start.
    let mut bits: Vec<bool> = Vec::new();
    let mut wg_prev = (false, false);
    let mut last_pulse: Option<Instant> = None;
    let mut samples: u64 = 0;
    let mut longest_gap = Duration::ZERO;
    let mut last_sample = Instant::now();
    loop {
        let now = Instant::now();
        longest_gap = longest_gap.max(now - last_sample);
        last_sample = now;
        samples += 1;
        if let Some(r) = &relay {
            let level = r.read()?;
            if level && !relay_prev {
                relay_rise = Some(now);
            }
            if !level && relay_prev {
                if let Some(rise) = relay_rise.take() {
                    relay_pulses.push(now - rise);
                }
            }
            relay_prev = level;
        }
        if let Some((d0, d1)) = &wg {
            let l0 = d0.read()? == wg_active;
            let l1 = d1.read()? == wg_active;
            if l0 && !wg_prev.0 {
                bits.push(false);
                last_pulse = Some(now);
            }
            if l1 && !wg_prev.1 {
                bits.push(true);
                last_pulse = Some(now);
            }
            wg_prev = (l0, l1);
        }
        if child_status.is_none() {
            child_status = child.try_wait().map_err(|e| e.to_string())?;
        }
        let relay_settled = relay.is_none() || (!relay_pulses.is_empty() && !relay_prev);
        let wg_settled = wg.is_none()
            || last_pulse.is_some_and(|t| now - t > Duration::from_millis(300));
        if child_status.is_some() && relay_settled && wg_settled {
            break;
        }
        if now - start > timeout {
            if child_status.is_none() {
                let _ = child.kill();
                child_status = child.wait().ok();
            }
            break;
        }
        std::hint::spin_loop();
    }
    if relay.is_some() {
        if let Some(rise) = relay_rise {
            println!("relay level 1 for more than {} ms (still high at the timeout)", rise.elapsed().as_millis());
        }
        if relay_pulses.is_empty() && relay_rise.is_none() {
            println!("relay never went to level 1");
        }
        for p in &relay_pulses {
            println!("relay level 1 for {} ms", p.as_millis());
        }
    }
    if wg.is_some() {
        if bits.is_empty() {
            println!("wiegand out nothing");
        } else {
            let text: String = bits.iter().map(|&b| if b { '1' } else { '0' }).collect();
            let (value, parity) = decode(&bits);
            println!("wiegand out {}-bit {text} number {value} parity {parity}", bits.len());
        }
    }
    println!(
        "sampled {samples} times, longest gap {} us",
        longest_gap.as_micros()
    );
    match child_status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{} exited with {s}", cmd[0])),
        None => Err(format!("{} did not finish", cmd[0])),
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
    let open = |p: &str| {
        OpenOptions::new().write(true).open(p).map_err(|e| format!("{p}: {e}"))
    };
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
    let (active, idle): (&[u8], &[u8]) =
        if inverted { (b"pull-up", b"pull-down") } else { (b"pull-down", b"pull-up") };
    let frame = wiegand_frame(len, value, bad)?;
    let start = Instant::now();
    for (n, &bit) in frame.iter().enumerate() {
        let line = if bit { &d1 } else { &d0 };
        // Each bit starts on its own schedule, so one late write does not shift the rest.
        let due = start + period * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        line.write_at(active, 0).map_err(|e| format!("pull: {e}"))?;
        std::thread::sleep(pulse);
        line.write_at(idle, 0).map_err(|e| format!("pull: {e}"))?;
    }
    let text: String = frame.iter().map(|&b| if b { '1' } else { '0' }).collect();
    println!("sent {len}-bit {text} in {} ms", start.elapsed().as_millis());
    Ok(())
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
        if matches!(marker, 0xC0 | 0xC1 | 0xC2) {
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

/// Copies stdin to /dev/kmsg one line per record: printk serialises records on the console,
/// where plain writes from several processes would interleave mid-line.
fn kmsg(args: &[String]) -> Result<(), String> {
    let prefix = args.first().map(String::as_str).unwrap_or("");
    let mut out = OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .map_err(|e| format!("/dev/kmsg: {e}"))?;
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
    fn known_h10301_frame() {
        // Facility 1, card 1: the classic example frame.
        let f = wiegand_frame(26, 1 << 16 | 1, false).unwrap();
        let s: String = f.iter().map(|&b| if b { '1' } else { '0' }).collect();
        assert_eq!(s, "10000000100000000000000010");
    }
}
