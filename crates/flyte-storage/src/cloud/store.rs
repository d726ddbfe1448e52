//! [`CloudStore`]: an object store as a [`Store`], the engine around one
//! [`ObjectBackend`].
//!
//! It owns what the operations mean to the caller: URIs in, [`ObjectPath`]s to the
//! backend; a prefix listed as a directory; the transfers handed to
//! [`Transfers`]; and every failure turned into a [`StorageError`] naming the URI, in
//! one place for all backends.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::TryStreamExt;

use super::backend::{BackendResult, Fault, ObjectBackend, ObjectPath};
use super::transfers::{Failure, Transfers};
use crate::error::{Result, StorageError};
use crate::store::{ObjectMeta, Store};
use crate::uri::StorageUri;

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

    /// One request for `uri`, retried by the engine; a failure in the caller's terms.
    async fn request<T, F, Fut>(
        &self,
        uri: &StorageUri,
        object: &ObjectPath,
        attempt: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = BackendResult<T>>,
    {
        match self.transfers.retry(uri, attempt).await {
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
            Failure::Request { error, attempts } => (error, attempts),
        };
        let uri = uri.to_string();
        match error.fault {
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

    /// Size of the object at `uri`, or [`StorageError::NotFound`].
    async fn size_of(&self, uri: &StorageUri, object: &ObjectPath) -> Result<u64> {
        self.request(uri, object, || self.backend.head(object))
            .await?
            .ok_or_else(|| StorageError::NotFound {
                uri: uri.to_string(),
            })
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
            .download(self.backend.as_ref(), object, to, size)
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
            return Err(StorageError::directory_given_as_file(from_text));
        }
        let size = metadata.len();
        match self
            .transfers
            .upload(self.backend.as_ref(), to, from, &object, size)
            .await
        {
            Ok(()) => Ok(size),
            Err(failure) => Err(self.settle(to, &object, failure).await),
        }
    }

    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
        let object = ObjectPath::of(from)?;
        self.request(from, &object, || async {
            let body = self.backend.get(&object, None).await?;
            let chunks: Vec<Bytes> = body.try_collect().await?;
            Ok(Bytes::from(chunks.concat()))
        })
        .await
    }

    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
        let object = ObjectPath::of(to)?;
        self.request(to, &object, || self.backend.put(&object, bytes.clone()))
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
            .request(prefix, &object, || self.backend.list(&listing))
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
        self.request(uri, &object, || self.backend.head(&object))
            .await
    }

    async fn delete(&self, uri: &StorageUri) -> Result<()> {
        let object = ObjectPath::of(uri)?;
        match self
            .request(uri, &object, || self.backend.delete(&object))
            .await
        {
            Err(StorageError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }
}
