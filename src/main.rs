//! The `facegate` command: the daemon (`run`) and the technician's tools.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use facegate::cli::status::Status;
use facegate::config::{self, Config};
use facegate::ctl::{self, Request};
use facegate::store::Store;
use facegate::{Error, Result};

/// On-device agent of a face-recognition access-control terminal.
#[derive(Parser)]
#[command(name = "facegate", version, about, term_width = 80)]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, value_name = "PATH", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: hardware, records and the cloud session.
    Run,
    /// Show registration, last contact, persons, pending records and the last error.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check or print the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Show the persons stored on the terminal.
    Persons {
        #[command(subcommand)]
        action: PersonsAction,
    },
    /// Show the access records kept on the terminal.
    Records {
        #[command(subcommand)]
        action: RecordsAction,
    },
    /// Check every configured line, port and camera, the storage and the cloud.
    Doctor,
    /// Drive the door relay.
    Relay {
        #[command(subcommand)]
        action: RelayAction,
    },
    /// Take one camera frame and write it as JPEG.
    Snap {
        /// Output file.
        out: PathBuf,
    },
    /// Present a card number, as if read by the card reader.
    Card {
        /// The card number.
        number: String,
    },
    /// Report a face matched by the recognizer.
    Face {
        /// The matched person's idNumber.
        id_number: String,
        /// Similarity score.
        #[arg(long)]
        score: Option<f32>,
        /// JPEG snapshot of the face.
        #[arg(long)]
        photo: Option<PathBuf>,
    },
    /// Report a face the recognizer could not match.
    Stranger {
        /// JPEG snapshot of the face.
        #[arg(long)]
        photo: Option<PathBuf>,
    },
    /// Present a scanned QR code.
    Qr {
        /// The code's text.
        data: String,
    },
    /// Present a typed password.
    Password {
        /// The password.
        password: String,
    },
    /// Register once with the cloud and exit 0 on success (the update installer's check).
    Selftest,
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate the file; exits non-zero with file, line and key on error.
    Check,
    /// Print the effective configuration and the device parameters the cloud has set.
    Show,
}

#[derive(Subcommand)]
enum PersonsAction {
    /// List persons (idNumber, name, card, priority, validity).
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one person with every stored field.
    Show {
        /// The idNumber.
        id: String,
    },
    /// Count persons.
    Count,
}

#[derive(Subcommand)]
enum RecordsAction {
    /// List records, newest last.
    List {
        /// Only records the cloud has not acknowledged.
        #[arg(long)]
        pending: bool,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Count records (kept, pending, evicted).
    Count,
}

#[derive(Subcommand)]
enum RelayAction {
    /// Pulse the relay open.
    Open {
        /// Pulse length in ms; the device parameter openDoorTimeDelayMs by default.
        #[arg(long)]
        ms: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("facegate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let cfg = Config::load(&cli.config)?;
    facegate::logger::init(facegate::logger::level_from_name(&cfg.log.level));
    match cli.command {
        Command::Run => facegate::daemon::run(cfg).map(|()| ExitCode::SUCCESS),
        Command::Status { json } => {
            let s = Status::gather(&cfg);
            if json {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else {
                print!("{}", s.render(facegate::clock::now_ms()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { action: ConfigAction::Check } => {
            // Loading already validated the file; the board profile is part of the configuration.
            facegate::board::load_profile(&cfg.board.profile, cfg.path.parent())?;
            println!("{}: ok", cfg.path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { action: ConfigAction::Show } => {
            print!("{}", cfg.to_toml());
            let params = match Store::open_readonly(&cfg.storage.dir) {
                Ok(store) => store.params()?,
                Err(_) => Default::default(),
            };
            let params = facegate::protocol::devinfo::DeviceParams::from_stored(&params);
            println!("\n# Device parameters (spec defaults, or as set by the cloud)\n[device_params]");
            for (k, v) in params.for_log() {
                println!("{k} = {}", toml_string(&v));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Persons { action } => persons(&cfg, action),
        Command::Records { action } => records(&cfg, action),
        Command::Doctor => {
            let ok = facegate::cli::doctor(&cfg, &mut std::io::stdout())?;
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Relay { action: RelayAction::Open { ms } } => {
            let resp = facegate::cli::relay_open(&cfg, ms)?;
            println!("{}", resp);
            Ok(ExitCode::SUCCESS)
        }
        Command::Snap { out } => {
            let jpeg = facegate::cli::snap(&cfg)?;
            std::fs::write(&out, &jpeg).map_err(|e| Error::io_path("writing", &out, e))?;
            println!("{}: {} bytes", out.display(), jpeg.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Card { number } => present(&cfg, Request::Card { number }),
        Command::Face { id_number, score, photo } => {
            let photo_b64 = photo.map(|p| read_b64(&p)).transpose()?;
            present(&cfg, Request::Face { id_number, score, photo_b64 })
        }
        Command::Stranger { photo } => {
            let photo_b64 = photo.map(|p| read_b64(&p)).transpose()?;
            present(&cfg, Request::Stranger { photo_b64 })
        }
        Command::Qr { data } => present(&cfg, Request::Qr { data }),
        Command::Password { password } => present(&cfg, Request::Password { password }),
        Command::Selftest => match facegate::cloud::register::selftest(&cfg) {
            Ok(()) => {
                println!("registered with {}", cfg.cloud.url);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(Error::Cloud(format!("self-test registration failed: {e}"))),
        },
    }
}

fn toml_string(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

fn read_b64(path: &std::path::Path) -> Result<String> {
    use base64::Engine;
    let bytes = std::fs::read(path).map_err(|e| Error::io_path("reading", path, e))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Sends a credential to the running daemon and prints what happened.
fn present(cfg: &Config, req: Request) -> Result<ExitCode> {
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

fn persons(cfg: &Config, action: PersonsAction) -> Result<ExitCode> {
    let store = open_store(cfg)?;
    match action {
        PersonsAction::Count => println!("{}", store.person_count()?),
        PersonsAction::List { limit } => {
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
        PersonsAction::Show { id } => {
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

fn records(cfg: &Config, action: RecordsAction) -> Result<ExitCode> {
    let store = open_store(cfg)?;
    match action {
        RecordsAction::Count => {
            println!(
                "{} kept, {} pending, {} evicted",
                store.record_count()?,
                store.pending_count()?,
                store.evicted_count()?
            );
        }
        RecordsAction::List { pending, limit } => {
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
