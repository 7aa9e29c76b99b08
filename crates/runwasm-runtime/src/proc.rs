//! What the kernel says about a process: its start time (so a recycled pid is
//! never mistaken for our init), whether it is still alive, and race-free
//! signalling through a pidfd.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// One of `R S D Z T t X I …`.
    pub state: char,
    /// Start time in clock ticks since boot (field 22).
    pub start_time: u64,
    /// The kernel's `PF_*` flags (field 9).
    pub flags: u64,
}

/// `PF_EXITING`: the process has begun to exit (its fds and memory go
/// first, a moment before it shows as a zombie).
const PF_EXITING: u64 = 0x4;

pub fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name (field 2) is in parentheses and may hold anything,
    // spaces and ')' included: fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; field 9 is 6 further on, field 22 13 more.
    let flags = fields.nth(5)?.parse().ok()?;
    let start_time = fields.nth(12)?.parse().ok()?;
    Some(Stat {
        state,
        start_time,
        flags,
    })
}

/// True when `pid` is the process that started at `start_time` and has not
/// exited (a zombie has exited: its status just awaits a reaper).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match stat(pid) {
        Some(s) => s.start_time == start_time && s.state != 'Z' && s.state != 'X',
        None => false,
    }
}

/// Like [`is_alive`], and not already on its way out (killed, its exit
/// begun): for deciding that a process is past a step it never got to.
pub fn is_alive_not_exiting(pid: i32, start_time: u64) -> bool {
    is_alive(pid, start_time) && stat(pid).is_some_and(|s| s.flags & PF_EXITING == 0)
}

/// A pidfd for `pid`, checked to still be the process started at
/// `start_time`. None when that process is gone.
pub fn open_pidfd(pid: i32, start_time: u64) -> Option<OwnedFd> {
    if pid <= 0 {
        return None;
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // Checked after opening: the pidfd now pins this exact process.
    is_alive(pid, start_time).then_some(fd)
}

/// A pidfd for our own child `pid` (alive or a zombie not yet reaped).
pub fn pidfd_of_child(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a fresh fd that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `sig` through a pidfd, so it cannot reach a recycled pid.
pub fn pidfd_signal(pidfd: &OwnedFd, sig: i32) -> std::io::Result<()> {
    // SAFETY: plain syscall on an fd we own, null siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits until the process behind `pidfd` exits (becomes a zombie or is
/// reaped). Returns false on timeout.
pub fn wait_exit(pidfd: &OwnedFd, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd on the stack.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc > 0 {
            return true;
        }
        if rc == 0 {
            return false;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let line =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.start_time, 987_654);
        assert_eq!(s.flags, 4_194_560);
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let s = stat(me).unwrap();
        assert!(is_alive(me, s.start_time));
        assert!(is_alive_not_exiting(me, s.start_time));
        assert!(!is_alive(me, s.start_time + 1));
        assert!(open_pidfd(me, s.start_time).is_some());
    }
}
