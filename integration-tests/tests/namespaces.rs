//! `linux.namespaces`, observed from inside the container (a native busybox
//! rootfs) and from the host (`/proc/PID/ns/*` of init): new namespaces by
//! clone, joined ones by `path`, user namespaces with their id maps, and the
//! configuration errors.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use serde_json::json;

const SEC: Duration = Duration::from_secs(1);

/// `/proc` link names by `linux.namespaces` type.
const NS_FILES: [(&str, &str); 6] = [
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
];

/// `run --bundle B ID`.
fn run(env: &TestEnv, id: &str, b: &Bundle) -> Output {
    env.run(&["run", "--bundle", path_str(&b.dir), id])
}

/// Creates (not starts) a native container sleeping in `namespaces`;
/// returns its init pid, which is already in them.
fn created_in(env: &TestEnv, tag: &str, namespaces: &[&str]) -> i32 {
    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .namespaces(namespaces);
    let id = env.id(tag);
    env.create(&id, &b).pid()
}

#[test]
fn new_namespaces_differ_from_the_hosts() {
    let Some(env) = TestEnv::new("ns_new") else {
        return;
    };
    let all: Vec<&str> = NS_FILES.iter().map(|(t, _)| *t).collect();
    let pid = created_in(&env, "all", &all);
    for (t, f) in NS_FILES {
        let (host, init) = (ns_link(0, f), ns_link(pid, f));
        assert_ne!(
            host, init,
            "with a new {t} namespace, init's /proc/{pid}/ns/{f} must differ from the host's"
        );
    }
    // Control: without linux.namespaces init shares every namespace.
    let pid = created_in(&env, "none", &[]);
    for (t, f) in NS_FILES {
        assert_eq!(
            ns_link(0, f),
            ns_link(pid, f),
            "without a {t} namespace init must share the host's"
        );
    }
    // One at a time: only the asked-for namespace is new.
    for (t, f) in NS_FILES {
        let pid = created_in(&env, &format!("only-{t}"), &[t]);
        for (t2, f2) in NS_FILES {
            let same = ns_link(0, f2) == ns_link(pid, f2);
            assert_eq!(
                same,
                t2 != t,
                "with only a new {t} namespace ({f}), the {t2} namespace ({f2}) must be {}",
                if t2 == t { "new" } else { "the host's" }
            );
        }
    }
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    let Some(env) = TestEnv::new("ns_pid") else {
        return;
    };
    let b = env
        .native_bundle(&["/bin/busybox", "sh", "-c", "echo $$"])
        .namespaces(&["pid"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.stdout, "1\n",
        "in a new pid namespace the process is PID 1:\n{out}"
    );
    // Control: without one it is not.
    let b = env.native_bundle(&["/bin/busybox", "sh", "-c", "echo $$"]);
    let id = env.id("host");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_ne!(out.stdout.trim(), "1", "{out}");
}

#[test]
fn uts_namespace_keeps_the_hostname_private() {
    let Some(env) = TestEnv::new("ns_uts") else {
        return;
    };
    let pid = created_in(&env, "created", &["uts"]);
    assert_ne!(
        ns_link(0, "uts"),
        ns_link(pid, "uts"),
        "init must have a uts namespace of its own"
    );
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let b = env
        .native_bundle(&[
            "/bin/busybox",
            "sh",
            "-c",
            "/bin/busybox hostname runwasm-uts-test && /bin/busybox hostname",
        ])
        .namespaces(&["uts"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    let now = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    if now != host_name {
        // Undo the damage before failing.
        let name = host_name.trim();
        // SAFETY: sethostname with a buffer and its length.
        unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    }
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "runwasm-uts-test\n", "{out}");
    assert_eq!(
        now, host_name,
        "`hostname` inside a uts namespace changed the host's hostname"
    );
}

#[test]
fn network_namespace_has_only_loopback() {
    let Some(env) = TestEnv::new("ns_net") else {
        return;
    };
    let b = env
        .native_bundle(&["/bin/busybox", "ip", "-o", "link"])
        .namespaces(&["network"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(
        names,
        ["lo"],
        "a new network namespace holds only lo:\n{out}"
    );
}

#[test]
fn ipc_namespace_is_new() {
    let Some(env) = TestEnv::new("ns_ipc") else {
        return;
    };
    let pid = created_in(&env, "c", &["ipc"]);
    assert_ne!(ns_link(0, "ipc"), ns_link(pid, "ipc"));
    assert_eq!(ns_link(0, "net"), ns_link(pid, "net"));
}

/// The id maps of a user namespace, as `/proc/PID/{uid,gid}_map` shows them
/// (whitespace-normalised lines).
fn id_map(pid: i32, file: &str) -> Vec<String> {
    fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn userns_bundle(env: &TestEnv, args: &[&str]) -> Bundle {
    // Root inside maps to an unprivileged host uid, which must be able to
    // reach the rootfs: open up the (0700) temporary directory.
    fs::set_permissions(env.tmp(), fs::Permissions::from_mode(0o755)).unwrap();
    env.native_bundle(args).edit(|c| {
        c["linux"]["namespaces"] = json!([{ "type": "user" }]);
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 200000, "size": 1000 }]);
    })
}

#[test]
fn user_namespace_with_id_maps() {
    let Some(env) = TestEnv::new("ns_user") else {
        return;
    };
    let b = userns_bundle(&env, &["/bin/busybox", "sleep", "30"]);
    let id = env.id("created");
    let pid = env.create(&id, &b).pid();
    assert_ne!(ns_link(0, "user"), ns_link(pid, "user"));
    assert_eq!(
        id_map(pid, "uid_map"),
        ["0 100000 65536"],
        "uid_map of {pid}"
    );
    assert_eq!(
        id_map(pid, "gid_map"),
        ["0 200000 1000"],
        "gid_map of {pid}"
    );
    // Seen from the host, init runs as the mapped ids.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ids = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(ids("Uid:"), ["100000"; 4], "{status}");
    assert_eq!(ids("Gid:"), ["200000"; 4], "{status}");

    let b = userns_bundle(&env, &["/bin/busybox", "sh", "-c", "id -u; id -g"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.stdout, "0\n0\n",
        "inside the user namespace the process is root:\n{out}"
    );
    assert!(!env.state_dir(&id).exists(), "run left ROOT/ID:\n{out}");
    let created = env.id("created");
    env.run(&["delete", "--force", created.as_str()])
        .assert_ok();
    assert!(wait_pid_exit(pid, SEC), "delete --force left init {pid}");
    env.assert_nothing_left(&id, &[]);
    env.assert_root_has_no_containers();
}

#[test]
fn a_namespace_path_is_joined() {
    let Some(env) = TestEnv::new("ns_join") else {
        return;
    };
    let first = created_in(&env, "first", &["network", "ipc"]);
    let net = format!("/proc/{first}/ns/net");
    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .edit(|c| {
            c["linux"]["namespaces"] = json!([
                { "type": "network", "path": net },
                { "type": "uts" }
            ]);
        });
    let id = env.id("second");
    let second = env.create(&id, &b).pid();
    assert_eq!(
        ns_link(second, "net"),
        ns_link(first, "net"),
        "the second container must join the first's network namespace ({net})"
    );
    assert_ne!(ns_link(second, "net"), ns_link(0, "net"));
    // Only the joined one is shared: ipc is the host's, uts new.
    assert_eq!(ns_link(second, "ipc"), ns_link(0, "ipc"));
    assert_ne!(ns_link(second, "ipc"), ns_link(first, "ipc"));
    assert_ne!(ns_link(second, "uts"), ns_link(0, "uts"));

    // A joined pid namespace: the process is not PID 1 there (the first
    // container's init is).
    let pidns_owner = created_in(&env, "pidns", &["pid"]);
    let pidpath = format!("/proc/{pidns_owner}/ns/pid");
    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .edit(|c| c["linux"]["namespaces"] = json!([{ "type": "pid", "path": pidpath }]));
    let id = env.id("joins-pid");
    let joined = env.create(&id, &b).pid();
    assert_eq!(ns_link(joined, "pid"), ns_link(pidns_owner, "pid"));
    let nspids = ns_pids(joined);
    assert!(
        nspids.len() == 2 && nspids[1] != 1,
        "init joined an existing pid namespace: NSpid {nspids:?}"
    );
}

/// `create` must fail naming `needles`, and leave no state dir or process.
fn create_fails(env: &TestEnv, tag: &str, b: &Bundle, needles: &[&str]) {
    let id = env.id(tag);
    let c = env.try_create(&id, b);
    c.out.assert_failed_with(needles);
    assert!(
        !c.pid_file.exists(),
        "a failed create wrote a pid file:\n{}",
        c.out
    );
    env.assert_nothing_left(&id, &[]);
}

#[test]
fn namespace_configuration_errors() {
    let Some(env) = TestEnv::new("ns_errors") else {
        return;
    };
    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .namespaces(&["pid", "pid"]);
    create_fails(&env, "dup", &b, &["linux.namespaces[1]"]);

    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .namespaces(&["network", "uts", "network"]);
    create_fails(&env, "dup2", &b, &["linux.namespaces[2]"]);

    let missing = env.tmp().join("no-such-ns");
    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .edit(|c| {
            c["linux"]["namespaces"] = json!([{ "type": "network", "path": path_str(&missing) }]);
        });
    create_fails(&env, "nopath", &b, &[path_str(&missing)]);

    // A path that exists but is no namespace: init's setns fails.
    let not_ns = env.tmp().join("not-a-namespace");
    fs::write(&not_ns, "x").unwrap();
    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .edit(|c| {
            c["linux"]["namespaces"] = json!([{ "type": "network", "path": path_str(&not_ns) }]);
        });
    create_fails(&env, "notns", &b, &[path_str(&not_ns)]);

    let b = env
        .native_bundle(&["/bin/busybox", "sleep", "30"])
        .namespaces(&["user"]);
    create_fails(&env, "nomaps", &b, &["uidMappings"]);

    // Wasm containers get the same checks.
    let b = env.bundle("hello").namespaces(&["ipc", "ipc"]);
    create_fails(&env, "wasm-dup", &b, &["linux.namespaces[1]"]);
    env.assert_root_has_no_containers();
    assert!(wait_until(SEC, || env.processes_using_tmp().is_empty()));
}
