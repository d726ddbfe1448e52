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
///
/// The [`Storage`](crate::Storage) facade serves local paths with it; use it directly
/// where a [`Store`] is wanted.
///
/// ```
/// use flyte_storage::{LocalStore, StorageUri, Store, StoreExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// let dir = tempfile::tempdir().expect("temp dir");
/// let store = LocalStore::new();
/// let object = StorageUri::parse(&format!("file://{}/a/b.txt", dir.path().display()))?;
/// store.put_bytes(&object, "hello".into()).await?; // creates a/
/// assert_eq!(std::fs::read(dir.path().join("a/b.txt")).expect("read"), b"hello");
/// assert!(store.exists(&object).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStore;

impl LocalStore {
    /// A store for the local file system (the same as `LocalStore::default()`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{LocalStore, PrefixStore};
    /// // Local paths under a scratch directory, e.g. /a/b is /tmp/scratch/a/b.
    /// let scratch = PrefixStore::new(Arc::new(LocalStore::new()), "/tmp/scratch");
    /// ```
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
///
/// The source is opened without blocking and refused by its type before a byte is read
/// (a FIFO would block the copy forever, `/dev/zero` would never end); the copy goes
/// from that descriptor to the one the temporary file was created with, never through
/// either name again (see [`TempFile`]).
async fn copy_atomically(from: &Path, from_uri: &str, to: &Path, to_uri: &str) -> Result<u64> {
    let source = open_regular_file(from.to_owned(), from_uri.to_owned()).await?;
    let (file, temp) = TempFile::create_beside(to, to_uri).await?;
    let mut destination = file.into_std().await;
    let to_owned = to_uri.to_owned();
    let from_owned = from_uri.to_owned();
    let bytes = tokio::task::spawn_blocking(move || {
        let (mut source, permissions) = source;
        // std's File-to-File copy uses copy_file_range or sendfile where it can.
        let bytes = io::copy(&mut source, &mut destination).map_err(|e| {
            // A source that refuses to be read is about the source.
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) {
                StorageError::from_io(&from_owned, e)
            } else {
                StorageError::from_io(&to_owned, e)
            }
        })?;
        // As std::fs::copy does: the copy gets the source's permission bits.
        destination
            .set_permissions(permissions)
            .map_err(|e| StorageError::from_io(&to_owned, e))?;
        Ok::<_, StorageError>(bytes)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    temp.rename_to(to, to_uri).await?;
    Ok(bytes)
}

/// Opens `path` for reading if it is a regular file (or a link to one), with its
/// permissions; anything else is refused by its type, without waiting for a writer.
async fn open_regular_file(
    path: std::path::PathBuf,
    uri: String,
) -> Result<(std::fs::File, std::fs::Permissions)> {
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        // It changes nothing for a regular file, the only kind read from below.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&path)
            .map_err(|e| StorageError::from_io(&uri, e))?;
        let metadata = file
            .metadata()
            .map_err(|e| StorageError::from_io(&uri, e))?;
        StorageError::unless_regular_file(&metadata, &uri)?;
        Ok((file, metadata.permissions()))
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
