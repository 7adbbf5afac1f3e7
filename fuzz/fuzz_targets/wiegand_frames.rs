//! Wiegand input: arbitrary falling edges on D0/D1 with arbitrary spacing, as a reader, a
//! floating line or interference makes them, through the decoder, keypad entry and the mapping
//! to credentials. A card frame that the output encoder makes must decode to the same number.
//!
//! Input: byte 0 the `entranceWgInMode`, byte 1 the board's `end_gap_bit_times` (2..=16), bytes
//! 2..10 a card number for the round trip, then 3 bytes per step: flags and a 16-bit delay.
#![no_main]

use facegate::hw::wiegand::{
    DecoderTiming, WiegandDecoder, WiegandFormat, WiegandFrame, WiegandInput, WiegandLine, encode_card,
};
use facegate::model::Credential;
use libfuzzer_sys::fuzz_target;

/// Sends `bits` at a 2 ms period starting at `t0` and returns the decoded frames.
fn round_trip(number: u64, format: WiegandFormat, timing: DecoderTiming) {
    let Ok(bits) = encode_card(number, format) else {
        let data_bits = if format == WiegandFormat::W34 { 32 } else { 24 };
        assert!(number >> data_bits != 0, "{number} fits {data_bits} bits yet was refused");
        return;
    };
    let mut d = WiegandDecoder::new(timing);
    for (i, &b) in bits.0.iter().enumerate() {
        d.edge(if b { WiegandLine::D1 } else { WiegandLine::D0 }, 1_000_000 + i as u64 * 2_000_000);
    }
    d.flush();
    let frame = d.next_frame().expect("a frame").expect("an encoded frame decodes");
    assert!(matches!(frame, WiegandFrame::Card26 { .. } | WiegandFrame::Card34 { .. }), "{frame:?}");
    // Never truncated: a frame that was sent carries the whole number.
    assert_eq!(frame.card_number(), Some(number));
    assert!(d.next_frame().is_none());
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let mode = match data[0] % 4 {
        0 => "0",
        1 => "1",
        2 => "2",
        _ => " 1 ",
    };
    let timing = DecoderTiming { end_gap_bit_times: 2 + u64::from(data[1] % 15), ..DecoderTiming::default() };
    let number = u64::from_le_bytes(data[2..10].try_into().expect("8 bytes"));
    round_trip(number, WiegandFormat::W26, timing);
    round_trip(number, WiegandFormat::W34, timing);
    round_trip(number & 0xffff_ffff, WiegandFormat::W34, timing);

    let mut input = WiegandInput::new(timing);
    let mut now: u64 = 0;
    for step in data[10..].chunks_exact(3) {
        let flags = step[0];
        let delay = u64::from(u16::from_le_bytes([step[1], step[2]]));
        // Delays from 1 ns up to ~11 minutes: bounces, bit periods, frame gaps, idle lines.
        let scale = match (flags >> 1) & 3 {
            0 => 1,
            1 => 1_000,
            2 => 100_000,
            _ => 10_000_000,
        };
        // Edges of the two lines are read from two descriptors and may come slightly out of
        // order: bit 3 puts this edge before the previous one.
        let at = if flags & 8 != 0 { now.saturating_sub(delay * scale) } else { now.saturating_add(delay * scale) };
        now = now.max(at);
        if flags & 0x80 != 0 {
            for event in input.events(mode, now) {
                match event.credential {
                    Credential::Card(n) => assert!(n.as_str().parse::<u64>().is_ok(), "card {n:?} is not decimal"),
                    Credential::Password(p) => {
                        assert!(!p.is_empty() && p.len() <= 16 && p.bytes().all(|b| b.is_ascii_digit()), "{p:?}")
                    }
                    other => panic!("Wiegand made a {other:?}"),
                }
            }
        } else {
            let line = if flags & 1 == 0 { WiegandLine::D0 } else { WiegandLine::D1 };
            input.decoder.edge(line, at);
        }
    }
    input.decoder.flush();
    let _ = input.events(mode, now);
    let _ = input.decoder.stats();
});
