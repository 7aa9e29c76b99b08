//! Issue 7, items 4 and 5: hostile input.
//!
//! **Hostile configs.** Every directory of `corpus/bad-configs/NN-name/`
//! is one bad bundle, run as its own test (`cNN_name`):
//!
//! - `config.json`: the bundle's config, verbatim (possibly not JSON at
//!   all). `$TMP` in it stands for the test's temporary directory.
//! - `case.json` (optional): how to build the rest of the bundle and run it:
//!   - `rootfs`: `"wasm"` (default: the `hello` module as `/app.wasm`) or
//!     `"native"` (a static busybox as `/bin/busybox`);
//!   - `rootfs_symlinks` / `bundle_symlinks`: `{"NAME": "TARGET"}` links
//!     made in the rootfs / bundle directory;
//!   - `host_dirs`, `host_files`: directories (each holding a copy of the
//!     module as `app.wasm`) and files made under `$TMP`;
//!   - `generate`: a config too big to commit, made from `config.json`:
//!     `million_mounts` (10^6 tmpfs mounts on `/m`), `env_1mib` (one 1 MiB
//!     environment string), `env_100k` (100,000 environment entries),
//!     `args_1mib` (one 1 MiB argument);
//!   - `id`: the container id (default: one unique to the test);
//!   - `signal`: the signal given to `kill` (command `kill`);
//!   - `process_file`: the `exec --process` file (command `exec`), taken
//!     from the case directory when it is there;
//!   - `host_must_not_exist`: host paths the case must not create;
//!   - `cgroup_must_not_exist`: cgroup names that must appear in no
//!     hierarchy (nor above `/sys/fs/cgroup`);
//!   - `timeout_secs`: how long the command may take (default 10 s).
//! - `expect.json`: `command` (`create`, or `kill`/`exec` on a container
//!   created from the valid `config.json`), `stderr_contains` (each entry a
//!   string, or a list of alternatives), `field` (the field the message must
//!   name: a string, a list of alternatives, or null), optional
//!   `stderr_excludes` and a `note`.
//!
//! Each case must give a non-zero exit, exactly one stderr line and exactly
//! one `error` line in the JSON `--log`, both holding every needle
//! (case-insensitively), no panic, and leave nothing: no pid file, no state
//! dir, no fifo, no process, no `/sys/fs/cgroup/*/runwasm/ID`, no new mount
//! in `/proc/self/mountinfo`, nothing new in the host's `/etc`. For `kill`
//! and `exec` the container must be untouched (still `created`), then
//! `delete --force` must remove it completely. A case lists every problem it
//! finds before failing.
//!
//! **Hostile modules** (the `m_*` tests): truncated and random bytes,
//! initial memory over the memory limit (exported or not), a trapping start
//! function, a data segment out of bounds, unknown and mistyped imports,
//! tables and locals asking WasmEdge for gigabytes, a `table.grow` bomb
//! (hand-written modules, see [`wasm`]), no usable `_start`, stack
//! exhaustion in C (`modules/deep_recursion.c`), unbounded recursion in
//! pure Wasm, an infinite loop ended by SIGTERM, corrupt and trapping
//! modules and oversized environments through `exec`, guests trying to
//! reach host files (`modules/fsprobe.c`), and symlinks to the host's
//! `/etc` in the rootfs. Each fails cleanly with its documented status
//! (docs/wasm.md: 1 at create, 134 trap or out of memory, 128+n signal,
//! 137 OOM kill, 126 cannot run), never crashes runwasm and never touches
//! anything outside the container.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Checks shared by the corpus and the module tests
// ---------------------------------------------------------------------------

/// Names the default device set-up could create if a `/dev` symlink
/// redirected it to the host's `/etc`.
const DEV_NAMES: &[&str] = &[
    "fd", "stdin", "stdout", "stderr", "ptmx", "null", "zero", "full", "random", "urandom", "tty",
    "shm", "pts", "mqueue", "console",
];

/// Text that must never appear in runwasm's own output: a Rust panic, an
/// abort, a core dump.
const CRASH_TEXT: &[&str] = &[
    "panicked at",
    "RUST_BACKTRACE",
    "core dumped",
    "Aborted",
    "Segmentation fault",
    "stack overflow",
];

/// What the host looked like before a case ran, to tell what the case left.
struct HostSnapshot {
    mountinfo: BTreeSet<String>,
    etc_dev_names: BTreeSet<String>,
}

impl HostSnapshot {
    fn take() -> HostSnapshot {
        HostSnapshot {
            mountinfo: line_set(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()),
            etc_dev_names: etc_dev_names(),
        }
    }
}

/// Which of [`DEV_NAMES`] exist in the host's `/etc`.
fn etc_dev_names() -> BTreeSet<String> {
    DEV_NAMES
        .iter()
        .filter(|n| fs::symlink_metadata(Path::new("/etc").join(n)).is_ok())
        .map(|n| n.to_string())
        .collect()
}

/// Whether `id` is usable as one path component (so `ROOT/ID` and
/// `runwasm/ID` name what runwasm would have made for it).
fn plain_component(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains('/') && !id.contains('\0')
}

/// Every existing `H/rel` for the cgroup hierarchies `H` under
/// `/sys/fs/cgroup` (and `/sys/fs/cgroup/rel` itself, for a unified host).
fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut roots = vec![base.to_path_buf()];
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                roots.push(e.path());
            }
        }
    }
    roots
        .into_iter()
        .map(|r| r.join(rel))
        .filter(|p| p.exists())
        .collect()
}

/// Everything a failed (or deleted) container `id` may have left, as a list
/// of problems: state dir, fifo, processes, cgroups, mounts, host `/etc`.
fn leftovers(env: &TestEnv, id: &str, before: &HostSnapshot) -> Vec<String> {
    let mut problems = Vec::new();
    if plain_component(id) && env.state_dir(id).exists() {
        problems.push(format!(
            "state dir {} left behind",
            env.state_dir(id).display()
        ));
    }
    let dirs = env.dirs_in_root();
    if !dirs.is_empty() {
        problems.push(format!("container dirs left in the state root: {dirs:?}"));
    }
    let fifos = env.fifos_in_root();
    if !fifos.is_empty() {
        problems.push(format!("fifos left in the state root: {fifos:?}"));
    }
    let mut procs = Vec::new();
    let gone = wait_until(Duration::from_secs(1), || {
        procs = env.processes_using_tmp();
        if plain_component(id) {
            procs.extend(runwasm_processes_mentioning(&env.bin, id));
        }
        procs.is_empty()
    });
    if !gone {
        problems.push(format!("processes left behind: {procs:?}"));
    }
    if plain_component(id) {
        let cg = cgroup_dirs(&format!("runwasm/{id}"));
        if !cg.is_empty() {
            problems.push(format!("cgroups left behind: {cg:?}"));
        }
    }
    let tmp = env.tmp().to_string_lossy().into_owned();
    let now = line_set(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    let new_mounts: Vec<&String> = now
        .difference(&before.mountinfo)
        .filter(|l| l.contains(&tmp) || (plain_component(id) && l.contains(id)))
        .collect();
    if !new_mounts.is_empty() {
        problems.push(format!(
            "new mounts in the host's mountinfo: {new_mounts:?}"
        ));
    }
    let etc_now = etc_dev_names();
    let new_etc: Vec<&String> = etc_now.difference(&before.etc_dev_names).collect();
    if !new_etc.is_empty() {
        problems.push(format!(
            "device set-up files appeared in the host's /etc: {new_etc:?}"
        ));
    }
    problems
}

/// Problems with a failed runwasm call's output: exit status, the single
/// stderr line, the single JSON `error` log line, the needles (each a list
/// of alternatives) in both, the excluded texts, crash text.
fn failure_problems(out: &Output, needles: &[Vec<String>], excludes: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    match (out.status.code(), out.status.signal()) {
        (Some(0), _) => problems.push("the command succeeded (exit 0)".to_string()),
        (Some(_), _) => {}
        (None, s) => problems.push(format!("runwasm was killed by signal {s:?}")),
    }
    let all = format!("{}{}", out.stderr, out.stdout);
    for c in CRASH_TEXT {
        if all.contains(c) {
            problems.push(format!("runwasm's output shows a crash ({c:?})"));
        }
    }
    let lines = out.stderr_lines();
    if lines.len() != 1 {
        problems.push(format!(
            "expected exactly one stderr line, got {}",
            lines.len()
        ));
    }
    let mut errors = Vec::new();
    for line in out.log.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v["msg"].is_string() && v["time"].is_string() => {
                if v["level"] == "error" {
                    errors.push(v["msg"].as_str().unwrap().to_string());
                }
            }
            _ => problems.push(format!(
                "log line is not a runc-style JSON object: {line:?}"
            )),
        }
    }
    if errors.len() != 1 {
        problems.push(format!(
            "expected exactly one error line in the JSON log, got {}",
            errors.len()
        ));
    }
    let line = lines.first().map(|l| l.to_lowercase()).unwrap_or_default();
    let msg = errors.first().map(|m| m.to_lowercase()).unwrap_or_default();
    for group in needles {
        let hit = |s: &str| group.iter().any(|n| s.contains(&n.to_lowercase()));
        if !hit(&line) {
            problems.push(format!("stderr does not mention any of {group:?}"));
        }
        if !errors.is_empty() && !hit(&msg) {
            problems.push(format!(
                "the logged error does not mention any of {group:?}"
            ));
        }
    }
    for x in excludes {
        if line.contains(&x.to_lowercase()) {
            problems.push(format!("stderr mentions {x:?}"));
        }
    }
    problems
}

/// Panics listing `problems` (with the output) when there are any.
#[track_caller]
fn assert_no_problems(what: &str, problems: &[String], out: Option<&Output>) {
    if problems.is_empty() {
        return;
    }
    let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
    match out {
        Some(o) => panic!(
            "{what}: {} problem(s):\n{}\n{o}",
            problems.len(),
            list.join("\n")
        ),
        None => panic!(
            "{what}: {} problem(s):\n{}",
            problems.len(),
            list.join("\n")
        ),
    }
}

fn needles(words: &[&str]) -> Vec<Vec<String>> {
    words.iter().map(|w| vec![w.to_string()]).collect()
}

/// `create` of `b` as `id`, which must fail naming `needles`, and leave
/// nothing; returns the problems found.
fn create_must_fail(
    env: &TestEnv,
    id: &str,
    b: &Bundle,
    needles: &[Vec<String>],
    excludes: &[String],
) -> (Output, Vec<String>) {
    let before = HostSnapshot::take();
    let c = env.try_create(id, b);
    let mut problems = failure_problems(&c.out, needles, excludes);
    if fs::read_to_string(&c.pid_file).is_ok_and(|s| !s.trim().is_empty()) {
        problems.push("a pid file was written".into());
    }
    if c.out.success() {
        let _ = env.run(&["delete", "--force", id]);
    }
    if env.try_state(id).is_some() {
        problems.push("`state` still knows the container".into());
    }
    problems.extend(leftovers(env, id, &before));
    (c.out, problems)
}

// ---------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/bad-configs")
}

fn read_json(p: &Path) -> Value {
    let text = fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

/// A string or a list of strings as a list of alternatives.
fn alternatives(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().expect("alternatives are strings").to_string())
            .collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

/// Writes a generated config (see the module doc) over `config.json`.
fn generate(kind: &str, config_text: &str, path: &Path) {
    let mut c: Value = serde_json::from_str(config_text).expect("generated cases start from JSON");
    match kind {
        "million_mounts" => {
            // Built as text: a Value of 10^6 maps is slow in a debug build.
            let mut mounts = String::from("[");
            for m in c["mounts"].as_array().cloned().unwrap_or_default() {
                mounts.push_str(&m.to_string());
                mounts.push(',');
            }
            let one = r#"{"destination":"/m","type":"tmpfs","source":"tmpfs"}"#;
            mounts.reserve(1_000_000 * (one.len() + 1));
            for i in 0..1_000_000 {
                if i > 0 {
                    mounts.push(',');
                }
                mounts.push_str(one);
            }
            mounts.push(']');
            c["mounts"] = json!("@MOUNTS@");
            let text = c.to_string().replace("\"@MOUNTS@\"", &mounts);
            fs::write(path, text).unwrap();
            return;
        }
        "env_1mib" => {
            let big = format!("BIG={}", "x".repeat(1 << 20));
            c["process"]["env"].as_array_mut().unwrap().push(json!(big));
        }
        "args_1mib" => {
            let big = "x".repeat(1 << 20);
            c["process"]["args"]
                .as_array_mut()
                .unwrap()
                .push(json!(big));
        }
        "env_100k" => {
            let pad = "x".repeat(60);
            let env = c["process"]["env"].as_array_mut().unwrap();
            for i in 0..100_000 {
                env.push(json!(format!("VAR_{i:06}={pad}")));
            }
        }
        other => panic!("unknown generator {other:?}"),
    }
    fs::write(path, c.to_string()).unwrap();
}

/// Builds the bundle of corpus case `dir` in the test's directory.
fn corpus_bundle(env: &TestEnv, dir: &Path, case: &Value) -> Bundle {
    let tmp = env.tmp().to_string_lossy().into_owned();
    let subst = |s: &str| s.replace("$TMP", &tmp);
    let bdir = env.tmp().join("bundle");
    let rootfs = bdir.join("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    match case["rootfs"].as_str().unwrap_or("wasm") {
        "wasm" => {
            fs::copy(module("hello"), rootfs.join("app.wasm")).unwrap();
        }
        "native" => {
            fs::create_dir_all(rootfs.join("bin")).unwrap();
            fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        }
        other => panic!("unknown rootfs kind {other:?}"),
    }
    if let Some(dirs) = case["host_dirs"].as_array() {
        for d in dirs {
            let d = env.tmp().join(d.as_str().unwrap());
            fs::create_dir_all(&d).unwrap();
            fs::copy(module("hello"), d.join("app.wasm")).unwrap();
        }
    }
    if let Some(files) = case["host_files"].as_object() {
        for (name, content) in files {
            fs::write(env.tmp().join(name), content.as_str().unwrap()).unwrap();
        }
    }
    for (key, base) in [("bundle_symlinks", &bdir), ("rootfs_symlinks", &rootfs)] {
        if let Some(links) = case[key].as_object() {
            for (name, target) in links {
                symlink(subst(target.as_str().unwrap()), base.join(name)).unwrap();
            }
        }
    }
    let config_text = subst(&fs::read_to_string(dir.join("config.json")).unwrap());
    let config_path = bdir.join("config.json");
    fs::write(&config_path, &config_text).unwrap();
    if let Some(kind) = case["generate"].as_str() {
        generate(kind, &config_text, &config_path);
    }
    let config = if case["generate"].is_string() {
        Value::Null
    } else {
        serde_json::from_str(&config_text).unwrap_or(Value::Null)
    };
    Bundle {
        dir: bdir,
        rootfs,
        config,
    }
}

/// Runs corpus case `name` (a directory of `corpus/bad-configs`).
fn run_case(name: &str) {
    let dir = corpus_dir().join(name);
    let num = name.split('-').next().unwrap();
    let Some(env) = TestEnv::new(&format!("bad{num}")) else {
        return;
    };
    let case = if dir.join("case.json").exists() {
        read_json(&dir.join("case.json"))
    } else {
        json!({})
    };
    let expect = read_json(&dir.join("expect.json"));
    let command = expect["command"].as_str().expect("expect.json: command");
    let mut groups: Vec<Vec<String>> = expect["stderr_contains"]
        .as_array()
        .expect("expect.json: stderr_contains")
        .iter()
        .map(alternatives)
        .collect();
    if !expect["field"].is_null() {
        groups.push(alternatives(&expect["field"]));
    }
    let excludes: Vec<String> = expect["stderr_excludes"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let note = expect["note"].as_str().unwrap_or("");
    let what = if note.is_empty() {
        format!("corpus case {name}")
    } else {
        format!("corpus case {name} ({note})")
    };
    let timeout = Duration::from_secs(case["timeout_secs"].as_u64().unwrap_or(10));
    let b = corpus_bundle(&env, &dir, &case);
    let must_not_exist: Vec<PathBuf> = case["host_must_not_exist"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| PathBuf::from(p.as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    for p in &must_not_exist {
        assert!(
            fs::symlink_metadata(p).is_err(),
            "{what}: {} exists before the case ran",
            p.display()
        );
    }
    let before = HostSnapshot::take();
    let id = match case["id"].as_str() {
        Some(id) => id.to_string(),
        None => env.id("c"),
    };

    let mut problems = Vec::new();
    let out = match command {
        "create" if id.contains('\0') => {
            // execve cannot carry a NUL inside an argument: the call never
            // reaches runwasm.
            let spawned = Command::new(&env.bin)
                .arg("--root")
                .arg(&env.root)
                .args(["create", "--bundle"])
                .arg(&b.dir)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match spawned {
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {}
                other => problems.push(format!(
                    "an argument holding NUL was expected to be refused before exec: {other:?}"
                )),
            }
            problems.extend(leftovers(&env, &id, &before));
            assert_no_problems(&what, &problems, None);
            return;
        }
        "create" => {
            if plain_component(&id) {
                env.track(&id);
            }
            let pid_file = env.tmp().join("case.pid");
            let rw = env
                .rw(&[
                    OsStr::new("create"),
                    OsStr::new("--bundle"),
                    b.dir.as_os_str(),
                    OsStr::new("--pid-file"),
                    pid_file.as_os_str(),
                    OsStr::new(&id),
                ])
                .timeout(timeout);
            let out = match rw.try_run() {
                Ok(out) => out,
                Err(e) => {
                    // Clean up what the interrupted create left, then fail.
                    let _ = env
                        .rw(&["delete", "--force", id.as_str()])
                        .timeout(Duration::from_secs(30))
                        .try_run();
                    for (pid, _) in env.processes_using_tmp() {
                        send_signal(pid, libc::SIGKILL);
                    }
                    panic!("{what}: did not fail within {timeout:?}:\n{e}");
                }
            };
            problems.extend(failure_problems(&out, &groups, &excludes));
            if fs::read_to_string(&pid_file).is_ok_and(|s| !s.trim().is_empty()) {
                problems.push("a pid file was written".into());
            }
            if out.success() && plain_component(&id) {
                let _ = env.run(&["delete", "--force", id.as_str()]);
            }
            if plain_component(&id) && env.try_state(&id).is_some() {
                problems.push("`state` still knows the container".into());
            }
            out
        }
        "kill" | "exec" => {
            let created = env.create(&id, &b);
            let pid = created.pid();
            let out = if command == "kill" {
                let sig = case["signal"].as_str().expect("case.json: signal");
                env.rw(&["kill", id.as_str(), sig]).timeout(timeout).run()
            } else {
                let file = case["process_file"]
                    .as_str()
                    .expect("case.json: process_file");
                let path = env.tmp().join(file);
                if dir.join(file).exists() {
                    fs::copy(dir.join(file), &path).unwrap();
                }
                env.rw(&[
                    OsStr::new("exec"),
                    OsStr::new("--process"),
                    path.as_os_str(),
                    OsStr::new(&id),
                ])
                .timeout(timeout)
                .run()
            };
            problems.extend(failure_problems(&out, &groups, &excludes));
            if !pid_alive(pid) {
                problems.push(format!("the failed {command} ended the container's init"));
            }
            match env.status(&id).as_deref() {
                Some("created") => {}
                other => problems.push(format!(
                    "after the failed {command} the container is {other:?}, not created"
                )),
            }
            let del = env.run(&["delete", "--force", id.as_str()]);
            if !del.success() {
                problems.push(format!("delete --force failed: {}", del.stderr.trim()));
            }
            if !wait_pid_exit(pid, Duration::from_secs(2)) {
                problems.push("init outlived delete --force".into());
            }
            out
        }
        other => panic!("{what}: unknown command {other:?}"),
    };
    // What the case showed (visible with --nocapture).
    eprintln!(
        "{name}: exit {:?}: {}",
        out.status.code(),
        out.stderr.trim()
    );
    problems.extend(leftovers(&env, &id, &before));
    for p in &must_not_exist {
        if fs::symlink_metadata(p).is_ok() {
            problems.push(format!("the host's {} was created", p.display()));
        }
    }
    if let Some(names) = case["cgroup_must_not_exist"].as_array() {
        for n in names {
            let n = n.as_str().unwrap();
            let mut found = cgroup_dirs(n);
            found.extend(cgroup_dirs(&format!("runwasm/{n}")));
            for p in ["/sys/fs", "/sys"] {
                let p = Path::new(p).join(n);
                if p.exists() {
                    found.push(p);
                }
            }
            if !found.is_empty() {
                problems.push(format!("cgroup {n:?} was created: {found:?}"));
            }
        }
    }
    assert_no_problems(&what, &problems, Some(&out));
}

macro_rules! corpus {
    ($($(#[$meta:meta])* $test:ident => $dir:literal,)*) => {
        /// Every case of the corpus, in order.
        const CASES: &[&str] = &[$($dir),*];
        $(
            #[test]
            $(#[$meta])*
            fn $test() {
                run_case($dir);
            }
        )*
    };
}

corpus! {
    c01_not_json => "01-not-json",
    c02_top_level_array => "02-top-level-array",
    c03_missing_process => "03-missing-process",
    c04_missing_root => "04-missing-root",
    c05_missing_args => "05-missing-args",
    c06_empty_args => "06-empty-args",
    c07_args_not_a_list => "07-args-not-a-list",
    c08_cwd_relative => "08-cwd-relative",
    c09_missing_cwd => "09-missing-cwd",
    c10_uid_as_string => "10-uid-as-string",
    c11_gid_negative => "11-gid-negative",
    c12_additional_gids_string => "12-additional-gids-string",
    c13_env_not_key_value => "13-env-not-key-value",
    c14_oci_version_2 => "14-oci-version-2",
    c15_root_path_not_a_string => "15-root-path-not-a-string",
    c16_root_readonly_string => "16-root-readonly-string",
    c17_annotation_not_a_string => "17-annotation-not-a-string",
    c18_mount_destination_not_a_string => "18-mount-destination-not-a-string",
    c19_mount_without_destination => "19-mount-without-destination",
    c20_namespaces_not_a_list => "20-namespaces-not-a-list",
    c21_memory_limit_negative => "21-memory-limit-negative",
    c22_cpu_shares_2pow63 => "22-cpu-shares-2pow63",
    c23_cpu_shares_2pow64 => "23-cpu-shares-2pow64",
    c24_rlimit_soft_above_hard => "24-rlimit-soft-above-hard",
    c25_rlimit_unknown_type => "25-rlimit-unknown-type",
    c26_rlimit_above_nr_open => "26-rlimit-above-nr-open",
    c27_oom_score_adj_5000 => "27-oom-score-adj-5000",
    c28_umask_too_big => "28-umask-too-big",
    c29_million_mounts => "29-million-mounts",
    c30_env_string_1mib => "30-env-string-1mib",
    c31_env_100k_entries => "31-env-100k-entries",
    c32_root_path_dotdot_missing => "32-root-path-dotdot-missing",
    c33_root_path_dotdot_file => "33-root-path-dotdot-file",
    c34_root_path_empty => "34-root-path-empty",
    c35_root_path_symlink_to_host_file => "35-root-path-symlink-to-host-file",
    c36_root_path_symlink_out_of_bundle => "36-root-path-symlink-out-of-bundle",
    c37_root_path_symlinked_parent => "37-root-path-symlinked-parent",
    c38_mount_unknown_type => "38-mount-unknown-type",
    c39_mount_bind_source_missing => "39-mount-bind-source-missing",
    c40_mount_unknown_option => "40-mount-unknown-option",
    c41_mounts_without_mount_namespace => "41-mounts-without-mount-namespace",
    c42_mount_through_symlink_to_host_etc => "42-mount-through-symlink-to-host-etc",
    c43_bind_through_symlink_to_host_etc => "43-bind-through-symlink-to-host-etc",
    c44_mount_dotdot_through_symlink => "44-mount-dotdot-through-symlink",
    c45_cwd_through_symlink_to_host_etc => "45-cwd-through-symlink-to-host-etc",
    c46_readonly_path_through_symlink => "46-readonly-path-through-symlink",
    c47_id_empty => "47-id-empty",
    c48_id_256_chars => "48-id-256-chars",
    c49_id_slash => "49-id-slash",
    c50_id_dotdot => "50-id-dotdot",
    c51_id_dotdot_escape => "51-id-dotdot-escape",
    c52_id_non_ascii => "52-id-non-ascii",
    c53_id_newline => "53-id-newline",
    c54_id_control_char => "54-id-control-char",
    c55_id_nul => "55-id-nul",
    c56_kill_unknown_name => "56-kill-unknown-name",
    c57_kill_number_out_of_range => "57-kill-number-out-of-range",
    c58_kill_rt_overflow => "58-kill-rt-overflow",
    c59_kill_empty_signal => "59-kill-empty-signal",
    c60_exec_not_json => "60-exec-not-json",
    c61_exec_empty_file => "61-exec-empty-file",
    c62_exec_top_level_array => "62-exec-top-level-array",
    c63_exec_args_string => "63-exec-args-string",
    c64_exec_empty_args => "64-exec-empty-args",
    c65_exec_cwd_relative => "65-exec-cwd-relative",
    c66_exec_missing_cwd => "66-exec-missing-cwd",
    c67_exec_uid_string => "67-exec-uid-string",
    c68_exec_unknown_capability => "68-exec-unknown-capability",
    c69_exec_process_file_missing => "69-exec-process-file-missing",
    c70_namespace_unknown_type => "70-namespace-unknown-type",
    c71_namespace_duplicate => "71-namespace-duplicate",
    c72_namespace_path_missing => "72-namespace-path-missing",
    c73_namespace_path_not_a_namespace => "73-namespace-path-not-a-namespace",
    c74_user_namespace_without_mappings => "74-user-namespace-without-mappings",
    c75_seccomp_unknown_default_action => "75-seccomp-unknown-default-action",
    c76_seccomp_unknown_rule_action => "76-seccomp-unknown-rule-action",
    c77_seccomp_unknown_arch => "77-seccomp-unknown-arch",
    c78_seccomp_unknown_operator => "78-seccomp-unknown-operator",
    c79_seccomp_arg_index_out_of_range => "79-seccomp-arg-index-out-of-range",
    c80_seccomp_missing_default_action => "80-seccomp-missing-default-action",
    c81_capability_unknown => "81-capability-unknown",
    c82_capabilities_not_a_list => "82-capabilities-not-a-list",
    c83_device_type_x => "83-device-type-x",
    c84_device_negative_major => "84-device-negative-major",
    c85_device_without_path => "85-device-without-path",
    c86_hook_relative_path => "86-hook-relative-path",
    c87_hook_missing_binary => "87-hook-missing-binary",
    c88_prestart_hook_missing_binary => "88-prestart-hook-missing-binary",
    c89_hook_zero_timeout => "89-hook-zero-timeout",
    c90_hook_not_executable => "90-hook-not-executable",
    c91_cgroups_path_dotdot => "91-cgroups-path-dotdot",
    c92_cgroups_path_absolute_dotdot => "92-cgroups-path-absolute-dotdot",
    c93_sysctl_not_namespaced => "93-sysctl-not-namespaced",
    c94_sysctl_path_escape => "94-sysctl-path-escape",
    c95_hostname_without_uts_namespace => "95-hostname-without-uts-namespace",
    c96_rootfs_propagation_bogus => "96-rootfs-propagation-bogus",
    c97_terminal_without_console_socket => "97-terminal-without-console-socket",
    c98_module_missing => "98-module-missing",
    c99_personality_bad_domain => "99-personality-bad-domain",
    c100_cgroups_path_dot => "100-cgroups-path-dot",
    c101_args_string_1mib => "101-args-string-1mib",
}

/// The corpus and [`CASES`] list the same cases (at least 50), each with a
/// well-formed `expect.json`.
#[test]
fn corpus_is_complete() {
    let mut dirs: Vec<String> = fs::read_dir(corpus_dir())
        .expect("corpus/bad-configs")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut listed: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(dirs, listed, "corpus directories and CASES differ");
    assert!(CASES.len() >= 50, "only {} cases", CASES.len());
    for name in CASES {
        let d = corpus_dir().join(name);
        assert!(d.join("config.json").is_file(), "{name}: no config.json");
        let e = read_json(&d.join("expect.json"));
        assert!(
            matches!(e["command"].as_str(), Some("create" | "kill" | "exec")),
            "{name}: bad command in expect.json"
        );
        for g in e["stderr_contains"].as_array().expect("stderr_contains") {
            alternatives(g);
        }
        if !e["field"].is_null() {
            alternatives(&e["field"]);
        }
        if d.join("case.json").exists() {
            assert!(read_json(&d.join("case.json")).is_object(), "{name}");
        }
    }
}

// ---------------------------------------------------------------------------
// Hand-written Wasm modules
// ---------------------------------------------------------------------------

/// A tiny encoder for hand-written modules: every function has type
/// `() -> ()` unless told otherwise.
mod wasm {
    pub fn leb(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    pub fn sleb(mut n: i64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if (n == 0 && b & 0x40 == 0) || (n == -1 && b & 0x40 != 0) {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn vec(items: &[Vec<u8>]) -> Vec<u8> {
        let mut out = leb(items.len() as u64);
        for i in items {
            out.extend_from_slice(i);
        }
        out
    }

    fn name(s: &str) -> Vec<u8> {
        let mut out = leb(s.len() as u64);
        out.extend_from_slice(s.as_bytes());
        out
    }

    fn section(id: u8, body: Vec<u8>) -> Vec<u8> {
        let mut out = vec![id];
        out.extend(leb(body.len() as u64));
        out.extend(body);
        out
    }

    /// `() -> ()`.
    pub const VOID: &[u8] = &[0x60, 0x00, 0x00];
    /// `(i32) -> ()`.
    pub const I32_VOID: &[u8] = &[0x60, 0x01, 0x7f, 0x00];

    /// The pieces of a module; [`Module::bytes`] encodes it.
    pub struct Module {
        pub types: Vec<Vec<u8>>,
        /// (module, field, kind byte and type index or limits).
        pub imports: Vec<(String, String, Vec<u8>)>,
        /// The type of each defined function.
        pub funcs: Vec<u32>,
        /// The limits of the memory (`[0, min]` or `[1, min, max]`).
        pub memory: Option<Vec<u8>>,
        /// A funcref table with these limits (`[0, min]`).
        pub table: Option<Vec<u8>>,
        /// (name, kind, index).
        pub exports: Vec<(String, u8, u32)>,
        pub start: Option<u32>,
        /// Function bodies: locals then code, `end` included.
        pub bodies: Vec<Vec<u8>>,
        /// Active data segments: (offset, bytes) in memory 0.
        pub data: Vec<(i64, Vec<u8>)>,
    }

    impl Default for Module {
        /// `_start` (function 0) that does nothing.
        fn default() -> Module {
            Module {
                types: vec![VOID.to_vec()],
                imports: Vec::new(),
                funcs: vec![0],
                memory: None,
                table: None,
                exports: vec![("_start".into(), 0, 0)],
                start: None,
                bodies: vec![vec![0x00, 0x0b]],
                data: Vec::new(),
            }
        }
    }

    impl Module {
        pub fn bytes(&self) -> Vec<u8> {
            let mut m = b"\0asm\x01\0\0\0".to_vec();
            m.extend(section(1, vec(&self.types)));
            if !self.imports.is_empty() {
                let imports: Vec<Vec<u8>> = self
                    .imports
                    .iter()
                    .map(|(module, field, desc)| {
                        let mut i = name(module);
                        i.extend(name(field));
                        i.extend_from_slice(desc);
                        i
                    })
                    .collect();
                m.extend(section(2, vec(&imports)));
            }
            if !self.funcs.is_empty() {
                let funcs: Vec<Vec<u8>> = self.funcs.iter().map(|&f| leb(f.into())).collect();
                m.extend(section(3, vec(&funcs)));
            }
            if let Some(limits) = &self.table {
                let mut t = vec![0x70];
                t.extend_from_slice(limits);
                m.extend(section(4, vec(&[t])));
            }
            if let Some(limits) = &self.memory {
                m.extend(section(5, vec(std::slice::from_ref(limits))));
            }
            let exports: Vec<Vec<u8>> = self
                .exports
                .iter()
                .map(|(n, kind, idx)| {
                    let mut e = name(n);
                    e.push(*kind);
                    e.extend(leb((*idx).into()));
                    e
                })
                .collect();
            m.extend(section(7, vec(&exports)));
            if let Some(s) = self.start {
                m.extend(section(8, leb(s.into())));
            }
            if !self.bodies.is_empty() {
                let bodies: Vec<Vec<u8>> = self
                    .bodies
                    .iter()
                    .map(|b| {
                        let mut out = leb(b.len() as u64);
                        out.extend_from_slice(b);
                        out
                    })
                    .collect();
                m.extend(section(10, vec(&bodies)));
            }
            if !self.data.is_empty() {
                let segs: Vec<Vec<u8>> = self
                    .data
                    .iter()
                    .map(|(offset, bytes)| {
                        let mut s = vec![0x00, 0x41];
                        s.extend(sleb(*offset));
                        s.push(0x0b);
                        s.extend(leb(bytes.len() as u64));
                        s.extend_from_slice(bytes);
                        s
                    })
                    .collect();
                m.extend(section(11, vec(&segs)));
            }
            m
        }
    }

    /// Memory limits `{min}` (no maximum).
    pub fn min_pages(min: u32) -> Vec<u8> {
        let mut l = vec![0x00];
        l.extend(leb(min.into()));
        l
    }

    /// An import descriptor of a function of type `t`.
    pub fn func_import(t: u32) -> Vec<u8> {
        let mut d = vec![0x00];
        d.extend(leb(t.into()));
        d
    }
}

/// 64 MiB: the memory limit of the tests that need one. A module then gets
/// 768 pages (docs/cgroups.md).
const MEM_LIMIT: i64 = 64 << 20;

/// A bundle running `bytes` as `/app.wasm` (with `args` after it), with a
/// mount and pid namespace and `/proc`, like the corpus's.
fn module_bundle(env: &TestEnv, bytes: &[u8], args: &[&str]) -> Bundle {
    let b = env.bundle("hello").file("/app.wasm", bytes);
    let mut argv = vec!["/app.wasm"];
    argv.extend_from_slice(args);
    b.args(&argv).edit(|c| {
        c["linux"] = json!({"namespaces": [{"type": "mount"}, {"type": "pid"}]});
        c["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
    })
}

fn with_memory_limit(b: Bundle) -> Bundle {
    b.edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": MEM_LIMIT}}))
}

/// `create` of a module that must fail, naming each needle.
#[track_caller]
fn module_create_fails(env: &TestEnv, tag: &str, b: &Bundle, words: &[&str], excludes: &[&str]) {
    let id = env.id(tag);
    let excludes: Vec<String> = excludes.iter().map(|s| s.to_string()).collect();
    let (out, problems) = create_must_fail(env, &id, b, &needles(words), &excludes);
    assert_no_problems(&format!("module {tag}"), &problems, Some(&out));
}

/// `run` of a module in the foreground: the container's status and output.
fn run_module(env: &TestEnv, tag: &str, b: &Bundle, timeout: Duration) -> Output {
    let id = env.id(tag);
    env.rw(&[
        OsStr::new("run"),
        OsStr::new("--bundle"),
        b.dir.as_os_str(),
        OsStr::new(&id),
    ])
    .timeout(timeout)
    .run()
}

/// No crash text in `out`, runwasm not killed by a signal.
#[track_caller]
fn assert_no_crash(out: &Output) {
    assert!(
        out.status.signal().is_none(),
        "runwasm itself was killed by a signal:\n{out}"
    );
    for c in CRASH_TEXT {
        assert!(
            !out.stderr.contains(c) && !out.stdout.contains(c),
            "runwasm's output shows a crash ({c:?}):\n{out}"
        );
    }
}

/// After a finished `run`: nothing of the container is left.
#[track_caller]
fn assert_run_left_nothing(env: &TestEnv, id_suffix: &str, before: &HostSnapshot) {
    let id = format!("{}-{id_suffix}", env.name);
    let problems = leftovers(env, &id, before);
    assert_no_problems(&format!("after run {id}"), &problems, None);
}

// ---------------------------------------------------------------------------
// Hostile modules
// ---------------------------------------------------------------------------

#[test]
fn m_truncated_and_random_bytes_fail_at_create() {
    let Some(env) = TestEnv::new("hm_bytes") else {
        return;
    };
    let hello = fs::read(module("hello")).unwrap();
    // A fixed xorshift sequence: the same "random" bytes on every run.
    let mut x: u32 = 0x9e37_79b9;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    };
    let mut with_magic = b"\0asm\x01\0\0\0".to_vec();
    with_magic.extend(random(4096));
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("magic-only", b"\0asm".to_vec()),
        ("bad-version", b"\0asm\x02\0\0\0".to_vec()),
        ("random-after-header", with_magic),
        ("random", random(4096)),
        (
            "section-length-4gib",
            b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f".to_vec(),
        ),
        (
            "overlong-leb",
            b"\0asm\x01\0\0\0\x01\x05\xff\xff\xff\xff\x7f".to_vec(),
        ),
        ("truncated-hello-1000", hello[..1000].to_vec()),
        ("truncated-hello-half", hello[..hello.len() / 2].to_vec()),
        (
            "truncated-hello-last-byte",
            hello[..hello.len() - 1].to_vec(),
        ),
    ];
    for (tag, bytes) in variants {
        let b = module_bundle(&env, &bytes, &[]);
        module_create_fails(&env, tag, &b, &["app.wasm", "invalid wasm module"], &[]);
    }
}

/// A memory whose minimum is 60000 pages (3.7 GiB) under a 64 MiB limit
/// (768 pages): `create` fails naming both numbers.
#[test]
fn m_initial_memory_over_the_limit_exported() {
    let Some(env) = TestEnv::new("hm_mem_exp") else {
        return;
    };
    let m = wasm::Module {
        memory: Some(wasm::min_pages(60000)),
        exports: vec![("_start".into(), 0, 0), ("memory".into(), 2, 0)],
        ..Default::default()
    };
    let b = with_memory_limit(module_bundle(&env, &m.bytes(), &[]));
    module_create_fails(&env, "c", &b, &["app.wasm", "60000", "768"], &[]);
}

/// The same with a memory the module does not export. WasmEdge shrinks it
/// to the cap without a word, so the module would run with less memory
/// than it declared (its `memory.size` check traps): `create` must refuse
/// it as for an exported memory.
#[test]
fn m_initial_memory_over_the_limit_not_exported() {
    let Some(env) = TestEnv::new("hm_mem_hidden") else {
        return;
    };
    // _start: if memory.size < 60000 { unreachable }
    let mut body = vec![0x00, 0x3f, 0x00, 0x41];
    body.extend(wasm::sleb(60000));
    body.extend([0x49, 0x04, 0x40, 0x00, 0x0b, 0x0b]);
    let m = wasm::Module {
        memory: Some(wasm::min_pages(60000)),
        bodies: vec![body],
        ..Default::default()
    };
    let bytes = m.bytes();
    // Without a limit the module gets its 60000 pages and exits 0.
    let before = HostSnapshot::take();
    let free = module_bundle(&env, &bytes, &[]);
    let out = run_module(&env, "free", &free, CMD_TIMEOUT);
    assert_no_crash(&out);
    assert_eq!(
        out.code(),
        0,
        "without a limit the module has its memory:\n{out}"
    );
    assert_run_left_nothing(&env, "free", &before);
    let b = with_memory_limit(module_bundle(&env, &bytes, &[]));
    module_create_fails(&env, "c", &b, &["app.wasm", "60000", "768"], &[]);
}

#[test]
fn m_start_function_that_traps_fails_at_create() {
    let Some(env) = TestEnv::new("hm_start") else {
        return;
    };
    let m = wasm::Module {
        start: Some(0),
        bodies: vec![vec![0x00, 0x00, 0x0b]],
        ..Default::default()
    };
    let b = module_bundle(&env, &m.bytes(), &[]);
    module_create_fails(
        &env,
        "c",
        &b,
        &["app.wasm", "start function", "unreachable"],
        &[],
    );
}

/// A data segment past the end of memory traps during instantiation; there
/// is no start function, so the message must not blame one.
#[test]
fn m_data_segment_out_of_bounds_fails_at_create() {
    let Some(env) = TestEnv::new("hm_data") else {
        return;
    };
    let m = wasm::Module {
        memory: Some(wasm::min_pages(1)),
        data: vec![(70000, b"x".to_vec())],
        ..Default::default()
    };
    let b = module_bundle(&env, &m.bytes(), &[]);
    module_create_fails(
        &env,
        "c",
        &b,
        &["app.wasm", "out of bounds"],
        &["start function"],
    );
}

/// A few bytes asking WasmEdge for gigabytes while it loads: a table of
/// 2^32 - 1 elements, a function with 2^32 - 1 locals (and each just past
/// the limit, 10^7 elements and 50,000 locals, which wasmtime and browsers
/// apply too). `create` refuses them before WasmEdge allocates anything;
/// without that the init process was OOM-killed or aborted in C++.
#[test]
fn m_huge_tables_and_locals_fail_at_create() {
    let Some(env) = TestEnv::new("hm_huge") else {
        return;
    };
    let table = |min: u32| wasm::Module {
        table: Some(wasm::min_pages(min)),
        ..Default::default()
    };
    let locals = |n: u32| {
        let mut body = vec![0x01];
        body.extend(wasm::leb(n.into()));
        body.extend([0x7f, 0x0b]);
        wasm::Module {
            bodies: vec![body],
            ..Default::default()
        }
    };
    for (tag, m, words) in [
        ("table-max", table(u32::MAX), ["table 0", "4294967295"]),
        ("table-limit", table(10_000_001), ["table 0", "10000001"]),
        ("locals-max", locals(u32::MAX), ["function 0", "4294967295"]),
        ("locals-limit", locals(50_001), ["function 0", "50001"]),
    ] {
        let b = with_memory_limit(module_bundle(&env, &m.bytes(), &[]));
        let mut all = vec!["app.wasm", "module too large"];
        all.extend(words);
        module_create_fails(&env, tag, &b, &all, &[]);
    }
    // At the limit, a table of 10^7 elements needs ~200 MiB: under a 64 MiB
    // memory limit the OOM killer ends init while it instantiates, and the
    // message says so.
    let b = with_memory_limit(module_bundle(&env, &table(10_000_000).bytes(), &[]));
    module_create_fails(
        &env,
        "table-oom",
        &b,
        &["killed by signal 9", "memory.limit", "OOM killer"],
        &[],
    );
    // Without a memory limit, modules at the limits run.
    for (tag, m) in [
        ("table-ok", table(10_000_000)),
        ("locals-ok", locals(50_000)),
    ] {
        let before = HostSnapshot::take();
        let b = module_bundle(&env, &m.bytes(), &[]);
        let out = run_module(&env, tag, &b, CMD_TIMEOUT);
        assert_no_crash(&out);
        assert_eq!(out.code(), 0, "{tag}:\n{out}");
        assert_run_left_nothing(&env, tag, &before);
    }
}

/// `table.grow` by 2^31 - 1 elements at run time: WasmEdge tries to
/// allocate 32 GiB and C++ throws `std::bad_alloc`. The container ends with
/// 134 and one line saying so (or, where the allocation is granted, the
/// memory limit's OOM kill, 137), never a C++ crash.
#[test]
fn m_table_grow_bomb_ends_cleanly() {
    let Some(env) = TestEnv::new("hm_tgrow") else {
        return;
    };
    // _start: ref.null func; i32.const 0x7fffffff; table.grow 0; drop
    let mut body = vec![0x00, 0xd0, 0x70, 0x41];
    body.extend(wasm::sleb(0x7fff_ffff));
    body.extend([0xfc, 0x0f, 0x00, 0x1a, 0x0b]);
    let m = wasm::Module {
        table: Some(wasm::min_pages(1)),
        bodies: vec![body],
        ..Default::default()
    };
    let before = HostSnapshot::take();
    let b = with_memory_limit(module_bundle(&env, &m.bytes(), &[]));
    let out = run_module(&env, "c", &b, Duration::from_secs(30));
    assert_no_crash(&out);
    for c in ["terminate called", "bad_alloc"] {
        assert!(
            !out.stderr.contains(c),
            "C++ runtime text on stderr:\n{out}"
        );
    }
    match out.code() {
        134 => assert_eq!(
            out.stderr_lines(),
            [
                "runwasm: wasm: out of memory: WasmEdge could not allocate what the module \
              asked for (a table, a call stack, a memory)"
            ],
            "{out}"
        ),
        137 => {}
        _ => panic!("expected 134 (out of memory) or 137 (OOM kill):\n{out}"),
    }
    assert_run_left_nothing(&env, "c", &before);
}

#[test]
fn m_unknown_and_mistyped_imports_fail_at_create() {
    let Some(env) = TestEnv::new("hm_imports") else {
        return;
    };
    let func_import = |module: &str, field: &str| wasm::Module {
        imports: vec![(module.into(), field.into(), wasm::func_import(0))],
        exports: vec![("_start".into(), 0, 1)],
        ..Default::default()
    };
    let unknown_wasi = func_import("wasi_snapshot_preview1", "no_such_fn");
    let unknown_module = func_import("evil", "escape");
    // fd_write takes four i32 and returns one: () -> () is wrong.
    let mistyped = func_import("wasi_snapshot_preview1", "fd_write");
    let memory = wasm::Module {
        imports: vec![("env".into(), "memory".into(), vec![0x02, 0x00, 0x01])],
        ..Default::default()
    };
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "wasi-fn",
            unknown_wasi.bytes(),
            vec!["wasi_snapshot_preview1", "no_such_fn"],
        ),
        ("module", unknown_module.bytes(), vec!["evil", "escape"]),
        (
            "mistyped",
            mistyped.bytes(),
            vec!["wasi_snapshot_preview1", "fd_write"],
        ),
        ("memory", memory.bytes(), vec!["env", "memory"]),
        (
            "c",
            fs::read(module("unknown_import")).unwrap(),
            vec!["env", "does_not_exist"],
        ),
    ];
    for (tag, bytes, words) in cases {
        let b = module_bundle(&env, &bytes, &[]);
        let mut all = vec!["app.wasm"];
        all.extend(words);
        module_create_fails(&env, tag, &b, &all, &[]);
    }
}

/// A module without a usable `_start` cannot run: status 126 after start,
/// one line saying why.
#[test]
fn m_module_without_a_usable_start_exits_126() {
    let Some(env) = TestEnv::new("hm_nostart") else {
        return;
    };
    let no_start = wasm::Module {
        exports: vec![("main".into(), 0, 0)],
        ..Default::default()
    };
    let params = wasm::Module {
        types: vec![wasm::I32_VOID.to_vec()],
        ..Default::default()
    };
    for (tag, m) in [("none", no_start), ("params", params)] {
        let before = HostSnapshot::take();
        let b = module_bundle(&env, &m.bytes(), &[]);
        let out = run_module(&env, tag, &b, CMD_TIMEOUT);
        assert_no_crash(&out);
        assert_eq!(out.code(), 126, "{tag}:\n{out}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{tag}: one stderr line:\n{out}");
        assert!(lines[0].contains("_start"), "{tag}:\n{out}");
        assert_run_left_nothing(&env, tag, &before);
    }
}

/// Recursion in C overflows the C stack (in linear memory): a trap, 134,
/// one line.
#[test]
fn m_deep_recursion_in_c_traps_with_134() {
    let Some(env) = TestEnv::new("hm_recurse_c") else {
        return;
    };
    // Bounded, it returns.
    let b = env.bundle("deep_recursion").args(&["/app.wasm", "10"]);
    let out = run_module(&env, "bounded", &b, CMD_TIMEOUT);
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.contains("depth 10"), "{out}");

    let before = HostSnapshot::take();
    let b = env.bundle("deep_recursion");
    let out = run_module(&env, "unbounded", &b, CMD_TIMEOUT);
    assert_no_crash(&out);
    assert_eq!(out.code(), 134, "stack exhaustion is a trap:\n{out}");
    assert!(out.stdout.contains("recursing"), "{out}");
    let lines = out.stderr_lines();
    assert_eq!(
        lines,
        ["runwasm: wasm trap: out of bounds memory access"],
        "{out}"
    );
    assert_run_left_nothing(&env, "unbounded", &before);
}

/// Unbounded recursion in pure Wasm: WasmEdge 0.14.1's interpreter keeps
/// its frames on the heap (docs/wasm.md), so the 64 MiB memory limit stops
/// it: SIGKILL from the OOM killer, 137, quickly, and nothing left.
#[test]
fn m_unbounded_wasm_recursion_is_stopped_by_the_memory_limit() {
    let Some(env) = TestEnv::new("hm_recurse_wasm") else {
        return;
    };
    let m = wasm::Module {
        // _start: call _start
        bodies: vec![vec![0x00, 0x10, 0x00, 0x0b]],
        ..Default::default()
    };
    let before = HostSnapshot::take();
    let b = with_memory_limit(module_bundle(&env, &m.bytes(), &[]));
    let out = run_module(&env, "c", &b, Duration::from_secs(30));
    assert_no_crash(&out);
    assert!(
        matches!(out.code(), 134 | 137),
        "expected a trap (134) or the OOM kill (137):\n{out}"
    );
    assert!(
        out.elapsed < Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    assert_run_left_nothing(&env, "c", &before);
}

/// An infinite loop (C, and a bare `loop br 0` with no call at all) ends
/// with 143 within 1 s of `kill ID TERM`.
#[test]
fn m_infinite_loop_ends_on_sigterm_with_143() {
    let Some(env) = TestEnv::new("hm_loop") else {
        return;
    };
    let bare = wasm::Module {
        // _start: loop br 0 end
        bodies: vec![vec![0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b]],
        ..Default::default()
    };
    for tag in ["c", "bare"] {
        let b = if tag == "c" {
            env.bundle("spin")
        } else {
            module_bundle(&env, &bare.bytes(), &[])
        };
        let before = HostSnapshot::take();
        let id = env.id(tag);
        let mut bg = env.spawn_run(&id, &b);
        assert!(
            env.wait_status(&id, "running", Duration::from_secs(5)),
            "{tag}: never running: {}",
            bg.stderr_now()
        );
        // Let it spin for a moment.
        std::thread::sleep(Duration::from_millis(200));
        let sent = Instant::now();
        env.run(&["kill", id.as_str(), "TERM"]).assert_ok();
        let out = bg
            .wait_timeout(Duration::from_secs(1))
            .unwrap_or_else(|| panic!("{tag}: still running 1 s after SIGTERM"));
        let took = sent.elapsed();
        assert_no_crash(&out);
        assert_eq!(out.code(), 143, "{tag}:\n{out}");
        assert!(took < Duration::from_secs(1), "{tag}: took {took:?}");
        assert_run_left_nothing(&env, tag, &before);
    }
}

/// A corrupt or trapping module given to `exec` fails that `exec` cleanly
/// and leaves the container as it was.
#[test]
fn m_hostile_modules_through_exec() {
    let Some(env) = TestEnv::new("hm_exec") else {
        return;
    };
    let trap = wasm::Module {
        start: Some(0),
        bodies: vec![vec![0x00, 0x00, 0x0b]],
        ..Default::default()
    };
    let hello = fs::read(module("hello")).unwrap();
    let b = module_bundle(&env, &hello, &[])
        .file("/bad.wasm", b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f")
        .file("/trapstart.wasm", &trap.bytes());
    let id = env.id("c");
    let created = env.create(&id, &b);
    let pid = created.pid();
    for (module, words) in [
        ("/bad.wasm", vec!["bad.wasm", "invalid wasm module"]),
        ("/trapstart.wasm", vec!["trapstart.wasm", "unreachable"]),
    ] {
        let out = env.run(&["exec", id.as_str(), module]);
        let problems = failure_problems(&out, &needles(&words), &[]);
        assert_no_problems(&format!("exec {module}"), &problems, Some(&out));
        assert!(pid_alive(pid), "exec {module} ended init");
        assert_eq!(env.status(&id).as_deref(), Some("created"));
    }
    let before = HostSnapshot::take();
    env.run(&["delete", "--force", id.as_str()]).assert_ok();
    assert!(wait_pid_exit(pid, Duration::from_secs(2)));
    assert_no_problems("after delete", &leftovers(&env, &id, &before), None);
}

/// `exec --process` of a native program whose environment `execve` would
/// refuse (one string over 128 KiB, or 100,000 entries past ARG_MAX) fails
/// that `exec` naming the entry, before anything is forked; a process file
/// with an env entry that is not `KEY=VALUE` too. The container is left as
/// it was.
#[test]
fn m_exec_env_past_arg_max_fails_naming_the_field() {
    let Some(env) = TestEnv::new("hm_exec_e2big") else {
        return;
    };
    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .edit(|c| {
            c["linux"] = json!({"namespaces": [{"type": "mount"}, {"type": "pid"}]});
            c["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
        });
    let id = env.id("c");
    let created = env.create(&id, &b);
    let pid = created.pid();
    let process = |env_list: Vec<String>| json!({"args": ["/bin/busybox", "true"], "cwd": "/", "env": env_list});
    let big = vec![
        "PATH=/bin".to_string(),
        format!("BIG={}", "x".repeat(1 << 20)),
    ];
    let many: Vec<String> = (0..100_000)
        .map(|i| format!("VAR_{i:06}={}", "x".repeat(60)))
        .collect();
    for (tag, p, words) in [
        ("big", process(big), vec!["env[1]", "MAX_ARG_STRLEN"]),
        (
            "many",
            process(many),
            vec!["env: 1000", "entries", "ARG_MAX"],
        ),
        (
            "not-kv",
            process(vec!["NOEQUALS".into()]),
            vec!["env[0]", "KEY=VALUE"],
        ),
    ] {
        let file = env.tmp().join(format!("{tag}.json"));
        fs::write(&file, p.to_string()).unwrap();
        let out = env.run(&[
            OsStr::new("exec"),
            OsStr::new("--process"),
            file.as_os_str(),
            OsStr::new(&id),
        ]);
        let mut all = vec![format!("{tag}.json")];
        all.extend(words.iter().map(|w| w.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let problems = failure_problems(&out, &needles(&all), &[]);
        assert_no_problems(&format!("exec {tag}"), &problems, Some(&out));
        assert!(pid_alive(pid), "exec {tag} ended init");
        assert_eq!(env.status(&id).as_deref(), Some("created"), "{tag}");
    }
    let before = HostSnapshot::take();
    env.run(&["delete", "--force", id.as_str()]).assert_ok();
    assert!(wait_pid_exit(pid, Duration::from_secs(2)));
    assert_no_problems("after delete", &leftovers(&env, &id, &before), None);
}

// ---------------------------------------------------------------------------
// Guests reaching for the host
// ---------------------------------------------------------------------------

/// Size, mtime and content of a host file, to tell whether it changed.
fn file_fingerprint(p: &Path) -> Option<(u64, i64, i64, Vec<u8>)> {
    let m = fs::metadata(p).ok()?;
    Some((m.len(), m.mtime(), m.mtime_nsec(), fs::read(p).ok()?))
}

/// `fsprobe` tries every way out of the container it can think of: `..`,
/// absolute host paths, absolute and relative symlinks out of the rootfs,
/// `/proc/*/root` and `/proc/*/cwd`; with `/` as cwd, with `/work` as cwd
/// (top-level directories preopened too) and without a mount namespace (the
/// rootfs preopened by its host path). It must never read the secret or the
/// host's `/etc/shadow`, nor write outside the rootfs; the container's own
/// `/etc/passwd` is readable (the control).
#[test]
fn m_guest_cannot_reach_host_files() {
    let Some(env) = TestEnv::new("hm_escape") else {
        return;
    };
    let tmp = env.tmp().to_string_lossy().into_owned();
    let secret = format!("HOST-SECRET-{}", std::process::id());
    fs::write(env.tmp().join("secret.txt"), &secret).unwrap();
    let shadow_before = file_fingerprint(Path::new("/etc/shadow"));
    let shadow_text = fs::read_to_string("/etc/shadow").unwrap_or_default();
    let shadow_first = shadow_text.lines().next().unwrap_or("").to_string();
    let up = "../".repeat(16);
    let ops: Vec<String> = vec![
        "read:/etc/passwd".into(),
        "read:../../etc/shadow".into(),
        "read:/etc/shadow".into(),
        "read:/../../../etc/shadow".into(),
        "read:/abs".into(),
        "read:/rel".into(),
        "read:/work/sec".into(),
        "read:/hx/secret.txt".into(),
        "read:/secret-abs".into(),
        format!("read:{tmp}/secret.txt"),
        format!("read:{up}{tmp}/secret.txt"),
        format!("read:/work/{up}{tmp}/secret.txt"),
        "read:/proc/1/root/etc/shadow".into(),
        format!("read:/proc/self/root{tmp}/secret.txt"),
        format!("read:/proc/1/cwd/{up}{tmp}/secret.txt"),
        "list:/..".into(),
        "list:../..".into(),
        "list:/proc/1/root".into(),
        format!("write:{up}{tmp}/escaped-dotdot.txt=x"),
        format!("write:{tmp}/escaped-abs.txt=x"),
        "write:/hx/escaped-link.txt=x".into(),
        "write:/abs=x".into(),
        "write:/rel=x".into(),
    ];
    let op_refs: Vec<&str> = ops.iter().map(String::as_str).collect();
    for (tag, cwd, mount_ns) in [
        ("root", "/", true),
        ("work", "/work", true),
        ("nons", "/", false),
    ] {
        let mut argv = vec!["/app.wasm"];
        argv.extend_from_slice(&op_refs);
        let b = env
            .bundle("fsprobe")
            .args(&argv)
            .cwd(cwd)
            .file("/etc/passwd", b"container passwd\n")
            .file("/work/.keep", b"")
            .edit(|c| {
                if mount_ns {
                    c["linux"] = json!({"namespaces": [{"type": "mount"}, {"type": "pid"}]});
                    c["mounts"] =
                        json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
                } else {
                    c["linux"] = json!({"namespaces": [{"type": "pid"}]});
                }
            });
        symlink("/etc/shadow", b.rootfs.join("abs")).unwrap();
        symlink(format!("{up}etc/shadow"), b.rootfs.join("rel")).unwrap();
        symlink(format!("{up}{tmp}/secret.txt"), b.rootfs.join("work/sec")).unwrap();
        symlink(&tmp, b.rootfs.join("hx")).unwrap();
        symlink(format!("{tmp}/secret.txt"), b.rootfs.join("secret-abs")).unwrap();
        let before = HostSnapshot::take();
        let out = run_module(&env, tag, &b, CMD_TIMEOUT);
        assert_no_crash(&out);
        assert_eq!(out.code(), 0, "{tag}: fsprobe failed:\n{out}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), ops.len(), "{tag}: one line per op:\n{out}");
        assert_eq!(
            lines[0], "read /etc/passwd: container passwd\\n",
            "{tag}: the container's own file (control):\n{out}"
        );
        assert!(
            !out.stdout.contains(&secret) && !out.stderr.contains(&secret),
            "{tag}: the guest read the host's secret:\n{out}"
        );
        if !shadow_first.is_empty() {
            assert!(
                !out.stdout.contains(&shadow_first),
                "{tag}: the guest read the host's /etc/shadow:\n{out}"
            );
        }
        for (line, op) in lines.iter().zip(&ops).skip(1) {
            if op.starts_with("read:") || op.starts_with("list:") {
                assert!(
                    line.contains(": error "),
                    "{tag}: {op} should fail, got {line:?}:\n{out}"
                );
            }
        }
        for f in ["escaped-dotdot.txt", "escaped-abs.txt", "escaped-link.txt"] {
            assert!(
                !env.tmp().join(f).exists(),
                "{tag}: the guest wrote {f} on the host:\n{out}"
            );
        }
        assert_eq!(
            file_fingerprint(Path::new("/etc/shadow")),
            shadow_before,
            "{tag}: the host's /etc/shadow changed"
        );
        assert_run_left_nothing(&env, tag, &before);
    }
}

/// A symlink in the rootfs to the host's `/etc` (`hostetc -> /etc`) never
/// redirects a mount, a device, the cwd or a guest's write to the host:
/// all of them land in the rootfs's own `etc`.
#[test]
fn m_symlink_to_host_etc_redirects_nothing() {
    let Some(env) = TestEnv::new("hm_hostetc") else {
        return;
    };
    let tag = format!("runwasm-hostile-{}", std::process::id());
    let host_names: Vec<PathBuf> = ["mnt", "bind", "dev", "cwd", "write", "dotdot"]
        .iter()
        .map(|k| PathBuf::from(format!("/etc/{tag}-{k}")))
        .collect();
    for p in &host_names {
        assert!(fs::symlink_metadata(p).is_err(), "{} exists", p.display());
    }
    fs::write(env.tmp().join("bind-src"), "bind source\n").unwrap();
    let b = env
        .bundle("fsprobe")
        .args(&[
            "/app.wasm",
            &format!("write:/hostetc/{tag}-write=owned"),
            &format!("list:/hostetc/{tag}-mnt"),
            &format!("read:/hostetc/{tag}-bind"),
        ])
        .cwd(&format!("/hostetc/{tag}-cwd"))
        .file("/etc/passwd", b"container passwd\n")
        .edit(|c| {
            c["linux"] = json!({
                "namespaces": [{"type": "mount"}, {"type": "pid"}],
                "devices": [{"path": format!("/hostetc/{tag}-dev"), "type": "c", "major": 1, "minor": 3}],
            });
            c["mounts"] = json!([
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": format!("/hostetc/{tag}-mnt"), "type": "tmpfs", "source": "tmpfs"},
                {"destination": format!("/hostetc/{tag}-bind"), "type": "bind",
                 "source": env.tmp().join("bind-src"), "options": ["bind"]},
                {"destination": format!("/../../../hostetc/{tag}-dotdot"), "type": "tmpfs", "source": "tmpfs"},
            ]);
        });
    symlink("/etc", b.rootfs.join("hostetc")).unwrap();
    let before = HostSnapshot::take();
    let out = run_module(&env, "c", &b, CMD_TIMEOUT);
    assert_no_crash(&out);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stdout
            .contains(&format!("write /hostetc/{tag}-write: ok")),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!("read /hostetc/{tag}-bind: bind source")),
        "the bind mount is seen through the link, inside the container:\n{out}"
    );
    for p in &host_names {
        assert!(
            fs::symlink_metadata(p).is_err(),
            "{} was created on the host:\n{out}",
            p.display()
        );
    }
    // Everything landed in the rootfs's own etc.
    let etc = b.rootfs.join("etc");
    for k in ["write", "cwd", "dev"] {
        assert!(
            fs::symlink_metadata(etc.join(format!("{tag}-{k}"))).is_ok(),
            "{k} is not in the rootfs's etc"
        );
    }
    assert_run_left_nothing(&env, "c", &before);
}

/// The longest id runc accepts: 255 characters (one path component).
#[test]
fn m_id_of_255_characters_is_accepted() {
    let Some(env) = TestEnv::new("hm_id255") else {
        return;
    };
    let b = env.bundle("hello");
    let id = "a".repeat(255);
    env.track(&id);
    let pid_file = env.tmp().join("long.pid");
    let out = env.run(&[
        "create",
        "--bundle",
        path_str(&b.dir),
        "--pid-file",
        path_str(&pid_file),
        id.as_str(),
    ]);
    assert_no_crash(&out);
    assert!(
        out.success(),
        "an id of 255 characters is valid (runc 1.1.5 accepts it):\n{out}"
    );
    let before = HostSnapshot::take();
    env.run(&["delete", "--force", id.as_str()]).assert_ok();
    assert_no_problems("after delete", &leftovers(&env, &id, &before), None);
}

/// `exec` of a module into a container without a mount namespace (where
/// init's module gets the rootfs preopened by its host path, docs/wasm.md):
/// the module is found in the rootfs and sees the rootfs as `/`; a module
/// that exists only on the host is not found.
#[test]
fn m_exec_without_mount_namespace_stays_in_the_rootfs() {
    let Some(env) = TestEnv::new("hm_exec_nons") else {
        return;
    };
    let probe = fs::read(module("fsprobe")).unwrap();
    // The harness's bundle has no linux.namespaces at all.
    let b = env
        .bundle("hello")
        .file("/probe.wasm", &probe)
        .file("/etc/hostname", b"container\n");
    let host_probe = env.tmp().join("host-probe.wasm");
    fs::write(&host_probe, &probe).unwrap();
    let id = env.id("c");
    let created = env.create(&id, &b);
    let pid = created.pid();

    let out = env.run(&[
        "exec",
        id.as_str(),
        "/probe.wasm",
        "list:/",
        "read:/etc/hostname",
    ]);
    assert_no_crash(&out);
    assert_eq!(
        out.code(),
        0,
        "exec of the container's own /probe.wasm must run:\n{out}"
    );
    assert!(
        out.stdout.contains("list /: ") && out.stdout.contains("probe.wasm"),
        "the module must see the rootfs as /:\n{out}"
    );
    assert!(
        out.stdout.contains("read /etc/hostname: container"),
        "the container's /etc/hostname, not the host's:\n{out}"
    );

    let out = env.run(&["exec", id.as_str(), path_str(&host_probe), "list:/"]);
    assert_no_crash(&out);
    assert!(
        !out.success() && out.stderr.to_lowercase().contains("no such file"),
        "a module that exists only on the host must not be found in the \
         container (nor run with the host's / preopened):\n{out}"
    );
    assert!(pid_alive(pid));
    let before = HostSnapshot::take();
    env.run(&["delete", "--force", id.as_str()]).assert_ok();
    assert!(wait_pid_exit(pid, Duration::from_secs(2)));
    assert_no_problems("after delete", &leftovers(&env, &id, &before), None);
}
