//! The table of device parameters: each key with its default and the rule its values follow.

use super::super::time::parse_time_zone;

/// How a parameter's value is checked.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rule {
    /// "0" or "1".
    Flag,
    /// One of the listed codes.
    Codes(&'static [&'static str]),
    /// An unsigned integer in the range.
    Int(u32, u32),
    /// A temperature in °C with at most two decimals, in the range.
    Temperature(f64, f64),
    /// Free text of at most this many characters, no control characters.
    Text(usize),
    /// A password of at most this many printable ASCII characters, no spaces.
    Password(usize),
    /// `HH:MM-HH:MM`.
    Period,
    /// A standard UART rate.
    BaudRate,
    /// A zone offset, see [`parse_time_zone`].
    TimeZone,
    /// Device pass windows; only length and characters are checked here, the structure is
    /// `crate::access`'s.
    PassTime,
    /// A host name, IP address or URL of at most this many characters.
    Host(usize),
    /// Lower-case pinyin (ASCII letters) of at most this many characters.
    City(usize),
    /// An identifier without spaces of at most this many characters.
    Ident(usize),
}

impl Rule {
    /// True for rules whose `""` means "not set" rather than a value.
    pub(super) fn is_coded(self) -> bool {
        !matches!(
            self,
            Rule::Text(_) | Rule::Password(_) | Rule::PassTime | Rule::Host(_) | Rule::City(_) | Rule::Ident(_)
        )
    }
}

/// The standard baud rates: those `entranceSerialBaudRate` accepts, and a serial reader's `baud`
/// in a board profile.
pub const BAUD_RATES: [u32; 9] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400];

/// One row of the parameter table.
pub(super) struct Param {
    pub(super) key: &'static str,
    pub(super) default: &'static str,
    pub(super) rule: Rule,
}

const fn p(key: &'static str, default: &'static str, rule: Rule) -> Param {
    Param { key, default, rule }
}

const C01234: &[&str] = &["0", "1", "2", "3", "4"];

/// Every parameter of setDevInfo (uploadDevInfo's entries 1–72), in the spec's order.
pub(super) const PARAMS: [Param; 72] = [
    // Example "123456": a known factory password is worse than none; the cloud sets one.
    p("devicePassword", "", Rule::Password(16)),
    p("ntpEnable", "1", Rule::Flag),
    p("ntpCycle", "24", Rule::Int(0, 24)),
    p("ntpAddress", "ntp1.aliyun.com", Rule::Host(30)),
    p("enableIrLive", "0", Rule::Flag),
    p("irLiveLevel", "0", Rule::Codes(&["0", "1", "2", "3"])),
    p("recogDistance", "4", Rule::Codes(C01234)),
    p("recogIntervalTime", "3", Rule::Int(0, 99)),
    p("onlyRecogMaxSizeFaceEnable", "0", Rule::Flag),
    p("faceTemperatureDetectEnable", "0", Rule::Flag),
    // Example "35.3" would flag nearly everyone; the table's own example is 37.3.
    p("faceFeverTemperature", "37.3", Rule::Temperature(30.0, 45.0)),
    p("faceDetectBoxScore", "30", Rule::Int(0, 99)),
    p("faceDetectLandmardScore", "45", Rule::Int(0, 99)),
    p("faceRegisterConfidenceScore", "92", Rule::Int(0, 99)),
    p("faceCardConfidenceScore", "80", Rule::Int(0, 99)),
    p("strangerRecogEnable", "1", Rule::Flag),
    p("strangerVoiceTime", "0", Rule::Int(0, 99)),
    p("alarmVoiceEnable", "1", Rule::Flag),
    // Example "0" (no image): records would carry no photo at all; a small face image is the
    // useful default for an access log.
    p("jpegEncodeSizeMode", "1", Rule::Codes(&["0", "1", "2"])),
    p("startWdr1", "0", Rule::Flag),
    p("startWdr2", "0", Rule::Flag),
    p("wdrTimeSet1", "00:00-00:00", Rule::Period),
    p("wdrTimeSet2", "00:00-00:00", Rule::Period),
    // Inverted flag; example "1" would ship a mute terminal.
    p("playVoiceEnable", "0", Rule::Flag),
    p("registerVoiceMode", "0", Rule::Codes(C01234)),
    p("registerVoiceNameSexEnable", "0", Rule::Flag),
    p("registerVoiceContentBeforeName", "", Rule::Text(30)),
    p("registerVoiceContent", "", Rule::Text(30)),
    p("strangerVoiceMode", "0", Rule::Flag),
    p("strangerVoiceContent", "", Rule::Text(30)),
    p("displayTextMode", "0", Rule::Codes(C01234)),
    p("displayNameSexEnable", "0", Rule::Flag),
    p("displayTextContentBeforeName", "", Rule::Text(30)),
    // Example "{}" is an artefact, not a text.
    p("displayTextContent", "", Rule::Text(30)),
    // Example "": the same text as its display counterpart below.
    p("alarmNotInPassTimeContent", "不在通行时间", Rule::Text(30)),
    p("identificationVoiceSuccessContent", "", Rule::Text(30)),
    p("identificationVoiceFailedContent", "", Rule::Text(30)),
    p("identificationDisplayTextSuccessContent", "", Rule::Text(30)),
    p("identificationDisplayTextFailedContent", "", Rule::Text(30)),
    // Example "shenzhen": a weather city is the installer's to set.
    p("installCity", "", Rule::City(16)),
    // Example "1": barely audible; mid volume.
    p("voiceVolume", "5", Rule::Int(0, 10)),
    p("objectId", "", Rule::Ident(20)),
    // Example "1" (entrance): the honest default is "unknown" until the installer says.
    p("entranceDirection", "0", Rule::Codes(&["0", "1", "2"])),
    p("entranceSerialBaudRate", "9600", Rule::BaudRate),
    p("entranceSerialInMode", "0", Rule::Codes(&["0", "1", "2", "3", "4", "5"])),
    p("entranceSerialOutMode", "0", Rule::Codes(&["0", "1", "2"])),
    // Not in the example; the terminal has a Wiegand card input, so it reads card numbers.
    p("entranceWgInMode", "1", Rule::Codes(&["0", "1"])),
    p("isDisplayIrImage", "0", Rule::Flag),
    p("entranceWgOutMode", "0", Rule::Codes(&["0", "1", "2"])),
    p("autoOpenDoorEnable", "1", Rule::Flag),
    // Example "500"; the table's meaning column says 1000 = 1 s.
    p("openDoorTimeDelayMs", "1000", Rule::Int(1, 60000)),
    p("overlayDeviceName", "", Rule::Text(30)),
    p("banner", "", Rule::Text(256)),
    p("mainWindowUiEnable", "1", Rule::Flag),
    p("screenSaverMode", "0", Rule::Flag),
    p("mainUiLogoMode", "0", Rule::Flag),
    p("faceCardVisitorEnable", "0", Rule::Flag),
    // Not in the example; records are never dropped, so re-sending is on.
    p("cloudOfflineRetransmission", "1", Rule::Flag),
    // Not in the example; the spec's market is China Standard Time.
    p("timeZone", "8", Rule::TimeZone),
    p("faceBeauty", "0", Rule::Flag),
    p("safetyHatDetectEnable", "0", Rule::Flag),
    // The spec's stated default (the example says "1").
    p("faceRFIDCardEnable", "0", Rule::Flag),
    // The spec: unfilled = valid all day (the example restricts every day to two windows).
    p("passTime", "", Rule::PassTime),
    p("alwaysOpenDoor", "0", Rule::Flag),
    p("autoDeleteNotValidRecord", "0", Rule::Flag),
    p("strangerDisplayContent", "陌生人", Rule::Text(30)),
    p("alarmDisplayEnable", "1", Rule::Flag),
    p("alarmNotInPassTimeDisplayContent", "不在通行时间", Rule::Text(30)),
    p("alarmNotInValidTimeVoiceContent", "已过期", Rule::Text(30)),
    p("alarmNotInValidTimeDisplayContent", "已过期", Rule::Text(30)),
    p("alarmNotAuthVoiceContent", "无记录", Rule::Text(30)),
    p("alarmNotAuthDisplayContent", "无记录", Rule::Text(30)),
];

pub(super) fn param(key: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.key == key)
}

/// Checks one value against a rule; the error says what is allowed.
pub(super) fn check(rule: Rule, value: &str) -> Result<(), String> {
    let v = value.trim();
    let chars = value.chars().count();
    match rule {
        Rule::Flag => match v {
            "0" | "1" => Ok(()),
            _ => Err("must be 0 or 1".to_string()),
        },
        Rule::Codes(codes) => {
            if codes.contains(&v) {
                Ok(())
            } else {
                Err(format!("must be one of {}", codes.join(", ")))
            }
        }
        Rule::Int(min, max) => match parse_uint(v) {
            Some(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(format!("must be a whole number from {min} to {max}")),
        },
        Rule::Temperature(min, max) => {
            let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
            let digits_ok = !whole.is_empty()
                && whole.len() <= 2
                && whole.bytes().all(|b| b.is_ascii_digit())
                && frac.len() <= 2
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(v.contains('.') && frac.is_empty());
            match v.parse::<f64>() {
                Ok(t) if digits_ok && (min..=max).contains(&t) => Ok(()),
                _ => {
                    Err(format!("must be a temperature from {min:.1} to {max:.1} with at most two decimals, e.g. 37.3"))
                }
            }
        }
        Rule::Text(max) => {
            if chars > max {
                Err(format!("is {chars} characters long, at most {max} are allowed"))
            } else if value.chars().any(char::is_control) {
                Err("must not contain control characters such as line breaks".to_string())
            } else {
                Ok(())
            }
        }
        Rule::Password(max) => {
            if chars > max {
                Err(format!("is {chars} characters long, at most {max} are allowed"))
            } else if !value.bytes().all(|b| b.is_ascii_graphic()) {
                Err("must be digits, letters and symbols only (printable ASCII, no spaces)".to_string())
            } else {
                Ok(())
            }
        }
        Rule::Period => {
            if is_period(v) {
                Ok(())
            } else {
                Err("must be a period HH:MM-HH:MM, e.g. 21:00-23:30".to_string())
            }
        }
        Rule::BaudRate => match parse_uint(v) {
            Some(n) if BAUD_RATES.contains(&n) => Ok(()),
            _ => Err(format!("is not a standard baud rate ({})", BAUD_RATES.map(|b| b.to_string()).join(", "))),
        },
        Rule::TimeZone => parse_time_zone(v)
            .map(|_| ())
            .map_err(|_| "must be a whole-hour offset from -11 to +12, e.g. 8, +8 or UTC+8".to_string()),
        Rule::PassTime => {
            if chars > 512 {
                Err(format!("is {chars} characters long, at most 512 are allowed"))
            } else if !value.chars().all(|c| c.is_ascii_digit() || ":-,; ".contains(c)) {
                Err("must be periods like 06:00-09:00 separated by , within a day and ; between days".to_string())
            } else {
                Ok(())
            }
        }
        Rule::Host(max) => {
            if chars > max {
                Err(format!("is {chars} characters long, at most {max} are allowed"))
            } else if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:/_[]".contains(&b)) {
                Err("must be a host name or IP address, e.g. ntp1.aliyun.com".to_string())
            } else {
                Ok(())
            }
        }
        Rule::City(max) => {
            if chars > max {
                Err(format!("is {chars} characters long, at most {max} are allowed"))
            } else if !v.bytes().all(|b| b.is_ascii_alphabetic()) {
                Err("must be the city's pinyin in letters only, e.g. shenzhen".to_string())
            } else {
                Ok(())
            }
        }
        Rule::Ident(max) => {
            if chars > max {
                Err(format!("is {chars} characters long, at most {max} are allowed"))
            } else if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err("must not contain spaces or control characters".to_string())
            } else {
                Ok(())
            }
        }
    }
}

/// Digits only (no sign), at most 9 of them.
pub(super) fn parse_uint(v: &str) -> Option<u32> {
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn is_period(v: &str) -> bool {
    let hm = |t: &str| {
        let b = t.as_bytes();
        b.len() == 5
            && b[2] == b':'
            && t[..2].bytes().chain(t[3..].bytes()).all(|c| c.is_ascii_digit())
            && t[..2].parse::<u32>().is_ok_and(|h| h < 24)
            && t[3..].parse::<u32>().is_ok_and(|m| m < 60)
    };
    match v.split_once('-') {
        Some((start, end)) => hm(start) && hm(end),
        None => false,
    }
}

/// The form a valid value is kept in: texts and passwords exactly as sent (their spaces can be
/// meant), everything else without surrounding spaces.
pub(super) fn stored_form(rule: Rule, value: &str) -> String {
    match rule {
        Rule::Text(_) | Rule::Password(_) => value.to_string(),
        _ => value.trim().to_string(),
    }
}
