//! End-to-end parity of the rest of flytekit's execution surface (issue 6): dynamic
//! tasks, `pyflyte-map-execute` with both map resolvers, `pyflyte-fast-execute`,
//! checkpoints, literal offloading, the distributed error strategy, runtime packages and
//! decks. Each test runs the container command flytekit serialises for a task from
//! `tests/parity/entrypoint_tasks.py` under flytekit 1.16's console scripts and under
//! ours, and requires the same objects under both runs' prefixes (see `entrypoint_support`).
//!
//! Every test takes the storage [`Backend`] as a parameter. The tests at the top level run
//! on local files; those in [`s3`] run every case whose task touches storage again with
//! the inputs, the code archive, the previous checkpoint and both runs' prefixes in a
//! fresh prefix of moto's test bucket, flytekit (s3fs) against ours, compared the same way.
//! Needs the workspace's Python environment and, for [`s3`], the storage emulators
//! (`cargo xtask test` creates and starts both).

mod parity_support;

mod entrypoint_support;

use std::path::Path;

use entrypoint_support::{Backend, Pair, Run, Scenario};
use flyte_proto::core::{DynamicJobSpec, Literal, LiteralMap};
use flyte_test_support::emulators::Emulator;
use parity_support::Entrypoint;

const LOCAL: Backend = Backend::Local;

fn output_literal(run: &Run, file: &str, name: &str) -> Literal {
    let outputs: LiteralMap = run.message(file);
    outputs
        .literals
        .get(name)
        .unwrap_or_else(|| panic!("no output {name} in {file}\n{}", run.summary()))
        .clone()
}

// 1. Dynamic tasks: futures.pb instead of outputs.pb.

fn dynamic_task_writes_the_same_futures_pb(backend: Backend) {
    let pair = Scenario::prepare("dynamic", backend).run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/futures.pb"],
        "{}",
        pair.context()
    );
    let spec: DynamicJobSpec = pair.ours.message("outputs/futures.pb");
    // Three square tasks and the sub-workflow, whose template comes along.
    assert_eq!(spec.nodes.len(), 4, "{spec:#?}");
    assert_eq!(spec.subworkflows.len(), 1, "{spec:#?}");
}

#[test]
fn dynamic_task_writes_the_same_futures_pb_as_flytekit() {
    dynamic_task_writes_the_same_futures_pb(LOCAL);
}

// 2. pyflyte-map-execute: the element at BATCH_JOB_ARRAY_INDEX_VAR_NAME's index plus
// BATCH_JOB_ARRAY_INDEX_OFFSET, with the resolver arguments flytekit serialises.

fn map_scenario(case: &str, backend: Backend) -> Scenario {
    let mut scenario = Scenario::prepare(case, backend);
    assert_eq!(scenario.command[0], "pyflyte-map-execute");
    // Index 1 of the batch, offset by 2: element 3 of [3, 5, 7, 9].
    scenario
        .env("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "PARITY_ARRAY_INDEX")
        .env("PARITY_ARRAY_INDEX", "1")
        .env("BATCH_JOB_ARRAY_INDEX_OFFSET", "2");
    scenario
}

fn array_node_map_task_runs_the_indexed_element(backend: Backend) {
    let scenario = map_scenario("array_node_map", backend);
    assert!(
        scenario
            .command
            .contains(&"flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver".to_owned())
    );
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/outputs.pb"],
        "{}",
        pair.context()
    );
    let o0 = output_literal(&pair.ours, "outputs/outputs.pb", "o0");
    assert_eq!(o0.as_integer(), Some(81), "element 3 (9) squared: {o0:?}");
}

#[test]
fn array_node_map_task_runs_the_element_at_the_batch_index_like_flytekit() {
    array_node_map_task_runs_the_indexed_element(LOCAL);
}

fn legacy_map_task_writes_under_the_index(backend: Backend) {
    let scenario = map_scenario("legacy_map", backend);
    assert!(
        scenario
            .command
            .contains(&"flytekit.core.legacy_map_task.MapTaskResolver".to_owned())
    );
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/3/outputs.pb"],
        "{}",
        pair.context()
    );
    // One element's output; the array plugin assembles the list.
    let o0 = output_literal(&pair.ours, "outputs/3/outputs.pb", "o0");
    assert_eq!(o0.as_integer(), Some(81), "element 3 (9) squared: {o0:?}");
}

#[test]
fn legacy_map_task_writes_under_output_prefix_slash_index_like_flytekit() {
    legacy_map_task_writes_under_the_index(LOCAL);
}

fn legacy_map_task_error_lands_under_the_index(backend: Backend) {
    let pair = map_scenario("legacy_map_error", backend).run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/3/error.pb"],
        "{}",
        pair.context()
    );
    let error = pair
        .ours
        .error_document("outputs/3")
        .1
        .error
        .expect("an error");
    assert!(
        error.message.contains("worker could not handle 4"),
        "{}",
        error.message
    );
}

#[test]
fn legacy_map_task_error_document_lands_under_the_index_like_flytekit() {
    legacy_map_task_error_lands_under_the_index(LOCAL);
}

fn legacy_map_task_offloads_under_the_index(backend: Backend) {
    let mut scenario = map_scenario("legacy_map_offload", backend);
    scenario.env("_F_L_MIN_SIZE_MB", "0");
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        ["outputs/3/o0_offloaded_metadata.pb", "outputs/3/outputs.pb"],
        "{}",
        pair.context()
    );
    for run in [&pair.flytekit, &pair.ours] {
        assert_offloaded_into_the_real_output_prefix(run, "outputs/3", &["o0"]);
    }
}

#[test]
fn legacy_map_task_offloaded_literal_points_under_the_index_like_flytekit() {
    legacy_map_task_offloads_under_the_index(LOCAL);
}

fn map_task_dry_run_writes_nothing(backend: Backend) {
    let mut scenario = map_scenario("legacy_map", backend);
    let at = scenario
        .command
        .iter()
        .position(|a| a == "--resolver")
        .expect("--resolver");
    scenario.command.insert(at, "--test".to_owned());
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    assert!(pair.ours.files.is_empty(), "{}", pair.context());
}

#[test]
fn map_task_test_flag_loads_the_task_and_writes_nothing_like_flytekit() {
    map_task_dry_run_writes_nothing(LOCAL);
}

fn map_task_with_max_concurrency_runs_like_flytekit(backend: Backend) {
    let mut scenario = map_scenario("array_node_map", backend);
    let at = scenario
        .command
        .iter()
        .position(|a| a == "--resolver")
        .expect("--resolver");
    scenario
        .command
        .splice(at..at, ["--max-concurrency".to_owned(), "2".to_owned()]);
    scenario.run_both().assert_same_prefix();
}

#[test]
fn map_task_accepts_max_concurrency_like_flytekit() {
    map_task_with_max_concurrency_runs_like_flytekit(LOCAL);
}

// 3. pyflyte-fast-execute: the code comes in an archive, unpacked into --dest-dir, which
// the inner pyflyte-execute (the same implementation's, first on PATH) imports from.

fn fast_execute_runs_the_shipped_code(backend: Backend) {
    let mut scenario = Scenario::prepare("fast", backend);
    assert_eq!(scenario.command[0], "pyflyte-fast-execute");
    scenario.with_archive("code");
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    let o0 = output_literal(&pair.ours, "outputs/outputs.pb", "o0");
    assert_eq!(o0.as_str(), Some("shipped code ran with 6"));
    for run in [&pair.flytekit, &pair.ours] {
        assert!(
            run.local.join("code/fast_code_tasks.py").is_file(),
            "code not unpacked into --dest-dir\n{}",
            run.summary()
        );
    }
}

#[test]
fn fast_execute_unpacks_the_archive_and_runs_the_task_like_flytekit() {
    fast_execute_runs_the_shipped_code(LOCAL);
}

fn fast_dynamic_task_passes_the_distribution_on(backend: Backend) {
    let mut scenario = Scenario::prepare("fast_dynamic", backend);
    scenario.with_archive("code");
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    // The sub-tasks run from the same archive: flytekit learnt it from the
    // --dynamic-addl-distro/--dynamic-dest-dir that fast-execute inserted.
    let spec: DynamicJobSpec = pair.ours.message("outputs/futures.pb");
    let Some(flyte_proto::core::task_template::Target::Container(container)) =
        &spec.tasks[0].target
    else {
        panic!("the sub-task has no container: {spec:#?}");
    };
    let args = &container.args;
    assert_eq!(
        args[..2],
        ["pyflyte-fast-execute", "--additional-distribution"],
        "{args:?}"
    );
    assert_eq!(
        args[2],
        format!("{}/code.tar.gz", pair.scenario.case_root())
    );
    assert_eq!(args[4], pair.ours.local.join("code").display().to_string());
}

#[test]
fn fast_execute_dynamic_task_hands_its_code_archive_to_sub_tasks_like_flytekit() {
    fast_dynamic_task_passes_the_distribution_on(LOCAL);
}

fn fast_execute_defaults_to_the_working_directory(backend: Backend) {
    let mut scenario = Scenario::prepare("fast_dynamic", backend);
    scenario.with_archive("code");
    let at = scenario
        .command
        .iter()
        .position(|a| a == "--dest-dir")
        .expect("--dest-dir");
    scenario.command.drain(at..at + 2);
    let pair = scenario.run_both();
    // The runs start in their local directory: the code lands there, and the sub-tasks
    // are told so (`<local>` in futures.pb).
    pair.assert_same_prefix();
    for run in [&pair.flytekit, &pair.ours] {
        assert!(
            run.local.join("fast_code_tasks.py").is_file(),
            "code not unpacked into the working directory\n{}",
            run.summary()
        );
    }
}

#[test]
fn fast_execute_without_dest_dir_unpacks_into_the_working_directory_like_flytekit() {
    fast_execute_defaults_to_the_working_directory(LOCAL);
}

fn fast_execute_exits_with_the_task_commands_status(backend: Backend) {
    let mut scenario = Scenario::prepare("fast_failure", backend);
    scenario
        .with_archive("code")
        .env("FLYTE_FAIL_ON_ERROR", "true");
    let pair = scenario.run_both();
    pair.assert_same_error();
    assert_eq!(pair.ours.ending(), "exit code 1", "{}", pair.context());
}

#[test]
fn fast_execute_exits_with_the_status_of_the_task_command_like_flytekit() {
    fast_execute_exits_with_the_task_commands_status(LOCAL);
}

// flytekit exits 1 and writes nothing, so the user sees "No message received"; ours
// also exits 1, and writes error.pb where the task command would have written.

fn fast_execute_missing_archive_fails(backend: Backend) {
    let mut scenario = Scenario::prepare("fast", backend);
    scenario.fill("@DISTRIBUTION@", "{case}/no-such-code.tar.gz");
    let pair = scenario.run_both();
    assert_eq!(pair.flytekit.ending(), "exit code 1", "{}", pair.context());
    assert!(pair.flytekit.files.is_empty(), "{}", pair.context());
    assert_eq!(pair.ours.ending(), "exit code 1", "{}", pair.context());
    assert!(
        pair.ours.stderr.contains("no-such-code.tar.gz"),
        "our error does not name the archive\n{}",
        pair.ours.summary()
    );
    assert_eq!(
        pair.ours.names(),
        ["outputs/error.pb"],
        "{}",
        pair.context()
    );
    let error = pair
        .ours
        .error_document("outputs")
        .1
        .error
        .expect("an error");
    assert_eq!(error.code, "SYSTEM");
    assert!(
        error.message.contains("no-such-code.tar.gz"),
        "{}",
        error.message
    );
}

#[test]
fn fast_execute_with_a_missing_archive_fails_and_says_why_in_error_pb() {
    fast_execute_missing_archive_fails(LOCAL);
}

fn fast_execute_passes_sigterm_on(backend: Backend) {
    let mut scenario = Scenario::prepare("fast_sleeper", backend);
    scenario
        .with_archive("code")
        .env("PARITY_MARKER", "{local}/marker");
    let (flytekit, ours) = std::thread::scope(|scope| {
        let flytekit =
            scope.spawn(|| scenario.run_signalled(Entrypoint::Flytekit, Some(("marker", "TERM"))));
        let ours =
            scope.spawn(|| scenario.run_signalled(Entrypoint::Ours, Some(("marker", "TERM"))));
        (
            flytekit.join().expect("flytekit runs"),
            ours.join().expect("ours runs"),
        )
    });
    // flytekit passes SIGTERM to its pyflyte-execute, which dies of it: nothing written,
    // and fast-execute exits with sys.exit(-15), status 241.
    assert_eq!(flytekit.ending(), "exit code 241", "{}", flytekit.summary());
    assert!(flytekit.files.is_empty(), "{}", flytekit.summary());
    // Ours passes it to our pyflyte-execute, which passes it to its worker and reports
    // the stop in error.pb; fast-execute exits with that command's status.
    assert_eq!(ours.names(), ["outputs/error.pb"], "{}", ours.summary());
    let error = ours.error_document("outputs").1.error.expect("an error");
    assert!(error.message.contains("SIGTERM"), "{}", error.message);
    assert_eq!(error.code, "SYSTEM:WorkerDied");
    assert_eq!(ours.ending(), "exit code 0", "{}", ours.summary());
}

#[test]
fn fast_execute_passes_sigterm_on_to_the_task_command() {
    fast_execute_passes_sigterm_on(LOCAL);
}

fn hostile_archive_is_refused(kind: &str, needle: &str, backend: Backend) {
    let mut scenario = Scenario::prepare("fast", backend);
    scenario.with_archive(kind);
    let ours = scenario.run(Entrypoint::Ours);
    assert!(!ours.stderr.contains("panicked at"), "{}", ours.summary());
    assert!(
        !ours.status.success(),
        "a hostile archive was accepted\n{}",
        ours.summary()
    );
    assert!(
        ours.stderr.contains("refusing to unpack") && ours.stderr.contains(needle),
        "the error does not say which member was refused and why\n{}",
        ours.summary()
    );
    // Only the error document: the task never ran.
    assert_eq!(ours.names(), ["outputs/error.pb"], "{}", ours.summary());
    let error = ours.error_document("outputs").1.error.expect("an error");
    assert!(
        error.message.contains("refusing to unpack"),
        "{}",
        error.message
    );
    // Nothing but the downloaded archive in --dest-dir, and nothing beside it.
    let dest = ours.local.join("code");
    let in_dest: Vec<_> = std::fs::read_dir(&dest)
        .expect("dest-dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(in_dest, ["code.tar.gz"], "{}", ours.summary());
    for escaped in [
        ours.local.join("evil"),
        scenario
            .dir()
            .join("archive-hostile-absolute/absolute-evil"),
    ] {
        assert!(!escaped.exists(), "{} was written", escaped.display());
    }
    assert!(!Path::new("/etc/evil").exists());
}

#[test]
fn fast_execute_refuses_an_archive_member_climbing_out_with_dotdot() {
    hostile_archive_is_refused("hostile-dotdot", "../evil", LOCAL);
}

#[test]
fn fast_execute_refuses_an_archive_member_with_an_absolute_path() {
    hostile_archive_is_refused("hostile-absolute", "absolute path", LOCAL);
}

#[test]
fn fast_execute_refuses_an_archive_symlink_to_etc() {
    hostile_archive_is_refused("hostile-symlink", "etc_link", LOCAL);
}

// 4. Checkpoints: the task reads --prev-checkpoint and writes --checkpoint-path.

fn checkpoint_scenario(backend: Backend, prev: Option<&str>) -> Scenario {
    let mut scenario = Scenario::prepare("checkpoint", backend);
    scenario.fill("{{.checkpointOutputPrefix}}", "{run}/checkpoint");
    if let Some(prev) = prev {
        scenario.fill("{{.prevCheckpointPrefix}}", prev);
    }
    scenario
}

fn checkpoint_resumes_from_the_previous_one(backend: Backend) {
    let scenario = checkpoint_scenario(backend, Some("{case}/previous"));
    // The previous attempt counted to 10, in flytekit's single-file layout.
    let previous = scenario.dir().join("previous-checkpoint");
    std::fs::write(&previous, "10").expect("a previous checkpoint");
    scenario.put(&previous, "previous/_dst_cp");
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    assert_eq!(
        output_literal(&pair.ours, "outputs/outputs.pb", "o0").as_integer(),
        Some(15)
    );
    assert_eq!(
        pair.ours.files.get("checkpoint/_dst_cp").map(Vec::as_slice),
        Some(&b"15"[..]),
        "{}",
        pair.context()
    );
}

#[test]
fn checkpoint_task_reads_the_previous_and_writes_a_new_checkpoint_like_flytekit() {
    checkpoint_resumes_from_the_previous_one(LOCAL);
}

fn empty_previous_checkpoints_count_as_none(backend: Backend) {
    // Propeller's values for "no previous attempt": an empty string, quoted or not.
    let pairs = std::thread::scope(|scope| {
        let runs: Vec<_> = ["", "\"\""]
            .into_iter()
            .map(|prev| scope.spawn(move || checkpoint_scenario(backend, Some(prev)).run_both()))
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("runs"))
            .collect::<Vec<Pair>>()
    });
    for pair in pairs {
        pair.assert_same_prefix();
        assert_eq!(
            output_literal(&pair.ours, "outputs/outputs.pb", "o0").as_integer(),
            Some(5),
            "{}",
            pair.context()
        );
        assert_eq!(
            pair.ours.files.get("checkpoint/_dst_cp").map(Vec::as_slice),
            Some(&b"5"[..])
        );
    }
}

#[test]
fn empty_previous_checkpoint_values_mean_no_checkpoint_like_flytekit() {
    empty_previous_checkpoints_count_as_none(LOCAL);
}

fn unfilled_checkpoint_templates_mean_no_checkpointer(backend: Backend) {
    // Both templates left as Propeller's unfilled strings: no checkpointer at all, so the
    // task's use of one fails in both the same way.
    let pair = Scenario::prepare("checkpoint", backend).run_both();
    assert!(
        pair.ours
            .args
            .contains(&"{{.prevCheckpointPrefix}}".to_owned())
    );
    pair.assert_same_error();
}

#[test]
fn unfilled_checkpoint_templates_leave_the_task_without_a_checkpointer_like_flytekit() {
    unfilled_checkpoint_templates_mean_no_checkpointer(LOCAL);
}

// 5. Literal offloading.

fn assert_offloaded_into_the_real_output_prefix(run: &Run, dir: &str, names: &[&str]) {
    let outputs: LiteralMap = run.message(&format!("{dir}/outputs.pb"));
    for name in names {
        let literal = &outputs.literals[*name];
        let Some(flyte_proto::core::literal::Value::OffloadedMetadata(offloaded)) = &literal.value
        else {
            panic!(
                "output {name} is not offloaded: {literal:?}\n{}",
                run.summary()
            );
        };
        assert_eq!(
            offloaded.uri,
            format!("{}/{dir}/{name}_offloaded_metadata.pb", run.root),
            "{}",
            run.summary()
        );
        let stored = &run.files[&format!("{dir}/{name}_offloaded_metadata.pb")];
        assert_eq!(
            offloaded.size_bytes,
            stored.len() as u64,
            "size_bytes is the offloaded literal's size"
        );
        assert!(
            !literal.hash.is_empty(),
            "the offloaded literal has no hash"
        );
    }
}

fn outputs_are_offloaded_at_the_minimum_size(backend: Backend) {
    let mut scenario = Scenario::prepare("offload", backend);
    scenario.env("_F_L_MIN_SIZE_MB", "0");
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    assert_eq!(
        pair.ours.names(),
        [
            "outputs/o0_offloaded_metadata.pb",
            "outputs/o1_offloaded_metadata.pb",
            "outputs/outputs.pb"
        ],
        "{}",
        pair.context()
    );
    for run in [&pair.flytekit, &pair.ours] {
        assert_offloaded_into_the_real_output_prefix(run, "outputs", &["o0", "o1"]);
    }
}

#[test]
fn outputs_over_the_minimum_size_are_offloaded_like_flytekit() {
    outputs_are_offloaded_at_the_minimum_size(LOCAL);
}

fn map_task_offloads_with_the_element_type(backend: Backend) {
    let mut scenario = map_scenario("offload_map", backend);
    scenario
        .env("PARITY_ARRAY_INDEX", "0")
        .env("BATCH_JOB_ARRAY_INDEX_OFFSET", "0")
        .env("_F_L_MIN_SIZE_MB", "0");
    let pair = scenario.run_both();
    // assert_same_prefix compares inferred_type too: List[str], the map output's
    // collection type unwrapped, in both.
    pair.assert_same_prefix();
    assert_offloaded_into_the_real_output_prefix(&pair.ours, "outputs", &["o0"]);
}

#[test]
fn map_task_offloaded_output_carries_the_unwrapped_collection_type_like_flytekit() {
    map_task_offloads_with_the_element_type(LOCAL);
}

fn too_large_literal_is_refused(backend: Backend) {
    let mut scenario = Scenario::prepare("offload", backend);
    scenario
        .env("_F_L_MIN_SIZE_MB", "0")
        .env("_F_L_MAX_SIZE_MB", "0");
    let pair = scenario.run_both();
    let document = pair.assert_same_error();
    let message = document.error.expect("an error").message;
    assert!(
        message.contains("is too large to be offloaded"),
        "{message}"
    );
}

#[test]
fn literal_over_the_maximum_size_fails_with_flytekits_error() {
    too_large_literal_is_refused(LOCAL);
}

fn unreadable_offloading_size_fails_like_flytekit(backend: Backend) {
    let mut scenario = Scenario::prepare("offload", backend);
    scenario.env("_F_L_MIN_SIZE_MB", "ten");
    scenario.run_both().assert_same_error();
}

#[test]
fn offloading_size_that_is_not_a_number_fails_with_flytekits_error() {
    unreadable_offloading_size_fails_like_flytekit(LOCAL);
}

// 6. The distributed error strategy.

fn distributed_error_scenario(backend: Backend) -> Scenario {
    let mut scenario = Scenario::prepare("worker_error", backend);
    scenario.env("_F_DES", "Earliest").env("_F_WN", "worker-3");
    scenario
}

fn distributed_error_file_names_the_worker(backend: Backend) {
    let pair = distributed_error_scenario(backend).run_both();
    let document = pair.assert_same_error();
    assert_eq!(
        pair.ours.names(),
        ["outputs/error-<uuid>.pb"],
        "{}",
        pair.context()
    );
    assert_eq!(document.error.expect("an error").worker, "worker-3");
    assert_eq!(pair.ours.ending(), "exit code 0");
}

#[test]
fn distributed_error_strategy_writes_error_uuid_pb_naming_the_worker_like_flytekit() {
    distributed_error_file_names_the_worker(LOCAL);
}

fn fail_on_error_exits_one(backend: Backend) {
    let mut scenario = distributed_error_scenario(backend);
    scenario.env("FLYTE_FAIL_ON_ERROR", "true");
    let pair = scenario.run_both();
    pair.assert_same_error();
    assert_eq!(pair.ours.ending(), "exit code 1", "{}", pair.context());
}

#[test]
fn fail_on_error_exits_one_after_writing_the_error_file_like_flytekit() {
    fail_on_error_exits_one(LOCAL);
}

// A task calling sys.exit: flytekit's process exits with its status and writes nothing;
// ours reports it in error.pb like any worker that ends without a result.

fn sys_exit_is_reported(backend: Backend) {
    let pair = Scenario::prepare("sys_exit", backend).run_both();
    assert_eq!(pair.flytekit.ending(), "exit code 3", "{}", pair.context());
    assert!(pair.flytekit.files.is_empty(), "{}", pair.context());
    assert_eq!(pair.ours.ending(), "exit code 0", "{}", pair.context());
    assert_eq!(
        pair.ours.names(),
        ["outputs/error.pb"],
        "{}",
        pair.context()
    );
    let error = pair
        .ours
        .error_document("outputs")
        .1
        .error
        .expect("an error");
    assert!(error.message.contains("status 3"), "{}", error.message);
}

#[test]
fn task_calling_sys_exit_is_reported_in_error_pb_instead_of_lost() {
    sys_exit_is_reported(LOCAL);
}

// A BaseException that is not an Exception raised by the task: flytekit's process dies of
// it and writes nothing; ours writes what flytekit writes for the task's own exceptions
// (USER, non-recoverable, the trace from flytekit's user scope down), so Flyte does not
// retry it as a system failure.

fn base_exception_is_a_user_error(case: &str, type_name: &str, backend: Backend) {
    let pair = Scenario::prepare(case, backend).run_both();
    assert_eq!(pair.flytekit.ending(), "exit code 1", "{}", pair.context());
    assert!(pair.flytekit.files.is_empty(), "{}", pair.context());
    assert_eq!(pair.ours.ending(), "exit code 0", "{}", pair.context());
    assert_eq!(
        pair.ours.names(),
        ["outputs/error.pb"],
        "{}",
        pair.context()
    );
    let error = pair
        .ours
        .error_document("outputs")
        .1
        .error
        .expect("an error");
    // What flytekit writes for a user exception (the worker_error case compares it).
    assert_eq!(
        (error.code.as_str(), error.kind, error.origin),
        ("USER:RuntimeError", 0, 1),
        "USER:RuntimeError, NON_RECOVERABLE, USER: {}",
        error.message
    );
    assert!(
        error
            .message
            .starts_with("Trace:\n\n    Traceback (most recent call last):\n")
            && error.message.contains("in dispatch_execute")
            && error.message.contains("in raise_base_exception")
            && error
                .message
                .contains(&format!("\nMessage:\n\n    {type_name}: the task")),
        "{}",
        error.message
    );
    assert!(
        !error.message.contains("pyflyte_execute_worker"),
        "{}",
        error.message
    );
}

#[test]
fn a_task_raising_keyboard_interrupt_is_a_user_error_not_a_retried_system_error() {
    base_exception_is_a_user_error("keyboard_interrupt", "KeyboardInterrupt", LOCAL);
}

#[test]
fn a_task_raising_generator_exit_is_a_user_error_not_a_retried_system_error() {
    base_exception_is_a_user_error("generator_exit", "GeneratorExit", LOCAL);
}

#[test]
fn a_task_raising_its_own_base_exception_is_a_user_error_not_a_retried_system_error() {
    base_exception_is_a_user_error("own_base_exception", "Boom", LOCAL);
}

#[test]
fn a_sigint_passed_on_while_the_task_runs_is_not_reported_as_the_tasks_own_error() {
    // The KeyboardInterrupt Python raises for a SIGINT the supervisor passed on is a stop
    // signal, not the task's BaseException: it must not become a USER error (today the
    // supervisor's stop handling reports SYSTEM:WorkerDied before any worker event; the
    // worker also refuses to classify an interrupt it received as the task's own).
    let mut scenario = Scenario::prepare("pause", LOCAL);
    scenario.env("PARITY_MARKER", "{local}/marker");
    let ours = scenario.run_signalled(Entrypoint::Ours, Some(("marker", "INT")));
    assert_eq!(ours.names(), ["outputs/error.pb"], "{}", ours.summary());
    let error = ours.error_document("outputs").1.error.expect("an error");
    assert_ne!(error.origin, 1, "not a USER error: {}", error.message);
    assert!(
        error.code.starts_with("SYSTEM"),
        "{}: {}",
        error.code,
        error.message
    );
}

// A lone surrogate in the task's exception message: flytekit fails encoding its error
// document and writes nothing; ours writes the user's ValueError with the surrogate
// escaped as Python prints it.

#[test]
fn a_lone_surrogate_in_the_message_still_reports_the_users_value_error() {
    let pair = Scenario::prepare("lone_surrogate", LOCAL).run_both();
    assert_eq!(pair.flytekit.ending(), "exit code 1", "{}", pair.context());
    assert!(pair.flytekit.files.is_empty(), "{}", pair.context());
    assert_eq!(pair.ours.ending(), "exit code 0", "{}", pair.context());
    let error = pair
        .ours
        .error_document("outputs")
        .1
        .error
        .expect("an error");
    assert_eq!(
        (error.code.as_str(), error.kind, error.origin),
        ("USER:RuntimeError", 0, 1),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .ends_with("\nMessage:\n\n    ValueError: undecodable \\udc80 byte in 3"),
        "{}",
        error.message
    );
}

// Outputs nested deeper than a decoder with a fixed limit reads (prost's is 100
// messages): flytekit writes them, and so do we, byte for byte.

fn deeply_nested_outputs_are_written(backend: Backend) {
    let pair = Scenario::prepare("deep_list", backend).run_both();
    assert_eq!(pair.ours.ending(), "exit code 0", "{}", pair.context());
    assert_eq!(
        pair.ours.names(),
        ["outputs/outputs.pb"],
        "{}",
        pair.context()
    );
    assert_eq!(
        pair.flytekit.names(),
        pair.ours.names(),
        "{}",
        pair.context()
    );
    assert!(
        pair.flytekit.files["outputs/outputs.pb"] == pair.ours.files["outputs/outputs.pb"],
        "outputs.pb differs\n{}",
        pair.context()
    );
}

#[test]
fn a_list_nested_49_deep_is_written_to_outputs_pb_like_flytekit() {
    deeply_nested_outputs_are_written(LOCAL);
}

// An exception message of 50 MiB: flytekit writes an error.pb of about 100 MiB, which
// Flyte refuses (over about 10 MiB), so the user sees nothing; ours is capped at 1 MiB
// of message, keeping the head and tail of the trace and of the summary.

fn huge_error_messages_are_capped(backend: Backend) {
    let pair = Scenario::prepare("huge_error", backend).run_both();
    let theirs = pair.flytekit.files["outputs/error.pb"].len();
    assert!(theirs > 50 << 20, "flytekit's error.pb is {theirs} bytes");
    let ours = pair.ours.files["outputs/error.pb"].len();
    assert!(
        ours < 2 << 20,
        "our error.pb is {ours} bytes\n{}",
        pair.context()
    );
    let error = pair
        .ours
        .error_document("outputs")
        .1
        .error
        .expect("an error");
    let theirs = pair
        .flytekit
        .error_document("outputs")
        .1
        .error
        .expect("an error");
    assert_eq!(
        (error.code.as_str(), error.kind, error.origin),
        (theirs.code.as_str(), theirs.kind, theirs.origin)
    );
    assert!(
        error.message.starts_with("Trace:\n\n    Traceback"),
        "{}",
        &error.message[..200]
    );
    assert!(error.message.contains("bytes cut here"));
    assert!(
        error
            .message
            .contains("\nMessage:\n\n    ValueError: too big to tell: xxx"),
        "the summary's head survives"
    );
    assert!(
        error.message.ends_with("xxx (for 1)"),
        "the summary's tail survives"
    );
}

#[test]
fn an_exception_message_of_50_mib_gives_an_error_pb_flyte_accepts() {
    huge_error_messages_are_capped(LOCAL);
}

// A task that ignores SIGTERM: flytekit's process never stops, until Kubernetes SIGKILLs
// the pod and nothing is written. Ours SIGKILLs the worker after its stop grace and
// writes the error document while the pod's grace period lasts.

fn stubborn_scenario(backend: Backend) -> Scenario {
    let mut scenario = Scenario::prepare("stubborn", backend);
    scenario
        .env("PARITY_MARKER", "{local}/marker")
        .env("PYFLYTE_EXECUTE_STOP_GRACE_SECONDS", "2");
    scenario
}

#[test]
fn a_task_ignoring_sigterm_is_killed_after_the_stop_grace_and_reported() {
    let ours = stubborn_scenario(LOCAL).run_signalled(Entrypoint::Ours, Some(("marker", "TERM")));
    assert_eq!(ours.ending(), "exit code 0", "{}", ours.summary());
    assert_eq!(ours.names(), ["outputs/error.pb"], "{}", ours.summary());
    let error = ours.error_document("outputs").1.error.expect("an error");
    assert_eq!(error.code, "SYSTEM:WorkerDied");
    assert!(
        error.message.contains("did not stop within 2s") && error.message.contains("SIGTERM"),
        "{}",
        error.message
    );
}

/// Whether the process `pid` is still running (a zombie waiting to be reaped is not).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(") ").next().map(|rest| !rest.starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn the_worker_never_outlives_a_sigkilled_supervisor() {
    // The scenario owns the run's directory: kept until the marker is read.
    let scenario = stubborn_scenario(LOCAL);
    let ours = scenario.run_signalled(Entrypoint::Ours, Some(("marker", "KILL")));
    assert_eq!(ours.ending(), "killed by signal 9", "{}", ours.summary());
    let pid = std::fs::read_to_string(ours.local.join("marker")).expect("the worker's pid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running(pid.trim()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !running(pid.trim()),
        "the worker {pid} outlived its supervisor"
    );
}

// An unusable TMPDIR (full, read-only, not a directory): Python's tempfile passes over
// it to /tmp, so flytekit runs the task; ours must too.

#[test]
fn an_unusable_tmpdir_is_passed_over_like_flytekit() {
    let mut scenario = Scenario::prepare("offload", LOCAL);
    scenario.env("TMPDIR", "/dev/null");
    let pair = scenario.run_both();
    assert_eq!(pair.ours.ending(), "exit code 0", "{}", pair.context());
    assert_eq!(
        pair.ours.names(),
        ["outputs/outputs.pb"],
        "{}",
        pair.context()
    );
    pair.assert_same_prefix();
}

// 7. Runtime packages, installed with the worker's pip before the task runs.

fn runtime_package_is_installed_first(backend: Backend) {
    let mut scenario = Scenario::prepare("runtime_package", backend);
    let wheel = scenario.build_wheel();
    // Offline, into the run's own directory (not the shared venv), which is on PYTHONPATH.
    let packages = format!(
        "--no-index --no-cache-dir --disable-pip-version-check --quiet --target {{local}}/site {}",
        wheel.display()
    );
    scenario
        .env("_F_RUNTIME_PACKAGES", &packages)
        .env("PYTHONPATH", "{local}/site");
    let pair = scenario.run_both();
    pair.assert_same_prefix();
    let o0 = output_literal(&pair.ours, "outputs/outputs.pb", "o0");
    assert_eq!(
        o0.as_str(),
        Some("runtime package greets 4"),
        "{}",
        pair.context()
    );
}

#[test]
fn runtime_packages_are_installed_before_the_task_runs_like_flytekit() {
    runtime_package_is_installed_first(LOCAL);
}

// 8. Decks.

fn deck_is_written_beside_the_outputs(backend: Backend) {
    let pair = Scenario::prepare("deck", backend).run_both();
    if backend == Backend::Remote(flyte_test_support::emulators::Emulator::Azure) {
        // flytekit 1.16.31 cannot upload its deck to Azure: adlfs rejects the
        // `ContentType` it passes ("unexpected keyword argument 'ContentType'") and the
        // deck is lost with an error in the log. Ours writes it.
        assert_eq!(
            pair.flytekit.names(),
            ["outputs/outputs.pb"],
            "{}",
            pair.context()
        );
        assert!(
            pair.flytekit.stderr.contains("ContentType"),
            "{}",
            pair.context()
        );
    } else {
        // deck.html is compared by presence and kind: its contents carry timestamps.
        pair.assert_same_prefix();
    }
    assert_eq!(
        pair.ours.names(),
        ["outputs/deck.html", "outputs/outputs.pb"],
        "{}",
        pair.context()
    );
    let deck = String::from_utf8_lossy(&pair.ours.files["outputs/deck.html"]).into_owned();
    assert!(
        deck.contains("parity deck for 1"),
        "our deck lacks the task's own deck"
    );
}

#[test]
fn deck_html_is_written_to_the_output_prefix_like_flytekit() {
    deck_is_written_beside_the_outputs(LOCAL);
}

// Directories holding symbolic links (issue 10).

/// The raw objects of `run` with their first two segments (`raw/<random>/`) cut: what
/// the task's directory uploaded, relative to where flytekit put it.
fn raw_names(run: &Run) -> Vec<String> {
    run.names()
        .iter()
        .filter_map(|name| {
            let mut segments = name.splitn(3, '/');
            (segments.next() == Some("raw")).then_some(())?;
            segments.next()?;
            segments.next().map(str::to_owned)
        })
        .collect()
}

fn linked_directory_uploads_what_flytekit_uploads(backend: Backend) {
    let pair = Scenario::prepare("linked_directory", backend).run_both();
    // outputs.pb differs only by the directory's random name; what is under it must not.
    for run in [&pair.flytekit, &pair.ours] {
        assert!(run.status.success(), "{}", pair.context());
        assert!(
            run.files.contains_key("outputs/outputs.pb"),
            "{}",
            pair.context()
        );
    }
    // Links to files are uploaded as the file; links to directories (`latest`, out of
    // the tree, back up it) are not followed.
    let expected = ["model-link.bin", "step-1/model.bin", "step-2/model.bin"];
    assert_eq!(raw_names(&pair.flytekit), expected, "{}", pair.context());
    assert_eq!(raw_names(&pair.ours), expected, "{}", pair.context());
}

#[test]
fn directory_with_links_uploads_what_flytekit_uploads() {
    linked_directory_uploads_what_flytekit_uploads(LOCAL);
}

fn dangling_link_fails_the_upload(backend: Backend) {
    let pair = Scenario::prepare("dangling_directory", backend).run_both();
    let error = |run: &Run| {
        let (_, document) = run.error_document("outputs");
        document.error.expect("a container error")
    };
    let (flytekit, ours) = (error(&pair.flytekit), error(&pair.ours));
    assert_eq!(ours.code, flytekit.code, "{}", pair.context());
    assert_eq!(ours.kind, flytekit.kind, "{}", pair.context());
    assert!(ours.message.contains("dangling/gone"), "{}", ours.message);
}

#[test]
fn directory_with_a_link_to_nothing_fails_like_flytekit_naming_the_link() {
    dangling_link_fails_the_upload(LOCAL);
}

// The pod's identity variables reach flytekit's execution context.

fn execution_identity_reaches_the_task(backend: Backend) {
    let pair = Scenario::prepare("identity", backend).run_both();
    pair.assert_same_prefix();
    let o0 = output_literal(&pair.ours, "outputs/outputs.pb", "o0");
    let values: Vec<&str> = o0
        .as_collection()
        .expect("a list")
        .iter()
        .filter_map(Literal::as_str)
        .collect();
    assert_eq!(
        values,
        [
            "parity",
            "development",
            "parityexec1",
            "parity",
            "identity",
            "v1"
        ]
    );
}

#[test]
fn execution_and_task_identity_reach_the_task_like_flytekit() {
    execution_identity_reaches_the_task(LOCAL);
}

// Command lines click rejects (exit status 2), by each of the three names.

fn bad_command_lines_exit_two(backend: Backend) {
    let bad = [
        // --inputs missing.
        vec![
            "pyflyte-execute",
            "--output-prefix",
            "{run}/outputs",
            "--resolver",
            "r",
            "--",
            "a",
        ],
        // --resolver missing.
        vec![
            "pyflyte-map-execute",
            "--inputs",
            "{case}/inputs.pb",
            "--output-prefix",
            "{run}/outputs",
            "--",
            "a",
        ],
        // --max-concurrency not a number.
        vec![
            "pyflyte-map-execute",
            "--inputs",
            "i",
            "--output-prefix",
            "o",
            "--max-concurrency",
            "many",
            "--resolver",
            "r",
            "--",
            "a",
        ],
        // An option fast-execute does not have.
        vec![
            "pyflyte-fast-execute",
            "--no-such-option",
            "x",
            "--",
            "pyflyte-execute",
        ],
    ];
    let pairs = std::thread::scope(|scope| {
        let runs: Vec<_> = bad
            .iter()
            .map(|command| {
                scope.spawn(move || {
                    let mut scenario = Scenario::prepare("deck", backend);
                    scenario.command = command.iter().map(|arg| (*arg).to_owned()).collect();
                    scenario.run_both()
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("runs"))
            .collect::<Vec<Pair>>()
    });
    for pair in pairs {
        assert_eq!(pair.flytekit.ending(), "exit code 2", "{}", pair.context());
        pair.assert_same_prefix();
    }
}

#[test]
fn bad_command_lines_exit_two_like_flytekit() {
    bad_command_lines_exit_two(LOCAL);
}

// SIGUSR1: flytekit registers faulthandler for it, so the Python stacks go to stderr and
// the task carries on. Ours passes it on to the worker, which does the same.

fn sigusr1_dumps_the_stacks(backend: Backend) {
    let mut scenario = Scenario::prepare("pause", backend);
    scenario.env("PARITY_MARKER", "{local}/marker");
    let (flytekit, ours) = std::thread::scope(|scope| {
        let run = |entrypoint| scenario.run_signalled(entrypoint, Some(("marker", "USR1")));
        let flytekit = scope.spawn(move || run(Entrypoint::Flytekit));
        let ours = scope.spawn(move || run(Entrypoint::Ours));
        (
            flytekit.join().expect("flytekit runs"),
            ours.join().expect("ours runs"),
        )
    });
    for run in [&flytekit, &ours] {
        assert!(
            run.stderr.contains("most recent call first"),
            "no stack dump\n{}",
            run.summary()
        );
        assert_eq!(
            run.names(),
            ["outputs/outputs.pb"],
            "the task did not carry on\n{}",
            run.summary()
        );
    }
}

#[test]
fn sigusr1_dumps_the_python_stacks_and_the_task_carries_on_like_flytekit() {
    sigusr1_dumps_the_stacks(LOCAL);
}

// A batch index that cannot be read: flytekit crashes before it can write anything; ours
// exits 1 too, but says why in error.pb.

fn unusable_batch_index_is_reported(backend: Backend) {
    let mut scenario = map_scenario("array_node_map", backend);
    scenario.env("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "PARITY_NO_SUCH_VARIABLE");
    let pair = scenario.run_both();
    assert_eq!(pair.flytekit.ending(), "exit code 1", "{}", pair.context());
    assert!(pair.flytekit.files.is_empty(), "{}", pair.context());
    assert_eq!(pair.ours.ending(), "exit code 1", "{}", pair.context());
    assert_eq!(
        pair.ours.names(),
        ["outputs/error.pb"],
        "{}",
        pair.context()
    );
}

#[test]
fn map_task_with_an_unusable_batch_index_exits_one_like_flytekit_and_says_why() {
    unusable_batch_index_is_reported(LOCAL);
}

// Execution metadata: every object a run writes (outputs.pb by the pipeline, the
// offloaded literals, deck.html and the checkpoint through the storage bridge) carries
// the execution's
// `flyte-execution-*` keys. flytekit 1.16.31 attaches them on GCS only: s3fs drops the
// lowercase `metadata` argument, and adlfs fails every upload it is passed to (so the
// suite runs flytekit on Azure with the switch off; here it is on).

fn uploads_carry_the_execution_metadata(backend: Backend) {
    let Backend::Remote(emulator) = backend else {
        panic!("object metadata lives on object stores only");
    };
    for case in ["deck", "offload", "checkpoint"] {
        let mut scenario = match case {
            "checkpoint" => checkpoint_scenario(backend, None),
            _ => Scenario::prepare(case, backend),
        };
        scenario
            .env("_F_L_MIN_SIZE_MB", "0")
            .env("FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA", "true");
        let pair = scenario.run_both();
        if emulator == Emulator::Azure {
            // flytekit's every upload fails ("got multiple values for keyword argument
            // 'metadata'"): it writes nothing and exits 1. Ours writes every object.
            assert!(pair.flytekit.files.is_empty(), "{}", pair.context());
            assert!(
                pair.flytekit
                    .stderr
                    .contains("multiple values for keyword argument"),
                "{}",
                pair.context()
            );
            assert_eq!(pair.ours.ending(), "exit code 0", "{}", pair.context());
        } else {
            pair.assert_same_prefix();
        }
        pair.assert_execution_metadata(emulator, emulator == Emulator::Gcs);
    }
}

/// Every case whose task touches storage, again with everything on one of the
/// emulators: the case's inputs.pb, the fast-execute archive, the previous checkpoint,
/// and both runs' output, raw output and checkpoint prefixes, flytekit (s3fs, gcsfs,
/// adlfs) against ours (the bridge), compared the same way.
macro_rules! storage_cases {
    ($backend:expr) => {
        use super::*;
        use flyte_test_support::emulators::Emulator;

        #[test]
        fn dynamic_task_writes_the_same_futures_pb_as_flytekit() {
            dynamic_task_writes_the_same_futures_pb($backend);
        }

        #[test]
        fn array_node_map_task_runs_the_element_at_the_batch_index_like_flytekit() {
            array_node_map_task_runs_the_indexed_element($backend);
        }

        #[test]
        fn legacy_map_task_writes_under_output_prefix_slash_index_like_flytekit() {
            legacy_map_task_writes_under_the_index($backend);
        }

        #[test]
        fn legacy_map_task_error_document_lands_under_the_index_like_flytekit() {
            legacy_map_task_error_lands_under_the_index($backend);
        }

        #[test]
        fn legacy_map_task_offloaded_literal_points_under_the_index_like_flytekit() {
            legacy_map_task_offloads_under_the_index($backend);
        }

        #[test]
        fn fast_execute_unpacks_the_archive_and_runs_the_task_like_flytekit() {
            fast_execute_runs_the_shipped_code($backend);
        }

        #[test]
        fn fast_execute_dynamic_task_hands_its_code_archive_to_sub_tasks_like_flytekit() {
            fast_dynamic_task_passes_the_distribution_on($backend);
        }

        #[test]
        fn fast_execute_without_dest_dir_unpacks_into_the_working_directory_like_flytekit() {
            fast_execute_defaults_to_the_working_directory($backend);
        }

        #[test]
        fn fast_execute_exits_with_the_status_of_the_task_command_like_flytekit() {
            fast_execute_exits_with_the_task_commands_status($backend);
        }

        #[test]
        fn fast_execute_passes_sigterm_on_to_the_task_command() {
            fast_execute_passes_sigterm_on($backend);
        }

        #[test]
        fn fast_execute_with_a_missing_archive_fails_and_says_why_in_error_pb() {
            fast_execute_missing_archive_fails($backend);
        }

        #[test]
        fn fast_execute_refuses_an_archive_member_climbing_out_with_dotdot() {
            hostile_archive_is_refused("hostile-dotdot", "../evil", $backend);
        }

        #[test]
        fn fast_execute_refuses_an_archive_member_with_an_absolute_path() {
            hostile_archive_is_refused("hostile-absolute", "absolute path", $backend);
        }

        #[test]
        fn fast_execute_refuses_an_archive_symlink_to_etc() {
            hostile_archive_is_refused("hostile-symlink", "etc_link", $backend);
        }

        #[test]
        fn checkpoint_task_reads_the_previous_and_writes_a_new_checkpoint_like_flytekit() {
            checkpoint_resumes_from_the_previous_one($backend);
        }

        #[test]
        fn empty_previous_checkpoint_values_mean_no_checkpoint_like_flytekit() {
            empty_previous_checkpoints_count_as_none($backend);
        }

        #[test]
        fn outputs_over_the_minimum_size_are_offloaded_like_flytekit() {
            outputs_are_offloaded_at_the_minimum_size($backend);
        }

        #[test]
        fn map_task_offloaded_output_carries_the_unwrapped_collection_type_like_flytekit() {
            map_task_offloads_with_the_element_type($backend);
        }

        #[test]
        fn literal_over_the_maximum_size_fails_with_flytekits_error() {
            too_large_literal_is_refused($backend);
        }

        #[test]
        fn distributed_error_strategy_writes_error_uuid_pb_naming_the_worker_like_flytekit() {
            distributed_error_file_names_the_worker($backend);
        }

        #[test]
        fn fail_on_error_exits_one_after_writing_the_error_file_like_flytekit() {
            fail_on_error_exits_one($backend);
        }

        #[test]
        fn runtime_packages_are_installed_before_the_task_runs_like_flytekit() {
            runtime_package_is_installed_first($backend);
        }

        #[test]
        fn directory_with_links_uploads_what_flytekit_uploads() {
            linked_directory_uploads_what_flytekit_uploads($backend);
        }

        #[test]
        fn directory_with_a_link_to_nothing_fails_like_flytekit_naming_the_link() {
            dangling_link_fails_the_upload($backend);
        }

        #[test]
        fn deck_html_is_written_to_the_output_prefix_like_flytekit() {
            deck_is_written_beside_the_outputs($backend);
        }

        #[test]
        fn every_object_carries_the_execution_metadata_where_flytekit_attaches_it_too() {
            uploads_carry_the_execution_metadata($backend);
        }
    };
}

/// [`storage_cases`] on moto's S3.
mod s3 {
    storage_cases!(Backend::Remote(Emulator::S3));
}

/// [`storage_cases`] on fake-gcs-server.
mod gcs {
    storage_cases!(Backend::Remote(Emulator::Gcs));
}

/// [`storage_cases`] on Azurite.
mod azure {
    storage_cases!(Backend::Remote(Emulator::Azure));
}
