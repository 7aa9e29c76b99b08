//! A speculative run: the module interpreted with nothing it could change
//! (no preopened directory, no socket module) under an instruction budget,
//! to learn whether it is compute-bound before choosing the interpreter or
//! the AOT compiler (the runtime's `auto` policy).
//!
//! Runs in a throwaway process the runtime forks for it, with fds 0-2 on
//! /dev/null: nothing is freed, and WasmEdge is driven through its C API
//! directly because the SDK's executor drops the statistics it is given
//! (wasmedge-sys 0.19 deletes the context right after handing its pointer
//! to WasmEdge), and a cost limit needs them alive.

use std::ffi::CString;
use std::ptr;

use wasmedge_sys::ffi;

use crate::config::Config;
use crate::Error;

/// What the speculative run showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ended on its own within the budget (returned, exited, trapped, or
    /// could not even be instantiated without the host's resources).
    Ended,
    /// It was still computing when the budget ran out.
    OverBudget,
}

/// Interprets `bytes` with WASI set up from `config` minus its preopens,
/// stopping after `budget` instructions.
pub fn speculate(bytes: &[u8], config: &Config, budget: u64) -> Result<Outcome, Error> {
    crate::engine::init()?;
    let strings = config.wasi_strings()?;
    let cstrings = |v: &[&str]| -> Result<Vec<CString>, Error> {
        v.iter()
            .map(|s| CString::new(*s).map_err(|_| Error::Config("NUL in a string".into())))
            .collect()
    };
    let args = cstrings(&strings.args)?;
    let env = cstrings(&strings.env)?;
    let argv: Vec<*const std::ffi::c_char> = args.iter().map(|c| c.as_ptr()).collect();
    let envp: Vec<*const std::ffi::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    let len = u32::try_from(bytes.len())
        .map_err(|_| Error::InvalidModule("module is larger than 4 GiB".into()))?;
    let lib = |what: &str| Error::Library(format!("speculative run: {what}"));
    // SAFETY: plain WasmEdge C API calls on contexts created here, each
    // checked for NULL; the strings and buffers outlive the calls. Nothing
    // is deleted: this runs in a process that exits right after.
    unsafe {
        let conf = ffi::WasmEdge_ConfigureCreate();
        if conf.is_null() {
            return Err(lib("no configuration"));
        }
        ffi::WasmEdge_ConfigureSetForceInterpreter(conf, true);
        ffi::WasmEdge_ConfigureStatisticsSetCostMeasuring(conf, true);
        ffi::WasmEdge_ConfigureStatisticsSetInstructionCounting(conf, true);
        if let Some(pages) = config.max_memory_pages {
            ffi::WasmEdge_ConfigureSetMaxMemoryPage(conf, pages);
        }
        let stat = ffi::WasmEdge_StatisticsCreate();
        if stat.is_null() {
            return Err(lib("no statistics"));
        }
        // WasmEdge's default cost table is all zeros: every instruction
        // costs 1 here, so the limit counts instructions (of the start
        // function too).
        let mut table = vec![1u64; 1 << 16];
        ffi::WasmEdge_StatisticsSetCostTable(stat, table.as_mut_ptr(), table.len() as u32);
        ffi::WasmEdge_StatisticsSetCostLimit(stat, budget);
        let loader = ffi::WasmEdge_LoaderCreate(conf);
        let validator = ffi::WasmEdge_ValidatorCreate(conf);
        let executor = ffi::WasmEdge_ExecutorCreate(conf, stat);
        let store = ffi::WasmEdge_StoreCreate();
        if loader.is_null() || validator.is_null() || executor.is_null() || store.is_null() {
            return Err(lib("no loader, validator, executor or store"));
        }
        let mut ast = ptr::null_mut();
        let parsed = ffi::WasmEdge_LoaderParseFromBuffer(loader, &mut ast, bytes.as_ptr(), len);
        if !ffi::WasmEdge_ResultOK(parsed)
            || !ffi::WasmEdge_ResultOK(ffi::WasmEdge_ValidatorValidate(validator, ast))
        {
            return Ok(Outcome::Ended);
        }
        let wasi = ffi::WasmEdge_ModuleInstanceCreateWASI(
            argv.as_ptr(),
            argv.len() as u32,
            envp.as_ptr(),
            envp.len() as u32,
            ptr::null(),
            0,
        );
        if wasi.is_null()
            || !ffi::WasmEdge_ResultOK(ffi::WasmEdge_ExecutorRegisterImport(executor, store, wasi))
        {
            return Err(lib("no WASI module"));
        }
        let mut inst = ptr::null_mut();
        let made = ffi::WasmEdge_ExecutorInstantiate(executor, &mut inst, store, ast);
        if !ffi::WasmEdge_ResultOK(made) {
            return Ok(classify(made));
        }
        if inst.is_null() {
            // proc_exit in the start function.
            return Ok(Outcome::Ended);
        }
        let name = ffi::WasmEdge_StringCreateByCString(c"_start".as_ptr());
        let start = ffi::WasmEdge_ModuleInstanceFindFunction(inst, name);
        if start.is_null() {
            return Ok(Outcome::Ended);
        }
        // Instantiation resets the statistics: the limit is set for the run.
        ffi::WasmEdge_StatisticsSetCostLimit(stat, budget);
        let ran = ffi::WasmEdge_ExecutorInvoke(executor, start, ptr::null(), 0, ptr::null_mut(), 0);
        Ok(if ffi::WasmEdge_ResultOK(ran) {
            Outcome::Ended
        } else {
            classify(ran)
        })
    }
}

fn classify(res: ffi::WasmEdge_Result) -> Outcome {
    // SAFETY: reads the code out of a result value.
    let code = unsafe { ffi::WasmEdge_ResultGetCode(res) };
    if code == ffi::WasmEdge_ErrCode_CostLimitExceeded {
        Outcome::OverBudget
    } else {
        Outcome::Ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_json(br#"{"args":["/m.wasm"],"env":["K=V"]}"#).unwrap()
    }

    fn module(start_body: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module
                 (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                 (memory (export "memory") 1)
                 (func (export "_start") {start_body}))"#
        ))
        .unwrap()
    }

    #[test]
    fn a_loop_runs_out_of_budget_and_an_exit_ends() {
        let spin = module("(loop $l (br $l))");
        assert_eq!(
            speculate(&spin, &config(), 100_000).unwrap(),
            Outcome::OverBudget
        );
        // The budget is what stops it: a bigger one lets a bounded loop end.
        let bounded = module(
            "(local $i i32) (local.set $i (i32.const 1000))
             (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                      (br_if $l (local.get $i)))",
        );
        assert_eq!(
            speculate(&bounded, &config(), 100).unwrap(),
            Outcome::OverBudget
        );
        assert_eq!(
            speculate(&bounded, &config(), 1_000_000).unwrap(),
            Outcome::Ended
        );
        let exits = module("(call $exit (i32.const 3))");
        assert_eq!(speculate(&exits, &config(), 100).unwrap(), Outcome::Ended);
        let traps = module("unreachable");
        assert_eq!(speculate(&traps, &config(), 100).unwrap(), Outcome::Ended);
    }

    #[test]
    fn imports_it_is_not_given_end_it() {
        let sockets = wat::parse_str(
            r#"(module
                 (import "wasmedge_wasi_socket" "sock_open" (func (param i32 i32 i32) (result i32)))
                 (func (export "_start") (loop $l (br $l))))"#,
        )
        .unwrap();
        assert_eq!(
            speculate(&sockets, &config(), 1000).unwrap(),
            Outcome::Ended
        );
    }
}
