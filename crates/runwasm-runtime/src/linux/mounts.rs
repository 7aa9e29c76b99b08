//! Mounting one `mounts[]` entry inside the rootfs, with runc's semantics.
//!
//! Every destination is resolved (and what is missing created) inside the
//! rootfs with `openat2(RESOLVE_IN_ROOT)` / `mkdirat`, and mount(2) is given
//! `/proc/self/fd/N` of the resolved fd, so a symlink in the rootfs can never
//! send a mount to the host. Anything done after the mount (remount,
//! propagation, recursive attributes) re-resolves the destination, which then
//! names the new mount.
//!
//! Types: bind/rbind (type `bind` or option `bind`/`rbind`; a relative source
//! is relative to the bundle; the destination is a file or a directory like
//! the source; options other than bind/rec are applied by a remount), tmpfs
//! (an existing destination's mode is kept unless `mode=` says otherwise;
//! runc's `tmpcopyup`), sysfs (in a user namespace without a network
//! namespace, where mounting sysfs is refused, an rbind of the host's
//! `/sys`), cgroup (see [`super::cgroupfs`]), and anything else straight to
//! mount(2) (proc, devpts, mqueue, …).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use libc::c_ulong;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::Mount;

use super::mountopts::MountOptions;
use super::resolve::{
    self, create_in_root, fs_mount_error, mount_error, open_path, proc_fd, sys_error, sys_mount,
    Kind,
};
use crate::{Error, Result};

/// What mounting needs to know besides the entry.
pub struct MountEnv<'a> {
    /// `O_PATH` fd of the rootfs (after it was bind-mounted onto itself).
    pub root: &'a OwnedFd,
    /// The rootfs as a path of this mount namespace (canonical).
    pub rootfs: &'a Path,
    /// Relative bind sources are relative to it.
    pub bundle: &'a Path,
    /// Running in a user namespace (mknod and sysfs are refused there).
    pub userns: bool,
    /// The container has a network namespace of its own.
    pub netns: bool,
    /// The container has a cgroup namespace of its own.
    pub cgroupns: bool,
}

/// Destinations inside `/proc` that may be mounted over: files that lxcfs
/// and the like emulate (runc's list). Anything else inside `/proc` is
/// refused, and `/proc` itself takes only procfs.
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Mounts one entry of `mounts[]`.
pub fn mount_entry(env: &MountEnv<'_>, m: &Mount) -> Result<()> {
    let dest = resolve::clean(m.destination());
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default())
        .map_err(|e| Error::Config(format!("mount on {dest:?}: {e}")))?;
    if dest == Path::new("/") {
        // It would hide the rootfs from every later step.
        return Err(Error::Config(
            "mount destination \"/\" is not allowed (the rootfs is root.path)".into(),
        ));
    }
    let typ = m.typ().as_deref().unwrap_or("");
    if typ == "bind" || opts.is_bind() {
        let source = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::Config(format!("bind mount on {dest:?}: no source given")))?;
        // Joining an absolute path replaces the base.
        let source = env.bundle.join(source);
        // Checked on the plain path first so nothing is created in /proc.
        proc_rule(&dest, &dest, is_procfs(&source))?;
        return bind(env, &source, &dest, &opts);
    }
    proc_rule(&dest, &dest, typ == "proc")?;
    let source = m
        .source()
        .as_ref()
        .map_or(OsStr::new(typ), |s| s.as_os_str());
    match typ {
        "" => Err(Error::Config(format!(
            "mount on {dest:?}: no type given (and not a bind mount)"
        ))),
        "tmpfs" => tmpfs(env, source, &dest, &opts),
        "sysfs" => sysfs(env, source, &dest, &opts),
        "cgroup" => super::cgroupfs::mount_cgroup(env, &dest, &opts),
        _ => plain(env, source, typ, &dest, &opts),
    }
}

/// The mount(2) flags for `dest`: `/dev` is mounted writable so devices can
/// be created, and made read-only by `finish_rootfs` (as runc does).
fn flags_for(dest: &Path, opts: &MountOptions) -> c_ulong {
    if dest == Path::new("/dev") {
        opts.flags & !libc::MS_RDONLY
    } else {
        opts.flags
    }
}

/// Resolves (creating what is missing) the destination.
pub(crate) fn target(env: &MountEnv<'_>, dest: &Path, kind: Kind) -> Result<OwnedFd> {
    let mode = if kind == Kind::Dir { 0o755 } else { 0o644 };
    create_in_root(env.root, dest, kind, mode)
        .map_err(|e| sys_error(format!("create mount destination {dest:?}"), e))
}

/// Refuses destinations inside `/proc` (runc's rule), judged on where the
/// destination really resolved to.
fn check_proc(env: &MountEnv<'_>, fd: &OwnedFd, dest: &Path, is_procfs: bool) -> Result<()> {
    let real = resolve::fd_path(fd)
        .map_err(|e| sys_error(format!("resolve mount destination {dest:?}"), e))?;
    let Ok(rel) = real.strip_prefix(env.rootfs) else {
        return Err(Error::other(format!(
            "mount destination {dest:?} resolved outside the rootfs, to {real:?}"
        )));
    };
    proc_rule(&Path::new("/").join(rel), dest, is_procfs)
}

/// `inner` (a resolved container path) may take a mount for `dest`.
fn proc_rule(inner: &Path, dest: &Path, is_procfs: bool) -> Result<()> {
    if inner == Path::new("/proc") {
        if is_procfs {
            return Ok(());
        }
        return Err(Error::other(format!(
            "{dest:?} cannot be mounted because /proc takes only procfs"
        )));
    }
    if inner.starts_with("/proc") && !PROC_ALLOWED.iter().any(|p| inner == Path::new(p)) {
        return Err(Error::other(format!(
            "{dest:?} cannot be mounted because it is inside /proc"
        )));
    }
    Ok(())
}

fn is_procfs(path: &Path) -> bool {
    resolve::fs_magic(path).is_ok_and(|m| m == PROC_SUPER_MAGIC)
}

/// Propagation changes and recursive attributes, on the new mount.
pub(crate) fn after_mount(env: &MountEnv<'_>, dest: &Path, opts: &MountOptions) -> Result<()> {
    if opts.propagation.is_empty() && !opts.has_recursive_attrs() {
        return Ok(());
    }
    let fd = reopen(env, dest)?;
    for flag in &opts.propagation {
        sys_mount(None, &proc_fd(&fd), None, *flag, None)
            .map_err(|e| sys_error(format!("change propagation of mount {dest:?}"), e))?;
    }
    if opts.has_recursive_attrs() {
        resolve::mount_setattr_recursive(&fd, opts.rec_set, opts.rec_clear)
            .map_err(|e| sys_error(format!("set recursive attributes of mount {dest:?}"), e))?;
    }
    Ok(())
}

pub(crate) fn reopen(env: &MountEnv<'_>, dest: &Path) -> Result<OwnedFd> {
    open_path(env.root, dest).map_err(|e| sys_error(format!("open mount {dest:?}"), e))
}

/// proc, devpts, mqueue, … : the destination is a directory.
pub(crate) fn plain(
    env: &MountEnv<'_>,
    source: &OsStr,
    typ: &str,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    let fd = target(env, dest, Kind::Dir)?;
    check_proc(env, &fd, dest, typ == "proc")?;
    let flags = flags_for(dest, opts);
    sys_mount(
        Some(source),
        &proc_fd(&fd),
        Some(typ),
        flags,
        Some(&opts.data),
    )
    .map_err(|e| fs_mount_error(source, dest, typ, &opts.data, e))?;
    after_mount(env, dest, opts)
}

/// A bind mount of the host path `source`.
pub(crate) fn bind(
    env: &MountEnv<'_>,
    source: &Path,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    let src = source.as_os_str();
    let meta = std::fs::metadata(source).map_err(|e| mount_error(src, dest, e))?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let fd = target(env, dest, kind)?;
    check_proc(env, &fd, dest, is_procfs(source))?;
    let flags = libc::MS_BIND | (opts.flags & libc::MS_REC);
    sys_mount(Some(src), &proc_fd(&fd), None, flags, None)
        .map_err(|e| mount_error(src, dest, e))?;
    // A bind mount takes no flags: the others need a remount.
    let extra = flags_for(dest, opts) & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
    if extra != 0 {
        let top = reopen(env, dest)?;
        resolve::remount(&proc_fd(&top), libc::MS_BIND | extra)
            .map_err(|e| sys_error(format!("remount bind mount {dest:?}"), e))?;
    }
    after_mount(env, dest, opts)
}

fn tmpfs(env: &MountEnv<'_>, source: &OsStr, dest: &Path, opts: &MountOptions) -> Result<()> {
    let mut data = opts.data.clone();
    let mut lower = None;
    if let Ok(existing) = open_path(env.root, dest) {
        let meta = File::from(existing.try_clone().map_err(|e| Error::io("dup", e))?)
            .metadata()
            .map_err(|e| sys_error(format!("stat {dest:?}"), e))?;
        if meta.is_dir() {
            // runc keeps the existing directory's mode; a mode= option wins.
            use std::os::unix::fs::PermissionsExt;
            let mode = format!("mode={:04o}", meta.permissions().mode() & 0o7777);
            data = if data.is_empty() {
                mode
            } else {
                format!("{mode},{data}")
            };
            if opts.copy_up {
                lower = Some(existing);
            }
        }
    }
    let fd = target(env, dest, Kind::Dir)?;
    check_proc(env, &fd, dest, false)?;
    let mut flags = flags_for(dest, opts);
    let ro_after_copy = lower.is_some() && flags & libc::MS_RDONLY != 0;
    if ro_after_copy {
        flags &= !libc::MS_RDONLY;
    }
    sys_mount(
        Some(source),
        &proc_fd(&fd),
        Some("tmpfs"),
        flags,
        Some(&data),
    )
    .map_err(|e| fs_mount_error(source, dest, "tmpfs", &data, e))?;
    if let Some(lower) = lower {
        // `lower` still names the directory under the new tmpfs.
        let upper = reopen(env, dest)?;
        copy_tree(&lower, &upper)
            .map_err(|e| sys_error(format!("tmpcopyup: copy {dest:?} into its tmpfs"), e))?;
        if ro_after_copy {
            resolve::remount(&proc_fd(&upper), libc::MS_BIND | flags | libc::MS_RDONLY)
                .map_err(|e| sys_error(format!("remount tmpfs {dest:?} read-only"), e))?;
        }
    }
    after_mount(env, dest, opts)
}

fn sysfs(env: &MountEnv<'_>, source: &OsStr, dest: &Path, opts: &MountOptions) -> Result<()> {
    let fd = target(env, dest, Kind::Dir)?;
    check_proc(env, &fd, dest, false)?;
    let flags = flags_for(dest, opts);
    match sys_mount(
        Some(source),
        &proc_fd(&fd),
        Some("sysfs"),
        flags,
        Some(&opts.data),
    ) {
        Ok(()) => after_mount(env, dest, opts),
        // The kernel refuses sysfs to a user namespace that does not own
        // the network namespace: bind the host's /sys instead, like runc.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && env.userns && !env.netns => {
            let mut rbind = opts.clone();
            rbind.flags |= libc::MS_BIND | libc::MS_REC;
            bind(env, Path::new("/sys"), dest, &rbind)
        }
        Err(e) => Err(fs_mount_error(source, dest, "sysfs", &opts.data, e)),
    }
}

fn at(dir: &OwnedFd, name: &std::ffi::CStr, flags: OFlag, mode: u32) -> io::Result<OwnedFd> {
    let flags = flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        flags,
        Mode::from_bits_truncate(mode),
    )?;
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Copies the tree under `src` into `dst` (both directory fds, `O_PATH` is
/// fine): directories, files, symlinks and device/fifo nodes, with owner and
/// mode. Sockets are skipped.
fn copy_tree(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags};
    let mut dir = nix::dir::Dir::openat(
        Some(src.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let st = fstatat(Some(src.as_raw_fd()), name, nofollow)?;
        let (s, d) = (Some(src.as_raw_fd()), Some(dst.as_raw_fd()));
        let fmt = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
        match fmt {
            SFlag::S_IFDIR => {
                mkdirat(d, name, Mode::from_bits_truncate(0o700))?;
                let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
                copy_tree(&at(src, name, dir_flags, 0)?, &at(dst, name, dir_flags, 0)?)?;
            }
            SFlag::S_IFREG => {
                let mut r = File::from(at(src, name, OFlag::O_RDONLY, 0)?);
                let create = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
                let mut w = File::from(at(dst, name, create, 0o600)?);
                io::copy(&mut r, &mut w)?;
            }
            SFlag::S_IFLNK => {
                let link = nix::fcntl::readlinkat(s, name)?;
                nix::unistd::symlinkat(Path::new(&link), d, name)?;
            }
            SFlag::S_IFSOCK => continue,
            _ => mknodat(d, name, fmt, Mode::from_bits_truncate(0o600), st.st_rdev)?,
        }
        let (uid, gid) = (Some(st.st_uid.into()), Some(st.st_gid.into()));
        nix::unistd::fchownat(d, name, uid, gid, nofollow)?;
        if fmt != SFlag::S_IFLNK {
            let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
            // Not a symlink: it was just created in our own tmpfs.
            fchmodat(d, name, mode, FchmodatFlags::FollowSymlink)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
