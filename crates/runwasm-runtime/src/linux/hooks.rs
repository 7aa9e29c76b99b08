//! OCI hooks: each hook is exec'd with its `path`, `args` (argv[0] as
//! written, or the path), exactly its `env`, and the container's state JSON
//! on stdin; its stdout and stderr are captured and put in the error if it
//! fails, as runc does. `timeout` (seconds) kills a hook that runs past it.
//!
//! Who runs what (runtime-spec 1.2, runc):
//! - `prestart` (deprecated) and `createRuntime`: the `create` process, in
//!   the runtime's namespaces, once init's namespaces and mounts exist and
//!   before pivot_root. A failure fails `create`.
//! - `createContainer`: init, in the container's namespaces, after the
//!   mounts and before pivot_root. A failure fails `create`.
//! - `startContainer`: init, after `start`, in the container, right before
//!   the workload. A failure stops the container instead of running it.
//! - `poststart`: the `start` process once init is released; `poststop`:
//!   `delete` once the container is gone. Their failures are logged as
//!   warnings and the lifecycle goes on, as the runtime-spec says (runc
//!   instead kills the container on a poststart failure).
//!
//! No threads: one poll loop feeds stdin and drains stdout/stderr, so it is
//! safe in init after fork, whatever the hook does with its pipes.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use crate::{Error, Result};

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
    /// The name config.json gives this phase.
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

    fn of(self, hooks: &Hooks) -> &[Hook] {
        let v = match self {
            #[allow(deprecated)]
            HookPhase::Prestart => hooks.prestart(),
            HookPhase::CreateRuntime => hooks.create_runtime(),
            HookPhase::CreateContainer => hooks.create_container(),
            HookPhase::StartContainer => hooks.start_container(),
            HookPhase::Poststart => hooks.poststart(),
            HookPhase::Poststop => hooks.poststop(),
        };
        v.as_deref().unwrap_or_default()
    }
}

/// True when `hooks` has anything for `phase`.
pub fn has(hooks: Option<&Hooks>, phase: HookPhase) -> bool {
    hooks.is_some_and(|h| !phase.of(h).is_empty())
}

/// Runs the hooks of `phase` in order; the first failure is the error,
/// naming the phase, the hook and how it ended.
pub fn run_hooks(hooks: Option<&Hooks>, phase: HookPhase, state_json: &str) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for (i, hook) in phase.of(hooks).iter().enumerate() {
        run_hook(hook, state_json).map_err(|e| {
            Error::other(format!(
                "hooks.{}[{i}] ({}): {e}",
                phase.as_str(),
                hook.path().display()
            ))
        })?;
    }
    Ok(())
}

/// Runs the hooks of a phase whose failures are only warnings.
pub fn run_hooks_warn(hooks: Option<&Hooks>, phase: HookPhase, state_json: &str) {
    if let Err(e) = run_hooks(hooks, phase, state_json) {
        tracing::warn!("{e}");
    }
}

fn run_hook(hook: &Hook, state_json: &str) -> std::result::Result<(), String> {
    let mut cmd = Command::new(hook.path());
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("exec: {e}"))?;
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    let (out, err, timed_out) =
        communicate(&mut child, state_json.as_bytes(), deadline.map(|d| d.1));
    if timed_out {
        let _ = child.kill();
        let _ = child.wait();
        let t = deadline.map(|d| d.0).unwrap_or(0);
        return Err(format!("timed out after {t} s"));
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    };
    let mut msg = how;
    for (name, text) in [("stdout", out), ("stderr", err)] {
        let text = String::from_utf8_lossy(&text);
        let text = text.trim();
        if !text.is_empty() {
            msg.push_str(&format!(", {name}: {text}"));
        }
    }
    Err(msg)
}

/// Feeds `input` to the child's stdin and collects stdout/stderr until both
/// close or `deadline` passes (then the third value is true).
fn communicate(
    child: &mut Child,
    input: &[u8],
    deadline: Option<Instant>,
) -> (Vec<u8>, Vec<u8>, bool) {
    let file = |fd: OwnedFd| std::fs::File::from(fd);
    let mut stdin = child.stdin.take().map(|p| file(p.into()));
    let mut stdout = child.stdout.take().map(|p| file(p.into()));
    let mut stderr = child.stderr.take().map(|p| file(p.into()));
    for fd in [
        stdin.as_ref().map(|s| s.as_raw_fd()),
        stdout.as_ref().map(|s| s.as_raw_fd()),
        stderr.as_ref().map(|s| s.as_raw_fd()),
    ]
    .into_iter()
    .flatten()
    {
        // SAFETY: fcntl on fds we own.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut written = 0;
    if input.is_empty() {
        stdin = None;
    }
    while stdin.is_some() || stdout.is_some() || stderr.is_some() {
        let mut fds = Vec::with_capacity(3);
        if let Some(s) = &stdin {
            fds.push(libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        for p in [&stdout, &stderr].into_iter().flatten() {
            fds.push(libc::pollfd {
                fd: p.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let wait_ms = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (out, err, true);
                }
                left.as_millis().min(1000) as i32
            }
            None => 1000,
        };
        // SAFETY: a valid array of pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
        if let Some(s) = stdin.as_mut() {
            match s.write(&input[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // EPIPE: the hook closed its stdin; it does not want more.
                Err(_) => written = input.len(),
            }
            if written >= input.len() {
                stdin = None;
            }
        }
        for (pipe, buf) in [(&mut stdout, &mut out), (&mut stderr, &mut err)] {
            if let Some(p) = pipe.as_mut() {
                let mut chunk = [0u8; 4096];
                match p.read(&mut chunk) {
                    Ok(0) => *pipe = None,
                    Ok(n) if buf.len() < 64 * 1024 => buf.extend_from_slice(&chunk[..n]),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => *pipe = None,
                }
            }
        }
    }
    // Pipes closed; the hook may still be running (it closed them itself).
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return (out, err, false),
            Ok(None) => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return (out, err, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn hooks(json: serde_json::Value) -> Hooks {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn hook_gets_state_args_and_env() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        // busybox picks its applet from argv[0]: "sh" proves args[0] is
        // passed as argv[0] (not the path).
        let h = hooks(serde_json::json!({"createRuntime": [{
            "path": "/bin/busybox",
            "args": ["sh", "-c", format!("cat > {0}/stdin; echo \"$0 $1\" > {0}/argv; env > {0}/env", d.display()), "zero", "one"],
            "env": ["ONLY=1"]
        }]}));
        let state = r#"{"ociVersion":"1.2.0","id":"x","status":"creating","pid":7}"#;
        run_hooks(Some(&h), HookPhase::CreateRuntime, state).unwrap();
        assert_eq!(std::fs::read_to_string(d.join("stdin")).unwrap(), state);
        assert_eq!(
            std::fs::read_to_string(d.join("argv")).unwrap().trim(),
            "zero one"
        );
        let env = std::fs::read_to_string(d.join("env")).unwrap();
        assert!(env.contains("ONLY=1"), "{env}");
        assert!(!env.contains("HOME="), "{env}");
        assert!(!has(Some(&h), HookPhase::Poststop));
        assert!(has(Some(&h), HookPhase::CreateRuntime));
    }

    #[test]
    fn failure_names_hook_and_status_and_stops_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let bad = script(d, "bad", "echo oops >&2; exit 3");
        let after = script(d, "after", &format!("touch {}/ran", d.display()));
        let h = hooks(serde_json::json!({"poststart": [{"path": bad}, {"path": after}]}));
        let e = run_hooks(Some(&h), HookPhase::Poststart, "{}")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hooks.poststart[0]") && e.contains("exit status 3") && e.contains("oops"),
            "{e}"
        );
        assert!(!d.join("ran").exists());
    }

    #[test]
    fn timeout_kills_the_hook() {
        let tmp = tempfile::tempdir().unwrap();
        let slow = script(tmp.path(), "slow", "exec sleep 10");
        let h = hooks(serde_json::json!({"prestart": [{"path": slow, "timeout": 1}]}));
        let t = Instant::now();
        let e = run_hooks(Some(&h), HookPhase::Prestart, "{}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("timed out after 1 s"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn big_state_to_a_hook_that_ignores_stdin() {
        let tmp = tempfile::tempdir().unwrap();
        let quiet = script(tmp.path(), "quiet", "exec 0<&-; exit 0");
        let h = hooks(serde_json::json!({"poststop": [{"path": quiet}]}));
        let big = "x".repeat(1 << 20);
        run_hooks(Some(&h), HookPhase::Poststop, &big).unwrap();
    }

    #[test]
    fn missing_hook_binary_is_an_error() {
        let h = hooks(serde_json::json!({"createContainer": [{"path": "/nonexistent/hook"}]}));
        let e = run_hooks(Some(&h), HookPhase::CreateContainer, "{}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/hook") && e.contains("exec"), "{e}");
    }
}
