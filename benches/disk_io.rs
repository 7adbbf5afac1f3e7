//! Bytes written to disk per access record (issue 16: flash wear).
//!
//! `cargo bench --bench disk_io` stores 1,000 card records the way the gate and the uploader
//! do — `Store::insert_record` (one fsynced commit), the camera snapshot attached afterwards
//! (`Store::attach_snapshot`), the cloud's acknowledgements marked 16 at a time
//! (`Store::mark_delivered_unsynced`) — once without and once with a snapshot per record, and
//! reads this process's `write_bytes` from `/proc/self/io` (bytes it caused to be written to the
//! block device) before and after, the database closed and synced. Each run uses SQLite's
//! layout and checkpoint policy from before issue 16 (`Tuning::BEFORE_ISSUE_16`) and the
//! current one (`Tuning::CURRENT`), alternately, in a fresh directory next to `target/` (not on
//! tmpfs: tmpfs writes no block device).
//!
//! Next to each figure, the record's own stored size: the bytes of its fields (JSON) and its
//! snapshot, and the growth of the database file per record. The goal: written <= 3x stored.
//!
//! Environment: `FACEGATE_BENCH_RECORDS` (default 1000), `FACEGATE_BENCH_DIR` (where the
//! databases go; default `target/disk_io`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use facegate::store::{NewRecord, Store, Tuning};

fn main() {
    // `cargo test --benches` runs this without `--bench`, on a debug build: a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let records = std::env::var("FACEGATE_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(if full {
        1_000
    } else {
        30
    });
    let base = std::env::var_os("FACEGATE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("disk_io"));
    std::fs::create_dir_all(&base).expect("creating the bench directory");
    if read_io().is_none() {
        eprintln!("/proc/self/io is not readable here (no task I/O accounting): nothing to measure");
        return;
    }
    let photo = snapshot();
    println!("records: {records}; snapshot: {} bytes (a 320x240 camera frame, jpegEncodeSizeMode 1)\n", photo.len());
    println!(
        "| layout | snapshot | written / record | stored / record (fields + photo) | file growth / record | written / stored |"
    );
    println!("|---|---|---|---|---|---|");
    // `FACEGATE_BENCH_PAGE_SIZES=1024,2048` adds the current policy at other page sizes.
    let mut layouts = vec![
        ("before (64 MiB WAL limit, checkpoint at 1,000 pages)".to_string(), Tuning::BEFORE_ISSUE_16),
        (format!("current ({} B pages)", Tuning::CURRENT.page_size), Tuning::CURRENT),
    ];
    let extra = std::env::var("FACEGATE_BENCH_PAGE_SIZES").unwrap_or_default();
    for size in extra.split(',').filter_map(|s| s.trim().parse::<u32>().ok()) {
        layouts.push((format!("current policy at {size} B pages"), Tuning { page_size: size, ..Tuning::CURRENT }));
    }
    for with_photo in [false, true] {
        for (name, tuning) in &layouts {
            let tuning = *tuning;
            let m = run(&base, tuning, records, with_photo.then_some(photo.as_slice()));
            println!(
                "| {name} | {} | {:.0} B | {:.0} B | {:.0} B | {:.1}x |",
                if with_photo { "yes" } else { "no" },
                m.written as f64 / records as f64,
                m.stored as f64 / records as f64,
                m.growth as f64 / records as f64,
                m.written as f64 / m.stored as f64
            );
        }
    }
}

/// What one run measured, in bytes.
struct Measured {
    written: u64,
    stored: u64,
    growth: u64,
}

fn run(base: &Path, tuning: Tuning, records: usize, photo: Option<&[u8]>) -> Measured {
    let dir = tempfile::Builder::new().prefix("disk-io-").tempdir_in(base).expect("temp dir");
    let mut store = Store::open_tuned(dir.path(), tuning).expect("opening the store");
    let db = Store::db_path(dir.path());
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    sync_all(dir.path());
    let start_size = size(&db);
    let before = read_io().expect("io");
    let mut stored = 0u64;
    let mut unacknowledged = Vec::new();
    for i in 0..records {
        let fields = card_fields(i);
        stored += serde_json::to_string(&fields).unwrap().len() as u64 + photo.map_or(0, |p| p.len() as u64);
        let outcome = store
            .insert_record(&NewRecord {
                created_ms: 1_765_000_000_000 + i as i64 * 1000,
                fields,
                recognition_photo: None,
                compare_ref: Some(("1001".into(), 1)),
                held: false,
                awaiting_snapshot: photo.is_some(),
            })
            .expect("insert");
        if let Some(photo) = photo {
            store.attach_snapshot(outcome.msg_id, Some(photo)).expect("attach");
        }
        unacknowledged.push(outcome.msg_id);
        if unacknowledged.len() == 16 {
            store.mark_delivered_unsynced(&unacknowledged).expect("mark");
            unacknowledged.clear();
        }
    }
    store.mark_delivered_unsynced(&unacknowledged).expect("mark");
    // Closing checkpoints the WAL into the database; then everything is pushed to the disk.
    drop(store);
    sync_all(dir.path());
    let after = read_io().expect("io");
    Measured { written: after - before, stored, growth: size(&db).saturating_sub(start_size) }
}

/// fsync of every file in `dir`, so written bytes are accounted before they are read.
fn sync_all(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if let Ok(f) = std::fs::File::open(entry.path()) {
            let _ = f.sync_all();
        }
    }
}

/// `write_bytes` of this process (all its threads).
fn read_io() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

/// The fields a registered card's record carries (`access::record_fields` and passTime).
fn card_fields(i: usize) -> BTreeMap<String, String> {
    [
        ("snapType", "4"),
        ("compareResult", "0"),
        ("idNumber", "1001"),
        ("name", "张三"),
        ("sex", ""),
        ("birth", ""),
        ("company", ""),
        ("department", ""),
        ("phone", "18868681819"),
        ("validDateStart", "2020_01_01"),
        ("validDateEnd", "2099_12_31"),
        ("visitorVoiceText", ""),
        ("inOutMode", "0"),
        ("normalNumber", "8899"),
        ("data", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("passTime".to_string(), format!("2026-12-07 10:{:02}:{:02}.000", (i / 60) % 60, i % 60))])
    .collect()
}

/// A 320x240 JPEG with a camera's texture (gradients and noise), the size of a small snapshot.
fn snapshot() -> Vec<u8> {
    let (w, h) = (320u16, 240u16);
    let mut rng = fastrand::Rng::with_seed(16);
    let mut pixels = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h as u32 {
        for x in 0..w as u32 {
            let base = ((x * 255 / w as u32 + y * 255 / h as u32) / 2) as u8;
            for _ in 0..3 {
                pixels.push(base.wrapping_add(rng.u8(..24)));
            }
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80).encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).expect("jpeg");
    out
}
