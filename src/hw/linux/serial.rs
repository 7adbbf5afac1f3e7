//! Serial ports (serialport crate): the RS485 port with its driver-enable, and the input threads
//! of the RS485 port and the QR-code reader.

use std::io::{Read, Write};
use std::sync::mpsc::Sender;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

use super::gpio::OutputLine;
use crate::hw::serial::{Framer, SerialInMode, idle_gap, pass_through};
use crate::hw::{InputEvent, Rs485Out, SharedParams};
use crate::model::{Credential, Source};
use crate::{Error, Result};

/// How long an idle reader sleeps in `read` before it looks at the parameters again.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// Opens a tty raw at `baud`, exclusively; `what` names it in errors (missing, permission, busy).
pub fn open_port(path: &str, baud: u32, what: &str) -> Result<TTYPort> {
    use std::os::unix::fs::OpenOptionsExt;
    // Opened once by hand first so the error says missing or permission in the system's words.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(format!("{what}: opening {path} ({})", super::gpio::reason(&e)), e))?;
    serialport::new(path, baud).timeout(IDLE_WAKE).open_native().map_err(|e| {
        let why = match e.kind() {
            serialport::ErrorKind::NoDevice => "busy: another program has it open",
            _ => "cannot be configured",
        };
        Error::hardware(format!("{what}: {path} {why}"), e)
    })
}

/// A driver-enable switched by facegate around writes.
pub trait DriverEnableLine: Send {
    /// Enables (`true`) or disables the transceiver's driver.
    fn set(&mut self, on: bool) -> Result<()>;
}

impl DriverEnableLine for OutputLine {
    fn set(&mut self, on: bool) -> Result<()> {
        OutputLine::set(self, on)
    }
}

/// The RS485 transmit side: the port, and the DE line when it is a GPIO.
pub struct Rs485Port {
    port: TTYPort,
    de: Option<Box<dyn DriverEnableLine>>,
}

impl Rs485Port {
    /// Wraps an open port; `de` is the GPIO driver-enable, `None` for kernel or automatic DE.
    pub fn new(port: TTYPort, de: Option<Box<dyn DriverEnableLine>>) -> Rs485Port {
        Rs485Port { port, de }
    }

    fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.port.write_all(data)?;
        // tcdrain: returns once the driver has sent everything.
        self.port.flush()?;
        if self.de.is_some() {
            // Some UARTs report "drained" with the last byte still in the shift register;
            // dropping DE then would cut its stop bit. Two character times cover it.
            let baud = self.port.baud_rate().unwrap_or(9600).max(1);
            std::thread::sleep(Duration::from_micros(20_000_000 / u64::from(baud)));
        }
        Ok(())
    }
}

impl Rs485Out for Rs485Port {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Some(de) = self.de.as_mut() {
            de.set(true)?;
        }
        let result = self.send(data);
        if let Some(de) = self.de.as_mut() {
            // Always released, or the bus stays blocked for every other node.
            de.set(false)?;
        }
        let name = self.port.name().unwrap_or_default();
        result.map_err(|e| Error::io(format!("writing {} bytes to RS485 {name}", data.len()), e))
    }
}

/// Which input a serial reader thread serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialInput {
    /// The RS485 port: frames by idle gap, under `entranceSerialInMode`, at `entranceSerialBaudRate`.
    Rs485,
    /// A QR-code reader: one code per line or idle gap, always on, fixed baud.
    QrReader,
}

/// Starts a reader thread on `port`; it runs until `events` is closed.
pub fn spawn_reader(port: TTYPort, input: SerialInput, params: SharedParams, events: Sender<InputEvent>) -> Result<()> {
    let name = match input {
        SerialInput::Rs485 => "rs485-in",
        SerialInput::QrReader => "qr-reader",
    };
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || run_reader(port, input, &params, &events))
        .map_err(|e| Error::io(format!("starting the {name} thread"), e))?;
    Ok(())
}

fn run_reader(mut port: TTYPort, input: SerialInput, params: &SharedParams, events: &Sender<InputEvent>) {
    let path = port.name().unwrap_or_default();
    let mut framer = if input == SerialInput::QrReader { Framer::lines() } else { Framer::idle_gap() };
    let mut baud = port.baud_rate().unwrap_or(9600);
    // The mode last seen, so a refused vendor mode is logged once per change, not per wake-up.
    let mut logged_mode: Option<SerialInMode> = None;
    let mut failing = false;
    let mut buf = [0u8; 256];
    loop {
        let mut pass = true;
        if input == SerialInput::Rs485 {
            let p = params.get();
            if p.serial_baud != baud {
                match port.set_baud_rate(p.serial_baud) {
                    Ok(()) => {
                        log::info!("RS485 {path}: baud rate now {}", p.serial_baud);
                        baud = p.serial_baud;
                    }
                    Err(e) => log::error!("RS485 {path}: cannot set {} baud: {e}", p.serial_baud),
                }
            }
            pass = match pass_through(p.serial_in_mode) {
                Ok(pass) => pass,
                Err(e) => {
                    if logged_mode != Some(p.serial_in_mode) {
                        log::warn!("RS485 {path}: {e}");
                    }
                    false
                }
            };
            logged_mode = Some(p.serial_in_mode);
        }
        let wait = if framer.pending() { idle_gap(baud) } else { IDLE_WAKE };
        if let Err(e) = port.set_timeout(wait) {
            log::error!("{path}: {e}");
        }
        let frames = match port.read(&mut buf) {
            Ok(n) if n > 0 => {
                failing = false;
                if pass { framer.push(&buf[..n]) } else { Vec::new() }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => framer.idle().into_iter().collect(),
            other => {
                // A hung-up or vanished device: say so once, then retry slowly.
                if !failing {
                    log::error!(
                        "{path}: read failed ({}); retrying every second",
                        other.err().map_or("end of file".into(), |e| e.to_string())
                    );
                    failing = true;
                }
                std::thread::sleep(IDLE_WAKE);
                Vec::new()
            }
        };
        for frame in frames {
            let event = match input {
                SerialInput::Rs485 => InputEvent { credential: Credential::Rs485(frame), source: Source::Rs485 },
                SerialInput::QrReader => InputEvent { credential: Credential::Qr(frame), source: Source::QrReader },
            };
            if events.send(event).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::HwParams;
    use std::sync::mpsc::{self, Receiver};
    use std::sync::{Arc, Mutex};

    /// A pseudo-terminal: the master end plays the device on the bus; the slave's path is what
    /// facegate opens as its serial port.
    struct Pty {
        master: TTYPort,
        /// Kept open so the slave side does not hang up between opens; also reads the line
        /// settings facegate made.
        slave: TTYPort,
        path: String,
    }

    fn pty() -> Pty {
        let (mut master, slave) = TTYPort::pair().expect("a pseudo-terminal");
        // The long bound of `read_master` only stops a hang.
        master.set_timeout(Duration::from_secs(30)).unwrap();
        let path = slave.name().expect("the slave end has a path");
        Pty { master, slave, path }
    }

    /// Reads exactly `n` bytes from the master end.
    fn read_master(master: &mut TTYPort, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        master.read_exact(&mut out).expect("the bytes arrive on the master end");
        out
    }

    fn next(rx: &Receiver<InputEvent>) -> InputEvent {
        rx.recv_timeout(Duration::from_secs(30)).expect("no input event")
    }

    struct FakeDe(Arc<Mutex<Vec<bool>>>);
    impl DriverEnableLine for FakeDe {
        fn set(&mut self, on: bool) -> Result<()> {
            self.0.lock().unwrap().push(on);
            Ok(())
        }
    }

    #[test]
    fn rs485_output_reaches_the_bus_with_driver_enable_around_it() {
        let mut pty = pty();
        let port = open_port(&pty.path, 9600, "RS485").unwrap();
        let de_log = Arc::new(Mutex::new(Vec::new()));
        let mut out = Rs485Port::new(port, Some(Box::new(FakeDe(Arc::clone(&de_log)))));
        out.write(&[0xfe, 0x03, 0x01, 0x00, 0x02]).unwrap();
        assert_eq!(read_master(&mut pty.master, 5), vec![0xfe, 0x03, 0x01, 0x00, 0x02]);
        assert_eq!(*de_log.lock().unwrap(), vec![true, false]);
    }

    #[test]
    fn second_open_of_a_port_is_busy() {
        let pty = pty();
        let _port = open_port(&pty.path, 9600, "RS485").unwrap();
        let err = open_port(&pty.path, 9600, "RS485").expect_err("the port is held");
        assert!(err.to_string().contains("busy"), "{err}");
        // serialport's own error stays attached as the cause.
        let cause = std::error::Error::source(&err).expect("a source");
        assert!(cause.downcast_ref::<serialport::Error>().is_some(), "{cause:?}");
        let err = open_port("/dev/ttyfacegate-none", 9600, "QR reader").err().unwrap().to_string();
        assert!(err.contains("missing") && err.contains("QR reader"), "{err}");
    }

    #[test]
    fn rs485_pass_through_frames_by_idle_gap_and_follows_the_baud_rate() {
        let mut pty = pty();
        let port = open_port(&pty.path, 9600, "RS485").unwrap();
        let params = SharedParams::new(HwParams { serial_in_mode: SerialInMode::PassThrough, ..HwParams::default() });
        let (tx, rx) = mpsc::channel();
        spawn_reader(port, SerialInput::Rs485, params.clone(), tx).unwrap();
        // A frame is only emitted after an idle wait, which starts with a fresh look at the
        // parameters: once the next frame arrives, the new rate is in force.
        params.set(HwParams { serial_in_mode: SerialInMode::PassThrough, serial_baud: 19200, ..HwParams::default() });

        pty.master.write_all(&[0xfe, 0x03, 0x01, 0x00, 0x02]).unwrap();
        assert_eq!(
            next(&rx),
            InputEvent { credential: Credential::Rs485(vec![0xfe, 0x03, 0x01, 0x00, 0x02]), source: Source::Rs485 }
        );
        pty.master.write_all(b"\x01\x02\r\n").unwrap();
        assert_eq!(next(&rx).credential, Credential::Rs485(b"\x01\x02\r\n".to_vec()));

        assert_eq!(pty.slave.baud_rate().unwrap(), 19200);
    }

    #[test]
    fn qr_reader_sends_one_code_per_line() {
        let mut pty = pty();
        let port = open_port(&pty.path, 9600, "QR reader").unwrap();
        let (tx, rx) = mpsc::channel();
        spawn_reader(port, SerialInput::QrReader, SharedParams::default(), tx).unwrap();
        pty.master.write_all(b"https://example.invalid/p?c=1\r\nSECOND").unwrap();
        assert_eq!(
            next(&rx),
            InputEvent {
                credential: Credential::Qr(b"https://example.invalid/p?c=1".to_vec()),
                source: Source::QrReader
            }
        );
        assert_eq!(
            next(&rx).credential,
            Credential::Qr(b"SECOND".to_vec()),
            "a code without line end ends at the idle gap"
        );
    }
}
