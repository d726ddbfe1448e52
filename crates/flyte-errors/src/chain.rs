//! An error and its causes on one line, for log lines and messages that are not a
//! [`ContainerFailure`](crate::ContainerFailure) (which lists the causes itself).

use std::error::Error;
use std::fmt;

/// Displays an error and every cause under it as `error: cause: root`, each once: errors
/// in this workspace print only their own part and return the cause from `source()`, so
/// `{}` of the error alone would leave the cause out.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
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
}
