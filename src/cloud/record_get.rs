//! `face/get`: upload the records matching one condition (time range, name, idNumber or all),
//! one message each with recordNum, index and token, re-sent on a wrong index.

use crate::cloud::stream::{self, send_acked};
use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::ErrorCode;
use crate::protocol::messages::{CommandResult, GetRecordsCommand, PollReq, RecordItem};
use crate::protocol::services::Service;
use crate::protocol::time;
use crate::store::RecordFilter;

/// Records fetched from the store per page (photos are loaded with them).
const PAGE: usize = 16;

/// Polls for an extraction request and streams the matching records.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(GetRecordsCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: GetRecordsCommand = s.exchange(Service::GetRecords.path(), &req)?;
    if cmd.is_online_get_record.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    let filter = match filter_of(s, &cmd) {
        Ok(f) => f,
        Err(why) => {
            let code = ErrorCode::Failed;
            let msg = format!("{}: {why}", code.prompt());
            let result = CommandResult::new(GetRecordsCommand::MSG_TYPE, &cmd.msg_id, s.device_no(), code.code(), &msg);
            s.report(Service::GetRecords.path(), &result)?;
            return Ok(Outcome::Command);
        }
    };
    let db = |e: crate::Error| PollError::Malformed(format!("store: {e}"));
    let total = s.store.count_records(&filter).map_err(db)?;
    log::info!("face/get {}: {total} records match {filter:?}", cmd.msg_id);
    if total == 0 {
        let ok = ErrorCode::Ok;
        let result = CommandResult::new(GetRecordsCommand::MSG_TYPE, &cmd.msg_id, s.device_no(), ok.code(), ok.prompt());
        s.report(Service::GetRecords.path(), &result)?;
        return Ok(Outcome::Command);
    }
    let token = stream::new_token();
    let mut after = 0u64;
    let mut index = 0u64;
    'pages: while index < total {
        let page = s.store.records_page(&filter, after, PAGE).map_err(db)?;
        if page.is_empty() {
            break;
        }
        for rec in page {
            after = rec.msg_id;
            if index >= total {
                break 'pages;
            }
            let compare = match &rec.compare_ref {
                Some((id, slot)) => s.store.photo(id, *slot).ok().flatten().map(|p| p.jpeg),
                None => None,
            };
            let item = RecordItem::new(&cmd.msg_id, s.device_no(), &token, total, index, &rec, compare.as_deref());
            if let Err(e) = send_acked(s, Service::GetRecords.path(), &item, index) {
                log::warn!("face/get {} stopped at index {index}: {e}", cmd.msg_id);
                return match e {
                    PollError::Shutdown => Err(e),
                    _ => Ok(Outcome::Idle),
                };
            }
            index += 1;
        }
    }
    Ok(Outcome::Command)
}

fn filter_of(s: &Session<'_>, cmd: &GetRecordsCommand) -> Result<RecordFilter, String> {
    let tz = s.shared.params().time_zone_hours().unwrap_or(s.cfg().device.time_zone);
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
        return Ok(RecordFilter::TimeRange {
            start_ms: to_ms(start, 0)?,
            end_ms: to_ms(end, crate::daemon::now_ms())?,
        });
    }
    if !cmd.name.trim().is_empty() {
        return Ok(RecordFilter::Name(cmd.name.trim().to_string()));
    }
    if !cmd.id_number.trim().is_empty() {
        return Ok(RecordFilter::IdNumber(cmd.id_number.trim().to_string()));
    }
    Ok(RecordFilter::All)
}
