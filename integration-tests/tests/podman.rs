//! Issue 5, item 4: podman driving runwasm, the way docs/podman.md sets it
//! up. The tests write a private `containers.conf` (`[engine.runtimes]
//! runwasm`, `runtime_supports_json`, `platform_to_oci_runtime` for
//! `wasi/wasm`, ulimits that fit this machine, cgroupfs, file events) and
//! `storage.conf` (graphroot/runroot in a temporary directory), point
//! `CONTAINERS_CONF` / `CONTAINERS_STORAGE_CONF` at them, build the images
//! offline with buildah (a `wasi/wasm` image from scratch holding the test
//! modules, and a native busybox image), and run them through the real
//! podman/conmon: run, exit codes, run -d + logs, stop (a Wasm container
//! stops in under 2 s), kill, pause/unpause, restart, rm, -t, -i, exec,
//! volumes, `--platform wasi/wasm` picking runwasm by itself, Wasm detected
//! by magic bytes, the default bridge network, the Wasm HTTP server reached
//! through a published port (`-p HOSTPORT:8080`), and after `rm`: no state
//! in runwasm's root, no cgroup, no mount, no process.
//!
//! podman passes no `--root`, so runwasm uses its default `/run/runwasm`.
//! Every test skips with a printed reason when podman or buildah is missing
//! (`scripts/setup-podman.sh` installs them) or when not root.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{
    assert_http_hello, busybox, euid, free_port, http_get_until, http_hello_peers, loopback,
    module, ns_link, pid_alive, refused, runwasm_bin, runwasm_processes_mentioning, wait_until,
};

/// The Wasm image of docs/podman.md: `/hello.wasm` as entrypoint,
/// `wasi/wasm`, `module.wasm.image/variant=compat`.
const HELLO: &str = "localhost/runwasm-test/hello:latest";
/// A `wasi/wasm` image holding every test module at `/NAME.wasm` (and a
/// `/tmp`), no entrypoint, cmd `/hello.wasm`.
const MODULES: &str = "localhost/runwasm-test/modules:latest";
/// A `linux/amd64` image without annotations whose entrypoint `/app` is a
/// Wasm module without the `.wasm` suffix (what Docker 20.10 and podman
/// without annotations hand over): only the magic bytes say it is Wasm.
const MAGIC: &str = "localhost/runwasm-test/magic:latest";
/// The HTTP server of docs/podman.md's published-port example:
/// `/http_hello.wasm` (modules/http_hello.c) as entrypoint, `wasi/wasm`;
/// built by the test that uses it.
const HTTP: &str = "localhost/runwasm-test/http-hello:latest";
/// A native image: the host's static busybox with its applets linked in
/// `/bin`, cmd `/bin/sh`.
const BUSYBOX: &str = "localhost/runwasm-test/busybox:latest";

/// runwasm's default state root (podman passes no `--root`).
const RUNWASM_ROOT: &str = "/run/runwasm";

/// How long a Wasm container may take to stop after `podman stop`.
const STOP_LIMIT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// Wasm: run, exit codes, args/env, volumes
// ---------------------------------------------------------------------------

#[test]
fn podman_wasm_run_prints_module_output() {
    let Some(p) = Podman::get("podman_wasm_run_prints_module_output") else {
        return;
    };
    let name = p.name("hello");
    let out = p.podman_s(&format!(
        "run --rm --runtime runwasm --network none --name {name} {HELLO}"
    ));
    out.assert_code(0);
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    // --rm removed it (and its --cidfile): the event log still has its id.
    let ev = p.podman(&[
        "events",
        "--stream=false",
        "--since",
        "5m",
        "--filter",
        &format!("container={name}"),
        "--filter",
        "event=remove",
        "--format",
        "{{.ID}}",
    ]);
    ev.assert_code(0);
    let id = ev
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert_gone(p, &id, None);
}

#[test]
fn podman_wasm_exit_codes_propagate() {
    let Some(p) = Podman::get("podman_wasm_exit_codes_propagate") else {
        return;
    };
    for (args, code) in [
        ("/exit_code.wasm 3", 3),
        ("/exit_code.wasm 0", 0),
        ("/exit_code.wasm 42", 42),
        // A trap is SIGABRT's status.
        ("/trap.wasm", 134),
    ] {
        p.podman_s(&format!(
            "run --rm --runtime runwasm --network none {MODULES} {args}"
        ))
        .assert_code(code);
    }
    // Also through `podman wait` on a detached container, and `inspect`.
    let c = p.container("exit3");
    p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {MODULES} /exit_code.wasm 3",
        c.name
    ))
    .assert_code(0);
    let out = p.podman_s(&format!("wait {}", c.name));
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), "3", "{out}");
    assert_eq!(p.inspect(&c.name, "{{.State.ExitCode}}"), "3");
}

#[test]
fn podman_wasm_args_env_and_volume() {
    let Some(p) = Podman::get("podman_wasm_args_env_and_volume") else {
        return;
    };
    let out = p.podman(&[
        "run",
        "--rm",
        "--runtime",
        "runwasm",
        "--network",
        "none",
        "-e",
        "GREETING=hi there",
        MODULES,
        "/echo.wasm",
        "one",
        "two words",
    ]);
    out.assert_code(0);
    for needle in [
        "arg[0]=/echo.wasm\n",
        "arg[1]=one\n",
        "arg[2]=two words\n",
        "env:GREETING=hi there\n",
        "env:container=podman\n",
    ] {
        assert!(
            out.stdout.contains(needle),
            "no {needle:?} in the module's output: {out}"
        );
    }
    // No host environment leaks into the guest.
    assert!(
        !out.stdout.contains("CONTAINERS_CONF"),
        "host env leaked into the module: {out}"
    );

    // A volume appears at its container path.
    let vol = p.dir.join(p.name("vol"));
    fs::create_dir_all(&vol).unwrap();
    let spec = format!("{}:/data", vol.display());
    let out = p.podman(&[
        "run",
        "--rm",
        "--runtime",
        "runwasm",
        "--network",
        "none",
        "-v",
        &spec,
        MODULES,
        "/write_file.wasm",
        "/data/out.txt",
        "written by wasm",
    ]);
    out.assert_code(0);
    assert_eq!(
        fs::read_to_string(vol.join("out.txt")).unwrap(),
        "written by wasm"
    );
}

/// runc sets HOME when the process's environment has none (or an empty
/// one): the user's home from the rootfs's /etc/passwd, else "/". podman
/// relies on it: for an image without /etc/passwd it puts `HOME=` (empty)
/// in config.json and runc's containers see `HOME=/`.
#[test]
fn podman_home_defaults_like_runc() {
    let Some(p) = Podman::get("podman_home_defaults_like_runc") else {
        return;
    };
    let out = p.podman_s(&format!(
        "run --rm --runtime runwasm --network none {MODULES} /echo.wasm"
    ));
    out.assert_code(0);
    assert!(
        out.stdout.contains("env:HOME=/\n"),
        "a Wasm module should see HOME=/ as under runc: {out}"
    );
    let out = p.podman_s(&format!(
        "run --rm --runtime runwasm --network none {BUSYBOX} env"
    ));
    out.assert_code(0);
    assert!(
        out.stdout.contains("HOME=/\n"),
        "a native process should see HOME=/ as under runc: {out}"
    );
}

#[test]
fn podman_wasm_detected_by_magic_bytes() {
    let Some(p) = Podman::get("podman_wasm_detected_by_magic_bytes") else {
        return;
    };
    // linux/amd64, no annotation, entrypoint `/app` without `.wasm`.
    let out = p.podman_s(&format!(
        "run --rm --runtime runwasm --network none {MAGIC}"
    ));
    out.assert_code(0);
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
}

// ---------------------------------------------------------------------------
// Wasm: detached, logs, stop, kill, pause, restart, rm
// ---------------------------------------------------------------------------

#[test]
fn podman_wasm_detached_and_logs() {
    let Some(p) = Podman::get("podman_wasm_detached_and_logs") else {
        return;
    };
    // A module that has finished: logs hold its whole output.
    let c = p.container("done");
    let out = p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {HELLO}",
        c.name
    ));
    out.assert_code(0);
    assert_eq!(
        out.stdout.trim().len(),
        64,
        "run -d prints the container id: {out}"
    );
    p.podman_s(&format!("wait {}", c.name)).assert_code(0);
    let logs = p.podman_s(&format!("logs {}", c.name));
    logs.assert_code(0);
    assert_eq!(logs.stdout, "Hello from Wasm!\n", "{logs}");

    // A running module: logs show what it printed so far.
    let c2 = p.container("running");
    p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {MODULES} /sleep.wasm 60",
        c2.name
    ))
    .assert_code(0);
    assert!(
        p.wait_logs(&c2.name, "sleeping", Duration::from_secs(5)),
        "no 'sleeping' in the logs"
    );
    assert_eq!(p.inspect(&c2.name, "{{.State.Status}}"), "running");
    let ps = p.podman(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.stdout.contains(&format!("{} Up", c2.name)), "{ps}");
}

#[test]
fn podman_wasm_stop_is_fast() {
    let Some(p) = Podman::get("podman_wasm_stop_is_fast") else {
        return;
    };
    // A tight loop without syscalls, and a module blocked in poll_oneoff.
    for (what, args, marker) in [
        ("spin", "/spin.wasm", "spinning"),
        ("sleep", "/sleep.wasm 600", "sleeping"),
    ] {
        let c = p.container(what);
        p.podman_s(&format!(
            "run -d --runtime runwasm --network none --name {} {MODULES} {args}",
            c.name
        ))
        .assert_code(0);
        assert!(
            p.wait_logs(&c.name, marker, Duration::from_secs(5)),
            "{what}: no {marker:?} in the logs"
        );
        p.stop_quickly(&c.name, &format!("the {what} module"));
        assert_eq!(p.inspect(&c.name, "{{.State.Status}}"), "exited");
        assert_eq!(
            p.inspect(&c.name, "{{.State.ExitCode}}"),
            "143",
            "{what}: SIGTERM is 128+15"
        );
        let cap = Captured::new(p, &c.name);
        p.podman_s(&format!("rm {}", c.name)).assert_code(0);
        assert_gone(p, &cap.id, Some(&cap));
    }
}

#[test]
fn podman_wasm_kill() {
    let Some(p) = Podman::get("podman_wasm_kill") else {
        return;
    };
    for (sig, code) in [
        (None, 137),
        (Some("TERM"), 143),
        (Some("INT"), 130),
        (Some("HUP"), 129),
    ] {
        let c = p.container(&format!("kill{}", sig.unwrap_or("default").to_lowercase()));
        p.podman_s(&format!(
            "run -d --runtime runwasm --network none --name {} {MODULES} /spin.wasm",
            c.name
        ))
        .assert_code(0);
        assert!(p.wait_logs(&c.name, "spinning", Duration::from_secs(5)));
        let signal = sig.map(|s| format!("--signal {s}")).unwrap_or_default();
        p.podman_s(&format!("kill {signal} {}", c.name))
            .assert_code(0);
        let out = p.podman_s(&format!("wait {}", c.name));
        out.assert_code(0);
        assert_eq!(out.stdout.trim(), code.to_string(), "kill {sig:?}: {out}");
    }
}

#[test]
fn podman_wasm_pause_unpause() {
    let Some(p) = Podman::get("podman_wasm_pause_unpause") else {
        return;
    };
    let c = p.container("pause");
    p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {MODULES} /spin.wasm",
        c.name
    ))
    .assert_code(0);
    assert!(p.wait_logs(&c.name, "spinning", Duration::from_secs(5)));
    let pid: i32 = p.inspect(&c.name, "{{.State.Pid}}").parse().unwrap();

    p.podman_s(&format!("pause {}", c.name)).assert_code(0);
    assert_eq!(p.inspect(&c.name, "{{.State.Status}}"), "paused");
    let t0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    let t1 = cpu_ticks(pid);
    assert_eq!(
        t0, t1,
        "the paused module kept using CPU ({t0} -> {t1} ticks)"
    );

    p.podman_s(&format!("unpause {}", c.name)).assert_code(0);
    assert_eq!(p.inspect(&c.name, "{{.State.Status}}"), "running");
    assert!(
        wait_until(Duration::from_secs(3), || cpu_ticks(pid) > t1),
        "the module did not run again after unpause"
    );
    p.stop_quickly(&c.name, "the module after unpause");
}

#[test]
fn podman_wasm_restart() {
    let Some(p) = Podman::get("podman_wasm_restart") else {
        return;
    };
    let c = p.container("restart");
    p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {MODULES} /sleep.wasm 60",
        c.name
    ))
    .assert_code(0);
    assert!(p.wait_logs(&c.name, "sleeping", Duration::from_secs(5)));
    let pid1 = p.inspect(&c.name, "{{.State.Pid}}");
    let out = p.podman_s(&format!("restart {}", c.name));
    out.assert_code(0);
    assert!(
        out.elapsed < STOP_LIMIT + Duration::from_secs(2),
        "restart took {:?}",
        out.elapsed
    );
    assert_eq!(p.inspect(&c.name, "{{.State.Status}}"), "running");
    assert_ne!(
        p.inspect(&c.name, "{{.State.Pid}}"),
        pid1,
        "restart kept the old process"
    );
    assert!(
        wait_until(Duration::from_secs(5), || p
            .podman(&["logs", &c.name])
            .stdout
            .matches("sleeping")
            .count()
            == 2),
        "the restarted module did not print again: {}",
        p.podman_s(&format!("logs {}", c.name))
    );
}

#[test]
fn podman_wasm_rm_leaves_nothing() {
    let Some(p) = Podman::get("podman_wasm_rm_leaves_nothing") else {
        return;
    };
    // rm -f of a running container.
    let c = p.container("rmf");
    p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {MODULES} /spin.wasm",
        c.name
    ))
    .assert_code(0);
    assert!(p.wait_logs(&c.name, "spinning", Duration::from_secs(5)));
    let cap = Captured::new(p, &c.name);
    assert!(
        Path::new(RUNWASM_ROOT).join(&cap.id).is_dir(),
        "runwasm's state for {} is not in {RUNWASM_ROOT}",
        cap.id
    );
    assert!(
        cap.cgroup_dirs().iter().any(|d| d.is_dir()),
        "no cgroup dir {} while running",
        cap.cgroups_path
    );
    // The checks after rm look for these: make sure they are real.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mounts.contains(&cap.rootfs),
        "the rootfs {} is not mounted while running",
        cap.rootfs
    );
    assert!(pid_alive(cap.pid) && pid_alive(cap.conmon_pid));
    let out = p.podman_s(&format!("rm -f -t 0 {}", c.name));
    out.assert_code(0);
    assert_gone(p, &cap.id, Some(&cap));

    // rm of a container that exited on its own.
    let c2 = p.container("rmexited");
    p.podman_s(&format!(
        "run --runtime runwasm --network none --name {} {HELLO}",
        c2.name
    ))
    .assert_code(0);
    let cap2 = Captured::new(p, &c2.name);
    p.podman_s(&format!("rm {}", c2.name)).assert_code(0);
    assert_gone(p, &cap2.id, Some(&cap2));
}

// ---------------------------------------------------------------------------
// Terminals and exec
// ---------------------------------------------------------------------------

#[test]
fn podman_wasm_tty() {
    let Some(p) = Podman::get("podman_wasm_tty") else {
        return;
    };
    let out = p.podman_s(&format!(
        "run --rm -t --runtime runwasm --network none {HELLO}"
    ));
    out.assert_code(0);
    // The module wrote to a pty: the line discipline turned \n into \r\n.
    assert!(
        out.stdout.contains("Hello from Wasm!\r\n"),
        "no pty output: {out}"
    );
    let out = p.podman_s(&format!(
        "run --rm -t --runtime runwasm --network none {MODULES} /exit_code.wasm 3"
    ));
    out.assert_code(3);
    // Detached with a terminal: the output reaches the logs.
    let c = p.container("ttyd");
    p.podman_s(&format!(
        "run -d -t --runtime runwasm --network none --name {} {HELLO}",
        c.name
    ))
    .assert_code(0);
    p.podman_s(&format!("wait {}", c.name)).assert_code(0);
    let logs = p.podman_s(&format!("logs {}", c.name));
    assert!(logs.stdout.contains("Hello from Wasm!"), "{logs}");
}

#[test]
fn podman_wasm_exec() {
    let Some(p) = Podman::get("podman_wasm_exec") else {
        return;
    };
    let c = p.container("exec");
    p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {MODULES} /sleep.wasm 120",
        c.name
    ))
    .assert_code(0);
    assert!(p.wait_logs(&c.name, "sleeping", Duration::from_secs(5)));

    // Foreground: argv, env, output.
    let out = p.podman_s(&format!("exec -e FOO=bar {} /echo.wasm in exec", c.name));
    out.assert_code(0);
    for needle in [
        "arg[0]=/echo.wasm\n",
        "arg[1]=in\n",
        "arg[2]=exec\n",
        "env:FOO=bar\n",
    ] {
        assert!(
            out.stdout.contains(needle),
            "no {needle:?} in the exec'd module's output: {out}"
        );
    }
    // Exit code.
    p.podman_s(&format!("exec {} /exit_code.wasm 5", c.name))
        .assert_code(5);
    // Working directory: a relative path resolves against -w.
    p.podman(&[
        "exec",
        "-w",
        "/tmp",
        &c.name,
        "/write_file.wasm",
        "rel.txt",
        "in tmp",
    ])
    .assert_code(0);
    let out = p.podman_s(&format!("exec {} /read_file.wasm /tmp/rel.txt", c.name));
    out.assert_code(0);
    assert_eq!(out.stdout, "in tmp", "{out}");
    // Terminal.
    let out = p.podman_s(&format!("exec -t {} /hello.wasm", c.name));
    out.assert_code(0);
    assert!(
        out.stdout.contains("Hello from Wasm!\r\n"),
        "no pty output from exec -t: {out}"
    );
    // Detached: the module runs on after podman returns.
    let out = p.podman_s(&format!(
        "exec -d {} /write_file.wasm /tmp/detached.txt detached",
        c.name
    ));
    out.assert_code(0);
    assert!(
        wait_until(Duration::from_secs(5), || {
            p.podman_s(&format!(
                "exec {} /read_file.wasm /tmp/detached.txt",
                c.name
            ))
            .stdout
                == "detached"
        }),
        "the detached exec did not write /tmp/detached.txt"
    );
    // The container's own module is untouched by all that.
    assert_eq!(p.inspect(&c.name, "{{.State.Status}}"), "running");
    p.stop_quickly(&c.name, "the module after the execs");
}

/// runc's exec of a missing program fails with "no such file or
/// directory", which podman maps to 127 (command not found).
#[test]
fn podman_wasm_exec_missing_module_is_127() {
    let Some(p) = Podman::get("podman_wasm_exec_missing_module_is_127") else {
        return;
    };
    let c = p.container("execmissing");
    p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {MODULES} /sleep.wasm 120",
        c.name
    ))
    .assert_code(0);
    assert!(p.wait_logs(&c.name, "sleeping", Duration::from_secs(5)));
    let out = p.podman_s(&format!("exec {} /nope.wasm", c.name));
    out.assert_code(127);
    // And as the container's own process (create).
    let out = p.podman_s(&format!(
        "run --rm --runtime runwasm --network none {MODULES} /nope.wasm"
    ));
    out.assert_code(127);
}

// ---------------------------------------------------------------------------
// Runtime selection by platform
// ---------------------------------------------------------------------------

#[test]
fn podman_platform_wasi_wasm_picks_runwasm() {
    let Some(p) = Podman::get("podman_platform_wasi_wasm_picks_runwasm") else {
        return;
    };
    if p.version < (4, 4) {
        skip(&format!(
            "SKIPPED podman_platform_wasi_wasm_picks_runwasm: podman {}.{} has no \
             platform_to_oci_runtime (needs >= 4.4; scripts/setup-podman.sh installs 5.4)",
            p.version.0, p.version.1
        ));
        return;
    }
    // No --runtime: [engine.platform_to_oci_runtime] "wasi/wasm" = "runwasm".
    let c = p.container("platform");
    let out = p.podman_s(&format!(
        "run --platform wasi/wasm --network none --name {} {HELLO}",
        c.name
    ));
    out.assert_code(0);
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    assert_eq!(p.inspect(&c.name, "{{.OCIRuntime}}"), "runwasm");
    // The image's own platform is enough (podman warns that it differs
    // from the host's).
    let c2 = p.container("platform2");
    p.podman_s(&format!("run --network none --name {} {HELLO}", c2.name))
        .assert_code(0);
    assert_eq!(p.inspect(&c2.name, "{{.OCIRuntime}}"), "runwasm");
    // A linux/amd64 image keeps the default runtime.
    let c3 = p.container("platform3");
    let out = p.podman_s(&format!(
        "create --network none --name {} {BUSYBOX} true",
        c3.name
    ));
    out.assert_code(0);
    assert_ne!(
        p.inspect(&c3.name, "{{.OCIRuntime}}"),
        "runwasm",
        "a native image was given runwasm"
    );
}

// ---------------------------------------------------------------------------
// Networking
// ---------------------------------------------------------------------------

/// podman's default network: netavark makes a network namespace under
/// /run/netns and config.json names it by path; runwasm joins it.
#[test]
fn podman_wasm_default_bridge_network() {
    let Some(p) = Podman::get("podman_wasm_default_bridge_network") else {
        return;
    };
    let c = p.container("bridge");
    p.podman_s(&format!(
        "run -d --runtime runwasm --name {} {MODULES} /sleep.wasm 60",
        c.name
    ))
    .assert_code(0);
    assert!(p.wait_logs(&c.name, "sleeping", Duration::from_secs(5)));
    let cap = Captured::new(p, &c.name);
    let netns = cap
        .netns
        .clone()
        .expect("a bridge container has a network namespace path");
    let pid: i32 = p.inspect(&c.name, "{{.State.Pid}}").parse().unwrap();
    let want = fs::metadata(&netns)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    let have = fs::metadata(format!("/proc/{pid}/ns/net"))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    assert_eq!(
        want, have,
        "the container is not in podman's network namespace {netns}"
    );
    let ip = p.inspect(&c.name, "{{.NetworkSettings.IPAddress}}");
    assert!(!ip.is_empty(), "no IP address on the bridge");
    p.podman_s(&format!("rm -f -t 0 {}", c.name)).assert_code(0);
    assert_gone(p, &cap.id, Some(&cap));
}

/// Issue 5, item 3 through podman: the Wasm HTTP server
/// (`modules/http_hello.c`) on podman's default bridge network with
/// `-p HOSTPORT:8080`, fetched from the host at `127.0.0.1:HOSTPORT`, as
/// docs/podman.md shows. netavark forwards the port (DNAT in its nftables
/// table `inet netavark`; conmon only holds the host port open), so the
/// module sees the request come from the bridge's gateway, masqueraded.
#[test]
fn podman_wasm_http_server_through_a_published_port() {
    const TEST: &str = "podman_wasm_http_server_through_a_published_port";
    let Some(p) = Podman::get(TEST) else {
        return;
    };
    // The image, as docs/podman.md builds it.
    let c = p.buildah_ok(&["from", "scratch"]).unwrap();
    p.buildah_ok(&[
        "copy",
        &c,
        module("http_hello").to_str().unwrap(),
        "/http_hello.wasm",
    ])
    .unwrap();
    p.buildah_ok(&[
        "config",
        "--os",
        "wasi",
        "--arch",
        "wasm",
        "--entrypoint",
        r#"["/http_hello.wasm"]"#,
        "--annotation",
        "module.wasm.image/variant=compat",
        &c,
    ])
    .unwrap();
    p.buildah_ok(&["commit", "--rm", &c, HTTP]).unwrap();

    let port = free_port();
    let publish = format!("{port}:8080");
    let c = p.container("web");
    let run = p.podman(&[
        "run",
        "-d",
        "--runtime",
        "runwasm",
        "--name",
        &c.name,
        "-p",
        &publish,
        HTTP,
    ]);
    if run.code != 0 && netavark_firewall_failed(&run.stderr) {
        skip(&format!(
            "SKIPPED {TEST}: podman cannot publish ports on this machine: netavark's \
             firewall set-up failed (see docs/podman.md, Troubleshooting): {}",
            run.stderr.trim()
        ));
        return;
    }
    run.assert_code(0);
    assert_eq!(p.inspect(&c.name, "{{.OCIRuntime}}"), "runwasm");
    assert!(
        p.wait_logs(
            &c.name,
            "listening on 0.0.0.0:8080\n",
            Duration::from_secs(5)
        ),
        "http_hello never listened: {}",
        p.podman_s(&format!("logs {}", c.name))
    );
    let ports = p.podman_s(&format!("port {}", c.name));
    ports.assert_code(0);
    assert_eq!(
        ports.stdout.trim(),
        format!("8080/tcp -> 0.0.0.0:{port}"),
        "{ports}"
    );
    let cap = Captured::new(p, &c.name);
    let pid: i32 = p.inspect(&c.name, "{{.State.Pid}}").parse().unwrap();
    assert_ne!(
        ns_link(pid, "net"),
        ns_link(0, "net"),
        "the server is in the host's network namespace: the port would not need publishing"
    );
    let firewall = netavark_nft();
    if let Some(rules) = &firewall {
        assert!(
            rules.contains(&format!("dport {port} ")),
            "no DNAT rule for port {port} in netavark's table:\n{rules}"
        );
    }

    let resp = http_get_until(loopback(port), "/", Duration::from_secs(10)).unwrap_or_else(|e| {
        panic!(
            "GET http://127.0.0.1:{port}/: {e}\n{}",
            p.podman_s(&format!("logs {}", c.name))
        )
    });
    let logs = p.podman_s(&format!("logs {}", c.name));
    assert_http_hello(&resp, &logs);
    // The request crossed the bridge: netavark masquerades a connection
    // from the host's loopback to the bridge's gateway address.
    let gateway = p.inspect(&c.name, "{{.NetworkSettings.Gateway}}");
    assert!(
        wait_until(Duration::from_secs(2), || http_hello_peers(
            &p.podman(&["logs", &c.name]).stdout
        ) == [gateway.clone()]),
        "the module should have served one request from the gateway {gateway}: {}",
        p.podman_s(&format!("logs {}", c.name))
    );

    p.stop_quickly(&c.name, "the serving module");
    assert_eq!(p.inspect(&c.name, "{{.State.ExitCode}}"), "143");
    p.podman_s(&format!("rm {}", c.name)).assert_code(0);
    assert_gone(p, &cap.id, Some(&cap));
    assert!(
        refused(loopback(port)),
        "127.0.0.1:{port} still accepts connections after rm"
    );
    if firewall.is_some() {
        let rules = netavark_nft().unwrap_or_default();
        assert!(
            !rules.contains(&format!("dport {port} ")),
            "netavark's DNAT rule for port {port} is left after rm:\n{rules}"
        );
    }
}

/// Whether podman's error is netavark failing to set up its firewall rules
/// (no `nft`/`iptables`, or a kernel without the netfilter support).
fn netavark_firewall_failed(stderr: &str) -> bool {
    stderr.contains("netavark")
        && ["nftables", "iptables", "firewall", "nft:"]
            .iter()
            .any(|w| stderr.contains(w))
}

/// netavark's nftables table (`nft list table inet netavark`), when it
/// uses nftables on this machine.
fn netavark_nft() -> Option<String> {
    which("nft")?;
    let out = run_cmd(
        Command::new("nft").args(["list", "table", "inet", "netavark"]),
        None,
        Duration::from_secs(10),
    );
    (out.code == 0).then_some(out.stdout)
}

// ---------------------------------------------------------------------------
// Native busybox image
// ---------------------------------------------------------------------------

#[test]
fn podman_native_busybox() {
    let Some(p) = Podman::get("podman_native_busybox") else {
        return;
    };
    // Foreground, exit code.
    let out = p.podman(&[
        "run",
        "--rm",
        "--runtime",
        "runwasm",
        "--network",
        "none",
        BUSYBOX,
        "sh",
        "-c",
        "echo hello from busybox; exit 4",
    ]);
    out.assert_code(4);
    assert_eq!(out.stdout, "hello from busybox\n", "{out}");
    // Interactive stdin.
    let out = p.podman_stdin(
        &[
            "run",
            "--rm",
            "-i",
            "--runtime",
            "runwasm",
            "--network",
            "none",
            BUSYBOX,
            "cat",
        ],
        b"piped in\n",
    );
    out.assert_code(0);
    assert_eq!(out.stdout, "piped in\n", "{out}");
    // Terminal.
    let out = p.podman(&[
        "run",
        "--rm",
        "-t",
        "--runtime",
        "runwasm",
        "--network",
        "none",
        BUSYBOX,
        "sh",
        "-c",
        "tty; exit 6",
    ]);
    out.assert_code(6);
    assert!(
        out.stdout.starts_with("/dev/pts/") && out.stdout.ends_with("\r\n"),
        "not a pty: {out}"
    );

    // Detached: logs, exec, pause/unpause, stop, rm.
    let c = p.container("bb");
    p.podman(&[
        "run",
        "-d",
        "--runtime",
        "runwasm",
        "--network",
        "none",
        "--name",
        &c.name,
        BUSYBOX,
        "sh",
        "-c",
        "trap 'echo got TERM; exit 0' TERM; echo started; while :; do sleep 0.1; done",
    ])
    .assert_code(0);
    assert!(p.wait_logs(&c.name, "started", Duration::from_secs(5)));
    let out = p.podman(&[
        "exec",
        "-e",
        "FOO=bar",
        &c.name,
        "sh",
        "-c",
        "echo FOO=$FOO; exit 7",
    ]);
    out.assert_code(7);
    assert_eq!(out.stdout, "FOO=bar\n", "{out}");
    let out = p.podman_s(&format!("exec -t {} tty", c.name));
    out.assert_code(0);
    assert!(
        out.stdout.starts_with("/dev/pts/"),
        "exec -t is not on a pty: {out}"
    );
    let out = p.podman_s(&format!("exec {} cat /proc/1/cmdline", c.name));
    assert!(
        out.stdout.starts_with("sh\0-c\0trap"),
        "pid 1 is not the container's process: {out}"
    );

    p.podman_s(&format!("pause {}", c.name)).assert_code(0);
    assert_eq!(p.inspect(&c.name, "{{.State.Status}}"), "paused");
    p.podman_s(&format!("unpause {}", c.name)).assert_code(0);
    assert_eq!(p.inspect(&c.name, "{{.State.Status}}"), "running");

    p.stop_quickly(&c.name, "the paused and resumed module");
    assert_eq!(p.inspect(&c.name, "{{.State.ExitCode}}"), "0");
    assert!(p
        .podman_s(&format!("logs {}", c.name))
        .stdout
        .contains("got TERM"));
    let cap = Captured::new(p, &c.name);
    p.podman_s(&format!("rm {}", c.name)).assert_code(0);
    assert_gone(p, &cap.id, Some(&cap));

    // kill.
    let c2 = p.container("bbkill");
    p.podman_s(&format!(
        "run -d --runtime runwasm --network none --name {} {BUSYBOX} sleep 600",
        c2.name
    ))
    .assert_code(0);
    p.podman_s(&format!("kill {}", c2.name)).assert_code(0);
    let out = p.podman_s(&format!("wait {}", c2.name));
    assert_eq!(out.stdout.trim(), "137", "{out}");
}

// ===========================================================================
// Helpers
// ===========================================================================

/// A private podman set-up shared by the tests of this file: containers.conf,
/// storage.conf, storage and podman's tmp dir in one temporary directory,
/// removed when the test process exits.
struct Podman {
    dir: PathBuf,
    env: Vec<(String, String)>,
    version: (u32, u32),
}

static PODMAN: OnceLock<Result<Podman, String>> = OnceLock::new();
static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Podman {
    /// The shared set-up, or None (after printing why) when the test must
    /// be skipped.
    fn get(test: &str) -> Option<&'static Podman> {
        let uid = euid();
        if uid != 0 {
            skip(&format!(
                "SKIPPED {test}: podman tests run rootful podman and must run as root (euid {uid})"
            ));
            return None;
        }
        for tool in ["podman", "buildah", "conmon"] {
            if which(tool).is_none() {
                skip(&format!(
                    "SKIPPED {test}: {tool} is not installed (run scripts/setup-podman.sh as root to install \
                     podman, buildah, skopeo and conmon)"
                ));
                return None;
            }
        }
        match PODMAN.get_or_init(Podman::init) {
            Ok(p) => Some(p),
            Err(e) => panic!("setting up podman for the tests failed: {e}"),
        }
    }

    fn init() -> Result<Podman, String> {
        remove_stale_dirs();
        let dir = PathBuf::from(format!("/tmp/runwasm-podman-tests.{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(cleanup_at_exit) };

        let runwasm = fs::canonicalize(runwasm_bin()).unwrap();
        let conf = dir.join("containers.conf");
        fs::write(&conf, containers_conf(&runwasm, &dir)).unwrap();
        let storage = dir.join("storage.conf");
        let driver = if is_overlayfs(Path::new("/tmp")) {
            "vfs"
        } else {
            "overlay"
        };
        fs::write(
            &storage,
            format!(
                "[storage]\ndriver = \"{driver}\"\ngraphroot = \"{0}/storage\"\nrunroot = \"{0}/run\"\n",
                dir.display()
            ),
        )
        .unwrap();
        let env = vec![
            ("CONTAINERS_CONF".to_string(), conf.display().to_string()),
            (
                "CONTAINERS_STORAGE_CONF".to_string(),
                storage.display().to_string(),
            ),
            // cgroup v1 is deprecated in podman 5 and it says so on every call.
            (
                "PODMAN_IGNORE_CGROUPSV1_WARNING".to_string(),
                "1".to_string(),
            ),
        ];
        let mut p = Podman {
            dir,
            env,
            version: (0, 0),
        };
        let v = p.podman_s("--version");
        if v.code != 0 {
            return Err(format!("podman --version failed: {v}"));
        }
        p.version =
            parse_version(&v.stdout).ok_or_else(|| format!("cannot parse {:?}", v.stdout))?;
        p.build_images()?;
        Ok(p)
    }

    /// The images, built offline as docs/podman.md does.
    fn build_images(&self) -> Result<(), String> {
        let stage = self.dir.join("stage");
        // hello: the docs' recipe.
        let c = self.buildah_ok(&["from", "scratch"])?;
        self.buildah_ok(&["copy", &c, module("hello").to_str().unwrap(), "/hello.wasm"])?;
        self.buildah_ok(&[
            "config",
            "--os",
            "wasi",
            "--arch",
            "wasm",
            "--entrypoint",
            r#"["/hello.wasm"]"#,
            "--annotation",
            "module.wasm.image/variant=compat",
            &c,
        ])?;
        self.buildah_ok(&["commit", "--rm", &c, HELLO])?;

        // modules: every test module, and a /tmp.
        let mods = stage.join("modules");
        fs::create_dir_all(mods.join("tmp")).unwrap();
        set_mode(&mods.join("tmp"), 0o1777);
        for m in [
            "hello",
            "exit_code",
            "spin",
            "sleep",
            "echo",
            "write_file",
            "read_file",
            "trap",
        ] {
            fs::copy(module(m), mods.join(format!("{m}.wasm"))).unwrap();
        }
        let c = self.buildah_ok(&["from", "scratch"])?;
        self.buildah_ok(&["copy", &c, &format!("{}/", mods.display()), "/"])?;
        self.buildah_ok(&[
            "config",
            "--os",
            "wasi",
            "--arch",
            "wasm",
            "--cmd",
            r#"["/hello.wasm"]"#,
            "--annotation",
            "module.wasm.image/variant=compat",
            &c,
        ])?;
        self.buildah_ok(&["commit", "--rm", &c, MODULES])?;

        // magic: linux/amd64, no annotation, /app.
        let c = self.buildah_ok(&["from", "scratch"])?;
        self.buildah_ok(&["copy", &c, module("hello").to_str().unwrap(), "/app"])?;
        self.buildah_ok(&["config", "--entrypoint", r#"["/app"]"#, &c])?;
        self.buildah_ok(&["commit", "--rm", &c, MAGIC])?;

        // busybox: /bin/busybox and its applets as symlinks.
        let bb = stage.join("busybox");
        fs::create_dir_all(bb.join("bin")).unwrap();
        fs::create_dir_all(bb.join("tmp")).unwrap();
        set_mode(&bb.join("tmp"), 0o1777);
        fs::copy(busybox(), bb.join("bin/busybox")).unwrap();
        // (`busybox --install -s` would point them at the host's path.)
        let out = run_cmd(
            Command::new(busybox()).arg("--list"),
            None,
            Duration::from_secs(10),
        );
        if out.code != 0 {
            return Err(format!("busybox --list: {out}"));
        }
        for applet in out.stdout.split_whitespace().filter(|a| *a != "busybox") {
            std::os::unix::fs::symlink("busybox", bb.join("bin").join(applet)).unwrap();
        }
        let c = self.buildah_ok(&["from", "scratch"])?;
        self.buildah_ok(&["copy", &c, &format!("{}/", bb.display()), "/"])?;
        self.buildah_ok(&["config", "--cmd", r#"["/bin/sh"]"#, &c])?;
        self.buildah_ok(&["commit", "--rm", &c, BUSYBOX])?;
        Ok(())
    }

    /// A container name unique in this run; the container is removed when
    /// the returned guard drops.
    fn container(&'static self, what: &str) -> Ctr {
        Ctr {
            p: self,
            name: self.name(what),
        }
    }

    fn name(&self, what: &str) -> String {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("rwt-{what}-{n}")
    }

    fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn podman<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let mut c = self.cmd("podman");
        c.args(args);
        run_cmd(&mut c, None, Duration::from_secs(60)).with_label(&format!("podman {}", join(args)))
    }

    /// `podman stop NAME`: it must succeed within [`STOP_LIMIT`] (SIGTERM
    /// ends a module at once; no grace period, no SIGKILL).
    #[track_caller]
    fn stop_quickly(&self, name: &str, what: &str) {
        let out = self.podman_s(&format!("stop {name}"));
        out.assert_code(0);
        assert!(
            out.elapsed < STOP_LIMIT,
            "podman stop of {what} took {:?} (limit {STOP_LIMIT:?}): SIGTERM did not end it",
            out.elapsed
        );
    }

    /// `podman` with the whitespace-separated words of `cmdline` (for
    /// arguments without spaces).
    fn podman_s(&self, cmdline: &str) -> Out {
        self.podman(&cmdline.split_whitespace().collect::<Vec<_>>())
    }

    fn podman_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Out {
        let mut c = self.cmd("podman");
        c.args(args);
        run_cmd(&mut c, Some(input), Duration::from_secs(60))
            .with_label(&format!("podman {}", join(args)))
    }

    /// Runs buildah; its trimmed stdout on success.
    fn buildah_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String, String> {
        let mut c = self.cmd("buildah");
        c.args(args);
        let out = run_cmd(&mut c, None, Duration::from_secs(60))
            .with_label(&format!("buildah {}", join(args)));
        if out.code != 0 {
            return Err(out.to_string());
        }
        Ok(out.stdout.trim().to_string())
    }

    /// `podman inspect --format FORMAT NAME`, trimmed.
    fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.podman(&["inspect", "--format", format, name]);
        out.assert_code(0);
        out.stdout.trim().to_string()
    }

    /// Waits until `podman logs NAME` contains `needle`.
    fn wait_logs(&self, name: &str, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.podman(&["logs", name]).stdout.contains(needle)
        })
    }
}

/// containers.conf as docs/podman.md describes it.
fn containers_conf(runwasm: &Path, dir: &Path) -> String {
    let nofile = hard_limit(libc::RLIMIT_NOFILE);
    let nproc = hard_limit(libc::RLIMIT_NPROC);
    format!(
        r#"# runwasm's podman tests (integration-tests/tests/podman.rs); see docs/podman.md.
[containers]
# podman's defaults (nofile/nproc 1048576) exceed what a runtime without
# CAP_SYS_RESOURCE may set: stay within this machine's hard limits.
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# podman's own run-time state (default /run/libpod), private to the tests.
tmp_dir = "{dir}/libpod"
runtime_supports_json = ["runwasm"]

[engine.runtimes]
runwasm = ["{runwasm}"]

[engine.platform_to_oci_runtime]
"wasi/wasm" = "runwasm"
"#,
        dir = dir.display(),
        runwasm = runwasm.display()
    )
}

/// The hard limit of `res` in podman's ulimit syntax (-1: unlimited).
fn hard_limit(res: libc::__rlimit_resource_t) -> String {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    unsafe { libc::getrlimit(res, &mut r) };
    if r.rlim_max == libc::RLIM_INFINITY {
        "-1".to_string()
    } else {
        r.rlim_max.to_string()
    }
}

/// A container removed (`rm -f -t 0`) when dropped.
struct Ctr {
    p: &'static Podman,
    name: String,
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self
            .p
            .podman(&["rm", "-f", "-t", "0", "--ignore", &self.name]);
    }
}

/// What a container occupies on the host, read before `rm`.
struct Captured {
    id: String,
    pid: i32,
    conmon_pid: i32,
    cgroups_path: String,
    rootfs: String,
    netns: Option<String>,
}

impl Captured {
    fn new(p: &Podman, name: &str) -> Captured {
        let f = p.inspect(
            name,
            "{{.Id}}|{{.State.Pid}}|{{.State.ConmonPid}}|{{.OCIConfigPath}}|{{.GraphDriver.Data.MergedDir}}|{{.NetworkSettings.SandboxKey}}",
        );
        let parts: Vec<&str> = f.split('|').collect();
        assert_eq!(parts.len(), 6, "inspect gave {f:?}");
        let config: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(parts[3]).unwrap_or_else(|e| panic!("read {}: {e}", parts[3])),
        )
        .unwrap();
        let cgroups_path = config["linux"]["cgroupsPath"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            !cgroups_path.is_empty(),
            "config.json has no linux.cgroupsPath"
        );
        let mut rootfs = parts[4].to_string();
        if rootfs.is_empty() || rootfs == "<no value>" {
            rootfs = config["root"]["path"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        Captured {
            id: parts[0].to_string(),
            pid: parts[1].parse().unwrap_or(0),
            conmon_pid: parts[2].parse().unwrap_or(0),
            cgroups_path,
            rootfs,
            netns: Some(parts[5].to_string()).filter(|s| !s.is_empty() && s != "<no value>"),
        }
    }

    /// The container's cgroup in every mounted hierarchy (cgroupfs manager:
    /// `/libpod_parent/libpod-ID` under each).
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cgroup_mounts()
            .into_iter()
            .map(|m| m.join(self.cgroups_path.trim_start_matches('/')))
            .collect()
    }
}

/// Asserts that nothing of container `id` is left: not in podman, not in
/// runwasm's root, no cgroup, no mount, no process.
#[track_caller]
fn assert_gone(p: &Podman, id: &str, cap: Option<&Captured>) {
    assert_eq!(id.len(), 64, "not a container id: {id:?}");
    let ps = p.podman(&["ps", "-a", "--no-trunc", "--format", "{{.ID}}"]);
    assert!(!ps.stdout.contains(id), "podman still lists {id}: {ps}");
    let state = Path::new(RUNWASM_ROOT).join(id);
    assert!(
        !state.exists(),
        "runwasm's state {} is left after rm",
        state.display()
    );
    // Cgroups: the known path, and any directory named after the id.
    let mut left = Vec::new();
    if let Some(c) = cap {
        left.extend(c.cgroup_dirs().into_iter().filter(|d| d.exists()));
    }
    for m in cgroup_mounts() {
        find_dirs_named(&m, id, 4, &mut left);
    }
    left.sort();
    left.dedup();
    assert!(
        left.is_empty(),
        "cgroup directories left after rm: {left:?}"
    );
    // Mounts.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut needles = vec![id.to_string()];
    if let Some(c) = cap {
        if !c.rootfs.is_empty() {
            needles.push(c.rootfs.clone());
        }
        if let Some(n) = &c.netns {
            needles.push(n.clone());
        }
    }
    let bad: Vec<&str> = mounts
        .lines()
        .filter(|l| needles.iter().any(|n| l.contains(n.as_str())))
        .collect();
    assert!(bad.is_empty(), "mounts left after rm: {bad:#?}");
    // Processes.
    if let Some(c) = cap {
        for (what, pid) in [("init", c.pid), ("conmon", c.conmon_pid)] {
            assert!(
                pid <= 0 || wait_until(Duration::from_secs(2), || !pid_alive(pid)),
                "the container's {what} (pid {pid}) is still alive after rm"
            );
        }
    }
    let procs = runwasm_processes_mentioning(&runwasm_bin(), id);
    assert!(
        procs.is_empty(),
        "runwasm processes left after rm: {procs:?}"
    );
}

/// Mount points of the cgroup v1 and v2 hierarchies.
fn cgroup_mounts() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for l in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
        let Some((pre, post)) = l.split_once(" - ") else {
            continue;
        };
        let fstype = post.split_whitespace().next().unwrap_or("");
        if fstype == "cgroup" || fstype == "cgroup2" {
            if let Some(mp) = pre.split_whitespace().nth(4) {
                v.push(PathBuf::from(mp));
            }
        }
    }
    v
}

fn find_dirs_named(dir: &Path, needle: &str, depth: usize, out: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let path = e.path();
        if e.file_name().to_string_lossy().contains(needle) {
            out.push(path.clone());
        }
        find_dirs_named(&path, needle, depth - 1, out);
    }
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(after) = stat.rfind(')') else {
        return 0;
    };
    let f: Vec<&str> = stat[after + 2..].split_whitespace().collect();
    // Fields after the comm: state is index 0, utime 11, stime 12.
    f.get(11).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// Prints a skip reason on the real stderr: libtest captures `eprintln!`
/// of passing tests, and a skip must never be silent.
fn skip(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// The output of a finished command.
struct Out {
    label: String,
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Out {
    fn with_label(mut self, label: &str) -> Out {
        self.label = label.to_string();
        self
    }

    #[track_caller]
    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "expected exit code {code}: {self}");
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {} after {:?}\n--- stdout\n{:?}\n--- stderr\n{}",
            self.label, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `c` with stdin from `input` (or /dev/null), killing its process
/// group after `timeout`. A signal death is reported as 128+n.
fn run_cmd(c: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Out {
    let label = format!("{c:?}");
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let start = Instant::now();
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {label}: {e}"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(data);
    }
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = so.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = se.read_to_end(&mut s);
        s
    });
    let pid = child.id() as i32;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > timeout {
            // SAFETY: kill(2) on the child's own process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let st = child.wait().unwrap();
            let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
            let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
            panic!("{label} did not finish within {timeout:?} ({st:?})\nstdout: {stdout:?}\nstderr: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    // conmon and podman's children may keep the pipes open (detached
    // containers do not: conmon redirects them); the threads end when the
    // last writer is gone.
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Out {
        label,
        code,
        stdout,
        stderr,
        elapsed,
    }
}

fn join<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// "podman version 5.4.2" -> (5, 4)
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let v = s.split_whitespace().last()?;
    let mut it = v.split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether `p` is on overlayfs (where podman's overlay driver cannot stack).
fn is_overlayfs(p: &Path) -> bool {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: statfs is plain old data; all zeroes is a valid value.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string, and statfs writes into the struct we pass.
    let ok = unsafe { libc::statfs(c.as_ptr(), &mut s) } == 0;
    ok && s.f_type == 0x794c_7630
}

/// Unmounts everything under `dir` (deepest first) and removes it.
fn remove_tree(dir: &Path) {
    let prefix = format!("{}/", dir.display());
    let mut mps: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mps {
        let c = std::ffi::CString::new(m).unwrap();
        // SAFETY: umount2 with a valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = fs::remove_dir_all(dir);
}

/// Directories of earlier runs whose process is gone.
fn remove_stale_dirs() {
    let Ok(rd) = fs::read_dir("/tmp") else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("runwasm-podman-tests.")
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if !pid_alive(pid) {
            remove_tree(&e.path());
        }
    }
}

/// At exit: remove every container of this run, then the directory.
extern "C" fn cleanup_at_exit() {
    let Some(Ok(p)) = PODMAN.get() else { return };
    let mut c = p.cmd("podman");
    c.args(["rm", "-a", "-f", "-t", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Ok(mut child) = c.spawn() {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    remove_tree(&p.dir);
}
