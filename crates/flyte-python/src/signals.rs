//! SIGTERM, SIGINT and SIGUSR1 received by the supervisor, passed on to its child process.
//!
//! Kubernetes stops a pod by sending SIGTERM to its first process, the supervisor. The
//! worker must hear it too (to stop, or to checkpoint); the supervisor then reports the
//! worker's death like any other, instead of dying before it can write anything.
//!
//! SIGUSR1 is flytekit's "dump the Python stacks" signal (faulthandler): passed on, it
//! dumps the worker's stacks to stderr; uncaught, it would end the supervisor.
//!
//! [`catch_stop_signals`] catches them for the whole process, from the start of the
//! supervisor to its exit, and turns the first SIGTERM or SIGINT into a
//! [`flyte_runtime::StopRequest`]: the pipeline races every phase against it, and each
//! worker's forwarder ([`forward_to_worker`]) passes it on to the worker at whatever
//! phase it comes. A child that ignores the stop would keep the supervisor waiting until
//! Kubernetes SIGKILLs the pod, and then nothing is written; the worker is SIGKILLed
//! when its stop grace is over instead, so the error document still gets written inside
//! the pod's grace period. `pyflyte-fast-execute`'s task command gets every signal
//! passed on by [`ForwardedSignals`] directly.

use std::time::Duration;

use flyte_runtime::{Stop, StopRequest, stop_channel};
use rustix::process::{Pid, Signal as UnixSignal, kill_process};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{debug, info, warn};

const SIGINT: i32 = 2;
/// 10 on Linux, but not everywhere.
const SIGUSR1: i32 = UnixSignal::USR1.as_raw();
const SIGTERM: i32 = 15;

pub(crate) struct ForwardedSignals {
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
    user1: Option<Signal>,
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

    /// Sends `signal` to the child process `pid`.
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
    }
}

/// Starts catching SIGTERM, SIGINT and SIGUSR1 for this whole process, from now until it
/// exits, and returns the [`Stop`] they drive: the first SIGTERM or SIGINT requests a
/// stop with `grace` to end the run. Must be called inside a tokio runtime, as early as
/// the caller can, so no stop signal finds the process unprepared (before the worker
/// starts, while the inputs download, after the worker closed its control channel).
///
/// Give the same [`Stop`] to the pipeline
/// ([`flyte_runtime::RunSettings::stop`]) and the executor
/// ([`PythonExecutor::spawn_with_stop`](crate::PythonExecutor::spawn_with_stop)): the
/// executor passes the signal on to its worker at whatever phase it arrives, and the
/// pipeline ends the run within the grace. SIGUSR1 (flytekit's "dump the Python stacks")
/// is passed on to a running worker and otherwise ignored, never fatal.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() {
/// // First thing in main: from here on SIGTERM ends the run with an error document.
/// let stop = flyte_python::catch_stop_signals(flyte_python::DEFAULT_STOP_GRACE);
/// let mut settings = flyte_runtime::RunSettings::new(
///     flyte_runtime::TaskLocations::new("s3://bucket/run/inputs.pb", "s3://bucket/run/0"),
///     "/tmp/run",
/// );
/// settings.stop = stop;
/// # }
/// ```
pub fn catch_stop_signals(grace: Duration) -> Stop {
    let (sender, stop) = stop_channel();
    let mut signals = ForwardedSignals::install();
    tokio::spawn(async move {
        loop {
            let signal = signals.recv().await;
            if signal == SIGUSR1 {
                debug!("SIGUSR1 received; a running worker is passed it to dump its stacks");
                continue;
            }
            let name = signal_name(signal);
            if sender.request(StopRequest::new(name, grace)) {
                info!("{name} received: stopping the run, which ends within {grace:?}");
            } else {
                info!("{name} received again: the run is already stopping");
            }
        }
    });
    stop
}

/// Passes a stop requested on `stop` (at once, if it already was) and every SIGUSR1 on
/// to the worker `pid`, until the returned task is aborted, which its owner does as
/// soon as it has seen the worker exit.
pub(crate) fn forward_to_worker(pid: u32, stop: Stop) -> tokio::task::JoinHandle<()> {
    let user1 = signal(SignalKind::user_defined1())
        .map_err(|error| warn!("cannot catch SIGUSR1: {error}"))
        .ok();
    let mut forwarded = ForwardedSignals {
        terminate: None,
        interrupt: None,
        user1,
    };
    tokio::spawn(async move {
        let mut stop_passed_on = false;
        loop {
            tokio::select! {
                request = stop.wait(), if !stop_passed_on => {
                    stop_passed_on = true;
                    forwarded.forward(stop_signal_of(&request), Some(pid));
                }
                signal = forwarded.recv() => forwarded.forward(signal, Some(pid)),
            }
        }
    })
}

/// The signal number to pass on for a stop request: SIGINT for one caused by SIGINT,
/// SIGTERM for anything else (what Kubernetes sends).
pub(crate) fn stop_signal_of(request: &StopRequest) -> i32 {
    if request.cause == signal_name(SIGINT) {
        SIGINT
    } else {
        SIGTERM
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
