//! Serial input framing and the RS485 device parameters, pure and host-tested.
//!
//! Pass-through RS485 data has no framing of its own: a frame is what arrives before the line
//! goes idle ([`idle_gap`]). QR readers end each code with CR and/or LF; some send nothing, so
//! an idle gap ends a code too.

use std::time::Duration;

use crate::{Error, Result};

/// Longest frame passed on: the records' `data` field holds 1024 Base64 characters, i.e. 768 bytes.
pub const MAX_FRAME: usize = 768;

/// Baud rates accepted for `entranceSerialBaudRate`: the device-parameter table's.
pub use crate::protocol::devinfo::BAUD_RATES;

/// Parses `entranceSerialBaudRate`. Only standard rates are accepted: the spec's own example
/// `96000` is a typo for 9600 that a UART would silently run at the wrong speed.
pub fn parse_baud(value: &str) -> Result<u32> {
    match value.trim().parse::<u32>() {
        Ok(baud) if BAUD_RATES.contains(&baud) => Ok(baud),
        _ => Err(Error::Config(format!(
            "entranceSerialBaudRate {value:?} is not a standard rate (use one of {BAUD_RATES:?})"
        ))),
    }
}

/// What the RS485 input does with received bytes (`entranceSerialInMode`): the device
/// parameters' own type. Only `Off` and `PassThrough` are implemented.
pub use crate::protocol::devinfo::SerialInMode;

/// Whether RS485 input passes frames through to the cloud under `mode`: true for pass-through,
/// false for off. The vendor protocols (`1`, `2`, `5` temperature modules, `3` "standard
/// protocol") are not documented anywhere this project can see, so they are refused rather than
/// guessed at; the caller logs the error and treats the input as off.
pub fn pass_through(mode: SerialInMode) -> Result<bool> {
    let vendor = |code: u8, what: &str| {
        Err(Error::Hardware(format!(
            "entranceSerialInMode {code} ({what}) is a vendor protocol facegate does not implement; RS485 input is off \
             (use 4 for pass-through to the cloud)"
        )))
    };
    match mode {
        SerialInMode::Off => Ok(false),
        SerialInMode::PassThrough => Ok(true),
        SerialInMode::TemperatureV1 => vendor(1, "V1 temperature measurement"),
        SerialInMode::TemperatureV2 => vendor(2, "V2 temperature measurement"),
        SerialInMode::Standard => vendor(3, "standard protocol"),
        SerialInMode::TemperatureV3 => vendor(5, "V3 temperature measurement"),
    }
}

/// The silence that ends a pass-through frame: ten character times, at least 20 ms (tty
/// drivers and USB adapters deliver bytes in bursts a few ms apart).
pub fn idle_gap(baud: u32) -> Duration {
    let char_us = 10_000_000 / u64::from(baud.max(1));
    Duration::from_micros((10 * char_us).max(20_000))
}

/// Collects bytes into frames, ended by an idle gap, a line end (line mode) or the size limit.
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    lines: bool,
}

impl Framer {
    /// A framer for pass-through data: only idle gaps and the size limit end frames.
    pub fn idle_gap() -> Framer {
        Framer { buf: Vec::new(), lines: false }
    }

    /// A framer for QR readers: CR or LF ends a code too (and is not part of it).
    pub fn lines() -> Framer {
        Framer { buf: Vec::new(), lines: true }
    }

    /// Takes received bytes; returns the frames they complete.
    pub fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for &byte in data {
            if self.lines && (byte == b'\r' || byte == b'\n') {
                if !self.buf.is_empty() {
                    frames.push(std::mem::take(&mut self.buf));
                }
                continue;
            }
            self.buf.push(byte);
            if self.buf.len() == MAX_FRAME {
                frames.push(std::mem::take(&mut self.buf));
            }
        }
        frames
    }

    /// The line went idle: the pending bytes, if any, are a frame.
    pub fn idle(&mut self) -> Option<Vec<u8>> {
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf))
    }

    /// Whether bytes are waiting for the end of their frame.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baud_rates() {
        assert_eq!(parse_baud("9600").unwrap(), 9600);
        assert_eq!(parse_baud(" 115200 ").unwrap(), 115200);
        let err = parse_baud("96000").unwrap_err().to_string();
        assert!(err.contains("96000") && err.contains("9600"), "{err}");
        assert!(parse_baud("").is_err());
    }

    #[test]
    fn input_modes() {
        assert!(!pass_through(SerialInMode::Off).unwrap());
        assert!(pass_through(SerialInMode::PassThrough).unwrap());
        for (code, vendor) in [
            (1, SerialInMode::TemperatureV1),
            (2, SerialInMode::TemperatureV2),
            (3, SerialInMode::Standard),
            (5, SerialInMode::TemperatureV3),
        ] {
            let err = pass_through(vendor).unwrap_err().to_string();
            assert!(err.contains("vendor protocol") && err.contains("RS485 input is off"), "{err}");
            assert!(err.contains(&format!("entranceSerialInMode {code} ")), "{err}");
        }
    }

    #[test]
    fn idle_gap_scales_with_slow_rates() {
        assert_eq!(idle_gap(115_200), Duration::from_millis(20));
        assert_eq!(idle_gap(2400), Duration::from_micros(41_660));
    }

    #[test]
    fn idle_gap_framing() {
        let mut f = Framer::idle_gap();
        assert!(f.push(&[0xfe, 0x03]).is_empty());
        assert!(f.push(&[0x0d, 0x0a]).is_empty(), "line ends are data in pass-through");
        assert!(f.pending());
        assert_eq!(f.idle(), Some(vec![0xfe, 0x03, 0x0d, 0x0a]));
        assert_eq!(f.idle(), None);
        let big = vec![7u8; MAX_FRAME + 10];
        let frames = f.push(&big);
        assert_eq!(frames, vec![vec![7u8; MAX_FRAME]]);
        assert_eq!(f.idle(), Some(vec![7u8; 10]));
    }

    #[test]
    fn line_framing() {
        let mut f = Framer::lines();
        assert_eq!(f.push(b"QR-1\r\nQR-2\nQR"), vec![b"QR-1".to_vec(), b"QR-2".to_vec()]);
        assert_eq!(f.push(b"-3\r"), vec![b"QR-3".to_vec()]);
        assert_eq!(f.push(b"QR-4"), Vec::<Vec<u8>>::new());
        assert_eq!(f.idle(), Some(b"QR-4".to_vec()), "a reader without line ends is framed by the idle gap");
    }
}
