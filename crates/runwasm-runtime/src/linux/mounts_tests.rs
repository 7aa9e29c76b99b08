//! Real-mount tests of the mount types, options, destination resolution,
//! devices and error texts (see [`crate::linux::rootfs::testutil`] for the
//! harness).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::json;
use serde_json::Value;

use crate::linux::resolve::{mountinfo, sys_mount};
use crate::linux::rootfs::prepare_rootfs;
use crate::linux::rootfs::testutil::{
    bundle, ensure, errno_of, full_setup, in_child, mount_at, skip_unless_root, spec, R,
};

#[test]
fn bind_and_tmpfs_mounts_follow_their_options() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let data = b.dir.join("data");
    fs::create_dir_all(data.join("dir/sub")).unwrap();
    fs::write(data.join("file"), "hello").unwrap();
    fs::create_dir_all(b.rootfs.join("run/lock")).unwrap();
    fs::set_permissions(b.rootfs.join("run"), fs::Permissions::from_mode(0o710)).unwrap();
    fs::write(b.rootfs.join("run/lock/pid"), "42").unwrap();
    std::os::unix::fs::symlink("lock/pid", b.rootfs.join("run/link")).unwrap();
    let file = data.join("file");
    let spec = spec(json!({
        "root": {"path": "rootfs", "readonly": false},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/etc/deep/new/file", "type": "bind", "source": file,
             "options": ["ro", "nosuid", "nodev"]},
            {"destination": "/mnt/rw", "source": "data/dir", "options": ["rbind", "rprivate"]},
            {"destination": "/mnt/rro", "source": "data/dir", "options": ["rbind", "rro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["size=1m", "mode=1770", "noexec"]},
            {"destination": "/shared", "type": "tmpfs", "source": "tmpfs", "options": ["shared"]},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
             "options": ["tmpcopyup", "nosuid"]},
        ],
        "linux": {"maskedPaths": [], "readonlyPaths": []},
    }));
    in_child(&b.tmp, || {
        // A submount in the source shows rbind and rro at work.
        let sub = data.join("dir/sub");
        sys_mount(Some("tmpfs".as_ref()), &sub, Some("tmpfs"), 0, None)
            .map_err(|e| format!("submount: {e}"))?;
        full_setup(&b, &spec)?;
        let mounts = mountinfo().map_err(|e| e.to_string())?;
        ensure!(
            fs::read_to_string("/etc/deep/new/file").ok().as_deref() == Some("hello"),
            "file"
        );
        let f = mount_at(&mounts, "/etc/deep/new/file")?;
        for o in ["ro", "nosuid", "nodev"] {
            ensure!(f.has_option(o), "file bind lacks {o}: {f:?}");
        }
        let w = fs::OpenOptions::new()
            .write(true)
            .open("/etc/deep/new/file");
        ensure!(errno_of(w) == Some(libc::EROFS), "ro bind writable");

        fs::write("/mnt/rw/written", "x").map_err(|e| format!("rw bind: {e}"))?;
        ensure!(
            mount_at(&mounts, "/mnt/rw/sub")?.fstype == "tmpfs",
            "rbind lost the submount"
        );
        ensure!(
            mount_at(&mounts, "/mnt/rw")?.optional.is_empty(),
            "rprivate"
        );
        for p in ["/mnt/rro", "/mnt/rro/sub"] {
            ensure!(mount_at(&mounts, p)?.has_option("ro"), "{p} not ro (rro)");
        }

        let tmp = mount_at(&mounts, "/tmp")?;
        ensure!(
            tmp.has_option("noexec") && tmp.has_super_option("size=1024k"),
            "{tmp:?}"
        );
        let mode = fs::metadata("/tmp").unwrap().permissions().mode() & 0o7777;
        ensure!(mode == 0o1770, "tmpfs mode {mode:o}");
        let st = nix::sys::statvfs::statvfs("/tmp").map_err(|e| e.to_string())?;
        ensure!(st.blocks() * st.fragment_size() == 1 << 20, "tmpfs size");
        ensure!(
            mount_at(&mounts, "/shared")?.optional.contains("shared:"),
            "shared"
        );

        let run = mount_at(&mounts, "/run")?;
        ensure!(run.fstype == "tmpfs" && run.has_option("nosuid"), "{run:?}");
        let mode = fs::metadata("/run").unwrap().permissions().mode() & 0o7777;
        ensure!(mode == 0o710, "existing dir mode not kept: {mode:o}");
        ensure!(
            fs::read_to_string("/run/link").ok().as_deref() == Some("42"),
            "tmpcopyup"
        );
        Ok(())
    });
    assert!(
        data.join("dir/written").exists(),
        "rw bind did not write through"
    );
}

#[test]
fn symlinks_in_the_rootfs_never_redirect_mounts_to_the_host() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let hostdir = b.tmp.join("hostdir");
    fs::create_dir_all(&hostdir).unwrap();
    let r = &b.rootfs;
    std::os::unix::fs::symlink(&hostdir, r.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../hostdir", r.join("rel")).unwrap();
    std::os::unix::fs::symlink("/etc", r.join("etc2")).unwrap();
    std::os::unix::fs::symlink("/loop", r.join("loop")).unwrap();
    let canary = format!("runwasm-escape-{}", std::process::id());
    let file = b.tmp.join("host-secret");
    let spec = spec(json!({
        "mounts": [
            {"destination": "/abs/sub", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/rel/file", "type": "bind", "source": file},
            {"destination": format!("/etc2/{canary}"), "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/../../../dotdot", "type": "tmpfs", "source": "tmpfs"},
        ],
    }));
    let looping = spec_with_mount("/loop/x");
    in_child(&b.tmp, || {
        prepare_rootfs(&spec, &b.dir, r).map_err(|e| format!("prepare: {e}"))?;
        let host = hostdir.to_string_lossy();
        for m in mountinfo().map_err(|e| e.to_string())? {
            let mp = m.mount_point.to_string_lossy().into_owned();
            ensure!(
                !mp.starts_with(&*host) && !mp.starts_with("/etc/"),
                "escaped: {mp}"
            );
        }
        ensure!(
            fs::read_dir(&hostdir).unwrap().next().is_none(),
            "host dir written"
        );
        let inside = r.join(hostdir.strip_prefix("/").unwrap());
        ensure!(
            mount_at(&mountinfo().unwrap(), &inside.join("sub").to_string_lossy()).is_ok(),
            "abs"
        );
        ensure!(
            r.join("hostdir/file").is_file(),
            "relative link not resolved in root"
        );
        ensure!(
            r.join("etc").join(&canary).is_dir(),
            "/etc link not resolved in root"
        );
        ensure!(r.join("dotdot").is_dir(), ".. not clamped");
        let err = prepare_rootfs(&looping, &b.dir, r).unwrap_err().to_string();
        ensure!(
            err.contains("\"/loop/x\"") && err.contains("too many"),
            "{err}"
        );
        Ok(())
    });
    assert!(
        !Path::new("/etc").join(&canary).exists(),
        "mounted on the host's /etc"
    );
    assert!(fs::read_dir(&hostdir).unwrap().next().is_none());
}

fn spec_with_mount(dest: &str) -> Spec {
    spec(json!({"mounts": [{"destination": dest, "type": "tmpfs", "source": "tmpfs"}]}))
}

#[test]
fn devices_from_the_spec() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let spec = spec(json!({
        "mounts": [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "mode=755"]}],
        "linux": {"devices": [
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o620, "uid": 1000, "gid": 1001},
            {"path": "/dev/loopx", "type": "b", "major": 7, "minor": 0},
            {"path": "/dev/myfifo", "type": "p", "fileMode": 0o600},
            {"path": "/dev/sub/zero", "type": "u", "major": 1, "minor": 5},
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600},
        ], "maskedPaths": [], "readonlyPaths": []},
    }));
    in_child(&b.tmp, || {
        full_setup(&b, &spec)?;
        let check = |p: &str, ft: u32, dev: (u32, u32), mode: u32, owner: (u32, u32)| -> R {
            let md = fs::symlink_metadata(p).map_err(|e| format!("{p}: {e}"))?;
            ensure!(md.mode() & libc::S_IFMT == ft, "{p}: type {:o}", md.mode());
            let got = (libc::major(md.rdev()), libc::minor(md.rdev()));
            ensure!(ft == libc::S_IFIFO || got == dev, "{p}: {got:?}");
            ensure!(
                md.mode() & 0o7777 == mode,
                "{p}: mode {:o}",
                md.mode() & 0o7777
            );
            ensure!(
                (md.uid(), md.gid()) == owner,
                "{p}: owner {}:{}",
                md.uid(),
                md.gid()
            );
            Ok(())
        };
        check("/dev/mynull", libc::S_IFCHR, (1, 3), 0o620, (1000, 1001))?;
        check("/dev/loopx", libc::S_IFBLK, (7, 0), 0o666, (0, 0))?;
        check("/dev/myfifo", libc::S_IFIFO, (0, 0), 0o600, (0, 0))?;
        check("/dev/sub/zero", libc::S_IFCHR, (1, 5), 0o666, (0, 0))?;
        check("/dev/null", libc::S_IFCHR, (1, 3), 0o600, (0, 0))?;
        check("/dev/urandom", libc::S_IFCHR, (1, 9), 0o666, (0, 0))?;
        ensure!(Path::new("/dev/shm").is_dir(), "/dev/shm");
        if Path::new("/proc/kcore").exists() {
            ensure!(fs::read_link("/dev/core").is_ok(), "/dev/core");
        }
        Ok(())
    });
}

#[test]
fn errors_name_what_failed() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"destination": "/weird", "type": "nosuchfs", "source": "none"}),
            "mounts[1]: mount \"none\" on \"/weird\": no such device (filesystem type \"nosuchfs\" is not known to this kernel)",
        ),
        (
            json!({"destination": "/x", "type": "bind", "source": "/nonexistent-src"}),
            "mounts[1]: mount \"/nonexistent-src\" on \"/x\": no such file or directory",
        ),
        (
            json!({"destination": "/proc/evil", "type": "tmpfs", "source": "tmpfs"}),
            "\"/proc/evil\" cannot be mounted because it is inside /proc",
        ),
        (
            json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
            "/proc takes only procfs",
        ),
        (
            json!({"destination": "/..", "type": "tmpfs", "source": "tmpfs"}),
            "mount destination \"/\" is not allowed",
        ),
        (
            json!({"destination": "/y", "type": "tmpfs", "source": "t", "options": ["idmap"]}),
            "mounts[1]: mount on \"/y\": mount option \"idmap\" is not supported",
        ),
        (
            json!({"destination": "/z", "type": "tmpfs", "source": "t", "options": ["frobnicate"]}),
            "mounts[1]: mount \"t\" on \"/z\": invalid argument (type \"tmpfs\", options passed to the filesystem: \"frobnicate\")",
        ),
    ];
    in_child(&b.tmp, || {
        for (m, want) in &cases {
            let mut first = vec![json!({"destination": "/proc", "type": "proc", "source": "proc"})];
            first.push(m.clone());
            let s = spec(json!({"mounts": first}));
            let err = match prepare_rootfs(&s, &b.dir, &b.rootfs) {
                Ok(()) => return Err(format!("{m} did not fail")),
                Err(e) => e.to_string(),
            };
            ensure!(err.contains(want), "{err:?} does not contain {want:?}");
        }
        let bad =
            spec(json!({"mounts": [], "linux": {"devices": [{"path": "/dev/a", "type": "a"}]}}));
        let err = prepare_rootfs(&bad, &b.dir, &b.rootfs)
            .unwrap_err()
            .to_string();
        ensure!(err.contains("linux.devices[0] (/dev/a)"), "{err}");
        Ok(())
    });
}

#[test]
fn cgroup_v1_without_cgroupns_binds_the_own_cgroups() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let spec = spec(json!({
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {"namespaces": [{"type": "mount"}], "maskedPaths": [], "readonlyPaths": []},
    }));
    in_child(&b.tmp, || {
        let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let memory = own
            .lines()
            .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
            .ok_or("no memory cgroup")?;
        let v1 = fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(" - cgroup ");
        full_setup(&b, &spec)?;
        if !v1 {
            return Ok(());
        }
        let mounts = mountinfo().map_err(|e| e.to_string())?;
        let cg = mount_at(&mounts, "/sys/fs/cgroup")?;
        ensure!(cg.fstype == "tmpfs" && cg.has_option("ro"), "{cg:?}");
        ensure!(
            cg.has_option("nosuid") && cg.has_super_option("mode=755"),
            "{cg:?}"
        );
        let mem = mount_at(&mounts, "/sys/fs/cgroup/memory")?;
        ensure!(
            mem.root == Path::new(&memory),
            "memory shows {:?}, not {memory}",
            mem.root
        );
        ensure!(mem.has_option("ro") && mem.has_option("nosuid"), "{mem:?}");
        let w = fs::write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "1");
        ensure!(errno_of(w) == Some(libc::EROFS), "cgroup writable");
        Ok(())
    });
}
