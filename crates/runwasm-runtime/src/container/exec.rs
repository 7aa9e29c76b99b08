//! `exec`: run another process in a running container, Wasm or native.
//!
//! runwasm forks an intermediate process that (for Wasm) opens the executor
//! library and loads the module while the host is still visible, joins the
//! container's namespaces through `/proc/INIT/ns/*` (user first, mount
//! last), and forks the exec process so it is born in the container's pid
//! namespace; it was put in the container's cgroup before that, so the exec
//! process starts there too. The exec process takes the terminal, applies
//! the process's user, capabilities, rlimits, no_new_privs and the
//! container's seccomp, reports ready, and once runwasm has written the
//! pid file and says go (a runwasm killed before that leaves no process
//! behind), runs the module in a fresh VM with the container's `/`
//! preopened (or execs the program). runwasm is a
//! subreaper, so in the foreground it waits for the exec process and exits
//! with its status; detached, it writes the pid file and exits 0, leaving
//! the process to the caller (the shim, a subreaper too).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Process, Spec};

use crate::container::Container;
use crate::executor::{WasiConfig, WasmEngine};
use crate::init::{self, exit};
use crate::linux::security;
use crate::state::{StateStore, Status};
use crate::sync::{self, Report};
use crate::workload::{self, WASM_MAGIC};
use crate::{console, logging, pidfile, proc, Error, Result};

#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    pub id: String,
    /// A full OCI process JSON (`--process`).
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub tty: bool,
    /// `UID[:GID]`.
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    pub aot: crate::aot::AotSettings,
}

/// The exec process's status (foreground), or 0 once it started (detached).
pub fn exec(store: &StateStore, opts: &ExecOptions) -> Result<i32> {
    if opts.preserve_fds < 0 {
        return Err(Error::other("--preserve-fds must not be negative"));
    }
    let c = Container::load(store, &opts.id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused => return Err(Error::other("cannot exec in a paused container")),
        _ => return Err(Error::other("cannot exec in a stopped container")),
    }
    let (init_pid, init_start) = (c.state.pid, c.state.init_start_time);
    let spec_path = c.state.bundle.join("config.json");
    let spec = crate::config::parse(
        &std::fs::read(&spec_path).map_err(|e| Error::path("read", &spec_path, e))?,
    )
    .map_err(|m| Error::Config(format!("{}: {m}", spec_path.display())))?;
    let mut process = build_process(&spec, opts)?;
    // A terminal we relay gets our terminal's size from the start.
    if process.terminal() == Some(true) && opts.console_socket.is_none() && !opts.detach {
        if let Some((rows, cols)) = console::get_size(0) {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(rows as u64)
                .width(cols as u64)
                .build()
                .map_err(|e| Error::other(e.to_string()))?;
            process.set_console_size(Some(size));
        }
    }
    let mut spec = spec;
    spec.set_process(Some(process.clone()));
    let cgroup = c
        .state
        .cgroup
        .as_ref()
        .map(|p| p.manager(&opts.id))
        .transpose()?;
    let rootfs_path = c.state.rootfs.clone();
    drop(c); // the lock: exec runs alongside other commands
    crate::fault_point!("exec:after-load");

    // The program, resolved in the container's root as the exec process
    // will see it.
    // Without a mount namespace of its own the container's root is its
    // rootfs on the host (init chrooted into it): look there, and chroot
    // the exec process into it too.
    let same_mnt = std::fs::read_link(format!("/proc/{init_pid}/ns/mnt")).ok()
        == std::fs::read_link("/proc/self/ns/mnt").ok();
    let chroot_to = same_mnt.then(|| rootfs_path.clone());
    let root_path = chroot_to
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/proc/{init_pid}/root")));
    let root =
        workload::open_dir(&root_path).map_err(|e| Error::io("open the container's root", e))?;
    let args = process.args().clone().unwrap_or_default();
    let mut env = process.env().clone().unwrap_or_default();
    workload::fill_home(&root, process.user().uid(), &mut env);
    process.set_env(Some(env.clone()));
    spec.set_process(Some(process.clone()));
    let found = workload::find_program_in(&root, process.cwd(), &env, &args[0]);
    let module = match &found {
        Ok((path, fd)) => read_if_wasm(path, fd)?.map(|bytes| (path.clone(), bytes)),
        Err(_) if args[0].ends_with(".wasm") => {
            return Err(Error::other(format!(
                "exec: Wasm module {:?}: no such file or directory in the container",
                args[0]
            )))
        }
        Err(_) => None,
    };
    let program = match (&module, found) {
        (None, Ok((path, _))) => Some(path),
        (None, Err(e)) if !args[0].contains('/') => {
            let _ = e;
            return Err(Error::other(format!(
                "exec: {:?}: executable file not found in $PATH",
                args[0]
            )));
        }
        (None, Err(e)) => {
            return Err(Error::other(format!(
                "exec: {:?}: {}",
                args[0],
                init::os_reason(&e)
            )))
        }
        (Some(_), _) => None,
    };
    if let Some(path) = &program {
        // What execve would refuse (E2BIG) fails here, naming the field.
        let limits = workload::ExecLimits::for_process(&process);
        let env = process.env().as_deref().unwrap_or_default();
        let path = path.to_string_lossy();
        if let Some(msg) = workload::exec_size_error(&path, &args, env, limits, ("args", "env")) {
            return Err(match &opts.process {
                Some(file) => Error::Config(format!("{}: {msg}", file.display())),
                None => Error::other(format!("exec: {msg}")),
            });
        }
    }

    // The terminal: to the console socket, or relayed by us in the
    // foreground; runc's rules.
    let tty = process.terminal() == Some(true);
    let route = crate::console::route(tty, opts.console_socket.as_deref(), !opts.detach)?;
    let (console_sock, relay_end) = match route {
        crate::console::Route::Socket(fd) => (Some(fd), None),
        crate::console::Route::Relay => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| Error::io("socketpair for the console", e))?;
            (Some(OwnedFd::from(theirs)), Some(ours))
        }
        crate::console::Route::None => (None, None),
    };

    let min_fd = 3 + opts.preserve_fds;
    let pair = sync::pair(min_fd)?;
    if !opts.detach {
        // The exec process is our grandchild: be its reaper.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    }
    let ns = namespace_files(init_pid)?;
    // SAFETY: single-threaded; the child ends in _exit or exec.
    let mid = unsafe { libc::fork() };
    if mid < 0 {
        return Err(Error::io("fork", std::io::Error::last_os_error()));
    }
    if mid == 0 {
        drop(pair.parent);
        intermediate(Child {
            sync: pair.child,
            ns,
            spec: &spec,
            module,
            program,
            console: console_sock,
            preserve_fds: opts.preserve_fds,
            aot: opts.aot.clone(),
            chroot_to,
        });
    }
    drop(pair.child);
    drop(console_sock);
    crate::fault_point!("exec:after-fork");
    if let Some(cg) = &cgroup {
        if let Err(e) = cg.add(mid) {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(mid, libc::SIGKILL);
                libc::waitpid(mid, std::ptr::null_mut(), 0);
            }
            return Err(e);
        }
        crate::fault_point!("exec:after-cgroup");
    }
    sync::send_go(&pair.parent, "");
    crate::fault_point!("exec:after-go");
    let pid = wait_for_exec_pid(&pair.parent, mid)?;
    crate::fault_point!("exec:after-pid");
    if !proc::is_alive(init_pid, init_start) {
        // SAFETY: signalling the process we just made.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        return Err(Error::NotRunning(opts.id.clone()));
    }
    match sync::receive(&pair.parent)? {
        Report::Ready => {}
        Report::Failed(msg) => return Err(Error::other(msg)),
        _ => return Err(Error::other("the exec process died before it started")),
    }
    crate::fault_point!("exec:after-ready");
    // Sent before `ready`, so it is waiting in the socket.
    let master = match relay_end {
        Some(s) => Some(
            crate::sendfd::recv_fd(s.as_raw_fd())
                .map_err(|e| Error::io("receive the pty master", e))?,
        ),
        None => None,
    };
    if let Some(p) = &opts.pid_file {
        pidfile::write(p, pid)?;
        crate::fault_point!("exec:after-pid-file");
    }
    sync::send_go(&pair.parent, "");
    crate::fault_point!("exec:after-start");
    if opts.detach {
        return Ok(0);
    }
    // Our child now (its parent exited and we are the subreaper), even if it
    // already exited: a zombie until we reap it.
    let pidfd =
        proc::pidfd_of_child(pid).ok_or_else(|| Error::other("the exec process vanished"))?;
    super::run::wait_as_foreground(pid, &pidfd, master)
}

/// Parses and checks the process JSON of `exec --process FILE` (`bytes`,
/// read from `file`, which messages name): a process without `user` runs as
/// uid 0, gid 0 (as runc); `cwd` must be set and absolute, `args` name a
/// program, env entries be `KEY=VALUE`, no string hold a NUL byte, and
/// rlimits, LSM labels, `oomScoreAdj` and umask be usable
/// (`config::check_process`, `security::validate_process`, as for the
/// container's own process).
pub fn parse_process(bytes: &[u8], file: &Path) -> Result<Process> {
    let in_file = |m: String| Error::Config(format!("{}: {m}", file.display()));
    let mut v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| in_file(format!("invalid JSON: {e}")))?;
    let Some(o) = v.as_object_mut() else {
        return Err(in_file(
            "invalid JSON: the top level must be an object (a process)".into(),
        ));
    };
    o.entry("user")
        .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    let has_cwd = v
        .get("cwd")
        .and_then(|c| c.as_str())
        .is_some_and(|c| !c.is_empty());
    let p: Process = serde_path_to_error::deserialize(v).map_err(|e| {
        let at = e.path().to_string();
        in_file(if at == "." {
            e.into_inner().to_string()
        } else {
            format!("{at}: {}", e.into_inner())
        })
    })?;
    if !has_cwd {
        return Err(in_file(
            "cwd: must be set (the process's working directory)".into(),
        ));
    }
    crate::config::check_process(&p, "").map_err(in_file)?;
    security::validate_process(&p).map_err(|e| in_file(e.to_string()))?;
    Ok(p)
}

/// The exec process: `--process FILE`, or the container's process with the
/// command line and flags laid over it, as runc builds it.
fn build_process(spec: &Spec, opts: &ExecOptions) -> Result<Process> {
    if let Some(file) = &opts.process {
        let bytes = std::fs::read(file).map_err(|e| Error::path("read", file, e))?;
        return parse_process(&bytes, file);
    }
    if opts.args.is_empty() {
        return Err(Error::other(
            "exec: a command is required (exec ID CMD [ARGS…] or --process FILE)",
        ));
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &opts.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &opts.user {
        let mut user = p.user().clone();
        let (uid, gid) = u.split_once(':').unwrap_or((u, ""));
        user.set_uid(
            uid.parse()
                .map_err(|_| Error::other(format!("--user {u:?}: not UID[:GID]")))?,
        );
        if !gid.is_empty() {
            user.set_gid(
                gid.parse()
                    .map_err(|_| Error::other(format!("--user {u:?}: not UID[:GID]")))?,
            );
        }
        p.set_user(user);
    }
    if !opts.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(opts.additional_gids.clone()));
        p.set_user(user);
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !opts.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &opts.caps {
            let cap: oci_spec::runtime::Capability = name
                .parse()
                .map_err(|_| Error::other(format!("--cap {name:?}: unknown capability")))?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
                caps.inheritable().clone(),
                caps.ambient().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.insert(cap);
                match set.0 {
                    0 => caps.set_bounding(Some(s)),
                    1 => caps.set_effective(Some(s)),
                    2 => caps.set_permitted(Some(s)),
                    3 => caps.set_inheritable(Some(s)),
                    _ => caps.set_ambient(Some(s)),
                };
            }
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

fn read_if_wasm(path: &Path, fd: &OwnedFd) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut f = File::from(fd.try_clone().map_err(|e| Error::io("dup", e))?);
    let mut bytes = Vec::new();
    let mut magic = [0u8; 4];
    if f.read_exact(&mut magic).is_err() || &magic != WASM_MAGIC {
        return Ok(None);
    }
    bytes.extend_from_slice(&magic);
    f.read_to_end(&mut bytes)
        .map_err(|e| Error::other(format!("exec: read Wasm module {}: {e}", path.display())))?;
    Ok(Some(bytes))
}

/// The container's namespaces to join, user first and mount last; a
/// namespace the container shares with us is skipped.
fn namespace_files(pid: i32) -> Result<Vec<(libc::c_int, File)>> {
    let kinds = [
        ("user", libc::CLONE_NEWUSER),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("net", libc::CLONE_NEWNET),
        ("pid", libc::CLONE_NEWPID),
        ("cgroup", libc::CLONE_NEWCGROUP),
        ("mnt", libc::CLONE_NEWNS),
    ];
    let mut out = Vec::new();
    for (name, flag) in kinds {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let same = std::fs::read_link(&theirs).ok()
            == std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
        if same {
            continue;
        }
        let f = File::open(&theirs).map_err(|e| Error::path("open", Path::new(&theirs), e))?;
        out.push((flag, f));
    }
    Ok(out)
}

struct Child<'a> {
    sync: OwnedFd,
    ns: Vec<(libc::c_int, File)>,
    spec: &'a Spec,
    /// A Wasm module: its path in the container and its bytes.
    module: Option<(PathBuf, Vec<u8>)>,
    program: Option<PathBuf>,
    console: Option<OwnedFd>,
    preserve_fds: i32,
    aot: crate::aot::AotSettings,
    chroot_to: Option<PathBuf>,
}

fn fail(sync: &OwnedFd, msg: &str) -> ! {
    sync::send_error(sync, msg);
    exit(1)
}

/// The intermediate process: load, join, fork the exec process, report its
/// pid, exit.
fn intermediate(c: Child<'_>) -> ! {
    let log_fd = logging::disable();
    // SAFETY: prctl with integer arguments (see init: not dumpable).
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) };
    init::reset_signals();
    let mut keep: Vec<i32> = vec![c.sync.as_raw_fd()];
    keep.extend(c.ns.iter().map(|(_, f)| f.as_raw_fd()));
    keep.extend(c.console.as_ref().map(|f| f.as_raw_fd()));
    init::close_fds(c.preserve_fds, &keep);
    if let Some(fd) = log_fd {
        if !keep.contains(&fd) {
            // SAFETY: closing runwasm's log file in the child.
            unsafe { libc::close(fd) };
        }
    }
    if sync::wait_go(&c.sync).is_none() {
        exit(1);
    }
    // Wasm: the executor and the module, while the host is visible.
    let loaded = match &c.module {
        Some((path, bytes)) => match WasmEngine::open().and_then(|e| {
            let wasi = crate::wasi::speculative_config(c.spec);
            crate::aot::load_module(&e, &c.aot, bytes, &wasi)
                .map(|(l, _)| (e, l, path.clone()))
                .map_err(|err| Error::other(format!("module {}: {err}", path.display())))
        }) {
            Ok(v) => Some(v),
            Err(e) => fail(&c.sync, &format!("exec: {e}")),
        },
        None => None,
    };
    for (flag, f) in &c.ns {
        // SAFETY: setns on an fd we hold.
        if unsafe { libc::setns(f.as_raw_fd(), *flag) } != 0 {
            let e = std::io::Error::last_os_error();
            fail(
                &c.sync,
                &format!("exec: join the container's namespaces: {e}"),
            );
        }
    }
    // The exec process waits on this pipe until its pid has been reported,
    // so its own `ready` can never overtake the pid.
    let mut gate = [0i32; 2];
    // SAFETY: pipe2 into a two-int array.
    if unsafe { libc::pipe2(gate.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail(
            &c.sync,
            &format!("exec: pipe: {}", std::io::Error::last_os_error()),
        );
    }
    // SAFETY: single-threaded; the child ends in _exit or exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOMEM) {
            // fork into a pid namespace whose init is gone.
            fail(&c.sync, "container not running");
        }
        fail(&c.sync, &format!("exec: fork: {e}"));
    }
    if pid == 0 {
        // SAFETY: closing our copy of the write end, then waiting for EOF
        // (the helper exits once it has reported our pid).
        unsafe {
            libc::close(gate[1]);
            let mut b = 0u8;
            while libc::read(gate[0], (&mut b as *mut u8).cast(), 1) < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
            }
            libc::close(gate[0]);
        }
    }
    if pid > 0 {
        let msg = format!("pid:{pid}");
        // SAFETY: sends from a valid buffer.
        unsafe {
            libc::send(
                c.sync.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        exit(0);
    }
    drop(c.ns);
    exec_process(c.sync, c.spec, loaded, c.program, c.console, c.chroot_to)
}

enum Ready {
    Wasm(WasmEngine, crate::executor::Instance),
    Native(CString, Vec<CString>, Vec<CString>),
}

fn exec_process(
    sync: OwnedFd,
    spec: &Spec,
    loaded: Option<(WasmEngine, crate::executor::Loaded, PathBuf)>,
    program: Option<PathBuf>,
    console: Option<OwnedFd>,
    chroot_to: Option<PathBuf>,
) -> ! {
    let process = spec.process().clone().unwrap_or_default();
    let result = (|| -> Result<Ready> {
        if let Some(sock) = &console {
            // SAFETY: setsid has no memory effects.
            unsafe { libc::setsid() };
            console::hand_over(sock.as_raw_fd(), process.console_size().as_ref(), false)?;
        }
        if let Some(r) = &chroot_to {
            nix::unistd::chroot(r)
                .map_err(|e| Error::other(format!("exec: chroot {}: {}", r.display(), e.desc())))?;
        }
        nix::unistd::chdir(process.cwd()).map_err(|e| {
            Error::other(format!(
                "exec: chdir to {}: {}",
                process.cwd().display(),
                e.desc()
            ))
        })?;
        let args = process.args().clone().unwrap_or_default();
        let env = process.env().clone().unwrap_or_default();
        match loaded {
            Some((engine, module, path)) => {
                let config = WasiConfig {
                    args,
                    env,
                    preopens: crate::wasi::preopens(Path::new("/"), process.cwd())?,
                    max_memory_pages: crate::wasi::max_memory_pages(spec),
                };
                let instance = engine
                    .instantiate(module, &config)
                    .map_err(|e| Error::other(format!("exec: module {}: {e}", path.display())))?;
                security::harden_process(spec, false)?;
                Ok(Ready::Wasm(engine, instance))
            }
            None => {
                let cs = |s: &str| CString::new(s).map_err(|e| Error::other(e.to_string()));
                let program = cs(&program.unwrap_or_default().to_string_lossy())?;
                let argv = args.iter().map(|a| cs(a)).collect::<Result<Vec<_>>>()?;
                let envp = env.iter().map(|a| cs(a)).collect::<Result<Vec<_>>>()?;
                security::harden_process(spec, true)?;
                Ok(Ready::Native(program, argv, envp))
            }
        }
    })();
    let ready = match result {
        Ok(r) => r,
        Err(e) => fail(&sync, &e.to_string()),
    };
    drop(console);
    // Ready, then wait for runwasm's go (sent once it has written the pid
    // file): if `runwasm exec` dies before that, nobody reports or waits
    // for this process, so it does not run.
    if !sync::send_ready(&sync) || !sync::wait_start(&sync) {
        exit(1);
    }
    drop(sync);
    // Seccomp with noNewPrivileges last, as for init.
    if let Err(e) = security::harden_last(spec) {
        eprintln!("runwasm: {e}");
        exit(init::EXIT_CANNOT_RUN);
    }
    match ready {
        Ready::Wasm(engine, instance) => init::run_wasm(&engine, instance, None),
        Ready::Native(program, argv, envp) => init::exec_native(&program, &argv, &envp),
    }
}

fn wait_for_exec_pid(sync_fd: &OwnedFd, mid: i32) -> Result<i32> {
    let mut buf = [0u8; 4096];
    // SAFETY: receives into a stack buffer.
    let n = unsafe { libc::recv(sync_fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    // SAFETY: reaping our own child (it exits right after reporting).
    unsafe { libc::waitpid(mid, std::ptr::null_mut(), 0) };
    if n <= 0 {
        return Err(Error::other("exec: the helper process died"));
    }
    let msg = String::from_utf8_lossy(&buf[..n as usize]).into_owned();
    if let Some(p) = msg.strip_prefix("pid:") {
        return p
            .parse()
            .map_err(|_| Error::other("exec: bad pid from the helper"));
    }
    Err(Error::other(
        msg.strip_prefix("error:").unwrap_or(&msg).to_string(),
    ))
}
