//! [`Storage`]: string URIs in, routed by scheme to the right [`Store`].

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Result, StorageError};
use crate::local::LocalStore;
use crate::store::{ObjectMeta, Store, TransferSummary};
use crate::uri::{Scheme, StorageUri};

/// How [`Storage`] moves bytes. Built by the caller (this crate reads no environment
/// and no arguments); construct with `StorageConfig { …, ..StorageConfig::default() }`
/// so that fields added later keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// Files moved at once by directory transfers (0 counts as 1). Default 16.
    pub transfer_concurrency: usize,
    /// Part size in bytes for streamed transfers to and from object stores (multipart
    /// upload parts, ranged reads). The local store lets the kernel copy and does not use
    /// it. Default 8 MiB.
    pub chunk_size: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            transfer_concurrency: 16,
            chunk_size: 8 * 1024 * 1024,
        }
    }
}

/// The storage the rest of the program uses: takes URIs as strings, parses them, and
/// routes each call to the store for its scheme.
///
/// Local paths and `file://` URIs go to [`LocalStore`]. `s3://`, `gs://` and `abfs://`
/// URIs parse, but give [`StorageError::BackendUnavailable`] until their backends land.
/// Cloning is cheap and clones share their stores.
#[derive(Debug, Clone)]
pub struct Storage {
    config: StorageConfig,
    local: Arc<LocalStore>,
}

impl Storage {
    /// Storage with the given configuration.
    pub fn new(config: StorageConfig) -> Self {
        Self {
            config,
            local: Arc::new(LocalStore::new()),
        }
    }

    /// The configuration this storage was built with.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// The store that serves `uri`.
    pub fn store_for(&self, uri: &StorageUri) -> Result<&dyn Store> {
        match uri.scheme() {
            Scheme::File => Ok(self.local.as_ref()),
            Scheme::S3 | Scheme::Gcs | Scheme::Azure => Err(StorageError::BackendUnavailable {
                uri: uri.to_string(),
                scheme: uri.scheme_name().to_owned(),
            }),
        }
    }

    fn route(&self, uri: &str) -> Result<(StorageUri, &dyn Store)> {
        let uri = StorageUri::parse(uri)?;
        let store = self.store_for(&uri)?;
        Ok((uri, store))
    }

    /// Reads a whole (small) object into memory, e.g. `inputs.pb`.
    pub async fn get_bytes(&self, uri: &str) -> Result<Bytes> {
        let (uri, store) = self.route(uri)?;
        store.get_bytes(&uri).await
    }

    /// Writes a whole (small) object, replacing any object there, e.g. `outputs.pb`.
    pub async fn put_bytes(&self, uri: &str, bytes: impl Into<Bytes>) -> Result<()> {
        let (uri, store) = self.route(uri)?;
        store.put_bytes(&uri, bytes.into()).await
    }

    /// Downloads one object into a local file; returns the bytes written.
    pub async fn get_file(&self, uri: &str, to: &Path) -> Result<u64> {
        let (uri, store) = self.route(uri)?;
        store.get_file(&uri, to).await
    }

    /// Uploads one local file; returns the bytes uploaded.
    pub async fn put_file(&self, from: &Path, uri: &str) -> Result<u64> {
        let (uri, store) = self.route(uri)?;
        store.put_file(from, &uri).await
    }

    /// Downloads every object under the prefix `uri` into the local directory `to`,
    /// [`transfer_concurrency`](StorageConfig::transfer_concurrency) at a time.
    pub async fn get_dir(&self, uri: &str, to: &Path) -> Result<TransferSummary> {
        let (uri, store) = self.route(uri)?;
        store
            .get_dir(&uri, to, self.config.transfer_concurrency)
            .await
    }

    /// Uploads every file under the local directory `from` to the prefix `uri`,
    /// [`transfer_concurrency`](StorageConfig::transfer_concurrency) at a time.
    pub async fn put_dir(&self, from: &Path, uri: &str) -> Result<TransferSummary> {
        let (uri, store) = self.route(uri)?;
        store
            .put_dir(from, &uri, self.config.transfer_concurrency)
            .await
    }

    /// Whether an object exists at exactly `uri`.
    pub async fn exists(&self, uri: &str) -> Result<bool> {
        let (uri, store) = self.route(uri)?;
        store.exists(&uri).await
    }

    /// Every object under the prefix `uri`, recursively, sorted by key.
    pub async fn list(&self, uri: &str) -> Result<Vec<ObjectMeta>> {
        let (uri, store) = self.route(uri)?;
        store.list(&uri).await
    }

    /// Deletes the object at `uri`; succeeds when there is none.
    pub async fn delete(&self, uri: &str) -> Result<()> {
        let (uri, store) = self.route(uri)?;
        store.delete(&uri).await
    }
}

impl Default for Storage {
    fn default() -> Self {
        Self::new(StorageConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_schemes_route_to_backend_unavailable_naming_the_scheme_as_written() {
        let storage = Storage::default();
        for (text, scheme) in [
            ("s3://b/k", "s3"),
            ("s3a://b/k", "s3a"),
            ("gs://b/k", "gs"),
            ("gcs://b/k", "gcs"),
            ("abfss://c@a.dfs.core.windows.net/p", "abfss"),
        ] {
            let uri = StorageUri::parse(text).expect("valid");
            match storage.store_for(&uri) {
                Err(error @ StorageError::BackendUnavailable { .. }) => {
                    let message = error.to_string();
                    assert!(message.contains(text), "{message}");
                    assert!(message.contains(&format!("{scheme}://")), "{message}");
                    assert!(
                        message.contains("not supported by this build yet"),
                        "{message}"
                    );
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn local_uris_route_to_the_local_store() {
        let storage = Storage::default();
        for text in ["/tmp/x", "rel", "file:///tmp/x"] {
            let uri = StorageUri::parse(text).expect("valid");
            assert!(storage.store_for(&uri).is_ok(), "{text}");
        }
    }
}
