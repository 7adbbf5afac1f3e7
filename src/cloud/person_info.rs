//! `person/info`: upload every registered person, one message each.
//!
//! One token for the whole run; `index` 0..personNum-1; each item waits for the cloud's
//! onlineGetRegisterResult with the same index. Persons are read from the store one at a time,
//! photos included, so memory stays flat however many there are. A restart in the middle
//! simply ends the run: the cloud asks again and a fresh run starts.

use crate::cloud::stream;
use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{Command, Message, PersonInfoAck, PersonInfoCommand, PersonInfoItem, Service};

/// Polls for an extraction request and streams the persons.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: PersonInfoCommand = s.poll(Service::PersonInfo)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let total = s.store.person_count()?;
    log::info!("person/info {}: uploading {total} persons", cmd.msg_id);
    if total == 0 {
        // Nothing to stream: say so with personNum "0" and a token, so the cloud is not left
        // waiting and can tell it from a broken answer.
        return stream::report_empty(s, Service::PersonInfo, PersonInfoItem::msg_type_name(), &cmd.msg_id, "persons");
    }
    let mut after = 0i64;
    stream::upload_run::<PersonInfoAck, _>(s, Service::PersonInfo, &cmd.msg_id, total, |s, header| {
        let Some((rowid, person)) = s.store.persons_page(after, 1)?.into_iter().next() else {
            return Ok(None);
        };
        after = rowid;
        let photos = s.store.photos(&person.id_number)?;
        Ok(Some(PersonInfoItem::new(header, &person, &photos)))
    })
}
