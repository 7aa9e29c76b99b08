//! The harness shared by runwasm's integration tests.
//!
//! Every test makes a [`TestEnv`]: a temporary directory holding a private
//! state root (`--root <tmp>/state`), one log file per runwasm call
//! (`--log <tmp>/logs/N.json --log-format json`), the stdout/stderr files of
//! each call and any number of bundles. Dropping the env runs
//! `delete --force` on every container id the test asked for and kills any
//! process still using the temporary directory, so a failing assertion
//! leaves nothing running.
//!
//! Tests need root; without it [`TestEnv::new`] prints why it skips and
//! returns `None`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod leftovers;
#[allow(unused_imports)]
pub use leftovers::*;

/// The runwasm binary built with the `fault-injection` feature (test-only
/// crash points named by `RUNWASM_FAULT`): `$RUNWASM_FAULT_BIN`, else
/// `<workspace>/target/debug/runwasm-fault`, which `just build-fault` (run
/// by `just test`) makes. Panics when it is missing or older than the
/// runtime's sources.
pub fn fault_bin() -> PathBuf {
    static CHECKED: OnceLock<PathBuf> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("workspace dir")
                .to_path_buf();
            let build = "build it with `just build-fault` (cargo build -p runwasm --features \
                         fault-injection, copied to target/debug/runwasm-fault), or point \
                         RUNWASM_FAULT_BIN at such a binary";
            if let Some(p) = std::env::var_os("RUNWASM_FAULT_BIN") {
                return PathBuf::from(p);
            }
            let p = ws.join("target/debug/runwasm-fault");
            let built = fs::metadata(&p)
                .and_then(|m| m.modified())
                .unwrap_or_else(|e| panic!("{}: {e}: {build}", p.display()));
            let mut newest = None;
            for dir in ["crates/runwasm", "crates/runwasm-runtime"] {
                newest_mtime(&ws.join(dir), &mut newest);
            }
            if let Some((t, f)) = newest {
                assert!(
                    t <= built,
                    "{} is older than {} (changed since): re{build}",
                    p.display(),
                    f.display()
                );
            }
            p
        })
        .clone()
}

/// The newest modification time of a file under `dir` (sources and
/// manifests; `target` is never under the crates).
fn newest_mtime(dir: &Path, newest: &mut Option<(std::time::SystemTime, PathBuf)>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            newest_mtime(&e.path(), newest);
        } else if let Ok(t) = m.modified() {
            if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                *newest = Some((t, e.path()));
            }
        }
    }
}

/// Longest any single runwasm call may take before the harness kills it.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// The directory holding the compiled test modules (`NAME.wasm`).
pub fn modules_dir() -> PathBuf {
    PathBuf::from(env!("RUNWASM_TEST_MODULES"))
}

/// The path of the compiled test module `name`.
pub fn module(name: &str) -> PathBuf {
    let p = modules_dir().join(format!("{name}.wasm"));
    assert!(p.is_file(), "test module {} was not built", p.display());
    p
}

/// The host's static busybox (Debian's busybox-static), copied into native
/// test rootfses.
pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("no /bin/busybox: install busybox-static (scripts/setup.sh does)");
}

/// The runwasm binary under test: `$RUNWASM_BIN`, else
/// `<workspace>/target/debug/runwasm`. Panics when it does not exist.
pub fn runwasm_bin() -> PathBuf {
    let p = match std::env::var_os("RUNWASM_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace dir")
            .join("target/debug/runwasm"),
    };
    if !p.is_file() {
        panic!(
            "runwasm binary not found at {}: build it first with cargo build \
             (`cargo build --workspace`), or point RUNWASM_BIN at it",
            p.display()
        );
    }
    p
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// The state letter of `/proc/PID/stat` (R, S, D, Z, ...), or None when the
/// process does not exist.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rfind(')')?;
    stat[after + 1..].trim_start().chars().next()
}

/// Whether `pid` is a live process: it exists and is neither a zombie nor
/// dead. (Orphans are not reaped on this machine, so a finished init may
/// linger as a zombie.)
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    matches!(proc_state(pid), Some(s) if s != 'Z' && s != 'X' && s != 'x')
}

/// Every process id in `/proc` (alive, zombie or dying).
pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits up to `timeout` for `pid` to stop being alive; true if it did.
pub fn wait_pid_exit(pid: i32, timeout: Duration) -> bool {
    wait_until(timeout, || !pid_alive(pid))
}

/// Polls `f` every 10 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the file at `path` contains `needle`.
pub fn wait_file_contains(path: &Path, needle: &str, timeout: Duration) -> bool {
    wait_until(timeout, || {
        fs::read_to_string(path)
            .map(|s| s.contains(needle))
            .unwrap_or(false)
    })
}

/// Reads a pid file: a decimal pid, optionally followed by a newline.
pub fn read_pid_file(path: &Path) -> i32 {
    let s = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read pid file {}: {e}", path.display()));
    s.trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid file {} holds {s:?}, not a pid: {e}", path.display()))
}

/// The targets of `/proc/PID/fd/*` by fd number.
pub fn proc_fds(pid: i32) -> Vec<(i32, PathBuf)> {
    let mut fds = Vec::new();
    let Ok(rd) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return fds;
    };
    for e in rd.flatten() {
        let Some(n) = e.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Ok(t) = fs::read_link(e.path()) {
            fds.push((n, t));
        }
    }
    fds.sort();
    fds
}

pub fn send_signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The target of `/proc/PID/ns/NAME` (e.g. `net:[4026531840]`); `pid` 0
/// means this process.
#[track_caller]
pub fn ns_link(pid: i32, name: &str) -> String {
    let p = if pid == 0 {
        format!("/proc/self/ns/{name}")
    } else {
        format!("/proc/{pid}/ns/{name}")
    };
    fs::read_link(&p)
        .unwrap_or_else(|e| panic!("readlink {p}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// `(ppid, pgrp, session)` from `/proc/PID/stat`, as seen from the host.
pub fn proc_stat_ids(pid: i32) -> Option<(i32, i32, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rfind(')')?;
    let mut it = stat[after + 1..].split_whitespace().skip(1);
    let ppid = it.next()?.parse().ok()?;
    let pgrp = it.next()?.parse().ok()?;
    let session = it.next()?.parse().ok()?;
    Some((ppid, pgrp, session))
}

/// The `NSpid:` line of `/proc/PID/status`: the pid in each nested pid
/// namespace, outermost first.
pub fn ns_pids(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Live processes whose executable is the runwasm binary `bin` and whose
/// command line mentions `needle` (a bundle path, a container id).
pub fn runwasm_processes_mentioning(bin: &Path, needle: &str) -> Vec<(i32, String)> {
    let bin = fs::canonicalize(bin).unwrap_or_else(|_| bin.to_path_buf());
    let mut found = Vec::new();
    for pid in all_pids() {
        if !pid_alive(pid) {
            continue;
        }
        let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        let cmdline =
            String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
                .replace('\0', " ");
        let exe_is_runwasm =
            exe == bin || exe.to_string_lossy().starts_with(&*bin.to_string_lossy());
        if (exe_is_runwasm || cmdline.contains(&*bin.to_string_lossy())) && cmdline.contains(needle)
        {
            found.push((
                pid,
                format!("pid {pid} exe {} cmdline {cmdline:?}", exe.display()),
            ));
        }
    }
    found
}

/// Checks that `s` is an RFC 3339 timestamp
/// (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !(b[10] == b'T' || b[10] == b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] | [b'z'] => true,
        [s, h1, h2, b':', m1, m2] => {
            (*s == b'+' || *s == b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Command output
// ---------------------------------------------------------------------------

/// What a finished runwasm call left: its exit status, stdout, stderr and the
/// content of its `--log` file.
pub struct Output {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// Content of the `--log` file of this call ("" when none was written).
    pub log: String,
    pub elapsed: Duration,
}

impl Output {
    /// The exit code; panics (showing the output) when runwasm was killed by
    /// a signal.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(c) => c,
            None => panic!("runwasm was killed by a signal:\n{self}"),
        }
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics unless the call exited 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.status.success(), "expected exit 0:\n{self}");
        self
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Every line of the log file, parsed; panics when a line is not a JSON
    /// object with string `level`, `msg` and RFC 3339 `time`.
    #[track_caller]
    pub fn log_entries(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for line in self.log.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line:?}\n{self}"));
            assert!(
                v.is_object(),
                "log line is not a JSON object: {line:?}\n{self}"
            );
            for k in ["level", "msg", "time"] {
                assert!(
                    v.get(k).is_some_and(Value::is_string),
                    "log line lacks string field {k:?}: {line:?}\n{self}"
                );
            }
            let t = v["time"].as_str().unwrap();
            assert!(
                is_rfc3339(t),
                "log line's time {t:?} is not RFC 3339: {line:?}\n{self}"
            );
            out.push(v);
        }
        out
    }

    /// The log entries whose level is `error`.
    #[track_caller]
    pub fn log_errors(&self) -> Vec<Value> {
        self.log_entries()
            .into_iter()
            .filter(|v| v["level"].as_str() == Some("error"))
            .collect()
    }

    /// Asserts what a user sees when a command fails: a non-zero exit code,
    /// exactly one non-empty line on stderr, exactly one `error` line in the
    /// JSON log, and every needle (case-insensitive) in both the stderr line
    /// and the logged `msg`.
    #[track_caller]
    pub fn assert_failed_with(&self, needles: &[&str]) -> &Self {
        self.assert_failed_with_any(&needles.iter().map(|n| vec![*n]).collect::<Vec<_>>())
    }

    /// Like [`Output::assert_failed_with`], where each group is satisfied by
    /// any one of its alternatives.
    #[track_caller]
    pub fn assert_failed_with_any(&self, groups: &[Vec<&str>]) -> &Self {
        assert!(
            self.status.code().is_some_and(|c| c != 0),
            "expected a non-zero exit code:\n{self}"
        );
        let lines = self.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one line on stderr:\n{self}"
        );
        let errors = self.log_errors();
        assert_eq!(
            errors.len(),
            1,
            "expected exactly one level=error line in the JSON log:\n{self}"
        );
        let msg = errors[0]["msg"].as_str().unwrap_or_default().to_lowercase();
        let line = lines[0].to_lowercase();
        for group in groups {
            let hit = |s: &str| group.iter().any(|n| s.contains(&n.to_lowercase()));
            assert!(
                hit(&line),
                "stderr does not mention any of {group:?}:\n{self}"
            );
            assert!(
                hit(&msg),
                "the logged error does not mention any of {group:?}:\n{self}"
            );
        }
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  command: {}", self.cmdline)?;
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => writeln!(f, "  exit code: {c}")?,
            (None, Some(s)) => writeln!(f, "  killed by signal {s}")?,
            _ => writeln!(f, "  status: {:?}", self.status)?,
        }
        writeln!(f, "  elapsed: {:?}", self.elapsed)?;
        writeln!(f, "  stdout: {:?}", self.stdout)?;
        writeln!(f, "  stderr: {:?}", self.stderr)?;
        write!(f, "  log: {:?}", self.log)
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// ---------------------------------------------------------------------------
// The test environment
// ---------------------------------------------------------------------------

pub struct TestEnv {
    pub name: String,
    pub bin: PathBuf,
    tmp: tempfile::TempDir,
    /// The state root passed as `--root`.
    pub root: PathBuf,
    ids: Mutex<Vec<String>>,
    counter: AtomicUsize,
    /// Names in the state root that are not runwasm's (see
    /// [`TestEnv::expect_in_root`]).
    expected_in_root: Mutex<Vec<String>>,
    /// Cgroup parents searched for this test's containers' cgroups.
    cgroup_parents: Mutex<Vec<String>>,
    /// Why the end-of-test leftover check is off, when it is.
    skip_leftovers: Mutex<Option<String>>,
}

impl TestEnv {
    /// A fresh environment for the test `name`; `None` (after printing why)
    /// when not running as root.
    pub fn new(name: &str) -> Option<TestEnv> {
        let uid = euid();
        if uid != 0 {
            eprintln!(
                "SKIPPED {name}: runwasm's integration tests must run as root (euid is {uid}); \
                 run them with sudo"
            );
            return None;
        }
        let bin = runwasm_bin();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("runwasm-it-{name}-"))
            .tempdir()
            .expect("create temp dir");
        let root = tmp.path().join("state");
        fs::create_dir_all(tmp.path().join("logs")).unwrap();
        fs::create_dir_all(tmp.path().join("io")).unwrap();
        Some(TestEnv {
            name: name.to_string(),
            bin,
            tmp,
            root,
            ids: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(0),
            expected_in_root: Mutex::new(Vec::new()),
            cgroup_parents: Mutex::new(vec!["runwasm".to_string()]),
            skip_leftovers: Mutex::new(None),
        })
    }

    /// The test's temporary directory.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    /// A container id unique to this test, deleted (`--force`) when the env
    /// is dropped.
    pub fn id(&self, suffix: &str) -> String {
        let id = format!("{}-{}", self.name, suffix);
        self.track(&id);
        id
    }

    /// Registers `id` for `delete --force` at the end of the test.
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// `ROOT/ID`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// A new bundle running the test module `module` as `/app.wasm`.
    pub fn bundle(&self, module_name: &str) -> Bundle {
        let n = self.next();
        let dir = self.tmp().join(format!("bundle{n}"));
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(&rootfs).unwrap();
        fs::copy(module(module_name), rootfs.join("app.wasm")).unwrap();
        let config = json!({
            "ociVersion": "1.0.2",
            "root": { "path": "rootfs" },
            "process": {
                "terminal": false,
                "user": { "uid": 0, "gid": 0 },
                "args": ["/app.wasm"],
                "env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "cwd": "/"
            }
        });
        let b = Bundle {
            dir,
            rootfs,
            config,
        };
        b.save();
        b
    }

    /// A new bundle whose rootfs holds only a static busybox at
    /// `/bin/busybox` (copied from the host), running `args` natively.
    pub fn native_bundle(&self, args: &[&str]) -> Bundle {
        let n = self.next();
        let dir = self.tmp().join(format!("bundle{n}"));
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        let config = json!({
            "ociVersion": "1.0.2",
            "root": { "path": "rootfs" },
            "process": {
                "terminal": false,
                "user": { "uid": 0, "gid": 0 },
                "args": args,
                "env": ["PATH=/bin"],
                "cwd": "/"
            }
        });
        let b = Bundle {
            dir,
            rootfs,
            config,
        };
        b.save();
        b
    }

    /// A runwasm call with the global flags `--root ROOT --log LOG
    /// --log-format json` before `args`.
    pub fn rw<S: AsRef<OsStr>>(&self, args: &[S]) -> Rw<'_> {
        let n = self.next();
        let io = self.tmp().join("io");
        Rw {
            env: self,
            bin: None,
            args: args.iter().map(|a| a.as_ref().to_os_string()).collect(),
            global: true,
            cwd: None,
            envs: Vec::new(),
            clear_env: false,
            fd3: None,
            new_pgroup: false,
            timeout: CMD_TIMEOUT,
            log: self.tmp().join(format!("logs/{n}.json")),
            stdout: io.join(format!("{n}.stdout")),
            stderr: io.join(format!("{n}.stderr")),
        }
    }

    /// Runs `runwasm <global flags> args` to completion.
    #[track_caller]
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.rw(args).run()
    }

    /// `create --bundle B --pid-file P ID` with the container's stdout and
    /// stderr going to files; asserts success.
    #[track_caller]
    pub fn create(&self, id: &str, bundle: &Bundle) -> Created {
        let c = self.try_create(id, bundle);
        c.out.assert_ok();
        c
    }

    /// Like [`TestEnv::create`] without asserting success.
    #[track_caller]
    pub fn try_create(&self, id: &str, bundle: &Bundle) -> Created {
        self.track(id);
        let pid_file = self.tmp().join(format!("{id}.pid"));
        let rw = self.rw(&[
            OsStr::new("create"),
            OsStr::new("--bundle"),
            bundle.dir.as_os_str(),
            OsStr::new("--pid-file"),
            pid_file.as_os_str(),
            OsStr::new(id),
        ]);
        let stdout = rw.stdout.clone();
        let stderr = rw.stderr.clone();
        let out = rw.run();
        Created {
            id: id.to_string(),
            pid_file,
            stdout,
            stderr,
            out,
        }
    }

    /// `state ID` parsed; None when the command fails.
    #[track_caller]
    pub fn try_state(&self, id: &str) -> Option<Value> {
        let out = self.run(&["state", id]);
        if !out.success() {
            return None;
        }
        Some(
            serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("state printed invalid JSON ({e}):\n{out}")),
        )
    }

    /// `state ID` parsed; panics when it fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state printed invalid JSON ({e}):\n{out}"))
    }

    /// The `status` field of `state ID` (None when the call fails).
    pub fn status(&self, id: &str) -> Option<String> {
        self.try_state(id)
            .and_then(|v| v["status"].as_str().map(str::to_string))
    }

    /// Waits until `state ID` reports `status`.
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.status(id).as_deref() == Some(status))
    }

    /// `start ID`, asserting success and that start printed nothing on stdout.
    #[track_caller]
    pub fn start(&self, id: &str) -> Output {
        let out = self.run(&["start", id]);
        out.assert_ok();
        assert_eq!(out.stdout, "", "start must not write to stdout:\n{out}");
        out
    }

    /// Starts `runwasm run --bundle B ID` in the background, its stdout and
    /// stderr going to files.
    pub fn spawn_run(&self, id: &str, bundle: &Bundle) -> Bg {
        self.track(id);
        self.rw(&[
            OsStr::new("run"),
            OsStr::new("--bundle"),
            bundle.dir.as_os_str(),
            OsStr::new(id),
        ])
        .spawn()
    }

    /// Every fifo under the state root.
    pub fn fifos_in_root(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for e in rd.flatten() {
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_fifo() {
                    out.push(e.path());
                } else if ft.is_dir() {
                    walk(&e.path(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    /// The directories directly under the state root.
    pub fn dirs_in_root(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// After a failed command: no `ROOT/ID` (nor a temporary `.new:`/`.gone:`
    /// directory), no cgroup of `id`, no mount under the test's directory,
    /// no fifo in the state root, and (within a short grace period for the
    /// kernel to finish an exit) no process of the test other than `keep`.
    /// The same looks as [`TestEnv::leftovers`], narrowed to `id`.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str, keep: &[i32]) {
        let dir = self.state_dir(id);
        assert!(
            !dir.exists(),
            "the failed command left the state dir {} behind: {:?}",
            dir.display(),
            fs::read_dir(&dir).map(|r| r.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        );
        let temporary: Vec<String> = self
            .dirs_in_root()
            .into_iter()
            .filter(|d| d.starts_with(".new:") || d.starts_with(".gone:"))
            .collect();
        assert!(
            temporary.is_empty(),
            "temporary directories left in the state root: {temporary:?}"
        );
        self.assert_no_fifo_or_process(keep);
        let mut cgroups = Vec::new();
        let gone = wait_until(Duration::from_secs(1), || {
            cgroups = self
                .cgroups_left()
                .into_iter()
                .filter(|d| d.file_name().is_some_and(|n| n == id))
                .collect();
            cgroups.is_empty()
        });
        assert!(gone, "cgroups of {id} left behind: {cgroups:?}");
        let mounts = mounts_under(self.tmp());
        assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    }

    /// No fifo in the state root and (within a short grace period for the
    /// kernel to finish an exit) no process using the test's directory
    /// other than `keep`.
    #[track_caller]
    pub fn assert_no_fifo_or_process(&self, keep: &[i32]) {
        let fifos = self.fifos_in_root();
        assert!(fifos.is_empty(), "fifos left in the state root: {fifos:?}");
        let mut left = Vec::new();
        let gone = wait_until(Duration::from_secs(1), || {
            left = self
                .processes_using_tmp()
                .into_iter()
                .filter(|(p, _)| !keep.contains(p))
                .collect();
            left.is_empty()
        });
        assert!(gone, "processes left behind: {left:#?}");
    }

    /// Asserts the state root holds no container directory at all.
    #[track_caller]
    pub fn assert_root_has_no_containers(&self) {
        let dirs = self.dirs_in_root();
        assert!(
            dirs.is_empty(),
            "container dirs left in {}: {dirs:?}",
            self.root.display()
        );
    }
}

impl Drop for TestEnv {
    /// `delete --force` of every container id the test used, then the
    /// leftover check ([`TestEnv::leftovers`]): what is left is cleaned up
    /// (processes killed, cgroups removed, mounts detached) and, unless the
    /// test already failed or turned the check off, fails the test.
    fn drop(&mut self) {
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for id in ids {
            if self.state_dir(&id).exists() {
                let _ = self
                    .rw(&["delete", "--force", id.as_str()])
                    .timeout(Duration::from_secs(5))
                    .try_run();
            }
        }
        let left = self.clean_leftovers();
        let skip = self
            .skip_leftovers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if !left.is_empty() && !std::thread::panicking() {
            match skip {
                Some(why) => eprintln!(
                    "{}: leftover check skipped ({why}); cleaned up:\n{left}",
                    self.name
                ),
                None => panic!(
                    "{}: left behind after `delete --force` of every container:\n{left}",
                    self.name
                ),
            }
        }
    }
}

/// The result of `create`: the pid file and the files holding the
/// container's stdout/stderr.
pub struct Created {
    pub id: String,
    pub pid_file: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub out: Output,
}

impl Created {
    #[track_caller]
    pub fn pid(&self) -> i32 {
        read_pid_file(&self.pid_file)
    }

    /// The container's stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The container's stderr so far (which also holds create's own).
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

/// An OCI bundle: `DIR/config.json` and `DIR/rootfs`. Every builder method
/// rewrites `config.json`.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub config: Value,
}

impl Bundle {
    fn save(&self) {
        fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Sets `process.args`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.config["process"]["args"] = json!(args);
        self.save();
        self
    }

    /// Sets `process.env`.
    pub fn env(mut self, env: &[&str]) -> Self {
        self.config["process"]["env"] = json!(env);
        self.save();
        self
    }

    /// Sets `process.cwd`.
    pub fn cwd(mut self, cwd: &str) -> Self {
        self.config["process"]["cwd"] = json!(cwd);
        self.save();
        self
    }

    /// Adds an annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        if !self.config["annotations"].is_object() {
            self.config["annotations"] = json!({});
        }
        self.config["annotations"][key] = json!(value);
        self.save();
        self
    }

    /// Sets `linux.namespaces` to new namespaces of `types` (`"pid"`,
    /// `"network"`, ...).
    pub fn namespaces(self, types: &[&str]) -> Self {
        let list: Vec<Value> = types.iter().map(|t| json!({ "type": t })).collect();
        self.edit(|c| c["linux"]["namespaces"] = Value::Array(list))
    }

    /// Any edit of the config JSON.
    pub fn edit(mut self, f: impl FnOnce(&mut Value)) -> Self {
        f(&mut self.config);
        self.save();
        self
    }

    /// Moves the module from `/app.wasm` to `path` inside the rootfs (and
    /// points `process.args[0]` at it).
    pub fn module_at(mut self, path: &str) -> Self {
        let to = self.rootfs.join(path.trim_start_matches('/'));
        if let Some(p) = to.parent() {
            fs::create_dir_all(p).unwrap();
        }
        fs::rename(self.rootfs.join("app.wasm"), &to).unwrap();
        self.config["process"]["args"][0] = json!(path);
        self.save();
        self
    }

    /// Writes `content` to `path` inside the rootfs.
    pub fn file(self, path: &str, content: &[u8]) -> Self {
        let to = self.rootfs.join(path.trim_start_matches('/'));
        if let Some(p) = to.parent() {
            fs::create_dir_all(p).unwrap();
        }
        fs::write(to, content).unwrap();
        self
    }

    /// Replaces config.json with arbitrary text.
    pub fn raw_config(self, text: &str) -> Self {
        fs::write(self.config_path(), text).unwrap();
        self
    }
}

// ---------------------------------------------------------------------------
// Running runwasm
// ---------------------------------------------------------------------------

/// One runwasm invocation being prepared. stdin is /dev/null; stdout and
/// stderr go to files (a container started by this call inherits them, and
/// a file never keeps the harness waiting for EOF).
pub struct Rw<'a> {
    env: &'a TestEnv,
    /// Another binary than the env's (the fault-injection build).
    bin: Option<PathBuf>,
    args: Vec<OsString>,
    global: bool,
    cwd: Option<PathBuf>,
    envs: Vec<(OsString, OsString)>,
    clear_env: bool,
    fd3: Option<File>,
    new_pgroup: bool,
    timeout: Duration,
    pub log: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Rw<'_> {
    /// Drops the global flags (`--root`, `--log`, `--log-format`).
    pub fn no_global(mut self) -> Self {
        self.global = false;
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Adds an environment variable for runwasm itself.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.envs.push((k.into(), v.into()));
        self
    }

    /// Runs the fault-injection build ([`fault_bin`]) with
    /// `RUNWASM_FAULT=point`: it SIGKILLs itself when it gets there.
    pub fn fault(mut self, point: &str) -> Self {
        self.bin = Some(fault_bin());
        self.envs.push(("RUNWASM_FAULT".into(), point.into()));
        self
    }

    fn binary(&self) -> &Path {
        self.bin.as_deref().unwrap_or(&self.env.bin)
    }

    /// Runs runwasm with an empty environment (plus what `env` adds).
    pub fn clear_env(mut self) -> Self {
        self.clear_env = true;
        self
    }

    /// Passes `file` to runwasm as an inherited (non-CLOEXEC) fd 3, as the
    /// containerd shim leaks one.
    pub fn fd3(mut self, file: File) -> Self {
        self.fd3 = Some(file);
        self
    }

    /// Starts runwasm as the leader of a new process group (as a shell
    /// starts a job), so the test can signal the whole group.
    pub fn new_process_group(mut self) -> Self {
        self.new_pgroup = true;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    fn cmdline(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = Vec::new();
        if self.global {
            v.push("--root".into());
            v.push(self.env.root.clone().into());
            v.push("--log".into());
            v.push(self.log.clone().into());
            v.push("--log-format".into());
            v.push("json".into());
        }
        v.extend(self.args.iter().cloned());
        v
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(self.binary());
        cmd.args(self.cmdline());
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        if self.clear_env {
            cmd.env_clear();
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null());
        if self.new_pgroup {
            // SAFETY: the closure runs in the forked child before exec and
            // only calls the async-signal-safe setpgid.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setpgid(0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if let Some(f) = &self.fd3 {
            let raw = f.as_raw_fd();
            // SAFETY: the closure runs in the forked child before exec and
            // only calls the async-signal-safe dup2 and fcntl.
            unsafe {
                cmd.pre_exec(move || {
                    if raw != 3 && libc::dup2(raw, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd
    }

    fn describe(&self) -> String {
        let mut s = self.binary().display().to_string();
        for a in self.cmdline() {
            s.push(' ');
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(' ') {
                s.push_str(&format!("{a:?}"));
            } else {
                s.push_str(&a);
            }
        }
        if self.fd3.is_some() {
            s.push_str("  (with an inherited fd 3)");
        }
        s
    }

    /// Starts runwasm without waiting for it.
    #[track_caller]
    pub fn spawn(self) -> Bg {
        let mut cmd = self.command();
        cmd.stdout(File::create(&self.stdout).unwrap());
        cmd.stderr(File::create(&self.stderr).unwrap());
        let started = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.describe()));
        Bg {
            child: Some(child),
            cmdline: self.describe(),
            stdout: self.stdout,
            stderr: self.stderr,
            log: self.log,
            started,
        }
    }

    /// Runs runwasm to completion (killing it after the timeout).
    pub fn try_run(self) -> Result<Output, String> {
        let timeout = self.timeout;
        let mut bg = self.spawn();
        bg.wait_timeout(timeout).ok_or_else(|| {
            format!(
                "runwasm did not finish within {timeout:?}:\n{}",
                bg.kill_and_collect()
            )
        })
    }

    /// Runs runwasm to completion like [`Rw::run`], and also returns its
    /// resource usage as wait4(2) reports it: runwasm's own and that of
    /// the children it reaped (a `run`'s container init), so `ru_maxrss`
    /// is the peak RSS (KiB) of the runwasm process tree.
    #[track_caller]
    pub fn run_with_rusage(self) -> (Output, libc::rusage) {
        let timeout = self.timeout;
        let mut bg = self.spawn();
        let child = bg.child.as_mut().expect("spawned");
        let pid = child.id() as libc::pid_t;
        let deadline = Instant::now() + timeout;
        // SAFETY: rusage is plain data, filled by wait4.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let mut status = 0;
        loop {
            // SAFETY: wait4 on our own child, with valid out-pointers.
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if r == pid {
                break;
            }
            assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
            if Instant::now() > deadline {
                panic!(
                    "runwasm did not finish within {timeout:?}:\n{}",
                    bg.kill_and_collect()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let out = bg.collect(ExitStatus::from_raw(status));
        (out, usage)
    }

    /// Runs runwasm to completion; panics when it takes longer than the
    /// timeout.
    #[track_caller]
    pub fn run(self) -> Output {
        self.try_run().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs runwasm with stdout and stderr as pipes (read until EOF, which
    /// for `run` comes once the container has exited).
    #[track_caller]
    pub fn run_piped(self) -> Output {
        let mut cmd = self.command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let describe = self.describe();
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {describe}: {e}"));
        let (tx, rx) = std::sync::mpsc::channel();
        for (i, mut r) in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ]
        .into_iter()
        .enumerate()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                let _ = tx.send((i, buf));
            });
        }
        let mut status = None;
        let ok = wait_until(self.timeout, || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        if !ok {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "runwasm did not finish within {:?}: {describe}",
                self.timeout
            );
        }
        let mut outs = [Vec::new(), Vec::new()];
        for _ in 0..2 {
            let (i, buf) = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| {
                panic!("runwasm exited but its stdout/stderr pipe stayed open: {describe}")
            });
            outs[i] = buf;
        }
        Output {
            cmdline: describe,
            status: status.unwrap(),
            stdout: String::from_utf8_lossy(&outs[0]).into_owned(),
            stderr: String::from_utf8_lossy(&outs[1]).into_owned(),
            log: fs::read_to_string(&self.log).unwrap_or_default(),
            elapsed: started.elapsed(),
        }
    }
}

/// A runwasm process running in the background. Dropping it kills it (only
/// runwasm itself; the env's cleanup deletes the container).
pub struct Bg {
    child: Option<Child>,
    pub cmdline: String,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub log: PathBuf,
    pub started: Instant,
}

impl Bg {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(-1)
    }

    /// stdout so far.
    pub fn stdout_now(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr_now(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Whether the process has exited (without collecting it).
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_some(),
            None => true,
        }
    }

    fn collect(&mut self, status: ExitStatus) -> Output {
        self.child = None;
        Output {
            cmdline: self.cmdline.clone(),
            status,
            stdout: self.stdout_now(),
            stderr: self.stderr_now(),
            log: fs::read_to_string(&self.log).unwrap_or_default(),
            elapsed: self.started.elapsed(),
        }
    }

    /// Waits up to `timeout` for the process; None if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Output> {
        let child = self.child.as_mut()?;
        let mut status = None;
        wait_until(timeout, || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        status.map(|s| self.collect(s))
    }

    /// Waits (up to [`CMD_TIMEOUT`]) and panics if it does not finish.
    #[track_caller]
    pub fn wait(&mut self) -> Output {
        match self.wait_timeout(CMD_TIMEOUT) {
            Some(o) => o,
            None => panic!(
                "runwasm did not finish within {CMD_TIMEOUT:?}:\n{}",
                self.kill_and_collect()
            ),
        }
    }

    /// Kills runwasm and returns what it had written so far.
    pub fn kill_and_collect(&mut self) -> Output {
        let child = self.child.as_mut().expect("process already collected");
        let _ = child.kill();
        let status = child.wait().unwrap();
        self.collect(status)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The sorted set of lines of `s`.
pub fn line_set(s: &str) -> BTreeSet<String> {
    s.lines().map(str::to_string).collect()
}

/// A path as &str (every path the harness makes is UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `fs::canonicalize` as a String.
pub fn canonical(p: &Path) -> String {
    fs::canonicalize(p)
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", p.display()))
        .to_string_lossy()
        .into_owned()
}

/// runc's default config as `runwasm spec` writes it (generated once).
pub fn runc_spec() -> Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir for `runwasm spec`");
        let out = std::process::Command::new(runwasm_bin())
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .expect("run `runwasm spec`");
        assert!(
            out.status.success(),
            "`runwasm spec` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = fs::read_to_string(dir.path().join("config.json")).expect("spec's config");
        serde_json::from_str(&text).expect("spec wrote JSON")
    })
    .clone()
}

// ---------------------------------------------------------------------------
// HTTP: talking to modules/http_hello.c
// ---------------------------------------------------------------------------

/// What `http_hello` answers every request with.
pub const HTTP_HELLO_BODY: &str = "Hello from Wasm!\n";

/// Connect, read and write timeout of the tests' own HTTP connections.
pub const HTTP_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP port that nothing listens on (bound on 0.0.0.0 and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 0.0.0.0:0")
        .port()
}

/// `127.0.0.1:PORT`.
pub fn loopback(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port))
}

/// `GET path` over HTTP/1.1 with `Connection: close`; the whole response
/// (read until the server closes the connection).
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect_timeout(&addr, HTTP_IO_TIMEOUT)?;
    s.set_read_timeout(Some(HTTP_IO_TIMEOUT))?;
    s.set_write_timeout(Some(HTTP_IO_TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: runwasm-tests\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// [`http_get`] every 100 ms until a response with a complete head arrives
/// or `timeout` passes. A published port may accept before the server
/// behind it listens (podman's DNAT answers with a reset, Docker's
/// docker-proxy accepts and closes at once): those attempts are retried.
/// Err says how many attempts failed and how the last one did.
pub fn http_get_until(
    addr: std::net::SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match http_get(addr, path) {
            Ok(resp) if resp.contains("\r\n\r\n") => return Ok(resp),
            Ok(resp) => format!("incomplete response {resp:?}"),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "no HTTP response from {addr} within {timeout:?} ({attempts} attempts; the last: {last})"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts `resp` is http_hello's answer: 200, a matching Content-Length,
/// `Connection: close` and the body.
#[track_caller]
pub fn assert_http_hello(resp: &str, ctx: &dyn fmt::Display) {
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {resp:?}\n{ctx}"));
    let mut lines = head.split("\r\n");
    assert_eq!(lines.next(), Some("HTTP/1.1 200 OK"), "{resp:?}\n{ctx}");
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    assert_eq!(
        header("Content-Length"),
        Some(HTTP_HELLO_BODY.len().to_string()),
        "{resp:?}\n{ctx}"
    );
    assert_eq!(
        header("Connection").as_deref(),
        Some("close"),
        "{resp:?}\n{ctx}"
    );
    assert_eq!(body, HTTP_HELLO_BODY, "{resp:?}\n{ctx}");
}

/// Whether connecting to `addr` is refused (nothing listens there).
pub fn refused(addr: std::net::SocketAddr) -> bool {
    matches!(
        std::net::TcpStream::connect_timeout(&addr, HTTP_IO_TIMEOUT),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// The peers `http_hello` logged, in order: the `ADDR` of each
/// `request N from ADDR:PORT: …` line of its output.
pub fn http_hello_peers(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("request ")?;
            let (_, from) = rest.split_once(" from ")?;
            let (peer, _) = from.split_once(": ")?;
            let (ip, _port) = peer.rsplit_once(':')?;
            Some(ip.to_string())
        })
        .collect()
}
