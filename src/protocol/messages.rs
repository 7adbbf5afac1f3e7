//! One typed struct per message of the spec, both directions.
//!
//! Naming: device requests are `…Req` (every poll request is a [`PollReq`]), cloud commands are
//! `…Command`, the device's answers to them are `…Result` (most are a [`CommandResult`]), and
//! the streamed items of person/info and face/get are [`PersonInfoItem`] and [`RecordItem`]
//! with their acknowledgements [`PersonInfoAck`] and [`RecordAck`].
//!
//! Every field is a `String` (or a list of structs of strings): `#[serde(default)]` makes an
//! absent field `""` on input, and nothing can serialise as null. Every struct both serialises
//! and deserialises, so a mock cloud can use the same types. Outgoing messages send every
//! required field, `""` when there is nothing to say; the long record and person uploads leave
//! out optional (N) fields that are empty, as the spec's examples do.
//!
//! Keys are sent lower-camel-case as the spec's rule says (L25–27), i.e. `registerPhotoID2` and
//! `registerPhoto3` as in its examples, not the tables' `RegisterPhotoID2`/`RegisterPhoto3`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Message;
use super::binary::{decode_base64, encode_base64};
use super::codes::ErrorCode;
use super::services::Service;
use super::sign::register_sign;
use crate::model::{Person, PersonPhoto, Priority};
use crate::{Error, Result};

/// The interface version facegate speaks (`protocolVersion`, `version`).
pub const PROTOCOL_VERSION: &str = "V1.0";

/// The `msg` of a successful result, as in the spec's examples ("operation successful").
pub const SUCCESS_MSG: &str = "操作成功";

macro_rules! message {
    ($t:ty, $($m:expr),+) => {
        impl Message for $t {
            const MSG_TYPES: &'static [&'static str] = &[$($m),+];
        }
    };
}

// ---------------------------------------------------------------------------------------------
// device/register

/// The versions a device reports when it registers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirmwareVersions {
    /// `protocolVersion`, normally [`PROTOCOL_VERSION`].
    pub protocol: String,
    /// `hardwareVersion`, e.g. "A2".
    pub hardware: String,
    /// `softwareVersion`: "version number, build time", e.g. "2.1.9 2020-02-13".
    pub software: String,
    /// `algVersion`: the recognizer's version, e.g. "1.0.2-1.2.0".
    pub algorithm: String,
}

/// `register`: sent at boot once the network is up (device → cloud).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Register {
    /// `register`.
    pub msg_type: String,
    /// The factory serial number.
    pub device_no: String,
    /// Unix time in seconds.
    pub register_time: String,
    /// A random string that salts the signature.
    pub rand: String,
    /// Interface version.
    pub protocol_version: String,
    /// Hardware version.
    pub hardware_version: String,
    /// Software version and build time.
    pub software_version: String,
    /// Recognition algorithm version.
    pub alg_version: String,
    /// Upper-case hex MD5, see [`register_sign`].
    pub sign: String,
}
message!(Register, "register");

impl Register {
    /// A signed registration for the given Unix time (seconds) and random salt.
    pub fn new(device_no: &str, unix_s: i64, rand: &str, versions: &FirmwareVersions) -> Register {
        let register_time = super::time::register_time(unix_s);
        Register {
            msg_type: Self::MSG_TYPES[0].to_string(),
            device_no: device_no.to_string(),
            sign: register_sign(device_no, &register_time, rand),
            register_time,
            rand: rand.to_string(),
            protocol_version: versions.protocol.clone(),
            hardware_version: versions.hardware.clone(),
            software_version: versions.software.clone(),
            alg_version: versions.algorithm.clone(),
        }
    }
}

/// `registerResp`: the cloud's answer to `register`, switching services on or off.
///
/// Flags are "0"/"1" and intervals are seconds; [`super::ServiceTable::from_register_resp`]
/// turns them into the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)] // The service fields are documented by their keys in `Service`.
pub struct RegisterResp {
    /// `registerResp`.
    pub msg_type: String,
    /// Device number (the spec does not say the cloud must echo the request's).
    pub device_no: String,
    /// Optional cloud time in ms (13 digits) to set the clock once; see
    /// [`super::time::parse_cloud_timestamp_ms`].
    pub register_time: String,
    /// "100" registered, "200" refused (201 may also come).
    pub error_code: String,
    pub person_service: String,
    pub person_service_interval: String,
    pub record_service: String,
    pub heatbeat_service: String,
    pub heatbeat_service_interval: String,
    pub open_service: String,
    pub open_service_interval: String,
    pub update_service: String,
    pub update_service_interval: String,
    pub reboot_service: String,
    pub reboot_service_interval: String,
    pub set_dev_info_service: String,
    pub set_dev_info_service_interval: String,
    pub get_dev_info_service: String,
    pub photo_service: String,
    pub photo_service_interval: String,
    pub delete_record_service: String,
    pub delete_record_service_interval: String,
    pub get_register_count_service: String,
    pub get_register_count_service_interval: String,
    pub get_register_info_service: String,
    pub get_register_info_service_interval: String,
    pub get_record_service: String,
    pub get_record_service_interval: String,
    pub set_time_service: String,
    pub set_time_service_interval: String,
    pub broadcast_service: String,
    pub broadcast_service_interval: String,
}
message!(RegisterResp, "registerResp");

impl RegisterResp {
    /// A service flag or interval by its spec key (e.g. `openServiceInterval`); `None` for a
    /// key registerResp does not have, `Some("")` for one that was absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        let value = match key {
            "personService" => &self.person_service,
            "personServiceInterval" => &self.person_service_interval,
            "recordService" => &self.record_service,
            "heatbeatService" => &self.heatbeat_service,
            "heatbeatServiceInterval" => &self.heatbeat_service_interval,
            "openService" => &self.open_service,
            "openServiceInterval" => &self.open_service_interval,
            "updateService" => &self.update_service,
            "updateServiceInterval" => &self.update_service_interval,
            "rebootService" => &self.reboot_service,
            "rebootServiceInterval" => &self.reboot_service_interval,
            "setDevInfoService" => &self.set_dev_info_service,
            "setDevInfoServiceInterval" => &self.set_dev_info_service_interval,
            "getDevInfoService" => &self.get_dev_info_service,
            "photoService" => &self.photo_service,
            "photoServiceInterval" => &self.photo_service_interval,
            "deleteRecordService" => &self.delete_record_service,
            "deleteRecordServiceInterval" => &self.delete_record_service_interval,
            "getRegisterCountService" => &self.get_register_count_service,
            "getRegisterCountServiceInterval" => &self.get_register_count_service_interval,
            "getRegisterInfoService" => &self.get_register_info_service,
            "getRegisterInfoServiceInterval" => &self.get_register_info_service_interval,
            "getRecordService" => &self.get_record_service,
            "getRecordServiceInterval" => &self.get_record_service_interval,
            "setTimeService" => &self.set_time_service,
            "setTimeServiceInterval" => &self.set_time_service_interval,
            "broadcastService" => &self.broadcast_service,
            "broadcastServiceInterval" => &self.broadcast_service_interval,
            _ => return None,
        };
        Some(value)
    }

    /// True when the cloud accepted the registration (`errorCode` "100").
    pub fn accepted(&self) -> bool {
        self.error_code == ErrorCode::Ok.code()
    }
}

// ---------------------------------------------------------------------------------------------
// device/heatbeat

/// `keepAlive`: the heartbeat (device → cloud, POSTed to `/device/heatbeat`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeepAlive {
    /// `keepAlive`.
    pub msg_type: String,
    /// Device number.
    pub device_no: String,
}
message!(KeepAlive, "keepAlive");

impl KeepAlive {
    /// A heartbeat of this device.
    pub fn new(device_no: &str) -> KeepAlive {
        KeepAlive { msg_type: Self::MSG_TYPES[0].to_string(), device_no: device_no.to_string() }
    }
}

/// `keepAliveResp`: the cloud's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeepAliveResp {
    /// `keepAliveResp`.
    pub msg_type: String,
    /// Device number.
    pub device_no: String,
    /// A Unix time, unit unstated (10 digits in the spec); see
    /// [`super::time::parse_cloud_timestamp_ms`].
    pub register_time: String,
    /// "100" fine, "200" the cloud no longer knows this registration.
    pub error_code: String,
}
message!(KeepAliveResp, "keepAliveResp");

// ---------------------------------------------------------------------------------------------
// Poll requests

/// A poll request (`onlineOpenReq`, `registerPersonInfoReq`, ...): every poll asks the same
/// way, only `msgType` and the URL differ.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PollReq {
    /// The poll's msgType, e.g. `onlineOpenReq`.
    pub msg_type: String,
    /// Device number.
    pub device_no: String,
    /// Interface version.
    pub version: String,
}

impl PollReq {
    /// A poll request with the given msgType.
    pub fn new(msg_type: &str, device_no: &str, version: &str) -> PollReq {
        PollReq { msg_type: msg_type.to_string(), device_no: device_no.to_string(), version: version.to_string() }
    }

    /// The poll request of a polled service; `None` for services that do not poll
    /// (heartbeat, uploadDevInfo, record).
    pub fn for_service(service: Service, device_no: &str, version: &str) -> Option<PollReq> {
        service.poll_msg_type().map(|t| PollReq::new(t, device_no, version))
    }
}

/// `onlineOpenReq` (device/open).
pub type OnlineOpenReq = PollReq;
/// `onlineUpdateReq` (device/update).
pub type OnlineUpdateReq = PollReq;
/// `onlineRebootReq` (device/reboot).
pub type OnlineRebootReq = PollReq;
/// `onlineSetDevInfoReq` (device/setDevInfo).
pub type OnlineSetDevInfoReq = PollReq;
/// `onlineBroadcastReq` (device/broadcast).
pub type OnlineBroadcastReq = PollReq;
/// `onlineSetTimeReq` (device/setTime).
pub type OnlineSetTimeReq = PollReq;
/// `registerPersonInfoReq` (person/operate).
pub type RegisterPersonInfoReq = PollReq;
/// `onlineGetRegisterCountReq` (person/count).
pub type OnlineGetRegisterCountReq = PollReq;
/// `onlineGetRegisterReq` (person/info).
pub type OnlineGetRegisterReq = PollReq;
/// `onlineGetPhotoReq` (face/photo).
pub type OnlineGetPhotoReq = PollReq;
/// `onlineDeleteSnapRecordReq` (face/clear).
pub type OnlineDeleteSnapRecordReq = PollReq;
/// `onlineGetRecordReq` (face/get).
pub type OnlineGetRecordReq = PollReq;

// ---------------------------------------------------------------------------------------------
// Commands and results

/// A cloud command answering a poll: it carries a msgID to echo and a "do it" flag.
pub trait Command: Message {
    /// The command's `msgID`, echoed in the result.
    fn msg_id(&self) -> &str;

    /// The command's `is…` flag as received.
    fn flag(&self) -> &str;

    /// True when the flag is "1": the cloud wants the action done. Anything else, including
    /// an absent flag, means there is nothing to do.
    fn requested(&self) -> bool {
        self.flag() == "1"
    }

    /// The device's result for this command: the table's msgType, the echoed msgID.
    fn result(&self, device_no: &str, code: ErrorCode, msg: &str) -> CommandResult {
        CommandResult {
            msg_type: Self::MSG_TYPES[0].to_string(),
            msg_id: self.msg_id().to_string(),
            device_no: device_no.to_string(),
            error_code: code.code().to_string(),
            msg: msg.to_string(),
        }
    }
}

macro_rules! command {
    ($t:ty, $flag:ident, $($m:expr),+) => {
        message!($t, $($m),+);
        impl Command for $t {
            fn msg_id(&self) -> &str {
                &self.msg_id
            }
            fn flag(&self) -> &str {
                &self.$flag
            }
        }
    };
}

/// The device's result for a command (same msgType as the command, echoed msgID).
///
/// Used as is by open, update, reboot, broadcast, setTime, person/operate and face/clear;
/// the results with extra fields wrap it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommandResult {
    /// The command's msgType, e.g. `onlineOpenResp`.
    pub msg_type: String,
    /// The command's msgID.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// Outcome, see [`ErrorCode`].
    pub error_code: String,
    /// Details for a person reading the cloud's logs.
    pub msg: String,
}

impl CommandResult {
    /// A result with the given msgType and echoed msgID.
    pub fn new(msg_type: &str, msg_id: &str, device_no: &str, code: ErrorCode, msg: &str) -> CommandResult {
        CommandResult {
            msg_type: msg_type.to_string(),
            msg_id: msg_id.to_string(),
            device_no: device_no.to_string(),
            error_code: code.code().to_string(),
            msg: msg.to_string(),
        }
    }
}

/// Result of device/open (`onlineOpenResp`).
pub type OpenResult = CommandResult;
/// Result of device/update (`onlineUpdateResp`); progress codes 500/501, failures 502–507.
pub type UpdateResult = CommandResult;
/// Result of device/reboot (`onlineRebootResp`).
pub type RebootResult = CommandResult;
/// Result of device/broadcast (`onlineBroadcastResp`).
pub type BroadcastResult = CommandResult;
/// Result of device/setTime (`onlineSetTimeResp`).
pub type SetTimeResult = CommandResult;
/// Result of person/operate (`registerPersonInfoResp`); 300–304 for person errors.
pub type PersonOperateResult = CommandResult;
/// Result of face/clear (`onlineDeleteSnapRecordResp`).
pub type ClearRecordsResult = CommandResult;

/// `onlineOpenResp` command: open the gate now.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OpenCommand {
    /// `onlineOpenResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": open the gate.
    #[serde(rename = "isOnlineOpen", alias = "isonlineOpen")]
    pub is_online_open: String,
    /// Text to announce, e.g. 欢迎光临.
    pub msg: String,
}
command!(OpenCommand, is_online_open, "onlineOpenResp");

/// `onlineUpdateResp` command: download and install firmware.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateCommand {
    /// `onlineUpdateResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": upgrade.
    #[serde(rename = "isOnlineUpdate", alias = "isonlineUpdate")]
    pub is_online_update: String,
    /// "0" file system, "1" application, "3" kernel.
    pub update_type: String,
    /// Where to download the firmware file.
    pub update_url: String,
    /// "Currently the file length" in bytes.
    pub update_key: String,
}
command!(UpdateCommand, is_online_update, "onlineUpdateResp");

impl UpdateCommand {
    /// The expected firmware length from `updateKey`; `None` when it is not a number.
    pub fn expected_length(&self) -> Option<u64> {
        self.update_key.trim().parse().ok()
    }
}

/// `onlineRebootResp` command: reboot the device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RebootCommand {
    /// `onlineRebootResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": reboot.
    #[serde(rename = "isOnlineReboot", alias = "isonlineReboot")]
    pub is_online_reboot: String,
}
command!(RebootCommand, is_online_reboot, "onlineRebootResp");

/// `onlineSetDevInfoResp` command: change device parameters (any subset).
///
/// The spec's table has no `deviceNo` here; it is accepted when present.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetDevInfoCommand {
    /// `onlineSetDevInfoResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number, if the cloud sends one.
    pub device_no: String,
    /// "1": apply the parameters.
    #[serde(rename = "isOnlineSetDevInfo", alias = "isonlineSetDevInfo")]
    pub is_online_set_dev_info: String,
    /// Every other field: the parameters to change, for
    /// [`super::DeviceParams::apply`].
    #[serde(flatten)]
    pub params: BTreeMap<String, String>,
}
command!(SetDevInfoCommand, is_online_set_dev_info, "onlineSetDevInfoResp");

/// `onlineSetDevInfoResp` result; `param` has no format in the spec.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetDevInfoResult {
    /// The common result fields.
    #[serde(flatten)]
    pub result: CommandResult,
    /// "Device parameters": free text (facegate's choice of content is the caller's).
    pub param: String,
}
message!(SetDevInfoResult, "onlineSetDevInfoResp");

impl SetDevInfoResult {
    /// A setDevInfo result for a command.
    pub fn new(cmd: &SetDevInfoCommand, device_no: &str, code: ErrorCode, msg: &str, param: &str) -> SetDevInfoResult {
        SetDevInfoResult { result: cmd.result(device_no, code, msg), param: param.to_string() }
    }
}

/// `onlineBroadcastResp` command: announce, display, or send Wiegand/RS485 data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BroadcastCommand {
    /// `onlineBroadcastResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": broadcast.
    #[serde(rename = "isonlineBroadcast", alias = "isOnlineBroadcast")]
    pub is_online_broadcast: String,
    /// Text to announce.
    pub voice_msg: String,
    /// Text to display.
    pub display_msg: String,
    /// Decimal card number to send on the Wiegand output.
    pub wg_data: String,
    /// Base64 bytes to send on RS485 (see [`super::binary::decode_base64`]).
    #[serde(rename = "rs485Data")]
    pub rs485_data: String,
}
command!(BroadcastCommand, is_online_broadcast, "onlineBroadcastResp");

/// `onlineSetTimeResp` command: set the clock.
///
/// Also accepted with msgType `onlineOpenResp`, which the spec's own example uses by mistake
/// (protocol.md §3.5.1): on the setTime URL it cannot mean anything else. The result is always
/// sent as `onlineSetTimeResp`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetTimeCommand {
    /// `onlineSetTimeResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": set the time.
    #[serde(rename = "isonlineSetTime", alias = "isOnlineSetTime")]
    pub is_online_set_time: String,
    /// Local time `yyyy-MM-dd HH:mm:ss.S`; see [`super::time::parse_set_time`].
    pub time_stamp: String,
}
command!(SetTimeCommand, is_online_set_time, "onlineSetTimeResp", "onlineOpenResp");

// ---------------------------------------------------------------------------------------------
// person/operate

/// What a person/operate entry asks for (`operateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonOperation {
    /// 0: add a person.
    Add,
    /// 1: modify a person.
    Modify,
    /// 2: delete one person (only `idNumber` needed).
    Delete,
    /// 3: delete every person.
    DeleteAll,
}

impl PersonOperation {
    /// Parses `operateType`; `None` for anything but 0..=3.
    pub fn from_code(code: &str) -> Option<PersonOperation> {
        match code.trim() {
            "0" => Some(PersonOperation::Add),
            "1" => Some(PersonOperation::Modify),
            "2" => Some(PersonOperation::Delete),
            "3" => Some(PersonOperation::DeleteAll),
            _ => None,
        }
    }
}

/// Keys of the person object that go into [`Person::extra`] (everything the store keeps
/// besides the typed fields and photos).
pub const PERSON_EXTRA_KEYS: [&str; 13] = [
    "sex",
    "birthday",
    "phone",
    "voiceSpecialMode",
    "voiceNameSexEnable",
    "visitorVoiceTextBeforeName",
    "visitorVoiceText",
    "displaySpecialMode",
    "displayNameSexEnable",
    "visitordisplayTextBeforeName",
    "visitordisplayText",
    "address",
    "idcard",
];

/// One element of `personInfoData`: a person to add, modify or delete.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)] // Field meanings are the spec's person table (protocol.md §2.10).
pub struct PersonInfo {
    /// "0" add, "1" modify, "2" delete, "3" delete all.
    pub operate_type: String,
    /// Person number, unique, never "0".
    pub id_number: String,
    /// IC card number.
    pub normal_number: String,
    /// Door password.
    pub password: String,
    pub name: String,
    pub sex: String,
    pub birthday: String,
    pub phone: String,
    /// `2019_08_09` or `2019_8_9`.
    pub valid_date_start: String,
    pub valid_date_end: String,
    /// "0".."3", see [`Priority`].
    pub priority: String,
    /// Base64 photo.
    pub register_photo1: String,
    /// Numeric photo ID.
    #[serde(rename = "registerPhotoID1", alias = "RegisterPhotoID1")]
    pub register_photo_id1: String,
    pub register_photo2: String,
    #[serde(rename = "registerPhotoID2", alias = "RegisterPhotoID2")]
    pub register_photo_id2: String,
    #[serde(alias = "RegisterPhoto3")]
    pub register_photo3: String,
    #[serde(rename = "registerPhotoID3", alias = "RegisterPhotoID3")]
    pub register_photo_id3: String,
    pub voice_special_mode: String,
    pub voice_name_sex_enable: String,
    pub visitor_voice_text_before_name: String,
    pub visitor_voice_text: String,
    pub display_special_mode: String,
    pub display_name_sex_enable: String,
    #[serde(rename = "visitordisplayTextBeforeName")]
    pub visitordisplay_text_before_name: String,
    #[serde(rename = "visitordisplayText")]
    pub visitordisplay_text: String,
    /// Monday's pass windows `HH_MM,HH_MM,...`; "" is all day.
    pub pass_time1: String,
    pub pass_time2: String,
    pub pass_time3: String,
    pub pass_time4: String,
    pub pass_time5: String,
    pub pass_time6: String,
    /// Sunday.
    pub pass_time7: String,
    pub address: String,
    /// ID-card number.
    pub idcard: String,
}

/// A photo slot of a person message, still Base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoField<'a> {
    /// 1..=3.
    pub slot: u8,
    /// `registerPhotoIDn`.
    pub photo_id: &'a str,
    /// `registerPhoton`, Base64.
    pub base64: &'a str,
}

impl PersonInfo {
    /// The requested operation; `None` when `operateType` is not 0..=3.
    pub fn operation(&self) -> Option<PersonOperation> {
        PersonOperation::from_code(&self.operate_type)
    }

    /// `passTime1..7`, Monday first.
    pub fn pass_times(&self) -> [String; 7] {
        [
            self.pass_time1.clone(),
            self.pass_time2.clone(),
            self.pass_time3.clone(),
            self.pass_time4.clone(),
            self.pass_time5.clone(),
            self.pass_time6.clone(),
            self.pass_time7.clone(),
        ]
    }

    /// The person as the store keeps it; dates and pass windows stay raw text for
    /// `crate::access` to check. Fails only on a `priority` outside 0..=3.
    pub fn to_person(&self) -> Result<Person> {
        let priority = Priority::from_code(&self.priority).ok_or_else(|| {
            Error::Protocol(format!(
                "person {}: priority \"{}\" is not 0 (pass windows), 1 (blacklist), 2 (any time) or 3 (visitor)",
                self.id_number, self.priority
            ))
        })?;
        let fields = [
            &self.sex,
            &self.birthday,
            &self.phone,
            &self.voice_special_mode,
            &self.voice_name_sex_enable,
            &self.visitor_voice_text_before_name,
            &self.visitor_voice_text,
            &self.display_special_mode,
            &self.display_name_sex_enable,
            &self.visitordisplay_text_before_name,
            &self.visitordisplay_text,
            &self.address,
            &self.idcard,
        ];
        let extra = PERSON_EXTRA_KEYS
            .iter()
            .zip(fields)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        Ok(Person {
            id_number: self.id_number.clone(),
            name: self.name.clone(),
            card: self.normal_number.clone(),
            password: self.password.clone(),
            priority,
            valid_start: self.valid_date_start.clone(),
            valid_end: self.valid_date_end.clone(),
            pass_times: self.pass_times(),
            extra,
        })
    }

    /// The photo slots that hold a photo.
    pub fn photo_fields(&self) -> Vec<PhotoField<'_>> {
        [
            (1, &self.register_photo_id1, &self.register_photo1),
            (2, &self.register_photo_id2, &self.register_photo2),
            (3, &self.register_photo_id3, &self.register_photo3),
        ]
        .into_iter()
        .filter(|(_, _, photo)| !photo.is_empty())
        .map(|(slot, id, photo)| PhotoField { slot, photo_id: id, base64: photo })
        .collect()
    }

    /// The photos, Base64-decoded. The bytes are not checked to be JPEG here.
    pub fn decode_photos(&self) -> Result<Vec<PersonPhoto>> {
        self.photo_fields()
            .into_iter()
            .map(|f| {
                let what = format!("registerPhoto{} of person {}", f.slot, self.id_number);
                Ok(PersonPhoto {
                    slot: f.slot,
                    photo_id: f.photo_id.to_string(),
                    jpeg: decode_base64(&what, f.base64)?,
                })
            })
            .collect()
    }
}

/// `registerPersonInfoResp` command: persons to add, modify or delete (normally one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PersonOperateCommand {
    /// `registerPersonInfoResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// Seconds until the next person/operate poll, while a sync is running.
    pub register_interval: String,
    /// "1": there are persons.
    pub is_register_person_info: String,
    /// How many persons the cloud says it sent.
    pub person_info_count: String,
    /// The persons (`personInfoData`, also `PersonInfoData`, also as a JSON string).
    #[serde(rename = "personInfoData", alias = "PersonInfoData")]
    pub persons: Vec<PersonInfo>,
}
command!(PersonOperateCommand, is_register_person_info, "registerPersonInfoResp");

// ---------------------------------------------------------------------------------------------
// person/count

/// `onlineGetRegisterCountResp` command: report how many persons are registered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PersonCountCommand {
    /// `onlineGetRegisterCountResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": report the count.
    #[serde(rename = "isonlineGetRegisterCount", alias = "isOnlineGetRegisterCount")]
    pub is_online_get_register_count: String,
}
command!(PersonCountCommand, is_online_get_register_count, "onlineGetRegisterCountResp");

/// `onlineGetRegisterCountResp` result with `personNum`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PersonCountResult {
    /// The common result fields.
    #[serde(flatten)]
    pub result: CommandResult,
    /// Number of registered persons.
    pub person_num: String,
}
message!(PersonCountResult, "onlineGetRegisterCountResp");

impl PersonCountResult {
    /// A count result for a command.
    pub fn new(
        cmd: &PersonCountCommand,
        device_no: &str,
        code: ErrorCode,
        msg: &str,
        person_num: u64,
    ) -> PersonCountResult {
        PersonCountResult { result: cmd.result(device_no, code, msg), person_num: person_num.to_string() }
    }
}

// ---------------------------------------------------------------------------------------------
// person/info

/// `onlineGetRegisterResp` command: upload every registered person, one message each.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PersonInfoCommand {
    /// `onlineGetRegisterResp`.
    pub msg_type: String,
    /// Message index to echo in every item.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": upload the persons.
    #[serde(rename = "isonlineGetRegister", alias = "isOnlineGetRegister")]
    pub is_online_get_register: String,
}
command!(PersonInfoCommand, is_online_get_register, "onlineGetRegisterResp");

/// Where an item of a streamed upload (person/info, face/get) stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemHeader {
    /// The command's msgID, echoed by every item.
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// The session token (its origin is undefined in the spec; the caller picks one per stream).
    pub token: String,
    /// `personNum` / `recordNum`.
    pub total: u64,
    /// 0..total.
    pub index: u64,
}

/// `onlineGetRegisterResp` item: one registered person (device → cloud).
///
/// Sent with the table's msgType; the example's `onlineGetRegisterInfoResp` is accepted on
/// input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)] // Field meanings are the spec's table (protocol.md §2.12).
pub struct PersonInfoItem {
    pub msg_type: String,
    #[serde(rename = "msgID")]
    pub msg_id: String,
    pub device_no: String,
    pub token: String,
    pub error_code: String,
    pub msg: String,
    pub person_num: String,
    pub index: String,
    pub id_number: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub normal_number: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sex: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub birthday: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone: String,
    pub valid_date_start: String,
    pub valid_date_end: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub priority: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub register_photo1: String,
    #[serde(rename = "registerPhotoID1", alias = "RegisterPhotoID1", skip_serializing_if = "String::is_empty")]
    pub register_photo_id1: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub register_photo2: String,
    #[serde(rename = "registerPhotoID2", alias = "RegisterPhotoID2", skip_serializing_if = "String::is_empty")]
    pub register_photo_id2: String,
    #[serde(alias = "RegisterPhoto3", skip_serializing_if = "String::is_empty")]
    pub register_photo3: String,
    #[serde(rename = "registerPhotoID3", alias = "RegisterPhotoID3", skip_serializing_if = "String::is_empty")]
    pub register_photo_id3: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub voice_special_mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub voice_name_sex_enable: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub visitor_voice_text_before_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub visitor_voice_text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_special_mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name_sex_enable: String,
    #[serde(rename = "visitordisplayTextBeforeName", skip_serializing_if = "String::is_empty")]
    pub visitordisplay_text_before_name: String,
    #[serde(rename = "visitordisplayText", skip_serializing_if = "String::is_empty")]
    pub visitordisplay_text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time1: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time2: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time3: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time4: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time5: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time6: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time7: String,
}
message!(PersonInfoItem, "onlineGetRegisterResp", "onlineGetRegisterInfoResp");

impl PersonInfoItem {
    /// The upload of one stored person with its photos (Base64-encoded here).
    pub fn new(header: &ItemHeader, person: &Person, photos: &[PersonPhoto]) -> PersonInfoItem {
        let extra = |k: &str| person.extra.get(k).cloned().unwrap_or_default();
        let [p1, p2, p3, p4, p5, p6, p7] = person.pass_times.clone();
        let mut item = PersonInfoItem {
            msg_type: Self::MSG_TYPES[0].to_string(),
            msg_id: header.msg_id.clone(),
            device_no: header.device_no.clone(),
            token: header.token.clone(),
            error_code: ErrorCode::Ok.code().to_string(),
            msg: SUCCESS_MSG.to_string(),
            person_num: header.total.to_string(),
            index: header.index.to_string(),
            id_number: person.id_number.clone(),
            normal_number: person.card.clone(),
            name: person.name.clone(),
            sex: extra("sex"),
            birthday: extra("birthday"),
            phone: extra("phone"),
            valid_date_start: person.valid_start.clone(),
            valid_date_end: person.valid_end.clone(),
            priority: person.priority.code().to_string(),
            voice_special_mode: extra("voiceSpecialMode"),
            voice_name_sex_enable: extra("voiceNameSexEnable"),
            visitor_voice_text_before_name: extra("visitorVoiceTextBeforeName"),
            visitor_voice_text: extra("visitorVoiceText"),
            display_special_mode: extra("displaySpecialMode"),
            display_name_sex_enable: extra("displayNameSexEnable"),
            visitordisplay_text_before_name: extra("visitordisplayTextBeforeName"),
            visitordisplay_text: extra("visitordisplayText"),
            pass_time1: p1,
            pass_time2: p2,
            pass_time3: p3,
            pass_time4: p4,
            pass_time5: p5,
            pass_time6: p6,
            pass_time7: p7,
            ..PersonInfoItem::default()
        };
        for photo in photos {
            let (data, id) = match photo.slot {
                1 => (&mut item.register_photo1, &mut item.register_photo_id1),
                2 => (&mut item.register_photo2, &mut item.register_photo_id2),
                3 => (&mut item.register_photo3, &mut item.register_photo_id3),
                _ => continue,
            };
            *data = encode_base64(&photo.jpeg);
            *id = photo.photo_id.clone();
        }
        item
    }
}

/// `onlineGetRegisterResult`: the cloud's acknowledgement of one person item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PersonInfoAck {
    /// `onlineGetRegisterResult`.
    pub msg_type: String,
    /// The item's msgID.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "100" accepted.
    pub error_code: String,
    /// Must equal the item's index, or the item is sent again.
    pub index: String,
}
message!(PersonInfoAck, "onlineGetRegisterResult");

impl PersonInfoAck {
    /// True when this acknowledges item `index` (the spec's only condition for moving on).
    pub fn acknowledges(&self, index: u64) -> bool {
        self.index.parse::<u64>() == Ok(index)
    }
}

// ---------------------------------------------------------------------------------------------
// device/uploadDevInfo

/// `uploadDevInfo`: every device parameter and identity field (device → cloud), built by
/// [`super::DeviceParams::to_upload`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UploadDevInfo {
    /// Every field by its spec key, msgType included.
    pub fields: BTreeMap<String, String>,
}
message!(UploadDevInfo, "uploadDevInfo");

/// `uploadDevInfoResp`: the cloud's answer to `uploadDevInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UploadDevInfoResp {
    /// `uploadDevInfoResp`.
    pub msg_type: String,
    /// Device number.
    pub device_no: String,
    /// "100" accepted.
    pub error_code: String,
    /// Details.
    pub msg: String,
}
message!(UploadDevInfoResp, "uploadDevInfoResp");

// ---------------------------------------------------------------------------------------------
// face/record

/// `uploadRecord`: one pass record (device → cloud), every field of the spec's table.
///
/// Required (Y) fields are always sent, `""` when unknown (e.g. `idNumber` of a stranger);
/// optional (N) fields are left out when empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)] // Field meanings are the spec's table (protocol.md §2.13).
pub struct UploadRecord {
    pub msg_type: String,
    /// Unique per device for its lifetime; the cloud echoes it.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    pub version: String,
    pub device_no: String,
    /// 0 face, 1 ID card, 2 IC card + face, 3 stranger, 4/5 IC card, 6/7/8 QR, 9/11 payment,
    /// 12 RS485, 13/14 password.
    pub snap_type: String,
    /// 0 passed, 1 failed, 2 outside pass time, 3 outside validity, 4 not authorised.
    pub compare_result: String,
    /// `yyyy-MM-dd HH:mm:ss.SSS`, see [`super::time::format_pass_time`].
    pub pass_time: String,
    pub id_number: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sex: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub birth: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub company: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub department: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone: String,
    pub valid_date_start: String,
    pub valid_date_end: String,
    pub visitor_voice_text: String,
    /// 0 unknown, 1 entrance, 2 exit (the `entranceDirection` parameter).
    pub in_out_mode: String,
    /// Base64 JPEG, "" when `jpegEncodeSizeMode` is 0.
    pub recognition_photo: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compare_photo: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temperature: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temperature_result: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alcohol: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub face_mask_result: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ethnicity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authority: String,
    #[serde(rename = "locationx", skip_serializing_if = "String::is_empty")]
    pub location_x: String,
    #[serde(rename = "locationy", skip_serializing_if = "String::is_empty")]
    pub location_y: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub normal_number: String,
    /// Base64 QR or RS485 data.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub amount: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_board_type: String,
    /// Records waiting in the outbox.
    pub off_line_record_num: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_result: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_addr: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_id_card: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hsjc_result: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hsjc_date: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hsjc_addr: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vaccine_count: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vaccine_date: String,
}
message!(UploadRecord, "uploadRecord");

impl UploadRecord {
    /// An empty record with its header set; `offLineRecordNum` starts at "0".
    pub fn new(msg_id: &str, device_no: &str, version: &str) -> UploadRecord {
        UploadRecord {
            msg_type: Self::MSG_TYPES[0].to_string(),
            msg_id: msg_id.to_string(),
            version: version.to_string(),
            device_no: device_no.to_string(),
            off_line_record_num: "0".to_string(),
            ..UploadRecord::default()
        }
    }

    /// A record from its fields by spec key (e.g. as stored); unknown keys are ignored and
    /// missing ones are "".
    pub fn from_fields(fields: &BTreeMap<String, String>) -> UploadRecord {
        let map = fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        // Every field is a defaulted String, so a map of strings always fits.
        serde_json::from_value(serde_json::Value::Object(map)).unwrap_or_default()
    }

    /// The record's fields by spec key, as they would be sent (empty optional fields left out).
    pub fn to_fields(&self) -> BTreeMap<String, String> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k, s)),
                    _ => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }
}

/// `uploadRecordResp`: the cloud's acknowledgement of a record, with an optional gate decision.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UploadRecordResp {
    /// `uploadRecordResp`.
    pub msg_type: String,
    /// Must equal the record's msgID, or the record is uploaded again.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "100" accepted.
    pub error_code: String,
    /// "open" or "close" the barrier; may be absent.
    pub control_state: String,
    /// Text to announce.
    pub msg: String,
    /// Text to display.
    pub display_msg: String,
    /// Base64 JPEG to display.
    pub display_photo: String,
    /// `(x,y,width,height)` of the displayed image.
    pub coordinate: String,
    /// Seconds to show the image, default 3.
    pub display_time: String,
}
message!(UploadRecordResp, "uploadRecordResp");

impl UploadRecordResp {
    /// The cloud's gate decision: `Some(true)` for "open", `Some(false)` for "close" (any ASCII
    /// case), `None` when absent or unrecognised.
    pub fn control(&self) -> Option<bool> {
        if self.control_state.eq_ignore_ascii_case("open") {
            Some(true)
        } else if self.control_state.eq_ignore_ascii_case("close") {
            Some(false)
        } else {
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// face/photo

/// `onlineGetPhotoResp` command: take a photo and send it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PhotoCommand {
    /// `onlineGetPhotoResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": take the photo.
    #[serde(rename = "isonlineGetPhoto", alias = "isOnlineGetPhoto")]
    pub is_online_get_photo: String,
    /// "0" a photo with a face, "1" any snapshot.
    pub photo_type: String,
}
command!(PhotoCommand, is_online_get_photo, "onlineGetPhotoResp");

/// `onlineGetPhotoResp` result with the Base64 `photo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PhotoResult {
    /// The common result fields.
    #[serde(flatten)]
    pub result: CommandResult,
    /// Base64 JPEG, "" when no photo was taken.
    pub photo: String,
}
message!(PhotoResult, "onlineGetPhotoResp");

impl PhotoResult {
    /// A photo result for a command; the JPEG (if any) is Base64-encoded here.
    pub fn new(cmd: &PhotoCommand, device_no: &str, code: ErrorCode, msg: &str, jpeg: Option<&[u8]>) -> PhotoResult {
        PhotoResult { result: cmd.result(device_no, code, msg), photo: jpeg.map(encode_base64).unwrap_or_default() }
    }
}

// ---------------------------------------------------------------------------------------------
// face/clear

/// `onlineDeleteSnapRecordResp` command: clear the pass records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClearRecordsCommand {
    /// `onlineDeleteSnapRecordResp`.
    pub msg_type: String,
    /// Message index to echo.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": clear.
    #[serde(rename = "isonlineDeleteRecord", alias = "isOnlineDeleteRecord")]
    pub is_online_delete_record: String,
}
command!(ClearRecordsCommand, is_online_delete_record, "onlineDeleteSnapRecordResp");

// ---------------------------------------------------------------------------------------------
// face/get

/// `onlineGetRecordResp` command: upload the records matching one condition, one message each.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetRecordsCommand {
    /// `onlineGetRecordResp`.
    pub msg_type: String,
    /// Message index to echo in every item.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "1": upload the records.
    #[serde(rename = "isonlineGetRecord", alias = "isOnlineGetRecord")]
    pub is_online_get_record: String,
    /// 17-digit start, see [`super::time::parse_snap_time`].
    pub snap_time_start: String,
    /// 17-digit end; "" is now.
    pub snap_time_end: String,
    /// Filter by name.
    pub name: String,
    /// Filter by person number.
    pub id_number: String,
}
command!(GetRecordsCommand, is_online_get_record, "onlineGetRecordResp");

/// `onlineGetRecordResp` item: one stored record (device → cloud), the face/get table's fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)] // Field meanings are the spec's table (protocol.md §2.16).
pub struct RecordItem {
    pub msg_type: String,
    #[serde(rename = "msgID")]
    pub msg_id: String,
    pub device_no: String,
    pub token: String,
    pub error_code: String,
    pub msg: String,
    pub record_num: String,
    pub index: String,
    pub snap_type: String,
    pub compare_result: String,
    pub pass_time: String,
    pub id_number: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone: String,
    pub valid_date_start: String,
    pub valid_date_end: String,
    pub visitor_voice_text: String,
    pub in_out_mode: String,
    pub recognition_photo: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compare_photo: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temperature: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temperature_result: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rf_id_number: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ethnicity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authority: String,
    #[serde(rename = "locationx", skip_serializing_if = "String::is_empty")]
    pub location_x: String,
    #[serde(rename = "locationy", skip_serializing_if = "String::is_empty")]
    pub location_y: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub normal_number: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
}
message!(RecordItem, "onlineGetRecordResp");

impl RecordItem {
    /// The face/get upload of a stored record.
    pub fn new(header: &ItemHeader, record: &UploadRecord) -> RecordItem {
        RecordItem {
            msg_type: Self::MSG_TYPES[0].to_string(),
            msg_id: header.msg_id.clone(),
            device_no: header.device_no.clone(),
            token: header.token.clone(),
            error_code: ErrorCode::Ok.code().to_string(),
            msg: SUCCESS_MSG.to_string(),
            record_num: header.total.to_string(),
            index: header.index.to_string(),
            snap_type: record.snap_type.clone(),
            compare_result: record.compare_result.clone(),
            pass_time: record.pass_time.clone(),
            id_number: record.id_number.clone(),
            name: record.name.clone(),
            phone: record.phone.clone(),
            valid_date_start: record.valid_date_start.clone(),
            valid_date_end: record.valid_date_end.clone(),
            visitor_voice_text: record.visitor_voice_text.clone(),
            in_out_mode: record.in_out_mode.clone(),
            recognition_photo: record.recognition_photo.clone(),
            compare_photo: record.compare_photo.clone(),
            temperature: record.temperature.clone(),
            temperature_result: record.temperature_result.clone(),
            rf_id_number: String::new(),
            ethnicity: record.ethnicity.clone(),
            address: record.address.clone(),
            authority: record.authority.clone(),
            location_x: record.location_x.clone(),
            location_y: record.location_y.clone(),
            normal_number: record.normal_number.clone(),
            data: record.data.clone(),
        }
    }
}

/// `onlineGetRecordResult`: the cloud's acknowledgement of one record item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecordAck {
    /// `onlineGetRecordResult`.
    pub msg_type: String,
    /// The item's msgID.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// "100" accepted.
    pub error_code: String,
    /// Must equal the item's index, or the item is sent again.
    pub index: String,
}
message!(RecordAck, "onlineGetRecordResult");

impl RecordAck {
    /// True when this acknowledges item `index`.
    pub fn acknowledges(&self, index: u64) -> bool {
        self.index.parse::<u64>() == Ok(index)
    }
}
