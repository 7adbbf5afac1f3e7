//! The link to the cloud, one for the whole session: up or down, since when, and while down
//! when the next probe may go.
//!
//! Every exchange reports here (`Session::post_raw`). Any success marks the link up, resets the
//! back-off and wakes the record uploader at once, whichever thread made it (a poll, a
//! heartbeat, a result, a record). While the link is down the threads do not try on their own
//! schedules: each waits for the next probe time, so a failure while down escalates nothing,
//! and the back-off grows only when a probe fails.
//!
//! The probe gap grows with the length of the outage (a fixed fraction of it, from
//! `retry_initial_ms` up to `retry_max_ms`), not by doubling per failure: after an outage of
//! length D the link notices the cloud's return within D / [`GAP_DIVISOR`] (a doubling
//! back-off would take up to D), while a cloud that stays away is still probed only once per
//! `retry_max_ms`.
//!
//! With the defaults (1 s, 60 s) that is a probe every second (less jitter) for the first
//! minute of an outage, one every D/60 after that, and one a minute from the first hour on:
//! some 350 probes in the first hour (see the unit tests; about 165 with the former divisor of
//! 20), each a refused connect while the cloud is away (two while records wait: the
//! scheduler's and the uploader's), a SYN answered by a RST, which a cloud's load balancer
//! answers without waking a server. For a fleet of 10,000 terminals that is 10,000 to 20,000
//! such packets a second in the first minute of a cloud-wide outage; what a returning cloud
//! meets is spread by the jitter (each gap up to a quarter shorter, so the fleet does not probe
//! in lockstep) over the gap the outage has reached, and the drains behind it are what the
//! cloud must absorb either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::now_ms;

/// The probe gap is the outage's length so far divided by this (then clamped to the configured
/// back-off bounds): the cloud's return is noticed within a sixtieth of the outage, one second
/// per minute. Issue 14's goal is a 60-s outage over within 1 s plus the drain: with 20 (a
/// 3-s gap at 60 s) noticing alone took up to 3 s. The gap cannot go below `retry_initial_ms`
/// (1 s by default) whatever the divisor, so a larger one would only shorten the gaps of
/// outages longer than a minute, at the price of more probes into a cloud that stays away.
pub(crate) const GAP_DIVISOR: u32 = 60;

/// The wait before the next try after trouble that has lasted `down_for`: a [`GAP_DIVISOR`]th
/// of it within `initial..=max`, less up to a quarter of jitter so a fleet does not try in
/// lockstep (jitter only shortens: the bound on noticing the return holds). The link's probes
/// and the uploader's retries after the cloud's refusals both wait this long.
pub(crate) fn outage_gap(down_for: Duration, initial: Duration, max: Duration) -> Duration {
    let base = (down_for / GAP_DIVISOR).clamp(initial, max.max(initial));
    let ms = base.as_millis() as u64;
    Duration::from_millis(ms - fastrand::u64(0..=ms / 4))
}

/// What `facegate status` shows of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinkView {
    /// Whether the last exchange reached the cloud.
    pub up: bool,
    /// Since when (Unix ms) the link has been in this state; 0 before the first exchange.
    pub since_ms: i64,
    /// The current probe gap while down (0 while up).
    pub backoff_ms: u64,
}

#[derive(Debug)]
struct State {
    /// The last answer was one the protocol cannot use (an HTTP error status, not a message):
    /// the cloud is reachable but broken.
    broken: bool,
    /// How many times a broken cloud answered well again.
    recoveries: u64,
    up: bool,
    since_ms: i64,
    down_at: Instant,
    gap: Duration,
    next_probe: Instant,
}

/// The link state, shared by the scheduler and the uploader (see the module documentation).
#[derive(Debug)]
pub(crate) struct Link {
    state: Mutex<State>,
    initial: Duration,
    max: Duration,
    /// Mirrors `up` for the gate, which holds records made offline when retransmission is off.
    online: Arc<AtomicBool>,
}

impl Link {
    /// A link not yet used (down, probe at once) with the back-off bounds of `[cloud]`.
    pub fn new(retry_initial_ms: u64, retry_max_ms: u64, online: Arc<AtomicBool>) -> Link {
        let initial = Duration::from_millis(retry_initial_ms.max(1));
        let max = Duration::from_millis(retry_max_ms).max(initial);
        let now = Instant::now();
        online.store(false, Ordering::Relaxed);
        Link {
            state: Mutex::new(State {
                broken: false,
                recoveries: 0,
                up: false,
                since_ms: 0,
                down_at: now,
                gap: Duration::ZERO,
                next_probe: now,
            }),
            initial,
            max,
            online,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the caller may exchange: `None` now (the link is up or a probe is due), otherwise
    /// the instant of the next probe.
    pub fn wait_until(&self) -> Option<Instant> {
        let s = self.lock();
        if s.up || Instant::now() >= s.next_probe { None } else { Some(s.next_probe) }
    }

    /// An exchange reached the cloud. Returns true when that ended an outage (the caller wakes
    /// the uploader).
    pub fn succeeded(&self) -> bool {
        let mut s = self.lock();
        self.online.store(true, Ordering::Relaxed);
        if s.up {
            return false;
        }
        let was_down = s.since_ms != 0;
        if was_down {
            log::info!("cloud reachable again after {} ms", s.down_at.elapsed().as_millis());
        }
        *s = State { up: true, since_ms: now_ms(), gap: Duration::ZERO, ..*s };
        true
    }

    /// The cloud answered with something the protocol cannot use (an HTTP error status, a body
    /// that is not the expected message): reachable, but broken.
    pub fn answered_badly(&self) {
        self.lock().broken = true;
    }

    /// The cloud answered with a proper message. Returns true when that ended a time of bad
    /// answers (the caller wakes the uploader: its records wait on their own back-off after a
    /// broken answer, and an HTTP 500 or garbage outage must end as fast as a refused one).
    pub fn answered_well(&self) -> bool {
        let mut s = self.lock();
        if !s.broken {
            return false;
        }
        s.broken = false;
        s.recoveries += 1;
        log::info!("cloud answers properly again");
        true
    }

    /// How many times a broken cloud answered well again: a wait that began before a recovery
    /// has outlived its cause.
    pub fn recoveries(&self) -> u64 {
        self.lock().recoveries
    }

    /// An exchange could not reach the cloud. The first failure takes the link down; a later
    /// one escalates the back-off only when it was a probe (made once the probe was due), so
    /// failures of other threads meanwhile change nothing. Returns how long until the next probe.
    pub fn failed(&self) -> Duration {
        let mut s = self.lock();
        self.online.store(false, Ordering::Relaxed);
        let now = Instant::now();
        if s.up || s.since_ms == 0 {
            if s.up {
                log::warn!("cloud unreachable: probing it with back-off");
            }
            s.up = false;
            s.since_ms = now_ms();
            s.down_at = now;
            s.gap = Duration::ZERO;
            s.next_probe = now;
        }
        if now >= s.next_probe {
            s.gap = self.gap_after(now - s.down_at);
            s.next_probe = now + s.gap;
        }
        s.next_probe.saturating_duration_since(now)
    }

    /// The gap before the next probe after an outage of `down_for`: a fraction of it within the
    /// configured bounds, less up to a quarter of jitter so a fleet does not probe in lockstep
    /// (jitter only shortens: the bound on noticing the return holds).
    fn gap_after(&self, down_for: Duration) -> Duration {
        outage_gap(down_for, self.initial, self.max)
    }

    /// The link as `facegate status` shows it.
    pub fn view(&self) -> LinkView {
        let s = self.lock();
        LinkView { up: s.up, since_ms: s.since_ms, backoff_ms: if s.up { 0 } else { s.gap.as_millis() as u64 } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(initial: u64, max: u64) -> Link {
        Link::new(initial, max, Arc::new(AtomicBool::new(true)))
    }

    #[test]
    fn a_new_link_is_down_and_may_probe_at_once() {
        let l = link(1_000, 60_000);
        assert!(!l.view().up);
        assert_eq!(l.wait_until(), None);
    }

    #[test]
    fn failures_while_a_probe_is_pending_do_not_escalate() {
        let l = link(1_000, 60_000);
        let first = l.failed();
        assert!((750..=1_000).contains(&(first.as_millis() as u64)), "{first:?}");
        let gap = l.view().backoff_ms;
        for _ in 0..20 {
            // Other threads failing meanwhile: the same probe time, the same gap.
            assert!(l.failed() <= first);
            assert_eq!(l.view().backoff_ms, gap);
        }
        assert!(l.wait_until().is_some(), "no try before the probe is due");
    }

    #[test]
    fn a_success_ends_the_outage_once_and_resets_the_gap() {
        let online = Arc::new(AtomicBool::new(false));
        let l = Link::new(10, 100, online.clone());
        l.failed();
        assert!(!online.load(Ordering::Relaxed));
        assert!(l.succeeded(), "the first success ends the outage");
        assert!(!l.succeeded(), "later ones change nothing");
        assert!(online.load(Ordering::Relaxed));
        let v = l.view();
        assert!(v.up && v.backoff_ms == 0 && v.since_ms > 0, "{v:?}");
        assert_eq!(l.wait_until(), None);
    }

    #[test]
    fn a_proper_answer_after_bad_ones_is_one_recovery() {
        let l = link(1_000, 60_000);
        assert!(!l.answered_well(), "no bad answer yet: nothing to recover from");
        l.answered_badly();
        l.answered_badly();
        assert!(l.answered_well());
        assert!(!l.answered_well(), "once");
        assert_eq!(l.recoveries(), 1);
    }

    #[test]
    fn the_gap_is_a_fraction_of_the_outage_within_the_bounds() {
        let l = link(1_000, 60_000);
        for (down_s, lo, hi) in
            [(0, 750, 1_000), (10, 750, 1_000), (59, 750, 1_000), (120, 1_500, 2_000), (1_200, 15_000, 20_000)]
        {
            let g = l.gap_after(Duration::from_secs(down_s)).as_millis() as u64;
            assert!((lo..=hi).contains(&g), "after {down_s} s: {g} ms");
        }
        // A cloud that stays away for a day is probed at the cap, never beyond it.
        let g = l.gap_after(Duration::from_secs(86_400)).as_millis() as u64;
        assert!((45_000..=60_000).contains(&g), "{g}");
    }

    /// Issue 14's benchmark: the cloud returns after a 60-s outage. Whatever the jitter, the
    /// last probe before the return was made at most a second before the next one, so the
    /// return is noticed within 1 s (the goal's "1 s +"). With a divisor of 20 this gap was up
    /// to 3 s.
    #[test]
    fn a_one_minute_outage_is_noticed_within_a_second() {
        let l = link(1_000, 60_000);
        for down_ms in (50_000..=60_000).step_by(100) {
            for _ in 0..20 {
                let g = l.gap_after(Duration::from_millis(down_ms));
                assert!(g <= Duration::from_secs(1), "after {down_ms} ms: {g:?}");
                // Never faster than the configured back-off allows, less its jitter.
                assert!(g >= Duration::from_millis(750), "after {down_ms} ms: {g:?}");
            }
        }
    }

    /// The price of noticing fast: the probes a cloud that stays away gets, counted over a
    /// simulated outage (each probe fails at once, the next goes one gap later). 308 in the
    /// first hour with no jitter, 410 with the most, then one per `retry_max_ms`: the cap holds
    /// for a cloud that stays away.
    #[test]
    fn a_cloud_that_stays_away_is_probed_less_and_less_then_at_the_cap() {
        let l = link(1_000, 60_000);
        let (mut t, mut probes_first_hour, mut probes_first_minute) = (Duration::ZERO, 0u32, 0u32);
        let mut last_gap = Duration::ZERO;
        while t < Duration::from_secs(2 * 3_600) {
            let g = l.gap_after(t);
            if t < Duration::from_secs(60) {
                probes_first_minute += 1;
            }
            if t < Duration::from_secs(3_600) {
                probes_first_hour += 1;
            } else {
                assert!(g >= Duration::from_secs(45) && g <= Duration::from_secs(60), "at {t:?}: {g:?}");
            }
            assert!(g >= last_gap.mul_f64(0.75), "the gap only grows (less jitter): {last_gap:?} then {g:?}");
            last_gap = g;
            t += g;
        }
        assert!((60..=80).contains(&probes_first_minute), "{probes_first_minute} probes in the first minute");
        assert!((300..=410).contains(&probes_first_hour), "{probes_first_hour} probes in the first hour");
    }
}
