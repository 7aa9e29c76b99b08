//! Test-only crash points (cargo feature `fault-injection`).
//!
//! `fault_point!("create:after-cgroup")` marks a step of an operation. In a
//! binary built with the feature, a process whose `RUNWASM_FAULT` names
//! that point (a comma-separated list may name several) kills itself there
//! with SIGKILL, so the integration suite can check that a runtime dying at
//! any step leaves a container that `state` reports and `delete --force`
//! removes. Without the feature the macro expands to nothing: neither the
//! check nor the names are in the binary.
//!
//! Points are only placed in the runwasm process itself, never in the
//! container's init or exec processes (they share the environment but run
//! other code).

/// The environment variable naming the points to die at.
#[cfg(feature = "fault-injection")]
pub const ENV: &str = "RUNWASM_FAULT";

/// Dies with SIGKILL if `RUNWASM_FAULT` names `point`.
#[cfg(feature = "fault-injection")]
pub fn hit(point: &str) {
    let Some(wanted) = std::env::var_os(ENV) else {
        return;
    };
    let wanted = wanted.to_string_lossy();
    if wanted.split(',').any(|w| w.trim() == point) {
        tracing::debug!("fault point {point}: SIGKILL");
        // SAFETY: kill(2) of ourselves; SIGKILL is not caught, so this does
        // not return.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// A named step where a test build may be made to die (see the module docs).
#[cfg(feature = "fault-injection")]
#[macro_export]
macro_rules! fault_point {
    ($name:literal) => {
        $crate::fault::hit($name)
    };
}

/// A named step where a test build may be made to die (see the module docs).
#[cfg(not(feature = "fault-injection"))]
#[macro_export]
macro_rules! fault_point {
    ($name:literal) => {};
}
