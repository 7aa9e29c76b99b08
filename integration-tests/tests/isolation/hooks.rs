//! Item 6: hooks, recorded by scripts.

use super::*;

use std::time::{Duration, Instant};

/// `rec PHASE DIR ARGS…` records its stdin, its arguments (one per line)
/// and its environment in `DIR/PHASE.{stdin,argv,env}`, and appends PHASE to
/// `DIR/order`. startContainer takes its time first, so that a runtime that
/// does not wait for it before running the program (and poststart after
/// it) is caught every time.
const RECORDER: &str = "#!/bin/sh\n\
    if [ \"$1\" = startContainer ]; then sleep 0.3; fi\n\
    d=\"$2\"\n\
    cat > \"$d/$1.stdin\"\n\
    for a in \"$@\"; do echo \"$a\"; done > \"$d/$1.argv\"\n\
    env > \"$d/$1.env\"\n\
    echo \"$1\" >> \"$d/order\"\n";

/// Writes an executable script.
fn script(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A hook entry running `path` as `rec PHASE DIR extra-arg`.
fn hook(path: &str, phase: &str, dir: &str, env_path: &str) -> Value {
    json!({
        "path": path,
        "args": ["rec", phase, dir, "extra arg"],
        "env": [env_path, format!("HOOK_VAR={phase}")],
    })
}

#[test]
fn all_six_hook_phases_run_in_order_with_the_state() {
    let Some(env) = TestEnv::new("iso_hooks") else {
        return;
    };
    let log = host_dir(&env, "hooklog");
    let host_rec = env.tmp().join("hooks/rec");
    script(&host_rec, RECORDER);
    let (rec, logs) = (path_str(&host_rec), path_str(&log));
    let host_path = "PATH=/usr/bin:/bin";
    let b = native(&env, &["sleep", "30"]).file("/hooks/rec", RECORDER.as_bytes());
    fs::set_permissions(
        b.rootfs.join("hooks/rec"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let b = add_mount(b, bind(&log, "/hooklog", &["rbind", "rw"])).edit(|c| {
        c["hooks"] = json!({
            "prestart": [hook(rec, "prestart", logs, host_path)],
            "createRuntime": [hook(rec, "createRuntime", logs, host_path)],
            // Resolved in the runtime's namespaces, run in the container's
            // before pivot_root: the host's paths are still visible.
            "createContainer": [hook(rec, "createContainer", logs, host_path)],
            // Resolved and run in the container.
            "startContainer": [hook("/hooks/rec", "startContainer", "/hooklog", "PATH=/bin")],
            "poststart": [hook(rec, "poststart", logs, host_path)],
            "poststop": [hook(rec, "poststop", logs, host_path)],
        });
    });
    let order = || {
        fs::read_to_string(log.join("order"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let id = env.id("c");
    let created = env.create(&id, &b);
    let pid = created.pid();
    assert_eq!(
        order(),
        ["prestart", "createRuntime", "createContainer"],
        "create runs prestart, createRuntime, createContainer:\n{}",
        created.out
    );
    env.start(&id);
    assert!(
        wait_until(Duration::from_secs(3), || order().len() >= 5),
        "start must run startContainer and poststart: {:?}",
        order()
    );
    env.run(&["kill", id.as_str(), "KILL"]).assert_ok();
    assert!(env.wait_status(&id, "stopped", Duration::from_secs(3)));
    let del = env.run(&["delete", id.as_str()]);
    del.assert_ok();
    let mut wrong = Vec::new();
    let all = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    if order() != all {
        wrong.push(format!(
            "the phases ran in the order {:?}, want {all:?}",
            order()
        ));
    }

    let bundle = canonical(&b.dir);
    // (phase, status, pid as the hook sees it: the host's for hooks run in
    // the runtime's namespaces, the container's (1, in its pid namespace)
    // for createContainer and startContainer, as runtime-spec's state.pid
    // says)
    for (phase, status, want_pid) in [
        ("prestart", "creating", Some(pid)),
        ("createRuntime", "creating", Some(pid)),
        ("createContainer", "creating", Some(1)),
        ("startContainer", "created", Some(1)),
        ("poststart", "running", Some(pid)),
        ("poststop", "stopped", None),
    ] {
        let stdin = fs::read_to_string(log.join(format!("{phase}.stdin"))).unwrap_or_default();
        let state: Value = match serde_json::from_str(&stdin) {
            Ok(v) => v,
            Err(e) => {
                wrong.push(format!("{phase}: no state JSON on stdin ({e}): {stdin:?}"));
                continue;
            }
        };
        let mut want = vec![
            ("id", json!(id)),
            ("status", json!(status)),
            ("bundle", json!(bundle)),
        ];
        if let Some(p) = want_pid {
            want.push(("pid", json!(p)));
        }
        for (k, v) in want {
            if state[k] != v {
                wrong.push(format!(
                    "{phase}: {k} is {}, want {v}; state: {state}",
                    state[k]
                ));
            }
        }
        if !state["ociVersion"].is_string() {
            wrong.push(format!("{phase}: no ociVersion; state: {state}"));
        }
        let argv = fs::read_to_string(log.join(format!("{phase}.argv"))).unwrap_or_default();
        let dir = if phase == "startContainer" {
            "/hooklog"
        } else {
            logs
        };
        if argv.lines().collect::<Vec<_>>() != [phase, dir, "extra arg"] {
            wrong.push(format!("{phase}: args after args[0]: {argv:?}"));
        }
        // Exactly hook.env (plus what the shell itself sets).
        let envs = fs::read_to_string(log.join(format!("{phase}.env"))).unwrap_or_default();
        let mut got: Vec<&str> = envs
            .lines()
            .filter(|l| !["PWD=", "SHLVL=", "_="].iter().any(|p| l.starts_with(p)))
            .collect();
        got.sort_unstable();
        let path = if phase == "startContainer" {
            "PATH=/bin"
        } else {
            host_path
        };
        let hook_var = format!("HOOK_VAR={phase}");
        if got != [hook_var.as_str(), path] {
            wrong.push(format!(
                "{phase}: the environment must be hook.env exactly, got {got:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "what the hooks got is wrong:\n{}\n{del}",
        wrong.join("\n")
    );
}

#[test]
fn a_failing_create_runtime_hook_fails_create() {
    let Some(env) = TestEnv::new("iso_hookfail") else {
        return;
    };
    let bad = env.tmp().join("hooks/broken-hook");
    script(&bad, "#!/bin/sh\necho hook went wrong >&2\nexit 7\n");
    let before = host_mountinfo();
    let b = native(&env, &["sleep", "30"]).edit(|c| {
        c["hooks"] = json!({ "createRuntime": [{ "path": path_str(&bad) }] });
    });
    let out = create_fails(&env, "c", &b, &["createRuntime", path_str(&bad)]);
    assert_eq!(host_mountinfo(), before, "host mounts changed:\n{out}");
    env.assert_root_has_no_containers();
}

#[test]
fn a_hook_timeout_fails_create_promptly() {
    let Some(env) = TestEnv::new("iso_hooktimeout") else {
        return;
    };
    let slow = env.tmp().join("hooks/slow-hook");
    script(&slow, "#!/bin/sh\nexec sleep 10\n");
    let b = native(&env, &["sleep", "30"]).edit(|c| {
        c["hooks"] = json!({
            "createRuntime": [{ "path": path_str(&slow), "timeout": 1 }],
        });
    });
    let t = Instant::now();
    let out = create_fails(&env, "c", &b, &["createRuntime", path_str(&slow)]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && out.elapsed < Duration::from_secs(3),
        "a hook with timeout 1 that sleeps 10 s must fail create after about 1 s, \
         took {:?}:\n{out}",
        out.elapsed
    );
    assert!(
        out.stderr.to_lowercase().contains("time"),
        "the error must say the hook timed out:\n{out}"
    );
}

/// A createRuntime hook that asks `runwasm state` about its own container
/// (as network set-up hooks do) gets an answer at once, "creating" with the
/// init's pid, instead of waiting for the lock `create` holds; so does
/// `list`. runc's `state` never waits either.
#[test]
fn a_create_hook_can_query_the_state_of_its_container() {
    let Some(env) = TestEnv::new("iso_hookstate") else {
        return;
    };
    let id = env.id("c");
    let out_file = env.tmp().join("hook-state.json");
    let list_file = env.tmp().join("hook-list.txt");
    let query = env.tmp().join("hooks/query");
    let rw = format!("{} --root {}", path_str(&env.bin), path_str(&env.root));
    script(
        &query,
        &format!(
            "#!/bin/sh\ncat >/dev/null\n{rw} state {id} > {} 2>&1\n{rw} list > {} 2>&1\n",
            path_str(&out_file),
            path_str(&list_file)
        ),
    );
    let b = native(&env, &["sleep", "30"]).edit(|c| {
        c["hooks"] = json!({
            "createRuntime": [{ "path": path_str(&query), "timeout": 5 }],
        });
    });
    let t = Instant::now();
    let created = env.create(&id, &b);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "create waited for its own hook's `state` ({:?}):\n{}",
        t.elapsed(),
        created.out
    );
    let text = fs::read_to_string(&out_file).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["status"], "creating", "{text}");
    assert_eq!(v["id"], id.as_str(), "{text}");
    assert_eq!(
        v["pid"].as_i64(),
        Some(read_pid_file(&created.pid_file) as i64),
        "{text}"
    );
    let list = fs::read_to_string(&list_file).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with(&id) && l.contains("creating")),
        "{list}"
    );
    assert_eq!(env.status(&id).as_deref(), Some("created"));
}
