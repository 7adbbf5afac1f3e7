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
//! The messages are grouped by area, each file with the tests of its spec examples: `session`
//! (register, heartbeat, poll requests), `device` (open, update, reboot, setDevInfo, broadcast,
//! setTime, uploadDevInfo, photo), `person` (operate, count, info) and `record` (uploadRecord,
//! face/get, face/clear). Every type is re-exported here.
//!
//! Keys are sent lower-camel-case as the spec's rule says (L25–27), i.e. `registerPhotoID2` and
//! `registerPhoto3` as in its examples, not the tables' `RegisterPhotoID2`/`RegisterPhoto3`.

use serde::{Deserialize, Serialize};

use super::Message;
use super::codes::ErrorCode;

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

// The areas come after the macros above, which they use.
mod device;
mod person;
mod record;
mod session;

pub use device::*;
pub use person::*;
pub use record::*;
pub use session::*;

/// Helpers the areas' tests share: the spec's examples and the round-trip checks.
#[cfg(test)]
mod test_support {
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;
    use crate::protocol::{decode, decode_message, encode, only_strings};

    /// The bytes of a spec example in `src/protocol/testdata`.
    macro_rules! example {
        ($name:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/protocol/testdata/", $name, ".json")).as_slice()
        };
    }
    pub(crate) use example;

    /// Every key of `expected` holds the same value in `actual`; an absent key in `actual`
    /// counts as "" (optional fields that are empty are not sent).
    pub(crate) fn assert_subset(expected: &Value, actual: Option<&Value>, path: &str, ignored: &[&str]) {
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
    pub(crate) fn round_trip<T>(example: &[u8], ignored: &[&str]) -> (T, Value)
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

    pub(crate) fn keys(value: &Value) -> Vec<&str> {
        value.as_object().unwrap().keys().map(String::as_str).collect()
    }

    pub(crate) fn assert_has_keys(value: &Value, required: &[&str]) {
        for k in required {
            assert!(value.get(*k).is_some_and(Value::is_string), "required field {k} missing in {value}");
        }
    }

    /// Checks a plain result example against the result built from its command.
    pub(crate) fn check_result<C: Command + DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode_message;

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
        assert_eq!(rec.body.compare_result, "0");
        assert_eq!(rec.body.pass_time, "2019-11-08 13:05:51.421");
        assert_eq!(rec.body.birth, "1998 年 8 月 9 日");
        assert_eq!(rec.body.company, "XX 科技有限公司");
        assert_eq!(rec.body.visitor_voice_text, "欢迎光临");
        assert_eq!(rec.body.recognition_photo, "");
        let resp = br#"{"msgType":"uploadRecordResp ","msgID":"1001","errorCode":"100","controlState":" open "}"#;
        assert_eq!(decode_message::<UploadRecordResp>(resp).unwrap().control(), Some(true));
        let dev_info = br#"{"msgType":" uploadDevInfoResp ","deviceNo":"FaceDevice001","errorCode":"100"}"#;
        assert!(decode_message::<UploadDevInfoResp>(dev_info).is_ok());
        let keep_alive = br#"{"msgType":"keepAliveResp","registerTime":"1536811918 ","errorCode":100}"#;
        let ka: KeepAliveResp = decode_message(keep_alive).unwrap();
        assert_eq!((ka.register_time.as_str(), ka.error_code.as_str()), ("1536811918", "100"));
    }
}
