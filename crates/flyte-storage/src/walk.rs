//! The local directory walk: every file under a directory, as object keys.
//!
//! Used by [`Store::put_dir`](crate::Store::put_dir) to find what to upload and by
//! [`LocalStore::list`](crate::LocalStore) to list a local prefix. It is its own unit so
//! that what counts as a file of a directory (symbolic links, special files) is decided
//! in one place.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

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

fn display(path: &Path) -> String {
    path.display().to_string()
}
