//! `facegate status`: what the terminal knows, readable with or without the daemon running.

use serde::Serialize;

use crate::config::Config;
use crate::store::Store;

use crate::store::keys;

use super::text;

/// The registration state before the daemon ever stored one.
const NEVER_REGISTERED: &str = "never registered";

/// Everything `status` prints.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The configured device number.
    pub device_no: String,
    /// The configured cloud base URL.
    pub cloud_url: String,
    /// The board profile.
    pub board: String,
    /// Whether a daemon answered on the control socket.
    pub daemon_running: bool,
    /// Registration state as last stored.
    pub registration: String,
    /// Last answer from the cloud, unix ms (0 = never).
    pub last_contact_ms: i64,
    /// Registered persons.
    pub persons: u64,
    /// Records kept on the device.
    pub records: u64,
    /// Records not yet acknowledged by the cloud.
    pub pending_records: u64,
    /// Undelivered records dropped because the storage cap was reached.
    pub evicted_records: u64,
    /// The last error, if any.
    pub last_error: String,
    /// Live data from the running daemon (door state, input counters).
    pub live: serde_json::Value,
    /// Why the store could not be read, if it could not.
    pub store_error: String,
    /// Which firmware the terminal installs (signed only, none, or INSECURE: unsigned too).
    pub firmware_updates: String,
    /// The storage filesystem: free bytes, size, the reserve kept (all 0 when unknown).
    pub disk: DiskLine,
    /// Photos of undelivered records dropped for disk space.
    pub photos_dropped: u64,
    /// Passes admitted although their record could not be saved (a full disk).
    pub unrecorded_passes: u64,
}

/// The storage filesystem's space as `status` shows it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DiskLine {
    /// Bytes facegate can still write.
    pub free_bytes: u64,
    /// The filesystem's size.
    pub total_bytes: u64,
    /// `[storage] reserve_bytes`.
    pub reserve_bytes: u64,
}

impl DiskLine {
    /// The space of the filesystem holding `dir` against `reserve` (zeros if unreadable).
    pub fn of(dir: &std::path::Path, reserve: u64) -> DiskLine {
        // The directory may not exist yet: its parent tells the same filesystem.
        let space = dir.ancestors().find_map(|d| crate::hw::disk::space(d).ok());
        match space {
            Some(s) => DiskLine { free_bytes: s.available, total_bytes: s.total, reserve_bytes: reserve },
            None => DiskLine { reserve_bytes: reserve, ..DiskLine::default() },
        }
    }

    /// Whether the free space is below the reserve.
    pub fn below_reserve(&self) -> bool {
        self.total_bytes > 0 && self.free_bytes < self.reserve_bytes
    }

    /// "1.2 GB free of 3.9 GB, reserve 8.4 MB", with what happens when below it.
    pub fn describe(&self) -> String {
        use crate::hw::disk::human_bytes;
        if self.total_bytes == 0 {
            return format!("free space unknown, reserve {}", human_bytes(self.reserve_bytes));
        }
        let line = format!(
            "{} free of {}, reserve {}",
            human_bytes(self.free_bytes),
            human_bytes(self.total_bytes),
            human_bytes(self.reserve_bytes)
        );
        if self.below_reserve() {
            format!("{line}: BELOW THE RESERVE, old records make room for new ones")
        } else {
            line
        }
    }
}

impl Status {
    /// Gathers the status from the store (read-only) and, if it runs, the daemon.
    pub fn gather(cfg: &Config) -> Status {
        let mut s = Status {
            device_no: cfg.device.device_no.clone(),
            cloud_url: cfg.cloud.url.clone(),
            board: cfg.board.profile.clone(),
            registration: NEVER_REGISTERED.into(),
            firmware_updates: crate::firmware::policy_line(&cfg.update, cfg.path.parent()).1,
            disk: DiskLine::of(&cfg.storage.dir, cfg.storage.reserve_bytes),
            ..Status::default()
        };
        // Counted outside the database, which a full disk cannot write; newer than the last
        // error the database holds, it is the last error.
        let unrecorded = crate::store::Unrecorded::read(&cfg.storage.dir);
        s.unrecorded_passes = unrecorded.count;
        if !Store::db_path(&cfg.storage.dir).exists() {
            s.store_error = "no data yet: the daemon creates the database on its first start".into();
            return s.with_live(cfg);
        }
        match Store::open_readonly(&cfg.storage.dir) {
            Ok(store) => {
                let state = |k: &str| store.state(k).ok().flatten().unwrap_or_default();
                if !state(keys::REGISTRATION).is_empty() {
                    s.registration = state(keys::REGISTRATION);
                }
                s.last_contact_ms = state(keys::LAST_CONTACT).parse().unwrap_or(0);
                s.last_error = state(keys::LAST_ERROR);
                s.persons = store.person_count().unwrap_or(0);
                s.records = store.record_count().unwrap_or(0);
                s.pending_records = store.pending_count().unwrap_or(0);
                s.evicted_records = store.evicted_count().unwrap_or(0);
                s.photos_dropped = store.photos_dropped_count().unwrap_or(0);
                let noted_at: i64 = state(keys::LAST_ERROR_AT).parse().unwrap_or(0);
                if unrecorded.last_ms > noted_at {
                    s.last_error = unrecorded.why.clone();
                }
            }
            Err(e) => s.store_error = e.to_string(),
        }
        if s.last_error.is_empty() && unrecorded.count > 0 {
            s.last_error = unrecorded.why;
        }
        s.with_live(cfg)
    }

    /// Adds what the running daemon says, if it runs.
    fn with_live(mut self, cfg: &Config) -> Status {
        let s = &mut self;
        let req = crate::ctl::Request::Status;
        if let Ok(r) = crate::ctl::request(&cfg.socket_path(), &req, std::time::Duration::from_secs(3)) {
            s.daemon_running = r.ok;
            s.live = r.data;
        }
        self
    }

    /// Plain text for an 80-column serial console.
    pub fn render(&self, now_ms: i64) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut line = |k: &str, v: String| rows.push((k.to_string(), v));
        line("device", self.device_no.clone());
        line("cloud", self.cloud_url.clone());
        line("board", self.board.clone());
        line("daemon", if self.daemon_running { "running".into() } else { "not running".into() });
        line("registration", self.registration_now());
        line("last contact", ago(self.last_contact_ms, now_ms));
        if self.store_error.is_empty() {
            line("persons", self.persons.to_string());
            line("records", format!("{} kept, {} waiting for the cloud", self.records, self.pending_records));
            if self.evicted_records > 0 {
                line("evicted", format!("{} undelivered records dropped (storage cap)", self.evicted_records));
            }
            if self.photos_dropped > 0 {
                line(
                    "photos dropped",
                    format!("{} undelivered records go without their photo (disk space)", self.photos_dropped),
                );
            }
        } else {
            line("storage", self.store_error.trim_start_matches("storage error: ").to_string());
        }
        line("disk", self.disk.describe());
        if self.unrecorded_passes > 0 {
            line(
                "not recorded",
                format!("{} passes admitted while their record could not be saved", self.unrecorded_passes),
            );
        }
        line("firmware", self.firmware_updates.clone());
        line("last error", if self.last_error.is_empty() { "none".into() } else { self.last_error.clone() });
        if let Some(live) = self.live.as_object() {
            for (k, v) in live {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                line(&k.replace('_', " "), v);
            }
        }
        text::labelled(&rows)
    }

    /// The registration line: the stored state is only current while the daemon runs; after
    /// it stopped, "registering" would claim work that nobody is doing.
    fn registration_now(&self) -> String {
        if self.daemon_running || self.registration == NEVER_REGISTERED {
            self.registration.clone()
        } else {
            format!("was {} when the daemon last ran", self.registration)
        }
    }
}

/// "never", "12 s ago", "3 min ago", "5 h ago".
fn ago(then_ms: i64, now_ms: i64) -> String {
    if then_ms <= 0 {
        return "never".into();
    }
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_within_80_columns() {
        let s = Status {
            device_no: "FG0001".into(),
            cloud_url: "http://127.0.0.1:1".into(),
            registration: "registered".into(),
            last_contact_ms: 1_000,
            last_error: "cloud: connection refused".into(),
            ..Status::default()
        };
        let text = s.render(61_000);
        assert!(text.contains("60 s ago"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    }

    #[test]
    fn long_values_wrap_at_words_and_long_labels_keep_apart() {
        let s = Status {
            device_no: "FG0001".into(),
            cloud_url: format!("https://cloud.example:8443/{}", "segment/".repeat(20)),
            registration: "registered".into(),
            daemon_running: true,
            last_error: "cloud: the answer to /device/register was not JSON: expected value at line 1 \
                         column 1; the cloud may be behind a proxy that answers with an HTML page"
                .into(),
            live: serde_json::json!({"door": "closed", "wiegand_parity_errors": 0, "wiegand_unknown_length": 12}),
            ..Status::default()
        };
        let text = s.render(0);
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.contains("\nwiegand parity errors   0\n"), "{text}");
        assert!(text.contains("\nwiegand unknown length  12\n"), "{text}");
        // Words stay whole: "HTML" and "page" are not cut apart.
        assert!(text.lines().any(|l| l.trim_end().ends_with("HTML page")), "{text}");
        assert!(text.contains("registration            registered\n"), "{text}");
    }

    #[test]
    fn a_stopped_daemon_s_registration_is_history() {
        let mut s = Status { registration: "registering".into(), ..Status::default() };
        let text = s.render(0);
        assert!(text.contains("registration  was registering when the daemon last ran\n"), "{text}");
        s.daemon_running = true;
        assert!(s.render(0).contains("registration  registering\n"), "{}", s.render(0));
        let never = Status { registration: NEVER_REGISTERED.into(), ..Status::default() };
        assert!(never.render(0).contains("registration  never registered\n"), "{}", never.render(0));
    }

    #[test]
    fn disk_space_below_the_reserve_and_unrecorded_passes_are_said() {
        let s = Status {
            disk: DiskLine { free_bytes: 900_000, total_bytes: 3_000_000, reserve_bytes: 1_000_000 },
            unrecorded_passes: 4,
            photos_dropped: 2,
            last_error: "disk full: the disk holding /x is full".into(),
            ..Status::default()
        };
        let text = s.render(0);
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.contains("900 kB free of 3.0 MB, reserve 1.0 MB: BELOW THE RESERVE"), "{text}");
        assert!(text.contains("not recorded") && text.contains("4 passes admitted"), "{text}");
        assert!(text.contains("2 undelivered records go without their photo"), "{text}");
        let fine = DiskLine { free_bytes: 1_000_000, ..s.disk };
        assert!(!fine.below_reserve() && !fine.describe().contains("BELOW"));
        assert!(!DiskLine::default().below_reserve(), "an unreadable disk is not called full");
    }

    #[test]
    fn ago_scales() {
        assert_eq!(ago(0, 5), "never");
        assert_eq!(ago(1, 300_001), "5 min ago");
        assert_eq!(ago(1, 36_000_001), "10 h ago");
    }
}
