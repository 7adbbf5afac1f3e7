//! The inspection commands: persons, records, `config show`, and credentials presented to the
//! running daemon. Output is plain text within 80 columns: it is read on serial consoles.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use crate::ctl::{self, Request};
use crate::protocol::devinfo::DeviceParams;
use crate::settings::Settings;
use crate::store::{RecordSummary, Store};
use crate::{Error, Result};

use super::text;

/// `facegate config show`: the configuration and the device parameters in force.
pub fn config_show(cfg: &Config) -> Result<()> {
    print!("{}", cfg.to_toml());
    let stored = match Store::open_readonly(&cfg.storage.dir) {
        Ok(store) => store.params()?,
        Err(_) => Default::default(),
    };
    println!();
    for line in text::wrap(
        "Device parameters in force, as the daemon uses them: the cloud's values (setDevInfo) \
         over [params] and [device] time_zone of this file, over the spec's defaults. After each \
         value, where it came from: default, local or cloud.",
        text::COLUMNS - 2,
    ) {
        println!("# {line}");
    }
    println!("[device_params]");
    for (key, value, source) in effective_params(cfg, &stored) {
        let value = if DeviceParams::is_secret(&key) && !value.is_empty() { "***".to_string() } else { value };
        println!("{key} = {}  # {}", toml_string(&value), source.name());
    }
    Ok(())
}

/// Where a device parameter in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamSource {
    /// The spec's default.
    Default,
    /// The configuration file: `[params]`, or `[device] time_zone` for `timeZone`.
    Local,
    /// Set by the cloud (setDevInfo) and kept in the store.
    Cloud,
}

impl ParamSource {
    fn name(self) -> &'static str {
        match self {
            ParamSource::Default => "default",
            ParamSource::Local => "local",
            ParamSource::Cloud => "cloud",
        }
    }
}

/// Every device parameter in the spec's order with the value the daemon uses
/// ([`Settings::initial`]: `stored` from the cloud over the configuration over the defaults)
/// and where that value came from.
pub(crate) fn effective_params(cfg: &Config, stored: &BTreeMap<String, String>) -> Vec<(String, String, ParamSource)> {
    let in_force = Settings::initial(cfg, stored).params;
    // A value counts only if the table takes it: a stored value an older version allowed, or a
    // blank coded one, leaves the layer below in force (as `DeviceParams::from_stored` does).
    let taken = |key: &str, value: &String| {
        let one = BTreeMap::from([(key.to_string(), value.clone())]);
        DeviceParams::defaults().apply(&one).is_ok_and(|a| a.blank.is_empty())
    };
    DeviceParams::keys()
        .map(|key| {
            let source = if stored.get(key).is_some_and(|v| taken(key, v)) {
                ParamSource::Cloud
            } else if cfg.params.get(key).is_some_and(|v| taken(key, v)) || key == "timeZone" {
                ParamSource::Local
            } else {
                ParamSource::Default
            };
            (key.to_string(), in_force.get(key).to_string(), source)
        })
        .collect()
}

/// What `facegate persons` shows.
#[derive(Debug, Clone)]
pub enum PersonsQuery {
    /// At most this many persons, one a line.
    List(usize),
    /// One person with every stored field.
    Show(String),
    /// How many.
    Count,
}

/// What `facegate records` shows.
#[derive(Debug, Clone, Copy)]
pub enum RecordsQuery {
    /// At most `limit` records, newest last; only undelivered ones if `pending`.
    List {
        /// Only records the cloud has not acknowledged.
        pending: bool,
        /// At most this many.
        limit: usize,
    },
    /// Kept, pending and evicted counts.
    Count,
}

fn toml_string(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// A file's bytes as Base64, for a photo sent over the control socket.
pub fn read_b64(path: &std::path::Path) -> Result<String> {
    use base64::Engine;
    let bytes = std::fs::read(path).map_err(|e| Error::io_path("reading", path, e))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Sends a credential to the running daemon and prints what happened.
pub fn present(cfg: &Config, req: Request) -> Result<ExitCode> {
    let resp = ctl::request(&cfg.socket_path(), &req, Duration::from_secs(30))?;
    if !resp.ok {
        eprintln!("facegate: {}", resp.error);
        return Ok(ExitCode::FAILURE);
    }
    let door = if resp.open { "door opened" } else { "door stays closed" };
    let record = if resp.msg_id.is_empty() { "no record".to_string() } else { format!("record {}", resp.msg_id) };
    println!("{door}; {record}; {}", resp.detail);
    Ok(ExitCode::SUCCESS)
}

fn open_store(cfg: &Config) -> Result<Store> {
    Store::open_readonly(&cfg.storage.dir)
        .map_err(|e| Error::Store(format!("{e} (has `facegate run` ever run with this configuration?)")))
}

/// `facegate persons ...`.
pub fn persons(cfg: &Config, query: PersonsQuery) -> Result<ExitCode> {
    let store = open_store(cfg)?;
    match query {
        PersonsQuery::Count => println!("{}", store.person_count()?),
        PersonsQuery::List(limit) => {
            println!("{:<16} {:<16} {:<12} {:<3} valid", "idNumber", "name", "card", "pri");
            let mut after = 0;
            let mut shown = 0;
            while shown < limit {
                let page = store.persons_page(after, (limit - shown).min(500))?;
                if page.is_empty() {
                    break;
                }
                for (rowid, p) in &page {
                    after = *rowid;
                    shown += 1;
                    println!(
                        "{:<16} {:<16} {:<12} {:<3} {}..{}",
                        clip(&p.id_number, 16),
                        clip(&p.name, 16),
                        clip(&p.card, 12),
                        p.priority.code(),
                        p.valid_start,
                        p.valid_end
                    );
                }
            }
        }
        PersonsQuery::Show(id) => {
            let Some(p) = store.person(&id)? else {
                eprintln!("facegate: no person with idNumber {id}");
                return Ok(ExitCode::FAILURE);
            };
            // Each value exactly as stored, on one line after a 28-wide key column: scripts read it
            // (tests/persons.rs does), and wrapping would change the values.
            let line = |k: &str, v: &str| println!("{k:<28} {v}");
            line("idNumber", &p.id_number);
            line("name", &p.name);
            line("normalNumber (card)", &p.card);
            line("password", if p.password.is_empty() { "" } else { "(set)" });
            line("priority", p.priority.code());
            line("validDateStart", &p.valid_start);
            line("validDateEnd", &p.valid_end);
            for (i, t) in p.pass_times.iter().enumerate() {
                line(&format!("passTime{}", i + 1), t);
            }
            for (k, v) in &p.extra {
                line(k, v);
            }
            for photo in store.photos(&id)? {
                line(
                    &format!("registerPhoto{}", photo.slot),
                    &format!("id {}, {} bytes", photo.photo_id, photo.jpeg.len()),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `facegate records ...`.
pub fn records(cfg: &Config, query: RecordsQuery) -> Result<ExitCode> {
    let store = open_store(cfg)?;
    match query {
        RecordsQuery::Count => {
            println!(
                "{} kept, {} pending, {} evicted",
                store.record_count()?,
                store.pending_count()?,
                store.evicted_count()?
            );
        }
        RecordsQuery::List { pending, limit } => {
            print!("{}", records_table(&store.records_list(pending, limit, 0)?));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `records list` table: each column as wide as its widest cell (up to a bound, so that a
/// stray field cannot push the rest off the line), the last one clipped at 80 columns.
pub(crate) fn records_table(list: &[RecordSummary]) -> String {
    const HEADER: [&str; 6] = ["msgID", "passTime", "state", "snap", "cmp", "idNumber / name"];
    // msgID: 20 digits of a u64; passTime: 23 characters and a zone of 6; the rest are codes.
    const MAX: [usize; 5] = [20, 29, 9, 4, 4];
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|r| {
            let f = |k: &str| r.fields.get(k).map(String::as_str).unwrap_or("");
            [
                r.msg_id.to_string(),
                pass_time_with_zone(f("passTime"), r.created_ms),
                r.state.name().to_string(),
                f("snapType").to_string(),
                f("compareResult").to_string(),
                format!("{} {}", f("idNumber"), f("name")).trim().to_string(),
            ]
        })
        .collect();
    let mut widths = [0; 5];
    for (i, w) in widths.iter_mut().enumerate() {
        let widest = rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        *w = widest.max(HEADER[i].len()).min(MAX[i]);
    }
    let used: usize = widths.iter().map(|w| w + 1).sum();
    let last = text::COLUMNS.saturating_sub(used).max(1);
    let line = |cells: [&str; 6]| {
        let mut l = String::new();
        for (i, w) in widths.iter().enumerate() {
            l.push_str(&format!("{:<w$} ", clip(cells[i], *w)));
        }
        l.push_str(&clip(cells[5], last));
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(HEADER);
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }
    out
}

/// A record's `passTime` (the device's local time when it was made) with the zone it was made
/// in, e.g. `2026-12-02 18:03:11.123+08:00`: the log is in UTC and the zone may have changed
/// since. The zone is the difference to the record's UTC instant; a `passTime` that does not
/// parse is shown as it is.
fn pass_time_with_zone(pass_time: &str, created_ms: i64) -> String {
    let Ok(local) = crate::protocol::time::parse_pass_time(pass_time) else {
        return pass_time.to_string();
    };
    // Zones are whole hours (-11..=12); a quarter of an hour absorbs any rounding.
    const QUARTER_MS: i64 = 15 * 60_000;
    let offset_ms = local.and_utc().timestamp_millis().saturating_sub(created_ms);
    let minutes = offset_ms.saturating_add(QUARTER_MS / 2).div_euclid(QUARTER_MS) * 15;
    if minutes.abs() > 14 * 60 {
        return pass_time.to_string();
    }
    let sign = if minutes < 0 { '-' } else { '+' };
    format!("{pass_time}{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).collect::<String>() + "~" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RecordState;

    #[test]
    fn effective_parameters_layer_cloud_over_local_over_defaults_and_name_the_source() {
        let cfg = Config::parse(
            "[device]\ndevice_no = \"X\"\ntime_zone = 3\n[cloud]\nurl = \"http://127.0.0.1:9\"\n\
             [storage]\ndir = \"/nonexistent\"\n[params]\nfaceRFIDCardEnable = \"1\"\njpegEncodeSizeMode = \"0\"\n",
            std::path::Path::new("f.toml"),
        )
        .unwrap();
        let stored: BTreeMap<String, String> = [
            ("jpegEncodeSizeMode", "2"),
            // Left by a version with other rules: not taken, the default stays in force.
            ("entranceSerialBaudRate", "96000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let shown = effective_params(&cfg, &stored);
        let get = |key: &str| {
            let (_, v, s) = shown.iter().find(|(k, _, _)| k == key).unwrap_or_else(|| panic!("{key} missing"));
            (v.as_str(), *s)
        };
        assert_eq!(get("faceRFIDCardEnable"), ("1", ParamSource::Local));
        assert_eq!(get("jpegEncodeSizeMode"), ("2", ParamSource::Cloud));
        assert_eq!(get("entranceSerialBaudRate"), ("9600", ParamSource::Default));
        assert_eq!(get("timeZone"), ("3", ParamSource::Local));
        assert_eq!(get("recogIntervalTime"), ("3", ParamSource::Default));
        assert_eq!(shown.len(), DeviceParams::keys().count());
        // The same values the daemon starts with.
        let in_force = Settings::initial(&cfg, &stored).params;
        assert!(shown.iter().all(|(k, v, _)| in_force.get(k) == v));
    }

    #[test]
    fn pass_time_carries_the_zone_it_was_made_in() {
        const T: i64 = 1_585_903_632_011; // 2020-04-03 08:47:12.011 UTC
        assert_eq!(pass_time_with_zone("2020-04-03 16:47:12.011", T), "2020-04-03 16:47:12.011+08:00");
        assert_eq!(pass_time_with_zone("2020-04-03 03:47:12.011", T), "2020-04-03 03:47:12.011-05:00");
        assert_eq!(pass_time_with_zone("2020-04-03 08:47:12.011", T), "2020-04-03 08:47:12.011+00:00");
        // A difference no zone has (a clock set between the two) gets no zone rather than a wrong one.
        assert_eq!(pass_time_with_zone("2020-04-04 08:47:12.011", T + 3_600_000), "2020-04-04 08:47:12.011");
        assert_eq!(pass_time_with_zone("not a time", T), "not a time");
        assert_eq!(pass_time_with_zone("", T), "");
    }

    fn record(msg_id: u64, created_ms: i64, fields: &[(&str, &str)], state: RecordState) -> RecordSummary {
        RecordSummary {
            msg_id,
            created_ms,
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            photo_bytes: 0,
            compare_ref: None,
            state,
            attempts: 0,
        }
    }

    #[test]
    fn records_table_sizes_columns_to_their_content() {
        const T: i64 = 1_585_903_632_011;
        let list = [
            record(
                1_764_691_200,
                T,
                &[
                    ("passTime", "2020-04-03 16:47:12.011"),
                    ("snapType", "2"),
                    ("compareResult", "1"),
                    ("idNumber", "7001"),
                ],
                RecordState::Delivered,
            ),
            record(
                1_764_691_201,
                T,
                &[("passTime", "2020-04-03 16:47:12.011"), ("idNumber", "7002"), ("name", &"N".repeat(60))],
                RecordState::Pending,
            ),
        ];
        let table = records_table(&list);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{table}");
        // Every cell starts where its header does.
        let starts_at = |line: &str, header: &str| {
            let at = lines[0].find(header).unwrap();
            line[..at].ends_with(' ') && !line[at..].starts_with(' ')
        };
        for header in ["passTime", "state", "snap", "cmp", "idNumber"] {
            assert!(starts_at(lines[1], header), "{header}:\n{table}");
        }
        for header in ["passTime", "state", "idNumber"] {
            assert!(starts_at(lines[2], header), "{header}:\n{table}");
        }
        assert!(lines[1].starts_with("1764691200 2020-04-03 16:47:12.011+08:00 delivered 2    1   7001"), "{table}");
        assert!(lines[2].ends_with('~'), "a long name is clipped at 80 columns:\n{table}");
        assert_eq!(records_table(&[]), "msgID passTime state snap cmp idNumber / name\n");
    }
}
