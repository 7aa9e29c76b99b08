//! `linux.sysctl`, checked like runc's `validate.sysctl` (only keys that
//! are namespaced, and only when the container has that namespace) and
//! written to `/proc/sys` of the container.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::security::{namespace, strerror};
use crate::{Error, Result};

/// runc's dotted form of a sysctl key: `net/ipv4/conf/eno2.100/rp_filter`
/// becomes `net.ipv4.conf.eno2/100.rp_filter`.
fn dotted(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

fn same_file(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// runc's `validate.sysctl`: only namespaced keys, and only when the
/// container has that namespace. `netns_path` also refuses a netns path
/// that is the caller's own (meaningful in the runtime, not in init).
fn check_sysctl(spec: &Spec, netns_path: bool) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        let fail = |why: &str| Err(Error::Config(format!("linux.sysctl {key:?}: {why}")));
        let path = key.replace('.', "/");
        if key.contains('\0')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return fail("not a valid sysctl name");
        }
        let s = dotted(key);
        if IPC.contains(&s.as_str()) || s.starts_with("fs.mqueue.") {
            if namespace(spec, LinuxNamespaceType::Ipc).is_none() {
                return fail(
                    "not allowed in the host's ipc namespace (linux.namespaces has no ipc entry)",
                );
            }
            continue;
        }
        if s.starts_with("net.") {
            match namespace(spec, LinuxNamespaceType::Network) {
                None => return fail("not allowed in the host's network namespace (linux.namespaces has no network entry)"),
                Some(p) if netns_path && !p.as_os_str().is_empty() => {
                    match same_file(&p, Path::new("/proc/self/ns/net")) {
                        Ok(false) => {}
                        Ok(true) => return fail(&format!("not allowed in the host's network namespace ({} is it)", p.display())),
                        Err(e) => return fail(&format!("invalid netns path {}: {}", p.display(), strerror(&e))),
                    }
                }
                Some(_) => {}
            }
            continue;
        }
        if namespace(spec, LinuxNamespaceType::Uts).is_some() {
            match s.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return fail("not allowed as it conflicts with the OCI \"hostname\" field")
                }
                _ => {}
            }
        }
        return fail("is not in a separate kernel namespace");
    }
    Ok(())
}

/// Checks `linux.sysctl` in the runtime, before init is cloned: also
/// refuses a `network` namespace path that is the runtime's own.
pub fn validate_sysctl(spec: &Spec) -> Result<()> {
    check_sysctl(spec, true)
}

/// Writes each `linux.sysctl` entry to `/proc/sys/...` after checking it is
/// namespaced like runc does; the file must be on procfs (no symlink).
pub fn apply_sysctl(spec: &Spec) -> Result<()> {
    check_sysctl(spec, false)?;
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let mut entries: Vec<(&String, &String)> = sysctl.iter().collect();
    entries.sort();
    for (key, value) in entries {
        // A key given with slashes is already a path (runc's convention).
        let rel = if dotted(key) == *key {
            key.replace('.', "/")
        } else {
            key.clone()
        };
        let path = Path::new("/proc/sys").join(rel);
        let fail = |what: &str, e: std::io::Error| {
            Error::other(format!(
                "linux.sysctl {key:?}={value:?}: {what} {}: {}",
                path.display(),
                strerror(&e)
            ))
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| fail("open", e))?;
        let mut st: libc::statfs = {
            // SAFETY: statfs is plain old data; zero is a valid value.
            unsafe { std::mem::zeroed() }
        };
        // SAFETY: f is an open fd and st is valid for writing.
        if unsafe { libc::fstatfs(f.as_raw_fd(), &mut st) } != 0 {
            return Err(fail("fstatfs", std::io::Error::last_os_error()));
        }
        if st.f_type != libc::PROC_SUPER_MAGIC {
            return Err(Error::other(format!(
                "linux.sysctl {key:?}: {} is not on procfs",
                path.display()
            )));
        }
        f.write_all(value.as_bytes())
            .map_err(|e| fail("write", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::security::test_support::{in_child, require_root, spec, unshare};

    #[test]
    fn sysctl_keys_are_checked_like_runc() {
        let ns = serde_json::json!([{"type": "ipc"}, {"type": "uts"}]);
        let check = |key: &str, ns: &serde_json::Value| {
            let linux = serde_json::json!({"namespaces": ns, "sysctl": {key: "1"}});
            check_sysctl(&spec(linux, serde_json::json!({})), true).map_err(|e| e.to_string())
        };
        check("kernel.shmmax", &ns).unwrap();
        check("fs.mqueue.msg_max", &ns).unwrap();
        check("kernel.domainname", &ns).unwrap();
        check("kernel/shmmax", &ns).unwrap();
        let bad = [
            (
                "kernel.shmmax",
                serde_json::json!([]),
                "not allowed in the host's ipc namespace",
            ),
            (
                "net.ipv4.ip_forward",
                ns.clone(),
                "not allowed in the host's network namespace",
            ),
            (
                "kernel.hostname",
                ns.clone(),
                "conflicts with the OCI \"hostname\" field",
            ),
            (
                "vm.swappiness",
                ns.clone(),
                "is not in a separate kernel namespace",
            ),
            ("kernel.sem..x", ns.clone(), "not a valid sysctl name"),
            (
                "net/../../etc",
                serde_json::json!([{"type": "network"}]),
                "not a valid sysctl name",
            ),
            (
                "net.ipv4.ip_forward",
                serde_json::json!([{"type": "network", "path": "/proc/self/ns/net"}]),
                "not allowed in the host's network namespace (/proc/self/ns/net is it)",
            ),
        ];
        for (key, ns, why) in bad {
            let msg = check(key, &ns).unwrap_err();
            assert!(
                msg.starts_with(&format!("linux.sysctl {key:?}: ")) && msg.contains(why),
                "{msg}"
            );
        }
    }

    #[test]
    fn sysctl_written_in_ipc_and_net_namespaces() {
        require_root!();
        let s = spec(
            serde_json::json!({
                "namespaces": [{"type": "ipc"}, {"type": "network"}],
                "sysctl": {"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"}
            }),
            serde_json::json!({}),
        );
        in_child(|| {
            unshare(libc::CLONE_NEWIPC | libc::CLONE_NEWNET)?;
            apply_sysctl(&s).map_err(|e| e.to_string())?;
            let read = |p: &str| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            match (
                read("/proc/sys/kernel/shmmni"),
                read("/proc/sys/net/ipv4/ip_forward"),
            ) {
                (a, b) if a == "1234" && b == "1" => Ok(()),
                other => Err(format!("shmmni, ip_forward: {other:?}")),
            }
        })
        .unwrap();
    }
}
