//! The name of the error document file.

use flyte_proto::files::ERROR_FILE;

/// The name to write the error document under in the output prefix.
///
/// `error.pb`, or under the distributed error strategy (flytekit's
/// `FLYTE_INTERNAL_DIST_ERROR_STRATEGY` / `_F_DES`, read by the caller)
/// `error-<32 lowercase hex digits of a random UUID>.pb`, so that the workers of a
/// distributed task never overwrite each other's documents.
///
/// ```
/// assert_eq!(flyte_errors::error_file_name(false), "error.pb");
/// let name = flyte_errors::error_file_name(true);
/// assert!(name.starts_with("error-") && name.ends_with(".pb") && name.len() == 41);
/// ```
pub fn error_file_name(distributed_error_strategy: bool) -> String {
    if distributed_error_strategy {
        format!("error-{}.pb", uuid::Uuid::new_v4().simple())
    } else {
        ERROR_FILE.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributed_names_hold_32_lowercase_hex_digits_and_differ() {
        let first = error_file_name(true);
        let hex = first
            .strip_prefix("error-")
            .and_then(|rest| rest.strip_suffix(".pb"))
            .expect("error-<hex>.pb");
        assert_eq!(hex.len(), 32);
        assert!(
            hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{hex}"
        );
        assert_ne!(first, error_file_name(true));
    }

    #[test]
    fn name_without_distributed_strategy_is_error_pb() {
        assert_eq!(error_file_name(false), "error.pb");
    }
}
