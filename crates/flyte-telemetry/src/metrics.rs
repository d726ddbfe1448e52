//! statsd metrics named and tagged the way flytekit names and tags its own.
//!
//! flytekit's entrypoint scopes its stats client to `<task project>.<task domain>.<task
//! name>` (lower-cased) and tags it with the execution's project, domain, workflow and
//! launch plan. Its tags are not DogStatsD tags: they are appended to the metric name as
//! `.__<key>=<value>`, keys sorted, `|`, `.` and `:` in values replaced by `_`, empty
//! values left out. Our metrics live under `<prefix>.entrypoint.`, beside flytekit's
//! `<prefix>.user_stats.` for the task's own stats:
//!
//! | metric | type | when |
//! | --- | --- | --- |
//! | `entrypoint.inputs_download` | timer (ms) | inputs.pb fetched |
//! | `entrypoint.worker_start` | timer (ms) | Python worker ready |
//! | `entrypoint.task_execution` | timer (ms) | task function finished |
//! | `entrypoint.outputs_upload` | timer (ms) | outputs written |
//! | `entrypoint.bytes_downloaded` | counter | bytes fetched |
//! | `entrypoint.bytes_uploaded` | counter | bytes written |
//! | `entrypoint.outcome.<outcome>` | counter (1) | success, user_error, system_error, worker_died |
//!
//! Example datagram: `proj.dev.wf.t1.entrypoint.task_execution.__exec_domain=dev.__exec_project=proj:1520|ms`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cadence::{Counted, StatsdClient, Timed, UdpMetricSink};

use crate::error::TelemetryError;

/// statsd settings (from flyte-config's `StatsdSettings`: `FLYTE_STATSD_*`, flytekit's
/// `FLYTE_SECRETS_*`, or their INI twins).
///
/// ```
/// use flyte_telemetry::{MetricScope, Metrics, StatsdSettings};
///
/// let settings = StatsdSettings {
///     host: "127.0.0.1".into(),
///     disable_tags: true,
///     ..StatsdSettings::default()
/// };
/// let metrics = Metrics::new(&settings, &MetricScope::default()).expect("a UDP socket");
/// assert!(metrics.is_enabled());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsdSettings {
    /// Host to send to. flytekit's default is `localhost`.
    pub host: String,
    /// UDP port. flytekit's default is 8125.
    pub port: u16,
    /// Send nothing at all.
    pub disabled: bool,
    /// Send metric names without the `.__key=value` tag suffix.
    pub disable_tags: bool,
}

impl Default for StatsdSettings {
    fn default() -> Self {
        StatsdSettings {
            host: "localhost".to_owned(),
            port: 8125,
            disabled: false,
            disable_tags: false,
        }
    }
}

/// Who the metrics are about: the task (the metric prefix) and the execution (the tags).
/// Empty fields are allowed, as in flytekit (a prefix part stays empty, an empty tag is
/// left out).
///
/// ```
/// use flyte_telemetry::MetricScope;
///
/// let scope = MetricScope {
///     task_project: "flytesnacks".into(),
///     task_domain: "development".into(),
///     task_name: "workflows.example.say_hello".into(),
///     exec_project: "flytesnacks".into(),
///     ..MetricScope::default()
/// };
/// assert_eq!(scope.prefix(), "flytesnacks.development.workflows.example.say_hello");
/// assert_eq!(scope.tag_suffix(), ".__exec_project=flytesnacks");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricScope {
    /// The task's project (`FLYTE_INTERNAL_TASK_PROJECT` / `_F_TK_PRJ`).
    pub task_project: String,
    /// The task's domain (`FLYTE_INTERNAL_TASK_DOMAIN` / `_F_TK_DM`).
    pub task_domain: String,
    /// The task's name (`FLYTE_INTERNAL_TASK_NAME` / `_F_TK_NM`).
    pub task_name: String,
    /// Tag `exec_project` (`FLYTE_INTERNAL_EXECUTION_PROJECT` / `_F_PRJ`).
    pub exec_project: String,
    /// Tag `exec_domain` (`FLYTE_INTERNAL_EXECUTION_DOMAIN` / `_F_DM`).
    pub exec_domain: String,
    /// Tag `exec_workflow` (`FLYTE_INTERNAL_EXECUTION_WORKFLOW` / `_F_WF`).
    pub exec_workflow: String,
    /// Tag `exec_launchplan` (`FLYTE_INTERNAL_EXECUTION_LAUNCHPLAN` / `_F_LP`).
    pub exec_launchplan: String,
}

impl MetricScope {
    /// flytekit's prefix: `<task project>.<task domain>.<task name>`, lower-cased.
    ///
    /// ```
    /// use flyte_telemetry::MetricScope;
    /// let scope = MetricScope {
    ///     task_project: "FlyteSnacks".into(),
    ///     task_domain: "dev".into(),
    ///     task_name: "wf.T1".into(),
    ///     ..MetricScope::default()
    /// };
    /// assert_eq!(scope.prefix(), "flytesnacks.dev.wf.t1");
    /// ```
    pub fn prefix(&self) -> String {
        format!(
            "{}.{}.{}",
            self.task_project, self.task_domain, self.task_name
        )
        .to_lowercase()
    }

    /// flytekit's tag suffix for this scope's tags, e.g.
    /// `.__exec_domain=development.__exec_project=flytesnacks`.
    ///
    /// ```
    /// use flyte_telemetry::MetricScope;
    /// let scope = MetricScope {
    ///     exec_project: "flytesnacks".into(),
    ///     exec_workflow: "workflows.example:wf".into(),
    ///     ..MetricScope::default()
    /// };
    /// // Keys sorted, '.', ':' and '|' in values replaced, empty tags left out.
    /// assert_eq!(
    ///     scope.tag_suffix(),
    ///     ".__exec_project=flytesnacks.__exec_workflow=workflows_example_wf"
    /// );
    /// ```
    pub fn tag_suffix(&self) -> String {
        // Sorted by key, as flytekit sorts them.
        let tags = [
            ("exec_domain", &self.exec_domain),
            ("exec_launchplan", &self.exec_launchplan),
            ("exec_project", &self.exec_project),
            ("exec_workflow", &self.exec_workflow),
        ];
        let mut suffix = String::new();
        for (key, value) in tags {
            let value: String = value
                .chars()
                .map(|c| if matches!(c, '|' | '.' | ':') { '_' } else { c })
                .collect();
            if !value.is_empty() {
                suffix.push_str(".__");
                suffix.push_str(key);
                suffix.push('=');
                suffix.push_str(&value);
            }
        }
        suffix
    }
}

/// A timed phase of one task run.
///
/// ```
/// use std::time::Duration;
/// use flyte_telemetry::{Metrics, Phase};
///
/// let metrics = Metrics::disabled();
/// metrics.phase(Phase::TaskExecution, Duration::from_millis(1520));
/// let upload = metrics.start(Phase::OutputsUpload);
/// // ... write outputs.pb ...
/// upload.finish();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Fetching `inputs.pb` (and inputs staged before the task starts).
    InputsDownload,
    /// Starting the Python worker until it has loaded the task.
    WorkerStart,
    /// Running the task function.
    TaskExecution,
    /// Writing `outputs.pb` / `error.pb` / `futures.pb` and offloaded data.
    OutputsUpload,
}

impl Phase {
    /// The metric's name under the scope's prefix.
    ///
    /// ```
    /// use flyte_telemetry::Phase;
    /// assert_eq!(Phase::InputsDownload.metric(), "entrypoint.inputs_download");
    /// ```
    pub fn metric(self) -> &'static str {
        match self {
            Phase::InputsDownload => "entrypoint.inputs_download",
            Phase::WorkerStart => "entrypoint.worker_start",
            Phase::TaskExecution => "entrypoint.task_execution",
            Phase::OutputsUpload => "entrypoint.outputs_upload",
        }
    }
}

/// Which way bytes moved.
///
/// ```
/// use flyte_telemetry::{Direction, Metrics};
/// let metrics = Metrics::disabled();
/// metrics.bytes(Direction::Upload, 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From object storage to local disk.
    Download,
    /// From local disk to object storage.
    Upload,
}

impl Direction {
    /// The metric's name under the scope's prefix.
    ///
    /// ```
    /// use flyte_telemetry::Direction;
    /// assert_eq!(Direction::Download.metric(), "entrypoint.bytes_downloaded");
    /// ```
    pub fn metric(self) -> &'static str {
        match self {
            Direction::Download => "entrypoint.bytes_downloaded",
            Direction::Upload => "entrypoint.bytes_uploaded",
        }
    }
}

/// How a task run ended.
///
/// ```
/// use flyte_telemetry::{Metrics, Outcome};
/// let metrics = Metrics::disabled();
/// let task_failed = false;
/// metrics.outcome(if task_failed { Outcome::UserError } else { Outcome::Success });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Outputs (or a dynamic job spec) were written.
    Success,
    /// An error document with a user error was written.
    UserError,
    /// An error document with a system error was written.
    SystemError,
    /// The worker process died (signal, OOM kill, `os._exit`) before reporting.
    WorkerDied,
}

impl Outcome {
    /// The metric's name under the scope's prefix.
    ///
    /// ```
    /// use flyte_telemetry::Outcome;
    /// assert_eq!(Outcome::WorkerDied.metric(), "entrypoint.outcome.worker_died");
    /// ```
    pub fn metric(self) -> &'static str {
        match self {
            Outcome::Success => "entrypoint.outcome.success",
            Outcome::UserError => "entrypoint.outcome.user_error",
            Outcome::SystemError => "entrypoint.outcome.system_error",
            Outcome::WorkerDied => "entrypoint.outcome.worker_died",
        }
    }
}

/// The entrypoint's metrics client: cheap to clone, shareable across threads; a no-op
/// when statsd is disabled. Sending never fails the caller: a datagram that cannot be
/// sent is dropped (and logged at TRACE).
///
/// ```
/// use std::net::UdpSocket;
/// use std::time::Duration;
/// use flyte_telemetry::{MetricScope, Metrics, Outcome, StatsdSettings};
///
/// // A statsd server of our own, to see the datagram.
/// let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
/// server.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
/// let settings = StatsdSettings {
///     host: "127.0.0.1".into(),
///     port: server.local_addr().expect("address").port(),
///     ..StatsdSettings::default()
/// };
/// let scope = MetricScope {
///     task_project: "p".into(),
///     task_domain: "d".into(),
///     task_name: "t".into(),
///     exec_domain: "d".into(),
///     ..MetricScope::default()
/// };
/// let metrics = Metrics::new(&settings, &scope).expect("a UDP socket");
/// metrics.outcome(Outcome::Success);
///
/// let mut datagram = [0; 512];
/// let len = server.recv(&mut datagram).expect("a datagram");
/// assert_eq!(&datagram[..len], b"p.d.t.entrypoint.outcome.success.__exec_domain=d:1|c");
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    client: StatsdClient,
    addr: SocketAddr,
    prefix: String,
    tags: String,
}

impl Inner {
    /// `<prefix>.<metric><tag suffix>`, as flytekit composes names.
    fn name(&self, metric: &str) -> String {
        format!("{}.{metric}{}", self.prefix, self.tags)
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("Metrics(disabled)"),
            Some(inner) => f
                .debug_struct("Metrics")
                .field("addr", &inner.addr)
                .field("prefix", &inner.prefix)
                .field("tags", &inner.tags)
                .finish(),
        }
    }
}

impl Metrics {
    /// A client that sends nothing.
    ///
    /// ```
    /// use flyte_telemetry::{Metrics, Outcome};
    /// let metrics = Metrics::disabled();
    /// metrics.outcome(Outcome::Success); // does nothing
    /// assert!(!metrics.is_enabled());
    /// ```
    pub fn disabled() -> Self {
        Metrics { inner: None }
    }

    /// A client for `settings` and `scope`: [`disabled`](Self::disabled) when
    /// `settings.disabled`; otherwise the host is resolved now (an IPv4 address first,
    /// as Python's statsd client does) and a UDP socket opened.
    ///
    /// ```
    /// use flyte_telemetry::{MetricScope, Metrics, StatsdSettings};
    ///
    /// let settings = StatsdSettings { host: "127.0.0.1".into(), ..StatsdSettings::default() };
    /// let metrics = Metrics::new(&settings, &MetricScope::default()).expect("a UDP socket");
    /// let off = StatsdSettings { disabled: true, ..StatsdSettings::default() };
    /// assert!(!Metrics::new(&off, &MetricScope::default()).expect("no socket").is_enabled());
    /// ```
    pub fn new(settings: &StatsdSettings, scope: &MetricScope) -> Result<Self, TelemetryError> {
        if settings.disabled {
            return Ok(Self::disabled());
        }
        let resolve_error = |source| TelemetryError::StatsdAddress {
            host: settings.host.clone(),
            port: settings.port,
            source,
        };
        let addrs: Vec<SocketAddr> = (settings.host.as_str(), settings.port)
            .to_socket_addrs()
            .map_err(resolve_error)?
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| {
                resolve_error(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no addresses",
                ))
            })?;
        let local = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket_error = |source| TelemetryError::StatsdSocket { addr, source };
        let socket = UdpSocket::bind(local).map_err(socket_error)?;
        socket.set_nonblocking(true).map_err(socket_error)?;
        let sink = UdpMetricSink::from(addr, socket)
            .map_err(|e| socket_error(std::io::Error::other(e.to_string())))?;
        Ok(Metrics {
            inner: Some(Arc::new(Inner {
                client: StatsdClient::from_sink("", sink),
                addr,
                prefix: scope.prefix(),
                tags: if settings.disable_tags {
                    String::new()
                } else {
                    scope.tag_suffix()
                },
            })),
        })
    }

    /// Whether this client sends anything.
    ///
    /// ```
    /// assert!(!flyte_telemetry::Metrics::disabled().is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The full name `metric` is sent under (prefix, metric, tag suffix); `None` when
    /// disabled.
    ///
    /// ```
    /// use flyte_telemetry::{MetricScope, Metrics, Phase, StatsdSettings};
    ///
    /// let settings = StatsdSettings { host: "127.0.0.1".into(), ..StatsdSettings::default() };
    /// let scope = MetricScope {
    ///     task_project: "p".into(),
    ///     task_domain: "d".into(),
    ///     task_name: "t".into(),
    ///     ..MetricScope::default()
    /// };
    /// let metrics = Metrics::new(&settings, &scope).expect("a UDP socket");
    /// let name = metrics.full_name(Phase::WorkerStart.metric());
    /// assert_eq!(name.as_deref(), Some("p.d.t.entrypoint.worker_start"));
    /// assert_eq!(Metrics::disabled().full_name("x"), None);
    /// ```
    pub fn full_name(&self, metric: &str) -> Option<String> {
        self.inner.as_ref().map(|inner| inner.name(metric))
    }

    /// Records how long `phase` took (for a duration measured elsewhere; see
    /// [`start`](Self::start) to time it here).
    ///
    /// ```
    /// use std::time::Duration;
    /// use flyte_telemetry::{Metrics, Phase};
    /// # let metrics = Metrics::disabled();
    /// metrics.phase(Phase::WorkerStart, Duration::from_millis(850));
    /// ```
    pub fn phase(&self, phase: Phase, elapsed: Duration) {
        let Some(inner) = &self.inner else { return };
        let name = inner.name(phase.metric());
        if let Err(error) = inner.client.time(&name, elapsed) {
            tracing::trace!(metric = %name, %error, "statsd timer dropped");
        }
    }

    /// Starts timing `phase`; [`PhaseTimer::finish`] records it.
    ///
    /// ```
    /// use flyte_telemetry::{Metrics, Phase};
    /// # let metrics = Metrics::disabled();
    /// let download = metrics.start(Phase::InputsDownload);
    /// // ... fetch inputs.pb ...
    /// let took = download.finish();
    /// ```
    pub fn start(&self, phase: Phase) -> PhaseTimer {
        PhaseTimer {
            metrics: self.clone(),
            phase,
            started: Instant::now(),
        }
    }

    /// Adds `bytes` moved in `direction`.
    ///
    /// ```
    /// use flyte_telemetry::{Direction, Metrics};
    /// # let metrics = Metrics::disabled();
    /// metrics.bytes(Direction::Download, 1024);
    /// ```
    pub fn bytes(&self, direction: Direction, bytes: u64) {
        self.count(direction.metric(), bytes);
    }

    /// Counts one run ending with `outcome`.
    ///
    /// ```
    /// use flyte_telemetry::{Metrics, Outcome};
    /// # let metrics = Metrics::disabled();
    /// metrics.outcome(Outcome::SystemError);
    /// ```
    pub fn outcome(&self, outcome: Outcome) {
        self.count(outcome.metric(), 1);
    }

    fn count(&self, metric: &str, value: u64) {
        let Some(inner) = &self.inner else { return };
        let name = inner.name(metric);
        if let Err(error) = inner.client.count(&name, value) {
            tracing::trace!(metric = %name, %error, "statsd counter dropped");
        }
    }
}

/// A running phase timer from [`Metrics::start`]. Dropping it without
/// [`finish`](Self::finish) records nothing, so a phase that never completed does not
/// pollute its timing.
///
/// ```
/// use flyte_telemetry::{Metrics, Phase};
/// # let metrics = Metrics::disabled();
/// let execution = metrics.start(Phase::TaskExecution);
/// let ok = true; // ... run the task ...
/// if ok {
///     execution.finish();
/// } // else dropped: no timing for a run that did not finish
/// ```
#[derive(Debug)]
#[must_use = "a phase timer records only when finished"]
pub struct PhaseTimer {
    metrics: Metrics,
    phase: Phase,
    started: Instant,
}

impl PhaseTimer {
    /// Records the time since the timer started and returns it.
    ///
    /// ```
    /// use flyte_telemetry::{Metrics, Phase};
    /// # let metrics = Metrics::disabled();
    /// let timer = metrics.start(Phase::OutputsUpload);
    /// let took = timer.finish();
    /// assert!(took < std::time::Duration::from_secs(60));
    /// ```
    pub fn finish(self) -> Duration {
        let elapsed = self.started.elapsed();
        self.metrics.phase(self.phase, elapsed);
        elapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_lower_cased_and_tags_sorted_and_sanitised() {
        let scope = MetricScope {
            task_project: "FlyteSnacks".into(),
            task_domain: "development".into(),
            task_name: "Workflows.Example.Say_Hello".into(),
            exec_project: "flytesnacks".into(),
            exec_domain: "development".into(),
            exec_workflow: "workflows.example:wf|x".into(),
            exec_launchplan: String::new(),
        };
        assert_eq!(
            scope.prefix(),
            "flytesnacks.development.workflows.example.say_hello"
        );
        assert_eq!(
            scope.tag_suffix(),
            ".__exec_domain=development.__exec_project=flytesnacks.__exec_workflow=workflows_example_wf_x"
        );
    }

    #[test]
    fn disabled_metrics_have_no_names() {
        let metrics = Metrics::new(
            &StatsdSettings {
                disabled: true,
                ..StatsdSettings::default()
            },
            &MetricScope::default(),
        )
        .expect("disabled always works");
        assert!(!metrics.is_enabled());
        assert_eq!(metrics.full_name("x"), None);
        metrics.outcome(Outcome::Success);
    }
}
