//! `run`: create + start, then (unless detached) wait for init, forwarding
//! the signals runwasm receives to it, delete the container and return its
//! exit status.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::container::{create, delete, start, CreateOptions};
use crate::state::StateStore;
use crate::{proc, Error, Result};

/// Signals `run` passes on to the container.
const FORWARDED: [i32; 8] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
];

pub fn run(store: &StateStore, opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    // Blocked before the fork so nothing is lost; init unblocks its copy.
    let mask = block(&FORWARDED);
    let result = run_blocked(store, opts, detach, keep, &mask);
    unblock(&mask);
    result
}

fn run_blocked(
    store: &StateStore,
    opts: &CreateOptions,
    detach: bool,
    keep: bool,
    mask: &libc::sigset_t,
) -> Result<i32> {
    // A terminal without a console socket: we hold the master and relay it
    // to our own stdio, as runc does in the foreground.
    let relay = !detach && opts.console_socket.is_none() && super::wants_terminal(&opts.bundle);
    let (created, master) = if relay {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| Error::io("socketpair for the console", e))?;
        let created = super::create::create_with_console(store, opts, Some(theirs.into()))?;
        let master = crate::sendfd::recv_fd(ours.as_raw_fd())
            .map_err(|e| Error::io("receive the pty master", e))?;
        // Our terminal's size before the process starts.
        if let Some((rows, cols)) = crate::console::get_size(0) {
            crate::console::set_size(master.as_raw_fd(), rows, cols);
        }
        (created, Some(master))
    } else {
        (create(store, opts)?, None)
    };
    if let Err(e) = start(store, &opts.id) {
        let _ = delete(store, &opts.id, true);
        return Err(e);
    }
    crate::profile::mark("started");
    crate::fault_point!("run:after-start");
    if detach {
        return Ok(0);
    }
    let status = match &master {
        Some(m) => {
            if let Some((rows, cols)) = crate::console::get_size(0) {
                crate::console::set_size(m.as_raw_fd(), rows, cols);
            }
            let saved = crate::console::make_raw(0);
            let status = wait_forwarding(created.pid, &created.pidfd, mask, Some(m.as_raw_fd()));
            if let Some(t) = saved {
                crate::console::restore(0, &t);
            }
            status?
        }
        None => wait_forwarding(created.pid, &created.pidfd, mask, None)?,
    };
    crate::profile::mark("init exited");
    crate::fault_point!("run:after-exit");
    if !keep {
        if let Err(e) = delete(store, &opts.id, true) {
            tracing::warn!("run: delete {}: {e}", opts.id);
        }
        crate::profile::mark("deleted");
    }
    Ok(wait_status_code(status))
}

/// Waits in the foreground for `pid` (our child, or a grandchild we reap as
/// subreaper): forwards signals, relays the terminal if we hold its master,
/// and returns the exit code a shell would report.
pub(crate) fn wait_as_foreground(
    pid: i32,
    pidfd: &OwnedFd,
    master: Option<OwnedFd>,
) -> Result<i32> {
    let mask = block(&FORWARDED);
    let saved = master.as_ref().and_then(|m| {
        if let Some((rows, cols)) = crate::console::get_size(0) {
            crate::console::set_size(m.as_raw_fd(), rows, cols);
        }
        crate::console::make_raw(0)
    });
    let status = wait_forwarding(pid, pidfd, &mask, master.as_ref().map(|m| m.as_raw_fd()));
    if let Some(t) = saved {
        crate::console::restore(0, &t);
    }
    unblock(&mask);
    Ok(wait_status_code(status?))
}

/// The exit code a shell would report for a wait status.
pub fn wait_status_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

fn block(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: building a sigset and blocking it for this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn unblock(set: &libc::sigset_t) {
    // SAFETY: unblocking the set blocked by `block`.
    unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, set, std::ptr::null_mut()) };
}

/// Waits for our child `pid`, forwarding blocked signals to it; returns its
/// wait status.
fn wait_forwarding(
    pid: i32,
    pidfd: &OwnedFd,
    mask: &libc::sigset_t,
    master: Option<i32>,
) -> Result<i32> {
    let mut stdin_open = true;
    // SAFETY: signalfd on the blocked set; the fd is fresh and owned.
    let sfd = unsafe { libc::signalfd(-1, mask, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if sfd < 0 {
        return Err(Error::io("signalfd", std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fd.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    loop {
        let mut fds = vec![
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if let Some(m) = master {
            fds.push(libc::pollfd {
                fd: m,
                events: libc::POLLIN,
                revents: 0,
            });
            if stdin_open {
                fds.push(libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        // SAFETY: a valid array of pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if let Some(m) = master {
            // The terminal's traffic, both ways, whatever is ready.
            crate::console::relay_once(m, &mut stdin_open);
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // SAFETY: reading one signalfd_siginfo into a zeroed struct.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: buffer of `size` bytes.
            while unsafe {
                libc::read(
                    sfd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            } == size as isize
            {
                let sig = info.ssi_signo as i32;
                match master {
                    // Our terminal was resized: resize the container's.
                    Some(m) if sig == libc::SIGWINCH => {
                        if let Some((rows, cols)) = crate::console::get_size(0) {
                            crate::console::set_size(m, rows, cols);
                        }
                    }
                    _ => {
                        let _ = proc::pidfd_signal(pidfd, sig);
                    }
                }
            }
        }
        if fds[0].revents != 0 {
            if let Some(m) = master {
                crate::console::drain(m);
            }
            let mut status = 0;
            // SAFETY: reaping our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                return Ok(status);
            }
            return Err(Error::io(
                "wait for container",
                std::io::Error::last_os_error(),
            ));
        }
    }
}
