//! What both platforms' control channels share: instance names, and the
//! description of a channel that must not be used.

use std::path::{Path, PathBuf};

/// Checks an instance name: letters, digits, `-`, `_`, `.`; at most 64; not
/// starting with `.`.
pub fn check_instance(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "instance name '{}' is not allowed (use letters, digits, '-', '_' and '.', at most 64)",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// A control directory or socket that must not be used: which path, what is
/// wrong with it, and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    /// The path found wrong (the socket, its directory or that one's parent).
    pub path: PathBuf,
    /// What is wrong with it, to follow the path in a sentence.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl Untrusted {
    pub(super) fn new(
        path: &Path,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Untrusted {
        Untrusted {
            path: path.to_path_buf(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}
