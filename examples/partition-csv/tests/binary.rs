//! The example's binary on local files: what a run with a missing flag or a bad prefix
//! leaves behind and prints.

use std::path::Path;
use std::process::{Command, Output};

use flyte_proto::literal;

fn write_inputs(dir: &Path, csv: &str, column: &str) -> String {
    let rows = dir.join("rows.csv");
    std::fs::write(&rows, csv).expect("write the csv");
    let inputs = literal::literal_map([
        (
            "rows",
            literal::blob(
                rows.display().to_string(),
                "csv",
                flyte_proto::core::blob_type::BlobDimensionality::Single,
            ),
        ),
        ("column", literal::string(column)),
    ]);
    let path = dir.join("inputs.pb");
    flyte_proto::io::write_literal_map(&path, &inputs).expect("write inputs.pb");
    path.display().to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_partition-csv"))
        .args(args)
        .env_remove("FLYTECTL_CONFIG")
        .output()
        .expect("the binary starts")
}

/// Runs the binary on `dir/inputs.pb` with `dir/out` as the output prefix and, when
/// `with_raw_prefix`, `dir/raw` as the raw output prefix; it must exit 0, as it does
/// once outputs.pb or error.pb is written.
fn run_in(dir: &Path, inputs: &str, with_raw_prefix: bool) {
    let (out, raw) = (dir.join("out"), dir.join("raw"));
    let mut args = vec![
        "--inputs",
        inputs,
        "--output-prefix",
        out.to_str().expect("utf-8"),
    ];
    if with_raw_prefix {
        args.extend(["--raw-output-data-prefix", raw.to_str().expect("utf-8")]);
    }
    let output = run(&args);
    assert!(output.status.success(), "{output:?}");
}

fn error_message(out: &Path) -> String {
    let document = flyte_proto::io::read_error_document(out.join("error.pb")).expect("error.pb");
    document.error.expect("a container error").message
}

#[test]
fn a_local_run_writes_outputs_pb_and_the_parts_under_the_raw_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = write_inputs(dir.path(), "k,v\na,1\nb,2\na,3\n", "k");
    let (out, raw) = (dir.path().join("out"), dir.path().join("raw"));
    run_in(dir.path(), &inputs, true);
    let outputs = flyte_proto::io::read_literal_map(out.join("outputs.pb")).expect("outputs.pb");
    assert_eq!(outputs.literals["o1"].as_integer(), Some(3));
    let parts = Path::new(&outputs.literals["o0"].as_blob().expect("a blob").uri).to_owned();
    assert!(parts.starts_with(&raw), "{}", parts.display());
    assert_eq!(
        std::fs::read_to_string(parts.join("part-a.csv")).expect("part a"),
        "k,v\na,1\na,3\n"
    );
    assert_eq!(
        std::fs::read_to_string(parts.join("part-b.csv")).expect("part b"),
        "k,v\nb,2\n"
    );
}

#[test]
fn without_a_raw_output_prefix_the_error_document_says_which_flag_to_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = write_inputs(dir.path(), "k\na\n", "k");
    let out = dir.path().join("out");
    run_in(dir.path(), &inputs, false);
    let message = error_message(&out);
    assert!(
        message.contains("pass --raw-output-data-prefix"),
        "{message}"
    );
}

#[test]
fn an_unknown_column_is_a_user_error_listing_the_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = write_inputs(dir.path(), "id,city\n1,x\n", "town");
    let (out, raw) = (dir.path().join("out"), dir.path().join("raw"));
    run_in(dir.path(), &inputs, true);
    let message = error_message(&out);
    assert!(
        message.contains("the CSV file has no column `town`: input `column` must be one of its columns (id, city)"),
        "{message}"
    );
    assert!(!raw.exists(), "nothing is uploaded for a failed run");
}

#[test]
fn an_output_prefix_no_store_serves_fails_with_the_reason_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = write_inputs(dir.path(), "k\na\n", "k");
    let output = run(&["--inputs", &inputs, "--output-prefix", "ftp://host/out"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ftp://host/out"), "{stderr}");
}
