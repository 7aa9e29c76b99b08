//! How the container's filesystem is shown to a WASI module.
//!
//! WASI preview 1 has no working directory: wasi-libc resolves a relative
//! path against the preopen whose name is the longest prefix of it, and it
//! treats the names `/` and `.` alike (both become the empty prefix). So:
//!
//! * `process.cwd` = `/` (the default): one preopen, the rootfs as `/`.
//! * any other cwd: the rootfs as `/`, then every top-level directory of the
//!   rootfs as `/NAME` (so absolute paths under them keep working), then the
//!   cwd as `.`, registered last so that relative paths resolve against it.
//!   The price, documented in docs/wasm.md: an absolute path to a file
//!   directly in `/` (not in a directory) resolves against the cwd, and `..`
//!   cannot climb out of a top-level directory.
//!
//! Symlinks are resolved inside the rootfs (`RESOLVE_IN_ROOT`), so a
//! preopen never points outside it.

use std::os::fd::{AsRawFd, OwnedFd};

use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

use crate::executor::Preopen;
use crate::workload::{open_dir, open_in_root_flags};
use crate::{Error, Result};

pub fn preopens(rootfs: &Path, cwd: &Path) -> Result<Vec<Preopen>> {
    let mut out = vec![Preopen {
        guest: "/".into(),
        host: rootfs.to_string_lossy().into_owned(),
    }];
    if cwd == Path::new("/") {
        return Ok(out);
    }
    let root = open_dir(rootfs).map_err(|e| Error::path("open rootfs", rootfs, e))?;
    let entries = std::fs::read_dir(rootfs).map_err(|e| Error::path("read rootfs", rootfs, e))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        if let Some(host) = resolve_dir(&root, &Path::new("/").join(&name)) {
            out.push(Preopen {
                guest: format!("/{name}"),
                host: host.to_string_lossy().into_owned(),
            });
        }
    }
    let host_cwd = resolve_dir(&root, cwd).ok_or_else(|| {
        Error::Config(format!(
            "process.cwd: {} is not a directory in the rootfs",
            cwd.display()
        ))
    })?;
    out.push(Preopen {
        guest: ".".into(),
        host: host_cwd.to_string_lossy().into_owned(),
    });
    Ok(out)
}

/// Memory the Wasm runtime itself (WasmEdge, runwasm, their heaps) is
/// given under a memory limit: at least 16 MiB, or an eighth of the limit.
pub const RUNTIME_RESERVE_MIN: i64 = 16 << 20;
const WASM_PAGE: i64 = 64 << 10;

/// The cap on a module's linear memory, in 64 KiB pages, from
/// `linux.resources.memory.limit`: `(limit - max(16 MiB, limit / 8)) / 64 KiB`,
/// so that a module growing past it sees `memory.grow` fail (malloc returns
/// NULL) instead of the whole container being OOM-killed. No limit (or -1):
/// no cap beyond Wasm's 4 GiB.
pub fn max_memory_pages(spec: &Spec) -> Option<u32> {
    let limit = spec
        .linux()
        .as_ref()?
        .resources()
        .as_ref()?
        .memory()
        .as_ref()?
        .limit()?;
    if limit <= 0 {
        return None;
    }
    let usable = limit - RUNTIME_RESERVE_MIN.max(limit / 8);
    Some((usable.max(0) / WASM_PAGE).min(65536) as u32)
}

/// The host path of directory `path` of the rootfs, symlinks resolved inside
/// it; None if it is not a directory.
fn resolve_dir(root: &OwnedFd, path: &Path) -> Option<PathBuf> {
    let fd = open_in_root_flags(root, path, libc::O_PATH | libc::O_DIRECTORY).ok()?;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
}

/// The WASI view for `auto`'s speculative run (see `aot`): the process's
/// argv, environment and memory cap, and no directory at all.
pub fn speculative_config(spec: &Spec) -> crate::executor::WasiConfig {
    let process = spec.process().as_ref();
    crate::executor::WasiConfig {
        args: process.and_then(|p| p.args().clone()).unwrap_or_default(),
        env: process.and_then(|p| p.env().clone()).unwrap_or_default(),
        preopens: Vec::new(),
        max_memory_pages: max_memory_pages(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cap_rule() {
        let spec = |limit: i64| -> Spec {
            serde_json::from_value(serde_json::json!({
                "ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "linux": {"resources": {"memory": {"limit": limit}}}
            }))
            .unwrap()
        };
        // 64 MiB: 16 MiB reserved, 48 MiB = 768 pages for the module.
        assert_eq!(max_memory_pages(&spec(64 << 20)), Some(768));
        // 1 GiB: an eighth (128 MiB) reserved.
        assert_eq!(max_memory_pages(&spec(1 << 30)), Some(14336));
        assert_eq!(max_memory_pages(&spec(8 << 20)), Some(0));
        assert_eq!(max_memory_pages(&spec(64 << 30)), Some(65536));
        assert_eq!(max_memory_pages(&spec(-1)), None);
    }

    fn guests(p: &[Preopen]) -> Vec<(&str, &str)> {
        p.iter()
            .map(|p| (p.guest.as_str(), p.host.as_str()))
            .collect()
    }

    #[test]
    fn root_cwd_is_one_preopen() {
        let tmp = tempfile::tempdir().unwrap();
        let p = preopens(tmp.path(), Path::new("/")).unwrap();
        assert_eq!(guests(&p), vec![("/", tmp.path().to_str().unwrap())]);
    }

    #[test]
    fn other_cwd_adds_top_level_dirs_and_dot_last() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        std::fs::create_dir_all(r.join("data/sub")).unwrap();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::write(r.join("file"), "x").unwrap();
        std::os::unix::fs::symlink("/usr/bin", r.join("bin")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("hostetc")).unwrap();
        let p = preopens(r, Path::new("/data/sub")).unwrap();
        let rs = r.to_str().unwrap();
        assert_eq!(
            guests(&p),
            vec![
                ("/", rs),
                ("/bin", &*format!("{rs}/usr/bin")),
                ("/data", &*format!("{rs}/data")),
                ("/usr", &*format!("{rs}/usr")),
                (".", &*format!("{rs}/data/sub")),
            ]
        );
        let e = preopens(r, Path::new("/missing")).unwrap_err().to_string();
        assert!(e.contains("process.cwd"), "{e}");
    }
}
