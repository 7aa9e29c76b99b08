//! Low-level helpers of the rootfs code: resolving and creating paths inside
//! the rootfs without ever leaving it, mount(2)/mount_setattr(2) wrappers
//! that act on an fd through `/proc/self/fd/N` (runc's approach), runc-style
//! error texts, and `/proc/self/mountinfo`.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use libc::c_ulong;

use crate::workload::open_in_root_flags;
use crate::Error;

/// What to create at a missing destination.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dir,
    File,
}

/// `path` made absolute and lexically clean: `.` dropped, `..` never above
/// `/` (runc's CleanPath). Container paths are always handled in this form.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn cstr(p: &OsStr) -> io::Result<CString> {
    CString::new(p.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// An `O_PATH` fd of `path` resolved inside `root` (symlinks and `..` stay
/// in it). Opened after a mount, it names the mount on top.
pub fn open_path(root: &OwnedFd, path: &Path) -> io::Result<OwnedFd> {
    open_in_root_flags(root, path, libc::O_PATH)
}

/// `/proc/self/fd/N`: the path mount(2) is given so that it acts on exactly
/// the object the fd resolved to.
pub fn proc_fd(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Resolves `path` inside `root`, creating what is missing one component
/// at a time (directories with mode 0755, the last one as `kind` with
/// `mode`) with `mkdirat`/`openat` relative to the already resolved parent.
/// A dangling symlink is followed inside the root and its target created,
/// as runc's SecureJoin + MkdirAll do. Returns an `O_PATH` fd of the result.
pub fn create_in_root(root: &OwnedFd, path: &Path, kind: Kind, mode: u32) -> io::Result<OwnedFd> {
    let mut path = clean(path);
    let mut hops = 0;
    'restart: loop {
        let names: Vec<&OsStr> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut cur = PathBuf::from("/");
        let mut fd = open_path(root, &cur)?;
        for (i, name) in names.iter().enumerate() {
            cur.push(name);
            match open_path(root, &cur) {
                Ok(f) => {
                    fd = f;
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(e),
            }
            let last = i + 1 == names.len();
            let c = cstr(name)?;
            // SAFETY: valid dirfd and C string; a created fd is closed at once.
            let rc = unsafe {
                if last && kind == Kind::File {
                    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
                    let f = libc::openat(fd.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC, mode);
                    if f >= 0 {
                        libc::close(f);
                    }
                    f
                } else {
                    libc::mkdirat(fd.as_raw_fd(), c.as_ptr(), if last { mode } else { 0o755 })
                }
            };
            if rc >= 0 {
                fd = open_path(root, &cur)?;
                continue;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
            // It exists but did not resolve: a dangling symlink. Follow it
            // from where its directory really is inside the root.
            hops += 1;
            if hops > 40 {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let link = nix::fcntl::readlinkat(Some(fd.as_raw_fd()), *name)?;
            let parent =
                Path::new("/").join(fd_path(&fd)?.strip_prefix(fd_path(root)?).map_err(|_| {
                    io::Error::other(format!("{} resolved outside the root", cur.display()))
                })?);
            let mut next = parent.join(link);
            next.extend(&names[i + 1..]);
            path = clean(&next);
            continue 'restart;
        }
        return Ok(fd);
    }
}

/// Where `fd` is, as a path of this mount namespace.
pub fn fd_path(fd: &OwnedFd) -> io::Result<PathBuf> {
    std::fs::read_link(proc_fd(fd))
}

/// Opens a host path `O_PATH | O_CLOEXEC` (following symlinks).
pub fn open_host(path: &Path, flags: i32) -> io::Result<OwnedFd> {
    let c = cstr(path.as_os_str())?;
    // SAFETY: valid C string; the fd is checked and owned.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mount(2). `None` for source, fstype or data passes NULL.
pub fn sys_mount(
    source: Option<&OsStr>,
    target: &Path,
    fstype: Option<&str>,
    flags: c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstr).transpose()?;
    let target = cstr(target.as_os_str())?;
    let fstype = fstype.map(|s| cstr(OsStr::new(s))).transpose()?;
    let data = data
        .filter(|d| !d.is_empty())
        .map(|s| cstr(OsStr::new(s)))
        .transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is NULL or a valid C string that outlives the call.
    let rc = unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn statfs(path: &Path) -> io::Result<libc::statfs> {
    let c = cstr(path.as_os_str())?;
    // SAFETY: statfs is plain data, filled by the kernel.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// Mount flags of the mount `path` is on, as `MS_*` bits (from statfs).
pub fn mount_flags(path: &Path) -> io::Result<c_ulong> {
    const MAP: [(c_ulong, c_ulong); 8] = [
        (0x0001, libc::MS_RDONLY),
        (0x0002, libc::MS_NOSUID),
        (0x0004, libc::MS_NODEV),
        (0x0008, libc::MS_NOEXEC),
        (0x0010, libc::MS_SYNCHRONOUS),
        (0x0400, libc::MS_NOATIME),
        (0x0800, libc::MS_NODIRATIME),
        (0x1000, libc::MS_RELATIME),
    ];
    let c = cstr(path.as_os_str())?;
    // SAFETY: statvfs is plain data, filled by the C library.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let f = st.f_flag;
    Ok(MAP
        .iter()
        .filter(|(st, _)| f & st != 0)
        .fold(0, |a, (_, ms)| a | ms))
}

/// Statfs magic of `path`'s filesystem.
pub fn fs_magic(path: &Path) -> io::Result<i64> {
    Ok(statfs(path)?.f_type as i64)
}

/// Remounts the mount on top of `target` (`MS_REMOUNT | flags`; before
/// pivot_root, `target` is a [`proc_fd`] path). In a user namespace some
/// flags of a mount are locked (nosuid, nodev, noexec, the atime mode, ro):
/// on EPERM the current ones are kept and it is retried, as runc does.
pub fn remount(target: &Path, flags: c_ulong) -> io::Result<()> {
    let flags = flags | libc::MS_REMOUNT;
    match sys_mount(None, target, None, flags, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let locked = mount_flags(target)?;
            let mut retry = flags | locked;
            if flags & (libc::MS_NOATIME | libc::MS_RELATIME | libc::MS_STRICTATIME) != 0 {
                // Keep the locked atime mode rather than mixing two.
                retry &= !(libc::MS_NOATIME | libc::MS_RELATIME | libc::MS_STRICTATIME);
                retry |= locked & (libc::MS_NOATIME | libc::MS_RELATIME);
            }
            sys_mount(None, target, None, retry, None)
        }
        r => r,
    }
}

/// mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE): recursive mount
/// attributes (`rro`, `rnosuid`, …) on the mount tree on top of `fd`.
pub fn mount_setattr_recursive(fd: &OwnedFd, set: u64, clear: u64) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid fd, empty C string and mount_attr of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An errno as runc (Go) prints it: `permission denied`, `no such device`.
pub fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

/// An error phrased `CONTEXT: reason` with the errno in runc's words.
pub fn sys_error(context: String, e: io::Error) -> Error {
    let text = errno_text(&e);
    Error::io(context, io::Error::new(e.kind(), text))
}

/// `mount "SOURCE" on "DEST": reason`.
pub fn mount_error(source: &OsStr, dest: &Path, e: io::Error) -> Error {
    sys_error(format!("mount {source:?} on {dest:?}"), e)
}

/// `mount "SOURCE" on "DEST": reason (what was passed)` for a mount of
/// filesystem type `typ` with `data`: the reason is often only "no such
/// device" or "invalid argument", so the type (unknown to the kernel) or
/// the data (refused by the filesystem) is named too.
pub fn fs_mount_error(source: &OsStr, dest: &Path, typ: &str, data: &str, e: io::Error) -> Error {
    let hint = if e.raw_os_error() == Some(libc::ENODEV) {
        format!("filesystem type {typ:?} is not known to this kernel")
    } else if data.is_empty() {
        format!("type {typ:?}")
    } else {
        format!("type {typ:?}, options passed to the filesystem: {data:?}")
    };
    let text = format!("{} ({hint})", errno_text(&e));
    Error::io(
        format!("mount {source:?} on {dest:?}"),
        io::Error::new(e.kind(), text),
    )
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone)]
pub struct MountInfo {
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    /// Optional fields (`shared:1 master:2`).
    pub optional: String,
    pub fstype: String,
    pub source: String,
    /// Superblock options (`rw,size=1024k,mode=755`).
    pub super_options: String,
}

impl MountInfo {
    pub fn has_option(&self, opt: &str) -> bool {
        self.options.split(',').any(|o| o == opt)
    }
    pub fn has_super_option(&self, opt: &str) -> bool {
        self.super_options.split(',').any(|o| o == opt)
    }
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = |c: &u8| (b'0'..=b'7').contains(c);
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(octal) {
            let d = |k: usize| u32::from(b[i + k] - b'0');
            out.push((d(1) * 64 + d(2) * 8 + d(3)) as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 6 || post.len() < 3 {
                return None;
            }
            Some(MountInfo {
                root: PathBuf::from(unescape(pre[3])),
                mount_point: PathBuf::from(unescape(pre[4])),
                options: pre[5].to_string(),
                optional: pre[6..].join(" "),
                fstype: post[0].to_string(),
                source: unescape(post[1]),
                super_options: post[2].to_string(),
            })
        })
        .collect()
}

/// The mounts of this process's mount namespace, in mount order.
pub fn mountinfo() -> io::Result<Vec<MountInfo>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean(Path::new("a/../../b/./c")), Path::new("/b/c"));
        assert_eq!(clean(Path::new("/../..")), Path::new("/"));
        assert_eq!(clean(Path::new("/dev//pts/")), Path::new("/dev/pts"));
    }

    #[test]
    fn mountinfo_lines() {
        let m = parse_mountinfo(
            "31 23 0:28 / /sys/fs/cgroup ro,nosuid shared:5 master:1 - tmpfs tmpfs ro,mode=755\n\
             40 31 0:37 /a\\040b /mnt/x\\040y rw - cgroup cgroup rw,name=systemd\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, Path::new("/sys/fs/cgroup"));
        assert_eq!(m[0].optional, "shared:5 master:1");
        assert!(m[0].has_option("nosuid") && m[0].has_super_option("mode=755"));
        assert_eq!(m[1].root, Path::new("/a b"));
        assert_eq!(m[1].mount_point, Path::new("/mnt/x y"));
        assert_eq!(m[1].fstype, "cgroup");
    }

    #[test]
    fn create_stays_in_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../outside", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("/nowhere", root.join("dangling")).unwrap();
        let fd = crate::workload::open_dir(&root).unwrap();
        create_in_root(&fd, Path::new("/abs/a/b"), Kind::Dir, 0o700).unwrap();
        create_in_root(&fd, Path::new("rel/../rel/f"), Kind::File, 0o600).unwrap();
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        // Absolute and relative links resolve inside the root.
        let inside = root.join(outside.strip_prefix("/").unwrap());
        assert!(inside.join("a/b").is_dir());
        assert!(root.join("outside/f").is_file());
        // A dangling link's target is created inside the root.
        create_in_root(&fd, Path::new("/dangling/x"), Kind::Dir, 0o755).unwrap();
        assert!(root.join("nowhere/x").is_dir());
        std::os::unix::fs::symlink("../../loop", root.join("loop")).unwrap();
        let e = create_in_root(&fd, Path::new("/loop/x"), Kind::Dir, 0o755).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    }
}
