//! `delete [--force]`: remove a container and everything it made. Idempotent
//! with `--force` (an unknown id succeeds), and it works on a half-created
//! container whose `create` died.

use std::time::Duration;

use crate::container::Container;
use crate::linux::hooks::{self, HookPhase};
use crate::state::{StateStore, Status};
use crate::{proc, Error, Result};

const KILL_WAIT: Duration = Duration::from_secs(10);

pub fn delete(store: &StateStore, id: &str, force: bool) -> Result<()> {
    let dir = match store.open_container(id) {
        Ok(d) => d,
        Err(Error::NotExist(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let state = match dir.load() {
        Ok(s) => s,
        // No state.json: a create that died before writing it. Nothing runs.
        Err(Error::NotExist(_)) => return dir.remove(),
        Err(e) if force => {
            tracing::warn!("delete --force {id}: {e}; removing its directory");
            return dir.remove();
        }
        Err(e) => return Err(e),
    };
    let c = Container { dir, state };
    match c.status() {
        Status::Stopped => {}
        // runc deletes a created container without --force: it never ran.
        Status::Created | Status::Creating => kill_and_wait(&c)?,
        s @ (Status::Running | Status::Paused) => {
            if !force {
                return Err(Error::other(format!(
                    "cannot delete container {id} that is not stopped: {}",
                    s.as_str()
                )));
            }
            kill_and_wait(&c)?;
        }
    }
    let hooks = c.state.hooks.clone();
    let stopped = c.state.hook_json(Status::Stopped);
    c.dir.remove()?;
    if hooks::has(hooks.as_ref(), HookPhase::Poststop) {
        hooks::run_hooks_warn(hooks.as_ref(), HookPhase::Poststop, &stopped);
    }
    Ok(())
}

fn kill_and_wait(c: &Container) -> Result<()> {
    let Some(pidfd) = proc::open_pidfd(c.state.pid, c.state.init_start_time) else {
        return Ok(());
    };
    if let Err(e) = proc::pidfd_signal(&pidfd, libc::SIGKILL) {
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(Error::io(format!("kill container {:?}", c.state.id), e));
        }
    }
    if !proc::wait_exit(&pidfd, KILL_WAIT) {
        return Err(Error::other(format!(
            "container {:?} init (pid {}) did not exit after SIGKILL",
            c.state.id, c.state.pid
        )));
    }
    Ok(())
}
