//! Start-up profile marks, for `bench/profile.sh` and
//! `docs/performance.md`: with `RUNWASM_PROFILE=FILE` in its environment,
//! runwasm (and the container's init, until the workload runs) appends one
//! line per phase to FILE: `PID MONOTONIC_NS PHASE`. Without it a mark is
//! one relaxed atomic load.
//!
//! The file is opened once, append-only, close-on-exec; the init closes it
//! before the workload runs, so nothing of it reaches the container.

use std::sync::atomic::{AtomicI32, Ordering};

static FD: AtomicI32 = AtomicI32::new(-1);

/// The environment variable naming the profile file.
pub const ENV: &str = "RUNWASM_PROFILE";

/// Opens the profile file named by `RUNWASM_PROFILE`, if set.
pub fn init_from_env() {
    let Some(path) = std::env::var_os(ENV) else {
        return;
    };
    let Ok(c) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
    else {
        return;
    };
    // SAFETY: open(2) with a valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o600,
        )
    };
    if fd < 0 {
        return;
    }
    // Well above anything `--preserve-fds` could pass to a container.
    // SAFETY: fcntl/close on the descriptor just opened.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 200) };
    // SAFETY: closing the descriptor just opened (its copy is kept).
    unsafe { libc::close(fd) };
    if high >= 0 {
        FD.store(high, Ordering::Relaxed);
    }
}

/// The profile file's descriptor, so the init's fd sweep keeps it.
pub fn fd() -> i32 {
    FD.load(Ordering::Relaxed)
}

/// Closes the profile file (the init, before the workload runs).
pub fn close() {
    let fd = FD.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: our own descriptor.
        unsafe { libc::close(fd) };
    }
}

/// Records that `phase` has just ended.
#[inline]
pub fn mark(phase: &str) {
    let fd = FD.load(Ordering::Relaxed);
    if fd >= 0 {
        write_mark(fd, phase);
    }
}

#[cold]
fn write_mark(fd: i32, phase: &str) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let ns = ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128;
    // SAFETY: getpid has no memory effects.
    let pid = unsafe { libc::getpid() };
    let line = format!("{pid} {ns} {phase}\n");
    // One write(2) on an O_APPEND file: lines of concurrent processes do
    // not interleave.
    // SAFETY: writing our buffer to our descriptor.
    unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
}
