//! The V4L2 camera (v4l crate): one frame on demand, as JPEG.
//!
//! The device is opened for each snapshot and closed after it, so a vendor recognizer can use
//! the camera between snapshots. MJPG frames pass through (completed with Huffman tables when
//! the camera leaves them out); YUYV and NV12 are encoded by
//! [`crate::hw::jpeg`].

use std::time::{Duration, Instant};

use v4l::buffer::Type;
use v4l::io::traits::CaptureStream;
use v4l::prelude::MmapStream;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

use crate::board::{CameraFormat, CameraProfile};
use crate::hw::Camera;
use crate::hw::jpeg::{self, PixelFormat, RawFrame, SnapSize};
use crate::{Error, Result};

fn fourcc(format: CameraFormat) -> FourCC {
    match format {
        CameraFormat::Mjpg => FourCC::new(b"MJPG"),
        CameraFormat::Yuyv => FourCC::new(b"YUYV"),
        CameraFormat::Nv12 => FourCC::new(b"NV12"),
    }
}

fn from_fourcc(f: FourCC) -> Option<CameraFormat> {
    match &f.repr {
        b"MJPG" => Some(CameraFormat::Mjpg),
        b"YUYV" => Some(CameraFormat::Yuyv),
        b"NV12" => Some(CameraFormat::Nv12),
        _ => None,
    }
}

/// A V4L2 capture device from the board profile.
pub struct V4lCamera {
    profile: CameraProfile,
}

impl V4lCamera {
    /// The camera of `profile`; nothing is opened until the first snapshot.
    pub fn new(profile: CameraProfile) -> V4lCamera {
        V4lCamera { profile }
    }

    /// Opens the device and negotiates the format: the preferred one, or another of the three
    /// supported ones if the driver substitutes it.
    fn open(&self) -> Result<(Device, Format, CameraFormat)> {
        let p = &self.profile;
        let dev = Device::with_path(&p.device)
            .map_err(|e| Error::io(format!("camera: opening {} ({})", p.device, super::gpio::reason(&e)), e))?;
        let wanted = Format::new(p.width, p.height, fourcc(p.format));
        let format = dev.set_format(&wanted).map_err(|e| {
            let why =
                if e.raw_os_error() == Some(libc::EBUSY) { "busy: another program is capturing" } else { "refused" };
            Error::io(format!("camera {}: setting {}x{} {:?} {why}", p.device, p.width, p.height, p.format), e)
        })?;
        let kind = from_fourcc(format.fourcc).ok_or_else(|| {
            Error::Hardware(format!(
                "camera {} delivers {}, not MJPG, YUYV or NV12; set another format in the board profile",
                p.device, format.fourcc
            ))
        })?;
        Ok((dev, format, kind))
    }

    /// Captures one frame within `timeout` and makes it a JPEG of `size`.
    fn capture(&self, size: SnapSize, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let (dev, format, kind) = self.open()?;
        let device = &self.profile.device;
        let mut stream = MmapStream::with_buffers(&dev, Type::VideoCapture, 2)
            .map_err(|e| Error::io(format!("camera {device}: allocating capture buffers"), e))?;
        let mut skip = self.profile.skip_frames;
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            stream.set_timeout(left);
            let (buf, meta) = stream.next().map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    Error::io(format!("camera {device} gave no frame within {} ms", timeout.as_millis()), e)
                } else {
                    Error::io(format!("camera {device}: capturing"), e)
                }
            })?;
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let used = (meta.bytesused as usize).min(buf.len());
            let data = if used > 0 { &buf[..used] } else { buf };
            let pixel = match kind {
                CameraFormat::Mjpg => return jpeg::fit_jpeg(jpeg::complete_mjpeg(data.to_vec()), size),
                CameraFormat::Yuyv => PixelFormat::Yuyv,
                CameraFormat::Nv12 => PixelFormat::Nv12,
            };
            let frame =
                RawFrame { format: pixel, width: format.width, height: format.height, stride: format.stride, data };
            return jpeg::encode_frame(frame, size);
        }
    }

    /// For `doctor`: opens the device, negotiates the format and captures one frame.
    pub fn check(&self, timeout: Duration) -> std::result::Result<String, String> {
        let jpeg = self.capture(SnapSize::Full, timeout).map_err(|e| e.to_string())?;
        Ok(format!("{} gave a {} byte JPEG", self.profile.device, jpeg.len()))
    }
}

impl Camera for V4lCamera {
    fn snap_jpeg(&mut self, size: SnapSize, timeout: Duration) -> Result<Vec<u8>> {
        self.capture(size, timeout)
    }
}
