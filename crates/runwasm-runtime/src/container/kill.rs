//! `kill`: signal a container's init (with `--all`, every process of the
//! container; until cgroups are managed that is the init process).

use crate::container::Container;
use crate::state::{StateStore, Status};
use crate::{proc, Error, Result};

pub fn kill(store: &StateStore, id: &str, signal: i32, all: bool) -> Result<()> {
    let c = Container::load(store, id)?;
    let status = c.status();
    if all {
        if let Some(place) = c.state.cgroup.as_ref().filter(|p| p.owned) {
            // Every process of the container, as runc: also after init
            // exited (the shim's `kill --all ID 9` without a pid namespace).
            return place.manager(id)?.signal_all(signal);
        }
    }
    if status == Status::Stopped {
        // runc: `kill --all` of a stopped container signals what is left of
        // it, and succeeds; a plain kill is an error.
        return if all {
            Ok(())
        } else {
            Err(Error::NotRunning(id.to_string()))
        };
    }
    let pidfd = proc::open_pidfd(c.state.pid, c.state.init_start_time)
        .ok_or_else(|| Error::NotRunning(id.to_string()))?;
    proc::pidfd_signal(&pidfd, signal)
        .map_err(|e| Error::io(format!("signal container {id:?} init"), e))?;
    // A frozen process does not act on SIGKILL until thawed (runc thaws too).
    if status == Status::Paused && signal == libc::SIGKILL {
        if let Some(place) = &c.state.cgroup {
            place.manager(id)?.thaw()?;
        }
    }
    Ok(())
}
