//! Objects in memory: [`MemoryBackend`], a backend of the object stores' engine like
//! S3's or GCS's, and [`MemoryStore`], the [`Store`] built on it.
//!
//! Going through the engine is the point: a tool that tests against a `MemoryStore`
//! runs the same ranged downloads, multipart uploads, retries, memory budget and error
//! mapping its S3 or GCS runs will, with no server.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;

use super::backend::{
    BackendError, BackendResult, ByteStream, Fault, ListPage, Listed, NewObject, ObjectBackend,
    ObjectPath, Part, PartBody, PartRules,
};
use super::store::CloudStore;
use super::transfers::Transfers;
use crate::config::StorageConfig;
use crate::error::Result;
use crate::store::{ObjectMeta, Store};
use crate::uri::StorageUri;

/// Which buckets exist in a [`MemoryBackend`].
#[derive(Debug)]
enum Buckets {
    /// Every bucket exists; a bucket's objects appear as they are written.
    Open,
    /// Only these exist; a request in any other is [`Fault::NotFound`], which the
    /// engine turns into [`StorageError::NoSuchBucket`](crate::StorageError::NoSuchBucket).
    Only(HashSet<String>),
}

/// One object: its bytes and the content type it was created with.
#[derive(Debug, Clone)]
struct Object {
    bytes: Bytes,
    /// Read back by the engine's tests of content-type guessing.
    #[cfg_attr(not(test), allow(dead_code))]
    content_type: Option<String>,
}

/// Objects in memory, by bucket and key, answering like S3: nothing found is
/// [`Fault::NotFound`] whether the object or its bucket is missing (the engine tells
/// which with [`ObjectBackend::probe_bucket`]). Uploads above one chunk go in parts.
#[derive(Debug)]
pub(crate) struct MemoryBackend {
    buckets: Mutex<Buckets>,
    /// Objects by (bucket, key).
    objects: Mutex<BTreeMap<(String, String), Object>>,
    /// Multipart uploads in progress: parts by index, under the upload's id.
    uploads: Mutex<HashMap<String, BTreeMap<u32, Bytes>>>,
    next_upload: AtomicU64,
    /// Keys per listing page.
    page_len: usize,
    /// Tests: a fault every request reports first, when set.
    pub(crate) fail_with: Mutex<Option<Fault>>,
    /// Tests: the bucket check is refused (as credentials that may read objects but
    /// not buckets are).
    pub(crate) refuse_bucket_checks: bool,
    /// Bucket checks asked for.
    pub(crate) bucket_checks: AtomicU32,
}

impl MemoryBackend {
    /// An empty store in which every bucket exists, listing `page_len` keys a page.
    pub(crate) fn new(page_len: usize) -> Self {
        Self {
            buckets: Mutex::new(Buckets::Open),
            objects: Mutex::default(),
            uploads: Mutex::default(),
            next_upload: AtomicU64::new(0),
            page_len: page_len.max(1),
            fail_with: Mutex::default(),
            refuse_bucket_checks: false,
            bucket_checks: AtomicU32::new(0),
        }
    }

    /// Only `buckets` exist from now on.
    pub(crate) fn only_buckets(&self, buckets: HashSet<String>) {
        *self.buckets.lock().expect("never poisoned") = Buckets::Only(buckets);
    }

    /// The content type the object at `object` was created with; `None` when there
    /// is no object there, `Some(None)` when it has none.
    #[cfg(test)]
    pub(crate) fn content_type(&self, object: &ObjectPath) -> Option<Option<String>> {
        self.objects
            .lock()
            .expect("never poisoned")
            .get(&(object.bucket.clone(), object.key.clone()))
            .map(|object| object.content_type.clone())
    }

    /// Fails with the injected fault, or with `NotFound` when the bucket is missing.
    fn check(&self, object: &ObjectPath) -> BackendResult<()> {
        if let Some(fault) = *self.fail_with.lock().expect("never poisoned") {
            return Err(BackendError::new(
                fault,
                format!("{fault:?}, as the test asked"),
            ));
        }
        match &*self.buckets.lock().expect("never poisoned") {
            Buckets::Only(buckets) if !buckets.contains(&object.bucket) => {
                Err(not_found("no such bucket"))
            }
            _ => Ok(()),
        }
    }

    fn object(&self, object: &ObjectPath) -> BackendResult<Object> {
        self.check(object)?;
        self.objects
            .lock()
            .expect("never poisoned")
            .get(&(object.bucket.clone(), object.key.clone()))
            .cloned()
            .ok_or_else(|| not_found("no such object"))
    }

    fn store(&self, object: &ObjectPath, bytes: Bytes, new: NewObject<'_>) {
        self.objects.lock().expect("never poisoned").insert(
            (object.bucket.clone(), object.key.clone()),
            Object {
                bytes,
                content_type: new.content_type.map(str::to_owned),
            },
        );
    }
}

fn not_found(what: &'static str) -> BackendError {
    BackendError::new(Fault::NotFound, what)
}

#[async_trait]
impl ObjectBackend for MemoryBackend {
    async fn head(&self, object: &ObjectPath) -> BackendResult<u64> {
        Ok(self.object(object)?.bytes.len() as u64)
    }

    async fn probe_bucket(&self, object: &ObjectPath) -> BackendResult<()> {
        self.bucket_checks.fetch_add(1, Ordering::SeqCst);
        if self.refuse_bucket_checks {
            return Err(BackendError::new(
                Fault::Denied,
                "bucket checks are refused",
            ));
        }
        self.check(object)
    }

    async fn get(
        &self,
        object: &ObjectPath,
        range: Option<(u64, u64)>,
    ) -> BackendResult<ByteStream> {
        let bytes = self.object(object)?.bytes;
        let bytes = match range {
            None => bytes,
            Some((start, end)) => {
                let len = bytes.len() as u64;
                if start > end || end > len {
                    return Err(BackendError::new(
                        Fault::Other,
                        format!("range {start}..{end} is outside the object's {len} bytes"),
                    ));
                }
                bytes.slice(start as usize..end as usize)
            }
        };
        Ok(Box::pin(futures_util::stream::once(async { Ok(bytes) })))
    }

    async fn put(&self, object: &ObjectPath, body: Bytes, new: NewObject<'_>) -> BackendResult<()> {
        self.check(object)?;
        self.store(object, body, new);
        Ok(())
    }

    /// Parts of any size, in parallel, as many as S3 takes.
    fn part_rules(&self) -> PartRules {
        PartRules {
            min_part: 1,
            max_parts: 10_000,
            part_multiple: 1,
            sequential: false,
            streams_from_file: false,
        }
    }

    async fn start_upload(&self, object: &ObjectPath, _: NewObject<'_>) -> BackendResult<String> {
        self.check(object)?;
        let id = format!("upload-{}", self.next_upload.fetch_add(1, Ordering::SeqCst));
        self.uploads
            .lock()
            .expect("never poisoned")
            .insert(id.clone(), BTreeMap::new());
        Ok(id)
    }

    async fn upload_part(
        &self,
        object: &ObjectPath,
        upload_id: &str,
        part: Part,
        body: PartBody,
        _: NewObject<'_>,
    ) -> BackendResult<String> {
        self.check(object)?;
        let bytes = body.into_bytes()?;
        self.uploads
            .lock()
            .expect("never poisoned")
            .get_mut(upload_id)
            .ok_or_else(|| not_found("no such upload"))?
            .insert(part.index, bytes);
        Ok(part.index.to_string())
    }

    async fn complete_upload(
        &self,
        object: &ObjectPath,
        upload_id: &str,
        parts: Vec<String>,
        new: NewObject<'_>,
    ) -> BackendResult<()> {
        self.check(object)?;
        let mut uploaded = self
            .uploads
            .lock()
            .expect("never poisoned")
            .remove(upload_id)
            .ok_or_else(|| not_found("no such upload"))?;
        let mut whole = BytesMut::new();
        for part in &parts {
            let bytes = part
                .parse::<u32>()
                .ok()
                .and_then(|index| uploaded.remove(&index))
                .ok_or_else(|| {
                    BackendError::new(Fault::Other, format!("part {part:?} was never uploaded"))
                })?;
            whole.extend_from_slice(&bytes);
        }
        self.store(object, whole.freeze(), new);
        Ok(())
    }

    async fn abort_upload(&self, _: &ObjectPath, upload_id: &str) -> BackendResult<()> {
        self.uploads
            .lock()
            .expect("never poisoned")
            .remove(upload_id);
        Ok(())
    }

    /// Pages of `page_len` keys in key order; a page's token is its last key.
    async fn list_page(
        &self,
        prefix: &ObjectPath,
        token: Option<String>,
    ) -> BackendResult<ListPage> {
        self.check(prefix)?;
        let objects = self.objects.lock().expect("never poisoned");
        let bucket = prefix.bucket.clone();
        let from = (bucket.clone(), token.clone().unwrap_or_default());
        let mut page: Vec<Listed> = objects
            .range(from..)
            .take_while(|((b, _), _)| *b == bucket)
            .filter(|((_, key), _)| token.as_ref().is_none_or(|after| key > after))
            .filter(|((_, key), _)| key.starts_with(&prefix.key))
            .take(self.page_len + 1)
            .map(|((_, key), object)| Listed {
                key: key.clone(),
                size: object.bytes.len() as u64,
            })
            .collect();
        let next = (page.len() > self.page_len).then(|| {
            page.truncate(self.page_len);
            page[self.page_len - 1].key.clone()
        });
        Ok(ListPage {
            objects: page,
            next,
        })
    }

    async fn delete(&self, object: &ObjectPath) -> BackendResult<()> {
        self.check(object)?;
        self.objects
            .lock()
            .expect("never poisoned")
            .remove(&(object.bucket.clone(), object.key.clone()))
            .map(drop)
            .ok_or_else(|| not_found("no such object"))
    }
}

/// Objects in memory, served through the same transfer engine as S3, GCS and Azure:
/// files above one [`chunk_size`](StorageConfig::chunk_size) go up in parts and come
/// down in ranges, under the same memory budget and retries. For tests, and for tools
/// that want a scratch store.
///
/// It serves `scheme://bucket/key` URIs of any scheme but local paths: `mem://…` once
/// [registered](crate::Storage::with_store), or `s3://…` to run code written for S3
/// against memory. Every bucket exists unless [`with_only_buckets`] says otherwise.
/// Clones share their objects.
///
/// ```
/// use std::sync::Arc;
/// use flyte_storage::{MemoryStore, Storage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
/// storage.put_bytes("mem://bucket/outputs.pb", &b"\x0a\x00"[..]).await?;
/// assert_eq!(storage.stat("mem://bucket/outputs.pb").await?, Some(2));
/// # Ok(())
/// # }
/// ```
///
/// [`with_only_buckets`]: MemoryStore::with_only_buckets
#[derive(Debug, Clone)]
pub struct MemoryStore {
    store: Arc<CloudStore>,
    backend: Arc<MemoryBackend>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with the default [`StorageConfig`]. Clones share its objects.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let copy = store.clone();
    /// store.put_bytes(&StorageUri::parse("s3://bucket/k")?, "v".into()).await?;
    /// assert_eq!(copy.stat(&StorageUri::parse("s3://bucket/k")?).await?, Some(1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Self {
        Self::with_config(&StorageConfig::default())
    }

    /// An empty store whose engine takes `config`'s chunk size, concurrency, memory
    /// budget, retry policy, progress interval and upload options (the cloud stores'
    /// own settings, `s3`, `gcs`, `azure`, do not apply).
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageConfig};
    ///
    /// // Small parts, so that a test file of a few MiB goes through multipart uploads.
    /// let config = StorageConfig { chunk_size: 1024 * 1024, ..StorageConfig::default() };
    /// let store = MemoryStore::with_config(&config);
    /// ```
    pub fn with_config(config: &StorageConfig) -> Self {
        let backend = Arc::new(MemoryBackend::new(crate::store::LIST_PAGE_LEN));
        Self::around(backend, config)
    }

    pub(crate) fn around(backend: Arc<MemoryBackend>, config: &StorageConfig) -> Self {
        let store = CloudStore::new(
            backend.clone(),
            Arc::new(Transfers::new(config)),
            Arc::new(config.upload.clone()),
        );
        Self {
            store: Arc::new(store),
            backend,
        }
    }

    /// This store with only `buckets` existing: a request in any other is
    /// [`StorageError::NoSuchBucket`](crate::StorageError::NoSuchBucket), as an object
    /// store answers a mistyped bucket.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageError, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new().with_only_buckets(["outputs"]);
    /// store.put_bytes(&StorageUri::parse("s3://outputs/a.pb")?, "a".into()).await?;
    /// let typo = store.get_bytes(&StorageUri::parse("s3://ouptuts/a.pb")?).await;
    /// assert!(matches!(typo, Err(StorageError::NoSuchBucket { bucket, .. }) if bucket == "ouptuts"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_only_buckets<I, S>(self, buckets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.backend
            .only_buckets(buckets.into_iter().map(Into::into).collect());
        self
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64> {
        self.store.get_file(from, to).await
    }

    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64> {
        self.store.put_file(from, to).await
    }

    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
        self.store.get_bytes(from).await
    }

    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
        self.store.put_bytes(to, bytes).await
    }

    fn list_pages<'a>(&'a self, prefix: &'a StorageUri) -> BoxStream<'a, Result<Vec<ObjectMeta>>> {
        self.store.list_pages(prefix)
    }

    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>> {
        self.store.stat(uri).await
    }

    async fn delete(&self, uri: &StorageUri) -> Result<()> {
        self.store.delete(uri).await
    }

    async fn get_listed_file(&self, object: &ObjectMeta, to: &Path) -> Result<u64> {
        self.store.get_listed_file(object, to).await
    }

    async fn put_walked_file(&self, from: &Path, size: u64, to: &StorageUri) -> Result<u64> {
        self.store.put_walked_file(from, size, to).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::RetryPolicy;
    use crate::store::StoreExt;

    fn uri(text: &str) -> StorageUri {
        StorageUri::parse(text).expect("valid")
    }

    /// Small chunks, so that a file of a few hundred KiB goes up in parts and comes
    /// down in ranges.
    fn small_chunks() -> StorageConfig {
        StorageConfig {
            chunk_size: 64 * 1024,
            chunk_concurrency: 3,
            retry: RetryPolicy {
                initial_backoff: Duration::from_millis(1),
                ..RetryPolicy::default()
            },
            ..StorageConfig::default()
        }
    }

    #[tokio::test]
    async fn a_file_of_many_chunks_goes_up_in_parts_and_comes_down_in_ranges_intact() {
        let backend = Arc::new(MemoryBackend::new(2));
        let store = MemoryStore::around(backend.clone(), &small_chunks());
        let dir = tempfile::tempdir().expect("temp dir");
        let from = dir.path().join("big.bin");
        let contents: Vec<u8> = (0..700_001u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&from, &contents).expect("write");
        let object = uri("mem://b/big.bin");
        assert_eq!(store.put_file(&from, &object).await.expect("put"), 700_001);
        assert_eq!(
            backend.next_upload.load(Ordering::SeqCst),
            1,
            "one multipart upload"
        );
        assert!(
            backend.uploads.lock().expect("lock").is_empty(),
            "committed"
        );
        let to = dir.path().join("back.bin");
        assert_eq!(store.get_file(&object, &to).await.expect("get"), 700_001);
        assert_eq!(std::fs::read(&to).expect("read"), contents);
    }

    #[tokio::test]
    async fn listings_cross_pages_and_stay_inside_their_bucket_and_prefix() {
        let backend = Arc::new(MemoryBackend::new(2));
        let store = MemoryStore::around(backend, &small_chunks());
        for key in [
            "mem://a/d/1",
            "mem://a/d/2",
            "mem://a/d/3",
            "mem://a/e/4",
            "mem://b/d/5",
        ] {
            store
                .put_bytes(&uri(key), Bytes::from_static(b"x"))
                .await
                .expect("put");
        }
        let keys: Vec<String> = store
            .list(&uri("mem://a/d"))
            .await
            .expect("list")
            .into_iter()
            .map(|object| object.key)
            .collect();
        assert_eq!(keys, ["1", "2", "3"]);
    }

    #[tokio::test]
    async fn only_the_named_buckets_exist_when_asked() {
        let store = MemoryStore::new().with_only_buckets(["b"]);
        store
            .put_bytes(&uri("mem://b/k"), Bytes::from_static(b"x"))
            .await
            .expect("put");
        match store.get_bytes(&uri("mem://gone/k")).await {
            Err(crate::StorageError::NoSuchBucket { uri, bucket }) => {
                assert_eq!((uri.as_str(), bucket.as_str()), ("mem://gone/k", "gone"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_local_path_is_not_a_memory_object() {
        let error = MemoryStore::new()
            .get_bytes(&uri("/tmp/x"))
            .await
            .expect_err("not served");
        assert!(
            matches!(error, crate::StorageError::InvalidUri { .. }),
            "{error:?}"
        );
    }
}
