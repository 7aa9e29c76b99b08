//! Hardening of the container's init process (issue 3, item 5, except
//! `maskedPaths`/`readonlyPaths`): hostname and domainname, `linux.sysctl`,
//! rlimits, `oomScoreAdj`, the user, the five capability sets,
//! `noNewPrivileges`, seccomp, and AppArmor/SELinux labels.
//!
//! # Order (runc's `standard_init_linux.go`)
//!
//! In `create`, before cloning init: [`validate`] (it also probes the LSMs
//! while the host's `/sys` is visible). When init gets a new user
//! namespace, the runtime also applies [`apply_rlimits_to`] and
//! [`set_oom_score_adj_to`] on init's pid before init enters it (as runc
//! does): inside it, hard limits can no longer be raised nor the score
//! lowered. Re-applying the same values in [`harden`] is then harmless.
//! Before `pivot_root` at the latest: [`check_lsm`] (reads the host's
//! `/sys`; the answer is cached, and inherited by a forked init).
//! In init, after `pivot_root`, the mounts and the masked/readonly paths,
//! and before reporting ready: [`harden`], which runs
//!
//! 1. [`set_hostname`], [`apply_sysctl`] (namespaced `/proc/sys`),
//! 2. [`apply_rlimits`] and [`set_oom_score_adj`] (still root, before the
//!    user switch: raising a hard limit or lowering the OOM score needs
//!    `CAP_SYS_RESOURCE`),
//! 3. [`apply_lsm`] (exec labels), [`set_no_new_privileges`],
//! 4. [`apply_seccomp`] *if* `noNewPrivileges` is false: loading a filter
//!    then needs `CAP_SYS_ADMIN`, so it goes before the capabilities drop,
//! 5. [`caps::drop_bounding_set`] (needs `CAP_SETPCAP`, so as root),
//!    [`apply_user`] (setgroups, setgid, setuid with `PR_SET_KEEPCAPS`,
//!    umask), [`caps::apply_process_sets`] (effective, permitted,
//!    inheritable, ambient).
//!
//! Then, after `exec.fifo` releases init and as the very last step before
//! the Wasm VM runs (or `execve`): [`harden_last`], which loads seccomp when
//! `noNewPrivileges` is true, so as few runtime syscalls as possible run
//! under the container's filter.
//!
//! Capabilities and `no_new_privs` are per thread: init must still be
//! single-threaded when [`harden`] runs (checked for capabilities).

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

pub use super::caps::{self, apply_capabilities};
pub use super::limits::{
    apply_rlimits, apply_rlimits_to, set_oom_score_adj, set_oom_score_adj_to, validate_rlimits,
};
pub use super::lsm::{apply_lsm, check_lsm};
pub use super::process::apply_user;
pub use super::seccomp::apply_seccomp;
pub use super::sysctl::{apply_sysctl, validate_sysctl};
use crate::{Error, Result};

/// The lower-case `strerror` text of an I/O error, as runc prints it
/// ("operation not permitted"); podman maps exit codes from these words.
pub fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let d = nix::errno::Errno::from_raw(n).desc();
            let mut c = d.chars();
            c.next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or_default()
        }
        None => e.to_string(),
    }
}

fn process(spec: &Spec) -> Result<&Process> {
    spec.process()
        .as_ref()
        .ok_or_else(|| Error::Config("process: missing".into()))
}

/// `Some(path)` when `linux.namespaces` has an entry of type `t` (the path
/// is empty for a new namespace).
pub(crate) fn namespace(spec: &Spec, t: LinuxNamespaceType) -> Option<PathBuf> {
    let ns = spec.linux().as_ref()?.namespaces().as_ref()?;
    ns.iter()
        .find(|n| n.typ() == t)
        .map(|n| n.path().clone().unwrap_or_default())
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Everything [`harden`] will refuse, checked without side effects, so
/// `create` can fail before cloning init.
pub fn validate(spec: &Spec) -> Result<()> {
    check_uts(spec)?;
    validate_sysctl(spec)?;
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        super::seccomp::validate(s)?;
    }
    if let Some(p) = spec.process() {
        validate_process(p)?;
    }
    Ok(())
}

/// The process's part of [`validate`] (for `exec --process` too): rlimits,
/// LSM labels, `oomScoreAdj`, umask.
pub fn validate_process(p: &Process) -> Result<()> {
    validate_rlimits(p)?;
    check_lsm(p)?;
    if let Some(v) = p.oom_score_adj().filter(|v| !(-1000..=1000).contains(v)) {
        return Err(Error::Config(format!(
            "process.oomScoreAdj: {v} is out of range (-1000 to 1000)"
        )));
    }
    if let Some(m) = p.user().umask().filter(|m| *m > 0o777) {
        return Err(Error::Config(format!(
            "process.user.umask: {m:#o} is not a file mode mask (at most 0777)"
        )));
    }
    Ok(())
}

/// The hardening steps that belong before init reports ready, in runc's
/// order (see the module doc). `execs` is true for a native workload (it
/// will `execve`), false for Wasm.
pub fn harden(spec: &Spec, execs: bool) -> Result<()> {
    harden_namespaces(spec)?;
    harden_process(spec, execs)
}

/// The namespace-wide part of [`harden`]: hostname and sysctl. With a
/// private rootfs it must run before `finish_rootfs`, which makes
/// `/proc/sys` read-only.
pub fn harden_namespaces(spec: &Spec) -> Result<()> {
    set_hostname(spec)?;
    apply_sysctl(spec)
}

/// The per-process part of [`harden`], in runc's order: rlimits and
/// oomScoreAdj, LSM, no_new_privs, seccomp (without no_new_privs), the
/// bounding set, the user switch, the other capability sets.
pub fn harden_process(spec: &Spec, execs: bool) -> Result<()> {
    let p = process(spec)?;
    apply_rlimits(p)?;
    set_oom_score_adj(p)?;
    apply_lsm(p, execs)?;
    set_no_new_privileges(p)?;
    if p.no_new_privileges() != Some(true) {
        apply_seccomp(spec)?;
    }
    caps::drop_bounding_set(p)?;
    apply_user(p)?;
    caps::apply_process_sets(p, execs)
}

/// The last step, right before the Wasm VM runs or `execve`: seccomp when
/// `noNewPrivileges` is true (otherwise [`harden`] already loaded it).
pub fn harden_last(spec: &Spec) -> Result<()> {
    if process(spec)?.no_new_privileges() == Some(true) {
        apply_seccomp(spec)?;
    }
    Ok(())
}

/// `prctl(PR_SET_NO_NEW_PRIVS)` when `process.noNewPrivileges` is true.
pub fn set_no_new_privileges(process: &Process) -> Result<()> {
    if process.no_new_privileges() != Some(true) {
        return Ok(());
    }
    // SAFETY: PR_SET_NO_NEW_PRIVS with 1 only sets a flag of the thread.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::other(format!(
            "process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS): {}",
            strerror(&e)
        )));
    }
    Ok(())
}

fn check_uts(spec: &Spec) -> Result<()> {
    let uts = namespace(spec, LinuxNamespaceType::Uts).is_some();
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if let (Some(v), false) = (non_empty(value), uts) {
            return Err(Error::Config(format!(
                "{field} {v:?}: unable to set {field} without a private UTS namespace \
                 (linux.namespaces has no uts entry)"
            )));
        }
    }
    Ok(())
}

/// `sethostname(hostname)` and `setdomainname(domainname)`, each when set
/// and non-empty; an error without a UTS namespace, as in runc.
pub fn set_hostname(spec: &Spec) -> Result<()> {
    check_uts(spec)?;
    if let Some(h) = non_empty(spec.hostname()) {
        // SAFETY: the pointer and length describe h's bytes.
        if unsafe { libc::sethostname(h.as_ptr().cast(), h.len()) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::other(format!(
                "hostname {h:?}: sethostname: {}",
                strerror(&e)
            )));
        }
    }
    if let Some(d) = non_empty(spec.domainname()) {
        // SAFETY: as above.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::other(format!(
                "domainname {d:?}: setdomainname: {}",
                strerror(&e)
            )));
        }
    }
    Ok(())
}

/// Helpers for the fork-based tests of this module's siblings.
#[cfg(test)]
#[path = "test_support.rs"]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::{in_child, require_root, spec, status_field, status_hex, unshare};
    use super::*;

    fn uname() -> (String, String) {
        // SAFETY: utsname is plain old data, filled in by uname.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: u is valid for writing.
        unsafe { libc::uname(&mut u) };
        // SAFETY: uname NUL-terminates both fields.
        let s = |f: &[libc::c_char]| unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) };
        let (h, d) = (s(&u.nodename), s(&u.domainname));
        (
            h.to_string_lossy().into_owned(),
            d.to_string_lossy().into_owned(),
        )
    }

    #[test]
    fn hostname_and_domainname_in_a_uts_namespace() {
        require_root!();
        let s = spec(
            serde_json::json!({"namespaces": [{"type": "uts"}]}),
            serde_json::json!({"hostname": "runwasm-test", "domainname": "example.test"}),
        );
        in_child(|| {
            unshare(libc::CLONE_NEWUTS)?;
            set_hostname(&s).map_err(|e| e.to_string())?;
            match uname() {
                (h, d) if h == "runwasm-test" && d == "example.test" => Ok(()),
                other => Err(format!("uname: {other:?}")),
            }
        })
        .unwrap();
    }

    #[test]
    fn hostname_without_a_uts_namespace_is_refused() {
        let s = spec(
            serde_json::json!({"namespaces": []}),
            serde_json::json!({"hostname": "x"}),
        );
        let msg = validate(&s).unwrap_err().to_string();
        assert!(
            msg.contains("hostname \"x\": unable to set hostname without a private UTS"),
            "{msg}"
        );
        // Refused before touching anything, so this cannot rename the host.
        assert_eq!(set_hostname(&s).unwrap_err().to_string(), msg);
    }

    /// The whole sequence, in order, as init runs it: a non-root user with a
    /// few capabilities, no_new_privs, and a seccomp rule loaded last.
    #[test]
    fn harden_then_harden_last() {
        require_root!();
        let caps = serde_json::json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        let s = spec(
            serde_json::json!({
                "namespaces": [{"type": "uts"}, {"type": "ipc"}],
                "sysctl": {"kernel.msgmax": "4096"},
                "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES}]}
            }),
            serde_json::json!({"hostname": "hardened", "process": {
                "cwd": "/", "args": ["x.wasm"], "noNewPrivileges": true, "oomScoreAdj": 300,
                "user": {"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 23},
                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 128}],
                // A Wasm module as uid 1000 keeps what an exec would: the
                // ambient set.
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps,
                                 "inheritable": caps, "ambient": caps}
            }}),
        );
        validate(&s).unwrap();
        in_child(|| {
            unshare(libc::CLONE_NEWUTS | libc::CLONE_NEWIPC)?;
            harden(&s, false).map_err(|e| e.to_string())?;
            let mut buf = [0u8; 256];
            // SAFETY: buf is valid for its length.
            let cwd_ok = !unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) }.is_null();
            if !cwd_ok || status_field("Seccomp")? != "0" {
                return Err("seccomp was loaded before harden_last".into());
            }
            harden_last(&s).map_err(|e| e.to_string())?;
            // SAFETY: as above.
            let denied = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) }.is_null();
            let errno = std::io::Error::last_os_error().raw_os_error();
            let mut r = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: r is valid for writing.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
            let got = (
                uname().0,
                // SAFETY: plain getter.
                unsafe { libc::getuid() },
                status_field("NoNewPrivs")?,
                status_hex("CapEff")?,
                status_hex("CapBnd")?,
                (r.rlim_cur, r.rlim_max),
                std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default(),
                std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap_or_default(),
                (denied, errno),
            );
            let want = (
                "hardened".to_string(),
                1000,
                "1".to_string(),
                (1 << 5) | (1 << 10),
                (1 << 5) | (1 << 10),
                (64, 128),
                "300\n".to_string(),
                "4096\n".to_string(),
                (true, Some(libc::EACCES)),
            );
            (got == want)
                .then_some(())
                .ok_or(format!("got {got:?}\nwant {want:?}"))
        })
        .unwrap();
    }
}
