//! `linux.namespaces`: which namespaces the init process gets new (clone
//! flags), which it joins by path (setns), and the user namespace's id maps,
//! written by the parent once the child exists.
//!
//! A pid namespace given by path is joined by the parent before it clones
//! (setns of a pid namespace only affects the caller's children), so init
//! is born in it; every other path is joined by init itself, user first.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::{Error, Result};

/// A namespace joined by path: `linux.namespaces[index]`.
#[derive(Debug, Clone)]
pub struct JoinNs {
    /// Its CLONE_NEW* flag.
    pub flag: libc::c_int,
    pub path: PathBuf,
    /// Its entry in `linux.namespaces`, named in errors.
    pub index: usize,
}

impl JoinNs {
    /// `linux.namespaces[I] (TYPE)`.
    fn field(&self) -> String {
        format!(
            "linux.namespaces[{}] ({})",
            self.index,
            flag_name(self.flag)
        )
    }

    /// setns into it; an error names the entry, the path and why.
    fn enter(&self) -> Result<()> {
        let f = File::open(&self.path).map_err(|e| {
            Error::Config(format!(
                "{}: open {}: {e}",
                self.field(),
                self.path.display()
            ))
        })?;
        // SAFETY: setns on an fd we hold open.
        if unsafe { libc::setns(f.as_raw_fd(), self.flag) } != 0 {
            let e = std::io::Error::last_os_error();
            let why = super::security::strerror(&e);
            let hint = if e.raw_os_error() == Some(libc::EINVAL) {
                format!(" (not a {} namespace)", flag_name(self.flag))
            } else {
                String::new()
            };
            return Err(Error::Config(format!(
                "{}: join {}: {why}{hint}",
                self.field(),
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// The namespace plan of one container.
#[derive(Debug, Default, Clone)]
pub struct Namespaces {
    /// CLONE_NEW* flags for the namespaces init gets new.
    pub clone_flags: libc::c_int,
    /// Namespaces init joins by path, user namespace first.
    pub join: Vec<JoinNs>,
    /// A pid namespace to be born into.
    pub join_pid: Option<JoinNs>,
    pub uid_mappings: Vec<LinuxIdMapping>,
    pub gid_mappings: Vec<LinuxIdMapping>,
}

impl Namespaces {
    /// Reads and checks `linux.namespaces` (no duplicates, paths that
    /// exist, id maps present with a new user namespace).
    pub fn from_spec(spec: &Spec) -> Result<Self> {
        let mut ns = Namespaces::default();
        let Some(linux) = spec.linux() else {
            return Ok(ns);
        };
        let mut seen = 0;
        for (i, n) in linux
            .namespaces()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let flag = clone_flag(n.typ());
            let field = || format!("linux.namespaces[{i}] ({})", type_name(n.typ()));
            if seen & flag != 0 {
                return Err(Error::Config(format!("{}: listed twice", field())));
            }
            seen |= flag;
            match n.path() {
                Some(p) if !p.as_os_str().is_empty() => {
                    if !p.exists() {
                        return Err(Error::Config(format!(
                            "{}: path {} does not exist",
                            field(),
                            p.display()
                        )));
                    }
                    let j = JoinNs {
                        flag,
                        path: p.clone(),
                        index: i,
                    };
                    if flag == libc::CLONE_NEWPID {
                        ns.join_pid = Some(j);
                    } else if flag == libc::CLONE_NEWUSER {
                        ns.join.insert(0, j);
                    } else {
                        ns.join.push(j);
                    }
                }
                _ => ns.clone_flags |= flag,
            }
        }
        if ns.clone_flags & libc::CLONE_NEWUSER != 0 {
            ns.uid_mappings = linux.uid_mappings().clone().unwrap_or_default();
            ns.gid_mappings = linux.gid_mappings().clone().unwrap_or_default();
            if ns.uid_mappings.is_empty() || ns.gid_mappings.is_empty() {
                return Err(Error::Config(
                    "linux.uidMappings/gidMappings: a new user namespace needs both".into(),
                ));
            }
        } else if linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(Error::Config(
                "linux.uidMappings: set without a new user namespace".into(),
            ));
        }
        Ok(ns)
    }

    pub fn has(&self, flag: libc::c_int) -> bool {
        self.clone_flags & flag != 0 || self.join.iter().any(|j| j.flag == flag)
    }

    pub fn new_user(&self) -> bool {
        self.clone_flags & libc::CLONE_NEWUSER != 0
    }

    /// In the parent, before cloning: enter the pid namespace init must be
    /// born into.
    pub fn enter_pid_namespace(&self) -> Result<()> {
        if let Some(j) = &self.join_pid {
            j.enter()?;
        }
        Ok(())
    }

    /// In the parent: write the child's uid and gid maps.
    pub fn write_id_maps(&self, pid: i32) -> Result<()> {
        if !self.new_user() {
            return Ok(());
        }
        write_map(pid, "uid_map", &self.uid_mappings)?;
        write_map(pid, "gid_map", &self.gid_mappings)
    }

    /// In init: join the namespaces given by path, user namespace first.
    pub fn join_paths(&self) -> Result<()> {
        for j in &self.join {
            j.enter()?;
        }
        Ok(())
    }
}

/// Clones the calling (single-threaded) process like fork(2), into the new
/// namespaces of `flags`. Returns the child's pid in the parent, 0 in the
/// child.
///
/// # Safety
/// As for fork: the caller must be single-threaded, and the child must end
/// in `_exit` or `exec`.
pub unsafe fn clone_process(flags: libc::c_int) -> std::io::Result<i32> {
    // SAFETY: clone with a NULL stack behaves as fork (the child continues on
    // a copy of the parent's stack); the caller guarantees fork-safety.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    if pid < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(pid as i32)
    }
}

fn write_map(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::write(&path, text).map_err(|e| {
        let field = if file == "uid_map" {
            "linux.uidMappings"
        } else {
            "linux.gidMappings"
        };
        Error::Config(format!("{field}: write {}: {e}", path.display()))
    })
}

pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => 0x80, // CLONE_NEWTIME
    }
}

/// The type name of a CLONE_NEW* flag.
fn flag_name(flag: libc::c_int) -> &'static str {
    use LinuxNamespaceType::*;
    [Mount, Cgroup, Uts, Ipc, User, Pid, Network, Time]
        .into_iter()
        .find(|t| clone_flag(*t) == flag)
        .map_or("unknown", type_name)
}

pub fn type_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(namespaces: &str) -> Spec {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"linux":{{"namespaces":{namespaces}}}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn new_and_joined() {
        let ns = Namespaces::from_spec(&spec(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"network","path":"/proc/self/ns/net"},{"type":"ipc"}]"#,
        ))
        .unwrap();
        assert_eq!(
            ns.clone_flags,
            libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWIPC
        );
        assert_eq!(ns.join.len(), 1);
        assert!(ns.has(libc::CLONE_NEWNET));
        assert!(!ns.has(libc::CLONE_NEWUTS));
    }

    #[test]
    fn errors_name_the_entry() {
        let e = Namespaces::from_spec(&spec(r#"[{"type":"pid"},{"type":"pid"}]"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.namespaces[1] (pid)"), "{e}");
        let e = Namespaces::from_spec(&spec(r#"[{"type":"network","path":"/nope"}]"#))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux.namespaces[0]") && e.contains("/nope"),
            "{e}"
        );
        let e = Namespaces::from_spec(&spec(r#"[{"type":"user"}]"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("uidMappings"), "{e}");
    }
}
