//! Errors of the three phases, and their one-line messages.

/// A failure of `load`, `instantiate` or `run`. `Display` is the one line
/// the runtime prints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// libwasmedge is missing a piece or is an unsupported version.
    #[error("{0}")]
    Library(String),
    /// The module failed to parse or validate.
    #[error("invalid wasm module: {0}")]
    InvalidModule(String),
    /// The JSON config is malformed or names unusable paths.
    #[error("{0}")]
    Config(String),
    /// Linking or instantiation failed (unknown imports, start function...).
    #[error("{0}")]
    Instantiate(String),
    /// `_start` trapped; the message names the trap.
    #[error("{0}")]
    Trap(String),
    /// Running failed other than by a trap (no `_start`, host failure...).
    #[error("{0}")]
    Run(String),
}
