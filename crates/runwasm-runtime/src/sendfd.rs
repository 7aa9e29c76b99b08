//! Handing a file descriptor to a caller over a unix socket (SCM_RIGHTS):
//! `--pidfd-socket` receives a pidfd of the init process (and, later,
//! `--console-socket` the pty master), as runc sends them.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::{Error, Result};

/// Connects to the socket at `path` and sends `fd` with `name` as payload.
pub fn send_fd(path: &Path, fd: BorrowedFd<'_>, name: &str) -> Result<()> {
    let stream = connect(path)?;
    send_fd_over(stream.as_raw_fd(), fd, name)
        .map_err(|e| Error::path("send file descriptor over", path, e))
}

/// Connects to a unix socket given on the command line.
pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(|e| Error::path("connect to", path, e))
}

/// Sends `fd` over the connected socket `sock` with `name` as payload.
pub fn send_fd_over(sock: i32, fd: BorrowedFd<'_>, name: &str) -> std::io::Result<()> {
    let raw = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    Ok(())
}

/// Receives one fd sent with [`send_fd_over`].
pub fn recv_fd(sock: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 256];
    let mut space = nix::cmsg_space!([i32; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    for c in msg
        .cmsgs()
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just gave us this fd.
                return Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(std::io::Error::other("no file descriptor received"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::io::IoSliceMut;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;

    #[test]
    fn sends_an_fd() {
        let tmp = tempfile::tempdir().unwrap();
        let sock = tmp.path().join("s");
        let listener = UnixListener::bind(&sock).unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        send_fd(&sock, file.as_fd(), "pidfd").unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 16];
        let mut space = nix::cmsg_space!([i32; 1]);
        let (fds, n) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                conn.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::empty(),
            )
            .unwrap();
            let fds: Vec<i32> = msg
                .cmsgs()
                .unwrap()
                .filter_map(|c| match c {
                    ControlMessageOwned::ScmRights(f) => Some(f),
                    _ => None,
                })
                .flatten()
                .collect();
            (fds, msg.bytes)
        };
        assert_eq!(fds.len(), 1);
        assert_eq!(&buf[..n], b"pidfd");
    }
}
