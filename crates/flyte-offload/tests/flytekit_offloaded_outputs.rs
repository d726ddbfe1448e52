//! Offloaded literals as flytekit 1.16 itself writes them: its `pyflyte-execute`, with
//! literal offloading on (`_F_L_MIN_SIZE_MB=0`), runs tests/python/offloading_task.py
//! and replaces each output by a reference to `<output prefix>/<name>_offloaded_metadata.pb`;
//! ours materialises outputs.pb through those references, on local files and the three
//! emulators.

mod support;

use std::path::Path;
use std::process::Command;

use flyte_offload::Materializer;
use flyte_proto::{io, literal};
use support::{EMULATORS, Place};

async fn flytekit_offloaded_outputs_materialise(place: Place) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (storage, prefix) = place.storage_and_prefix(scratch.path()).await;
    let inputs = scratch.path().join("inputs.pb");
    io::write_literal_map(
        &inputs,
        &literal::literal_map([("count", literal::integer(3))]),
    )
    .expect("inputs.pb");
    let output_prefix = flyte_storage::join(&prefix, "out");
    let tasks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let output = Command::new(flyte_test_support::python().with_file_name("pyflyte-execute"))
        .current_dir(&tasks)
        .envs(place.flytekit_env())
        .env("PYTHONPATH", &tasks)
        .env("_F_L_MIN_SIZE_MB", "0")
        .env("FLYTE_SDK_LOGGING_LEVEL", "30")
        .arg("--inputs")
        .arg(&inputs)
        .args(["--output-prefix", &output_prefix])
        .args([
            "--raw-output-data-prefix",
            &flyte_storage::join(&prefix, "raw"),
        ])
        .args([
            "--resolver",
            "flytekit.core.python_auto_container.default_task_resolver",
        ])
        .args([
            "--",
            "task-module",
            "offloading_task",
            "task-name",
            "shards",
        ])
        .output()
        .expect("flytekit's pyflyte-execute starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "flytekit's pyflyte-execute on {place:?}: {stderr}"
    );

    let local_outputs = scratch.path().join("outputs.pb");
    storage
        .get_file(
            &flyte_storage::join(&output_prefix, "outputs.pb"),
            &local_outputs,
        )
        .await
        .unwrap_or_else(|e| panic!("flytekit wrote no outputs.pb on {place:?} ({e}): {stderr}"));
    let outputs = io::read_literal_map(&local_outputs).expect("outputs.pb decodes");
    for name in ["o0", "o1"] {
        let offloaded = outputs.literals[name]
            .as_offloaded()
            .unwrap_or_else(|| panic!("flytekit offloaded {name} on {place:?}: {outputs:?}"));
        assert!(
            offloaded
                .uri
                .ends_with(&format!("/{name}_offloaded_metadata.pb")),
            "{offloaded:?}"
        );
    }

    let to = scratch.path().join("materialised");
    let local = Materializer::new(storage)
        .literal_map(&outputs, &to)
        .await
        .unwrap_or_else(|e| panic!("materialising flytekit's offloaded outputs on {place:?}: {e}"));
    let list = local.literals["o0"]
        .as_collection()
        .expect("o0 is the list it held");
    let map = local.literals["o1"]
        .as_map()
        .expect("o1 is the map it held");
    assert_eq!((list.len(), map.len()), (3, 3));
    for i in 0..3 {
        let item = list[i].as_blob().expect("a file");
        assert_eq!(Path::new(&item.uri), to.join("o0").join(i.to_string()));
        let entry = map[&format!("k{i}")].as_blob().expect("a file");
        assert_eq!(Path::new(&entry.uri), to.join("o1").join(format!("k{i}")));
        for uri in [&item.uri, &entry.uri] {
            assert_eq!(
                std::fs::read_to_string(uri).expect("downloaded"),
                format!("shard {i}\n"),
                "{uri} on {place:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn flytekit_offloaded_outputs_materialise_on_local_files() {
    flytekit_offloaded_outputs_materialise(Place::Local).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flytekit_offloaded_outputs_materialise_on_the_emulators() {
    for place in EMULATORS {
        flytekit_offloaded_outputs_materialise(place).await;
    }
}
