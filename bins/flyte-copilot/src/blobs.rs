//! Literals ↔ local files: a stand-in for the flyte-offload crate, with the same API
//! (`Offloader::{new, file, directory, structured_dataset}`,
//! `Materializer::{new, literal, literal_map}`, `OffloadError`), so that switching to
//! the crate once it is merged is this one file: replace it with
//! `pub use flyte_offload::{Materializer, OffloadError, Offloader};` and
//! [`retry_cannot_help`] matching that crate's variants (`OffloadedLiteral`,
//! `OffloadLoop`, `UnsafeKey`, `EmptyUri`, `UnexpectedLiteral`).
//!
//! Only what copilot needs is here: uploads under flytekit's layout
//! (`<raw prefix>/<32 hex>/<file name>` for a file, `<raw prefix>/<32 hex>` for a
//! directory or dataset) and downloads of every blob, schema and dataset in a literal,
//! with storage's own bounded concurrency for directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flyte_proto::core::literal::Value as LiteralValue;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::structured_dataset_type::DatasetColumn;
use flyte_proto::core::{
    Literal, LiteralCollection, LiteralMap, StructuredDatasetMetadata, StructuredDatasetType,
    blob_type::BlobDimensionality,
};
use flyte_proto::{ProtoError, literal};
use flyte_storage::{Storage, StorageError, join};

/// Why a literal could not be offloaded or materialised.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    /// Moving bytes failed.
    #[error("moving {uri}")]
    Storage {
        /// The remote URI.
        uri: String,
        /// What storage said.
        #[source]
        source: StorageError,
    },
    /// An offloaded literal's file is not a `Literal`.
    #[error(
        "the offloaded literal at {uri} is not a flyteidl.core.Literal: it is corrupt, or the URI names another file"
    )]
    CorruptOffloadedLiteral {
        /// The offloaded literal's URI.
        uri: String,
        /// Where decoding failed.
        #[source]
        source: ProtoError,
    },
    /// A local path could not be used.
    #[error("cannot use {}: check that it exists and is readable, and that its directory is writable", path.display())]
    Local {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A map key that cannot be a file name, so the entry has nowhere to go.
    #[error(
        "map key {key:?} cannot be a file name (empty, `.`, `..`, or holding `/`), so its value cannot be written under a directory"
    )]
    BadMapKey {
        /// The key.
        key: String,
    },
    /// A path that should be a file or directory has no usable name.
    #[error("{} has no file name to upload it under", path.display())]
    NoFileName {
        /// The path.
        path: PathBuf,
    },
}

/// Whether `error` is in the data itself (a corrupt offloaded literal, a key that is no
/// file name), so that retrying the task cannot help; storage and disk failures may pass.
pub fn retry_cannot_help(error: &OffloadError) -> bool {
    matches!(
        error,
        OffloadError::CorruptOffloadedLiteral { .. } | OffloadError::BadMapKey { .. }
    )
}

/// Whether a map key can be a file name under a directory without leaving it.
pub fn is_safe_file_name(key: &str) -> bool {
    !(key.is_empty() || key == "." || key == ".." || key.contains(['/', '\\', '\0']))
}

fn storage_error(uri: &str) -> impl FnOnce(StorageError) -> OffloadError + '_ {
    move |source| OffloadError::Storage {
        uri: uri.to_owned(),
        source,
    }
}

/// Uploads local files, directories and datasets under a raw output prefix.
#[derive(Debug, Clone)]
pub struct Offloader {
    storage: Storage,
    raw_output_prefix: String,
}

impl Offloader {
    /// An offloader writing under `raw_output_prefix` through `storage`.
    pub fn new(storage: Storage, raw_output_prefix: impl Into<String>) -> Self {
        Offloader {
            storage,
            raw_output_prefix: raw_output_prefix.into(),
        }
    }

    fn fresh_prefix(&self) -> String {
        join(
            &self.raw_output_prefix,
            &uuid::Uuid::new_v4().simple().to_string(),
        )
    }

    /// Blob SINGLE at `<prefix>/<32 hex>/<file name>`, format as given ("" = none).
    pub async fn file(&self, path: &Path, format: &str) -> Result<Literal, OffloadError> {
        let name = file_name(path)?;
        let uri = join(&self.fresh_prefix(), &name);
        self.storage
            .put_file(path, &uri)
            .await
            .map_err(storage_error(&uri))?;
        Ok(literal::blob(uri, format, BlobDimensionality::Single))
    }

    /// Blob MULTIPART at `<prefix>/<32 hex>`, the directory's nesting kept.
    pub async fn directory(&self, path: &Path, format: &str) -> Result<Literal, OffloadError> {
        let uri = self.fresh_prefix();
        self.storage
            .put_dir(path, &uri)
            .await
            .map_err(storage_error(&uri))?;
        Ok(literal::blob(uri, format, BlobDimensionality::Multipart))
    }

    /// A StructuredDataset at `<prefix>/<32 hex>`: the directory's files, or the one file
    /// under its own name; with `columns` when known.
    pub async fn structured_dataset(
        &self,
        path: &Path,
        format: &str,
        columns: Option<Vec<DatasetColumn>>,
    ) -> Result<Literal, OffloadError> {
        let uri = self.fresh_prefix();
        let metadata = std::fs::metadata(path).map_err(|source| OffloadError::Local {
            path: path.to_path_buf(),
            source,
        })?;
        if metadata.is_dir() {
            self.storage
                .put_dir(path, &uri)
                .await
                .map_err(storage_error(&uri))?;
        } else {
            let file_uri = join(&uri, &file_name(path)?);
            self.storage
                .put_file(path, &file_uri)
                .await
                .map_err(storage_error(&file_uri))?;
        }
        let mut dataset = literal::structured_dataset(uri, format);
        if let (Some(columns), Some(LiteralValue::Scalar(scalar))) =
            (columns, dataset.value.as_mut())
            && let Some(ScalarValue::StructuredDataset(dataset)) = scalar.value.as_mut()
        {
            dataset.metadata = Some(StructuredDatasetMetadata {
                structured_dataset_type: Some(StructuredDatasetType {
                    columns,
                    format: format.to_owned(),
                    ..Default::default()
                }),
            });
        }
        Ok(dataset)
    }
}

fn file_name(path: &Path) -> Result<String, OffloadError> {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| OffloadError::NoFileName {
            path: path.to_path_buf(),
        })
}

/// Downloads the blobs, schemas and datasets of literals into local paths.
#[derive(Debug, Clone)]
pub struct Materializer {
    storage: Storage,
}

impl Materializer {
    /// A materializer reading through `storage` (directories download with its bounded
    /// concurrency).
    pub fn new(storage: Storage) -> Self {
        Materializer { storage }
    }

    /// Downloads every blob / dataset in `literal` under `to` (offloaded literals
    /// resolved first; collections, maps, unions walked): Blob SINGLE → file at `to`;
    /// MULTIPART and Schema → directory at `to`; StructuredDataset → `to` (file or
    /// directory as its URI names one); collection item i → `to/i`; map entry k →
    /// `to/k`. Primitives are left untouched and nothing is written for them. Returns the
    /// literal with every downloaded URI rewritten to its local path.
    pub async fn literal(&self, literal: &Literal, to: &Path) -> Result<Literal, OffloadError> {
        Box::pin(self.walk(literal, to)).await
    }

    /// Each variable at `dir/<name>`, as [`Materializer::literal`] does.
    pub async fn literal_map(
        &self,
        map: &LiteralMap,
        dir: &Path,
    ) -> Result<LiteralMap, OffloadError> {
        let mut literals = BTreeMap::new();
        for (name, literal) in &map.literals {
            literals.insert(name.clone(), self.literal(literal, &dir.join(name)).await?);
        }
        Ok(LiteralMap { literals })
    }

    async fn walk(&self, literal: &Literal, to: &Path) -> Result<Literal, OffloadError> {
        let local = to.display().to_string();
        let mut out = literal.clone();
        match out.value.as_mut() {
            Some(LiteralValue::OffloadedMetadata(offloaded)) => {
                let resolved = self.resolve(&offloaded.uri).await?;
                return self.literal(&resolved, to).await;
            }
            Some(LiteralValue::Collection(LiteralCollection { literals })) => {
                for (index, item) in literals.iter_mut().enumerate() {
                    *item = self.literal(item, &to.join(index.to_string())).await?;
                }
            }
            Some(LiteralValue::Map(LiteralMap { literals })) => {
                for (key, item) in literals.iter_mut() {
                    if !is_safe_file_name(key) {
                        return Err(OffloadError::BadMapKey { key: key.clone() });
                    }
                    *item = self.literal(item, &to.join(key)).await?;
                }
            }
            Some(LiteralValue::Scalar(scalar)) => match scalar.value.as_mut() {
                None => {}
                Some(scalar) => match scalar {
                    ScalarValue::Blob(blob) => {
                        let multipart = blob
                            .metadata
                            .as_ref()
                            .and_then(|metadata| metadata.r#type.as_ref())
                            .is_some_and(|kind| {
                                kind.dimensionality == BlobDimensionality::Multipart as i32
                            });
                        if multipart {
                            self.get_dir(&blob.uri, to).await?;
                        } else {
                            self.get_file(&blob.uri, to).await?;
                        }
                        blob.uri = local;
                    }
                    ScalarValue::Schema(schema) => {
                        self.get_dir(&schema.uri, to).await?;
                        schema.uri = local;
                    }
                    ScalarValue::StructuredDataset(dataset) => {
                        let is_file = self
                            .storage
                            .stat(&dataset.uri)
                            .await
                            .map_err(storage_error(&dataset.uri))?
                            .is_some();
                        if is_file {
                            self.get_file(&dataset.uri, to).await?;
                        } else {
                            self.get_dir(&dataset.uri, to).await?;
                        }
                        dataset.uri = local;
                    }
                    ScalarValue::Union(union) => {
                        if let Some(value) = union.value.as_deref() {
                            union.value = Some(Box::new(self.literal(value, to).await?));
                        }
                    }
                    _ => {}
                },
            },
            _ => {}
        }
        Ok(out)
    }

    /// The literal an offloaded literal's URI holds.
    async fn resolve(&self, uri: &str) -> Result<Literal, OffloadError> {
        let bytes = self
            .storage
            .get_bytes(uri)
            .await
            .map_err(storage_error(uri))?;
        flyte_proto::io::decode(&bytes, "flyteidl.core.Literal").map_err(|source| {
            OffloadError::CorruptOffloadedLiteral {
                uri: uri.to_owned(),
                source,
            }
        })
    }

    async fn get_file(&self, uri: &str, to: &Path) -> Result<(), OffloadError> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|source| OffloadError::Local {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        self.storage
            .get_file(uri, to)
            .await
            .map_err(storage_error(uri))?;
        Ok(())
    }

    async fn get_dir(&self, uri: &str, to: &Path) -> Result<(), OffloadError> {
        std::fs::create_dir_all(to).map_err(|source| OffloadError::Local {
            path: to.to_path_buf(),
            source,
        })?;
        match self.storage.get_dir(uri, to).await {
            // An object store holds no empty directories: flytekit uploads an empty
            // FlyteDirectory as no objects at all, so "nothing under the prefix" is an
            // empty directory, not an error (flytecopilot fails it).
            Ok(_) | Err(StorageError::NotFound { .. }) => Ok(()),
            Err(source) => Err(storage_error(uri)(source)),
        }
    }
}
