//! The execute pipeline: download inputs, run the executor, write the outcome.

use std::path::PathBuf;

use flyte_errors::{ContainerFailure, Origin, Recoverability};
use flyte_proto::Message;
use flyte_storage::{Storage, StorageError};
use flyte_telemetry::{Direction, Metrics, Outcome, Phase};
use tracing::{debug, info, warn};

use crate::{Executor, TaskInputs, TaskOutcome};

/// Where a run reads and writes, and the policies flytekit takes from its environment.
/// Built by the caller (the binary reads argv and env; this crate never does).
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// URI of `inputs.pb`.
    pub inputs: String,
    /// URI of the directory that receives `outputs.pb`, `futures.pb` or the error document.
    pub output_prefix: String,
    /// A local directory this run may use for its own files (the inputs copy).
    pub scratch_dir: PathBuf,
    /// flytekit's `--test`: load everything, run nothing, write nothing.
    pub dry_run: bool,
    /// The error document's file name: `error.pb`, or `error-<uuid>.pb` under the
    /// distributed error strategy (see [`flyte_errors::error_file_name`]).
    pub error_file_name: String,
    /// The worker name stamped on failures this pipeline reports itself (flytekit sets it
    /// only under the distributed error strategy).
    pub worker_name: String,
    /// flytekit's `FLYTE_FAIL_ON_ERROR`: exit 1 after writing an error document.
    pub fail_on_error: bool,
}

impl RunSettings {
    /// Settings with flytekit's defaults for everything but the three locations.
    pub fn new(
        inputs: impl Into<String>,
        output_prefix: impl Into<String>,
        scratch_dir: impl Into<PathBuf>,
    ) -> Self {
        RunSettings {
            inputs: inputs.into(),
            output_prefix: output_prefix.into(),
            scratch_dir: scratch_dir.into(),
            dry_run: false,
            error_file_name: flyte_errors::error_file_name(false),
            worker_name: String::new(),
            fail_on_error: false,
        }
    }
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// [`TaskOutcome::kind`] of the outcome, or `"dry_run"`.
    pub outcome_kind: &'static str,
    /// The process exit status flytekit would end with.
    pub exit_code: i32,
    /// Names of the files written under the output prefix.
    pub written: Vec<String>,
}

/// A run that could not record its outcome. Everything else becomes an error document.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Writing to the output prefix failed, so not even an error document could be left.
    #[error("could not write {file} under the output prefix {output_prefix}: {source}")]
    WriteOutcome {
        /// The file being written.
        file: String,
        /// The output prefix.
        output_prefix: String,
        /// Why the write failed.
        #[source]
        source: StorageError,
    },
    /// The local scratch directory could not be created.
    #[error(
        "could not create the scratch directory {path}: {source}; check that the temp directory is writable"
    )]
    Scratch {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Runs one task with `executor` and writes its outcome under `settings.output_prefix`.
///
/// Returns `Err` only when the outcome itself cannot be written; every failure of the
/// task, of its loading or of its inputs becomes an error document instead.
pub async fn run_task<E: Executor>(
    mut executor: E,
    storage: &Storage,
    settings: &RunSettings,
    metrics: &Metrics,
) -> Result<RunReport, PipelineError> {
    std::fs::create_dir_all(&settings.scratch_dir).map_err(|source| PipelineError::Scratch {
        path: settings.scratch_dir.clone(),
        source,
    })?;

    let prepare = async {
        let timer = metrics.start(Phase::WorkerStart);
        let prepared = executor.prepare().await;
        timer.finish();
        prepared
    };
    let outcome = if settings.dry_run {
        // flytekit's --test loads the resolver and stops; it never reads the inputs.
        match prepare.await {
            Ok(()) => {
                executor.shutdown().await;
                info!("dry run (--test): task loaded, nothing executed or written");
                return Ok(RunReport {
                    outcome_kind: "dry_run",
                    exit_code: 0,
                    written: Vec::new(),
                });
            }
            Err(outcome) => outcome,
        }
    } else {
        let download = async {
            let timer = metrics.start(Phase::InputsDownload);
            let inputs = download_inputs(storage, settings).await;
            timer.finish();
            inputs
        };
        let (prepared, inputs) = tokio::join!(prepare, download);
        match (prepared, inputs) {
            (Err(outcome), _) => outcome,
            (Ok(()), Err(failure)) => TaskOutcome::Failed(failure),
            (Ok(()), Ok((inputs, bytes))) => {
                metrics.bytes(Direction::Download, bytes);
                let timer = metrics.start(Phase::TaskExecution);
                let outcome = executor.execute(inputs).await;
                timer.finish();
                outcome
            }
        }
    };

    let outcome = stamp_worker(outcome, &settings.worker_name);
    let output_prefix = executor
        .output_prefix()
        .unwrap_or(&settings.output_prefix)
        .to_owned();
    let timer = metrics.start(Phase::OutputsUpload);
    let written = write_outcome(storage, settings, &output_prefix, &outcome).await;
    timer.finish();
    executor.shutdown().await;
    let (written, bytes) = written?;
    metrics.bytes(Direction::Upload, bytes);
    metrics.outcome(metric_outcome(&outcome));

    let exit_code = match &outcome {
        TaskOutcome::Unrunnable(_) => 1,
        TaskOutcome::Failed(_) if settings.fail_on_error => 1,
        _ => 0,
    };
    info!(outcome = outcome.kind(), files = ?written, %output_prefix, "task run finished");
    Ok(RunReport {
        outcome_kind: outcome.kind(),
        exit_code,
        written,
    })
}

/// How the outcome counts in the entrypoint's metrics.
fn metric_outcome(outcome: &TaskOutcome) -> Outcome {
    match outcome.failure() {
        None => Outcome::Success,
        Some(failure) if failure.code.ends_with(":WorkerDied") => Outcome::WorkerDied,
        Some(failure) if failure.origin == Origin::User => Outcome::UserError,
        Some(_) => Outcome::SystemError,
    }
}

/// Downloads and decodes `inputs.pb`. Failures are system failures, as in flytekit.
async fn download_inputs(
    storage: &Storage,
    settings: &RunSettings,
) -> Result<(TaskInputs, u64), ContainerFailure> {
    let local_path = settings.scratch_dir.join("inputs.pb");
    let uri = || settings.inputs.clone();
    let result = async {
        let bytes = storage
            .get_file(&settings.inputs, &local_path)
            .await
            .map_err(|source| InputsError::Download { uri: uri(), source })?;
        debug!(inputs = %settings.inputs, bytes, "inputs downloaded");
        let contents = std::fs::read(&local_path).map_err(|source| InputsError::ReadCopy {
            path: local_path.clone(),
            source,
        })?;
        let literals = flyte_proto::io::decode(&contents, "flyteidl.core.LiteralMap")
            .map_err(|source| InputsError::Decode { uri: uri(), source })?;
        Ok((
            TaskInputs {
                literals,
                local_path: local_path.clone(),
            },
            bytes,
        ))
    };
    result.await.map_err(|error: InputsError| {
        tracing::error!("{error}");
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
    /// The local copy could not be read back.
    #[error("could not read the downloaded inputs at {path}")]
    ReadCopy {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a LiteralMap.
    #[error("the task's inputs at {uri} are not a valid flyteidl.core.LiteralMap")]
    Decode {
        uri: String,
        #[source]
        source: flyte_proto::ProtoError,
    },
}

/// Failures the pipeline or the supervisor made carry the configured worker name;
/// failures flytekit made already carry flytekit's.
fn stamp_worker(outcome: TaskOutcome, worker_name: &str) -> TaskOutcome {
    let stamp = |failure: ContainerFailure| {
        if failure.worker.is_empty() {
            failure.with_worker(worker_name)
        } else {
            failure
        }
    };
    match outcome {
        TaskOutcome::Failed(failure) => TaskOutcome::Failed(stamp(failure)),
        TaskOutcome::Unrunnable(failure) => TaskOutcome::Unrunnable(stamp(failure)),
        other => other,
    }
}

/// Writes the outcome's files under the output prefix, returning their names.
async fn write_outcome(
    storage: &Storage,
    settings: &RunSettings,
    output_prefix: &str,
    outcome: &TaskOutcome,
) -> Result<(Vec<String>, u64), PipelineError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    match outcome {
        TaskOutcome::Outputs { outputs, offloaded } => {
            // Offloaded literals first: outputs.pb refers to them, so they must exist
            // by the time a reader sees it.
            for (name, literal) in offloaded {
                files.push((name.clone(), literal.encode_to_vec()));
            }
            files.push((OUTPUTS_FILE.to_owned(), outputs.encode_to_vec()));
        }
        TaskOutcome::DynamicJob(spec) => {
            files.push((FUTURES_FILE.to_owned(), spec.encode_to_vec()))
        }
        TaskOutcome::IgnoreOutputs => {
            warn!("the task raised IgnoreOutputs: no outputs are written")
        }
        TaskOutcome::Failed(failure) | TaskOutcome::Unrunnable(failure) => {
            log_failure(failure, &settings.error_file_name);
            files.push((
                settings.error_file_name.clone(),
                failure.to_error_document().encode_to_vec(),
            ));
        }
    }

    let mut written = Vec::with_capacity(files.len());
    let mut total_bytes = 0;
    for (name, bytes) in files {
        total_bytes += bytes.len() as u64;
        let uri = flyte_storage::join(output_prefix, &name);
        storage
            .put_bytes(&uri, bytes)
            .await
            .map_err(|source| PipelineError::WriteOutcome {
                file: name.clone(),
                output_prefix: output_prefix.to_owned(),
                source,
            })?;
        written.push(name);
    }
    Ok((written, total_bytes))
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

/// flytekit's name for the outputs file.
const OUTPUTS_FILE: &str = "outputs.pb";
/// flytekit's name for a dynamic task's job spec.
const FUTURES_FILE: &str = "futures.pb";

#[cfg(test)]
mod tests {
    use flyte_proto::core::ContainerError;
    use flyte_proto::literal;
    use flyte_storage::StorageConfig;

    use super::*;
    use crate::FnExecutor;

    fn settings(dir: &std::path::Path) -> RunSettings {
        RunSettings::new(
            dir.join("inputs.pb").display().to_string(),
            dir.join("out").display().to_string(),
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
        let executor = FnExecutor::new(|_| unreachable!("the task must not run without inputs"));
        let report = run(executor, &settings).await;
        assert_eq!((report.outcome_kind, report.exit_code), ("failed", 0));
        let error = error_written(dir.path(), "error.pb");
        assert_eq!(error.code, "SYSTEM");
        assert!(
            error.message.contains(&settings.inputs),
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
        let executor = FnExecutor::new(|_| unreachable!("the task must not run on corrupt inputs"));
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
            async fn prepare(&mut self) -> Result<(), TaskOutcome> {
                Err(TaskOutcome::Failed(ContainerFailure::user(
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

    #[tokio::test]
    async fn fail_on_error_exits_one_after_writing_the_error_document() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let mut settings = settings(dir.path());
        settings.fail_on_error = true;
        settings.error_file_name = "error-abc.pb".to_owned();
        settings.worker_name = "worker-3".to_owned();
        let executor = FnExecutor::new(|_| {
            TaskOutcome::Failed(ContainerFailure::user("USER:ValueError", "bad"))
        });
        let report = run(executor, &settings).await;
        assert_eq!(report.exit_code, 1);
        assert_eq!(error_written(dir.path(), "error-abc.pb").worker, "worker-3");
    }

    #[tokio::test]
    async fn ignore_outputs_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let report = run(
            FnExecutor::new(|_| TaskOutcome::IgnoreOutputs),
            &settings(dir.path()),
        )
        .await;
        assert!(report.written.is_empty());
        assert!(!dir.path().join("out").exists());
    }

    #[tokio::test]
    async fn offloaded_literals_are_written_beside_outputs_pb() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path());
        let executor = FnExecutor::new(|inputs| TaskOutcome::Outputs {
            outputs: inputs.clone(),
            offloaded: [("o0_offloaded_metadata.pb".to_owned(), literal::integer(1))].into(),
        });
        let report = run(executor, &settings(dir.path())).await;
        assert_eq!(
            report.written,
            vec![
                "o0_offloaded_metadata.pb".to_owned(),
                "outputs.pb".to_owned()
            ]
        );
    }

    #[test]
    fn worker_deaths_count_apart_from_other_failures() {
        let died = ContainerFailure::user("USER:WorkerDied", "killed");
        let stopped = ContainerFailure::system("stopped");
        assert_eq!(
            metric_outcome(&TaskOutcome::Failed(died)),
            Outcome::WorkerDied
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
