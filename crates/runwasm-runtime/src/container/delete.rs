//! `delete [--force]`: remove a container and everything it made. Idempotent
//! with `--force` (an unknown id succeeds), and it works on a half-created
//! container whose `create` died.

use std::time::Duration;

use crate::cgroups::CgroupPlace;
use crate::container::Container;
use crate::linux::hooks::{self, HookPhase};
use crate::state::{StateStore, Status};
use crate::{proc, Error, Result};

const KILL_WAIT: Duration = Duration::from_secs(10);

pub fn delete(store: &StateStore, id: &str, force: bool) -> Result<()> {
    crate::id::validate(id)?;
    store.sweep_stale(id);
    let dir = match store.open_container(id) {
        Ok(d) => d,
        Err(Error::NotExist(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    crate::fault_point!("delete:after-lock");
    let state = match dir.load() {
        Ok(s) => s,
        // No state.json: a create that died before writing it. Nothing runs.
        Err(Error::NotExist(_)) => return dir.remove(),
        Err(e) if force => {
            // The state that would name the init and the cgroup is
            // unreadable: runwasm's default cgroup for the id is what can
            // still be found (removing it kills what is in it).
            tracing::warn!("delete --force {id}: {e}; removing its directory");
            if let Some(place) = CgroupPlace::default_if_present(id) {
                tracing::warn!(
                    "delete --force {id}: removing cgroup {}",
                    place.path.display()
                );
                if let Err(e) = place.manager(id).and_then(|m| {
                    let _ = m.thaw();
                    m.remove()
                }) {
                    tracing::warn!("delete --force {id}: {e}");
                }
            }
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
    crate::profile::mark("delete: init gone");
    crate::fault_point!("delete:after-kill");
    if let Some(place) = c.state.cgroup.as_ref().filter(|p| p.owned) {
        // Whatever is left (children of an init without a pid namespace)
        // is killed with the cgroup: only a cgroup runwasm made. Thawed
        // first: a frozen process does not die.
        if place.frozen() == Some(true) {
            let _ = place.manager(id)?.thaw();
        }
        place.remove(id)?;
    }
    crate::fault_point!("delete:after-cgroup");
    crate::profile::mark("delete: cgroup removed");
    let hooks = c.state.hooks.clone();
    let stopped = c.state.hook_json(Status::Stopped);
    c.dir.remove()?;
    crate::profile::mark("delete: state dir removed");
    // As runc: everything is cleaned up first, then a failing poststop
    // hook fails `delete`.
    hooks::run_hooks(hooks.as_ref(), HookPhase::Poststop, &stopped)
}

fn kill_and_wait(c: &Container) -> Result<()> {
    let Some(pidfd) = proc::open_pidfd(c.state.pid, c.state.init_start_time) else {
        return Ok(());
    };
    // A frozen process does not die until thawed.
    if c.status() == Status::Paused {
        if let Some(place) = &c.state.cgroup {
            let _ = place.manager(&c.state.id).and_then(|m| m.thaw());
        }
    }
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
