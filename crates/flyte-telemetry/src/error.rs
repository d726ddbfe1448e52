//! [`TelemetryError`]: what can stop metrics or logging from starting.

/// Why metrics or logging could not be set up. Messages name settings, not how they are
/// set: the caller that reads the configuration adds that (the binary names its
/// environment variables). Telemetry never fails a task once it is
/// running: after setup, sending a metric or writing a log line that fails is dropped.
///
/// ```no_run
/// use flyte_telemetry::{MetricScope, Metrics, StatsdSettings, TelemetryError};
///
/// let settings = StatsdSettings { host: "statsd.monitoring".into(), ..StatsdSettings::default() };
/// let metrics = match Metrics::new(&settings, &MetricScope::default()) {
///     Ok(metrics) => metrics,
///     // Metrics are not worth failing a task for: run without them.
///     Err(error @ TelemetryError::StatsdAddress { .. }) => {
///         eprintln!("{error}; running without metrics");
///         Metrics::disabled()
///     }
///     Err(error) => panic!("{error}"),
/// };
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The statsd host does not resolve.
    #[error(
        "statsd host {host}:{port} does not resolve: fix the statsd host setting, or disable \
         statsd metrics"
    )]
    StatsdAddress {
        /// The configured host.
        host: String,
        /// The configured port.
        port: u16,
        /// What the resolver said.
        source: std::io::Error,
    },
    /// No local UDP socket could be opened to send statsd datagrams from.
    #[error(
        "cannot open a UDP socket to send statsd metrics to {addr}: disable statsd metrics to run without them"
    )]
    StatsdSocket {
        /// The resolved statsd address.
        addr: std::net::SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A global logger was already installed in this process.
    #[error(
        "logging was already initialised in this process: call flyte_telemetry::logging::init once, at start-up"
    )]
    LoggingAlreadyInitialised,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statsd_error_prints_its_cause_once_in_a_chain() {
        let error = TelemetryError::StatsdAddress {
            host: "statsd".into(),
            port: 8125,
            source: std::io::Error::other("no such host"),
        };
        let cause = std::error::Error::source(&error).expect("the resolver's error");
        let chain = format!("{error}: {cause}");
        assert_eq!(chain.matches("no such host").count(), 1, "{chain}");
        assert!(error.to_string().contains("statsd:8125"), "{error}");
    }
}
