//! Panics turned into failures, so that a panicking executor or task still leaves an
//! error document instead of taking the process down with nothing written.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use flyte_errors::{ContainerFailure, codes, format_trace_message};
use futures_util::FutureExt;

/// What `future` returns, or the panic's payload when it panicked.
///
/// `AssertUnwindSafe`: after a panic the pipeline only writes the failure and shuts
/// the executor down; it reads none of the state the panic may have left half-changed.
pub(crate) async fn catching<T>(
    future: impl Future<Output = T>,
) -> Result<T, Box<dyn Any + Send + 'static>> {
    AssertUnwindSafe(future).catch_unwind().await
}

/// The panic's message: what `panic!` was given, when it was text.
pub(crate) fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a panic with a payload that is not text"
    }
}

/// The failure of a task (an [`FnExecutor`](crate::FnExecutor)'s function) that
/// panicked: the user's code failed, as flytekit reports an exception raised by a task
/// (`USER:RuntimeError`, origin `USER`, not recoverable), the panic's message in
/// flytekit's layout.
pub(crate) fn task_failure(payload: &(dyn Any + Send)) -> ContainerFailure {
    let message = message(payload);
    ContainerFailure::user(
        codes::USER_RUNTIME_ERROR,
        format_trace_message(
            &format!(
                "the task panicked: {message}\n(where it panicked is on the process's \
                 standard error)\n"
            ),
            "Panic",
            message,
        ),
    )
}

/// The failure of an executor that panicked while `doing` ("preparing the task"):
/// code that runs tasks failed, not a task, so a system failure, recoverable, as
/// flytekit reports an exception outside user code.
pub(crate) fn executor_failure(doing: &str, payload: &(dyn Any + Send)) -> ContainerFailure {
    let message = message(payload);
    tracing::error!("the executor panicked while {doing}: {message}");
    ContainerFailure::system(format_trace_message(
        &format!(
            "the executor panicked while {doing}: {message}\n(where it panicked is on the \
             process's standard error)\n"
        ),
        "Panic",
        message,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_with_text_or_a_formatted_message_is_caught_with_its_message() {
        let text = catching(async { panic!("plain text") })
            .await
            .expect_err("panicked");
        assert_eq!(message(text.as_ref()), "plain text");
        let value = 3;
        let formatted = catching(async move { panic!("value {value}") })
            .await
            .expect_err("panicked");
        assert_eq!(message(formatted.as_ref()), "value 3");
        let other = catching(async { std::panic::panic_any(42_u8) })
            .await
            .expect_err("panicked");
        assert!(message(other.as_ref()).contains("not text"));
        assert_eq!(catching(async { 5 }).await.ok(), Some(5));
    }
}
