//! Validity dates and weekly pass windows, as the cloud writes them.
//!
//! Rules chosen where the spec is silent (protocol.md §1.7.3, §1.7.4, §3.9.9, §3.9.19):
//! - A validity end date is **inclusive**: a person valid until `2029_08_09` passes all that day.
//! - A period's end minute is **inclusive**: `09_00` admits 09:00:00 to 09:00:59, so
//!   `00_00,23_59` covers the whole day. `24:00` / `24_00` is accepted as an end and means
//!   the same as `23:59`.
//! - A period that ends before it starts (overnight) is rejected: write it as two periods on
//!   two days.
//! - Spaces anywhere, and the full-width `，` `；` `：` the spec's examples use, are tolerated.

use chrono::{NaiveDate, NaiveTime, Timelike, Weekday};

/// The most periods the spec allows in one day.
const MAX_PERIODS_PER_DAY: usize = 5;

/// Weekday names, Monday first like `passTime1`..`passTime7`, for error messages.
const DAY_NAMES: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Parses a `validDateStart` / `validDateEnd` value: `2019_08_09` or `2019_8_9`.
///
/// Spaces are ignored and `-` or `/` are accepted in place of `_`. Returns `None` for anything
/// that is not a real calendar date. When used as an end date, the day itself is still valid.
pub fn parse_valid_date(text: &str) -> Option<NaiveDate> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut parts = cleaned.split(['_', '-', '/']);
    let year = number(parts.next()?, 4, 4)?;
    let month = number(parts.next()?, 1, 2)?;
    let day = number(parts.next()?, 1, 2)?;
    if parts.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// Parses an unsigned decimal of `min..=max` ASCII digits (no sign, unlike `str::parse`).
fn number(text: &str, min: usize, max: usize) -> Option<u32> {
    if text.len() < min || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// One pass period in minutes since midnight, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Period {
    start: u16,
    end: u16,
}

/// The periods of one day; no periods means the whole day (the spec's "empty = all day").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Day {
    periods: Vec<Period>,
}

impl Day {
    fn allows(&self, minute: u16) -> bool {
        self.periods.is_empty() || self.periods.iter().any(|p| p.start <= minute && minute <= p.end)
    }
}

/// A person's weekly pass windows (`passTime1`..`passTime7`, Monday first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonWindows {
    days: [Day; 7],
}

impl PersonWindows {
    /// Windows that admit every minute of every day.
    pub fn all_day() -> PersonWindows {
        PersonWindows::default()
    }

    /// Parses the seven `passTimeN` values: `HH_MM` times separated by `,`, alternating start
    /// and end, at most 5 periods a day; `""` is the whole day.
    ///
    /// The error names the field and the offending text, e.g.
    /// `passTime3 (Wednesday): "25_00" is not a time (HH_MM)`.
    pub fn parse(fields: &[String; 7]) -> Result<PersonWindows, String> {
        let mut windows = PersonWindows::default();
        for (index, field) in fields.iter().enumerate() {
            windows.days[index] =
                parse_person_day(field).map_err(|e| format!("passTime{} ({}): {e}", index + 1, DAY_NAMES[index]))?;
        }
        Ok(windows)
    }

    /// Whether `time` on `weekday` falls in one of the day's periods.
    pub fn allows(&self, weekday: Weekday, time: NaiveTime) -> bool {
        self.days[weekday.num_days_from_monday() as usize].allows(minute_of_day(time))
    }
}

/// The device-level weekly pass windows (`passTime` of setDevInfo).
///
/// Days are separated by `;` and read **Monday first**, like the per-person fields (the spec
/// does not say). How many `;`-separated fields are accepted:
/// - none (`""`): every day, all day (the device default);
/// - 1 (no `;`): the same periods every day;
/// - 7: Monday..Sunday, as the spec's rule ("6 `;` for 7 days") says;
/// - 8: the first 7 are Monday..Sunday and the 8th is ignored. This accepts a trailing `;`
///   and the spec's own table example `06:00-09:00,18:00-21:00;;;;;;;06:00-09:00,18:00-21:00`,
///   which has 7 `;`.
///
/// Any other count is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceWindows {
    days: [Day; 7],
}

impl DeviceWindows {
    /// Windows that admit every minute of every day (the device default).
    pub fn all_day() -> DeviceWindows {
        DeviceWindows::default()
    }

    /// Parses a device `passTime`: `HH:MM-HH:MM` periods separated by `,`, days separated by `;`.
    ///
    /// See the type's documentation for the day-count rule. The error names the day and the
    /// offending text.
    pub fn parse(text: &str) -> Result<DeviceWindows, String> {
        let cleaned = normalise(text);
        let mut windows = DeviceWindows::default();
        if cleaned.is_empty() {
            return Ok(windows);
        }
        let fields: Vec<&str> = cleaned.split(';').collect();
        match fields.len() {
            1 => {
                let day = parse_device_day(fields[0]).map_err(|e| format!("passTime: {e}"))?;
                windows.days = std::array::from_fn(|_| day.clone());
            }
            7 | 8 => {
                for (index, field) in fields.iter().take(7).enumerate() {
                    windows.days[index] = parse_device_day(field)
                        .map_err(|e| format!("passTime day {} ({}): {e}", index + 1, DAY_NAMES[index]))?;
                }
            }
            n => {
                return Err(format!(
                    "passTime has {n} days separated by ';'; expected 7 (Monday to Sunday) \
                     or 1 (the same every day)"
                ));
            }
        }
        Ok(windows)
    }

    /// Whether `time` on `weekday` falls in one of the day's periods.
    pub fn allows(&self, weekday: Weekday, time: NaiveTime) -> bool {
        self.days[weekday.num_days_from_monday() as usize].allows(minute_of_day(time))
    }
}

fn minute_of_day(time: NaiveTime) -> u16 {
    (time.hour() * 60 + time.minute()) as u16
}

/// Drops all whitespace and maps the full-width separators of the spec's examples to ASCII.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '，' => ',',
            '；' => ';',
            '：' => ':',
            other => other,
        })
        .collect()
}

/// One person day: `HH_MM,HH_MM,...` (start, end, start, end...).
fn parse_person_day(text: &str) -> Result<Day, String> {
    let cleaned = normalise(text);
    let times: Vec<&str> = cleaned.split(',').filter(|t| !t.is_empty()).collect();
    if times.len() % 2 != 0 {
        return Err(format!("\"{}\" has an odd number of times; each period needs a start and an end", text.trim()));
    }
    if times.len() > 2 * MAX_PERIODS_PER_DAY {
        return Err(format!(
            "\"{}\" has {} periods; at most {MAX_PERIODS_PER_DAY} are allowed",
            text.trim(),
            times.len() / 2
        ));
    }
    let mut day = Day::default();
    for pair in times.chunks(2) {
        day.periods.push(period(pair[0], pair[1], "HH_MM")?);
    }
    Ok(day)
}

/// One device day: `HH:MM-HH:MM,HH:MM-HH:MM,...`.
fn parse_device_day(text: &str) -> Result<Day, String> {
    let mut day = Day::default();
    for item in text.split(',').filter(|t| !t.is_empty()) {
        let (start, end) = item.split_once('-').ok_or_else(|| format!("\"{item}\" is not a period (HH:MM-HH:MM)"))?;
        day.periods.push(period(start, end, "HH:MM")?);
    }
    if day.periods.len() > MAX_PERIODS_PER_DAY {
        return Err(format!("\"{text}\" has {} periods; at most {MAX_PERIODS_PER_DAY} are allowed", day.periods.len()));
    }
    Ok(day)
}

fn period(start: &str, end: &str, form: &str) -> Result<Period, String> {
    let not_a_time = |t: &str| format!("\"{t}\" is not a time ({form})");
    let start_minute = clock(start).filter(|&m| m < 1440).ok_or_else(|| not_a_time(start))?;
    // 24:00 as an end is the end of the day, the same as 23:59 (end minutes are inclusive).
    let end_minute = clock(end).map(|m| m.min(1439)).ok_or_else(|| not_a_time(end))?;
    if end_minute < start_minute {
        return Err(format!("period {start}-{end} ends before it starts; split an overnight period over two days"));
    }
    Ok(Period { start: start_minute, end: end_minute })
}

/// `HH_MM` or `HH:MM` to minutes since midnight; `24:00` gives 1440.
fn clock(text: &str) -> Option<u16> {
    let (hour, minute) = text.split_once(['_', ':'])?;
    let hour = number(hour, 1, 2)?;
    let minute = number(minute, 1, 2)?;
    if minute > 59 || hour > 24 || (hour == 24 && minute != 0) {
        return None;
    }
    Some((hour * 60 + minute) as u16)
}
