//! The behaviour every [`Store`] must show (feature `conformance`): checks that take a
//! store and a base URI under which it may write freely, each under its own
//! sub-prefix, so that any backend, built in or not, can be run through the suite
//! this crate runs its own stores through.
//!
//! This is test support: each check **panics** on the first rule the store breaks,
//! with a message naming the operation, the URI and what was expected, as a failing
//! assertion in a `#[test]` does. It reads no environment and needs no server of its
//! own; local files are staged in temporary directories. Call [`run`] for the whole
//! suite, or each check from its own `#[tokio::test]` for one failure per test.
//!
//! ```
//! use flyte_storage::{MemoryStore, StorageUri};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = MemoryStore::new();
//! let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
//! flyte_storage::conformance::bytes_round_trip_and_overwrite(&store, &base).await;
//! flyte_storage::conformance::odd_keys_download_inside_the_directory_like_flytekit(&store, &base).await;
//! # }
//! ```
//!
//! The checks that need a particular setup are not in [`run`]:
//! [`odd_keys_download_inside_the_directory_like_flytekit`] (object stores only: a file
//! system cannot hold the key `a//b`), [`wrong_credentials_are_permission_denied`] (a
//! store built with refused credentials) and [`a_missing_bucket_is_never_absent`] (a
//! URI in a bucket that does not exist).

use std::collections::BTreeMap;
use std::path::Path;

use crate::{StorageError, StorageUri, Store, StoreExt, TransferSummary, join};
use bytes::Bytes;
use futures_util::TryStreamExt;

/// Runs every check that holds for a file system as for an object store (not
/// [`odd_keys_download_inside_the_directory_like_flytekit`]), one after the other.
///
/// # Panics
/// On the first rule `store` breaks, naming the check, the URI and what was expected.
///
/// # Example
///
/// In a test of a store of one's own (here a memory store; the suite moves a 100 MiB
/// file, so it takes seconds):
///
/// ```no_run
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // #[tokio::test] async fn my_store_conforms() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::run(&store, &base).await;
/// conformance::odd_keys_download_inside_the_directory_like_flytekit(&store, &base).await;
/// # }
/// ```
pub async fn run(store: &dyn Store, base: &StorageUri) {
    bytes_round_trip_and_overwrite(store, base).await;
    empty_object_round_trips(store, base).await;
    unicode_and_space_names_round_trip(store, base).await;
    large_file_round_trips(store, base).await;
    bytes_over_a_chunk_round_trip(store, base).await;
    hundred_mib_file_round_trips_through_multipart(store, base).await;
    nested_directory_goes_up_and_comes_down(store, base).await;
    listing_ignores_trailing_slash_and_scopes_to_the_prefix(store, base).await;
    missing_prefix_lists_empty_and_downloads_as_not_found(store, base).await;
    exists_is_true_only_for_objects(store, base).await;
    missing_object_is_not_found_naming_the_uri(store, base).await;
    delete_removes_and_tolerates_missing(store, base).await;
    uploading_a_file_as_a_directory_is_refused(store, base).await;
    directory_links_are_uploaded_as_flytekit_uploads_them(store, base).await;
    a_link_to_nothing_fails_the_upload_naming_it(store, base).await;
}

fn uri(text: &str) -> StorageUri {
    StorageUri::parse(text).unwrap_or_else(|e| panic!("test URI {text}: {e}"))
}

/// Deterministic bytes that differ per seed and are not trivially compressible.
///
/// ```
/// use flyte_storage::conformance::pattern;
/// assert_eq!(pattern(7, 1024), pattern(7, 1024));
/// assert_ne!(pattern(7, 1024), pattern(8, 1024));
/// ```
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// Every file under `root`, by `/`-separated relative path.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().into_string().expect("UTF-8 name");
            let path = entry.path();
            if path.is_dir() {
                walk(&path, &format!("{prefix}{name}/"), files);
            } else {
                files.insert(
                    format!("{prefix}{name}"),
                    std::fs::read(&path).expect("read"),
                );
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, "", &mut files);
    files
}

fn write_tree(root: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (key, contents) in files {
        let path = root.join(key);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }
}

/// Checks that bytes round trip and overwrite.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::bytes_round_trip_and_overwrite(&store, &base).await;
/// # }
/// ```
pub async fn bytes_round_trip_and_overwrite(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let object = uri(&join(base, "bytes/outputs.pb"));
    store
        .put_bytes(&object, Bytes::from(pattern(1, 1000)))
        .await
        .expect("put");
    assert_eq!(
        store.get_bytes(&object).await.expect("get"),
        pattern(1, 1000)
    );
    store
        .put_bytes(&object, Bytes::from_static(b"shorter"))
        .await
        .expect("overwrite");
    assert_eq!(
        &store.get_bytes(&object).await.expect("get")[..],
        b"shorter"
    );
}

/// Checks that empty object round trips.
///
/// ```
/// use flyte_storage::{LocalStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().expect("temp dir");
/// let base = StorageUri::parse(&dir.path().display().to_string()).expect("valid");
/// let store = LocalStore::new();
/// conformance::empty_object_round_trips(&store, &base).await;
/// # }
/// ```
pub async fn empty_object_round_trips(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let object = uri(&join(base, "empty/nothing.pb"));
    store
        .put_bytes(&object, Bytes::new())
        .await
        .expect("put empty");
    assert!(store.exists(&object).await.expect("exists"));
    assert!(store.get_bytes(&object).await.expect("get").is_empty());

    let local = temp_dir();
    let downloaded = local.path().join("nothing.pb");
    assert_eq!(
        store
            .get_file(&object, &downloaded)
            .await
            .expect("get_file"),
        0
    );
    assert_eq!(std::fs::read(&downloaded).expect("read"), b"");

    let empty_file = local.path().join("empty-upload");
    std::fs::write(&empty_file, b"").expect("write");
    let uploaded = uri(&join(base, "empty/uploaded"));
    assert_eq!(
        store
            .put_file(&empty_file, &uploaded)
            .await
            .expect("put_file"),
        0
    );
    let listed = store.list(&uri(&join(base, "empty"))).await.expect("list");
    let sizes: Vec<_> = listed.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(sizes, [("nothing.pb", 0), ("uploaded", 0)]);
}

/// Checks that unicode and space names round trip.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::unicode_and_space_names_round_trip(&store, &base).await;
/// # }
/// ```
pub async fn unicode_and_space_names_round_trip(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let prefix = join(base, "names");
    let keys = [
        "a b.txt",
        "dir with space/ünïcødé ✓.pb",
        "日本語/ファイル.bin",
        "emoji 🚀/x",
    ];
    for (seed, key) in keys.iter().enumerate() {
        let object = uri(&join(&prefix, key));
        store
            .put_bytes(&object, Bytes::from(pattern(seed as u64, 10)))
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
        assert_eq!(
            store.get_bytes(&object).await.expect("get"),
            pattern(seed as u64, 10),
            "{key}"
        );
    }
    let listed: Vec<_> = store
        .list(&uri(&prefix))
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut expected: Vec<_> = keys.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

/// Bytes larger than a transfer chunk (8 MiB by default) are written whole, as an
/// offloaded literal or a large outputs.pb is.
///
/// ```no_run
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::bytes_over_a_chunk_round_trip(&store, &base).await;
/// # }
/// ```
pub async fn bytes_over_a_chunk_round_trip(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let contents = pattern(11, 20 * 1024 * 1024 + 7);
    let object = uri(&join(base, "big-bytes/o0_offloaded_metadata.pb"));
    store
        .put_bytes(&object, Bytes::from(contents.clone()))
        .await
        .expect("put_bytes over a chunk");
    let read = store.get_bytes(&object).await.expect("get_bytes");
    assert!(read == contents, "contents differ");
}

/// Checks that large file round trips.
///
/// ```no_run
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::large_file_round_trips(&store, &base).await;
/// # }
/// ```
pub async fn large_file_round_trips(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let local = temp_dir();
    let source = local.path().join("large.bin");
    let contents = pattern(7, 5 * 1024 * 1024 + 123);
    std::fs::write(&source, &contents).expect("write");
    let object = uri(&join(base, "large/large.bin"));
    assert_eq!(
        store.put_file(&source, &object).await.expect("put_file"),
        contents.len() as u64
    );
    let target = local.path().join("down/under/large.bin");
    assert_eq!(
        store.get_file(&object, &target).await.expect("get_file"),
        contents.len() as u64
    );
    assert!(
        std::fs::read(&target).expect("read") == contents,
        "contents differ"
    );
}

/// 100 MiB: many parts at any chunk size, so uploads go through multipart / block /
/// resumable uploads and downloads through ranged parallel reads.
///
/// ```no_run
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::hundred_mib_file_round_trips_through_multipart(&store, &base).await;
/// # }
/// ```
pub async fn hundred_mib_file_round_trips_through_multipart(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let local = temp_dir();
    let source = local.path().join("hundred.bin");
    let len = 100 * 1024 * 1024 + 7;
    let contents = pattern(100, len);
    std::fs::write(&source, &contents).expect("write");
    let object = uri(&join(base, "hundred/hundred MiB ü.bin"));
    assert_eq!(
        store.put_file(&source, &object).await.expect("put_file"),
        len as u64
    );
    let listed = store
        .list(&uri(&join(base, "hundred")))
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, len as u64);
    let target = local.path().join("down/hundred.bin");
    assert_eq!(
        store.get_file(&object, &target).await.expect("get_file"),
        len as u64
    );
    let downloaded = std::fs::read(&target).expect("read");
    assert_eq!(downloaded.len(), len);
    assert!(downloaded == contents, "contents differ");
}

/// A tree of `count` files spread over nested directories.
fn nested_tree(count: usize) -> BTreeMap<String, Vec<u8>> {
    (0..count)
        .map(|i| {
            let key = match i % 4 {
                0 => format!("top-{i}.pb"),
                1 => format!("d{}/file-{i}.pb", i % 7),
                2 => format!("d{}/e{}/file {i}.txt", i % 5, i % 3),
                _ => format!("deep/a/b/c/{i}"),
            };
            (key, pattern(i as u64, i % 300))
        })
        .collect()
}

/// Checks that nested directory goes up and comes down.
///
/// ```no_run
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::nested_directory_goes_up_and_comes_down(&store, &base).await;
/// # }
/// ```
pub async fn nested_directory_goes_up_and_comes_down(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let files = nested_tree(2000);
    let source = temp_dir();
    write_tree(source.path(), &files);
    let prefix = join(base, "tree");

    let up = store
        .put_dir(source.path(), &uri(&prefix), 16)
        .await
        .expect("put_dir");
    let total_bytes: u64 = files.values().map(|c| c.len() as u64).sum();
    assert_eq!(
        up,
        TransferSummary {
            files: files.len(),
            bytes: total_bytes
        }
    );

    let listed = store.list(&uri(&prefix)).await.expect("list");
    let keys: Vec<_> = listed.iter().map(|o| o.key.clone()).collect();
    assert_eq!(
        keys,
        files.keys().cloned().collect::<Vec<_>>(),
        "sorted keys"
    );
    for object in &listed {
        assert_eq!(
            object.size,
            files[&object.key].len() as u64,
            "{}",
            object.key
        );
        assert_eq!(object.uri.as_str(), join(&prefix, &object.key));
    }
    // Every store pages by 1,000 at most, so a directory download holds one page.
    let pages: Vec<usize> = store
        .list_pages(&uri(&prefix))
        .map_ok(|page| page.len())
        .try_collect()
        .await
        .expect("list pages");
    assert!(
        pages.len() >= 2 && pages.iter().all(|&len| len <= 1000),
        "pages of {pages:?}"
    );
    assert_eq!(pages.iter().sum::<usize>(), files.len());

    let target = temp_dir();
    let down = store
        .get_dir(&uri(&prefix), target.path(), 16)
        .await
        .expect("get_dir");
    assert_eq!(down, up);
    assert!(read_tree(target.path()) == files, "downloaded tree differs");

    // Downloading into a directory that already holds files replaces them.
    let again = store
        .get_dir(&uri(&format!("{prefix}/")), target.path(), 4)
        .await
        .expect("get_dir again");
    assert_eq!(again, up);
    assert!(read_tree(target.path()) == files, "downloaded tree differs");
}

/// Checks that listing ignores trailing slash and scopes to the prefix.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::listing_ignores_trailing_slash_and_scopes_to_the_prefix(&store, &base).await;
/// # }
/// ```
pub async fn listing_ignores_trailing_slash_and_scopes_to_the_prefix(
    store: &dyn Store,
    base: &StorageUri,
) {
    let base = base.as_str();
    let prefix = join(base, "scoped");
    for key in ["dir/a", "dir/sub/b", "dir-sibling/c", "dirfile", "other/d"] {
        store
            .put_bytes(&uri(&join(&prefix, key)), Bytes::from_static(b"x"))
            .await
            .expect("put");
    }
    let keys = |listed: Vec<crate::ObjectMeta>| -> Vec<String> {
        listed.into_iter().map(|o| o.key).collect()
    };
    let without_slash = keys(store.list(&uri(&join(&prefix, "dir"))).await.expect("list"));
    let with_slash = keys(
        store
            .list(&uri(&join(&prefix, "dir/")))
            .await
            .expect("list"),
    );
    assert_eq!(without_slash, ["a", "sub/b"]);
    assert_eq!(with_slash, without_slash);
    let sub = store
        .list(&uri(&join(&prefix, "dir/sub")))
        .await
        .expect("list");
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0].key, "b");
    assert_eq!(sub[0].uri.as_str(), join(&prefix, "dir/sub/b"));
    // An object is not a prefix.
    assert!(
        store
            .list(&uri(&join(&prefix, "dirfile")))
            .await
            .expect("list")
            .is_empty()
    );
}

/// Checks that missing prefix lists empty and downloads as not found.
///
/// ```
/// use flyte_storage::{LocalStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().expect("temp dir");
/// let base = StorageUri::parse(&dir.path().display().to_string()).expect("valid");
/// let store = LocalStore::new();
/// conformance::missing_prefix_lists_empty_and_downloads_as_not_found(&store, &base).await;
/// # }
/// ```
pub async fn missing_prefix_lists_empty_and_downloads_as_not_found(
    store: &dyn Store,
    base: &StorageUri,
) {
    let base = base.as_str();
    let missing = join(base, "no-such-prefix");
    assert!(store.list(&uri(&missing)).await.expect("list").is_empty());
    let target = temp_dir();
    match store.get_dir(&uri(&missing), target.path(), 4).await {
        Err(StorageError::NotFound { uri }) => assert_eq!(uri, missing),
        other => panic!("get_dir of a missing prefix: {other:?}"),
    }
}

/// Checks that exists is true only for objects.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::exists_is_true_only_for_objects(&store, &base).await;
/// # }
/// ```
pub async fn exists_is_true_only_for_objects(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let object = join(base, "exists/dir/object");
    store
        .put_bytes(&uri(&object), Bytes::from_static(b"xyz"))
        .await
        .expect("put");
    assert!(store.exists(&uri(&object)).await.expect("exists"));
    assert_eq!(
        store.stat(&uri(&object)).await.expect("stat"),
        Some(3),
        "stat gives the size"
    );
    assert_eq!(
        store
            .stat(&uri(&join(base, "exists/dir")))
            .await
            .expect("stat"),
        None
    );
    assert!(
        !store
            .exists(&uri(&join(base, "exists/missing")))
            .await
            .expect("exists")
    );
    assert!(
        !store
            .exists(&uri(&join(base, "exists/dir")))
            .await
            .expect("exists"),
        "a prefix is not an object"
    );
    assert!(
        !store
            .exists(&uri(&join(&object, "below-an-object")))
            .await
            .expect("exists")
    );
}

/// Checks that missing object is not found naming the uri.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::missing_object_is_not_found_naming_the_uri(&store, &base).await;
/// # }
/// ```
pub async fn missing_object_is_not_found_naming_the_uri(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let missing = join(base, "missing/inputs.pb");
    let check = |result: Result<(), StorageError>, operation: &str| match result {
        Err(error @ StorageError::NotFound { .. }) => {
            assert_eq!(error.uri(), missing, "{operation}");
            assert!(error.to_string().contains(&missing), "{operation}: {error}");
        }
        other => panic!("{operation} of a missing object: {other:?}"),
    };
    check(store.get_bytes(&uri(&missing)).await.map(drop), "get_bytes");
    let target = temp_dir();
    let destination = target.path().join("inputs.pb");
    check(
        store.get_file(&uri(&missing), &destination).await.map(drop),
        "get_file",
    );
    assert!(!destination.exists(), "a failed download leaves no file");
    assert_eq!(
        std::fs::read_dir(target.path()).expect("read dir").count(),
        0,
        "a failed download leaves nothing behind"
    );
}

/// Checks that delete removes and tolerates missing.
///
/// ```
/// use flyte_storage::{LocalStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().expect("temp dir");
/// let base = StorageUri::parse(&dir.path().display().to_string()).expect("valid");
/// let store = LocalStore::new();
/// conformance::delete_removes_and_tolerates_missing(&store, &base).await;
/// # }
/// ```
pub async fn delete_removes_and_tolerates_missing(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let object = uri(&join(base, "delete/object"));
    store
        .put_bytes(&object, Bytes::from_static(b"x"))
        .await
        .expect("put");
    store.delete(&object).await.expect("delete");
    assert!(!store.exists(&object).await.expect("exists"));
    store
        .delete(&object)
        .await
        .expect("deleting again succeeds");
}

/// Checks that uploading a file as a directory is refused.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::uploading_a_file_as_a_directory_is_refused(&store, &base).await;
/// # }
/// ```
pub async fn uploading_a_file_as_a_directory_is_refused(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let local = temp_dir();
    let file = local.path().join("just-a-file");
    std::fs::write(&file, b"x").expect("write");
    match store
        .put_dir(&file, &uri(&join(base, "not-a-dir")), 2)
        .await
    {
        Err(StorageError::NotADirectory { uri }) => assert_eq!(uri, file.display().to_string()),
        other => panic!("put_dir of a file: {other:?}"),
    }
    let missing = local.path().join("missing-dir");
    match store
        .put_dir(&missing, &uri(&join(base, "not-a-dir")), 2)
        .await
    {
        Err(StorageError::NotFound { uri }) => assert_eq!(uri, missing.display().to_string()),
        other => panic!("put_dir of a missing directory: {other:?}"),
    }
}

/// For object stores: a store whose credentials the server refuses gets
/// PermissionDenied naming the URI, reading and writing alike.
///
/// ```no_run
/// use flyte_storage::{S3Config, Storage, StorageConfig, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// // A MinIO that refuses these keys.
/// let refused = Storage::new(StorageConfig {
///     s3: S3Config {
///         endpoint: Some("http://localhost:9000".into()),
///         access_key_id: Some("wrong".into()),
///         secret_access_key: Some("wrong-secret".into()),
///         ..S3Config::default()
///     },
///     ..StorageConfig::default()
/// });
/// let base = StorageUri::parse("s3://bucket/conformance")?;
/// conformance::wrong_credentials_are_permission_denied(refused.store_for(&base)?, &base).await;
/// # Ok(())
/// # }
/// ```
pub async fn wrong_credentials_are_permission_denied(refused: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let object = join(base, "denied/outputs.pb");
    let check = |result: Result<(), StorageError>, target: &str, operation: &str| match result {
        Err(error @ StorageError::PermissionDenied { .. }) => {
            assert_eq!(error.uri(), target, "{operation}");
            assert!(error.to_string().contains(target), "{operation}: {error}");
        }
        other => panic!("{operation} with wrong credentials: {other:?}"),
    };
    check(
        refused
            .put_bytes(&uri(&object), Bytes::from_static(b"x"))
            .await,
        &object,
        "put_bytes",
    );
    check(
        refused.get_bytes(&uri(&object)).await.map(drop),
        &object,
        "get_bytes",
    );
    check(refused.list(&uri(base)).await.map(drop), base, "list");
}

/// What a store has above its objects, which decides what a missing bucket means; see
/// [`a_missing_bucket_is_never_absent`].
///
/// ```
/// use flyte_storage::conformance::Namespace;
/// // An object store's URI mem://missing/dir/a.pb names the bucket "missing":
/// let object_store = Namespace::Bucket("missing".into());
/// // A local path /tmp/missing/dir/a.pb names only directories:
/// let file_system = Namespace::Directories;
/// ```
pub enum Namespace {
    /// Object stores: a bucket or container, which must exist. Every operation on a URI
    /// in a missing one is `NoSuchBucket` naming the URI and the bucket: a missing
    /// bucket is never "absent", so a mistyped bucket cannot pass for an empty one.
    Bucket(String),
    /// Local files: directories, which writes create as needed. A path under a missing
    /// directory is absent like any other missing object.
    Directories,
}

/// How one operation ended, comparable across stores.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Absent,
    NotFound { uri: String },
    NoSuchBucket { uri: String, bucket: String },
}

fn outcome<T>(result: Result<T, StorageError>, absent: impl FnOnce(&T) -> bool) -> Outcome {
    match result {
        Ok(value) if absent(&value) => Outcome::Absent,
        Ok(_) => Outcome::Done,
        Err(error @ StorageError::NoSuchBucket { .. }) => {
            let message = error.to_string();
            let StorageError::NoSuchBucket { uri, bucket } = error else {
                unreachable!("matched above")
            };
            assert!(message.contains(&uri), "{message}");
            assert!(message.contains(&bucket), "{message}");
            Outcome::NoSuchBucket { uri, bucket }
        }
        Err(error @ StorageError::NotFound { .. }) => {
            assert!(error.to_string().contains(error.uri()), "{error}");
            Outcome::NotFound {
                uri: error.uri().to_owned(),
            }
        }
        Err(other) => panic!("unexpected error: {other:?}"),
    }
}

/// Every operation on `object` (a URI of the form `<bucket>/<dir>/<name>`) when its
/// bucket does not exist: what `namespace` says.
///
/// ```
/// use flyte_storage::conformance::{self, Namespace};
/// use flyte_storage::{LocalStore, MemoryStore, StorageUri};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new().with_only_buckets(["bucket"]);
/// let object = StorageUri::parse("mem://missing/dir/a.pb").expect("valid");
/// let bucket = Namespace::Bucket("missing".into());
/// conformance::a_missing_bucket_is_never_absent(&store, &object, bucket).await;
///
/// let dir = tempfile::tempdir().expect("temp dir");
/// let path = dir.path().join("missing/dir/a.pb").display().to_string();
/// let object = StorageUri::parse(&path).expect("valid");
/// let directories = Namespace::Directories;
/// conformance::a_missing_bucket_is_never_absent(&LocalStore::new(), &object, directories).await;
/// # }
/// ```
pub async fn a_missing_bucket_is_never_absent(
    store: &dyn Store,
    object: &StorageUri,
    namespace: Namespace,
) {
    let object = object.as_str();
    let (dir, _) = object.rsplit_once('/').expect("a URI with a directory");
    let dir_slash = format!("{dir}/");
    let local = temp_dir();
    let source = local.path().join("source");
    std::fs::write(&source, b"x").expect("write");
    let downloaded = local.path().join("downloaded");

    let outcomes = [
        (
            "stat",
            object,
            outcome(store.stat(&uri(object)).await, Option::is_none),
        ),
        (
            "exists",
            object,
            outcome(store.exists(&uri(object)).await, |exists| !exists),
        ),
        (
            "stat of a prefix",
            &dir_slash,
            outcome(store.stat(&uri(&dir_slash)).await, Option::is_none),
        ),
        (
            "list",
            dir,
            outcome(store.list(&uri(dir)).await, Vec::is_empty),
        ),
        (
            "get_bytes",
            object,
            outcome(store.get_bytes(&uri(object)).await, |_| false),
        ),
        (
            "get_file",
            object,
            outcome(store.get_file(&uri(object), &downloaded).await, |_| false),
        ),
        (
            "get_dir",
            dir,
            outcome(
                store.get_dir(&uri(dir), &local.path().join("dir"), 2).await,
                |_| false,
            ),
        ),
        (
            "delete",
            object,
            outcome(store.delete(&uri(object)).await, |_| false),
        ),
        // Writes last: on local files they create the directories.
        (
            "put_bytes",
            object,
            outcome(
                store
                    .put_bytes(&uri(object), Bytes::from_static(b"x"))
                    .await,
                |_| false,
            ),
        ),
        (
            "put_file",
            object,
            outcome(store.put_file(&source, &uri(object)).await, |_| false),
        ),
    ];
    assert!(!downloaded.exists(), "a failed download leaves no file");
    for (operation, target, actual) in outcomes {
        let expected = match &namespace {
            Namespace::Bucket(bucket) => Outcome::NoSuchBucket {
                uri: target.to_owned(),
                bucket: bucket.clone(),
            },
            Namespace::Directories => match operation {
                "stat" | "exists" | "stat of a prefix" | "list" => Outcome::Absent,
                "get_bytes" | "get_file" | "get_dir" => Outcome::NotFound {
                    uri: target.to_owned(),
                },
                _ => Outcome::Done,
            },
        };
        assert_eq!(actual, expected, "{operation} of {target}");
    }
}

/// A FlyteDirectory holding links, uploaded as flytekit (fsspec's recursive `put`)
/// uploads it: links to files become the file's contents under the link's name; links
/// to directories (inside the tree, out of it, or back up it) upload nothing.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::directory_links_are_uploaded_as_flytekit_uploads_them(&store, &base).await;
/// # }
/// ```
#[cfg(unix)]
pub async fn directory_links_are_uploaded_as_flytekit_uploads_them(
    store: &dyn Store,
    base: &StorageUri,
) {
    let base = base.as_str();
    use std::os::unix::fs::symlink;
    let outside = temp_dir();
    std::fs::write(outside.path().join("host-secret"), b"not yours").expect("write");
    let source = temp_dir();
    let tree = source.path();
    write_tree(
        tree,
        &BTreeMap::from([
            ("data/f.txt".to_owned(), b"f".to_vec()),
            ("step-2/model.bin".to_owned(), b"model".to_vec()),
        ]),
    );
    // Listed before the real directories (z... sorts after, a... before): whichever
    // name a walk meets first must not decide what is uploaded.
    symlink("data", tree.join("zlink")).expect("symlink");
    symlink("step-2", tree.join("latest")).expect("symlink");
    symlink(outside.path(), tree.join("etc-outside")).expect("symlink");
    symlink("..", tree.join("data/up")).expect("symlink");
    symlink(tree, tree.join("data/loop")).expect("symlink");
    symlink("data/f.txt", tree.join("f-link.txt")).expect("symlink");
    symlink(
        outside.path().join("host-secret"),
        tree.join("file-outside"),
    )
    .expect("symlink");

    let prefix = join(base, "links");
    let up = store
        .put_dir(tree, &uri(&prefix), 4)
        .await
        .expect("put_dir");
    let listed: BTreeMap<_, _> = store
        .list(&uri(&prefix))
        .await
        .expect("list")
        .into_iter()
        .map(|object| (object.key, object.size))
        .collect();
    assert_eq!(
        listed,
        BTreeMap::from([
            ("data/f.txt".to_owned(), 1),
            ("f-link.txt".to_owned(), 1),
            ("file-outside".to_owned(), 9),
            ("step-2/model.bin".to_owned(), 5),
        ]),
        "what a directory with links uploads"
    );
    assert_eq!(
        up,
        TransferSummary {
            files: 4,
            bytes: 16
        }
    );
}

/// A link to nothing fails a directory upload with an error naming the link and its
/// target (flytekit fails with FileNotFoundError).
///
/// ```
/// use flyte_storage::{LocalStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().expect("temp dir");
/// let base = StorageUri::parse(&dir.path().display().to_string()).expect("valid");
/// let store = LocalStore::new();
/// conformance::a_link_to_nothing_fails_the_upload_naming_it(&store, &base).await;
/// # }
/// ```
#[cfg(unix)]
pub async fn a_link_to_nothing_fails_the_upload_naming_it(store: &dyn Store, base: &StorageUri) {
    let base = base.as_str();
    let source = temp_dir();
    std::fs::write(source.path().join("real"), b"r").expect("write");
    std::os::unix::fs::symlink("gone.txt", source.path().join("dangling")).expect("symlink");
    let error = store
        .put_dir(source.path(), &uri(&join(base, "dangling")), 4)
        .await
        .expect_err("a link to nothing");
    assert!(
        matches!(&error, StorageError::DanglingLink { target, .. } if target == "gone.txt"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&source.path().join("dangling").display().to_string()),
        "{message}"
    );
}

/// Keys with empty or `.` segments, as other tools write them, download inside the
/// target directory at the path flytekit gives them. Object stores only.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, conformance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let base = StorageUri::parse("mem://bucket/conformance").expect("valid");
/// conformance::odd_keys_download_inside_the_directory_like_flytekit(&store, &base).await;
/// # }
/// ```
pub async fn odd_keys_download_inside_the_directory_like_flytekit(
    store: &dyn Store,
    base: &StorageUri,
) {
    let base = base.as_str();
    let prefix = join(base, "odd");
    for (key, contents) in [
        ("a//double", "d"),
        ("/leading", "l"),
        ("./dotted", "o"),
        ("plain", "p"),
    ] {
        store
            .put_bytes(&uri(&format!("{prefix}/{key}")), Bytes::from(contents))
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }
    let listed: Vec<_> = store
        .list(&uri(&prefix))
        .await
        .expect("list")
        .into_iter()
        .map(|object| object.key)
        .collect();
    // Every store keeps these as written (Azure's URL handling drops `./`, others keep
    // it), so the download below has odd keys to place.
    for kept in ["a//double", "/leading"] {
        assert!(
            listed.iter().any(|key| key == kept),
            "{kept:?} not kept: {listed:?}"
        );
    }
    let target = temp_dir();
    let down = store
        .get_dir(&uri(&prefix), target.path(), 4)
        .await
        .expect("get_dir of odd keys");
    assert_eq!(down.files, 4);
    let tree: BTreeMap<_, _> = read_tree(target.path())
        .into_iter()
        .map(|(key, contents)| (key, String::from_utf8(contents).expect("UTF-8")))
        .collect();
    assert_eq!(
        tree,
        BTreeMap::from([
            ("a/double".to_owned(), "d".to_owned()),
            ("dotted".to_owned(), "o".to_owned()),
            ("leading".to_owned(), "l".to_owned()),
            ("plain".to_owned(), "p".to_owned()),
        ])
    );
}
