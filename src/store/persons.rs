//! Registered persons and their registration photos.

use std::collections::BTreeMap;

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::Store;
use crate::model::{CardNumber, Person, PersonPhoto, Priority};
use crate::{Error, Result};

/// `SELECT` of every person column, in the order [`person_from_row`] reads them.
macro_rules! select_person {
    ($tail:literal) => {
        concat!(
            "SELECT id, id_number, name, card, password, priority, valid_start, valid_end, ",
            "pass_time1, pass_time2, pass_time3, pass_time4, pass_time5, pass_time6, pass_time7, ",
            "extra FROM persons ",
            $tail
        )
    };
}

impl Store {
    /// Saves a person (new or changed) and replaces all of their photos with `photos`, in one
    /// transaction. An empty `photos` removes the stored ones; merge first to keep them.
    pub fn upsert_person(&mut self, person: &Person, photos: &[PersonPhoto]) -> Result<()> {
        let checked = check_person(person, photos)?;
        let what = format!("saving person {}", person.id_number);
        self.write(&what, |tx| upsert_in(tx, person, &checked, photos))
    }

    /// Saves many persons in one transaction (one fsync instead of one per person), each as
    /// [`Store::upsert_person`] would. All or nothing.
    pub fn upsert_persons(&mut self, batch: &[(Person, Vec<PersonPhoto>)]) -> Result<()> {
        let mut extras = Vec::with_capacity(batch.len());
        for (person, photos) in batch {
            extras.push(check_person(person, photos)?);
        }
        let what = format!("saving {} persons", batch.len());
        self.write(&what, |tx| {
            for ((person, photos), extra) in batch.iter().zip(&extras) {
                upsert_in(tx, person, extra, photos)?;
            }
            Ok(())
        })
    }

    /// Deletes a person and their photos; false if no such person was registered.
    pub fn delete_person(&mut self, id_number: &str) -> Result<bool> {
        let what = format!("deleting person {id_number}");
        self.write(&what, |tx| {
            // Explicit, so photos go even on a connection that lost its foreign_keys setting.
            tx.prepare_cached("DELETE FROM person_photos WHERE id_number = ?1")?.execute([id_number])?;
            let n = tx.prepare_cached("DELETE FROM persons WHERE id_number = ?1")?.execute([id_number])?;
            Ok(n > 0)
        })
    }

    /// Deletes every person and photo; returns how many persons there were.
    pub fn delete_all_persons(&mut self) -> Result<u64> {
        self.write("deleting all persons", |tx| {
            let n: u64 = tx.prepare_cached("SELECT COUNT(*) FROM persons")?.query_row([], |r| r.get(0))?;
            tx.prepare_cached("DELETE FROM person_photos")?.execute([])?;
            tx.prepare_cached("DELETE FROM persons")?.execute([])?;
            Ok(n)
        })
    }

    /// The person with this idNumber, without photos.
    pub fn person(&self, id_number: &str) -> Result<Option<Person>> {
        self.read("looking up a person by idNumber", |c| {
            c.prepare_cached(select_person!("WHERE id_number = ?1"))?
                .query_row([id_number], person_from_row)
                .optional()
                .map(|p| p.map(|(_, p)| p))
        })
    }

    /// The person holding this IC card number. Should the cloud have given one card to several
    /// persons, the earliest registered one is returned.
    /// Numbers compare by value: `0012345` finds the person registered as `12345` and back.
    pub fn person_by_card(&self, card: &CardNumber) -> Result<Option<Person>> {
        self.read("looking up a person by card", |c| {
            c.prepare_cached(select_person!("WHERE card_key = ?1 AND card_key <> '' ORDER BY id LIMIT 1"))?
                .query_row([card.key()], person_from_row)
                .optional()
                .map(|p| p.map(|(_, p)| p))
        })
    }

    /// The person whose door password this is; the earliest registered one if several share it.
    pub fn person_by_password(&self, password: &str) -> Result<Option<Person>> {
        if password.is_empty() {
            return Ok(None);
        }
        self.read("looking up a person by password", |c| {
            c.prepare_cached(select_person!("WHERE password = ?1 AND password <> '' ORDER BY id LIMIT 1"))?
                .query_row([password], person_from_row)
                .optional()
                .map(|p| p.map(|(_, p)| p))
        })
    }

    /// How many persons are registered.
    pub fn person_count(&self) -> Result<u64> {
        self.read("counting persons", |c| c.prepare_cached("SELECT COUNT(*) FROM persons")?.query_row([], |r| r.get(0)))
    }

    /// Whether at least `limit` persons are registered: the capacity check of every add. Cheap
    /// while the largest row key is below `limit` (keys are distinct and positive, so there are
    /// never more persons than the largest key); only then does it count the persons.
    pub fn persons_at_least(&self, limit: u64) -> Result<bool> {
        if limit == 0 {
            return Ok(true);
        }
        let max_key: Option<i64> = self.read("finding the largest person key", |c| {
            c.prepare_cached("SELECT MAX(id) FROM persons")?.query_row([], |r| r.get(0))
        })?;
        match max_key {
            None => Ok(false),
            Some(key) if key >= 1 && (key as u64) < limit => Ok(false),
            Some(_) => Ok(self.person_count()? >= limit),
        }
    }

    /// Up to `limit` persons whose row key is above `after`, in key order, each with its key.
    /// Start with `after = 0` and pass the last key returned to get the next page; changes made
    /// between pages never make a page skip or repeat a person that stayed registered.
    pub fn persons_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Person)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("listing persons", |c| {
            let mut stmt = c.prepare_cached(select_person!("WHERE id > ?1 ORDER BY id LIMIT ?2"))?;
            let rows = stmt.query_map(params![after, limit], person_from_row)?;
            rows.collect()
        })
    }

    /// The photos of a person, by slot; empty if none (or no such person).
    pub fn photos(&self, id_number: &str) -> Result<Vec<PersonPhoto>> {
        self.read("reading a person's photos", |c| {
            let mut stmt =
                c.prepare_cached("SELECT slot, photo_id, jpeg FROM person_photos WHERE id_number = ?1 ORDER BY slot")?;
            let rows = stmt.query_map([id_number], photo_from_row)?;
            rows.collect()
        })
    }

    /// The slots (ascending) holding a photo of this person, without reading the JPEG bytes:
    /// what an access record needs for its comparePhoto reference.
    pub fn photos_slots(&self, id_number: &str) -> Result<Vec<u8>> {
        self.read("listing a person's photo slots", |c| {
            let mut stmt = c.prepare_cached("SELECT slot FROM person_photos WHERE id_number = ?1 ORDER BY slot")?;
            let rows = stmt.query_map([id_number], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// One photo of a person (slot 1..=3), e.g. the comparePhoto of an access record.
    pub fn photo(&self, id_number: &str, slot: u8) -> Result<Option<PersonPhoto>> {
        self.read("reading a person's photo", |c| {
            c.prepare_cached("SELECT slot, photo_id, jpeg FROM person_photos WHERE id_number = ?1 AND slot = ?2")?
                .query_row(params![id_number, slot], photo_from_row)
                .optional()
        })
    }
}

/// What [`check_person`] derived: the extra fields as JSON and the card's key ("" for none).
struct Checked {
    extra: String,
    card_key: String,
}

/// Refuses what the schema would refuse anyway, and a card text that is no card number, with a
/// message naming the person.
fn check_person(person: &Person, photos: &[PersonPhoto]) -> Result<Checked> {
    if person.id_number.is_empty() {
        return Err(Error::Store("cannot save a person without an idNumber".into()));
    }
    let card_key = match person.card.trim() {
        "" => String::new(),
        card => CardNumber::parse(card)
            .map_err(|e| Error::Store(format!("person {}: card {card:?}: {e}", person.id_number)))?
            .key()
            .to_string(),
    };
    let mut seen = [false; 4];
    for photo in photos {
        if !(1..=3).contains(&photo.slot) {
            return Err(Error::Store(format!(
                "person {}: photo slot {} is outside 1..=3",
                person.id_number, photo.slot
            )));
        }
        if std::mem::replace(&mut seen[photo.slot as usize], true) {
            return Err(Error::Store(format!("person {}: two photos for slot {}", person.id_number, photo.slot)));
        }
    }
    let extra = serde_json::to_string(&person.extra)
        .map_err(|e| Error::Store(format!("person {}: extra fields not storable: {e}", person.id_number)))?;
    Ok(Checked { extra, card_key })
}

fn upsert_in(tx: &Transaction<'_>, p: &Person, checked: &Checked, photos: &[PersonPhoto]) -> rusqlite::Result<()> {
    let priority: i64 = p.priority.code().parse().unwrap_or(0);
    let t = &p.pass_times;
    tx.prepare_cached(
        "INSERT INTO persons (id_number, name, card, password, priority, valid_start, valid_end,
             pass_time1, pass_time2, pass_time3, pass_time4, pass_time5, pass_time6, pass_time7,
             extra, card_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT(id_number) DO UPDATE SET
             name = excluded.name, card = excluded.card, password = excluded.password,
             priority = excluded.priority, valid_start = excluded.valid_start,
             valid_end = excluded.valid_end, pass_time1 = excluded.pass_time1,
             pass_time2 = excluded.pass_time2, pass_time3 = excluded.pass_time3,
             pass_time4 = excluded.pass_time4, pass_time5 = excluded.pass_time5,
             pass_time6 = excluded.pass_time6, pass_time7 = excluded.pass_time7,
             extra = excluded.extra, card_key = excluded.card_key",
    )?
    .execute(params![
        p.id_number,
        p.name,
        p.card.trim(),
        p.password,
        priority,
        p.valid_start,
        p.valid_end,
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        checked.extra,
        checked.card_key
    ])?;
    tx.prepare_cached("DELETE FROM person_photos WHERE id_number = ?1")?.execute([&p.id_number])?;
    let mut insert =
        tx.prepare_cached("INSERT INTO person_photos (id_number, slot, photo_id, jpeg) VALUES (?1, ?2, ?3, ?4)")?;
    for photo in photos {
        insert.execute(params![p.id_number, photo.slot, photo.photo_id, photo.jpeg])?;
    }
    Ok(())
}

fn person_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, Person)> {
    let priority: i64 = r.get(5)?;
    let extra: String = r.get(15)?;
    let extra: BTreeMap<String, String> = serde_json::from_str(&extra)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(15, Type::Text, Box::new(e)))?;
    let person = Person {
        id_number: r.get(1)?,
        name: r.get(2)?,
        card: r.get(3)?,
        password: r.get(4)?,
        priority: Priority::from_code(&priority.to_string()).unwrap_or_default(),
        valid_start: r.get(6)?,
        valid_end: r.get(7)?,
        pass_times: [r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?],
        extra,
    };
    Ok((r.get(0)?, person))
}

fn photo_from_row(r: &Row<'_>) -> rusqlite::Result<PersonPhoto> {
    Ok(PersonPhoto { slot: r.get(0)?, photo_id: r.get(1)?, jpeg: r.get(2)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn person(id: &str) -> Person {
        let mut extra = BTreeMap::new();
        extra.insert("sex".to_string(), "男".to_string());
        extra.insert("phone".to_string(), "18868681819".to_string());
        Person {
            id_number: id.to_string(),
            name: format!("name {id}"),
            card: String::new(),
            password: String::new(),
            priority: Priority::AnyTime,
            valid_start: "2019_08_09".into(),
            valid_end: "2029_8_9".into(),
            pass_times: [
                "06:00-09:00".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                "10:00-12:00,14:00-16:00".into(),
            ],
            extra,
        }
    }

    fn photo(slot: u8, fill: u8, len: usize) -> PersonPhoto {
        PersonPhoto { slot, photo_id: format!("{}{slot}", fill), jpeg: vec![fill; len] }
    }

    #[test]
    fn upsert_roundtrip_and_photo_replacement() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let mut p = person("20001");
        p.card = "8899".into();
        store.upsert_person(&p, &[photo(1, 1, 300_000), photo(3, 3, 10)]).unwrap();
        assert_eq!(store.person("20001").unwrap().as_ref(), Some(&p));
        let photos = store.photos("20001").unwrap();
        assert_eq!(photos, vec![photo(1, 1, 300_000), photo(3, 3, 10)]);
        assert_eq!(store.photo("20001", 3).unwrap(), Some(photo(3, 3, 10)));
        assert_eq!(store.photos_slots("20001").unwrap(), vec![1, 3]);
        assert!(store.photos_slots("nobody").unwrap().is_empty());
        assert_eq!(store.photo("20001", 2).unwrap(), None);

        // Update: changed fields, photos replaced (slot 1 gone, slot 2 new).
        p.name = "张三".into();
        p.priority = Priority::Blacklist;
        p.extra.remove("phone");
        store.upsert_person(&p, &[photo(2, 7, 5)]).unwrap();
        assert_eq!(store.person("20001").unwrap().as_ref(), Some(&p));
        assert_eq!(store.photos("20001").unwrap(), vec![photo(2, 7, 5)]);
        assert_eq!(store.photos_slots("20001").unwrap(), vec![2]);
        assert_eq!(store.person_count().unwrap(), 1);

        // Empty photos removes them.
        store.upsert_person(&p, &[]).unwrap();
        assert!(store.photos("20001").unwrap().is_empty());
    }

    #[test]
    fn upsert_keeps_the_row_key() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        store.upsert_person(&person("a"), &[]).unwrap();
        store.upsert_person(&person("b"), &[]).unwrap();
        let before = store.persons_page(0, 10).unwrap();
        let mut a = person("a");
        a.name = "renamed".into();
        store.upsert_person(&a, &[]).unwrap();
        let after = store.persons_page(0, 10).unwrap();
        assert_eq!(before[0].0, after[0].0);
        assert_eq!(after[0].1.name, "renamed");
        assert_eq!(after.len(), 2);
    }

    #[test]
    fn bad_photos_are_refused_and_nothing_saved() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let p = person("1");
        assert!(matches!(store.upsert_person(&p, &[photo(4, 1, 1)]), Err(Error::Store(_))));
        assert!(matches!(store.upsert_person(&p, &[photo(1, 1, 1), photo(1, 2, 1)]), Err(Error::Store(_))));
        assert!(matches!(store.upsert_person(&person(""), &[]), Err(Error::Store(_))));
        // A batch with one bad entry saves none of it.
        let batch = vec![(person("2"), vec![photo(1, 1, 1)]), (person("3"), vec![photo(0, 1, 1)])];
        assert!(store.upsert_persons(&batch).is_err());
        assert_eq!(store.person_count().unwrap(), 0);
    }

    #[test]
    fn delete_and_delete_all_remove_photos() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        for id in ["1", "2", "3"] {
            store.upsert_person(&person(id), &[photo(1, 9, 100), photo(2, 8, 100)]).unwrap();
        }
        assert!(store.delete_person("2").unwrap());
        assert!(!store.delete_person("2").unwrap());
        assert!(!store.delete_person("nobody").unwrap());
        assert_eq!(store.person("2").unwrap(), None);
        assert!(store.photos("2").unwrap().is_empty());
        assert_eq!(store.person_count().unwrap(), 2);
        // Re-registering a deleted person does not resurrect old photos.
        store.upsert_person(&person("2"), &[]).unwrap();
        assert!(store.photos("2").unwrap().is_empty());

        assert_eq!(store.delete_all_persons().unwrap(), 3);
        assert_eq!(store.person_count().unwrap(), 0);
        assert!(store.photos("1").unwrap().is_empty());
        let photo_rows: i64 = store.conn.query_row("SELECT COUNT(*) FROM person_photos", [], |r| r.get(0)).unwrap();
        assert_eq!(photo_rows, 0);
        assert_eq!(store.delete_all_persons().unwrap(), 0);
    }

    #[test]
    fn persons_at_least_counts_exactly_whatever_the_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        assert!(!store.persons_at_least(1).unwrap());
        assert!(store.persons_at_least(0).unwrap());
        for id in ["1", "2", "3", "4"] {
            store.upsert_person(&person(id), &[]).unwrap();
        }
        assert!(store.persons_at_least(4).unwrap());
        assert!(!store.persons_at_least(5).unwrap());
        // Holes in the keys: 2 persons, largest key 4.
        store.delete_person("2").unwrap();
        store.delete_person("3").unwrap();
        assert!(store.persons_at_least(2).unwrap());
        assert!(!store.persons_at_least(3).unwrap(), "two persons, not three, whatever the keys");
        store.delete_all_persons().unwrap();
        assert!(!store.persons_at_least(1).unwrap());
    }

    #[test]
    fn lookups_by_card_and_password() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let mut a = person("a");
        a.card = "0012345".into();
        a.password = "1234".into();
        let mut b = person("b");
        b.card = "777".into();
        b.password = "1234".into();
        store.upsert_person(&a, &[]).unwrap();
        store.upsert_person(&b, &[]).unwrap();
        store.upsert_person(&person("c"), &[]).unwrap();

        let card = |n: &str| CardNumber::parse(n).unwrap();
        assert_eq!(store.person_by_card(&card("0012345")).unwrap().map(|p| p.id_number), Some("a".into()));
        assert_eq!(
            store.person_by_card(&card("12345")).unwrap().map(|p| p.id_number),
            Some("a".into()),
            "leading zeros are insignificant"
        );
        assert_eq!(store.person_by_card(&card("123450")).unwrap(), None, "a different number");
        assert_eq!(store.person_by_card(&card("0777")).unwrap().map(|p| p.id_number), Some("b".into()));
        assert_eq!(store.person_by_card(&card("0")).unwrap(), None, "no card is not card 0");
        assert_eq!(store.person("a").unwrap().unwrap().card, "0012345", "the card as the cloud sent it");
        assert_eq!(store.person_by_password("").unwrap(), None);
        assert_eq!(
            store.person_by_password("1234").unwrap().map(|p| p.id_number),
            Some("a".into()),
            "shared password: earliest registered"
        );
        assert_eq!(store.person("c").unwrap().map(|p| p.id_number), Some("c".into()));
        assert_eq!(store.person("zz").unwrap(), None);

        // A card moved to another person follows the update.
        a.card = String::new();
        store.upsert_person(&a, &[]).unwrap();
        b.card = "0012345".into();
        store.upsert_person(&b, &[]).unwrap();
        assert_eq!(store.person_by_card(&card("0012345")).unwrap().map(|p| p.id_number), Some("b".into()));
        assert_eq!(store.person_by_card(&card("777")).unwrap(), None);
    }

    #[test]
    fn a_card_that_is_no_number_is_refused_and_nothing_saved() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        for bad in ["abc", "12 34", &"1".repeat(33)] {
            let mut p = person("x");
            p.card = bad.to_string();
            let err = store.upsert_person(&p, &[]).unwrap_err().to_string();
            assert!(err.contains("person x") && err.contains("card"), "{err}");
            assert_eq!(store.person("x").unwrap(), None, "{bad:?}: nothing saved");
        }
        let mut p = person("x");
        p.card = "1".repeat(32);
        store.upsert_person(&p, &[]).unwrap();
        assert!(store.person_by_card(&CardNumber::parse(&"1".repeat(32)).unwrap()).unwrap().is_some());
    }

    #[test]
    fn lookups_use_indexes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        for (sql, index) in [
            (select_person!("WHERE card_key = ?1 AND card_key <> '' ORDER BY id LIMIT 1"), "persons_card_key"),
            (select_person!("WHERE password = ?1 AND password <> '' ORDER BY id LIMIT 1"), "persons_password"),
            (select_person!("WHERE id_number = ?1"), "sqlite_autoindex_persons_1"),
        ] {
            let plan: Vec<String> = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(["x"], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(plan.iter().any(|l| l.contains(index)), "{sql}: {plan:?}");
        }
    }

    #[test]
    fn ten_thousand_persons_page_without_duplicates() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let batch: Vec<(Person, Vec<PersonPhoto>)> =
            (0..10_000).map(|i| (person(&format!("P{i:05}")), Vec::new())).collect();
        for chunk in batch.chunks(2_500) {
            store.upsert_persons(chunk).unwrap();
        }
        assert_eq!(store.person_count().unwrap(), 10_000);
        let mut seen = HashSet::new();
        let mut after = 0;
        let mut pages = 0;
        loop {
            let page = store.persons_page(after, 333).unwrap();
            if page.is_empty() {
                break;
            }
            pages += 1;
            assert!(page.len() <= 333);
            for (key, p) in &page {
                assert!(*key > after);
                assert!(seen.insert(p.id_number.clone()), "duplicate {}", p.id_number);
            }
            after = page.last().unwrap().0;
            // A change made while paging must not disturb the walk.
            if pages == 5 {
                store.delete_person("P00000").unwrap();
                store.upsert_person(&person("P09999"), &[]).unwrap();
            }
        }
        assert_eq!(seen.len(), 10_000);
        assert_eq!(pages, 31);
    }
}

#[cfg(test)]
mod migration_tests {
    use rusqlite::Connection;

    use crate::model::CardNumber;
    use crate::store::{DB_FILE, Store, schema};

    #[test]
    fn a_version_2_store_gets_its_cards_keyed_by_value() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let mut c = Connection::open(tmp.path().join(DB_FILE)).unwrap();
            let tx = c.transaction().unwrap();
            schema::apply(&tx, 1).unwrap();
            schema::apply(&tx, 2).unwrap();
            tx.pragma_update(None, "user_version", 2).unwrap();
            let row = "INSERT INTO persons (id_number, name, card, password, priority, valid_start, valid_end,
                pass_time1, pass_time2, pass_time3, pass_time4, pass_time5, pass_time6, pass_time7, extra)
                VALUES (?1, 'n', ?2, '', 0, '', '', '', '', '', '', '', '', '', '{}')";
            // As version 2 stored them: exact text, leading zeros and all, and one that is no
            // card number.
            for (id, card) in [("zeros", "0012345"), ("plain", "777"), ("bad", "12 34"), ("none", "")] {
                tx.execute(row, [id, card]).unwrap();
            }
            tx.commit().unwrap();
        }
        let store = Store::open(tmp.path()).unwrap();
        let by = |n: &str| store.person_by_card(&CardNumber::parse(n).unwrap()).unwrap().map(|p| p.id_number);
        assert_eq!(by("12345").as_deref(), Some("zeros"));
        assert_eq!(by("0012345").as_deref(), Some("zeros"));
        assert_eq!(by("123450"), None);
        assert_eq!(by("00777").as_deref(), Some("plain"));
        assert_eq!(by("1234"), None, "a stored text that is no number matches nothing");
        assert_eq!(store.person("bad").unwrap().unwrap().card, "12 34", "kept, not deleted");
        assert_eq!(by("0"), None);
    }
}
