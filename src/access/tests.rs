use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Weekday};

use super::*;
use crate::model::{CardNumber, Credential, Person, Priority};

/// 2024-05-15 is a Wednesday.
fn at(day: u32, hour: u32, minute: u32, second: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 5, day).unwrap().and_hms_opt(hour, minute, second).unwrap()
}

fn wednesday_noon() -> NaiveDateTime {
    at(15, 12, 0, 0)
}

fn person(id: &str, priority: Priority) -> Person {
    let mut extra = BTreeMap::new();
    extra.insert("sex".to_string(), "男".to_string());
    extra.insert("birthday".to_string(), "1997年4月3日".to_string());
    extra.insert("phone".to_string(), "18868681819".to_string());
    Person {
        id_number: id.to_string(),
        name: "张三".to_string(),
        card: format!("88{id}"),
        password: format!("pw{id}"),
        priority,
        valid_start: "2019_08_09".to_string(),
        valid_end: "2029_8_9".to_string(),
        pass_times: Default::default(),
        extra,
    }
}

fn with_times(mut p: Person, wednesday: &str) -> Person {
    p.pass_times[2] = wednesday.to_string();
    p
}

fn with_dates(mut p: Person, start: &str, end: &str) -> Person {
    p.valid_start = start.to_string();
    p.valid_end = end.to_string();
    p
}

fn face(id: &str) -> Credential {
    Credential::Face { id_number: id.to_string(), score: Some(0.93), photo: None }
}

fn card(number: &str) -> Credential {
    Credential::Card(CardNumber::parse(number).unwrap())
}

fn stranger() -> Credential {
    Credential::Stranger { photo: None }
}

fn policy() -> AccessPolicy {
    AccessPolicy::default()
}

fn card_alone_policy() -> AccessPolicy {
    AccessPolicy { face_card_mode: FaceCardMode::FaceOrCard, ..AccessPolicy::default() }
}

fn device_windows(text: &str) -> AccessPolicy {
    AccessPolicy { device_windows: DeviceWindows::parse(text).unwrap(), ..AccessPolicy::default() }
}

/// What a case expects: open, await_cloud, record, snapType, compareResult, verdict.
type Expect = (bool, bool, bool, &'static str, &'static str, Verdict);

/// A table row: name, credential, the person found for it, policy, local time, expectation.
type Case = (&'static str, Credential, Option<Person>, AccessPolicy, NaiveDateTime, Expect);

fn denied(reason: DenyReason) -> Verdict {
    Verdict::Denied(reason)
}

/// Shorthands for the decision table.
fn p0() -> Person {
    person("2001", Priority::Windowed)
}

fn with_priority(priority: Priority) -> Person {
    person("2001", priority)
}

fn with_policy(change: impl FnOnce(&mut AccessPolicy)) -> AccessPolicy {
    let mut policy = AccessPolicy::default();
    change(&mut policy);
    policy
}

fn password(text: &str) -> Credential {
    Credential::Password(text.to_string())
}

#[test]
#[rustfmt::skip]
fn decision_table() {
    use DenyReason::*;
    use Verdict::{Allowed, AwaitingFace, CloudDecides};
    let noon = wednesday_noon();
    let always_open = || with_policy(|p| p.always_open_door = true);
    let no_auto_open = || with_policy(|p| p.auto_open_door = false);
    let mut monday_only = p0();
    monday_only.pass_times[0] = "06_00,07_00".into();
    let mut no_password = p0();
    no_password.password.clear();
    // Expect: (open, await_cloud, record, snapType, compareResult, verdict).
    let cases: Vec<Case> = vec![
        // Priorities.
        ("priority 0, all-day windows", face("2001"), Some(p0()), policy(), noon,
            (true, false, true, "0", "0", Allowed)),
        ("priority 0, inside its window", face("2001"),
            Some(with_times(p0(), "11_00,12_30")), policy(), noon,
            (true, false, true, "0", "0", Allowed)),
        ("priority 0, outside its window", face("2001"),
            Some(with_times(p0(), "06_00,09_00,18_00,21_00")), policy(), noon,
            (false, false, true, "0", "2", denied(OutsidePassTime))),
        ("priority 0, outside the device window", face("2001"), Some(p0()),
            device_windows("06:00-09:00"), noon,
            (false, false, true, "0", "2", denied(OutsideDevicePassTime))),
        ("priority 0, unreadable passTime", face("2001"),
            Some(with_times(p0(), "25_00,26_00")), policy(), noon,
            (false, false, true, "0", "2", denied(MalformedPassTime))),
        ("priority 1, blacklist", face("2001"), Some(with_priority(Priority::Blacklist)),
            policy(), noon,
            (false, false, true, "0", "4", denied(Blacklisted))),
        ("priority 2 ignores person windows", face("2001"),
            Some(with_times(with_priority(Priority::AnyTime), "06_00,09_00")), policy(), noon,
            (true, false, true, "0", "0", Allowed)),
        ("priority 2 ignores device windows", face("2001"),
            Some(with_priority(Priority::AnyTime)), device_windows("06:00-09:00"), noon,
            (true, false, true, "0", "0", Allowed)),
        ("priority 2 still needs validity", face("2001"),
            Some(with_dates(with_priority(Priority::AnyTime), "2019_1_1", "2020_1_1")),
            policy(), noon,
            (false, false, true, "0", "3", denied(OutsideValidity))),
        ("priority 3, visitor: the cloud decides", face("2001"),
            Some(with_priority(Priority::Visitor)), policy(), noon,
            (false, true, true, "0", "0", CloudDecides)),
        ("priority 3, expired visitor is refused here", face("2001"),
            Some(with_dates(with_priority(Priority::Visitor), "2019_1_1", "2024_5_14")),
            policy(), noon,
            (false, false, true, "0", "3", denied(OutsideValidity))),
        // Validity dates.
        ("first valid day at midnight", face("2001"),
            Some(with_dates(p0(), "2024_05_15", "2024_06_01")), policy(), at(15, 0, 0, 0),
            (true, false, true, "0", "0", Allowed)),
        ("day before the start", face("2001"),
            Some(with_dates(p0(), "2024_5_16", "2024_6_1")), policy(), at(15, 23, 59, 59),
            (false, false, true, "0", "3", denied(OutsideValidity))),
        ("end date is inclusive", face("2001"),
            Some(with_dates(p0(), "2024_1_1", "2024_5_15")), policy(), at(15, 23, 59, 59),
            (true, false, true, "0", "0", Allowed)),
        ("day after the end", face("2001"),
            Some(with_dates(p0(), "2024_1_1", "2024_5_14")), policy(), at(15, 0, 0, 0),
            (false, false, true, "0", "3", denied(OutsideValidity))),
        ("malformed end date", face("2001"),
            Some(with_dates(p0(), "2024_1_1", "2024_13_40")), policy(), noon,
            (false, false, true, "0", "3", denied(MalformedValidity))),
        ("malformed start date", face("2001"),
            Some(with_dates(p0(), "soon", "2029_1_1")), policy(), noon,
            (false, false, true, "0", "3", denied(MalformedValidity))),
        ("empty dates are unbounded", face("2001"),
            Some(with_dates(p0(), "", "")), policy(), noon,
            (true, false, true, "0", "0", Allowed)),
        // Pass windows at the edges (end minute inclusive).
        ("window end minute is inclusive", face("2001"),
            Some(with_times(p0(), "06_00,12_00")), policy(), at(15, 12, 0, 59),
            (true, false, true, "0", "0", Allowed)),
        ("minute after the window", face("2001"),
            Some(with_times(p0(), "06_00,12_00")), policy(), at(15, 12, 1, 0),
            (false, false, true, "0", "2", denied(OutsidePassTime))),
        ("00_00,23_59 covers the last second", face("2001"),
            Some(with_times(p0(), "00_00,23_59")), policy(), at(15, 23, 59, 59),
            (true, false, true, "0", "0", Allowed)),
        ("other weekdays do not restrict Wednesday", face("2001"),
            Some(monday_only.clone()), policy(), noon,
            (true, false, true, "0", "0", Allowed)),
        ("device window on Wednesday only", face("2001"), Some(p0()),
            device_windows(";;06:00-09:00;;;;"), noon,
            (false, false, true, "0", "2", denied(OutsideDevicePassTime))),
        ("device window end minute is inclusive", face("2001"), Some(p0()),
            device_windows("06:00-12:00"), at(15, 12, 0, 30),
            (true, false, true, "0", "0", Allowed)),
        // Strangers and unknown credentials.
        ("stranger face", stranger(), None, policy(), noon,
            (false, false, true, "3", "1", denied(Stranger))),
        ("stranger face, stranger recognition off", stranger(), None,
            with_policy(|p| p.stranger_recognition = false), noon,
            (false, false, false, "3", "1", denied(Stranger))),
        ("face of an idNumber not registered", face("9999"), None, policy(), noon,
            (false, false, true, "3", "1", denied(UnknownPerson))),
        ("face with a person that is someone else", face("9999"), Some(p0()), policy(), noon,
            (false, false, true, "3", "1", denied(UnknownPerson))),
        ("unknown card", card("123"), None, policy(), noon,
            (false, false, true, "5", "1", denied(UnknownCard))),
        ("card that is not the person's", card("123"), Some(p0()), card_alone_policy(), noon,
            (false, false, true, "5", "1", denied(UnknownCard))),
        // alwaysOpenDoor: the door opens, the record tells the truth.
        ("always open: blacklisted", face("2001"), Some(with_priority(Priority::Blacklist)),
            always_open(), noon,
            (true, false, true, "0", "4", denied(Blacklisted))),
        ("always open: stranger", stranger(), None, always_open(), noon,
            (true, false, true, "3", "1", denied(Stranger))),
        ("always open: visitor does not wait", face("2001"),
            Some(with_priority(Priority::Visitor)), always_open(), noon,
            (true, false, true, "0", "0", CloudDecides)),
        ("always open wins over auto-open off", face("2001"), Some(p0()),
            with_policy(|p| { p.always_open_door = true; p.auto_open_door = false; }), noon,
            (true, false, true, "0", "0", Allowed)),
        ("always open: a card opens without a face", card("882001"), Some(p0()),
            always_open(), noon,
            (true, false, true, "4", "0", Allowed)),
        // autoOpenDoorEnable = 0: successes wait for the cloud, refusals stay refusals.
        ("auto-open off: allowed waits for the cloud", face("2001"), Some(p0()),
            no_auto_open(), noon,
            (false, true, true, "0", "0", Allowed)),
        ("auto-open off: refused stays shut", face("2001"),
            Some(with_priority(Priority::Blacklist)), no_auto_open(), noon,
            (false, false, true, "0", "4", denied(Blacklisted))),
        // Cards.
        ("card alone, face-or-card mode", card("882001"), Some(p0()), card_alone_policy(), noon,
            (true, false, true, "4", "0", Allowed)),
        ("card with leading zeros", card("000882001"), Some(p0()), card_alone_policy(), noon,
            (true, false, true, "4", "0", Allowed)),
        ("card alone, face authentication mode", card("882001"), Some(p0()), policy(), noon,
            (false, false, false, "4", "0", AwaitingFace)),
        ("refused card is refused at once", card("882001"),
            Some(with_priority(Priority::Blacklist)), policy(), noon,
            (false, false, true, "4", "4", denied(Blacklisted))),
        ("card outside pass time, face authentication", card("882001"),
            Some(with_times(p0(), "06_00,09_00")), policy(), noon,
            (false, false, true, "4", "2", denied(OutsidePassTime))),
        // Pass-through.
        ("QR code goes to the cloud", Credential::Qr(b"ticket-42".to_vec()), None,
            policy(), noon,
            (false, true, true, "8", "0", CloudDecides)),
        ("RS485 data goes to the cloud", Credential::Rs485(vec![0xfe, 3, 1, 0, 2]), None,
            policy(), noon,
            (false, true, true, "12", "0", CloudDecides)),
        // Passwords.
        ("person's password", password("pw2001"), Some(p0()), policy(), noon,
            (true, false, true, "14", "0", Allowed)),
        ("person's password outside pass time", password("pw2001"),
            Some(with_times(p0(), "06_00,09_00")), policy(), noon,
            (false, false, true, "14", "2", denied(OutsidePassTime))),
        ("wrong password", password("nope"), Some(p0()), policy(), noon,
            (false, false, true, "14", "1", denied(WrongPassword))),
        ("wrong password, nobody found", password("nope"), None, policy(), noon,
            (false, false, true, "14", "1", denied(WrongPassword))),
        ("empty password never matches", password(""), Some(no_password.clone()),
            policy(), noon,
            (false, false, true, "14", "1", denied(WrongPassword))),
        ("permanent password", password("8888"), None,
            with_policy(|p| p.permanent_password = "8888".into()), noon,
            (true, false, true, "13", "0", Allowed)),
        ("permanent password ignores windows", password("8888"), Some(p0()),
            with_policy(|p| {
                p.permanent_password = "8888".into();
                p.device_windows = DeviceWindows::parse("06:00-07:00").unwrap();
            }), noon,
            (true, false, true, "13", "0", Allowed)),
    ];
    for (name, credential, person, policy, now, expect) in cases {
        let mut engine = Engine::new();
        let d = engine.decide(&credential, person.as_ref(), &policy, now, 1_000);
        let got = (d.open, d.await_cloud, d.record, d.snap_type, d.compare_result, d.reason);
        assert_eq!(got, expect, "case: {name}");
        assert!(!d.repeat, "case: {name}");
    }
}

#[test]
fn compare_result_per_deny_reason() {
    use DenyReason::*;
    let table = [
        (Blacklisted, "4"),
        (OutsideValidity, "3"),
        (MalformedValidity, "3"),
        (OutsidePassTime, "2"),
        (OutsideDevicePassTime, "2"),
        (MalformedPassTime, "2"),
        (Stranger, "1"),
        (UnknownPerson, "1"),
        (UnknownCard, "1"),
        (WrongPassword, "1"),
        (CardFaceMismatch, "1"),
    ];
    for (reason, code) in table {
        assert_eq!(reason.compare_result(), code, "{reason:?}");
        assert!(!reason.to_string().is_empty());
    }
}

#[test]
fn card_then_face_within_the_window_pairs() {
    let p = person("2001", Priority::Windowed);
    let mut engine = Engine::new();
    let first = engine.decide(&card("882001"), Some(&p), &policy(), wednesday_noon(), 10_000);
    assert_eq!(first.reason, Verdict::AwaitingFace);
    assert!(!first.open && !first.record);
    assert_eq!(first.voice, "请刷脸");
    let second = engine.decide(&face("2001"), Some(&p), &policy(), wednesday_noon(), 15_000);
    assert_eq!(second.snap_type, snap_type::FACE_AND_CARD);
    assert_eq!(second.compare_result, compare_result::SUCCESS);
    assert!(second.open && second.record);
    assert_eq!(second.card_number, "882001");
    // The pairing is used up: the next face is a face alone.
    let third = engine.decide(&face("2001"), Some(&p), &policy(), wednesday_noon(), 20_000);
    assert_eq!(third.snap_type, snap_type::FACE);
}

#[test]
fn card_then_face_after_the_window_is_a_face_alone() {
    let p = person("2001", Priority::Windowed);
    let mut engine = Engine::new();
    engine.decide(&card("882001"), Some(&p), &policy(), wednesday_noon(), 10_000);
    let d = engine.decide(&face("2001"), Some(&p), &policy(), wednesday_noon(), 15_001);
    assert_eq!(d.snap_type, snap_type::FACE);
    assert_eq!(d.card_number, "");
    assert!(d.open);
}

#[test]
fn card_then_someone_elses_face_is_a_mismatch() {
    let holder = person("2001", Priority::Windowed);
    let other = person("2002", Priority::Windowed);
    let mut engine = Engine::new();
    engine.decide(&card("882001"), Some(&holder), &policy(), wednesday_noon(), 0);
    let d = engine.decide(&face("2002"), Some(&other), &policy(), wednesday_noon(), 1_000);
    assert_eq!(d.snap_type, snap_type::FACE_AND_CARD);
    assert_eq!(d.compare_result, compare_result::FAILED);
    assert_eq!(d.reason, Verdict::Denied(DenyReason::CardFaceMismatch));
    assert!(!d.open && d.record);
    assert_eq!(d.card_number, "882001");
    // The card is used up; the holder's face now counts alone.
    let next = engine.decide(&face("2001"), Some(&holder), &policy(), wednesday_noon(), 2_000);
    assert_eq!(next.snap_type, snap_type::FACE);
}

#[test]
fn stranger_between_card_and_face_keeps_the_card_waiting() {
    let p = person("2001", Priority::Windowed);
    let mut engine = Engine::new();
    engine.decide(&card("882001"), Some(&p), &policy(), wednesday_noon(), 0);
    let s = engine.decide(&stranger(), None, &policy(), wednesday_noon(), 1_000);
    assert_eq!(s.snap_type, snap_type::STRANGER);
    let d = engine.decide(&face("2001"), Some(&p), &policy(), wednesday_noon(), 2_000);
    assert_eq!(d.snap_type, snap_type::FACE_AND_CARD);
    assert!(d.open);
}

#[test]
fn visitor_card_then_face_waits_for_the_cloud() {
    let v = person("3001", Priority::Visitor);
    let mut engine = Engine::new();
    let first = engine.decide(&card("883001"), Some(&v), &policy(), wednesday_noon(), 0);
    assert_eq!(first.reason, Verdict::AwaitingFace);
    let d = engine.decide(&face("3001"), Some(&v), &policy(), wednesday_noon(), 1_000);
    assert_eq!(d.snap_type, snap_type::FACE_AND_CARD);
    assert_eq!(d.reason, Verdict::CloudDecides);
    assert!(!d.open && d.await_cloud && d.record);
    assert_eq!(d.voice, "");
}

#[test]
fn recog_interval_suppresses_repeats_and_expires() {
    let p = person("2001", Priority::Windowed);
    let q = person("2002", Priority::Windowed);
    let policy = policy();
    let mut engine = Engine::new();
    let now = wednesday_noon();
    let first = engine.decide(&face("2001"), Some(&p), &policy, now, 100_000);
    assert!(first.record && !first.repeat && first.open);
    assert!(!first.voice.is_empty());

    let repeat = engine.decide(&face("2001"), Some(&p), &policy, now, 102_999);
    assert!(!repeat.record && repeat.repeat);
    assert!(repeat.open, "a repeat still opens for a person who missed the door");
    assert_eq!((repeat.voice.as_str(), repeat.display.as_str()), ("", ""));

    let other = engine.decide(&face("2002"), Some(&q), &policy, now, 102_999);
    assert!(other.record, "another person is not a repeat");

    // Measured from the last record, not from the last sighting.
    let later = engine.decide(&face("2001"), Some(&p), &policy, now, 103_000);
    assert!(later.record && !later.repeat);
}

/// A record that could not be saved (a full disk) is no record for `recogIntervalTime`: the
/// next presentation is decided and recorded afresh, not waved through as a repeat (with
/// `on_full = "deny"` the repeat opened the door the first try had kept shut).
#[test]
fn recog_interval_ignores_a_record_that_was_not_saved() {
    let p = person("2001", Priority::Windowed);
    let policy = policy();
    let mut engine = Engine::new();
    let now = wednesday_noon();
    let first = engine.decide(&face("2001"), Some(&p), &policy, now, 100_000);
    assert!(first.record && !first.repeat);
    engine.record_not_saved(&first);
    let again = engine.decide(&face("2001"), Some(&p), &policy, now, 100_500);
    assert!(again.record && !again.repeat, "{again:?}");
    // Saved this time: the interval holds again.
    let repeat = engine.decide(&face("2001"), Some(&p), &policy, now, 101_000);
    assert!(!repeat.record && repeat.repeat, "{repeat:?}");
    // A repeat made no record of its own: nothing to undo, the interval still holds.
    engine.record_not_saved(&repeat);
    assert!(engine.decide(&face("2001"), Some(&p), &policy, now, 101_500).repeat);
}

#[test]
fn recog_interval_counts_the_person_not_the_credential() {
    let p = person("2001", Priority::Windowed);
    let mut engine = Engine::new();
    let policy = card_alone_policy();
    engine.decide(&face("2001"), Some(&p), &policy, wednesday_noon(), 0);
    let by_card = engine.decide(&card("882001"), Some(&p), &policy, wednesday_noon(), 1_000);
    assert!(by_card.repeat && !by_card.record && by_card.open);
}

#[test]
fn recog_interval_zero_records_everything() {
    let p = person("2001", Priority::Windowed);
    let policy = AccessPolicy { recog_interval_ms: 0, ..AccessPolicy::default() };
    let mut engine = Engine::new();
    for ms in [0, 0, 1] {
        let d = engine.decide(&face("2001"), Some(&p), &policy, wednesday_noon(), ms);
        assert!(d.record && !d.repeat);
    }
}

#[test]
fn recog_interval_ignores_a_counter_that_went_back() {
    let p = person("2001", Priority::Windowed);
    let mut engine = Engine::new();
    engine.decide(&face("2001"), Some(&p), &policy(), wednesday_noon(), 50_000);
    let d = engine.decide(&face("2001"), Some(&p), &policy(), wednesday_noon(), 10_000);
    assert!(d.record);
}

#[test]
fn recog_interval_applies_to_refusals_and_pass_through() {
    let late = with_times(person("2001", Priority::Windowed), "06_00,09_00");
    let mut engine = Engine::new();
    let now = wednesday_noon();
    assert!(engine.decide(&face("2001"), Some(&late), &policy(), now, 0).record);
    let again = engine.decide(&face("2001"), Some(&late), &policy(), now, 1);
    assert!(!again.record && again.repeat && !again.open);

    let qr = Credential::Qr(b"A".to_vec());
    assert!(engine.decide(&qr, None, &policy(), now, 0).await_cloud);
    let qr_again = engine.decide(&qr, None, &policy(), now, 1);
    assert!(!qr_again.record && !qr_again.await_cloud && !qr_again.open);
    let other_qr = engine.decide(&Credential::Qr(b"B".to_vec()), None, &policy(), now, 1);
    assert!(other_qr.record && other_qr.await_cloud);

    let unknown = card("777");
    assert!(engine.decide(&unknown, None, &policy(), now, 0).record);
    assert!(engine.decide(&card("0777"), None, &policy(), now, 1).repeat);
}

#[test]
fn strangers_and_wrong_passwords_are_never_deduplicated() {
    let mut engine = Engine::new();
    let now = wednesday_noon();
    for ms in [0, 1, 2] {
        assert!(engine.decide(&stranger(), None, &policy(), now, ms).record);
        let pw = Credential::Password("guess".into());
        assert!(engine.decide(&pw, None, &policy(), now, ms).record);
    }
}

#[test]
fn visitor_repeat_does_not_wait_again() {
    let v = person("3001", Priority::Visitor);
    let mut engine = Engine::new();
    assert!(engine.decide(&face("3001"), Some(&v), &policy(), wednesday_noon(), 0).await_cloud);
    let again = engine.decide(&face("3001"), Some(&v), &policy(), wednesday_noon(), 1);
    assert!(!again.record && !again.await_cloud && !again.open);
}

#[test]
fn texts_follow_the_verdict() {
    let now = wednesday_noon();
    let mut p = person("2001", Priority::Windowed);
    p.extra.insert("visitorVoiceTextBeforeName".into(), "亲爱的".into());
    p.extra.insert("visitorVoiceText".into(), "欢迎您的参观".into());
    let d = Engine::new().decide(&face("2001"), Some(&p), &policy(), now, 0);
    // Device default mode 0: name + personalised texts.
    assert_eq!(d.voice, "亲爱的张三欢迎您的参观");
    assert_eq!(d.display, "张三");

    let late = with_times(p.clone(), "06_00,09_00");
    let d = Engine::new().decide(&face("2001"), Some(&late), &policy(), now, 0);
    assert_eq!((d.voice.as_str(), d.display.as_str()), ("不在通行时间", "不在通行时间"));

    let expired = with_dates(p.clone(), "2019_1_1", "2020_1_1");
    let d = Engine::new().decide(&face("2001"), Some(&expired), &policy(), now, 0);
    assert_eq!((d.voice.as_str(), d.display.as_str()), ("已过期", "已过期"));

    let d = Engine::new().decide(&card("1"), None, &policy(), now, 0);
    assert_eq!((d.voice.as_str(), d.display.as_str()), ("无记录", "无记录"));

    let d = Engine::new().decide(&stranger(), None, &policy(), now, 0);
    assert_eq!((d.voice.as_str(), d.display.as_str()), ("陌生人", "陌生人"));

    let mut custom = policy();
    custom.texts.stranger_voice_custom = true;
    custom.texts.stranger_voice = "请注意".into();
    let d = Engine::new().decide(&stranger(), None, &custom, now, 0);
    assert_eq!(d.voice, "请注意");

    let mut quiet = policy();
    quiet.texts.alarm_voice_enabled = false;
    quiet.texts.alarm_display_enabled = false;
    let d = Engine::new().decide(&card("1"), None, &quiet, now, 0);
    assert_eq!((d.voice.as_str(), d.display.as_str()), ("", ""));

    let mut mute = policy();
    mute.texts.voice_enabled = false;
    let d = Engine::new().decide(&face("2001"), Some(&p), &mute, now, 0);
    assert_eq!((d.voice.as_str(), d.display.as_str()), ("", "张三"));

    let awaited = AccessPolicy { auto_open_door: false, ..policy() };
    let d = Engine::new().decide(&face("2001"), Some(&p), &awaited, now, 0);
    assert_eq!((d.voice.as_str(), d.display.as_str()), ("", ""), "the cloud's msg is announced");
}

#[test]
fn greeting_modes() {
    let mut texts = Announcements {
        register_voice_before_name: "您好".into(),
        register_voice_after_name: "欢迎您的光临".into(),
        ..Announcements::default()
    };
    let mut p = person("2001", Priority::Windowed);
    p.extra.insert("visitorVoiceTextBeforeName".into(), "亲爱的".into());
    p.extra.insert("visitorVoiceText".into(), "欢迎您的参观".into());
    let voice = |p: &Person, t: &Announcements| announce::greeting(p, t, announce::Channel::Voice);

    let device_modes = [
        (GreetingMode::NamePersonal, "亲爱的张三欢迎您的参观"),
        (GreetingMode::Name, "张三"),
        (GreetingMode::Personal, "亲爱的欢迎您的参观"),
        (GreetingMode::Fixed, "您好欢迎您的光临"),
        (GreetingMode::NameFixed, "您好张三欢迎您的光临"),
    ];
    for (mode, expected) in device_modes {
        texts.register_voice_mode = mode;
        assert_eq!(voice(&p, &texts), expected, "{mode:?}");
    }
    texts.register_voice_name_sex = true;
    assert_eq!(voice(&p, &texts), "您好张三先生欢迎您的光临");

    // The person's own mode and Mr/Ms flag win over the device's.
    p.extra.insert("voiceSpecialMode".into(), "2".into());
    p.extra.insert("voiceNameSexEnable".into(), "0".into());
    assert_eq!(voice(&p, &texts), "张三");
    p.extra.insert("voiceSpecialMode".into(), "1".into());
    p.extra.insert("voiceNameSexEnable".into(), "1".into());
    p.extra.insert("sex".into(), "女".into());
    assert_eq!(voice(&p, &texts), "亲爱的张三女士欢迎您的参观");
    p.extra.insert("voiceSpecialMode".into(), "0".into());
    assert_eq!(voice(&p, &texts), "您好张三女士欢迎您的光临", "0 = use the device's");

    // Display uses its own settings; the spec's lower-case `visitordisplayText` is found too.
    let mut d = person("2002", Priority::Windowed);
    d.name = "Alice".into();
    d.extra.insert("sex".into(), "female".into());
    d.extra.insert("displaySpecialMode".into(), "1".into());
    d.extra.insert("displayNameSexEnable".into(), "1".into());
    d.extra.insert("visitorDisplayTextBeforeName".into(), "Welcome,".into());
    d.extra.insert("visitordisplayText".into(), "enjoy your visit".into());
    let shown = announce::greeting(&d, &Announcements::default(), announce::Channel::Display);
    assert_eq!(shown, "Welcome, Ms Alice enjoy your visit");
}

#[test]
fn join_spaces_only_between_ascii() {
    assert_eq!(announce::join(&["您好", "张三", "欢迎"]), "您好张三欢迎");
    assert_eq!(announce::join(&["Hello", "Bob"]), "Hello Bob");
    assert_eq!(announce::join(&["您好", "Bob", "欢迎"]), "您好Bob欢迎");
    assert_eq!(announce::join(&["", " Bob ", ""]), "Bob");
}

#[test]
fn record_fields_of_a_face() {
    let p = person("2001", Priority::Windowed);
    let policy = AccessPolicy { in_out_mode: InOutMode::Entrance, ..AccessPolicy::default() };
    let credential = face("2001");
    let d = Engine::new().decide(&credential, Some(&p), &policy, wednesday_noon(), 0);
    let fields = record_fields(&d, Some(&p), &credential, &policy);
    let expected: BTreeMap<String, String> = [
        ("snapType", "0"),
        ("compareResult", "0"),
        ("idNumber", "2001"),
        ("name", "张三"),
        ("sex", "男"),
        ("birth", "1997年4月3日"),
        ("company", ""),
        ("department", ""),
        ("phone", "18868681819"),
        ("validDateStart", "2019_08_09"),
        ("validDateEnd", "2029_8_9"),
        ("visitorVoiceText", "张三"),
        ("inOutMode", "1"),
        ("normalNumber", "882001"),
        ("data", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(fields, expected);
}

#[test]
fn record_fields_of_strangers_pass_through_and_passwords() {
    let policy = AccessPolicy::default();
    let now = wednesday_noon();

    let s = stranger();
    let d = Engine::new().decide(&s, None, &policy, now, 0);
    let f = record_fields(&d, None, &s, &policy);
    assert_eq!(f["snapType"], "3");
    assert_eq!(f["compareResult"], "1");
    assert_eq!(f["idNumber"], "");
    assert_eq!(f["name"], "");
    assert_eq!(f["validDateStart"], "");
    assert_eq!(f["inOutMode"], "0");
    assert_eq!(f["visitorVoiceText"], "陌生人");

    let qr = Credential::Rs485(vec![0xfe, 0x03, 0x01, 0x00, 0x02]);
    let d = Engine::new().decide(&qr, None, &policy, now, 0);
    let f = record_fields(&d, None, &qr, &policy);
    assert_eq!(f["data"], "/gMBAAI=");
    assert_eq!(f["snapType"], "12");

    // A person handed in by mistake is not reported under a wrong password.
    let p = person("2001", Priority::Windowed);
    let wrong = Credential::Password("nope".into());
    let d = Engine::new().decide(&wrong, Some(&p), &policy, now, 0);
    let f = record_fields(&d, Some(&p), &wrong, &policy);
    assert_eq!(f["idNumber"], "");
    assert!(f.values().all(|v| v != "nope"));

    let right = Credential::Password("pw2001".into());
    let d = Engine::new().decide(&right, Some(&p), &policy, now, 0);
    let f = record_fields(&d, Some(&p), &right, &policy);
    assert_eq!(f["idNumber"], "2001");
    assert!(f.values().all(|v| v != "pw2001"));
}

#[test]
fn record_fields_of_an_unknown_card_and_a_pairing() {
    let policy = AccessPolicy::default();
    let now = wednesday_noon();
    let unknown = card(" 4242 ");
    let d = Engine::new().decide(&unknown, None, &policy, now, 0);
    let f = record_fields(&d, None, &unknown, &policy);
    assert_eq!((f["snapType"].as_str(), f["normalNumber"].as_str()), ("5", "4242"));

    let p = person("2001", Priority::Windowed);
    let mut engine = Engine::new();
    engine.decide(&card("00882001"), Some(&p), &policy, now, 0);
    let f_face = face("2001");
    let d = engine.decide(&f_face, Some(&p), &policy, now, 1);
    let f = record_fields(&d, Some(&p), &f_face, &policy);
    assert_eq!(f["snapType"], "2");
    assert_eq!(f["normalNumber"], "00882001", "the card as read");
}

#[test]
fn in_out_mode_mapping() {
    for (code, mode) in [("0", InOutMode::Unknown), ("1", InOutMode::Entrance), (" 2 ", InOutMode::Exit)] {
        assert_eq!(InOutMode::from_code(code), Some(mode));
        assert_eq!(mode.code(), code.trim());
    }
    assert_eq!(InOutMode::from_code("3"), None);
    assert_eq!(InOutMode::from_code(""), None);
    let params: BTreeMap<String, String> = [("entranceDirection".to_string(), "2".to_string())].into();
    let (policy, warnings) = AccessPolicy::from_params(&params);
    assert!(warnings.is_empty());
    let credential = stranger();
    let d = Engine::new().decide(&credential, None, &policy, wednesday_noon(), 0);
    assert_eq!(record_fields(&d, None, &credential, &policy)["inOutMode"], "2");
}

#[test]
fn card_numbers_match_by_value() {
    let presented = |n: &str| CardNumber::parse(n).unwrap();
    assert!(card_matches("8899", &presented("8899")));
    assert!(card_matches("008899", &presented("8899")));
    assert!(card_matches(" 8899", &presented("8899 ")));
    assert!(card_matches("12345", &presented("0012345")));
    assert!(!card_matches("12345", &presented("123450")));
    // Not a card number (stored before numbers were checked): never matches.
    assert!(!card_matches("AB12", &presented("0xAB12")));
    assert!(!card_matches("", &presented("0")));
    assert!(card_matches("0", &presented("000")));
    assert!(card_matches("0x22AB", &presented("8875")));
}

#[test]
fn policy_defaults_are_the_specs() {
    let p = AccessPolicy::default();
    assert!(!p.always_open_door);
    assert!(p.auto_open_door);
    assert_eq!(p.face_card_mode, FaceCardMode::FaceAuthentication);
    assert_eq!(p.card_face_window_ms, 5_000);
    assert_eq!(p.recog_interval_ms, 3_000);
    assert_eq!(p.device_windows, DeviceWindows::all_day());
    assert_eq!(p.in_out_mode, InOutMode::Unknown);
    assert!(p.stranger_recognition);
    assert!(p.permanent_password.is_empty());
    assert!(p.texts.voice_enabled);
}

#[test]
fn policy_from_the_specs_set_dev_info_example() {
    let example = [
        ("alarmNotInPassTimeContent", "禁止通行"),
        ("alarmVoiceEnable", "1"),
        ("autoOpenDoorEnable", "1"),
        ("displayNameSexEnable", "1"),
        ("displayTextContent", "欢迎您的光临"),
        ("displayTextContentBeforeName", "您好"),
        ("displayTextMode", "1"),
        ("entranceDirection", "1"),
        ("playVoiceEnable", "0"),
        ("recogIntervalTime", "3"),
        ("registerVoiceContent", "欢迎您的光临"),
        ("registerVoiceContentBeforeName", "您好"),
        ("registerVoiceMode", "1"),
        ("registerVoiceNameSexEnable", "1"),
        ("strangerRecogEnable", "1"),
        ("strangerVoiceContent", "请注意"),
        ("strangerVoiceMode", "1"),
        ("faceRFIDCardEnable", "0"),
        (
            "passTime",
            " 06:00-09:00,18:00-21:00; 06:00-09:00,18:00-21:00; 06:00-09:00,18:00-21:00; \
             06:00-09:00,18:00-21:00; 06:00-09:00,18:00-21:00; 06:00-09:00,18:00-21:00; \
             06:00-09:00,18:00-21:00",
        ),
        ("alwaysOpenDoor", "0"),
        ("strangerDisplayContent", "陌生人"),
        ("alarmDisplayEnable", "1"),
        ("alarmNotInPassTimeDisplayContent", "不在通行时间"),
        ("alarmNotInValidTimeVoiceContent", "已过期"),
        ("alarmNotInValidTimeDisplayContent", "已过期"),
        ("alarmNotAuthVoiceContent", "无记录"),
        ("alarmNotAuthDisplayContent", "无记录"),
    ];
    let params: BTreeMap<String, String> = example.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (p, warnings) = AccessPolicy::from_params(&params);
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(p.in_out_mode, InOutMode::Entrance);
    assert_eq!(p.recog_interval_ms, 3_000);
    assert!(p.texts.voice_enabled, "playVoiceEnable 0 means voice on");
    assert_eq!(p.texts.register_voice_mode, GreetingMode::Name);
    assert!(p.texts.register_voice_name_sex);
    assert_eq!(p.texts.display_text_mode, GreetingMode::Name);
    assert_eq!(p.texts.display_before_name, "您好");
    assert!(p.texts.stranger_voice_custom);
    assert_eq!(p.texts.stranger_voice, "请注意");
    assert_eq!(p.texts.not_in_pass_time_voice, "禁止通行");
    let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap();
    let seven = NaiveTime::from_hms_opt(7, 0, 0).unwrap();
    assert!(!p.device_windows.allows(Weekday::Sun, noon));
    assert!(p.device_windows.allows(Weekday::Sun, seven));

    // The greeting the example configures: name with Mr/Ms.
    let person = person("2001", Priority::Windowed);
    let d = Engine::new().decide(&face("2001"), Some(&person), &p, at(15, 7, 0, 0), 0);
    assert_eq!(d.voice, "张三先生");
    assert_eq!(d.display, "张三先生");
}

#[test]
fn policy_params_bad_values_warn_and_keep() {
    let params: BTreeMap<String, String> = [
        ("recogIntervalTime", "abc"),
        ("alwaysOpenDoor", "yes"),
        ("passTime", "06:00-09:00;;"),
        ("faceRFIDCardEnable", "2"),
        (" autoOpenDoorEnable ", " 0 "),
        ("ENTRANCEDIRECTION", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut p = AccessPolicy::default();
    let warnings = p.apply_params(&params);
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("recogIntervalTime") && w.contains("abc")));
    assert!(warnings.iter().any(|w| w.contains("passTime")));
    assert_eq!(p.recog_interval_ms, 3_000);
    assert!(!p.always_open_door);
    assert_eq!(p.face_card_mode, FaceCardMode::FaceAuthentication);
    assert_eq!(p.device_windows, DeviceWindows::all_day());
    assert!(!p.auto_open_door, "key with stray spaces still read");
    assert_eq!(p.in_out_mode, InOutMode::Exit);

    let out_of_range: BTreeMap<String, String> = [("recogIntervalTime".to_string(), "100".to_string())].into();
    assert_eq!(p.apply_params(&out_of_range).len(), 1);
    let zero: BTreeMap<String, String> = [("recogIntervalTime".to_string(), "0".to_string())].into();
    assert!(p.apply_params(&zero).is_empty());
    assert_eq!(p.recog_interval_ms, 0);
}

#[test]
fn valid_dates_parse() {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
    let good = [
        ("2019_08_09", d(2019, 8, 9)),
        ("2019_8_9", d(2019, 8, 9)),
        ("2019_10_8", d(2019, 10, 8)),
        (" 2029_08_09 ", d(2029, 8, 9)),
        ("2019 _ 8 _ 9", d(2019, 8, 9)),
        ("2019-08-09", d(2019, 8, 9)),
        ("2024_2_29", d(2024, 2, 29)),
    ];
    for (text, expected) in good {
        assert_eq!(parse_valid_date(text), expected, "{text:?}");
    }
    let bad = [
        "",
        "2019",
        "2019_08",
        "2019_13_01",
        "2019_02_30",
        "2023_2_29",
        "19_8_9",
        "2019_8_9_1",
        "2019_+8_9",
        "2019_08_009",
        "abcd_08_09",
        "2019年8月9日",
    ];
    for text in bad {
        assert_eq!(parse_valid_date(text), None, "{text:?}");
    }
}

fn seven(values: [&str; 7]) -> [String; 7] {
    values.map(str::to_string)
}

fn t(hour: u32, minute: u32, second: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, second).unwrap()
}

#[test]
fn person_windows_parse_and_allow() {
    let w = PersonWindows::parse(&seven([
        "06_00,09_00,18_00,21_00",
        "",
        "00_00,23_59",
        " 08_30 , 08_30 ",
        "6_00,9_00",
        "00_00,24_00",
        "10_00,11_00,12_00,13_00,14_00,15_00,16_00,17_00,18_00,19_00",
    ]))
    .unwrap();
    assert!(w.allows(Weekday::Mon, t(6, 0, 0)));
    assert!(w.allows(Weekday::Mon, t(9, 0, 59)));
    assert!(!w.allows(Weekday::Mon, t(9, 1, 0)));
    assert!(!w.allows(Weekday::Mon, t(5, 59, 59)));
    assert!(w.allows(Weekday::Mon, t(20, 0, 0)));
    assert!(!w.allows(Weekday::Mon, t(12, 0, 0)));
    assert!(w.allows(Weekday::Tue, t(3, 0, 0)), "empty = all day");
    assert!(w.allows(Weekday::Wed, t(0, 0, 0)));
    assert!(w.allows(Weekday::Wed, t(23, 59, 59)));
    assert!(w.allows(Weekday::Thu, t(8, 30, 59)));
    assert!(!w.allows(Weekday::Thu, t(8, 31, 0)));
    assert!(w.allows(Weekday::Fri, t(6, 0, 0)));
    assert!(w.allows(Weekday::Sat, t(23, 59, 59)), "24_00 ends the day");
    assert!(w.allows(Weekday::Sun, t(18, 30, 0)));
    assert!(!w.allows(Weekday::Sun, t(19, 30, 0)));
    assert_eq!(PersonWindows::parse(&Default::default()).unwrap(), PersonWindows::all_day());
}

#[test]
fn person_windows_reject_bad_input() {
    let cases = [
        ("06_00", "odd number"),
        ("06_00,09_00,10_00", "odd number"),
        ("25_00,26_00", "not a time"),
        ("06_60,07_00", "not a time"),
        ("24_01,24_02", "not a time"),
        ("24_00,24_00", "not a time"),
        ("0600,0900", "not a time"),
        ("06-00,09-00", "not a time"),
        ("aa_bb,09_00", "not a time"),
        ("21_00,06_00", "ends before it starts"),
        ("1_00,1_01,2_00,2_01,3_00,3_01,4_00,4_01,5_00,5_01,6_00,6_01", "at most 5"),
    ];
    for (text, message) in cases {
        let mut fields: [String; 7] = Default::default();
        fields[2] = text.to_string();
        let err = PersonWindows::parse(&fields).unwrap_err();
        assert!(err.starts_with("passTime3 (Wednesday): "), "{text}: {err}");
        assert!(err.contains(message), "{text}: {err}");
    }
}

#[test]
fn device_windows_parse_and_allow() {
    // Seven days, Monday first, with the spaces of the spec's JSON example.
    let w = DeviceWindows::parse("06:00-09:00; ; 10:00-11:00;;;; 00:00-23:59").unwrap();
    assert!(w.allows(Weekday::Mon, t(9, 0, 59)));
    assert!(!w.allows(Weekday::Mon, t(9, 1, 0)));
    assert!(w.allows(Weekday::Tue, t(12, 0, 0)));
    assert!(w.allows(Weekday::Wed, t(10, 30, 0)));
    assert!(!w.allows(Weekday::Wed, t(12, 0, 0)));
    assert!(w.allows(Weekday::Sun, t(23, 59, 59)));

    // The spec's table example: 8 fields; the first 7 are Monday..Sunday, the 8th is ignored.
    let w = DeviceWindows::parse("06:00-09:00,18:00-21:00;;;;;;;06:00-09:00,18:00-21:00").unwrap();
    assert!(!w.allows(Weekday::Mon, t(12, 0, 0)));
    assert!(w.allows(Weekday::Mon, t(18, 0, 0)));
    for day in [Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun] {
        assert!(w.allows(day, t(12, 0, 0)), "{day:?}");
    }

    // A trailing ';' after seven days.
    let w = DeviceWindows::parse("06:00-07:00;;;;;;06:00-07:00;").unwrap();
    assert!(!w.allows(Weekday::Sun, t(12, 0, 0)));

    // One field: every day.
    let w = DeviceWindows::parse("08:00-12:00,13:00-17:00").unwrap();
    for day in [Weekday::Mon, Weekday::Sun] {
        assert!(w.allows(day, t(8, 0, 0)));
        assert!(!w.allows(day, t(12, 30, 0)));
        assert!(w.allows(day, t(17, 0, 59)));
    }

    // Empty: all day; full-width separators of the spec's examples.
    assert_eq!(DeviceWindows::parse("  ").unwrap(), DeviceWindows::all_day());
    let w = DeviceWindows::parse("06：00-09：00，18:00-21:00").unwrap();
    assert!(w.allows(Weekday::Thu, t(19, 0, 0)));
    assert!(!w.allows(Weekday::Thu, t(12, 0, 0)));
    assert!(DeviceWindows::parse("00:00-24:00").unwrap().allows(Weekday::Fri, t(23, 59, 59)));
}

#[test]
fn device_windows_reject_bad_input() {
    let cases = [
        ("06:00-09:00;;", "3 days"),
        ("a;b;c;d;e;f;g;h;i", "9 days"),
        ("06:00", "not a period"),
        ("06:00-", "not a time"),
        ("6-9", "not a time"),
        ("06:00-25:00", "not a time"),
        ("21:00-06:00", "ends before it starts"),
        ("1:00-1:01,2:00-2:01,3:00-3:01,4:00-4:01,5:00-5:01,6:00-6:01", "at most 5"),
        (";;25:00-26:00;;;;", "day 3 (Wednesday)"),
    ];
    for (text, message) in cases {
        let err = DeviceWindows::parse(text).unwrap_err();
        assert!(err.starts_with("passTime"), "{text}: {err}");
        assert!(err.contains(message), "{text}: {err}");
    }
}

#[test]
fn greeting_mode_codes() {
    assert_eq!(GreetingMode::from_device_code("0"), Some(GreetingMode::NamePersonal));
    assert_eq!(GreetingMode::from_device_code("4"), Some(GreetingMode::NameFixed));
    assert_eq!(GreetingMode::from_device_code("5"), None);
    assert_eq!(GreetingMode::from_person_code("0"), None);
    assert_eq!(GreetingMode::from_person_code(""), None);
    assert_eq!(GreetingMode::from_person_code("1"), Some(GreetingMode::NamePersonal));
    assert_eq!(GreetingMode::from_person_code("5"), Some(GreetingMode::NameFixed));
}

#[test]
fn verdicts_read_well_in_logs() {
    assert_eq!(Verdict::Allowed.to_string(), "allowed");
    assert_eq!(Verdict::Denied(DenyReason::OutsideValidity).to_string(), "denied: outside the validity dates");
}
