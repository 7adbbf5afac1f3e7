//! The scheduler thread: register, then run every enabled service at its interval.
//!
//! Each service has a next-due time; the thread sleeps (a blocking wait that shutdown
//! interrupts) until the earliest one. A poll that returned a command is due again at once, for
//! as long as the cloud streams commands: a long queue drains at network speed. Fairness
//! between services comes from serving the due ones in the order they fell due (a service
//! polled again at once queues behind those already waiting), not from making a busy one
//! wait. What is slowed down is a cloud re-sending the same command (the same msgID)
//! [`STUCK_REPEATS`] times in a row: that service is then polled at its interval until the
//! cloud moves on, and the log and `facegate status` say so. While the link is down the
//! services wait for its next probe (see [`crate::cloud::link`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::clock::watchdog_ping;
use crate::cloud::Handles;
use crate::cloud::{
    Outcome, PollError, Session, broadcast, devinfo, door, maintenance, person_count, person_info, person_operate,
    photo, record_clear, record_get, register, update,
};
use crate::protocol::services::{Service, ServiceTable};
use crate::store::Store;

/// The same msgID received this many times in a row marks a cloud stuck on one command.
pub(crate) const STUCK_REPEATS: u32 = 3;

/// The interval of a service without one of its own (never used by the spec's services).
const FALLBACK_INTERVAL: Duration = Duration::from_secs(30);

/// The services the scheduler polls (uploadDevInfo is sent once, records have their own thread).
const POLLED: [Service; 13] = [
    Service::Heartbeat,
    Service::Open,
    Service::Update,
    Service::Reboot,
    Service::SetDevInfo,
    Service::Broadcast,
    Service::SetTime,
    Service::PersonOperate,
    Service::PersonCount,
    Service::PersonInfo,
    Service::Photo,
    Service::ClearRecords,
    Service::GetRecords,
];

/// The longest the scheduler sleeps between due services without systemd's watchdog.
const IDLE_WAKE: Duration = Duration::from_secs(3600);

/// How long the scheduler may sleep without feeding systemd's watchdog: half its timeout
/// (`WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises), or [`IDLE_WAKE`] without one. Waking
/// more often than that, with nothing due, only costs an idle terminal CPU and power.
fn watchdog_wake() -> Duration {
    let mut usec = 0;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        (Duration::from_micros(usec) / 2).clamp(Duration::from_millis(100), IDLE_WAKE)
    } else {
        IDLE_WAKE
    }
}

/// Runs until shutdown.
pub fn run(handles: &std::sync::Arc<Handles>, transport: &crate::cloud::Transport) {
    let store = match Store::open(&handles.cfg.storage.dir) {
        Ok(s) => s,
        Err(e) => {
            log::error!("scheduler cannot open the store: {e}");
            return;
        }
    };
    let mut session = Session::new(handles, transport, store);
    while let Some(table) = register::register_until_accepted(&mut session) {
        apply_table(handles, &table);
        if table.enabled(Service::UploadDevInfo) {
            devinfo::upload(&mut session);
        }
        if run_services(&mut session, &table).is_none() {
            break;
        }
        log::info!("registering again");
    }
}

fn apply_table(handles: &Handles, table: &ServiceTable) {
    let on: Vec<String> = POLLED
        .iter()
        .chain([Service::Record, Service::UploadDevInfo].iter())
        .filter(|s| table.enabled(**s))
        .map(|s| format!("{}({}s)", s.path().trim_start_matches('/'), table.interval(*s).unwrap_or_default().as_secs()))
        .collect();
    log::info!("services on: {}", on.join(" "));
    handles.uploader.set_service(table.enabled(Service::Record));
}

/// Polls until the cloud drops the device (`Some`) or shutdown (`None`).
fn run_services(session: &mut Session<'_>, table: &ServiceTable) -> Option<()> {
    let start = Instant::now();
    let mut due: HashMap<Service, Instant> = POLLED
        .iter()
        .filter(|s| table.enabled(**s))
        .map(|s| {
            // The heartbeat follows registration by one interval; polls start at once.
            let first =
                if *s == Service::Heartbeat { start + table.interval(*s).unwrap_or(FALLBACK_INTERVAL) } else { start };
            (*s, first)
        })
        .collect();
    // Per service: the last command's msgID and how many times in a row it came.
    let mut repeats: HashMap<Service, (String, u32)> = HashMap::new();
    let watchdog = watchdog_wake();
    loop {
        watchdog_ping();
        if session.handles.lifecycle.is_stopping() {
            return None;
        }
        let Some((&service, &when)) = due.iter().min_by_key(|(s, t)| (**t, POLLED.iter().position(|p| p == *s))) else {
            // Nothing enabled but the record service: just keep the watchdog fed.
            if session.handles.lifecycle.sleep(watchdog) {
                return None;
            }
            continue;
        };
        let now = Instant::now();
        if when > now {
            // Wake when the next service is due, or in time to feed the watchdog.
            if session.handles.lifecycle.sleep((when - now).min(watchdog)) {
                return None;
            }
            continue;
        }
        let outcome = poll_once(session, service);
        let interval =
            session.interval_override(service).or_else(|| table.interval(service)).unwrap_or(FALLBACK_INTERVAL);
        let next = match outcome {
            Ok(Outcome::Reregister) => return Some(()),
            Ok(Outcome::Command) => match session.take_last_command() {
                Some(id) if is_stuck(&mut repeats, service, &id, session) => Instant::now() + interval,
                _ => Instant::now(),
            },
            Ok(Outcome::Idle) => {
                repeats.remove(&service);
                Instant::now() + interval
            }
            Err(PollError::Shutdown) => return None,
            // Nothing was sent: the link's probe is pending.
            Err(PollError::Offline(at)) => at,
            Err(e) => {
                log::warn!("{}: {e}", service.path());
                session.note_error(&format!("{}: {e}", service.path()));
                Instant::now() + interval
            }
        };
        due.insert(service, next);
    }
}

/// Counts a command's msgID for `service`; true when the cloud has sent the same one
/// [`STUCK_REPEATS`] times in a row (said once in the log and noted for `facegate status`).
fn is_stuck(
    repeats: &mut HashMap<Service, (String, u32)>,
    service: Service,
    id: &str,
    session: &mut Session<'_>,
) -> bool {
    let entry = repeats.entry(service).or_insert_with(|| (String::new(), 0));
    if entry.0 == id && !id.is_empty() {
        entry.1 += 1;
    } else {
        *entry = (id.to_string(), 1);
    }
    if entry.1 == STUCK_REPEATS {
        let what = format!(
            "{}: the cloud re-sends command msgID {:?}; polling it at its interval until it moves on",
            service.path(),
            entry.0
        );
        log::warn!("{what}");
        session.note_error(&what);
    }
    entry.1 >= STUCK_REPEATS
}

fn poll_once(session: &mut Session<'_>, service: Service) -> Result<Outcome, PollError> {
    match service {
        Service::Heartbeat => register::heartbeat(session),
        Service::Open => door::poll(session),
        Service::Update => update::poll(session),
        Service::Reboot => maintenance::poll_reboot(session),
        Service::SetDevInfo => devinfo::poll_set(session),
        Service::Broadcast => broadcast::poll(session),
        Service::SetTime => maintenance::poll_set_time(session),
        Service::PersonOperate => person_operate::poll(session),
        Service::PersonCount => person_count::poll(session),
        Service::PersonInfo => person_info::poll(session),
        Service::Photo => photo::poll(session),
        Service::ClearRecords => record_clear::poll(session),
        Service::GetRecords => record_get::poll(session),
        Service::UploadDevInfo | Service::Record => Ok(Outcome::Idle),
    }
}
