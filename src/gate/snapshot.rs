//! The camera snapshots of records whose door opened: taken after the door, on a thread of
//! their own, so the camera never delays a door.

use std::sync::mpsc::{Receiver, Sender};
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

impl Gate {
    /// Takes the camera snapshot of each queued record, attaches it through `store` and tells
    /// the uploader; a failed snapshot is logged and the record goes without a photo. Returns
    /// never: the gate keeps the queue open for the life of the process.
    pub fn run_snapshots(&self, queue: SnapshotQueue, mut store: Store) {
        let mut late = 0u64;
        for Job { msg_id, size, queued } in queue.0 {
            let photo = if queued.elapsed() > SNAPSHOT_MAX_DELAY {
                late += 1;
                if late.is_power_of_two() {
                    log::warn!("{late} record(s) so far went without a snapshot: events came faster than the camera");
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
            match store.attach_snapshot(msg_id, photo.as_deref()) {
                Ok(0) => {}
                Ok(evicted) => {
                    log::warn!(
                        "storage cap reached: {evicted} undelivered record(s) dropped for record {msg_id}'s photo"
                    )
                }
                Err(e) => log::error!("record {msg_id}: {e}; it goes after a restart"),
            }
            // Before the wake-up, so the uploader it wakes sees the job done.
            self.snapshots_in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            (self.on_record)();
        }
    }
}
