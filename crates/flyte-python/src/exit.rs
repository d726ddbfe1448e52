//! What a worker's exit means: the error document for a worker that died without
//! reporting a result, and exit statuses described for people.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use flyte_errors::{ContainerFailure, Origin, Recoverability, format_trace_message};
use flyte_runtime::TaskOutcome;

use crate::signals::signal_name;

/// The error code of a worker that died without reporting a result.
const WORKER_DIED_CODE: &str = "USER:WorkerDied";
/// The error code of a worker that died after the supervisor passed it a stop signal.
const WORKER_STOPPED_CODE: &str = "SYSTEM:WorkerDied";

/// How a worker ended without reporting a result, as the supervisor saw it.
pub(crate) struct Death<'a> {
    /// Its exit status.
    pub(crate) status: std::io::Result<ExitStatus>,
    /// The last of what it wrote to stderr.
    pub(crate) stderr_tail: &'a str,
    /// The stop signal the supervisor passed on to it, if any: being stopped from
    /// outside is the platform's doing, not the task's.
    pub(crate) forwarded_stop: Option<i32>,
    /// The supervisor SIGKILLed it after it outlived its stop grace by this much.
    pub(crate) killed_after: Option<std::time::Duration>,
    /// How the stop grace is set ([`crate::SettingNames::stop_grace`]).
    pub(crate) stop_grace_setting: &'a str,
    /// What the container's memory cgroup reports about an OOM kill meanwhile.
    pub(crate) oom_report: Option<String>,
}

/// The outcome for a worker that ended before it reported a result, quoting the last of
/// its stderr.
pub(crate) fn worker_died(death: Death<'_>) -> TaskOutcome {
    let Death {
        status,
        stderr_tail,
        forwarded_stop,
        killed_after,
        stop_grace_setting,
        oom_report,
    } = death;
    let stop = forwarded_stop.map(signal_name).unwrap_or("a stop signal");
    let mut message = match (&status, killed_after) {
        (_, Some(grace)) => format!(
            "the Python worker running the task did not stop within {grace:?} of the supervisor \
             passing it {stop} (the pod is being stopped), so the supervisor killed it \
             (SIGKILL) before it reported a result, to write this document before the pod is \
             killed; make the task stop sooner on {stop}, or raise {stop_grace_setting} \
             (keeping it below the pod's termination grace period)"
        ),
        (Ok(status), None) => {
            let what = match &oom_report {
                Some(report) => format!(
                    "was killed by signal {} ({}); {report}",
                    status.signal().unwrap_or(9),
                    signal_name(status.signal().unwrap_or(9))
                ),
                None => describe(*status),
            };
            format!("the Python worker running the task {what} before it reported a result")
        }
        (Err(error), None) => format!(
            "the Python worker running the task could not be waited for ({error}) before it \
             reported a result"
        ),
    };
    if killed_after.is_none()
        && let Some(signal) = forwarded_stop
    {
        message.push_str(&format!(
            "; the supervisor had received {} and passed it on (the pod is being stopped)",
            signal_name(signal)
        ));
    }
    tracing::error!("{message}");
    let trace = if stderr_tail.trim().is_empty() {
        "(the worker wrote nothing to stderr)\n".to_owned()
    } else {
        format!("Last lines the worker wrote to stderr:\n{stderr_tail}")
    };
    let message = format_trace_message(&trace, "WorkerDied", &message);
    let (origin, code) = match forwarded_stop {
        Some(_) => (Origin::System, WORKER_STOPPED_CODE),
        None => (Origin::User, WORKER_DIED_CODE),
    };
    TaskOutcome::WorkerDied(
        ContainerFailure {
            origin,
            ..ContainerFailure::user(code, message)
        }
        .with_recoverability(Recoverability::Recoverable),
    )
}

/// "exited with status 1", "was killed by signal 9 (SIGKILL) ...".
pub(crate) fn describe(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = signal_name(signal);
        let hint = match signal {
            9 => {
                "; SIGKILL usually means the container ran out of memory and the kernel's OOM killer stopped the worker"
            }
            11 => "; SIGSEGV means native code in the task or a library it uses crashed",
            _ => "",
        };
        format!("was killed by signal {signal} ({name}){hint}")
    } else {
        match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "ended for an unknown reason".to_owned(),
        }
    }
}

/// This process's peak resident memory in KiB (Linux's VmHWM), when it can be read.
pub(crate) fn own_peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
