//! `person/info`: upload every registered person, one message each.
//!
//! One token for the whole run; `index` 0..personNum-1; each item waits for the cloud's
//! onlineGetRegisterResult with the same index. Persons are read from the store one at a time,
//! photos included, so memory stays flat however many there are. A restart in the middle
//! simply ends the run: the cloud asks again and a fresh run starts.

use crate::cloud::stream::{self, send_acked};
use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{Command, ErrorCode, ItemHeader, PersonInfoAck, PersonInfoCommand, PersonInfoItem, Service};

/// Polls for an extraction request and streams the persons.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: PersonInfoCommand = s.poll(Service::PersonInfo)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let db = |e: crate::Error| PollError::Malformed(format!("store: {e}"));
    let total = s.store.person_count().map_err(db)?;
    log::info!("person/info {}: uploading {total} persons", cmd.msg_id);
    if total == 0 {
        // Nothing to stream: say so in a plain result, so the cloud is not left waiting.
        return s.finish(Service::PersonInfo, &cmd, ErrorCode::Ok, "0 persons");
    }
    let mut header = ItemHeader {
        msg_id: cmd.msg_id.clone(),
        device_no: s.device_no().to_string(),
        token: stream::new_token(),
        total,
        index: 0,
    };
    let mut after = 0i64;
    while header.index < total {
        let Some((rowid, person)) = s.store.persons_page(after, 1).map_err(db)?.into_iter().next() else {
            break;
        };
        after = rowid;
        let photos = s.store.photos(&person.id_number).map_err(db)?;
        let item = PersonInfoItem::new(&header, &person, &photos);
        drop(photos);
        if let Err(e) = send_acked::<PersonInfoAck>(s, Service::PersonInfo.path(), &item, header.index) {
            log::warn!("person/info {} stopped at index {}: {e}", cmd.msg_id, header.index);
            return match e {
                PollError::Shutdown => Err(e),
                _ => Ok(Outcome::Idle),
            };
        }
        header.index += 1;
        crate::clock::watchdog_ping();
    }
    log::info!("person/info {}: {} of {total} persons uploaded", cmd.msg_id, header.index);
    Ok(Outcome::Command)
}
