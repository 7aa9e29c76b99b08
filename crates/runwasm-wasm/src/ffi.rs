//! Hand-written bindings to the part of the WasmEdge 0.14 C API
//! (`/usr/include/wasmedge/wasmedge.h`) that runwasm uses.
//!
//! Every declaration mirrors the header of libwasmedge 0.14.1 exactly; the
//! library's soname (`libwasmedge.so.0`) does not change between minor
//! releases, so [`crate::engine`] checks the version at run time before the
//! first call that depends on these layouts.
//!
//! Contexts are opaque: they are only ever handled through pointers.

use std::ffi::{c_char, c_void};
use std::marker::{PhantomData, PhantomPinned};

/// Declares zero-sized opaque types for the C API's context structs.
macro_rules! opaque {
    ($($name:ident),* $(,)?) => {$(
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}

opaque!(
    ConfigureContext,
    LoaderContext,
    ValidatorContext,
    AstModuleContext,
    ImportTypeContext,
    ExportTypeContext,
    FunctionTypeContext,
    MemoryTypeContext,
    ExecutorContext,
    StoreContext,
    StatisticsContext,
    ModuleInstanceContext,
    FunctionInstanceContext,
);

/// `WasmEdge_String`: a borrowed, not necessarily NUL-terminated string.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct WasmEdgeString {
    pub length: u32,
    pub buf: *const c_char,
}

impl WasmEdgeString {
    /// Borrows `s` without copying (what `WasmEdge_StringWrap` does).
    /// Callers only pass names far shorter than 4 GiB; longer ones are
    /// truncated rather than wrapped.
    pub fn wrap(s: &str) -> Self {
        Self {
            length: u32::try_from(s.len()).unwrap_or(u32::MAX),
            buf: s.as_ptr().cast(),
        }
    }
}

/// `WasmEdge_Result`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct WasmEdgeResult {
    pub code: u32,
}

/// `WasmEdge_Limit`: the limits of a table or memory type.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WasmEdgeLimit {
    pub has_max: bool,
    pub shared: bool,
    pub min: u32,
    pub max: u32,
}

/// `WasmEdge_ValType`: raw value-type bytes, compared with
/// [`WasmEdge_ValTypeIsEqual`].
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct WasmEdgeValType {
    pub data: [u8; 8],
}

/// `enum WasmEdge_ErrCategory`: the `WASM` category (the other one is
/// user-level errors from host functions).
pub const ERR_CATEGORY_WASM: u32 = 0x00;

/// `enum WasmEdge_ExternalType` values.
pub const EXTERNAL_FUNCTION: u32 = 0x00;
pub const EXTERNAL_TABLE: u32 = 0x01;
pub const EXTERNAL_MEMORY: u32 = 0x02;
pub const EXTERNAL_GLOBAL: u32 = 0x03;
pub const EXTERNAL_TAG: u32 = 0x04;

#[allow(non_snake_case)]
extern "C" {
    pub fn WasmEdge_VersionGet() -> *const c_char;
    pub fn WasmEdge_VersionGetMajor() -> u32;
    pub fn WasmEdge_VersionGetMinor() -> u32;
    pub fn WasmEdge_LogOff();

    pub fn WasmEdge_ResultOK(res: WasmEdgeResult) -> bool;
    pub fn WasmEdge_ResultGetCode(res: WasmEdgeResult) -> u32;
    pub fn WasmEdge_ResultGetCategory(res: WasmEdgeResult) -> u32;
    pub fn WasmEdge_ResultGetMessage(res: WasmEdgeResult) -> *const c_char;

    pub fn WasmEdge_ValTypeIsEqual(a: WasmEdgeValType, b: WasmEdgeValType) -> bool;

    pub fn WasmEdge_ConfigureCreate() -> *mut ConfigureContext;
    pub fn WasmEdge_ConfigureSetMaxMemoryPage(cxt: *mut ConfigureContext, page: u32);
    pub fn WasmEdge_ConfigureSetForceInterpreter(cxt: *mut ConfigureContext, force: bool);
    pub fn WasmEdge_ConfigureDelete(cxt: *mut ConfigureContext);

    pub fn WasmEdge_LoaderCreate(conf: *const ConfigureContext) -> *mut LoaderContext;
    pub fn WasmEdge_LoaderParseFromBuffer(
        cxt: *mut LoaderContext,
        module: *mut *mut AstModuleContext,
        buf: *const u8,
        len: u32,
    ) -> WasmEdgeResult;
    pub fn WasmEdge_LoaderDelete(cxt: *mut LoaderContext);

    pub fn WasmEdge_ValidatorCreate(conf: *const ConfigureContext) -> *mut ValidatorContext;
    pub fn WasmEdge_ValidatorValidate(
        cxt: *mut ValidatorContext,
        module: *const AstModuleContext,
    ) -> WasmEdgeResult;
    pub fn WasmEdge_ValidatorDelete(cxt: *mut ValidatorContext);

    pub fn WasmEdge_ASTModuleListImportsLength(cxt: *const AstModuleContext) -> u32;
    pub fn WasmEdge_ASTModuleListImports(
        cxt: *const AstModuleContext,
        imports: *mut *const ImportTypeContext,
        len: u32,
    ) -> u32;
    pub fn WasmEdge_ASTModuleListExportsLength(cxt: *const AstModuleContext) -> u32;
    pub fn WasmEdge_ASTModuleListExports(
        cxt: *const AstModuleContext,
        exports: *mut *const ExportTypeContext,
        len: u32,
    ) -> u32;
    pub fn WasmEdge_ASTModuleDelete(cxt: *mut AstModuleContext);

    pub fn WasmEdge_ExportTypeGetExternalType(cxt: *const ExportTypeContext) -> u32;
    pub fn WasmEdge_ExportTypeGetExternalName(cxt: *const ExportTypeContext) -> WasmEdgeString;
    pub fn WasmEdge_ExportTypeGetMemoryType(
        ast: *const AstModuleContext,
        cxt: *const ExportTypeContext,
    ) -> *const MemoryTypeContext;
    pub fn WasmEdge_MemoryTypeGetLimit(cxt: *const MemoryTypeContext) -> WasmEdgeLimit;

    pub fn WasmEdge_ImportTypeGetExternalType(cxt: *const ImportTypeContext) -> u32;
    pub fn WasmEdge_ImportTypeGetModuleName(cxt: *const ImportTypeContext) -> WasmEdgeString;
    pub fn WasmEdge_ImportTypeGetExternalName(cxt: *const ImportTypeContext) -> WasmEdgeString;
    pub fn WasmEdge_ImportTypeGetFunctionType(
        ast: *const AstModuleContext,
        cxt: *const ImportTypeContext,
    ) -> *const FunctionTypeContext;

    pub fn WasmEdge_FunctionTypeGetParametersLength(cxt: *const FunctionTypeContext) -> u32;
    pub fn WasmEdge_FunctionTypeGetParameters(
        cxt: *const FunctionTypeContext,
        list: *mut WasmEdgeValType,
        len: u32,
    ) -> u32;
    pub fn WasmEdge_FunctionTypeGetReturnsLength(cxt: *const FunctionTypeContext) -> u32;
    pub fn WasmEdge_FunctionTypeGetReturns(
        cxt: *const FunctionTypeContext,
        list: *mut WasmEdgeValType,
        len: u32,
    ) -> u32;

    pub fn WasmEdge_ExecutorCreate(
        conf: *const ConfigureContext,
        stat: *mut StatisticsContext,
    ) -> *mut ExecutorContext;
    pub fn WasmEdge_ExecutorInstantiate(
        cxt: *mut ExecutorContext,
        module: *mut *mut ModuleInstanceContext,
        store: *mut StoreContext,
        ast: *const AstModuleContext,
    ) -> WasmEdgeResult;
    pub fn WasmEdge_ExecutorRegisterImport(
        cxt: *mut ExecutorContext,
        store: *mut StoreContext,
        import: *const ModuleInstanceContext,
    ) -> WasmEdgeResult;
    /// `params` and `returns` are `WasmEdge_Value` arrays; runwasm only
    /// invokes `() -> ()` functions and passes NULL with length 0.
    pub fn WasmEdge_ExecutorInvoke(
        cxt: *mut ExecutorContext,
        func: *const FunctionInstanceContext,
        params: *const c_void,
        param_len: u32,
        returns: *mut c_void,
        return_len: u32,
    ) -> WasmEdgeResult;
    pub fn WasmEdge_ExecutorDelete(cxt: *mut ExecutorContext);

    pub fn WasmEdge_StoreCreate() -> *mut StoreContext;
    pub fn WasmEdge_StoreFindModule(
        cxt: *const StoreContext,
        name: WasmEdgeString,
    ) -> *const ModuleInstanceContext;
    pub fn WasmEdge_StoreDelete(cxt: *mut StoreContext);

    pub fn WasmEdge_ModuleInstanceCreateWASI(
        args: *const *const c_char,
        arg_len: u32,
        envs: *const *const c_char,
        env_len: u32,
        preopens: *const *const c_char,
        preopen_len: u32,
    ) -> *mut ModuleInstanceContext;
    pub fn WasmEdge_ModuleInstanceWASIGetExitCode(cxt: *const ModuleInstanceContext) -> u32;
    pub fn WasmEdge_ModuleInstanceFindFunction(
        cxt: *const ModuleInstanceContext,
        name: WasmEdgeString,
    ) -> *mut FunctionInstanceContext;
    pub fn WasmEdge_ModuleInstanceFindTable(
        cxt: *const ModuleInstanceContext,
        name: WasmEdgeString,
    ) -> *mut c_void;
    pub fn WasmEdge_ModuleInstanceFindMemory(
        cxt: *const ModuleInstanceContext,
        name: WasmEdgeString,
    ) -> *mut c_void;
    pub fn WasmEdge_ModuleInstanceFindGlobal(
        cxt: *const ModuleInstanceContext,
        name: WasmEdgeString,
    ) -> *mut c_void;
    pub fn WasmEdge_ModuleInstanceFindTag(
        cxt: *const ModuleInstanceContext,
        name: WasmEdgeString,
    ) -> *mut c_void;
    pub fn WasmEdge_ModuleInstanceDelete(cxt: *mut ModuleInstanceContext);

    pub fn WasmEdge_FunctionInstanceGetFunctionType(
        cxt: *const FunctionInstanceContext,
    ) -> *const FunctionTypeContext;
}
