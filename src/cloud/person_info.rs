//! `person/info`: upload every registered person, one message each.
//!
//! One token for the whole run; `index` 0..personNum-1; each item waits for the cloud's
//! onlineGetRegisterResult with the same index. Persons are read from the store one at a time,
//! photos included, so memory stays flat however many there are. A restart in the middle
//! simply ends the run: the cloud asks again and a fresh run starts.

use crate::cloud::stream::{self, send_acked};
use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::ErrorCode;
use crate::protocol::messages::{CommandResult, PersonInfoCommand, PersonInfoItem, PollReq};
use crate::protocol::services::Service;

/// Polls for an extraction request and streams the persons.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(PersonInfoCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: PersonInfoCommand = s.exchange(Service::PersonInfo.path(), &req)?;
    if cmd.is_online_get_register.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    let db = |e: crate::Error| PollError::Malformed(format!("store: {e}"));
    let total = s.store.person_count().map_err(db)?;
    let token = stream::new_token();
    log::info!("person/info {}: uploading {total} persons", cmd.msg_id);
    if total == 0 {
        // Nothing to stream: say so in a plain result, so the cloud is not left waiting.
        let ok = ErrorCode::Ok;
        let result = CommandResult::new(PersonInfoCommand::MSG_TYPE, &cmd.msg_id, s.device_no(), ok.code(), ok.prompt());
        s.report(Service::PersonInfo.path(), &result)?;
        return Ok(Outcome::Command);
    }
    let mut after = 0i64;
    let mut index = 0u64;
    while index < total {
        let page = s.store.persons_page(after, 1).map_err(db)?;
        let Some((rowid, person)) = page.into_iter().next() else { break };
        after = rowid;
        let photos = s.store.photos(&person.id_number).map_err(db)?;
        let item = PersonInfoItem::new(&cmd.msg_id, s.device_no(), &token, total, index, &person, &photos);
        if let Err(e) = send_acked(s, Service::PersonInfo.path(), &item, index) {
            log::warn!("person/info {} stopped at index {index}: {e}", cmd.msg_id);
            return match e {
                PollError::Shutdown => Err(e),
                _ => Ok(Outcome::Idle),
            };
        }
        index += 1;
        crate::daemon::watchdog_ping();
    }
    log::info!("person/info {}: {index} of {total} persons uploaded", cmd.msg_id);
    Ok(Outcome::Command)
}
