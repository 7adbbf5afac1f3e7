//! Every call of facegate into the C library, every ioctl and every `unsafe` block, each
//! behind a safe wrapper.
//!
//! The crate root denies `unsafe`; this file alone is allowed it, so an audit of facegate's
//! unsafe code reads one file. The wrappers take borrowed descriptors (`BorrowedFd`), never raw
//! numbers, so safe code cannot aim them at a descriptor it does not hold.
// Allowed here only: the FFI calls below, each with its SAFETY line.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// A clock of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    /// CLOCK_MONOTONIC: never steps.
    Monotonic,
    /// CLOCK_REALTIME: the wall clock, which the cloud may set.
    Realtime,
}

impl Clock {
    fn id(self) -> libc::clockid_t {
        match self {
            Clock::Monotonic => libc::CLOCK_MONOTONIC,
            Clock::Realtime => libc::CLOCK_REALTIME,
        }
    }
}

/// The time on `clock` in nanoseconds (0 if the kernel refused, which it does not for these
/// two clocks).
pub(crate) fn now_ns(clock: Clock) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec that lives for the call; clock_gettime only
    // writes it.
    unsafe { libc::clock_gettime(clock.id(), &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// Why the wall clock was not set.
#[derive(Debug)]
pub(crate) enum SetClockError {
    /// The time does not fit this system's `time_t` (a 32-bit `time_t` ends in 2038).
    OutOfRange,
    /// The kernel refused, e.g. EPERM without root or CAP_SYS_TIME.
    Os(io::Error),
}

/// Sets CLOCK_REALTIME to `unix_ms`.
// The libc crate deprecates `time_t` on musl ahead of its switch to a 64-bit one; it is still
// the type `timespec` holds on every target, so it is named here on purpose.
#[allow(deprecated)]
pub(crate) fn set_realtime_clock(unix_ms: i64) -> Result<(), SetClockError> {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(unix_ms.div_euclid(1000)).map_err(|_| SetClockError::OutOfRange)?,
        tv_nsec: (unix_ms.rem_euclid(1000) * 1_000_000) as _,
    };
    // SAFETY: `ts` is a valid timespec that lives for the call; clock_settime only reads it.
    if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) } != 0 {
        return Err(SetClockError::Os(io::Error::last_os_error()));
    }
    Ok(())
}

/// Waits until one of `fds` is readable, or `timeout` has passed (`None`: no limit); says which
/// are readable (all `false` after the timeout). A signal ends the wait early with an error of
/// kind `Interrupted`, for the caller to wait again.
#[allow(deprecated)] // `time_t` on musl: see set_realtime_clock
pub(crate) fn wait_readable<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    let mut polled = fds.map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
    let timeout = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: t.subsec_nanos() as _,
    });
    let timeout_ptr = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `polled` is a valid array of N pollfds that outlives the call, whose descriptors
    // are borrowed (open) for its duration; the timeout pointer is null (no limit) or points to
    // a live timespec; a null signal mask leaves the mask unchanged.
    let n = unsafe { libc::ppoll(polled.as_mut_ptr(), N as libc::nfds_t, timeout_ptr, std::ptr::null()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(polled.map(|p| p.revents & libc::POLLIN != 0))
}

/// The descriptor of an open serial port, borrowed for as long as the port is.
pub(crate) fn tty_fd(port: &serialport::TTYPort) -> BorrowedFd<'_> {
    // SAFETY: a TTYPort owns its descriptor and closes it only when dropped (or gives it up in
    // `into_raw_fd`, which consumes it); the borrow of `port` keeps both from happening while
    // the returned BorrowedFd lives.
    unsafe { BorrowedFd::borrow_raw(port.as_raw_fd()) }
}

/// `struct serial_rs485` of <linux/serial.h>: 8 words on every architecture.
#[repr(C)]
#[derive(Default)]
struct SerialRs485 {
    flags: u32,
    delay_rts_before_send: u32,
    delay_rts_after_send: u32,
    padding: [u32; 5],
}

const SER_RS485_ENABLED: u32 = 1;
const SER_RS485_RTS_ON_SEND: u32 = 1 << 1;

/// Puts the UART in kernel RS485 mode: the driver raises RTS (wired to DE) around every
/// transmission, with exact timing no user-space toggle can match.
pub(crate) fn enable_kernel_rs485(tty: BorrowedFd<'_>) -> io::Result<()> {
    let mut conf = SerialRs485 { flags: SER_RS485_ENABLED | SER_RS485_RTS_ON_SEND, ..Default::default() };
    // SAFETY: TIOCSRS485 reads (and may update) one `struct serial_rs485`, which `conf` is,
    // laid out as the kernel's (repr(C), eight u32) and alive for the call; `tty` is open.
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSRS485, &mut conf as *mut SerialRs485) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Whether the tty's driver knows RS485 mode at all (TIOCGRS485 answers), for `doctor`.
pub(crate) fn kernel_rs485_supported(tty: BorrowedFd<'_>) -> io::Result<()> {
    let mut conf = SerialRs485::default();
    // SAFETY: TIOCGRS485 writes one `struct serial_rs485` into `conf`, which has its layout and
    // is alive for the call; `tty` is open.
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGRS485, &mut conf as *mut SerialRs485) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Space on the filesystem holding `path` (statvfs): bytes available to an unprivileged process
/// (what facegate, not root, can still write) and the filesystem's size.
// The counts are 32-bit on some 32-bit ARM C libraries and 64-bit here.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn fs_space(path: &std::path::Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the path holds a NUL byte"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a NUL-terminated string alive for the call; `st` points to writable
    // memory the size of a `struct statvfs`, which statvfs fills on success.
    if unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it wrote the whole struct (and it was zeroed before).
    let st = unsafe { st.assume_init() };
    let unit = if st.f_frsize > 0 { st.f_frsize as u64 } else { st.f_bsize as u64 };
    Ok(((st.f_bavail as u64).saturating_mul(unit), (st.f_blocks as u64).saturating_mul(unit)))
}

/// This process's soft RLIMIT_FSIZE (the largest file it may write), `None` when unlimited.
#[allow(clippy::unnecessary_cast)] // rlim_t is 32-bit on some 32-bit C libraries
pub(crate) fn file_size_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit alive for the call; getrlimit only writes it.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) } != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(lim.rlim_cur as u64)
}

/// Sends SIGKILL to every process in the process group `pgid` (a child started with
/// `process_group(0)` leads the group whose id is its pid). The caller must not have reaped
/// that child yet, so the id cannot have been reused for someone else's group.
pub(crate) fn kill_process_group(pgid: u32) -> io::Result<()> {
    let pgid = libc::pid_t::try_from(pgid)
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a process group id"))?;
    // SAFETY: kill takes two integers and touches no memory of ours; a negative pid aims it
    // at that process group only (pgid > 1 above, so never -1, "every process").
    if unsafe { libc::kill(-pgid, libc::SIGKILL) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn clocks_read_and_the_monotonic_one_does_not_go_back() {
        let a = now_ns(Clock::Monotonic);
        let b = now_ns(Clock::Monotonic);
        assert!(a > 0 && b >= a, "{a} {b}");
        // The wall clock is after 2020 on any machine that runs these tests.
        assert!(now_ns(Clock::Realtime) > 1_577_836_800 * 1_000_000_000);
    }

    #[test]
    fn wait_readable_says_which_descriptor_has_data_and_times_out() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (_c, d) = UnixStream::pair().unwrap();
        let none = wait_readable([b.as_fd(), d.as_fd()], Some(Duration::from_millis(1))).unwrap();
        assert_eq!(none, [false, false]);
        a.write_all(b"x").unwrap();
        let ready = wait_readable([b.as_fd(), d.as_fd()], None).unwrap();
        assert_eq!(ready, [true, false]);
        // A timeout far beyond time_t's range on 32-bit systems is clamped, not refused.
        let ready = wait_readable([b.as_fd()], Some(Duration::from_secs(u64::MAX))).unwrap();
        assert_eq!(ready, [true]);
    }

    #[test]
    fn rs485_ioctls_report_a_tty_without_rs485() {
        // A pseudo-terminal is a tty whose driver has no RS485 mode.
        let (_master, slave) = serialport::TTYPort::pair().unwrap();
        let e = kernel_rs485_supported(tty_fd(&slave)).unwrap_err();
        assert!(e.raw_os_error().is_some(), "{e}");
        assert!(enable_kernel_rs485(tty_fd(&slave)).is_err());
    }

    #[test]
    fn kill_process_group_refuses_ids_that_aim_wider_than_one_group() {
        // 0 would be our own group, 1 (as -1) every process we may signal.
        for pgid in [0, 1, u32::MAX] {
            let e = kill_process_group(pgid).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{pgid}: {e}");
        }
    }

    #[test]
    fn fs_space_reads_the_filesystem_and_names_a_missing_path() {
        let dir = tempfile::tempdir().unwrap();
        let (available, total) = fs_space(dir.path()).unwrap();
        assert!(total > 0 && available <= total, "{available} of {total}");
        assert!(fs_space(&dir.path().join("missing")).is_err());
        assert!(fs_space(std::path::Path::new("a\0b")).is_err());
    }
}
