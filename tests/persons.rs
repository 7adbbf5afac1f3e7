//! Persons against the mock cloud: person/operate (add, modify, delete, delete all, every
//! rejection with its business code), person/count, person/info (a full extraction with a wrong
//! index acknowledged in the middle), registerInterval and `facegate persons list|show|count`.
//!
//! Every test runs the real daemon on the sim board. Commands are queued on the mock cloud; a
//! command's result is reported only after its change is committed, so once the result is in,
//! the CLI (which reads the same database) must see the change.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use common::{ConfigBuilder, DEADLINE, Daemon, MockCloud};
use serde_json::{Map, Value, json};

/// Only the person services, each polled every second (the spec's defaults are 30 s).
fn person_services() -> Value {
    json!({
        "errorCode": "100",
        "personService": "1", "personServiceInterval": "1",
        "getRegisterCountService": "1", "getRegisterCountServiceInterval": "1",
        "getRegisterInfoService": "1", "getRegisterInfoServiceInterval": "1",
    })
}

/// A real JPEG of `w`x`h` pixels whose content depends on `seed`, so photos differ.
fn jpeg(w: u16, h: u16, seed: u8) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            pixels.push((x as u8).wrapping_mul(seed));
            pixels.push((y as u8).wrapping_add(seed));
            pixels.push(seed.wrapping_mul(31) ^ (x ^ y) as u8);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encoding an in-memory image cannot fail");
    out
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An add (operateType 0) with every field of the spec's person object and one photo.
fn full_person(id: &str, name: &str, card: &str, photo: &[u8]) -> Map<String, Value> {
    let v = json!({
        "operateType": "0",
        "idNumber": id,
        "normalNumber": card,
        "password": "",
        "name": name,
        "sex": "男",
        "birthday": "1997年4月3日",
        "phone": "18868681819",
        "validDateStart": "2020_01_01",
        "validDateEnd": "2099_12_31",
        "priority": "2",
        "registerPhoto1": b64(photo),
        "registerPhotoID1": "1",
        "registerPhoto2": "",
        "registerPhotoID2": "",
        "registerPhoto3": "",
        "registerPhotoID3": "",
        "voiceSpecialMode": "1",
        "voiceNameSexEnable": "1",
        "visitorVoiceTextBeforeName": "亲爱的",
        "visitorVoiceText": "欢迎您的参观",
        "displaySpecialMode": "1",
        "displayNameSexEnable": "1",
        "visitordisplayTextBeforeName": "亲爱的",
        "visitordisplayText": "欢迎您的参观",
        "passTime1": "06_00,09_00,18_00,21_00",
        "passTime2": "06_00,09_00",
        "passTime3": "",
        "passTime4": "00_00,23_59",
        "passTime5": "06_00,09_00,18_00,21_00",
        "passTime6": "",
        "passTime7": "00_00,23_59",
        "address": "xx省xx市xx街道xx号",
        "idcard": "360***********1218",
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a json! object literal"),
    }
}

/// A minimal valid add: the required fields, one photo, priority 2 (any time).
fn small_person(id: &str, name: &str, photo: &[u8]) -> Map<String, Value> {
    let v = json!({
        "operateType": "0",
        "idNumber": id,
        "name": name,
        "validDateStart": "2020_01_01",
        "validDateEnd": "2099_12_31",
        "priority": "2",
        "registerPhoto1": b64(photo),
        "registerPhotoID1": "1",
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a json! object literal"),
    }
}

fn with(mut p: Map<String, Value>, changes: &[(&str, &str)]) -> Map<String, Value> {
    for (k, v) in changes {
        p.insert((*k).to_string(), (*v).into());
    }
    p
}

fn without(mut p: Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    for k in keys {
        p.remove(*k);
    }
    p
}

/// A person/operate command carrying `persons`.
fn operate(persons: Vec<Map<String, Value>>) -> Value {
    json!({
        "isRegisterPersonInfo": "1",
        "personInfoCount": persons.len().to_string(),
        "personInfoData": persons,
    })
}

/// Queues `cmd` on `path`, waits for its one result and returns it.
fn send(cloud: &MockCloud, daemon: &Daemon, path: &str, cmd: Value) -> Value {
    let id = cloud.push_command(path, cmd);
    wait_result(cloud, daemon, &id)
}

fn wait_result(cloud: &MockCloud, daemon: &Daemon, msg_id: &str) -> Value {
    let got = cloud.wait_until(DEADLINE, |c| !c.results_for(msg_id).is_empty());
    assert!(got, "no result for msgID {msg_id}\n{}\n{}", cloud.dump(), daemon.log_tail(40));
    let results = cloud.results_for(msg_id);
    assert_eq!(results.len(), 1, "one result per command: {results:?}");
    results.into_iter().next().expect("checked above")
}

fn code(result: &Value) -> &str {
    result.get("errorCode").and_then(Value::as_str).unwrap_or("<none>")
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Runs the CLI and returns stdout, asserting success.
fn cli_ok(daemon: &Daemon, args: &[&str]) -> String {
    let out = daemon.cli(args);
    assert!(
        out.status.success(),
        "facegate {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the CLI prints UTF-8")
}

fn count_cli(daemon: &Daemon) -> u64 {
    let out = cli_ok(daemon, &["persons", "count"]);
    out.trim().parse().unwrap_or_else(|_| panic!("`persons count` printed {out:?}"))
}

/// `facegate persons show ID` as key -> value (the key column is 28 characters wide; a space
/// after it is not part of the value).
fn show(daemon: &Daemon, id: &str) -> BTreeMap<String, String> {
    cli_ok(daemon, &["persons", "show", id])
        .lines()
        .map(|l| {
            let key: String = l.chars().take(28).collect();
            let value: String = l.chars().skip(28).collect();
            let value = value.strip_prefix(' ').unwrap_or(&value).to_string();
            (key.trim_end().to_string(), value)
        })
        .collect()
}

/// The idNumbers (first column) of `facegate persons list`, without the header.
fn listed_ids(daemon: &Daemon) -> Vec<String> {
    let out = cli_ok(daemon, &["persons", "list"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("idNumber"), "list header: {header:?}");
    lines.map(|l| l.split_whitespace().next().unwrap_or_default().to_string()).collect()
}

/// `facegate card N`: whether the door opened.
fn card_opens(daemon: &Daemon, card: &str) -> bool {
    let out = cli_ok(daemon, &["card", card]);
    match out.split(';').next().map(str::trim) {
        Some("door opened") => true,
        Some("door stays closed") => false,
        _ => panic!("`facegate card {card}` printed {out:?}"),
    }
}

fn start(cloud: &MockCloud, edit: impl FnOnce(&mut ConfigBuilder)) -> Daemon {
    let daemon = Daemon::start_with(&cloud.url(), edit);
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "{}", daemon.log_tail(40));
    daemon
}

#[test]
fn add_modify_delete_and_delete_all() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(person_services());
    let daemon = start(&cloud, |c| {
        // A card alone opens, so the door shows which cards the store knows.
        c.set("params", "faceRFIDCardEnable", "1");
    });

    // Add with every field.
    let photo1 = jpeg(64, 48, 1);
    let r = send(&cloud, &daemon, "/person/operate", operate(vec![full_person("1001", "张三", "8899", &photo1)]));
    assert_eq!(code(&r), "100", "{r}");
    assert_eq!(text(&r, "msgType"), "registerPersonInfoResp");
    assert_eq!(text(&r, "deviceNo"), common::DEVICE_NO);
    let s = show(&daemon, "1001");
    let expect = [
        ("idNumber", "1001"),
        ("name", "张三"),
        ("normalNumber (card)", "8899"),
        ("priority", "2"),
        ("validDateStart", "2020_01_01"),
        ("validDateEnd", "2099_12_31"),
        ("passTime1", "06_00,09_00,18_00,21_00"),
        ("passTime2", "06_00,09_00"),
        ("passTime3", ""),
        ("passTime7", "00_00,23_59"),
        ("sex", "男"),
        ("birthday", "1997年4月3日"),
        ("phone", "18868681819"),
        ("voiceSpecialMode", "1"),
        ("visitorVoiceTextBeforeName", "亲爱的"),
        ("visitordisplayText", "欢迎您的参观"),
        ("address", "xx省xx市xx街道xx号"),
        ("idcard", "360***********1218"),
    ];
    for (k, v) in expect {
        assert_eq!(s.get(k).map(String::as_str), Some(v), "persons show 1001, {k}: {s:?}");
    }
    let photo_line = format!("id 1, {} bytes", photo1.len());
    assert_eq!(s.get("registerPhoto1"), Some(&photo_line), "{s:?}");
    assert!(!s.contains_key("registerPhoto2"), "{s:?}");
    assert!(card_opens(&daemon, "8899"), "the added person's card opens");

    // The spec's case variants: PersonInfoData, RegisterPhotoID2, RegisterPhoto3.
    let (photo2, photo3) = (jpeg(40, 40, 2), jpeg(48, 32, 3));
    let mut variant = without(small_person("1002", "李四", &photo1), &["registerPhoto1", "registerPhotoID1"]);
    variant.insert("registerPhoto2".into(), b64(&photo2).into());
    variant.insert("RegisterPhotoID2".into(), "22".into());
    variant.insert("RegisterPhoto3".into(), b64(&photo3).into());
    variant.insert("registerPhotoID3".into(), "33".into());
    let cmd = json!({"isRegisterPersonInfo": "1", "personInfoCount": "1", "PersonInfoData": [variant]});
    let r = send(&cloud, &daemon, "/person/operate", cmd);
    assert_eq!(code(&r), "100", "{r}");
    let s = show(&daemon, "1002");
    assert_eq!(s.get("name").map(String::as_str), Some("李四"));
    assert!(!s.contains_key("registerPhoto1"), "{s:?}");
    assert_eq!(s.get("registerPhoto2"), Some(&format!("id 22, {} bytes", photo2.len())), "{s:?}");
    assert_eq!(s.get("registerPhoto3"), Some(&format!("id 33, {} bytes", photo3.len())), "{s:?}");

    // personInfoData as a JSON string, numbers where strings are due, a data: URI photo.
    let quirky = json!([{
        "operateType": 0, "idNumber": 1003, "name": "Alice", "normalNumber": 7003,
        "validDateStart": "2020_1_1", "validDateEnd": "2099_12_31", "priority": 2,
        "registerPhoto1": format!("data:image/jpeg;base64,{}", b64(&photo3)), "registerPhotoID1": 5,
    }]);
    let cmd = json!({"isRegisterPersonInfo": "1", "personInfoCount": "1", "personInfoData": quirky.to_string()});
    let r = send(&cloud, &daemon, "/person/operate", cmd);
    assert_eq!(code(&r), "100", "{r}");
    let s = show(&daemon, "1003");
    assert_eq!(s.get("normalNumber (card)").map(String::as_str), Some("7003"), "{s:?}");
    assert_eq!(s.get("priority").map(String::as_str), Some("2"), "{s:?}");
    assert_eq!(s.get("registerPhoto1"), Some(&format!("id 5, {} bytes", photo3.len())), "{s:?}");

    // Modify (operateType 1): the person as sent replaces the stored one, photos included.
    let modified = with(
        without(small_person("1001", "张三丰", &photo2), &["registerPhoto1", "registerPhotoID1"]),
        &[("operateType", "1"), ("normalNumber", "7777"), ("registerPhoto2", &b64(&photo2)), ("registerPhotoID2", "2")],
    );
    let r = send(&cloud, &daemon, "/person/operate", operate(vec![modified]));
    assert_eq!(code(&r), "100", "{r}");
    let s = show(&daemon, "1001");
    assert_eq!(s.get("name").map(String::as_str), Some("张三丰"), "{s:?}");
    assert_eq!(s.get("normalNumber (card)").map(String::as_str), Some("7777"), "{s:?}");
    assert_eq!(s.get("passTime1").map(String::as_str), Some(""), "{s:?}");
    assert!(!s.contains_key("sex"), "a field left out of the modify is gone: {s:?}");
    assert!(!s.contains_key("registerPhoto1"), "{s:?}");
    assert_eq!(s.get("registerPhoto2"), Some(&format!("id 2, {} bytes", photo2.len())), "{s:?}");
    assert!(!card_opens(&daemon, "8899"), "the old card no longer opens");
    assert!(card_opens(&daemon, "7777"), "the new card opens");

    // Count, over the cloud and on the console.
    let r = send(&cloud, &daemon, "/person/count", json!({"isonlineGetRegisterCount": "1"}));
    assert_eq!((code(&r), text(&r, "personNum").as_str()), ("100", "3"), "{r}");
    assert_eq!(text(&r, "msgType"), "onlineGetRegisterCountResp");
    assert_eq!(count_cli(&daemon), 3);
    let mut ids = listed_ids(&daemon);
    ids.sort();
    assert_eq!(ids, ["1001", "1002", "1003"]);
    let list = cli_ok(&daemon, &["persons", "list"]);
    let row = list.lines().find(|l| l.starts_with("1001 ")).unwrap_or_default();
    for part in ["张三丰", "7777", " 2 ", "2020_01_01..2099_12_31"] {
        assert!(row.contains(part), "list row of 1001 lacks {part:?}: {row:?}");
    }
    let limited = cli_ok(&daemon, &["persons", "list", "--limit", "1"]);
    assert_eq!(limited.lines().count(), 2, "header and one person: {limited:?}");

    // Delete one; deleting an unknown person is not an error (a re-sent command must not fail).
    let r = send(
        &cloud,
        &daemon,
        "/person/operate",
        operate(vec![json_map(json!({"operateType": "2", "idNumber": "1002"}))]),
    );
    assert_eq!(code(&r), "100", "{r}");
    let out = daemon.cli(&["persons", "show", "1002"]);
    assert!(!out.status.success(), "a deleted person is not shown");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no person with idNumber 1002"), "{out:?}");
    let r = send(
        &cloud,
        &daemon,
        "/person/operate",
        operate(vec![json_map(json!({"operateType": "2", "idNumber": "4242"}))]),
    );
    assert_eq!(code(&r), "100", "{r}");
    assert_eq!(count_cli(&daemon), 2);

    // Delete all: operateType alone.
    let r = send(&cloud, &daemon, "/person/operate", operate(vec![json_map(json!({"operateType": "3"}))]));
    assert_eq!(code(&r), "100", "{r}");
    assert_eq!(count_cli(&daemon), 0);
    assert!(listed_ids(&daemon).is_empty());
    let r = send(&cloud, &daemon, "/person/count", json!({"isonlineGetRegisterCount": "1"}));
    assert_eq!((code(&r), text(&r, "personNum").as_str()), ("100", "0"), "{r}");
    assert!(!card_opens(&daemon, "7777"), "nobody is registered any more");

    // The store still takes persons after a delete-all.
    let r = send(&cloud, &daemon, "/person/operate", operate(vec![small_person("1001", "again", &photo1)]));
    assert_eq!(code(&r), "100", "{r}");
    assert_eq!(count_cli(&daemon), 1);
}

fn json_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// The vendor's enroll command for the rejection test: logs `OP ID SIZE...` and fails by idNumber.
fn write_enroll_script(dir: &Path) -> String {
    let script = dir.join("enroll.sh");
    let log = dir.join("enroll.log");
    let text = format!(
        r#"op=$1; id=$2; shift 2
sizes=""
for f in "$@"; do sizes="$sizes $(wc -c < "$f" | tr -d ' ')"; done
echo "$op $id$sizes" >> '{log}'
case "$id" in
  F*) echo "no face found in the photo" >&2; exit 7;;
  S*) exec sleep 30;;
esac
if [ "$op" = modify ] && [ "${{id#M}}" != "$id" ]; then echo "features do not match" >&2; exit 9; fi
exit 0
"#,
        log = log.display()
    );
    std::fs::write(&script, text).expect("cannot write the enroll script");
    format!("/bin/sh {}", script.display())
}

#[test]
fn rejected_persons_get_their_code_and_change_nothing() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(person_services());
    let daemon = Daemon::start_raw(|dir| {
        let mut c = ConfigBuilder::new(&cloud.url(), dir);
        c.set("recognizer", "enroll_command", write_enroll_script(dir)).set("recognizer", "timeout_ms", 3000).set(
            "storage",
            "max_persons",
            4,
        );
        c.render()
    });
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "{}", daemon.log_tail(40));

    let photo = jpeg(64, 64, 7);
    let other_photo = jpeg(32, 32, 9);
    let m100 = full_person("M100", "original", "1001", &photo);
    let add = |id: &str| small_person(id, id, &other_photo);
    let not_jpeg = b64(b"this is a text file, not a JPEG image");
    let truncated = b64(&other_photo[..other_photo.len() / 2]);
    let steps: Vec<(&str, Value, &str)> = vec![
        ("valid add of M100", operate(vec![m100.clone()]), "100"),
        ("no name", operate(vec![without(add("R1"), &["name"])]), "300"),
        ("idNumber 0", operate(vec![add("0")]), "300"),
        ("no idNumber", operate(vec![without(add("R2"), &["idNumber"])]), "300"),
        ("operateType 9", operate(vec![with(add("R3"), &[("operateType", "9")])]), "300"),
        ("no validDateEnd", operate(vec![without(add("R4"), &["validDateEnd"])]), "300"),
        ("bad date", operate(vec![with(add("R5"), &[("validDateStart", "tomorrow")])]), "300"),
        ("start after end", operate(vec![with(add("R6"), &[("validDateStart", "2100_01_01")])]), "300"),
        ("priority 7", operate(vec![with(add("R7"), &[("priority", "7")])]), "300"),
        ("no photo and no card", operate(vec![without(add("R8"), &["registerPhoto1"])]), "300"),
        ("card of another person", operate(vec![with(add("R9"), &[("normalNumber", "1001")])]), "300"),
        ("photo ID not numeric", operate(vec![with(add("R10"), &[("registerPhotoID1", "x1")])]), "300"),
        ("pass time 25:00", operate(vec![with(add("R11"), &[("passTime1", "25_00,26_00")])]), "300"),
        (
            "name is an object",
            operate(vec![json_map(json!({"operateType": "0", "idNumber": "R12", "name": {"a": 1}}))]),
            "300",
        ),
        ("empty person list", json!({"isRegisterPersonInfo": "1", "personInfoData": []}), "300"),
        ("delete without idNumber", operate(vec![json_map(json!({"operateType": "2"}))]), "300"),
        ("modify M100 without name", operate(vec![with(m100.clone(), &[("operateType", "1"), ("name", "")])]), "300"),
        ("valid add after rejections", operate(vec![add("B200")]), "100"),
        ("photo not a JPEG", operate(vec![with(add("P1"), &[("registerPhoto1", &not_jpeg)])]), "303"),
        ("photo not Base64", operate(vec![with(add("P2"), &[("registerPhoto1", "%%% not base64 %%%")])]), "303"),
        ("truncated JPEG", operate(vec![with(add("P3"), &[("registerPhoto1", &truncated)])]), "303"),
        ("modify M100 with a bad photo", operate(vec![with(m100.clone(), &[("registerPhoto1", &not_jpeg)])]), "303"),
        ("enroll fails", operate(vec![add("F1")]), "301"),
        ("enroll fails on modify", operate(vec![with(m100.clone(), &[("operateType", "1"), ("name", "new")])]), "301"),
        ("enroll times out", operate(vec![add("S1")]), "304"),
        ("valid add after a timeout", operate(vec![add("C300")]), "100"),
        ("valid add up to the capacity", operate(vec![add("D400")]), "100"),
        ("capacity full", operate(vec![add("E500")]), "302"),
        ("re-add of a registered person when full", operate(vec![with(add("B200"), &[("name", "renamed")])]), "100"),
        ("delete frees a place", operate(vec![json_map(json!({"operateType": "2", "idNumber": "D400"}))]), "100"),
        ("add after the delete", operate(vec![add("E500")]), "100"),
    ];
    let ids: Vec<String> = steps.iter().map(|(_, cmd, _)| cloud.push_command("/person/operate", cmd.clone())).collect();
    wait_result(&cloud, &daemon, ids.last().expect("steps"));
    for ((what, _, want), id) in steps.iter().zip(&ids) {
        let r = wait_result(&cloud, &daemon, id);
        assert_eq!(code(&r), *want, "{what}: {r}");
        if *want != "100" {
            let msg = text(&r, "msg");
            assert!(!msg.is_empty() && msg != "操作成功", "{what}: the msg says why: {r}");
        }
    }
    let msg_of = |what: &str| {
        let i = steps.iter().position(|(w, _, _)| *w == what).expect("a step");
        text(&wait_result(&cloud, &daemon, &ids[i]), "msg")
    };
    assert!(msg_of("enroll fails").contains("no face found"), "the recognizer's reason reaches the cloud");
    assert!(msg_of("capacity full").contains('4'), "{}", msg_of("capacity full"));

    // Only the accepted persons are stored, the rejected modifications of M100 changed nothing.
    let mut ids_now = listed_ids(&daemon);
    ids_now.sort();
    assert_eq!(ids_now, ["B200", "C300", "E500", "M100"]);
    let s = show(&daemon, "M100");
    assert_eq!(s.get("name").map(String::as_str), Some("original"), "{s:?}");
    assert_eq!(s.get("normalNumber (card)").map(String::as_str), Some("1001"), "{s:?}");
    assert_eq!(s.get("registerPhoto1"), Some(&format!("id 1, {} bytes", photo.len())), "{s:?}");
    assert_eq!(show(&daemon, "B200").get("name").map(String::as_str), Some("renamed"));

    // The recognizer saw only what passed validation and capacity, with the photo as sent.
    let log = std::fs::read_to_string(daemon.dir().join("enroll.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let small = other_photo.len();
    let expected = [
        format!("add M100 {}", photo.len()),
        format!("add B200 {small}"),
        format!("add F1 {small}"),
        format!("modify M100 {}", photo.len()),
        format!("add S1 {small}"),
        format!("add C300 {small}"),
        format!("add D400 {small}"),
        format!("modify B200 {small}"),
        "delete D400".to_string(),
        format!("add E500 {small}"),
    ];
    assert_eq!(lines, expected, "enroll calls");
}

#[test]
fn person_info_extracts_everyone_and_resends_on_a_wrong_index() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(person_services());
    let daemon = start(&cloud, |_| {});

    // With nobody registered the extraction is one message, not a stream: personNum "0" and a
    // token, as an item would carry them (spec 2.12), and no index to acknowledge.
    let r = send(&cloud, &daemon, "/person/info", json!({"isonlineGetRegister": "1"}));
    assert_eq!(code(&r), "100", "{r}");
    assert_eq!(text(&r, "personNum"), "0", "{r}");
    assert!(!text(&r, "token").is_empty() && text(&r, "index").is_empty(), "{r}");
    assert_eq!(cloud.stream_items("/person/info").len(), 1);
    cloud.clear_requests();

    // Five persons, one with all three photos.
    let photos: Vec<Vec<u8>> = (1..=3).map(|i| jpeg(24 + 8 * u16::from(i), 24, i * 40)).collect();
    let mut sent: Vec<Map<String, Value>> = Vec::new();
    for i in 0..5u8 {
        let id = format!("{}", 3001 + u32::from(i));
        let mut p = full_person(&id, &format!("人员{i}"), &format!("9{i}00"), &photos[usize::from(i) % 3]);
        p.insert("priority".into(), (i % 3).to_string().into());
        if i == 3 {
            p.insert("registerPhoto2".into(), b64(&photos[1]).into());
            p.insert("registerPhotoID2".into(), "654322".into());
            p.insert("registerPhoto3".into(), b64(&photos[2]).into());
            p.insert("registerPhotoID3".into(), "654323".into());
        }
        let r = send(&cloud, &daemon, "/person/operate", operate(vec![p.clone()]));
        assert_eq!(code(&r), "100", "{r}");
        sent.push(p);
    }
    let r = send(&cloud, &daemon, "/person/count", json!({"isonlineGetRegisterCount": "1"}));
    assert_eq!(text(&r, "personNum"), "5", "{r}");

    cloud.wrong_index_once("/person/info", 2);
    let msg_id = cloud.push_command("/person/info", json!({"isonlineGetRegister": "1"}));
    let done = cloud.wait_until(DEADLINE, |c| c.stream_items("/person/info").iter().any(|i| text(i, "index") == "4"));
    assert!(done, "extraction did not reach index 4\n{}\n{}", cloud.dump(), daemon.log_tail(40));
    // The poll after the run shows the device is done with it.
    let polls_before = cloud.count("/person/info");
    assert!(cloud.wait_for_requests("/person/info", polls_before + 1, DEADLINE));

    let items = cloud.stream_items("/person/info");
    let indexes: Vec<String> = items.iter().map(|i| text(i, "index")).collect();
    assert_eq!(indexes, ["0", "1", "2", "2", "3", "4"], "index 2 is sent again after the wrong acknowledgement");
    assert_eq!(items[2], items[3], "the same person is re-sent, unchanged");
    let token = text(&items[0], "token");
    assert!(!token.is_empty());
    for item in &items {
        assert_eq!(text(item, "msgType"), "onlineGetRegisterResp", "{item}");
        assert_eq!(text(item, "msgID"), msg_id, "{item}");
        assert_eq!(text(item, "deviceNo"), common::DEVICE_NO);
        assert_eq!(text(item, "token"), token, "one token for the whole run");
        assert_eq!(text(item, "personNum"), "5");
        assert_eq!(text(item, "errorCode"), "100");
    }
    assert!(cloud.results_for(&msg_id).iter().all(|r| r.get("index").is_some()), "no extra plain result");

    // Every person exactly once (index 2 twice), with every field the item carries.
    let mut seen: Vec<String> = Vec::new();
    for item in items.iter().enumerate().filter(|(n, _)| *n != 3).map(|(_, i)| i) {
        let id = text(item, "idNumber");
        let p = sent.iter().find(|p| p["idNumber"] == id.as_str()).unwrap_or_else(|| panic!("unknown person {item}"));
        seen.push(id.clone());
        for (k, v) in p {
            let carried = !["operateType", "password", "address", "idcard"].contains(&k.as_str());
            let v = v.as_str().unwrap_or_default();
            if carried && !v.is_empty() {
                assert_eq!(text(item, k), v, "person {id}, field {k}");
            }
            if !carried {
                assert!(item.get(k).is_none(), "person {id}: {k} is not part of the upload");
            }
        }
        let photo_count =
            ["registerPhoto1", "registerPhoto2", "registerPhoto3"].iter().filter(|k| item.get(**k).is_some()).count();
        assert_eq!(photo_count, if id == "3004" { 3 } else { 1 }, "{id}");
    }
    seen.sort();
    assert_eq!(seen, ["3001", "3002", "3003", "3004", "3005"]);
}

#[test]
fn register_interval_changes_the_person_poll_interval() {
    let cloud = MockCloud::start();
    // person/operate every hour; person/count every second is the clock this test reads.
    cloud.set_register_resp(json!({
        "errorCode": "100",
        "personService": "1", "personServiceInterval": "3600",
        "getRegisterCountService": "1", "getRegisterCountServiceInterval": "1",
    }));
    let photo = jpeg(16, 16, 5);
    let first = cloud
        .push_command("/person/operate", with_interval(operate(vec![small_person("1", "one", &photo)]), Some("1")));
    let daemon = start(&cloud, |_| {});
    wait_result(&cloud, &daemon, &first);
    let is_poll = |r: &common::Req| r.msg_type() == Some("registerPersonInfoReq");
    let polls_after = |c: &MockCloud, msg_id: &str| {
        let reqs = c.requests_to("/person/operate");
        let at = reqs.iter().position(|r| r.is_result() && r.field("msgID").as_deref() == Some(msg_id));
        at.map_or(0, |at| reqs[at + 1..].iter().filter(|r| is_poll(r)).count())
    };
    // An hour's interval would allow one poll (the one right after a command) in this time.
    assert!(
        cloud.wait_until(DEADLINE, |c| polls_after(c, &first) >= 4),
        "registerInterval 1 did not speed polling up\n{}",
        cloud.dump()
    );

    // A command without registerInterval keeps the faster interval.
    let second = cloud.push_command("/person/operate", operate(vec![small_person("2", "two", &photo)]));
    wait_result(&cloud, &daemon, &second);
    assert!(cloud.wait_until(DEADLINE, |c| polls_after(c, &second) >= 3), "{}", cloud.dump());

    // registerInterval 3600 slows it down again: while person/count is polled three more
    // times, person/operate gets only the immediate re-poll that follows every command.
    let third = cloud.push_command(
        "/person/operate",
        with_interval(operate(vec![small_person("3", "three", &photo)]), Some("3600")),
    );
    wait_result(&cloud, &daemon, &third);
    let count_polls_after = |c: &MockCloud| {
        let reqs = c.requests();
        let at = reqs.iter().position(|r| r.is_result() && r.field("msgID").as_deref() == Some(third.as_str()));
        at.map_or(0, |at| reqs[at + 1..].iter().filter(|r| r.msg_type() == Some("onlineGetRegisterCountReq")).count())
    };
    assert!(cloud.wait_until(DEADLINE, |c| count_polls_after(c) >= 3), "{}", cloud.dump());
    assert_eq!(polls_after(&cloud, &third), 1, "person/operate polled again early\n{}", cloud.dump());
    assert_eq!(count_cli(&daemon), 3);
}

fn with_interval(mut cmd: Value, secs: Option<&str>) -> Value {
    if let (Some(s), Value::Object(m)) = (secs, &mut cmd) {
        m.insert("registerInterval".into(), s.into());
    }
    cmd
}
