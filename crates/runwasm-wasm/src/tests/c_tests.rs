//! Tests on C programs compiled to wasm32-wasi with clang at test time.
//! Each test prints why it is skipped when clang (or its wasi-libc sysroot)
//! is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run_bytes, RUN_TRAP};

/// A scratch directory, removed on drop.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("runwasm-wasm-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `src` with `clang --target=wasm32-wasi -O2`; `None` (after
/// printing the reason) when that toolchain is not available.
pub(super) fn compile_c(scratch: &Scratch, src: &str) -> Option<Vec<u8>> {
    let c = scratch.path().join("prog.c");
    let wasm = scratch.path().join("prog.wasm");
    std::fs::write(&c, src).expect("write C source");
    let out = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-o"])
        .arg(&wasm)
        .arg(&c)
        .output();
    match out {
        Err(e) => {
            eprintln!("SKIPPED: clang not found ({e}); install clang, lld and wasi-libc");
            None
        }
        Ok(o) if !o.status.success() => {
            eprintln!(
                "SKIPPED: clang cannot build wasm32-wasi programs:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Ok(_) => Some(std::fs::read(&wasm).expect("read compiled module")),
    }
}

const ENV_AND_FILES: &str = r#"
#include <stdio.h>
#include <stdlib.h>
extern char **environ;
int main(int argc, char **argv) {
    char buf[256] = {0};
    FILE *in = fopen("/data/in.txt", "r");
    if (!in) return 10;
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    fclose(in);
    FILE *out = fopen("/data/sub/out.txt", "w");
    if (!out) return 11;
    fprintf(out, "in=%.*s\n", (int)n, buf);
    for (int i = 0; i < argc; i++) fprintf(out, "arg=%s\n", argv[i]);
    for (char **e = environ; *e; e++) fprintf(out, "env=%s\n", *e);
    const char *home = getenv("HOME");
    fprintf(out, "HOME=%s\n", home ? home : "(unset)");
    fclose(out);
    if (fopen("/etc/passwd", "r")) return 12;
    return 3;
}
"#;

#[test]
fn c_program_sees_only_configured_env_args_and_dirs() {
    let scratch = Scratch::new("env");
    let Some(wasm) = compile_c(&scratch, ENV_AND_FILES) else {
        return;
    };
    let data = scratch.path().join("data");
    std::fs::create_dir_all(data.join("sub")).expect("mkdir");
    std::fs::write(data.join("in.txt"), "from host").expect("write input");
    let json = format!(
        r#"{{"args":["prog","x y"],"env":["A=1","B=two=2"],"preopens":[{{"guest":"/data","host":{:?}}}]}}"#,
        data.to_string_lossy()
    );
    assert_eq!(run_bytes(&wasm, &json), Ok((3, String::new())));
    let out = std::fs::read_to_string(data.join("sub/out.txt")).expect("guest wrote out.txt");
    assert_eq!(
        out,
        "in=from host\narg=prog\narg=x y\nenv=A=1\nenv=B=two=2\nHOME=(unset)\n"
    );
}

#[test]
fn c_exit_and_return_codes() {
    let scratch = Scratch::new("exit");
    let src = r#"
#include <stdlib.h>
int main(int argc, char **argv) {
    if (argc > 1) exit(atoi(argv[1]));
    return 5;
}
"#;
    let Some(wasm) = compile_c(&scratch, src) else {
        return;
    };
    assert_eq!(
        run_bytes(&wasm, r#"{"args":["p"]}"#),
        Ok((5, String::new()))
    );
    assert_eq!(
        run_bytes(&wasm, r#"{"args":["p","17"]}"#),
        Ok((17, String::new()))
    );
    assert_eq!(
        run_bytes(&wasm, r#"{"args":["p","0"]}"#),
        Ok((0, String::new()))
    );
}

#[test]
fn c_deep_recursion_traps() {
    let scratch = Scratch::new("recursion");
    // Unbounded recursion overflows the C stack, which lives in linear
    // memory: it wraps below address 0 and traps.
    let src = r#"
int f(volatile int n) { volatile char pad[64]; pad[0] = (char)n; return f(n + 1) + pad[0]; }
int main(void) { return f(0); }
"#;
    let Some(wasm) = compile_c(&scratch, src) else {
        return;
    };
    assert_eq!(
        run_bytes(&wasm, r#"{"args":["p"]}"#),
        Ok((RUN_TRAP, "out of bounds memory access".to_owned()))
    );
}
