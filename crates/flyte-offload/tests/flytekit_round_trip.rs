//! Byte compatibility with flytekit 1.16's TypeEngine, both ways, on local files and on
//! the three emulators `cargo xtask test` starts (moto, fake-gcs-server, Azurite):
//!
//! - flytekit offloads a FlyteFile["csv"], a nested FlyteDirectory, a DataFrame with
//!   columns as parquet and as csv, a list and a dict of files
//!   (tests/python/flytekit_side.py `make`); ours materialises them and checks every
//!   byte and path;
//! - ours offloads a file, a nested directory and datasets (one parquet file, a
//!   directory of them, and one CSV file) with columns; flytekit's `to_python_value`
//!   reads them back, the datasets with pandas, and checks contents, nesting, format and
//!   columns (`check`).
//!
//! The emulator tests fail, saying to run `cargo xtask test`, when the emulators are not
//! running; none is skipped.

mod support;

use std::path::Path;

use flyte_offload::{Materializer, Offloader};
use flyte_proto::core::literal_type::Type;
use flyte_proto::core::structured_dataset_type::DatasetColumn;
use flyte_proto::core::{Literal, LiteralType, SimpleType};
use flyte_proto::{io, literal};
use support::{EMULATORS, FILE_TEXT, Place, flytekit, read_tree, tree, write_tree};

fn path_text(path: &Path) -> String {
    path.to_str().expect("utf-8").to_owned()
}

fn uri(literal: &Literal) -> String {
    let peeled = literal.peel_unions();
    peeled
        .as_blob()
        .map(|b| b.uri.clone())
        .or_else(|| peeled.as_structured_dataset().map(|d| d.uri.clone()))
        .expect("a blob or dataset")
}

fn is_parquet(bytes: &[u8]) -> bool {
    bytes.len() > 8 && bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")
}

async fn flytekit_values_materialise(place: Place) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (storage, prefix) = place.storage_and_prefix(scratch.path()).await;
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let made = scratch.path().join("made.pb");
    flytekit(
        place,
        &[
            "make",
            &path_text(&made),
            "--data-dir",
            &path_text(&data),
            "--raw-prefix",
            &prefix,
        ],
    );
    let remote = io::read_literal_map(&made).expect("flytekit's literal map");
    assert!(
        uri(&remote.literals["file"]).starts_with(&prefix),
        "flytekit offloaded under {prefix}: {remote:?}"
    );

    let to = scratch.path().join("inputs");
    let local = Materializer::new(storage)
        .literal_map(&remote, &to)
        .await
        .expect("materialised");

    assert_eq!(std::fs::read(to.join("file")).expect("the file"), FILE_TEXT);
    assert_eq!(uri(&local.literals["file"]), path_text(&to.join("file")));
    let format = local.literals["file"]
        .as_blob()
        .and_then(|b| b.metadata.as_ref())
        .and_then(|m| m.r#type.as_ref())
        .map(|t| t.format.clone());
    assert_eq!(format.as_deref(), Some("csv"));
    assert_eq!(read_tree(&to.join("directory")), tree());
    assert_eq!(
        uri(&local.literals["directory"]),
        path_text(&to.join("directory"))
    );

    let frame = read_tree(&to.join("frame"));
    assert_eq!(
        frame.keys().collect::<Vec<_>>(),
        ["00000"],
        "pandas' one file"
    );
    assert!(is_parquet(&frame["00000"]), "a parquet file");
    let dataset_type = local.literals["frame"]
        .as_structured_dataset()
        .and_then(|d| d.metadata.as_ref())
        .and_then(|m| m.structured_dataset_type.as_ref())
        .expect("dataset type");
    assert_eq!(dataset_type.format, "parquet");
    let names: Vec<&str> = dataset_type
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["x", "label"]);

    // flytekit's CSV encoder writes the one file `.csv` into the dataset's directory.
    assert_eq!(
        read_tree(&to.join("frame_csv")),
        [(".csv".to_owned(), FRAME_CSV.to_vec())].into(),
        "pandas' one CSV file"
    );
    let csv_type = local.literals["frame_csv"]
        .as_structured_dataset()
        .and_then(|d| d.metadata.as_ref())
        .and_then(|m| m.structured_dataset_type.as_ref())
        .expect("dataset type");
    assert_eq!(csv_type.format, "csv");

    for i in 0..3 {
        let item = to.join(format!("files/{i}"));
        assert_eq!(
            std::fs::read(&item).expect("item"),
            format!("item {i}\n").as_bytes()
        );
    }
    let items = local.literals["files"].as_collection().expect("a list");
    assert_eq!(uri(&items[2]), path_text(&to.join("files/2")));
    assert_eq!(
        std::fs::read(to.join("by_name/first")).expect("entry"),
        b"item 0\n"
    );
    assert_eq!(
        std::fs::read(to.join("by_name/second")).expect("entry"),
        b"item 1\n"
    );
    assert_eq!(local.literals["count"].as_integer(), Some(7));
    assert!(!to.join("count").exists());
}

/// flytekit_side.py's FRAME as pandas writes it with `to_csv(index=False)`.
const FRAME_CSV: &[u8] = b"x,label\n1,one\n2,two\n3,three\n";

fn column(name: &str, simple: SimpleType) -> DatasetColumn {
    DatasetColumn {
        name: name.to_owned(),
        literal_type: Some(LiteralType {
            r#type: Some(Type::Simple(simple.into())),
            ..Default::default()
        }),
    }
}

async fn our_values_read_by_flytekit(place: Place) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (storage, prefix) = place.storage_and_prefix(scratch.path()).await;
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let report = data.join("report.csv");
    std::fs::write(&report, FILE_TEXT).expect("write");
    let root = data.join("tree");
    write_tree(&root);
    let parquet = data.join("frame.parquet");
    flytekit(Place::Local, &["parquet", &path_text(&parquet)]);
    let csv = data.join("frame.csv");
    flytekit(Place::Local, &["csv", &path_text(&csv)]);
    assert_eq!(std::fs::read(&csv).expect("csv"), FRAME_CSV);
    let parts = data.join("parts");
    std::fs::create_dir(&parts).expect("mkdir");
    std::fs::copy(&parquet, parts.join("part-0.parquet")).expect("copy");
    let columns = vec![
        column("x", SimpleType::Integer),
        column("label", SimpleType::String),
    ];

    let offloader = Offloader::new(storage, &prefix);
    let outputs = literal::literal_map([
        ("file", offloader.file(&report, "csv").await.expect("file")),
        (
            "directory",
            offloader.directory(&root, "").await.expect("dir"),
        ),
        (
            "frame",
            offloader
                .structured_dataset(&parquet, "parquet", Some(columns.clone()))
                .await
                .expect("frame"),
        ),
        (
            "frame_dir",
            offloader
                .structured_dataset(&parts, "parquet", Some(columns.clone()))
                .await
                .expect("frame directory"),
        ),
        (
            "frame_csv",
            offloader
                .structured_dataset(&csv, "csv", Some(columns))
                .await
                .expect("csv frame"),
        ),
    ]);
    for literal in outputs.literals.values() {
        assert!(uri(literal).starts_with(&prefix), "{literal:?}");
    }
    let written = scratch.path().join("ours.pb");
    io::write_literal_map(&written, &outputs).expect("written");
    let work = scratch.path().join("flytekit");
    std::fs::create_dir(&work).expect("mkdir");
    let said = flytekit(
        place,
        &[
            "check",
            &path_text(&written),
            "--work-dir",
            &path_text(&work),
        ],
    );
    assert!(said.contains("flytekit read every value"), "{said}");
}

#[tokio::test]
async fn on_local_files_flytekit_values_materialise_byte_for_byte() {
    flytekit_values_materialise(Place::Local).await;
}

#[tokio::test]
async fn on_local_files_flytekit_reads_what_ours_offloaded() {
    our_values_read_by_flytekit(Place::Local).await;
}

#[tokio::test]
async fn on_the_emulators_flytekit_values_materialise_byte_for_byte() {
    for place in EMULATORS {
        flytekit_values_materialise(place).await;
    }
}

#[tokio::test]
async fn on_the_emulators_flytekit_reads_what_ours_offloaded() {
    for place in EMULATORS {
        our_values_read_by_flytekit(place).await;
    }
}
