//! [`worker_env`]: what the Python worker needs so that flytekit inside it logs and
//! counts like the supervisor.

use crate::logging::LogSettings;
use crate::metrics::StatsdSettings;

/// Environment variables for the Python worker, so that flytekit's loggers use the same
/// level and format as ours and its user-space stats client
/// (`current_context().stats`) sends to the same statsd with the same switches.
///
/// statsd settings are given under both names: `FLYTE_STATSD_*`, the documented ones,
/// and `FLYTE_SECRETS_*`, the ones flytekit 1.16 actually reads (its `StatsD` entries
/// sit in section `secrets`). As environment variables they win over any config file the
/// worker's flytekit finds, so both sides resolve alike.
///
/// ```
/// use flyte_telemetry::{LogSettings, StatsdSettings, worker_env};
///
/// let env = worker_env(&LogSettings::default(), &StatsdSettings::default());
/// assert!(env.contains(&("FLYTE_SDK_LOGGING_LEVEL", "30".to_owned())));
/// assert!(env.contains(&("FLYTE_SECRETS_PORT", "8125".to_owned())));
/// ```
pub fn worker_env(logging: &LogSettings, statsd: &StatsdSettings) -> Vec<(&'static str, String)> {
    let flag = |b: bool| if b { "true" } else { "false" }.to_owned();
    let mut env = vec![
        ("FLYTE_SDK_LOGGING_LEVEL", logging.python_level.to_string()),
        (
            "FLYTE_SDK_LOGGING_FORMAT",
            logging.format.as_env_value().to_owned(),
        ),
    ];
    for (host, port, disabled, disable_tags) in [
        (
            "FLYTE_STATSD_HOST",
            "FLYTE_STATSD_PORT",
            "FLYTE_STATSD_DISABLED",
            "FLYTE_STATSD_DISABLE_TAGS",
        ),
        (
            "FLYTE_SECRETS_HOST",
            "FLYTE_SECRETS_PORT",
            "FLYTE_SECRETS_DISABLED",
            "FLYTE_SECRETS_DISABLE_TAGS",
        ),
    ] {
        env.push((host, statsd.host.clone()));
        env.push((port, statsd.port.to_string()));
        env.push((disabled, flag(statsd.disabled)));
        env.push((disable_tags, flag(statsd.disable_tags)));
    }
    env
}
