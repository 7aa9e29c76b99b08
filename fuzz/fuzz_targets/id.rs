//! `id::validate`: an accepted container id is exactly one plain path
//! component under the state root, never `.`, `..`, or anything with `/`.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use runwasm_runtime::id;
use runwasm_runtime::state::StateStore;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if id::validate(s).is_err() {
        return;
    }
    assert!(
        !s.is_empty() && s.len() <= id::MAX_ID_LEN,
        "length of {s:?}"
    );
    assert!(
        s.is_ascii() && !s.contains(['/', '\0', ':']),
        "charset of {s:?}"
    );
    let mut c = Path::new(s).components();
    assert!(
        matches!(c.next(), Some(Component::Normal(n)) if n == s) && c.next().is_none(),
        "{s:?} is not one plain path component"
    );
    let root = Path::new("/run/runwasm-fuzz");
    let dir = StateStore::existing(root).container_path(s);
    assert_eq!(dir.parent(), Some(root), "{s:?} leaves the state root");
});
