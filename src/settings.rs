//! The device parameters in force, parsed once into typed [`Settings`].
//!
//! The cloud sets device parameters as strings (setDevInfo); they are validated by
//! `protocol::devinfo`, stored, and turned here into one immutable [`Settings`] — at start and
//! on every accepted setDevInfo, never on a hot path. Readers take an `Arc<Settings>` from the
//! [`SettingsCell`] and keep a consistent view for as long as they hold it; a change swaps the
//! whole value, so no reader ever sees half of one.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::access::AccessPolicy;
use crate::access::doorwatch::Timing as DoorTiming;
use crate::config::Config;
use crate::hw::jpeg::SnapSize;
use crate::hw::{HwParams, SharedParams};
use crate::protocol::devinfo::{DeviceParams, SnapshotMode, WiegandOutMode};

/// The device parameters as the daemon uses them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The validated parameter table (uploadDevInfo, setDevInfo's next change, `config show`).
    pub params: DeviceParams,
    /// What the decision engine follows.
    pub policy: AccessPolicy,
    /// `openDoorTimeDelayMs`: how long a pulse holds the door open.
    pub open_door: Duration,
    /// `alwaysOpenDoor`: the relay holds the door open until the parameter is cleared.
    pub always_open: bool,
    /// `timeZone`, hours east of UTC: the device's local time.
    pub time_zone: i32,
    /// `jpegEncodeSizeMode`: which image a record carries.
    pub snapshot: SnapshotMode,
    /// `cloudOfflineRetransmission`: records made while offline are sent once back online
    /// (off: they are kept, held).
    pub retransmission: bool,
    /// `entranceWgOutMode`: what a granted card sends on the Wiegand output.
    pub wiegand_out: WiegandOutMode,
    /// What the hardware threads follow (baud rate, input modes).
    pub hw: HwParams,
    /// The door-watch rules' timing: `openDoorTimeDelayMs` for the exit button, the rest from
    /// the configuration's `[door]` (kept when the cloud changes parameters).
    pub door: DoorTiming,
}

impl Settings {
    /// Parses `params` once. A value the access policy cannot use keeps its default and is
    /// logged here, once per change (the table already refused values outside the spec).
    pub fn new(params: DeviceParams) -> Settings {
        let (policy, warnings) = AccessPolicy::from_params(params.as_map());
        for w in warnings {
            log::warn!("device parameters: {w}");
        }
        let open_door = Duration::from_millis(u64::from(params.open_door_time_delay_ms()));
        Settings {
            policy,
            open_door,
            door: DoorTiming { open_door, ..DoorTiming::default() },
            always_open: params.always_open_door(),
            time_zone: params.time_zone_hours(),
            snapshot: params.jpeg_encode_size_mode(),
            retransmission: params.cloud_offline_retransmission(),
            wiegand_out: params.entrance_wg_out_mode(),
            hw: HwParams {
                serial_baud: params.entrance_serial_baud_rate(),
                serial_in_mode: params.entrance_serial_in_mode(),
                wiegand_in_mode: params.entrance_wg_in_mode(),
            },
            params,
        }
    }

    /// The settings in force at start: what the cloud set (`stored`), over the local
    /// `[params]` of the configuration and `[device] time_zone`, over the spec's defaults.
    pub fn initial(cfg: &Config, stored: &BTreeMap<String, String>) -> Settings {
        let mut merged = cfg.params.clone();
        merged.entry("timeZone".into()).or_insert_with(|| cfg.device.time_zone.to_string());
        merged.extend(stored.iter().map(|(k, v)| (k.clone(), v.clone())));
        Settings::new(DeviceParams::from_stored(&merged)).with_door(&cfg.door)
    }

    /// These settings with the configuration's `[door]` timing.
    pub fn with_door(mut self, door: &crate::config::DoorSection) -> Settings {
        self.door = DoorTiming {
            open_door: self.open_door,
            held_open: Duration::from_secs(door.held_open_secs),
            forced_window: Duration::from_secs(door.forced_window_secs),
            exit_hold: door.exit_hold,
        };
        self
    }

    /// These settings with the door timing of `previous` (which came from the configuration),
    /// for a change of device parameters by the cloud.
    pub fn keeping_door_of(mut self, previous: &Settings) -> Settings {
        self.door = DoorTiming { open_door: self.open_door, ..previous.door };
        self
    }

    /// The camera frame a record gets, if any.
    pub fn snap_size(&self) -> Option<SnapSize> {
        match self.snapshot {
            SnapshotMode::NoImage => None,
            SnapshotMode::SmallFace => Some(SnapSize::Small),
            SnapshotMode::FullImage => Some(SnapSize::Full),
        }
    }

    /// The device's local wall-clock time at `unix_ms`.
    pub fn local_time(&self, unix_ms: i64) -> chrono::NaiveDateTime {
        crate::clock::local_time(unix_ms, self.time_zone)
    }
}

/// The settings in force, swapped whole when the cloud changes a parameter.
#[derive(Debug)]
pub struct SettingsCell {
    current: RwLock<Arc<Settings>>,
    /// The hardware threads' own copy of [`Settings::hw`], kept in step.
    hw: SharedParams,
}

impl SettingsCell {
    /// A cell holding `settings`.
    pub fn new(settings: Settings) -> SettingsCell {
        let hw = SharedParams::new(settings.hw);
        SettingsCell { current: RwLock::new(Arc::new(settings)), hw }
    }

    /// The settings in force (a cheap clone of an `Arc`).
    pub fn get(&self) -> Arc<Settings> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `settings` in force for every later [`SettingsCell::get`] and the hardware threads.
    pub fn replace(&self, settings: Settings) {
        self.hw.set(settings.hw);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }

    /// The handle the hardware threads read their parameters from.
    pub fn hw_handle(&self) -> SharedParams {
        self.hw.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> DeviceParams {
        DeviceParams::from_stored(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn parameters_are_typed_once() {
        let s = Settings::new(params(&[
            ("openDoorTimeDelayMs", "2500"),
            ("alwaysOpenDoor", "1"),
            ("timeZone", "-5"),
            ("jpegEncodeSizeMode", "2"),
            ("cloudOfflineRetransmission", "0"),
            ("entranceWgOutMode", "0"),
            ("entranceSerialBaudRate", "19200"),
            ("recogIntervalTime", "7"),
        ]));
        assert_eq!(s.open_door, Duration::from_millis(2500));
        assert!(s.always_open);
        assert_eq!(s.time_zone, -5);
        assert_eq!(s.snap_size(), Some(SnapSize::Full));
        assert!(!s.retransmission);
        assert_eq!(s.wiegand_out, WiegandOutMode::Off);
        assert_eq!(s.hw.serial_baud, 19200);
        assert_eq!(s.policy.recog_interval_ms, 7_000);
        assert!(s.policy.always_open_door);
    }

    #[test]
    fn a_replacement_reaches_readers_and_the_hardware_threads() {
        let cell = SettingsCell::new(Settings::new(DeviceParams::defaults()));
        let hw = cell.hw_handle();
        let before = cell.get();
        cell.replace(Settings::new(params(&[("entranceSerialInMode", "4"), ("jpegEncodeSizeMode", "0")])));
        // A reader keeps the value it took; the next read sees the new one.
        assert_ne!(before.snapshot, SnapshotMode::NoImage);
        assert_eq!(cell.get().snap_size(), None);
        assert_eq!(hw.get().serial_in_mode, crate::hw::serial::SerialInMode::PassThrough);
    }

    #[test]
    fn initial_settings_layer_stored_over_local_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(
            &path,
            format!(
                "[device]\ndevice_no = \"X\"\ntime_zone = 3\n[cloud]\nurl = \"http://127.0.0.1:9\"\n\
                 [storage]\ndir = \"{}\"\n[params]\nopenDoorTimeDelayMs = \"1500\"\njpegEncodeSizeMode = \"0\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let cfg = Config::load(&path).unwrap();
        let stored: BTreeMap<String, String> = [("jpegEncodeSizeMode".to_string(), "2".to_string())].into();
        let s = Settings::initial(&cfg, &stored);
        assert_eq!(s.time_zone, 3);
        assert_eq!(s.open_door, Duration::from_millis(1500));
        assert_eq!(s.snapshot, SnapshotMode::FullImage, "the cloud's value wins over the local one");
        assert_eq!(s.door.open_door, Duration::from_millis(1500), "the exit button pulses as long as a grant");
        assert_eq!(s.door.held_open, Duration::from_secs(30), "the default");
        // A cloud change keeps the configuration's door timing, with its own pulse length.
        let mut door = cfg.door.clone();
        door.held_open_secs = 7;
        let configured = Settings::initial(&cfg, &stored).with_door(&door);
        let changed = Settings::new(params(&[("openDoorTimeDelayMs", "4000")])).keeping_door_of(&configured);
        assert_eq!(changed.door.held_open, Duration::from_secs(7));
        assert_eq!(changed.door.open_door, Duration::from_millis(4000));
    }
}
