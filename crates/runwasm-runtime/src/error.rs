//! The error type of the runtime library. Every message names the thing that
//! failed (the file, the field, the container) and is mapped once, at the CLI
//! boundary, to a stderr line, a log line and exit code 1.

use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// runc's phrase is "container does not exist"; callers match on it.
    #[error("container {0:?} does not exist")]
    NotExist(String),
    /// runc's phrase is "container not running".
    #[error("container not running: {0:?}")]
    NotRunning(String),
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    /// An error in the bundle's config.json; the message names the field.
    #[error("{0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// An I/O error about `path`, phrased `VERB PATH: REASON`.
    pub fn path(verb: &str, path: &Path, source: std::io::Error) -> Self {
        Error::io(format!("{verb} {}", path.display()), source)
    }

    pub fn other(msg: impl Into<String>) -> Self {
        Error::Other(msg.into())
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error::Other(e.desc().to_string())
    }
}

/// Adds context to a `std::io::Result`.
pub trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), std::io::Error::from_raw_os_error(e as i32)))
    }
}
