//! `face/clear`: clear the pass records on the device.
//!
//! Only records the cloud has acknowledged are deleted: an undelivered record is never destroyed
//! by a remote command (the spec leaves the scope open, protocol.md §3.9.35).

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::ErrorCode;
use crate::protocol::messages::{ClearRecordsCommand, CommandResult, PollReq};
use crate::protocol::services::Service;

/// Polls for a clear request and deletes the delivered records.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(ClearRecordsCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: ClearRecordsCommand = s.exchange(Service::ClearRecords.path(), &req)?;
    if cmd.is_online_delete_record.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    let (code, msg) = match s.store.clear_records() {
        Ok(n) => {
            let kept = s.store.pending_count().unwrap_or(0);
            log::info!("face/clear {}: {n} delivered records deleted, {kept} undelivered kept", cmd.msg_id);
            (ErrorCode::Ok, format!("{}: {n} cleared, {kept} undelivered kept", ErrorCode::Ok.prompt()))
        }
        Err(e) => (ErrorCode::Failed, format!("{}: {e}", ErrorCode::Failed.prompt())),
    };
    let result = CommandResult::new(ClearRecordsCommand::MSG_TYPE, &cmd.msg_id, s.device_no(), code.code(), &msg);
    s.report(Service::ClearRecords.path(), &result)?;
    Ok(Outcome::Command)
}
