//! The execute pipeline: download inputs, run the executor, write the outcome.

use std::path::PathBuf;

use flyte_errors::{ContainerFailure, Origin, Recoverability};
use flyte_proto::Message;
use flyte_proto::visit::UriKind;
use flyte_storage::{Storage, StorageError};
use flyte_telemetry::{Direction, Metrics, Outcome, Phase};
use tracing::{debug, info, warn};

use crate::{Executor, TaskInputs, TaskLocations, TaskOutcome};

/// One run: where the task's data lives, and the policies flytekit takes from its
/// environment. Built by the caller (the binary reads argv and env; this crate never does).
#[derive(Debug, Clone)]
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
}

impl RunSettings {
    /// Settings with flytekit's defaults for everything but the task's locations and the
    /// scratch directory.
    pub fn new(task: TaskLocations, scratch_dir: impl Into<PathBuf>) -> Self {
        RunSettings {
            task,
            dry_run: false,
            scratch_dir: scratch_dir.into(),
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

/// Runs one task with `executor` and writes its outcome under the output prefix.
///
/// This function alone decides the URI of everything it writes: the outcome goes to the
/// output prefix, or to the subdirectory of it the executor named while preparing, and
/// offloaded literals beside it, all joined with [`flyte_storage::join`].
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
        let prepared = executor.prepare(&settings.task, settings.dry_run).await;
        timer.finish();
        prepared
    };
    let (outcome, output_subdirectory) = if settings.dry_run {
        // flytekit's --test loads the resolver and stops; it never reads the inputs.
        let prepared = prepare.await;
        match prepared.early_outcome {
            None => {
                executor.shutdown().await;
                info!("dry run (--test): task loaded, nothing executed or written");
                return Ok(RunReport {
                    outcome_kind: "dry_run",
                    exit_code: 0,
                    written: Vec::new(),
                });
            }
            Some(outcome) => (outcome, prepared.output_subdirectory),
        }
    } else {
        let download = async {
            let timer = metrics.start(Phase::InputsDownload);
            let inputs = download_inputs(storage, settings).await;
            timer.finish();
            inputs
        };
        let (prepared, inputs) = tokio::join!(prepare, download);
        let outcome = match (prepared.early_outcome, inputs) {
            (Some(outcome), _) => outcome,
            (None, Err(failure)) => TaskOutcome::Failed(failure),
            (None, Ok((inputs, bytes))) => {
                metrics.bytes(Direction::Download, bytes);
                let timer = metrics.start(Phase::TaskExecution);
                let outcome = executor.execute(inputs).await;
                timer.finish();
                outcome
            }
        };
        (outcome, prepared.output_subdirectory)
    };

    let outcome = stamp_worker(outcome, &settings.worker_name);
    let outcome_prefix = match &output_subdirectory {
        Some(subdirectory) => flyte_storage::join(&settings.task.output_prefix, subdirectory),
        None => settings.task.output_prefix.clone(),
    };
    let timer = metrics.start(Phase::OutputsUpload);
    let written = write_outcome(storage, settings, &outcome_prefix, &outcome).await;
    timer.finish();
    executor.shutdown().await;
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

/// How the outcome counts in the entrypoint's metrics.
fn metric_outcome(outcome: &TaskOutcome) -> Outcome {
    match outcome.failure() {
        None => Outcome::Success,
        Some(_) if matches!(outcome, TaskOutcome::WorkerDied(_)) => Outcome::WorkerDied,
        Some(failure) if failure.origin == Origin::User => Outcome::UserError,
        Some(_) => Outcome::SystemError,
    }
}

/// Downloads `inputs.pb` and checks that it decodes. Failures are system failures, as
/// in flytekit.
async fn download_inputs(
    storage: &Storage,
    settings: &RunSettings,
) -> Result<(TaskInputs, u64), ContainerFailure> {
    let inputs_uri = &settings.task.inputs;
    let local_path = settings.scratch_dir.join("inputs.pb");
    let uri = || inputs_uri.clone();
    let result = async {
        let bytes = storage
            .get_file(inputs_uri, &local_path)
            .await
            .map_err(|source| InputsError::Download { uri: uri(), source })?;
        debug!(inputs = %inputs_uri, bytes, "inputs downloaded");
        let contents = std::fs::read(&local_path).map_err(|source| InputsError::ReadCopy {
            path: local_path.clone(),
            source,
        })?;
        // Checked here, so a corrupt file is reported as the inputs' fault whatever the
        // executor; the decoded values are not kept (the executor reads the file).
        flyte_proto::io::decode::<flyte_proto::core::LiteralMap>(
            &contents,
            "flyteidl.core.LiteralMap",
        )
        .map_err(|source| InputsError::Decode { uri: uri(), source })?;
        Ok((
            TaskInputs {
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
    outcome.map_failure(|failure| {
        if failure.worker.is_empty() {
            failure.with_worker(worker_name)
        } else {
            failure
        }
    })
}

/// Writes the outcome's files under `outcome_prefix`, returning their names.
async fn write_outcome(
    storage: &Storage,
    settings: &RunSettings,
    outcome_prefix: &str,
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
            let mut outputs = outputs.clone();
            flyte_proto::visit::rewrite_uris(&mut outputs, |kind, uri| {
                (kind == UriKind::OffloadedLiteral && offloaded.contains_key(uri))
                    .then(|| flyte_storage::join(outcome_prefix, uri))
            });
            files.push((OUTPUTS_FILE.to_owned(), outputs.encode_to_vec()));
        }
        TaskOutcome::DynamicJob(spec) => {
            files.push((FUTURES_FILE.to_owned(), spec.encode_to_vec()))
        }
        TaskOutcome::IgnoreOutputs => {
            warn!("the task raised IgnoreOutputs: no outputs are written")
        }
        TaskOutcome::Failed(failure)
        | TaskOutcome::WorkerDied(failure)
        | TaskOutcome::Unrunnable(failure) => {
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
        let uri = flyte_storage::join(outcome_prefix, &name);
        storage
            .put_bytes(&uri, bytes)
            .await
            .map_err(|source| PipelineError::WriteOutcome {
                file: name.clone(),
                output_prefix: outcome_prefix.to_owned(),
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

    use flyte_proto::core::LiteralMap;

    use super::*;
    use crate::{FnExecutor, Prepared};

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
        let executor = FnExecutor::new(|_| unreachable!("the task must not run without inputs"));
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
            async fn prepare(&mut self, _: &TaskLocations, _: bool) -> Prepared {
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

    /// A task offloading its input `a` as output `o0`, flytekit's way.
    fn offloading_task() -> FnExecutor<impl FnMut(LiteralMap) -> TaskOutcome + Send> {
        FnExecutor::new(|inputs: LiteralMap| {
            let value = inputs.literals["a"].clone();
            let file = "o0_offloaded_metadata.pb".to_owned();
            let reference = literal::offloaded(&file, value.encoded_len() as u64, None);
            TaskOutcome::Outputs {
                outputs: literal::literal_map([("o0", reference)]),
                offloaded: [(file, value)].into(),
            }
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
            async fn prepare(&mut self, _: &TaskLocations, _: bool) -> Prepared {
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
