//! `person/count`: report how many persons are registered.

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::ErrorCode;
use crate::protocol::messages::{PersonCountCommand, PersonCountResult, PollReq};
use crate::protocol::services::Service;

/// Polls for a count request and answers personNum.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(PersonCountCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: PersonCountCommand = s.exchange(Service::PersonCount.path(), &req)?;
    if cmd.is_online_get_register_count.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    let (code, count) = match s.store.person_count() {
        Ok(n) => (ErrorCode::Ok, n.to_string()),
        Err(e) => {
            log::error!("person count: {e}");
            (ErrorCode::Failed, String::new())
        }
    };
    let result = PersonCountResult::new(&cmd.msg_id, s.device_no(), code.code(), code.prompt(), &count);
    s.report(Service::PersonCount.path(), &result)?;
    Ok(Outcome::Command)
}
