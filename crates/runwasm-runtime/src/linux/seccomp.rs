//! `linux.seccomp` through libseccomp, following runc's `InitSeccomp`:
//!
//! - actions: `SCMP_ACT_KILL` (= kill thread), `KILL_THREAD`, `KILL_PROCESS`,
//!   `TRAP`, `ERRNO` (errnoRet, default EPERM), `TRACE` (errnoRet, default
//!   EPERM), `LOG`, `ALLOW`; `defaultErrnoRet` for the default action;
//! - `SCMP_ACT_NOTIFY` is refused: handing the listener fd to the agent at
//!   `listenerPath` (runc's seccomp-agent protocol) is not implemented;
//! - `architectures` added to the filter (the native one is always there);
//! - `flags`: `SECCOMP_FILTER_FLAG_LOG`, `_SPEC_ALLOW`, `_TSYNC`; without a
//!   `flags` field SPEC_ALLOW is set when supported (runc's default);
//! - a rule whose action equals the default action is skipped, and an
//!   unknown syscall name is skipped (with a debug log), as runc does;
//! - `args`: index 0-5, `SCMP_CMP_*`; `SCMP_CMP_MASKED_EQ` uses `value` as
//!   the mask and `valueTwo` as the datum; several conditions on the same
//!   argument become separate rules (OR), as in runc;
//! - the filter leaves `no_new_privs` alone: without `noNewPrivileges` it is
//!   loaded with `CAP_SYS_ADMIN` (so before the capabilities are dropped).
//!
//! Not done: runc's ENOSYS patch of the BPF program (syscalls newer than the
//! profile get the default action rather than ENOSYS).

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, Spec,
};

use crate::{Error, Result};

/// For `features`: the actions, `args` operators and flags accepted here
/// (runc also accepts SCMP_ACT_NOTIFY).
#[rustfmt::skip]
pub const ACTIONS: [&str; 8] = [
    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
];
#[rustfmt::skip]
pub const OPERATORS: [&str; 7] = [
    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE",
];
#[rustfmt::skip]
pub const FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC",
];

/// runc turns on libseccomp's binary-tree optimisation above this many rules.
const OPTIMIZE_ABOVE: usize = 32;

fn err(msg: String) -> Error {
    Error::other(format!("linux.seccomp: {msg}"))
}

/// `errnoRet` as the 16-bit value the kernel returns.
fn errno(value: Option<u32>, field: &str) -> Result<i32> {
    match value {
        None => Ok(libc::EPERM),
        Some(v) if v <= u32::from(u16::MAX) => Ok(v as i32),
        Some(v) => Err(err(format!("{field} {v} does not fit in 16 bits"))),
    }
}

/// The libseccomp action for an OCI action and its `errnoRet`.
fn action(act: LinuxSeccompAction, ret: Option<u32>, field: &str) -> Result<ScmpAction> {
    use LinuxSeccompAction::*;
    Ok(match act {
        ScmpActKill | ScmpActKillThread => ScmpAction::KillThread,
        ScmpActKillProcess => ScmpAction::KillProcess,
        ScmpActTrap => ScmpAction::Trap,
        ScmpActErrno => ScmpAction::Errno(errno(ret, field)?),
        ScmpActTrace => ScmpAction::Trace(errno(ret, field)? as u16),
        ScmpActLog => ScmpAction::Log,
        ScmpActAllow => ScmpAction::Allow,
        ScmpActNotify => {
            return Err(err(format!(
                "{field}: SCMP_ACT_NOTIFY is not supported by runwasm (passing the listener fd \
                 to a seccomp agent at listenerPath is not implemented)"
            )))
        }
    })
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
    }
}

fn compare(index: usize, op: LinuxSeccompOperator, value: u64, two: Option<u64>) -> ScmpArgCompare {
    use LinuxSeccompOperator::*;
    let op_ = match op {
        ScmpCmpNe => ScmpCompareOp::NotEqual,
        ScmpCmpLt => ScmpCompareOp::Less,
        ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        ScmpCmpEq => ScmpCompareOp::Equal,
        ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        ScmpCmpGt => ScmpCompareOp::Greater,
        // runc: MakeCondition(index, MASKED_EQ, value, valueTwo) -> mask, datum.
        ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    };
    let datum = if op == ScmpCmpMaskedEq {
        two.unwrap_or(0)
    } else {
        value
    };
    ScmpArgCompare::new(index as u32, op_, datum)
}

/// Checks `linux.seccomp` without building anything: actions, errno values,
/// argument indexes. Cheap enough for `create` to call before cloning.
pub fn validate(seccomp: &LinuxSeccomp) -> Result<()> {
    action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "defaultAction",
    )?;
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        let field = format!("syscalls[{i}] ({})", rule.names().join(", "));
        action(rule.action(), rule.errno_ret(), &field)?;
        if rule.names().is_empty() || rule.names().iter().any(String::is_empty) {
            return Err(err(format!("syscalls[{i}]: empty syscall name")));
        }
        for a in rule.args().iter().flatten() {
            if a.index() > 5 {
                return Err(err(format!(
                    "{field}: args index {} is out of range (a syscall has 6 arguments, 0-5)",
                    a.index()
                )));
            }
        }
    }
    Ok(())
}

/// Builds the filter of `linux.seccomp` (not loaded). `None` when the spec
/// has no seccomp section or it allows everything.
pub fn build(seccomp: &LinuxSeccomp) -> Result<Option<ScmpFilterContext>> {
    validate(seccomp)?;
    let rules = seccomp.syscalls().as_deref().unwrap_or_default();
    let default = action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "defaultAction",
    )?;
    if default == ScmpAction::Allow && rules.is_empty() {
        return Ok(None);
    }
    let lib = |what: &str, e: libseccomp::error::SeccompError| err(format!("{what}: {e}"));
    let mut f = ScmpFilterContext::new(default).map_err(|e| lib("create filter", e))?;

    for a in seccomp.architectures().iter().flatten() {
        let sa = arch(*a);
        if sa == ScmpArch::Native || f.is_arch_present(sa).unwrap_or(false) {
            continue;
        }
        f.add_arch(sa)
            .map_err(|e| lib(&format!("architectures: add {a}"), e))?;
    }

    match seccomp.flags() {
        None => {
            // runc's default when no flags are given; not fatal if unsupported.
            let _ = f.set_ctl_ssb(true);
        }
        Some(flags) => {
            for flag in flags {
                let res = match flag {
                    LinuxSeccompFilterFlag::SeccompFilterFlagLog => f.set_ctl_log(true),
                    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => f.set_ctl_ssb(true),
                    LinuxSeccompFilterFlag::SeccompFilterFlagTsync => f.set_ctl_tsync(true),
                };
                res.map_err(|e| lib(&format!("flags: {flag} is not supported here"), e))?;
            }
        }
    }
    // libseccomp-golang (so runc) always syncs the filter to every thread.
    let _ = f.set_ctl_tsync(true);
    if rules.len() > OPTIMIZE_ABOVE {
        let _ = f.set_ctl_optimize(2);
    }
    f.set_ctl_nnp(false)
        .map_err(|e| lib("leave no_new_privs to noNewPrivileges", e))?;

    for (i, rule) in rules.iter().enumerate() {
        let field = format!("syscalls[{i}]");
        let act = action(rule.action(), rule.errno_ret(), &field)?;
        if act == default {
            continue;
        }
        let conds: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| compare(a.index(), a.op(), a.value(), a.value_two()))
            .collect();
        let mut per_index = [0u8; 6];
        for a in rule.args().iter().flatten() {
            per_index[a.index()] = per_index[a.index()].saturating_add(1);
        }
        for name in rule.names() {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                tracing::debug!("linux.seccomp: unknown syscall {name:?} ignored");
                continue;
            };
            let what = || format!("{field}: add rule for {name}");
            if conds.is_empty() {
                f.add_rule(act, sys).map_err(|e| lib(&what(), e))?;
            } else if per_index.iter().any(|n| *n > 1) {
                for c in &conds {
                    f.add_rule_conditional(act, sys, &[*c])
                        .map_err(|e| lib(&what(), e))?;
                }
            } else {
                f.add_rule_conditional(act, sys, &conds)
                    .map_err(|e| lib(&what(), e))?;
            }
        }
    }
    Ok(Some(f))
}

/// Loads `linux.seccomp` into the calling process. With `noNewPrivileges`
/// call it last, right before the workload runs; without, call it before the
/// capabilities are dropped (loading a filter then needs `CAP_SYS_ADMIN`).
pub fn apply_seccomp(spec: &Spec) -> Result<()> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(());
    };
    let Some(filter) = build(seccomp)? else {
        return Ok(());
    };
    if !no_new_privs() && !has_sys_admin() {
        return Err(err(
            "loading the filter without process.noNewPrivileges needs CAP_SYS_ADMIN; it must be \
             loaded before the capabilities are dropped"
                .into(),
        ));
    }
    filter
        .load()
        .map_err(|e| err(format!("load the filter into the kernel: {e}")))
}

fn no_new_privs() -> bool {
    // SAFETY: PR_GET_NO_NEW_PRIVS only reads a flag.
    unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 }
}

fn has_sys_admin() -> bool {
    super::caps::get()
        .map(|c| c.effective & (1 << 21) != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::security::test_support::{in_child, require_root, status_field};
    use oci_spec::runtime::{LinuxBuilder, SpecBuilder};

    fn spec(json: serde_json::Value) -> Spec {
        let seccomp: LinuxSeccomp = serde_json::from_value(json).unwrap();
        let linux = LinuxBuilder::default().seccomp(seccomp).build().unwrap();
        SpecBuilder::default().linux(linux).build().unwrap()
    }

    fn errno_of(rc: libc::c_long) -> i32 {
        if rc >= 0 {
            0
        } else {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        }
    }

    fn getcwd_errno() -> i32 {
        let mut buf = [0u8; 4096];
        // SAFETY: buf is valid for its length.
        let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
        errno_of(if p.is_null() { -1 } else { 0 })
    }

    fn mkdir_errno(path: &std::path::Path, mode: u32) -> i32 {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: c is a valid C string.
        errno_of(unsafe { libc::mkdir(c.as_ptr(), mode as libc::mode_t) }.into())
    }

    #[test]
    fn errno_rule_without_no_new_privs() {
        require_root!();
        let s = spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd", "no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]
        }));
        in_child(|| {
            apply_seccomp(&s).map_err(|e| e.to_string())?;
            match (
                getcwd_errno(),
                status_field("Seccomp")?.as_str(),
                status_field("NoNewPrivs")?.as_str(),
            ) {
                (libc::EPERM, "2", "0") => Ok(()),
                other => Err(format!("getcwd errno, Seccomp, NoNewPrivs: {other:?}")),
            }
        })
        .unwrap();
    }

    #[test]
    fn custom_errno_and_argument_conditions() {
        require_root!();
        let dir = tempfile::tempdir().unwrap();
        // mkdir/mkdirat with mode 0711 fail with ENOTSUP; other modes work.
        let s = spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP,
                 "args": [{"index": 1, "value": 0o711, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP,
                 "args": [{"index": 2, "value": 0o777, "valueTwo": 0o711, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
            ]
        }));
        in_child(|| {
            apply_seccomp(&s).map_err(|e| e.to_string())?;
            let denied = mkdir_errno(&dir.path().join("a"), 0o711);
            let allowed = mkdir_errno(&dir.path().join("b"), 0o755);
            if (denied, allowed) != (libc::ENOTSUP, 0) {
                return Err(format!(
                    "mkdir 0711 errno {denied}, mkdir 0755 errno {allowed}"
                ));
            }
            Ok(())
        })
        .unwrap();
    }

    /// Docker's shape: deny by default with an errno, allow a list (over 32
    /// rules, so libseccomp's tree optimisation is on).
    #[test]
    fn default_errno_with_an_allow_list() {
        require_root!();
        let mut allow: Vec<String> = ["write", "exit", "exit_group", "brk", "mmap", "munmap"]
            .into_iter()
            .chain([
                "mremap",
                "madvise",
                "futex",
                "getpid",
                "rt_sigprocmask",
                "sigaltstack",
            ])
            .map(String::from)
            .collect();
        allow.extend((0..30).map(|n| format!("no_such_syscall_{n}")));
        allow.extend(["getppid", "getuid", "getgid", "uname"].map(String::from));
        let rules: Vec<_> = allow
            .chunks(2)
            .map(|n| serde_json::json!({"names": n, "action": "SCMP_ACT_ALLOW"}))
            .collect();
        let s = spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": libc::ENOSYS, "syscalls": rules
        }));
        in_child(|| {
            apply_seccomp(&s).map_err(|e| e.to_string())?;
            // SAFETY: getpid cannot fail.
            let pid_ok = unsafe { libc::getpid() } > 0;
            match (pid_ok, getcwd_errno()) {
                (true, libc::ENOSYS) => Ok(()),
                other => Err(format!("getpid ok, getcwd errno: {other:?}")),
            }
        })
        .unwrap();
    }

    #[test]
    fn with_no_new_privs_after_dropping_caps() {
        require_root!();
        let s = spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]
        }));
        in_child(|| {
            // SAFETY: setting no_new_privs and dropping to an unprivileged
            // user only affect this forked child.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                libc::setresuid(1000, 1000, 1000);
            }
            apply_seccomp(&s).map_err(|e| e.to_string())?;
            match getcwd_errno() {
                5 => Ok(()),
                e => Err(format!("getcwd errno {e}, want 5")),
            }
        })
        .unwrap();
    }

    #[test]
    fn without_no_new_privs_or_sys_admin_says_why() {
        require_root!();
        let s = spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]
        }));
        let msg = in_child(|| {
            // SAFETY: only affects this forked child.
            unsafe { libc::setresuid(1000, 1000, 1000) };
            apply_seccomp(&s).map_err(|e| e.to_string())
        })
        .unwrap_err();
        assert!(msg.contains("needs CAP_SYS_ADMIN"), "{msg}");
    }

    #[test]
    fn refused_configurations_name_the_field() {
        let notify = spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        // validate only: these must never reach a load in the test process.
        let seccomp = |s: &Spec| s.linux().as_ref().unwrap().seccomp().clone().unwrap();
        let msg = validate(&seccomp(&notify)).unwrap_err().to_string();
        assert!(
            msg.contains("syscalls[0] (mkdir): SCMP_ACT_NOTIFY"),
            "{msg}"
        );
        let index = spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        }));
        let msg = validate(&seccomp(&index)).unwrap_err().to_string();
        assert!(msg.contains("args index 6"), "{msg}");
    }
}
