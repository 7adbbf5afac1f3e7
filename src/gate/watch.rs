//! The door watch: the door's own inputs (exit button, door contact, fire, tamper) through the
//! rules of `access::doorwatch`, on one thread, with the gate applying what they ask — the gate
//! stays the one driver of the door.
//!
//! Input threads (or the sim board's control socket) and the door controller (every pulse and
//! hold-open change) send [`Event`]s to one channel; the thread stamps them with its monotonic
//! clock, so the rules see them in the order they happened.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::{Gate, lock};
use crate::access::doorwatch::{Action, Alarm, DoorWatch, Event, Input};
use crate::hw::AlarmOutput;
use crate::hw::command::AlarmCommand;
use crate::{Error, Result};

/// What `status` shows of the door watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorView {
    /// `open`, `closed`, `unknown` (no reading yet) or `no contact` (the board has none).
    pub door: &'static str,
    /// The active alarms' kinds.
    pub alarms: Vec<&'static str>,
    /// The fire input holds the door open.
    pub fire: bool,
}

/// The gate's part of the door watch.
pub(super) struct Watch {
    events: Sender<Event>,
    queue: Mutex<Option<Receiver<Event>>>,
    lines: Vec<Input>,
    view: Mutex<DoorView>,
    stopping: AtomicBool,
    alarm_output: Mutex<Option<Box<dyn AlarmOutput>>>,
    alarm_command: Option<AlarmCommand>,
}

impl Watch {
    /// The watch of a door with these input lines and alarm outputs.
    pub(super) fn new(
        lines: Vec<Input>,
        alarm_output: Option<Box<dyn AlarmOutput>>,
        alarm_command: Option<AlarmCommand>,
    ) -> Watch {
        let (events, queue) = std::sync::mpsc::channel();
        let door = if lines.contains(&Input::DoorContact) { "unknown" } else { "no contact" };
        Watch {
            events,
            queue: Mutex::new(Some(queue)),
            lines,
            view: Mutex::new(DoorView { door, alarms: Vec::new(), fire: false }),
            stopping: AtomicBool::new(false),
            alarm_output: Mutex::new(alarm_output),
            alarm_command,
        }
    }

    /// Where the door controller and the input threads send their events.
    pub(super) fn sender(&self) -> Sender<Event> {
        self.events.clone()
    }
}

impl Gate {
    /// Where the board's door-input threads send their levels.
    pub fn door_events(&self) -> Sender<Event> {
        self.watch.sender()
    }

    /// A level of one of the door's inputs from the control socket (the sim board's, or a
    /// test's); refused for an input the board does not have.
    pub fn door_input(&self, input: Input, active: bool) -> Result<()> {
        if !self.watch.lines.contains(&input) {
            return Err(Error::Control(format!("this board has no {}", input.name())));
        }
        self.watch
            .events
            .send(Event::Level(input, active))
            .map_err(|_| Error::Control("the door watch has stopped".into()))
    }

    /// What `status` shows: door position, active alarms, fire mode.
    pub fn door_view(&self) -> DoorView {
        lock(&self.watch.view).clone()
    }

    /// Runs the door watch until [`Gate::shutdown`]; on a thread of its own.
    pub fn run_door_watch(&self) {
        let Some(queue) = lock(&self.watch.queue).take() else {
            log::error!("the door watch is already running");
            return;
        };
        let epoch = Instant::now();
        let ms = || u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut rules = DoorWatch::new();
        loop {
            let event = match rules.deadline() {
                Some(at) => match queue.recv_timeout(Duration::from_millis(at.saturating_sub(ms()))) {
                    Ok(e) => e,
                    Err(RecvTimeoutError::Timeout) => Event::Tick,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match queue.recv() {
                    Ok(e) => e,
                    Err(_) => return,
                },
            };
            if self.watch.stopping.load(Ordering::SeqCst) {
                return;
            }
            if let Event::Level(input, active) = event {
                log::info!("{}", describe_level(input, active));
            }
            let timing = self.settings.get().door;
            for action in rules.handle(ms(), event, &timing) {
                self.apply(action);
            }
            let door = match rules.door_open() {
                Some(true) => "open",
                Some(false) => "closed",
                None => lock(&self.watch.view).door,
            };
            let alarms = rules.alarms().into_iter().map(Alarm::name).collect();
            *lock(&self.watch.view) = DoorView { door, alarms, fire: rules.fire() };
        }
    }

    fn apply(&self, action: Action) {
        match action {
            Action::ExitPulse(length) => {
                log::info!("exit button: local open for {} ms", length.as_millis());
                self.door().pulse_local(length);
            }
            Action::Relock => {
                log::info!("door closed after the pass: relay released (relock on close)");
                self.door().end_pulse();
            }
            Action::LocalHold(on) => {
                if on {
                    log::warn!("the door is held open by its own inputs (fire input or held exit button)");
                } else {
                    log::info!("local hold ended: the relay follows pulses and alwaysOpenDoor again");
                }
                self.door().set_local_hold(on);
            }
            Action::AlarmStart(alarm) => {
                log::warn!("alarm {} started", alarm.name());
                self.announce(alarm.text(), alarm.text());
                if let Some(c) = &self.watch.alarm_command {
                    c.notify(alarm, true);
                }
            }
            Action::AlarmEnd(alarm) => {
                log::info!("alarm {} ended", alarm.name());
                if let Some(c) = &self.watch.alarm_command {
                    c.notify(alarm, false);
                }
            }
            Action::AlarmOutput(on) => self.set_alarm_output(on),
        }
    }

    fn set_alarm_output(&self, on: bool) {
        if let Some(out) = lock(&self.watch.alarm_output).as_mut() {
            if let Err(e) = out.set(on) {
                log::error!("alarm output: could not switch it {}: {e}", if on { "on" } else { "off" });
            }
        }
    }

    /// Stops the watch and switches the alarm output off (the daemon is stopping).
    pub(super) fn stop_watch(&self) {
        if !self.watch.stopping.swap(true, Ordering::SeqCst) {
            let _ = self.watch.events.send(Event::Tick);
            self.set_alarm_output(false);
        }
    }
}

fn describe_level(input: Input, active: bool) -> String {
    let what = match (input, active) {
        (Input::ExitButton, true) => "pressed",
        (Input::ExitButton, false) => "released",
        (Input::DoorContact, true) => "open",
        (Input::DoorContact, false) => "closed",
        (_, true) => "active",
        (_, false) => "clear",
    };
    format!("{}: {what}", input.name())
}
