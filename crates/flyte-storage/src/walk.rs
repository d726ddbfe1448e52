//! The local directory walk: every file under a directory, as object keys.
//!
//! Used by [`StoreExt::put_dir`](crate::StoreExt::put_dir) to find what to upload and by
//! [`LocalStore::list`](crate::LocalStore) to list a local prefix. It is its own unit so
//! that what counts as a file of a directory (symbolic links, special files) is decided
//! in one place.
//!
//! Symbolic links are treated as flytekit's upload treats them (fsspec's `put` with
//! `recursive=True`): a link to a file is uploaded as that file's contents under the
//! link's name; a link to a directory is skipped, never followed, so `latest -> step-3`
//! does not upload step 3 twice, a link out of the tree (`certs -> /etc/ssl`) uploads
//! nothing of the host, and link cycles cannot arise. A link to nothing fails the walk,
//! naming the link, as it fails flytekit's upload.

use std::io;
use std::path::{Path, PathBuf};

use futures_util::stream::{self, Stream};

use crate::error::{Result, StorageError, special_file_kind};

/// A file found under a local directory.
pub(crate) struct LocalFile {
    /// Its path relative to the directory, `/`-separated.
    pub(crate) key: String,
    /// Its full path.
    pub(crate) path: PathBuf,
    /// Its size in bytes.
    pub(crate) size: u64,
}

/// Every file under `root`, recursively, as a stream: one directory's entries are held
/// at a time (plus the directories still to visit), never the whole tree, so uploading
/// a directory of a million files starts at once and holds little.
///
/// Files come depth first, each directory's entries in name order. `root` itself may be
/// a link to a directory. Sockets, FIFOs and devices (and links to them) are skipped,
/// each of the first [`NAMED_SKIPS`] with a warning naming it and what it is, and the
/// rest counted in one warning when the walk ends. A missing `root` is
/// [`StorageError::NotFound`]; a `root` that is not a directory is
/// [`StorageError::NotADirectory`]; a link to nothing is
/// [`StorageError::DanglingLink`].
pub(crate) async fn walk_local_dir(
    root: &Path,
) -> Result<impl Stream<Item = Result<LocalFile>> + Send + 'static> {
    let root_metadata = tokio::fs::metadata(root)
        .await
        .map_err(|e| StorageError::from_io(display(root), e))?;
    if !root_metadata.is_dir() {
        return Err(StorageError::NotADirectory { uri: display(root) });
    }
    let walk = Walk {
        directories: vec![(root.to_path_buf(), String::new())],
        entries: Vec::new(),
        skipped: Skipped {
            root: root.to_path_buf(),
            count: 0,
        },
    };
    Ok(stream::try_unfold(walk, |mut walk| async move {
        let file = walk.next_file().await?;
        Ok(file.map(|file| (file, walk)))
    }))
}

/// Where a walk is.
struct Walk {
    /// Directories still to read, with the key prefix (`dir/`) of their entries.
    directories: Vec<(PathBuf, String)>,
    /// Entries of the directory being read not yet looked at, last one next.
    entries: Vec<Entry>,
    /// The special files left out so far.
    skipped: Skipped,
}

/// How many skipped special files a walk names, one warning each; past that, one
/// warning at the end counts them, so a directory of a million sockets logs little.
pub(crate) const NAMED_SKIPS: usize = 10;

/// The special files a walk left out, counted.
struct Skipped {
    root: PathBuf,
    count: usize,
}

impl Skipped {
    /// Notes that `path`, which is `kind`, is left out.
    fn note(&mut self, path: &Path, kind: &str) {
        self.count += 1;
        if self.count <= NAMED_SKIPS {
            tracing::warn!(
                path = %path.display(),
                "skipping {}: it is {kind}, not a regular file, so it has no contents to \
                 transfer",
                path.display()
            );
        }
    }
}

impl Drop for Skipped {
    /// At the end of the walk (or when it is abandoned), the count beyond the named ones.
    fn drop(&mut self) {
        if self.count > NAMED_SKIPS {
            tracing::warn!(
                root = %self.root.display(),
                "skipped {} special files (FIFOs, sockets, devices) under {}, {} more than \
                 named above",
                self.count,
                self.root.display(),
                self.count - NAMED_SKIPS
            );
        }
    }
}

/// A special file a directory read left out, and what it is in words.
type Special = (PathBuf, &'static str);

/// One name found in a directory that the walk keeps.
struct Entry {
    path: PathBuf,
    key: String,
    /// The file's size; `None` for a directory, to be read in turn.
    size: Option<u64>,
}

impl Walk {
    /// The next file, or `None` when the tree is done.
    async fn next_file(&mut self) -> Result<Option<LocalFile>> {
        loop {
            if let Some(entry) = self.entries.pop() {
                match entry.size {
                    Some(size) => {
                        return Ok(Some(LocalFile {
                            key: entry.key,
                            path: entry.path,
                            size,
                        }));
                    }
                    None => self
                        .directories
                        .push((entry.path, format!("{}/", entry.key))),
                }
            } else if let Some((dir, key_prefix)) = self.directories.pop() {
                let path = dir.clone();
                let (entries, specials) =
                    tokio::task::spawn_blocking(move || read_entries(&dir, &key_prefix))
                        .await
                        .map_err(|e| StorageError::Io {
                            uri: display(&path),
                            source: io::Error::other(e),
                        })??;
                self.entries = entries;
                for (path, kind) in specials {
                    self.skipped.note(&path, kind);
                }
            } else {
                return Ok(None);
            }
        }
    }
}

/// The files (with their sizes) and directories in `dir`, in reverse name order (so
/// that popping gives name order); links resolved. Special files are left out and
/// returned beside, each with what it is.
///
/// One blocking call per directory, `stat` included: a tree of small files costs a
/// few system calls per file and no hop to the blocking pool per file.
fn read_entries(dir: &Path, key_prefix: &str) -> Result<(Vec<Entry>, Vec<Special>)> {
    let io_error = |path: &Path, e| StorageError::from_io(display(path), e);
    let mut entries = Vec::new();
    let mut specials = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            return Err(StorageError::InvalidUri {
                uri: display(&path),
                reason: "the file name is not UTF-8, so it cannot be an object key".to_owned(),
            });
        };
        let file_type = entry.file_type().map_err(|e| io_error(&path, e))?;
        let size = if file_type.is_dir() {
            None
        } else if file_type.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(target) if target.is_dir() => {
                    tracing::info!(
                        link = %path.display(),
                        "not uploading a symbolic link to a directory (as flytekit does not)"
                    );
                    continue;
                }
                Ok(target) if target.is_file() => Some(target.len()),
                Ok(target) => {
                    let kind = special_file_kind(target.file_type());
                    specials.push((path, kind));
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let target = std::fs::read_link(&path).map_err(|e| io_error(&path, e))?;
                    return Err(StorageError::DanglingLink {
                        uri: display(&path),
                        target: display(&target),
                    });
                }
                Err(e) => return Err(io_error(&path, e)),
            }
        } else if file_type.is_file() {
            Some(entry.metadata().map_err(|e| io_error(&path, e))?.len())
        } else {
            // Sockets, FIFOs and devices hold no file contents to upload.
            specials.push((path, special_file_kind(file_type)));
            continue;
        };
        entries.push(Entry {
            key: format!("{key_prefix}{name}"),
            path,
            size,
        });
    }
    entries.sort_unstable_by(|a, b| b.key.cmp(&a.key));
    specials.sort_unstable();
    Ok((entries, specials))
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
