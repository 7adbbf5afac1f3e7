//! `device/broadcast`: voice and display texts, Wiegand data and RS485 data from the cloud.

use base64::Engine as _;

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::ErrorCode;
use crate::protocol::messages::{BroadcastCommand, CommandResult, PollReq};
use crate::protocol::services::Service;

/// Polls for a broadcast and sends each part to its output.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(BroadcastCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: BroadcastCommand = s.exchange(Service::Broadcast.path(), &req)?;
    if cmd.is_online_broadcast.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    let mut problems = Vec::new();
    s.shared.announce(&cmd.voice_msg, &cmd.display_msg);
    if !cmd.wg_data.trim().is_empty() {
        match crate::hw::wiegand::frame_for_out_mode("1", cmd.wg_data.trim()) {
            Some(bits) => {
                let mut out = s.shared.actuators.wiegand_out.lock().unwrap_or_else(|e| e.into_inner());
                match out.as_mut() {
                    Some(w) => {
                        if let Err(e) = w.send(&bits) {
                            problems.push(format!("Wiegand output: {e}"));
                        }
                    }
                    None => problems.push("no Wiegand output on this board".into()),
                }
            }
            None => problems.push(format!("wgData {:?} is not a card number", cmd.wg_data)),
        }
    }
    if !cmd.rs485_data.trim().is_empty() {
        match base64::engine::general_purpose::STANDARD.decode(cmd.rs485_data.trim()) {
            Ok(bytes) if bytes.len() <= 40 => {
                let mut out = s.shared.actuators.rs485_out.lock().unwrap_or_else(|e| e.into_inner());
                match out.as_mut() {
                    Some(p) => {
                        if let Err(e) = p.write(&bytes) {
                            problems.push(format!("RS485 output: {e}"));
                        }
                    }
                    None => problems.push("no RS485 port on this board".into()),
                }
            }
            Ok(bytes) => problems.push(format!("rs485Data is {} bytes, the limit is 40", bytes.len())),
            Err(e) => problems.push(format!("rs485Data is not base64: {e}")),
        }
    }
    let (code, msg) = if problems.is_empty() {
        (ErrorCode::Ok, ErrorCode::Ok.prompt().to_string())
    } else {
        log::warn!("broadcast {}: {}", cmd.msg_id, problems.join("; "));
        (ErrorCode::Failed, problems.join("; "))
    };
    let result = CommandResult::new(BroadcastCommand::MSG_TYPE, &cmd.msg_id, s.device_no(), code.code(), &msg);
    s.report(Service::Broadcast.path(), &result)?;
    Ok(Outcome::Command)
}
