//! Looking into a loaded module for what WasmEdge does not report itself.
//!
//! * [`link_error`]: WasmEdge's result for a failed link is only "unknown
//!   import" or "incompatible import type" (the details go to its log,
//!   which is off). On that error path only, the module's imports are
//!   resolved again by hand against the store to find the culprit.
//! * [`memory_over_cap`]: WasmEdge silently shrinks a memory whose minimum
//!   exceeds the configured page cap, so the module would run with less
//!   memory than it declares; the exported memories are checked first.

use crate::ffi::{
    self, AstModuleContext, ExportTypeContext, ImportTypeContext, ModuleInstanceContext,
    StoreContext,
};
use crate::result::{string_lossy, INCOMPATIBLE_IMPORT_TYPE, UNKNOWN_IMPORT};

/// The message for a link failure with error `code`, naming the first import
/// that does not resolve (or whose function type differs); `None` when
/// `code` is not a link error or no culprit is found.
///
/// # Safety
/// `ast` and `store` must be live WasmEdge contexts.
pub unsafe fn link_error(
    code: u32,
    ast: *const AstModuleContext,
    store: *const StoreContext,
) -> Option<String> {
    if code != UNKNOWN_IMPORT && code != INCOMPATIBLE_IMPORT_TYPE {
        return None;
    }
    // SAFETY: `ast` is live (caller); the list is filled with at most
    // `len` pointers to import types owned by `ast`.
    let imports = unsafe {
        let len = ffi::WasmEdge_ASTModuleListImportsLength(ast);
        let mut list: Vec<*const ImportTypeContext> = vec![std::ptr::null(); len as usize];
        let n = ffi::WasmEdge_ASTModuleListImports(ast, list.as_mut_ptr(), len);
        list.truncate(n as usize);
        list
    };
    imports.into_iter().find_map(|import| {
        // SAFETY: `import` is owned by the live `ast`, `store` is live.
        unsafe { check_import(ast, store, import) }
    })
}

/// The message for the first exported memory whose minimum size exceeds
/// `max_pages`, if any. (A memory that is not exported cannot be checked
/// through the C API; WASI programs always export theirs.)
///
/// # Safety
/// `ast` must be a live, validated module.
pub unsafe fn memory_over_cap(ast: *const AstModuleContext, max_pages: u32) -> Option<String> {
    // SAFETY: `ast` is live (caller); the list is filled with at most `len`
    // pointers to export types owned by `ast`.
    let exports = unsafe {
        let len = ffi::WasmEdge_ASTModuleListExportsLength(ast);
        let mut list: Vec<*const ExportTypeContext> = vec![std::ptr::null(); len as usize];
        let n = ffi::WasmEdge_ASTModuleListExports(ast, list.as_mut_ptr(), len);
        list.truncate(n as usize);
        list
    };
    exports.into_iter().find_map(|export| {
        // SAFETY: `export` is owned by the live `ast`; the memory type, when
        // not NULL, too.
        let (min, name) = unsafe {
            if ffi::WasmEdge_ExportTypeGetExternalType(export) != ffi::EXTERNAL_MEMORY {
                return None;
            }
            let ty = ffi::WasmEdge_ExportTypeGetMemoryType(ast, export);
            if ty.is_null() {
                return None;
            }
            let min = ffi::WasmEdge_MemoryTypeGetLimit(ty).min;
            (
                min,
                string_lossy(ffi::WasmEdge_ExportTypeGetExternalName(export)),
            )
        };
        (min > max_pages).then(|| {
            format!("memory {name:?} needs {min} pages but max_memory_pages is {max_pages}")
        })
    })
}

/// `Some(message)` if `import` does not resolve in `store`.
///
/// # Safety
/// All pointers must be live WasmEdge contexts, `import` owned by `ast`.
unsafe fn check_import(
    ast: *const AstModuleContext,
    store: *const StoreContext,
    import: *const ImportTypeContext,
) -> Option<String> {
    // SAFETY: `import` is live; the returned strings borrow from `ast`,
    // which outlives this function, and are copied at once.
    let (module_name, field_name, kind) = unsafe {
        (
            ffi::WasmEdge_ImportTypeGetModuleName(import),
            ffi::WasmEdge_ImportTypeGetExternalName(import),
            ffi::WasmEdge_ImportTypeGetExternalType(import),
        )
    };
    // SAFETY: as above.
    let (module, field) = unsafe { (string_lossy(module_name), string_lossy(field_name)) };
    let unknown = || Some(format!("unknown import {module:?}.{field:?}"));

    // SAFETY: `store` is live; the name borrows from `ast`.
    let provider = unsafe { ffi::WasmEdge_StoreFindModule(store, module_name) };
    if provider.is_null() {
        return unknown();
    }
    // SAFETY: `provider` is a live module registered in `store`.
    let found = unsafe { find_export(provider, kind, field_name) };
    if found.is_null() {
        return unknown();
    }
    if kind == ffi::EXTERNAL_FUNCTION {
        // SAFETY: `found` is a function instance of `provider`; `import`
        // is a function import of `ast`.
        let same = unsafe {
            same_function_type(
                ffi::WasmEdge_ImportTypeGetFunctionType(ast, import),
                ffi::WasmEdge_FunctionInstanceGetFunctionType(found.cast()),
            )
        };
        if !same {
            return Some(format!(
                "incompatible import type for {module:?}.{field:?}: the module \
                 expects a function type that differs from the host's"
            ));
        }
    }
    None
}

/// The export `name` of kind `kind` in `module`, NULL if absent.
///
/// # Safety
/// `module` must be a live module instance and `name` valid for the call.
unsafe fn find_export(
    module: *const ModuleInstanceContext,
    kind: u32,
    name: ffi::WasmEdgeString,
) -> *const std::ffi::c_void {
    // SAFETY: guaranteed by the caller.
    unsafe {
        match kind {
            ffi::EXTERNAL_FUNCTION => ffi::WasmEdge_ModuleInstanceFindFunction(module, name).cast(),
            ffi::EXTERNAL_TABLE => ffi::WasmEdge_ModuleInstanceFindTable(module, name),
            ffi::EXTERNAL_MEMORY => ffi::WasmEdge_ModuleInstanceFindMemory(module, name),
            ffi::EXTERNAL_GLOBAL => ffi::WasmEdge_ModuleInstanceFindGlobal(module, name),
            ffi::EXTERNAL_TAG => ffi::WasmEdge_ModuleInstanceFindTag(module, name),
            _ => std::ptr::null_mut(),
        }
    }
}

/// Whether two function types have the same parameters and results.
/// Missing types count as different.
///
/// # Safety
/// Both pointers must be NULL or live function types.
unsafe fn same_function_type(
    a: *const ffi::FunctionTypeContext,
    b: *const ffi::FunctionTypeContext,
) -> bool {
    if a.is_null() || b.is_null() {
        return false;
    }
    type Getter = unsafe extern "C" fn(
        *const ffi::FunctionTypeContext,
        *mut ffi::WasmEdgeValType,
        u32,
    ) -> u32;
    type LenGetter = unsafe extern "C" fn(*const ffi::FunctionTypeContext) -> u32;
    let lists: [(LenGetter, Getter); 2] = [
        (
            ffi::WasmEdge_FunctionTypeGetParametersLength,
            ffi::WasmEdge_FunctionTypeGetParameters,
        ),
        (
            ffi::WasmEdge_FunctionTypeGetReturnsLength,
            ffi::WasmEdge_FunctionTypeGetReturns,
        ),
    ];
    lists.into_iter().all(|(len_of, get)| {
        // SAFETY: `a` and `b` are live (caller); each buffer holds `len`
        // value types and WasmEdge writes at most `len`.
        unsafe {
            let len = len_of(a);
            if len != len_of(b) {
                return false;
            }
            let mut va = vec![ffi::WasmEdgeValType::default(); len as usize];
            let mut vb = va.clone();
            get(a, va.as_mut_ptr(), len);
            get(b, vb.as_mut_ptr(), len);
            va.into_iter()
                .zip(vb)
                .all(|(x, y)| ffi::WasmEdge_ValTypeIsEqual(x, y))
        }
    })
}
