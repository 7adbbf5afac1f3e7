//! The access decision engine: may this credential pass, what is recorded, what is said.
//!
//! Pure: no I/O and no clock reads; the caller passes the local time and a millisecond
//! counter. One [`Engine`] per door keeps the little state the rules need (the last record
//! time per person for `recogIntervalTime`, a card waiting for its holder's face).
//!
//! Rules, by credential (snapType and compareResult codes are the spec's, protocol.md §2.13):
//!
//! | Credential | snapType | Verdict |
//! |---|---|---|
//! | face of a registered person | 0 | the person's rights |
//! | face following that person's card (face authentication mode) | 2 | the person's rights |
//! | face following another person's card | 2 | denied, compareResult 1 |
//! | unrecognised face, or a face whose idNumber is not registered | 3 | denied, 1 |
//! | registered card | 4 | rights; in face authentication mode it waits for the face |
//! | unknown card | 5 | denied, 1 |
//! | QR code | 8 | pass-through: the cloud decides (device has no QR registry, so no 6/7) |
//! | RS485 data | 12 | pass-through: the cloud decides |
//! | the permanent password | 13 | allowed |
//! | a person's password | 14 | the person's rights |
//! | a password matching nobody | 14 | denied, 1 |
//!
//! A person's rights, checked in this order: priority 1 (blacklist) is refused (4); the
//! validity dates must include today, end date inclusive (3; an unreadable date also
//! refuses); priority 0 must be inside the person's `passTime1..7` and the device `passTime`
//! (2; unreadable windows also refuse); priority 2 passes at any time; priority 3 (visitor)
//! is left to the cloud (`controlState` of the record's response).
//!
//! What the door does then: `alwaysOpenDoor` opens for every presentation, whatever the
//! verdict; otherwise an allowed person opens when `autoOpenDoorEnable` is on and waits for
//! the cloud when it is off; cloud-decided verdicts wait for the cloud; refusals stay shut.

mod announce;
pub mod doorwatch;
mod policy;
mod schedule;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use base64::Engine as _;
use chrono::{Datelike, NaiveDateTime};

use crate::model::{CardNumber, Credential, Person, Priority};

pub use policy::{AccessPolicy, Announcements, DEFAULT_STRANGER_VOICE, FaceCardMode, GreetingMode, InOutMode};
pub use schedule::{DeviceWindows, PersonWindows, parse_valid_date};

use announce::{Channel, extra, greeting};

/// The spec's `snapType` codes (uploadRecord), those this device produces.
pub mod snap_type {
    /// 0: face recognition of a registered person.
    pub const FACE: &str = "0";
    /// 2: person-vs-card comparison: a card, then its holder's face.
    pub const FACE_AND_CARD: &str = "2";
    /// 3: face recognition of a stranger.
    pub const STRANGER: &str = "3";
    /// 4: a registered IC card.
    pub const CARD: &str = "4";
    /// 5: an unknown IC card.
    pub const UNKNOWN_CARD: &str = "5";
    /// 8: QR-code pass-through.
    pub const QR_PASS_THROUGH: &str = "8";
    /// 12: RS485 data pass-through.
    pub const RS485_PASS_THROUGH: &str = "12";
    /// 13: door opened by the permanent password.
    pub const PERMANENT_PASSWORD: &str = "13";
    /// 14: door opened by a registered (person's) password.
    pub const PASSWORD: &str = "14";
}

/// The spec's `compareResult` codes (uploadRecord).
pub mod compare_result {
    /// 0: comparison succeeded.
    pub const SUCCESS: &str = "0";
    /// 1: comparison failed (nobody matches).
    pub const FAILED: &str = "1";
    /// 2: not within the allowed pass time.
    pub const NOT_IN_PASS_TIME: &str = "2";
    /// 3: not within the validity period.
    pub const NOT_IN_VALIDITY: &str = "3";
    /// 4: not authorised.
    pub const NOT_AUTHORISED: &str = "4";
}

/// Why a presentation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// Priority 1: the person is blacklisted.
    Blacklisted,
    /// Today is before `validDateStart` or after `validDateEnd`.
    OutsideValidity,
    /// `validDateStart` or `validDateEnd` cannot be read; refused rather than guessed.
    MalformedValidity,
    /// Outside the person's `passTimeN` for today.
    OutsidePassTime,
    /// Outside the device-level `passTime` for today.
    OutsideDevicePassTime,
    /// The person's `passTime1..7` cannot be read; refused rather than guessed.
    MalformedPassTime,
    /// A face the recognizer could not match.
    Stranger,
    /// A face matched to an idNumber that is not registered here (e.g. deleted).
    UnknownPerson,
    /// A card number nobody holds.
    UnknownCard,
    /// A password nobody has.
    WrongPassword,
    /// A face that is not the holder of the card presented just before.
    CardFaceMismatch,
}

impl DenyReason {
    /// The `compareResult` reported for this refusal.
    pub fn compare_result(self) -> &'static str {
        match self {
            DenyReason::Blacklisted => compare_result::NOT_AUTHORISED,
            DenyReason::OutsideValidity | DenyReason::MalformedValidity => compare_result::NOT_IN_VALIDITY,
            DenyReason::OutsidePassTime | DenyReason::OutsideDevicePassTime | DenyReason::MalformedPassTime => {
                compare_result::NOT_IN_PASS_TIME
            }
            DenyReason::Stranger
            | DenyReason::UnknownPerson
            | DenyReason::UnknownCard
            | DenyReason::WrongPassword
            | DenyReason::CardFaceMismatch => compare_result::FAILED,
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DenyReason::Blacklisted => "blacklisted (priority 1)",
            DenyReason::OutsideValidity => "outside the validity dates",
            DenyReason::MalformedValidity => "validity date unreadable (expected YYYY_MM_DD)",
            DenyReason::OutsidePassTime => "outside the person's pass times",
            DenyReason::OutsideDevicePassTime => "outside the device's pass times",
            DenyReason::MalformedPassTime => "person's passTime1..7 unreadable",
            DenyReason::Stranger => "stranger",
            DenyReason::UnknownPerson => "face matched an idNumber that is not registered",
            DenyReason::UnknownCard => "unknown card",
            DenyReason::WrongPassword => "wrong password",
            DenyReason::CardFaceMismatch => "face is not the holder of the card",
        })
    }
}

/// The verdict on a presentation, for logs: the truth about the credential, which the door
/// may override (`alwaysOpenDoor`, `autoOpenDoorEnable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The credential is good and its holder may pass now.
    Allowed,
    /// The cloud decides: a visitor (priority 3), or QR / RS485 pass-through.
    CloudDecides,
    /// A good card in face authentication mode: waiting for the holder's face.
    AwaitingFace,
    /// Refused.
    Denied(DenyReason),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Allowed => f.write_str("allowed"),
            Verdict::CloudDecides => f.write_str("the cloud decides"),
            Verdict::AwaitingFace => f.write_str("card accepted, waiting for the holder's face"),
            Verdict::Denied(reason) => write!(f, "denied: {reason}"),
        }
    }
}

/// What to do about one presentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Open the door now.
    pub open: bool,
    /// Keep the door shut until the `uploadRecordResp` of this record says `controlState`
    /// (visitor, pass-through, or `autoOpenDoorEnable` off); offline means no open.
    pub await_cloud: bool,
    /// Store and upload a record. False for a repeat within `recogIntervalTime`, for a card
    /// waiting for a face, and for strangers when stranger recognition is off.
    pub record: bool,
    /// True when `record` is false only because of `recogIntervalTime`.
    pub repeat: bool,
    /// `snapType` of the record.
    pub snap_type: &'static str,
    /// `compareResult` of the record.
    pub compare_result: &'static str,
    /// The verdict, for logs.
    pub reason: Verdict,
    /// What to speak now ("" for nothing; the cloud's `msg` comes later when awaited).
    pub voice: String,
    /// What to show now ("" for nothing).
    pub display: String,
    /// The IC card involved ("" for none): the card presented, or the one paired with a face.
    pub card_number: String,
    /// The identity `recogIntervalTime` noted for this record, for [`Engine::record_not_saved`].
    repeat_key: Option<String>,
}

/// Whether a presented card number is the registered one: by value, as [`CardNumber`]
/// compares (leading zeros are insignificant). A registered text that is no card number
/// (blank, or stored before numbers were checked) never matches.
pub fn card_matches(registered: &str, presented: &CardNumber) -> bool {
    CardNumber::parse(registered).is_ok_and(|r| r == *presented)
}

/// The person the credential designates, if `person` really is that person: the daemon
/// looks persons up, the engine checks that the lookup fits.
fn subject<'a>(credential: &Credential, person: Option<&'a Person>, policy: &AccessPolicy) -> Option<&'a Person> {
    let person = person?;
    let fits = match credential {
        Credential::Face { id_number, .. } => person.id_number.trim() == id_number.trim(),
        Credential::Card(number) => card_matches(&person.card, number),
        Credential::Password(password) => {
            !is_permanent_password(password, policy) && !person.password.is_empty() && person.password == *password
        }
        Credential::Stranger { .. } | Credential::Qr(_) | Credential::Rs485(_) => false,
    };
    fits.then_some(person)
}

fn is_permanent_password(password: &str, policy: &AccessPolicy) -> bool {
    !policy.permanent_password.is_empty() && password == policy.permanent_password
}

/// The rights of a registered person at `now`.
fn rights(person: &Person, policy: &AccessPolicy, now: NaiveDateTime) -> Verdict {
    if person.priority == Priority::Blacklist {
        return Verdict::Denied(DenyReason::Blacklisted);
    }
    if let Err(reason) = within_validity(person, now) {
        return Verdict::Denied(reason);
    }
    match person.priority {
        // Refused above, before the dates: a blacklisted person is never "expired".
        Priority::Blacklist => Verdict::Denied(DenyReason::Blacklisted),
        Priority::AnyTime => Verdict::Allowed,
        Priority::Visitor => Verdict::CloudDecides,
        Priority::Windowed => {
            let (weekday, time) = (now.weekday(), now.time());
            match PersonWindows::parse(&person.pass_times) {
                Err(_) => Verdict::Denied(DenyReason::MalformedPassTime),
                Ok(windows) if !windows.allows(weekday, time) => Verdict::Denied(DenyReason::OutsidePassTime),
                Ok(_) if !policy.device_windows.allows(weekday, time) => {
                    Verdict::Denied(DenyReason::OutsideDevicePassTime)
                }
                Ok(_) => Verdict::Allowed,
            }
        }
    }
}

/// Start and end dates, both inclusive; an empty date is no bound on that side.
fn within_validity(person: &Person, now: NaiveDateTime) -> Result<(), DenyReason> {
    let today = now.date();
    let bound = |text: &str| -> Result<Option<chrono::NaiveDate>, DenyReason> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        parse_valid_date(text).map(Some).ok_or(DenyReason::MalformedValidity)
    };
    let start = bound(&person.valid_start)?;
    let end = bound(&person.valid_end)?;
    if start.is_some_and(|s| today < s) || end.is_some_and(|e| today > e) {
        return Err(DenyReason::OutsideValidity);
    }
    Ok(())
}

/// A registered card waiting for its holder's face.
#[derive(Debug, Clone, PartialEq)]
struct PendingCard {
    id_number: String,
    number: String,
    at_ms: i64,
}

/// What a credential amounts to, before the door, the texts and the interval are applied.
struct Assessment<'a> {
    snap_type: &'static str,
    verdict: Verdict,
    person: Option<&'a Person>,
    card_number: String,
    /// Identity for `recogIntervalTime`; `None` is never deduplicated.
    repeat_key: Option<String>,
}

/// The decision engine of one door, with its small memory.
#[derive(Debug, Default)]
pub struct Engine {
    last_record_ms: HashMap<String, i64>,
    pending_card: Option<PendingCard>,
}

impl Engine {
    /// An engine with no history.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Decides about one presentation.
    ///
    /// `person` is the registered person the daemon found for the credential (by idNumber for
    /// a face, card number for a card, password for a password), `None` if none. `now` is the
    /// local wall-clock time (validity dates, pass windows); `now_ms` a millisecond counter
    /// that does not jump (recogIntervalTime, card-then-face pairing).
    pub fn decide(
        &mut self,
        credential: &Credential,
        person: Option<&Person>,
        policy: &AccessPolicy,
        now: NaiveDateTime,
        now_ms: i64,
    ) -> Decision {
        self.forget_old(policy, now_ms);
        let assessment = self.assess(credential, person, policy, now, now_ms);
        self.conclude(assessment, policy, now_ms)
    }

    fn assess<'a>(
        &mut self,
        credential: &Credential,
        person: Option<&'a Person>,
        policy: &AccessPolicy,
        now: NaiveDateTime,
        now_ms: i64,
    ) -> Assessment<'a> {
        let person = subject(credential, person, policy);
        let person_key = person.map(|p| format!("person:{}", p.id_number.trim()));
        let assessed = |snap_type, verdict, card_number: String, repeat_key| Assessment {
            snap_type,
            verdict,
            person,
            card_number,
            repeat_key,
        };
        match credential {
            Credential::Face { id_number, .. } => {
                let Some(p) = person else {
                    // A stale recognizer gallery: report like a stranger (the photo is real).
                    return assessed(
                        snap_type::STRANGER,
                        Verdict::Denied(DenyReason::UnknownPerson),
                        String::new(),
                        Some(format!("person:{}", id_number.trim())),
                    );
                };
                match self.pending_card.take() {
                    Some(card) if card.id_number == p.id_number.trim() => {
                        assessed(snap_type::FACE_AND_CARD, rights(p, policy, now), card.number, person_key)
                    }
                    Some(card) => assessed(
                        snap_type::FACE_AND_CARD,
                        Verdict::Denied(DenyReason::CardFaceMismatch),
                        card.number,
                        person_key,
                    ),
                    None => assessed(snap_type::FACE, rights(p, policy, now), String::new(), person_key),
                }
            }
            // An unmatched face leaves a waiting card alone: the recognizer may still match
            // the holder within the window.
            Credential::Stranger { .. } => {
                assessed(snap_type::STRANGER, Verdict::Denied(DenyReason::Stranger), String::new(), None)
            }
            Credential::Card(number) => {
                // A new card is a new attempt: whatever card was waiting is dropped.
                self.pending_card = None;
                let key = format!("card:{}", number.key());
                let number = number.as_str().to_string();
                let Some(p) = person else {
                    return assessed(
                        snap_type::UNKNOWN_CARD,
                        Verdict::Denied(DenyReason::UnknownCard),
                        number,
                        Some(key),
                    );
                };
                let verdict = rights(p, policy, now);
                let needs_face = policy.face_card_mode == FaceCardMode::FaceAuthentication
                    && !policy.always_open_door
                    && !matches!(verdict, Verdict::Denied(_));
                if needs_face {
                    self.pending_card = Some(PendingCard {
                        id_number: p.id_number.trim().to_string(),
                        number: number.clone(),
                        at_ms: now_ms,
                    });
                    return assessed(snap_type::CARD, Verdict::AwaitingFace, number, None);
                }
                assessed(snap_type::CARD, verdict, number, person_key)
            }
            Credential::Password(password) => {
                if is_permanent_password(password, policy) {
                    return assessed(snap_type::PERMANENT_PASSWORD, Verdict::Allowed, String::new(), None);
                }
                match person {
                    Some(p) => assessed(snap_type::PASSWORD, rights(p, policy, now), String::new(), person_key),
                    // Every wrong attempt is recorded: guessing must show.
                    None => {
                        assessed(snap_type::PASSWORD, Verdict::Denied(DenyReason::WrongPassword), String::new(), None)
                    }
                }
            }
            Credential::Qr(data) => assessed(
                snap_type::QR_PASS_THROUGH,
                Verdict::CloudDecides,
                String::new(),
                Some(format!("qr:{}", base64_text(data))),
            ),
            Credential::Rs485(data) => assessed(
                snap_type::RS485_PASS_THROUGH,
                Verdict::CloudDecides,
                String::new(),
                Some(format!("rs485:{}", base64_text(data))),
            ),
        }
    }

    fn conclude(&mut self, a: Assessment<'_>, policy: &AccessPolicy, now_ms: i64) -> Decision {
        let stranger = matches!(a.verdict, Verdict::Denied(DenyReason::Stranger | DenyReason::UnknownPerson));
        let ignored = stranger && !policy.stranger_recognition;
        let repeat = !ignored
            && a.verdict != Verdict::AwaitingFace
            && a.repeat_key.as_ref().is_some_and(|key| {
                self.last_record_ms.get(key).is_some_and(|&at| within(at, now_ms, policy.recog_interval_ms))
            });
        let record = !ignored && !repeat && a.verdict != Verdict::AwaitingFace;

        let (open, await_cloud) = if policy.always_open_door {
            (true, false)
        } else {
            match a.verdict {
                // A repeat still opens: the person may have missed the first opening.
                Verdict::Allowed if policy.auto_open_door => (true, false),
                Verdict::Allowed | Verdict::CloudDecides => (false, record),
                Verdict::AwaitingFace | Verdict::Denied(_) => (false, false),
            }
        };

        let (voice, display) = if ignored || repeat || await_cloud {
            (String::new(), String::new())
        } else {
            texts(a.verdict, a.person, &policy.texts)
        };

        let repeat_key = if record { a.repeat_key } else { None };
        if let Some(key) = &repeat_key {
            self.last_record_ms.insert(key.clone(), now_ms);
        }

        Decision {
            open,
            await_cloud,
            record,
            repeat,
            snap_type: a.snap_type,
            compare_result: match a.verdict {
                Verdict::Denied(reason) => reason.compare_result(),
                Verdict::Allowed | Verdict::CloudDecides | Verdict::AwaitingFace => compare_result::SUCCESS,
            },
            reason: a.verdict,
            voice,
            display,
            card_number: a.card_number,
            repeat_key,
        }
    }

    /// The record `decision` asked for could not be saved (a full disk): the presentation does
    /// not count for `recogIntervalTime`, so the next one within the interval is decided and
    /// recorded afresh — it must not pass as "already recorded" (a door kept shut by
    /// `on_full = "deny"` would open on the second try).
    pub fn record_not_saved(&mut self, decision: &Decision) {
        if let Some(key) = &decision.repeat_key {
            self.last_record_ms.remove(key);
        }
    }

    /// Drops interval entries and a waiting card that can no longer matter, so memory stays
    /// bounded by the people seen within one interval.
    fn forget_old(&mut self, policy: &AccessPolicy, now_ms: i64) {
        let interval = policy.recog_interval_ms;
        self.last_record_ms.retain(|_, at| within(*at, now_ms, interval));
        if self
            .pending_card
            .as_ref()
            .is_some_and(|card| !within_inclusive(card.at_ms, now_ms, policy.card_face_window_ms))
        {
            self.pending_card = None;
        }
    }
}

/// `now` is less than `span` ms after `at` (a counter that went back is not "within").
fn within(at: i64, now: i64, span: i64) -> bool {
    now >= at && now - at < span
}

/// Like [`within`] but the last millisecond counts: "within 5 s" includes 5000 ms.
fn within_inclusive(at: i64, now: i64, span: i64) -> bool {
    now >= at && now - at <= span
}

/// The texts for a verdict that is not awaited from the cloud.
fn texts(verdict: Verdict, person: Option<&Person>, t: &Announcements) -> (String, String) {
    let (voice, display) = match verdict {
        Verdict::Allowed => match person {
            Some(p) => (greeting(p, t, Channel::Voice), greeting(p, t, Channel::Display)),
            // The permanent password: the door itself is the answer.
            None => (String::new(), String::new()),
        },
        Verdict::CloudDecides => (String::new(), String::new()),
        Verdict::AwaitingFace => (t.show_face_voice.clone(), t.show_face_display.clone()),
        Verdict::Denied(DenyReason::Stranger | DenyReason::UnknownPerson) => {
            let voice =
                if t.stranger_voice_custom { t.stranger_voice.clone() } else { DEFAULT_STRANGER_VOICE.to_string() };
            (voice, t.stranger_display.clone())
        }
        Verdict::Denied(reason) => {
            let (voice, display) = match reason {
                DenyReason::OutsidePassTime | DenyReason::OutsideDevicePassTime | DenyReason::MalformedPassTime => {
                    (&t.not_in_pass_time_voice, &t.not_in_pass_time_display)
                }
                DenyReason::OutsideValidity | DenyReason::MalformedValidity => {
                    (&t.not_in_valid_time_voice, &t.not_in_valid_time_display)
                }
                _ => (&t.not_auth_voice, &t.not_auth_display),
            };
            (
                if t.alarm_voice_enabled { voice.clone() } else { String::new() },
                if t.alarm_display_enabled { display.clone() } else { String::new() },
            )
        }
    };
    let voice = if t.voice_enabled { voice } else { String::new() };
    (voice, display)
}

fn base64_text(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The person part of an `uploadRecord`, every value a string ("" where unknown).
///
/// Keys: snapType, compareResult, idNumber, name, sex, birth, company, department, phone,
/// validDateStart, validDateEnd, visitorVoiceText (what was spoken), inOutMode, normalNumber,
/// data (Base64 of QR / RS485 bytes). The uploader adds msgID, passTime, the photos and
/// offLineRecordNum. Person fields are filled only when `person` is the one the credential
/// designates; a typed password is never copied into the record.
pub fn record_fields(
    decision: &Decision,
    person: Option<&Person>,
    credential: &Credential,
    policy: &AccessPolicy,
) -> BTreeMap<String, String> {
    let person = subject(credential, person, policy);
    let person_field = |get: fn(&Person) -> &str| person.map(get).unwrap_or("").trim().to_string();
    let extra_field = |key: &str| person.map(|p| extra(p, key)).unwrap_or("").to_string();
    let card = if decision.card_number.is_empty() { person_field(|p| &p.card) } else { decision.card_number.clone() };
    let data = match credential {
        Credential::Qr(data) | Credential::Rs485(data) => base64_text(data),
        _ => String::new(),
    };
    let mut fields = BTreeMap::new();
    let mut put = |key: &str, value: String| {
        fields.insert(key.to_string(), value);
    };
    put("snapType", decision.snap_type.to_string());
    put("compareResult", decision.compare_result.to_string());
    put("idNumber", person_field(|p| &p.id_number));
    put("name", person_field(|p| &p.name));
    put("sex", extra_field("sex"));
    put("birth", extra_field("birthday"));
    put("company", extra_field("company"));
    put("department", extra_field("department"));
    put("phone", extra_field("phone"));
    put("validDateStart", person_field(|p| &p.valid_start));
    put("validDateEnd", person_field(|p| &p.valid_end));
    put("visitorVoiceText", decision.voice.clone());
    put("inOutMode", policy.in_out_mode.code().to_string());
    put("normalNumber", card);
    put("data", data);
    fields
}
