//! Item 7: a Wasm module sees the container's own root, its volumes and
//! mounts, and nothing of the host.

use super::*;

/// The line `fsprobe` printed for operation `op` (`read /x`, `list /proc`).
fn probe<'a>(out: &'a Output, op: &str) -> &'a str {
    let prefix = format!("{op}: ");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("fsprobe printed no {op:?} line:\n{out}"))
}

#[test]
fn module_reads_the_rootfs_and_writes_through_a_volume() {
    let Some(env) = TestEnv::new("iso_wasm_fs") else {
        return;
    };
    let vol = host_dir(&env, "vol");
    fs::write(vol.join("host.txt"), "put there by the host").unwrap();
    let b = wasm(
        &env,
        "fsprobe",
        &[
            "read:/only-here.txt",
            "read:/etc/hostname",
            "read:/data/host.txt",
            "write:/data/out.txt=written by the module",
            "write:/rootfs-write.txt=x",
            "list:/data",
        ],
    )
    .file("/only-here.txt", b"in the container only")
    .file("/etc/hostname", b"container-hostname-file\n");
    let b = add_mount(b, bind(&vol, "/data", &["rbind", "rw"]));
    let out = run_ok(&env, "c", &b);
    assert_eq!(
        probe(&out, "read /only-here.txt"),
        "in the container only",
        "{out}"
    );
    assert_eq!(
        probe(&out, "read /etc/hostname"),
        "container-hostname-file\\n",
        "/etc/hostname must be the container's:\n{out}"
    );
    assert_eq!(
        probe(&out, "read /data/host.txt"),
        "put there by the host",
        "the volume mounted at /data must be /data to the module:\n{out}"
    );
    assert_eq!(probe(&out, "write /data/out.txt"), "ok", "{out}");
    assert_eq!(
        fs::read_to_string(vol.join("out.txt")).ok().as_deref(),
        Some("written by the module"),
        "a write to /data must reach the volume on the host:\n{out}"
    );
    assert!(
        !b.rootfs.join("data/out.txt").exists(),
        "the module wrote into the rootfs's /data, not the volume"
    );
    assert_eq!(probe(&out, "list /data"), "host.txt out.txt", "{out}");
    assert!(
        probe(&out, "write /rootfs-write.txt").starts_with("error"),
        "root.readonly: the module cannot write to /:\n{out}"
    );
    assert!(!b.rootfs.join("rootfs-write.txt").exists());
}

#[test]
fn module_paths_cannot_reach_the_host() {
    let Some(env) = TestEnv::new("iso_wasm_escape") else {
        return;
    };
    let host_passwd = fs::read_to_string("/etc/passwd").unwrap();
    let host_root_line = host_passwd
        .lines()
        .next()
        .unwrap_or("root:x:0:0")
        .to_string();
    assert!(host_root_line.starts_with("root:"), "{host_root_line}");
    let paths = [
        "../../etc/passwd",
        "/../../../etc/passwd",
        "/../../../etc/shadow",
        "/etc/../../../../etc/passwd",
        "/hostetc/passwd",
        "/hostetc/shadow",
        "/up/passwd",
        "/up/shadow",
    ];
    let ops: Vec<String> = paths.iter().map(|p| format!("read:{p}")).collect();
    let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
    let b = wasm(&env, "fsprobe", &ops)
        .file("/etc/passwd", b"container passwd\n")
        .file("/etc/shadow", b"container shadow\n");
    // An absolute link to /etc and a relative one climbing far above the
    // rootfs.
    std::os::unix::fs::symlink("/etc", b.rootfs.join("hostetc")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc", b.rootfs.join("up")).unwrap();
    let out = run_ok(&env, "c", &b);
    for p in paths {
        let got = probe(&out, &format!("read {p}"));
        assert!(
            got.starts_with("error ") || got.starts_with("container "),
            "{p} must fail or resolve inside the rootfs, got {got:?}:\n{out}"
        );
    }
    assert!(
        !out.stdout.contains(&host_root_line) && !out.stdout.contains("root:"),
        "host /etc/passwd or /etc/shadow content reached the module:\n{out}"
    );
}

#[test]
fn module_runs_in_the_containers_namespaces_and_mounts() {
    let Some(env) = TestEnv::new("iso_wasm_ns") else {
        return;
    };
    let b = wasm(
        &env,
        "fsprobe",
        &[
            "read:/proc/sys/kernel/hostname",
            "list:/proc",
            "list:/dev",
            "list:/",
            "read:/proc/1/mountinfo",
            "list:/work",
        ],
    )
    .edit(|c| c["hostname"] = json!("wasm-box"));
    let out = run_ok(&env, "c", &b);
    assert_eq!(
        probe(&out, "read /proc/sys/kernel/hostname"),
        "wasm-box\\n",
        "the module's uts namespace has config.json's hostname:\n{out}"
    );
    let pids: Vec<&str> = probe(&out, "list /proc")
        .split_whitespace()
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(
        pids,
        ["1"],
        "in its own pid namespace (with its own /proc) the module is the only \
         process, PID 1:\n{out}"
    );
    let dev: BTreeSet<&str> = probe(&out, "list /dev").split_whitespace().collect();
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd",
    ] {
        assert!(dev.contains(d), "/dev/{d} missing in {dev:?}:\n{out}");
    }
    let top: BTreeSet<&str> = probe(&out, "list /").split_whitespace().collect();
    assert_eq!(
        top,
        ["app.wasm", "dev", "proc", "sys"].into(),
        "the module's / is the rootfs:\n{out}"
    );
    assert!(
        probe(&out, "list /work").starts_with("error"),
        "the host's /work is visible to the module:\n{out}"
    );
    let mountinfo = probe(&out, "read /proc/1/mountinfo");
    let points: BTreeSet<&str> = mountinfo
        .split("\\n")
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    for p in [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
    ] {
        assert!(
            points.contains(p),
            "{p} is not mounted in the module's mount namespace: {points:?}\n{out}"
        );
    }
    let tmp = path_str(env.tmp());
    assert!(
        points
            .iter()
            .all(|p| *p == "/" || ["/proc", "/dev", "/sys"].iter().any(|t| p.starts_with(t))),
        "host mounts visible in the container: {points:?}"
    );
    assert!(!points.iter().any(|p| p.contains(tmp)), "{points:?}");
}
