//! Pass records: face/record (uploadRecord, one per pass), face/get (stored records streamed
//! to the cloud) and face/clear.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Command, CommandResult, ItemHeader, SUCCESS_MSG};
use crate::protocol::Message;
use crate::protocol::binary::encode_base64_into;
use crate::protocol::codes::ErrorCode;
/// Result of face/clear (`onlineDeleteSnapRecordResp`).
pub type ClearRecordsResult = CommandResult;

// face/record

/// The fields of one pass record, shared by `uploadRecord` ([`UploadRecord`]) and the face/get
/// item ([`RecordItem`]), in the order both send them.
///
/// Required (Y) fields are always sent, `""` when unknown (e.g. `idNumber` of a stranger);
/// optional (N) fields are left out when empty. A few fields belong to one table only and are
/// empty in the other message, so they are never sent there: `sex`, `birth`, `company`,
/// `department`, `alcohol` and `faceMaskResult` are uploadRecord's ([`RecordItem::new`] leaves
/// them out), `rfIdNumber` is face/get's. Keeping them here keeps one key order for both.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecordBody {
    /// 0 face, 1 ID card, 2 IC card + face, 3 stranger, 4/5 IC card, 6/7/8 QR, 9/11 payment,
    /// 12 RS485, 13/14 password.
    pub snap_type: String,
    /// 0 passed, 1 failed, 2 outside pass time, 3 outside validity, 4 not authorised.
    pub compare_result: String,
    /// `yyyy-MM-dd HH:mm:ss.SSS`, see [`crate::protocol::time::format_pass_time`].
    pub pass_time: String,
    /// Person number.
    pub id_number: String,
    /// Person's name.
    pub name: String,
    /// Sex, e.g. 男 (uploadRecord only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sex: String,
    /// Birthday: `1997年4月3日` for faces, `19970403` for ID cards (uploadRecord only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub birth: String,
    /// Company (uploadRecord only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub company: String,
    /// Department (uploadRecord only).
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
    /// Recognition image, Base64 JPEG; "" when `jpegEncodeSizeMode` is 0.
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
    /// Alcohol reading, e.g. 0.01mg/L (uploadRecord only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alcohol: String,
    /// "0" not checked, "1" mask, "2" no mask (uploadRecord only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub face_mask_result: String,
    /// ID-card number of an ID-card comparison (face/get only).
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
    /// Base64 QR or RS485 data.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
}

impl RecordBody {
    /// Visits the fields in wire order: spec key, value, and whether it is sent when empty
    /// (the fields without `skip_serializing_if`).
    fn visit<'a>(&'a self, f: &mut impl FnMut(&'static str, &'a str, bool)) {
        f("snapType", &self.snap_type, true);
        f("compareResult", &self.compare_result, true);
        f("passTime", &self.pass_time, true);
        f("idNumber", &self.id_number, true);
        f("name", &self.name, true);
        f("sex", &self.sex, false);
        f("birth", &self.birth, false);
        f("company", &self.company, false);
        f("department", &self.department, false);
        f("phone", &self.phone, false);
        f("validDateStart", &self.valid_date_start, true);
        f("validDateEnd", &self.valid_date_end, true);
        f("visitorVoiceText", &self.visitor_voice_text, true);
        f("inOutMode", &self.in_out_mode, true);
        f("recognitionPhoto", &self.recognition_photo, true);
        f("comparePhoto", &self.compare_photo, false);
        f("temperature", &self.temperature, false);
        f("temperatureResult", &self.temperature_result, false);
        f("alcohol", &self.alcohol, false);
        f("faceMaskResult", &self.face_mask_result, false);
        f("rfIdNumber", &self.rf_id_number, false);
        f("ethnicity", &self.ethnicity, false);
        f("address", &self.address, false);
        f("authority", &self.authority, false);
        f("locationx", &self.location_x, false);
        f("locationy", &self.location_y, false);
        f("normalNumber", &self.normal_number, false);
        f("data", &self.data, false);
    }

    /// The field a spec key names (face/get's `rfIdNumber` included).
    fn field_mut(&mut self, key: &str) -> Option<&mut String> {
        Some(match key {
            "snapType" => &mut self.snap_type,
            "compareResult" => &mut self.compare_result,
            "passTime" => &mut self.pass_time,
            "idNumber" => &mut self.id_number,
            "name" => &mut self.name,
            "sex" => &mut self.sex,
            "birth" => &mut self.birth,
            "company" => &mut self.company,
            "department" => &mut self.department,
            "phone" => &mut self.phone,
            "validDateStart" => &mut self.valid_date_start,
            "validDateEnd" => &mut self.valid_date_end,
            "visitorVoiceText" => &mut self.visitor_voice_text,
            "inOutMode" => &mut self.in_out_mode,
            "recognitionPhoto" => &mut self.recognition_photo,
            "comparePhoto" => &mut self.compare_photo,
            "temperature" => &mut self.temperature,
            "temperatureResult" => &mut self.temperature_result,
            "alcohol" => &mut self.alcohol,
            "faceMaskResult" => &mut self.face_mask_result,
            "rfIdNumber" => &mut self.rf_id_number,
            "ethnicity" => &mut self.ethnicity,
            "address" => &mut self.address,
            "authority" => &mut self.authority,
            "locationx" => &mut self.location_x,
            "locationy" => &mut self.location_y,
            "normalNumber" => &mut self.normal_number,
            "data" => &mut self.data,
            _ => return None,
        })
    }

    /// The fields the face/get table has: the uploadRecord-only ones emptied.
    fn for_face_get(&self) -> RecordBody {
        RecordBody {
            sex: String::new(),
            birth: String::new(),
            company: String::new(),
            department: String::new(),
            alcohol: String::new(),
            face_mask_result: String::new(),
            ..self.clone()
        }
    }
}

/// `uploadRecord`: one pass record (device → cloud), every field of the spec's table.
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
    /// The record's fields from `snapType` to `data`.
    #[serde(flatten)]
    pub body: RecordBody,
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
    ///
    /// Each key is matched to its field directly: the uploader builds one record per upload,
    /// and going through serde (`RecordBody` is flattened, which buffers every field in a map
    /// of its own) cost more than the rest of the message.
    pub fn from_fields(fields: &BTreeMap<String, String>) -> UploadRecord {
        let mut record = UploadRecord::default();
        for (key, value) in fields {
            if let Some(field) = record.field_mut(key) {
                field.clone_from(value);
            }
        }
        record
    }

    /// The field an uploadRecord key names; `None` for any other key (face/get's
    /// `rfIdNumber` included: ignored like any unknown key).
    fn field_mut(&mut self, key: &str) -> Option<&mut String> {
        Some(match key {
            "msgType" => &mut self.msg_type,
            "msgID" => &mut self.msg_id,
            "version" => &mut self.version,
            "deviceNo" => &mut self.device_no,
            "rfIdNumber" => return None,
            "amount" => &mut self.amount,
            "keyBoardType" => &mut self.key_board_type,
            "offLineRecordNum" => &mut self.off_line_record_num,
            "healthResult" => &mut self.health_result,
            "healthType" => &mut self.health_type,
            "healthAddr" => &mut self.health_addr,
            "healthName" => &mut self.health_name,
            "healthIdCard" => &mut self.health_id_card,
            "hsjcResult" => &mut self.hsjc_result,
            "hsjcDate" => &mut self.hsjc_date,
            "hsjcAddr" => &mut self.hsjc_addr,
            "vaccineCount" => &mut self.vaccine_count,
            "vaccineDate" => &mut self.vaccine_date,
            other => return self.body.field_mut(other),
        })
    }

    /// Visits the fields in wire order, as `Serialize` writes them (see [`RecordBody::visit`]).
    fn visit<'a>(&'a self, f: &mut impl FnMut(&'static str, &'a str, bool)) {
        f("msgType", &self.msg_type, true);
        f("msgID", &self.msg_id, true);
        f("version", &self.version, true);
        f("deviceNo", &self.device_no, true);
        self.body.visit(f);
        f("amount", &self.amount, false);
        f("keyBoardType", &self.key_board_type, false);
        f("offLineRecordNum", &self.off_line_record_num, true);
        f("healthResult", &self.health_result, false);
        f("healthType", &self.health_type, false);
        f("healthAddr", &self.health_addr, false);
        f("healthName", &self.health_name, false);
        f("healthIdCard", &self.health_id_card, false);
        f("hsjcResult", &self.hsjc_result, false);
        f("hsjcDate", &self.hsjc_date, false);
        f("hsjcAddr", &self.hsjc_addr, false);
        f("vaccineCount", &self.vaccine_count, false);
        f("vaccineDate", &self.vaccine_date, false);
    }

    /// The bytes [`crate::protocol::encode`] makes of this record with `recognitionPhoto` and
    /// `comparePhoto` set to the Base64 of these JPEGs (where given), but written straight into
    /// the body: no Base64 string is built first, and the Base64 is not scanned for characters
    /// to escape, since its alphabet has none. The other fields are escaped by serde_json.
    pub fn encode_with_photos(&self, recognition: Option<&[u8]>, compare: Option<&[u8]>) -> Vec<u8> {
        let base64_len = |p: Option<&[u8]>| p.map_or(0, |p| p.len().div_ceil(3) * 4);
        let mut out = Vec::with_capacity(1_024 + base64_len(recognition) + base64_len(compare));
        out.push(b'{');
        self.visit(&mut |key, value, required| {
            let photo = match key {
                "recognitionPhoto" => recognition,
                "comparePhoto" => compare,
                _ => None,
            };
            if !required && photo.map_or(value.is_empty(), <[u8]>::is_empty) {
                return;
            }
            if out.len() > 1 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            match photo {
                Some(jpeg) => {
                    out.push(b'"');
                    encode_base64_into(jpeg, &mut out);
                    out.push(b'"');
                }
                // Writing a string into a Vec cannot fail.
                None => serde_json::to_writer(&mut out, value).expect("a string serialises"),
            }
        });
        out.push(b'}');
        out
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
    /// 17-digit start, see [`crate::protocol::time::parse_snap_time`].
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
    /// The record's fields from `snapType` to `data`.
    #[serde(flatten)]
    pub body: RecordBody,
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
            body: record.body.for_face_get(),
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
    use serde_json::Value;

    use super::super::test_support::*;
    use super::*;
    use crate::protocol::{PROTOCOL_VERSION, decode, encode};

    #[test]
    fn upload_record_examples() {
        let (record, _) = round_trip::<UploadRecord>(example!("35_upload_record"), &[]);
        assert_eq!(record.body.pass_time, "2019-11-08 13:05:51.421");
        assert_eq!(record.body.location_x, "116.481499");
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
    fn clear_records_examples() {
        let clear: ClearRecordsCommand =
            check_result(example!("41_clear_records_command"), example!("42_clear_records_result"));
        assert!(clear.requested());
        let result: ClearRecordsResult = clear.result("FaceDevice001", ErrorCode::Ok, "");
        assert_eq!(result.msg_type, "onlineDeleteSnapRecordResp");
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

    /// Every key of uploadRecord and the face/get item, each holding its own name, so that a
    /// value shows which field it landed in.
    const RECORD_KEYS: [&str; 47] = [
        "msgType",
        "msgID",
        "version",
        "deviceNo",
        "snapType",
        "compareResult",
        "passTime",
        "idNumber",
        "name",
        "sex",
        "birth",
        "company",
        "department",
        "phone",
        "validDateStart",
        "validDateEnd",
        "visitorVoiceText",
        "inOutMode",
        "recognitionPhoto",
        "comparePhoto",
        "temperature",
        "temperatureResult",
        "alcohol",
        "faceMaskResult",
        "ethnicity",
        "address",
        "authority",
        "locationx",
        "locationy",
        "normalNumber",
        "data",
        "amount",
        "keyBoardType",
        "offLineRecordNum",
        "healthResult",
        "healthType",
        "healthAddr",
        "healthName",
        "healthIdCard",
        "hsjcResult",
        "hsjcDate",
        "hsjcAddr",
        "vaccineCount",
        "vaccineDate",
        "rfIdNumber",
        "token",
        "recordNum",
    ];

    fn every_key() -> BTreeMap<String, String> {
        RECORD_KEYS.iter().map(|k| (k.to_string(), k.to_string())).collect()
    }

    fn encoded<T: Serialize>(msg: &T) -> String {
        String::from_utf8(encode(msg)).unwrap()
    }

    /// The bytes sent, key order included, are those of the messages before their shared
    /// fields became one `RecordBody`.
    #[test]
    fn record_encodings_are_byte_exact() {
        let record = UploadRecord::from_fields(&every_key());
        const UPLOAD: &str = concat!(
            r#"{"msgType":"msgType","msgID":"msgID","version":"version","deviceNo":"deviceNo","#,
            r#""snapType":"snapType","compareResult":"compareResult","passTime":"passTime","#,
            r#""idNumber":"idNumber","name":"name","sex":"sex","birth":"birth","company":"company","#,
            r#""department":"department","phone":"phone","validDateStart":"validDateStart","#,
            r#""validDateEnd":"validDateEnd","visitorVoiceText":"visitorVoiceText","inOutMode":"inOutMode","#,
            r#""recognitionPhoto":"recognitionPhoto","comparePhoto":"comparePhoto","temperature":"temperature","#,
            r#""temperatureResult":"temperatureResult","alcohol":"alcohol","faceMaskResult":"faceMaskResult","#,
            r#""ethnicity":"ethnicity","address":"address","authority":"authority","locationx":"locationx","#,
            r#""locationy":"locationy","normalNumber":"normalNumber","data":"data","amount":"amount","#,
            r#""keyBoardType":"keyBoardType","offLineRecordNum":"offLineRecordNum","#,
            r#""healthResult":"healthResult","healthType":"healthType","healthAddr":"healthAddr","#,
            r#""healthName":"healthName","healthIdCard":"healthIdCard","hsjcResult":"hsjcResult","#,
            r#""hsjcDate":"hsjcDate","hsjcAddr":"hsjcAddr","vaccineCount":"vaccineCount","#,
            r#""vaccineDate":"vaccineDate"}"#,
        );
        assert_eq!(encoded(&record), UPLOAD);
        assert_eq!(record.body.rf_id_number, "", "not an uploadRecord key: ignored like any unknown key");

        let header = ItemHeader { msg_id: "m".into(), device_no: "d".into(), token: "t".into(), total: 2, index: 1 };
        const ITEM: &str = concat!(
            r#"{"msgType":"onlineGetRecordResp","msgID":"m","deviceNo":"d","token":"t","errorCode":"100","#,
            r#""msg":"操作成功","recordNum":"2","index":"1","snapType":"snapType","compareResult":"compareResult","#,
            r#""passTime":"passTime","idNumber":"idNumber","name":"name","phone":"phone","#,
            r#""validDateStart":"validDateStart","validDateEnd":"validDateEnd","#,
            r#""visitorVoiceText":"visitorVoiceText","inOutMode":"inOutMode","#,
            r#""recognitionPhoto":"recognitionPhoto","comparePhoto":"comparePhoto","temperature":"temperature","#,
            r#""temperatureResult":"temperatureResult","ethnicity":"ethnicity","#,
            r#""address":"address","authority":"authority","locationx":"locationx","locationy":"locationy","#,
            r#""normalNumber":"normalNumber","data":"data"}"#,
        );
        assert_eq!(encoded(&RecordItem::new(&header, &record)), ITEM, "uploadRecord-only fields are left out");

        const SPARSE: &str = concat!(
            r#"{"msgType":"uploadRecord","msgID":"1","version":"V1.0","deviceNo":"d","snapType":"","#,
            r#""compareResult":"","passTime":"","idNumber":"","name":"","validDateStart":"","validDateEnd":"","#,
            r#""visitorVoiceText":"","inOutMode":"","recognitionPhoto":"","offLineRecordNum":"0"}"#,
        );
        assert_eq!(encoded(&UploadRecord::new("1", "d", "V1.0")), SPARSE);

        // A decoded item keeps what the face/get example carries beyond the table (sex, birth,
        // company, department); the device only sends items built by `RecordItem::new`.
        let json = serde_json::to_string(&every_key()).unwrap();
        let item: RecordItem = decode(json.as_bytes()).unwrap();
        assert_eq!(item.body, RecordBody { rf_id_number: "rfIdNumber".into(), ..record.body.clone() });
        assert_eq!((item.token.as_str(), item.record_num.as_str()), ("token", "recordNum"));
    }

    /// The uploader's writer makes the bytes serde makes, for every field set, none set, text
    /// that needs escaping, and photos given as JPEG bytes or as text.
    #[test]
    fn the_direct_writer_matches_serde_byte_for_byte() {
        let every = UploadRecord::from_fields(&every_key());
        let mut escapes = UploadRecord::new("7", "dev\"ice", "V1.0");
        escapes.body.name = "张三 \"quoted\" \\ back\u{1}\n\t\u{7f}😀".into();
        escapes.body.data = "</script>\u{2028}".into();
        escapes.body.compare_photo = "not from bytes".into();
        escapes.health_name = "tail".into();
        let example: UploadRecord = decode(example!("35_upload_record")).unwrap();
        let jpeg: Vec<u8> = (0..6_899u32).map(|i| (i * 131 % 256) as u8).collect();
        for record in [every, escapes, example, UploadRecord::default(), UploadRecord::new("1", "d", "V1.0")] {
            assert_eq!(encoded(&record), String::from_utf8(record.encode_with_photos(None, None)).unwrap());
            for (recognition, compare) in
                [(Some(&jpeg[..]), None), (None, Some(&jpeg[..10])), (Some(&[][..]), Some(&[][..]))]
            {
                let mut expected = record.clone();
                if let Some(p) = recognition {
                    expected.body.recognition_photo = crate::protocol::binary::encode_base64(p);
                }
                if let Some(p) = compare {
                    expected.body.compare_photo = crate::protocol::binary::encode_base64(p);
                }
                let direct = String::from_utf8(record.encode_with_photos(recognition, compare)).unwrap();
                assert_eq!(encoded(&expected), direct);
            }
        }
    }

    /// Every key serde's derive knows is also known to `from_fields` (a field added to the
    /// struct but not to the direct paths would fail here).
    #[test]
    fn from_fields_knows_every_key_serde_knows() {
        let json = serde_json::to_string(&every_key()).unwrap();
        let mut by_serde: UploadRecord = decode(json.as_bytes()).unwrap();
        by_serde.body.rf_id_number.clear();
        assert_eq!(UploadRecord::from_fields(&every_key()), by_serde);
        let sent: Value = serde_json::from_str(&encoded(&by_serde)).unwrap();
        assert_eq!(keys(&sent).len(), RECORD_KEYS.len() - 3, "all but rfIdNumber, token and recordNum are sent");
    }
}
