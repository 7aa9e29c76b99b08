//! `start`: release a created container's init through `exec.fifo`.

use crate::container::Container;
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
    let fifo_path = fifo::path(&c.dir.path);
    let (pid, start) = (c.state.pid, c.state.init_start_time);
    fifo::release(&fifo_path, || crate::proc::is_alive(pid, start))?;
    let _ = std::fs::remove_file(&fifo_path);
    c.state.status = Status::Running;
    c.dir.save(&c.state)
}
