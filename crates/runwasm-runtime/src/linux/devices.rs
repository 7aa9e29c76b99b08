//! Device nodes and the `/dev` symlinks of a container, as runc makes them.
//!
//! The default set (`null`, `zero`, `full`, `random`, `urandom`, `tty`, all
//! `0666 root:root`) plus `linux.devices` (an entry with the same path
//! replaces a default) are created with mknod(2) under the umask 0, then
//! chowned. In a user namespace, or wherever mknod is refused (EPERM), the
//! host's node at the same path is bind-mounted onto an empty file instead.
//! Then `/dev/ptmx -> pts/ptmx`, `/dev/fd -> /proc/self/fd`,
//! `/dev/std{in,out,err} -> /proc/self/fd/{0,1,2}`, `/dev/core ->
//! /proc/kcore` (when the host has it) and a `/dev/shm` directory (1777)
//! when no mount made one. Everything is created inside the rootfs through
//! fds, like mount destinations.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::mounts::MountEnv;
use super::resolve::{self, create_in_root, mount_error, open_path, proc_fd, sys_error, Kind};
use crate::{Error, Result};

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Path inside the container (and of the host node bound in a user
    /// namespace).
    pub path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// runc's default devices: `(name, major, minor)`, character, 0666.
const DEFAULTS: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The default devices followed by `linux.devices` (which override a
/// default at the same path).
pub fn devices(spec: &Spec) -> Result<Vec<Device>> {
    let mut out: Vec<Device> = DEFAULTS
        .iter()
        .map(|(name, major, minor)| Device {
            path: Path::new("/dev").join(name),
            kind: SFlag::S_IFCHR,
            major: *major,
            minor: *minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    let listed = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for (i, d) in listed.into_iter().flatten().enumerate() {
        let field = format!("linux.devices[{i}] ({})", d.path().display());
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Config(format!(
                    "{field}: type \"a\" is not a device node type (use c, b, u or p)"
                )))
            }
        };
        let (major, minor) = (d.major(), d.minor());
        if kind != SFlag::S_IFIFO && (major < 0 || minor < 0) {
            return Err(Error::Config(format!(
                "{field}: negative major/minor {major}:{minor}"
            )));
        }
        let path = resolve::clean(d.path());
        if path == Path::new("/") {
            return Err(Error::Config(format!("{field}: not a device path")));
        }
        let dev = Device {
            path,
            kind,
            major: major.max(0) as u64,
            minor: minor.max(0) as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|o| o.path != dev.path);
        out.push(dev);
    }
    Ok(out)
}

/// Creates the devices, `/dev/ptmx`, the `/dev` symlinks and `/dev/shm`.
pub fn setup_dev(env: &MountEnv<'_>, spec: &Spec) -> Result<()> {
    let list = devices(spec)?;
    let old = nix::sys::stat::umask(Mode::empty());
    let result = (|| {
        for d in &list {
            create_device(env, d)?;
        }
        dev_links(env)
    })();
    nix::sys::stat::umask(old);
    result
}

fn create_device(env: &MountEnv<'_>, d: &Device) -> Result<()> {
    let path = &d.path;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::other(format!("device {path:?}: not a file path")));
    };
    let dir = create_in_root(env.root, parent, Kind::Dir, 0o755)
        .map_err(|e| sys_error(format!("create directory of device {path:?}"), e))?;
    if env.userns {
        return bind_device(env, d, &dir, name);
    }
    let dev = nix::sys::stat::makedev(d.major, d.minor);
    let mode = Mode::from_bits_truncate(d.mode);
    match nix::sys::stat::mknodat(Some(dir.as_raw_fd()), name, d.kind, mode, dev) {
        Ok(()) => {}
        // An existing node is kept, as runc does.
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) => return bind_device(env, d, &dir, name),
        Err(e) => return Err(sys_error(format!("mknod {path:?}"), e.into())),
    }
    let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    let (uid, gid) = (Some(d.uid.into()), Some(d.gid.into()));
    nix::unistd::fchownat(Some(dir.as_raw_fd()), name, uid, gid, nofollow).map_err(|e| {
        sys_error(
            format!("chown device {path:?} to {}:{}", d.uid, d.gid),
            e.into(),
        )
    })
}

/// Bind-mounts the host's node at the same path onto an empty file.
fn bind_device(
    env: &MountEnv<'_>,
    d: &Device,
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
) -> Result<()> {
    let path = &d.path;
    let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    if nix::sys::stat::fstatat(Some(dir.as_raw_fd()), name, nofollow).is_err() {
        let flags = nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_EXCL
            | nix::fcntl::OFlag::O_WRONLY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(
            Some(dir.as_raw_fd()),
            name,
            flags,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(|e| sys_error(format!("create {path:?} to bind the device onto"), e.into()))?;
        let _ = nix::unistd::close(fd);
    }
    let target =
        open_path(env.root, path).map_err(|e| sys_error(format!("open device {path:?}"), e))?;
    resolve::sys_mount(
        Some(path.as_os_str()),
        &proc_fd(&target),
        None,
        libc::MS_BIND,
        None,
    )
    .map_err(|e| mount_error(path.as_os_str(), path, e))
}

/// `/dev/ptmx`, the symlinks and `/dev/shm`.
fn dev_links(env: &MountEnv<'_>) -> Result<()> {
    let dev = create_in_root(env.root, Path::new("/dev"), Kind::Dir, 0o755)
        .map_err(|e| sys_error("create /dev".into(), e))?;
    let at = Some(dev.as_raw_fd());
    match nix::unistd::unlinkat(at, "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(sys_error("remove /dev/ptmx".into(), e.into())),
    }
    let mut links = vec![
        ("pts/ptmx", "ptmx"),
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, at, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(sys_error(
                    format!("symlink /dev/{name} -> {target}"),
                    e.into(),
                ))
            }
        }
    }
    match nix::sys::stat::mkdirat(at, "shm", Mode::from_bits_truncate(0o1777)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(sys_error("create /dev/shm".into(), e.into())),
    }
}

/// Makes `/dev/console` the container's terminal: the pty slave `slave`
/// (a path of the current root) bind-mounted onto `/dev/console`, created
/// as an empty file if missing. runc does this after pivot_root and before
/// the rootfs is made read-only, i.e. between [`super::rootfs::enter_rootfs`]
/// and [`super::rootfs::finish_rootfs`]. Works without `/proc`.
pub fn mount_console(slave: &Path) -> Result<()> {
    let console = Path::new("/dev/console");
    let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    if nix::sys::stat::fstatat(None, console, nofollow).is_err() {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .custom_flags(libc::O_NOFOLLOW)
            .open(console)
            .map_err(|e| sys_error(format!("create {console:?}"), e))?;
    }
    resolve::sys_mount(Some(slave.as_os_str()), console, None, libc::MS_BIND, None)
        .map_err(|e| mount_error(slave.as_os_str(), console, e))
}
