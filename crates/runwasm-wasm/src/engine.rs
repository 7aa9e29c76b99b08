//! The WasmEdge work behind the three ABI phases, on `wasmedge-sdk`.
//!
//! * [`load`]: parse + validate the bytes into a [`Module`] (WasmEdge's
//!   interpreter only: the loader ignores any AOT section).
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
//! stays free of any executor or WASI setup.
//!
//! The SDK's executor (wasmedge-sys 0.19, on Linux/glibc) blocks
//! `SIGRTMIN` while each host function (a WASI call) runs, for its
//! timeout support: such a signal is only delivered when the call returns.

use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::OnceLock;

use wasmedge_sdk::config::{
    CommonConfigOptions, Config as EngineConfig, ConfigBuilder, RuntimeConfigOptions,
};
use wasmedge_sdk::error::WasmEdgeError;
use wasmedge_sdk::utils::CoreVersion;
use wasmedge_sdk::wasi::WasiModule;
use wasmedge_sdk::{AsInstance, LogManager, Module, Store};
use wasmedge_sys::instance::function::AsFunc;

use crate::config::Config;
use crate::inspect;
use crate::result::{decode, is_link_error, is_terminated};
use crate::Error;

/// The libwasmedge minor version the SDK (wasmedge-sys 0.19's bindings,
/// generated from the 0.14 headers) is built for.
const WASMEDGE_MINOR: u32 = 14;

/// A parsed and validated module.
pub struct Loaded {
    module: Module,
    config: EngineConfig,
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
fn init() -> Result<(), Error> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        LogManager::log_off();
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
/// interpreter forced, and the memory cap if any.
fn engine_config(max_memory_pages: Option<u32>) -> Result<EngineConfig, Error> {
    let mut builder = ConfigBuilder::new(CommonConfigOptions::new().interpreter_mode(true));
    if let Some(pages) = max_memory_pages {
        builder = builder.with_runtime_config(RuntimeConfigOptions::new().max_memory_pages(pages));
    }
    builder
        .build()
        .map_err(|e| Error::Library(format!("WasmEdge could not create a configuration: {e}")))
}

/// Parses and validates a module. `bytes` is not retained: WasmEdge copies
/// what it keeps into the AST.
pub fn load(bytes: &[u8]) -> Result<Loaded, Error> {
    init()?;
    // The SDK passes the length to WasmEdge as a u32.
    if u32::try_from(bytes.len()).is_err() {
        return Err(Error::InvalidModule("module is larger than 4 GiB".into()));
    }
    let config = engine_config(None)?;
    let module = Module::from_bytes(Some(&config), bytes)
        .map_err(|e| Error::InvalidModule(decode(&e).message))?;
    Ok(Loaded { module, config })
}

/// Sets up WASI from `config` and instantiates the module.
pub fn instantiate(loaded: Loaded, config: &Config) -> Result<Instance, Error> {
    let Loaded {
        module,
        config: engine,
    } = loaded;
    let engine = match config.max_memory_pages {
        Some(pages) => {
            if let Some(msg) = inspect::memory_over_cap(&module, pages) {
                return Err(Error::Instantiate(msg));
            }
            engine_config(Some(pages))?
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
        Err(e) => return Err(instantiate_error(&e, &module, &mut wasi)),
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

/// Words an instantiation failure, naming the import at fault if any.
fn instantiate_error(err: &WasmEdgeError, module: &Module, wasi: &mut WasiStore) -> Error {
    if is_link_error(err) {
        if let Some(msg) = inspect::link_error(module, &mut wasi.store) {
            return Error::Instantiate(msg);
        }
    }
    let f = decode(err);
    Error::Instantiate(if f.trap {
        format!("start function trapped: {}", f.message)
    } else {
        format!("instantiation failed: {}", f.message)
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
        let sdk = engine_config(None).expect("config");
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
        let capped = engine_config(Some(4)).expect("config");
        assert_eq!(capped.max_memory_pages(), 4);
    }
}
