//! `device/register` and `device/heatbeat` (spelled as the spec spells it).
//!
//! Registration is retried with capped exponential back-off and jitter until the cloud answers
//! errorCode 100. A heartbeat answered with errorCode 200 means the cloud dropped the device:
//! the scheduler registers again.

use crate::clock::now_ms;
use crate::cloud::Transport;
use crate::cloud::{Backoff, Outcome, PollError, Session, update};
use crate::config::Config;
use crate::protocol::messages::{FirmwareVersions, KeepAlive, KeepAliveResp, Register, RegisterResp};
use crate::protocol::services::{Service, ServiceTable};
use crate::protocol::{self, time};
use crate::store::keys;

/// The registration endpoint (not a polled service).
pub const REGISTER_PATH: &str = "/device/register";

/// Registers until the cloud accepts; `None` on shutdown.
pub(crate) fn register_until_accepted(s: &mut Session<'_>) -> Option<ServiceTable> {
    save_state(s, keys::REGISTRATION, "registering");
    let mut backoff = Backoff::new(s.cfg().cloud.retry_initial_ms, s.cfg().cloud.retry_max_ms);
    loop {
        if s.handles.lifecycle.is_stopping() {
            return None;
        }
        if update::rollback_if_overdue(&mut s.store) {
            s.handles.restart();
            return None;
        }
        match register_once(s) {
            Ok(table) => return Some(table),
            Err(PollError::Shutdown) => return None,
            Err(PollError::Offline(at)) => {
                // Another thread's probe is pending: wait for it rather than probe twice.
                crate::clock::watchdog_ping();
                let wait =
                    at.saturating_duration_since(std::time::Instant::now()).min(std::time::Duration::from_secs(5));
                if s.handles.lifecycle.sleep(wait) {
                    return None;
                }
            }
            Err(e) => {
                // A back-off of its own (the cloud may keep refusing), never sooner than the
                // link's next probe when the cloud was unreachable.
                let wait = backoff.next_delay().max(s.link_wait(&e).unwrap_or_default());
                log::warn!("registration failed ({e}); retrying in {} ms", wait.as_millis());
                s.note_error(&format!("registration: {e}"));
                crate::clock::watchdog_ping();
                if s.handles.lifecycle.sleep(wait) {
                    return None;
                }
            }
        }
    }
}

/// One registration attempt: the services table on success.
pub(crate) fn register_once(s: &mut Session<'_>) -> Result<ServiceTable, PollError> {
    let msg = register_message(s.cfg());
    let resp: RegisterResp = s.exchange(REGISTER_PATH, &msg)?;
    if resp.error_code.trim() != "100" {
        save_state(s, keys::REGISTRATION, "rejected");
        return Err(PollError::Malformed(format!("registerResp errorCode {:?}", resp.error_code)));
    }
    save_state(s, keys::REGISTRATION, "registered");
    save_state(s, keys::REGISTERED_AT, &now_ms().to_string());
    log::info!("registered with {}", s.cfg().cloud.url);
    if !resp.register_time.trim().is_empty() {
        match time::parse_cloud_timestamp_ms(&resp.register_time) {
            Ok(ms) => {
                // set_clock logs why it did not set the clock; registration goes on either way.
                let _refused = crate::cloud::maintenance::set_clock(s, ms, "registerResp");
            }
            Err(e) => log::warn!("registerResp registerTime ignored: {e}"),
        }
    }
    update::confirm_trial(&mut s.store);
    Ok(ServiceTable::from_register_resp(&resp))
}

/// A freshly signed `register` message for this device.
fn register_message(cfg: &Config) -> Register {
    let versions = FirmwareVersions {
        protocol: cfg.device.protocol_version.clone(),
        hardware: cfg.device.hardware_version.clone(),
        software: cfg.device.software_version.clone(),
        algorithm: cfg.device.alg_version.clone(),
    };
    Register::new(&cfg.device.device_no, now_ms() / 1000, &random_token(), &versions)
}

/// `facegate selftest`: one registration from a process that is not the daemon, as the update
/// installer's start-up check of a new binary. Touches no hardware and no store.
pub fn selftest(cfg: &Config) -> Result<(), String> {
    let transport = Transport::new(&cfg.cloud).map_err(|e| e.to_string())?;
    let answer = transport.post(REGISTER_PATH, &protocol::encode(&register_message(cfg))).map_err(|e| e.to_string())?;
    let resp: RegisterResp = protocol::decode_message(&answer).map_err(|e| e.to_string())?;
    if resp.error_code.trim() == "100" { Ok(()) } else { Err(format!("registerResp errorCode {:?}", resp.error_code)) }
}

/// A fresh random string for `rand`: 32 hex characters, like the spec's example.
fn random_token() -> String {
    (0..16).map(|_| format!("{:02x}", fastrand::u8(..))).collect()
}

/// One heartbeat; errorCode 200 asks for a new registration.
pub(crate) fn heartbeat(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let msg = KeepAlive::new(s.device_no());
    let resp: KeepAliveResp = s.exchange(Service::Heartbeat.path(), &msg)?;
    match resp.error_code.trim() {
        "200" | "201" => {
            log::warn!("heartbeat answered {}: the cloud dropped this device", resp.error_code.trim());
            save_state(s, keys::REGISTRATION, "dropped by the cloud");
            Ok(Outcome::Reregister)
        }
        _ => Ok(Outcome::Idle),
    }
}

/// Saves a registration state for `facegate status`; a failure costs only that display.
fn save_state(s: &mut Session<'_>, key: &str, value: &str) {
    if let Err(e) = s.store.set_state(key, value) {
        log::warn!("cannot save {key}: {e}");
    }
}
