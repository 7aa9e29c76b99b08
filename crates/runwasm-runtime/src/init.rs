//! The container's init process, from the moment `create` forks it. It
//! prepares the workload (for Wasm: opens the executor library, loads,
//! validates and instantiates the module, so a bad module fails `create`),
//! reports to `create` over the sync socket, blocks on `exec.fifo` until
//! `start`, then runs the workload and exits with its status.
//!
//! Runs in a fresh fork of a single-threaded process. It never returns: every
//! path ends in `_exit`, so no destructor or atexit handler of the parent runs
//! twice.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::Bundle;
use crate::executor::{Instance, Outcome, WasiConfig, WasmEngine};
use crate::linux::hooks::{self, HookPhase};
use crate::linux::namespaces::Namespaces;
use crate::linux::{rootfs, security};
use crate::workload::Workload;
use crate::{aot, console, fifo, logging, sync, Error, Result};

/// Exit status of a container whose module trapped (128 + SIGABRT, as other
/// Wasm runtimes use).
pub const EXIT_TRAP: i32 = 134;
/// Exit status when the module could not be run after `start`.
pub const EXIT_CANNOT_RUN: i32 = 126;
/// Signals that end the workload with status 128+n (PID 1 of a pid
/// namespace would otherwise ignore them).
pub const EXIT_SIGNALS: [i32; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

pub(crate) struct InitArgs<'a> {
    pub bundle: &'a Bundle,
    pub namespaces: &'a Namespaces,
    pub workload: Workload,
    pub sync: OwnedFd,
    pub fifo: OwnedFd,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub id: &'a str,
    pub aot: aot::AotSettings,
    /// Where the pty master goes when process.terminal is set.
    pub console: Option<OwnedFd>,
    /// runwasm's own fds that may sit in the `--preserve-fds` range.
    pub close_also: Vec<i32>,
}

enum Prepared {
    Wasm(WasmEngine, Instance, Option<aot::History>),
    Native {
        program: CString,
        argv: Vec<CString>,
        envp: Vec<CString>,
    },
}

/// The init process's whole life.
pub(crate) fn run(mut args: InitArgs<'_>) -> ! {
    crate::profile::mark("init: cloned");
    let log_fd = logging::disable();
    // Not dumpable: processes of the container (a shared pid namespace)
    // must not reach our fds or /proc/PID/exe, the runwasm binary (runc's
    // CVE-2019-5736). An exec'd native program gets its own mm anyway.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) };
    reset_signals();
    // Die with `create` until ready is reported: a create killed half-way
    // must not leave an init nobody knows how to find.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // Our own session, as runc's init: the caller's terminal or process
    // group signals (Ctrl-C, hang-up) do not reach the container.
    // SAFETY: setsid has no memory effects.
    unsafe { libc::setsid() };
    let keep = [
        args.sync.as_raw_fd(),
        args.fifo.as_raw_fd(),
        args.console.as_ref().map_or(-1, |c| c.as_raw_fd()),
        crate::profile::fd(),
    ];
    close_fds(args.preserve_fds, &keep);
    for fd in args.close_also.iter().copied().chain(log_fd) {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing runwasm's own descriptor in the child.
            unsafe { libc::close(fd) };
        }
    }

    // Loading WasmEdge (and LLVM with it) is the longest step of a Wasm
    // create and needs nothing from the parent, so it runs while the parent
    // is still placing us in our cgroup. With a new user namespace it waits
    // for the id maps: until then we are an unmapped user.
    let engine = match &args.workload {
        Workload::Wasm(_) if !args.namespaces.new_user() => {
            let engine = WasmEngine::open();
            crate::profile::mark("init: executor loaded (libwasmedge)");
            Some(engine)
        }
        _ => None,
    };
    let (prepared, state) = match setup(&args, engine) {
        Ok(p) => p,
        Err(e) => {
            sync::send_error(&args.sync, &e.to_string());
            exit(1);
        }
    };
    // The pty master has been handed over.
    args.console = None;
    if matches!(prepared, Prepared::Wasm(..)) {
        scrub_proc_strings();
    }
    // Cleared before reporting: `create` may exit the moment it hears us.
    // If it dies before recording `created`, the state still names this
    // pid (status creating) and `delete` kills it.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
    crate::profile::mark("init: ready");
    if !sync::send_ready(&args.sync) {
        // `create` died before it could hear us (the death signal was
        // already cleared): a container nobody finished creating does
        // not wait for a `start`.
        exit(1);
    }
    drop(args.sync);

    let started = match fifo::open_for_start(&args.fifo) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "runwasm: wait for start: {e}");
            exit(1);
        }
    };
    drop(args.fifo);
    // startContainer hooks run before `start` returns (and so before its
    // poststart hooks), with runc's status "created".
    let h = args.bundle.spec.hooks().as_ref();
    let state = in_container(&state, "created");
    if let Err(e) = hooks::run_hooks(h, HookPhase::StartContainer, &state) {
        let _ = writeln!(std::io::stderr(), "runwasm: {e}");
        exit(EXIT_CANNOT_RUN);
    }
    fifo::signal_started(started);
    crate::profile::mark("init: started");
    // Seccomp with noNewPrivileges is loaded last, right before the
    // workload, as runc does.
    if let Err(e) = security::harden_last(&args.bundle.spec) {
        let _ = writeln!(std::io::stderr(), "runwasm: {e}");
        exit(EXIT_CANNOT_RUN);
    }

    crate::profile::mark("init: hardened");
    crate::profile::close();
    match prepared {
        Prepared::Wasm(engine, instance, history) => run_wasm(&engine, instance, history),
        Prepared::Native {
            program,
            argv,
            envp,
        } => exec_native(&program, &argv, &envp),
    }
}

/// Everything between clone and `ready`: namespaces, the root filesystem,
/// the workload, then the hardening of config.json (hostname, sysctl,
/// rlimits, user, capabilities, no_new_privs, seccomp).
///
/// With a mount namespace the rootfs is prepared (mounts, devices), the
/// module is loaded while the host is still visible, then pivot_root, and
/// the module is instantiated in the container's own root, so WASI `/` is
/// the container's `/`. Without one (runc refuses that; we keep it for
/// configs with no namespaces at all) the module sees the rootfs through a
/// host-path preopen and a native program is chrooted.
fn setup(args: &InitArgs<'_>, engine: Option<Result<WasmEngine>>) -> Result<(Prepared, String)> {
    // The parent's go: user namespace maps written; it brings the state
    // JSON for our hooks.
    let Some(state) = sync::wait_go(&args.sync) else {
        exit(1)
    };
    crate::profile::mark("init: go received");
    enter_namespaces(args)?;
    if args.namespaces.clone_flags & libc::CLONE_NEWCGROUP != 0 {
        // SAFETY: unshare with a flag; we are in our cgroup by now.
        if unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
            return Err(Error::io(
                "unshare the cgroup namespace",
                std::io::Error::last_os_error(),
            ));
        }
    }
    let bundle = args.bundle;
    let spec = &bundle.spec;
    let execs = matches!(args.workload, Workload::Native);
    if !args.namespaces.has(libc::CLONE_NEWNS) {
        let loaded = load(bundle, &args.workload, &args.aot, engine)?;
        let state = create_hooks(args, state)?;
        setup_console(args, false)?;
        let prepared = instantiate(bundle, loaded, &bundle.rootfs)?;
        if execs {
            enter_rootfs(bundle).map_err(Error::Other)?;
        }
        security::harden(spec, execs)?;
        return Ok((prepared, state));
    }
    crate::profile::mark("init: namespaces joined");
    rootfs::prepare_rootfs(spec, &bundle.path, &bundle.rootfs)?;
    crate::profile::mark("init: mounts");
    let loaded = load(bundle, &args.workload, &args.aot, engine)?;
    let state = create_hooks(args, state)?;
    rootfs::enter_rootfs(&bundle.rootfs, args.no_pivot)?;
    crate::profile::mark("init: pivot_root");
    let cwd = bundle.process().cwd();
    nix::unistd::chdir(cwd).map_err(|e| {
        Error::other(format!(
            "chdir to cwd ({}) set in config.json failed: {}",
            cwd.display(),
            e.desc()
        ))
    })?;
    // The console after the mounts, before /dev may turn read-only (runc).
    setup_console(args, true)?;
    security::harden_namespaces(spec)?;
    rootfs::finish_rootfs(spec)?;
    crate::profile::mark("init: rootfs finished");
    let prepared = instantiate(bundle, loaded, Path::new("/"))?;
    crate::profile::mark("init: instantiated");
    security::harden_process(spec, execs)?;
    Ok((prepared, state))
}

/// process.terminal: a pty from the container's /dev/ptmx, bound on
/// /dev/console, its master sent to the console socket, its slave made our
/// stdio and controlling terminal (init is a session leader).
fn setup_console(args: &InitArgs<'_>, in_container_root: bool) -> Result<()> {
    let Some(sock) = args.console.as_ref() else {
        return Ok(());
    };
    console::hand_over(
        sock.as_raw_fd(),
        args.bundle.process().console_size().as_ref(),
        in_container_root,
    )
}

/// The state JSON as hooks in the container's namespaces get it: `status`,
/// and `pid` as seen from inside (1 in a pid namespace), as runc does.
fn in_container(state: &str, status: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["status"] = status.into();
            v["pid"] = std::process::id().into();
            v.to_string()
        }
        Err(_) => state.to_string(),
    }
}

/// The hooks of `create`, once the mounts exist and before pivot_root:
/// prestart and createRuntime run by the parent in the runtime's
/// namespaces, then createContainer here, in the container's.
fn create_hooks(args: &InitArgs<'_>, state: String) -> Result<String> {
    let h = args.bundle.spec.hooks().as_ref();
    let mut state = state;
    if hooks::has(h, HookPhase::Prestart) || hooks::has(h, HookPhase::CreateRuntime) {
        match sync::request_hooks(&args.sync) {
            Some(s) => state = s,
            None => exit(1),
        }
    }
    hooks::run_hooks(
        h,
        HookPhase::CreateContainer,
        &in_container(&state, "creating"),
    )?;
    Ok(state)
}

/// Becomes the root of a new user namespace (its id maps are written by
/// now) and joins the namespaces given by path.
fn enter_namespaces(args: &InitArgs<'_>) -> Result<()> {
    let ns = args.namespaces;
    if ns.new_user() {
        let maps_root =
            |m: &[oci_spec::runtime::LinuxIdMapping]| m.iter().any(|m| m.container_id() == 0);
        // SAFETY: plain credential syscalls in a single-threaded process.
        unsafe {
            if maps_root(&ns.gid_mappings) && libc::setresgid(0, 0, 0) != 0 {
                return Err(Error::io(
                    "setresgid(0) in the user namespace",
                    std::io::Error::last_os_error(),
                ));
            }
            if maps_root(&ns.uid_mappings) && libc::setresuid(0, 0, 0) != 0 {
                return Err(Error::io(
                    "setresuid(0) in the user namespace",
                    std::io::Error::last_os_error(),
                ));
            }
            // A credential change clears these two: set them again.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::prctl(libc::PR_SET_DUMPABLE, 0);
        }
    }
    ns.join_paths()?;
    if !args.no_new_keyring {
        // A session keyring of its own: the caller's keys stay out (runc).
        let name = std::ffi::CString::new(format!("_ses.{}", args.id)).unwrap_or_default();
        // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, name).
        let rc = unsafe { libc::syscall(libc::SYS_keyctl, 1, name.as_ptr()) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            // Kernels without keyrings (or a seccomp'd host) are not fatal.
            if e.raw_os_error() != Some(libc::ENOSYS) && e.raw_os_error() != Some(libc::EPERM) {
                return Err(Error::io("join a new session keyring", e));
            }
        }
    }
    if ns.clone_flags & libc::CLONE_NEWNET != 0 {
        loopback_up();
    }
    Ok(())
}

/// Brings `lo` up in a new network namespace, as runc does.
fn loopback_up() {
    // SAFETY: an AF_INET datagram socket for SIOC{G,S}IFFLAGS on "lo".
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
        }
        libc::close(sock);
    }
}

/// Overwrites the memory /proc/PID/environ and /proc/PID/cmdline show:
/// they are the `runwasm create` process's, and a Wasm guest can read
/// them through the container's /proc.
fn scrub_proc_strings() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return;
    };
    // Fields 48-51 (arg_start, arg_end, env_start, env_end); `rest` starts
    // at field 3.
    let f: Vec<usize> = rest
        .split_ascii_whitespace()
        .skip(45)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    if f.len() != 4 {
        return;
    }
    for (start, end) in [(f[0], f[1]), (f[2], f[3])] {
        if end > start && end - start < (1 << 20) {
            // SAFETY: the kernel reports these as our own mapped argv and
            // environment strings; nothing in this process reads them any
            // more (std::env was read before fork).
            unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
        }
    }
}

/// Runs `_start` and exits with the module's status (134 after a trap, with
/// one line on stderr naming it).
pub(crate) fn run_wasm(
    engine: &WasmEngine,
    instance: Instance,
    history: Option<aot::History>,
) -> ! {
    let started = std::time::Instant::now();
    let outcome = engine.run(instance);
    if let Some(h) = history {
        h.record(started.elapsed());
    }
    match outcome {
        Outcome::Exit(code) => exit(code),
        Outcome::Trap(msg) => {
            let _ = writeln!(std::io::stderr(), "runwasm: wasm trap: {msg}");
            exit(EXIT_TRAP)
        }
        Outcome::Failed(msg) => {
            let _ = writeln!(std::io::stderr(), "runwasm: cannot run module: {msg}");
            exit(EXIT_CANNOT_RUN)
        }
    }
}

pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process without running the parent's atexit
    // handlers or destructors, which belong to the `create` process.
    unsafe { libc::_exit(code) }
}

extern "C" fn exit_on_signal(sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

/// Empties the signal mask (`run` blocks signals to forward them) and makes
/// the exit signals end the process with 128+n, even in a tight Wasm loop.
pub(crate) fn reset_signals() {
    // SAFETY: plain sigaction/sigprocmask calls with initialised structs.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        for sig in EXIT_SIGNALS {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = exit_on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Closes every fd but 0-2, the `--preserve-fds` ones (3..3+n) and `keep`,
/// so nothing the caller leaked (the shim's fd 3) reaches the workload.
pub(crate) fn close_fds(preserve: i32, keep: &[i32]) {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&k| k >= 0)
        .map(|&k| k as u32)
        .collect();
    keep.sort_unstable();
    let mut from = 3 + preserve.max(0) as u32;
    for k in keep {
        if k < from {
            continue;
        }
        if k > from {
            close_range(from, k - 1);
        }
        from = k + 1;
    }
    close_range(from, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: close_range only closes descriptors; the ones we still need
    // are outside [first, last].
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if rc != 0 {
        // Kernels before 5.9: close one by one.
        let max = std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(1024);
        for fd in first..=last.min(max) {
            // SAFETY: closing an fd in the range we own.
            unsafe { libc::close(fd as i32) };
        }
    }
}

/// A workload loaded but not yet instantiated.
enum Loaded {
    Wasm(
        WasmEngine,
        crate::executor::Loaded,
        PathBuf,
        Option<aot::History>,
    ),
    Native(Prepared),
}

/// Loads what must be read from the host: for Wasm the executor library
/// and the module (parsed and validated); for a native program its path.
/// `engine`: the executor if it was opened already.
fn load(
    bundle: &Bundle,
    workload: &Workload,
    settings: &aot::AotSettings,
    engine: Option<Result<WasmEngine>>,
) -> Result<Loaded> {
    match workload {
        Workload::Wasm(module) => {
            let engine = match engine {
                Some(opened) => opened?,
                None => {
                    let engine = WasmEngine::open()?;
                    crate::profile::mark("init: executor loaded (libwasmedge)");
                    engine
                }
            };
            let (loaded, history) = aot::load_module(
                &engine,
                settings,
                &module.bytes,
                &crate::wasi::speculative_config(&bundle.spec),
            )
            .map_err(|e| Error::other(format!("module {}: {e}", module.guest_path.display())))?;
            crate::profile::mark("init: module loaded and validated");
            Ok(Loaded::Wasm(
                engine,
                loaded,
                module.guest_path.clone(),
                history,
            ))
        }
        Workload::Native => Ok(Loaded::Native(prepare_native(bundle)?)),
    }
}

/// Instantiates a Wasm module with WASI set up from config.json; `root` is
/// where the container's `/` is seen from here (`/` after pivot_root).
fn instantiate(bundle: &Bundle, loaded: Loaded, root: &Path) -> Result<Prepared> {
    let (engine, module, guest_path, history) = match loaded {
        Loaded::Wasm(e, m, p, h) => (e, m, p, h),
        Loaded::Native(p) => return Ok(p),
    };
    let config = WasiConfig {
        args: bundle.args().to_vec(),
        env: bundle.env().to_vec(),
        preopens: crate::wasi::preopens(root, bundle.process().cwd())?,
        max_memory_pages: crate::wasi::max_memory_pages(&bundle.spec),
    };
    let instance = engine
        .instantiate(module, &config)
        .map_err(|e| Error::other(format!("module {}: {e}", guest_path.display())))?;
    Ok(Prepared::Wasm(engine, instance, history))
}

/// Native programs: find the executable inside the rootfs the way runc
/// does, so a missing program fails `create` with runc's words. `setup`
/// then enters the rootfs (see `enter_rootfs`).
fn prepare_native(bundle: &Bundle) -> Result<Prepared> {
    let cs = |s: &[u8]| CString::new(s).map_err(|e| Error::other(e.to_string()));
    let arg0 = &bundle.args()[0];
    let program = find_executable(bundle, arg0)?;
    let argv = bundle
        .args()
        .iter()
        .map(|a| cs(a.as_bytes()))
        .collect::<Result<_>>()?;
    let envp = bundle
        .env()
        .iter()
        .map(|e| cs(e.as_bytes()))
        .collect::<Result<_>>()?;
    Ok(Prepared::Native {
        program: cs(program.as_os_str().as_bytes())?,
        argv,
        envp,
    })
}

/// chroot into the rootfs and change to `process.cwd` (created if missing).
fn enter_rootfs(bundle: &Bundle) -> std::result::Result<(), String> {
    nix::unistd::chroot(&bundle.rootfs)
        .map_err(|e| format!("chroot {}: {}", bundle.rootfs.display(), e.desc()))?;
    let cwd = bundle.process().cwd();
    let _ = std::fs::create_dir_all(cwd);
    nix::unistd::chdir(cwd).map_err(|e| {
        format!(
            "chdir to cwd ({}) set in config.json failed: {}",
            cwd.display(),
            e.desc()
        )
    })
}

fn find_executable(bundle: &Bundle, arg0: &str) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    match crate::workload::find_program(bundle, arg0) {
        Ok((path, fd)) => {
            let mode = std::fs::File::from(fd)
                .metadata()
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            if mode & 0o111 == 0 {
                return Err(Error::other(format!("exec: {arg0:?}: permission denied")));
            }
            Ok(path)
        }
        Err(_) if !arg0.contains('/') => Err(Error::other(format!(
            "exec: {arg0:?}: executable file not found in $PATH"
        ))),
        Err(e) => Err(Error::other(format!("exec: {arg0:?}: {}", os_reason(&e)))),
    }
}

pub(crate) fn os_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) => "no such file or directory".into(),
        Some(libc::EACCES) => "permission denied".into(),
        _ => e.to_string(),
    }
}

pub(crate) fn exec_native(program: &CString, argv: &[CString], envp: &[CString]) -> ! {
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: default dispositions for the program (Rust ignores SIGPIPE;
    // an ignored signal would stay ignored across exec); then execve with
    // NULL-terminated arrays of valid C strings.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        for sig in EXIT_SIGNALS {
            libc::signal(sig, libc::SIG_DFL);
        }
        libc::execve(program.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr());
    }
    let e = std::io::Error::last_os_error();
    let _ = writeln!(
        std::io::stderr(),
        "runwasm: exec {:?}: {}",
        program,
        os_reason(&e)
    );
    exit(if e.raw_os_error() == Some(libc::ENOENT) {
        127
    } else {
        126
    })
}
