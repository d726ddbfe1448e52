//! [`Recoverable`]: a task's error marked as one a retry may fix.

use std::error::Error;
use std::fmt;

/// The error type [`Recoverable`] wraps, as `?` and `.into()` make one.
type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// A task's error that a retry may fix: a service that was down, a quota that was hit,
/// a lock held by someone else.
///
/// [`FnExecutor`](crate::FnExecutor) reports an error holding one as flytekit reports a
/// `FlyteRecoverableException`: code `USER:Recoverable`
/// ([`codes::USER_RECOVERABLE`](flyte_errors::codes::USER_RECOVERABLE)), origin `USER`,
/// `RECOVERABLE`, so Flyte retries the task while it has retries left. Any other error
/// a task returns is `USER:RuntimeError` and not retried.
///
/// Wrap the error where the task knows a retry may help. `FnExecutor` looks for the
/// wrapper along the whole [`source`](Error::source) chain of what the task returned,
/// so it is found whether the task returns it as it is, inside an `anyhow::Error` or a
/// `Box<dyn Error>`, with context added on top, or as the source of an error type of
/// one's own.
///
/// Its message is the wrapped error's. Below it the chain holds one line saying the
/// failure was marked recoverable (that line is what keeps the mark findable inside an
/// `anyhow::Error`, which hides its outermost error's type), then the wrapped error's
/// own causes, each once.
///
/// ```
/// use flyte_proto::{core::LiteralMap, literal};
/// use flyte_runtime::{FnExecutor, Recoverable, TaskContext};
///
/// let fetch = FnExecutor::new(|context: TaskContext, _inputs: LiteralMap| async move {
///     let model = context
///         .storage()
///         .get_bytes("s3://models/latest.bin")
///         .await
///         // The store may be back on the next attempt: let Flyte retry.
///         .map_err(Recoverable::new)?;
///     Ok::<_, Recoverable>(literal::literal_map([("size", literal::integer(model.len() as i64))]))
/// });
/// # let _ = fetch;
/// ```
///
/// With `anyhow` (any error type that converts into `Box<dyn Error + Send + Sync>`
/// works the same way):
///
/// ```
/// use anyhow::Context;
/// use flyte_runtime::Recoverable;
///
/// fn reserve_gpu() -> anyhow::Result<()> {
///     Err::<(), _>(Recoverable::new("no GPU free in the pool")).context("reserving a GPU")?;
///     Ok(())
/// }
/// let error = reserve_gpu().unwrap_err();
/// assert!(Recoverable::is_in_chain(error.as_ref()));
/// ```
pub struct Recoverable {
    mark: Mark,
}

/// The link [`Recoverable`] returns as its source: it says the failure was marked, and
/// carries the wrapped error, whose causes it returns as its own.
struct Mark(BoxError);

impl Recoverable {
    /// `error`, marked recoverable. Anything that converts into a boxed error will do:
    /// an error value, a `String` or a `&str`.
    ///
    /// ```
    /// let error = flyte_runtime::Recoverable::new(std::io::Error::other("connection reset"));
    /// assert_eq!(error.to_string(), "connection reset");
    /// ```
    pub fn new(error: impl Into<BoxError>) -> Self {
        Recoverable {
            mark: Mark(error.into()),
        }
    }

    /// The wrapped error.
    ///
    /// ```
    /// let error = flyte_runtime::Recoverable::new(std::io::Error::other("connection reset"));
    /// assert!(error.get_ref().downcast_ref::<std::io::Error>().is_some());
    /// ```
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        self.mark.0.as_ref()
    }

    /// The wrapped error, unmarked.
    ///
    /// ```
    /// let error = flyte_runtime::Recoverable::new("quota exceeded");
    /// assert_eq!(error.into_inner().to_string(), "quota exceeded");
    /// ```
    pub fn into_inner(self) -> BoxError {
        self.mark.0
    }

    /// Whether `error` or any error in its source chain is marked recoverable: the
    /// test [`FnExecutor`](crate::FnExecutor) applies to what a task returns.
    ///
    /// ```
    /// use flyte_runtime::Recoverable;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("could not load the model")]
    /// struct LoadFailed(#[source] Recoverable);
    ///
    /// let error = LoadFailed(Recoverable::new("the store timed out"));
    /// assert!(Recoverable::is_in_chain(&error));
    /// assert!(!Recoverable::is_in_chain(&std::io::Error::other("bad input")));
    /// ```
    pub fn is_in_chain(error: &(dyn Error + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(error) = next {
            if error.is::<Recoverable>() || error.is::<Mark>() {
                return true;
            }
            next = error.source();
        }
        false
    }
}

impl fmt::Debug for Recoverable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Recoverable").field(&self.mark.0).finish()
    }
}

impl fmt::Display for Recoverable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.mark.0, f)
    }
}

impl Error for Recoverable {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.mark)
    }
}

impl fmt::Debug for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Mark").field(&self.0).finish()
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "marked recoverable (flyte_runtime::Recoverable): Flyte retries the task while \
             it has retries left",
        )
    }
}

impl Error for Mark {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapped_message_and_each_cause_print_once_with_one_line_for_the_mark() {
        #[derive(Debug, thiserror::Error)]
        #[error("the service is unavailable")]
        struct Unavailable(#[source] std::io::Error);

        let error = Recoverable::new(Unavailable(std::io::Error::other("connection refused")));
        let chain = flyte_errors::Chain(&error).to_string();
        assert_eq!(
            chain.matches("the service is unavailable").count(),
            1,
            "{chain}"
        );
        assert_eq!(chain.matches("connection refused").count(), 1, "{chain}");
        assert_eq!(chain.matches("marked recoverable").count(), 1, "{chain}");
        assert!(chain.starts_with("the service is unavailable"), "{chain}");
    }
}
