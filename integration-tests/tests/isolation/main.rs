//! Issue 3 (Linux isolation), observed from inside the container: a native
//! busybox-static rootfs for the native checks, Wasm modules (`fsprobe`)
//! for the filesystem isolation of a module, hook scripts that record their
//! stdin. Most containers start from runc's default config (`runwasm
//! spec`: pid/network/ipc/uts/mount/cgroup namespaces, the 7 default mounts,
//! masked and read-only paths, three capabilities, noNewPrivileges,
//! RLIMIT_NOFILE 1024, read-only root) with `process.args` replaced, and are
//! run in the foreground with `run`, whose stdout is the container's.
//!
//! One test binary (`cargo test -p integration-tests --test isolation`),
//! one file per item of the issue:
//!
//! - `namespaces.rs` — pid 1, hostname/domainname, network, user namespaces
//!   with id maps, joining a namespace by path;
//! - `rootfs.rs` — pivot_root (and `--no-pivot`), `root.readonly`,
//!   `process.cwd` creation;
//! - `mounts.rs` — bind/tmpfs/special mounts, symlinks and `..` in
//!   destinations, devices, a failed mount leaving nothing behind;
//! - `hardening.rs` — masked/readonly paths, sysctl, rlimits, user, umask,
//!   capabilities, noNewPrivileges, seccomp, oomScoreAdj;
//! - `hooks.rs` — the six hook phases, failures and timeouts;
//! - `wasm.rs` — what a module sees of the container's filesystem;
//! - `native.rs` — native processes through the container's PATH, and
//!   `features`.

#[path = "../common/mod.rs"]
mod common;

mod hardening;
mod hooks;
mod mounts;
mod namespaces;
mod native;
mod rootfs;
mod wasm;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// busybox applets linked into every native rootfs (`/bin/NAME ->
/// busybox`).
const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "id", "hostname", "mount", "ls", "grep", "ip", "touch", "stat", "mkdir",
    "readlink", "pwd", "env", "sleep", "wc", "head", "true", "false", "od",
];

/// A busybox rootfs (with the [`APPLETS`] linked in `/bin`) running `args`
/// under runc's default config, `PATH=/bin`.
fn native(env: &TestEnv, args: &[&str]) -> Bundle {
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
fn sh(env: &TestEnv, script: &str) -> Bundle {
    native(env, &["sh", "-c", script])
}

/// The Wasm test module `module` as `/app.wasm` (args `/app.wasm ARGS…`)
/// under runc's default config.
fn wasm(env: &TestEnv, module: &str, args: &[&str]) -> Bundle {
    let b = env.bundle(module);
    let mut c = runc_spec();
    let mut argv = vec!["/app.wasm"];
    argv.extend_from_slice(args);
    c["process"]["args"] = json!(argv);
    c["process"]["env"] = json!(["PATH=/bin"]);
    b.edit(|cfg| *cfg = c)
}

/// `run --bundle B [extra…] ID` in the foreground: the container's stdout and
/// stderr are the Output's.
fn run_with(env: &TestEnv, tag: &str, b: &Bundle, extra: &[&str]) -> Output {
    let id = env.id(tag);
    let mut args = vec!["run", "--bundle", path_str(&b.dir)];
    args.extend_from_slice(extra);
    args.push(&id);
    env.run(&args)
}

/// `run --bundle B ID`.
fn run(env: &TestEnv, tag: &str, b: &Bundle) -> Output {
    run_with(env, tag, b, &[])
}

/// `run`, asserting exit 0.
#[track_caller]
fn run_ok(env: &TestEnv, tag: &str, b: &Bundle) -> Output {
    let out = run(env, tag, b);
    assert_eq!(out.code(), 0, "the container failed:\n{out}");
    out
}

/// `create` must fail naming every needle (case-insensitive) in one stderr
/// line and one error log line, write no pid file, and leave no state dir,
/// fifo or process behind.
#[track_caller]
fn create_fails(env: &TestEnv, tag: &str, b: &Bundle, needles: &[&str]) -> Output {
    let id = env.id(tag);
    let c = env.try_create(&id, b);
    c.out.assert_failed_with(needles);
    assert!(
        !c.pid_file.exists(),
        "a failed create wrote a pid file:\n{}",
        c.out
    );
    env.assert_nothing_left(&id, &[]);
    let left = runwasm_processes_mentioning(&env.bin, &id);
    assert!(left.is_empty(), "processes left behind: {left:#?}");
    c.out
}

/// The lines of `/proc/self/mountinfo` of the test process (the host's mount
/// namespace).
fn host_mountinfo() -> BTreeSet<String> {
    line_set(&fs::read_to_string("/proc/self/mountinfo").unwrap())
}

/// The names in a host directory.
fn dir_names(p: &Path) -> BTreeSet<String> {
    fs::read_dir(p)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", p.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// A fresh host directory under the test's temporary directory, world
/// writable (the container may write to it as any uid).
fn host_dir(env: &TestEnv, name: &str) -> std::path::PathBuf {
    let d = env.tmp().join(name);
    fs::create_dir_all(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// Adds a mount to `mounts[]`.
fn add_mount(b: Bundle, m: Value) -> Bundle {
    b.edit(|c| c["mounts"].as_array_mut().unwrap().push(m))
}

/// A bind mount of `source` at `dest` with `options`.
fn bind(source: &Path, dest: &str, options: &[&str]) -> Value {
    json!({
        "destination": dest,
        "type": "bind",
        "source": path_str(source),
        "options": options,
    })
}

/// A tmpfs at `/tmp` (the default config's root is read-only).
fn tmp_tmpfs() -> Value {
    json!({
        "destination": "/tmp",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1777", "size=1m"],
    })
}

/// `/proc/mounts` (or `mount`) lines as (source, mount point, type, options).
fn parse_mounts(text: &str) -> Vec<(String, String, String, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            Some((
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].split(',').map(str::to_string).collect(),
            ))
        })
        .collect()
}
