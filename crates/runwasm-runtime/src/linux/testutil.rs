//! The harness of the real-mount tests: each test forks a child that makes
//! itself a private mount namespace (so nothing reaches the test process or
//! the host), builds the container there and checks it from inside; the
//! child reports through its exit status and a pipe, and the parent checks
//! that no mount of the test's tempdir shows on the host. Root only: without
//! it every test prints why it is skipped.

use std::fs;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;
use oci_spec::runtime::Spec;
use serde_json::Value;

use super::{enter_rootfs, finish_rootfs, prepare_rootfs};
use crate::linux::resolve::{sys_mount, MountInfo};

pub type R = std::result::Result<(), String>;

macro_rules! ensure_ {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($fmt)+)));
        }
    };
}
pub(crate) use ensure_ as ensure;

pub fn skip_unless_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    eprintln!("skipped: needs root (mount namespaces, mounts, mknod, pivot_root)");
    true
}

/// Runs `f` in a forked child in a private mount namespace of its own.
pub fn in_child(tmp: &Path, f: impl FnOnce() -> R) {
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only runs `f` and exits with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        ForkResult::Child => {
            drop(r);
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| -> R {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                    .map_err(|e| format!("unshare: {e}"))?;
                let flags = libc::MS_REC | libc::MS_PRIVATE;
                sys_mount(None, Path::new("/"), None, flags, None)
                    .map_err(|e| format!("make / private: {e}"))?;
                f()
            }));
            let (code, msg) = match result {
                Ok(Ok(())) => (0, String::new()),
                Ok(Err(m)) => (1, m),
                Err(_) => (2, "panicked".to_string()),
            };
            let _ = nix::unistd::write(&w, msg.as_bytes());
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut msg = String::new();
            let _ = fs::File::from(r).read_to_string(&mut msg);
            let status = waitpid(child, None).unwrap();
            let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
            let tmp = tmp.to_string_lossy();
            assert!(!host.contains(&*tmp), "a mount leaked to the host:\n{host}");
            assert_eq!(status, WaitStatus::Exited(child, 0), "child failed: {msg}");
        }
    }
}

pub struct Bundle {
    _tmp: tempfile::TempDir,
    pub tmp: PathBuf,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
}

/// A bundle whose rootfs holds busybox and `/etc/marker`, beside a host-only
/// file `TMP/host-secret`.
pub fn bundle() -> Bundle {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().canonicalize().unwrap();
    let dir = path.join("bundle");
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "tmp"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    if Path::new("/bin/busybox").exists() {
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    }
    fs::write(rootfs.join("etc/marker"), "container").unwrap();
    fs::write(path.join("host-secret"), "host").unwrap();
    Bundle {
        _tmp: tmp,
        tmp: path,
        dir,
        rootfs,
    }
}

/// The default spec of oci-spec with `patch` merged into it (top-level
/// keys, and keys of `linux`, replaced).
pub fn spec(patch: Value) -> Spec {
    let mut base = serde_json::to_value(Spec::default()).unwrap();
    for (k, v) in patch.as_object().unwrap() {
        if k == "linux" {
            for (lk, lv) in v.as_object().unwrap() {
                base["linux"][lk] = lv.clone();
            }
        } else {
            base[k] = v.clone();
        }
    }
    serde_json::from_value(base).unwrap()
}

pub fn mount_at(mounts: &[MountInfo], mp: &str) -> std::result::Result<MountInfo, String> {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new(mp))
        .cloned()
        .ok_or_else(|| format!("nothing mounted at {mp}"))
}

pub fn errno_of(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

pub fn full_setup(b: &Bundle, spec: &Spec) -> R {
    prepare_rootfs(spec, &b.dir, &b.rootfs).map_err(|e| format!("prepare: {e}"))?;
    enter_rootfs(&b.rootfs, false).map_err(|e| format!("enter: {e}"))?;
    finish_rootfs(spec).map_err(|e| format!("finish: {e}"))
}
