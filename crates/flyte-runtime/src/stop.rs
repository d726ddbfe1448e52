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
///
/// ```
/// use std::time::Duration;
/// let request = flyte_runtime::StopRequest::new("SIGTERM", Duration::from_secs(30));
/// assert_eq!((request.cause.as_str(), request.grace), ("SIGTERM", Duration::from_secs(30)));
/// ```
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
    /// A request arriving now, allowing `grace` for the run to end: Kubernetes'
    /// `terminationGracePeriodSeconds` less what the caller keeps for itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// let request = flyte_runtime::StopRequest::new("SIGINT", Duration::ZERO);
    /// assert!(request.received_at <= tokio::time::Instant::now());
    /// ```
    pub fn new(cause: impl Into<String>, grace: Duration) -> Self {
        StopRequest {
            cause: cause.into(),
            received_at: Instant::now(),
            grace,
        }
    }

    /// When the grace is over; `None` when that lies beyond what a clock can represent
    /// (the run is then never cut short).
    ///
    /// ```
    /// use std::time::Duration;
    /// use flyte_runtime::StopRequest;
    /// let request = StopRequest::new("SIGTERM", Duration::from_secs(30));
    /// assert_eq!(request.deadline(), Some(request.received_at + Duration::from_secs(30)));
    /// assert_eq!(StopRequest::new("SIGTERM", Duration::MAX).deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.received_at.checked_add(self.grace)
    }
}

/// The side that asks the run to stop. Only the first request counts: a second SIGTERM
/// does not extend the grace. Made by [`stop_channel`], which has an example.
///
/// Keep it for as long as the run goes on: once every sender is dropped without a
/// request, the run's [`Stop`] is one that is never requested.
///
/// ```
/// use std::time::Duration;
/// use flyte_runtime::{StopRequest, stop_channel};
///
/// let (sender, stop) = stop_channel();
/// // A tool's own deadline, instead of a signal.
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(10));
///     sender.request(StopRequest::new("the tool's deadline", Duration::from_secs(5)));
/// })
/// .join()
/// .expect("the deadline thread");
/// assert_eq!(stop.requested().map(|r| r.cause), Some("the tool's deadline".to_owned()));
/// ```
#[derive(Debug)]
pub struct StopSender(watch::Sender<Option<StopRequest>>);

impl StopSender {
    /// Asks the run to stop; returns whether this was the first request (later ones are
    /// ignored).
    ///
    /// ```
    /// use std::time::Duration;
    /// use flyte_runtime::{StopRequest, stop_channel};
    /// let (sender, stop) = stop_channel();
    /// assert!(sender.request(StopRequest::new("SIGTERM", Duration::from_secs(20))));
    /// assert!(!sender.request(StopRequest::new("SIGTERM", Duration::from_secs(60))));
    /// assert_eq!(stop.requested().map(|r| r.grace), Some(Duration::from_secs(20)));
    /// ```
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
/// request. [`run_task`](crate::run_task) watches the one in
/// [`RunSettings::stop`](crate::RunSettings::stop); an executor that runs a task of its
/// own may watch a clone to end the task sooner.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use flyte_runtime::{StopRequest, stop_channel};
///
/// let (sender, stop) = stop_channel();
/// let watcher = stop.clone();
/// let task = tokio::spawn(async move {
///     tokio::select! {
///         request = watcher.wait() => format!("stopped by {}", request.cause),
///         () = tokio::time::sleep(Duration::from_secs(600)) => "finished".to_owned(),
///     }
/// });
/// sender.request(StopRequest::new("SIGTERM", Duration::from_secs(5)));
/// assert_eq!(task.await.expect("the task ends"), "stopped by SIGTERM");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<Option<StopRequest>>);

impl Stop {
    /// A stop that is never requested (a run nothing can stop from outside):
    /// [`RunSettings::new`](crate::RunSettings::new)'s default.
    ///
    /// ```
    /// assert!(flyte_runtime::Stop::never().requested().is_none());
    /// ```
    pub fn never() -> Self {
        // The sender is dropped at once: `wait` then pends forever.
        stop_channel().1
    }

    /// The request, once one has been made.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (sender, stop) = flyte_runtime::stop_channel();
    /// assert!(stop.requested().is_none());
    /// sender.request(flyte_runtime::StopRequest::new("SIGTERM", Duration::from_secs(1)));
    /// assert_eq!(stop.requested().map(|r| r.cause), Some("SIGTERM".to_owned()));
    /// ```
    pub fn requested(&self) -> Option<StopRequest> {
        self.0.borrow().clone()
    }

    /// Resolves with the request once one is made (at once if it already was); never
    /// resolves when the sender is gone without having asked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let (sender, stop) = flyte_runtime::stop_channel();
    /// sender.request(flyte_runtime::StopRequest::new("SIGINT", Duration::from_secs(1)));
    /// assert_eq!(stop.wait().await.cause, "SIGINT");
    /// // A stop never requested never resolves.
    /// let never = flyte_runtime::Stop::never();
    /// assert!(tokio::time::timeout(Duration::from_millis(10), never.wait()).await.is_err());
    /// # }
    /// ```
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let (sender, stop) = flyte_runtime::stop_channel();
    /// sender.request(flyte_runtime::StopRequest::new("SIGTERM", Duration::from_millis(20)));
    /// let request = stop.grace_over().await;
    /// assert!(tokio::time::Instant::now() >= request.deadline().expect("representable"));
    /// # }
    /// ```
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
