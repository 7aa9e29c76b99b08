//! Commands that need no container: --version, features, spec, list on an
//! empty root, global flags.

mod common;

use std::fs;

use common::*;
use serde_json::{json, Value};

/// `1.x.y`, optionally followed by `-suffix` or `+build`.
fn is_spec_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts[0] == "1"
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn version_prints_three_lines_in_runc_shape() {
    let Some(env) = TestEnv::new("cli_version") else {
        return;
    };
    let out = env.rw(&["--version"]).no_global().run();
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "--version must print exactly 3 lines:\n{out}"
    );
    let v = lines[0].strip_prefix("runwasm version ");
    assert!(
        v.is_some_and(|v| !v.trim().is_empty()),
        "line 1 must be `runwasm version X`:\n{out}"
    );
    assert!(
        lines[1].starts_with("commit: "),
        "line 2 must be `commit: ...`:\n{out}"
    );
    // Built from a git checkout (this one), the commit is known. (Not
    // checked for another binary given with RUNWASM_BIN.)
    let in_git = std::env::var_os("RUNWASM_BIN").is_none()
        && std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .is_ok_and(|o| o.status.success());
    if in_git {
        let commit = lines[1].trim_start_matches("commit: ").trim();
        let hex = commit.bytes().take_while(u8::is_ascii_hexdigit).count();
        assert!(
            commit != "unknown" && hex >= 7,
            "built in a git checkout, the commit line must name the commit \
             (at least 7 hex digits), not {commit:?}:\n{out}"
        );
    }
    let spec = lines[2].strip_prefix("spec: ").unwrap_or("");
    assert!(
        is_spec_version(spec),
        "line 3 must be `spec: 1.x.y`:\n{out}"
    );
    assert_eq!(out.stderr, "", "--version wrote to stderr:\n{out}");
}

#[test]
fn features_prints_oci_version_range() {
    let Some(env) = TestEnv::new("cli_features") else {
        return;
    };
    let out = env.run(&["features"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features did not print JSON ({e}):\n{out}"));
    for k in ["ociVersionMin", "ociVersionMax"] {
        let s = v[k].as_str().unwrap_or("");
        assert!(
            is_spec_version(s),
            "features.{k} must be a 1.x.y version:\n{out}"
        );
    }
}

#[test]
fn spec_writes_a_default_config_in_the_cwd() {
    let Some(env) = TestEnv::new("cli_spec_cwd") else {
        return;
    };
    let dir = env.tmp().join("specdir");
    fs::create_dir(&dir).unwrap();
    let out = env.rw(&["spec"]).cwd(&dir).run();
    out.assert_ok();
    let text = fs::read_to_string(dir.join("config.json"))
        .unwrap_or_else(|e| panic!("spec wrote no config.json in its cwd ({e}):\n{out}"));
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("spec wrote invalid JSON ({e}):\n{text}"));
    assert!(
        v["ociVersion"].as_str().is_some_and(is_spec_version),
        "config.json lacks a 1.x.y ociVersion:\n{text}"
    );
    assert!(
        v["root"]["path"].is_string(),
        "config.json lacks root.path:\n{text}"
    );
    assert!(
        v["process"]["args"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "config.json lacks process.args:\n{text}"
    );
    assert!(
        v["process"]["cwd"].is_string(),
        "config.json lacks process.cwd:\n{text}"
    );
}

#[test]
fn spec_refuses_to_overwrite_an_existing_config() {
    let Some(env) = TestEnv::new("cli_spec_exists") else {
        return;
    };
    let dir = env.tmp().join("specdir");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("config.json"), "{\"mine\": true}").unwrap();
    let out = env.rw(&["spec"]).cwd(&dir).run();
    out.assert_failed_with_any(&[vec!["config.json", "exists"]]);
    assert_eq!(
        fs::read_to_string(dir.join("config.json")).unwrap(),
        "{\"mine\": true}",
        "spec overwrote an existing config.json:\n{out}"
    );
}

#[test]
fn spec_honours_bundle() {
    let Some(env) = TestEnv::new("cli_spec_bundle") else {
        return;
    };
    let dir = env.tmp().join("b");
    fs::create_dir(&dir).unwrap();
    let out = env.run(&["spec", "--bundle", dir.to_str().unwrap()]);
    out.assert_ok();
    let text = fs::read_to_string(dir.join("config.json"))
        .unwrap_or_else(|e| panic!("spec --bundle wrote no BUNDLE/config.json ({e}):\n{out}"));
    serde_json::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("spec wrote invalid JSON ({e}):\n{text}"));
}

#[test]
fn list_of_an_empty_root_prints_the_header() {
    let Some(env) = TestEnv::new("cli_list_empty") else {
        return;
    };
    let out = env.run(&["list"]);
    out.assert_ok();
    let first = out.stdout.lines().next().unwrap_or("");
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "list header:\n{out}"
    );
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "an empty root lists no container:\n{out}"
    );
    let q = env.run(&["list", "-q"]);
    q.assert_ok();
    assert_eq!(q.stdout.trim(), "", "list -q of an empty root:\n{q}");
}

/// runc prints `null` for an empty (or missing) root with `-f json`.
#[test]
fn list_json_of_an_empty_root() {
    let Some(env) = TestEnv::new("cli_list_json_empty") else {
        return;
    };
    for args in [["list", "--format", "json"], ["list", "-f", "json"]] {
        let out = env.run(&args);
        out.assert_ok();
        let v: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("`list -f json` printed invalid JSON ({e}):\n{out}"));
        assert_eq!(
            v,
            Value::Null,
            "an empty root: runc prints `null` for `list -f json`:\n{out}"
        );
        assert_eq!(out.stderr, "", "{out}");
    }
    // And once the root exists but is empty.
    fs::create_dir_all(&env.root).unwrap();
    let out = env.run(&["list", "-f", "json"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "null", "{out}");
}

#[test]
fn global_flags_are_accepted() {
    let Some(env) = TestEnv::new("cli_global_flags") else {
        return;
    };
    for extra in [
        vec!["--debug"],
        vec!["--systemd-cgroup"],
        vec!["--rootless", "false"],
        vec!["--rootless=auto"],
    ] {
        let mut args = extra.clone();
        args.push("list");
        let out = env.run(&args);
        assert!(out.success(), "global flag {extra:?} rejected:\n{out}");
    }
    // --log-format text: the log gets the error as text.
    let log = env.tmp().join("text.log");
    let out = env
        .rw(&[
            "--root",
            path_str(&env.root),
            "--log",
            path_str(&log),
            "--log-format",
            "text",
            "state",
            "cli_global_flags-nope",
        ])
        .no_global()
        .run();
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "state of an unknown id must fail:\n{out}"
    );
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("does not exist"),
        "--log-format text: the log file must hold the error, has {text:?}:\n{out}"
    );
    // logrus's text shape, as runc writes it: time="…" level=error msg="…"
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "--log-format text: one line for one error, got {text:?}"
    );
    let line = lines[0];
    assert!(
        serde_json::from_str::<Value>(line).is_err() && !line.trim_start().starts_with('{'),
        "--log-format text wrote JSON: {line:?}"
    );
    let (time, level, msg) = parse_logrus_text(line)
        .unwrap_or_else(|| panic!("not a `time=\"…\" level=… msg=\"…\"` line: {line:?}"));
    assert!(is_rfc3339(&time), "time={time:?} is not RFC 3339: {line:?}");
    assert_eq!(level, "error", "{line:?}");
    assert!(
        msg.contains("does not exist"),
        "msg must be the error: {line:?}"
    );
}

/// Splits a logrus text line `time="T" level=L msg="M"` into (T, L, M),
/// undoing the quoting of M.
fn parse_logrus_text(line: &str) -> Option<(String, String, String)> {
    let rest = line.strip_prefix("time=\"")?;
    let (time, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(" level=")?;
    let (level, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("msg=")?;
    let msg: String = if rest.starts_with('"') {
        // A Go-quoted string, which is also a valid JSON string for what
        // runwasm writes (\" and \\ escapes).
        let v: Value = serde_json::from_str(rest).ok()?;
        v.as_str()?.to_string()
    } else {
        rest.to_string()
    };
    Some((time.to_string(), level.to_string(), msg))
}

#[test]
fn unknown_subcommand_fails() {
    let Some(env) = TestEnv::new("cli_unknown_cmd") else {
        return;
    };
    let out = env.run(&["frobnicate"]);
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "an unknown subcommand must fail:\n{out}"
    );
    assert!(
        out.stderr.contains("frobnicate"),
        "the error must name the subcommand:\n{out}"
    );
}

/// podman runs kill/delete with only `XDG_RUNTIME_DIR=` in the environment
/// and no --root: the default root must not depend on PATH or HOME.
#[test]
fn default_root_works_without_environment() {
    let Some(env) = TestEnv::new("cli_no_env") else {
        return;
    };
    let out = env
        .rw(&["state", "cli_no_env-does-not-exist-anywhere"])
        .no_global()
        .clear_env()
        .env("XDG_RUNTIME_DIR", "")
        .run();
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "state of an unknown id must fail:\n{out}"
    );
    assert!(
        out.stderr.contains("does not exist"),
        "expected `does not exist`:\n{out}"
    );
    assert_eq!(
        out.stderr_lines().len(),
        1,
        "expected one line on stderr:\n{out}"
    );
}

/// `spec` writes runc's default config.json, except `terminal: false` and
/// hostname `runwasm`.
#[test]
fn spec_is_runcs_default_spec() {
    let Some(env) = TestEnv::new("cli_spec_default") else {
        return;
    };
    let dir = env.tmp().join("specdir");
    fs::create_dir(&dir).unwrap();
    let out = env.rw(&["spec"]).cwd(&dir).run();
    out.assert_ok();
    let text = fs::read_to_string(dir.join("config.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let p = &v["process"];
    assert_eq!(p["terminal"], json!(false), "{text}");
    assert_eq!(p["user"], json!({"uid": 0, "gid": 0}), "{text}");
    assert_eq!(p["args"], json!(["sh"]), "{text}");
    assert_eq!(
        p["env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm"
        ]),
        "{text}"
    );
    assert_eq!(p["cwd"], "/", "{text}");
    for set in ["bounding", "effective", "permitted", "ambient"] {
        assert_eq!(p["capabilities"][set], caps, "capabilities.{set}: {text}");
    }
    assert!(
        p["capabilities"].get("inheritable").is_none(),
        "runc's default spec has no inheritable capabilities: {text}"
    );
    assert_eq!(
        p["rlimits"],
        json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]),
        "{text}"
    );
    assert_eq!(p["noNewPrivileges"], json!(true), "{text}");
    assert_eq!(
        v["root"],
        json!({"path": "rootfs", "readonly": true}),
        "{text}"
    );
    assert_eq!(v["hostname"], "runwasm", "{text}");
    let mounts: Vec<(&str, &str, &str)> = v["mounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no mounts: {text}"))
        .iter()
        .map(|m| {
            (
                m["destination"].as_str().unwrap_or(""),
                m["type"].as_str().unwrap_or(""),
                m["source"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            ("/proc", "proc", "proc"),
            ("/dev", "tmpfs", "tmpfs"),
            ("/dev/pts", "devpts", "devpts"),
            ("/dev/shm", "tmpfs", "shm"),
            ("/dev/mqueue", "mqueue", "mqueue"),
            ("/sys", "sysfs", "sysfs"),
            ("/sys/fs/cgroup", "cgroup", "cgroup"),
        ],
        "{text}"
    );
    let opts = |i: usize| v["mounts"][i]["options"].clone();
    assert_eq!(opts(0), Value::Null, "/proc has no options: {text}");
    assert_eq!(
        opts(1),
        json!(["nosuid", "strictatime", "mode=755", "size=65536k"]),
        "{text}"
    );
    assert_eq!(
        opts(2),
        json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]),
        "{text}"
    );
    assert_eq!(
        opts(3),
        json!(["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        "{text}"
    );
    assert_eq!(opts(4), json!(["nosuid", "noexec", "nodev"]), "{text}");
    assert_eq!(
        opts(5),
        json!(["nosuid", "noexec", "nodev", "ro"]),
        "{text}"
    );
    assert_eq!(
        opts(6),
        json!(["nosuid", "noexec", "nodev", "relatime", "ro"]),
        "{text}"
    );
    let linux = &v["linux"];
    assert_eq!(
        linux["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"}]),
        "{text}"
    );
    let ns: Vec<&str> = linux["namespaces"]
        .as_array()
        .unwrap_or_else(|| panic!("no linux.namespaces: {text}"))
        .iter()
        .map(|n| n["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        ns,
        ["pid", "network", "ipc", "uts", "mount", "cgroup"],
        "{text}"
    );
    assert_eq!(
        linux["maskedPaths"],
        json!([
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi"
        ]),
        "{text}"
    );
    assert_eq!(
        linux["readonlyPaths"],
        json!([
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ]),
        "{text}"
    );

    // Where runc 1.1 is installed (bookworm's), compare with its own
    // output: equal but for terminal, hostname and the cgroup namespace
    // (runc 1.1 has none; 1.2 added it). Later runc versions changed the
    // default spec, so only 1.1 is compared.
    let runc_is_1_1 = std::process::Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).starts_with("runc version 1.1.")
        });
    if !runc_is_1_1 {
        return;
    }
    let runc_dir = env.tmp().join("runc-spec");
    fs::create_dir(&runc_dir).unwrap();
    let runc = std::process::Command::new("runc")
        .arg("spec")
        .current_dir(&runc_dir)
        .output();
    if let Ok(o) = runc {
        if o.status.success() {
            let theirs: Value =
                serde_json::from_str(&fs::read_to_string(runc_dir.join("config.json")).unwrap())
                    .unwrap();
            let normalise = |mut c: Value| {
                c["process"]["terminal"] = json!(false);
                c["hostname"] = json!("runwasm");
                if let Some(a) = c["linux"]["namespaces"].as_array_mut() {
                    a.retain(|n| n["type"] != "cgroup");
                }
                c
            };
            assert_eq!(
                normalise(v.clone()),
                normalise(theirs.clone()),
                "`runwasm spec` differs from `runc spec` beyond terminal, hostname and the \
                 cgroup namespace:\nrunwasm: {v:#}\nrunc: {theirs:#}"
            );
        }
    }
}
