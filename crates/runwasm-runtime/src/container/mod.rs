//! A container as the CLI sees it: its locked state directory and recorded
//! state, the status derived from the live init process, and one file per
//! operation (`create`, `start`, `kill`, `delete`, `run`).

mod create;
mod delete;
mod exec;
mod kill;
pub mod ops;
mod run;
mod start;

pub use create::{create, wants_terminal, CreateOptions, Created};
pub use delete::delete;
pub use exec::{exec, parse_process, ExecOptions};
pub use kill::kill;
pub use run::{run, wait_status_code};
pub use start::start;

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::state::{ContainerDir, State, StateStore, Status};
use crate::{fifo, proc, Result};

pub struct Container {
    pub dir: ContainerDir,
    pub state: State,
}

/// `state ID` output: the runtime-spec state with runc's extra fields, in
/// runc's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Container {
    /// Loads and locks a container.
    pub fn load(store: &StateStore, id: &str) -> Result<Container> {
        let dir = store.open_container(id)?;
        let state = dir.load()?;
        Ok(Container { dir, state })
    }

    /// Loads a container to read it, without waiting for a lock another
    /// command holds (`state`, `list`).
    pub fn peek(store: &StateStore, id: &str) -> Result<Container> {
        let dir = store.peek_container(id)?;
        let state = dir.load()?;
        Ok(Container { dir, state })
    }

    pub fn init_alive(&self) -> bool {
        proc::is_alive(self.state.pid, self.state.init_start_time)
    }

    /// The status now: recorded status checked against the init process,
    /// the freezer and the exec fifo, so that what a runwasm killed
    /// half-way recorded is never reported as it stands.
    pub fn status(&self) -> Status {
        match self.state.status {
            // Someone else holds the lock: the `create` that wrote this is
            // still at work (its init may not even exist yet).
            Status::Creating if !self.dir.locked => Status::Creating,
            // The lock is ours, so the `create` that wrote this is gone; its
            // init may still be alive (it dies with create unless it was
            // already ready).
            Status::Creating if self.init_alive() => Status::Creating,
            Status::Creating => Status::Stopped,
            Status::Stopped => Status::Stopped,
            Status::Created | Status::Running | Status::Paused => {
                if !self.init_alive() {
                    return Status::Stopped;
                }
                // As runc: the freezer says whether it is paused (a
                // `kill --all` killed between freeze and thaw leaves it
                // frozen with `running` recorded).
                let frozen = self.state.cgroup.as_ref().and_then(|p| p.frozen());
                if frozen.unwrap_or(self.state.status == Status::Paused) {
                    Status::Paused
                } else if fifo::path(&self.dir.path).exists()
                    && !fifo::init_passed(
                        self.state.pid,
                        self.state.init_start_time,
                        &self.dir.path,
                    )
                {
                    Status::Created
                } else {
                    // No fifo, or one that a `start` killed before removing
                    // it left behind after releasing init.
                    Status::Running
                }
            }
        }
    }

    pub fn oci_state(&self, owner: String) -> OciState {
        let status = self.status();
        OciState {
            oci_version: self.state.oci_version.clone(),
            id: self.state.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.state.pid
            },
            status: status.as_str(),
            bundle: self.state.bundle.clone(),
            rootfs: self.state.rootfs.clone(),
            created: self.state.created.clone(),
            owner,
            annotations: self.state.annotations.clone(),
        }
    }
}

impl State {
    /// The runtime-spec state given to hooks on stdin.
    pub fn hook_json(&self, status: Status) -> String {
        let v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status.as_str(),
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "annotations": self.annotations,
        });
        v.to_string()
    }
}

/// Every runwasm container in the root, skipping other runtimes' entries and
/// containers deleted while we looked.
pub fn list(store: &StateStore) -> Result<Vec<Container>> {
    let mut out = Vec::new();
    for id in store.ids()? {
        if crate::id::validate(&id).is_err() {
            continue;
        }
        match Container::peek(store, &id) {
            Ok(c) => out.push(c),
            Err(e) => tracing::debug!("list: skipping {id}: {e}"),
        }
    }
    Ok(out)
}
