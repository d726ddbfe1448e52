//! [`ContainerFailure`]: one failed task attempt, and its flyteidl `ErrorDocument` form.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flyte_proto::prost_types::Timestamp;

use crate::idl::{ContainerError, ErrorDocument, ErrorKind, Kind};
use crate::trace::format_trace_message;

/// Error codes flytekit's entrypoint writes itself (other codes come from the exception
/// that failed the task, e.g. `USER:ValueError`).
pub mod codes {
    /// Any failure outside user code: flytekit's catch-all and its non-recoverable
    /// system errors both use it.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, codes};
    ///
    /// assert_eq!(ContainerFailure::system("disk full").code, codes::SYSTEM);
    /// assert_eq!(ContainerFailure::non_recoverable_system("bad image").code, codes::SYSTEM);
    /// ```
    pub const SYSTEM: &str = "SYSTEM";
    /// A user exception that carries no error code of its own.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, codes};
    ///
    /// let failure = ContainerFailure::user(codes::USER_RUNTIME_ERROR, "the task raised");
    /// assert_eq!(failure.code, "USER:RuntimeError");
    /// ```
    pub const USER_RUNTIME_ERROR: &str = "USER:RuntimeError";
    /// A user failure the user marked recoverable (flytekit's
    /// `FlyteRecoverableException`): origin `USER`, `RECOVERABLE`, so Flyte retries it.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, Recoverability, codes};
    ///
    /// let failure = ContainerFailure::user(codes::USER_RECOVERABLE, "the service was busy")
    ///     .with_recoverability(Recoverability::Recoverable);
    /// assert_eq!(failure.code, "USER:Recoverable");
    /// ```
    pub const USER_RECOVERABLE: &str = "USER:Recoverable";
    /// The task returned something that is neither outputs nor a dynamic job spec.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, codes};
    ///
    /// let failure = ContainerFailure::user(
    ///     codes::UNKNOWN_OUTPUT,
    ///     "the task wrote neither outputs.pb nor futures.pb",
    /// );
    /// assert_eq!(failure.code, "UNKNOWN_OUTPUT");
    /// ```
    pub const UNKNOWN_OUTPUT: &str = "UNKNOWN_OUTPUT";
}

/// Who caused a failure; flyteidl's `ExecutionError.ErrorKind`.
///
/// flyteidl also has `UNKNOWN`, which flytekit never writes; reading it gives
/// [`Origin::System`].
///
/// ```
/// use flyte_errors::{ContainerFailure, Origin};
/// use flyte_proto::core::execution_error::ErrorKind;
///
/// let failure = ContainerFailure::system("could not download the inputs");
/// assert_eq!(failure.origin, Origin::System);
/// // In the document: flyteidl's ErrorKind.
/// let document = failure.to_error_document();
/// let error = document.error.expect("always set");
/// assert_eq!(error.origin(), ErrorKind::System);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The user's code or data (`USER`).
    User,
    /// The platform: the entrypoint, storage, the container (`SYSTEM`).
    System,
}

/// Whether Flyte may retry the task; flyteidl's `ContainerError.Kind`.
///
/// ```
/// use flyte_errors::{ContainerFailure, Recoverability};
/// use flyte_proto::core::container_error::Kind;
///
/// // A storage outage: worth retrying.
/// let failure = ContainerFailure::system("s3://bucket/inputs.pb: service unavailable");
/// assert_eq!(failure.recoverability, Recoverability::Recoverable);
/// let document = failure.to_error_document();
/// assert_eq!(document.error.expect("always set").kind(), Kind::Recoverable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recoverability {
    /// A retry may succeed (`RECOVERABLE`): Flyte retries within the task's retry budget.
    Recoverable,
    /// A retry would fail the same way (`NON_RECOVERABLE`).
    NonRecoverable,
}

impl From<Origin> for ErrorKind {
    fn from(origin: Origin) -> Self {
        match origin {
            Origin::User => ErrorKind::User,
            Origin::System => ErrorKind::System,
        }
    }
}

impl From<Recoverability> for Kind {
    fn from(recoverability: Recoverability) -> Self {
        match recoverability {
            Recoverability::Recoverable => Kind::Recoverable,
            Recoverability::NonRecoverable => Kind::NonRecoverable,
        }
    }
}

/// One failed task attempt: the facts flytekit puts in a `ContainerError`.
///
/// Build one with [`ContainerFailure::user`], [`ContainerFailure::system`],
/// [`ContainerFailure::from_error`] or a struct literal, then write
/// [`ContainerFailure::to_error_document`] to the file named by
/// [`error_file_name`](crate::error_file_name).
///
/// Stability: the fields are flyteidl's `ContainerError`'s, and the struct is not
/// `#[non_exhaustive]`, so that a literal can set some of them over a constructor's
/// (`ContainerFailure { origin, ..ContainerFailure::user(code, message) }`). A new field,
/// filled by every constructor, is not a breaking change for such literals; a literal
/// listing every field is outside that promise.
///
/// ```
/// use flyte_errors::{ContainerFailure, Origin, error_file_name};
/// use flyte_proto::Message;
///
/// // A code of the caller's own over the one `system` sets.
/// let failure = ContainerFailure {
///     code: "SYSTEM:OutOfMemory".to_owned(),
///     ..ContainerFailure::system("the worker was killed for using too much memory")
/// };
/// assert_eq!(failure.origin, Origin::System);
/// assert_eq!(
///     failure.to_string(),
///     "SYSTEM:OutOfMemory: the worker was killed for using too much memory"
/// );
///
/// // What to write, and under which name in the output prefix.
/// let bytes = failure.to_error_document().encode_to_vec();
/// assert!(!bytes.is_empty());
/// assert_eq!(error_file_name(false), "error.pb");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFailure {
    /// Error code, e.g. `SYSTEM`, `USER:RuntimeError`, `USER:ValueError`.
    pub code: String,
    /// The full message; flytekit's is [`format_trace_message`]'s layout.
    pub message: String,
    /// Whether Flyte may retry.
    pub recoverability: Recoverability,
    /// Who caused the failure.
    pub origin: Origin,
    /// When the failure happened. flytekit uses the time the failing exception was raised
    /// when it knows it, otherwise the time the document is built.
    pub timestamp: SystemTime,
    /// The worker's name under the distributed error strategy; empty otherwise (as
    /// flytekit leaves it).
    pub worker: String,
}

impl ContainerFailure {
    /// A failure of the user's code: origin `USER`, `NON_RECOVERABLE`, timestamped now.
    ///
    /// flytekit marks a user failure recoverable only when the user raised
    /// `FlyteRecoverableException`; use [`ContainerFailure::with_recoverability`] for that.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, Origin, Recoverability};
    ///
    /// let failure = ContainerFailure::user("USER:ValueError", "bad input: -1");
    /// assert_eq!(failure.code, "USER:ValueError");
    /// assert_eq!(failure.origin, Origin::User);
    /// assert_eq!(failure.recoverability, Recoverability::NonRecoverable);
    /// assert_eq!(failure.worker, "");
    /// ```
    pub fn user(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            recoverability: Recoverability::NonRecoverable,
            origin: Origin::User,
            timestamp: SystemTime::now(),
            worker: String::new(),
        }
    }

    /// A failure outside user code, as flytekit's catch-all reports it: code `SYSTEM`,
    /// origin `SYSTEM`, `RECOVERABLE`, timestamped now.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, Origin, Recoverability};
    ///
    /// let failure = ContainerFailure::system("could not upload outputs.pb: connection reset");
    /// assert_eq!(failure.code, "SYSTEM");
    /// assert_eq!(failure.origin, Origin::System);
    /// assert_eq!(failure.recoverability, Recoverability::Recoverable);
    /// ```
    pub fn system(message: impl Into<String>) -> Self {
        Self {
            code: codes::SYSTEM.to_owned(),
            message: message.into(),
            recoverability: Recoverability::Recoverable,
            origin: Origin::System,
            timestamp: SystemTime::now(),
            worker: String::new(),
        }
    }

    /// A system failure a retry cannot fix, as flytekit reports
    /// `FlyteNonRecoverableSystemException`: code `SYSTEM`, origin `SYSTEM`,
    /// `NON_RECOVERABLE`, timestamped now.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, Origin, Recoverability};
    ///
    /// let failure = ContainerFailure::non_recoverable_system("python3 is not in the image");
    /// assert_eq!(failure.code, "SYSTEM");
    /// assert_eq!(failure.origin, Origin::System);
    /// assert_eq!(failure.recoverability, Recoverability::NonRecoverable);
    /// ```
    pub fn non_recoverable_system(message: impl Into<String>) -> Self {
        Self {
            recoverability: Recoverability::NonRecoverable,
            ..Self::system(message)
        }
    }

    /// A failure of Rust code, timestamped now.
    ///
    /// The message has flytekit's [`format_trace_message`] layout: the "trace" is the
    /// error followed by its [`source`](std::error::Error::source) chain, one
    /// `Caused by:` entry per source; the summary is the error's type name (without its
    /// module path, as Python's `type(e).__name__`) and its `Display`. A `&dyn Error` has
    /// no type name to report and is summarised as `Error`.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, Origin, Recoverability, codes};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("could not download the task's inputs")]
    /// struct InputsError {
    ///     #[source]
    ///     source: std::io::Error,
    /// }
    ///
    /// let error = InputsError { source: std::io::Error::other("connection reset by peer") };
    /// let failure = ContainerFailure::from_error(
    ///     Origin::System,
    ///     Recoverability::Recoverable,
    ///     codes::SYSTEM,
    ///     &error,
    /// );
    /// // The trace lists each cause; the summary is the error's type and message.
    /// let expected = concat!(
    ///     "Trace:\n\n",
    ///     "    InputsError: could not download the task's inputs\n",
    ///     "    Caused by:\n",
    ///     "        0: connection reset by peer\n",
    ///     "\nMessage:\n\n",
    ///     "    InputsError: could not download the task's inputs",
    /// );
    /// assert_eq!(failure.message, expected);
    /// ```
    pub fn from_error<E>(
        origin: Origin,
        recoverability: Recoverability,
        code: impl Into<String>,
        error: &E,
    ) -> Self
    where
        E: std::error::Error + ?Sized,
    {
        let error_type = short_type_name(std::any::type_name::<E>());
        Self::from_error_named(origin, recoverability, code, error_type, error)
    }

    /// [`from_error`](Self::from_error) with the summary's type name given: for an
    /// error whose static type says nothing (a `Box<dyn Error>`), when the caller knew
    /// the type before it was boxed.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, Origin, Recoverability, codes};
    ///
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = "the model is missing".into();
    /// let failure = ContainerFailure::from_error_named(
    ///     Origin::User,
    ///     Recoverability::NonRecoverable,
    ///     codes::USER_RUNTIME_ERROR,
    ///     "ModelError",
    ///     boxed.as_ref(),
    /// );
    /// assert!(failure.message.ends_with("ModelError: the model is missing"));
    /// ```
    pub fn from_error_named<E>(
        origin: Origin,
        recoverability: Recoverability,
        code: impl Into<String>,
        error_type: &str,
        error: &E,
    ) -> Self
    where
        E: std::error::Error + ?Sized,
    {
        let top = error.to_string();
        let mut trace = format!("{error_type}: {top}\n");
        let mut source = error.source();
        if source.is_some() {
            trace.push_str("Caused by:\n");
        }
        let mut index = 0usize;
        while let Some(cause) = source {
            let label = format!("    {index}: ");
            let continuation = " ".repeat(label.len());
            for (line_number, line) in cause.to_string().lines().enumerate() {
                trace.push_str(if line_number == 0 {
                    &label
                } else {
                    &continuation
                });
                trace.push_str(line);
                trace.push('\n');
            }
            source = cause.source();
            index += 1;
        }
        Self {
            code: code.into(),
            message: format_trace_message(&trace, error_type, &top),
            recoverability,
            origin,
            timestamp: SystemTime::now(),
            worker: String::new(),
        }
    }

    /// The same failure with another recoverability.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, Recoverability, codes};
    ///
    /// // The user raised FlyteRecoverableException: Flyte may retry.
    /// let failure = ContainerFailure::user(codes::USER_RECOVERABLE, "the service was busy")
    ///     .with_recoverability(Recoverability::Recoverable);
    /// assert_eq!(failure.recoverability, Recoverability::Recoverable);
    /// ```
    #[must_use]
    pub fn with_recoverability(self, recoverability: Recoverability) -> Self {
        Self {
            recoverability,
            ..self
        }
    }

    /// The same failure stamped with another time (flytekit uses the time the failing
    /// exception was raised when it knows it).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use flyte_errors::ContainerFailure;
    ///
    /// let raised_at = UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000);
    /// let failure = ContainerFailure::user("USER:ValueError", "bad input")
    ///     .with_timestamp(raised_at);
    /// let document = failure.to_error_document();
    /// let timestamp = document.error.and_then(|error| error.timestamp).expect("always set");
    /// assert_eq!((timestamp.seconds, timestamp.nanos), (1_700_000_000, 250_000_000));
    /// ```
    #[must_use]
    pub fn with_timestamp(self, timestamp: SystemTime) -> Self {
        Self { timestamp, ..self }
    }

    /// The same failure attributed to a worker (set only under the distributed error
    /// strategy, as flytekit does).
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, error_file_name};
    ///
    /// // Under the distributed error strategy each worker writes its own document.
    /// let failure = ContainerFailure::user("USER:ValueError", "bad shard")
    ///     .with_worker("worker-3");
    /// assert_eq!(failure.to_error_document().error.expect("always set").worker, "worker-3");
    /// assert_ne!(error_file_name(true), "error.pb");
    /// ```
    #[must_use]
    pub fn with_worker(self, worker: impl Into<String>) -> Self {
        Self {
            worker: worker.into(),
            ..self
        }
    }

    /// The flyteidl document flytekit would write for this failure.
    ///
    /// The timestamp is split as flytekit splits a Unix time: whole seconds truncated
    /// toward zero, and the remainder in nanoseconds with the same sign (so a time before
    /// 1970 gives negative nanos, as flytekit's does). flytekit goes through a Python
    /// float and so loses precision below about a microsecond; this keeps every
    /// nanosecond of the `SystemTime`.
    ///
    /// A message over [`MAX_MESSAGE_BYTES`](crate::MAX_MESSAGE_BYTES) is cut to its head
    /// and tail ([`cap_message`](crate::cap_message)), so that Flyte accepts the document.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, read_error_file};
    /// use flyte_proto::Message;
    /// use flyte_proto::core::{container_error::Kind, execution_error::ErrorKind};
    ///
    /// let failure = ContainerFailure::system("could not upload outputs.pb");
    /// let document = failure.to_error_document();
    /// let error = document.error.as_ref().expect("always set");
    /// assert_eq!(error.code, "SYSTEM");
    /// assert_eq!(error.kind(), Kind::Recoverable);
    /// assert_eq!(error.origin(), ErrorKind::System);
    ///
    /// // error.pb is the document's protobuf encoding.
    /// let dir = tempfile::tempdir().expect("tempdir");
    /// let path = dir.path().join("error.pb");
    /// std::fs::write(&path, document.encode_to_vec()).expect("write");
    /// assert_eq!(read_error_file(&path).expect("read"), failure);
    /// ```
    pub fn to_error_document(&self) -> ErrorDocument {
        ErrorDocument {
            error: Some(ContainerError {
                code: self.code.clone(),
                message: crate::cap_message(self.message.clone()),
                kind: Kind::from(self.recoverability).into(),
                origin: ErrorKind::from(self.origin).into(),
                timestamp: Some(split_unix_time(self.timestamp)),
                worker: self.worker.clone(),
            }),
        }
    }

    /// Reads a document back, e.g. one a Python worker wrote.
    ///
    /// Values flyteidl allows but flytekit never writes are read leniently: a document
    /// without an error gives a system failure saying so, an unknown kind reads as
    /// non-recoverable (the protobuf default), origin `UNKNOWN` or an unknown value reads
    /// as [`Origin::System`], and a missing timestamp reads as the Unix epoch.
    ///
    /// ```
    /// use flyte_errors::{ContainerFailure, Origin, Recoverability};
    /// use flyte_proto::Message;
    /// use flyte_proto::core::ErrorDocument;
    ///
    /// // Round trip through error.pb's bytes, as a worker's document is read.
    /// let failure = ContainerFailure::user("USER:ValueError", "bad input")
    ///     .with_worker("worker-0");
    /// let bytes = failure.to_error_document().encode_to_vec();
    /// let document = ErrorDocument::decode(&bytes[..]).expect("a valid document");
    /// assert_eq!(ContainerFailure::from_error_document(&document), failure);
    ///
    /// // A document without an error still reads as a failure, of the system's.
    /// let empty = ContainerFailure::from_error_document(&ErrorDocument::default());
    /// assert_eq!(empty.origin, Origin::System);
    /// assert_eq!(empty.recoverability, Recoverability::Recoverable);
    /// ```
    pub fn from_error_document(document: &ErrorDocument) -> Self {
        let Some(error) = &document.error else {
            return Self {
                timestamp: UNIX_EPOCH,
                ..Self::system("the error document holds no error (ErrorDocument.error is unset)")
            };
        };
        let recoverability = match Kind::try_from(error.kind) {
            Ok(Kind::Recoverable) => Recoverability::Recoverable,
            Ok(Kind::NonRecoverable) | Err(_) => Recoverability::NonRecoverable,
        };
        let origin = match ErrorKind::try_from(error.origin) {
            Ok(ErrorKind::User) => Origin::User,
            Ok(ErrorKind::System | ErrorKind::Unknown) | Err(_) => Origin::System,
        };
        Self {
            code: error.code.clone(),
            message: error.message.clone(),
            recoverability,
            origin,
            timestamp: error.timestamp.map_or(UNIX_EPOCH, join_unix_time),
            worker: error.worker.clone(),
        }
    }
}

impl fmt::Display for ContainerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// `type_name` output without `dyn `, generic arguments, trait bounds and module path.
fn short_type_name(full: &str) -> &str {
    let without_dyn = full.strip_prefix("dyn ").unwrap_or(full);
    let end = without_dyn.find(['<', ' ']).unwrap_or(without_dyn.len());
    let path = &without_dyn[..end];
    path.rsplit("::").next().unwrap_or(path)
}

/// Seconds truncated toward zero and the signed remainder in nanos, as flytekit's
/// `get_container_error_timestamp` computes them.
fn split_unix_time(time: SystemTime) -> Timestamp {
    let (sign, since_or_before_epoch) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (1, after),
        Err(before) => (-1, before.duration()),
    };
    let seconds = i64::try_from(since_or_before_epoch.as_secs()).unwrap_or(i64::MAX);
    // subsec_nanos is below 1e9, which fits an i32.
    let nanos = i32::try_from(since_or_before_epoch.subsec_nanos()).unwrap_or(0);
    Timestamp {
        seconds: sign * seconds,
        nanos: sign as i32 * nanos,
    }
}

/// The inverse of [`split_unix_time`], also accepting normalised (non-negative) nanos.
fn join_unix_time(timestamp: Timestamp) -> SystemTime {
    let total_nanos = i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos);
    let magnitude = total_nanos.unsigned_abs();
    let duration = Duration::new(
        u64::try_from(magnitude / 1_000_000_000).unwrap_or(u64::MAX),
        u32::try_from(magnitude % 1_000_000_000).unwrap_or(0),
    );
    let time = if total_nanos >= 0 {
        UNIX_EPOCH.checked_add(duration)
    } else {
        UNIX_EPOCH.checked_sub(duration)
    };
    time.unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Leaf;
    impl fmt::Display for Leaf {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection reset\nby peer")
        }
    }
    impl std::error::Error for Leaf {}

    #[derive(Debug)]
    struct Middle(Leaf);
    impl fmt::Display for Middle {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading s3://bucket/inputs.pb")
        }
    }
    impl std::error::Error for Middle {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct DownloadFailed(Middle);
    impl fmt::Display for DownloadFailed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("could not download the task's inputs")
        }
    }
    impl std::error::Error for DownloadFailed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn user_failure_is_non_recoverable_user_error() {
        let failure = ContainerFailure::user("USER:ValueError", "boom");
        assert_eq!(failure.origin, Origin::User);
        assert_eq!(failure.recoverability, Recoverability::NonRecoverable);
        assert_eq!(failure.worker, "");
    }

    #[test]
    fn system_failure_is_recoverable_with_code_system_like_flytekits_catch_all() {
        let failure = ContainerFailure::system("disk full");
        assert_eq!(failure.code, "SYSTEM");
        assert_eq!(failure.origin, Origin::System);
        assert_eq!(failure.recoverability, Recoverability::Recoverable);
        let non_recoverable = ContainerFailure::non_recoverable_system("bad image");
        assert_eq!(non_recoverable.code, "SYSTEM");
        assert_eq!(
            non_recoverable.recoverability,
            Recoverability::NonRecoverable
        );
    }

    #[test]
    fn document_carries_every_field_with_flyteidl_enum_values() {
        let failure = ContainerFailure::user("USER:Recoverable", "try again")
            .with_recoverability(Recoverability::Recoverable)
            .with_worker("worker-3")
            .with_timestamp(UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789));
        let error = failure.to_error_document().error.expect("error is set");
        assert_eq!(error.code, "USER:Recoverable");
        assert_eq!(error.message, "try again");
        assert_eq!(error.kind, 1, "RECOVERABLE");
        assert_eq!(error.origin, 1, "USER");
        assert_eq!(error.worker, "worker-3");
        assert_eq!(
            error.timestamp,
            Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_789
            })
        );
        let system = ContainerFailure::non_recoverable_system("x").to_error_document();
        let system = system.error.expect("error is set");
        assert_eq!(
            (system.kind, system.origin),
            (0, 2),
            "NON_RECOVERABLE, SYSTEM"
        );
    }

    #[test]
    fn times_before_1970_split_toward_zero_like_flytekit() {
        let time = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(
            split_unix_time(time),
            Timestamp {
                seconds: -1,
                nanos: -500_000_000
            }
        );
        assert_eq!(join_unix_time(split_unix_time(time)), time);
        // A normalised protobuf timestamp for the same instant reads the same.
        assert_eq!(
            join_unix_time(Timestamp {
                seconds: -2,
                nanos: 500_000_000
            }),
            time
        );
    }

    #[test]
    fn document_round_trips_through_failure() {
        for failure in [
            ContainerFailure::user("USER:ValueError", "a\nb").with_worker("w"),
            ContainerFailure::system("s").with_timestamp(UNIX_EPOCH - Duration::new(5, 7)),
            ContainerFailure::non_recoverable_system(""),
        ] {
            let document = failure.to_error_document();
            let read = ContainerFailure::from_error_document(&document);
            assert_eq!(read, failure);
            assert_eq!(read.to_error_document(), document);
        }
    }

    #[test]
    fn documents_flytekit_never_writes_are_read_leniently() {
        let empty = ContainerFailure::from_error_document(&ErrorDocument { error: None });
        assert_eq!(empty.code, "SYSTEM");
        assert!(
            empty.message.contains("holds no error"),
            "{}",
            empty.message
        );

        let odd = ContainerFailure::from_error_document(&ErrorDocument {
            error: Some(ContainerError {
                code: "X".into(),
                message: "m".into(),
                kind: 7,
                origin: 0,
                timestamp: None,
                worker: String::new(),
            }),
        });
        assert_eq!(odd.recoverability, Recoverability::NonRecoverable);
        assert_eq!(odd.origin, Origin::System);
        assert_eq!(odd.timestamp, UNIX_EPOCH);
    }

    #[test]
    fn from_error_puts_source_chain_in_trace_and_top_error_in_summary() {
        let error = DownloadFailed(Middle(Leaf));
        let failure = ContainerFailure::from_error(
            Origin::System,
            Recoverability::Recoverable,
            "SYSTEM",
            &error,
        );
        assert_eq!(failure.code, "SYSTEM");
        assert_eq!(failure.origin, Origin::System);
        assert_eq!(
            failure.message,
            "Trace:\n\n    DownloadFailed: could not download the task's inputs\n    Caused by:\n        \
             0: reading s3://bucket/inputs.pb\n        1: connection reset\n           by peer\n\nMessage:\n\n    \
             DownloadFailed: could not download the task's inputs"
        );
    }

    #[test]
    fn from_error_accepts_a_dyn_error_and_names_it_error() {
        let error: Box<dyn std::error::Error + Send + Sync> = Box::new(Leaf);
        let failure = ContainerFailure::from_error(
            Origin::User,
            Recoverability::NonRecoverable,
            "USER:RuntimeError",
            error.as_ref(),
        );
        assert!(
            failure
                .message
                .ends_with("Message:\n\n    Error: connection reset\n    by peer"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn short_type_names_drop_paths_generics_and_bounds() {
        assert_eq!(short_type_name("std::io::error::Error"), "Error");
        assert_eq!(short_type_name("a::b::Wrapper<c::Inner>"), "Wrapper");
        assert_eq!(
            short_type_name("dyn core::error::Error + Send + Sync"),
            "Error"
        );
        assert_eq!(short_type_name("Plain"), "Plain");
    }
}
