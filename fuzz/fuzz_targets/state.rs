//! `State::from_bytes`, which every command on a container runs on its
//! state.json: never a panic; an accepted state has the id asked for, a pid
//! that is not negative, absolute paths and a cgroup that is a container's;
//! it reads back as itself once written (as `save` writes it), and the hook
//! state made from it is JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runwasm_runtime::state::{State, Status};

const ID: &str = "fuzz";

fuzz_target!(|data: &[u8]| {
    let Ok(state) = State::from_bytes(data, ID) else {
        return;
    };
    assert_eq!(state.id, ID);
    assert!(state.pid >= 0, "pid {}", state.pid);
    assert!(state.bundle.is_absolute() && state.rootfs.is_absolute());
    if let Some(cg) = &state.cgroup {
        assert!(
            cg.path
                .components()
                .any(|c| matches!(c, std::path::Component::Normal(_))),
            "cgroup {:?}",
            cg.path
        );
        assert!(
            !cg.path
                .to_string_lossy()
                .split(['/', ':'])
                .any(|c| c == ".."),
            "cgroup {:?}",
            cg.path
        );
    }
    let saved = serde_json::to_vec(&state).expect("serialize an accepted state");
    let again =
        State::from_bytes(&saved, ID).unwrap_or_else(|e| panic!("a saved state is refused: {e}"));
    assert_eq!(
        serde_json::to_vec(&again).unwrap(),
        saved,
        "a saved state changes"
    );
    for status in [Status::Creating, Status::Running, Status::Stopped] {
        let hook = state.hook_json(status);
        serde_json::from_str::<serde_json::Value>(&hook).expect("hook state is JSON");
    }
});
