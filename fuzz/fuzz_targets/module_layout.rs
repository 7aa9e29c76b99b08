//! `runwasm_wasm::layout::Layout::read`, which runs on a module's bytes
//! before WasmEdge sees them (`load` refuses what `check_limits` refuses),
//! and what is asked of a layout afterwards: never a panic, whatever the
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runwasm_wasm::layout::{Layout, TrapSource, MAX_FUNCTION_LOCALS, MAX_TABLE_ELEMENTS};

fuzz_target!(|data: &[u8]| {
    let Some(layout) = Layout::read(data) else {
        return;
    };
    let too_large = layout.tables.iter().any(|&t| t > MAX_TABLE_ELEMENTS)
        || layout
            .most_locals
            .is_some_and(|(_, n)| n > MAX_FUNCTION_LOCALS);
    assert_eq!(layout.check_limits().is_err(), too_large);
    for cap in [0, 1, 768, 65536, u32::MAX] {
        let over = layout.memories.iter().any(|&m| m > u64::from(cap));
        assert_eq!(layout.memory_over_cap(cap).is_some(), over, "cap {cap}");
    }
    if let TrapSource::Segment(m) = layout.why_trapped() {
        assert!(m.contains("segment"), "{m}");
    }
});
