//! The field-level parsers behind the cloud's messages, fed directly: times and time zones,
//! validity dates, person and device pass windows, Base64, device parameter values, card
//! numbers for the Wiegand output. The first byte picks the parser, the rest is the text.
#![no_main]

use facegate::access::{DeviceWindows, PersonWindows, parse_valid_date};
use facegate::hw::wiegand::{WideCards, WiegandFormat, out_frame};
use facegate::protocol::{DeviceParams, binary, time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    match which % 12 {
        0 => {
            if let Ok(ms) = time::parse_cloud_timestamp_ms(text) {
                let _ = time::local_time(ms, 8);
            }
        }
        1 => {
            if let Ok(t) = time::parse_set_time(text) {
                for tz in [-11, 0, 12] {
                    let ms = time::unix_ms(t, tz);
                    let _ = time::pass_time_at(ms, tz);
                }
            }
        }
        2 => {
            // Records carry milliseconds: what is formatted must read back as itself.
            if let Ok(t) = time::parse_pass_time(text) {
                let shown = time::format_pass_time(t);
                let again = time::parse_pass_time(&shown).expect("a formatted passTime parses");
                assert_eq!(time::format_pass_time(again), shown);
            }
        }
        3 => {
            if let Ok(Some(t)) = time::parse_snap_time(text) {
                let shown = time::format_snap_time(t);
                let again = time::parse_snap_time(&shown).expect("a formatted snap time parses");
                assert_eq!(again.map(time::format_snap_time), Some(shown));
            }
        }
        4 => {
            if let Ok(tz) = time::parse_time_zone(text) {
                assert!((-11..=12).contains(&tz));
            }
        }
        5 => {
            let _ = parse_valid_date(text);
        }
        6 => {
            let days: Vec<&str> = text.splitn(7, '|').collect();
            let fields: [String; 7] = std::array::from_fn(|i| days.get(i).copied().unwrap_or("").to_string());
            let _ = PersonWindows::parse(&fields);
        }
        7 => {
            let _ = DeviceWindows::parse(text);
        }
        8 => {
            let _ = binary::decode_base64("fuzz", text);
        }
        9 => {
            // `key=value`: one device parameter as setDevInfo or [params] would set it.
            if let Some((k, v)) = text.split_once('=') {
                if DeviceParams::validate(k, v).is_ok() {
                    let changes = [(k.to_string(), v.to_string())].into_iter().collect();
                    let _ = DeviceParams::defaults().apply(&changes).expect("a validated value applies");
                }
            }
        }
        10 => {
            let Ok(card) = facegate::model::CardNumber::parse(text) else { return };
            assert!(card.key().len() <= facegate::model::CARD_NUMBER_MAX_CHARS, "{card:?}");
            for format in [WiegandFormat::W26, WiegandFormat::W34] {
                for wide in [WideCards::Send34, WideCards::Refuse] {
                    let mode = facegate::protocol::devinfo::WiegandOutMode::CardNumber;
                    if let Ok(Some(bits)) = out_frame(mode, &card, format, wide) {
                        // Never truncated: the frame carries the whole number.
                        let data = &bits.0[1..bits.0.len() - 1];
                        let n = data.iter().fold(0u64, |n, &b| (n << 1) | u64::from(b));
                        assert_eq!(Some(n), card.value(), "{card:?}");
                    }
                }
            }
        }
        _ => {
            let _ = facegate::hw::serial::parse_baud(text);
            let _ = facegate::access::InOutMode::from_code(text);
        }
    }
});
