//! Device parameters of setDevInfo / uploadDevInfo (spec 2.1.6/2.1.7, protocol.md §2.6/§2.7):
//! one table of key, default and validation, and [`DeviceParams`] built on it.
//!
//! Defaults: the spec states only two (`faceRFIDCardEnable` 0, and `passTime` empty = all day
//! valid). Every other default is the value of the spec's uploadDevInfo example, which reads as
//! a real device's factory state, except where that value is junk or would make a new terminal
//! misbehave; each such exception is commented in the table.
//!
//! Where the spec's own setDevInfo example breaks its table (protocol.md §3.9.8), the choice is:
//! - `openDoorTimeDelayMs` "10000" (5 digits, length column 4): accepted. The meaning column
//!   is a relay hold time in ms; nothing in it caps the time at 9.999 s, and 10 s is a normal
//!   hold for a barrier. Accepted range 1..=60000 ms.
//! - `faceFeverTemperature` "37.30" (5 characters, length 4): accepted. It is a temperature;
//!   any of 30.0..=45.0 °C with up to two decimals is accepted.
//! - `entranceSerialBaudRate` "96000": rejected. The listed rates are the standard UART rates,
//!   and 96000 is almost certainly a typo for 9600; configuring the RS485 port to a rate nothing
//!   talks would fail silently, while rejecting names the key to the cloud. Accepted: 1200,
//!   2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400.
//! - `ntpAddress` `"http://www.baidu.com"` (a URL, not an NTP host): accepted;
//!   [`DeviceParams::ntp_server`] strips a scheme and path.
//!
//! Empty values: for a coded parameter (flags, modes, numbers, times) `""` is no valid value;
//! it is read as "not set" and leaves the parameter unchanged, as an absent key would. For
//! texts `""` is a real value (no text).

use std::collections::BTreeMap;
use std::fmt;

use super::time::parse_time_zone;

/// How a parameter's value is checked.
#[derive(Debug, Clone, Copy)]
enum Rule {
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
    fn is_coded(self) -> bool {
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
struct Param {
    key: &'static str,
    default: &'static str,
    rule: Rule,
}

const fn p(key: &'static str, default: &'static str, rule: Rule) -> Param {
    Param { key, default, rule }
}

const C01234: &[&str] = &["0", "1", "2", "3", "4"];

/// Every parameter of setDevInfo (uploadDevInfo's entries 1–72), in the spec's order.
const PARAMS: [Param; 72] = [
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

fn param(key: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.key == key)
}

/// Checks one value against a rule; the error says what is allowed.
fn check(rule: Rule, value: &str) -> Result<(), String> {
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
fn parse_uint(v: &str) -> Option<u32> {
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

/// The invalid values of a rejected parameter set: each bad key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamErrors {
    /// (key, problem) pairs in key order.
    pub errors: Vec<(String, String)>,
}

impl ParamErrors {
    /// The rejected keys.
    pub fn keys(&self) -> Vec<&str> {
        self.errors.iter().map(|(k, _)| k.as_str()).collect()
    }
}

impl fmt::Display for ParamErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device parameters rejected, nothing was changed: ")?;
        for (i, (key, why)) in self.errors.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{key} {why}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParamErrors {}

impl From<ParamErrors> for crate::Error {
    fn from(e: ParamErrors) -> crate::Error {
        crate::Error::Protocol(e.to_string())
    }
}

/// The outcome of an accepted [`DeviceParams::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The new parameter set.
    pub params: DeviceParams,
    /// Keys whose value changed.
    pub changed: Vec<String>,
    /// Keys that are not device parameters (ignored; worth a log line).
    pub unknown: Vec<String>,
    /// Coded parameters sent as "" (read as "not set", left unchanged).
    pub blank: Vec<String>,
}

/// What uploadDevInfo reports besides the parameters: identity, cloud and network settings
/// (uploadDevInfo's entries 73–89 and its header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// `deviceNo`, also sent as `deviceNumber`.
    pub device_no: String,
    /// Interface `version`.
    pub version: String,
    /// `cloudPushMode`: "0" HTTP (what facegate speaks), "1" TCP, "2" MQTT, "3" WebSocket, "9" none.
    pub cloud_push_mode: String,
    /// `httpMsgUrl`: the cloud base URL.
    pub http_msg_url: String,
    /// `mqttMsgUrl`.
    pub mqtt_msg_url: String,
    /// `tcpMsgUrl`.
    pub tcp_msg_url: String,
    /// `websocketMsgUrl`.
    pub websocket_msg_url: String,
    /// `loginName`: the device's cloud login.
    pub login_name: String,
    /// `loginKey`: the device's cloud key (secret).
    pub login_key: String,
    /// `wiredDhcpEnable`: "1" DHCP, "0" static.
    pub wired_dhcp_enable: String,
    /// `wiredIpAddr`.
    pub wired_ip_addr: String,
    /// `wiredNetmask`.
    pub wired_netmask: String,
    /// `wiredGateway`.
    pub wired_gateway: String,
    /// `wiredDnsServer`.
    pub wired_dns_server: String,
    /// `apEnable`: Wi-Fi hotspot mode.
    pub ap_enable: String,
    /// `wirelessDhcpEnable`.
    pub wireless_dhcp_enable: String,
    /// `wirelessSsid`.
    pub wireless_ssid: String,
    /// `wirelessPassword` (secret).
    pub wireless_password: String,
}

impl DeviceIdentity {
    /// An identity speaking HTTP to `http_msg_url`, wired DHCP, no Wi-Fi.
    pub fn new(device_no: &str, version: &str, http_msg_url: &str) -> DeviceIdentity {
        DeviceIdentity {
            device_no: device_no.to_string(),
            version: version.to_string(),
            cloud_push_mode: "0".to_string(),
            http_msg_url: http_msg_url.to_string(),
            mqtt_msg_url: String::new(),
            tcp_msg_url: String::new(),
            websocket_msg_url: String::new(),
            login_name: String::new(),
            login_key: String::new(),
            wired_dhcp_enable: "1".to_string(),
            wired_ip_addr: String::new(),
            wired_netmask: String::new(),
            wired_gateway: String::new(),
            wired_dns_server: String::new(),
            ap_enable: "0".to_string(),
            wireless_dhcp_enable: "1".to_string(),
            wireless_ssid: String::new(),
            wireless_password: String::new(),
        }
    }
}

/// Where the gate faces (`entranceDirection`, sent as a record's `inOutMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntranceDirection {
    /// 0.
    Unknown,
    /// 1.
    Entrance,
    /// 2.
    Exit,
}

/// What the Wiegand input carries (`entranceWgInMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WiegandInMode {
    /// 0: ignored.
    Off,
    /// 1: IC card numbers.
    CardNumber,
}

/// What the Wiegand output sends (`entranceWgOutMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WiegandOutMode {
    /// 0: nothing.
    Off,
    /// 1: the card number of a passing person.
    CardNumber,
    /// 2: the measured temperature.
    Temperature,
}

/// What the RS485 input carries (`entranceSerialInMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialInMode {
    /// 0: ignored.
    Off,
    /// 1: V1 temperature module.
    TemperatureV1,
    /// 2: V2 temperature module.
    TemperatureV2,
    /// 3: the standard protocol (card readers).
    Standard,
    /// 4: raw data passed through to the cloud (snapType 12).
    PassThrough,
    /// 5: V3 temperature module.
    TemperatureV3,
}

/// What the RS485 output sends (`entranceSerialOutMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialOutMode {
    /// 0: nothing.
    Off,
    /// 1: the standard protocol.
    Standard,
    /// 2: data passed through from the cloud (broadcast `rs485Data`).
    PassThrough,
}

/// Which image a record carries (`jpegEncodeSizeMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// 0: no image.
    NoImage,
    /// 1: the cropped face.
    SmallFace,
    /// 2: the full frame.
    FullImage,
}

/// The device parameters: every key of the table, always valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceParams {
    values: BTreeMap<String, String>,
}

impl Default for DeviceParams {
    fn default() -> DeviceParams {
        DeviceParams::defaults()
    }
}

impl DeviceParams {
    /// Every parameter at its default.
    pub fn defaults() -> DeviceParams {
        DeviceParams { values: PARAMS.iter().map(|p| (p.key.to_string(), p.default.to_string())).collect() }
    }

    /// Parameters as stored: unknown keys are ignored, missing or invalid ones (e.g. left by an
    /// older version with other rules) take their default.
    pub fn from_stored(stored: &BTreeMap<String, String>) -> DeviceParams {
        let mut params = DeviceParams::defaults();
        for p in &PARAMS {
            if let Some(v) = stored.get(p.key) {
                if check(p.rule, v).is_ok() && !(p.rule.is_coded() && v.trim().is_empty()) {
                    params.values.insert(p.key.to_string(), stored_form(p.rule, v));
                }
            }
        }
        params
    }

    /// Applies a set of changes all-or-nothing: if any value is invalid, nothing changes and
    /// every bad key is named with the reason. Unknown keys are ignored and listed.
    pub fn apply(&self, changes: &BTreeMap<String, String>) -> Result<Applied, ParamErrors> {
        let mut next = self.clone();
        let mut errors = Vec::new();
        let mut changed = Vec::new();
        let mut unknown = Vec::new();
        let mut blank = Vec::new();
        for (key, value) in changes {
            let Some(p) = param(key) else {
                unknown.push(key.clone());
                continue;
            };
            if p.rule.is_coded() && value.trim().is_empty() {
                blank.push(key.clone());
                continue;
            }
            match check(p.rule, value) {
                Ok(()) => {
                    let value = stored_form(p.rule, value);
                    if self.get(key) != value {
                        changed.push(key.clone());
                    }
                    next.values.insert(key.clone(), value);
                }
                // A secret's rejected value is not repeated: the error is logged and sent back.
                Err(why) if DeviceParams::is_secret(key) => errors.push((key.clone(), format!("(hidden) {why}"))),
                Err(why) => errors.push((key.clone(), format!("\"{value}\" {why}"))),
            }
        }
        if errors.is_empty() {
            Ok(Applied { params: next, changed, unknown, blank })
        } else {
            Err(ParamErrors { errors })
        }
    }

    /// Checks one value for a parameter without applying it; `Err` says why, also for a key
    /// that is not a device parameter.
    pub fn validate(key: &str, value: &str) -> Result<(), String> {
        match param(key) {
            Some(p) => check(p.rule, value),
            None => Err("is not a device parameter".to_string()),
        }
    }

    /// Every parameter key, in the spec's order.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        PARAMS.iter().map(|p| p.key)
    }

    /// A parameter's value; "" for a key that is not a device parameter.
    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }

    /// Every parameter by key, e.g. to store them.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// Every parameter by key with secrets replaced by "***", for logs.
    pub fn for_log(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(k, v)| {
                let v = if DeviceParams::is_secret(k) && !v.is_empty() { "***".to_string() } else { v.clone() };
                (k.clone(), v)
            })
            .collect()
    }

    /// True for keys whose value must not be logged: passwords and keys (`devicePassword`,
    /// `wirelessPassword`, `loginKey`, `deviceKey`, a person's `password`, ...).
    pub fn is_secret(key: &str) -> bool {
        let k = key.to_ascii_lowercase();
        k.contains("password") || k.contains("secret") || (k.ends_with("key") && k != "updatekey")
    }

    /// Every field of `uploadDevInfo`: header, the 72 parameters and the identity fields.
    pub fn to_upload(&self, identity: &DeviceIdentity) -> BTreeMap<String, String> {
        let mut out = self.values.clone();
        let id = identity;
        for (k, v) in [
            ("msgType", "uploadDevInfo"),
            ("deviceNo", &id.device_no),
            ("version", &id.version),
            ("cloudPushMode", &id.cloud_push_mode),
            ("httpMsgUrl", &id.http_msg_url),
            ("mqttMsgUrl", &id.mqtt_msg_url),
            ("tcpMsgUrl", &id.tcp_msg_url),
            ("websocketMsgUrl", &id.websocket_msg_url),
            ("deviceNumber", &id.device_no),
            ("loginName", &id.login_name),
            ("loginKey", &id.login_key),
            ("wiredDhcpEnable", &id.wired_dhcp_enable),
            ("wiredIpAddr", &id.wired_ip_addr),
            ("wiredNetmask", &id.wired_netmask),
            ("wiredGateway", &id.wired_gateway),
            ("wiredDnsServer", &id.wired_dns_server),
            ("apEnable", &id.ap_enable),
            ("wirelessDhcpEnable", &id.wireless_dhcp_enable),
            ("wirelessSsid", &id.wireless_ssid),
            ("wirelessPassword", &id.wireless_password),
        ] {
            out.insert(k.to_string(), v.to_string());
        }
        out
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key) == "1"
    }

    fn uint(&self, key: &str) -> u32 {
        parse_uint(self.get(key)).or_else(|| param(key).and_then(|p| parse_uint(p.default))).unwrap_or(0)
    }

    /// `openDoorTimeDelayMs`: how long the relay holds the door open, in ms.
    pub fn open_door_time_delay_ms(&self) -> u32 {
        self.uint("openDoorTimeDelayMs")
    }

    /// `alwaysOpenDoor`: open whenever a person is detected.
    pub fn always_open_door(&self) -> bool {
        self.flag("alwaysOpenDoor")
    }

    /// `autoOpenDoorEnable`: the device opens by itself on a successful recognition.
    pub fn auto_open_door_enable(&self) -> bool {
        self.flag("autoOpenDoorEnable")
    }

    /// `faceRFIDCardEnable`: true = face or card alone opens; false = face authentication.
    pub fn face_rfid_card_enable(&self) -> bool {
        self.flag("faceRFIDCardEnable")
    }

    /// `recogIntervalTime`: seconds before the same person is recognised again.
    pub fn recog_interval_time_s(&self) -> u32 {
        self.uint("recogIntervalTime")
    }

    /// The device-level `passTime` as stored (parsed by `crate::access`); "" is all day.
    pub fn pass_time(&self) -> &str {
        self.get("passTime")
    }

    /// `entranceDirection`.
    pub fn entrance_direction(&self) -> EntranceDirection {
        match self.get("entranceDirection") {
            "1" => EntranceDirection::Entrance,
            "2" => EntranceDirection::Exit,
            _ => EntranceDirection::Unknown,
        }
    }

    /// `entranceDirection` as a record's `inOutMode` code ("0", "1", "2").
    pub fn in_out_mode(&self) -> &str {
        match self.entrance_direction() {
            EntranceDirection::Unknown => "0",
            EntranceDirection::Entrance => "1",
            EntranceDirection::Exit => "2",
        }
    }

    /// `entranceWgInMode`.
    pub fn entrance_wg_in_mode(&self) -> WiegandInMode {
        match self.get("entranceWgInMode") {
            "1" => WiegandInMode::CardNumber,
            _ => WiegandInMode::Off,
        }
    }

    /// `entranceWgOutMode`.
    pub fn entrance_wg_out_mode(&self) -> WiegandOutMode {
        match self.get("entranceWgOutMode") {
            "1" => WiegandOutMode::CardNumber,
            "2" => WiegandOutMode::Temperature,
            _ => WiegandOutMode::Off,
        }
    }

    /// `entranceSerialBaudRate`, bits per second.
    pub fn entrance_serial_baud_rate(&self) -> u32 {
        self.uint("entranceSerialBaudRate")
    }

    /// `entranceSerialInMode`.
    pub fn entrance_serial_in_mode(&self) -> SerialInMode {
        match self.get("entranceSerialInMode") {
            "1" => SerialInMode::TemperatureV1,
            "2" => SerialInMode::TemperatureV2,
            "3" => SerialInMode::Standard,
            "4" => SerialInMode::PassThrough,
            "5" => SerialInMode::TemperatureV3,
            _ => SerialInMode::Off,
        }
    }

    /// `entranceSerialOutMode`.
    pub fn entrance_serial_out_mode(&self) -> SerialOutMode {
        match self.get("entranceSerialOutMode") {
            "1" => SerialOutMode::Standard,
            "2" => SerialOutMode::PassThrough,
            _ => SerialOutMode::Off,
        }
    }

    /// `jpegEncodeSizeMode`: which image records carry.
    pub fn jpeg_encode_size_mode(&self) -> SnapshotMode {
        match self.get("jpegEncodeSizeMode") {
            "0" => SnapshotMode::NoImage,
            "2" => SnapshotMode::FullImage,
            _ => SnapshotMode::SmallFace,
        }
    }

    /// `cloudOfflineRetransmission`: re-send records kept while the cloud was unreachable.
    pub fn cloud_offline_retransmission(&self) -> bool {
        self.flag("cloudOfflineRetransmission")
    }

    /// `timeZone` in hours east of UTC.
    pub fn time_zone_hours(&self) -> i32 {
        parse_time_zone(self.get("timeZone")).unwrap_or(8)
    }

    /// Whether voice announcements are on; `playVoiceEnable` is inverted (0 = voice on).
    pub fn play_voice_enabled(&self) -> bool {
        self.get("playVoiceEnable") != "1"
    }

    /// `voiceVolume`, 0 (mute) to 10.
    pub fn voice_volume(&self) -> u32 {
        self.uint("voiceVolume")
    }

    /// `alarmVoiceEnable`: announce refusals (outside pass time, expired, not authorised).
    pub fn alarm_voice_enable(&self) -> bool {
        self.flag("alarmVoiceEnable")
    }

    /// `alarmDisplayEnable`: display refusals.
    pub fn alarm_display_enable(&self) -> bool {
        self.flag("alarmDisplayEnable")
    }

    /// `strangerRecogEnable`: treat unmatched faces as strangers (records with snapType 3).
    pub fn stranger_recog_enable(&self) -> bool {
        self.flag("strangerRecogEnable")
    }

    /// `strangerVoiceMode` 1: announce [`DeviceParams::stranger_voice_content`] instead of the
    /// default stranger prompt.
    pub fn stranger_voice_custom(&self) -> bool {
        self.flag("strangerVoiceMode")
    }

    /// `strangerVoiceTime`, seconds (the spec does not explain it further).
    pub fn stranger_voice_time_s(&self) -> u32 {
        self.uint("strangerVoiceTime")
    }

    /// `strangerVoiceContent`.
    pub fn stranger_voice_content(&self) -> &str {
        self.get("strangerVoiceContent")
    }

    /// `strangerDisplayContent`.
    pub fn stranger_display_content(&self) -> &str {
        self.get("strangerDisplayContent")
    }

    /// `registerVoiceMode`, 0..=4 (see the spec's table).
    pub fn register_voice_mode(&self) -> u32 {
        self.uint("registerVoiceMode")
    }

    /// `displayTextMode`, 0..=4.
    pub fn display_text_mode(&self) -> u32 {
        self.uint("displayTextMode")
    }

    /// `registerVoiceContentBeforeName`: spoken before a registered person's name.
    pub fn register_voice_before_name(&self) -> &str {
        self.get("registerVoiceContentBeforeName")
    }

    /// `registerVoiceContent`: spoken after a registered person's name.
    pub fn register_voice_after_name(&self) -> &str {
        self.get("registerVoiceContent")
    }

    /// `displayTextContentBeforeName`.
    pub fn display_text_before_name(&self) -> &str {
        self.get("displayTextContentBeforeName")
    }

    /// `displayTextContent`: displayed after the name.
    pub fn display_text_after_name(&self) -> &str {
        self.get("displayTextContent")
    }

    /// `alarmNotInPassTimeContent`: spoken outside the pass windows.
    pub fn not_in_pass_time_voice(&self) -> &str {
        self.get("alarmNotInPassTimeContent")
    }

    /// `alarmNotInPassTimeDisplayContent`.
    pub fn not_in_pass_time_display(&self) -> &str {
        self.get("alarmNotInPassTimeDisplayContent")
    }

    /// `alarmNotInValidTimeVoiceContent`: spoken when the person's validity has expired.
    pub fn not_in_valid_time_voice(&self) -> &str {
        self.get("alarmNotInValidTimeVoiceContent")
    }

    /// `alarmNotInValidTimeDisplayContent`.
    pub fn not_in_valid_time_display(&self) -> &str {
        self.get("alarmNotInValidTimeDisplayContent")
    }

    /// `alarmNotAuthVoiceContent`: spoken when the person is not authorised.
    pub fn not_auth_voice(&self) -> &str {
        self.get("alarmNotAuthVoiceContent")
    }

    /// `alarmNotAuthDisplayContent`.
    pub fn not_auth_display(&self) -> &str {
        self.get("alarmNotAuthDisplayContent")
    }

    /// `overlayDeviceName`: the name shown on screen.
    pub fn device_name(&self) -> &str {
        self.get("overlayDeviceName")
    }

    /// `ntpEnable`.
    pub fn ntp_enable(&self) -> bool {
        self.flag("ntpEnable")
    }

    /// The NTP host from `ntpAddress`, with a scheme (`http://`) and a path removed, since the
    /// spec's own example sends a URL.
    pub fn ntp_server(&self) -> &str {
        let a = self.get("ntpAddress");
        let a = a.split_once("://").map_or(a, |(_, rest)| rest);
        a.split('/').next().unwrap_or("")
    }

    /// `autoDeleteNotValidRecord`.
    pub fn auto_delete_not_valid_record(&self) -> bool {
        self.flag("autoDeleteNotValidRecord")
    }
}

/// The form a valid value is kept in: texts and passwords exactly as sent (their spaces can be
/// meant), everything else without surrounding spaces.
fn stored_form(rule: Rule, value: &str) -> String {
    match rule {
        Rule::Text(_) | Rule::Password(_) => value.to_string(),
        _ => value.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The setDevInfo table's keys as printed in protocol.md §2.6, in order.
    const TABLE: [&str; 72] = [
        "devicePassword",
        "ntpEnable",
        "ntpCycle",
        "ntpAddress",
        "enableIrLive",
        "irLiveLevel",
        "recogDistance",
        "recogIntervalTime",
        "onlyRecogMaxSizeFaceEnable",
        "faceTemperatureDetectEnable",
        "faceFeverTemperature",
        "faceDetectBoxScore",
        "faceDetectLandmardScore",
        "faceRegisterConfidenceScore",
        "faceCardConfidenceScore",
        "strangerRecogEnable",
        "strangerVoiceTime",
        "alarmVoiceEnable",
        "jpegEncodeSizeMode",
        "startWdr1",
        "startWdr2",
        "wdrTimeSet1",
        "wdrTimeSet2",
        "playVoiceEnable",
        "registerVoiceMode",
        "registerVoiceNameSexEnable",
        "registerVoiceContentBeforeName",
        "registerVoiceContent",
        "strangerVoiceMode",
        "strangerVoiceContent",
        "displayTextMode",
        "displayNameSexEnable",
        "displayTextContentBeforeName",
        "displayTextContent",
        "alarmNotInPassTimeContent",
        "identificationVoiceSuccessContent",
        "identificationVoiceFailedContent",
        "identificationDisplayTextSuccessContent",
        "identificationDisplayTextFailedContent",
        "installCity",
        "voiceVolume",
        "objectId",
        "entranceDirection",
        "entranceSerialBaudRate",
        "entranceSerialInMode",
        "entranceSerialOutMode",
        "entranceWgInMode",
        "isDisplayIrImage",
        "entranceWgOutMode",
        "autoOpenDoorEnable",
        "openDoorTimeDelayMs",
        "overlayDeviceName",
        "banner",
        "mainWindowUiEnable",
        "screenSaverMode",
        "mainUiLogoMode",
        "faceCardVisitorEnable",
        "cloudOfflineRetransmission",
        "timeZone",
        "faceBeauty",
        "safetyHatDetectEnable",
        "faceRFIDCardEnable",
        "passTime",
        "alwaysOpenDoor",
        "autoDeleteNotValidRecord",
        "strangerDisplayContent",
        "alarmDisplayEnable",
        "alarmNotInPassTimeDisplayContent",
        "alarmNotInValidTimeVoiceContent",
        "alarmNotInValidTimeDisplayContent",
        "alarmNotAuthVoiceContent",
        "alarmNotAuthDisplayContent",
    ];

    /// uploadDevInfo's entries 73–89.
    const UPLOAD_ONLY: [&str; 17] = [
        "cloudPushMode",
        "httpMsgUrl",
        "mqttMsgUrl",
        "tcpMsgUrl",
        "websocketMsgUrl",
        "deviceNumber",
        "loginName",
        "loginKey",
        "wiredDhcpEnable",
        "wiredIpAddr",
        "wiredNetmask",
        "wiredGateway",
        "wiredDnsServer",
        "apEnable",
        "wirelessDhcpEnable",
        "wirelessSsid",
        "wirelessPassword",
    ];

    fn changes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn rejects(key: &str, value: &str) -> String {
        let err = DeviceParams::defaults().apply(&changes(&[(key, value)])).unwrap_err();
        assert_eq!(err.keys(), [key], "{key}={value:?}");
        err.errors[0].1.clone()
    }

    fn accepts(key: &str, value: &str) -> DeviceParams {
        let applied = DeviceParams::defaults()
            .apply(&changes(&[(key, value)]))
            .unwrap_or_else(|e| panic!("{key}={value:?} rejected: {e}"));
        applied.params
    }

    #[test]
    fn table_matches_the_spec_and_defaults_are_valid() {
        assert_eq!(DeviceParams::keys().collect::<Vec<_>>(), TABLE);
        let defaults = DeviceParams::defaults();
        assert_eq!(defaults.as_map().len(), 72);
        for p in &PARAMS {
            assert_eq!(DeviceParams::validate(p.key, p.default), Ok(()), "default of {}", p.key);
        }
        assert_eq!(DeviceParams::from_stored(&BTreeMap::new()), defaults);
        assert_eq!(DeviceParams::from_stored(defaults.as_map()), defaults);
        // The spec's own defaults.
        assert_eq!(defaults.get("faceRFIDCardEnable"), "0");
        assert!(!defaults.face_rfid_card_enable());
        assert_eq!(defaults.pass_time(), "");
    }

    #[test]
    fn typed_getters_on_defaults() {
        let d = DeviceParams::defaults();
        assert_eq!(d.open_door_time_delay_ms(), 1000);
        assert!(!d.always_open_door());
        assert!(d.auto_open_door_enable());
        assert_eq!(d.recog_interval_time_s(), 3);
        assert_eq!(d.entrance_direction(), EntranceDirection::Unknown);
        assert_eq!(d.in_out_mode(), "0");
        assert_eq!(d.entrance_wg_in_mode(), WiegandInMode::CardNumber);
        assert_eq!(d.entrance_wg_out_mode(), WiegandOutMode::Off);
        assert_eq!(d.entrance_serial_baud_rate(), 9600);
        assert_eq!(d.entrance_serial_in_mode(), SerialInMode::Off);
        assert_eq!(d.entrance_serial_out_mode(), SerialOutMode::Off);
        assert_eq!(d.jpeg_encode_size_mode(), SnapshotMode::SmallFace);
        assert!(d.cloud_offline_retransmission());
        assert_eq!(d.time_zone_hours(), 8);
        assert!(d.play_voice_enabled());
        assert_eq!(d.voice_volume(), 5);
        assert!(d.stranger_recog_enable());
        assert!(!d.stranger_voice_custom());
        assert_eq!(d.stranger_display_content(), "陌生人");
        assert_eq!(d.not_in_valid_time_voice(), "已过期");
        assert_eq!(d.not_auth_display(), "无记录");
        assert_eq!(d.ntp_server(), "ntp1.aliyun.com");
        assert_eq!(d.get("noSuchKey"), "");
    }

    #[test]
    fn typed_getters_follow_changes() {
        let applied = DeviceParams::defaults()
            .apply(&changes(&[
                ("playVoiceEnable", "1"),
                ("timeZone", "UTC-5"),
                ("entranceDirection", "2"),
                ("entranceWgOutMode", "2"),
                ("entranceSerialInMode", "4"),
                ("entranceSerialOutMode", "2"),
                ("entranceSerialBaudRate", "115200"),
                ("jpegEncodeSizeMode", "0"),
                ("alwaysOpenDoor", "1"),
                ("openDoorTimeDelayMs", "10000"),
                ("ntpAddress", "http://www.baidu.com"),
                ("displayTextContentBeforeName", "Hello "),
            ]))
            .unwrap();
        let p = applied.params;
        assert!(!p.play_voice_enabled(), "playVoiceEnable is inverted");
        assert_eq!(p.time_zone_hours(), -5);
        assert_eq!(p.entrance_direction(), EntranceDirection::Exit);
        assert_eq!(p.in_out_mode(), "2");
        assert_eq!(p.entrance_wg_out_mode(), WiegandOutMode::Temperature);
        assert_eq!(p.entrance_serial_in_mode(), SerialInMode::PassThrough);
        assert_eq!(p.entrance_serial_out_mode(), SerialOutMode::PassThrough);
        assert_eq!(p.entrance_serial_baud_rate(), 115_200);
        assert_eq!(p.jpeg_encode_size_mode(), SnapshotMode::NoImage);
        assert!(p.always_open_door());
        assert_eq!(p.open_door_time_delay_ms(), 10_000);
        assert_eq!(p.ntp_server(), "www.baidu.com");
        assert_eq!(p.display_text_before_name(), "Hello ");
        assert_eq!(applied.changed.len(), 12);
    }

    #[test]
    fn apply_is_all_or_nothing_and_names_every_bad_key() {
        let before = DeviceParams::defaults();
        let set = changes(&[
            ("voiceVolume", "7"),
            ("recogIntervalTime", "100"),
            ("entranceSerialBaudRate", "96000"),
            ("banner", "ok"),
        ]);
        let err = before.apply(&set).unwrap_err();
        assert_eq!(err.keys(), ["entranceSerialBaudRate", "recogIntervalTime"]);
        let text = err.to_string();
        assert!(text.starts_with("device parameters rejected, nothing was changed: "), "{text}");
        assert!(text.contains("entranceSerialBaudRate \"96000\" is not a standard baud rate (1200, 2400"), "{text}");
        assert!(text.contains("recogIntervalTime \"100\" must be a whole number from 0 to 99"), "{text}");
        assert_eq!(before, DeviceParams::defaults());
        let as_error: crate::Error = err.into();
        assert!(as_error.to_string().starts_with("protocol: device parameters rejected"));

        let ok = before.apply(&changes(&[("voiceVolume", "7"), ("banner", "ok")])).unwrap();
        assert_eq!(ok.params.voice_volume(), 7);
        assert_eq!(ok.params.get("banner"), "ok");
        assert_eq!(ok.changed, ["banner", "voiceVolume"]);
    }

    #[test]
    fn unknown_blank_and_unchanged_keys() {
        let applied = DeviceParams::defaults()
            .apply(&changes(&[
                ("faceRecogEnable", "1"),
                ("msgType", "onlineSetDevInfoResp"),
                ("voiceVolume", ""),
                ("entranceDirection", " "),
                ("banner", ""),
                ("ntpCycle", "24"),
                ("strangerDisplayContent", ""),
            ]))
            .unwrap();
        assert_eq!(applied.unknown, ["faceRecogEnable", "msgType"]);
        assert_eq!(applied.blank, ["entranceDirection", "voiceVolume"]);
        assert_eq!(applied.changed, ["strangerDisplayContent"], "texts may be cleared; equal values are no change");
        assert_eq!(applied.params.voice_volume(), 5);
        assert_eq!(applied.params.stranger_display_content(), "");
    }

    #[test]
    fn each_kind_of_invalid_value_is_rejected() {
        assert_eq!(rejects("ntpEnable", "2"), "\"2\" must be 0 or 1");
        assert_eq!(rejects("playVoiceEnable", "true"), "\"true\" must be 0 or 1");
        assert_eq!(rejects("irLiveLevel", "4"), "\"4\" must be one of 0, 1, 2, 3");
        assert_eq!(rejects("entranceSerialInMode", "6"), "\"6\" must be one of 0, 1, 2, 3, 4, 5");
        assert_eq!(rejects("voiceVolume", "11"), "\"11\" must be a whole number from 0 to 10");
        assert!(rejects("ntpCycle", "-1").contains("whole number from 0 to 24"));
        assert!(rejects("faceDetectBoxScore", "8.5").contains("whole number"));
        assert!(rejects("openDoorTimeDelayMs", "0").contains("from 1 to 60000"));
        assert!(rejects("openDoorTimeDelayMs", "60001").contains("from 1 to 60000"));
        assert!(rejects("openDoorTimeDelayMs", "99999999999").contains("whole number"));
        for bad in ["50", "29.9", "37.333", "abc", "37.", ".5", "-37"] {
            assert!(rejects("faceFeverTemperature", bad).contains("temperature from 30.0 to 45.0"), "{bad}");
        }
        assert!(rejects("displayTextContent", &"字".repeat(31)).contains("is 31 characters long, at most 30"));
        assert!(rejects("banner", &"x".repeat(257)).contains("at most 256"));
        assert!(rejects("strangerVoiceContent", "a\nb").contains("control characters"));
        assert!(rejects("devicePassword", "pass word").contains("printable ASCII, no spaces"));
        assert!(rejects("devicePassword", "密码").contains("printable ASCII"));
        assert!(rejects("devicePassword", &"1".repeat(17)).contains("at most 16"));
        for bad in ["25:00-26:00", "9:00-10:00", "21:56", "21:60-22:00", "21:56-21:56,22:00-23:00", "aa:bb-cc:dd"] {
            assert!(rejects("wdrTimeSet1", bad).contains("HH:MM-HH:MM"), "{bad}");
        }
        assert!(rejects("entranceSerialBaudRate", "96000").contains("not a standard baud rate"));
        assert!(rejects("entranceSerialBaudRate", "fast").contains("not a standard baud rate"));
        assert!(rejects("timeZone", "13").contains("-11 to +12"));
        assert!(rejects("timeZone", "+5:30").contains("-11 to +12"));
        assert!(rejects("passTime", "always").contains("periods like 06:00-09:00"));
        assert!(rejects("passTime", &"0".repeat(513)).contains("at most 512"));
        assert!(rejects("ntpAddress", "ntp server").contains("host name"));
        assert!(rejects("ntpAddress", &"a".repeat(31)).contains("at most 30"));
        assert!(rejects("installCity", "shen zhen").contains("pinyin"));
        assert!(rejects("installCity", "深圳").contains("pinyin"));
        assert!(rejects("objectId", "a b").contains("spaces"));
        assert!(rejects("objectId", &"a".repeat(21)).contains("at most 20"));
    }

    #[test]
    fn the_spec_examples_out_of_table_values() {
        assert_eq!(accepts("openDoorTimeDelayMs", "10000").open_door_time_delay_ms(), 10_000);
        assert_eq!(accepts("faceFeverTemperature", "37.30").get("faceFeverTemperature"), "37.30");
        assert_eq!(accepts("ntpAddress", "http://www.baidu.com").ntp_server(), "www.baidu.com");
        assert_eq!(accepts("ntpAddress", "192.168.1.1").ntp_server(), "192.168.1.1");
        rejects("entranceSerialBaudRate", "96000");
        // The longer forms of timeZone the spec does not rule out.
        assert_eq!(accepts("timeZone", "UTC+8").time_zone_hours(), 8);
        assert_eq!(accepts("timeZone", "+12").time_zone_hours(), 12);
        assert_eq!(accepts("timeZone", "-11").time_zone_hours(), -11);
        // Values are kept trimmed, texts as sent.
        assert_eq!(accepts("voiceVolume", " 3 ").get("voiceVolume"), "3");
        assert_eq!(accepts("banner", " 欢迎 ").get("banner"), " 欢迎 ");
        let long = "06:00-09:00,18:00-21:00;".repeat(6) + "06:00-09:00,18:00-21:00";
        assert_eq!(accepts("passTime", &long).pass_time(), long);
        // The table's own example has 7 semicolons; its structure is crate::access's to judge.
        let table_example = "06:00-09:00,18:00-21:00;;;;;;;06:00-09:00,18:00-21:00";
        assert_eq!(accepts("passTime", table_example).pass_time(), table_example);
    }

    #[test]
    fn from_stored_ignores_unknown_and_repairs_invalid() {
        let stored = changes(&[
            ("voiceVolume", "9"),
            ("timeZone", "+3"),
            ("entranceSerialBaudRate", "96000"),
            ("openDoorTimeDelayMs", ""),
            ("someOldKey", "x"),
        ]);
        let p = DeviceParams::from_stored(&stored);
        assert_eq!(p.voice_volume(), 9);
        assert_eq!(p.time_zone_hours(), 3);
        assert_eq!(p.entrance_serial_baud_rate(), 9600);
        assert_eq!(p.open_door_time_delay_ms(), 1000);
        assert_eq!(p.get("someOldKey"), "");
        assert_eq!(p.as_map().len(), 72);
    }

    #[test]
    fn secrets_are_recognised_and_redacted() {
        for key in ["devicePassword", "wirelessPassword", "loginKey", "deviceKey", "password", "apiSecret"] {
            assert!(DeviceParams::is_secret(key), "{key}");
        }
        for key in ["voiceVolume", "updateKey", "banner", "registerVoiceContent", "idNumber"] {
            assert!(!DeviceParams::is_secret(key), "{key}");
        }
        let p = accepts("devicePassword", "s3cret!");
        let log = p.for_log();
        assert_eq!(log["devicePassword"], "***");
        assert_eq!(log["voiceVolume"], "5");
        assert_eq!(DeviceParams::defaults().for_log()["devicePassword"], "", "an empty secret stays visibly empty");
    }

    #[test]
    fn upload_has_every_table_field() {
        let mut id = DeviceIdentity::new("FaceDevice001", "V1.0", "http://cloud.example:8090/api");
        id.login_key = "k".into();
        let fields = DeviceParams::defaults().to_upload(&id);
        assert_eq!(fields.len(), 3 + 72 + 17);
        for key in ["msgType", "deviceNo", "version"].iter().chain(TABLE.iter()).chain(UPLOAD_ONLY.iter()) {
            assert!(fields.contains_key(*key), "{key} missing");
        }
        assert_eq!(fields["msgType"], "uploadDevInfo");
        assert_eq!(fields["deviceNumber"], "FaceDevice001");
        assert_eq!(fields["httpMsgUrl"], "http://cloud.example:8090/api");
        assert_eq!(fields["cloudPushMode"], "0");
        let body = crate::protocol::encode(&crate::protocol::UploadDevInfo { fields });
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(crate::protocol::only_strings(&value));
        assert_eq!(value.as_object().unwrap().len(), 92);
    }
}
