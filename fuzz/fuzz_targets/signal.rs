//! `signal::parse`, as `kill ID SIGNAL` uses it: never a panic, only
//! signals kill(2) takes, and every accepted signal reads back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runwasm_runtime::signal;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(n) = signal::parse(s) else {
        return;
    };
    assert!((0..=libc::SIGRTMAX()).contains(&n), "{s:?} gave {n}");
    assert_eq!(
        signal::parse(&n.to_string()).ok(),
        Some(n),
        "{n} as a number"
    );
});
