//! The storage filesystem's free space and this process's file size limit, for the store's
//! reserve, `status`, `doctor` and the firmware download (the system calls are in
//! `linux::sys`).

use std::io;
use std::path::Path;

/// Space on the filesystem holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes facegate (not root) can still write.
    pub available: u64,
    /// The filesystem's size in bytes.
    pub total: u64,
}

/// The space of the filesystem holding `path`.
#[cfg(target_os = "linux")]
pub fn space(path: &Path) -> io::Result<DiskSpace> {
    let (available, total) = super::linux::sys::fs_space(path)?;
    Ok(DiskSpace { available, total })
}

/// The space of the filesystem holding `path` (Linux only).
#[cfg(not(target_os = "linux"))]
pub fn space(path: &Path) -> io::Result<DiskSpace> {
    let _ = path;
    Err(io::Error::new(io::ErrorKind::Unsupported, "free space is read on Linux only"))
}

/// This process's file size limit (RLIMIT_FSIZE) in bytes, `None` when unlimited: a write past
/// it fails as on a full disk.
#[cfg(target_os = "linux")]
pub fn file_size_limit() -> Option<u64> {
    super::linux::sys::file_size_limit()
}

/// This process's file size limit (Linux only: none elsewhere).
#[cfg(not(target_os = "linux"))]
pub fn file_size_limit() -> Option<u64> {
    None
}

/// Bytes for people: "812 kB", "3.1 MB", "2.0 GB", "1.1 TB" (powers of 1000).
pub fn human_bytes(n: u64) -> String {
    match n {
        0..=999 => format!("{n} B"),
        1_000..=999_999 => format!("{} kB", n / 1000),
        1_000_000..=999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
        1_000_000_000..=999_999_999_999 => format!("{:.1} GB", n as f64 / 1e9),
        _ => format!("{:.1} TB", n as f64 / 1e12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_scale() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(812_345), "812 kB");
        assert_eq!(human_bytes(3_100_000), "3.1 MB");
        assert_eq!(human_bytes(2_000_000_000), "2.0 GB");
        assert_eq!(human_bytes(1 << 40), "1.1 TB");
    }
}
