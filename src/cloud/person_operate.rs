//! `person/operate`: the cloud adds, modifies and deletes persons.
//!
//! Each person is validated as the spec says and answered with its business codes: 300 invalid
//! parameters, 301 feature extraction failed (the vendor's enroll command failed), 302
//! capacity full, 303 a photo that does not decode as JPEG, 304 enrollment timeout. A rejected
//! person changes nothing. An add of an idNumber that exists replaces it, so a command the cloud
//! re-sends after a lost result does not fail. A command whose persons do not even decode (an
//! object where a name is due, say) is still answered, with 300: the cloud waits for a result
//! before it sends the next person, so silence would stall its sync.

use std::io::Read;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::access::{PersonWindows, parse_valid_date};
use crate::cloud::{Outcome, PollError, Session};
use crate::config::RecognizerSection;
use crate::model::{CardNumber, Person, PersonPhoto, Priority};
use crate::protocol::binary::decode_base64;
use crate::protocol::{self, Command as _, DecodeError, ErrorCode, PersonInfo, PersonOperateCommand, PollReq, Service};
use crate::store::Store;

/// Largest accepted decoded photo: the spec recommends "within 300K"; this leaves room for
/// clouds that count 300K as Base64 text or as 1024-byte kilobytes.
pub const MAX_PHOTO_BYTES: usize = 400 * 1024;

/// Largest accepted photo in pixels (16 megapixels).
pub const MAX_PHOTO_PIXELS: u64 = 16_000_000;

/// Polls for person commands and applies them.
pub(crate) fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::for_service(Service::PersonOperate, s.device_no(), s.version())
        .ok_or_else(|| PollError::Malformed("person/operate has no poll message".into()))?;
    let answer = s.post_raw(Service::PersonOperate.path(), &req)?;
    let cmd = match protocol::decode_message::<PersonOperateCommand>(&answer) {
        Ok(cmd) => cmd,
        Err(e) => return answer_undecodable(s, &answer, e),
    };
    set_register_interval(s, &cmd.register_interval);
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let recognizer = s.cfg().recognizer.clone();
    let max_persons = s.cfg().storage.max_persons;
    let mut failures: Vec<(ErrorCode, String)> = Vec::new();
    if cmd.persons.is_empty() {
        failures.push((ErrorCode::PersonParamsInvalid, "no person in personInfoData".into()));
    }
    for info in &cmd.persons {
        let id = info.id_number.trim();
        match apply(&mut s.store, info, recognizer.as_ref(), max_persons) {
            Ok(()) => s.handles.gate.person_stored(id),
            Err((code, why)) => {
                // A delete the store could not take (a full disk) still takes effect at the
                // door; the cloud, answered 200, sends it again.
                if info.operate_type.trim() == "2" && code == ErrorCode::Failed && !id.is_empty() {
                    s.handles.gate.revoke_unstored(id);
                }
                log::warn!("person {:?} rejected with {}: {why}", info.id_number, code.code());
                failures.push((code, format!("{}: {why}", info.id_number)));
            }
        }
    }
    match failures.first() {
        None => s.finish(Service::PersonOperate, &cmd, ErrorCode::Ok, ""),
        Some((code, _)) => {
            let detail: Vec<&str> = failures.iter().map(|(_, w)| w.as_str()).collect();
            let msg = format!("{}: {}", code.prompt(), detail.join("; "));
            s.finish(Service::PersonOperate, &cmd, *code, &msg)
        }
    }
}

/// registerInterval speeds a sync up and slows it down again; it holds until changed.
fn set_register_interval(s: &mut Session<'_>, interval: &str) {
    if let Ok(secs) = interval.trim().parse::<u64>() {
        if secs > 0 {
            s.set_interval_override(Service::PersonOperate, Some(Duration::from_secs(secs)));
        }
    }
}

/// What a person/operate command needs to be answered, read when its persons do not decode.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CommandHead {
    #[serde(rename = "msgID")]
    msg_id: String,
    #[serde(rename = "registerInterval")]
    register_interval: String,
    #[serde(rename = "isRegisterPersonInfo")]
    is_register_person_info: String,
}

/// Answers 300 to a person/operate command with a malformed field, when its msgID and flag can
/// still be read; anything else (not JSON, another msgType) stays a malformed answer.
fn answer_undecodable(s: &mut Session<'_>, answer: &[u8], e: DecodeError) -> Result<Outcome, PollError> {
    let head = match e {
        DecodeError::Field { .. } | DecodeError::Shape(_) => protocol::decode::<CommandHead>(answer).ok(),
        _ => None,
    };
    let Some(head) = head.filter(|h| !h.msg_id.trim().is_empty()) else {
        let preview: String = String::from_utf8_lossy(answer).chars().take(120).collect();
        return Err(PollError::Malformed(format!("{e} (answer began: {preview:?})")));
    };
    set_register_interval(s, &head.register_interval);
    let cmd = PersonOperateCommand {
        msg_id: head.msg_id,
        is_register_person_info: head.is_register_person_info,
        ..PersonOperateCommand::default()
    };
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    log::warn!("person/operate {}: command not understood: {e}", cmd.msg_id);
    let code = ErrorCode::PersonParamsInvalid;
    s.finish(Service::PersonOperate, &cmd, code, &format!("{}: {e}", code.prompt()))
}

/// Applies one person object of the command.
pub fn apply(
    store: &mut Store,
    info: &PersonInfo,
    recognizer: Option<&RecognizerSection>,
    max_persons: u64,
) -> Result<(), (ErrorCode, String)> {
    let invalid = |why: String| (ErrorCode::PersonParamsInvalid, why);
    let db = |e: crate::Error| (ErrorCode::Failed, e.to_string());
    match info.operate_type.trim() {
        "0" | "1" => {
            let (person, photos) = validate(info)?;
            let exists = store.person(&person.id_number).map_err(db)?.is_some();
            if !exists && store.persons_at_least(max_persons).map_err(db)? {
                return Err((ErrorCode::FaceCapacityFull, format!("{max_persons} persons registered")));
            }
            // validate() checked the number; a card is bound by value (0012345 is 12345).
            if let Ok(card) = CardNumber::parse(&person.card) {
                if let Some(other) = store.person_by_card(&card).map_err(db)? {
                    if other.id_number != person.id_number {
                        return Err(invalid(format!("card {} is bound to idNumber {}", person.card, other.id_number)));
                    }
                }
            }
            if let Some(r) = recognizer {
                enroll(r, if exists { "modify" } else { "add" }, &person.id_number, &photos)?;
            }
            store.upsert_person(&person, &photos).map_err(db)
        }
        "2" => {
            let id = info.id_number.trim();
            if id.is_empty() {
                return Err(invalid("delete needs idNumber".into()));
            }
            if let Some(r) = recognizer {
                if let Err((_, why)) = enroll(r, "delete", id, &[]) {
                    log::warn!("recognizer could not delete {id}: {why}; deleting locally anyway");
                }
            }
            if !store.delete_person(id).map_err(db)? {
                log::info!("delete of unknown person {id}: nothing to do");
            }
            Ok(())
        }
        "3" => {
            if let Some(r) = recognizer {
                if let Err((_, why)) = enroll(r, "clear", "", &[]) {
                    log::warn!("recognizer could not clear: {why}; deleting locally anyway");
                }
            }
            let n = store.delete_all_persons().map_err(db)?;
            log::info!("all {n} persons deleted");
            Ok(())
        }
        other => Err(invalid(format!("operateType {other:?} is not 0, 1, 2 or 3"))),
    }
}

/// Checks an add/modify person object and turns it into what the store keeps.
pub fn validate(info: &PersonInfo) -> Result<(Person, Vec<PersonPhoto>), (ErrorCode, String)> {
    let invalid = |why: String| Err((ErrorCode::PersonParamsInvalid, why));
    let id = info.id_number.trim();
    if id.is_empty() || id == "0" {
        return invalid("idNumber is required and must not be 0".into());
    }
    if id.chars().count() > 32 || id.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return invalid(format!("idNumber {id:?} is longer than 32 characters or has / \\ or control characters"));
    }
    let name = info.name.trim();
    if name.is_empty() || name.chars().count() > 32 {
        return invalid("name is required (at most 32 characters)".into());
    }
    let (Some(start), Some(end)) = (parse_valid_date(&info.valid_date_start), parse_valid_date(&info.valid_date_end))
    else {
        return invalid(format!(
            "validDateStart {:?} and validDateEnd {:?} must be dates like 2019_08_09",
            info.valid_date_start, info.valid_date_end
        ));
    };
    if start > end {
        return invalid("validDateStart is after validDateEnd".into());
    }
    let Some(priority) = Priority::from_code(&info.priority) else {
        return invalid(format!("priority {:?} is not 0, 1, 2 or 3", info.priority));
    };
    let pass_times = info.pass_times();
    if let Err(why) = PersonWindows::parse(&pass_times) {
        return invalid(format!("passTime: {why}"));
    }
    let mut photos: Vec<PersonPhoto> = Vec::new();
    for field in info.photo_fields() {
        let slot = field.slot;
        let given_id = field.photo_id.trim();
        let photo_id = if given_id.is_empty() { slot.to_string() } else { given_id.to_string() };
        if photo_id.len() > 32 || !photo_id.bytes().all(|b| b.is_ascii_digit()) {
            return invalid(format!("registerPhotoID{slot} {photo_id:?} must be numeric"));
        }
        if photos.iter().any(|p| p.photo_id == photo_id) {
            return invalid(format!("registerPhotoID{slot} {photo_id} repeats another photo's ID"));
        }
        let jpeg = decode_base64(&format!("registerPhoto{slot}"), field.base64)
            .map_err(|e| (ErrorCode::ImageDecodeFailed, e.to_string()))?;
        if jpeg.len() > MAX_PHOTO_BYTES {
            return invalid(format!("registerPhoto{slot} is {} bytes, the limit is {MAX_PHOTO_BYTES}", jpeg.len()));
        }
        check_jpeg(&jpeg).map_err(|why| (ErrorCode::ImageDecodeFailed, format!("registerPhoto{slot}: {why}")))?;
        photos.push(PersonPhoto { slot, photo_id, jpeg });
    }
    if photos.is_empty() && info.normal_number.trim().is_empty() {
        return invalid("a person needs at least one photo or an IC card number (normalNumber)".into());
    }
    if !info.normal_number.trim().is_empty() {
        if let Err(e) = CardNumber::parse(&info.normal_number) {
            return invalid(format!("normalNumber: {e}"));
        }
    }
    let mut person = info.to_person().map_err(|e| (ErrorCode::PersonParamsInvalid, e.to_string()))?;
    person.id_number = id.to_string();
    person.name = name.to_string();
    person.card = info.normal_number.trim().to_string();
    person.priority = priority;
    person.valid_start = info.valid_date_start.trim().to_string();
    person.valid_end = info.valid_date_end.trim().to_string();
    person.pass_times = pass_times;
    Ok((person, photos))
}

/// A photo must be a whole JPEG image, not just start like one: a header the decoder accepts
/// with a frame of at least one pixel, and scans that run to the end-of-image marker.
///
/// The compressed data is walked, not decoded: decoding a 20 KB photo costs about 2 ms, most
/// of a person's sync time, and a vendor recognizer decodes the photo itself anyway (and its
/// failure is answered 301).
fn check_jpeg(bytes: &[u8]) -> Result<(), String> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().map_err(|e| format!("not a decodable JPEG ({e})"))?;
    let info = decoder.info().ok_or("JPEG without image information")?;
    if info.width == 0 || info.height == 0 {
        return Err("JPEG with no pixels".into());
    }
    // The recognizer decodes the photo: a header declaring gigapixels must not reach it.
    if u64::from(info.width) * u64::from(info.height) > MAX_PHOTO_PIXELS {
        return Err(format!("{}x{} pixels is more than a face photo needs", info.width, info.height));
    }
    if !reaches_end_of_image(bytes) {
        return Err("the JPEG is cut short or damaged: its image data does not reach an end-of-image marker".into());
    }
    Ok(())
}

/// Walks the marker segments after SOI, skipping each scan's entropy-coded data (where 0xFF is
/// only ever followed by a stuffed 0x00 or a restart marker); true when EOI is reached.
fn reaches_end_of_image(b: &[u8]) -> bool {
    let mut i = 2;
    let mut in_scan = false;
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            if !in_scan {
                return false;
            }
            i += 1;
            continue;
        }
        match b[i + 1] {
            0xD9 => return true,
            // Fill byte before a marker.
            0xFF => i += 1,
            // Stuffed zero and restart markers inside a scan; TEM stands alone.
            0x00 if in_scan => i += 2,
            0xD0..=0xD7 | 0x01 => i += 2,
            0x00 => return false,
            marker => {
                let Some(len) = b.get(i + 2..i + 4).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
                    return false;
                };
                if len < 2 {
                    return false;
                }
                i += 2 + len;
                in_scan = marker == 0xDA;
            }
        }
    }
    false
}

/// Runs the vendor's enroll command: `CMD OP IDNUMBER [PHOTO...]`, photos as files in a
/// private temporary directory (never a path made from what the cloud sent).
fn enroll(r: &RecognizerSection, op: &str, id: &str, photos: &[PersonPhoto]) -> Result<(), (ErrorCode, String)> {
    let failed = |why: String| (ErrorCode::FaceFeatureFailed, why);
    let dir = tempfile::tempdir().map_err(|e| failed(format!("cannot make a temp dir: {e}")))?;
    let mut files = Vec::new();
    for p in photos {
        let path = dir.path().join(format!("photo{}.jpg", p.slot));
        std::fs::write(&path, &p.jpeg).map_err(|e| failed(e.to_string()))?;
        files.push(path);
    }
    let mut parts = r.enroll_command.split_whitespace();
    let program = parts.next().ok_or_else(|| failed("[recognizer] enroll_command is empty".into()))?;
    let mut child = Process::new(program)
        .args(parts)
        .arg(op)
        .arg(id)
        .args(&files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run {program}: {e}")))?;
    let deadline = Instant::now() + Duration::from_millis(r.timeout_ms);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(e) = child.stderr.take() {
                    let _ = e.take(4096).read_to_string(&mut err);
                }
                return Err(failed(format!("enroll {op} exited with {status}: {}", err.trim())));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err((
                    ErrorCode::FaceRegisterTimeout,
                    format!("enroll {op} took longer than {} ms", r.timeout_ms),
                ));
            }
            Err(e) => return Err(failed(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(progressive: bool, restart: u16) -> Vec<u8> {
        let pixels: Vec<u8> = (0..48u32 * 40 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut out, 90);
        e.set_progressive(progressive);
        if restart > 0 {
            e.set_restart_interval(restart);
        }
        e.encode(&pixels, 48, 40, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    #[test]
    fn whole_jpegs_pass_and_cut_or_foreign_data_does_not() {
        for (progressive, restart) in [(false, 0), (true, 0), (false, 2)] {
            let good = jpeg(progressive, restart);
            assert_eq!(check_jpeg(&good), Ok(()), "progressive {progressive}, restart {restart}");
            // Bytes after EOI (some cameras append a trailer) do not matter.
            let mut trailer = good.clone();
            trailer.extend_from_slice(b"\0\0trailer");
            assert_eq!(check_jpeg(&trailer), Ok(()));
            // Cut anywhere after the header: refused.
            for cut in [good.len() - 1, good.len() - 2, good.len() * 3 / 4, good.len() / 2] {
                assert!(check_jpeg(&good[..cut]).is_err(), "cut at {cut} of {}", good.len());
            }
        }
        assert!(check_jpeg(b"this is a text file").is_err());
        assert!(check_jpeg(&[0xFF, 0xD8, 0xFF, 0xD9]).is_err(), "no frame");
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[0; 64]);
        assert!(check_jpeg(&png).is_err());
    }

    #[test]
    fn a_command_with_a_broken_person_still_names_its_msg_id() {
        let body = br#"{"msgType":"registerPersonInfoResp","msgID":7,"isRegisterPersonInfo":"1 ",
            "registerInterval":"2","personInfoData":[{"operateType":"0","name":{"first":"a"}}]}"#;
        let e = protocol::decode_message::<PersonOperateCommand>(body).unwrap_err();
        assert!(matches!(e, DecodeError::Field { .. }), "{e}");
        let head: CommandHead = protocol::decode(body).unwrap();
        assert_eq!((head.msg_id.as_str(), head.register_interval.as_str()), ("7", "2"));
        assert_eq!(head.is_register_person_info, "1");
    }
}
