//! runwasm called concurrently, as a busy shim or orchestrator calls it:
//! many creates at once, creates and deletes racing on one id, `kill`
//! racing `start`, `delete` racing the container's own exit. Every call
//! ends (no wedge: each has a deadline), `state` stays parseable, exactly
//! the right calls fail with one clear line, and nothing is left.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::*;
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);

/// How long a call may take when many run at once on a small machine.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits for every background call (each within [`BUSY_TIMEOUT`]).
#[track_caller]
fn wait_all(bgs: &mut [Bg]) -> Vec<Output> {
    bgs.iter_mut()
        .map(|bg| {
            bg.wait_timeout(BUSY_TIMEOUT).unwrap_or_else(|| {
                panic!(
                    "a concurrent call did not finish within {BUSY_TIMEOUT:?}:\n{}",
                    bg.kill_and_collect()
                )
            })
        })
        .collect()
}

fn create_bg(env: &TestEnv, b: &Bundle, id: &str, pid_file: &std::path::Path) -> Bg {
    env.track(id);
    env.rw(&[
        "create",
        "--bundle",
        path_str(&b.dir),
        "--pid-file",
        path_str(pid_file),
        id,
    ])
    .spawn()
}

/// `state ID`: parseable JSON with a known status, or "does not exist".
#[track_caller]
fn state_or_gone(env: &TestEnv, id: &str) -> Option<String> {
    let st = env.run(&["state", id]);
    if !st.success() {
        assert!(
            st.stderr_lines().len() == 1 && st.stderr.contains("does not exist"),
            "state failed other than with 'does not exist':\n{st}"
        );
        return None;
    }
    let v: Value = serde_json::from_str(&st.stdout)
        .unwrap_or_else(|e| panic!("state printed invalid JSON ({e}):\n{st}"));
    let s = v["status"].as_str().unwrap_or("").to_string();
    assert!(
        ["creating", "created", "running", "paused", "stopped"].contains(&s.as_str()),
        "{v:#}"
    );
    Some(s)
}

#[test]
fn fifty_parallel_creates_with_distinct_ids() {
    let Some(env) = TestEnv::new("conc_create50") else {
        return;
    };
    let wasm = env.bundle("spin");
    let native = env.native_bundle(&["/bin/busybox", "sleep", "1000"]);
    let ids: Vec<String> = (0..50).map(|i| env.id(&i.to_string())).collect();
    let pid_files: Vec<_> = (0..50)
        .map(|i| env.tmp().join(format!("{i}.pid")))
        .collect();
    let mut bgs: Vec<Bg> = (0..50)
        .map(|i| {
            let b = if i % 2 == 0 { &wasm } else { &native };
            create_bg(&env, b, &ids[i], &pid_files[i])
        })
        .collect();
    let outs = wait_all(&mut bgs);
    for (i, out) in outs.iter().enumerate() {
        assert!(out.success(), "create {} of 50 failed:\n{out}", ids[i]);
    }
    let mut pids: Vec<i32> = pid_files.iter().map(|p| read_pid_file(p)).collect();
    for (i, id) in ids.iter().enumerate() {
        let st = env.state(id);
        assert_eq!(st["status"], "created", "{id}: {st:#}");
        assert_eq!(st["pid"].as_i64(), Some(pids[i] as i64), "{id}: {st:#}");
        assert!(pid_alive(pids[i]), "{id}: init {} is not alive", pids[i]);
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 50, "inits share pids: {pids:?}");
    let list = env.run(&["list", "-q"]);
    list.assert_ok();
    assert_eq!(list.stdout.lines().count(), 50, "{list}");

    // And all started and deleted at once too.
    let mut starts: Vec<Bg> = ids
        .iter()
        .map(|id| env.rw(&["start", id]).spawn())
        .collect();
    for out in wait_all(&mut starts) {
        assert!(out.success(), "{out}");
    }
    let mut deletes: Vec<Bg> = ids
        .iter()
        .map(|id| env.rw(&["delete", "--force", id]).spawn())
        .collect();
    for out in wait_all(&mut deletes) {
        assert!(
            out.success() && out.stderr_lines().is_empty(),
            "parallel delete --force:\n{out}"
        );
    }
    env.assert_no_leftovers("50 parallel creates, starts and deletes");
}

#[test]
fn parallel_creates_of_one_id_one_wins() {
    let Some(env) = TestEnv::new("conc_sameid") else {
        return;
    };
    let b = env.bundle("spin");
    for round in 0..3 {
        let id = env.id(&format!("r{round}"));
        let pid_files: Vec<_> = (0..10)
            .map(|i| env.tmp().join(format!("r{round}-{i}.pid")))
            .collect();
        let mut bgs: Vec<Bg> = pid_files
            .iter()
            .map(|pf| create_bg(&env, &b, &id, pf))
            .collect();
        let outs = wait_all(&mut bgs);
        let winners: Vec<usize> = (0..10).filter(|&i| outs[i].success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of 10 creates of one id must succeed:\n{}",
            outs.iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        for (i, out) in outs.iter().enumerate() {
            if i != winners[0] {
                out.assert_failed_with(&["already exists"]);
                assert!(!pid_files[i].exists(), "a losing create wrote its pid file");
            }
        }
        let pid = read_pid_file(&pid_files[winners[0]]);
        let st = env.state(&id);
        assert_eq!(st["status"], "created", "{st:#}");
        assert_eq!(st["pid"].as_i64(), Some(pid as i64), "the winner's: {st:#}");
        let others: Vec<_> = env
            .processes_using_tmp()
            .into_iter()
            .filter(|(p, _)| *p != pid)
            .collect();
        assert!(others.is_empty(), "losers left processes: {others:#?}");
        env.start(&id);
        assert_eq!(env.status(&id).as_deref(), Some("running"));
        env.run(&["delete", "--force", id.as_str()]).assert_ok();
        env.assert_no_leftovers(&format!("round {round}"));
    }
}

/// 20 `delete --force` of one container at once: all exit 0 without a
/// word, the cleanup happens once, nothing is left.
#[test]
fn twenty_parallel_forced_deletes_of_one_container() {
    let Some(env) = TestEnv::new("conc_delete20") else {
        return;
    };
    let cases = [
        ("wasm-running", env.bundle("spin"), true),
        ("wasm-created", env.bundle("spin"), false),
        (
            "native-pidns-running",
            env.native_bundle(&["/bin/busybox", "sleep", "1000"])
                .namespaces(&["pid", "mount"]),
            true,
        ),
    ];
    for (tag, b, start) in cases {
        let id = env.id(tag);
        let c = env.create(&id, &b);
        if start {
            env.start(&id);
        }
        let pid = c.pid();
        let mut bgs: Vec<Bg> = (0..20)
            .map(|_| env.rw(&["delete", "--force", id.as_str()]).spawn())
            .collect();
        for out in wait_all(&mut bgs) {
            assert!(
                out.success()
                    && out.stderr_lines().is_empty()
                    && out.log_entries().iter().all(|e| e["level"] != "error"),
                "{tag}: one of 20 parallel delete --force:\n{out}"
            );
        }
        assert!(wait_pid_exit(pid, SEC), "{tag}: init {pid} survived");
        assert_eq!(state_or_gone(&env, &id), None, "{tag}");
        env.assert_no_leftovers(tag);
    }
}

/// `kill` and `start` of a created container at the same moment, many
/// times: both end, the state stays parseable, the container ends stopped
/// (the signal reached init before or after it started) and a plain
/// `delete` removes it.
#[test]
fn kill_racing_start() {
    let Some(env) = TestEnv::new("conc_killstart") else {
        return;
    };
    let wasm = env.bundle("spin");
    let native = env.native_bundle(&["/bin/busybox", "sleep", "1000"]);
    let mut started = 0;
    for i in 0..40 {
        let id = env.id(&i.to_string());
        let (b, sig) = match i % 4 {
            0 => (&wasm, "KILL"),
            1 => (&wasm, "TERM"),
            2 => (&native, "KILL"),
            _ => (&native, "TERM"),
        };
        env.create(&id, b);
        let (first, second) = (["start", id.as_str()], ["kill", id.as_str(), sig]);
        let mut bgs = if i % 2 == 0 {
            vec![env.rw(&first).spawn(), env.rw(&second).spawn()]
        } else {
            vec![env.rw(&second).spawn(), env.rw(&first).spawn()]
        };
        // A state look in the middle of it.
        state_or_gone(&env, &id);
        let outs = wait_all(&mut bgs);
        let start = outs.iter().find(|o| o.cmdline.contains(" start ")).unwrap();
        let kill = outs.iter().find(|o| o.cmdline.contains(" kill ")).unwrap();
        assert!(
            kill.success(),
            "kill of a created or running container:\n{kill}"
        );
        if start.success() {
            started += 1;
        } else {
            // Killed first: start says so, in one line.
            start.assert_failed_with_any(&[vec!["stopped", "exited", "not running"]]);
        }
        assert!(
            env.wait_status(&id, "stopped", 5 * SEC),
            "round {i}: the container did not end stopped: {:?}\n{start}\n{kill}",
            env.try_state(&id)
        );
        env.run(&["delete", id.as_str()]).assert_ok();
        env.assert_no_leftovers(&format!("kill racing start, round {i}"));
    }
    eprintln!("conc_killstart: start won {started} of 40 races");
}

/// `delete` of a container whose process is exiting on its own at that
/// moment: a plain delete either succeeds (it had stopped) or says it is
/// still running; a forced one always succeeds; state stays parseable;
/// nothing is left.
#[test]
fn delete_racing_the_containers_own_exit() {
    let Some(env) = TestEnv::new("conc_delexit") else {
        return;
    };
    let wasm = env.bundle("hello");
    // Exits 0 to 30 ms after it starts: about when `delete` looks.
    let natives: Vec<Bundle> = (0..4)
        .map(|k| {
            let secs = format!("0.{:03}", k * 10);
            env.native_bundle(&["/bin/busybox", "sleep", &secs])
        })
        .collect();
    let mut plain_ok = 0;
    for i in 0..40 {
        let id = env.id(&i.to_string());
        let b = if i % 2 == 0 {
            &wasm
        } else {
            &natives[(i / 2) % 4]
        };
        let force = i % 4 >= 2;
        env.create(&id, b);
        env.start(&id);
        let out = if force {
            env.run(&["delete", "--force", id.as_str()])
        } else {
            env.run(&["delete", id.as_str()])
        };
        assert!(out.status.signal().is_none(), "{out}");
        if out.success() {
            assert!(out.stderr_lines().is_empty(), "{out}");
            plain_ok += usize::from(!force);
        } else {
            assert!(!force, "delete --force failed:\n{out}");
            out.assert_failed_with(&["not stopped"]);
            state_or_gone(&env, &id);
            assert!(env.wait_status(&id, "stopped", 5 * SEC));
            env.run(&["delete", id.as_str()]).assert_ok();
        }
        assert_eq!(state_or_gone(&env, &id), None);
        env.assert_no_leftovers(&format!("delete racing exit, round {i}"));
    }
    eprintln!("conc_delexit: {plain_ok} of 20 plain deletes found the container stopped");
}
