//! The operating system: reboot and firmware installation through configured commands, the
//! clock through clock_settime.

use std::collections::BTreeMap;
use std::path::Path;

use super::sys::{self, SetClockError};
use crate::hw::System;
use crate::hw::command::{install_argv, run};
use crate::{Error, Result};

/// Reboot, clock and install on a real terminal.
pub struct LinuxSystem {
    /// The reboot command (argv).
    pub reboot: Vec<String>,
    /// Install command (argv) per `updateType`.
    pub install: BTreeMap<String, Vec<String>>,
}

/// The spec's names of the update types, for messages.
fn update_type_name(update_type: &str) -> &'static str {
    match update_type {
        "0" => "file system",
        "1" => "application",
        "3" => "kernel system",
        _ => "undefined",
    }
}

impl System for LinuxSystem {
    fn reboot(&mut self) -> Result<()> {
        log::warn!("rebooting: {}", self.reboot.join(" "));
        run(&self.reboot)
    }

    fn set_clock(&mut self, unix_ms: i64) -> Result<()> {
        sys::set_realtime_clock(unix_ms).map_err(|e| match e {
            SetClockError::OutOfRange => Error::Hardware(format!("time {unix_ms} ms does not fit this system's clock")),
            SetClockError::Os(e) => Error::io("setting the system clock (needs root or CAP_SYS_TIME)", e),
        })?;
        log::info!("system clock set to {unix_ms} ms");
        Ok(())
    }

    fn install(&mut self, update_type: &str, file: &Path) -> Result<()> {
        let template = self.install.get(update_type).ok_or_else(|| {
            Error::Hardware(format!(
                "no install command is configured for updateType {update_type} ({}); nothing was installed",
                update_type_name(update_type)
            ))
        })?;
        let argv = install_argv(template, file);
        log::warn!("installing {} firmware: {}", update_type_name(update_type), argv.join(" "));
        run(&argv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_runs_the_command_for_the_update_type() {
        let dir = tempfile::tempdir().unwrap();
        let fw = dir.path().join("app.bin");
        std::fs::write(&fw, b"firmware").unwrap();
        let copy = dir.path().join("installed");
        let mut install = BTreeMap::new();
        install.insert("1".to_string(), vec!["cp".to_string(), "{file}".to_string(), copy.display().to_string()]);
        let mut sys = LinuxSystem { reboot: vec!["true".into()], install };
        sys.install("1", &fw).unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), b"firmware");
        let err = sys.install("3", &fw).unwrap_err().to_string();
        assert!(err.contains("updateType 3 (kernel system)"), "{err}");
        sys.reboot().unwrap();
    }
}
