//! The container lifecycle of runwasm: the state store, the init process, and
//! the operations (`create`, `start`, `state`, `kill`, `delete`, `list`) that
//! the CLI exposes with runc's semantics.
//!
//! This crate must never link WasmEdge: Wasm workloads are run through the
//! executor library (`librunwasm_wasm.so`) that only a Wasm container's init
//! process opens, see [`executor`].

pub mod aot;
pub mod cgroups;
pub mod config;
pub mod console;
pub mod container;
pub mod error;
pub mod executor;
pub mod fault;
pub mod fifo;
pub mod id;
mod init;
pub mod linux;
pub mod logging;
pub mod pidfile;
pub mod proc;
pub mod profile;
pub mod sendfd;
pub mod signal;
pub mod state;
mod sync;
pub mod time;
pub mod wasi;
pub mod workload;

pub use error::{Error, Result};

/// The OCI runtime-spec version runwasm implements and reports.
pub const OCI_VERSION: &str = "1.2.0";
