//! Errors of the ABI's functions, and their one-line messages.

/// A failure of `load`, `load_file`, `compile`, `instantiate` or `run`.
/// `Display` is the one line the runtime prints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// libwasmedge is missing a piece or is an unsupported version.
    #[error("{0}")]
    Library(String),
    /// The module failed to parse or validate.
    #[error("invalid wasm module: {0}")]
    InvalidModule(String),
    /// The module asks for more than runwasm allows (a table or a
    /// function's locals past the limits of wasmtime and browsers).
    #[error("module too large: {0}")]
    TooLarge(String),
    /// A file could not be read or written.
    #[error("{0}")]
    File(String),
    /// A file's AOT section must not be used (corrupt, or compiled for
    /// another WasmEdge or CPU); the message starts with the file's path.
    #[error("unusable AOT module {0}")]
    InvalidAot(String),
    /// The AOT compiler failed.
    #[error("AOT compilation failed: {0}")]
    Compile(String),
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
