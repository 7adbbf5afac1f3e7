//! `person/count`: report how many persons are registered.

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{Command, ErrorCode, PersonCountCommand, PersonCountResult, Service};

/// Polls for a count request and answers personNum.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: PersonCountCommand = s.poll(Service::PersonCount)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let result = match s.store.person_count() {
        Ok(n) => PersonCountResult::new(&cmd, s.device_no(), ErrorCode::Ok, ErrorCode::Ok.prompt(), n),
        Err(e) => {
            log::error!("person count: {e}");
            let mut r = PersonCountResult::new(&cmd, s.device_no(), ErrorCode::Failed, &e.to_string(), 0);
            r.person_num.clear();
            r
        }
    };
    s.report(Service::PersonCount.path(), &result)?;
    s.note_command(&cmd.msg_id);
    Ok(Outcome::Command)
}
