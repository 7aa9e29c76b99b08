//! Real-mount tests of prepare/enter/finish as a whole (see
//! [`super::testutil`] for the harness).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::json;

use super::testutil::{
    bundle, ensure, errno_of, full_setup, in_child, mount_at, skip_unless_root, spec,
};
use super::{enter_rootfs, finish_rootfs, prepare_rootfs};
use crate::linux::resolve::mountinfo;

#[test]
fn default_spec_builds_an_isolated_root() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let spec = spec(json!({}));
    in_child(&b.tmp, || {
        full_setup(&b, &spec)?;
        ensure!(
            fs::read_to_string("/etc/marker").ok().as_deref() == Some("container"),
            "marker"
        );
        ensure!(!Path::new("/host-secret").exists(), "host file visible");
        if Path::new("/bin/busybox").exists() {
            // A program run in the new root sees the same.
            let out = std::process::Command::new("/bin/busybox")
                .args(["sh", "-c", "cat /etc/marker; stat -c %t:%T /dev/null"])
                .output()
                .map_err(|e| format!("run busybox: {e}"))?;
            let out = String::from_utf8_lossy(&out.stdout);
            ensure!(out == "container1:3\n", "busybox saw {out:?}");
        }
        ensure!(!b.tmp.join("host-secret").exists(), "host path visible");
        let mounts = mountinfo().map_err(|e| e.to_string())?;
        let tmp = b.tmp.to_string_lossy();
        for m in &mounts {
            let mp = m.mount_point.to_string_lossy();
            ensure!(!mp.contains(&*tmp), "host path in mount table: {mp}");
            let ok = ["/proc", "/dev", "/sys"]
                .iter()
                .any(|p| m.mount_point.starts_with(p));
            ensure!(mp == "/" || ok, "unexpected mount {mp}");
        }
        let root = mount_at(&mounts, "/")?;
        ensure!(root.has_option("ro"), "root.readonly: {root:?}");
        ensure!(
            errno_of(fs::write("/new", "x")) == Some(libc::EROFS),
            "/ writable"
        );

        ensure!(mount_at(&mounts, "/proc")?.fstype == "proc", "proc");
        let dev = mount_at(&mounts, "/dev")?;
        ensure!(dev.fstype == "tmpfs" && dev.has_option("nosuid"), "{dev:?}");
        ensure!(
            dev.has_super_option("size=65536k") && dev.has_super_option("mode=755"),
            "{dev:?}"
        );
        let pts = mount_at(&mounts, "/dev/pts")?;
        ensure!(
            pts.fstype == "devpts" && pts.has_option("noexec"),
            "{pts:?}"
        );
        for o in ["ptmxmode=666", "mode=620", "gid=5"] {
            ensure!(pts.has_super_option(o), "devpts lacks {o}: {pts:?}");
        }
        let shm = mount_at(&mounts, "/dev/shm")?;
        ensure!(
            shm.has_option("nodev") && shm.has_super_option("size=65536k"),
            "{shm:?}"
        );
        let mode = fs::metadata("/dev/shm").unwrap().permissions().mode() & 0o7777;
        ensure!(mode == 0o1777, "/dev/shm mode {mode:o}");
        ensure!(
            mount_at(&mounts, "/dev/mqueue")?.fstype == "mqueue",
            "mqueue"
        );
        let sys = mount_at(&mounts, "/sys")?;
        ensure!(sys.fstype == "sysfs" && sys.has_option("ro"), "{sys:?}");
        let cg = mount_at(&mounts, "/sys/fs/cgroup")?;
        ensure!(cg.fstype == "tmpfs" && cg.has_option("ro"), "{cg:?}");
        let mem = mount_at(&mounts, "/sys/fs/cgroup/memory")?;
        ensure!(mem.fstype == "cgroup" && mem.has_option("ro"), "{mem:?}");
        ensure!(
            Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists(),
            "memory files"
        );

        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("tty", 5, 0),
        ] {
            let md = fs::symlink_metadata(format!("/dev/{name}")).map_err(|e| e.to_string())?;
            ensure!(
                md.file_type().is_char_device(),
                "/dev/{name} not a char device"
            );
            let rdev = md.rdev();
            ensure!(
                (libc::major(rdev), libc::minor(rdev)) == (major, minor),
                "/dev/{name} is {}:{}",
                libc::major(rdev),
                libc::minor(rdev)
            );
            ensure!(
                md.permissions().mode() & 0o7777 == 0o666,
                "/dev/{name} mode"
            );
        }
        ensure!(
            fs::write("/dev/null", "x").is_ok(),
            "/dev/null not writable (nodev?)"
        );
        let link = |p: &str| {
            fs::read_link(p)
                .map(|l| l.to_string_lossy().into_owned())
                .ok()
        };
        ensure!(link("/dev/ptmx").as_deref() == Some("pts/ptmx"), "ptmx");
        ensure!(link("/dev/fd").as_deref() == Some("/proc/self/fd"), "fd");
        ensure!(
            link("/dev/stderr").as_deref() == Some("/proc/self/fd/2"),
            "stderr"
        );
        ensure!(fs::read_dir("/dev/fd").is_ok(), "/dev/fd does not resolve");

        // maskedPaths: a file reads empty, a directory is an empty ro tmpfs.
        // (/proc/kcore is absent on this kernel; a missing path is skipped.)
        let keys = fs::read("/proc/timer_list").map_err(|e| format!("read timer_list: {e}"))?;
        ensure!(keys.is_empty(), "/proc/timer_list not masked");
        let acpi = mount_at(&mounts, "/proc/acpi")?;
        ensure!(acpi.fstype == "tmpfs" && acpi.has_option("ro"), "{acpi:?}");
        let fw = mount_at(&mounts, "/sys/firmware")?;
        ensure!(fw.fstype == "tmpfs" && fw.has_option("ro"), "{fw:?}");
        ensure!(
            fs::read_dir("/sys/firmware").unwrap().next().is_none(),
            "firmware listed"
        );
        // readonlyPaths.
        ensure!(
            mount_at(&mounts, "/proc/sys")?.has_option("ro"),
            "/proc/sys"
        );
        let w = fs::OpenOptions::new()
            .write(true)
            .open("/proc/sys/kernel/hostname");
        ensure!(errno_of(w) == Some(libc::EROFS), "/proc/sys writable");
        Ok(())
    });
}

#[test]
fn no_pivot_moves_the_root_and_hides_the_host() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let spec = spec(json!({"root": {"path": "rootfs", "readonly": false}}));
    in_child(&b.tmp, || {
        prepare_rootfs(&spec, &b.dir, &b.rootfs).map_err(|e| format!("prepare: {e}"))?;
        enter_rootfs(&b.rootfs, true).map_err(|e| format!("enter: {e}"))?;
        finish_rootfs(&spec).map_err(|e| format!("finish: {e}"))?;
        ensure!(
            fs::read_to_string("/etc/marker").ok().as_deref() == Some("container"),
            "marker"
        );
        ensure!(!Path::new("/host-secret").exists(), "host visible");
        let mounts = mountinfo().map_err(|e| e.to_string())?;
        let procs = mounts.iter().filter(|m| m.fstype == "proc");
        ensure!(
            procs.clone().all(|m| m.mount_point.starts_with("/proc")),
            "{mounts:#?}"
        );
        let at_proc = procs
            .filter(|m| m.mount_point == Path::new("/proc"))
            .count();
        ensure!(at_proc == 1, "{at_proc} proc mounts on /proc: {mounts:#?}");
        ensure!(
            fs::read("/proc/timer_list").is_ok_and(|k| k.is_empty()),
            "masked"
        );
        Ok(())
    });
}

#[test]
fn shared_rootfs_propagation_still_pivots() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let spec = spec(json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"rootfsPropagation": "rshared", "maskedPaths": [], "readonlyPaths": []},
    }));
    in_child(&b.tmp, || {
        full_setup(&b, &spec)?;
        let root = mount_at(&mountinfo().map_err(|e| e.to_string())?, "/")?;
        ensure!(root.optional.contains("shared:"), "/ not shared: {root:?}");
        Ok(())
    });
}

#[test]
fn user_namespace_binds_devices_and_sysfs() {
    if skip_unless_root() {
        return;
    }
    let b = bundle();
    let spec = spec(json!({
        "root": {"path": "rootfs", "readonly": false},
        "mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {"namespaces": [{"type": "user"}, {"type": "mount"}],
                  "maskedPaths": [], "readonlyPaths": []},
    }));
    in_child(&b.tmp, || {
        nix::sched::unshare(
            nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS,
        )
        .map_err(|e| format!("unshare user: {e}"))?;
        for (file, content) in [
            ("setgroups", "deny"),
            ("uid_map", "0 0 1"),
            ("gid_map", "0 0 1"),
        ] {
            fs::write(format!("/proc/self/{file}"), content).map_err(|e| format!("{file}: {e}"))?;
        }
        prepare_rootfs(&spec, &b.dir, &b.rootfs).map_err(|e| format!("prepare: {e}"))?;
        enter_rootfs(&b.rootfs, false).map_err(|e| format!("enter: {e}"))?;
        finish_rootfs(&spec).map_err(|e| format!("finish: {e}"))?;
        // No /proc here (a user namespace without its own pid namespace
        // may not mount one), so look with stat.
        let (null, dev) = (
            fs::metadata("/dev/null").unwrap(),
            fs::metadata("/dev").unwrap(),
        );
        ensure!(
            null.file_type().is_char_device() && null.rdev() == libc::makedev(1, 3),
            "null"
        );
        ensure!(
            null.dev() != dev.dev(),
            "/dev/null is not a bind mount of the host's"
        );
        ensure!(fs::write("/dev/null", "x").is_ok(), "/dev/null unusable");
        let sys = nix::sys::statfs::statfs("/sys").map_err(|e| e.to_string())?;
        ensure!(
            sys.filesystem_type() == nix::sys::statfs::SYSFS_MAGIC,
            "/sys is not sysfs"
        );
        let ro = nix::sys::statvfs::statvfs("/sys").map_err(|e| e.to_string())?;
        ensure!(
            ro.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
            "/sys not ro"
        );
        ensure!(Path::new("/sys/kernel").is_dir(), "sysfs content");
        // Only the rbind fallback brings the host's submounts along.
        ensure!(
            Path::new("/sys/fs/cgroup/memory").is_dir(),
            "sysfs was not rbound"
        );
        Ok(())
    });
}

#[test]
fn refuses_to_run_in_the_host_mount_namespace() {
    if skip_unless_root() {
        return;
    }
    // Only the check itself runs here: prepare_rootfs would touch the host.
    let same = fs::read_link("/proc/self/ns/mnt").ok() == fs::read_link("/proc/1/ns/mnt").ok();
    if same {
        let err = super::refuse_host_mount_namespace()
            .unwrap_err()
            .to_string();
        assert!(err.contains("mount namespace of its own"), "{err}");
    }
    let b = bundle();
    in_child(&b.tmp, || {
        super::refuse_host_mount_namespace().map_err(|e| e.to_string())
    });
}
