//! `config::validate_bytes`: every check `create` makes of config.json
//! before it looks at the bundle's files. It must never panic, and what it
//! accepts must hold what the rest of runwasm relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runwasm_runtime::config;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = config::validate_bytes(data) else {
        return;
    };
    let process = spec.process().as_ref().expect("accepted without a process");
    let args = process.args().as_deref().unwrap_or_default();
    assert!(
        !args.is_empty() && !args[0].is_empty(),
        "accepted without args"
    );
    assert!(process.cwd().is_absolute(), "accepted a relative cwd");
    for s in args.iter().chain(process.env().iter().flatten()) {
        assert!(!s.contains('\0'), "accepted a NUL byte: {s:?}");
    }
    for kv in process.env().iter().flatten() {
        assert!(kv.find('=').is_some_and(|i| i > 0), "accepted env {kv:?}");
    }
    let root = spec.root().as_ref().expect("accepted without root");
    assert!(
        !root.path().as_os_str().is_empty(),
        "accepted an empty root.path"
    );
    // runwasm writes parts of the spec back (the hooks into state.json, the
    // process for exec): what it accepted must read back the same.
    let again = serde_json::to_vec(&spec).expect("serialize an accepted spec");
    let reread = config::validate_bytes(&again)
        .unwrap_or_else(|e| panic!("an accepted spec, written back, is refused: {e}"));
    // (Compared as values: capability sets are hash sets, written in any
    // order.)
    assert!(
        reread == spec,
        "an accepted spec changes when written back and read again:\n{spec:?}\n{reread:?}"
    );
});
