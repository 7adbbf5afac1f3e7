//! A person record of person/operate with its photos, as the cloud sends it.
//!
//! The input is split at its first NUL byte: the text before it is one element of
//! `personInfoData` (JSON), the bytes after it are a photo, sent Base64-encoded as
//! `registerPhoto1`. So the fuzzer reaches the JPEG check with arbitrary image bytes instead of
//! having to find valid Base64 first.
#![no_main]

use base64::Engine;
use facegate::access::{PersonWindows, parse_valid_date};
use facegate::protocol::{self, PersonOperateCommand};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (person, photo) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(person) = std::str::from_utf8(person) else {
        return;
    };
    let mut value: serde_json::Value = match serde_json::from_str(person) {
        Ok(v) => v,
        Err(_) => serde_json::Value::String(person.to_string()),
    };
    if let (Some(photo), serde_json::Value::Object(fields)) = (photo, &mut value) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(photo);
        fields.insert("registerPhoto1".into(), b64.into());
    }
    let body = serde_json::json!({
        "msgType": "registerPersonInfoResp",
        "msgID": "1",
        "isRegisterPersonInfo": "1",
        "personInfoData": value,
    });
    let body = serde_json::to_vec(&body).expect("a JSON value serialises");
    let Ok(cmd) = protocol::decode_message::<PersonOperateCommand>(&body) else {
        return;
    };
    for info in &cmd.persons {
        let _ = info.operation();
        let _ = parse_valid_date(&info.valid_date_start);
        let _ = parse_valid_date(&info.valid_date_end);
        let _ = PersonWindows::parse(&info.pass_times());
        let _ = info.decode_photos();
        if let Ok((person, photos)) = facegate::cloud::person_operate::validate(info) {
            // What the store keeps must fit the limits validate promises.
            assert!(!person.id_number.is_empty() && person.id_number != "0");
            assert!(person.id_number.chars().count() <= 32 && person.name.chars().count() <= 32);
            for p in &photos {
                assert!(p.jpeg.len() <= facegate::cloud::person_operate::MAX_PHOTO_BYTES);
                assert!(p.photo_id.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
});
