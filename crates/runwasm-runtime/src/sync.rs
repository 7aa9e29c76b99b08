//! The channel between `create` and the init process it forks: a
//! `SOCK_SEQPACKET` pair, one message each way per step. Init reports
//! `ready` once the workload is prepared, or the error that stopped it; if
//! init dies, the parent reads end-of-file.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::{Error, Result};

const READY: &[u8] = b"ready";
const ERROR_PREFIX: &[u8] = b"error:";
const MAX_MSG: usize = 128 * 1024;

pub struct SyncPair {
    pub parent: OwnedFd,
    pub child: OwnedFd,
}

/// Makes the pair, with the child's end moved to an fd at or above `min_fd`
/// (so it never lands among the fds `--preserve-fds` passes through).
pub fn pair(min_fd: i32) -> Result<SyncPair> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two descriptors.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc < 0 {
        return Err(Error::io("socketpair", std::io::Error::last_os_error()));
    }
    // SAFETY: both fds are fresh and ours.
    let (parent, child) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd.
    let high = unsafe { libc::fcntl(child.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min_fd) };
    if high < 0 {
        return Err(Error::io(
            "dup sync socket",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: fresh fd.
    let child = unsafe { OwnedFd::from_raw_fd(high) };
    Ok(SyncPair { parent, child })
}

/// Sends one message; false when it could not be (the peer is gone, and
/// there is nobody left to tell).
fn send(fd: &OwnedFd, msg: &[u8]) -> bool {
    let msg = &msg[..msg.len().min(MAX_MSG)];
    loop {
        // SAFETY: sends from a valid buffer.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            return true;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(e) => return !peer_gone(e),
            None => return true,
        }
    }
}

/// Errors that mean the other end of the pair was closed. (Others, such
/// as a seccomp profile's EPERM, say nothing about the peer.)
fn peer_gone(errno: i32) -> bool {
    matches!(
        errno,
        libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ECONNREFUSED
    )
}

/// In an exec process, after `ready`: waits for the parent's go. False
/// only when the parent is gone (end of file); any other failure (a
/// seccomp profile may already deny the call) lets the process run. Uses
/// read(2), which profiles allow far more often than recv.
pub fn wait_start(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reads into a stack buffer of the size given.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return true;
        }
        if n == 0 {
            return false;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(e) => return !peer_gone(e),
            None => return true,
        }
    }
}

/// In init or an exec process: the workload is ready. False when the
/// parent is gone (it died before it could hear it).
#[must_use]
pub fn send_ready(fd: &OwnedFd) -> bool {
    send(fd, READY)
}

/// In init: setting up failed with `msg`.
pub fn send_error(fd: &OwnedFd, msg: &str) {
    let mut m = ERROR_PREFIX.to_vec();
    m.extend_from_slice(msg.as_bytes());
    send(fd, &m);
}

const GO: &[u8] = b"go:";
const HOOKS: &[u8] = b"hooks";

/// In the parent: go on (user namespace maps written, or the runtime's
/// hooks done), with the container's state JSON for init's own hooks.
pub fn send_go(fd: &OwnedFd, state_json: &str) {
    let mut m = GO.to_vec();
    m.extend_from_slice(state_json.as_bytes());
    send(fd, &m);
}

/// In init: asks the parent to run the runtime-namespace hooks
/// (prestart, createRuntime) and waits for [`send_go`].
pub fn request_hooks(fd: &OwnedFd) -> Option<String> {
    send(fd, HOOKS);
    wait_go(fd)
}

/// In init: waits for [`send_go`]; None if the parent went away instead.
pub fn wait_go(fd: &OwnedFd) -> Option<String> {
    let mut buf = vec![0u8; MAX_MSG];
    loop {
        // SAFETY: receives into a buffer of the size given.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return None;
        }
        let msg = &buf[..n as usize];
        return msg
            .strip_prefix(GO)
            .map(|s| String::from_utf8_lossy(s).into_owned());
    }
}

/// What the parent heard.
pub enum Report {
    Ready,
    /// Init's mounts are ready: run prestart and createRuntime hooks.
    Hooks,
    Failed(String),
    /// Init exited without a word.
    Died,
}

/// In the parent: waits for init's report.
pub fn receive(fd: &OwnedFd) -> Result<Report> {
    let mut buf = vec![0u8; MAX_MSG];
    loop {
        // SAFETY: receives into a buffer of the size given.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::io("read from container init", e));
        }
        let msg = &buf[..n as usize];
        return Ok(if n == 0 {
            Report::Died
        } else if msg == READY {
            Report::Ready
        } else if msg == HOOKS {
            Report::Hooks
        } else if let Some(m) = msg.strip_prefix(ERROR_PREFIX) {
            Report::Failed(String::from_utf8_lossy(m).into_owned())
        } else {
            Report::Failed(format!(
                "unexpected message from container init: {:?}",
                String::from_utf8_lossy(msg)
            ))
        });
    }
}
