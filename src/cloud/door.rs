//! `device/open`: the cloud opens the door.

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::ErrorCode;
use crate::protocol::messages::{CommandResult, OpenCommand, PollReq};
use crate::protocol::services::Service;

/// Polls for an open command; pulses the relay for openDoorTimeDelayMs and announces `msg`.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(OpenCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: OpenCommand = s.exchange(Service::Open.path(), &req)?;
    if cmd.is_online_open.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    log::info!("remote open {}", cmd.msg_id);
    s.shared.open_door(None);
    s.shared.announce(&cmd.msg, &cmd.msg);
    let ok = ErrorCode::Ok;
    let result = CommandResult::new(OpenCommand::MSG_TYPE, &cmd.msg_id, s.device_no(), ok.code(), ok.prompt());
    s.report(Service::Open.path(), &result)?;
    Ok(Outcome::Command)
}
