//! The door's own inputs: exit button, door contact, fire input and tamper switch, turned into
//! what the door and the alarm output must do.
//!
//! Pure: no I/O and no clock reads. The caller (the gate's door-watch thread) feeds
//! [`DoorWatch::handle`] with events stamped by a monotonic millisecond counter and applies the
//! [`Action`]s it returns; [`DoorWatch::deadline`] says when to call again with [`Event::Tick`].
//! Input levels arrive already debounced (see [`Debounce`], which the input threads run).
//!
//! Rules:
//!
//! | event | what happens |
//! |---|---|
//! | exit button pressed | a local pulse of `openDoorTimeDelayMs` (logged as a local open); a held button holds the door only with `[door] exit_hold` (then another pulse on release) |
//! | door contact opens during a pulse, or while a grant, exit press or remote open is left | a pass, which uses up the oldest grant left |
//! | door contact opens otherwise (relay released, no grant left) | `forced_open` alarm until it closes |
//! | door contact closes after a pass | the running pulse ends (relock on close) only if no grant is left; otherwise it runs on for the next pass |
//! | door open longer than `held_open_secs` while nothing holds it open | `held_open` alarm until it closes |
//! | fire input active | the relay is held open over everything else (alwaysOpenDoor, schedules, blacklists), `fire` alarm; when it clears the relay goes back to what the rest asks |
//! | tamper active | `tamper` alarm until it clears |
//!
//! A grant is left from when it is given (before the opening, or while the door stands open
//! for someone else's pass) until an opening uses it, or until both its own pulse and
//! `forced_window_secs` after it have ended: two cards shown while the door was unlocked cover
//! two passes. The exit button's release pulse under `exit_hold` renews the press's grant
//! (the same person), and is no grant at all while the door stands open for the press's pass.
//!
//! The alarm output is on while any alarm is active. The first reading of the door contact
//! (at start) raises no forced-open alarm: nobody knows how the door came to be open.

use std::time::Duration;

/// The door's input lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Input {
    /// Request to exit: active while pressed.
    ExitButton,
    /// Door position: active while the door is open.
    DoorContact,
    /// The fire panel's release: active while the fire alarm runs.
    Fire,
    /// The tamper switch: active while the housing is open.
    Tamper,
}

impl Input {
    /// Every input, in a fixed order.
    pub const ALL: [Input; 4] = [Input::ExitButton, Input::DoorContact, Input::Fire, Input::Tamper];

    /// The name in board profiles, the CLI and logs.
    pub fn name(self) -> &'static str {
        match self {
            Input::ExitButton => "exit_button",
            Input::DoorContact => "door_contact",
            Input::Fire => "fire_input",
            Input::Tamper => "tamper",
        }
    }

    /// The input named `name` (as [`Input::name`] gives it).
    pub fn from_name(name: &str) -> Option<Input> {
        Input::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// The levels a technician's word stands for on `input` (`facegate input exit_button press`):
/// `press` is a momentary press (active, then not); `open`/`closed` for the door contact;
/// `active`/`clear` (or `on`/`off`) for any input.
pub fn levels_of(input: Input, word: &str) -> Result<&'static [bool], String> {
    let levels: &'static [bool] = match (input, word) {
        (Input::ExitButton, "press") => &[true, false],
        (Input::ExitButton, "hold") => &[true],
        (Input::ExitButton, "release") => &[false],
        (Input::DoorContact, "open") => &[true],
        (Input::DoorContact, "closed" | "close") => &[false],
        (_, "active" | "on") => &[true],
        (_, "clear" | "off") => &[false],
        _ => {
            let words = match input {
                Input::ExitButton => "press, hold, release",
                Input::DoorContact => "open, closed",
                Input::Fire | Input::Tamper => "active, clear",
            };
            return Err(format!("`{word}` is not a state of {}; use {words}", input.name()));
        }
    };
    Ok(levels)
}

/// The alarms the door raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alarm {
    /// The door stayed open longer than `held_open_secs`.
    HeldOpen,
    /// The door opened without a grant, exit press or remote open.
    ForcedOpen,
    /// The tamper switch is active.
    Tamper,
    /// The fire input is active: the door is held open.
    Fire,
}

impl Alarm {
    /// Every alarm, in a fixed order.
    pub const ALL: [Alarm; 4] = [Alarm::HeldOpen, Alarm::ForcedOpen, Alarm::Tamper, Alarm::Fire];

    /// The kind as the alarm command, `status` and the log name it.
    pub fn name(self) -> &'static str {
        match self {
            Alarm::HeldOpen => "held_open",
            Alarm::ForcedOpen => "forced_open",
            Alarm::Tamper => "tamper",
            Alarm::Fire => "fire",
        }
    }

    /// What the display shows and the voice says when it starts.
    pub fn text(self) -> &'static str {
        match self {
            Alarm::HeldOpen => "Door held open",
            Alarm::ForcedOpen => "Door forced open",
            Alarm::Tamper => "Tamper alarm",
            Alarm::Fire => "Fire alarm: door released",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The timing the rules follow (from `[door]` and `openDoorTimeDelayMs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The exit button's pulse (`openDoorTimeDelayMs`).
    pub open_door: Duration,
    /// Door open longer than this raises `held_open`; zero: never.
    pub held_open: Duration,
    /// An opening within this time after a grant, exit press or remote open is a pass.
    pub forced_window: Duration,
    /// A held exit button holds the door open.
    pub exit_hold: bool,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            open_door: Duration::from_secs(3),
            held_open: Duration::from_secs(DEFAULT_HELD_OPEN_SECS),
            forced_window: Duration::from_secs(DEFAULT_FORCED_WINDOW_SECS),
            exit_hold: false,
        }
    }
}

/// `[door] held_open_secs` when not set.
pub const DEFAULT_HELD_OPEN_SECS: u64 = 30;
/// `[door] forced_window_secs` when not set.
pub const DEFAULT_FORCED_WINDOW_SECS: u64 = 10;

/// What happened, at a moment of the caller's monotonic millisecond counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An input's debounced level changed (`true`: active).
    Level(Input, bool),
    /// The gate pulsed the door for a grant, a remote or technician open, for this long.
    Opened(Duration),
    /// The gate pulsed the door again for a credential shown again within `recogIntervalTime`
    /// (not recorded again): it renews a grant still unused instead of adding one, so one card
    /// swiped four times lets one person through, not four on a single record; with no grant
    /// left (the person passed and came back) it is a grant of its own.
    Renewed(Duration),
    /// `alwaysOpenDoor` was set or cleared.
    AlwaysOpen(bool),
    /// Time passed (the deadline came).
    Tick,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pulse the relay for the exit button (a local open: log it).
    ExitPulse(Duration),
    /// End the running pulse: the door closed after a pass and no grant is left (relock on close).
    Relock,
    /// Hold the relay open for the door's own reasons (fire, a held exit button), or stop.
    LocalHold(bool),
    /// An alarm started.
    AlarmStart(Alarm),
    /// An alarm ended.
    AlarmEnd(Alarm),
    /// Switch the alarm output.
    AlarmOutput(bool),
}

/// Grants kept at most; more in one forced window means cards are shown far faster than
/// anyone can pass, and the oldest go first.
const MAX_GRANTS: usize = 64;

/// One grant, exit press or remote open not yet used by an opening of the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grant {
    /// When it was given.
    at: u64,
    /// When its own pulse ends.
    pulse_until: u64,
    /// Given by the exit button (its release renews it rather than adding one).
    exit: bool,
}

impl Grant {
    /// Still left at `now`: its pulse runs, or the forced window after it lasts.
    fn left(&self, now: u64, window: u64) -> bool {
        now < self.pulse_until || now.saturating_sub(self.at) <= window
    }
}

/// The door-watch state machine of one door.
#[derive(Debug, Clone, Default)]
pub struct DoorWatch {
    /// The door contact: `None` until its first reading (or without a contact).
    contact: Option<bool>,
    exit_pressed: bool,
    fire: bool,
    tamper: bool,
    always_open: bool,
    /// Grants, exit presses and remote opens no opening has used yet, oldest first.
    grants: std::collections::VecDeque<Grant>,
    /// The running pulse ends then (as far as the watch knows).
    pulse_until: u64,
    /// The door opened for a pass and has not closed since.
    passing: bool,
    /// When `held_open` starts, while the door is open and nothing holds it.
    held_deadline: Option<u64>,
    /// Active alarms, one bit per [`Alarm`].
    alarms: u8,
    local_hold: bool,
    output: bool,
}

impl DoorWatch {
    /// A watch that knows nothing yet (door state unknown, no alarm).
    pub fn new() -> DoorWatch {
        DoorWatch::default()
    }

    /// Handles one event at `now` (ms of a monotonic counter) and says what to do.
    pub fn handle(&mut self, now: u64, event: Event, timing: &Timing) -> Vec<Action> {
        let mut out = Vec::new();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let window = ms(timing.forced_window);
        self.grants.retain(|g| g.left(now, window));
        match event {
            Event::Level(Input::ExitButton, pressed) => {
                if pressed == self.exit_pressed {
                    return out;
                }
                self.exit_pressed = pressed;
                // Pressed: a pulse. Released: a pulse again only if the button held the door,
                // so whoever held it still has the usual time to push the door.
                if pressed || timing.exit_hold {
                    let until = now.saturating_add(ms(timing.open_door));
                    self.pulse_until = self.pulse_until.max(until);
                    if pressed {
                        self.grant(Grant { at: now, pulse_until: until, exit: true });
                    } else if !self.passing {
                        // The press's grant, renewed: still one person. While the door stands
                        // open for the press's pass, the pulse only keeps it released.
                        if let Some(i) = self.grants.iter().rposition(|g| g.exit) {
                            self.grants.remove(i);
                        }
                        self.grant(Grant { at: now, pulse_until: until, exit: true });
                    }
                    out.push(Action::ExitPulse(timing.open_door));
                }
            }
            Event::Level(Input::DoorContact, open) => {
                let before = self.contact.replace(open);
                if before == Some(open) {
                    return out;
                }
                if open {
                    let authorised = self.holding() || now < self.pulse_until || !self.grants.is_empty();
                    if authorised {
                        // One opening, one grant: whoever else was granted still has theirs.
                        // The grant used is the oldest whose pulse released the door now; one
                        // whose pulse ended unused (an exit press nobody took) only covers an
                        // opening within its window when no pulse runs.
                        match self.grants.iter().position(|g| now < g.pulse_until) {
                            Some(i) => {
                                self.grants.remove(i);
                            }
                            None => {
                                self.grants.pop_front();
                            }
                        }
                        self.passing = true;
                    } else if before.is_some() {
                        self.start(Alarm::ForcedOpen, &mut out);
                    }
                } else {
                    // Relock unless someone else granted is still to pass under a running
                    // pulse (a grant whose pulse ended holds no relay open).
                    let waiting = self.grants.iter().any(|g| now < g.pulse_until);
                    if self.passing && now < self.pulse_until && !waiting {
                        out.push(Action::Relock);
                        self.pulse_until = now;
                    }
                    self.passing = false;
                    self.end(Alarm::ForcedOpen, &mut out);
                }
            }
            Event::Level(Input::Fire, active) => {
                if active == self.fire {
                    return out;
                }
                self.fire = active;
                if active {
                    self.start(Alarm::Fire, &mut out);
                } else {
                    self.end(Alarm::Fire, &mut out);
                }
            }
            Event::Level(Input::Tamper, active) => {
                if active == self.tamper {
                    return out;
                }
                self.tamper = active;
                if active {
                    self.start(Alarm::Tamper, &mut out);
                } else {
                    self.end(Alarm::Tamper, &mut out);
                }
            }
            Event::Opened(length) => {
                let until = now.saturating_add(ms(length));
                self.pulse_until = self.pulse_until.max(until);
                self.grant(Grant { at: now, pulse_until: until, exit: false });
            }
            Event::Renewed(length) => {
                let until = now.saturating_add(ms(length));
                self.pulse_until = self.pulse_until.max(until);
                match self.grants.back_mut() {
                    Some(g) => g.pulse_until = g.pulse_until.max(until),
                    None => self.grant(Grant { at: now, pulse_until: until, exit: false }),
                }
            }
            Event::AlwaysOpen(on) => self.always_open = on,
            Event::Tick => {}
        }
        // The relay's own hold: fire over everything, a held exit button when configured.
        let local = self.fire || (timing.exit_hold && self.exit_pressed);
        if local != self.local_hold {
            self.local_hold = local;
            if local {
                // First: the door is released before the alarm is told.
                out.insert(0, Action::LocalHold(true));
            } else {
                // Last: after the release's own pulse, so the relay never drops in between.
                out.push(Action::LocalHold(false));
            }
        }
        // Held open: timed while the door is open and nothing is meant to hold it open.
        let timed = self.contact == Some(true) && !self.holding() && !timing.held_open.is_zero();
        if timed {
            if self.held_deadline.is_none() && !self.active(Alarm::HeldOpen) {
                self.held_deadline = Some(now.saturating_add(ms(timing.held_open)));
            }
            if self.held_deadline.is_some_and(|t| now >= t) {
                self.held_deadline = None;
                self.start(Alarm::HeldOpen, &mut out);
            }
        } else {
            self.held_deadline = None;
            self.end(Alarm::HeldOpen, &mut out);
        }
        let output = self.alarms != 0;
        if output != self.output {
            self.output = output;
            out.push(Action::AlarmOutput(output));
        }
        out
    }

    /// When to send [`Event::Tick`] next, if anything is timed.
    pub fn deadline(&self) -> Option<u64> {
        self.held_deadline
    }

    /// The door contact: `Some(true)` open, `Some(false)` closed, `None` unknown.
    pub fn door_open(&self) -> Option<bool> {
        self.contact
    }

    /// The active alarms, in [`Alarm::ALL`]'s order.
    pub fn alarms(&self) -> Vec<Alarm> {
        Alarm::ALL.into_iter().filter(|a| self.active(*a)).collect()
    }

    /// Whether the fire input holds the door open.
    pub fn fire(&self) -> bool {
        self.fire
    }

    /// Something holds the relay open on purpose: fire, alwaysOpenDoor, a held exit button.
    fn holding(&self) -> bool {
        self.fire || self.always_open || self.local_hold
    }

    fn grant(&mut self, grant: Grant) {
        if self.grants.len() >= MAX_GRANTS {
            self.grants.pop_front();
        }
        self.grants.push_back(grant);
    }

    fn active(&self, alarm: Alarm) -> bool {
        self.alarms & alarm.bit() != 0
    }

    fn start(&mut self, alarm: Alarm, out: &mut Vec<Action>) {
        if !self.active(alarm) {
            self.alarms |= alarm.bit();
            out.push(Action::AlarmStart(alarm));
        }
    }

    fn end(&mut self, alarm: Alarm, out: &mut Vec<Action>) {
        if self.active(alarm) {
            self.alarms &= !alarm.bit();
            out.push(Action::AlarmEnd(alarm));
        }
    }
}

/// Debouncing of one input line: a new level counts once it has held for the debounce time,
/// each bounce starting the wait again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    ms: u64,
    stable: Option<bool>,
    pending: Option<(bool, u64)>,
}

impl Debounce {
    /// A line debounced over `ms`, whose level is `initial` if it was read at start.
    pub fn new(ms: u64, initial: Option<bool>) -> Debounce {
        Debounce { ms, stable: initial, pending: None }
    }

    /// The line is at `level` since `now` (an edge, or a reading after one).
    pub fn edge(&mut self, level: bool, now: u64) {
        if self.stable == Some(level) {
            self.pending = None;
        } else if self.pending.map(|(l, _)| l) != Some(level) {
            self.pending = Some((level, now));
        }
    }

    /// The new stable level, once it has held long enough by `now`.
    pub fn settle(&mut self, now: u64) -> Option<bool> {
        let (level, since) = self.pending?;
        if now.saturating_sub(since) >= self.ms {
            self.pending = None;
            self.stable = Some(level);
            return Some(level);
        }
        None
    }

    /// When [`Debounce::settle`] may next give a level.
    pub fn deadline(&self) -> Option<u64> {
        self.pending.map(|(_, since)| since.saturating_add(self.ms))
    }

    /// The stable level, if known.
    pub fn level(&self) -> Option<bool> {
        self.stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Event::*;
    use Input::*;

    fn timing() -> Timing {
        Timing {
            open_door: Duration::from_millis(3000),
            held_open: Duration::from_millis(30_000),
            forced_window: Duration::from_millis(10_000),
            exit_hold: false,
        }
    }

    /// Runs `(at ms, event, expected actions)` rows through one watch, naming the failing row.
    fn table(timing: &Timing, rows: &[(u64, Event, &[Action])]) -> DoorWatch {
        let mut w = DoorWatch::new();
        for (i, (at, event, want)) in rows.iter().enumerate() {
            let got = w.handle(*at, *event, timing);
            assert_eq!(got, *want, "row {i}: {event:?} at {at} ms");
        }
        w
    }

    #[test]
    fn exit_button_pulses_once_and_a_held_button_does_not_hold_the_door() {
        let w = table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (1000, Level(ExitButton, true), &[ExitPulse(Duration::from_millis(3000))]),
                // Bounces that got through as repeats change nothing.
                (1001, Level(ExitButton, true), &[]),
                (9000, Level(ExitButton, false), &[]),
                (9500, Tick, &[]),
            ],
        );
        assert!(w.alarms().is_empty());
    }

    #[test]
    fn exit_hold_when_configured_holds_the_door_and_pulses_on_release() {
        let t = Timing { exit_hold: true, ..timing() };
        table(
            &t,
            &[
                (0, Level(DoorContact, false), &[]),
                (1000, Level(ExitButton, true), &[LocalHold(true), ExitPulse(Duration::from_millis(3000))]),
                // Held 40 s with the door open: no held-open alarm, the button holds it. On
                // release the pulse comes before the hold ends, so the relay never drops between.
                (2000, Level(DoorContact, true), &[]),
                (41_000, Level(ExitButton, false), &[ExitPulse(Duration::from_millis(3000)), LocalHold(false)]),
                (42_000, Level(DoorContact, false), &[Relock]),
            ],
        );
    }

    #[test]
    fn relock_on_close_after_a_pass_and_only_while_the_pulse_runs() {
        let w = table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (100, Opened(Duration::from_millis(5000)), &[]),
                (900, Level(DoorContact, true), &[]),
                (2500, Level(DoorContact, false), &[Relock]),
                // The grant is used up: a second opening in the window is forced.
                (3000, Level(DoorContact, true), &[AlarmStart(Alarm::ForcedOpen), AlarmOutput(true)]),
                (3500, Level(DoorContact, false), &[AlarmEnd(Alarm::ForcedOpen), AlarmOutput(false)]),
                // A pass whose pulse already ended: nothing to release.
                (20_000, Opened(Duration::from_millis(1000)), &[]),
                (20_500, Level(DoorContact, true), &[]),
                (22_000, Level(DoorContact, false), &[]),
            ],
        );
        assert_eq!(w.door_open(), Some(false));
    }

    /// The emulated board: an exit press nobody used, then a card holder's pass. The pass uses
    /// the card's grant (the one whose pulse released the door), and the close relocks: the
    /// exit press's grant, its pulse over, holds no relay open.
    #[test]
    fn a_grant_whose_pulse_ended_unused_does_not_stop_the_relock() {
        let pulse = Duration::from_millis(3000);
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Level(ExitButton, true), &[ExitPulse(pulse)]),
                (100, Level(ExitButton, false), &[]),
                (4000, Opened(pulse), &[]),
                (4500, Level(DoorContact, true), &[]),
                (5200, Level(DoorContact, false), &[Relock]),
                // The exit press's grant is still within its window: an opening now is a pass.
                (6000, Level(DoorContact, true), &[]),
            ],
        );
    }

    /// The second outside tester: one card swiped four times within `recogIntervalTime` (one
    /// record, three "not recorded again") let four people through with no alarm. A repeat
    /// renews the grant still unused; it adds one only when none is left (the same person
    /// passed and came back).
    #[test]
    fn a_credential_shown_again_renews_its_grant_instead_of_adding_one() {
        let pulse = Duration::from_millis(5000);
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(pulse), &[]),
                (300, Renewed(pulse), &[]),
                (600, Renewed(pulse), &[]),
                (900, Renewed(pulse), &[]),
                (1000, Level(DoorContact, true), &[]),
                (2000, Level(DoorContact, false), &[Relock]),
                // One grant, one pass: the second opening is forced.
                (2500, Level(DoorContact, true), &[AlarmStart(Alarm::ForcedOpen), AlarmOutput(true)]),
            ],
        );
        // Passed, then shown again within the interval: a grant of its own, no alarm.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(pulse), &[]),
                (500, Level(DoorContact, true), &[]),
                (1000, Level(DoorContact, false), &[Relock]),
                (1500, Renewed(pulse), &[]),
                (2000, Level(DoorContact, true), &[]),
                (2500, Level(DoorContact, false), &[Relock]),
            ],
        );
    }

    #[test]
    fn each_grant_covers_one_pass_and_relock_waits_for_the_last() {
        let pulse = Duration::from_millis(5000);
        // A and B both granted before the door opens: A's close leaves the relay released for
        // B, whose opening is a pass; B's close relocks.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(pulse), &[]),
                (500, Opened(pulse), &[]),
                (1000, Level(DoorContact, true), &[]),
                (2000, Level(DoorContact, false), &[]),
                (3000, Level(DoorContact, true), &[]),
                (4000, Level(DoorContact, false), &[Relock]),
                // Both used: a third opening is forced.
                (4500, Level(DoorContact, true), &[AlarmStart(Alarm::ForcedOpen), AlarmOutput(true)]),
            ],
        );
        // B granted while the door stands open for A: the same, B's grant waits for its own opening.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(pulse), &[]),
                (500, Level(DoorContact, true), &[]),
                (1000, Opened(pulse), &[]),
                (2000, Level(DoorContact, false), &[]),
                (2500, Level(DoorContact, true), &[]),
                (3000, Level(DoorContact, false), &[Relock]),
            ],
        );
        // B's pulse already ended: its grant is left for the forced window (at the bound), and
        // its close has no pulse to end.
        let short = Duration::from_millis(1000);
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(short), &[]),
                (100, Opened(short), &[]),
                (500, Level(DoorContact, true), &[]),
                (800, Level(DoorContact, false), &[]),
                (10_100, Level(DoorContact, true), &[]),
                (10_500, Level(DoorContact, false), &[]),
            ],
        );
        // One ms past B's window: forced.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(short), &[]),
                (100, Opened(short), &[]),
                (500, Level(DoorContact, true), &[]),
                (800, Level(DoorContact, false), &[]),
                (10_101, Level(DoorContact, true), &[AlarmStart(Alarm::ForcedOpen), AlarmOutput(true)]),
            ],
        );
        // A grant that ran out before A's door closed does not keep the relay released.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(Duration::from_millis(60_000)), &[]),
                (100, Opened(short), &[]),
                (500, Level(DoorContact, true), &[]),
                (30_000, Level(DoorContact, false), &[Relock]),
            ],
        );
        // Grants are bounded: the oldest go first, the newest still cover their passes.
        let mut w = DoorWatch::new();
        w.handle(0, Level(DoorContact, false), &timing());
        for i in 0..(MAX_GRANTS as u64 * 10) {
            w.handle(i, Opened(Duration::from_millis(60_000)), &timing());
        }
        assert_eq!(w.grants.len(), MAX_GRANTS);
    }

    #[test]
    fn held_open_alarm_after_the_configured_time_cleared_on_close() {
        let mut w = table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (1000, Opened(Duration::from_millis(3000)), &[]),
                (2000, Level(DoorContact, true), &[]),
            ],
        );
        assert_eq!(w.deadline(), Some(32_000), "30 s after the door opened");
        assert_eq!(w.handle(31_999, Tick, &timing()), Vec::<Action>::new(), "one ms before the bound");
        assert_eq!(w.handle(32_000, Tick, &timing()), [AlarmStart(Alarm::HeldOpen), AlarmOutput(true)], "at the bound");
        assert_eq!(w.deadline(), None);
        assert_eq!(w.handle(40_000, Tick, &timing()), Vec::<Action>::new());
        assert_eq!(w.alarms(), [Alarm::HeldOpen]);
        assert_eq!(
            w.handle(50_000, Level(DoorContact, false), &timing()),
            [AlarmEnd(Alarm::HeldOpen), AlarmOutput(false)]
        );
        // Zero turns it off.
        let off = Timing { held_open: Duration::ZERO, ..timing() };
        let w = table(&off, &[(0, Level(DoorContact, true), &[]), (10_000_000, Tick, &[])]);
        assert_eq!(w.deadline(), None);
    }

    #[test]
    fn always_open_suspends_held_open_and_its_end_starts_the_clock() {
        let mut w = table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, AlwaysOpen(true), &[]),
                (1000, Level(DoorContact, true), &[]),
                (100_000, Tick, &[]),
            ],
        );
        assert_eq!(w.deadline(), None);
        assert_eq!(w.handle(200_000, AlwaysOpen(false), &timing()), Vec::<Action>::new());
        assert_eq!(w.deadline(), Some(230_000));
        assert_eq!(w.handle(230_000, Tick, &timing()), [AlarmStart(Alarm::HeldOpen), AlarmOutput(true)]);
        // Set again while alarmed: the alarm ends, the door is meant to be open.
        assert_eq!(w.handle(231_000, AlwaysOpen(true), &timing()), [AlarmEnd(Alarm::HeldOpen), AlarmOutput(false)]);
    }

    #[test]
    fn forced_open_window_bounds() {
        // Opened at 10 000 ms after a 1 s pulse granted at 0: inside the 10 s window (at the bound).
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(Duration::from_millis(1000)), &[]),
                (10_000, Level(DoorContact, true), &[]),
            ],
        );
        // One ms past it: forced.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(Duration::from_millis(1000)), &[]),
                (10_001, Level(DoorContact, true), &[AlarmStart(Alarm::ForcedOpen), AlarmOutput(true)]),
            ],
        );
        // A long pulse still running counts, past the window.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(Duration::from_millis(60_000)), &[]),
                (59_999, Level(DoorContact, true), &[]),
            ],
        );
        // The exit button authorises like a grant.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (5000, Level(ExitButton, true), &[ExitPulse(Duration::from_millis(3000))]),
                (5100, Level(ExitButton, false), &[]),
                (14_000, Level(DoorContact, true), &[]),
            ],
        );
        // No grant at all: forced; the first reading after start is not.
        table(
            &timing(),
            &[
                (0, Level(DoorContact, true), &[]),
                (10, Level(DoorContact, false), &[]),
                (20, Level(DoorContact, true), &[AlarmStart(Alarm::ForcedOpen), AlarmOutput(true)]),
            ],
        );
    }

    #[test]
    fn fire_holds_the_door_over_always_open_and_restores_it() {
        let mut w = table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, AlwaysOpen(true), &[]),
                (1000, Level(Fire, true), &[LocalHold(true), AlarmStart(Alarm::Fire), AlarmOutput(true)]),
                // alwaysOpenDoor cleared during the fire: the door stays held (the door
                // controller keeps its fire hold apart from alwaysOpenDoor).
                (2000, AlwaysOpen(false), &[]),
                (3000, Level(DoorContact, true), &[]),
                (100_000, Tick, &[]),
            ],
        );
        assert!(w.fire());
        assert_eq!(w.deadline(), None, "no held-open timing while fire holds the door");
        // Fire clears with the door still open: the hold goes, the held-open clock starts.
        assert_eq!(
            w.handle(200_000, Level(Fire, false), &timing()),
            [AlarmEnd(Alarm::Fire), LocalHold(false), AlarmOutput(false)]
        );
        assert_eq!(w.deadline(), Some(230_000));
    }

    #[test]
    fn fire_during_a_pulse_is_not_ended_by_relock() {
        let w = table(
            &timing(),
            &[
                (0, Level(DoorContact, false), &[]),
                (0, Opened(Duration::from_millis(5000)), &[]),
                (500, Level(DoorContact, true), &[]),
                (1000, Level(Fire, true), &[LocalHold(true), AlarmStart(Alarm::Fire), AlarmOutput(true)]),
                // The pass ends and the pulse with it, the fire hold stays (LocalHold is not touched).
                (2000, Level(DoorContact, false), &[Relock]),
                // Opening during the fire is never forced.
                (60_000, Level(DoorContact, true), &[]),
                (60_500, Level(DoorContact, false), &[]),
                (70_000, Level(Fire, false), &[AlarmEnd(Alarm::Fire), LocalHold(false), AlarmOutput(false)]),
            ],
        );
        assert!(w.alarms().is_empty());
    }

    #[test]
    fn tamper_alarms_and_the_output_follows_any_alarm() {
        let mut w = table(
            &timing(),
            &[
                (0, Level(Tamper, true), &[AlarmStart(Alarm::Tamper), AlarmOutput(true)]),
                (10, Level(Tamper, true), &[]),
                (20, Level(DoorContact, false), &[]),
                (30, Level(DoorContact, true), &[AlarmStart(Alarm::ForcedOpen)]),
                (40, Level(Tamper, false), &[AlarmEnd(Alarm::Tamper)]),
            ],
        );
        assert_eq!(w.alarms(), [Alarm::ForcedOpen]);
        assert_eq!(
            w.handle(50, Level(DoorContact, false), &timing()),
            [AlarmEnd(Alarm::ForcedOpen), AlarmOutput(false)]
        );
    }

    /// 200,000 random events (a day of a busy door, ten times over) keep the invariants: alarms
    /// start and end in turn, grants stay bounded and no relock cuts a granted pulse short, the alarm output is on exactly while one is active, the local
    /// hold follows the fire input (and a held exit button when configured), and held-open is
    /// timed only while the door is open.
    #[test]
    fn random_events_keep_the_invariants() {
        for exit_hold in [false, true] {
            let t = Timing { exit_hold, ..timing() };
            let mut w = DoorWatch::new();
            let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let (mut now, mut output, mut hold) = (0u64, false, false);
            let mut active = std::collections::BTreeSet::new();
            let (mut fire, mut pressed) = (false, false);
            for _ in 0..200_000 {
                now += next() % 20_000;
                let r = next();
                let event = match r % 8 {
                    0 => Level(ExitButton, r & 8 != 0),
                    1 | 2 => Level(DoorContact, r & 8 != 0),
                    3 => Level(Fire, r & 8 != 0),
                    4 => Level(Tamper, r & 8 != 0),
                    5 if r & 16 != 0 => Renewed(Duration::from_millis(r % 60_000)),
                    5 => Opened(Duration::from_millis(r % 60_000)),
                    6 => AlwaysOpen(r & 8 != 0),
                    _ => Tick,
                };
                if let Level(Fire, f) = event {
                    fire = f;
                }
                if let Level(ExitButton, p) = event {
                    pressed = p;
                }
                let actions = w.handle(now, event, &t);
                assert!(w.grants.len() <= MAX_GRANTS);
                if actions.contains(&Relock) {
                    assert!(
                        w.grants.iter().all(|g| g.pulse_until <= now),
                        "relocked with a grant's pulse still running at {now}: {:?}",
                        w.grants
                    );
                }
                for a in actions {
                    match a {
                        AlarmStart(k) => assert!(active.insert(k), "{k:?} started twice"),
                        AlarmEnd(k) => assert!(active.remove(&k), "{k:?} ended without a start"),
                        AlarmOutput(on) => {
                            assert_ne!(on, output, "the output switched to the state it had");
                            output = on;
                        }
                        LocalHold(on) => {
                            assert_ne!(on, hold);
                            hold = on;
                        }
                        ExitPulse(_) | Relock => {}
                    }
                }
                assert_eq!(output, !active.is_empty());
                assert_eq!(w.alarms(), active.iter().copied().collect::<Vec<_>>());
                assert_eq!(hold, fire || (exit_hold && pressed));
                assert_eq!(w.fire(), fire);
                if w.deadline().is_some() {
                    assert_eq!(w.door_open(), Some(true));
                }
            }
        }
    }

    #[test]
    fn technician_words() {
        assert_eq!(levels_of(ExitButton, "press"), Ok(&[true, false][..]));
        assert_eq!(levels_of(DoorContact, "open"), Ok(&[true][..]));
        assert_eq!(levels_of(DoorContact, "closed"), Ok(&[false][..]));
        assert_eq!(levels_of(Fire, "active"), Ok(&[true][..]));
        assert_eq!(levels_of(Tamper, "clear"), Ok(&[false][..]));
        let err = levels_of(Fire, "open").unwrap_err();
        assert!(err.contains("fire_input") && err.contains("active, clear"), "{err}");
    }

    #[test]
    fn names_round_trip() {
        for i in Input::ALL {
            assert_eq!(Input::from_name(i.name()), Some(i));
        }
        assert_eq!(Input::from_name("doorbell"), None);
        let names: Vec<_> = Alarm::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["held_open", "forced_open", "tamper", "fire"]);
    }

    #[test]
    fn debounce_needs_the_level_to_hold() {
        let mut d = Debounce::new(50, Some(false));
        d.edge(true, 1000);
        assert_eq!(d.deadline(), Some(1050));
        assert_eq!(d.settle(1049), None, "one ms short");
        // A bounce back and forth restarts the wait.
        d.edge(false, 1010);
        assert_eq!(d.deadline(), None, "back at the stable level: nothing pending");
        d.edge(true, 1020);
        assert_eq!(d.settle(1069), None);
        assert_eq!(d.settle(1070), Some(true), "held 50 ms");
        assert_eq!(d.level(), Some(true));
        assert_eq!(d.settle(2000), None, "reported once");
        // A repeat of the pending level does not restart it.
        d.edge(false, 3000);
        d.edge(false, 3040);
        assert_eq!(d.settle(3050), Some(false));
        // Zero debounce: the next settle reports it.
        let mut z = Debounce::new(0, None);
        z.edge(true, 5);
        assert_eq!(z.settle(5), Some(true));
    }
}
