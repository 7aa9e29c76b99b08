//! `process.user`: supplementary groups, gid, uid and umask, switched the way
//! runc's `setupUser`/`finalizeNamespace` do it.
//!
//! When `process.capabilities` is set, `PR_SET_KEEPCAPS` keeps the permitted
//! set across a switch away from uid 0, so the configured sets can be applied
//! afterwards ([`super::caps::apply_process_sets`]); the kernel clears the
//! effective set on that switch. Without `process.capabilities` no keepcaps
//! is set, so a non-root user ends with no capabilities. (runc always sets
//! keepcaps and relies on `execve` to clear them; a Wasm workload never
//! execs, so the kernel's plain setuid rule is the right one here.)

use oci_spec::runtime::Process;

use super::security::strerror;
use crate::{Error, Result};

/// runc's umask when `process.user.umask` is not set.
pub const DEFAULT_UMASK: u32 = 0o022;

/// Whether `setgroups(2)` is allowed: not in a user namespace whose
/// `/proc/self/setgroups` says `deny` (an unprivileged one).
fn setgroups_allowed() -> bool {
    match std::fs::read_to_string("/proc/self/setgroups") {
        Ok(s) => s.trim() != "deny",
        Err(_) => true,
    }
}

fn keepcaps(on: bool) -> Result<()> {
    // SAFETY: PR_SET_KEEPCAPS takes 0 or 1 and changes a flag of the thread.
    let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) };
    if rc != 0 {
        return Err(Error::io(
            format!("prctl(PR_SET_KEEPCAPS, {})", u8::from(on)),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn unmapped_hint(e: &std::io::Error) -> &'static str {
    if e.raw_os_error() == Some(libc::EINVAL) {
        " (is it mapped in the container's user namespace?)"
    } else {
        ""
    }
}

/// Switches to `process.user`: `setgroups(additionalGids)` (empty when none,
/// so no group of the runtime leaks in), `setresgid`, `setresuid` (real,
/// effective and saved), then the umask (runc's 0022 when unset).
///
/// Call after the bounding set has been dropped and before the other
/// capability sets are applied.
pub fn apply_user(process: &Process) -> Result<()> {
    let user = process.user();
    let (uid, gid) = (user.uid(), user.gid());
    let groups: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    let mask = user.umask().unwrap_or(DEFAULT_UMASK);
    if mask > 0o777 {
        return Err(Error::other(format!(
            "process.user.umask: {mask:#o} is not a file mode mask (at most 0777)"
        )));
    }

    if setgroups_allowed() {
        // SAFETY: groups is a valid array of groups.len() gids.
        let rc = unsafe { libc::setgroups(groups.len(), groups.as_ptr()) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::other(format!(
                "process.user.additionalGids: setgroups({groups:?}): {}{}",
                strerror(&e),
                unmapped_hint(&e)
            )));
        }
    } else if !groups.is_empty() {
        return Err(Error::other(format!(
            "process.user.additionalGids: cannot set {groups:?}: setgroups is denied in this \
             user namespace (/proc/self/setgroups is \"deny\")"
        )));
    }

    let keep = process.capabilities().is_some();
    if keep {
        keepcaps(true)?;
    }
    // SAFETY: plain syscall wrappers; glibc applies them to every thread.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::other(format!(
            "process.user.gid: setgid({gid}): {}{}",
            strerror(&e),
            unmapped_hint(&e)
        )));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::other(format!(
            "process.user.uid: setuid({uid}): {}{}",
            strerror(&e),
            unmapped_hint(&e)
        )));
    }
    if keep {
        keepcaps(false)?;
    }

    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::caps;
    use crate::linux::security::test_support::{in_child, require_root, status_hex};
    use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder, ProcessBuilder, UserBuilder};

    fn current_umask() -> u32 {
        // SAFETY: umask cannot fail; the old value is put back at once.
        let old = unsafe { libc::umask(0) };
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        old as u32
    }

    #[test]
    fn switch_user_keeping_configured_caps() {
        require_root!();
        let set: oci_spec::runtime::Capabilities = [Capability::Kill, Capability::NetBindService]
            .into_iter()
            .collect();
        let c = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .effective(set.clone())
            .permitted(set.clone())
            .inheritable(set.clone())
            .ambient(set)
            .build()
            .unwrap();
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1001u32)
            .additional_gids(vec![2000u32, 2001])
            .umask(0o077u32)
            .build()
            .unwrap();
        let p = ProcessBuilder::default()
            .user(user)
            .capabilities(c)
            .build()
            .unwrap();
        in_child(|| {
            let err = |e: Error| e.to_string();
            caps::drop_bounding_set(&p).map_err(err)?;
            apply_user(&p).map_err(err)?;
            caps::apply_process_sets(&p, true).map_err(err)?;
            // SAFETY: plain getters.
            let ids = unsafe {
                (
                    libc::getuid(),
                    libc::geteuid(),
                    libc::getgid(),
                    libc::getegid(),
                )
            };
            if ids != (1000, 1000, 1001, 1001) {
                return Err(format!("uid/euid/gid/egid: {ids:?}"));
            }
            let groups = nix::unistd::getgroups().map_err(|e| e.to_string())?;
            let groups: Vec<u32> = groups.iter().map(|g| g.as_raw()).collect();
            if groups != [2000, 2001] {
                return Err(format!("groups: {groups:?}"));
            }
            if current_umask() != 0o077 {
                return Err(format!("umask: {:#o}", current_umask()));
            }
            let want = (1u64 << 5) | (1u64 << 10); // CAP_KILL, CAP_NET_BIND_SERVICE
            for field in ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"] {
                let got = status_hex(field)?;
                if got != want {
                    return Err(format!("{field}: got {got:#x}, want {want:#x}"));
                }
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn without_capabilities_a_user_switch_drops_them_all() {
        require_root!();
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .build()
            .unwrap();
        let p = ProcessBuilder::default().user(user).build().unwrap();
        let p = {
            let mut p = p;
            p.set_capabilities(None);
            p
        };
        in_child(|| {
            apply_user(&p).map_err(|e| e.to_string())?;
            for field in ["CapEff", "CapPrm", "CapAmb"] {
                let got = status_hex(field)?;
                if got != 0 {
                    return Err(format!("{field}: {got:#x}, want 0"));
                }
            }
            if current_umask() != DEFAULT_UMASK {
                return Err(format!("umask: {:#o}", current_umask()));
            }
            let groups = nix::unistd::getgroups().map_err(|e| e.to_string())?;
            if !groups.is_empty() {
                return Err(format!("groups not cleared: {groups:?}"));
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn bad_umask_is_named() {
        require_root!();
        let user = UserBuilder::default().umask(0o1777u32).build().unwrap();
        let p = ProcessBuilder::default().user(user).build().unwrap();
        let msg = in_child(|| apply_user(&p).map_err(|e| e.to_string())).unwrap_err();
        assert!(msg.contains("process.user.umask: 0o1777"), "{msg}");
    }
}
