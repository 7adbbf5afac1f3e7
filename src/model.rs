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
    /// An IC card number (Wiegand reader, RS485 reader or `facegate card`), checked.
    Card(CardNumber),
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

/// The longest card number accepted, in characters: the spec's `normalNumber` is at most 32.
pub const CARD_NUMBER_MAX_CHARS: usize = 32;

/// The longest hexadecimal UID accepted after `0x`: 16 digits, 64 bits (a 4-, 7- or 8-byte
/// ISO 14443 UID), so its decimal value always fits [`CARD_NUMBER_MAX_CHARS`].
pub const CARD_HEX_UID_MAX_DIGITS: usize = 16;

/// An IC card number, the one form every entry point (control socket, CLI, Wiegand, RS485,
/// the cloud's person records) turns a card into before it is stored, looked up or sent.
///
/// A card number is 1 to 32 decimal digits; leading zeros are insignificant (readers and
/// clouds disagree on them: `0012345` is card `12345`). Some readers (RS485 and QR card
/// readers) deliver the card's UID in hexadecimal instead; that form is accepted only when it
/// says so, as `0x` followed by 1 to 16 hex digits, and stands for its decimal value (the
/// number a decimal reader reports for the same UID). Surrounding whitespace is ignored;
/// anything else (letters, inner spaces, signs, an empty string) is refused.
#[derive(Debug, Clone)]
pub struct CardNumber {
    /// As given (trimmed), for records and `normalNumber`: the cloud gets back what it sent.
    text: String,
    /// The decimal value without leading zeros ("0" for zero): what equality and the store's
    /// index use.
    key: String,
}

/// Why a text is not a card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardNumberError {
    /// Nothing but whitespace.
    Empty,
    /// More than [`CARD_NUMBER_MAX_CHARS`] characters (or hex digits over 16); the length.
    TooLong(usize),
    /// A character that is not a (hex) digit: the first one.
    NotDigits(char),
}

impl std::fmt::Display for CardNumberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardNumberError::Empty => f.write_str("a card number is empty"),
            CardNumberError::TooLong(n) => write!(
                f,
                "a card number of {n} characters is too long: at most {CARD_NUMBER_MAX_CHARS} decimal digits \
                 or 0x and {CARD_HEX_UID_MAX_DIGITS} hex digits"
            ),
            CardNumberError::NotDigits(c) => {
                write!(f, "a card number has only decimal digits (or 0x and hex digits), not {c:?}")
            }
        }
    }
}

impl std::error::Error for CardNumberError {}

impl CardNumber {
    /// Parses a card number as described on [`CardNumber`]. The length is checked before
    /// anything is copied, so a huge input costs no memory.
    pub fn parse(text: &str) -> std::result::Result<CardNumber, CardNumberError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CardNumberError::Empty);
        }
        if text.len() > CARD_NUMBER_MAX_CHARS {
            return Err(CardNumberError::TooLong(text.chars().count()));
        }
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
                return Err(CardNumberError::NotDigits(c));
            }
            if hex.is_empty() {
                return Err(CardNumberError::Empty);
            }
            let digits = hex.trim_start_matches('0');
            if digits.len() > CARD_HEX_UID_MAX_DIGITS {
                return Err(CardNumberError::TooLong(text.len()));
            }
            let value = if digits.is_empty() { 0 } else { u64::from_str_radix(digits, 16).unwrap_or(0) };
            return Ok(CardNumber { text: text.to_string(), key: value.to_string() });
        }
        if let Some(c) = text.chars().find(|c| !c.is_ascii_digit()) {
            return Err(CardNumberError::NotDigits(c));
        }
        let key = match text.trim_start_matches('0') {
            "" => "0",
            significant => significant,
        };
        Ok(CardNumber { text: text.to_string(), key: key.to_string() })
    }

    /// The card a reader reported as a binary number (Wiegand).
    pub fn from_value(value: u64) -> CardNumber {
        let text = value.to_string();
        CardNumber { key: text.clone(), text }
    }

    /// The number as given, for records and logs.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The normalised decimal form (no leading zeros): the store's index and equality.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value as a binary number, if it fits 64 bits (Wiegand output).
    pub fn value(&self) -> Option<u64> {
        self.key.parse().ok()
    }
}

/// Two card numbers are the same card when their values are equal, whatever leading zeros or
/// form (decimal or `0x`) each was given in.
impl PartialEq for CardNumber {
    fn eq(&self, other: &CardNumber) -> bool {
        self.key == other.key
    }
}

impl Eq for CardNumber {}

impl std::fmt::Display for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zeros_are_insignificant() {
        let a = CardNumber::parse("0012345").unwrap();
        let b = CardNumber::parse("12345").unwrap();
        assert_eq!(a, b);
        assert_eq!((a.as_str(), a.key()), ("0012345", "12345"));
        assert_ne!(b, CardNumber::parse("123450").unwrap());
        assert_eq!(CardNumber::parse("000").unwrap().key(), "0");
        assert_eq!(CardNumber::parse(" 42\n").unwrap().as_str(), "42");
    }

    #[test]
    fn the_length_bound_is_32_characters() {
        let at = "9".repeat(CARD_NUMBER_MAX_CHARS);
        assert_eq!(CardNumber::parse(&at).unwrap().key(), at);
        assert_eq!(CardNumber::parse(&format!("{at}9")), Err(CardNumberError::TooLong(33)));
        assert_eq!(CardNumber::parse(&"1".repeat(44)), Err(CardNumberError::TooLong(44)));
        // 10 MB of digits: refused by length alone.
        assert!(matches!(CardNumber::parse(&"7".repeat(10 << 20)), Err(CardNumberError::TooLong(_))));
    }

    #[test]
    fn anything_but_digits_is_refused() {
        assert_eq!(CardNumber::parse(""), Err(CardNumberError::Empty));
        assert_eq!(CardNumber::parse("  "), Err(CardNumberError::Empty));
        assert_eq!(CardNumber::parse("abc"), Err(CardNumberError::NotDigits('a')));
        assert_eq!(CardNumber::parse("12 34"), Err(CardNumberError::NotDigits(' ')));
        assert_eq!(CardNumber::parse("-1"), Err(CardNumberError::NotDigits('-')));
        assert_eq!(CardNumber::parse("１２"), Err(CardNumberError::NotDigits('１')));
        let e = CardNumber::parse("12ab").unwrap_err().to_string();
        assert!(e.contains("decimal digits") && e.contains("'a'"), "{e}");
    }

    #[test]
    fn hex_uids_are_accepted_only_with_0x() {
        let uid = CardNumber::parse("0x0269B5CC").unwrap();
        assert_eq!(uid.key(), "40482252");
        assert_eq!(uid, CardNumber::parse("40482252").unwrap());
        assert_eq!(uid.as_str(), "0x0269B5CC");
        assert_eq!(CardNumber::parse("0xFFFFFFFFFFFFFFFF").unwrap().key(), u64::MAX.to_string());
        assert_eq!(CardNumber::parse("0x00000000FFFFFFFFFFFFFFFF").unwrap().key(), u64::MAX.to_string());
        assert_eq!(CardNumber::parse("0x1FFFFFFFFFFFFFFFF"), Err(CardNumberError::TooLong(19)));
        assert_eq!(CardNumber::parse("0x"), Err(CardNumberError::Empty));
        assert_eq!(CardNumber::parse("0xG1"), Err(CardNumberError::NotDigits('G')));
        assert_eq!(CardNumber::parse("0269B5CC"), Err(CardNumberError::NotDigits('B')));
    }
}
