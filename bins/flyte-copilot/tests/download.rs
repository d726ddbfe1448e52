//! `flyte-copilot download` on local files: the layout flytecopilot writes, and an
//! error.pb with a non-zero exit for every failure.

mod support;

use std::collections::BTreeMap;

use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::literal_type::Type;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::structured_dataset_type::DatasetColumn;
use flyte_proto::core::{
    LiteralMap, LiteralType, Schema, SchemaType, SimpleType, StructuredDataset,
    StructuredDatasetMetadata, StructuredDatasetType, Union,
};
use flyte_proto::literal;
use flyte_proto::prost_types::{Duration, Timestamp};

use support::{error_document, literal_map, run, stderr};

struct Task {
    dir: tempfile::TempDir,
}

impl Task {
    fn new() -> Self {
        Task {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
    fn write_inputs(&self, inputs: &LiteralMap) {
        std::fs::create_dir_all(self.path("remote")).expect("dir");
        flyte_proto::io::write_literal_map(self.path("remote/inputs.pb"), inputs)
            .expect("inputs.pb written");
    }
    fn remote(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path("remote").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, bytes).expect("remote file");
        path.display().to_string()
    }
    fn download(&self, extra: &[&str]) -> std::process::Output {
        std::fs::create_dir_all(self.path("remote")).expect("dir");
        std::fs::create_dir_all(self.path("prefix")).expect("dir");
        let inputs = self.path("remote/inputs.pb").display().to_string();
        let prefix = self.path("prefix").display().to_string();
        let local = self.path("inputs").display().to_string();
        let mut args = vec![
            "download",
            "--from-remote",
            &inputs,
            "--to-output-prefix",
            &prefix,
            "--to-local-dir",
            &local,
        ];
        args.extend_from_slice(extra);
        run(&args, &BTreeMap::new())
    }
    fn local(&self, name: &str) -> String {
        std::fs::read_to_string(self.path("inputs").join(name))
            .unwrap_or_else(|error| panic!("reading input {name}: {error}"))
    }
}

fn assert_success(output: &std::process::Output) {
    assert!(output.status.success(), "{}", stderr(output));
}

#[test]
fn empty_inputs_write_an_empty_inputs_pb_and_an_empty_json_object() {
    let task = Task::new();
    std::fs::create_dir_all(task.path("remote")).expect("dir");
    task.write_inputs(&LiteralMap::default());
    let output = task.download(&[]);
    assert_success(&output);
    assert_eq!(
        literal_map(&task.path("inputs/inputs.pb")),
        LiteralMap::default()
    );
    assert_eq!(task.local("inputs.json"), "{}");
    assert!(!task.path("prefix/error.pb").exists());
}

#[test]
fn primitive_inputs_are_written_as_copilot_writes_them() {
    let task = Task::new();
    std::fs::create_dir_all(task.path("remote")).expect("dir");
    task.write_inputs(&literal::literal_map([
        ("i", literal::integer(-42)),
        ("f", literal::float(2.5)),
        ("s", literal::string("hello\nworld")),
        ("b", literal::boolean(true)),
        (
            "dt",
            literal::datetime(Timestamp {
                seconds: 1_704_164_645,
                nanos: 500_000_000,
            }),
        ),
        (
            "d",
            literal::duration(Duration {
                seconds: 3723,
                nanos: 0,
            }),
        ),
        ("n", literal::none()),
    ]));
    let output = task.download(&[]);
    assert_success(&output);
    assert_eq!(task.local("i"), "-42");
    assert_eq!(task.local("f"), "2.5");
    assert_eq!(task.local("s"), "hello\nworld");
    assert_eq!(task.local("b"), "true");
    assert_eq!(task.local("dt"), "2024-01-02T03:04:05.5Z");
    assert_eq!(task.local("d"), "1h2m3s");
    assert_eq!(task.local("n"), "null");
    let json: serde_json::Value =
        serde_json::from_str(&task.local("inputs.json")).expect("inputs.json is JSON");
    assert_eq!(
        json,
        serde_json::json!({
            "i": -42, "f": 2.5, "s": "hello\nworld", "b": true,
            "dt": "2024-01-02T03:04:05.5Z", "d": 3_723_000_000_000_i64, "n": null
        })
    );
}

#[test]
fn yaml_format_writes_inputs_yaml_and_proto_format_neither_description() {
    let task = Task::new();
    std::fs::create_dir_all(task.path("remote")).expect("dir");
    task.write_inputs(&literal::literal_map([("x", literal::integer(1))]));
    assert_success(&task.download(&["--format", "YAML"]));
    assert_eq!(task.local("inputs.yaml"), "\"x\": 1\n");
    assert!(!task.path("inputs/inputs.json").exists());

    let task = Task::new();
    std::fs::create_dir_all(task.path("remote")).expect("dir");
    task.write_inputs(&literal::literal_map([("x", literal::integer(1))]));
    assert_success(&task.download(&["-m", "PROTO"]));
    assert!(!task.path("inputs/inputs.json").exists());
    assert!(!task.path("inputs/inputs.yaml").exists());
    assert_eq!(task.local("x"), "1");
}

#[test]
fn blob_inputs_land_at_the_variable_name_and_inputs_pb_names_the_local_paths() {
    let task = Task::new();
    let file = task.remote("data/some.csv", b"a,b\n1,2\n");
    task.remote("tree/top.txt", b"top");
    task.remote("tree/nested/deeper/leaf.txt", b"leaf");
    let tree = task.path("remote/tree").display().to_string();
    task.write_inputs(&literal::literal_map([
        (
            "csv",
            literal::blob(&file, "csv", BlobDimensionality::Single),
        ),
        (
            "tree",
            literal::blob(&tree, "", BlobDimensionality::Multipart),
        ),
    ]));
    let output = task.download(&[]);
    assert_success(&output);
    assert_eq!(task.local("csv"), "a,b\n1,2\n");
    assert_eq!(task.local("tree/top.txt"), "top");
    assert_eq!(task.local("tree/nested/deeper/leaf.txt"), "leaf");
    let local = literal_map(&task.path("inputs/inputs.pb"));
    let csv = local.literals["csv"].as_blob().expect("a blob");
    assert_eq!(csv.uri, task.path("inputs/csv").display().to_string());
    assert_eq!(
        csv.metadata
            .as_ref()
            .and_then(|m| m.r#type.as_ref())
            .map(|t| t.format.as_str()),
        Some("csv"),
        "the format is kept"
    );
    let json: serde_json::Value = serde_json::from_str(&task.local("inputs.json")).expect("JSON");
    assert_eq!(json["tree"], task.path("inputs/tree").display().to_string());
}

#[test]
fn an_empty_multipart_blob_is_an_empty_directory_not_an_error() {
    let task = Task::new();
    std::fs::create_dir_all(task.path("remote/empty")).expect("dir");
    let empty = task.path("remote/empty").display().to_string();
    task.write_inputs(&literal::literal_map([(
        "d",
        literal::blob(&empty, "", BlobDimensionality::Multipart),
    )]));
    let output = task.download(&[]);
    assert_success(&output);
    assert!(task.path("inputs/d").is_dir());
}

#[test]
fn offloaded_collections_and_maps_are_resolved_and_laid_out_by_index_and_key() {
    let task = Task::new();
    let one = task.remote("one.txt", b"first");
    let collection = literal::collection([
        literal::blob(&one, "", BlobDimensionality::Single),
        literal::integer(7),
    ]);
    let offloaded = task.remote("offloaded.pb", &flyte_proto::io::encode(&collection));
    let two = task.remote("two.txt", b"second");
    let map = literal::map([
        ("alpha", literal::string("A")),
        ("beta", literal::float(0.5)),
        (
            "file",
            literal::blob(&two, "txt", BlobDimensionality::Single),
        ),
    ]);
    let offloaded_map = task.remote("offloaded-map.pb", &flyte_proto::io::encode(&map));
    task.write_inputs(&literal::literal_map([
        ("list", literal::offloaded(&offloaded, 0, None)),
        ("map", literal::offloaded(&offloaded_map, 0, None)),
        (
            "nested",
            literal::collection([literal::collection([literal::boolean(false)])]),
        ),
    ]));
    let output = task.download(&[]);
    assert_success(&output);
    assert_eq!(task.local("list/0"), "first");
    assert_eq!(task.local("list/1"), "7");
    assert_eq!(task.local("map/alpha"), "A");
    assert_eq!(task.local("map/beta"), "0.5");
    assert_eq!(task.local("map/file"), "second");
    assert_eq!(task.local("nested/0/0"), "false");
    let local = literal_map(&task.path("inputs/inputs.pb"));
    let items = local.literals["list"]
        .as_collection()
        .expect("resolved to a collection");
    assert_eq!(
        items[0].as_blob().expect("blob").uri,
        task.path("inputs/list/0").display().to_string()
    );
    let entries = local.literals["map"].as_map().expect("resolved to a map");
    assert_eq!(
        entries["file"].as_blob().expect("blob").uri,
        task.path("inputs/map/file").display().to_string()
    );
    let json: serde_json::Value = serde_json::from_str(&task.local("inputs.json")).expect("JSON");
    assert_eq!(json["map"]["alpha"], "A");
}

#[test]
fn datasets_and_schemas_come_down_as_their_files_and_directories() {
    let task = Task::new();
    let single = task.remote("single.parquet", b"PAR1 one file");
    task.remote("frame/00000", b"PAR1 part zero");
    task.remote("frame/nested/00001", b"PAR1 part one");
    task.remote("schema/part-0", b"legacy");
    let frame = task.path("remote/frame").display().to_string();
    let schema_uri = task.path("remote/schema").display().to_string();
    let dataset = literal::scalar(ScalarValue::StructuredDataset(StructuredDataset {
        uri: frame,
        metadata: Some(StructuredDatasetMetadata {
            structured_dataset_type: Some(StructuredDatasetType {
                format: "parquet".into(),
                columns: vec![DatasetColumn {
                    name: "x".into(),
                    literal_type: Some(LiteralType {
                        r#type: Some(Type::Simple(SimpleType::Integer as i32)),
                        ..Default::default()
                    }),
                }],
                ..Default::default()
            }),
        }),
    }));
    let schema = literal::scalar(ScalarValue::Schema(Schema {
        uri: schema_uri,
        r#type: Some(SchemaType::default()),
    }));
    task.write_inputs(&literal::literal_map([
        ("frame", dataset),
        ("one", literal::structured_dataset(&single, "parquet")),
        ("legacy", schema),
    ]));
    let output = task.download(&[]);
    assert_success(&output);
    assert_eq!(task.local("frame/00000"), "PAR1 part zero");
    assert_eq!(task.local("frame/nested/00001"), "PAR1 part one");
    assert_eq!(task.local("one"), "PAR1 one file");
    assert_eq!(task.local("legacy/part-0"), "legacy");
    let local = literal_map(&task.path("inputs/inputs.pb"));
    let frame = local.literals["frame"]
        .as_structured_dataset()
        .expect("a dataset");
    assert_eq!(frame.uri, task.path("inputs/frame").display().to_string());
    let kind = frame
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.structured_dataset_type.as_ref())
        .expect("the type is kept");
    assert_eq!(kind.format, "parquet");
    assert_eq!(kind.columns[0].name, "x");
    let Some(ScalarValue::Schema(legacy)) = local.literals["legacy"].as_scalar() else {
        panic!("a schema: {:?}", local.literals["legacy"]);
    };
    assert_eq!(legacy.uri, task.path("inputs/legacy").display().to_string());
    let json: serde_json::Value = serde_json::from_str(&task.local("inputs.json")).expect("JSON");
    assert_eq!(json["one"], task.path("inputs/one").display().to_string());
}

#[test]
fn an_http_blob_uri_is_refused_as_a_non_recoverable_system_error() {
    let task = Task::new();
    task.write_inputs(&literal::literal_map([(
        "page",
        literal::blob(
            "https://example.com/data.csv",
            "csv",
            BlobDimensionality::Single,
        ),
    )]));
    let output = task.download(&[]);
    assert_failed_with(&task, &output, false, "https://example.com/data.csv");
}

#[test]
fn a_union_input_is_written_as_its_value() {
    let task = Task::new();
    std::fs::create_dir_all(task.path("remote")).expect("dir");
    let union = literal::scalar(ScalarValue::Union(Box::new(Union {
        value: Some(Box::new(literal::integer(5))),
        r#type: None,
    })));
    task.write_inputs(&literal::literal_map([("u", union)]));
    assert_success(&task.download(&[]));
    assert_eq!(task.local("u"), "5");
}

fn assert_failed_with(task: &Task, output: &std::process::Output, recoverable: bool, needle: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    assert!(
        !task.path("prefix/errors.pb").exists(),
        "copilot's old name is not used"
    );
    let document = error_document(&task.path("prefix/error.pb"));
    let error = document.error.expect("an error");
    assert_eq!(error.code, "InputDownloadFailed");
    assert!(error.message.contains(needle), "{}", error.message);
    // Kind: 1 RECOVERABLE, 0 NON_RECOVERABLE; origin 2 SYSTEM.
    assert_eq!(error.kind == 1, recoverable, "{error:?}");
    assert_eq!(error.origin, 2, "{error:?}");
    assert!(
        !task.path("inputs/inputs.pb").exists(),
        "no inputs.pb on failure"
    );
}

#[test]
fn a_missing_blob_writes_error_pb_and_exits_non_zero() {
    let task = Task::new();
    let gone = task.path("remote/gone.bin").display().to_string();
    task.write_inputs(&literal::literal_map([
        ("x", literal::integer(1)),
        ("f", literal::blob(&gone, "", BlobDimensionality::Single)),
    ]));
    let output = task.download(&[]);
    assert_failed_with(&task, &output, true, "gone.bin");
}

#[test]
fn a_missing_inputs_pb_is_a_recoverable_system_error() {
    let task = Task::new();
    let output = task.download(&[]);
    assert_failed_with(&task, &output, true, "inputs.pb");
}

#[test]
fn a_corrupt_inputs_pb_is_a_non_recoverable_system_error() {
    let task = Task::new();
    task.remote("inputs.pb", b"\xff\xff\xff not a protobuf");
    let output = task.download(&[]);
    assert_failed_with(&task, &output, false, "not a flyteidl.core.LiteralMap");
}

#[test]
fn an_input_interface_that_is_not_base64_is_an_error_naming_the_flag() {
    let task = Task::new();
    std::fs::create_dir_all(task.path("remote")).expect("dir");
    task.write_inputs(&LiteralMap::default());
    let output = task.download(&["--input-interface", "***"]);
    assert_failed_with(&task, &output, false, "--input-interface");
}

#[test]
fn a_local_dir_that_cannot_be_created_is_an_error_naming_it() {
    let task = Task::new();
    std::fs::create_dir_all(task.path("remote")).expect("dir");
    task.write_inputs(&literal::literal_map([("x", literal::integer(1))]));
    // A file where the directory should be.
    std::fs::write(task.path("inputs"), b"in the way").expect("file");
    let output = task.download(&[]);
    assert_failed_with(&task, &output, false, "--to-local-dir");
}

#[test]
fn bad_flag_values_are_non_recoverable_system_errors_naming_the_flag() {
    // Valid base64, but of no protobuf message.
    let not_protobuf = "bm90IGEgcHJvdG9idWYgYXQgYWxs/w==";
    for flags in [
        &["--file-input-layout", "NAMED_DIR"][..],
        &["--download-mode", "LAZY"],
        &["--format", "XML"],
        &["--timeout", "1..5s"],
        &["--input-interface", not_protobuf],
    ] {
        let task = Task::new();
        task.write_inputs(&literal::literal_map([("x", literal::integer(1))]));
        let output = task.download(flags);
        assert_failed_with(&task, &output, false, flags[0]);
        assert!(
            !task.path("inputs/x").exists(),
            "{flags:?}: nothing written"
        );
    }
}

#[test]
fn a_flag_clap_refuses_is_reported_at_once_in_the_error_document() {
    let task = Task::new();
    task.write_inputs(&literal::literal_map([("x", literal::integer(1))]));
    let output = task.download(&["--flag-from-the-future", "on"]);
    assert_failed_with(&task, &output, false, "--flag-from-the-future");
}

#[test]
fn the_error_document_takes_the_name_err_output_name_gives() {
    let task = Task::new();
    let output = task.download(&["--err-output-name", "download-error.pb"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!task.path("prefix/error.pb").exists());
    let error = error_document(&task.path("prefix/download-error.pb"))
        .error
        .expect("an error");
    assert_eq!(error.code, "InputDownloadFailed");
}

/// `flyte-copilot <args>` with `dir` read-only. Root (as `cargo xtask test` runs here)
/// writes through permission bits, so then the directory is bind-mounted read-only in a
/// mount namespace of the command's own (util-linux's unshare), as a read-only volume is.
fn run_with_read_only_dir(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let probe = dir.join("probe");
    if std::fs::write(&probe, b"").is_err() {
        return run(args, &BTreeMap::new());
    }
    std::fs::remove_file(&probe).expect("probe removed");
    std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c"])
        .arg(r#"mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@""#)
        .arg(dir)
        .arg(support::binary())
        .args(args)
        .output()
        .expect("unshare runs (util-linux)")
}

#[test]
fn a_read_only_local_directory_is_refused_up_front_naming_it() {
    let task = Task::new();
    let file = task.remote("data.csv", b"a,b\n");
    task.write_inputs(&literal::literal_map([(
        "csv",
        literal::blob(&file, "csv", BlobDimensionality::Single),
    )]));
    std::fs::create_dir_all(task.path("prefix")).expect("dir");
    std::fs::create_dir_all(task.path("inputs")).expect("dir");
    let inputs = task.path("remote/inputs.pb").display().to_string();
    let prefix = task.path("prefix").display().to_string();
    let local = task.path("inputs").display().to_string();
    let output = run_with_read_only_dir(
        &task.path("inputs"),
        &[
            "download",
            "-f",
            &inputs,
            "--to-output-prefix",
            &prefix,
            "-o",
            &local,
        ],
    );
    assert_failed_with(
        &task,
        &output,
        false,
        &format!("{local} (--to-local-dir) is not writable"),
    );
}

#[test]
fn answers_as_flytedata_too() {
    let task = Task::new();
    let link = task.path("flytedata");
    std::os::unix::fs::symlink(support::binary(), &link).expect("symlink");
    let output = std::process::Command::new(&link)
        .arg("--help")
        .output()
        .expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("flytedata"), "{help}");
    assert!(
        help.contains("download") && help.contains("sidecar"),
        "{help}"
    );
}

#[test]
fn a_map_key_that_is_no_file_name_is_refused_and_nothing_lands_outside_the_dir() {
    let task = Task::new();
    task.write_inputs(&literal::literal_map([(
        "m",
        literal::map([("../escaped", literal::integer(1))]),
    )]));
    let output = task.download(&[]);
    assert_failed_with(&task, &output, false, "../escaped");
    assert!(!task.path("escaped").exists());
    assert!(!task.path("inputs/escaped").exists());
}
