//! Camera frames to JPEG: YUYV and NV12 (as V4L2 drivers deliver them) are fed to the
//! pure-Rust encoder row by row without an intermediate RGB copy, optionally scaled down.
//!
//! `jpegEncodeSizeMode` (`0` no image, `1` small face image, `2` full image) is mapped by
//! [`SnapSize::from_mode`]. Without a face detector here, "small" is the whole frame scaled down
//! by an integer factor (box filter) until its longer side is at most [`SMALL_MAX_SIDE`] pixels.

use jpeg_encoder::{ColorType, Encoder, ImageBuffer, JpegColorType};

use crate::{Error, Result};

/// Longest side of a "small" snapshot, in pixels.
pub const SMALL_MAX_SIDE: u32 = 480;
/// JPEG quality of encoded frames: good enough for faces, small enough to upload.
pub const QUALITY: u8 = 85;

/// Which snapshot image the cloud wants (`jpegEncodeSizeMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapSize {
    /// `1`: a small image.
    Small,
    /// `2`: the full frame.
    Full,
}

impl SnapSize {
    /// Maps `jpegEncodeSizeMode`; `None` for `0` (no image). Unknown values give the full image,
    /// so a misconfigured terminal still sends evidence.
    pub fn from_mode(mode: &str) -> Option<SnapSize> {
        match mode.trim() {
            "0" => None,
            "1" => Some(SnapSize::Small),
            _ => Some(SnapSize::Full),
        }
    }

    /// The integer down-scaling factor for a `width` x `height` frame.
    pub fn factor(self, width: u32, height: u32) -> u32 {
        match self {
            SnapSize::Full => 1,
            SnapSize::Small => width.max(height).div_ceil(SMALL_MAX_SIDE).max(1),
        }
    }
}

/// The raw pixel layouts a camera may deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 4:2:2, bytes Y0 U Y1 V.
    Yuyv,
    /// Planar 4:2:0: a Y plane, then one plane of interleaved U V.
    Nv12,
}

/// A raw frame borrowed from the capture buffer.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    /// The pixel layout.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row (of the Y plane for NV12); drivers may pad rows.
    pub stride: u32,
    /// The frame bytes.
    pub data: &'a [u8],
}

impl RawFrame<'_> {
    fn check(&self) -> Result<()> {
        let (w, h, s) = (self.width as usize, self.height as usize, self.stride as usize);
        let (min_stride, needed) = match self.format {
            PixelFormat::Yuyv => (w * 2, s * h),
            PixelFormat::Nv12 => (w, s * h + s * h.div_ceil(2)),
        };
        if w == 0 || h == 0 || w % 2 == 1 {
            return Err(Error::Hardware(format!("camera frame of {w}x{h} pixels: width must be even and not zero")));
        }
        if s < min_stride || self.data.len() < needed {
            return Err(Error::Hardware(format!(
                "camera frame of {w}x{h} {:?} with stride {s} needs {needed} bytes, got {}",
                self.format,
                self.data.len()
            )));
        }
        Ok(())
    }

    /// Y, Cb, Cr of pixel (x, y), in the limited (video) range the camera uses.
    fn pixel(&self, x: usize, y: usize) -> (u8, u8, u8) {
        let s = self.stride as usize;
        match self.format {
            PixelFormat::Yuyv => {
                let row = &self.data[y * s..];
                let pair = (x / 2) * 4;
                (row[pair + (x % 2) * 2], row[pair + 1], row[pair + 3])
            }
            PixelFormat::Nv12 => {
                let luma = self.data[y * s + x];
                let uv = s * self.height as usize + (y / 2) * s + (x / 2) * 2;
                (luma, self.data[uv], self.data[uv + 1])
            }
        }
    }
}

/// Limited-range (16..235 luma, 16..240 chroma, as V4L2 YUV formats are) to the full range JFIF expects.
struct RangeTables {
    luma: [u8; 256],
    chroma: [u8; 256],
}

impl RangeTables {
    fn new() -> RangeTables {
        let expand = |v: usize, lo: f32, span: f32, centre: f32| -> u8 {
            ((v as f32 - lo) * 255.0 / span + centre).round().clamp(0.0, 255.0) as u8
        };
        let mut t = RangeTables { luma: [0; 256], chroma: [0; 256] };
        for v in 0..256 {
            t.luma[v] = expand(v, 16.0, 219.0, 0.0);
            t.chroma[v] = expand(v, 128.0, 224.0, 128.0);
        }
        t
    }
}

/// The frame as the encoder pulls it: one output row at a time, box-filtered by `factor`.
struct Scaled<'a> {
    frame: RawFrame<'a>,
    factor: usize,
    tables: RangeTables,
}

impl ImageBuffer for Scaled<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        (self.frame.width as usize / self.factor) as u16
    }

    fn height(&self) -> u16 {
        (self.frame.height as usize / self.factor) as u16
    }

    fn fill_buffers(&self, row: u16, buffers: &mut [Vec<u8>; 4]) {
        let f = self.factor;
        let area = (f * f) as u32;
        for col in 0..usize::from(self.width()) {
            let mut sum = [0u32; 3];
            for dy in 0..f {
                for dx in 0..f {
                    let (y, cb, cr) = self.frame.pixel(col * f + dx, usize::from(row) * f + dy);
                    sum[0] += u32::from(y);
                    sum[1] += u32::from(cb);
                    sum[2] += u32::from(cr);
                }
            }
            let avg = |i: usize| ((sum[i] + area / 2) / area) as usize;
            buffers[0].push(self.tables.luma[avg(0)]);
            buffers[1].push(self.tables.chroma[avg(1)]);
            buffers[2].push(self.tables.chroma[avg(2)]);
        }
    }
}

/// Encodes a YUYV or NV12 frame as JPEG at `size`.
pub fn encode_frame(frame: RawFrame<'_>, size: SnapSize) -> Result<Vec<u8>> {
    frame.check()?;
    let factor = size.factor(frame.width, frame.height) as usize;
    let (w, h) = (frame.width as usize / factor, frame.height as usize / factor);
    if w == 0 || h == 0 || w > usize::from(u16::MAX) || h > usize::from(u16::MAX) {
        return Err(Error::Hardware(format!("camera frame of {}x{} cannot be encoded", frame.width, frame.height)));
    }
    let mut out = Vec::with_capacity(w * h / 4);
    Encoder::new(&mut out, QUALITY)
        .encode_image(Scaled { frame, factor, tables: RangeTables::new() })
        .map_err(|e| Error::Hardware(format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

/// Makes a JPEG fit `size`: full images and images already small enough pass unchanged,
/// larger ones (e.g. MJPEG camera frames) are decoded, scaled down and encoded again.
pub fn fit_jpeg(jpeg: Vec<u8>, size: SnapSize) -> Result<Vec<u8>> {
    if size == SnapSize::Full {
        return Ok(jpeg);
    }
    let mut decoder = jpeg_decoder::Decoder::new(jpeg.as_slice());
    decoder.read_info().map_err(|e| Error::Hardware(format!("camera JPEG unreadable: {e}")))?;
    let info = decoder.info().ok_or_else(|| Error::Hardware("camera JPEG has no header".into()))?;
    let factor = size.factor(u32::from(info.width), u32::from(info.height));
    if factor == 1 {
        return Ok(jpeg);
    }
    let pixels = decoder.decode().map_err(|e| Error::Hardware(format!("camera JPEG unreadable: {e}")))?;
    let (w, h, f) = (usize::from(info.width), usize::from(info.height), factor as usize);
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        other => {
            return Err(Error::Hardware(format!("camera JPEG of pixel format {other:?} cannot be scaled")));
        }
    };
    let (ow, oh) = (w / f, h / f);
    let mut scaled = Vec::with_capacity(ow * oh * channels);
    for oy in 0..oh {
        for ox in 0..ow {
            for c in 0..channels {
                let mut sum = 0u32;
                for dy in 0..f {
                    let row = (oy * f + dy) * w;
                    for dx in 0..f {
                        sum += u32::from(pixels[(row + ox * f + dx) * channels + c]);
                    }
                }
                scaled.push(((sum + (f * f / 2) as u32) / (f * f) as u32) as u8);
            }
        }
    }
    let color = if channels == 1 { ColorType::Luma } else { ColorType::Rgb };
    let mut out = Vec::new();
    Encoder::new(&mut out, QUALITY)
        .encode(&scaled, ow as u16, oh as u16, color)
        .map_err(|e| Error::Hardware(format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

/// A YUYV test pattern (eight colour bars over a luma ramp) for the sim camera and tests.
pub fn test_pattern_yuyv(width: u32, height: u32) -> Vec<u8> {
    // White, yellow, cyan, green, magenta, red, blue, black in limited-range BT.601.
    const BARS: [(u8, u8, u8); 8] = [
        (235, 128, 128),
        (210, 16, 146),
        (170, 166, 16),
        (145, 54, 34),
        (106, 202, 222),
        (81, 90, 240),
        (41, 240, 110),
        (16, 128, 128),
    ];
    let (w, h) = (width as usize, height as usize);
    let mut data = Vec::with_capacity(w * h * 2);
    for y in 0..h {
        for x in (0..w).step_by(2) {
            let (luma, cb, cr) = if y < h * 3 / 4 { BARS[x * 8 / w] } else { ((16 + x * 219 / w) as u8, 128, 128) };
            data.extend_from_slice(&[luma, cb, luma, cr]);
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(jpeg: &[u8]) -> (u16, u16, Vec<u8>) {
        let mut d = jpeg_decoder::Decoder::new(jpeg);
        let pixels = d.decode().expect("the JPEG decodes");
        let info = d.info().unwrap();
        assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
        (info.width, info.height, pixels)
    }

    fn rgb_at(pixels: &[u8], width: u16, x: usize, y: usize) -> [u8; 3] {
        let i = (y * usize::from(width) + x) * 3;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    }

    fn close(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 12)
    }

    #[test]
    fn yuyv_colour_bars_survive_encoding() {
        let data = test_pattern_yuyv(320, 240);
        let frame = RawFrame { format: PixelFormat::Yuyv, width: 320, height: 240, stride: 640, data: &data };
        let (w, h, px) = decode(&encode_frame(frame, SnapSize::Full).unwrap());
        assert_eq!((w, h), (320, 240));
        // Middle of the white, red and blue bars (limited range expands to full range).
        assert!(close(rgb_at(&px, w, 20, 60), [255, 255, 255]), "{:?}", rgb_at(&px, w, 20, 60));
        assert!(close(rgb_at(&px, w, 5 * 40 + 20, 60), [255, 0, 0]), "{:?}", rgb_at(&px, w, 220, 60));
        assert!(close(rgb_at(&px, w, 6 * 40 + 20, 60), [0, 0, 255]), "{:?}", rgb_at(&px, w, 260, 60));
        assert!(close(rgb_at(&px, w, 7 * 40 + 20, 60), [0, 0, 0]));
    }

    /// NV12 of a frame whose left half is red and right half green, with padded rows.
    fn nv12_two_halves(width: usize, height: usize, stride: usize) -> Vec<u8> {
        let (red, green) = ((81u8, 90u8, 240u8), (145u8, 54u8, 34u8));
        let mut data = vec![0xAA; stride * height + stride * height / 2];
        for y in 0..height {
            for x in 0..width {
                data[y * stride + x] = if x < width / 2 { red.0 } else { green.0 };
            }
        }
        for y in 0..height / 2 {
            for x in (0..width).step_by(2) {
                let c = if x < width / 2 { red } else { green };
                data[stride * height + y * stride + x] = c.1;
                data[stride * height + y * stride + x + 1] = c.2;
            }
        }
        data
    }

    #[test]
    fn nv12_with_row_padding_encodes_and_scales() {
        let data = nv12_two_halves(1280, 720, 1344);
        let frame = RawFrame { format: PixelFormat::Nv12, width: 1280, height: 720, stride: 1344, data: &data };
        let (w, h, px) = decode(&encode_frame(frame, SnapSize::Full).unwrap());
        assert_eq!((w, h), (1280, 720));
        assert!(close(rgb_at(&px, w, 100, 100), [255, 0, 0]), "{:?}", rgb_at(&px, w, 100, 100));
        assert!(close(rgb_at(&px, w, 1100, 600), [0, 255, 0]), "{:?}", rgb_at(&px, w, 1100, 600));

        let (w, h, px) = decode(&encode_frame(frame, SnapSize::Small).unwrap());
        assert_eq!((w, h), (1280 / 3, 720 / 3), "1280 wide needs a factor of 3 to fit 480");
        assert!(close(rgb_at(&px, w, 30, 30), [255, 0, 0]));
        assert!(close(rgb_at(&px, w, 400, 200), [0, 255, 0]));
    }

    #[test]
    fn short_or_odd_frames_are_refused() {
        let data = vec![0u8; 100];
        let frame = RawFrame { format: PixelFormat::Yuyv, width: 320, height: 240, stride: 640, data: &data };
        assert!(encode_frame(frame, SnapSize::Full).is_err());
        let frame = RawFrame { format: PixelFormat::Nv12, width: 3, height: 2, stride: 3, data: &data };
        assert!(encode_frame(frame, SnapSize::Full).is_err());
    }

    #[test]
    fn fit_jpeg_shrinks_large_images_only() {
        let data = test_pattern_yuyv(1024, 768);
        let frame = RawFrame { format: PixelFormat::Yuyv, width: 1024, height: 768, stride: 2048, data: &data };
        let full = encode_frame(frame, SnapSize::Full).unwrap();
        let small = fit_jpeg(full.clone(), SnapSize::Small).unwrap();
        let (w, h, px) = decode(&small);
        assert_eq!((w, h), (1024 / 3, 768 / 3));
        assert!(close(rgb_at(&px, w, 10, 10), [255, 255, 255]));
        assert_eq!(fit_jpeg(full.clone(), SnapSize::Full).unwrap(), full);
        assert_eq!(fit_jpeg(small.clone(), SnapSize::Small).unwrap(), small, "already small");
    }

    #[test]
    fn size_modes() {
        assert_eq!(SnapSize::from_mode("0"), None);
        assert_eq!(SnapSize::from_mode("1"), Some(SnapSize::Small));
        assert_eq!(SnapSize::from_mode("2"), Some(SnapSize::Full));
        assert_eq!(SnapSize::Small.factor(640, 480), 2);
        assert_eq!(SnapSize::Small.factor(320, 240), 1);
        assert_eq!(SnapSize::Full.factor(4000, 3000), 1);
    }
}
