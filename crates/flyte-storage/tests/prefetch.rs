//! Prefetch against a real S3 server (moto, started by `cargo xtask test`): accesses
//! served from the prefetched copy, or downloaded as usual whenever the copy cannot be
//! trusted, and nothing left behind.
#![cfg(feature = "s3")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flyte_storage::{PrefetchConfig, Storage, StorageConfig, StorageError, join};
use flyte_test_support::emulators::Emulator;

/// Storage on moto with `prefetch`, and a fresh base URI.
async fn storage_with(prefetch: PrefetchConfig) -> (Storage, String) {
    let emulator = Emulator::S3;
    emulator.prepare().await;
    let storage = Storage::new(StorageConfig {
        prefetch,
        // Tests may run on a nearly full disk; the free-space bound has its own test.
        ..emulator.config()
    });
    (storage, emulator.unique_prefix())
}

fn unbounded() -> PrefetchConfig {
    PrefetchConfig {
        min_free_percent: 0,
        ..PrefetchConfig::default()
    }
}

/// A fresh scratch directory and the prefetch directory under it.
fn scratch_with_prefetch_dir() -> (tempfile::TempDir, PathBuf) {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let into = scratch.path().join("prefetch");
    (scratch, into)
}

/// Writes `bytes` as the object `uri`.
async fn put(storage: &Storage, uri: &str, bytes: impl Into<bytes::Bytes>) {
    storage
        .put_bytes(uri, bytes)
        .await
        .expect("writing a test object");
}

/// Waits until `path` exists: the download that writes it has completed it (downloads
/// write a temporary name and rename it into place). A guard against hanging, not a
/// bound on speed.
async fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Where the first prefetch of a storage puts a single object under `into`.
fn first_file(into: &Path) -> PathBuf {
    into.join("0/file")
}

/// Where the first prefetch of a storage puts a directory under `into`.
fn first_dir(into: &Path) -> PathBuf {
    into.join("0/dir")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn a_prefetched_file_is_served_from_its_copy_and_leaves_nothing_behind() {
    let (storage, base) = storage_with(unbounded()).await;
    let uri = join(&base, "input.bin");
    put(&storage, &uri, b"prefetched bytes".to_vec()).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&uri, &into));
    wait_for(&first_file(&into)).await;
    // Same size, other bytes: only the copy still holds the first ones.
    put(&storage, &uri, b"rewritten bytes!".to_vec()).await;

    let to = scratch.path().join("task/input.bin");
    assert_eq!(storage.get_file(&uri, &to).await.expect("test step"), 16);
    assert_eq!(std::fs::read(&to).expect("test step"), b"prefetched bytes");
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn an_access_while_the_prefetch_runs_gets_the_whole_object() {
    let (storage, base) = storage_with(unbounded()).await;
    let uri = join(&base, "big.bin");
    // Several chunks, so the download is ranged and takes a while.
    let bytes: Vec<u8> = (0..(20 << 20)).map(|i: u32| (i % 251) as u8).collect();
    put(&storage, &uri, bytes.clone()).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&uri, &into));

    let to = scratch.path().join("big.bin");
    assert_eq!(
        storage.get_file(&uri, &to).await.expect("test step"),
        bytes.len() as u64
    );
    assert!(
        std::fs::read(&to).expect("test step") == bytes,
        "the bytes differ"
    );
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn an_object_deleted_after_its_prefetch_is_not_found_as_a_plain_download_says() {
    let (storage, base) = storage_with(unbounded()).await;
    let uri = join(&base, "vanishing.bin");
    put(&storage, &uri, b"soon gone".to_vec()).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&uri, &into));
    wait_for(&first_file(&into)).await;
    storage.delete(&uri).await.expect("test step");

    let error = storage
        .get_file(&uri, &scratch.path().join("a"))
        .await
        .expect_err("the object is gone");
    assert!(matches!(error, StorageError::NotFound { .. }), "{error:?}");
    let plain = Storage::new(Emulator::S3.config())
        .get_file(&uri, &scratch.path().join("b"))
        .await
        .expect_err("the object is gone");
    assert_eq!(error.to_string(), plain.to_string());
    assert!(!scratch.path().join("a").exists());
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn an_object_rewritten_with_another_size_is_downloaded_afresh() {
    let (storage, base) = storage_with(unbounded()).await;
    let uri = join(&base, "rewritten.bin");
    put(&storage, &uri, b"old".to_vec()).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&uri, &into));
    wait_for(&first_file(&into)).await;
    put(&storage, &uri, b"new and longer".to_vec()).await;

    let to = scratch.path().join("rewritten.bin");
    assert_eq!(storage.get_file(&uri, &to).await.expect("test step"), 14);
    assert_eq!(std::fs::read(&to).expect("test step"), b"new and longer");
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_prefetch_into_an_unwritable_directory_fails_quietly_and_the_access_downloads() {
    let (storage, base) = storage_with(unbounded()).await;
    let uri = join(&base, "input.bin");
    put(&storage, &uri, b"downloaded anyway".to_vec()).await;
    let scratch = tempfile::tempdir().expect("test step");
    // A directory under a regular file can never be created, even by root.
    let blocker = scratch.path().join("not-a-directory");
    std::fs::write(&blocker, b"").expect("test step");
    assert!(storage.prefetch(&uri, &blocker.join("prefetch")));

    let to = scratch.path().join("input.bin");
    assert_eq!(storage.get_file(&uri, &to).await.expect("test step"), 17);
    assert_eq!(std::fs::read(&to).expect("test step"), b"downloaded anyway");
}

#[tokio::test]
async fn a_prefetch_over_its_budget_is_not_kept_and_the_access_downloads() {
    let (storage, base) = storage_with(PrefetchConfig {
        byte_budget: 4,
        ..unbounded()
    })
    .await;
    let uri = join(&base, "input.bin");
    put(&storage, &uri, b"more than four bytes".to_vec()).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&uri, &into));

    let to = scratch.path().join("input.bin");
    assert_eq!(storage.get_file(&uri, &to).await.expect("test step"), 20);
    assert_eq!(
        std::fs::read(&to).expect("test step"),
        b"more than four bytes"
    );
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_prefetch_that_would_fill_the_disk_is_not_kept_and_the_access_downloads() {
    let (storage, base) = storage_with(PrefetchConfig {
        // No file system is ever this free.
        min_free_percent: 100,
        ..PrefetchConfig::default()
    })
    .await;
    let uri = join(&base, "input.bin");
    put(&storage, &uri, b"bytes".to_vec()).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&uri, &into));

    let to = scratch.path().join("input.bin");
    assert_eq!(storage.get_file(&uri, &to).await.expect("test step"), 5);
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn prefetch_turned_off_starts_nothing() {
    let (storage, base) = storage_with(PrefetchConfig {
        enabled: false,
        ..unbounded()
    })
    .await;
    let uri = join(&base, "input.bin");
    put(&storage, &uri, b"bytes".to_vec()).await;
    let scratch = tempfile::tempdir().expect("test step");
    assert!(!storage.prefetch(&uri, &scratch.path().join("prefetch")));
    assert!(!scratch.path().join("prefetch").exists());
}

#[tokio::test]
async fn cancelling_deletes_every_copy_not_taken_and_later_accesses_download() {
    let (storage, base) = storage_with(unbounded()).await;
    let small = join(&base, "small.bin");
    let big = join(&base, "big.bin");
    put(&storage, &small, b"small".to_vec()).await;
    put(&storage, &big, vec![7u8; 20 << 20]).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&small, &into));
    assert!(storage.prefetch(&big, &into));
    wait_for(&first_file(&into)).await;

    assert_eq!(storage.cancel_prefetches().await, 2);
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
    let to = scratch.path().join("small.bin");
    assert_eq!(storage.get_file(&small, &to).await.expect("test step"), 5);
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_second_access_downloads_again_after_the_first_copy_was_deleted() {
    let (storage, base) = storage_with(unbounded()).await;
    let uri = join(&base, "input.bin");
    put(&storage, &uri, b"twice".to_vec()).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&uri, &into));
    let to = scratch.path().join("input.bin");
    storage.get_file(&uri, &to).await.expect("test step");
    std::fs::remove_file(&to).expect("test step");

    assert_eq!(storage.get_file(&uri, &to).await.expect("test step"), 5);
    assert_eq!(std::fs::read(&to).expect("test step"), b"twice");
}

#[tokio::test]
async fn a_file_under_a_prefetched_directory_is_served_from_the_directory_copy() {
    let (storage, base) = storage_with(unbounded()).await;
    let dir = join(&base, "dataset");
    for (key, body) in [
        ("part-0.parquet", "zero"),
        ("nested/part-1.parquet", "one!"),
    ] {
        storage
            .put_bytes(&join(&dir, key), body.as_bytes().to_vec())
            .await
            .expect("test step");
    }
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&dir, &into));
    wait_for(&first_dir(&into).join("part-0.parquet")).await;
    wait_for(&first_dir(&into).join("nested/part-1.parquet")).await;
    // Same size, other bytes: only the copy still holds "one!".
    let nested = join(&dir, "nested/part-1.parquet");
    put(&storage, &nested, b"ONE?".to_vec()).await;

    let to = scratch.path().join("part-1.parquet");
    assert_eq!(storage.get_file(&nested, &to).await.expect("test step"), 4);
    assert_eq!(std::fs::read(&to).expect("test step"), b"one!");
    // The copy is no longer whole: the directory itself is downloaded.
    let whole = scratch.path().join("whole");
    let summary = storage.get_dir(&dir, &whole).await.expect("test step");
    assert_eq!(summary.files, 2);
    assert_eq!(
        std::fs::read(whole.join("nested/part-1.parquet")).expect("test step"),
        b"ONE?"
    );
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_prefetched_directory_is_served_whole_while_its_listing_is_unchanged() {
    let (storage, base) = storage_with(unbounded()).await;
    let dir = join(&base, "directory");
    for key in ["a.txt", "b/c.txt"] {
        storage
            .put_bytes(&join(&dir, key), key.as_bytes().to_vec())
            .await
            .expect("test step");
    }
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&dir, &into));
    wait_for(&first_dir(&into).join("a.txt")).await;
    wait_for(&first_dir(&into).join("b/c.txt")).await;
    put(&storage, &join(&dir, "a.txt"), b"A.TXT".to_vec()).await;

    let to = scratch.path().join("task-dir");
    let summary = storage
        .get_dir(&format!("{dir}/"), &to)
        .await
        .expect("test step");
    assert_eq!((summary.files, summary.bytes), (2, 12));
    assert_eq!(
        std::fs::read(to.join("a.txt")).expect("test step"),
        b"a.txt"
    );
    assert_eq!(
        std::fs::read(to.join("b/c.txt")).expect("test step"),
        b"b/c.txt"
    );
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_prefetched_directory_whose_listing_changed_is_downloaded_afresh() {
    let (storage, base) = storage_with(unbounded()).await;
    let dir = join(&base, "growing");
    put(&storage, &join(&dir, "a.txt"), b"a".to_vec()).await;
    let (scratch, into) = scratch_with_prefetch_dir();
    assert!(storage.prefetch(&dir, &into));
    wait_for(&first_dir(&into).join("a.txt")).await;
    put(&storage, &join(&dir, "b.txt"), b"b".to_vec()).await;

    let to = scratch.path().join("task-dir");
    let summary = storage.get_dir(&dir, &to).await.expect("test step");
    assert_eq!(summary.files, 2);
    assert_eq!(std::fs::read(to.join("b.txt")).expect("test step"), b"b");
    assert_eq!(entries(&into), Vec::<PathBuf>::new());
}
