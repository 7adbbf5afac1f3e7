//! `device/broadcast`: voice and display texts, Wiegand data and RS485 data from the cloud.

use crate::cloud::{Outcome, PollError, Session};
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
    let gate = &s.handles.gate;
    gate.announce(&cmd.voice_msg, &cmd.display_msg);
    if !cmd.wg_data.trim().is_empty() {
        if let Err(e) = gate.send_wiegand_card(cmd.wg_data.trim()) {
            problems.push(format!("wgData {:?}: {e}", cmd.wg_data));
        }
    }
    if !cmd.rs485_data.trim().is_empty() {
        match decode_base64("rs485Data", &cmd.rs485_data) {
            Ok(bytes) if bytes.len() <= MAX_RS485_BYTES => {
                if let Err(e) = gate.send_rs485(&bytes) {
                    problems.push(format!("RS485 output: {e}"));
                }
            }
            Ok(bytes) => problems.push(format!("rs485Data is {} bytes, the limit is {MAX_RS485_BYTES}", bytes.len())),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        s.finish(Service::Broadcast, &cmd, ErrorCode::Ok, "")
    } else {
        log::warn!("broadcast {}: {}", cmd.msg_id, problems.join("; "));
        s.finish(Service::Broadcast, &cmd, ErrorCode::Failed, &problems.join("; "))
    }
}
