//! `spec`: write runc's default config.json (terminal off, since runwasm
//! does not allocate terminals yet), refusing to overwrite one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use runwasm_runtime::{Error, Result};

use crate::cli::{Cli, SpecArgs};

pub fn spec(cli: &Cli, a: &SpecArgs) -> Result<u8> {
    let dir = a.bundle.clone().unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    let rootless = matches!(cli.rootless.as_deref(), Some("true"));
    let mut spec = if rootless {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        oci_spec::runtime::Spec::rootless(uid, gid)
    } else {
        oci_spec::runtime::Spec::default()
    };
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(false));
    }
    let json = serde_json::to_string_pretty(&spec).map_err(|e| Error::other(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::other(format!("File {} exists. Remove it first", path.display()))
            } else {
                Error::path("create", &path, e)
            }
        })?;
    f.write_all(json.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| Error::path("write", &path, e))?;
    Ok(0)
}
