//! Board profiles (TOML): what a vendor or integrator writes, parsed and validated with file,
//! line and key in the error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match facegate::board::parse_profile(text, "fuzz.toml") {
        Ok(profile) => {
            let _ = profile.wiegand_out_format();
            let _ = facegate::hw::wiegand::DecoderTiming::of(&profile);
            if let Some(out) = &profile.wiegand_out {
                let _ = facegate::hw::wiegand::OutTiming::of(out);
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("fuzz.toml"), "the error does not name the file: {message}");
        }
    }
});
