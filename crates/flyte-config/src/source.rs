//! [`Source`]: where a setting's value came from.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Where one setting's effective value came from.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig, Source};
///
/// let env = Env::new().with("FLYTE_AWS_ENDPOINT", "");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let source = config.source_of("storage.s3.endpoint");
/// assert!(matches!(source, Some(Source::EmptyEnv { .. })));
/// match source {
///     Some(Source::Env { name }) => println!("set by {name}"),
///     Some(Source::Ini { path, section, option }) => {
///         println!("[{section}] {option} of {}", path.display())
///     }
///     Some(Source::Yaml { key, .. }) => println!("{key} of the YAML file"),
///     Some(other) => println!("{other}"), // default, or an empty variable
///     None => unreachable!("every setting has a source"),
/// }
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// Nothing set it: the default (flytekit's default where flytekit has one).
    Default,
    /// An environment variable.
    Env {
        /// The variable's name, e.g. `FLYTE_AWS_ENDPOINT`.
        name: String,
    },
    /// An environment variable set to the empty string, which flytekit treats as "use the
    /// default" without looking at the config file: the value is the default, and the
    /// config file was not consulted.
    EmptyEnv {
        /// The variable's name.
        name: String,
    },
    /// An option of a legacy INI config file.
    Ini {
        /// The file.
        path: PathBuf,
        /// The `[section]`.
        section: String,
        /// The option within it.
        option: String,
    },
    /// A key of a flytectl YAML config file.
    Yaml {
        /// The file.
        path: PathBuf,
        /// The dotted key, e.g. `storage.connection.endpoint`.
        key: String,
    },
}

impl Source {
    pub(crate) fn env(name: &str) -> Self {
        Source::Env {
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Env { name } => write!(f, "environment variable {name}"),
            Source::EmptyEnv { name } => write!(
                f,
                "default (environment variable {name} is set but empty, which hides the config file)"
            ),
            Source::Ini {
                path,
                section,
                option,
            } => write!(
                f,
                "option `{option}` in section [{section}] of {}",
                path.display()
            ),
            Source::Yaml { path, key } => write!(f, "key `{key}` of {}", path.display()),
        }
    }
}
