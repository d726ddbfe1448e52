//! `flyte-copilot sidecar` on local files: typed outputs from the local directory,
//! uploads under the raw output prefix, outputs.pb last, and error.pb for every failure.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};

use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::literal_type::Type;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::structured_dataset_type::DatasetColumn;
use flyte_proto::core::{
    LiteralType, SimpleType, StructuredDatasetType, TypedInterface, UnionType,
};

use support::{
    base64_of, blob, error_document, list_of, literal_map, map_of, outputs_interface, run, simple,
    stderr,
};

struct Task {
    dir: tempfile::TempDir,
}

impl Task {
    fn new() -> Self {
        let task = Task {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        for dir in ["outputs", "prefix", "raw"] {
            std::fs::create_dir_all(task.path(dir)).expect("dir");
        }
        task
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) {
        let path = self.path("outputs").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, bytes).expect("output written");
    }
    fn args(&self, interface: &TypedInterface) -> Vec<String> {
        vec![
            "sidecar".into(),
            "--to-output-prefix".into(),
            self.path("prefix").display().to_string(),
            "--to-raw-output".into(),
            self.path("raw").display().to_string(),
            "--from-local-dir".into(),
            self.path("outputs").display().to_string(),
            "--interface".into(),
            base64_of(interface),
        ]
    }
    /// The sidecar with the noop watcher: the task has already ended.
    fn upload(&self, interface: &TypedInterface) -> std::process::Output {
        let mut args = self.args(interface);
        args.extend(["--start-watcher-type".into(), "noop".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &BTreeMap::new())
    }
    fn outputs_pb(&self) -> PathBuf {
        self.path("prefix/outputs.pb")
    }
    fn files_under_raw(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("list") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path("raw"), &mut out);
        out
    }
}

fn assert_success(output: &std::process::Output) {
    assert!(output.status.success(), "{}", stderr(output));
}

/// The user error the sidecar reported: its code and message.
fn user_error(task: &Task, output: &std::process::Output) -> (String, String) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    assert!(!task.outputs_pb().exists(), "no outputs.pb on failure");
    let error = error_document(&task.path("prefix/error.pb"))
        .error
        .expect("an error");
    assert_eq!(error.origin, 1, "USER origin: {error:?}");
    assert_eq!(error.kind, 0, "NON_RECOVERABLE: {error:?}");
    (error.code, error.message)
}

#[test]
fn no_outputs_write_an_empty_outputs_pb() {
    let task = Task::new();
    let output = task.upload(&TypedInterface::default());
    assert_success(&output);
    assert!(literal_map(&task.outputs_pb()).literals.is_empty());
}

#[test]
fn primitive_outputs_are_parsed_without_a_size_limit() {
    let task = Task::new();
    let long = "x".repeat(4096);
    task.write("i", b" 42\n");
    task.write("f.txt", b"2.5");
    task.write("s", long.as_bytes());
    task.write("b", b"True");
    task.write("dt", b"2024-01-02T03:04:05Z");
    task.write("d", b"1h30m");
    task.write("st", br#"{"a": [1, "two"]}"#);
    let interface = outputs_interface(&[
        ("i", simple(SimpleType::Integer)),
        ("f", simple(SimpleType::Float)),
        ("s", simple(SimpleType::String)),
        ("b", simple(SimpleType::Boolean)),
        ("dt", simple(SimpleType::Datetime)),
        ("d", simple(SimpleType::Duration)),
        ("st", simple(SimpleType::Struct)),
    ]);
    let output = task.upload(&interface);
    assert_success(&output);
    let outputs = literal_map(&task.outputs_pb());
    assert_eq!(outputs.literals["i"].as_integer(), Some(42));
    assert_eq!(outputs.literals["f"].as_float(), Some(2.5));
    assert_eq!(outputs.literals["s"].as_str(), Some(long.as_str()));
    assert_eq!(outputs.literals["b"].as_bool(), Some(true));
    assert_eq!(
        outputs.literals["dt"].as_datetime().map(|t| t.seconds),
        Some(1_704_164_645)
    );
    assert_eq!(
        outputs.literals["d"].as_duration().map(|d| d.seconds),
        Some(5400)
    );
    assert!(matches!(
        outputs.literals["st"].as_scalar(),
        Some(ScalarValue::Generic(fields)) if fields.fields.contains_key("a")
    ));
    assert!(
        task.files_under_raw().is_empty(),
        "primitives upload nothing"
    );
}

#[test]
fn files_and_directories_are_uploaded_with_their_nesting_and_formats() {
    let task = Task::new();
    task.write("report.csv", b"a,b\n");
    task.write("tree/top.txt", b"top");
    task.write("tree/nested/deeper/leaf.txt", b"leaf");
    let interface = outputs_interface(&[
        ("report", blob("csv", BlobDimensionality::Single)),
        ("tree", blob("", BlobDimensionality::Multipart)),
    ]);
    let output = task.upload(&interface);
    assert_success(&output);
    let outputs = literal_map(&task.outputs_pb());
    let report = outputs.literals["report"].as_blob().expect("a blob");
    assert!(
        report
            .uri
            .starts_with(&task.path("raw").display().to_string())
    );
    assert!(
        report.uri.ends_with("/report.csv"),
        "file name kept: {}",
        report.uri
    );
    assert_eq!(std::fs::read(&report.uri).expect("uploaded"), b"a,b\n");
    let kind = report
        .metadata
        .as_ref()
        .and_then(|m| m.r#type.clone())
        .expect("type");
    assert_eq!(kind.format, "csv");
    let tree = outputs.literals["tree"].as_blob().expect("a blob");
    assert_eq!(
        std::fs::read(Path::new(&tree.uri).join("nested/deeper/leaf.txt")).expect("nested"),
        b"leaf"
    );
    assert_eq!(
        std::fs::read(Path::new(&tree.uri).join("top.txt")).expect("top"),
        b"top"
    );
}

#[test]
fn collections_maps_datasets_and_unions_are_supported() {
    let task = Task::new();
    task.write("numbers/0", b"1");
    task.write("numbers/1", b"2");
    task.write("numbers/2.txt", b"3");
    task.write("files/0.csv", b"zero");
    task.write("files/1.csv", b"one");
    task.write("scores/alice", b"0.5");
    task.write("scores/bob.txt", b"1.5");
    task.write("scores/.hidden", b"not an entry");
    task.write("frame/part-0.parquet", b"PAR1 not really");
    task.write("maybe", b"17");
    task.write("nothing", b"null\n");
    let optional_int = LiteralType {
        r#type: Some(Type::UnionType(UnionType {
            variants: vec![simple(SimpleType::Integer), simple(SimpleType::None)],
        })),
        ..Default::default()
    };
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
        ("numbers", list_of(simple(SimpleType::Integer))),
        ("files", list_of(blob("csv", BlobDimensionality::Single))),
        ("scores", map_of(simple(SimpleType::Float))),
        ("frame", dataset),
        ("maybe", optional_int.clone()),
        ("nothing", optional_int.clone()),
        ("absent", optional_int),
    ]);
    let output = task.upload(&interface);
    assert_success(&output);
    let outputs = literal_map(&task.outputs_pb());
    let numbers: Vec<i64> = outputs.literals["numbers"]
        .as_collection()
        .expect("a list")
        .iter()
        .map(|item| item.as_integer().expect("int"))
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    let files = outputs.literals["files"].as_collection().expect("a list");
    assert_eq!(
        std::fs::read(&files[1].as_blob().expect("blob").uri).expect("uploaded"),
        b"one"
    );
    let scores = outputs.literals["scores"].as_map().expect("a map");
    assert_eq!(
        scores.keys().collect::<Vec<_>>(),
        ["alice", "bob"],
        "keys without extensions, as collection items and outputs are found"
    );
    assert_eq!(scores["bob"].as_float(), Some(1.5));
    let frame = outputs.literals["frame"]
        .as_structured_dataset()
        .expect("a dataset");
    assert!(Path::new(&frame.uri).join("part-0.parquet").is_file());
    let frame_type = frame
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.structured_dataset_type.as_ref())
        .expect("a dataset type");
    assert_eq!(frame_type.format, "parquet");
    assert_eq!(frame_type.columns, columns);
    let maybe = outputs.literals["maybe"].as_union().expect("a union");
    assert_eq!(maybe.value.as_ref().and_then(|v| v.as_integer()), Some(17));
    for name in ["absent", "nothing"] {
        let union = outputs.literals[name].as_union().expect("a union");
        assert!(union.value.as_ref().is_some_and(|v| v.is_none()), "{name}");
    }
}

#[test]
fn the_documents_take_the_names_the_flags_give() {
    let task = Task::new();
    task.write("n", b"1");
    let mut args = task.args(&outputs_interface(&[("n", simple(SimpleType::Integer))]));
    args.extend(
        [
            "--meta-output-name",
            "results.pb",
            "--err-output-name",
            "failure.pb",
            "--start-watcher-type",
            "noop",
        ]
        .map(String::from),
    );
    let borrowed: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_success(&run(&borrowed, &BTreeMap::new()));
    assert_eq!(
        literal_map(&task.path("prefix/results.pb")).literals["n"].as_integer(),
        Some(1)
    );
    assert!(!task.outputs_pb().exists());

    std::fs::remove_file(task.path("outputs/n")).expect("removed");
    let output = run(&borrowed, &BTreeMap::new());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = error_document(&task.path("prefix/failure.pb"))
        .error
        .expect("an error");
    assert_eq!(error.code, "USER:MissingOutput");
    assert!(!task.path("prefix/error.pb").exists());
}

#[test]
fn a_missing_output_is_the_users_error_and_uploads_nothing() {
    let task = Task::new();
    task.write("present.csv", b"data");
    let interface = outputs_interface(&[
        ("present", blob("csv", BlobDimensionality::Single)),
        ("wanted", simple(SimpleType::Integer)),
    ]);
    let output = task.upload(&interface);
    let (code, message) = user_error(&task, &output);
    assert_eq!(code, "USER:MissingOutput");
    assert!(message.contains("\"wanted\""), "{message}");
    assert!(task.files_under_raw().is_empty(), "nothing half-uploaded");
}

#[test]
fn an_output_of_the_wrong_type_is_the_users_error_naming_the_file() {
    let task = Task::new();
    task.write("count", b"twelve");
    let output = task.upload(&outputs_interface(&[(
        "count",
        simple(SimpleType::Integer),
    )]));
    let (code, message) = user_error(&task, &output);
    assert_eq!(code, "USER:InvalidOutput");
    assert!(
        message.contains("count") && message.contains("integer"),
        "{message}"
    );

    let task = Task::new();
    task.write("dir/inside", b"x");
    let output = task.upload(&outputs_interface(&[(
        "dir",
        blob("", BlobDimensionality::Single),
    )]));
    let (_, message) = user_error(&task, &output);
    assert!(message.contains("is a directory"), "{message}");

    let task = Task::new();
    task.write("single", b"x");
    let output = task.upload(&outputs_interface(&[(
        "single",
        blob("", BlobDimensionality::Multipart),
    )]));
    let (code, message) = user_error(&task, &output);
    assert_eq!(code, "USER:InvalidOutput");
    assert!(message.contains("is a file"), "{message}");

    let task = Task::new();
    task.write("scores/bob", b"1");
    task.write("scores/bob.txt", b"2");
    let output = task.upload(&outputs_interface(&[(
        "scores",
        map_of(simple(SimpleType::Integer)),
    )]));
    let (code, message) = user_error(&task, &output);
    assert_eq!(code, "USER:InvalidOutput");
    assert!(
        message.contains("bob and bob.txt") && message.contains("\"bob\""),
        "{message}"
    );
}

#[test]
fn a_link_out_of_the_output_directory_is_the_users_error_and_uploads_nothing() {
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let secret = elsewhere.path().join("storage.yaml");
    std::fs::write(&secret, b"secret-key: s3cret").expect("written");
    let tree = blob("", BlobDimensionality::Multipart);
    let file = blob("", BlobDimensionality::Single);
    // The link inside a directory output, the output itself a link, a link to nothing:
    // each found while planning, before the other output's file is uploaded.
    for (output, link, kind) in [
        ("tree", "tree/nested/config", tree.clone()),
        ("config", "config", file.clone()),
        ("tree", "tree/dangling", tree),
    ] {
        let task = Task::new();
        task.write("report.csv", b"a,b");
        task.write("tree/nested/keep.txt", b"kept");
        let target = if link.ends_with("dangling") {
            elsewhere.path().join("gone")
        } else {
            secret.clone()
        };
        std::os::unix::fs::symlink(&target, task.path("outputs").join(link)).expect("link");
        let output = task.upload(&outputs_interface(&[
            ("report", file.clone()),
            (output, kind),
        ]));
        let (code, message) = user_error(&task, &output);
        assert_eq!(code, "USER:InvalidOutput", "{link}");
        assert!(message.contains(link), "{link}: {message}");
        assert!(
            task.files_under_raw().is_empty(),
            "{link}: nothing uploaded"
        );
    }
}

#[test]
fn a_one_file_dataset_of_a_format_without_a_one_file_layout_is_the_users_error_and_uploads_nothing()
{
    let task = Task::new();
    task.write("report.csv", b"a,b");
    task.write("frame.arrow", b"ARROW1");
    let arrow = LiteralType {
        r#type: Some(Type::StructuredDatasetType(StructuredDatasetType {
            format: "arrow".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let output = task.upload(&outputs_interface(&[
        ("report", blob("", BlobDimensionality::Single)),
        ("frame", arrow),
    ]));
    let (code, message) = user_error(&task, &output);
    assert_eq!(code, "USER:InvalidOutput");
    assert!(
        message.contains("frame.arrow") && message.contains("\"arrow\""),
        "{message}"
    );
    assert!(task.files_under_raw().is_empty(), "nothing uploaded");
}

#[test]
fn a_missing_output_directory_is_one_system_error_naming_it() {
    let task = Task::new();
    std::fs::remove_dir(task.path("outputs")).expect("removed");
    let output = task.upload(&outputs_interface(&[
        ("a", simple(SimpleType::Integer)),
        ("b", blob("", BlobDimensionality::Single)),
    ]));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = error_document(&task.path("prefix/error.pb"))
        .error
        .expect("an error");
    assert_eq!(error.code, "OutputUploadFailed");
    assert_eq!(
        (error.origin, error.kind),
        (2, 0),
        "SYSTEM, NON_RECOVERABLE"
    );
    let dir = task.path("outputs").display().to_string();
    assert!(
        error
            .message
            .contains(&format!("{dir} (--from-local-dir) does not exist")),
        "{}",
        error.message
    );
    assert!(!task.outputs_pb().exists());
}

#[test]
fn a_raw_output_prefix_no_store_serves_is_a_non_recoverable_system_error() {
    let task = Task::new();
    task.write("model", b"weights");
    let mut args = task.args(&outputs_interface(&[(
        "model",
        blob("", BlobDimensionality::Single),
    )]));
    let raw = args
        .iter()
        .position(|arg| arg == "--to-raw-output")
        .expect("flag")
        + 1;
    args[raw] = "https://example.com/raw".into();
    args.extend(["--start-watcher-type".into(), "noop".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&args, &BTreeMap::new());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = error_document(&task.path("prefix/error.pb"))
        .error
        .expect("an error");
    assert_eq!(error.code, "OutputUploadFailed");
    assert_eq!(
        (error.origin, error.kind),
        (2, 0),
        "SYSTEM, NON_RECOVERABLE: {}",
        error.message
    );
    assert!(
        error.message.contains("--to-raw-output"),
        "{}",
        error.message
    );
    assert!(!task.outputs_pb().exists());
}

#[test]
fn an_error_file_is_the_users_error_message() {
    let task = Task::new();
    task.write("_ERROR", b"the model diverged");
    task.write("out", b"1");
    let output = task.upload(&outputs_interface(&[("out", simple(SimpleType::Integer))]));
    let (code, message) = user_error(&task, &output);
    assert_eq!(code, "USER:ContainerError");
    assert!(message.contains("the model diverged"), "{message}");
}

#[test]
fn an_error_file_over_its_bound_is_cut_and_says_so() {
    let task = Task::new();
    let mut big = b"start ".to_vec();
    big.resize(2 * 1024 * 1024, b'y');
    task.write("_ERROR", &big);
    let output = task.upload(&TypedInterface::default());
    let (_, message) = user_error(&task, &output);
    assert!(message.contains("start "), "the head is kept");
    assert!(
        message.contains("only its first 1048576 are kept"),
        "the cut is named"
    );
    assert!(message.len() < 1024 * 1024 + 4096);
}

#[test]
fn an_interface_that_is_not_base64_protobuf_is_a_system_error_naming_the_flag() {
    let task = Task::new();
    let mut args = task.args(&TypedInterface::default());
    let last = args.len() - 1;
    args[last] = "bm90IGEgcHJvdG9idWYgYXQgYWxs/w==".into();
    args.extend(["--exit-watcher-type".into(), "noop".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&args, &BTreeMap::new());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = error_document(&task.path("prefix/error.pb"))
        .error
        .expect("error");
    assert_eq!(error.code, "OutputUploadFailed");
    assert!(error.message.contains("--interface"), "{}", error.message);
    assert_eq!(error.origin, 2);
}

/// A sidecar started as propeller starts it, waiting for the task's container to end.
struct Waiting {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStderr>>,
}

impl Waiting {
    /// Starts `flyte-copilot <args>` and returns once it logs that it waits for the
    /// task's container (so its SIGTERM handler is in place).
    fn start(args: &[String]) -> Waiting {
        let mut child = Command::new(support::binary())
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.expect("a log line");
            if line.contains("waiting for the task's container to end") {
                return Waiting { child, lines };
            }
            seen.push(line);
        }
        let status = child.wait().expect("exits");
        panic!(
            "the sidecar ended ({status}) without waiting:\n{}",
            seen.join("\n")
        );
    }

    /// Whether the sidecar is still running.
    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("status").is_none()
    }

    /// Sends SIGTERM, as the kubelet does once the task's container has ended, and
    /// waits for the sidecar's exit: its status and the rest of its log.
    fn terminate(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let rest: Vec<String> = self.lines.map_while(Result::ok).collect();
        (self.child.wait().expect("exits"), rest.join("\n"))
    }
}

#[test]
fn the_sidecar_waits_for_sigterm_before_reading_outputs() {
    let task = Task::new();
    let interface = outputs_interface(&[("out", simple(SimpleType::Integer))]);
    let waiting = Waiting::start(&task.args(&interface));
    // The task ends only now: had the sidecar read the directory earlier, `out` would
    // have been missing.
    task.write("out", b"99");
    let (status, log) = waiting.terminate();
    assert!(status.success(), "{log}");
    assert_eq!(
        literal_map(&task.outputs_pb()).literals["out"].as_integer(),
        Some(99)
    );
}

#[test]
fn an_explicit_timeout_wins_over_a_tiny_start_timeout_under_the_signal_watcher() {
    let task = Task::new();
    let interface = outputs_interface(&[
        ("out", simple(SimpleType::Integer)),
        ("model", blob("", BlobDimensionality::Single)),
    ]);
    let mut args = task.args(&interface);
    // flytecopilot 1.16 let --start-timeout override --timeout: 1ns would expire the
    // upload before it began.
    args.extend(["--timeout", "1h", "--start-timeout", "1ns"].map(String::from));
    let waiting = Waiting::start(&args);
    task.write("out", b"5");
    task.write("model", b"weights");
    let (status, log) = waiting.terminate();
    assert!(status.success(), "{log}");
    // An upload this small may beat even 1ns, so the bound is read from the log too.
    assert!(log.contains("(upload timeout: 1h0m0s)"), "{log}");
    let outputs = literal_map(&task.outputs_pb());
    assert_eq!(outputs.literals["out"].as_integer(), Some(5));
    let model = outputs.literals["model"].as_blob().expect("a blob");
    assert_eq!(std::fs::read(&model.uri).expect("uploaded"), b"weights");
}

#[test]
fn command_line_and_storage_errors_are_reported_only_once_the_task_has_ended() {
    for (extra, needle) in [
        (
            &["--flag-from-the-future", "on"][..],
            "--flag-from-the-future",
        ),
        (&["--storage.type=mem"], "mem"),
        (
            &["--storage.stow.config", "a=1,b,c=3"],
            "--storage.stow.config",
        ),
    ] {
        let task = Task::new();
        task.write("out", b"1");
        let mut args = task.args(&outputs_interface(&[("out", simple(SimpleType::Integer))]));
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let mut waiting = Waiting::start(&args);
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            waiting.is_running(),
            "{extra:?}: it must not exit before the task"
        );
        assert!(!task.path("prefix/error.pb").exists(), "{extra:?}");
        let (status, log) = waiting.terminate();
        assert_eq!(status.code(), Some(1), "{extra:?}: {log}");
        assert!(!task.outputs_pb().exists(), "{extra:?}");
        let error = error_document(&task.path("prefix/error.pb"))
            .error
            .expect("an error");
        assert_eq!(error.code, "OutputUploadFailed", "{extra:?}");
        assert!(
            error.message.contains(needle),
            "{extra:?}: {}",
            error.message
        );
        assert_eq!(
            (error.origin, error.kind),
            (2, 0),
            "SYSTEM, NON_RECOVERABLE: {error:?}"
        );
    }
}

#[test]
fn a_command_line_without_an_output_prefix_is_refused_at_once_with_clap_s_status() {
    let output = run(
        &[
            "sidecar",
            "--flag-from-the-future",
            "--from-local-dir",
            "/tmp",
        ],
        &BTreeMap::new(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--flag-from-the-future"));
}
