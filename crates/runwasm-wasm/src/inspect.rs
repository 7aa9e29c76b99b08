//! Looking into a loaded module for what WasmEdge does not report itself.
//!
//! * [`link_error`]: WasmEdge's error for a failed link is only "unknown
//!   import" or "incompatible import type" (the details go to its log,
//!   which is off). On that error path only, the module's imports are
//!   resolved again by hand against the store's import modules to find the
//!   culprit.
//! * [`memory_over_cap`]: WasmEdge silently shrinks a memory whose minimum
//!   exceeds the configured page cap, so the module would run with less
//!   memory than it declares; the exported memories are checked first.
//!
//! `ImportType::ty` and `ExportType::ty` panic on a tag (exception
//! handling), but the configuration leaves that proposal off, so a module
//! with a tag import or export never gets past `load`.

use wasmedge_sdk::wasi::WasiModule;
use wasmedge_sdk::{AsInstance, ExternalInstanceType, Module, Store};
use wasmedge_sys::instance::function::AsFunc;

/// The message for a link failure, naming the first import that does not
/// resolve among the import modules registered in `store` (or whose
/// function type differs); `None` when no culprit is found.
pub fn link_error(module: &Module, store: &mut Store<'_, WasiModule>) -> Option<String> {
    for import in module.imports() {
        let (module_name, field) = (import.module_name(), import.name());
        let unknown = || Some(format!("unknown import {module_name:?}.{field:?}"));
        let Ok(ty) = import.ty() else { continue };
        let Some((provider, _)) = store.get_instance_and_executor(&module_name) else {
            return unknown();
        };
        let found = match &ty {
            ExternalInstanceType::Func(want) => match provider.get_func(&field) {
                Ok(func) if func.ty().as_ref() == Some(want) => true,
                Ok(_) => {
                    return Some(format!(
                        "incompatible import type for {module_name:?}.{field:?}: the module \
                         expects a function type that differs from the host's"
                    ))
                }
                Err(_) => false,
            },
            ExternalInstanceType::Table(_) => provider.get_table(&field).is_ok(),
            ExternalInstanceType::Memory(_) => provider.get_memory_ref(&field).is_ok(),
            ExternalInstanceType::Global(_) => provider.get_global(&field).is_ok(),
        };
        if !found {
            return unknown();
        }
    }
    None
}

/// The message for the first exported memory whose minimum size exceeds
/// `max_pages`, if any. (A memory that is not exported cannot be checked
/// through the API; WASI programs always export theirs.)
pub fn memory_over_cap(module: &Module, max_pages: u32) -> Option<String> {
    module.exports().into_iter().find_map(|export| {
        let Ok(ExternalInstanceType::Memory(ty)) = export.ty() else {
            return None;
        };
        let min = ty.minimum();
        (min > max_pages).then(|| {
            format!(
                "memory {:?} needs {min} pages but max_memory_pages is {max_pages}",
                export.name()
            )
        })
    })
}
