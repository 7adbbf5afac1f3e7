//! The sim board: every actuator action becomes one JSON line in
//! `<storage.dir>/sim-actuators.jsonl` and nothing on the host is touched (no clock change, no
//! reboot). Tests and demos read that file to see what the terminal would have done.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::jpeg::{self, PixelFormat, RawFrame, SnapSize};
use super::wiegand::bit_string;
use super::{AlarmOutput, Announcer, Board, Camera, InputHandles, Relay, Rs485Out, System, WiegandBits, WiegandOut};
use crate::access::doorwatch::Input;
use crate::{Error, Result};

/// Size of the sim camera's synthetic frame.
const SNAP_WIDTH: u32 = 640;
const SNAP_HEIGHT: u32 = 480;

/// The actuator log: one JSON object per line, appended.
#[derive(Debug, Clone)]
pub struct SimLog {
    path: PathBuf,
}

impl SimLog {
    /// The log at `<storage_dir>/sim-actuators.jsonl`.
    pub fn new(storage_dir: &Path) -> SimLog {
        SimLog { path: super::sim_actuator_log(storage_dir) }
    }

    /// Appends `{"t": <unix ms>, "kind": kind, ...fields}` as one line. The file is opened with
    /// O_APPEND and the line written in one call, so concurrent writers never interleave.
    pub fn append(&self, kind: &str, fields: Value) -> Result<()> {
        let mut object = serde_json::Map::new();
        object.insert("t".into(), json!(crate::clock::now_ms()));
        object.insert("kind".into(), json!(kind));
        if let Value::Object(fields) = fields {
            object.extend(fields);
        }
        let mut line = serde_json::to_vec(&Value::Object(object))
            .map_err(|e| Error::hardware("sim log entry unserialisable", e))?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| Error::io_path("opening", &self.path, e))?;
        let written = file.write(&line).map_err(|e| Error::io_path("writing", &self.path, e))?;
        if written != line.len() {
            return Err(Error::Hardware(format!("short write to {} (disk full?)", self.path.display())));
        }
        Ok(())
    }
}

struct SimRelay(Arc<SimLog>);

impl Relay for SimRelay {
    fn set(&mut self, open: bool) -> Result<()> {
        self.0.append("relay", json!({"state": if open { "open" } else { "closed" }}))
    }
}

struct SimAlarmOutput(Arc<SimLog>);

impl AlarmOutput for SimAlarmOutput {
    fn set(&mut self, on: bool) -> Result<()> {
        self.0.append("alarm_output", json!({"state": if on { "on" } else { "off" }}))
    }
}

struct SimWiegandOut(Arc<SimLog>);

impl WiegandOut for SimWiegandOut {
    fn send(&mut self, bits: &WiegandBits) -> Result<()> {
        self.0.append("wiegand_out", json!({"bits": bits.0.len(), "frame": bit_string(&bits.0)}))
    }
}

struct SimRs485(Arc<SimLog>);

impl Rs485Out for SimRs485 {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        self.0.append("rs485_out", json!({"hex": hex}))
    }
}

/// A camera that always sees the same test pattern, encoded once per size: a snapshot costs
/// what a real camera's would not, so the sim board's timing stays the daemon's own.
struct SimCamera {
    log: Arc<SimLog>,
    small: Option<Vec<u8>>,
    full: Option<Vec<u8>>,
}

impl SimCamera {
    /// The camera with the small image (the default jpegEncodeSizeMode) already encoded, so
    /// the first card's snapshot is as quick as the others.
    fn new(log: Arc<SimLog>) -> SimCamera {
        let small = SimCamera::encode(SnapSize::Small).ok();
        SimCamera { log, small, full: None }
    }

    fn encode(size: SnapSize) -> Result<Vec<u8>> {
        let data = jpeg::test_pattern_yuyv(SNAP_WIDTH, SNAP_HEIGHT);
        let frame = RawFrame {
            format: PixelFormat::Yuyv,
            width: SNAP_WIDTH,
            height: SNAP_HEIGHT,
            stride: SNAP_WIDTH * 2,
            data: &data,
        };
        jpeg::encode_frame(frame, size)
    }
}

impl Camera for SimCamera {
    fn snap_jpeg(&mut self, size: SnapSize, _timeout: Duration) -> Result<Vec<u8>> {
        let cached = match size {
            SnapSize::Small => &mut self.small,
            SnapSize::Full => &mut self.full,
        };
        if cached.is_none() {
            *cached = Some(SimCamera::encode(size)?);
        }
        let jpeg = cached.clone().unwrap_or_default();
        self.log.append("snap", json!({"bytes": jpeg.len()}))?;
        Ok(jpeg)
    }
}

struct SimAnnouncer(Arc<SimLog>);

impl Announcer for SimAnnouncer {
    fn announce(&mut self, voice: &str, display: &str) {
        log::info!("announce: voice {voice:?} display {display:?}");
        if let Err(e) = self.0.append("announce", json!({"voice": voice, "display": display})) {
            log::warn!("sim announcer: {e}");
        }
    }
}

struct SimSystem(Arc<SimLog>);

impl System for SimSystem {
    fn reboot(&mut self) -> Result<()> {
        self.0.append("reboot", json!({}))
    }

    fn set_clock(&mut self, unix_ms: i64) -> Result<()> {
        self.0.append("set_clock", json!({"unix_ms": unix_ms}))
    }

    fn install(&mut self, update_type: &str, file: &Path) -> Result<()> {
        let bytes = std::fs::metadata(file).map_err(|e| Error::io_path("reading", file, e))?.len();
        self.0
            .append("install", json!({"update_type": update_type, "path": file.display().to_string(), "bytes": bytes}))
    }
}

/// The sim board named `name`, logging to `<storage_dir>/sim-actuators.jsonl`. It has every
/// device; its inputs start no thread (credentials and the door's input levels come through
/// the control socket).
pub fn board(name: &str, storage_dir: &Path) -> Board {
    let log = Arc::new(SimLog::new(storage_dir));
    Board {
        name: name.to_string(),
        relay: Box::new(SimRelay(Arc::clone(&log))),
        wiegand_out: Some(Box::new(SimWiegandOut(Arc::clone(&log)))),
        rs485_out: Some(Box::new(SimRs485(Arc::clone(&log)))),
        camera: Some(Box::new(SimCamera::new(Arc::clone(&log)))),
        announcer: Box::new(SimAnnouncer(Arc::clone(&log))),
        alarm_output: Some(Box::new(SimAlarmOutput(Arc::clone(&log)))),
        system: Box::new(SimSystem(log)),
        inputs: Box::new(|_events| Ok(InputHandles::default())),
        door_lines: Input::ALL.to_vec(),
        door_inputs: Box::new(|_events| Ok(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(dir: &Path) -> Vec<Value> {
        std::fs::read_to_string(super::super::sim_actuator_log(dir))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn every_actuator_action_is_one_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = board("sim", dir.path());
        b.relay.set(true).unwrap();
        b.relay.set(false).unwrap();
        b.announcer.announce("欢迎光临", "Welcome");
        b.wiegand_out.as_mut().unwrap().send(&WiegandBits(vec![false, true, true, false])).unwrap();
        b.rs485_out.as_mut().unwrap().write(&[0xfe, 0x03, 0x01, 0x00]).unwrap();
        b.alarm_output.as_mut().unwrap().set(true).unwrap();
        b.system.reboot().unwrap();
        b.system.set_clock(1_700_000_000_123).unwrap();
        let fw = dir.path().join("fw.bin");
        std::fs::write(&fw, [0u8; 1234]).unwrap();
        b.system.install("1", &fw).unwrap();
        let jpeg = b.camera.as_mut().unwrap().snap_jpeg(SnapSize::Full, Duration::from_secs(1)).unwrap();
        let handles = (b.inputs)(std::sync::mpsc::channel().0).unwrap();
        assert_eq!(*handles.stats.lock().unwrap(), super::super::InputStats::default());

        let l = lines(dir.path());
        let strip = |v: &Value| {
            assert!(v["t"].as_i64().unwrap() > 1_600_000_000_000, "t is unix ms: {v}");
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("t");
            v
        };
        let got: Vec<Value> = l.iter().map(strip).collect();
        assert_eq!(
            got,
            vec![
                json!({"kind": "relay", "state": "open"}),
                json!({"kind": "relay", "state": "closed"}),
                json!({"kind": "announce", "voice": "欢迎光临", "display": "Welcome"}),
                json!({"kind": "wiegand_out", "bits": 4, "frame": "0110"}),
                json!({"kind": "rs485_out", "hex": "fe030100"}),
                json!({"kind": "alarm_output", "state": "on"}),
                json!({"kind": "reboot"}),
                json!({"kind": "set_clock", "unix_ms": 1_700_000_000_123i64}),
                json!({"kind": "install", "update_type": "1", "path": fw.display().to_string(), "bytes": 1234}),
                json!({"kind": "snap", "bytes": jpeg.len()}),
            ]
        );
        let mut d = jpeg_decoder::Decoder::new(jpeg.as_slice());
        d.decode().unwrap();
        assert_eq!(d.info().unwrap().width, 640);
    }
}
