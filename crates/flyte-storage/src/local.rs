//! [`LocalStore`]: the local file system as a [`Store`].

use std::io;
use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryFutureExt;
use futures_util::stream::{self, BoxStream, StreamExt, TryChunksError, TryStreamExt};
use tokio::io::AsyncWriteExt;

use crate::error::{Result, StorageError};
use crate::store::{LIST_PAGE_LEN, ObjectMeta, Store};
use crate::temp_file::TempFile;
use crate::uri::StorageUri;
use crate::walk::walk_local_dir;

/// The local file system as a [`Store`], for plain paths and `file://` URIs.
///
/// Built on `tokio::fs`. Every write goes to a temporary file beside its target
/// (`.<name>.<random>.tmp`) that is renamed over the target once complete, so a reader
/// sees the old file or the new one, never part of one; the temporary file is removed
/// if the write fails or is abandoned. Parent directories are created as needed.
/// File copies are done by the kernel where it can (`std::fs::copy`), which also copies
/// the source's permission bits.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStore;

impl LocalStore {
    /// A store for the local file system.
    pub fn new() -> Self {
        Self
    }
}

/// The local path of `uri`, or an error saying this store serves only local paths.
fn local_path(uri: &StorageUri) -> Result<&Path> {
    uri.local_path().ok_or_else(|| StorageError::InvalidUri {
        uri: uri.to_string(),
        reason: "the local file store serves only local paths and file:// URIs".to_owned(),
    })
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[async_trait]
impl Store for LocalStore {
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64> {
        copy_atomically(local_path(from)?, &from.to_string(), to, &display(to)).await
    }

    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64> {
        copy_atomically(from, &display(from), local_path(to)?, &to.to_string()).await
    }

    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
        let path = local_path(from)?;
        let contents = tokio::fs::read(path)
            .await
            .map_err(|e| StorageError::from_io(from.to_string(), e))?;
        Ok(Bytes::from(contents))
    }

    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
        let path = local_path(to)?;
        let uri = to.to_string();
        let (mut file, temp) = TempFile::create_beside(path, &uri).await?;
        file.write_all(&bytes)
            .await
            .map_err(|e| StorageError::from_io(&uri, e))?;
        file.flush()
            .await
            .map_err(|e| StorageError::from_io(&uri, e))?;
        drop(file);
        temp.rename_to(path, &uri).await
    }

    /// The directory walk, in pages of 1,000 files.
    fn list_pages<'a>(&'a self, prefix: &'a StorageUri) -> BoxStream<'a, Result<Vec<ObjectMeta>>> {
        async move {
            let root = local_path(prefix)?;
            match tokio::fs::metadata(root).await {
                Ok(metadata) if metadata.is_dir() => {}
                // Not a directory, or nothing there: no object under the prefix.
                Ok(_) => return Ok(stream::empty().boxed()),
                Err(e) if is_absent(&e) => return Ok(stream::empty().boxed()),
                Err(e) => return Err(StorageError::from_io(prefix.to_string(), e)),
            }
            let pages = walk_local_dir(root)
                .await?
                .and_then(move |file| async move {
                    Ok(ObjectMeta {
                        uri: prefix.join(&file.key)?,
                        key: file.key,
                        size: file.size,
                    })
                })
                .try_chunks(LIST_PAGE_LEN)
                .map_err(|TryChunksError(_, error)| error);
            Ok(pages.boxed())
        }
        .try_flatten_stream()
        .boxed()
    }

    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>> {
        match tokio::fs::metadata(local_path(uri)?).await {
            Ok(metadata) => Ok(metadata.is_file().then_some(metadata.len())),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(StorageError::from_io(uri.to_string(), e)),
        }
    }

    async fn delete(&self, uri: &StorageUri) -> Result<()> {
        match tokio::fs::remove_file(local_path(uri)?).await {
            Err(e) if !is_absent(&e) => Err(StorageError::from_io(uri.to_string(), e)),
            _ => Ok(()),
        }
    }
}

/// Nothing at the path: it is missing, or one of its parents is a file.
fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Copies the file `from` to `to` through a temporary file beside `to`.
async fn copy_atomically(from: &Path, from_uri: &str, to: &Path, to_uri: &str) -> Result<u64> {
    let metadata = tokio::fs::metadata(from)
        .await
        .map_err(|e| StorageError::from_io(from_uri, e))?;
    if metadata.is_dir() {
        return Err(StorageError::directory_given_as_file(from_uri.to_owned()));
    }
    let (file, temp) = TempFile::create_beside(to, to_uri).await?;
    drop(file);
    let bytes = tokio::fs::copy(from, temp.path()).await.map_err(|e| {
        // The source vanishing or refusing to be read is about the source.
        if matches!(e.kind(), io::ErrorKind::NotFound) {
            StorageError::from_io(from_uri, e)
        } else {
            StorageError::from_io(to_uri, e)
        }
    })?;
    temp.rename_to(to, to_uri).await?;
    Ok(bytes)
}
