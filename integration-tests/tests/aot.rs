//! The AOT cache (issue 6): one compile for concurrent first runs, a
//! corrupt entry detected and replaced, LRU eviction within the bound,
//! `never` leaving the cache alone, and the same output and exit status
//! with and without AOT for the test modules.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{path_str, Bundle, Rw, TestEnv};

/// `runwasm --aot POLICY --aot-cache CACHE run --bundle B ID`.
fn aot_run<'a>(env: &'a TestEnv, cache: &Path, policy: &str, b: &Bundle, id: &str) -> Rw<'a> {
    env.rw(&[
        "--aot",
        policy,
        "--aot-cache",
        path_str(cache),
        "run",
        "--bundle",
        path_str(&b.dir),
        id,
    ])
}

/// Runs `module` with `args` under the AOT policy, returning (code, stdout).
fn run_with(
    env: &TestEnv,
    cache: &Path,
    policy: &str,
    module: &str,
    args: &[&str],
    tag: &str,
) -> (i32, String, String) {
    let mut full = vec!["/app.wasm"];
    full.extend_from_slice(args);
    let b = env.bundle(module).args(&full);
    let id = env.id(tag);
    let out = aot_run(env, cache, policy, &b, &id).run();
    (out.code(), out.stdout.clone(), out.stderr.clone())
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(cache.join("v1")) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    v.sort();
    v
}

fn leftovers(cache: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(cache.join("v1")) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn outputs_and_exit_codes_are_the_same_with_and_without_aot() {
    let Some(env) = TestEnv::new("aot_same") else {
        return;
    };
    let cache = env.tmp().join("cache");
    let cases: [(&str, &[&str]); 5] = [
        ("hello", &[]),
        ("exit_code", &["3"]),
        ("echo", &["a", "b c"]),
        ("trap", &[]),
        ("exit_code", &["255"]),
    ];
    for (i, (module, args)) in cases.iter().enumerate() {
        let never = run_with(&env, &cache, "never", module, args, &format!("n{i}"));
        let always = run_with(&env, &cache, "always", module, args, &format!("a{i}"));
        let warm = run_with(&env, &cache, "always", module, args, &format!("w{i}"));
        assert_eq!(
            never.0, always.0,
            "{module}: exit codes differ: {never:?} vs {always:?}"
        );
        assert_eq!(never.1, always.1, "{module}: stdout differs");
        assert_eq!(never.0, warm.0, "{module}: warm exit code differs");
        assert_eq!(never.1, warm.1, "{module}: warm stdout differs");
        if *module == "trap" {
            assert_eq!(always.0, 134, "{always:?}");
            assert!(always.2.contains("unreachable"), "{always:?}");
        }
    }
    assert!(!entries(&cache).is_empty(), "always must fill the cache");
}

#[test]
fn never_never_writes_the_cache() {
    let Some(env) = TestEnv::new("aot_never") else {
        return;
    };
    let cache = env.tmp().join("cache");
    let (code, out, _) = run_with(&env, &cache, "never", "hello", &[], "c");
    assert_eq!(code, 0);
    assert!(out.contains("Hello from Wasm!"));
    assert!(!cache.exists(), "never must not create or write the cache");
}

#[test]
fn concurrent_first_runs_compile_once() {
    let Some(env) = TestEnv::new("aot_concurrent") else {
        return;
    };
    let cache = env.tmp().join("cache");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let b = env.bundle("hello");
            let id = env.id(&format!("c{i}"));
            aot_run(&env, &cache, "always", &b, &id).spawn()
        })
        .collect();
    for mut h in handles {
        let out = h.wait();
        assert_eq!(out.code(), 0, "{out}");
        assert!(out.stdout.contains("Hello from Wasm!"), "{out}");
    }
    assert_eq!(
        entries(&cache).len(),
        1,
        "one module, one entry: {:?}",
        entries(&cache)
    );
    assert!(
        leftovers(&cache).is_empty(),
        "torn temporary files: {:?}",
        leftovers(&cache)
    );
}

#[test]
fn a_corrupt_entry_is_detected_and_replaced() {
    let Some(env) = TestEnv::new("aot_corrupt") else {
        return;
    };
    let cache = env.tmp().join("cache");
    let first = run_with(&env, &cache, "always", "hello", &[], "a");
    assert_eq!(first.0, 0);
    let entry = entries(&cache).pop().expect("an entry");
    let good = fs::read(&entry).unwrap();
    // Truncate it, then flip bytes: each time the next run must still
    // print the same and leave a valid entry.
    fs::write(&entry, &good[..good.len() / 2]).unwrap();
    let second = run_with(&env, &cache, "always", "hello", &[], "b");
    assert_eq!((second.0, &second.1), (0, &first.1), "{second:?}");
    assert_eq!(
        fs::read(&entry).unwrap(),
        good,
        "the entry must be recompiled"
    );
    let mut flipped = good.clone();
    let n = flipped.len();
    for b in &mut flipped[n - 4096..] {
        *b ^= 0xff;
    }
    fs::write(&entry, &flipped).unwrap();
    let third = run_with(&env, &cache, "auto", "hello", &[], "c");
    assert_eq!((third.0, &third.1), (0, &first.1), "{third:?}");
}

#[test]
fn eviction_keeps_the_cache_within_its_bound() {
    let Some(env) = TestEnv::new("aot_evict") else {
        return;
    };
    let cache = env.tmp().join("cache");
    let mut sizes = Vec::new();
    for (i, m) in ["hello", "echo", "exit_code"].iter().enumerate() {
        let b = env.bundle(m).args(&["/app.wasm", "0"]);
        let id = env.id(&format!("e{i}"));
        let out = env
            .rw(&[
                "--aot",
                "always",
                "--aot-cache",
                path_str(&cache),
                "--aot-cache-max",
                "250k",
                "run",
                "--bundle",
                path_str(&b.dir),
                id.as_str(),
            ])
            .run();
        assert!(out.code() == 0, "{out}");
        let total: u64 = entries(&cache)
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
        sizes.push((entries(&cache).len(), total));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for (n, total) in &sizes {
        // The newest entry is always kept, even alone above the bound.
        assert!(
            *total <= 250 * 1024 || *n == 1,
            "cache over its bound: {sizes:?}"
        );
    }
    assert!(
        sizes.last().unwrap().0 < 3,
        "nothing was evicted: {sizes:?}"
    );
}

/// A container configured as Docker, containerd and podman configure them
/// (runc's default spec: namespaces, capabilities, a seccomp-free but
/// capability-dropping process) compiles its module and runs it: the
/// compile happens in a child process, so the init stays single-threaded
/// for its capabilities; the warm run then loads the entry.
#[test]
fn a_cold_compile_works_in_a_container_with_capabilities() {
    let Some(env) = TestEnv::new("aot_caps") else {
        return;
    };
    let cache = env.tmp().join("cache");
    let b = env.bundle("exit_code");
    let mut spec = common::runc_spec();
    spec["process"]["args"] = serde_json::json!(["/app.wasm", "5"]);
    spec["process"]["env"] = serde_json::json!(["PATH=/bin"]);
    let b = b.edit(|c| *c = spec);
    for tag in ["cold", "warm"] {
        let id = env.id(tag);
        let out = aot_run(&env, &cache, "always", &b, &id).run();
        assert_eq!(out.code(), 5, "{tag} run:\n{out}");
        assert_eq!(entries(&cache).len(), 1, "{tag} run:\n{out}");
        env.assert_nothing_left(&id, &[]);
    }
}

/// `auto` on a cold cache: a module first runs for a moment with its side
/// effects neutralized (output to /dev/null, no directory, no sockets). One
/// still computing then (cpuspin: prints, then burns CPU) is compiled
/// before its first real run; one that ends at once (hello) or blocks
/// (sleep) is interpreted and leaves no entry. Either way the output is the
/// real run's only.
#[test]
fn auto_compiles_a_compute_bound_module_before_its_first_run() {
    let Some(env) = TestEnv::new("aot_auto") else {
        return;
    };
    let cache = env.tmp().join("cache-spin");
    let (code, out, err) = run_with(&env, &cache, "auto", "cpuspin", &["700"], "spin");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("spinning\n") && out.matches("spinning").count() == 1,
        "the speculative run printed nothing: {out:?}"
    );
    assert_eq!(entries(&cache).len(), 1, "compiled on first sight: {err}");

    for (module, args, expect) in [
        ("hello", &[][..], "Hello from Wasm!\n"),
        ("sleep", &["1"][..], "sleeping\nawake\n"),
    ] {
        let cache = env.tmp().join(format!("cache-{module}"));
        let (code, out, err) = run_with(&env, &cache, "auto", module, args, module);
        assert_eq!((code, out.as_str()), (0, expect), "{module}: {err}");
        assert!(entries(&cache).is_empty(), "{module} was compiled");
    }
}
