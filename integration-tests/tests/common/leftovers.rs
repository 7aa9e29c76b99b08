//! What a test may have left behind: one check, used by every test (the
//! [`TestEnv`](super::TestEnv) runs it when dropped, after `delete --force`
//! of every container id it handed out) and by tests that want to assert
//! it half-way:
//!
//! - processes whose command line, cwd, root or open files are under the
//!   test's directory (a pivoted container process is recognised by its
//!   root or cwd being one of the test's directories, compared by device
//!   and inode, since its `/proc/PID/root` reads as `/`);
//! - cgroup directories named after the test's container ids under the
//!   test's cgroup parents (`runwasm`, the default, and any the test adds),
//!   in every hierarchy under `/sys/fs/cgroup` (v1 controllers, named
//!   hierarchies, the unified cgroup2);
//! - mounts (`/proc/self/mountinfo`) under the test's directory;
//! - anything under the state root, except names the test declared as
//!   not runwasm's (another runtime's entries).

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{all_pids, pid_alive, proc_fds, wait_until, TestEnv};

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Default, Clone)]
pub struct Leftovers {
    /// `pid N (comm): why`.
    pub processes: Vec<String>,
    pub cgroups: Vec<PathBuf>,
    pub mounts: Vec<String>,
    pub files: Vec<PathBuf>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.cgroups.is_empty()
            && self.mounts.is_empty()
            && self.files.is_empty()
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return write!(f, "nothing");
        }
        for (what, items) in [
            ("processes", self.processes.clone()),
            (
                "cgroup directories",
                self.cgroups
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            ),
            ("mounts", self.mounts.clone()),
            (
                "files under the state root",
                self.files.iter().map(|p| p.display().to_string()).collect(),
            ),
        ] {
            if items.is_empty() {
                continue;
            }
            writeln!(f, "  {} {what}:", items.len())?;
            for i in items.iter().take(20) {
                writeln!(f, "    {i}")?;
            }
            if items.len() > 20 {
                writeln!(f, "    …")?;
            }
        }
        Ok(())
    }
}

/// Every hierarchy mounted under `/sys/fs/cgroup` (v1 controllers, named
/// hierarchies, the unified v2 one; the root itself on a v2-only host).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    let mut v: Vec<PathBuf> = fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Mount points (from `/proc/self/mountinfo`, unescaped) under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let mut v: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape_mountinfo))
        .filter(|p| Path::new(p).starts_with(&prefix))
        .collect();
    v.sort();
    v
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Device and inode of every directory under `dir`, `depth` levels down
/// (the test's directory, its bundles and their rootfses).
fn dir_inodes(dir: &Path, depth: usize, out: &mut HashSet<(u64, u64)>) {
    let Ok(m) = fs::symlink_metadata(dir) else {
        return;
    };
    if !m.is_dir() {
        return;
    }
    out.insert((m.dev(), m.ino()));
    if depth == 0 {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            dir_inodes(&e.path(), depth - 1, out);
        }
    }
}

/// Every entry under `dir`, recursively (directories too).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        out.push(e.path());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), out);
        }
    }
}

impl TestEnv {
    /// Live processes other than this one that belong to this test: their
    /// command line, cwd, root or an open file is under the test's
    /// directory (by path, or, for a process in its own mount namespace,
    /// by the device and inode of its root or cwd).
    pub fn processes_using_tmp(&self) -> Vec<(i32, String)> {
        let me = std::process::id() as i32;
        let tmp = self.tmp().to_string_lossy().into_owned();
        let tmp_b = tmp.as_bytes();
        let mut ours = HashSet::new();
        dir_inodes(self.tmp(), 3, &mut ours);
        let inode_of = |p: String| fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        let mut found = Vec::new();
        for pid in all_pids() {
            if pid == me || !pid_alive(pid) {
                continue;
            }
            let mut why = None;
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.windows(tmp_b.len()).any(|w| w == tmp_b) {
                why = Some(format!(
                    "cmdline {:?}",
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                ));
            }
            for link in ["cwd", "root"] {
                if why.is_some() {
                    break;
                }
                let p = format!("/proc/{pid}/{link}");
                if let Ok(t) = fs::read_link(&p) {
                    if t.starts_with(self.tmp()) {
                        why = Some(format!("{link} {}", t.display()));
                        break;
                    }
                }
                if inode_of(p).is_some_and(|i| ours.contains(&i)) {
                    why = Some(format!("{link} is one of the test's directories"));
                }
            }
            if why.is_none() {
                for (fd, t) in proc_fds(pid) {
                    if t.starts_with(self.tmp()) {
                        why = Some(format!("fd {fd} -> {}", t.display()));
                        break;
                    }
                }
            }
            if let Some(why) = why {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                found.push((pid, format!("pid {pid} ({}): {why}", comm.trim())));
            }
        }
        found
    }

    /// Cgroup directories of this test's containers: `PARENT/ID` for every
    /// id the env handed out or tracked and every cgroup parent (the
    /// default `runwasm`, and those added with
    /// [`TestEnv::cgroup_parent`]), in every hierarchy.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let parents = self
            .cgroup_parents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut left = Vec::new();
        for h in cgroup_hierarchies() {
            for p in &parents {
                for id in &ids {
                    let d = h.join(p).join(id);
                    if d.is_dir() {
                        left.push(d);
                    }
                }
            }
        }
        left
    }

    /// Everything under the state root except the entries declared with
    /// [`TestEnv::expect_in_root`] (and what is inside them).
    pub fn files_in_root(&self) -> Vec<PathBuf> {
        let expected = self
            .expected_in_root
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut all = Vec::new();
        walk(&self.root, &mut all);
        all.retain(|p| {
            let top = p
                .strip_prefix(&self.root)
                .ok()
                .and_then(|r| r.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            !top.is_some_and(|t| expected.contains(&t))
        });
        all.sort();
        all
    }

    /// One look at what this test left: processes, cgroups, mounts, files
    /// under the state root.
    pub fn leftovers(&self) -> Leftovers {
        Leftovers {
            processes: self
                .processes_using_tmp()
                .into_iter()
                .map(|(_, why)| why)
                .collect(),
            cgroups: self.cgroups_left(),
            mounts: mounts_under(self.tmp()),
            files: self.files_in_root(),
        }
    }

    /// Looks until nothing is left or `grace` has passed (a killed process
    /// takes a moment to exit and release its cgroup); the last look.
    pub fn wait_for_no_leftovers(&self, grace: Duration) -> Leftovers {
        let mut last = Leftovers::default();
        wait_until(grace, || {
            last = self.leftovers();
            last.is_empty()
        });
        last
    }

    /// Panics, listing them, unless the test left nothing behind (within a
    /// grace period of two seconds).
    #[track_caller]
    pub fn assert_no_leftovers(&self, when: &str) {
        let left = self.wait_for_no_leftovers(Duration::from_secs(2));
        assert!(
            left.is_empty(),
            "{}: {when}: left behind:\n{left}",
            self.name
        );
    }

    /// Declares `name` in the state root as not runwasm's (another
    /// runtime's entry, a stray file the test planted): the leftover check
    /// ignores it.
    pub fn expect_in_root(&self, name: &str) {
        self.expected_in_root.lock().unwrap().push(name.to_string());
    }

    /// Adds a cgroup parent (relative to each hierarchy's root, e.g.
    /// `rwtest`) under which the leftover check looks for cgroups named
    /// after this test's container ids.
    pub fn cgroup_parent(&self, path: &str) {
        self.cgroup_parents
            .lock()
            .unwrap()
            .push(path.trim_start_matches('/').to_string());
    }

    /// Turns the leftover check at the end of the test off, saying why (a
    /// test whose daemons own what they leave, for instance).
    pub fn skip_leftover_check(&self, why: &str) {
        *self.skip_leftovers.lock().unwrap() = Some(why.to_string());
    }

    /// The end-of-test cleanup of what `delete --force` did not remove:
    /// processes killed, cgroups emptied and removed, mounts detached.
    /// Returns what was found before cleaning.
    pub(super) fn clean_leftovers(&self) -> Leftovers {
        let left = self.wait_for_no_leftovers(Duration::from_secs(2));
        if left.is_empty() {
            return left;
        }
        for (pid, _) in self.processes_using_tmp() {
            super::send_signal(pid, libc::SIGKILL);
        }
        for d in self.cgroups_left() {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            for pid in fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
            {
                super::send_signal(pid, libc::SIGKILL);
            }
            wait_until(Duration::from_secs(2), || {
                fs::remove_dir(&d).is_ok() || !d.exists()
            });
        }
        for m in mounts_under(self.tmp()).iter().rev() {
            if let Ok(c) = std::ffi::CString::new(m.as_str()) {
                // SAFETY: umount2 of a path under the test's own directory.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        left
    }
}
