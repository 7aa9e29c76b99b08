//! Item 2: the root filesystem.

use super::*;

/// What a process in the container sees of `/`: the marker file, the
/// top-level names, whether the host's `/work` is reachable and every mount
/// point.
const PROBE_ROOT: &str = "cat /marker; echo; echo top: $(ls /); \
     ls -d /work && echo HOST-WORK-VISIBLE; echo pid=$$; cat /proc/self/mountinfo";

/// Asserts the output of [`PROBE_ROOT`]: `/` is the rootfs and nothing of
/// the host's tree is visible or mounted.
#[track_caller]
fn assert_root_is_the_rootfs(env: &TestEnv, out: &Output) {
    assert_eq!(out.code(), 0, "{out}");
    let mut lines = out.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("only in this rootfs"),
        "/marker must be the rootfs's:\n{out}"
    );
    let top = lines.next().unwrap_or("");
    let names: BTreeSet<&str> = top
        .strip_prefix("top:")
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let expected: BTreeSet<&str> = ["bin", "dev", "marker", "proc", "sys"].into();
    assert_eq!(
        names, expected,
        "`ls /` must list the rootfs (plus the mount points made in it):\n{out}"
    );
    assert!(
        !out.stdout.contains("HOST-WORK-VISIBLE"),
        "the host's /work is visible in the container:\n{out}"
    );
    assert!(
        out.stderr.contains("/work"),
        "`ls -d /work` must fail:\n{out}"
    );
    assert!(out.stdout.contains("\npid=1\n"), "{out}");
    // mountinfo: field 5 is the mount point.
    let tmp = path_str(env.tmp());
    let points: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("pid="))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    assert!(points.contains(&"/"), "mountinfo has no / mount:\n{out}");
    let stray: Vec<&&str> = points
        .iter()
        .filter(|p| {
            !(**p == "/"
                || p.starts_with("/proc")
                || p.starts_with("/dev")
                || p.starts_with("/sys"))
                || p.contains(tmp)
        })
        .collect();
    assert!(
        stray.is_empty(),
        "mount points other than / and the configured mounts (host mounts left \
         in the container?): {stray:?}\n{out}"
    );
}

#[test]
fn pivot_root_makes_the_rootfs_the_root() {
    let Some(env) = TestEnv::new("iso_pivot") else {
        return;
    };
    let b = sh(&env, PROBE_ROOT).file("/marker", b"only in this rootfs");
    let out = run(&env, "c", &b);
    assert_root_is_the_rootfs(&env, &out);
    // mountinfo: field 5 is the mount point, field 6 its options.
    let root_opts: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("pid="))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(4) == Some(&"/")).then(|| f.get(5).copied().unwrap_or(""))
        })
        .collect();
    assert!(
        root_opts.len() == 1 && root_opts[0].split(',').any(|o| o == "ro"),
        "with root.readonly, / is mounted once, ro: {root_opts:?}\n{out}"
    );
}

#[test]
fn no_pivot_also_confines_the_process_to_the_rootfs() {
    let Some(env) = TestEnv::new("iso_nopivot") else {
        return;
    };
    let b = sh(&env, PROBE_ROOT).file("/marker", b"only in this rootfs");
    let out = run_with(&env, "c", &b, &["--no-pivot"]);
    assert_root_is_the_rootfs(&env, &out);
}

#[test]
fn readonly_root_refuses_writes() {
    let Some(env) = TestEnv::new("iso_rootro") else {
        return;
    };
    let b = sh(&env, "touch /x && echo WROTE");
    let out = run(&env, "ro", &b);
    assert_ne!(out.code(), 0, "touch on a read-only root must fail:\n{out}");
    assert!(
        !out.stdout.contains("WROTE") && out.stderr.contains("Read-only file system"),
        "with root.readonly, `touch /x` fails with EROFS:\n{out}"
    );
    assert!(!b.rootfs.join("x").exists(), "/x was created in the rootfs");

    // Control: a writable root.
    let b = sh(&env, "touch /x && echo WROTE").edit(|c| c["root"]["readonly"] = json!(false));
    let out = run_ok(&env, "rw", &b);
    assert_eq!(out.stdout, "WROTE\n", "{out}");
    assert!(
        b.rootfs.join("x").is_file(),
        "/x written in the container must be in the rootfs"
    );
}

#[test]
fn cwd_is_created_and_entered() {
    let Some(env) = TestEnv::new("iso_cwd") else {
        return;
    };
    let b = native(&env, &["pwd"]).cwd("/made/here");
    assert!(!b.rootfs.join("made").exists());
    let out = run_ok(&env, "c", &b);
    assert_eq!(out.stdout, "/made/here\n", "{out}");
    assert!(
        b.rootfs.join("made/here").is_dir(),
        "process.cwd must be created in the rootfs"
    );
}
