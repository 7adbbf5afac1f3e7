//! `device/open`: the cloud opens the door.

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{Command, ErrorCode, OpenCommand, Service};

/// Polls for an open command; pulses the relay for openDoorTimeDelayMs and announces `msg`.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: OpenCommand = s.poll(Service::Open)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    log::info!("remote open {}", cmd.msg_id);
    s.handles.gate.remote_open(&cmd.msg);
    s.finish(Service::Open, &cmd, ErrorCode::Ok, "")
}
