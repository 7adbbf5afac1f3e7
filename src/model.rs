//! Domain types shared by the store, the decision engine, the cloud services and the hardware.

use std::collections::BTreeMap;

/// Access right of a person, the spec's `priority` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// 0: may pass within the person's pass windows (the spec's default).
    #[default]
    Windowed,
    /// 1: never passes (blacklist).
    Blacklist,
    /// 2: passes at any time (VIP).
    AnyTime,
    /// 3: visitor; the cloud decides through `controlState`.
    Visitor,
}

impl Priority {
    /// Parses the spec's code; anything but 0..=3 is `None`.
    pub fn from_code(code: &str) -> Option<Priority> {
        match code.trim() {
            "" | "0" => Some(Priority::Windowed),
            "1" => Some(Priority::Blacklist),
            "2" => Some(Priority::AnyTime),
            "3" => Some(Priority::Visitor),
            _ => None,
        }
    }

    /// The spec's code for this priority.
    pub fn code(self) -> &'static str {
        match self {
            Priority::Windowed => "0",
            Priority::Blacklist => "1",
            Priority::AnyTime => "2",
            Priority::Visitor => "3",
        }
    }
}

/// A registered person as stored on the device (photos are kept apart, see [`PersonPhoto`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Person {
    /// `idNumber`: unique, never "0".
    pub id_number: String,
    /// `name`.
    pub name: String,
    /// `normalNumber`: IC card number, "" when none.
    pub card: String,
    /// `password`: door password, "" when none.
    pub password: String,
    /// `priority`.
    pub priority: Priority,
    /// `validDateStart` as received (`2019_08_09` or `2019_8_9`).
    pub valid_start: String,
    /// `validDateEnd` as received.
    pub valid_end: String,
    /// `passTime1`..`passTime7` (Monday first) as received; "" is all day.
    pub pass_times: [String; 7],
    /// Every other field of the spec's person object as received (sex, phone, voice texts...),
    /// so that `person/info` can give back what the cloud sent.
    pub extra: BTreeMap<String, String>,
}

/// One registration photo of a person.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonPhoto {
    /// Slot 1..=3 (`registerPhoto1`..`registerPhoto3`).
    pub slot: u8,
    /// `registerPhotoIDn`, numeric.
    pub photo_id: String,
    /// The decoded JPEG bytes.
    pub jpeg: Vec<u8>,
}

/// A credential presented at the terminal: the one input of the access path.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// An IC card number (Wiegand reader, RS485 reader or `facegate card`).
    Card(String),
    /// A face matched to a registered person by the vendor's recognizer.
    Face {
        /// The matched person's idNumber.
        id_number: String,
        /// Similarity score, when the recognizer gives one.
        score: Option<f32>,
        /// The recognizer's snapshot (JPEG), if any.
        photo: Option<Vec<u8>>,
    },
    /// A face the recognizer could not match.
    Stranger {
        /// The recognizer's snapshot (JPEG), if any.
        photo: Option<Vec<u8>>,
    },
    /// A scanned QR code, raw bytes.
    Qr(Vec<u8>),
    /// A password typed on the keypad.
    Password(String),
    /// Pass-through data from the RS485 port.
    Rs485(Vec<u8>),
}

/// Where a credential came from, for logs and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The Wiegand input port.
    Wiegand,
    /// The RS485 port.
    Rs485,
    /// The serial QR reader.
    QrReader,
    /// The control socket (CLI, vendor UI or recognizer).
    Control,
}
