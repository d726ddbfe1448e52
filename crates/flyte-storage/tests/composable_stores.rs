//! Stores of one's own: the conformance suite against [`MemoryStore`] and
//! [`PrefixStore`] (over memory and over local files), and the [`Storage`] facade
//! routing URIs to registered stores by their longest prefix.

use std::sync::Arc;

use bytes::Bytes;
use flyte_storage::{
    LocalStore, MemoryStore, PrefixStore, Storage, StorageError, StorageUri, Store, StoreExt,
    conformance,
};

fn uri(text: &str) -> StorageUri {
    StorageUri::parse(text).expect("valid test URI")
}

macro_rules! conformance_tests {
    ($module:ident, $store:expr, $base:expr; $($check:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    #[allow(unused_variables, reason = "only the local store's base uses it")]
                    let dir = tempfile::tempdir().expect("temp dir");
                    let (store, base): (Arc<dyn Store>, String) = ($store(&dir), $base(&dir));
                    conformance::$check(store.as_ref(), &uri(&base)).await;
                }
            )*
        }
    };
}

fn memory(_: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

fn prefixed_memory(_: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(PrefixStore::new(Arc::new(MemoryStore::new()), "tenant/a"))
}

fn prefixed_local(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(PrefixStore::new(
        Arc::new(LocalStore::new()),
        dir.path().display().to_string(),
    ))
}

fn bucket_base(_: &tempfile::TempDir) -> String {
    "mem://bucket/base".to_owned()
}

/// Under the prefixed local store, `/base` is `<temp dir>/base`.
fn rooted_base(_: &tempfile::TempDir) -> String {
    "/base".to_owned()
}

conformance_tests!(memory_store, memory, bucket_base;
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
    odd_keys_download_inside_the_directory_like_flytekit,
);

conformance_tests!(prefix_store_over_memory, prefixed_memory, bucket_base;
    bytes_round_trip_and_overwrite,
    empty_object_round_trips,
    unicode_and_space_names_round_trip,
    large_file_round_trips,
    nested_directory_goes_up_and_comes_down,
    listing_ignores_trailing_slash_and_scopes_to_the_prefix,
    missing_prefix_lists_empty_and_downloads_as_not_found,
    exists_is_true_only_for_objects,
    missing_object_is_not_found_naming_the_uri,
    delete_removes_and_tolerates_missing,
    uploading_a_file_as_a_directory_is_refused,
    odd_keys_download_inside_the_directory_like_flytekit,
);

conformance_tests!(prefix_store_over_local_files, prefixed_local, rooted_base;
    bytes_round_trip_and_overwrite,
    empty_object_round_trips,
    unicode_and_space_names_round_trip,
    nested_directory_goes_up_and_comes_down,
    listing_ignores_trailing_slash_and_scopes_to_the_prefix,
    missing_prefix_lists_empty_and_downloads_as_not_found,
    exists_is_true_only_for_objects,
    missing_object_is_not_found_naming_the_uri,
    delete_removes_and_tolerates_missing,
    uploading_a_file_as_a_directory_is_refused,
);

#[tokio::test]
async fn a_memory_store_with_named_buckets_never_treats_a_missing_one_as_absent() {
    let store = MemoryStore::new().with_only_buckets(["bucket"]);
    conformance::a_missing_bucket_is_never_absent(
        &store,
        &uri("mem://no-such-bucket/x/inputs.pb"),
        conformance::Namespace::Bucket("no-such-bucket".to_owned()),
    )
    .await;
}

#[tokio::test]
async fn the_whole_suite_passes_on_memory_through_run() {
    conformance::run(&MemoryStore::new(), &uri("mem://bucket/run/")).await;
}

#[tokio::test]
async fn a_prefix_store_keeps_its_objects_under_the_prefix_and_lists_them_as_named() {
    let memory = Arc::new(MemoryStore::new());
    let tenant = PrefixStore::new(memory.clone(), "/tenant/a/");
    assert_eq!(tenant.prefix(), "/tenant/a");
    tenant
        .put_bytes(&uri("s3://b/dir/x.pb"), Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert_eq!(
        memory
            .stat(&uri("s3://b/tenant/a/dir/x.pb"))
            .await
            .expect("stat"),
        Some(1),
        "written under the prefix"
    );
    assert_eq!(
        memory.stat(&uri("s3://b/dir/x.pb")).await.expect("stat"),
        None
    );
    let listed = tenant.list(&uri("s3://b/dir")).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "x.pb");
    assert_eq!(
        listed[0].uri.as_str(),
        "s3://b/dir/x.pb",
        "the caller's URI"
    );
}

#[tokio::test]
async fn the_longest_registered_prefix_wins_and_the_rest_keeps_its_built_in_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wide = Arc::new(MemoryStore::new());
    let narrow = Arc::new(MemoryStore::new());
    let storage = Storage::default()
        .with_store("MEM://", wide.clone())
        .with_store("mem://bucket/special/", narrow.clone());
    storage
        .put_bytes("mem://bucket/special/a", &b"narrow"[..])
        .await
        .expect("put");
    storage
        .put_bytes("Mem://bucket/other/a", &b"wide"[..])
        .await
        .expect("put");
    assert_eq!(
        narrow
            .stat(&uri("mem://bucket/special/a"))
            .await
            .expect("stat"),
        Some(6)
    );
    assert_eq!(
        wide.stat(&uri("mem://bucket/special/a"))
            .await
            .expect("stat"),
        None
    );
    assert_eq!(
        wide.stat(&uri("mem://bucket/other/a")).await.expect("stat"),
        Some(4),
        "schemes compare case-insensitively"
    );
    // Local files still go to the local store.
    let local = format!("{}/x.pb", dir.path().display());
    storage.put_bytes(&local, &b"local"[..]).await.expect("put");
    assert_eq!(std::fs::read(&local).expect("read"), b"local");
}

#[tokio::test]
async fn a_registered_store_can_take_over_part_of_a_built_in_scheme() {
    let memory = Arc::new(MemoryStore::new());
    let storage = Storage::default().with_store("s3://test-bucket/", memory.clone());
    storage
        .put_bytes("s3://test-bucket/outputs.pb", &b"\x0a\x00"[..])
        .await
        .expect("served from memory, no S3 client needed");
    assert_eq!(
        memory
            .stat(&uri("s3://test-bucket/outputs.pb"))
            .await
            .expect("stat"),
        Some(2)
    );
}

#[tokio::test]
async fn registering_a_prefix_again_replaces_its_store_and_upload_options_keep_the_registry() {
    let first = Arc::new(MemoryStore::new());
    let second = Arc::new(MemoryStore::new());
    let storage = Storage::default()
        .with_store("mem://", first.clone())
        .with_store("mem://", second.clone())
        .with_upload_options(Default::default());
    storage
        .put_bytes("mem://b/k", &b"x"[..])
        .await
        .expect("put");
    assert_eq!(first.stat(&uri("mem://b/k")).await.expect("stat"), None);
    assert_eq!(second.stat(&uri("mem://b/k")).await.expect("stat"), Some(1));
}

#[tokio::test]
async fn a_scheme_no_store_serves_is_an_error_naming_the_uri_and_what_to_do() {
    let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
    let error = storage
        .get_bytes("vault://box/inputs.pb")
        .await
        .expect_err("nobody serves vault://");
    let StorageError::UnsupportedScheme { uri, scheme } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        (uri.as_str(), scheme.as_str()),
        ("vault://box/inputs.pb", "vault")
    );
    let message = error.to_string();
    assert!(message.contains("vault://box/inputs.pb"), "{message}");
    assert!(message.contains("Storage::with_store"), "{message}");
}

#[tokio::test]
async fn directories_go_up_and_come_down_through_a_registered_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::write(tree.join("a.txt"), b"a").expect("write");
    std::fs::write(tree.join("sub/b.txt"), b"bb").expect("write");
    let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
    let up = storage
        .put_dir(&tree, "mem://b/tree")
        .await
        .expect("put_dir");
    assert_eq!((up.files, up.bytes), (2, 3));
    let down = dir.path().join("down");
    let summary = storage
        .get_dir("mem://b/tree/", &down)
        .await
        .expect("get_dir");
    assert_eq!((summary.files, summary.bytes), (2, 3));
    assert_eq!(std::fs::read(down.join("sub/b.txt")).expect("read"), b"bb");
    let keys: Vec<String> = storage
        .list("mem://b/tree")
        .await
        .expect("list")
        .into_iter()
        .map(|object| object.key)
        .collect();
    assert_eq!(keys, ["a.txt", "sub/b.txt"]);
}
