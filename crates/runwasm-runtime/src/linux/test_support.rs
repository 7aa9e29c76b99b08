//! Fork-based test helpers: each test applies its settings in a child
//! process and reports back through a pipe and the exit status.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// Skips a test that needs root, saying so.
macro_rules! require_root {
    () => {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: this test needs root");
            return;
        }
    };
}
pub(crate) use require_root;

/// Runs `f` in a forked child, so the settings it applies never touch
/// the test process. The child's error (or panic) comes back as `Err`.
pub(crate) fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is valid for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these two open descriptors, owned here.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only runs `f` and `_exit`s; glibc keeps malloc
    // usable after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(r);
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err("child panicked".into()));
        let code = match res {
            Ok(()) => 0,
            Err(msg) => {
                let _ = std::fs::File::from(w).write_all(msg.as_bytes());
                1
            }
        };
        // SAFETY: ends the child without running the parent's handlers.
        unsafe { libc::_exit(code) };
    }
    drop(w);
    let mut msg = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut msg);
    let mut status = 0;
    // SAFETY: pid is our child; status is valid for writing.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, _) => Err(msg),
        _ => Err(format!("child died: wait status {status:#x} {msg}")),
    }
}

/// A field of `/proc/self/status`, e.g. "NoNewPrivs".
pub(crate) fn status_field(name: &str) -> Result<String, String> {
    let s = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    s.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .ok_or(format!("no {name} in /proc/self/status"))
}

/// A hexadecimal field of `/proc/self/status`, e.g. "CapEff".
pub(crate) fn status_hex(name: &str) -> Result<u64, String> {
    let v = status_field(name)?;
    u64::from_str_radix(&v, 16).map_err(|e| format!("{name} {v:?}: {e}"))
}

/// Takes capability `n` out of the effective set (in a child only), so
/// a test sees the same refusal on every host.
pub(crate) fn drop_effective(n: u8) -> Result<(), String> {
    let mut c = crate::linux::caps::get().map_err(|e| e.to_string())?;
    c.effective &= !(1u64 << n);
    crate::linux::caps::set(c).map_err(|e| e.to_string())
}

/// A spec with `linux` and the top-level fields of `extra` (hostname,
/// domainname, process).
pub(crate) fn spec(linux: serde_json::Value, extra: serde_json::Value) -> oci_spec::runtime::Spec {
    let mut s = oci_spec::runtime::Spec::default();
    s.set_linux(Some(
        serde_json::from_value::<oci_spec::runtime::Linux>(linux).unwrap(),
    ));
    s.set_hostname(extra["hostname"].as_str().map(String::from));
    s.set_domainname(extra["domainname"].as_str().map(String::from));
    if !extra["process"].is_null() {
        s.set_process(Some(
            serde_json::from_value(extra["process"].clone()).unwrap(),
        ));
    }
    s
}

/// `unshare(2)`, for forked children only.
pub(crate) fn unshare(flags: libc::c_int) -> Result<(), String> {
    // SAFETY: only called in forked children.
    match unsafe { libc::unshare(flags) } {
        0 => Ok(()),
        _ => Err(format!("unshare: {}", std::io::Error::last_os_error())),
    }
}
