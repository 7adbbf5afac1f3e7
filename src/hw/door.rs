//! The door controller: owns the relay on its own thread and times pulses and hold-open.
//!
//! The relay is energised while a pulse runs (`openDoorTimeDelayMs`), while hold-open is set
//! (`alwaysOpenDoor`) or while the door's own inputs hold it (the fire input, a held exit
//! button: the local hold), and released when the `Door` is shut down or dropped, so a
//! stopping daemon never leaves the door unlocked. The three are kept apart, so ending one
//! (a fire clearing, alwaysOpenDoor cleared, a pulse ended by relock-on-close) leaves the
//! relay as the other two ask.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Relay;
use crate::access::doorwatch::Event as DoorEvent;
use crate::{Error, Result};

/// What the door is doing, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoorState {
    /// The relay is energised (door unlocked).
    pub open: bool,
    /// Hold-open (`alwaysOpenDoor`) is set.
    pub held: bool,
    /// The door's own inputs hold it open (fire, a held exit button).
    pub local_hold: bool,
    /// The last relay failure, cleared by the next successful switch.
    pub fault: Option<String>,
}

/// The longest pulse: one minute, the top of `openDoorTimeDelayMs`'s range. Longer openings
/// are hold-open (`alwaysOpenDoor`), which the cloud sees and can clear.
pub const MAX_PULSE: Duration = Duration::from_secs(60);

enum Command {
    /// A pulse; the sender, if any, hears once the relay was switched for it.
    Pulse(Duration, Option<Sender<()>>),
    EndPulse,
    Hold(bool),
    LocalHold(bool),
    Shutdown,
}

/// The door relay on its own thread.
pub struct Door {
    commands: Sender<Command>,
    /// Told of every pulse and hold-open change (the gate's door watch), if set.
    observer: Option<Sender<DoorEvent>>,
    state: Arc<Mutex<DoorState>>,
    thread: Option<JoinHandle<()>>,
}

impl Door {
    /// Starts the door thread; the relay is released first, whatever state it was left in.
    pub fn new(relay: Box<dyn Relay>) -> Result<Door> {
        let (commands, rx) = mpsc::channel();
        let state = Arc::new(Mutex::new(DoorState::default()));
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("door".into())
            .spawn(move || run(relay, rx, shared))
            .map_err(|e| Error::io("starting the door thread", e))?;
        Ok(Door { commands, observer: None, state, thread: Some(thread) })
    }

    /// Tells `observer` of every later pulse ([`DoorEvent::Opened`], whoever asked for it) and
    /// hold-open change ([`DoorEvent::AlwaysOpen`]), so the door watch knows which openings
    /// of the door were granted.
    pub fn observe(&mut self, observer: Sender<DoorEvent>) {
        self.observer = Some(observer);
    }

    fn tell(&self, event: DoorEvent) {
        if let Some(o) = &self.observer {
            // Gone only when the watch stopped with the daemon.
            let _ = o.send(event);
        }
    }

    /// Opens the door for `duration` (at most [`MAX_PULSE`]: callers refuse longer ones, this
    /// caps what slips through); a pulse while open extends the opening, never shortens it.
    pub fn pulse(&self, duration: Duration) {
        self.tell(DoorEvent::Opened(duration.min(MAX_PULSE)));
        // The thread only stops in shutdown(), after which commands have no effect by design.
        let _ = self.commands.send(Command::Pulse(duration.min(MAX_PULSE), None));
    }

    /// [`Door::pulse`] for a credential shown again within `recogIntervalTime`: the door watch
    /// hears [`DoorEvent::Renewed`], which renews an unused grant instead of adding one.
    pub fn pulse_renewed(&self, duration: Duration) {
        self.tell(DoorEvent::Renewed(duration.min(MAX_PULSE)));
        let _ = self.commands.send(Command::Pulse(duration.min(MAX_PULSE), None));
    }

    /// [`Door::pulse`], returning once the door thread has switched the relay for it (or after
    /// `patience`, should the thread be stuck): what follows the opening — the camera frame of
    /// who passed — then comes after it, however the threads are scheduled.
    pub fn pulse_and_wait(&self, duration: Duration, patience: Duration) {
        self.tell(DoorEvent::Opened(duration.min(MAX_PULSE)));
        let (tx, rx) = mpsc::channel();
        if self.commands.send(Command::Pulse(duration.min(MAX_PULSE), Some(tx))).is_ok()
            && rx.recv_timeout(patience).is_err()
        {
            log::warn!("door relay: not switched within {} ms of a pulse", patience.as_millis());
        }
    }

    /// [`Door::pulse`] for the door watch's own exit-button pulse, which it is not told of: it
    /// already knows, and an echo arriving after the door closed again would authorise the
    /// next opening.
    pub fn pulse_local(&self, duration: Duration) {
        let _ = self.commands.send(Command::Pulse(duration.min(MAX_PULSE), None));
    }

    /// Ends a running pulse now; hold-open (`alwaysOpenDoor`) stays as it is.
    pub fn end_pulse(&self) {
        let _ = self.commands.send(Command::EndPulse);
    }

    /// Sets or clears hold-open (`alwaysOpenDoor`); clearing it closes the door unless a pulse runs.
    pub fn set_hold(&self, hold: bool) {
        self.tell(DoorEvent::AlwaysOpen(hold));
        let _ = self.commands.send(Command::Hold(hold));
    }

    /// Sets or clears the local hold (fire input, held exit button); clearing it leaves the
    /// relay as alwaysOpenDoor and a running pulse ask.
    pub fn set_local_hold(&self, hold: bool) {
        let _ = self.commands.send(Command::LocalHold(hold));
    }

    /// The current state.
    pub fn state(&self) -> DoorState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Releases the relay and stops the thread; waits until the relay is released.
    pub fn shutdown(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("door thread panicked; the relay may not have been released");
            }
        }
    }
}

impl Drop for Door {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(mut relay: Box<dyn Relay>, commands: Receiver<Command>, state: Arc<Mutex<DoorState>>) {
    let mut pulse_until: Option<Instant> = None;
    let mut hold = false;
    let mut local_hold = false;
    // None: unknown, so the first pass always switches (releases) the relay.
    let mut energised: Option<bool> = None;
    let mut shutting_down = false;
    // Told once the relay was switched for the pulse that asked (see Door::pulse_and_wait).
    let mut switched: Vec<Sender<()>> = Vec::new();
    loop {
        let now = Instant::now();
        if pulse_until.is_some_and(|t| t <= now) {
            pulse_until = None;
        }
        let want = !shutting_down && (hold || local_hold || pulse_until.is_some());
        if energised != Some(want) {
            let result = relay.set(want);
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(()) => {
                    energised = Some(want);
                    s.open = want;
                    s.fault = None;
                }
                Err(e) => {
                    log::error!("door relay: could not {}: {e}", if want { "open" } else { "close" });
                    s.fault = Some(e.to_string());
                }
            }
        }
        {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            s.held = hold;
            s.local_hold = local_hold;
        }
        for tx in switched.drain(..) {
            let _ = tx.send(());
        }
        if shutting_down {
            return;
        }
        let command = match pulse_until {
            Some(t) => match commands.recv_timeout(t.saturating_duration_since(Instant::now())) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => Command::Shutdown,
            },
            None => commands.recv().unwrap_or(Command::Shutdown),
        };
        match command {
            Command::Pulse(d, ack) => {
                let until = Instant::now() + d;
                pulse_until = Some(pulse_until.map_or(until, |t| t.max(until)));
                switched.extend(ack);
            }
            Command::EndPulse => pulse_until = None,
            Command::Hold(h) => hold = h,
            Command::LocalHold(h) => local_hold = h,
            Command::Shutdown => shutting_down = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relay that reports every switch on a channel.
    struct FakeRelay(Sender<bool>);
    impl Relay for FakeRelay {
        fn set(&mut self, open: bool) -> Result<()> {
            self.0.send(open).unwrap();
            Ok(())
        }
    }

    fn door() -> (Door, Receiver<bool>) {
        let (tx, rx) = mpsc::channel();
        let door = Door::new(Box::new(FakeRelay(tx))).unwrap();
        assert_eq!(next(&rx), "closed", "a new door releases the relay first");
        (door, rx)
    }

    /// Waits until the door thread has recorded a state matching `want` (it records it just
    /// after switching the relay); the long bound only stops a broken door from hanging the run.
    fn settled(door: &Door, want: impl Fn(&DoorState) -> bool) -> DoorState {
        for _ in 0..30_000 {
            let state = door.state();
            if want(&state) {
                return state;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the door never reached the expected state: {:?}", door.state());
    }

    /// The next switch; the long bound only stops a broken door from hanging the test run.
    fn next(rx: &Receiver<bool>) -> &'static str {
        match rx.recv_timeout(Duration::from_secs(30)).expect("the relay was not switched") {
            true => "open",
            false => "closed",
        }
    }

    /// A relay that takes its time to switch, as a loaded board's GPIO thread may.
    struct SlowRelay(Arc<Mutex<bool>>);
    impl Relay for SlowRelay {
        fn set(&mut self, open: bool) -> Result<()> {
            std::thread::sleep(Duration::from_millis(50));
            *self.0.lock().unwrap() = open;
            Ok(())
        }
    }

    #[test]
    fn pulse_and_wait_returns_once_the_relay_is_switched() {
        let relay = Arc::new(Mutex::new(false));
        let door = Door::new(Box::new(SlowRelay(Arc::clone(&relay)))).unwrap();
        door.pulse_and_wait(Duration::from_secs(5), Duration::from_secs(30));
        assert!(*relay.lock().unwrap(), "the relay is energised when pulse_and_wait returns");
        assert!(door.state().open);
        // Already open: a second pulse returns at once, and a plain pulse between does not
        // swallow the waiter's answer.
        door.pulse(Duration::from_secs(5));
        door.pulse_and_wait(Duration::from_secs(5), Duration::from_secs(30));
        assert!(*relay.lock().unwrap());
    }

    #[test]
    fn a_pulse_is_capped_and_can_be_ended() {
        let (door, rx) = door();
        door.pulse(Duration::from_secs(u64::MAX / 4));
        assert_eq!(next(&rx), "open");
        door.end_pulse();
        assert_eq!(next(&rx), "closed", "ending the pulse closes the door");
        // Held open: ending a pulse leaves the hold alone.
        door.set_hold(true);
        assert_eq!(next(&rx), "open");
        door.end_pulse();
        door.set_hold(false);
        assert_eq!(next(&rx), "closed");
        assert!(rx.try_recv().is_err(), "no switch between hold and release");
    }

    #[test]
    fn pulse_opens_then_closes() {
        let (door, rx) = door();
        door.pulse(Duration::from_millis(5));
        assert_eq!(next(&rx), "open");
        assert_eq!(next(&rx), "closed");
        settled(&door, |s| !s.open);
    }

    #[test]
    fn a_second_pulse_extends_and_never_shortens() {
        let (door, rx) = door();
        door.pulse(Duration::from_secs(3600));
        assert_eq!(next(&rx), "open");
        settled(&door, |s| s.open);
        door.pulse(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(50));
        assert!(rx.try_recv().is_err(), "the short pulse must not close a long opening");
        assert!(door.state().open);
        drop(door);
        assert_eq!(next(&rx), "closed", "dropping the door releases the relay");
    }

    #[test]
    fn hold_keeps_the_door_open_through_pulses() {
        let (door, rx) = door();
        door.set_hold(true);
        assert_eq!(next(&rx), "open");
        door.pulse(Duration::from_millis(1));
        door.set_hold(false);
        assert_eq!(next(&rx), "closed");
        settled(&door, |s| !s.open && !s.held);
        assert!(rx.try_recv().is_err(), "the relay is switched once per change");
    }

    #[test]
    fn shutdown_releases_a_held_door() {
        let (mut door, rx) = door();
        door.set_hold(true);
        assert_eq!(next(&rx), "open");
        door.shutdown();
        assert_eq!(next(&rx), "closed");
        assert!(!door.state().open);
        door.pulse(Duration::from_secs(1));
        drop(door);
        assert!(rx.try_recv().is_err(), "nothing switches after shutdown");
    }

    #[test]
    fn the_local_hold_outlasts_pulse_and_always_open_and_restores_them() {
        let (mut door, rx) = door();
        let (tx, told) = mpsc::channel();
        door.observe(tx);
        // alwaysOpenDoor, then fire: one opening.
        door.set_hold(true);
        assert_eq!(next(&rx), "open");
        door.set_local_hold(true);
        // alwaysOpenDoor cleared and a pulse ended during the fire: still open.
        door.set_hold(false);
        door.pulse(Duration::from_secs(3600));
        door.end_pulse();
        settled(&door, |s| s.local_hold && !s.held);
        assert!(rx.try_recv().is_err(), "the fire hold kept the relay open throughout");
        // Fire clears with alwaysOpenDoor set again: stays open; then cleared: closes.
        door.set_hold(true);
        door.set_local_hold(false);
        settled(&door, |s| !s.local_hold && s.held);
        assert!(rx.try_recv().is_err());
        door.set_hold(false);
        assert_eq!(next(&rx), "closed");
        // A pulse runs when the fire starts and ends after it clears: open until the pulse ends.
        door.pulse(Duration::from_secs(3600));
        assert_eq!(next(&rx), "open");
        door.set_local_hold(true);
        door.set_local_hold(false);
        settled(&door, |s| !s.local_hold && s.open);
        door.end_pulse();
        assert_eq!(next(&rx), "closed");
        // The watch's own exit pulse is not echoed back to it.
        door.pulse_local(Duration::from_millis(1));
        assert_eq!(next(&rx), "open");
        let events: Vec<DoorEvent> = told.try_iter().collect();
        assert_eq!(
            events,
            [
                DoorEvent::AlwaysOpen(true),
                DoorEvent::AlwaysOpen(false),
                DoorEvent::Opened(MAX_PULSE),
                DoorEvent::AlwaysOpen(true),
                DoorEvent::AlwaysOpen(false),
                DoorEvent::Opened(MAX_PULSE),
            ],
            "the watch hears of every pulse (as long as it runs: capped) and hold"
        );
    }

    struct FailingRelay;
    impl Relay for FailingRelay {
        fn set(&mut self, _open: bool) -> Result<()> {
            Err(Error::Hardware("line 17 is gone".into()))
        }
    }

    #[test]
    fn relay_failures_show_in_the_state() {
        let door = Door::new(Box::new(FailingRelay)).unwrap();
        door.set_hold(true);
        let mut door = door;
        door.shutdown();
        let state = door.state();
        assert!(!state.open);
        assert!(state.fault.unwrap().contains("line 17 is gone"));
    }
}
