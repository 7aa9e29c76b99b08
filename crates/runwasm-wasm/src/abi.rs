//! The exported C ABI (version 3, see the crate docs): pointer and buffer
//! handling around `engine`, with no panic crossing the boundary.

use std::ffi::{c_char, c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::aot;
use crate::config::Config;
use crate::engine::{self, Instance, Loaded};
use crate::Error;

/// The ABI version these functions implement.
pub const ABI_VERSION: u32 = 3;

/// `runwasm_wasm_run`'s return value for a trap.
pub const RUN_TRAP: i32 = -1;
/// `runwasm_wasm_run`'s return value for any other failure.
pub const RUN_FAILED: i32 = -2;

/// `runwasm_wasm_compile`'s return value for a failure.
pub const COMPILE_FAILED: i32 = -1;

/// Returns the ABI version, 3.
#[no_mangle]
pub extern "C" fn runwasm_wasm_abi_version() -> u32 {
    ABI_VERSION
}

/// Parses and validates a module; NULL on failure, with the reason in `err`.
///
/// # Safety
/// `bytes` must be readable for `len` bytes (it may be NULL if `len` is 0)
/// and `err` writable for `err_cap` bytes (it may be NULL). The bytes are
/// not used after the call returns.
#[no_mangle]
pub unsafe extern "C" fn runwasm_wasm_load(
    bytes: *const u8,
    len: usize,
    err: *mut u8,
    err_cap: usize,
) -> *mut c_void {
    guarded(err, err_cap, std::ptr::null_mut(), || {
        // SAFETY: passed on from the caller.
        let bytes = unsafe { module_bytes(bytes, len) }?;
        engine::load(bytes).map(|loaded| Box::into_raw(Box::new(loaded)).cast())
    })
}

/// Like `runwasm_wasm_load`, from the file `path`, whose AOT section (if
/// any) is checked and then run natively; NULL on failure, with the reason
/// in `err`.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `err` as for
/// `runwasm_wasm_load`.
#[no_mangle]
pub unsafe extern "C" fn runwasm_wasm_load_file(
    path: *const c_char,
    err: *mut u8,
    err_cap: usize,
) -> *mut c_void {
    guarded(err, err_cap, std::ptr::null_mut(), || {
        // SAFETY: passed on from the caller.
        let path = unsafe { path_arg(path, "module") }?;
        engine::load_file(path).map(|loaded| Box::into_raw(Box::new(loaded)).cast())
    })
}

/// Compiles a module with WasmEdge's AOT compiler into the universal wasm
/// file `out_path`: 0 on success, [`COMPILE_FAILED`] with the reason in
/// `err` on failure, when `out_path` is left untouched.
///
/// # Safety
/// `bytes` as for `runwasm_wasm_load`; `out_path` must be NULL or a
/// NUL-terminated string; `err` as for `runwasm_wasm_load`.
#[no_mangle]
pub unsafe extern "C" fn runwasm_wasm_compile(
    bytes: *const u8,
    len: usize,
    out_path: *const c_char,
    err: *mut u8,
    err_cap: usize,
) -> i32 {
    guarded(err, err_cap, COMPILE_FAILED, || {
        // SAFETY: passed on from the caller.
        let bytes = unsafe { module_bytes(bytes, len) }?;
        // SAFETY: passed on from the caller.
        let out = unsafe { path_arg(out_path, "output") }?;
        engine::compile(bytes, out).map(|()| 0)
    })
}

/// The WasmEdge version, e.g. `0.14.1`: a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn runwasm_wasm_engine_version() -> *const c_char {
    engine::engine_version().as_ptr()
}

/// 1 if `bytes` is a well-formed module with a WasmEdge AOT section, else 0.
///
/// # Safety
/// `bytes` must be readable for `len` bytes (it may be NULL if `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn runwasm_wasm_has_aot_section(bytes: *const u8, len: usize) -> i32 {
    // SAFETY: passed on from the caller.
    let Ok(bytes) = (unsafe { module_bytes(bytes, len) }) else {
        return 0;
    };
    catch_unwind(|| aot::has_aot_section(bytes)).map_or(0, i32::from)
}

/// The module bytes of a call.
///
/// # Safety
/// `bytes` must be readable for `len` bytes, or NULL (an error unless
/// `len` is 0).
unsafe fn module_bytes<'a>(bytes: *const u8, len: usize) -> Result<&'a [u8], Error> {
    if len == 0 {
        Ok(&[])
    } else if bytes.is_null() {
        Err(Error::InvalidModule("NULL module bytes".into()))
    } else {
        // SAFETY: the caller guarantees `len` readable bytes.
        Ok(unsafe { std::slice::from_raw_parts(bytes, len) })
    }
}

/// A path argument; `what` names it in errors.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string.
unsafe fn path_arg<'a>(path: *const c_char, what: &str) -> Result<&'a Path, Error> {
    if path.is_null() {
        return Err(Error::File(format!("NULL {what} path")));
    }
    // SAFETY: non-NULL and NUL-terminated (caller).
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    if bytes.is_empty() {
        return Err(Error::File(format!("empty {what} path")));
    }
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// Consumes `loaded` (also on failure), sets up WASI from the JSON config
/// and instantiates; NULL on failure, with the reason in `err`.
///
/// # Safety
/// `loaded` must be NULL or a handle from `runwasm_wasm_load` or
/// `runwasm_wasm_load_file` not yet consumed; `cfg_json` readable for
/// `len` bytes; `err` as for `runwasm_wasm_load`.
#[no_mangle]
pub unsafe extern "C" fn runwasm_wasm_instantiate(
    loaded: *mut c_void,
    cfg_json: *const u8,
    len: usize,
    err: *mut u8,
    err_cap: usize,
) -> *mut c_void {
    // Take ownership first so the handle is freed on every path.
    let loaded = (!loaded.is_null()).then(|| {
        // SAFETY: a non-NULL `loaded` is a `Box<Loaded>` from
        // `runwasm_wasm_load` or `runwasm_wasm_load_file` that the caller
        // hands over.
        unsafe { Box::from_raw(loaded.cast::<Loaded>()) }
    });
    guarded(err, err_cap, std::ptr::null_mut(), move || {
        let loaded = loaded.ok_or_else(|| Error::Instantiate("NULL module handle".into()))?;
        let json = if cfg_json.is_null() || len == 0 {
            &[][..]
        } else {
            // SAFETY: the caller guarantees `len` readable bytes.
            unsafe { std::slice::from_raw_parts(cfg_json, len) }
        };
        let config = Config::from_json(json)?;
        engine::instantiate(*loaded, &config).map(|inst| Box::into_raw(Box::new(inst)).cast())
    })
}

/// Consumes `instance` and runs `_start`: the WASI exit code (>= 0),
/// [`RUN_TRAP`] on a trap or [`RUN_FAILED`] on another failure, with the
/// message in `err`.
///
/// # Safety
/// `instance` must be NULL or a handle from `runwasm_wasm_instantiate` not
/// yet consumed; `err` as for `runwasm_wasm_load`.
#[no_mangle]
pub unsafe extern "C" fn runwasm_wasm_run(
    instance: *mut c_void,
    err: *mut u8,
    err_cap: usize,
) -> i32 {
    let instance = (!instance.is_null()).then(|| {
        // SAFETY: a non-NULL `instance` is a `Box<Instance>` from
        // `runwasm_wasm_instantiate` that the caller hands over.
        unsafe { Box::from_raw(instance.cast::<Instance>()) }
    });
    let mut trapped = false;
    let code = guarded(err, err_cap, RUN_FAILED, || {
        let instance = instance.ok_or_else(|| Error::Run("NULL instance handle".into()))?;
        engine::run(*instance).inspect_err(|e| trapped = matches!(e, Error::Trap(_)))
    });
    if trapped {
        RUN_TRAP
    } else {
        code
    }
}

/// Runs `f`, writing its error (or a caught panic) into `err` and returning
/// `on_error` in that case.
fn guarded<T>(
    err: *mut u8,
    err_cap: usize,
    on_error: T,
    f: impl FnOnce() -> Result<T, Error>,
) -> T {
    let message = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => return value,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "internal error: runwasm-wasm panicked".to_owned(),
    };
    // SAFETY: the exported functions' callers guarantee `err` is NULL or
    // writable for `err_cap` bytes.
    unsafe { write_message(err, err_cap, &message) };
    on_error
}

/// Writes `msg` into `err` as one NUL-terminated line, truncated to fit on
/// a UTF-8 character boundary.
///
/// # Safety
/// `err` must be NULL or writable for `cap` bytes.
unsafe fn write_message(err: *mut u8, cap: usize, msg: &str) {
    if err.is_null() || cap == 0 {
        return;
    }
    let line = msg.replace(['\n', '\r'], " ");
    let mut n = line.len().min(cap - 1);
    while !line.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: `n + 1 <= cap` bytes are written into `err` (caller), from a
    // separate allocation.
    unsafe {
        std::ptr::copy_nonoverlapping(line.as_ptr(), err, n);
        *err.add(n) = 0;
    }
}

/// `runwasm_wasm_speculate`'s return value: the module ended on its own.
pub const SPECULATE_ENDED: i32 = 0;
/// `runwasm_wasm_speculate`'s return value: still computing at the budget.
pub const SPECULATE_OVER_BUDGET: i32 = 1;
/// `runwasm_wasm_speculate`'s return value: it could not be tried.
pub const SPECULATE_FAILED: i32 = -1;

/// Interprets the module with WASI from the JSON config minus its
/// preopens, for at most `budget` instructions: [`SPECULATE_ENDED`],
/// [`SPECULATE_OVER_BUDGET`], or [`SPECULATE_FAILED`] with the reason in
/// `err`. Meant for a throwaway process whose fds 0-2 are /dev/null:
/// nothing it makes is freed.
///
/// # Safety
/// `bytes` and `cfg_json` readable for `len` and `cfg_len` bytes; `err` as
/// for `runwasm_wasm_load`.
#[no_mangle]
pub unsafe extern "C" fn runwasm_wasm_speculate(
    bytes: *const u8,
    len: usize,
    cfg_json: *const u8,
    cfg_len: usize,
    budget: u64,
    err: *mut u8,
    err_cap: usize,
) -> i32 {
    guarded(err, err_cap, SPECULATE_FAILED, || {
        // SAFETY: passed on from the caller.
        let bytes = unsafe { module_bytes(bytes, len) }?;
        let json = if cfg_json.is_null() || cfg_len == 0 {
            &[][..]
        } else {
            // SAFETY: the caller guarantees `cfg_len` readable bytes.
            unsafe { std::slice::from_raw_parts(cfg_json, cfg_len) }
        };
        let config = Config::from_json(json)?;
        Ok(match crate::speculate::speculate(bytes, &config, budget)? {
            crate::speculate::Outcome::Ended => SPECULATE_ENDED,
            crate::speculate::Outcome::OverBudget => SPECULATE_OVER_BUDGET,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(cap: usize, msg: &str) -> Vec<u8> {
        let mut buf = vec![0xAAu8; cap + 1];
        // SAFETY: `buf` has `cap + 1 >= cap` writable bytes.
        unsafe { write_message(buf.as_mut_ptr(), cap, msg) };
        buf
    }

    #[test]
    fn messages_are_truncated_nul_terminated_lines() {
        assert_eq!(&written(16, "a\nb")[..4], b"a b\0");
        assert_eq!(&written(4, "abcdef")[..5], b"abc\0\xAA");
        // "é" is two bytes: never split it.
        assert_eq!(&written(3, "aé")[..3], b"a\0\xAA");
        assert_eq!(written(0, "abc"), [0xAA]);
        // SAFETY: NULL is accepted.
        unsafe { write_message(std::ptr::null_mut(), 10, "x") };
    }

    #[test]
    fn null_handles_fail_cleanly() {
        let mut err = [0u8; 64];
        assert_eq!(runwasm_wasm_abi_version(), 3);
        // SAFETY: NULL handles and a 64-byte error buffer.
        unsafe {
            let p = runwasm_wasm_instantiate(
                std::ptr::null_mut(),
                std::ptr::null(),
                0,
                err.as_mut_ptr(),
                64,
            );
            assert!(p.is_null());
            assert_eq!(
                runwasm_wasm_run(std::ptr::null_mut(), err.as_mut_ptr(), 64),
                RUN_FAILED
            );
            assert!(runwasm_wasm_load(std::ptr::null(), 5, err.as_mut_ptr(), 64).is_null());
            assert!(err.starts_with(b"invalid wasm module: NULL module bytes\0"));
            assert!(runwasm_wasm_load_file(std::ptr::null(), err.as_mut_ptr(), 64).is_null());
            assert!(err.starts_with(b"NULL module path\0"));
            let empty = c"";
            assert!(runwasm_wasm_load_file(empty.as_ptr(), err.as_mut_ptr(), 64).is_null());
            assert!(err.starts_with(b"empty module path\0"));
            let module = [0, b'a', b's', b'm', 1, 0, 0, 0];
            let code = runwasm_wasm_compile(
                module.as_ptr(),
                module.len(),
                std::ptr::null(),
                err.as_mut_ptr(),
                64,
            );
            assert_eq!(code, COMPILE_FAILED);
            assert!(err.starts_with(b"NULL output path\0"));
            assert_eq!(runwasm_wasm_has_aot_section(std::ptr::null(), 5), 0);
            assert_eq!(runwasm_wasm_has_aot_section(std::ptr::null(), 0), 0);
        }
    }

    #[test]
    fn engine_version_is_the_library_version() {
        // SAFETY: a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(runwasm_wasm_engine_version()) };
        let want = wasmedge_sdk::utils::CoreVersion::version_string();
        assert_eq!(v.to_str(), Ok(want.as_str()));
        assert!(want.starts_with("0.14."), "{want}");
    }
}
