//! Issue 5 items 1 (terminal) and 2 (exec), observed as a caller sees them.
//!
//! - `process.terminal` with `--console-socket`: the pty master arrives over
//!   the unix socket (SCM_RIGHTS) before `create` returns; the container's
//!   stdio and controlling terminal are the slave, `consoleSize` applies,
//!   for native processes and Wasm modules alike; runc's two refusals.
//! - `run` in the foreground relays the pty to its own terminal: the test
//!   allocates a pty and starts runwasm on its slave as a session leader
//!   with that slave as controlling terminal, like a shell would.
//! - `exec` of native programs and Wasm modules into running containers:
//!   flags, `--process FILE`, errors, cgroup and namespaces (checked from
//!   the host), `--detach --pid-file` (this test process is a child
//!   subreaper, as the shim is, and reaps the exec'd pid), `--tty` with a
//!   console socket and in the foreground, and the end of a container while
//!   exec'd processes run.
//!
//! Tests that reap make this process a subreaper; an [`OrphanReaper`]
//! guard (dropped before the env) reaps, during the env's cleanup, what a
//! failed exec left to us in a container's pid namespace, as a shim would.
//!
//! Native containers use a busybox rootfs under runc's default config
//! (`runwasm spec`: pid/network/ipc/uts/mount/cgroup namespaces, read-only
//! root); Wasm ones the test modules under the same config.

mod common;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const SEC: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// 1. process.terminal with --console-socket
// ---------------------------------------------------------------------------

#[test]
fn create_terminal_native_master_before_create_returns() {
    let Some(env) = TestEnv::new("tty_create_native") else {
        return;
    };
    let _reaper = become_subreaper();
    let b = native(
        &env,
        "tty; stty size; c=$(stat -L -c %t:%T /dev/console); p=$(stat -L -c %t:%T /dev/pts/0); \
         echo console=$c pts0=$p; [ \"$c\" = \"$p\" ] && echo console-is-tty; \
         [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo stdio-is-tty; \
         echo READY; read x; echo got:$x; exit 3",
    )
    .edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 37, "width": 111});
    });
    let id = env.id("c");
    let (listener, sock) = console_listener(&env, "create");
    let (out, pid_file, _) = create_with(&env, &id, &b, &["--console-socket", path_str(&sock)]);
    out.assert_ok();
    // create has exited: the master must already be waiting in the socket.
    listener.set_nonblocking(true).unwrap();
    let conn = match listener.accept() {
        Ok((s, _)) => s,
        Err(e) => panic!("create returned without connecting to the console socket ({e}):\n{out}"),
    };
    let (master, payload) = recv_fd(&conn, libc::MSG_DONTWAIT).unwrap_or_else(|e| {
        panic!("create returned before the pty master was sent over the console socket: {e}\n{out}")
    });
    assert_eq!(
        pty_number(&master),
        Some(0),
        "the fd received is not the master of /dev/pts/0 of the container's devpts \
         (payload {:?})",
        String::from_utf8_lossy(&payload)
    );
    let pid = read_pid_file(&pid_file);
    assert!(pid_alive(pid), "init {pid} is not alive after create");
    let mut pty = PtyReader::new(master);
    env.start(&id);
    assert!(
        pty.wait_for("READY", 5 * SEC),
        "the container's output never reached the master: {:?}",
        pty.text()
    );
    pty.write("hello-tty\n");
    assert!(
        pty.wait_for("got:hello-tty", 5 * SEC),
        "a line written to the master did not reach the container's stdin: {:?}",
        pty.text()
    );
    assert_eq!(
        reap(pid, 5 * SEC),
        Wait::Exited(3),
        "the container's exit code; pty: {:?}",
        pty.text()
    );
    pty.read_to_eof(2 * SEC);
    let text = pty.text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(lines.first(), Some(&"/dev/pts/0"), "`tty` output:\n{text}");
    assert!(
        lines.contains(&"37 111"),
        "`stty size` must print config.json's consoleSize (37 rows, 111 columns):\n{text}"
    );
    assert!(
        lines.contains(&"console-is-tty"),
        "/dev/console must be the terminal (the same device as /dev/pts/0):\n{text}"
    );
    assert!(
        lines.contains(&"stdio-is-tty"),
        "stdin, stdout and stderr must all be the terminal:\n{text}"
    );
    assert!(env.wait_status(&id, "stopped", 2 * SEC));
    env.run(&["delete", &id]).assert_ok();
    env.assert_nothing_left(&id, &[]);
}

#[test]
fn create_terminal_wasm_module_writes_through_pty() {
    let Some(env) = TestEnv::new("tty_create_wasm") else {
        return;
    };
    let _reaper = become_subreaper();
    let b = wasm(&env, "hello", &[]).edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 20, "width": 60});
    });
    let id = env.id("c");
    let (listener, sock) = console_listener(&env, "create");
    let (out, pid_file, stdout) =
        create_with(&env, &id, &b, &["--console-socket", path_str(&sock)]);
    out.assert_ok();
    let conn = accept_timeout(&listener, SEC)
        .unwrap_or_else(|| panic!("create never connected to the console socket:\n{out}"));
    let (master, _) = recv_fd(&conn, libc::MSG_DONTWAIT).unwrap_or_else(|e| {
        panic!("no pty master in the console socket once create returned: {e}\n{out}")
    });
    assert!(pty_number(&master).is_some(), "the fd is not a pty master");
    let pid = read_pid_file(&pid_file);
    let mut pty = PtyReader::new(master);
    env.start(&id);
    assert_eq!(reap(pid, 5 * SEC), Wait::Exited(0), "{:?}", pty.text());
    pty.read_to_eof(2 * SEC);
    assert!(
        pty.text().contains("Hello from Wasm!\n"),
        "the module's stdout did not come through the pty: {:?}",
        pty.text()
    );
    let stdout = fs::read_to_string(&stdout).unwrap_or_default();
    assert!(
        !stdout.contains("Hello"),
        "the module wrote to create's stdout, not to the terminal: {stdout:?}"
    );
}

// ---------------------------------------------------------------------------
// 2. runc's refusals
// ---------------------------------------------------------------------------

#[test]
fn terminal_without_console_socket_is_refused() {
    let Some(env) = TestEnv::new("tty_no_socket") else {
        return;
    };
    let b = native(&env, "true").edit(|c| c["process"]["terminal"] = json!(true));
    let id = env.id("create");
    let (out, pid_file, _) = create_with(&env, &id, &b, &[]);
    out.assert_failed_with(&[
        "cannot allocate tty if runwasm will detach without setting console socket",
    ]);
    assert!(!pid_file.exists(), "a refused create wrote a pid file");
    env.assert_nothing_left(&id, &[]);

    // run --detach is the same case.
    let id = env.id("rund");
    let out = env.run(&["run", "-d", "--bundle", path_str(&b.dir), &id]);
    out.assert_failed_with(&[
        "cannot allocate tty if runwasm will detach without setting console socket",
    ]);
    env.assert_nothing_left(&id, &[]);
    env.assert_root_has_no_containers();
}

#[test]
fn console_socket_without_terminal_is_refused() {
    let Some(env) = TestEnv::new("tty_socket_no_tty") else {
        return;
    };
    let b = native(&env, "true");
    let id = env.id("c");
    let (listener, sock) = console_listener(&env, "s");
    let (out, pid_file, _) = create_with(&env, &id, &b, &["--console-socket", path_str(&sock)]);
    out.assert_failed_with(&[
        "cannot use console socket if runwasm will not detach or allocate tty",
    ]);
    assert!(!pid_file.exists(), "a refused create wrote a pid file");
    env.assert_nothing_left(&id, &[]);
    listener.set_nonblocking(true).unwrap();
    if let Ok((mut s, _)) = listener.accept() {
        // A connection may have been made; nothing must have been sent.
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let got = std::io::Read::read(&mut s, &mut buf);
        assert!(
            !matches!(got, Ok(n) if n > 0),
            "a refused create sent something over the console socket"
        );
    }
    env.assert_root_has_no_containers();
}

// ---------------------------------------------------------------------------
// 3. run in the foreground relays the pty
// ---------------------------------------------------------------------------

#[test]
fn run_terminal_foreground_relays_pty() {
    let Some(env) = TestEnv::new("tty_run_fg") else {
        return;
    };
    let b = native(
        &env,
        "tty; echo size0=$(stty size); read x; echo got:$x; echo size1=$(stty size); \
         while read y; do [ \"$y\" = q ] && exit 4; echo size2=$(stty size); done",
    )
    .edit(|c| c["process"]["terminal"] = json!(true));
    let id = env.id("c");
    let mut p = spawn_on_pty(&env, &["run", "--bundle", path_str(&b.dir), &id], 29, 97);
    assert!(
        p.pty.wait_for("size0=", 5 * SEC),
        "no output relayed from the container: {:?}",
        p.pty.text()
    );
    p.pty.write("line-one\n");
    assert!(
        p.pty.wait_for("size1=", 5 * SEC),
        "input typed on runwasm's terminal did not reach the container: {:?}",
        p.pty.text()
    );
    let text = p.pty.text();
    assert!(text.contains("got:line-one"), "{text:?}");
    assert!(
        text.lines()
            .next()
            .unwrap_or("")
            .trim()
            .starts_with("/dev/pts/"),
        "`tty` inside must name a pty: {text:?}"
    );
    assert!(
        text.contains("size1=29 97"),
        "`stty size` inside must show the window size of runwasm's terminal (29 97): {text:?}"
    );
    // A resize of runwasm's terminal follows inside (SIGWINCH to runwasm).
    set_winsize(p.pty.fd.as_raw_fd(), 41, 133);
    let resized = wait_until(5 * SEC, || {
        p.pty.write("s\n");
        p.pty.wait_for("size2=41 133", SEC / 4)
    });
    assert!(
        resized,
        "after TIOCSWINSZ on runwasm's terminal, `stty size` inside never showed 41 133: {:?}",
        p.pty.text()
    );
    p.pty.write("q\n");
    let status = p.finish(10 * SEC);
    assert_eq!(
        status.code(),
        Some(4),
        "run must exit with the container's status ({status:?}); terminal: {:?}\nlog: {}",
        p.pty.text(),
        fs::read_to_string(&p.log).unwrap_or_default()
    );
    assert!(
        !env.state_dir(&id).exists(),
        "run left the container's state behind"
    );
}

/// The relayed terminal has runwasm's window size from the start: a
/// program whose first act is to read it (a shell, a full-screen program)
/// must not see 0×0 while runwasm copies the size only after the process
/// started.
#[test]
fn relayed_terminal_has_size_before_process_starts() {
    let Some(env) = TestEnv::new("tty_size_first") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let b = native(&env, "echo size0=$(stty size 2>&1)")
        .edit(|c| c["process"]["terminal"] = json!(true));
    let rid = env.id("run");
    let mut failures = Vec::new();
    for (what, args) in [
        (
            "run",
            vec!["run", "--bundle", path_str(&b.dir), rid.as_str()],
        ),
        (
            "exec -t",
            vec![
                "exec",
                "-t",
                id.as_str(),
                "sh",
                "-c",
                "echo size0=$(stty size 2>&1)",
            ],
        ),
    ] {
        for round in 0..5 {
            let mut p = spawn_on_pty(&env, &args, 29, 97);
            let status = p.finish(10 * SEC);
            let text = p.pty.text();
            assert_eq!(status.code(), Some(0), "{what}: {text:?}");
            if !text.contains("size0=29 97") {
                failures.push(format!("{what} (round {round}): {text:?}"));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "`stty size` run first thing on a relayed terminal must see runwasm's terminal size \
         (29 97):\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 4. exec of native programs
// ---------------------------------------------------------------------------

#[test]
fn exec_native_pid_hostname_exit_code() {
    let Some(env) = TestEnv::new("exec_native") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let out = exec(&env, &[&id, "sh", "-c", "echo $$; hostname"]);
    assert_eq!(out.code(), 0, "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let inner: i32 = lines[0]
        .parse()
        .unwrap_or_else(|_| panic!("`echo $$` printed no pid:\n{out}"));
    assert!(
        inner > 1,
        "the exec'd process is in the container's pid namespace, not its init:\n{out}"
    );
    assert_eq!(lines[1], "exec-host", "the container's hostname:\n{out}");
    let out = exec(&env, &[&id, "sh", "-c", "exit 5"]);
    assert_eq!(out.code(), 5, "{out}");
    let out = exec(&env, &[&id, "--", "sh", "-c", "exit 0"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(pid_alive(init), "exec must leave init running");
    assert_eq!(env.status(&id).as_deref(), Some("running"));
}

#[test]
fn exec_native_env_cwd_user() {
    let Some(env) = TestEnv::new("exec_flags") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let out = exec(&env, &["--env", "A=1", "-e", "B=override", &id, "env"]);
    assert_eq!(out.code(), 0, "{out}");
    let envs = line_set(&out.stdout);
    for want in ["A=1", "B=override", "PATH=/bin", "KEEP=container"] {
        assert!(
            envs.contains(want),
            "{want} missing from the exec'd process's environment:\n{out}"
        );
    }
    assert!(
        !envs.contains("B=from-config"),
        "--env must replace the container's B:\n{out}"
    );
    let out = exec(&env, &["--cwd", "/tmp", &id, "pwd"]);
    assert_eq!((out.code(), out.stdout.as_str()), (0, "/tmp\n"), "{out}");
    let out = exec(&env, &["-u", "1000:1000", &id, "id"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stdout.starts_with("uid=1000") && out.stdout.contains("gid=1000"),
        "`id` under -u 1000:1000:\n{out}"
    );
    let out = exec(&env, &["--user", "1001", &id, "sh", "-c", "id -u; id -g"]);
    assert_eq!((out.code(), out.stdout.as_str()), (0, "1001\n0\n"), "{out}");
}

#[test]
fn exec_process_json() {
    let Some(env) = TestEnv::new("exec_process") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let file = env.tmp().join("process.json");
    fs::write(
        &file,
        serde_json::to_vec_pretty(&json!({
            "terminal": false,
            "user": {"uid": 1234, "gid": 4321},
            "args": ["sh", "-c", "echo P=$P; echo KEEP=$KEEP; pwd; id -u; id -g; exit 6"],
            "env": ["PATH=/bin", "P=from-json"],
            "cwd": "/tmp",
        }))
        .unwrap(),
    )
    .unwrap();
    let out = exec(&env, &["-p", path_str(&file), &id]);
    assert_eq!(out.code(), 6, "{out}");
    assert_eq!(
        out.stdout, "P=from-json\nKEEP=\n/tmp\n1234\n4321\n",
        "--process FILE is the whole process: its args, env (only), cwd and user:\n{out}"
    );
    let out = exec(&env, &["--process", path_str(&file), &id]);
    assert_eq!(out.code(), 6, "{out}");
}

#[test]
fn exec_errors_leave_nothing_behind() {
    let Some(env) = TestEnv::new("exec_errors") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let before = container_procs(&id, init);
    assert_eq!(before, vec![init], "only init in the cgroup at first");

    let out = exec(&env, &[&id, "nosuchcmd", "arg"]);
    out.assert_failed_with(&["nosuchcmd", "executable file not found in $PATH"]);
    assert_only_init(&env, &id, init);

    let out = exec(&env, &[&id, "/no/such/prog"]);
    out.assert_failed_with_any(&[
        vec!["/no/such/prog"],
        vec!["no such file or directory", "not found"],
    ]);
    assert_only_init(&env, &id, init);

    let pid_file = env.tmp().join("never.pid");
    let out = exec(
        &env,
        &["-d", "--pid-file", path_str(&pid_file), &id, "nosuchcmd"],
    );
    out.assert_failed_with(&["executable file not found in $PATH"]);
    assert!(!pid_file.exists(), "a failed exec wrote its pid file");
    assert_only_init(&env, &id, init);

    let out = exec(&env, &["no-such-container", "true"]);
    out.assert_failed_with(&["does not exist"]);
}

#[test]
fn exec_in_stopped_or_paused_container_fails() {
    let Some(env) = TestEnv::new("exec_state") else {
        return;
    };
    let reaper = become_subreaper();
    // Stopped.
    let stopped = env.id("stopped");
    start_native(&env, &reaper, &stopped, "echo ready");
    assert!(env.wait_status(&stopped, "stopped", 5 * SEC));
    let out = exec(&env, &[&stopped, "echo", "nope"]);
    out.assert_failed_with(&["stopped"]);
    assert!(!out.stdout.contains("nope"), "{out}");
    assert_eq!(env.status(&stopped).as_deref(), Some("stopped"));

    // Created, then paused.
    let id = env.id("paused");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    env.run(&["pause", &id]).assert_ok();
    assert_eq!(env.status(&id).as_deref(), Some("paused"));
    let out = exec(&env, &[&id, "echo", "nope"]);
    out.assert_failed_with(&["paused"]);
    assert!(!out.stdout.contains("nope"), "{out}");
    assert_eq!(env.status(&id).as_deref(), Some("paused"));
    env.run(&["resume", &id]).assert_ok();
    assert_only_init(&env, &id, init);
    let out = exec(&env, &[&id, "echo", "after-resume"]);
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (0, "after-resume\n"),
        "{out}"
    );
}

#[test]
fn exec_native_joins_cgroup_and_namespaces() {
    let Some(env) = TestEnv::new("exec_join") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let mut bg = env.rw(&["exec", &id, "sleep", "30"]).spawn();
    let mut pid = None;
    let found = wait_until(5 * SEC, || {
        pid = descendants(bg.pid())
            .into_iter()
            .find(|p| comm(*p) == "sleep" && pid_alive(*p));
        pid.is_some() || bg.exited()
    });
    assert!(
        found && pid.is_some(),
        "no exec'd `sleep` under runwasm exec; runwasm: {:?} {:?}",
        bg.stdout_now(),
        bg.stderr_now()
    );
    let pid = pid.unwrap();
    assert_same_cgroup_and_ns(&id, pid, init);
    let nspids = ns_pids(pid);
    assert!(
        nspids.len() == 2 && nspids[1] > 1,
        "the exec'd process must be in the container's pid namespace (NSpid {nspids:?})"
    );
    send_signal(pid, libc::SIGKILL);
    let out = bg.wait();
    assert_eq!(
        out.code(),
        128 + libc::SIGKILL,
        "a killed exec'd process gives 128+9:\n{out}"
    );
    assert_only_init(&env, &id, init);
}

/// Many quick execs, four at a time, foreground and detached: every one
/// succeeds (the exec'd process may report `ready` before its parent has
/// reported its pid; that must not be taken for an error), and none leaves
/// a process behind.
#[test]
fn exec_repeated_quick_processes_all_succeed() {
    let Some(env) = TestEnv::new("exec_repeat") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (env, id, failures) = (&env, &id, &failures);
            s.spawn(move || {
                for i in 0..20 {
                    let out = exec(env, &[id, "sh", "-c", "exit 3"]);
                    if out.code() != 3 {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("foreground {t}/{i}:\n{out}"));
                    }
                    let pid_file = env.tmp().join(format!("d{t}-{i}.pid"));
                    let out = exec(env, &["-d", "--pid-file", path_str(&pid_file), id, "true"]);
                    let msg = if out.success() {
                        let w = reap(read_pid_file(&pid_file), 5 * SEC);
                        (w != Wait::Exited(0))
                            .then(|| format!("detached {t}/{i}: wait status {w:?}"))
                    } else {
                        Some(format!(
                            "detached {t}/{i} (pid file written: {}):\n{out}",
                            pid_file.exists()
                        ))
                    };
                    failures.lock().unwrap().extend(msg);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    // A failed exec whose process ran anyway leaves it to us unannounced:
    // reaped here (as a shim reaps any child), else the dying pid namespace
    // would keep `delete --force` waiting.
    let orphans = reap_orphans_in(init);
    assert!(
        failures.is_empty(),
        "{} of 160 execs failed:\n{}\nprocesses of failed execs that ran anyway and were \
         left to this (subreaper) test process: {orphans:?}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        orphans.is_empty(),
        "unannounced exec'd processes: {orphans:?}"
    );
    assert_only_init(&env, &id, init);
}

// ---------------------------------------------------------------------------
// 5. exec of a Wasm module
// ---------------------------------------------------------------------------

#[test]
fn exec_wasm_module_in_wasm_container() {
    let Some(env) = TestEnv::new("exec_wasm") else {
        return;
    };
    let reaper = become_subreaper();
    let vol = env.tmp().join("vol");
    fs::create_dir_all(&vol).unwrap();
    fs::write(vol.join("vol.txt"), "from-volume\n").unwrap();
    let host_only = env.tmp().join("host-only.txt");
    fs::write(&host_only, "host secret\n").unwrap();
    let b = wasm_container(&env)
        .file("/only-in-rootfs.txt", b"rootfs-only\n")
        .edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/data",
                "type": "bind",
                "source": path_str(&vol),
                "options": ["rbind", "ro"],
            }))
        });
    fs::create_dir_all(b.rootfs.join("data")).unwrap();
    let id = env.id("c");
    let init = start_container(&env, &reaper, &id, &b, "sleeping");

    let out = exec(&env, &[&id, "/echo.wasm", "a", "b c"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stdout
            .starts_with("arg[0]=/echo.wasm\narg[1]=a\narg[2]=b c\n"),
        "{out}"
    );
    let envs = line_set(&out.stdout);
    assert!(
        envs.contains("env:KEEP=container") && envs.contains("env:PATH=/bin"),
        "the container's environment:\n{out}"
    );
    let out = exec(&env, &["-e", "X=2", &id, "/echo.wasm"]);
    assert!(
        line_set(&out.stdout).contains("env:X=2"),
        "--env reaches the module:\n{out}"
    );

    let out = exec(&env, &[&id, "/exit_code.wasm", "3"]);
    assert_eq!(out.code(), 3, "{out}");
    let out = exec(&env, &[&id, "/exit_code.wasm", "0"]);
    assert_eq!(out.code(), 0, "{out}");

    let out = exec(&env, &[&id, "/read_file.wasm", "/only-in-rootfs.txt"]);
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (0, "rootfs-only\n"),
        "{out}"
    );
    let out = exec(&env, &[&id, "/read_file.wasm", "/data/vol.txt"]);
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (0, "from-volume\n"),
        "the volume at /data:\n{out}"
    );
    let out = exec(&env, &[&id, "/read_file.wasm", path_str(&host_only)]);
    assert!(
        out.code() == 1 && !out.stdout.contains("host secret"),
        "a host path must not be reachable from the exec'd module:\n{out}"
    );

    // A full process for a module: cwd is where relative paths resolve.
    let file = env.tmp().join("process.json");
    fs::write(
        &file,
        serde_json::to_vec(&json!({
            "args": ["/read_file.wasm", "vol.txt"],
            "env": ["PATH=/bin"],
            "cwd": "/data",
            "user": {"uid": 0, "gid": 0},
        }))
        .unwrap(),
    )
    .unwrap();
    let out = exec(&env, &["-p", path_str(&file), &id]);
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (0, "from-volume\n"),
        "{out}"
    );

    let out = exec(&env, &[&id, "/missing.wasm"]);
    out.assert_failed_with(&["/missing.wasm"]);
    assert_only_init(&env, &id, init);
}

// ---------------------------------------------------------------------------
// 6. exec --detach --pid-file
// ---------------------------------------------------------------------------

#[test]
fn exec_detached_native_pid_file_and_wait_status() {
    let Some(env) = TestEnv::new("exec_detach_native") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let pid_file = env.tmp().join("exec.pid");
    let out = exec(
        &env,
        &[
            "-d",
            "--pid-file",
            path_str(&pid_file),
            &id,
            "sh",
            "-c",
            "sleep 3; exit 7",
        ],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.elapsed < 3 * SEC,
        "exec -d must return at once, not when the process ends:\n{out}"
    );
    let pid = read_pid_file(&pid_file);
    assert!(pid_alive(pid), "the pid file's process {pid} is not alive");
    assert_same_cgroup_and_ns(&id, pid, init);
    assert_eq!(
        reap(pid, 10 * SEC),
        Wait::Exited(7),
        "the wait status of the exec'd pid is its exit code"
    );
    assert_only_init(&env, &id, init);
}

#[test]
fn exec_detached_wasm_pid_file_and_wait_status() {
    let Some(env) = TestEnv::new("exec_detach_wasm") else {
        return;
    };
    let reaper = become_subreaper();
    let b = wasm_container(&env);
    let id = env.id("c");
    let init = start_container(&env, &reaper, &id, &b, "sleeping");
    let pid_file = env.tmp().join("sleep.pid");
    let out = exec(
        &env,
        &[
            "-d",
            "--pid-file",
            path_str(&pid_file),
            &id,
            "/app.wasm",
            "3",
        ],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.elapsed < 3 * SEC, "exec -d must return at once:\n{out}");
    let pid = read_pid_file(&pid_file);
    assert!(pid_alive(pid), "the pid file's process {pid} is not alive");
    assert_same_cgroup_and_ns(&id, pid, init);
    assert_eq!(reap(pid, 10 * SEC), Wait::Exited(0));

    let pid_file = env.tmp().join("code.pid");
    let out = exec(
        &env,
        &[
            "--detach",
            "--pid-file",
            path_str(&pid_file),
            &id,
            "/exit_code.wasm",
            "7",
        ],
    );
    assert_eq!(out.code(), 0, "{out}");
    let pid = read_pid_file(&pid_file);
    assert_eq!(
        reap(pid, 10 * SEC),
        Wait::Exited(7),
        "the wait status of a detached Wasm exec is the module's exit code"
    );
    assert_only_init(&env, &id, init);
}

// ---------------------------------------------------------------------------
// 7. exec --tty
// ---------------------------------------------------------------------------

#[test]
fn exec_tty_with_console_socket() {
    let Some(env) = TestEnv::new("exec_tty_socket") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");

    // Foreground: runwasm waits and exits with the process's status; the
    // master went to the socket.
    let (listener, sock) = console_listener(&env, "fg");
    let mut bg = env
        .rw(&[
            "exec",
            "-t",
            "--console-socket",
            path_str(&sock),
            &id,
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo stdio-is-tty; exit 6",
        ])
        .spawn();
    let conn = accept_timeout(&listener, 5 * SEC).unwrap_or_else(|| {
        panic!(
            "exec -t never connected to the console socket:\n{}",
            bg.kill_and_collect()
        )
    });
    let (master, _) = recv_fd(&conn, 0).unwrap_or_else(|e| panic!("receive the master: {e}"));
    let mut pty = PtyReader::new(master);
    let out = bg.wait();
    pty.read_to_eof(2 * SEC);
    assert_eq!(out.code(), 6, "pty: {:?}\n{out}", pty.text());
    let text = pty.text();
    assert!(
        text.lines().next().unwrap_or("").starts_with("/dev/pts/"),
        "`tty` output read from the master: {text:?}"
    );
    assert!(text.contains("stdio-is-tty"), "{text:?}");
    assert_eq!(out.stdout, "", "the output goes to the pty only:\n{out}");

    // Detached, as the shim calls it.
    let (listener, sock) = console_listener(&env, "d");
    let pid_file = env.tmp().join("exec.pid");
    let out = exec(
        &env,
        &[
            "--tty",
            "--detach",
            "--console-socket",
            path_str(&sock),
            "--pid-file",
            path_str(&pid_file),
            &id,
            "sh",
            "-c",
            "tty; read x; echo got:$x; exit 8",
        ],
    );
    assert_eq!(out.code(), 0, "{out}");
    let conn = accept_timeout(&listener, SEC).expect("exec -t -d sent no master");
    let (master, _) = recv_fd(&conn, libc::MSG_DONTWAIT)
        .unwrap_or_else(|e| panic!("the master was not sent before exec -d returned: {e}"));
    let pid = read_pid_file(&pid_file);
    assert_same_cgroup_and_ns(&id, pid, init);
    let mut pty = PtyReader::new(master);
    assert!(pty.wait_for("/dev/pts/", 5 * SEC), "{:?}", pty.text());
    pty.write("typed\n");
    assert!(pty.wait_for("got:typed", 5 * SEC), "{:?}", pty.text());
    assert_eq!(reap(pid, 5 * SEC), Wait::Exited(8), "{:?}", pty.text());
    assert_only_init(&env, &id, init);
}

#[test]
fn exec_tty_foreground_relays_pty() {
    let Some(env) = TestEnv::new("exec_tty_fg") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let mut p = spawn_on_pty(
        &env,
        &[
            "exec",
            "-t",
            &id,
            "sh",
            "-c",
            "tty; read x; echo got:$x; echo size=$(stty size); exit 9",
        ],
        23,
        71,
    );
    assert!(
        p.pty.wait_for("/dev/pts/", 5 * SEC),
        "no output relayed from the exec'd process: {:?}",
        p.pty.text()
    );
    p.pty.write("typed\n");
    let status = p.finish(10 * SEC);
    let text = p.pty.text();
    assert_eq!(
        status.code(),
        Some(9),
        "exec -t must exit with the process's status ({status:?}): {text:?}\nlog: {}",
        fs::read_to_string(&p.log).unwrap_or_default()
    );
    assert!(text.contains("got:typed"), "input relayed: {text:?}");
    assert!(
        text.contains("size=23 71"),
        "the exec's terminal takes the size of runwasm's: {text:?}"
    );
    assert_only_init(&env, &id, init);

    // A Wasm module on a relayed pty (exec into a Wasm container).
    let b = wasm_container(&env);
    let wid = env.id("w");
    start_container(&env, &reaper, &wid, &b, "sleeping");
    let mut p = spawn_on_pty(&env, &["exec", "-t", &wid, "/echo.wasm", "on-tty"], 24, 80);
    let status = p.finish(10 * SEC);
    assert_eq!(status.code(), Some(0), "{:?}", p.pty.text());
    assert!(
        p.pty.text().contains("arg[1]=on-tty\n"),
        "{:?}",
        p.pty.text()
    );
}

#[test]
fn exec_tty_refusals() {
    let Some(env) = TestEnv::new("exec_tty_errors") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(&env, &reaper, &id, "echo ready; exec sleep 60");
    let out = exec(&env, &["-t", "-d", &id, "true"]);
    out.assert_failed_with(&[
        "cannot allocate tty if runwasm will detach without setting console socket",
    ]);
    assert_only_init(&env, &id, init);
    let (_listener, sock) = console_listener(&env, "s");
    let out = exec(&env, &["--console-socket", path_str(&sock), &id, "true"]);
    out.assert_failed_with(&[
        "cannot use console socket if runwasm will not detach or allocate tty",
    ]);
    assert_only_init(&env, &id, init);
}

// ---------------------------------------------------------------------------
// 8. The end of a container while exec'd processes run
// ---------------------------------------------------------------------------

#[test]
fn kill_term_ends_container_with_exec_running() {
    let Some(env) = TestEnv::new("exec_kill") else {
        return;
    };
    let reaper = become_subreaper();
    let id = env.id("c");
    let init = start_native(
        &env,
        &reaper,
        &id,
        "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
    );
    let cgroups = cgroup_dirs(&id, init);
    let mut fg = env.rw(&["exec", &id, "sleep", "60"]).spawn();
    let pid_file = env.tmp().join("d.pid");
    exec(
        &env,
        &["-d", "--pid-file", path_str(&pid_file), &id, "sleep", "60"],
    )
    .assert_ok();
    let detached = read_pid_file(&pid_file);
    let fg_sleep = || {
        descendants(fg.pid())
            .into_iter()
            .any(|p| comm(p) == "sleep" && pid_alive(p))
    };
    assert!(
        wait_until(5 * SEC, fg_sleep),
        "the foreground exec's process never ran"
    );
    assert!(container_procs(&id, init).contains(&detached));

    env.run(&["kill", &id, "TERM"]).assert_ok();
    // The exec'd process first: a dying pid namespace's init waits until
    // every process of the namespace is reaped, including this one whose
    // parent (us, as for the shim) is outside it.
    assert_eq!(
        reap(detached, 5 * SEC),
        Wait::Signaled(libc::SIGKILL),
        "the exec'd process dies with the container's pid namespace"
    );
    assert_eq!(reap(init, 5 * SEC), Wait::Exited(0), "init ends on TERM");
    let out = fg.wait_timeout(5 * SEC).unwrap_or_else(|| {
        panic!(
            "runwasm exec still runs after its container ended:\n{}",
            fg.kill_and_collect()
        )
    });
    assert_eq!(out.code(), 128 + libc::SIGKILL, "{out}");
    assert!(env.wait_status(&id, "stopped", 2 * SEC));
    env.run(&["delete", &id]).assert_ok();
    assert_gone(&env, &id, &cgroups);
}

#[test]
fn delete_force_kills_exec_processes() {
    let Some(env) = TestEnv::new("exec_delete") else {
        return;
    };
    let reaper = become_subreaper();
    // With a pid namespace, without one (the exec'd processes outlive init
    // unless delete kills the cgroup), and a Wasm container.
    let with_pidns = native(&env, "echo ready; exec sleep 60");
    let without_pidns = native(&env, "echo ready; exec sleep 60").edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let wasm_b = wasm_container(&env);
    for (tag, b, ready, cmd) in [
        ("pidns", &with_pidns, "ready", vec!["sleep", "60"]),
        ("nopidns", &without_pidns, "ready", vec!["sleep", "60"]),
        ("wasm", &wasm_b, "sleeping", vec!["/app.wasm", "60"]),
    ] {
        let id = env.id(tag);
        let init = start_container(&env, &reaper, &id, b, ready);
        let cgroups = cgroup_dirs(&id, init);
        let mut fg_args = vec!["exec", id.as_str()];
        fg_args.extend(&cmd);
        let mut fg = env.rw(&fg_args).spawn();
        let pid_file = env.tmp().join(format!("{tag}.pid"));
        let mut d_args = vec!["-d", "--pid-file", path_str(&pid_file), id.as_str()];
        d_args.extend(&cmd);
        exec(&env, &d_args).assert_ok();
        let detached = read_pid_file(&pid_file);
        // The foreground exec's workload runs (not just its helper, which
        // sits in the cgroup before it forks the exec'd process).
        let running = |fg: &mut Bg| {
            if tag == "wasm" {
                fg.stdout_now().contains("sleeping")
            } else {
                descendants(fg.pid())
                    .into_iter()
                    .any(|p| comm(p) == "sleep" && pid_alive(p))
            }
        };
        assert!(
            wait_until(5 * SEC, || running(&mut fg) || fg.exited()),
            "{tag}: the foreground exec's process never ran: {:?} {:?}",
            fg.stdout_now(),
            fg.stderr_now()
        );
        assert!(!fg.exited(), "{tag}: {}", fg.wait());
        assert!(
            wait_until(5 * SEC, || container_procs(&id, init).len() == 3),
            "{tag}: expected init and two exec'd processes in the cgroup, got {:?}",
            container_procs(&id, init)
        );
        let all = container_procs(&id, init);

        // Reaped as it dies, as the shim would: a dying pid namespace's init
        // waits until every process of the namespace is reaped.
        let detached_reaper = std::thread::spawn(move || reap(detached, 10 * SEC));
        let out = env
            .rw(&["delete", "--force", &id])
            .try_run()
            .unwrap_or_else(|e| panic!("{tag}: {e}\nprocesses: {}", proc_report(&all)));
        assert!(
            out.success(),
            "{tag}: delete --force failed:\n{out}\nprocesses: {}",
            proc_report(&all)
        );
        for p in &all {
            assert!(
                wait_pid_exit(*p, 5 * SEC),
                "{tag}: process {p} ({}) survived delete --force",
                comm(*p)
            );
        }
        let out = fg.wait_timeout(5 * SEC).unwrap_or_else(|| {
            panic!(
                "{tag}: runwasm exec still runs after delete --force:\n{}",
                fg.kill_and_collect()
            )
        });
        assert_eq!(out.code(), 128 + libc::SIGKILL, "{tag}: {out}");
        assert_eq!(
            detached_reaper.join().expect("reaper thread"),
            Wait::Signaled(libc::SIGKILL),
            "{tag}: the detached exec'd process"
        );
        assert_gone(&env, &id, &cgroups);
    }
}

// ---------------------------------------------------------------------------
// Helpers: bundles and containers
// ---------------------------------------------------------------------------

/// busybox applets linked into every native rootfs (`/bin/NAME ->
/// busybox`).
const APPLETS: &[&str] = &[
    "sh", "tty", "stty", "stat", "echo", "hostname", "id", "pwd", "env", "sleep", "true", "cat",
];

/// A busybox rootfs (with `/tmp`) running `sh -c script` under runc's
/// default config, hostname `exec-host`, env `PATH=/bin KEEP=container
/// B=from-config`.
fn native(env: &TestEnv, script: &str) -> Bundle {
    let args = ["sh", "-c", script];
    let b = env.native_bundle(&args);
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", b.rootfs.join("bin").join(a)).unwrap();
    }
    fs::create_dir_all(b.rootfs.join("tmp")).unwrap();
    let mut c = runc_spec();
    c["process"]["args"] = json!(args);
    c["process"]["env"] = json!(["PATH=/bin", "KEEP=container", "B=from-config"]);
    c["hostname"] = json!("exec-host");
    b.edit(|cfg| *cfg = c)
}

/// The test module `module` as `/app.wasm ARGS…` under runc's default
/// config.
fn wasm(env: &TestEnv, module: &str, args: &[&str]) -> Bundle {
    let b = env.bundle(module);
    let mut c = runc_spec();
    let mut argv = vec!["/app.wasm"];
    argv.extend_from_slice(args);
    c["process"]["args"] = json!(argv);
    c["process"]["env"] = json!(["PATH=/bin", "KEEP=container"]);
    b.edit(|cfg| *cfg = c)
}

/// A Wasm container running `sleep 60` (prints `sleeping`), with the
/// modules `echo`, `exit_code` and `read_file` at `/NAME.wasm` in its
/// rootfs.
fn wasm_container(env: &TestEnv) -> Bundle {
    let b = wasm(env, "sleep", &["60"]);
    for m in ["echo", "exit_code", "read_file"] {
        fs::copy(module(m), b.rootfs.join(format!("{m}.wasm"))).unwrap();
    }
    b
}

/// `create --bundle B --pid-file P [extra…] ID`, run to completion;
/// returns its output, the pid file and the file holding its stdout (the
/// container's, unless it has a terminal).
fn create_with(env: &TestEnv, id: &str, b: &Bundle, extra: &[&str]) -> (Output, PathBuf, PathBuf) {
    env.track(id);
    let pid_file = env.tmp().join(format!("{id}.pid"));
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("create"),
        OsStr::new("--bundle"),
        b.dir.as_os_str(),
        OsStr::new("--pid-file"),
        pid_file.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    args.push(OsStr::new(id));
    let rw = env.rw(&args);
    let stdout = rw.stdout.clone();
    (rw.run(), pid_file, stdout)
}

/// create + start of `b`, waiting until its stdout shows `ready`; returns
/// init's pid.
#[track_caller]
fn start_container(env: &TestEnv, reaper: &OrphanReaper, id: &str, b: &Bundle, ready: &str) -> i32 {
    let c = env.create(id, b);
    let pid = c.pid();
    reaper.watch(pid);
    env.start(id);
    assert!(
        wait_until(5 * SEC, || c.stdout().contains(ready)),
        "container {id} never printed {ready:?}: stdout {:?} stderr {:?}",
        c.stdout(),
        c.stderr()
    );
    pid
}

/// A native container running `sh -c script`, started; `script` is
/// expected to print `ready` first.
#[track_caller]
fn start_native(env: &TestEnv, reaper: &OrphanReaper, id: &str, script: &str) -> i32 {
    let b = native(env, script);
    start_container(env, reaper, id, &b, "ready")
}

/// `exec ARGS…` to completion.
fn exec(env: &TestEnv, args: &[&str]) -> Output {
    let mut v = vec!["exec"];
    v.extend_from_slice(args);
    env.run(&v)
}

// ---------------------------------------------------------------------------
// Helpers: processes, cgroups, namespaces
// ---------------------------------------------------------------------------

/// Makes this test process a child subreaper (as the shim is), so a pid
/// that runwasm leaves behind is re-parented to it and can be reaped.
/// Returns a guard to declare after the [`TestEnv`] (so it drops first).
fn become_subreaper() -> OrphanReaper {
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
    OrphanReaper {
        watched: std::sync::Mutex::new(Vec::new()),
    }
}

/// Plays the shim's part after a test (passed or failed): while the env's
/// cleanup deletes the containers, reaps every child of this process that
/// dies in a watched container's pid namespace. A dying pid namespace's
/// init waits until all its processes are reaped, including exec'd ones
/// re-parented to us, so without this a process a failed exec left behind
/// would keep `delete --force` waiting.
struct OrphanReaper {
    /// `(pid namespace, init pid, init start time)` of each container.
    watched: std::sync::Mutex<Vec<(String, i32, u64)>>,
}

impl OrphanReaper {
    /// Watches the pid namespace of `init` (unless it is the host's) for as
    /// long as that init exists: once it is gone, so is the namespace, and
    /// its identifier may be reused by another test's container.
    fn watch(&self, init: i32) {
        let ns = ns_link(init, "pid");
        if ns == ns_link(0, "pid") {
            return;
        }
        if let Some(t) = start_time(init) {
            self.watched.lock().unwrap().push((ns, init, t));
        }
    }
}

impl Drop for OrphanReaper {
    fn drop(&mut self) {
        let mut watched =
            std::mem::take(&mut *self.watched.lock().unwrap_or_else(|e| e.into_inner()));
        if watched.is_empty() {
            return;
        }
        std::thread::spawn(move || {
            let deadline = Instant::now() + 15 * SEC;
            while !watched.is_empty() && Instant::now() < deadline {
                watched.retain(|(_, init, t)| start_time(*init) == Some(*t));
                for (ns, init, t) in &watched {
                    for pid in zombie_children_in(ns) {
                        // The init itself last, and only the one watched.
                        if pid == *init && zombie_children_in(ns).len() > 1 {
                            continue;
                        }
                        if start_time(*init) != Some(*t) {
                            break;
                        }
                        let mut status = 0;
                        // SAFETY: waitpid writes only to `status`.
                        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }
}

/// The start time of `pid` (field 22 of `/proc/PID/stat`), None when there
/// is no such process.
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rfind(')')?;
    stat[after + 1..].split_whitespace().nth(19)?.parse().ok()
}

#[derive(Debug, PartialEq)]
enum Wait {
    Exited(i32),
    Signaled(i32),
}

/// Reaps `pid` (a descendant re-parented to us) within `timeout`.
#[track_caller]
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
                "waitpid({pid}): {} — the process is not a child of this (subreaper) test \
                 process, so a shim could not collect its status",
                std::io::Error::last_os_error()
            );
        }
        false
    });
    assert!(ok, "process {pid} did not exit within {timeout:?}");
    result.unwrap()
}

/// Reaps every child of this process that has exited in the pid namespace
/// of `init` (a container's): `(pid, comm, wait status)` of each.
fn reap_orphans_in(init: i32) -> Vec<(i32, String, Wait)> {
    zombie_children_in(&ns_link(init, "pid"))
        .into_iter()
        .map(|pid| (pid, comm(pid), reap(pid, SEC)))
        .collect()
}

/// The exited (zombie) children of this process in the pid namespace `ns`
/// (a `/proc/PID/ns/pid` link target).
fn zombie_children_in(ns: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for pid in all_pids() {
        if proc_state(pid) == Some('Z')
            && proc_stat_ids(pid).map(|i| i.0) == Some(me)
            && fs::read_link(format!("/proc/{pid}/ns/pid")).ok() == Some(PathBuf::from(ns))
        {
            out.push(pid);
        }
    }
    out
}

/// `/proc/PID/comm`, trimmed.
fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `pid (comm) state S ppid P wchan W` of each pid, for failure messages.
fn proc_report(pids: &[i32]) -> String {
    pids.iter()
        .map(|p| {
            let wchan = fs::read_to_string(format!("/proc/{p}/wchan")).unwrap_or_default();
            format!(
                "{p} ({}) state {:?} ppid {:?} wchan {wchan:?}",
                comm(*p),
                proc_state(*p),
                proc_stat_ids(*p).map(|i| i.0)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every live process descending from `root`.
fn descendants(root: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for pid in all_pids() {
        let mut p = pid;
        for _ in 0..64 {
            match proc_stat_ids(p) {
                Some((ppid, _, _)) if ppid == root => {
                    out.push(pid);
                    break;
                }
                Some((ppid, _, _)) if ppid > 1 => p = ppid,
                _ => break,
            }
        }
    }
    out
}

/// `/proc/PID/cgroup`.
fn proc_cgroup(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

/// The host directories of init's cgroups that belong to container `id`
/// (v1: `/sys/fs/cgroup/CONTROLLER/PATH`; v2: the unified hierarchy).
fn cgroup_dirs(id: &str, init: i32) -> Vec<PathBuf> {
    let text = proc_cgroup(init);
    let unified = if Path::new("/sys/fs/cgroup/unified").is_dir() {
        PathBuf::from("/sys/fs/cgroup/unified")
    } else {
        PathBuf::from("/sys/fs/cgroup")
    };
    let mut dirs = Vec::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if !path.contains(id) {
            continue;
        }
        let rel = path.trim_start_matches('/');
        let dir = if ctrls.is_empty() {
            unified.join(rel)
        } else {
            let whole = Path::new("/sys/fs/cgroup").join(ctrls.trim_start_matches("name="));
            let first = Path::new("/sys/fs/cgroup").join(
                ctrls
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("name="),
            );
            if whole.is_dir() {
                whole.join(rel)
            } else {
                first.join(rel)
            }
        };
        dirs.push(dir);
    }
    assert!(
        !dirs.is_empty(),
        "init {init} of {id} is in no cgroup of its own:\n{text}"
    );
    dirs
}

/// Live pids in the cgroup of container `id` that holds `init`.
#[track_caller]
fn container_procs(id: &str, init: i32) -> Vec<i32> {
    for d in cgroup_dirs(id, init) {
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        let mut v: Vec<i32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|p| pid_alive(*p))
            .collect();
        if v.contains(&init) {
            v.sort();
            return v;
        }
    }
    panic!(
        "no cgroup.procs of {id} holds init {init}:\n{}",
        proc_cgroup(init)
    );
}

const NAMESPACES: [&str; 7] = ["ipc", "uts", "net", "pid", "mnt", "cgroup", "user"];

/// The exec'd `pid` is in init's cgroups (all of them, and one named
/// after the container) and namespaces.
#[track_caller]
fn assert_same_cgroup_and_ns(id: &str, pid: i32, init: i32) {
    let (mine, theirs) = (proc_cgroup(pid), proc_cgroup(init));
    assert_eq!(
        mine, theirs,
        "exec'd process {pid} is not in the container's cgroups (init {init})"
    );
    assert!(
        theirs.contains(id),
        "init's cgroup does not name the container:\n{theirs}"
    );
    for ns in NAMESPACES {
        assert_eq!(
            ns_link(pid, ns),
            ns_link(init, ns),
            "exec'd process {pid} is not in the container's {ns} namespace"
        );
    }
    for ns in ["pid", "mnt", "uts", "net", "ipc"] {
        assert_ne!(
            ns_link(pid, ns),
            ns_link(0, ns),
            "the container's {ns} namespace is the host's"
        );
    }
}

/// After an exec (failed or finished): the container still runs and its
/// cgroup holds init only; no runwasm process for it is left.
#[track_caller]
fn assert_only_init(env: &TestEnv, id: &str, init: i32) {
    assert!(pid_alive(init), "init {init} of {id} died");
    let mut procs = Vec::new();
    let ok = wait_until(2 * SEC, || {
        procs = container_procs(id, init);
        procs == vec![init]
    });
    assert!(
        ok,
        "processes left in {id}'s cgroup besides init {init}: {:?}",
        procs
            .iter()
            .map(|p| format!("{p} ({})", comm(*p)))
            .collect::<Vec<_>>()
    );
    // A Wasm init is runwasm itself (hosting the VM): only it may remain.
    let left: Vec<_> = runwasm_processes_mentioning(&env.bin, id)
        .into_iter()
        .filter(|(p, _)| *p != init)
        .collect();
    assert!(left.is_empty(), "runwasm processes left: {left:#?}");
}

/// After the container is deleted: no state dir, no cgroup directory, no
/// process using the test's files, `state` says it does not exist.
#[track_caller]
fn assert_gone(env: &TestEnv, id: &str, cgroups: &[PathBuf]) {
    assert!(!env.state_dir(id).exists(), "state dir of {id} left");
    let left: Vec<&PathBuf> = cgroups.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroup directories left: {left:?}");
    env.run(&["state", id])
        .assert_failed_with(&["does not exist"]);
    let left = runwasm_processes_mentioning(&env.bin, id);
    assert!(left.is_empty(), "runwasm processes left: {left:#?}");
}

// ---------------------------------------------------------------------------
// Helpers: ptys and console sockets
// ---------------------------------------------------------------------------

/// A new pty pair (both close-on-exec, so no other test's child inherits
/// them): the master and the slave.
fn open_pty() -> (OwnedFd, File) {
    // SAFETY: plain libc pty calls; every fd is checked and then owned.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(m);
        assert!(
            libc::grantpt(m) == 0 && libc::unlockpt(m) == 0,
            "grantpt/unlockpt: {}",
            std::io::Error::last_os_error()
        );
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(
            s >= 0,
            "open pty slave: {}",
            std::io::Error::last_os_error()
        );
        (master, File::from_raw_fd(s))
    }
}

/// TIOCSWINSZ on a terminal fd.
fn set_winsize(fd: i32, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid winsize.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
}

/// The pty number of a master fd (TIOCGPTN), None if it is not a master.
fn pty_number(fd: &OwnedFd) -> Option<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    (r == 0).then_some(n)
}

/// Reads what a pty master delivers, with bounded waits.
struct PtyReader {
    fd: OwnedFd,
    buf: Vec<u8>,
    eof: bool,
}

impl PtyReader {
    fn new(fd: OwnedFd) -> PtyReader {
        PtyReader {
            fd,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Everything read so far, `\r\n` as `\n`.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).replace("\r\n", "\n")
    }

    /// Waits up to `timeout` for data and reads it; EOF (EIO once every
    /// slave fd is closed) sets `eof`.
    fn read_some(&mut self, timeout: Duration) {
        if self.eof {
            return;
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: poll on one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r <= 0 {
            return;
        }
        let mut chunk = [0u8; 4096];
        // SAFETY: reads into a stack buffer of the given length.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n > 0 {
            self.buf.extend_from_slice(&chunk[..n as usize]);
        } else if n == 0 {
            self.eof = true;
        } else {
            let e = std::io::Error::last_os_error();
            if !matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) {
                self.eof = true;
            }
        }
    }

    /// Reads until the text contains `needle`; false on EOF or timeout.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.text().contains(needle) {
                return true;
            }
            let now = Instant::now();
            if self.eof || now >= deadline {
                return false;
            }
            self.read_some(deadline - now);
        }
    }

    /// Reads until EOF; false on timeout.
    fn read_to_eof(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.eof {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.read_some(deadline - now);
        }
        true
    }

    fn write(&self, s: &str) {
        // SAFETY: writes from a valid buffer.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), s.as_ptr().cast(), s.len()) };
        assert_eq!(
            n,
            s.len() as isize,
            "write to the pty master: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// runwasm started on a pty of the test's, as a session leader whose
/// controlling terminal is the pty's slave (as a shell starts a program in
/// a terminal).
struct OnPty {
    child: Option<Child>,
    pty: PtyReader,
    log: PathBuf,
}

impl OnPty {
    /// Waits for runwasm's exit (reading the master meanwhile so it never
    /// blocks on a full terminal), then reads what is left.
    #[track_caller]
    fn finish(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("already finished");
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "runwasm on the test's pty did not finish within {timeout:?}; \
                     terminal: {:?}\nlog: {}",
                    self.pty.text(),
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            self.pty.read_some(Duration::from_millis(50));
        };
        self.child = None;
        self.pty.read_to_eof(2 * SEC);
        status
    }
}

impl Drop for OnPty {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `runwasm --root R --log L --log-format json ARGS…` with a new
/// pty's slave (window `rows`×`cols`) as stdin, stdout, stderr and
/// controlling terminal.
fn spawn_on_pty(env: &TestEnv, args: &[&str], rows: u16, cols: u16) -> OnPty {
    static N: AtomicUsize = AtomicUsize::new(0);
    let (master, slave) = open_pty();
    set_winsize(master.as_raw_fd(), rows, cols);
    let log = env.tmp().join(format!(
        "logs/pty-{}.json",
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let mut cmd = Command::new(&env.bin);
    cmd.arg("--root")
        .arg(&env.root)
        .arg("--log")
        .arg(&log)
        .arg("--log-format")
        .arg("json")
        .args(args)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: runs in the forked child before exec; setsid and ioctl are
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", env.bin.display()));
    // The Command holds copies of the slave: only runwasm may keep it open,
    // so that its exit shows as EOF on the master.
    drop(cmd);
    OnPty {
        child: Some(child),
        pty: PtyReader::new(master),
        log,
    }
}

/// A listening unix socket for `--console-socket` in the test's directory.
fn console_listener(env: &TestEnv, tag: &str) -> (UnixListener, PathBuf) {
    let path = env.tmp().join(format!("console-{tag}.sock"));
    let l = UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
    (l, path)
}

/// Accepts one connection within `timeout`.
fn accept_timeout(l: &UnixListener, timeout: Duration) -> Option<UnixStream> {
    l.set_nonblocking(true).unwrap();
    let mut conn = None;
    wait_until(timeout, || match l.accept() {
        Ok((s, _)) => {
            conn = Some(s);
            true
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept on the console socket: {e}"),
    });
    let s = conn?;
    s.set_nonblocking(false).unwrap();
    Some(s)
}

/// Receives one fd (SCM_RIGHTS) and its payload; waits at most 5 s unless
/// `flags` has MSG_DONTWAIT.
fn recv_fd(stream: &UnixStream, flags: i32) -> std::io::Result<(OwnedFd, Vec<u8>)> {
    if flags & libc::MSG_DONTWAIT == 0 {
        stream.set_read_timeout(Some(5 * SEC))?;
    }
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
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC | flags) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
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
    // SAFETY: the kernel just installed these fds in our table; we own them.
    let mut owned: Vec<OwnedFd> = fds
        .into_iter()
        .map(|f| unsafe { OwnedFd::from_raw_fd(f) })
        .collect();
    if owned.len() != 1 {
        return Err(std::io::Error::other(format!(
            "expected one fd, got {} (payload {:?})",
            owned.len(),
            String::from_utf8_lossy(&buf[..n as usize])
        )));
    }
    Ok((owned.remove(0), buf[..n as usize].to_vec()))
}
