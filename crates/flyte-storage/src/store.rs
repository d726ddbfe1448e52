//! [`Store`]: the operations every backend provides, and the directory transfers built
//! on them.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, Stream, TryStreamExt};

use crate::error::{Result, StorageError};
use crate::uri::StorageUri;
use crate::walk::walk_local_dir;

/// One object found by [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's full URI: the listed prefix [joined](crate::join) with `key`.
    pub uri: StorageUri,
    /// The object's name relative to the listed prefix, `/`-separated
    /// (`a.pb`, `dir/b.pb`).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a directory transfer moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferSummary {
    /// Files transferred.
    pub files: usize,
    /// Bytes transferred.
    pub bytes: u64,
}

/// One kind of object store (local files, S3, GCS, Azure), addressed by [`StorageUri`].
///
/// The contract every backend keeps, checked by the crate's conformance suite:
///
/// - Objects are files, never directories. A "directory" is a prefix: `list` of
///   `base` and of `base/` both list every object whose URI starts with `base/`,
///   recursively, sorted by key; a prefix with no object under it lists as empty.
/// - Reading a missing object is [`StorageError::NotFound`] naming its URI; `stat`
///   gives `None` for it and `delete` of it succeeds.
/// - A bucket or container that does not exist is never a missing object: every
///   operation on a URI in one is [`StorageError::NoSuchBucket`] naming the URI and
///   the bucket. Local files have no buckets: a path under a missing directory is a
///   missing object, and writes create the directories.
/// - Writes replace the whole object at once: no reader sees half of one.
/// - Errors name the URI or local path they are about.
///
/// The trait is object-safe; the [`Storage`](crate::Storage) facade holds stores as
/// `dyn Store` and routes to them by scheme.
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync {
    /// Downloads the object at `from` into the local file `to`, creating its parent
    /// directories and replacing any file there. Streams; returns the bytes written.
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64>;

    /// Uploads the local file `from` to the object `to`, replacing any object there.
    /// Streams; returns the bytes uploaded.
    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64>;

    /// Reads a whole (small) object into memory.
    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes>;

    /// Writes a whole (small) object from memory, replacing any object there.
    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()>;

    /// Every object under `prefix` (as a directory), recursively, sorted by key.
    async fn list(&self, prefix: &StorageUri) -> Result<Vec<ObjectMeta>>;

    /// The size of the object at exactly `uri`, or `None` when there is no object there
    /// (a prefix with objects under it is not an object: use [`Store::list`] for that).
    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>>;

    /// Whether an object exists at exactly `uri`; see [`Store::stat`].
    async fn exists(&self, uri: &StorageUri) -> Result<bool> {
        Ok(self.stat(uri).await?.is_some())
    }

    /// Deletes the object at `uri`; succeeds when there is none.
    async fn delete(&self, uri: &StorageUri) -> Result<()>;

    /// Downloads an object just listed by [`Store::list`] to the local file `to`. Stores
    /// that need the object's size before downloading it override this to use the size
    /// the listing gave, saving a request per object of a directory.
    async fn get_listed_file(&self, object: &ObjectMeta, to: &Path) -> Result<u64> {
        self.get_file(&object.uri, to).await
    }

    /// Uploads the local file `from`, whose size a directory walk has just measured, to
    /// the object `to`. Stores that need the size before uploading override this to use
    /// it, saving a `stat` per file of a directory.
    async fn put_walked_file(&self, from: &Path, _size: u64, to: &StorageUri) -> Result<u64> {
        self.put_file(from, to).await
    }

    /// Downloads every object under `from` into the local directory `to`, keeping their
    /// relative paths, at most `concurrency` at a time (0 counts as 1).
    ///
    /// A prefix with no object under it is [`StorageError::NotFound`], so a mistyped
    /// URI never looks like an empty directory. Keys are placed as flytekit places them:
    /// empty and `.` segments are dropped (`a//b`, `./b` and `/b` land at `a/b`, `b`
    /// and `b`). A key with a `..` segment, or two keys that land on the same file, are
    /// [`StorageError::InvalidUri`], before anything is downloaded.
    async fn get_dir(
        &self,
        from: &StorageUri,
        to: &Path,
        concurrency: usize,
    ) -> Result<TransferSummary> {
        let objects = self.list(from).await?;
        if objects.is_empty() {
            return Err(StorageError::NotFound {
                uri: from.to_string(),
            });
        }
        refuse_unsafe_destinations(to, &objects)?;
        let transfers = objects.into_iter().map(|object| {
            Ok(async move {
                let destination = local_destination(to, &object)?;
                self.get_listed_file(&object, &destination).await
            })
        });
        summarise(stream::iter(transfers), concurrency).await
    }

    /// Uploads every file under the local directory `from` (recursively) to `to`,
    /// keeping their relative paths, at most `concurrency` at a time (0 counts as 1).
    /// The walk streams: uploads start as files are found. A link to a file is uploaded
    /// as the file; a link to a directory is skipped, as flytekit skips it; a link to
    /// nothing is [`StorageError::DanglingLink`]. An empty directory uploads nothing.
    async fn put_dir(
        &self,
        from: &Path,
        to: &StorageUri,
        concurrency: usize,
    ) -> Result<TransferSummary> {
        let files = walk_local_dir(from).await?;
        let transfers = files.map_ok(|file| async move {
            let destination = to.join(&file.key)?;
            self.put_walked_file(&file.path, file.size, &destination)
                .await
        });
        summarise(transfers, concurrency).await
    }
}

/// Runs the transfers of `transfers` at most `concurrency` at a time, stopping at the
/// first error.
async fn summarise<F>(
    transfers: impl Stream<Item = Result<F>> + Send,
    concurrency: usize,
) -> Result<TransferSummary>
where
    F: Future<Output = Result<u64>> + Send,
{
    transfers
        .try_buffer_unordered(concurrency.max(1))
        .try_fold(TransferSummary::default(), |summary, bytes| async move {
            Ok(TransferSummary {
                files: summary.files + 1,
                bytes: summary.bytes + bytes,
            })
        })
        .await
}

/// Refuses, before anything is downloaded, a listing with a key that would leave `root`
/// or two keys that would land on the same file.
///
/// Holds 16 bytes a key (a hash of its destination and its index), not the
/// destinations themselves: a directory of 100,000 files is listed in memory already,
/// and this check should not double that. Equal hashes are compared exactly.
fn refuse_unsafe_destinations(root: &Path, objects: &[ObjectMeta]) -> Result<()> {
    use std::hash::{BuildHasher, RandomState};
    let hasher = RandomState::new();
    let mut hashes = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        let destination = local_destination(root, object)?;
        hashes.push((hasher.hash_one(&destination), index));
    }
    hashes.sort_unstable();
    for same_hash in hashes.chunk_by(|a, b| a.0 == b.0) {
        for (at, &(_, second)) in same_hash.iter().enumerate().skip(1) {
            let second = &objects[second];
            let destination = local_destination(root, second)?;
            for &(_, first) in &same_hash[..at] {
                let first = &objects[first];
                if local_destination(root, first)? == destination {
                    return Err(StorageError::InvalidUri {
                        uri: second.uri.to_string(),
                        reason: format!(
                            "its key {:?} and the key {:?} would both be downloaded to {}; \
                             rename one of them",
                            second.key,
                            first.key,
                            destination.display()
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Where a listed object goes under the local directory `root`: its key's segments,
/// without empty and `.` ones; a `..` segment is refused.
fn local_destination(root: &Path, object: &ObjectMeta) -> Result<PathBuf> {
    let refuse = |why: &str| StorageError::InvalidUri {
        uri: object.uri.to_string(),
        reason: format!(
            "its key {:?} {why}, so it cannot be downloaded into a directory safely",
            object.key
        ),
    };
    let mut destination = root.to_path_buf();
    let mut named = false;
    for segment in object.key.split('/') {
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (None | Some(Component::CurDir), None) => {}
            (Some(Component::Normal(name)), None) => {
                destination.push(name);
                named = true;
            }
            _ => return Err(refuse("has a '..' segment")),
        }
    }
    if named {
        Ok(destination)
    } else {
        Err(refuse("names no file"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str) -> ObjectMeta {
        ObjectMeta {
            uri: StorageUri::parse(&crate::join("s3://b/p", key)).expect("valid"),
            key: key.to_owned(),
            size: 0,
        }
    }

    #[test]
    fn keys_map_to_paths_under_the_target_directory() {
        let path = local_destination(Path::new("/t"), &object("a/b c/d.pb")).expect("safe key");
        assert_eq!(path, Path::new("/t/a/b c/d.pb"));
    }

    #[test]
    fn empty_and_dot_segments_are_dropped_like_flytekit() {
        for (key, path) in [
            ("a//b", "/t/a/b"),
            ("./x", "/t/x"),
            ("/abs", "/t/abs"),
            ("a/./b/", "/t/a/b"),
        ] {
            let placed = local_destination(Path::new("/t"), &object(key)).expect(key);
            assert_eq!(placed, Path::new(path), "{key}");
        }
    }

    #[test]
    fn two_keys_landing_on_one_file_are_refused_naming_both() {
        let listing: Vec<ObjectMeta> = ["x", "a/b", "c", "./a//b", "d"]
            .into_iter()
            .map(object)
            .collect();
        let error = refuse_unsafe_destinations(Path::new("/t"), &listing).expect_err("a clash");
        let StorageError::InvalidUri { uri, reason } = &error else {
            panic!("{error:?}");
        };
        assert!(uri.ends_with("a//b"), "the later key is named: {uri}");
        assert!(
            reason.contains("\"a/b\"") && reason.contains("/t/a/b"),
            "{reason}"
        );
        let distinct: Vec<ObjectMeta> = (0..10_000)
            .map(|i| object(&format!("d{}/f{i}", i % 7)))
            .collect();
        refuse_unsafe_destinations(Path::new("/t"), &distinct).expect("no clash");
        let escaping = [object("ok"), object("../x")];
        assert!(refuse_unsafe_destinations(Path::new("/t"), &escaping).is_err());
    }

    #[test]
    fn keys_that_would_escape_the_target_directory_are_refused() {
        for key in ["../x", "a/../../x", "a/..", "", "/", "./."] {
            let error = local_destination(Path::new("/t"), &object(key)).expect_err(key);
            assert!(
                matches!(error, StorageError::InvalidUri { .. }),
                "{key}: {error:?}"
            );
        }
    }
}
