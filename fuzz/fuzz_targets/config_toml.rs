//! The daemon's configuration file (TOML), parsed and validated; errors name file and line.
#![no_main]

use std::path::Path;

use facegate::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/facegate/fuzz.toml");
    match Config::parse(text, path) {
        Ok(config) => {
            let _ = config.socket_path();
            // `facegate config show` prints it; what it prints must be a valid configuration.
            let shown = config.to_toml();
            if let Err(e) = Config::parse(&shown, path) {
                panic!("config show printed a configuration that does not parse: {e}\n{shown}");
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("fuzz.toml"), "the error does not name the file: {message}");
        }
    }
});
