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
//!
//! Files: `table` (every key, its default and its rule), `typed` (the typed accessors and the
//! enums of the coded parameters), and here [`DeviceParams`] itself: storing, applying and
//! reporting the set.

use std::collections::BTreeMap;
use std::fmt;

mod table;
mod typed;

pub use table::BAUD_RATES;
use table::{PARAMS, check, param, stored_form};
pub use typed::{EntranceDirection, SerialInMode, SerialOutMode, SnapshotMode, WiegandInMode, WiegandOutMode};

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
