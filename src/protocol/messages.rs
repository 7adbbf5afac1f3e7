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
    /// `personService`: service flag "1" on, "0" off.
    pub person_service: String,
    /// `personServiceInterval`: interval in seconds.
    pub person_service_interval: String,
    /// `recordService`: service flag "1" on, "0" off.
    pub record_service: String,
    /// `heatbeatService`: service flag "1" on, "0" off.
    pub heatbeat_service: String,
    /// `heatbeatServiceInterval`: interval in seconds.
    pub heatbeat_service_interval: String,
    /// `openService`: service flag "1" on, "0" off.
    pub open_service: String,
    /// `openServiceInterval`: interval in seconds.
    pub open_service_interval: String,
    /// `updateService`: service flag "1" on, "0" off.
    pub update_service: String,
    /// `updateServiceInterval`: interval in seconds.
    pub update_service_interval: String,
    /// `rebootService`: service flag "1" on, "0" off.
    pub reboot_service: String,
    /// `rebootServiceInterval`: interval in seconds.
    pub reboot_service_interval: String,
    /// `setDevInfoService`: service flag "1" on, "0" off.
    pub set_dev_info_service: String,
    /// `setDevInfoServiceInterval`: interval in seconds.
    pub set_dev_info_service_interval: String,
    /// `getDevInfoService`: service flag "1" on, "0" off.
    pub get_dev_info_service: String,
    /// `photoService`: service flag "1" on, "0" off.
    pub photo_service: String,
    /// `photoServiceInterval`: interval in seconds.
    pub photo_service_interval: String,
    /// `deleteRecordService`: service flag "1" on, "0" off.
    pub delete_record_service: String,
    /// `deleteRecordServiceInterval`: interval in seconds.
    pub delete_record_service_interval: String,
    /// `getRegisterCountService`: service flag "1" on, "0" off.
    pub get_register_count_service: String,
    /// `getRegisterCountServiceInterval`: interval in seconds.
    pub get_register_count_service_interval: String,
    /// `getRegisterInfoService`: service flag "1" on, "0" off.
    pub get_register_info_service: String,
    /// `getRegisterInfoServiceInterval`: interval in seconds.
    pub get_register_info_service_interval: String,
    /// `getRecordService`: service flag "1" on, "0" off.
    pub get_record_service: String,
    /// `getRecordServiceInterval`: interval in seconds.
    pub get_record_service_interval: String,
    /// `setTimeService`: service flag "1" on, "0" off.
    pub set_time_service: String,
    /// `setTimeServiceInterval`: interval in seconds.
    pub set_time_service_interval: String,
    /// `broadcastService`: service flag "1" on, "0" off.
    pub broadcast_service: String,
    /// `broadcastServiceInterval`: interval in seconds.
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
pub struct PersonInfo {
    /// "0" add, "1" modify, "2" delete, "3" delete all.
    pub operate_type: String,
    /// Person number, unique, never "0".
    pub id_number: String,
    /// IC card number.
    pub normal_number: String,
    /// Door password.
    pub password: String,
    /// Person's name.
    pub name: String,
    /// Sex, e.g. 男.
    pub sex: String,
    /// Birthday, free text.
    pub birthday: String,
    /// Mobile number.
    pub phone: String,
    /// `2019_08_09` or `2019_8_9`.
    pub valid_date_start: String,
    /// Validity end, e.g. `2029_08_09`.
    pub valid_date_end: String,
    /// "0".."3", see [`Priority`].
    pub priority: String,
    /// Base64 photo.
    pub register_photo1: String,
    /// Numeric photo ID.
    #[serde(rename = "registerPhotoID1", alias = "RegisterPhotoID1")]
    pub register_photo_id1: String,
    /// Photo 2, Base64.
    pub register_photo2: String,
    /// Numeric ID of photo 2 (tables: `RegisterPhotoID2`).
    #[serde(rename = "registerPhotoID2", alias = "RegisterPhotoID2")]
    pub register_photo_id2: String,
    /// Photo 3, Base64 (tables: `RegisterPhoto3`).
    #[serde(alias = "RegisterPhoto3")]
    pub register_photo3: String,
    /// Numeric ID of photo 3.
    #[serde(rename = "registerPhotoID3", alias = "RegisterPhotoID3")]
    pub register_photo_id3: String,
    /// Personal announcement mode "0".."5".
    pub voice_special_mode: String,
    /// Announce Mr/Ms: "1".
    pub voice_name_sex_enable: String,
    /// Personal voice text before the name.
    pub visitor_voice_text_before_name: String,
    /// Personal voice text after the name (in records: the announcement).
    pub visitor_voice_text: String,
    /// Personal display mode "0".."5".
    pub display_special_mode: String,
    /// Display Mr/Ms: "1".
    pub display_name_sex_enable: String,
    /// Personal display text before the name.
    #[serde(rename = "visitordisplayTextBeforeName")]
    pub visitordisplay_text_before_name: String,
    /// Personal display text after the name.
    #[serde(rename = "visitordisplayText")]
    pub visitordisplay_text: String,
    /// Monday's pass windows `HH_MM,HH_MM,...`; "" is all day.
    pub pass_time1: String,
    /// Tuesday's pass windows.
    pub pass_time2: String,
    /// Wednesday's pass windows.
    pub pass_time3: String,
    /// Thursday's pass windows.
    pub pass_time4: String,
    /// Friday's pass windows.
    pub pass_time5: String,
    /// Saturday's pass windows.
    pub pass_time6: String,
    /// Sunday.
    pub pass_time7: String,
    /// Address (from the ID card).
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
pub struct PersonInfoItem {
    /// The message type.
    pub msg_type: String,
    /// The command's msgID, echoed.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// Session token of this stream.
    pub token: String,
    /// "100" success, see [`ErrorCode`].
    pub error_code: String,
    /// Details, e.g. 操作成功.
    pub msg: String,
    /// Number of persons in the stream.
    pub person_num: String,
    /// This item's index, 0..total.
    pub index: String,
    /// Person number.
    pub id_number: String,
    /// IC card number.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub normal_number: String,
    /// Person's name.
    pub name: String,
    /// Sex, e.g. 男.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sex: String,
    /// Birthday, free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub birthday: String,
    /// Mobile number.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone: String,
    /// Validity start, e.g. `2019_08_09`.
    pub valid_date_start: String,
    /// Validity end, e.g. `2029_08_09`.
    pub valid_date_end: String,
    /// Access right "0".."3", see [`Priority`].
    #[serde(skip_serializing_if = "String::is_empty")]
    pub priority: String,
    /// Photo 1, Base64.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub register_photo1: String,
    /// Numeric ID of photo 1.
    #[serde(rename = "registerPhotoID1", alias = "RegisterPhotoID1", skip_serializing_if = "String::is_empty")]
    pub register_photo_id1: String,
    /// Photo 2, Base64.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub register_photo2: String,
    /// Numeric ID of photo 2 (tables: `RegisterPhotoID2`).
    #[serde(rename = "registerPhotoID2", alias = "RegisterPhotoID2", skip_serializing_if = "String::is_empty")]
    pub register_photo_id2: String,
    /// Photo 3, Base64 (tables: `RegisterPhoto3`).
    #[serde(alias = "RegisterPhoto3", skip_serializing_if = "String::is_empty")]
    pub register_photo3: String,
    /// Numeric ID of photo 3.
    #[serde(rename = "registerPhotoID3", alias = "RegisterPhotoID3", skip_serializing_if = "String::is_empty")]
    pub register_photo_id3: String,
    /// Personal announcement mode "0".."5".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub voice_special_mode: String,
    /// Announce Mr/Ms: "1".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub voice_name_sex_enable: String,
    /// Personal voice text before the name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub visitor_voice_text_before_name: String,
    /// Personal voice text after the name (in records: the announcement).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub visitor_voice_text: String,
    /// Personal display mode "0".."5".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_special_mode: String,
    /// Display Mr/Ms: "1".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name_sex_enable: String,
    /// Personal display text before the name.
    #[serde(rename = "visitordisplayTextBeforeName", skip_serializing_if = "String::is_empty")]
    pub visitordisplay_text_before_name: String,
    /// Personal display text after the name.
    #[serde(rename = "visitordisplayText", skip_serializing_if = "String::is_empty")]
    pub visitordisplay_text: String,
    /// Monday's pass windows `HH_MM,HH_MM,...`; "" is all day.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time1: String,
    /// Tuesday's pass windows.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time2: String,
    /// Wednesday's pass windows.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time3: String,
    /// Thursday's pass windows.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time4: String,
    /// Friday's pass windows.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time5: String,
    /// Saturday's pass windows.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass_time6: String,
    /// Sunday's pass windows.
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
pub struct UploadRecord {
    /// The message type.
    pub msg_type: String,
    /// Unique per device for its lifetime; the cloud echoes it.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Interface version.
    pub version: String,
    /// Device number.
    pub device_no: String,
    /// 0 face, 1 ID card, 2 IC card + face, 3 stranger, 4/5 IC card, 6/7/8 QR, 9/11 payment,
    /// 12 RS485, 13/14 password.
    pub snap_type: String,
    /// 0 passed, 1 failed, 2 outside pass time, 3 outside validity, 4 not authorised.
    pub compare_result: String,
    /// `yyyy-MM-dd HH:mm:ss.SSS`, see [`super::time::format_pass_time`].
    pub pass_time: String,
    /// Person number.
    pub id_number: String,
    /// Person's name.
    pub name: String,
    /// Sex, e.g. 男.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sex: String,
    /// Birthday: `1997年4月3日` for faces, `19970403` for ID cards.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub birth: String,
    /// Company.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub company: String,
    /// Department.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub department: String,
    /// Mobile number.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone: String,
    /// Validity start, e.g. `2019_08_09`.
    pub valid_date_start: String,
    /// Validity end, e.g. `2029_08_09`.
    pub valid_date_end: String,
    /// Personal voice text after the name (in records: the announcement).
    pub visitor_voice_text: String,
    /// 0 unknown, 1 entrance, 2 exit (the `entranceDirection` parameter).
    pub in_out_mode: String,
    /// Base64 JPEG, "" when `jpegEncodeSizeMode` is 0.
    pub recognition_photo: String,
    /// Comparison image, Base64 JPEG.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compare_photo: String,
    /// Body temperature, e.g. 36.5.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temperature: String,
    /// "0" not checked, "1" normal, "2" abnormal.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temperature_result: String,
    /// Alcohol reading, e.g. 0.01mg/L.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alcohol: String,
    /// "0" not checked, "1" mask, "2" no mask.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub face_mask_result: String,
    /// Ethnicity (ID-card comparison).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ethnicity: String,
    /// Address (from the ID card).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// ID-card issuing authority.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authority: String,
    /// GPS longitude.
    #[serde(rename = "locationx", skip_serializing_if = "String::is_empty")]
    pub location_x: String,
    /// GPS latitude.
    #[serde(rename = "locationy", skip_serializing_if = "String::is_empty")]
    pub location_y: String,
    /// IC card number.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub normal_number: String,
    /// Base64 QR or RS485 data.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
    /// Payment amount.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub amount: String,
    /// Payment key: "0" amount entry, "1" confirm.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_board_type: String,
    /// Records waiting in the outbox.
    pub off_line_record_num: String,
    /// Health-code query result code.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_result: String,
    /// Health-code colour: "00" green, "01" yellow, "10" red.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_type: String,
    /// 14-day travel record.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_addr: String,
    /// Masked name from the health code.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_name: String,
    /// Masked ID-card number from the health code.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_id_card: String,
    /// Latest PCR test result.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hsjc_result: String,
    /// PCR test date.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hsjc_date: String,
    /// PCR testing institution.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hsjc_addr: String,
    /// Vaccine doses.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vaccine_count: String,
    /// Vaccination date.
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
pub struct RecordItem {
    /// The message type.
    pub msg_type: String,
    /// The command's msgID, echoed.
    #[serde(rename = "msgID")]
    pub msg_id: String,
    /// Device number.
    pub device_no: String,
    /// Session token of this stream.
    pub token: String,
    /// "100" success, see [`ErrorCode`].
    pub error_code: String,
    /// Details, e.g. 操作成功.
    pub msg: String,
    /// Number of records in the stream.
    pub record_num: String,
    /// This item's index, 0..total.
    pub index: String,
    /// Recognition type code.
    pub snap_type: String,
    /// Comparison result code.
    pub compare_result: String,
    /// Recognition time `yyyy-MM-dd HH:mm:ss.SSS`.
    pub pass_time: String,
    /// Person number.
    pub id_number: String,
    /// Person's name.
    pub name: String,
    /// Mobile number.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone: String,
    /// Validity start, e.g. `2019_08_09`.
    pub valid_date_start: String,
    /// Validity end, e.g. `2029_08_09`.
    pub valid_date_end: String,
    /// Personal voice text after the name (in records: the announcement).
    pub visitor_voice_text: String,
    /// "0" unknown, "1" entrance, "2" exit.
    pub in_out_mode: String,
    /// Recognition image, Base64 JPEG.
    pub recognition_photo: String,
    /// Comparison image, Base64 JPEG.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compare_photo: String,
    /// Body temperature, e.g. 36.5.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temperature: String,
    /// "0" not checked, "1" normal, "2" abnormal.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub temperature_result: String,
    /// ID-card number (ID-card comparison).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rf_id_number: String,
    /// Ethnicity (ID-card comparison).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ethnicity: String,
    /// Address (from the ID card).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// ID-card issuing authority.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authority: String,
    /// GPS longitude.
    #[serde(rename = "locationx", skip_serializing_if = "String::is_empty")]
    pub location_x: String,
    /// GPS latitude.
    #[serde(rename = "locationy", skip_serializing_if = "String::is_empty")]
    pub location_y: String,
    /// IC card number.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub normal_number: String,
    /// Scanned QR or RS485 data, Base64.
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

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;
    use crate::protocol::{DeviceParams, decode, decode_message, encode, only_strings};

    macro_rules! example {
        ($name:literal) => {
            include_bytes!(concat!("testdata/", $name, ".json")).as_slice()
        };
    }

    /// Every key of `expected` holds the same value in `actual`; an absent key in `actual`
    /// counts as "" (optional fields that are empty are not sent).
    fn assert_subset(expected: &Value, actual: Option<&Value>, path: &str, ignored: &[&str]) {
        let empty = Value::String(String::new());
        let actual = actual.unwrap_or(&empty);
        match expected {
            Value::Object(fields) => {
                for (k, v) in fields {
                    if !ignored.contains(&k.as_str()) {
                        assert_subset(v, actual.get(k), &format!("{path}.{k}"), ignored);
                    }
                }
            }
            Value::Array(items) => {
                let got = actual.as_array().unwrap_or_else(|| panic!("{path} is not an array"));
                assert_eq!(items.len(), got.len(), "{path} length");
                for (i, item) in items.iter().enumerate() {
                    assert_subset(item, got.get(i), &format!("{path}[{i}]"), ignored);
                }
            }
            _ => assert_eq!(expected, actual, "{path}"),
        }
    }

    /// Decodes a spec example (checking its msgType), re-encodes it and checks that the
    /// encoding is strict, keeps every example value (except `ignored` keys, which the table
    /// does not define) and decodes back to the same struct.
    fn round_trip<T>(example: &[u8], ignored: &[&str]) -> (T, Value)
    where
        T: DeserializeOwned + Serialize + Message + PartialEq + std::fmt::Debug,
    {
        let msg: T = decode_message(example).unwrap();
        let body = encode(&msg);
        let out: Value = serde_json::from_slice(&body).unwrap();
        assert!(only_strings(&out), "non-string value in {out}");
        let expected: Value = serde_json::from_slice(example).unwrap();
        assert_subset(&expected, Some(&out), "", ignored);
        assert_eq!(decode::<T>(&body).unwrap(), msg);
        (msg, out)
    }

    fn keys(value: &Value) -> Vec<&str> {
        value.as_object().unwrap().keys().map(String::as_str).collect()
    }

    fn assert_has_keys(value: &Value, required: &[&str]) {
        for k in required {
            assert!(value.get(*k).is_some_and(Value::is_string), "required field {k} missing in {value}");
        }
    }

    #[test]
    fn register_examples() {
        let (reg, out) = round_trip::<Register>(example!("01_register"), &[]);
        assert_eq!(keys(&out).len(), 9);
        let versions = FirmwareVersions {
            protocol: reg.protocol_version.clone(),
            hardware: reg.hardware_version.clone(),
            software: reg.software_version.clone(),
            algorithm: reg.alg_version.clone(),
        };
        let built = Register::new("1683800000106", 1_508_845_817, "e10adc3949ba59abbe56e057f20f883e", &versions);
        assert_eq!(built.sign, "847550488CB351F48D00C84AE2D3ED24");
        assert_eq!(Register { sign: reg.sign.clone(), ..built.clone() }, reg, "all but the spec's broken sign match");
        let out: Value = serde_json::from_slice(&encode(&built)).unwrap();
        assert_has_keys(
            &out,
            &[
                "msgType",
                "deviceNo",
                "registerTime",
                "rand",
                "protocolVersion",
                "hardwareVersion",
                "softwareVersion",
                "algVersion",
                "sign",
            ],
        );

        let (resp, _) = round_trip::<RegisterResp>(example!("02_register_resp"), &[]);
        assert!(resp.accepted());
        assert_eq!(resp.register_time, "1585903632011");
        assert_eq!(resp.get("personServiceInterval"), Some("10"));
    }

    #[test]
    fn heartbeat_examples() {
        let (ka, out) = round_trip::<KeepAlive>(example!("03_keep_alive"), &[]);
        assert_eq!(ka, KeepAlive::new("FaceDevice001"));
        assert_eq!(keys(&out), ["deviceNo", "msgType"]);
        let (resp, _) = round_trip::<KeepAliveResp>(example!("04_keep_alive_resp"), &[]);
        assert_eq!((resp.register_time.as_str(), resp.error_code.as_str()), ("", ""));
    }

    #[test]
    fn every_poll_request_example() {
        let polls = [
            (Service::Open, example!("05_open_req")),
            (Service::Update, example!("08_update_req")),
            (Service::Reboot, example!("11_reboot_req")),
            (Service::SetDevInfo, example!("14_set_dev_info_req")),
            (Service::Broadcast, example!("19_broadcast_req")),
            (Service::SetTime, example!("22_set_time_req")),
            (Service::PersonOperate, example!("25_person_operate_req")),
            (Service::PersonCount, example!("28_person_count_req")),
            (Service::PersonInfo, example!("31_person_info_req")),
            (Service::Photo, example!("37_photo_req")),
            (Service::ClearRecords, example!("40_clear_records_req")),
            (Service::GetRecords, example!("43_get_records_req")),
        ];
        for (service, body) in polls {
            let req: PollReq = decode(body).unwrap();
            let built = PollReq::for_service(service, "FaceDevice001", PROTOCOL_VERSION).unwrap();
            assert_eq!(req, built, "{service}");
            let out: Value = serde_json::from_slice(&encode(&built)).unwrap();
            assert_eq!(out, serde_json::from_slice::<Value>(body).unwrap(), "{service}");
        }
        for service in [Service::Heartbeat, Service::UploadDevInfo, Service::Record] {
            assert!(PollReq::for_service(service, "d", "V1.0").is_none());
        }
    }

    /// Checks a plain result example against the result built from its command.
    fn check_result<C: Command + DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
        command: &[u8],
        result: &[u8],
    ) -> C {
        let (cmd, _) = round_trip::<C>(command, &[]);
        let expected: CommandResult = decode(result).unwrap();
        let code = ErrorCode::from_code(&expected.error_code).unwrap();
        let built = cmd.result("FaceDevice001", code, &expected.msg);
        assert_eq!(built, expected);
        let out: Value = serde_json::from_slice(&encode(&built)).unwrap();
        assert_eq!(out, serde_json::from_slice::<Value>(result).unwrap());
        assert_has_keys(&out, &["msgType", "msgID", "deviceNo", "errorCode", "msg"]);
        cmd
    }

    #[test]
    fn device_command_examples() {
        let open: OpenCommand = check_result(example!("06_open_command"), example!("07_open_result"));
        assert!(open.requested());
        assert_eq!(open.msg, "欢迎光临");

        let update: UpdateCommand = check_result(example!("09_update_command"), example!("10_update_result"));
        assert!(update.requested());
        assert_eq!(update.expected_length(), Some(457_803));
        assert_eq!(update.update_url, "https:// ip:port /deviceFirmware/");

        let reboot: RebootCommand = check_result(example!("12_reboot_command"), example!("13_reboot_result"));
        assert!(reboot.requested());

        let broadcast: BroadcastCommand =
            check_result(example!("20_broadcast_command"), example!("21_broadcast_result"));
        assert_eq!((broadcast.voice_msg.as_str(), broadcast.display_msg.as_str()), ("欢迎光临", "欢迎光临"));
        assert_eq!(broadcast.wg_data, "");

        // The spec's setTime example carries the open command's msgType (§3.5.1).
        let set_time: SetTimeCommand = check_result(example!("23_set_time_command"), example!("24_set_time_result"));
        assert_eq!(set_time.msg_type, "onlineOpenResp");
        assert_eq!(set_time.result("d", ErrorCode::Ok, "").msg_type, "onlineSetTimeResp");
        assert_eq!(set_time.time_stamp, "2020-04-09 12:01:20.0");

        let clear: ClearRecordsCommand =
            check_result(example!("41_clear_records_command"), example!("42_clear_records_result"));
        assert!(clear.requested());
    }

    #[test]
    fn set_dev_info_examples() {
        let (cmd, _) = round_trip::<SetDevInfoCommand>(example!("15_set_dev_info_command"), &[]);
        assert!(cmd.requested());
        assert_eq!(cmd.params.len(), 58);
        assert!(!cmd.params.contains_key("msgID") && !cmd.params.contains_key("isOnlineSetDevInfo"));
        assert_eq!(cmd.params["faceRFIDCardEnable"], "0");
        // The example's 96000 baud is the one value rejected (see devinfo's module notes).
        let err = DeviceParams::defaults().apply(&cmd.params).unwrap_err();
        assert_eq!(err.keys(), ["entranceSerialBaudRate"]);

        let expected: SetDevInfoResult = decode_message(example!("16_set_dev_info_result")).unwrap();
        let built = SetDevInfoResult::new(&cmd, "FaceDevice001", ErrorCode::Ok, "操作成功", "");
        let built = SetDevInfoResult { result: CommandResult { msg_id: "000002".into(), ..built.result }, ..built };
        assert_eq!(built, expected);
        let out: Value = serde_json::from_slice(&encode(&built)).unwrap();
        assert_has_keys(&out, &["msgType", "msgID", "deviceNo", "errorCode", "msg", "param"]);
        round_trip::<SetDevInfoResult>(example!("16_set_dev_info_result"), &[]);
    }

    #[test]
    fn upload_dev_info_examples() {
        let (info, out) = round_trip::<UploadDevInfo>(example!("17_upload_dev_info"), &[]);
        assert_eq!(out, serde_json::from_slice::<Value>(example!("17_upload_dev_info")).unwrap());
        // The example's parameters are all acceptable; its 27 undefined keys and the
        // upload-only fields are reported as unknown.
        let applied = DeviceParams::defaults().apply(&info.fields).unwrap();
        assert!(applied.unknown.contains(&"faceRecogEnable".to_string()));
        assert!(applied.unknown.contains(&"httpMsgUrl".to_string()));
        assert!(applied.changed.contains(&"faceRFIDCardEnable".to_string()));
        assert_eq!(applied.params.get("displayTextContent"), "{}");
        let (resp, _) = round_trip::<UploadDevInfoResp>(example!("18_upload_dev_info_resp"), &[]);
        assert_eq!(resp.msg, "调用成功");
    }

    #[test]
    fn person_operate_examples() {
        let (cmd, _) = round_trip::<PersonOperateCommand>(example!("26_person_operate_command"), &[]);
        assert!(cmd.requested());
        assert_eq!(cmd.register_interval, "1");
        let p = &cmd.persons[0];
        assert_eq!(p.operation(), Some(PersonOperation::Add));
        let person = p.to_person().unwrap();
        assert_eq!(person.id_number, "2001");
        assert_eq!(person.card, "8899");
        assert_eq!(person.priority, Priority::Windowed);
        assert_eq!(person.valid_start, "2019_08_09");
        assert_eq!(person.pass_times[0], "06_00,09_00,18_00,21_00");
        assert_eq!(person.pass_times[6], "00_00,23_59");
        assert_eq!(person.extra["sex"], "男");
        assert_eq!(person.extra["visitordisplayText"], "欢迎您的参观");
        assert!(!person.extra.contains_key("address"), "empty fields are not kept");
        let photos = p.photo_fields();
        assert_eq!(photos, [PhotoField { slot: 1, photo_id: "1", base64: "base64 jpg" }]);
        let err = p.decode_photos().unwrap_err().to_string();
        assert!(err.contains("registerPhoto1 of person 2001"), "{err}");

        let bad = PersonInfo { priority: "7".into(), id_number: "5".into(), ..PersonInfo::default() };
        assert!(bad.to_person().unwrap_err().to_string().contains("person 5: priority \"7\""));

        check_result::<PersonOperateCommand>(
            example!("26_person_operate_command"),
            example!("27_person_operate_result"),
        );
    }

    #[test]
    fn person_count_examples() {
        let (cmd, _) = round_trip::<PersonCountCommand>(example!("29_person_count_command"), &[]);
        assert!(cmd.requested());
        let (expected, out) = round_trip::<PersonCountResult>(example!("30_person_count_result"), &[]);
        assert_eq!(PersonCountResult::new(&cmd, "FaceDevice001", ErrorCode::Ok, "操作成功", 1000), expected);
        assert_has_keys(&out, &["msgType", "msgID", "deviceNo", "errorCode", "msg", "personNum"]);
    }

    #[test]
    fn person_info_examples() {
        let (cmd, _) = round_trip::<PersonInfoCommand>(example!("32_person_info_command"), &[]);
        assert!(cmd.requested());
        // The example's msgType onlineGetRegisterInfoResp is accepted.
        let (item, _) = round_trip::<PersonInfoItem>(example!("33_person_info_item"), &[]);
        assert_eq!(item.msg_type, "onlineGetRegisterInfoResp");
        assert_eq!((item.index.as_str(), item.person_num.as_str()), ("999", "1000"));
        let (ack, _) = round_trip::<PersonInfoAck>(example!("34_person_info_ack"), &[]);
        assert!(ack.acknowledges(999));
        assert!(!ack.acknowledges(998));

        // Building the item from a stored person gives the example's fields (photos aside).
        let operate: PersonOperateCommand = decode(example!("26_person_operate_command")).unwrap();
        let mut person = operate.persons[0].to_person().unwrap();
        person.valid_start = "2019_8_9".into();
        person.valid_end = "2029_8_9".into();
        person.extra.insert("birthday".into(), "1997 年 4 月 3 日".into());
        let header = ItemHeader {
            msg_id: "000002".into(),
            device_no: "FaceDevice001".into(),
            token: "1508845817".into(),
            total: 1000,
            index: 999,
        };
        let photo = PersonPhoto { slot: 2, photo_id: "654322".into(), jpeg: vec![0xff, 0xd8, 0xff] };
        let built = PersonInfoItem::new(&header, &person, std::slice::from_ref(&photo));
        assert_eq!(built.msg_type, "onlineGetRegisterResp", "the table's msgType is sent");
        let out: Value = serde_json::from_slice(&encode(&built)).unwrap();
        assert!(only_strings(&out));
        let example: Value = serde_json::from_slice(example!("33_person_info_item")).unwrap();
        assert_subset(
            &example,
            Some(&out),
            "",
            &["msgType", "registerPhoto1", "registerPhotoID1", "registerPhoto2", "registerPhotoID2"],
        );
        assert_eq!(out["registerPhoto2"], "/9j/");
        assert_eq!(out["registerPhotoID2"], "654322");
        let empty = PersonInfoItem::new(&header, &Person::default(), &[]);
        let out: Value = serde_json::from_slice(&encode(&empty)).unwrap();
        assert_has_keys(
            &out,
            &[
                "msgType",
                "msgID",
                "deviceNo",
                "token",
                "errorCode",
                "msg",
                "personNum",
                "index",
                "idNumber",
                "name",
                "validDateStart",
                "validDateEnd",
            ],
        );
        assert!(out.get("registerPhoto1").is_none());
    }

    #[test]
    fn upload_record_examples() {
        let (record, _) = round_trip::<UploadRecord>(example!("35_upload_record"), &[]);
        assert_eq!(record.pass_time, "2019-11-08 13:05:51.421");
        assert_eq!(record.location_x, "116.481499");
        assert_eq!(UploadRecord::from_fields(&record.to_fields()), record);

        let empty = UploadRecord::new("1001", "FaceDevice001", PROTOCOL_VERSION);
        let out: Value = serde_json::from_slice(&encode(&empty)).unwrap();
        let required = [
            "msgType",
            "msgID",
            "version",
            "deviceNo",
            "snapType",
            "compareResult",
            "passTime",
            "idNumber",
            "name",
            "validDateStart",
            "validDateEnd",
            "visitorVoiceText",
            "inOutMode",
            "recognitionPhoto",
            "offLineRecordNum",
        ];
        assert_has_keys(&out, &required);
        let mut sorted = keys(&out);
        sorted.sort_unstable();
        let mut required = required.to_vec();
        required.sort_unstable();
        assert_eq!(sorted, required, "empty optional fields are left out");
        assert_eq!(out["offLineRecordNum"], "0");

        let (resp, _) = round_trip::<UploadRecordResp>(example!("36_upload_record_resp"), &[]);
        assert_eq!(resp.msg_id, "1001");
        assert_eq!(resp.control(), Some(true));
        assert_eq!(UploadRecordResp { control_state: "CLOSE".into(), ..resp.clone() }.control(), Some(false));
        assert_eq!(UploadRecordResp::default().control(), None);
    }

    #[test]
    fn photo_examples() {
        let (cmd, _) = round_trip::<PhotoCommand>(example!("38_photo_command"), &[]);
        assert!(cmd.requested());
        assert_eq!(cmd.photo_type, "0");
        let (expected, _) = round_trip::<PhotoResult>(example!("39_photo_result"), &[]);
        assert_eq!(PhotoResult::new(&cmd, "FaceDevice001", ErrorCode::Ok, "操作成功", None), expected);
        let with = PhotoResult::new(&cmd, "d", ErrorCode::Ok, "", Some(&[0xfe, 0x03, 0x01, 0x00, 0x02]));
        assert_eq!(with.photo, "/gMBAAI=");
        let out: Value = serde_json::from_slice(&encode(&with)).unwrap();
        assert_has_keys(&out, &["msgType", "msgID", "deviceNo", "errorCode", "msg", "photo"]);
    }

    #[test]
    fn get_records_examples() {
        let (cmd, _) = round_trip::<GetRecordsCommand>(example!("44_get_records_command"), &[]);
        assert!(cmd.requested());
        assert_eq!(cmd.snap_time_start, "20200601120000000");
        // The item example carries uploadRecord fields the face/get table does not have.
        let extra = ["version", "sex", "birth", "company", "department"];
        let (item, _) = round_trip::<RecordItem>(example!("45_record_item"), &extra);
        assert_eq!(item.token, "1508845817");
        let (ack, _) = round_trip::<RecordAck>(example!("46_record_ack"), &[]);
        assert!(ack.acknowledges(999));

        // A stored record becomes an item with the example's values.
        let record: UploadRecord = decode(example!("35_upload_record")).unwrap();
        let header = ItemHeader {
            msg_id: "1001".into(),
            device_no: "FaceDevice001".into(),
            token: "1508845817".into(),
            total: 1000,
            index: 999,
        };
        let built = RecordItem::new(&header, &record);
        let out: Value = serde_json::from_slice(&encode(&built)).unwrap();
        let example: Value = serde_json::from_slice(example!("45_record_item")).unwrap();
        assert_subset(&example, Some(&out), "", &extra);
        assert_has_keys(
            &out,
            &[
                "msgType",
                "msgID",
                "deviceNo",
                "token",
                "errorCode",
                "msg",
                "recordNum",
                "index",
                "snapType",
                "compareResult",
                "passTime",
                "idNumber",
                "name",
                "validDateStart",
                "validDateEnd",
                "visitorVoiceText",
                "inOutMode",
                "recognitionPhoto",
            ],
        );
        assert_eq!((out["recordNum"].as_str(), out["index"].as_str()), (Some("1000"), Some("999")));
    }

    #[test]
    fn all_46_spec_examples_are_present() {
        // The tests above name each file; this catches a file added without a test.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol/testdata");
        let count = std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
            .count();
        assert_eq!(count, 46);
    }

    #[test]
    fn quirky_spec_variants_decode() {
        // As printed in the spec before cleaning (where it is still JSON): trailing-space keys,
        // values with stray spaces, a number flag, a duplicate key.
        let reboot =
            br#"{"msgType ":" onlineRebootResp","msgID":"000002","deviceNo":"FaceDevice001","isOnlineReboot":"1"}"#;
        assert!(decode_message::<RebootCommand>(reboot).unwrap().requested());
        let broadcast = r#"{"msgType":"onlineBroadcastResp","msgID":"000002","deviceNo":"FaceDevice001",
            "isonlineBroadcast":"1","voiceMsg ":"欢迎光临","displayMsg":"欢迎光临"}"#;
        let cmd: BroadcastCommand = decode_message(broadcast.as_bytes()).unwrap();
        assert_eq!(cmd.voice_msg, "欢迎光临");
        let set_dev = br#"{"msgType ":"onlineSetDevInfoResp","msgID":"1","isOnlineSetDevInfo":"1",
            "faceRFIDCardEnable":0,"passTime":" 06:00-09:00; 18:00-21:00"}"#;
        let cmd: SetDevInfoCommand = decode_message(set_dev).unwrap();
        assert_eq!(cmd.params["faceRFIDCardEnable"], "0");
        assert_eq!(cmd.params["passTime"], "06:00-09:00; 18:00-21:00");
        let record = r#"{"msgType":"uploadRecord","compareResult":" 0","passTime":" 2019-11-08 13:05:51.421",
            "birth":"1998 年 8 月 9 日 ","company":" XX 科技有限公司","visitorVoiceText":" ",
            "recognitionPhoto":" ","visitorVoiceText":"欢迎光临"}"#;
        let rec: UploadRecord = decode_message(record.as_bytes()).unwrap();
        assert_eq!(rec.compare_result, "0");
        assert_eq!(rec.pass_time, "2019-11-08 13:05:51.421");
        assert_eq!(rec.birth, "1998 年 8 月 9 日");
        assert_eq!(rec.company, "XX 科技有限公司");
        assert_eq!(rec.visitor_voice_text, "欢迎光临");
        assert_eq!(rec.recognition_photo, "");
        let resp = br#"{"msgType":"uploadRecordResp ","msgID":"1001","errorCode":"100","controlState":" open "}"#;
        assert_eq!(decode_message::<UploadRecordResp>(resp).unwrap().control(), Some(true));
        let dev_info = br#"{"msgType":" uploadDevInfoResp ","deviceNo":"FaceDevice001","errorCode":"100"}"#;
        assert!(decode_message::<UploadDevInfoResp>(dev_info).is_ok());
        let keep_alive = br#"{"msgType":"keepAliveResp","registerTime":"1536811918 ","errorCode":100}"#;
        let ka: KeepAliveResp = decode_message(keep_alive).unwrap();
        assert_eq!((ka.register_time.as_str(), ka.error_code.as_str()), ("1536811918", "100"));
    }
}
