//! Crash safety: runwasm killed with SIGKILL at each step of `create`,
//! `start`, `kill --all`, `delete`, `exec` and `run`. The fault-injection
//! build ([`fault_bin`], `RUNWASM_FAULT=POINT`) kills itself at the named
//! point; after that `state` must tell the truth (a sane status whose pid
//! is alive, or "does not exist"; never a parse error), `list` must work,
//! and `delete --force` must succeed and leave nothing (no process,
//! cgroup, mount, fifo or file in the state root).
//!
//! Also here: files that cannot be trusted (a garbled state.json, a
//! planted symlink as pid file or state root) and SIGTERM during `create`
//! (deferred, as runc does: the create finishes).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const SEC: Duration = Duration::from_secs(1);

/// "gone": `state` says the container does not exist.
const GONE: &str = "gone";

/// The kinds of container every crash is tried on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A Wasm module in no namespace of its own.
    Wasm,
    /// A Wasm module in new pid, mount, ipc, uts and network namespaces,
    /// with a tmpfs mount, `linux.resources` and a prestart hook.
    WasmNs,
    /// busybox under runc's default config (all namespaces, /proc, /dev,
    /// /sys… mounted, read-only root).
    Native,
}

const KINDS: [Kind; 3] = [Kind::Wasm, Kind::WasmNs, Kind::Native];

/// A bundle of `kind` whose process runs until killed.
fn long_running(env: &TestEnv, kind: Kind) -> Bundle {
    match kind {
        Kind::Wasm => env.bundle("spin"),
        Kind::WasmNs => env
            .bundle("spin")
            .namespaces(&["pid", "mount", "ipc", "uts", "network"])
            .edit(|c| {
                c["mounts"] = json!([
                    {"destination": "/proc", "type": "proc", "source": "proc"},
                    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                     "options": ["nosuid", "nodev", "size=1m"]},
                ]);
                c["linux"]["resources"] = json!({"pids": {"limit": 64}});
                c["hooks"] = json!({"prestart": [{"path": "/bin/true"}]});
            }),
        Kind::Native => {
            let b = env.native_bundle(&["/bin/busybox", "sleep", "1000"]);
            let mut c = runc_spec();
            c["process"]["args"] = json!(["/bin/busybox", "sleep", "1000"]);
            c["process"]["env"] = json!(["PATH=/bin"]);
            b.edit(|cfg| *cfg = c)
        }
    }
}

/// The program `exec` runs in a container of `kind` (until killed).
fn exec_args(kind: Kind) -> Vec<&'static str> {
    match kind {
        Kind::Wasm | Kind::WasmNs => vec!["/app.wasm"],
        Kind::Native => vec!["/bin/busybox", "sleep", "1000"],
    }
}

/// Runs `rw` (a fault-injection call) and asserts it died at its point.
#[track_caller]
fn crash(rw: Rw<'_>, what: &str) -> Output {
    let out = rw.run();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "{what}: runwasm did not die at the fault point (a name that is no point, or a \
         step it never reached):\n{out}"
    );
    out
}

/// `state` after a crash: a status in `allowed` (or [`GONE`]) whose pid is
/// consistent with it, never a parse error; `list` works too. Returns what
/// `state` said.
#[track_caller]
fn assert_state_truthful(env: &TestEnv, id: &str, what: &str, allowed: &[&str]) -> String {
    let mut st = env.run(&["state", id]);
    let got = if st.success() {
        let parse = |st: &Output| -> (String, i32) {
            let v: Value = serde_json::from_str(&st.stdout)
                .unwrap_or_else(|e| panic!("{what}: state printed invalid JSON ({e}):\n{st}"));
            let status = v["status"].as_str().unwrap_or("").to_string();
            let pid = v["pid"].as_i64().unwrap_or(-1) as i32;
            if status == "stopped" {
                assert_eq!(pid, 0, "{what}: a stopped container has pid 0: {v:#}");
            }
            (status, pid)
        };
        let (mut status, pid) = parse(&st);
        if status != "stopped" && !pid_alive(pid) {
            // An init that learnt of the crash may have exited since: then
            // `state` must say so now.
            st = env.run(&["state", id]);
            status = parse(&st).0;
            assert_eq!(
                status, "stopped",
                "{what}: state says {status} with pid {pid}, which is not alive:\n{st}"
            );
        }
        status
    } else {
        let lines = st.stderr_lines();
        let msg = st.stderr.to_lowercase();
        assert!(
            lines.len() == 1
                && msg.contains("does not exist")
                && !["parse", "json", "eof", "expected"]
                    .iter()
                    .any(|w| msg.contains(w)),
            "{what}: `state` must work or say the container does not exist, not fail on \
             what the crash left:\n{st}"
        );
        GONE.to_string()
    };
    assert!(
        allowed.contains(&got.as_str()),
        "{what}: state is {got:?}, expected one of {allowed:?}"
    );
    let list = env.run(&["list", "--format", "json"]);
    list.assert_ok();
    let v: Value = serde_json::from_str(&list.stdout)
        .unwrap_or_else(|e| panic!("{what}: list printed invalid JSON ({e}):\n{list}"));
    let listed = v
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c["id"] == id));
    assert_eq!(
        listed,
        got != GONE,
        "{what}: list and state disagree (state: {got}):\n{list}"
    );
    got
}

/// `delete --force` succeeds quietly and nothing is left.
#[track_caller]
fn assert_delete_cleans(env: &TestEnv, id: &str, what: &str) {
    let del = env.run(&["delete", "--force", id]);
    assert!(
        del.success() && del.stderr_lines().is_empty() && del.log_errors().is_empty(),
        "{what}: delete --force must clean up quietly:\n{del}"
    );
    assert!(
        !env.state_dir(id).exists(),
        "{what}: delete --force left ROOT/ID"
    );
    env.assert_no_leftovers(&format!("{what}, then delete --force"));
    let again = env.run(&["delete", "--force", id]);
    assert!(again.success(), "{what}: a second delete --force:\n{again}");
}

fn create_args(b: &Bundle, pid_file: &Path, id: &str) -> Vec<String> {
    vec![
        "create".into(),
        "--bundle".into(),
        path_str(&b.dir).into(),
        "--pid-file".into(),
        path_str(pid_file).into(),
        id.into(),
    ]
}

/// Points of `create` and what `state` may say after a crash there.
fn create_points(kind: Kind) -> Vec<(&'static str, &'static [&'static str])> {
    let mut v: Vec<(&str, &[&str])> = vec![
        ("create:before-rename", &[GONE]),
        ("create:after-state-dir", &[GONE]),
        ("create:after-state-file", &["stopped"]),
        ("create:after-fifo", &["stopped"]),
        ("create:after-clone", &["stopped"]),
        // Init learns of the crash (end of file on its socket, or its
        // parent-death signal) a moment later.
        ("create:after-pid-recorded", &["creating", "stopped"]),
        ("create:after-cgroup", &["creating", "stopped"]),
        ("create:after-go", &["creating", "stopped"]),
        // Init is ready (mounts made, module loaded), waiting on the fifo.
        ("create:after-ready", &["creating"]),
        ("create:after-pid-file", &["creating"]),
        ("create:after-state-created", &["created"]),
    ];
    if kind == Kind::WasmNs {
        v.push(("create:after-resources", &["creating", "stopped"]));
        v.push(("create:after-prestart-hooks", &["creating", "stopped"]));
    }
    v
}

#[test]
fn create_killed_at_each_step() {
    let Some(env) = TestEnv::new("crash_create") else {
        return;
    };
    let mut n = 0;
    for kind in KINDS {
        let b = long_running(&env, kind);
        for (point, allowed) in create_points(kind) {
            n += 1;
            let id = env.id(&n.to_string());
            let what = format!("{kind:?} container, create killed at {point}");
            let pid_file = env.tmp().join(format!("{n}.pid"));
            crash(env.rw(&create_args(&b, &pid_file, &id)).fault(point), &what);
            let got = assert_state_truthful(&env, &id, &what, allowed);
            if got == "created" {
                // A complete create: it starts.
                env.start(&id);
                assert_eq!(env.status(&id).as_deref(), Some("running"), "{what}");
            }
            assert_delete_cleans(&env, &id, &what);
        }
    }
}

#[test]
fn start_killed_at_each_step() {
    let Some(env) = TestEnv::new("crash_start") else {
        return;
    };
    let points: [(&str, &[&str]); 4] = [
        ("start:after-lock", &["created"]),
        // Init released, the fifo still there: the state must follow init,
        // not the fifo.
        ("start:after-release", &["running"]),
        ("start:after-fifo-removed", &["running"]),
        ("start:after-state-running", &["running"]),
    ];
    let mut n = 0;
    for kind in KINDS {
        let b = long_running(&env, kind);
        for (point, allowed) in points {
            n += 1;
            let id = env.id(&n.to_string());
            let what = format!("{kind:?} container, start killed at {point}");
            env.create(&id, &b);
            crash(env.rw(&["start", id.as_str()]).fault(point), &what);
            let got = assert_state_truthful(&env, &id, &what, allowed);
            // Whatever it says, start agrees with it.
            let again = env.run(&["start", id.as_str()]);
            match got.as_str() {
                "created" => {
                    again.assert_ok();
                    assert_eq!(env.status(&id).as_deref(), Some("running"), "{what}");
                }
                _ => {
                    again.assert_failed_with(&["running"]);
                }
            }
            assert_delete_cleans(&env, &id, &what);
        }
    }
}

#[test]
fn delete_killed_at_each_step() {
    let Some(env) = TestEnv::new("crash_delete") else {
        return;
    };
    let points: [(&str, &[&str]); 4] = [
        ("delete:after-lock", &["running"]),
        ("delete:after-kill", &["stopped"]),
        ("delete:after-cgroup", &["stopped"]),
        // ROOT/ID renamed away, not yet removed.
        ("delete:after-rename", &[GONE]),
    ];
    let mut n = 0;
    for kind in KINDS {
        let b = long_running(&env, kind);
        for (point, allowed) in points {
            n += 1;
            let id = env.id(&n.to_string());
            let what = format!("{kind:?} container, delete --force killed at {point}");
            env.create(&id, &b);
            env.start(&id);
            crash(
                env.rw(&["delete", "--force", id.as_str()]).fault(point),
                &what,
            );
            assert_state_truthful(&env, &id, &what, allowed);
            assert_delete_cleans(&env, &id, &what);
        }
    }
}

#[test]
fn kill_all_killed_while_the_container_is_frozen() {
    let Some(env) = TestEnv::new("crash_kill") else {
        return;
    };
    for (n, kind) in KINDS.into_iter().enumerate() {
        let id = env.id(&n.to_string());
        let what = format!("{kind:?} container, kill --all killed while it froze it");
        env.create(&id, &long_running(&env, kind));
        env.start(&id);
        crash(
            env.rw(&["kill", "--all", id.as_str(), "0"])
                .fault("kill:after-freeze"),
            &what,
        );
        // As runc reports it: the freezer says paused.
        assert_state_truthful(&env, &id, &what, &["paused"]);
        assert_delete_cleans(&env, &id, &what);
    }
}

/// The container's processes as `ps` lists them.
fn container_pids(env: &TestEnv, id: &str) -> Vec<i32> {
    let out = env.run(&["ps", "--format", "json", id]);
    out.assert_ok();
    let mut v: Vec<i32> = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("ps printed invalid JSON ({e}):\n{out}"));
    v.retain(|p| pid_alive(*p));
    v.sort_unstable();
    v
}

#[test]
fn exec_killed_at_each_step() {
    let Some(env) = TestEnv::new("crash_exec") else {
        return;
    };
    // Whether the exec process runs on after the crash: only once runwasm
    // has written the pid file and told it to go; before that it gives up
    // when it finds runwasm gone.
    let points = [
        ("exec:after-load", false),
        ("exec:after-fork", false),
        ("exec:after-cgroup", false),
        ("exec:after-go", false),
        ("exec:after-pid", false),
        ("exec:after-ready", false),
        ("exec:after-pid-file", false),
        ("exec:after-start", true),
    ];
    let mut n = 0;
    for kind in KINDS {
        let b = long_running(&env, kind);
        for (point, runs) in points {
            n += 1;
            let id = env.id(&n.to_string());
            let what = format!("{kind:?} container, exec killed at {point}");
            let c = env.create(&id, &b);
            env.start(&id);
            let init = c.pid();
            let pid_file = env.tmp().join(format!("exec{n}.pid"));
            let mut args = vec![
                "exec".to_string(),
                "--detach".into(),
                "--pid-file".into(),
                path_str(&pid_file).into(),
                id.clone(),
            ];
            args.extend(exec_args(kind).iter().map(|s| s.to_string()));
            crash(env.rw(&args).fault(point), &what);
            assert_state_truthful(&env, &id, &what, &["running"]);
            let mut pids = Vec::new();
            let settled = wait_until(3 * SEC, || {
                pids = container_pids(&env, &id);
                pids.len() == if runs { 2 } else { 1 }
            });
            assert!(
                settled && pids.contains(&init),
                "{what}: the container's processes are {pids:?} (init {init}); the exec \
                 process should {}be among them",
                if runs { "" } else { "not " }
            );
            assert_delete_cleans(&env, &id, &what);
        }
    }
}

#[test]
fn run_killed_at_each_step() {
    let Some(env) = TestEnv::new("crash_run") else {
        return;
    };
    let mut n = 0;
    for kind in KINDS {
        for (point, allowed) in [
            ("run:after-start", &["running"][..]),
            ("create:after-ready", &["creating"][..]),
            ("start:after-release", &["running"][..]),
        ] {
            n += 1;
            let id = env.id(&n.to_string());
            let what = format!("{kind:?} container, run killed at {point}");
            let b = long_running(&env, kind);
            crash(
                env.rw(&["run", "--bundle", path_str(&b.dir), id.as_str()])
                    .fault(point),
                &what,
            );
            assert_state_truthful(&env, &id, &what, allowed);
            assert_delete_cleans(&env, &id, &what);
        }
    }
    // After the container's own exit, before run deletes it.
    let id = env.id("exited");
    let b = env.bundle("hello");
    crash(
        env.rw(&["run", "--bundle", path_str(&b.dir), id.as_str()])
            .fault("run:after-exit"),
        "run killed after the container exited",
    );
    assert_state_truthful(&env, &id, "run:after-exit", &["stopped"]);
    assert_delete_cleans(&env, &id, "run:after-exit");
}

/// The plain build (what `just build` and `just install` ship) has no crash
/// points: neither the variable nor any point's name is in the binary.
#[test]
fn the_plain_build_has_no_fault_points() {
    let Some(env) = TestEnv::new("crash_plain") else {
        return;
    };
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = 0;
    for bin in [env.bin.clone(), ws.join("target/release/runwasm")] {
        let Ok(bytes) = fs::read(&bin) else {
            continue;
        };
        for needle in [&b"RUNWASM_FAULT"[..], b"create:after-cgroup"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} contains {:?}: built with the fault-injection feature",
                bin.display(),
                String::from_utf8_lossy(needle)
            );
        }
        checked += 1;
    }
    assert!(checked > 0);
    // And the fault build does have them (else the crash tests test nothing).
    let bytes = fs::read(fault_bin()).unwrap();
    assert!(bytes.windows(13).any(|w| w == b"RUNWASM_FAULT"));
}

// ---------------------------------------------------------------------------
// Files that cannot be trusted
// ---------------------------------------------------------------------------

/// A hand-garbled state.json of a running container: `state` and `start`
/// fail with one clear line, `delete --force` still removes everything,
/// the container's processes and its (default) cgroup included.
#[test]
fn garbled_state_of_a_running_container() {
    let Some(env) = TestEnv::new("crash_garbled") else {
        return;
    };
    for (n, kind) in KINDS.into_iter().enumerate() {
        for (tag, garbage) in [
            ("text", &b"this is not JSON"[..]),
            (
                "truncated",
                b"{\"runtime\":\"runwasm\",\"ociVersion\":\"1.2.0\",\"id\":",
            ),
            ("empty", b""),
            ("binary", &[0xff, 0x00, 0xfe, 0x7b]),
        ] {
            let id = env.id(&format!("{n}-{tag}"));
            let what = format!("{kind:?} container with a {tag} state.json");
            let c = env.create(&id, &long_running(&env, kind));
            env.start(&id);
            let pid = c.pid();
            fs::write(env.state_dir(&id).join("state.json"), garbage).unwrap();
            for args in [vec!["state", id.as_str()], vec!["start", id.as_str()]] {
                env.run(&args)
                    .assert_failed_with(&["state.json", "not a runwasm container state"]);
            }
            assert!(
                pid_alive(pid),
                "{what}: a failed command hurt the container"
            );
            assert_delete_cleans(&env, &id, &what);
            assert!(
                !pid_alive(pid),
                "{what}: init {pid} survived delete --force"
            );
        }
    }
}

/// A symlink planted where the pid file goes is replaced, never followed.
#[test]
fn pid_file_symlink_is_not_followed() {
    let Some(env) = TestEnv::new("crash_pidlink") else {
        return;
    };
    let victim = env.tmp().join("victim");
    fs::write(&victim, "precious").unwrap();
    let pid_file = env.tmp().join("c.pid");
    std::os::unix::fs::symlink(&victim, &pid_file).unwrap();
    // Its temporary name too.
    std::os::unix::fs::symlink(&victim, env.tmp().join(".c.pid.tmp")).unwrap();
    let id = env.id("c");
    let b = env.bundle("spin");
    env.run(&create_args(&b, &pid_file, &id)).assert_ok();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!fs::symlink_metadata(&pid_file).unwrap().is_symlink());
    assert!(pid_alive(read_pid_file(&pid_file)));
    assert_delete_cleans(&env, &id, "create with a planted pid file symlink");
}

/// A symlink in the state root's place is refused, not followed; a root
/// runwasm makes is private (0700), parents included.
#[test]
fn state_root_symlink_is_refused_and_new_roots_are_private() {
    let Some(env) = TestEnv::new("crash_rootlink") else {
        return;
    };
    let elsewhere = env.tmp().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let link = env.tmp().join("root-link");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let b = env.bundle("hello");
    let id = env.id("c");
    for args in [
        vec!["create", "--bundle", path_str(&b.dir), id.as_str()],
        vec!["run", "--bundle", path_str(&b.dir), id.as_str()],
    ] {
        let mut full = vec!["--root", path_str(&link)];
        full.extend(args);
        let out = env.rw(&full).no_global().run();
        assert!(
            out.code() != 0
                && out.stderr_lines().len() == 1
                && out.stderr.contains("is a symbolic link"),
            "{out}"
        );
        assert_eq!(
            fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "runwasm wrote through the planted symlink"
        );
    }
    let fresh = env.tmp().join("a/b/root");
    let out = env
        .rw(&[
            "--root",
            path_str(&fresh),
            "run",
            "--bundle",
            path_str(&b.dir),
            id.as_str(),
        ])
        .no_global()
        .run();
    assert_eq!(out.code(), 0, "{out}");
    for d in [env.tmp().join("a"), env.tmp().join("a/b"), fresh.clone()] {
        let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} has mode {mode:o}", d.display());
    }
    assert_eq!(fs::read_dir(&fresh).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------
// SIGTERM during create
// ---------------------------------------------------------------------------

/// As runc (which catches every signal while it creates): SIGTERM, SIGINT
/// or SIGHUP sent to `create` half-way does not cut it short; it finishes,
/// exits 0, and the container is created and works.
#[test]
fn sigterm_during_create_does_not_cut_it_short() {
    let Some(env) = TestEnv::new("crash_sigterm") else {
        return;
    };
    // A prestart hook that takes a while keeps create busy half-way.
    let b = env.bundle("spin").namespaces(&["pid", "mount"]).edit(|c| {
        c["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 0.5"]}]})
    });
    for (n, sig) in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP]
        .into_iter()
        .enumerate()
    {
        let id = env.id(&n.to_string());
        let pid_file = env.tmp().join(format!("{n}.pid"));
        let mut bg = env.rw(&create_args(&b, &pid_file, &id)).spawn();
        std::thread::sleep(Duration::from_millis(250));
        send_signal(bg.pid(), sig);
        let out = bg.wait();
        assert!(
            out.status.success(),
            "create interrupted by signal {sig} must finish:\n{out}"
        );
        assert_eq!(env.status(&id).as_deref(), Some("created"), "signal {sig}");
        assert!(pid_alive(read_pid_file(&pid_file)));
        env.start(&id);
        assert_eq!(env.status(&id).as_deref(), Some("running"), "signal {sig}");
        assert_delete_cleans(&env, &id, &format!("create sent signal {sig}"));
    }
}
