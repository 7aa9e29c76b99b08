//! Item 1: namespaces, seen from inside the container.

use super::*;

#[test]
fn pid_uts_and_network_namespaces_inside() {
    let Some(env) = TestEnv::new("iso_ns") else {
        return;
    };
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host_domain = fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let b = sh(
        &env,
        "echo pid=$$; hostname; cat /proc/sys/kernel/domainname; ip -o link",
    )
    .edit(|c| {
        c["hostname"] = json!("iso-box");
        c["domainname"] = json!("iso.example");
    });
    let out = run_ok(&env, "c", &b);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("pid=1"),
        "with a pid namespace the shell is PID 1:\n{out}"
    );
    assert_eq!(
        lines.get(1).copied(),
        Some("iso-box"),
        "`hostname` must print config.json's hostname:\n{out}"
    );
    assert_eq!(
        lines.get(2).copied(),
        Some("iso.example"),
        "/proc/sys/kernel/domainname must be config.json's domainname:\n{out}"
    );
    let links: Vec<&str> = lines[3.min(lines.len())..]
        .iter()
        .filter_map(|l| l.split(':').nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(links, ["lo"], "a new network namespace has only lo:\n{out}");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name,
        "the container changed the host's hostname"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        host_domain,
        "the container changed the host's domainname"
    );
}

/// runc's default config plus a user namespace mapping container ids
/// 0-65535 to host ids 100000-165535 (uids) and 200000-265535 (gids).
fn userns(env: &TestEnv, b: Bundle) -> Bundle {
    // Root inside is host uid 100000, which must reach the rootfs through
    // the (0700) temporary directory.
    fs::set_permissions(env.tmp(), fs::Permissions::from_mode(0o755)).unwrap();
    // As with any user-namespaced container, the rootfs belongs to the
    // mapped root, who creates the mount points in it.
    chown_tree(&b.rootfs, 100000, 200000);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "user" }));
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
    })
}

/// `chown -hR uid:gid dir`.
fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(dir).unwrap().is_dir() {
        for e in fs::read_dir(dir).unwrap().flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

/// The whitespace-normalised lines of `/proc/PID/FILE`.
fn id_map(pid: &str, file: &str) -> Vec<String> {
    fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_id() {
    let Some(env) = TestEnv::new("iso_userns") else {
        return;
    };
    let b = sh(
        &env,
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map",
    );
    let b = userns(&env, b);
    let out = run_ok(&env, "fg", &b);
    let lines: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        ["0", "0", "0 100000 65536", "0 200000 65536"],
        "inside the user namespace the process is root, mapped as configured:\n{out}"
    );

    // A running container, seen from the host.
    let b = userns(&env, native(&env, &["sleep", "30"]));
    let id = env.id("bg");
    let pid = env.create(&id, &b).pid();
    env.start(&id);
    assert_eq!(env.status(&id).as_deref(), Some("running"));
    let p = pid.to_string();
    assert_ne!(ns_link(0, "user"), ns_link(pid, "user"));
    assert_eq!(
        id_map(&p, "uid_map"),
        ["0 100000 65536"],
        "uid_map of {pid}"
    );
    assert_eq!(
        id_map(&p, "gid_map"),
        ["0 200000 65536"],
        "gid_map of {pid}"
    );
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    assert_eq!(
        uid.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["100000"; 4],
        "from the host, the container's root is uid 100000:\n{status}"
    );
    env.run(&["delete", "--force", id.as_str()]).assert_ok();
}

#[test]
fn a_namespace_joined_by_path_is_shared() {
    let Some(env) = TestEnv::new("iso_nsjoin") else {
        return;
    };
    let owner = native(&env, &["sleep", "30"]).edit(|c| c["hostname"] = json!("owner-host"));
    let id = env.id("owner");
    let owner_pid = env.create(&id, &owner).pid();

    let b = sh(
        &env,
        "hostname; readlink /proc/self/ns/uts; readlink /proc/self/ns/net; ip -o link | wc -l",
    )
    .edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
        c["linux"]["namespaces"] = json!([
            { "type": "pid" },
            { "type": "ipc" },
            { "type": "mount" },
            { "type": "uts", "path": format!("/proc/{owner_pid}/ns/uts") },
            { "type": "network", "path": format!("/proc/{owner_pid}/ns/net") },
        ]);
    });
    let out = run_ok(&env, "joiner", &b);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "owner-host",
            ns_link(owner_pid, "uts").as_str(),
            ns_link(owner_pid, "net").as_str(),
            "1",
        ],
        "a container joining another's uts and network namespaces sees its \
         hostname and namespaces (host's: {} {}):\n{out}",
        ns_link(0, "uts"),
        ns_link(0, "net"),
    );
}
