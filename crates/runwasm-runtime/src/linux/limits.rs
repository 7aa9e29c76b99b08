//! `process.rlimits` and `process.oomScoreAdj`. Both need the init process
//! to still hold `CAP_SYS_RESOURCE` to raise a hard limit or lower the OOM
//! score (this VM's runtime does not have it at all), so they are applied
//! before the user switch, and failures say which limit and which value.

use oci_spec::runtime::{PosixRlimitType, Process};

use super::security::strerror;
use crate::{Error, Result};

#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn limit(v: u64) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// Checks `process.rlimits` without applying anything.
pub fn validate_rlimits(process: &Process) -> Result<()> {
    for rl in process.rlimits().iter().flatten() {
        if rl.soft() > rl.hard() {
            return Err(Error::Config(format!(
                "process.rlimits: {} soft limit {} is above its hard limit {}",
                rl.typ(),
                limit(rl.soft()),
                limit(rl.hard())
            )));
        }
    }
    Ok(())
}

/// `setrlimit` for each `process.rlimits` entry, in order. Raising a hard
/// limit needs `CAP_SYS_RESOURCE` (in the init user namespace), so call it
/// before the user switch; in a new user namespace use [`apply_rlimits_to`]
/// from the runtime instead, as runc does.
pub fn apply_rlimits(process: &Process) -> Result<()> {
    apply_rlimits_to(0, process)
}

/// `prlimit` of each `process.rlimits` entry on process `pid` (0: the
/// caller). runc sets the init process's rlimits this way from the runtime,
/// because inside a new user namespace a hard limit can no longer be raised.
pub fn apply_rlimits_to(pid: libc::pid_t, process: &Process) -> Result<()> {
    validate_rlimits(process)?;
    for rl in process.rlimits().iter().flatten() {
        let res = resource(rl.typ());
        let new = libc::rlimit {
            rlim_cur: rl.soft(),
            rlim_max: rl.hard(),
        };
        // SAFETY: new is a valid rlimit; the old value is not requested.
        if unsafe { libc::prlimit(pid, res, &new, std::ptr::null_mut()) } == 0 {
            continue;
        }
        let e = std::io::Error::last_os_error();
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: old is a valid rlimit to write into.
        let have = unsafe { libc::prlimit(pid, res, std::ptr::null(), &mut old) } == 0;
        let hint = match e.raw_os_error() {
            Some(libc::EPERM) if have && rl.hard() > old.rlim_max => format!(
                " (the hard limit here is {}; raising it needs CAP_SYS_RESOURCE)",
                limit(old.rlim_max)
            ),
            _ => String::new(),
        };
        return Err(Error::other(format!(
            "process.rlimits: set {} to {}/{}: {}{hint}",
            rl.typ(),
            limit(rl.soft()),
            limit(rl.hard()),
            strerror(&e)
        )));
    }
    Ok(())
}

/// Writes `process.oomScoreAdj` to `/proc/self/oom_score_adj`. Lowering it
/// below its current minimum needs `CAP_SYS_RESOURCE`, so call it before
/// the capabilities are dropped (it is inherited by the workload).
pub fn set_oom_score_adj(process: &Process) -> Result<()> {
    set_oom_score_adj_to(0, process)
}

/// Writes `process.oomScoreAdj` for process `pid` (0: the caller), e.g.
/// from the runtime when init is in a new user namespace, where lowering
/// the score is no longer possible (runc writes it before that, too).
pub fn set_oom_score_adj_to(pid: libc::pid_t, process: &Process) -> Result<()> {
    let Some(v) = process.oom_score_adj() else {
        return Ok(());
    };
    if !(-1000..=1000).contains(&v) {
        return Err(Error::Config(format!(
            "process.oomScoreAdj: {v} is out of range (-1000 to 1000)"
        )));
    }
    let path = match pid {
        0 => "/proc/self/oom_score_adj".to_string(),
        p => format!("/proc/{p}/oom_score_adj"),
    };
    if let Err(e) = std::fs::write(&path, v.to_string()) {
        let cur = std::fs::read_to_string(&path).unwrap_or_default();
        let hint = match e.raw_os_error() {
            Some(libc::EACCES | libc::EPERM) => format!(
                " (the current value is {}; lowering it needs CAP_SYS_RESOURCE)",
                cur.trim()
            ),
            _ => String::new(),
        };
        return Err(Error::other(format!(
            "process.oomScoreAdj: set {v} in {path}: {}{hint}",
            strerror(&e)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::security::test_support::{drop_effective, in_child};
    use oci_spec::runtime::{PosixRlimit, ProcessBuilder};

    const CAP_SYS_RESOURCE: u8 = 24;

    fn rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> PosixRlimit {
        serde_json::from_value(serde_json::json!({"type": typ, "soft": soft, "hard": hard}))
            .unwrap()
    }

    fn getrlimit(res: Resource) -> (u64, u64) {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: r is valid for writing.
        unsafe { libc::getrlimit(res, &mut r) };
        (r.rlim_cur, r.rlim_max)
    }

    #[test]
    fn rlimits_are_set() {
        let p = ProcessBuilder::default()
            .rlimits(vec![
                rlimit(PosixRlimitType::RlimitNofile, 100, 200),
                rlimit(PosixRlimitType::RlimitCore, 0, 0),
            ])
            .build()
            .unwrap();
        in_child(|| {
            apply_rlimits(&p).map_err(|e| e.to_string())?;
            match (getrlimit(libc::RLIMIT_NOFILE), getrlimit(libc::RLIMIT_CORE)) {
                ((100, 200), (0, 0)) => Ok(()),
                other => Err(format!("NOFILE, CORE: {other:?}")),
            }
        })
        .unwrap();
    }

    #[test]
    fn rlimit_above_the_hard_limit_names_rlimit_and_values() {
        let (_, hard) = getrlimit(libc::RLIMIT_NOFILE);
        if hard == libc::RLIM_INFINITY {
            eprintln!("skipped: RLIMIT_NOFILE is unlimited here");
            return;
        }
        let want = if hard < 1_048_576 {
            1_048_576
        } else {
            hard + 1
        };
        let p = ProcessBuilder::default()
            .rlimits(vec![rlimit(PosixRlimitType::RlimitNofile, want, want)])
            .build()
            .unwrap();
        let msg = in_child(|| {
            // Without CAP_SYS_RESOURCE, as on this VM, whatever the host.
            drop_effective(CAP_SYS_RESOURCE)?;
            apply_rlimits(&p).map_err(|e| e.to_string())
        })
        .unwrap_err();
        let expect = format!(
            "process.rlimits: set RLIMIT_NOFILE to {want}/{want}: operation not permitted \
             (the hard limit here is {hard}; raising it needs CAP_SYS_RESOURCE)"
        );
        assert_eq!(msg, expect);
    }

    #[test]
    fn soft_above_hard_is_refused_before_anything_changes() {
        let p = ProcessBuilder::default()
            .rlimits(vec![rlimit(PosixRlimitType::RlimitNproc, 10, 5)])
            .build()
            .unwrap();
        let msg = validate_rlimits(&p).unwrap_err().to_string();
        assert_eq!(
            msg,
            "process.rlimits: RLIMIT_NPROC soft limit 10 is above its hard limit 5"
        );
    }

    #[test]
    fn oom_score_adj_is_written() {
        let p = ProcessBuilder::default()
            .oom_score_adj(500)
            .build()
            .unwrap();
        in_child(|| {
            set_oom_score_adj(&p).map_err(|e| e.to_string())?;
            let v =
                std::fs::read_to_string("/proc/self/oom_score_adj").map_err(|e| e.to_string())?;
            (v.trim() == "500")
                .then_some(())
                .ok_or(format!("oom_score_adj {v:?}"))
        })
        .unwrap();
        let bad = ProcessBuilder::default()
            .oom_score_adj(-1001)
            .build()
            .unwrap();
        let msg = set_oom_score_adj(&bad).unwrap_err().to_string();
        assert!(
            msg.contains("process.oomScoreAdj: -1001 is out of range"),
            "{msg}"
        );
    }

    #[test]
    fn lowering_oom_score_adj_without_cap_sys_resource_says_why() {
        let p = ProcessBuilder::default()
            .oom_score_adj(-1000)
            .build()
            .unwrap();
        let res = in_child(|| {
            drop_effective(CAP_SYS_RESOURCE)?;
            set_oom_score_adj(&p).map_err(|e| e.to_string())
        });
        match res {
            Err(msg) => assert!(
                msg.starts_with(
                    "process.oomScoreAdj: set -1000 in /proc/self/oom_score_adj: permission denied"
                ) && msg.contains("needs CAP_SYS_RESOURCE"),
                "{msg}"
            ),
            Ok(()) => eprintln!("skipped: this process may already go down to -1000"),
        }
    }
}
