//! SIGTERM and SIGINT received by the supervisor, passed on to the worker.
//!
//! Kubernetes stops a pod by sending SIGTERM to its first process, the supervisor. The
//! worker must hear it too (to stop, or to checkpoint); the supervisor then reports the
//! worker's death like any other, instead of dying before it can write anything.

use rustix::process::{Pid, Signal as UnixSignal, kill_process};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{info, warn};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

pub(super) struct ForwardedSignals {
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
    forwarded: Option<i32>,
}

impl ForwardedSignals {
    /// Starts catching SIGTERM and SIGINT. Must be called inside a tokio runtime.
    pub(super) fn install() -> Self {
        let catch = |kind: SignalKind| {
            signal(kind)
                .map_err(|error| warn!("cannot catch {kind:?}: {error}"))
                .ok()
        };
        ForwardedSignals {
            terminate: catch(SignalKind::terminate()),
            interrupt: catch(SignalKind::interrupt()),
            forwarded: None,
        }
    }

    /// The next caught signal's number; pending forever when none can be caught.
    pub(super) async fn recv(&mut self) -> i32 {
        async fn next(signal: &mut Option<Signal>) -> Option<()> {
            match signal {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            Some(()) = next(&mut self.terminate) => SIGTERM,
            Some(()) = next(&mut self.interrupt) => SIGINT,
            else => std::future::pending().await,
        }
    }

    /// Sends `signal` to the worker process `pid` and remembers that it did.
    pub(super) fn forward(&mut self, signal: i32, pid: Option<u32>) {
        let unix_signal = if signal == SIGINT {
            UnixSignal::INT
        } else {
            UnixSignal::TERM
        };
        let Some(pid) = pid.and_then(|pid| Pid::from_raw(pid as i32)) else {
            return;
        };
        info!(
            "passing {} on to the worker (pid {})",
            super::signal_name(signal),
            pid.as_raw_nonzero()
        );
        if let Err(error) = kill_process(pid, unix_signal) {
            warn!(
                "could not pass {} on to the worker: {error}",
                super::signal_name(signal)
            );
        }
        self.forwarded = Some(signal);
    }

    /// The signal passed on to the worker, if any.
    pub(super) fn forwarded(&self) -> Option<i32> {
        self.forwarded
    }
}
