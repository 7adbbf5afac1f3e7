//! The SQLite store: persons and their photos, the access-record outbox, device parameters set
//! by the cloud and a little key-value state, all in `<storage dir>/facegate.db`.
//!
//! Every daemon thread opens its own [`Store`] (its own connection) on the same directory. The
//! database runs in WAL mode so readers never wait for the one writer, and each connection has a
//! 5 s busy timeout so concurrent writers queue instead of failing. Every write is an `IMMEDIATE`
//! transaction: it takes the write lock up front, which is what makes the busy timeout apply
//! (a deferred transaction that upgrades from read to write fails at once in WAL mode).
//!
//! `synchronous=FULL`, not the usual WAL companion `NORMAL`: SQLite documents that WAL with
//! `NORMAL` stays consistent but may roll back the last transactions on power loss. A door
//! terminal loses power all the time, and an access record must be on disk before anything
//! acknowledges it, so every commit fsyncs the WAL. The cost is one fsync per commit, which
//! is why bulk person syncs should use [`Store::upsert_persons`].
//!
//! The schema is versioned through `PRAGMA user_version`; numbered migrations run at open, one
//! transaction each. A database written by a newer facegate is refused, and a file that is not a
//! database or is corrupt is reported with what to do — it is never wiped or recreated, because it
//! may hold access records the cloud has not yet received.
//!
//! The file holds persons' data and the device password, so the directory is created 0700 and the
//! database 0600 (SQLite gives its `-wal` and `-shm` files the database file's mode).

mod persons;
mod records;
mod schema;
mod unrecorded;

pub use unrecorded::{UNRECORDED_FILE, Unrecorded, UnrecordedPasses};

pub use records::{InsertOutcome, LIVE_WINDOW_MS, NewRecord, OutboxRecord, RecordFilter, RecordState, RecordSummary};

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::{Error, Result};

/// Keys of the small state table that the daemon keeps up to date (`facegate status` reads them).
pub mod keys {
    /// "registered", "registering" or "rejected".
    pub const REGISTRATION: &str = "registration";
    /// Unix ms of the last successful registration.
    pub const REGISTERED_AT: &str = "registered_at_ms";
    /// Unix ms of the last answer from the cloud.
    pub const LAST_CONTACT: &str = "last_contact_ms";
    /// The last error worth a technician's attention.
    pub const LAST_ERROR: &str = "last_error";
    /// Unix ms of `LAST_ERROR`.
    pub const LAST_ERROR_AT: &str = "last_error_ms";
}

/// Name of the database file inside the storage directory.
pub const DB_FILE: &str = "facegate.db";

/// Default cap on the number of access records kept (delivered ones are pruned first).
pub const DEFAULT_MAX_RECORDS: u64 = 100_000;

/// Default cap on the total bytes of recognition photos kept with access records.
pub const DEFAULT_MAX_PHOTO_BYTES: u64 = 256 << 20;

/// How long a connection waits for another one's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the checkpoint before a retried insert waits for readers (a door is waiting).
const CHECKPOINT_WAIT: Duration = Duration::from_millis(200);

/// After a write failed for want of space, how long every insert makes room first without
/// asking the filesystem (a file size limit is invisible to statvfs).
const LOW_SPACE_HOLD: Duration = Duration::from_secs(60);

/// How the database file is laid out and checkpointed. Only benchmarks choose one
/// ([`Store::open_tuned`]); everything else gets [`Tuning::CURRENT`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// `page_size` of a new database (an existing one keeps its own).
    pub page_size: u32,
    /// `journal_size_limit`: the WAL is cut back to this after a checkpoint.
    pub journal_size_limit: i64,
    /// The committing connection checkpoints once the WAL holds this many bytes of pages
    /// (`wal_autocheckpoint`, in pages of the file's own size).
    pub wal_checkpoint_bytes: u32,
}

impl Tuning {
    /// 1 KiB pages for a new database: a commit rewrites every page it touches (the record's
    /// table and index leaves, the counters), so smaller pages write less per record — 2 to 2.5
    /// times less than 4 KiB pages (BENCHMARKS.md, "Bytes written per record"). An existing
    /// database keeps its page size (changing it needs a VACUUM outside WAL mode). The WAL is
    /// checkpointed every 1 MiB and cut back to 1 MiB: on a small partition it never holds more
    /// than that (it had grown to 2 MB of a 3 MB disk), and its file is reused in place rather
    /// than regrown. A bulk person sync still grows it inside one transaction; the next
    /// checkpoint cuts it back.
    pub const CURRENT: Tuning = Tuning { page_size: 1024, journal_size_limit: 1 << 20, wal_checkpoint_bytes: 1 << 20 };
    /// Before issue 16 (4 KiB pages, 64 MiB WAL limit, SQLite's checkpoint every 1,000 pages),
    /// for benchmarks that compare.
    pub const BEFORE_ISSUE_16: Tuning =
        Tuning { page_size: 4096, journal_size_limit: 64 << 20, wal_checkpoint_bytes: 1000 * 4096 };
}

/// One connection to the facegate database. Open one per thread; they share the file safely.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    caps: Caps,
    /// Until when inserts make room first, after a write failed for want of space.
    low_until: Option<Instant>,
}

/// Outbox limits enforced by [`Store::insert_record`].
#[derive(Debug, Clone, Copy)]
struct Caps {
    max_records: u64,
    max_photo_bytes: u64,
    /// Free bytes kept on the filesystem (0: none).
    reserve_bytes: u64,
}

impl Store {
    /// Opens (creating if needed) the store in `dir` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_tuned(dir, Tuning::CURRENT)
    }

    /// [`Store::open`] with another layout and checkpoint policy (for benchmarks).
    #[doc(hidden)]
    pub fn open_tuned(dir: &Path, tuning: Tuning) -> Result<Store> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io_path("creating storage directory", dir, e))?;
        let path = Store::db_path(dir);
        // Create the file ourselves so it is 0600 from the first byte, whatever the umask allows
        // SQLite to do. No truncation: an existing file, even a broken one, is left as it is.
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io_path("creating", &path, e))?;
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| open_error(&path, e))?;
        let mut store = Store::with_conn(conn, path);
        retry_busy(|| store.configure(tuning)).map_err(|e| open_error(&store.path, e))?;
        store.migrate()?;
        store.tighten_mode();
        Ok(store)
    }

    /// Opens an existing store for reading only (for `facegate status` and `records list` while
    /// the daemon runs). Creates no directory or database: a missing one is an error. Like any
    /// WAL reader it may leave SQLite's `-wal`/`-shm` side files, which SQLite gives the
    /// database file's owner and mode.
    pub fn open_readonly(dir: &Path) -> Result<Store> {
        let path = Store::db_path(dir);
        if !path.is_file() {
            return Err(Error::Store(format!(
                "no database at {} yet: the daemon creates it on its first start",
                path.display()
            )));
        }
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| open_error(&path, e))?;
        let store = Store::with_conn(conn, path);
        store.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| open_error(&store.path, e))?;
        let version = store.user_version().map_err(|e| open_error(&store.path, e))?;
        store.check_not_newer(version)?;
        if version < schema::LATEST {
            return Err(Error::Store(format!(
                "{} has schema version {version}, older than this facegate's {}: start the \
                 daemon once so it upgrades the database",
                store.path.display(),
                schema::LATEST
            )));
        }
        Ok(store)
    }

    /// Where the database of the storage directory `dir` lives.
    pub fn db_path(dir: &Path) -> PathBuf {
        dir.join(DB_FILE)
    }

    /// The database file this store is connected to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the outbox limits for this connection's inserts (see [`Store::insert_record`]).
    pub fn set_caps(&mut self, max_records: u64, max_photo_bytes: u64) {
        self.caps = Caps { max_records, max_photo_bytes, ..self.caps };
    }

    /// Sets the free space kept on the storage filesystem (`[storage] reserve_bytes`, 0 for
    /// none): below it, [`Store::insert_record`] makes room inside the database instead of
    /// growing it.
    pub fn set_reserve(&mut self, reserve_bytes: u64) {
        self.caps.reserve_bytes = reserve_bytes;
    }

    /// Whether inserts should make room first: the filesystem is below the reserve, or a write
    /// failed for want of space a moment ago.
    fn space_is_low(&mut self) -> bool {
        if self.low_until.is_some_and(|t| Instant::now() < t) {
            return true;
        }
        self.low_until = None;
        let reserve = self.caps.reserve_bytes;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        reserve > 0 && crate::hw::disk::space(dir).is_ok_and(|s| s.available < reserve)
    }

    /// Moves what the WAL holds into the database and lets the next commit write the WAL from
    /// its start, in blocks the file already owns. Best effort: on a full disk it may fail.
    ///
    /// RESTART waits for readers of the old WAL; a door waits behind this, so for a moment only.
    fn checkpoint_restart(&self) {
        let _ = self.conn.busy_timeout(CHECKPOINT_WAIT);
        if let Err(e) = self.conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
            log::debug!("checkpoint before making room: {e}");
        }
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
    }

    /// Device parameters the cloud has set (`setDevInfo`), by the spec's key.
    pub fn params(&self) -> Result<BTreeMap<String, String>> {
        self.read("reading device parameters", |c| {
            let mut stmt = c.prepare_cached("SELECT key, value FROM device_params")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Saves changed device parameters in one transaction; keys not in `changes` keep their value.
    pub fn save_params(&mut self, changes: &BTreeMap<String, String>) -> Result<()> {
        self.write("saving device parameters", |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO device_params (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            for (k, v) in changes {
                stmt.execute((k, v))?;
            }
            Ok(())
        })
    }

    /// A small piece of daemon state (e.g. the last registration time), if set.
    pub fn state(&self, key: &str) -> Result<Option<String>> {
        self.read("reading daemon state", |c| {
            use rusqlite::OptionalExtension;
            c.prepare_cached("SELECT value FROM kv_state WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()
        })
    }

    /// Sets a small piece of daemon state, durably.
    pub fn set_state(&mut self, key: &str, value: &str) -> Result<()> {
        self.write("saving daemon state", |tx| {
            tx.prepare_cached(
                "INSERT INTO kv_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?
            .execute((key, value))?;
            Ok(())
        })
    }

    /// Remembers `what` as the last error worth a technician's attention (`facegate status`),
    /// with the time, in one transaction.
    pub fn note_error(&mut self, what: &str) -> Result<()> {
        let now = crate::clock::now_ms().to_string();
        self.write("saving the last error", |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO kv_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            stmt.execute((keys::LAST_ERROR, what))?;
            stmt.execute((keys::LAST_ERROR_AT, now.as_str()))?;
            Ok(())
        })
    }

    /// Runs SQLite's full `integrity_check`: "ok" when sound, otherwise the problems found, one
    /// a line. Reads the whole file, so it is for `facegate doctor`, not for every start.
    pub fn integrity_check(&self) -> Result<String> {
        self.read("checking database integrity", |c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let lines = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(lines.collect::<rusqlite::Result<Vec<_>>>()?.join("\n"))
        })
    }

    fn with_conn(conn: Connection, path: PathBuf) -> Store {
        // Enough room for every statement of this module, so hot paths never re-prepare.
        conn.set_prepared_statement_cache_capacity(64);
        let caps =
            Caps { max_records: DEFAULT_MAX_RECORDS, max_photo_bytes: DEFAULT_MAX_PHOTO_BYTES, reserve_bytes: 0 };
        Store { conn, path, caps, low_until: None }
    }

    fn configure(&self, tuning: Tuning) -> rusqlite::Result<()> {
        let c = &self.conn;
        c.busy_timeout(BUSY_TIMEOUT)?;
        // Takes effect only on a new, empty database (before WAL mode writes its first page).
        c.pragma_update(None, "page_size", tuning.page_size)?;
        let mode: String = c.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Without WAL, readers would block the writer; better to say so than to limp along.
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "the filesystem refused WAL mode (got journal_mode={mode}); put the storage \
                     directory on a local filesystem"
                )),
            ));
        }
        c.pragma_update(None, "synchronous", "FULL")?;
        c.pragma_update(None, "foreign_keys", true)?;
        c.pragma_update(None, "journal_size_limit", tuning.journal_size_limit)?;
        let page: u32 = c.pragma_query_value(None, "page_size", |r| r.get(0))?;
        c.pragma_update(None, "wal_autocheckpoint", (tuning.wal_checkpoint_bytes / page.max(512)).max(1))?;
        Ok(())
    }

    fn user_version(&self) -> rusqlite::Result<u32> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0))
    }

    fn check_not_newer(&self, version: u32) -> Result<()> {
        if version > schema::LATEST {
            return Err(Error::Store(format!(
                "{} was written by a newer facegate (schema version {version}, this one knows up \
                 to {}): run that newer facegate again, or move the file away to start with an \
                 empty store; the file was left untouched",
                self.path.display(),
                schema::LATEST
            )));
        }
        Ok(())
    }

    /// Applies the missing migrations, each in its own transaction. Several handles may open the
    /// store at once, so the version is re-read under the write lock before each step.
    fn migrate(&mut self) -> Result<()> {
        loop {
            let version = retry_busy(|| self.user_version()).map_err(|e| open_error(&self.path, e))?;
            self.check_not_newer(version)?;
            if version == schema::LATEST {
                return Ok(());
            }
            let mut step = || -> rusqlite::Result<bool> {
                let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let current: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                if current != version {
                    return Ok(false);
                }
                schema::apply(&tx, version + 1)?;
                tx.pragma_update(None, "user_version", version + 1)?;
                tx.commit()?;
                Ok(true)
            };
            let applied = retry_busy(&mut step)
                .map_err(|e| describe(&self.path, &format!("upgrading the schema to version {}", version + 1), e))?;
            if applied {
                log::info!("{}: schema upgraded to version {}", self.path.display(), version + 1);
            }
        }
    }

    /// An existing file from an older install may be world-readable; it holds passwords.
    fn tighten_mode(&self) {
        let Ok(meta) = fs::metadata(&self.path) else {
            return;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            match fs::set_permissions(&self.path, fs::Permissions::from_mode(0o600)) {
                Ok(()) => log::warn!("{}: permissions were {:o}, set to 600", self.path.display(), mode & 0o777),
                Err(e) => log::warn!(
                    "{} is readable by other users (mode {:o}) and could not be restricted: {e}",
                    self.path.display(),
                    mode & 0o777
                ),
            }
        }
    }

    /// Runs `f` in one IMMEDIATE transaction and commits; errors say what was being done.
    ///
    /// A write that finds no room (a full disk, or a file size limit) is tried once more after
    /// a checkpoint: most often it is the WAL that cannot grow, and after the checkpoint it is
    /// rewritten from its start in blocks it already holds. Without this a full disk kept a
    /// deleted person's card opening the door and delivered records being sent again.
    fn write<T>(&mut self, what: &str, mut f: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        let mut run = |conn: &mut Connection| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        match run(&mut self.conn).map_err(|e| describe(&self.path, what, e)) {
            Err(e) if is_out_of_space(&e) => {
                log::warn!("{e}; checkpointing and trying again");
                self.checkpoint_restart();
                run(&mut self.conn).map_err(|e| describe(&self.path, what, e))
            }
            other => other,
        }
    }

    /// Runs a read; errors say what was being done.
    fn read<T>(&self, what: &str, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        f(&self.conn).map_err(|e| describe(&self.path, what, e))
    }
}

/// Turns an error met while opening into advice; a corrupt file gets a short `quick_check`
/// excerpt, since that is cheap next to the failure and tells the technician what broke.
fn open_error(path: &Path, e: rusqlite::Error) -> Error {
    let corrupt = e.sqlite_error_code() == Some(ErrorCode::DatabaseCorrupt);
    let err = describe(path, "opening the database", e);
    match (err, corrupt.then(|| quick_check(path)).flatten()) {
        (Error::Sqlite { context, advice, source }, Some(detail)) => {
            Error::Sqlite { context, advice: format!("{advice} (quick_check: {detail})"), source }
        }
        (err, _) => err,
    }
}

fn quick_check(path: &Path) -> Option<String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let mut stmt = conn.prepare("PRAGMA quick_check(3)").ok()?;
    let lines = stmt.query_map([], |r| r.get::<_, String>(0)).ok()?;
    let lines: Vec<String> = lines.filter_map(|l| l.ok()).collect();
    if lines.is_empty() { None } else { Some(lines.join("; ")) }
}

/// Wraps a SQLite error with what was being done, which file, and what the user can do about it.
fn describe(path: &Path, what: &str, e: rusqlite::Error) -> Error {
    let file = path.display();
    let advice = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => format!(
            "{file} is not a SQLite database: restore it from a backup, or move it away to start \
             with an empty store (facegate never deletes it)"
        ),
        Some(ErrorCode::DatabaseCorrupt) => format!(
            "{file} is corrupt: restore it from a backup, or move it away to start with an empty \
             store (facegate never deletes it)"
        ),
        Some(ErrorCode::DiskFull) => {
            format!("the disk holding {file} is full: free some space")
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            format!("{file} stayed locked by another connection for over {} s", BUSY_TIMEOUT.as_secs())
        }
        Some(ErrorCode::ReadOnly) => {
            format!("{file} cannot be written: check the file's owner and permissions")
        }
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => format!(
            "{file} cannot be opened: check that the directory and its -wal/-shm files belong to \
             the user running facegate"
        ),
        Some(ErrorCode::SystemIoFailure) if is_write_failure(&e) => match out_of_room(path) {
            Some(why) => format!("{why}: free some space"),
            None => format!(
                "writing {file} failed: the disk may be full or the storage medium failing \
                 (`facegate doctor` shows the free space)"
            ),
        },
        Some(ErrorCode::SystemIoFailure) => {
            format!("I/O error on {file}: the storage medium may be failing")
        }
        _ => format!("database {file}"),
    };
    Error::Sqlite { context: what.to_string(), advice, source: e }
}

/// Whether a store error is a write that found no room: SQLITE_FULL (ENOSPC), or an I/O error
/// writing, growing or syncing a file (EFBIG past the file size limit comes as one). The gate
/// tells a full disk from other failures with it.
pub fn is_out_of_space(e: &Error) -> bool {
    match e {
        Error::Sqlite { source, .. } => match source.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => true,
            Some(ErrorCode::SystemIoFailure) => is_write_failure(source),
            _ => false,
        },
        _ => false,
    }
}

/// An I/O error of SQLite's that a full disk or a file size limit causes.
fn is_write_failure(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi;
    match e {
        rusqlite::Error::SqliteFailure(err, _) => matches!(
            err.extended_code,
            ffi::SQLITE_IOERR_WRITE | ffi::SQLITE_IOERR_TRUNCATE | ffi::SQLITE_IOERR_SHMSIZE | ffi::SQLITE_IOERR_FSYNC
        ),
        _ => false,
    }
}

/// Says why a write found no room, if it can tell: a file size limit on this process, or a
/// filesystem with (next to) nothing free.
fn out_of_room(path: &Path) -> Option<String> {
    if let Some(limit) = crate::hw::disk::file_size_limit() {
        return Some(format!(
            "the disk is full for facegate: its file size limit (RLIMIT_FSIZE) of {limit} bytes is reached"
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let space = crate::hw::disk::space(dir).ok()?;
    // A few pages: what SQLite could not find.
    (space.available < 1 << 20).then(|| {
        format!("the disk holding {} is full ({} free)", path.display(), crate::hw::disk::human_bytes(space.available))
    })
}

/// Retries `f` while SQLite answers "busy" without waiting: some lock steps of a connection
/// being opened or closed at the same moment (switching a new file to WAL, the checkpoint of the
/// last one to close) bypass the busy timeout. Gives up after [`BUSY_TIMEOUT`].
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn open_creates_private_dir_and_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let store = Store::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
        let wal = dir.join("facegate.db-wal");
        assert!(wal.exists(), "WAL file exists while a connection is open");
        assert_eq!(mode(&wal), 0o600);
        drop(store);
    }

    #[test]
    fn existing_world_readable_file_is_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        drop(Store::open(tmp.path()).unwrap());
        let db = tmp.path().join(DB_FILE);
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        drop(Store::open(tmp.path()).unwrap());
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn wal_and_full_sync_are_in_effect() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let jm: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(jm, "wal");
        let sync: i64 = store.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let fk: i64 = store.conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = store.conn.pragma_query_value(None, "busy_timeout", |r| r.get(0)).unwrap();
        assert_eq!(busy, 5000);
    }

    #[test]
    fn migrations_are_idempotent_across_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.user_version().unwrap(), schema::LATEST);
        store.set_state("k", "v").unwrap();
        drop(store);
        for _ in 0..3 {
            let store = Store::open(tmp.path()).unwrap();
            assert_eq!(store.user_version().unwrap(), schema::LATEST);
            assert_eq!(store.state("k").unwrap().as_deref(), Some("v"));
        }
        let ro = Store::open_readonly(tmp.path()).unwrap();
        assert_eq!(ro.state("k").unwrap().as_deref(), Some("v"));
        assert_eq!(ro.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn a_version_1_store_is_upgraded_with_its_records() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let mut c = Connection::open(tmp.path().join(DB_FILE)).unwrap();
            let tx = c.transaction().unwrap();
            schema::apply(&tx, 1).unwrap();
            tx.pragma_update(None, "user_version", 1).unwrap();
            tx.execute(
                "INSERT INTO records (created_ms, name, id_number, state, fields) VALUES (1, 'a', '1', 0, '{}')",
                [],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let mut store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.user_version().unwrap(), schema::LATEST);
        let old = store.next_to_send().unwrap().expect("the version 1 record survives");
        let new = store
            .insert_record(&crate::store::NewRecord { created_ms: 2, awaiting_snapshot: true, ..Default::default() })
            .unwrap()
            .msg_id;
        assert!(new > old.msg_id);
        store.attach_snapshot(new, Some(&[0xD8; 10])).unwrap();
        assert_eq!(store.record_photo_bytes().unwrap(), 10);
    }

    #[test]
    fn concurrent_first_opens_migrate_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || Store::open(&dir).map(|_| ()))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.user_version().unwrap(), schema::LATEST);
    }

    #[test]
    fn newer_schema_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        drop(Store::open(tmp.path()).unwrap());
        let db = tmp.path().join(DB_FILE);
        {
            let c = Connection::open(&db).unwrap();
            c.pragma_update(None, "user_version", schema::LATEST + 1).unwrap();
        }
        let before = fs::read(&db).unwrap();
        for result in [Store::open(tmp.path()), Store::open_readonly(tmp.path())] {
            match result {
                Err(Error::Store(msg)) => {
                    assert!(msg.contains("newer facegate"), "{msg}");
                    assert!(msg.contains(&db.display().to_string()), "{msg}");
                }
                Err(e) => panic!("wrong error kind: {e}"),
                Ok(_) => panic!("a newer schema was accepted"),
            }
        }
        assert_eq!(fs::read(&db).unwrap(), before);
    }

    #[test]
    fn garbage_file_is_reported_and_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join(DB_FILE);
        let garbage: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        fs::write(&db, &garbage).unwrap();
        for result in [Store::open(tmp.path()), Store::open_readonly(tmp.path())] {
            match result {
                Err(e @ Error::Sqlite { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&db.display().to_string()), "{msg}");
                    assert!(msg.contains("move it away"), "{msg}");
                }
                Err(e) => panic!("wrong error kind: {e}"),
                Ok(_) => panic!("garbage was accepted as a database"),
            }
        }
        assert_eq!(fs::read(&db).unwrap(), garbage);
    }

    #[test]
    fn corrupt_page_is_reported_without_repair() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(tmp.path()).unwrap();
            for i in 0..200 {
                store.set_state(&format!("key{i}"), &"x".repeat(500)).unwrap();
            }
        }
        let db = tmp.path().join(DB_FILE);
        let mut bytes = fs::read(&db).unwrap();
        // Keep the 100-byte header and page 1 intact; smash the next pages (schema b-trees
        // and the state table live there).
        let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
        assert!(bytes.len() > 6 * page);
        for b in &mut bytes[page..6 * page] {
            *b = 0xA5;
        }
        fs::write(&db, &bytes).unwrap();
        let outcome = Store::open(tmp.path()).and_then(|s| {
            s.state("key7")?;
            s.integrity_check()
        });
        match outcome {
            Err(e @ Error::Sqlite { .. }) => assert!(e.to_string().contains("corrupt"), "{e}"),
            Err(e) => panic!("wrong error kind: {e}"),
            Ok(report) => assert_ne!(report, "ok", "corruption went unnoticed"),
        }
        assert_eq!(fs::read(&db).unwrap(), bytes);
    }

    #[test]
    fn open_readonly_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("missing");
        match Store::open_readonly(&dir) {
            Err(Error::Store(msg)) => assert!(msg.contains("no database"), "{msg}"),
            Err(e) => panic!("wrong error kind: {e}"),
            Ok(_) => panic!("opened a missing database"),
        }
        assert!(!dir.exists());
        // An existing but empty directory stays empty too.
        assert!(Store::open_readonly(tmp.path()).is_err());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn readonly_store_refuses_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let writer = Store::open(tmp.path()).unwrap();
        let mut ro = Store::open_readonly(tmp.path()).unwrap();
        match ro.set_state("a", "b") {
            Err(Error::Sqlite { context, source, .. }) => {
                assert_eq!(context, "saving daemon state");
                assert_eq!(source.sqlite_error_code(), Some(ErrorCode::ReadOnly), "{source}");
            }
            other => panic!("write through a read-only store: {other:?}"),
        }
        drop(writer);
    }

    #[test]
    fn params_upsert_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        assert!(store.params().unwrap().is_empty());
        let mut a = BTreeMap::new();
        a.insert("devicePassword".to_string(), "1234".to_string());
        a.insert("openDoorDelay".to_string(), "3".to_string());
        store.save_params(&a).unwrap();
        let mut b = BTreeMap::new();
        b.insert("openDoorDelay".to_string(), "5".to_string());
        store.save_params(&b).unwrap();
        drop(store);
        let store = Store::open(tmp.path()).unwrap();
        let p = store.params().unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p["devicePassword"], "1234");
        assert_eq!(p["openDoorDelay"], "5");
    }

    #[test]
    fn state_roundtrip_and_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.state("token").unwrap(), None);
        store.set_state("token", "a").unwrap();
        store.set_state("token", "b").unwrap();
        assert_eq!(store.state("token").unwrap().as_deref(), Some("b"));
    }
}
