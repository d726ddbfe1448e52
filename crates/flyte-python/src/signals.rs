//! SIGTERM, SIGINT and SIGUSR1 received by the supervisor, passed on to its child process.
//!
//! Kubernetes stops a pod by sending SIGTERM to its first process, the supervisor. The
//! worker must hear it too (to stop, or to checkpoint); the supervisor then reports the
//! worker's death like any other, instead of dying before it can write anything.
//!
//! SIGUSR1 is flytekit's "dump the Python stacks" signal (faulthandler): passed on, it
//! dumps the worker's stacks to stderr; uncaught, it would end the supervisor.
//!
//! A child that ignores the stop would keep the supervisor waiting until Kubernetes
//! SIGKILLs the pod, and then nothing is written; [`ForwardedSignals::stop_deadline`]
//! says when the supervisor stops waiting and kills it instead, so the error document
//! still gets written inside the pod's grace period.

use rustix::process::{Pid, Signal as UnixSignal, kill_process};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{info, warn};

const SIGINT: i32 = 2;
/// 10 on Linux, but not everywhere.
const SIGUSR1: i32 = UnixSignal::USR1.as_raw();
const SIGTERM: i32 = 15;

pub(crate) struct ForwardedSignals {
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
    user1: Option<Signal>,
    /// The last stop signal (SIGTERM, SIGINT) passed on.
    forwarded: Option<i32>,
    /// When the first stop signal was passed on.
    first_stop: Option<tokio::time::Instant>,
}

impl ForwardedSignals {
    /// Starts catching SIGTERM, SIGINT and SIGUSR1. Must be called inside a tokio runtime.
    pub(crate) fn install() -> Self {
        let catch = |kind: SignalKind| {
            signal(kind)
                .map_err(|error| warn!("cannot catch {kind:?}: {error}"))
                .ok()
        };
        ForwardedSignals {
            terminate: catch(SignalKind::terminate()),
            interrupt: catch(SignalKind::interrupt()),
            user1: catch(SignalKind::user_defined1()),
            forwarded: None,
            first_stop: None,
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
            Some(()) = next(&mut self.user1) => SIGUSR1,
            else => std::future::pending().await,
        }
    }

    /// Sends `signal` to the worker process `pid` and, for a stop signal, remembers that
    /// it did.
    pub(crate) fn forward(&mut self, signal: i32, pid: Option<u32>) {
        let unix_signal = match signal {
            SIGINT => UnixSignal::INT,
            SIGUSR1 => UnixSignal::USR1,
            _ => UnixSignal::TERM,
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
        if signal != SIGUSR1 {
            self.forwarded = Some(signal);
            self.first_stop
                .get_or_insert_with(tokio::time::Instant::now);
        }
    }

    /// The stop signal passed on to the worker, if any.
    pub(crate) fn forwarded(&self) -> Option<i32> {
        self.forwarded
    }

    /// When a child told to stop has had `grace` to do so: `grace` after the first stop
    /// signal passed on; `None` before any.
    pub(crate) fn stop_deadline(&self, grace: std::time::Duration) -> Option<tokio::time::Instant> {
        self.first_stop.map(|first| first + grace)
    }
}

/// Sleeps until `deadline`; forever when there is none.
pub(crate) async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
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
        SIGUSR1 => "SIGUSR1",
        _ => "signal",
    }
}
