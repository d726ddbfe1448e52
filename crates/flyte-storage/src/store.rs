//! [`Store`]: the operations every backend provides, and the directory transfers built
//! on them.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};

use crate::error::{Result, StorageError};
use crate::uri::StorageUri;
use crate::walk::walk_local_dir;

/// One object found by [`Store::list_pages`] and [`StoreExt::list`].
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, Store, StoreExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// let store = MemoryStore::new();
/// let dir = StorageUri::parse("mem://bucket/dir")?;
/// store.put_bytes(&dir.join("sub/a.pb")?, "abc".into()).await?;
/// let objects = store.list(&dir).await?;
/// assert_eq!(objects[0].key, "sub/a.pb");
/// assert_eq!(objects[0].uri.as_str(), "mem://bucket/dir/sub/a.pb");
/// assert_eq!(objects[0].size, 3);
/// # Ok(())
/// # }
/// ```
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
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, StoreExt, TransferSummary};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// let local = tempfile::tempdir().expect("temp dir");
/// std::fs::write(local.path().join("a.txt"), "aa").expect("write");
/// std::fs::write(local.path().join("b.txt"), "bbb").expect("write");
/// let store = MemoryStore::new();
/// let summary = store.put_dir(local.path(), &StorageUri::parse("mem://bucket/dir")?, 8).await?;
/// assert_eq!(summary, TransferSummary { files: 2, bytes: 5 });
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferSummary {
    /// Files transferred.
    pub files: usize,
    /// Bytes transferred.
    pub bytes: u64,
}

/// One kind of object store (local files, S3, GCS, Azure, memory, or one of your own),
/// addressed by [`StorageUri`].
///
/// The trait holds the few primitives a backend must write (whole objects in and out,
/// files in and out, a paged listing, `stat`, `delete`); everything built on them
/// (sorted listings, `exists`, directory transfers) is [`StoreExt`], implemented for
/// every `Store`, so an implementor writes seven methods and gets the rest.
///
/// The contract every backend keeps, checked by the conformance suite (the
/// `conformance` feature, `flyte_storage::conformance::run`):
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
/// `Arc<dyn Store>` and routes to them by URI prefix.
///
/// # Example
///
/// A store of one's own, plugged into [`Storage`](crate::Storage) for its scheme. This
/// one keeps every object under another store's prefix, as
/// [`PrefixStore`](crate::PrefixStore) does for real:
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
///
/// use bytes::Bytes;
/// use futures_util::stream::BoxStream;
/// use flyte_storage::{MemoryStore, ObjectMeta, Result, Storage, StorageUri, Store};
///
/// /// Serves `vault://…` by delegating to a memory store.
/// #[derive(Debug)]
/// struct Vault(MemoryStore);
///
/// #[async_trait::async_trait]
/// impl Store for Vault {
///     async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64> {
///         self.0.get_file(from, to).await
///     }
///     async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64> {
///         self.0.put_file(from, to).await
///     }
///     async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
///         self.0.get_bytes(from).await
///     }
///     async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
///         self.0.put_bytes(to, bytes).await
///     }
///     fn list_pages<'a>(&'a self, prefix: &'a StorageUri) -> BoxStream<'a, Result<Vec<ObjectMeta>>> {
///         self.0.list_pages(prefix)
///     }
///     async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>> {
///         self.0.stat(uri).await
///     }
///     async fn delete(&self, uri: &StorageUri) -> Result<()> {
///         self.0.delete(uri).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<()> {
/// let storage = Storage::default().with_store("vault://", Arc::new(Vault(MemoryStore::new())));
/// storage.put_bytes("vault://box/a.txt", &b"kept"[..]).await?;
/// assert!(storage.exists("vault://box/a.txt").await?);
/// assert_eq!(storage.list("vault://box").await?[0].key, "a.txt");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync {
    /// Downloads the object at `from` into the local file `to`, creating its parent
    /// directories and replacing any file there. Streams; returns the bytes written.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let dir = tempfile::tempdir().expect("temp dir");
    /// let object = StorageUri::parse("mem://bucket/inputs.pb")?;
    /// store.put_bytes(&object, "data".into()).await?;
    /// let written = store.get_file(&object, &dir.path().join("in/inputs.pb")).await?;
    /// assert_eq!(written, 4);
    /// # Ok(())
    /// # }
    /// ```
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64>;

    /// Uploads the local file `from` to the object `to`, replacing any object there.
    /// Streams; returns the bytes uploaded.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let dir = tempfile::tempdir().expect("temp dir");
    /// let file = dir.path().join("model.bin");
    /// std::fs::write(&file, [0u8; 16]).expect("write");
    /// let uploaded = store.put_file(&file, &StorageUri::parse("mem://bucket/model.bin")?).await?;
    /// assert_eq!(uploaded, 16);
    /// # Ok(())
    /// # }
    /// ```
    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64>;

    /// Reads a whole (small) object into memory.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let object = StorageUri::parse("mem://bucket/outputs.pb")?;
    /// store.put_bytes(&object, "\x0a\x00".into()).await?;
    /// assert_eq!(&store.get_bytes(&object).await?[..], b"\x0a\x00");
    /// # Ok(())
    /// # }
    /// ```
    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes>;

    /// Writes a whole (small) object from memory, replacing any object there.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let object = StorageUri::parse("mem://bucket/outputs.pb")?;
    /// store.put_bytes(&object, Bytes::from_static(b"first")).await?;
    /// store.put_bytes(&object, Bytes::from(b"second".to_vec())).await?;
    /// assert_eq!(store.stat(&object).await?, Some(6));
    /// # Ok(())
    /// # }
    /// ```
    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()>;

    /// Every object under `prefix` (as a directory), recursively, a page at a time as
    /// the store gives them: the first page comes after one request, and the caller
    /// holds one page, not the whole listing. Objects come in no particular order;
    /// [`StoreExt::list`] sorts them. Each [`ObjectMeta::uri`] is `prefix`
    /// [joined](StorageUri::join) with its key.
    ///
    /// ```
    /// use futures_util::TryStreamExt;
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let dir = StorageUri::parse("mem://bucket/dir")?;
    /// store.put_bytes(&dir.join("a.pb")?, "a".into()).await?;
    /// let mut pages = store.list_pages(&dir);
    /// let mut objects = 0;
    /// while let Some(page) = pages.try_next().await? {
    ///     objects += page.len(); // one page in memory at a time
    /// }
    /// assert_eq!(objects, 1);
    /// # Ok(())
    /// # }
    /// ```
    fn list_pages<'a>(&'a self, prefix: &'a StorageUri) -> BoxStream<'a, Result<Vec<ObjectMeta>>>;

    /// The size of the object at exactly `uri`, or `None` when there is no object there
    /// (a prefix with objects under it is not an object: use [`StoreExt::list`] for that).
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let object = StorageUri::parse("mem://bucket/dir/a.pb")?;
    /// assert_eq!(store.stat(&object).await?, None);
    /// store.put_bytes(&object, "abc".into()).await?;
    /// assert_eq!(store.stat(&object).await?, Some(3));
    /// assert_eq!(store.stat(&StorageUri::parse("mem://bucket/dir")?).await?, None);
    /// # Ok(())
    /// # }
    /// ```
    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>>;

    /// Deletes the object at `uri`; succeeds when there is none.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let object = StorageUri::parse("mem://bucket/tmp.pb")?;
    /// store.put_bytes(&object, "x".into()).await?;
    /// store.delete(&object).await?;
    /// store.delete(&object).await?; // already gone: still Ok
    /// assert_eq!(store.stat(&object).await?, None);
    /// # Ok(())
    /// # }
    /// ```
    async fn delete(&self, uri: &StorageUri) -> Result<()>;

    // The two hooks below are provided methods of `Store`, not `StoreExt`, because they
    // are meant to be overridden: the object stores' engine uses the size a listing or
    // a directory walk has just measured and saves a request per file of a directory.
    // A blanket extension trait cannot be specialised per store, so they stay here;
    // an implementor that has no use for the size inherits the plain file transfer.

    /// Downloads an object just listed by [`Store::list_pages`] to the local file `to`.
    /// Stores that need the object's size before downloading it override this to use
    /// the size the listing gave, saving a request per object of a directory.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store, StoreExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let dir = tempfile::tempdir().expect("temp dir");
    /// let prefix = StorageUri::parse("mem://bucket/dir")?;
    /// store.put_bytes(&prefix.join("a.pb")?, "a".into()).await?;
    /// for object in store.list(&prefix).await? {
    ///     store.get_listed_file(&object, &dir.path().join(&object.key)).await?;
    /// }
    /// assert!(dir.path().join("a.pb").exists());
    /// # Ok(())
    /// # }
    /// ```
    async fn get_listed_file(&self, object: &ObjectMeta, to: &Path) -> Result<u64> {
        self.get_file(&object.uri, to).await
    }

    /// Uploads the local file `from`, whose size a directory walk has just measured, to
    /// the object `to`. Stores that need the size before uploading override this to use
    /// it, saving a `stat` per file of a directory.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let dir = tempfile::tempdir().expect("temp dir");
    /// let file = dir.path().join("a.pb");
    /// std::fs::write(&file, "abc").expect("write");
    /// let size = std::fs::metadata(&file).expect("stat").len();
    /// let to = StorageUri::parse("mem://bucket/dir/a.pb")?;
    /// assert_eq!(store.put_walked_file(&file, size, &to).await?, 3);
    /// # Ok(())
    /// # }
    /// ```
    async fn put_walked_file(&self, from: &Path, _size: u64, to: &StorageUri) -> Result<u64> {
        self.put_file(from, to).await
    }
}

/// What every [`Store`] can do, built on its primitives: sorted listings, `exists`,
/// whether a prefix holds anything, and directory transfers.
///
/// Implemented for every `Store` (including `dyn Store`); nobody implements it by hand.
/// Bring it into scope (`use flyte_storage::StoreExt;`) to call these on a store.
///
/// ```
/// use flyte_storage::{MemoryStore, StorageUri, Store, StoreExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// let store = MemoryStore::new();
/// let dir = StorageUri::parse("mem://bucket/dir")?;
/// store.put_bytes(&dir.join("b.txt")?, "b".into()).await?;
/// store.put_bytes(&dir.join("a.txt")?, "a".into()).await?;
/// let keys: Vec<String> = store.list(&dir).await?.into_iter().map(|o| o.key).collect();
/// assert_eq!(keys, ["a.txt", "b.txt"]);
/// assert!(store.exists(&dir.join("a.txt")?).await?);
/// assert!(!store.exists(&dir).await?, "a prefix is not an object");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait StoreExt: Store {
    /// Every object under `prefix` (as a directory), recursively, sorted by key.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store, StoreExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let dir = StorageUri::parse("mem://bucket/dir")?;
    /// for key in ["b.pb", "a/c.pb", "a.pb"] {
    ///     store.put_bytes(&dir.join(key)?, "x".into()).await?;
    /// }
    /// // "dir" and "dir/" list the same objects.
    /// let keys: Vec<String> = store.list(&dir).await?.into_iter().map(|o| o.key).collect();
    /// assert_eq!(keys, ["a.pb", "a/c.pb", "b.pb"]);
    /// # Ok(())
    /// # }
    /// ```
    async fn list(&self, prefix: &StorageUri) -> Result<Vec<ObjectMeta>> {
        let mut objects: Vec<ObjectMeta> = self.list_pages(prefix).try_concat().await?;
        objects.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// Whether any object is under `prefix` (as a directory). The listing stops at the
    /// first page that has one, so a prefix of a million objects costs one request, not
    /// a thousand. (A page can be empty when all it held were directory markers.)
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store, StoreExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let dir = StorageUri::parse("mem://bucket/outputs")?;
    /// assert!(!store.has_objects_under(&dir).await?);
    /// store.put_bytes(&dir.join("outputs.pb")?, "x".into()).await?;
    /// assert!(store.has_objects_under(&dir).await?);
    /// # Ok(())
    /// # }
    /// ```
    async fn has_objects_under(&self, prefix: &StorageUri) -> Result<bool> {
        let mut pages = self.list_pages(prefix);
        while let Some(page) = pages.try_next().await? {
            if !page.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether an object exists at exactly `uri`; see [`Store::stat`].
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store, StoreExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let object = StorageUri::parse("mem://bucket/dir/outputs.pb")?;
    /// store.put_bytes(&object, "x".into()).await?;
    /// assert!(store.exists(&object).await?);
    /// let dir = StorageUri::parse("mem://bucket/dir")?;
    /// assert!(!store.exists(&dir).await?, "a prefix is not an object");
    /// # Ok(())
    /// # }
    /// ```
    async fn exists(&self, uri: &StorageUri) -> Result<bool> {
        Ok(self.stat(uri).await?.is_some())
    }

    /// Downloads every object under `from` into the local directory `to`, keeping their
    /// relative paths, at most `concurrency` at a time (0 counts as 1).
    ///
    /// The listing streams, one page ahead of the downloads: they start with its first
    /// page, the next page is asked for while they run, at most two pages are held,
    /// and of the files already placed only a 16-byte hash each is kept.
    ///
    /// A prefix with no object under it is [`StorageError::NotFound`], so a mistyped
    /// URI never looks like an empty directory. Keys are placed as flytekit places them:
    /// empty and `.` segments are dropped (`a//b`, `./b` and `/b` land at `a/b`, `b`
    /// and `b`). A key with a `..` segment, or a key that lands on the file of a key
    /// listed before it, is [`StorageError::InvalidUri`] naming both keys: that key is
    /// not downloaded and the transfer stops (flytekit would overwrite the first file).
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, Store, StoreExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let prefix = StorageUri::parse("mem://bucket/dir")?;
    /// store.put_bytes(&prefix.join("a.txt")?, "a".into()).await?;
    /// store.put_bytes(&prefix.join("sub/b.txt")?, "bb".into()).await?;
    /// let local = tempfile::tempdir().expect("temp dir");
    /// let summary = store.get_dir(&prefix, local.path(), 16).await?;
    /// assert_eq!((summary.files, summary.bytes), (2, 3));
    /// assert!(local.path().join("sub/b.txt").exists());
    /// # Ok(())
    /// # }
    /// ```
    async fn get_dir(
        &self,
        from: &StorageUri,
        to: &Path,
        concurrency: usize,
    ) -> Result<TransferSummary> {
        let (listed, mut to_download) = tokio::sync::mpsc::channel(LIST_PAGE_LEN);
        let mut clash = None;
        let clash_found = &mut clash;
        // Lists and places keys while the downloads run; ends early, quietly, when the
        // downloads have stopped.
        let list = async move {
            let mut pages = self.list_pages(from);
            let mut placed = Placed::new();
            while let Some(page) = pages.try_next().await? {
                for object in page {
                    let destination = local_destination(to, &object)?;
                    if !placed.insert(&destination) {
                        let error = clash_error(&object, &destination, None);
                        *clash_found = Some((object, destination));
                        return Err(error);
                    }
                    if listed.send((object, destination)).await.is_err() {
                        return Ok(());
                    }
                }
            }
            // Closes the channel: the downloads end when they have drained it.
            drop(listed);
            Ok(())
        };
        let transfers = stream::poll_fn(move |cx| to_download.poll_recv(cx)).map(
            |(object, destination): (ObjectMeta, PathBuf)| {
                Ok(async move {
                    crate::progress::file_started();
                    self.get_listed_file(&object, &destination).await
                })
            },
        );
        let download = summarise(transfers, concurrency);
        let summary = match futures_util::future::try_join(list, download).await {
            Err(_) if let Some((second, destination)) = clash => {
                // Name the first key too: one more listing, only on this failure.
                let first = first_key_landing_on(self, from, to, &destination, &second.key).await;
                return Err(clash_error(&second, &destination, first.as_deref()));
            }
            outcome => outcome?.1,
        };
        if summary.files == 0 {
            return Err(StorageError::NotFound {
                uri: from.to_string(),
            });
        }
        Ok(summary)
    }

    /// Uploads every file under the local directory `from` (recursively) to `to`,
    /// keeping their relative paths, at most `concurrency` at a time (0 counts as 1).
    /// The walk streams: uploads start as files are found. A link to a file is uploaded
    /// as the file; a link to a directory is skipped, as flytekit skips it; a link to
    /// nothing is [`StorageError::DanglingLink`]. An empty directory uploads nothing.
    ///
    /// ```
    /// use flyte_storage::{MemoryStore, StorageUri, StoreExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let store = MemoryStore::new();
    /// let local = tempfile::tempdir().expect("temp dir");
    /// std::fs::create_dir(local.path().join("sub")).expect("mkdir");
    /// std::fs::write(local.path().join("sub/b.txt"), "bb").expect("write");
    /// let prefix = StorageUri::parse("mem://bucket/dir")?;
    /// let summary = store.put_dir(local.path(), &prefix, 16).await?;
    /// assert_eq!(summary.files, 1);
    /// assert!(store.exists(&prefix.join("sub/b.txt")?).await?);
    /// # Ok(())
    /// # }
    /// ```
    async fn put_dir(
        &self,
        from: &Path,
        to: &StorageUri,
        concurrency: usize,
    ) -> Result<TransferSummary> {
        let files = walk_local_dir(from).await?;
        let transfers = files.map_ok(|file| async move {
            crate::progress::file_started();
            let destination = to.join(&file.key)?;
            self.put_walked_file(&file.path, file.size, &destination)
                .await
        });
        summarise(transfers, concurrency).await
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

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
            crate::progress::file_done(bytes);
            Ok(TransferSummary {
                files: summary.files + 1,
                bytes: summary.bytes + bytes,
            })
        })
        .await
}

/// Entries per page of every listing: what the cloud backends ask for (S3's and GCS's
/// default and most, a fifth of Azure's most), what the local walk yields at a time,
/// and how far a directory download lists ahead of its downloads. One size, so that
/// every store streams a directory in the same steps, holds about one page at a time,
/// and fetches the next page while this one downloads.
pub(crate) const LIST_PAGE: std::num::NonZeroU32 = std::num::NonZeroU32::new(1000).unwrap();

/// [`LIST_PAGE`] as a count of entries.
pub(crate) const LIST_PAGE_LEN: usize = LIST_PAGE.get() as usize;

/// The files a directory download has placed, as 128-bit hashes of their paths (two
/// independently keyed SipHashes): 16 bytes a file, where the paths themselves would
/// take a hundred or more. Two different paths share a hash with a chance near 2^-128
/// a pair, far below any storage fault.
struct Placed {
    hashers: (std::hash::RandomState, std::hash::RandomState),
    hashes: std::collections::HashSet<u128>,
}

impl Placed {
    fn new() -> Self {
        Self {
            hashers: (std::hash::RandomState::new(), std::hash::RandomState::new()),
            hashes: std::collections::HashSet::new(),
        }
    }

    /// Records `destination`; `false` when it was placed already.
    fn insert(&mut self, destination: &Path) -> bool {
        use std::hash::BuildHasher;
        let high = u128::from(self.hashers.0.hash_one(destination));
        let low = u128::from(self.hashers.1.hash_one(destination));
        self.hashes.insert(high << 64 | low)
    }
}

/// The error for `second`, whose destination a key listed before it (`first`, when
/// known) took already.
fn clash_error(second: &ObjectMeta, destination: &Path, first: Option<&str>) -> StorageError {
    let other = first.map_or_else(
        || "another key".to_owned(),
        |first| format!("the key {first:?}"),
    );
    StorageError::InvalidUri {
        uri: second.uri.to_string(),
        reason: format!(
            "its key {:?} and {other} would both be downloaded to {}; rename one of them",
            second.key,
            destination.display()
        ),
    }
}

/// The first key under `from`, other than `second`, whose destination under `to` is
/// `destination`; `None` when a listing again does not find it.
async fn first_key_landing_on<S: Store + ?Sized>(
    store: &S,
    from: &StorageUri,
    to: &Path,
    destination: &Path,
    second: &str,
) -> Option<String> {
    let mut pages = store.list_pages(from);
    while let Some(Ok(page)) = pages.next().await {
        if let Some(first) = page.into_iter().find(|object| {
            object.key != second
                && local_destination(to, object).is_ok_and(|placed| placed == destination)
        }) {
            return Some(first.key);
        }
    }
    None
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
    fn placed_files_are_told_apart_and_a_repeat_is_caught() {
        let mut placed = Placed::new();
        for i in 0..10_000 {
            let path = PathBuf::from(format!("/t/d{}/f{i}", i % 7));
            assert!(placed.insert(&path), "{} is new", path.display());
        }
        assert!(!placed.insert(Path::new("/t/d3/f10")), "placed already");
        let odd = local_destination(Path::new("/t"), &object("./d3//f10")).expect("safe");
        assert!(!placed.insert(&odd), "the same file by another key");
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
