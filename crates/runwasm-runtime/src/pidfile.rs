//! The `--pid-file`: written as runc does (a temporary file in the same
//! directory, then rename), never following a symlink someone planted at
//! either name.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::config::absolute;
use crate::{Error, Result};

pub fn write(path: &Path, pid: i32) -> Result<()> {
    let path = absolute(path)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| Error::other(format!("pid file {}: not a file name", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| Error::path("create pid file", &tmp, e))?;
    f.write_all(pid.to_string().as_bytes())
        .map_err(|e| Error::path("write pid file", &tmp, e))?;
    drop(f);
    // rename replaces a symlink at `path` instead of following it.
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::path("write pid file", &path, e)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_a_planted_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let pidfile = tmp.path().join("pid");
        std::os::unix::fs::symlink(&victim, &pidfile).unwrap();
        super::write(&pidfile, 1234).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), "1234");
        assert!(!std::fs::symlink_metadata(&pidfile).unwrap().is_symlink());
    }
}
