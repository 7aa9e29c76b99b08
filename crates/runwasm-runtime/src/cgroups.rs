//! The container's cgroup, through libcgroups: placement
//! (`linux.cgroupsPath`, default `/runwasm/ID`; `slice:prefix:name` with
//! `--systemd-cgroup`), `linux.resources`, and what the operations need
//! (every pid, freeze/thaw, stats, removal). v1, v2 or systemd is picked the
//! way libcgroups picks it (this project's hosts: v1 hybrid).
//!
//! libcgroups uses oci-spec 0.10 while runwasm parses config.json with
//! 0.7: `LinuxResources` crosses over as JSON, which both read alike.

use std::path::{Path, PathBuf};

use libcgroups::common::{
    create_cgroup_manager, AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt,
    FreezerState,
};
use oci_spec::runtime::{LinuxResources, Spec};

use crate::{Error, Result};

/// Where a container's cgroup is, as recorded in its state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupPlace {
    pub path: PathBuf,
    pub systemd: bool,
    /// Whether runwasm made this cgroup. One that existed before (a
    /// `cgroupsPath` naming someone else's cgroup) is joined but never
    /// emptied or removed.
    #[serde(default = "yes")]
    pub owned: bool,
}

fn yes() -> bool {
    true
}

/// Whether `path` (a cgroupsPath or a recorded cgroup) names a cgroup below
/// the root: at least one name, and no `..` (nor, for systemd's
/// `slice:prefix:name`, a `..` part). `/`, `.`, `./` and `//` all name the
/// root cgroup, which a container must never take over or remove.
pub fn names_a_child(path: &Path) -> bool {
    path.components()
        .any(|c| matches!(c, std::path::Component::Normal(_)))
        && !path.to_string_lossy().split(['/', ':']).any(|c| c == "..")
}

/// Whether the cgroup at `path` exists already (in any hierarchy we know).
fn exists(path: &Path) -> bool {
    let rel = path.strip_prefix("/").unwrap_or(path);
    ["memory", "pids", "cpu", "freezer", "unified", ""]
        .iter()
        .any(|h| {
            let base = Path::new("/sys/fs/cgroup").join(h);
            !rel.as_os_str().is_empty() && base.join(rel).join("cgroup.procs").exists()
        })
}

impl CgroupPlace {
    /// `linux.cgroupsPath`, or runwasm's default for `id`.
    pub fn for_spec(spec: &Spec, id: &str, systemd: bool) -> Result<Self> {
        let given = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
            .filter(|p| !p.as_os_str().is_empty());
        let path = match given {
            Some(p) => {
                if p.to_string_lossy().split(['/', ':']).any(|c| c == "..") {
                    return Err(Error::Config(format!(
                        "linux.cgroupsPath: {:?} must not contain \"..\"",
                        p
                    )));
                }
                if !names_a_child(&p) {
                    return Err(Error::Config(format!(
                        "linux.cgroupsPath: {p:?} is the root cgroup, not a container's"
                    )));
                }
                if systemd && p.to_string_lossy().split(':').count() != 3 {
                    return Err(Error::Config(format!(
                        "linux.cgroupsPath: {:?} is not of the form slice:prefix:name (needed with --systemd-cgroup)",
                        p
                    )));
                }
                p
            }
            None if systemd => PathBuf::from(format!("system.slice:runwasm:{id}")),
            None => Path::new("/runwasm").join(id),
        };
        let owned = systemd || !exists(&path);
        Ok(CgroupPlace {
            path,
            systemd,
            owned,
        })
    }

    /// Kills what is left in this cgroup and removes it from every
    /// hierarchy: what `manager(id)?.remove()` does, but on a v1 or hybrid
    /// host without libcgroups' manager, which reads the mount table once
    /// per controller (twelve times) before it can start. `delete` is on the
    /// path of every `run`.
    pub fn remove(&self, id: &str) -> Result<()> {
        if self.systemd || !is_v1_host() {
            return self.manager(id)?.remove();
        }
        let rel = self.rel();
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        for h in v1_hierarchies()? {
            remove_v1_dir(&h.mount_point.join(rel)).map_err(|e| {
                Error::other(format!("cgroup {}: remove: {e}", self.path.display()))
            })?;
        }
        Ok(())
    }

    /// Whether [`join_v1`](Self::join_v1) can place a process here: a
    /// cgroupfs path on a v1 or hybrid host. Elsewhere (v2, systemd) the
    /// manager does it.
    pub fn joins_itself(&self) -> bool {
        !self.systemd && is_v1_host()
    }

    /// Creates the cgroup and moves `pid` into it on a v1 or hybrid host,
    /// without libcgroups' manager (whose making reads the mount table and
    /// our cgroups a dozen times): what its `add_task` does, in every
    /// hierarchy it would use.
    pub fn join_v1(&self, pid: i32) -> Result<()> {
        let rel = self.rel();
        for h in v1_hierarchies()? {
            let dir = h.mount_point.join(rel);
            let err = |what: &str, e: std::io::Error| {
                Error::other(format!(
                    "cgroup {}: {what} {}: {e}",
                    self.path.display(),
                    dir.display()
                ))
            };
            std::fs::create_dir_all(&dir).map_err(|e| err("create", e))?;
            if h.cpuset {
                fill_cpuset(&h.mount_point, rel).map_err(|e| err("cpuset of", e))?;
            }
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())
                .map_err(|e| err("add init to", e))?;
        }
        Ok(())
    }

    /// runwasm's default cgroup for `id` (`/runwasm/ID`), if it exists:
    /// what `delete --force` can still clean when the state that named
    /// the cgroup is unreadable.
    pub fn default_if_present(id: &str) -> Option<Self> {
        let path = Path::new("/runwasm").join(id);
        exists(&path).then_some(CgroupPlace {
            path,
            systemd: false,
            owned: true,
        })
    }

    /// Whether the cgroup's freezer holds it frozen (or freezing), read
    /// from the cgroupfs file itself; None when that cannot be told (no
    /// such cgroup, a systemd-managed one).
    pub fn frozen(&self) -> Option<bool> {
        if self.systemd {
            return None;
        }
        let rel = self.rel();
        let root = Path::new("/sys/fs/cgroup");
        if let Ok(s) = std::fs::read_to_string(root.join("freezer").join(rel).join("freezer.state"))
        {
            return Some(s.trim() != "THAWED");
        }
        if root.join("cgroup.controllers").exists() {
            if let Ok(s) = std::fs::read_to_string(root.join(rel).join("cgroup.freeze")) {
                return Some(s.trim() == "1");
            }
        }
        None
    }

    /// The path below each hierarchy's root.
    fn rel(&self) -> &Path {
        self.path.strip_prefix("/").unwrap_or(&self.path)
    }

    /// A manager for this cgroup (nothing is created until `add`).
    pub fn manager(&self, id: &str) -> Result<Cgroup> {
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: self.path.clone(),
            systemd_cgroup: self.systemd,
            container_name: id.to_string(),
        })
        .map_err(|e| Error::other(format!("cgroup {}: {e}", self.path.display())))?;
        Ok(Cgroup {
            manager,
            path: self.path.clone(),
        })
    }
}

/// Whether /sys/fs/cgroup is a v1 (legacy or hybrid) layout.
fn is_v1_host() -> bool {
    matches!(
        libcgroups::common::get_cgroup_setup(),
        Ok(libcgroups::common::CgroupSetup::Legacy | libcgroups::common::CgroupSetup::Hybrid)
    )
}

/// The controllers libcgroups' v1 manager places a container in.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// A mounted v1 hierarchy that carries one of those controllers.
struct V1Hierarchy {
    mount_point: PathBuf,
    cpuset: bool,
}

/// The names a v1 controller's mount point may end with, as libcgroups
/// finds a controller's hierarchy (by the mount point's last component,
/// not by the mount options).
fn v1_mount_names(controller: &str) -> &[&str] {
    match controller {
        "net_cls" => &["net_cls,net_prio", "net_prio,net_cls", "net_cls"],
        "net_prio" => &["net_cls,net_prio", "net_prio,net_cls", "net_prio"],
        "cpu" => &["cpu,cpuacct", "cpu"],
        "cpuacct" => &["cpu,cpuacct", "cpuacct"],
        "cpuset" => &["cpuset"],
        "devices" => &["devices"],
        "hugetlb" => &["hugetlb"],
        "memory" => &["memory"],
        "pids" => &["pids"],
        "perf_event" => &["perf_event"],
        "blkio" => &["blkio"],
        "freezer" => &["freezer"],
        _ => &[],
    }
}

/// The v1 hierarchies libcgroups' v1 manager places a container in, each
/// once, from one read of our mount table and of `/proc/self/cgroup`: for
/// each controller our cgroups list, the first cgroup mount whose mount
/// point is named after it (libcgroups' own rule, so that the manager,
/// which applies the limits, lists, freezes and counts, finds the same
/// directories).
fn v1_hierarchies() -> Result<Vec<V1Hierarchy>> {
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read /proc/self/mountinfo", e))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::io("read /proc/self/cgroup", e))?;
    let listed: Vec<&str> = own
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .flat_map(|c| c.split(','))
        .collect();
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - TYPE SOURCE SUPEROPTS
    let mounts: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next()? != "cgroup" {
                return None;
            }
            let mount_point = left.split(' ').nth(4)?;
            Some(PathBuf::from(unescape_mountinfo(mount_point)))
        })
        .collect();
    let mut found: Vec<V1Hierarchy> = Vec::new();
    for controller in V1_CONTROLLERS {
        if !listed.contains(controller) {
            continue;
        }
        let names = v1_mount_names(controller);
        let Some(mount_point) = mounts.iter().find(|m| names.iter().any(|n| m.ends_with(n))) else {
            continue;
        };
        let cpuset = *controller == "cpuset";
        match found.iter_mut().find(|h| &h.mount_point == mount_point) {
            Some(h) => h.cpuset |= cpuset,
            None => found.push(V1Hierarchy {
                mount_point: mount_point.clone(),
                cpuset,
            }),
        }
    }
    Ok(found)
}

/// A new cpuset cgroup starts with empty `cpuset.cpus` and `cpuset.mems`,
/// and no task may join it so: each level below the mount point that has
/// none gets its parent's.
fn fill_cpuset(mount_point: &Path, rel: &Path) -> std::io::Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut dir = mount_point.to_path_buf();
        let mut value = std::fs::read_to_string(dir.join(file))?;
        for part in rel.components() {
            dir.push(part);
            let own = std::fs::read_to_string(dir.join(file))?;
            if own.trim().is_empty() {
                std::fs::write(dir.join(file), value.trim())?;
            } else {
                value = own;
            }
        }
    }
    Ok(())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Kills the processes of one v1 cgroup directory and removes it, retrying
/// while the kernel still counts the dying ones.
fn remove_v1_dir(dir: &Path) -> std::io::Result<()> {
    let mut delay = std::time::Duration::from_millis(2);
    for attempt in 0.. {
        match std::fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(procs) => {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill(2) of a process in the container's cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 10 => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub struct Cgroup {
    manager: AnyCgroupManager,
    path: PathBuf,
}

impl Cgroup {
    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::other(format!("cgroup {}: {what}: {e}", self.path.display()))
    }

    /// Creates the cgroup (if needed) and moves `pid` into it.
    pub fn add(&self, pid: i32) -> Result<()> {
        self.manager
            .add_task(nix::unistd::Pid::from_raw(pid))
            .map_err(|e| self.err("add init", e))
    }

    /// Applies `linux.resources` (live, for `update` too).
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let json = serde_json::to_value(resources).map_err(|e| Error::other(e.to_string()))?;
        let converted: oci_spec_cg::runtime::LinuxResources = serde_json::from_value(json)
            .map_err(|e| Error::Config(format!("linux.resources: {e}")))?;
        let disable_oom_killer = resources
            .memory()
            .as_ref()
            .and_then(|m| m.disable_oom_killer())
            .unwrap_or(false);
        self.manager
            .apply(&ControllerOpt {
                resources: &converted,
                disable_oom_killer,
                oom_score_adj: None,
                freezer_state: None,
            })
            .map_err(|e| Error::Config(format!("linux.resources: {e}")))
    }

    pub fn pids(&self) -> Result<Vec<i32>> {
        self.manager
            .get_all_pids()
            .map(|v| v.into_iter().map(|p| p.as_raw()).collect())
            .map_err(|e| self.err("list processes", e))
    }

    pub fn freeze(&self) -> Result<()> {
        self.manager
            .freeze(FreezerState::Frozen)
            .map_err(|e| self.err("freeze", e))
    }

    pub fn thaw(&self) -> Result<()> {
        self.manager
            .freeze(FreezerState::Thawed)
            .map_err(|e| self.err("thaw", e))
    }

    /// Statistics with CPU times in nanoseconds, as runc reports them:
    /// libcgroups passes v1's `cpuacct.stat` through in clock ticks and
    /// v2's `cpu.stat` in microseconds.
    pub fn stats(&self) -> Result<libcgroups::stats::Stats> {
        let mut s = self.manager.stats().map_err(|e| self.err("stats", e))?;
        let usage = &mut s.cpu.usage;
        match self.manager {
            AnyCgroupManager::V1(_) => {
                // SAFETY: sysconf has no memory effects.
                let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
                let ns = 1_000_000_000 / tck;
                usage.usage_user *= ns;
                usage.usage_kernel *= ns;
            }
            AnyCgroupManager::V2(_) | AnyCgroupManager::Systemd(_) => {
                usage.usage_total *= 1000;
                usage.usage_user *= 1000;
                usage.usage_kernel *= 1000;
                s.cpu.throttling.throttled_time *= 1000;
            }
        }
        Ok(s)
    }

    /// Kills what is left in it and removes it (in every hierarchy).
    pub fn remove(&self) -> Result<()> {
        self.manager.remove().map_err(|e| self.err("remove", e))
    }

    /// Sends `sig` to every process in the cgroup, frozen meanwhile so none
    /// can fork away (runc's signalAllProcesses).
    pub fn signal_all(&self, sig: i32) -> Result<()> {
        let frozen = self.freeze().is_ok();
        crate::fault_point!("kill:after-freeze");
        let result = self.pids().map(|pids| {
            for pid in pids {
                // SAFETY: kill(2) with a pid from the cgroup.
                unsafe { libc::kill(pid, sig) };
            }
        });
        if frozen {
            let _ = self.thaw();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/a\\134b"), "/a\\b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/end\\04"), "/end\\04");
    }

    #[test]
    fn v1_mounts_of_this_host_are_cgroup_hierarchies() {
        if !is_v1_host() {
            eprintln!("SKIPPED: /sys/fs/cgroup is not a v1 or hybrid layout here");
            return;
        }
        let mounts: Vec<PathBuf> = v1_hierarchies()
            .unwrap()
            .into_iter()
            .map(|h| h.mount_point)
            .collect();
        assert!(!mounts.is_empty());
        for m in &mounts {
            assert!(m.join("cgroup.procs").exists(), "{}", m.display());
        }
        // The named systemd hierarchy carries no controller.
        assert!(!mounts.iter().any(|m| m.ends_with("systemd")));
    }
}
