//! [`LocalStore`]: the local file system as a [`Store`].

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::error::{Result, StorageError};
use crate::store::{ObjectMeta, Store};
use crate::uri::StorageUri;

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

    async fn list(&self, prefix: &StorageUri) -> Result<Vec<ObjectMeta>> {
        let root = local_path(prefix)?;
        match tokio::fs::metadata(root).await {
            Ok(metadata) if metadata.is_dir() => {}
            // Not a directory, or nothing there: no object under the prefix.
            Ok(_) => return Ok(Vec::new()),
            Err(e) if is_absent(&e) => return Ok(Vec::new()),
            Err(e) => return Err(StorageError::from_io(prefix.to_string(), e)),
        }
        walk_local_dir(root)
            .await?
            .into_iter()
            .map(|file| {
                Ok(ObjectMeta {
                    uri: prefix.join(&file.key)?,
                    key: file.key,
                    size: file.size,
                })
            })
            .collect()
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
        return Err(StorageError::Io {
            uri: from_uri.to_owned(),
            source: io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory, not a file: transfer it as a directory",
            ),
        });
    }
    let (file, temp) = TempFile::create_beside(to, to_uri).await?;
    drop(file);
    let bytes = tokio::fs::copy(from, &temp.path).await.map_err(|e| {
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

/// A temporary file that is removed when dropped, unless renamed into place.
pub(crate) struct TempFile {
    path: PathBuf,
    renamed: bool,
}

impl TempFile {
    /// Creates `.<name>.<random>.tmp` in `target`'s directory, creating that directory
    /// if needed.
    pub(crate) async fn create_beside(
        target: &Path,
        target_uri: &str,
    ) -> Result<(tokio::fs::File, Self)> {
        let name = target.file_name().ok_or_else(|| StorageError::InvalidUri {
            uri: target_uri.to_owned(),
            reason: "it names a directory, not a file".to_owned(),
        })?;
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StorageError::from_io(display(parent), e))?;
        }
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
        let path = parent.map_or_else(|| PathBuf::from(&temp_name), |p| p.join(&temp_name));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| StorageError::from_io(target_uri, e))?;
        Ok((
            file,
            Self {
                path,
                renamed: false,
            },
        ))
    }

    /// Where the temporary file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished file over `target`.
    pub(crate) async fn rename_to(mut self, target: &Path, target_uri: &str) -> Result<()> {
        tokio::fs::rename(&self.path, target)
            .await
            .map_err(|e| StorageError::from_io(target_uri, e))?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            // Best effort: the write already failed or was abandoned, and that error is
            // the one worth reporting.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file found under a local directory.
pub(crate) struct LocalFile {
    /// Its path relative to the directory, `/`-separated.
    pub(crate) key: String,
    /// Its full path.
    pub(crate) path: PathBuf,
    /// Its size in bytes.
    pub(crate) size: u64,
}

/// Every regular file under `root`, recursively, sorted by key.
///
/// Symbolic links are followed (each directory is visited once, so link cycles end);
/// sockets, FIFOs and devices are skipped. A missing `root` is
/// [`StorageError::NotFound`]; a `root` that is not a directory is
/// [`StorageError::NotADirectory`].
pub(crate) async fn walk_local_dir(root: &Path) -> Result<Vec<LocalFile>> {
    let root_metadata = tokio::fs::metadata(root)
        .await
        .map_err(|e| StorageError::from_io(display(root), e))?;
    if !root_metadata.is_dir() {
        return Err(StorageError::NotADirectory { uri: display(root) });
    }
    let io_error = |path: &Path| {
        let uri = display(path);
        move |e| StorageError::from_io(uri, e)
    };
    let mut visited = HashSet::new();
    visited.insert(
        tokio::fs::canonicalize(root)
            .await
            .map_err(io_error(root))?,
    );
    let mut files = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, key_prefix)) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(io_error(&dir))?;
        while let Some(entry) = entries.next_entry().await.map_err(io_error(&dir))? {
            let path = entry.path();
            let Ok(name) = entry.file_name().into_string() else {
                return Err(StorageError::InvalidUri {
                    uri: display(&path),
                    reason: "the file name is not UTF-8, so it cannot be an object key".to_owned(),
                });
            };
            let key = format!("{key_prefix}{name}");
            // Follows symbolic links.
            let metadata = tokio::fs::metadata(&path).await.map_err(io_error(&path))?;
            if metadata.is_dir() {
                let canonical = tokio::fs::canonicalize(&path)
                    .await
                    .map_err(io_error(&path))?;
                if visited.insert(canonical) {
                    pending.push((path, format!("{key}/")));
                }
            } else if metadata.is_file() {
                files.push(LocalFile {
                    key,
                    path,
                    size: metadata.len(),
                });
            }
        }
    }
    files.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}
