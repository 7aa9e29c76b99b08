//! `kill`: signal forms, and signals ending a running module promptly with
//! status 128+n (observed through `run`'s exit code).

mod common;

use std::time::{Duration, Instant};

use common::*;

const SEC: Duration = Duration::from_secs(1);
/// How fast a signal must end a running module.
const PROMPT: Duration = Duration::from_secs(1);

/// Starts `run` of a module in the background and waits until it prints
/// `ready` and `state` says running.
fn start_in_background(env: &TestEnv, id: &str, b: &Bundle, ready: &str) -> Bg {
    let mut bg = env.spawn_run(id, b);
    let ok = wait_until(5 * SEC, || bg.stdout_now().contains(ready) || bg.exited());
    if !ok || bg.exited() {
        let out = match bg.wait_timeout(Duration::ZERO) {
            Some(o) => o,
            None => bg.kill_and_collect(),
        };
        panic!("the module never printed {ready:?}:\n{out}");
    }
    assert!(
        env.wait_status(id, "running", 2 * SEC),
        "state is not running while the module runs: {:?}",
        env.try_state(id)
    );
    bg
}

/// Sends `kill ARGS` (with `{id}` replaced) to a running `module` and checks
/// that `run` ends within [`PROMPT`] with `want` as its exit code.
fn signal_ends_module(
    name: &str,
    module: &str,
    module_args: &[&str],
    ready: &str,
    kill: &[&str],
    want: i32,
) {
    signal_ends_module_in(name, module, module_args, ready, kill, want, &[]);
}

/// [`signal_ends_module`] for a container with the new namespaces
/// `namespaces`. With a pid namespace init is PID 1 there, and the kernel
/// drops every signal PID 1 has no handler for (SIGKILL from an ancestor
/// namespace aside): the module only ends if init handles the signal.
fn signal_ends_module_in(
    name: &str,
    module: &str,
    module_args: &[&str],
    ready: &str,
    kill: &[&str],
    want: i32,
    namespaces: &[&str],
) {
    let Some(env) = TestEnv::new(name) else {
        return;
    };
    let mut args = vec!["/app.wasm"];
    args.extend_from_slice(module_args);
    let mut b = env.bundle(module).args(&args);
    if !namespaces.is_empty() {
        b = b.namespaces(namespaces);
    }
    let id = env.id("c");
    let mut bg = start_in_background(&env, &id, &b, ready);
    if namespaces.contains(&"pid") {
        let pid = env.state(&id)["pid"].as_i64().unwrap_or(0) as i32;
        let nspids = ns_pids(pid);
        assert_eq!(
            nspids.last(),
            Some(&1),
            "with a pid namespace init ({pid}) must be PID 1 in it (NSpid {nspids:?})"
        );
    }

    let kill_args: Vec<&str> = kill
        .iter()
        .map(|a| if *a == "{id}" { id.as_str() } else { a })
        .collect();
    let t0 = Instant::now();
    let k = env.run(&kill_args);
    k.assert_ok();
    let out = match bg.wait_timeout(5 * SEC) {
        Some(o) => o,
        None => panic!(
            "`{}` did not end the module within 5 s:\n{}",
            kill_args.join(" "),
            bg.kill_and_collect()
        ),
    };
    let took = t0.elapsed();
    eprintln!(
        "{name}: `{}` ended the module in {took:?}",
        kill_args.join(" ")
    );
    assert_eq!(
        out.code(),
        want,
        "after `{}` run must exit {want} (128+n):\n{out}",
        kill_args.join(" ")
    );
    assert!(
        took < PROMPT,
        "`{}` took {took:?} to end the module (limit {PROMPT:?}):\n{out}",
        kill_args.join(" ")
    );
    assert!(
        !env.state_dir(&id).exists(),
        "run left ROOT/ID behind after the signal:\n{out}"
    );
    env.assert_nothing_left(&id, &[]);
}

macro_rules! signal_test {
    ($name:ident, $sig:expr, $n:expr) => {
        #[test]
        fn $name() {
            signal_ends_module(
                stringify!($name),
                "spin",
                &[],
                "spinning",
                &["kill", "{id}", $sig],
                128 + $n,
            );
        }
    };
}

signal_test!(sigterm_ends_a_spinning_module, "TERM", 15);
signal_test!(sigint_ends_a_spinning_module, "INT", 2);
signal_test!(sighup_ends_a_spinning_module, "HUP", 1);
signal_test!(sigquit_ends_a_spinning_module, "QUIT", 3);
signal_test!(sigusr1_ends_a_spinning_module, "USR1", 10);
signal_test!(sigusr2_ends_a_spinning_module, "USR2", 12);
signal_test!(sigkill_ends_a_spinning_module, "KILL", 9);

/// Like `signal_test!`, in a pid namespace of its own: only init's own
/// handlers can end the module with 128+n there.
macro_rules! pidns_signal_test {
    ($name:ident, $sig:expr, $n:expr) => {
        #[test]
        fn $name() {
            signal_ends_module_in(
                stringify!($name),
                "spin",
                &[],
                "spinning",
                &["kill", "{id}", $sig],
                128 + $n,
                &["pid"],
            );
        }
    };
}

pidns_signal_test!(pidns_sigterm_ends_a_spinning_module, "TERM", 15);
pidns_signal_test!(pidns_sigint_ends_a_spinning_module, "INT", 2);
pidns_signal_test!(pidns_sighup_ends_a_spinning_module, "HUP", 1);
pidns_signal_test!(pidns_sigquit_ends_a_spinning_module, "QUIT", 3);
pidns_signal_test!(pidns_sigusr1_ends_a_spinning_module, "USR1", 10);
pidns_signal_test!(pidns_sigusr2_ends_a_spinning_module, "USR2", 12);
pidns_signal_test!(pidns_sigkill_ends_a_spinning_module, "KILL", 9);

#[test]
fn pidns_sigterm_ends_a_module_blocked_in_sleep() {
    signal_ends_module_in(
        "pidns_sig_sleep",
        "sleep",
        &["30"],
        "sleeping",
        &["kill", "{id}", "TERM"],
        143,
        &["pid"],
    );
}

#[test]
fn pidns_kill_without_a_signal_ends_the_module() {
    signal_ends_module_in(
        "pidns_sig_default",
        "spin",
        &[],
        "spinning",
        &["kill", "{id}"],
        143,
        &["pid"],
    );
}

#[test]
fn kill_without_a_signal_sends_sigterm() {
    signal_ends_module(
        "sig_default",
        "spin",
        &[],
        "spinning",
        &["kill", "{id}"],
        143,
    );
}

#[test]
fn kill_accepts_a_number() {
    signal_ends_module(
        "sig_number",
        "spin",
        &[],
        "spinning",
        &["kill", "{id}", "15"],
        143,
    );
}

#[test]
fn kill_accepts_a_sig_name() {
    signal_ends_module(
        "sig_signame",
        "spin",
        &[],
        "spinning",
        &["kill", "{id}", "SIGTERM"],
        143,
    );
}

#[test]
fn kill_accepts_options_after_the_id() {
    signal_ends_module(
        "sig_opt_after",
        "spin",
        &[],
        "spinning",
        &["kill", "{id}", "9", "--all"],
        137,
    );
}

#[test]
fn kill_all_9() {
    signal_ends_module(
        "sig_all",
        "spin",
        &[],
        "spinning",
        &["kill", "--all", "{id}", "9"],
        137,
    );
}

#[test]
fn kill_a_short_flag() {
    signal_ends_module(
        "sig_all_short",
        "spin",
        &[],
        "spinning",
        &["kill", "-a", "{id}", "KILL"],
        137,
    );
}

#[test]
fn sigterm_ends_a_module_blocked_in_sleep() {
    signal_ends_module(
        "sig_sleep",
        "sleep",
        &["30"],
        "sleeping",
        &["kill", "{id}", "TERM"],
        143,
    );
}

#[test]
fn kill_of_an_unknown_container() {
    let Some(env) = TestEnv::new("sig_unknown_id") else {
        return;
    };
    let id = env.id("nope");
    env.run(&["kill", id.as_str()])
        .assert_failed_with(&["does not exist"]);
    env.run(&["kill", id.as_str(), "KILL"])
        .assert_failed_with(&["does not exist"]);
    assert!(!env.state_dir(&id).exists());
}

#[test]
fn kill_of_a_stopped_container() {
    let Some(env) = TestEnv::new("sig_stopped") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.start(&id);
    assert!(wait_pid_exit(pid, 5 * SEC), "hello did not exit");
    assert!(
        env.wait_status(&id, "stopped", 2 * SEC),
        "{:?}",
        env.try_state(&id)
    );
    env.run(&["kill", id.as_str()])
        .assert_failed_with(&["container not running"]);
    env.run(&["kill", id.as_str(), "KILL"])
        .assert_failed_with(&["container not running"]);
    // The shim's `kill --all ID 9` after init exited must not fail the
    // container's teardown either way; it may succeed or say "not running".
    let out = env.run(&["kill", "--all", id.as_str(), "9"]);
    if !out.success() {
        out.assert_failed_with(&["container not running"]);
    }
    assert_eq!(env.status(&id).as_deref(), Some("stopped"));
}

#[test]
fn kill_with_an_unknown_signal_leaves_the_container_alone() {
    let Some(env) = TestEnv::new("sig_bad_signal") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.start(&id);
    assert!(wait_file_contains(&c.stdout, "spinning", 5 * SEC));
    for bad in ["FOO", "SIGFOO", "99999"] {
        let out = env.run(&["kill", id.as_str(), bad]);
        out.assert_failed_with(&[bad]);
        assert!(
            pid_alive(pid),
            "`kill {id} {bad}` hurt the container:\n{out}"
        );
    }
    assert_eq!(env.status(&id).as_deref(), Some("running"));
}

#[test]
fn kill_of_a_created_container() {
    let Some(env) = TestEnv::new("sig_created") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.run(&["kill", id.as_str(), "KILL"]).assert_ok();
    assert!(
        wait_pid_exit(pid, 2 * SEC),
        "SIGKILL did not end a created container's init"
    );
    assert!(
        env.wait_status(&id, "stopped", 2 * SEC),
        "state after killing a created container: {:?}",
        env.try_state(&id)
    );
    assert_eq!(c.stdout(), "", "the module must never have run");
    env.run(&["delete", id.as_str()]).assert_ok();
    env.assert_nothing_left(&id, &[]);
}

/// `run` in the foreground forwards the signals it gets to the container:
/// SIGTERM to the runwasm process (not to the container) ends the module,
/// `run` exits 143 within [`PROMPT`] and removes the container.
fn run_forwards_sigterm(name: &str, namespaces: &[&str]) {
    let Some(env) = TestEnv::new(name) else {
        return;
    };
    let mut b = env.bundle("spin");
    if !namespaces.is_empty() {
        b = b.namespaces(namespaces);
    }
    let id = env.id("c");
    let mut bg = start_in_background(&env, &id, &b, "spinning");
    let init = env.state(&id)["pid"].as_i64().unwrap_or(0) as i32;
    assert_ne!(init, bg.pid(), "init must not be the run process itself");
    let t0 = Instant::now();
    send_signal(bg.pid(), libc::SIGTERM);
    let out = match bg.wait_timeout(5 * SEC) {
        Some(o) => o,
        None => panic!(
            "SIGTERM to `runwasm run` did not end it within 5 s:\n{}",
            bg.kill_and_collect()
        ),
    };
    let took = t0.elapsed();
    assert_eq!(
        out.status.code(),
        Some(143),
        "after SIGTERM `run` must exit 143 (128+15), having forwarded the signal:\n{out}"
    );
    assert!(
        took < PROMPT,
        "SIGTERM to `run` took {took:?} to end it (limit {PROMPT:?}):\n{out}"
    );
    assert!(
        !env.state_dir(&id).exists(),
        "run left ROOT/ID behind after SIGTERM:\n{out}"
    );
    assert!(wait_pid_exit(init, SEC), "init {init} outlived run");
    env.assert_nothing_left(&id, &[]);
}

#[test]
fn run_forwards_sigterm_to_the_container() {
    run_forwards_sigterm("run_fwd_term", &[]);
}

#[test]
fn run_forwards_sigterm_to_pid_1_of_a_pid_namespace() {
    run_forwards_sigterm("run_fwd_term_pidns", &["pid"]);
}

/// The caller's process group (a shell job, Ctrl-C at a terminal) must not
/// reach a container that outlives the runwasm call: init runs in a session
/// of its own, as runc's init does (setsid).
#[test]
fn process_group_signals_do_not_reach_a_created_container() {
    let Some(env) = TestEnv::new("sig_pgroup") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let pid_file = env.tmp().join("pg.pid");
    let rw = env
        .rw(&[
            "create",
            "--bundle",
            path_str(&b.dir),
            "--pid-file",
            path_str(&pid_file),
            id.as_str(),
        ])
        .new_process_group();
    let stdout = rw.stdout.clone();
    let mut bg = rw.spawn();
    let pgid = bg.pid();
    bg.wait().assert_ok();
    let pid = read_pid_file(&pid_file);
    let ids = proc_stat_ids(pid);
    assert!(
        ids.is_some_and(|(_, pgrp, sid)| pgrp != pgid && sid == pid),
        "init {pid} must lead a session of its own (setsid), not stay in the caller's \
         process group {pgid}: (ppid, pgrp, session) = {ids:?}"
    );

    // SAFETY: kill(2) of a process group; ESRCH (nobody left in it) is fine.
    unsafe { libc::kill(-pgid, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pid_alive(pid),
        "SIGINT to the caller's process group {pgid} ended the created container's init"
    );
    assert_eq!(env.status(&id).as_deref(), Some("created"));

    env.start(&id);
    assert!(wait_file_contains(&stdout, "spinning", 5 * SEC));
    for sig in [libc::SIGINT, libc::SIGHUP, libc::SIGTERM] {
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, sig) };
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pid_alive(pid),
        "signals to the caller's process group {pgid} ended the running container"
    );
    assert_eq!(env.status(&id).as_deref(), Some("running"));
}

#[test]
fn process_group_signals_do_not_reach_a_detached_container() {
    let Some(env) = TestEnv::new("sig_pgroup_detach") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let pid_file = env.tmp().join("pg.pid");
    let rw = env
        .rw(&[
            "run",
            "--detach",
            "--pid-file",
            path_str(&pid_file),
            "--bundle",
            path_str(&b.dir),
            id.as_str(),
        ])
        .new_process_group();
    let stdout = rw.stdout.clone();
    let mut bg = rw.spawn();
    let pgid = bg.pid();
    bg.wait().assert_ok();
    let pid = read_pid_file(&pid_file);
    assert!(wait_file_contains(&stdout, "spinning", 5 * SEC));
    // SAFETY: kill(2) of a process group; ESRCH (nobody left in it) is fine.
    unsafe { libc::kill(-pgid, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pid_alive(pid),
        "SIGINT to the process group of `run --detach` ended the container \
         (ids of init: {:?})",
        proc_stat_ids(pid)
    );
    assert_eq!(env.status(&id).as_deref(), Some("running"));
}

/// Signal 0 checks liveness, as kill(2) and runc allow: exit 0 on a created
/// or running container, which it leaves alone.
#[test]
fn kill_with_signal_0_checks_liveness() {
    let Some(env) = TestEnv::new("sig_zero") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    let out = env.run(&["kill", id.as_str(), "0"]);
    out.assert_ok();
    assert!(pid_alive(pid), "`kill ID 0` hurt a created container");
    assert_eq!(env.status(&id).as_deref(), Some("created"), "{out}");

    env.start(&id);
    assert!(wait_file_contains(&c.stdout, "spinning", 5 * SEC));
    let out = env.run(&["kill", id.as_str(), "0"]);
    out.assert_ok();
    std::thread::sleep(Duration::from_millis(200));
    assert!(pid_alive(pid), "`kill ID 0` hurt a running container");
    assert_eq!(env.status(&id).as_deref(), Some("running"), "{out}");

    env.run(&["kill", id.as_str(), "KILL"]).assert_ok();
    assert!(wait_pid_exit(pid, 2 * SEC));
    assert!(env.wait_status(&id, "stopped", 2 * SEC));
    env.run(&["kill", id.as_str(), "0"])
        .assert_failed_with(&["container not running"]);
}
