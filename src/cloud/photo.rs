//! `face/photo`: take a photo and upload it.
//!
//! photoType 1 is any camera frame; photoType 0 needs a face, so it is the recognizer's recent
//! face photo or 601 ("no face detected") — never a frame passed off as a face.

use std::time::Duration;

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{Command, ErrorCode, PhotoCommand, PhotoResult, Service};

/// How recent the recognizer's face photo must be to answer photoType 0.
pub const FACE_PHOTO_MAX_AGE: Duration = Duration::from_secs(30);

/// How long the camera may take for one frame before the answer is 600.
pub const CAMERA_TIMEOUT: Duration = Duration::from_secs(5);

/// Polls for a photo request and answers with the photo or 600/601.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: PhotoCommand = s.poll(Service::Photo)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let (code, photo, detail) = if cmd.photo_type.trim() == "0" {
        match s.handles.gate.recent_face_photo(FACE_PHOTO_MAX_AGE) {
            Some(jpeg) => (ErrorCode::Ok, Some(jpeg), String::new()),
            None => (ErrorCode::NoFaceDetected, None, "no face seen in the last 30 s".to_string()),
        }
    } else {
        match s.handles.gate.snap(crate::hw::jpeg::SnapSize::Full, CAMERA_TIMEOUT) {
            Ok(jpeg) => (ErrorCode::Ok, Some(jpeg), String::new()),
            Err(e) => (ErrorCode::PhotoTimeout, None, e.to_string()),
        }
    };
    if code != ErrorCode::Ok {
        log::warn!("face/photo {}: {} {detail}", cmd.msg_id, code.code());
    }
    let msg = if detail.is_empty() { code.prompt().to_string() } else { format!("{}: {detail}", code.prompt()) };
    let result = PhotoResult::new(&cmd, s.device_no(), code, &msg, photo.as_deref());
    s.report(Service::Photo.path(), &result)?;
    s.note_command(&cmd.msg_id);
    Ok(Outcome::Command)
}
