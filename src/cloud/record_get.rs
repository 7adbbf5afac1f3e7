//! `face/get`: upload the records matching one condition (time range, name, idNumber or all),
//! one message each with recordNum, index and token, re-sent on a wrong index.

use crate::cloud::stream;
use crate::cloud::{Outcome, PollError, Session, uploader};
use crate::protocol::{Command, ErrorCode, GetRecordsCommand, Message, RecordAck, RecordItem, Service, time};
use crate::store::RecordFilter;

/// Records fetched from the store per page (photos are loaded with them).
const PAGE: usize = 8;

/// Polls for an extraction request and streams the matching records.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: GetRecordsCommand = s.poll(Service::GetRecords)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let filter = match filter_of(s, &cmd) {
        Ok(f) => f,
        Err(why) => return s.finish(Service::GetRecords, &cmd, ErrorCode::Failed, &why),
    };
    let total = s.store.count_records(&filter)?;
    log::info!("face/get {}: {total} records match {filter:?}", cmd.msg_id);
    if total == 0 {
        return stream::report_empty(s, Service::GetRecords, RecordItem::msg_type_name(), &cmd.msg_id, "records");
    }
    let mut after = 0u64;
    let mut page = std::collections::VecDeque::new();
    stream::upload_run::<RecordAck, _>(s, Service::GetRecords, &cmd.msg_id, total, |s, header| {
        if page.is_empty() {
            page.extend(s.store.records_page(&filter, after, PAGE)?);
        }
        let Some(rec) = page.pop_front() else { return Ok(None) };
        after = rec.msg_id;
        // face/get items carry no offLineRecordNum.
        let record = uploader::upload_message(s, &rec, 0);
        Ok(Some(RecordItem::new(header, &record)))
    })
}

/// The one condition of the command (the spec says they are exclusive; time range wins).
fn filter_of(s: &Session<'_>, cmd: &GetRecordsCommand) -> Result<RecordFilter, String> {
    let tz = s.handles.settings.get().time_zone;
    let start = cmd.snap_time_start.trim();
    let end = cmd.snap_time_end.trim();
    if !start.is_empty() || !end.is_empty() {
        let to_ms = |t: &str, default: i64| -> Result<i64, String> {
            match time::parse_snap_time(t).map_err(|e| e.to_string())? {
                Some(local) => Ok(time::unix_ms(local, tz)),
                None => Ok(default),
            }
        };
        // An empty end means "up to now"; an empty start means "from the beginning".
        return Ok(RecordFilter::TimeRange { start_ms: to_ms(start, 0)?, end_ms: to_ms(end, crate::clock::now_ms())? });
    }
    if !cmd.name.trim().is_empty() {
        return Ok(RecordFilter::Name(cmd.name.trim().to_string()));
    }
    if !cmd.id_number.trim().is_empty() {
        return Ok(RecordFilter::IdNumber(cmd.id_number.trim().to_string()));
    }
    Ok(RecordFilter::All)
}
