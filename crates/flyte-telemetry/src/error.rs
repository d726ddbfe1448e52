//! [`TelemetryError`]: what can stop metrics or logging from starting.

/// Why metrics or logging could not be set up. Telemetry never fails a task once it is
/// running: after setup, sending a metric or writing a log line that fails is dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The statsd host does not resolve.
    #[error(
        "statsd host {host}:{port} does not resolve ({source}): fix FLYTE_STATSD_HOST / \
         FLYTE_SECRETS_HOST, or set FLYTE_STATSD_DISABLED=true"
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
        "cannot open a UDP socket to send statsd metrics to {addr} ({source}); set FLYTE_STATSD_DISABLED=true to run without metrics"
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
