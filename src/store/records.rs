//! The access-record outbox: every record is committed here before the door, the cloud or
//! anyone else hears of it, then uploaded (`face/record`) and marked delivered once the cloud
//! echoes its msgID.
//!
//! Undelivered records are only ever dropped by the caps (oldest first, counted in a persistent
//! `evicted` counter and reported to the caller) — never by a remote command: `face/clear`
//! deletes delivered records only, because the spec does not say it may destroy the offline
//! backlog and a record lost there is a pass nobody can account for.
//!
//! A record that waits for its camera snapshot (taken after the door opened) is stored at once
//! and kept out of the upload queries until [`Store::attach_snapshot`]; waits left by a crash
//! are released at start ([`Store::release_snapshot_waits`]).

use std::collections::BTreeMap;

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Caps, Store};
use crate::clock::now_ms;
use crate::{Error, Result};

/// An access record to be stored, as built by the decision engine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewRecord {
    /// When the pass happened, Unix milliseconds (indexed, for `face/get` time ranges).
    pub created_ms: i64,
    /// The uploadRecord fields except msgType, msgID, version, deviceNo, offLineRecordNum and
    /// the photos (`name` and `idNumber` are indexed, for `face/get`).
    pub fields: BTreeMap<String, String>,
    /// The recognition snapshot (JPEG); an empty one is stored as none.
    pub recognition_photo: Option<Vec<u8>>,
    /// (idNumber, slot) of the registered photo to send as comparePhoto, resolved at upload
    /// time so a 300 KB photo is not copied into every record.
    pub compare_ref: Option<(String, u8)>,
    /// Made while offline with `cloudOfflineRetransmission` = 0: kept, but not sent until
    /// [`Store::release_held`].
    pub held: bool,
    /// A camera snapshot will follow ([`Store::attach_snapshot`]): the record is not uploaded
    /// until it is attached.
    pub awaiting_snapshot: bool,
}

/// Where a record is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Waiting for upload.
    Pending,
    /// The cloud echoed its msgID.
    Delivered,
    /// Kept but not to be sent (offline retransmission is off).
    Held,
}

impl RecordState {
    fn from_code(code: i64) -> Option<RecordState> {
        match code {
            0 => Some(RecordState::Pending),
            1 => Some(RecordState::Delivered),
            2 => Some(RecordState::Held),
            _ => None,
        }
    }

    /// Lower-case name, for `records list` and logs.
    pub fn name(self) -> &'static str {
        match self {
            RecordState::Pending => "pending",
            RecordState::Delivered => "delivered",
            RecordState::Held => "held",
        }
    }
}

/// A stored record with everything needed to upload it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    /// The uploadRecord msgID: unique for the device's life, never reused.
    pub msg_id: u64,
    /// When the pass happened, Unix milliseconds.
    pub created_ms: i64,
    /// The uploadRecord fields, as given to [`Store::insert_record`].
    pub fields: BTreeMap<String, String>,
    /// The recognition snapshot (JPEG), if any.
    pub recognition_photo: Option<Vec<u8>>,
    /// (idNumber, slot) of the registered photo to send as comparePhoto.
    pub compare_ref: Option<(String, u8)>,
    /// Upload state.
    pub state: RecordState,
    /// How many uploads were tried ([`Store::note_attempt`]).
    pub attempts: u32,
}

/// A record without its photo bytes, for listings.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSummary {
    /// The uploadRecord msgID.
    pub msg_id: u64,
    /// When the pass happened, Unix milliseconds.
    pub created_ms: i64,
    /// The uploadRecord fields.
    pub fields: BTreeMap<String, String>,
    /// Size of the recognition snapshot, 0 when there is none.
    pub photo_bytes: u64,
    /// (idNumber, slot) of the registered photo to send as comparePhoto.
    pub compare_ref: Option<(String, u8)>,
    /// Upload state.
    pub state: RecordState,
    /// How many uploads were tried.
    pub attempts: u32,
}

/// What [`Store::insert_record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertOutcome {
    /// The new record's msgID.
    pub msg_id: u64,
    /// Undelivered records dropped by the caps or for disk space (the caller must log this).
    pub evicted: u64,
    /// Photos of undelivered records dropped for disk space (the records themselves are kept).
    pub photos_dropped: u64,
}

/// The condition of a `face/get` extraction; the spec makes its conditions exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFilter {
    /// Every record.
    All,
    /// Records made between the two instants, Unix milliseconds, both included.
    TimeRange {
        /// First instant included.
        start_ms: i64,
        /// Last instant included.
        end_ms: i64,
    },
    /// Records with exactly this `name`.
    Name(String),
    /// Records with exactly this `idNumber`.
    IdNumber(String),
}

/// Columns read by [`record_from_row`]; the photo comes from a LEFT JOIN so records without one
/// cost no lookup beyond the join probe.
macro_rules! select_record {
    (hint $hint:literal, $($tail:expr),+) => {
        concat!(
            "SELECT r.msg_id, r.created_ms, r.fields, r.compare_id, r.compare_slot, r.state, ",
            "r.attempts, p.jpeg FROM records r ",
            $hint,
            " LEFT JOIN record_photos p ON p.msg_id = r.msg_id ",
            $($tail),+
        )
    };
    ($($tail:expr),+) => {
        select_record!(hint "", $($tail),+)
    };
}

/// Keeps records whose camera snapshot is still being taken out of the upload queries.
macro_rules! no_snapshot_pending {
    () => {
        " AND NOT EXISTS (SELECT 1 FROM record_snaps s WHERE s.msg_id = r.msg_id) "
    };
}

/// Columns read by [`summary_from_row`].
macro_rules! select_summary {
    ($tail:literal) => {
        concat!(
            "SELECT msg_id, created_ms, fields, compare_id, compare_slot, state, attempts, ",
            "photo_bytes FROM records ",
            $tail
        )
    };
}

impl Store {
    /// Stores a record durably (one transaction, fsynced) and returns its msgID; then enforces
    /// the caps of [`Store::set_caps`]: delivered records go first, oldest first; only when none
    /// is left are the oldest undelivered ones dropped, counted in `evicted`. The record just
    /// inserted is always kept, even if it alone exceeds a cap.
    ///
    /// Below the filesystem's reserve ([`Store::set_reserve`]) the database makes room in itself
    /// first, so the record reuses freed pages instead of growing the file: delivered records
    /// go first, then the photos of undelivered ones, then the oldest undelivered records
    /// (counted as the caps count them). A write that still finds no room (SQLITE_FULL, or
    /// EFBIG past a file size limit) is retried after a checkpoint, which lets the WAL start
    /// over in the space it already has; only if that try fails too is room made by dropping
    /// the oldest undelivered records, and tried once more.
    pub fn insert_record(&mut self, record: &NewRecord) -> Result<InsertOutcome> {
        // Below the reserve, room is made from what may go without loss (delivered records,
        // photos); an undelivered record goes only once a write actually found no room.
        let low = self.space_is_low();
        // Each try is retried once after a checkpoint by `write` itself (the WAL starts over
        // in the blocks it holds), so a failure here means the database itself has no room.
        match self.insert_once(record, low.then_some(false)) {
            Err(e) if super::is_out_of_space(&e) => {
                log::warn!("{e}; making room in the database, undelivered records too, and trying once more");
                self.low_until = Some(std::time::Instant::now() + super::LOW_SPACE_HOLD);
                self.insert_once(record, Some(true))
            }
            other => other,
        }
    }

    /// One try of [`Store::insert_record`]; `make_room` first when set, dropping undelivered
    /// records too when it is `Some(true)`.
    fn insert_once(&mut self, record: &NewRecord, make_room_first: Option<bool>) -> Result<InsertOutcome> {
        let fields = serde_json::to_string(&record.fields)
            .map_err(|e| Error::Store(format!("access record fields not storable: {e}")))?;
        let name = record.fields.get("name").map_or("", String::as_str);
        let id_number = record.fields.get("idNumber").map_or("", String::as_str);
        let photo = record.recognition_photo.as_deref().filter(|p| !p.is_empty());
        let photo_bytes = photo.map_or(0, |p| p.len() as i64);
        let (compare_id, compare_slot) = match &record.compare_ref {
            Some((id, slot)) => (Some(id.as_str()), Some(*slot)),
            None => (None, None),
        };
        let state = if record.held { 2 } else { 0 };
        let caps = self.caps;
        // What the record takes, with a few pages for the indexes and counters it touches.
        let need = (fields.len() + photo.map_or(0, <[u8]>::len)) as u64 + ROOM_SLACK_PAGES * 4096;
        self.write("saving an access record", |tx| {
            let room = match make_room_first {
                Some(drop_undelivered) => make_room(tx, need, None, drop_undelivered)?,
                None => Room::default(),
            };
            tx.prepare_cached(
                "INSERT INTO records (created_ms, name, id_number, state, fields, compare_id,
                     compare_slot, photo_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                record.created_ms,
                name,
                id_number,
                state,
                fields,
                compare_id,
                compare_slot,
                photo_bytes
            ])?;
            let msg_id = tx.last_insert_rowid();
            if let Some(photo) = photo {
                tx.prepare_cached("INSERT INTO record_photos (msg_id, jpeg) VALUES (?1, ?2)")?
                    .execute(params![msg_id, photo])?;
            }
            if record.awaiting_snapshot {
                tx.prepare_cached("INSERT INTO record_snaps (msg_id) VALUES (?1)")?.execute([msg_id])?;
            }
            let evicted = enforce_caps(tx, caps, msg_id)? + room.evicted;
            Ok(InsertOutcome { msg_id: msg_id as u64, evicted, photos_dropped: room.photos_dropped })
        })
    }

    /// The record to upload next: a live event first — the oldest pending record never
    /// attempted, if it was made within [`LIVE_WINDOW_MS`] — otherwise the oldest pending one,
    /// so the backlog drains oldest first. Live events go in the order they happened: one made
    /// while an earlier one waited (for its snapshot, for the uploader) does not pass it. Held and delivered records are never returned.
    /// Call [`Store::note_attempt`] after a failed upload, so a record that failed once joins
    /// the backlog instead of staying "live".
    #[cfg(test)]
    pub(crate) fn next_to_send(&self) -> Result<Option<OutboxRecord>> {
        self.next_to_send_after(0)
    }

    /// Like [`Store::next_to_send`], but records with a msgID up to `backlog_end` are backlog
    /// even if never attempted. The uploader passes [`Store::last_msg_id`] as it was when it
    /// last could not send (offline, `recordService` off, at start): records that piled up
    /// meanwhile were made offline and must wait behind the older backlog.
    pub fn next_to_send_after(&self, backlog_end: u64) -> Result<Option<OutboxRecord>> {
        let backlog_end = to_sql_id(backlog_end);
        let fresh_since = now_ms().saturating_sub(LIVE_WINDOW_MS);
        self.read("choosing the next record to upload", |c| {
            // Pinned to the time index: only the records of the live window are looked at, so a
            // week of never-attempted records is not walked on every call.
            let live = c
                .prepare_cached(select_record!(
                    hint "INDEXED BY records_created",
                    "WHERE r.created_ms >= ?2 AND r.state = 0 AND r.attempts = 0 AND r.msg_id > ?1",
                    no_snapshot_pending!(),
                    "ORDER BY r.msg_id LIMIT 1"
                ))?
                .query_row([backlog_end, fresh_since], record_from_row)
                .optional()?;
            if let Some(live) = live {
                return Ok(Some(live));
            }
            c.prepare_cached(select_record!("WHERE r.state = 0", no_snapshot_pending!(), "ORDER BY r.msg_id LIMIT 1"))?
                .query_row([], record_from_row)
                .optional()
        })
    }

    /// Up to `limit` records to upload next, in order: a live record alone — the oldest never
    /// attempted after `backlog_end` (the uploader moves `backlog_end` whenever it could not
    /// send, so these were all made while it could) — otherwise the oldest pending ones. Empty
    /// when nothing waits.
    pub fn next_batch_after(&self, backlog_end: u64, limit: usize) -> Result<Vec<OutboxRecord>> {
        let backlog_end = to_sql_id(backlog_end);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("choosing the next records to upload", |c| {
            let live = c
                .prepare_cached(select_record!(
                    hint "INDEXED BY records_live",
                    "WHERE r.state = 0 AND r.attempts = 0 AND r.msg_id > ?1",
                    no_snapshot_pending!(),
                    "ORDER BY r.msg_id LIMIT 1"
                ))?
                .query_row([backlog_end], record_from_row)
                .optional()?;
            if let Some(live) = live {
                return Ok(vec![live]);
            }
            let mut stmt = c.prepare_cached(select_record!(
                "WHERE r.state = 0",
                no_snapshot_pending!(),
                "ORDER BY r.msg_id LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], record_from_row)?;
            rows.collect()
        })
    }

    /// The highest msgID of the records stored (0 when there is none).
    pub fn last_msg_id(&self) -> Result<u64> {
        self.read("reading the last msgID", |c| {
            c.prepare_cached("SELECT COALESCE(MAX(msg_id), 0) FROM records")?.query_row([], |r| r.get(0))
        })
    }

    /// Counts one upload try of a record (the uploader counts the failed ones); false when the
    /// msgID is no longer stored. Committed without waiting for the disk (see
    /// [`Store::mark_delivered_unsynced`]): the count is bookkeeping, not a record.
    pub fn note_attempt(&mut self, msg_id: u64) -> Result<bool> {
        let id = to_sql_id(msg_id);
        self.write_unsynced("counting an upload attempt", |tx| {
            let n = tx.prepare_cached("UPDATE records SET attempts = attempts + 1 WHERE msg_id = ?1")?.execute([id])?;
            Ok(n > 0)
        })
    }

    /// Counts one try for every live record (never tried) with a msgID in `(after, upto]` but
    /// `except`: the uploader's failed try of a live batch was the try of every record it could
    /// see. Unsynced like [`Store::note_attempt`]; returns how many were counted.
    pub fn note_live_attempts(&mut self, after: u64, upto: u64, except: u64) -> Result<usize> {
        let (after, upto, except) = (to_sql_id(after), to_sql_id(upto), to_sql_id(except));
        self.write_unsynced("counting the tries of a live batch", |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE records SET attempts = 1 \
                     WHERE msg_id > ?1 AND msg_id <= ?2 AND msg_id <> ?3 AND state = 0 AND attempts = 0",
                )?
                .execute([after, upto, except])?;
            Ok(n)
        })
    }

    /// Marks a record delivered once the cloud echoed its msgID; false if the msgID is unknown
    /// or was already delivered (a duplicate echo).
    #[cfg(test)]
    pub(crate) fn mark_delivered(&mut self, msg_id: u64) -> Result<bool> {
        let id = to_sql_id(msg_id);
        self.write("marking a record delivered", |tx| {
            let n =
                tx.prepare_cached("UPDATE records SET state = 1 WHERE msg_id = ?1 AND state <> 1")?.execute([id])?;
            Ok(n > 0)
        })
    }

    /// Marks records delivered, like [`Store::mark_delivered`], in one transaction that does not
    /// wait for the disk; returns how many were newly marked. The uploader collects a few
    /// acknowledgements per commit: a mark lost to a crash or power cut only sends that record
    /// again under the same msgID, which the protocol allows, while a synced commit per record
    /// would hold the backlog drain to the disk's fsync rate (about 150 records a second here
    /// instead of thousands). Records themselves are always committed with an fsync.
    pub fn mark_delivered_unsynced(&mut self, msg_ids: &[u64]) -> Result<u64> {
        if msg_ids.is_empty() {
            return Ok(0);
        }
        self.write_unsynced("marking records delivered", |tx| {
            let mut stmt = tx.prepare_cached("UPDATE records SET state = 1 WHERE msg_id = ?1 AND state <> 1")?;
            let mut n = 0;
            for id in msg_ids {
                n += stmt.execute([to_sql_id(*id)])? as u64;
            }
            Ok(n)
        })
    }

    /// Makes every held record pending (offline retransmission was switched on); returns how
    /// many were released.
    pub fn release_held(&mut self) -> Result<u64> {
        self.write("releasing held records", |tx| {
            let n = tx.prepare_cached("UPDATE records SET state = 0 WHERE state = 2")?.execute([])?;
            Ok(n as u64)
        })
    }

    /// Attaches the camera snapshot of a record stored with `awaiting_snapshot` (none when the
    /// camera failed) and lets the uploader have it; then enforces the caps as an insert does.
    /// Returns how many undelivered records the caps dropped. A record already dropped or
    /// cleared is left alone. Not fsynced (it is not the record, only its photo): a power cut
    /// can undo it, and the record then goes without the photo after the restart.
    pub fn attach_snapshot(&mut self, msg_id: u64, photo: Option<&[u8]>) -> Result<u64> {
        let id = to_sql_id(msg_id);
        let photo = photo.filter(|p| !p.is_empty());
        let caps = self.caps;
        let low = self.space_is_low();
        self.write_unsynced("attaching a record's snapshot", |tx| {
            if tx.prepare_cached("DELETE FROM record_snaps WHERE msg_id = ?1")?.execute([id])? == 0 {
                return Ok(0);
            }
            let Some(photo) = photo else { return Ok(0) };
            // Short of space a photo may take the room of delivered records, never of a record.
            if low {
                let need = photo.len() as u64 + ROOM_SLACK_PAGES * 4096;
                if make_room(tx, need, Some(id), false)?.short {
                    log::warn!("record {msg_id}: the disk is short of space; its snapshot is dropped");
                    tx.prepare_cached("UPDATE outbox_stats SET photos_dropped = photos_dropped + 1 WHERE id = 1")?
                        .execute([])?;
                    return Ok(0);
                }
            }
            tx.prepare_cached("INSERT OR REPLACE INTO record_photos (msg_id, jpeg) VALUES (?1, ?2)")?
                .execute(params![id, photo])?;
            tx.prepare_cached("UPDATE records SET photo_bytes = ?2 WHERE msg_id = ?1")?
                .execute(params![id, photo.len() as i64])?;
            enforce_caps(tx, caps, id)
        })
    }

    /// When the newest record still waiting for its snapshot was made (Unix ms), if any.
    pub fn newest_snapshot_wait(&self) -> Result<Option<i64>> {
        self.read("reading the records waiting for a snapshot", |c| {
            c.prepare_cached("SELECT MAX(r.created_ms) FROM record_snaps s JOIN records r ON r.msg_id = s.msg_id")?
                .query_row([], |r| r.get(0))
        })
    }

    /// The msgID of the oldest record still waiting for its snapshot, if any.
    pub fn oldest_snapshot_wait_id(&self) -> Result<Option<u64>> {
        self.read("reading the records waiting for a snapshot", |c| {
            c.prepare_cached("SELECT MIN(msg_id) FROM record_snaps")?.query_row([], |r| r.get::<_, Option<i64>>(0))
        })
        .map(|id| id.map(|id| id as u64))
    }

    /// Lets records still waiting for a snapshot go without one (at start: the snapshot of a
    /// daemon that crashed will never come). Returns how many there were.
    pub fn release_snapshot_waits(&mut self) -> Result<u64> {
        self.write("releasing records waiting for a snapshot", |tx| {
            Ok(tx.prepare_cached("DELETE FROM record_snaps")?.execute([])? as u64)
        })
    }

    /// Records waiting for upload (not held, not delivered): the spec's offLineRecordNum.
    pub fn pending_count(&self) -> Result<u64> {
        self.stat("SELECT pending FROM outbox_stats WHERE id = 1")
    }

    /// Records kept without being sent (offline retransmission off).
    #[cfg(test)]
    pub(crate) fn held_count(&self) -> Result<u64> {
        self.stat("SELECT held FROM outbox_stats WHERE id = 1")
    }

    /// All records stored, whatever their state.
    pub fn record_count(&self) -> Result<u64> {
        self.stat("SELECT total FROM outbox_stats WHERE id = 1")
    }

    /// Undelivered records dropped by the caps over the device's life.
    pub fn evicted_count(&self) -> Result<u64> {
        self.stat("SELECT evicted FROM outbox_stats WHERE id = 1")
    }

    /// Photos of undelivered records dropped for disk space over the device's life.
    pub fn photos_dropped_count(&self) -> Result<u64> {
        self.stat("SELECT photos_dropped FROM outbox_stats WHERE id = 1")
    }

    /// Total bytes of recognition photos stored with records (what the photo cap limits).
    #[cfg(test)]
    pub(crate) fn record_photo_bytes(&self) -> Result<u64> {
        self.stat("SELECT photo_bytes FROM outbox_stats WHERE id = 1")
    }

    /// Records newest first, without photo bytes, skipping `offset`; with `undelivered_only`,
    /// only pending and held ones.
    pub fn records_list(&self, undelivered_only: bool, limit: usize, offset: usize) -> Result<Vec<RecordSummary>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        self.read("listing records", |c| {
            let mut stmt = if undelivered_only {
                c.prepare_cached(select_summary!("WHERE state <> 1 ORDER BY msg_id DESC LIMIT ?1 OFFSET ?2"))?
            } else {
                c.prepare_cached(select_summary!("ORDER BY msg_id DESC LIMIT ?1 OFFSET ?2"))?
            };
            let rows = stmt.query_map([limit, offset], summary_from_row)?;
            rows.collect()
        })
    }

    /// Deletes the delivered records (`face/clear`) and returns how many. Undelivered records
    /// are never destroyed by a remote command; they leave only by delivery or the caps.
    pub fn clear_records(&mut self) -> Result<u64> {
        self.write("clearing delivered records", |tx| {
            let n = tx.prepare_cached("DELETE FROM records WHERE state = 1")?.execute([])?;
            Ok(n as u64)
        })
    }

    /// How many records match a `face/get` condition, whatever their state.
    pub fn count_records(&self, filter: &RecordFilter) -> Result<u64> {
        self.read("counting records", |c| match filter {
            RecordFilter::All => {
                c.prepare_cached("SELECT total FROM outbox_stats WHERE id = 1")?.query_row([], |r| r.get(0))
            }
            RecordFilter::TimeRange { start_ms, end_ms } => c
                .prepare_cached("SELECT COUNT(*) FROM records WHERE created_ms BETWEEN ?1 AND ?2")?
                .query_row([start_ms, end_ms], |r| r.get(0)),
            RecordFilter::Name(name) => {
                c.prepare_cached("SELECT COUNT(*) FROM records WHERE name = ?1")?.query_row([name], |r| r.get(0))
            }
            RecordFilter::IdNumber(id) => {
                c.prepare_cached("SELECT COUNT(*) FROM records WHERE id_number = ?1")?.query_row([id], |r| r.get(0))
            }
        })
    }

    /// Up to `limit` records matching `filter` with a msgID above `after_msg_id`, in msgID
    /// order, with photos: start at 0 and pass the last msgID returned. Records made while a
    /// `face/get` streams also match; stop at the count announced to the cloud.
    pub fn records_page(&self, filter: &RecordFilter, after_msg_id: u64, limit: usize) -> Result<Vec<OutboxRecord>> {
        let after = to_sql_id(after_msg_id);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("reading records", |c| {
            let mut stmt;
            let rows = match filter {
                RecordFilter::All => {
                    stmt = c.prepare_cached(select_record!("WHERE r.msg_id > ?1 ORDER BY r.msg_id LIMIT ?2"))?;
                    stmt.query_map(params![after, limit], record_from_row)?
                }
                RecordFilter::TimeRange { start_ms, end_ms } => {
                    stmt = c.prepare_cached(select_record!(
                        "WHERE r.created_ms BETWEEN ?3 AND ?4 AND r.msg_id > ?1
                         ORDER BY r.msg_id LIMIT ?2"
                    ))?;
                    stmt.query_map(params![after, limit, start_ms, end_ms], record_from_row)?
                }
                RecordFilter::Name(name) => {
                    stmt = c.prepare_cached(select_record!(
                        "WHERE r.name = ?3 AND r.msg_id > ?1 ORDER BY r.msg_id LIMIT ?2"
                    ))?;
                    stmt.query_map(params![after, limit, name], record_from_row)?
                }
                RecordFilter::IdNumber(id) => {
                    stmt = c.prepare_cached(select_record!(
                        "WHERE r.id_number = ?3 AND r.msg_id > ?1 ORDER BY r.msg_id LIMIT ?2"
                    ))?;
                    stmt.query_map(params![after, limit, id], record_from_row)?
                }
            };
            rows.collect()
        })
    }

    /// Runs `f` in one IMMEDIATE transaction committed with `synchronous=NORMAL`. In WAL mode
    /// that commit is atomic and ordered but may be lost to a power cut until the next fsync
    /// (a later synced commit of any connection, or a checkpoint); it can never be lost while
    /// an earlier commit survives. The connection is back to `FULL` afterwards.
    fn write_unsynced<T>(&mut self, what: &str, f: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        self.set_synchronous(what, "NORMAL")?;
        let result = self.write(what, f);
        // Never leave the connection unsynced: every later record must reach the disk.
        self.set_synchronous(what, "FULL")?;
        result
    }

    fn set_synchronous(&self, what: &str, mode: &str) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", mode).map_err(|e| super::describe(&self.path, what, e))
    }

    /// Reads one trigger-maintained counter of `outbox_stats`.
    fn stat(&self, sql: &'static str) -> Result<u64> {
        self.read("reading outbox counters", |c| c.prepare_cached(sql)?.query_row([], |r| r.get(0)))
    }
}

/// How recent a never-attempted record must be to go before the backlog. Records made while
/// the cloud was away are often never attempted (a failed try can block for the connect
/// timeout, and the back-off grows to a minute): without this bound, a week of them would be
/// taken for live events and go ahead of the older backlog. Longer than any door wait for the cloud's
/// controlState, the reason live events go first.
pub const LIVE_WINDOW_MS: i64 = 10_000;

/// Pages beyond a record's own bytes that making room frees for it: the index leaves and the
/// counters an insert touches.
const ROOM_SLACK_PAGES: u64 = 2;

/// Bounds one [`make_room`]: a database short of space gives up at most this many rows per
/// insert (the first insert below the reserve; later ones find the pages already free).
const MAX_ROOM_STEPS: u32 = 10_000;

/// What [`make_room`] did.
#[derive(Debug, Default, Clone, Copy)]
struct Room {
    evicted: u64,
    photos_dropped: u64,
    /// Still less free than asked for: nothing left that may go.
    short: bool,
}

/// Frees pages inside the database until `need` bytes are free in it (its freelist), so what
/// comes next reuses them instead of growing the file on a disk short of space. In order:
/// delivered records (oldest first), then photos of undelivered records (oldest first; the
/// records stay), then — if `drop_undelivered` — the oldest undelivered records, counted in
/// `evicted` like the caps' evictions. `keep` (a record being completed) is never touched.
fn make_room(tx: &Transaction<'_>, need: u64, keep: Option<i64>, drop_undelivered: bool) -> rusqlite::Result<Room> {
    let keep = keep.unwrap_or(0);
    let page: u64 = tx.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let mut room = Room::default();
    for _ in 0..MAX_ROOM_STEPS {
        let free_pages: u64 = tx.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if free_pages * page >= need {
            return Ok(room);
        }
        let delivered: Option<i64> = tx
            .prepare_cached("SELECT msg_id FROM records WHERE state = 1 ORDER BY msg_id LIMIT 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        if let Some(id) = delivered {
            tx.prepare_cached("DELETE FROM record_photos WHERE msg_id = ?1")?.execute([id])?;
            tx.prepare_cached("DELETE FROM records WHERE msg_id = ?1")?.execute([id])?;
            continue;
        }
        let with_photo: Option<i64> = tx
            .prepare_cached(
                "SELECT msg_id FROM records INDEXED BY records_with_photo
                 WHERE state <> 1 AND photo_bytes > 0 AND msg_id <> ?1 ORDER BY msg_id LIMIT 1",
            )?
            .query_row([keep], |r| r.get(0))
            .optional()?;
        if let Some(id) = with_photo {
            tx.prepare_cached("DELETE FROM record_photos WHERE msg_id = ?1")?.execute([id])?;
            tx.prepare_cached("UPDATE records SET photo_bytes = 0 WHERE msg_id = ?1")?.execute([id])?;
            tx.prepare_cached("UPDATE outbox_stats SET photos_dropped = photos_dropped + 1 WHERE id = 1")?
                .execute([])?;
            room.photos_dropped += 1;
            continue;
        }
        let oldest: Option<i64> = if drop_undelivered {
            tx.prepare_cached("SELECT msg_id FROM records WHERE state <> 1 AND msg_id <> ?1 ORDER BY msg_id LIMIT 1")?
                .query_row([keep], |r| r.get(0))
                .optional()?
        } else {
            None
        };
        match oldest {
            Some(id) => {
                tx.prepare_cached("DELETE FROM records WHERE msg_id = ?1")?.execute([id])?;
                tx.prepare_cached("UPDATE outbox_stats SET evicted = evicted + 1 WHERE id = 1")?.execute([])?;
                room.evicted += 1;
            }
            None => break,
        }
    }
    room.short = true;
    Ok(room)
}

/// Drops records until both caps hold again, never `keep` (the record just inserted).
fn enforce_caps(tx: &Transaction<'_>, caps: Caps, keep: i64) -> rusqlite::Result<u64> {
    let mut evicted = 0;
    loop {
        let (total, bytes): (u64, u64) = tx
            .prepare_cached("SELECT total, photo_bytes FROM outbox_stats WHERE id = 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let over_count = total > caps.max_records;
        if !over_count && bytes <= caps.max_photo_bytes {
            return Ok(evicted);
        }
        // Over the photo cap only: dropping a record without a photo would not help.
        let (delivered_sql, undelivered_sql) = if over_count {
            (
                "SELECT msg_id FROM records WHERE state = 1 ORDER BY msg_id LIMIT 1",
                "SELECT msg_id FROM records WHERE state <> 1 AND msg_id <> ?1
                 ORDER BY msg_id LIMIT 1",
            )
        } else {
            (
                "SELECT msg_id FROM records WHERE state = 1 AND photo_bytes > 0
                 ORDER BY msg_id LIMIT 1",
                "SELECT msg_id FROM records WHERE state <> 1 AND photo_bytes > 0 AND msg_id <> ?1
                 ORDER BY msg_id LIMIT 1",
            )
        };
        let delivered: Option<i64> = tx.prepare_cached(delivered_sql)?.query_row([], |r| r.get(0)).optional()?;
        let victim = match delivered {
            Some(id) => id,
            None => {
                let undelivered: Option<i64> =
                    tx.prepare_cached(undelivered_sql)?.query_row([keep], |r| r.get(0)).optional()?;
                match undelivered {
                    Some(id) => {
                        evicted += 1;
                        tx.prepare_cached("UPDATE outbox_stats SET evicted = evicted + 1 WHERE id = 1")?.execute([])?;
                        id
                    }
                    None => return Ok(evicted),
                }
            }
        };
        tx.prepare_cached("DELETE FROM record_photos WHERE msg_id = ?1")?.execute([victim])?;
        tx.prepare_cached("DELETE FROM records WHERE msg_id = ?1")?.execute([victim])?;
    }
}

fn to_sql_id(msg_id: u64) -> i64 {
    i64::try_from(msg_id).unwrap_or(i64::MAX)
}

fn fields_at(r: &Row<'_>, col: usize) -> rusqlite::Result<BTreeMap<String, String>> {
    let text: String = r.get(col)?;
    serde_json::from_str(&text).map_err(|e| rusqlite::Error::FromSqlConversionFailure(col, Type::Text, Box::new(e)))
}

fn compare_ref_at(r: &Row<'_>, col: usize) -> rusqlite::Result<Option<(String, u8)>> {
    let id: Option<String> = r.get(col)?;
    let slot: Option<u8> = r.get(col + 1)?;
    Ok(id.zip(slot))
}

fn state_at(r: &Row<'_>, col: usize) -> rusqlite::Result<RecordState> {
    let code: i64 = r.get(col)?;
    RecordState::from_code(code).ok_or(rusqlite::Error::IntegralValueOutOfRange(col, code))
}

fn record_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxRecord> {
    Ok(OutboxRecord {
        msg_id: r.get(0)?,
        created_ms: r.get(1)?,
        fields: fields_at(r, 2)?,
        compare_ref: compare_ref_at(r, 3)?,
        state: state_at(r, 5)?,
        attempts: r.get(6)?,
        recognition_photo: r.get(7)?,
    })
}

fn summary_from_row(r: &Row<'_>) -> rusqlite::Result<RecordSummary> {
    Ok(RecordSummary {
        msg_id: r.get(0)?,
        created_ms: r.get(1)?,
        fields: fields_at(r, 2)?,
        compare_ref: compare_ref_at(r, 3)?,
        state: state_at(r, 5)?,
        attempts: r.get(6)?,
        photo_bytes: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn rec(created_ms: i64, id: &str, name: &str) -> NewRecord {
        let mut fields = BTreeMap::new();
        fields.insert("snapType".to_string(), "0".to_string());
        fields.insert("compareResult".to_string(), "0".to_string());
        fields.insert("idNumber".to_string(), id.to_string());
        fields.insert("name".to_string(), name.to_string());
        NewRecord {
            created_ms,
            fields,
            recognition_photo: None,
            compare_ref: None,
            held: false,
            awaiting_snapshot: false,
        }
    }

    fn with_photo(mut r: NewRecord, len: usize) -> NewRecord {
        r.recognition_photo = Some(vec![0xD8; len]);
        r
    }

    fn open() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        (tmp, store)
    }

    fn ids(records: &[OutboxRecord]) -> Vec<u64> {
        records.iter().map(|r| r.msg_id).collect()
    }

    #[test]
    fn a_record_waiting_for_its_snapshot_is_not_uploaded_until_attached() {
        let (_tmp, mut store) = open();
        let older = store.insert_record(&rec(now_ms() - 1, "1", "a")).unwrap().msg_id;
        let mut r = rec(now_ms(), "2", "b");
        r.awaiting_snapshot = true;
        let snapping = store.insert_record(&r).unwrap().msg_id;
        // Neither as the live record nor in the backlog; counted as pending all the same.
        assert_eq!(store.next_to_send().unwrap().map(|r| r.msg_id), Some(older));
        assert_eq!(ids(&store.next_batch_after(snapping, 16).unwrap()), vec![older]);
        assert_eq!(store.pending_count().unwrap(), 2);
        store.mark_delivered(older).unwrap();
        assert_eq!(store.next_to_send().unwrap(), None);
        assert!(store.next_batch_after(0, 16).unwrap().is_empty());

        assert_eq!(store.attach_snapshot(snapping, Some(&[0xD8; 700])).unwrap(), 0);
        let got = store.next_to_send().unwrap().unwrap();
        assert_eq!((got.msg_id, got.recognition_photo.map(|p| p.len())), (snapping, Some(700)));
        assert_eq!(store.record_photo_bytes().unwrap(), 700);
        assert_eq!(store.records_list(false, 10, 0).unwrap()[0].photo_bytes, 700);
        // A second attach (a duplicate in the queue) changes nothing.
        assert_eq!(store.attach_snapshot(snapping, Some(&[0xD8; 9])).unwrap(), 0);
        assert_eq!(store.record_photo_bytes().unwrap(), 700);
    }

    #[test]
    fn a_failed_snapshot_or_a_restart_lets_the_record_go_without_a_photo() {
        let (_tmp, mut store) = open();
        let mut r = rec(now_ms(), "2", "b");
        r.awaiting_snapshot = true;
        let failed = store.insert_record(&r).unwrap().msg_id;
        let orphan = store.insert_record(&r).unwrap().msg_id;
        assert_eq!(store.attach_snapshot(failed, None).unwrap(), 0);
        assert_eq!(ids(&store.next_batch_after(orphan, 16).unwrap()), vec![failed]);
        assert_eq!(store.next_to_send().unwrap().unwrap().recognition_photo, None);
        assert_eq!(store.release_snapshot_waits().unwrap(), 1);
        assert_eq!(ids(&store.next_batch_after(orphan, 16).unwrap()), vec![failed, orphan]);
        assert_eq!(store.release_snapshot_waits().unwrap(), 0);
    }

    #[test]
    fn an_attached_snapshot_counts_against_the_photo_cap() {
        let (_tmp, mut store) = open();
        store.set_caps(100, 1_000);
        let old = store.insert_record(&with_photo(rec(1, "1", "a"), 600)).unwrap().msg_id;
        let mut r = rec(2, "2", "b");
        r.awaiting_snapshot = true;
        let snapping = store.insert_record(&r).unwrap().msg_id;
        // 600 + 600 > 1,000: the older undelivered photo record is dropped, and counted.
        assert_eq!(store.attach_snapshot(snapping, Some(&[0xD8; 600])).unwrap(), 1);
        assert_eq!(store.evicted_count().unwrap(), 1);
        assert_eq!(store.record_photo_bytes().unwrap(), 600);
        assert!(store.records_list(false, 10, 0).unwrap().iter().all(|r| r.msg_id != old));
        // A record dropped while its snapshot was being taken leaves nothing behind.
        let mut r = rec(3, "3", "c");
        r.awaiting_snapshot = true;
        let dropped = store.insert_record(&r).unwrap().msg_id;
        store.set_caps(1, 1_000);
        store.insert_record(&rec(4, "4", "d")).unwrap();
        assert_eq!(store.attach_snapshot(dropped, Some(&[0xD8; 10])).unwrap(), 0);
        assert_eq!(store.release_snapshot_waits().unwrap(), 0, "the wait went with its record");
    }

    #[test]
    fn record_roundtrip() {
        let (_tmp, mut store) = open();
        let mut r = with_photo(rec(1_700_000_000_123, "20001", "张三"), 1000);
        r.compare_ref = Some(("20001".into(), 2));
        let out = store.insert_record(&r).unwrap();
        assert_eq!(out.evicted, 0);
        let got = store.next_to_send().unwrap().unwrap();
        assert_eq!(
            got,
            OutboxRecord {
                msg_id: out.msg_id,
                created_ms: r.created_ms,
                fields: r.fields.clone(),
                recognition_photo: r.recognition_photo.clone(),
                compare_ref: r.compare_ref.clone(),
                state: RecordState::Pending,
                attempts: 0,
            }
        );
        let list = store.records_list(false, 10, 0).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].photo_bytes, 1000);
        assert_eq!(list[0].compare_ref, r.compare_ref);
        assert_eq!(store.record_photo_bytes().unwrap(), 1000);

        // An empty snapshot is no snapshot.
        let out2 = store.insert_record(&with_photo(rec(1, "x", "y"), 0)).unwrap();
        let page = store.records_page(&RecordFilter::All, out.msg_id, 10).unwrap();
        assert_eq!(ids(&page), vec![out2.msg_id]);
        assert_eq!(page[0].recognition_photo, None);
    }

    #[test]
    fn msg_ids_unique_and_monotonic_across_reopen_and_clear() {
        let tmp = tempfile::tempdir().unwrap();
        let mut all = Vec::new();
        for round in 0..3 {
            let mut store = Store::open(tmp.path()).unwrap();
            for i in 0..5 {
                let id = store.insert_record(&rec(i, "1", "a")).unwrap().msg_id;
                all.push(id);
                if round == 1 {
                    assert!(store.mark_delivered(id).unwrap());
                }
            }
            if round == 1 {
                // The newest records are deleted: their msgIDs must still never come back.
                assert_eq!(store.clear_records().unwrap(), 5);
            }
        }
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
        assert!(all[0] > 1, "msgIDs are seeded from the creation time");
    }

    #[test]
    fn live_record_first_then_backlog_oldest_first() {
        let (_tmp, mut store) = open();
        let now = now_ms();
        let a = store.insert_record(&rec(now, "1", "a")).unwrap().msg_id;
        let b = store.insert_record(&rec(now, "1", "a")).unwrap().msg_id;
        let c = store.insert_record(&rec(now, "1", "a")).unwrap().msg_id;
        // All fresh and never attempted: live, in the order they happened.
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, a);
        for id in [a, b, c] {
            store.note_attempt(id).unwrap();
        }
        // Backlog: oldest first.
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, a);
        assert_eq!(store.next_to_send().unwrap().unwrap().attempts, 1);
        // A new pass jumps the queue.
        let live = store.insert_record(&rec(now_ms(), "1", "a")).unwrap().msg_id;
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, live);
        assert!(store.mark_delivered(live).unwrap());
        assert!(!store.mark_delivered(live).unwrap(), "duplicate echo");
        assert!(!store.mark_delivered(999_999_999_999).unwrap(), "unknown msgID");
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, a);
        assert!(store.mark_delivered(a).unwrap());
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, b);
        assert!(store.mark_delivered(b).unwrap());
        assert!(store.mark_delivered(c).unwrap());
        assert_eq!(store.next_to_send().unwrap(), None);
        assert_eq!(store.pending_count().unwrap(), 0);
        assert_eq!(store.record_count().unwrap(), 4);
    }

    #[test]
    fn old_never_attempted_records_drain_oldest_first() {
        // Records made while the cloud was away, never tried (each try timed out long before
        // it reached them): they are backlog, not live events.
        let (_tmp, mut store) = open();
        let old = now_ms() - 7 * 24 * 3600 * 1000;
        let ids: Vec<u64> =
            (0..5).map(|i| store.insert_record(&rec(old + i * 1000, "1", "a")).unwrap().msg_id).collect();
        for id in &ids {
            let next = store.next_to_send().unwrap().unwrap();
            assert_eq!(next.msg_id, *id);
            assert_eq!(next.attempts, 0);
            assert!(store.mark_delivered(*id).unwrap());
        }
        assert_eq!(store.next_to_send().unwrap(), None);
        // A fresh pass during the drain still goes first.
        let backlog = store.insert_record(&rec(old, "1", "a")).unwrap().msg_id;
        let live = store.insert_record(&rec(now_ms(), "1", "a")).unwrap().msg_id;
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, live);
        store.mark_delivered(live).unwrap();
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, backlog);
        // Just outside the window is backlog; just inside is live.
        let stale = store.insert_record(&rec(now_ms() - LIVE_WINDOW_MS - 1_000, "1", "a")).unwrap().msg_id;
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, backlog);
        store.mark_delivered(backlog).unwrap();
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, stale);
        let recent = store.insert_record(&rec(now_ms() - LIVE_WINDOW_MS / 2, "1", "a")).unwrap().msg_id;
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, recent);
    }

    #[test]
    fn records_up_to_the_backlog_end_drain_oldest_first() {
        let (_tmp, mut store) = open();
        assert_eq!(store.last_msg_id().unwrap(), 0);
        let offline: Vec<u64> = (0..3).map(|i| store.insert_record(&rec(i, "1", "a")).unwrap().msg_id).collect();
        let end = store.last_msg_id().unwrap();
        assert_eq!(end, offline[2]);
        // Never attempted, but made while the uploader could not send: backlog, oldest first.
        assert_eq!(store.next_to_send_after(end).unwrap().unwrap().msg_id, offline[0]);
        // A record made after that is live and goes first.
        let live = store.insert_record(&rec(now_ms(), "1", "a")).unwrap().msg_id;
        assert_eq!(store.next_to_send_after(end).unwrap().unwrap().msg_id, live);
        store.mark_delivered(live).unwrap();
        for id in &offline {
            assert_eq!(store.next_to_send_after(end).unwrap().unwrap().msg_id, *id);
            store.mark_delivered(*id).unwrap();
        }
        assert_eq!(store.next_to_send_after(end).unwrap(), None);
        // Without a backlog end, fresh never-attempted records count as live (oldest first).
        let a = store.insert_record(&rec(now_ms(), "1", "a")).unwrap().msg_id;
        let b = store.insert_record(&rec(now_ms(), "1", "a")).unwrap().msg_id;
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, a);
        assert_eq!(store.last_msg_id().unwrap(), b.max(a));
    }

    #[test]
    fn batches_are_a_live_record_alone_or_the_oldest_pending() {
        let (_tmp, mut store) = open();
        assert!(store.next_batch_after(0, 4).unwrap().is_empty());
        let old: Vec<u64> = (0..6).map(|i| store.insert_record(&rec(i, "1", "a")).unwrap().msg_id).collect();
        let end = store.last_msg_id().unwrap();
        assert_eq!(ids(&store.next_batch_after(end, 4).unwrap()), old[..4].to_vec());
        let live = store.insert_record(&rec(6, "1", "a")).unwrap().msg_id;
        assert_eq!(ids(&store.next_batch_after(end, 4).unwrap()), vec![live]);
        store.mark_delivered_unsynced(&[live, old[0], old[1]]).unwrap();
        assert_eq!(ids(&store.next_batch_after(end, 4).unwrap()), old[2..].to_vec());
    }

    #[test]
    fn held_records_wait_for_release() {
        let (_tmp, mut store) = open();
        let mut h = rec(1, "1", "a");
        h.held = true;
        let held1 = store.insert_record(&h).unwrap().msg_id;
        let held2 = store.insert_record(&h).unwrap().msg_id;
        assert_eq!(store.next_to_send().unwrap(), None);
        assert_eq!(store.pending_count().unwrap(), 0);
        assert_eq!(store.held_count().unwrap(), 2);
        let p = store.insert_record(&rec(2, "1", "a")).unwrap().msg_id;
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, p);
        assert!(store.mark_delivered(p).unwrap());
        assert_eq!(store.next_to_send().unwrap(), None);
        assert_eq!(store.records_list(true, 10, 0).unwrap().len(), 2);
        assert_eq!(store.clear_records().unwrap(), 1, "held records survive face/clear");

        assert_eq!(store.release_held().unwrap(), 2);
        assert_eq!(store.held_count().unwrap(), 0);
        assert_eq!(store.pending_count().unwrap(), 2);
        // Released held records are old news: they drain oldest first, like any backlog.
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, held1);
        store.mark_delivered(held1).unwrap();
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, held2);
    }

    #[test]
    fn clear_keeps_undelivered_records() {
        let (_tmp, mut store) = open();
        let ids: Vec<u64> =
            (0..6).map(|i| store.insert_record(&with_photo(rec(i, "1", "a"), 10)).unwrap().msg_id).collect();
        for id in &ids[..4] {
            store.mark_delivered(*id).unwrap();
        }
        assert_eq!(store.clear_records().unwrap(), 4);
        assert_eq!(store.record_count().unwrap(), 2);
        assert_eq!(store.pending_count().unwrap(), 2);
        assert_eq!(store.record_photo_bytes().unwrap(), 20);
        let orphan_photos: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM record_photos WHERE msg_id NOT IN (SELECT msg_id FROM records)", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(orphan_photos, 0);
        assert_eq!(store.clear_records().unwrap(), 0);
    }

    #[test]
    fn record_cap_evicts_delivered_first_then_oldest_pending() {
        let (_tmp, mut store) = open();
        store.set_caps(5, u64::MAX);
        let ids: Vec<u64> = (0..5).map(|i| store.insert_record(&rec(i, "1", "a")).unwrap().msg_id).collect();
        // Deliver the two newest: they are the first to go, though they are not the oldest.
        store.mark_delivered(ids[3]).unwrap();
        store.mark_delivered(ids[4]).unwrap();
        let o = store.insert_record(&rec(5, "1", "a")).unwrap();
        assert_eq!(o.evicted, 0);
        let o = store.insert_record(&rec(6, "1", "a")).unwrap();
        assert_eq!(o.evicted, 0);
        let left: Vec<u64> = store.records_list(false, 100, 0).unwrap().iter().map(|r| r.msg_id).collect();
        assert!(!left.contains(&ids[3]) && !left.contains(&ids[4]), "{left:?}");
        assert_eq!(store.evicted_count().unwrap(), 0);

        // Only undelivered left: the oldest pending goes, and is counted.
        let o = store.insert_record(&rec(7, "1", "a")).unwrap();
        assert_eq!(o.evicted, 1);
        let mut left: Vec<u64> = store.records_list(false, 100, 0).unwrap().iter().map(|r| r.msg_id).collect();
        left.sort();
        assert_eq!(left.len(), 5);
        assert!(!left.contains(&ids[0]));
        assert!(left.contains(&ids[1]));
        assert!(left.contains(&o.msg_id));
        assert_eq!(store.evicted_count().unwrap(), 1);

        // Lowering the cap drops several at once; the new record always stays.
        store.set_caps(2, u64::MAX);
        let o = store.insert_record(&rec(8, "1", "a")).unwrap();
        assert_eq!(o.evicted, 4);
        assert_eq!(store.record_count().unwrap(), 2);
        assert_eq!(store.evicted_count().unwrap(), 5);
        store.set_caps(0, u64::MAX);
        let o2 = store.insert_record(&rec(9, "1", "a")).unwrap();
        assert_eq!(store.record_count().unwrap(), 1);
        assert_eq!(store.next_to_send().unwrap().unwrap().msg_id, o2.msg_id);
    }

    fn page_count(store: &Store) -> i64 {
        store.conn.pragma_query_value(None, "page_count", |r| r.get(0)).unwrap()
    }

    fn kept(store: &Store) -> Vec<RecordSummary> {
        let mut list = store.records_list(false, 10_000, 0).unwrap();
        list.reverse();
        list
    }

    #[test]
    fn below_the_reserve_delivered_records_then_pending_photos_make_room_and_pending_records_stay() {
        let (_tmp, mut store) = open();
        let delivered: Vec<u64> =
            (0..12).map(|i| store.insert_record(&with_photo(rec(i, "1", "a"), 9_000)).unwrap().msg_id).collect();
        for id in &delivered {
            store.mark_delivered(*id).unwrap();
        }
        let pending: Vec<u64> =
            (12..18).map(|i| store.insert_record(&with_photo(rec(i, "2", "b"), 9_000)).unwrap().msg_id).collect();
        let pages = page_count(&store);
        // Below the reserve, whatever this disk has free.
        store.set_reserve(u64::MAX);
        let o = store.insert_record(&with_photo(rec(20, "3", "c"), 20_000)).unwrap();
        assert_eq!((o.evicted, o.photos_dropped), (0, 0), "delivered records were enough");
        assert!(page_count(&store) <= pages, "the file grew: {} pages, was {pages}", page_count(&store));
        let ids: Vec<u64> = kept(&store).iter().map(|r| r.msg_id).collect();
        let gone: Vec<u64> = delivered.iter().copied().filter(|id| !ids.contains(id)).collect();
        assert!(!gone.is_empty(), "nothing made room");
        assert_eq!(gone, delivered[..gone.len()], "the oldest delivered go first");
        assert!(pending.iter().all(|id| ids.contains(id)) && ids.contains(&o.msg_id), "{ids:?}");

        // Once no delivered record is left, the photos of pending ones go, oldest first; the
        // records themselves stay (no write failed: nothing undelivered is dropped).
        let mut photos_dropped = 0;
        for i in 0..40 {
            let o = store.insert_record(&with_photo(rec(30 + i, "4", "d"), 20_000)).unwrap();
            assert_eq!(o.evicted, 0);
            photos_dropped += o.photos_dropped;
        }
        let list = kept(&store);
        assert!(list.iter().all(|r| r.state != RecordState::Delivered), "every delivered record went first");
        assert!(photos_dropped > 0);
        assert_eq!(store.photos_dropped_count().unwrap(), photos_dropped);
        assert_eq!(store.evicted_count().unwrap(), 0);
        assert_eq!(list.len(), 6 + 1 + 40, "no record was dropped");
        // Oldest first: the photos still kept are those of the newest records.
        let with_photo: Vec<bool> = list.iter().map(|r| r.photo_bytes > 0).collect();
        let first_kept = with_photo.iter().position(|p| *p).unwrap();
        assert!(with_photo[first_kept..].iter().all(|p| *p), "{with_photo:?}");
        assert!(first_kept > 0, "{with_photo:?}");
        let stats = store.record_photo_bytes().unwrap();
        assert_eq!(stats, list.iter().map(|r| r.photo_bytes).sum::<u64>(), "the photo counter follows");
    }

    #[test]
    fn a_full_database_makes_room_and_retries_dropping_pending_records_last() {
        let (_tmp, mut store) = open();
        let pending: Vec<u64> =
            (0..30).map(|i| store.insert_record(&with_photo(rec(i, "1", "a"), 10_000)).unwrap().msg_id).collect();
        // The disk is full: not one page more.
        let pages = page_count(&store);
        store.conn.pragma_update(None, "max_page_count", pages).unwrap();
        let o = store.insert_record(&with_photo(rec(40, "2", "b"), 6_000)).unwrap();
        assert_eq!(o.evicted, 0, "photos go before records");
        assert!(o.photos_dropped > 0);
        assert_eq!(kept(&store)[0].photo_bytes, 0, "the oldest photo went first");
        // Keep going: once every photo is gone, the oldest pending records go, counted.
        let mut evicted = 0;
        for i in 0..5_000 {
            let o = store.insert_record(&rec(50 + i, "3", "c")).unwrap();
            evicted += o.evicted;
            if evicted > 0 {
                break;
            }
        }
        assert!(evicted > 0, "no record was ever dropped");
        let list = kept(&store);
        assert!(list.iter().all(|r| r.photo_bytes == 0), "a photo outlived a record");
        assert!(!list.iter().any(|r| r.msg_id == pending[0]), "the oldest pending record goes first");
        assert_eq!(store.evicted_count().unwrap(), evicted);
        assert!(page_count(&store) <= pages);

        // Nothing left that may go: the error says the disk is full.
        let (_tmp2, mut empty) = open();
        let pages = page_count(&empty);
        empty.conn.pragma_update(None, "max_page_count", pages).unwrap();
        let e = empty.insert_record(&with_photo(rec(1, "1", "a"), 50_000)).unwrap_err();
        assert!(crate::store::is_out_of_space(&e), "{e}");
        assert!(e.to_string().contains("is full"), "{e}");
        assert!(!e.to_string().contains("failing"), "{e}");
    }

    #[test]
    fn attempt_on_an_evicted_record_says_so() {
        let (_tmp, mut store) = open();
        store.set_caps(1, u64::MAX);
        let first = store.next_to_send().unwrap();
        assert_eq!(first, None);
        let old = store.insert_record(&rec(0, "1", "a")).unwrap().msg_id;
        let read = store.next_to_send().unwrap().unwrap();
        assert_eq!(read.msg_id, old);
        // Evicted between the uploader's read and its attempt.
        assert_eq!(store.insert_record(&rec(1, "1", "a")).unwrap().evicted, 1);
        assert!(!store.note_attempt(old).unwrap());
        let new = store.next_to_send().unwrap().unwrap().msg_id;
        assert!(store.note_attempt(new).unwrap());
    }

    #[test]
    fn unsynced_marks_are_visible_and_leave_the_connection_synced() {
        let (tmp, mut store) = open();
        let id = store.insert_record(&rec(0, "1", "a")).unwrap().msg_id;
        assert!(store.note_attempt(id).unwrap());
        let other_id = store.insert_record(&rec(1, "1", "a")).unwrap().msg_id;
        assert_eq!(store.mark_delivered_unsynced(&[id, other_id]).unwrap(), 2);
        assert_eq!(store.mark_delivered_unsynced(&[id]).unwrap(), 0, "a duplicate echo");
        assert_eq!(store.mark_delivered_unsynced(&[]).unwrap(), 0);
        let sync: i64 = store.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "back to synchronous=FULL");
        let other = Store::open_readonly(tmp.path()).unwrap();
        assert_eq!(other.pending_count().unwrap(), 0);
        assert_eq!(other.records_list(false, 2, 0).unwrap()[1].attempts, 1);
    }

    #[test]
    fn evicted_counter_persists() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(tmp.path()).unwrap();
            store.set_caps(1, u64::MAX);
            store.insert_record(&rec(0, "1", "a")).unwrap();
            assert_eq!(store.insert_record(&rec(1, "1", "a")).unwrap().evicted, 1);
        }
        let store = Store::open_readonly(tmp.path()).unwrap();
        assert_eq!(store.evicted_count().unwrap(), 1);
        assert_eq!(store.record_count().unwrap(), 1);
    }

    #[test]
    fn photo_cap_evicts_records_with_photos() {
        let (_tmp, mut store) = open();
        store.set_caps(1000, 250);
        let bare = store.insert_record(&rec(0, "1", "a")).unwrap().msg_id;
        store.mark_delivered(bare).unwrap();
        let p1 = store.insert_record(&with_photo(rec(1, "1", "a"), 100)).unwrap().msg_id;
        let p2 = store.insert_record(&with_photo(rec(2, "1", "a"), 100)).unwrap().msg_id;
        store.mark_delivered(p2).unwrap();
        // 300 bytes > 250: the delivered photo record goes, not the delivered bare one.
        let o = store.insert_record(&with_photo(rec(3, "1", "a"), 100)).unwrap();
        assert_eq!(o.evicted, 0);
        let left: Vec<u64> = store.records_list(false, 100, 0).unwrap().iter().map(|r| r.msg_id).collect();
        assert_eq!(left, vec![o.msg_id, p1, bare]);
        assert_eq!(store.record_photo_bytes().unwrap(), 200);
        // Next: only undelivered photo records remain, the oldest goes and is counted.
        let o2 = store.insert_record(&with_photo(rec(4, "1", "a"), 100)).unwrap();
        assert_eq!(o2.evicted, 1);
        let left: Vec<u64> = store.records_list(false, 100, 0).unwrap().iter().map(|r| r.msg_id).collect();
        assert_eq!(left, vec![o2.msg_id, o.msg_id, bare]);
        assert_eq!(store.record_photo_bytes().unwrap(), 200);
        // A single photo bigger than the cap is still kept.
        store.set_caps(1000, 10);
        let big = store.insert_record(&with_photo(rec(5, "1", "a"), 500)).unwrap();
        assert_eq!(big.evicted, 2);
        assert_eq!(store.record_photo_bytes().unwrap(), 500);
        assert_eq!(store.record_count().unwrap(), 2);
    }

    #[test]
    fn counters_match_the_table() {
        let (_tmp, mut store) = open();
        store.set_caps(20, 5_000);
        for i in 0..60 {
            let mut r = with_photo(rec(i, "1", "a"), (i as usize % 7) * 100);
            r.held = i % 5 == 0;
            let id = store.insert_record(&r).unwrap().msg_id;
            if i % 3 == 0 {
                store.mark_delivered(id).unwrap();
            }
            if i % 11 == 0 {
                store.release_held().unwrap();
            }
            if i % 17 == 0 {
                store.clear_records().unwrap();
            }
        }
        let (total, pending, held, bytes): (u64, u64, u64, u64) = store
            .conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(state = 0), 0), COALESCE(SUM(state = 2), 0),
                        COALESCE(SUM(photo_bytes), 0) FROM records",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(store.record_count().unwrap(), total);
        assert_eq!(store.pending_count().unwrap(), pending);
        assert_eq!(store.held_count().unwrap(), held);
        assert_eq!(store.record_photo_bytes().unwrap(), bytes);
        let stored: u64 =
            store.conn.query_row("SELECT COALESCE(SUM(length(jpeg)), 0) FROM record_photos", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, bytes);
        assert!(total <= 20 && bytes <= 5_000);
    }

    #[test]
    fn filters_count_and_page() {
        let (_tmp, mut store) = open();
        let people = [("1", "张三"), ("2", "李四"), ("3", "张三")];
        let mut made = Vec::new();
        for i in 0..30i64 {
            let (id, name) = people[i as usize % 3];
            let o = store.insert_record(&rec(1_000 + i * 10, id, name)).unwrap();
            made.push((o.msg_id, 1_000 + i * 10, id, name));
            if i % 4 == 0 {
                store.mark_delivered(o.msg_id).unwrap();
            }
        }
        let check = |filter: RecordFilter, expect: Vec<u64>| {
            assert_eq!(store.count_records(&filter).unwrap(), expect.len() as u64, "{filter:?}");
            let mut got = Vec::new();
            let mut after = 0;
            loop {
                let page = store.records_page(&filter, after, 4).unwrap();
                if page.is_empty() {
                    break;
                }
                after = page.last().unwrap().msg_id;
                got.extend(ids(&page));
            }
            assert_eq!(got, expect, "{filter:?}");
        };
        check(RecordFilter::All, made.iter().map(|m| m.0).collect());
        check(
            RecordFilter::TimeRange { start_ms: 1_050, end_ms: 1_100 },
            made.iter().filter(|m| (1_050..=1_100).contains(&m.1)).map(|m| m.0).collect(),
        );
        check(RecordFilter::TimeRange { start_ms: 5_000, end_ms: 6_000 }, Vec::new());
        check(RecordFilter::Name("张三".into()), made.iter().filter(|m| m.3 == "张三").map(|m| m.0).collect());
        check(RecordFilter::IdNumber("2".into()), made.iter().filter(|m| m.2 == "2").map(|m| m.0).collect());
        check(RecordFilter::IdNumber("nobody".into()), Vec::new());
    }

    #[test]
    fn records_list_newest_first_with_offset() {
        let (_tmp, mut store) = open();
        let ids: Vec<u64> = (0..10).map(|i| store.insert_record(&rec(i, "1", "a")).unwrap().msg_id).collect();
        store.mark_delivered(ids[9]).unwrap();
        store.mark_delivered(ids[8]).unwrap();
        let all: Vec<u64> = store.records_list(false, 3, 1).unwrap().iter().map(|r| r.msg_id).collect();
        assert_eq!(all, vec![ids[8], ids[7], ids[6]]);
        let undelivered = store.records_list(true, 3, 0).unwrap();
        assert_eq!(undelivered.iter().map(|r| r.msg_id).collect::<Vec<_>>(), vec![ids[7], ids[6], ids[5]]);
        assert!(undelivered.iter().all(|r| r.state == RecordState::Pending));
    }

    #[test]
    fn two_handles_in_two_threads_lose_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        drop(Store::open(tmp.path()).unwrap());
        let per_thread = 150;
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let dir = tmp.path().to_path_buf();
                std::thread::spawn(move || {
                    let mut store = Store::open(&dir).unwrap();
                    let mut mine = Vec::new();
                    for i in 0..per_thread {
                        let r = with_photo(rec(i, &format!("t{t}"), "x"), 64);
                        mine.push(store.insert_record(&r).unwrap().msg_id);
                        // Interleave reads and state changes as the uploader would.
                        if let Some(next) = store.next_to_send().unwrap() {
                            store.note_attempt(next.msg_id).unwrap();
                        }
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().unwrap());
        }
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.record_count().unwrap(), 2 * per_thread as u64);
        assert_eq!(store.pending_count().unwrap(), 2 * per_thread as u64);
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
        for t in 0..2 {
            let n = store.count_records(&RecordFilter::IdNumber(format!("t{t}"))).unwrap();
            assert_eq!(n, per_thread as u64);
        }
        assert_eq!(store.record_photo_bytes().unwrap(), 2 * per_thread as u64 * 64);
    }

    #[test]
    fn hot_queries_use_indexes() {
        let (_tmp, store) = open();
        let plan = |sql: &str| -> String {
            let mut stmt = store.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let n = stmt.parameter_count();
            let args: Vec<i64> = vec![0; n];
            stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap()
                .join(" | ")
        };
        let live = plan(select_record!(
            hint "INDEXED BY records_live",
            "WHERE r.state = 0 AND r.attempts = 0 AND r.msg_id > ?1",
                    no_snapshot_pending!(),
                    "ORDER BY r.msg_id LIMIT 1"
        ));
        assert!(live.contains("records_live"), "{live}");
        assert!(!live.contains("TEMP B-TREE"), "{live}");
        let fresh = plan(select_record!(
            hint "INDEXED BY records_created",
            "WHERE r.created_ms >= ?2 AND r.state = 0 AND r.attempts = 0 AND r.msg_id > ?1",
            no_snapshot_pending!(),
            "ORDER BY r.msg_id LIMIT 1"
        ));
        assert!(fresh.contains("records_created (created_ms>?)"), "{fresh}");
        let backlog = plan(select_record!("WHERE r.state = 0", no_snapshot_pending!(), "ORDER BY r.msg_id LIMIT 1"));
        assert!(backlog.contains("records_state"), "{backlog}");
        assert!(!backlog.contains("TEMP B-TREE"), "{backlog}");
        let by_name = plan(select_record!("WHERE r.name = ?3 AND r.msg_id > ?1 ORDER BY r.msg_id LIMIT ?2"));
        assert!(by_name.contains("records_name"), "{by_name}");
        let delivered = plan("SELECT msg_id FROM records WHERE state = 1 ORDER BY msg_id LIMIT 1");
        assert!(delivered.contains("records_state"), "{delivered}");
        let delivered_photo = plan(
            "SELECT msg_id FROM records WHERE state = 1 AND photo_bytes > 0
             ORDER BY msg_id LIMIT 1",
        );
        assert!(delivered_photo.contains("records_with_photo"), "{delivered_photo}");
        let range =
            plan(select_record!("WHERE r.created_ms BETWEEN ?3 AND ?4 AND r.msg_id > ?1 ORDER BY r.msg_id LIMIT ?2"));
        assert!(!range.contains("SCAN r"), "{range}");
    }
}
