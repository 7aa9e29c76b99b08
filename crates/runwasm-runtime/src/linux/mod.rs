//! Linux isolation for a container's init process: namespaces, the root
//! filesystem and mounts, devices, hardening (capabilities, seccomp, rlimits,
//! user), and OCI hooks. Everything here runs either in the init process
//! between clone and `start`, or in the runtime around it.

pub mod caps;
pub mod cgroupfs;
pub mod devices;
pub mod hooks;
pub mod limits;
pub mod lsm;
pub mod mountopts;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod resolve;
pub mod rootfs;
pub mod seccomp;
pub mod security;
pub mod sysctl;
