//! The supervisor's own guarantees, tested with stand-in interpreters: whatever the
//! "Python" does, the run ends in an error document that says what happened.

use std::path::{Path, PathBuf};

use flyte_proto::core::ErrorDocument;
use flyte_proto::literal;
use flyte_python::{PythonExecutor, PythonWorkerSettings};
use flyte_runtime::{RunSettings, TaskLocations, run_task};
use flyte_storage::{Storage, StorageConfig};

fn worker_settings(python: PathBuf, scratch: &Path) -> PythonWorkerSettings {
    PythonWorkerSettings::new(
        python,
        "flytekit.core.python_auto_container.default_task_resolver",
        ["task-module", "m", "task-name", "t"].map(String::from),
        scratch.join("worker"),
    )
}

/// Runs a task with `python` as the interpreter and returns the error document written.
async fn run_with_interpreter(python: PathBuf) -> (i32, ErrorDocument) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = dir.path().join("inputs.pb");
    flyte_proto::io::write_literal_map(
        &inputs,
        &literal::literal_map([("a", literal::integer(1))]),
    )
    .expect("inputs");
    let storage = Storage::new(StorageConfig::default());
    let metrics = flyte_telemetry::Metrics::disabled();
    let executor = PythonExecutor::spawn(
        worker_settings(python, dir.path()),
        storage.clone(),
        metrics.clone(),
    );
    let settings = RunSettings::new(
        TaskLocations::new(
            inputs.display().to_string(),
            dir.path().join("out").display().to_string(),
        ),
        dir.path().join("pipeline"),
    );
    let report = run_task(executor, &storage, &settings, &metrics)
        .await
        .expect("run");
    let document = flyte_proto::io::read_error_document(dir.path().join("out/error.pb"))
        .expect("error.pb written");
    (report.exit_code, document)
}

/// A stand-in interpreter: a shell script that ignores the worker script.
fn fake_python(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("python");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn a_missing_interpreter_writes_a_system_error_naming_it() {
    let (exit_code, document) = run_with_interpreter(PathBuf::from("/nonexistent/python3")).await;
    let error = document.error.expect("error");
    assert_eq!(exit_code, 0);
    assert_eq!(error.code, "SYSTEM");
    assert!(
        error.message.contains("/nonexistent/python3"),
        "{}",
        error.message
    );
    // The library names the setting; only a caller that says how it is set (the binary,
    // with its environment variable) gets that named instead.
    assert!(
        error
            .message
            .contains("set PythonWorkerSettings::python to a Python"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_worker_that_exits_without_reporting_names_its_exit_status_and_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let python = fake_python(
        dir.path(),
        "echo 'fatal: something broke early' >&2\nexit 3",
    );
    let (_, document) = run_with_interpreter(python).await;
    let error = document.error.expect("error");
    assert_eq!(error.code, "USER:WorkerDied");
    assert!(
        error.message.contains("exited with status 3"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("fatal: something broke early"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_worker_killed_by_a_signal_names_the_signal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let python = fake_python(dir.path(), "kill -9 $$");
    let (_, document) = run_with_interpreter(python).await;
    let error = document.error.expect("error");
    assert!(
        error.message.contains("signal 9 (SIGKILL)"),
        "{}",
        error.message
    );
    assert!(error.message.contains("out of memory"), "{}", error.message);
}

#[tokio::test]
async fn a_scratch_directory_too_deep_for_a_socket_address_still_runs_the_worker() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Deeper than a Unix socket address can name (108 bytes).
    let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
    let python = fake_python(dir.path(), "exit 3");
    let storage = Storage::new(StorageConfig::default());
    let metrics = flyte_telemetry::Metrics::disabled();
    let executor = PythonExecutor::spawn(
        worker_settings(python, &deep),
        storage.clone(),
        metrics.clone(),
    );
    let inputs = dir.path().join("inputs.pb");
    flyte_proto::io::write_literal_map(
        &inputs,
        &literal::literal_map([("a", literal::integer(1))]),
    )
    .expect("inputs");
    let settings = RunSettings::new(
        TaskLocations::new(
            inputs.display().to_string(),
            dir.path().join("out").display().to_string(),
        ),
        dir.path().join("pipeline"),
    );
    run_task(executor, &storage, &settings, &metrics)
        .await
        .expect("run");
    let document =
        flyte_proto::io::read_error_document(dir.path().join("out/error.pb")).expect("error.pb");
    // The worker started (and exited 3), rather than its sockets failing to bind.
    let error = document.error.expect("error");
    assert_eq!(error.code, "USER:WorkerDied", "{}", error.message);
    assert!(
        error.message.contains("exited with status 3"),
        "{}",
        error.message
    );
}
