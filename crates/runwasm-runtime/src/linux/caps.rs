//! The five capability sets of `process.capabilities`, applied as runc does:
//! the bounding set first (while the init process is still root, so it holds
//! `CAP_SETPCAP`), then the user switch with `PR_SET_KEEPCAPS` (see
//! [`super::process::apply_user`]), then effective, permitted and
//! inheritable in one `capset(2)`, then ambient.
//!
//! Capability names are parsed by oci-spec when `config.json` is read: a
//! name it does not know fails the config with the field's path (runc instead
//! warns and ignores it). A known capability that the running kernel lacks
//! (above `cap_last_cap`) is ignored with a warning, like runc.
//!
//! Capabilities are per thread: everything here must run while the init
//! process is single-threaded, which [`apply_capabilities`] checks.
//!
//! For a Wasm workload there is no `execve`, so the sets applied here are the
//! ones the VM runs with (a native process gets the kernel's execve
//! transformation on top, as under runc).

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process};

use super::security::strerror;
use crate::{Error, Result};

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_V3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective, permitted and inheritable sets of the calling thread, one
/// bit per capability number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// Every capability oci-spec knows, indexed by its kernel number.
#[rustfmt::skip]
/// Names of every capability runwasm knows, for `features`.
pub fn known_names() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|(_, n)| *n)
}

const ALL: [(Capability, &str); 41] = {
    use Capability::*;
    [
        (Chown, "CHOWN"),
        (DacOverride, "DAC_OVERRIDE"),
        (DacReadSearch, "DAC_READ_SEARCH"),
        (Fowner, "FOWNER"),
        (Fsetid, "FSETID"),
        (Kill, "KILL"),
        (Setgid, "SETGID"),
        (Setuid, "SETUID"),
        (Setpcap, "SETPCAP"),
        (LinuxImmutable, "LINUX_IMMUTABLE"),
        (NetBindService, "NET_BIND_SERVICE"),
        (NetBroadcast, "NET_BROADCAST"),
        (NetAdmin, "NET_ADMIN"),
        (NetRaw, "NET_RAW"),
        (IpcLock, "IPC_LOCK"),
        (IpcOwner, "IPC_OWNER"),
        (SysModule, "SYS_MODULE"),
        (SysRawio, "SYS_RAWIO"),
        (SysChroot, "SYS_CHROOT"),
        (SysPtrace, "SYS_PTRACE"),
        (SysPacct, "SYS_PACCT"),
        (SysAdmin, "SYS_ADMIN"),
        (SysBoot, "SYS_BOOT"),
        (SysNice, "SYS_NICE"),
        (SysResource, "SYS_RESOURCE"),
        (SysTime, "SYS_TIME"),
        (SysTtyConfig, "SYS_TTY_CONFIG"),
        (Mknod, "MKNOD"),
        (Lease, "LEASE"),
        (AuditWrite, "AUDIT_WRITE"),
        (AuditControl, "AUDIT_CONTROL"),
        (Setfcap, "SETFCAP"),
        (MacOverride, "MAC_OVERRIDE"),
        (MacAdmin, "MAC_ADMIN"),
        (Syslog, "SYSLOG"),
        (WakeAlarm, "WAKE_ALARM"),
        (BlockSuspend, "BLOCK_SUSPEND"),
        (AuditRead, "AUDIT_READ"),
        (Perfmon, "PERFMON"),
        (Bpf, "BPF"),
        (CheckpointRestore, "CHECKPOINT_RESTORE"),
    ]
};

/// The kernel's capability number of `cap`.
pub fn number(cap: Capability) -> u8 {
    // Every variant is in ALL, whose index is the number.
    ALL.iter().position(|(c, _)| *c == cap).unwrap_or(63) as u8
}

/// `CAP_SYS_ADMIN`-style name of capability number `n`.
pub fn name(n: u8) -> String {
    match ALL.get(usize::from(n)) {
        Some((_, s)) => format!("CAP_{s}"),
        None => format!("capability {n}"),
    }
}

fn names(mask: u64) -> String {
    let v: Vec<String> = (0..64u8)
        .filter(|n| mask & (1 << n) != 0)
        .map(name)
        .collect();
    v.join(", ")
}

/// The highest capability number the running kernel knows.
pub fn last_cap() -> u8 {
    // PR_CAPBSET_READ fails with EINVAL for numbers the kernel does not know;
    // unlike /proc/sys/kernel/cap_last_cap it needs no /proc.
    let mut last = 0;
    for n in 0..64u8 {
        // SAFETY: PR_CAPBSET_READ only reads the thread's bounding set.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(n), 0, 0, 0) } < 0 {
            break;
        }
        last = n;
    }
    last
}

/// Whether capability `n` is in the calling thread's bounding set.
pub fn in_bounding(n: u8) -> bool {
    // SAFETY: as in `last_cap`.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(n), 0, 0, 0) == 1 }
}

/// `capget(2)` of the calling thread.
pub fn get() -> Result<CapSets> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: hdr and data are valid for the V3 layout (two CapData words).
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(Error::io("capget", std::io::Error::last_os_error()));
    }
    let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | u64::from(f(&data[1])) << 32;
    Ok(CapSets {
        effective: join(|d| d.effective),
        permitted: join(|d| d.permitted),
        inheritable: join(|d| d.inheritable),
    })
}

/// `capset(2)` of the calling thread.
pub fn set(sets: CapSets) -> std::io::Result<()> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let split = |v: u64| [v as u32, (v >> 32) as u32];
    let (e, p, i) = (
        split(sets.effective),
        split(sets.permitted),
        split(sets.inheritable),
    );
    let data = [0, 1].map(|w| CapData {
        effective: e[w],
        permitted: p[w],
        inheritable: i[w],
    });
    // SAFETY: hdr and data are valid for the V3 layout (two CapData words).
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// One set of the config as a bit mask, leaving out (with a warning, as runc
/// does) capabilities the running kernel does not know.
fn mask(set: &Option<Capabilities>, field: &str, last: u8) -> u64 {
    let mut m = 0u64;
    let mut unknown = Vec::new();
    for cap in set.iter().flatten() {
        let n = number(*cap);
        if n > last {
            unknown.push(name(n));
        } else {
            m |= 1 << n;
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        tracing::warn!(
            "process.capabilities.{field}: ignoring capabilities unknown to this kernel: {}",
            unknown.join(", ")
        );
    }
    m
}

fn single_threaded(what: &str) -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1);
    if threads > 1 {
        return Err(Error::other(format!(
            "{what}: the init process has {threads} threads; capabilities are per thread, \
             so they must be applied while it is single-threaded"
        )));
    }
    Ok(())
}

/// All five sets, in runc's order: bounding, then effective/permitted/
/// inheritable, then ambient. Works before or after the user switch (after
/// it, `CAP_SETPCAP` is taken back from the permitted set kept by
/// `PR_SET_KEEPCAPS` to drop the bounding set). No `process.capabilities`
/// leaves the capabilities untouched, as runc does.
pub fn apply_capabilities(process: &Process) -> Result<()> {
    with_caps(process, |c| {
        drop_bounding(c).and_then(|()| apply_sets(c, None))
    })
}

/// Drops every capability not in `process.capabilities.bounding` from the
/// bounding set. Call while still root (before [`super::process::apply_user`]).
pub fn drop_bounding_set(process: &Process) -> Result<()> {
    with_caps(process, drop_bounding)
}

/// Sets effective, permitted, inheritable and ambient. Call after the user
/// switch. `execs`: whether an `execve` follows. A Wasm module runs without
/// one, so the sets are left as `execve` of a file without capabilities
/// would leave them (what runc's process gets): as root, permitted =
/// effective = bounding | inheritable; as another user, only the ambient
/// set stays permitted and effective.
pub fn apply_process_sets(process: &Process, execs: bool) -> Result<()> {
    let uid = process.user().uid();
    with_caps(process, |caps| {
        apply_sets(caps, (!execs).then_some(uid))?;
        if !execs && uid != 0 {
            keep_only_ambient()?;
        }
        Ok(())
    })
}

/// Permitted and effective reduced to the ambient set actually raised.
fn keep_only_ambient() -> Result<()> {
    let ambient = (0..=last_cap())
        .filter(|n| {
            // SAFETY: PR_CAP_AMBIENT_IS_SET only reads.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
                    libc::c_ulong::from(*n),
                    0,
                    0,
                )
            };
            rc == 1
        })
        .fold(0u64, |m, n| m | 1 << n);
    let cur = get()?;
    set(CapSets {
        effective: ambient,
        permitted: ambient,
        inheritable: cur.inheritable,
    })
    .map_err(|e| {
        Error::other(format!(
            "process.capabilities: keep only the ambient set [{}]: {}",
            names(ambient),
            strerror(&e)
        ))
    })
}

fn with_caps(process: &Process, f: impl FnOnce(&LinuxCapabilities) -> Result<()>) -> Result<()> {
    match process.capabilities() {
        Some(caps) => {
            single_threaded("process.capabilities")?;
            f(caps)
        }
        None => Ok(()),
    }
}

fn drop_bounding(caps: &LinuxCapabilities) -> Result<()> {
    let last = last_cap();
    let keep = mask(caps.bounding(), "bounding", last);
    let to_drop: Vec<u8> = (0..=last)
        .filter(|n| keep & (1 << n) == 0 && in_bounding(*n))
        .collect();
    if to_drop.is_empty() {
        return Ok(());
    }
    // PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set; after a
    // setuid with PR_SET_KEEPCAPS it is still permitted but not effective.
    let setpcap = 1u64 << number(Capability::Setpcap);
    let cur = get()?;
    if cur.effective & setpcap == 0 {
        if cur.permitted & setpcap == 0 {
            return Err(Error::other(format!(
                "process.capabilities.bounding: cannot drop {}: the init process lacks CAP_SETPCAP",
                names(to_drop.iter().fold(0, |m, n| m | 1 << n))
            )));
        }
        set(CapSets {
            effective: cur.effective | setpcap,
            ..cur
        })
        .map_err(|e| {
            Error::other(format!(
                "process.capabilities.bounding: raise CAP_SETPCAP: {}",
                strerror(&e)
            ))
        })?;
    }
    for n in to_drop {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and changes only
        // the calling thread's bounding set.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(n), 0, 0, 0) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::other(format!(
                "process.capabilities.bounding: drop {}: {}",
                name(n),
                strerror(&e)
            )));
        }
    }
    Ok(())
}

/// `no_exec_uid`: the user when no `execve` follows; for root (`Some(0)`)
/// permitted and effective become what `execve` would give root.
fn apply_sets(caps: &LinuxCapabilities, no_exec_uid: Option<u32>) -> Result<()> {
    let last = last_cap();
    let mut want = CapSets {
        effective: mask(caps.effective(), "effective", last),
        permitted: mask(caps.permitted(), "permitted", last),
        inheritable: mask(caps.inheritable(), "inheritable", last),
    };
    let ambient = mask(caps.ambient(), "ambient", last);
    let cur = get()?;
    if no_exec_uid == Some(0) {
        let bounding = mask(caps.bounding(), "bounding", last);
        let full = (bounding | want.inheritable) & cur.permitted;
        want.permitted = full;
        want.effective = full;
    }

    // Say which capability is the problem rather than a bare EPERM.
    let extra = want.effective & !want.permitted;
    if extra != 0 {
        return Err(Error::other(format!(
            "process.capabilities.effective: {} not in process.capabilities.permitted",
            names(extra)
        )));
    }
    let missing = want.permitted & !cur.permitted;
    if missing != 0 {
        return Err(Error::other(format!(
            "process.capabilities.permitted: cannot grant {}: the runtime itself does not hold it \
             (not in its permitted set on this host)",
            names(missing)
        )));
    }
    let bounding = (0..=last)
        .filter(|n| in_bounding(*n))
        .fold(0u64, |m, n| m | 1 << n);
    let outside = want.inheritable & !(cur.inheritable | bounding);
    if outside != 0 {
        return Err(Error::other(format!(
            "process.capabilities.inheritable: {} not in the bounding set",
            names(outside)
        )));
    }
    set(want).map_err(|e| {
        Error::other(format!(
            "process.capabilities: set effective [{}], permitted [{}], inheritable [{}]: {}",
            names(want.effective),
            names(want.permitted),
            names(want.inheritable),
            strerror(&e)
        ))
    })?;

    // SAFETY: PR_CAP_AMBIENT operations only change the calling thread.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINVAL) {
            // Kernel without ambient capabilities (< 4.3): ignored like runc.
            return Ok(());
        }
        return Err(Error::other(format!(
            "process.capabilities.ambient: clear: {}",
            strerror(&e)
        )));
    }
    for n in (0..=last).filter(|n| ambient & (1 << n) != 0) {
        // SAFETY: as above.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                libc::c_ulong::from(n),
                0,
                0,
            )
        };
        if rc != 0 {
            // runc only warns: an ambient capability must also be permitted
            // and inheritable, and runc's own default spec lists ambient
            // capabilities without inheritable ones.
            let e = std::io::Error::last_os_error();
            tracing::warn!(
                "process.capabilities.ambient: can't raise {}: {}",
                name(n),
                strerror(&e)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::security::test_support::{in_child, require_root, status_hex};

    /// A process whose `capabilities` is this JSON (unset sets are empty).
    fn process(caps: serde_json::Value) -> Process {
        let mut p = Process::default();
        p.set_capabilities(Some(serde_json::from_value(caps).unwrap()));
        p
    }

    fn bits(names: &[&str]) -> u64 {
        names.iter().fold(0, |m, s| {
            m | 1 << (0..=40).find(|n| name(*n) == *s).expect("known name")
        })
    }

    #[test]
    fn names_match_oci_spec() {
        // oci-spec serialises a capability as "CAP_..."; our table agrees.
        for n in 0..=40u8 {
            let cap: Capability = serde_json::from_str(&format!("\"{}\"", name(n))).unwrap();
            assert_eq!(number(cap), n);
        }
    }

    #[test]
    fn five_sets_as_root() {
        require_root!();
        let p = process(serde_json::json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETPCAP"],
            "effective": ["CAP_KILL", "CAP_CHOWN"],
            "permitted": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        }));
        in_child(|| {
            apply_capabilities(&p).map_err(|e| e.to_string())?;
            let want = [
                (
                    "CapBnd",
                    bits(&[
                        "CAP_CHOWN",
                        "CAP_KILL",
                        "CAP_NET_BIND_SERVICE",
                        "CAP_SETPCAP",
                    ]),
                ),
                ("CapEff", bits(&["CAP_KILL", "CAP_CHOWN"])),
                (
                    "CapPrm",
                    bits(&["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"]),
                ),
                ("CapInh", bits(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"])),
                ("CapAmb", bits(&["CAP_NET_BIND_SERVICE"])),
            ];
            for (field, want) in want {
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
    fn effective_outside_permitted_is_named() {
        require_root!();
        let p = process(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL", "CAP_CHOWN"],
            "permitted": ["CAP_KILL"]
        }));
        let msg = in_child(|| apply_capabilities(&p).map_err(|e| e.to_string())).unwrap_err();
        assert_eq!(
            msg,
            "process.capabilities.effective: CAP_CHOWN not in process.capabilities.permitted"
        );
    }

    #[test]
    fn capability_the_runtime_lacks_is_named() {
        require_root!();
        if get().unwrap().permitted & (1 << number(Capability::SysResource)) != 0 {
            eprintln!("skipped: this host grants CAP_SYS_RESOURCE, nothing to refuse");
            return;
        }
        let p = process(serde_json::json!({
            "bounding": ["CAP_SYS_RESOURCE"], "permitted": ["CAP_SYS_RESOURCE"]
        }));
        let msg = in_child(|| apply_capabilities(&p).map_err(|e| e.to_string())).unwrap_err();
        assert!(msg.contains("cannot grant CAP_SYS_RESOURCE"), "{msg}");
    }
}
