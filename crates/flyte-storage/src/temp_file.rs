//! [`TempFile`]: all-or-nothing local writes. A file is written beside its target under
//! a temporary name and renamed over the target once complete, so a reader sees the old
//! file or the new one, never part of one.
//!
//! Used by the local store for every write and by the object stores for every download.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

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
        let (parent, path) = beside(target, target_uri)?;
        if let Some(parent) = parent {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StorageError::from_io(parent.display().to_string(), e))?;
        }
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

    /// Writes `contents` to `target` the same way, in one blocking call: create the
    /// temporary file, write, rename. The parent directory is created only when the
    /// first try finds it missing, so a tree of small downloads costs one call per file
    /// and one `create_dir_all` per directory. Runs on the caller's thread: call it on
    /// the blocking pool.
    pub(crate) fn write_whole(target: &Path, target_uri: &str, contents: &[u8]) -> Result<()> {
        let (parent, path) = beside(target, target_uri)?;
        let create = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
        };
        let mut file = match (create(), parent) {
            (Err(e), Some(parent)) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StorageError::from_io(parent.display().to_string(), e))?;
                create()
            }
            (created, _) => created,
        }
        .map_err(|e| StorageError::from_io(target_uri, e))?;
        let mut temp = Self {
            path,
            renamed: false,
        };
        file.write_all(contents)
            .map_err(|e| StorageError::from_io(target_uri, e))?;
        drop(file);
        std::fs::rename(&temp.path, target).map_err(|e| StorageError::from_io(target_uri, e))?;
        temp.renamed = true;
        Ok(())
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

/// `target`'s directory (`None` for the current one) and a fresh temporary path in it,
/// `.<name>.<random>.tmp`. A target that names no file is refused.
fn beside<'a>(target: &'a Path, target_uri: &str) -> Result<(Option<&'a Path>, PathBuf)> {
    let name = target.file_name().ok_or_else(|| StorageError::InvalidUri {
        uri: target_uri.to_owned(),
        reason: "it names a directory, not a file".to_owned(),
    })?;
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty());
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let path = parent.map_or_else(|| PathBuf::from(&temp_name), |p| p.join(&temp_name));
    Ok((parent, path))
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
