//! The typed reading of the device parameters: one accessor per parameter the terminal acts
//! on, with the enums of the coded ones. Values are valid by construction (the table checked
//! them), so an accessor cannot fail; an unknown code reads as the parameter's "off" value.

use super::DeviceParams;
use super::table::{param, parse_uint};
use crate::protocol::time::parse_time_zone;

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

impl EntranceDirection {
    /// Parses `entranceDirection`; anything but 0..=2 is `None`.
    pub fn from_code(code: &str) -> Option<EntranceDirection> {
        match code.trim() {
            "0" => Some(EntranceDirection::Unknown),
            "1" => Some(EntranceDirection::Entrance),
            "2" => Some(EntranceDirection::Exit),
            _ => None,
        }
    }

    /// The code, as a record's `inOutMode` carries it.
    pub fn code(self) -> &'static str {
        match self {
            EntranceDirection::Unknown => "0",
            EntranceDirection::Entrance => "1",
            EntranceDirection::Exit => "2",
        }
    }
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

impl DeviceParams {
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
        self.entrance_direction().code()
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

    /// `registerVoiceNameSexEnable`: say Mr/Ms (先生/女士) with a registered person's name.
    pub fn register_voice_name_sex_enable(&self) -> bool {
        self.flag("registerVoiceNameSexEnable")
    }

    /// `displayNameSexEnable`: show Mr/Ms with the name.
    pub fn display_name_sex_enable(&self) -> bool {
        self.flag("displayNameSexEnable")
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn changes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
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
        assert!(!d.register_voice_name_sex_enable());
        assert!(!d.display_name_sex_enable());
        assert_eq!((d.register_voice_mode(), d.display_text_mode()), (0, 0));
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
                ("registerVoiceNameSexEnable", "1"),
                ("displayNameSexEnable", "1"),
                ("registerVoiceMode", "4"),
                ("displayTextMode", "3"),
                ("entranceWgInMode", "0"),
                ("cloudOfflineRetransmission", "0"),
                ("recogIntervalTime", "99"),
                ("passTime", "06:00-09:00;;"),
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
        assert!(p.register_voice_name_sex_enable() && p.display_name_sex_enable());
        assert_eq!((p.register_voice_mode(), p.display_text_mode()), (4, 3));
        assert_eq!(p.entrance_wg_in_mode(), WiegandInMode::Off);
        assert!(!p.cloud_offline_retransmission());
        assert_eq!(p.recog_interval_time_s(), 99);
        assert_eq!(p.pass_time(), "06:00-09:00;;");
        assert_eq!(applied.changed.len(), 20);
    }

    fn with(key: &str, value: &str) -> DeviceParams {
        DeviceParams::defaults().apply(&changes(&[(key, value)])).unwrap_or_else(|e| panic!("{e}")).params
    }

    #[test]
    fn every_code_has_its_variant_and_a_code_past_the_last_is_refused() {
        use SerialInMode as S;
        let serial_in = [S::Off, S::TemperatureV1, S::TemperatureV2, S::Standard, S::PassThrough, S::TemperatureV3];
        for (code, mode) in serial_in.into_iter().enumerate() {
            assert_eq!(with("entranceSerialInMode", &code.to_string()).entrance_serial_in_mode(), mode);
        }
        let wg_out = [WiegandOutMode::Off, WiegandOutMode::CardNumber, WiegandOutMode::Temperature];
        let serial_out = [SerialOutMode::Off, SerialOutMode::Standard, SerialOutMode::PassThrough];
        let snapshot = [SnapshotMode::NoImage, SnapshotMode::SmallFace, SnapshotMode::FullImage];
        let direction = [EntranceDirection::Unknown, EntranceDirection::Entrance, EntranceDirection::Exit];
        for code in 0..3 {
            let c = code.to_string();
            assert_eq!(with("entranceWgOutMode", &c).entrance_wg_out_mode(), wg_out[code]);
            assert_eq!(with("entranceSerialOutMode", &c).entrance_serial_out_mode(), serial_out[code]);
            assert_eq!(with("jpegEncodeSizeMode", &c).jpeg_encode_size_mode(), snapshot[code]);
            assert_eq!(with("entranceDirection", &c).entrance_direction(), direction[code]);
            assert_eq!(direction[code].code(), c);
        }
        assert_eq!(with("entranceWgInMode", "0").entrance_wg_in_mode(), WiegandInMode::Off);
        assert_eq!(with("entranceWgInMode", "1").entrance_wg_in_mode(), WiegandInMode::CardNumber);

        // One past the last code never reaches an accessor: refused by setDevInfo, and replaced
        // by the default when found in storage.
        for (key, past) in [
            ("entranceSerialInMode", "6"),
            ("entranceWgOutMode", "3"),
            ("entranceSerialOutMode", "3"),
            ("jpegEncodeSizeMode", "3"),
            ("entranceDirection", "3"),
            ("entranceWgInMode", "2"),
        ] {
            assert!(DeviceParams::defaults().apply(&changes(&[(key, past)])).is_err(), "{key}={past}");
            let stored = DeviceParams::from_stored(&changes(&[(key, past)]));
            assert_eq!(stored.get(key), DeviceParams::defaults().get(key), "{key}");
        }
        assert_eq!(with("openDoorTimeDelayMs", "60000").open_door_time_delay_ms(), 60_000);
        assert!(DeviceParams::defaults().apply(&changes(&[("openDoorTimeDelayMs", "60001")])).is_err());
        assert_eq!(with("recogIntervalTime", "0").recog_interval_time_s(), 0);
        assert!(DeviceParams::defaults().apply(&changes(&[("recogIntervalTime", "100")])).is_err());
    }
}
