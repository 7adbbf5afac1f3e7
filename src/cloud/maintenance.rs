//! `device/reboot` and `device/setTime`, and setting the clock from registerResp.
//!
//! Reboot reports its result first, then reboots: a report sent after would never leave.
//! The clock is set only on real boards and never to an absurd instant (before this build).

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::ErrorCode;
use crate::protocol::messages::{CommandResult, PollReq, RebootCommand, SetTimeCommand};
use crate::protocol::services::Service;
use crate::protocol::time;

/// The earliest instant the clock may be set to: 2024-01-01, before any build of facegate.
pub const EARLIEST_CLOCK_MS: i64 = 1_704_067_200_000;

/// Polls for a reboot command: report 100, then reboot through the board's system backend.
pub fn poll_reboot(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(RebootCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: RebootCommand = s.exchange(Service::Reboot.path(), &req)?;
    if cmd.is_online_reboot.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    log::info!("remote reboot {}: reporting first", cmd.msg_id);
    let ok = ErrorCode::Ok;
    let result = CommandResult::new(RebootCommand::MSG_TYPE, &cmd.msg_id, s.device_no(), ok.code(), ok.prompt());
    s.report(Service::Reboot.path(), &result)?;
    let mut system = s.shared.actuators.system.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = system.reboot() {
        log::error!("reboot failed: {e}");
        drop(system);
        s.note_error(&format!("reboot: {e}"));
    }
    Ok(Outcome::Command)
}

/// Polls for a time calibration: sets the clock (real boards) and reports.
pub fn poll_set_time(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(SetTimeCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: SetTimeCommand = s.exchange(Service::SetTime.path(), &req)?;
    if cmd.is_online_set_time.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    let tz = s.shared.params().time_zone_hours().unwrap_or(s.cfg().device.time_zone);
    let code = match time::parse_set_time(&cmd.time_stamp) {
        // timeStamp is local wall-clock time in the device's time zone.
        Some(local) => {
            let unix_ms = local.and_utc().timestamp_millis() - i64::from(tz) * 3_600_000;
            if set_clock(s, unix_ms, "setTime") { ErrorCode::Ok } else { ErrorCode::Failed }
        }
        None if cmd.time_stamp.trim().is_empty() => ErrorCode::Ok,
        None => {
            log::warn!("setTime {}: unreadable timeStamp {:?}", cmd.msg_id, cmd.time_stamp);
            ErrorCode::Failed
        }
    };
    let result = CommandResult::new(SetTimeCommand::MSG_TYPE, &cmd.msg_id, s.device_no(), code.code(), code.prompt());
    s.report(Service::SetTime.path(), &result)?;
    Ok(Outcome::Command)
}

/// Sets the system clock to `unix_ms` unless it is absurd or setting is off; true when done.
pub fn set_clock(s: &mut Session<'_>, unix_ms: i64, why: &str) -> bool {
    if unix_ms < EARLIEST_CLOCK_MS {
        log::warn!("{why}: refusing to set the clock to {unix_ms} ms (before 2024)");
        return false;
    }
    if !s.cfg().system.set_clock {
        log::info!("{why}: clock setting is off in [system]; cloud time {unix_ms} ms ignored");
        return true;
    }
    let mut system = s.shared.actuators.system.lock().unwrap_or_else(|e| e.into_inner());
    match system.set_clock(unix_ms) {
        Ok(()) => {
            log::info!("{why}: clock set to {unix_ms} ms");
            true
        }
        Err(e) => {
            log::warn!("{why}: cannot set the clock: {e}");
            false
        }
    }
}
