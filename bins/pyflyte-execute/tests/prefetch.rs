//! Input prefetch through the real binary, real flytekit and moto's S3: the task gets
//! exactly its inputs' bytes whether its access is served from the prefetched copy or
//! not, the debug log shows which path was taken, and nothing is left in the scratch
//! space.
//!
//! Needs moto and the Python environment `cargo xtask test` starts and creates. The
//! tasks are in `tests/parity/prefetch_tasks.py`, their inputs in make_inputs.py.

mod parity_support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flyte_proto::core::ContainerError;
use flyte_proto::{io, visit};
use flyte_test_support::emulators::Emulator;
use parity_support::{
    Backend, Case, Entrypoint, Run, on_emulator, parity_dir, split_error_message,
};

const S3: Backend = Backend::Remote(Emulator::S3);

/// Debug logs of our binary (and of flytekit in the worker).
const DEBUG_LOG: (&str, &str) = ("FLYTE_SDK_LOGGING_LEVEL", "10");
const PREFETCH_OFF: (&str, &str) = ("PYFLYTE_EXECUTE_PREFETCH", "0");
/// Prefetch whatever the disk's free space: a test machine's disk may be nearly full,
/// and the free-space bound has tests of its own (flyte-storage's tests/prefetch.rs).
const ANY_FREE_SPACE: (&str, &str) = ("PYFLYTE_EXECUTE_PREFETCH_MIN_FREE_PERCENT", "0");

/// Runs our binary on `case` with debug logs and `env`, and checks it succeeded.
fn run_ours(case: &Case, env: &[(&str, &str)]) -> Run {
    let mut all = vec![DEBUG_LOG, ANY_FREE_SPACE];
    all.extend_from_slice(env);
    let run = case.run_with(Entrypoint::Ours, &all);
    run.assert_no_panic();
    run
}

/// The single string output `o0` of a successful run.
fn string_output(run: &Run) -> String {
    assert_eq!(run.ending(), "exit code 0", "{}", run.summary());
    let outputs = run.outputs();
    outputs.literals["o0"]
        .as_str()
        .unwrap_or_else(|| panic!("o0 is a string\n{}", run.summary()))
        .to_owned()
}

/// What `function` of prefetch_tasks.py says about `path` (a digest of a file or tree).
fn digest(function: &str, path: &Path) -> String {
    let output = Command::new(flyte_test_support::python())
        .arg("-c")
        .arg(format!(
            "import sys, prefetch_tasks; print(prefetch_tasks.{function}(sys.argv[1]), end='')"
        ))
        .arg(path)
        .current_dir(parity_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python starts");
    assert!(
        output.status.success(),
        "{function}({}) failed:\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("a UTF-8 digest")
}

/// The remote file, directory and dataset URIs the case's inputs.pb names.
fn input_uris(case: &Case) -> Vec<String> {
    let local = tempfile::NamedTempFile::new().expect("a temporary file");
    on_emulator(Emulator::S3, async |storage| {
        storage.get_file(&case.inputs, local.path()).await
    })
    .unwrap_or_else(|e| panic!("downloading {}: {e}", case.inputs));
    let inputs = io::read_literal_map(local.path()).expect("inputs.pb decodes");
    let mut uris = Vec::new();
    visit::for_each_uri(&inputs, |_, uri| uris.push(uri.to_owned()));
    assert!(!uris.is_empty(), "case {} has no data input", case.name);
    uris
}

/// The messages of our run's log lines (JSON, flytekit's format), with their `uri`
/// field when they have one.
fn log_messages(run: &Run) -> Vec<(String, Option<String>)> {
    run.stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|record| {
            let message = record.get("message")?.as_str()?.to_owned();
            let uri = record
                .get("uri")
                .and_then(|u| u.as_str())
                .map(str::to_owned);
            Some((message, uri))
        })
        .collect()
}

/// How many log lines about `uri` (trailing `/` or not) say `what`.
fn log_count(run: &Run, what: &str, uri: &str) -> usize {
    let uri = uri.trim_end_matches('/');
    log_messages(run)
        .iter()
        .filter(|(message, about)| {
            message.contains(what) && about.as_deref().map(|a| a.trim_end_matches('/')) == Some(uri)
        })
        .count()
}

/// Fails unless the log says `uri` was served from its prefetched copy (as `what`).
fn assert_served_from_the_copy(run: &Run, what: &str, uri: &str) {
    let served = format!("{what} served from its prefetched copy");
    assert!(
        log_count(run, "prefetching an input", uri) > 0,
        "{uri} was not prefetched\n{}",
        run.summary()
    );
    assert_eq!(
        log_count(run, &served, uri),
        1,
        "the log does not say once that {uri} was served from its prefetched copy\n{}",
        run.summary()
    );
}

/// Fails unless no log line of the prefetcher's appears (its messages either start with
/// `prefetch` or speak of a prefetched copy; the task's own text may say anything).
fn assert_no_prefetch_in_the_log(run: &Run) {
    let lines: Vec<String> = log_messages(run)
        .into_iter()
        .map(|(message, _)| message)
        .filter(|message| message.starts_with("prefetch") || message.contains("prefetched copy"))
        .collect();
    assert!(lines.is_empty(), "prefetch is off, yet: {lines:#?}");
}

/// Everything left under the run's `TMPDIR` that our binary made: its scratch
/// directories, and anything anywhere with `prefetch` in its path.
fn leftovers(case: &Case) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with("pyflyte-execute-") || name.contains("prefetch") {
                found.push(path.clone());
            }
            if path.is_dir() {
                walk(&path, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(&case.scratch_parent(Entrypoint::Ours), &mut found);
    found
}

fn assert_nothing_left(case: &Case, run: &Run) {
    let left = leftovers(case);
    assert!(
        left.is_empty(),
        "left in the scratch space: {left:#?}\n{}",
        run.summary()
    );
}

#[test]
fn a_file_input_is_served_from_its_prefetched_copy_with_the_objects_exact_bytes() {
    let case = Case::prepare_on("prefetch_file", S3);
    let uri = &input_uris(&case)[0];
    let run = run_ours(&case, &[]);
    assert_eq!(
        string_output(&run),
        digest("file_digest", &case.input_data_dir().join("payload.bin"))
    );
    assert_served_from_the_copy(&run, "file", uri);
    assert_nothing_left(&case, &run);
}

#[test]
fn a_nested_directory_input_is_served_from_its_prefetched_copy_file_for_file() {
    let case = Case::prepare_on("prefetch_directory", S3);
    let uri = &input_uris(&case)[0];
    let run = run_ours(&case, &[]);
    let expected = digest("tree_digest", &case.input_data_dir().join("tree"));
    assert_eq!(expected.lines().count(), 5, "the case has five files");
    assert_eq!(string_output(&run), expected);
    assert_served_from_the_copy(&run, "directory", uri);
    assert_nothing_left(&case, &run);
}

#[test]
fn a_dataframe_input_is_served_from_its_prefetched_copy_and_reads_the_same_table() {
    let case = Case::prepare_on("prefetch_dataframe", S3);
    let uri = &input_uris(&case)[0];
    let run = run_ours(&case, &[]);
    assert_eq!(string_output(&run), "x,label\n1,one\n2,two\n3,three\n");
    // pandas reads the dataset's directory whole or file by file, depending on how the
    // bridge's file system is asked: either is served from the directory's copy.
    let prefix = uri.trim_end_matches('/');
    let served = log_messages(&run)
        .into_iter()
        .filter(|(message, about)| {
            message.ends_with("served from its prefetched copy")
                && about
                    .as_deref()
                    .is_some_and(|about| about.starts_with(prefix))
        })
        .count();
    assert!(
        served > 0,
        "nothing of {uri} was served from its prefetched copy\n{}",
        run.summary()
    );
    assert_nothing_left(&case, &run);
}

#[test]
fn an_input_the_task_never_reads_is_cancelled_and_its_copy_deleted() {
    let case = Case::prepare_on("prefetch_unused_file", S3);
    let uri = &input_uris(&case)[0];
    let run = run_ours(&case, &[]);
    assert_eq!(string_output(&run), "untouched");
    assert!(
        log_count(&run, "prefetching an input", uri) > 0,
        "{uri} was not prefetched\n{}",
        run.summary()
    );
    assert_eq!(
        log_count(&run, "served from its prefetched copy", uri),
        0,
        "an input the task never read was served?\n{}",
        run.summary()
    );
    let unused = log_count(&run, "prefetched copy never used: deleted", uri)
        + log_count(
            &run,
            "prefetch cancelled: the task ended before it was used",
            uri,
        );
    assert_eq!(
        unused,
        1,
        "the log does not say the unused prefetch was dropped\n{}",
        run.summary()
    );
    // The pipeline cancels before the outputs go up, and counts what it dropped.
    let cancelled: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| {
            record["message"] == "prefetches not used by the task cancelled and deleted"
        })
        .collect();
    assert_eq!(
        cancelled
            .iter()
            .map(|r| r["prefetches"].clone())
            .collect::<Vec<_>>(),
        vec![serde_json::json!(1)],
        "{}",
        run.summary()
    );
    assert_nothing_left(&case, &run);
}

#[test]
fn with_prefetch_off_every_input_is_downloaded_on_access_with_the_same_bytes() {
    let file = Case::prepare_on("prefetch_file", S3);
    let run = run_ours(&file, &[PREFETCH_OFF]);
    assert_eq!(
        string_output(&run),
        digest("file_digest", &file.input_data_dir().join("payload.bin"))
    );
    assert_no_prefetch_in_the_log(&run);
    assert_nothing_left(&file, &run);

    let directory = Case::prepare_on("prefetch_directory", S3);
    let run = run_ours(&directory, &[PREFETCH_OFF]);
    assert_eq!(
        string_output(&run),
        digest("tree_digest", &directory.input_data_dir().join("tree"))
    );
    assert_no_prefetch_in_the_log(&run);
    assert_nothing_left(&directory, &run);

    let unused = Case::prepare_on("prefetch_unused_file", S3);
    let run = run_ours(&unused, &[PREFETCH_OFF]);
    assert_eq!(string_output(&run), "untouched");
    assert_no_prefetch_in_the_log(&run);
    assert_nothing_left(&unused, &run);
}

#[test]
fn a_file_downloaded_deleted_and_downloaded_again_has_the_objects_bytes_both_times() {
    let case = Case::prepare_on("prefetch_file_twice", S3);
    let uri = &input_uris(&case)[0];
    let run = run_ours(&case, &[]);
    let expected = digest("file_digest", &case.input_data_dir().join("payload.bin"));
    assert_eq!(string_output(&run), format!("{expected} {expected}"));
    // The first access took the copy; the second downloaded the object.
    assert_served_from_the_copy(&run, "file", uri);
    assert_nothing_left(&case, &run);
}

/// Runs `delete_then_read_file`, which deletes its input object, then reads it; puts the
/// object back afterwards for the next run. Returns the run and its error document.
fn run_deleting_the_input(
    case: &Case,
    entrypoint: Entrypoint,
    env: &[(&str, &str)],
) -> (Run, ContainerError) {
    let uri = &input_uris(case)[0];
    let mut all = vec![DEBUG_LOG, ANY_FREE_SPACE];
    all.extend_from_slice(env);
    let run = case.run_with(entrypoint, &all);
    run.assert_no_panic();
    assert_eq!(run.ending(), "exit code 0", "{}", run.summary());
    assert_eq!(
        run.written_files(),
        BTreeSet::from(["error.pb".to_owned()]),
        "{}",
        run.summary()
    );
    let error = run.error();
    let payload = case.input_data_dir().join("payload.bin");
    on_emulator(Emulator::S3, async |storage| {
        storage.put_file(&payload, uri).await
    })
    .unwrap_or_else(|e| panic!("putting {uri} back: {e}"));
    (run, error)
}

/// What must be the same in two error documents about the same missing input.
fn error_shape(error: &ContainerError) -> (String, i32, i32, String) {
    let (_, message) = split_error_message(&error.message);
    (
        error.code.clone(),
        error.kind,
        error.origin,
        message.to_owned(),
    )
}

#[test]
fn an_input_deleted_after_its_prefetch_fails_the_task_as_flytekit_reports_a_missing_input() {
    let case = Case::prepare_on("prefetch_deleted_file", S3);
    let uri = input_uris(&case)[0].clone();
    let scratch = case.scratch_parent(Entrypoint::Ours);
    let scratch = scratch.to_str().expect("a UTF-8 path");
    let wait_for_copy = [
        ("PREFETCH_TEST_WAIT_FOR_COPY", "1"),
        ("PREFETCH_TEST_SCRATCH_PARENT", scratch),
    ];
    let (_, flytekit) = run_deleting_the_input(&case, Entrypoint::Flytekit, &[]);
    let (with_prefetch, ours) = run_deleting_the_input(&case, Entrypoint::Ours, &wait_for_copy);
    assert_eq!(
        error_shape(&flytekit),
        error_shape(&ours),
        "(code, kind, origin, Message:) differ (left: flytekit, right: ours with prefetch)"
    );
    // The copy was made, then refused: the object it came from is gone.
    let prefetched = log_messages(&with_prefetch)
        .into_iter()
        .filter(|(message, about)| message == "prefetched" && about.as_deref() == Some(&uri))
        .count();
    assert_eq!(prefetched, 1, "{}", with_prefetch.summary());
    assert_eq!(
        log_count(&with_prefetch, "prefetched file not usable", &uri),
        1,
        "{}",
        with_prefetch.summary()
    );
    assert_nothing_left(&case, &with_prefetch);

    let off = Case::prepare_on("prefetch_deleted_file", S3);
    let (without_prefetch, ours_off) =
        run_deleting_the_input(&off, Entrypoint::Ours, &[PREFETCH_OFF]);
    assert_no_prefetch_in_the_log(&without_prefetch);
    let other_uri = &input_uris(&off)[0];
    let mut shape_off = error_shape(&ours_off);
    shape_off.3 = shape_off.3.replace(other_uri.as_str(), &uri);
    assert_eq!(
        error_shape(&ours),
        shape_off,
        "the error differs with prefetch on (left) and off (right)"
    );
    assert_nothing_left(&off, &without_prefetch);
}
