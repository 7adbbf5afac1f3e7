//! The inspection commands: persons, records, `config show`, and credentials presented to the
//! running daemon. Output is plain text within 80 columns: it is read on serial consoles.

use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use crate::ctl::{self, Request};
use crate::protocol::devinfo::DeviceParams;
use crate::store::Store;
use crate::{Error, Result};

/// `facegate config show`: the effective configuration and the device parameters in force.
pub fn config_show(cfg: &Config) -> Result<()> {
    print!("{}", cfg.to_toml());
    let params = match Store::open_readonly(&cfg.storage.dir) {
        Ok(store) => store.params()?,
        Err(_) => Default::default(),
    };
    let params = DeviceParams::from_stored(&params);
    println!("\n# Device parameters (spec defaults, or as set by the cloud)\n[device_params]");
    for (k, v) in params.for_log() {
        println!("{k} = {}", toml_string(&v));
    }
    Ok(())
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
            println!("{:<8} {:<23} {:<9} {:<4} {:<4} idNumber / name", "msgID", "passTime", "state", "snap", "cmp");
            for r in store.records_list(pending, limit, 0)? {
                let f = |k: &str| r.fields.get(k).map(String::as_str).unwrap_or("");
                println!(
                    "{:<8} {:<23} {:<9} {:<4} {:<4} {}",
                    r.msg_id,
                    f("passTime"),
                    r.state.name(),
                    f("snapType"),
                    f("compareResult"),
                    clip(&format!("{} {}", f("idNumber"), f("name")), 26)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).collect::<String>() + "~" }
}
