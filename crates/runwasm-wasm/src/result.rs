//! Turning the SDK's errors into runwasm's messages.
//!
//! WasmEdge's own messages are mostly good one-liners ("integer divide by
//! zero", "out of bounds memory access"), and the SDK's error enums carry
//! them unchanged; the few that are terse in a container's log are
//! reworded here.

use wasmedge_sdk::error::{
    CoreCommonError, CoreError, CoreExecutionError, CoreInstantiationError, WasmEdgeError,
};

/// Execution-phase error codes (`enum.inc`, 0x04xx) that are WebAssembly
/// traps, i.e. the guest's fault rather than the host's. 0x0400..0x0403 are
/// WasmEdge-internal or API misuse (e.g. invoking with wrong arguments).
/// Only consulted for codes the SDK has no variant for.
const TRAP_CODES: std::ops::RangeInclusive<u32> = 0x0404..=0x04FF;
/// `HostFuncError`: a host function failed; not a trap of the guest.
const HOST_FUNC_ERROR: u32 = 0x040E;

/// A failed WasmEdge call, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// True for a trap of the guest.
    pub trap: bool,
    /// One line naming the problem.
    pub message: String,
}

/// Decodes an error of the SDK.
pub fn decode(err: &WasmEdgeError) -> Failure {
    let (trap, message) = match err {
        // Category UserLevelError: a host function returned its own code.
        WasmEdgeError::User(code) => (
            false,
            format!("host function failed with user error code {code:#x}"),
        ),
        WasmEdgeError::Core(CoreError::Execution(e)) => (is_trap(e), execution_message(e)),
        // A code newer than the SDK's enums: classify it by its number and
        // let libwasmedge name it.
        WasmEdgeError::Core(CoreError::UnknownError(code)) => (
            TRAP_CODES.contains(code) && *code != HOST_FUNC_ERROR,
            wasmedge_message(*code),
        ),
        other => (false, other.to_string()),
    };
    Failure { trap, message }
}

/// Whether `err` is WasmEdge's "terminated", i.e. WASI `proc_exit` was
/// called. WasmEdge counts "terminated" as success, so the SDK (0.14)
/// returns `Ok` then and this never matches; it is checked anyway in case
/// a later SDK reports it as an error.
pub fn is_terminated(err: &WasmEdgeError) -> bool {
    matches!(
        err,
        WasmEdgeError::Core(CoreError::Common(CoreCommonError::Terminated))
    )
}

/// Whether `err` is a link failure (an import that does not resolve or has
/// the wrong type), whose culprit `inspect::link_error` can name.
pub fn is_link_error(err: &WasmEdgeError) -> bool {
    matches!(
        err,
        WasmEdgeError::Core(CoreError::Instantiation(
            CoreInstantiationError::UnknownImport | CoreInstantiationError::IncompatibleImportType
        ))
    )
}

/// Whether an execution error is a trap of the guest.
fn is_trap(e: &CoreExecutionError) -> bool {
    use CoreExecutionError as E;
    !matches!(
        e,
        E::WrongInstanceAddress
            | E::WrongInstanceIndex
            | E::InstrTypeMismatch
            | E::FuncSigMismatch
            | E::HostFuncFailed
    )
}

fn execution_message(e: &CoreExecutionError) -> String {
    match e {
        // WasmEdge's message is just "unreachable".
        CoreExecutionError::Unreachable => "unreachable instruction executed".to_owned(),
        other => other.to_string(),
    }
}

/// The message for a failed `WasmEdge_Result` of a C API call made
/// directly (not through the SDK); `None` for success.
pub fn failure_of(res: wasmedge_sys::ffi::WasmEdge_Result) -> Option<String> {
    use wasmedge_sys::ffi;
    // SAFETY: these only decode the integer in the struct passed by value.
    let (ok, category, code) = unsafe {
        (
            ffi::WasmEdge_ResultOK(res),
            ffi::WasmEdge_ResultGetCategory(res),
            ffi::WasmEdge_ResultGetCode(res),
        )
    };
    if ok {
        None
    } else if category == ffi::WasmEdge_ErrCategory_WASM {
        Some(wasmedge_message(code))
    } else {
        Some(format!("user error code {code:#x}"))
    }
}

/// libwasmedge's message for a WASM-category error `code`.
fn wasmedge_message(code: u32) -> String {
    use wasmedge_sys::ffi;
    // SAFETY: WasmEdge_ResultGetMessage only decodes the integer in the
    // struct passed by value (category WASM is 0, so `Code` is the code
    // itself) and returns a pointer to a static NUL-terminated string, or
    // NULL (checked).
    let ptr = unsafe { ffi::WasmEdge_ResultGetMessage(ffi::WasmEdge_Result { Code: code }) };
    if ptr.is_null() {
        return format!("WasmEdge error {code:#x}");
    }
    // SAFETY: non-NULL, NUL-terminated and static (see above).
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmedge_sdk::error::CoreLoadError;

    fn exec(e: CoreExecutionError) -> WasmEdgeError {
        WasmEdgeError::Core(CoreError::Execution(e))
    }

    #[test]
    fn terminated_is_recognised() {
        let term = WasmEdgeError::Core(CoreError::Common(CoreCommonError::Terminated));
        assert!(is_terminated(&term));
        assert!(!is_terminated(&exec(CoreExecutionError::Unreachable)));
    }

    #[test]
    fn traps_are_named() {
        use CoreExecutionError as E;
        for (e, msg) in [
            (E::Unreachable, "unreachable instruction executed"),
            (E::DivideByZero, "integer divide by zero"),
            (E::IntegerOverflow, "integer overflow"),
            (E::MemoryOutOfBounds, "out of bounds memory access"),
            (E::TableOutOfBounds, "out of bounds table access"),
            (E::IndirectCallTypeMismatch, "indirect call type mismatch"),
        ] {
            let f = decode(&exec(e.clone()));
            assert!(f.trap, "{e:?}");
            assert_eq!(f.message, msg);
        }
        // Codes the SDK predates (0.14's "uncaught exception") are still
        // traps, named by libwasmedge.
        let f = decode(&WasmEdgeError::Core(CoreError::UnknownError(0x0419)));
        assert!(f.trap);
        assert_eq!(f.message, "uncaught exception");
    }

    #[test]
    fn other_failures_are_not_traps() {
        let unknown = WasmEdgeError::Core(CoreError::Instantiation(
            CoreInstantiationError::UnknownImport,
        ));
        let f = decode(&unknown);
        assert!(!f.trap);
        assert_eq!(f.message, "unknown import");
        assert!(is_link_error(&unknown));
        assert!(!decode(&exec(CoreExecutionError::HostFuncFailed)).trap);
        assert!(!decode(&exec(CoreExecutionError::FuncSigMismatch)).trap);
        assert!(
            !decode(&WasmEdgeError::Core(CoreError::UnknownError(
                HOST_FUNC_ERROR
            )))
            .trap
        );
        // Category UserLevelError.
        let f = decode(&WasmEdgeError::User(5));
        assert!(!f.trap);
        assert_eq!(f.message, "host function failed with user error code 0x5");
        let f = decode(&WasmEdgeError::Core(CoreError::Load(
            CoreLoadError::MalformedMagic,
        )));
        assert_eq!(
            (f.trap, f.message.as_str()),
            (false, "magic header not detected")
        );
    }
}
