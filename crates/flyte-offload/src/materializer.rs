//! [`Materializer`]: a literal's blobs and datasets down to local paths.

use std::path::{Path, PathBuf};

use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::literal::Value as LiteralValue;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::{Blob, Literal, LiteralMap};
use flyte_proto::io;
use flyte_storage::{Location, Storage, StorageError, StorageUri};
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::error::{OffloadError, check_served};

/// How deep offloaded literals may refer to further offloaded literals before the walk
/// gives up ([`OffloadError::OffloadLoop`]). flytekit offloads a literal once, so one
/// level is what it writes.
///
/// ```
/// assert!(flyte_offload::MAX_OFFLOAD_DEPTH >= 1);
/// ```
pub const MAX_OFFLOAD_DEPTH: usize = 16;

/// How many blobs and datasets [`Materializer`] moves at once unless told otherwise.
/// Each directory transfer runs its own files with the storage's
/// `transfer_concurrency`, and every request shares the storage's memory budget.
///
/// ```
/// use flyte_offload::{DEFAULT_CONCURRENCY, Materializer};
/// // Twice the default, for many small files on a fast link.
/// let materializer = Materializer::new(flyte_storage::Storage::default())
///     .with_concurrency(2 * DEFAULT_CONCURRENCY);
/// assert_eq!(materializer.concurrency(), 16);
/// ```
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Downloads the blobs and structured datasets a literal refers to into local paths,
/// and returns the literal pointing at them, as flytekit's `to_python_value` does when a
/// task reads a `FlyteFile`, `FlyteDirectory` or DataFrame input.
///
/// Offloaded literals are read and replaced by what they hold first; collections, maps
/// and unions are walked; every transfer goes through the [`Storage`], at most
/// [`concurrency`](Self::with_concurrency) at once. When a download fails, what this
/// call created under the target paths is removed again (best effort). Cloning is
/// cheap; clones share the storage.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use flyte_offload::{Materializer, Offloader};
/// use flyte_proto::literal;
/// use flyte_storage::{MemoryStore, Storage};
///
/// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("report.csv"), "a,b\n")?;
/// let report = Offloader::new(storage.clone(), "mem://bucket/raw")
///     .file(&dir.path().join("report.csv"), "csv")
///     .await?;
/// // A task's inputs.pb, as the pipeline hands it over.
/// let inputs = literal::literal_map([("report", report), ("n", literal::integer(3))]);
///
/// let local = Materializer::new(storage)
///     .literal_map(&inputs, &dir.path().join("inputs"))
///     .await?;
/// // The FlyteFile input `report` is now the file <dir>/inputs/report.
/// assert_eq!(std::fs::read_to_string(dir.path().join("inputs/report"))?, "a,b\n");
/// assert_eq!(local.literals["n"].as_integer(), Some(3));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Materializer {
    storage: Storage,
    concurrency: usize,
}

/// What a URI names, as far as the literal says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// One object (Blob SINGLE).
    File,
    /// Everything under a prefix (Blob MULTIPART).
    Directory,
    /// A dataset or schema: one object if one exists at exactly the URI, else a prefix.
    Either,
}

/// One transfer the walk found.
#[derive(Debug)]
struct Download {
    uri: String,
    to: PathBuf,
    shape: Shape,
}

impl Materializer {
    /// A materialiser downloading through `storage`, [`DEFAULT_CONCURRENCY`] blobs at once.
    ///
    /// ```
    /// let materializer = flyte_offload::Materializer::new(flyte_storage::Storage::default());
    /// assert_eq!(materializer.concurrency(), flyte_offload::DEFAULT_CONCURRENCY);
    /// ```
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// This materialiser moving at most `concurrency` blobs and datasets at once (at
    /// least one).
    ///
    /// ```
    /// let materializer = flyte_offload::Materializer::new(flyte_storage::Storage::default())
    ///     .with_concurrency(2);
    /// assert_eq!(materializer.concurrency(), 2);
    /// ```
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How many blobs and datasets move at once.
    ///
    /// ```
    /// # let materializer = flyte_offload::Materializer::new(flyte_storage::Storage::default());
    /// assert!(materializer.concurrency() >= 1);
    /// ```
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Downloads every blob and dataset in `literal` under `to` and returns the literal
    /// with each downloaded URI replaced by its local path:
    ///
    /// - a Blob SINGLE becomes the file `to`, a Blob MULTIPART the directory `to`. On
    ///   an object store a prefix with no objects, which is what an empty directory
    ///   offloads to and cannot be told from a missing one, becomes an empty directory;
    ///   on local files (a plain path or `file://`), which keep empty directories, a
    ///   directory that is not there is [`OffloadError::Download`] with a
    ///   [`StorageError::NotFound`] naming its URI;
    /// - a StructuredDataset (or legacy Schema) becomes the file `to` when an object
    ///   exists at exactly its URI, else the directory `to`;
    /// - collection item `i` goes to `to/i`, map entry `k` to `to/k` (a key that is no
    ///   safe file name is [`OffloadError::UnsafeKey`]);
    /// - unions are looked through; an offloaded literal is read and replaced by the
    ///   literal it holds;
    /// - primitives and everything else are returned as they are, and nothing is
    ///   written for them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use flyte_proto::core::blob_type::BlobDimensionality;
    /// use flyte_proto::literal;
    /// use flyte_storage::{MemoryStore, Storage};
    ///
    /// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/raw/0123/a.csv", &b"a"[..]).await?;
    /// storage.put_bytes("mem://bucket/raw/4567/b.csv", &b"b"[..]).await?;
    /// let remote = literal::collection([
    ///     literal::blob("mem://bucket/raw/0123/a.csv", "csv", BlobDimensionality::Single),
    ///     literal::blob("mem://bucket/raw/4567/b.csv", "csv", BlobDimensionality::Single),
    /// ]);
    ///
    /// let dir = tempfile::tempdir()?;
    /// let to = dir.path().join("reports");
    /// let local = flyte_offload::Materializer::new(storage).literal(&remote, &to).await?;
    /// // Item i at to/i, and the literal names the local copies.
    /// assert_eq!(std::fs::read(to.join("1"))?, b"b");
    /// let first = &local.as_collection().expect("a list")[0];
    /// assert_eq!(first.as_blob().map(|b| b.uri.as_str()), to.join("0").to_str());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn literal(&self, literal: &Literal, to: &Path) -> Result<Literal, OffloadError> {
        let mut literal = literal.clone();
        self.resolve_offloaded(&mut literal, 0).await?;
        let mut downloads = Vec::new();
        plan(&mut literal, to, &mut downloads)?;
        self.run(downloads, &[to.to_owned()]).await?;
        Ok(literal)
    }

    /// Each variable of `map` materialised at `dir/<name>`, as [`literal`](Self::literal)
    /// does, all of them sharing one concurrency bound.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use flyte_proto::core::blob_type::BlobDimensionality;
    /// use flyte_proto::literal;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("model.bin"), b"weights")?;
    /// let model = dir.path().join("model.bin").display().to_string();
    /// let inputs = literal::literal_map([
    ///     ("model", literal::blob(model, "", BlobDimensionality::Single)),
    ///     ("epochs", literal::integer(3)),
    /// ]);
    ///
    /// let materializer = flyte_offload::Materializer::new(flyte_storage::Storage::default());
    /// let local = materializer.literal_map(&inputs, &dir.path().join("inputs")).await?;
    /// assert_eq!(std::fs::read(dir.path().join("inputs/model"))?, b"weights");
    /// assert_eq!(local.literals.len(), inputs.literals.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn literal_map(
        &self,
        map: &LiteralMap,
        dir: &Path,
    ) -> Result<LiteralMap, OffloadError> {
        let mut map = map.clone();
        let mut downloads = Vec::new();
        let mut roots = Vec::new();
        for (name, literal) in &mut map.literals {
            let to = child(dir, name)?;
            self.resolve_offloaded(literal, 0).await?;
            plan(literal, &to, &mut downloads)?;
            roots.push(to);
        }
        self.run(downloads, &roots).await?;
        Ok(map)
    }

    /// The file a Blob SINGLE literal names, downloaded to `to`: for a caller that
    /// expects a file and wants an error naming anything else
    /// ([`OffloadError::UnexpectedLiteral`]). Unions and offloaded literals are looked
    /// through.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use flyte_offload::OffloadError;
    /// use flyte_proto::core::blob_type::BlobDimensionality;
    /// use flyte_proto::literal;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("model.bin"), b"weights")?;
    /// let input = literal::blob(
    ///     dir.path().join("model.bin").display().to_string(),
    ///     "",
    ///     BlobDimensionality::Single,
    /// );
    /// let materializer = flyte_offload::Materializer::new(flyte_storage::Storage::default());
    ///
    /// let path = materializer.file(&input, &dir.path().join("copy.bin")).await?;
    /// assert_eq!(std::fs::read(path)?, b"weights");
    ///
    /// // Anything but a file is an error saying what it was.
    /// let error = materializer.file(&literal::integer(1), &dir.path().join("x")).await.unwrap_err();
    /// assert!(matches!(error, OffloadError::UnexpectedLiteral { .. }));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn file(&self, literal: &Literal, to: &Path) -> Result<PathBuf, OffloadError> {
        let fits = |literal: &Literal| literal.as_blob().is_some_and(|blob| !is_multipart(blob));
        self.expecting(literal, to, "a file (Blob SINGLE)", fits)
            .await
    }

    /// The directory a Blob MULTIPART literal names, downloaded to `to`; anything else is
    /// [`OffloadError::UnexpectedLiteral`]. Unions and offloaded literals are looked
    /// through.
    ///
    /// A directory with no files comes back as an empty directory when it lives in an
    /// object store (an empty prefix, which is what an empty directory offloads to, is
    /// indistinguishable from a missing one); on local files, a directory that is not
    /// there is [`OffloadError::Download`] with [`StorageError::NotFound`] naming its URI.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use flyte_proto::core::blob_type::BlobDimensionality;
    /// use flyte_proto::literal;
    /// use flyte_storage::{MemoryStore, Storage};
    ///
    /// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/raw/89ab/2024/01.csv", &b"jan"[..]).await?;
    /// let input = literal::blob("mem://bucket/raw/89ab", "", BlobDimensionality::Multipart);
    ///
    /// let dir = tempfile::tempdir()?;
    /// let data = flyte_offload::Materializer::new(storage)
    ///     .directory(&input, &dir.path().join("data"))
    ///     .await?;
    /// assert_eq!(std::fs::read(data.join("2024/01.csv"))?, b"jan");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn directory(&self, literal: &Literal, to: &Path) -> Result<PathBuf, OffloadError> {
        let fits = |literal: &Literal| literal.as_blob().is_some_and(is_multipart);
        self.expecting(literal, to, "a directory (Blob MULTIPART)", fits)
            .await
    }

    /// The structured dataset (a DataFrame) a StructuredDataset literal names,
    /// downloaded to `to`; anything else, a legacy Schema included, is
    /// [`OffloadError::UnexpectedLiteral`]. Unions and offloaded literals are looked
    /// through.
    ///
    /// `to` becomes a file when an object exists at exactly the dataset's URI, else a
    /// directory holding everything under it: what flytekit writes is a directory with
    /// one file named by its format ([`dataset_file_name`](crate::dataset_file_name),
    /// `00000` for parquet, `.csv` for csv) or several. The format and columns are in
    /// the literal's metadata.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use flyte_offload::{Materializer, Offloader};
    /// use flyte_storage::{MemoryStore, Storage};
    ///
    /// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("frame.csv"), "x,label\n1,one\n")?;
    /// let frame = Offloader::new(storage.clone(), "mem://bucket/raw")
    ///     .structured_dataset(&dir.path().join("frame.csv"), "csv", None)
    ///     .await?;
    ///
    /// let local = Materializer::new(storage)
    ///     .structured_dataset(&frame, &dir.path().join("input"))
    ///     .await?;
    /// assert_eq!(std::fs::read_to_string(local.join(".csv"))?, "x,label\n1,one\n");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn structured_dataset(
        &self,
        literal: &Literal,
        to: &Path,
    ) -> Result<PathBuf, OffloadError> {
        let fits = |literal: &Literal| literal.as_structured_dataset().is_some();
        self.expecting(literal, to, "a structured dataset", fits)
            .await
    }

    /// [`literal`](Self::literal) for a caller expecting one kind of value: `fits` says
    /// whether the literal, offloaded literals and unions looked through, is of it.
    async fn expecting(
        &self,
        literal: &Literal,
        to: &Path,
        expected: &'static str,
        fits: impl Fn(&Literal) -> bool,
    ) -> Result<PathBuf, OffloadError> {
        let mut literal = literal.clone();
        self.resolve_offloaded(&mut literal, 0).await?;
        let peeled = literal.peel_unions().clone();
        if !fits(&peeled) {
            return Err(OffloadError::UnexpectedLiteral {
                expected,
                found: describe(&peeled),
                path: to.to_owned(),
            });
        }
        self.literal(&peeled, to).await?;
        Ok(to.to_owned())
    }

    /// Replaces every offloaded literal in `literal` by the literal its URI holds.
    async fn resolve_offloaded(
        &self,
        literal: &mut Literal,
        depth: usize,
    ) -> Result<(), OffloadError> {
        // Iterative over the tree, recursive only through offloaded references, so a
        // deep collection does not grow the future.
        let mut pending: Vec<&mut Literal> = vec![literal];
        while let Some(current) = pending.pop() {
            if let Some(LiteralValue::OffloadedMetadata(offloaded)) = &current.value {
                let uri = offloaded.uri.clone();
                if depth >= MAX_OFFLOAD_DEPTH {
                    return Err(OffloadError::OffloadLoop {
                        uri,
                        depth: MAX_OFFLOAD_DEPTH,
                    });
                }
                check_served(&self.storage, &uri, &uri)?;
                let bytes = self.storage.get_bytes(&uri).await.map_err(|source| {
                    OffloadError::OffloadedLiteralDownload {
                        uri: uri.clone(),
                        source,
                    }
                })?;
                let mut loaded = io::decode::<Literal>(&bytes).map_err(|source| {
                    OffloadError::OffloadedLiteralInvalid {
                        uri: uri.clone(),
                        source,
                    }
                })?;
                Box::pin(self.resolve_offloaded(&mut loaded, depth + 1)).await?;
                *current = loaded;
                continue;
            }
            match &mut current.value {
                Some(LiteralValue::Collection(collection)) => {
                    pending.extend(collection.literals.iter_mut())
                }
                Some(LiteralValue::Map(map)) => pending.extend(map.literals.values_mut()),
                Some(LiteralValue::Scalar(scalar)) => {
                    if let Some(ScalarValue::Union(union)) = &mut scalar.value
                        && let Some(inner) = &mut union.value
                    {
                        pending.push(inner);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs `downloads`, [`concurrency`](Self::concurrency) at once; on a failure
    /// removes whichever of `roots` did not exist before.
    async fn run(&self, downloads: Vec<Download>, roots: &[PathBuf]) -> Result<(), OffloadError> {
        for download in &downloads {
            check_served(&self.storage, &download.uri, &download.uri)?;
        }
        let absent: Vec<&PathBuf> = roots
            .iter()
            .filter(|root| std::fs::symlink_metadata(root).is_err())
            .collect();
        let result = stream::iter(downloads)
            .map(|download| self.download(download))
            .buffer_unordered(self.concurrency)
            .try_collect::<()>()
            .await;
        if result.is_err() {
            for root in absent {
                let _ = tokio::fs::remove_dir_all(root).await;
                let _ = tokio::fs::remove_file(root).await;
            }
        }
        result
    }

    /// Whether a directory `uri` that holds no file is an empty directory rather than
    /// nothing at all. An object store keeps no empty directories: a FlyteDirectory that
    /// was empty when it was offloaded is a prefix with no objects, which looks exactly
    /// like a missing one, so there it is taken for the empty directory it was. A local
    /// path (or `file://` URI) can tell: it is one only if the directory is there.
    async fn is_empty_directory(&self, uri: &str) -> bool {
        match StorageUri::parse(uri).as_ref().map(StorageUri::location) {
            Ok(Location::Local(path)) => tokio::fs::metadata(path)
                .await
                .is_ok_and(|metadata| metadata.is_dir()),
            _ => true,
        }
    }

    async fn download(&self, download: Download) -> Result<(), OffloadError> {
        let Download { uri, to, shape } = download;
        let failed = |source| OffloadError::Download {
            uri: uri.clone(),
            path: to.clone(),
            source,
        };
        let is_file = match shape {
            Shape::File => true,
            Shape::Directory => false,
            Shape::Either => self.storage.stat(&uri).await.map_err(failed)?.is_some(),
        };
        if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| OffloadError::Local {
                    action: "create the directory",
                    path: parent.to_owned(),
                    source,
                })?;
        }
        if is_file {
            self.storage.get_file(&uri, &to).await.map_err(failed)?;
        } else {
            match self.storage.get_dir(&uri, &to).await {
                Ok(_) => {}
                Err(error @ StorageError::NotFound { .. }) if shape == Shape::Directory => {
                    if !self.is_empty_directory(&uri).await {
                        return Err(failed(error));
                    }
                    tokio::fs::create_dir_all(&to)
                        .await
                        .map_err(|source| OffloadError::Local {
                            action: "create the directory",
                            path: to.clone(),
                            source,
                        })?;
                }
                Err(error) => return Err(failed(error)),
            }
        }
        Ok(())
    }
}

/// Records every download in `literal` (offloaded literals already resolved) and points
/// its URI at the local path it will have.
fn plan(
    literal: &mut Literal,
    to: &Path,
    downloads: &mut Vec<Download>,
) -> Result<(), OffloadError> {
    let mut pending: Vec<(&mut Literal, PathBuf)> = vec![(literal, to.to_owned())];
    while let Some((current, to)) = pending.pop() {
        match &mut current.value {
            Some(LiteralValue::Collection(collection)) => {
                // Pushed in reverse, so downloads run in the literal's order.
                for (index, item) in collection.literals.iter_mut().enumerate().rev() {
                    pending.push((item, to.join(index.to_string())));
                }
            }
            Some(LiteralValue::Map(map)) => {
                for (key, item) in map.literals.iter_mut().rev() {
                    let path = child(&to, key)?;
                    pending.push((item, path));
                }
            }
            Some(LiteralValue::Scalar(scalar)) => {
                let (kind, uri, shape) = match &mut scalar.value {
                    Some(ScalarValue::Union(union)) => {
                        if let Some(inner) = &mut union.value {
                            pending.push((inner, to));
                        }
                        continue;
                    }
                    Some(ScalarValue::Blob(blob)) => {
                        let shape = if is_multipart(blob) {
                            Shape::Directory
                        } else {
                            Shape::File
                        };
                        ("blob", &mut blob.uri, shape)
                    }
                    Some(ScalarValue::StructuredDataset(dataset)) => {
                        ("structured dataset", &mut dataset.uri, Shape::Either)
                    }
                    Some(ScalarValue::Schema(schema)) => ("schema", &mut schema.uri, Shape::Either),
                    _ => continue,
                };
                if uri.is_empty() {
                    return Err(OffloadError::EmptyUri { kind, path: to });
                }
                let local = to
                    .to_str()
                    .ok_or_else(|| OffloadError::NonUtf8Path { path: to.clone() })?
                    .to_owned();
                downloads.push(Download {
                    uri: std::mem::replace(uri, local),
                    to,
                    shape,
                });
            }
            // Resolved before planning; an unset literal has nothing to download.
            Some(LiteralValue::OffloadedMetadata(_)) | None => {}
        }
    }
    Ok(())
}

/// `dir/key`, for a key that is one safe file name.
fn child(dir: &Path, key: &str) -> Result<PathBuf, OffloadError> {
    let unsafe_key = key.is_empty() || key == "." || key == ".." || key.contains(['/', '\0']);
    if unsafe_key {
        return Err(OffloadError::UnsafeKey {
            key: key.to_owned(),
            dir: dir.to_owned(),
        });
    }
    Ok(dir.join(key))
}

/// Whether a blob is a directory; a blob without a type is a file, as flytekit reads it.
fn is_multipart(blob: &Blob) -> bool {
    blob.metadata
        .as_ref()
        .and_then(|m| m.r#type.as_ref())
        .is_some_and(|t| t.dimensionality() == BlobDimensionality::Multipart)
}

/// What a literal is, in words for an error message.
fn describe(literal: &Literal) -> String {
    let text = match &literal.value {
        None => "an empty literal",
        Some(LiteralValue::Collection(_)) => "a collection",
        Some(LiteralValue::Map(_)) => "a map",
        Some(LiteralValue::OffloadedMetadata(_)) => "an offloaded literal",
        Some(LiteralValue::Scalar(scalar)) => match &scalar.value {
            Some(ScalarValue::Blob(blob)) => {
                if is_multipart(blob) {
                    "a directory (Blob MULTIPART)"
                } else {
                    "a file (Blob SINGLE)"
                }
            }
            Some(ScalarValue::StructuredDataset(_)) => "a structured dataset",
            Some(ScalarValue::Schema(_)) => "a schema",
            Some(ScalarValue::Primitive(_)) => "a primitive",
            Some(ScalarValue::Binary(_)) => "a binary value",
            Some(ScalarValue::NoneType(_)) => "none",
            Some(ScalarValue::Error(_)) => "an error",
            Some(ScalarValue::Generic(_)) => "a generic (struct) value",
            Some(ScalarValue::Union(_)) => "an empty union",
            None => "an empty scalar",
        },
    };
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyte_proto::literal;

    #[test]
    fn plan_places_items_and_entries_under_their_index_and_key() {
        let mut value = literal::map([(
            "files",
            literal::collection([
                literal::blob("s3://b/a", "", BlobDimensionality::Single),
                literal::integer(3),
                literal::blob("s3://b/d", "", BlobDimensionality::Multipart),
            ]),
        )]);
        let mut downloads = Vec::new();
        plan(&mut value, Path::new("/t"), &mut downloads).expect("plan");
        downloads.sort_by(|a, b| a.uri.cmp(&b.uri));
        assert_eq!(downloads.len(), 2);
        assert_eq!(downloads[0].to, Path::new("/t/files/0"));
        assert_eq!(downloads[0].shape, Shape::File);
        assert_eq!(downloads[1].to, Path::new("/t/files/2"));
        assert_eq!(downloads[1].shape, Shape::Directory);
        let items = value.as_map().expect("map")["files"]
            .as_collection()
            .expect("collection")
            .to_vec();
        assert_eq!(
            items[0].as_blob().map(|b| b.uri.as_str()),
            Some("/t/files/0")
        );
        assert_eq!(items[1].as_integer(), Some(3));
    }

    #[test]
    fn keys_that_are_not_one_file_name_are_refused() {
        for key in ["", ".", "..", "a/b", "../x"] {
            assert!(
                matches!(
                    child(Path::new("/d"), key),
                    Err(OffloadError::UnsafeKey { .. })
                ),
                "{key:?}"
            );
        }
        assert_eq!(
            child(Path::new("/d"), "ok.txt").ok(),
            Some(PathBuf::from("/d/ok.txt"))
        );
    }

    #[test]
    fn a_blob_without_a_uri_is_an_error_naming_its_path() {
        let mut value = literal::blob("", "", BlobDimensionality::Single);
        let error = plan(&mut value, Path::new("/t/x"), &mut Vec::new()).expect_err("empty");
        assert!(error.to_string().contains("/t/x"), "{error}");
    }
}
