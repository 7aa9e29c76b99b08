//! Turning a `WasmEdge_Result` into runwasm's messages.
//!
//! WasmEdge's own messages are mostly good one-liners ("integer divide by
//! zero", "out of bounds memory access"); the few that are terse in a
//! container's log are reworded here.

use std::ffi::CStr;

use crate::ffi;

/// Execution-phase error codes (`enum.inc`, 0x04xx) that are WebAssembly
/// traps, i.e. the guest's fault rather than the host's. 0x0400..0x0403 are
/// WasmEdge-internal or API misuse (e.g. invoking with wrong arguments).
const TRAP_CODES: std::ops::RangeInclusive<u32> = 0x0404..=0x04FF;
/// `HostFuncError`: a host function failed; not a trap of the guest.
const HOST_FUNC_ERROR: u32 = 0x040E;
/// `Terminated`: WASI `proc_exit` ended the guest.
const TERMINATED: u32 = 0x0001;
/// `Unreachable`, whose WasmEdge message is just "unreachable".
const UNREACHABLE: u32 = 0x040A;
/// `UnknownImport` / `IncompatibleImportType` (instantiation phase).
pub const UNKNOWN_IMPORT: u32 = 0x0302;
pub const INCOMPATIBLE_IMPORT_TYPE: u32 = 0x0301;

/// A failed (or terminated) WasmEdge call, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error code, without the category.
    pub code: u32,
    /// True for a trap of the guest.
    pub trap: bool,
    /// One line naming the problem.
    pub message: String,
}

/// `Ok(())` when WasmEdge reports success (or a WASI `proc_exit`, which
/// WasmEdge calls "terminated" and counts as OK), else the decoded failure.
pub fn check(res: ffi::WasmEdgeResult) -> Result<(), Failure> {
    // SAFETY: these WasmEdge functions only decode the plain `Code` integer
    // of the struct passed by value.
    let (ok, code, category) = unsafe {
        (
            ffi::WasmEdge_ResultOK(res),
            ffi::WasmEdge_ResultGetCode(res),
            ffi::WasmEdge_ResultGetCategory(res),
        )
    };
    if ok {
        return Ok(());
    }
    if category != ffi::ERR_CATEGORY_WASM {
        return Err(Failure {
            code,
            trap: false,
            message: format!("host function failed with user error code {code:#x}"),
        });
    }
    let trap = TRAP_CODES.contains(&code) && code != HOST_FUNC_ERROR;
    let message = match code {
        UNREACHABLE => "unreachable instruction executed".to_owned(),
        _ => wasmedge_message(res),
    };
    Err(Failure {
        code,
        trap,
        message,
    })
}

/// Whether `res` is WasmEdge's "terminated", i.e. WASI `proc_exit` was
/// called.
pub fn is_terminated(res: ffi::WasmEdgeResult) -> bool {
    // SAFETY: these functions only decode the integer passed by value.
    unsafe {
        ffi::WasmEdge_ResultGetCategory(res) == ffi::ERR_CATEGORY_WASM
            && ffi::WasmEdge_ResultGetCode(res) == TERMINATED
    }
}

/// WasmEdge's message for `res`.
fn wasmedge_message(res: ffi::WasmEdgeResult) -> String {
    // SAFETY: WasmEdge_ResultGetMessage returns a pointer to a static
    // NUL-terminated string (or NULL, checked below).
    let ptr = unsafe { ffi::WasmEdge_ResultGetMessage(res) };
    if ptr.is_null() {
        return format!("WasmEdge error {:#x}", res.code);
    }
    // SAFETY: `ptr` is non-NULL, NUL-terminated and static (see above).
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Copies a `WasmEdge_String` borrowed from a live WasmEdge context.
///
/// # Safety
/// `s.buf` must point to `s.length` readable bytes (or be NULL).
pub unsafe fn string_lossy(s: ffi::WasmEdgeString) -> String {
    if s.buf.is_null() || s.length == 0 {
        return String::new();
    }
    // SAFETY: guaranteed by the caller; u32 always fits usize on the
    // 32/64-bit targets WasmEdge supports.
    let bytes = unsafe { std::slice::from_raw_parts(s.buf.cast::<u8>(), s.length as usize) };
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: u32) -> ffi::WasmEdgeResult {
        ffi::WasmEdgeResult { code }
    }

    #[test]
    fn success_and_terminated_are_ok() {
        assert!(check(res(0x00)).is_ok());
        assert!(check(res(0x01)).is_ok());
        assert!(is_terminated(res(0x01)) && !is_terminated(res(0x00)));
    }

    #[test]
    fn traps_are_named() {
        for (code, msg) in [
            (0x040A, "unreachable instruction executed"),
            (0x0404, "integer divide by zero"),
            (0x0405, "integer overflow"),
            (0x0408, "out of bounds memory access"),
            (0x0407, "out of bounds table access"),
            (0x040D, "indirect call type mismatch"),
        ] {
            let f = check(res(code)).expect_err("a trap");
            assert!(f.trap, "{code:#x}");
            assert_eq!(f.message, msg);
        }
    }

    #[test]
    fn other_failures_are_not_traps() {
        let f = check(res(0x0302)).expect_err("unknown import");
        assert!(!f.trap);
        assert_eq!(f.message, "unknown import");
        assert!(!check(res(HOST_FUNC_ERROR)).expect_err("host").trap);
        // Category UserLevelError (bit 24 set).
        assert!(!check(res(0x0100_0005)).expect_err("user").trap);
    }
}
