//! The integration-test harness: the mock cloud plus a runner for the real `facegate`
//! binary on the sim board with a temporary storage directory.
//!
//! ```ignore
//! mod common;
//! use common::{Daemon, MockCloud, DEADLINE};
//!
//! let cloud = MockCloud::start();
//! cloud.set_register_resp(MockCloud::fast_services());
//! let mut daemon = Daemon::start(&cloud.url(), "");
//! assert!(cloud.wait_for_requests("/device/register", 1, DEADLINE), "{}", cloud.dump());
//! ```
//!
//! Each test crate uses a part of this module, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod firmware;
pub mod mock_cloud;

#[allow(unused_imports)]
pub use mock_cloud::{Misbehaviour, MockCloud, RecordReply, Req};

use serde_json::Value;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The device number every harness config uses.
pub const DEVICE_NO: &str = "FGTEST01";

/// A generous deadline for `wait_until` loops: the machines running the tests are small
/// and shared, and ARM emulation is slower still. Never a timing assertion.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The daemon's config as a TOML table, edited by tests before the daemon starts.
///
/// The base has `[device] device_no`, `[cloud] url` with short timeouts and retry times,
/// `[storage] dir` = the temp dir, `[board] profile = "sim"`, `[control] socket` in the temp
/// dir and `[log] level = "debug"`.
pub struct ConfigBuilder {
    table: toml::Table,
}

impl ConfigBuilder {
    /// The base config for a daemon talking to `cloud_url` with its storage in `dir`.
    pub fn new(cloud_url: &str, dir: &Path) -> ConfigBuilder {
        let mut b = ConfigBuilder { table: toml::Table::new() };
        b.set("device", "device_no", DEVICE_NO)
            .set("cloud", "url", cloud_url)
            .set("cloud", "connect_timeout_ms", 2000)
            .set("cloud", "read_timeout_ms", 5000)
            .set("cloud", "retry_initial_ms", 50)
            .set("cloud", "retry_max_ms", 500)
            .set("storage", "dir", dir.display().to_string())
            .set("board", "profile", "sim")
            .set("control", "socket", dir.join("control.sock").display().to_string())
            .set("log", "level", "debug");
        b
    }

    /// Sets `key` in `[section]`, creating the section when needed.
    pub fn set(&mut self, section: &str, key: &str, value: impl Into<toml::Value>) -> &mut ConfigBuilder {
        self.section(section).insert(key.to_string(), value.into());
        self
    }

    /// Removes `key` from `[section]` (e.g. to test a missing required key).
    pub fn remove(&mut self, section: &str, key: &str) -> &mut ConfigBuilder {
        self.section(section).remove(key);
        self
    }

    /// Merges TOML text into the config: its keys replace the base's, its new sections are
    /// added. Panics on a TOML syntax error (a bug in the test).
    pub fn merge_toml(&mut self, text: &str) -> &mut ConfigBuilder {
        let extra: toml::Table = text.parse().unwrap_or_else(|e| panic!("extra TOML does not parse: {e}\n{text}"));
        merge(&mut self.table, extra);
        self
    }

    /// A value of the config, e.g. `get("cloud", "url")`.
    pub fn get(&self, section: &str, key: &str) -> Option<&toml::Value> {
        self.table.get(section)?.as_table()?.get(key)
    }

    /// The config file's text.
    pub fn render(&self) -> String {
        toml::to_string(&self.table).expect("a TOML table always serialises")
    }

    fn section(&mut self, name: &str) -> &mut toml::Table {
        let v = self.table.entry(name.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !v.is_table() {
            *v = toml::Value::Table(toml::Table::new());
        }
        v.as_table_mut().expect("just made a table")
    }
}

fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A `facegate run` process with its own temp dir (config, storage, control socket, logs).
/// Dropping it kills the process and removes the dir; set `FACEGATE_KEEP_TEST_DIR=1` to
/// keep the dir for a post-mortem.
pub struct Daemon {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Daemon {
    /// Starts the daemon against `cloud_url` with the base config plus `extra_toml`
    /// merged in (see [`ConfigBuilder::merge_toml`]; "" for none).
    pub fn start(cloud_url: &str, extra_toml: &str) -> Daemon {
        Daemon::start_with(cloud_url, |c| {
            c.merge_toml(extra_toml);
        })
    }

    /// Starts the daemon with the base config edited by `edit`.
    pub fn start_with(cloud_url: &str, edit: impl FnOnce(&mut ConfigBuilder)) -> Daemon {
        Daemon::start_raw(|dir| {
            let mut c = ConfigBuilder::new(cloud_url, dir);
            edit(&mut c);
            c.render()
        })
    }

    /// Starts the daemon with a config file of exactly this text; `text` gets the temp dir.
    pub fn start_raw(text: impl FnOnce(&Path) -> String) -> Daemon {
        let mut d = Daemon::prepare(text);
        d.spawn();
        d
    }

    /// Writes the config into a fresh temp dir without starting the daemon (for tests of
    /// `facegate` subcommands that need no running daemon, or that start it later).
    pub fn prepare(text: impl FnOnce(&Path) -> String) -> Daemon {
        let dir = tempfile::Builder::new().prefix("facegate-test-").tempdir().expect("cannot create a temp dir");
        let path = dir.path().to_path_buf();
        let config = path.join("facegate.toml");
        fs::write(&config, text(&path)).expect("cannot write facegate.toml");
        Daemon { dir: Some(dir), path, config, child: None, starts: 0 }
    }

    /// The temp dir: storage, config, control socket, logs.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// The config file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The control socket the base config sets.
    pub fn socket_path(&self) -> PathBuf {
        self.path.join("control.sock")
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) | Some(Err(_)) | None => false,
        }
    }

    /// Starts (another) `facegate run` with the same config and storage. Appends to the
    /// same log files. Panics if one is still running.
    pub fn spawn(&mut self) {
        assert!(!self.is_running(), "the daemon is still running; stop() or kill9() it first");
        self.starts += 1;
        let stdout = self.log_file("stdout.log");
        let mut stderr = self.log_file("stderr.log");
        let _ = writeln!(stderr, "=== harness: start #{} ===", self.starts);
        let child = facegate_command()
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env("RUST_BACKTRACE", "1")
            .spawn()
            .expect("cannot start the facegate binary");
        self.child = Some(child);
    }

    fn log_file(&self, name: &str) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(name))
            .unwrap_or_else(|e| panic!("cannot open {name} in {}: {e}", self.path.display()))
    }

    /// The exit status of a process that has exited (reaped here if needed); `None` while it
    /// runs or when none was started.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGKILL: a power cut as far as the process is concerned (the page cache survives).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit. Panics (with the log) if the daemon is not gone
    /// within [`DEADLINE`]; returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon is not running");
        // SAFETY: kill(2) on our own child's pid; it has not been reaped yet, so the pid
        // cannot have been reused.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let end = Instant::now() + DEADLINE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < end => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the daemon did not exit after SIGTERM\n{}", self.log_tail(60));
                }
            }
        }
    }

    /// Stops the daemon (SIGTERM) if it runs and starts it again: same config, same storage.
    pub fn restart(&mut self) {
        if self.is_running() {
            self.stop();
        }
        self.child = None;
        self.spawn();
    }

    /// Runs `facegate ARGS... --config <file>` (e.g. `&["status", "--json"]`) and returns
    /// its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        facegate_command()
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run the facegate binary")
    }

    /// The sim board's actuator log (`sim-actuators.jsonl`), one JSON value per action.
    /// A last line without its newline is being written and is left out.
    pub fn actuator_log(&self) -> Vec<Value> {
        let text = match fs::read_to_string(self.path.join("sim-actuators.jsonl")) {
            Ok(t) => t,
            Err(_) => return Vec::new(),
        };
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line in sim-actuators.jsonl: {e}: {l}")))
            .collect()
    }

    /// Everything the daemon wrote to stderr and stdout so far, over all its starts.
    pub fn log_text(&self) -> String {
        let read = |n: &str| fs::read_to_string(self.path.join(n)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("stdout.log"))
    }

    /// The last `n` lines of [`Daemon::log_text`], for assertion messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Polls `cond` until it holds (true) or `timeout` passes (false).
    pub fn wait_until(&self, timeout: Duration, cond: impl Fn(&Daemon) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            eprintln!("--- facegate log ({}) ---\n{}\n---", self.path.display(), self.log_tail(80));
        }
        if std::env::var_os("FACEGATE_KEEP_TEST_DIR").is_some() {
            if let Some(d) = self.dir.take() {
                eprintln!("kept test dir {}", d.keep().display());
            }
        }
    }
}

/// A command running the facegate binary under test; `FACEGATE_TEST_RUNNER` (e.g. a qemu-user
/// command line) is put in front of it when set, for cross-compiled test runs.
pub fn facegate_command() -> Command {
    let bin = env!("CARGO_BIN_EXE_facegate");
    match std::env::var("FACEGATE_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut cmd = Command::new(words.next().unwrap_or(bin));
            cmd.args(words).arg(bin);
            cmd
        }
        _ => Command::new(bin),
    }
}

/// Total bytes of recognition photos kept with records (what `[storage]
/// max_record_photo_bytes` caps), read from the database itself: the library keeps this
/// counter to itself.
pub fn record_photo_bytes(storage: &Path) -> u64 {
    let db = storage.join(facegate::store::DB_FILE);
    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("opening {}: {e}", db.display()));
    let bytes: i64 = c.query_row("SELECT photo_bytes FROM outbox_stats WHERE id = 1", [], |r| r.get(0)).unwrap();
    u64::try_from(bytes).unwrap()
}

/// A mock cloud with every service on and polled every second.
pub fn fast_cloud() -> MockCloud {
    let cloud = MockCloud::start();
    cloud.set_register_resp(MockCloud::fast_services());
    cloud
}

/// Waits until the daemon answers on its control socket and has applied its first
/// registerResp (a poll only starts after the service table is in force).
pub fn wait_ready(d: &Daemon, cloud: &MockCloud) {
    assert!(
        d.wait_until(DEADLINE, |d| facegate::ctl::request(
            &d.socket_path(),
            &facegate::ctl::Request::Status,
            Duration::from_secs(5)
        )
        .is_ok()),
        "the control socket never answered\n{}",
        d.log_tail(40)
    );
    assert!(
        cloud.wait_for_requests("/device/open", 1, DEADLINE),
        "no poll after registration\n{}\n{}",
        cloud.dump(),
        d.log_tail(40)
    );
}
