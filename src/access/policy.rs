//! The device parameters that govern passage, with the spec's defaults.

use std::collections::BTreeMap;

use super::schedule::DeviceWindows;

/// How a card is accepted: the spec's `faceRFIDCardEnable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceCardMode {
    /// `0`, the spec's default: a card alone does not open; the same person's face must follow
    /// within the pairing window (the record is then a person-vs-card comparison, snapType 2).
    #[default]
    FaceAuthentication,
    /// `1`: a card alone or a face alone opens.
    FaceOrCard,
}

/// The terminal's side of the passage: the spec's `entranceDirection`, reported as `inOutMode`
/// (the device parameters' own type, under the name records give it).
pub use crate::protocol::devinfo::EntranceDirection as InOutMode;

/// What a greeting for a registered person is made of.
///
/// The device's `registerVoiceMode` / `displayTextMode` number these 0..=4; a person's
/// `voiceSpecialMode` / `displaySpecialMode` number them 1..=5 and use 0 for "use the device's".
/// "Personalised" texts are the person's `visitorVoiceText...` / `visitordisplayText...`;
/// "fixed" texts are the device's `registerVoiceContent...` / `displayTextContent...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GreetingMode {
    /// Personalised text before the name, the name, personalised text after it.
    #[default]
    NamePersonal,
    /// The name alone.
    Name,
    /// The personalised texts without the name.
    Personal,
    /// The fixed texts without the name.
    Fixed,
    /// Fixed text before the name, the name, fixed text after it.
    NameFixed,
}

impl GreetingMode {
    /// Parses a device-level code (`registerVoiceMode`, `displayTextMode`): 0..=4.
    pub fn from_device_code(code: &str) -> Option<GreetingMode> {
        match code.trim() {
            "0" => Some(GreetingMode::NamePersonal),
            "1" => Some(GreetingMode::Name),
            "2" => Some(GreetingMode::Personal),
            "3" => Some(GreetingMode::Fixed),
            "4" => Some(GreetingMode::NameFixed),
            _ => None,
        }
    }

    /// Parses a person-level code (`voiceSpecialMode`, `displaySpecialMode`): 1..=5 select a
    /// mode; 0, empty or anything else leave the choice to the device.
    pub fn from_person_code(code: &str) -> Option<GreetingMode> {
        match code.trim() {
            "1" => Some(GreetingMode::NamePersonal),
            "2" => Some(GreetingMode::Name),
            "3" => Some(GreetingMode::Personal),
            "4" => Some(GreetingMode::Fixed),
            "5" => Some(GreetingMode::NameFixed),
            _ => None,
        }
    }
}

/// What the terminal says and shows, from the device parameters of setDevInfo.
///
/// Defaults follow the spec's device report example (uploadDevInfo, L2912-3132). Where that
/// example leaves an alarm voice empty, the matching display text is used instead, so that a
/// fresh terminal does not refuse in silence.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcements {
    /// Speak at all (`playVoiceEnable`, inverted in the spec: `0` = voice on).
    pub voice_enabled: bool,
    /// `registerVoiceMode`.
    pub register_voice_mode: GreetingMode,
    /// `registerVoiceNameSexEnable`: say Mr/Ms (先生/女士) with the name.
    pub register_voice_name_sex: bool,
    /// `registerVoiceContentBeforeName`: fixed voice text before the name.
    pub register_voice_before_name: String,
    /// `registerVoiceContent`: fixed voice text after the name.
    pub register_voice_after_name: String,
    /// `displayTextMode`.
    pub display_text_mode: GreetingMode,
    /// `displayNameSexEnable`: show Mr/Ms with the name.
    pub display_name_sex: bool,
    /// `displayTextContentBeforeName`: fixed display text before the name.
    pub display_before_name: String,
    /// `displayTextContent`: fixed display text after the name.
    pub display_after_name: String,
    /// `strangerVoiceMode` = `1`: speak `stranger_voice` instead of the default stranger voice.
    pub stranger_voice_custom: bool,
    /// `strangerVoiceContent`.
    pub stranger_voice: String,
    /// `strangerDisplayContent`.
    pub stranger_display: String,
    /// `alarmVoiceEnable`: speak the refusal texts below.
    pub alarm_voice_enabled: bool,
    /// `alarmDisplayEnable`: show the refusal texts below.
    pub alarm_display_enabled: bool,
    /// `alarmNotInPassTimeContent`.
    pub not_in_pass_time_voice: String,
    /// `alarmNotInPassTimeDisplayContent`.
    pub not_in_pass_time_display: String,
    /// `alarmNotInValidTimeVoiceContent`.
    pub not_in_valid_time_voice: String,
    /// `alarmNotInValidTimeDisplayContent`.
    pub not_in_valid_time_display: String,
    /// `alarmNotAuthVoiceContent`: blacklist, unknown card, wrong password.
    pub not_auth_voice: String,
    /// `alarmNotAuthDisplayContent`.
    pub not_auth_display: String,
    /// Prompt after a card when a face must follow (facegate's own; the spec has no such text).
    pub show_face_voice: String,
    /// Display form of `show_face_voice`.
    pub show_face_display: String,
}

/// The stranger voice of `strangerVoiceMode` = `0` ("default mode"), which the spec leaves
/// undefined: "stranger", like the default `strangerDisplayContent`.
pub const DEFAULT_STRANGER_VOICE: &str = "陌生人";

impl Default for Announcements {
    fn default() -> Announcements {
        Announcements {
            voice_enabled: true,
            register_voice_mode: GreetingMode::NamePersonal,
            register_voice_name_sex: false,
            register_voice_before_name: String::new(),
            register_voice_after_name: String::new(),
            display_text_mode: GreetingMode::NamePersonal,
            display_name_sex: false,
            display_before_name: String::new(),
            display_after_name: String::new(),
            stranger_voice_custom: false,
            stranger_voice: String::new(),
            stranger_display: "陌生人".to_string(),
            alarm_voice_enabled: true,
            alarm_display_enabled: true,
            not_in_pass_time_voice: "不在通行时间".to_string(),
            not_in_pass_time_display: "不在通行时间".to_string(),
            not_in_valid_time_voice: "已过期".to_string(),
            not_in_valid_time_display: "已过期".to_string(),
            not_auth_voice: "无记录".to_string(),
            not_auth_display: "无记录".to_string(),
            show_face_voice: "请刷脸".to_string(),
            show_face_display: "请刷脸".to_string(),
        }
    }
}

/// Everything the decision engine needs to know about the device's configuration.
///
/// The daemon builds it with [`AccessPolicy::from_params`] from the device parameters the
/// cloud set, or fills the fields itself. `Default` is the spec's device defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessPolicy {
    /// `alwaysOpenDoor`: every presentation opens the door, whatever the verdict. The record
    /// still carries the true comparison result. Default off.
    pub always_open_door: bool,
    /// `autoOpenDoorEnable`: open by itself after a successful recognition. When off, the door
    /// waits for the cloud's `controlState`. Default on.
    pub auto_open_door: bool,
    /// `faceRFIDCardEnable`. Default face authentication.
    pub face_card_mode: FaceCardMode,
    /// How long a card waits for its holder's face in face-authentication mode. Default 5 s.
    pub card_face_window_ms: i64,
    /// `recogIntervalTime` in ms: the same person is recorded at most once per interval;
    /// 0 records every presentation. Default 3 s.
    pub recog_interval_ms: i64,
    /// Device `passTime`: applies to priority-0 persons on top of their own windows.
    pub device_windows: DeviceWindows,
    /// `entranceDirection`. Default unknown.
    pub in_out_mode: InOutMode,
    /// `strangerRecogEnable`: record and announce unrecognised faces. Default on.
    pub stranger_recognition: bool,
    /// A door password that always opens (snapType 13). The spec has no parameter for it;
    /// "" (the default) disables it.
    pub permanent_password: String,
    /// Voice and display texts.
    pub texts: Announcements,
}

impl Default for AccessPolicy {
    fn default() -> AccessPolicy {
        AccessPolicy {
            always_open_door: false,
            auto_open_door: true,
            face_card_mode: FaceCardMode::FaceAuthentication,
            card_face_window_ms: 5_000,
            recog_interval_ms: 3_000,
            device_windows: DeviceWindows::all_day(),
            in_out_mode: InOutMode::Unknown,
            stranger_recognition: true,
            permanent_password: String::new(),
            texts: Announcements::default(),
        }
    }
}

impl AccessPolicy {
    /// The defaults overlaid with the device parameters in `params` (spec key names).
    ///
    /// Returns the policy and one message per value that could not be used (that setting
    /// keeps its default).
    pub fn from_params(params: &BTreeMap<String, String>) -> (AccessPolicy, Vec<String>) {
        let mut policy = AccessPolicy::default();
        let warnings = policy.apply_params(params);
        (policy, warnings)
    }

    /// Overlays the device parameters present in `params`; absent keys change nothing.
    ///
    /// Keys are matched exactly, then ignoring case and stray spaces. Returns one message per
    /// value that could not be used; that setting is left unchanged.
    pub fn apply_params(&mut self, params: &BTreeMap<String, String>) -> Vec<String> {
        let mut p = Params { params, warnings: Vec::new() };
        p.flag("alwaysOpenDoor", &mut self.always_open_door);
        p.flag("autoOpenDoorEnable", &mut self.auto_open_door);
        p.parse("faceRFIDCardEnable", "0 or 1", &mut self.face_card_mode, |v| match v {
            "0" => Some(FaceCardMode::FaceAuthentication),
            "1" => Some(FaceCardMode::FaceOrCard),
            _ => None,
        });
        p.parse("recogIntervalTime", "0 to 99 seconds", &mut self.recog_interval_ms, |v| {
            v.parse::<i64>().ok().filter(|s| (0..=99).contains(s)).map(|s| s * 1000)
        });
        if let Some(text) = p.get("passTime") {
            match DeviceWindows::parse(text) {
                Ok(windows) => self.device_windows = windows,
                Err(e) => p.warnings.push(format!("{e}; kept the previous pass times")),
            }
        }
        p.parse("entranceDirection", "0, 1 or 2", &mut self.in_out_mode, InOutMode::from_code);
        p.flag("strangerRecogEnable", &mut self.stranger_recognition);

        let t = &mut self.texts;
        p.parse("playVoiceEnable", "0 or 1", &mut t.voice_enabled, |v| {
            // Inverted in the spec: 0 = voice enabled.
            flag_value(v).map(|disabled| !disabled)
        });
        p.parse("registerVoiceMode", "0 to 4", &mut t.register_voice_mode, GreetingMode::from_device_code);
        p.flag("registerVoiceNameSexEnable", &mut t.register_voice_name_sex);
        p.text("registerVoiceContentBeforeName", &mut t.register_voice_before_name);
        p.text("registerVoiceContent", &mut t.register_voice_after_name);
        p.parse("displayTextMode", "0 to 4", &mut t.display_text_mode, GreetingMode::from_device_code);
        p.flag("displayNameSexEnable", &mut t.display_name_sex);
        p.text("displayTextContentBeforeName", &mut t.display_before_name);
        p.text("displayTextContent", &mut t.display_after_name);
        p.flag("strangerVoiceMode", &mut t.stranger_voice_custom);
        p.text("strangerVoiceContent", &mut t.stranger_voice);
        p.text("strangerDisplayContent", &mut t.stranger_display);
        p.flag("alarmVoiceEnable", &mut t.alarm_voice_enabled);
        p.flag("alarmDisplayEnable", &mut t.alarm_display_enabled);
        p.text("alarmNotInPassTimeContent", &mut t.not_in_pass_time_voice);
        p.text("alarmNotInPassTimeDisplayContent", &mut t.not_in_pass_time_display);
        p.text("alarmNotInValidTimeVoiceContent", &mut t.not_in_valid_time_voice);
        p.text("alarmNotInValidTimeDisplayContent", &mut t.not_in_valid_time_display);
        p.text("alarmNotAuthVoiceContent", &mut t.not_auth_voice);
        p.text("alarmNotAuthDisplayContent", &mut t.not_auth_display);
        p.warnings
    }
}

fn flag_value(value: &str) -> Option<bool> {
    match value {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// Reads device parameters leniently and collects what could not be used.
struct Params<'a> {
    params: &'a BTreeMap<String, String>,
    warnings: Vec<String>,
}

impl<'a> Params<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.params
            .get(key)
            .or_else(|| self.params.iter().find(|(k, _)| k.trim().eq_ignore_ascii_case(key)).map(|(_, v)| v))
            .map(|v| v.trim())
    }

    fn parse<T>(&mut self, key: &str, expected: &str, target: &mut T, parse: impl FnOnce(&str) -> Option<T>) {
        if let Some(value) = self.get(key) {
            match parse(value) {
                Some(parsed) => *target = parsed,
                None => self
                    .warnings
                    .push(format!("device parameter {key} = \"{value}\" is not {expected}; kept the previous value")),
            }
        }
    }

    fn flag(&mut self, key: &str, target: &mut bool) {
        self.parse(key, "0 or 1", target, flag_value);
    }

    fn text(&mut self, key: &str, target: &mut String) {
        if let Some(value) = self.get(key) {
            *target = value.to_string();
        }
    }
}
