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

/// What `execve` allows for the strings of a native program, from the
/// kernel's `bprm_stack_limits` and `copy_strings` (fs/exec.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    /// The page size: one string may take at most 32 pages, NUL included
    /// (`MAX_ARG_STRLEN`).
    pub page_size: u64,
    /// The soft `RLIMIT_STACK` the program is exec'd with: all strings and
    /// their pointers may take a quarter of it, at least 32 pages
    /// (`ARG_MAX`) and at most 6 MiB (three quarters of `_STK_LIM`).
    pub stack_soft: u64,
}

impl ExecLimits {
    /// The limits for a process of `process`: this host's page size and
    /// `process.rlimits`' `RLIMIT_STACK`, else the one runwasm runs with
    /// (which the container inherits).
    pub fn for_process(process: &oci_spec::runtime::Process) -> ExecLimits {
        // SAFETY: sysconf and getrlimit only read; `rl` is a valid out-pointer.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let stack_soft = process
            .rlimits()
            .iter()
            .flatten()
            .find(|r| r.typ() == oci_spec::runtime::PosixRlimitType::RlimitStack)
            .map(|r| r.soft())
            .unwrap_or_else(|| {
                let mut rl = libc::rlimit {
                    rlim_cur: libc::RLIM_INFINITY,
                    rlim_max: libc::RLIM_INFINITY,
                };
                // SAFETY: see above.
                unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut rl) };
                rl.rlim_cur
            });
        ExecLimits {
            page_size: u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096),
            stack_soft,
        }
    }

    /// `MAX_ARG_STRLEN`: the most bytes one string may take, NUL included.
    pub fn max_string(&self) -> u64 {
        self.page_size.saturating_mul(32)
    }

    /// The most bytes all strings and their pointers may take.
    pub fn max_total(&self) -> u64 {
        let stk_lim: u64 = 8 << 20;
        (self.stack_soft / 4)
            .min(stk_lim / 4 * 3)
            .max(self.max_string())
    }
}

/// Why `execve(program, args, env)` would fail with `E2BIG` ("argument
/// list too long") under `limits`, naming the field at fault (`fields`:
/// how the args and env are called, e.g. `process.args`/`process.env`);
/// `None` when it would not. Checked by `create` and `exec` so that such a
/// process is refused up front instead of failing after `start` with 126.
pub fn exec_size_error(
    program: &str,
    args: &[String],
    env: &[String],
    limits: ExecLimits,
    fields: (&str, &str),
) -> Option<String> {
    let max = limits.max_string();
    for (field, list) in [(fields.0, args), (fields.1, env)] {
        for (i, s) in list.iter().enumerate() {
            let n = s.len() as u64 + 1;
            if n > max {
                return Some(format!(
                    "{field}[{i}]: {n} bytes (with its NUL); execve takes at most {max} per \
                     string (MAX_ARG_STRLEN) and would fail with \"argument list too long\""
                ));
            }
        }
    }
    let bytes = |list: &[String]| -> u64 { list.iter().map(|s| s.len() as u64 + 1).sum() };
    let ptr = std::mem::size_of::<usize>() as u64;
    let (arg_bytes, env_bytes) = (bytes(args), bytes(env));
    let pointers = (args.len().max(1) as u64 + env.len() as u64) * ptr;
    let total = arg_bytes + env_bytes + program.len() as u64 + 1 + pointers;
    let limit = limits.max_total();
    if total <= limit {
        return None;
    }
    let (field, other, n, count) = if env_bytes > arg_bytes {
        (fields.1, fields.0, env_bytes, env.len())
    } else {
        (fields.0, fields.1, arg_bytes, args.len())
    };
    let stack = if limits.stack_soft == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        limits.stack_soft.to_string()
    };
    Some(format!(
        "{field}: {count} entries take {n} bytes; with {other} and the program's path, execve \
         would get {total} bytes of strings and pointers, more than the {limit} it allows \
         (ARG_MAX: a quarter of the stack limit {stack}, at most 6 MiB) and would fail with \
         \"argument list too long\""
    ))
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

    /// The limits as measured on Linux 6.x (x86_64, 8 MiB stack): a string
    /// of 131071 bytes plus its NUL is the longest execve takes, and
    /// `/bin/true` with 19417 environment strings of 100 bytes runs while
    /// 19418 fail with E2BIG.
    #[test]
    fn exec_size_matches_the_kernel() {
        let limits = ExecLimits {
            page_size: 4096,
            stack_soft: 8 << 20,
        };
        let args = vec!["/bin/true".to_string()];
        let fields = ("process.args", "process.env");
        let one = |n: usize| vec![format!("A={}", "x".repeat(n - 2))];
        assert_eq!(
            exec_size_error("/bin/true", &args, &one(131_071), limits, fields),
            None
        );
        let e = exec_size_error("/bin/true", &args, &one(131_072), limits, fields).unwrap();
        assert!(e.starts_with("process.env[0]: 131073 bytes"), "{e}");
        let many = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("V{i:07}={}", "x".repeat(90)))
                .collect()
        };
        assert_eq!(
            exec_size_error("/bin/true", &args, &many(19_417), limits, fields),
            None
        );
        let e = exec_size_error("/bin/true", &args, &many(19_418), limits, fields).unwrap();
        assert!(e.starts_with("process.env: 19418 entries"), "{e}");
        // A long argument list is blamed on process.args.
        let e = exec_size_error("/bin/true", &many(19_418), &[], limits, fields).unwrap();
        assert!(e.starts_with("process.args: 19418 entries"), "{e}");
        // A small stack limit still allows ARG_MAX (32 pages); a huge one at
        // most 6 MiB.
        let small = ExecLimits {
            stack_soft: 4096,
            ..limits
        };
        assert_eq!(small.max_total(), 131_072);
        let huge = ExecLimits {
            stack_soft: libc::RLIM_INFINITY,
            ..limits
        };
        assert_eq!(huge.max_total(), 6 << 20);
    }

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
