//! Issue 4, items 4-5: the operations built on a container's cgroup —
//! `ps`, `pause`/`resume`, `update`, `events`, `kill --all` — and the
//! cleanup of the cgroup by `delete` (also of running and paused
//! containers, and over 200 `run` cycles). Asserted through the cgroup v1
//! files, `state` and the commands' output, as root on the host's real
//! cgroups.

#[path = "cgroups_common/mod.rs"]
mod cg;
mod common;

use std::time::{Duration, Instant};

use cg::*;
use common::*;
use serde_json::{json, Value};

const MIB: i64 = 1 << 20;
const SEC: Duration = Duration::from_secs(1);

/// `cpuacct.usage` (ns) of the cgroup `path`.
fn cpu_usage(path: &str) -> i64 {
    read_cg_i64("cpuacct", path, "cpuacct.usage")
}

/// How much `cpuacct.usage` grows over `d`.
fn usage_growth(path: &str, d: Duration) -> i64 {
    let a = cpu_usage(path);
    std::thread::sleep(d);
    cpu_usage(path) - a
}

// ---------------------------------------------------------------------------
// ps
// ---------------------------------------------------------------------------

#[test]
fn ps_lists_the_init_pid() {
    let Some(env) = CgEnv::new("cg_ps") else {
        return;
    };
    let id = env.id("a");
    let b = env.bundle("sleep").args(&["/app.wasm", "30"]);
    let pid = start_detached(&env, &id, &b, Some("sleeping")).pid();

    let out = env.run(&["ps", "--format", "json", &id]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("ps --format json must print only a JSON array ({e}):\n{out}"));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("ps --format json printed {v}, not an array:\n{out}"));
    assert!(
        arr.iter().all(Value::is_i64),
        "ps --format json must list pids (numbers):\n{out}"
    );
    assert!(
        arr.iter().any(|p| p.as_i64() == Some(pid as i64)),
        "ps --format json does not list init {pid}:\n{out}"
    );

    let out = env.run(&["ps", &id]);
    out.assert_ok();
    let mut lines = out.stdout.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("ps printed nothing:\n{out}"));
    let col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .unwrap_or_else(|| panic!("ps table has no PID column:\n{out}"));
    assert!(
        lines.any(|l| l.split_whitespace().nth(col) == Some(&pid.to_string())),
        "no row of the ps table has init {pid} in its PID column:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// pause / resume
// ---------------------------------------------------------------------------

#[test]
fn pause_freezes_a_spinning_module_and_resume_continues_it() {
    let Some(env) = CgEnv::new("cg_pause") else {
        return;
    };
    let id = env.id("a");
    let path = format!("runwasm/{id}");
    let b = env.bundle("spin");
    start_detached(&env, &id, &b, Some("spinning"));
    let running = usage_growth(&path, Duration::from_millis(300));
    assert!(
        running > 50_000_000,
        "the spinning module used only {running} ns of CPU in 300 ms before pause"
    );

    env.run(&["pause", &id]).assert_ok();
    assert_eq!(env.status(&id).as_deref(), Some("paused"));
    assert_eq!(read_cg("freezer", &path, "freezer.state"), "FROZEN");
    let frozen = usage_growth(&path, Duration::from_millis(300));
    assert_eq!(
        frozen, 0,
        "a paused container's cpuacct.usage grew by {frozen} ns in 300 ms"
    );

    env.run(&["resume", &id]).assert_ok();
    assert_eq!(env.status(&id).as_deref(), Some("running"));
    assert_eq!(read_cg("freezer", &path, "freezer.state"), "THAWED");
    let resumed = usage_growth(&path, Duration::from_millis(300));
    assert!(
        resumed > 50_000_000,
        "after resume the module used only {resumed} ns of CPU in 300 ms"
    );
    // Resuming a container that is not paused is an error (runc: "container
    // not paused").
    env.run(&["resume", &id])
        .assert_failed_with(&["not paused"]);
}

#[test]
fn pause_of_a_stopped_container_fails() {
    let Some(env) = CgEnv::new("cg_pause_stopped") else {
        return;
    };
    let id = env.id("a");
    let b = env.bundle("hello");
    start_detached(&env, &id, &b, Some("Hello"));
    assert!(env.wait_status(&id, "stopped", 5 * SEC));
    env.run(&["pause", &id])
        .assert_failed_with_any(&[vec!["not running", "stopped"]]);
    assert_eq!(env.status(&id).as_deref(), Some("stopped"));
    env.run(&["pause", "cg_pause_stopped-nosuch"])
        .assert_failed_with(&["does not exist"]);
}

// ---------------------------------------------------------------------------
// update
// ---------------------------------------------------------------------------

#[test]
fn update_changes_limits_live() {
    let Some(env) = CgEnv::new("cg_update") else {
        return;
    };
    let id = env.id("a");
    let path = format!("runwasm/{id}");
    let b = wasm(
        &env,
        "sleep",
        &["30"],
        json!({ "memory": { "limit": 64 * MIB }, "pids": { "limit": 10 } }),
    );
    start_detached(&env, &id, &b, Some("sleeping"));
    assert_eq!(
        read_cg_i64("memory", &path, "memory.limit_in_bytes"),
        64 * MIB
    );
    assert_eq!(read_cg_i64("pids", &path, "pids.max"), 10);

    // --resources - (LinuxResources JSON on stdin).
    let out = run_with_stdin(
        &env,
        &["update", "--resources", "-", &id],
        r#"{"memory":{"limit":134217728},"pids":{"limit":20}}"#,
    );
    out.assert_ok();
    assert_eq!(
        read_cg_i64("memory", &path, "memory.limit_in_bytes"),
        128 * MIB,
        "{out}"
    );
    assert_eq!(read_cg_i64("pids", &path, "pids.max"), 20, "{out}");

    // --memory with a suffix.
    env.run(&["update", "--memory", "256m", &id]).assert_ok();
    assert_eq!(
        read_cg_i64("memory", &path, "memory.limit_in_bytes"),
        256 * MIB
    );
    env.run(&["update", "--pids-limit", "7", &id]).assert_ok();
    assert_eq!(read_cg_i64("pids", &path, "pids.max"), 7);

    // --resources FILE.
    let file = env.tmp().join("resources.json");
    std::fs::write(&file, r#"{"cpu":{"shares":256}}"#).unwrap();
    env.run(&["update", "--resources", path_str(&file), &id])
        .assert_ok();
    assert_eq!(read_cg_i64("cpu", &path, "cpu.shares"), 256);

    // runc's other single-value flags.
    env.run(&[
        "update",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "100000",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--memory-reservation",
        "32m",
        &id,
    ])
    .assert_ok();
    assert_eq!(read_cg_i64("cpu", &path, "cpu.cfs_quota_us"), 30000);
    assert_eq!(read_cg_i64("cpu", &path, "cpu.cfs_period_us"), 100000);
    assert_eq!(read_cg_i64("cpu", &path, "cpu.shares"), 512);
    assert_eq!(read_cg("cpuset", &path, "cpuset.cpus"), "0");
    assert_eq!(read_cg("cpuset", &path, "cpuset.mems"), "0");
    assert_eq!(
        read_cg_i64("memory", &path, "memory.soft_limit_in_bytes"),
        32 * MIB
    );
    if cg_dir("memory", &path)
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        env.run(&["update", "--memory", "200m", "--memory-swap", "300m", &id])
            .assert_ok();
        assert_eq!(
            read_cg_i64("memory", &path, "memory.limit_in_bytes"),
            200 * MIB
        );
        assert_eq!(
            read_cg_i64("memory", &path, "memory.memsw.limit_in_bytes"),
            300 * MIB
        );
    } else {
        eprintln!(
            "cg_update: SKIPPED --memory-swap: no memory.memsw.limit_in_bytes (no swap accounting)"
        );
    }
    if cg_dir("blkio", &path).join("blkio.weight").exists()
        || cg_dir("blkio", &path).join("blkio.bfq.weight").exists()
    {
        env.run(&["update", "--blkio-weight", "300", &id])
            .assert_ok();
        let f = if cg_dir("blkio", &path).join("blkio.weight").exists() {
            "blkio.weight"
        } else {
            "blkio.bfq.weight"
        };
        let got = read_cg("blkio", &path, f);
        assert!(
            got.lines()
                .next()
                .is_some_and(|l| l.split_whitespace().last() == Some("300")),
            "after update --blkio-weight 300, {f} is {got:?}"
        );
    } else {
        eprintln!("cg_update: SKIPPED --blkio-weight: no blkio.weight or blkio.bfq.weight");
    }
    // Still running, unharmed.
    assert_eq!(env.status(&id).as_deref(), Some("running"));

    env.run(&["update", "--memory", "128m", "cg_update-nosuch"])
        .assert_failed_with(&["does not exist"]);
}

// ---------------------------------------------------------------------------
// events
// ---------------------------------------------------------------------------

/// Parses one `events` line and checks its envelope.
#[track_caller]
fn stats_object(line: &str, id: &str) -> Value {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("events line is not JSON ({e}): {line:?}"));
    assert_eq!(v["type"], "stats", "{line}");
    assert_eq!(v["id"], id, "{line}");
    assert!(v["data"].is_object(), "no data object: {line}");
    v
}

/// A spinning module under memory limit 100 MiB and pids limit 50,
/// started and given 300 ms of CPU; returns its id.
fn spinning_with_limits(env: &CgEnv) -> String {
    let id = env.id("a");
    let b = wasm(
        env,
        "spin",
        &[],
        json!({ "memory": { "limit": 100 * MIB }, "pids": { "limit": 50 } }),
    );
    start_detached(env, &id, &b, Some("spinning"));
    std::thread::sleep(Duration::from_millis(300));
    id
}

/// `events --stats ID`: exit 0, exactly one line, a stats object.
#[track_caller]
fn events_stats(env: &TestEnv, id: &str) -> (Value, Output) {
    let out = env.run(&["events", "--stats", id]);
    out.assert_ok();
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "events --stats prints one object:\n{out}");
    let v = stats_object(lines[0], id);
    (v["data"].clone(), out)
}

#[test]
fn events_stats_prints_memory_and_cpu_figures() {
    let Some(env) = CgEnv::new("cg_events") else {
        return;
    };
    let id = spinning_with_limits(&env);
    let (d, out) = events_stats(&env, &id);
    let mem = d["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    let cpu = d["cpu"]["usage"]["total"].as_u64().unwrap_or(0);
    assert!(mem > 0, "data.memory.usage.usage is not > 0:\n{out}");
    assert!(cpu > 0, "data.cpu.usage.total is not > 0:\n{out}");
    assert!(
        d["cpu"]["usage"]["percpu"].is_array(),
        "data.cpu.usage.percpu is not an array:\n{out}"
    );
    assert!(
        d["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "data.pids.current is not >= 1:\n{out}"
    );
    // The figures are this container's cgroup's.
    assert_eq!(
        d["memory"]["usage"]["limit"].as_i64(),
        Some(100 * MIB),
        "data.memory.usage.limit:\n{out}"
    );
    assert_eq!(
        d["pids"]["limit"].as_u64(),
        Some(50),
        "data.pids.limit:\n{out}"
    );
    // runc's shape (what containerd and docker stats decode).
    for (obj, keys) in [
        (
            "cpu.throttling",
            &["periods", "throttledPeriods", "throttledTime"][..],
        ),
        ("memory.usage", &["limit", "usage", "max", "failcnt"][..]),
        ("memory.swap", &["limit", "usage", "max", "failcnt"][..]),
        ("memory.kernel", &["limit", "usage", "max", "failcnt"][..]),
    ] {
        let o = obj.split('.').fold(&d, |v, k| &v[k]);
        for k in keys {
            assert!(o[k].is_u64(), "data.{obj}.{k} is not a number:\n{out}");
        }
    }
    for obj in ["memory", "blkio", "hugetlb"] {
        assert!(d[obj].is_object(), "data.{obj} is not an object:\n{out}");
    }
    assert!(
        d["memory"]["raw"].is_object(),
        "data.memory.raw is not an object:\n{out}"
    );
}

#[test]
fn events_stats_cpu_user_and_kernel_are_nanoseconds() {
    let Some(env) = CgEnv::new("cg_events_ns") else {
        return;
    };
    let id = spinning_with_limits(&env);
    let (d, out) = events_stats(&env, &id);
    // runc reports user and kernel in nanoseconds like total (it converts
    // cpuacct.stat's clock ticks). A spinning module spends nearly all its
    // CPU time in user mode, so together they are close to the total.
    let cpu = d["cpu"]["usage"]["total"].as_u64().unwrap_or(0);
    let user = d["cpu"]["usage"]["user"].as_u64().unwrap_or(0);
    let kernel = d["cpu"]["usage"]["kernel"].as_u64().unwrap_or(0);
    assert!(cpu > 100_000_000, "data.cpu.usage.total {cpu}:\n{out}");
    assert!(
        (user + kernel) as f64 >= 0.5 * cpu as f64,
        "data.cpu.usage.user ({user}) + kernel ({kernel}) must be nanoseconds, like total \
         ({cpu}); cpuacct.stat's clock ticks were not converted:\n{out}"
    );
}

#[test]
fn events_interval_prints_stats_periodically() {
    let Some(env) = CgEnv::new("cg_events_iv") else {
        return;
    };
    let id = spinning_with_limits(&env);
    let mut bg = env.rw(&["events", "--interval", "1s", &id]).spawn();
    let mut times = Vec::new();
    let got_two = wait_until(5 * SEC, || {
        let n = bg
            .stdout_now()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        while times.len() < n {
            times.push(Instant::now());
        }
        n >= 2
    });
    let still_running = !bg.exited();
    let out = bg.kill_and_collect();
    assert!(
        got_two,
        "events --interval 1s printed < 2 objects in 5 s:\n{out}"
    );
    assert!(
        still_running,
        "events --interval must keep running until killed:\n{out}"
    );
    for l in out.stdout.lines().filter(|l| !l.trim().is_empty()).take(2) {
        let v = stats_object(l, &id);
        assert!(
            v["data"]["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
            "no cpu figures in {l}"
        );
    }
    let gap = times[1].duration_since(times[0]);
    assert!(
        gap >= Duration::from_millis(500),
        "events --interval 1s printed two objects {gap:?} apart:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// kill --all
// ---------------------------------------------------------------------------

#[test]
fn kill_all_reaches_every_process_of_the_cgroup() {
    let Some(env) = CgEnv::new("cg_killall") else {
        return;
    };
    let id = env.id("a");
    let path = format!("runwasm/{id}");
    // No pid namespace: killing init does not take the children with it.
    let b = native_sh(&env, "sleep 100 & sleep 100 & wait").edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid")
    });
    let init = start_detached(&env, &id, &b, None).pid();
    let mut procs = Vec::new();
    let sleeps = |procs: &[i32]| {
        procs
            .iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
            })
            .count()
    };
    // A forked child is still "sh" until it has exec'd sleep: wait for both.
    assert!(
        wait_until(5 * SEC, || {
            procs = live_procs("memory", &path);
            procs.len() >= 3 && sleeps(&procs) == 2
        }),
        "expected sh and two sleeps in memory:{path}, got {procs:?}"
    );
    assert!(procs.contains(&init));

    env.run(&["kill", "--all", &id, "9"]).assert_ok();
    let mut alive = Vec::new();
    let all_dead = wait_until(2 * SEC, || {
        alive = procs.iter().copied().filter(|p| pid_alive(*p)).collect();
        alive.is_empty()
    });
    assert!(all_dead, "kill --all left {alive:?} alive (of {procs:?})");
    for ctrl in ["memory", "pids", "cpu"] {
        let left = live_procs(ctrl, &path);
        assert!(left.is_empty(), "{ctrl}:{path} still holds {left:?}");
    }
}

// ---------------------------------------------------------------------------
// Cleanup
// ---------------------------------------------------------------------------

#[test]
fn delete_removes_the_cgroup_in_every_hierarchy() {
    let Some(env) = CgEnv::new("cg_delete") else {
        return;
    };
    // Stopped, then `delete`.
    let id = env.id("stopped");
    let path = format!("runwasm/{id}");
    let b = env.bundle("hello");
    start_detached(&env, &id, &b, Some("Hello"));
    assert!(env.wait_status(&id, "stopped", 5 * SEC));
    assert_cgroup_everywhere(&path, "a stopped container");
    env.run(&["delete", &id]).assert_ok();
    assert_cgroup_gone(&path, "delete of a stopped container");

    // Running, then `delete --force`.
    let id = env.id("running");
    let path = format!("runwasm/{id}");
    let b = env.bundle("sleep").args(&["/app.wasm", "30"]);
    let pid = start_detached(&env, &id, &b, Some("sleeping")).pid();
    assert_cgroup_everywhere(&path, "a running container");
    env.run(&["delete", "--force", &id]).assert_ok();
    assert_cgroup_gone(&path, "delete --force of a running container");
    assert!(
        wait_pid_exit(pid, SEC),
        "init {pid} survived delete --force"
    );

    // Paused, then `delete --force`.
    let id = env.id("paused");
    let path = format!("runwasm/{id}");
    let b = env.bundle("spin");
    let pid = start_detached(&env, &id, &b, Some("spinning")).pid();
    env.run(&["pause", &id]).assert_ok();
    assert_eq!(read_cg("freezer", &path, "freezer.state"), "FROZEN");
    assert_cgroup_everywhere(&path, "a paused container");
    env.run(&["delete", "--force", &id]).assert_ok();
    assert_cgroup_gone(&path, "delete --force of a paused container");
    assert!(
        wait_pid_exit(pid, SEC),
        "init {pid} of a paused container survived delete --force"
    );
    assert!(!env.state_dir(&id).exists());
}

/// The number of `run` cycles of the leak test, and the time they may take
/// (if they are slower, fewer run and the count is printed).
const LEAK_CYCLES: usize = 200;
const LEAK_BUDGET: Duration = Duration::from_secs(55);

#[test]
fn many_run_cycles_leave_no_cgroup_state_or_process() {
    let Some(env) = CgEnv::new("cg_leak") else {
        return;
    };
    let b = env.bundle("hello");
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..LEAK_CYCLES {
        if started.elapsed() > LEAK_BUDGET {
            eprintln!(
                "cg_leak: only {i} of {LEAK_CYCLES} cycles fit in {LEAK_BUDGET:?} \
                 ({:?} per cycle)",
                started.elapsed() / i as u32
            );
            break;
        }
        let id = env.id(&i.to_string());
        let out = env.run(&["run", "--bundle", path_str(&b.dir), &id]);
        assert_eq!(out.code(), 0, "cycle {i}:\n{out}");
        assert_eq!(out.stdout, "Hello from Wasm!\n", "cycle {i}:\n{out}");
        ids.push(id);
    }
    eprintln!(
        "cg_leak: {} run cycles in {:?}",
        ids.len(),
        started.elapsed()
    );
    let leaked: Vec<_> = ids
        .iter()
        .flat_map(|id| cgroup_dirs_left(&format!("runwasm/{id}")))
        .collect();
    assert!(
        leaked.is_empty(),
        "{} cgroup dirs left after {} cycles: {:?}",
        leaked.len(),
        ids.len(),
        &leaked[..leaked.len().min(20)]
    );
    env.assert_root_has_no_containers();
    env.assert_no_fifo_or_process(&[]);
    let left = runwasm_processes_mentioning(&env.bin, "cg_leak-");
    assert!(left.is_empty(), "processes left: {left:#?}");
}
