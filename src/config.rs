//! The one local configuration file (TOML) an integrator edits.
//!
//! Unknown keys and wrong types are errors that name the file, line and key; every optional key
//! has a documented default (see README.md "Configuration").

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `cloud.connect_timeout_ms`: a connection that takes a minute will not come.
pub const CONNECT_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1..=60_000;
/// `cloud.read_timeout_ms`: up to 10 minutes for one answer.
pub const READ_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1..=600_000;
/// `cloud.retry_initial_ms` and `cloud.retry_max_ms`: an unreachable cloud is retried at least
/// once an hour.
pub const RETRY_MS: std::ops::RangeInclusive<u64> = 1..=3_600_000;
/// `cloud.control_wait_ms`: a door waits at most a minute for the cloud's verdict.
pub const CONTROL_WAIT_MS: std::ops::RangeInclusive<u64> = 1..=60_000;

/// `storage.reserve_bytes` by default: room for SQLite to checkpoint and delete on a full
/// partition, small next to a terminal's storage.
pub const DEFAULT_RESERVE_BYTES: u64 = 8 << 20;
/// `storage.reserve_bytes` at most (1 TiB): a larger value is a typo.
pub const MAX_RESERVE_BYTES: u64 = 1 << 40;

/// Where `--config` points when it is not given.
pub const DEFAULT_PATH: &str = "/etc/facegate/facegate.toml";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity of the terminal.
    pub device: DeviceSection,
    /// How to reach the cloud.
    pub cloud: CloudSection,
    /// Where the database and files live.
    pub storage: StorageSection,
    /// Which board profile drives the hardware.
    #[serde(default)]
    pub board: BoardSection,
    /// The control socket for the CLI and the vendor's processes.
    #[serde(default)]
    pub control: ControlSection,
    /// The vendor's face enrollment command, if any.
    #[serde(default)]
    pub recognizer: Option<RecognizerSection>,
    /// Where voice and display texts go.
    #[serde(default)]
    pub announcer: AnnouncerSection,
    /// Reboot and clock.
    #[serde(default)]
    pub system: SystemSection,
    /// The door's own inputs: held-open and forced-open timing, the exit button.
    #[serde(default)]
    pub door: DoorSection,
    /// Where alarms (held open, forced open, tamper, fire) are passed on.
    #[serde(default)]
    pub alarm: AlarmSection,
    /// Firmware download and installation.
    #[serde(default)]
    pub update: UpdateSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Local values for the spec's device parameters (setDevInfo keys such as
    /// `faceRFIDCardEnable = "1"`), in force until the cloud sets them.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// The file this configuration was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[device]`: who this terminal is.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    /// The device number (factory SN) the cloud knows this terminal by.
    pub device_no: String,
    /// Sent in `register`.
    #[serde(default = "default_unknown")]
    pub hardware_version: String,
    /// Sent in `register`; defaults to facegate's own version.
    #[serde(default = "default_software_version")]
    pub software_version: String,
    /// Sent in `register`: the vendor's face algorithm version.
    #[serde(default = "default_none")]
    pub alg_version: String,
    /// The interface version sent as `protocolVersion` and `version`.
    #[serde(default = "default_protocol_version")]
    pub protocol_version: String,
    /// Hours east of UTC for local times until the cloud sets `timeZone`.
    #[serde(default = "default_time_zone")]
    pub time_zone: i32,
}

/// `[cloud]`: the platform's address and how patiently to talk to it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudSection {
    /// Base URL; `/device/register` and the other paths are appended to it.
    pub url: String,
    /// TCP (and TLS) connect timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Time allowed for a whole answer once the request is sent.
    #[serde(default = "default_read_timeout_ms")]
    pub read_timeout_ms: u64,
    /// Answers larger than this are dropped and logged.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// PEM file with the root certificate(s) to trust for https, instead of the built-in roots.
    #[serde(default)]
    pub root_ca: Option<PathBuf>,
    /// First back-off after a failed exchange.
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// Back-off cap.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// How long a door waiting for the cloud's `controlState` waits (visitors, QR codes).
    #[serde(default = "default_control_wait_ms")]
    pub control_wait_ms: u64,
}

/// `[storage]`: the database and its caps.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Directory of the database, photos and downloads.
    pub dir: PathBuf,
    /// Records kept at most; delivered ones are evicted first.
    #[serde(default = "default_max_records")]
    pub max_records: u64,
    /// Bytes of record photos kept at most.
    #[serde(default = "default_max_record_photo_bytes")]
    pub max_record_photo_bytes: u64,
    /// Persons stored at most; beyond it person/operate answers 302.
    #[serde(default = "default_max_persons")]
    pub max_persons: u64,
    /// Free space kept on the storage filesystem: below it the database makes room in itself
    /// (delivered records, then photos of pending ones, then the oldest pending records) instead
    /// of growing, `doctor` fails, and a firmware download that would eat into it is refused.
    #[serde(default = "default_reserve_bytes")]
    pub reserve_bytes: u64,
    /// What the door does for a valid credential whose record cannot be saved (a full disk).
    #[serde(default)]
    pub on_full: OnFull,
}

/// `[storage] on_full`: a valid credential whose record cannot be saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFull {
    /// Open anyway (the default): nobody is locked out by a full disk; the pass is counted in
    /// a small pre-allocated file and shown by `status` and `doctor`.
    #[default]
    Admit,
    /// Keep the door shut: for sites where an unrecorded pass is worse than a locked door.
    Deny,
}

/// `[board]`: the hardware profile.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSection {
    /// A built-in profile name (`sim`, `rpi4`, `rv1126`, `rk3568`) or a path to a profile file.
    #[serde(default = "default_profile")]
    pub profile: String,
}

/// `[control]`: the local control socket.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Socket path; `<storage.dir>/control.sock` when not set.
    #[serde(default)]
    pub socket: Option<PathBuf>,
}

/// `[recognizer]`: the vendor's face enrollment.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecognizerSection {
    /// Run on add/modify/delete with the person's id, operation and photo files.
    pub enroll_command: String,
    /// Longer than this is a registration timeout (304).
    #[serde(default = "default_enroll_timeout_ms")]
    pub timeout_ms: u64,
}

/// `[announcer]`: voice and display output.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncerSection {
    /// Run with the voice text and the display text as its two arguments; the log when empty.
    #[serde(default)]
    pub command: String,
}

/// `[door] held_open_secs`: 0 (off) up to an hour.
pub const HELD_OPEN_SECS: std::ops::RangeInclusive<u64> = 0..=3600;
/// `[door] forced_window_secs`: a grant covers an opening at most 5 minutes later.
pub const FORCED_WINDOW_SECS: std::ops::RangeInclusive<u64> = 1..=300;
/// `[alarm] timeout_ms`: an alarm command runs at most 5 minutes.
pub const ALARM_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1..=300_000;

/// `[door]`: the rules of the door's own inputs (see `access::doorwatch`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DoorSection {
    /// A door open longer than this raises the `held_open` alarm; 0 turns it off.
    #[serde(default = "default_held_open_secs")]
    pub held_open_secs: u64,
    /// A door that opens more than this long after the last grant, exit press or remote open
    /// (with the relay released) raises `forced_open`.
    #[serde(default = "default_forced_window_secs")]
    pub forced_window_secs: u64,
    /// A held exit button holds the door open (off: one pulse per press).
    #[serde(default)]
    pub exit_hold: bool,
}

/// `[alarm]`: passing alarms on to the integrator's systems.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSection {
    /// Run on each alarm start and end with the kind (`held_open`, `forced_open`, `tamper`,
    /// `fire`) and `start` or `end` as its last two arguments; none when empty.
    #[serde(default)]
    pub command: String,
    /// A run longer than this is killed.
    #[serde(default = "default_alarm_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_held_open_secs() -> u64 {
    crate::access::doorwatch::DEFAULT_HELD_OPEN_SECS
}
fn default_forced_window_secs() -> u64 {
    crate::access::doorwatch::DEFAULT_FORCED_WINDOW_SECS
}
fn default_alarm_timeout_ms() -> u64 {
    10_000
}

impl Default for DoorSection {
    fn default() -> Self {
        DoorSection {
            held_open_secs: default_held_open_secs(),
            forced_window_secs: default_forced_window_secs(),
            exit_hold: false,
        }
    }
}

impl Default for AlarmSection {
    fn default() -> Self {
        AlarmSection { command: String::new(), timeout_ms: default_alarm_timeout_ms() }
    }
}

/// `[system]`: reboot and clock on real boards.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSection {
    /// The command that reboots the terminal.
    #[serde(default = "default_reboot_command")]
    pub reboot_command: String,
    /// Whether the cloud may set the system clock (real boards only).
    #[serde(default = "default_true")]
    pub set_clock: bool,
}

/// `[update]`: firmware updates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSection {
    /// Downloads larger than this are refused (502).
    #[serde(default = "default_update_max_bytes")]
    pub max_bytes: u64,
    /// Attempts to resume a cut download before giving up (502).
    #[serde(default = "default_download_retries")]
    pub download_retries: u32,
    /// Installs a file-system image (updateType 0); the file is its last argument.
    #[serde(default)]
    pub install_filesystem: String,
    /// Installs an application package (updateType 1); empty = the built-in agent installer.
    #[serde(default)]
    pub install_application: String,
    /// Installs a kernel (updateType 3).
    #[serde(default)]
    pub install_kernel: String,
    /// Optional lowercase hex SHA-256 the next file must have (504 otherwise).
    #[serde(default)]
    pub sha256: String,
    /// The new agent must register within this time or the previous binary is restored.
    #[serde(default = "default_rollback_timeout_s")]
    pub rollback_timeout_s: u64,
    /// The agent binary the built-in installer replaces; this program's own path when empty
    /// (on the sim board: no binary is replaced unless this is set).
    #[serde(default)]
    pub agent_path: PathBuf,
    /// Public keys whose signature a firmware file must carry: the key (64 hex digits or 44
    /// base64 characters) or a key file's path; none = no remote updates (see `firmware`).
    #[serde(default)]
    pub public_keys: Vec<String>,
    /// Installs unsigned firmware: insecure, called out by status, doctor and the log.
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// `[log]`: logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_unknown() -> String {
    "unknown".into()
}
fn default_none() -> String {
    "none".into()
}
fn default_software_version() -> String {
    env!("CARGO_PKG_VERSION").into()
}
fn default_protocol_version() -> String {
    "V1.0".into()
}
fn default_time_zone() -> i32 {
    8
}
fn default_connect_timeout_ms() -> u64 {
    5_000
}
fn default_read_timeout_ms() -> u64 {
    10_000
}
fn default_max_response_bytes() -> u64 {
    4 * 1024 * 1024
}
fn default_retry_initial_ms() -> u64 {
    1_000
}
fn default_retry_max_ms() -> u64 {
    60_000
}
fn default_control_wait_ms() -> u64 {
    3_000
}
fn default_max_records() -> u64 {
    100_000
}
fn default_max_record_photo_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_max_persons() -> u64 {
    100_000
}
fn default_reserve_bytes() -> u64 {
    DEFAULT_RESERVE_BYTES
}
fn default_profile() -> String {
    "sim".into()
}
fn default_enroll_timeout_ms() -> u64 {
    10_000
}
fn default_reboot_command() -> String {
    "systemctl reboot".into()
}
fn default_true() -> bool {
    true
}
fn default_update_max_bytes() -> u64 {
    512 * 1024 * 1024
}
fn default_download_retries() -> u32 {
    5
}
fn default_rollback_timeout_s() -> u64 {
    120
}
fn default_log_level() -> String {
    "info".into()
}

impl Default for BoardSection {
    fn default() -> Self {
        BoardSection { profile: default_profile() }
    }
}
impl Default for SystemSection {
    fn default() -> Self {
        SystemSection { reboot_command: default_reboot_command(), set_clock: true }
    }
}
impl Default for UpdateSection {
    fn default() -> Self {
        UpdateSection {
            max_bytes: default_update_max_bytes(),
            download_retries: default_download_retries(),
            install_filesystem: String::new(),
            install_application: String::new(),
            install_kernel: String::new(),
            sha256: String::new(),
            rollback_timeout_s: default_rollback_timeout_s(),
            agent_path: PathBuf::new(),
            public_keys: Vec::new(),
            allow_unsigned: false,
        }
    }
}
impl Default for LogSection {
    fn default() -> Self {
        LogSection { level: default_log_level() }
    }
}

impl Config {
    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let bytes = std::fs::read(path).map_err(|e| {
            // A first try on a new machine has no file yet: say where one comes from.
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "; start from the template packaging/facegate.toml (scripts/install.sh puts it in \
                 /etc/facegate/) and set the values marked REQUIRED, or pass --config PATH"
            } else {
                " (pass --config PATH to use another file)"
            };
            Error::Config(format!("cannot read {}: {e}{hint}", path.display()))
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let (line, col) = line_col(std::str::from_utf8(valid).unwrap_or_default(), valid.len());
            Error::Config(format!("{}:{line}:{col}: bytes that are not UTF-8", path.display()))
        })?;
        Config::parse(&text, path)
    }

    /// Parses configuration text; `path` is only used in messages and to resolve relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| Error::Config(describe_toml_error(path, text, &e)))?;
        config.path = path.to_path_buf();
        config.validate(text)?;
        Ok(config)
    }

    fn validate(&self, text: &str) -> Result<()> {
        // `key` is fully qualified (`cloud.url`): the line is the one in its own section.
        let fail = |key: &str, why: &str| {
            let line = find_qualified_key_line(text, key).map(|l| format!(":{l}")).unwrap_or_default();
            Err(Error::Config(format!("{}{line}: key `{key}`: {why}", self.path.display())))
        };
        let dev = &self.device.device_no;
        if dev.trim().is_empty() || dev.len() > 32 || !dev.is_ascii() {
            return fail("device.device_no", "must be 1 to 32 ASCII characters (the spec allows no Chinese)");
        }
        if let Err(why) = check_url(&self.cloud.url) {
            return fail("cloud.url", &why);
        }
        if !(-11..=12).contains(&self.device.time_zone) {
            return fail("device.time_zone", "must be between -11 and 12 hours");
        }
        let c = &self.cloud;
        for (key, value, range) in [
            ("cloud.connect_timeout_ms", c.connect_timeout_ms, CONNECT_TIMEOUT_MS),
            ("cloud.read_timeout_ms", c.read_timeout_ms, READ_TIMEOUT_MS),
            ("cloud.retry_initial_ms", c.retry_initial_ms, RETRY_MS),
            ("cloud.retry_max_ms", c.retry_max_ms, RETRY_MS),
            ("cloud.control_wait_ms", c.control_wait_ms, CONTROL_WAIT_MS),
        ] {
            if !range.contains(&value) {
                return fail(key, &format!("{value} is outside {}..={} ms", range.start(), range.end()));
            }
        }
        if c.retry_max_ms < c.retry_initial_ms {
            return fail("cloud.retry_max_ms", "must be at least retry_initial_ms");
        }
        for (key, value, range) in [
            ("door.held_open_secs", self.door.held_open_secs, HELD_OPEN_SECS),
            ("door.forced_window_secs", self.door.forced_window_secs, FORCED_WINDOW_SECS),
        ] {
            if !range.contains(&value) {
                return fail(key, &format!("{value} is outside {}..={} s", range.start(), range.end()));
            }
        }
        if !ALARM_TIMEOUT_MS.contains(&self.alarm.timeout_ms) {
            let (lo, hi) = (ALARM_TIMEOUT_MS.start(), ALARM_TIMEOUT_MS.end());
            return fail("alarm.timeout_ms", &format!("{} is outside {lo}..={hi} ms", self.alarm.timeout_ms));
        }
        if self.storage.max_records == 0 {
            return fail("storage.max_records", "must be at least 1");
        }
        if self.storage.reserve_bytes > MAX_RESERVE_BYTES {
            return fail("storage.reserve_bytes", &format!("must be at most {MAX_RESERVE_BYTES} (1 TiB)"));
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log.level.as_str()) {
            return fail("log.level", "must be one of error, warn, info, debug, trace");
        }
        if let Err(why) = crate::ctl::check_socket_path(&self.socket_path()) {
            let key = if self.control.socket.is_some() { "control.socket" } else { "storage.dir" };
            return fail(key, &why);
        }
        for (key, value) in &self.params {
            if let Err(why) = crate::protocol::DeviceParams::validate(key, value) {
                let line = find_key_line(text, key).map(|l| format!(":{l}")).unwrap_or_default();
                return Err(Error::Config(format!("{}{line}: key `params.{key}`: {why}", self.path.display())));
            }
        }
        let sha = &self.update.sha256;
        if !sha.is_empty() && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit())) {
            return fail("update.sha256", "must be 64 hex digits or empty");
        }
        let keys = &self.update.public_keys;
        if let Err((i, why)) = crate::signing::keys::parse_all(keys, self.path.parent()) {
            // The entry's own line when the array spans several.
            let from = find_key_line(text, "public_keys").unwrap_or(1);
            let quoted = toml::Value::String(keys[i].clone()).to_string();
            let line =
                text.lines().enumerate().skip(from - 1).find(|(_, l)| l.contains(&quoted)).map_or(from, |(n, _)| n + 1);
            return Err(Error::Config(format!(
                "{}:{line}: key `update.public_keys` entry {}: {why}",
                self.path.display(),
                i + 1
            )));
        }
        Ok(())
    }

    /// Checks that `[cloud] root_ca`, when set, is a readable PEM file with at least one
    /// certificate, and returns how many it holds. Separate from loading, which every command
    /// does: `status` and `doctor` must still work when the file is missing; `config check`
    /// and the daemon's start (which reads it again) fail.
    pub fn check_root_ca(&self) -> Result<usize> {
        let Some(ca) = &self.cloud.root_ca else {
            return Ok(0);
        };
        let fail = |why: String| {
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            let line = find_key_line(&text, "root_ca").map(|l| format!(":{l}")).unwrap_or_default();
            Err(Error::Config(format!("{}{line}: key `cloud.root_ca`: {}: {why}", self.path.display(), ca.display())))
        };
        let pem = match std::fs::read(ca) {
            Ok(pem) => pem,
            Err(e) => return fail(format!("cannot read it: {e}")),
        };
        let mut certificates = 0;
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(_)) => certificates += 1,
                Ok(_) => {}
                Err(e) => return fail(format!("not a PEM file: {e}")),
            }
        }
        if certificates == 0 {
            return fail("no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into());
        }
        Ok(certificates)
    }

    /// The control socket path: `[control] socket`, or `<storage.dir>/control.sock`.
    pub fn socket_path(&self) -> PathBuf {
        self.control.socket.clone().unwrap_or_else(|| self.storage.dir.join("control.sock"))
    }

    /// The configuration as TOML, for `facegate config show`; secret device parameters are hidden.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        for (key, value) in shown.params.iter_mut() {
            if crate::protocol::DeviceParams::is_secret(key) {
                *value = "(hidden)".into();
            }
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot print configuration: {e}\n"))
    }
}

/// Turns a toml error into `file:line:col: key `k`: message`.
fn describe_toml_error(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().to_string();
    let Some(span) = e.span() else {
        return format!("{}: {message}", path.display());
    };
    let (line, col) = line_col(text, span.start);
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let key = quoted_field(&message).or_else(|| key_of_line(line_text));
    let section = section_of_line(text, line);
    match key {
        Some(k) => {
            let full = match section {
                Some(s) if !k.contains('.') => format!("{s}.{k}"),
                _ => k,
            };
            format!("{}:{line}:{col}: key `{full}`: {message}", path.display())
        }
        None => format!("{}:{line}:{col}: {message}", path.display()),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// The field name from messages such as "unknown field `devce_no`, expected ...".
fn quoted_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.find("missing field `").map(|i| &message[i + "missing field `".len()..]))?;
    rest.split('`').next().map(str::to_string)
}

/// The key assigned on a `key = value` line.
fn key_of_line(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

/// The `[section]` a 1-based line belongs to.
fn section_of_line(text: &str, line: usize) -> Option<String> {
    text.lines()
        .take(line)
        .filter_map(|l| {
            let l = l.trim();
            (l.starts_with('[') && l.ends_with(']')).then(|| l.trim_matches(['[', ']']).trim().to_string())
        })
        .last()
}

/// Whether `url` is one the transport can use: http or https with a host.
fn check_url(url: &str) -> std::result::Result<(), String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("must start with http:// or https://".into());
    }
    let uri: ureq::http::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => Err(format!("{url:?} has no host")),
    }
}

/// The 1-based line where a fully qualified `section.key` is assigned (`key = ...` in
/// `[section]`), if it is.
fn find_qualified_key_line(text: &str, qualified: &str) -> Option<usize> {
    let (section, key) = qualified.rsplit_once('.')?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| key_of_line(l).as_deref() == Some(key))
        .map(|(i, _)| i + 1)
        .find(|&line| section_of_line(text, line).as_deref() == Some(section))
}

/// The 1-based line where `key = ...` is assigned, if it is.
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    text.lines().position(|l| key_of_line(l).as_deref() == Some(key)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[device]
device_no = "FG0001"

[cloud]
url = "http://127.0.0.1:8090/path"

[storage]
dir = "/tmp/facegate-test"
"#;

    #[test]
    fn minimal_file_takes_defaults() {
        let c = Config::parse(GOOD, Path::new("f.toml")).unwrap();
        assert_eq!(c.device.device_no, "FG0001");
        assert_eq!(c.device.protocol_version, "V1.0");
        assert_eq!(c.cloud.read_timeout_ms, 10_000);
        assert_eq!(c.board.profile, "sim");
        assert_eq!(c.socket_path(), PathBuf::from("/tmp/facegate-test/control.sock"));
        assert!(c.recognizer.is_none());
    }

    #[test]
    fn typo_names_file_line_and_key() {
        let text = GOOD.replace("device_no", "devce_no");
        let err = Config::parse(&text, Path::new("/etc/x.toml")).unwrap_err().to_string();
        assert!(err.contains("/etc/x.toml:3:"), "{err}");
        assert!(err.contains("devce_no"), "{err}");
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let text = format!("{GOOD}\n[log]\nlevel = 5\n");
        let err = Config::parse(&text, Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("c.toml:12:"), "{err}");
        assert!(err.contains("key `log.level`"), "{err}");
    }

    #[test]
    fn bad_value_names_key() {
        let text = GOOD.replace("http://", "ftp://");
        let err = Config::parse(&text, Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("c.toml:6: key `cloud.url`"), "{err}");
    }

    #[test]
    fn missing_required_key_is_named() {
        let text = GOOD.replace("url = \"http://127.0.0.1:8090/path\"", "");
        let err = Config::parse(&text, Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("url"), "{err}");
    }

    #[test]
    fn device_params_are_validated_with_line_and_key() {
        let ok = format!("{GOOD}\n[params]\nfaceRFIDCardEnable = \"1\"\n");
        let c = Config::parse(&ok, Path::new("c.toml")).unwrap();
        assert_eq!(c.params["faceRFIDCardEnable"], "1");
        let bad = format!("{GOOD}\n[params]\nfaceRFIDCardEnable = \"7\"\n");
        let err = Config::parse(&bad, Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("c.toml:12: key `params.faceRFIDCardEnable`"), "{err}");
        let unknown = format!("{GOOD}\n[params]\nnoSuchParam = \"1\"\n");
        assert!(Config::parse(&unknown, Path::new("c.toml")).is_err());
    }

    #[test]
    fn round_trips_through_show() {
        let c = Config::parse(GOOD, Path::new("f.toml")).unwrap();
        let again = Config::parse(&c.to_toml(), Path::new("g.toml")).unwrap();
        assert_eq!(again.cloud.url, c.cloud.url);
    }

    fn check_err(text: &str) -> String {
        Config::parse(text, Path::new("c.toml")).unwrap_err().to_string()
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        for bad in ["http://", "https://", "http://my host/x", "http://:80/"] {
            let err = check_err(&GOOD.replace("http://127.0.0.1:8090/path", bad));
            assert!(err.contains("c.toml:6: key `cloud.url`"), "{bad}: {err}");
        }
        Config::parse(&GOOD.replace("127.0.0.1:8090", "cloud.example.com"), Path::new("c.toml")).unwrap();
    }

    #[test]
    fn each_timeout_and_retry_value_is_named_and_bounded() {
        let with = |extra: &str| GOOD.replace("url = ", &format!("{extra}\nurl = "));
        let err = check_err(&with("connect_timeout_ms = 0"));
        assert!(err.contains("c.toml:6: key `cloud.connect_timeout_ms`: 0 is outside 1..=60000 ms"), "{err}");
        let err = check_err(&with("read_timeout_ms = 600001"));
        assert!(err.contains("key `cloud.read_timeout_ms`: 600001 is outside 1..=600000 ms"), "{err}");
        Config::parse(&with("read_timeout_ms = 600000\nconnect_timeout_ms = 60000"), Path::new("c.toml")).unwrap();
        let huge = "retry_initial_ms = 9223372036854775807\nretry_max_ms = 9223372036854775807";
        let err = check_err(&with(huge));
        assert!(err.contains("c.toml:6: key `cloud.retry_initial_ms`: 9223372036854775807 is outside"), "{err}");
        Config::parse(&with("retry_initial_ms = 3600000\nretry_max_ms = 3600000"), Path::new("c.toml")).unwrap();
        let err = check_err(&with("retry_initial_ms = 500\nretry_max_ms = 499"));
        assert!(err.contains("key `cloud.retry_max_ms`: must be at least retry_initial_ms"), "{err}");
        let err = check_err(&with("control_wait_ms = 60001"));
        assert!(err.contains("key `cloud.control_wait_ms`"), "{err}");
    }

    #[test]
    fn keys_are_fully_qualified() {
        let err = check_err(&format!("{GOOD}\n[log]\nlevel = \"loud\"\n"));
        assert!(err.contains("c.toml:12: key `log.level`"), "{err}");
        let err = check_err(&GOOD.replace("FG0001", ""));
        assert!(err.contains("c.toml:3: key `device.device_no`"), "{err}");
    }

    #[test]
    fn a_socket_path_too_long_is_caught_by_the_check() {
        let long = format!("/tmp/{}", "s".repeat(103));
        let err = check_err(&format!("{GOOD}\n[control]\nsocket = \"{long}\"\n"));
        assert!(err.contains("c.toml:12: key `control.socket`") && err.contains("at most 107 bytes"), "{err}");
        let fits = format!("/tmp/{}", "s".repeat(102));
        Config::parse(&format!("{GOOD}\n[control]\nsocket = \"{fits}\"\n"), Path::new("c.toml")).unwrap();
        // The default socket lives in storage.dir.
        let err = check_err(&GOOD.replace("/tmp/facegate-test", &format!("/tmp/{}", "d".repeat(100))));
        assert!(err.contains("key `storage.dir`"), "{err}");
    }

    #[test]
    fn storage_reserve_and_on_full_are_bounded_and_named() {
        let c = Config::parse(GOOD, Path::new("c.toml")).unwrap();
        assert_eq!((c.storage.reserve_bytes, c.storage.on_full), (DEFAULT_RESERVE_BYTES, OnFull::Admit));
        let with = |extra: &str| GOOD.replace("dir = ", &format!("{extra}\ndir = "));
        let c = Config::parse(&with("on_full = \"deny\"\nreserve_bytes = 1099511627776"), Path::new("c.toml")).unwrap();
        assert_eq!((c.storage.reserve_bytes, c.storage.on_full), (MAX_RESERVE_BYTES, OnFull::Deny));
        let err = check_err(&with("reserve_bytes = 1099511627777"));
        assert!(err.contains("c.toml:9: key `storage.reserve_bytes`: must be at most"), "{err}");
        let err = check_err(&with("on_full = \"open\""));
        assert!(err.contains("c.toml:9:") && err.contains("key `storage.on_full`"), "{err}");
        Config::parse(&with("reserve_bytes = 0"), Path::new("c.toml")).unwrap();
    }

    #[test]
    fn bytes_that_are_not_utf8_are_named_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes.extend(b"\n[log]\nlevel = \"in\xff\"\n");
        std::fs::write(&path, bytes).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("{}:12:12: bytes that are not UTF-8", path.display())), "{err}");
    }
}
