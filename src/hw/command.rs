//! Configured external commands: the announcer (a TTS or the vendor UI) and the system actions
//! (reboot, firmware install). Commands are argument vectors, run without a shell, so texts
//! from the cloud can never be interpreted as shell syntax.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::Announcer;
use crate::access::doorwatch::Alarm;
use crate::{Error, Result};

/// Where in an install command the firmware file goes; appended when absent.
pub const FILE_PLACEHOLDER: &str = "{file}";

/// Runs `argv` to completion; a non-zero exit is an error naming the command.
pub fn run(argv: &[String]) -> Result<()> {
    let (program, args) = argv.split_first().ok_or_else(|| Error::Config("an empty command is configured".into()))?;
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Error::io(format!("running {program}"), e))?;
    if status.success() { Ok(()) } else { Err(Error::Hardware(format!("`{}` failed ({status})", argv.join(" ")))) }
}

/// The install command for a firmware file: `{file}` replaced by the path, or the path appended.
pub fn install_argv(template: &[String], file: &Path) -> Vec<String> {
    let path = file.display().to_string();
    let mut argv: Vec<String> = template.iter().map(|a| a.replace(FILE_PLACEHOLDER, &path)).collect();
    if !template.iter().any(|a| a.contains(FILE_PLACEHOLDER)) {
        argv.push(path);
    }
    argv
}

/// Where the program of a configured command (its first word) is, for `doctor`: the path it
/// runs, or why it cannot run (missing, not a file, not executable). A bare name is looked up
/// on `PATH` as the daemon's spawn would.
pub fn find_program(command: &str) -> std::result::Result<std::path::PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let program = command.split_whitespace().next().ok_or("the command is empty")?;
    let runnable = |path: &Path| -> std::result::Result<(), String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a file", path.display()));
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(format!("{} is not executable", path.display()));
        }
        Ok(())
    };
    if program.contains('/') {
        let path = Path::new(program);
        return runnable(path).map(|()| path.to_path_buf());
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&search)
        .map(|dir| dir.join(program))
        .find(|p| runnable(p).is_ok())
        .ok_or_else(|| format!("`{program}` is not an executable on PATH"))
}

/// Announcements waiting for the command; more than this means the command hangs, and stale
/// greetings are worth less than fresh ones.
const QUEUE: usize = 8;

/// An announcer that runs a command with the voice and display texts as its last two arguments
/// (also in `FACEGATE_VOICE` and `FACEGATE_DISPLAY`), one at a time on its own thread so a slow
/// TTS never delays the door.
pub struct CommandAnnouncer {
    queue: SyncSender<(String, String)>,
}

impl CommandAnnouncer {
    /// Starts the announcer thread for `argv`.
    pub fn new(argv: Vec<String>) -> Result<CommandAnnouncer> {
        if argv.is_empty() {
            return Err(Error::Config("the announcer command is empty".into()));
        }
        let (queue, rx) = mpsc::sync_channel::<(String, String)>(QUEUE);
        std::thread::Builder::new()
            .name("announcer".into())
            .spawn(move || {
                for (voice, display) in rx {
                    let result = Command::new(&argv[0])
                        .args(&argv[1..])
                        .arg(&voice)
                        .arg(&display)
                        .env("FACEGATE_VOICE", &voice)
                        .env("FACEGATE_DISPLAY", &display)
                        .stdin(Stdio::null())
                        .status();
                    match result {
                        Ok(s) if s.success() => {}
                        Ok(s) => log::warn!("announcer `{}` failed ({s})", argv[0]),
                        Err(e) => log::warn!("announcer `{}` could not run: {e}", argv[0]),
                    }
                }
            })
            .map_err(|e| Error::io("starting the announcer thread", e))?;
        Ok(CommandAnnouncer { queue })
    }
}

impl Announcer for CommandAnnouncer {
    fn announce(&mut self, voice: &str, display: &str) {
        match self.queue.try_send((voice.to_string(), display.to_string())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                log::warn!("announcer is busy; dropped voice {voice:?} display {display:?}")
            }
            Err(TrySendError::Disconnected(_)) => {
                log::warn!("announcer thread is gone; voice {voice:?} display {display:?}")
            }
        }
    }
}

/// What one run of the alarm command may add to the daemon's log (its stdout and stderr
/// together); the rest is read and discarded, so a chatty script can neither fill the log
/// nor block on a full pipe.
pub const ALARM_OUTPUT_LOGGED: usize = 4096;

/// The notices of one alarm kind the command has not heard yet, coalesced: the first
/// transition since the command was last told, then the latest state if it differs. What lay
/// between (an end and a start again, pairwise) is counted, not queued: the command always
/// ends up told the current state, and still hears that an alarm came and went while it was
/// busy.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Pending {
    first: Option<bool>,
    latest: Option<bool>,
    /// Notices dropped between `first` and `latest` since the runner last logged them.
    coalesced: u64,
}

impl Pending {
    /// One more notice: `true` for a start.
    fn push(&mut self, start: bool) {
        match (self.first, self.latest) {
            (None, _) => self.first = Some(start),
            (Some(first), None) if first != start => self.latest = Some(start),
            // The latest state flipped back to the first: the pair in between is coalesced.
            (Some(_), Some(latest)) if latest != start => {
                self.latest = None;
                self.coalesced += 2;
            }
            // A repeat of the state already pending tells nothing new.
            _ => {}
        }
    }

    /// The next notice to run.
    fn pop(&mut self) -> Option<bool> {
        let next = self.first.take()?;
        self.first = self.latest.take();
        Some(next)
    }
}

/// One alarm kind's notices and the runner waiting for them.
struct KindQueue {
    kind: Alarm,
    pending: Mutex<(Pending, bool)>,
    wake: Condvar,
}

/// The `[alarm] command`: run on each alarm start and end with the kind and `start` or `end`
/// as its last two arguments (also in `FACEGATE_ALARM` and `FACEGATE_ALARM_STATE`), on a
/// thread per alarm kind (four) so a slow command never delays the door nor another kind's
/// notice (a hung tamper run never holds up `fire start`); runs of one kind come in order.
/// A run longer than the timeout is killed with its whole process group (a script's own
/// children too). Notices of a kind that arrive while its run is busy are coalesced (see
/// [`Pending`]); nothing is ever dropped without the command learning the current state.
pub struct AlarmCommand {
    queues: Vec<Arc<KindQueue>>,
}

impl AlarmCommand {
    /// Starts the alarm command's threads for `argv`, each run bounded by `timeout`.
    pub fn new(argv: Vec<String>, timeout: Duration) -> Result<AlarmCommand> {
        if argv.is_empty() {
            return Err(Error::Config("the alarm command is empty".into()));
        }
        let argv = Arc::new(argv);
        let mut queues = Vec::new();
        for kind in Alarm::ALL {
            let queue =
                Arc::new(KindQueue { kind, pending: Mutex::new((Pending::default(), false)), wake: Condvar::new() });
            let (q, argv) = (queue.clone(), argv.clone());
            std::thread::Builder::new()
                .name(format!("alarm-{}", kind.name()))
                .spawn(move || run_alarm_kind(&q, &argv, timeout))
                .map_err(|e| Error::io("starting the alarm command threads", e))?;
            queues.push(queue);
        }
        Ok(AlarmCommand { queues })
    }

    /// Passes on that an alarm of `kind` starts (`true`) or ends.
    pub fn notify(&self, kind: Alarm, start: bool) {
        if let Some(q) = self.queues.iter().find(|q| q.kind == kind) {
            lock(&q.pending).0.push(start);
            q.wake.notify_one();
        }
    }
}

impl Drop for AlarmCommand {
    /// The runners finish what is pending, then end.
    fn drop(&mut self) {
        for q in &self.queues {
            lock(&q.pending).1 = true;
            q.wake.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The runner of one alarm kind: runs its pending notices one at a time until closed.
fn run_alarm_kind(q: &KindQueue, argv: &[String], timeout: Duration) {
    let kind = q.kind.name();
    loop {
        let (start, coalesced) = {
            let mut guard = lock(&q.pending);
            loop {
                let (pending, closed) = &mut *guard;
                if let Some(start) = pending.pop() {
                    break (start, std::mem::take(&mut pending.coalesced));
                }
                if *closed {
                    return;
                }
                guard = q.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
        };
        if coalesced > 0 {
            log::warn!(
                "alarm command `{}` was busy: {coalesced} {kind} notices coalesced (it hears the first and the current state)",
                argv[0]
            );
        }
        let state = if start { "start" } else { "end" };
        let (reader, writer) = match UnixStream::pair() {
            Ok(p) => p,
            Err(e) => {
                log::warn!("alarm command `{}` {kind} {state}: no pipe for its output: {e}", argv[0]);
                continue;
            }
        };
        let stdout = writer.try_clone().map(|w| Stdio::from(OwnedFd::from(w))).unwrap_or_else(|_| Stdio::null());
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .arg(kind)
            .arg(state)
            .env("FACEGATE_ALARM", kind)
            .env("FACEGATE_ALARM_STATE", state)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(OwnedFd::from(writer)))
            // Its own process group, so the timeout kills the script's children with it.
            .process_group(0)
            .spawn();
        // The Command (and with it the parent's copy of the pipe's writing end) is gone here.
        let mut output = Output::new(reader);
        match child {
            Ok(mut child) => {
                let status = wait_bounded(&mut child, timeout, &mut output);
                output.log(&argv[0], kind, state);
                match status {
                    Some(s) if s.success() => {}
                    Some(s) => log::warn!("alarm command `{}` {kind} {state} failed ({s})", argv[0]),
                    None => log::warn!(
                        "alarm command `{}` {kind} {state} ran over {} ms and was killed with its process group",
                        argv[0],
                        timeout.as_millis()
                    ),
                }
            }
            Err(e) => log::warn!("alarm command `{}` could not run: {e}", argv[0]),
        }
    }
}

/// What a run wrote to stdout and stderr: the first [`ALARM_OUTPUT_LOGGED`] bytes kept, the
/// rest counted and discarded.
struct Output {
    pipe: UnixStream,
    kept: Vec<u8>,
    discarded: u64,
}

impl Output {
    fn new(pipe: UnixStream) -> Output {
        // Non-blocking: a grandchild may hold the writing end open after the run ended.
        let _ = pipe.set_nonblocking(true);
        Output { pipe, kept: Vec::new(), discarded: 0 }
    }

    /// Reads what is in the pipe now, at most 1 MiB: a run writing without end must not keep
    /// its runner from the timeout.
    fn drain(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        for _ in 0..64 {
            match self.pipe.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let room = ALARM_OUTPUT_LOGGED - self.kept.len();
                    self.kept.extend_from_slice(&buf[..n.min(room)]);
                    self.discarded += (n - n.min(room)) as u64;
                }
            }
        }
    }

    fn log(&mut self, program: &str, kind: &str, state: &str) {
        self.drain();
        if self.kept.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.kept);
        if self.discarded > 0 {
            log::warn!(
                "alarm command `{program}` {kind} {state} said: {} ({} more bytes discarded)",
                text.trim_end(),
                self.discarded
            );
        } else {
            log::warn!("alarm command `{program}` {kind} {state} said: {}", text.trim_end());
        }
    }
}

/// Waits for `child` at most `timeout`, reading its output meanwhile, then kills its process
/// group; its exit status, `None` when killed. Polled every 20 ms only while a command runs.
fn wait_bounded(
    child: &mut std::process::Child,
    timeout: Duration,
    output: &mut Output,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        output.drain();
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                // The child is not reaped yet, so its pid (its group's id) is still ours.
                kill_group(child);
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Kills `child` with its process group, or at least `child`.
fn kill_group(child: &mut std::process::Child) {
    if let Err(e) = super::kill_process_group(child) {
        log::warn!("alarm command: could not kill process group {}: {e}", child.id());
        let _ = child.kill();
    }
}

/// An announcer that only logs, for terminals without a configured command.
pub struct LogAnnouncer;

impl Announcer for LogAnnouncer {
    fn announce(&mut self, voice: &str, display: &str) {
        log::info!("announce: voice {voice:?} display {display:?}");
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_reports_failures_with_the_command() {
        run(&argv(&["true"])).unwrap();
        let err = run(&argv(&["false", "x"])).unwrap_err().to_string();
        assert!(err.contains("`false x` failed"), "{err}");
        assert!(run(&argv(&["/nonexistent/facegate-test"])).is_err());
        assert!(run(&[]).is_err());
    }

    #[test]
    fn find_program_names_what_cannot_run() {
        let dir = tempfile::tempdir().unwrap();
        assert!(find_program("sh -c true").unwrap().ends_with("sh"), "on PATH");
        let missing = dir.path().join("alarm.sh");
        let e = find_program(&format!("{} x", missing.display())).unwrap_err();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        std::fs::write(&missing, "#!/bin/sh\n").unwrap();
        let e = find_program(&missing.display().to_string()).unwrap_err();
        assert!(e.ends_with("is not executable"), "{e}");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(find_program(&missing.display().to_string()).unwrap(), missing);
        assert!(find_program(&dir.path().display().to_string()).unwrap_err().ends_with("is not a file"));
        assert!(find_program("facegate-no-such-program-xyz").unwrap_err().contains("not an executable on PATH"));
        assert!(find_program("  ").is_err());
    }

    #[test]
    fn install_argv_places_the_file() {
        let f = Path::new("/tmp/fw.bin");
        assert_eq!(
            install_argv(&argv(&["upgrade", "--image={file}", "-y"]), f),
            argv(&["upgrade", "--image=/tmp/fw.bin", "-y"])
        );
        assert_eq!(install_argv(&argv(&["upgrade"]), f), argv(&["upgrade", "/tmp/fw.bin"]));
    }

    /// Polls (bounded) until `path` has `n` lines; its text.
    fn lines_in(path: &Path, n: usize) -> String {
        let mut text = String::new();
        for _ in 0..3000 {
            text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        text
    }

    #[test]
    fn alarm_command_gets_kind_and_state_and_a_hung_one_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("alarms");
        let script = format!("printf '%s %s %s\\n' \"$1\" \"$2\" \"$FACEGATE_ALARM\" >> {}", out.display());
        let a = AlarmCommand::new(argv(&["sh", "-c", &script, "sh"]), Duration::from_secs(30)).unwrap();
        a.notify(Alarm::HeldOpen, true);
        a.notify(Alarm::HeldOpen, false);
        assert_eq!(lines_in(&out, 2), "held_open start held_open\nheld_open end held_open\n");
        // A command that hangs is killed at its timeout and the next notice still runs.
        let marker = dir.path().join("after");
        let script = format!("if [ \"$2\" = start ]; then exec sleep 600; fi; echo \"$1 $2\" >> {}", marker.display());
        let a = AlarmCommand::new(argv(&["sh", "-c", &script, "sh"]), Duration::from_millis(200)).unwrap();
        a.notify(Alarm::Tamper, true);
        a.notify(Alarm::Tamper, false);
        assert_eq!(lines_in(&marker, 1), "tamper end\n");
        assert!(AlarmCommand::new(Vec::new(), Duration::from_secs(1)).is_err());
    }

    #[test]
    fn pending_notices_keep_the_first_transition_and_the_current_state() {
        let mut p = Pending::default();
        assert_eq!(p.pop(), None);
        // While the command runs a start: the switch ends, then flicks 25 times more and is
        // left active: it hears the end and the current start.
        p.push(false);
        for _ in 0..25 {
            p.push(true);
            p.push(false);
        }
        p.push(true);
        assert_eq!(p.coalesced, 50);
        assert_eq!((p.pop(), p.pop(), p.pop()), (Some(false), Some(true), None));
        assert_eq!(p.coalesced, 50, "counted until the runner logs it");
        // Ends pending and left ended: one end.
        let mut p = Pending::default();
        for _ in 0..10 {
            p.push(false);
            p.push(true);
        }
        p.push(false);
        assert_eq!((p.pop(), p.pop(), p.coalesced), (Some(false), None, 20));
        // Started and ended again: both heard, nothing coalesced; a repeat is no notice.
        let mut p = Pending::default();
        p.push(true);
        p.push(true);
        p.push(false);
        p.push(false);
        assert_eq!((p.pop(), p.pop(), p.pop(), p.coalesced), (Some(true), Some(false), None, 0));
    }

    /// An alarm command that appends `kind state` to `<dir>/alarms`, then waits while
    /// `<dir>/block` exists (polling, so removing it always ends the run).
    fn blocking_command(dir: &Path, timeout: Duration) -> AlarmCommand {
        let script = format!(
            "echo \"$1 $2\" >> {}; while [ -e {} ]; do sleep 0.02; done",
            dir.join("alarms").display(),
            dir.join("block").display()
        );
        AlarmCommand::new(argv(&["sh", "-c", &script, "sh"]), timeout).unwrap()
    }

    #[test]
    fn a_busy_alarm_command_ends_up_told_the_current_state_of_a_flicked_switch() {
        let dir = tempfile::tempdir().unwrap();
        let (out, block) = (dir.path().join("alarms"), dir.path().join("block"));
        std::fs::write(&block, "").unwrap();
        let a = blocking_command(dir.path(), Duration::from_secs(300));
        a.notify(Alarm::Tamper, true);
        assert_eq!(lines_in(&out, 1), "tamper start\n");
        // The tester's repro: 25x clear, active while the command is busy. Then once more
        // clear, so the current state differs from the first pending one.
        for _ in 0..25 {
            a.notify(Alarm::Tamper, false);
            a.notify(Alarm::Tamper, true);
        }
        a.notify(Alarm::Tamper, false);
        std::fs::remove_file(&block).unwrap();
        assert_eq!(lines_in(&out, 2), "tamper start\ntamper end\n");
        // Nothing else was queued: the next notice is the next line.
        a.notify(Alarm::Tamper, true);
        assert_eq!(lines_in(&out, 3), "tamper start\ntamper end\ntamper start\n");
        // Busy again; the switch flicked and left active: the command still hears it ended
        // and started again.
        std::fs::write(&block, "").unwrap();
        a.notify(Alarm::Tamper, false);
        assert_eq!(lines_in(&out, 4).lines().last(), Some("tamper end"));
        for _ in 0..40 {
            a.notify(Alarm::Tamper, true);
            a.notify(Alarm::Tamper, false);
        }
        a.notify(Alarm::Tamper, true);
        std::fs::remove_file(&block).unwrap();
        a.notify(Alarm::Fire, true);
        let text = lines_in(&out, 6);
        let tamper: Vec<&str> = text.lines().filter(|l| l.starts_with("tamper")).collect();
        assert_eq!(tamper, ["tamper start", "tamper end", "tamper start", "tamper end", "tamper start"], "{text}");
    }

    #[test]
    fn a_hung_alarm_kind_does_not_delay_another_kinds_notice() {
        let dir = tempfile::tempdir().unwrap();
        let (out, block) = (dir.path().join("alarms"), dir.path().join("block"));
        std::fs::write(&block, "").unwrap();
        // Every run hangs until the block goes (well within the 300 s timeout).
        let a = blocking_command(dir.path(), Duration::from_secs(300));
        a.notify(Alarm::Tamper, true);
        a.notify(Alarm::Tamper, false);
        assert_eq!(lines_in(&out, 1), "tamper start\n");
        a.notify(Alarm::Fire, true);
        // Fire's run comes while tamper's still hangs and its end waits.
        let text = lines_in(&out, 2);
        std::fs::remove_file(&block).unwrap();
        assert_eq!(text, "tamper start\nfire start\n");
        assert_eq!(lines_in(&out, 3), "tamper start\nfire start\ntamper end\n");
    }

    /// Whether process `pid` is gone (or a zombie its new parent has not reaped yet).
    fn gone(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        }
    }

    #[test]
    fn a_run_killed_at_its_timeout_takes_its_children_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // A script whose child would outlive a kill of the script alone.
        let script = format!("sleep 60 & echo $! > {}.tmp; mv {0}.tmp {0}; wait", pid_file.display());
        let a = AlarmCommand::new(argv(&["sh", "-c", &script, "sh"]), Duration::from_millis(300)).unwrap();
        a.notify(Alarm::Fire, true);
        let mut pid = String::new();
        for _ in 0..3000 {
            pid = std::fs::read_to_string(&pid_file).unwrap_or_default().trim().to_string();
            if !pid.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!pid.is_empty(), "the script never started its child");
        let mut dead = false;
        for _ in 0..3000 {
            dead = gone(&pid);
            if dead {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(dead, "the script's child {pid} outlived the timeout kill");
    }

    #[test]
    fn alarm_command_output_is_capped_and_never_blocks_the_run() {
        // A run printing 1 MiB finishes (its pipe is drained) and only the cap is kept.
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("done");
        let script = format!("head -c 1048576 /dev/zero | tr '\\0' x; echo oops >&2; touch {}", marker.display());
        let a = AlarmCommand::new(argv(&["sh", "-c", &script, "sh"]), Duration::from_secs(300)).unwrap();
        a.notify(Alarm::HeldOpen, true);
        for _ in 0..3000 {
            if marker.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(marker.exists(), "the chatty run never finished");
        // One that writes without end is still killed at its timeout.
        let after = dir.path().join("after");
        let script = format!("if [ \"$2\" = start ]; then exec yes; fi; touch {}", after.display());
        let a = AlarmCommand::new(argv(&["sh", "-c", &script, "sh"]), Duration::from_millis(300)).unwrap();
        a.notify(Alarm::Tamper, true);
        a.notify(Alarm::Tamper, false);
        for _ in 0..3000 {
            if after.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(after.exists(), "an endless writer held its runner past the timeout");
        // The cap itself, at and past the bound.
        let (reader, mut writer) = UnixStream::pair().unwrap();
        let mut output = Output::new(reader);
        writer.write_all(&[b'a'; ALARM_OUTPUT_LOGGED]).unwrap();
        output.drain();
        assert_eq!((output.kept.len(), output.discarded), (ALARM_OUTPUT_LOGGED, 0));
        writer.write_all(b"b").unwrap();
        drop(writer);
        output.drain();
        assert_eq!((output.kept.len(), output.discarded), (ALARM_OUTPUT_LOGGED, 1));
        assert!(!output.kept.contains(&b'b'));
    }

    #[test]
    fn command_announcer_passes_texts_as_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("said");
        // The script appends its arguments and the environment copy; shell syntax in texts stays inert.
        let script = format!("printf '%s|%s|%s\\n' \"$1\" \"$2\" \"$FACEGATE_VOICE\" >> {}", out.display());
        let mut a = CommandAnnouncer::new(argv(&["sh", "-c", &script, "sh"])).unwrap();
        a.announce("欢迎 $(touch pwned)", "Welcome");
        a.announce("", "only display");
        drop(a);
        // The thread ends when the queue closes; wait for both lines without a timing assumption.
        let mut text = String::new();
        for _ in 0..3000 {
            text = std::fs::read_to_string(&out).unwrap_or_default();
            if text.lines().count() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(text, "欢迎 $(touch pwned)|Welcome|欢迎 $(touch pwned)\n|only display|\n");
        assert!(!Path::new("pwned").exists());
    }
}
