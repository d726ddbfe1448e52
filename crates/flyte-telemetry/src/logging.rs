//! Log lines in flytekit's formats, through `tracing`.
//!
//! flytekit logs to stderr, either as JSON lines written by python-json-logger with the
//! format `%(asctime)s %(name)s %(levelname)s %(message)s`:
//!
//! ```text
//! {"asctime": "2024-05-01 12:34:56,789", "name": "flytekit", "levelname": "INFO", "message": "hello", "extra": 1}
//! ```
//!
//! or, for any other `FLYTE_SDK_LOGGING_FORMAT`, as `[flytekit] hello`. Ours are the same
//! with `name` set to the event's target (`flyte_runtime::pipeline`...) and an event's
//! fields as extra keys (or ` key=value` in text). `asctime` is UTC (Python uses local
//! time; containers run in UTC). Keys named like the four fixed ones are written as
//! `extra_<key>`.
//!
//! Levels follow `FLYTE_SDK_LOGGING_LEVEL` (Python's numbers) for this workspace's own
//! targets (`flyte*`, `pyflyte*`), as flytekit's level applies to its `flytekit` logger
//! only; every other target logs at WARNING and above, as Python's other loggers do.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use crate::error::TelemetryError;

/// The log line format (`FLYTE_SDK_LOGGING_FORMAT`).
///
/// ```
/// use flyte_telemetry::{LogFormat, LogSettings};
/// let settings = LogSettings { format: LogFormat::Text, ..LogSettings::default() };
/// assert_eq!(LogFormat::default(), LogFormat::Json, "flytekit's default");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// JSON lines with flytekit's keys. flytekit's default.
    #[default]
    Json,
    /// `[name] message key=value...`.
    Text,
}

impl LogFormat {
    /// The value of `FLYTE_SDK_LOGGING_FORMAT` that selects this format in flytekit.
    ///
    /// ```
    /// use flyte_telemetry::LogFormat;
    /// // The variable a Python worker's environment gets, so flytekit logs as we do.
    /// let worker_env = [("FLYTE_SDK_LOGGING_FORMAT", LogFormat::Text.as_env_value())];
    /// assert_eq!(worker_env[0].1, "text");
    /// assert_eq!(LogFormat::Json.as_env_value(), "json");
    /// ```
    pub fn as_env_value(self) -> &'static str {
        match self {
            LogFormat::Json => "json",
            LogFormat::Text => "text",
        }
    }
}

/// Logging settings (from flyte-config's `LoggingSettings`).
///
/// ```
/// use flyte_telemetry::{LogFormat, LogSettings};
/// // FLYTE_SDK_LOGGING_LEVEL=10, text lines.
/// let debug = LogSettings { python_level: 10, format: LogFormat::Text };
/// assert_eq!(LogSettings::default().python_level, 30, "flytekit's WARNING");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// A Python numeric level (`FLYTE_SDK_LOGGING_LEVEL`): 10 DEBUG, 20 INFO,
    /// 30 WARNING, 40 ERROR, 50 CRITICAL, or anything between.
    pub python_level: i64,
    /// The line format.
    pub format: LogFormat,
}

impl Default for LogSettings {
    /// flytekit's defaults: WARNING, JSON.
    fn default() -> Self {
        LogSettings {
            python_level: 30,
            format: LogFormat::Json,
        }
    }
}

/// The numeric level Python gives each tracing level (TRACE has no Python name; 5).
///
/// ```
/// use flyte_telemetry::logging::python_level_of;
/// assert_eq!(python_level_of(tracing::Level::WARN), 30);
/// ```
pub fn python_level_of(level: Level) -> i64 {
    match level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

/// Python's `levelname` for a tracing level.
///
/// ```
/// use flyte_telemetry::logging::python_level_name;
/// assert_eq!(python_level_name(tracing::Level::WARN), "WARNING");
/// ```
pub fn python_level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// The most verbose tracing level a Python threshold lets through: a record passes when
/// its Python number is at least the threshold. 0 (Python's NOTSET) defers to the root
/// logger's WARNING, as it does for flytekit's logger.
///
/// ```
/// use flyte_telemetry::logging::python_level_filter;
/// use tracing_subscriber::filter::LevelFilter;
/// assert_eq!(python_level_filter(20), LevelFilter::INFO);
/// assert_eq!(python_level_filter(25), LevelFilter::WARN, "between INFO and WARNING");
/// assert_eq!(python_level_filter(0), LevelFilter::WARN, "NOTSET");
/// assert_eq!(python_level_filter(60), LevelFilter::OFF);
/// ```
pub fn python_level_filter(python_level: i64) -> LevelFilter {
    let threshold = if python_level == 0 { 30 } else { python_level };
    [
        (Level::TRACE, LevelFilter::TRACE),
        (Level::DEBUG, LevelFilter::DEBUG),
        (Level::INFO, LevelFilter::INFO),
        (Level::WARN, LevelFilter::WARN),
        (Level::ERROR, LevelFilter::ERROR),
    ]
    .into_iter()
    .find(|(level, _)| python_level_of(*level) >= threshold)
    .map_or(LevelFilter::OFF, |(_, filter)| filter)
}

/// The filter: our targets at the configured level, the rest at WARNING and above.
fn targets(settings: &LogSettings) -> Targets {
    let ours = python_level_filter(settings.python_level);
    Targets::new()
        .with_target("flyte", ours)
        .with_target("pyflyte", ours)
        .with_default(LevelFilter::WARN)
}

/// A subscriber writing flytekit-format lines to `writer` (tests pass a buffer; the
/// binary uses [`init`], which writes to stderr).
///
/// ```
/// use std::io::Write;
/// use std::sync::{Arc, Mutex};
/// use flyte_telemetry::{LogFormat, LogSettings, logging};
///
/// #[derive(Clone, Default)]
/// struct Buffer(Arc<Mutex<Vec<u8>>>);
/// impl Write for Buffer {
///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().write(bytes)
///     }
///     fn flush(&mut self) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let buffer = Buffer::default();
/// let settings = LogSettings { python_level: 20, format: LogFormat::Text };
/// let writer = buffer.clone();
/// let subscriber = logging::subscriber(&settings, move || writer.clone());
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(target: "flyte_tool", uri = "s3://b/k", "downloaded");
/// });
/// let lines = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
/// assert_eq!(lines, "[flyte_tool] downloaded uri=s3://b/k\n");
/// ```
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .event_format(FlytekitFormat {
            format: settings.format,
        });
    tracing_subscriber::registry()
        .with(layer)
        .with(targets(settings))
}

/// Installs the process-wide subscriber, writing to stderr as flytekit does. Call once,
/// at start-up, after loading the configuration; a second call is
/// [`TelemetryError::LoggingAlreadyInitialised`].
///
/// ```no_run
/// use flyte_telemetry::{LogSettings, logging};
///
/// logging::init(&LogSettings::default()).expect("the first call installs it");
/// tracing::warn!(target: "flyte_tool", "started");
/// assert!(logging::init(&LogSettings::default()).is_err());
/// ```
pub fn init(settings: &LogSettings) -> Result<(), TelemetryError> {
    tracing::subscriber::set_global_default(subscriber(settings, std::io::stderr))
        .map_err(|_| TelemetryError::LoggingAlreadyInitialised)
}

/// The event formatter for both formats.
#[derive(Debug, Clone, Copy)]
struct FlytekitFormat {
    format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for FlytekitFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        match self.format {
            LogFormat::Json => {
                let mut line = String::with_capacity(128);
                let mut put = |key: &str, value: &serde_json::Value| {
                    if !line.is_empty() {
                        line.push_str(", ");
                    }
                    line.push_str(&json_string(key));
                    line.push_str(": ");
                    line.push_str(&value.to_string());
                };
                put("asctime", &asctime(SystemTime::now()).into());
                put("name", &meta.target().into());
                put("levelname", &python_level_name(*meta.level()).into());
                put("message", &fields.message.unwrap_or_default().into());
                for (key, value) in &fields.extra {
                    let key =
                        if matches!(key.as_str(), "asctime" | "name" | "levelname" | "message") {
                            format!("extra_{key}")
                        } else {
                            key.clone()
                        };
                    put(&key, value);
                }
                writeln!(writer, "{{{line}}}")
            }
            LogFormat::Text => {
                write!(
                    writer,
                    "[{}] {}",
                    meta.target(),
                    fields.message.unwrap_or_default()
                )?;
                for (key, value) in &fields.extra {
                    match value {
                        serde_json::Value::String(s) => write!(writer, " {key}={s}")?,
                        other => write!(writer, " {key}={other}")?,
                    }
                }
                writeln!(writer)
            }
        }
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// An event's message and other fields, in order.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    extra: Vec<(String, serde_json::Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.extra.push((field.name().to_owned(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

/// Python logging's default `asctime`: `YYYY-MM-DD HH:MM:SS,mmm` (here in UTC).
pub(crate) fn asctime(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let mut out = String::with_capacity(23);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02},{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    );
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn python_thresholds_map_to_tracing_filters() {
        for (python, filter) in [
            (-5, LevelFilter::TRACE),
            (0, LevelFilter::WARN),
            (5, LevelFilter::TRACE),
            (10, LevelFilter::DEBUG),
            (15, LevelFilter::INFO),
            (20, LevelFilter::INFO),
            (30, LevelFilter::WARN),
            (40, LevelFilter::ERROR),
            (41, LevelFilter::OFF),
            (50, LevelFilter::OFF),
        ] {
            assert_eq!(python_level_filter(python), filter, "{python}");
        }
    }

    #[test]
    fn asctime_is_pythons_default_format() {
        assert_eq!(asctime(UNIX_EPOCH), "1970-01-01 00:00:00,000");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(asctime(t), "2024-02-29 12:34:56,789");
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(asctime(t), "2099-12-31 23:59:59,000");
    }
}
