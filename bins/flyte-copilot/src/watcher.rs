//! How the sidecar knows the task's container has ended: under Kubernetes native
//! sidecars the kubelet sends SIGTERM to a sidecar once the pod's main containers have
//! exited (flytecopilot's `signal` watcher).
//!
//! The one file outside flyte-python that handles a signal (`xtask/src/layering.rs`
//! allows exactly this one): copilot's whole protocol with the kubelet is this signal.

use std::io;

/// SIGTERM, watched from the moment this is made, so one that arrives while the flags
/// are still being read is not lost (its default action would end the process before
/// anything is uploaded).
pub struct ContainerEnd(tokio::signal::unix::Signal);

impl ContainerEnd {
    /// Starts watching; must be called inside the async runtime.
    pub fn watch() -> io::Result<Self> {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map(ContainerEnd)
    }

    /// Waits until SIGTERM has arrived (at once if it already has).
    pub async fn wait(mut self) {
        self.0.recv().await;
    }
}
