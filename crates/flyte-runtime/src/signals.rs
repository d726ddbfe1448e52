//! SIGTERM and SIGINT received by the supervisor, passed on to its child process.
//!
//! Kubernetes stops a pod by sending SIGTERM to its first process, the supervisor. The
//! worker must hear it too (to stop, or to checkpoint); the supervisor then reports the
//! worker's death like any other, instead of dying before it can write anything.

use rustix::process::{Pid, Signal as UnixSignal, kill_process};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{info, warn};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

pub(crate) struct ForwardedSignals {
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
    forwarded: Option<i32>,
}

impl ForwardedSignals {
    /// Starts catching SIGTERM and SIGINT. Must be called inside a tokio runtime.
    pub(crate) fn install() -> Self {
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
    pub(crate) async fn recv(&mut self) -> i32 {
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
    pub(crate) fn forward(&mut self, signal: i32, pid: Option<u32>) {
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
            signal_name(signal),
            pid.as_raw_nonzero()
        );
        if let Err(error) = kill_process(pid, unix_signal) {
            warn!(
                "could not pass {} on to the worker: {error}",
                signal_name(signal)
            );
        }
        self.forwarded = Some(signal);
    }

    /// The signal passed on to the worker, if any.
    pub(crate) fn forwarded(&self) -> Option<i32> {
        self.forwarded
    }
}

/// The conventional name of a signal number, for messages.
pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}
