//! Base64 for photos and pass-through data (`registerPhotoN`, `recognitionPhoto`, `photo`,
//! `rs485Data`, `data`).
//!
//! The spec says only "Base64" (protocol.md §1.7.5). Decoding is lenient about what real
//! clouds send: a `data:image/jpeg;base64,` prefix, line breaks and spaces, missing padding,
//! and the URL-safe alphabet. Encoding is standard Base64 with padding, no line breaks.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use crate::{Error, Result};

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as standard Base64 with padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Appends the standard Base64 of `bytes` (with padding) to `out`, with no string in between.
pub fn encode_base64_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    // The room is exactly the padded length, so the encoder cannot run short.
    let written = STANDARD.encode_slice(bytes, &mut out[start..]).expect("room for the Base64 was made");
    out.truncate(start + written);
}

/// Decodes Base64 text leniently (see the module documentation); `what` names the field for
/// the error message.
pub fn decode_base64(what: &str, text: &str) -> Result<Vec<u8>> {
    let text = text.trim();
    let text = match text.find(";base64,") {
        Some(i) if text.starts_with("data:") => &text[i + ";base64,".len()..],
        _ => text,
    };
    // What clouds send nearly always: one line of the standard alphabet. Decoded as it is, that
    // is one pass over a photo's text; only text that does not decode so (line breaks, the
    // URL-safe alphabet) is copied without its whitespace first. Text that decodes here would
    // decode to the same bytes below: it has no whitespace and no URL-safe characters.
    if let Ok(bytes) = LENIENT.decode(text.as_bytes()) {
        return Ok(bytes);
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let url_safe = compact.contains(['-', '_']);
    let engine = if url_safe { &LENIENT_URL_SAFE } else { &LENIENT };
    engine
        .decode(compact.as_bytes())
        .map_err(|e| Error::Protocol(format!("{what} is not valid Base64 ({e}); send standard Base64 text")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_example_bytes() {
        // protocol.md §2.8: encryptBASE64([0xfe,0x03,0x01,0x00,0x02]) is "/gMBAAI=".
        assert_eq!(encode_base64(&[0xfe, 0x03, 0x01, 0x00, 0x02]), "/gMBAAI=");
        assert_eq!(decode_base64("rs485Data", "/gMBAAI=").unwrap(), [0xfe, 0x03, 0x01, 0x00, 0x02]);
    }

    #[test]
    fn encoding_into_a_buffer_appends_what_encode_returns() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
            let mut out = b"{\"".to_vec();
            encode_base64_into(&bytes, &mut out);
            assert_eq!(out, [b"{\"".as_slice(), encode_base64(&bytes).as_bytes()].concat(), "{len} bytes");
        }
    }

    #[test]
    fn lenient_forms() {
        let bytes = [0xfe, 0x03, 0x01, 0x00, 0x02];
        assert_eq!(decode_base64("x", " /gMBAAI ").unwrap(), bytes);
        assert_eq!(decode_base64("x", "/gMB\r\nAAI=").unwrap(), bytes);
        assert_eq!(decode_base64("x", "_gMBAAI").unwrap(), bytes);
        assert_eq!(decode_base64("x", "data:image/jpeg;base64,/gMBAAI=").unwrap(), bytes);
        assert_eq!(decode_base64("x", "").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn garbage_is_rejected_with_the_field_name() {
        let err = decode_base64("registerPhoto1", "base64 jpg!").unwrap_err().to_string();
        assert!(err.contains("registerPhoto1"), "{err}");
    }
}
