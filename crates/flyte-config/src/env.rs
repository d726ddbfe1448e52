//! [`Env`]: a snapshot of environment variables, taken once by the caller.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;

/// Environment variables, captured once by the program and handed to
/// [`FlyteConfig::load`](crate::FlyteConfig::load). This crate never reads the process
/// environment itself, so tests pass maps and the binary passes
/// `Env::from_os(std::env::vars_os())`.
///
/// `Debug` lists variable names only: values such as `AWS_SECRET_ACCESS_KEY` never
/// appear in output.
///
/// ```
/// use flyte_config::Env;
///
/// // In a binary: let env = Env::from_os(std::env::vars_os());
/// let env = Env::new().with("FLYTE_AWS_ENDPOINT", "http://minio:9000");
/// assert_eq!(env.get("FLYTE_AWS_ENDPOINT"), Some("http://minio:9000"));
/// let pairs: Env = [("_F_PRJ", "flytesnacks")].into_iter().collect();
/// assert!(pairs.contains("_F_PRJ"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// An empty environment.
    ///
    /// ```
    /// let env = flyte_config::Env::new();
    /// assert_eq!(env.get("HOME"), None, "empty: the process environment is not read");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Captures OS strings as the process hands them over. A name or value that is not
    /// valid UTF-8 is converted lossily (invalid bytes become U+FFFD); none of the
    /// variables Flyte reads is expected to hold such bytes.
    ///
    /// ```
    /// let env = flyte_config::Env::from_os(std::env::vars_os());
    /// ```
    pub fn from_os<I>(vars: I) -> Self
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        vars.into_iter()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// Sets one variable (builder style, for tests and callers that add overrides).
    ///
    /// ```
    /// let env = flyte_config::Env::new()
    ///     .with("FLYTE_SDK_LOGGING_LEVEL", "20")
    ///     .with("FLYTE_SDK_LOGGING_LEVEL", "10"); // the last one wins
    /// assert_eq!(env.get("FLYTE_SDK_LOGGING_LEVEL"), Some("10"));
    /// ```
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The value of `name`, or `None` when it is not set. A variable set to the empty
    /// string is `Some("")`: flytekit tells the two apart, and so does this crate.
    ///
    /// ```
    /// let env = flyte_config::Env::new().with("AWS_PROFILE", "");
    /// assert_eq!(env.get("AWS_PROFILE"), Some(""), "set, to nothing");
    /// assert_eq!(env.get("AWS_REGION"), None, "not set");
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Whether `name` is set at all (possibly to the empty string).
    ///
    /// ```
    /// let env = flyte_config::Env::new().with("FLYTE_FAIL_ON_ERROR", "");
    /// assert!(env.contains("FLYTE_FAIL_ON_ERROR"));
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// The value of the first of `names` that is set, even to the empty string, or the
    /// empty string when none is: the lookup flytekit's entrypoint uses for pairs such as
    /// `FLYTE_INTERNAL_EXECUTION_PROJECT` / `_F_PRJ`. Returns the name that answered too.
    ///
    /// ```
    /// let env = flyte_config::Env::new().with("_F_PRJ", "flytesnacks");
    /// let (name, value) = env.first_of(&["FLYTE_INTERNAL_EXECUTION_PROJECT", "_F_PRJ"]);
    /// assert_eq!((name, value), (Some("_F_PRJ"), "flytesnacks"));
    /// assert_eq!(env.first_of(&["_F_DM"]), (None, ""));
    /// ```
    pub fn first_of<'n>(&self, names: &[&'n str]) -> (Option<&'n str>, &str) {
        names
            .iter()
            .find_map(|name| self.get(name).map(|value| (Some(*name), value)))
            .unwrap_or((None, ""))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Env {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_set_and_first_of_stops_at_them() {
        let env = Env::new().with("A", "").with("B", "b");
        assert_eq!(env.get("A"), Some(""));
        assert_eq!(env.first_of(&["A", "B"]), (Some("A"), ""));
        assert_eq!(env.first_of(&["C", "B"]), (Some("B"), "b"));
        assert_eq!(env.first_of(&["C"]), (None, ""));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let env = Env::new().with("AWS_SECRET_ACCESS_KEY", "hunter2");
        let shown = format!("{env:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"));
        assert!(!shown.contains("hunter2"));
    }
}
