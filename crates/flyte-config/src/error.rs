//! [`ConfigError`]: what can stop the configuration from loading.

use std::path::PathBuf;

use crate::source::Source;

/// Why the configuration could not be loaded. Every variant names the environment
/// variable, file or key at fault and says what to change. Values of secret settings
/// never appear in these messages.
///
/// ```
/// use flyte_config::{ConfigError, Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_STATSD_PORT", "eighty");
/// match FlyteConfig::load(&env, &Dirs::default()) {
///     Err(error @ ConfigError::NotAnInteger { .. }) => {
///         // It names the variable and says what to do: print it and stop.
///         assert!(error.to_string().starts_with("environment variable FLYTE_STATSD_PORT is"));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting that must be a whole number is not one.
    #[error("{origin} is {value:?}, which is not a whole number: set it to an integer or unset it")]
    NotAnInteger {
        /// Where the value was found.
        origin: Source,
        /// The text found there.
        value: String,
    },
    /// A number outside the range its setting allows.
    #[error("{origin} is {value}, outside {expected}: set it within that range or unset it")]
    OutOfRange {
        /// Where the value was found.
        origin: Source,
        /// The number found there.
        value: i64,
        /// The allowed range, in words.
        expected: &'static str,
    },
    /// A boolean INI option holds something Python's configparser does not accept.
    #[error(
        "{origin} is {value:?}, which is not a boolean: use one of true/false, yes/no, on/off, 1/0"
    )]
    NotABoolean {
        /// Where the value was found.
        origin: Source,
        /// The text found there.
        value: String,
    },
    /// A setting that takes one of a few values holds another.
    #[error("{origin} is {value:?}, which is not {expected}, or unset it")]
    UnknownChoice {
        /// Where the value was found.
        origin: Source,
        /// The text found there.
        value: String,
        /// What the setting takes.
        expected: &'static Choices,
    },
    /// A setting that must not be empty when set (a KMS key) is set to nothing.
    #[error("{origin} is empty, but {what} cannot be: set it, or unset it")]
    Empty {
        /// Where the empty value was found.
        origin: Source,
        /// What the setting is, e.g. "an S3 SSE-KMS key id".
        what: &'static str,
    },
    /// A value that does not have the form its setting needs.
    #[error("{origin} is {value:?}, which is not {what}: fix it, or unset it")]
    Malformed {
        /// Where the value was found.
        origin: Source,
        /// The text found there.
        value: String,
        /// What the setting needs, with its form.
        what: &'static str,
    },
    /// An S3 KMS key id or bucket key is set, but server-side encryption is not
    /// `aws:kms`.
    #[error(
        "{origin} is set, but it applies only with server-side encryption aws:kms, and \
         storage.s3.upload.server_side_encryption is {encryption} ({encryption_origin}): set \
         FLYTE_AWS_SERVER_SIDE_ENCRYPTION (or its file key) to aws:kms, or remove this setting"
    )]
    NeedsSseKms {
        /// Where the KMS-only setting was found.
        origin: Source,
        /// The encryption setting's value, or "unset".
        encryption: String,
        /// Where the encryption setting came from.
        encryption_origin: Box<Source>,
    },
    /// A YAML key that must hold one value holds a list or a mapping.
    #[error("{origin} holds a {found}, but a single value is expected there: write it as a string")]
    NotAScalar {
        /// Where the value was found.
        origin: Source,
        /// What was found: "list" or "mapping".
        found: &'static str,
    },
    /// The config file could not be read.
    #[error(
        "cannot read the config file {path}: fix the file (or its permissions), or point \
         FLYTECTL_CONFIG at another one"
    )]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        io: std::io::Error,
    },
    /// The legacy INI config file is malformed where Python's configparser refuses it too.
    #[error(
        "{path}, line {line}: {problem}; fix the file (flytekit's configparser rejects it as well)"
    )]
    IniSyntax {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        problem: String,
    },
    /// The legacy INI config file has an `[internal]` section, which flytekit refuses.
    #[error(
        "the config file {path} has an [internal] section, which flytekit refuses: remove that \
         section (its settings come from FLYTE_INTERNAL_* environment variables)"
    )]
    IniInternalSection {
        /// The file.
        path: PathBuf,
    },
    /// The array-job index variables are unusable (only map tasks ask for the index).
    #[error("{problem}: fix BATCH_JOB_ARRAY_INDEX_VAR_NAME / BATCH_JOB_ARRAY_INDEX_OFFSET")]
    ArrayJobIndex {
        /// What is wrong.
        problem: String,
    },
}

/// The values a setting takes, for [`ConfigError::UnknownChoice`].
///
/// ```
/// use flyte_config::{ConfigError, Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_AWS_ACL", "everyone");
/// match FlyteConfig::load(&env, &Dirs::default()) {
///     Err(ConfigError::UnknownChoice { expected, .. }) => {
///         assert!(expected.values.contains(&"bucket-owner-full-control"));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Choices {
    /// What the setting is, e.g. "an S3 canned ACL".
    pub what: &'static str,
    /// The values it takes, as the store spells them (matched in any case).
    pub values: &'static [&'static str],
}

impl std::fmt::Display for Choices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: use one of {}", self.what, self.values.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_config_file_prints_its_cause_once_in_a_chain() {
        let error = ConfigError::ReadFile {
            path: "/etc/flyte/config.yaml".into(),
            io: std::io::Error::other("is a directory"),
        };
        let cause = std::error::Error::source(&error).expect("the OS error");
        let chain = format!("{error}: {cause}");
        assert_eq!(chain.matches("is a directory").count(), 1, "{chain}");
        assert!(
            error.to_string().contains("/etc/flyte/config.yaml"),
            "{error}"
        );
    }
}
