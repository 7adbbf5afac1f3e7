//! The device's commands and results: device/open, update, reboot, setDevInfo, broadcast,
//! setTime, uploadDevInfo and face/photo.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Command, CommandResult};
use crate::protocol::Message;
use crate::protocol::binary::encode_base64;
use crate::protocol::codes::ErrorCode;

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
    /// [`crate::protocol::DeviceParams::apply`].
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
    /// Base64 bytes to send on RS485 (see [`crate::protocol::binary::decode_base64`]).
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
    /// Local time `yyyy-MM-dd HH:mm:ss.S`; see [`crate::protocol::time::parse_set_time`].
    pub time_stamp: String,
}
command!(SetTimeCommand, is_online_set_time, "onlineSetTimeResp", "onlineOpenResp");

// device/uploadDevInfo

/// `uploadDevInfo`: every device parameter and identity field (device → cloud), built by
/// [`crate::protocol::DeviceParams::to_upload`].
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::test_support::*;
    use super::*;
    use crate::protocol::{DeviceParams, decode_message, encode};

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
}
