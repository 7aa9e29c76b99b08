//! `aot compile|ls|prune`, and the AOT settings every command passes on.

use runwasm_runtime::aot::{self, AotSettings, Cache, Policy};
use runwasm_runtime::executor::WasmEngine;
use runwasm_runtime::{Error, Result};

use super::cgroup_ops::bytes;
use super::lifecycle::println_out;
use crate::cli::{AotCommand, Cli, ListFormat};

/// `--aot`, `--aot-cache`, `--aot-cache-max` (and their environment).
pub fn settings(cli: &Cli) -> Result<AotSettings> {
    let mut s = AotSettings::default();
    if let Some(p) = &cli.aot {
        s.policy = Policy::parse(p)
            .ok_or_else(|| Error::other(format!("--aot: {p:?} is not auto, always or never")))?;
    }
    if let Some(d) = &cli.aot_cache {
        s.dir = runwasm_runtime::config::absolute(d)?;
    }
    if let Some(m) = &cli.aot_cache_max {
        let n = bytes("aot-cache-max", m)?;
        if n <= 0 {
            return Err(Error::other(format!(
                "--aot-cache-max: {m:?} must be positive"
            )));
        }
        s.max_bytes = n as u64;
    }
    Ok(s)
}

pub fn aot(cli: &Cli, cmd: &AotCommand) -> Result<u8> {
    let s = settings(cli)?;
    let cache = Cache::new(&s);
    match cmd {
        AotCommand::Compile { modules } => {
            // Only this command (and a Wasm container's init) loads WasmEdge.
            let engine = WasmEngine::open()?;
            for m in modules {
                let bytes = std::fs::read(m).map_err(|e| Error::path("read", m, e))?;
                engine
                    .load(&bytes)
                    .map_err(|e| Error::other(format!("{}: {e}", m.display())))?;
                let key = aot::key(&bytes, &engine.version());
                let path = cache
                    .get_or_compile(&key, |tmp| engine.compile(&bytes, tmp))
                    .map_err(|e| Error::other(format!("{}: {e}", m.display())))?;
                println_out(&format!("{}\t{}", m.display(), path.display()))?;
            }
            Ok(0)
        }
        AotCommand::Ls { format } => {
            let entries: Vec<aot::Entry> = cache.entries().into_iter().map(|(e, _)| e).collect();
            if *format == ListFormat::Json {
                return println_out(
                    &serde_json::to_string(&entries).map_err(|e| Error::other(e.to_string()))?,
                );
            }
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            let mut lines = vec![format!("{:<64}  {:>10}  LAST USED", "KEY", "BYTES")];
            for e in &entries {
                lines.push(format!("{:<64}  {:>10}  {}", e.key, e.bytes, e.last_used));
            }
            lines.push(format!(
                "{} entries, {} bytes in {} (bound {})",
                entries.len(),
                total,
                cache.dir().display(),
                s.max_bytes
            ));
            println_out(&lines.join("\n"))
        }
        AotCommand::Prune { all } => {
            let gone = if *all {
                Cache::new(&AotSettings {
                    max_bytes: 0,
                    ..s.clone()
                })
                .evict(None)
            } else {
                cache.evict(None)
            };
            println_out(&format!("removed {} entries", gone.len()))
        }
    }
}
