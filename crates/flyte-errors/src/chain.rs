//! An error and its causes on one line, for log lines and messages that are not a
//! [`ContainerFailure`](crate::ContainerFailure) (which lists the causes itself).

use std::error::Error;
use std::fmt;

/// Displays an error and every cause under it as `error: cause: root`, each once: errors
/// in this workspace print only their own part and return the cause from `source()`, so
/// `{}` of the error alone would leave the cause out. A cause whose text the line already
/// holds (a dependency's error that quotes its own cause) is left out.
///
/// ```
/// use flyte_errors::Chain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("could not read inputs.pb")]
/// struct InputsError {
///     #[source]
///     source: std::io::Error,
/// }
///
/// let error = InputsError { source: std::io::Error::other("permission denied") };
/// // `{}` alone prints only the error's own part.
/// assert_eq!(error.to_string(), "could not read inputs.pb");
/// assert_eq!(Chain(&error).to_string(), "could not read inputs.pb: permission denied");
/// // As a log line would use it:
/// let line = format!("the task failed: {}", Chain(&error));
/// assert!(line.ends_with("inputs.pb: permission denied"));
/// ```
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let cause_text = error.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            cause = error.source();
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not read inputs.pb")]
    struct Outer {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_chain_names_each_cause_once_in_order() {
        let error = Outer {
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(
            Chain(&error).to_string(),
            "could not read inputs.pb: disk on fire"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("request failed: disk on fire")]
    struct Quoting {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_error_already_quotes_is_not_repeated() {
        let error = Quoting {
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(Chain(&error).to_string(), "request failed: disk on fire");
    }
}
