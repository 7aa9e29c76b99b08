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
    let Some(env) = TestEnv::new(name) else {
        return;
    };
    let mut args = vec!["/app.wasm"];
    args.extend_from_slice(module_args);
    let b = env.bundle(module).args(&args);
    let id = env.id("c");
    let mut bg = start_in_background(&env, &id, &b, ready);

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
