//! Resumable firmware download: streamed to a file, never into memory, with a size cap.
//!
//! A dropped connection resumes where it stopped with an HTTP Range request, a bounded number
//! of times. It starts over only when the server cannot resume (answers 200 to a Range) or the
//! file changed (its ETag or Last-Modified differs, or the Content-Range does not fit).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use crate::cloud::{Backoff, ExchangeError, Transport};

/// Why a download failed (the update service reports 502 for all of them).
#[derive(Debug, PartialEq, Eq)]
pub enum DownloadError {
    /// Connection failures or cuts beyond the retry budget, or an unusable answer.
    Failed(String),
    /// The file is larger than `[update] max_bytes`.
    TooLarge(u64),
    /// The download would eat into the storage reserve (`[storage] reserve_bytes`): the
    /// space the access records need when the disk fills.
    NoRoom(String),
    /// The daemon is shutting down.
    Interrupted,
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownloadError::Failed(m) => write!(f, "download failed: {m}"),
            DownloadError::TooLarge(n) => write!(f, "download larger than the {n}-byte cap"),
            DownloadError::NoRoom(m) => write!(f, "not enough disk space: {m}"),
            DownloadError::Interrupted => write!(f, "download interrupted by shutdown"),
        }
    }
}

/// Limits of one download.
#[derive(Debug, Clone, Copy)]
pub struct DownloadLimits {
    /// Bytes at most.
    pub max_bytes: u64,
    /// Resumed attempts after the first before giving up.
    pub retries: u32,
    /// First pause between attempts.
    pub retry_initial_ms: u64,
    /// Longest pause between attempts.
    pub retry_max_ms: u64,
    /// Free bytes the download must leave on the filesystem (0: no check).
    pub reserve_bytes: u64,
}

/// How often, in bytes written, a download checks the free space again.
const ROOM_CHECK_EVERY: u64 = 1 << 20;

/// The reserve a download must leave free on the filesystem of `dir`.
struct Room<'a> {
    dir: &'a Path,
    reserve: u64,
}

impl Room<'_> {
    /// Fails when writing `more` bytes would leave less than the reserve free. A filesystem
    /// whose space cannot be read is not refused (it is no full one that we know of).
    fn check(&self, more: u64) -> Result<(), DownloadError> {
        use crate::hw::disk::human_bytes;
        if self.reserve == 0 {
            return Ok(());
        }
        let Ok(space) = crate::hw::disk::space(self.dir) else { return Ok(()) };
        if space.available.saturating_sub(more) < self.reserve {
            return Err(DownloadError::NoRoom(format!(
                "{} free on {}, {} more would eat into the {} kept for access records \
                 ([storage] reserve_bytes)",
                human_bytes(space.available),
                self.dir.display(),
                human_bytes(more),
                human_bytes(self.reserve)
            )));
        }
        Ok(())
    }
}

/// What a finished download produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes in the file.
    pub bytes: u64,
    /// How many times a cut connection was resumed.
    pub resumes: u32,
}

/// Downloads `url` into `dest` (created or truncated; fsynced when complete).
/// `sleep` waits between attempts and returns true when the daemon is stopping. Refused before
/// the first request when the filesystem is already below `limits.reserve_bytes`, and stopped
/// as soon as the file's announced size, or what was written, would take it below.
pub fn download(
    transport: &Transport,
    url: &str,
    dest: &Path,
    limits: DownloadLimits,
    sleep: &dyn Fn(Duration) -> bool,
) -> Result<Downloaded, DownloadError> {
    let room = Room { dir: dest.parent().unwrap_or(Path::new(".")), reserve: limits.reserve_bytes };
    room.check(0)?;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .read(true)
        .open(dest)
        .map_err(|e| DownloadError::Failed(format!("cannot create {}: {e}", dest.display())))?;
    let mut backoff = Backoff::new(limits.retry_initial_ms, limits.retry_max_ms);
    let mut offset: u64 = 0;
    let mut validator: Option<String> = None;
    let mut total: Option<u64> = None;
    let mut failures: u32 = 0;
    let mut resumes: u32 = 0;
    loop {
        let result =
            attempt(transport, url, &mut file, &mut offset, &mut validator, &mut total, limits.max_bytes, &room);
        match result {
            Ok(true) => break,
            Ok(false) | Err(Attempt::Retry(_)) if failures < limits.retries => {
                failures += 1;
                if let Err(Attempt::Retry(why)) = &result {
                    log::warn!("download cut at byte {offset} ({why}); resuming ({failures}/{})", limits.retries);
                }
                if offset > 0 {
                    resumes += 1;
                }
                if sleep(backoff.next_delay()) {
                    return Err(DownloadError::Interrupted);
                }
            }
            Ok(false) => {
                return Err(DownloadError::Failed(format!("incomplete after {} attempts", failures + 1)));
            }
            Err(Attempt::Retry(why)) => {
                return Err(DownloadError::Failed(format!("{why} (gave up after {} attempts)", failures + 1)));
            }
            Err(Attempt::Fatal(e)) => return Err(e),
        }
    }
    file.sync_all().map_err(|e| DownloadError::Failed(format!("cannot sync {}: {e}", dest.display())))?;
    Ok(Downloaded { bytes: offset, resumes })
}

enum Attempt {
    Retry(String),
    Fatal(DownloadError),
}

/// One GET; Ok(true) when the file is complete.
#[allow(clippy::too_many_arguments)]
fn attempt(
    transport: &Transport,
    url: &str,
    file: &mut File,
    offset: &mut u64,
    validator: &mut Option<String>,
    total: &mut Option<u64>,
    max_bytes: u64,
    room: &Room<'_>,
) -> Result<bool, Attempt> {
    let dl = transport.get_from(url, *offset).map_err(|e: ExchangeError| Attempt::Retry(e.to_string()))?;
    let restart = |file: &mut File, offset: &mut u64| -> Result<(), Attempt> {
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .map_err(|e| Attempt::Fatal(DownloadError::Failed(format!("cannot truncate the download: {e}"))))?;
        *offset = 0;
        Ok(())
    };
    let changed = matches!((&*validator, &dl.validator), (Some(a), Some(b)) if a != b);
    match dl.status {
        206 if *offset > 0 && !changed => match parse_content_range(dl.content_range.as_deref()) {
            Some((start, len)) if start == *offset => {
                if let (Some(t), Some(l)) = (*total, len) {
                    if t != l {
                        log::warn!("firmware size changed from {t} to {l} bytes: starting over");
                        restart(file, offset)?;
                        *total = None;
                        return Ok(false);
                    }
                }
                *total = len.or(*total);
            }
            _ => {
                log::warn!("server resumed at the wrong place ({:?}): starting over", dl.content_range);
                restart(file, offset)?;
                return Ok(false);
            }
        },
        200 | 206 => {
            if *offset > 0 {
                log::info!(
                    "{}: starting the download over",
                    if changed { "the file changed on the server" } else { "the server cannot resume" }
                );
            }
            restart(file, offset)?;
            *total = if dl.status == 200 { dl.content_length } else { None };
        }
        s => return Err(Attempt::Retry(format!("HTTP status {s}"))),
    }
    if validator.is_none() || changed {
        *validator = dl.validator.clone();
    }
    if let Some(t) = *total {
        if t > max_bytes {
            return Err(Attempt::Fatal(DownloadError::TooLarge(max_bytes)));
        }
        room.check(t.saturating_sub(*offset)).map_err(Attempt::Fatal)?;
    }
    let mut checked_at = *offset;
    let mut reader = dl.reader;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(Attempt::Retry(e.to_string())),
        };
        if *offset + n as u64 > max_bytes {
            return Err(Attempt::Fatal(DownloadError::TooLarge(max_bytes)));
        }
        if *offset + n as u64 - checked_at >= ROOM_CHECK_EVERY {
            room.check(n as u64).map_err(Attempt::Fatal)?;
            checked_at = *offset;
        }
        file.write_all(&buf[..n])
            .map_err(|e| Attempt::Fatal(DownloadError::Failed(format!("cannot write the download: {e}"))))?;
        *offset += n as u64;
    }
    match *total {
        Some(t) if *offset < t => Err(Attempt::Retry(format!("connection closed at {} of {t} bytes", *offset))),
        _ => Ok(true),
    }
}

/// `bytes START-END/TOTAL` → (START, TOTAL if known).
fn parse_content_range(v: Option<&str>) -> Option<(u64, Option<u64>)> {
    let v = v?.trim().strip_prefix("bytes")?.trim();
    let (range, total) = v.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_checked_against_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let free = crate::hw::disk::space(dir.path()).unwrap().available;
        let room = |reserve| Room { dir: dir.path(), reserve };
        room(0).check(u64::MAX).unwrap();
        room(1).check(0).unwrap();
        match room(free.saturating_add(1 << 30)).check(0) {
            Err(DownloadError::NoRoom(m)) => assert!(m.contains("reserve_bytes"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(room(1 << 20).check(free), Err(DownloadError::NoRoom(_))));
    }

    #[test]
    fn content_range_parses() {
        assert_eq!(parse_content_range(Some("bytes 100-199/200")), Some((100, Some(200))));
        assert_eq!(parse_content_range(Some("bytes 5-9/*")), Some((5, None)));
        assert_eq!(parse_content_range(Some("items 1-2/3")), None);
        assert_eq!(parse_content_range(None), None);
    }
}
