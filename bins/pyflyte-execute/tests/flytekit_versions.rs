//! The version matrix (issue 24): representative tasks through the `pyflyte-execute` of
//! whichever flytekit `PYFLYTE_EXECUTE_TEST_PYTHON` has, and through ours running that
//! same flytekit, output prefixes compared with the parity machinery
//! (`parity_support`, `entrypoint_support`).
//!
//! `cargo xtask test` runs this file once per cell of the matrix (flytekit 1.10 to 1.16,
//! Python 3.9 to 3.12; `xtask/src/flytekit_matrix.rs` lists the cells, each with the
//! tests it runs), each time with that cell's environment from `target/flytekit-venvs/`;
//! the workspace run covers the pinned cell (flytekit 1.16.31, Python 3.11).
//!
//! Every run has the parity task directory on `PYTHONPATH`, as task images have their
//! code: flytekit before 1.13 imports the task module only from there (later ones also
//! from the working directory), and ours does what the flytekit it runs does.

mod parity_support;

mod entrypoint_support;

use flyte_proto::core::{DynamicJobSpec, LiteralMap};
use flyte_test_support::emulators::Emulator;
use parity_support::{Backend, Case, Pair, parity_dir, side_by_side};

const S3: Backend = Backend::Remote(Emulator::S3);

/// Runs a make_inputs.py case under both entrypoints, its task module on `PYTHONPATH`.
fn pair(name: &str, backend: Backend) -> Pair {
    let case = Case::prepare_on(name, backend);
    let pythonpath = parity_dir().display().to_string();
    let env = [("PYTHONPATH", pythonpath.as_str())];
    let (flytekit, ours) = side_by_side(|entrypoint| case.run_with(entrypoint, &env));
    Pair {
        case,
        flytekit,
        ours,
    }
}

/// An entrypoint_cases.py scenario with the task module on `PYTHONPATH`.
fn scenario(name: &str) -> entrypoint_support::Scenario {
    let mut scenario =
        entrypoint_support::Scenario::prepare(name, entrypoint_support::Backend::Local);
    scenario.env("PYTHONPATH", &parity_dir().display().to_string());
    scenario
}

fn map_scenario(name: &str) -> entrypoint_support::Scenario {
    let mut scenario = scenario(name);
    assert_eq!(scenario.command[0], "pyflyte-map-execute");
    // Index 1 of the batch, offset by 2: element 3 of [3, 5, 7, 9].
    scenario
        .env("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "PARITY_ARRAY_INDEX")
        .env("PARITY_ARRAY_INDEX", "1")
        .env("BATCH_JOB_ARRAY_INDEX_OFFSET", "2");
    scenario
}

fn integer_output(run: &entrypoint_support::Run, file: &str) -> Option<i64> {
    let outputs: LiteralMap = run.message(file);
    outputs.literals.get("o0").and_then(|o0| o0.as_integer())
}

#[test]
fn primitive_outputs_match_this_flytekit() {
    pair("primitives", Backend::Local).assert_same_outputs();
}

#[test]
fn a_user_error_document_matches_this_flytekit() {
    pair("value_error", Backend::Local).assert_same_error();
}

#[test]
fn a_recoverable_error_document_matches_this_flytekit() {
    pair("recoverable", Backend::Local).assert_same_error();
}

#[test]
fn flyte_file_in_and_out_on_s3_matches_this_flytekit() {
    pair("flyte_file", S3).assert_same_outputs();
}

#[test]
fn flyte_directory_in_and_out_on_s3_matches_this_flytekit() {
    pair("flyte_directory", S3).assert_same_outputs();
}

#[test]
fn dataframe_in_and_out_on_s3_matches_this_flytekit() {
    pair("dataframe", S3).assert_same_outputs();
}

#[test]
fn a_segfaulting_task_is_reported_where_this_flytekit_writes_nothing() {
    let pair = pair("segfault", Backend::Local);
    pair.ours.assert_no_panic();
    assert!(
        pair.flytekit.written_files().is_empty(),
        "flytekit wrote {:?}",
        pair.flytekit.written_files()
    );
    assert_eq!(
        pair.ours.written_files(),
        ["error.pb".to_owned()].into(),
        "{}",
        pair.ours.summary()
    );
    let error = pair.ours.error();
    assert!(error.message.contains("SIGSEGV"), "{}", error.message);
}

#[test]
fn a_dynamic_task_writes_the_same_futures_pb_as_this_flytekit() {
    let pair = scenario("dynamic").run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/futures.pb"],
        "{}",
        pair.context()
    );
    let spec: DynamicJobSpec = pair.ours.message("outputs/futures.pb");
    assert_eq!(spec.nodes.len(), 4, "{spec:#?}");
}

#[test]
fn an_array_node_map_task_runs_the_indexed_element_like_this_flytekit() {
    let pair = map_scenario("array_node_map").run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/outputs.pb"],
        "{}",
        pair.context()
    );
    assert_eq!(integer_output(&pair.ours, "outputs/outputs.pb"), Some(81));
}

#[test]
fn a_legacy_map_task_writes_under_the_index_like_this_flytekit() {
    let pair = map_scenario("legacy_map").run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/3/outputs.pb"],
        "{}",
        pair.context()
    );
    assert_eq!(integer_output(&pair.ours, "outputs/3/outputs.pb"), Some(81));
}

#[test]
fn fast_execute_runs_the_shipped_code_like_this_flytekit() {
    let mut scenario = scenario("fast");
    // The image's code directory is where the archive is unpacked (flytekit before 1.13
    // does not put it on PYTHONPATH itself).
    scenario
        .with_archive("code")
        .env("PYTHONPATH", "{local}/code");
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/outputs.pb"],
        "{}",
        pair.context()
    );
}
