//! Cancelling prefetches that have not started yet starts none of them: a prefetch
//! that started during the cancel would create its copy's directory with a blocking
//! call, which can land after the cancel deleted it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use flyte_storage::{MemoryStore, ObjectMeta, Result, Storage, StorageConfig, StorageUri, Store};
use futures_util::stream::BoxStream;

/// A `MemoryStore` that counts the requests made of it.
#[derive(Debug, Default)]
struct Counted {
    inner: MemoryStore,
    requests: AtomicUsize,
}

impl Counted {
    fn count(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for Counted {
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64> {
        self.count();
        self.inner.get_file(from, to).await
    }
    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64> {
        self.inner.put_file(from, to).await
    }
    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
        self.count();
        self.inner.get_bytes(from).await
    }
    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
        self.inner.put_bytes(to, bytes).await
    }
    fn list_pages<'a>(&'a self, prefix: &'a StorageUri) -> BoxStream<'a, Result<Vec<ObjectMeta>>> {
        self.count();
        self.inner.list_pages(prefix)
    }
    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>> {
        self.count();
        self.inner.stat(uri).await
    }
    async fn delete(&self, uri: &StorageUri) -> Result<()> {
        self.inner.delete(uri).await
    }
}

#[tokio::test(flavor = "current_thread")]
async fn cancelling_prefetches_not_yet_started_starts_none_and_leaves_nothing() {
    let store = Arc::new(Counted::default());
    let storage = Storage::new(StorageConfig::default()).with_store("mem://", store.clone());
    let names = ["a", "b", "c", "d"];
    for name in names {
        storage
            .put_bytes(&format!("mem://bucket/{name}.bin"), &b"bytes"[..])
            .await
            .expect("put");
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let into = scratch.path().join("prefetch");
    for name in names {
        assert!(storage.prefetch(&format!("mem://bucket/{name}.bin"), &into));
    }

    // On this one-thread runtime no prefetch has run yet: the cancel's own awaits are
    // the first chance any of them gets.
    assert_eq!(storage.cancel_prefetches().await, names.len());

    assert_eq!(
        store.requests.load(Ordering::SeqCst),
        0,
        "a prefetch started while they were being cancelled"
    );
    assert!(
        std::fs::read_dir(&into).map_or(true, |mut entries| entries.next().is_none()),
        "something was left under {}",
        into.display()
    );
}
