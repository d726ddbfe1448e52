//! [`Offloader`]: local data up to the raw output prefix, as flytekit's type transformers
//! lay it out, and the literal that names it.

use std::path::Path;

use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::structured_dataset_type::DatasetColumn;
use flyte_proto::core::{
    Literal, StructuredDataset, StructuredDatasetMetadata, StructuredDatasetType,
};
use flyte_proto::literal;
use flyte_storage::{Location, Storage, StorageUri, join};

use crate::error::{OffloadError, check_served};
use crate::local::{self, Kind};

/// The name flytekit's encoders give the one file they write into a dataset's
/// directory, by the dataset's storage `format`: `00000` for `"parquet"` (pandas' and
/// arrow's `f"{0:05}"`) and `.csv` for `"csv"` (pandas' CSV encoder). `""`, flytekit's
/// generic format, is read by its decoders with the default format of the type asked
/// for, parquet for pandas and arrow, so it is `00000` too. Any other format has no
/// one-file name flytekit's decoders would look for: `None`, and such a dataset is
/// offloaded as a directory of its files ([`Offloader::structured_dataset`] refuses a
/// single file of it).
///
/// ```
/// use flyte_offload::dataset_file_name;
///
/// let dataset_uri = "s3://bucket/raw/0123456789abcdef0123456789abcdef";
/// let parquet = flyte_storage::join(dataset_uri, dataset_file_name("parquet").expect("known"));
/// assert!(parquet.ends_with("/00000"));
/// assert_eq!(dataset_file_name("csv"), Some(".csv"));
/// assert_eq!(dataset_file_name(""), Some("00000"), "flytekit's generic format reads as parquet");
/// assert_eq!(dataset_file_name("arrow"), None);
/// ```
pub fn dataset_file_name(format: &str) -> Option<&'static str> {
    match format {
        "parquet" | "" => Some("00000"),
        "csv" => Some(".csv"),
        _ => None,
    }
}

/// Puts local files, directories and datasets under a raw output prefix and returns the
/// literals flytekit's TypeEngine would have made for them.
///
/// Each value goes under a fresh random directory of the prefix: 32 lowercase hex
/// digits (128 random bits), as flytekit's `FileAccessProvider.get_random_string`. Nothing is written
/// under the prefix unless the whole value is: a failed upload deletes (best effort)
/// what it had written, and returns no literal. Cloning is cheap; clones share the
/// storage.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use flyte_offload::Offloader;
/// use flyte_storage::{MemoryStore, Storage};
///
/// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("report.csv"), "a,b\n1,2\n")?;
///
/// let offloader = Offloader::new(storage.clone(), "mem://my-bucket/raw/ab/cd-n0-0");
/// let report = offloader.file(&dir.path().join("report.csv"), "csv").await?;
/// // mem://my-bucket/raw/ab/cd-n0-0/<32 hex>/report.csv
/// let uri = &report.as_blob().expect("a FlyteFile").uri;
/// assert!(uri.starts_with("mem://my-bucket/raw/ab/cd-n0-0/") && uri.ends_with("/report.csv"));
/// assert_eq!(&storage.get_bytes(uri).await?[..], b"a,b\n1,2\n");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Offloader {
    storage: Storage,
    raw_output_prefix: String,
}

impl Offloader {
    /// An offloader writing under `raw_output_prefix` (the task's
    /// `--raw-output-data-prefix`) through `storage`. Makes no request yet; a prefix no
    /// store serves is reported by the first offload.
    ///
    /// ```
    /// use flyte_offload::Offloader;
    /// let offloader = Offloader::new(flyte_storage::Storage::default(), "/tmp/raw");
    /// assert_eq!(offloader.raw_output_prefix(), "/tmp/raw");
    /// ```
    pub fn new(storage: Storage, raw_output_prefix: impl Into<String>) -> Self {
        Self {
            storage,
            raw_output_prefix: raw_output_prefix.into(),
        }
    }

    /// The prefix values are offloaded under.
    ///
    /// ```
    /// # let offloader = flyte_offload::Offloader::new(flyte_storage::Storage::default(), "gs://b/raw");
    /// assert!(offloader.raw_output_prefix().starts_with("gs://"));
    /// ```
    pub fn raw_output_prefix(&self) -> &str {
        &self.raw_output_prefix
    }

    /// Uploads the file at `path` to `<prefix>/<32 hex>/<file name>` (flytekit's
    /// `get_random_remote_path`, which keeps the file name) and returns a Blob SINGLE
    /// literal of `format` (`""` = none, as a plain `FlyteFile`; `"csv"` for
    /// `FlyteFile[typing.TypeVar("csv")]`). A symbolic link is uploaded as the file it
    /// names, under the link's name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use flyte_proto::core::blob_type::BlobDimensionality;
    /// # let storage = flyte_storage::Storage::default()
    /// #     .with_store("mem://", std::sync::Arc::new(flyte_storage::MemoryStore::new()));
    /// # let offloader = flyte_offload::Offloader::new(storage, "mem://bucket/raw");
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("model.bin"), [0u8; 16])?;
    /// let literal = offloader.file(&dir.path().join("model.bin"), "").await?;
    /// let blob = literal.as_blob().expect("a FlyteFile");
    /// assert!(blob.uri.ends_with("/model.bin"));
    /// let blob_type = blob.metadata.as_ref().and_then(|m| m.r#type.as_ref()).expect("typed");
    /// assert_eq!(blob_type.dimensionality(), BlobDimensionality::Single);
    ///
    /// // A path that is not there is refused before anything is written.
    /// let missing = offloader.file(&dir.path().join("no-such.bin"), "").await;
    /// assert!(matches!(missing, Err(flyte_offload::OffloadError::NotFound { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn file(&self, path: &Path, format: &str) -> Result<Literal, OffloadError> {
        let name = path.file_name().ok_or_else(|| OffloadError::NoFileName {
            path: path.to_owned(),
        })?;
        let name = name.to_str().ok_or_else(|| OffloadError::NonUtf8Path {
            path: path.to_owned(),
        })?;
        self.expect(path, Kind::File).await?;
        let directory = self.fresh_directory()?;
        let uri = join(&directory, name);
        self.upload_file(path, &uri, &directory).await?;
        Ok(literal::blob(uri, format, BlobDimensionality::Single))
    }

    /// Uploads every file under the directory `path` to `<prefix>/<32 hex>/`, nesting
    /// kept (flytekit's `get_random_remote_directory` and recursive put), and returns a
    /// Blob MULTIPART literal of `format` (`""` for a plain `FlyteDirectory`) whose URI
    /// is that directory, with no trailing `/`.
    ///
    /// Every symbolic link under `path` must point inside it; one that does not is
    /// [`OffloadError::LinkOutside`], found before anything is uploaded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage};
    ///
    /// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
    /// let offloader = flyte_offload::Offloader::new(storage.clone(), "mem://bucket/raw");
    /// let dir = tempfile::tempdir()?;
    /// std::fs::create_dir_all(dir.path().join("checkpoints/epoch-1"))?;
    /// std::fs::write(dir.path().join("checkpoints/epoch-1/weights"), b"w")?;
    ///
    /// let literal = offloader.directory(&dir.path().join("checkpoints"), "").await?;
    /// let uri = &literal.as_blob().expect("a FlyteDirectory").uri;
    /// let keys: Vec<String> = storage.list(uri).await?.into_iter().map(|o| o.key).collect();
    /// assert_eq!(keys, ["epoch-1/weights"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn directory(&self, path: &Path, format: &str) -> Result<Literal, OffloadError> {
        self.expect(path, Kind::Directory).await?;
        let uri = self.fresh_directory()?;
        self.upload_directory(path, &uri).await?;
        Ok(literal::blob(uri, format, BlobDimensionality::Multipart))
    }

    /// Uploads a structured dataset and returns its StructuredDataset literal, with
    /// `columns` in its type when known (flytekit fills them from an annotation such as
    /// `Annotated[StructuredDataset, kwtypes(x=int)]`; `None` leaves them out).
    ///
    /// `format` is the dataset's storage format (`"parquet"`, `"csv"`, ...). A file goes
    /// to `<prefix>/<32 hex>/<name>`, named as flytekit's encoder of that format names
    /// it ([`dataset_file_name`]: `00000` for parquet and the generic `""`, `.csv` for
    /// csv); a single file of
    /// any other format is [`OffloadError::DatasetFileFormat`], since flytekit's decoders
    /// would not find it. A directory (of parquet files, say) goes to `<prefix>/<32 hex>/`
    /// as [`directory`](Self::directory) uploads one, whatever the format. Either way the
    /// literal's URI is the `<prefix>/<32 hex>` directory, which flytekit's decoders read.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use flyte_proto::core::literal_type::Type;
    /// use flyte_proto::core::{structured_dataset_type::DatasetColumn, LiteralType, SimpleType};
    /// use flyte_storage::{MemoryStore, Storage};
    ///
    /// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
    /// let offloader = flyte_offload::Offloader::new(storage.clone(), "mem://bucket/raw");
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("frame.csv"), "x\n1\n2\n")?;
    ///
    /// let x = DatasetColumn {
    ///     name: "x".to_owned(),
    ///     literal_type: Some(LiteralType {
    ///         r#type: Some(Type::Simple(SimpleType::Integer.into())),
    ///         ..Default::default()
    ///     }),
    /// };
    /// let frame = offloader
    ///     .structured_dataset(&dir.path().join("frame.csv"), "csv", Some(vec![x]))
    ///     .await?;
    /// let dataset = frame.as_structured_dataset().expect("a StructuredDataset");
    /// // Where flytekit's CSV decoder reads it: <uri>/.csv
    /// assert_eq!(&storage.get_bytes(&format!("{}/.csv", dataset.uri)).await?[..], b"x\n1\n2\n");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn structured_dataset(
        &self,
        path: &Path,
        format: &str,
        columns: Option<Vec<DatasetColumn>>,
    ) -> Result<Literal, OffloadError> {
        let kind = local::kind_of(path).await?;
        let file_name =
            match kind {
                Kind::File => Some(dataset_file_name(format).ok_or_else(|| {
                    OffloadError::DatasetFileFormat {
                        path: path.to_owned(),
                        format: format.to_owned(),
                    }
                })?),
                Kind::Directory => None,
            };
        let uri = self.fresh_directory()?;
        match file_name {
            Some(name) => self.upload_file(path, &join(&uri, name), &uri).await?,
            None => {
                local::check_links(path).await?;
                self.upload_directory(path, &uri).await?;
            }
        }
        Ok(literal::scalar(ScalarValue::StructuredDataset(
            StructuredDataset {
                uri,
                metadata: Some(StructuredDatasetMetadata {
                    structured_dataset_type: Some(StructuredDatasetType {
                        columns: columns.unwrap_or_default(),
                        format: format.to_owned(),
                        ..Default::default()
                    }),
                }),
            },
        )))
    }

    /// Checks that `path` is what the caller said it is (and, for a directory, that its
    /// links stay inside it) before anything is written.
    async fn expect(&self, path: &Path, expected: Kind) -> Result<(), OffloadError> {
        let kind = local::kind_of(path).await?;
        match (expected, kind) {
            (Kind::File, Kind::File) => Ok(()),
            (Kind::Directory, Kind::Directory) => local::check_links(path).await,
            (Kind::File, Kind::Directory) => Err(OffloadError::NotAFile {
                path: path.to_owned(),
            }),
            (Kind::Directory, Kind::File) => Err(OffloadError::NotADirectory {
                path: path.to_owned(),
            }),
        }
    }

    /// A fresh `<prefix>/<32 hex>`, checked to be a URI the storage has a store for.
    fn fresh_directory(&self) -> Result<String, OffloadError> {
        if self.raw_output_prefix.is_empty() {
            return Err(OffloadError::EmptyPrefix);
        }
        let uri = join(&self.raw_output_prefix, &random_string());
        check_served(&self.storage, &uri, &self.raw_output_prefix)?;
        Ok(uri)
    }

    /// Uploads the file `path` to `uri`, under the fresh directory `fresh`, which a
    /// failure discards.
    async fn upload_file(&self, path: &Path, uri: &str, fresh: &str) -> Result<(), OffloadError> {
        match self.storage.put_file(path, uri).await {
            Ok(_) => Ok(()),
            Err(source) => {
                // Uploads commit whole or not at all; this is for a store that does not,
                // and for the directories a local upload made.
                self.discard(fresh).await;
                Err(OffloadError::Upload {
                    path: path.to_owned(),
                    uri: uri.to_owned(),
                    source,
                })
            }
        }
    }

    /// Uploads the directory `path` to the fresh directory `uri`, which a failure
    /// discards.
    async fn upload_directory(&self, path: &Path, uri: &str) -> Result<(), OffloadError> {
        match self.storage.put_dir(path, uri).await {
            Ok(_) => Ok(()),
            Err(source) => {
                self.discard(uri).await;
                Err(OffloadError::Upload {
                    path: path.to_owned(),
                    uri: uri.to_owned(),
                    source,
                })
            }
        }
    }

    /// Removes everything a failed upload wrote under its fresh directory `fresh`, best
    /// effort: the upload already failed, and its error is the one worth reporting.
    ///
    /// Every object under it is deleted; on local files the directories the upload
    /// made (`<prefix>/<32 hex>/...`) would stay behind as empty directories, so there
    /// the fresh directory goes whole. It is this upload's own (a new random name), so
    /// nothing else is under it.
    async fn discard(&self, fresh: &str) {
        if let Ok(objects) = self.storage.list(fresh).await {
            for object in objects {
                let _ = self.storage.delete(&object.uri.to_string()).await;
            }
        }
        if let Ok(uri) = StorageUri::parse(fresh)
            && let Location::Local(path) = uri.location()
        {
            let _ = tokio::fs::remove_dir_all(path).await;
        }
    }
}

/// 32 lowercase hex digits of 128 random bits, as flytekit's `get_random_string`
/// (`UUID(int=random.getrandbits(128)).hex`). Not a version 4 UUID: every digit is
/// random, none is fixed to a version or variant.
fn random_string() -> String {
    format!("{:032x}", fastrand::u128(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_strings_are_32_lowercase_hex_digits_and_differ() {
        let a = random_string();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(a, random_string());
    }

    #[test]
    fn random_strings_fix_no_uuid_version_or_variant_digit() {
        // A v4 UUID's hex always has `4` at index 12 and one of `89ab` at index 16;
        // 128 random bits have every digit at each place within a few hundred draws.
        let draws: Vec<String> = (0..400).map(|_| random_string()).collect();
        for index in [12, 16] {
            let digits: std::collections::BTreeSet<u8> =
                draws.iter().map(|s| s.as_bytes()[index]).collect();
            assert_eq!(
                digits.len(),
                16,
                "digit {index} takes every value: {digits:?}"
            );
        }
    }

    // The clean-up a failed upload runs, on its own: everything under the fresh prefix
    // goes, directories included, and nothing else (tests/local_files.rs stages real
    // failures).
    #[tokio::test]
    async fn the_clean_up_of_a_failed_upload_deletes_everything_under_its_prefix() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let prefix = scratch.path().to_str().expect("utf-8").to_owned();
        let offloader = Offloader::new(Storage::default(), &prefix);
        let fresh = offloader.fresh_directory().expect("a fresh directory");
        let storage = &offloader.storage;
        for name in ["a", "nested/b", "nested/deeper/c"] {
            storage
                .put_bytes(&join(&fresh, name), &b"partial"[..])
                .await
                .expect("put");
        }
        let beside = join(&prefix, "other-value");
        storage.put_bytes(&beside, &b"keep"[..]).await.expect("put");

        offloader.discard(&fresh).await;

        let left: Vec<String> = storage
            .list(&prefix)
            .await
            .expect("list")
            .into_iter()
            .map(|object| object.key)
            .collect();
        assert_eq!(left, ["other-value"]);
        let entries: Vec<String> = std::fs::read_dir(&prefix)
            .expect("the prefix")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            entries,
            ["other-value"],
            "no directory of the upload is left"
        );
    }
}
