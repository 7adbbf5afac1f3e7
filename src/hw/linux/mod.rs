//! The Linux backends: thin wrappers over gpio-cdev, serialport and V4L2. All the logic they
//! drive (Wiegand decoding, framing, JPEG encoding) lives in the pure modules above them, and
//! every direct call into the C library (clocks, ppoll, the RS485 ioctls) in [`sys`].

pub mod camera;
pub mod gpio;
pub mod serial;
pub(super) mod sys;
pub mod system;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::board::{BoardProfile, DriverEnable, Rs485Profile};
use crate::hw::command::{CommandAnnouncer, LogAnnouncer};
use crate::hw::wiegand::{DecoderTiming, OutTiming};
use crate::hw::{Announcer, Board, BoardOptions, DoctorLine, InputHandles, InputStats, Rs485Out, WiegandOut};
use crate::{Error, Result};

use crate::access::doorwatch::Input as DoorInput;
use gpio::{DoorInputLine, GpioAlarmOutput, GpioRelay, GpioWiegandOut, OutputLine, WiegandInLines};
use serial::{Rs485Port, SerialInput};

/// How long `doctor` waits for a camera frame.
const DOCTOR_CAMERA_TIMEOUT: Duration = Duration::from_secs(5);

/// Claims every device of a `linux` profile; fails on the first that cannot be opened, naming it.
pub fn open(profile: &BoardProfile, opts: &BoardOptions) -> Result<Board> {
    let relay = profile
        .relay
        .as_ref()
        .ok_or_else(|| Error::Config(format!("{}: a linux board needs a [relay] table", profile.source)))?;
    let relay = GpioRelay(OutputLine::request(&relay.chip, relay.line, relay.active_low, "relay")?);

    let wiegand_out: Option<Box<dyn WiegandOut>> = match &profile.wiegand_out {
        Some(w) => Some(Box::new(GpioWiegandOut {
            d0: OutputLine::request(&w.chip, w.d0, w.inverted, "Wiegand output D0")?,
            d1: OutputLine::request(&w.chip, w.d1, w.inverted, "Wiegand output D1")?,
            timing: OutTiming::of(w),
        })),
        None => None,
    };

    let baud = opts.params.get().serial_baud;
    let (rs485_out, rs485_in) = match &profile.rs485 {
        Some(r) => {
            let (out, reader) = open_rs485(r, baud)?;
            (Some(Box::new(out) as Box<dyn Rs485Out>), Some(reader))
        }
        None => (None, None),
    };
    let qr = match &profile.qr_reader {
        Some(q) => Some(serial::open_port(&q.tty, q.baud, "QR reader")?),
        None => None,
    };
    let wiegand_in = match &profile.wiegand_in {
        Some(w) => Some(WiegandInLines::request(&w.chip, w.d0, w.d1, w.inverted)?),
        None => None,
    };

    let mut door_lines = Vec::new();
    for (name, l) in profile.door_inputs() {
        let input = DoorInput::from_name(name).ok_or_else(|| Error::Config(format!("no door input {name}")))?;
        door_lines.push(DoorInputLine::request(input, l)?);
    }
    let alarm_output = match &profile.alarm_output {
        Some(a) => Some(Box::new(GpioAlarmOutput(OutputLine::request(&a.chip, a.line, a.active_low, "alarm output")?))
            as Box<dyn crate::hw::AlarmOutput>),
        None => None,
    };

    let announcer: Box<dyn Announcer> = match &opts.announcer_command {
        Some(argv) => Box::new(CommandAnnouncer::new(argv.clone())?),
        None => Box::new(LogAnnouncer),
    };
    let timing = DecoderTiming::of(profile);
    let params = opts.params.clone();
    Ok(Board {
        name: profile.name.clone(),
        relay: Box::new(relay),
        wiegand_out,
        rs485_out,
        camera: profile.camera.clone().map(|c| Box::new(camera::V4lCamera::new(c)) as Box<dyn crate::hw::Camera>),
        announcer,
        system: Box::new(system::LinuxSystem {
            reboot: opts.reboot_command.clone(),
            install: opts.install_commands.clone(),
        }),
        inputs: Box::new(move |events| {
            let stats = Arc::new(Mutex::new(InputStats::default()));
            if let Some(lines) = wiegand_in {
                gpio::spawn_wiegand_reader(lines, timing, params.clone(), events.clone(), Arc::clone(&stats))?;
            }
            if let Some(port) = rs485_in {
                serial::spawn_reader(port, SerialInput::Rs485, params.clone(), events.clone())?;
            }
            if let Some(port) = qr {
                serial::spawn_reader(port, SerialInput::QrReader, params, events)?;
            }
            Ok(InputHandles { stats })
        }),
        door_lines: profile.door_inputs().iter().filter_map(|(name, _)| DoorInput::from_name(name)).collect(),
        alarm_output,
        door_inputs: Box::new(move |events| {
            for line in door_lines {
                gpio::spawn_door_input(line, events.clone())?;
            }
            Ok(())
        }),
    })
}

/// Opens the RS485 port with its driver-enable: the transmit side and a reading clone.
fn open_rs485(r: &Rs485Profile, baud: u32) -> Result<(Rs485Port, serialport::TTYPort)> {
    let port = serial::open_port(&r.tty, baud, "RS485")?;
    let de: Option<Box<dyn serial::DriverEnableLine>> = match r.driver_enable {
        DriverEnable::Kernel => {
            sys::enable_kernel_rs485(sys::tty_fd(&port)).map_err(|e| {
                Error::io(
                    format!(
                        "RS485 {}: the driver refuses kernel RS485 mode; set driver_enable = \"gpio\" or \"none\"",
                        r.tty
                    ),
                    e,
                )
            })?;
            None
        }
        DriverEnable::Gpio => {
            // validate() guarantees both are present for "gpio".
            let (chip, line) = (r.de_chip.as_deref().unwrap_or_default(), r.de_line.unwrap_or_default());
            Some(Box::new(OutputLine::request(chip, line, r.de_active_low, "RS485 driver-enable")?))
        }
        DriverEnable::None => None,
    };
    let reader = port
        .try_clone_native()
        .map_err(|e| Error::hardware(format!("RS485 {}: cannot open a second handle for reading", r.tty), e))?;
    Ok((Rs485Port::new(port, de), reader))
}

fn line(item: String, result: std::result::Result<String, String>) -> DoctorLine {
    match result {
        Ok(detail) => DoctorLine { item, ok: true, detail },
        Err(detail) => DoctorLine { item, ok: false, detail },
    }
}

fn check_port(tty: &str, baud: u32, what: &str, kernel_rs485: bool) -> std::result::Result<String, String> {
    let port = serial::open_port(tty, baud, what).map_err(|e| e.to_string())?;
    if kernel_rs485 {
        sys::kernel_rs485_supported(sys::tty_fd(&port)).map_err(|e| {
            format!(
                "{tty} opens, but its driver has no kernel RS485 mode ({e}); use driver_enable = \"gpio\" or \"none\""
            )
        })?;
    }
    Ok(format!("{tty} opens"))
}

/// Checks every configured line, port and camera without driving any output.
pub fn doctor(profile: &BoardProfile) -> Vec<DoctorLine> {
    let mut lines = Vec::new();
    if let Some(r) = &profile.relay {
        lines.push(line(format!("relay {} line {}", r.chip, r.line), gpio::check_line(&r.chip, r.line)));
    }
    if let Some(w) = &profile.wiegand_in {
        for (name, l) in [("D0", w.d0), ("D1", w.d1)] {
            lines.push(line(format!("Wiegand in {name} {} line {l}", w.chip), gpio::check_line(&w.chip, l)));
        }
    }
    if let Some(w) = &profile.wiegand_out {
        for (name, l) in [("D0", w.d0), ("D1", w.d1)] {
            lines.push(line(format!("Wiegand out {name} {} line {l}", w.chip), gpio::check_line(&w.chip, l)));
        }
    }
    if let Some(r) = &profile.rs485 {
        let kernel = r.driver_enable == DriverEnable::Kernel;
        lines.push(line(format!("rs485 {}", r.tty), check_port(&r.tty, 9600, "RS485", kernel)));
        if let (Some(chip), Some(l)) = (&r.de_chip, r.de_line) {
            lines.push(line(format!("rs485 driver-enable {chip} line {l}"), gpio::check_line(chip, l)));
        }
    }
    for (name, l) in profile.door_inputs() {
        lines.push(line(format!("{name} {} line {}", l.chip, l.line), gpio::check_line(&l.chip, l.line)));
    }
    if let Some(a) = &profile.alarm_output {
        lines.push(line(format!("alarm output {} line {}", a.chip, a.line), gpio::check_line(&a.chip, a.line)));
    }
    if let Some(q) = &profile.qr_reader {
        lines.push(line(format!("QR reader {}", q.tty), check_port(&q.tty, q.baud, "QR reader", false)));
    }
    if let Some(c) = &profile.camera {
        let cam = camera::V4lCamera::new(c.clone());
        lines.push(line(format!("camera {}", c.device), cam.check(DOCTOR_CAMERA_TIMEOUT)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_doctor_and_claim_report_missing_devices() {
        let text = "name = \"ghost\"\nkind = \"linux\"\n[relay]\nchip = \"/dev/gpiochip-facegate-test\"\nline = 3\n\
                    [rs485]\ntty = \"/dev/ttyfacegate-test\"\ndriver_enable = \"kernel\"\n\
                    [camera]\ndevice = \"/dev/video-facegate-test\"\nformat = \"YUYV\"\nwidth = 640\nheight = 480\n";
        let p = crate::board::parse_profile(text, "ghost.toml").unwrap();
        let lines = crate::hw::doctor(&p, std::path::Path::new("/tmp"));
        assert_eq!(lines.len(), 3, "{lines:?}");
        // Each door line gets its own doctor line, and claiming names the first that fails.
        let door = format!(
            "{text}[door_contact]\nchip = \"/dev/gpiochip-facegate-door\"\nline = 4\n\
             [alarm_output]\nchip = \"/dev/gpiochip-facegate-door\"\nline = 5\n"
        );
        let with_door = crate::board::parse_profile(&door, "ghost.toml").unwrap();
        let door_lines = crate::hw::doctor(&with_door, std::path::Path::new("/tmp"));
        let items: Vec<&str> = door_lines.iter().map(|l| l.item.as_str()).collect();
        assert!(items.contains(&"door_contact /dev/gpiochip-facegate-door line 4"), "{items:?}");
        assert!(items.contains(&"alarm output /dev/gpiochip-facegate-door line 5"), "{items:?}");
        assert!(door_lines.iter().all(|l| !l.ok && l.detail.contains("missing")), "{door_lines:?}");
        for l in &lines {
            assert!(!l.ok, "{l}");
            assert!(l.detail.contains("missing"), "{l}");
        }
        assert!(lines[0].item.contains("relay") && lines[1].item.contains("rs485") && lines[2].item.contains("camera"));
        let err = match crate::hw::open(&p, std::path::Path::new("/tmp"), &BoardOptions::default()) {
            Ok(_) => panic!("claim must fail"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("/dev/gpiochip-facegate-test"), "{err}");
    }
}
