//! OCI runtime hooks (runtime-spec `config.md`, "POSIX-platform Hooks").
//!
//! [`run_hooks`] runs the hooks of one phase in order, each exactly as runc's
//! `configs.Command.Run` does: `path` is executed directly (no `$PATH`
//! search), `args` is the whole argv (`args[0]` is argv\[0\]; empty means
//! `[path]`), `env` is the whole environment, passed verbatim (nothing
//! inherited), the state JSON goes to stdin, and stdout/stderr are
//! **captured** (runc reads them into buffers and only shows them in the
//! error: `error running hook: exit status 3, stdout: …, stderr: …`). The hook
//! gets fds 0-2 only, default signal dispositions and an empty signal mask.
//! The first failure stops the phase, like runc's `Hooks.Run` (`error running
//! %s hook #%d: …`); the error names the phase, the index, the path and the
//! exit status, signal or timeout, plus the captured output.
//!
//! # What callers do with a failure (runc's behaviour, which wins over the spec)
//! - `prestart`, `createRuntime` (runtime namespace, during `create`),
//!   `createContainer`, `startContainer` (in the container, from init): the
//!   operation fails and the container is torn down. Spec and runc agree.
//! - `poststart`: an error too. runc (`container_linux.go`, `start`) kills
//!   init and returns the hook's error; runtime-spec 1.3 changed "log a
//!   warning" to "MUST generate an error, stop the container" to match. Released
//!   runc runs poststart at the end of `create` (runc#4347); runc PR #5186
//!   (merged 2026-03) moved it to `start`, after the user process runs, which
//!   is where the spec puts it: call it from `start`, then kill on failure.
//! - `poststop`: the spec says "log a warning and continue"; runc
//!   (`state_linux.go`, `destroy`) first removes the cgroup and state dir,
//!   then runs the hooks, stops at the first failure and returns it, and
//!   `runc delete` (`return container.Destroy()`) exits 1 (older runc only
//!   logged it). So: clean up fully, then run poststop and propagate the error.
//!
//! # Process handling
//! No threads and no allocation between fork and exec: the hook is started with
//! `posix_spawn` (vfork-based, reports exec errors, safe in a forked
//! single-threaded init and in a multi-threaded runtime) with argv/envp
//! prepared beforehand. One `poll` loop then feeds stdin (non-blocking; EPIPE
//! and a hook that never reads are fine), drains stdout/stderr (capped), waits
//! on a pidfd (or 10 ms ticks without pidfd support) and reaps with `waitpid`.
//! The hook leads its own process group; on timeout (or any internal error)
//! the whole group gets SIGKILL, so a shell script's `sleep` does not outlive
//! it. After a hook exits, processes it left in the background are not waited
//! for (runc would block until they close stdout). Requirements on the caller:
//! SIGPIPE ignored (Rust's default) and SIGCHLD not ignored nor reaped by
//! someone else meanwhile.
//!
//! The state passed (`state_json`) is the caller's: runc gives `creating` with
//! init's pid to prestart/createRuntime/createContainer, `created` to
//! startContainer, `running` to poststart and `stopped` to poststop.

use std::ffi::{c_char, CString};
use std::fmt;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, Pid};
use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};

/// Bytes of stdout and of stderr kept for the error message.
const CAPTURE_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPhase {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookPhase {
    /// The phase's name in `config.json` (`hooks.createRuntime`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::Prestart => "prestart",
            HookPhase::CreateRuntime => "createRuntime",
            HookPhase::CreateContainer => "createContainer",
            HookPhase::StartContainer => "startContainer",
            HookPhase::Poststart => "poststart",
            HookPhase::Poststop => "poststop",
        }
    }

    #[allow(deprecated)] // prestart is deprecated in the spec but still run by runc
    fn select(self, hooks: &Hooks) -> &Option<Vec<Hook>> {
        match self {
            HookPhase::Prestart => hooks.prestart(),
            HookPhase::CreateRuntime => hooks.create_runtime(),
            HookPhase::CreateContainer => hooks.create_container(),
            HookPhase::StartContainer => hooks.start_container(),
            HookPhase::Poststart => hooks.poststart(),
            HookPhase::Poststop => hooks.poststop(),
        }
    }
}

/// True when `hooks` has anything for `phase`.
pub fn has(hooks: Option<&Hooks>, phase: HookPhase) -> bool {
    hooks.is_some_and(|h| phase.select(h).as_ref().is_some_and(|v| !v.is_empty()))
}

impl fmt::Display for HookPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Runs each hook of `phase` in order, stopping at the first failure; see the
/// module documentation for the exact semantics.
pub fn run_hooks(hooks: Option<&Hooks>, phase: HookPhase, state_json: &str) -> Result<()> {
    let Some(list) = hooks.and_then(|h| phase.select(h).as_ref()) else {
        return Ok(());
    };
    for (i, hook) in list.iter().enumerate() {
        run_hook(hook, state_json.as_bytes()).map_err(|e| {
            Error::other(format!(
                "error running {phase} hook #{i} ({}): {e}",
                hook.path().display()
            ))
        })?;
    }
    Ok(())
}

fn cstrings<'a>(
    what: &str,
    items: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<CString>, String> {
    let c = |s: &[u8]| CString::new(s).map_err(|_| format!("{what} contains a NUL byte"));
    items.into_iter().map(c).collect()
}

/// An errno as Go (and so runc) spells it: "no such file or directory".
fn errno(n: i32) -> String {
    nix::errno::Errno::from_raw(n).desc().to_lowercase()
}

/// Runs one hook; the error is the reason only (the caller adds which hook).
fn run_hook(hook: &Hook, state: &[u8]) -> Result<(), String> {
    let path = cstrings("path", [hook.path().as_os_str().as_bytes()])?.remove(0);
    let argv = match hook.args() {
        Some(args) if !args.is_empty() => cstrings("args", args.iter().map(|a| a.as_bytes()))?,
        _ => vec![path.clone()],
    };
    let envp = cstrings("env", hook.env().iter().flatten().map(|e| e.as_bytes()))?;
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => return Err(format!("invalid timeout {t}: must be greater than zero")),
        Some(t) => Some(t as u64),
        None => None,
    };

    let os = |what: &str, e: nix::Error| format!("{what}: {}", errno(e as i32));
    let (in_r, in_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| os("pipe", e))?;
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| os("pipe", e))?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| os("pipe", e))?;
    for fd in [&in_w, &out_r, &err_r] {
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|e| os("fcntl", e))?;
    }
    let pid = spawn(&path, &argv, &envp, [&in_r, &out_w, &err_w]).map_err(|e| {
        let reason = e.raw_os_error().map_or_else(|| e.to_string(), errno);
        format!("exec {}: {reason}", hook.path().display())
    })?;
    let mut child = Child { pid, reaped: false };
    drop((in_r, out_w, err_w));

    let deadline = timeout.and_then(|t| Instant::now().checked_add(Duration::from_secs(t)));
    let mut io = HookIo {
        stdin: (!state.is_empty()).then(|| File::from(in_w)),
        state,
        written: 0,
        outs: [Some(File::from(out_r)), Some(File::from(err_r))],
        captured: [Vec::new(), Vec::new()],
    };
    let status = child.supervise(&mut io, deadline);
    let out = io.describe_output();
    match status? {
        Some(WaitStatus::Exited(_, 0)) => Ok(()),
        Some(WaitStatus::Exited(_, code)) => Err(format!("exit status {code}{out}")),
        Some(WaitStatus::Signaled(_, sig, _)) => Err(format!("killed by signal {sig}{out}")),
        Some(other) => Err(format!("unexpected wait status {other:?}{out}")),
        None => Err(format!(
            "timed out after {} s (killed with SIGKILL){out}",
            timeout.unwrap_or(0)
        )),
    }
}

/// posix_spawn with fds 0-2 from `stdio`, every other fd closed, a new
/// process group, default signal dispositions and an empty signal mask.
fn spawn(
    path: &CString,
    argv: &[CString],
    envp: &[CString],
    stdio: [&OwnedFd; 3],
) -> io::Result<Pid> {
    let ptrs = |v: &[CString]| {
        v.iter()
            .map(|s| s.as_ptr())
            .chain([std::ptr::null()])
            .collect::<Vec<_>>()
    };
    let (argv, envp) = (ptrs(argv), ptrs(envp));
    let rc = |r: libc::c_int| {
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(r))
        }
    };
    // SAFETY: the file-actions and attribute objects are zero-initialised,
    // initialised before use and destroyed once; every pointer passed
    // (path, NULL-terminated argv/envp of live CStrings, sigsets) outlives the call.
    unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        rc(libc::posix_spawn_file_actions_init(&mut fa))?;
        if let Err(e) = rc(libc::posix_spawnattr_init(&mut attr)) {
            libc::posix_spawn_file_actions_destroy(&mut fa);
            return Err(e);
        }
        let result = (|| {
            for (target, fd) in stdio.iter().enumerate() {
                rc(libc::posix_spawn_file_actions_adddup2(
                    &mut fa,
                    fd.as_raw_fd(),
                    target as i32,
                ))?;
            }
            rc(libc::posix_spawn_file_actions_addclosefrom_np(&mut fa, 3))?;
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigemptyset(&mut none);
            rc(libc::posix_spawnattr_setsigdefault(&mut attr, &all))?;
            rc(libc::posix_spawnattr_setsigmask(&mut attr, &none))?;
            rc(libc::posix_spawnattr_setpgroup(&mut attr, 0))?;
            let flags = libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETSIGMASK;
            rc(libc::posix_spawnattr_setflags(
                &mut attr,
                flags as libc::c_short,
            ))?;
            let mut pid: libc::pid_t = 0;
            let (a, e) = (
                argv.as_ptr() as *const *mut c_char,
                envp.as_ptr() as *const *mut c_char,
            );
            rc(libc::posix_spawn(&mut pid, path.as_ptr(), &fa, &attr, a, e))?;
            Ok(Pid::from_raw(pid))
        })();
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut attr);
        result
    }
}

struct HookIo<'a> {
    stdin: Option<File>,
    state: &'a [u8],
    written: usize,
    outs: [Option<File>; 2],
    captured: [Vec<u8>; 2],
}

impl HookIo<'_> {
    /// Writes as much of the state as the pipe takes; gives up on any error
    /// (EPIPE: the hook closed stdin) and closes stdin once everything is sent.
    fn feed(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        loop {
            match stdin.write(&self.state[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
            if self.written == self.state.len() {
                break;
            }
        }
        self.stdin = None;
    }

    /// Reads what is available from stdout/stderr; closes a stream at EOF.
    fn drain(&mut self) {
        let mut buf = [0u8; 8192];
        for (out, captured) in self.outs.iter_mut().zip(self.captured.iter_mut()) {
            while let Some(f) = out.as_mut() {
                match f.read(&mut buf) {
                    Ok(0) => *out = None,
                    Ok(n) => {
                        let keep = n.min(CAPTURE_MAX - captured.len());
                        captured.extend_from_slice(&buf[..keep]);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => *out = None,
                }
            }
        }
    }

    /// `, stdout: "…", stderr: "…"` for the non-empty streams, on one line.
    fn describe_output(&self) -> String {
        let mut s = String::new();
        for (name, bytes) in ["stdout", "stderr"].iter().zip(&self.captured) {
            let text = String::from_utf8_lossy(bytes);
            if !text.trim().is_empty() {
                s.push_str(&format!(", {name}: {:?}", text.trim()));
            }
        }
        s
    }
}

/// A spawned hook; killed (with its process group) and reaped on drop unless
/// it was reaped already.
struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    /// Runs the I/O loop until the hook exits (`Some(status)`) or the
    /// deadline passes (`None`, the hook's group killed and reaped).
    fn supervise(
        &mut self,
        io: &mut HookIo,
        deadline: Option<Instant>,
    ) -> Result<Option<WaitStatus>, String> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid.as_raw(), 0) };
        // SAFETY: `raw` is a freshly opened fd that nothing else owns.
        let pidfd = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw as i32) });
        io.feed();
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(nix::Error::EINTR) => {}
                Ok(status) => {
                    self.reaped = true;
                    io.drain();
                    return Ok(Some(status));
                }
                Err(e) => return Err(format!("waiting for the hook: {}", errno(e as i32))),
            }
            let mut wait_ms: i64 = if pidfd.is_some() { -1 } else { 10 };
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    self.kill();
                    io.drain();
                    return Ok(None);
                }
                let left = left.as_millis().min(i32::MAX as u128) as i64 + 1;
                wait_ms = if wait_ms < 0 { left } else { wait_ms.min(left) };
            }
            let mut fds = Vec::with_capacity(4);
            let mut add = |fd: Option<i32>, events| {
                if let Some(fd) = fd {
                    fds.push(libc::pollfd {
                        fd,
                        events,
                        revents: 0,
                    });
                }
            };
            add(io.stdin.as_ref().map(|f| f.as_raw_fd()), libc::POLLOUT);
            add(io.outs[0].as_ref().map(|f| f.as_raw_fd()), libc::POLLIN);
            add(io.outs[1].as_ref().map(|f| f.as_raw_fd()), libc::POLLIN);
            add(pidfd.as_ref().map(|f| f.as_raw_fd()), libc::POLLIN);
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
            let r =
                unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms as i32) };
            let e = io::Error::last_os_error();
            if r < 0 && e.kind() != ErrorKind::Interrupted {
                return Err(format!("poll: {e}"));
            }
            io.feed();
            io.drain();
        }
    }

    fn kill(&mut self) {
        if !self.reaped {
            let _ = kill(Pid::from_raw(-self.pid.as_raw()), Signal::SIGKILL);
            let _ = kill(self.pid, Signal::SIGKILL);
            while let Err(nix::Error::EINTR) = waitpid(self.pid, None) {}
            self.reaped = true;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn hooks(json: serde_json::Value) -> Hooks {
        serde_json::from_value(json).unwrap()
    }

    fn script(dir: &Path, name: &str, body: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path.to_str().unwrap().to_string()
    }

    fn big_state() -> String {
        let pad = "x".repeat(1 << 20);
        serde_json::json!({"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 42,
            "bundle": "/b", "annotations": {"pad": pad}})
        .to_string()
    }

    #[test]
    fn stdin_argv_and_env_are_exact() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().display();
        let body = format!(
            "/bin/cat > {d}/stdin; /bin/cat /proc/$$/cmdline > {d}/argv; /bin/cat /proc/$$/environ > {d}/env"
        );
        let h = hooks(serde_json::json!({"createRuntime": [{"path": "/bin/sh",
            "args": ["my-argv0", "-c", body, "arg 1"], "env": ["B=two words", "A=1", "B=dup"]}]}));
        let state = big_state();
        run_hooks(Some(&h), HookPhase::CreateRuntime, &state).unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("stdin")).unwrap(),
            state
        );
        let argv = std::fs::read(tmp.path().join("argv")).unwrap();
        assert_eq!(argv, format!("my-argv0\0-c\0{body}\0arg 1\0").into_bytes());
        let env = std::fs::read(tmp.path().join("env")).unwrap();
        assert_eq!(env, b"B=two words\0A=1\0B=dup\0");
    }

    #[test]
    fn empty_args_make_argv0_the_path_and_env_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        // With no args, /bin/sh reads its commands from stdin: use the state as a script.
        let cmd = format!(
            "/bin/cat /proc/$$/cmdline /proc/$$/environ > {}",
            out.display()
        );
        let h = hooks(serde_json::json!({"poststop": [{"path": "/bin/sh", "args": []}]}));
        run_hooks(Some(&h), HookPhase::Poststop, &cmd).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"/bin/sh\0");
    }

    #[test]
    fn failure_names_phase_hook_status_and_output() {
        let tmp = tempfile::tempdir().unwrap();
        let path = script(tmp.path(), "fail", "echo to-out; echo to-err >&2; exit 3");
        let h = hooks(serde_json::json!({"prestart": [{"path": path}]}));
        let err = run_hooks(Some(&h), HookPhase::Prestart, "{}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "error running prestart hook #0 ({path}): exit status 3"
            )),
            "{err}"
        );
        assert!(
            err.contains(r#"stdout: "to-out", stderr: "to-err""#),
            "{err}"
        );

        let h = hooks(
            serde_json::json!({"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $$"]}]}),
        );
        let err = run_hooks(Some(&h), HookPhase::Poststart, "{}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("poststart hook #0 (/bin/sh): killed by signal SIGKILL"),
            "{err}"
        );

        let h = hooks(serde_json::json!({"createContainer": [{"path": "/nonexistent/hook"}]}));
        let err = run_hooks(Some(&h), HookPhase::CreateContainer, "{}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exec /nonexistent/hook: no such file or directory"),
            "{err}"
        );

        let h = hooks(serde_json::json!({"startContainer": [{"path": "/bin/true", "timeout": 0}]}));
        let err = run_hooks(Some(&h), HookPhase::StartContainer, "{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid timeout 0"), "{err}");
    }

    fn gone(pid: &str) -> bool {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        stat.is_empty() || stat.rsplit(") ").next().unwrap().starts_with('Z')
    }

    #[test]
    fn timeout_kills_the_hook_and_its_children() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().display();
        // Never reads stdin (so writing the big state blocks), forks a child.
        let path = script(
            tmp.path(),
            "slow",
            &format!("echo $$ > {d}/sh; /bin/sleep 10 & echo $! > {d}/sleep; wait"),
        );
        let h = hooks(serde_json::json!({"createRuntime": [{"path": path, "timeout": 1}]}));
        let start = Instant::now();
        let err = run_hooks(Some(&h), HookPhase::CreateRuntime, &big_state())
            .unwrap_err()
            .to_string();
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        assert!(
            err.contains(&format!(
                "createRuntime hook #0 ({path}): timed out after 1 s"
            )),
            "{err}"
        );
        for f in ["sh", "sleep"] {
            let pid = std::fs::read_to_string(tmp.path().join(f)).unwrap();
            // The orphaned sleep is reaped by init; give it a moment.
            let t = Instant::now();
            while !gone(&pid) && t.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(gone(&pid), "{f} (pid {}) still running", pid.trim());
        }
    }

    #[test]
    fn hooks_run_in_order_and_stop_at_the_first_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("log");
        let hook = |name: &str, code: i32| {
            let p = script(
                tmp.path(),
                name,
                &format!("echo {name} >> {}; exit {code}", log.display()),
            );
            serde_json::json!({"path": p})
        };
        let ok =
            hooks(serde_json::json!({"poststart": [hook("a", 0), hook("b", 0), hook("c", 0)]}));
        run_hooks(Some(&ok), HookPhase::Poststart, "{}").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\nc\n");
        std::fs::remove_file(&log).unwrap();
        let bad =
            hooks(serde_json::json!({"poststop": [hook("a", 0), hook("x", 1), hook("c", 0)]}));
        let err = run_hooks(Some(&bad), HookPhase::Poststop, "{}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("poststop hook #1") && err.contains("exit status 1"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nx\n");
        // Other phases and absent hooks run nothing.
        run_hooks(Some(&bad), HookPhase::Prestart, "{}").unwrap();
        run_hooks(None, HookPhase::Poststop, "{}").unwrap();
    }

    #[test]
    fn hooks_that_close_or_ignore_stdin_succeed() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().display();
        let closes = script(
            tmp.path(),
            "closes",
            &format!("exec 0<&-; /bin/sleep 0.2; echo ok > {d}/closes"),
        );
        let ignores = script(tmp.path(), "ignores", &format!("echo ok > {d}/ignores"));
        let h = hooks(serde_json::json!({"createRuntime": [{"path": closes}, {"path": ignores}]}));
        run_hooks(Some(&h), HookPhase::CreateRuntime, &big_state()).unwrap();
        assert!(tmp.path().join("closes").exists() && tmp.path().join("ignores").exists());
    }

    #[test]
    fn works_in_a_forked_child() {
        // createContainer/startContainer hooks run from init after fork.
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("stdin");
        let body = format!("/bin/cat > {}", out.display());
        let h = hooks(
            serde_json::json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", body], "timeout": 5}]}),
        );
        // SAFETY: the child only runs the hook and leaves with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let ok = run_hooks(
                    Some(&h),
                    HookPhase::StartContainer,
                    r#"{"status":"created"}"#,
                )
                .is_ok();
                // SAFETY: _exit ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
            }
        }
        assert_eq!(
            std::fs::read_to_string(out).unwrap(),
            r#"{"status":"created"}"#
        );
    }

    #[test]
    fn phase_names_match_the_spec() {
        let names = [
            HookPhase::Prestart,
            HookPhase::CreateRuntime,
            HookPhase::CreateContainer,
            HookPhase::StartContainer,
            HookPhase::Poststart,
            HookPhase::Poststop,
        ]
        .map(HookPhase::as_str);
        assert_eq!(
            names,
            [
                "prestart",
                "createRuntime",
                "createContainer",
                "startContainer",
                "poststart",
                "poststop"
            ]
        );
    }
}
