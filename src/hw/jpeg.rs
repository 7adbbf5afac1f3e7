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
        .map_err(|e| Error::hardware("JPEG encoding failed", e))?;
    Ok(out)
}

/// Makes a JPEG fit `size`: full images and images already small enough pass unchanged,
/// larger ones (e.g. MJPEG camera frames) are decoded, scaled down and encoded again.
pub fn fit_jpeg(jpeg: Vec<u8>, size: SnapSize) -> Result<Vec<u8>> {
    if size == SnapSize::Full {
        return Ok(jpeg);
    }
    let mut decoder = jpeg_decoder::Decoder::new(jpeg.as_slice());
    decoder.read_info().map_err(unreadable)?;
    let info = decoder.info().ok_or_else(|| Error::Hardware("camera JPEG has no header".into()))?;
    let factor = size.factor(u32::from(info.width), u32::from(info.height));
    if factor == 1 {
        return Ok(jpeg);
    }
    reencode(&jpeg, factor as usize)
}

/// Makes an MJPEG camera frame a complete JPEG. Many UVC cameras leave out the Huffman tables
/// (DHT) and rely on the standard ones of the JPEG spec (Annex K.3); browsers cope, but many
/// server-side decoders reject such files. The standard tables are inserted before the scan;
/// frames that have tables, or that cannot be parsed, pass unchanged.
pub fn complete_mjpeg(mut frame: Vec<u8>) -> Vec<u8> {
    if let (false, Some(sos)) = scan_header(&frame) {
        frame.splice(sos..sos, standard_dht());
    }
    frame
}

/// Whether a DHT segment comes before the first scan, and where that scan (SOS) starts.
fn scan_header(jpeg: &[u8]) -> (bool, Option<usize>) {
    const DHT: u8 = 0xC4;
    const SOS: u8 = 0xDA;
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return (false, None);
    }
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        match jpeg[i + 1] {
            DHT => return (true, None),
            SOS => return (false, Some(i)),
            // Fill bytes before a marker.
            0xFF => i += 1,
            _ => i += 2 + usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]])),
        }
    }
    (false, None)
}

/// The DHT segment with the four standard tables (ITU T.81 Annex K.3, tables K.3 to K.6).
fn standard_dht() -> Vec<u8> {
    const DC_BITS_LUMA: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    const DC_BITS_CHROMA: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
    const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const AC_BITS_LUMA: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
    const AC_VALUES_LUMA: [u8; 162] = [
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71,
        0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72,
        0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37,
        0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
        0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3,
        0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
        0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
        0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ];
    const AC_BITS_CHROMA: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
    const AC_VALUES_CHROMA: [u8; 162] = [
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22,
        0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1,
        0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36,
        0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
        0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A,
        0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA,
        0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
        0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ];
    // (class << 4 | id, code counts per length, symbols)
    let tables: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &DC_BITS_LUMA, &DC_VALUES),
        (0x10, &AC_BITS_LUMA, &AC_VALUES_LUMA),
        (0x01, &DC_BITS_CHROMA, &DC_VALUES),
        (0x11, &AC_BITS_CHROMA, &AC_VALUES_CHROMA),
    ];
    let length = 2 + tables.iter().map(|(_, bits, values)| 1 + bits.len() + values.len()).sum::<usize>();
    let mut segment = vec![0xFF, 0xC4];
    segment.extend_from_slice(&(length as u16).to_be_bytes());
    for (class, bits, values) in tables {
        segment.push(class);
        segment.extend_from_slice(bits);
        segment.extend_from_slice(values);
    }
    segment
}

fn unreadable(e: jpeg_decoder::Error) -> Error {
    Error::hardware("camera JPEG unreadable", e)
}

/// Decodes a JPEG, box-filters it down by `factor` (1: unchanged) and encodes it again.
fn reencode(jpeg: &[u8], factor: usize) -> Result<Vec<u8>> {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let pixels = decoder.decode().map_err(unreadable)?;
    let info = decoder.info().ok_or_else(|| Error::Hardware("camera JPEG has no header".into()))?;
    let (w, h, f) = (usize::from(info.width), usize::from(info.height), factor.max(1));
    let (channels, color) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (1, ColorType::Luma),
        jpeg_decoder::PixelFormat::RGB24 => (3, ColorType::Rgb),
        other => {
            return Err(Error::Hardware(format!("camera JPEG of pixel format {other:?} is not supported")));
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
    let mut out = Vec::new();
    Encoder::new(&mut out, QUALITY)
        .encode(&scaled, ow as u16, oh as u16, color)
        .map_err(|e| Error::hardware("JPEG encoding failed", e))?;
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

    /// The JPEG without its DHT segments, as many UVC cameras send MJPEG frames.
    fn strip_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut i = 2;
        while jpeg[i + 1] != 0xDA {
            let len = 2 + usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            if jpeg[i + 1] != 0xC4 {
                out.extend_from_slice(&jpeg[i..i + len]);
            }
            i += len;
        }
        out.extend_from_slice(&jpeg[i..]);
        out
    }

    #[test]
    fn mjpeg_frames_without_huffman_tables_are_completed() {
        let data = test_pattern_yuyv(320, 240);
        let frame = RawFrame { format: PixelFormat::Yuyv, width: 320, height: 240, stride: 640, data: &data };
        let full = encode_frame(frame, SnapSize::Full).unwrap();
        assert!(scan_header(&full).0);
        assert_eq!(complete_mjpeg(full.clone()), full, "complete frames pass unchanged");

        let bare = strip_huffman_tables(&full);
        assert!(!scan_header(&bare).0);
        assert!(jpeg_decoder::Decoder::new(bare.as_slice()).decode().is_err(), "a frame without tables is unreadable");
        let fixed = complete_mjpeg(bare);
        assert!(scan_header(&fixed).0);
        // The encoder uses the standard tables, so the completed frame decodes to the same pixels.
        assert_eq!(decode(&fixed), decode(&full));
        assert_eq!(complete_mjpeg(b"not a jpeg".to_vec()), b"not a jpeg".to_vec());
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
