//! AOT through the exported ABI: `runwasm_wasm_compile`, then
//! `runwasm_wasm_load_file` + instantiate + run, against the interpreter.
//!
//! Programs whose stdout is compared run in a child process (this test
//! binary again, running only [`child_entry`]), since WASI writes to the
//! process's own fd 1.

use std::ffi::{c_void, CString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::c_tests::{compile_c, Scratch};
use super::{exits_with, grows_by, instantiate, message, run, run_bytes, ARGS_ONLY, ERR_CAP};
use crate::abi::{
    runwasm_wasm_compile, runwasm_wasm_has_aot_section, runwasm_wasm_load_file, COMPILE_FAILED,
    RUN_TRAP,
};
use crate::aot;

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("no NUL in test paths")
}

/// `runwasm_wasm_compile`, as a `Result`.
fn compile(bytes: &[u8], out: &Path) -> Result<(), String> {
    let mut err = [0u8; ERR_CAP];
    let out = c_path(out);
    // SAFETY: the buffers are valid for their lengths, `out` is a C string.
    let code = unsafe {
        runwasm_wasm_compile(
            bytes.as_ptr(),
            bytes.len(),
            out.as_ptr(),
            err.as_mut_ptr(),
            ERR_CAP,
        )
    };
    match code {
        0 => Ok(()),
        COMPILE_FAILED => Err(message(&err)),
        other => panic!("runwasm_wasm_compile returned {other}"),
    }
}

/// `runwasm_wasm_load_file`, as a `Result`.
fn load_file(path: &Path) -> Result<*mut c_void, String> {
    let mut err = [0u8; ERR_CAP];
    let path = c_path(path);
    // SAFETY: `path` is a C string, `err` is valid.
    let h = unsafe { runwasm_wasm_load_file(path.as_ptr(), err.as_mut_ptr(), ERR_CAP) };
    if h.is_null() {
        Err(message(&err))
    } else {
        Ok(h)
    }
}

/// load_file + instantiate + run; `Err` names the phase that failed.
fn run_file(path: &Path, json: &str) -> Result<(i32, String), String> {
    let loaded = load_file(path).map_err(|e| format!("load: {e}"))?;
    let instance = instantiate(loaded, json).map_err(|e| format!("instantiate: {e}"))?;
    Ok(run(instance))
}

fn has_aot(bytes: &[u8]) -> bool {
    // SAFETY: `bytes` is valid for its length.
    match unsafe { runwasm_wasm_has_aot_section(bytes.as_ptr(), bytes.len()) } {
        0 => false,
        1 => true,
        other => panic!("runwasm_wasm_has_aot_section returned {other}"),
    }
}

/// Compiles `wasm` into `dir/name.aot.wasm`, returning its path.
fn compiled(dir: &Path, name: &str, wasm: &[u8]) -> PathBuf {
    let out = dir.join(format!("{name}.aot.wasm"));
    compile(wasm, &out).unwrap_or_else(|e| panic!("compiling {name}: {e}"));
    out
}

/// The files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read scratch dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

const CHILD_ENV: &str = "RUNWASM_WASM_TEST_CHILD";
const BEGIN: &str = "\x1e<child output>\n";
const END: &str = "\x1e<child result>";

/// Not a test of its own: when [`CHILD_ENV`] is set (`MODE:PATH\nJSON`,
/// MODE `interp` or `aot`), runs the module at PATH, writes its stdout
/// between markers and the run's result after them, and exits.
#[test]
fn child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (head, json) = spec.split_once('\n').expect("MODE:PATH\\nJSON");
    let (mode, path) = head.split_once(':').expect("MODE:PATH");
    let path = Path::new(path);
    let mut out = std::io::stdout();
    out.write_all(BEGIN.as_bytes()).expect("stdout");
    out.flush().expect("stdout");
    let result = match mode {
        "interp" => run_bytes(&std::fs::read(path).expect("read module"), json),
        "aot" => run_file(path, json),
        other => panic!("unknown mode {other}"),
    };
    out.write_all(format!("{END}{result:?}\n").as_bytes())
        .expect("stdout");
    out.flush().expect("stdout");
    std::process::exit(0);
}

/// Runs `path` (`mode` as for [`child_entry`]) in a child process: the
/// module's stdout and the run's result (`Debug` of what `run_bytes` or
/// `run_file` returned).
fn in_child(mode: &str, path: &Path, json: &str) -> (String, String) {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([
            "tests::aot_tests::child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{mode}:{}\n{json}", path.display()))
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (_, rest) = stdout.split_once(BEGIN).unwrap_or_else(|| {
        panic!(
            "child printed no output marker ({}): {stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let (module_out, result) = rest
        .split_once(END)
        .unwrap_or_else(|| panic!("child ended early ({}): {rest}", out.status));
    (module_out.to_owned(), result.trim_end().to_owned())
}

/// Runs `wasm` interpreted and compiled, each in a child process, checks
/// that stdout and result agree and returns them.
fn same_both_ways(scratch: &Scratch, name: &str, wasm: &[u8], json: &str) -> (String, String) {
    let plain = scratch.path().join(format!("{name}.wasm"));
    std::fs::write(&plain, wasm).expect("write module");
    let aot = compiled(scratch.path(), name, wasm);
    let interp = in_child("interp", &plain, json);
    let native = in_child("aot", &aot, json);
    assert_eq!(native, interp, "{name}: AOT differs from the interpreter");
    native
}

const HELLO: &str = r#"
#include <stdio.h>
int main(void) { printf("hello from wasm\n"); return 0; }
"#;

const ARGS_ENV_EXIT: &str = r#"
#include <stdio.h>
#include <stdlib.h>
extern char **environ;
int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) printf("arg=%s\n", argv[i]);
    for (char **e = environ; *e; e++) printf("env=%s\n", *e);
    fflush(stdout);
    if (argc > 1) exit(atoi(argv[1]));
    return 3;
}
"#;

#[test]
fn c_programs_print_and_exit_alike_compiled() {
    let scratch = Scratch::new("aot-c");
    let Some(hello) = compile_c(&scratch, HELLO) else {
        return;
    };
    let json = r#"{"args":["hello"]}"#;
    assert_eq!(
        same_both_ways(&scratch, "hello", &hello, json),
        ("hello from wasm\n".to_owned(), "Ok((0, \"\"))".to_owned())
    );
    let Some(prog) = compile_c(&scratch, ARGS_ENV_EXIT) else {
        return;
    };
    let (out, result) = same_both_ways(
        &scratch,
        "args",
        &prog,
        r#"{"args":["p","17"],"env":["A=1"]}"#,
    );
    assert_eq!(out, "arg=p\narg=17\nenv=A=1\n");
    assert_eq!(result, "Ok((17, \"\"))");
    let (_, result) = same_both_ways(&scratch, "args", &prog, r#"{"args":["p"]}"#);
    assert_eq!(result, "Ok((3, \"\"))");
}

#[test]
fn exit_codes_and_traps_are_the_interpreters() {
    let scratch = Scratch::new("aot-wat");
    let mut cases: Vec<(String, String)> = ["(i32.const 42)", "(i32.const 0)", "(i32.const -1)"]
        .iter()
        .map(|e| (exits_with(e), ARGS_ONLY.to_owned()))
        .collect();
    for body in [
        "unreachable",
        "(drop (i32.div_s (i32.const 1) (i32.const 0)))",
        "(drop (i32.div_s (i32.const 0x80000000) (i32.const -1)))",
        "(drop (i32.load (i32.const 70000)))",
        "(i32.store (i32.const 65534) (i32.const 1))",
        "(drop (i32.trunc_f32_s (f32.const nan)))",
        "(call_indirect (i32.const 5))",
        "(call_indirect (i32.const 0))",
    ] {
        let wat = format!(
            r#"(module (memory 1) (table 1 funcref) (elem (i32.const 0) $f)
                 (func $f (param i32))
                 (func (export "_start") {body}))"#
        );
        cases.push((wat, ARGS_ONLY.to_owned()));
    }
    // The memory cap, and proc_exit in the start function.
    let capped = r#"{"args":["/m.wasm"],"max_memory_pages":4}"#;
    cases.push((grows_by(3), capped.to_owned()));
    cases.push((grows_by(4), capped.to_owned()));
    cases.push((
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func $s (call $exit (i32.const 3))) (start $s)
             (func (export "_start") (call $exit (i32.const 4))))"#
            .to_owned(),
        ARGS_ONLY.to_owned(),
    ));
    let mut traps = 0;
    for (i, (wat, json)) in cases.iter().enumerate() {
        let wasm = wat::parse_str(wat).expect("WAT");
        let interp = run_bytes(&wasm, json);
        let aot = compiled(scratch.path(), &format!("m{i}"), &wasm);
        assert_eq!(run_file(&aot, json), interp, "{wat}");
        traps += usize::from(matches!(interp, Ok((RUN_TRAP, _))));
    }
    assert_eq!(traps, 8);
}

#[test]
fn instantiate_failures_are_the_interpreters() {
    let scratch = Scratch::new("aot-inst");
    for wat in [
        r#"(module (import "env" "foo" (func)) (func (export "_start")))"#,
        r#"(module (func $s unreachable) (start $s) (func (export "_start")))"#,
        r#"(module (memory (export "memory") 8) (func (export "_start")))"#,
        r#"(module (func (export "main")))"#,
    ] {
        let wasm = wat::parse_str(wat).expect("WAT");
        let json = r#"{"args":["/m.wasm"],"max_memory_pages":4}"#;
        let aot = compiled(scratch.path(), "m", &wasm);
        assert_eq!(run_file(&aot, json), run_bytes(&wasm, json), "{wat}");
    }
}

/// The C stack lives in linear memory: overflowing it is an out of bounds
/// access, trapped in native code as in the interpreter.
#[test]
fn c_deep_recursion_traps_compiled() {
    let scratch = Scratch::new("aot-recursion");
    let src = r#"
int f(volatile int n) { volatile char pad[64]; pad[0] = (char)n; return f(n + 1) + pad[0]; }
int main(void) { return f(0); }
"#;
    let Some(wasm) = compile_c(&scratch, src) else {
        return;
    };
    let aot = compiled(scratch.path(), "rec", &wasm);
    assert_eq!(
        run_file(&aot, r#"{"args":["p"]}"#),
        Ok((RUN_TRAP, "out of bounds memory access".to_owned()))
    );
}

const KERNEL: &str = r#"
#include <stdio.h>
#include <stdlib.h>
static double a[200][200], b[200][200];
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) { a[i][j] = i + 0.5 * j; b[i][j] = i - j; }
    double t = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += a[i][k] * b[k][j];
            t += s * (i ^ j);
        }
    if (argc > 2) printf("%.1f\n", t);
    return (int)t & 0x7f;
}
"#;

/// The native code runs: the same result, many times faster than the
/// interpreter (about 50x here; 5x is asked, for noisy machines).
#[test]
fn compiled_code_runs_natively() {
    let scratch = Scratch::new("aot-kernel");
    let Some(wasm) = compile_c(&scratch, KERNEL) else {
        return;
    };
    let (out, _) = same_both_ways(&scratch, "kernel", &wasm, r#"{"args":["k","150","print"]}"#);
    assert_eq!(out, "54531712612.5\n");
    // Timed in this process, without output.
    let json = r#"{"args":["k","150"]}"#;
    let aot = scratch.path().join("kernel.aot.wasm");
    let time = |f: &dyn Fn() -> Result<(i32, String), String>| {
        let start = Instant::now();
        let res = f();
        (res, start.elapsed())
    };
    let best = |f: &dyn Fn() -> Result<(i32, String), String>| {
        (0..3)
            .map(|_| time(f))
            .min_by_key(|(_, d)| *d)
            .expect("three runs")
    };
    let (interp_res, interp) = best(&|| run_bytes(&wasm, json));
    let (aot_res, native) = best(&|| run_file(&aot, json));
    assert_eq!(aot_res, interp_res);
    assert!(
        native * 5 < interp,
        "AOT {native:?} vs interpreter {interp:?}: is the native code used?"
    );
    assert!(interp > Duration::from_millis(20), "{interp:?}");
}

#[test]
fn compiled_files_carry_an_aot_section_and_plain_ones_load_too() {
    let scratch = Scratch::new("aot-has");
    let wasm = wat::parse_str(exits_with("(i32.const 5)")).expect("WAT");
    assert!(!has_aot(&wasm));
    let aot = compiled(scratch.path(), "m", &wasm);
    let bytes = std::fs::read(&aot).expect("read");
    assert!(has_aot(&bytes));
    // The original module comes first, unchanged.
    assert_eq!(&bytes[..wasm.len()], &wasm[..]);
    assert!(!has_aot(b"not wasm"));
    assert!(!has_aot(&bytes[..bytes.len() - 1]));
    // A plain module loads from a file too (interpreted).
    let plain = scratch.path().join("plain.wasm");
    std::fs::write(&plain, &wasm).expect("write");
    assert_eq!(run_file(&plain, ARGS_ONLY), Ok((5, String::new())));
    assert_eq!(listing(scratch.path()), ["m.aot.wasm", "plain.wasm"]);
}

#[test]
fn compile_failures_leave_no_file() {
    let scratch = Scratch::new("aot-fail");
    let out = scratch.path().join("out.wasm");
    for (bytes, want) in [
        (
            &b"hello world"[..],
            "invalid wasm module: magic header not detected",
        ),
        (&b""[..], "invalid wasm module: unexpected end"),
    ] {
        assert_eq!(compile(bytes, &out), Err(want.to_owned()));
    }
    let bad = wat::parse_str(r#"(module (func (result i32) (i64.const 1)))"#).expect("WAT");
    assert_eq!(
        compile(&bad, &out),
        Err("invalid wasm module: type mismatch".to_owned())
    );
    assert!(listing(scratch.path()).is_empty());
    let good = wat::parse_str(exits_with("(i32.const 1)")).expect("WAT");
    let err = compile(&good, &scratch.path().join("no/such/dir/out.wasm")).expect_err("no dir");
    assert!(err.starts_with("cannot create "), "{err}");
    assert!(
        err.ends_with("No such file or directory (os error 2)"),
        "{err}"
    );
    // An existing file is replaced only by a complete one.
    std::fs::write(&out, "old").expect("write");
    assert!(compile(b"junk", &out).is_err());
    assert_eq!(std::fs::read(&out).expect("read"), b"old");
    compile(&good, &out).expect("compiles");
    assert!(has_aot(&std::fs::read(&out).expect("read")));
    assert_eq!(listing(scratch.path()), ["out.wasm"]);
}

#[test]
fn damaged_compiled_files_fail_load_file_cleanly() {
    let scratch = Scratch::new("aot-damage");
    let wasm = wat::parse_str(exits_with("(i32.add (i32.const 40) (i32.const 2))")).expect("WAT");
    let aot = compiled(scratch.path(), "m", &wasm);
    let good = std::fs::read(&aot).expect("read");
    assert_eq!(run_file(&aot, ARGS_ONLY), Ok((42, String::new())));
    let bad = scratch.path().join("bad.wasm");
    let (header, text) = aot::native_layout(&good).expect("an AOT section with code");
    let len = good.len();
    // Byte flips: in the module, the AOT section's header, its native
    // code, the seal's digest.
    let mid = (text.start + text.end) / 2;
    for at in [
        9,
        wasm.len() - 2,
        header + 3,
        text.start,
        mid,
        text.end - 1,
        len - 1,
        len - 20,
    ] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x5a;
        std::fs::write(&bad, &bytes).expect("write");
        let err = run_file(&bad, ARGS_ONLY).expect_err(&format!("flip at {at}"));
        assert!(
            err.starts_with(&format!("load: unusable AOT module {bad:?}: "))
                || err.starts_with("load: invalid wasm module: "),
            "flip at {at}: {err}"
        );
    }
    // Truncations.
    for n in [len - 1, len - 40, len / 2, wasm.len() + 3, 9] {
        std::fs::write(&bad, &good[..n]).expect("write");
        let err = run_file(&bad, ARGS_ONLY).expect_err(&format!("cut at {n}"));
        assert!(err.starts_with("load: "), "cut at {n}: {err}");
    }
    std::fs::write(&bad, &good[..len / 2]).expect("write");
    let err = load_file(&bad).expect_err("truncated");
    assert!(
        err.starts_with("invalid wasm module: section at offset ")
            && err.ends_with(": unexpected end (truncated file?)"),
        "{err}"
    );
    let mut flipped = good.clone();
    flipped[len - 1] ^= 1;
    std::fs::write(&bad, &flipped).expect("write");
    assert_eq!(
        load_file(&bad).expect_err("flipped"),
        format!("unusable AOT module {bad:?}: checksum mismatch: the file is corrupt or truncated")
    );
    let missing = scratch.path().join("missing.wasm");
    let err = load_file(&missing).expect_err("missing");
    assert_eq!(
        err,
        format!("cannot read {missing:?}: No such file or directory (os error 2)")
    );
}

/// The byte range of the seal: the last section.
fn unsealed(file: &[u8]) -> &[u8] {
    let secs = aot::sections(file).expect("sections");
    let last = secs.last().expect("a section");
    assert!(matches!(last.custom, Some((name, _)) if name == aot::SEAL_SECTION));
    &file[..last.start]
}

#[test]
fn files_for_another_cpu_or_wasmedge_fail_load_file() {
    let scratch = Scratch::new("aot-target");
    let wasm = wat::parse_str(exits_with("(i32.const 7)")).expect("WAT");
    let good = std::fs::read(compiled(scratch.path(), "m", &wasm)).expect("read");
    let body = unsealed(&good);
    let here = crate::engine::target();
    let other = scratch.path().join("other.wasm");
    for (target, want) in [
        (
            aot::Target {
                cpu: "x86_64 sse3".into(),
                ..here.clone()
            },
            "compiled for another CPU",
        ),
        (
            aot::Target {
                engine: "0.13.5".into(),
                ..here.clone()
            },
            "compiled for WasmEdge 0.13.5, this is WasmEdge 0.14.",
        ),
    ] {
        std::fs::write(&other, [body, &aot::seal(body, &target)].concat()).expect("write");
        let err = load_file(&other).expect_err(want);
        assert!(
            err.starts_with(&format!("unusable AOT module {other:?}: {want}")),
            "{err}"
        );
    }
    // Resealed for this host, it loads again; unsealed too (WasmEdge's own
    // output, structurally checked).
    std::fs::write(&other, [body, &aot::seal(body, here)].concat()).expect("write");
    assert_eq!(run_file(&other, ARGS_ONLY), Ok((7, String::new())));
    std::fs::write(&other, body).expect("write");
    assert_eq!(run_file(&other, ARGS_ONLY), Ok((7, String::new())));
    // Another AOT format version (the content's first byte).
    let (at, _) = aot::native_layout(body).expect("AOT section");
    let mut bytes = body.to_vec();
    assert_eq!(bytes[at], 1, "AOT format version");
    bytes[at] = 2;
    std::fs::write(&other, &bytes).expect("write");
    let err = load_file(&other).expect_err("format 2");
    assert!(err.contains("its native code is in AOT format 2"), "{err}");
}

/// `wasmedge compile` writes the same kind of file, which runs natively
/// here, and `wasmedge` runs runwasm's (sealed) output.
#[test]
fn wasmedge_cli_interoperates() {
    let scratch = Scratch::new("aot-cli");
    let Some(hello) = compile_c(&scratch, HELLO) else {
        return;
    };
    let plain = scratch.path().join("hello.wasm");
    std::fs::write(&plain, &hello).expect("write");
    let theirs = scratch.path().join("theirs.wasm");
    match Command::new("wasmedge")
        .arg("compile")
        .arg(&plain)
        .arg(&theirs)
        .output()
    {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("SKIPPED: `wasmedge compile` is not available: {other:?}");
            return;
        }
    }
    let theirs_bytes = std::fs::read(&theirs).expect("read");
    assert!(has_aot(&theirs_bytes));
    assert_eq!(
        in_child("aot", &theirs, r#"{"args":["hello"]}"#),
        ("hello from wasm\n".to_owned(), "Ok((0, \"\"))".to_owned())
    );
    let ours = compiled(scratch.path(), "hello", &hello);
    let ours_bytes = std::fs::read(&ours).expect("read");
    // The same AOT section layout; runwasm's adds the seal.
    assert_eq!(
        aot::sections(unsealed(&ours_bytes))
            .expect("sections")
            .len(),
        aot::sections(&theirs_bytes).expect("sections").len()
    );
    let out = Command::new("wasmedge")
        .arg(&ours)
        .output()
        .expect("wasmedge");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from wasm\n");
}
