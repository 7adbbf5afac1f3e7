//! Configured external commands: the announcer (a TTS or the vendor UI) and the system actions
//! (reboot, firmware install). Commands are argument vectors, run without a shell, so texts
//! from the cloud can never be interpreted as shell syntax.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::Duration;

use super::Announcer;
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

/// Alarm notices waiting for the command; more means it hangs (each run is bounded by its
/// timeout, so the queue drains again).
const ALARM_QUEUE: usize = 32;

/// The `[alarm] command`: run on each alarm start and end with the kind and `start` or `end`
/// as its last two arguments (also in `FACEGATE_ALARM` and `FACEGATE_ALARM_STATE`), one at a
/// time on its own thread so a slow command never delays the door; a run longer than the
/// timeout is killed.
pub struct AlarmCommand {
    queue: SyncSender<(&'static str, bool)>,
}

impl AlarmCommand {
    /// Starts the alarm command's thread for `argv`, each run bounded by `timeout`.
    pub fn new(argv: Vec<String>, timeout: Duration) -> Result<AlarmCommand> {
        if argv.is_empty() {
            return Err(Error::Config("the alarm command is empty".into()));
        }
        let (queue, rx) = mpsc::sync_channel::<(&'static str, bool)>(ALARM_QUEUE);
        std::thread::Builder::new()
            .name("alarm-command".into())
            .spawn(move || {
                for (kind, start) in rx {
                    let state = if start { "start" } else { "end" };
                    let child = Command::new(&argv[0])
                        .args(&argv[1..])
                        .arg(kind)
                        .arg(state)
                        .env("FACEGATE_ALARM", kind)
                        .env("FACEGATE_ALARM_STATE", state)
                        .stdin(Stdio::null())
                        .spawn();
                    match child {
                        Ok(mut child) => match wait_bounded(&mut child, timeout) {
                            Some(s) if s.success() => {}
                            Some(s) => log::warn!("alarm command `{}` {kind} {state} failed ({s})", argv[0]),
                            None => log::warn!(
                                "alarm command `{}` {kind} {state} ran over {} ms and was killed",
                                argv[0],
                                timeout.as_millis()
                            ),
                        },
                        Err(e) => log::warn!("alarm command `{}` could not run: {e}", argv[0]),
                    }
                }
            })
            .map_err(|e| Error::io("starting the alarm command thread", e))?;
        Ok(AlarmCommand { queue })
    }

    /// Queues one run for an alarm of `kind` that starts (`true`) or ends.
    pub fn notify(&self, kind: &'static str, start: bool) {
        if self.queue.try_send((kind, start)).is_err() {
            log::warn!("alarm command is busy or gone; {kind} {} not passed on", if start { "start" } else { "end" });
        }
    }
}

/// Waits for `child` at most `timeout`, then kills it; its exit status, `None` when killed.
/// Polled every 20 ms only while a command runs.
fn wait_bounded(child: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
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
        a.notify("held_open", true);
        a.notify("held_open", false);
        assert_eq!(lines_in(&out, 2), "held_open start held_open\nheld_open end held_open\n");
        // A command that hangs is killed at its timeout and the next notice still runs.
        let marker = dir.path().join("after");
        let script = format!("if [ \"$2\" = start ]; then exec sleep 600; fi; echo \"$1 $2\" >> {}", marker.display());
        let a = AlarmCommand::new(argv(&["sh", "-c", &script, "sh"]), Duration::from_millis(200)).unwrap();
        a.notify("tamper", true);
        a.notify("tamper", false);
        assert_eq!(lines_in(&marker, 1), "tamper end\n");
        assert!(AlarmCommand::new(Vec::new(), Duration::from_secs(1)).is_err());
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
