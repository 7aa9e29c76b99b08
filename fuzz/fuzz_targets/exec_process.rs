//! `container::parse_process`, the `exec --process FILE` JSON: never a
//! panic; what it accepts has args, an absolute cwd, `KEY=VALUE` env and no
//! NUL byte, and can be sized for execve (`workload::exec_size_error`).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use runwasm_runtime::{config, container, workload};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = container::parse_process(data, Path::new("process.json")) else {
        return;
    };
    config::check_process(&p, "").expect("accepted, then refused by check_process");
    let args = p.args().clone().unwrap_or_default();
    assert!(!args.is_empty() && !args[0].is_empty());
    assert!(p.cwd().is_absolute());
    let env = p.env().clone().unwrap_or_default();
    let limits = workload::ExecLimits {
        page_size: 4096,
        stack_soft: 8 << 20,
    };
    let _ = workload::exec_size_error(&args[0], &args, &env, limits, ("args", "env"));
    let _ = workload::exec_size_error(
        &args[0],
        &args,
        &env,
        workload::ExecLimits::for_process(&p),
        ("args", "env"),
    );
});
