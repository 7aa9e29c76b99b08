//! Helpers shared by the client tests (`containerd.rs`, `docker.rs`): a
//! private containerd and dockerd per test (own root, state, exec-root and
//! sockets, stopped by pid when the guard drops, also on a failed
//! assertion), OCI image archives assembled offline with `tar` and
//! `sha256sum`, commands run with a timeout, a pty for `ctr run -t`, and the
//! "nothing left behind" checks (runtime state, cgroups, mounts, shims).
//!
//! Nothing here touches a system daemon: the daemons get `--config` /
//! `--config-file` files in the test's temporary directory, and dockerd runs
//! with `--iptables=false --bridge=none`, so no host networking changes.
//! The exception is the published-port test: its dockerd gets a bridge of
//! its own ([`Bridge`], created and deleted by the test; still no iptables
//! rules: Docker's userland proxy forwards the port).
//! The one shared location is `/run/containerd/s/`, where the runc shim puts
//! its socket (a path containerd 1.7 hard-codes; the name is a hash of our
//! private socket address, so it never clashes with a system containerd).

#![allow(dead_code)]

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Prints why a test does not run (never skip silently).
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

/// The first of `candidates` that exists (absolute paths) or is found on
/// PATH (bare names).
pub fn find_exe(candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        if c.starts_with('/') {
            if Path::new(c).is_file() {
                return Some(PathBuf::from(c));
            }
            continue;
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            let p = dir.join(c);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Polls `f` every 20 ms until it is true or `timeout` passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

/// A finished (or killed) client command.
pub struct CmdOut {
    pub cmdline: String,
    /// None when the command was killed for taking longer than its timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CmdOut {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn ok(&self) -> bool {
        self.code() == Some(0)
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected exit 0:\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit code {code}:\n{self}"
        );
        self
    }

    /// stdout, trimmed.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
}

impl fmt::Display for CmdOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  command: {}", self.cmdline)?;
        match self.status {
            None => writeln!(f, "  TIMED OUT (killed)")?,
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => writeln!(f, "  exit code: {c}")?,
                (None, Some(sig)) => writeln!(f, "  killed by signal {sig}")?,
                _ => writeln!(f, "  status: {s:?}")?,
            },
        }
        writeln!(f, "  elapsed: {:?}", self.elapsed)?;
        writeln!(f, "  stdout: {:?}", self.stdout)?;
        write!(f, "  stderr: {:?}", self.stderr)
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        s.push(' ');
        if a.is_empty() || a.contains([' ', '"', '\'']) {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    wait_for(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// Runs `cmd` with stdin from /dev/null and stdout/stderr in files under
/// `io_dir` (files, not pipes: a process the command leaves behind can
/// never keep us waiting for EOF); kills it after `timeout`.
pub fn run_cmd(cmd: &mut Command, io_dir: &Path, timeout: Duration) -> CmdOut {
    fs::create_dir_all(io_dir).unwrap();
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let out_p = io_dir.join(format!("cmd-{n}.out"));
    let err_p = io_dir.join(format!("cmd-{n}.err"));
    let cmdline = describe(cmd);
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out_p).unwrap())
        .stderr(File::create(&err_p).unwrap());
    let started = Instant::now();
    let status = match cmd.spawn() {
        Ok(mut child) => wait_child(&mut child, timeout),
        Err(e) => panic!("cannot run {cmdline}: {e}"),
    };
    CmdOut {
        cmdline,
        status,
        stdout: fs::read_to_string(&out_p).unwrap_or_default(),
        stderr: fs::read_to_string(&err_p).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// Runs `cmd` with a new pty as its stdin, stdout and stderr (its
/// controlling terminal, in a new session), as a user at a terminal does;
/// what it wrote to the terminal is returned as stdout. The pty is in raw
/// mode, so a `\r\n` in the output comes from the container's pty.
pub fn run_in_pty(cmd: &mut Command, timeout: Duration) -> CmdOut {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two fds into the provided ints; the name,
    // termios and winsize pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just returned by openpty and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // openpty's fds are inheritable: without CLOEXEC every process other
    // test threads spawn meanwhile would hold the slave open (and the
    // master would never see EOF).
    for fd in [&master, &slave] {
        // SAFETY: fcntl on an fd we own.
        unsafe {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
    // Raw mode: only the container's own pty may turn \n into \r\n.
    // SAFETY: termios is plain data filled by tcgetattr.
    unsafe {
        let mut tio: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut tio) == 0 {
            libc::cfmakeraw(&mut tio);
            libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &tio);
        }
    }
    let cmdline = describe(cmd);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: runs in the forked child before exec; setsid and ioctl are
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
    drop(slave);
    // The Command still holds the slave copies given as stdio: drop them.
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut master_file = File::from(master);
    let buf = std::sync::Arc::new(Mutex::new((Vec::new(), false)));
    let buf2 = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        // Ends with EIO once the last slave fd is closed.
        loop {
            match master_file.read(&mut chunk) {
                Ok(n) if n > 0 => buf2.lock().unwrap().0.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        buf2.lock().unwrap().1 = true;
    });
    let status = wait_child(&mut child, timeout);
    wait_for(Duration::from_secs(2), || buf.lock().unwrap().1);
    let out = buf.lock().unwrap().0.clone();
    CmdOut {
        cmdline: format!("{cmdline}   (on a pty)"),
        status,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::new(),
        elapsed: started.elapsed(),
    }
}

// ---------------------------------------------------------------------------
// OCI images built offline
// ---------------------------------------------------------------------------

enum Entry {
    File { from: PathBuf, mode: u32 },
    Symlink(String),
}

/// An image of one layer, written as an OCI image layout archive
/// (`oci-layout`, `index.json`, `blobs/sha256/…`: what `ctr images import`
/// and `docker load` read) or as a bare layer tar (for `docker import`).
pub struct Image {
    /// Full reference, e.g. `docker.io/library/runwasm-demo:wasi`.
    pub name: String,
    pub os: String,
    pub arch: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<String>,
    annotations: Vec<(String, String)>,
    entries: Vec<(String, Entry)>,
}

impl Image {
    pub fn new(name: &str, os: &str, arch: &str) -> Image {
        Image {
            name: name.to_string(),
            os: os.to_string(),
            arch: arch.to_string(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
            annotations: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Copies the host file `from` to `path` in the image.
    pub fn file(mut self, path: &str, from: &Path, mode: u32) -> Image {
        self.entries.push((
            path.trim_start_matches('/').to_string(),
            Entry::File {
                from: from.to_path_buf(),
                mode,
            },
        ));
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Image {
        self.entries.push((
            path.trim_start_matches('/').to_string(),
            Entry::Symlink(target.to_string()),
        ));
        self
    }

    pub fn entrypoint(mut self, args: &[&str]) -> Image {
        self.entrypoint = args.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn cmd(mut self, args: &[&str]) -> Image {
        self.cmd = args.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn env(mut self, env: &[&str]) -> Image {
        self.env = env.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A manifest annotation (e.g. `module.wasm.image/variant=compat`).
    pub fn annotation(mut self, k: &str, v: &str) -> Image {
        self.annotations.push((k.to_string(), v.to_string()));
        self
    }

    /// The tag part of the name (`wasi` of `…/runwasm-demo:wasi`).
    pub fn tag(&self) -> &str {
        let last = self.name.rsplit('/').next().unwrap_or(&self.name);
        last.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest")
    }

    /// Writes the layer (an uncompressed tar of the image's files, owned by
    /// 0:0, mtime 0) to `dir/layer.tar` and returns its path.
    pub fn layer_tar(&self, dir: &Path) -> PathBuf {
        let stage = dir.join("rootfs");
        fs::create_dir_all(&stage).unwrap();
        let mut top = Vec::new();
        for (path, e) in &self.entries {
            let to = stage.join(path);
            if let Some(p) = to.parent() {
                fs::create_dir_all(p).unwrap();
            }
            match e {
                Entry::File { from, mode } => {
                    fs::copy(from, &to).unwrap_or_else(|e| {
                        panic!("copy {} to {}: {e}", from.display(), to.display())
                    });
                    fs::set_permissions(&to, fs::Permissions::from_mode(*mode)).unwrap();
                }
                Entry::Symlink(t) => symlink(t, &to).unwrap(),
            }
            let first = path.split('/').next().unwrap().to_string();
            if !top.contains(&first) {
                top.push(first);
            }
        }
        let layer = dir.join("layer.tar");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&stage)
            .args([
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--mtime=@0",
                "--sort=name",
                "-cf",
            ])
            .arg(&layer)
            .args(&top)
            .output()
            .expect("run tar");
        assert!(
            out.status.success(),
            "tar failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        layer
    }

    /// Writes the OCI image layout archive to `dir/image.tar` and returns
    /// its path. The index names the image twice, as `docker save` does:
    /// `io.containerd.image.name` (the full reference, read by
    /// `ctr images import` and `docker load`) and
    /// `org.opencontainers.image.ref.name` (the tag).
    pub fn oci_archive(&self, dir: &Path) -> PathBuf {
        fs::create_dir_all(dir).unwrap();
        let layer = self.layer_tar(dir);
        let layout = dir.join("oci");
        let blobs = layout.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let layer_desc = add_blob(&blobs, &fs::read(&layer).unwrap());
        let mut config = json!({
            "architecture": self.arch,
            "os": self.os,
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": [layer_desc.0] },
            "history": [{ "created_by": "runwasm integration tests" }],
        });
        if !self.entrypoint.is_empty() {
            config["config"]["Entrypoint"] = json!(self.entrypoint);
        }
        if !self.cmd.is_empty() {
            config["config"]["Cmd"] = json!(self.cmd);
        }
        if !self.env.is_empty() {
            config["config"]["Env"] = json!(self.env);
        }
        let config_desc = add_blob(&blobs, &serde_json::to_vec(&config).unwrap());
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_desc.0, "size": config_desc.1,
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_desc.0, "size": layer_desc.1,
            }],
        });
        if !self.annotations.is_empty() {
            let map: serde_json::Map<String, Value> = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            manifest["annotations"] = Value::Object(map);
        }
        let manifest_desc = add_blob(&blobs, &serde_json::to_vec(&manifest).unwrap());
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_desc.0, "size": manifest_desc.1,
                "platform": { "os": self.os, "architecture": self.arch },
                "annotations": {
                    "io.containerd.image.name": self.name,
                    "org.opencontainers.image.ref.name": self.tag(),
                },
            }],
        });
        fs::write(
            layout.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
        fs::write(
            layout.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let archive = dir.join("image.tar");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .args(["--owner=0", "--group=0", "--numeric-owner", "-cf"])
            .arg(&archive)
            .args(["oci-layout", "index.json", "blobs"])
            .output()
            .expect("run tar");
        assert!(
            out.status.success(),
            "tar failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        archive
    }
}

/// Stores `data` as a blob; returns (`sha256:HEX`, size).
fn add_blob(blobs: &Path, data: &[u8]) -> (String, usize) {
    let tmp = blobs.join(".incoming");
    fs::write(&tmp, data).unwrap();
    let out = Command::new("sha256sum")
        .arg(&tmp)
        .output()
        .expect("run sha256sum");
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_string();
    assert_eq!(hex.len(), 64, "sha256sum printed {:?}", out.stdout);
    fs::rename(&tmp, blobs.join(&hex)).unwrap();
    (format!("sha256:{hex}"), data.len())
}

// ---------------------------------------------------------------------------
// What a container leaves behind
// ---------------------------------------------------------------------------

/// The mount points of the cgroup hierarchies (v1 controllers and v2).
pub fn cgroup_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for line in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or("");
        if fstype == "cgroup" || fstype == "cgroup2" {
            if let Some(mp) = left.split_whitespace().nth(4) {
                roots.push(PathBuf::from(mp));
            }
        }
    }
    roots
}

/// The existing directories `ROOT/rel` over every cgroup hierarchy.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    cgroup_roots()
        .into_iter()
        .map(|r| r.join(rel.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect()
}

/// Removes the (empty) cgroup directory `rel` from every hierarchy.
pub fn remove_cgroup_dirs(rel: &str) {
    if rel.trim_matches('/').is_empty() {
        return;
    }
    for d in cgroup_dirs(rel) {
        let _ = fs::remove_dir(&d);
    }
}

/// The cgroup paths of `pid` (`/proc/PID/cgroup`).
pub fn proc_cgroup(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

/// Lines of /proc/self/mountinfo that mention `needle`.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Lazily unmounts every mount point under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let c = std::ffi::CString::new(p).unwrap();
        // SAFETY: a valid NUL-terminated path.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// Live processes whose command line contains every needle.
pub fn pids_with_cmdline(needles: &[&str]) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for pid in crate::common::all_pids() {
        if pid == me || !crate::common::pid_alive(pid) {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        if needles.iter().all(|n| cmdline.contains(n)) {
            found.push((pid, cmdline));
        }
    }
    found
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    let s = fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// A command for a daemon: SIGTERM reaches it if the test's thread dies
/// without running its guard (the test binary killed, ^C).
fn daemon_cmd(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    // SAFETY: runs in the forked child before exec; prctl is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd
}

/// Stops a daemon we started: SIGTERM, up to `grace`, then SIGKILL.
fn stop_child(child: &mut Child, grace: Duration) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    kill(child.id() as i32, libc::SIGTERM);
    if wait_child_quiet(child, grace) {
        return;
    }
    eprintln!(
        "note: daemon pid {} ignored SIGTERM for {grace:?}; SIGKILL",
        child.id()
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_child_quiet(child: &mut Child, timeout: Duration) -> bool {
    wait_for(timeout, || child.try_wait().ok().flatten().is_some())
}

/// The runwasm containers (directory names) in the state root `root`.
pub fn runtime_entries(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// containerd
// ---------------------------------------------------------------------------

/// A private containerd: `DIR/config.toml` with root, state, sockets and the
/// opt directory under DIR. Dropping it deletes (`runwasm delete --force`)
/// whatever containers are left in the runtime roots it knows, kills the
/// shims serving its socket, stops containerd by pid (SIGTERM, 10 s,
/// SIGKILL), unmounts what is left under DIR and removes the cgroup
/// parents registered with [`Containerd::cleanup_cgroup`].
pub struct Containerd {
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    pub ctr_bin: PathBuf,
    pub runwasm: PathBuf,
    /// `--runc-root` for ctr: runwasm's state root is `runc_root/NAMESPACE`.
    pub runc_root: PathBuf,
    /// `--fifo-dir` for ctr (its default is /run/containerd/fifo).
    pub fifo_dir: PathBuf,
    io_dir: PathBuf,
    child: Child,
    roots: Mutex<Vec<PathBuf>>,
    cgroups: Mutex<Vec<String>>,
}

impl Containerd {
    /// Whether containerd and ctr are installed; Err says what is missing.
    pub fn installed() -> Result<(), String> {
        for b in ["containerd", "ctr", "containerd-shim-runc-v2"] {
            if find_exe(&[&format!("/usr/bin/{b}"), b]).is_none() {
                return Err(format!(
                    "{b} is not installed (scripts/setup-docker.sh installs Debian's containerd)"
                ));
            }
        }
        Ok(())
    }

    /// Starts containerd in `dir` with `extra` appended to its config
    /// (TOML, e.g. the CRI plugin's runtimes). `cri` false disables the
    /// CRI plugin. Err (with the log's tail) when it does not come up
    /// within 20 s.
    pub fn start(dir: &Path, runwasm: &Path, cri: bool, extra: &str) -> Result<Containerd, String> {
        fs::create_dir_all(dir).unwrap();
        let sock = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        let d = dir.display();
        let disabled = if cri {
            ""
        } else {
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        };
        fs::write(
            &config,
            format!(
                "version = 2\n\
                 root = \"{d}/root\"\n\
                 state = \"{d}/state\"\n\
                 {disabled}\
                 [grpc]\n  address = \"{d}/containerd.sock\"\n\
                 [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
                 [debug]\n  address = \"{d}/debug.sock\"\n\
                 [metrics]\n  address = \"\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n\
                 {extra}\n"
            ),
        )
        .unwrap();
        let log = dir.join("containerd.log");
        let containerd = find_exe(&["/usr/bin/containerd", "containerd"]).ok_or("no containerd")?;
        let ctr_bin = find_exe(&["/usr/bin/ctr", "ctr"]).ok_or("no ctr")?;
        let child = daemon_cmd(&containerd)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", containerd.display()))?;
        let mut c = Containerd {
            dir: dir.to_path_buf(),
            sock,
            config,
            log,
            ctr_bin,
            runwasm: runwasm.to_path_buf(),
            runc_root: dir.join("runwasm-root"),
            fifo_dir: dir.join("fifo"),
            io_dir: dir.join("io"),
            child,
            roots: Mutex::new(Vec::new()),
            cgroups: Mutex::new(Vec::new()),
        };
        let started = Instant::now();
        let mut up = false;
        while started.elapsed() < Duration::from_secs(20) {
            if c.child.try_wait().ok().flatten().is_some() {
                break;
            }
            if c.sock.exists() && c.ctr("default", &["version"], Duration::from_secs(5)).ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        if !up {
            let tail = log_tail(&c.log, 15);
            return Err(format!(
                "containerd did not come up within 20 s (config {}); its log ends with:\n{tail}",
                c.config.display()
            ));
        }
        Ok(c)
    }

    /// `ctr --address SOCK --namespace NS ARGS…`, killed after `timeout`.
    pub fn ctr(&self, ns: &str, args: &[&str], timeout: Duration) -> CmdOut {
        run_cmd(&mut self.ctr_cmd(ns, args), &self.io_dir, timeout)
    }

    pub fn ctr_cmd(&self, ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.ctr_bin);
        cmd.arg("--address")
            .arg(&self.sock)
            .arg("--namespace")
            .arg(ns);
        cmd.args(args);
        cmd
    }

    /// Registers a runwasm state root whose containers the drop deletes.
    pub fn cleanup_root(&self, root: &Path) {
        self.roots.lock().unwrap().push(root.to_path_buf());
    }

    /// Registers a cgroup parent (relative to each hierarchy) removed, when
    /// empty, by the drop.
    pub fn cleanup_cgroup(&self, rel: &str) {
        self.cgroups.lock().unwrap().push(rel.to_string());
    }

    /// The shim processes serving container `id` of this containerd.
    pub fn shims(&self, id: &str) -> Vec<(i32, String)> {
        pids_with_cmdline(&["containerd-shim", &format!("-id {id} "), self.sock_str()])
    }

    pub fn sock_str(&self) -> &str {
        self.sock.to_str().unwrap()
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 20)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for e in runtime_entries(&self.runc_root) {
            roots.push(self.runc_root.join(e));
        }
        for root in roots {
            for id in runtime_entries(&root) {
                let _ = run_cmd(
                    Command::new(&self.runwasm)
                        .arg("--root")
                        .arg(&root)
                        .args(["delete", "--force", &id]),
                    &self.io_dir,
                    Duration::from_secs(5),
                );
            }
        }
        let me = self.child.id() as i32;
        for (pid, cmdline) in pids_with_cmdline(&[self.sock.to_str().unwrap()]) {
            if pid != me {
                kill(pid, libc::SIGKILL);
                // A killed shim leaves its socket in /run/containerd/s.
                if let Some(p) = shim_socket(&self.sock, &cmdline) {
                    wait_for(Duration::from_secs(2), || {
                        !Path::new(&format!("/proc/{pid}")).exists()
                            || fs::read_to_string(format!("/proc/{pid}/stat"))
                                .is_ok_and(|s| s.contains(") Z"))
                    });
                    let _ = fs::remove_file(p);
                }
            }
        }
        stop_child(&mut self.child, Duration::from_secs(10));
        unmount_under(&self.dir);
        for rel in self
            .cgroups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            remove_cgroup_dirs(rel);
        }
    }
}

/// The socket containerd 1.7 gives the shim of `-namespace NS -id ID`:
/// `/run/containerd/s/HEX(sha256(ADDRESS/NS/ID))`.
fn shim_socket(address: &Path, shim_cmdline: &str) -> Option<PathBuf> {
    if !shim_cmdline.contains("containerd-shim") {
        return None;
    }
    let args: Vec<&str> = shim_cmdline.split(' ').collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|s| s.to_string())
    };
    let (ns, id) = (arg("-namespace")?, arg("-id")?);
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take()?;
        stdin
            .write_all(format!("{}/{ns}/{id}", address.display()).as_bytes())
            .ok()?;
    }
    let out = child.wait_with_output().ok()?;
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .to_string();
    Some(PathBuf::from("/run/containerd/s").join(hex))
}

// ---------------------------------------------------------------------------
// dockerd
// ---------------------------------------------------------------------------

/// A private dockerd on a private containerd: `--config-file`,
/// `--data-root`, `--exec-root`, `--pidfile` and `-H unix://…` under DIR,
/// `--containerd` the given socket, no iptables, containers in the cgroup
/// parent `/rwit-docker-PID-N` (removed at the end). No bridge
/// (`--bridge=none --userland-proxy=false`), or with
/// [`Dockerd::start_with_bridge`] a [`Bridge`] of its own and Docker's
/// userland proxy publishing ports. Dropping it removes every container
/// (`docker rm -f`), stops dockerd by pid (SIGTERM, 15 s, SIGKILL),
/// unmounts what is left under DIR and deletes the bridge.
pub struct Dockerd {
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub client: PathBuf,
    pub daemon_json: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub log: PathBuf,
    pub cgroup_parent: String,
    /// The daemon's default bridge network, if it has one (dropped after
    /// dockerd has stopped: fields drop after `Drop::drop`).
    pub bridge: Option<Bridge>,
    io_dir: PathBuf,
    child: Child,
}

static DOCKERD_SEQ: AtomicUsize = AtomicUsize::new(0);

impl Dockerd {
    /// Whether dockerd and a docker client are installed.
    pub fn installed() -> Result<(), String> {
        Containerd::installed()?;
        if find_exe(&["/usr/sbin/dockerd", "dockerd"]).is_none() {
            return Err(
                "dockerd is not installed (scripts/setup-docker.sh installs Debian's docker.io)"
                    .into(),
            );
        }
        if Self::client_bin().is_none() {
            return Err(
                "the docker client is not installed (scripts/setup-docker.sh installs docker-cli)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Debian's client (matching the daemon) before whatever `docker` is on
    /// PATH.
    fn client_bin() -> Option<PathBuf> {
        find_exe(&["/usr/bin/docker", "docker"])
    }

    /// The `daemon.json` the tests (and docs/docker.md) use.
    pub fn daemon_json(runwasm: &Path, snapshotter: bool, cgroup_parent: &str) -> Value {
        json!({
            "runtimes": { "runwasm": { "path": runwasm } },
            "features": { "containerd-snapshotter": snapshotter },
            "cgroup-parent": cgroup_parent,
        })
    }

    /// Starts dockerd in `dir` on `containerd`, without a bridge; Err (with
    /// the log's tail) when it does not answer within 30 s.
    pub fn start(
        dir: &Path,
        containerd: &Containerd,
        runwasm: &Path,
        snapshotter: bool,
    ) -> Result<Dockerd, String> {
        Self::launch(dir, containerd, runwasm, snapshotter, None)
    }

    /// Starts dockerd as [`Dockerd::start`] does, with `bridge` as its
    /// default network (`--bridge=NAME`) and Docker's userland proxy
    /// (`docker-proxy`) publishing ports: with `--iptables=false` there is
    /// no DNAT rule, and the proxy, listening on the host port, is what
    /// forwards a connection to the container's address on the bridge.
    pub fn start_with_bridge(
        dir: &Path,
        containerd: &Containerd,
        runwasm: &Path,
        snapshotter: bool,
        bridge: Bridge,
    ) -> Result<Dockerd, String> {
        Self::launch(dir, containerd, runwasm, snapshotter, Some(bridge))
    }

    /// Docker's userland proxy, which publishes ports when dockerd runs
    /// without iptables.
    pub fn proxy_bin() -> Option<PathBuf> {
        find_exe(&[
            "/usr/sbin/docker-proxy",
            "/usr/bin/docker-proxy",
            "docker-proxy",
        ])
    }

    fn launch(
        dir: &Path,
        containerd: &Containerd,
        runwasm: &Path,
        snapshotter: bool,
        bridge: Option<Bridge>,
    ) -> Result<Dockerd, String> {
        fs::create_dir_all(dir).unwrap();
        let cgroup_parent = format!(
            "/rwit-docker-{}-{}",
            std::process::id(),
            DOCKERD_SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let daemon_json = dir.join("daemon.json");
        fs::write(
            &daemon_json,
            serde_json::to_vec_pretty(&Self::daemon_json(runwasm, snapshotter, &cgroup_parent))
                .unwrap(),
        )
        .unwrap();
        let sock = dir.join("docker.sock");
        let data_root = dir.join("data");
        let exec_root = dir.join("exec");
        let log = dir.join("dockerd.log");
        let dockerd = find_exe(&["/usr/sbin/dockerd", "dockerd"]).ok_or("no dockerd")?;
        let client = Self::client_bin().ok_or("no docker client")?;
        let net_flags: Vec<String> = match &bridge {
            None => vec!["--bridge=none".into(), "--userland-proxy=false".into()],
            Some(b) => {
                let proxy = Self::proxy_bin().ok_or("no docker-proxy")?;
                vec![
                    format!("--bridge={}", b.name),
                    "--userland-proxy=true".into(),
                    format!("--userland-proxy-path={}", proxy.display()),
                ]
            }
        };
        let child = daemon_cmd(&dockerd)
            .arg("--config-file")
            .arg(&daemon_json)
            .arg("--data-root")
            .arg(&data_root)
            .arg("--exec-root")
            .arg(&exec_root)
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--containerd")
            .arg(&containerd.sock)
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
            ])
            .args(&net_flags)
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", dockerd.display()))?;
        let mut d = Dockerd {
            dir: dir.to_path_buf(),
            sock,
            client,
            daemon_json,
            data_root,
            exec_root,
            log,
            cgroup_parent,
            bridge,
            io_dir: dir.join("io"),
            child,
        };
        let started = Instant::now();
        let mut up = false;
        while started.elapsed() < Duration::from_secs(30) {
            if d.child.try_wait().ok().flatten().is_some() {
                break;
            }
            if d.sock.exists()
                && d.docker(
                    &["version", "--format", "{{.Server.Version}}"],
                    Duration::from_secs(5),
                )
                .ok()
            {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !up {
            let tail = log_tail(&d.log, 15);
            return Err(format!(
                "dockerd did not come up within 30 s; its log ends with:\n{tail}"
            ));
        }
        Ok(d)
    }

    /// The docker client on this daemon, with a private client config dir.
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.join("client-config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .args(args);
        cmd
    }

    pub fn docker(&self, args: &[&str], timeout: Duration) -> CmdOut {
        run_cmd(&mut self.docker_cmd(args), &self.io_dir, timeout)
    }

    /// runwasm's state root as Docker passes it: `EXECROOT/runtime-runc/moby`.
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime-runc/moby")
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 25)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ps = self.docker(&["ps", "-aq", "--no-trunc"], Duration::from_secs(10));
        let ids: Vec<&str> = ps.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.docker(&args, Duration::from_secs(20));
        }
        stop_child(&mut self.child, Duration::from_secs(15));
        unmount_under(&self.dir);
        // The per-container cgroups were removed with the containers; the
        // parent is ours.
        remove_cgroup_dirs(&self.cgroup_parent);
    }
}

// ---------------------------------------------------------------------------
// A bridge for a private dockerd
// ---------------------------------------------------------------------------

/// A Linux bridge of the test's own for a private dockerd's
/// `--bridge=NAME`: named `rwdkPID-N`, with the address `172.31.X.1/24`
/// for an X no address or route of the host uses. dockerd creates only
/// `docker0` by itself, and two daemons on one `docker0` would hand out the
/// same container addresses; given a bridge, dockerd makes the bridge's
/// address its default network's gateway and subnet. Deleted (`ip link
/// del`) when dropped; [`Bridge::create`] also deletes the bridges of test
/// processes that are gone.
pub struct Bridge {
    pub name: String,
    /// `172.31.X.1`
    pub gateway: String,
    /// `172.31.X.0/24`
    pub subnet: String,
    ip: PathBuf,
}

static BRIDGE_SEQ: AtomicUsize = AtomicUsize::new(0);
static BRIDGE_LOCK: Mutex<()> = Mutex::new(());

impl Bridge {
    /// Creates the bridge; Err says why it cannot be made here.
    pub fn create() -> Result<Bridge, String> {
        let ip = find_exe(&["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip", "ip"])
            .ok_or("the ip command (iproute2) is not installed")?;
        // One at a time: choosing a free /24 and taking it is not atomic.
        let _guard = BRIDGE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        remove_stale_bridges(&ip);
        let pid = std::process::id() as usize;
        let n = BRIDGE_SEQ.fetch_add(1, Ordering::SeqCst);
        // At most 15 bytes (IFNAMSIZ - 1): pids have at most 7 digits.
        let name = format!("rwdk{pid}-{}", n % 100);
        let used = ip_cmd(&ip, &["-4", "-o", "addr", "show"])?
            + &ip_cmd(&ip, &["-4", "route", "show", "table", "all"])?;
        let start = pid + n;
        let x = (0..254)
            .map(|i| (start + i) % 254 + 1)
            .find(|x| !used.contains(&format!("172.31.{x}.")))
            .ok_or("every 172.31.X.0/24 is in use on this machine")?;
        ip_cmd(&ip, &["link", "add", &name, "type", "bridge"])
            .map_err(|e| format!("cannot create a bridge: {e}"))?;
        let b = Bridge {
            name,
            gateway: format!("172.31.{x}.1"),
            subnet: format!("172.31.{x}.0/24"),
            ip,
        };
        ip_cmd(
            &b.ip,
            &["addr", "add", &format!("{}/24", b.gateway), "dev", &b.name],
        )?;
        Ok(b)
    }

    /// The interfaces attached to the bridge (containers' veth ends).
    pub fn ports(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(format!("/sys/class/net/{}/brif", self.name))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = ip_cmd(&self.ip, &["link", "del", &self.name]);
    }
}

/// `ip ARGS…`: its stdout, or Err with its stderr.
fn ip_cmd(ip: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(ip)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ip.display()))?;
    if !out.status.success() {
        return Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Deletes the `rwdkPID-N` bridges whose test process is gone.
fn remove_stale_bridges(ip: &Path) {
    let Ok(rd) = fs::read_dir("/sys/class/net") else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("rwdk")
            .and_then(|r| r.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip_cmd(ip, &["link", "del", &name]);
        }
    }
}

// ---------------------------------------------------------------------------
// The test images
// ---------------------------------------------------------------------------

/// The Wasm test modules every Wasm test image holds at its root.
pub const WASM_MODULES: &[&str] = &[
    "hello",
    "exit_code",
    "spin",
    "sleep",
    "echo",
    "write_file",
    "memhog",
    "http_hello",
];

/// A Wasm image: the test modules at `/NAME.wasm`, entrypoint
/// `/hello.wasm`, `PATH=/`, the `module.wasm.image/variant=compat`
/// annotation. `os`/`arch` are `wasi`/`wasm` or `linux`/`amd64` (the shape
/// Docker 20.10 and `docker import` produce).
pub fn wasm_image(name: &str, os: &str, arch: &str) -> Image {
    let mut img = Image::new(name, os, arch)
        .entrypoint(&["/hello.wasm"])
        .env(&["PATH=/"])
        .annotation("module.wasm.image/variant", "compat");
    for m in WASM_MODULES {
        img = img.file(&format!("/{m}.wasm"), &crate::common::module(m), 0o755);
    }
    img
}

/// The busybox applets the native test image links in /bin.
pub const BUSYBOX_APPLETS: &[&str] = &["sh", "cat", "echo", "sleep", "tty", "ls"];

/// A native linux/amd64 image: the host's static busybox as `/bin/busybox`
/// and [`BUSYBOX_APPLETS`], `PATH=/bin`, command `/bin/sh`.
pub fn busybox_image(name: &str) -> Image {
    let mut img =
        Image::new(name, "linux", "amd64").file("/bin/busybox", &crate::common::busybox(), 0o755);
    for applet in BUSYBOX_APPLETS {
        img = img.symlink(&format!("/bin/{applet}"), "busybox");
    }
    img.env(&["PATH=/bin"]).cmd(&["/bin/sh"])
}

/// User plus system CPU time of `pid`, in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(i) = stat.rfind(')') else { return 0 };
    let f: Vec<&str> = stat[i + 1..].split_whitespace().collect();
    // After the comm: state(0) ppid(1) ... utime(11) stime(12).
    f.get(11).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}
