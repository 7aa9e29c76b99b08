//! The one table of `mounts[].options` runwasm understands, as runc does:
//! flags for mount(2), propagation changes applied by a second mount(2)
//! call, recursive attributes applied with mount_setattr(2) (`rro`,
//! `rnosuid`, …), runc's `tmpcopyup` extension, and everything else passed
//! to the filesystem as data (`size=65536k`, `mode=755`, `newinstance`, …).

use libc::c_ulong;

use crate::{Error, Result};

/// `mount_setattr(2)` attribute bits (linux/mount.h; not in the libc crate).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

#[derive(Clone, Copy)]
enum Opt {
    /// Sets mount(2) flags.
    Set(c_ulong),
    /// Clears mount(2) flags.
    Clear(c_ulong),
    /// A propagation change, applied after the mount.
    Propagation(c_ulong),
    /// Recursive attributes (mount_setattr): (set, clear).
    Recursive(u64, u64),
    /// runc's extension: copy the destination's content into a new tmpfs.
    CopyUp,
    /// Accepted and meaningless (`defaults`).
    Ignore,
    /// Known but not implemented: refused instead of silently ignored.
    Unsupported,
}

use libc::{
    MS_BIND, MS_DIRSYNC, MS_I_VERSION, MS_LAZYTIME, MS_MANDLOCK, MS_NOATIME, MS_NODEV,
    MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_PRIVATE, MS_RDONLY, MS_REC,
    MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SILENT, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS,
    MS_UNBINDABLE,
};

const ATIME: u64 = MOUNT_ATTR_ATIME;

/// Every option runwasm recognises (anything else is filesystem data).
const TABLE: &[(&str, Opt)] = &[
    ("defaults", Opt::Ignore),
    ("ro", Opt::Set(MS_RDONLY)),
    ("rw", Opt::Clear(MS_RDONLY)),
    ("suid", Opt::Clear(MS_NOSUID)),
    ("nosuid", Opt::Set(MS_NOSUID)),
    ("dev", Opt::Clear(MS_NODEV)),
    ("nodev", Opt::Set(MS_NODEV)),
    ("exec", Opt::Clear(MS_NOEXEC)),
    ("noexec", Opt::Set(MS_NOEXEC)),
    ("sync", Opt::Set(MS_SYNCHRONOUS)),
    ("async", Opt::Clear(MS_SYNCHRONOUS)),
    ("dirsync", Opt::Set(MS_DIRSYNC)),
    ("remount", Opt::Set(MS_REMOUNT)),
    ("mand", Opt::Set(MS_MANDLOCK)),
    ("nomand", Opt::Clear(MS_MANDLOCK)),
    ("atime", Opt::Clear(MS_NOATIME)),
    ("noatime", Opt::Set(MS_NOATIME)),
    ("diratime", Opt::Clear(MS_NODIRATIME)),
    ("nodiratime", Opt::Set(MS_NODIRATIME)),
    ("relatime", Opt::Set(MS_RELATIME)),
    ("norelatime", Opt::Clear(MS_RELATIME)),
    ("strictatime", Opt::Set(MS_STRICTATIME)),
    ("nostrictatime", Opt::Clear(MS_STRICTATIME)),
    ("iversion", Opt::Set(MS_I_VERSION)),
    ("noiversion", Opt::Clear(MS_I_VERSION)),
    ("lazytime", Opt::Set(MS_LAZYTIME)),
    ("nolazytime", Opt::Clear(MS_LAZYTIME)),
    ("silent", Opt::Set(MS_SILENT)),
    ("loud", Opt::Clear(MS_SILENT)),
    ("symfollow", Opt::Clear(MS_NOSYMFOLLOW)),
    ("nosymfollow", Opt::Set(MS_NOSYMFOLLOW)),
    ("bind", Opt::Set(MS_BIND)),
    ("rbind", Opt::Set(MS_BIND | MS_REC)),
    ("private", Opt::Propagation(MS_PRIVATE)),
    ("rprivate", Opt::Propagation(MS_PRIVATE | MS_REC)),
    ("shared", Opt::Propagation(MS_SHARED)),
    ("rshared", Opt::Propagation(MS_SHARED | MS_REC)),
    ("slave", Opt::Propagation(MS_SLAVE)),
    ("rslave", Opt::Propagation(MS_SLAVE | MS_REC)),
    ("unbindable", Opt::Propagation(MS_UNBINDABLE)),
    ("runbindable", Opt::Propagation(MS_UNBINDABLE | MS_REC)),
    ("rro", Opt::Recursive(MOUNT_ATTR_RDONLY, 0)),
    ("rrw", Opt::Recursive(0, MOUNT_ATTR_RDONLY)),
    ("rnosuid", Opt::Recursive(MOUNT_ATTR_NOSUID, 0)),
    ("rsuid", Opt::Recursive(0, MOUNT_ATTR_NOSUID)),
    ("rnodev", Opt::Recursive(MOUNT_ATTR_NODEV, 0)),
    ("rdev", Opt::Recursive(0, MOUNT_ATTR_NODEV)),
    ("rnoexec", Opt::Recursive(MOUNT_ATTR_NOEXEC, 0)),
    ("rexec", Opt::Recursive(0, MOUNT_ATTR_NOEXEC)),
    ("rnodiratime", Opt::Recursive(MOUNT_ATTR_NODIRATIME, 0)),
    ("rdiratime", Opt::Recursive(0, MOUNT_ATTR_NODIRATIME)),
    ("rrelatime", Opt::Recursive(MOUNT_ATTR_RELATIME, ATIME)),
    ("rnorelatime", Opt::Recursive(MOUNT_ATTR_RELATIME, ATIME)),
    ("rnoatime", Opt::Recursive(MOUNT_ATTR_NOATIME, ATIME)),
    ("ratime", Opt::Recursive(MOUNT_ATTR_RELATIME, ATIME)),
    (
        "rstrictatime",
        Opt::Recursive(MOUNT_ATTR_STRICTATIME, ATIME),
    ),
    ("rnostrictatime", Opt::Recursive(MOUNT_ATTR_RELATIME, ATIME)),
    ("rnosymfollow", Opt::Recursive(MOUNT_ATTR_NOSYMFOLLOW, 0)),
    ("rsymfollow", Opt::Recursive(0, MOUNT_ATTR_NOSYMFOLLOW)),
    ("tmpcopyup", Opt::CopyUp),
    ("idmap", Opt::Unsupported),
    ("ridmap", Opt::Unsupported),
];

/// Names of the options of [`TABLE`] that runwasm implements (for
/// `features`' `mountOptions`).
pub fn known_options() -> impl Iterator<Item = &'static str> {
    TABLE
        .iter()
        .filter(|(_, o)| !matches!(o, Opt::Unsupported))
        .map(|(n, _)| *n)
}

/// `mounts[].options` parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for mount(2) (`MS_*`).
    pub flags: c_ulong,
    /// Propagation changes, in order, each applied by its own mount(2).
    pub propagation: Vec<c_ulong>,
    /// mount_setattr(2) `attr_set` / `attr_clr`, applied recursively.
    pub rec_set: u64,
    pub rec_clear: u64,
    /// `tmpcopyup`.
    pub copy_up: bool,
    /// Options handed to the filesystem, comma-joined.
    pub data: String,
}

impl MountOptions {
    /// Later options override earlier ones (`ro,rw` is rw), as with mount(8).
    pub fn parse<S: AsRef<str>>(options: &[S]) -> Result<Self> {
        let mut o = MountOptions::default();
        let mut data: Vec<&str> = Vec::new();
        for opt in options {
            let opt = opt.as_ref();
            match TABLE.iter().find(|(n, _)| *n == opt).map(|(_, o)| *o) {
                Some(Opt::Set(f)) => o.flags |= f,
                Some(Opt::Clear(f)) => o.flags &= !f,
                Some(Opt::Propagation(f)) => o.propagation.push(f),
                Some(Opt::Recursive(set, clear)) => {
                    // One option's bits override an earlier opposite one.
                    o.rec_set = (o.rec_set & !set & !clear) | set;
                    o.rec_clear = (o.rec_clear & !set & !clear) | clear;
                }
                Some(Opt::CopyUp) => o.copy_up = true,
                Some(Opt::Ignore) => {}
                Some(Opt::Unsupported) => {
                    return Err(Error::Config(format!(
                        "mount option {opt:?} is not supported by runwasm"
                    )))
                }
                None if !opt.is_empty() => data.push(opt),
                None => {}
            }
        }
        o.data = data.join(",");
        Ok(o)
    }

    pub fn has_recursive_attrs(&self) -> bool {
        self.rec_set != 0 || self.rec_clear != 0
    }

    pub fn is_bind(&self) -> bool {
        self.flags & MS_BIND != 0
    }
}

/// `linux.rootfsPropagation` to mount(2) flags.
pub fn rootfs_propagation(value: &str) -> Result<c_ulong> {
    match TABLE.iter().find(|(n, _)| *n == value) {
        Some((_, Opt::Propagation(f))) => Ok(*f),
        _ => Err(Error::Config(format!(
            "linux.rootfsPropagation: unknown propagation {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_data_and_propagation() {
        let o = MountOptions::parse(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rprivate",
            "ro",
        ])
        .unwrap();
        assert_eq!(o.flags, MS_NOSUID | MS_STRICTATIME | MS_RDONLY);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, vec![MS_PRIVATE | MS_REC]);
        assert!(!o.copy_up && !o.has_recursive_attrs());
    }

    #[test]
    fn later_options_win() {
        let o = MountOptions::parse(&["ro", "nodev", "rw", "dev", "rbind"]).unwrap();
        assert_eq!(o.flags, MS_BIND | MS_REC);
        assert!(o.is_bind());
        let o = MountOptions::parse(&["rro", "rnoatime", "rrw"]).unwrap();
        assert_eq!(o.rec_set, MOUNT_ATTR_NOATIME);
        assert_eq!(o.rec_clear, MOUNT_ATTR_RDONLY | ATIME);
    }

    #[test]
    fn devpts_data_and_extensions() {
        let o = MountOptions::parse(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
            "tmpcopyup",
            "defaults",
        ])
        .unwrap();
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert!(o.copy_up);
        assert!(MountOptions::parse(&["idmap"]).is_err());
        assert!(known_options().any(|n| n == "rro"));
        assert!(!known_options().any(|n| n == "idmap"));
    }

    #[test]
    fn rootfs_propagation_values() {
        assert_eq!(rootfs_propagation("rslave").unwrap(), MS_SLAVE | MS_REC);
        assert_eq!(rootfs_propagation("private").unwrap(), MS_PRIVATE);
        assert!(rootfs_propagation("ro").is_err());
        assert!(rootfs_propagation("bogus").is_err());
    }
}
