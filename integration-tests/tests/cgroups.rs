//! Issue 4, items 1-3 and the CPU limit: where a container's cgroup is
//! (default `/runwasm/ID`, absolute and relative `linux.cgroupsPath`, the
//! cgroup namespace), `linux.resources` as the cgroup v1 files show them,
//! invalid resources, `memory.limit` capping a Wasm module's linear memory,
//! and a CPU quota throttling a spinning module. Everything runs against
//! the host's real cgroups as root; the operations built on cgroups are in
//! `cgroups_ops.rs`.

#[path = "cgroups_common/mod.rs"]
mod cg;
mod common;

use std::time::{Duration, Instant};

use cg::*;
use common::*;
use serde_json::{json, Value};

const MIB: i64 = 1 << 20;

// ---------------------------------------------------------------------------
// 1. Placement
// ---------------------------------------------------------------------------

#[test]
fn default_cgroup_is_runwasm_id_and_holds_init_before_start() {
    let Some(env) = CgEnv::new("cg_default") else {
        return;
    };
    let id = env.id("a");
    let path = format!("/runwasm/{id}");
    let b = env.bundle("sleep").args(&["/app.wasm", "30"]);
    let c = env.create(&id, &b);
    let pid = c.pid();
    // Before start (no module code has run yet) init is already placed.
    for ctrl in ["memory", "cpu", "pids"] {
        let dir = cg_dir(ctrl, &path);
        assert!(
            dir.is_dir(),
            "after create, {} does not exist (cgroups of init: {:?})",
            dir.display(),
            proc_cgroups(pid)
        );
        let procs = cg_procs(ctrl, &path);
        assert!(
            procs.contains(&pid),
            "after create, init {pid} is not in {}/cgroup.procs ({procs:?})",
            dir.display()
        );
        assert_eq!(
            cgroup_of(pid, ctrl).as_deref(),
            Some(path.as_str()),
            "/proc/{pid}/cgroup of init does not name {path} for {ctrl}: {:?}",
            proc_cgroups(pid)
        );
    }
    assert_cgroup_everywhere(&path, "after create");

    env.start(&id);
    assert!(
        wait_file_contains(&c.stdout, "sleeping", Duration::from_secs(5)),
        "the module did not start: {:?} {:?}",
        c.stdout(),
        c.stderr()
    );
    for ctrl in ["memory", "cpu", "pids"] {
        assert!(
            cg_procs(ctrl, &path).contains(&pid),
            "while running, init {pid} is not in {ctrl}:{path} ({:?})",
            proc_cgroups(pid)
        );
    }
}

#[test]
fn absolute_cgroups_path_is_used_as_is() {
    let Some(env) = CgEnv::new("cg_abs") else {
        return;
    };
    env.cgroup("rwtest");
    let id = env.id("a");
    let path = format!("/rwtest/{id}");
    env.cgroup(&path);
    let b = with_cgroups_path(env.bundle("sleep").args(&["/app.wasm", "30"]), &path);
    let c = start_detached(&env, &id, &b, Some("sleeping"));
    let pid = c.pid();
    for ctrl in ["memory", "cpu", "pids"] {
        assert!(
            cg_procs(ctrl, &path).contains(&pid),
            "init {pid} is not in {}/cgroup.procs; its cgroups: {:?}",
            cg_dir(ctrl, &path).display(),
            proc_cgroups(pid)
        );
        assert_eq!(cgroup_of(pid, ctrl).as_deref(), Some(path.as_str()));
    }
    assert!(
        cgroup_dirs_left(&format!("runwasm/{id}")).is_empty(),
        "with cgroupsPath {path} the default /runwasm/{id} was made too"
    );
    env.run(&["delete", "--force", &id]).assert_ok();
    assert_cgroup_gone(&path, "delete --force of a container in /rwtest/ID");
}

/// runwasm places init in a v1 cgroup itself (not through libcgroups'
/// manager): a path whose parents do not exist yet is made in every
/// hierarchy, the new cpuset levels get their parent's cpus and mems (or no
/// task could join), init is in each, and the limits land in the same
/// directories.
#[test]
fn nested_new_cgroups_path_is_made_in_every_hierarchy() {
    let Some(env) = CgEnv::new("cg_nested") else {
        return;
    };
    let id = env.id("a");
    let top = format!("rwtest-{id}");
    let path = format!("/{top}/mid/{id}");
    env.cgroup(&top);
    env.cgroup(&format!("{top}/mid"));
    env.cgroup(&path);
    let b = with_resources(
        with_cgroups_path(env.bundle("sleep").args(&["/app.wasm", "30"]), &path),
        json!({ "pids": { "limit": 77 } }),
    );
    let c = start_detached(&env, &id, &b, Some("sleeping"));
    let pid = c.pid();
    assert_cgroup_everywhere(&path, "a new nested cgroupsPath");
    for ctrl in CONTROLLERS {
        if !cg_dir(ctrl, "").is_dir() {
            continue;
        }
        assert_eq!(
            cgroup_of(pid, ctrl).as_deref(),
            Some(path.as_str()),
            "init's {ctrl} cgroup; all: {:?}",
            proc_cgroups(pid)
        );
    }
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let root = read_cg("cpuset", "", file);
        assert!(!root.is_empty(), "the root cpuset has no {file}");
        for level in [top.clone(), format!("{top}/mid"), path.clone()] {
            assert_eq!(
                read_cg("cpuset", &level, file),
                root,
                "cpuset/{level}/{file}"
            );
        }
    }
    assert_eq!(read_cg("pids", &path, "pids.max"), "77");
    env.run(&["delete", "--force", &id]).assert_ok();
    assert_cgroup_gone(
        &path,
        "delete --force of a container in a nested cgroupsPath",
    );
}

#[test]
fn relative_cgroups_path_ends_the_init_cgroup_path() {
    let Some(env) = CgEnv::new("cg_rel") else {
        return;
    };
    let id = env.id("a");
    let rel = format!("rwtest-rel/{id}");
    env.cgroup("rwtest-rel");
    env.cgroup(&rel);
    let b = with_cgroups_path(env.bundle("sleep").args(&["/app.wasm", "30"]), &rel);
    let c = start_detached(&env, &id, &b, Some("sleeping"));
    let pid = c.pid();
    for ctrl in ["memory", "cpu", "pids"] {
        let got = cgroup_of(pid, ctrl).unwrap_or_default();
        // libcgroups decides what the path is relative to; register it for
        // cleanup before asserting.
        if let Some(parent) = got.strip_suffix(&format!("/{id}")) {
            env.cgroup(parent);
        }
        env.cgroup(&got);
        eprintln!("cg_rel: cgroupsPath {rel:?} placed init in {ctrl}:{got}");
        assert!(
            got.ends_with(&format!("/{rel}")),
            "init's {ctrl} cgroup {got:?} does not end with the relative cgroupsPath {rel:?}"
        );
        assert!(
            cg_procs(ctrl, &got).contains(&pid),
            "init {pid} is not in {}/cgroup.procs",
            cg_dir(ctrl, &got).display()
        );
    }
    let place = cgroup_of(pid, "memory").unwrap();
    env.run(&["delete", "--force", &id]).assert_ok();
    assert_cgroup_gone(
        &place,
        "delete --force of a container with a relative cgroupsPath",
    );
}

#[test]
fn cgroup_namespace_roots_the_container_at_its_cgroup() {
    let Some(env) = CgEnv::new("cg_ns") else {
        return;
    };
    let script = "cat /proc/self/cgroup; echo END; exec sleep 30";
    // runc's default config: with a cgroup namespace.
    let id = env.id("ns");
    let b = native_sh(&env, script);
    let c = start_detached(&env, &id, &b, Some("END"));
    let inside = c.stdout();
    let lines: Vec<&str> = inside.lines().take_while(|l| *l != "END").collect();
    assert!(!lines.is_empty(), "no /proc/self/cgroup output: {inside:?}");
    for l in &lines {
        assert!(
            l.ends_with(":/"),
            "with a cgroup namespace the container must see / in every line of \
             /proc/self/cgroup, got {l:?} in:\n{inside}"
        );
    }
    // From the host, the same process is in /runwasm/ID.
    let pid = c.pid();
    assert_eq!(
        cgroup_of(pid, "memory").as_deref(),
        Some(format!("/runwasm/{id}").as_str()),
        "host view of init's cgroups: {:?}",
        proc_cgroups(pid)
    );

    // Control: without the cgroup namespace the container sees the path.
    let id2 = env.id("nons");
    let b2 = native_sh(&env, script).edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup")
    });
    let c2 = start_detached(&env, &id2, &b2, Some("END"));
    let inside2 = c2.stdout();
    assert!(
        inside2
            .lines()
            .any(|l| l.ends_with(&format!(":memory:/runwasm/{id2}"))),
        "without a cgroup namespace /proc/self/cgroup should name /runwasm/{id2}:\n{inside2}"
    );
}

// ---------------------------------------------------------------------------
// 2. Resources
// ---------------------------------------------------------------------------

#[test]
fn resources_are_written_to_the_cgroup_files() {
    let Some(env) = CgEnv::new("cg_res") else {
        return;
    };
    let id = env.id("a");
    let path = format!("runwasm/{id}");
    let resources = json!({
        "memory": {
            "limit": 100 * MIB,
            "reservation": 50 * MIB,
            "swap": 200 * MIB,
            "swappiness": 30
        },
        "cpu": {
            "shares": 512,
            "quota": 50000,
            "period": 100000,
            "cpus": "0",
            "mems": "0"
        },
        "pids": { "limit": 64 }
    });
    let b = wasm(&env, "sleep", &["30"], resources);
    let c = start_detached(&env, &id, &b, Some("sleeping"));
    let checks: [(&str, &str, i64); 8] = [
        ("memory", "memory.limit_in_bytes", 100 * MIB),
        ("memory", "memory.soft_limit_in_bytes", 50 * MIB),
        ("memory", "memory.swappiness", 30),
        ("cpu", "cpu.shares", 512),
        ("cpu", "cpu.cfs_quota_us", 50000),
        ("cpu", "cpu.cfs_period_us", 100000),
        ("pids", "pids.max", 64),
        ("memory", "memory.memsw.limit_in_bytes", 200 * MIB),
    ];
    let mut wrong = Vec::new();
    for (ctrl, file, want) in checks {
        if file.contains("memsw") && !cg_dir(ctrl, &path).join(file).exists() {
            eprintln!(
                "cg_res: SKIPPED memory.swap: this kernel has no {file} (no swap accounting)"
            );
            continue;
        }
        let got = read_cg(ctrl, &path, file);
        if got != want.to_string() {
            wrong.push(format!("{ctrl}/{path}/{file}: {got} (want {want})"));
        }
    }
    for (file, want) in [("cpuset.cpus", "0"), ("cpuset.mems", "0")] {
        let got = read_cg("cpuset", &path, file);
        if got != want {
            wrong.push(format!("cpuset/{path}/{file}: {got:?} (want {want:?})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "linux.resources not applied:\n{}",
        wrong.join("\n")
    );
    // The module itself runs fine under them.
    assert!(c.stderr().trim().is_empty(), "stderr: {}", c.stderr());
}

#[test]
fn blkio_weight_is_written_when_the_kernel_has_it() {
    let Some(env) = CgEnv::new("cg_blkio") else {
        return;
    };
    let file = if kernel_has_cg_file("blkio", "blkio.weight") {
        "blkio.weight"
    } else if kernel_has_cg_file("blkio", "blkio.bfq.weight") {
        "blkio.bfq.weight"
    } else {
        eprintln!(
            "SKIPPED cg_blkio: this kernel's blkio controller has neither blkio.weight nor \
             blkio.bfq.weight (no CFQ/BFQ proportional weights)"
        );
        return;
    };
    let id = env.id("a");
    let b = wasm(
        &env,
        "sleep",
        &["30"],
        json!({ "blockIO": { "weight": 500 } }),
    );
    start_detached(&env, &id, &b, Some("sleeping"));
    // blkio.weight holds "500"; blkio.bfq.weight "default 500".
    let got = read_cg("blkio", &format!("runwasm/{id}"), file);
    assert!(
        got.lines()
            .next()
            .is_some_and(|l| l.split_whitespace().last() == Some("500")),
        "blkio/runwasm/{id}/{file} is {got:?}, want weight 500"
    );
}

#[test]
fn devices_rules_deny_what_they_do_not_allow() {
    let Some(env) = CgEnv::new("cg_dev") else {
        return;
    };
    // A device outside runc's default allow list that anyone may open
    // without a capability: /dev/fuse (c 10:229) when the host has it.
    let Ok(meta) = std::fs::metadata("/dev/fuse") else {
        eprintln!("SKIPPED cg_dev: the host has no /dev/fuse to probe the devices cgroup with");
        return;
    };
    let rdev = std::os::unix::fs::MetadataExt::rdev(&meta);
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    // runc's default config (devices: deny all) plus an allow rule for
    // /dev/null, and a /dev/fuse node that no rule allows. runc (and
    // libcgroups) always append their default allow list (null, zero, full,
    // random, urandom, tty, pts, tun) after the config's rules, so
    // /dev/zero stays readable; /dev/fuse, not in that list, must be denied
    // by the cgroup.
    let script = "cat /dev/null && echo null-ok; \
                  head -c1 /dev/zero >/dev/null && echo zero-ok; \
                  if (: < /dev/fuse) 2>/dev/null; then echo fuse-ok; else echo fuse-denied; fi; \
                  (: < /dev/fuse) 2>&1; true";
    let fuse = json!({"path": "/dev/fuse", "type": "c", "major": major, "minor": minor,
                      "fileMode": 438, "uid": 0, "gid": 0});
    let rules = |extra: Option<Value>| {
        let mut v = vec![
            json!({"allow": false, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}),
        ];
        v.extend(extra);
        Value::Array(v)
    };

    let denied = native_sh(&env, script).edit(|c| {
        c["linux"]["devices"] = json!([fuse]);
        c["linux"]["resources"]["devices"] = rules(None);
    });
    let id = env.id("deny");
    let out = env.run(&["run", "--bundle", path_str(&denied.dir), &id]);
    assert_eq!(out.code(), 0, "{out}");
    for want in ["null-ok", "zero-ok", "fuse-denied"] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "expected {want:?} from the container:\n{out}"
        );
    }
    assert!(
        out.stdout
            .to_lowercase()
            .contains("operation not permitted"),
        "opening a device the cgroup denies must fail with EPERM:\n{out}"
    );

    // Control: the same container with c MAJOR:MINOR allowed opens it.
    let allowed = native_sh(&env, script).edit(|c| {
        c["linux"]["devices"] = json!([fuse]);
        c["linux"]["resources"]["devices"] = rules(Some(
            json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "rw"}),
        ));
    });
    let id2 = env.id("allow");
    let out = env.run(&["run", "--bundle", path_str(&allowed.dir), &id2]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stdout.lines().any(|l| l == "fuse-ok"),
        "with an allow rule for c {major}:{minor} the container should open /dev/fuse:\n{out}"
    );

    // The cgroup file itself: no blanket rule, /dev/null allowed.
    let id3 = env.id("list");
    let b3 = native(&env, &["sleep", "30"]).edit(|c| {
        c["linux"]["resources"]["devices"] = rules(None);
    });
    start_detached(&env, &id3, &b3, None);
    let list = read_cg("devices", &format!("runwasm/{id3}"), "devices.list");
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        !lines.contains(&"a *:* rwm"),
        "devices.list still allows everything:\n{list}"
    );
    assert!(
        lines.contains(&"c 1:3 rwm"),
        "devices.list lacks /dev/null:\n{list}"
    );
    let fuse_rule = format!("c {major}:{minor} ");
    assert!(
        !lines.iter().any(|l| l.starts_with(&fuse_rule)),
        "devices.list allows /dev/fuse:\n{list}"
    );
}

#[test]
fn invalid_resources_fail_create_and_leave_nothing() {
    let Some(env) = CgEnv::new("cg_badres") else {
        return;
    };
    let cases = [
        ("shares", json!({ "cpu": { "shares": -1 } })),
        ("cpus", json!({ "cpu": { "cpus": "abc" } })),
    ];
    for (tag, resources) in cases {
        let id = env.id(tag);
        let b = wasm(&env, "hello", &[], resources.clone());
        let c = env.try_create(&id, &b);
        c.out.assert_failed_with(&["linux.resources"]);
        assert!(
            !c.pid_file.exists(),
            "a failed create wrote a pid file ({resources}):\n{}",
            c.out
        );
        env.assert_nothing_left(&id, &[]);
        let left = runwasm_processes_mentioning(&env.bin, &id);
        assert!(left.is_empty(), "processes left behind: {left:#?}");
        assert_cgroup_gone(
            &format!("runwasm/{id}"),
            &format!("create with linux.resources {resources}"),
        );
    }
}

// ---------------------------------------------------------------------------
// 3. The memory limit caps the module's linear memory
// ---------------------------------------------------------------------------

#[test]
fn memory_limit_makes_malloc_fail_cleanly() {
    let Some(env) = CgEnv::new("cg_memhog") else {
        return;
    };
    let id = env.id("limited");
    let b = wasm(
        &env,
        "memhog",
        &["256"],
        json!({ "memory": { "limit": 64 * MIB } }),
    );
    let out = env.run(&["run", "--bundle", path_str(&b.dir), &id]);
    assert_ne!(
        out.code(),
        137,
        "the container was SIGKILLed (OOM) instead of malloc failing:\n{out}"
    );
    assert_eq!(
        out.code(),
        12,
        "under a 64 MiB limit the module must see malloc fail and exit 12:\n{out}"
    );
    let n: i64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("malloc failed after "))
        .and_then(|r| r.strip_suffix(" MiB"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no \"malloc failed after N MiB\" line:\n{out}"));
    eprintln!("cg_memhog: under 64 MiB malloc failed after {n} MiB");
    assert!(
        (40..=48).contains(&n),
        "64 MiB leaves (64 - 16) MiB = 768 pages of linear memory, so malloc should fail \
         after 40..=48 MiB, not {n}:\n{out}"
    );

    let id = env.id("unlimited");
    let b = wasm(&env, "memhog", &["256"], Value::Null);
    let out = env.run(&["run", "--bundle", path_str(&b.dir), &id]);
    assert_eq!(
        out.code(),
        0,
        "without a limit the module gets 256 MiB:\n{out}"
    );
    assert!(
        out.stdout.contains("allocated 256 MiB"),
        "without a limit the module gets 256 MiB:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// CPU quota
// ---------------------------------------------------------------------------

/// `(nr_periods, nr_throttled, throttled_time)` from `cpu.stat`.
fn cpu_stat(path: &str) -> (i64, i64, i64) {
    let s = read_cg("cpu", path, "cpu.stat");
    let get = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("cpu.stat of {path} has no {k}: {s:?}"))
    };
    (
        get("nr_periods"),
        get("nr_throttled"),
        get("throttled_time"),
    )
}

#[test]
fn cpu_quota_throttles_a_spinning_module() {
    let Some(env) = CgEnv::new("cg_cpu") else {
        return;
    };
    let id = env.id("a");
    let path = format!("runwasm/{id}");
    let b = wasm(
        &env,
        "cpuspin",
        &["1500"],
        json!({ "cpu": { "quota": 20000, "period": 100000 } }),
    );
    let c = start_detached(&env, &id, &b, Some("spinning"));
    assert_eq!(read_cg_i64("cpu", &path, "cpu.cfs_quota_us"), 20000);
    assert_eq!(read_cg_i64("cpu", &path, "cpu.cfs_period_us"), 100000);
    let t0 = Instant::now();
    let u0 = read_cg_i64("cpuacct", &path, "cpuacct.usage");
    // Read the stats while the module still spins.
    std::thread::sleep(Duration::from_millis(1000));
    let running = !c.stdout().contains("spun");
    let (periods, throttled, throttled_time) = cpu_stat(&path);
    let u1 = read_cg_i64("cpuacct", &path, "cpuacct.usage");
    let wall = t0.elapsed();
    eprintln!(
        "cg_cpu: after {wall:?}: nr_periods {periods} nr_throttled {throttled} \
         throttled_time {throttled_time} ns, cpu used {} ms (running: {running})",
        (u1 - u0) / 1_000_000
    );
    assert!(
        running,
        "the module finished its 1.5 s spin within 1 s: {:?}",
        c.stdout()
    );
    assert!(
        throttled > 0 && throttled_time > 0,
        "a module spinning under quota 20000/100000 was never throttled: nr_periods \
         {periods}, nr_throttled {throttled}, throttled_time {throttled_time}"
    );
    let share = (u1 - u0) as f64 / wall.as_nanos() as f64;
    assert!(
        share < 0.5,
        "under a 20% quota the module used {:.0}% of a CPU",
        share * 100.0
    );
    // It still finishes its spin (throttled, not killed).
    assert!(
        env.wait_status(&id, "stopped", Duration::from_secs(10)),
        "the module did not finish; stdout {:?} stderr {:?}",
        c.stdout(),
        c.stderr()
    );
    assert!(c.stdout().contains("spun"), "stdout {:?}", c.stdout());
}
