//! The process contract: the pid in `--pid-file` is a real process whose
//! wait status is the container's exit code. These tests play the
//! containerd shim: this test process is a child subreaper, so an init that
//! runwasm leaves behind is re-parented to it and can be reaped with
//! waitpid.

mod common;

use std::sync::Once;
use std::time::Duration;

use common::*;

const SEC: Duration = Duration::from_secs(1);

fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers.
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(
            r,
            0,
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        );
    });
}

#[derive(Debug, PartialEq)]
enum Wait {
    Exited(i32),
    Signaled(i32),
}

/// Reaps `pid` (a descendant re-parented to us) within `timeout`.
fn reap(pid: i32, timeout: Duration) -> Wait {
    let mut result = None;
    let ok = wait_until(timeout, || {
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            result = Some(if libc::WIFEXITED(status) {
                Wait::Exited(libc::WEXITSTATUS(status))
            } else {
                Wait::Signaled(libc::WTERMSIG(status))
            });
            return true;
        }
        if r < 0 {
            panic!(
                "waitpid({pid}): {} — init is not a descendant of the caller (it must be, \
                 so that a subreaper shim can collect its exit status)",
                std::io::Error::last_os_error()
            );
        }
        false
    });
    assert!(ok, "init {pid} did not exit within {timeout:?}");
    result.unwrap()
}

/// create + start `module` with `args`, reap init, return its wait status
/// and the container's stdout and stderr.
fn create_start_reap(
    env: &TestEnv,
    tag: &str,
    module: &str,
    args: &[&str],
) -> (Wait, String, String) {
    become_subreaper();
    let mut a = vec!["/app.wasm"];
    a.extend_from_slice(args);
    let b = env.bundle(module).args(&a);
    let id = env.id(tag);
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.start(&id);
    let w = reap(pid, 5 * SEC);
    assert!(
        env.wait_status(&id, "stopped", 2 * SEC),
        "state after init was reaped: {:?}",
        env.try_state(&id)
    );
    env.run(&["delete", id.as_str()]).assert_ok();
    (w, c.stdout(), c.stderr())
}

#[test]
fn init_exit_status_is_the_wasi_exit_code() {
    let Some(env) = TestEnv::new("wait_exit_code") else {
        return;
    };
    let (w, out, _) = create_start_reap(&env, "hello", "hello", &[]);
    assert_eq!(w, Wait::Exited(0), "hello's init");
    assert_eq!(out, "Hello from Wasm!\n");
    for code in [3, 255] {
        let arg = code.to_string();
        let (w, _, _) =
            create_start_reap(&env, &format!("exit{code}"), "exit_code", &[arg.as_str()]);
        assert_eq!(w, Wait::Exited(code), "exit_code {code}'s init");
    }
}

#[test]
fn init_exit_status_after_a_trap() {
    let Some(env) = TestEnv::new("wait_trap") else {
        return;
    };
    let (w, _, stderr) = create_start_reap(&env, "trap", "trap", &[]);
    assert_eq!(w, Wait::Exited(134), "a trapped module's init");
    // The trap's one line goes to the container's stderr (create's).
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "one line about the trap on the container's stderr: {stderr:?}"
    );
    assert!(
        lines[0].to_lowercase().contains("unreachable"),
        "{stderr:?}"
    );
}

/// Sends `kill ID SIG` to a spinning module and reaps init: init handles
/// the exit signals itself and exits with 128+n (an init without handlers
/// would be killed by the signal, or, as PID 1 of a pid namespace, not
/// notice it at all).
fn exit_status_after_signal(env: &TestEnv, namespaces: &[&str], sig: &str, n: i32) {
    become_subreaper();
    let mut b = env.bundle("spin");
    if !namespaces.is_empty() {
        b = b.namespaces(namespaces);
    }
    let tag = if namespaces.is_empty() {
        sig.to_lowercase()
    } else {
        format!("{}-ns", sig.to_lowercase())
    };
    let id = env.id(&tag);
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.start(&id);
    assert!(
        wait_file_contains(&c.stdout, "spinning", 5 * SEC),
        "spin did not start: {:?}",
        c.stderr()
    );
    env.run(&["kill", id.as_str(), sig]).assert_ok();
    let w = reap(pid, 2 * SEC);
    assert_eq!(
        w,
        Wait::Exited(128 + n),
        "after `kill ID {sig}` init must exit with status 128+{n} from its own handler \
         (namespaces {namespaces:?})"
    );
    env.run(&["delete", id.as_str()]).assert_ok();
}

const EXIT_SIGNALS: [(&str, i32); 6] = [
    ("TERM", 15),
    ("INT", 2),
    ("HUP", 1),
    ("QUIT", 3),
    ("USR1", 10),
    ("USR2", 12),
];

#[test]
fn init_exit_status_after_sigterm() {
    let Some(env) = TestEnv::new("wait_sigterm") else {
        return;
    };
    exit_status_after_signal(&env, &[], "TERM", 15);
}

#[test]
fn init_exit_status_after_each_exit_signal() {
    let Some(env) = TestEnv::new("wait_signals") else {
        return;
    };
    for (sig, n) in EXIT_SIGNALS {
        exit_status_after_signal(&env, &[], sig, n);
    }
}

#[test]
fn init_exit_status_after_each_exit_signal_in_a_pid_namespace() {
    let Some(env) = TestEnv::new("wait_signals_pidns") else {
        return;
    };
    for (sig, n) in EXIT_SIGNALS {
        exit_status_after_signal(&env, &["pid"], sig, n);
    }
}
