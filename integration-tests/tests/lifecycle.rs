//! create → start → state → delete, list and run --detach, the way
//! containerd's shim and podman drive them.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::*;
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);

#[test]
fn create_start_hello_goes_created_then_stopped() {
    let Some(env) = TestEnv::new("lc_hello") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let c = env.create(&id, &b);
    assert_eq!(c.out.stdout, "", "create printed on stdout:\n{}", c.out);

    // The pid file holds a live process that outlived runwasm.
    let pid = c.pid();
    assert!(pid > 0, "bad pid {pid} in the pid file");
    assert!(
        pid_alive(pid),
        "init {pid} from the pid file is not alive after create returned"
    );

    // Nothing ran yet.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.stdout(), "", "the module ran before start");

    let st = env.state(&id);
    assert_eq!(st["status"], "created", "state after create: {st:#}");
    assert_eq!(st["id"], id.as_str(), "state: {st:#}");
    assert_eq!(
        st["pid"].as_i64(),
        Some(pid as i64),
        "state.pid must equal the pid file: {st:#}"
    );
    assert!(
        st["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "state.ociVersion: {st:#}"
    );
    assert_eq!(
        st["bundle"].as_str(),
        Some(canonical(&b.dir).as_str()),
        "state.bundle: {st:#}"
    );
    assert_eq!(
        st["rootfs"].as_str(),
        Some(canonical(&b.rootfs).as_str()),
        "state.rootfs: {st:#}"
    );
    let created = st["created"].as_str().unwrap_or("");
    assert!(is_rfc3339(created), "state.created is not RFC 3339: {st:#}");
    assert!(st["owner"].is_string(), "state.owner missing: {st:#}");

    let start = env.start(&id);
    assert!(
        wait_pid_exit(pid, 5 * SEC),
        "init {pid} still alive 5 s after start of hello:\n{start}"
    );
    assert!(
        wait_file_contains(&c.stdout, "Hello from Wasm!", 2 * SEC),
        "no greeting in the container's stdout: {:?}",
        c.stdout()
    );
    assert_eq!(c.stdout(), "Hello from Wasm!\n", "container stdout");
    assert_eq!(
        c.stderr(),
        "",
        "container stderr (shared with create's) must stay empty"
    );

    assert!(
        env.wait_status(&id, "stopped", 2 * SEC),
        "status after the module exited: {:?}",
        env.try_state(&id)
    );
    let st = env.state(&id);
    assert_eq!(
        st["pid"].as_i64(),
        Some(0),
        "a stopped container reports pid 0: {st:#}"
    );
    assert_eq!(st["id"], id.as_str());

    let del = env.run(&["delete", id.as_str()]);
    del.assert_ok();
    assert!(
        !env.state_dir(&id).exists(),
        "delete left {}",
        env.state_dir(&id).display()
    );
    assert!(
        env.try_state(&id).is_none(),
        "state still works after delete"
    );
}

#[test]
fn create_start_spin_is_running_until_killed() {
    let Some(env) = TestEnv::new("lc_spin") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    assert_eq!(env.status(&id).as_deref(), Some("created"));

    env.start(&id);
    assert!(
        wait_file_contains(&c.stdout, "spinning", 5 * SEC),
        "spin printed nothing after start: stdout {:?} stderr {:?}",
        c.stdout(),
        c.stderr()
    );
    let st = env.state(&id);
    assert_eq!(st["status"], "running", "state after start: {st:#}");
    assert_eq!(st["pid"].as_i64(), Some(pid as i64), "state: {st:#}");
    assert!(pid_alive(pid));

    env.run(&["kill", id.as_str(), "KILL"]).assert_ok();
    assert!(
        wait_pid_exit(pid, 2 * SEC),
        "SIGKILL did not end init {pid}"
    );
    assert!(
        env.wait_status(&id, "stopped", 2 * SEC),
        "status after SIGKILL: {:?}",
        env.try_state(&id)
    );
    env.run(&["delete", id.as_str()]).assert_ok();
    assert!(!env.state_dir(&id).exists());
}

#[test]
fn create_accepts_options_after_the_id() {
    let Some(env) = TestEnv::new("lc_opts_after") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let pid_file = env.tmp().join("after.pid");
    let out = env.run(&[
        "create",
        id.as_str(),
        "--bundle",
        path_str(&b.dir),
        "--pid-file",
        path_str(&pid_file),
    ]);
    out.assert_ok();
    let pid = read_pid_file(&pid_file);
    assert!(pid_alive(pid), "init {pid} not alive");
    let st = env.state(&id);
    assert_eq!(st["status"], "created", "{st:#}");
    assert_eq!(
        st["bundle"].as_str(),
        Some(canonical(&b.dir).as_str()),
        "{st:#}"
    );
}

#[test]
fn pid_file_relative_to_cwd_and_bundle_made_absolute() {
    let Some(env) = TestEnv::new("lc_relative") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let bundle_name = b.dir.file_name().unwrap().to_str().unwrap().to_string();
    let out = env
        .rw(&[
            "create",
            "--bundle",
            bundle_name.as_str(),
            "--pid-file",
            "rel.pid",
            id.as_str(),
        ])
        .cwd(env.tmp())
        .run();
    out.assert_ok();
    let pid_file = env.tmp().join("rel.pid");
    assert!(
        pid_file.is_file(),
        "a relative --pid-file must be relative to runwasm's cwd ({}):\n{out}",
        env.tmp().display()
    );
    let pid = read_pid_file(&pid_file);
    let st = env.state(&id);
    assert_eq!(st["pid"].as_i64(), Some(pid as i64), "{st:#}");
    assert_eq!(
        st["bundle"].as_str(),
        Some(canonical(&b.dir).as_str()),
        "a relative --bundle must be recorded as an absolute path: {st:#}"
    );
}

#[test]
fn state_reports_annotations() {
    let Some(env) = TestEnv::new("lc_annotations") else {
        return;
    };
    let b = env
        .bundle("hello")
        .annotation("org.example.test", "yes")
        .annotation("io.kubernetes.cri.container-type", "container");
    let id = env.id("c");
    env.create(&id, &b);
    let st = env.state(&id);
    assert_eq!(st["annotations"]["org.example.test"], "yes", "{st:#}");
    assert_eq!(
        st["annotations"]["io.kubernetes.cri.container-type"], "container",
        "{st:#}"
    );
}

#[test]
fn state_root_is_created_private() {
    let Some(env) = TestEnv::new("lc_root_mode") else {
        return;
    };
    assert!(!env.root.exists());
    let b = env.bundle("hello");
    let id = env.id("c");
    env.create(&id, &b);
    let mode = fs::metadata(&env.root).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o700,
        "the state root must be created 0700, is {mode:o}"
    );
    assert!(
        env.state_dir(&id).join("state.json").is_file(),
        "no ROOT/ID/state.json after create"
    );
}

#[test]
fn state_start_of_unknown_container_fail() {
    let Some(env) = TestEnv::new("lc_unknown") else {
        return;
    };
    let id = env.id("nope");
    env.run(&["state", id.as_str()])
        .assert_failed_with(&["does not exist"]);
    env.run(&["start", id.as_str()])
        .assert_failed_with(&["does not exist"]);
    assert!(!env.state_dir(&id).exists());
}

#[test]
fn start_of_a_running_container_fails() {
    let Some(env) = TestEnv::new("lc_start_twice") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let c = env.create(&id, &b);
    env.start(&id);
    assert!(wait_file_contains(&c.stdout, "spinning", 5 * SEC));
    let out = env.run(&["start", id.as_str()]);
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "a second start must fail:\n{out}"
    );
    assert_eq!(out.stderr_lines().len(), 1, "one line on stderr:\n{out}");
    assert_eq!(
        env.status(&id).as_deref(),
        Some("running"),
        "the container must keep running"
    );
}

#[test]
fn start_of_a_stopped_container_fails() {
    let Some(env) = TestEnv::new("lc_start_stopped") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.start(&id);
    assert!(wait_pid_exit(pid, 5 * SEC));
    let out = env.run(&["start", id.as_str()]);
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "start of a stopped container must fail:\n{out}"
    );
    assert_eq!(
        c.stdout(),
        "Hello from Wasm!\n",
        "the module must not run twice"
    );
}

#[test]
fn delete_of_a_stopped_container() {
    let Some(env) = TestEnv::new("lc_delete_stopped") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.start(&id);
    assert!(wait_pid_exit(pid, 5 * SEC));
    assert!(env.wait_status(&id, "stopped", 2 * SEC));
    let out = env.run(&["delete", id.as_str()]);
    out.assert_ok();
    assert!(!env.state_dir(&id).exists(), "delete left ROOT/ID:\n{out}");
    // containerd always follows with `delete --force`: must succeed too.
    env.run(&["delete", "--force", id.as_str()]).assert_ok();
    env.assert_root_has_no_containers();
}

#[test]
fn delete_of_an_unknown_container() {
    let Some(env) = TestEnv::new("lc_delete_unknown") else {
        return;
    };
    let id = env.id("nope");
    env.run(&["delete", id.as_str()])
        .assert_failed_with(&["does not exist"]);
    let out = env.run(&["delete", "--force", id.as_str()]);
    assert!(
        out.success(),
        "delete --force of an unknown id must succeed:\n{out}"
    );
    let out = env.run(&["delete", "-f", id.as_str()]);
    assert!(
        out.success(),
        "delete -f of an unknown id must succeed:\n{out}"
    );
}

#[test]
fn delete_of_a_running_container_needs_force() {
    let Some(env) = TestEnv::new("lc_delete_running") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.start(&id);
    assert!(wait_file_contains(&c.stdout, "spinning", 5 * SEC));

    let out = env.run(&["delete", id.as_str()]);
    out.assert_failed_with_any(&[vec!["running", "not stopped"]]);
    assert!(
        pid_alive(pid),
        "delete without --force killed the container"
    );
    assert_eq!(env.status(&id).as_deref(), Some("running"));

    let out = env.run(&["delete", "--force", id.as_str()]);
    out.assert_ok();
    assert!(
        wait_pid_exit(pid, SEC),
        "delete --force left init {pid} running:\n{out}"
    );
    assert!(
        !env.state_dir(&id).exists(),
        "delete --force left ROOT/ID:\n{out}"
    );
    env.assert_nothing_left(&id, &[]);
}

#[test]
fn delete_of_a_created_container_kills_init() {
    let Some(env) = TestEnv::new("lc_delete_created") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    let out = env.run(&["delete", id.as_str()]);
    out.assert_ok();
    assert!(
        wait_pid_exit(pid, SEC),
        "delete of a created container left init {pid}:\n{out}"
    );
    assert!(!env.state_dir(&id).exists());
    assert_eq!(c.stdout(), "", "the module must never have run");
    env.assert_nothing_left(&id, &[]);
}

#[test]
fn list_shows_containers_as_table_json_and_ids() {
    let Some(env) = TestEnv::new("lc_list") else {
        return;
    };
    let b1 = env.bundle("hello");
    let b2 = env.bundle("spin");
    let id1 = env.id("created");
    let id2 = env.id("running");
    let c1 = env.create(&id1, &b1);
    let c2 = env.create(&id2, &b2);
    env.start(&id2);
    assert!(wait_file_contains(&c2.stdout, "spinning", 5 * SEC));

    let out = env.run(&["list"]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    assert_eq!(
        lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "list header:\n{out}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "two containers expected:\n{out}");
    for (id, pid, status, bundle) in [
        (&id1, c1.pid(), "created", &b1.dir),
        (&id2, c2.pid(), "running", &b2.dir),
    ] {
        let row = rows
            .iter()
            .find(|r| r.first() == Some(&id.as_str()))
            .unwrap_or_else(|| panic!("{id} not listed:\n{out}"));
        assert_eq!(
            row.get(1),
            Some(&pid.to_string().as_str()),
            "pid of {id}:\n{out}"
        );
        assert_eq!(row.get(2), Some(&status), "status of {id}:\n{out}");
        assert_eq!(
            row.get(3),
            Some(&canonical(bundle).as_str()),
            "bundle of {id}:\n{out}"
        );
        assert!(
            row.get(4).is_some_and(|t| is_rfc3339(t)),
            "created of {id}:\n{out}"
        );
        assert!(row.len() >= 6, "owner of {id} missing:\n{out}");
    }

    let out = env.run(&["list", "--format", "json"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list --format json printed invalid JSON ({e}):\n{out}"));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array:\n{out}"));
    assert_eq!(arr.len(), 2, "{out}");
    for (id, pid, status) in [(&id1, c1.pid(), "created"), (&id2, c2.pid(), "running")] {
        let o = arr
            .iter()
            .find(|o| o["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing from the JSON list:\n{out}"));
        assert_eq!(o["status"], status, "{o:#}");
        assert_eq!(o["pid"].as_i64(), Some(pid as i64), "{o:#}");
        assert!(o["bundle"].is_string(), "{o:#}");
        assert!(o["created"].as_str().is_some_and(is_rfc3339), "{o:#}");
    }

    let out = env.run(&["list", "-q"]);
    out.assert_ok();
    let ids: BTreeSet<&str> = out.stdout.lines().collect();
    assert_eq!(
        ids,
        BTreeSet::from([id1.as_str(), id2.as_str()]),
        "list -q:\n{out}"
    );
}

#[test]
fn run_detach_returns_while_the_container_runs() {
    let Some(env) = TestEnv::new("lc_run_detach") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let pid_file = env.tmp().join("detach.pid");
    let rw = env.rw(&[
        "run",
        "--detach",
        "--pid-file",
        path_str(&pid_file),
        "--bundle",
        path_str(&b.dir),
        id.as_str(),
    ]);
    let stdout = rw.stdout.clone();
    let out = rw.timeout(Duration::from_secs(5)).run();
    out.assert_ok();
    let pid = read_pid_file(&pid_file);
    assert!(pid_alive(pid), "run --detach: init {pid} not alive:\n{out}");
    assert!(
        wait_file_contains(&stdout, "spinning", 5 * SEC),
        "run --detach: the module did not start:\n{out}"
    );
    assert_eq!(env.status(&id).as_deref(), Some("running"));

    env.run(&["delete", "--force", id.as_str()]).assert_ok();
    assert!(wait_pid_exit(pid, SEC));
    assert!(!env.state_dir(&id).exists());
}

#[test]
fn successful_commands_log_json_lines() {
    let Some(env) = TestEnv::new("lc_log_ok") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let pid_file = env.tmp().join("c.pid");
    let mut total = 0;
    for args in [
        vec![
            "--debug",
            "create",
            "--bundle",
            path_str(&b.dir),
            "--pid-file",
            path_str(&pid_file),
            id.as_str(),
        ],
        vec!["--debug", "state", id.as_str()],
        vec!["--debug", "start", id.as_str()],
    ] {
        let out = env.run(&args);
        out.assert_ok();
        // Every line must be {"level","msg","time"}; none an error.
        let entries = out.log_entries();
        assert!(
            entries.iter().all(|e| e["level"] != "error"),
            "a successful command logged an error:\n{out}"
        );
        if args[1] == "create" {
            // runc logs its set-up steps with --debug; so must we, or a
            // broken log file would go unnoticed.
            assert!(
                !entries.is_empty(),
                "`--debug create` wrote no log line at all:\n{out}"
            );
            assert!(
                entries.iter().any(|e| e["level"] == "debug"),
                "`--debug create` logged no debug line:\n{out}"
            );
        }
        total += entries.len();
    }
    assert!(total > 0, "no log line from any --debug command");
    let pid = read_pid_file(&pid_file);
    assert!(wait_pid_exit(pid, 5 * SEC));
}

#[test]
fn state_follows_an_init_killed_outside_runwasm() {
    let Some(env) = TestEnv::new("lc_external_kill") else {
        return;
    };
    let b = env.bundle("spin");
    let id = env.id("c");
    let c = env.create(&id, &b);
    let pid = c.pid();
    env.start(&id);
    assert!(wait_file_contains(&c.stdout, "spinning", 5 * SEC));
    send_signal(pid, libc::SIGKILL);
    assert!(wait_pid_exit(pid, 2 * SEC));
    assert!(
        env.wait_status(&id, "stopped", 2 * SEC),
        "state must follow the process, not what runwasm last wrote: {:?}",
        env.try_state(&id)
    );
    env.run(&["kill", id.as_str()])
        .assert_failed_with(&["not running"]);
    env.run(&["delete", id.as_str()]).assert_ok();
    assert!(!env.state_dir(&id).exists());
}

#[test]
fn delete_force_cleans_a_half_created_container() {
    let Some(env) = TestEnv::new("lc_half_created") else {
        return;
    };
    // Let runwasm make the root, then fake what a crash mid-create leaves:
    // create renames a directory holding its `.lock` into place, so a
    // crashed create leaves at least that.
    let b = env.bundle("hello");
    let ok = env.id("ok");
    env.create(&ok, &b);
    let empty = env.id("empty-dir");
    fs::create_dir(env.state_dir(&empty)).unwrap();
    fs::write(env.state_dir(&empty).join(".lock"), "").unwrap();
    let garbage = env.id("garbage-state");
    fs::create_dir(env.state_dir(&garbage)).unwrap();
    fs::write(env.state_dir(&garbage).join(".lock"), "").unwrap();
    fs::write(env.state_dir(&garbage).join("state.json"), "{ truncated").unwrap();

    // list must survive them and still show the real container.
    let out = env.run(&["list", "-q"]);
    out.assert_ok();
    assert!(
        out.stdout.lines().any(|l| l == ok),
        "list -q lost {ok}:\n{out}"
    );

    for id in [&empty, &garbage] {
        let out = env.run(&["delete", "--force", id.as_str()]);
        assert!(
            out.success(),
            "delete --force of a half-created {id} must succeed:\n{out}"
        );
        assert!(
            !env.state_dir(id).exists(),
            "delete --force left {id}:\n{out}"
        );
    }
    assert_eq!(
        env.status(&ok).as_deref(),
        Some("created"),
        "the real container was hurt"
    );
}

/// The names and contents of the files in `dir`.
fn dir_snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn foreign_entries_in_the_root_are_tolerated() {
    let Some(env) = TestEnv::new("lc_foreign") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    env.create(&id, &b);
    // Docker passes the same --root to every runtime: runc's own entries
    // (a state.json of another shape) and stray files sit beside ours. The
    // runc container's init is played by a live `sleep`, which runwasm must
    // never signal.
    let mut runc_init = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let runc_pid = runc_init.id() as i32;
    struct KillOnDrop<'a>(&'a mut std::process::Child);
    impl Drop for KillOnDrop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = KillOnDrop(&mut runc_init);
    let runc_dir = env.root.join("runc-container");
    env.expect_in_root("runc-container");
    env.expect_in_root("stray-file");
    fs::create_dir(&runc_dir).unwrap();
    fs::write(
        runc_dir.join("state.json"),
        format!(
            r#"{{"id":"runc-container","init_process_pid":{runc_pid},"init_process_start":1,"created":"2024-01-01T00:00:00Z","config":{{"rootfs":"/x"}}}}"#
        ),
    )
    .unwrap();
    fs::write(env.root.join("stray-file"), "x").unwrap();
    let before = dir_snapshot(&runc_dir);

    let out = env.run(&["list"]);
    out.assert_ok();
    assert!(
        out.stdout.lines().any(|l| l.starts_with(&id)),
        "{id} not listed:\n{out}"
    );
    let out = env.run(&["list", "--format", "json"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list --format json printed invalid JSON ({e}):\n{out}"));
    assert!(
        v.as_array()
            .is_some_and(|a| a.iter().any(|o| o["id"] == id.as_str())),
        "{out}"
    );
    assert_eq!(
        dir_snapshot(&runc_dir),
        before,
        "list changed runc's directory (made a .lock?)"
    );

    // Commands naming runc's container leave its directory exactly as it
    // was (no .lock made in it) and never signal its init.
    for args in [
        vec!["state", "runc-container"],
        vec!["kill", "runc-container", "0"],
        vec!["kill", "runc-container", "KILL"],
        vec!["kill", "--all", "runc-container", "9"],
        vec!["list", "-q"],
    ] {
        let out = env.run(&args);
        assert_eq!(
            dir_snapshot(&runc_dir),
            before,
            "`{}` changed runc's directory:\n{out}",
            args.join(" ")
        );
        assert!(
            pid_alive(runc_pid),
            "`{}` signalled runc's container init:\n{out}",
            args.join(" ")
        );
    }

    // delete refuses runc's container, even with --force.
    for args in [
        vec!["delete", "--force", "runc-container"],
        vec!["delete", "runc-container"],
    ] {
        let out = env.run(&args);
        out.assert_failed_with(&["not a runwasm container"]);
        assert!(
            runc_dir.join("state.json").is_file(),
            "`{}` removed runc's entry:\n{out}",
            args.join(" ")
        );
        assert_eq!(
            dir_snapshot(&runc_dir),
            before,
            "`{}` changed runc's directory:\n{out}",
            args.join(" ")
        );
        assert!(
            pid_alive(runc_pid),
            "`{}` signalled runc's init",
            args.join(" ")
        );
    }

    // And a new container still works beside them.
    let id2 = env.id("c2");
    env.create(&id2, &env.bundle("hello"));
    assert_eq!(env.status(&id2).as_deref(), Some("created"));
    env.run(&["delete", "--force", id.as_str()]).assert_ok();
    env.run(&["delete", "--force", id2.as_str()]).assert_ok();
    assert_eq!(
        dir_snapshot(&runc_dir),
        before,
        "runwasm touched runc's entry"
    );
    assert!(env.root.join("stray-file").is_file());
}

/// runc omits `annotations` from `state` when the config has none (Go's
/// omitempty); so must we.
#[test]
fn state_without_annotations_has_no_annotations_key() {
    let Some(env) = TestEnv::new("lc_no_annotations") else {
        return;
    };
    let cases = [
        ("absent", env.bundle("hello")),
        (
            "empty",
            env.bundle("hello")
                .edit(|c| c["annotations"] = serde_json::json!({})),
        ),
    ];
    for (tag, b) in cases {
        let id = env.id(tag);
        env.create(&id, &b);
        let st = env.state(&id);
        assert!(
            st.as_object()
                .is_some_and(|o| !o.contains_key("annotations")),
            "config with {tag} annotations: `state` must have no `annotations` key: {st:#}"
        );
        for k in ["ociVersion", "id", "status", "pid", "bundle"] {
            assert!(st.get(k).is_some(), "state lacks {k}: {st:#}");
        }
    }
}

// ---------------------------------------------------------------------------
// --pidfd-socket
// ---------------------------------------------------------------------------

/// Receives one fd (SCM_RIGHTS) and the payload from `stream`.
fn recv_fd(stream: &std::os::unix::net::UnixStream) -> (std::os::fd::OwnedFd, Vec<u8>) {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut buf = [0u8; 256];
    // u64s for cmsghdr alignment; room for a few fds.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives
    // the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: recvmsg into the buffers described by `msg`.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(
        n >= 0,
        "recvmsg on the pidfd socket: {}",
        std::io::Error::last_os_error()
    );
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel wrote into `control`
    // with the CMSG_* accessors.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<i32>();
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    fds.push(std::ptr::read_unaligned(data.add(i)));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    assert_eq!(
        fds.len(),
        1,
        "expected exactly one fd over the pidfd socket, got {fds:?} (payload {:?}, flags {:#x})",
        String::from_utf8_lossy(&buf[..n as usize]),
        msg.msg_flags
    );
    // SAFETY: the kernel just installed this fd in our table; we own it.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) };
    (fd, buf[..n as usize].to_vec())
}

fn pidfd_send_signal(fd: &std::os::fd::OwnedFd, sig: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal with a NULL siginfo and no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[test]
fn pidfd_socket_receives_a_pidfd_of_init() {
    use std::os::fd::AsRawFd;
    let Some(env) = TestEnv::new("lc_pidfd_socket") else {
        return;
    };
    let sock = env.tmp().join("pidfd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let b = env.bundle("spin");
    let id = env.id("c");
    let pid_file = env.tmp().join("c.pid");
    let rw = env.rw(&[
        "create",
        "--bundle",
        path_str(&b.dir),
        "--pid-file",
        path_str(&pid_file),
        "--pidfd-socket",
        path_str(&sock),
        id.as_str(),
    ]);
    let stdout = rw.stdout.clone();
    let out = rw.run();
    out.assert_ok();
    let pid = read_pid_file(&pid_file);

    let mut conn = None;
    wait_until(2 * SEC, || match listener.accept() {
        Ok((s, _)) => {
            conn = Some(s);
            true
        }
        Err(_) => false,
    });
    let conn =
        conn.unwrap_or_else(|| panic!("create never connected to {}:\n{out}", sock.display()));
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(2 * SEC)).unwrap();
    let (fd, payload) = recv_fd(&conn);
    let n = fd.as_raw_fd();

    let link = fs::read_link(format!("/proc/self/fd/{n}")).unwrap();
    assert_eq!(
        link.to_string_lossy(),
        "anon_inode:[pidfd]",
        "the fd received is not a pidfd (payload {:?})",
        String::from_utf8_lossy(&payload)
    );
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{n}")).unwrap();
    assert!(
        info.lines().any(|l| l == format!("Pid:\t{pid}")),
        "the pidfd must refer to init {pid} (the pid file's): fdinfo {info:?}"
    );
    pidfd_send_signal(&fd, 0).expect("signal 0 through the pidfd");
    assert!(pid_alive(pid));
    assert_eq!(env.status(&id).as_deref(), Some("created"));

    // It works as a pidfd of the running container.
    env.start(&id);
    assert!(wait_file_contains(&stdout, "spinning", 5 * SEC));
    pidfd_send_signal(&fd, libc::SIGKILL).expect("SIGKILL through the pidfd");
    let mut pfd = libc::pollfd {
        fd: n,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, 2000) };
    assert_eq!(r, 1, "the pidfd did not become readable when init exited");
    assert!(wait_pid_exit(pid, SEC));
    assert!(
        env.wait_status(&id, "stopped", 2 * SEC),
        "{:?}",
        env.try_state(&id)
    );
}

#[test]
fn pidfd_socket_that_does_not_exist_fails_create() {
    let Some(env) = TestEnv::new("lc_pidfd_nosock") else {
        return;
    };
    let sock = env.tmp().join("no-such.sock");
    let b = env.bundle("spin");
    let id = env.id("c");
    let pid_file = env.tmp().join("c.pid");
    let out = env.run(&[
        "create",
        "--bundle",
        path_str(&b.dir),
        "--pid-file",
        path_str(&pid_file),
        "--pidfd-socket",
        path_str(&sock),
        id.as_str(),
    ]);
    out.assert_failed_with(&["no-such.sock"]);
    assert!(
        !pid_file.exists(),
        "a failed create wrote a pid file:\n{out}"
    );
    env.assert_nothing_left(&id, &[]);
}

// ---------------------------------------------------------------------------
// A create killed half-way
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// A fixed delay after spawning `create`.
    After(Duration),
    /// As soon as `ROOT/ID/state.json` records init's pid while the status
    /// is still `creating` (init forked, not ready yet).
    StateHasPid,
    /// As soon as the pid file exists (init ready, state not yet `created`).
    PidFile,
}

/// Spawns `create`, SIGKILLs it at `when`, then checks the aftermath:
/// `state` works (or says the container does not exist), `delete --force`
/// succeeds, and nothing is left (state dir, runwasm processes of the
/// bundle). Returns whether the kill happened before create finished.
fn crash_create(env: &TestEnv, id: &str, b: &Bundle, when: KillAt) -> bool {
    env.track(id);
    let pid_file = env.tmp().join(format!("{id}.pid"));
    let state_file = env.state_dir(id).join("state.json");
    let mut bg = env
        .rw(&[
            "create",
            "--bundle",
            path_str(&b.dir),
            "--pid-file",
            path_str(&pid_file),
            id,
        ])
        .spawn();
    let reached = match when {
        KillAt::After(d) => {
            std::thread::sleep(d);
            true
        }
        KillAt::StateHasPid => {
            let deadline = std::time::Instant::now() + 5 * SEC;
            loop {
                let hit = fs::read(&state_file)
                    .ok()
                    .and_then(|t| serde_json::from_slice::<Value>(&t).ok())
                    .is_some_and(|v| {
                        v["pid"].as_i64().unwrap_or(0) > 0 && v["status"] == "creating"
                    });
                if hit || bg.exited() || std::time::Instant::now() > deadline {
                    break hit;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        KillAt::PidFile => {
            let deadline = std::time::Instant::now() + 5 * SEC;
            loop {
                let hit = pid_file.exists();
                if hit || bg.exited() || std::time::Instant::now() > deadline {
                    break hit;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    };
    send_signal(bg.pid(), libc::SIGKILL);
    let out = bg.wait();
    let killed = out.status.signal() == Some(libc::SIGKILL);
    let what = format!("create killed at {when:?} (reached: {reached}, killed: {killed})");

    let st = env.run(&["state", id]);
    if st.success() {
        let v: Value = serde_json::from_str(&st.stdout)
            .unwrap_or_else(|e| panic!("{what}: state printed invalid JSON ({e}):\n{st}"));
        assert!(
            ["creating", "created", "stopped"].contains(&v["status"].as_str().unwrap_or("")),
            "{what}: state of a half-created container: {v:#}"
        );
    } else {
        assert_eq!(st.stderr_lines().len(), 1, "{what}:\n{st}");
        let msg = st.stderr.to_lowercase();
        assert!(
            msg.contains("does not exist")
                && !["parse", "json", "eof", "expected"]
                    .iter()
                    .any(|w| msg.contains(w)),
            "{what}: `state` of a half-created container must work or say it does not \
             exist, not fail on a half-written file:\n{st}"
        );
    }

    let del = env.run(&["delete", "--force", id]);
    assert!(
        del.success(),
        "{what}: delete --force must clean up a crashed create:\n{del}"
    );
    assert!(
        !env.state_dir(id).exists(),
        "{what}: delete --force left ROOT/ID:\n{del}"
    );
    let bundle = path_str(&b.dir).to_string();
    let mut left = Vec::new();
    let gone = wait_until(SEC, || {
        left = runwasm_processes_mentioning(&env.bin, &bundle);
        left.is_empty()
    });
    assert!(
        gone,
        "{what}: runwasm processes of the bundle outlived delete --force: {left:#?}"
    );
    env.assert_no_fifo_or_process(&[]);
    let dirs = env.dirs_in_root();
    assert!(
        dirs.is_empty(),
        "{what}: the crashed create left directories in the state root that nothing \
         will ever remove (delete --force ID did not): {dirs:?}"
    );
    let list = env.run(&["list", "-q"]);
    list.assert_ok();
    assert_eq!(
        list.stdout.trim(),
        "",
        "{what}: list after cleanup:\n{list}"
    );
    env.assert_no_leftovers(&what);
    killed
}

#[test]
fn a_create_killed_at_any_moment_can_be_cleaned_up() {
    let Some(env) = TestEnv::new("lc_crash") else {
        return;
    };
    let plain = env.bundle("hello");
    let pidns = env.bundle("hello").namespaces(&["pid"]);
    let mut n = 0;
    let mut killed = 0;
    let mut attempt = |b: &Bundle, when: KillAt| {
        n += 1;
        if crash_create(&env, &format!("lc_crash-{n}"), b, when) {
            killed += 1;
        }
    };
    for ms in [0u64, 1, 2, 5, 10, 15, 20, 30] {
        attempt(&plain, KillAt::After(Duration::from_millis(ms)));
        attempt(&pidns, KillAt::After(Duration::from_millis(ms)));
    }
    // Finer steps where a fresh `create` makes its directory and forks.
    for us in (1000u64..=6000).step_by(250) {
        attempt(&plain, KillAt::After(Duration::from_micros(us)));
    }
    for _ in 0..3 {
        attempt(&plain, KillAt::StateHasPid);
        attempt(&pidns, KillAt::StateHasPid);
        attempt(&plain, KillAt::PidFile);
        attempt(&pidns, KillAt::PidFile);
    }
    eprintln!("lc_crash: {killed} of {n} creates killed before they finished");
    assert!(
        killed >= n / 2,
        "only {killed} of {n} creates were killed mid-way: the test did not test much"
    );
}
