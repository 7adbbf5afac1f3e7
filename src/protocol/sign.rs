//! The registration signature (spec L110–114, protocol.md §1.7.1).

use md5::{Digest, Md5};

/// The `sign` of a `register` message: upper-case hex MD5 of
/// `deviceNo + registerTime + rand + deviceNo`, hashed as UTF-8 (the protocol's encoding).
///
/// The spec's own example `sign` is 30 characters and not the MD5 of its inputs, so the
/// digest's computed vector is what this is tested against.
pub fn register_sign(device_no: &str, register_time: &str, rand: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(device_no.as_bytes());
    md5.update(register_time.as_bytes());
    md5.update(rand.as_bytes());
    md5.update(device_no.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_test_vector() {
        assert_eq!(
            register_sign("1683800000106", "1508845817", "e10adc3949ba59abbe56e057f20f883e"),
            "847550488CB351F48D00C84AE2D3ED24"
        );
    }

    #[test]
    fn sign_is_32_upper_hex_and_order_matters() {
        let s = register_sign("dev", "1", "r");
        assert_eq!(s.len(), 32);
        assert!(s.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
        assert_ne!(s, register_sign("dev", "r", "1"));
        // MD5("") is the well-known d41d8cd9...; all-empty inputs hash the empty string.
        assert_eq!(register_sign("", "", ""), "D41D8CD98F00B204E9800998ECF8427E");
    }
}
