//! The cloud protocol: typed messages, lenient decoding, strict encoding, the services table,
//! the registration signature, time formats, error codes and device parameters.
//!
//! Pure code, no I/O. What goes out is strict: every value is a JSON string, never null (the
//! spec's devices "do not support null", L33–35). What comes in is accepted leniently, because
//! the spec's own examples break its rules (stray spaces in keys and values, numbers where
//! strings are due, key case variants, duplicate keys, an array where a string is declared).
//!
//! Lenient decoding ([`decode`]) normalises the parsed JSON before it is mapped onto a struct:
//! - keys are trimmed of spaces (`"msgType "` is `msgType`);
//! - key spellings the spec itself mixes are mapped to one canonical spelling
//!   (`PersonInfoData`, `RegisterPhotoID2`, `RegisterPhoto3`, the `isOnline…`/`isonline…` flags);
//! - numbers become their decimal text, `true` becomes `"1"` and `false` `"0"`;
//! - `null` is dropped, so the field counts as absent (every incoming field defaults to `""`);
//! - leading and trailing spaces of string values are trimmed, except in free text where they
//!   can be meant: announcements and display texts (`msg`, `voiceMsg`, `displayMsg`, `banner`,
//!   `overlayDeviceName`, every `…Content`/`…Text`/`…BeforeName` field, where "Hello " + name
//!   needs its space) and passwords and keys (trimming would silently change a secret);
//! - on duplicate keys the last one in the document wins, also when two keys differ only by
//!   stray spaces or by a case variant;
//! - `personInfoData` may be an array of persons, a single person object, or a string holding
//!   either as JSON (the spec's table declares it a string).

pub mod binary;
pub mod codes;
pub mod devinfo;
pub mod messages;
pub mod services;
pub mod sign;
pub mod time;

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

pub use codes::ErrorCode;
pub use devinfo::{Applied, DeviceIdentity, DeviceParams, ParamErrors};
pub use messages::*;
pub use services::{Service, ServiceTable};
pub use sign::register_sign;

/// The key under which person/operate carries its persons.
const PERSON_INFO_DATA: &str = "personInfoData";

/// Keys whose case the spec spells inconsistently; any ASCII case of them maps to the spelling
/// given here (the one the message structs use).
const CASE_VARIANT_KEYS: &[&str] = &[
    PERSON_INFO_DATA,
    "registerPhoto1",
    "registerPhoto2",
    "registerPhoto3",
    "registerPhotoID1",
    "registerPhotoID2",
    "registerPhotoID3",
    "isOnlineOpen",
    "isOnlineUpdate",
    "isOnlineReboot",
    "isOnlineSetDevInfo",
    "isonlineBroadcast",
    "isonlineSetTime",
    "isonlineGetRegisterCount",
    "isonlineGetRegister",
    "isonlineGetPhoto",
    "isonlineDeleteRecord",
    "isonlineGetRecord",
];

/// Why an incoming body could not be turned into the expected message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The body was empty or only whitespace.
    Empty,
    /// The body is not valid JSON; holds the parser's message with line and column.
    NotJson(String),
    /// The body is valid JSON but not an object; holds what it is ("array", "string", ...).
    NotObject(&'static str),
    /// The message has no `msgType`; holds the accepted types.
    MissingMsgType {
        /// The msgTypes that would have been accepted, quoted and joined with "or".
        expected: String,
    },
    /// The message has another `msgType` than the one expected here.
    WrongMsgType {
        /// The msgTypes that would have been accepted, quoted and joined with "or".
        expected: String,
        /// The msgType the message carries.
        found: String,
    },
    /// A field has the wrong shape, e.g. an object where a string is due.
    Field {
        /// The field's path, e.g. `personInfoData[0].name`.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Any other mismatch between the message and the expected structure.
    Shape(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "empty body where a JSON object was expected"),
            DecodeError::NotJson(e) => write!(f, "body is not valid JSON ({e})"),
            DecodeError::NotObject(kind) => {
                write!(f, "body is a JSON {kind} where a JSON object was expected")
            }
            DecodeError::MissingMsgType { expected } => {
                write!(f, "message has no msgType (expected {expected})")
            }
            DecodeError::WrongMsgType { expected, found } => {
                write!(f, "unexpected msgType \"{found}\" (expected {expected})")
            }
            DecodeError::Field { path, problem } => write!(f, "field `{path}` {problem}"),
            DecodeError::Shape(e) => write!(f, "message does not have the expected fields: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeError> for crate::Error {
    fn from(e: DecodeError) -> crate::Error {
        crate::Error::Protocol(e.to_string())
    }
}

/// A message type of the protocol with the `msgType` values it is known by.
///
/// The first value is the one the spec's table gives and the one facegate sends; later values
/// are spellings the spec's examples use instead and that are accepted on input.
pub trait Message {
    /// Accepted `msgType` values, the table's spelling first.
    const MSG_TYPES: &'static [&'static str];

    /// The `msgType` facegate sends for this message.
    fn msg_type_name() -> &'static str {
        Self::MSG_TYPES[0]
    }
}

/// Decodes a body leniently (see the module documentation) into `T`, without checking `msgType`.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let map = parse_object(body)?;
    from_map(map)
}

/// Decodes a body leniently into `T` and checks that its `msgType` is one `T` is known by.
pub fn decode_message<T: DeserializeOwned + Message>(body: &[u8]) -> Result<T, DecodeError> {
    let map = parse_object(body)?;
    let expected = || T::MSG_TYPES.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" or ");
    match map.get("msgType") {
        Some(Value::String(found)) if T::MSG_TYPES.contains(&found.as_str()) => {}
        Some(Value::String(found)) if !found.is_empty() => {
            return Err(DecodeError::WrongMsgType { expected: expected(), found: found.clone() });
        }
        Some(Value::String(_)) | None => {
            return Err(DecodeError::MissingMsgType { expected: expected() });
        }
        Some(other) => {
            return Err(DecodeError::Field {
                path: "msgType".to_string(),
                problem: format!("is {} where a string is due", kind_with_article(other)),
            });
        }
    }
    from_map(map)
}

/// Encodes an outgoing message as compact JSON.
///
/// Outgoing messages hold only strings (or arrays and objects of strings), so the output never
/// contains null, a number or a boolean; debug builds assert this.
pub fn encode<T: serde::Serialize>(msg: &T) -> Vec<u8> {
    #[cfg(debug_assertions)]
    {
        let value = serde_json::to_value(msg).expect("outgoing messages serialise to JSON");
        debug_assert!(only_strings(&value), "outgoing message holds a non-string value: {value}");
    }
    // Serialising structs of strings and string maps cannot fail.
    serde_json::to_vec(msg).expect("outgoing messages serialise to JSON")
}

/// The trimmed `msgType` of a body, for dispatch and logs; `None` if the body is not a JSON
/// object or has no `msgType`. Only the top level is looked at, so a malformed field elsewhere
/// does not hide the type.
pub fn msg_type(body: &[u8]) -> Option<String> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let Ok(Raw::Object(fields)) = serde_json::from_slice::<Raw>(body) else {
        return None;
    };
    let found = fields.into_iter().rev().find(|(k, _)| k.trim() == "msgType")?;
    match normalise(found.1, "msgType") {
        Ok(Some(Value::String(s))) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// True when `value` holds no null, number or boolean anywhere: the protocol's rule for what a
/// device may send (L33–35).
pub fn only_strings(value: &Value) -> bool {
    match value {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(only_strings),
        Value::Object(map) => map.values().all(only_strings),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Parses a body into a normalised JSON object.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    match normalise(raw, "")? {
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(DecodeError::NotObject(kind(&other))),
        None => Err(DecodeError::NotObject("null")),
    }
}

/// Maps a normalised object onto `T`, naming the offending field when that fails.
fn from_map<T: DeserializeOwned>(map: Map<String, Value>) -> Result<T, DecodeError> {
    match serde_json::from_value::<T>(Value::Object(map.clone())) {
        Ok(msg) => Ok(msg),
        Err(e) => Err(locate_error::<T>(&map).unwrap_or_else(|| DecodeError::Shape(e.to_string()))),
    }
}

/// Finds the field that makes `map` fail to decode as `T`.
///
/// After normalisation every scalar is a string, so only an array or object can be out of
/// place: the culprit is the container whose removal lets the message decode.
fn locate_error<T: DeserializeOwned>(map: &Map<String, Value>) -> Option<DecodeError> {
    for (key, value) in map {
        if !matches!(value, Value::Array(_) | Value::Object(_)) {
            continue;
        }
        let mut without = map.clone();
        without.remove(key);
        if serde_json::from_value::<T>(Value::Object(without)).is_ok() {
            return Some(describe_misplaced(key, value));
        }
    }
    None
}

/// Describes a misplaced container; inside the protocol's one list of objects
/// (`personInfoData`), names the nested field.
fn describe_misplaced(key: &str, value: &Value) -> DecodeError {
    if let (PERSON_INFO_DATA, Value::Array(items)) = (key, value) {
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::Object(fields) => {
                    for (field, inner) in fields {
                        if matches!(inner, Value::Array(_) | Value::Object(_)) {
                            return DecodeError::Field {
                                path: format!("{key}[{i}].{field}"),
                                problem: format!("is {} where a string is due", kind_with_article(inner)),
                            };
                        }
                    }
                }
                other => {
                    return DecodeError::Field {
                        path: format!("{key}[{i}]"),
                        problem: format!("is {} where an object is due", kind_with_article(other)),
                    };
                }
            }
        }
    }
    DecodeError::Field {
        path: key.to_string(),
        problem: format!("is {} where a string is due", kind_with_article(value)),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn kind_with_article(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
    }
}

/// Whether a string value under `key` keeps its leading and trailing spaces (free text and
/// secrets; see the module documentation).
fn keeps_spaces(key: &str) -> bool {
    matches!(
        key,
        "msg"
            | "voiceMsg"
            | "displayMsg"
            | "banner"
            | "overlayDeviceName"
            | "password"
            | "devicePassword"
            | "wirelessPassword"
            | "wirelessSsid"
            | "loginKey"
    ) || key.ends_with("Content")
        || key.ends_with("Text")
        || key.ends_with("BeforeName")
}

/// The canonical spelling of a trimmed key.
fn canonical_key(key: &str) -> String {
    CASE_VARIANT_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)).map_or_else(|| key.to_string(), |k| (*k).to_string())
}

/// Normalises a parsed value found under `key` ("" at the top); `None` means absent (null).
fn normalise(raw: Raw, key: &str) -> Result<Option<Value>, DecodeError> {
    Ok(Some(match raw {
        Raw::Null => return Ok(None),
        Raw::Bool(b) => Value::String(if b { "1" } else { "0" }.to_string()),
        Raw::Number(n) => Value::String(n),
        Raw::Str(s) => {
            if key == PERSON_INFO_DATA {
                return person_info_from_text(&s);
            }
            if keeps_spaces(key) { Value::String(s) } else { Value::String(s.trim().to_string()) }
        }
        Raw::Array(items) => {
            // Elements inherit the key for trimming; only personInfoData's own value may be
            // JSON text, not its elements.
            let item_key = if key == PERSON_INFO_DATA { "" } else { key };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(v) = normalise(item, item_key)? {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        Raw::Object(fields) => {
            let mut map = Map::new();
            for (k, v) in fields {
                let k = canonical_key(k.trim());
                // Insertion in document order makes the last duplicate win; a null also
                // removes an earlier value of the same key.
                match normalise(v, &k)? {
                    Some(v) => {
                        let v = if k == PERSON_INFO_DATA { as_person_list(v) } else { v };
                        map.insert(k, v);
                    }
                    None => {
                        map.remove(&k);
                    }
                }
            }
            Value::Object(map)
        }
    }))
}

/// Wraps a single person object, sent without the array around it, into a list.
fn as_person_list(value: Value) -> Value {
    match value {
        Value::Object(_) => Value::Array(vec![value]),
        other => other,
    }
}

/// `personInfoData` given as a string: empty means no persons, otherwise it must hold JSON.
fn person_info_from_text(text: &str) -> Result<Option<Value>, DecodeError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let raw: Raw = serde_json::from_str(text).map_err(|e| DecodeError::Field {
        path: PERSON_INFO_DATA.to_string(),
        problem: format!("holds text that is not a JSON list of persons ({e})"),
    })?;
    match raw {
        Raw::Str(_) => Err(DecodeError::Field {
            path: PERSON_INFO_DATA.to_string(),
            problem: "holds a JSON string where a list of persons is due".to_string(),
        }),
        other => Ok(normalise(other, "")?.map(as_person_list)),
    }
}

/// A parsed JSON value that keeps the document order of object members, so that the last
/// of several duplicate (or nearly duplicate) keys can win.
enum Raw {
    Null,
    Bool(bool),
    /// A number, kept as its decimal text.
    Number(String),
    Str(String),
    Array(Vec<Raw>),
    Object(Vec<(String, Raw)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        // serde_json's own formatting: shortest text that reads back the same (37.3, 1.0).
        Ok(Raw::Number(serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string())))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Raw, A::Error> {
        let mut fields = Vec::new();
        while let Some((k, v)) = access.next_entry::<String, Raw>()? {
            fields.push((k, v));
        }
        Ok(Raw::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T: DeserializeOwned + Message + fmt::Debug>(body: &str) -> DecodeError {
        decode_message::<T>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn keys_and_values_are_trimmed() {
        let body = br#"{"msgType ":" onlineRebootResp","msgID":" 000002 ","deviceNo":"FaceDevice001 ",
            " isOnlineReboot ":" 1"}"#;
        let cmd: RebootCommand = decode_message(body).unwrap();
        assert_eq!(cmd.msg_type, "onlineRebootResp");
        assert_eq!(cmd.msg_id, "000002");
        assert_eq!(cmd.device_no, "FaceDevice001");
        assert!(cmd.requested());
        let req: PollReq = decode(br#"{"msgType":" onlineUpdateReq ","deviceNo":"d","version":" V1.0"}"#).unwrap();
        assert_eq!(req, PollReq::new("onlineUpdateReq", "d", "V1.0"));
    }

    #[test]
    fn free_text_keeps_its_spaces() {
        let body = r#"{"msgType":"onlineOpenResp","msgID":"1","isOnlineOpen":"1","msg":" 欢迎 光临 "}"#;
        let cmd: OpenCommand = decode(body.as_bytes()).unwrap();
        assert_eq!(cmd.msg, " 欢迎 光临 ");
        let body = r#"{"msgType":"onlineSetDevInfoResp","isOnlineSetDevInfo":"1",
            "displayTextContentBeforeName":"Hello ","devicePassword":" pw ","voiceVolume":" 5 ",
            "banner":" news "}"#;
        let cmd: SetDevInfoCommand = decode(body.as_bytes()).unwrap();
        assert_eq!(cmd.params["displayTextContentBeforeName"], "Hello ");
        assert_eq!(cmd.params["devicePassword"], " pw ");
        assert_eq!(cmd.params["banner"], " news ");
        assert_eq!(cmd.params["voiceVolume"], "5");
        let body = r#"{"personInfoData":[{"name":" 张三 ","password":"12 ","visitorVoiceText":" 欢迎 ",
            "registerPhotoID1":"1 "}]}"#;
        let cmd: PersonOperateCommand = decode(body.as_bytes()).unwrap();
        let p = &cmd.persons[0];
        assert_eq!(p.name, "张三");
        assert_eq!(p.password, "12 ");
        assert_eq!(p.visitor_voice_text, " 欢迎 ");
        assert_eq!(p.register_photo_id1, "1");
    }

    #[test]
    fn numbers_and_booleans_become_strings() {
        let body = br#"{"msgType":"onlineSetDevInfoResp","isOnlineSetDevInfo":true,
            "faceRFIDCardEnable":0,"faceFeverTemperature":37.3,"openDoorTimeDelayMs":10000,
            "alwaysOpenDoor":false,"ntpCycle":-1,"faceDetectBoxScore":1e2}"#;
        let cmd: SetDevInfoCommand = decode_message(body).unwrap();
        assert!(cmd.requested());
        assert_eq!(cmd.params["faceRFIDCardEnable"], "0");
        assert_eq!(cmd.params["faceFeverTemperature"], "37.3");
        assert_eq!(cmd.params["openDoorTimeDelayMs"], "10000");
        assert_eq!(cmd.params["alwaysOpenDoor"], "0");
        assert_eq!(cmd.params["ntpCycle"], "-1");
        assert_eq!(cmd.params["faceDetectBoxScore"], "100.0");
        let r: PersonCountResult =
            decode(br#"{"msgType":"onlineGetRegisterCountResp","personNum":1000,"errorCode":100}"#).unwrap();
        assert_eq!(r.person_num, "1000");
        assert_eq!(r.result.error_code, "100");
    }

    #[test]
    fn null_is_absent() {
        let body = br#"{"msgType":"onlineOpenResp","msgID":null,"isOnlineOpen":"1","msg":null}"#;
        let cmd: OpenCommand = decode(body).unwrap();
        assert_eq!(cmd.msg_id, "");
        assert_eq!(cmd.msg, "");
        // A later null also removes an earlier value of the same key.
        let cmd: OpenCommand = decode(br#"{"msg":"x","msg ":null}"#).unwrap();
        assert_eq!(cmd.msg, "");
        let cmd: SetDevInfoCommand = decode(br#"{"banner":null,"voiceVolume":"3"}"#).unwrap();
        assert_eq!(cmd.params.keys().collect::<Vec<_>>(), ["voiceVolume"]);
        let cmd: PersonOperateCommand = decode(br#"{"personInfoData":null}"#).unwrap();
        assert!(cmd.persons.is_empty());
    }

    #[test]
    fn last_duplicate_wins() {
        let record: UploadRecord =
            decode(r#"{"visitorVoiceText":" ","visitorVoiceText":"欢迎光临"}"#.as_bytes()).unwrap();
        assert_eq!(record.body.visitor_voice_text, "欢迎光临");
        let a: OpenCommand = decode(br#"{"msgType ":"a","msgType":"b"}"#).unwrap();
        assert_eq!(a.msg_type, "b");
        let b: OpenCommand = decode(br#"{"msgType":"b","msgType ":"a"}"#).unwrap();
        assert_eq!(b.msg_type, "a");
        let c: BroadcastCommand = decode(br#"{"isonlineBroadcast":"0","isOnlineBroadcast":"1"}"#).unwrap();
        assert_eq!(c.is_online_broadcast, "1");
        let d: PersonOperateCommand =
            decode(br#"{"personInfoData":[{"idNumber":"1"}],"PersonInfoData":[{"idNumber":"2"}]}"#).unwrap();
        assert_eq!(d.persons.len(), 1);
        assert_eq!(d.persons[0].id_number, "2");
        let e: SetDevInfoCommand = decode(br#"{"faceRFIDCardEnable":"1","faceRFIDCardEnable":0}"#).unwrap();
        assert_eq!(e.params["faceRFIDCardEnable"], "0");
    }

    #[test]
    fn key_case_variants_of_the_spec() {
        let body = br#"{"msgType":"registerPersonInfoResp","isRegisterPersonInfo":"1",
            "PersonInfoData":[{"operateType":"0","idNumber":"7","registerPhoto1":"AAEC",
            "registerPhotoID1":"1","registerPhoto2":"AwQ=","RegisterPhotoID2":"2",
            "RegisterPhoto3":"BQ==","registerPhotoID3":"3"}]}"#;
        let cmd: PersonOperateCommand = decode_message(body).unwrap();
        let p = &cmd.persons[0];
        assert_eq!((p.register_photo_id2.as_str(), p.register_photo3.as_str()), ("2", "BQ=="));
        let photos = p.decode_photos().unwrap();
        assert_eq!(
            photos.iter().map(|f| (f.slot, f.photo_id.as_str())).collect::<Vec<_>>(),
            [(1, "1"), (2, "2"), (3, "3")]
        );
        assert_eq!(photos[2].jpeg, [5]);

        type Requested = fn(&[u8]) -> bool;
        let flags: [(&str, Requested); 11] = [
            ("isonlineOpen", |b| decode::<OpenCommand>(b).unwrap().requested()),
            ("isonlineUpdate", |b| decode::<UpdateCommand>(b).unwrap().requested()),
            ("isonlineReboot", |b| decode::<RebootCommand>(b).unwrap().requested()),
            ("isonlineSetDevInfo", |b| decode::<SetDevInfoCommand>(b).unwrap().requested()),
            ("isOnlineBroadcast", |b| decode::<BroadcastCommand>(b).unwrap().requested()),
            ("isOnlineSetTime", |b| decode::<SetTimeCommand>(b).unwrap().requested()),
            ("isOnlineGetRegisterCount", |b| decode::<PersonCountCommand>(b).unwrap().requested()),
            ("isOnlineGetRegister", |b| decode::<PersonInfoCommand>(b).unwrap().requested()),
            ("isOnlineGetPhoto", |b| decode::<PhotoCommand>(b).unwrap().requested()),
            ("isOnlineDeleteRecord", |b| decode::<ClearRecordsCommand>(b).unwrap().requested()),
            ("isOnlineGetRecord", |b| decode::<GetRecordsCommand>(b).unwrap().requested()),
        ];
        for (key, requested) in flags {
            let body = format!(r#"{{"{key}":"1"}}"#);
            assert!(requested(body.as_bytes()), "{key}");
            let body = format!(r#"{{"{key}":"0"}}"#);
            assert!(!requested(body.as_bytes()), "{key}");
        }
        // The flag that is not set stays unset: a different flag does not leak.
        assert!(!decode::<OpenCommand>(br#"{"isOnlineReboot":"1"}"#).unwrap().requested());
    }

    #[test]
    fn person_info_data_forms() {
        let person = r#"{"operateType":"2","idNumber":"2001"}"#;
        let forms = [
            format!(r#"{{"personInfoData":[{person}]}}"#),
            format!(r#"{{"personInfoData":{person}}}"#),
            format!(r#"{{"personInfoData":{}}}"#, serde_json::to_string(&format!("[{person}]")).unwrap()),
            format!(r#"{{"PersonInfoData":{}}}"#, serde_json::to_string(&format!(" {person} ")).unwrap()),
            format!(r#"{{"personinfodata ":[{person}]}}"#),
        ];
        for body in &forms {
            let cmd: PersonOperateCommand = decode(body.as_bytes()).unwrap();
            assert_eq!(cmd.persons.len(), 1, "{body}");
            assert_eq!(cmd.persons[0].id_number, "2001", "{body}");
            assert_eq!(cmd.persons[0].operation(), Some(PersonOperation::Delete), "{body}");
        }
        // Numbers inside a person given as a JSON string are normalised too.
        let body = r#"{"personInfoData":"[{\"idNumber\":2001,\"priority\":1}]"}"#;
        let cmd: PersonOperateCommand = decode(body.as_bytes()).unwrap();
        assert_eq!((cmd.persons[0].id_number.as_str(), cmd.persons[0].priority.as_str()), ("2001", "1"));
        for empty in [r#"{"personInfoData":""}"#, r#"{"personInfoData":" "}"#, r#"{"personInfoData":[]}"#, "{}"] {
            let cmd: PersonOperateCommand = decode(empty.as_bytes()).unwrap();
            assert!(cmd.persons.is_empty(), "{empty}");
        }
    }

    #[test]
    fn misplaced_containers_are_named() {
        let e = err::<OpenCommand>(r#"{"msgType":"onlineOpenResp","msg":{"text":"hi"}}"#);
        assert_eq!(e, DecodeError::Field { path: "msg".into(), problem: "is an object where a string is due".into() });
        assert_eq!(e.to_string(), "field `msg` is an object where a string is due");
        let e = err::<OpenCommand>(r#"{"msgType":"onlineOpenResp","msgID":["1"]}"#);
        assert_eq!(e.to_string(), "field `msgID` is an array where a string is due");
        let e = err::<PersonOperateCommand>(
            r#"{"msgType":"registerPersonInfoResp","personInfoData":[{"idNumber":"1"},{"name":{"first":"a"}}]}"#,
        );
        assert_eq!(e.to_string(), "field `personInfoData[1].name` is an object where a string is due");
        let e = err::<PersonOperateCommand>(r#"{"msgType":"registerPersonInfoResp","personInfoData":["x"]}"#);
        assert_eq!(e.to_string(), "field `personInfoData[0]` is a string where an object is due");
        let e = err::<PersonOperateCommand>(r#"{"msgType":"registerPersonInfoResp","personInfoData":"not json"}"#);
        assert!(
            e.to_string().starts_with("field `personInfoData` holds text that is not a JSON list of persons"),
            "{e}"
        );
        let e = err::<SetDevInfoCommand>(r#"{"msgType":"onlineSetDevInfoResp","banner":{"a":"b"}}"#);
        assert_eq!(e.to_string(), "field `banner` is an object where a string is due");
        let e = err::<OpenCommand>(r#"{"msgType":{"a":"b"}}"#);
        assert_eq!(e.to_string(), "field `msgType` is an object where a string is due");
    }

    #[test]
    fn bodies_that_are_not_messages() {
        assert_eq!(decode::<OpenCommand>(b"").unwrap_err(), DecodeError::Empty);
        assert_eq!(decode::<OpenCommand>(b" \r\n").unwrap_err(), DecodeError::Empty);
        let e = decode::<OpenCommand>(b"<html>502 Bad Gateway</html>").unwrap_err();
        assert!(matches!(e, DecodeError::NotJson(_)));
        assert!(e.to_string().starts_with("body is not valid JSON (") && e.to_string().contains("line 1"), "{e}");
        let e = decode::<OpenCommand>(br#"{"msgType":"onlineOpenResp","#).unwrap_err();
        assert!(matches!(e, DecodeError::NotJson(_)), "{e}");
        assert_eq!(decode::<OpenCommand>(b"[]").unwrap_err(), DecodeError::NotObject("array"));
        assert_eq!(decode::<OpenCommand>(b"null").unwrap_err(), DecodeError::NotObject("null"));
        assert_eq!(
            decode::<OpenCommand>(b"\"text\"").unwrap_err().to_string(),
            "body is a JSON string where a JSON object was expected"
        );
        // A UTF-8 byte-order mark is tolerated.
        let cmd: OpenCommand = decode("\u{feff}{\"msg\":\"x\"}".as_bytes()).unwrap();
        assert_eq!(cmd.msg, "x");
        // Unknown keys are ignored.
        let cmd: OpenCommand = decode(br#"{"msg":"x","extra":{"deep":[1,2]}}"#).unwrap();
        assert_eq!(cmd.msg, "x");
    }

    #[test]
    fn msg_type_is_checked() {
        let e = err::<OpenCommand>(r#"{"msgType":"onlineRebootResp"}"#);
        assert_eq!(e.to_string(), r#"unexpected msgType "onlineRebootResp" (expected "onlineOpenResp")"#);
        let e = err::<SetTimeCommand>(r#"{"msgType":"keepAliveResp"}"#);
        assert_eq!(
            e.to_string(),
            r#"unexpected msgType "keepAliveResp" (expected "onlineSetTimeResp" or "onlineOpenResp")"#
        );
        let e = err::<OpenCommand>(r#"{"msgID":"1"}"#);
        assert_eq!(e.to_string(), r#"message has no msgType (expected "onlineOpenResp")"#);
        let e = err::<OpenCommand>(r#"{"msgType":" "}"#);
        assert!(matches!(e, DecodeError::MissingMsgType { .. }));
        assert!(decode_message::<OpenCommand>(br#"{"msgType ":" onlineOpenResp "}"#).is_ok());
        let as_error: crate::Error = e.into();
        assert!(as_error.to_string().starts_with("protocol: message has no msgType"));
    }

    #[test]
    fn msg_type_of_a_body() {
        assert_eq!(msg_type(br#"{"msgType ":" keepAliveResp ","x":1}"#).as_deref(), Some("keepAliveResp"));
        assert_eq!(msg_type(br#"{"msgType":203}"#).as_deref(), Some("203"));
        assert_eq!(msg_type(br#"{"msgType":""}"#), None);
        assert_eq!(msg_type(br#"{"deviceNo":"x"}"#), None);
        assert_eq!(msg_type(b"garbage"), None);
        assert_eq!(msg_type(b"[1]"), None);
        let broken = br#"{"msgType":"registerPersonInfoResp","personInfoData":"not json"}"#;
        assert_eq!(msg_type(broken).as_deref(), Some("registerPersonInfoResp"));
        assert_eq!(msg_type(br#"{"msgType":"a","msgType ":"b"}"#).as_deref(), Some("b"));
    }

    #[test]
    fn encode_is_strict_and_decodes_back() {
        let cmd = OpenCommand {
            msg_type: "onlineOpenResp".into(),
            msg_id: "000002".into(),
            device_no: "d".into(),
            is_online_open: "1".into(),
            msg: String::new(),
        };
        let body = encode(&cmd);
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert!(only_strings(&value));
        assert_eq!(value["msg"], "", "empty fields are sent as \"\", never null or left out");
        assert_eq!(decode::<OpenCommand>(&body).unwrap(), cmd);
        assert!(!only_strings(&serde_json::json!({"a": null})));
        assert!(!only_strings(&serde_json::json!({"a": [1]})));
        assert!(!only_strings(&serde_json::json!({"a": {"b": true}})));
        assert!(only_strings(&serde_json::json!({"a": [{"b": "c"}]})));
    }
}
