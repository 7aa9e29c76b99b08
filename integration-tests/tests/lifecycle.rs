//! create → start → state → delete, list and run --detach, the way
//! containerd's shim and podman drive them.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
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
        // Every line (if any) must be {"level","msg","time"}; none an error.
        let entries = out.log_entries();
        assert!(
            entries.iter().all(|e| e["level"] != "error"),
            "a successful command logged an error:\n{out}"
        );
    }
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

#[test]
fn foreign_entries_in_the_root_are_tolerated() {
    let Some(env) = TestEnv::new("lc_foreign") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    env.create(&id, &b);
    // Docker passes the same --root to every runtime: runc's own entries
    // (a state.json of another shape) and stray files sit beside ours.
    let runc_dir = env.root.join("runc-container");
    fs::create_dir(&runc_dir).unwrap();
    fs::write(
        runc_dir.join("state.json"),
        r#"{"id":"runc-container","init_process_pid":1,"init_process_start":1,"created":"2024-01-01T00:00:00Z","config":{"rootfs":"/x"}}"#,
    )
    .unwrap();
    fs::write(env.root.join("stray-file"), "x").unwrap();

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
    // And a new container still works beside them.
    let id2 = env.id("c2");
    env.create(&id2, &env.bundle("hello"));
    assert_eq!(env.status(&id2).as_deref(), Some("created"));
    env.run(&["delete", "--force", id.as_str()]).assert_ok();
    env.run(&["delete", "--force", id2.as_str()]).assert_ok();
    assert!(
        runc_dir.join("state.json").is_file(),
        "runwasm touched runc's entry"
    );
}
