//! download and sidecar against the storage emulators `cargo xtask test` starts (moto,
//! fake-gcs-server, Azurite), with credentials from the environment or a `--config`
//! file, never on the command line. Every behaviour is run the same on the three.
//!
//! Run with `cargo xtask test -p flyte-copilot --test copilot_emulators`.

#![allow(
    clippy::disallowed_methods,
    reason = "tests read the emulator endpoints cargo xtask test sets"
)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::literal_type::Type;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::structured_dataset_type::DatasetColumn;
use flyte_proto::core::{
    ContainerError, LiteralMap, LiteralType, SimpleType, StructuredDatasetType, TypedInterface,
    Union,
};
use flyte_proto::literal;
use flyte_storage::{Storage, join};
use flyte_test_support::emulators::Emulator;

use support::{base64_of, blob, outputs_interface, run, simple, stderr, union_of};

/// One task's prefixes on an emulator, and the flags and environment the binary is
/// run with there.
struct Pod {
    storage: Storage,
    base: String,
    env: BTreeMap<String, String>,
    /// Flags before the subcommand (storage settings).
    global: Vec<String>,
    local: tempfile::TempDir,
}

impl Pod {
    async fn on(emulator: Emulator, env: BTreeMap<String, String>, global: &[String]) -> Pod {
        emulator.prepare().await;
        Pod {
            storage: Storage::new(emulator.config()),
            base: emulator.unique_prefix(),
            env,
            global: global.to_vec(),
            local: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn uri(&self, key: &str) -> String {
        join(&self.base, key)
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> String {
        let uri = self.uri(key);
        self.storage
            .put_bytes(&uri, bytes.to_vec())
            .await
            .unwrap_or_else(|error| panic!("uploading {uri}: {error}"));
        uri
    }

    fn local(&self, name: &str) -> std::path::PathBuf {
        self.local.path().join(name)
    }

    fn copilot(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = self.global.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        run(&all, &self.env)
    }

    /// `download` of the inputs.pb at `inputs_uri` into the local `inputs` directory.
    fn download(&self, inputs_uri: &str) -> Output {
        let local = self.local("inputs").display().to_string();
        let prefix = self.uri("out");
        self.copilot(&[
            "download",
            "-f",
            inputs_uri,
            "--to-output-prefix",
            &prefix,
            "-o",
            &local,
        ])
    }

    /// `sidecar` of the local `outputs` directory under `raw`, the task already ended.
    fn sidecar(&self, interface: &TypedInterface, raw: &str) -> Output {
        let outputs = self.local("outputs");
        std::fs::create_dir_all(&outputs).expect("dir");
        let outputs = outputs.display().to_string();
        let prefix = self.uri("out");
        self.copilot(&[
            "sidecar",
            "-o",
            &prefix,
            "-x",
            raw,
            "-f",
            &outputs,
            "-i",
            &base64_of(interface),
            "--start-watcher-type",
            "noop",
        ])
    }

    fn write_output(&self, name: &str, bytes: &[u8]) {
        let path = self.local("outputs").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, bytes).expect("output written");
    }

    async fn read(&self, uri: &str) -> Vec<u8> {
        self.storage
            .get_bytes(uri)
            .await
            .unwrap_or_else(|error| panic!("reading {uri}: {error}"))
            .to_vec()
    }

    async fn exists(&self, key: &str) -> bool {
        self.storage.exists(&self.uri(key)).await.expect("stat")
    }

    async fn outputs_pb(&self) -> LiteralMap {
        flyte_proto::io::decode(&self.read(&self.uri("out/outputs.pb")).await).expect("a map")
    }

    /// The error document under the output prefix; outputs.pb must be absent.
    async fn error(&self, output: &Output) -> ContainerError {
        assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
        assert!(!self.exists("out/outputs.pb").await, "no outputs.pb");
        let document: flyte_proto::core::ErrorDocument =
            flyte_proto::io::decode(&self.read(&self.uri("out/error.pb")).await)
                .expect("an error document");
        document.error.expect("an error")
    }
}

/// Every input kind comes down from `emulator` (files, nested and empty directories,
/// offloaded collections and maps, a union, a dataset) and every output kind goes back
/// up (a file, a nested directory, a collection of files, a map, a dataset with its
/// columns, unions); error.pb is absent throughout.
async fn round_trip(emulator: Emulator, env: BTreeMap<String, String>, global: &[String]) {
    let pod = Pod::on(emulator, env, global).await;
    let csv = pod.put("in/data.csv", b"a,b\n").await;
    pod.put("in/tree/top.txt", b"top").await;
    pod.put("in/tree/nested/deep/leaf.txt", b"leaf").await;
    let one = pod.put("in/one.txt", b"first").await;
    let two = pod.put("in/two.txt", b"second").await;
    pod.put("in/frame/00000", b"PAR1 frame").await;
    let list = literal::collection([
        literal::blob(&one, "", BlobDimensionality::Single),
        literal::integer(7),
    ]);
    let map = literal::map([
        ("alpha", literal::string("A")),
        (
            "file",
            literal::blob(&two, "txt", BlobDimensionality::Single),
        ),
    ]);
    let list_uri = pod.put("in/list.pb", &flyte_proto::io::encode(&list)).await;
    let map_uri = pod.put("in/map.pb", &flyte_proto::io::encode(&map)).await;
    let inputs = literal::literal_map([
        (
            "csv",
            literal::blob(&csv, "csv", BlobDimensionality::Single),
        ),
        (
            "tree",
            literal::blob(pod.uri("in/tree"), "", BlobDimensionality::Multipart),
        ),
        (
            "empty",
            literal::blob(pod.uri("in/empty"), "", BlobDimensionality::Multipart),
        ),
        ("n", literal::integer(3)),
        ("list", literal::offloaded(&list_uri, 0, None)),
        ("map", literal::offloaded(&map_uri, 0, None)),
        (
            "u",
            literal::scalar(ScalarValue::Union(Box::new(Union {
                value: Some(Box::new(literal::integer(5))),
                r#type: None,
            }))),
        ),
        (
            "frame",
            literal::structured_dataset(pod.uri("in/frame"), "parquet"),
        ),
    ]);
    let inputs_uri = pod
        .put("inputs.pb", &flyte_proto::io::encode(&inputs))
        .await;

    let output = pod.download(&inputs_uri);
    assert!(output.status.success(), "{}", stderr(&output));
    let inputs = pod.local("inputs");
    let text = |name: &str| {
        std::fs::read_to_string(inputs.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(text("csv"), "a,b\n");
    assert_eq!(text("tree/nested/deep/leaf.txt"), "leaf");
    assert_eq!(text("n"), "3");
    assert!(
        inputs.join("empty").is_dir(),
        "an empty prefix is an empty directory"
    );
    assert_eq!(
        std::fs::read_dir(inputs.join("empty"))
            .expect("dir")
            .count(),
        0
    );
    assert_eq!(text("list/0"), "first");
    assert_eq!(text("list/1"), "7");
    assert_eq!(text("map/alpha"), "A");
    assert_eq!(text("map/file"), "second");
    assert_eq!(text("u"), "5");
    assert_eq!(text("frame/00000"), "PAR1 frame");

    pod.write_output("model.bin", b"weights");
    pod.write_output("result/sub/part.txt", b"part");
    pod.write_output("count", b"12");
    pod.write_output("files/0.csv", b"zero");
    pod.write_output("files/1.csv", b"one");
    pod.write_output("scores/alice.txt", b"0.5");
    pod.write_output("scores/bob", b"1.5");
    pod.write_output("frame/part-0.parquet", b"PAR1 out");
    pod.write_output("maybe", b"null");
    pod.write_output("choice", b"x");
    let columns = vec![DatasetColumn {
        name: "x".into(),
        literal_type: Some(simple(SimpleType::Integer)),
    }];
    let dataset = LiteralType {
        r#type: Some(Type::StructuredDatasetType(StructuredDatasetType {
            format: "parquet".into(),
            columns: columns.clone(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let interface = outputs_interface(&[
        ("model", blob("onnx", BlobDimensionality::Single)),
        ("result", blob("", BlobDimensionality::Multipart)),
        ("count", simple(SimpleType::Integer)),
        (
            "files",
            LiteralType {
                r#type: Some(Type::CollectionType(Box::new(blob(
                    "csv",
                    BlobDimensionality::Single,
                )))),
                ..Default::default()
            },
        ),
        (
            "scores",
            LiteralType {
                r#type: Some(Type::MapValueType(Box::new(simple(SimpleType::Float)))),
                ..Default::default()
            },
        ),
        ("frame", dataset),
        (
            "maybe",
            union_of(vec![simple(SimpleType::Integer), simple(SimpleType::None)]),
        ),
        (
            "choice",
            union_of(vec![
                simple(SimpleType::Integer),
                simple(SimpleType::String),
            ]),
        ),
    ]);
    let raw = pod.uri("raw");
    let output = pod.sidecar(&interface, &raw);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!pod.exists("out/error.pb").await);
    let outputs = pod.outputs_pb().await;
    assert_eq!(outputs.literals["count"].as_integer(), Some(12));
    let model = outputs.literals["model"].as_blob().expect("blob");
    assert!(model.uri.starts_with(&raw), "{}", model.uri);
    assert!(model.uri.ends_with("/model.bin"), "{}", model.uri);
    assert_eq!(pod.read(&model.uri).await, b"weights");
    let result = outputs.literals["result"].as_blob().expect("blob");
    assert_eq!(pod.read(&join(&result.uri, "sub/part.txt")).await, b"part");
    let files = outputs.literals["files"].as_collection().expect("a list");
    assert_eq!(files.len(), 2);
    assert_eq!(
        pod.read(&files[1].as_blob().expect("blob").uri).await,
        b"one"
    );
    let scores = outputs.literals["scores"].as_map().expect("a map");
    assert_eq!(scores.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(scores["alice"].as_float(), Some(0.5));
    let frame = outputs.literals["frame"]
        .as_structured_dataset()
        .expect("a dataset");
    assert!(frame.uri.starts_with(&raw), "{}", frame.uri);
    assert_eq!(
        pod.read(&join(&frame.uri, "part-0.parquet")).await,
        b"PAR1 out"
    );
    let frame_type = frame
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.structured_dataset_type.as_ref())
        .expect("a type");
    assert_eq!(
        (frame_type.format.as_str(), &frame_type.columns),
        ("parquet", &columns)
    );
    let maybe = outputs.literals["maybe"].as_union().expect("a union");
    assert!(maybe.value.as_ref().is_some_and(|value| value.is_none()));
    let choice = outputs.literals["choice"].as_union().expect("a union");
    assert_eq!(
        choice.value.as_ref().and_then(|value| value.as_str()),
        Some("x")
    );
}

/// What fails on `emulator`, each failure reported in error.pb there with nothing
/// half-uploaded, and the empty cases that must not fail.
async fn failures_and_empty_cases(emulator: Emulator) {
    let env = emulator.flytekit_env();

    // Empty inputs: an empty inputs.pb and inputs.json.
    let pod = Pod::on(emulator, env.clone(), &[]).await;
    let empty = pod
        .put(
            "inputs.pb",
            &flyte_proto::io::encode(&LiteralMap::default()),
        )
        .await;
    let output = pod.download(&empty);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(pod.local("inputs/inputs.json")).expect("written"),
        "{}"
    );

    // A missing blob: a recoverable system error naming it, no inputs.pb.
    let pod = Pod::on(emulator, env.clone(), &[]).await;
    let gone = pod.uri("in/gone.bin");
    let inputs = literal::literal_map([
        ("n", literal::integer(1)),
        ("f", literal::blob(&gone, "", BlobDimensionality::Single)),
    ]);
    let inputs_uri = pod
        .put("inputs.pb", &flyte_proto::io::encode(&inputs))
        .await;
    let error = pod.error(&pod.download(&inputs_uri)).await;
    assert_eq!(error.code, "InputDownloadFailed");
    assert_eq!((error.origin, error.kind), (2, 1), "SYSTEM, RECOVERABLE");
    assert!(error.message.contains(&gone), "{}", error.message);
    assert!(!pod.local("inputs/inputs.pb").exists());

    // No outputs: an empty outputs.pb.
    let pod = Pod::on(emulator, env.clone(), &[]).await;
    let output = pod.sidecar(&TypedInterface::default(), &pod.uri("raw"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(pod.outputs_pb().await.literals.is_empty());

    // A missing output: the user's error, and the other output not uploaded.
    let pod = Pod::on(emulator, env.clone(), &[]).await;
    pod.write_output("present.csv", b"data");
    let interface = outputs_interface(&[
        ("present", blob("csv", BlobDimensionality::Single)),
        ("wanted", simple(SimpleType::Integer)),
    ]);
    let raw = pod.uri("raw");
    let error = pod.error(&pod.sidecar(&interface, &raw)).await;
    assert_eq!(error.code, "USER:MissingOutput");
    assert_eq!((error.origin, error.kind), (1, 0), "USER, NON_RECOVERABLE");
    assert!(
        !pod.storage.has_objects_under(&raw).await.expect("listed"),
        "nothing half-uploaded"
    );

    // The store refuses the upload (no such bucket): a recoverable system error.
    let pod = Pod::on(emulator, env, &[]).await;
    pod.write_output("model.bin", b"weights");
    let interface = outputs_interface(&[("model", blob("", BlobDimensionality::Single))]);
    let nowhere = format!("{}://copilot-no-such-bucket/raw", emulator.scheme());
    let error = pod.error(&pod.sidecar(&interface, &nowhere)).await;
    assert_eq!(error.code, "OutputUploadFailed");
    assert_eq!(
        (error.origin, error.kind),
        (2, 1),
        "SYSTEM, RECOVERABLE: {}",
        error.message
    );
    assert!(error.message.contains("\"model\""), "{}", error.message);
}

#[tokio::test]
async fn s3_round_trip_with_credentials_from_the_environment() {
    round_trip(Emulator::S3, Emulator::S3.flytekit_env(), &[]).await;
}

/// A flytestdlib config file in a directory, as propeller mounts the Secret its
/// `co-pilot.storage-config-secret-name` names, and the `--config` glob for it.
fn config_dir(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("storage.yaml"), yaml).expect("written");
    let pattern = Path::new(dir.path()).join("*.yaml").display().to_string();
    (dir, pattern)
}

#[tokio::test]
async fn s3_round_trip_with_credentials_from_a_flytestdlib_config_file() {
    let env = Emulator::S3.flytekit_env();
    let (_dir, pattern) = config_dir(&format!(
        "storage:\n  type: minio\n  container: flyte-tests\n  connection:\n    auth-type: accesskey\n    endpoint: {}\n    access-key: {}\n    secret-key: {}\n    region: us-east-1\n",
        env["FLYTE_AWS_ENDPOINT"],
        env["FLYTE_AWS_ACCESS_KEY_ID"],
        env["FLYTE_AWS_SECRET_ACCESS_KEY"]
    ));
    // Only what keeps the SDK off the network for instance metadata: no key in the env.
    let env = BTreeMap::from([("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned())]);
    round_trip(
        Emulator::S3,
        env,
        &[
            "--storage.type=minio".to_owned(),
            "--config".to_owned(),
            pattern,
            "--storage.limits.maxDownloadMBs=0".to_owned(),
            "--logger.level=4".to_owned(),
        ],
    )
    .await;
}

#[tokio::test]
async fn gcs_round_trip() {
    round_trip(Emulator::Gcs, Emulator::Gcs.flytekit_env(), &[]).await;
}

#[tokio::test]
async fn gcs_round_trip_with_a_flytestdlib_stow_config_file() {
    // stow's google kind takes a project; the emulator's host comes from the
    // environment, as a GKE pod's workload identity would.
    let (_dir, pattern) = config_dir(
        "storage:\n  type: stow\n  stow:\n    kind: google\n    config:\n      project_id: flyte-tests\n",
    );
    round_trip(
        Emulator::Gcs,
        Emulator::Gcs.flytekit_env(),
        &["--config".to_owned(), pattern],
    )
    .await;
}

#[tokio::test]
async fn azure_round_trip() {
    round_trip(Emulator::Azure, Emulator::Azure.flytekit_env(), &[]).await;
}

#[tokio::test]
async fn s3_failures_and_empty_cases() {
    failures_and_empty_cases(Emulator::S3).await;
}

#[tokio::test]
async fn gcs_failures_and_empty_cases() {
    failures_and_empty_cases(Emulator::Gcs).await;
}

#[tokio::test]
async fn azure_failures_and_empty_cases() {
    failures_and_empty_cases(Emulator::Azure).await;
}

#[tokio::test]
async fn s3_wrong_credentials_write_no_outputs_and_exit_unreported() {
    let mut env = Emulator::S3.flytekit_env();
    env.insert("FLYTE_AWS_SECRET_ACCESS_KEY".into(), "wrong".into());
    let pod = Pod::on(Emulator::S3, env, &[]).await;
    let inputs_uri = pod
        .put(
            "inputs.pb",
            &flyte_proto::io::encode(&literal::literal_map([("n", literal::integer(1))])),
        )
        .await;
    let output = pod.download(&inputs_uri);
    // The error document cannot be written with the same wrong key: exit 3 says so.
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(!pod.local("inputs/inputs.pb").exists());
}
