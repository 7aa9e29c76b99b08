//! Reading and validating a bundle's `config.json`. Every error names the
//! file and, where there is one, the field (`process.args`, `root.path`), so a
//! user can fix the bundle from the message alone.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{Process, Spec};

use crate::{Error, Result};

/// A bundle whose config has been parsed and checked.
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub path: PathBuf,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    pub fn process(&self) -> &Process {
        // Checked by `load`.
        self.spec.process().as_ref().expect("validated process")
    }

    pub fn args(&self) -> &[String] {
        self.process().args().as_deref().unwrap_or_default()
    }

    pub fn env(&self) -> &[String] {
        self.process().env().as_deref().unwrap_or_default()
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }
}

/// Loads `BUNDLE/config.json` and checks what runwasm relies on.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let path = absolute(bundle)?;
    let meta = std::fs::metadata(&path).map_err(|e| Error::path("bundle", &path, e))?;
    if !meta.is_dir() {
        return Err(Error::Config(format!(
            "bundle {} is not a directory",
            path.display()
        )));
    }
    let file = path.join("config.json");
    let bytes = std::fs::read(&file).map_err(|e| Error::path("read", &file, e))?;
    let in_file = |msg| Error::Config(format!("{}: {msg}", file.display()));
    let spec = validate_bytes(&bytes).map_err(in_file)?;
    let rootfs = check_rootfs(&spec, &path).map_err(in_file)?;
    let mut spec = spec;
    fill_home(&mut spec, &rootfs);
    Ok(Bundle { path, rootfs, spec })
}

/// HOME as runc sets it (see `workload::fill_home`).
fn fill_home(spec: &mut Spec, rootfs: &Path) {
    let Some(mut process) = spec.process().clone() else {
        return;
    };
    let Ok(root) = crate::workload::open_dir(rootfs) else {
        return;
    };
    let mut env = process.env().clone().unwrap_or_default();
    crate::workload::fill_home(&root, process.user().uid(), &mut env);
    process.set_env(Some(env));
    spec.set_process(Some(process));
}

/// Parses and checks the bytes of a config.json, as `create` does before
/// it looks at the filesystem: the JSON and its types ([`parse`]), the
/// fields runwasm relies on (version, `root.path`, `process`, its args, cwd
/// and env, the number of mounts, cpu shares), `linux.namespaces`, the
/// hardening settings (`linux.sysctl`, seccomp, rlimits, `oomScoreAdj`,
/// umask, LSM labels), every mount's options, `linux.devices` and
/// `linux.rootfsPropagation`. The message names the
/// field (not the file). Pure but for two look-ups, as in `create`:
/// whether a namespace `path` exists, and which LSM the host runs.
pub fn validate_bytes(bytes: &[u8]) -> std::result::Result<Spec, String> {
    let spec = parse(bytes)?;
    check_fields(&spec)?;
    crate::linux::namespaces::Namespaces::from_spec(&spec).map_err(|e| e.to_string())?;
    crate::linux::security::validate(&spec).map_err(|e| e.to_string())?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        crate::linux::mountopts::MountOptions::parse(m.options().as_deref().unwrap_or_default())
            .map_err(|e| format!("mounts[{i}]: {e}"))?;
    }
    crate::linux::devices::devices(&spec).map_err(|e| e.to_string())?;
    if let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
    {
        crate::linux::mountopts::rootfs_propagation(p).map_err(|e| e.to_string())?;
    }
    Ok(spec)
}

/// Parses config.json; a type error names its JSON path. Like runc, a
/// process without `user` runs as uid 0, gid 0.
pub fn parse(bytes: &[u8]) -> std::result::Result<Spec, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    if !value.is_object() {
        return Err("invalid JSON: the top level must be an object".into());
    }
    // Counted before the typed parse, which alone takes seconds for a
    // million mounts.
    if let Some(n) = value
        .get("mounts")
        .and_then(|m| m.as_array())
        .map(Vec::len)
        .filter(|&n| n > MAX_MOUNTS)
    {
        return Err(format!(
            "mounts: {n} entries; runwasm allows at most {MAX_MOUNTS}"
        ));
    }
    if let Some(p) = value.get_mut("process").and_then(|p| p.as_object_mut()) {
        p.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    serde_path_to_error::deserialize::<_, Spec>(value).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if at == "." {
            inner.to_string()
        } else {
            format!("{at}: {inner}")
        }
    })
}

/// More mounts than any real container has; a config past it is refused
/// up front instead of mounting for minutes.
const MAX_MOUNTS: usize = 10_000;

/// Checks the fields runwasm needs, without the filesystem.
fn check_fields(spec: &Spec) -> std::result::Result<(), String> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(format!(
            "ociVersion: {version:?} is not supported (runwasm implements 1.x)"
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or("root: missing (the container's root filesystem is required)")?;
    if root.path().as_os_str().is_empty() {
        return Err("root.path: must not be empty".into());
    }
    if let Some(shares) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.cpu().as_ref())
        .and_then(|c| c.shares())
    {
        if !(2..=262_144).contains(&shares) {
            return Err(format!(
                "linux.resources.cpu.shares: {shares} is outside 2..=262144 (the kernel's range)"
            ));
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or("process: missing (runwasm needs a process to run)")?;
    check_process(process, "process.")
}

/// Checks a process (config.json's, or `exec --process`'s): args naming a
/// program, an absolute cwd, `KEY=VALUE` env entries, no NUL byte. Field
/// names in the message start with `prefix` (`process.`, or nothing).
pub fn check_process(process: &Process, prefix: &str) -> std::result::Result<(), String> {
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(format!(
            "{prefix}args: must name the module or program to run"
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(format!(
            "{prefix}cwd: {:?} must be an absolute path",
            process.cwd()
        ));
    }
    for (i, kv) in process
        .env()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !kv.contains('=') || kv.starts_with('=') {
            return Err(format!("{prefix}env[{i}]: {kv:?} is not KEY=VALUE"));
        }
        if kv.contains('\0') {
            return Err(format!("{prefix}env[{i}]: contains a NUL byte"));
        }
    }
    if let Some(i) = args.iter().position(|a| a.contains('\0')) {
        return Err(format!("{prefix}args[{i}]: contains a NUL byte"));
    }
    Ok(())
}

/// Checks the rootfs of a spec that passed [`check_fields`]; returns its
/// absolute path.
fn check_rootfs(spec: &Spec, bundle: &Path) -> std::result::Result<PathBuf, String> {
    let root = spec.root().as_ref().ok_or("root: missing")?;
    let rootfs = bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "root.path: {} is not a directory",
                rootfs.display()
            ))
        }
        Err(e) => return Err(format!("root.path: {}: {e}", rootfs.display())),
    }
    // As runc: the rootfs itself, and the directories on the way to it, may
    // not be symlinks (they could point anywhere on the host).
    if let Ok(real) = std::fs::canonicalize(&rootfs) {
        if real != normalize(&rootfs) {
            return Err(format!(
                "root.path: invalid rootfs {}: not an absolute path, or a symlink",
                rootfs.display()
            ));
        }
    }
    Ok(normalize(&rootfs))
}

/// An absolute form of `p` (relative to the current directory), normalized
/// lexically, without resolving symlinks.
pub fn absolute(p: &Path) -> Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("current directory", e))?
            .join(p)
    };
    Ok(normalize(&p))
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(config: &str) -> (tempfile::TempDir, Result<Bundle>) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("rootfs")).unwrap();
        std::fs::write(tmp.path().join("config.json"), config).unwrap();
        let b = load(tmp.path());
        (tmp, b)
    }

    fn err(config: &str) -> String {
        match bundle(config).1 {
            Ok(_) => panic!("accepted: {config}"),
            Err(e) => e.to_string(),
        }
    }

    const GOOD: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"user":{"uid":0,"gid":0},"args":["/a.wasm"],"cwd":"/","env":["A=1"]}}"#;

    #[test]
    fn accepts_a_minimal_config() {
        let (tmp, b) = bundle(GOOD);
        let b = b.unwrap();
        assert_eq!(b.rootfs, tmp.path().join("rootfs"));
        assert_eq!(b.args(), ["/a.wasm"]);
    }

    /// `validate_bytes` is what `load` checks before the filesystem: the
    /// hardening settings and the mounts' options are refused here, before
    /// `create` clones init.
    #[test]
    fn validate_bytes_checks_without_a_bundle() {
        assert!(validate_bytes(GOOD.as_bytes()).is_ok());
        let with = |extra: &str| {
            let c = GOOD.strip_suffix('}').unwrap().to_string() + "," + extra + "}";
            validate_bytes(c.as_bytes()).unwrap_err()
        };
        let e = with(r#""mounts":[{"destination":"/a","type":"tmpfs","options":["idmap"]}]"#);
        assert!(e.starts_with("mounts[0]: mount option \"idmap\""), "{e}");
        let e = with(r#""linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#);
        assert!(e.contains("linux.namespaces[1] (pid): listed twice"), "{e}");
        let e = with(r#""linux":{"sysctl":{"vm.swappiness":"1"}}"#);
        assert!(e.contains("vm.swappiness"), "{e}");
        let many = vec![r#"{"destination":"/m","type":"tmpfs"}"#; MAX_MOUNTS + 1].join(",");
        let e = with(&format!(r#""mounts":[{many}]"#));
        assert!(e.starts_with("mounts: 10001 entries"), "{e}");
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err("{not json").contains("invalid JSON"));
        assert!(
            err(r#"{"ociVersion":"1.0.2","process":{"args":["x"],"cwd":"/"}}"#)
                .contains("root: missing")
        );
        assert!(
            err(r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#).contains("process: missing")
        );
        assert!(err(
            r#"{"ociVersion":"1.0.2","root":{"path":"nope"},"process":{"args":["x"],"cwd":"/"}}"#
        )
        .contains("root.path"));
        let e = err(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":"x","cwd":"/"}}"#,
        );
        assert!(e.contains("process.args"), "{e}");
        let e = err(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":[],"cwd":"/"}}"#,
        );
        assert!(e.contains("process.args"), "{e}");
        let e = err(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["x"],"cwd":"rel"}}"#,
        );
        assert!(e.contains("process.cwd"), "{e}");
        let e = err(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["x"],"cwd":"/","env":["NOEQ"]}}"#,
        );
        assert!(e.contains("process.env[0]"), "{e}");
        let e = err(
            r#"{"ociVersion":"2.0.0","root":{"path":"rootfs"},"process":{"args":["x"],"cwd":"/"}}"#,
        );
        assert!(e.contains("ociVersion"), "{e}");
        assert!(e.contains("config.json"), "{e}");
    }
}
