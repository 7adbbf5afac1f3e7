//! The cloud session: registration, heartbeat, the poll services and the record uploader.
//!
//! One module per protocol service. Every service follows the spec's pattern: poll, decode the
//! command leniently, execute it, and report the result to the same endpoint until the cloud
//! answers 2xx. Anything the network delivers is logged and survived.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::{now_ms, watchdog_ping};
use crate::config::Config;
use crate::gate::Gate;
use crate::hw::System;
use crate::protocol;
use crate::settings::SettingsCell;
use crate::store::{Store, keys};

pub(crate) mod transport;
pub(crate) use transport::{ExchangeError, Transport};

pub(crate) mod broadcast;
pub(crate) mod devinfo;
pub(crate) mod door;
pub(crate) mod download;
pub(crate) mod link;
pub(crate) use link::Link;
pub(crate) mod maintenance;
pub(crate) mod person_count;
pub(crate) mod person_info;
pub mod person_operate;
pub(crate) mod photo;
pub(crate) mod record_clear;
pub(crate) mod record_get;
pub mod register;
pub(crate) mod scheduler;
pub(crate) mod stream;
pub mod update;
pub mod uploader;

/// Outright refusals (4xx other than 408/429) of one result before it is given up.
pub(crate) const MAX_REFUSED_REPORTS: u32 = 5;

/// What the cloud session sees of the rest of the daemon, each part through a narrow handle.
pub(crate) struct Handles {
    /// The configuration.
    pub cfg: Config,
    /// The device parameters in force; setDevInfo changes them through the gate.
    pub settings: Arc<SettingsCell>,
    /// The door and the other actuators: remote open, the verdict for a waiting visitor,
    /// broadcasts, photos.
    pub gate: Arc<Gate>,
    /// Reboot, clock, firmware installation.
    pub system: Mutex<Box<dyn System>>,
    /// Stop, sleep, restart.
    pub lifecycle: Lifecycle,
    /// The record uploader's wake-up and its service switch.
    pub uploader: Arc<uploader::Signal>,
    /// The link to the cloud: up or down, the probe back-off; it keeps the gate's online flag
    /// (the gate holds records made offline when retransmission is off).
    pub link: Link,
    /// Whether the board is the sim board (it never replaces a binary unless told where).
    pub board_is_sim: bool,
}

impl Handles {
    /// Asks every thread to stop and wakes the sleepers.
    pub fn stop(&self) {
        self.lifecycle.stop();
        self.uploader.wake();
    }

    /// Stops so that the service manager starts the installed (or restored) agent.
    pub fn restart(&self) {
        self.lifecycle.restart.store(true, Ordering::SeqCst);
        self.stop();
    }
}

/// The daemon's life: the threads sleep on it and stop when it says so.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    stopping: Mutex<bool>,
    stopped: Condvar,
    restart: AtomicBool,
}

impl Lifecycle {
    /// Whether the daemon is stopping.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the stop is a restart into an installed agent.
    pub fn restart_requested(&self) -> bool {
        self.restart.load(Ordering::SeqCst)
    }

    /// Wakes every sleeper for good (see [`Handles::stop`], which also wakes the uploader).
    fn stop(&self) {
        *self.stopping.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stopped.notify_all();
    }

    /// Sleeps up to `d` (a blocking wait), returning early with true on shutdown.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopping = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopping {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopping = self.stopped.wait_timeout(stopping, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

/// Why an exchange produced nothing usable; the schedule goes on either way.
#[derive(Debug)]
pub(crate) enum PollError {
    /// Transport failure or non-2xx status.
    Exchange(ExchangeError),
    /// The answer did not decode as the expected message.
    Malformed(String),
    /// The store could not be read or written for the command.
    Store(crate::Error),
    /// The link is down and the next probe is not due before this instant: nothing was sent.
    Offline(Instant),
    /// The daemon is shutting down.
    Shutdown,
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Exchange(e) => write!(f, "{e}"),
            PollError::Malformed(m) => write!(f, "malformed answer: {m}"),
            PollError::Store(e) => write!(f, "{e}"),
            PollError::Offline(at) => {
                write!(
                    f,
                    "cloud unreachable, next probe in {} ms",
                    at.saturating_duration_since(Instant::now()).as_millis()
                )
            }
            PollError::Shutdown => write!(f, "shutting down"),
        }
    }
}

impl std::error::Error for PollError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PollError::Exchange(e) => Some(e),
            PollError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for PollError {
    /// The only `crate::Error`s a service meets outside an exchange are the store's.
    fn from(e: crate::Error) -> PollError {
        PollError::Store(e)
    }
}

/// What a poll service did, so the scheduler knows when to poll it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing to do: poll again after the interval.
    Idle,
    /// A command was executed: poll again at once, the cloud may have more queued.
    Command,
    /// The cloud dropped the device: register again.
    Reregister,
}

/// What a service needs: the handles, the transport and its own store handle.
pub(crate) struct Session<'a> {
    /// The rest of the daemon.
    pub handles: &'a Arc<Handles>,
    /// The HTTP agent.
    pub transport: &'a Transport,
    /// This thread's connection to the store.
    pub store: Store,
    last_contact_saved_ms: i64,
    interval_overrides: std::collections::HashMap<protocol::services::Service, Duration>,
    /// The msgID of the last command whose result was reported (the scheduler notices a cloud
    /// re-sending the same one).
    last_command: Option<String>,
    /// Whether exchanges wait for the link's probe while it is down. The uploader paces itself
    /// (one try per probe gap, from its own last failure) so the scheduler's probes cannot
    /// starve it.
    pub gated: bool,
}

impl<'a> Session<'a> {
    /// A session on this thread.
    pub fn new(handles: &'a Arc<Handles>, transport: &'a Transport, store: Store) -> Session<'a> {
        Session {
            handles,
            transport,
            store,
            last_contact_saved_ms: 0,
            interval_overrides: Default::default(),
            last_command: None,
            gated: true,
        }
    }

    /// An interval the cloud set outside registerResp (person/operate's registerInterval).
    pub fn interval_override(&self, s: protocol::services::Service) -> Option<Duration> {
        self.interval_overrides.get(&s).copied()
    }

    /// Sets or clears such an interval.
    pub fn set_interval_override(&mut self, s: protocol::services::Service, d: Option<Duration>) {
        match d {
            Some(d) => self.interval_overrides.insert(s, d),
            None => self.interval_overrides.remove(&s),
        };
    }

    /// The configuration.
    pub fn cfg(&self) -> &Config {
        &self.handles.cfg
    }

    /// This device's number.
    pub fn device_no(&self) -> &str {
        &self.handles.cfg.device.device_no
    }

    /// The interface version sent in `version`.
    pub fn version(&self) -> &str {
        &self.handles.cfg.device.protocol_version
    }

    /// The msgID of the last command reported since the previous call.
    pub fn take_last_command(&mut self) -> Option<String> {
        self.last_command.take()
    }

    /// POSTs `msg` to `path` and returns the raw answer, keeping the link state and the
    /// last-contact time up to date. While the link is down nothing is sent before the next
    /// probe is due ([`PollError::Offline`]).
    pub fn post_raw(&mut self, path: &str, msg: &impl Serialize) -> Result<Vec<u8>, PollError> {
        self.post_encoded(path, || protocol::encode(msg))
    }

    /// Like [`Session::post_raw`], for a body already encoded (the record uploader writes its
    /// photos straight into the body); `body` is only called when the body is to be sent.
    pub fn post_encoded(&mut self, path: &str, body: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, PollError> {
        if self.handles.lifecycle.is_stopping() {
            return Err(PollError::Shutdown);
        }
        if let Some(at) = self.handles.link.wait_until().filter(|_| self.gated) {
            return Err(PollError::Offline(at));
        }
        let body = body();
        // Bodies are not logged: they carry persons' data, photos and device secrets.
        log::trace!("POST {path} ({} bytes)", body.len());
        match self.transport.post(path, &body) {
            Ok(answer) => {
                self.contact_ok();
                Ok(answer)
            }
            Err(e) => {
                if e.is_network() {
                    self.handles.link.failed();
                } else {
                    // The cloud answered, even if badly: it is reachable.
                    self.contact_ok();
                    self.handles.link.answered_badly();
                }
                Err(PollError::Exchange(e))
            }
        }
    }

    /// POSTs `msg` and decodes the answer as `T`.
    pub fn exchange<T: DeserializeOwned>(&mut self, path: &str, msg: &impl Serialize) -> Result<T, PollError> {
        self.exchange_encoded(path, || protocol::encode(msg))
    }

    /// Like [`Session::exchange`], for a body already encoded (see [`Session::post_encoded`]).
    pub fn exchange_encoded<T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: impl FnOnce() -> Vec<u8>,
    ) -> Result<T, PollError> {
        let answer = self.post_encoded(path, body)?;
        let decoded = protocol::decode::<T>(&answer).map_err(|e| {
            let preview: String = String::from_utf8_lossy(&answer).chars().take(120).collect();
            PollError::Malformed(format!("{e} (answer began: {preview:?})"))
        });
        self.note_answer(decoded.is_ok());
        decoded
    }

    /// Tells the link whether the cloud's answer was a proper message; the first proper one
    /// after bad ones wakes the uploader.
    fn note_answer(&mut self, proper: bool) {
        if !proper {
            self.handles.link.answered_badly();
        } else if self.handles.link.answered_well() {
            self.handles.uploader.wake();
        }
    }

    /// Polls `service` and decodes the cloud's command, checking its msgType.
    pub fn poll<C: DeserializeOwned + protocol::Message>(
        &mut self,
        service: protocol::Service,
    ) -> Result<C, PollError> {
        let req = protocol::PollReq::for_service(service, self.device_no(), self.version())
            .ok_or_else(|| PollError::Malformed(format!("{} is not a polled service", service.path())))?;
        let answer = self.post_raw(service.path(), &req)?;
        let decoded = protocol::decode_message::<C>(&answer).map_err(|e| {
            let preview: String = String::from_utf8_lossy(&answer).chars().take(120).collect();
            PollError::Malformed(format!("{e} (answer began: {preview:?})"))
        });
        self.note_answer(decoded.is_ok());
        decoded
    }

    /// Reports the result of `cmd` with `code` and `msg` (the code's prompt when empty).
    pub fn finish<C: protocol::Command>(
        &mut self,
        service: protocol::Service,
        cmd: &C,
        code: protocol::ErrorCode,
        msg: &str,
    ) -> Result<Outcome, PollError> {
        let msg = if msg.is_empty() { code.prompt().to_string() } else { msg.to_string() };
        let result = cmd.result(self.device_no(), code, &msg);
        self.report(service.path(), &result)?;
        self.note_command(cmd.msg_id());
        Ok(Outcome::Command)
    }

    /// Notes the msgID of a command carried out, for the scheduler's repeat check: every poll
    /// that returns [`Outcome::Command`] calls this (or [`Session::finish`], which does).
    pub(crate) fn note_command(&mut self, msg_id: &str) {
        self.last_command = Some(msg_id.trim().to_string());
    }

    /// Reports a command's result, retrying with back-off until the cloud answers 2xx: the cloud
    /// is owed this report. Only a cloud that keeps refusing it outright (a 4xx other than 408
    /// and 429, [`MAX_REFUSED_REPORTS`] times) is given up on, so one unacceptable report cannot
    /// stall every other service.
    pub fn report(&mut self, path: &str, result: &impl Serialize) -> Result<(), PollError> {
        let mut backoff = Backoff::new(self.cfg().cloud.retry_initial_ms, self.cfg().cloud.retry_max_ms);
        let mut refused = 0;
        loop {
            match self.post_raw(path, result) {
                Ok(_) => return Ok(()),
                Err(PollError::Shutdown) => return Err(PollError::Shutdown),
                Err(e) => {
                    if let Some(wait) = self.link_wait(&e) {
                        // The link's probe cadence, not a back-off of this report's own.
                        watchdog_ping();
                        if self.handles.lifecycle.sleep(wait.min(Duration::from_secs(5))) {
                            return Err(PollError::Shutdown);
                        }
                        continue;
                    }
                    if let PollError::Exchange(ExchangeError::Status(s)) = &e {
                        if (400..500).contains(s) && *s != 408 && *s != 429 {
                            refused += 1;
                            if refused >= MAX_REFUSED_REPORTS {
                                log::error!("{path}: the cloud refused the result {refused} times ({e}); giving up");
                                self.note_error(&format!("{path}: result refused by the cloud ({e})"));
                                return Err(e);
                            }
                        }
                    }
                    let wait = backoff.next_delay();
                    log::warn!("{path}: result not delivered ({e}); retrying in {} ms", wait.as_millis());
                    watchdog_ping();
                    if self.handles.lifecycle.sleep(wait) {
                        return Err(PollError::Shutdown);
                    }
                }
            }
        }
    }

    /// How long to wait after `e` when it is the link's business (the cloud unreachable): until
    /// the next probe. `None` for the cloud's own answers (a status, a malformed body).
    pub(crate) fn link_wait(&self, e: &PollError) -> Option<Duration> {
        match e {
            PollError::Offline(at) => Some(at.saturating_duration_since(Instant::now())),
            PollError::Exchange(x) if x.is_network() => Some(
                self.handles
                    .link
                    .wait_until()
                    .map_or(Duration::ZERO, |at| at.saturating_duration_since(Instant::now())),
            ),
            _ => None,
        }
    }

    fn contact_ok(&mut self) {
        if self.handles.link.succeeded() {
            // Any exchange ends an outage: the records go at once, not at their next retry.
            self.handles.uploader.wake();
        }
        let now = now_ms();
        // Written at most once a minute: each commit is an fsync on flash.
        if now - self.last_contact_saved_ms >= 60_000 {
            self.last_contact_saved_ms = now;
            // Only `facegate status` reads it; the next minute tries again.
            if let Err(e) = self.store.set_state(keys::LAST_CONTACT, &now.to_string()) {
                log::warn!("cannot save the last contact time: {e}");
            }
        }
    }

    /// Remembers an error for `facegate status`.
    pub(crate) fn note_error(&mut self, what: &str) {
        if let Err(e) = self.store.note_error(what) {
            log::error!("cannot remember the error for `facegate status`: {e}");
        }
    }
}

/// Capped exponential back-off with jitter, so a fleet does not retry in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    current_ms: u64,
    /// `Some` for [`Backoff::outage`]: when the current run of failures began (`None` before
    /// its first failure).
    streak: Option<Option<Instant>>,
}

impl Backoff {
    /// Starts at `initial_ms`, doubling up to `max_ms`.
    pub fn new(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff { initial_ms: initial_ms.max(1), max_ms: max_ms.max(initial_ms.max(1)), current_ms: 0, streak: None }
    }

    /// Waits as the link probes ([`link::outage_gap`]): a fraction of how long the failures
    /// have lasted, from `initial_ms` up to `max_ms`, not a doubling per failure. For retries
    /// that must notice the cloud's return within seconds after a short spell of refusals (an
    /// HTTP 500 or garbage outage of a few seconds doubles a back-off to 16 s and more).
    pub fn outage(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff { streak: Some(None), ..Backoff::new(initial_ms, max_ms) }
    }

    /// The next delay: the current step with up to ±25 % jitter, never above the cap.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_at(Instant::now())
    }

    fn next_delay_at(&mut self, now: Instant) -> Duration {
        if let Some(streak) = &mut self.streak {
            let since = *streak.get_or_insert(now);
            return link::outage_gap(
                now.saturating_duration_since(since),
                Duration::from_millis(self.initial_ms),
                Duration::from_millis(self.max_ms),
            );
        }
        self.current_ms =
            if self.current_ms == 0 { self.initial_ms } else { (self.current_ms.saturating_mul(2)).min(self.max_ms) };
        let quarter = self.current_ms / 4;
        let jittered = self.current_ms - quarter + fastrand::u64(0..=quarter * 2);
        Duration::from_millis(jittered.min(self.max_ms))
    }

    /// Back to the initial step after a success.
    pub fn reset(&mut self) {
        self.current_ms = 0;
        if let Some(streak) = &mut self.streak {
            *streak = None;
        }
    }
}

/// `facegate doctor`'s cloud line: can the cloud be reached and does it speak HTTP?
pub(crate) fn probe(transport: &Transport, cfg: &Config) -> Result<String, String> {
    let msg = protocol::messages::KeepAlive::new(&cfg.device.device_no);
    match transport.post(protocol::services::Service::Heartbeat.path(), &protocol::encode(&msg)) {
        Ok(_) => Ok(format!("{} answers", cfg.cloud.url)),
        Err(ExchangeError::Status(s)) => Ok(format!("{} answers (HTTP {s} to a heartbeat)", cfg.cloud.url)),
        Err(e) => Err(format!("{}: {e}", cfg.cloud.url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_ends_every_sleep_and_every_later_one_at_once() {
        let life = Arc::new(Lifecycle::default());
        assert!(!life.sleep(Duration::ZERO), "no stop yet: the sleep runs out");
        let sleeper = {
            let life = life.clone();
            std::thread::spawn(move || life.sleep(Duration::from_secs(60)))
        };
        // Whichever comes first, the sleep or the stop, the sleeper sees the stop.
        life.stop();
        assert!(sleeper.join().unwrap(), "a sleeper woken by the stop says so");
        assert!(life.is_stopping());
        assert!(life.sleep(Duration::from_secs(60)));
        assert!(!life.restart_requested());
    }

    #[test]
    fn backoff_grows_to_its_cap_with_bounded_jitter() {
        let mut b = Backoff::new(100, 1_000);
        let first = b.next_delay().as_millis() as u64;
        assert!((75..=125).contains(&first), "{first}");
        for _ in 0..10 {
            b.next_delay();
        }
        let capped = b.next_delay().as_millis() as u64;
        assert!((750..=1_000).contains(&capped), "{capped}");
        b.reset();
        assert!(b.next_delay().as_millis() as u64 <= 125);
    }

    /// After a minute of refusals the next try comes within a second, not after a back-off
    /// doubled 6 times; after an hour, at the cap; a success starts over.
    #[test]
    fn an_outage_backoff_is_a_fraction_of_the_failures_so_far() {
        let mut b = Backoff::outage(1_000, 60_000);
        let t0 = Instant::now();
        let ms = |d: Duration| d.as_millis() as u64;
        assert!((750..=1_000).contains(&ms(b.next_delay_at(t0))));
        for s in 1..=60 {
            let d = ms(b.next_delay_at(t0 + Duration::from_secs(s)));
            assert!((750..=1_000).contains(&d), "after {s} s of failures: {d} ms");
        }
        let d = ms(b.next_delay_at(t0 + Duration::from_secs(600)));
        assert!((7_500..=10_000).contains(&d), "after 10 min: {d} ms");
        let d = ms(b.next_delay_at(t0 + Duration::from_secs(7_200)));
        assert!((45_000..=60_000).contains(&d), "after 2 h: {d} ms");
        b.reset();
        let d = ms(b.next_delay_at(t0 + Duration::from_secs(7_201)));
        assert!((750..=1_000).contains(&d), "a new streak starts over: {d} ms");
        // The doubling kind is unchanged by the streak logic.
        let mut doubling = Backoff::new(1_000, 60_000);
        let waits: Vec<u64> = (0..7).map(|_| ms(doubling.next_delay())).collect();
        assert!(waits[6] >= 45_000, "{waits:?}");
    }
}
