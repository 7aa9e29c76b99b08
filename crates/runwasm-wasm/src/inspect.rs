//! Looking into a loaded module for what WasmEdge does not report itself.
//!
//! * [`link_error`]: WasmEdge's error for a failed link is only "unknown
//!   import" or "incompatible import type" (the details go to its log,
//!   which is off). On that error path only, the module's imports are
//!   resolved again by hand against the store's import modules to find the
//!   culprit.
//! * [`memory_over_cap`]: WasmEdge silently shrinks a memory whose minimum
//!   exceeds the configured page cap, so the module would run with less
//!   memory than it declares; the exported memories are checked here by
//!   name, the others from the bytes (`layout`).
//! * [`unchecked_v2_import`]: WasmEdge 0.14.1 binds a
//!   `wasi_snapshot_preview1` socket import whose type is not V1's to the
//!   `_v2` function without checking that type either (see there); such
//!   imports are checked before the module is registered.
//!
//! `ImportType::ty` and `ExportType::ty` panic on a tag (exception
//! handling), but the configuration leaves that proposal off, so a module
//! with a tag import or export never gets past `load`.

use std::fmt::{self, Display};

use wasmedge_sdk::wasi::WasiModule;
use wasmedge_sdk::{AsInstance, ExternalInstanceType, FuncType, Module, Store, ValType};
use wasmedge_sys::instance::function::AsFunc;

use crate::engine::WASI_MODULE;

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
/// `max_pages`, if any. (A memory that is not exported cannot be seen
/// through the API: `Layout::memory_over_cap` checks those.)
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

/// The suffix of the second version WasmEdge's WASI module carries of some
/// socket functions.
const V2_SUFFIX: &str = "_v2";

/// The message for the first import from `wasi_snapshot_preview1` that
/// WasmEdge 0.14.1 would link without a type check; `None` when there is
/// none.
///
/// WasmEdge's WASI module has two versions of some socket functions, `X`
/// and `X_v2`. When an import of such an `X` does not have `X`'s type, the
/// linker (`lib/executor/instantiate/import.cpp`) binds it to `X_v2`, and
/// in 0.14.1 it does so without comparing the import's type with `X_v2`'s
/// (it compares with `X`'s again). A module whose import matches neither
/// would instantiate, and its first call aborts the whole process on an
/// assertion in libwasmedge (`stackmgr.h` `popFrame()`). So each such
/// import must have one of the two types.
///
/// The pairs are discovered, not listed: an import `X` is checked when the
/// WASI instance in `store` exports both `X` and `X_v2` (in 0.14.1 these
/// are exactly the eleven names WasmEdge's linker substitutes; a test
/// checks that). Only the module's own imports from `wasi_snapshot_preview1`
/// are looked at: one lookup (of `X_v2`) each, and the types are only
/// fetched and compared for an `X` that has one.
pub fn unchecked_v2_import(module: &Module, store: &mut Store<'_, WasiModule>) -> Option<String> {
    let (wasi, _) = store.get_instance_and_executor(WASI_MODULE)?;
    // `X_v2`, in one buffer for all imports.
    let mut v2_name = String::new();
    for import in module.imports() {
        if import.module_name() != WASI_MODULE {
            continue;
        }
        let field = import.name();
        v2_name.clear();
        v2_name.push_str(&field);
        v2_name.push_str(V2_SUFFIX);
        let Ok(v2) = wasi.get_func(&v2_name) else {
            continue;
        };
        let Ok(v1) = wasi.get_func(&field) else {
            continue;
        };
        let Ok(ExternalInstanceType::Func(want)) = import.ty() else {
            // Not a function: WasmEdge rejects that itself.
            continue;
        };
        let (Some(v1), Some(v2)) = (v1.ty(), v2.ty()) else {
            continue;
        };
        if want == v1 || want == v2 {
            continue;
        }
        let provided = if v1 == v2 {
            Signature(&v1).to_string()
        } else {
            format!("{} or {}", Signature(&v1), Signature(&v2))
        };
        return Some(format!(
            "import {WASI_MODULE:?}.{field:?} has type {}, but WasmEdge provides {provided}",
            Signature(&want)
        ));
    }
    None
}

/// A function type written as `(i32, i32) -> i32`: the results are bare
/// when there is one, in parentheses otherwise (`-> ()` for none).
struct Signature<'a>(&'a FuncType);

impl Display for Signature<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, types: &[ValType]| -> fmt::Result {
            f.write_str("(")?;
            for (i, ty) in types.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(val_type_name(*ty))?;
            }
            f.write_str(")")
        };
        list(f, self.0.args())?;
        f.write_str(" -> ")?;
        match self.0.returns() {
            [one] => f.write_str(val_type_name(*one)),
            many => list(f, many),
        }
    }
}

/// A value type as the text format writes it.
fn val_type_name(ty: ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::FuncRef => "funcref",
        ValType::ExternRef => "externref",
        // A typed reference, which the C API does not describe further.
        ValType::UnsupportedRef => "ref",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The functions `X` for which WasmEdge's WASI module also has `X_v2`,
    /// found as `unchecked_v2_import` finds them.
    fn v2_pairs(wasi: &WasiModule) -> Vec<String> {
        let names = wasi.func_names().unwrap_or_default();
        let mut pairs: Vec<String> = names
            .iter()
            .filter_map(|name| name.strip_suffix(V2_SUFFIX))
            .filter(|plain| names.iter().any(|n| n == plain))
            .map(str::to_owned)
            .collect();
        pairs.sort();
        pairs
    }

    /// Discovery finds exactly the names WasmEdge 0.14.1's linker
    /// substitutes without a type check (its list in
    /// `lib/executor/instantiate/import.cpp`), so no affected import goes
    /// unchecked.
    #[test]
    fn the_v2_pairs_are_the_eleven_socket_functions() {
        let wasi = WasiModule::create(None, None, None).expect("WASI module");
        let mut want = [
            "sock_open",
            "sock_bind",
            "sock_connect",
            "sock_listen",
            "sock_accept",
            "sock_recv",
            "sock_recv_from",
            "sock_send",
            "sock_send_to",
            "sock_getlocaladdr",
            "sock_getpeeraddr",
        ];
        want.sort_unstable();
        assert_eq!(v2_pairs(&wasi), want);
    }

    #[test]
    fn signatures_read_like_the_text_format() {
        use ValType::*;
        let sig = |args: &[ValType], returns: &[ValType]| {
            Signature(&FuncType::new(args.to_vec(), returns.to_vec())).to_string()
        };
        assert_eq!(sig(&[I32], &[I32]), "(i32) -> i32");
        assert_eq!(sig(&[I32, I32, I32], &[I32]), "(i32, i32, i32) -> i32");
        assert_eq!(sig(&[], &[]), "() -> ()");
        assert_eq!(sig(&[I64, F32], &[F64, V128]), "(i64, f32) -> (f64, v128)");
        assert_eq!(
            sig(&[FuncRef, ExternRef], &[]),
            "(funcref, externref) -> ()"
        );
    }
}
