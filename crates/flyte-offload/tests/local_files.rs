//! Offloading and materialising on local files: the layout, the literals, and bad input
//! (which must leave nothing under the prefix).

mod support;

use std::os::unix::fs::symlink;
use std::path::Path;

use flyte_offload::{Materializer, OffloadError, Offloader};
use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::literal_type::Type;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::structured_dataset_type::DatasetColumn;
use flyte_proto::core::{LiteralType, SimpleType, Union};
use flyte_proto::{Message, literal};
use flyte_storage::Storage;
use support::{FILE_TEXT, Place, objects_under, read_tree, tree, write_tree};

fn is_random_directory(name: &str) -> bool {
    name.len() == 32
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

async fn local() -> (tempfile::TempDir, Storage, String) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (storage, prefix) = Place::Local.storage_and_prefix(scratch.path()).await;
    (scratch, storage, prefix)
}

fn column(name: &str, simple: SimpleType) -> DatasetColumn {
    DatasetColumn {
        name: name.to_owned(),
        literal_type: Some(LiteralType {
            r#type: Some(Type::Simple(simple.into())),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn a_file_goes_under_a_fresh_32_hex_directory_keeping_its_name() {
    let (scratch, storage, prefix) = local().await;
    let path = scratch.path().join("report.csv");
    std::fs::write(&path, FILE_TEXT).expect("write");
    let offloader = Offloader::new(storage.clone(), format!("{prefix}/"));

    let literal = offloader.file(&path, "csv").await.expect("offloaded");
    let blob = literal.as_blob().expect("a blob");
    let rest = blob
        .uri
        .strip_prefix(&format!("{prefix}/"))
        .expect("under the prefix");
    let (random, name) = rest.split_once('/').expect("<hex>/<name>");
    assert!(is_random_directory(random), "{rest}");
    assert_eq!(name, "report.csv");
    let blob_type = blob
        .metadata
        .as_ref()
        .and_then(|m| m.r#type.as_ref())
        .expect("type");
    assert_eq!(blob_type.format, "csv");
    assert_eq!(blob_type.dimensionality(), BlobDimensionality::Single);
    assert_eq!(std::fs::read(&blob.uri).expect("uploaded"), FILE_TEXT);

    let second = offloader.file(&path, "").await.expect("offloaded again");
    assert_ne!(
        second.as_blob().expect("blob").uri,
        blob.uri,
        "each offload is fresh"
    );
}

#[tokio::test]
async fn a_directory_keeps_its_nesting_under_a_uri_without_a_trailing_slash() {
    let (scratch, storage, prefix) = local().await;
    let root = scratch.path().join("tree");
    write_tree(&root);
    symlink("a.txt", root.join("alias.txt")).expect("a link inside");

    let literal = Offloader::new(storage.clone(), &prefix)
        .directory(&root, "")
        .await
        .expect("offloaded");
    let blob = literal.as_blob().expect("a blob");
    assert!(!blob.uri.ends_with('/'));
    let random = blob
        .uri
        .strip_prefix(&format!("{prefix}/"))
        .expect("under the prefix");
    assert!(is_random_directory(random), "{random}");
    let blob_type = blob
        .metadata
        .as_ref()
        .and_then(|m| m.r#type.as_ref())
        .expect("type");
    assert_eq!(blob_type.dimensionality(), BlobDimensionality::Multipart);
    assert_eq!(blob_type.format, "");
    let mut expected = tree();
    expected.insert("alias.txt".to_owned(), b"alpha\n".to_vec());
    assert_eq!(read_tree(Path::new(&blob.uri)), expected);
}

#[tokio::test]
async fn a_dataset_file_goes_to_00000_and_a_dataset_directory_as_it_is_with_its_columns() {
    let (scratch, storage, prefix) = local().await;
    let file = scratch.path().join("frame.parquet");
    std::fs::write(&file, b"PAR1 pretend PAR1").expect("write");
    let dir = scratch.path().join("parts");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("part-0.parquet"), b"zero").expect("write");
    std::fs::write(dir.join("part-1.parquet"), b"one").expect("write");
    let columns = vec![
        column("x", SimpleType::Integer),
        column("label", SimpleType::String),
    ];
    let offloader = Offloader::new(storage.clone(), &prefix);

    let from_file = offloader
        .structured_dataset(&file, "parquet", Some(columns.clone()))
        .await
        .expect("offloaded");
    let dataset = from_file.as_structured_dataset().expect("a dataset");
    let dataset_type = dataset
        .metadata
        .as_ref()
        .and_then(|m| m.structured_dataset_type.as_ref())
        .expect("type");
    assert_eq!(dataset_type.format, "parquet");
    assert_eq!(dataset_type.columns, columns);
    assert_eq!(objects_under(&storage, &dataset.uri).await, ["00000"]);
    assert!(is_random_directory(
        dataset.uri.rsplit('/').next().expect("a name")
    ));

    let from_dir = offloader
        .structured_dataset(&dir, "parquet", None)
        .await
        .expect("offloaded");
    let dataset = from_dir.as_structured_dataset().expect("a dataset");
    assert_eq!(
        objects_under(&storage, &dataset.uri).await,
        ["part-0.parquet", "part-1.parquet"]
    );
    let dataset_type = dataset
        .metadata
        .as_ref()
        .and_then(|m| m.structured_dataset_type.as_ref());
    assert_eq!(dataset_type.map(|t| t.columns.len()), Some(0));
}

#[tokio::test]
async fn a_csv_dataset_file_goes_to_dot_csv_as_flytekits_csv_encoder_writes_it() {
    let (scratch, storage, prefix) = local().await;
    let file = scratch.path().join("frame.csv");
    std::fs::write(&file, b"x,label\n1,one\n").expect("write");
    let literal = Offloader::new(storage.clone(), &prefix)
        .structured_dataset(&file, "csv", None)
        .await
        .expect("offloaded");
    let dataset = literal.as_structured_dataset().expect("a dataset");
    assert_eq!(objects_under(&storage, &dataset.uri).await, [".csv"]);
    let format = dataset
        .metadata
        .as_ref()
        .and_then(|m| m.structured_dataset_type.as_ref())
        .map(|t| t.format.as_str());
    assert_eq!(format, Some("csv"));
}

#[tokio::test]
async fn a_single_file_of_a_format_flytekit_names_no_file_for_is_refused_and_nothing_is_written() {
    let (scratch, storage, prefix) = local().await;
    let file = scratch.path().join("frame.arrow");
    std::fs::write(&file, b"ARROW1").expect("write");
    let offloader = Offloader::new(storage.clone(), &prefix);
    for format in ["arrow", "PARQUET"] {
        let error = offloader
            .structured_dataset(&file, format, None)
            .await
            .expect_err("no one-file name for the format");
        match &error {
            OffloadError::DatasetFileFormat {
                path,
                format: given,
            } => {
                assert_eq!((path, given.as_str()), (&file, format));
            }
            other => panic!("expected DatasetFileFormat, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("frame.arrow"), "{message}");
        assert!(message.contains("offload a directory"), "{message}");
    }
    assert!(objects_under(&storage, &prefix).await.is_empty());
    assert_eq!(
        std::fs::read_dir(&prefix).expect("the prefix").count(),
        0,
        "no directory was made either"
    );

    // A directory holding the dataset's files is offloaded whatever its format.
    let dir = scratch.path().join("arrow-parts");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::copy(&file, dir.join("part-0.arrow")).expect("copy");
    let literal = offloader
        .structured_dataset(&dir, "arrow", None)
        .await
        .expect("a directory of any format");
    let dataset = literal.as_structured_dataset().expect("a dataset");
    assert_eq!(
        objects_under(&storage, &dataset.uri).await,
        ["part-0.arrow"]
    );
}

#[tokio::test]
async fn a_path_that_does_not_exist_is_named_and_nothing_is_written() {
    let (scratch, storage, prefix) = local().await;
    let offloader = Offloader::new(storage.clone(), &prefix);
    let missing = scratch.path().join("no-such-file.csv");
    for result in [
        offloader.file(&missing, "").await,
        offloader.directory(&missing, "").await,
        offloader
            .structured_dataset(&missing, "parquet", None)
            .await,
    ] {
        let error = result.expect_err("missing");
        assert!(matches!(error, OffloadError::NotFound { .. }), "{error:?}");
        assert!(error.to_string().contains("no-such-file.csv"), "{error}");
    }
    assert!(objects_under(&storage, &prefix).await.is_empty());
}

#[tokio::test]
async fn a_link_leaving_the_directory_is_refused_before_anything_is_uploaded() {
    let (scratch, storage, prefix) = local().await;
    let secret = scratch.path().join("secret.txt");
    std::fs::write(&secret, b"not for upload").expect("write");
    let root = scratch.path().join("tree");
    write_tree(&root);
    symlink(&secret, root.join("nested/escape")).expect("link");
    let offloader = Offloader::new(storage.clone(), &prefix);

    let error = offloader.directory(&root, "").await.expect_err("refused");
    match &error {
        OffloadError::LinkOutside { link, .. } => assert_eq!(link, &root.join("nested/escape")),
        other => panic!("expected LinkOutside, got {other:?}"),
    }
    assert!(error.to_string().contains("nested/escape"), "{error}");
    let error = offloader
        .structured_dataset(&root, "parquet", None)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, OffloadError::LinkOutside { .. }),
        "{error:?}"
    );
    assert!(objects_under(&storage, &prefix).await.is_empty());
}

#[tokio::test]
async fn a_name_that_is_not_utf8_is_refused_before_anything_is_uploaded() {
    use std::os::unix::ffi::OsStrExt;
    let (scratch, storage, prefix) = local().await;
    let root = scratch.path().join("tree");
    write_tree(&root);
    let latin1 = root
        .join("nested")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&latin1, b"bytes").expect("write");
    let offloader = Offloader::new(storage.clone(), &prefix);

    let error = offloader.directory(&root, "").await.expect_err("refused");
    match &error {
        OffloadError::NonUtf8Path { path } => assert_eq!(path, &latin1),
        other => panic!("expected NonUtf8Path, got {other:?}"),
    }
    assert_eq!(error.kind(), flyte_offload::OffloadErrorKind::Local);
    assert!(objects_under(&storage, &prefix).await.is_empty());
    assert!(
        std::fs::read_dir(&prefix).map_or(true, |mut entries| entries.next().is_none()),
        "no directory made under the prefix either"
    );
}

#[tokio::test]
async fn a_file_where_a_directory_is_expected_and_the_reverse_are_refused() {
    let (scratch, storage, prefix) = local().await;
    let file = scratch.path().join("f.txt");
    std::fs::write(&file, b"f").expect("write");
    let offloader = Offloader::new(storage.clone(), &prefix);
    assert!(matches!(
        offloader.directory(&file, "").await,
        Err(OffloadError::NotADirectory { .. })
    ));
    assert!(matches!(
        offloader.file(scratch.path(), "").await,
        Err(OffloadError::NotAFile { .. })
    ));
    assert!(objects_under(&storage, &prefix).await.is_empty());
}

#[tokio::test]
async fn a_prefix_no_store_serves_is_refused_before_anything_is_read() {
    let (scratch, storage, _) = local().await;
    let file = scratch.path().join("f.txt");
    std::fs::write(&file, b"f").expect("write");
    for prefix in ["ftp://host/raw", ""] {
        let error = Offloader::new(storage.clone(), prefix)
            .file(&file, "")
            .await
            .expect_err("no store");
        match &error {
            OffloadError::NoStore { uri, .. } => assert_eq!(uri, prefix),
            OffloadError::EmptyPrefix => assert_eq!(prefix, ""),
            other => panic!("expected NoStore, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn materialising_places_items_entries_unions_and_offloaded_literals_at_their_paths() {
    let (scratch, storage, prefix) = local().await;
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("one.txt"), b"one").expect("write");
    std::fs::write(data.join("two.txt"), b"two").expect("write");
    write_tree(&data.join("tree"));
    let offloader = Offloader::new(storage.clone(), &prefix);
    let one = offloader
        .file(&data.join("one.txt"), "")
        .await
        .expect("one");
    let two = offloader
        .file(&data.join("two.txt"), "")
        .await
        .expect("two");
    let dir = offloader
        .directory(&data.join("tree"), "")
        .await
        .expect("tree");
    // An offloaded literal holding the directory, as flytekit's literal offloading writes.
    let stored = flyte_storage::join(&prefix, "offloaded.pb");
    storage
        .put_bytes(&stored, dir.encode_to_vec())
        .await
        .expect("stored");
    let union = literal::scalar(ScalarValue::Union(Box::new(Union {
        value: Some(Box::new(two.clone())),
        r#type: Some(LiteralType::default()),
    })));
    let inputs = literal::literal_map([
        (
            "files",
            literal::collection([one.clone(), literal::integer(5)]),
        ),
        ("by_name", literal::map([("maybe", union)])),
        ("tree", literal::offloaded(stored, 0, None)),
        ("count", literal::integer(3)),
    ]);

    let to = scratch.path().join("inputs");
    let local = Materializer::new(storage.clone())
        .with_concurrency(2)
        .literal_map(&inputs, &to)
        .await
        .expect("materialised");

    assert_eq!(std::fs::read(to.join("files/0")).expect("item 0"), b"one");
    assert!(
        !to.join("files/1").exists(),
        "nothing is written for a primitive"
    );
    assert_eq!(
        std::fs::read(to.join("by_name/maybe")).expect("entry"),
        b"two"
    );
    assert_eq!(read_tree(&to.join("tree")), tree());
    assert!(!to.join("count").exists());
    let uri_of = |l: &flyte_proto::core::Literal| l.peel_unions().as_blob().map(|b| b.uri.clone());
    let files = local.literals["files"].as_collection().expect("collection");
    assert_eq!(
        uri_of(&files[0]),
        to.join("files/0").to_str().map(str::to_owned)
    );
    assert_eq!(files[1].as_integer(), Some(5));
    let maybe = &local.literals["by_name"].as_map().expect("map")["maybe"];
    assert!(maybe.as_union().is_some(), "the union is kept");
    assert_eq!(
        uri_of(maybe),
        to.join("by_name/maybe").to_str().map(str::to_owned)
    );
    assert_eq!(
        uri_of(&local.literals["tree"]),
        to.join("tree").to_str().map(str::to_owned)
    );
    assert_eq!(local.literals["count"].as_integer(), Some(3));
}

#[tokio::test]
async fn a_dataset_naming_one_object_becomes_a_file_and_one_naming_a_prefix_a_directory() {
    let (scratch, storage, prefix) = local().await;
    let object = flyte_storage::join(&prefix, "frame.parquet");
    storage.put_bytes(&object, &b"PAR1"[..]).await.expect("put");
    let parts = flyte_storage::join(&prefix, "parts");
    storage
        .put_bytes(&flyte_storage::join(&parts, "00000"), &b"zero"[..])
        .await
        .expect("put");
    let materializer = Materializer::new(storage.clone());

    let file = scratch.path().join("as-file");
    materializer
        .literal(&literal::structured_dataset(object, "parquet"), &file)
        .await
        .expect("materialised");
    assert_eq!(std::fs::read(&file).expect("a file"), b"PAR1");
    let dir = scratch.path().join("as-dir");
    materializer
        .literal(&literal::structured_dataset(parts, "parquet"), &dir)
        .await
        .expect("materialised");
    assert_eq!(
        std::fs::read(dir.join("00000")).expect("a directory"),
        b"zero"
    );
}

#[tokio::test]
async fn a_primitive_is_returned_as_it_is_and_nothing_is_written() {
    let (scratch, storage, _) = local().await;
    let to = scratch.path().join("nothing");
    let value = literal::string("text");
    let result = Materializer::new(storage)
        .literal(&value, &to)
        .await
        .expect("ok");
    assert_eq!(result, value);
    assert!(!to.exists());
}

#[tokio::test]
async fn asking_for_a_file_and_getting_something_else_names_both() {
    let (scratch, storage, _) = local().await;
    let to = scratch.path().join("x");
    let materializer = Materializer::new(storage);
    let error = materializer
        .file(&literal::integer(1), &to)
        .await
        .expect_err("not a file");
    assert!(
        matches!(error, OffloadError::UnexpectedLiteral { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("a file") && message.contains("a primitive"),
        "{message}"
    );
    let directory = literal::blob("/tmp/d", "", BlobDimensionality::Multipart);
    let error = materializer
        .file(&directory, &to)
        .await
        .expect_err("a directory");
    assert!(error.to_string().contains("MULTIPART"), "{error}");
    assert!(!to.exists());
}

#[tokio::test]
async fn a_uri_no_store_serves_fails_before_anything_is_downloaded() {
    let (scratch, storage, prefix) = local().await;
    let good = flyte_storage::join(&prefix, "good.txt");
    storage.put_bytes(&good, &b"good"[..]).await.expect("put");
    let value = literal::collection([
        literal::blob(good, "", BlobDimensionality::Single),
        literal::blob("ftp://host/file", "", BlobDimensionality::Single),
    ]);
    let to = scratch.path().join("out");
    let error = Materializer::new(storage)
        .literal(&value, &to)
        .await
        .expect_err("no store");
    match &error {
        OffloadError::NoStore { uri, .. } => assert_eq!(uri, "ftp://host/file"),
        other => panic!("expected NoStore, got {other:?}"),
    }
    assert!(!to.exists(), "nothing was downloaded");
}

#[tokio::test]
async fn a_failed_download_removes_what_the_call_created() {
    let (scratch, storage, prefix) = local().await;
    let good = flyte_storage::join(&prefix, "good.txt");
    storage.put_bytes(&good, &b"good"[..]).await.expect("put");
    let missing = flyte_storage::join(&prefix, "missing.txt");
    let value = literal::collection([
        literal::blob(good, "", BlobDimensionality::Single),
        literal::blob(missing.clone(), "", BlobDimensionality::Single),
    ]);
    let to = scratch.path().join("out");
    let error = Materializer::new(storage)
        .with_concurrency(1)
        .literal(&value, &to)
        .await
        .expect_err("missing");
    match &error {
        OffloadError::Download { uri, .. } => assert_eq!(uri, &missing),
        other => panic!("expected Download, got {other:?}"),
    }
    assert!(
        !to.exists(),
        "the partly materialised collection was removed"
    );
}

#[tokio::test]
async fn an_offloaded_literal_of_a_scheme_no_store_serves_is_no_store_saying_how_to_register_one() {
    let (scratch, storage, _) = local().await;
    let value = literal::offloaded("vault://box/o0_offloaded_metadata.pb", 0, None);
    let error = Materializer::new(storage)
        .literal(&value, &scratch.path().join("o0"))
        .await
        .expect_err("no store");
    match &error {
        OffloadError::NoStore { uri, .. } => {
            assert_eq!(uri, "vault://box/o0_offloaded_metadata.pb")
        }
        other => panic!("expected NoStore, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("Storage::with_store"), "{message}");
}

#[tokio::test]
async fn an_offloaded_literal_the_storage_cannot_read_is_told_apart_from_one_that_does_not_decode()
{
    let (scratch, storage, prefix) = local().await;
    let materializer = Materializer::new(storage.clone());
    let to = scratch.path().join("o0");

    let missing = flyte_storage::join(&prefix, "missing_offloaded_metadata.pb");
    let error = materializer
        .literal(&literal::offloaded(missing.clone(), 0, None), &to)
        .await
        .expect_err("nothing there");
    match &error {
        OffloadError::OffloadedLiteralDownload { uri, source } => {
            assert_eq!(uri, &missing);
            assert!(
                matches!(source, flyte_storage::StorageError::NotFound { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected OffloadedLiteralDownload, got {other:?}"),
    }

    let garbage = flyte_storage::join(&prefix, "garbage_offloaded_metadata.pb");
    storage
        .put_bytes(&garbage, &b"\xff\xff\xff not a literal"[..])
        .await
        .expect("put");
    let error = materializer
        .literal(&literal::offloaded(garbage.clone(), 0, None), &to)
        .await
        .expect_err("not a literal");
    match &error {
        OffloadError::OffloadedLiteralInvalid { uri, .. } => assert_eq!(uri, &garbage),
        other => panic!("expected OffloadedLiteralInvalid, got {other:?}"),
    }
    assert!(error.to_string().contains(&garbage), "{error}");
}

#[tokio::test]
async fn a_local_directory_that_is_not_there_is_not_found_naming_its_uri() {
    let (scratch, storage, prefix) = local().await;
    let materializer = Materializer::new(storage);
    for missing in [
        flyte_storage::join(&prefix, "no-such-dir"),
        format!("file://{}", flyte_storage::join(&prefix, "no-such-dir")),
    ] {
        let to = scratch.path().join("inputs").join("dir");
        let directory = literal::blob(missing.clone(), "", BlobDimensionality::Multipart);
        let error = materializer
            .directory(&directory, &to)
            .await
            .expect_err("nothing there");
        match &error {
            OffloadError::Download { uri, source, .. } => {
                assert_eq!(uri, &missing);
                assert!(
                    matches!(source, flyte_storage::StorageError::NotFound { .. }),
                    "{source:?}"
                );
            }
            other => panic!("expected Download(NotFound), got {other:?}"),
        }
        assert!(error.to_string().contains(&missing), "{error}");
        assert!(
            !to.exists(),
            "no empty directory stands in for a missing one"
        );
    }
}

#[tokio::test]
async fn a_local_directory_that_is_there_and_empty_becomes_an_empty_directory() {
    let (scratch, storage, prefix) = local().await;
    let empty = flyte_storage::join(&prefix, "empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let to = scratch.path().join("dir");
    let local = Materializer::new(storage)
        .directory(
            &literal::blob(empty, "", BlobDimensionality::Multipart),
            &to,
        )
        .await
        .expect("an empty directory");
    assert_eq!(std::fs::read_dir(local).expect("a directory").count(), 0);
}

#[tokio::test]
async fn an_object_store_prefix_with_no_objects_becomes_an_empty_directory() {
    // An object store keeps no empty directories: an empty FlyteDirectory offloads to
    // nothing at all, and must come back as the empty directory it was.
    let scratch = tempfile::tempdir().expect("tempdir");
    let storage = Storage::default().with_store(
        "mem://",
        std::sync::Arc::new(flyte_storage::MemoryStore::new()),
    );
    let to = scratch.path().join("dir");
    let directory = literal::blob("mem://bucket/raw/empty", "", BlobDimensionality::Multipart);
    let local = Materializer::new(storage)
        .directory(&directory, &to)
        .await
        .expect("an empty directory");
    assert_eq!(std::fs::read_dir(local).expect("a directory").count(), 0);
}

/// A file name the local store accepts as a target but cannot stage: the store writes
/// `.<name>.<32 hex>.tmp` beside the target first, and that is longer than the 255
/// bytes a file name may have. So its upload fails after the fresh directory was made.
fn unstageable_name() -> String {
    format!("{}.txt", "x".repeat(220))
}

/// The names directly under `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_failed_file_upload_on_a_local_prefix_leaves_no_directory_behind() {
    let (scratch, storage, prefix) = local().await;
    let file = scratch.path().join(unstageable_name());
    std::fs::write(&file, b"data").expect("write");
    std::fs::create_dir(flyte_storage::join(&prefix, "earlier")).expect("an earlier value");

    let error = Offloader::new(storage, &prefix)
        .file(&file, "")
        .await
        .expect_err("the upload fails");

    assert!(matches!(error, OffloadError::Upload { .. }), "{error:?}");
    assert_eq!(entries(Path::new(&prefix)), ["earlier"]);
}

#[tokio::test]
async fn a_directory_upload_failing_part_way_on_a_local_prefix_leaves_no_directory_behind() {
    let scratch = tempfile::tempdir().expect("tempdir");
    // One file at a time, so that the files before the failing one are written first.
    let storage = Storage::new(flyte_storage::StorageConfig {
        transfer_concurrency: 1,
        ..Default::default()
    });
    let prefix = scratch.path().join("raw");
    std::fs::create_dir(&prefix).expect("mkdir");
    let prefix = prefix.to_str().expect("utf-8").to_owned();
    let root = scratch.path().join("tree");
    write_tree(&root);
    // The walk goes in name order, a.txt and nested/ before z/.
    std::fs::create_dir(root.join("z")).expect("mkdir");
    std::fs::write(root.join("z").join(unstageable_name()), b"data").expect("write");
    let offloader = Offloader::new(storage.clone(), &prefix);

    for result in [
        offloader.directory(&root, "").await,
        offloader.structured_dataset(&root, "parquet", None).await,
    ] {
        let error = result.expect_err("the upload fails part way");
        assert!(matches!(error, OffloadError::Upload { .. }), "{error:?}");
        assert!(
            entries(Path::new(&prefix)).is_empty(),
            "left under the prefix: {:?}",
            entries(Path::new(&prefix))
        );
    }
}

#[tokio::test]
async fn asking_for_a_structured_dataset_gets_it_as_a_file_or_directory_and_anything_else_is_named()
{
    let (scratch, storage, prefix) = local().await;
    let file = scratch.path().join("frame.parquet");
    std::fs::write(&file, b"PAR1 pretend PAR1").expect("write");
    let frame = Offloader::new(storage.clone(), &prefix)
        .structured_dataset(&file, "parquet", None)
        .await
        .expect("offloaded");
    let materializer = Materializer::new(storage);

    let to = scratch.path().join("frame");
    let local = materializer
        .structured_dataset(&frame, &to)
        .await
        .expect("materialised");
    assert_eq!(local, to);
    assert_eq!(
        std::fs::read(to.join("00000")).expect("the one file"),
        b"PAR1 pretend PAR1"
    );

    for (other, found) in [
        (literal::integer(1), "a primitive"),
        (
            literal::blob("/tmp/x.parquet", "parquet", BlobDimensionality::Single),
            "a file (Blob SINGLE)",
        ),
    ] {
        let to = scratch.path().join("not-a-frame");
        let error = materializer
            .structured_dataset(&other, &to)
            .await
            .expect_err("not a dataset");
        match &error {
            OffloadError::UnexpectedLiteral {
                expected,
                found: what,
                path,
            } => {
                assert_eq!(*expected, "a structured dataset");
                assert_eq!(what, found);
                assert_eq!(path, &to);
            }
            other => panic!("expected UnexpectedLiteral, got {other:?}"),
        }
        assert!(!to.exists(), "nothing is written for the wrong kind");
    }
}
