//! Literals <-> local files: flyte-offload's API, and the one rule copilot adds to it.

pub use flyte_offload::{Materializer, OffloadError, OffloadErrorKind, Offloader};

/// Whether a map key can be a file name under a directory without leaving it.
pub fn is_safe_file_name(key: &str) -> bool {
    !(key.is_empty() || key == "." || key == ".." || key.contains(['/', '\\', '\0']))
}
