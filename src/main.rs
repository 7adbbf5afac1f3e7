//! The `facegate` command: parses the arguments and hands each command to `daemon` or `cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use facegate::cli::inspect::{self, PersonsQuery, RecordsQuery, present, read_b64};
use facegate::cli::status::Status;
use facegate::config::{self, Config};
use facegate::ctl::Request;
use facegate::{Error, Result};

/// musl's allocator (mallocng) trades speed for size and hardening; on the static builds the
/// door's path went a quarter slower than with glibc (BENCHMARKS.md, "musl or glibc").
/// dlmalloc, one global lock, suits a daemon of a few threads.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

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
    /// Drive one of the sim board's door inputs: exit_button press|hold|release,
    /// door_contact open|closed, fire_input active|clear, tamper active|clear.
    Input {
        /// exit_button, door_contact, fire_input or tamper.
        line: String,
        /// The state (press, hold, release, open, closed, active, clear).
        state: String,
    },
    /// Register once with the cloud and exit 0 on success (the update installer's check).
    Selftest,
    /// Signed firmware: make a key, sign a release, check a file.
    Firmware {
        #[command(subcommand)]
        action: facegate::firmware::cli::Action,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate the file, its board profile and root CA; exits non-zero with file,
    /// line and key on error.
    Check,
    /// Print the configuration and the device parameters in force, each with its
    /// source (default, local or cloud).
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
    /// List records, newest first.
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
        /// Pulse length in ms, 1 to 60000; the device parameter openDoorTimeDelayMs by default.
        #[arg(long)]
        ms: Option<u64>,
    },
    /// End the running pulse (the door closes unless alwaysOpenDoor holds it).
    Close,
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
    // keygen and sign run on the vendor's machine, which has no device configuration.
    if let Command::Firmware { action } = cli.command {
        return Ok(facegate::firmware::cli::run(action, &cli.config));
    }
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
            // Loading already validated the file; the board profile and the root CA file are
            // part of the configuration too: `run` would stop on either.
            facegate::board::load_profile(&cfg.board.profile, cfg.path.parent())?;
            cfg.check_root_ca()?;
            println!("{}: ok", cfg.path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { action: ConfigAction::Show } => inspect::config_show(&cfg).map(|()| ExitCode::SUCCESS),
        Command::Persons { action } => inspect::persons(
            &cfg,
            match action {
                PersonsAction::List { limit } => PersonsQuery::List(limit),
                PersonsAction::Show { id } => PersonsQuery::Show(id),
                PersonsAction::Count => PersonsQuery::Count,
            },
        ),
        Command::Records { action } => inspect::records(
            &cfg,
            match action {
                RecordsAction::List { pending, limit } => RecordsQuery::List { pending, limit },
                RecordsAction::Count => RecordsQuery::Count,
            },
        ),
        Command::Doctor => {
            let ok = facegate::cli::doctor(&cfg, &mut std::io::stdout())?;
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Relay { action: RelayAction::Open { ms } } => {
            let resp = facegate::cli::relay_open(&cfg, ms)?;
            println!("{}", resp);
            Ok(ExitCode::SUCCESS)
        }
        Command::Relay { action: RelayAction::Close } => {
            println!("{}", facegate::cli::relay_close(&cfg)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Snap { out } => {
            let jpeg = facegate::cli::snap(&cfg)?;
            std::fs::write(&out, &jpeg).map_err(|e| Error::io_path("writing", &out, e))?;
            println!("{}: {} bytes", out.display(), jpeg.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Card { number } => match facegate::model::CardNumber::parse(&number) {
            Ok(_) => present(&cfg, Request::Card { number }),
            // Refused here too, so a bad number fails the same whether the daemon runs or not.
            Err(e) => {
                eprintln!("facegate: card refused: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
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
        Command::Input { line, state } => {
            println!("{}", facegate::cli::input(&cfg, &line, &state)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Selftest => match facegate::cloud::register::selftest(&cfg) {
            Ok(()) => {
                println!("registered with {}", cfg.cloud.url);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(Error::Cloud(format!("self-test registration failed: {e}"))),
        },
        Command::Firmware { .. } => unreachable!("dispatched before the configuration is loaded"),
    }
}
