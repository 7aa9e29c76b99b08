//! Item 5: masked and read-only paths, sysctl, rlimits, user, capabilities,
//! noNewPrivileges, seccomp, oomScoreAdj.

use super::*;

/// Sizes of masked files, entries of a masked directory, and a write to
/// `/proc/sys` (per uts namespace, so harmless to the host).
const PROBE_PROC: &str = "echo timer_list=$(cat /proc/timer_list | wc -c); \
     echo keys=$(cat /proc/keys | wc -c); \
     echo firmware=$(ls /sys/firmware | wc -l); \
     echo probe > /proc/sys/kernel/domainname && echo WROTE-PROC-SYS; \
     echo domain=$(cat /proc/sys/kernel/domainname)";

/// The value of `key=` in the output.
fn value<'a>(out: &'a Output, key: &str) -> &'a str {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= line:\n{out}"))
}

#[test]
fn masked_and_readonly_paths() {
    let Some(env) = TestEnv::new("iso_masked") else {
        return;
    };
    let out = run_ok(&env, "default", &sh(&env, PROBE_PROC));
    for key in ["timer_list", "keys", "firmware"] {
        assert_eq!(
            value(&out, key),
            "0",
            "{key} is in maskedPaths: it must read as empty:\n{out}"
        );
    }
    assert!(
        !out.stdout.contains("WROTE-PROC-SYS") && out.stderr.contains("Read-only file system"),
        "/proc/sys is in readonlyPaths: writing to it must fail with EROFS:\n{out}"
    );
    assert_ne!(value(&out, "domain"), "probe", "{out}");

    // Control: without maskedPaths/readonlyPaths the same files have content
    // and /proc/sys is writable.
    let b = sh(&env, PROBE_PROC).edit(|c| {
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
    let out = run_ok(&env, "unmasked", &b);
    for key in ["timer_list", "keys", "firmware"] {
        assert_ne!(value(&out, key), "0", "control: {key} unmasked:\n{out}");
    }
    assert_eq!(value(&out, "domain"), "probe", "control:\n{out}");
}

#[test]
fn sysctl_is_set_in_the_containers_namespaces() {
    let Some(env) = TestEnv::new("iso_sysctl") else {
        return;
    };
    let host_shmmax = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let b = sh(
        &env,
        "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward",
    )
    .edit(|c| {
        c["linux"]["sysctl"] = json!({
            "kernel.shmmax": "65536",
            "net.ipv4.ip_forward": "1",
        });
    });
    let out = run_ok(&env, "c", &b);
    assert_eq!(
        out.stdout, "65536\n1\n",
        "linux.sysctl values inside:\n{out}"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shmmax,
        "the host's kernel.shmmax changed"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd,
        "the host's net.ipv4.ip_forward changed"
    );
}

#[test]
fn rlimits_are_applied() {
    let Some(env) = TestEnv::new("iso_rlimit") else {
        return;
    };
    let b = sh(&env, "ulimit -n; ulimit -Hn; ulimit -Ss; ulimit -Hs").edit(|c| {
        c["process"]["rlimits"] = json!([
            { "type": "RLIMIT_NOFILE", "soft": 512, "hard": 900 },
            { "type": "RLIMIT_STACK", "soft": 4096 * 1024, "hard": 6144 * 1024 },
        ]);
    });
    let out = run_ok(&env, "c", &b);
    assert_eq!(
        out.stdout, "512\n900\n4096\n6144\n",
        "ulimit -n/-Hn/-Ss/-Hs must show the configured soft and hard limits:\n{out}"
    );
}

#[test]
fn an_rlimit_above_the_hard_limit_fails_create_naming_it() {
    let Some(env) = TestEnv::new("iso_rlimit_high") else {
        return;
    };
    let b = native(&env, &["sleep", "30"]).edit(|c| {
        c["process"]["rlimits"] =
            json!([{ "type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576 }]);
    });
    create_fails(&env, "c", &b, &["RLIMIT_NOFILE", "1048576"]);
    env.assert_root_has_no_containers();
}

#[test]
fn user_groups_and_umask() {
    let Some(env) = TestEnv::new("iso_user") else {
        return;
    };
    let b = sh(
        &env,
        "grep -E '^(Uid|Gid|Groups):' /proc/self/status; umask; \
         touch /tmp/f && stat -c '%a %u:%g' /tmp/f",
    )
    .edit(|c| {
        c["process"]["user"] = json!({
            "uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 0o077,
        });
        c["mounts"].as_array_mut().unwrap().push(tmp_tmpfs());
    });
    let out = run_ok(&env, "c", &b);
    let lines: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "Uid: 1000 1000 1000 1000",
            "Gid: 1000 1000 1000 1000",
            "Groups: 5",
            "0077",
            "600 1000:1000",
        ],
        "process.user: uid, gid, additionalGids and umask:\n{out}"
    );
}

/// The five `Cap*:` lines of the container's `/proc/self/status` for
/// `caps` (bounding, effective, inheritable, permitted, ambient) and `user`.
fn cap_lines(env: &TestEnv, tag: &str, user: Value, caps: [&[&str]; 5]) -> Vec<String> {
    let b = sh(env, "grep ^Cap /proc/self/status").edit(|c| set_user_caps(c, user, caps));
    status_cap_lines(&run_ok(env, tag, &b).stdout)
}

/// Sets `process.user` and the five capability sets (bounding, effective,
/// inheritable, permitted, ambient).
fn set_user_caps(c: &mut Value, user: Value, caps: [&[&str]; 5]) {
    c["process"]["user"] = user;
    c["process"]["capabilities"] = json!({
        "bounding": caps[0],
        "effective": caps[1],
        "inheritable": caps[2],
        "permitted": caps[3],
        "ambient": caps[4],
    });
}

/// The `Cap*:` lines of a `/proc/PID/status` text, spaces normalized.
fn status_cap_lines(status: &str) -> Vec<String> {
    status
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// uid 1000 with five different sets, and what an exec makes of them:
/// only the ambient set stays permitted and effective; inheritable and
/// bounding stay as configured.
const USER_CAPS: [&[&str]; 5] = [
    &[
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
    ],
    &["CAP_KILL", "CAP_NET_BIND_SERVICE"],
    &["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
    &["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
    &["CAP_NET_BIND_SERVICE"],
];
const USER_CAP_LINES: [&str; 5] = [
    "CapInh: 0000000000002400",
    "CapPrm: 0000000000000400",
    "CapEff: 0000000000000400",
    "CapBnd: 0000000000002421",
    "CapAmb: 0000000000000400",
];

#[test]
fn capability_sets_are_applied() {
    let Some(env) = TestEnv::new("iso_caps") else {
        return;
    };
    // As root, exec gives permitted = effective = bounding | inheritable.
    // CHOWN = bit 0, KILL = 5, NET_BIND_SERVICE = 10, NET_RAW = 13.
    let three = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let got = cap_lines(
        &env,
        "root",
        json!({ "uid": 0, "gid": 0 }),
        [&three, &three, &["CAP_KILL"], &three, &["CAP_KILL"]],
    );
    assert_eq!(
        got,
        [
            "CapInh: 0000000000000020",
            "CapPrm: 0000000000000421",
            "CapEff: 0000000000000421",
            "CapBnd: 0000000000000421",
            "CapAmb: 0000000000000020",
        ],
        "root with bounding/effective/permitted {three:?}, inheritable and ambient [CAP_KILL]"
    );
    // As uid 1000, exec keeps only the ambient set in permitted/effective;
    // inheritable and bounding stay as configured.
    let got = cap_lines(&env, "user", json!({ "uid": 1000, "gid": 1000 }), USER_CAPS);
    assert_eq!(got, USER_CAP_LINES, "uid 1000 with five different sets");
}

/// The `Cap*:` lines of a running Wasm container's init (it runs the
/// module itself, with no `execve`) for `caps` and `user`.
fn wasm_cap_lines(env: &TestEnv, tag: &str, user: Value, caps: [&[&str]; 5]) -> Vec<String> {
    let b = wasm(env, "sleep", &["30"]).edit(|c| set_user_caps(c, user, caps));
    let id = env.id(tag);
    let created = env.create(&id, &b);
    env.start(&id);
    let pid = read_pid_file(&created.pid_file);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let _ = env.rw(&["delete", "--force", id.as_str()]).try_run();
    status_cap_lines(&status)
}

/// A Wasm module gets the capabilities a native program would have after
/// its `execve`, though none happens: as root permitted = effective =
/// bounding | inheritable; as another user only the ambient set.
#[test]
fn a_wasm_module_gets_the_capabilities_of_an_exec() {
    let Some(env) = TestEnv::new("iso_wasmcaps") else {
        return;
    };
    let three = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let got = wasm_cap_lines(
        &env,
        "root",
        json!({ "uid": 0, "gid": 0 }),
        [&three, &["CAP_CHOWN"], &["CAP_KILL"], &three, &["CAP_KILL"]],
    );
    assert_eq!(
        got,
        [
            "CapInh: 0000000000000020",
            "CapPrm: 0000000000000421",
            "CapEff: 0000000000000421",
            "CapBnd: 0000000000000421",
            "CapAmb: 0000000000000020",
        ],
        "root, effective [CAP_CHOWN] only: exec would make it the whole bounding set"
    );
    let got = wasm_cap_lines(&env, "user", json!({ "uid": 1000, "gid": 1000 }), USER_CAPS);
    assert_eq!(
        got, USER_CAP_LINES,
        "uid 1000: CAP_KILL is effective and permitted in config.json, but an exec would drop it"
    );
    // runc's default spec lists ambient capabilities without inheritable
    // ones: none can be raised, so a non-root module keeps none.
    let defaults = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let got = wasm_cap_lines(
        &env,
        "defaults",
        json!({ "uid": 1000, "gid": 1000 }),
        [&defaults, &defaults, &[], &defaults, &defaults],
    );
    assert_eq!(
        got[1..3],
        ["CapPrm: 0000000000000000", "CapEff: 0000000000000000"],
        "{got:?}"
    );
}

#[test]
fn no_new_privileges() {
    let Some(env) = TestEnv::new("iso_nnp") else {
        return;
    };
    let out = run_ok(&env, "on", &sh(&env, "grep ^NoNewPrivs /proc/self/status"));
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"],
        "{out}"
    );
    let b = sh(&env, "grep ^NoNewPrivs /proc/self/status")
        .edit(|c| c["process"]["noNewPrivileges"] = json!(false));
    let out = run_ok(&env, "off", &b);
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "0"],
        "{out}"
    );
}

/// A container running `mkdir /tmp/x` (on a tmpfs) under a seccomp profile
/// that fails mkdir/mkdirat with `errno`, or under none.
fn mkdir_under_seccomp(env: &TestEnv, tag: &str, errno: Option<u32>, nnp: bool) -> Output {
    let b = sh(env, "mkdir /tmp/x && echo MADE").edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(tmp_tmpfs());
        c["process"]["noNewPrivileges"] = json!(nnp);
        if let Some(errno) = errno {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{
                    "names": ["mkdir", "mkdirat"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": errno,
                }],
            });
        }
    });
    run(env, tag, &b)
}

#[test]
fn seccomp_denies_with_the_configured_errno() {
    let Some(env) = TestEnv::new("iso_seccomp") else {
        return;
    };
    let out = mkdir_under_seccomp(&env, "none", None, true);
    assert_eq!(
        out.code(),
        0,
        "control: mkdir works without seccomp:\n{out}"
    );
    assert_eq!(out.stdout, "MADE\n", "{out}");

    for (tag, errno, msg, nnp) in [
        ("enosys", 38, "Function not implemented", true),
        ("eperm", 1, "Operation not permitted", true),
        ("eperm-nnp-off", 1, "Operation not permitted", false),
    ] {
        let out = mkdir_under_seccomp(&env, tag, Some(errno), nnp);
        assert_ne!(out.code(), 0, "{tag}: mkdir must fail:\n{out}");
        assert!(
            !out.stdout.contains("MADE") && out.stderr.contains(msg),
            "{tag}: seccomp must fail mkdir with errno {errno} ({msg}):\n{out}"
        );
    }
}

#[test]
fn oom_score_adj() {
    let Some(env) = TestEnv::new("iso_oom") else {
        return;
    };
    let b = native(&env, &["cat", "/proc/self/oom_score_adj"])
        .edit(|c| c["process"]["oomScoreAdj"] = json!(500));
    let out = run_ok(&env, "c", &b);
    assert_eq!(out.stdout, "500\n", "{out}");
}
