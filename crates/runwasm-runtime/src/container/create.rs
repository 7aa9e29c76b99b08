//! `create`: validate the bundle, make the state directory, fork init, wait
//! for it to report ready, then record the container. Any failure removes
//! everything made so far (state directory, fifo, init).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use crate::cgroups::CgroupPlace;
use crate::config::{self, Bundle};
use crate::init::{self, InitArgs};
use crate::linux::hooks::{self, HookPhase};
use crate::linux::namespaces::{clone_process, Namespaces};
use crate::linux::security;
use crate::state::{State, StateStore, Status, RUNTIME_MARKER};
use crate::sync::{self, Report};
use crate::workload::{self, Workload};
use crate::{fifo, id, pidfile, proc, Error, Result};

#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    pub pidfd_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// `--aot`, `--aot-cache`.
    pub aot: crate::aot::AotSettings,
}

/// A container just created; its init is a child of this process.
pub struct Created {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

pub fn create(store: &StateStore, opts: &CreateOptions) -> Result<Created> {
    create_with_console(store, opts, None)
}

/// Whether config.json asks for a terminal (`run` needs to know before it
/// creates).
pub fn wants_terminal(bundle: &std::path::Path) -> bool {
    config::load(bundle).is_ok_and(|b| b.process().terminal() == Some(true))
}

/// `create`, with `console` the socket the pty master goes to when `run`
/// relays the terminal itself.
pub(crate) fn create_with_console(
    store: &StateStore,
    opts: &CreateOptions,
    console: Option<OwnedFd>,
) -> Result<Created> {
    id::validate(&opts.id)?;
    if opts.preserve_fds < 0 {
        return Err(Error::other("--preserve-fds must not be negative"));
    }
    let bundle = config::load(&opts.bundle)?;
    crate::profile::mark("config loaded");
    let terminal = bundle.process().terminal() == Some(true);
    // `run` relays the terminal itself when it has no console socket.
    let console =
        match crate::console::route(terminal, opts.console_socket.as_deref(), console.is_some())? {
            crate::console::Route::Socket(fd) => Some(fd),
            crate::console::Route::Relay => console,
            crate::console::Route::None => None,
        };
    // Checked by `config::load` (as were the hardening settings).
    let namespaces = Namespaces::from_spec(&bundle.spec)?;
    if !namespaces.has(libc::CLONE_NEWNS) {
        require_mount_namespace(&bundle)?;
    }
    crate::profile::mark("config validated");
    let workload = workload::detect(&bundle)?;
    crate::profile::mark("workload detected");
    if matches!(workload, Workload::Native) {
        check_exec_size(&bundle)?;
    }
    let aot = opts
        .aot
        .for_container(bundle.annotation(crate::aot::ANNOTATION))?;
    let place = CgroupPlace::for_spec(&bundle.spec, &opts.id, opts.systemd_cgroup)?;
    let place_owned = place.owned;
    let dir = store.create(&opts.id)?;
    crate::fault_point!("create:after-state-dir");
    let mut guard = Cleanup {
        dir: Some((dir.path.clone(), opts.id.clone())),
        child: None,
        cgroup: None,
    };
    let mut state = initial_state(&bundle, &opts.id, &workload);
    state.cgroup = Some(place.clone());
    dir.save(&state)?;
    crate::fault_point!("create:after-state-file");

    let min_fd = 3 + opts.preserve_fds;
    fifo::create(&dir.path)?;
    crate::fault_point!("create:after-fifo");
    let fifo_fd = high_fd(fifo::open_dir(&dir.path)?, min_fd)?;
    let pair = sync::pair(min_fd)?;
    crate::profile::mark("state dir and fifo");
    let console = console.map(|fd| high_fd(fd, min_fd)).transpose()?;

    namespaces.enter_pid_namespace()?;
    tracing::debug!(
        "cloning init for {} (flags {:#x})",
        opts.id,
        namespaces.clone_flags
    );
    // A new cgroup namespace is made by init itself once it is in its
    // cgroup, so that cgroup is the namespace's root.
    let clone_flags = namespaces.clone_flags & !libc::CLONE_NEWCGROUP;
    // SAFETY: runwasm is single-threaded here, so the child may run any code;
    // it ends in `_exit` and never returns into the caller's frames.
    let pid = match unsafe { clone_process(clone_flags) } {
        Err(e) => return Err(Error::io("clone container init", e)),
        Ok(0) => {
            drop(pair.parent);
            init::run(InitArgs {
                bundle: &bundle,
                namespaces: &namespaces,
                workload,
                sync: pair.child,
                fifo: fifo_fd,
                preserve_fds: opts.preserve_fds,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                id: &opts.id,
                aot,
                console,
                close_also: vec![dir.lock_fd()],
            })
        }
        Ok(pid) => pid,
    };
    crate::fault_point!("create:after-clone");
    drop(pair.child);
    drop(fifo_fd);
    drop(console);
    drop(workload);
    let start_time = proc::stat(pid).map(|s| s.start_time).unwrap_or(0);
    let pidfd = proc::open_pidfd(pid, start_time);
    guard.child = Some(pid);
    crate::profile::mark("clone");
    // Recorded at once: if this process is killed from here on, `state`
    // shows the init and `delete --force` finds and kills it.
    state.pid = pid;
    state.init_start_time = start_time;
    dir.save(&state)?;
    crate::fault_point!("create:after-pid-recorded");
    // Into its cgroup, limits applied, before init does anything for the
    // container (runc's order). On a v1 host runwasm places init itself
    // while libcgroups' manager, needed for the limits only, is made on
    // another thread: making it reads the mount table a dozen times.
    if place_owned {
        guard.cgroup = Some((place.clone(), opts.id.clone()));
    }
    let resources = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref());
    let manager = if place.joins_itself() {
        // A thread cannot always be made (not after joining a pid
        // namespace by path): then one after the other.
        let (made, joined) = std::thread::scope(|s| {
            let joiner = std::thread::Builder::new().spawn_scoped(s, || place.join_v1(pid));
            let made = resources.map(|_| place.manager(&opts.id));
            let joined = match joiner {
                Ok(j) => j
                    .join()
                    .unwrap_or_else(|_| Err(Error::other("cgroup: placing init failed"))),
                Err(_) => place.join_v1(pid),
            };
            (made, joined)
        });
        joined?;
        made.transpose()?
    } else {
        let m = place.manager(&opts.id)?;
        m.add(pid)?;
        Some(m)
    };
    crate::profile::mark("cgroup joined");
    crate::fault_point!("create:after-cgroup");
    if let (Some(resources), Some(cgroup)) = (resources, &manager) {
        cgroup.apply(resources).map_err(|e| in_config(&bundle, e))?;
        crate::fault_point!("create:after-resources");
    }
    if namespaces.new_user() {
        // Limits that init could no longer raise inside its user namespace.
        let process = bundle.process();
        security::apply_rlimits_to(pid, process)?;
        security::set_oom_score_adj_to(pid, process)?;
        namespaces.write_id_maps(pid)?;
    }
    crate::profile::mark("cgroup limits");
    let hook_state = state.hook_json(Status::Creating);
    sync::send_go(&pair.parent, &hook_state);
    crate::profile::mark("go sent");
    crate::fault_point!("create:after-go");

    loop {
        match sync::receive(&pair.parent)? {
            Report::Ready => break,
            Report::Hooks => {
                let hooks = bundle.spec.hooks().as_ref();
                hooks::run_hooks(hooks, HookPhase::Prestart, &hook_state)?;
                hooks::run_hooks(hooks, HookPhase::CreateRuntime, &hook_state)?;
                crate::fault_point!("create:after-prestart-hooks");
                sync::send_go(&pair.parent, &hook_state);
            }
            Report::Failed(msg) => return Err(Error::other(msg)),
            Report::Died => {
                guard.child = None;
                let how = describe_exit(pid);
                let limit = bundle
                    .spec
                    .linux()
                    .as_ref()
                    .and_then(|l| l.resources().as_ref())
                    .and_then(|r| r.memory().as_ref())
                    .and_then(|m| m.limit())
                    .filter(|&l| l > 0);
                let hint = match limit {
                    Some(l) if how == "killed by signal 9" => format!(
                        "; with linux.resources.memory.limit {l} that is most likely the OOM \
                         killer: the container needs more memory to start (a Wasm module's \
                         tables, code and memories are allocated here)"
                    ),
                    _ => String::new(),
                };
                return Err(Error::other(format!(
                    "container init exited during create ({how}{hint})"
                )));
            }
        }
    }
    crate::profile::mark("init ready");
    // Init has made its mounts, loaded the module and is waiting on the
    // fifo.
    crate::fault_point!("create:after-ready");
    let pidfd = pidfd.ok_or_else(|| Error::other("container init exited during create"))?;

    if let Some(sock) = &opts.pidfd_socket {
        crate::sendfd::send_fd(sock, pidfd.as_fd(), "pidfd")?;
    }
    if let Some(p) = &opts.pid_file {
        pidfile::write(p, pid)?;
        crate::fault_point!("create:after-pid-file");
    }
    state.status = Status::Created;
    dir.save(&state)?;
    crate::fault_point!("create:after-state-created");
    guard.disarm();
    crate::profile::mark("created");
    Ok(Created { pid, pidfd })
}

fn initial_state(bundle: &Bundle, id: &str, workload: &Workload) -> State {
    State {
        runtime: RUNTIME_MARKER.into(),
        oci_version: crate::OCI_VERSION.into(),
        id: id.into(),
        status: Status::Creating,
        pid: 0,
        init_start_time: 0,
        bundle: bundle.path.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::time::now_rfc3339(),
        annotations: bundle
            .spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        workload: workload.kind(),
        hooks: bundle.spec.hooks().clone(),
        cgroup: None,
    }
}

/// Without a mount namespace nothing may be mounted: it would be the host's
/// mount table.
fn require_mount_namespace(bundle: &Bundle) -> Result<()> {
    let spec = &bundle.spec;
    let linux = spec.linux().as_ref();
    let field = if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
        Some("mounts")
    } else if linux
        .and_then(|l| l.masked_paths().as_ref())
        .is_some_and(|m| !m.is_empty())
    {
        Some("linux.maskedPaths")
    } else if linux
        .and_then(|l| l.readonly_paths().as_ref())
        .is_some_and(|m| !m.is_empty())
    {
        Some("linux.readonlyPaths")
    } else if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        Some("root.readonly")
    } else {
        None
    };
    match field {
        Some(f) => Err(Error::Config(format!(
            "{}: {f} needs a mount namespace: add {{\"type\": \"mount\"}} to linux.namespaces",
            bundle.path.join("config.json").display()
        ))),
        None => Ok(()),
    }
}

/// A native program whose arguments and environment `execve` would refuse
/// (E2BIG) fails here, naming the field, instead of after `start`.
fn check_exec_size(bundle: &Bundle) -> Result<()> {
    let process = bundle.process();
    let arg0 = &bundle.args()[0];
    let program = workload::find_program(bundle, arg0)
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| arg0.clone());
    match workload::exec_size_error(
        &program,
        bundle.args(),
        bundle.env(),
        workload::ExecLimits::for_process(process),
        ("process.args", "process.env"),
    ) {
        Some(msg) => Err(Error::Config(format!(
            "{}: {msg}",
            bundle.path.join("config.json").display()
        ))),
        None => Ok(()),
    }
}

/// Prefixes a config error with the config file, as every config error is.
fn in_config(bundle: &Bundle, e: Error) -> Error {
    match e {
        Error::Config(m) | Error::Other(m) => Error::Config(format!(
            "{}: {m}",
            bundle.path.join("config.json").display()
        )),
        e => e,
    }
}

fn high_fd(fd: OwnedFd, min: i32) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    // SAFETY: dup of a valid fd to a fresh one at or above `min`.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if n < 0 {
        return Err(Error::io("dup", std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fd.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(n) })
}

fn describe_exit(pid: i32) -> String {
    let mut status = 0;
    // SAFETY: reaping our own child.
    if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
        if libc::WIFEXITED(status) {
            return format!("exit status {}", libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            return format!("killed by signal {}", libc::WTERMSIG(status));
        }
    }
    "no status".into()
}

/// Undoes a half-done create: kills and reaps init, removes the directory.
struct Cleanup {
    /// `ROOT/ID` and the id.
    dir: Option<(PathBuf, String)>,
    child: Option<i32>,
    /// The cgroup runwasm made, and the container's id.
    cgroup: Option<(CgroupPlace, String)>,
}

impl Cleanup {
    fn disarm(&mut self) {
        self.child = None;
        self.dir = None;
        self.cgroup = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.child.take() {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some((place, id)) = self.cgroup.take() {
            if let Err(e) = place.remove(&id) {
                tracing::warn!("cleanup after failed create: {e}");
            }
        }
        if let Some((dir, id)) = self.dir.take() {
            if let Err(e) = crate::state::remove_container_dir(&dir, &id) {
                tracing::warn!("cleanup after failed create: {e}");
            }
        }
    }
}
