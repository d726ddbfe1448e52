//! The transfer engine every object store shares: [`CloudStore`] implements [`Store`]
//! on top of a few primitive requests ([`ObjectBackend`]) that each backend (S3, GCS,
//! Azure) provides.
//!
//! What lives here rather than in the backends, so that all three behave alike:
//! - streaming both ways: downloads go from the response body to disk, uploads read the
//!   file one part at a time; no object is held whole in memory;
//! - multipart / block uploads above one chunk, with parts in parallel;
//! - ranged parallel downloads of objects larger than one chunk;
//! - a memory budget of `chunk_size × chunk_concurrency` bytes shared by every
//!   transfer of a [`Storage`](crate::Storage), so memory does not grow with data size
//!   or with the number of files in flight;
//! - retries with exponential backoff and full jitter on throttling, 5xx, timeouts
//!   and resets, and nowhere else;
//! - the mapping of failures to [`StorageError`]s that name the URI;
//! - atomic local writes (temporary file, then rename), as the local store does.

use std::fmt;
use std::io::SeekFrom;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::{RetryPolicy, StorageConfig};
use crate::error::{Result, StorageError};
use crate::store::{ObjectMeta, Store};
use crate::temp_file::TempFile;
use crate::uri::{Location, StorageUri};

/// A boxed error from an SDK or HTTP client.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a backend saw, which decides retrying and the error's variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The object (or, for an upload, the source) does not exist.
    NotFound,
    /// The bucket or container does not exist.
    NoSuchBucket,
    /// Authentication failed or access was refused.
    Denied,
    /// Throttling, a server-side failure, a timeout or a broken connection: worth
    /// another attempt.
    Transient,
    /// The configuration cannot work (missing account, unparsable connection string).
    Config,
    /// Anything else: final.
    Other,
}

/// A failed request, sorted by [`Fault`].
#[derive(Debug)]
pub(crate) struct BackendError {
    pub(crate) fault: Fault,
    pub(crate) source: BoxError,
}

impl BackendError {
    pub(crate) fn new(fault: Fault, source: impl Into<BoxError>) -> Self {
        Self {
            fault,
            source: source.into(),
        }
    }
}

/// The fault an HTTP status means, before any store-specific error code is read.
pub(crate) fn fault_of_status(status: u16) -> Fault {
    match status {
        401 | 403 => Fault::Denied,
        404 => Fault::NotFound,
        // Request timeout, throttling, and every server-side failure.
        408 | 429 | 500..=599 => Fault::Transient,
        _ => Fault::Other,
    }
}

/// `Result` of a backend request.
pub(crate) type BackendResult<T> = std::result::Result<T, BackendError>;

/// An object's address inside its store, split out of a [`StorageUri`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectPath {
    /// The bucket (S3, GCS) or container (Azure).
    pub(crate) bucket: String,
    /// The key, object name or blob path; a prefix for listings.
    pub(crate) key: String,
    /// The account host an `abfs://container@host/…` URI names.
    pub(crate) host: Option<String>,
}

impl ObjectPath {
    fn of(uri: &StorageUri) -> Result<Self> {
        match uri.location() {
            Location::S3 { bucket, key } | Location::Gcs { bucket, key } => Ok(Self {
                bucket: bucket.clone(),
                key: key.clone(),
                host: None,
            }),
            Location::Azure {
                container,
                host,
                path,
            } => Ok(Self {
                bucket: container.clone(),
                key: path.clone(),
                host: host.clone(),
            }),
            Location::Local(_) => Err(StorageError::InvalidUri {
                uri: uri.to_string(),
                reason: "an object store serves only its own URIs, not local paths".to_owned(),
            }),
        }
    }

    /// The same bucket with another key.
    pub(crate) fn with_key(&self, key: String) -> Self {
        Self {
            key,
            ..self.clone()
        }
    }
}

/// One object found by [`ObjectBackend::list`]: full key and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) key: String,
    pub(crate) size: u64,
}

/// A response body, chunk by chunk.
pub(crate) type ByteStream = BoxStream<'static, BackendResult<Bytes>>;

/// How a backend uploads objects larger than one chunk: in parts, committed at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartRules {
    /// The smallest part but the last (S3: 5 MiB).
    pub(crate) min_part: u64,
    /// Parts of an object at most (S3: 10,000).
    pub(crate) max_parts: u64,
    /// Every part but the last is a multiple of this (GCS: 256 KiB).
    pub(crate) part_multiple: u64,
    /// Parts must arrive in order, one at a time (GCS resumable uploads); otherwise
    /// they go in parallel (S3 multipart, Azure blocks).
    pub(crate) sequential: bool,
}

/// One part of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    /// 0-based position among the parts.
    pub(crate) index: u32,
    /// Offset of its first byte in the object.
    pub(crate) offset: u64,
    /// Size of the whole object.
    pub(crate) total: u64,
}

/// The primitive requests of one kind of object store. Each call is one attempt: the
/// engine retries.
#[async_trait]
pub(crate) trait ObjectBackend: fmt::Debug + Send + Sync + 'static {
    /// The object's size, or `None` when there is no object at exactly that key.
    async fn head(&self, object: &ObjectPath) -> BackendResult<Option<u64>>;

    /// The object's bytes in `range` (start inclusive, end exclusive), or all of them.
    async fn get(
        &self,
        object: &ObjectPath,
        range: Option<(u64, u64)>,
    ) -> BackendResult<ByteStream>;

    /// Writes a whole object in one request.
    async fn put(&self, object: &ObjectPath, body: Bytes) -> BackendResult<()>;

    /// How objects above one chunk are uploaded.
    fn part_rules(&self) -> PartRules;

    /// Starts a multipart upload; returns its id.
    async fn start_upload(&self, object: &ObjectPath) -> BackendResult<String>;

    /// Uploads one part; returns what [`complete_upload`] needs of it.
    ///
    /// [`complete_upload`]: ObjectBackend::complete_upload
    async fn upload_part(
        &self,
        object: &ObjectPath,
        upload_id: &str,
        part: Part,
        body: Bytes,
    ) -> BackendResult<String>;

    /// Commits the parts, in order.
    async fn complete_upload(
        &self,
        object: &ObjectPath,
        upload_id: &str,
        parts: Vec<String>,
    ) -> BackendResult<()>;

    /// Abandons an upload (best effort: the engine ignores its failure).
    async fn abort_upload(&self, object: &ObjectPath, upload_id: &str) -> BackendResult<()>;

    /// Every object whose key starts with `prefix.key`, with full keys, in any order.
    async fn list(&self, prefix: &ObjectPath) -> BackendResult<Vec<Listed>>;

    /// Deletes one object; a missing object is [`Fault::NotFound`] or success.
    async fn delete(&self, object: &ObjectPath) -> BackendResult<()>;
}

/// What all the cloud stores of one [`Storage`](crate::Storage) share: the transfer
/// settings and the memory budget.
#[derive(Debug)]
pub(crate) struct Transfers {
    chunk_size: u64,
    chunk_concurrency: usize,
    retry: RetryPolicy,
    /// Bytes of object data in memory, counted in KiB so that budgets above 4 GiB fit
    /// the semaphore's `u32` requests.
    budget: Semaphore,
    budget_kib: u32,
    /// Part buffers kept for the next part. Freeing an 8 MiB buffer on one thread and
    /// allocating the next on another makes glibc keep both (its mmap threshold grows
    /// and each thread has its own arena): measured, a 1 GiB upload peaked at 86 MiB
    /// without reuse and 54 MiB with a fixed threshold.
    buffers: std::sync::Mutex<Vec<bytes::BytesMut>>,
}

impl Transfers {
    pub(crate) fn new(config: &StorageConfig) -> Self {
        let chunk_size = config.chunk_size.max(1) as u64;
        let chunk_concurrency = config.chunk_concurrency.max(1);
        let budget_kib = (chunk_size.saturating_mul(chunk_concurrency as u64) / 1024)
            .clamp(1, u64::from(u32::MAX >> 4)) as u32;
        Self {
            chunk_size,
            chunk_concurrency,
            retry: config.retry.clone(),
            budget: Semaphore::new(budget_kib as usize),
            budget_kib,
            buffers: std::sync::Mutex::default(),
        }
    }

    /// A buffer of `len` bytes, reused when one is free.
    fn buffer(&self, len: usize) -> bytes::BytesMut {
        let reused = self.buffers.lock().expect("never poisoned").pop();
        let mut buffer = reused.unwrap_or_default();
        buffer.clear();
        buffer.resize(len, 0);
        buffer
    }

    /// Keeps the buffer behind `bytes` for the next part, if nothing else holds it.
    fn recycle(&self, bytes: Bytes) {
        if let Ok(buffer) = bytes.try_into_mut() {
            let mut buffers = self.buffers.lock().expect("never poisoned");
            if buffers.len() < self.chunk_concurrency {
                buffers.push(buffer);
            }
        }
    }

    /// Waits until `bytes` more may be held in memory. A single buffer larger than the
    /// whole budget takes all of it.
    async fn reserve(&self, bytes: u64) -> SemaphorePermit<'_> {
        let kib = bytes.div_ceil(1024).clamp(1, u64::from(self.budget_kib)) as u32;
        self.budget
            .acquire_many(kib)
            .await
            .expect("the budget semaphore is never closed")
    }

    /// Runs `attempt` until it succeeds, fails for good, or attempts run out, sleeping
    /// with exponential backoff and full jitter between attempts.
    async fn retry<T, F, Fut>(&self, uri: &StorageUri, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = BackendResult<T>>,
    {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = tokio::time::timeout(self.retry.attempt_timeout, attempt())
                .await
                .unwrap_or_else(|_| {
                    Err(BackendError::new(
                        Fault::Transient,
                        format!(
                            "no answer within {:?} (retry.attempt_timeout)",
                            self.retry.attempt_timeout
                        ),
                    ))
                });
            match outcome {
                Ok(value) => return Ok(value),
                Err(error) if error.fault == Fault::Transient && attempts < max_attempts => {
                    let delay = backoff(&self.retry, attempts);
                    tracing::debug!(
                        uri = %uri,
                        attempt = attempts,
                        ?delay,
                        error = %error.source,
                        "retrying a failed storage request"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(error) => return Err(storage_error(uri, None, error, attempts)),
            }
        }
    }
}

/// The wait before attempt `failed + 1`: uniform in `[0, min(max, initial × 2^(failed-1)))`
/// ("full jitter"), so clients that failed together do not retry together.
fn backoff(policy: &RetryPolicy, failed: u32) -> std::time::Duration {
    let ceiling = policy
        .initial_backoff
        .saturating_mul(1u32 << (failed - 1).min(20))
        .min(policy.max_backoff);
    ceiling.mul_f64(fastrand::f64())
}

/// The [`StorageError`] for a backend failure on `uri`.
fn storage_error(
    uri: &StorageUri,
    object: Option<&ObjectPath>,
    error: BackendError,
    attempts: u32,
) -> StorageError {
    let uri_text = uri.to_string();
    match error.fault {
        Fault::NotFound => StorageError::NotFound { uri: uri_text },
        Fault::NoSuchBucket => StorageError::NoSuchBucket {
            uri: uri_text,
            bucket: object.map_or_else(
                || ObjectPath::of(uri).map(|o| o.bucket).unwrap_or_default(),
                |o| o.bucket.clone(),
            ),
        },
        Fault::Denied => StorageError::PermissionDenied {
            uri: uri_text,
            source: error.source,
        },
        Fault::Config => StorageError::Config {
            uri: uri_text,
            reason: error.source.to_string(),
        },
        Fault::Transient | Fault::Other => StorageError::Remote {
            uri: uri_text,
            attempts,
            source: error.source,
        },
    }
}

/// An object store as a [`Store`]: the engine around one [`ObjectBackend`].
pub(crate) struct CloudStore {
    backend: Arc<dyn ObjectBackend>,
    transfers: Arc<Transfers>,
}

impl fmt::Debug for CloudStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl CloudStore {
    pub(crate) fn new(backend: Arc<dyn ObjectBackend>, transfers: Arc<Transfers>) -> Self {
        Self { backend, transfers }
    }

    /// Size of the object at `uri`, or [`StorageError::NotFound`].
    async fn size_of(&self, uri: &StorageUri, object: &ObjectPath) -> Result<u64> {
        self.transfers
            .retry(uri, || self.backend.head(object))
            .await?
            .ok_or_else(|| StorageError::NotFound {
                uri: uri.to_string(),
            })
    }

    /// Streams `range` of the object into the already open temporary file at `path`,
    /// writing at the range's offset. A body that breaks off is resumed from where it
    /// stopped, within the retry policy.
    async fn download_range(
        &self,
        uri: &StorageUri,
        object: &ObjectPath,
        path: &Path,
        range: Option<(u64, u64)>,
    ) -> Result<()> {
        let local_error = |e| StorageError::from_io(path.display().to_string(), e);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .await
            .map_err(local_error)?;
        let (start, end) = match range {
            Some((start, end)) => (start, Some(end)),
            None => (0, None),
        };
        let mut position = start;
        let max_attempts = self.transfers.retry.max_attempts.max(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt: BackendResult<()> = async {
                // The first attempt of a whole-object read sends no Range header: an
                // empty object has no satisfiable range.
                let request = match (range, position) {
                    (None, 0) => None,
                    _ => Some((position, end.unwrap_or(u64::MAX))),
                };
                let read_timeout = self.transfers.retry.read_timeout;
                let stalled = || {
                    BackendError::new(
                        Fault::Transient,
                        format!("no data for {read_timeout:?} (retry.read_timeout)"),
                    )
                };
                let mut body =
                    tokio::time::timeout(read_timeout, self.backend.get(object, request))
                        .await
                        .map_err(|_| stalled())??;
                file.seek(SeekFrom::Start(position))
                    .await
                    .map_err(|e| BackendError::new(Fault::Other, e))?;
                // A body that stops arriving counts as a broken connection.
                while let Some(chunk) = tokio::time::timeout(read_timeout, body.try_next())
                    .await
                    .map_err(|_| stalled())??
                {
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| BackendError::new(Fault::Other, e))?;
                    position += chunk.len() as u64;
                }
                Ok(())
            }
            .await;
            match attempt {
                Ok(()) => break,
                Err(error) if error.fault == Fault::Transient && attempts < max_attempts => {
                    tokio::time::sleep(backoff(&self.transfers.retry, attempts)).await;
                }
                Err(error) => return Err(storage_error(uri, Some(object), error, attempts)),
            }
        }
        if let Some(end) = end
            && position != end
        {
            return Err(StorageError::Remote {
                uri: uri.to_string(),
                attempts,
                source: format!(
                    "the store sent {} bytes of the range {start}..{end}",
                    position - start
                )
                .into(),
            });
        }
        file.flush().await.map_err(local_error)?;
        Ok(())
    }

    /// Reads `len` bytes at `offset` of the local file at `path` into a (reused) part
    /// buffer.
    ///
    /// One blocking positional read straight into the buffer: `tokio::fs` would copy
    /// through buffers of its own on the blocking pool's threads.
    async fn read_part(&self, path: &Path, offset: u64, len: u64) -> Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let owned = path.to_path_buf();
        let mut buffer = self.transfers.buffer(len as usize);
        let read = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&owned)?;
            file.read_exact_at(&mut buffer, offset)?;
            Ok::<_, std::io::Error>(buffer)
        })
        .await
        .map_err(|e| StorageError::Io {
            uri: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        read.map(bytes::BytesMut::freeze)
            .map_err(|e| StorageError::from_io(path.display().to_string(), e))
    }

    /// Downloads the `size`-byte object into `to` through a temporary file beside it:
    /// one streamed request up to a chunk, ranged parallel requests above.
    async fn download(
        &self,
        from: &StorageUri,
        object: &ObjectPath,
        to: &Path,
        size: u64,
    ) -> Result<u64> {
        let to_text = to.display().to_string();
        let (file, temp) = TempFile::create_beside(to, &to_text).await?;
        if size > self.transfers.chunk_size {
            // Pre-size the file so that ranges can land anywhere in it.
            file.set_len(size)
                .await
                .map_err(|e| StorageError::from_io(&to_text, e))?;
        }
        drop(file);
        if size > self.transfers.chunk_size {
            let chunk = self.transfers.chunk_size;
            let ranges = (0..size.div_ceil(chunk)).map(|index| {
                let start = index * chunk;
                let end = (start + chunk).min(size);
                self.download_range(from, object, temp.path(), Some((start, end)))
            });
            stream::iter(ranges)
                .buffer_unordered(self.transfers.chunk_concurrency)
                .try_collect::<Vec<()>>()
                .await?;
        } else if size > 0 {
            self.download_range(from, object, temp.path(), None).await?;
        }
        temp.rename_to(to, &to_text).await?;
        Ok(size)
    }

    async fn upload_in_parts(
        &self,
        from: &Path,
        to: &StorageUri,
        object: &ObjectPath,
        size: u64,
        rules: PartRules,
    ) -> Result<()> {
        let part_size = self
            .transfers
            .chunk_size
            .max(rules.min_part)
            .max(size.div_ceil(rules.max_parts))
            .next_multiple_of(rules.part_multiple.max(1));
        let parts = size.div_ceil(part_size);
        let upload_id = self
            .transfers
            .retry(to, || self.backend.start_upload(object))
            .await?;
        let uploads = (0..parts).map(|index| {
            let upload_id = &upload_id;
            async move {
                let offset = index * part_size;
                let len = part_size.min(size - offset);
                let _permit = self.transfers.reserve(len).await;
                let body = self.read_part(from, offset, len).await?;
                let part = Part {
                    index: index as u32,
                    offset,
                    total: size,
                };
                let tag = self
                    .transfers
                    .retry(to, || {
                        self.backend
                            .upload_part(object, upload_id, part, body.clone())
                    })
                    .await;
                self.transfers.recycle(body);
                Ok::<_, StorageError>((index, tag?))
            }
        });
        let parallel = if rules.sequential {
            1
        } else {
            self.transfers.chunk_concurrency
        };
        // `buffered` keeps the order, which is what sequential parts need.
        let result = stream::iter(uploads)
            .buffered(parallel)
            .try_collect::<Vec<_>>()
            .await;
        let mut tags = match result {
            Ok(tags) => tags,
            Err(error) => {
                // Best effort: the upload's failure is the error worth reporting, and
                // stores expire abandoned parts anyway.
                let _ = self.backend.abort_upload(object, &upload_id).await;
                return Err(error);
            }
        };
        tags.sort_unstable_by_key(|(index, _)| *index);
        let tags: Vec<String> = tags.into_iter().map(|(_, tag)| tag).collect();
        let completed = self
            .transfers
            .retry(to, || {
                self.backend
                    .complete_upload(object, &upload_id, tags.clone())
            })
            .await;
        if completed.is_err() {
            let _ = self.backend.abort_upload(object, &upload_id).await;
        }
        completed
    }
}

#[async_trait]
impl Store for CloudStore {
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64> {
        let object = ObjectPath::of(from)?;
        let size = self.size_of(from, &object).await?;
        self.download(from, &object, to, size).await
    }

    /// Uses the size the listing gave, so a tree of small files costs one request per
    /// file instead of two.
    async fn get_listed_file(&self, object: &ObjectMeta, to: &Path) -> Result<u64> {
        let path = ObjectPath::of(&object.uri)?;
        self.download(&object.uri, &path, to, object.size).await
    }

    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64> {
        let object = ObjectPath::of(to)?;
        let from_text = from.display().to_string();

        let metadata = tokio::fs::metadata(from)
            .await
            .map_err(|e| StorageError::from_io(&from_text, e))?;
        if metadata.is_dir() {
            return Err(StorageError::Io {
                uri: from_text,
                source: std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "is a directory, not a file: transfer it as a directory",
                ),
            });
        }
        let size = metadata.len();
        if size <= self.transfers.chunk_size {
            let _permit = self.transfers.reserve(size).await;
            let body = self.read_part(from, 0, size).await?;
            let put = self
                .transfers
                .retry(to, || self.backend.put(&object, body.clone()))
                .await;
            self.transfers.recycle(body);
            put?;
            return Ok(size);
        }
        self.upload_in_parts(from, to, &object, size, self.backend.part_rules())
            .await?;
        Ok(size)
    }

    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
        let object = ObjectPath::of(from)?;
        self.transfers
            .retry(from, || async {
                let body = self.backend.get(&object, None).await?;
                let chunks: Vec<Bytes> = body.try_collect().await?;
                Ok(Bytes::from(chunks.concat()))
            })
            .await
    }

    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
        let object = ObjectPath::of(to)?;
        self.transfers
            .retry(to, || self.backend.put(&object, bytes.clone()))
            .await
    }

    async fn list(&self, prefix: &StorageUri) -> Result<Vec<ObjectMeta>> {
        let object = ObjectPath::of(prefix)?;
        // A prefix is a directory: "dir" and "dir/" both list what is under "dir/".
        let key_prefix = if object.key.is_empty() || object.key.ends_with('/') {
            object.key.clone()
        } else {
            format!("{}/", object.key)
        };
        let listing = object.with_key(key_prefix.clone());
        let found = self
            .transfers
            .retry(prefix, || self.backend.list(&listing))
            .await?;
        let mut objects = found
            .into_iter()
            .filter_map(|listed| {
                let key = listed.key.strip_prefix(&key_prefix)?.to_owned();
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
        objects.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>> {
        let object = ObjectPath::of(uri)?;
        if object.key.is_empty() || object.key.ends_with('/') {
            // A bucket or a prefix is never an object.
            return Ok(None);
        }
        self.transfers
            .retry(uri, || self.backend.head(&object))
            .await
    }

    async fn delete(&self, uri: &StorageUri) -> Result<()> {
        let object = ObjectPath::of(uri)?;
        match self
            .transfers
            .retry(uri, || self.backend.delete(&object))
            .await
        {
            Err(StorageError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_grows_exponentially_below_its_cap_with_jitter() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            assert!(backoff(&policy, 1) < Duration::from_millis(100));
            assert!(backoff(&policy, 3) < Duration::from_millis(400));
            assert!(backoff(&policy, 30) < Duration::from_millis(1000));
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| backoff(&policy, 4)).collect();
        assert!(spread.len() > 1, "waits are jittered");
    }

    #[test]
    fn statuses_sort_into_faults() {
        assert_eq!(fault_of_status(403), Fault::Denied);
        assert_eq!(fault_of_status(404), Fault::NotFound);
        for transient in [408, 429, 500, 502, 503, 504] {
            assert_eq!(fault_of_status(transient), Fault::Transient, "{transient}");
        }
        assert_eq!(fault_of_status(400), Fault::Other);
    }

    #[derive(Debug, Default)]
    struct Flaky {
        failures_left: std::sync::atomic::AtomicU32,
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_final_ones_are_not() {
        let transfers = Transfers::new(&StorageConfig {
            retry: RetryPolicy {
                initial_backoff: Duration::from_millis(1),
                ..RetryPolicy::default()
            },
            ..StorageConfig::default()
        });
        let uri = StorageUri::parse("s3://b/k").expect("valid");
        let flaky = Flaky::default();
        flaky
            .failures_left
            .store(3, std::sync::atomic::Ordering::SeqCst);
        let value = transfers
            .retry(&uri, || async {
                if flaky
                    .failures_left
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    )
                    .is_ok()
                {
                    Err(BackendError::new(Fault::Transient, "503 SlowDown"))
                } else {
                    Ok(7)
                }
            })
            .await
            .expect("succeeds on the fourth attempt");
        assert_eq!(value, 7);

        let mut calls = 0;
        let error = transfers
            .retry(&uri, || {
                calls += 1;
                async { Err::<(), _>(BackendError::new(Fault::Denied, "403")) }
            })
            .await
            .expect_err("denied");
        assert_eq!(calls, 1, "a refusal is final");
        assert!(matches!(error, StorageError::PermissionDenied { .. }));

        let error = transfers
            .retry(&uri, || async {
                Err::<(), _>(BackendError::new(Fault::Transient, "reset"))
            })
            .await
            .expect_err("gives up");
        match error {
            StorageError::Remote { uri, attempts, .. } => {
                assert_eq!((uri.as_str(), attempts), ("s3://b/k", 5));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_memory_budget_bounds_what_is_reserved_at_once() {
        let transfers = Transfers::new(&StorageConfig {
            chunk_size: 1024 * 1024,
            chunk_concurrency: 2,
            ..StorageConfig::default()
        });
        let first = transfers.reserve(1024 * 1024).await;
        let _second = transfers.reserve(1024 * 1024).await;
        let third = tokio::time::timeout(Duration::from_millis(50), transfers.reserve(1)).await;
        assert!(third.is_err(), "the budget is spent");
        drop(first);
        drop(_second);
        // One buffer larger than the whole budget takes all of it rather than waiting
        // forever.
        let huge =
            tokio::time::timeout(Duration::from_secs(5), transfers.reserve(u64::MAX / 2)).await;
        assert!(huge.is_ok());
    }
}
