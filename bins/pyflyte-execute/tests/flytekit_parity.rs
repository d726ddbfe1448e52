//! End-to-end parity with flytekit's `pyflyte-execute`: each test runs a task from
//! `tests/parity/parity_tasks.py` under flytekit 1.16's entrypoint and under ours, with the
//! same arguments, and requires the same observable result (see `parity_support`).
//!
//! Needs the workspace's Python environment (`cargo xtask test` creates it).

mod parity_support;

use parity_support::{Case, Entrypoint, Pair, run_ours};

// Values in and out: outputs.pb must hold the same literals, and every file, directory
// or dataframe an output points to must hold the same bytes.

#[test]
fn primitive_inputs_and_outputs_match_flytekit() {
    Pair::run("primitives").assert_same_outputs();
}

#[test]
fn list_and_dict_outputs_match_flytekit() {
    Pair::run("collections").assert_same_outputs();
}

#[test]
fn optional_output_of_none_matches_flytekit() {
    Pair::run("optional_none").assert_same_outputs();
}

#[test]
fn optional_output_with_a_value_matches_flytekit() {
    Pair::run("optional_value").assert_same_outputs();
}

#[test]
fn enum_output_matches_flytekit() {
    Pair::run("enum").assert_same_outputs();
}

#[test]
fn dataclass_output_matches_flytekit() {
    Pair::run("dataclass").assert_same_outputs();
}

#[test]
fn named_tuple_outputs_match_flytekit() {
    Pair::run("named_tuple").assert_same_outputs();
}

#[test]
fn flyte_file_output_uploads_the_same_file_as_flytekit() {
    Pair::run("flyte_file").assert_same_outputs();
}

#[test]
fn flyte_directory_output_uploads_the_same_files_as_flytekit() {
    Pair::run("flyte_directory").assert_same_outputs();
}

#[test]
fn dataframe_output_writes_the_same_parquet_as_flytekit() {
    // flytekit's parquet is byte-for-byte reproducible here, so bytes are compared.
    Pair::run("dataframe").assert_same_outputs();
}

#[test]
fn structured_dataset_output_writes_the_same_parquet_as_flytekit() {
    Pair::run("structured_dataset").assert_same_outputs();
}

#[test]
fn task_without_outputs_writes_an_empty_outputs_pb_like_flytekit() {
    Pair::run("no_outputs").assert_same_outputs();
}

// Failures flytekit reports in error.pb (and still exits 0).

#[test]
fn user_exception_error_document_matches_flytekit() {
    Pair::run("value_error").assert_same_error();
}

#[test]
fn recoverable_exception_error_document_matches_flytekit() {
    Pair::run("recoverable").assert_same_error();
}

#[test]
fn module_failing_at_import_error_document_matches_flytekit() {
    Pair::run("import_error").assert_same_error();
}

#[test]
fn unknown_task_name_error_document_matches_flytekit() {
    Pair::run("unknown_task").assert_same_error();
}

#[test]
fn ignore_outputs_writes_nothing_like_flytekit() {
    let pair = Pair::run("ignore_outputs");
    pair.assert_same_ending();
    assert!(
        pair.ours.written_files().is_empty(),
        "{}",
        pair.ours.summary()
    );
}

// The worker dies: flytekit's process dies with it and reports nothing; ours survives,
// writes error.pb saying what happened, and exits 0 like any reported failure.

fn assert_worker_death_reported(case: &str, needle: &str) {
    let (_case, ours) = run_ours(case);
    ours.assert_no_panic();
    assert_eq!(ours.ending(), "exit code 0", "{}", ours.summary());
    assert!(
        ours.written_files().contains("error.pb"),
        "no error.pb\n{}",
        ours.summary()
    );
    let error = ours.error();
    assert!(
        error.message.contains(needle),
        "the error message does not mention {needle:?}:\n{}",
        error.message
    );
}

#[test]
fn segfaulting_worker_writes_error_naming_sigsegv() {
    assert_worker_death_reported("segfault", "SIGSEGV");
}

#[test]
fn worker_calling_os_exit_writes_error_naming_its_exit_status() {
    // "status 1" whatever the wording around it ("exit status 1", "exited with status 1").
    assert_worker_death_reported("exit_one", "status 1");
}

#[test]
fn worker_killed_by_sigkill_writes_error_naming_sigkill() {
    assert_worker_death_reported("sigkill", "SIGKILL");
}

// The worker leaves without the interpreter's teardown; what Python's exit does that
// anyone can see must still happen.

#[test]
fn threads_atexit_handlers_and_buffered_stdout_finish_at_exit_like_flytekit() {
    let pair = Pair::run("leave_work_for_exit");
    pair.assert_same_ending();
    pair.assert_same_outputs();
    for run in [&pair.flytekit, &pair.ours] {
        let stdout = &run.stdout;
        for line in [
            "a non-daemon thread finished after the task returned",
            "an atexit handler ran after the thread",
            "Python's buffered line",
            "C stdio's buffered line",
        ] {
            assert!(
                stdout.contains(line),
                "{line:?} missing from stdout:\n{stdout}\n{}",
                run.summary()
            );
        }
        let thread = stdout.find("a non-daemon thread finished");
        let handler = stdout.find("an atexit handler ran");
        assert!(
            thread < handler,
            "the thread is joined before atexit handlers run:\n{stdout}"
        );
    }
}

// Bad invocations: never a panic, a message that names the culprit, and error.pb exactly
// when flytekit writes one.

#[test]
fn missing_inputs_pb_writes_system_error_document_like_flytekit() {
    let case = Case::without_inputs("missing_inputs", "parity_tasks", "no_outputs");
    let pair = case.run_both();
    let (_, ours) = pair.assert_same_error_kind();
    assert!(
        ours.message.contains(&pair.case.inputs),
        "our message does not name the missing file {}:\n{}",
        pair.case.inputs,
        ours.message
    );
}

#[test]
fn corrupt_inputs_pb_writes_system_error_document_like_flytekit() {
    let case = Case::without_inputs("corrupt_inputs", "parity_tasks", "no_outputs");
    case.write_inputs(&junk(512));
    let pair = case.run_both();
    let (_, ours) = pair.assert_same_error_kind();
    assert!(
        ours.message.contains(&pair.case.inputs),
        "our message does not name the corrupt file {}:\n{}",
        pair.case.inputs,
        ours.message
    );
}

#[test]
fn unknown_resolver_module_fails_without_panicking() {
    let mut case = Case::prepare("no_outputs");
    case.resolver = "no_such_module.resolver".to_owned();
    let pair = case.run_both();
    // flytekit cannot import the resolver: a traceback, exit code 1, nothing written.
    assert_eq!(
        pair.flytekit.ending(),
        "exit code 1",
        "{}",
        pair.flytekit.summary()
    );
    assert!(
        pair.flytekit.written_files().is_empty(),
        "{}",
        pair.flytekit.summary()
    );
    pair.ours.assert_no_panic();
    assert!(
        !pair.ours.status.success(),
        "ours succeeded\n{}",
        pair.ours.summary()
    );
    // Writing error.pb is fine too; the module must be named in it or on stderr.
    let in_error_pb = pair.ours.written_files().contains("error.pb")
        && pair.ours.error().message.contains("no_such_module");
    assert!(
        in_error_pb || pair.ours.stderr.contains("no_such_module"),
        "neither our stderr nor our error.pb names the resolver module\n{}",
        pair.ours.summary()
    );
}

#[test]
fn unsupported_output_prefix_scheme_fails_without_panicking() {
    let mut case = Case::prepare("no_outputs");
    case.output_prefix = Some("ftp://x/y".to_owned());
    let pair = case.run_both();
    // flytekit runs the task, then fails to upload outputs.pb: exit code 1.
    assert_eq!(
        pair.flytekit.ending(),
        "exit code 1",
        "{}",
        pair.flytekit.summary()
    );
    pair.ours.assert_no_panic();
    assert!(
        !pair.ours.status.success(),
        "ours succeeded\n{}",
        pair.ours.summary()
    );
    assert!(
        pair.ours.stderr.contains("ftp"),
        "our stderr does not name the unsupported scheme\n{}",
        pair.ours.summary()
    );
}

/// `len` bytes that are not a protobuf message: reproducible noise from a xorshift.
fn junk(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Ours only (flytekit has no upload settings): a value the store would refuse stops
/// start-up with one line naming the variable, before the task runs or anything is
/// written, as every configuration error does.
#[test]
fn an_invalid_upload_setting_stops_start_up_naming_the_variable() {
    let case = Case::prepare("primitives");
    let run = case.run_with(Entrypoint::Ours, &[("FLYTE_AWS_ACL", "everyone")]);
    assert_eq!(run.ending(), "exit code 1", "{}", run.summary());
    assert!(
        run.stderr.contains(
            "error: loading the Flyte configuration: environment variable FLYTE_AWS_ACL is \
             \"everyone\", which is not an S3 canned ACL"
        ),
        "{}",
        run.summary()
    );
    assert!(run.written_files().is_empty(), "{}", run.summary());
}
