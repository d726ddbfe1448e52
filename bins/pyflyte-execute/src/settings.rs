//! The library crates' settings, made from the one [`FlyteConfig`] loaded at start-up.
//!
//! flyte-config knows nothing of the crates that consume it, and they know nothing of
//! it: this module is the only place the two meet.

use flyte_config::FlyteConfig;
use flyte_telemetry::{LogFormat, LogSettings, MetricScope, StatsdSettings};

/// Logging as flytekit would set it up.
pub fn log_settings(config: &FlyteConfig) -> LogSettings {
    LogSettings {
        python_level: config.logging.level,
        format: match config.logging.format {
            flyte_config::LoggingFormat::Json => LogFormat::Json,
            flyte_config::LoggingFormat::Text => LogFormat::Text,
        },
    }
}

/// Where the entrypoint's metrics go.
pub fn statsd_settings(config: &FlyteConfig) -> StatsdSettings {
    let statsd = &config.statsd;
    StatsdSettings {
        host: statsd.host.clone(),
        port: statsd.port,
        disabled: statsd.disabled,
        disable_tags: statsd.disable_tags,
    }
}

/// The task and execution the metrics are about, as flytekit names them.
pub fn metric_scope(config: &FlyteConfig) -> MetricScope {
    let identity = &config.identity;
    MetricScope {
        task_project: identity.task_project.clone(),
        task_domain: identity.task_domain.clone(),
        task_name: identity.task_name.clone(),
        exec_project: identity.execution_project.clone(),
        exec_domain: identity.execution_domain.clone(),
        exec_workflow: identity.execution_workflow.clone(),
        exec_launchplan: identity.execution_launchplan.clone(),
    }
}

/// The worker's own flytekit logs and counts like we do.
pub fn worker_env(config: &FlyteConfig) -> Vec<(String, String)> {
    flyte_telemetry::worker_env(&log_settings(config), &statsd_settings(config))
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}
