//! The Wasm executor, seen from the runtime: `librunwasm_wasm.so` opened with
//! `dlopen` in a Wasm container's init process only, and driven through its C
//! ABI (documented in `crates/runwasm-wasm/src/lib.rs`). Linking it instead
//! would make every `runwasm` call load libwasmedge and LLVM (~19 ms).

use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Error, Result};

pub const LIBRARY_NAME: &str = "librunwasm_wasm.so";
/// Overrides where the executor library is looked for.
pub const LIBRARY_ENV: &str = "RUNWASM_WASM_LIB";
/// ABI 1: load/instantiate/run. ABI 2 adds AOT (compile, load_file,
/// engine version, has_aot_section); with a version-1 library AOT is off.
/// ABI 3 adds the speculative run `auto` decides with; with an older
/// library `auto` decides from earlier runs only.
const ABI_VERSION: u32 = 3;
const ERR_CAP: usize = 1024;

type AbiVersionFn = unsafe extern "C" fn() -> u32;
type LoadFn = unsafe extern "C" fn(*const u8, usize, *mut u8, usize) -> *mut c_void;
type InstantiateFn =
    unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut u8, usize) -> *mut c_void;
type RunFn = unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> i32;
type CompileFn = unsafe extern "C" fn(*const u8, usize, *const libc::c_char, *mut u8, usize) -> i32;
type LoadFileFn = unsafe extern "C" fn(*const libc::c_char, *mut u8, usize) -> *mut c_void;
type VersionFn = unsafe extern "C" fn() -> *const libc::c_char;
type HasAotFn = unsafe extern "C" fn(*const u8, usize) -> i32;
type SpeculateFn =
    unsafe extern "C" fn(*const u8, usize, *const u8, usize, u64, *mut u8, usize) -> i32;

/// The WASI view of the container given to the VM.
#[derive(Debug, Serialize)]
pub struct WasiConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub preopens: Vec<Preopen>,
    pub max_memory_pages: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct Preopen {
    pub guest: String,
    pub host: String,
}

/// How a module's run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The WASI exit code.
    Exit(i32),
    /// A trap, with WasmEdge's description of it.
    Trap(String),
    /// Anything else that stopped the module from running.
    Failed(String),
}

/// A loaded executor library.
pub struct WasmEngine {
    // Kept open for the life of the process: the function pointers below
    // point into it.
    _lib: libloading::os::unix::Library,
    load: LoadFn,
    instantiate: InstantiateFn,
    run: RunFn,
    aot: Option<AotFns>,
    speculate: Option<SpeculateFn>,
}

#[derive(Clone, Copy)]
struct AotFns {
    compile: CompileFn,
    load_file: LoadFileFn,
    version: VersionFn,
    has_aot: HasAotFn,
}

/// A validated module, not yet instantiated.
pub struct Loaded(*mut c_void);
/// An instantiated module, ready to run `_start`.
pub struct Instance(*mut c_void);

impl WasmEngine {
    /// Finds and opens the executor library: `$RUNWASM_WASM_LIB`, next to
    /// the runwasm binary, `../lib/runwasm/` beside it, then
    /// `/usr/local/lib/runwasm` and `/usr/lib/runwasm`.
    pub fn open() -> Result<Self> {
        let candidates = library_candidates();
        let path = candidates.iter().find(|p| p.exists()).ok_or_else(|| {
            Error::other(format!(
                "the Wasm executor {LIBRARY_NAME} was not found (looked in {}); install it beside the runwasm binary or set {LIBRARY_ENV}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        Self::open_path(path)
    }

    pub fn open_path(path: &Path) -> Result<Self> {
        let fail = |e: libloading::Error| {
            Error::other(format!("load Wasm executor {}: {e}", path.display()))
        };
        // SAFETY: loading our own executor library, whose initialisers are
        // WasmEdge's and LLVM's; RTLD_LAZY binds symbols on first use, which
        // keeps start-up short.
        let lib = unsafe {
            libloading::os::unix::Library::open(
                Some(path),
                libloading::os::unix::RTLD_LAZY | libloading::os::unix::RTLD_LOCAL,
            )
        }
        .map_err(fail)?;
        // SAFETY: the symbols have the types of ABI version 1, checked first.
        unsafe {
            let version: AbiVersionFn = *lib.get(b"runwasm_wasm_abi_version\0").map_err(fail)?;
            let found = version();
            if !(1..=ABI_VERSION).contains(&found) {
                return Err(Error::other(format!(
                    "Wasm executor {} speaks ABI {found}, runwasm needs {ABI_VERSION}",
                    path.display()
                )));
            }
            let load: LoadFn = *lib.get(b"runwasm_wasm_load\0").map_err(fail)?;
            let instantiate: InstantiateFn =
                *lib.get(b"runwasm_wasm_instantiate\0").map_err(fail)?;
            let run: RunFn = *lib.get(b"runwasm_wasm_run\0").map_err(fail)?;
            let aot = if found >= 2 {
                Some(AotFns {
                    compile: *lib.get(b"runwasm_wasm_compile\0").map_err(fail)?,
                    load_file: *lib.get(b"runwasm_wasm_load_file\0").map_err(fail)?,
                    version: *lib.get(b"runwasm_wasm_engine_version\0").map_err(fail)?,
                    has_aot: *lib.get(b"runwasm_wasm_has_aot_section\0").map_err(fail)?,
                })
            } else {
                None
            };
            let speculate = if found >= 3 {
                Some(*lib.get(b"runwasm_wasm_speculate\0").map_err(fail)?)
            } else {
                None
            };
            Ok(WasmEngine {
                _lib: lib,
                load,
                instantiate,
                run,
                aot,
                speculate,
            })
        }
    }

    /// Parses and validates a module.
    pub fn load(&self, bytes: &[u8]) -> Result<Loaded> {
        let mut err = [0u8; ERR_CAP];
        // SAFETY: bytes/err are valid for the lengths passed.
        let h = unsafe { (self.load)(bytes.as_ptr(), bytes.len(), err.as_mut_ptr(), ERR_CAP) };
        if h.is_null() {
            return Err(Error::other(message(&err)));
        }
        Ok(Loaded(h))
    }

    /// Compiles `bytes` with WasmEdge's AOT compiler into `out` (a universal
    /// wasm).
    pub fn compile(&self, bytes: &[u8], out: &Path) -> Result<()> {
        let aot = self.aot_fns()?;
        let path = path_c(out)?;
        let mut err = [0u8; ERR_CAP];
        // SAFETY: valid buffers and a NUL-terminated path.
        let rc = unsafe {
            (aot.compile)(
                bytes.as_ptr(),
                bytes.len(),
                path.as_ptr(),
                err.as_mut_ptr(),
                ERR_CAP,
            )
        };
        if rc != 0 {
            return Err(Error::other(format!("AOT compile: {}", message(&err))));
        }
        Ok(())
    }

    /// [`Self::compile`] in a child process. LLVM compiles with threads that
    /// outlive the compile; a container's init must stay single-threaded
    /// (capabilities, seccomp and a later `setns` are per thread), so the
    /// compile is forked off and only its result file comes back.
    pub fn compile_in_child(&self, bytes: &[u8], out: &Path) -> Result<()> {
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 fills two fds, checked.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(Error::io(
                "pipe for the AOT compile",
                std::io::Error::last_os_error(),
            ));
        }
        let (rd, wr) = (fds[0], fds[1]);
        // SAFETY: the init is single-threaded here; the child only compiles,
        // writes its error (if any) to the pipe and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: closing our own fds.
            unsafe {
                libc::close(rd);
                libc::close(wr);
            }
            return Err(Error::io("fork for the AOT compile", e));
        }
        if pid == 0 {
            // SAFETY: in the child: our own fds, then _exit.
            unsafe {
                libc::close(rd);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                let code = match self.compile(bytes, out) {
                    Ok(()) => 0,
                    Err(e) => {
                        let m = e.to_string();
                        libc::write(wr, m.as_ptr().cast(), m.len());
                        1
                    }
                };
                libc::_exit(code);
            }
        }
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(wr) };
        // SAFETY: the read end is ours; File takes it over.
        let mut r = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(rd) };
        let mut msg = String::new();
        let _ = std::io::Read::read_to_string(&mut r, &mut msg);
        let mut status = 0;
        // SAFETY: reaping our own child.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            return Ok(());
        }
        if msg.is_empty() {
            msg = if libc::WIFSIGNALED(status) {
                format!(
                    "AOT compile: the compiler process was killed by signal {}",
                    libc::WTERMSIG(status)
                )
            } else {
                "AOT compile: the compiler process failed".into()
            };
        }
        Err(Error::other(msg))
    }

    /// Whether a speculative run can tell a compute-bound module (ABI 3).
    pub fn can_speculate(&self) -> bool {
        self.speculate.is_some()
    }

    /// Interprets the module in a throwaway child process, as nobody with
    /// no capabilities, fds 0-2 on /dev/null and no preopened directory,
    /// for at most `budget`
    /// instructions and `deadline` of wall time: `Some(true)` when it was
    /// still computing at the budget, `Some(false)` when it ended on its
    /// own, `None` when that could not be learnt (it blocked, or the child
    /// failed).
    pub fn speculate_in_child(
        &self,
        bytes: &[u8],
        config: &WasiConfig,
        budget: u64,
        deadline: std::time::Duration,
    ) -> Option<bool> {
        let speculate = self.speculate?;
        let json = serde_json::to_vec(config).ok()?;
        // SAFETY: the init is single-threaded; the child only redirects its
        // own stdio, runs the module and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return None;
        }
        if pid == 0 {
            // SAFETY: in the child: its own fds, then the ABI call, _exit.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null < 0 {
                    libc::_exit(3);
                }
                for fd in 0..3 {
                    libc::dup2(null, fd);
                }
                // The guest's code runs here before the container is
                // hardened: as nobody, with no capability and no way to
                // gain one (the real run is hardened as config.json says).
                libc::setgroups(0, std::ptr::null());
                if libc::setresgid(65534, 65534, 65534) != 0
                    || libc::setresuid(65534, 65534, 65534) != 0
                    || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                {
                    libc::_exit(3);
                }
                let mut err = [0u8; ERR_CAP];
                let rc = speculate(
                    bytes.as_ptr(),
                    bytes.len(),
                    json.as_ptr(),
                    json.len(),
                    budget,
                    err.as_mut_ptr(),
                    ERR_CAP,
                );
                libc::_exit(match rc {
                    0 => 0,
                    1 => 1,
                    _ => 2,
                });
            }
        }
        let pidfd = crate::proc::pidfd_of_child(pid);
        let ended = match &pidfd {
            Some(fd) => crate::proc::wait_exit(fd, deadline),
            None => false,
        };
        if !ended {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: reaping our own child.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return None;
            }
        }
        if !ended || !libc::WIFEXITED(status) {
            return None;
        }
        match libc::WEXITSTATUS(status) {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// Loads a file that may carry an AOT section (its native code is used).
    pub fn load_file(&self, path: &Path) -> Result<Loaded> {
        let aot = self.aot_fns()?;
        let p = path_c(path)?;
        let mut err = [0u8; ERR_CAP];
        // SAFETY: NUL-terminated path and a valid error buffer.
        let h = unsafe { (aot.load_file)(p.as_ptr(), err.as_mut_ptr(), ERR_CAP) };
        if h.is_null() {
            return Err(Error::other(message(&err)));
        }
        Ok(Loaded(h))
    }

    /// The engine's version, part of the AOT cache key.
    pub fn version(&self) -> String {
        match self.aot {
            // SAFETY: the library returns a static NUL-terminated string.
            Some(a) => unsafe { CStr::from_ptr((a.version)()) }
                .to_string_lossy()
                .into_owned(),
            None => "unknown".into(),
        }
    }

    /// Whether this executor can compile ahead of time.
    pub fn has_aot(&self) -> bool {
        self.aot.is_some()
    }

    fn aot_fns(&self) -> Result<AotFns> {
        self.aot
            .ok_or_else(|| Error::other("this Wasm executor has no AOT compiler (ABI 1)"))
    }

    /// Whether `bytes` already carries a WasmEdge AOT section.
    pub fn has_aot_section(&self, bytes: &[u8]) -> bool {
        // SAFETY: a valid buffer.
        match self.aot {
            // SAFETY: a valid buffer.
            Some(a) => unsafe { (a.has_aot)(bytes.as_ptr(), bytes.len()) == 1 },
            None => false,
        }
    }

    /// Sets up WASI and instantiates; unknown imports fail here.
    pub fn instantiate(&self, loaded: Loaded, config: &WasiConfig) -> Result<Instance> {
        let json = serde_json::to_vec(config).map_err(|e| Error::other(e.to_string()))?;
        let mut err = [0u8; ERR_CAP];
        // SAFETY: `loaded` came from `load` and is consumed here; buffers valid.
        let h = unsafe {
            (self.instantiate)(
                loaded.0,
                json.as_ptr(),
                json.len(),
                err.as_mut_ptr(),
                ERR_CAP,
            )
        };
        if h.is_null() {
            return Err(Error::other(message(&err)));
        }
        Ok(Instance(h))
    }

    /// Runs `_start` to the end.
    pub fn run(&self, instance: Instance) -> Outcome {
        let mut err = [0u8; ERR_CAP];
        // SAFETY: `instance` came from `instantiate` and is consumed here.
        let rc = unsafe { (self.run)(instance.0, err.as_mut_ptr(), ERR_CAP) };
        match rc {
            n if n >= 0 => Outcome::Exit(n),
            -1 => Outcome::Trap(message(&err)),
            _ => Outcome::Failed(message(&err)),
        }
    }
}

fn path_c(p: &Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|e| Error::other(e.to_string()))
}

fn message(buf: &[u8]) -> String {
    let s = CStr::from_bytes_until_nul(buf)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(buf).into_owned());
    if s.is_empty() {
        "unknown error in the Wasm executor".into()
    } else {
        s
    }
}

fn library_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os(LIBRARY_ENV) {
        v.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        if let Some(dir) = exe.parent() {
            v.push(dir.join(LIBRARY_NAME));
            v.push(dir.join("../lib/runwasm").join(LIBRARY_NAME));
        }
    }
    v.push(Path::new("/usr/local/lib/runwasm").join(LIBRARY_NAME));
    v.push(Path::new("/usr/lib/runwasm").join(LIBRARY_NAME));
    v
}
