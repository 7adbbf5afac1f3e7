//! A hostile cloud: bodies of many megabytes, endless chunked bodies, a slow drip, wrong types
//! everywhere, msgID floods, redirects, and https with a certificate from the wrong CA.
//!
//! Each test runs the real daemon against the mock cloud (or a TLS front of it), does the
//! hostile thing, then proves the daemon still works: a remote open is executed and reported,
//! a record is delivered. Peak memory is the daemon's VmHWM from /proc; run with
//! `--nocapture` to see the measured numbers.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::{DEADLINE, Daemon, Misbehaviour, MockCloud, RecordReply};
use serde_json::{Value, json};

const OPEN: &str = "/device/open";
const MIB: u64 = 1024 * 1024;

/// Bound for the daemon's peak RSS while the cloud sends 64 MB bodies: the daemon reads at
/// most `max_response_bytes` (4 MiB) of an answer, so a peak near the size of the bodies
/// means it buffered them.
const PEAK_RSS_LIMIT: u64 = 64 * MIB;

/// The daemon's peak resident set size (VmHWM) in bytes.
fn peak_rss(daemon: &Daemon) -> u64 {
    let pid = daemon.pid().expect("the daemon runs");
    status_kib(pid, "VmHWM:") * 1024
}

/// The daemon's current resident set size (VmRSS) in bytes.
fn rss(daemon: &Daemon) -> u64 {
    let pid = daemon.pid().expect("the daemon runs");
    status_kib(pid, "VmRSS:") * 1024
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("cannot read /proc/PID/status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in status"));
    line.trim_start_matches(field).trim().trim_end_matches("kB").trim().parse().expect("a number of kB")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// Starts a daemon with every service polled each second and waits for its registration.
fn registered_daemon(cloud: &MockCloud, extra_toml: &str) -> Daemon {
    cloud.set_register_resp(MockCloud::fast_services());
    let daemon = Daemon::start(&cloud.url(), extra_toml);
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "no registration\n{}", cloud.dump());
    daemon
}

/// Queues a remote open and waits until the daemon reported it done and pulsed the relay:
/// the proof that the daemon still works after whatever came before.
fn remote_open_works(cloud: &MockCloud, daemon: &Daemon) {
    let opens_before = relay_opens(daemon);
    // Not digits only: a misbehaving mock may turn those into a number, echoed as its digits.
    static OPENS: AtomicUsize = AtomicUsize::new(0);
    let msg_id = format!("open-{}", OPENS.fetch_add(1, Ordering::SeqCst));
    cloud.push_command(OPEN, json!({"msgID": msg_id, "isOnlineOpen": "1", "msg": "hostile test"}));
    let reported = cloud.wait_until(DEADLINE, |c| !c.results_for(&msg_id).is_empty());
    assert!(reported, "remote open {msg_id} was not reported\n{}\n{}", cloud.dump(), daemon.log_tail(40));
    let result = &cloud.results_for(&msg_id)[0];
    assert_eq!(result["errorCode"], "100", "{result}");
    // A pulse while the relay is open only extends it, so wait for an "open" after the last
    // "closed" if the relay was open already.
    let opened = daemon.wait_until(DEADLINE, |d| relay_opens(d) > opens_before || relay_is_open(d));
    assert!(opened, "the relay did not open for {msg_id}: {:?}", daemon.actuator_log());
}

fn relay_states(daemon: &Daemon) -> Vec<String> {
    daemon
        .actuator_log()
        .iter()
        .filter(|a| a["kind"] == "relay")
        .filter_map(|a| a["state"].as_str().map(str::to_string))
        .collect()
}

fn relay_opens(daemon: &Daemon) -> usize {
    relay_states(daemon).iter().filter(|s| *s == "open").count()
}

fn relay_is_open(daemon: &Daemon) -> bool {
    relay_states(daemon).last().is_some_and(|s| s == "open")
}

/// Presents an unknown card through the control socket and returns the record's msgID.
fn card_record(daemon: &Daemon, card: &str) -> String {
    let out = daemon.cli(&["card", card]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "facegate card failed: {said} {}", String::from_utf8_lossy(&out.stderr));
    said.split("record ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| panic!("no record msgID in {said:?}"))
        .to_string()
}

/// The pending records as `facegate records count` says ("N kept, N pending, N evicted").
fn pending_records(daemon: &Daemon) -> Option<u64> {
    let out = daemon.cli(&["records", "count"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split(',').find_map(|part| part.trim().strip_suffix(" pending")?.trim().parse().ok())
}

/// The uploads of the record with this msgID (re-sends included).
fn uploads_of(cloud: &MockCloud, msg_id: &str) -> usize {
    cloud.records().iter().filter(|r| r["msgID"] == msg_id).count()
}

/// Waits until the mock answered `n` requests to `path` with the given misbehaviour (their
/// log line starts with "misbehaviour <name>").
fn wait_misbehaved(cloud: &MockCloud, path: &str, name: &str, n: usize) -> bool {
    let tag = format!("misbehaviour {name}");
    cloud.wait_until(DEADLINE, |c| c.requests_to(path).iter().filter(|r| r.answer.starts_with(&tag)).count() >= n)
}

#[test]
fn bodies_of_many_megabytes_are_dropped_with_bounded_memory() {
    let cloud = MockCloud::start();
    cloud.elide_strings_over(256);
    let daemon = registered_daemon(&cloud, "");
    remote_open_works(&cloud, &daemon);
    let before = peak_rss(&daemon);

    // Under the 4 MiB limit: a 3 MB answer still carries its command, which is executed. The
    // cloud is down while both are set up, so that the padded answer is the one with the command.
    cloud.pause();
    cloud.misbehave(Some(OPEN), Misbehaviour::BigBody(3_000_000), 1);
    let big_id = cloud.push_command(OPEN, json!({"msgID": "big-open", "isOnlineOpen": "1"}));
    cloud.resume();
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for(&big_id).is_empty()), "{}", cloud.dump());
    let carried = cloud
        .requests_to(OPEN)
        .iter()
        .any(|r| r.answer.starts_with("misbehaviour BigBody(3000000)") && r.answer.contains("msgID=big-open"));
    assert!(carried, "the command did not come in the 3 MB answer\n{}", cloud.dump());

    // Far over it: 64 MB answers to polls, to the heartbeat and to a record upload.
    cloud.misbehave(Some(OPEN), Misbehaviour::BigBody(64_000_000), 2);
    cloud.misbehave(Some("/person/operate"), Misbehaviour::BigBody(64_000_000), 1);
    cloud.misbehave(Some("/face/record"), Misbehaviour::BigBody(64_000_000), 1);
    let record = card_record(&daemon, "7001");
    assert!(wait_misbehaved(&cloud, OPEN, "BigBody", 3), "{}", cloud.dump());
    assert!(wait_misbehaved(&cloud, "/person/operate", "BigBody", 1), "{}", cloud.dump());
    assert!(wait_misbehaved(&cloud, "/face/record", "BigBody", 1), "{}", cloud.dump());
    let logged = daemon.wait_until(DEADLINE, |d| d.log_text().contains("answer larger than"));
    assert!(logged, "the oversized answers were not logged\n{}", daemon.log_tail(40));

    // The record whose answer was too large is sent again and delivered.
    let delivered = cloud.wait_until(DEADLINE, |c| uploads_of(c, &record) >= 2);
    assert!(delivered, "record {record} was not re-sent\n{}", cloud.dump());
    remote_open_works(&cloud, &daemon);
    let after = peak_rss(&daemon);
    println!(
        "64 MB bodies: daemon peak RSS {} before, {} after (current {})",
        mib(before),
        mib(after),
        mib(rss(&daemon))
    );
    assert!(after < PEAK_RSS_LIMIT, "peak RSS {} while the cloud sent 64 MB bodies", mib(after));
}

#[test]
fn endless_chunked_answers_are_cut_off() {
    let cloud = MockCloud::start();
    let daemon = registered_daemon(&cloud, "");
    let before = peak_rss(&daemon);
    cloud.misbehave(Some(OPEN), Misbehaviour::EndlessChunked, 2);
    cloud.misbehave(Some("/device/heatbeat"), Misbehaviour::EndlessChunked, 1);
    assert!(wait_misbehaved(&cloud, OPEN, "EndlessChunked", 2), "{}", cloud.dump());
    assert!(wait_misbehaved(&cloud, "/device/heatbeat", "EndlessChunked", 1), "{}", cloud.dump());
    // The queued command was not consumed by the endless answers: it is delivered now.
    remote_open_works(&cloud, &daemon);
    let after = peak_rss(&daemon);
    println!("endless chunked bodies: daemon peak RSS {} before, {} after", mib(before), mib(after));
    assert!(after < PEAK_RSS_LIMIT, "peak RSS {} after endless answers", mib(after));
    assert!(daemon.log_text().contains("answer larger than"), "{}", daemon.log_tail(40));
}

#[test]
fn a_slow_drip_times_out_and_the_daemon_goes_on() {
    let cloud = MockCloud::start();
    // Whole answers within 1.5 s (plus 1 s to connect): a drip of one byte per second, which
    // would take minutes, is abandoned.
    let daemon = registered_daemon(&cloud, "[cloud]\nconnect_timeout_ms = 1000\nread_timeout_ms = 1500\n");
    remote_open_works(&cloud, &daemon);
    cloud.misbehave(Some(OPEN), Misbehaviour::drip(1_000), 1);
    cloud.misbehave(Some("/face/record"), Misbehaviour::drip(1_000), 1);
    let record = card_record(&daemon, "7002");
    assert!(wait_misbehaved(&cloud, OPEN, "Drip", 1), "{}", cloud.dump());
    // The dripped record answer is abandoned and the record sent again under its msgID.
    let resent = cloud.wait_until(DEADLINE, |c| uploads_of(c, &record) >= 2);
    assert!(resent, "record {record} was not re-sent after the drip\n{}", cloud.dump());
    // Polling goes on after the abandoned poll: the next polls of the same service arrive.
    let drip_at = cloud.requests_to(OPEN).iter().position(|r| r.answer.starts_with("misbehaviour Drip")).unwrap();
    let polled_again = cloud.wait_until(DEADLINE, |c| c.requests_to(OPEN).len() > drip_at + 2);
    assert!(polled_again, "{}", cloud.dump());
    remote_open_works(&cloud, &daemon);
    let logged = daemon.log_text();
    assert!(logged.contains("/device/open: timeout"), "the abandoned poll was not logged\n{}", daemon.log_tail(40));
    assert!(logged.contains(&format!("record {record} not delivered (timeout")), "{}", daemon.log_tail(40));
}

#[test]
fn wrong_types_everywhere_are_survived() {
    let cloud = MockCloud::start();
    // registerResp with numbers, booleans and nulls where the spec says strings.
    let mut resp = MockCloud::fast_services();
    for (k, v) in resp.as_object_mut().unwrap().iter_mut() {
        if k.ends_with("Service") {
            *v = json!(true);
        } else if let Some(n) = v.as_str().and_then(|s| s.parse::<u64>().ok()) {
            *v = json!(n);
        }
    }
    resp["registerTime"] = Value::Null;
    resp["errorCode"] = json!(100);
    cloud.set_register_resp(resp);
    let daemon = Daemon::start(&cloud.url(), "");
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "{}", cloud.dump());

    // Every answer for a while: digit strings as numbers, "" as null, an extra null field.
    cloud.misbehave(None, Misbehaviour::NullsAndNumbers, 60);
    // (msgIDs with letters: a digit-only one arrives as a number and is echoed as its digits.)
    let count_id = cloud.push_command("/person/count", json!({"msgID": "n-count", "isonlineGetRegisterCount": "1"}));
    let set_id = cloud.push_command(
        "/device/setDevInfo",
        json!({"msgID": "n-set", "isOnlineSetDevInfo": "1", "voiceVolume": "7", "x": ""}),
    );
    let got =
        cloud.wait_until(DEADLINE, |c| !c.results_for(&count_id).is_empty() && !c.results_for(&set_id).is_empty());
    assert!(got, "{}", cloud.dump());
    assert_eq!(cloud.results_for(&count_id)[0]["errorCode"], "100");
    assert_eq!(cloud.results_for(&set_id)[0]["errorCode"], "100");

    // Shapes no leniency can map: objects and arrays where strings are due. Nothing may be done
    // for them, and each leaves a log line naming the field.
    let bad = [
        (
            OPEN,
            json!({"msgType": "onlineOpenResp", "msgID": "bad-open", "isOnlineOpen": {"now": 1}}),
            "/device/open: malformed answer: field `isOnlineOpen` is an object where a string is due",
        ),
        (
            "/device/setDevInfo",
            json!({"msgType": "onlineSetDevInfoResp", "msgID": "bad-set", "isOnlineSetDevInfo": "1",
                   "voiceVolume": [1, 2]}),
            "/device/setDevInfo: malformed answer: field `voiceVolume` is an array where a string is due",
        ),
        (
            "/device/setTime",
            json!({"msgType": "onlineSetTimeResp", "msgID": "bad-time", "isonlineSetTime": "1",
                   "timeStamp": ["2020-04-09", "12:01:20"]}),
            "/device/setTime: malformed answer: field `timeStamp` is an array where a string is due",
        ),
        (
            "/face/get",
            json!([{"msgType": "onlineGetRecordResp"}]),
            "/face/get: malformed answer: body is a JSON array where a JSON object was expected",
        ),
        (
            "/person/count",
            json!("onlineGetRegisterCountResp"),
            "/person/count: malformed answer: body is a JSON string where a JSON object was expected",
        ),
        (
            "/device/broadcast",
            json!({"msgType": 17, "isonlineBroadcast": "1"}),
            "/device/broadcast: malformed answer: unexpected msgType \"17\"",
        ),
    ];
    for (path, body, _) in &bad {
        cloud.push_command_exact(path, body.clone());
    }
    // A person command whose person is mistyped still carries a msgID the cloud waits on: it is
    // answered 300 with the decode error rather than left unanswered.
    cloud.push_command_exact(
        "/person/operate",
        json!({"msgType": "registerPersonInfoResp", "msgID": "bad-person", "isRegisterPersonInfo": "1",
               "personInfoData": [{"operateType": "0", "idNumber": "1", "name": {"first": "x"}}]}),
    );
    // Wrong but decodable: a person whose photo is a number, and one with an impossible date.
    let person_id = cloud.push_command(
        "/person/operate",
        json!({"msgID": "n-person", "isRegisterPersonInfo": 1, "personInfoData": [{"operateType": 0, "idNumber": 1001, "name": 7,
               "validDateStart": "2019_02_30", "validDateEnd": "2029_08_09", "priority": 0,
               "registerPhoto1": 12345}]}),
    );
    let done = cloud.wait_until(DEADLINE, |c| bad.iter().all(|(p, ..)| c.pending(p) == 0));
    assert!(done, "the malformed commands were not all fetched\n{}", cloud.dump());
    for (_, _, line) in &bad {
        let found = daemon.wait_until(DEADLINE, |d| d.log_text().contains(line));
        assert!(found, "no log line says {line}\n{}", daemon.log_tail(60));
    }
    for id in ["bad-open", "bad-set", "bad-time"] {
        assert!(cloud.results_for(id).is_empty(), "{id} was answered: {:?}", cloud.results_for(id));
    }
    assert!(cloud.wait_until(DEADLINE, |c| !c.results_for("bad-person").is_empty()), "{}", cloud.dump());
    let answer = &cloud.results_for("bad-person")[0];
    assert_eq!(answer["errorCode"], "300", "{answer}");
    assert!(answer["msg"].as_str().unwrap_or("").contains("personInfoData[0].name"), "{answer}");
    let rejected = cloud.wait_until(DEADLINE, |c| !c.results_for(&person_id).is_empty());
    assert!(rejected, "{}", cloud.dump());
    let code = cloud.results_for(&person_id)[0]["errorCode"].as_str().unwrap_or("").to_string();
    assert!(code == "300" || code == "303", "a person with a numeric photo and 30 February got {code}");
    let listed = daemon.cli(&["persons", "count"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "0", "{listed:?}");
    remote_open_works(&cloud, &daemon);
}

#[test]
fn msg_id_floods_are_answered_one_by_one() {
    let cloud = MockCloud::start();
    cloud.keep_last(20_000);
    let daemon = registered_daemon(&cloud, "");
    let before = peak_rss(&daemon);
    // 1500 commands back to back, some msgIDs repeated, some huge (64 KiB).
    let mut ids = Vec::new();
    for i in 0..1500 {
        let id = match i % 100 {
            0 => "x".repeat(64 * 1024) + &i.to_string(),
            1..=4 => "repeated".to_string(),
            _ => format!("flood-{i:05}"),
        };
        cloud.push_command("/person/count", json!({"msgID": id, "isonlineGetRegisterCount": "1"}));
        ids.push(id);
    }
    let drained = cloud.wait_until(Duration::from_secs(120), |c| {
        c.pending("/person/count") == 0
            && c.requests_to("/person/count").iter().filter(|r| r.is_result()).count() >= 1500
    });
    assert!(drained, "the flood was not drained: {} left", cloud.pending("/person/count"));
    let results: Vec<String> = cloud
        .requests_to("/person/count")
        .iter()
        .filter(|r| r.is_result())
        .map(|r| r.field("msgID").unwrap_or_default())
        .collect();
    assert_eq!(results, ids, "results are not one per command, in order");

    // Record answers that echo the wrong msgID, many times: the record is re-sent until the
    // cloud echoes its msgID, never marked delivered before.
    cloud.set_record_reply(RecordReply::WrongMsgId { times: 25 });
    let record = card_record(&daemon, "7003");
    let delivered = cloud.wait_until(DEADLINE, |c| uploads_of(c, &record) >= 26);
    assert!(delivered, "record {record} sent {} times\n{}", uploads_of(&cloud, &record), daemon.log_tail(30));
    let status = daemon.wait_until(DEADLINE, |d| pending_records(d) == Some(0));
    assert!(status, "{:?}", daemon.cli(&["records", "count"]));
    remote_open_works(&cloud, &daemon);
    let after = peak_rss(&daemon);
    println!("msgID flood of 1500 commands: daemon peak RSS {} before, {} after", mib(before), mib(after));
    assert!(after < PEAK_RSS_LIMIT, "peak RSS {}", mib(after));
}

#[test]
fn redirects_are_not_followed() {
    let cloud = MockCloud::start();
    let elsewhere = MockCloud::start();
    elsewhere.set_register_resp(MockCloud::fast_services());
    cloud.set_register_resp(MockCloud::fast_services());
    let to = |path: &str| Misbehaviour::Redirect(format!("{}{path}", elsewhere.url()));
    cloud.misbehave(Some("/device/register"), to("/device/register"), 2);
    cloud.misbehave(Some(OPEN), to(OPEN), 2);
    cloud.misbehave(Some("/face/record"), to("/face/record"), 1);
    let daemon = Daemon::start(&cloud.url(), "");
    // The third registration is answered normally.
    assert!(cloud.wait_for_requests("/device/register", 3, DEADLINE), "{}", cloud.dump());
    let record = card_record(&daemon, "7004");
    assert!(wait_misbehaved(&cloud, OPEN, "Redirect", 2), "{}", cloud.dump());
    let resent = cloud.wait_until(DEADLINE, |c| uploads_of(c, &record) >= 2);
    assert!(resent, "record {record} was not re-sent after a redirect\n{}", cloud.dump());
    remote_open_works(&cloud, &daemon);
    assert!(elsewhere.requests().is_empty(), "the daemon followed a redirect:\n{}", elsewhere.dump());
}

/// A baseline grayscale JPEG of `width` x `height` whose scan holds one block: a few bytes
/// that declare as many pixels as the header says.
fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() + 2) as u16;
        [&[0xff, marker][..], &len.to_be_bytes(), payload].concat()
    }
    let mut sof = vec![8];
    sof.extend_from_slice(&height.to_be_bytes());
    sof.extend_from_slice(&width.to_be_bytes());
    sof.extend_from_slice(&[1, 1, 0x11, 0]);
    let one_code = |class: u8| [&[class][..], &[1], &[0; 15], &[0]].concat();
    [
        &[0xff, 0xd8][..],
        &segment(0xdb, &[&[0u8][..], &[1; 64]].concat()),
        &segment(0xc0, &sof),
        &segment(0xc4, &one_code(0x00)),
        &segment(0xc4, &one_code(0x10)),
        &segment(0xda, &[1, 1, 0, 0, 0x3f, 0]),
        &[0x3f, 0xff, 0xd9],
    ]
    .concat()
}

/// Limits the daemon's address space: terminals have 512 MiB to 2 GiB, and 32-bit ARM cannot
/// address 4 GiB at all.
fn limit_address_space(daemon: &Daemon, bytes: u64) {
    let pid = daemon.pid().expect("the daemon runs") as libc::pid_t;
    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
    // SAFETY: prlimit(2) on our own child with a valid rlimit and no old-limit pointer.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_AS, &limit, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit failed: {}", io::Error::last_os_error());
}

#[test]
fn a_photo_declaring_gigapixels_is_refused_with_bounded_memory() {
    use base64::Engine as _;
    let cloud = MockCloud::start();
    cloud.elide_strings_over(256);
    let daemon = registered_daemon(&cloud, "");
    limit_address_space(&daemon, 2048 * MIB);
    // 141 bytes that declare 65500 x 65500 pixels (4 GiB decoded).
    let bomb = base64::engine::general_purpose::STANDARD.encode(jpeg_declaring(65500, 65500));
    let person = |id: &str, photo: &str| {
        json!({"isRegisterPersonInfo": "1", "personInfoData": [{"operateType": "0", "idNumber": id,
               "name": "bomb", "validDateStart": "2019_08_09", "validDateEnd": "2099_08_09", "priority": "0",
               "registerPhoto1": photo, "registerPhotoID1": "1"}]})
    };
    // The same header with 8 x 8 pixels is a real photo: the test's JPEG is sound.
    let small = base64::engine::general_purpose::STANDARD.encode(jpeg_declaring(8, 8));
    let ok_id = cloud.push_command("/person/operate", person("3001", &small));
    let bomb_id = cloud.push_command("/person/operate", person("3002", &bomb));
    let answered = cloud.wait_until(DEADLINE, |c| !c.results_for(&bomb_id).is_empty());
    let running = daemon.pid().is_some_and(|pid| Path::new(&format!("/proc/{pid}/status")).exists());
    assert!(answered, "the daemon died or hung on the photo (running: {running})\n{}", daemon.log_tail(20));
    assert_eq!(cloud.results_for(&ok_id)[0]["errorCode"], "100", "{}", daemon.log_tail(20));
    assert_eq!(cloud.results_for(&bomb_id)[0]["errorCode"], "303", "{}", daemon.log_tail(20));
    remote_open_works(&cloud, &daemon);
    println!("gigapixel JPEG: daemon peak RSS {}", mib(peak_rss(&daemon)));
    assert!(peak_rss(&daemon) < PEAK_RSS_LIMIT, "peak RSS {}", mib(peak_rss(&daemon)));
}

// ---------------------------------------------------------------------------------------------
// https

/// A certificate authority made for one test.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let key = rcgen::KeyPair::generate().expect("a CA key");
        Ca { issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("a CA certificate") }
    }

    /// A server certificate for 127.0.0.1 and its key, signed by this CA.
    fn server_cert(&self) -> (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("server params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "facegate test cloud");
        let key = rcgen::KeyPair::generate().expect("a server key");
        let cert = params.signed_by(&key, &self.issuer).expect("a server certificate");
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("a PKCS#8 key");
        (cert.der().clone(), key)
    }

    fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.issuer.pem()).expect("cannot write the CA file");
    }
}

/// https in front of the mock cloud: terminates TLS and relays the bytes to it.
struct TlsFront {
    addr: SocketAddr,
    handshakes_ok: Arc<AtomicUsize>,
    handshakes_failed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TlsFront {
    fn start(backend: SocketAddr, ca: &Ca) -> TlsFront {
        let (cert, key) = ca.server_cert();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("a server config");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let handshakes_ok = Arc::new(AtomicUsize::new(0));
        let handshakes_failed = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed, quit) = (handshakes_ok.clone(), handshakes_failed.clone(), stop.clone());
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if quit.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (config, ok, failed, quit) = (config.clone(), ok.clone(), failed.clone(), quit.clone());
                thread::spawn(move || relay(conn, backend, config, &ok, &failed, &quit));
            }
        });
        TlsFront { addr, handshakes_ok, handshakes_failed, stop, accept: Some(accept) }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// One connection: the TLS handshake, then bytes both ways until either side closes.
fn relay(
    mut tcp: TcpStream,
    backend: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    ok: &AtomicUsize,
    failed: &AtomicUsize,
    stop: &AtomicBool,
) {
    let Ok(mut tls) = rustls::ServerConnection::new(config) else { return };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    while tls.is_handshaking() {
        if tls.complete_io(&mut tcp).is_err() {
            failed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    ok.fetch_add(1, Ordering::SeqCst);
    let Ok(mut back) = TcpStream::connect(backend) else { return };
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(10)));
    let _ = back.set_read_timeout(Some(Duration::from_millis(10)));
    let _ = back.set_nodelay(true);
    let _ = tcp.set_nodelay(true);
    let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if back.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
        match back.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).and_then(|()| stream.flush()).is_err() {
                    return;
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

#[test]
fn https_with_a_certificate_from_the_wrong_ca_is_refused() {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    let backend: SocketAddr = format!("127.0.0.1:{}", cloud.port()).parse().unwrap();
    let right = Ca::new("facegate test CA");
    let wrong = Ca::new("another CA");
    let front = TlsFront::start(backend, &right);

    // root_ca names another CA: every handshake fails, nothing reaches the cloud.
    let mut refused = Daemon::start_with(&front.url(), |c| {
        let pem = c.get("storage", "dir").and_then(|v| v.as_str()).map(|d| Path::new(d).join("wrong-ca.pem"));
        let pem = pem.expect("storage dir");
        wrong.write_pem(&pem);
        c.set("cloud", "root_ca", pem.display().to_string());
    });
    let tried = refused.wait_until(DEADLINE, |_| front.handshakes_failed.load(Ordering::SeqCst) >= 2);
    assert!(tried, "the daemon did not try https twice\n{}", refused.log_tail(30));
    let logged = refused.wait_until(DEADLINE, |d| {
        d.log_text().contains("registration failed (io: invalid peer certificate: UnknownIssuer)")
    });
    assert!(logged, "the refused certificate was not logged\n{}", refused.log_tail(30));
    assert_eq!(front.handshakes_ok.load(Ordering::SeqCst), 0, "a handshake succeeded with the wrong CA");
    assert_eq!(cloud.count("/device/register"), 0, "{}", cloud.dump());
    println!("wrong CA: {}", refused.log_text().lines().find(|l| l.contains("registration failed")).unwrap_or(""));
    refused.stop();

    // Without root_ca the built-in roots apply, which do not know a private CA either.
    let failed_before = front.handshakes_failed.load(Ordering::SeqCst);
    let mut default_roots = Daemon::start(&front.url(), "");
    let tried =
        default_roots.wait_until(DEADLINE, |_| front.handshakes_failed.load(Ordering::SeqCst) >= failed_before + 2);
    assert!(tried, "{}", default_roots.log_tail(30));
    assert_eq!(front.handshakes_ok.load(Ordering::SeqCst), 0, "a handshake succeeded without the CA");
    assert_eq!(cloud.count("/device/register"), 0, "{}", cloud.dump());
    default_roots.stop();

    // The right CA: registration over https succeeds and the session works.
    let daemon = Daemon::start_with(&front.url(), |c| {
        let pem = c.get("storage", "dir").and_then(|v| v.as_str()).map(|d| Path::new(d).join("ca.pem"));
        let pem = pem.expect("storage dir");
        right.write_pem(&pem);
        c.set("cloud", "root_ca", pem.display().to_string());
    });
    assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "{}", daemon.log_tail(30));
    remote_open_works(&cloud, &daemon);
    assert!(front.handshakes_ok.load(Ordering::SeqCst) >= 1);
}
