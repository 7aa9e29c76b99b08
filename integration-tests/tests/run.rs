//! `run`: create + start + wait + delete, and what the module sees (argv,
//! env, files, cwd), Wasm detection and traps.

mod common;

use std::fs;
use std::time::Duration;

use common::*;

/// `run --bundle B ID`, stdout/stderr to files.
fn run(env: &TestEnv, id: &str, b: &Bundle) -> Output {
    env.run(&["run", "--bundle", path_str(&b.dir), id])
}

#[test]
fn run_hello_prints_and_exits_0() {
    let Some(env) = TestEnv::new("run_hello") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    assert_eq!(out.stderr, "", "{out}");
    assert!(
        !env.state_dir(&id).exists(),
        "run left ROOT/ID behind:\n{out}"
    );
    env.assert_root_has_no_containers();
    env.assert_nothing_left(&id, &[]);
}

#[test]
fn run_hello_through_pipes() {
    let Some(env) = TestEnv::new("run_pipes") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let out = env
        .rw(&["run", "--bundle", path_str(&b.dir), id.as_str()])
        .run_piped();
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
    assert!(!env.state_dir(&id).exists());
}

#[test]
fn run_passes_the_exit_code_through() {
    let Some(env) = TestEnv::new("run_exit_codes") else {
        return;
    };
    for code in [0, 1, 3, 42, 255] {
        let arg = code.to_string();
        let b = env.bundle("exit_code").args(&["/app.wasm", arg.as_str()]);
        let id = env.id(&format!("c{code}"));
        let out = run(&env, &id, &b);
        assert_eq!(out.code(), code, "exit_code {code}:\n{out}");
        assert_eq!(
            out.stderr, "",
            "a non-zero exit code is not an error of runwasm:\n{out}"
        );
        assert!(
            !env.state_dir(&id).exists(),
            "run left ROOT/ID behind:\n{out}"
        );
    }
}

#[test]
fn run_gives_exactly_process_args_and_env() {
    let Some(env) = TestEnv::new("run_args_env") else {
        return;
    };
    let args = ["/app.wasm", "one", "two words", "--flag=x", ""];
    let envs = ["FOO=bar", "EMPTY=", "WITH_EQ=a=b", "PATH=/bin"];
    let b = env.bundle("echo").args(&args).env(&envs);
    let id = env.id("c");
    let out = env
        .rw(&["run", "--bundle", path_str(&b.dir), id.as_str()])
        .env("LEAK_CHECK", "1")
        .run();
    assert_eq!(out.code(), 0, "{out}");

    let got_args: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("arg["))
        .collect();
    let want_args: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| format!("arg[{i}]={a}"))
        .collect();
    assert_eq!(
        got_args, want_args,
        "WASI argv must be process.args:\n{out}"
    );

    assert!(
        !out.stdout.contains("LEAK_CHECK"),
        "runwasm's own environment leaked into the module:\n{out}"
    );
    let got_env: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("env:"))
        .collect();
    // Exactly process.env, in order, plus HOME, which runc adds when the
    // config has none (the rootfs has no /etc/passwd: HOME=/).
    let mut want = envs.to_vec();
    want.push("HOME=/");
    assert_eq!(
        got_env, want,
        "the WASI environment must be exactly process.env (+ runc's HOME):\n{out}"
    );
}

#[test]
fn run_with_empty_env_sees_no_variables() {
    let Some(env) = TestEnv::new("run_empty_env") else {
        return;
    };
    let b = env.bundle("echo").edit(|c| {
        c["process"].as_object_mut().unwrap().remove("env");
    });
    let id = env.id("c");
    let out = env
        .rw(&["run", "--bundle", path_str(&b.dir), id.as_str()])
        .env("LEAK_CHECK", "1")
        .run();
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.stdout, "arg[0]=/app.wasm\nenv:HOME=/\n",
        "no process.env means no variables but runc's HOME:\n{out}"
    );
}

#[test]
fn home_comes_from_the_containers_passwd() {
    let Some(env) = TestEnv::new("run_home_passwd") else {
        return;
    };
    let b = env.bundle("echo").env(&["HOME=", "PATH=/bin"]).edit(|c| {
        c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    });
    std::fs::create_dir_all(b.dir.join("rootfs/etc")).unwrap();
    std::fs::write(
        b.dir.join("rootfs/etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    let id = env.id("c");
    let out = env
        .rw(&["run", "--bundle", path_str(&b.dir), id.as_str()])
        .run();
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stdout.contains("env:HOME=/home/app\n") && !out.stdout.contains("env:HOME=\n"),
        "an empty HOME is the user's home from /etc/passwd, as runc sets it:\n{out}"
    );
}

#[test]
fn run_writes_files_into_the_rootfs() {
    let Some(env) = TestEnv::new("run_write_file") else {
        return;
    };
    let b = env
        .bundle("write_file")
        .args(&["/app.wasm", "/data/out.txt", "hello"]);
    fs::create_dir_all(b.rootfs.join("data")).unwrap();
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "hello", "{out}");
    let host = b.rootfs.join("data/out.txt");
    assert_eq!(
        fs::read_to_string(&host)
            .unwrap_or_else(|e| panic!("{} missing ({e}):\n{out}", host.display())),
        "hello",
        "the file written at /data/out.txt must appear at BUNDLE/rootfs/data/out.txt"
    );
}

#[test]
fn run_reads_files_from_the_rootfs() {
    let Some(env) = TestEnv::new("run_read_file") else {
        return;
    };
    let b = env
        .bundle("read_file")
        .args(&["/app.wasm", "/etc/message.txt"])
        .file("/etc/message.txt", b"from the host\n");
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "from the host\n", "{out}");
}

#[test]
fn run_cannot_see_outside_the_rootfs() {
    let Some(env) = TestEnv::new("run_escape") else {
        return;
    };
    // config.json sits next to rootfs: the module must not reach it.
    let b = env
        .bundle("read_file")
        .args(&["/app.wasm", "/../config.json"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert!(
        !out.stdout.contains("ociVersion"),
        "the module read the bundle's config.json outside its rootfs:\n{out}"
    );
    let secret = env.tmp().join("secret.txt");
    fs::write(&secret, "secret").unwrap();
    let b = env
        .bundle("read_file")
        .args(&["/app.wasm", path_str(&secret)]);
    let id = env.id("c2");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 1, "reading a host path must fail:\n{out}");
    assert!(out.stdout.starts_with("error:"), "{out}");
}

#[test]
fn run_read_of_a_missing_file_exits_1() {
    let Some(env) = TestEnv::new("run_read_missing") else {
        return;
    };
    let b = env
        .bundle("read_file")
        .args(&["/app.wasm", "/no/such/file"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stdout.starts_with("error: /no/such/file"), "{out}");
    assert!(!env.state_dir(&id).exists());
}

#[test]
fn run_resolves_relative_paths_against_process_cwd() {
    let Some(env) = TestEnv::new("run_cwd") else {
        return;
    };
    let b = env
        .bundle("read_file")
        .args(&["/app.wasm", "msg.txt"])
        .cwd("/data")
        .file("/data/msg.txt", b"in data\n")
        .file("/msg.txt", b"in root\n");
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.stdout, "in data\n",
        "process.cwd is /data: msg.txt means /data/msg.txt:\n{out}"
    );
}

#[test]
fn run_trap_exits_134_with_one_line() {
    let Some(env) = TestEnv::new("run_trap") else {
        return;
    };
    let b = env.bundle("trap");
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 134, "a trap must exit 134:\n{out}");
    let lines = out.stderr_lines();
    assert_eq!(
        lines.len(),
        1,
        "a trap prints exactly one line on stderr:\n{out}"
    );
    assert!(
        lines[0].to_lowercase().contains("unreachable"),
        "the trap line must name the trap (unreachable):\n{out}"
    );
    assert!(
        !env.state_dir(&id).exists(),
        "run left ROOT/ID behind:\n{out}"
    );
}

#[test]
fn run_detects_wasm_without_the_suffix() {
    let Some(env) = TestEnv::new("run_magic") else {
        return;
    };
    let b = env.bundle("hello").module_at("/app");
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(
        out.code(),
        0,
        "a module at /app must be run by its magic bytes:\n{out}"
    );
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
}

#[test]
fn run_with_the_wasm_handler_annotations() {
    let Some(env) = TestEnv::new("run_annotation") else {
        return;
    };
    for (k, v) in [
        ("run.oci.handler", "wasm"),
        ("module.wasm.image/variant", "compat"),
        ("module.wasm.image/variant", "compat-smart"),
    ] {
        let b = env.bundle("hello").module_at("/bin/app").annotation(k, v);
        let id = env.id(&format!("c-{}", v.replace('/', "")));
        let out = run(&env, &id, &b);
        assert_eq!(out.code(), 0, "annotation {k}={v}:\n{out}");
        assert_eq!(
            out.stdout, "Hello from Wasm!\n",
            "annotation {k}={v}:\n{out}"
        );
    }
}

#[test]
fn run_with_an_absolute_root_path() {
    let Some(env) = TestEnv::new("run_abs_root") else {
        return;
    };
    let b = env.bundle("hello");
    let abs = canonical(&b.rootfs);
    let b = b.edit(|c| c["root"]["path"] = abs.clone().into());
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
}

#[test]
fn run_bundle_defaults_to_the_cwd() {
    let Some(env) = TestEnv::new("run_bundle_cwd") else {
        return;
    };
    let b = env.bundle("hello");
    let id = env.id("c");
    let out = env.rw(&["run", id.as_str()]).cwd(&b.dir).run();
    assert_eq!(
        out.code(),
        0,
        "without --bundle the cwd is the bundle:\n{out}"
    );
    assert_eq!(out.stdout, "Hello from Wasm!\n", "{out}");
}

#[test]
fn run_sleep_module_sleeps() {
    let Some(env) = TestEnv::new("run_sleep") else {
        return;
    };
    let b = env.bundle("sleep").args(&["/app.wasm", "1"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "sleeping\nawake\n", "{out}");
    assert!(
        out.elapsed >= Duration::from_secs(1),
        "sleep 1 took {:?}",
        out.elapsed
    );
    assert!(
        out.elapsed < Duration::from_secs(5),
        "sleep 1 took {:?}",
        out.elapsed
    );
}

#[test]
fn run_module_stderr_reaches_the_caller() {
    let Some(env) = TestEnv::new("run_stderr") else {
        return;
    };
    let b = env
        .bundle("write_file")
        .args(&["/app.wasm", "/no/such/dir/x.txt", "data"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.stdout, "", "{out}");
    assert!(
        out.stderr.starts_with("error: mkdir /no/such/dir"),
        "the module's stderr must be run's stderr:\n{out}"
    );
}

#[test]
fn run_with_cwd_keeps_absolute_paths_working() {
    let Some(env) = TestEnv::new("run_cwd_abs") else {
        return;
    };
    let b = env
        .bundle("read_file")
        .args(&["/app.wasm", "/data/msg.txt"])
        .cwd("/data")
        .file("/data/msg.txt", b"in data\n");
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "in data\n", "{out}");
}

/// A Kubernetes sandbox (pause) container is never run as Wasm, whatever
/// its args[0] looks like: a real Wasm module there (by suffix, by magic, or
/// even with a Wasm handler annotation) is exec'd natively, and the kernel
/// refuses it (`exec format error`, exit 126).
#[test]
fn run_never_treats_a_sandbox_container_as_wasm() {
    let Some(env) = TestEnv::new("run_sandbox") else {
        return;
    };
    let cases: [(&str, Option<(&str, &str)>); 4] = [
        ("/app.wasm", None),
        ("/pause", None),
        ("/app.wasm", Some(("run.oci.handler", "wasm"))),
        ("/pause", Some(("module.wasm.image/variant", "compat"))),
    ];
    for (i, (path, extra)) in cases.into_iter().enumerate() {
        let mut b = env.bundle("hello");
        if path != "/app.wasm" {
            b = b.module_at(path);
        }
        // Executable, as a pause binary is: the exec itself must be what
        // fails.
        let host = b.rootfs.join(path.trim_start_matches('/'));
        let mut perm = fs::metadata(&host).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        fs::set_permissions(&host, perm).unwrap();
        let mut b = b.annotation("io.kubernetes.cri.container-type", "sandbox");
        if let Some((k, v)) = extra {
            b = b.annotation(k, v);
        }
        let id = env.id(&format!("c{i}"));
        let out = run(&env, &id, &b);
        let what = format!("sandbox container running {path} (extra annotation {extra:?})");
        assert!(
            !out.stdout.contains("Hello from Wasm!"),
            "{what} was run as Wasm:\n{out}"
        );
        assert_eq!(
            out.status.code(),
            Some(126),
            "{what}: the native exec of a Wasm file must fail with 126:\n{out}"
        );
        assert!(
            out.stderr.to_lowercase().contains("exec format error"),
            "{what}: stderr must say `exec format error`:\n{out}"
        );
        assert!(
            !env.state_dir(&id).exists(),
            "run left ROOT/ID behind:\n{out}"
        );
        env.assert_nothing_left(&id, &[]);
    }
}

/// A native (non-Wasm) program runs natively: busybox from a rootfs.
#[test]
fn run_native_busybox() {
    let Some(env) = TestEnv::new("run_native") else {
        return;
    };
    let b = env.native_bundle(&["/bin/busybox", "echo", "hi"]);
    let id = env.id("c");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert_eq!(out.stderr, "", "{out}");
    assert!(!env.state_dir(&id).exists());

    // The sandbox annotation does not stop a native program (a pause
    // container is one).
    let b = env
        .native_bundle(&["/bin/busybox", "echo", "pause"])
        .annotation("io.kubernetes.cri.container-type", "sandbox");
    let id = env.id("sandbox");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "pause\n", "{out}");

    // A native exit code passes through too.
    let b = env.native_bundle(&["/bin/busybox", "sh", "-c", "exit 7"]);
    let id = env.id("exit");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 7, "{out}");
}

/// A module that lives on a volume (a bind mount), not in the rootfs, as
/// `docker run -v DIR:/mods … /mods/app.wasm` gives it: found through the
/// mount's source, resolved inside it, and run; the same for a single file
/// bound over a path. A path outside every mount still means the rootfs.
#[test]
fn run_a_module_from_a_bind_mounted_volume() {
    let Some(env) = TestEnv::new("run_volume") else {
        return;
    };
    let vol = env.tmp().join("vol");
    fs::create_dir_all(vol.join("sub")).unwrap();
    fs::copy(module("exit_code"), vol.join("sub/mod.wasm")).unwrap();
    let single = env.tmp().join("single.wasm");
    fs::copy(module("hello"), &single).unwrap();
    let b = env
        .bundle("hello")
        .args(&["/mods/sub/../sub/mod.wasm", "7"])
        .namespaces(&["mount", "pid"])
        .edit(|c| {
            c["mounts"] = serde_json::json!([
                {"destination": "/mods", "type": "bind",
                 "source": path_str(&vol), "options": ["rbind", "ro"]},
                {"destination": "/bin/one.wasm", "type": "none",
                 "source": path_str(&single), "options": ["bind", "ro"]},
            ]);
        });
    fs::remove_file(b.rootfs.join("app.wasm")).unwrap();
    // Mount points, as an image would have them.
    fs::create_dir_all(b.rootfs.join("mods")).unwrap();
    fs::create_dir_all(b.rootfs.join("bin")).unwrap();
    fs::write(b.rootfs.join("bin/one.wasm"), b"").unwrap();
    let id = env.id("a");
    let out = run(&env, &id, &b);
    assert_eq!(out.code(), 7, "the module on the volume ran:\n{out}");
    env.assert_nothing_left(&id, &[]);

    let b2 = b.args(&["/bin/one.wasm"]);
    let id = env.id("b");
    let out = run(&env, &id, &b2);
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (0, "Hello from Wasm!\n"),
        "a module bound as a single file:\n{out}"
    );

    // Not on the volume and not in the rootfs: the rootfs's error.
    let b3 = b2.args(&["/mods/missing.wasm"]);
    let id = env.id("c");
    let out = run(&env, &id, &b3);
    assert_ne!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("process.args[0]") && out.stderr.contains("no such file"),
        "{out}"
    );
    env.assert_nothing_left(&id, &[]);
}
