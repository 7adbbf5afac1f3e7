//! Greeting texts for registered persons, from the person's and the device's settings.
//!
//! A person's `voiceSpecialMode` / `displaySpecialMode` (1..=5) wins over the device's
//! `registerVoiceMode` / `displayTextMode`; with it come the person's own Mr/Ms flag. Texts
//! before the name, the name and texts after it are joined without spaces (Chinese), except
//! that a space separates two ASCII characters ("Hello" + "Alice" = "Hello Alice").

use crate::model::Person;

use super::policy::{Announcements, GreetingMode};

/// Voice or display: the two outputs have parallel settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Voice,
    Display,
}

/// A field of the person object kept in `Person::extra`, by spec name (also ignoring case,
/// since the spec spells `visitordisplayText` with a lower-case d).
pub(crate) fn extra<'a>(person: &'a Person, key: &str) -> &'a str {
    person
        .extra
        .get(key)
        .or_else(|| person.extra.iter().find(|(k, _)| k.trim().eq_ignore_ascii_case(key)).map(|(_, v)| v))
        .map(|v| v.trim())
        .unwrap_or("")
}

/// The greeting for a registered person who may pass.
pub(crate) fn greeting(person: &Person, texts: &Announcements, channel: Channel) -> String {
    let (mode_key, sex_key, personal_before, personal_after) = match channel {
        Channel::Voice => (
            "voiceSpecialMode",
            "voiceNameSexEnable",
            extra(person, "visitorVoiceTextBeforeName"),
            extra(person, "visitorVoiceText"),
        ),
        Channel::Display => (
            "displaySpecialMode",
            "displayNameSexEnable",
            extra(person, "visitordisplayTextBeforeName"),
            extra(person, "visitordisplayText"),
        ),
    };
    let (fixed_before, fixed_after, device_mode, device_titled) = match channel {
        Channel::Voice => (
            texts.register_voice_before_name.as_str(),
            texts.register_voice_after_name.as_str(),
            texts.register_voice_mode,
            texts.register_voice_name_sex,
        ),
        Channel::Display => (
            texts.display_before_name.as_str(),
            texts.display_after_name.as_str(),
            texts.display_text_mode,
            texts.display_name_sex,
        ),
    };
    let (mode, titled) = match GreetingMode::from_person_code(extra(person, mode_key)) {
        Some(mode) => (mode, extra(person, sex_key) == "1"),
        None => (device_mode, device_titled),
    };
    let name =
        if titled { titled_name(person.name.trim(), extra(person, "sex")) } else { person.name.trim().to_string() };
    match mode {
        GreetingMode::NamePersonal => join(&[personal_before, &name, personal_after]),
        GreetingMode::Name => name,
        GreetingMode::Personal => join(&[personal_before, personal_after]),
        GreetingMode::Fixed => join(&[fixed_before, fixed_after]),
        GreetingMode::NameFixed => join(&[fixed_before, &name, fixed_after]),
    }
}

/// The name with a form of address: 张三先生 / 李四女士 for Chinese sex values, "Mr Smith" /
/// "Ms Smith" for English ones, the bare name when the sex is unknown.
fn titled_name(name: &str, sex: &str) -> String {
    match sex.to_ascii_lowercase().as_str() {
        "男" => format!("{name}先生"),
        "女" => format!("{name}女士"),
        "male" | "m" => format!("Mr {name}"),
        "female" | "f" => format!("Ms {name}"),
        _ => name.to_string(),
    }
}

/// Joins the non-empty parts, with a space only between two ASCII characters.
pub(crate) fn join(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let left_ascii = out.chars().last().is_some_and(|c| c.is_ascii());
        let right_ascii = part.chars().next().is_some_and(|c| c.is_ascii());
        if left_ascii && right_ascii {
            out.push(' ');
        }
        out.push_str(part);
    }
    out
}
