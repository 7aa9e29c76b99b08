//! Commands that need no container: --version, features, spec, list on an
//! empty root, global flags.

mod common;

use std::fs;

use common::*;
use serde_json::Value;

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
