//! Tests of the mock cloud itself (and of the harness's config builder), with ureq as the
//! client where it can observe the behaviour and raw TCP where the bytes matter.

mod common;

use common::{ConfigBuilder, Misbehaviour, MockCloud, RecordReply};
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).timeout_global(Some(T)).build().into()
}

/// POSTs JSON, returns the status and the body text.
fn post(agent: &ureq::Agent, url: &str, body: &Value) -> (u16, String) {
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/json;charset=UTF-8")
        .send(body.to_string())
        .expect("request failed");
    let status = resp.status().as_u16();
    let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().expect("body");
    (status, text)
}

fn post_json(agent: &ureq::Agent, url: &str, body: &Value) -> Value {
    let (status, text) = post(agent, url, body);
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn poll(msg_type: &str) -> Value {
    json!({"msgType": msg_type, "deviceNo": "FGTEST01", "version": "V1.0"})
}

/// Sends raw bytes on a fresh connection and reads until the server closes it.
fn raw_exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read failed after {} bytes: {e}", out.len()),
        }
    }
}

/// The server closed (or reset) the connection; a read timeout is a failure.
fn assert_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 1];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the connection is still open: {other:?}"),
    }
}

fn post_request(path: &str, body: &str, close: bool) -> Vec<u8> {
    let conn = if close { "Connection: close\r\n" } else { "" };
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{conn}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn split_response(bytes: &[u8]) -> (String, Vec<u8>) {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("no end of headers");
    (String::from_utf8_lossy(&bytes[..end]).into_owned(), bytes[end + 4..].to_vec())
}

#[test]
fn register_answers_100_and_the_configured_services() {
    let cloud = MockCloud::start();
    let a = agent();
    let reg = json!({"msgType": "register", "deviceNo": "FGTEST01", "registerTime": "1508845817"});
    let r = post_json(&a, &format!("{}/device/register", cloud.url()), &reg);
    assert_eq!(r["msgType"], "registerResp");
    assert_eq!(r["errorCode"], "100");
    assert_eq!(r["deviceNo"], "FGTEST01");

    cloud.set_register_resp(MockCloud::fast_services());
    let r = post_json(&a, &format!("{}/device/register", cloud.url()), &reg);
    for service in ["openService", "personService", "getRecordService", "heatbeatService", "setTimeService"] {
        assert_eq!(r[service], "1", "{service} in {r}");
    }
    assert_eq!(r["openServiceInterval"], "1");
    assert_eq!(r["deviceNo"], "FGTEST01");
    assert_eq!(cloud.count("/device/register"), 2);
}

#[test]
fn heartbeat_and_device_info_get_their_answers() {
    let cloud = MockCloud::start();
    let a = agent();
    let r =
        post_json(&a, &format!("{}/device/heatbeat", cloud.url()), &json!({"msgType": "keepAlive", "deviceNo": "D1"}));
    assert_eq!(r["msgType"], "keepAliveResp");
    assert_eq!(r["errorCode"], "100");
    assert_eq!(r["deviceNo"], "D1");
    let r = post_json(&a, &format!("{}/device/uploadDevInfo", cloud.url()), &json!({"msgType": "uploadDevInfo"}));
    assert_eq!(r["msgType"], "uploadDevInfoResp");

    cloud.set_fixed_reply("/device/heatbeat", json!({"msgType": "keepAliveResp", "errorCode": "200"}));
    let r = post_json(&a, &format!("{}/device/heatbeat", cloud.url()), &json!({"msgType": "keepAlive"}));
    assert_eq!(r["errorCode"], "200");
    cloud.clear_fixed_reply("/device/heatbeat");
    let r = post_json(&a, &format!("{}/device/heatbeat", cloud.url()), &json!({"msgType": "keepAlive"}));
    assert_eq!(r["errorCode"], "100");
}

#[test]
fn polls_get_queued_commands_in_order_then_nothing_to_do() {
    let cloud = MockCloud::start();
    let a = agent();
    let url = format!("{}/device/open", cloud.url());
    let id1 = cloud.push_command("/device/open", json!({"isOnlineOpen": "1", "msg": "welcome"}));
    let id2 = cloud.push_command("device/open", json!({"msgID": "abc", "isOnlineOpen": "1", "msg": "two"}));
    assert_eq!(id2, "abc");
    assert_ne!(id1, id2);
    assert_eq!(cloud.pending("/device/open"), 2);

    let c1 = post_json(&a, &url, &poll("onlineOpenReq"));
    assert_eq!(c1["msgType"], "onlineOpenResp");
    assert_eq!(c1["msgID"], id1.as_str());
    assert_eq!(c1["deviceNo"], "FGTEST01");
    assert_eq!(c1["isOnlineOpen"], "1");
    assert_eq!(c1["msg"], "welcome");
    let c2 = post_json(&a, &url, &poll("onlineOpenReq"));
    assert_eq!(c2["msgID"], "abc");
    assert_eq!(c2["msg"], "two");
    let idle = post_json(&a, &url, &poll("onlineOpenReq"));
    assert_eq!(idle["msgType"], "onlineOpenResp");
    assert_eq!(idle["isOnlineOpen"], "0");
    assert_eq!(cloud.pending("/device/open"), 0);

    // Queues are per endpoint, and every poll endpoint has its nothing-to-do command.
    let idle = post_json(&a, &format!("{}/face/clear", cloud.url()), &poll("onlineDeleteSnapRecordReq"));
    assert_eq!(idle["msgType"], "onlineDeleteSnapRecordResp");
    assert_eq!(idle["isonlineDeleteRecord"], "0");
    let idle = post_json(&a, &format!("{}/person/operate", cloud.url()), &poll("registerPersonInfoReq"));
    assert_eq!(idle["isRegisterPersonInfo"], "0");
}

#[test]
fn exact_commands_are_sent_as_pushed() {
    let cloud = MockCloud::start();
    let a = agent();
    cloud.push_command_exact("/device/reboot", json!({"isOnlineReboot": 1}));
    let c = post_json(&a, &format!("{}/device/reboot", cloud.url()), &poll("onlineRebootReq"));
    assert_eq!(c, json!({"isOnlineReboot": 1}));
}

#[test]
fn a_poll_with_the_wrong_msg_type_is_refused_and_keeps_the_command() {
    let cloud = MockCloud::start();
    let a = agent();
    let url = format!("{}/device/open", cloud.url());
    cloud.push_command("/device/open", json!({"isOnlineOpen": "1"}));
    let (status, text) = post(&a, &url, &poll("onlineRebootReq"));
    assert_eq!(status, 400);
    assert!(text.contains("203"), "{text}");
    assert_eq!(cloud.pending("/device/open"), 1);
    let (status, _) = post(&a, &format!("{}/no/such", cloud.url()), &poll("x"));
    assert_eq!(status, 404);
}

#[test]
fn results_are_acknowledged_and_found_by_msg_id() {
    let cloud = MockCloud::start();
    let a = agent();
    let url = format!("{}/device/open", cloud.url());
    cloud.push_command("/device/open", json!({"isOnlineOpen": "1"}));
    let result = json!({"msgType": "onlineOpenResp", "msgID": "000001", "deviceNo": "FGTEST01", "errorCode": "100", "msg": "ok"});
    let ack = post_json(&a, &url, &result);
    assert_eq!(ack["errorCode"], "100");
    // The result did not consume the queued command.
    assert_eq!(cloud.pending("/device/open"), 1);
    assert_eq!(cloud.results_for("000001"), vec![result.clone()]);
    assert!(cloud.results_for("000002").is_empty());
    let reqs = cloud.requests_to("/device/open");
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].is_result());
    assert_eq!(reqs[0].header("content-type"), Some("application/json;charset=UTF-8"));
    assert_eq!(cloud.requests().len(), 1);
    cloud.clear_requests();
    assert!(cloud.requests().is_empty());
    assert!(cloud.results_for("000001").is_empty());
}

#[test]
fn records_are_echoed_and_the_reply_is_configurable() {
    let cloud = MockCloud::start();
    let a = agent();
    let url = format!("{}/face/record", cloud.url());
    let rec = |id: &str| json!({"msgType": "uploadRecord", "msgID": id, "deviceNo": "FGTEST01", "snapType": "4"});

    let r = post_json(&a, &url, &rec("1"));
    assert_eq!(r["msgType"], "uploadRecordResp");
    assert_eq!(r["msgID"], "1");
    assert_eq!(r["errorCode"], "100");
    assert!(r.get("controlState").is_none());

    cloud.set_record_reply(RecordReply::WrongMsgId { times: 2 });
    assert_ne!(post_json(&a, &url, &rec("2"))["msgID"], "2");
    assert_ne!(post_json(&a, &url, &rec("2"))["msgID"], "2");
    assert_eq!(post_json(&a, &url, &rec("2"))["msgID"], "2");

    cloud.set_record_reply(RecordReply::control("open", "welcome"));
    let r = post_json(&a, &url, &rec("3"));
    assert_eq!((&r["msgID"], &r["controlState"], &r["msg"]), (&json!("3"), &json!("open"), &json!("welcome")));

    cloud.set_record_reply(RecordReply::ErrorCode("200".into()));
    let r = post_json(&a, &url, &rec("4"));
    assert_eq!((&r["msgID"], &r["errorCode"]), (&json!("4"), &json!("200")));

    cloud.set_record_reply(RecordReply::Custom(json!({"errorCode": "100", "displayMsg": "hi"})));
    let r = post_json(&a, &url, &rec("5"));
    assert_eq!((&r["msgID"], &r["displayMsg"], &r["msgType"]), (&json!("5"), &json!("hi"), &json!("uploadRecordResp")));

    cloud.set_record_reply(RecordReply::Status(500));
    assert_eq!(post(&a, &url, &rec("6")).0, 500);
    assert_eq!(post(&a, &url, &rec("6")).0, 500);

    let ids: Vec<String> = cloud.records().iter().map(|r| r["msgID"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["1", "2", "2", "2", "3", "4", "5", "6", "6"]);
}

#[test]
fn streamed_items_are_acknowledged_with_their_index_and_one_wrong_index_on_demand() {
    let cloud = MockCloud::start();
    let a = agent();
    let url = format!("{}/person/info", cloud.url());
    let item = |i: u32| {
        json!({"msgType": "onlineGetRegisterResp", "msgID": "000007", "token": "t", "errorCode": "100",
               "personNum": "5", "index": i.to_string(), "idNumber": "20001", "deviceNo": "FGTEST01"})
    };
    cloud.wrong_index_once("/person/info", 3);
    let mut answered = Vec::new();
    for i in [0, 1, 2, 3, 3, 4] {
        let r = post_json(&a, &url, &item(i));
        assert_eq!(r["msgType"], "onlineGetRegisterResult");
        assert_eq!(r["msgID"], "000007");
        answered.push(r["index"].as_str().unwrap().to_string());
    }
    assert_eq!(answered, ["0", "1", "2", "4", "3", "4"]);
    assert_eq!(cloud.stream_items("/person/info").len(), 6);

    let r = post_json(
        &a,
        &format!("{}/face/get", cloud.url()),
        &json!({"msgID": "9", "token": "t", "errorCode": "100", "index": 0}),
    );
    assert_eq!(r["msgType"], "onlineGetRecordResult");
    assert_eq!(r["index"], "0");
}

#[test]
fn an_injected_status_hits_only_its_path_and_only_n_times_and_keeps_the_queue() {
    let cloud = MockCloud::start();
    let a = agent();
    let open = format!("{}/device/open", cloud.url());
    cloud.push_command("/device/open", json!({"isOnlineOpen": "1"}));
    cloud.misbehave(Some("/device/open"), Misbehaviour::Status(500), 2);
    assert_eq!(post(&a, &open, &poll("onlineOpenReq")).0, 500);
    let reg = post_json(&a, &format!("{}/device/register", cloud.url()), &json!({"msgType": "register"}));
    assert_eq!(reg["errorCode"], "100");
    assert_eq!(post(&a, &open, &poll("onlineOpenReq")).0, 500);
    let c = post_json(&a, &open, &poll("onlineOpenReq"));
    assert_eq!(c["isOnlineOpen"], "1", "the command survives the failed answers");
    assert!(cloud.requests_to("/device/open")[0].answer.contains("Status(500)"));
}

#[test]
fn a_misbehaviour_for_any_path_hits_every_path() {
    let cloud = MockCloud::start();
    let a = agent();
    cloud.misbehave(None, Misbehaviour::Status(503), 2);
    assert_eq!(post(&a, &format!("{}/device/register", cloud.url()), &json!({})).0, 503);
    assert_eq!(post(&a, &format!("{}/face/record", cloud.url()), &json!({})).0, 503);
    assert_eq!(post(&a, &format!("{}/device/register", cloud.url()), &json!({})).0, 200);
    cloud.misbehave(None, Misbehaviour::Status(500), 5);
    cloud.clear_misbehaviour();
    assert_eq!(post(&a, &format!("{}/device/register", cloud.url()), &json!({})).0, 200);
}

#[test]
fn not_json_nulls_and_numbers_and_unknown_msg_type_are_observable() {
    let cloud = MockCloud::start();
    let a = agent();
    let url = format!("{}/device/register", cloud.url());
    cloud.set_register_resp(MockCloud::fast_services());
    cloud.misbehave(Some("/device/register"), Misbehaviour::NotJson, 1);
    cloud.misbehave(Some("/device/register"), Misbehaviour::NullsAndNumbers, 1);
    cloud.misbehave(Some("/device/register"), Misbehaviour::UnknownMsgType, 1);

    let (status, text) = post(&a, &url, &json!({"msgType": "register", "deviceNo": ""}));
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    let r = post_json(&a, &url, &json!({"msgType": "register", "deviceNo": ""}));
    assert_eq!(r["errorCode"], 100);
    assert_eq!(r["openServiceInterval"], 1);
    assert_eq!(r["deviceNo"], Value::Null);
    assert!(r.as_object().unwrap().values().any(Value::is_null));

    let r = post_json(&a, &url, &json!({"msgType": "register"}));
    assert_ne!(r["msgType"], "registerResp");
    assert_eq!(r["errorCode"], "100");

    let r = post_json(&a, &url, &json!({"msgType": "register"}));
    assert_eq!(r["msgType"], "registerResp");
}

#[test]
fn big_bodies_have_the_asked_size() {
    let cloud = MockCloud::start();
    let a = agent();
    let url = format!("{}/device/open", cloud.url());
    cloud.push_command("/device/open", json!({"isOnlineOpen": "1"}));
    cloud.misbehave(Some("/device/open"), Misbehaviour::BigBody(2 << 20), 1);
    let r = post_json(&a, &url, &poll("onlineOpenReq"));
    assert_eq!(r["isOnlineOpen"], "1", "the padded answer is still the command");
    let len = serde_json::to_vec(&r).unwrap().len();
    assert!(((2 << 20) - 16..=(2 << 20) + 16).contains(&len), "{len}");

    // Many MB: a client with a 4 MiB limit refuses it.
    cloud.misbehave(Some("/device/open"), Misbehaviour::BigBody(24 << 20), 1);
    let mut resp = a.post(&url).send(poll("onlineOpenReq").to_string()).unwrap();
    assert_eq!(resp.body_mut().content_length(), Some(24 << 20));
    assert!(resp.body_mut().with_config().limit(4 << 20).read_to_vec().is_err());
}

#[test]
fn a_delayed_answer_times_a_client_out_and_arrives_for_a_patient_one() {
    let cloud = MockCloud::start();
    let url = format!("{}/device/heatbeat", cloud.url());
    cloud.misbehave(None, Misbehaviour::Delay(Duration::from_secs(600)), 1);
    let impatient: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_millis(300))).build().into();
    assert!(impatient.post(&url).send("{}").is_err());

    cloud.misbehave(None, Misbehaviour::Delay(Duration::from_millis(200)), 1);
    let r = post_json(&agent(), &url, &json!({"msgType": "keepAlive"}));
    assert_eq!(r["msgType"], "keepAliveResp");
    // Dropping the mock must not wait out the 600-second delay still running.
}

#[test]
fn drop_closes_the_connection_without_an_answer() {
    let cloud = MockCloud::start();
    cloud.misbehave(Some("/device/register"), Misbehaviour::Drop, 1);
    let got = raw_exchange(cloud.port(), &post_request("/device/register", "{}", false));
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(agent().post(format!("{}/device/register", cloud.url())).send("{}").is_ok());
    assert_eq!(cloud.count("/device/register"), 2, "the dropped request is recorded too");
}

#[test]
fn an_endless_chunked_body_keeps_coming_and_a_limit_stops_it() {
    let cloud = MockCloud::start();
    cloud.misbehave(None, Misbehaviour::EndlessChunked, 2);
    let mut s = TcpStream::connect(("127.0.0.1", cloud.port())).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(&post_request("/device/open", "{}", false)).unwrap();
    let mut got = vec![0u8; 8 << 20];
    s.read_exact(&mut got).unwrap();
    let (head, _) = split_response(&got);
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    drop(s);

    let mut resp = agent().post(format!("{}/device/open", cloud.url())).send("{}").unwrap();
    assert!(resp.body_mut().with_config().limit(4 << 20).read_to_vec().is_err());
}

#[test]
fn a_drip_sends_the_bounded_number_of_bytes_then_closes() {
    let cloud = MockCloud::start();
    cloud.misbehave(None, Misbehaviour::Drip { every: Duration::from_millis(20), bytes: 12 }, 1);
    let got = raw_exchange(cloud.port(), &post_request("/device/heatbeat", "{}", false));
    assert_eq!(got, b"HTTP/1.1 200");
    assert_eq!(Misbehaviour::drip(5), Misbehaviour::Drip { every: Duration::from_secs(1), bytes: 5 });

    // A drip longer than the answer delivers all of it.
    cloud.misbehave(None, Misbehaviour::Drip { every: Duration::from_millis(1), bytes: 100_000 }, 1);
    let got = raw_exchange(cloud.port(), &post_request("/device/heatbeat", "{}", true));
    let (head, body) = split_response(&got);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["msgType"], "keepAliveResp");
}

#[test]
fn a_redirect_points_to_the_given_url() {
    let cloud = MockCloud::start();
    cloud.serve_file("/fw/b.bin", b"firmware".to_vec());
    let target = format!("{}/fw/b.bin", cloud.url());
    cloud.misbehave(Some("/fw/a.bin"), Misbehaviour::Redirect(target.clone()), 2);
    let resp = agent().get(format!("{}/fw/a.bin", cloud.url())).call().unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(resp.headers().get("location").unwrap().to_str().unwrap(), target);

    let following: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(T)).build().into();
    let mut resp = following.get(format!("{}/fw/a.bin", cloud.url())).call().unwrap();
    assert_eq!(resp.body_mut().read_to_vec().unwrap(), b"firmware");
}

#[test]
fn pause_refuses_connections_and_resume_serves_on_the_same_port() {
    let cloud = MockCloud::start();
    let port = cloud.port();
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.set_read_timeout(Some(T)).unwrap();
    let a = agent();
    post_json(&a, &format!("{}/device/heatbeat", cloud.url()), &json!({}));

    cloud.pause();
    let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_closed(&mut idle);
    assert!(a.post(format!("{}/device/heatbeat", cloud.url())).send("{}").is_err());

    cloud.resume();
    assert_eq!(cloud.port(), port);
    let r = post_json(&a, &format!("{}/device/heatbeat", cloud.url()), &json!({}));
    assert_eq!(r["msgType"], "keepAliveResp");
    // Pausing twice and resuming twice is harmless.
    cloud.pause();
    cloud.pause();
    cloud.resume();
    cloud.resume();
    post_json(&a, &format!("{}/device/heatbeat", cloud.url()), &json!({}));
}

#[test]
fn a_keep_alive_client_reuses_one_connection() {
    let cloud = MockCloud::start();
    let a = agent();
    for _ in 0..20 {
        post_json(&a, &format!("{}/device/heatbeat", cloud.url()), &json!({"msgType": "keepAlive"}));
    }
    let conns: Vec<u64> = cloud.requests().iter().map(|r| r.conn).collect();
    assert_eq!(conns.len(), 20);
    assert!(conns.iter().all(|c| *c == conns[0]), "{conns:?}");

    // Two requests pipelined on one raw connection, the second asking to close.
    let mut both = post_request("/device/heatbeat", "{}", false);
    both.extend(post_request("/device/heatbeat", "{}", true));
    let got = String::from_utf8(raw_exchange(cloud.port(), &both)).unwrap();
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 2, "{got}");
    assert!(got.contains("Connection: close"), "{got}");
}

#[test]
fn chunked_and_non_json_request_bodies_are_recorded() {
    let cloud = MockCloud::start();
    let body = r#"{"msgType":"keepAlive","deviceNo":"CHUNKY"}"#;
    let (a, b) = body.split_at(10);
    let req = format!(
        "POST /device/heatbeat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let got = raw_exchange(cloud.port(), req.as_bytes());
    let (_, answer) = split_response(&got);
    let v: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(v["deviceNo"], "CHUNKY");
    assert_eq!(cloud.requests()[0].body["deviceNo"], "CHUNKY");

    raw_exchange(cloud.port(), &post_request("/device/heatbeat", "not json {", true));
    let r = &cloud.requests()[1];
    assert_eq!(r.body, Value::Null);
    assert_eq!(r.raw.as_deref(), Some(&b"not json {"[..]));
}

#[test]
fn files_are_served_with_ranges() {
    let cloud = MockCloud::start();
    let file: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    cloud.serve_file("/fw.bin", file.clone());
    let a = agent();
    let url = format!("{}/fw.bin", cloud.url());
    let get = |range: Option<&str>| {
        let mut req = a.get(&url);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        let mut resp = req.call().unwrap();
        let cr = resp.headers().get("content-range").map(|v| v.to_str().unwrap().to_string());
        (resp.status().as_u16(), cr, resp.body_mut().read_to_vec().unwrap())
    };
    assert_eq!(get(None), (200, None, file.clone()));
    assert_eq!(get(Some("bytes=990-")), (206, Some("bytes 990-999/1000".into()), file[990..].to_vec()));
    assert_eq!(get(Some("bytes=5-9")), (206, Some("bytes 5-9/1000".into()), file[5..10].to_vec()));
    assert_eq!(get(Some("bytes=-3")), (206, Some("bytes 997-999/1000".into()), file[997..].to_vec()));
    assert_eq!(get(Some("bytes=1000-")).0, 416);
    assert_eq!(get(Some("bytes=0-1,5-6")).0, 200);
    cloud.ignore_range(true);
    assert_eq!(get(Some("bytes=990-")), (200, None, file.clone()));
    assert_eq!(a.get(format!("{}/missing.bin", cloud.url())).call().unwrap().status().as_u16(), 404);
    assert_eq!(cloud.requests_to("/fw.bin")[1].header("range"), Some("bytes=990-"));
}

#[test]
fn downloads_can_be_cut_after_k_bytes_n_times() {
    let cloud = MockCloud::start();
    let file = vec![7u8; 5000];
    cloud.serve_file("/fw.bin", file.clone());
    cloud.cut_downloads_after(1234, 2);
    for _ in 0..2 {
        let got = raw_exchange(cloud.port(), b"GET /fw.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        let (head, body) = split_response(&got);
        assert!(head.contains("Content-Length: 5000"), "{head}");
        assert_eq!(body.len(), 1234);
    }
    let got = raw_exchange(
        cloud.port(),
        b"GET /fw.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1234-\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split_response(&got);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body, &file[1234..]);

    // A client notices the cut.
    cloud.cut_downloads_after(10, 1);
    let mut resp = agent().get(format!("{}/fw.bin", cloud.url())).call().unwrap();
    assert!(resp.body_mut().read_to_vec().is_err());
}

#[test]
fn dropping_the_mock_stops_it() {
    let cloud = MockCloud::start();
    let port = cloud.port();
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.set_read_timeout(Some(T)).unwrap();
    let a = agent();
    post_json(&a, &format!("{}/device/heatbeat", cloud.url()), &json!({}));
    cloud.misbehave(None, Misbehaviour::EndlessChunked, 1);
    let mut endless = a.post(format!("{}/device/open", cloud.url())).send("{}").unwrap();
    drop(cloud);
    assert_closed(&mut idle);
    assert_eq!(TcpStream::connect(("127.0.0.1", port)).unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert!(endless.body_mut().with_config().limit(u64::MAX).read_to_vec().is_err());
}

#[test]
fn wait_until_returns_false_at_the_deadline_and_true_when_met() {
    let cloud = MockCloud::start();
    assert!(!cloud.wait_until(Duration::from_millis(30), |c| c.count("/device/register") > 0));
    post_json(&agent(), &format!("{}/device/register", cloud.url()), &json!({}));
    assert!(cloud.wait_for_requests("/device/register", 1, T));
    assert!(cloud.dump().contains("POST /device/register"), "{}", cloud.dump());
}

#[test]
fn the_config_builder_merges_extra_toml_over_the_base() {
    let dir = std::path::Path::new("/tmp/fg");
    let mut c = ConfigBuilder::new("http://127.0.0.1:1", dir);
    c.merge_toml("[cloud]\nretry_max_ms = 5\n[recognizer]\nenroll_command = \"/bin/true\"\n");
    c.set("storage", "max_records", 10).remove("log", "level");
    let t: toml::Table = c.render().parse().unwrap();
    assert_eq!(t["device"]["device_no"].as_str(), Some(common::DEVICE_NO));
    assert_eq!(t["cloud"]["url"].as_str(), Some("http://127.0.0.1:1"));
    assert_eq!(t["cloud"]["retry_max_ms"].as_integer(), Some(5));
    assert_eq!(t["cloud"]["retry_initial_ms"].as_integer(), Some(50));
    assert_eq!(t["recognizer"]["enroll_command"].as_str(), Some("/bin/true"));
    assert_eq!(t["storage"]["dir"].as_str(), Some("/tmp/fg"));
    assert_eq!(t["storage"]["max_records"].as_integer(), Some(10));
    assert_eq!(t["board"]["profile"].as_str(), Some("sim"));
    assert_eq!(t["control"]["socket"].as_str(), Some("/tmp/fg/control.sock"));
    assert!(t["log"].get("level").is_none());
    assert_eq!(c.get("cloud", "retry_max_ms").and_then(toml::Value::as_integer), Some(5));
}

#[test]
fn the_daemon_runner_writes_its_config_and_logs_and_cleans_up() {
    let cloud = MockCloud::start();
    let mut d = common::Daemon::start(&cloud.url(), "[log]\nlevel = \"info\"\n");
    let cfg: toml::Table = std::fs::read_to_string(d.config_path()).unwrap().parse().unwrap();
    assert_eq!(cfg["cloud"]["url"].as_str(), Some(cloud.url().as_str()));
    assert_eq!(cfg["storage"]["dir"].as_str(), d.dir().to_str());
    assert_eq!(cfg["log"]["level"].as_str(), Some("info"));
    assert!(d.pid().is_some());
    // Whatever the binary does with this config, the runner can stop it and start it again.
    d.stop();
    assert!(!d.is_running());
    d.restart();
    d.kill9();
    assert!(!d.is_running());
    assert!(d.log_text().contains("=== harness: start #2 ==="), "{}", d.log_text());
    let dir = d.dir().to_path_buf();
    drop(d);
    assert!(!dir.exists());
}

#[test]
fn the_actuator_log_leaves_out_a_line_still_being_written() {
    let d = common::Daemon::prepare(|_| String::new());
    assert!(d.actuator_log().is_empty());
    std::fs::write(d.dir().join("sim-actuators.jsonl"), "{\"relay\":\"open\"}\n\n{\"relay\":\"close\"}\n{\"relay\":")
        .unwrap();
    assert_eq!(d.actuator_log(), vec![json!({"relay": "open"}), json!({"relay": "close"})]);
}

#[test]
fn the_request_log_can_be_bounded_and_long_strings_elided() {
    let cloud = MockCloud::start();
    let a = agent();
    let url = format!("{}/device/heatbeat", cloud.url());
    for i in 0..5 {
        post_json(&a, &url, &json!({"n": i}));
    }
    cloud.keep_last(3);
    assert_eq!(cloud.requests().iter().map(|r| r.body["n"].as_i64().unwrap()).collect::<Vec<_>>(), [2, 3, 4]);
    cloud.elide_strings_over(10);
    let photo = "A".repeat(5000);
    let r = post_json(&a, &url, &json!({"n": 5, "deviceNo": photo.clone(), "short": "0123456789"}));
    assert_eq!(r["deviceNo"].as_str(), Some(photo.as_str()), "answers see the full body");
    let reqs = cloud.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2].body["deviceNo"], "<5000 bytes elided>");
    assert_eq!(reqs[2].body["short"], "0123456789");
}
