//! Container ids: runc's charset (`[A-Za-z0-9_+.-]`), never `.` or `..`, and
//! short enough to be a directory name under the state root.

use crate::{Error, Result};

/// The longest id accepted: a path component may be at most 255 bytes.
pub const MAX_ID_LEN: usize = 255;

pub fn validate(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("it is longer than 255 characters");
    }
    if id == "." || id == ".." {
        return bad("it may not be \".\" or \"..\"");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("only letters, digits, '_', '+', '-' and '.' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_charset() {
        for id in ["a", "abc-123", "x_y+z.1", &"f".repeat(64)] {
            assert!(validate(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_bad_ids() {
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "a\0b",
            "é",
            &"x".repeat(256),
        ] {
            let err = validate(id).unwrap_err().to_string();
            assert!(err.contains("invalid container id"), "{id}: {err}");
        }
    }
}
