//! No leaks over many `run` cycles of a Wasm module and of a native
//! program (under runc's default config: every namespace, /proc, /dev,
//! /sys mounted): nothing left behind (processes, cgroups, mounts, fifos,
//! files in the state root), no fd left open in the caller, and the peak
//! RSS of the runwasm process tree per cycle does not trend upward.
//!
//! A modest count here; `bench/soak.py` runs 1,000 of each.

mod common;

use std::fs;
use std::time::Instant;

use common::*;
use serde_json::json;

/// `run` cycles per kind.
const CYCLES: usize = 100;
/// Cycles compared at each end for the RSS trend.
const WINDOW: usize = 20;

fn median(v: &[i64]) -> i64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[v.len() / 2]
}

/// This process's own peak RSS (KiB): a floor under every ru_maxrss of
/// what it spawns (a child inherits it at exec), printed so the figures
/// can be seen to be runwasm's, above it.
fn own_peak_rss() -> i64 {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn own_fds() -> usize {
    fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn run_cycles_of_wasm_and_native_leak_nothing() {
    let Some(env) = TestEnv::new("leak_run") else {
        return;
    };
    let wasm = env.bundle("hello");
    let native = {
        let b = env.native_bundle(&["/bin/busybox", "true"]);
        let mut c = runc_spec();
        c["process"]["args"] = json!(["/bin/busybox", "true"]);
        c["process"]["env"] = json!(["PATH=/bin"]);
        b.edit(|cfg| *cfg = c)
    };
    let fds_before = own_fds();
    for (kind, b, stdout) in [
        ("wasm", &wasm, "Hello from Wasm!\n"),
        ("native", &native, ""),
    ] {
        let started = Instant::now();
        let mut rss = Vec::with_capacity(CYCLES);
        for i in 0..CYCLES {
            let id = env.id(&format!("{kind}-{i}"));
            let (out, usage) = env
                .rw(&["run", "--bundle", path_str(&b.dir), id.as_str()])
                .run_with_rusage();
            assert_eq!(out.code(), 0, "{kind} cycle {i}:\n{out}");
            assert_eq!(out.stdout, stdout, "{kind} cycle {i}:\n{out}");
            rss.push(usage.ru_maxrss);
        }
        let left = env.leftovers();
        assert!(
            left.is_empty(),
            "{CYCLES} {kind} run cycles left behind:\n{left}"
        );
        let (first, last) = (median(&rss[..WINDOW]), median(&rss[CYCLES - WINDOW..]));
        eprintln!(
            "leak_run: {CYCLES} {kind} cycles in {:?}; peak RSS of the runwasm process tree: \
             median {first} KiB over the first {WINDOW}, {last} KiB over the last {WINDOW} \
             (min {}, max {}; this test process's own peak: {} KiB)",
            started.elapsed(),
            rss.iter().min().unwrap(),
            rss.iter().max().unwrap(),
            own_peak_rss()
        );
        assert!(
            last <= first + (first / 10).max(2048),
            "{kind}: the runtime's peak RSS grows: median {first} KiB over the first \
             {WINDOW} cycles, {last} KiB over the last {WINDOW}"
        );
    }
    assert_eq!(
        own_fds(),
        fds_before,
        "the test process gained fds over the cycles"
    );
}
