//! `device/reboot` and `device/setTime`, and setting the clock from registerResp.
//!
//! Reboot reports its result first, then reboots: a report sent after would never leave.
//! The clock is set only on real boards (the sim board logs the instant) and never to an
//! absurd instant: before this binary was built, or after 2099 (persons valid "to 2099"
//! would expire).

use chrono::Datelike;

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{Command, ErrorCode, RebootCommand, Service, SetTimeCommand, time};

/// The earliest instant the clock may be set to: when this binary was built (see build.rs).
pub const EARLIEST_CLOCK_MS: i64 = parse_seconds(env!("FACEGATE_BUILT_UNIX_S")) * 1000;

/// The first instant the clock may not be set to: 2100-01-01T00:00:00Z.
pub const CLOCK_END_MS: i64 = 4_102_444_800_000;

/// Unsigned decimal seconds, at compile time.
const fn parse_seconds(s: &str) -> i64 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0i64;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as i64;
        i += 1;
    }
    n
}

/// Whether the clock may be set to `unix_ms`: from the build time to the end of 2099.
pub(crate) fn check_clock(unix_ms: i64) -> Result<(), String> {
    if unix_ms < EARLIEST_CLOCK_MS {
        return Err(format!("refusing to set the clock to {unix_ms} ms: before this build ({EARLIEST_CLOCK_MS} ms)"));
    }
    if unix_ms >= CLOCK_END_MS {
        return Err(format!("refusing to set the clock to {unix_ms} ms: after 2099"));
    }
    Ok(())
}

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
            // The local date bounds it too: 2100-01-01 00:00 at UTC+3 is still 2099 in UTC, but
            // on this terminal's calendar every person valid "to 2099_12_31" would be expired.
            Ok(local) if local.year() > 2099 => {
                let why = format!("refusing to set the clock to {local}: after 2099");
                log::warn!("setTime {}: {why}", cmd.msg_id);
                (ErrorCode::Failed, why)
            }
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
    if let Err(e) = check_clock(unix_ms) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_set_only_between_the_build_and_the_end_of_2099() {
        // 2024-01-01 is before any build of this code.
        const { assert!(EARLIEST_CLOCK_MS > 1_704_067_200_000) };
        assert!(EARLIEST_CLOCK_MS <= crate::clock::now_ms(), "the build is not in the future");
        assert!(check_clock(EARLIEST_CLOCK_MS - 1).unwrap_err().contains("before this build"));
        assert_eq!(check_clock(EARLIEST_CLOCK_MS), Ok(()));
        assert_eq!(check_clock(CLOCK_END_MS - 1), Ok(()), "2099-12-31T23:59:59.999Z");
        assert!(check_clock(CLOCK_END_MS).unwrap_err().contains("after 2099"), "2100-01-01");
        // 9999-12-31.
        assert!(check_clock(253_402_214_400_000).is_err());
        assert!(check_clock(0).is_err());
    }
}
