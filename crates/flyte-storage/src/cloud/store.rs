//! [`CloudStore`]: an object store as a [`Store`], the engine around one
//! [`ObjectBackend`].
//!
//! It owns what the operations mean to the caller: URIs in, [`ObjectPath`]s to the
//! backend; a prefix listed as a directory; the transfers handed to [`Transfers`];
//! and every failure turned into a [`StorageError`] naming the URI, in one place for
//! all backends. That includes the one rule for "absent":
//!
//! - A request on an object that finds nothing ([`Fault::NotFound`]) is followed by a
//!   check of its bucket ([`ObjectBackend::probe_bucket`], once per bucket and store
//!   while the bucket exists). A missing bucket is [`StorageError::NoSuchBucket`]
//!   naming the URI and the bucket, for every operation: a missing bucket is never
//!   "absent", so a mistyped bucket cannot pass for an empty one.
//! - Otherwise it is the object that is missing: [`Store::stat`] gives `None`,
//!   [`Store::delete`] succeeds, and reads are [`StorageError::NotFound`].
//! - When the bucket check itself fails (say the credentials may read objects but not
//!   check the bucket), the object counts as missing: the request that found nothing
//!   was allowed, and nothing says the bucket is gone.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};

use super::backend::{BackendResult, Fault, NewObject, ObjectBackend, ObjectPath};
use super::transfers::{Failure, Transfers};
use crate::config::UploadOptions;
use crate::content_type::guess_content_type;
use crate::error::{Result, StorageError, TransferPhase};
use crate::progress::{self, Direction};
use crate::store::{ObjectMeta, Store};
use crate::uri::StorageUri;

/// An object store as a [`Store`]: the engine around one [`ObjectBackend`].
pub(crate) struct CloudStore {
    backend: Arc<dyn ObjectBackend>,
    transfers: Arc<Transfers>,
    /// What every object this store writes is created with.
    options: Arc<UploadOptions>,
    /// Buckets (account host, bucket) seen to exist, so that a store that often looks
    /// for missing objects checks each bucket once.
    existing_buckets: Mutex<HashSet<(Option<String>, String)>>,
}

impl fmt::Debug for CloudStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl CloudStore {
    pub(crate) fn new(
        backend: Arc<dyn ObjectBackend>,
        transfers: Arc<Transfers>,
        options: Arc<UploadOptions>,
    ) -> Self {
        Self {
            backend,
            transfers,
            options,
            existing_buckets: Mutex::default(),
        }
    }

    /// The same store (backend, clients, transfer engine and memory budget) writing
    /// objects with `options`.
    pub(crate) fn with_options(&self, options: Arc<UploadOptions>) -> Self {
        Self::new(self.backend.clone(), self.transfers.clone(), options)
    }

    /// How an object is created: the store's options, with the configured content
    /// type or else one guessed from the first of `names` that has a known extension
    /// (the local file's name, as s3fs and gcsfs guess, then the object's key, for
    /// files staged under a name of no meaning).
    fn new_object<'a>(&'a self, names: &[&str]) -> NewObject<'a> {
        NewObject {
            options: &self.options,
            content_type: self
                .options
                .content_type
                .as_deref()
                .or_else(|| names.iter().find_map(|name| guess_content_type(name))),
        }
    }

    /// One request for `uri`, retried by the engine (each attempt bounded as
    /// [`Transfers::retry`] says for `during`); a failure in the caller's terms.
    async fn request<T, F, Fut>(
        &self,
        uri: &StorageUri,
        object: &ObjectPath,
        during: TransferPhase,
        attempt: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = BackendResult<T>>,
    {
        match self.transfers.retry(uri, during, attempt).await {
            Ok(value) => Ok(value),
            Err(failure) => Err(self.settle(uri, object, failure).await),
        }
    }

    /// What a failed transfer of `uri` means to the caller.
    async fn settle(
        &self,
        uri: &StorageUri,
        object: &ObjectPath,
        failure: Failure,
    ) -> StorageError {
        let (error, attempts) = match failure {
            Failure::Storage(error) => return error,
            Failure::Stalled {
                during,
                after,
                attempts,
            } => {
                return StorageError::Stalled {
                    uri: uri.to_string(),
                    during,
                    after,
                    attempts,
                };
            }
            Failure::Request { error, attempts } => (error, attempts),
        };
        let fault = match error.fault {
            Fault::NotFound if !self.bucket_exists(uri, object).await => Fault::NoSuchBucket,
            fault => fault,
        };
        let uri = uri.to_string();
        match fault {
            Fault::NotFound => StorageError::NotFound { uri },
            Fault::NoSuchBucket => StorageError::NoSuchBucket {
                uri,
                bucket: object.bucket.clone(),
            },
            Fault::Denied => StorageError::PermissionDenied {
                uri,
                source: error.source,
            },
            Fault::Config => StorageError::Config {
                uri,
                reason: error.source.to_string(),
            },
            Fault::Transient | Fault::Other => StorageError::Remote {
                uri,
                attempts,
                source: error.source,
            },
        }
    }

    /// Whether the bucket of `object` exists, as far as the store lets us tell (see
    /// the module documentation).
    async fn bucket_exists(&self, uri: &StorageUri, object: &ObjectPath) -> bool {
        let bucket = (object.host.clone(), object.bucket.clone());
        if self
            .existing_buckets
            .lock()
            .expect("never poisoned")
            .contains(&bucket)
        {
            return true;
        }
        match self
            .transfers
            .retry(uri, TransferPhase::WaitingForAnswer, || {
                self.backend.probe_bucket(object)
            })
            .await
        {
            Ok(()) => {
                self.existing_buckets
                    .lock()
                    .expect("never poisoned")
                    .insert(bucket);
                true
            }
            Err(Failure::Request { error, .. })
                if matches!(error.fault, Fault::NotFound | Fault::NoSuchBucket) =>
            {
                false
            }
            Err(_) => true,
        }
    }

    /// Downloads the `size`-byte object at `uri` into `to`.
    async fn download(
        &self,
        uri: &StorageUri,
        object: &ObjectPath,
        to: &Path,
        size: u64,
    ) -> Result<u64> {
        match self
            .transfers
            .download(self.backend.as_ref(), uri, object, to, size)
            .await
        {
            Ok(bytes) => Ok(bytes),
            Err(failure) => Err(self.settle(uri, object, failure).await),
        }
    }
}

#[async_trait]
impl Store for CloudStore {
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64> {
        let object = ObjectPath::of(from)?;
        let size = self
            .request(from, &object, TransferPhase::WaitingForAnswer, || {
                self.backend.head(&object)
            })
            .await?;
        self.download(from, &object, to, size).await
    }

    /// Uses the size the listing gave, so a tree of small files costs one request per
    /// file instead of two.
    async fn get_listed_file(&self, object: &ObjectMeta, to: &Path) -> Result<u64> {
        let path = ObjectPath::of(&object.uri)?;
        self.download(&object.uri, &path, to, object.size).await
    }

    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64> {
        let metadata = tokio::fs::metadata(from)
            .await
            .map_err(|e| StorageError::from_io(from.display().to_string(), e))?;
        // By type, from a stat, before the upload opens it: a FIFO would block it forever.
        StorageError::unless_regular_file(&metadata, &from.display().to_string())?;
        self.put_walked_file(from, metadata.len(), to).await
    }

    async fn put_walked_file(&self, from: &Path, size: u64, to: &StorageUri) -> Result<u64> {
        let object = ObjectPath::of(to)?;
        let from_text = from.display().to_string();
        let new = self.new_object(&[&from_text, &object.key]);
        match self
            .transfers
            .upload(self.backend.as_ref(), to, from, &object, size, new)
            .await
        {
            Ok(()) => Ok(size),
            Err(failure) => Err(self.settle(to, &object, failure).await),
        }
    }

    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
        let object = ObjectPath::of(from)?;
        match self
            .transfers
            .get_bytes(self.backend.as_ref(), from, &object)
            .await
        {
            Ok(bytes) => Ok(bytes),
            Err(failure) => Err(self.settle(from, &object, failure).await),
        }
    }

    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
        let object = ObjectPath::of(to)?;
        let new = self.new_object(&[&object.key]);
        let size = bytes.len() as u64;
        let put = self.request(to, &object, TransferPhase::Uploading, || {
            self.backend.put(&object, bytes.clone(), new)
        });
        progress::object(
            self.transfers.progress_interval(),
            Direction::Upload,
            to,
            Some(size),
            put,
        )
        .await
    }

    /// One request per page of the store's listing, each retried on its own.
    fn list_pages<'a>(&'a self, prefix: &'a StorageUri) -> BoxStream<'a, Result<Vec<ObjectMeta>>> {
        let object = match ObjectPath::of(prefix) {
            Ok(object) => object,
            Err(error) => return stream::once(async { Err(error) }).boxed(),
        };
        // A prefix is a directory: "dir" and "dir/" both list what is under "dir/".
        let key_prefix = if object.key.is_empty() || object.key.ends_with('/') {
            object.key.clone()
        } else {
            format!("{}/", object.key)
        };
        let listing = object.with_key(key_prefix);
        // The state is the next page's token; `None` once the last page is in.
        stream::try_unfold(Some(None), move |token: Option<Option<String>>| {
            let (object, listing) = (object.clone(), listing.clone());
            async move {
                let Some(token) = token else {
                    return Ok(None);
                };
                let page = self
                    .request(prefix, &object, TransferPhase::WaitingForAnswer, || {
                        self.backend.list_page(&listing, token.clone())
                    })
                    .await?;
                let objects = page
                    .objects
                    .into_iter()
                    .filter_map(|listed| {
                        let key = listed.key.strip_prefix(&listing.key)?.to_owned();
                        // Zero-byte "directory markers" some tools write are not files.
                        (!key.is_empty() && !key.ends_with('/')).then_some((key, listed.size))
                    })
                    .map(|(key, size)| {
                        Ok(ObjectMeta {
                            uri: prefix.join(&key)?,
                            key,
                            size,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Some((objects, page.next.map(Some))))
            }
        })
        .boxed()
    }

    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>> {
        let object = ObjectPath::of(uri)?;
        if object.key.is_empty() || object.key.ends_with('/') {
            // A bucket or a prefix is never an object; its bucket must still exist.
            if self.bucket_exists(uri, &object).await {
                return Ok(None);
            }
            return Err(StorageError::NoSuchBucket {
                uri: uri.to_string(),
                bucket: object.bucket,
            });
        }
        missing_as_none(
            self.request(uri, &object, TransferPhase::WaitingForAnswer, || {
                self.backend.head(&object)
            })
            .await,
        )
    }

    async fn delete(&self, uri: &StorageUri) -> Result<()> {
        let object = ObjectPath::of(uri)?;
        missing_as_none(
            self.request(uri, &object, TransferPhase::WaitingForAnswer, || {
                self.backend.delete(&object)
            })
            .await,
        )
        .map(drop)
    }
}

/// `result`, with a missing object as `None`. By the time a failure is a
/// [`StorageError::NotFound`], its bucket is known to exist.
fn missing_as_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::*;
    use crate::cloud::memory::MemoryBackend as Memory;
    use crate::config::{RetryPolicy, StorageConfig};
    use crate::store::StoreExt;
    use futures_util::stream::TryStreamExt;

    /// The memory backend, in which only `bucket` exists, listing two keys a page so
    /// that tests cross pages.
    fn with_bucket(bucket: &str) -> Memory {
        let memory = Memory::new(2);
        memory.only_buckets(HashSet::from([bucket.to_owned()]));
        memory
    }

    /// What the object at `text` was created with.
    fn content_type_of(memory: &Memory, text: &str) -> Option<Option<String>> {
        memory.content_type(&ObjectPath::of(&uri(text)).expect("object"))
    }

    fn store(memory: Memory) -> (CloudStore, Arc<Memory>) {
        store_with(memory, UploadOptions::default())
    }

    fn store_with(memory: Memory, options: UploadOptions) -> (CloudStore, Arc<Memory>) {
        let memory = Arc::new(memory);
        let transfers = Transfers::new(&StorageConfig {
            retry: RetryPolicy {
                initial_backoff: Duration::from_millis(1),
                ..RetryPolicy::default()
            },
            ..StorageConfig::default()
        });
        (
            CloudStore::new(memory.clone(), Arc::new(transfers), Arc::new(options)),
            memory,
        )
    }

    fn uri(text: &str) -> StorageUri {
        StorageUri::parse(text).expect("valid")
    }

    #[tokio::test]
    async fn a_missing_object_in_an_existing_bucket_is_absent() {
        let (store, _) = store(with_bucket("b"));
        let missing = uri("s3://b/missing.pb");
        assert_eq!(store.stat(&missing).await.expect("stat"), None);
        assert!(!store.exists(&missing).await.expect("exists"));
        store
            .delete(&missing)
            .await
            .expect("deleting nothing succeeds");
        match store.get_bytes(&missing).await {
            Err(StorageError::NotFound { uri }) => assert_eq!(uri, "s3://b/missing.pb"),
            other => panic!("{other:?}"),
        }
        assert_eq!(store.stat(&uri("s3://b/dir/")).await.expect("stat"), None);
    }

    #[tokio::test]
    async fn a_missing_bucket_is_no_such_bucket_for_every_operation() {
        let (store, _) = store(with_bucket("b"));
        let text = "s3://gone/dir/inputs.pb";
        let in_missing_bucket = uri(text);
        let results = [
            store.stat(&in_missing_bucket).await.map(drop),
            store.exists(&in_missing_bucket).await.map(drop),
            store.stat(&uri("s3://gone/dir/")).await.map(drop),
            store.list(&in_missing_bucket).await.map(drop),
            store.get_bytes(&in_missing_bucket).await.map(drop),
            store
                .put_bytes(&in_missing_bucket, Bytes::from_static(b"x"))
                .await,
            store.delete(&in_missing_bucket).await,
        ];
        for result in results {
            match result {
                Err(StorageError::NoSuchBucket { uri, bucket }) => {
                    assert!(uri.starts_with("s3://gone/dir/"), "{uri}");
                    assert_eq!(bucket, "gone");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_refused_bucket_check_leaves_the_object_missing() {
        let mut memory = Memory::new(2);
        memory.refuse_bucket_checks = true;
        memory.only_buckets(HashSet::new());
        let (store, _) = store(memory);
        assert_eq!(store.stat(&uri("s3://b/k")).await.expect("stat"), None);
    }

    #[tokio::test]
    async fn an_existing_bucket_is_checked_once() {
        let (store, memory) = store(with_bucket("b"));
        for _ in 0..3 {
            assert_eq!(
                store.stat(&uri("s3://b/missing")).await.expect("stat"),
                None
            );
        }
        assert_eq!(memory.bucket_checks.load(Ordering::SeqCst), 1);
        for _ in 0..2 {
            assert!(store.stat(&uri("s3://gone/k")).await.is_err());
        }
        assert_eq!(
            memory.bucket_checks.load(Ordering::SeqCst),
            3,
            "a missing bucket is checked each time: it may be created meanwhile"
        );
    }

    #[tokio::test]
    async fn small_downloads_create_their_directories_and_replace_what_is_there() {
        let (store, memory) = store(with_bucket("b"));
        let object = uri("s3://b/tree/a.txt");
        memory
            .put(
                &ObjectPath::of(&object).expect("object"),
                Bytes::from_static(b"new"),
                store.new_object(&[]),
            )
            .await
            .expect("put");
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("x/y/a.txt");
        assert_eq!(store.get_file(&object, &target).await.expect("get"), 3);
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        std::fs::write(&target, b"older and longer").expect("write");
        assert_eq!(store.get_file(&object, &target).await.expect("get"), 3);
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("x/y"))
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["a.txt"], "no temporary file is left");
    }

    #[tokio::test]
    async fn an_object_that_grew_past_a_buffer_since_it_was_listed_is_downloaded_whole() {
        let (store, memory) = store(with_bucket("b"));
        let object = uri("s3://b/grows.bin");
        let path = ObjectPath::of(&object).expect("object");
        memory
            .put(&path, Bytes::from_static(b"tiny"), store.new_object(&[]))
            .await
            .expect("put");
        let listed = store.list(&uri("s3://b/")).await.expect("list");
        let grown = Bytes::from(vec![7u8; 3 << 20]);
        memory
            .put(&path, grown.clone(), store.new_object(&[]))
            .await
            .expect("put");
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("grows.bin");
        store
            .get_listed_file(&listed[0], &target)
            .await
            .expect("get");
        assert_eq!(std::fs::read(&target).expect("read"), grown);
    }

    /// Puts `contents` at each key of bucket `b`.
    async fn put_all(store: &CloudStore, memory: &Memory, objects: &[(&str, &str)]) {
        for (key, contents) in objects {
            let object = ObjectPath::of(&uri(&format!("s3://b/{key}"))).expect("object");
            memory
                .put(
                    &object,
                    Bytes::from(contents.to_string()),
                    store.new_object(&[]),
                )
                .await
                .expect("put");
        }
    }

    #[tokio::test]
    async fn a_directory_download_streams_every_page_of_the_listing() {
        let (store, memory) = store(with_bucket("b"));
        let files: Vec<(String, String)> = (0..7)
            .map(|i| (format!("tree/d{}/f{i}", i % 3), format!("file {i}")))
            .collect();
        let pairs: Vec<(&str, &str)> = files
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        put_all(&store, &memory, &pairs).await;
        put_all(&store, &memory, &[("treehouse", "not under tree/")]).await;
        let pages: Vec<usize> = store
            .list_pages(&uri("s3://b/tree"))
            .map_ok(|page| page.len())
            .try_collect()
            .await
            .expect("list");
        assert_eq!(pages, [2, 2, 2, 1], "one page per request, none held back");
        let dir = tempfile::tempdir().expect("tempdir");
        for concurrency in [1, 4] {
            let target = dir.path().join(concurrency.to_string());
            let summary = store
                .get_dir(&uri("s3://b/tree/"), &target, concurrency)
                .await
                .expect("get_dir");
            assert_eq!((summary.files, summary.bytes), (7, 7 * 6));
            for (key, contents) in &files {
                let path = target.join(key.strip_prefix("tree/").expect("under tree/"));
                assert_eq!(std::fs::read_to_string(path).expect("read"), *contents);
            }
        }
        match store.get_dir(&uri("s3://b/nothing"), dir.path(), 4).await {
            Err(StorageError::NotFound { uri }) => assert_eq!(uri, "s3://b/nothing"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_prefix_has_objects_under_it_past_a_page_of_directory_markers() {
        let (store, memory) = store(with_bucket("b"));
        put_all(&store, &memory, &[("d/", ""), ("d/a/", "")]).await;
        let prefix = uri("s3://b/d");
        assert!(
            !store
                .has_objects_under(&prefix)
                .await
                .expect("markers only")
        );
        put_all(&store, &memory, &[("d/z", "file")]).await;
        let pages: Vec<usize> = store
            .list_pages(&prefix)
            .map_ok(|page| page.len())
            .try_collect()
            .await
            .expect("list");
        assert_eq!(pages, [0, 1], "the markers fill the first page");
        assert!(store.has_objects_under(&prefix).await.expect("a file"));
        assert!(
            !store
                .has_objects_under(&uri("s3://b/e"))
                .await
                .expect("nothing")
        );
    }

    #[tokio::test]
    async fn two_keys_landing_on_one_file_stop_the_download_naming_both() {
        let (store, memory) = store(with_bucket("b"));
        // In key order: "./a//b" is on the first page and "a/b", landing on the same
        // file, on the third; "a/b" holds "5".
        put_all(
            &store,
            &memory,
            &[
                ("d/./a//b", "1"),
                ("d/0", "2"),
                ("d/1", "3"),
                ("d/2", "4"),
                ("d/a/b", "5"),
            ],
        )
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let error = store
            .get_dir(&uri("s3://b/d"), dir.path(), 1)
            .await
            .expect_err("a clash");
        let StorageError::InvalidUri { uri, reason } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(uri, "s3://b/d/a/b", "the later key is named");
        assert!(
            reason.contains("\"./a//b\"") && reason.contains("\"a/b\""),
            "both keys are named: {reason}"
        );
        let placed = dir.path().join("a/b");
        assert!(reason.contains(&placed.display().to_string()), "{reason}");
        // The listing runs ahead of the downloads, so the first key's download may have
        // been stopped with the transfer; the clashing key is never written.
        if let Ok(contents) = std::fs::read_to_string(&placed) {
            assert_eq!(contents, "1", "the clashing key overwrote the first");
        }
    }

    #[tokio::test]
    async fn faults_become_errors_naming_the_uri() {
        let (store, memory) = store(with_bucket("b"));
        let object = uri("s3://b/k");
        *memory.fail_with.lock().expect("lock") = Some(Fault::Denied);
        match store.get_bytes(&object).await {
            Err(error @ StorageError::PermissionDenied { .. }) => {
                assert_eq!(error.uri(), "s3://b/k")
            }
            other => panic!("{other:?}"),
        }
        *memory.fail_with.lock().expect("lock") = Some(Fault::Transient);
        match store.stat(&object).await {
            Err(StorageError::Remote { uri, attempts, .. }) => {
                assert_eq!((uri.as_str(), attempts), ("s3://b/k", 5));
            }
            other => panic!("{other:?}"),
        }
        *memory.fail_with.lock().expect("lock") = Some(Fault::Config);
        match store.list(&object).await {
            Err(error @ StorageError::Config { .. }) => assert_eq!(error.uri(), "s3://b/k"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn content_types_come_from_the_local_name_then_the_key_unless_configured() {
        let local = tempfile::tempdir().expect("temp dir");
        let staged = local.path().join("object");
        let report = local.path().join("report.csv");
        for path in [&staged, &report] {
            std::fs::write(path, b"x").expect("write");
        }
        let (store, memory) = store(with_bucket("b"));
        // A file staged under a meaningless name is typed by the object's key.
        store
            .put_file(&staged, &uri("s3://b/deck.html"))
            .await
            .expect("put");
        // The local name wins, as s3fs and gcsfs guess from it.
        store
            .put_file(&report, &uri("s3://b/renamed.txt"))
            .await
            .expect("put");
        store
            .put_bytes(&uri("s3://b/outputs.pb"), Bytes::from_static(b"x"))
            .await
            .expect("put");
        assert_eq!(
            content_type_of(&memory, "s3://b/deck.html"),
            Some(Some("text/html".to_owned()))
        );
        assert_eq!(
            content_type_of(&memory, "s3://b/renamed.txt"),
            Some(Some("text/csv".to_owned()))
        );
        assert_eq!(content_type_of(&memory, "s3://b/outputs.pb"), Some(None));

        let configured = UploadOptions {
            content_type: Some("application/x-flyte".to_owned()),
            ..UploadOptions::default()
        };
        let (store, memory) = store_with(with_bucket("b"), configured);
        store
            .put_file(&report, &uri("s3://b/report.csv"))
            .await
            .expect("put");
        assert_eq!(
            content_type_of(&memory, "s3://b/report.csv"),
            Some(Some("application/x-flyte".to_owned()))
        );
    }

    #[tokio::test]
    async fn a_device_or_fifo_given_as_a_file_is_refused_and_nothing_is_uploaded() {
        let local = tempfile::tempdir().expect("temp dir");
        let fifo = local.path().join("pipe");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("FIFO");
        let (store, memory) = store(with_bucket("b"));
        for (path, kind) in [
            (Path::new("/dev/zero"), "a character device"),
            (fifo.as_path(), "a FIFO (named pipe)"),
        ] {
            let error = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                store.put_file(path, &uri("s3://b/zeros")),
            )
            .await
            .expect("refused without reading")
            .expect_err("not a file");
            assert!(
                matches!(&error, StorageError::NotAFile { uri, kind: k } if *uri == path.display().to_string() && k == &kind),
                "{error:?}"
            );
        }
        assert_eq!(
            content_type_of(&memory, "s3://b/zeros"),
            None,
            "nothing uploaded"
        );
    }
}
