//! The execute pipeline: download inputs, run the executor, write the outcome.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flyte_errors::{ContainerFailure, Origin, Recoverability};
use flyte_proto::Message;
use flyte_proto::files::{FUTURES_FILE, INPUTS_FILE, OUTPUTS_FILE};
use flyte_proto::wire::Limits;
use flyte_storage::{Storage, StorageError};
use flyte_telemetry::{Direction, Metrics, Outcome, Phase};
use tracing::{debug, info, warn};

use crate::outcome::{Payload, TaskOutputs};
use crate::stop::{Stop, StopRequest};
use crate::termination::{failure_summary, write_termination_message};
use crate::{Executor, Prepared, TaskContext, TaskInputs, TaskLocations, TaskOutcome};

/// One run: where the task's data lives, and the policies flytekit takes from its
/// environment. Built by the caller (the binary reads argv and env; this crate never does).
///
/// `#[non_exhaustive]`: policies will be added; build one with [`RunSettings::new`] and
/// set the fields that differ from flytekit's defaults.
///
/// ```
/// use flyte_runtime::{RunSettings, TaskLocations, stop_channel};
///
/// let mut settings = RunSettings::new(
///     TaskLocations::new("s3://bucket/meta/n0/inputs.pb", "s3://bucket/meta/n0/0"),
///     "/tmp/run-1234",
/// );
/// // FLYTE_FAIL_ON_ERROR=true, a pod's termination message, SIGTERM handled by the caller.
/// settings.fail_on_error = true;
/// settings.termination_message_path = Some("/dev/termination-log".into());
/// let (_sender, stop) = stop_channel();
/// settings.stop = stop;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunSettings {
    /// Where the inputs are read and the outcome written (the pipeline's own business),
    /// and what the executor is told about the task's other data.
    pub task: TaskLocations,
    /// flytekit's `--test`: load the task, then stop; nothing is read, run or written.
    pub dry_run: bool,
    /// A local directory this run may use for its own files (the inputs copy).
    pub scratch_dir: PathBuf,
    /// The error document's file name: `error.pb`, or `error-<uuid>.pb` under the
    /// distributed error strategy (see [`flyte_errors::error_file_name`]).
    pub error_file_name: String,
    /// The worker name stamped on failures this pipeline reports itself (flytekit sets it
    /// only under the distributed error strategy).
    pub worker_name: String,
    /// flytekit's `FLYTE_FAIL_ON_ERROR`: exit 1 after writing an error document.
    pub fail_on_error: bool,
    /// A stop requested from outside (the pod is being stopped): the run ends within
    /// the request's grace, see [`run_task`]. [`Stop::never`] by default.
    pub stop: Stop,
    /// The container's termination message file (Kubernetes' `terminationMessagePath`),
    /// which receives a summary of every failure, and why nothing could be written when
    /// the error document could not be; `None` writes none.
    pub termination_message_path: Option<PathBuf>,
}

impl RunSettings {
    /// Settings with flytekit's defaults for everything but the task's locations and the
    /// scratch directory: a real run, `error.pb`, no worker name, exit 0 after an error
    /// document, never stopped, no termination message.
    ///
    /// ```
    /// use flyte_runtime::{RunSettings, TaskLocations};
    /// let settings = RunSettings::new(TaskLocations::new("/in/inputs.pb", "/out"), "/tmp/scratch");
    /// assert_eq!(settings.error_file_name, "error.pb");
    /// assert!(!settings.dry_run && !settings.fail_on_error);
    /// assert!(settings.stop.requested().is_none());
    /// ```
    pub fn new(task: TaskLocations, scratch_dir: impl Into<PathBuf>) -> Self {
        RunSettings {
            task,
            dry_run: false,
            scratch_dir: scratch_dir.into(),
            error_file_name: flyte_errors::error_file_name(false),
            worker_name: String::new(),
            fail_on_error: false,
            stop: Stop::never(),
            termination_message_path: None,
        }
    }
}

/// What a finished run did. `#[non_exhaustive]`: only [`run_task`] makes one, and it may
/// report more. A binary exits with [`exit_code`](Self::exit_code).
///
/// ```no_run
/// # async fn demo(executor: impl flyte_runtime::Executor, storage: flyte_storage::Storage,
/// #     settings: flyte_runtime::RunSettings) -> Result<(), flyte_runtime::PipelineError> {
/// let report = flyte_runtime::run_task(executor, &storage, &settings, &flyte_telemetry::Metrics::disabled()).await?;
/// eprintln!("{}: wrote {:?}", report.outcome_kind, report.written);
/// std::process::exit(report.exit_code);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// [`TaskOutcome::kind`] of the outcome, or `"dry_run"`.
    pub outcome_kind: &'static str,
    /// The process exit status flytekit would end with.
    pub exit_code: i32,
    /// Names of the files written under the output prefix.
    pub written: Vec<String>,
}

/// The code of a run stopped from outside before its task ended.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use flyte_runtime::{FnExecutor, RunSettings, STOPPED_CODE, StopRequest, TaskLocations, run_task, stop_channel};
///
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("out");
/// let mut settings = RunSettings::new(TaskLocations::new("/nonexistent/inputs.pb", out.display().to_string()), dir.path());
/// let (sender, stop) = stop_channel();
/// settings.stop = stop;
/// // SIGTERM before the run even started.
/// sender.request(StopRequest::new("SIGTERM", Duration::from_secs(30)));
/// let task = FnExecutor::new(|_, inputs| async move { Ok::<_, std::io::Error>(inputs) });
/// run_task(task, &flyte_storage::Storage::default(), &settings, &flyte_telemetry::Metrics::disabled()).await?;
/// let error = flyte_proto::io::read_error_document(out.join("error.pb"))?.error.expect("an error");
/// assert_eq!(error.code, STOPPED_CODE);
/// # Ok(())
/// # }
/// ```
pub const STOPPED_CODE: &str = "SYSTEM:Stopped";

/// A run that could not record its outcome. Everything else becomes an error document.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use flyte_errors::ContainerFailure;
/// use flyte_runtime::PipelineError;
///
/// // An output prefix under a regular file: not even the error document can be written.
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("file"), b"")?;
/// let prefix = dir.path().join("file/out").display().to_string();
/// let storage = flyte_storage::Storage::default();
/// let error = flyte_runtime::write_failure(&storage, &prefix, ContainerFailure::system("x"))
///     .await
///     .unwrap_err();
/// assert!(matches!(error, PipelineError::WriteOutcome { .. }));
/// // The binary says why with the whole chain, each cause once.
/// let why = flyte_errors::Chain(&error).to_string();
/// assert!(why.starts_with("could not write error.pb under the output prefix"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The run was stopped, and writing its outcome outlasted the stop's grace.
    #[error(
        "could not write {file} under the output prefix {output_prefix} before the grace of {cause} ran out"
    )]
    StoppedWriting {
        /// The file being written.
        file: String,
        /// The output prefix.
        output_prefix: String,
        /// What stopped the run (`SIGTERM`).
        cause: String,
    },
    /// Writing to the output prefix failed, so not even an error document could be left.
    #[error("could not write {file} under the output prefix {output_prefix}")]
    WriteOutcome {
        /// The file being written.
        file: String,
        /// The output prefix.
        output_prefix: String,
        /// Why the write failed.
        #[source]
        source: StorageError,
    },
    /// The local scratch directory could not be created, in a dry run (which writes
    /// nothing). Any other run writes this as its error document instead.
    #[error(
        "could not create the scratch directory {path}: check that the temp directory is writable"
    )]
    Scratch {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// After a stop, how much longer than the stop's grace an executor running the task
/// gets to report how it ended: its own account (a worker's last stderr lines) says
/// more than ours, and it ends the task itself at the grace.
const STOP_EXECUTOR_MARGIN: Duration = Duration::from_secs(1);
/// After a stop, writing the error document gets what remains of the grace, and at
/// least this long.
const STOP_WRITE_FLOOR: Duration = Duration::from_secs(5);
/// After a stop, how long the executor's shutdown may take.
const STOP_SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);

/// Runs one task with `executor` and writes its outcome under the output prefix.
///
/// This function alone decides the URI of everything it writes: the outcome goes to the
/// output prefix, or to the subdirectory of it the executor named while preparing, and
/// offloaded literals beside it, all joined with [`flyte_storage::join`].
///
/// Returns `Err` only when the outcome itself cannot be written; every failure of the
/// task, of its loading, of its inputs, of the executor (a panic included) or of the
/// run's own set-up (its scratch directory) becomes an error document instead. The
/// one exception is a dry run, which writes nothing: there a scratch directory that
/// cannot be created is [`PipelineError::Scratch`]. On every failure, and when nothing
/// could be written, a summary goes to the termination message file
/// ([`RunSettings::termination_message_path`]).
///
/// A stop requested on [`RunSettings::stop`] ends every phase: loading the task and
/// downloading the inputs at once, the task when the stop's grace is over (the
/// executor, told of the stop by its own means, usually ends it sooner), the outputs
/// upload when the grace is over. The run then writes an error document saying it was
/// stopped (`SYSTEM:Stopped`, recoverable), taking what remains of the grace (at least
/// a few seconds) to write it, and returns.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use flyte_proto::{core::LiteralMap, io, literal};
/// use flyte_runtime::{FnExecutor, RunSettings, TaskContext, TaskLocations, run_task};
/// use flyte_storage::{MemoryStore, Storage};
///
/// // Inputs and outputs in memory; in a pod they are s3://, gs:// or abfs:// URIs.
/// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
/// let inputs = literal::literal_map([("name", literal::string("flyte"))]);
/// storage.put_bytes("mem://meta/n0/inputs.pb", io::encode(&inputs)).await?;
///
/// let greet = FnExecutor::new(|_context: TaskContext, inputs: LiteralMap| async move {
///     let name = inputs.literals.get("name").and_then(|l| l.as_str()).ok_or("input `name` is missing")?;
///     Ok::<_, &'static str>(literal::literal_map([("o0", literal::string(format!("hello {name}")))]))
/// });
/// let scratch = tempfile::tempdir()?;
/// let settings = RunSettings::new(TaskLocations::new("mem://meta/n0/inputs.pb", "mem://meta/n0/0"), scratch.path());
/// let report = run_task(greet, &storage, &settings, &flyte_telemetry::Metrics::disabled()).await?;
/// assert_eq!((report.outcome_kind, report.exit_code), ("outputs", 0));
/// assert_eq!(report.written, ["outputs.pb"]);
/// let outputs: LiteralMap = io::decode(&storage.get_bytes("mem://meta/n0/0/outputs.pb").await?)?;
/// assert_eq!(outputs.literals["o0"].as_str(), Some("hello flyte"));
/// # Ok(())
/// # }
/// ```
pub async fn run_task<E: Executor>(
    executor: E,
    storage: &Storage,
    settings: &RunSettings,
    metrics: &Metrics,
) -> Result<RunReport, PipelineError> {
    let result = run(executor, storage, settings, metrics).await;
    if let (Err(error), Some(path)) = (&result, &settings.termination_message_path) {
        // A failure's own summary was written with the error; this is for a dry run
        // that never got that far (the scratch directory).
        if matches!(error, PipelineError::Scratch { .. }) {
            write_termination_message(path, &flyte_errors::Chain(error).to_string());
        }
    }
    result
}

async fn run<E: Executor>(
    mut executor: E,
    storage: &Storage,
    settings: &RunSettings,
    metrics: &Metrics,
) -> Result<RunReport, PipelineError> {
    let (outcome, output_subdirectory) = match make_scratch_dirs(settings) {
        Ok(task_scratch) => {
            match run_phases(&mut executor, storage, settings, metrics, task_scratch).await {
                Some(ran) => ran,
                None => {
                    shut_down(&mut executor, &settings.stop).await;
                    info!("dry run (--test): task loaded, nothing executed or written");
                    return Ok(RunReport {
                        outcome_kind: "dry_run",
                        exit_code: 0,
                        written: Vec::new(),
                    });
                }
            }
        }
        // A dry run writes nothing, not even this.
        Err(error) if settings.dry_run => {
            shut_down(&mut executor, &settings.stop).await;
            return Err(error);
        }
        Err(error) => {
            tracing::error!("{}", flyte_errors::Chain(&error));
            (TaskOutcome::Failed(scratch_failure(&error)), None)
        }
    };
    let stop = &settings.stop;

    // Before the outputs move: what the task never read only takes bandwidth and disk.
    cancel_prefetches(storage, settings).await;
    let outcome = stamp_worker(outcome, &settings.worker_name);
    let outcome_prefix = match &output_subdirectory {
        Some(subdirectory) => flyte_storage::join(&settings.task.output_prefix, subdirectory),
        None => settings.task.output_prefix.clone(),
    };
    let timer = metrics.start(Phase::OutputsUpload);
    let (outcome, written) =
        write_outcome_or_stop(storage, settings, &outcome_prefix, outcome).await;
    timer.finish();
    if let Some(path) = &settings.termination_message_path {
        let not_written = written
            .as_ref()
            .err()
            .map(|error| flyte_errors::Chain(error).to_string());
        match outcome.failure() {
            Some(failure) => {
                write_termination_message(path, &failure_summary(failure, not_written.as_deref()));
            }
            None => {
                if let Some(why) = &not_written {
                    write_termination_message(path, why);
                }
            }
        }
    }
    shut_down(&mut executor, stop).await;
    let (written, bytes) = written?;
    metrics.bytes(Direction::Upload, bytes);
    metrics.outcome(metric_outcome(&outcome));

    let exit_code = match &outcome {
        TaskOutcome::Unrunnable(_) => 1,
        TaskOutcome::Failed(_) | TaskOutcome::WorkerDied(_) if settings.fail_on_error => 1,
        _ => 0,
    };
    info!(outcome = outcome.kind(), files = ?written, output_prefix = %outcome_prefix, "task run finished");
    Ok(RunReport {
        outcome_kind: outcome.kind(),
        exit_code,
        written,
    })
}

/// Creates the run's scratch directory and the task's inside it; returns the task's.
fn make_scratch_dirs(settings: &RunSettings) -> Result<PathBuf, PipelineError> {
    let task_scratch = task_scratch_dir(settings);
    for dir in [&settings.scratch_dir, &task_scratch] {
        std::fs::create_dir_all(dir).map_err(|source| PipelineError::Scratch {
            path: dir.clone(),
            source,
        })?;
    }
    Ok(task_scratch)
}

/// The failure of a run whose scratch directory could not be made: the node's local
/// disk (read-only, full, a temp directory this user may not write), not the task's
/// code or data, so a system failure; recoverable, as flytekit's catch-all reports
/// errors outside user code, because a retry runs in a new pod, often on another node.
fn scratch_failure(error: &PipelineError) -> ContainerFailure {
    ContainerFailure::from_error(
        Origin::System,
        Recoverability::Recoverable,
        flyte_errors::codes::SYSTEM,
        error,
    )
}

/// Loads the task while the inputs download, then runs it, each phase raced against
/// the stop; returns the outcome and the output subdirectory the executor named, or
/// `None` when a dry run loaded the task and is done.
async fn run_phases<E: Executor>(
    executor: &mut E,
    storage: &Storage,
    settings: &RunSettings,
    metrics: &Metrics,
    task_scratch: PathBuf,
) -> Option<(TaskOutcome, Option<String>)> {
    let context = TaskContext::new(storage.clone(), settings.task.clone(), task_scratch);
    let stop = &settings.stop;

    let loaded = AtomicBool::new(false);
    let prepare = async {
        let timer = metrics.start(Phase::WorkerStart);
        let prepared = crate::panic::catching(executor.prepare(&context, settings.dry_run))
            .await
            .unwrap_or_else(|panic| {
                Prepared::ended(TaskOutcome::Failed(crate::panic::executor_failure(
                    "preparing the task",
                    panic.as_ref(),
                )))
            });
        timer.finish();
        loaded.store(true, Ordering::Relaxed);
        prepared
    };
    let ran = if settings.dry_run {
        // flytekit's --test loads the resolver and stops; it never reads the inputs.
        let prepared = tokio::select! {
            biased;
            request = stop.wait() => Err(request),
            prepared = prepare => Ok(prepared),
        };
        match prepared {
            Err(request) => (stopped(&request, "while the task was being loaded"), None),
            Ok(prepared) => match prepared.early_outcome {
                None => return None,
                Some(outcome) => (outcome, prepared.output_subdirectory),
            },
        }
    } else {
        let downloaded = AtomicBool::new(false);
        let download = async {
            let timer = metrics.start(Phase::InputsDownload);
            let inputs = download_inputs(storage, settings).await;
            timer.finish();
            if let Ok((inputs, _)) = &inputs {
                start_prefetches(storage, &inputs.local_path, &prefetch_dir(settings));
            }
            downloaded.store(true, Ordering::Relaxed);
            inputs
        };
        let both = async { tokio::join!(prepare, download) };
        let ready = tokio::select! {
            biased;
            request = stop.wait() => Err(request),
            both = both => Ok(both),
        };
        match ready {
            Err(request) => {
                let phase = match (
                    loaded.load(Ordering::Relaxed),
                    downloaded.load(Ordering::Relaxed),
                ) {
                    (true, _) => "while the task's inputs were being downloaded",
                    (false, true) => "while the task was being loaded",
                    (false, false) => "while the task was being loaded and its inputs downloaded",
                };
                (stopped(&request, phase), None)
            }
            Ok((prepared, inputs)) => {
                let outcome = match (prepared.early_outcome, inputs) {
                    (Some(outcome), _) => outcome,
                    (None, Err(failure)) => TaskOutcome::Failed(failure),
                    (None, Ok((inputs, bytes))) => {
                        metrics.bytes(Direction::Download, bytes);
                        let timer = metrics.start(Phase::TaskExecution);
                        let outcome = tokio::select! {
                            outcome = crate::panic::catching(executor.execute(inputs)) => {
                                outcome.unwrap_or_else(|panic| {
                                    TaskOutcome::Failed(crate::panic::executor_failure(
                                        "running the task",
                                        panic.as_ref(),
                                    ))
                                })
                            }
                            request = executor_cut_off(stop) => stopped(
                                &request,
                                "while the task ran, and the task did not end within the grace",
                            ),
                        };
                        timer.finish();
                        outcome
                    }
                };
                (outcome, prepared.output_subdirectory)
            }
        }
    };
    Some(ran)
}

/// Resolves when an executor running the task has had the stop's grace, and a margin
/// to report how the task ended.
async fn executor_cut_off(stop: &Stop) -> StopRequest {
    let request = stop.grace_over().await;
    tokio::time::sleep(STOP_EXECUTOR_MARGIN).await;
    request
}

/// The executor's shutdown; bounded once a stop is requested, since the outcome is
/// written by then and the pod's grace is running out.
async fn shut_down<E: Executor>(executor: &mut E, stop: &Stop) {
    let limit = async {
        stop.wait().await;
        tokio::time::sleep(STOP_SHUTDOWN_LIMIT).await;
    };
    tokio::select! {
        shut = crate::panic::catching(executor.shutdown()) => {
            // The outcome is written by now: a panic here only goes to the log.
            if let Err(panic) = shut {
                warn!(
                    "the executor panicked while shutting down: {}",
                    crate::panic::message(panic.as_ref())
                );
            }
        }
        () = limit => warn!(
            "the executor did not shut down within {STOP_SHUTDOWN_LIMIT:?} of the stop; leaving it"
        ),
    }
}

/// Writes `outcome`, racing the stop: a stop whose grace runs out while outputs are
/// uploaded replaces them with an error document saying so, and an error document
/// whose write outlasts what remains of the grace is given up. Returns the outcome
/// actually written (or tried).
async fn write_outcome_or_stop(
    storage: &Storage,
    settings: &RunSettings,
    outcome_prefix: &str,
    outcome: TaskOutcome,
) -> (TaskOutcome, Result<(Vec<String>, u64), PipelineError>) {
    let stop = &settings.stop;
    if outcome.failure().is_some() {
        let written = bounded_by_stop(
            stop,
            &settings.error_file_name,
            outcome_prefix,
            write_outcome(storage, settings, outcome_prefix, &outcome),
        )
        .await;
        return (outcome, written);
    }
    let request = tokio::select! {
        biased;
        written = write_outcome(storage, settings, outcome_prefix, &outcome) => {
            return (outcome, written);
        }
        request = stop.grace_over() => request,
    };
    let outcome = stopped(&request, "while the task's outputs were being uploaded");
    let written = bounded_by_stop(
        stop,
        &settings.error_file_name,
        outcome_prefix,
        write_outcome(storage, settings, outcome_prefix, &outcome),
    )
    .await;
    (outcome, written)
}

/// `write`, given up once a stop has been requested and both what remained of its
/// grace and [`STOP_WRITE_FLOOR`] from then are over.
async fn bounded_by_stop(
    stop: &Stop,
    file: &str,
    outcome_prefix: &str,
    write: impl Future<Output = Result<(Vec<String>, u64), PipelineError>>,
) -> Result<(Vec<String>, u64), PipelineError> {
    let started = tokio::time::Instant::now();
    let limit = async {
        let request = stop.wait().await;
        let floor = started.max(request.received_at) + STOP_WRITE_FLOOR;
        let until = request
            .deadline()
            .map_or(floor, |deadline| deadline.max(floor));
        tokio::time::sleep_until(until).await;
        request
    };
    tokio::select! {
        biased;
        written = write => written,
        request = limit => Err(PipelineError::StoppedWriting {
            file: file.to_owned(),
            output_prefix: outcome_prefix.to_owned(),
            cause: request.cause,
        }),
    }
}

/// The failure of a run stopped from outside `phase` ("while …"): the platform's
/// doing, so a recoverable system failure, which Flyte retries.
fn stopped(request: &StopRequest, phase: &str) -> TaskOutcome {
    let message = format!(
        "the run was stopped by {} {phase} (the pod is being stopped: deleted, preempted or \
         evicted, or its node drained), so the task did not finish; this is a recoverable \
         system failure, which Flyte retries while the task has retries left",
        request.cause
    );
    tracing::error!("{message}");
    TaskOutcome::Failed(ContainerFailure {
        code: STOPPED_CODE.to_owned(),
        ..ContainerFailure::system(flyte_errors::format_trace_message(
            &format!("{} received by the supervisor\n", request.cause),
            "Stopped",
            &message,
        ))
    })
}

/// Writes the error document for `failure` under `output_prefix`, for a run that failed
/// before it could start (for example, the code archive of a fast-registered task could
/// not be installed). The file is [`flyte_proto::files::ERROR_FILE`] unless the failure
/// names a worker: then, as under flytekit's distributed error strategy, it is
/// `error-<uuid>.pb` (see [`flyte_errors::error_file_name`]), so workers never overwrite
/// each other's documents. Returns the URI written.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use flyte_errors::ContainerFailure;
/// use flyte_storage::{Storage, StorageConfig};
///
/// let dir = tempfile::tempdir()?;
/// let storage = Storage::new(StorageConfig::default());
/// let prefix = dir.path().display().to_string();
/// let failure = ContainerFailure::system("the code archive could not be unpacked");
/// let uri = flyte_runtime::write_failure(&storage, &prefix, failure).await?;
/// assert!(uri.ends_with("/error.pb"));
/// # Ok(())
/// # }
/// ```
pub async fn write_failure(
    storage: &Storage,
    output_prefix: &str,
    failure: ContainerFailure,
) -> Result<String, PipelineError> {
    let file = flyte_errors::error_file_name(!failure.worker.is_empty());
    log_failure(&failure, &file);
    let uri = flyte_storage::join(output_prefix, &file);
    storage
        .put_bytes(&uri, failure.to_error_document().encode_to_vec())
        .await
        .map_err(|source| PipelineError::WriteOutcome {
            file,
            output_prefix: output_prefix.to_owned(),
            source,
        })?;
    Ok(uri)
}

/// How the outcome counts in the entrypoint's metrics.
fn metric_outcome(outcome: &TaskOutcome) -> Outcome {
    match outcome.failure() {
        None => Outcome::Success,
        Some(_) if matches!(outcome, TaskOutcome::WorkerDied(_)) => Outcome::WorkerDied,
        Some(failure) if failure.origin == Origin::User => Outcome::UserError,
        Some(_) => Outcome::SystemError,
    }
}

/// The task's own scratch directory ([`TaskContext::scratch_dir`]): under the run's, beside
/// the pipeline's files, so the task cannot clobber the inputs copy or the prefetches.
fn task_scratch_dir(settings: &RunSettings) -> PathBuf {
    settings.scratch_dir.join("task")
}

/// Where the inputs' data is prefetched: under the run's scratch directory.
fn prefetch_dir(settings: &RunSettings) -> PathBuf {
    settings.scratch_dir.join("prefetch")
}

/// Starts prefetching every file, directory and dataset in the inputs that lives in an
/// object store (a local one gains nothing from a copy), so that their downloads overlap
/// the worker's start; the task's first access through storage is served from the copy.
/// Starts downloads in the background and returns; a prefetch never fails the run.
fn start_prefetches(storage: &Storage, inputs: &std::path::Path, into: &std::path::Path) {
    let inputs = match flyte_proto::io::read_literal_map(inputs) {
        Ok(inputs) => inputs,
        Err(error) => {
            debug!("inputs not prefetched: {error}");
            return;
        }
    };
    let mut started = 0usize;
    flyte_proto::visit::for_each_uri(&inputs, |kind, uri| {
        let data = matches!(
            kind,
            flyte_proto::visit::UriKind::Blob | flyte_proto::visit::UriKind::StructuredDataset
        );
        let remote = flyte_storage::StorageUri::parse(uri)
            .is_ok_and(|parsed| parsed.scheme() != flyte_storage::Scheme::File);
        if data && remote && storage.prefetch(uri, into) {
            debug!(uri, "prefetching an input");
            started += 1;
        }
    });
    if started > 0 {
        info!(
            inputs = started,
            "prefetching the task's inputs while it starts"
        );
    }
}

/// Stops the prefetches still running and deletes every prefetched copy the task did
/// not take, so nothing is left in the scratch space.
async fn cancel_prefetches(storage: &Storage, settings: &RunSettings) {
    let prefetches = storage.cancel_prefetches().await;
    let dir = prefetch_dir(settings);
    if let Err(error) = tokio::fs::remove_dir_all(&dir).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        warn!(path = %dir.display(), "could not delete the prefetch directory: {error}");
    }
    if prefetches > 0 {
        debug!(
            prefetches,
            "prefetches not used by the task cancelled and deleted"
        );
    }
}

/// Downloads `inputs.pb` and checks that it decodes. Failures are system failures, as
/// in flytekit.
async fn download_inputs(
    storage: &Storage,
    settings: &RunSettings,
) -> Result<(TaskInputs, u64), ContainerFailure> {
    let inputs_uri = &settings.task.inputs;
    let local_path = settings.scratch_dir.join(INPUTS_FILE);
    let uri = || inputs_uri.clone();
    let result = async {
        let bytes = storage
            .get_file(inputs_uri, &local_path)
            .await
            .map_err(|source| InputsError::Download { uri: uri(), source })?;
        debug!(inputs = %inputs_uri, bytes, "inputs downloaded");
        // Checked here, so a corrupt file is reported as the inputs' fault whatever the
        // executor; streamed, so memory does not grow with the inputs' size or depth.
        flyte_proto::wire::check_file(&local_path, LITERAL_MAP, Limits::default())
            .map_err(|source| InputsError::Invalid { uri: uri(), source })?;
        Ok((TaskInputs::new(&local_path), bytes))
    };
    result.await.map_err(|error: InputsError| {
        tracing::error!("{}", flyte_errors::Chain(&error));
        ContainerFailure::from_error(
            Origin::System,
            Recoverability::Recoverable,
            flyte_errors::codes::SYSTEM,
            &error,
        )
    })
}

/// Why the inputs could not be had; system failures, as in flytekit.
#[derive(Debug, thiserror::Error)]
enum InputsError {
    /// The download failed.
    #[error("could not download the task's inputs from {uri}")]
    Download {
        uri: String,
        #[source]
        source: StorageError,
    },
    /// The bytes are not a LiteralMap.
    #[error("the task's inputs at {uri} are not a valid flyteidl.core.LiteralMap")]
    Invalid {
        uri: String,
        #[source]
        source: flyte_proto::wire::WireError,
    },
}

/// Failures the pipeline or the supervisor made carry the configured worker name;
/// failures flytekit made already carry flytekit's.
fn stamp_worker(outcome: TaskOutcome, worker_name: &str) -> TaskOutcome {
    outcome.map_failure(|failure| stamp(failure, worker_name))
}

/// `failure` attributed to `worker_name` unless flytekit already named its worker.
fn stamp(failure: ContainerFailure, worker_name: &str) -> ContainerFailure {
    if failure.worker.is_empty() {
        failure.with_worker(worker_name)
    } else {
        failure
    }
}

/// Writes the outcome's files under `outcome_prefix`, returning their names and the
/// bytes written.
async fn write_outcome(
    storage: &Storage,
    settings: &RunSettings,
    outcome_prefix: &str,
    outcome: &TaskOutcome,
) -> Result<(Vec<String>, u64), PipelineError> {
    if let Some(failure) = outcome.failure() {
        log_failure(failure, &settings.error_file_name);
    }
    let files = match outcome_files(outcome_prefix, &settings.error_file_name, outcome) {
        Ok(files) => files,
        // An outcome whose own files cannot be read is reported instead of lost.
        Err(failure) => {
            log_failure(&failure, &settings.error_file_name);
            vec![error_file(&settings.error_file_name, &failure)]
        }
    };
    if matches!(outcome, TaskOutcome::IgnoreOutputs) {
        warn!("the task raised IgnoreOutputs: no outputs are written");
    }

    let mut written = Vec::with_capacity(files.len());
    let mut total_bytes = 0;
    for (name, payload) in files {
        let uri = flyte_storage::join(outcome_prefix, &name);
        let result = match payload {
            Payload::Bytes(bytes) => {
                let len = bytes.len() as u64;
                storage.put_bytes(&uri, bytes).await.map(|()| len)
            }
            Payload::File(path) => storage.put_file(&path, &uri).await,
        };
        total_bytes += result.map_err(|source| PipelineError::WriteOutcome {
            file: name.clone(),
            output_prefix: outcome_prefix.to_owned(),
            source,
        })?;
        written.push(name);
    }
    Ok((written, total_bytes))
}

/// The files an outcome is written as, in the order they must be written. References
/// to offloaded literals in outputs.pb are pointed at where the pipeline writes them.
fn outcome_files(
    outcome_prefix: &str,
    error_file_name: &str,
    outcome: &TaskOutcome,
) -> Result<Vec<(String, Payload)>, ContainerFailure> {
    Ok(match outcome {
        TaskOutcome::Outputs(TaskOutputs { outputs, offloaded }) => {
            // Offloaded literals first: outputs.pb refers to them, so they must exist
            // by the time a reader sees it.
            let mut files: Vec<(String, Payload)> = offloaded
                .iter()
                .map(|(name, payload)| (name.clone(), payload.clone()))
                .collect();
            let outputs = if offloaded.is_empty() {
                outputs.clone()
            } else {
                let bytes = outputs.to_bytes().map_err(|error| {
                    ContainerFailure::system(format!(
                        "could not read the task's outputs.pb: {}",
                        flyte_errors::Chain(&error)
                    ))
                })?;
                let rewritten = flyte_proto::wire::rewrite_offloaded_uris(&bytes, |uri| {
                    offloaded
                        .contains_key(uri)
                        .then(|| flyte_storage::join(outcome_prefix, uri))
                })
                .map_err(|error| {
                    ContainerFailure::system(format!(
                        "the task's outputs.pb is not a valid flyteidl.core.LiteralMap: {}",
                        flyte_errors::Chain(&error)
                    ))
                })?;
                Payload::Bytes(rewritten)
            };
            files.push((OUTPUTS_FILE.to_owned(), outputs));
            files
        }
        TaskOutcome::DynamicJob(spec) => vec![(FUTURES_FILE.to_owned(), spec.clone())],
        TaskOutcome::IgnoreOutputs => Vec::new(),
        TaskOutcome::Failed(failure)
        | TaskOutcome::WorkerDied(failure)
        | TaskOutcome::Unrunnable(failure) => vec![error_file(error_file_name, failure)],
    })
}

/// The error document for `failure`, named `error_file_name`.
fn error_file(error_file_name: &str, failure: &ContainerFailure) -> (String, Payload) {
    (
        error_file_name.to_owned(),
        Payload::Bytes(failure.to_error_document().encode_to_vec()),
    )
}

/// One line at error level; the message itself (a long traceback flytekit has usually
/// logged already) only at debug level.
fn log_failure(failure: &ContainerFailure, file: &str) {
    tracing::error!(
        code = %failure.code,
        origin = ?failure.origin,
        recoverability = ?failure.recoverability,
        "task failed; writing {file}"
    );
    debug!("{file} message:\n{}", failure.message);
}

/// The message inputs.pb and outputs.pb hold.
const LITERAL_MAP: &str = "flyteidl.core.LiteralMap";

#[cfg(test)]
mod tests {
    #[test]
    fn pipeline_errors_print_their_cause_once_in_a_chain() {
        let scratch = PipelineError::Scratch {
            path: "/scratch".into(),
            source: std::io::Error::other("read-only file system"),
        };
        let chain = flyte_errors::Chain(&scratch).to_string();
        assert_eq!(chain.matches("read-only file system").count(), 1, "{chain}");
        let write = PipelineError::WriteOutcome {
            file: "error.pb".into(),
            output_prefix: "s3://b/out".into(),
            source: StorageError::NotFound {
                uri: "s3://b/out/error.pb".into(),
            },
        };
        let chain = flyte_errors::Chain(&write).to_string();
        assert_eq!(chain.matches("no object at").count(), 1, "{chain}");
    }

    use flyte_proto::core::ContainerError;
    use flyte_proto::literal;
    use flyte_storage::StorageConfig;

    use flyte_proto::core::LiteralMap;

    use super::*;
    use crate::Prepared;

    /// An executor whose task is a closure from the inputs to any outcome, for the
    /// outcomes an [`FnExecutor`](crate::FnExecutor) never returns.
    struct Returns<F>(F);

    impl<F: FnMut(LiteralMap) -> TaskOutcome + Send> Executor for Returns<F> {
        async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
            (self.0)(inputs.literals().expect("the pipeline checked the inputs"))
        }
    }

    fn settings(dir: &std::path::Path) -> RunSettings {
        RunSettings::new(
            TaskLocations::new(
                dir.join("inputs.pb").display().to_string(),
                dir.join("out").display().to_string(),
            ),
            dir.join("scratch"),
        )
    }

    fn write_inputs(dir: &std::path::Path) {
        let inputs = literal::literal_map([("a", literal::integer(7))]);
        flyte_proto::io::write_literal_map(dir.join("inputs.pb"), &inputs).expect("write inputs");
    }

    /// Runs `executor` on local storage with metrics off.
    async fn run(executor: impl Executor, settings: &RunSettings) -> RunReport {
        let storage = Storage::new(StorageConfig::default());
        run_task(executor, &storage, settings, &Metrics::disabled())
            .await
            .expect("run")
    }

    /// The error document written under `<dir>/out`.
    fn error_written(dir: &std::path::Path, file: &str) -> ContainerError {
        let document = flyte_proto::io::read_error_document(dir.join("out").join(file))
            .expect("error document");
        document.error.expect("container error")
    }

    #[tokio::test]
    async fn missing_inputs_pb_writes_a_system_error_document_naming_the_uri() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = settings(dir.path());
        let executor = Returns(|_| unreachable!("the task must not run without inputs"));
        let report = run(executor, &settings).await;
        assert_eq!((report.outcome_kind, report.exit_code), ("failed", 0));
        let error = error_written(dir.path(), "error.pb");
        assert_eq!(error.code, "SYSTEM");
        assert!(
            error.message.contains(&settings.task.inputs),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn corrupt_inputs_pb_writes_a_system_error_document() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("inputs.pb"),
            b"\xff\xff\xff not a literal map",
        )
        .expect("write");
        let executor = Returns(|_| unreachable!("the task must not run on corrupt inputs"));
        let report = run(executor, &settings(dir.path())).await;
        assert_eq!(report.written, vec!["error.pb".to_owned()]);
        assert!(
            error_written(dir.path(), "error.pb")
                .message
                .contains("inputs.pb")
        );
    }

    #[tokio::test]
    async fn a_load_failure_wins_over_an_inputs_failure_as_in_flytekit() {
        struct FailsToLoad;
        impl Executor for FailsToLoad {
            async fn prepare(&mut self, _: &TaskContext, _: bool) -> Prepared {
                Prepared::ended(TaskOutcome::Failed(ContainerFailure::user(
                    "USER:RuntimeError",
                    "no module named app",
                )))
            }
            async fn execute(&mut self, _: TaskInputs) -> TaskOutcome {
                unreachable!("never prepared")
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        run(FailsToLoad, &settings(dir.path())).await;
        assert_eq!(
            error_written(dir.path(), "error.pb").code,
            "USER:RuntimeError"
        );
    }

    /// An executor that panics while preparing or while executing, and records that
    /// it was shut down.
    struct Panics {
        while_preparing: bool,
        shut_down: std::sync::Arc<AtomicBool>,
    }

    impl Executor for Panics {
        async fn prepare(&mut self, _: &TaskContext, _: bool) -> Prepared {
            if self.while_preparing {
                panic!("the loader's state is inconsistent");
            }
            Prepared::ready()
        }
        async fn execute(&mut self, _: TaskInputs) -> TaskOutcome {
            let index = usize::MAX;
            panic!("index {index} out of range");
        }
        async fn shutdown(&mut self) {
            self.shut_down.store(true, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn an_executor_panicking_while_preparing_or_executing_writes_a_system_error_document() {
        for (while_preparing, doing, message) in [
            (
                true,
                "preparing the task",
                "the loader's state is inconsistent".to_owned(),
            ),
            (
                false,
                "running the task",
                format!("index {} out of range", usize::MAX),
            ),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            write_inputs(dir.path());
            let mut settings = settings(dir.path());
            settings.termination_message_path = Some(dir.path().join("termination-log"));
            let shut_down = std::sync::Arc::new(AtomicBool::new(false));
            let executor = Panics {
                while_preparing,
                shut_down: shut_down.clone(),
            };
            let report = run(executor, &settings).await;
            assert_eq!(
                (report.outcome_kind, report.written.as_slice()),
                ("failed", ["error.pb".to_owned()].as_slice())
            );
            let error = error_written(dir.path(), "error.pb");
            assert_eq!(error.code, "SYSTEM");
            assert_eq!(
                error.origin(),
                flyte_proto::core::execution_error::ErrorKind::System
            );
            assert_eq!(
                error.kind(),
                flyte_proto::core::container_error::Kind::Recoverable
            );
            assert!(
                error
                    .message
                    .contains(&format!("the executor panicked while {doing}: {message}")),
                "{}",
                error.message
            );
            assert!(
                error.message.ends_with(&format!("Panic: {message}")),
                "{}",
                error.message
            );
            assert!(
                shut_down.load(Ordering::Relaxed),
                "a panicked executor is still shut down"
            );
            let termination = std::fs::read_to_string(dir.path().join("termination-log"))
                .expect("termination message");
            assert!(termination.contains(&message), "{termination}");
        }
    }

    /// An executor that records whether it was prepared and shut down.
    #[derive(Default)]
    struct Records {
        prepared: std::sync::Arc<AtomicBool>,
        shut_down: std::sync::Arc<AtomicBool>,
    }

    impl Executor for Records {
        async fn prepare(&mut self, _: &TaskContext, _: bool) -> Prepared {
            self.prepared.store(true, Ordering::Relaxed);
            Prepared::ready()
        }
        async fn execute(&mut self, _: TaskInputs) -> TaskOutcome {
            unreachable!("a run without a scratch directory runs no task")
        }
        async fn shutdown(&mut self) {
            self.shut_down.store(true, Ordering::Relaxed);
        }
    }

    /// Settings whose scratch directory lies under a regular file, so it cannot be made.
    fn settings_without_scratch(dir: &std::path::Path) -> RunSettings {
        std::fs::write(dir.join("not-a-dir"), b"").expect("write");
        let mut settings = settings(dir);
        settings.scratch_dir = dir.join("not-a-dir/scratch");
        settings.termination_message_path = Some(dir.join("termination-log"));
        settings
    }

    #[tokio::test]
    async fn a_scratch_directory_that_cannot_be_made_writes_a_recoverable_system_error_document() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let mut settings = settings_without_scratch(dir.path());
        settings.error_file_name = "error-abc.pb".to_owned();
        settings.worker_name = "worker-1".to_owned();
        settings.fail_on_error = true;
        let executor = Records::default();
        let (prepared, shut_down) = (executor.prepared.clone(), executor.shut_down.clone());

        let report = run(executor, &settings).await;

        assert_eq!(
            (
                report.outcome_kind,
                report.exit_code,
                report.written.as_slice()
            ),
            ("failed", 1, ["error-abc.pb".to_owned()].as_slice()),
            "reported as any failure written: the settings' file name and exit code"
        );
        let error = error_written(dir.path(), "error-abc.pb");
        assert_eq!(error.code, "SYSTEM");
        assert_eq!(
            error.origin(),
            flyte_proto::core::execution_error::ErrorKind::System
        );
        assert_eq!(
            error.kind(),
            flyte_proto::core::container_error::Kind::Recoverable
        );
        assert_eq!(error.worker, "worker-1");
        let scratch = settings.scratch_dir.display().to_string();
        assert!(error.message.contains(&scratch), "{}", error.message);
        assert!(!prepared.load(Ordering::Relaxed), "no task is loaded");
        assert!(
            shut_down.load(Ordering::Relaxed),
            "the executor is shut down"
        );
        let termination = std::fs::read_to_string(dir.path().join("termination-log"))
            .expect("termination message");
        assert!(
            termination.starts_with("SYSTEM (SYSTEM, recoverable): PipelineError: could not create the scratch directory"),
            "{termination}"
        );
    }

    #[tokio::test]
    async fn a_scratch_directory_that_cannot_be_made_nor_an_error_document_written_is_err() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let mut settings = settings_without_scratch(dir.path());
        settings.task.output_prefix = dir.path().join("not-a-dir/out").display().to_string();
        let storage = Storage::new(StorageConfig::default());
        let error = run_task(
            Records::default(),
            &storage,
            &settings,
            &Metrics::disabled(),
        )
        .await
        .expect_err("nothing can be written");
        assert!(
            matches!(error, PipelineError::WriteOutcome { .. }),
            "{error}"
        );
        let termination = std::fs::read_to_string(dir.path().join("termination-log"))
            .expect("termination message");
        assert!(
            termination.contains("could not create the scratch directory"),
            "{termination}"
        );
    }

    #[tokio::test]
    async fn a_dry_run_whose_scratch_directory_cannot_be_made_writes_nothing_and_is_err() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = settings_without_scratch(dir.path());
        settings.dry_run = true;
        let storage = Storage::new(StorageConfig::default());
        let error = run_task(
            Records::default(),
            &storage,
            &settings,
            &Metrics::disabled(),
        )
        .await
        .expect_err("a dry run writes nothing");
        assert!(matches!(error, PipelineError::Scratch { .. }), "{error}");
        assert!(!dir.path().join("out").exists());
    }

    #[tokio::test]
    async fn fail_on_error_exits_one_after_writing_the_error_document() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let mut settings = settings(dir.path());
        settings.fail_on_error = true;
        settings.error_file_name = "error-abc.pb".to_owned();
        settings.worker_name = "worker-3".to_owned();
        let executor =
            Returns(|_| TaskOutcome::Failed(ContainerFailure::user("USER:ValueError", "bad")));
        let report = run(executor, &settings).await;
        assert_eq!(report.exit_code, 1);
        assert_eq!(error_written(dir.path(), "error-abc.pb").worker, "worker-3");
    }

    #[tokio::test]
    async fn ignore_outputs_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let report = run(
            Returns(|_| TaskOutcome::IgnoreOutputs),
            &settings(dir.path()),
        )
        .await;
        assert!(report.written.is_empty());
        assert!(!dir.path().join("out").exists());
    }

    /// A task offloading its input `a` as output `o0`, flytekit's way.
    fn offloading_task() -> Returns<impl FnMut(LiteralMap) -> TaskOutcome + Send> {
        Returns(|inputs: LiteralMap| {
            let value = &inputs.literals["a"];
            let file = "o0_offloaded_metadata.pb";
            let reference = literal::offloaded(file, value.encoded_len() as u64, None);
            TaskOutcome::Outputs(TaskOutputs::with_offloaded(
                &literal::literal_map([("o0", reference)]),
                [(file, value)],
            ))
        })
    }

    #[tokio::test]
    async fn offloaded_literals_are_written_beside_outputs_pb_which_points_at_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let settings = settings(dir.path());
        let report = run(offloading_task(), &settings).await;
        assert_eq!(
            report.written,
            vec![
                "o0_offloaded_metadata.pb".to_owned(),
                "outputs.pb".to_owned()
            ]
        );
        let outputs =
            flyte_proto::io::read_literal_map(dir.path().join("out/outputs.pb")).expect("outputs");
        let reference = outputs.literals["o0"].as_offloaded().expect("offloaded");
        let expected = format!("{}/o0_offloaded_metadata.pb", settings.task.output_prefix);
        assert_eq!(reference.uri, expected);
        let stored: flyte_proto::core::Literal =
            flyte_proto::io::read_message(&expected).expect("the file the URI names");
        assert_eq!(stored.as_integer(), Some(7));
    }

    #[tokio::test]
    async fn an_output_prefix_ending_in_a_slash_names_the_files_where_they_are_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let mut settings = settings(dir.path());
        settings.task.output_prefix.push('/');
        run(offloading_task(), &settings).await;
        let outputs =
            flyte_proto::io::read_literal_map(dir.path().join("out/outputs.pb")).expect("outputs");
        let uri = &outputs.literals["o0"]
            .as_offloaded()
            .expect("offloaded")
            .uri;
        assert!(!uri.contains("//"), "{uri}");
        assert!(std::path::Path::new(uri).is_file(), "{uri} was written");
    }

    #[tokio::test]
    async fn an_output_subdirectory_from_prepare_receives_the_outcome_and_its_offloaded_literals() {
        struct LegacyMapElement<E>(E);
        impl<E: Executor + Send> Executor for LegacyMapElement<E> {
            async fn prepare(&mut self, _: &TaskContext, _: bool) -> Prepared {
                Prepared {
                    output_subdirectory: Some("3".to_owned()),
                    early_outcome: None,
                }
            }
            async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
                self.0.execute(inputs).await
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let settings = settings(dir.path());
        run(LegacyMapElement(offloading_task()), &settings).await;
        let outputs = flyte_proto::io::read_literal_map(dir.path().join("out/3/outputs.pb"))
            .expect("outputs under the subdirectory");
        assert_eq!(
            outputs.literals["o0"]
                .as_offloaded()
                .expect("offloaded")
                .uri,
            format!("{}/3/o0_offloaded_metadata.pb", settings.task.output_prefix)
        );
        assert!(dir.path().join("out/3/o0_offloaded_metadata.pb").is_file());
        assert!(!dir.path().join("out/outputs.pb").exists());
    }

    #[tokio::test]
    async fn outputs_nested_deeper_than_a_decoder_allows_are_written_as_they_are() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let mut deep = literal::integer(1);
        for _ in 0..60 {
            deep = literal::collection([deep]);
        }
        let outputs = literal::literal_map([("o0", deep)]);
        let encoded = outputs.encode_to_vec();
        assert!(
            LiteralMap::decode(&encoded[..]).is_err(),
            "prost's limit refuses it"
        );
        let executor = Returns(move |_| {
            TaskOutcome::Outputs(TaskOutputs {
                outputs: Payload::Bytes(encoded.clone()),
                offloaded: Default::default(),
            })
        });
        let report = run(executor, &settings(dir.path())).await;
        assert_eq!(report.outcome_kind, "outputs");
        let written = std::fs::read(dir.path().join("out/outputs.pb")).expect("outputs.pb");
        assert_eq!(written, outputs.encode_to_vec());
    }

    #[tokio::test]
    async fn a_huge_error_message_is_capped_so_flyte_accepts_the_document() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let message = "x".repeat(50 * 1024 * 1024);
        let executor = Returns(move |_| {
            TaskOutcome::Failed(ContainerFailure::user("USER:ValueError", message.clone()))
        });
        run(executor, &settings(dir.path())).await;
        let size = std::fs::metadata(dir.path().join("out/error.pb"))
            .expect("error.pb")
            .len();
        assert!(size < 2 * 1024 * 1024, "error.pb is {size} bytes");
        assert!(
            error_written(dir.path(), "error.pb")
                .message
                .contains("bytes cut here")
        );
    }

    #[tokio::test]
    async fn inputs_nested_deeper_than_prosts_limit_are_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut deep = literal::integer(1);
        for _ in 0..60 {
            deep = literal::collection([deep]);
        }
        let inputs = literal::literal_map([("a", deep)]);
        std::fs::write(dir.path().join("inputs.pb"), inputs.encode_to_vec()).expect("write");
        struct Counts;
        impl Executor for Counts {
            async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
                let bytes = std::fs::read(&inputs.local_path).expect("inputs copy");
                TaskOutcome::outputs(literal::literal_map([(
                    "size",
                    literal::integer(bytes.len() as i64),
                )]))
            }
        }
        let report = run(Counts, &settings(dir.path())).await;
        assert_eq!(report.outcome_kind, "outputs", "{report:?}");
    }

    /// An executor whose task loads forever, or runs for `runs` before it returns `a`.
    struct Slow {
        loads_forever: bool,
        runs: Duration,
    }

    impl Executor for Slow {
        async fn prepare(&mut self, _: &TaskContext, _: bool) -> Prepared {
            if self.loads_forever {
                std::future::pending::<()>().await;
            }
            Prepared::ready()
        }
        async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
            tokio::time::sleep(self.runs).await;
            TaskOutcome::outputs(inputs.literals().expect("inputs"))
        }
    }

    /// Settings whose run is stopped (`cause`, `grace`) once `after` has passed.
    fn stopped_after(dir: &std::path::Path, after: Duration, grace: Duration) -> RunSettings {
        let (sender, stop) = crate::stop_channel();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            sender.request(StopRequest::new("SIGTERM", grace));
            // Keep the sender: a dropped one would read as "never stopped" to late waiters.
            std::future::pending::<()>().await;
        });
        let mut settings = settings(dir);
        settings.stop = stop;
        settings.termination_message_path = Some(dir.join("termination-log"));
        settings
    }

    /// Bounds a run in a test: a hang fails it instead of hanging the suite.
    async fn run_within(executor: impl Executor, settings: &RunSettings) -> RunReport {
        tokio::time::timeout(Duration::from_secs(30), run(executor, settings))
            .await
            .expect("the run ends instead of hanging")
    }

    #[tokio::test]
    async fn a_stop_while_the_task_loads_writes_a_recoverable_stopped_error_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        // A grace longer than the test's bound: the load must not wait for it.
        let settings = stopped_after(
            dir.path(),
            Duration::from_millis(100),
            Duration::from_secs(600),
        );
        let executor = Slow {
            loads_forever: true,
            runs: Duration::ZERO,
        };
        let report = run_within(executor, &settings).await;
        assert_eq!(report.written, ["error.pb"]);
        let error = error_written(dir.path(), "error.pb");
        assert_eq!(error.code, STOPPED_CODE);
        assert_eq!(
            error.kind(),
            flyte_proto::core::container_error::Kind::Recoverable
        );
        assert!(
            error
                .message
                .contains("stopped by SIGTERM while the task was being loaded"),
            "{}",
            error.message
        );
        let termination = std::fs::read_to_string(dir.path().join("termination-log"))
            .expect("termination message");
        assert!(
            termination.starts_with("SYSTEM:Stopped (SYSTEM, recoverable)"),
            "{termination}"
        );
    }

    #[tokio::test]
    async fn a_stop_before_the_run_starts_writes_a_stopped_error_without_running_the_task() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let (sender, stop) = crate::stop_channel();
        sender.request(StopRequest::new("SIGINT", Duration::from_secs(600)));
        let mut settings = settings(dir.path());
        settings.stop = stop;
        let executor = Returns(|_| unreachable!("a stopped run runs no task"));
        run_within(executor, &settings).await;
        let error = error_written(dir.path(), "error.pb");
        assert_eq!(error.code, STOPPED_CODE);
        assert!(
            error.message.contains("stopped by SIGINT"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn a_task_still_running_when_the_stop_grace_is_over_is_reported_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let settings = stopped_after(
            dir.path(),
            Duration::from_millis(100),
            Duration::from_millis(200),
        );
        let executor = Slow {
            loads_forever: false,
            runs: Duration::from_secs(600),
        };
        run_within(executor, &settings).await;
        let error = error_written(dir.path(), "error.pb");
        assert_eq!(error.code, STOPPED_CODE);
        assert!(
            error.message.contains("while the task ran"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn a_task_finishing_within_the_stop_grace_keeps_its_outputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let settings = stopped_after(
            dir.path(),
            Duration::from_millis(50),
            Duration::from_secs(20),
        );
        let executor = Slow {
            loads_forever: false,
            runs: Duration::from_millis(300),
        };
        let report = run_within(executor, &settings).await;
        assert_eq!(report.written, ["outputs.pb"]);
        assert!(!dir.path().join("termination-log").exists());
    }

    #[tokio::test]
    async fn an_error_document_that_cannot_be_written_is_summarised_in_the_termination_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        // The output prefix lies under a regular file: nothing can be written there.
        std::fs::write(dir.path().join("file"), b"").expect("write");
        let mut settings = settings(dir.path());
        settings.task.output_prefix = dir.path().join("file/out").display().to_string();
        settings.termination_message_path = Some(dir.path().join("termination-log"));
        let executor = Returns(|_| {
            TaskOutcome::Failed(ContainerFailure::user("USER:ValueError", "b must not be 0"))
        });
        let storage = Storage::new(StorageConfig::default());
        let error = run_task(executor, &storage, &settings, &Metrics::disabled())
            .await
            .expect_err("error.pb cannot be written");
        assert!(
            matches!(error, PipelineError::WriteOutcome { .. }),
            "{error}"
        );
        let termination = std::fs::read_to_string(dir.path().join("termination-log"))
            .expect("termination message");
        assert!(
            termination.starts_with("could not write error.pb under the output prefix"),
            "{termination}"
        );
        assert!(
            termination.contains("USER:ValueError (USER, non-recoverable): b must not be 0"),
            "{termination}"
        );
    }

    #[test]
    fn worker_deaths_count_apart_from_other_failures() {
        let died = ContainerFailure::user("USER:WorkerDied", "killed");
        let stopped = ContainerFailure::system("stopped");
        assert_eq!(
            metric_outcome(&TaskOutcome::WorkerDied(died.clone())),
            Outcome::WorkerDied
        );
        assert_eq!(
            metric_outcome(&TaskOutcome::Failed(died)),
            Outcome::UserError,
            "the outcome says what happened, not the code's spelling"
        );
        assert_eq!(
            metric_outcome(&TaskOutcome::Failed(stopped)),
            Outcome::SystemError
        );
        let user = ContainerFailure::user("USER:RuntimeError", "bad");
        assert_eq!(
            metric_outcome(&TaskOutcome::Unrunnable(user)),
            Outcome::UserError
        );
        assert_eq!(
            metric_outcome(&TaskOutcome::IgnoreOutputs),
            Outcome::Success
        );
    }
}
