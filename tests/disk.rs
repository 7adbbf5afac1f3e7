//! A full disk never locks the door (issue 16): the real daemon on the sim board, its disk
//! made full without root — its file size limit lowered with `prlimit` (Linux then refuses any
//! write past that offset, as a full partition refuses new blocks), or its storage reserve set
//! above what the filesystem has free.
//!
//! The tests never set SIGXFSZ to ignored for the daemon: it must survive the signal itself.

mod common;

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use common::{DEADLINE, Daemon, MockCloud, fast_cloud, wait_ready};
use facegate::ctl::{self, Request, Response};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Presents a card through the control socket and returns the answer, whatever it says.
fn card(d: &Daemon, number: &str) -> Response {
    let req = Request::Card { number: number.to_string() };
    ctl::request(&d.socket_path(), &req, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{req:?}: {e}\n{}", d.log_tail(40)))
}

/// A valid card that must open and be recorded; its msgID.
fn recorded_card(d: &Daemon, number: &str) -> String {
    let r = card(d, number);
    assert!(r.ok && r.open && !r.msg_id.is_empty(), "{r:?}\n{}", d.log_tail(40));
    r.msg_id
}

fn relay_count(d: &Daemon, state: &str) -> usize {
    d.actuator_log().iter().filter(|v| v["kind"] == "relay" && v["state"] == state).count()
}

fn relay_opens(d: &Daemon) -> usize {
    relay_count(d, "open")
}

fn uploaded_ids(cloud: &MockCloud) -> HashSet<String> {
    cloud.records().iter().map(|r| r["msgID"].as_str().unwrap_or_default().to_string()).collect()
}

fn wait_all_uploaded(cloud: &MockCloud, d: &Daemon, ids: &[String]) {
    let ok = cloud.wait_until(DEADLINE, |c| {
        let seen = uploaded_ids(c);
        ids.iter().all(|id| seen.contains(id))
    });
    let seen = uploaded_ids(cloud);
    let missing: Vec<&String> = ids.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(ok, "{} acknowledged records never reached the cloud: {missing:?}\n{}", missing.len(), d.log_tail(60));
}

fn daemon_offline(d: &Daemon) -> bool {
    ctl::request(&d.socket_path(), &Request::Status, Duration::from_secs(5))
        .map(|r| r.data["cloud"] == "offline")
        .unwrap_or(false)
}

fn go_offline(d: &Daemon, cloud: &MockCloud) {
    cloud.pause();
    assert!(d.wait_until(DEADLINE, daemon_offline), "the daemon never noticed the cloud was gone\n{}", d.log_tail(40));
}

/// `facegate ARGS`: (success, stdout + stderr).
fn cli(d: &Daemon, args: &[&str]) -> (bool, String) {
    let out = d.cli(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn status_json(d: &Daemon) -> Value {
    let (ok, text) = cli(d, &["status", "--json"]);
    assert!(ok, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("status --json: {e}\n{text}"))
}

fn tiny_jpeg_b64() -> String {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&[128u8; 16 * 16 * 3], 16, 16, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a constant image cannot fail");
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Registers one person with card `card` and waits for the cloud's command to be answered 100.
fn add_person(cloud: &MockCloud, d: &Daemon, card: &str) {
    let person = json!({
        "operateType": "0", "idNumber": "1001", "name": "Ann", "normalNumber": card,
        "validDateStart": "2020_01_01", "validDateEnd": "2099_12_31", "priority": "2",
        "registerPhoto1": tiny_jpeg_b64(), "registerPhotoID1": "1",
    });
    let id = cloud.push_command(
        "/person/operate",
        json!({"isRegisterPersonInfo": "1", "personInfoCount": "1", "personInfoData": [person]}),
    );
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&id).is_empty()), "{}", d.log_tail(40));
    assert_eq!(cloud.results_for(&id)[0]["errorCode"], "100");
}

/// Sets the daemon's soft file size limit ("unlimited" or bytes); the hard one stays, so a
/// user can raise it again.
fn set_file_size_limit(pid: u32, value: &str) {
    let ok = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--fsize={value}:"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "prlimit --pid={pid} --fsize={value}: failed (util-linux's prlimit is needed)");
}

/// Archives and empties the files the daemon appends to in its directory, so that a lowered
/// file size limit bites the store, not the logs or the sim relay's log (a real relay is a GPIO
/// line, which a full disk does not stop).
fn empty_logs(d: &Daemon) {
    for name in ["stderr.log", "stdout.log", "sim-actuators.jsonl"] {
        let path = d.dir().join(name);
        if let Ok(text) = fs::read(&path) {
            let mut archive =
                OpenOptions::new().create(true).append(true).open(d.dir().join(format!("{name}.archive"))).unwrap();
            archive.write_all(&text).unwrap();
            OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
        }
    }
}

/// Pages of the database as a reader sees it (the WAL's commits included).
fn page_count(d: &Daemon) -> i64 {
    let db = d.dir().join(facegate::store::DB_FILE);
    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests

/// The field report: on a full disk every valid card was denied. Now a valid card opens, the
/// pass is counted where no new space is needed and said by `status` and `doctor`; an unknown
/// card stays shut with an error that says the disk is full; SIGXFSZ does not kill the daemon;
/// and once space returns every acknowledged record reaches the cloud.
#[test]
fn a_full_disk_admits_valid_cards_denies_others_and_loses_nothing_acknowledged() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(
        &cloud.url(),
        "[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\nopenDoorTimeDelayMs = \"1\"\n",
    );
    wait_ready(&d, &cloud);
    add_person(&cloud, &d, "8899");
    let mut acknowledged: Vec<String> = (0..3).map(|_| recorded_card(&d, "8899")).collect();
    wait_all_uploaded(&cloud, &d, &acknowledged);
    go_offline(&d, &cloud);
    acknowledged.extend((0..5).map(|_| recorded_card(&d, "8899")));
    // The snapshots of those cards are attached (or given up) before the disk fills.
    assert!(
        d.wait_until(DEADLINE, |d| d.actuator_log().iter().filter(|v| v["kind"] == "snap").count() >= 8),
        "{:?}",
        d.actuator_log()
    );
    std::thread::sleep(Duration::from_millis(300));

    // The disk fills: nothing can be written past 16 kB of any file, and the database and its
    // WAL are larger than that.
    empty_logs(&d);
    let pid = d.pid().unwrap();
    set_file_size_limit(pid, "16384");
    let mut unrecorded = 0;
    for i in 0..10 {
        let r = card(&d, "8899");
        assert!(r.ok && r.open, "pass {i}: a valid card was refused on a full disk: {r:?}\n{}", d.log_tail(40));
        if r.msg_id.is_empty() {
            assert!(r.detail.contains("NOT RECORDED: the disk is full"), "{r:?}");
            unrecorded += 1;
        } else {
            // A commit that still fitted is acknowledged like any other.
            acknowledged.push(r.msg_id);
        }
        // The relay really switched (and the 1 ms pulse ended) before the next card: each pass
        // is its own opening, not an extension of the last one.
        let switched = |d: &Daemon| relay_opens(d) > i && relay_count(d, "closed") > i;
        assert!(d.wait_until(DEADLINE, switched), "pass {i}: {:?}", d.actuator_log());
    }
    assert!(unrecorded >= 8, "only {unrecorded} of 10 passes met the full disk\n{}", d.log_tail(40));
    let denied = card(&d, "4242");
    assert!(!denied.ok && !denied.open, "{denied:?}");
    assert!(denied.error.contains("disk full") && denied.error.contains("file size limit"), "{denied:?}");
    assert!(!denied.error.contains("failing"), "a full disk is no failing medium: {denied:?}");
    assert!(d.is_running(), "SIGXFSZ or a write error stopped the daemon\n{}", d.log_tail(40));

    // Said while the disk is full.
    let status = status_json(&d);
    assert_eq!(status["unrecorded_passes"], unrecorded, "{status}");
    assert!(status["last_error"].as_str().unwrap().starts_with("disk full:"), "{status}");
    assert_eq!(status["live"]["passes_not_recorded"], unrecorded, "{status}");
    let (_, text) = cli(&d, &["status"]);
    assert!(text.contains(&format!("{unrecorded} passes admitted while their record could not be saved")), "{text}");
    let (_, doctor) = cli(&d, &["doctor"]);
    assert!(doctor.contains(&format!("{unrecorded} passes admitted without a record")), "{doctor}");

    // Space returns: records are made again, and every acknowledged one reaches the cloud.
    set_file_size_limit(pid, "unlimited");
    let after = recorded_card(&d, "8899");
    acknowledged.push(after);
    cloud.resume();
    wait_all_uploaded(&cloud, &d, &acknowledged);
    let (_, count) = cli(&d, &["records", "count"]);
    assert!(count.trim().ends_with("0 evicted"), "{count}");
    // The count survives a restart (it is in its own file, not only in memory).
    d.restart();
    wait_ready(&d, &cloud);
    assert_eq!(status_json(&d)["unrecorded_passes"], unrecorded);
    let integrity = {
        let db = d.dir().join(facegate::store::DB_FILE);
        let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap()
    };
    assert_eq!(integrity, "ok");
    d.stop();
}

/// `[storage] on_full = "deny"`: a site that prefers a shut door to an unrecorded pass.
#[test]
fn on_full_deny_keeps_the_door_shut_when_the_record_cannot_be_saved() {
    let cloud = fast_cloud();
    let d = Daemon::start(
        &cloud.url(),
        "[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\nopenDoorTimeDelayMs = \"1\"\n[storage]\non_full = \"deny\"\n",
    );
    wait_ready(&d, &cloud);
    add_person(&cloud, &d, "8899");
    recorded_card(&d, "8899");
    empty_logs(&d);
    set_file_size_limit(d.pid().unwrap(), "16384");
    // A commit may still fit in the WAL's first 16 kB; the next ones cannot.
    let refused = (0..5).map(|_| card(&d, "8899")).find(|r| r.msg_id.is_empty()).expect("the disk never filled");
    assert!(!refused.ok && !refused.open, "{refused:?}");
    assert!(refused.error.contains("disk full"), "{refused:?}");
    let opens = relay_opens(&d);
    assert!(opens <= 4, "the door opened for an unrecorded pass: {:?}", d.actuator_log());
    assert_eq!(status_json(&d)["unrecorded_passes"], 0);
}

/// The outside tester's bypass: with `on_full = "deny"` and the default `recogIntervalTime`,
/// the first try on a full disk was refused, and the second, a second later, opened as "same
/// person within recogIntervalTime: not recorded again". A record that was not saved is no
/// record for the interval.
#[test]
fn on_full_deny_is_not_bypassed_by_presenting_the_card_again_within_the_interval() {
    let cloud = fast_cloud();
    let d = Daemon::start(
        &cloud.url(),
        "[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"30\"\nopenDoorTimeDelayMs = \"1\"\n\
         [storage]\non_full = \"deny\"\n",
    );
    wait_ready(&d, &cloud);
    add_person(&cloud, &d, "8899");
    // Nothing can be written at all: the first try is refused for certain.
    empty_logs(&d);
    set_file_size_limit(d.pid().unwrap(), "1");
    for i in 0..3 {
        let r = card(&d, "8899");
        assert!(!r.ok && !r.open, "try {i} on the full disk: {r:?}\n{}", d.log_tail(20));
        assert!(r.error.contains("disk full"), "try {i}: {r:?}");
    }
    assert_eq!(relay_opens(&d), 0, "the door opened for an unrecorded pass: {:?}", d.actuator_log());
    assert_eq!(status_json(&d)["unrecorded_passes"], 0);
}

/// The outside tester's lost records: the cloud away, the file size limit a little above the
/// database, and 20 of 22 acknowledged passes were dropped as "evicted" — though only the WAL
/// was short of room, and a checkpoint lets it start over in the blocks it has. No undelivered
/// record may go while a checkpoint makes the room.
#[test]
fn a_wal_that_cannot_grow_is_checkpointed_before_any_undelivered_record_is_dropped() {
    let cloud = fast_cloud();
    let d = Daemon::start(
        &cloud.url(),
        "[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\nopenDoorTimeDelayMs = \"1\"\n\
         jpegEncodeSizeMode = \"0\"\n",
    );
    wait_ready(&d, &cloud);
    add_person(&cloud, &d, "8899");
    go_offline(&d, &cloud);
    let mut acknowledged = vec![recorded_card(&d, "8899")];
    // Room for the database to grow by what 30 records need, far less than their WAL frames
    // (about ten 1-KiB pages a commit): the WAL meets the limit within a dozen commits.
    empty_logs(&d);
    let db = d.dir().join(facegate::store::DB_FILE);
    let limit = fs::metadata(&db).unwrap().len() + 128 * 1024;
    let pid = d.pid().unwrap();
    set_file_size_limit(pid, &limit.to_string());
    for _ in 0..30 {
        acknowledged.push(recorded_card(&d, "8899"));
    }
    let (_, count) = cli(&d, &["records", "count"]);
    assert!(count.trim().ends_with(" 0 evicted"), "records were dropped to make room: {count}\n{}", d.log_tail(30));
    assert!(
        d.log_tail(400).contains("checkpointing and trying again"),
        "the limit never bit: the test proves nothing\n{}",
        d.log_tail(30)
    );
    set_file_size_limit(pid, "unlimited");
    cloud.resume();
    wait_all_uploaded(&cloud, &d, &acknowledged);
}

/// The second outside tester: the cloud up, the disk full, records pending. The cloud
/// acknowledged a record, marking it delivered failed, and the uploader sent it again at once:
/// 17,042 uploads of 6 records in 5 s. Delivered records whose marks fail are now marked
/// first, or waited for at the link's pace, and not sent again meanwhile.
#[test]
fn a_full_disk_with_the_cloud_up_does_not_send_delivered_records_again_and_again() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(
        &cloud.url(),
        "[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\nopenDoorTimeDelayMs = \"1\"\n\
         jpegEncodeSizeMode = \"0\"\ncloudOfflineRetransmission = \"1\"\n",
    );
    wait_ready(&d, &cloud);
    add_person(&cloud, &d, "8899");
    go_offline(&d, &cloud);
    let ids: Vec<String> = (0..5).map(|_| recorded_card(&d, "8899")).collect();
    // Nothing can be written at all: neither a mark nor a checkpoint.
    empty_logs(&d);
    let pid = d.pid().unwrap();
    set_file_size_limit(pid, "1");
    let before = cloud.records().len();
    cloud.resume();
    assert!(
        cloud.wait_until(DEADLINE, |c| c.records().len() > before),
        "no record reached the cloud (running: {})",
        d.is_running()
    );
    std::thread::sleep(Duration::from_secs(5));
    let uploads = cloud.records().len() - before;
    assert!(uploads <= 3 * ids.len(), "{uploads} uploads of {} records in 5 s on a full disk", ids.len());
    // Space returns: the marks go in, nothing is pending, nothing was lost.
    set_file_size_limit(pid, "unlimited");
    wait_all_uploaded(&cloud, &d, &ids);
    assert!(
        d.wait_until(DEADLINE, |d| cli(d, &["records", "count"]).1.contains(" 0 pending")),
        "{}",
        cli(&d, &["records", "count"]).1
    );
}

/// The second outside tester: on a full disk the cloud's delete of a person failed to be
/// stored (answered 200), and the deleted person's card kept opening the door ("NOT
/// RECORDED"). A delete the store cannot take now takes effect at the door at once; once it
/// is stored (the cloud sends it again) the person stays out.
#[test]
fn a_person_deleted_while_the_disk_is_full_is_denied_at_once() {
    let cloud = fast_cloud();
    let d = Daemon::start(
        &cloud.url(),
        "[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\nopenDoorTimeDelayMs = \"1\"\n",
    );
    wait_ready(&d, &cloud);
    add_person(&cloud, &d, "8899");
    recorded_card(&d, "8899");
    empty_logs(&d);
    let pid = d.pid().unwrap();
    set_file_size_limit(pid, "1");
    let delete = json!({"isRegisterPersonInfo": "1", "personInfoCount": "1",
        "personInfoData": [{"operateType": "2", "idNumber": "1001"}]});
    let id = cloud.push_command("/person/operate", delete.clone());
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&id).is_empty()));
    assert_eq!(cloud.results_for(&id)[0]["errorCode"], "200", "the delete was stored on a full disk?");
    let opens = relay_opens(&d);
    let r = card(&d, "8899");
    assert!(!r.open, "the deleted person's card opened on a full disk: {r:?}");
    assert_eq!(relay_opens(&d), opens, "{:?}", d.actuator_log());
    // Space returns and the cloud sends the delete again: stored, and still denied.
    set_file_size_limit(pid, "unlimited");
    let id = cloud.push_command("/person/operate", delete);
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&id).is_empty()));
    assert_eq!(cloud.results_for(&id)[0]["errorCode"], "100");
    let r = card(&d, "8899");
    assert!(r.ok && !r.open && r.detail.contains("unknown card"), "{r:?}");
}

/// Below the reserve the store makes room in itself instead of growing: delivered records go
/// first, then photos; no undelivered record is dropped while a write has not failed. `doctor`
/// fails its storage line, `status` says so, and every acknowledged record is delivered.
#[test]
fn below_the_reserve_delivered_records_make_room_and_doctor_fails() {
    let cloud = fast_cloud();
    let mut d = Daemon::start(
        &cloud.url(),
        "[params]\nfaceRFIDCardEnable = \"1\"\nrecogIntervalTime = \"0\"\nopenDoorTimeDelayMs = \"1\"\njpegEncodeSizeMode = \"2\"\n[storage]\nreserve_bytes = 0\n",
    );
    wait_ready(&d, &cloud);
    add_person(&cloud, &d, "8899");
    // Twenty delivered records with full-size camera snapshots.
    for _ in 0..20 {
        let id = recorded_card(&d, "8899");
        wait_all_uploaded(&cloud, &d, &[id]);
    }
    assert!(
        d.wait_until(DEADLINE, |d| cli(d, &["records", "count"]).1.trim() == "20 kept, 0 pending, 0 evicted"),
        "{}",
        cli(&d, &["records", "count"]).1
    );
    let pages = page_count(&d);
    // Now the disk is short: a reserve larger than any test machine has free.
    d.stop();
    let config = fs::read_to_string(d.config_path()).unwrap();
    assert!(config.contains("reserve_bytes = 0"), "{config}");
    fs::write(d.config_path(), config.replace("reserve_bytes = 0", "reserve_bytes = 1099511627776")).unwrap();
    d.spawn();
    wait_ready(&d, &cloud);

    go_offline(&d, &cloud);
    let pending: Vec<String> = (0..20).map(|_| recorded_card(&d, "8899")).collect();
    assert!(
        d.wait_until(DEADLINE, |d| d.actuator_log().iter().filter(|v| v["kind"] == "snap").count() >= 40),
        "{:?}",
        d.actuator_log()
    );
    let (_, count) = cli(&d, &["records", "count"]);
    let words: Vec<&str> = count.split_whitespace().collect();
    let kept: u64 = words[0].parse().unwrap();
    assert_eq!(&words[2..], ["20", "pending,", "0", "evicted"], "{count}");
    assert!(kept < 40, "no delivered record made room: {count}");
    let grown = page_count(&d) - pages;
    assert!(grown <= 8, "the database grew by {grown} pages below the reserve (was {pages})");

    let (ok, doctor) = cli(&d, &["doctor"]);
    assert!(!ok, "doctor passed below the reserve:\n{doctor}");
    let storage = doctor.lines().find(|l| l.contains("storage")).unwrap_or_default();
    assert!(storage.starts_with("FAIL") && storage.contains("BELOW THE RESERVE"), "{doctor}");
    let (_, status) = cli(&d, &["status"]);
    let words = status.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("reserve 1.1 TB: BELOW THE RESERVE"), "{status}");
    let json = status_json(&d);
    assert_eq!(json["disk"]["reserve_bytes"], 1_099_511_627_776u64, "{json}");

    cloud.resume();
    wait_all_uploaded(&cloud, &d, &pending);
}

/// A firmware download must not eat the space the records need: below the reserve the update
/// is refused with 502 and a message naming `reserve_bytes`, before the file is requested.
#[test]
fn a_firmware_download_that_would_eat_the_reserve_is_refused_with_502() {
    let cloud = fast_cloud();
    let vendor = common::firmware::Vendor::new();
    let d = Daemon::start_with(&cloud.url(), |c| {
        c.merge_toml(&vendor.config()).merge_toml("[storage]\nreserve_bytes = 1099511627776\n");
    });
    wait_ready(&d, &cloud);
    let signed = vendor.sign(&[0x5A; 4096]);
    cloud.serve_file("/fw/disk.bin", signed.clone());
    let url = format!("{}/fw/disk.bin", cloud.url());
    let id = cloud.push_command(
        "/device/update",
        json!({"isOnlineUpdate": "1", "updateType": "0", "updateUrl": url, "updateKey": signed.len().to_string()}),
    );
    let code = |r: &Value| r["errorCode"].as_str().unwrap_or_default().to_string();
    let done = cloud.wait_until(DEADLINE, |c| c.results_for(&id).iter().any(|r| code(r) != "500"));
    assert!(done, "no final result\n{}\n{}", cloud.dump(), d.log_tail(40));
    let results = cloud.results_for(&id);
    let last = results.last().unwrap();
    assert_eq!(code(last), "502", "{results:?}");
    let msg = last["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("not enough disk space") && msg.contains("reserve_bytes"), "{msg}");
    assert!(
        cloud.requests_to("/fw/disk.bin").is_empty(),
        "the file was requested although nothing could be kept: {}",
        cloud.dump()
    );
    assert!(!d.actuator_log().iter().any(|a| a["kind"] == "install"), "{:?}", d.actuator_log());
}
