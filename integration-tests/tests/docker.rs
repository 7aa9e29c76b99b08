//! Docker drives runwasm (issue 5, item 6): dockerd with `daemon.json`
//! `"runtimes": {"runwasm": {"path": …}}`, `docker run --runtime=runwasm` of
//! a `linux/amd64` image whose entrypoint is a `.wasm` file (`docker import`,
//! `DOCKER_BUILDKIT=0 docker build`, the classic image store: what Docker
//! 20.10 users have) and, with `"features": {"containerd-snapshotter":
//! true}`, of a `wasi/wasm` image (`docker load` of an OCI archive,
//! `--platform wasi/wasm`); `-d`, `logs`, `stats`, `pause`, `stop` (under
//! 2 s), `rm`, `-t`, `exec`, volumes and exit codes; the Wasm HTTP server
//! reached from the host through a published port (`-p HOSTPORT:8080`).
//!
//! Every test starts its own containerd and dockerd (private roots, state,
//! exec-root, sockets; `--iptables=false --bridge=none`, so host networking
//! is untouched; stopped by pid when the test ends, also on failure). The
//! published-port test gives its dockerd a bridge of its own instead
//! (`--bridge=rwdkPID-N`, deleted at the end) and Docker's userland proxy,
//! still without iptables rules. After
//! `rm` nothing may be left: no runwasm state in Docker's runtime root
//! (`EXECROOT/runtime-runc/moby`), no cgroup, no mount, no shim.
//! docs/docker.md follows the same steps.
//!
//! Skipped, with the reason printed, when not root, when dockerd or the
//! docker client is not installed (scripts/setup-docker.sh installs them)
//! or when the daemons cannot start here.

mod clients;
mod common;

use std::fs;
use std::time::Duration;

use clients::{
    busybox_image, cgroup_dirs, cpu_ticks, mounts_mentioning, pids_with_cmdline, proc_cgroup,
    run_cmd, runtime_entries, skip, wait_for, wasm_image, Bridge, CmdOut, Containerd, Dockerd,
};
use common::{
    assert_http_hello, free_port, http_get_until, http_hello_peers, loopback, ns_link, refused,
    TestEnv,
};
use serde_json::Value;

const T: Duration = Duration::from_secs(60);
const AMD64_IMAGE: &str = "runwasm-demo:amd64";
const WASI_IMAGE: &str = "docker.io/library/runwasm-demo:wasi";
const BUSYBOX_IMAGE: &str = "runwasm-busybox:test";

#[test]
fn docker_linux_amd64_image_with_wasm_entrypoint() {
    let Some(t) = Dk::setup(
        "docker_linux_amd64_image_with_wasm_entrypoint",
        "dkamd",
        false,
    ) else {
        return;
    };
    t.import_amd64();
    let inspect = t.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Os}}/{{.Architecture}} {{json .Config.Entrypoint}}",
        AMD64_IMAGE,
    ]);
    inspect.assert_ok();
    assert_eq!(inspect.out(), r#"linux/amd64 ["/hello.wasm"]"#, "{inspect}");

    // Detected as Wasm by the entrypoint (Docker forwards no annotation).
    let (out, id) = t.run_rm("hello", &[AMD64_IMAGE]);
    out.assert_ok();
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    t.assert_gone(&id);

    // Exit codes propagate: module exit 3 -> `docker run` exits 3.
    for code in [3, 0, 42] {
        let (out, id) = t.run_rm(
            &format!("exit{code}"),
            &[
                "--entrypoint",
                "/exit_code.wasm",
                AMD64_IMAGE,
                &code.to_string(),
            ],
        );
        out.assert_code(code);
        t.assert_gone(&id);
    }

    // -e reaches the module (with Docker's PATH and HOSTNAME); the host's
    // environment does not.
    let (out, id) = t.run_rm(
        "echo",
        &[
            "-e",
            "GREETING=hi there",
            "--entrypoint",
            "/echo.wasm",
            AMD64_IMAGE,
            "x",
            "y z",
        ],
    );
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    for want in [
        "arg[0]=/echo.wasm",
        "arg[1]=x",
        "arg[2]=y z",
        "env:GREETING=hi there",
        "env:PATH=/",
    ] {
        assert!(lines.contains(&want), "missing {want:?}:\n{out}");
    }
    // Only the spec's env (Docker adds HOSTNAME; HOME=/ is added when
    // unset, as runc does); nothing of the host's (HOME=/root, CARGO_*).
    assert!(
        lines.iter().any(|l| l.starts_with("env:HOSTNAME=")),
        "{out}"
    );
    for e in lines.iter().filter_map(|l| l.strip_prefix("env:")) {
        assert!(
            ["PATH=/", "GREETING=hi there", "HOME=/"].contains(&e) || e.starts_with("HOSTNAME="),
            "unexpected variable {e:?} in the module's environment:\n{out}"
        );
    }
    t.assert_gone(&id);

    // A volume appears at its container path.
    let vol = t.env.tmp().join("vol");
    fs::create_dir_all(&vol).unwrap();
    let (out, id) = t.run_rm(
        "vol",
        &[
            "-v",
            &format!("{}:/data", vol.display()),
            "--entrypoint",
            "/write_file.wasm",
            AMD64_IMAGE,
            "/data/sub/out.txt",
            "written by wasm",
        ],
    );
    out.assert_ok();
    assert_eq!(
        fs::read_to_string(vol.join("sub/out.txt")).unwrap_or_default(),
        "written by wasm",
        "{out}"
    );
    t.assert_gone(&id);

    // `docker run -m` caps the module's memory: malloc fails (memhog exits
    // 12) instead of the container being OOM-killed.
    let (out, id) = t.run_rm(
        "mem",
        &[
            "-m",
            "32m",
            "--entrypoint",
            "/memhog.wasm",
            AMD64_IMAGE,
            "256",
        ],
    );
    out.assert_code(12);
    assert!(out.stdout.contains("malloc failed after"), "{out}");
    t.assert_gone(&id);

    // The same image from a Dockerfile (legacy builder: no buildx here).
    let ctx = t.env.tmp().join("build");
    fs::create_dir_all(&ctx).unwrap();
    fs::copy(common::module("hello"), ctx.join("hello.wasm")).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY hello.wasm /hello.wasm\nENTRYPOINT [\"/hello.wasm\"]\n",
    )
    .unwrap();
    let mut build =
        t.dockerd
            .docker_cmd(&["build", "-t", "runwasm-built:amd64", ctx.to_str().unwrap()]);
    build.env("DOCKER_BUILDKIT", "0");
    run_cmd(&mut build, &t.env.tmp().join("io"), T).assert_ok();
    let (out, id) = t.run_rm("built", &["runwasm-built:amd64"]);
    out.assert_ok();
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    t.assert_gone(&id);
}

#[test]
fn docker_wasi_platform_image_with_containerd_snapshotter() {
    let Some(t) = Dk::setup(
        "docker_wasi_platform_image_with_containerd_snapshotter",
        "dkwasi",
        true,
    ) else {
        return;
    };
    let info = t.docker(&["info", "-f", "{{json .DriverStatus}}"]);
    assert!(
        info.stdout.contains("io.containerd.snapshotter.v1"),
        "{info}"
    );
    t.load_wasi();
    let inspect = t.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Os}}/{{.Architecture}}",
        WASI_IMAGE,
    ]);
    inspect.assert_ok();
    assert_eq!(inspect.out(), "wasi/wasm", "{inspect}");

    let (out, id) = t.run_rm("hello", &["--platform", "wasi/wasm", WASI_IMAGE]);
    out.assert_ok();
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    t.assert_gone(&id);

    let (out, id) = t.run_rm(
        "exit3",
        &[
            "--platform",
            "wasi/wasm",
            "--entrypoint",
            "/exit_code.wasm",
            WASI_IMAGE,
            "3",
        ],
    );
    out.assert_code(3);
    t.assert_gone(&id);

    // Arguments after the image reach the module.
    let (out, id) = t.run_rm(
        "echo",
        &[
            "--platform",
            "wasi/wasm",
            "--entrypoint",
            "/echo.wasm",
            WASI_IMAGE,
            "wasi",
        ],
    );
    out.assert_ok();
    assert!(
        out.stdout.starts_with("arg[0]=/echo.wasm\narg[1]=wasi\n"),
        "{out}"
    );
    t.assert_gone(&id);
}

#[test]
fn docker_detached_logs_stats_pause_stop_rm() {
    let Some(t) = Dk::setup("docker_detached_logs_stats_pause_stop_rm", "dkdet", true) else {
        return;
    };
    t.load_wasi();
    let run = t.docker(&[
        "run",
        "-d",
        "--runtime=runwasm",
        "--platform",
        "wasi/wasm",
        "--name",
        "spinner",
        "--entrypoint",
        "/spin.wasm",
        WASI_IMAGE,
    ]);
    run.assert_ok();
    let id = run.out().to_string();
    assert!(
        wait_for(Duration::from_secs(5), || t
            .docker(&["logs", &id])
            .stdout
            .contains("spinning")),
        "docker logs never showed the module's output: {}",
        t.docker(&["logs", &id])
    );

    // Docker, runwasm and the kernel agree.
    let pid = t.inspect(&id)["State"]["Pid"].as_i64().unwrap() as i32;
    let state = t.runwasm_state(&id);
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["pid"].as_i64(), Some(pid as i64), "{state}");
    let cg = proc_cgroup(pid);
    assert!(
        cg.contains(&format!("{}/{id}", t.dockerd.cgroup_parent)),
        "init (pid {pid}) not in the cgroup {}/{id}:\n{cg}",
        t.dockerd.cgroup_parent
    );

    // docker stats reads the container's cgroup: a non-zero memory figure.
    let stats = t.docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &id]);
    stats.assert_ok();
    let used = parse_size(stats.out().split('/').next().unwrap_or(""));
    assert!(
        used.is_some_and(|b| b > 0.0),
        "no memory figure in docker stats:\n{stats}"
    );

    // pause / unpause.
    t.docker(&["pause", &id]).assert_ok();
    assert_eq!(t.inspect(&id)["State"]["Status"], "paused");
    assert_eq!(t.runwasm_state(&id)["status"], "paused");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(400));
    assert!(cpu_ticks(pid) <= before + 1, "a paused module kept running");
    t.docker(&["unpause", &id]).assert_ok();
    assert_eq!(t.runwasm_state(&id)["status"], "running");

    // docker stop: SIGTERM ends a spinning module at once (no 10 s grace
    // period, no SIGKILL): status 143.
    t.stop_quickly(&id, "a spinning module");
    let st = &t.inspect(&id)["State"];
    assert_eq!(st["OOMKilled"], false, "{st}");
    t.docker(&["rm", &id]).assert_ok();
    t.assert_gone(&id);

    // The same for a module blocked in a host call (sleep).
    let run = t.docker(&[
        "run",
        "-d",
        "--runtime=runwasm",
        "--platform",
        "wasi/wasm",
        "--entrypoint",
        "/sleep.wasm",
        WASI_IMAGE,
        "600",
    ]);
    run.assert_ok();
    let id = run.out().to_string();
    assert!(wait_for(Duration::from_secs(5), || t
        .docker(&["logs", &id])
        .stdout
        .contains("sleeping")));
    t.stop_quickly(&id, "a sleeping module");
    // rm -f of a running container (docker kill path) as well.
    let run = t.docker(&[
        "run",
        "-d",
        "--runtime=runwasm",
        "--platform",
        "wasi/wasm",
        "--entrypoint",
        "/spin.wasm",
        WASI_IMAGE,
    ]);
    run.assert_ok();
    let id2 = run.out().to_string();
    t.docker(&["rm", &id]).assert_ok();
    t.docker(&["rm", "-f", &id2]).assert_ok();
    t.assert_gone(&id);
    t.assert_gone(&id2);
}

#[test]
fn docker_tty_and_exec() {
    let Some(t) = Dk::setup("docker_tty_and_exec", "dktty", false) else {
        return;
    };
    t.import_amd64();

    // -t: the module's stdout is a pty (\n becomes \r\n); exit codes still
    // propagate.
    let (out, id) = t.run_rm("tty", &["-t", AMD64_IMAGE]);
    out.assert_ok();
    assert_eq!(out.stdout, "Hello from Wasm!\r\n", "{out}");
    t.assert_gone(&id);
    let (out, id) = t.run_rm(
        "ttyexit",
        &["-t", "--entrypoint", "/exit_code.wasm", AMD64_IMAGE, "6"],
    );
    out.assert_code(6);
    t.assert_gone(&id);

    // exec into a running Wasm container: a fresh module, its output, its
    // exit code, -e and -t.
    let run = t.docker(&[
        "run",
        "-d",
        "--runtime=runwasm",
        "--entrypoint",
        "/sleep.wasm",
        AMD64_IMAGE,
        "600",
    ]);
    run.assert_ok();
    let id = run.out().to_string();
    let out = t.docker(&["exec", "-e", "FROM_EXEC=1", &id, "/echo.wasm", "exec'd"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    for want in [
        "arg[0]=/echo.wasm",
        "arg[1]=exec'd",
        "env:FROM_EXEC=1",
        "env:PATH=/",
    ] {
        assert!(lines.contains(&want), "missing {want:?}:\n{out}");
    }
    t.docker(&["exec", &id, "/exit_code.wasm", "5"])
        .assert_code(5);
    let out = t.docker(&["exec", "-t", &id, "/echo.wasm", "tty"]);
    out.assert_ok();
    assert!(
        out.stdout
            .starts_with("arg[0]=/echo.wasm\r\narg[1]=tty\r\n"),
        "{out}"
    );
    // The container keeps running after its execs.
    assert_eq!(t.inspect(&id)["State"]["Status"], "running");
    assert_eq!(t.runwasm_state(&id)["status"], "running");
    t.docker(&["rm", "-f", &id]).assert_ok();
    t.assert_gone(&id);

    // A native image through the same runtime: -t and exec.
    let img = busybox_image(BUSYBOX_IMAGE).layer_tar(&t.env.tmp().join("img-bb"));
    t.docker(&[
        "import",
        "--change",
        "ENV PATH=/bin",
        "--change",
        "CMD [\"/bin/sh\"]",
        img.to_str().unwrap(),
        BUSYBOX_IMAGE,
    ])
    .assert_ok();
    let (out, id) = t.run_rm("nattty", &["-t", BUSYBOX_IMAGE, "tty"]);
    out.assert_ok();
    // As with runc: the pty slave in the container's devpts.
    assert_eq!(out.stdout, "/dev/pts/0\r\n", "{out}");
    t.assert_gone(&id);
    let run = t.docker(&[
        "run",
        "-d",
        "--runtime=runwasm",
        BUSYBOX_IMAGE,
        "sleep",
        "600",
    ]);
    run.assert_ok();
    let id = run.out().to_string();
    let out = t.docker(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo native $(cat /proc/1/comm); exit 7",
    ]);
    out.assert_code(7);
    assert_eq!(out.stdout, "native sleep\n", "{out}");
    let stop = t.docker(&["stop", "-t", "1", &id]);
    stop.assert_ok();
    t.docker(&["rm", &id]).assert_ok();
    t.assert_gone(&id);
}

/// Issue 5, item 3 through Docker: the Wasm HTTP server
/// (`modules/http_hello.c`, `/http_hello.wasm` in the `wasi/wasm` image)
/// run detached with `-p HOSTPORT:8080` on the default bridge network and
/// fetched from the host at `127.0.0.1:HOSTPORT`, as docs/docker.md shows.
/// Docker asks runwasm for a new network namespace and a `prestart` hook
/// (`libnetwork-setkey`) through which dockerd moves the container's veth
/// into it. The test's dockerd has a bridge of its own and no iptables
/// rules, so Docker's userland proxy (`docker-proxy`, listening on the host
/// port) forwards the connection over the bridge: the module sees it come
/// from the bridge's gateway address.
#[test]
fn docker_wasm_http_server_through_a_published_port() {
    let Some(t) = Dk::setup_with_bridge(
        "docker_wasm_http_server_through_a_published_port",
        "dkport",
        true,
    ) else {
        return;
    };
    let bridge = t.dockerd.bridge.as_ref().expect("a dockerd with a bridge");
    t.load_wasi();
    let net = t.docker(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        r#"{{index .Options "com.docker.network.bridge.name"}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}"#,
    ]);
    net.assert_ok();
    assert_eq!(
        net.out(),
        format!("{} {} {}", bridge.name, bridge.subnet, bridge.gateway),
        "dockerd's default network is not the test's bridge:\n{net}"
    );

    let port = free_port();
    let publish = format!("{port}:8080");
    let run = t.docker(&[
        "run",
        "-d",
        "--runtime=runwasm",
        "--platform",
        "wasi/wasm",
        "-p",
        &publish,
        "--entrypoint",
        "/http_hello.wasm",
        WASI_IMAGE,
    ]);
    run.assert_ok();
    let id = run.out().to_string();
    let logs = || t.docker(&["logs", &id]);
    assert!(
        wait_for(Duration::from_secs(5), || logs()
            .stdout
            .contains("listening on 0.0.0.0:8080\n")),
        "http_hello never listened:\n{}",
        logs()
    );
    let info = t.inspect(&id);
    assert_eq!(info["HostConfig"]["Runtime"], "runwasm");
    let pid = info["State"]["Pid"].as_i64().unwrap() as i32;
    assert_ne!(
        ns_link(pid, "net"),
        ns_link(0, "net"),
        "the server is in the host's network namespace: the port would not need publishing"
    );
    let net = &info["NetworkSettings"];
    assert_eq!(net["Gateway"], bridge.gateway.as_str(), "{net}");
    let ip = net["IPAddress"].as_str().unwrap_or_default().to_string();
    let net_prefix = format!("{}.", bridge.gateway.rsplit_once('.').unwrap().0);
    assert!(
        ip.starts_with(&net_prefix),
        "the container's address {ip:?} is not in {}",
        bridge.subnet
    );
    assert!(
        !bridge.ports().is_empty(),
        "no veth of the container on {}",
        bridge.name
    );
    let ports = t.docker(&["port", &id, "8080/tcp"]);
    ports.assert_ok();
    assert!(
        ports.stdout.lines().any(|l| l == format!("0.0.0.0:{port}")),
        "{ports}"
    );
    let proxy_of_port = || {
        pids_with_cmdline(&[
            "docker-proxy",
            &format!("-host-port {port} "),
            &format!("-container-ip {ip} "),
            "-container-port 8080 ",
        ])
    };
    assert!(
        !proxy_of_port().is_empty(),
        "no docker-proxy forwards port {port} to {ip}:8080"
    );

    let resp = http_get_until(loopback(port), "/", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("GET http://127.0.0.1:{port}/: {e}\n{}", logs()));
    assert_http_hello(&resp, &logs());
    // The request crossed the bridge: docker-proxy connects to the
    // container from the bridge's address.
    assert!(
        wait_for(Duration::from_secs(2), || http_hello_peers(&logs().stdout)
            == [bridge.gateway.clone()]),
        "the module should have served one request from the gateway {}:\n{}",
        bridge.gateway,
        logs()
    );

    t.stop_quickly(&id, "the serving module");
    t.docker(&["rm", &id]).assert_ok();
    t.assert_gone(&id);
    assert!(
        wait_for(Duration::from_secs(5), || proxy_of_port().is_empty()),
        "docker-proxy for port {port} left after rm: {:?}",
        proxy_of_port()
    );
    assert!(
        refused(loopback(port)),
        "127.0.0.1:{port} still accepts connections after rm"
    );
    assert_eq!(
        bridge.ports(),
        Vec::<String>::new(),
        "veths left on {} after rm",
        bridge.name
    );
}

/// A missing module is "command not found" to Docker, as a missing
/// executable is with runc: `docker run` exits 127. (The Docker CLI looks
/// for the exact lower-case text "no such file or directory" or
/// "executable file not found" in the error; anything else is 125.)
#[test]
fn docker_run_missing_wasm_module_exits_127() {
    let Some(t) = Dk::setup("docker_run_missing_wasm_module_exits_127", "dkmiss", false) else {
        return;
    };
    t.import_amd64();
    let (out, id) = t.run_rm("missing", &["--entrypoint", "/nope.wasm", AMD64_IMAGE]);
    assert!(
        out.stderr.contains("/nope.wasm"),
        "the error should name the module:\n{out}"
    );
    out.assert_code(127);
    t.docker(&["rm", "-f", &id]);
    t.assert_gone(&id);
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// One test's daemons. Fields drop in order: dockerd (containers removed,
/// stopped), containerd, then the temporary directory.
struct Dk {
    dockerd: Dockerd,
    ctd: Containerd,
    env: TestEnv,
    name: String,
    /// Mount points under the test's directory once the daemons are up
    /// (dockerd's own bind mount of its data root).
    baseline_mounts: Vec<String>,
}

impl Dk {
    /// The daemons, dockerd without a bridge.
    fn setup(name: &str, short: &str, snapshotter: bool) -> Option<Dk> {
        Self::start(name, short, snapshotter, false)
    }

    /// The daemons, dockerd with a bridge of its own and Docker's userland
    /// proxy (what `docker run -p` needs without iptables).
    fn setup_with_bridge(name: &str, short: &str, snapshotter: bool) -> Option<Dk> {
        Self::start(name, short, snapshotter, true)
    }

    fn start(name: &str, short: &str, snapshotter: bool, with_bridge: bool) -> Option<Dk> {
        let env = TestEnv::new(short)?;
        if let Err(why) = Dockerd::installed() {
            skip(name, &why);
            return None;
        }
        let bridge = if with_bridge {
            if Dockerd::proxy_bin().is_none() {
                skip(
                    name,
                    "docker-proxy is not installed: with --iptables=false only Docker's \
                     userland proxy publishes ports (Debian's docker.io ships /usr/sbin/docker-proxy)",
                );
                return None;
            }
            match Bridge::create() {
                Ok(b) => Some(b),
                Err(why) => {
                    skip(name, &format!("no bridge for dockerd: {why}"));
                    return None;
                }
            }
        } else {
            None
        };
        let ctd = match Containerd::start(&env.tmp().join("ctd"), &env.bin, false, "") {
            Ok(c) => c,
            Err(why) => {
                skip(name, &format!("containerd cannot start here: {why}"));
                return None;
            }
        };
        let dir = env.tmp().join("dk");
        let started = match bridge {
            None => Dockerd::start(&dir, &ctd, &env.bin, snapshotter),
            Some(b) => Dockerd::start_with_bridge(&dir, &ctd, &env.bin, snapshotter, b),
        };
        let dockerd = match started {
            Ok(d) => d,
            Err(why) => {
                skip(name, &format!("dockerd cannot start here: {why}"));
                return None;
            }
        };
        ctd.cleanup_root(&dockerd.runtime_root());
        let baseline_mounts = mounts_under(env.tmp());
        Some(Dk {
            dockerd,
            ctd,
            env,
            name: name.to_string(),
            baseline_mounts,
        })
    }

    fn docker(&self, args: &[&str]) -> CmdOut {
        self.dockerd.docker(args, T)
    }

    /// `docker import` of the Wasm layer as a linux/amd64 image.
    fn import_amd64(&self) {
        let layer =
            wasm_image(AMD64_IMAGE, "linux", "amd64").layer_tar(&self.env.tmp().join("img-amd64"));
        self.docker(&[
            "import",
            "--change",
            r#"ENTRYPOINT ["/hello.wasm"]"#,
            "--change",
            "ENV PATH=/",
            layer.to_str().unwrap(),
            AMD64_IMAGE,
        ])
        .assert_ok();
    }

    /// `docker load` of the OCI archive of the wasi/wasm image.
    fn load_wasi(&self) {
        let img =
            wasm_image(WASI_IMAGE, "wasi", "wasm").oci_archive(&self.env.tmp().join("img-wasi"));
        let out = self.docker(&["load", "-i", img.to_str().unwrap()]);
        out.assert_ok();
        assert!(
            out.stdout.contains("Loaded image: runwasm-demo:wasi"),
            "{out}"
        );
    }

    /// `docker run --rm --runtime=runwasm --cidfile F ARGS…`; the output and
    /// the container's id.
    fn run_rm(&self, tag: &str, args: &[&str]) -> (CmdOut, String) {
        let cidfile = self.env.tmp().join(format!("{tag}.cid"));
        let _ = fs::remove_file(&cidfile);
        let mut v = vec![
            "run",
            "--rm",
            "--runtime=runwasm",
            "--cidfile",
            cidfile.to_str().unwrap(),
        ];
        v.extend_from_slice(args);
        let out = self.docker(&v);
        let id = fs::read_to_string(&cidfile)
            .unwrap_or_default()
            .trim()
            .to_string();
        assert!(
            !id.is_empty(),
            "docker wrote no --cidfile:\n{out}\ndockerd log:\n{}",
            self.dockerd.log_tail()
        );
        (out, id)
    }

    /// `docker stop ID`: SIGTERM ends the module at once (no 10 s grace
    /// period, no SIGKILL), within 2 s, with status 143.
    #[track_caller]
    fn stop_quickly(&self, id: &str, what: &str) {
        let stop = self.docker(&["stop", id]);
        stop.assert_ok();
        assert!(
            stop.elapsed < Duration::from_secs(2),
            "docker stop of {what} took {:?} (the module ignored SIGTERM?)\n{stop}",
            stop.elapsed
        );
        let st = &self.inspect(id)["State"];
        assert_eq!(st["ExitCode"], 143, "{what}: {st}");
    }

    fn inspect(&self, id: &str) -> Value {
        let out = self.docker(&["inspect", id]);
        out.assert_ok();
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        v[0].clone()
    }

    fn runwasm_state(&self, id: &str) -> Value {
        let root = self.dockerd.runtime_root();
        let out = run_cmd(
            std::process::Command::new(&self.env.bin)
                .arg("--root")
                .arg(&root)
                .args(["state", id]),
            &self.env.tmp().join("io"),
            Duration::from_secs(10),
        );
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{out}"))
    }

    /// After `rm`: no runwasm state under Docker's runtime root, no cgroup,
    /// no mount, no shim, no container.
    #[track_caller]
    fn assert_gone(&self, id: &str) {
        assert_eq!(id.len(), 64, "not a container id: {id:?}");
        let root = self.dockerd.runtime_root();
        assert!(
            wait_for(Duration::from_secs(5), || !runtime_entries(&root)
                .iter()
                .any(|e| e == id)),
            "{}: runwasm state of {id} left in {}",
            self.name,
            root.display()
        );
        let cg = format!("{}/{id}", self.dockerd.cgroup_parent);
        assert!(
            wait_for(Duration::from_secs(5), || cgroup_dirs(&cg).is_empty()),
            "cgroup {cg} left: {:?}",
            cgroup_dirs(&cg)
        );
        assert_eq!(
            mounts_mentioning(id),
            Vec::<String>::new(),
            "mounts of {id} left"
        );
        assert!(
            wait_for(Duration::from_secs(5), || self.ctd.shims(id).is_empty()),
            "the shim of {id} did not exit: {:?}",
            self.ctd.shims(id)
        );
        let ps = self.docker(&["ps", "-aq", "--no-trunc"]);
        assert!(
            !ps.stdout.contains(id),
            "container {id} still listed:\n{ps}"
        );
        // The classic store's rootfs (overlay2/LAYER/merged) does not name
        // the container: with no container left, no mount but the
        // baseline's may remain under the test's directory.
        if ps.stdout.trim().is_empty() {
            let left: Vec<String> = mounts_under(self.env.tmp())
                .into_iter()
                .filter(|m| !self.baseline_mounts.contains(m))
                .collect();
            assert_eq!(
                left,
                Vec::<String>::new(),
                "mounts left after removing {id}"
            );
        }
    }
}

/// The mount points at or under `dir`.
fn mounts_under(dir: &std::path::Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let mut v: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    v.sort();
    v
}

/// "9.246MiB" -> bytes.
fn parse_size(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "B" => 1.0,
        "KiB" | "kB" | "KB" => 1024.0,
        "MiB" | "MB" => 1024.0 * 1024.0,
        "GiB" | "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * mult)
}
