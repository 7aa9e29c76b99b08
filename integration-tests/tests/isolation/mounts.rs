//! Items 3, 4 and 10: mounts, devices, and a failed mount leaving nothing
//! behind.

use super::*;

#[test]
fn bind_mounts_rw_and_ro() {
    let Some(env) = TestEnv::new("iso_bind") else {
        return;
    };
    let rw = host_dir(&env, "vol-rw");
    let ro = host_dir(&env, "vol-ro");
    fs::write(ro.join("existing"), "host file\n").unwrap();
    let b = sh(
        &env,
        "echo from-container > /data/new.txt && echo WROTE-DATA; \
         echo x > /ro/new.txt && echo WROTE-RO; cat /ro/existing",
    );
    let b = add_mount(b, bind(&rw, "/data", &["rbind", "rw"]));
    let b = add_mount(b, bind(&ro, "/ro", &["bind", "ro", "nosuid"]));
    let out = run(&env, "c", &b);
    assert_eq!(
        fs::read_to_string(rw.join("new.txt")).ok().as_deref(),
        Some("from-container\n"),
        "a file written to the rw bind mount /data must appear on the host:\n{out}"
    );
    assert!(out.stdout.contains("WROTE-DATA\n"), "{out}");
    assert!(
        !out.stdout.contains("WROTE-RO") && out.stderr.contains("Read-only file system"),
        "writing to the ro bind mount /ro must fail with EROFS:\n{out}"
    );
    assert!(
        !ro.join("new.txt").exists(),
        "a write to the ro bind mount reached the host"
    );
    assert!(
        out.stdout.contains("host file\n"),
        "the ro bind mount must show the host dir's files:\n{out}"
    );
    assert!(
        !b.rootfs.join("data/new.txt").exists(),
        "the write went to the rootfs, not the volume"
    );
}

#[test]
fn tmpfs_and_special_filesystems_are_mounted_as_configured() {
    let Some(env) = TestEnv::new("iso_fstypes") else {
        return;
    };
    // (1777 is tmpfs's default mode, which /proc/mounts does not show: use
    // another.)
    let b = sh(&env, "cat /proc/mounts; echo; stat -c 'mode=%a' /tmp");
    let b = add_mount(
        b,
        json!({
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=1770"],
        }),
    );
    let out = run_ok(&env, "c", &b);
    let mounts = parse_mounts(&out.stdout);
    let find = |point: &str| {
        mounts
            .iter()
            .rfind(|m| m.1 == point)
            .unwrap_or_else(|| panic!("nothing mounted on {point}:\n{out}"))
    };
    let has = |m: &(String, String, String, Vec<String>), opts: &[&str]| {
        opts.iter().all(|o| m.3.iter().any(|x| x == o))
    };
    let tmp = find("/tmp");
    assert_eq!(tmp.2, "tmpfs", "{tmp:?}");
    assert!(
        has(
            tmp,
            &["nosuid", "nodev", "noexec", "size=1024k", "mode=1770"]
        ),
        "/tmp must be a 1 MiB tmpfs with mode 1770, nosuid, nodev, noexec: {tmp:?}\n{out}"
    );
    assert!(out.stdout.contains("mode=1770\n"), "stat /tmp:\n{out}");
    for (point, fstype, opts) in [
        ("/proc", "proc", &[][..]),
        ("/dev", "tmpfs", &["nosuid", "mode=755"][..]),
        (
            "/dev/pts",
            "devpts",
            &["nosuid", "noexec", "ptmxmode=666", "gid=5"][..],
        ),
        ("/dev/shm", "tmpfs", &["nosuid", "nodev", "noexec"][..]),
        ("/dev/mqueue", "mqueue", &["nosuid", "nodev", "noexec"][..]),
        ("/sys", "sysfs", &["ro", "nosuid", "nodev", "noexec"][..]),
    ] {
        let m = find(point);
        assert_eq!(m.2, fstype, "{point} must be {fstype}: {m:?}\n{out}");
        assert!(has(m, opts), "{point} must have {opts:?}: {m:?}\n{out}");
    }
    let cgroup: Vec<_> = mounts
        .iter()
        .filter(|m| m.1.starts_with("/sys/fs/cgroup"))
        .collect();
    assert!(
        cgroup.iter().any(|m| m.2 == "cgroup" || m.2 == "cgroup2"),
        "the cgroup mount must put a cgroup filesystem under /sys/fs/cgroup:\n{out}"
    );
    assert!(
        cgroup.iter().all(|m| m.3.iter().any(|o| o == "ro")),
        "the cgroup mount is ro: {cgroup:?}"
    );
}

/// The host's /etc still has exactly the names in `before`, no
/// `runwasm-probe`, and nothing named so is mounted on the host.
fn check_no_probe_in_host_etc(before: &BTreeSet<String>, out: &Output) {
    let after = dir_names(Path::new("/etc"));
    assert_eq!(
        &after, before,
        "the host's /etc changed (names added/removed):\n{out}"
    );
    assert!(
        !Path::new("/etc/runwasm-probe").exists(),
        "a mount destination through a symlink to /etc created \
         /etc/runwasm-probe on the host:\n{out}"
    );
    let mounted = host_mountinfo()
        .into_iter()
        .filter(|l| l.contains("runwasm-probe"))
        .collect::<Vec<_>>();
    assert!(mounted.is_empty(), "mounted on the host: {mounted:?}");
}

#[test]
fn symlinked_mount_destinations_stay_in_the_rootfs() {
    let Some(env) = TestEnv::new("iso_symdest") else {
        return;
    };
    assert!(
        !Path::new("/etc/runwasm-probe").exists(),
        "/etc/runwasm-probe exists on the host before the test (left by an \
         earlier run?): remove it"
    );
    let probe = env.tmp().join("probe.txt");
    fs::write(&probe, "probe content\n").unwrap();
    let etc_before = dir_names(Path::new("/etc"));

    // 1. rootfs/etc -> /etc (absolute, the host's /etc if followed from the
    //    host), used as the parent of a destination. Inside the rootfs the
    //    link points at itself: either the mount lands in the rootfs, or
    //    create fails with a clear error.
    let b = sh(&env, "cat /etc/runwasm-probe");
    std::os::unix::fs::symlink("/etc", b.rootfs.join("etc")).unwrap();
    let b = add_mount(b, bind(&probe, "/etc/runwasm-probe", &["bind", "ro"]));
    let id = env.id("self");
    let out = env.run(&["run", "--bundle", path_str(&b.dir), id.as_str()]);
    check_no_probe_in_host_etc(&etc_before, &out);
    if out.success() {
        assert_eq!(out.stdout, "probe content\n", "{out}");
    } else {
        out.assert_failed_with(&["/etc/runwasm-probe"]);
        env.assert_nothing_left(&id, &[]);
    }
    assert!(
        fs::symlink_metadata(b.rootfs.join("etc")).is_ok_and(|m| m.file_type().is_symlink()),
        "the planted symlink was replaced"
    );

    // 2. rootfs/hostetc -> /etc with a real rootfs/etc: resolved inside the
    //    rootfs, the destination is rootfs/etc/runwasm-probe.
    let b = sh(&env, "cat /etc/runwasm-probe; cat /hostetc/runwasm-probe");
    fs::create_dir_all(b.rootfs.join("etc")).unwrap();
    std::os::unix::fs::symlink("/etc", b.rootfs.join("hostetc")).unwrap();
    let b = add_mount(b, bind(&probe, "/hostetc/runwasm-probe", &["bind", "ro"]));
    let out = run(&env, "link", &b);
    check_no_probe_in_host_etc(&etc_before, &out);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.stdout, "probe content\nprobe content\n",
        "the mount through /hostetc -> /etc must land on the container's \
         /etc/runwasm-probe:\n{out}"
    );
    assert!(
        b.rootfs.join("etc/runwasm-probe").exists(),
        "the mount point must be created in the rootfs's etc"
    );
}

#[test]
fn dotdot_in_a_mount_destination_stays_in_the_rootfs() {
    let Some(env) = TestEnv::new("iso_dotdot") else {
        return;
    };
    let src = env.tmp().join("dotdot-src.txt");
    fs::write(&src, "dotdot content\n").unwrap();
    // Joined naively with the rootfs path, this destination is a host path
    // outside the rootfs.
    let target = env.tmp().join("escaped/file");
    let dest = format!("/../../../../../../../..{}", path_str(&target));
    let b = sh(&env, &format!("cat {}", path_str(&target)));
    let b = add_mount(b, bind(&src, &dest, &["bind", "ro"]));
    let before = host_mountinfo();
    let out = run(&env, "c", &b);
    assert!(
        !env.tmp().join("escaped").exists(),
        "the destination {dest:?} escaped the rootfs: {} was created on the host:\n{out}",
        target.display()
    );
    assert_eq!(host_mountinfo(), before, "the host's mount table changed");
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.stdout,
        "dotdot content\n",
        "the mount must be at {} inside the container:\n{out}",
        target.display()
    );
    let inside = b.rootfs.join(target.strip_prefix("/").unwrap());
    assert!(
        inside.exists(),
        "the mount point must be created inside the rootfs at {}",
        inside.display()
    );
}

#[test]
fn default_devices_exist() {
    let Some(env) = TestEnv::new("iso_devices") else {
        return;
    };
    let b = sh(
        &env,
        "stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random \
         /dev/urandom /dev/tty; \
         for l in fd stdin stdout stderr ptmx; do echo /dev/$l '->' $(readlink /dev/$l); done; \
         stat -c '%n %F' /dev/shm /dev/pts",
    );
    let out = run_ok(&env, "c", &b);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "/dev/null character special file 1:3 666",
            "/dev/zero character special file 1:5 666",
            "/dev/full character special file 1:7 666",
            "/dev/random character special file 1:8 666",
            "/dev/urandom character special file 1:9 666",
            "/dev/tty character special file 5:0 666",
            "/dev/fd -> /proc/self/fd",
            "/dev/stdin -> /proc/self/fd/0",
            "/dev/stdout -> /proc/self/fd/1",
            "/dev/stderr -> /proc/self/fd/2",
            "/dev/ptmx -> pts/ptmx",
            "/dev/shm directory",
            "/dev/pts directory",
        ],
        "the default devices (type, major:minor in hex, mode) and links:\n{out}"
    );
}

#[test]
fn linux_devices_are_created() {
    let Some(env) = TestEnv::new("iso_linuxdev") else {
        return;
    };
    let b = sh(
        &env,
        "stat -c '%n %F %t:%T %a %u:%g' /dev/mydev /dev/sub/myzero /dev/myfifo",
    )
    .edit(|c| {
        c["linux"]["devices"] = json!([
            { "path": "/dev/mydev", "type": "c", "major": 1, "minor": 3,
              "fileMode": 0o640, "uid": 0, "gid": 0 },
            { "path": "/dev/sub/myzero", "type": "c", "major": 1, "minor": 5,
              "fileMode": 0o600, "uid": 1000, "gid": 1001 },
            { "path": "/dev/myfifo", "type": "p", "fileMode": 0o644 },
        ]);
    });
    let out = run_ok(&env, "c", &b);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "/dev/mydev character special file 1:3 640 0:0",
            "/dev/sub/myzero character special file 1:5 600 1000:1001",
            "/dev/myfifo fifo 0:0 644 0:0",
        ],
        "linux.devices with their type, major:minor, mode and owner:\n{out}"
    );
}

#[test]
fn a_failed_mount_leaves_nothing_behind() {
    let Some(env) = TestEnv::new("iso_mountfail") else {
        return;
    };
    let vol = host_dir(&env, "vol");
    let missing = env.tmp().join("no-such-source");
    let before = host_mountinfo();
    // A good mount first, then one whose source does not exist.
    let b = native(&env, &["sleep", "30"]);
    let b = add_mount(b, bind(&vol, "/data", &["rbind", "rw"]));
    let b = add_mount(b, bind(&missing, "/missing", &["bind"]));
    let out = create_fails(&env, "nosrc", &b, &["/missing", path_str(&missing)]);
    assert_eq!(
        host_mountinfo(),
        before,
        "the failed create changed the host's mount table:\n{out}"
    );

    // An unknown filesystem type.
    let b = add_mount(
        native(&env, &["sleep", "30"]),
        json!({ "destination": "/weird", "type": "nosuchfs", "source": "none" }),
    );
    let out = create_fails(&env, "badtype", &b, &["/weird"]);
    assert_eq!(
        host_mountinfo(),
        before,
        "the failed create changed the host's mount table:\n{out}"
    );
    env.assert_root_has_no_containers();
}
