//! Items 8 and 9: native processes found through the container's PATH, and
//! what `features` reports.

use super::*;

#[test]
fn a_bare_name_is_resolved_through_the_containers_path() {
    let Some(env) = TestEnv::new("iso_path") else {
        return;
    };
    let out = run_ok(&env, "echo", &native(&env, &["echo", "hi"]));
    assert_eq!(out.stdout, "hi\n", "{out}");

    // A directory only the container has, first in its PATH.
    let b = native(&env, &["hostname"]).edit(|c| {
        c["hostname"] = json!("path-box");
        c["process"]["env"] = json!(["PATH=/opt/tools:/nowhere"]);
    });
    fs::create_dir_all(b.rootfs.join("opt/tools")).unwrap();
    std::os::unix::fs::symlink("/bin/busybox", b.rootfs.join("opt/tools/hostname")).unwrap();
    let out = run_ok(&env, "optpath", &b);
    assert_eq!(out.stdout, "path-box\n", "{out}");

    // The exit status of a native process is run's.
    let out = run(&env, "exit7", &sh(&env, "exit 7"));
    assert_eq!(out.code(), 7, "{out}");
}

#[test]
fn a_missing_or_non_executable_program_fails_create() {
    let Some(env) = TestEnv::new("iso_exec_err") else {
        return;
    };
    let b = native(&env, &["no-such-program", "x"]);
    create_fails(
        &env,
        "missing",
        &b,
        &["no-such-program", "executable file not found in $PATH"],
    );

    // The host has bash; the container's PATH does not.
    assert!(Path::new("/bin/bash").exists() || Path::new("/usr/bin/bash").exists());
    let b = native(&env, &["bash", "-c", "echo from the host"]);
    create_fails(
        &env,
        "hostonly",
        &b,
        &["bash", "executable file not found in $PATH"],
    );

    let b = native(&env, &["/bin/notexec"]).file("/bin/notexec", b"#!/bin/sh\necho hi\n");
    fs::set_permissions(
        b.rootfs.join("bin/notexec"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    create_fails(&env, "noexec", &b, &["/bin/notexec", "permission denied"]);

    // The same through `run`.
    let b = native(&env, &["no-such-program"]);
    let id = env.id("run-missing");
    let out = env.run(&["run", "--bundle", path_str(&b.dir), id.as_str()]);
    out.assert_failed_with(&["executable file not found in $PATH"]);
    env.assert_nothing_left(&id, &[]);
    env.assert_root_has_no_containers();
}

#[test]
fn features_reports_isolation_support() {
    let Some(env) = TestEnv::new("iso_features") else {
        return;
    };
    let out = env.run(&["features"]);
    out.assert_ok();
    let f: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features did not print JSON ({e}):\n{out}"));
    let strings = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not an array: {v}\n{out}"))
            .iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    };
    let ns = strings(&f["linux"]["namespaces"]);
    for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.contains(n), "linux.namespaces lacks {n}: {ns:?}");
    }
    let hooks = strings(&f["hooks"]);
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(h), "hooks lacks {h}: {hooks:?}");
    }
    assert_eq!(f["linux"]["seccomp"]["enabled"], json!(true), "{out}");
    let actions = strings(&f["linux"]["seccomp"]["actions"]);
    for a in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
    ] {
        assert!(
            actions.contains(a),
            "seccomp.actions lacks {a}: {actions:?}"
        );
    }
    let archs = strings(&f["linux"]["seccomp"]["archs"]);
    assert!(archs.contains("SCMP_ARCH_X86_64"), "{archs:?}");
    let opts = strings(&f["mountOptions"]);
    for o in [
        "rbind", "bind", "ro", "rw", "nosuid", "nodev", "noexec", "relatime", "rslave", "rprivate",
    ] {
        assert!(opts.contains(o), "mountOptions lacks {o}: {opts:?}");
    }
    let caps = strings(&f["linux"]["capabilities"]);
    for c in [
        "CAP_SYS_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_KILL",
        "CAP_CHOWN",
    ] {
        assert!(caps.contains(c), "linux.capabilities lacks {c}: {caps:?}");
    }
}
