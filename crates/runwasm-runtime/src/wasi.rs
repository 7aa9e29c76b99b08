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

/// The host path of directory `path` of the rootfs, symlinks resolved inside
/// it; None if it is not a directory.
fn resolve_dir(root: &OwnedFd, path: &Path) -> Option<PathBuf> {
    let fd = open_in_root_flags(root, path, libc::O_PATH | libc::O_DIRECTORY).ok()?;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
