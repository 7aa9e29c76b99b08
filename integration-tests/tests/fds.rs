//! File descriptors: the container's stdio is create's, and fds leaked by
//! the caller (the containerd shim leaks fd 3) are closed before the module
//! runs unless `--preserve-fds` keeps them.

mod common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const SEC: Duration = Duration::from_secs(1);

fn fd_table(pid: i32) -> String {
    proc_fds(pid)
        .iter()
        .map(|(n, t)| format!("  {n} -> {}", t.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn leak_file(env: &TestEnv) -> (PathBuf, File) {
    let leak = env.tmp().join("leaked-fd.txt");
    fs::write(&leak, "leaked").unwrap();
    let f = File::open(&leak).unwrap();
    (leak, f)
}

/// `create` of a spin module with `file` as an inherited fd 3, then
/// `start`; returns the init pid once the module is spinning, and the
/// container's stdout/stderr files.
fn create_start_with_fd3(
    env: &TestEnv,
    id: &str,
    file: File,
    extra: &[&str],
) -> (i32, PathBuf, PathBuf) {
    let b = env.bundle("spin");
    let pid_file = env.tmp().join(format!("{id}.pid"));
    let mut args = vec![
        "create",
        "--bundle",
        path_str(&b.dir),
        "--pid-file",
        path_str(&pid_file),
    ];
    args.extend_from_slice(extra);
    args.push(id);
    env.track(id);
    let rw = env.rw(&args).fd3(file);
    let (stdout, stderr) = (rw.stdout.clone(), rw.stderr.clone());
    rw.run().assert_ok();
    let pid = read_pid_file(&pid_file);
    env.start(id);
    assert!(
        wait_file_contains(&stdout, "spinning", 5 * SEC),
        "the module did not start: {:?}",
        fs::read_to_string(&stderr)
    );
    (pid, stdout, stderr)
}

fn points_at(pid: i32, target: &Path) -> Vec<i32> {
    proc_fds(pid)
        .into_iter()
        .filter(|(_, t)| t == target)
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn leaked_fd_is_closed_before_the_module_runs() {
    let Some(env) = TestEnv::new("fd_leak_closed") else {
        return;
    };
    let (leak, f) = leak_file(&env);
    let id = env.id("c");
    let (pid, stdout, stderr) = create_start_with_fd3(&env, &id, f, &[]);
    let hits = points_at(pid, &leak);
    assert!(
        hits.is_empty(),
        "the running container still holds the caller's fd 3 (as fd {hits:?}); init's fds:\n{}",
        fd_table(pid)
    );
    // The container's stdio is the stdio create was given.
    assert_eq!(
        points_at(pid, &stdout),
        [1],
        "fd 1 of init must be create's stdout; init's fds:\n{}",
        fd_table(pid)
    );
    assert_eq!(
        points_at(pid, &stderr),
        [2],
        "fd 2 of init must be create's stderr; init's fds:\n{}",
        fd_table(pid)
    );
}

#[test]
fn leaked_fd_is_closed_with_run_detach() {
    let Some(env) = TestEnv::new("fd_leak_run") else {
        return;
    };
    let (leak, f) = leak_file(&env);
    let b = env.bundle("spin");
    let id = env.id("c");
    let pid_file = env.tmp().join("run.pid");
    let rw = env
        .rw(&[
            "run",
            "-d",
            "--pid-file",
            path_str(&pid_file),
            "--bundle",
            path_str(&b.dir),
            id.as_str(),
        ])
        .fd3(f);
    let stdout = rw.stdout.clone();
    rw.run().assert_ok();
    let pid = read_pid_file(&pid_file);
    assert!(wait_file_contains(&stdout, "spinning", 5 * SEC));
    let hits = points_at(pid, &leak);
    assert!(
        hits.is_empty(),
        "the running container still holds the caller's fd 3 (as fd {hits:?}); init's fds:\n{}",
        fd_table(pid)
    );
}

#[test]
fn preserve_fds_keeps_fd_3() {
    let Some(env) = TestEnv::new("fd_preserve") else {
        return;
    };
    let (leak, f) = leak_file(&env);
    let id = env.id("c");
    let (pid, _, _) = create_start_with_fd3(&env, &id, f, &["--preserve-fds", "1"]);
    let hits = points_at(pid, &leak);
    assert_eq!(
        hits,
        [3],
        "with --preserve-fds 1 the container keeps the caller's fd 3 as fd 3; init's fds:\n{}",
        fd_table(pid)
    );
}
