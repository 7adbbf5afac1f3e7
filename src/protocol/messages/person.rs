//! Persons: person/operate (the cloud's persons to add, modify or delete), person/count and
//! person/info (every stored person streamed to the cloud).

use serde::{Deserialize, Serialize};

use super::{Command, CommandResult, ItemHeader, SUCCESS_MSG};
use crate::model::{Person, PersonPhoto, Priority};
use crate::protocol::Message;
use crate::protocol::binary::{decode_base64, encode_base64};
use crate::protocol::codes::ErrorCode;
use crate::{Error, Result};
/// Result of person/operate (`registerPersonInfoResp`); 300–304 for person errors.
pub type PersonOperateResult = CommandResult;

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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::test_support::*;
    use super::*;
    use crate::protocol::{decode, encode, only_strings};

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
}
