//! The parity suite on object storage: inputs.pb, the input data, the output prefix and
//! the raw output prefix all on moto (S3), fake-gcs-server (GCS) or Azurite (Azure),
//! flytekit's pyflyte-execute (with s3fs, gcsfs, adlfs) against ours (with the storage
//! bridge), compared exactly as on local storage.
//!
//! Needs the emulators and the Python environment `cargo xtask test` starts and creates.

mod parity_support;

use flyte_test_support::emulators::Emulator;
use parity_support::{Backend, Case, Entrypoint, Pair, on_emulator};

/// One test per case and backend; `$check` is the `Pair` assertion the case needs.
macro_rules! on_every_backend {
    ($($test:ident: $case:literal => $check:ident;)*) => {
        mod s3 {
            use super::*;
            $(#[test] fn $test() { Pair::run_on($case, Backend::Remote(Emulator::S3)).$check(); })*
        }
        mod gcs {
            use super::*;
            $(#[test] fn $test() { Pair::run_on($case, Backend::Remote(Emulator::Gcs)).$check(); })*
        }
        mod azure {
            use super::*;
            $(#[test] fn $test() { Pair::run_on($case, Backend::Remote(Emulator::Azure)).$check(); })*
        }
    };
}

on_every_backend! {
    primitive_outputs_match_flytekit: "primitives" => assert_same_outputs;
    dataclass_output_matches_flytekit: "dataclass" => assert_same_outputs;
    flyte_file_in_and_out_matches_flytekit: "flyte_file" => assert_same_outputs;
    flyte_directory_in_and_out_matches_flytekit: "flyte_directory" => assert_same_outputs;
    dataframe_in_and_out_matches_flytekit: "dataframe" => assert_same_outputs;
    structured_dataset_in_and_out_matches_flytekit: "structured_dataset" => assert_same_outputs;
    no_outputs_match_flytekit: "no_outputs" => assert_same_outputs;
    user_error_document_matches_flytekit: "value_error" => assert_same_error;
    recoverable_error_document_matches_flytekit: "recoverable" => assert_same_error;
    ignore_outputs_writes_nothing_like_flytekit: "ignore_outputs" => assert_same_ending;
}

/// Runs `bridge_tasks.move_files` with ours on `emulator`, and returns the storage client
/// modules the worker had imported by the end (the task's third output).
fn storage_clients_imported_by_our_worker(emulator: Emulator) -> Vec<String> {
    let case = Case::prepare_on("bridge_modules", Backend::Remote(emulator));
    let run = case.run(Entrypoint::Ours);
    let outputs = run.outputs();
    let loaded = outputs.literals["o2"]
        .as_collection()
        .unwrap_or_else(|| panic!("o2 is a list\n{}", run.summary()));
    assert_eq!(outputs.literals.len(), 3, "{}", run.summary());
    loaded
        .iter()
        .map(|l| l.as_str().expect("module names").to_owned())
        .collect()
}

#[test]
fn the_worker_imports_no_storage_client_on_s3() {
    assert_eq!(
        storage_clients_imported_by_our_worker(Emulator::S3),
        Vec::<String>::new()
    );
}

#[test]
fn the_worker_imports_no_storage_client_on_gcs() {
    assert_eq!(
        storage_clients_imported_by_our_worker(Emulator::Gcs),
        Vec::<String>::new()
    );
}

#[test]
fn the_worker_imports_no_storage_client_on_azure() {
    assert_eq!(
        storage_clients_imported_by_our_worker(Emulator::Azure),
        Vec::<String>::new()
    );
}

#[test]
fn flytekit_itself_imports_the_storage_clients_the_bridge_avoids() {
    // The check above can fail: flytekit's own entrypoint, on the same task, imports them.
    let case = Case::prepare_on("bridge_modules", Backend::Remote(Emulator::S3));
    let run = case.run(Entrypoint::Flytekit);
    let loaded = run.outputs().literals["o2"]
        .as_collection()
        .map(<[_]>::len)
        .unwrap_or_default();
    assert!(
        loaded > 0,
        "flytekit imported no storage client?\n{}",
        run.summary()
    );
}

/// Files, directories and dataframes the task uploads through the storage bridge carry
/// the execution metadata too, on every object under our run's prefixes (outputs.pb and
/// each raw object), filled from the execution variables flytekit reads.
fn bridge_uploads_carry_the_execution_metadata(emulator: Emulator) {
    for name in ["flyte_file", "flyte_directory", "dataframe"] {
        let case = Case::prepare_on(name, Backend::Remote(emulator));
        let run = case.run_with(
            Entrypoint::Ours,
            &[
                ("FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA", "true"),
                ("FLYTE_INTERNAL_EXECUTION_PROJECT", "flytesnacks"),
                ("FLYTE_INTERNAL_EXECUTION_DOMAIN", "development"),
                ("FLYTE_INTERNAL_EXECUTION_ID", "a1b2c3"),
                ("FLYTE_INTERNAL_EXECUTION_WORKFLOW", "wf"),
                ("FLYTE_INTERNAL_EXECUTION_LAUNCHPLAN", "lp"),
            ],
        );
        assert_eq!(run.ending(), "exit code 0", "{}", run.summary());
        let root = case.remote_root(Entrypoint::Ours).expect("a remote run");
        let objects = on_emulator(emulator, async |storage| {
            let listed = storage.list(&root).await.expect("our run's objects");
            let mut found = Vec::new();
            for object in listed {
                let uri = object.uri.to_string();
                found.push((object.key, emulator.properties(&uri).await));
            }
            found
        });
        assert!(
            objects.iter().any(|(key, _)| key.starts_with("raw/")),
            "{name}: nothing went up through the bridge: {objects:?}"
        );
        let separator = if emulator == Emulator::Azure {
            "_"
        } else {
            "-"
        };
        for (key, properties) in &objects {
            let metadata = &properties.metadata;
            for (field, value) in [
                ("project", "flytesnacks"),
                ("domain", "development"),
                ("name", "a1b2c3"),
                ("workflow", "wf"),
                ("launchplan", "lp"),
            ] {
                let field = format!("flyte{separator}execution{separator}{field}");
                assert_eq!(
                    metadata.get(&field).map(String::as_str),
                    Some(value),
                    "{name}: {key} lacks {field}: {metadata:?}"
                );
            }
        }
    }
}

#[test]
fn bridge_uploads_carry_the_execution_metadata_on_s3() {
    bridge_uploads_carry_the_execution_metadata(Emulator::S3);
}

#[test]
fn bridge_uploads_carry_the_execution_metadata_on_gcs() {
    bridge_uploads_carry_the_execution_metadata(Emulator::Gcs);
}

#[test]
fn bridge_uploads_carry_the_execution_metadata_on_azure() {
    bridge_uploads_carry_the_execution_metadata(Emulator::Azure);
}
