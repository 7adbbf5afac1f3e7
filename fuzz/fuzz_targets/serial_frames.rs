//! RS485 and QR-reader input: bytes in arbitrary bursts and idle gaps, framed as the serial
//! reader thread frames them. Frames are never empty and never longer than the limit.
#![no_main]

use facegate::hw::serial::Framer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    for mut framer in [Framer::lines(), Framer::idle_gap()] {
        let mut total_in = 0;
        let mut total_out = 0;
        // Bursts of varying length, with an idle gap whenever a burst starts with 0xff.
        for chunk in rest.chunks(usize::from(split % 64) + 1) {
            if chunk[0] == 0xff {
                if let Some(frame) = framer.idle() {
                    assert!(!frame.is_empty());
                    total_out += frame.len();
                }
            }
            total_in += chunk.len();
            for frame in framer.push(chunk) {
                assert!(
                    !frame.is_empty() && frame.len() <= facegate::hw::serial::MAX_FRAME,
                    "frame of {} bytes",
                    frame.len()
                );
                total_out += frame.len();
            }
        }
        if let Some(frame) = framer.idle() {
            total_out += frame.len();
        }
        assert!(total_out <= total_in);
    }
});
