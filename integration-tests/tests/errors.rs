//! Bad input: each must fail with a message naming the problem, a non-zero
//! exit code, exactly one error line in the JSON log, and leave no state
//! dir, process or fifo behind.

mod common;

use std::fs;
use std::time::Duration;

use common::*;

/// `create` of `b` as `id`, expected to fail; checks the common contract and
/// returns the output.
#[track_caller]
fn create_fails(env: &TestEnv, id: &str, b: &Bundle, needles: &[Vec<&str>]) -> Output {
    let c = env.try_create(id, b);
    c.out.assert_failed_with_any(needles);
    assert!(
        !c.pid_file.exists()
            || fs::read_to_string(&c.pid_file)
                .unwrap_or_default()
                .trim()
                .is_empty(),
        "a failed create wrote a pid file:\n{}",
        c.out
    );
    env.assert_nothing_left(id, &[]);
    assert!(
        env.try_state(id).is_none(),
        "state of a container whose create failed must fail"
    );
    c.out
}

#[test]
fn malformed_config_json() {
    let Some(env) = TestEnv::new("err_malformed") else {
        return;
    };
    let b = env
        .bundle("hello")
        .raw_config("{ \"ociVersion\": \"1.0.2\", \"process\": ");
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["config.json"], vec!["invalid JSON"]]);
}

#[test]
fn missing_config_json() {
    let Some(env) = TestEnv::new("err_no_config") else {
        return;
    };
    let b = env.bundle("hello");
    fs::remove_file(b.config_path()).unwrap();
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["config.json"]]);
}

#[test]
fn config_with_a_wrongly_typed_field() {
    let Some(env) = TestEnv::new("err_bad_type") else {
        return;
    };
    let b = env
        .bundle("hello")
        .edit(|c| c["process"]["args"] = "not-a-list".into());
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["config.json", "args"]]);
}

#[test]
fn missing_process() {
    let Some(env) = TestEnv::new("err_no_process") else {
        return;
    };
    let b = env.bundle("hello").edit(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["process"]]);
}

#[test]
fn empty_process_args() {
    let Some(env) = TestEnv::new("err_empty_args") else {
        return;
    };
    let b = env.bundle("hello").args(&[]);
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["args"]]);
}

#[test]
fn missing_root() {
    let Some(env) = TestEnv::new("err_no_root") else {
        return;
    };
    let b = env.bundle("hello").edit(|c| {
        c.as_object_mut().unwrap().remove("root");
    });
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["root"]]);
}

#[test]
fn missing_rootfs_directory() {
    let Some(env) = TestEnv::new("err_no_rootfs") else {
        return;
    };
    let b = env
        .bundle("hello")
        .edit(|c| c["root"]["path"] = "no-such-rootfs".into());
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["rootfs", "no-such-rootfs"]]);
}

#[test]
fn missing_module_file() {
    let Some(env) = TestEnv::new("err_no_module") else {
        return;
    };
    let b = env.bundle("hello").args(&["/nope.wasm"]);
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["nope.wasm"]]);
}

#[test]
fn corrupt_module_fails_at_create() {
    let Some(env) = TestEnv::new("err_corrupt") else {
        return;
    };
    let mut bytes = b"\0asm\x01\x00\x00\x00".to_vec();
    bytes.extend_from_slice(b"\x01\xffgarbage that is no section at all \xde\xad\xbe\xef");
    let b = env.bundle("hello").file("/app.wasm", &bytes);
    let id = env.id("c");
    create_fails(
        &env,
        &id,
        &b,
        &[vec!["app.wasm"], vec!["invalid wasm module"]],
    );
}

#[test]
fn truncated_module_fails_at_create() {
    let Some(env) = TestEnv::new("err_truncated") else {
        return;
    };
    let b = env.bundle("hello").file("/app.wasm", b"\0asm");
    let id = env.id("c");
    create_fails(
        &env,
        &id,
        &b,
        &[vec!["app.wasm"], vec!["invalid wasm module"]],
    );
}

#[test]
fn unknown_import_fails_at_create() {
    let Some(env) = TestEnv::new("err_unknown_import") else {
        return;
    };
    let b = env.bundle("unknown_import");
    let id = env.id("c");
    create_fails(&env, &id, &b, &[vec!["does_not_exist"]]);
}

#[test]
fn bad_container_ids() {
    let Some(env) = TestEnv::new("err_bad_ids") else {
        return;
    };
    let b = env.bundle("hello");
    let long = "a".repeat(1025);
    for bad in [
        "a/b",
        "..",
        ".",
        "",
        "../escape",
        "with space",
        long.as_str(),
    ] {
        let pid_file = env.tmp().join("bad.pid");
        let out = env.run(&[
            "create",
            "--bundle",
            path_str(&b.dir),
            "--pid-file",
            path_str(&pid_file),
            bad,
        ]);
        let shown = if bad.len() > 20 { "<1025 chars>" } else { bad };
        assert!(
            out.status.code().is_some_and(|c| c != 0),
            "create with id {shown:?} must fail:\n{out}"
        );
        out.assert_failed_with(&["invalid container id"]);
        assert!(
            !pid_file.exists(),
            "id {shown:?}: a pid file was written:\n{out}"
        );
        env.assert_root_has_no_containers();
        assert!(
            !env.tmp().join("escape").exists(),
            "id {shown:?} escaped the state root"
        );
        assert!(!env.root.join("a").exists(), "id {shown:?} made ROOT/a");
        env.assert_no_fifo_or_process(&[]);
    }
    // The same ids on the other commands.
    for cmd in ["state", "start", "kill", "delete"] {
        for bad in ["a/b", "..", "../escape"] {
            let out = env.run(&[cmd, bad]);
            assert!(
                out.status.code().is_some_and(|c| c != 0),
                "{cmd} {bad:?} must fail:\n{out}"
            );
            assert_eq!(out.stderr_lines().len(), 1, "{out}");
            out.assert_failed_with(&["invalid container id"]);
        }
    }
}

#[test]
fn duplicate_id() {
    let Some(env) = TestEnv::new("err_duplicate") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let first = env.create(&id, &b);
    let pid = first.pid();
    let b2 = env.bundle("hello");
    let pid_file2 = env.tmp().join("second.pid");
    let out = env.run(&[
        "create",
        "--bundle",
        path_str(&b2.dir),
        "--pid-file",
        path_str(&pid_file2),
        id.as_str(),
    ]);
    out.assert_failed_with(&["already exists"]);
    assert!(!pid_file2.exists(), "the failed create wrote a pid file");
    // The first container is untouched.
    assert!(
        pid_alive(pid),
        "a duplicate create hurt the first container"
    );
    let st = env.state(&id);
    assert_eq!(st["status"], "created", "{st:#}");
    assert_eq!(st["pid"].as_i64(), Some(pid as i64), "{st:#}");
    assert_eq!(
        st["bundle"].as_str(),
        Some(canonical(&b.dir).as_str()),
        "{st:#}"
    );
    // Only the first container's init is around.
    let others: Vec<_> = env
        .processes_using_tmp()
        .into_iter()
        .filter(|(p, _)| *p != pid)
        .collect();
    assert!(
        others.is_empty(),
        "the duplicate create left processes: {others:#?}"
    );
    // And it still starts.
    env.start(&id);
    assert!(wait_file_contains(
        &first.stdout,
        "spinning",
        Duration::from_secs(5)
    ));
}

#[test]
fn concurrent_creates_of_one_id() {
    let Some(env) = TestEnv::new("err_concurrent") else {
        return;
    };
    let b = env.bundle("spin");
    for round in 0..4 {
        let id = env.id(&format!("c{round}"));
        let pid_files: Vec<_> = (0..2)
            .map(|i| env.tmp().join(format!("r{round}-{i}.pid")))
            .collect();
        let mut bgs: Vec<Bg> = pid_files
            .iter()
            .map(|pf| {
                env.rw(&[
                    "create",
                    "--bundle",
                    path_str(&b.dir),
                    "--pid-file",
                    path_str(pf),
                    id.as_str(),
                ])
                .spawn()
            })
            .collect();
        let outs: Vec<Output> = bgs.iter_mut().map(|bg| bg.wait()).collect();
        let winners: Vec<usize> = (0..2).filter(|&i| outs[i].success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of two concurrent creates must succeed:\n{}\n{}",
            outs[0],
            outs[1]
        );
        let w = winners[0];
        let l = 1 - w;
        assert_eq!(
            outs[l].stderr_lines().len(),
            1,
            "the loser's stderr:\n{}",
            outs[l]
        );
        assert_eq!(
            outs[l].log_errors().len(),
            1,
            "the loser's log:\n{}",
            outs[l]
        );
        let pid = read_pid_file(&pid_files[w]);
        assert!(pid_alive(pid));
        let st = env.state(&id);
        assert_eq!(st["status"], "created", "{st:#}");
        assert_eq!(
            st["pid"].as_i64(),
            Some(pid as i64),
            "the state must be the winner's: {st:#}"
        );
        let others: Vec<_> = env
            .processes_using_tmp()
            .into_iter()
            .filter(|(p, _)| *p != pid)
            .collect();
        assert!(
            others.is_empty(),
            "round {round}: the losing create left processes: {others:#?}"
        );
        env.run(&["delete", "--force", id.as_str()]).assert_ok();
        assert!(wait_pid_exit(pid, Duration::from_secs(1)));
        env.assert_nothing_left(&id, &[]);
    }
}

#[test]
fn bundle_that_does_not_exist() {
    let Some(env) = TestEnv::new("err_no_bundle") else {
        return;
    };
    let id = env.id("c");
    let missing = env.tmp().join("no-such-bundle");
    let out = env.run(&["create", "--bundle", path_str(&missing), id.as_str()]);
    out.assert_failed_with_any(&[vec!["no-such-bundle", "config.json"]]);
    env.assert_nothing_left(&id, &[]);
}

#[test]
fn run_of_bad_input_leaves_nothing() {
    let Some(env) = TestEnv::new("err_run_bad") else {
        return;
    };
    let b = env.bundle("unknown_import");
    let id = env.id("c");
    let out = env.run(&["run", "--bundle", path_str(&b.dir), id.as_str()]);
    out.assert_failed_with(&["does_not_exist"]);
    env.assert_nothing_left(&id, &[]);
}
