//! Passes admitted without a record: the count a full disk leaves behind.
//!
//! When an access record cannot be committed (the disk is full, the file size limit is reached)
//! the gate may still open for a valid credential (`[storage] on_full = "admit"`). That pass
//! must not vanish without a trace, yet nothing that needs new space can hold it. So it is
//! counted in a small file of fixed size, created and filled with zeros-equivalent text while
//! there is room (at start), and afterwards only ever rewritten in place: overwriting blocks a
//! file already owns needs no free space on ext4, tmpfs or F2FS, and no offset past the
//! file size limit. The count is also kept in memory, for when even that write fails.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The counter file's name in the storage directory.
pub const UNRECORDED_FILE: &str = "unrecorded-passes";

/// The file's fixed size: `count last_ms why`, space-padded, one line.
const SLOT: usize = 256;

/// What the counter file says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unrecorded {
    /// Passes admitted without a record over the device's life.
    pub count: u64,
    /// Unix ms of the last one (0: never).
    pub last_ms: i64,
    /// Why the last record could not be saved.
    pub why: String,
}

impl Unrecorded {
    /// Reads the counter of the storage directory `dir`; nothing counted when there is no file
    /// (or it cannot be read: `status` must work on a broken disk too).
    pub fn read(dir: &Path) -> Unrecorded {
        let mut text = String::new();
        match File::open(dir.join(UNRECORDED_FILE)) {
            Ok(f) => {
                let _ = f.take(SLOT as u64).read_to_string(&mut text);
            }
            Err(_) => return Unrecorded::default(),
        }
        Unrecorded::parse(&text)
    }

    fn parse(text: &str) -> Unrecorded {
        let mut words = text.trim_end().splitn(3, ' ');
        let count = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let last_ms = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let why = words.next().unwrap_or("").trim().to_string();
        Unrecorded { count, last_ms, why }
    }

    /// The fixed-size line written in place.
    fn line(&self) -> [u8; SLOT] {
        let mut slot = [b' '; SLOT];
        let head = format!("{:020} {:020} ", self.count, self.last_ms);
        // The reason is cut to fit, at a character boundary; the last byte is the newline.
        let room = SLOT - 1 - head.len();
        let mut end = self.why.len().min(room);
        while !self.why.is_char_boundary(end) {
            end -= 1;
        }
        let text = format!("{head}{}", &self.why[..end].replace('\n', " "));
        slot[..text.len()].copy_from_slice(text.as_bytes());
        slot[SLOT - 1] = b'\n';
        slot
    }
}

/// The counter, owned by the gate.
#[derive(Debug)]
pub struct UnrecordedPasses {
    path: PathBuf,
    file: Option<File>,
    now: Unrecorded,
}

impl UnrecordedPasses {
    /// Opens the counter of the storage directory `dir`, creating and filling its fixed-size
    /// file now, while there is room. A failure is logged and retried at the next pass; the
    /// count is kept in memory meanwhile.
    pub fn open(dir: &Path) -> UnrecordedPasses {
        let path = dir.join(UNRECORDED_FILE);
        let now = Unrecorded::read(dir);
        let mut passes = UnrecordedPasses { path, file: None, now };
        if let Err(e) = passes.prepare() {
            log::warn!("{}: cannot prepare the counter of passes without a record: {e}", passes.path.display());
        }
        passes
    }

    /// The count so far (in memory: it includes passes the file could not take).
    pub fn current(&self) -> &Unrecorded {
        &self.now
    }

    /// Counts one pass admitted without a record, in memory and in place in the file (synced);
    /// returns the new count. A write that fails is logged: the count stays in memory.
    pub fn add(&mut self, now_ms: i64, why: &str) -> u64 {
        self.now.count += 1;
        self.now.last_ms = now_ms;
        self.now.why = why.to_string();
        if let Err(e) = self.write() {
            log::error!("{}: the count of passes without a record was not saved: {e}", self.path.display());
        }
        self.now.count
    }

    fn prepare(&mut self) -> std::io::Result<()> {
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&self.path)?;
        if file.metadata()?.len() != SLOT as u64 {
            file.set_len(0)?;
            file.write_all(&self.now.line())?;
            file.sync_all()?;
            // The new directory entry too, so a power cut does not lose the file.
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
        }
        self.file = Some(file);
        Ok(())
    }

    fn write(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            self.prepare()?;
        }
        let file = self.file.as_ref().ok_or_else(|| std::io::Error::other("no counter file"))?;
        file.write_all_at(&self.now.line(), 0)?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_survives_a_restart_and_the_file_never_grows() {
        let dir = tempfile::tempdir().unwrap();
        let mut passes = UnrecordedPasses::open(dir.path());
        assert_eq!(passes.current().count, 0);
        let file = dir.path().join(UNRECORDED_FILE);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), SLOT as u64, "made at open, while there is room");
        assert_eq!(passes.add(5, "disk full: the disk holding x is full"), 1);
        let long = "é".repeat(400);
        assert_eq!(passes.add(7, &long), 2);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), SLOT as u64);
        let read = Unrecorded::read(dir.path());
        assert_eq!((read.count, read.last_ms), (2, 7));
        assert!(read.why.starts_with("éé") && read.why.len() < SLOT, "{}", read.why);
        drop(passes);
        let mut again = UnrecordedPasses::open(dir.path());
        assert_eq!(again.add(9, "again"), 3);
        assert_eq!(Unrecorded::read(dir.path()), Unrecorded { count: 3, last_ms: 9, why: "again".into() });
    }

    #[test]
    fn a_missing_or_garbled_file_counts_nothing_and_a_missing_dir_keeps_the_count_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Unrecorded::read(dir.path()), Unrecorded::default());
        std::fs::write(dir.path().join(UNRECORDED_FILE), "garbage").unwrap();
        assert_eq!(Unrecorded::read(dir.path()).count, 0);
        let mut passes = UnrecordedPasses::open(&dir.path().join("missing"));
        assert_eq!(passes.add(1, "x"), 1);
        assert_eq!(passes.add(2, "y"), 2);
    }
}
