//! Literals <-> local files: flyte-offload's API, and what copilot decides about its errors.

pub use flyte_offload::{Materializer, OffloadError, Offloader};

/// Whether `error` is in the data itself, so that retrying the task cannot help.
pub fn retry_cannot_help(error: &OffloadError) -> bool {
    matches!(
        error,
        OffloadError::OffloadedLiteralInvalid { .. }
            | OffloadError::OffloadLoop { .. }
            | OffloadError::UnsafeKey { .. }
            | OffloadError::EmptyUri { .. }
            | OffloadError::UnexpectedLiteral { .. }
    )
}

/// Whether a map key can be a file name under a directory without leaving it.
pub fn is_safe_file_name(key: &str) -> bool {
    !(key.is_empty() || key == "." || key == ".." || key.contains(['/', '\\', '\0']))
}
