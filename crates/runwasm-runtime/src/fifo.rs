//! `ROOT/ID/exec.fifo`: init blocks opening it for writing until `start`
//! opens it for reading, as in runc. Its existence is what tells `created`
//! from `running`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::IoContext;
use crate::{Error, Result};

pub const FIFO_NAME: &str = "exec.fifo";

pub fn path(container_dir: &Path) -> PathBuf {
    container_dir.join(FIFO_NAME)
}

pub fn create(container_dir: &Path) -> Result<PathBuf> {
    let p = path(container_dir);
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .context(|| format!("create {}", p.display()))?;
    // mkfifo applies the umask; init may run as another user (a user
    // namespace), so make it writable for all, as runc does.
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .context(|| format!("chmod {}", p.display()))?;
    Ok(p)
}

/// Opens the container directory `O_PATH` so init can later open the fifo
/// relative to it, wherever its root is by then (after pivot_root, with or
/// without /proc in the container).
pub fn open_dir(container_dir: &Path) -> Result<OwnedFd> {
    let c = CString::new(container_dir.as_os_str().as_bytes())
        .map_err(|e| Error::other(e.to_string()))?;
    // SAFETY: valid C string; fd checked and owned.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::path(
            "open",
            container_dir,
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// In init: blocks until `start` opens the fifo; returns the write end.
/// `start` then waits for [`signal_started`].
pub fn open_for_start(dir_fd: &OwnedFd) -> std::io::Result<OwnedFd> {
    const NAME: &[u8] = b"exec.fifo\0";
    let fd = loop {
        // SAFETY: NUL-terminated name relative to a directory fd we hold.
        let fd = unsafe {
            libc::openat(
                dir_fd.as_raw_fd(),
                NAME.as_ptr().cast(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            )
        };
        if fd >= 0 {
            break fd;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: fd is ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// In init: tells `start` the container has started (its startContainer
/// hooks ran), so `start` can go on to the poststart hooks. A `start` that
/// died meanwhile (EPIPE) changes nothing.
pub fn signal_started(fd: OwnedFd) {
    // SAFETY: writes one byte from a static buffer to an fd we own.
    unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
}

/// One byte from the fifo: true when read, false at end of file (no
/// writer and nothing buffered).
fn read_byte(fd: &OwnedFd) -> std::io::Result<bool> {
    let mut byte = 0u8;
    // SAFETY: reads one byte into a stack buffer.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
    match n {
        1 => Ok(true),
        0 => Ok(false),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn init_exited() -> Error {
    Error::other(
        "container init exited before it could start (a startContainer hook failed, or it was killed; see the container's stderr)",
    )
}

/// Whether init `pid` still holds the container directory open, i.e. has
/// not yet passed the fifo (it closes that fd right after).
pub fn init_waiting(pid: i32, container_dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries
        .filter_map(|e| e.ok())
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == container_dir))
}

/// Whether init `pid` (started at `start_time`) has certainly gone past
/// the fifo: it is not exiting (an exiting process has closed its fds),
/// its fds could be read and none is the container directory. (When in
/// doubt, false: the fifo's existence decides.)
pub fn init_passed(pid: i32, start_time: u64, container_dir: &Path) -> bool {
    let dir = std::fs::canonicalize(container_dir).unwrap_or_else(|_| container_dir.to_path_buf());
    let no_dir_fd =
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok() && !init_waiting(pid, &dir);
    // Checked after the fds: exiting never ends, so a process not exiting
    // now was not exiting when its fds were read.
    no_dir_fd && crate::proc::is_alive_not_exiting(pid, start_time)
}

/// In `start`: opens the fifo for reading and takes init's byte, giving up
/// if init dies first or is found already past the fifo (a `start` killed
/// before it could remove the fifo).
pub fn release(
    p: &Path,
    mut alive: impl FnMut() -> bool,
    mut waiting: impl FnMut() -> bool,
) -> Result<()> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|e| Error::other(e.to_string()))?;
    // SAFETY: valid C string; O_NONBLOCK so the open does not wait for init.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::path("open", p, std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let step = Duration::from_millis(50);
    // Init gone: but it may have written its byte (and run a short workload
    // to its end) since our last read; that is a start.
    let gone = |fd: &OwnedFd| match read_byte(fd) {
        Ok(true) => Ok(()),
        _ => Err(init_exited()),
    };
    loop {
        match read_byte(&fd) {
            Ok(true) => return Ok(()),
            Ok(false) => {
                // No writer: init has not reached the fifo yet, or it is
                // gone, or it passed the fifo long ago. An exiting init
                // closes its fds a moment before it shows as dead: look
                // twice.
                if !alive() {
                    return gone(&fd);
                }
                if !waiting() {
                    // Init no longer holds the directory: it opened the
                    // fifo after our read (and may already have written
                    // and closed it), or passed it long ago. Only an empty
                    // fifo without a writer says the latter.
                    match read_byte(&fd) {
                        Ok(true) => return Ok(()),
                        Ok(false) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::path("read", p, e)),
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    if !alive() {
                        return gone(&fd);
                    }
                    return Err(Error::other("cannot start an already running container"));
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                if !alive() {
                    return gone(&fd);
                }
            }
            Err(e) => return Err(Error::path("read", p, e)),
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd. A fifo with no writer yet may report
        // POLLHUP at once, so poll is only a bounded nap here.
        unsafe { libc::poll(&mut pfd, 1, step.as_millis() as i32) };
        if pfd.revents & libc::POLLHUP != 0 && pfd.revents & libc::POLLIN == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
