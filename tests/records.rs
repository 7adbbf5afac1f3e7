//! From credential to door to cloud: the real daemon on the sim board against the mock cloud.
//!
//! Each test starts its own mock cloud and `facegate run`, presents credentials through the
//! control socket (as a reader thread or the vendor's recognizer would) or the CLI, and checks
//! the three places a pass leaves a trace: the relay line in the sim actuator log, the record
//! on the wire (`face/record`), and the store as `facegate records` shows it.
//!
//! "Must not happen" checks wait for a later event on the same sequential path instead of
//! sleeping: the uploader sends one record at a time, so once a later record reached the
//! cloud, everything about the earlier one has been decided.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use chrono::Timelike;
use common::{DEADLINE, Daemon, Misbehaviour, MockCloud, RecordReply, fast_cloud, wait_ready};
use facegate::cloud::uploader::DELIVERY_BATCH;
use facegate::ctl::{self, Request, Response};
use facegate::model::{Person, Priority};
use facegate::store::Store;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Presents a credential through the control socket; panics unless the daemon handled it.
fn present(d: &Daemon, req: Request) -> Response {
    let r = ctl::request(&d.socket_path(), &req, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{req:?}: {e}\n{}", d.log_tail(40)));
    assert!(r.ok, "{req:?} failed: {}\n{}", r.error, d.log_tail(40));
    r
}

fn card(d: &Daemon, number: &str) -> Response {
    present(d, Request::Card { number: number.to_string() })
}

fn face(d: &Daemon, id: &str) -> Response {
    present(d, Request::Face { id_number: id.to_string(), score: Some(0.93), photo_b64: Some(tiny_jpeg_b64()) })
}

/// Whether the daemon currently believes the cloud is unreachable.
fn daemon_offline(d: &Daemon) -> bool {
    ctl::request(&d.socket_path(), &Request::Status, Duration::from_secs(5))
        .map(|r| r.data["cloud"] == "offline")
        .unwrap_or(false)
}

/// Pauses the cloud and waits until the daemon noticed (records are then made "offline").
fn go_offline(d: &Daemon, cloud: &MockCloud) {
    cloud.pause();
    assert!(d.wait_until(DEADLINE, daemon_offline), "the daemon never noticed the cloud was gone\n{}", d.log_tail(40));
}

/// Waits until the uploader failed twice more: the second failure began after everything made
/// before this call, and a failure makes every record stored so far backlog (drained oldest
/// first). The first may have been under way already.
fn wait_two_more_upload_failures(d: &Daemon) {
    let failures = |d: &Daemon| d.log_text().matches(" not delivered (").count();
    let before = failures(d);
    assert!(d.wait_until(DEADLINE, |d| failures(d) >= before + 2), "the uploader stopped trying\n{}", d.log_tail(40));
}

/// Asserts two msgID sequences are equal, showing where they part.
fn assert_same_order(got: &[String], expected: &[String], what: &str) {
    if let Some(i) = (0..got.len().max(expected.len())).find(|&i| got.get(i) != expected.get(i)) {
        let window = |v: &[String]| v[i.saturating_sub(3)..(i + 4).min(v.len())].to_vec();
        panic!(
            "{what}: first difference at upload #{i} of {} (expected {})\n got {:?}\nwant {:?}",
            got.len(),
            expected.len(),
            window(got),
            window(expected)
        );
    }
}

/// How many times the relay was switched to `state` ("open" or "closed").
fn relay_count(d: &Daemon, state: &str) -> usize {
    d.actuator_log().iter().filter(|v| v["kind"] == "relay" && v["state"] == state).count()
}

fn wait_relay(d: &Daemon, state: &str, n: usize) {
    assert!(
        d.wait_until(DEADLINE, |d| relay_count(d, state) >= n),
        "relay {state} {} times, expected {n}\n{:#?}\n{}",
        relay_count(d, state),
        d.actuator_log(),
        d.log_tail(40)
    );
}

/// The msgIDs of every uploadRecord the cloud received, in arrival order (re-sends included).
fn uploaded_ids(cloud: &MockCloud) -> Vec<String> {
    cloud.records().iter().map(|r| text(r, "msgID")).collect()
}

/// The first upload of record `msg_id`, waiting for it.
fn wait_record(cloud: &MockCloud, d: &Daemon, msg_id: &str) -> Value {
    assert!(
        cloud.wait_until(DEADLINE, |c| uploaded_ids(c).iter().any(|id| id == msg_id)),
        "record {msg_id} never reached the cloud\n{}\n{}",
        cloud.dump(),
        d.log_tail(40)
    );
    cloud.records().into_iter().find(|r| text(r, "msgID") == msg_id).expect("just seen")
}

fn wait_all_uploaded(cloud: &MockCloud, d: &Daemon, ids: &[String]) {
    wait_all_uploaded_within(cloud, d, ids, DEADLINE);
}

/// Like [`wait_all_uploaded`] with a deadline for long backlogs on a busy machine.
fn wait_all_uploaded_within(cloud: &MockCloud, d: &Daemon, ids: &[String], deadline: Duration) {
    let ok = cloud.wait_until(deadline, |c| {
        let seen: HashSet<String> = uploaded_ids(c).into_iter().collect();
        ids.iter().all(|id| seen.contains(id))
    });
    if !ok {
        let seen: HashSet<String> = uploaded_ids(cloud).into_iter().collect();
        let missing: Vec<&String> = ids.iter().filter(|id| !seen.contains(*id)).collect();
        panic!("{} of {} records never reached the cloud: {missing:?}\n{}", missing.len(), ids.len(), d.log_tail(40));
    }
}

/// A string field of a JSON body ("" when absent).
fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Runs a `facegate` subcommand and returns its stdout; panics when it fails.
fn cli(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(
        out.status.success(),
        "facegate {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `facegate records count`: "N kept, N pending, N evicted".
fn records_count(d: &Daemon) -> String {
    cli(d, &["records", "count"]).trim().to_string()
}

/// The msgIDs in `facegate records list [--pending]`, newest first, with their state column.
fn records_list(d: &Daemon, pending_only: bool) -> Vec<(String, String)> {
    let mut args = vec!["records", "list", "--limit", "10000"];
    if pending_only {
        args.push("--pending");
    }
    cli(d, &args)
        .lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // msgID, date, time, state, ...
            (cols[0].to_string(), cols[3].to_string())
        })
        .collect()
}

/// A small grey JPEG, so persons have a real registration photo.
fn tiny_jpeg() -> Vec<u8> {
    let mut out = Vec::new();
    let pixels = vec![128u8; 16 * 16 * 3];
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, 16, 16, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a constant image cannot fail");
    out
}

fn tiny_jpeg_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(tiny_jpeg())
}

/// A person object of person/operate (add), with a photo; `extra` overrides or adds fields.
fn person_info(id: &str, name: &str, card: &str, priority: &str, extra: Value) -> Value {
    let mut p = json!({
        "operateType": "0",
        "idNumber": id,
        "name": name,
        "normalNumber": card,
        "validDateStart": "2020_01_01",
        "validDateEnd": "2099_12_31",
        "priority": priority,
        "registerPhoto1": tiny_jpeg_b64(),
        "registerPhotoID1": "1",
    });
    if let (Value::Object(p), Value::Object(extra)) = (&mut p, extra) {
        p.extend(extra);
    }
    p
}

/// Queues one person/operate command per person and waits until every one was answered 100.
fn sync_persons(cloud: &MockCloud, d: &Daemon, persons: Vec<Value>) {
    let ids: Vec<String> = persons
        .into_iter()
        .map(|p| {
            cloud.push_command(
                "/person/operate",
                json!({"isRegisterPersonInfo": "1", "personInfoCount": "1", "personInfoData": [p]}),
            )
        })
        .collect();
    for id in ids {
        assert!(
            cloud.wait_until(DEADLINE, |c| !c.results_for(&id).is_empty()),
            "person command {id} never answered\n{}\n{}",
            cloud.dump(),
            d.log_tail(40)
        );
        let result = cloud.results_for(&id).remove(0);
        assert_eq!(text(&result, "errorCode"), "100", "person command {id}: {result}");
    }
}

/// An hour of the device's local day (UTC+8, the default time zone) twelve hours from now, so
/// a pass window of that hour surely excludes the present.
fn hour_far_from_now() -> u32 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let local = chrono::DateTime::from_timestamp_millis(now + 8 * 3_600_000).unwrap().naive_utc();
    (local.hour() + 12) % 24
}

/// A record's passTime ("2019-11-08 13:05:51.421") as face/get's 17-digit time.
fn snap_time(pass_time: &str) -> String {
    let digits: String = pass_time.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 17, "passTime {pass_time:?}");
    digits
}

/// Whether a Linux process is gone (a zombie counts: it runs no more code).
fn process_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

// ---------------------------------------------------------------------------------------------
// The pass itself

/// A registered card in card-or-face mode: the CLI says the door opened and names the record,
/// the relay opens in the actuator log, and the record reaches the cloud under that msgID with
/// the person, the card and the comparison photo.
#[test]
fn card_opens_relay_and_record_reaches_cloud() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(&cloud.url(), "[params]\nfaceRFIDCardEnable = \"1\"\n");
    wait_ready(&d, &cloud);
    sync_persons(&cloud, &d, vec![person_info("1001", "张三", "8899", "2", json!({"phone": "18868681819"}))]);
    // Door::new releases the relay once at start.
    wait_relay(&d, "closed", 1);
    assert_eq!(relay_count(&d, "open"), 0);

    let before_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let said = cli(&d, &["card", "8899"]);
    let (door, rest) = said.trim().split_once("; ").expect("door; record; detail");
    assert_eq!(door, "door opened", "{said}");
    let msg_id = rest.strip_prefix("record ").and_then(|r| r.split(';').next()).expect("a record msgID").to_string();
    assert!(msg_id.parse::<u64>().is_ok(), "{said}");

    wait_relay(&d, "open", 1);
    let opened = d.actuator_log().into_iter().find(|v| v["kind"] == "relay" && v["state"] == "open").unwrap();
    assert!(opened["t"].as_i64().unwrap() >= before_ms, "{opened}");

    let rec = wait_record(&cloud, &d, &msg_id);
    assert_eq!(text(&rec, "msgType"), "uploadRecord");
    assert_eq!(text(&rec, "deviceNo"), common::DEVICE_NO);
    assert_eq!(text(&rec, "version"), "V1.0");
    assert_eq!(text(&rec, "snapType"), "4", "registered IC card: {rec}");
    assert_eq!(text(&rec, "compareResult"), "0");
    assert_eq!(text(&rec, "idNumber"), "1001");
    assert_eq!(text(&rec, "name"), "张三");
    assert_eq!(text(&rec, "phone"), "18868681819");
    assert_eq!(text(&rec, "normalNumber"), "8899");
    assert_eq!(text(&rec, "validDateStart"), "2020_01_01");
    assert_eq!(text(&rec, "validDateEnd"), "2099_12_31");
    assert_eq!(text(&rec, "offLineRecordNum"), "0");
    assert_eq!(snap_time(&text(&rec, "passTime")).len(), 17);
    let compare = base64::engine::general_purpose::STANDARD.decode(text(&rec, "comparePhoto")).expect("base64");
    assert_eq!(compare, tiny_jpeg(), "comparePhoto is the registration photo");
    // Every value on the wire is a string (the spec: no numbers, no null).
    for (k, v) in rec.as_object().unwrap() {
        assert!(v.is_string(), "{k} is {v}");
    }

    // The door closes again by itself, and the store shows the record delivered.
    wait_relay(&d, "closed", 2);
    assert!(d.wait_until(DEADLINE, |d| records_count(d) == "1 kept, 0 pending, 0 evicted"), "{}", records_count(&d));
    assert_eq!(records_list(&d, false), vec![(msg_id.clone(), "delivered".to_string())]);
    assert!(records_list(&d, true).is_empty());
    assert_eq!(uploaded_ids(&cloud), vec![msg_id], "one upload, no re-send");
    d.stop();
}

/// The dimensions of a Base64 JPEG on the wire.
fn jpeg_size(b64: &str) -> (u16, u16) {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("recognitionPhoto is Base64");
    let mut decoder = jpeg_decoder::Decoder::new(bytes.as_slice());
    decoder.read_info().expect("recognitionPhoto is a JPEG");
    let info = decoder.info().unwrap();
    (info.width, info.height)
}

/// A card carries no photo, so its record gets a camera frame per jpegEncodeSizeMode — taken
/// after the relay opened (the camera never delays the door), and before the record is sent.
#[test]
fn card_records_carry_a_camera_snapshot_per_jpeg_encode_size_mode() {
    // The sim camera's frame is 640x480; "small" fits it in 480 pixels by an integer factor.
    for (mode, size) in [("1", Some((320, 240))), ("2", Some((640, 480))), ("0", None)] {
        let cloud = fast_cloud();
        let mut d = Daemon::start(
            &cloud.url(),
            &format!("[params]\nfaceRFIDCardEnable = \"1\"\njpegEncodeSizeMode = \"{mode}\"\n"),
        );
        wait_ready(&d, &cloud);
        sync_persons(&cloud, &d, vec![person_info("1001", "张三", "8899", "2", json!({}))]);
        let msg_id = card(&d, "8899").msg_id;
        let rec = wait_record(&cloud, &d, &msg_id);
        let photo = text(&rec, "recognitionPhoto");
        let log = d.actuator_log();
        let snaps: Vec<_> = log.iter().filter(|v| v["kind"] == "snap").collect();
        match size {
            Some(size) => {
                assert_eq!(jpeg_size(&photo), size, "mode {mode}");
                assert_eq!(snaps.len(), 1, "one snapshot for mode {mode}: {log:?}");
                let opened = log.iter().find(|v| v["kind"] == "relay" && v["state"] == "open").expect("door opened");
                assert!(snaps[0]["t"].as_i64() >= opened["t"].as_i64(), "snapshot before the door: {log:?}");
            }
            None => {
                assert_eq!(photo, "", "mode 0 sends no image");
                assert!(snaps.is_empty(), "mode 0 takes no snapshot: {log:?}");
            }
        }
        assert_eq!(uploaded_ids(&cloud), vec![msg_id], "sent once, with its photo");
        d.stop();
    }
}

/// Readers and clouds disagree on leading zeros; the decision engine compares numeric cards by
/// value (`access::card_matches`), so a reader's "00008899" must find the card "8899".
#[test]
fn card_read_with_leading_zeros_finds_its_holder() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(&cloud.url(), "[params]\nfaceRFIDCardEnable = \"1\"\n");
    wait_ready(&d, &cloud);
    sync_persons(&cloud, &d, vec![person_info("1001", "张三", "8899", "2", json!({}))]);
    let r = card(&d, "00008899");
    assert!(r.open, "{r:?}");
    let rec = wait_record(&cloud, &d, &r.msg_id);
    assert_eq!((text(&rec, "snapType"), text(&rec, "idNumber")), ("4".into(), "1001".into()));
    d.stop();
}

/// Face authentication (the spec's default) and every refusal: each denied presentation keeps
/// the door shut and is recorded with the spec's snapType and compareResult; a card alone is
/// not recorded and waits for its holder's face, which then opens (snapType 2).
#[test]
fn each_deny_reason_is_recorded_with_its_compare_result() {
    let cloud = fast_cloud();
    let far = hour_far_from_now();
    let device_window = format!("{far:02}:00-{far:02}:59");
    let person_window = format!("{far:02}_00,{far:02}_59");
    let mut d = Daemon::prepare(|dir| {
        let mut c = common::ConfigBuilder::new(&cloud.url(), dir);
        c.set("params", "passTime", device_window.as_str()).set("params", "recogIntervalTime", "0");
        c.render()
    });
    // Two persons the cloud could no longer send (person/operate validates dates and windows)
    // but an older database may hold: refused rather than guessed.
    {
        let mut store = Store::open(d.dir()).unwrap();
        let base = Person {
            priority: Priority::AnyTime,
            valid_start: "2020_01_01".into(),
            valid_end: "2099_12_31".into(),
            ..Person::default()
        };
        let bad_date = Person {
            id_number: "MV".into(),
            name: "bad date".into(),
            card: "1005".into(),
            valid_end: "2099-13-45".into(),
            ..base.clone()
        };
        let mut bad_window = Person {
            id_number: "MP".into(),
            name: "bad window".into(),
            card: "1006".into(),
            priority: Priority::Windowed,
            ..base
        };
        bad_window.pass_times = std::array::from_fn(|_| "25_00".to_string());
        store.upsert_persons(&[(bad_date, Vec::new()), (bad_window, Vec::new())]).unwrap();
    }
    d.spawn();
    wait_ready(&d, &cloud);
    let windows: serde_json::Map<String, Value> =
        (1..=7).map(|i| (format!("passTime{i}"), Value::from(person_window.clone()))).collect();
    sync_persons(
        &cloud,
        &d,
        vec![
            person_info("B1", "black", "1001", "1", json!({})),
            person_info(
                "E1",
                "expired",
                "1002",
                "2",
                json!({"validDateStart": "2020_01_01", "validDateEnd": "2020_12_31"}),
            ),
            person_info("W1", "windowed", "1003", "0", Value::Object(windows)),
            person_info("D1", "device window", "1004", "0", json!({})),
            person_info("V1", "holder", "1007", "2", json!({"password": "4321"})),
            person_info("P2", "other", "", "2", json!({})),
        ],
    );

    // (what, response, snapType, compareResult, detail)
    let stranger = Request::Stranger { photo_b64: Some(tiny_jpeg_b64()) };
    let mut denied: Vec<(&str, Response, &str, &str, &str)> = vec![
        ("blacklisted card", card(&d, "1001"), "4", "4", "blacklisted"),
        ("expired card", card(&d, "1002"), "4", "3", "outside the validity dates"),
        ("card outside the person's windows", card(&d, "1003"), "4", "2", "outside the person's pass times"),
        ("card outside the device's windows", card(&d, "1004"), "4", "2", "outside the device's pass times"),
        ("unreadable validity", card(&d, "1005"), "4", "3", "validity date unreadable"),
        ("unreadable pass times", card(&d, "1006"), "4", "2", "passTime1..7 unreadable"),
        ("unknown card", card(&d, "999999"), "5", "1", "unknown card"),
        ("stranger", present(&d, stranger), "3", "1", "stranger"),
        ("face of nobody registered", face(&d, "ghost"), "3", "1", "not registered"),
        ("wrong password", present(&d, Request::Password { password: "0000".into() }), "14", "1", "wrong password"),
        ("blacklisted face", face(&d, "B1"), "0", "4", "blacklisted"),
    ];
    // Face authentication: a good card alone waits for its holder's face, without a record.
    let waiting = card(&d, "1007");
    assert!(!waiting.open && waiting.msg_id.is_empty(), "{waiting:?}");
    assert!(waiting.detail.contains("waiting for the holder's face"), "{waiting:?}");
    denied.push(("face of another person after a card", face(&d, "P2"), "2", "1", "not the holder of the card"));

    for (what, r, _, _, detail) in &denied {
        assert!(!r.open, "{what} opened the door: {r:?}");
        assert!(!r.msg_id.is_empty(), "{what} made no record: {r:?}");
        assert!(r.detail.contains(detail), "{what}: {r:?}");
    }
    // Now the good pair: the holder's card, then the holder's face.
    let waiting = card(&d, "1007");
    assert!(waiting.msg_id.is_empty(), "{waiting:?}");
    let good = face(&d, "V1");
    assert!(good.open && !good.msg_id.is_empty(), "{good:?}");
    wait_relay(&d, "open", 1);

    let mut ids: Vec<String> = denied.iter().map(|x| x.1.msg_id.clone()).collect();
    ids.push(good.msg_id.clone());
    wait_all_uploaded(&cloud, &d, &ids);
    let by_id: HashMap<String, Value> = cloud.records().into_iter().map(|r| (text(&r, "msgID"), r)).collect();
    for (what, r, snap, compare, _) in &denied {
        let rec = &by_id[&r.msg_id];
        assert_eq!((text(rec, "snapType").as_str(), text(rec, "compareResult").as_str()), (*snap, *compare), "{what}");
    }
    let rec = &by_id[&good.msg_id];
    assert_eq!(text(rec, "snapType"), "2", "card then face: {rec}");
    assert_eq!(text(rec, "compareResult"), "0");
    assert_eq!(text(rec, "normalNumber"), "1007");
    assert_eq!(text(rec, "idNumber"), "V1");
    assert!(!text(rec, "recognitionPhoto").is_empty(), "the recognizer's snapshot is sent");
    // A typed password never travels.
    let pw = &by_id[&denied[9].1.msg_id];
    assert!(pw.as_object().unwrap().values().all(|v| v != "0000"), "{pw}");
    // Exactly one opening: the good pair. Every refusal happened before it.
    assert_eq!(relay_count(&d, "open"), 1, "{:#?}", d.actuator_log());
    assert_eq!(ids.len(), 13);
    d.stop();
}

/// Visitors (priority 3) and QR codes are the cloud's call: the door waits for the record's
/// controlState "open", stays shut on "close", and stays shut when "open" comes after
/// `[cloud] control_wait_ms`.
#[test]
fn visitor_and_qr_wait_for_control_state() {
    let cloud = fast_cloud();
    let wait_ms: u64 = 2_000;
    let mut d = Daemon::start(
        &cloud.url(),
        &format!(
            "[cloud]\ncontrol_wait_ms = {wait_ms}\n[params]\nfaceRFIDCardEnable = \"1\"\n\
             recogIntervalTime = \"0\"\nopenDoorTimeDelayMs = \"100\"\n"
        ),
    );
    wait_ready(&d, &cloud);
    sync_persons(&cloud, &d, vec![person_info("VIS1", "visitor", "3001", "3", json!({}))]);
    wait_relay(&d, "closed", 1);

    // "open": the door opens once the answer is in, and the cloud's msg is announced.
    cloud.set_record_reply(RecordReply::control("open", "条件符合,开启道闸"));
    let r = card(&d, "3001");
    assert!(!r.open && !r.msg_id.is_empty(), "{r:?}");
    assert!(r.detail.contains("waiting for the cloud's controlState"), "{r:?}");
    wait_relay(&d, "open", 1);
    let rec = wait_record(&cloud, &d, &r.msg_id);
    assert_eq!((text(&rec, "snapType"), text(&rec, "compareResult")), ("4".into(), "0".into()));
    assert!(
        d.actuator_log().iter().any(|v| v["kind"] == "announce" && v["voice"] == "条件符合,开启道闸"),
        "{:#?}",
        d.actuator_log()
    );
    wait_relay(&d, "closed", 2);

    let qr = present(&d, Request::Qr { data: "visitor-pass-42".into() });
    assert!(!qr.open && !qr.msg_id.is_empty(), "{qr:?}");
    wait_relay(&d, "open", 2);
    let rec = wait_record(&cloud, &d, &qr.msg_id);
    assert_eq!(text(&rec, "snapType"), "8", "QR pass-through: {rec}");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(text(&rec, "data")).unwrap(), b"visitor-pass-42");
    wait_relay(&d, "closed", 3);

    // "close": nothing opens. The unknown card after it proves the answer was handled.
    cloud.set_record_reply(RecordReply::control("close", "请稍候"));
    let shut = card(&d, "3001");
    let later = card(&d, "777");
    wait_record(&cloud, &d, &shut.msg_id);
    wait_record(&cloud, &d, &later.msg_id);
    assert_eq!(relay_count(&d, "open"), 2, "controlState close opened the door");

    // "open", but later than control_wait_ms: the door no longer waits.
    cloud.set_record_reply(RecordReply::control("open", "too late"));
    cloud.misbehave(Some("/face/record"), Misbehaviour::Delay(Duration::from_millis(wait_ms + 1_500)), 1);
    let late = card(&d, "3001");
    assert!(!late.open, "{late:?}");
    wait_record(&cloud, &d, &late.msg_id);
    assert!(
        d.wait_until(DEADLINE, |d| d
            .log_text()
            .contains(&format!("open for record {} after the wait ran out", late.msg_id))),
        "{}",
        d.log_tail(40)
    );
    cloud.set_record_reply(RecordReply::Echo);
    let after = card(&d, "778");
    wait_record(&cloud, &d, &after.msg_id);
    assert_eq!(relay_count(&d, "open"), 2, "a late controlState opened the door");
    let told: Vec<Value> = d.actuator_log().into_iter().filter(|v| v["kind"] == "announce").collect();
    assert!(!told.iter().any(|v| v["voice"] == "too late"), "a late answer was announced: {told:#?}");
    assert!(told.iter().any(|v| v["voice"] == "请稍候"), "controlState close with a msg is announced: {told:#?}");
    d.stop();
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// An answer with another msgID does not acknowledge the record: it is sent again, unchanged,
/// under the same msgID, until the cloud echoes it.
#[test]
fn wrong_msg_id_is_resent_with_the_same_msg_id() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(&cloud.url(), "");
    wait_ready(&d, &cloud);
    cloud.set_record_reply(RecordReply::WrongMsgId { times: 3 });
    let r = card(&d, "424242");
    assert!(cloud.wait_until(DEADLINE, |c| c.records().len() >= 4), "{}\n{}", cloud.dump(), d.log_tail(40));
    assert!(d.wait_until(DEADLINE, |d| records_count(d) == "1 kept, 0 pending, 0 evicted"), "{}", records_count(&d));
    let sent = cloud.records();
    assert_eq!(sent.len(), 4, "three wrong echoes, then one right: {}", cloud.dump());
    for s in &sent {
        assert_eq!(text(s, "msgID"), r.msg_id);
        assert_eq!(s, &sent[0], "a re-send is the same message");
    }
    assert!(d.log_text().contains(&format!("expected {}", r.msg_id)), "{}", d.log_tail(40));
    d.stop();
}

/// 1,000 records made while the cloud is down all reach it after the reconnect, each under the
/// msgID it was given when made, the backlog oldest first with offLineRecordNum counting down;
/// a live record made during the drain goes before the rest of the backlog.
#[test]
fn offline_backlog_of_1000_drains_oldest_first_after_reconnect() {
    const N: usize = 1_000;
    const LIVE_AFTER: usize = 100;
    let cloud = fast_cloud();
    let mut d = Daemon::start(&cloud.url(), "");
    wait_ready(&d, &cloud);
    go_offline(&d, &cloud);

    let made: Vec<String> = (0..N)
        .map(|i| {
            let r = card(&d, &format!("{}", 500_000 + i));
            assert!(!r.msg_id.is_empty() && !r.open, "{r:?}");
            r.msg_id
        })
        .collect();
    assert_eq!(records_count(&d), format!("{N} kept, {N} pending, 0 evicted"));
    let unique: HashSet<&String> = made.iter().collect();
    assert_eq!(unique.len(), N, "msgIDs are unique");
    wait_two_more_upload_failures(&d);

    // While the (LIVE_AFTER+1)-th backlog record waits for its answer, a card is presented.
    let live_id = Arc::new(Mutex::new(String::new()));
    {
        let socket = d.socket_path();
        let live_id = live_id.clone();
        let seen = Mutex::new(HashSet::new());
        let fired = AtomicBool::new(false);
        cloud.on_request(move |req| {
            if req.path != "/face/record" {
                return;
            }
            let mut seen = seen.lock().unwrap();
            seen.insert(req.field("msgID").unwrap_or_default());
            if seen.len() == LIVE_AFTER + 1 && !fired.swap(true, Ordering::SeqCst) {
                let r = ctl::request(&socket, &Request::Card { number: "999001".into() }, Duration::from_secs(30))
                    .expect("live card");
                *live_id.lock().unwrap() = r.msg_id;
            }
        });
    }
    cloud.resume();
    wait_all_uploaded_within(&cloud, &d, &made, 5 * DEADLINE);
    let live = live_id.lock().unwrap().clone();
    assert!(!live.is_empty(), "the live card was never presented");
    wait_all_uploaded(&cloud, &d, std::slice::from_ref(&live));
    assert!(
        d.wait_until(DEADLINE, |d| records_count(d) == format!("{} kept, 0 pending, 0 evicted", N + 1)),
        "{}",
        records_count(&d)
    );

    let sent = cloud.records();
    let ids: Vec<String> = sent.iter().map(|r| text(r, "msgID")).collect();
    let mut expected = made.clone();
    expected.insert(LIVE_AFTER + 1, live.clone());
    assert_same_order(&ids, &expected, "backlog oldest first, the live record right after the one in flight");
    // offLineRecordNum: the records still waiting besides this one.
    for (k, r) in sent.iter().enumerate() {
        let made_so_far = N + usize::from(k > LIVE_AFTER);
        let waiting = made_so_far - k - 1;
        assert_eq!(text(r, "offLineRecordNum"), waiting.to_string(), "upload #{k} ({})", ids[k]);
    }
    d.stop();
}

/// kill -9 while the cloud holds the answer to a backlog record: after the restart every
/// record arrives, none under a new msgID; sent twice are only the record in flight and the
/// few acknowledged before it whose delivery marks were not committed yet.
#[test]
fn kill9_in_the_middle_of_a_backlog_loses_nothing() {
    const N: usize = 300;
    const KILL_AT: usize = 50;
    let cloud = fast_cloud();
    let mut d = Daemon::start(&cloud.url(), "");
    wait_ready(&d, &cloud);
    go_offline(&d, &cloud);
    let made: Vec<String> = (0..N).map(|i| card(&d, &format!("{}", 600_000 + i)).msg_id).collect();
    wait_two_more_upload_failures(&d);

    let pid = d.pid().expect("running");
    let in_flight = Arc::new(Mutex::new(String::new()));
    {
        let in_flight = in_flight.clone();
        let seen = Mutex::new(HashSet::new());
        let fired = AtomicBool::new(false);
        cloud.on_request(move |req| {
            if req.path != "/face/record" {
                return;
            }
            let mut seen = seen.lock().unwrap();
            seen.insert(req.field("msgID").unwrap_or_default());
            if seen.len() == KILL_AT && !fired.swap(true, Ordering::SeqCst) {
                *in_flight.lock().unwrap() = req.field("msgID").unwrap_or_default();
                // SAFETY: kill(2) on the daemon's pid, which the test has not reaped yet.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
                // The answer is written only once the process is gone: the cloud has the
                // record, the device never hears so.
                let end = Instant::now() + DEADLINE;
                while !process_dead(pid) && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
    }
    cloud.resume();
    let end = Instant::now() + DEADLINE;
    while d.is_running() {
        assert!(Instant::now() < end, "the daemon survived kill -9");
        std::thread::sleep(Duration::from_millis(10));
    }
    let in_flight = in_flight.lock().unwrap().clone();
    assert_eq!(in_flight, made[KILL_AT - 1], "the backlog drains oldest first");
    let before_restart = cloud.records().len();
    assert_eq!(before_restart, KILL_AT);

    d.spawn();
    wait_all_uploaded_within(&cloud, &d, &made, 3 * DEADLINE);
    assert!(
        d.wait_until(DEADLINE, |d| records_count(d) == format!("{N} kept, 0 pending, 0 evicted")),
        "{}",
        records_count(&d)
    );
    let ids = uploaded_ids(&cloud);
    let known: HashSet<&String> = made.iter().collect();
    let strangers: Vec<&String> = ids.iter().filter(|id| !known.contains(id)).collect();
    assert!(strangers.is_empty(), "records under new msgIDs: {strangers:?}");
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in &ids {
        *counts.entry(id).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n <= 2), "a record went more than twice");
    // Sent again: the acknowledged records whose delivery marks were not committed yet, and
    // the one in flight; a contiguous run of the backlog, oldest first, right after the restart.
    let again: Vec<&String> = made.iter().filter(|id| counts[id] > 1).collect();
    assert!((1..=DELIVERY_BATCH).contains(&again.len()), "{} records sent again", again.len());
    assert_eq!(again.last(), Some(&&in_flight), "the run ends with the record in flight");
    let start = made.iter().position(|id| id == again[0]).unwrap();
    assert_eq!(again, made[start..start + again.len()].iter().collect::<Vec<_>>(), "a contiguous run");
    assert_eq!(ids[KILL_AT..KILL_AT + again.len()].iter().collect::<Vec<_>>(), again, "they go first");
    assert_eq!(ids.len(), N + again.len());
    d.stop();
}

/// recordService 0 in registerResp: records are kept but not sent until a registration turns
/// the service back on.
#[test]
fn record_service_off_keeps_records_until_it_is_on_again() {
    let cloud = MockCloud::start();
    let mut resp = MockCloud::fast_services();
    resp["recordService"] = "0".into();
    cloud.set_register_resp(resp);
    let mut d = Daemon::start(&cloud.url(), "");
    wait_ready(&d, &cloud);
    let made: Vec<String> = (0..3).map(|i| card(&d, &format!("{}", 700_000 + i)).msg_id).collect();
    // Three more heartbeats: the daemon had time to send, and did not.
    let beats = cloud.count("/device/heatbeat");
    assert!(cloud.wait_for_requests("/device/heatbeat", beats + 3, DEADLINE), "{}", cloud.dump());
    assert!(cloud.records().is_empty(), "uploaded with recordService 0: {}", cloud.dump());
    assert_eq!(records_count(&d), "3 kept, 3 pending, 0 evicted");

    // The cloud drops the device (heartbeat 200) and registers it again with records on.
    let registrations = cloud.count("/device/register");
    cloud.set_register_resp(MockCloud::fast_services());
    cloud.set_fixed_reply("/device/heatbeat", json!({"msgType": "keepAliveResp", "errorCode": "200"}));
    assert!(cloud.wait_for_requests("/device/register", registrations + 1, DEADLINE), "{}", cloud.dump());
    cloud.clear_fixed_reply("/device/heatbeat");
    wait_all_uploaded(&cloud, &d, &made);
    assert_same_order(&uploaded_ids(&cloud), &made, "records kept while the service was off go oldest first");
    d.stop();
}

/// cloudOfflineRetransmission 0: records made while the cloud is unreachable stay on the
/// device (held) and are never sent, while records made online still are.
#[test]
fn offline_retransmission_off_keeps_offline_records_unsent() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(&cloud.url(), "[params]\ncloudOfflineRetransmission = \"0\"\n");
    wait_ready(&d, &cloud);
    let online = card(&d, "800000").msg_id;
    wait_record(&cloud, &d, &online);
    go_offline(&d, &cloud);
    let held: Vec<String> = (1..=3).map(|i| card(&d, &format!("{}", 800_000 + i)).msg_id).collect();
    assert_eq!(records_count(&d), "4 kept, 0 pending, 0 evicted", "held records are not pending");
    let listed = records_list(&d, true);
    let expected: Vec<(String, String)> = held.iter().rev().map(|id| (id.clone(), "held".to_string())).collect();
    assert_eq!(listed, expected, "--pending lists the undelivered, newest first");

    cloud.resume();
    assert!(d.wait_until(DEADLINE, |d| !daemon_offline(d)), "{}", d.log_tail(40));
    let live1 = card(&d, "800010").msg_id;
    let live2 = card(&d, "800011").msg_id;
    wait_record(&cloud, &d, &live1);
    wait_record(&cloud, &d, &live2);
    assert_eq!(uploaded_ids(&cloud), vec![online, live1, live2], "held records were sent");
    assert_eq!(records_count(&d), "6 kept, 0 pending, 0 evicted");
    assert_eq!(records_list(&d, true).len(), 3);
    d.stop();
}

/// `[storage] max_records`: delivered records make room first, then the oldest undelivered
/// ones, counted in `facegate status` and the log; the evicted never reach the cloud.
#[test]
fn storage_cap_evicts_delivered_first_then_oldest_undelivered() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(&cloud.url(), "[storage]\nmax_records = 5\n");
    wait_ready(&d, &cloud);
    let delivered: Vec<String> = (0..3).map(|i| card(&d, &format!("{}", 900_000 + i)).msg_id).collect();
    wait_all_uploaded(&cloud, &d, &delivered);
    assert!(d.wait_until(DEADLINE, |d| records_count(d) == "3 kept, 0 pending, 0 evicted"));
    go_offline(&d, &cloud);

    // 5 undelivered push the 3 delivered out, without evicting anything undelivered.
    let pending: Vec<String> = (0..7).map(|i| card(&d, &format!("{}", 910_000 + i)).msg_id).collect();
    // Then two more undelivered than fit: the two oldest undelivered go.
    assert_eq!(records_count(&d), "5 kept, 5 pending, 2 evicted");
    let kept: Vec<String> = records_list(&d, false).into_iter().map(|(id, _)| id).collect();
    let expected: Vec<String> = pending[2..].iter().rev().cloned().collect();
    assert_eq!(kept, expected);
    let log = d.log_text();
    for kept in [5, 6] {
        let line = format!("storage cap reached: 1 undelivered record(s) dropped to keep record {}", pending[kept]);
        assert!(log.contains(&line), "missing log line {line:?}\n{}", d.log_tail(40));
    }
    let status = cli(&d, &["status"]);
    assert!(status.contains("2 undelivered records dropped (storage cap)"), "{status}");
    let json: Value = serde_json::from_str(&cli(&d, &["status", "--json"])).unwrap();
    assert_eq!(json["evicted_records"], 2);
    assert_eq!(json["pending_records"], 5);

    cloud.resume();
    wait_all_uploaded(&cloud, &d, &pending[2..]);
    assert!(d.wait_until(DEADLINE, |d| records_count(d) == "5 kept, 0 pending, 2 evicted"), "{}", records_count(&d));
    let ids: BTreeSet<String> = uploaded_ids(&cloud).into_iter().collect();
    assert!(!ids.contains(&pending[0]) && !ids.contains(&pending[1]), "an evicted record was sent");
    d.stop();
}

// ---------------------------------------------------------------------------------------------
// face/clear and face/get

/// The face/get items of command `msg_id`, in arrival order.
fn items_for(cloud: &MockCloud, msg_id: &str) -> Vec<Value> {
    cloud.stream_items("/face/get").into_iter().filter(|i| text(i, "msgID") == msg_id).collect()
}

/// Runs one face/get and returns its items once the last index was acknowledged.
fn get_records(cloud: &MockCloud, d: &Daemon, condition: Value, expect: usize) -> (String, Vec<Value>) {
    let mut cmd = json!({"isonlineGetRecord": "1"});
    if let (Value::Object(c), Value::Object(cond)) = (&mut cmd, condition) {
        c.extend(cond);
    }
    let msg_id = cloud.push_command("/face/get", cmd);
    let done = cloud.wait_until(DEADLINE, |c| {
        let items = items_for(c, &msg_id);
        let last = (expect as u64).saturating_sub(1).to_string();
        if expect == 0 {
            c.requests_to("/face/get").iter().any(|r| r.is_result() && r.field("msgID").as_deref() == Some(&msg_id))
        } else {
            items.iter().any(|i| text(i, "index") == last)
        }
    });
    assert!(done, "face/get {msg_id} did not finish\n{}\n{}", cloud.dump(), d.log_tail(40));
    (msg_id.clone(), items_for(cloud, &msg_id))
}

/// Checks the stream framing: recordNum, indexes 0..n-1 in order, one token.
fn check_stream(items: &[Value], n: usize) {
    assert_eq!(items.len(), n, "{items:#?}");
    let token = text(&items[0], "token");
    assert!(!token.is_empty());
    for (i, item) in items.iter().enumerate() {
        assert_eq!(text(item, "msgType"), "onlineGetRecordResp");
        assert_eq!(text(item, "recordNum"), n.to_string());
        assert_eq!(text(item, "index"), i.to_string());
        assert_eq!(text(item, "token"), token);
        assert_eq!(text(item, "errorCode"), "100");
    }
}

/// The passTimes of items, sorted, to compare with the records made.
fn pass_times(items: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = items.iter().map(|i| text(i, "passTime")).collect();
    t.sort();
    t
}

/// face/get by every condition (all, name, idNumber, time range, open-ended range, no match),
/// with recordNum, index and token, re-sending an item the cloud acknowledged with the wrong
/// index; face/clear deletes the delivered records and keeps the undelivered.
#[test]
fn clear_and_every_get_condition() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(&cloud.url(), "[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\n");
    wait_ready(&d, &cloud);
    sync_persons(
        &cloud,
        &d,
        vec![person_info("A1", "张三", "5001", "2", json!({})), person_info("B1", "李四", "5002", "2", json!({}))],
    );
    let plan = ["5001", "5002", "5001", "404", "5002", "5001", "405"];
    let made: Vec<String> = plan.iter().map(|c| card(&d, c).msg_id).collect();
    wait_all_uploaded(&cloud, &d, &made);
    let records: Vec<Value> = {
        let all = cloud.records();
        made.iter().map(|id| all.iter().find(|r| text(r, "msgID") == *id).unwrap().clone()).collect()
    };
    let times_of = |pick: &dyn Fn(usize, &Value) -> bool| -> Vec<String> {
        let mut t: Vec<String> =
            records.iter().enumerate().filter(|(i, r)| pick(*i, r)).map(|(_, r)| text(r, "passTime")).collect();
        t.sort();
        t
    };

    // Everything, with one item acknowledged with the wrong index: that item is sent again.
    cloud.wrong_index_once("/face/get", 2);
    let (all_id, all) = get_records(&cloud, &d, json!({}), 7);
    let resent: Vec<&Value> = all.iter().filter(|i| text(i, "index") == "2").collect();
    assert_eq!(resent.len(), 2, "index 2 sent again after the wrong acknowledgement");
    assert_eq!(resent[0], resent[1], "the same item, same token");
    let mut deduped = all.clone();
    deduped.dedup();
    check_stream(&deduped, 7);
    assert_eq!(pass_times(&deduped), times_of(&|_, _| true));
    for item in &deduped {
        // Two records may share a millisecond; consecutive ones never share a card.
        let same = |r: &&Value| ["passTime", "normalNumber"].iter().all(|k| text(r, k) == text(item, k));
        let rec = records.iter().find(same).unwrap_or_else(|| panic!("no record like {item}"));
        for key in ["snapType", "compareResult", "idNumber", "name", "normalNumber", "comparePhoto"] {
            assert_eq!(text(item, key), text(rec, key), "{key} of item {}", text(item, "index"));
        }
    }
    assert!(cloud.results_for(&all_id).iter().all(|r| text(r, "msgType") == "onlineGetRecordResp"));

    let (_, by_name) = get_records(&cloud, &d, json!({"name": "张三"}), 3);
    check_stream(&by_name, 3);
    assert_eq!(pass_times(&by_name), times_of(&|_, r| text(r, "name") == "张三"));

    let (_, by_id) = get_records(&cloud, &d, json!({"idNumber": "B1"}), 2);
    check_stream(&by_id, 2);
    assert_eq!(pass_times(&by_id), times_of(&|_, r| text(r, "idNumber") == "B1"));

    let start = snap_time(&text(&records[1], "passTime"));
    let end = snap_time(&text(&records[4], "passTime"));
    let in_range = times_of(&|_, r| {
        let t = snap_time(&text(r, "passTime"));
        t >= start && t <= end
    });
    let (_, by_time) = get_records(&cloud, &d, json!({"snapTimeStart": start, "snapTimeEnd": end}), in_range.len());
    check_stream(&by_time, in_range.len());
    assert_eq!(pass_times(&by_time), in_range);
    assert!(in_range.len() >= 4, "records 1..=4 at least: {in_range:?}");

    // snapTimeEnd "" means up to now.
    let from = snap_time(&text(&records[5], "passTime"));
    let tail = times_of(&|_, r| snap_time(&text(r, "passTime")) >= from);
    let (_, open_ended) = get_records(&cloud, &d, json!({"snapTimeStart": from, "snapTimeEnd": ""}), tail.len());
    check_stream(&open_ended, tail.len());
    assert_eq!(pass_times(&open_ended), tail);

    // No match (spec 2.3.4): one message with recordNum "0" and a token, so the cloud can tell
    // "nothing matched" from a broken answer.
    let (none_id, none) = get_records(&cloud, &d, json!({"name": "nobody"}), 0);
    assert_eq!(none.len(), 1, "{none:?}");
    let result = cloud.results_for(&none_id).remove(0);
    assert_eq!(text(&result, "errorCode"), "100", "{result}");
    assert_eq!(text(&result, "recordNum"), "0", "{result}");
    assert_eq!(text(&result, "msgType"), "onlineGetRecordResp", "{result}");
    assert!(!text(&result, "token").is_empty(), "{result}");

    // Two records the cloud refuses to take: face/clear must keep them.
    cloud.set_record_reply(RecordReply::Status(500));
    for c in ["5001", "5002"] {
        card(&d, c);
    }
    assert_eq!(records_count(&d), "9 kept, 2 pending, 0 evicted");
    let clear_id = cloud.push_command("/face/clear", json!({"isonlineDeleteRecord": "1"}));
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&clear_id).is_empty()), "{}", cloud.dump());
    let result = cloud.results_for(&clear_id).remove(0);
    assert_eq!(text(&result, "msgType"), "onlineDeleteSnapRecordResp");
    assert_eq!(text(&result, "errorCode"), "100");
    assert!(text(&result, "msg").contains("7 cleared, 2 undelivered kept"), "{result}");
    assert_eq!(records_count(&d), "2 kept, 2 pending, 0 evicted");
    let (_, left) = get_records(&cloud, &d, json!({}), 2);
    check_stream(&left, 2);

    cloud.set_record_reply(RecordReply::Echo);
    assert!(d.wait_until(DEADLINE, |d| records_count(d) == "2 kept, 0 pending, 0 evicted"), "{}", records_count(&d));
    let clear_id = cloud.push_command("/face/clear", json!({"isonlineDeleteRecord": "1"}));
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&clear_id).is_empty()), "{}", cloud.dump());
    assert_eq!(records_count(&d), "0 kept, 0 pending, 0 evicted");
    d.stop();
}
