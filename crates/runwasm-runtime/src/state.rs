//! The state store: `ROOT/ID/state.json` (written atomically), a lock per
//! container, and the listing of the root. Other runtimes' entries (runc's,
//! when Docker gives every runtime the same root) are left alone.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::IoContext;
use crate::{id, Error, Result};

/// Marks a state.json as ours.
pub const RUNTIME_MARKER: &str = "runwasm";
const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = ".lock";
/// Temporary names in the root (`:` is in no id): a directory being
/// created, and one being removed.
const NEW_PREFIX: &str = ".new:";
const GONE_PREFIX: &str = ".gone:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    Wasm,
    Native,
}

/// What `state.json` holds: the runtime-spec state plus what runwasm needs to
/// find the container again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub runtime: String,
    pub oci_version: String,
    pub id: String,
    /// The status last recorded; the live status is derived from the process.
    pub status: Status,
    pub pid: i32,
    /// `/proc/PID/stat` start time of the init process, to detect pid reuse.
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub workload: WorkloadKind,
    /// The container's cgroup, for `delete`, `kill --all`, `ps`, `pause`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<crate::cgroups::CgroupPlace>,
    /// config.json's hooks, for `start` (poststart) and `delete` (poststop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

impl State {
    /// Parses the state.json of container `id` and checks what the
    /// commands rely on: runwasm's marker and the id, a pid that is not
    /// negative (0 only before init exists), absolute bundle and rootfs
    /// paths, and a cgroup below the root, not reached through `..`
    /// (`delete` empties and removes it).
    pub fn from_bytes(bytes: &[u8], id: &str) -> std::result::Result<State, String> {
        let state: State = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a runwasm container state ({e})"))?;
        if state.runtime != RUNTIME_MARKER || state.id != id {
            return Err("not a runwasm container state".into());
        }
        if state.pid < 0 {
            return Err(format!("pid: {} is not a process id", state.pid));
        }
        for (field, p) in [("bundle", &state.bundle), ("rootfs", &state.rootfs)] {
            if !p.is_absolute() {
                return Err(format!("{field}: {p:?} is not an absolute path"));
            }
        }
        if let Some(cg) = &state.cgroup {
            if !crate::cgroups::names_a_child(&cg.path) {
                return Err(format!(
                    "cgroup.path: {:?} is not a container's cgroup",
                    cg.path
                ));
            }
        }
        Ok(state)
    }
}

/// The state root (`--root`).
pub struct StateStore {
    root: PathBuf,
}

impl StateStore {
    /// Opens the root for a new container, creating it (0700, as are the
    /// parents it makes) when missing. A symlink in the root's place is
    /// refused, not followed: whoever could plant it would choose where
    /// runwasm writes its state.
    pub fn open(root: &Path) -> Result<Self> {
        let root = &crate::config::absolute(root)?;
        if let Err(e) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
        {
            return Err(Error::path("create state root", root, e));
        }
        // Checked after mkdir: DirBuilder accepts a symlink to a directory.
        match fs::symlink_metadata(root) {
            Ok(m) if m.file_type().is_symlink() => Err(Error::other(format!(
                "state root {}: is a symbolic link (refusing to follow it)",
                root.display()
            ))),
            Ok(m) if !m.is_dir() => Err(Error::other(format!(
                "state root {}: not a directory",
                root.display()
            ))),
            Ok(_) => Ok(StateStore {
                root: root.to_path_buf(),
            }),
            Err(e) => Err(Error::path("create state root", root, e)),
        }
    }

    /// Opens the root without creating it; a missing root holds nothing.
    pub fn existing(root: &Path) -> Self {
        StateStore {
            root: crate::config::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn container_path(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Makes `ROOT/ID` for a new container; fails if the id is taken.
    ///
    /// The directory is built under a temporary name (with a `:`, which no
    /// id may contain) holding its lock file, then renamed into place with
    /// `RENAME_NOREPLACE`: a container directory always has its `.lock`, which
    /// is how runwasm's entries are told from other runtimes'.
    pub fn create(&self, id: &str) -> Result<ContainerDir> {
        id::validate(id)?;
        let path = self.container_path(id);
        if path.exists() {
            return Err(Error::AlreadyExists(id.to_string()));
        }
        self.sweep_stale(id);
        let tmp = self
            .root
            .join(format!("{NEW_PREFIX}{}:{}", short(id), std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|e| Error::path("create state directory", &tmp, e))?;
        let dir = ContainerDir::lock(id, tmp.clone(), true)?;
        crate::fault_point!("create:before-rename");
        if let Err(e) = rename_noreplace(&tmp, &path) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(if e.raw_os_error() == Some(libc::EEXIST) {
                Error::AlreadyExists(id.to_string())
            } else {
                Error::path("create state directory", &path, e)
            });
        }
        Ok(ContainerDir { path, ..dir })
    }

    /// Removes what a runwasm killed half-way left behind for `id`: the
    /// temporary directory of a `create` that never renamed it into place
    /// (`.new:ID:PID`) and the renamed-away directory of a `delete` that
    /// never finished removing it (`.gone:ID:PID`), once PID is gone.
    pub fn sweep_stale(&self, id: &str) {
        let prefixes = [NEW_PREFIX, GONE_PREFIX].map(|p| format!("{p}{}:", short(id)));
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| prefixes.iter().find_map(|p| n.strip_prefix(p.as_str())))
            else {
                continue;
            };
            let alive = pid
                .parse::<u32>()
                .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    /// Opens and locks an existing container's directory. A directory
    /// without runwasm's `.lock` belongs to another runtime and is left as
    /// it is.
    pub fn open_container(&self, id: &str) -> Result<ContainerDir> {
        id::validate(id)?;
        let path = self.container_path(id);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => ContainerDir::lock(id, path, false),
            Ok(_) => Err(Error::NotExist(id.to_string())),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::NotExist(id.to_string())),
            Err(e) => Err(Error::path("open state directory", &path, e)),
        }
    }

    /// Opens an existing container's directory to read it, without waiting
    /// for another command's lock (runc's `state` and `list` never wait): a
    /// hook of `create` may well call `runwasm state` on its own container.
    /// state.json is only ever replaced by rename, so what is read is whole.
    pub fn peek_container(&self, id: &str) -> Result<ContainerDir> {
        id::validate(id)?;
        let path = self.container_path(id);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => ContainerDir::open(id, path, LockWait::No),
            Ok(_) => Err(Error::NotExist(id.to_string())),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::NotExist(id.to_string())),
            Err(e) => Err(Error::path("open state directory", &path, e)),
        }
    }

    /// Ids of every directory in the root, ours or not, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::path("read state root", &self.root, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// A locked `ROOT/ID`. The lock (flock on `ROOT/ID/.lock`) is held until the
/// value is dropped, so commands on one container run one at a time.
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    lock: File,
    /// Whether `lock` is held. A directory opened by
    /// [`StateStore::peek_container`] while another command holds the lock
    /// is read without it.
    pub locked: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LockWait {
    Yes,
    No,
}

impl ContainerDir {
    fn lock(id: &str, path: PathBuf, create: bool) -> Result<Self> {
        Self::open_with(id, path, create, LockWait::Yes)
    }

    fn open(id: &str, path: PathBuf, wait: LockWait) -> Result<Self> {
        Self::open_with(id, path, false, wait)
    }

    fn open_with(id: &str, path: PathBuf, create: bool, wait: LockWait) -> Result<Self> {
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(create)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&lock_path)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound if path.exists() => Error::Other(format!(
                    "container {id:?} is not a runwasm container ({} has no {LOCK_FILE})",
                    path.display()
                )),
                ErrorKind::NotFound => Error::NotExist(id.to_string()),
                _ => Error::path("open lock", &lock_path, e),
            })?;
        let op = match wait {
            LockWait::Yes => libc::LOCK_EX,
            // Shared: readers do not exclude each other.
            LockWait::No => libc::LOCK_SH | libc::LOCK_NB,
        };
        let locked = loop {
            // SAFETY: flock on an fd we own.
            let rc = unsafe { libc::flock(lock.as_raw_fd(), op) };
            if rc == 0 {
                break true;
            }
            let e = std::io::Error::last_os_error();
            if wait == LockWait::No && e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                break false;
            }
            if e.kind() != ErrorKind::Interrupted {
                return Err(Error::path("lock", &lock_path, e));
            }
        };
        // The directory may have been deleted (and even made again) while
        // we waited: the lock only counts if it is still the one in place.
        let ours = lock.metadata().ok();
        let current = fs::symlink_metadata(&lock_path).ok();
        match (ours, current) {
            (Some(a), Some(b)) if a.ino() == b.ino() && a.dev() == b.dev() => {}
            _ => return Err(Error::NotExist(id.to_string())),
        }
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            lock,
            locked,
        })
    }

    /// The lock's descriptor (init closes it even inside the
    /// `--preserve-fds` range).
    pub fn lock_fd(&self) -> i32 {
        self.lock.as_raw_fd()
    }

    pub fn state_path(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    /// Reads state.json. A missing file (the directory was deleted while we
    /// waited for the lock, or create died before writing it) is
    /// `NotExist`; another runtime's file or garbage is a clear error.
    pub fn load(&self) -> Result<State> {
        let path = self.state_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::NotExist(self.id.clone()))
            }
            Err(e) => return Err(Error::path("read", &path, e)),
        };
        State::from_bytes(&bytes, &self.id)
            .map_err(|msg| Error::other(format!("{}: {msg}", path.display())))
    }

    /// Writes state.json atomically: a temporary file, then rename.
    pub fn save(&self, state: &State) -> Result<()> {
        let tmp = self.path.join(".state.json.tmp");
        let json = serde_json::to_vec(state).map_err(|e| Error::other(e.to_string()))?;
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .context(|| format!("create {}", tmp.display()))?;
        f.write_all(&json)
            .context(|| format!("write {}", tmp.display()))?;
        drop(f);
        fs::rename(&tmp, self.state_path()).context(|| format!("rename {}", tmp.display()))
    }

    /// Removes the whole directory (the lock file with it), see
    /// [`remove_container_dir`].
    pub fn remove(self) -> Result<()> {
        remove_container_dir(&self.path, &self.id)
    }
}

/// Removes `ROOT/ID` so that no moment of it looks like something else:
/// the directory is first renamed away to `ROOT/.gone:ID:PID` (one atomic
/// step: from then on the id does not exist), then removed. A runwasm
/// killed in between leaves only the `.gone:` directory, which the next
/// `create` or `delete` of the id sweeps. (Removing in place could leave
/// `state.json` without `.lock`, which reads as another runtime's entry
/// that `delete` must not touch.)
pub(crate) fn remove_container_dir(path: &Path, id: &str) -> Result<()> {
    let root = path.parent().unwrap_or(Path::new("/"));
    let grave = root.join(format!("{GONE_PREFIX}{}:{}", short(id), std::process::id()));
    let _ = fs::remove_dir_all(&grave);
    match fs::rename(path, &grave) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::path("remove", path, e)),
    }
    crate::fault_point!("delete:after-rename");
    match fs::remove_dir_all(&grave) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::path("remove", &grave, e)),
    }
}

/// A short stand-in for `id` in temporary names (an id may be 255 bytes,
/// the longest a name can be).
fn short(id: &str) -> String {
    if id.len() <= 64 {
        return id.to_string();
    }
    let h = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
        id.as_bytes(),
    ));
    h.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let f = std::ffi::CString::new(from.as_os_str().as_bytes())?;
    let t = std::ffi::CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: valid C strings; renameat2 only renames.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str) -> State {
        State {
            runtime: RUNTIME_MARKER.into(),
            oci_version: crate::OCI_VERSION.into(),
            id: id.into(),
            status: Status::Created,
            pid: 42,
            init_start_time: 7,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: crate::time::now_rfc3339(),
            annotations: BTreeMap::new(),
            workload: WorkloadKind::Wasm,
            hooks: None,
            cgroup: None,
        }
    }

    #[test]
    fn create_save_load_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let store = StateStore::open(&root).unwrap();
        let mode = fs::metadata(&root).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o700
        );
        let dir = store.create("c1").unwrap();
        dir.save(&sample("c1")).unwrap();
        assert_eq!(dir.load().unwrap().pid, 42);
        drop(dir);
        assert!(matches!(store.create("c1"), Err(Error::AlreadyExists(_))));
        let dir = store.open_container("c1").unwrap();
        dir.remove().unwrap();
        assert!(matches!(
            store.open_container("c1"),
            Err(Error::NotExist(_))
        ));
    }

    #[test]
    fn from_bytes_checks_what_commands_rely_on() {
        let good = serde_json::to_value(sample("c1")).unwrap();
        let parse = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            edit(&mut v);
            State::from_bytes(v.to_string().as_bytes(), "c1").map(|s| s.pid)
        };
        assert_eq!(parse(&|_| {}), Ok(42));
        assert!(State::from_bytes(good.to_string().as_bytes(), "c2").is_err());
        type Edit<'a> = &'a dyn Fn(&mut serde_json::Value);
        let bad: [(Edit, &str); 6] = [
            (&|v| v["pid"] = (-1).into(), "pid: -1"),
            (&|v| v["runtime"] = "runc".into(), "not a runwasm"),
            (&|v| v["bundle"] = "b".into(), "bundle: \"b\""),
            (
                &|v| v["cgroup"] = serde_json::json!({"path": "/", "systemd": false}),
                "cgroup.path",
            ),
            (
                &|v| v["cgroup"] = serde_json::json!({"path": "/a/../..", "systemd": false}),
                "cgroup.path",
            ),
            // Found by the state fuzz target: "." is the root cgroup too.
            (
                &|v| v["cgroup"] = serde_json::json!({"path": ".", "systemd": true}),
                "cgroup.path",
            ),
        ];
        for (edit, want) in bad {
            let e = parse(edit).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn foreign_state_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::open(tmp.path()).unwrap();
        fs::create_dir(tmp.path().join("runc1")).unwrap();
        fs::write(
            tmp.path().join("runc1/state.json"),
            r#"{"id":"runc1","init_process_pid":1}"#,
        )
        .unwrap();
        let err = store.open_container("runc1").err().unwrap();
        assert!(err.to_string().contains("not a runwasm container"), "{err}");
        assert!(!tmp.path().join("runc1/.lock").exists());
        // Ours, but the state file is garbage: a clear error too.
        let dir = store.create("c2").unwrap();
        fs::write(dir.state_path(), "garbage").unwrap();
        drop(dir);
        let err = store.open_container("c2").unwrap().load().unwrap_err();
        assert!(
            err.to_string().contains("not a runwasm container state"),
            "{err}"
        );
    }
}
