//! Uploads that fail part way, staged with a store of the test's own registered in
//! `Storage` (memory, refusing uploads to chosen keys): whatever the offloader wrote
//! before the failure is deleted, no literal comes back, and the error names the file
//! and the URI that failed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use flyte_offload::{OffloadError, Offloader};
use flyte_storage::{MemoryStore, ObjectMeta, Result, Storage, StorageError, StorageUri, Store};
use futures_util::stream::BoxStream;

/// A memory store that refuses to create objects whose key ends with one of `refused`,
/// after a delay, so that the other uploads of a directory get in first; it records
/// every key it accepted.
#[derive(Debug)]
struct RefusingStore {
    inner: MemoryStore,
    refused: Vec<&'static str>,
    accepted: Mutex<Vec<String>>,
}

impl RefusingStore {
    fn new(refused: &[&'static str]) -> Self {
        RefusingStore {
            inner: MemoryStore::new(),
            refused: refused.to_vec(),
            accepted: Mutex::new(Vec::new()),
        }
    }

    async fn check(&self, to: &StorageUri) -> Result<()> {
        if self.refused.iter().any(|key| to.as_str().ends_with(key)) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            return Err(StorageError::Io {
                uri: to.to_string(),
                source: std::io::Error::other("the test store refuses this key"),
            });
        }
        self.accepted
            .lock()
            .expect("not poisoned")
            .push(to.to_string());
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for RefusingStore {
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64> {
        self.inner.get_file(from, to).await
    }
    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64> {
        self.check(to).await?;
        self.inner.put_file(from, to).await
    }
    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
        self.inner.get_bytes(from).await
    }
    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
        self.check(to).await?;
        self.inner.put_bytes(to, bytes).await
    }
    fn list_pages<'a>(&'a self, prefix: &'a StorageUri) -> BoxStream<'a, Result<Vec<ObjectMeta>>> {
        self.inner.list_pages(prefix)
    }
    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>> {
        self.inner.stat(uri).await
    }
    async fn delete(&self, uri: &StorageUri) -> Result<()> {
        self.inner.delete(uri).await
    }
}

/// A directory of `count` files `f<i>.txt`, every fourth one nested.
fn tree(root: &Path, count: usize) {
    for i in 0..count {
        let path = if i % 4 == 0 {
            root.join("nested").join(format!("f{i}.txt"))
        } else {
            root.join(format!("f{i}.txt"))
        };
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, format!("file {i}\n")).expect("write");
    }
}

async fn objects_under(storage: &Storage, uri: &str) -> Vec<String> {
    storage
        .list(uri)
        .await
        .expect("list")
        .into_iter()
        .map(|object| object.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_whose_upload_fails_part_way_leaves_nothing_under_the_prefix() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("plots");
    tree(&dir, 40);
    let store = Arc::new(RefusingStore::new(&["nested/f20.txt"]));
    let storage = Storage::default().with_store("mem://", store.clone());
    let prefix = "mem://bucket/raw";
    storage
        .put_bytes("mem://bucket/raw/other-value/kept.txt", &b"kept"[..])
        .await
        .expect("an earlier value");

    let error = Offloader::new(storage.clone(), prefix)
        .directory(&dir, "")
        .await
        .expect_err("the refused file fails the directory");

    let OffloadError::Upload { path, uri, .. } = &error else {
        panic!("an upload error, not {error:?}");
    };
    assert_eq!(path, &dir, "{error}");
    assert!(uri.starts_with("mem://bucket/raw/"), "{error}");
    let text = flyte_errors::Chain(&error).to_string();
    assert!(
        text.contains("nested/f20.txt"),
        "the refused key is named: {text}"
    );
    // The other files did get in before the failure: the clean-up had work to do.
    let accepted = store.accepted.lock().expect("not poisoned").len();
    assert!(
        accepted > 1,
        "only {accepted} uploads ran before the refusal"
    );
    assert_eq!(
        objects_under(&storage, prefix).await,
        ["other-value/kept.txt"],
        "only the earlier value is left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_whose_upload_fails_leaves_nothing_and_names_the_file() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let file = scratch.path().join("report.csv");
    std::fs::write(&file, "a,b\n").expect("write");
    let storage =
        Storage::default().with_store("mem://", Arc::new(RefusingStore::new(&["report.csv"])));

    let error = Offloader::new(storage.clone(), "mem://bucket/raw")
        .file(&file, "csv")
        .await
        .expect_err("the refused file fails");

    assert!(
        matches!(&error, OffloadError::Upload { path, .. } if path == &file),
        "{error:?}"
    );
    assert_eq!(
        objects_under(&storage, "mem://bucket/raw").await,
        Vec::<String>::new()
    );
}
