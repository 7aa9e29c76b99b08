//! The WasmEdge work behind the ABI, on `wasmedge-sdk`.
//!
//! * [`load`]: parse + validate the bytes into a [`Module`] (WasmEdge's
//!   interpreter only: the loader ignores any AOT section).
//! * [`load_file`]: the same from a file, whose AOT section, once
//!   [`aot::check`] has passed it, is loaded with the interpreter not
//!   forced, so that its native code runs.
//! * [`compile`]: WasmEdge's AOT compiler, into a universal wasm file that
//!   runwasm seals ([`aot::seal`]).
//! * [`instantiate`]: a WASI module configured only from [`Config`], a
//!   fresh [`Store`] (with its executor) that registers it, then the module
//!   itself, instantiated as the store's active module once its WASI
//!   socket imports have passed the type check WasmEdge 0.14.1 misses
//!   ([`inspect::unchecked_v2_import`]).
//! * [`run`]: invoke `_start` and read the WASI exit code.
//!
//! No [`wasmedge_sdk::Vm`] is used: it only takes import modules as plain
//! instances, which have no WASI exit code, and adds nothing to the store
//! it wraps. The configuration is made twice when a memory cap is set,
//! since the cap only arrives with the config at instantiate, and `load`
//! stays free of any executor or WASI setup. A module with native code
//! keeps a configuration that does not force the interpreter through
//! instantiate as well.
//!
//! The SDK's executor (wasmedge-sys 0.19, on Linux/glibc) blocks
//! `SIGRTMIN` while each host function (a WASI call) runs, for its
//! timeout support: such a signal is only delivered when the call returns.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsString};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use wasmedge_sdk::config::{
    CommonConfigOptions, Config as EngineConfig, ConfigBuilder, RuntimeConfigOptions,
};
use wasmedge_sdk::error::WasmEdgeError;
use wasmedge_sdk::utils::CoreVersion;
use wasmedge_sdk::wasi::WasiModule;
use wasmedge_sdk::{
    AsInstance, CompilerOptimizationLevel, CompilerOutputFormat, LogManager, Module, Store,
};
use wasmedge_sys::ffi;
use wasmedge_sys::instance::function::AsFunc;

use crate::aot::{self, Kind, Target};
use crate::config::Config;
use crate::inspect;
use crate::layout::{Layout, TrapSource};
use crate::result::{decode, failure_of, is_link_error, is_terminated};
use crate::Error;

/// The libwasmedge minor version the SDK (wasmedge-sys 0.19's bindings,
/// generated from the 0.14 headers) is built for.
const WASMEDGE_MINOR: u32 = 14;

/// The AOT compiler's optimization level, and how the seal records it.
const OPT_LEVEL: CompilerOptimizationLevel = CompilerOptimizationLevel::O2;
const OPT_NAME: &str = "O2";

/// A parsed and validated module.
pub struct Loaded {
    module: Module,
    config: EngineConfig,
    /// Whether the module carries native code to run (not interpreted).
    native: bool,
    /// What the API does not show (`None`: not understood).
    layout: Option<Layout>,
}

/// An instantiated module, ready to run.
///
/// Field order is drop order: the module instance goes before the store
/// and the WASI module it imports from; the AST module outlives them all,
/// since the interpreter's functions point into its code.
pub struct Instance {
    /// `None` when the start function already exited with `proc_exit`.
    active: Option<wasmedge_sdk::Instance>,
    wasi: WasiStore,
    _module: Module,
    _config: EngineConfig,
}

/// Silences WasmEdge's logging and checks the library version, once.
pub(crate) fn init() -> Result<(), Error> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        LogManager::log_off();
        crate::oom::install();
        if (CoreVersion::major(), CoreVersion::minor()) == (0, WASMEDGE_MINOR) {
            Ok(())
        } else {
            Err(format!(
                "libwasmedge {} is not supported (runwasm-wasm needs 0.{WASMEDGE_MINOR}.x)",
                CoreVersion::version_string()
            ))
        }
    })
    .clone()
    .map_err(Error::Library)
}

/// WasmEdge's configuration: its default proposals (the SDK's
/// `CommonConfigOptions::new()` are the same set, see the tests), the
/// interpreter forced unless `native` (an AOT section's code is to run),
/// and the memory cap if any.
fn engine_config(max_memory_pages: Option<u32>, native: bool) -> Result<EngineConfig, Error> {
    let mut builder = ConfigBuilder::new(CommonConfigOptions::new().interpreter_mode(!native));
    if let Some(pages) = max_memory_pages {
        builder = builder.with_runtime_config(RuntimeConfigOptions::new().max_memory_pages(pages));
    }
    builder
        .build()
        .map_err(|e| Error::Library(format!("WasmEdge could not create a configuration: {e}")))
}

/// Parses and validates a module, interpreted whatever it carries.
/// `bytes` is not retained: WasmEdge copies what it keeps into the AST.
pub fn load(bytes: &[u8]) -> Result<Loaded, Error> {
    init()?;
    parse(bytes, false)
}

/// Parses and validates `bytes`, with the interpreter forced unless
/// `native`, when WasmEdge loads the AOT section's code (`bytes` must have
/// passed [`aot::check`]).
fn parse(bytes: &[u8], native: bool) -> Result<Loaded, Error> {
    // The SDK passes the length to WasmEdge as a u32.
    if u32::try_from(bytes.len()).is_err() {
        return Err(Error::InvalidModule("module is larger than 4 GiB".into()));
    }
    // Before WasmEdge allocates what the module asks for.
    let layout = Layout::read(bytes);
    if let Some(l) = &layout {
        l.check_limits().map_err(Error::TooLarge)?;
    }
    let config = engine_config(None, native)?;
    let module = Module::from_bytes(Some(&config), bytes)
        .map_err(|e| Error::InvalidModule(decode(&e).message))?;
    Ok(Loaded {
        module,
        config,
        native,
        layout,
    })
}

/// Loads a module from a file, running the native code of its AOT section
/// if it has one. The file is read once, checked ([`aot::check`]) and
/// handed to WasmEdge from memory, so what runs is what was checked.
pub fn load_file(path: &Path) -> Result<Loaded, Error> {
    init()?;
    let bytes = fs::read(path).map_err(|e| Error::File(format!("cannot read {path:?}: {e}")))?;
    match aot::check(&bytes, target()) {
        Ok(Kind::Plain) => parse(&bytes, false),
        Ok(Kind::Native { .. }) => parse(&bytes, true),
        // Not even a sequence of sections (which WasmEdge would refuse as
        // well): the message reads like `load`'s.
        Err(msg) if aot::sections(&bytes).is_err() => Err(Error::InvalidModule(msg)),
        Err(msg) => Err(Error::InvalidAot(format!("{path:?}: {msg}"))),
    }
}

/// What this process runs native code for: the WasmEdge release, the host
/// CPU and the compiler options (computed once).
pub(crate) fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| Target {
        engine: engine_version().to_string_lossy().into_owned(),
        cpu: aot::host_cpu(),
        options: OPT_NAME.to_owned(),
    })
}

/// libwasmedge's version string, e.g. `0.14.1` (static).
pub fn engine_version() -> &'static CStr {
    // SAFETY: WasmEdge_VersionGet takes nothing and returns a pointer to a
    // static NUL-terminated string (checked for NULL).
    let ptr = unsafe { ffi::WasmEdge_VersionGet() };
    if ptr.is_null() {
        return c"unknown";
    }
    // SAFETY: non-NULL, NUL-terminated and static (see above).
    unsafe { CStr::from_ptr(ptr) }
}

/// Compiles `bytes` with WasmEdge's AOT compiler (optimization O2,
/// universal wasm output for this host's CPU) and seals the result into
/// `out`. `out` appears only complete: the compiler writes a temporary
/// file next to it (`OUT.PID.N.part`, removed on failure), which is
/// sealed, flushed to disk and renamed to `out`.
pub fn compile(bytes: &[u8], out: &Path) -> Result<(), Error> {
    // The same checks and messages as `load`, before LLVM is started.
    drop(load(bytes)?);
    // WasmEdge links the compiled object with lld inside the process, and
    // two links at once in one process corrupt each other (duplicate
    // symbols, then a crash): one compile at a time per process. runwasm
    // itself compiles in a child process per container.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempFile::next_to(out)?;
    compile_into(bytes, &tmp.0)?;
    let file =
        fs::read(&tmp.0).map_err(|e| Error::File(format!("cannot read {:?}: {e}", tmp.0)))?;
    match aot::check(&file, target()) {
        Ok(Kind::Native { sealed: false }) => {}
        Ok(_) => return Err(Error::Compile("the output carries no AOT section".into())),
        Err(msg) => return Err(Error::Compile(format!("the output is unusable: {msg}"))),
    }
    let seal = aot::seal(&file, target());
    let write = |path: &Path| -> std::io::Result<()> {
        let mut f = OpenOptions::new().append(true).open(path)?;
        f.write_all(&seal)?;
        f.sync_all()
    };
    write(&tmp.0).map_err(|e| Error::File(format!("cannot write {:?}: {e}", tmp.0)))?;
    fs::rename(&tmp.0, out)
        .map_err(|e| Error::File(format!("cannot rename {:?} to {out:?}: {e}", tmp.0)))?;
    tmp.keep();
    Ok(())
}

/// Runs WasmEdge's AOT compiler on `bytes`, writing a universal wasm to
/// `path`.
fn compile_into(bytes: &[u8], path: &Path) -> Result<(), Error> {
    let library = |e| Error::Library(format!("WasmEdge could not create the AOT compiler: {e}"));
    let mut config = wasmedge_sys::Config::create().map_err(library)?;
    config.set_aot_optimization_level(OPT_LEVEL);
    config.set_aot_compiler_output_format(CompilerOutputFormat::Wasm);
    let compiler = wasmedge_sys::Compiler::create(Some(&config)).map_err(library)?;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::File(format!("{path:?} contains a NUL byte")))?;
    // SAFETY: the compiler context is live (owned by `compiler`), and
    // WasmEdge only reads `bytes` (`len` bytes) and the NUL-terminated
    // path during the call. (The SDK's own wrapper copies the bytes into a
    // malloc'd buffer first and leaks it on failure.)
    let res = unsafe {
        ffi::WasmEdge_CompilerCompileFromBuffer(
            compiler.as_ptr().cast_mut(),
            bytes.as_ptr(),
            bytes.len() as u64,
            c_path.as_ptr(),
        )
    };
    match failure_of(res) {
        None => Ok(()),
        Some(msg) => Err(Error::Compile(msg)),
    }
}

/// A file of ours, removed on drop unless kept.
struct TempFile(PathBuf);

impl TempFile {
    /// Creates `OUT.PID.N.part` (a new file, mode 0644).
    fn next_to(out: &Path) -> Result<Self, Error> {
        static N: AtomicU32 = AtomicU32::new(0);
        let mut name = OsString::from(out.as_os_str());
        name.push(format!(
            ".{}.{}.part",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let path = PathBuf::from(name);
        // A leftover of an earlier process with this pid: ours to replace.
        let _ = fs::remove_file(&path);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| Error::File(format!("cannot create {path:?}: {e}")))?;
        Ok(Self(path))
    }

    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Sets up WASI from `config` and instantiates the module.
pub fn instantiate(loaded: Loaded, config: &Config) -> Result<Instance, Error> {
    let Loaded {
        module,
        config: engine,
        native,
        layout,
    } = loaded;
    let engine = match config.max_memory_pages {
        Some(pages) => {
            // Exported memories by name first, then the others.
            let over = inspect::memory_over_cap(&module, pages)
                .or_else(|| layout.as_ref().and_then(|l| l.memory_over_cap(pages)));
            if let Some(msg) = over {
                return Err(Error::Instantiate(msg));
            }
            engine_config(Some(pages), native)?
        }
        None => engine,
    };

    let strings = config.wasi_strings()?;
    let wasi = WasiModule::create(
        Some(strings.args),
        Some(strings.env),
        Some(strings.preopens.iter().map(String::as_str).collect()),
    )
    .map_err(|e| Error::Library(format!("WasmEdge could not create the WASI module: {e}")))?;
    let mut wasi = WasiStore::new(&engine, wasi)?;
    if let Some(msg) = inspect::unchecked_v2_import(&module, &mut wasi.store) {
        return Err(Error::Instantiate(msg));
    }

    let active = match wasi.store.register_active_module(&module) {
        // WasmEdge counts a proc_exit in the start function ("terminated")
        // as success but returns no module instance: the SDK then wraps a
        // NULL pointer, which must not be used. `run` reports the code.
        Ok(instance) if is_null(&instance) => {
            std::mem::forget(instance);
            None
        }
        Ok(instance) => Some(instance),
        Err(e) if is_terminated(&e) => None,
        Err(e) => return Err(instantiate_error(&e, &module, layout.as_ref(), &mut wasi)),
    };

    Ok(Instance {
        active,
        wasi,
        _module: module,
        _config: engine,
    })
}

/// Whether the SDK handed out an instance without a WasmEdge context.
fn is_null(instance: &wasmedge_sdk::Instance) -> bool {
    // SAFETY: `as_ptr` only returns the context pointer the instance
    // wraps; it is compared, never dereferenced.
    unsafe { instance.as_ptr() }.is_null()
}

/// Words an instantiation failure, naming the import at fault if any, and
/// for a trap where it happened: a segment that does not fit, or the start
/// function.
fn instantiate_error(
    err: &WasmEdgeError,
    module: &Module,
    layout: Option<&Layout>,
    wasi: &mut WasiStore,
) -> Error {
    if is_link_error(err) {
        if let Some(msg) = inspect::link_error(module, &mut wasi.store) {
            return Error::Instantiate(msg);
        }
    }
    let f = decode(err);
    if !f.trap {
        return Error::Instantiate(format!("instantiation failed: {}", f.message));
    }
    let source = layout.map_or(TrapSource::Unknown, Layout::why_trapped);
    let has_start = layout.is_none_or(|l| l.has_start);
    Error::Instantiate(match source {
        TrapSource::Segment(what) => format!("instantiation trapped: {}: {what}", f.message),
        TrapSource::StartFunction if has_start => {
            format!("start function trapped: {}", f.message)
        }
        _ if has_start => format!(
            "instantiation trapped (initializing the module's element or data segments, or in \
             its start function): {}",
            f.message
        ),
        _ => format!(
            "instantiation trapped initializing the module's element or data segments: {}",
            f.message
        ),
    })
}

/// Runs `_start`: `Ok(exit code)` when it returns or calls `proc_exit`
/// (or the start function already did), `Err(Error::Trap)` when it traps,
/// `Err(Error::Run)` otherwise.
pub fn run(mut instance: Instance) -> Result<i32, Error> {
    let Some(active) = &mut instance.active else {
        return Ok(instance.wasi.exit_code());
    };
    let mut func = active
        .get_func_mut("_start")
        .map_err(|_| Error::Run("module has no _start export".into()))?;
    let (params, results) = func
        .ty()
        .map_or((0, 0), |ty| (ty.args_len(), ty.returns_len()));
    if (params, results) != (0, 0) {
        return Err(Error::Run(format!(
            "_start takes {params} parameter(s) and returns {results} value(s); it must take and return none"
        )));
    }

    let res = instance.wasi.store.executor().call_func(&mut func, []);
    match res {
        Ok(_) => Ok(instance.wasi.exit_code()),
        Err(e) if is_terminated(&e) => Ok(instance.wasi.exit_code()),
        Err(e) => {
            let f = decode(&e);
            if f.trap {
                Err(Error::Trap(f.message))
            } else {
                Err(Error::Run(format!("_start failed: {}", f.message)))
            }
        }
    }
}

/// A store (with its executor) in which a WASI module is registered.
///
/// The SDK's [`Store`] borrows its import modules mutably for as long as it
/// lives, while an [`Instance`] must own both across the C ABI. So the
/// WASI module lives on the heap, owned by `_wasi`, and the store holds the
/// only reference to it: everything reaches the WASI module through the
/// store ([`WasiStore::exit_code`]).
struct WasiStore {
    // Declared before `_wasi`, so dropped first: the store's borrow of the
    // WASI module ends before `_wasi` frees it.
    store: Store<'static, WasiModule>,
    _wasi: HeapWasi,
}

impl WasiStore {
    fn new(config: &EngineConfig, wasi: WasiModule) -> Result<Self, Error> {
        let name = wasi.name().to_owned();
        let owner = HeapWasi(NonNull::from(Box::leak(Box::new(wasi))));
        // SAFETY: `owner` keeps the module alive and untouched until it is
        // dropped; this reference, the only one, goes into the store, which
        // is dropped before `owner`: in `WasiStore` by field order, and if
        // `Store::new` fails, inside it, before `owner` goes out of scope.
        let wasi: &'static mut WasiModule = unsafe { &mut *owner.0.as_ptr() };
        let store = Store::new(Some(config), HashMap::from([(name, wasi)]))
            .map_err(|e| Error::Instantiate(format!("cannot register WASI: {e}")))?;
        Ok(Self {
            store,
            _wasi: owner,
        })
    }

    /// The WASI exit code: 0 until `proc_exit` sets it.
    fn exit_code(&mut self) -> i32 {
        let wasi = self.store.get_instance_and_executor(WASI_MODULE);
        exit_status(wasi.map_or(0, |(wasi, _)| wasi.exit_code()))
    }
}

/// The name WASI registers under.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Owns a leaked `Box<WasiModule>` and frees it on drop.
struct HeapWasi(NonNull<WasiModule>);

impl Drop for HeapWasi {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `WasiStore::new`,
        // and the one reference made from it is gone (see there).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// The non-negative `i32` for a WASI exit code: itself when it fits,
/// otherwise (e.g. `exit(-1)`) its low 8 bits, as a process exit status
/// would keep.
fn exit_status(code: u32) -> i32 {
    i32::try_from(code).unwrap_or((code & 0xff) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_is_never_negative() {
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(42), 42);
        assert_eq!(exit_status(256), 256);
        assert_eq!(exit_status(u32::MAX), 255);
        assert_eq!(exit_status(0x8000_0001), 1);
    }

    /// The SDK sets every proposal explicitly; its defaults must be
    /// libwasmedge's own, so the port enables exactly what the C API's
    /// default configuration did.
    #[test]
    fn sdk_config_matches_libwasmedge_defaults() {
        let sdk = engine_config(None, false).expect("config");
        let lib = wasmedge_sys::Config::create().expect("config");
        let flags = |c: &EngineConfig| {
            [
                c.mutable_globals_enabled(),
                c.non_trap_conversions_enabled(),
                c.sign_extension_operators_enabled(),
                c.multi_value_enabled(),
                c.bulk_memory_operations_enabled(),
                c.reference_types_enabled(),
                c.simd_enabled(),
                c.multi_memories_enabled(),
                c.threads_enabled(),
                c.tail_call_enabled(),
                c.function_references_enabled(),
            ]
        };
        let lib_flags = [
            lib.mutable_globals_enabled(),
            lib.non_trap_conversions_enabled(),
            lib.sign_extension_operators_enabled(),
            lib.multi_value_enabled(),
            lib.bulk_memory_operations_enabled(),
            lib.reference_types_enabled(),
            lib.simd_enabled(),
            lib.multi_memories_enabled(),
            lib.threads_enabled(),
            lib.tail_call_enabled(),
            lib.function_references_enabled(),
        ];
        assert_eq!(flags(&sdk), lib_flags);
        assert!(!lib.gc_enabled() && !lib.exception_handling_enabled());
        assert!(sdk.interpreter_mode_enabled());
        assert_eq!(sdk.max_memory_pages(), lib.get_max_memory_pages());
        let capped = engine_config(Some(4), false).expect("config");
        assert_eq!(capped.max_memory_pages(), 4);
        let native = engine_config(Some(4), true).expect("config");
        assert!(!native.interpreter_mode_enabled());
        assert_eq!(flags(&native), lib_flags);
    }
}
