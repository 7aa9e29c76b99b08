//! The WasmEdge executor of runwasm, built as `librunwasm_wasm.so`.
//!
//! Only a Wasm container's init process loads this library (with `dlopen`),
//! so that `runwasm state`, `kill`, `delete` and native containers never pay
//! for loading libwasmedge and LLVM. The runtime crate knows this library
//! only through the C ABI below; it must never link it.
//!
//! # ABI version 3
//!
//! Every function is `extern "C"` and exported unmangled. Error messages are
//! written into the caller's buffer `err` (capacity `err_cap` bytes) as one
//! NUL-terminated UTF-8 line, truncated to fit. Version 2 is version 1
//! (unchanged) plus AOT compilation (compile, load_file, engine_version,
//! has_aot_section); version 3 adds `runwasm_wasm_speculate`.
//!
//! ```text
//! u32   runwasm_wasm_abi_version(void);                 // returns 3
//! void *runwasm_wasm_load(const u8 *bytes, usize len, u8 *err, usize err_cap);
//!         // parse + validate; NULL on failure. `bytes` is not used after
//!         // the call returns. Always interpreted: an AOT section in
//!         // `bytes` is ignored. A table starting with more than 10^7
//!         // elements or a function with more than 50,000 locals (the
//!         // limits of wasmtime and browsers) fails with "module too
//!         // large: ..." before WasmEdge allocates them
//! void *runwasm_wasm_instantiate(void *loaded, const u8 *cfg_json, usize len,
//!                                u8 *err, usize err_cap);
//!         // consumes `loaded` (from load or load_file; also on failure);
//!         // sets up WASI from the JSON config and instantiates; unknown
//!         // imports fail here
//! i32   runwasm_wasm_run(void *instance, u8 *err, usize err_cap);
//!         // consumes `instance`; runs `_start`:
//!         //  >= 0  the WASI exit code (proc_exit(n), or 0 when _start returns;
//!         //        an n above i32::MAX, e.g. exit(-1), is reduced to n & 0xff;
//!         //        a proc_exit in the module's start function, during
//!         //        instantiate, is reported here without running _start)
//!         //  -1    a trap; err holds its message
//!         //  -2    any other failure; err holds the message
//! i32   runwasm_wasm_compile(const u8 *bytes, usize len, const char *out_path,
//!                            u8 *err, usize err_cap);
//!         // AOT-compiles the module (WasmEdge's LLVM compiler, O2, for this
//!         // host's CPU) into the universal wasm file `out_path`: the module
//!         // unchanged, WasmEdge's AOT section (custom section "wasmedge",
//!         // as `wasmedge compile` writes it) and runwasm's seal (custom
//!         // section "runwasm.aot", see below). 0 on success; -1 on failure
//!         // (err: the reason; an invalid module gets load's message), and
//!         // then `out_path` is untouched: the compiler writes
//!         // `<out_path>.<pid>.<n>.part` (WasmEdge puts its own temporary
//!         // `.o` next to it), which is fsynced and renamed to `out_path`
//!         // on success, removed on failure
//! void *runwasm_wasm_load_file(const char *path, u8 *err, usize err_cap);
//!         // like load, from a file (read once): a plain module is
//!         // interpreted; a universal wasm (runwasm_wasm_compile's or
//!         // `wasmedge compile`'s) is checked and its native code is run.
//!         // NULL on failure: "cannot read ...", "invalid wasm module: ..."
//!         // (including a file cut short: "...(truncated file?)"), or
//!         // `unusable AOT module "PATH": WHY` (seal checksum
//!         // mismatch, compiled for another WasmEdge release, CPU or
//!         // options, an AOT section WasmEdge would not or could not safely
//!         // use)
//! const char *runwasm_wasm_engine_version(void);
//!         // libwasmedge's version, e.g. "0.14.1" (static, NUL-terminated)
//! i32   runwasm_wasm_has_aot_section(const u8 *bytes, usize len);
//!         // 1 if `bytes` is a well-formed module carrying a WasmEdge AOT
//!         // section (usable here or not: load_file tells), else 0
//! i32   runwasm_wasm_speculate(const u8 *bytes, usize len, const u8 *cfg_json,
//!                              usize cfg_len, u64 budget, u8 *err, usize err_cap);
//!         // interprets the module with WASI from the config minus its
//!         // preopens (and no socket module) for at most `budget`
//!         // instructions: 0 it ended on its own (returned, exited,
//!         // trapped, or needs imports it is not given), 1 still computing
//!         // at the budget, -1 could not try (err). For a throwaway
//!         // process with fds 0-2 on /dev/null: nothing is freed
//! ```
//!
//! The seal, on runwasm_wasm_compile's files only: the WasmEdge version,
//! the host CPU (architecture and the instruction set extensions detected
//! at run time) and compiler options the file was made for, and a SHA-256
//! of the whole file up to the digest. load_file verifies it, so a
//! truncated or altered file, or one from another host or release, is
//! refused. Files without a seal (`wasmedge compile`, images) get
//! runwasm's structural checks of the AOT section only: damage inside
//! their native code, or code for CPU features this host lacks, cannot be
//! detected. WasmEdge itself would silently interpret a module whose AOT
//! section it cannot use, and trusts one it can parse; see `aot`.
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
//! guest, and a module with a memory that starts larger (exported or not)
//! fails to instantiate.
//!
//! WasmEdge's own logging is switched off at the first `load`,
//! `load_file` or `compile`; every failure is reported only through `err`.
//! At the same moment a C++ `new_handler` is installed: when WasmEdge
//! cannot allocate (`table.grow` by 2^31 elements, deep recursion in the
//! interpreter without a memory limit), the process writes one line
//! (`runwasm: wasm: out of memory: …`) to fd 2 and exits with status 134,
//! instead of dying in `std::terminate`.
//!
//! Native code and traps: a compiled module traps where the interpreter
//! does, with the same message (WasmEdge turns SIGSEGV/SIGBUS/SIGFPE in
//! native code into traps, with handlers it installs while wasm runs and
//! resets to SIG_DFL afterwards). Exhausting the native call stack (deep
//! recursion of wasm functions, not of the C stack in linear memory) is
//! not caught by WasmEdge 0.14.1: the process dies of SIGSEGV (the
//! interpreter runs out of memory instead, see above).
//!
//! # Modules
//!
//! * [`abi`]: the exported functions (pointers, buffers, no unwinding).
//! * [`config`]: the JSON config.
//! * `aot`: universal wasm files: the section walk, the checks of
//!   WasmEdge's AOT section, runwasm's seal.
//! * `engine`: load / load_file / compile / instantiate / run with
//!   `wasmedge-sdk` 0.14 (on the system's libwasmedge 0.14); `inspect` names the import that failed to
//!   link, checks memories against the cap and the WASI socket imports
//!   WasmEdge 0.14.1 would link without a type check, `layout` reads what
//!   the API does not show (memories that are not exported, the start
//!   function, segment offsets: a trap while instantiating is blamed on the
//!   segment that does not fit or on the start function), `result` turns
//!   the SDK's errors into messages and tells traps from other failures.

pub mod abi;
mod aot;
pub mod config;
mod engine;
mod error;
mod inspect;
pub mod layout;
mod oom;
mod result;
mod speculate;
#[cfg(test)]
mod tests;

pub use error::Error;
