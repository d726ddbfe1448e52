//! download and sidecar against the storage emulators `cargo xtask test` starts (moto,
//! fake-gcs-server, Azurite), with credentials from the environment or a `--config`
//! file, never on the command line.
//!
//! Run with `cargo xtask test -p flyte-copilot --test copilot_emulators`.

#![allow(
    clippy::disallowed_methods,
    reason = "tests read the emulator endpoints cargo xtask test sets"
)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::literal_type::Type;
use flyte_proto::core::{BlobType, LiteralType, SimpleType};
use flyte_proto::literal;
use flyte_storage::{Storage, join};
use flyte_test_support::emulators::Emulator;

use support::{base64_of, outputs_interface, run, stderr};

/// A file input, a nested directory input and an integer come down from `emulator`; a
/// file, a nested directory and an integer go back up; error.pb is absent throughout.
async fn round_trip(emulator: Emulator, env: BTreeMap<String, String>, extra: &[String]) {
    let storage = Storage::new(emulator.config());
    emulator.prepare().await;
    let base = emulator.unique_prefix();
    let local = tempfile::tempdir().expect("temp dir");

    let file_uri = join(&base, "in/data.csv");
    let tree_uri = join(&base, "in/tree");
    storage
        .put_bytes(&file_uri, b"a,b\n".to_vec())
        .await
        .expect("file uploaded");
    storage
        .put_bytes(&join(&tree_uri, "top.txt"), b"top".to_vec())
        .await
        .expect("uploaded");
    storage
        .put_bytes(&join(&tree_uri, "nested/deep/leaf.txt"), b"leaf".to_vec())
        .await
        .expect("uploaded");
    let inputs = literal::literal_map([
        (
            "csv",
            literal::blob(&file_uri, "csv", BlobDimensionality::Single),
        ),
        (
            "tree",
            literal::blob(&tree_uri, "", BlobDimensionality::Multipart),
        ),
        ("n", literal::integer(3)),
    ]);
    let inputs_uri = join(&base, "inputs.pb");
    storage
        .put_bytes(&inputs_uri, flyte_proto::io::encode(&inputs))
        .await
        .expect("inputs.pb uploaded");

    let output_prefix = join(&base, "out");
    let in_dir = local.path().join("inputs");
    let mut args: Vec<String> = extra.to_vec();
    args.extend(
        [
            "download",
            "-f",
            &inputs_uri,
            "--to-output-prefix",
            &output_prefix,
            "-o",
            &in_dir.display().to_string(),
        ]
        .map(String::from),
    );
    let borrowed: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&borrowed, &env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read(in_dir.join("csv")).expect("file"), b"a,b\n");
    assert_eq!(
        std::fs::read(in_dir.join("tree/nested/deep/leaf.txt")).expect("nested"),
        b"leaf"
    );
    assert_eq!(std::fs::read_to_string(in_dir.join("n")).expect("int"), "3");

    let out_dir = local.path().join("outputs");
    std::fs::create_dir_all(out_dir.join("result/sub")).expect("dir");
    std::fs::write(out_dir.join("model.bin"), b"weights").expect("written");
    std::fs::write(out_dir.join("result/sub/part.txt"), b"part").expect("written");
    std::fs::write(out_dir.join("count"), b"12").expect("written");
    let interface = outputs_interface(&[
        (
            "model",
            LiteralType {
                r#type: Some(Type::Blob(BlobType {
                    format: "onnx".into(),
                    dimensionality: BlobDimensionality::Single as i32,
                })),
                ..Default::default()
            },
        ),
        (
            "result",
            LiteralType {
                r#type: Some(Type::Blob(BlobType {
                    format: String::new(),
                    dimensionality: BlobDimensionality::Multipart as i32,
                })),
                ..Default::default()
            },
        ),
        (
            "count",
            LiteralType {
                r#type: Some(Type::Simple(SimpleType::Integer as i32)),
                ..Default::default()
            },
        ),
    ]);
    let raw = join(&base, "raw");
    let mut args: Vec<String> = extra.to_vec();
    args.extend(
        [
            "sidecar",
            "-o",
            &output_prefix,
            "-x",
            &raw,
            "-f",
            &out_dir.display().to_string(),
            "-i",
            &base64_of(&interface),
            "--start-watcher-type",
            "noop",
        ]
        .map(String::from),
    );
    let borrowed: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&borrowed, &env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !storage
            .exists(&join(&output_prefix, "error.pb"))
            .await
            .expect("stat")
    );
    let outputs: flyte_proto::core::LiteralMap = flyte_proto::io::decode(
        &storage
            .get_bytes(&join(&output_prefix, "outputs.pb"))
            .await
            .expect("outputs.pb"),
    )
    .expect("a literal map");
    assert_eq!(outputs.literals["count"].as_integer(), Some(12));
    let model = outputs.literals["model"].as_blob().expect("blob");
    assert!(model.uri.starts_with(&raw), "{}", model.uri);
    assert_eq!(
        &storage.get_bytes(&model.uri).await.expect("uploaded")[..],
        b"weights"
    );
    let result = outputs.literals["result"].as_blob().expect("blob");
    assert_eq!(
        &storage
            .get_bytes(&join(&result.uri, "sub/part.txt"))
            .await
            .expect("nesting kept")[..],
        b"part"
    );
}

#[tokio::test]
async fn s3_round_trip_with_credentials_from_the_environment() {
    round_trip(Emulator::S3, Emulator::S3.flytekit_env(), &[]).await;
}

#[tokio::test]
async fn s3_round_trip_with_credentials_from_a_flytestdlib_config_file() {
    let env = Emulator::S3.flytekit_env();
    let config_dir = tempfile::tempdir().expect("temp dir");
    let file = format!(
        "storage:\n  type: minio\n  container: flyte-tests\n  connection:\n    auth-type: accesskey\n    endpoint: {}\n    access-key: {}\n    secret-key: {}\n    region: us-east-1\n",
        env["FLYTE_AWS_ENDPOINT"],
        env["FLYTE_AWS_ACCESS_KEY_ID"],
        env["FLYTE_AWS_SECRET_ACCESS_KEY"]
    );
    std::fs::write(config_dir.path().join("storage.yaml"), file).expect("written");
    // Only what keeps the SDK off the network for instance metadata: no key in the env.
    let env = BTreeMap::from([("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned())]);
    let pattern = Path::new(config_dir.path())
        .join("*.yaml")
        .display()
        .to_string();
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
async fn azure_round_trip() {
    round_trip(Emulator::Azure, Emulator::Azure.flytekit_env(), &[]).await;
}

#[tokio::test]
async fn s3_wrong_credentials_write_no_outputs_and_exit_unreported_or_failed() {
    let storage = Storage::new(Emulator::S3.config());
    Emulator::S3.prepare().await;
    let base = Emulator::S3.unique_prefix();
    let mut env = Emulator::S3.flytekit_env();
    env.insert("FLYTE_AWS_SECRET_ACCESS_KEY".into(), "wrong".into());
    let local = tempfile::tempdir().expect("temp dir");
    let inputs_uri = join(&base, "inputs.pb");
    storage
        .put_bytes(
            &inputs_uri,
            flyte_proto::io::encode(&literal::literal_map([("n", literal::integer(1))])),
        )
        .await
        .expect("uploaded");
    let output = run(
        &[
            "download",
            "-f",
            &inputs_uri,
            "--to-output-prefix",
            &join(&base, "out"),
            "-o",
            &local.path().display().to_string(),
        ],
        &env,
    );
    // The error document cannot be written with the same wrong key: exit 3 says so.
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(!local.path().join("inputs.pb").exists());
}
