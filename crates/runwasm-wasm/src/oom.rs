//! When WasmEdge cannot allocate.
//!
//! libwasmedge is C++: an allocation that fails throws `std::bad_alloc`,
//! which nothing catches, so the process dies in `std::terminate` with a
//! few lines of C++ runtime text and a signal (SIGABRT, or SIGSEGV from
//! WasmEdge's own handlers). A module can make that happen at run time
//! with a few bytes, e.g. `table.grow` by 2^31 elements (tables have no cap
//! in WasmEdge's configuration), or deep recursion in the interpreter
//! without a memory limit. [`install`] sets a `new_handler` instead, which
//! C++'s `operator new` calls when it cannot allocate: it writes one line
//! naming the problem and ends the process with [`EXIT_OUT_OF_MEMORY`].
//! (Under a memory limit the kernel's OOM killer usually comes first:
//! SIGKILL, status 137.)

use std::sync::Once;

/// The exit status after WasmEdge ran out of memory: 134, as a trap and as
/// the abort it replaces.
pub const EXIT_OUT_OF_MEMORY: i32 = 134;

#[link(name = "stdc++")]
extern "C" {
    /// `std::set_new_handler(void (*)())` (libstdc++'s mangled name; the
    /// handler is a plain function pointer, the C calling convention).
    #[link_name = "_ZSt15set_new_handlerPFvvE"]
    fn set_new_handler(handler: Option<extern "C" fn()>) -> Option<extern "C" fn()>;
}

const MESSAGE: &[u8] = b"runwasm: wasm: out of memory: WasmEdge could not allocate what the \
module asked for (a table, a call stack, a memory)\n";

extern "C" fn out_of_memory() {
    // SAFETY: write(2) of a static buffer and _exit(2): no allocation, safe
    // in any state the allocator may be in.
    unsafe {
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(EXIT_OUT_OF_MEMORY);
    }
}

/// Installs the handler, once per process.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: replaces the process's new_handler (none is set by
        // runwasm or WasmEdge) with a function that never returns.
        unsafe { set_new_handler(Some(out_of_memory)) };
    });
}
