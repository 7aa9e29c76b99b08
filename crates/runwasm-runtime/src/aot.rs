//! The AOT cache: native code compiled by WasmEdge's AOT compiler, shared by
//! all containers, keyed by what makes it valid (the module's sha256, the
//! WasmEdge version, the compiler options, the host CPU).
//!
//! Layout under the cache directory (default `/var/lib/runwasm/aot`):
//! `v1/KEY.wasm` (a universal wasm: the module plus its native section,
//! sealed by the executor with a digest of the whole file, host CPU and
//! WasmEdge version: a corrupt or truncated entry fails the executor's
//! check on load and is recompiled, never run), `v1/KEY.lock`
//! (one compile per key at a time), `v1/KEY.hist` (how long the module ran
//! interpreted, for the `auto` policy). Entries are written to a temporary
//! name and renamed; their mtime is their last use, and the cache is kept
//! under its size bound by evicting the least recently used.
//!
//! Policy (`--aot`, `RUNWASM_AOT`, or the `io.github.runwasm.aot`
//! annotation): `always` compiles a cold module before it runs; `never`
//! interprets and never writes the cache; `auto` (default) uses a warm entry;
//! for a cold one it goes by the module's last interpreted run if there was
//! one (longer than 250 ms: compile), and otherwise by a speculative run: the
//! module interpreted in a throwaway process with its side effects
//! neutralized, for a budget of instructions. Still computing at the end of
//! it: compiled now; ended (or blocked) sooner: interpreted. See
//! docs/performance.md for the measurements behind both numbers.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::{Error, Result};

pub const DEFAULT_DIR: &str = "/var/lib/runwasm/aot";
pub const DIR_ENV: &str = "RUNWASM_AOT_CACHE";
pub const POLICY_ENV: &str = "RUNWASM_AOT";
pub const ANNOTATION: &str = "io.github.runwasm.aot";
/// Default bound on the cache's size.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// `auto` compiles a module whose interpreted run took longer than this:
/// compiling a wasi-libc module costs about 0.5 s here and the interpreter
/// is 50-100x slower than native code, so past ~0.25 s interpreted the
/// compile pays for itself on the next run.
pub const AUTO_THRESHOLD: Duration = Duration::from_millis(250);
/// `auto`, for a module never seen before: it is first interpreted in a
/// throwaway process with nothing it could change (stdio on /dev/null, no
/// directory, no sockets) for up to this many instructions. A module that
/// ends sooner (a one-shot tool, or one that needs its files or sockets to
/// go on) is interpreted for real at once; one still computing (see
/// docs/performance.md for the calibration: about 0.15 s of this host's
/// interpreter; `RUNWASM_AOT_SPECULATE=N` sets another) is compiled first.
pub const SPECULATE_BUDGET: u64 = 25_000_000;
/// The speculative run's wall-time bound: a module that sleeps or blocks
/// is not compute-bound; it is interpreted.
pub const SPECULATE_WALL: Duration = Duration::from_millis(500);
/// The compiler options that are part of the key.
pub const COMPILER_OPTIONS: &str = "O2,universal";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Auto,
    Always,
    Never,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "auto" => Some(Policy::Auto),
            "always" => Some(Policy::Always),
            "never" => Some(Policy::Never),
            _ => None,
        }
    }
}

/// What `create` (and `exec`) were told about AOT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AotSettings {
    pub policy: Policy,
    pub dir: PathBuf,
    pub max_bytes: u64,
}

impl Default for AotSettings {
    fn default() -> Self {
        AotSettings {
            policy: Policy::Auto,
            dir: PathBuf::from(DEFAULT_DIR),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl AotSettings {
    /// The container's annotation overrides the global policy.
    pub fn for_container(&self, annotation: Option<&str>) -> Result<AotSettings> {
        let mut s = self.clone();
        if let Some(a) = annotation {
            s.policy = Policy::parse(a).ok_or_else(|| {
                Error::Config(format!(
                    "annotations.{ANNOTATION}: {a:?} is not auto, always or never"
                ))
            })?;
        }
        Ok(s)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The host CPU, as far as generated code cares: model and feature flags.
fn cpu_id() -> String {
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    format!("{}|{}", field("model name"), field("flags"))
}

/// The cache key of `module` for engine `engine_version`.
pub fn key(module: &[u8], engine_version: &str) -> String {
    let mut h = Sha256::new();
    h.update(sha256_hex(module).as_bytes());
    h.update(b"\0");
    h.update(engine_version.as_bytes());
    h.update(b"\0");
    h.update(COMPILER_OPTIONS.as_bytes());
    h.update(b"\0");
    h.update(cpu_id().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
}

/// One cache entry as `aot cache` lists it.
#[derive(Debug, serde::Serialize)]
pub struct Entry {
    pub key: String,
    pub bytes: u64,
    pub last_used: String,
}

impl Cache {
    pub fn new(settings: &AotSettings) -> Cache {
        Cache {
            dir: settings.dir.join("v1"),
            max_bytes: settings.max_bytes,
        }
    }

    fn path(&self, key: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{key}.{ext}"))
    }

    /// The entry for `key`, if there is one, marked as just used. Its
    /// contents are checked by the executor when it loads it (the seal), so
    /// a warm start reads and hashes the file once, not twice.
    pub fn lookup(&self, key: &str) -> Option<PathBuf> {
        let file = self.path(key, "wasm");
        let f = File::open(&file).ok()?;
        let _ = f.set_modified(SystemTime::now());
        Some(file)
    }

    /// Removes an entry (and the checksum file of older releases).
    fn remove(&self, key: &str) {
        for ext in ["wasm", "sum"] {
            let _ = fs::remove_file(self.path(key, ext));
        }
    }

    /// Returns the entry for `key`, compiling it with `compile(tmp_path)`
    /// if needed. Concurrent callers for one key wait on a lock, so the
    /// module is compiled once and nobody sees a partial file.
    pub fn get_or_compile(
        &self,
        key: &str,
        compile: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        if let Some(p) = self.lookup(key) {
            return Ok(p);
        }
        fs::create_dir_all(&self.dir).map_err(|e| Error::path("create AOT cache", &self.dir, e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(self.path(key, "lock"))
            .map_err(|e| Error::path("lock AOT cache entry", &self.path(key, "lock"), e))?;
        // SAFETY: flock on an fd we own; released when `lock` is dropped.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        if let Some(p) = self.lookup(key) {
            return Ok(p);
        }
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        if let Err(e) = compile(&tmp) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // Complete before it gets its name: a reader never sees a torn file.
        fs::rename(&tmp, self.path(key, "wasm"))
            .map_err(|e| Error::path("write AOT cache entry", &self.path(key, "wasm"), e))?;
        let _ = fs::remove_file(self.path(key, "sum"));
        drop(lock);
        self.evict(Some(key));
        Ok(self.path(key, "wasm"))
    }

    /// Every entry, least recently used first.
    pub fn entries(&self) -> Vec<(Entry, SystemTime)> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<(Entry, SystemTime)> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let key = name.strip_suffix(".wasm")?.to_string();
                if key.starts_with('.') {
                    return None;
                }
                let m = e.metadata().ok()?;
                let t = m.modified().ok()?;
                let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?;
                Some((
                    Entry {
                        key,
                        bytes: m.len(),
                        last_used: crate::time::format_rfc3339(secs.as_secs() as i64, 0),
                    },
                    t,
                ))
            })
            .collect();
        v.sort_by_key(|(_, t)| *t);
        v
    }

    /// Removes least recently used entries until the cache fits its bound
    /// (never `keep`, the entry just made).
    pub fn evict(&self, keep: Option<&str>) -> Vec<String> {
        let entries = self.entries();
        let mut total: u64 = entries.iter().map(|(e, _)| e.bytes).sum();
        let mut gone = Vec::new();
        for (e, _) in entries {
            if total <= self.max_bytes {
                break;
            }
            if Some(e.key.as_str()) == keep {
                continue;
            }
            self.remove(&e.key);
            let _ = fs::remove_file(self.path(&e.key, "hist"));
            let _ = fs::remove_file(self.path(&e.key, "lock"));
            total = total.saturating_sub(e.bytes);
            gone.push(e.key);
        }
        gone
    }

    /// How long the module last ran interpreted.
    pub fn history(&self, key: &str) -> Option<Duration> {
        let mut s = String::new();
        File::open(self.path(key, "hist"))
            .ok()?
            .read_to_string(&mut s)
            .ok()?;
        s.trim().parse().ok().map(Duration::from_millis)
    }

    /// Records an interpreted run's duration (best effort).
    pub fn record(dir_fd: Option<&File>, key: &str, ran: Duration) {
        let Some(dir) = dir_fd else { return };
        let name = std::ffi::CString::new(format!("{key}.hist")).unwrap_or_default();
        // SAFETY: openat relative to a directory fd we hold; fd checked.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                0o600,
            )
        };
        if fd >= 0 {
            // SAFETY: fd is fresh and ours.
            let mut f = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let _ = write!(f, "{}", ran.as_millis());
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// An interpreted run whose duration `auto` wants to remember.
pub struct History {
    key: String,
    dir: File,
}

impl History {
    pub fn record(&self, ran: Duration) {
        Cache::record(Some(&self.dir), &self.key, ran);
    }
}

/// Loads a module the way the policy says: a universal wasm from the image
/// as it is; a warm cache entry; a fresh compile (`always`, or `auto` for a
/// module that ran long interpreted); otherwise the interpreter (with the
/// run's duration remembered under `auto`). A cache or compile failure
/// falls back to the interpreter: AOT is never a reason for a container not
/// to start.
pub fn load_module(
    engine: &crate::executor::WasmEngine,
    settings: &AotSettings,
    bytes: &[u8],
    wasi: &crate::executor::WasiConfig,
) -> Result<(crate::executor::Loaded, Option<History>)> {
    if engine.has_aot_section(bytes) {
        if let Ok(l) = load_universal(engine, bytes) {
            return Ok((l, None));
        }
        tracing::warn!("the module's AOT section does not fit this host; interpreting it");
    }
    if settings.policy == Policy::Never || !engine.has_aot() {
        return Ok((engine.load(bytes)?, None));
    }
    let cache = Cache::new(settings);
    let key = key(bytes, &engine.version());
    // An entry that fails the executor's check (corrupt, truncated, from
    // another CPU) is replaced: it was compiled because the policy wanted
    // it, so it is compiled again.
    let mut replace = false;
    if let Some(p) = cache.lookup(&key) {
        match engine.load_file(&p) {
            Ok(l) => return Ok((l, None)),
            Err(e) => {
                tracing::warn!("AOT cache entry {key}: {e}; it will be recompiled");
                cache.remove(&key);
                replace = true;
            }
        }
    }
    let compile_now = match settings.policy {
        Policy::Always => true,
        Policy::Auto if replace => true,
        Policy::Auto => match cache.history(&key) {
            Some(ran) => ran > AUTO_THRESHOLD,
            // Never seen: try it without its side effects for a moment.
            None => {
                let budget = std::env::var("RUNWASM_AOT_SPECULATE")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(SPECULATE_BUDGET);
                let over = engine.speculate_in_child(bytes, wasi, budget, SPECULATE_WALL);
                tracing::debug!("auto: speculative run of {key}: over budget {over:?}");
                over == Some(true)
            }
        },
        Policy::Never => false,
    };
    if compile_now {
        match cache.get_or_compile(&key, |tmp| engine.compile_in_child(bytes, tmp)) {
            Ok(p) => match engine.load_file(&p) {
                Ok(l) => return Ok((l, None)),
                Err(e) => tracing::warn!("AOT cache entry {key}: {e}"),
            },
            Err(e) => tracing::warn!("{e}; interpreting"),
        }
    }
    let loaded = engine.load(bytes)?;
    let history = (settings.policy == Policy::Auto)
        .then(|| {
            let _ = fs::create_dir_all(cache.dir());
            File::open(cache.dir()).ok().map(|dir| History { key, dir })
        })
        .flatten();
    Ok((loaded, history))
}

/// A universal wasm shipped in the image, loaded through a memfd (the
/// loader wants a file).
fn load_universal(
    engine: &crate::executor::WasmEngine,
    bytes: &[u8],
) -> Result<crate::executor::Loaded> {
    // SAFETY: memfd_create with a static name; the fd is checked and owned.
    let fd = unsafe { libc::memfd_create(c"runwasm-aot".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io("memfd_create", std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fd.
    let mut f = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    f.write_all(bytes)
        .map_err(|e| Error::io("write memfd", e))?;
    engine.load_file(Path::new(&format!("/proc/self/fd/{fd}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, max: u64) -> Cache {
        Cache::new(&AotSettings {
            policy: Policy::Auto,
            dir: dir.to_path_buf(),
            max_bytes: max,
        })
    }

    #[test]
    fn compile_once_then_hit() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path(), 1 << 20);
        let compiles = std::cell::Cell::new(0);
        let compile = |p: &Path| {
            compiles.set(compiles.get() + 1);
            fs::write(p, b"native").map_err(|e| Error::io("w", e))
        };
        let p = c.get_or_compile("k1", compile).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"native");
        c.get_or_compile("k1", compile).unwrap();
        assert_eq!(compiles.get(), 1);
        // Removed (as load_module does with an entry the executor
        // rejects): compiled again.
        c.remove("k1");
        assert!(c.lookup("k1").is_none());
        c.get_or_compile("k1", compile).unwrap();
        assert_eq!(compiles.get(), 2);
    }

    #[test]
    fn failed_compile_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path(), 1 << 20);
        let r = c.get_or_compile("bad", |p| {
            fs::write(p, b"partial").unwrap();
            Err(Error::other("boom"))
        });
        assert!(r.is_err());
        let left: Vec<_> = fs::read_dir(c.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn lru_eviction_respects_the_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path(), 2500);
        for k in ["a", "b", "c"] {
            c.get_or_compile(k, |p| {
                fs::write(p, vec![0u8; 1000]).map_err(|e| Error::io("w", e))
            })
            .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        // a is the oldest: evicted to make room for c.
        assert!(c.lookup("a").is_none());
        assert!(c.lookup("b").is_some() && c.lookup("c").is_some());
    }

    #[test]
    fn key_depends_on_module_and_engine() {
        assert_ne!(key(b"m1", "0.14.1"), key(b"m2", "0.14.1"));
        assert_ne!(key(b"m1", "0.14.1"), key(b"m1", "0.15.0"));
        assert_eq!(key(b"m1", "0.14.1"), key(b"m1", "0.14.1"));
    }
}
