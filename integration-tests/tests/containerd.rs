//! containerd drives runwasm (issue 5, item 5): `ctr run --runc-binary
//! runwasm --runc-root DIR` on images imported with `ctr images import`
//! (run, `-d`, `-t`, `task exec`, `task kill`, `task pause`/`resume`, `rm`,
//! exit codes), and the Kubernetes path: a containerd config whose CRI
//! runtime `runwasm` is the runc v2 shim with `options.BinaryName` =
//! runwasm, driven through the CRI API with `runtime_handler = "runwasm"`
//! exactly as the kubelet does for a pod whose RuntimeClass has
//! `handler: runwasm`.
//!
//! Every test starts its own containerd (config, root, state, sockets under
//! the test's temporary directory; stopped by pid when the test ends, also
//! on failure) and uses its own containerd namespace, so the container
//! cgroups are `/NAMESPACE/ID` and the runwasm state root is
//! `DIR/NAMESPACE`. Images are assembled offline (see `clients::Image`).
//! docs/containerd-kubernetes.md follows the same steps.
//!
//! Skipped, with the reason printed, when not root or when containerd/ctr
//! are not installed (scripts/setup-docker.sh installs them); the CRI test
//! also needs python3-grpcio for its CRI client.

mod clients;
mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use clients::{
    busybox_image, cgroup_dirs, cpu_ticks, mounts_mentioning, proc_cgroup, run_cmd, run_in_pty,
    runtime_entries, skip, wait_for, wasm_image, CmdOut, Containerd,
};
use common::TestEnv;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const WASI_IMAGE: &str = "docker.io/library/runwasm-test:wasi";
const AMD64_WASM_IMAGE: &str = "docker.io/library/runwasm-test:amd64";
const BUSYBOX_IMAGE: &str = "docker.io/library/runwasm-busybox:test";

#[test]
fn ctr_run_wasm_image_output_env_and_exit_codes() {
    let Some(t) = Ctr::setup("ctr_run_wasm_image_output_env_and_exit_codes", "run") else {
        return;
    };
    t.import_wasi();

    let out = t.run_rm("hello", &[], &[]);
    out.assert_ok();
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    t.assert_gone("hello");

    for code in [0, 3, 42] {
        let id = format!("exit{code}");
        let out = t.run_rm(&id, &[], &["/exit_code.wasm", &code.to_string()]);
        out.assert_code(code);
        t.assert_gone(&id);
    }

    // The spec's env (image Env + --env) reaches the module; the host's
    // does not.
    let out = t.run_rm(
        "echo",
        &["--env", "GREETING=hi there"],
        &["/echo.wasm", "a b", "c"],
    );
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    for want in [
        "arg[0]=/echo.wasm",
        "arg[1]=a b",
        "arg[2]=c",
        "env:PATH=/",
        "env:GREETING=hi there",
    ] {
        assert!(lines.contains(&want), "missing {want:?}:\n{out}");
    }
    // Only the spec's env: the image's PATH, --env, and HOME=/ (added when
    // unset, as runc does); nothing of the host's (HOME=/root, CARGO_*).
    let env: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("env:"))
        .collect();
    for e in &env {
        assert!(
            ["PATH=/", "GREETING=hi there", "HOME=/"].contains(e),
            "unexpected variable {e:?} in the module's environment:\n{out}"
        );
    }
    t.assert_gone("echo");
}

#[test]
fn ctr_run_linux_amd64_image_with_wasm_entrypoint() {
    // The image shape Docker 20.10 and `docker import` make: platform
    // linux/amd64, entrypoint a .wasm file, no annotation reaching the
    // runtime. Imported without --platform (it is the host's platform).
    let Some(t) = Ctr::setup("ctr_run_linux_amd64_image_with_wasm_entrypoint", "amd") else {
        return;
    };
    let img =
        wasm_image(AMD64_WASM_IMAGE, "linux", "amd64").oci_archive(&t.env.tmp().join("img-amd64"));
    t.ctr(&["images", "import", img.to_str().unwrap()], T)
        .assert_ok();

    let out = t.ctr(&t.run_args(&["--rm"], AMD64_WASM_IMAGE, "amd", &[]), T);
    out.assert_ok();
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    t.assert_gone("amd");

    let out = t.ctr(
        &t.run_args(
            &["--rm"],
            AMD64_WASM_IMAGE,
            "amd7",
            &["/exit_code.wasm", "7"],
        ),
        T,
    );
    out.assert_code(7);
    t.assert_gone("amd7");
}

#[test]
fn ctr_detached_wasm_task_exec_pause_resume_kill_rm() {
    let Some(t) = Ctr::setup("ctr_detached_wasm_task_exec_pause_resume_kill_rm", "det") else {
        return;
    };
    t.import_wasi();
    let id = "spin";
    let log = t.env.tmp().join("spin.log");
    let log_uri = format!("file://{}", log.display());
    t.ctr(
        &t.run_args(
            &["-d", "--log-uri", &log_uri],
            WASI_IMAGE,
            id,
            &["/spin.wasm"],
        ),
        T,
    )
    .assert_ok();
    assert!(
        wait_for(Duration::from_secs(5), || fs::read_to_string(&log)
            .is_ok_and(|s| s.contains("spinning"))),
        "the module's stdout never reached the --log-uri file {}: {:?}",
        log.display(),
        fs::read_to_string(&log)
    );

    // ctr, runwasm and the kernel agree on the task.
    let pid = t.task_pid(id, "RUNNING");
    let state = t.runwasm_state(id);
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["pid"].as_i64(), Some(pid as i64), "{state}");
    let cg = proc_cgroup(pid);
    assert!(
        cg.contains(&format!("/{}/{id}", t.ns)),
        "init (pid {pid}) is not in the cgroup /{}/{id}:\n{cg}",
        t.ns
    );
    let ps = t.ctr(&["task", "ps", id], T);
    ps.assert_ok();
    assert!(ps.stdout.contains(&pid.to_string()), "{ps}");

    // pause / resume: the spinning module stops burning CPU while paused.
    t.ctr(&["task", "pause", id], T).assert_ok();
    t.task_pid(id, "PAUSED");
    assert_eq!(t.runwasm_state(id)["status"], "paused");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(400));
    let after = cpu_ticks(pid);
    assert!(
        after <= before + 1,
        "a paused module kept running: {before} -> {after} ticks"
    );
    t.ctr(&["task", "resume", id], T).assert_ok();
    t.task_pid(id, "RUNNING");
    assert_eq!(t.runwasm_state(id)["status"], "running");
    let before = cpu_ticks(pid);
    assert!(
        wait_for(Duration::from_secs(2), || cpu_ticks(pid) > before + 5),
        "the resumed module does not run"
    );

    // task exec: a fresh module in the running container; output and exit
    // code come back through ctr.
    let out = t.ctr(
        &t.exec_args(&[], id, "e1", &["/echo.wasm", "from", "exec"]),
        T,
    );
    out.assert_ok();
    for want in [
        "arg[0]=/echo.wasm",
        "arg[1]=from",
        "arg[2]=exec",
        "env:PATH=/",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "missing {want:?}:\n{out}"
        );
    }
    t.ctr(&t.exec_args(&[], id, "e2", &["/exit_code.wasm", "5"]), T)
        .assert_code(5);
    // The exec processes are gone; the init still runs.
    t.task_pid(id, "RUNNING");

    // task kill (SIGTERM): the module ends within 2 s with status 143.
    let started = Instant::now();
    t.ctr(&["task", "kill", id], T).assert_ok();
    assert!(
        wait_for(Duration::from_secs(2), || t.task_status(id).as_deref()
            == Some("STOPPED")),
        "the task was not STOPPED 2 s after task kill (SIGTERM): {:?}",
        t.task_status(id)
    );
    eprintln!("task kill -> STOPPED in {:?}", started.elapsed());
    let rm = t.ctr(&["task", "rm", id], T);
    rm.assert_ok();
    assert!(
        rm.stderr.contains("exit code 143"),
        "ctr task rm should report the exit status 143 (128+SIGTERM):\n{rm}"
    );
    t.ctr(&["containers", "rm", id], T).assert_ok();
    t.assert_gone(id);
}

#[test]
fn ctr_native_busybox_image() {
    let Some(t) = Ctr::setup("ctr_native_busybox_image", "bb") else {
        return;
    };
    let img = busybox_image(BUSYBOX_IMAGE).oci_archive(&t.env.tmp().join("img-bb"));
    t.ctr(&["images", "import", img.to_str().unwrap()], T)
        .assert_ok();

    let out = t.ctr(
        &t.run_args(
            &["--rm", "--env", "WHO=native"],
            BUSYBOX_IMAGE,
            "sh",
            &["/bin/sh", "-c", "echo hello $WHO; echo pid $$; exit 4"],
        ),
        T,
    );
    out.assert_code(4);
    assert_eq!(out.stdout, "hello native\npid 1\n", "{out}");
    t.assert_gone("sh");

    // Detached, exec, pause/resume, SIGKILL.
    let id = "sleeper";
    t.ctr(
        &t.run_args(
            &["-d", "--null-io"],
            BUSYBOX_IMAGE,
            id,
            &["/bin/busybox", "sleep", "600"],
        ),
        T,
    )
    .assert_ok();
    let pid = t.task_pid(id, "RUNNING");
    let out = t.ctr(
        &t.exec_args(
            &[],
            id,
            "x1",
            &["/bin/sh", "-c", "echo in $(cat /proc/1/comm); exit 6"],
        ),
        T,
    );
    out.assert_code(6);
    // pid 1 of the container's pid namespace is its init (busybox sleep).
    assert_eq!(out.stdout, "in busybox\n", "{out}");
    t.ctr(&["task", "pause", id], T).assert_ok();
    t.task_pid(id, "PAUSED");
    t.ctr(&["task", "resume", id], T).assert_ok();
    t.task_pid(id, "RUNNING");
    t.ctr(&["task", "kill", "--signal", "SIGKILL", id], T)
        .assert_ok();
    assert!(
        wait_for(Duration::from_secs(2), || t.task_status(id).as_deref()
            == Some("STOPPED")),
        "not STOPPED after SIGKILL: {:?}",
        t.task_status(id)
    );
    assert!(!clients::pids_with_cmdline(&["sleep 600"])
        .iter()
        .any(|(p, _)| *p == pid));
    let rm = t.ctr(&["task", "rm", id], T);
    rm.assert_ok();
    assert!(rm.stderr.contains("exit code 137"), "{rm}");
    t.ctr(&["containers", "rm", id], T).assert_ok();
    t.assert_gone(id);
}

#[test]
fn ctr_tty_run_and_exec() {
    let Some(t) = Ctr::setup("ctr_tty_run_and_exec", "tty") else {
        return;
    };
    t.import_wasi();

    // `ctr run -t` needs a terminal: it runs on a pty, as at a shell.
    let out = run_in_pty(
        &mut t.ctr_cmd(&t.run_args(&["--rm", "-t"], WASI_IMAGE, "t1", &[])),
        T,
    );
    out.assert_ok();
    // Our pty is raw, so the \r comes from the container's pty. (Through
    // ctr it arrives as "\r\r\n", for runc's containers as well.)
    assert!(
        out.stdout.starts_with("Hello from Wasm!\r"),
        "the module's output should come through the container's pty (\\r\\n):\n{out}"
    );
    t.assert_gone("t1");

    let out = run_in_pty(
        &mut t.ctr_cmd(&t.run_args(&["--rm", "-t"], WASI_IMAGE, "t2", &["/exit_code.wasm", "9"])),
        T,
    );
    out.assert_code(9);
    t.assert_gone("t2");

    // exec -t into a detached Wasm container.
    let id = "t3";
    t.ctr(
        &t.run_args(
            &["-d", "--null-io"],
            WASI_IMAGE,
            id,
            &["/sleep.wasm", "600"],
        ),
        T,
    )
    .assert_ok();
    t.task_pid(id, "RUNNING");
    let out = run_in_pty(
        &mut t.ctr_cmd(&t.exec_args(&["-t"], id, "x", &["/echo.wasm", "tty-exec"])),
        T,
    );
    out.assert_ok();
    assert!(out.stdout.contains("arg[1]=tty-exec\r"), "{out}");
    t.ctr(&["task", "kill", "--signal", "SIGKILL", id], T)
        .assert_ok();
    assert!(wait_for(Duration::from_secs(2), || t
        .task_status(id)
        .as_deref()
        == Some("STOPPED")));
    t.ctr(&["task", "rm", id], T).assert_ok();
    t.ctr(&["containers", "rm", id], T).assert_ok();
    t.assert_gone(id);
}

/// The Kubernetes path: containerd's CRI plugin with a `runwasm` runtime
/// (runc v2 shim, `BinaryName` = runwasm), a pod sandbox and Wasm
/// containers created through the CRI API with `runtime_handler: runwasm`.
#[test]
fn cri_runtime_handler_runwasm_pod_with_wasm_containers() {
    let name = "cri_runtime_handler_runwasm_pod_with_wasm_containers";
    let Some(env) = TestEnv::new("cri") else {
        return;
    };
    if let Err(why) = Containerd::installed() {
        return skip(name, &why);
    }
    let python = PathBuf::from("/usr/bin/python3");
    let has_grpc = python.is_file()
        && Command::new(&python)
            .args(["-c", "import grpc"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !has_grpc {
        return skip(
            name,
            "the CRI client needs /usr/bin/python3 with grpc (Debian's python3-grpcio; \
             scripts/setup-docker.sh installs it)",
        );
    }
    let dir = env.tmp().join("ctd");
    let runwasm_root = dir.join("runwasm-k8s");
    let pod_cgroup = format!("/rwit-k8s-{}", std::process::id());
    let extra = cri_config(&env.bin, &runwasm_root, &dir);
    let ctd = match Containerd::start(&dir, &env.bin, true, &extra) {
        Ok(c) => c,
        Err(why) => return skip(name, &format!("containerd cannot start here: {why}")),
    };
    ctd.cleanup_root(&runwasm_root.join("k8s.io"));
    ctd.cleanup_cgroup(&pod_cgroup);
    let client = env.tmp().join("cri.py");
    fs::write(&client, CRI_CLIENT).unwrap();
    let logs = env.tmp().join("pod-logs");
    fs::create_dir_all(&logs).unwrap();
    let cri = |args: &[&str]| -> CmdOut {
        let mut cmd = Command::new(&python);
        cmd.arg(&client).arg(&ctd.sock).args(args);
        run_cmd(&mut cmd, &env.tmp().join("io"), Duration::from_secs(90))
    };
    let cri_json = |args: &[&str]| -> Value {
        let out = cri(args);
        out.assert_ok();
        serde_json::from_str(out.out()).unwrap_or_else(|e| panic!("{e}:\n{out}"))
    };

    // The CRI plugin is up, and the images are in the k8s.io namespace:
    // our own pause image (the sandbox_image) and the Wasm image.
    let v = cri_json(&["version"]);
    assert_eq!(v["runtime_name"], "containerd", "{v}");
    let pause = clients::Image::new(PAUSE_IMAGE, "linux", "amd64")
        .file("/bin/busybox", &common::busybox(), 0o755)
        .entrypoint(&["/bin/busybox", "sleep", "2147483647"])
        .oci_archive(&env.tmp().join("img-pause"));
    ctd.ctr("k8s.io", &["images", "import", pause.to_str().unwrap()], T)
        .assert_ok();
    let img = wasm_image(WASI_IMAGE, "wasi", "wasm").oci_archive(&env.tmp().join("img-wasi"));
    ctd.ctr(
        "k8s.io",
        &[
            "images",
            "import",
            "--platform",
            "wasi/wasm",
            img.to_str().unwrap(),
        ],
        T,
    )
    .assert_ok();

    // RunPodSandbox with the runwasm handler (host network: no CNI here).
    let logs_s = logs.to_str().unwrap();
    let out = cri(&["runp", "runwasm", "wasm-pod", logs_s, &pod_cgroup]);
    out.assert_ok();
    let pod = out.out().to_string();
    let root = runwasm_root.join("k8s.io");
    assert!(
        runtime_entries(&root).contains(&pod),
        "the sandbox did not go through runwasm (no {pod} in {}):\n{}",
        root.display(),
        ctd.log_tail()
    );
    // The pause container runs natively (never as Wasm), in the pod cgroup.
    let sandbox = runwasm_state(&env.bin, &root, &pod);
    assert_eq!(sandbox["status"], "running", "{sandbox}");
    let spid = sandbox["pid"].as_i64().unwrap() as i32;
    let cmdline = fs::read_to_string(format!("/proc/{spid}/cmdline")).unwrap_or_default();
    assert_eq!(
        cmdline, "/bin/busybox\0sleep\x002147483647\0",
        "sandbox pid {spid}"
    );
    assert!(
        proc_cgroup(spid).contains(&format!("{pod_cgroup}/{pod}")),
        "{}",
        proc_cgroup(spid)
    );

    // A Wasm container: its stdout lands in the CRI log (kubectl logs).
    let hello = cri_json_id(&cri(&[
        "create",
        &pod,
        "wasm-pod",
        &pod_cgroup,
        "hello",
        logs_s,
        WASI_IMAGE,
    ]));
    cri(&["start", &hello]).assert_ok();
    let st = wait_exited(&cri_json, &hello);
    assert_eq!(st["exit_code"], 0, "{st}");
    assert_eq!(st["reason"], "Completed", "{st}");
    let log = fs::read_to_string(logs.join("hello.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.ends_with(" stdout F Hello from Wasm!")),
        "CRI log of the container:\n{log}"
    );

    // Exit codes reach Kubernetes.
    let exit3 = cri_json_id(&cri(&[
        "create",
        &pod,
        "wasm-pod",
        &pod_cgroup,
        "exit3",
        logs_s,
        WASI_IMAGE,
        "/exit_code.wasm",
        "3",
    ]));
    cri(&["start", &exit3]).assert_ok();
    let st = wait_exited(&cri_json, &exit3);
    assert_eq!(st["exit_code"], 3, "{st}");
    assert_eq!(st["reason"], "Error", "{st}");

    // A long-running module: ExecSync (kubectl exec) runs a module in it;
    // StopContainer (pod deletion) ends it within 2 s with 128+SIGTERM.
    let spin = cri_json_id(&cri(&[
        "create",
        &pod,
        "wasm-pod",
        &pod_cgroup,
        "spin",
        logs_s,
        WASI_IMAGE,
        "/spin.wasm",
    ]));
    cri(&["start", &spin]).assert_ok();
    let spid = runwasm_state(&env.bin, &root, &spin)["pid"]
        .as_i64()
        .unwrap() as i32;
    assert!(
        proc_cgroup(spid).contains(&format!("{pod_cgroup}/{spin}")),
        "{}",
        proc_cgroup(spid)
    );
    let ex = cri_json(&["exec", &spin, "10", "/echo.wasm", "kubectl", "exec"]);
    assert_eq!(ex["exit_code"], 0, "{ex}");
    let stdout = ex["stdout"].as_str().unwrap_or_default();
    assert!(stdout.contains("arg[1]=kubectl\narg[2]=exec\n"), "{ex}");
    let ex = cri_json(&["exec", &spin, "10", "/exit_code.wasm", "4"]);
    assert_eq!(ex["exit_code"], 4, "{ex}");
    let stop = cri(&["stop", &spin, "10"]);
    stop.assert_ok();
    assert!(
        stop.elapsed < Duration::from_secs(2),
        "StopContainer of a spinning module took {:?} (SIGTERM must end it)",
        stop.elapsed
    );
    let st = cri_json(&["status", &spin]);
    assert_eq!(st["exit_code"], 143, "{st}");

    // Remove everything: no state, cgroup or mount left.
    for c in [&hello, &exit3, &spin] {
        cri(&["rm", c]).assert_ok();
    }
    cri(&["stopp", &pod]).assert_ok();
    cri(&["rmp", &pod]).assert_ok();
    assert_eq!(
        runtime_entries(&root),
        Vec::<String>::new(),
        "runwasm state left"
    );
    for id in [&pod, &hello, &exit3, &spin] {
        assert_eq!(
            cgroup_dirs(&format!("{pod_cgroup}/{id}")),
            Vec::<PathBuf>::new()
        );
        assert_eq!(
            mounts_mentioning(id),
            Vec::<String>::new(),
            "mounts left for {id}"
        );
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// One test's containerd, namespace and ctr flags. Fields drop in order:
/// containerd (stopped, its leftovers cleaned) before the temporary dir.
struct Ctr {
    ctd: Containerd,
    env: TestEnv,
    name: String,
    ns: String,
}

impl Ctr {
    fn setup(name: &str, short: &str) -> Option<Ctr> {
        let env = TestEnv::new(short)?;
        if let Err(why) = Containerd::installed() {
            skip(name, &why);
            return None;
        }
        let ctd = match Containerd::start(&env.tmp().join("ctd"), &env.bin, false, "") {
            Ok(c) => c,
            Err(why) => {
                skip(name, &format!("containerd cannot start here: {why}"));
                return None;
            }
        };
        let ns = format!("rwit-{short}-{}", std::process::id());
        ctd.cleanup_cgroup(&ns);
        Some(Ctr {
            ctd,
            env,
            name: name.to_string(),
            ns,
        })
    }

    fn ctr(&self, args: &[&str], timeout: Duration) -> CmdOut {
        self.ctd.ctr(&self.ns, args, timeout)
    }

    fn ctr_cmd(&self, args: &[&str]) -> Command {
        self.ctd.ctr_cmd(&self.ns, args)
    }

    fn import_wasi(&self) {
        let img =
            wasm_image(WASI_IMAGE, "wasi", "wasm").oci_archive(&self.env.tmp().join("img-wasi"));
        // --platform: ctr imports only the host's platform by default
        // ("image might be filtered out").
        self.ctr(
            &[
                "images",
                "import",
                "--platform",
                "wasi/wasm",
                img.to_str().unwrap(),
            ],
            T,
        )
        .assert_ok();
    }

    /// `run [flags] --runc-binary RUNWASM --runc-root ROOT --fifo-dir F IMAGE ID ARGS…`
    fn run_args<'a>(
        &'a self,
        flags: &[&'a str],
        image: &'a str,
        id: &'a str,
        args: &[&'a str],
    ) -> Vec<&'a str> {
        let mut v = vec!["run"];
        v.extend_from_slice(flags);
        v.extend([
            "--runc-binary",
            self.ctd.runwasm.to_str().unwrap(),
            "--runc-root",
            self.ctd.runc_root.to_str().unwrap(),
            "--fifo-dir",
            self.ctd.fifo_dir.to_str().unwrap(),
            image,
            id,
        ]);
        v.extend_from_slice(args);
        v
    }

    fn exec_args<'a>(
        &'a self,
        flags: &[&'a str],
        id: &'a str,
        exec_id: &'a str,
        args: &[&'a str],
    ) -> Vec<&'a str> {
        let mut v = vec!["task", "exec"];
        v.extend_from_slice(flags);
        v.extend([
            "--fifo-dir",
            self.ctd.fifo_dir.to_str().unwrap(),
            "--exec-id",
            exec_id,
            id,
        ]);
        v.extend_from_slice(args);
        v
    }

    /// `ctr run --rm … IMAGE ID ARGS` on the Wasm image.
    fn run_rm(&self, id: &str, flags: &[&str], args: &[&str]) -> CmdOut {
        let mut f = vec!["--rm"];
        f.extend_from_slice(flags);
        self.ctr(&self.run_args(&f, WASI_IMAGE, id, args), T)
    }

    /// The task's STATUS column in `ctr task ls`.
    fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr(&["task", "ls"], T);
        out.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
        })
    }

    /// Waits until `ctr task ls` shows the task with `status`; its pid.
    #[track_caller]
    fn task_pid(&self, id: &str, status: &str) -> i32 {
        let mut last = String::new();
        let ok = wait_for(Duration::from_secs(5), || {
            last = self.ctr(&["task", "ls"], T).stdout;
            last.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first() == Some(&id) && f.get(2) == Some(&status)
            })
        });
        assert!(
            ok,
            "task {id} never showed {status} in ctr task ls:\n{last}"
        );
        last.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap()
    }

    fn state_root(&self) -> PathBuf {
        self.ctd.runc_root.join(&self.ns)
    }

    fn runwasm_state(&self, id: &str) -> Value {
        runwasm_state(&self.env.bin, &self.state_root(), id)
    }

    /// After `rm`: no runwasm state, no cgroup, no mount, no shim, no
    /// container record.
    #[track_caller]
    fn assert_gone(&self, id: &str) {
        let root = self.state_root();
        assert!(
            !runtime_entries(&root).iter().any(|e| e == id),
            "{}: runwasm state of {id} left in {}",
            self.name,
            root.display()
        );
        let cg = format!("{}/{id}", self.ns);
        assert_eq!(cgroup_dirs(&cg), Vec::<PathBuf>::new(), "cgroup /{cg} left");
        let needle = format!("/{id}/");
        let m: Vec<String> = mounts_mentioning(&needle)
            .into_iter()
            .filter(|l| l.contains(self.env.tmp().to_str().unwrap()))
            .collect();
        assert_eq!(m, Vec::<String>::new(), "mounts of {id} left");
        assert!(
            wait_for(Duration::from_secs(5), || self.ctd.shims(id).is_empty()),
            "the shim of {id} did not exit: {:?}",
            self.ctd.shims(id)
        );
        let ls = self.ctr(&["containers", "ls", "-q"], T);
        assert!(
            !ls.stdout.lines().any(|l| l == id),
            "container {id} still listed:\n{ls}"
        );
    }
}

fn runwasm_state(bin: &std::path::Path, root: &std::path::Path, id: &str) -> Value {
    let out = run_cmd(
        Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(["state", id]),
        &root.parent().unwrap().join("io"),
        Duration::from_secs(10),
    );
    out.assert_ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{out}"))
}

fn cri_json_id(out: &CmdOut) -> String {
    out.assert_ok();
    out.out().to_string()
}

fn wait_exited(cri_json: &dyn Fn(&[&str]) -> Value, id: &str) -> Value {
    let mut st = Value::Null;
    let ok = wait_for(Duration::from_secs(10), || {
        st = cri_json(&["status", id]);
        st["state"] == 2
    });
    assert!(ok, "container {id} did not exit: {st}");
    st
}

const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.8";

/// The CRI part of the containerd config: what docs/containerd-kubernetes.md
/// tells a node to add, plus the private paths a test needs.
fn cri_config(
    runwasm: &std::path::Path,
    runwasm_root: &std::path::Path,
    dir: &std::path::Path,
) -> String {
    format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  # This VM lacks CAP_SYS_RESOURCE: keep oom_score_adj at or above ours.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = "{d}/runc-root"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runwasm]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runwasm.options]
      BinaryName = "{bin}"
      Root = "{root}"
"#,
        d = dir.display(),
        bin = runwasm.display(),
        root = runwasm_root.display(),
    )
}

/// The CRI client (see its docstring), written to the test's directory.
const CRI_CLIENT: &str = include_str!("clients/cri.py");
