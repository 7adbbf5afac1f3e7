//! `face/clear`: clear the pass records on the device.
//!
//! Only records the cloud has acknowledged are deleted: an undelivered record is never destroyed
//! by a remote command (the spec leaves the scope open, protocol.md §3.9.35).

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{ClearRecordsCommand, Command, ErrorCode, Service};

/// Polls for a clear request and deletes the delivered records.
pub fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: ClearRecordsCommand = s.poll(Service::ClearRecords)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    match s.store.clear_records() {
        Ok(n) => {
            let kept = s.store.pending_count().unwrap_or(0);
            log::info!("face/clear {}: {n} delivered records deleted, {kept} undelivered kept", cmd.msg_id);
            let msg = format!("{}: {n} cleared, {kept} undelivered kept", ErrorCode::Ok.prompt());
            s.finish(Service::ClearRecords, &cmd, ErrorCode::Ok, &msg)
        }
        Err(e) => s.finish(Service::ClearRecords, &cmd, ErrorCode::Failed, &e.to_string()),
    }
}
