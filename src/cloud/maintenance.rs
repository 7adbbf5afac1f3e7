//! `device/reboot` and `device/setTime`, and setting the clock from registerResp.
//!
//! Reboot reports its result first, then reboots: a report sent after would never leave.
//! The clock is set only on real boards (the sim board logs the instant) and never to an
//! absurd instant (before 2024, i.e. before any build of facegate).

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{Command, ErrorCode, RebootCommand, Service, SetTimeCommand, time};

/// The earliest instant the clock may be set to: 2024-01-01T00:00:00Z.
pub const EARLIEST_CLOCK_MS: i64 = 1_704_067_200_000;

/// Polls for a reboot command: report 100, then reboot through the board's system backend.
pub fn poll_reboot(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: RebootCommand = s.poll(Service::Reboot)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    log::info!("remote reboot {}: reporting first", cmd.msg_id);
    s.finish(Service::Reboot, &cmd, ErrorCode::Ok, "")?;
    let result = s.handles.system.lock().unwrap_or_else(|e| e.into_inner()).reboot();
    if let Err(e) = result {
        log::error!("reboot failed: {e}");
        s.note_error(&format!("reboot: {e}"));
    }
    Ok(Outcome::Command)
}

/// Polls for a time calibration: sets the clock (real boards) and reports.
pub fn poll_set_time(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: SetTimeCommand = s.poll(Service::SetTime)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let tz = s.handles.settings.get().time_zone;
    let (code, msg) = if cmd.time_stamp.trim().is_empty() {
        // timeStamp is optional even with the flag set: nothing to set.
        (ErrorCode::Ok, String::new())
    } else {
        match time::parse_set_time(&cmd.time_stamp) {
            // timeStamp is local wall-clock time in the device's time zone.
            Ok(local) => match set_clock(s, time::unix_ms(local, tz), "setTime") {
                Ok(()) => (ErrorCode::Ok, String::new()),
                Err(why) => (ErrorCode::Failed, why),
            },
            Err(e) => {
                log::warn!("setTime {}: {e}", cmd.msg_id);
                (ErrorCode::Failed, e.to_string())
            }
        }
    };
    s.finish(Service::SetTime, &cmd, code, &msg)
}

/// Sets the system clock to `unix_ms` unless it is absurd or setting is off.
pub fn set_clock(s: &mut Session<'_>, unix_ms: i64, why: &str) -> Result<(), String> {
    if unix_ms < EARLIEST_CLOCK_MS {
        let e = format!("refusing to set the clock to {unix_ms} ms (before 2024)");
        log::warn!("{why}: {e}");
        return Err(e);
    }
    if !s.cfg().system.set_clock {
        log::info!("{why}: clock setting is off in [system]; cloud time {unix_ms} ms ignored");
        return Ok(());
    }
    let result = s.handles.system.lock().unwrap_or_else(|e| e.into_inner()).set_clock(unix_ms);
    match result {
        Ok(()) => {
            log::info!("{why}: clock set to {unix_ms} ms");
            Ok(())
        }
        Err(e) => {
            log::warn!("{why}: cannot set the clock: {e}");
            Err(e.to_string())
        }
    }
}
