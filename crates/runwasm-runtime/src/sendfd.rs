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
    let stream = UnixStream::connect(path).map_err(|e| Error::path("connect to", path, e))?;
    let raw = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(stream.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map_err(|e| {
        Error::path(
            "send file descriptor over",
            path,
            std::io::Error::from_raw_os_error(e as i32),
        )
    })?;
    Ok(())
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
