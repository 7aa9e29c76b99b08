//! The WasmEdge executor of runwasm, built as `librunwasm_wasm.so`.
//!
//! Only a Wasm container's init process loads this library (with `dlopen`),
//! so that `runwasm state`, `kill`, `delete` and native containers never pay
//! for loading libwasmedge and LLVM. The runtime crate knows this library
//! only through the C ABI below; it must never link it.
//!
//! # ABI version 1
//!
//! Every function is `extern "C"` and exported unmangled. Error messages are
//! written into the caller's buffer `err` (capacity `err_cap` bytes) as one
//! NUL-terminated UTF-8 line, truncated to fit.
//!
//! ```text
//! u32   runwasm_wasm_abi_version(void);                 // returns 1
//! void *runwasm_wasm_load(const u8 *bytes, usize len, u8 *err, usize err_cap);
//!         // parse + validate; NULL on failure. `bytes` is not used after
//!         // the call returns
//! void *runwasm_wasm_instantiate(void *loaded, const u8 *cfg_json, usize len,
//!                                u8 *err, usize err_cap);
//!         // consumes `loaded` (also on failure); sets up WASI from the JSON
//!         // config and instantiates; unknown imports fail here
//! i32   runwasm_wasm_run(void *instance, u8 *err, usize err_cap);
//!         // consumes `instance`; runs `_start`:
//!         //  >= 0  the WASI exit code (proc_exit(n), or 0 when _start returns;
//!         //        an n above i32::MAX, e.g. exit(-1), is reduced to n & 0xff;
//!         //        a proc_exit in the module's start function, during
//!         //        instantiate, is reported here without running _start)
//!         //  -1    a trap; err holds its message
//!         //  -2    any other failure; err holds the message
//! ```
//!
//! The config JSON:
//! `{"args":["/m.wasm","a"],"env":["K=V"],"preopens":[{"guest":"/","host":"/abs"}],"max_memory_pages":null}`
//!
//! `args` (argv, `args[0]` included) must not be empty; `env`, `preopens`
//! and `max_memory_pages` may be omitted. The guest gets exactly this argv,
//! environment and these directories, nothing from the host process; WASI
//! fds 0, 1 and 2 are the process's own. Unknown fields, `env` entries
//! without `=`, paths containing `:` and `host` directories that cannot be
//! opened fail `runwasm_wasm_instantiate`. `max_memory_pages` caps every
//! linear memory (64 KiB pages): `memory.grow` beyond it returns -1 to the
//! guest, and a module whose exported memory starts larger fails to
//! instantiate.
//!
//! WasmEdge's own logging is switched off at the first `load`; every
//! failure is reported only through `err`.
//!
//! # Modules
//!
//! * [`abi`]: the exported functions (pointers, buffers, no unwinding).
//! * [`config`]: the JSON config.
//! * `engine`: load / instantiate / run with `wasmedge-sdk` 0.14 (on the
//!   system's libwasmedge 0.14); `inspect` names the import that failed to
//!   link, checks memories against the cap and the WASI socket imports
//!   WasmEdge 0.14.1 would link without a type check, `result` turns the
//!   SDK's errors into messages and tells traps from other failures.

pub mod abi;
mod aot;
pub mod config;
mod engine;
mod error;
mod inspect;
mod result;
#[cfg(test)]
mod tests;

pub use error::Error;
