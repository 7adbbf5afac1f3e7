//! Numbered schema migrations. Version N is `MIGRATIONS[N - 1]`; never edit a published step,
//! append a new one (old databases in the field replay only the steps they miss).

use rusqlite::Transaction;

/// The schema version this build writes.
pub(super) const LATEST: u32 = MIGRATIONS.len() as u32;

const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// Applies migration `version` inside `tx` (the caller bumps `user_version` and commits).
pub(super) fn apply(tx: &Transaction<'_>, version: u32) -> rusqlite::Result<()> {
    tx.execute_batch(MIGRATIONS[version as usize - 1])?;
    match version {
        1 => seed_msg_ids(tx)?,
        3 => key_cards(tx)?,
        _ => {}
    }
    Ok(())
}

/// Fills `card_key` for the persons stored before card numbers were normalised. A stored
/// text that is no card number (letters, too long) keeps its `card` text but gets no key, so
/// it matches no card: it is logged, not deleted, and the cloud's next sync replaces it.
fn key_cards(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String, String)> = tx
        .prepare("SELECT id, id_number, card FROM persons WHERE card <> ''")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = tx.prepare("UPDATE persons SET card_key = ?2 WHERE id = ?1")?;
    for (id, id_number, card) in rows {
        match crate::model::CardNumber::parse(&card) {
            Ok(number) => {
                update.execute(rusqlite::params![id, number.key()])?;
            }
            Err(e) => log::warn!("person {id_number}: stored card {card:?} matches no card from now on: {e}"),
        }
    }
    Ok(())
}

/// Starts msgIDs at the creation time in Unix seconds rather than 1. AUTOINCREMENT already
/// keeps them unique for this file's life; the seed keeps them unique when a broken database
/// had to be moved away and a fresh one started, so a cloud that de-duplicates by msgID does not
/// drop new records as repeats. It collides only if the old file averaged more than one record a
/// second, and stays below 2^31 (for clouds that parse msgID as a 32-bit int) until 2038.
fn seed_msg_ids(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let seed = crate::clock::now_ms().max(0) / 1000;
    tx.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('records', ?1)", [seed])?;
    Ok(())
}

const V1: &str = "
CREATE TABLE persons (
    id          INTEGER PRIMARY KEY,
    id_number   TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    card        TEXT NOT NULL,
    password    TEXT NOT NULL,
    priority    INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 3),
    valid_start TEXT NOT NULL,
    valid_end   TEXT NOT NULL,
    pass_time1  TEXT NOT NULL,
    pass_time2  TEXT NOT NULL,
    pass_time3  TEXT NOT NULL,
    pass_time4  TEXT NOT NULL,
    pass_time5  TEXT NOT NULL,
    pass_time6  TEXT NOT NULL,
    pass_time7  TEXT NOT NULL,
    extra       TEXT NOT NULL
);
-- Most persons have no card or password: partial indexes keep the empty ones out.
CREATE INDEX persons_card ON persons(card) WHERE card <> '';
CREATE INDEX persons_password ON persons(password) WHERE password <> '';

-- Photos apart from persons, so listing persons never pages through 300 KB blobs.
CREATE TABLE person_photos (
    id_number TEXT NOT NULL REFERENCES persons(id_number) ON DELETE CASCADE,
    slot      INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 3),
    photo_id  TEXT NOT NULL,
    jpeg      BLOB NOT NULL,
    PRIMARY KEY (id_number, slot)
);

-- The outbox. msg_id is the uploadRecord msgID: AUTOINCREMENT never reuses a value, even
-- after deletes. state: 0 pending, 1 delivered, 2 held (kept, not to be sent).
CREATE TABLE records (
    msg_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms   INTEGER NOT NULL,
    name         TEXT NOT NULL,
    id_number    TEXT NOT NULL,
    state        INTEGER NOT NULL CHECK (state BETWEEN 0 AND 2),
    attempts     INTEGER NOT NULL DEFAULT 0,
    fields       TEXT NOT NULL,
    compare_id   TEXT,
    compare_slot INTEGER,
    photo_bytes  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX records_created ON records(created_ms);
CREATE INDEX records_name ON records(name);
CREATE INDEX records_id_number ON records(id_number);
CREATE INDEX records_state ON records(state, msg_id);
CREATE INDEX records_live ON records(msg_id) WHERE state = 0 AND attempts = 0;
CREATE INDEX records_with_photo ON records(state, msg_id) WHERE photo_bytes > 0;

CREATE TABLE record_photos (
    msg_id INTEGER PRIMARY KEY REFERENCES records(msg_id) ON DELETE CASCADE,
    jpeg   BLOB NOT NULL
);

-- Counters kept by triggers, so caps and offLineRecordNum cost O(1) per record, not a scan.
CREATE TABLE outbox_stats (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    total       INTEGER NOT NULL,
    pending     INTEGER NOT NULL,
    held        INTEGER NOT NULL,
    photo_bytes INTEGER NOT NULL,
    evicted     INTEGER NOT NULL
);
INSERT INTO outbox_stats (id, total, pending, held, photo_bytes, evicted) VALUES (1, 0, 0, 0, 0, 0);

CREATE TRIGGER records_count_insert AFTER INSERT ON records BEGIN
    UPDATE outbox_stats SET
        total = total + 1,
        pending = pending + (NEW.state = 0),
        held = held + (NEW.state = 2),
        photo_bytes = photo_bytes + NEW.photo_bytes
    WHERE id = 1;
END;
CREATE TRIGGER records_count_delete AFTER DELETE ON records BEGIN
    UPDATE outbox_stats SET
        total = total - 1,
        pending = pending - (OLD.state = 0),
        held = held - (OLD.state = 2),
        photo_bytes = photo_bytes - OLD.photo_bytes
    WHERE id = 1;
END;
CREATE TRIGGER records_count_state AFTER UPDATE OF state ON records
WHEN OLD.state <> NEW.state BEGIN
    UPDATE outbox_stats SET
        pending = pending - (OLD.state = 0) + (NEW.state = 0),
        held = held - (OLD.state = 2) + (NEW.state = 2)
    WHERE id = 1;
END;

CREATE TABLE device_params (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE kv_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// Camera snapshots attached after the door opened.
const V2: &str = "
-- Records whose camera snapshot is still being taken (a card, password or QR event): the
-- uploader skips them until the photo is attached; at start the daemon lets any left over from
-- a crash go without one.
CREATE TABLE record_snaps (
    msg_id INTEGER PRIMARY KEY REFERENCES records(msg_id) ON DELETE CASCADE
);

CREATE TRIGGER records_count_photo AFTER UPDATE OF photo_bytes ON records
WHEN OLD.photo_bytes <> NEW.photo_bytes BEGIN
    UPDATE outbox_stats SET photo_bytes = photo_bytes - OLD.photo_bytes + NEW.photo_bytes WHERE id = 1;
END;
";

/// Card numbers looked up by value: `card_key` is the normalised form (see
/// `model::CardNumber`), "" for none; `card` keeps the text the cloud sent.
const V3: &str = "
ALTER TABLE persons ADD COLUMN card_key TEXT NOT NULL DEFAULT '';
DROP INDEX persons_card;
CREATE INDEX persons_card_key ON persons(card_key) WHERE card_key <> '';
";

/// Photos of undelivered records dropped to make room on a disk short of space, counted for
/// `facegate status` as the caps count evicted records.
const V4: &str = "
ALTER TABLE outbox_stats ADD COLUMN photos_dropped INTEGER NOT NULL DEFAULT 0;
";
