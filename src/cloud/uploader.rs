//! The record uploader thread (`face/record`).
//!
//! Live records go first, then the backlog oldest first (the store's `next_batch_after`). The
//! backlog is every record that failed once, was stored when the uploader started, or was made
//! while records could not be sent (cloud unreachable, `recordService` off). A record counts as
//! delivered only when the cloud's uploadRecordResp echoes its msgID; until then it is re-sent
//! with capped back-off under the same msgID. The delivery marks of a few records are committed
//! together ([`DELIVERY_BATCH`]), so the drain is not held to the disk's fsync rate. The
//! answer's controlState "open" opens the door for records whose door waits for the cloud
//! (visitors, QR codes).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::cloud::{Backoff, Handles, Lifecycle, PollError, Session, Transport};
use crate::protocol::binary::encode_base64;
use crate::protocol::{Service, UploadRecord, UploadRecordResp};
use crate::store::{OutboxRecord, Store};

/// Acknowledged records whose delivery marks are committed together (one transaction, no
/// fsync). After a crash at most this many acknowledged records go again, under their msgIDs.
pub const DELIVERY_BATCH: usize = 16;

/// Wakes the uploader when a record was committed or the schedule changed, and carries the
/// cloud's `recordService` switch.
#[derive(Debug)]
pub(crate) struct Signal {
    woken: Mutex<bool>,
    cv: Condvar,
    service_on: AtomicBool,
}

impl Default for Signal {
    /// Records go until the cloud's registerResp says otherwise.
    fn default() -> Signal {
        Signal { woken: Mutex::new(false), cv: Condvar::new(), service_on: AtomicBool::new(true) }
    }
}

impl Signal {
    /// Wakes the uploader thread.
    pub fn wake(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Turns the record service on or off (registerResp's `recordService`) and wakes the uploader.
    pub fn set_service(&self, on: bool) {
        self.service_on.store(on, Ordering::SeqCst);
        self.wake();
    }

    fn service_on(&self) -> bool {
        self.service_on.load(Ordering::SeqCst)
    }

    /// Waits until woken or `timeout`; returns at once when the daemon is stopping.
    fn wait(&self, timeout: Duration, lifecycle: &Lifecycle) {
        let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        if !*woken && !lifecycle.is_stopping() {
            woken = self.cv.wait_timeout(woken, timeout).unwrap_or_else(|e| e.into_inner()).0;
        }
        *woken = false;
    }
}

/// Runs until shutdown.
pub(crate) fn run(handles: &std::sync::Arc<Handles>, transport: &Transport) {
    let store = match Store::open(&handles.cfg.storage.dir) {
        Ok(s) => s,
        Err(e) => {
            log::error!("uploader cannot open the store: {e}");
            return;
        }
    };
    let mut session = Session::new(handles, transport, store);
    session.gated = false;
    let cfg = &handles.cfg.cloud;
    let (signal, lifecycle) = (&handles.uploader, &handles.lifecycle);
    // For the cloud's refusals (a status, a malformed answer); an unreachable cloud is the
    // link's business. Paced as the link's probes, a fraction of the refusals so far: a poll
    // answered properly wakes this thread, but the scheduler may be away for a minute (a
    // stream's item waiting out its own back-off), and a doubled back-off left 312 records
    // 19 s behind a 13-s HTTP 500 outage (the field soak, seed 20261207).
    let mut backoff = Backoff::outage(cfg.retry_initial_ms, cfg.retry_max_ms);
    // No try before this instant; after an unreachable cloud (true) the link coming up ends
    // the wait (a success anywhere wakes us).
    let mut retry_at: Option<(Instant, bool)> = None;
    // The link's count of recoveries from bad answers when the last failed try began: a
    // recovery since (a poll answered properly after an HTTP 500, garbage or wrong-msgID
    // outage) ends the wait too. Read before the try, so a recovery during it is not missed.
    let mut recoveries_at_failure = 0;
    let mut was_offline = false;
    // Records up to this msgID are backlog even if never tried: those found at start and those
    // made while records could not be sent. Without it, a backlog of never-tried records would
    // count as "live" and drain newest first.
    let mut backlog_end = session.store.last_msg_id().unwrap_or(0);
    // Acknowledged by the cloud, not yet marked in the store.
    let mut acked: Vec<u64> = Vec::with_capacity(DELIVERY_BATCH);
    // Paces the retries of marks that failed (a full disk); nothing is sent meanwhile.
    let mut marks_backoff = Backoff::outage(cfg.retry_initial_ms, cfg.retry_max_ms);
    'outer: while !lifecycle.is_stopping() {
        if !acked.is_empty() {
            // Delivered records whose marks failed: marked first, or waited for. Never sent
            // again while the store cannot take the marks.
            commit_marks(&mut session.store, &mut acked);
            if !acked.is_empty() {
                lifecycle.sleep(marks_backoff.next_delay());
                continue;
            }
            marks_backoff.reset();
        }
        if !signal.service_on() {
            extend_backlog(&session.store, &mut backlog_end);
            signal.wait(Duration::from_secs(5), lifecycle);
            continue;
        }
        let online = handles.link.view().up;
        let recovered = handles.link.recoveries() != recoveries_at_failure;
        if let Some((at, _)) = retry_at.filter(|(_, unreachable)| !(recovered || (online && *unreachable))) {
            let now = Instant::now();
            if now < at {
                // A new record does not shorten the wait: it goes with the next try, as part of
                // the live batch. The link coming up does.
                signal.wait(at - now, lifecycle);
                continue;
            }
        }
        if online && was_offline && handles.settings.get().retransmission {
            // Back online with retransmission on: records held while offline go out too, as
            // backlog.
            if session.store.release_held().is_ok_and(|n| n > 0) {
                extend_backlog(&session.store, &mut backlog_end);
            }
        }
        was_offline = !online;
        // Read before the batch: a snapshot attached between the batch and this read would
        // otherwise let the backlog go before the live record it belongs to (the gate counts
        // the job before the record is stored).
        let snapshot_coming = handles.gate.snapshots_in_flight();
        // Read before the batch. While no record is stored after it, none can have been evicted
        // (the caps act on insert) and the pending count stands: neither is read per record.
        let newest = session.store.last_msg_id().unwrap_or(0);
        let pending = session.store.pending_count().unwrap_or(0);
        let batch = match session.store.next_batch_after(backlog_end, DELIVERY_BATCH) {
            Ok(b) => b,
            Err(e) => {
                log::error!("reading the outbox: {e}");
                lifecycle.sleep(Duration::from_secs(1));
                continue;
            }
        };
        // The live query's condition: a backlog batch never meets it (see next_batch_after).
        let live = batch.first().is_some_and(|r| r.attempts == 0 && r.msg_id > backlog_end);
        if !live && snapshot_coming {
            // A live record waits for its camera snapshot: it goes before the backlog, so wait
            // for it (the snapshot worker wakes us) rather than start on the backlog. The gate
            // counts the jobs: no patience guessed from the clock, which load outlasted (the
            // backlog went first) and a clock step fooled.
            signal.wait(Duration::from_millis(100), lifecycle);
            continue;
        }
        if batch.is_empty() {
            signal.wait(Duration::from_secs(30), lifecycle);
            continue;
        }
        for (i, rec) in batch.iter().enumerate() {
            // A record made meanwhile may be live (it goes before the rest of this batch) or
            // may have evicted one of these (a record counted as dropped must not be sent).
            if !session.store.last_msg_id().is_ok_and(|last| last == newest) {
                break;
            }
            // offLineRecordNum: the records still waiting besides this one.
            let waiting = pending.saturating_sub(1 + i as u64);
            let recoveries_before = handles.link.recoveries();
            match send(&mut session, rec, waiting) {
                Ok(()) => {
                    acked.push(rec.msg_id);
                    backoff.reset();
                    retry_at = None;
                }
                Err(PollError::Shutdown) => break 'outer,
                Err(e) => {
                    commit_marks(&mut session.store, &mut acked);
                    // What this batch could see waits its turn behind older records now; records
                    // made since, or still waiting for their snapshot, get their own first try.
                    let mut upto = newest;
                    if let Ok(Some(waiting)) = session.store.oldest_snapshot_wait_id() {
                        upto = upto.min(waiting.saturating_sub(1));
                    }
                    // This try was the try of every live record it could see (the live batch):
                    // each is counted, none stays untried behind the backlog.
                    let tried =
                        if live { session.store.note_live_attempts(backlog_end, upto, rec.msg_id) } else { Ok(0) };
                    match tried.and_then(|_| session.store.note_attempt(rec.msg_id)) {
                        Ok(_) => {}
                        // Unmarked, it is taken for live once more and tried again first.
                        Err(e) => log::warn!("record {}: attempt not noted: {e}", rec.msg_id),
                    }
                    backlog_end = backlog_end.max(upto);
                    recoveries_at_failure = recoveries_before;
                    let unreachable = session.link_wait(&e);
                    let wait = unreachable.unwrap_or_else(|| backoff.next_delay());
                    retry_at = Some((Instant::now() + wait, unreachable.is_some()));
                    log::warn!("record {} not delivered ({e}); retrying in {} ms", rec.msg_id, wait.as_millis());
                    continue 'outer;
                }
            }
        }
        commit_marks(&mut session.store, &mut acked);
    }
    commit_marks(&mut session.store, &mut acked);
}

/// Commits the delivery marks collected so far (before the outbox is read again, so an
/// acknowledged record is never picked twice).
fn commit_marks(store: &mut Store, acked: &mut Vec<u64>) {
    if acked.is_empty() {
        return;
    }
    match store.mark_delivered_unsynced(acked) {
        // One line per batch: a drained backlog of 100,000 records is not 100,000 log lines.
        Ok(_) => {
            match acked.as_slice() {
                [one] => log::info!("record {one} delivered"),
                [first, .., last] => log::info!("{} records delivered ({first} to {last})", acked.len()),
                [] => {}
            }
            acked.clear();
        }
        // Kept in `acked` and tried again before anything else is sent: sent again at once,
        // they would be acknowledged and fail to be marked again, thousands of times a second
        // on a full disk (an outside tester counted 17,042 uploads of 6 records in 5 s).
        Err(e) => log::error!("{} delivered record(s) not marked: {e}", acked.len()),
    }
}

/// Moves the backlog's end up to the newest record stored.
fn extend_backlog(store: &Store, end: &mut u64) {
    if let Ok(last) = store.last_msg_id() {
        *end = (*end).max(last);
    }
}

/// Sends one record with its offLineRecordNum and applies the answer; Ok when the cloud
/// acknowledged it (the caller marks it delivered).
fn send(session: &mut Session<'_>, rec: &OutboxRecord, off_line_record_num: u64) -> Result<(), PollError> {
    let msg = upload_head(session, rec, off_line_record_num);
    let compare = compare_jpeg(session, rec);
    // The photos go from their JPEG bytes straight into the body as Base64 (see
    // `UploadRecord::encode_with_photos`): the same bytes as encoding `upload_message`.
    let body = || msg.encode_with_photos(rec.recognition_photo.as_deref(), compare.as_deref());
    let resp: UploadRecordResp = session.exchange_encoded(Service::Record.path(), body)?;
    if resp.msg_id.trim() != rec.msg_id.to_string() {
        // A message, but not this record's answer: as broken as garbage for the link.
        session.handles.link.answered_badly();
        return Err(PollError::Malformed(format!(
            "uploadRecordResp echoed msgID {:?}, expected {}",
            resp.msg_id, rec.msg_id
        )));
    }
    log::debug!("record {} acknowledged", rec.msg_id);
    // The door is the gate's: it decides whether a visitor still waits for this verdict.
    let display = if resp.display_msg.is_empty() { resp.msg.as_str() } else { resp.display_msg.as_str() };
    session.handles.gate.cloud_verdict(rec.msg_id, resp.control(), &resp.msg, display);
    Ok(())
}

/// The uploadRecord message of a stored record, with `off_line_record_num` (the records still
/// waiting besides this one); photos are encoded here, never stored twice.
pub(crate) fn upload_message(session: &mut Session<'_>, rec: &OutboxRecord, off_line_record_num: u64) -> UploadRecord {
    let mut msg = upload_head(session, rec, off_line_record_num);
    msg.body.recognition_photo = rec.recognition_photo.as_deref().map(encode_base64).unwrap_or_default();
    msg.body.compare_photo = compare_jpeg(session, rec).as_deref().map(encode_base64).unwrap_or_default();
    msg
}

/// The uploadRecord message of a stored record without its photos.
fn upload_head(session: &Session<'_>, rec: &OutboxRecord, off_line_record_num: u64) -> UploadRecord {
    let mut msg = UploadRecord::from_fields(&rec.fields);
    msg.msg_type = "uploadRecord".into();
    msg.msg_id = rec.msg_id.to_string();
    msg.version = session.version().to_string();
    msg.device_no = session.device_no().to_string();
    msg.off_line_record_num = off_line_record_num.to_string();
    // Photos come from the record's columns only, never from its fields.
    msg.body.recognition_photo.clear();
    msg.body.compare_photo.clear();
    msg
}

/// The registered photo a record names as its comparePhoto, if it is still stored.
fn compare_jpeg(session: &Session<'_>, rec: &OutboxRecord) -> Option<Vec<u8>> {
    let (id, slot) = rec.compare_ref.as_ref()?;
    session.store.photo(id, *slot).ok().flatten().map(|p| p.jpeg)
}
