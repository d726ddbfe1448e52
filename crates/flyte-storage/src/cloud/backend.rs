//! The backend contract: what one kind of object store (S3, GCS, Azure) provides to the
//! engine, and how it reports what went wrong.
//!
//! A backend is a handful of primitive requests ([`ObjectBackend`]) on objects addressed
//! by [`ObjectPath`]. Each call is one attempt of one request. A backend reports
//! faults ([`Fault`]) as the store answered them and nothing more: it never retries,
//! never decides that a missing object means "absent", and never builds a
//! [`StorageError`]; the engine does all of that, once for every backend.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::config::UploadOptions;
use crate::error::{Result, StorageError, TransferPhase};
use crate::uri::{Location, StorageUri};

/// The page size every backend asks its store for.
pub(crate) use crate::store::LIST_PAGE;

/// A boxed error from an SDK or HTTP client.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a backend saw, which decides retrying and the error's variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The store found nothing to answer with: a 404 that does not say what is missing.
    /// The object, or the bucket it would be in; the engine tells which.
    NotFound,
    /// The store said that the bucket or container does not exist.
    NoSuchBucket,
    /// Authentication failed or access was refused.
    Denied,
    /// Throttling, a server-side failure, a timeout or a broken connection: worth
    /// another attempt.
    Transient,
    /// The configuration cannot work (missing account, unparsable connection string).
    /// The S3 and memory backends never report it: their clients build from any
    /// configuration.
    #[cfg_attr(not(any(test, feature = "gcs", feature = "azure")), allow(dead_code))]
    Config,
    /// Anything else: final.
    Other,
}

/// A failed request, sorted by [`Fault`].
#[derive(Debug)]
pub(crate) struct BackendError {
    pub(crate) fault: Fault,
    pub(crate) source: BoxError,
    /// Set when the attempt was abandoned because bytes stopped moving.
    pub(crate) timeout: Option<TimedOut>,
}

/// Which bound an abandoned attempt ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimedOut {
    /// The HTTP client's connect timeout (`retry.connect_timeout`).
    Connect,
    /// The HTTP client's read timeout (`retry.no_progress_timeout`): no answer, or no
    /// bytes of it, for that long. What was under way is the engine's to say.
    Read,
    /// The engine's own watch: nothing moved `during` this phase for `after`.
    Engine {
        during: TransferPhase,
        after: Duration,
    },
}

impl BackendError {
    /// A failure the store or its SDK reported. Its text is redacted here, where it
    /// enters the crate, because SDK errors quote request URLs (SAS tokens, signed
    /// queries) and configuration (`user:secret@` endpoints): nothing downstream (retry
    /// logs, [`StorageError`] chains, the bridge, error documents) can then leak them.
    pub(crate) fn new(fault: Fault, source: impl Into<BoxError>) -> Self {
        Self {
            fault,
            source: crate::redact::RedactedError::boxed(source.into()),
            timeout: None,
        }
    }

    /// A failure of the local file a download writes to: it names only a local path,
    /// and is kept as is so that the engine can tell it apart from the store's.
    pub(crate) fn local_file(source: impl Into<BoxError>) -> Self {
        Self {
            fault: Fault::Other,
            source: source.into(),
            timeout: None,
        }
    }

    /// A transient failure: the attempt ran into `timeout`.
    pub(crate) fn timed_out(timeout: TimedOut, source: impl Into<BoxError>) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::new(Fault::Transient, source)
        }
    }
}

/// The timeout of an HTTP client's error anywhere in `error`'s chain: reqwest's
/// (GCS's JSON path, Azure) tells connecting from reading; the S3 backend sorts its
/// SDK's errors itself.
#[cfg(any(feature = "gcs", feature = "azure"))]
pub(crate) fn reqwest_timeout(error: &(dyn std::error::Error + 'static)) -> Option<TimedOut> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(http) = error.downcast_ref::<reqwest::Error>()
            && http.is_timeout()
        {
            return Some(if http.is_connect() {
                TimedOut::Connect
            } else {
                TimedOut::Read
            });
        }
        current = error.source();
    }
    None
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

/// An object's address inside its store, split out of a [`StorageUri`] (the memory
/// backend takes any scheme's `scheme://bucket/key`).
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
    /// The object `uri` addresses; a local path is [`StorageError::InvalidUri`].
    pub(crate) fn of(uri: &StorageUri) -> Result<Self> {
        match uri.location() {
            Location::S3 { bucket, key }
            | Location::Gcs { bucket, key }
            | Location::Other { bucket, key, .. } => Ok(Self {
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

/// One answer of [`ObjectBackend::list_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListPage {
    /// The objects on this page.
    pub(crate) objects: Vec<Listed>,
    /// The token of the next page; `None` on the last.
    pub(crate) next: Option<String>,
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
    /// The backend takes [`PartBody::File`] and reads the range as it sends it, so a
    /// part in flight holds no part-sized buffer (S3). Otherwise every part comes as
    /// [`PartBody::Bytes`] (GCS resumable chunks, Azure blocks: their clients take
    /// bodies in memory).
    pub(crate) streams_from_file: bool,
}

/// The bytes of one upload part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartBody {
    /// Read into memory by the engine.
    Bytes(Bytes),
    /// `len` bytes at `offset` of the local file at `path`, read by the backend while it
    /// sends them, afresh on every attempt; only for backends whose
    /// [`PartRules::streams_from_file`] is set. A failure to read them is reported as
    /// [`BackendError::local_file`] of a [`LocalRead`].
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl PartBody {
    /// The bytes in memory: what a backend that does not stream from files takes.
    /// A file range here is the engine's mistake, reported as a final failure.
    #[cfg_attr(not(any(feature = "gcs", feature = "azure")), allow(dead_code))]
    pub(crate) fn into_bytes(self) -> BackendResult<Bytes> {
        match self {
            Self::Bytes(bytes) => Ok(bytes),
            Self::File { path, .. } => Err(BackendError::new(
                Fault::Other,
                format!(
                    "this store takes upload parts in memory, not streamed from {}",
                    path.display()
                ),
            )),
        }
    }
}

/// Reading an upload part's range of its local file failed (it vanished, shrank, or
/// could not be read): told apart from the store's failures so that the error names
/// the file, not the object.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct LocalRead(pub(crate) std::io::Error);

/// What a local file that ends before byte `end` of its upload is: it shrank after the
/// upload started.
pub(crate) fn file_shrank(end: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!(
            "the file ends before byte {end} of the upload: it shrank after the upload started"
        ),
    )
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

/// What a new object is created with: the store's [`UploadOptions`] and the content
/// type settled for this object. Passed to the requests that create objects
/// ([`ObjectBackend::put`], [`ObjectBackend::start_upload`],
/// [`ObjectBackend::upload_part`] and [`ObjectBackend::complete_upload`]); each
/// backend sends what its store takes there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewObject<'a> {
    pub(crate) options: &'a UploadOptions,
    pub(crate) content_type: Option<&'a str>,
}

/// The primitive requests of one kind of object store. Each call is one attempt: the
/// engine retries.
#[async_trait]
pub(crate) trait ObjectBackend: fmt::Debug + Send + Sync + 'static {
    /// The object's size. No object at exactly that key is a [`Fault::NotFound`] (or
    /// [`Fault::NoSuchBucket`] when the store says that the bucket is missing).
    async fn head(&self, object: &ObjectPath) -> BackendResult<u64>;

    /// Succeeds when the bucket (container) of `object` exists. A missing one is
    /// [`Fault::NotFound`] or [`Fault::NoSuchBucket`]. The engine asks this when a
    /// request on an object found nothing, to tell a missing object from a missing
    /// bucket, so it should be the cheapest request that needs no more rights than
    /// reading objects does.
    async fn probe_bucket(&self, object: &ObjectPath) -> BackendResult<()>;

    /// The object's bytes in `range` (start inclusive, end exclusive), or all of them.
    async fn get(
        &self,
        object: &ObjectPath,
        range: Option<(u64, u64)>,
    ) -> BackendResult<ByteStream>;

    /// Writes a whole object in one request.
    async fn put(&self, object: &ObjectPath, body: Bytes, new: NewObject<'_>) -> BackendResult<()>;

    /// How objects above one chunk are uploaded.
    fn part_rules(&self) -> PartRules;

    /// Starts a multipart upload of an object to be created as `new` says; returns its
    /// id.
    async fn start_upload(&self, object: &ObjectPath, new: NewObject<'_>) -> BackendResult<String>;

    /// Uploads one part of the object `new` describes (Azure encrypts each block with
    /// the object's encryption scope); returns what [`complete_upload`] needs of it.
    ///
    /// [`complete_upload`]: ObjectBackend::complete_upload
    async fn upload_part(
        &self,
        object: &ObjectPath,
        upload_id: &str,
        part: Part,
        body: PartBody,
        new: NewObject<'_>,
    ) -> BackendResult<String>;

    /// Commits the parts, in order, into the object `new` describes (the same as for
    /// [`start_upload`](ObjectBackend::start_upload): stores that create the object
    /// only here, as Azure does, take its properties now).
    async fn complete_upload(
        &self,
        object: &ObjectPath,
        upload_id: &str,
        parts: Vec<String>,
        new: NewObject<'_>,
    ) -> BackendResult<()>;

    /// Abandons an upload (best effort: the engine ignores its failure).
    async fn abort_upload(&self, object: &ObjectPath, upload_id: &str) -> BackendResult<()>;

    /// One page of the objects whose key starts with `prefix.key`, with full keys, in
    /// any order: the first page when `token` is `None`, else the page after the one
    /// whose [`ListPage::next`] it is.
    async fn list_page(
        &self,
        prefix: &ObjectPath,
        token: Option<String>,
    ) -> BackendResult<ListPage>;

    /// Deletes one object; a missing object is [`Fault::NotFound`] or success.
    async fn delete(&self, object: &ObjectPath) -> BackendResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_faults() {
        assert_eq!(fault_of_status(403), Fault::Denied);
        assert_eq!(fault_of_status(404), Fault::NotFound);
        for transient in [408, 429, 500, 502, 503, 504] {
            assert_eq!(fault_of_status(transient), Fault::Transient, "{transient}");
        }
        assert_eq!(fault_of_status(400), Fault::Other);
    }
}
