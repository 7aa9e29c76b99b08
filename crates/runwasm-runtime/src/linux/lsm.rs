//! `process.apparmorProfile` and `process.selinuxLabel`, handled as runc
//! handles them (checked against runc's source):
//!
//! - a SELinux label on a host where SELinux is disabled fails config
//!   validation: "selinux label is specified in config, but selinux is
//!   disabled or not supported" (runc `validate.security`);
//! - an AppArmor profile is written to `/proc/self/attr/apparmor/exec` (or
//!   the legacy `attr/exec`) unconditionally by runc's init, so on a host
//!   without AppArmor runc fails with "unable to apply apparmor profile:
//!   ... write /proc/self/attr/exec: ...". runwasm fails the same way, but
//!   up front and with a clearer message. (Docker, podman and containerd
//!   leave the field empty when the host has no AppArmor.)
//!
//! Labels take effect at the next `execve`, as in runc. A Wasm workload
//! never execs, so with an enabled LSM its label is refused rather than
//! silently not applied.

use std::io::Write;
use std::sync::OnceLock;

use oci_spec::runtime::Process;

use super::security::strerror;
use crate::{Error, Result};

/// Which LSMs are enabled, probed once (first call must see the host's
/// `/sys` and `/proc`, i.e. happen before `pivot_root`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lsm {
    pub apparmor: bool,
    pub selinux: bool,
}

/// Probes the host like runc's `apparmor.IsEnabled` and go-selinux's
/// `GetEnabled`. Cached: later calls (after `pivot_root`, or in a forked
/// init) return the first answer.
pub fn probe() -> Lsm {
    static LSM: OnceLock<Lsm> = OnceLock::new();
    *LSM.get_or_init(|| {
        let apparmor = std::path::Path::new("/sys/kernel/security/apparmor").exists()
            && std::fs::read("/sys/module/apparmor/parameters/enabled")
                .map(|b| b.first() == Some(&b'Y'))
                .unwrap_or(false);
        let selinuxfs = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|m| m.lines().any(|l| l.contains(" - selinuxfs ")))
            .unwrap_or(false);
        let selinux = selinuxfs
            && std::fs::read_to_string("/proc/self/attr/current")
                .map(|c| c.trim_end_matches(['\0', '\n']) != "kernel")
                .unwrap_or(false);
        Lsm { apparmor, selinux }
    })
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Fails when the config asks for a label the host cannot apply. Call it
/// before `pivot_root` (ideally in `create`, before cloning init).
pub fn check_lsm(process: &Process) -> Result<()> {
    check_with(process, probe())
}

fn check_with(process: &Process, lsm: Lsm) -> Result<()> {
    if let Some(p) = non_empty(process.apparmor_profile()) {
        if !lsm.apparmor {
            return Err(Error::Config(format!(
                "process.apparmorProfile {p:?}: apparmor is not enabled on this host, so the \
                 profile cannot be applied (leave the field empty)"
            )));
        }
    }
    if let Some(l) = non_empty(process.selinux_label()) {
        if !lsm.selinux {
            return Err(Error::Config(format!(
                "process.selinuxLabel {l:?}: selinux label is specified in config, but selinux \
                 is disabled or not supported"
            )));
        }
    }
    Ok(())
}

fn write_attr(lsm_dir: Option<&str>, attr: &str, value: &str) -> Result<(), String> {
    let base = "/proc/thread-self/attr";
    let path = match lsm_dir {
        Some(d) if std::path::Path::new(&format!("{base}/{d}/{attr}")).exists() => {
            format!("{base}/{d}/{attr}")
        }
        _ => format!("{base}/{attr}"),
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| format!("write {path}: {}", strerror(&e)))
}

/// Sets the labels of `process` for its next `execve` (runc's
/// `apparmor.ApplyProfile` and `selinux.SetExecLabel`). `execs` says
/// whether the workload will exec (native) or not (Wasm: refused when a
/// label is set, since it would never take effect). Call after
/// [`check_lsm`], late in init.
pub fn apply_lsm(process: &Process, execs: bool) -> Result<()> {
    check_lsm(process)?;
    let profile = non_empty(process.apparmor_profile());
    let label = non_empty(process.selinux_label());
    if !execs {
        if let Some(p) = profile {
            return Err(Error::other(format!(
                "process.apparmorProfile {p:?}: applying an AppArmor profile to a Wasm workload \
                 (which does not execve) is not implemented"
            )));
        }
        if let Some(l) = label {
            return Err(Error::other(format!(
                "process.selinuxLabel {l:?}: applying a SELinux label to a Wasm workload (which \
                 does not execve) is not implemented"
            )));
        }
    }
    if let Some(p) = profile {
        write_attr(Some("apparmor"), "exec", &format!("exec {p}")).map_err(|e| {
            Error::other(format!("process.apparmorProfile {p:?}: apply profile: {e}"))
        })?;
    }
    if let Some(l) = label {
        write_attr(None, "exec", l).map_err(|e| {
            Error::other(format!("process.selinuxLabel {l:?}: set exec label: {e}"))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::ProcessBuilder;

    fn process(apparmor: &str, selinux: &str) -> Process {
        ProcessBuilder::default()
            .apparmor_profile(apparmor)
            .selinux_label(selinux)
            .build()
            .unwrap()
    }

    #[test]
    fn labels_on_a_host_without_lsm_are_refused_like_runc() {
        let none = Lsm {
            apparmor: false,
            selinux: false,
        };
        let msg = check_with(&process("docker-default", ""), none)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("process.apparmorProfile \"docker-default\""),
            "{msg}"
        );
        let msg = check_with(&process("", "system_u:system_r:container_t:s0"), none)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("selinux is disabled or not supported"),
            "{msg}"
        );
        // Empty fields are "not set".
        check_with(&process("", ""), none).unwrap();
        let both = Lsm {
            apparmor: true,
            selinux: true,
        };
        check_with(&process("p", "l"), both).unwrap();
    }

    #[test]
    fn this_host_is_probed_consistently() {
        let lsm = probe();
        eprintln!("LSM on this host: {lsm:?}");
        assert_eq!(probe(), lsm);
        let p = process("unconfined", "");
        assert_eq!(check_lsm(&p).is_ok(), lsm.apparmor);
        // A Wasm workload with a label is refused on any host.
        assert!(apply_lsm(&p, false).is_err());
    }
}
