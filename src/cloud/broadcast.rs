//! `device/broadcast`: voice and display texts, Wiegand data and RS485 data from the cloud.

use crate::cloud::{Outcome, PollError, Session};
use crate::model::CardNumber;
use crate::protocol::binary::decode_base64;
use crate::protocol::{BroadcastCommand, Command, ErrorCode, Service};

/// The spec's limit for `rs485Data`, read as decoded bytes.
pub const MAX_RS485_BYTES: usize = 40;

/// Polls for a broadcast and sends each part to its output.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: BroadcastCommand = s.poll(Service::Broadcast)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let mut problems = Vec::new();
    let mut sent = Vec::new();
    let gate = &s.handles.gate;
    gate.announce(&cmd.voice_msg, &cmd.display_msg);
    if !cmd.wg_data.trim().is_empty() {
        // A number the frame cannot carry is refused, never truncated into another card.
        match CardNumber::parse(&cmd.wg_data) {
            Ok(card) => match gate.send_wiegand_card(&card) {
                Ok(bits) => sent.push(format!("wgData {card} sent as a {bits}-bit Wiegand frame")),
                Err(e) => problems.push(format!("wgData {card}: {e}")),
            },
            Err(e) => problems.push(format!("wgData {:?}: {e}", preview(&cmd.wg_data))),
        }
    }
    if !cmd.rs485_data.trim().is_empty() {
        match decode_base64("rs485Data", &cmd.rs485_data) {
            Ok(bytes) if bytes.len() <= MAX_RS485_BYTES => match gate.send_rs485(&bytes) {
                Ok(()) => sent.push(format!("rs485Data sent, {} bytes", bytes.len())),
                Err(e) => problems.push(format!("RS485 output: {e}")),
            },
            Ok(bytes) => problems.push(format!("rs485Data is {} bytes, the limit is {MAX_RS485_BYTES}", bytes.len())),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        s.finish(Service::Broadcast, &cmd, ErrorCode::Ok, &sent.join("; "))
    } else {
        // What did go out is said too: the cloud must not resend it as if nothing had.
        let message = problems.into_iter().chain(sent).collect::<Vec<_>>().join("; ");
        log::warn!("broadcast {}: {message}", cmd.msg_id);
        s.finish(Service::Broadcast, &cmd, ErrorCode::Failed, &message)
    }
}

/// The start of a text too long to quote whole in a result.
fn preview(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}
