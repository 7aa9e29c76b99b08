//! Linux isolation for a container's init process: namespaces, the root
//! filesystem and mounts, devices, hardening (capabilities, seccomp, rlimits,
//! user), and OCI hooks. Everything here runs either in the init process
//! between clone and `start`, or in the runtime around it.

pub mod cgroupfs;
pub mod devices;
pub mod mountopts;
pub mod mounts;
pub mod resolve;
pub mod rootfs;
