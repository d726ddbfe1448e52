//! Telemetry the way flytekit's entrypoint emits it: statsd metrics with flytekit's
//! prefix and tag conventions, log lines in flytekit's JSON or text format, and the
//! settings that make the Python worker's flytekit match.
//!
//! **Owns:** the statsd client ([`Metrics`]: phase timers, bytes per direction, outcome
//! counters, a no-op when disabled), the `tracing` subscriber ([`logging`]) and the
//! worker's telemetry variables ([`worker_env`]).
//!
//! **Never:** reads the environment or config files (settings arrive as
//! [`StatsdSettings`] and [`LogSettings`], built by the binary from flyte-config); fails
//! a running task (a datagram or log line that cannot be written is dropped); knows what
//! a task is beyond the names in [`MetricScope`].
//!
//! ```no_run
//! use std::time::Duration;
//! use flyte_telemetry::{
//!     Direction, LogFormat, LogSettings, MetricScope, Metrics, Outcome, Phase,
//!     StatsdSettings, logging,
//! };
//!
//! logging::init(&LogSettings { python_level: 20, format: LogFormat::Json })?;
//! let metrics = Metrics::new(
//!     &StatsdSettings::default(),
//!     &MetricScope {
//!         task_project: "flytesnacks".into(),
//!         task_domain: "development".into(),
//!         task_name: "workflows.example.say_hello".into(),
//!         exec_project: "flytesnacks".into(),
//!         exec_domain: "development".into(),
//!         ..MetricScope::default()
//!     },
//! )?;
//! let download = metrics.start(Phase::InputsDownload);
//! // ... fetch inputs.pb ...
//! metrics.bytes(Direction::Download, 1024);
//! download.finish();
//! metrics.phase(Phase::TaskExecution, Duration::from_millis(1520));
//! metrics.outcome(Outcome::Success);
//! # Ok::<(), flyte_telemetry::TelemetryError>(())
//! ```

mod error;
pub mod logging;
mod metrics;
mod worker;

pub use error::TelemetryError;
pub use logging::{LogFormat, LogSettings};
pub use metrics::{Direction, MetricScope, Metrics, Outcome, Phase, PhaseTimer, StatsdSettings};
pub use worker::worker_env;
