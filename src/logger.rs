//! A small logger: plain lines on stderr, with syslog priority prefixes under systemd.
//!
//! Under systemd (`JOURNAL_STREAM` set) each line starts with `<N>` so the journal keeps
//! the level and adds its own timestamp; on a console a UTC timestamp is printed instead.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger {
    journal: bool,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Other crates stop at info: ureq's debug and trace output dumps whole HTTP bodies,
        // which carry device secrets and persons' data.
        let ours = metadata.target().starts_with("facegate");
        metadata.level() <= log::max_level() && (ours || metadata.level() <= Level::Info)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // One write per line so lines from different threads never interleave.
        let line = if self.journal {
            let prio = match record.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                Level::Debug | Level::Trace => 7,
            };
            format!("<{prio}>{}\n", record.args())
        } else {
            let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
            format!("{} {:<5} {}\n", now.format("%Y-%m-%dT%H:%M:%S%.3fZ"), record.level(), record.args())
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Parses a level name from the configuration (`info` when unknown).
pub fn level_from_name(name: &str) -> LevelFilter {
    name.parse().unwrap_or(LevelFilter::Info)
}

/// Installs the logger once; later calls only change the level.
pub fn init(level: LevelFilter) {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let _ = log::set_boxed_logger(Box::new(Logger { journal }));
    log::set_max_level(level);
}
