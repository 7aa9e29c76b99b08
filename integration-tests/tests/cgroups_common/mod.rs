//! Helpers shared by the cgroup tests (`cgroups.rs`, `cgroups_ops.rs`):
//! reading cgroup v1 files, where a process is placed, runc's default
//! config for native busybox containers, and an environment that removes
//! any cgroup directory a failed test left behind.
//!
//! Included with `#[path = "cgroups_common/mod.rs"] mod cg;` next to
//! `mod common;`.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

/// Where the cgroup hierarchies are mounted.
pub const CG_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers libcgroups places a container in on this kind of host.
pub const CONTROLLERS: [&str; 8] = [
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
];

/// A [`TestEnv`] for cgroup tests: root and cgroup v1 hierarchies required
/// (else it prints why it skips). Every cgroup path registered with
/// [`CgEnv::cgroup`] (and `runwasm/ID` of every id from [`CgEnv::id`]) is
/// removed, in every hierarchy, after the env's own cleanup (`delete
/// --force`) ran — so a failing test leaves no cgroup behind. Assertions
/// about removal are made by the tests before that.
pub struct CgEnv {
    env: Option<TestEnv>,
    paths: Mutex<Vec<String>>,
}

impl CgEnv {
    pub fn new(name: &str) -> Option<CgEnv> {
        let env = TestEnv::new(name)?;
        for c in [
            "memory", "cpu", "cpuacct", "pids", "freezer", "devices", "cpuset",
        ] {
            let p = Path::new(CG_ROOT).join(c).join("cgroup.procs");
            if !p.exists() {
                eprintln!(
                    "SKIPPED {name}: these tests read cgroup v1 files and {} does not exist \
                     (no v1 {c} hierarchy on this host)",
                    p.display()
                );
                return None;
            }
        }
        Some(CgEnv {
            env: Some(env),
            paths: Mutex::new(Vec::new()),
        })
    }

    /// A container id (deleted by the env) whose default cgroup
    /// `runwasm/ID` is removed at the end if still there.
    pub fn id(&self, tag: &str) -> String {
        let id = self.env().id(tag);
        self.cgroup(&format!("runwasm/{id}"));
        id
    }

    /// Registers a cgroup path (relative to each hierarchy's root) to remove
    /// at the end.
    pub fn cgroup(&self, path: &str) {
        self.paths
            .lock()
            .unwrap()
            .push(path.trim_start_matches('/').to_string());
    }

    fn env(&self) -> &TestEnv {
        self.env.as_ref().expect("env")
    }
}

impl Deref for CgEnv {
    type Target = TestEnv;
    fn deref(&self) -> &TestEnv {
        self.env()
    }
}

impl Drop for CgEnv {
    fn drop(&mut self) {
        // `delete --force` of every container and the kill of stragglers.
        let name = self.env().name.clone();
        drop(self.env.take());
        let me = std::process::id() as i32;
        let paths = std::mem::take(&mut *self.paths.lock().unwrap_or_else(|e| e.into_inner()));
        for p in paths.iter().rev() {
            for h in cgroup_hierarchies() {
                let d = h.join(p);
                if !d.is_dir() {
                    continue;
                }
                // Only a container's own cgroup (named after this test's
                // ids) may have its processes killed, never a shared parent
                // nor one holding the test itself.
                let procs = procs_in(&d);
                if p.contains(&name) && !procs.contains(&me) {
                    // A frozen leftover must thaw before its processes die.
                    let _ = fs::write(d.join("freezer.state"), "THAWED");
                    for pid in procs {
                        send_signal(pid, libc::SIGKILL);
                    }
                    wait_until(Duration::from_secs(2), || {
                        fs::remove_dir(&d).is_ok() || !d.exists()
                    });
                } else {
                    // A parent: removed only once empty.
                    let _ = fs::remove_dir(&d);
                }
            }
        }
    }
}

/// `/sys/fs/cgroup/CONTROLLER/PATH`.
pub fn cg_dir(controller: &str, path: &str) -> PathBuf {
    Path::new(CG_ROOT)
        .join(controller)
        .join(path.trim_start_matches('/'))
}

/// The trimmed content of `/sys/fs/cgroup/CONTROLLER/PATH/FILE`.
#[track_caller]
pub fn read_cg(controller: &str, path: &str, file: &str) -> String {
    let p = cg_dir(controller, path).join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// [`read_cg`] parsed as an integer.
#[track_caller]
pub fn read_cg_i64(controller: &str, path: &str, file: &str) -> i64 {
    let s = read_cg(controller, path, file);
    s.parse().unwrap_or_else(|e| {
        panic!(
            "{}/{file} holds {s:?}, not a number: {e}",
            cg_dir(controller, path).display()
        )
    })
}

/// The pids in `DIR/cgroup.procs` (empty when it cannot be read).
pub fn procs_in(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The pids in `/sys/fs/cgroup/CONTROLLER/PATH/cgroup.procs`.
pub fn cg_procs(controller: &str, path: &str) -> Vec<i32> {
    procs_in(&cg_dir(controller, path))
}

/// The hierarchies in which the directory `PATH` exists.
pub fn cgroup_dirs_left(path: &str) -> Vec<PathBuf> {
    cgroup_hierarchies()
        .into_iter()
        .map(|h| h.join(path.trim_start_matches('/')))
        .filter(|d| d.exists())
        .collect()
}

/// `/proc/PID/cgroup` as `(controllers, path)` pairs (`("memory",
/// "/runwasm/ID")`, `("name=systemd", "/")`, `("", "/")` for v2).
pub fn proc_cgroups(pid: i32) -> Vec<(String, String)> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrl = it.next()?.to_string();
            let path = it.next()?.to_string();
            Some((ctrl, path))
        })
        .collect()
}

/// The cgroup path of `pid` in the v1 hierarchy holding `controller`.
pub fn cgroup_of(pid: i32, controller: &str) -> Option<String> {
    proc_cgroups(pid)
        .into_iter()
        .find(|(c, _)| c.split(',').any(|x| x == controller))
        .map(|(_, p)| p)
}

/// Whether this kernel has `FILE` in a fresh cgroup of `controller`: makes
/// a probe cgroup, looks, removes it.
pub fn kernel_has_cg_file(controller: &str, file: &str) -> bool {
    let d = cg_dir(
        controller,
        &format!("rwtest-probe-{}-{file}", std::process::id()),
    );
    if fs::create_dir(&d).is_err() {
        return false;
    }
    let has = d.join(file).exists();
    let _ = fs::remove_dir(&d);
    has
}

/// Live pids in the cgroup `PATH` of `controller`.
pub fn live_procs(controller: &str, path: &str) -> Vec<i32> {
    cg_procs(controller, path)
        .into_iter()
        .filter(|p| pid_alive(*p))
        .collect()
}

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

/// busybox applets linked into native rootfses (`/bin/NAME -> busybox`).
pub const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "head", "sleep", "true", "ls", "wc", "grep",
];

/// A busybox rootfs (with [`APPLETS`] in `/bin`) running `args` under
/// runc's default config, `PATH=/bin`.
pub fn native(env: &TestEnv, args: &[&str]) -> Bundle {
    let b = env.native_bundle(args);
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", b.rootfs.join("bin").join(a)).unwrap();
    }
    let mut c = runc_spec();
    c["process"]["args"] = json!(args);
    c["process"]["env"] = json!(["PATH=/bin"]);
    b.edit(|cfg| *cfg = c)
}

/// [`native`] running `sh -c script`.
pub fn native_sh(env: &TestEnv, script: &str) -> Bundle {
    native(env, &["sh", "-c", script])
}

/// The Wasm test module `module` with `args`, `linux.resources` set to
/// `resources` (when not null).
pub fn wasm(env: &TestEnv, module: &str, args: &[&str], resources: Value) -> Bundle {
    let mut argv = vec!["/app.wasm"];
    argv.extend_from_slice(args);
    let b = env.bundle(module).args(&argv);
    if resources.is_null() {
        b
    } else {
        b.edit(|c| c["linux"] = json!({ "resources": resources }))
    }
}

/// Sets `linux.cgroupsPath`.
pub fn with_cgroups_path(b: Bundle, path: &str) -> Bundle {
    b.edit(|c| {
        if !c["linux"].is_object() {
            c["linux"] = json!({});
        }
        c["linux"]["cgroupsPath"] = json!(path);
    })
}

/// Sets `linux.resources`.
pub fn with_resources(b: Bundle, resources: Value) -> Bundle {
    b.edit(|c| {
        if !c["linux"].is_object() {
            c["linux"] = json!({});
        }
        c["linux"]["resources"] = resources;
    })
}

// ---------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------

/// `create` + `start` of `b` as `id`; waits until the container's stdout
/// shows `ready` (when given). Returns the create result (pid, stdout).
#[track_caller]
pub fn start_detached(env: &TestEnv, id: &str, b: &Bundle, ready: Option<&str>) -> Created {
    let c = env.create(id, b);
    env.start(id);
    if let Some(needle) = ready {
        assert!(
            wait_file_contains(&c.stdout, needle, Duration::from_secs(5)),
            "container {id} did not print {needle:?} within 5 s; stdout {:?}, stderr {:?}",
            c.stdout(),
            c.stderr()
        );
    }
    c
}

/// `runwasm <global flags> args` with `input` on its stdin; stdout and
/// stderr collected (the harness's calls have /dev/null as stdin).
#[track_caller]
pub fn run_with_stdin(env: &TestEnv, args: &[&str], input: &str) -> Output {
    let log = env.tmp().join(format!("logs/stdin-{}.json", next_n()));
    let mut full: Vec<&OsStr> = vec![
        OsStr::new("--root"),
        env.root.as_os_str(),
        OsStr::new("--log"),
        log.as_os_str(),
        OsStr::new("--log-format"),
        OsStr::new("json"),
    ];
    full.extend(args.iter().map(OsStr::new));
    let cmdline = format!(
        "{} {} (stdin: {input:?})",
        env.bin.display(),
        full.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    let mut child = Command::new(&env.bin)
        .args(&full)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input.as_bytes());
    }
    let pid = child.id() as i32;
    let watchdog = std::thread::spawn(move || {
        if !wait_pid_exit(pid, CMD_TIMEOUT) {
            send_signal(pid, libc::SIGKILL);
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    Output {
        cmdline,
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        log: fs::read_to_string(&log).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

fn next_n() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Asserts that no hierarchy holds `PATH` any more.
#[track_caller]
pub fn assert_cgroup_gone(path: &str, what: &str) {
    let mut left = Vec::new();
    let gone = wait_until(Duration::from_secs(1), || {
        left = cgroup_dirs_left(path);
        left.is_empty()
    });
    assert!(gone, "{what}: cgroup directories left behind: {left:?}");
}

/// Asserts that `PATH` exists in every v1 controller hierarchy of
/// [`CONTROLLERS`].
#[track_caller]
pub fn assert_cgroup_everywhere(path: &str, what: &str) {
    let missing: Vec<&str> = CONTROLLERS
        .iter()
        .copied()
        .filter(|c| Path::new(CG_ROOT).join(c).is_dir() && !cg_dir(c, path).is_dir())
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: the cgroup {path} is missing in the hierarchies {missing:?}"
    );
}
