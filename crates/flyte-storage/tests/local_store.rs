//! The local file store: the shared conformance suite, then what only local files show
//! (atomic replacement, symbolic links) and the `Storage` facade's routing.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use flyte_storage::{
    LocalStore, Storage, StorageConfig, StorageError, StorageUri, Store, conformance, join,
};

fn base_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

fn path_base(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

fn uri(text: &str) -> StorageUri {
    StorageUri::parse(text).expect("valid test URI")
}

/// Names in `dir` (recursively) that look like this crate's temporary files.
fn temp_files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let dir = base_dir();
                conformance::$check(&LocalStore::new(), &uri(&path_base(&dir))).await;
                assert_eq!(temp_files_under(dir.path()), Vec::<String>::new(), "temporary files left behind");
            }
        )*
    };
}

// `odd_keys_download_inside_the_directory_like_flytekit` is for object stores: a file
// system cannot hold the keys `a//b` or `/b`.
conformance_tests!(
    bytes_round_trip_and_overwrite,
    empty_object_round_trips,
    unicode_and_space_names_round_trip,
    large_file_round_trips,
    bytes_over_a_chunk_round_trip,
    hundred_mib_file_round_trips_through_multipart,
    nested_directory_goes_up_and_comes_down,
    listing_ignores_trailing_slash_and_scopes_to_the_prefix,
    missing_prefix_lists_empty_and_downloads_as_not_found,
    exists_is_true_only_for_objects,
    missing_object_is_not_found_naming_the_uri,
    delete_removes_and_tolerates_missing,
    uploading_a_file_as_a_directory_is_refused,
    directory_links_are_uploaded_as_flytekit_uploads_them,
    a_link_to_nothing_fails_the_upload_naming_it,
);

/// Local files have no buckets: a path under a missing directory is simply absent,
/// and writes create the directories.
#[tokio::test]
async fn a_missing_directory_is_absent_where_a_missing_bucket_is_not() {
    let dir = base_dir();
    let object = join(&path_base(&dir), "no-such-dir/x/inputs.pb");
    conformance::a_missing_bucket_is_never_absent(
        &LocalStore::new(),
        &uri(&object),
        conformance::Namespace::Directories,
    )
    .await;
    assert_eq!(temp_files_under(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn whole_suite_passes_with_file_uris_and_a_trailing_slash() {
    let dir = base_dir();
    let store = LocalStore::new();
    conformance::run(&store, &uri(&format!("file://{}/", dir.path().display()))).await;
    conformance::run(
        &store,
        &uri(&format!("file:{}/again", dir.path().display())),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_the_old_or_the_new_file_never_a_mix() {
    let dir = base_dir();
    let store = Arc::new(LocalStore::new());
    let object = uri(&join(&path_base(&dir), "outputs.pb"));
    let old = Bytes::from(vec![b'a'; 1 << 20]);
    let new = Bytes::from(vec![b'b'; 2 << 20]);
    store.put_bytes(&object, old.clone()).await.expect("put");

    let writer = {
        let (store, object, old, new) = (store.clone(), object.clone(), old.clone(), new.clone());
        tokio::spawn(async move {
            for round in 0..20 {
                let contents = if round % 2 == 0 {
                    new.clone()
                } else {
                    old.clone()
                };
                store.put_bytes(&object, contents).await.expect("rewrite");
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads < 20 {
        let seen = store
            .get_bytes(&object)
            .await
            .expect("read while rewriting");
        assert!(
            seen == old || seen == new,
            "read {} bytes of a half-written file",
            seen.len()
        );
        reads += 1;
    }
    writer.await.expect("writer");
    assert_eq!(temp_files_under(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn failed_writes_leave_the_old_file_and_no_temporary_file() {
    let dir = base_dir();
    let store = LocalStore::new();
    let object = uri(&join(&path_base(&dir), "outputs.pb"));
    store
        .put_bytes(&object, Bytes::from_static(b"old"))
        .await
        .expect("put");

    let missing_source = dir.path().join("no-such-file");
    match store.put_file(&missing_source, &object).await {
        Err(StorageError::NotFound { uri }) => {
            assert_eq!(uri, missing_source.display().to_string())
        }
        other => panic!("put_file of a missing source: {other:?}"),
    }
    let directory_source = dir.path().join("a-directory");
    std::fs::create_dir(&directory_source).expect("mkdir");
    let error = store
        .put_file(&directory_source, &object)
        .await
        .expect_err("a directory is not a file");
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("a-directory"), "{error}");

    assert_eq!(&store.get_bytes(&object).await.expect("get")[..], b"old");
    assert_eq!(temp_files_under(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn writes_create_missing_parent_directories() {
    let dir = base_dir();
    let store = LocalStore::new();
    let object = uri(&join(&path_base(&dir), "a/b/c/outputs.pb"));
    store
        .put_bytes(&object, Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert_eq!(
        std::fs::read(dir.path().join("a/b/c/outputs.pb")).expect("read"),
        b"x"
    );
}

#[tokio::test]
async fn local_store_refuses_cloud_uris_with_an_invalid_uri_error() {
    let error = LocalStore::new()
        .get_bytes(&uri("s3://bucket/key"))
        .await
        .expect_err("not a local URI");
    assert!(
        matches!(error, StorageError::InvalidUri { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("s3://bucket/key"), "{error}");
}

#[tokio::test]
async fn facade_round_trips_through_paths_and_file_uris() {
    let dir = base_dir();
    let storage = Storage::new(StorageConfig {
        transfer_concurrency: 3,
        ..StorageConfig::default()
    });
    let as_path = join(&path_base(&dir), "x/outputs.pb");
    let as_uri = format!("file://{as_path}");
    storage
        .put_bytes(&as_uri, b"hello".to_vec())
        .await
        .expect("put");
    assert_eq!(
        &storage.get_bytes(&as_path).await.expect("get")[..],
        b"hello"
    );
    assert!(storage.exists(&as_path).await.expect("exists"));

    let local = dir.path().join("copy.pb");
    assert_eq!(
        storage.get_file(&as_uri, &local).await.expect("get_file"),
        5
    );
    let uploaded = join(&path_base(&dir), "y/uploaded.pb");
    assert_eq!(
        storage.put_file(&local, &uploaded).await.expect("put_file"),
        5
    );

    let down = dir.path().join("down");
    let summary = storage
        .get_dir(&format!("file://{}", dir.path().join("x").display()), &down)
        .await
        .expect("get_dir");
    assert_eq!((summary.files, summary.bytes), (1, 5));
    let up = storage
        .put_dir(&down, &join(&path_base(&dir), "z"))
        .await
        .expect("put_dir");
    assert_eq!(up, summary);
    let listed = storage
        .list(&join(&path_base(&dir), "z"))
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "outputs.pb");

    storage.delete(&uploaded).await.expect("delete");
    assert!(!storage.exists(&uploaded).await.expect("exists"));
}

#[tokio::test]
async fn facade_reports_unsupported_and_invalid_uris() {
    let storage = Storage::default();
    match storage.get_bytes("ftp://host/inputs.pb").await {
        Err(error @ StorageError::UnsupportedScheme { .. }) => {
            assert!(
                error.to_string().contains("ftp://host/inputs.pb"),
                "{error}"
            );
        }
        other => panic!("ftp: {other:?}"),
    }
    match storage.list("s3://").await {
        Err(StorageError::InvalidUri { uri, .. }) => assert_eq!(uri, "s3://"),
        other => panic!("s3:// without bucket: {other:?}"),
    }
}
