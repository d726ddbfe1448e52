//! [`TempFile`]: all-or-nothing local writes. A file is written beside its target under
//! a temporary name and renamed over the target once complete, so a reader sees the old
//! file or the new one, never part of one.
//!
//! Used by the local store for every write and by the object stores for every download.
//!
//! The target's directory is opened once, and the temporary file is created, renamed and
//! removed relative to that descriptor; its bytes go through the descriptor the creation
//! returned, never through its name again. So a process that can write to the directory
//! (an output prefix under a shared `/tmp`) and swaps the temporary name for a symlink,
//! or the directory for another one, cannot make this write land in a file elsewhere.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, CWD, Mode, OFlags};

use crate::error::{Result, StorageError};

/// A temporary file that is removed when dropped, unless renamed into place.
pub(crate) struct TempFile {
    /// The target's directory, which every name below is relative to.
    dir: Arc<OwnedFd>,
    /// The temporary file's name in `dir`.
    name: OsString,
    /// `dir`'s path joined with `name`, for messages.
    path: PathBuf,
    renamed: bool,
}

/// Read and write for everyone, less the umask: what `File::create` asks for.
const NEW_FILE_MODE: u32 = 0o666;

impl TempFile {
    /// Creates `.<name>.<random>.tmp` in `target`'s directory, creating that directory
    /// if needed.
    pub(crate) async fn create_beside(
        target: &Path,
        target_uri: &str,
    ) -> Result<(tokio::fs::File, Self)> {
        let target = target.to_owned();
        let target_uri = target_uri.to_owned();
        let (file, temp) = blocking(move || {
            let (file, temp) = Self::create(&target, &target_uri, true)?;
            Ok((file, temp))
        })
        .await?;
        Ok((tokio::fs::File::from_std(file), temp))
    }

    /// Writes `contents` to `target` the same way, in one blocking call: create the
    /// temporary file, write, rename. The parent directory is created only when the
    /// first try finds it missing, so a tree of small downloads costs one call per file
    /// and one `create_dir_all` per directory. Runs on the caller's thread: call it on
    /// the blocking pool.
    pub(crate) fn write_whole(target: &Path, target_uri: &str, contents: &[u8]) -> Result<()> {
        let (mut file, temp) = Self::create(target, target_uri, false)?;
        file.write_all(contents)
            .map_err(|e| StorageError::from_io(target_uri, e))?;
        drop(file);
        temp.rename_now(target, target_uri)
    }

    /// Opens `target`'s directory (creating it first when `make_parent`, or when it
    /// turns out missing) and creates the temporary file in it. Blocking.
    fn create(target: &Path, target_uri: &str, make_parent: bool) -> Result<(std::fs::File, Self)> {
        let (parent, file_name) = split(target, target_uri)?;
        let parent_display = || parent.unwrap_or(Path::new(".")).display().to_string();
        let make_dir = |parent: &Path| {
            std::fs::create_dir_all(parent)
                .map_err(|e| StorageError::from_io(parent.display().to_string(), e))
        };
        if make_parent && let Some(parent) = parent {
            make_dir(parent)?;
        }
        let dir = match (open_dir(parent), parent) {
            (Err(e), Some(parent)) if e.kind() == std::io::ErrorKind::NotFound => {
                make_dir(parent)?;
                open_dir(Some(parent))
            }
            (opened, _) => opened,
        }
        .map_err(|e| StorageError::from_io(parent_display(), e))?;
        let mut name = OsString::from(".");
        name.push(file_name);
        name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
        // O_EXCL never opens an existing file or follows a symlink planted at the name;
        // O_NOFOLLOW says so again for systems where only it does.
        let fd = rustix::fs::openat(
            &dir,
            name.as_os_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(NEW_FILE_MODE),
        )
        .map_err(|e| StorageError::from_io(target_uri, e.into()))?;
        let path = parent.map_or_else(|| PathBuf::from(&name), |p| p.join(&name));
        Ok((
            std::fs::File::from(fd),
            Self {
                dir: Arc::new(dir),
                name,
                path,
                renamed: false,
            },
        ))
    }

    /// Where the temporary file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished file over `target`, within the directory it was created in.
    pub(crate) async fn rename_to(self, target: &Path, target_uri: &str) -> Result<()> {
        let target = target.to_owned();
        let target_uri = target_uri.to_owned();
        blocking(move || self.rename_now(&target, &target_uri)).await
    }

    /// [`TempFile::rename_to`], on the caller's thread.
    fn rename_now(mut self, target: &Path, target_uri: &str) -> Result<()> {
        let (_, file_name) = split(target, target_uri)?;
        rustix::fs::renameat(&*self.dir, self.name.as_os_str(), &*self.dir, file_name)
            .map_err(|e| StorageError::from_io(target_uri, e.into()))?;
        self.renamed = true;
        Ok(())
    }
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// `target`'s directory (`None` for the current one) and file name. A target that names
/// no file is refused.
fn split<'a>(target: &'a Path, target_uri: &str) -> Result<(Option<&'a Path>, &'a OsStr)> {
    let name = target.file_name().ok_or_else(|| StorageError::InvalidUri {
        uri: target_uri.to_owned(),
        reason: "it names a directory, not a file".to_owned(),
    })?;
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty());
    Ok((parent, name))
}

/// Opens a directory (the current one for `None`) to create files relative to.
fn open_dir(dir: Option<&Path>) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let opened = match dir {
        Some(dir) => rustix::fs::openat(CWD, dir, flags, Mode::empty()),
        None => rustix::fs::openat(CWD, ".", flags, Mode::empty()),
    };
    opened.map_err(Into::into)
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            // Best effort: the write already failed or was abandoned, and that error is
            // the one worth reporting.
            let _ = rustix::fs::unlinkat(&*self.dir, self.name.as_os_str(), AtFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_abandoned_temporary_file_is_removed_from_its_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("a/b/out.bin");
        let (file, temp) = TempFile::create_beside(&target, "out.bin")
            .await
            .expect("created");
        let temp_path = temp.path().to_owned();
        assert!(temp_path.exists(), "{}", temp_path.display());
        drop(file);
        drop(temp);
        assert!(!temp_path.exists(), "{}", temp_path.display());
        assert!(!target.exists());
    }

    #[test]
    fn a_whole_write_into_a_missing_directory_creates_it_and_leaves_only_the_target() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("new/out.bin");
        TempFile::write_whole(&target, "out.bin", b"contents").expect("written");
        assert_eq!(std::fs::read(&target).expect("read"), b"contents");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("new"))
            .expect("listed")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, [OsString::from("out.bin")]);
    }
}
