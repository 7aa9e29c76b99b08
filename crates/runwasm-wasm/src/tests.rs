//! End-to-end tests through the exported ABI, on modules written in WAT.
//! Tests on C programs compiled with clang are in `c_tests`, tests of AOT
//! compilation and of loading compiled files in `aot_tests`.

use std::ffi::{c_void, CStr};

use crate::abi::{
    runwasm_wasm_instantiate, runwasm_wasm_load, runwasm_wasm_run, RUN_FAILED, RUN_TRAP,
};

mod aot_tests;
mod c_tests;

const ERR_CAP: usize = 512;

/// The text in an error buffer.
fn message(err: &[u8]) -> String {
    CStr::from_bytes_until_nul(err)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "<no NUL>".to_owned())
}

/// `runwasm_wasm_load`, as a `Result`.
pub(crate) fn load(bytes: &[u8]) -> Result<*mut c_void, String> {
    let mut err = [0u8; ERR_CAP];
    // SAFETY: `bytes` and `err` are valid for their lengths.
    let h = unsafe { runwasm_wasm_load(bytes.as_ptr(), bytes.len(), err.as_mut_ptr(), ERR_CAP) };
    if h.is_null() {
        Err(message(&err))
    } else {
        Ok(h)
    }
}

/// `runwasm_wasm_instantiate`, as a `Result`.
pub(crate) fn instantiate(loaded: *mut c_void, json: &str) -> Result<*mut c_void, String> {
    let mut err = [0u8; ERR_CAP];
    // SAFETY: `loaded` is an unconsumed handle; the buffers are valid.
    let h = unsafe {
        runwasm_wasm_instantiate(loaded, json.as_ptr(), json.len(), err.as_mut_ptr(), ERR_CAP)
    };
    if h.is_null() {
        Err(message(&err))
    } else {
        Ok(h)
    }
}

/// `runwasm_wasm_run`: its code and error message.
pub(crate) fn run(instance: *mut c_void) -> (i32, String) {
    let mut err = [0u8; ERR_CAP];
    // SAFETY: `instance` is an unconsumed handle; `err` is valid.
    let code = unsafe { runwasm_wasm_run(instance, err.as_mut_ptr(), ERR_CAP) };
    (code, message(&err))
}

/// All three phases; `Err` names the phase that failed before `run`.
pub(crate) fn run_bytes(bytes: &[u8], json: &str) -> Result<(i32, String), String> {
    let loaded = load(bytes).map_err(|e| format!("load: {e}"))?;
    let instance = instantiate(loaded, json).map_err(|e| format!("instantiate: {e}"))?;
    Ok(run(instance))
}

fn run_wat(wat: &str, json: &str) -> Result<(i32, String), String> {
    let bytes = wat::parse_str(wat).expect("test WAT parses");
    run_bytes(&bytes, json)
}

const ARGS_ONLY: &str = r#"{"args":["/m.wasm"]}"#;

/// A module whose `_start` calls `proc_exit(<expr>)`.
fn exits_with(expr: &str) -> String {
    format!(
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func (export "_start") (call $exit {expr}) unreachable))"#
    )
}

#[test]
fn proc_exit_code_is_returned() {
    assert_eq!(
        run_wat(&exits_with("(i32.const 42)"), ARGS_ONLY),
        Ok((42, String::new()))
    );
    assert_eq!(
        run_wat(&exits_with("(i32.const 0)"), ARGS_ONLY),
        Ok((0, String::new()))
    );
    assert_eq!(
        run_wat(&exits_with("(i32.const -1)"), ARGS_ONLY),
        Ok((255, String::new()))
    );
}

#[test]
fn start_returning_normally_is_exit_0() {
    let wat = r#"(module (func (export "_start")))"#;
    assert_eq!(run_wat(wat, ARGS_ONLY), Ok((0, String::new())));
}

#[test]
fn traps_return_minus_1_naming_the_trap() {
    for (body, msg) in [
        ("unreachable", "unreachable instruction executed"),
        (
            "(drop (i32.div_s (i32.const 1) (i32.const 0)))",
            "integer divide by zero",
        ),
        (
            "(drop (i32.load (i32.const 70000)))",
            "out of bounds memory access",
        ),
        (
            "(drop (i32.trunc_f32_s (f32.const nan)))",
            "invalid conversion to integer",
        ),
        ("(call_indirect (i32.const 5))", "undefined element"),
    ] {
        let wat = format!(
            r#"(module (memory 1) (table 1 funcref)
                 (func (export "_start") {body}))"#
        );
        assert_eq!(
            run_wat(&wat, ARGS_ONLY),
            Ok((RUN_TRAP, msg.to_owned())),
            "{body}"
        );
    }
}

#[test]
fn missing_or_mistyped_start_fails_with_minus_2() {
    let wat = r#"(module (func (export "main")))"#;
    assert_eq!(
        run_wat(wat, ARGS_ONLY),
        Ok((RUN_FAILED, "module has no _start export".to_owned()))
    );
    let wat = r#"(module (func (export "_start") (param i32)))"#;
    let (code, msg) = run_wat(wat, ARGS_ONLY).expect("instantiates");
    assert_eq!(code, RUN_FAILED);
    assert!(msg.starts_with("_start takes 1 parameter(s)"), "{msg}");
}

#[test]
fn corrupt_modules_fail_load() {
    let good = wat::parse_str(exits_with("(i32.const 1)")).expect("WAT");
    for (bytes, want) in [
        (
            &b"hello world"[..],
            "invalid wasm module: magic header not detected",
        ),
        (&b""[..], "invalid wasm module: unexpected end"),
        (&good[..good.len() - 3], "invalid wasm module: "),
        (
            &b"\0asm\x02\0\0\0"[..],
            "invalid wasm module: unknown binary version",
        ),
    ] {
        let err = load(bytes).expect_err("corrupt module must not load");
        assert!(err.starts_with(want), "{err:?} vs {want:?}");
    }
    // Well-formed but invalid: caught by validation, still in `load`.
    let bad = wat::parse_str(r#"(module (func (result i32) (i64.const 1)))"#).expect("WAT");
    assert_eq!(
        load(&bad),
        Err("invalid wasm module: type mismatch".to_owned())
    );
}

#[test]
fn unknown_imports_fail_instantiate_naming_them() {
    for (import, want) in [
        (
            r#"(import "env" "foo" (func))"#,
            r#"unknown import "env"."foo""#,
        ),
        (
            r#"(import "wasi_snapshot_preview1" "no_such_call" (func))"#,
            r#"unknown import "wasi_snapshot_preview1"."no_such_call""#,
        ),
        (
            r#"(import "env" "memory" (memory 1))"#,
            r#"unknown import "env"."memory""#,
        ),
        (
            r#"(import "wasi_snapshot_preview1" "proc_exit" (func (param i64)))"#,
            r#"incompatible import type for "wasi_snapshot_preview1"."proc_exit""#,
        ),
    ] {
        let wat = format!(
            r#"(module
                 (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                 {import} (func (export "_start")))"#
        );
        let err = run_wat(&wat, ARGS_ONLY).expect_err("must not instantiate");
        assert!(err.starts_with(&format!("instantiate: {want}")), "{err}");
    }
}

#[test]
fn start_function_trap_fails_instantiate() {
    let wat = r#"(module (func $s unreachable) (start $s) (func (export "_start")))"#;
    assert_eq!(
        run_wat(wat, ARGS_ONLY),
        Err("instantiate: start function trapped: unreachable instruction executed".to_owned())
    );
}

#[test]
fn args_and_env_come_only_from_the_config() {
    // proc_exit(argc * 100 + environ count)
    let wat = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start")
          (drop (call $args (i32.const 0) (i32.const 4)))
          (drop (call $env (i32.const 8) (i32.const 12)))
          (call $exit (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 100))
                               (i32.load (i32.const 8))))))"#;
    let json = r#"{"args":["/m.wasm","a","b"],"env":["A=1","B=2"]}"#;
    assert_eq!(run_wat(wat, json), Ok((302, String::new())));
    assert_eq!(run_wat(wat, ARGS_ONLY), Ok((100, String::new())));
}

/// `_start` exits with 0 if `memory.grow(by)` succeeds, 7 if it fails.
fn grows_by(by: u32) -> String {
    exits_with(&format!(
        "(select (i32.const 7) (i32.const 0) (i32.eq (memory.grow (i32.const {by})) (i32.const -1)))"
    ))
}

#[test]
fn max_memory_pages_caps_memory_grow() {
    let capped = r#"{"args":["/m.wasm"],"max_memory_pages":4}"#;
    assert_eq!(run_wat(&grows_by(3), capped), Ok((0, String::new())));
    assert_eq!(run_wat(&grows_by(4), capped), Ok((7, String::new())));
    assert_eq!(run_wat(&grows_by(4), ARGS_ONLY), Ok((0, String::new())));
    // A module whose minimum already exceeds the cap cannot instantiate.
    let big = r#"(module (memory (export "memory") 8) (func (export "_start")))"#;
    assert_eq!(
        run_wat(big, capped),
        Err(r#"instantiate: memory "memory" needs 8 pages but max_memory_pages is 4"#.to_owned())
    );
}

#[test]
fn bad_config_fails_instantiate_and_frees_the_module() {
    let bytes = wat::parse_str(exits_with("(i32.const 1)")).expect("WAT");
    let loaded = load(&bytes).expect("loads");
    let err = instantiate(loaded, "{").expect_err("bad JSON");
    assert!(err.starts_with("invalid config JSON"), "{err}");
}

#[test]
fn module_bytes_are_not_kept_after_load() {
    let mut bytes = wat::parse_str(exits_with("(i32.const 9)")).expect("WAT");
    let loaded = load(&bytes).expect("loads");
    bytes.iter_mut().for_each(|b| *b = 0xFF);
    drop(bytes);
    let instance = instantiate(loaded, ARGS_ONLY).expect("instantiates");
    assert_eq!(run(instance), (9, String::new()));
}

#[test]
fn stdio_stays_open_after_run() {
    let open = |fd: u32| std::fs::metadata(format!("/proc/self/fd/{fd}")).is_ok();
    let before: Vec<bool> = (0..3).map(open).collect();
    let wat = r#"(module (func (export "_start")))"#;
    assert_eq!(run_wat(wat, ARGS_ONLY), Ok((0, String::new())));
    assert_eq!((0..3).map(open).collect::<Vec<_>>(), before);
}

#[test]
fn proc_exit_in_the_start_function_is_the_exit_code() {
    let wat = r#"(module
         (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
         (memory (export "memory") 1)
         (func $s (call $exit (i32.const 3))) (start $s)
         (func (export "_start") (call $exit (i32.const 4))))"#;
    assert_eq!(run_wat(wat, ARGS_ONLY), Ok((3, String::new())));
    // proc_exit(0) there too: exit code 0, `_start` still not run.
    let wat = wat.replace("(i32.const 3)", "(i32.const 0)");
    assert_eq!(run_wat(&wat, ARGS_ONLY), Ok((0, String::new())));
}

#[test]
fn tags_fail_load() {
    // Exception handling stays off: a tag import or export never reaches
    // the SDK's import/export inspection (which panics on tags).
    for wat in [
        r#"(module (import "env" "t" (tag)) (func (export "_start")))"#,
        r#"(module (tag (export "t")) (func (export "_start")))"#,
    ] {
        let bytes = wat::parse_str(wat).expect("WAT");
        let err = load(&bytes).expect_err("tags need exception handling");
        assert!(err.starts_with("invalid wasm module: "), "{err}");
    }
}

/// A module importing `wasi_snapshot_preview1`.`name` with the function
/// type `ty` (WAT `(param ...) (result ...)`) and exiting with what
/// `call` returns (`call` uses the import as `$f`).
fn imports_wasi(name: &str, ty: &str, call: &str) -> String {
    format!(
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (import "wasi_snapshot_preview1" "{name}" (func $f {ty}))
             (memory (export "memory") 1)
             (func (export "_start") (call $exit {call})))"#
    )
}

/// WasmEdge 0.14.1 binds a socket import that has neither the V1 nor the
/// V2 type to the `_v2` function unchecked, and the call then aborts the
/// process (`stackmgr.h` `popFrame()` assertion): runwasm must refuse it
/// at instantiate.
#[test]
fn socket_imports_of_neither_wasmedge_type_fail_instantiate() {
    // The modules never call the import: with the check missing they
    // instantiate and exit 0, so the test fails instead of aborting.
    let wat = imports_wasi("sock_open", "(param i32) (result i32)", "(i32.const 0)");
    assert_eq!(
        run_wat(&wat, ARGS_ONLY),
        Err(r#"instantiate: import "wasi_snapshot_preview1"."sock_open" has type (i32) -> i32, but WasmEdge provides (i32, i32, i32) -> i32"#.to_owned())
    );
    // V1 and V2 differ: both are named.
    let wat = imports_wasi("sock_accept", "(param i32 i64)", "(i32.const 0)");
    assert_eq!(
        run_wat(&wat, ARGS_ONLY),
        Err(r#"instantiate: import "wasi_snapshot_preview1"."sock_accept" has type (i32, i64) -> (), but WasmEdge provides (i32, i32) -> i32 or (i32, i32, i32) -> i32"#.to_owned())
    );
    // The other nine, with a type none of them has.
    for name in [
        "sock_bind",
        "sock_connect",
        "sock_listen",
        "sock_recv",
        "sock_recv_from",
        "sock_send",
        "sock_send_to",
        "sock_getlocaladdr",
        "sock_getpeeraddr",
    ] {
        let wat = imports_wasi(name, "(result i64)", "(i32.const 0)");
        let err = run_wat(&wat, ARGS_ONLY).expect_err(name);
        let want = format!(
            r#"instantiate: import "wasi_snapshot_preview1"."{name}" has type () -> i64, but WasmEdge provides ("#
        );
        assert!(err.starts_with(&want), "{err}");
    }
}

/// Either version's type links (to that version) and can be called.
#[test]
fn socket_imports_of_either_wasmedge_type_instantiate_and_run() {
    // V1 = V2: AF_UNIX is refused with ENOSYS (52) before any socket is made.
    let wat = imports_wasi(
        "sock_open",
        "(param i32 i32 i32) (result i32)",
        "(call $f (i32.const 3) (i32.const 2) (i32.const 0))",
    );
    assert_eq!(run_wat(&wat, ARGS_ONLY), Ok((52, String::new())));
    // V1 (fd, *new_fd) and V2 (fd, fdflags, *new_fd): a bad fd is EBADF (8).
    let v1 = imports_wasi(
        "sock_accept",
        "(param i32 i32) (result i32)",
        "(call $f (i32.const 12345) (i32.const 0))",
    );
    let v2 = imports_wasi(
        "sock_accept",
        "(param i32 i32 i32) (result i32)",
        "(call $f (i32.const 12345) (i32.const 0) (i32.const 0))",
    );
    assert_eq!(run_wat(&v1, ARGS_ONLY), Ok((8, String::new())));
    assert_eq!(run_wat(&v2, ARGS_ONLY), Ok((8, String::new())));
}

/// Imports without a `_v2` sibling keep WasmEdge's own type check and
/// message, and modules without socket imports are untouched.
#[test]
fn other_imports_are_left_to_wasmedge() {
    for (name, ty) in [
        ("sock_open_v2", "(param i32) (result i32)"),
        ("sock_shutdown", "(param i32) (result i32)"),
        ("fd_write", "(param i32)"),
    ] {
        let wat = imports_wasi(name, ty, "(i32.const 0)");
        let err = run_wat(&wat, ARGS_ONLY).expect_err(name);
        let want = format!(
            r#"instantiate: incompatible import type for "wasi_snapshot_preview1"."{name}""#
        );
        assert!(err.starts_with(&want), "{err}");
    }
    let wat = r#"(module
         (import "wasi_snapshot_preview1" "sock_open" (global i32))
         (func (export "_start")))"#;
    let err = run_wat(wat, ARGS_ONLY).expect_err("a global is no function");
    assert!(
        err.starts_with("instantiate: ") && err.contains(r#""wasi_snapshot_preview1"."sock_open""#),
        "{err}"
    );
    let wat = imports_wasi(
        "fd_write",
        "(param i32 i32 i32 i32) (result i32)",
        "(i32.const 5)",
    );
    assert_eq!(run_wat(&wat, ARGS_ONLY), Ok((5, String::new())));
}
