//! `run_task` with an [`FnExecutor`] on local files: what a Rust task sees in its
//! [`TaskContext`], and what its success and its failure leave under the output prefix.

use std::path::Path;

use flyte_proto::core::{
    LiteralMap, blob_type::BlobDimensionality, container_error, execution_error,
};
use flyte_proto::files::{ERROR_FILE, INPUTS_FILE, OUTPUTS_FILE};
use flyte_proto::literal;
use flyte_runtime::{FnExecutor, RunReport, RunSettings, TaskContext, TaskLocations, run_task};
use flyte_storage::{Storage, StorageConfig};
use flyte_telemetry::Metrics;

/// Settings for a run whose inputs, outputs, raw data and scratch all live under `dir`.
fn settings(dir: &Path) -> RunSettings {
    let mut locations = TaskLocations::new(
        dir.join(INPUTS_FILE).display().to_string(),
        dir.join("out").display().to_string(),
    );
    locations.raw_output_data_prefix = Some(dir.join("raw").display().to_string());
    locations.checkpoint_path = Some(dir.join("checkpoint").display().to_string());
    RunSettings::new(locations, dir.join("scratch"))
}

fn write_inputs(dir: &Path, inputs: &LiteralMap) {
    flyte_proto::io::write_literal_map(dir.join(INPUTS_FILE), inputs).expect("write inputs");
}

async fn run(executor: impl flyte_runtime::Executor, settings: &RunSettings) -> RunReport {
    let storage = Storage::new(StorageConfig::default());
    run_task(executor, &storage, settings, &Metrics::disabled())
        .await
        .expect("the outcome is written")
}

#[tokio::test]
async fn a_task_writes_a_file_with_its_context_storage_and_returns_it_in_outputs_pb() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_inputs(
        dir.path(),
        &literal::literal_map([("text", literal::string("hello"))]),
    );
    let settings = settings(dir.path());
    let task = FnExecutor::new(|context: TaskContext, inputs: LiteralMap| async move {
        assert!(
            context.scratch_dir().is_dir(),
            "the scratch directory exists before the task runs"
        );
        assert_eq!(
            context.checkpoint_path(),
            context.locations().checkpoint_path.as_deref()
        );
        let text = inputs.literals["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let local = context.scratch_dir().join("greeting.txt");
        std::fs::write(&local, format!("{text}, world"))?;
        let raw = context
            .raw_output_prefix()
            .expect("the run has a raw output prefix");
        let uri = flyte_storage::join(raw, "greeting.txt");
        context
            .storage()
            .put_file(&local, &uri)
            .await
            .map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(literal::literal_map([(
            "o0",
            literal::blob(uri, "txt", BlobDimensionality::Single),
        )]))
    });
    let report = run(task, &settings).await;
    assert_eq!(
        (report.outcome_kind, report.exit_code, report.written),
        ("outputs", 0, vec![OUTPUTS_FILE.to_owned()])
    );
    let outputs = flyte_proto::io::read_literal_map(dir.path().join("out").join(OUTPUTS_FILE))
        .expect("outputs.pb");
    let blob = outputs.literals["o0"].as_blob().expect("a blob");
    assert_eq!(
        std::fs::read_to_string(&blob.uri).expect("the file the blob names"),
        "hello, world"
    );
    assert!(
        blob.uri
            .starts_with(&dir.path().join("raw").display().to_string())
    );
}

/// The error a task returns, caused by a lower-level one.
#[derive(Debug, thiserror::Error)]
#[error("could not parse the configuration of run 42")]
struct ConfigUnreadable {
    #[source]
    source: ParseFailed,
}

#[derive(Debug, thiserror::Error)]
#[error("line 3 is not key=value")]
struct ParseFailed {
    #[source]
    source: std::io::Error,
}

#[tokio::test]
async fn a_task_error_with_causes_writes_a_user_error_document_naming_each_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_inputs(
        dir.path(),
        &literal::literal_map([("a", literal::integer(1))]),
    );
    let task = FnExecutor::new(|_: TaskContext, _: LiteralMap| async {
        Err::<LiteralMap, _>(ConfigUnreadable {
            source: ParseFailed {
                source: std::io::Error::other("unexpected end of file"),
            },
        })
    });
    let report = run(task, &settings(dir.path())).await;
    assert_eq!(
        (report.outcome_kind, report.exit_code, report.written),
        ("failed", 0, vec![ERROR_FILE.to_owned()])
    );
    let document = flyte_proto::io::read_error_document(dir.path().join("out").join(ERROR_FILE))
        .expect("error.pb");
    let error = document.error.expect("a container error");
    assert_eq!(error.code, flyte_errors::codes::USER_RUNTIME_ERROR);
    assert_eq!(error.origin(), execution_error::ErrorKind::User);
    assert_eq!(error.kind(), container_error::Kind::NonRecoverable);
    for part in [
        "could not parse the configuration of run 42",
        "line 3 is not key=value",
        "unexpected end of file",
    ] {
        assert!(error.message.contains(part), "{part} in {}", error.message);
    }
    // flytekit's layout: the trace holds the whole chain, the summary the error itself.
    assert!(error.message.starts_with("Trace:\n\n"), "{}", error.message);
    assert!(
        error.message.ends_with(
            "Message:\n\n    ConfigUnreadable: could not parse the configuration of run 42"
        ),
        "{}",
        error.message
    );
    assert_eq!(
        error.message.matches("unexpected end of file").count(),
        1,
        "each cause once: {}",
        error.message
    );
    assert!(!dir.path().join("out").join(OUTPUTS_FILE).exists());
}

/// The container error written under `<dir>/out`.
fn error_written(dir: &Path) -> flyte_proto::core::ContainerError {
    flyte_proto::io::read_error_document(dir.join("out").join(ERROR_FILE))
        .expect("error.pb")
        .error
        .expect("a container error")
}

/// The `Trace:` part of a message in flytekit's layout: the error and its causes,
/// before the `Message:` summary repeats the error itself.
fn trace(message: &str) -> &str {
    message
        .split_once("\n\nMessage:")
        .map_or(message, |(trace, _)| trace)
}

/// Runs a task that fails with `error` on one integer input; returns what it wrote.
async fn fail_with<E>(
    error: impl FnOnce() -> E + Send + 'static,
) -> flyte_proto::core::ContainerError
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("tempdir");
    write_inputs(
        dir.path(),
        &literal::literal_map([("a", literal::integer(1))]),
    );
    let mut error = Some(error);
    let task = FnExecutor::new(move |_: TaskContext, _: LiteralMap| {
        let error = error.take().expect("the task runs once")();
        async move { Err::<LiteralMap, E>(error) }
    });
    let report = run(task, &settings(dir.path())).await;
    assert_eq!(report.outcome_kind, "failed");
    error_written(dir.path())
}

#[tokio::test]
async fn an_anyhow_error_writes_a_user_error_document_with_its_context_chain() {
    let error = fail_with(|| {
        anyhow::Error::new(std::io::Error::other("unexpected end of file"))
            .context("line 3 is not key=value")
            .context("could not parse the configuration of run 42")
    })
    .await;
    assert_eq!(error.code, flyte_errors::codes::USER_RUNTIME_ERROR);
    assert_eq!(error.origin(), execution_error::ErrorKind::User);
    assert_eq!(error.kind(), container_error::Kind::NonRecoverable);
    for part in [
        "could not parse the configuration of run 42",
        "line 3 is not key=value",
        "unexpected end of file",
    ] {
        assert_eq!(
            trace(&error.message).matches(part).count(),
            1,
            "{part} once in {}",
            error.message
        );
    }
    assert!(
        error
            .message
            .ends_with("Message:\n\n    Error: could not parse the configuration of run 42"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_boxed_error_or_a_string_writes_a_user_error_document() {
    let boxed = fail_with(|| -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(std::io::Error::other("disk quota exceeded"))
    })
    .await;
    assert_eq!(boxed.code, flyte_errors::codes::USER_RUNTIME_ERROR);
    assert!(
        boxed.message.ends_with("Error: disk quota exceeded"),
        "{}",
        boxed.message
    );
    let text = fail_with(|| "column `city` is missing".to_owned()).await;
    assert!(
        text.message.ends_with("Error: column `city` is missing"),
        "{}",
        text.message
    );
}

/// The task's own error, caused by a recoverable one.
#[derive(Debug, thiserror::Error)]
#[error("could not fetch the model")]
struct FetchFailed(#[source] flyte_runtime::Recoverable);

#[tokio::test]
async fn a_recoverable_error_writes_a_recoverable_user_error_as_flytekit_does_for_flyte_recoverable_exception()
 {
    use flyte_runtime::Recoverable;

    fn check(error: &flyte_proto::core::ContainerError, summary: &str) {
        assert_eq!(error.code, "USER:Recoverable");
        assert_eq!(error.code, flyte_errors::codes::USER_RECOVERABLE);
        assert_eq!(error.origin(), execution_error::ErrorKind::User);
        assert_eq!(error.kind(), container_error::Kind::Recoverable);
        assert!(
            error
                .message
                .ends_with(&format!("Message:\n\n    {summary}")),
            "{}",
            error.message
        );
        assert_eq!(
            trace(&error.message)
                .matches("the model store timed out")
                .count(),
            1,
            "{}",
            error.message
        );
    }

    let timed_out = || std::io::Error::other("the model store timed out");
    check(
        &fail_with(move || Recoverable::new(timed_out())).await,
        "Recoverable: the model store timed out",
    );
    check(
        &fail_with(move || FetchFailed(Recoverable::new(timed_out()))).await,
        "FetchFailed: could not fetch the model",
    );
    // anyhow hides the type of the error it holds outermost; the mark is still found.
    check(
        &fail_with(move || anyhow::Error::new(Recoverable::new(timed_out()))).await,
        "Error: the model store timed out",
    );
    check(
        &fail_with(move || {
            anyhow::Error::new(Recoverable::new(timed_out())).context("loading the model")
        })
        .await,
        "Error: loading the model",
    );
    check(
        &fail_with(move || -> Box<dyn std::error::Error + Send + Sync> {
            Box::new(Recoverable::new(timed_out()))
        })
        .await,
        "Error: the model store timed out",
    );
}

#[tokio::test]
async fn a_panicking_task_writes_a_user_error_document_with_the_panic_message() {
    for before_its_future in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(
            dir.path(),
            &literal::literal_map([("a", literal::integer(0))]),
        );
        let task = FnExecutor::new(move |_: TaskContext, inputs: LiteralMap| {
            let a = inputs.literals["a"].as_integer().unwrap_or_default();
            if before_its_future {
                panic!("the function panicked at once on a = {a}");
            }
            async move {
                if a == 0 {
                    panic!("the function panicked on a = {a}");
                }
                Ok::<_, std::io::Error>(LiteralMap::default())
            }
        });
        let report = run(task, &settings(dir.path())).await;
        assert_eq!(
            (report.outcome_kind, report.exit_code, report.written),
            ("failed", 0, vec![ERROR_FILE.to_owned()])
        );
        let error = error_written(dir.path());
        assert_eq!(error.code, flyte_errors::codes::USER_RUNTIME_ERROR);
        assert_eq!(error.origin(), execution_error::ErrorKind::User);
        assert_eq!(error.kind(), container_error::Kind::NonRecoverable);
        let expected = if before_its_future {
            "Panic: the function panicked at once on a = 0"
        } else {
            "Panic: the function panicked on a = 0"
        };
        assert!(error.message.ends_with(expected), "{}", error.message);
    }
}
