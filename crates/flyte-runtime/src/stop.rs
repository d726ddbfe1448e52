//! A request from outside the run that it stop, and how long it may take to.
//!
//! Kubernetes stops a pod (deleted, preempted, evicted) by sending its first process
//! SIGTERM and SIGKILLing it a grace period later. This crate touches no signal: the
//! caller (flyte-python's signal handling, driven by the binary) turns a signal into a
//! [`StopRequest`] on a [`StopSender`], and [`run_task`](crate::run_task) races every
//! phase of the run against the matching [`Stop`], so the run ends with an error
//! document saying it was stopped, or with complete outputs if the task finished first,
//! before the grace is over.
//!
//! ```
//! use std::time::Duration;
//! use flyte_runtime::{StopRequest, stop_channel};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (sender, stop) = stop_channel();
//! assert!(stop.requested().is_none());
//! sender.request(StopRequest::new("SIGTERM", Duration::from_secs(20)));
//! assert_eq!(stop.wait().await.cause, "SIGTERM");
//! # }
//! ```

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// One request that the run stop.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopRequest {
    /// What asked, for messages: `"SIGTERM"`, `"SIGINT"`.
    pub cause: String,
    /// When the request arrived.
    pub received_at: Instant,
    /// How long after [`StopRequest::received_at`] the run may take to end.
    pub grace: Duration,
}

impl StopRequest {
    /// A request arriving now, allowing `grace` for the run to end.
    pub fn new(cause: impl Into<String>, grace: Duration) -> Self {
        StopRequest {
            cause: cause.into(),
            received_at: Instant::now(),
            grace,
        }
    }

    /// When the grace is over; `None` when that lies beyond what a clock can represent
    /// (the run is then never cut short).
    pub fn deadline(&self) -> Option<Instant> {
        self.received_at.checked_add(self.grace)
    }
}

/// The side that asks the run to stop. Only the first request counts: a second SIGTERM
/// does not extend the grace.
#[derive(Debug)]
pub struct StopSender(watch::Sender<Option<StopRequest>>);

impl StopSender {
    /// Asks the run to stop; returns whether this was the first request (later ones are
    /// ignored).
    pub fn request(&self, request: StopRequest) -> bool {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(request);
            true
        })
    }
}

/// The side that watches for a stop request. Cheap to clone; every clone sees the same
/// request.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<Option<StopRequest>>);

impl Stop {
    /// A stop that is never requested (a run nothing can stop from outside).
    pub fn never() -> Self {
        // The sender is dropped at once: `wait` then pends forever.
        stop_channel().1
    }

    /// The request, once one has been made.
    pub fn requested(&self) -> Option<StopRequest> {
        self.0.borrow().clone()
    }

    /// Resolves with the request once one is made (at once if it already was); never
    /// resolves when the sender is gone without having asked.
    pub async fn wait(&self) -> StopRequest {
        let mut receiver = self.0.clone();
        // The borrow of the value ends here, before any other await: it holds a lock.
        let request = receiver
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|request| request.clone());
        match request {
            Some(request) => request,
            None => std::future::pending().await,
        }
    }

    /// Resolves with the request once one is made and its grace is over; never resolves
    /// before a request, nor for a grace too long to represent.
    pub async fn grace_over(&self) -> StopRequest {
        let request = self.wait().await;
        match request.deadline() {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
        request
    }
}

impl Default for Stop {
    fn default() -> Self {
        Stop::never()
    }
}

/// A new sender and the stop it drives: the caller that catches signals keeps the
/// sender and puts the [`Stop`] in [`RunSettings::stop`](crate::RunSettings::stop).
///
/// ```
/// use std::time::Duration;
/// use flyte_runtime::{StopRequest, stop_channel};
///
/// let (sender, stop) = stop_channel();
/// assert!(stop.requested().is_none());
/// // In a binary: when SIGTERM arrives.
/// assert!(sender.request(StopRequest::new("SIGTERM", Duration::from_secs(20))));
/// assert!(!sender.request(StopRequest::new("SIGINT", Duration::ZERO)), "the first request counts");
/// assert_eq!(stop.requested().map(|request| request.cause), Some("SIGTERM".to_owned()));
/// ```
pub fn stop_channel() -> (StopSender, Stop) {
    let (sender, receiver) = watch::channel(None);
    (StopSender(sender), Stop(receiver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_first_request_counts() {
        let (sender, stop) = stop_channel();
        assert!(sender.request(StopRequest::new("SIGTERM", Duration::from_secs(5))));
        assert!(!sender.request(StopRequest::new("SIGINT", Duration::from_secs(50))));
        let request = stop.requested().expect("requested");
        assert_eq!(request.cause, "SIGTERM");
        assert_eq!(request.grace, Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_stop_never_requested_never_resolves() {
        let stop = Stop::never();
        let waited = tokio::time::timeout(Duration::from_millis(50), stop.wait()).await;
        assert!(waited.is_err(), "resolved without a request");
    }

    #[tokio::test]
    async fn a_grace_too_long_for_the_clock_has_no_deadline_instead_of_overflowing() {
        let request = StopRequest::new("SIGTERM", Duration::from_secs(i64::MAX as u64));
        assert_eq!(request.deadline(), None);
    }

    #[tokio::test]
    async fn the_grace_is_over_no_sooner_than_its_deadline() {
        let (sender, stop) = stop_channel();
        let request = StopRequest::new("SIGTERM", Duration::from_millis(100));
        let deadline = request.deadline().expect("representable");
        sender.request(request);
        stop.grace_over().await;
        assert!(Instant::now() >= deadline);
    }
}
