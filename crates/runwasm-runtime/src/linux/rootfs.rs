//! The container's root filesystem, in three steps that mirror runc:
//!
//! 1. [`prepare_rootfs`] (before pivot_root, in the container's new mount
//!    namespace): `/` made rslave (or `linux.rootfsPropagation`), the rootfs
//!    bind-mounted onto itself, every `mounts[]` entry mounted inside it in
//!    order, the devices and `/dev` symlinks, `process.cwd` created.
//! 2. [`enter_rootfs`]: pivot_root (or, with `--no-pivot`, MS_MOVE + chroot);
//!    the old root is detached.
//! 3. [`finish_rootfs`] (inside): `rootfsPropagation`, `/dev` read-only if
//!    asked, `root.readonly`, `linux.readonlyPaths`, `linux.maskedPaths`.
//!
//! All of it runs in the init process: single-threaded, root in its user
//! namespace (if any), already in the container's cgroup.

use std::os::fd::AsRawFd;
use std::path::Path;

use libc::c_ulong;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::devices;
use super::mountopts::{rootfs_propagation, MountOptions};
use super::mounts::{mount_entry, MountEnv};
use super::resolve::{self, mount_error, open_host, sys_error, sys_mount, Kind};
use crate::{Error, Result};

/// Before pivot_root: propagation of `/`, the rootfs bound onto itself, the
/// mounts of `spec.mounts()` in order (relative bind sources are relative
/// to `bundle`), devices and `/dev` symlinks (unless a bind mount provides
/// `/dev`), `process.cwd`. `rootfs` and `bundle` may be relative to the
/// current directory.
pub fn prepare_rootfs(spec: &Spec, bundle: &Path, rootfs: &Path) -> Result<()> {
    let rootfs =
        std::fs::canonicalize(rootfs).map_err(|e| Error::path("resolve rootfs", rootfs, e))?;
    let bundle =
        std::fs::canonicalize(bundle).map_err(|e| Error::path("resolve bundle", bundle, e))?;
    refuse_host_mount_namespace()?;
    let linux = spec.linux().as_ref();
    let propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some(p) if !p.is_empty() => rootfs_propagation(p)?,
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    sys_mount(None, Path::new("/"), None, propagation, None)
        .map_err(|e| sys_error("change propagation of \"/\"".into(), e))?;
    make_parent_private(&rootfs)?;
    let flags = libc::MS_BIND | libc::MS_REC;
    sys_mount(Some(rootfs.as_os_str()), &rootfs, None, flags, None)
        .map_err(|e| mount_error(rootfs.as_os_str(), &rootfs, e))?;
    // Opened after the self-bind so that mounts land on the new mount.
    let root = open_host(&rootfs, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| Error::path("open rootfs", &rootfs, e))?;

    let has_ns = |t: LinuxNamespaceType| {
        linux
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
    };
    let env = MountEnv {
        root: &root,
        rootfs: &rootfs,
        bundle: &bundle,
        userns: has_ns(LinuxNamespaceType::User) || in_user_namespace(),
        netns: has_ns(LinuxNamespaceType::Network),
        cgroupns: has_ns(LinuxNamespaceType::Cgroup),
    };
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    for (i, m) in mounts.iter().enumerate() {
        mount_entry(&env, m).map_err(|e| in_field(&format!("mounts[{i}]"), e))?;
    }
    if !dev_is_bound(spec) {
        devices::setup_dev(&env, spec)?;
    }
    if let Some(process) = spec.process() {
        resolve::create_in_root(&root, process.cwd(), Kind::Dir, 0o755)
            .map_err(|e| sys_error(format!("create process.cwd {:?}", process.cwd()), e))?;
    }
    Ok(())
}

/// Everything here would change the host's mounts if run in its mount
/// namespace (a config without a `mount` namespace): refuse, when the
/// namespace of PID 1 can be read and is ours.
fn refuse_host_mount_namespace() -> Result<()> {
    let ours = std::fs::read_link("/proc/self/ns/mnt");
    let host = std::fs::read_link("/proc/1/ns/mnt");
    match (ours, host) {
        (Ok(a), Ok(b)) if a == b => Err(Error::other(
            "setting up the rootfs needs a mount namespace of its own (linux.namespaces has no \"mount\")",
        )),
        _ => Ok(()),
    }
}

/// Whether this process runs in a user namespace (its uid map is not the
/// initial namespace's identity map).
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| {
        let f: Vec<&str> = m.split_whitespace().collect();
        f != ["0", "0", "4294967295"]
    })
}

/// runc skips creating devices when `/dev` is a bind mount.
fn dev_is_bound(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        resolve::clean(m.destination()) == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    })
}

/// pivot_root fails when the mount holding the rootfs is shared (which it
/// is with `rootfsPropagation: shared`): make that one mount private.
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let mounts =
        resolve::mountinfo().map_err(|e| sys_error("read /proc/self/mountinfo".into(), e))?;
    let parent = mounts
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count());
    if let Some(m) = parent.filter(|m| m.optional.contains("shared:")) {
        sys_mount(None, &m.mount_point, None, libc::MS_PRIVATE, None)
            .map_err(|e| sys_error(format!("make {:?} private", m.mount_point), e))?;
    }
    Ok(())
}

/// Makes `rootfs` (prepared by [`prepare_rootfs`]) the root and changes to
/// it. pivot_root(".", ".") then the old root, made rslave so nothing
/// propagates to the host, is lazily unmounted. With `no_pivot` the host's
/// proc and sysfs mounts are detached, then the rootfs is moved onto `/`
/// and chrooted into. Afterwards stdio fds open on `/dev/null` are
/// reopened on the container's.
pub fn enter_rootfs(rootfs: &Path, no_pivot: bool) -> Result<()> {
    let rootfs =
        std::fs::canonicalize(rootfs).map_err(|e| Error::path("resolve rootfs", rootfs, e))?;
    if no_pivot {
        move_root(&rootfs)?;
    } else {
        pivot_root(&rootfs)?;
    }
    reopen_dev_null();
    Ok(())
}

fn pivot_root(rootfs: &Path) -> Result<()> {
    let dir = libc::O_DIRECTORY | libc::O_RDONLY;
    let old = open_host(Path::new("/"), dir).map_err(|e| sys_error("open \"/\"".into(), e))?;
    let new = open_host(rootfs, dir).map_err(|e| Error::path("open rootfs", rootfs, e))?;
    nix::unistd::fchdir(new.as_raw_fd())
        .map_err(|e| sys_error(format!("chdir to {rootfs:?}"), e.into()))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| sys_error(format!("pivot_root {rootfs:?}"), e.into()))?;
    nix::unistd::fchdir(old.as_raw_fd())
        .map_err(|e| sys_error("chdir to the old root".into(), e.into()))?;
    sys_mount(
        None,
        Path::new("."),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )
    .map_err(|e| sys_error("make the old root rslave".into(), e))?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| sys_error("unmount the old root".into(), e.into()))?;
    nix::unistd::chdir("/").map_err(|e| sys_error("chdir to \"/\"".into(), e.into()))
}

fn move_root(rootfs: &Path) -> Result<()> {
    let mounts =
        resolve::mountinfo().map_err(|e| sys_error("read /proc/self/mountinfo".into(), e))?;
    // As runc: hide the host's proc and sysfs, which chroot would not.
    for m in mounts.iter().rev() {
        if !matches!(m.fstype.as_str(), "proc" | "sysfs") || m.mount_point.starts_with(rootfs) {
            continue;
        }
        let mp = &m.mount_point;
        // Private first, so that the unmount cannot propagate to the host.
        let _ = sys_mount(None, mp, None, libc::MS_PRIVATE | libc::MS_REC, None);
        match nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
            Err(nix::errno::Errno::EPERM) => {
                let src = std::ffi::OsStr::new("tmpfs");
                sys_mount(Some(src), mp, Some("tmpfs"), libc::MS_RDONLY, None)
                    .map_err(|e| mount_error(src, mp, e))?;
            }
            Err(e) => return Err(sys_error(format!("unmount {mp:?}"), e.into())),
        }
    }
    nix::unistd::chdir(rootfs).map_err(|e| Error::path("chdir to", rootfs, e.into()))?;
    sys_mount(
        Some(rootfs.as_os_str()),
        Path::new("/"),
        None,
        libc::MS_MOVE,
        None,
    )
    .map_err(|e| sys_error(format!("move mount {rootfs:?} to \"/\""), e))?;
    nix::unistd::chroot(".").map_err(|e| sys_error(format!("chroot {rootfs:?}"), e.into()))?;
    nix::unistd::chdir("/").map_err(|e| sys_error("chdir to \"/\"".into(), e.into()))
}

/// runc's reOpenDevNull: stdio open on the host's /dev/null is reopened on
/// the container's. Best effort.
fn reopen_dev_null() {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    let Ok(null_meta) = null.metadata() else {
        return;
    };
    use std::os::unix::fs::MetadataExt;
    for fd in 0..3 {
        // SAFETY: stat is plain data; fstat on a possibly closed fd just fails.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointer.
        if unsafe { libc::fstat(fd, &mut st) } == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && st.st_rdev == null_meta.rdev()
        {
            // SAFETY: dup3 onto a stdio fd we own.
            unsafe { libc::dup3(null.as_raw_fd(), fd, 0) };
        }
    }
}

/// After [`enter_rootfs`] (and after sysctl writes, which need a writable
/// `/proc/sys`): `linux.rootfsPropagation` on `/`, `/dev` remounted
/// read-only if its mount asked for `ro`, `root.readonly`,
/// `linux.readonlyPaths`, then `linux.maskedPaths` (runc's order).
pub fn finish_rootfs(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    if let Some(p) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        if !p.is_empty() {
            sys_mount(None, Path::new("/"), None, rootfs_propagation(p)?, None)
                .map_err(|e| sys_error(format!("apply rootfsPropagation {p:?} to \"/\""), e))?;
        }
    }
    for m in spec.mounts().iter().flatten() {
        if resolve::clean(m.destination()) != Path::new("/dev") {
            continue;
        }
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default())?;
        if opts.flags & libc::MS_RDONLY != 0 {
            let keep = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
            resolve::remount(Path::new("/dev"), libc::MS_BIND | libc::MS_RDONLY | keep)
                .map_err(|e| sys_error("mounts: remount \"/dev\" read-only".into(), e))?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        make_readonly(Path::new("/"), 0)
            .map_err(|e| sys_error("root.readonly: make \"/\" read-only".into(), e))?;
    }
    for (i, p) in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        readonly_path(Path::new(p))
            .map_err(|e| in_field(&format!("linux.readonlyPaths[{i}]"), e))?;
    }
    for (i, p) in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        mask_path(Path::new(p)).map_err(|e| in_field(&format!("linux.maskedPaths[{i}]"), e))?;
    }
    Ok(())
}

/// `e` prefixed with the config field it comes from (`mounts[2]: …`), its
/// kind kept.
pub(crate) fn in_field(field: &str, e: Error) -> Error {
    match e {
        Error::Io { context, source } => Error::Io {
            context: format!("{field}: {context}"),
            source,
        },
        Error::Config(m) => Error::Config(format!("{field}: {m}")),
        Error::Other(m) => Error::Other(format!("{field}: {m}")),
        e => Error::Other(format!("{field}: {e}")),
    }
}

/// Remounts the mount at `path` read-only, keeping its other flags.
fn make_readonly(path: &Path, extra: c_ulong) -> std::io::Result<()> {
    let current = resolve::mount_flags(path)?;
    resolve::remount(path, libc::MS_BIND | libc::MS_RDONLY | current | extra)
}

/// `linux.readonlyPaths`: `path` bound onto itself (recursively) and made
/// read-only; a missing path is ignored.
pub fn readonly_path(path: &Path) -> Result<()> {
    let flags = libc::MS_BIND | libc::MS_REC;
    match sys_mount(Some(path.as_os_str()), path, None, flags, None) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(mount_error(path.as_os_str(), path, e)),
    }
    make_readonly(path, libc::MS_REC).map_err(|e| sys_error(format!("make {path:?} read-only"), e))
}

/// `linux.maskedPaths`: `/dev/null` bound over a file, an empty read-only
/// tmpfs over a directory; a missing path is ignored.
pub fn mask_path(path: &Path) -> Result<()> {
    let null = std::ffi::OsStr::new("/dev/null");
    match sys_mount(Some(null), path, None, libc::MS_BIND, None) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            let tmpfs = std::ffi::OsStr::new("tmpfs");
            sys_mount(Some(tmpfs), path, Some("tmpfs"), libc::MS_RDONLY, None)
                .map_err(|e| mount_error(tmpfs, path, e))
        }
        Err(e) => Err(mount_error(null, path, e)),
    }
}

#[cfg(test)]
#[path = "testutil.rs"]
pub(crate) mod testutil;

#[cfg(test)]
#[path = "rootfs_tests.rs"]
mod tests;
