//! What a task run produced.

use std::collections::BTreeMap;
use std::path::PathBuf;

use flyte_errors::ContainerFailure;
use flyte_proto::Message;
use flyte_proto::core::{DynamicJobSpec, Literal, LiteralMap};

/// The result of running a task: exactly one of these is written to the output prefix.
///
/// `#[non_exhaustive]`: executors build any variant, but code matching an outcome needs
/// a wildcard arm, so that a new kind of outcome (flytekit's grow) is not a breaking
/// change; [`TaskOutcome::failure`] and [`TaskOutcome::kind`] cover most uses.
///
/// ```
/// use flyte_errors::ContainerFailure;
/// use flyte_proto::literal;
/// use flyte_runtime::TaskOutcome;
///
/// // What an executor's `execute` returns.
/// let done = TaskOutcome::outputs(literal::literal_map([("o0", literal::integer(42))]));
/// let failed = TaskOutcome::Failed(ContainerFailure::user("USER:ValueError", "b must not be 0"));
/// assert_eq!((done.kind(), failed.kind()), ("outputs", "failed"));
/// match &failed {
///     TaskOutcome::Failed(failure) => assert_eq!(failure.code, "USER:ValueError"),
///     _ => unreachable!("matching an outcome needs a wildcard arm"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// The task returned values: written as `outputs.pb`, with the literals it offloaded
    /// beside it.
    Outputs(TaskOutputs),
    /// A dynamic task produced a workflow to run next: written as `futures.pb` (an
    /// encoded `DynamicJobSpec`).
    DynamicJob(Payload),
    /// The task asked for its outputs to be dropped (flytekit's `IgnoreOutputs`):
    /// nothing is written.
    IgnoreOutputs,
    /// The task failed: written as the error document (`error.pb`).
    Failed(ContainerFailure),
    /// The process running the task ended without reporting an outcome (it crashed, was
    /// killed, or exited early): written as the error document, like [`Failed`], and
    /// counted apart in metrics.
    ///
    /// [`Failed`]: TaskOutcome::Failed
    WorkerDied(ContainerFailure),
    /// The task could not even be set up (its resolver did not import, the execution
    /// context could not be built). flytekit crashes here with exit status 1 and writes
    /// nothing; we write the error document too, so the cause is never lost, and still
    /// exit 1 as flytekit does.
    Unrunnable(ContainerFailure),
}

/// An encoded message the pipeline writes as it is, never decoding it: in memory, or in
/// a local file it streams from. A task's outputs can be far larger decoded than encoded
/// (and nested deeper than a decoder allows); passing them through keeps the
/// supervisor's memory flat.
///
/// ```
/// use flyte_proto::{Message, literal};
/// use flyte_runtime::{Payload, TaskOutcome, TaskOutputs};
///
/// // An executor whose worker wrote outputs.pb into a local file passes the file on.
/// let dir = tempfile::tempdir().expect("tempdir");
/// let staged = dir.path().join("outputs.pb");
/// let outputs = literal::literal_map([("o0", literal::string("done"))]);
/// std::fs::write(&staged, outputs.encode_to_vec()).expect("write");
/// let outcome = TaskOutcome::Outputs(TaskOutputs {
///     outputs: Payload::File(staged),
///     offloaded: Default::default(),
/// });
/// # let _ = outcome;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The encoded bytes.
    Bytes(Vec<u8>),
    /// A local file holding them, which must exist until the outcome is written.
    File(PathBuf),
}

impl Payload {
    /// The payload's bytes, read from its file if it is one.
    ///
    /// ```
    /// let payload = flyte_runtime::Payload::Bytes(vec![0x0a, 0x00]);
    /// assert_eq!(payload.to_bytes().expect("in memory"), [0x0a, 0x00]);
    /// let missing = flyte_runtime::Payload::File("/nonexistent/outputs.pb".into());
    /// assert!(missing.to_bytes().is_err());
    /// ```
    pub fn to_bytes(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Payload::Bytes(bytes) => Ok(bytes.clone()),
            Payload::File(path) => std::fs::read(path),
        }
    }
}

/// A task's `outputs.pb` and the offloaded literals it refers to.
///
/// ```
/// use flyte_runtime::{Payload, TaskOutputs};
///
/// let outputs = TaskOutputs::new(&flyte_proto::core::LiteralMap::default());
/// assert!(matches!(outputs.outputs, Payload::Bytes(_)));
/// assert!(outputs.offloaded.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutputs {
    /// The encoded `LiteralMap` of outputs, by output name.
    pub outputs: Payload,
    /// Encoded `Literal`s too large to inline (flytekit's `_F_L_MIN_SIZE_MB`), by the
    /// file name they are written under beside `outputs.pb`
    /// (`<name>_offloaded_metadata.pb`).
    ///
    /// An output that refers to one holds, at the top level of `outputs`, an
    /// offloaded-metadata literal ([`flyte_proto::literal::offloaded`]) whose URI is that
    /// bare file name; the pipeline writes the file and points the URI at where it wrote
    /// it. Executors never decide that location.
    pub offloaded: BTreeMap<String, Payload>,
}

impl TaskOutputs {
    /// Outputs with nothing offloaded.
    ///
    /// ```
    /// use flyte_proto::literal;
    /// let outputs = flyte_runtime::TaskOutputs::new(&literal::literal_map([("o0", literal::integer(1))]));
    /// let bytes = outputs.outputs.to_bytes().expect("in memory");
    /// let decoded: flyte_proto::core::LiteralMap = flyte_proto::io::decode(&bytes).expect("a literal map");
    /// assert_eq!(decoded.literals["o0"].as_integer(), Some(1));
    /// ```
    pub fn new(outputs: &LiteralMap) -> Self {
        TaskOutputs {
            outputs: Payload::Bytes(outputs.encode_to_vec()),
            offloaded: BTreeMap::new(),
        }
    }

    /// Outputs in which `outputs` refers to the offloaded `literals`, by file name: the
    /// pipeline writes each beside `outputs.pb` and points the reference at it.
    ///
    /// ```
    /// use flyte_proto::{Message, literal};
    /// use flyte_runtime::TaskOutputs;
    ///
    /// let big = literal::collection((0..100_000).map(literal::integer));
    /// let file = "o0_offloaded_metadata.pb";
    /// let reference = literal::offloaded(file, big.encoded_len() as u64, None);
    /// let outputs = TaskOutputs::with_offloaded(&literal::literal_map([("o0", reference)]), [(file, &big)]);
    /// assert!(outputs.offloaded.contains_key(file));
    /// ```
    pub fn with_offloaded<'a>(
        outputs: &LiteralMap,
        literals: impl IntoIterator<Item = (&'a str, &'a Literal)>,
    ) -> Self {
        TaskOutputs {
            outputs: Payload::Bytes(outputs.encode_to_vec()),
            offloaded: literals
                .into_iter()
                .map(|(name, literal)| (name.to_owned(), Payload::Bytes(literal.encode_to_vec())))
                .collect(),
        }
    }
}

impl TaskOutcome {
    /// Outputs with nothing offloaded.
    ///
    /// ```
    /// use flyte_proto::literal;
    /// let outcome = flyte_runtime::TaskOutcome::outputs(literal::literal_map([("o0", literal::float(0.5))]));
    /// assert_eq!(outcome.kind(), "outputs");
    /// assert!(outcome.failure().is_none());
    /// ```
    pub fn outputs(outputs: LiteralMap) -> Self {
        TaskOutcome::Outputs(TaskOutputs::new(&outputs))
    }

    /// A dynamic task's job spec, written as `futures.pb`.
    ///
    /// ```
    /// let spec = flyte_proto::core::DynamicJobSpec::default();
    /// let outcome = flyte_runtime::TaskOutcome::dynamic_job(&spec);
    /// assert_eq!(outcome.kind(), "dynamic_job");
    /// ```
    pub fn dynamic_job(spec: &DynamicJobSpec) -> Self {
        TaskOutcome::DynamicJob(Payload::Bytes(spec.encode_to_vec()))
    }

    /// The failure this outcome reports, if it is one (`Failed`, `WorkerDied` and
    /// `Unrunnable` all are).
    ///
    /// ```
    /// use flyte_errors::ContainerFailure;
    /// use flyte_runtime::TaskOutcome;
    /// let died = TaskOutcome::WorkerDied(ContainerFailure::system("killed by SIGKILL"));
    /// assert_eq!(died.failure().map(|f| f.code.as_str()), Some("SYSTEM"));
    /// assert!(TaskOutcome::IgnoreOutputs.failure().is_none());
    /// ```
    pub fn failure(&self) -> Option<&ContainerFailure> {
        match self {
            TaskOutcome::Failed(failure)
            | TaskOutcome::WorkerDied(failure)
            | TaskOutcome::Unrunnable(failure) => Some(failure),
            _ => None,
        }
    }

    /// The same outcome with its failure, if it is one, changed by `change`.
    ///
    /// ```
    /// use flyte_errors::ContainerFailure;
    /// use flyte_runtime::TaskOutcome;
    /// let failed = TaskOutcome::Failed(ContainerFailure::user("USER:ValueError", "bad"))
    ///     .map_failure(|failure| failure.with_worker("worker-2"));
    /// assert_eq!(failed.failure().map(|f| f.worker.as_str()), Some("worker-2"));
    /// ```
    pub fn map_failure(self, change: impl FnOnce(ContainerFailure) -> ContainerFailure) -> Self {
        match self {
            TaskOutcome::Failed(failure) => TaskOutcome::Failed(change(failure)),
            TaskOutcome::WorkerDied(failure) => TaskOutcome::WorkerDied(change(failure)),
            TaskOutcome::Unrunnable(failure) => TaskOutcome::Unrunnable(change(failure)),
            other => other,
        }
    }

    /// A short name for logs and metrics.
    ///
    /// ```
    /// assert_eq!(flyte_runtime::TaskOutcome::IgnoreOutputs.kind(), "ignore_outputs");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            TaskOutcome::Outputs(_) => "outputs",
            TaskOutcome::DynamicJob(_) => "dynamic_job",
            TaskOutcome::IgnoreOutputs => "ignore_outputs",
            TaskOutcome::Failed(_) => "failed",
            TaskOutcome::WorkerDied(_) => "worker_died",
            TaskOutcome::Unrunnable(_) => "unrunnable",
        }
    }
}
