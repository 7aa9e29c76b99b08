//! Deciding what a container runs (a Wasm module or a native program) and
//! finding `process.args[0]` inside the rootfs without ever leaving it:
//! paths are resolved with `openat2(RESOLVE_IN_ROOT)`, so `..` and symlinks
//! (absolute or relative) stay inside the rootfs.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::Bundle;
use crate::state::WorkloadKind;
use crate::{Error, Result};

pub const WASM_MAGIC: &[u8; 4] = b"\0asm";
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The module a Wasm container runs, read before the container starts.
pub struct WasmModule {
    /// The path inside the rootfs.
    pub guest_path: PathBuf,
    pub bytes: Vec<u8>,
}

pub enum Workload {
    Wasm(WasmModule),
    Native,
}

impl Workload {
    pub fn kind(&self) -> WorkloadKind {
        match self {
            Workload::Wasm(_) => WorkloadKind::Wasm,
            Workload::Native => WorkloadKind::Native,
        }
    }
}

/// Decides the workload and, for Wasm, reads the module.
///
/// Wasm when an annotation says so (`run.oci.handler=wasm`,
/// `module.wasm.image/variant=compat|compat-smart`), when `process.args[0]`
/// ends in `.wasm`, or when that file starts with `\0asm`. A Kubernetes
/// sandbox (pause) container is never Wasm.
pub fn detect(bundle: &Bundle) -> Result<Workload> {
    if bundle.annotation("io.kubernetes.cri.container-type") == Some("sandbox") {
        return Ok(Workload::Native);
    }
    let by_annotation = bundle.annotation("run.oci.handler") == Some("wasm")
        || matches!(
            bundle.annotation("module.wasm.image/variant"),
            Some("compat" | "compat-smart")
        );
    let arg0 = &bundle.args()[0];
    let by_suffix = arg0.ends_with(".wasm");
    let found = match in_bind_mount(bundle, arg0) {
        Some((guest, opened)) => opened.map(|fd| (guest, fd)),
        None => find_program(bundle, arg0),
    };
    let (guest_path, file) = match found {
        Ok(f) => f,
        Err(e) if by_annotation || by_suffix => {
            // Lower-case errno words: clients map "no such file or
            // directory" to exit status 127 (Docker, podman).
            let why = match e.raw_os_error() {
                Some(libc::ENOENT) => "no such file or directory".to_string(),
                Some(libc::EACCES) => "permission denied".to_string(),
                _ => e.to_string(),
            };
            return Err(Error::Config(format!(
                "process.args[0]: Wasm module {arg0:?}: {why} (in rootfs {})",
                bundle.rootfs.display()
            )));
        }
        // Native programs that are missing are reported when exec'd.
        Err(_) => return Ok(Workload::Native),
    };
    let mut file = File::from(file);
    let mut magic = [0u8; 4];
    let is_wasm_magic = file.read_exact(&mut magic).is_ok() && &magic == WASM_MAGIC;
    if !(by_annotation || by_suffix || is_wasm_magic) {
        return Ok(Workload::Native);
    }
    let mut bytes = magic.to_vec();
    file.read_to_end(&mut bytes).map_err(|e| {
        Error::Config(format!(
            "process.args[0]: read Wasm module {}: {e}",
            guest_path.display()
        ))
    })?;
    Ok(Workload::Wasm(WasmModule { guest_path, bytes }))
}

/// `process.args[0]` under the destination of a bind mount (a volume): the
/// file is not in the rootfs but in the mount's source, which is where it is
/// read from (the module is read before the mounts exist), resolved inside
/// that source as the mount will show it. `None` when no bind mount covers
/// the path (or `arg0` is a bare name, looked up in the rootfs's `PATH`).
fn in_bind_mount(bundle: &Bundle, arg0: &str) -> Option<(PathBuf, std::io::Result<OwnedFd>)> {
    if !arg0.contains('/') {
        return None;
    }
    let guest = lexical_clean(&bundle.process().cwd().join(arg0));
    let mounts = bundle.spec.mounts().as_ref()?;
    // The last mount over a path is the one that shows.
    let m = mounts.iter().rev().find(|m| {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .as_ref()
                .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"));
        bind && m.source().is_some()
            && guest.starts_with(lexical_clean(&Path::new("/").join(m.destination())))
    })?;
    let dest = lexical_clean(&Path::new("/").join(m.destination()));
    let rest = guest.strip_prefix(&dest).unwrap_or(Path::new(""));
    let source = m.source().as_ref()?;
    let source = if source.is_absolute() {
        source.clone()
    } else {
        bundle.path.join(source)
    };
    let opened = (|| {
        let fd = if rest.as_os_str().is_empty() {
            let c = CString::new(source.as_os_str().as_bytes())?;
            // SAFETY: a valid C string; the returned fd is checked and owned.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: fd is fresh and ours.
            unsafe { OwnedFd::from_raw_fd(fd) }
        } else {
            let dir = open_dir(&source)?;
            open_in_root_flags(&dir, rest, libc::O_RDONLY | libc::O_NONBLOCK)?
        };
        if !File::from(fd.try_clone()?).metadata()?.is_file() {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(fd)
    })();
    Some((guest, opened))
}

/// `path` without `.`, `..` (never above `/`) or repeated separators, by
/// its text alone.
fn lexical_clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// `HOME` as runc sets it when `env` has none (or an empty one): the home
/// of `uid` in the container's `/etc/passwd`, else `/`.
pub fn fill_home(root: &OwnedFd, uid: u32, env: &mut Vec<String>) {
    if env
        .iter()
        .any(|kv| kv.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()))
    {
        return;
    }
    let mut passwd = String::new();
    if let Ok(fd) = open_in_root(root, Path::new("/etc/passwd")) {
        let _ = File::from(fd).take(1 << 20).read_to_string(&mut passwd);
    }
    let home = passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>() == Ok(uid)).then(|| f[5].to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    env.retain(|kv| !kv.starts_with("HOME="));
    env.push(format!("HOME={home}"));
}

/// Resolves `arg0` as an exec would inside the container: a path with a `/`
/// is taken relative to `process.cwd`, a bare name is looked up in the
/// container's `PATH` (then in the cwd). Returns the guest path and the open
/// regular file.
pub fn find_program(bundle: &Bundle, arg0: &str) -> std::io::Result<(PathBuf, OwnedFd)> {
    let root = open_dir(&bundle.rootfs)?;
    find_program_in(&root, bundle.process().cwd(), bundle.env(), arg0)
}

/// [`find_program`] in the root `root` (a directory fd), from `cwd`, with
/// the `PATH` of `env`.
pub fn find_program_in(
    root: &OwnedFd,
    cwd: &Path,
    env: &[String],
    arg0: &str,
) -> std::io::Result<(PathBuf, OwnedFd)> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if arg0.contains('/') {
        candidates.push(cwd.join(arg0));
    } else {
        let path_var = env
            .iter()
            .find_map(|kv| kv.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        for dir in path_var.split(':').filter(|d| !d.is_empty()) {
            candidates.push(cwd.join(dir).join(arg0));
        }
        candidates.push(cwd.join(arg0));
    }
    let mut last = std::io::Error::from_raw_os_error(libc::ENOENT);
    for c in candidates {
        // O_NONBLOCK: a fifo planted as the program must not hang us.
        match open_in_root_flags(root, &c, libc::O_RDONLY | libc::O_NONBLOCK) {
            Ok(fd) => {
                let meta = File::from(fd.try_clone()?).metadata()?;
                if meta.is_file() {
                    return Ok((c, fd));
                }
                last = std::io::Error::from_raw_os_error(libc::EACCES);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

pub fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a valid C string; the returned fd is checked and owned.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat2(root, path, O_RDONLY, RESOLVE_IN_ROOT)`: `path` is resolved as if
/// `root` were `/`, whatever `..` or symlinks it meets.
pub fn open_in_root(root: &OwnedFd, path: &Path) -> std::io::Result<OwnedFd> {
    open_in_root_flags(root, path, libc::O_RDONLY)
}

/// [`open_in_root`] with other open flags (`O_PATH | O_DIRECTORY`, …).
pub fn open_in_root_flags(root: &OwnedFd, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_IN_ROOT: u64 = 0x10;
    let c = CString::new(path.as_os_str().as_bytes())?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: valid dirfd, C string and open_how of the size we pass.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_stays_in_root() {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::write(tmp.path().join("outside"), "host").unwrap();
        std::fs::write(rootfs.join("inside"), "container").unwrap();
        std::os::unix::fs::symlink("/outside", rootfs.join("bin/abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", rootfs.join("bin/rel")).unwrap();
        let root = open_dir(&rootfs).unwrap();
        for p in ["/../outside", "/bin/abs", "/bin/rel"] {
            assert!(open_in_root(&root, Path::new(p)).is_err(), "{p} escaped");
        }
        std::os::unix::fs::symlink("/inside", rootfs.join("bin/ok")).unwrap();
        let mut s = String::new();
        File::from(open_in_root(&root, Path::new("/bin/ok")).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "container");
    }
}
