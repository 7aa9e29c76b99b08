//! `start`: release a created container's init through `exec.fifo`.

use crate::container::Container;
use crate::linux::hooks::{self, HookPhase};
use crate::state::{StateStore, Status};
use crate::{fifo, Error, Result};

pub fn start(store: &StateStore, id: &str) -> Result<()> {
    let mut c = Container::load(store, id)?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => return Err(Error::other("cannot start a container that has stopped")),
        Status::Running => return Err(Error::other("cannot start an already running container")),
        other => {
            return Err(Error::other(format!(
                "cannot start a container in the {} state",
                other.as_str()
            )))
        }
    }
    crate::fault_point!("start:after-lock");
    let fifo_path = fifo::path(&c.dir.path);
    let (pid, start) = (c.state.pid, c.state.init_start_time);
    // As the kernel names it in /proc/PID/fd (symlinks such as /var/run
    // resolved).
    let dir = std::fs::canonicalize(&c.dir.path).unwrap_or_else(|_| c.dir.path.clone());
    let released = fifo::release(
        &fifo_path,
        // A killed init closes its fds before it shows as dead: it must
        // not pass for one that went past the fifo.
        || crate::proc::is_alive_not_exiting(pid, start),
        || fifo::init_waiting(pid, &dir),
    );
    if let Err(e) = released {
        if crate::proc::is_alive_not_exiting(pid, start) {
            // Already running (an earlier start died before this point).
            let _ = std::fs::remove_file(&fifo_path);
            c.state.status = Status::Running;
            c.dir.save(&c.state)?;
        }
        return Err(e);
    }
    // Init runs the workload from here on.
    crate::fault_point!("start:after-release");
    let _ = std::fs::remove_file(&fifo_path);
    crate::fault_point!("start:after-fifo-removed");
    c.state.status = Status::Running;
    c.dir.save(&c.state)?;
    crate::fault_point!("start:after-state-running");
    // Hooks run without our lock: one may well call `runwasm state`.
    let hooks_owned = c.state.hooks.clone();
    let running_state = c.state.hook_json(Status::Running);
    drop(c);
    let hooks = hooks_owned.as_ref();
    // runc and runtime-spec 1.3: a failed poststart hook stops the
    // container and fails `start`.
    let running = running_state;
    if let Err(e) = hooks::run_hooks(hooks, HookPhase::Poststart, &running) {
        if let Some(pidfd) = crate::proc::open_pidfd(pid, start) {
            let _ = crate::proc::pidfd_signal(&pidfd, libc::SIGKILL);
        }
        return Err(e);
    }
    Ok(())
}
