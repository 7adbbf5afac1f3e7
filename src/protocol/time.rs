//! The protocol's time formats (protocol.md §1.7.2). Times are always arguments: nothing here
//! reads the clock.
//!
//! Local times (`passTime`, `timeStamp`, snap times) carry no zone in the protocol; they are
//! the device's local time, i.e. UTC shifted by the `timeZone` device parameter in whole hours.
//! Person validity dates and pass windows are parsed by `crate::access`, not here.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

use crate::{Error, Result};

/// The `register` message's `registerTime`: Unix time in seconds, as decimal text.
pub fn register_time(unix_s: i64) -> String {
    unix_s.to_string()
}

/// Parses the cloud's `registerTime` (registerResp, keepAliveResp) into Unix milliseconds.
///
/// registerResp's table says 13 digits of milliseconds, keepAliveResp's example has 10 digits,
/// and clouds mix them up; the digit count tells them apart without ambiguity for any time
/// between 2001 and 2286: 13 digits are milliseconds, 10 digits are seconds. Anything else is
/// rejected rather than guessed, because a wrong guess would set the clock years off.
pub fn parse_cloud_timestamp_ms(text: &str) -> Result<i64> {
    let t = text.trim();
    let digits_only = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match (digits_only, t.len()) {
        (true, 13) => Ok(t.parse::<i64>().map_err(|e| bad_timestamp(text, &e))?),
        (true, 10) => Ok(t.parse::<i64>().map_err(|e| bad_timestamp(text, &e))? * 1000),
        _ => Err(Error::Protocol(format!(
            "registerTime \"{text}\" is not a Unix time of 13 digits (milliseconds) or 10 digits (seconds)"
        ))),
    }
}

fn bad_timestamp(text: &str, e: &dyn std::fmt::Display) -> Error {
    Error::Protocol(format!("registerTime \"{text}\" is not a number ({e})"))
}

/// Formats a record's `passTime`: `yyyy-MM-dd HH:mm:ss.SSS`, e.g. `2019-11-08 13:05:51.421`.
pub fn format_pass_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// Parses a record's `passTime` (the format of [`format_pass_time`]); it accepts the same
/// variants as [`parse_set_time`], including the spec text's full-width colon `：` between
/// date and time.
pub fn parse_pass_time(text: &str) -> Result<NaiveDateTime> {
    parse_local(text).map_err(|why| {
        Error::Protocol(format!("passTime \"{text}\" is not a time of the form 2019-11-08 13:05:51.421 ({why})"))
    })
}

/// Formats a 17-digit snap time `yyyyMMddHHmmssSSS` (face/get filters).
pub fn format_snap_time(t: NaiveDateTime) -> String {
    t.format("%Y%m%d%H%M%S%3f").to_string()
}

/// Parses a 17-digit snap time `yyyyMMddHHmmssSSS` (`snapTimeStart`, `snapTimeEnd`).
///
/// `""` gives `None`: for `snapTimeEnd` the spec means "up to now", which the caller decides.
/// 14 digits (no milliseconds) are accepted as well, since dropping the milliseconds is the
/// one plausible mistake and it cannot be misread.
pub fn parse_snap_time(text: &str) -> Result<Option<NaiveDateTime>> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| {
        Error::Protocol(format!(
            "snap time \"{text}\" is not 17 digits yyyyMMddHHmmssSSS, e.g. 20191108130551021 ({why})"
        ))
    };
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("only digits are allowed"));
    }
    if t.len() != 17 && t.len() != 14 {
        return Err(bad(&format!("it has {} digits", t.len())));
    }
    let num = |range: std::ops::Range<usize>| t[range].parse::<u32>().unwrap_or(u32::MAX);
    let year = t[0..4].parse::<i32>().unwrap_or(0);
    let ms = if t.len() == 17 { num(14..17) } else { 0 };
    let date = NaiveDate::from_ymd_opt(year, num(4..6), num(6..8)).ok_or_else(|| bad("no such date"))?;
    let time = NaiveTime::from_hms_milli_opt(num(8..10), num(10..12), num(12..14), ms)
        .ok_or_else(|| bad("no such time of day"))?;
    Ok(Some(NaiveDateTime::new(date, time)))
}

/// Parses setTime's `timeStamp`, `yyyy-MM-dd HH:mm:ss.S`.
///
/// Accepted: 0 to 9 fraction digits read as a decimal fraction (`.0`, `.4` = 400 ms, `.421`;
/// Java's `Timestamp.toString()` prints up to 9), one- or two-digit month, day, hour, minute
/// and second, stray spaces around every separator and at both ends, and `T` or `：` instead
/// of the space between date and time.
pub fn parse_set_time(text: &str) -> Result<NaiveDateTime> {
    parse_local(text).map_err(|why| {
        Error::Protocol(format!(
            "timeStamp \"{text}\" is not a time of the form yyyy-MM-dd HH:mm:ss.S, e.g. 2020-04-09 12:01:20.0 ({why})"
        ))
    })
}

/// Parses a time-zone offset in whole hours, `-11..=12` (the `timeZone` device parameter).
///
/// The spec gives only the range, not the form, so all of these are accepted: `8`, `+8`,
/// `08`, `-5`, `UTC+8`, `GMT+8`, `UTC+08:00` (case-insensitive prefix), and `UTC`/`GMT` for 0.
pub fn parse_time_zone(text: &str) -> Result<i32> {
    let bad = |why: &str| {
        Error::Protocol(format!(
            "timeZone \"{text}\" is not a whole-hour offset from -11 to +12 such as 8, +8 or UTC+8 ({why})"
        ))
    };
    let mut t = text.trim();
    // `get`, not `[..3]`: the first three bytes may end inside a multi-byte character.
    if t.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("UTC") || p.eq_ignore_ascii_case("GMT")) {
        t = t[3..].trim_start();
        if t.is_empty() {
            return Ok(0);
        }
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => (1, t),
    };
    let hours = match rest.split_once(':') {
        Some((h, "00")) => h,
        Some(_) => return Err(bad("only whole hours are allowed")),
        None => rest,
    };
    if hours.is_empty() || hours.len() > 2 || !hours.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("expected one or two digits of hours"));
    }
    let value = sign * hours.parse::<i32>().map_err(|_| bad("expected hours"))?;
    if !(-11..=12).contains(&value) {
        return Err(bad("out of range"));
    }
    Ok(value)
}

/// The device's local time for a Unix time in milliseconds and a zone offset in hours
/// ([`crate::clock::checked_local_time`]), refused when out of range.
pub fn local_time(unix_ms: i64, tz_hours: i32) -> Result<NaiveDateTime> {
    crate::clock::checked_local_time(unix_ms, tz_hours)
        .ok_or_else(|| Error::Protocol(format!("Unix time {unix_ms} ms is out of range")))
}

/// The Unix time in milliseconds of a local time in a zone offset in hours (the inverse of
/// [`local_time`]), e.g. to set the clock from setTime's `timeStamp`.
pub fn unix_ms(local: NaiveDateTime, tz_hours: i32) -> i64 {
    let utc = local.checked_sub_signed(TimeDelta::hours(i64::from(tz_hours)));
    // Only the extreme ends of chrono's range overflow; they stay unshifted.
    utc.unwrap_or(local).and_utc().timestamp_millis()
}

/// A record's `passTime` for a Unix time in milliseconds in a zone offset in hours.
pub fn pass_time_at(unix_ms: i64, tz_hours: i32) -> Result<String> {
    local_time(unix_ms, tz_hours).map(format_pass_time)
}

/// Parses `yyyy-MM-dd HH:mm:ss[.f]` with the tolerances of [`parse_set_time`]; the error is a
/// short reason.
fn parse_local(text: &str) -> std::result::Result<NaiveDateTime, &'static str> {
    // Split into runs of digits and the separators before each run.
    let mut groups: Vec<(String, String)> = Vec::new();
    let mut sep = String::new();
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                groups.push((std::mem::take(&mut sep), std::mem::take(&mut digits)));
            }
            sep.push(c);
        }
    }
    if digits.is_empty() {
        return Err(if groups.is_empty() { "no digits" } else { "it ends with a separator" });
    }
    groups.push((sep, digits));
    if groups.len() != 6 && groups.len() != 7 {
        return Err("expected year, month, day, hour, minute, second and an optional fraction");
    }
    let seps_ok = groups[0].0.is_empty()
        && groups[1].0.trim() == "-"
        && groups[2].0.trim() == "-"
        && {
            let s = &groups[3].0;
            let t = s.trim();
            (t.is_empty() && !s.is_empty()) || t == "T" || t == "："
        }
        && groups[4].0.trim() == ":"
        && groups[5].0.trim() == ":"
        && match groups.get(6) {
            None => true,
            Some((s, _)) => s.trim() == ".",
        };
    if !seps_ok {
        return Err("unexpected separators");
    }
    let len_ok = groups[0].1.len() == 4 && groups[1..6].iter().all(|(_, d)| d.len() <= 2);
    if !len_ok {
        return Err("expected a four-digit year and at most two digits per other field");
    }
    let n = |i: usize| groups[i].1.parse::<u32>().unwrap_or(u32::MAX);
    let nanos = match groups.get(6) {
        Some((_, f)) if f.len() > 9 => return Err("more than 9 fraction digits"),
        Some((_, f)) => f.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - f.len() as u32),
        None => 0,
    };
    let year = groups[0].1.parse::<i32>().unwrap_or(0);
    let date = NaiveDate::from_ymd_opt(year, n(1), n(2)).ok_or("no such date")?;
    let time = NaiveTime::from_hms_nano_opt(n(3), n(4), n(5), nanos).ok_or("no such time of day")?;
    Ok(NaiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_milli_opt(h, mi, s, ms).unwrap()
    }

    #[test]
    fn register_time_is_seconds() {
        assert_eq!(register_time(1_508_845_817), "1508845817");
    }

    #[test]
    fn cloud_timestamp_accepts_ms_and_seconds() {
        assert_eq!(parse_cloud_timestamp_ms("1585903632011").unwrap(), 1_585_903_632_011);
        assert_eq!(parse_cloud_timestamp_ms("1536811918 ").unwrap(), 1_536_811_918_000);
        for bad in ["", "abc", "158590363201", "15859036320110", "-1585903632", "1.5e12"] {
            assert!(parse_cloud_timestamp_ms(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn pass_time_round_trip() {
        let t = dt(2019, 11, 8, 13, 5, 51, 421);
        assert_eq!(format_pass_time(t), "2019-11-08 13:05:51.421");
        assert_eq!(parse_pass_time("2019-11-08 13:05:51.421").unwrap(), t);
        assert_eq!(parse_pass_time(" 2019-11-08 13:05:51.421").unwrap(), t);
        assert_eq!(parse_pass_time("2019-11-08：13:05:51.421").unwrap(), t);
        assert_eq!(format_pass_time(dt(2020, 1, 2, 3, 4, 5, 6)), "2020-01-02 03:04:05.006");
        for bad in ["", "2019-11-08", "2019-11-08 25:00:00.000", "2019/11/08 13:05:51.421", "x"] {
            let err = parse_pass_time(bad).unwrap_err().to_string();
            assert!(err.contains("passTime"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn snap_time() {
        let t = dt(2019, 11, 8, 13, 5, 51, 21);
        assert_eq!(parse_snap_time("20191108130551021").unwrap(), Some(t));
        assert_eq!(format_snap_time(t), "20191108130551021");
        assert_eq!(parse_snap_time(" 20200601120000000 ").unwrap(), Some(dt(2020, 6, 1, 12, 0, 0, 0)));
        assert_eq!(parse_snap_time("20200601120000").unwrap(), Some(dt(2020, 6, 1, 12, 0, 0, 0)));
        assert_eq!(parse_snap_time("").unwrap(), None);
        assert_eq!(parse_snap_time("  ").unwrap(), None);
        for bad in ["2019110813055102", "201911081305510211", "20191308130551021", "2019-11-08", "20191108250551021"] {
            let err = parse_snap_time(bad).unwrap_err().to_string();
            assert!(err.contains("17 digits"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn set_time_variants() {
        let base = dt(2020, 4, 9, 12, 1, 20, 0);
        assert_eq!(parse_set_time("2020-04-09 12:01:20.0").unwrap(), base);
        assert_eq!(parse_set_time("2020-04-09 12:01:20").unwrap(), base);
        assert_eq!(parse_set_time("2020-04-09 12:01:20.00").unwrap(), base);
        assert_eq!(parse_set_time("2020-04-09 12:01:20.4").unwrap(), dt(2020, 4, 9, 12, 1, 20, 400));
        assert_eq!(parse_set_time("2020-04-09 12:01:20.421").unwrap(), dt(2020, 4, 9, 12, 1, 20, 421));
        assert_eq!(parse_set_time(" 2020-04-09  12:01:20.0 ").unwrap(), base);
        assert_eq!(parse_set_time("2020 - 04 - 09 12 : 01 : 20 . 0").unwrap(), base);
        assert_eq!(parse_set_time("2020-4-9 12:1:20").unwrap(), base);
        assert_eq!(parse_set_time("2020-04-09T12:01:20.0").unwrap(), base);
        assert_eq!(
            parse_set_time("2020-04-09 12:01:20.123456789").unwrap(),
            NaiveDate::from_ymd_opt(2020, 4, 9).unwrap().and_hms_nano_opt(12, 1, 20, 123_456_789).unwrap()
        );
        for bad in [
            "",
            "2020-04-09",
            "2020-04-0912:01:20",
            "2020-02-30 12:00:00",
            "2020-04-09 24:00:00",
            "2020-04-09 12:60:00",
            "20-04-09 12:01:20",
            "2020-04-09 12:01:20.1234567890",
            "2020-04-09 12:01:20.",
            "2020-04-09 12-01-20",
            "2020-04-09 12:01:20 +8",
            "now",
        ] {
            let err = parse_set_time(bad).unwrap_err().to_string();
            assert!(err.contains("timeStamp"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn time_zone_forms() {
        for (text, hours) in [
            ("8", 8),
            ("+8", 8),
            ("08", 8),
            (" UTC+8 ", 8),
            ("utc+8", 8),
            ("GMT-5", -5),
            ("UTC+08:00", 8),
            ("UTC", 0),
            ("0", 0),
            ("-11", -11),
            ("+12", 12),
        ] {
            assert_eq!(parse_time_zone(text).unwrap(), hours, "{text:?}");
        }
        for bad in ["", "+", "13", "-12", "+5:30", "8h", "UTC+", "eight", "123"] {
            let err = parse_time_zone(bad).unwrap_err().to_string();
            assert!(err.contains("timeZone"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn time_zone_with_a_multibyte_character_is_rejected_not_a_panic() {
        // Found by fuzzing (field_parsers): slicing the first three bytes as a "UTC" prefix
        // panicked when they ended inside a character, and setDevInfo's timeZone comes from
        // the cloud.
        for bad in ["%\u{fffd}UTC+8", "U中", "时区8", "UT\u{e9}+8", "\u{e9}"] {
            let err = parse_time_zone(bad).unwrap_err().to_string();
            assert!(err.contains("timeZone"), "{bad:?}: {err}");
        }
        assert_eq!(parse_time_zone("utc+8").unwrap(), 8);
    }

    #[test]
    fn local_time_from_unix_ms() {
        // 1585903632011 ms is 2020-04-03 08:47:12.011 UTC.
        assert_eq!(local_time(1_585_903_632_011, 0).unwrap(), dt(2020, 4, 3, 8, 47, 12, 11));
        assert_eq!(local_time(1_585_903_632_011, 8).unwrap(), dt(2020, 4, 3, 16, 47, 12, 11));
        assert_eq!(local_time(1_585_903_632_011, -11).unwrap(), dt(2020, 4, 2, 21, 47, 12, 11));
        assert_eq!(pass_time_at(1_585_903_632_011, 8).unwrap(), "2020-04-03 16:47:12.011");
        assert_eq!(unix_ms(dt(2020, 4, 3, 16, 47, 12, 11), 8), 1_585_903_632_011);
        assert!(local_time(i64::MAX, 0).is_err());
    }
}
