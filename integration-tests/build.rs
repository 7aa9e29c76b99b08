//! Compiles the C test modules in `modules/*.c` to WASI modules in
//! `$OUT_DIR/modules/NAME.wasm` and tells the tests where they are through
//! `RUNWASM_TEST_MODULES`.
//!
//! Needs clang with the wasm32-wasi target, wasi-libc and the wasm32
//! compiler-rt builtins (`scripts/setup.sh` installs them). `RUNWASM_TEST_CLANG`
//! overrides the compiler.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const SETUP_HINT: &str = "run `scripts/setup.sh` (as root) to install clang, lld, wasi-libc and \
     the wasm32 compiler-rt builtins (libclang-rt-NN-dev-wasm32)";

/// Extra flags some modules need.
fn extra_flags(name: &str) -> &'static [&'static str] {
    match name {
        // The import is resolved by no host: keep it as an import.
        "unknown_import" => &["-Wl,--allow-undefined"],
        _ => &[],
    }
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let src_dir = manifest_dir.join("modules");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("modules");
    fs::create_dir_all(&out_dir).expect("create $OUT_DIR/modules");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", src_dir.display());
    println!("cargo:rerun-if-env-changed=RUNWASM_TEST_CLANG");

    let clang = env::var("RUNWASM_TEST_CLANG").unwrap_or_else(|_| "clang".to_string());
    match Command::new(&clang).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{clang} --version` failed ({}): {}\n{SETUP_HINT}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run `{clang}` to build the Wasm test modules: {e}\n{SETUP_HINT}"),
    }

    let mut sources: Vec<PathBuf> = fs::read_dir(&src_dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", src_dir.display()))
        .map(|e| e.expect("read_dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    assert!(!sources.is_empty(), "no C modules in {}", src_dir.display());

    for src in &sources {
        println!("cargo:rerun-if-changed={}", src.display());
        compile(&clang, src, &out_dir);
    }

    println!("cargo:rustc-env=RUNWASM_TEST_MODULES={}", out_dir.display());
}

fn compile(clang: &str, src: &Path, out_dir: &Path) {
    let name = src
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("module file name is UTF-8");
    let out = out_dir.join(format!("{name}.wasm"));
    let output = Command::new(clang)
        .arg("--target=wasm32-wasi")
        .arg("-O2")
        .arg("-Wall")
        .args(extra_flags(name))
        .arg("-o")
        .arg(&out)
        .arg(src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{clang}`: {e}\n{SETUP_HINT}"));
    if !output.status.success() {
        panic!(
            "compiling test module {} failed ({}):\n{}{}\n\
             If wasi-libc or the wasm32 builtins are missing: {SETUP_HINT}",
            src.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let bytes = fs::read(&out).unwrap_or_else(|e| panic!("read {}: {e}", out.display()));
    assert!(
        bytes.starts_with(b"\0asm"),
        "{} is not a Wasm module",
        out.display()
    );
}
