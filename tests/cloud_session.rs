//! The cloud session, end to end: the real `facegate` binary on the sim board against the mock
//! cloud on 127.0.0.1. One test per service flow, checking both the wire (the mock's request
//! log) and what the terminal did (the sim board's actuator log), and one test per way the cloud
//! can misbehave, each ending with a later command executed.
//!
//! Every test ends with [`assert_healthy`]: the daemon still runs, never panicked, and every body
//! it sent was a JSON object of strings only (no null, number or boolean anywhere).
//!
//! | service | test |
//! |---|---|
//! | register: sign, fields, registerTime -> clock, services on/off and intervals | `register_is_signed_and_register_resp_sets_services_and_clock` |
//! | register: errorCode 200, dropped and late answers -> back-off; spec defaults | `register_retries_with_backoff_after_error_200_and_no_answer` |
//! | heartbeat: errorCode 200 -> register again | `heartbeat_error_200_makes_the_daemon_register_again` |
//! | open | `open_pulses_the_relay_announces_and_reports_100` |
//! | reboot: result before the reboot | `reboot_reports_its_result_before_rebooting` |
//! | setDevInfo: only present params, invalid -> 400, live effect | `set_dev_info_applies_present_valid_params_live_and_rejects_invalid_sets_whole` |
//! | uploadDevInfo: once, full parameter set | `upload_dev_info_is_sent_once_at_start_with_every_parameter` |
//! | broadcast | `broadcast_drives_announcer_wiegand_and_rs485` |
//! | setTime | `set_time_sets_the_clock_for_the_device_time_zone` |
//! | face/photo | `photo_sends_a_decodable_snapshot_and_601_without_a_recent_face` |
//! | results retried until 2xx | `results_are_retried_until_2xx_with_the_same_msg_id` |
//!
//! Misbehaviours: `survives_http_500`, `survives_a_body_that_is_not_json`,
//! `survives_json_with_nulls_and_numbers`, `survives_an_unknown_msg_type`,
//! `survives_a_2_mb_body`, `survives_an_answer_later_than_the_read_timeout`,
//! `survives_dropped_connections`, `survives_refused_connections_for_a_while`, and
//! `survives_answers_larger_than_max_response_bytes` (2 MB and endless answers over the limit).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{DEADLINE, DEVICE_NO, Daemon, Misbehaviour, MockCloud};
use md5::{Digest, Md5};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Wall-clock Unix milliseconds, comparable with the sim board's `"t"`.
fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Starts the daemon with every service on at 1 s (plus `extra` TOML) and returns once it polls.
fn start(cloud: &MockCloud, extra: &str) -> Daemon {
    cloud.set_register_resp(MockCloud::fast_services());
    let d = Daemon::start(&cloud.url(), extra);
    wait_polls(cloud, &d, "/device/open", 1);
    d
}

/// Waits until `path` has had `n` requests in all.
fn wait_polls(cloud: &MockCloud, d: &Daemon, path: &str, n: usize) {
    assert!(
        cloud.wait_for_requests(path, n, DEADLINE),
        "{path} got {} of {n} requests\n{}\n{}",
        cloud.count(path),
        cloud.dump(),
        d.log_tail(40)
    );
}

/// Waits for `n` more requests to `path` than it has now: a later event to wait for before
/// checking that something did NOT happen.
fn wait_more_polls(cloud: &MockCloud, d: &Daemon, path: &str, n: usize) {
    let now = cloud.count(path);
    wait_polls(cloud, d, path, now + n);
}

/// The first result the device reported for `msg_id`.
fn wait_result(cloud: &MockCloud, d: &Daemon, msg_id: &str) -> Value {
    assert!(
        cloud.wait_until(DEADLINE, |c| !c.results_for(msg_id).is_empty()),
        "no result for msgID {msg_id}\n{}\n{}",
        cloud.dump(),
        d.log_tail(40)
    );
    cloud.results_for(msg_id).remove(0)
}

/// A string field of a JSON object ("" when absent or not a string).
fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The sim board's actions of one kind, oldest first.
fn actions(d: &Daemon, kind: &str) -> Vec<Value> {
    d.actuator_log().into_iter().filter(|a| a["kind"] == kind).collect()
}

fn relay_count(d: &Daemon, state: &str) -> usize {
    actions(d, "relay").iter().filter(|a| a["state"] == state).count()
}

/// Completed relay pulses as (open t, closed t) in Unix ms.
fn pulses(d: &Daemon) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut opened = None;
    for a in actions(d, "relay") {
        let t = a["t"].as_i64().expect("t is unix ms");
        match (a["state"].as_str(), opened) {
            (Some("open"), None) => opened = Some(t),
            (Some("closed"), Some(o)) => {
                out.push((o, t));
                opened = None;
            }
            _ => {}
        }
    }
    out
}

/// Waits until `n` relay pulses have completed (opened and closed again).
fn wait_pulses(d: &Daemon, n: usize) -> Vec<(i64, i64)> {
    assert!(
        d.wait_until(DEADLINE, |d| pulses(d).len() >= n),
        "{} of {n} relay pulses completed: {:?}\n{}",
        pulses(d).len(),
        actions(d, "relay"),
        d.log_tail(40)
    );
    pulses(d)
}

/// A remote open executes: result 100 with its msgID and one more relay pulse. The proof that the
/// daemon is alive and polling.
fn open_executes(cloud: &MockCloud, d: &Daemon) -> String {
    let before = wait_pulses(d, relay_count(d, "open")).len();
    let id = cloud.push_command("/device/open", json!({"isOnlineOpen": "1", "msg": "alive"}));
    let r = wait_result(cloud, d, &id);
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    wait_pulses(d, before + 1);
    id
}

/// The requests that got a misbehaviour instead of (or on top of) their answer.
fn misbehaved(cloud: &MockCloud) -> usize {
    cloud.requests().iter().filter(|r| r.answer.starts_with("misbehaviour")).count()
}

/// Waits until `n` requests have been served a misbehaviour.
fn wait_misbehaved(cloud: &MockCloud, d: &Daemon, n: usize) {
    assert!(
        cloud.wait_until(DEADLINE, |c| misbehaved(c) >= n),
        "{} of {n} misbehaviours served\n{}\n{}",
        misbehaved(cloud),
        cloud.dump(),
        d.log_tail(40)
    );
}

/// Every endpoint the scheduler polls (the heartbeat included).
const SCHEDULED_PATHS: [&str; 13] = [
    "/device/heatbeat",
    "/device/open",
    "/device/update",
    "/device/reboot",
    "/device/setDevInfo",
    "/device/broadcast",
    "/device/setTime",
    "/person/operate",
    "/person/count",
    "/person/info",
    "/face/photo",
    "/face/clear",
    "/face/get",
];

/// Lets the next answer of every scheduled endpoint misbehave and waits until all were served.
fn misbehave_everywhere(cloud: &MockCloud, d: &Daemon, what: Misbehaviour) {
    let served = misbehaved(cloud);
    for path in SCHEDULED_PATHS {
        cloud.misbehave(Some(path), what.clone(), 1);
    }
    wait_misbehaved(cloud, d, served + SCHEDULED_PATHS.len());
}

/// Lets the next answer on `path` misbehave and queues `cmd` as that answer. An idle poll could
/// slip in between the two calls only within microseconds; the check below says so if it did.
fn misbehave_on_command(cloud: &MockCloud, d: &Daemon, path: &str, what: Misbehaviour, cmd: Value) -> String {
    let served = misbehaved(cloud);
    cloud.misbehave(Some(path), what, 1);
    let id = cloud.push_command(path, cmd);
    wait_misbehaved(cloud, d, served + 1);
    let hit = cloud.requests_to(path).into_iter().rfind(|r| r.answer.starts_with("misbehaviour")).unwrap();
    assert!(hit.answer.contains(&format!("msgID={id}")), "the misbehaviour hit an idle answer: {}", hit.answer);
    id
}

/// `Err(path)` at the first value that is not a string (objects and arrays are walked).
fn only_strings(v: &Value, at: &str) -> Result<(), String> {
    match v {
        Value::String(_) => Ok(()),
        Value::Array(a) => a.iter().enumerate().try_for_each(|(i, x)| only_strings(x, &format!("{at}[{i}]"))),
        Value::Object(o) => o.iter().try_for_each(|(k, x)| only_strings(x, &format!("{at}.{k}"))),
        other => Err(format!("{at} is {other}")),
    }
}

/// The daemon runs, never panicked, and every POST it sent was a JSON object of strings with the
/// spec's content type.
fn assert_healthy(cloud: &MockCloud, d: &mut Daemon) {
    assert!(d.is_running(), "the daemon exited\n{}", d.log_tail(60));
    let log = d.log_text();
    assert!(!log.contains("panicked"), "the daemon panicked:\n{}", d.log_tail(80));
    let requests = cloud.requests();
    assert!(!requests.is_empty());
    for r in requests.iter().filter(|r| r.method == "POST") {
        assert!(r.raw.is_none(), "{} body is not JSON: {:?}", r.path, r.raw.as_deref().map(String::from_utf8_lossy));
        assert!(r.body.is_object(), "{} body is not a JSON object: {}", r.path, r.body);
        if let Err(e) = only_strings(&r.body, &r.path) {
            panic!("the daemon sent a non-string value: {e}\nbody: {}", r.body);
        }
        assert_eq!(r.header("content-type"), Some("application/json;charset=UTF-8"), "{}", r.path);
    }
}

/// A device parameter as `facegate config show` prints it (from the store, read-only).
fn shown_param(d: &Daemon, key: &str) -> String {
    let out = d.cli(&["config", "show"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "config show failed: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    let section = stdout.split("[device_params]").nth(1).unwrap_or_else(|| panic!("no [device_params]:\n{stdout}"));
    let prefix = format!("{key} = ");
    let line = section
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("config show has no {key}:\n{section}"));
    // The line is TOML: read it as a one-key table so that escapes are undone.
    let table: toml::Table = format!("v = {}", &line[prefix.len()..]).parse().expect("config show prints TOML");
    table["v"].as_str().unwrap_or_else(|| panic!("{key} is not a string: {line}")).to_string()
}

/// Upper-case hex MD5 of `deviceNo + registerTime + rand + deviceNo` (protocol.md §1.7.1).
fn expected_sign(r: &Value) -> String {
    let (no, time, rand) = (text(r, "deviceNo"), text(r, "registerTime"), text(r, "rand"));
    Md5::digest(format!("{no}{time}{rand}{no}").as_bytes()).iter().map(|b| format!("{b:02X}")).collect()
}

/// Unix ms of a local wall-clock time `yyyy-MM-dd HH:mm:ss.SSS` in a zone `tz_hours` east of UTC.
fn local_to_unix_ms(local: &str, tz_hours: i64) -> i64 {
    let t = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S%.3f").expect("a test time");
    t.and_utc().timestamp_millis() - tz_hours * 3_600_000
}

/// The 72 device parameters of setDevInfo and the 17 identity fields only uploadDevInfo has, as
/// the spec's uploadDevInfo table lists them (entries 1–89).
const UPLOAD_DEV_INFO_KEYS: [&str; 89] = [
    "devicePassword",
    "ntpEnable",
    "ntpCycle",
    "ntpAddress",
    "enableIrLive",
    "irLiveLevel",
    "recogDistance",
    "recogIntervalTime",
    "onlyRecogMaxSizeFaceEnable",
    "faceTemperatureDetectEnable",
    "faceFeverTemperature",
    "faceDetectBoxScore",
    "faceDetectLandmardScore",
    "faceRegisterConfidenceScore",
    "faceCardConfidenceScore",
    "strangerRecogEnable",
    "strangerVoiceTime",
    "alarmVoiceEnable",
    "jpegEncodeSizeMode",
    "startWdr1",
    "startWdr2",
    "wdrTimeSet1",
    "wdrTimeSet2",
    "playVoiceEnable",
    "registerVoiceMode",
    "registerVoiceNameSexEnable",
    "registerVoiceContentBeforeName",
    "registerVoiceContent",
    "strangerVoiceMode",
    "strangerVoiceContent",
    "displayTextMode",
    "displayNameSexEnable",
    "displayTextContentBeforeName",
    "displayTextContent",
    "alarmNotInPassTimeContent",
    "identificationVoiceSuccessContent",
    "identificationVoiceFailedContent",
    "identificationDisplayTextSuccessContent",
    "identificationDisplayTextFailedContent",
    "installCity",
    "voiceVolume",
    "objectId",
    "entranceDirection",
    "entranceSerialBaudRate",
    "entranceSerialInMode",
    "entranceSerialOutMode",
    "entranceWgInMode",
    "isDisplayIrImage",
    "entranceWgOutMode",
    "autoOpenDoorEnable",
    "openDoorTimeDelayMs",
    "overlayDeviceName",
    "banner",
    "mainWindowUiEnable",
    "screenSaverMode",
    "mainUiLogoMode",
    "faceCardVisitorEnable",
    "cloudOfflineRetransmission",
    "timeZone",
    "faceBeauty",
    "safetyHatDetectEnable",
    "faceRFIDCardEnable",
    "passTime",
    "alwaysOpenDoor",
    "autoDeleteNotValidRecord",
    "strangerDisplayContent",
    "alarmDisplayEnable",
    "alarmNotInPassTimeDisplayContent",
    "alarmNotInValidTimeVoiceContent",
    "alarmNotInValidTimeDisplayContent",
    "alarmNotAuthVoiceContent",
    "alarmNotAuthDisplayContent",
    "cloudPushMode",
    "httpMsgUrl",
    "mqttMsgUrl",
    "tcpMsgUrl",
    "websocketMsgUrl",
    "deviceNumber",
    "loginName",
    "loginKey",
    "wiredDhcpEnable",
    "wiredIpAddr",
    "wiredNetmask",
    "wiredGateway",
    "wiredDnsServer",
    "apEnable",
    "wirelessDhcpEnable",
    "wirelessSsid",
    "wirelessPassword",
];

/// Every poll endpoint but device/open and device/reboot, for "switched off" checks.
const OTHER_POLL_PATHS: [&str; 10] = [
    "/device/update",
    "/device/setDevInfo",
    "/device/broadcast",
    "/device/setTime",
    "/person/operate",
    "/person/count",
    "/person/info",
    "/face/photo",
    "/face/clear",
    "/face/get",
];

// ---------------------------------------------------------------------------------------------
// Service flows

#[test]
fn register_is_signed_and_register_resp_sets_services_and_clock() {
    // 2098-01-01T00:00:00.123Z, in the 13-digit milliseconds registerResp's table prescribes (a
    // time after any build: the clock is never set to one before the binary was built).
    const CLOUD_MS: i64 = 4_039_372_800_123;
    let cloud = MockCloud::start();
    cloud.set_register_resp(json!({
        "errorCode": "100",
        "registerTime": CLOUD_MS.to_string(),
        "openService": "1", "openServiceInterval": "1",
        "rebootService": "1", "rebootServiceInterval": "3600",
        "setDevInfoService": "0", "setDevInfoServiceInterval": "1",
        "personService": "0",
        "getDevInfoService": "0",
    }));
    let started_s = wall_ms() / 1000;
    let mut d = Daemon::start_with(&cloud.url(), |c| {
        c.set("device", "hardware_version", "A2").set("device", "software_version", "2.1.9 2020-02-13").set(
            "device",
            "alg_version",
            "1.0.2-1.2.0",
        );
    });
    wait_polls(&cloud, &d, "/device/open", 1);
    let registered_s = wall_ms() / 1000;

    // The register message on the wire, its sign recomputed here from its own fields.
    let regs = cloud.requests_to("/device/register");
    assert_eq!(regs.len(), 1, "{}", cloud.dump());
    let reg = &regs[0].body;
    assert_eq!(text(reg, "msgType"), "register");
    assert_eq!(text(reg, "deviceNo"), DEVICE_NO);
    let time = text(reg, "registerTime");
    assert!(time.len() == 10 && time.bytes().all(|b| b.is_ascii_digit()), "registerTime {time:?} is not 10 digits");
    let t: i64 = time.parse().unwrap();
    assert!((started_s..=registered_s).contains(&t), "registerTime {t} is not the time of registration");
    assert!(!text(reg, "rand").is_empty(), "{reg}");
    let sign = text(reg, "sign");
    assert_eq!(sign, expected_sign(reg), "sign of {reg}");
    assert!(sign.len() == 32 && sign.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)), "{sign}");
    assert_eq!(text(reg, "protocolVersion"), "V1.0");
    assert_eq!(text(reg, "hardwareVersion"), "A2");
    assert_eq!(text(reg, "softwareVersion"), "2.1.9 2020-02-13");
    assert_eq!(text(reg, "algVersion"), "1.0.2-1.2.0");

    // registerTime in ms sets the clock once (the sim board logs the instant).
    assert!(d.wait_until(DEADLINE, |d| !actions(d, "set_clock").is_empty()), "{}", d.log_tail(40));
    let clock = actions(&d, "set_clock");
    assert_eq!(clock.len(), 1, "{clock:?}");
    assert_eq!(clock[0]["unix_ms"], CLOUD_MS, "{clock:?}");

    // Intervals: open every second; reboot polled at start, then not for an hour. Switched off
    // (setDevInfo, person/operate although on by default) or absent and off by default (the rest,
    // heartbeat, uploadDevInfo): never.
    wait_more_polls(&cloud, &d, "/device/open", 4);
    assert_eq!(cloud.count("/device/reboot"), 1, "{}", cloud.dump());
    for path in OTHER_POLL_PATHS.iter().chain(&["/device/heatbeat", "/device/uploadDevInfo"]) {
        assert_eq!(cloud.count(path), 0, "{path} is off\n{}", cloud.dump());
    }
    let open = cloud.requests_to("/device/open").remove(0).body;
    assert_eq!(open, json!({"msgType": "onlineOpenReq", "deviceNo": DEVICE_NO, "version": "V1.0"}));
    assert_eq!(cloud.count("/device/register"), 1);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn register_retries_with_backoff_after_error_200_and_no_answer() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(json!({"errorCode": "200", "msg": "device unknown"}));
    // No answer: a dropped connection, then an answer later than the whole-request timeout
    // (connect 1 s + read 1 s here).
    cloud.misbehave(Some("/device/register"), Misbehaviour::Drop, 1);
    cloud.misbehave(Some("/device/register"), Misbehaviour::Delay(Duration::from_secs(6)), 1);
    let mut d = Daemon::start_with(&cloud.url(), |c| {
        c.set("cloud", "connect_timeout_ms", 1000)
            .set("cloud", "read_timeout_ms", 1000)
            .set("cloud", "retry_initial_ms", 100)
            .set("cloud", "retry_max_ms", 800);
    });
    // Dropped, late, then refused with errorCode 200 four times.
    wait_polls(&cloud, &d, "/device/register", 6);
    assert_eq!(cloud.count("/device/open"), 0, "polling before registration\n{}", cloud.dump());
    cloud.set_register_resp(json!({"errorCode": "100", "openService": "1", "openServiceInterval": "1"}));
    wait_polls(&cloud, &d, "/device/open", 3);
    let attempts = cloud.requests_to("/device/register");

    // Each attempt is freshly signed.
    let mut rands: Vec<&str> = attempts.iter().map(|r| text(&r.body, "rand")).collect();
    for r in &attempts {
        assert_eq!(text(&r.body, "sign"), expected_sign(&r.body), "{}", r.body);
    }
    rands.sort_unstable();
    rands.dedup();
    assert_eq!(rands.len(), attempts.len(), "rand repeated across attempts");

    // The delays the daemon chose: doubling from 100 ms (±25 % jitter) up to the 800 ms cap.
    let log = d.log_text();
    let delays: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("registration failed"))
        .filter_map(|l| l.split("retrying in ").nth(1)?.split(" ms").next()?.trim().parse().ok())
        .collect();
    assert!(delays.len() >= 5, "expected at least 5 retries in the log, found {delays:?}\n{}", d.log_tail(40));
    assert!((75..=125).contains(&delays[0]), "first retry after {} ms, not ~100", delays[0]);
    for w in delays[..4].windows(2) {
        assert!(w[1] > w[0], "back-off does not grow: {delays:?}");
    }
    assert!(delays.iter().all(|&ms| ms <= 800), "a delay above retry_max_ms: {delays:?}");
    assert!(log.contains("registerResp errorCode \"200\""), "{}", d.log_tail(40));

    // registerResp without the other flags: spec defaults, i.e. person/operate on (every 30 s:
    // polled once at start) and everything else off.
    assert_eq!(cloud.count("/person/operate"), 1, "{}", cloud.dump());
    for path in OTHER_POLL_PATHS.iter().filter(|p| **p != "/person/operate").chain(&["/device/heatbeat"]) {
        assert_eq!(cloud.count(path), 0, "{path} is off by default\n{}", cloud.dump());
    }
    open_executes(&cloud, &d);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn heartbeat_error_200_makes_the_daemon_register_again() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "");
    wait_polls(&cloud, &d, "/device/heatbeat", 1);
    let hb = cloud.requests_to("/device/heatbeat").remove(0).body;
    assert_eq!(hb, json!({"msgType": "keepAlive", "deviceNo": DEVICE_NO}));
    assert_eq!(cloud.count("/device/register"), 1);

    cloud.set_fixed_reply(
        "/device/heatbeat",
        json!({"msgType": "keepAliveResp", "deviceNo": DEVICE_NO, "registerTime": "", "errorCode": "200"}),
    );
    wait_polls(&cloud, &d, "/device/register", 2);
    cloud.clear_fixed_reply("/device/heatbeat");
    // Registered again, the services run again.
    open_executes(&cloud, &d);
    // A heartbeat answered 100 keeps the registration.
    assert!(
        cloud.wait_until(DEADLINE, |c| c
            .requests_to("/device/heatbeat")
            .iter()
            .any(|r| r.answer.contains("keepAliveResp") && r.answer.contains("errorCode=100"))),
        "{}",
        cloud.dump()
    );
    let registrations = cloud.count("/device/register");
    wait_more_polls(&cloud, &d, "/device/heatbeat", 2);
    assert_eq!(cloud.count("/device/register"), registrations, "{}", cloud.dump());
    assert_healthy(&cloud, &mut d);
}

#[test]
fn open_pulses_the_relay_announces_and_reports_100() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"1500\"\n");
    let id = cloud.push_command("/device/open", json!({"isOnlineOpen": "1", "msg": "欢迎光临"}));
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "msgType"), "onlineOpenResp", "{r}");
    assert_eq!(text(&r, "msgID"), id);
    assert_eq!(text(&r, "deviceNo"), DEVICE_NO);
    assert_eq!(text(&r, "errorCode"), "100");
    assert!(!text(&r, "msg").is_empty(), "{r}");

    let p = wait_pulses(&d, 1);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].1 - p[0].0 >= 1500, "relay held {} ms, openDoorTimeDelayMs is 1500", p[0].1 - p[0].0);
    let said = actions(&d, "announce");
    assert!(said.iter().any(|a| a["voice"] == "欢迎光临"), "{said:?}");

    // Idle answers (isOnlineOpen "0") open nothing and are not answered with a result.
    wait_more_polls(&cloud, &d, "/device/open", 2);
    assert_eq!(relay_count(&d, "open"), 1, "{:?}", actions(&d, "relay"));
    assert!(cloud.results_for("000000").is_empty(), "{}", cloud.dump());
    assert_eq!(cloud.results_for(&id).len(), 1, "{}", cloud.dump());
    assert_healthy(&cloud, &mut d);
}

#[test]
fn reboot_reports_its_result_before_rebooting() {
    let cloud = MockCloud::start();
    // When the mock received each reboot result, on the wall clock the sim board logs with.
    let received: Arc<Mutex<Vec<i64>>> = Arc::default();
    let r2 = received.clone();
    cloud.on_request(move |r| {
        if r.path == "/device/reboot" && r.is_result() {
            r2.lock().unwrap().push(wall_ms());
        }
    });
    let mut d = start(&cloud, "");
    let id = cloud.push_command("/device/reboot", json!({"isOnlineReboot": "1"}));
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "msgType"), "onlineRebootResp", "{r}");
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    assert_eq!(text(&r, "deviceNo"), DEVICE_NO);
    assert!(d.wait_until(DEADLINE, |d| !actions(d, "reboot").is_empty()), "{}", d.log_tail(40));
    let reboot = actions(&d, "reboot");
    assert_eq!(reboot.len(), 1, "{reboot:?}");
    let rebooted_at = reboot[0]["t"].as_i64().unwrap();
    let reported_at = received.lock().unwrap()[0];
    assert!(
        reported_at <= rebooted_at,
        "the result reached the cloud at {reported_at} ms, after the reboot at {rebooted_at} ms"
    );
    // The sim board does not reboot: the daemon goes on polling and reboots no more.
    open_executes(&cloud, &d);
    assert_eq!(actions(&d, "reboot").len(), 1);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn set_dev_info_applies_present_valid_params_live_and_rejects_invalid_sets_whole() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "");
    let relay_open = |d: &Daemon| {
        let out = d.cli(&["relay", "open"]);
        assert!(out.status.success(), "relay open failed: {}", String::from_utf8_lossy(&out.stderr));
    };

    // Default openDoorTimeDelayMs (1000 ms).
    relay_open(&d);
    let p = wait_pulses(&d, 1);
    assert!(p[0].1 - p[0].0 >= 1000, "{p:?}");

    // Two parameters set; only they change.
    let id = cloud.push_command(
        "/device/setDevInfo",
        json!({"isOnlineSetDevInfo": "1", "openDoorTimeDelayMs": "2500", "voiceVolume": "7"}),
    );
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "msgType"), "onlineSetDevInfoResp", "{r}");
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    assert!(r.get("param").is_some(), "param is required in the result: {r}");
    assert_eq!(shown_param(&d, "openDoorTimeDelayMs"), "2500");
    assert_eq!(shown_param(&d, "voiceVolume"), "7");
    assert_eq!(shown_param(&d, "recogIntervalTime"), "3", "a parameter not in the command changed");
    // In force without a restart: the next pulse holds the new time.
    relay_open(&d);
    let p = wait_pulses(&d, 2);
    assert!(p[1].1 - p[1].0 >= 2500, "relay held {} ms after openDoorTimeDelayMs 2500", p[1].1 - p[1].0);

    // A command with one parameter leaves the others as they were (voiceVolume stays 7).
    let id =
        cloud.push_command("/device/setDevInfo", json!({"isOnlineSetDevInfo": "1", "openDoorTimeDelayMs": "1200"}));
    assert_eq!(text(&wait_result(&cloud, &d, &id), "errorCode"), "100");
    assert_eq!(shown_param(&d, "openDoorTimeDelayMs"), "1200");
    assert_eq!(shown_param(&d, "voiceVolume"), "7");

    // One invalid value (the spec example's baud rate 96000) rejects the whole set with 400.
    let id = cloud.push_command(
        "/device/setDevInfo",
        json!({"isOnlineSetDevInfo": "1", "openDoorTimeDelayMs": "3000", "voiceVolume": "9",
               "entranceSerialBaudRate": "96000"}),
    );
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "errorCode"), "400", "{r}");
    assert!(text(&r, "msg").contains("entranceSerialBaudRate"), "the result does not name the bad key: {r}");
    assert_eq!(shown_param(&d, "openDoorTimeDelayMs"), "1200");
    assert_eq!(shown_param(&d, "voiceVolume"), "7");
    assert_eq!(shown_param(&d, "entranceSerialBaudRate"), "9600");

    // After a restart the stored set is what the device reports.
    d.restart();
    wait_polls(&cloud, &d, "/device/uploadDevInfo", 2);
    let up = cloud.requests_to("/device/uploadDevInfo").pop().unwrap().body;
    assert_eq!(text(&up, "openDoorTimeDelayMs"), "1200", "{up}");
    assert_eq!(text(&up, "voiceVolume"), "7", "{up}");
    assert_eq!(text(&up, "entranceSerialBaudRate"), "9600", "{up}");
    assert_healthy(&cloud, &mut d);
}

#[test]
fn upload_dev_info_is_sent_once_at_start_with_every_parameter() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "[params]\nvoiceVolume = \"6\"\n");
    wait_polls(&cloud, &d, "/device/uploadDevInfo", 1);
    wait_more_polls(&cloud, &d, "/device/open", 3);
    assert_eq!(cloud.count("/device/uploadDevInfo"), 1, "{}", cloud.dump());

    let all = cloud.requests();
    let reg = all.iter().position(|r| r.path == "/device/register").unwrap();
    let up = all.iter().position(|r| r.path == "/device/uploadDevInfo").unwrap();
    assert!(reg < up, "uploadDevInfo before register\n{}", cloud.dump());
    let body = &all[up].body;
    let keys: std::collections::BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected: std::collections::BTreeSet<&str> = UPLOAD_DEV_INFO_KEYS.iter().copied().collect();
    expected.extend(["msgType", "deviceNo", "version"]);
    let missing: Vec<_> = expected.difference(&keys).collect();
    let extra: Vec<_> = keys.difference(&expected).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, not in the spec {extra:?}");
    assert_eq!(text(body, "msgType"), "uploadDevInfo");
    assert_eq!(text(body, "deviceNo"), DEVICE_NO);
    assert_eq!(text(body, "deviceNumber"), DEVICE_NO);
    assert_eq!(text(body, "version"), "V1.0");
    assert_eq!(text(body, "httpMsgUrl"), cloud.url());
    assert_eq!(text(body, "openDoorTimeDelayMs"), "1000", "spec default");
    assert_eq!(text(body, "faceRFIDCardEnable"), "0", "spec default");
    assert_eq!(text(body, "voiceVolume"), "6", "the local [params] value");
    assert_healthy(&cloud, &mut d);
}

#[test]
fn broadcast_drives_announcer_wiegand_and_rs485() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "");
    let id = cloud.push_command(
        "/device/broadcast",
        json!({"isonlineBroadcast": "1", "voiceMsg": "欢迎光临", "displayMsg": "Welcome", "wgData": "8899",
               "rs485Data": "/gMBAAI="}),
    );
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "msgType"), "onlineBroadcastResp", "{r}");
    assert_eq!(text(&r, "errorCode"), "100", "{r}");

    let said = actions(&d, "announce");
    assert!(said.iter().any(|a| a["voice"] == "欢迎光临" && a["display"] == "Welcome"), "{said:?}");

    let wg = actions(&d, "wiegand_out");
    assert_eq!(wg.len(), 1, "{wg:?}");
    let frame: Vec<bool> = wg[0]["frame"].as_str().unwrap().bytes().map(|b| b == b'1').collect();
    assert_eq!(wg[0]["bits"].as_u64(), Some(frame.len() as u64));
    assert!(frame.len() == 26 || frame.len() == 34, "{wg:?}");
    let data = &frame[1..frame.len() - 1];
    let number = data.iter().fold(0u64, |n, &b| (n << 1) | u64::from(b));
    assert_eq!(number, 8899, "Wiegand frame {wg:?} does not carry card 8899");
    let ones = |bits: &[bool]| bits.iter().filter(|&&b| b).count();
    let half = data.len() / 2;
    assert_eq!((ones(&data[..half]) + usize::from(frame[0])) % 2, 0, "leading even parity");
    assert_eq!((ones(&data[half..]) + usize::from(frame[frame.len() - 1])) % 2, 1, "trailing odd parity");

    let rs485 = actions(&d, "rs485_out");
    assert_eq!(rs485.len(), 1, "{rs485:?}");
    assert_eq!(rs485[0]["hex"], "fe03010002", "rs485Data /gMBAAI= is fe 03 01 00 02");

    // A voice-only broadcast touches neither line.
    let id = cloud.push_command("/device/broadcast", json!({"isonlineBroadcast": "1", "voiceMsg": "请通行"}));
    assert_eq!(text(&wait_result(&cloud, &d, &id), "errorCode"), "100");
    assert!(actions(&d, "announce").iter().any(|a| a["voice"] == "请通行"));
    assert_eq!(actions(&d, "wiegand_out").len(), 1);
    assert_eq!(actions(&d, "rs485_out").len(), 1);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn set_time_sets_the_clock_for_the_device_time_zone() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "");
    // timeStamp is the device's local time; timeZone defaults to 8 (China Standard Time).
    let id =
        cloud.push_command("/device/setTime", json!({"isonlineSetTime": "1", "timeStamp": "2098-03-01 12:00:00.0"}));
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "msgType"), "onlineSetTimeResp", "{r}");
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    let clock = actions(&d, "set_clock");
    assert_eq!(clock.len(), 1, "{clock:?}");
    assert_eq!(clock[0]["unix_ms"], local_to_unix_ms("2098-03-01 12:00:00.000", 8), "{clock:?}");

    // The cloud moves the device to UTC-5; the next calibration is read in that zone.
    let id = cloud.push_command("/device/setDevInfo", json!({"isOnlineSetDevInfo": "1", "timeZone": "-5"}));
    assert_eq!(text(&wait_result(&cloud, &d, &id), "errorCode"), "100");
    let id =
        cloud.push_command("/device/setTime", json!({"isonlineSetTime": "1", "timeStamp": "2098-03-01 12:00:00.5"}));
    assert_eq!(text(&wait_result(&cloud, &d, &id), "errorCode"), "100");
    let clock = actions(&d, "set_clock");
    assert_eq!(clock.len(), 2, "{clock:?}");
    assert_eq!(clock[1]["unix_ms"], local_to_unix_ms("2098-03-01 12:00:00.500", -5), "{clock:?}");
    assert_healthy(&cloud, &mut d);
}

#[test]
fn photo_sends_a_decodable_snapshot_and_601_without_a_recent_face() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "");
    let b64 = base64::engine::general_purpose::STANDARD;

    // photoType 1: any camera frame, as a JPEG that decodes.
    let id = cloud.push_command("/face/photo", json!({"isonlineGetPhoto": "1", "photoType": "1"}));
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "msgType"), "onlineGetPhotoResp");
    assert_eq!(text(&r, "errorCode"), "100", "{}", text(&r, "msg"));
    let jpeg = b64.decode(text(&r, "photo")).expect("photo is Base64");
    let mut decoder = jpeg_decoder::Decoder::new(&jpeg[..]);
    let pixels = decoder.decode().expect("photo is a JPEG that decodes");
    let info = decoder.info().unwrap();
    assert!(info.width > 0 && info.height > 0 && !pixels.is_empty(), "{info:?}");
    let snaps = actions(&d, "snap");
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(snaps[0]["bytes"].as_u64(), Some(jpeg.len() as u64));

    // photoType 0 needs a face: none was seen, so 601 and no photo.
    let id = cloud.push_command("/face/photo", json!({"isonlineGetPhoto": "1", "photoType": "0"}));
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "errorCode"), "601", "{r}");
    assert_eq!(text(&r, "photo"), "", "a photo without a face");
    assert_eq!(actions(&d, "snap").len(), 1, "a frame was taken for photoType 0");

    // A face seen by the recognizer (a stranger with a photo) is what photoType 0 sends.
    let mut face = Vec::new();
    jpeg_encoder::Encoder::new(&mut face, 80)
        .encode(&[200u8; 16 * 16 * 3], 16, 16, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a constant image");
    let file = d.dir().join("face.jpg");
    std::fs::write(&file, &face).unwrap();
    let out = d.cli(&["stranger", "--photo", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let id = cloud.push_command("/face/photo", json!({"isonlineGetPhoto": "1", "photoType": "0"}));
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    assert_eq!(b64.decode(text(&r, "photo")).unwrap(), face, "photoType 0 did not send the recent face");
    assert_healthy(&cloud, &mut d);
}

#[test]
fn results_are_retried_until_2xx_with_the_same_msg_id() {
    let cloud = Arc::new(MockCloud::start());
    // When a poll delivers one of these commands, the next two requests to its endpoint (the
    // result POSTs: the scheduler does nothing else meanwhile) are answered HTTP 500. Installed
    // before the command's answer is written, so no result can slip through first.
    let weak = Arc::downgrade(&cloud);
    cloud.on_request(move |r| {
        if !r.is_result() && r.answer.contains("msgID=retry-") {
            if let Some(c) = weak.upgrade() {
                c.misbehave(Some(&r.path), Misbehaviour::Status(500), 2);
            }
        }
    });
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    // Three ways a result is sent: finish() (open), report() of setDevInfo and of a photo.
    let commands = [
        ("/device/open", json!({"msgID": "retry-open", "isOnlineOpen": "1", "msg": ""})),
        ("/device/setDevInfo", json!({"msgID": "retry-set", "isOnlineSetDevInfo": "1", "voiceVolume": "3"})),
        ("/face/photo", json!({"msgID": "retry-photo", "isonlineGetPhoto": "1", "photoType": "1"})),
    ];
    for (path, cmd) in &commands {
        cloud.push_command(path, cmd.clone());
    }
    for (path, cmd) in &commands {
        let id = text(cmd, "msgID");
        assert!(
            cloud.wait_until(DEADLINE, |c| c.results_for(id).len() >= 3),
            "{id}: {} result POSTs\n{}\n{}",
            cloud.results_for(id).len(),
            cloud.dump(),
            d.log_tail(40)
        );
        // A later poll of the same endpoint: the result is delivered, no more re-sends.
        wait_more_polls(&cloud, &d, path, 1);
        let sent: Vec<_> = cloud
            .requests_to(path)
            .into_iter()
            .filter(|r| r.is_result() && r.field("msgID").as_deref() == Some(id))
            .collect();
        assert_eq!(sent.len(), 3, "{id}\n{}", cloud.dump());
        assert!(sent[..2].iter().all(|r| r.answer.contains("Status(500)")), "{}", cloud.dump());
        assert!(!sent[2].answer.contains("misbehaviour"), "{}", cloud.dump());
        assert!(sent.iter().all(|r| r.body == sent[0].body), "a re-sent result differs from the first");
        assert_eq!(text(&sent[0].body, "errorCode"), "100", "{}", sent[0].body);
    }
    // Re-sending a result does not execute the command again.
    assert_eq!(relay_count(&d, "open"), 1, "{:?}", actions(&d, "relay"));
    assert_eq!(actions(&d, "snap").len(), 1);
    assert_healthy(&cloud, &mut d);
    d.kill9();
    // The hook holds only a weak reference, but drop it before the mock goes.
    cloud.on_request(|_| {});
}

// ---------------------------------------------------------------------------------------------
// Misbehaviours: each ends with the daemon alive and polling, a later command executed.

#[test]
fn survives_http_500() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    misbehave_everywhere(&cloud, &d, Misbehaviour::Status(500));
    open_executes(&cloud, &d);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn survives_a_body_that_is_not_json() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    misbehave_everywhere(&cloud, &d, Misbehaviour::NotJson);
    open_executes(&cloud, &d);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn survives_json_with_nulls_and_numbers() {
    let cloud = MockCloud::start();
    // Even registerResp: "100" -> 100, every service flag and interval a number.
    cloud.misbehave(Some("/device/register"), Misbehaviour::NullsAndNumbers, 1);
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    assert_eq!(cloud.count("/device/register"), 1, "the numeric registerResp was refused\n{}", cloud.dump());
    // Idle answers of every endpoint.
    misbehave_everywhere(&cloud, &d, Misbehaviour::NullsAndNumbers);
    // A command whose flag is the number 1 and whose msg is null is still a command.
    let cmd = json!({"msgID": "nn-open", "isOnlineOpen": "1", "msg": ""});
    let id = misbehave_on_command(&cloud, &d, "/device/open", Misbehaviour::NullsAndNumbers, cmd);
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    wait_pulses(&d, 1);
    // Device parameters as numbers ("300" -> 300) and an empty text as null.
    let cmd = json!({"msgID": "nn-set", "isOnlineSetDevInfo": "1", "openDoorTimeDelayMs": "300",
                     "overlayDeviceName": ""});
    let id = misbehave_on_command(&cloud, &d, "/device/setDevInfo", Misbehaviour::NullsAndNumbers, cmd);
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    assert_eq!(shown_param(&d, "openDoorTimeDelayMs"), "300");
    // photoType as the number 1.
    let cmd = json!({"msgID": "nn-photo", "isonlineGetPhoto": "1", "photoType": "1"});
    let id = misbehave_on_command(&cloud, &d, "/face/photo", Misbehaviour::NullsAndNumbers, cmd);
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "errorCode"), "100", "{}", text(&r, "msg"));
    assert!(!text(&r, "photo").is_empty(), "no photo for photoType 1");
    open_executes(&cloud, &d);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn survives_answers_larger_than_max_response_bytes() {
    let cloud = MockCloud::start();
    let extra = "[cloud]\nmax_response_bytes = 1000000\n[params]\nopenDoorTimeDelayMs = \"200\"\n";
    let mut d = start(&cloud, extra);
    // A command in a 2 MB answer, over the 1 MB limit here: dropped unread, never executed.
    let cmd = json!({"msgID": "huge-open", "isOnlineOpen": "1", "msg": ""});
    misbehave_on_command(&cloud, &d, "/device/open", Misbehaviour::BigBody(2_000_000), cmd);
    // An answer that never ends is cut off at the same limit.
    let served = misbehaved(&cloud);
    cloud.misbehave(Some("/device/open"), Misbehaviour::EndlessChunked, 1);
    wait_misbehaved(&cloud, &d, served + 1);
    open_executes(&cloud, &d);
    assert!(cloud.results_for("huge-open").is_empty(), "{}", cloud.dump());
    assert_eq!(relay_count(&d, "open"), 1, "{:?}", actions(&d, "relay"));
    let dropped = d.log_text().lines().filter(|l| l.contains("/device/open: answer larger than")).count();
    assert!(dropped >= 2, "{dropped} oversized answers logged\n{}", d.log_tail(40));
    assert_healthy(&cloud, &mut d);
}

#[test]
fn survives_an_unknown_msg_type() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    misbehave_everywhere(&cloud, &d, Misbehaviour::UnknownMsgType);
    // An open command under a msgType the protocol does not define is not an open command.
    let cmd = json!({"msgID": "unknown-open", "isOnlineOpen": "1", "msg": ""});
    misbehave_on_command(&cloud, &d, "/device/open", Misbehaviour::UnknownMsgType, cmd);
    open_executes(&cloud, &d);
    assert!(cloud.results_for("unknown-open").is_empty(), "{}", cloud.dump());
    assert_eq!(relay_count(&d, "open"), 1, "the unknown message opened the door: {:?}", actions(&d, "relay"));
    assert_healthy(&cloud, &mut d);
}

#[test]
fn survives_a_2_mb_body() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    misbehave_everywhere(&cloud, &d, Misbehaviour::BigBody(2_000_000));
    // 2 MB is within the default 4 MiB limit: the padded command is read and executed.
    let cmd = json!({"msgID": "big-open", "isOnlineOpen": "1", "msg": "big"});
    let id = misbehave_on_command(&cloud, &d, "/device/open", Misbehaviour::BigBody(2_000_000), cmd);
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    wait_pulses(&d, 1);
    open_executes(&cloud, &d);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn survives_an_answer_later_than_the_read_timeout() {
    let cloud = MockCloud::start();
    // The whole exchange may take connect + read = 2 s; the command comes after 6 s.
    let extra = "[cloud]\nconnect_timeout_ms = 1000\nread_timeout_ms = 1000\n[params]\nopenDoorTimeDelayMs = \"200\"\n";
    let mut d = start(&cloud, extra);
    let cmd = json!({"msgID": "late-open", "isOnlineOpen": "1", "msg": ""});
    misbehave_on_command(&cloud, &d, "/device/open", Misbehaviour::Delay(Duration::from_secs(6)), cmd);
    let slow = cloud.requests_to("/device/open").into_iter().find(|r| r.answer.starts_with("misbehaviour")).unwrap();
    // The daemon gave up on the slow answer: it polls again on another connection, while the
    // mock still holds the first one.
    assert!(
        cloud.wait_until(DEADLINE, |c| c
            .requests_to("/device/open")
            .iter()
            .any(|r| r.at > slow.at && r.conn != slow.conn)),
        "{}",
        cloud.dump()
    );
    open_executes(&cloud, &d);
    assert!(cloud.results_for("late-open").is_empty(), "{}", cloud.dump());
    assert_eq!(relay_count(&d, "open"), 1, "{:?}", actions(&d, "relay"));
    assert_healthy(&cloud, &mut d);
}

#[test]
fn survives_dropped_connections() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    misbehave_everywhere(&cloud, &d, Misbehaviour::Drop);
    open_executes(&cloud, &d);
    assert_healthy(&cloud, &mut d);
}

#[test]
fn survives_refused_connections_for_a_while() {
    let cloud = MockCloud::start();
    let mut d = start(&cloud, "[params]\nopenDoorTimeDelayMs = \"200\"\n");
    let refusals = |d: &Daemon| {
        d.log_text()
            .lines()
            .filter(|l| l.contains("/device/open:") && l.to_ascii_lowercase().contains("refused"))
            .count()
    };
    let before = refusals(&d);
    cloud.pause();
    // The daemon polled device/open and was refused (its warning says so) ...
    assert!(d.wait_until(DEADLINE, |d| refusals(d) > before), "no refused connection in the log\n{}", d.log_tail(40));
    let during = cloud.count("/device/open");
    // ... and a command queued while the cloud was away is executed once it is back.
    let id = cloud.push_command("/device/open", json!({"isOnlineOpen": "1", "msg": "back"}));
    cloud.resume();
    let r = wait_result(&cloud, &d, &id);
    assert_eq!(text(&r, "errorCode"), "100", "{r}");
    assert!(cloud.count("/device/open") > during);
    wait_pulses(&d, 1);
    open_executes(&cloud, &d);
    assert_healthy(&cloud, &mut d);
}
