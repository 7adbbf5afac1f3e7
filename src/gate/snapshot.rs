//! The camera snapshots of records whose door opened: taken after the door, on a thread of
//! their own, so the camera never delays a door.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::Gate;
use crate::hw::jpeg::SnapSize;
use crate::store::Store;

/// How long a record's camera snapshot may take before the record goes without one.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(3);

/// A snapshot taken later than this after its event would not show who passed: in a burst of
/// events faster than the camera, the records that waited this long go without one.
const SNAPSHOT_MAX_DELAY: Duration = Duration::from_secs(1);

/// One record waiting for its photo.
pub(super) struct Job {
    pub(super) msg_id: u64,
    pub(super) size: SnapSize,
    pub(super) queued: Instant,
}

/// The records queued for a snapshot by [`Gate::present`], for [`Gate::run_snapshots`].
pub struct SnapshotQueue(Receiver<Job>);

pub(super) fn queue() -> (Sender<Job>, SnapshotQueue) {
    let (tx, rx) = std::sync::mpsc::channel();
    (tx, SnapshotQueue(rx))
}

/// How often the worker tries again to let go the records whose snapshot it could not
/// attach (a full disk, a locked database): until then the uploader holds them back.
const RELEASE_RETRY: Duration = Duration::from_secs(2);

impl Gate {
    /// Takes the camera snapshot of each queued record, attaches it through `store` and tells
    /// the uploader; a failed snapshot is logged and the record goes without a photo. Returns
    /// once the gate is dropped (it keeps the queue open for the life of the process).
    ///
    /// A record whose snapshot cannot be attached (the write fails: a full disk) must not wait
    /// for a restart: it is let go without its photo, and if even that write fails it is tried
    /// again every [`RELEASE_RETRY`] until it goes.
    pub fn run_snapshots(&self, queue: SnapshotQueue, mut store: Store) {
        let mut late = 0u64;
        let mut stuck: Vec<u64> = Vec::new();
        let mut last_try = Instant::now();
        loop {
            let job = if stuck.is_empty() {
                queue.0.recv().ok()
            } else {
                match queue.0.recv_timeout(RELEASE_RETRY.saturating_sub(last_try.elapsed())) {
                    Ok(job) => Some(job),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            if let Some(Job { msg_id, size, queued }) = job {
                let photo = if queued.elapsed() > SNAPSHOT_MAX_DELAY {
                    late += 1;
                    if late.is_power_of_two() {
                        log::warn!(
                            "{late} record(s) so far went without a snapshot: events came faster than the camera"
                        );
                    }
                    None
                } else {
                    match self.snap(size, SNAPSHOT_TIMEOUT) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            log::warn!("record {msg_id}: no camera snapshot, sent without a photo: {e}");
                            None
                        }
                    }
                };
                let attached = store.attach_snapshot(msg_id, photo.as_deref()).or_else(|e| {
                    // The photo may be what did not fit; the record goes without it.
                    if photo.is_none() {
                        return Err(e);
                    }
                    log::error!("record {msg_id}: its snapshot is dropped: {e}");
                    store.attach_snapshot(msg_id, None)
                });
                match attached {
                    Ok(0) => {}
                    Ok(evicted) => log::warn!(
                        "storage cap reached: {evicted} undelivered record(s) dropped for record {msg_id}'s photo"
                    ),
                    Err(e) => {
                        log::error!("record {msg_id}: not released to the uploader yet: {e}");
                        stuck.push(msg_id);
                        last_try = Instant::now();
                    }
                }
                // Before the wake-up, so the uploader it wakes sees the job done.
                self.snapshots_in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                (self.on_record)();
            } else if stuck.is_empty() {
                break;
            }
            if !stuck.is_empty() && last_try.elapsed() >= RELEASE_RETRY {
                self.release_stuck(&mut store, &mut stuck);
                last_try = Instant::now();
            }
        }
    }

    /// Lets the records in `stuck` go to the uploader without a photo; those whose write fails
    /// again stay for the next try. Tells the uploader when any went.
    fn release_stuck(&self, store: &mut Store, stuck: &mut Vec<u64>) {
        let before = stuck.len();
        stuck.retain(|&msg_id| match store.attach_snapshot(msg_id, None) {
            Ok(_) => {
                log::info!("record {msg_id}: released to the uploader without its snapshot");
                false
            }
            Err(_) => true,
        });
        if stuck.len() < before {
            (self.on_record)();
        }
    }
}
