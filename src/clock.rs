//! Time, in one place: the wall clock (Unix milliseconds), the device's local time, and the
//! systemd watchdog that the long-running threads feed.
//!
//! Monotonic time is std's `Instant`, used directly for deadlines and waits; only wall-clock
//! readings go through here, so there is one answer to "what time is it" (and one place to
//! look when the cloud steps the clock).

use chrono::NaiveDateTime;

/// Milliseconds since the Unix epoch, from the system clock (0 for a clock before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The device's local wall-clock time for a Unix time in ms and a UTC offset in hours. An
/// instant outside chrono's range reads as the epoch (the clock never gets there).
pub fn local_time(unix_ms: i64, tz_hours: i32) -> NaiveDateTime {
    checked_local_time(unix_ms, tz_hours).unwrap_or_else(|| {
        let utc = chrono::DateTime::from_timestamp_millis(unix_ms).unwrap_or_default().naive_utc();
        utc.checked_add_signed(chrono::TimeDelta::hours(i64::from(tz_hours))).unwrap_or(utc)
    })
}

/// [`local_time`], or `None` when the instant or its shift is outside chrono's range (for
/// callers that must refuse such a time, e.g. a record's `passTime`).
pub fn checked_local_time(unix_ms: i64, tz_hours: i32) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .and_then(|utc| utc.naive_utc().checked_add_signed(chrono::TimeDelta::hours(i64::from(tz_hours))))
}

/// Tells systemd's watchdog the agent is alive (a no-op outside systemd, where there is no
/// watchdog to tell: the result says nothing worth acting on).
pub fn watchdog_ping() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_shifts_by_the_zone_and_saturates_at_the_ends() {
        let t = local_time(1_585_903_632_011, 8);
        assert_eq!(t.to_string(), "2020-04-03 16:47:12.011");
        assert_eq!(local_time(1_585_903_632_011, -11).to_string(), "2020-04-02 21:47:12.011");
        // Out of chrono's range: the epoch, shifted, rather than a panic.
        assert_eq!(local_time(i64::MAX, 0).to_string(), "1970-01-01 00:00:00");
        assert!(now_ms() > 1_704_067_200_000, "the test machine's clock is before 2024");
    }
}
