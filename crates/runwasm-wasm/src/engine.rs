//! The WasmEdge work behind the three ABI phases.
//!
//! * [`load`]: parse + validate the bytes (WasmEdge's interpreter only: the
//!   loader ignores any AOT section).
//! * [`instantiate`]: a fresh executor and store, a WASI module configured
//!   only from [`Config`], then the module itself, linked against WASI.
//! * [`run`]: invoke `_start` and read the WASI exit code.
//!
//! No `WasmEdge_VMContext` is used: its configuration, and with it the
//! memory cap, is fixed before loading, whereas the cap only arrives with
//! the config at instantiate; separate contexts also keep `load` free of
//! any executor or WASI setup.

use std::ptr::{self, NonNull};
use std::sync::OnceLock;

use crate::config::Config;
use crate::ffi::{self, AstModuleContext, ConfigureContext, ModuleInstanceContext};
use crate::inspect;
use crate::result::{check, is_terminated, Failure};
use crate::Error;

/// The libwasmedge minor version the bindings in [`ffi`] are written for.
const WASMEDGE_MINOR: u32 = 14;

/// Owns a WasmEdge context and deletes it on drop.
struct Owned<T> {
    ptr: NonNull<T>,
    delete: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    /// Takes ownership of `ptr`; NULL is reported as "could not create
    /// `what`".
    ///
    /// # Safety
    /// A non-NULL `ptr` must be a live context created by WasmEdge, that
    /// `delete` destroys and that nothing else deletes.
    unsafe fn new(
        ptr: *mut T,
        delete: unsafe extern "C" fn(*mut T),
        what: &str,
    ) -> Result<Self, Error> {
        NonNull::new(ptr)
            .map(|ptr| Self { ptr, delete })
            .ok_or_else(|| Error::Library(format!("WasmEdge could not create {what}")))
    }

    fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from the WasmEdge constructor matching `delete`
        // (see `new`) and is deleted exactly once, here.
        unsafe { (self.delete)(self.ptr.as_ptr()) }
    }
}

/// A parsed and validated module.
pub struct Loaded {
    ast: Owned<AstModuleContext>,
    config: Owned<ConfigureContext>,
}

/// An instantiated module, ready to run.
///
/// Field order is drop order: the module instance goes before the WASI
/// instance it imports from, both before the store they are registered in;
/// the AST outlives them all, since the interpreter's functions point into
/// its code.
pub struct Instance {
    /// `None` when the start function already exited with `proc_exit`.
    module: Option<Owned<ModuleInstanceContext>>,
    wasi: Owned<ModuleInstanceContext>,
    _store: Owned<ffi::StoreContext>,
    executor: Owned<ffi::ExecutorContext>,
    _ast: Owned<AstModuleContext>,
    _config: Owned<ConfigureContext>,
}

/// Silences WasmEdge's logging and checks the library version, once.
fn init() -> Result<(), Error> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        // SAFETY: plain getters and a global log-level switch, no arguments.
        let (major, minor) = unsafe {
            ffi::WasmEdge_LogOff();
            (
                ffi::WasmEdge_VersionGetMajor(),
                ffi::WasmEdge_VersionGetMinor(),
            )
        };
        if (major, minor) == (0, WASMEDGE_MINOR) {
            Ok(())
        } else {
            // SAFETY: WasmEdge_VersionGet returns a static C string (NULL
            // is checked anyway).
            let version = unsafe {
                let ptr = ffi::WasmEdge_VersionGet();
                if ptr.is_null() {
                    format!("{major}.{minor}")
                } else {
                    std::ffi::CStr::from_ptr(ptr).to_string_lossy().into_owned()
                }
            };
            Err(format!(
                "libwasmedge {version} is not supported (runwasm-wasm needs 0.{WASMEDGE_MINOR}.x)"
            ))
        }
    })
    .clone()
    .map_err(Error::Library)
}

/// Parses and validates a module. `bytes` is not retained: WasmEdge copies
/// what it keeps into the AST.
pub fn load(bytes: &[u8]) -> Result<Loaded, Error> {
    init()?;
    let len = u32::try_from(bytes.len())
        .map_err(|_| Error::InvalidModule("module is larger than 4 GiB".into()))?;

    // SAFETY: ConfigureCreate has no preconditions; its result is ours to
    // delete with ConfigureDelete (the same holds for every `Owned::new`
    // below: each pairs a WasmEdge constructor with its destructor).
    let config = unsafe {
        Owned::new(
            ffi::WasmEdge_ConfigureCreate(),
            ffi::WasmEdge_ConfigureDelete,
            "a configuration",
        )
    }?;
    // SAFETY: `config` is a live configure context.
    unsafe { ffi::WasmEdge_ConfigureSetForceInterpreter(config.as_ptr(), true) };

    // SAFETY: `config` is live and the loader copies it; see above.
    let loader = unsafe {
        Owned::new(
            ffi::WasmEdge_LoaderCreate(config.as_ptr()),
            ffi::WasmEdge_LoaderDelete,
            "a loader",
        )
    }?;
    let mut ast = ptr::null_mut();
    // SAFETY: `loader` is live, `ast` is a valid out-pointer and `bytes`
    // is readable for `len` bytes for the duration of the call.
    let res = unsafe {
        ffi::WasmEdge_LoaderParseFromBuffer(loader.as_ptr(), &mut ast, bytes.as_ptr(), len)
    };
    check(res).map_err(|f| Error::InvalidModule(f.message))?;
    // SAFETY: on success the loader hands us a new AST module.
    let ast = unsafe { Owned::new(ast, ffi::WasmEdge_ASTModuleDelete, "a module") }?;

    // SAFETY: `config` is live and the validator copies it.
    let validator = unsafe {
        Owned::new(
            ffi::WasmEdge_ValidatorCreate(config.as_ptr()),
            ffi::WasmEdge_ValidatorDelete,
            "a validator",
        )
    }?;
    // SAFETY: both contexts are live.
    let res = unsafe { ffi::WasmEdge_ValidatorValidate(validator.as_ptr(), ast.as_ptr()) };
    check(res).map_err(|f| Error::InvalidModule(f.message))?;

    Ok(Loaded { ast, config })
}

/// Sets up WASI from `config` and instantiates the module.
pub fn instantiate(loaded: Loaded, config: &Config) -> Result<Instance, Error> {
    let Loaded { ast, config: conf } = loaded;
    if let Some(pages) = config.max_memory_pages {
        // SAFETY: `ast` is live and validated.
        if let Some(msg) = unsafe { inspect::memory_over_cap(ast.as_ptr(), pages) } {
            return Err(Error::Instantiate(msg));
        }
        // SAFETY: `conf` is live; the executor created below copies it.
        unsafe { ffi::WasmEdge_ConfigureSetMaxMemoryPage(conf.as_ptr(), pages) };
    }
    // SAFETY: `conf` is live and the executor copies it; NULL statistics
    // disables instruction counting. The result is ours to delete.
    let executor = unsafe {
        Owned::new(
            ffi::WasmEdge_ExecutorCreate(conf.as_ptr(), ptr::null_mut()),
            ffi::WasmEdge_ExecutorDelete,
            "an executor",
        )
    }?;
    // SAFETY: StoreCreate has no preconditions; the result is ours.
    let store = unsafe {
        Owned::new(
            ffi::WasmEdge_StoreCreate(),
            ffi::WasmEdge_StoreDelete,
            "a store",
        )
    }?;

    let strings = config.wasi_strings()?;
    // SAFETY: each array holds `count()` pointers to NUL-terminated strings
    // (or is NULL when empty), all alive during the call; WasmEdge copies
    // them into the WASI environment.
    let wasi = unsafe {
        ffi::WasmEdge_ModuleInstanceCreateWASI(
            strings.args.as_ptr(),
            strings.args.count(),
            strings.env.as_ptr(),
            strings.env.count(),
            strings.preopens.as_ptr(),
            strings.preopens.count(),
        )
    };
    // SAFETY: CreateWASI returned a new module instance, ours to delete.
    let wasi = unsafe { Owned::new(wasi, ffi::WasmEdge_ModuleInstanceDelete, "the WASI module") }?;
    // SAFETY: all three contexts are live; `wasi` outlives its registration
    // (it is dropped before `store` in `Instance`).
    let res = unsafe {
        ffi::WasmEdge_ExecutorRegisterImport(executor.as_ptr(), store.as_ptr(), wasi.as_ptr())
    };
    check(res).map_err(|f| Error::Instantiate(format!("cannot register WASI: {}", f.message)))?;

    let mut module = ptr::null_mut();
    // SAFETY: all contexts are live, `module` is a valid out-pointer and
    // `ast` was validated by `load`.
    let res = unsafe {
        ffi::WasmEdge_ExecutorInstantiate(
            executor.as_ptr(),
            &mut module,
            store.as_ptr(),
            ast.as_ptr(),
        )
    };
    if let Err(f) = check(res) {
        return Err(instantiate_error(&f, &ast, &store));
    }
    let module = if is_terminated(res) {
        // The start function called proc_exit: there is no instance (if
        // WasmEdge made one anyway, delete it) and `run` reports the code.
        if !module.is_null() {
            // SAFETY: a module instance the executor handed over to us.
            unsafe { ffi::WasmEdge_ModuleInstanceDelete(module) };
        }
        None
    } else {
        // SAFETY: on success the executor hands us a new module instance.
        Some(unsafe {
            Owned::new(
                module,
                ffi::WasmEdge_ModuleInstanceDelete,
                "the module instance",
            )
        }?)
    };

    Ok(Instance {
        module,
        wasi,
        _store: store,
        executor,
        _ast: ast,
        _config: conf,
    })
}

/// Words an instantiation failure, naming the import at fault if any.
fn instantiate_error(
    f: &Failure,
    ast: &Owned<AstModuleContext>,
    store: &Owned<ffi::StoreContext>,
) -> Error {
    // SAFETY: `ast` and `store` are live for the call.
    if let Some(msg) = unsafe { inspect::link_error(f.code, ast.as_ptr(), store.as_ptr()) } {
        return Error::Instantiate(msg);
    }
    Error::Instantiate(if f.trap {
        format!("start function trapped: {}", f.message)
    } else {
        format!("instantiation failed: {}", f.message)
    })
}

/// Runs `_start`: `Ok(exit code)` when it returns or calls `proc_exit`
/// (or the start function already did), `Err(Error::Trap)` when it traps,
/// `Err(Error::Run)` otherwise.
pub fn run(instance: Instance) -> Result<i32, Error> {
    let Some(module) = &instance.module else {
        return Ok(exit_code(&instance));
    };
    let name = ffi::WasmEdgeString::wrap("_start");
    // SAFETY: the module instance is live and `name` borrows a static str.
    let func = unsafe { ffi::WasmEdge_ModuleInstanceFindFunction(module.as_ptr(), name) };
    if func.is_null() {
        return Err(Error::Run("module has no _start export".into()));
    }
    // SAFETY: `func` belongs to the live module instance.
    let (params, results) = unsafe {
        let ty = ffi::WasmEdge_FunctionInstanceGetFunctionType(func);
        if ty.is_null() {
            (0, 0)
        } else {
            (
                ffi::WasmEdge_FunctionTypeGetParametersLength(ty),
                ffi::WasmEdge_FunctionTypeGetReturnsLength(ty),
            )
        }
    };
    if (params, results) != (0, 0) {
        return Err(Error::Run(format!(
            "_start takes {params} parameter(s) and returns {results} value(s); it must take and return none"
        )));
    }

    // SAFETY: the executor and `func` are live and `func` has type
    // [] -> [], so no parameter or result buffers are needed.
    let res = unsafe {
        ffi::WasmEdge_ExecutorInvoke(
            instance.executor.as_ptr(),
            func,
            ptr::null(),
            0,
            ptr::null_mut(),
            0,
        )
    };
    match check(res) {
        Ok(()) => Ok(exit_code(&instance)),
        Err(f) if f.trap => Err(Error::Trap(f.message)),
        Err(f) => Err(Error::Run(format!("_start failed: {}", f.message))),
    }
}

/// The WASI exit code: 0 until `proc_exit` sets it.
fn exit_code(instance: &Instance) -> i32 {
    // SAFETY: `wasi` is the live WASI module instance.
    exit_status(unsafe { ffi::WasmEdge_ModuleInstanceWASIGetExitCode(instance.wasi.as_ptr()) })
}

/// The non-negative `i32` for a WASI exit code: itself when it fits,
/// otherwise (e.g. `exit(-1)`) its low 8 bits, as a process exit status
/// would keep.
fn exit_status(code: u32) -> i32 {
    i32::try_from(code).unwrap_or((code & 0xff) as i32)
}

#[cfg(test)]
mod tests {
    use super::exit_status;

    #[test]
    fn exit_status_is_never_negative() {
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(42), 42);
        assert_eq!(exit_status(256), 256);
        assert_eq!(exit_status(u32::MAX), 255);
        assert_eq!(exit_status(0x8000_0001), 1);
    }
}
