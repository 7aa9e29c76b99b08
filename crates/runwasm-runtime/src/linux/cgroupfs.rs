//! The `cgroup` mount type (`/sys/fs/cgroup` in every default spec).
//!
//! - **cgroup v2 host** (`/sys/fs/cgroup` is cgroup2): a cgroup2 mount at the
//!   destination; if the kernel refuses it (EPERM/EBUSY: no cgroup namespace
//!   of our own in a user namespace), a bind mount of the container's own
//!   cgroup directory, as runc does.
//! - **cgroup v1 or hybrid host** (this VM): as runc, a tmpfs (`mode=755`,
//!   nosuid, nodev, noexec) at the destination, then for every hierarchy the
//!   host mounts directly under `/sys/fs/cgroup` (v1 controllers, named ones
//!   like `name=systemd`, and the hybrid `unified` cgroup2) a mount named
//!   like the host's: with a cgroup namespace of its own, a fresh mount of
//!   that hierarchy (it shows the namespace's root); without one, a bind
//!   mount of the container's own cgroup directory in that hierarchy, read
//!   from `/proc/self/cgroup` (so the init process must already be in its
//!   cgroup). Co-mounted controllers get symlinks (`cpu -> cpu,cpuacct`).
//!   The entry's flags (ro, nosuid, …) apply to each mount; `ro` also makes
//!   the tmpfs read-only.

use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::mountopts::MountOptions;
use super::mounts::{after_mount, bind, plain, reopen, target, MountEnv};
use super::resolve::{self, mount_error, proc_fd, sys_error, sys_mount, Kind};
use crate::{Error, Result};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// One cgroup hierarchy of the host and the container's place in it.
#[derive(Debug)]
struct Hierarchy {
    /// The host's mount point (`/sys/fs/cgroup/memory`).
    mount_point: PathBuf,
    /// `cgroup` or `cgroup2`.
    fstype: String,
    /// The controllers as `/proc/self/cgroup` names them (`cpu,cpuacct`,
    /// `name=systemd`; empty for cgroup2): the data of a fresh v1 mount.
    controllers: String,
    /// The container's own cgroup directory in this hierarchy, on the host.
    own_dir: std::result::Result<PathBuf, String>,
}

/// `/proc/self/cgroup` as (controllers, path) pairs.
fn own_cgroups() -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| sys_error("read /proc/self/cgroup".into(), e))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctrls.to_string(), path.to_string()))
        })
        .collect())
}

fn hierarchies() -> Result<Vec<Hierarchy>> {
    let mounts =
        resolve::mountinfo().map_err(|e| sys_error("read /proc/self/mountinfo".into(), e))?;
    let own = own_cgroups()?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for m in mounts {
        let v1 = m.fstype == "cgroup";
        if !(v1 || m.fstype == "cgroup2")
            || m.mount_point.parent() != Some(Path::new("/sys/fs/cgroup"))
            || !seen.insert(m.mount_point.clone())
        {
            continue;
        }
        let line = own.iter().find(|(ctrls, _)| {
            if v1 {
                !ctrls.is_empty() && ctrls.split(',').all(|c| m.has_super_option(c))
            } else {
                ctrls.is_empty()
            }
        });
        let Some((controllers, path)) = line else {
            continue;
        };
        // Inside a cgroup namespace the path is relative to the namespace's
        // root and may not be under the mount's root: only a bind needs it.
        let own_dir = match Path::new(path).strip_prefix(&m.root) {
            Ok(rel) => Ok(m.mount_point.join(rel)),
            Err(_) => Err(format!(
                "cgroup {path:?} is not inside the host's mount of {} (root {})",
                m.mount_point.display(),
                m.root.display()
            )),
        };
        out.push(Hierarchy {
            own_dir,
            mount_point: m.mount_point,
            fstype: m.fstype,
            controllers: controllers.clone(),
        });
    }
    Ok(out)
}

/// Mounts a `cgroup` entry at `dest`.
pub fn mount_cgroup(env: &MountEnv<'_>, dest: &Path, opts: &MountOptions) -> Result<()> {
    let is_v2 =
        resolve::fs_magic(Path::new("/sys/fs/cgroup")).is_ok_and(|m| m == CGROUP2_SUPER_MAGIC);
    if is_v2 {
        return mount_v2(env, dest, opts);
    }
    let tmpfs = MountOptions {
        flags: (opts.flags & !libc::MS_RDONLY) | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: "mode=755".into(),
        propagation: opts.propagation.clone(),
        ..MountOptions::default()
    };
    plain(env, "tmpfs".as_ref(), "tmpfs", dest, &tmpfs)?;
    for h in hierarchies()? {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        if env.cgroupns {
            let fresh = MountOptions {
                flags: opts.flags & !libc::MS_BIND,
                data: if h.fstype == "cgroup" {
                    h.controllers.clone()
                } else {
                    String::new()
                },
                propagation: opts.propagation.clone(),
                ..MountOptions::default()
            };
            plain(env, h.fstype.as_ref(), &h.fstype, &sub, &fresh)?;
        } else {
            let binding = MountOptions {
                flags: opts.flags | libc::MS_BIND | libc::MS_REC,
                propagation: opts.propagation.clone(),
                ..MountOptions::default()
            };
            let own = h.own_dir.as_ref().map_err(|e| Error::other(e.clone()))?;
            bind(env, own, &sub, &binding)?;
        }
        let name = name.to_string_lossy();
        if name.contains(',') {
            let dir = reopen(env, dest)?;
            for c in name.split(',') {
                match nix::unistd::symlinkat(name.as_ref() as &str, Some(dir.as_raw_fd()), c) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(sys_error(
                            format!("symlink {:?} to {name}", dest.join(c)),
                            e.into(),
                        ))
                    }
                }
            }
        }
    }
    if opts.flags & libc::MS_RDONLY != 0 {
        let top = reopen(env, dest)?;
        resolve::remount(
            &proc_fd(&top),
            libc::MS_BIND | libc::MS_RDONLY | tmpfs.flags,
        )
        .map_err(|e| sys_error(format!("remount {dest:?} read-only"), e))?;
    }
    Ok(())
}

fn mount_v2(env: &MountEnv<'_>, dest: &Path, opts: &MountOptions) -> Result<()> {
    let fd = target(env, dest, Kind::Dir)?;
    let flags = opts.flags & !libc::MS_BIND;
    let source = "cgroup2".as_ref();
    match sys_mount(
        Some(source),
        &proc_fd(&fd),
        Some("cgroup2"),
        flags,
        Some(&opts.data),
    ) {
        Ok(()) => after_mount(env, dest, opts),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EBUSY)) => {
            let own = own_cgroups()?;
            let path = own
                .iter()
                .find(|(c, _)| c.is_empty())
                .map(|(_, p)| p.trim_start_matches('/'))
                .unwrap_or_default();
            let binding = MountOptions {
                flags: opts.flags | libc::MS_BIND | libc::MS_REC,
                ..opts.clone()
            };
            bind(env, &Path::new("/sys/fs/cgroup").join(path), dest, &binding)
        }
        Err(e) => Err(mount_error(source, dest, e)),
    }
}
