//! Pseudo-terminals for `process.terminal`: a pty opened from the
//! container's own `/dev/ptmx`, its master handed to the caller over
//! `--console-socket` (SCM_RIGHTS), its slave made the process's stdio and
//! controlling terminal, `consoleSize` applied. For `run`/`exec` in the
//! foreground without a console socket, runwasm itself holds the master and
//! relays it to its own stdio.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use crate::{Error, Result};

/// Where a process's terminal master goes.
pub enum Route {
    /// No terminal.
    None,
    /// To this `--console-socket` connection.
    Socket(OwnedFd),
    /// To runwasm itself, which relays it (`run`/`exec` in the foreground).
    Relay,
}

/// runc's rules, and words, for `process.terminal` and `--console-socket`
/// (`create`, `run`, `exec`): a terminal needs a console socket unless the
/// caller stays to relay it (`can_relay`), and a console socket needs a
/// terminal.
pub fn route(terminal: bool, socket: Option<&std::path::Path>, can_relay: bool) -> Result<Route> {
    match (terminal, socket) {
        (true, Some(path)) => Ok(Route::Socket(OwnedFd::from(crate::sendfd::connect(path)?))),
        (true, None) if can_relay => Ok(Route::Relay),
        (true, None) => Err(Error::other(
            "cannot allocate tty if runwasm will detach without setting console socket",
        )),
        (false, Some(_)) => Err(Error::other(
            "cannot use console socket if runwasm will not detach or allocate tty",
        )),
        (false, None) => Ok(Route::None),
    }
}

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: PathBuf,
}

fn os_err(what: &str) -> Error {
    Error::io(what, std::io::Error::last_os_error())
}

/// Opens a new pty pair through `/dev/ptmx` (the container's, once its
/// devpts is mounted and it has pivoted).
pub fn open_pty() -> Result<Pty> {
    // SAFETY: plain libc pty calls; every fd is checked and owned.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if m < 0 {
            return Err(os_err("open /dev/ptmx"));
        }
        let master = OwnedFd::from_raw_fd(m);
        if libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            return Err(os_err("unlock pty"));
        }
        let mut name = [0 as libc::c_char; 128];
        if libc::ptsname_r(m, name.as_mut_ptr(), name.len()) != 0 {
            return Err(os_err("ptsname"));
        }
        let path = CStr::from_ptr(name.as_ptr());
        let s = libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if s < 0 {
            return Err(os_err("open pty slave"));
        }
        Ok(Pty {
            master,
            slave: OwnedFd::from_raw_fd(s),
            slave_path: PathBuf::from(path.to_string_lossy().into_owned()),
        })
    }
}

/// Opens a pty, optionally binds its slave on /dev/console, applies the
/// process's consoleSize, sends the master over the connected console
/// socket `sock` and makes the slave our stdio and controlling terminal.
pub fn hand_over(
    sock: RawFd,
    size: Option<&oci_spec::runtime::Box>,
    bind_console: bool,
) -> Result<()> {
    use std::os::fd::AsFd;
    let pty = open_pty()?;
    if bind_console {
        crate::linux::devices::mount_console(&pty.slave_path)?;
    }
    if let Some(size) = size {
        set_size(
            pty.master.as_raw_fd(),
            size.height() as u16,
            size.width() as u16,
        );
    }
    crate::sendfd::send_fd_over(sock, pty.master.as_fd(), "/dev/ptmx")
        .map_err(|e| Error::io("send the pty master to the console socket", e))?;
    attach(&pty.slave)
}

/// Sets the terminal size of `fd`.
pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid winsize.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// The size of terminal `fd`, if it is one.
pub fn get_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ into a zeroed winsize.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        let ok = libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0;
        ok.then_some((ws.ws_row, ws.ws_col))
    }
}

/// Makes `slave` the stdio and controlling terminal of this process (which
/// must be a session leader).
pub fn attach(slave: &OwnedFd) -> Result<()> {
    // SAFETY: dup2/ioctl on fds we own.
    unsafe {
        for target in 0..3 {
            if libc::dup2(slave.as_raw_fd(), target) < 0 {
                return Err(os_err("dup2 pty slave"));
            }
        }
        if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
            return Err(os_err("ioctl(TIOCSCTTY)"));
        }
    }
    Ok(())
}

/// Puts terminal `fd` in raw mode; returns the settings to restore.
pub fn make_raw(fd: RawFd) -> Option<libc::termios> {
    // SAFETY: tcgetattr/tcsetattr on a terminal fd with valid structs.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return None;
        }
        let saved = t;
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(fd, libc::TCSANOW, &t);
        Some(saved)
    }
}

pub fn restore(fd: RawFd, saved: &libc::termios) {
    // SAFETY: restoring settings read by make_raw.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, saved) };
}

/// Copies what is readable now between our stdio and the pty master.
/// Returns false once the master is closed (the container's side hung up).
pub fn relay_once(master: RawFd, stdin_open: &mut bool) -> bool {
    let mut fds = [
        libc::pollfd {
            fd: master,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: if *stdin_open { 0 } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two pollfds (a negative fd is ignored by poll).
    unsafe { libc::poll(fds.as_mut_ptr(), 2, 0) };
    let mut buf = [0u8; 8192];
    if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
        // SAFETY: read into a stack buffer; write what was read.
        let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return false;
        }
        write_all(1, &buf[..n as usize]);
    }
    if fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
        // SAFETY: as above.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            *stdin_open = false;
        } else {
            write_all(master, &buf[..n as usize]);
        }
    }
    true
}

/// Copies what is left in the master to stdout (after the container exited).
pub fn drain(master: RawFd) {
    let mut buf = [0u8; 8192];
    loop {
        let mut p = libc::pollfd {
            fd: master,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, no wait.
        if unsafe { libc::poll(&mut p, 1, 0) } <= 0 || p.revents & libc::POLLIN == 0 {
            return;
        }
        // SAFETY: read into a stack buffer.
        let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        write_all(1, &buf[..n as usize]);
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            return;
        }
        data = &data[n as usize..];
    }
}
