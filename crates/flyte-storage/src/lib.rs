//! Moves bytes between local files and object stores, addressed by URI.
//!
//! This crate owns storage I/O: parsing the URIs Flyte passes around ([`StorageUri`]),
//! the [`Store`] trait every backend implements (its few primitives; the conveniences
//! built on them are [`StoreExt`]), the backends (the local file system as
//! [`LocalStore`]; Amazon S3 and compatibles through aws-sdk-s3; Google Cloud Storage
//! through google-cloud-storage; Azure Blob Storage / ADLS Gen2 through
//! azure_storage_blobs; objects in memory as [`MemoryStore`]; any store under a key
//! prefix as [`PrefixStore`]), and the [`Storage`] facade that routes string URIs to the
//! store registered for them ([`Storage::with_store`]) or to the built-in one of their
//! scheme. The object stores share one transfer engine: streaming both ways, multipart
//! uploads and ranged parallel downloads above one chunk, bounded concurrency, a memory
//! budget of `chunk_size × chunk_concurrency`, and retries with exponential backoff and
//! jitter on throttling, 5xx, timeouts and resets. Every request has a connect timeout
//! and a no-progress bound (bytes stop moving either way: retried, then
//! [`StorageError::Stalled`]), never a bound on a transfer's length, and a transfer
//! still running logs its progress every
//! [`progress_interval`](StorageConfig::progress_interval). Every object they write is created
//! with the configuration's [`UploadOptions`] (metadata, content type, encryption,
//! storage class, ACL), on every upload path. Errors are one [`StorageError`] enum
//! whose messages name the URI and say what to do.
//!
//! Each object store is a cargo feature: `s3`, `gcs` and `azure`, all on by default.
//! A tool that needs S3 alone depends on this crate with
//! `default-features = false, features = ["s3"]` and builds no Google or Azure SDK; a
//! URI of a store the build leaves out is [`StorageError::BackendNotBuilt`], naming the
//! feature. Local files and memory are always served. The `conformance` feature
//! publishes `flyte_storage::conformance`: the checks any [`Store`] must pass, for the author of
//! a store of one's own (test support: they panic on a broken rule).
//!
//! **Architecture invariant:** it knows nothing of Flyte: no literal, no task, no error
//! document. It reads no environment variables and no arguments: configuration comes in
//! as a [`StorageConfig`], whose fields document the flytekit setting that feeds each.
//! The one deliberate exception: when a [`StorageConfig`] carries no explicit
//! credentials for a store, that store's official SDK credential chain looks for them
//! where it always does (AWS: `AWS_*` variables, profiles, web identity, container and
//! instance metadata; GCP: Application Default Credentials; Azure:
//! `AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`, workload and managed
//! identity), just as botocore, google-auth and azure-identity do under flytekit. The
//! AWS SDK also reads `AWS_REGION`, `AWS_ENDPOINT_URL` and `AWS_EC2_METADATA_DISABLED`
//! when the configuration leaves them unset.
//!
//! # Example
//!
//! ```
//! use flyte_storage::{Storage, StorageConfig, join};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), flyte_storage::StorageError> {
//! # let dir = tempfile::tempdir().expect("temp dir");
//! # let output_prefix = format!("file://{}", dir.path().display());
//! let storage = Storage::new(StorageConfig {
//!     transfer_concurrency: 8,
//!     ..StorageConfig::default()
//! });
//!
//! // output_prefix is e.g. "file:///tmp/outputs" or "s3://bucket/metadata/…/0".
//! let outputs = join(&output_prefix, "outputs.pb");
//! storage.put_bytes(&outputs, b"\x0a\x00".to_vec()).await?;
//! assert!(storage.exists(&outputs).await?);
//! assert_eq!(&storage.get_bytes(&outputs).await?[..], b"\x0a\x00");
//!
//! // A missing object is NotFound, naming the URI.
//! let missing = storage.get_bytes(&join(&output_prefix, "error.pb")).await.unwrap_err();
//! assert!(missing.to_string().contains("error.pb"));
//! # Ok(())
//! # }
//! ```

mod cloud;
mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
mod content_type;
mod error;
mod facade;
mod local;
mod prefetch;
mod prefix;
mod progress;
mod redact;
mod store;
mod temp_file;
mod uri;
mod walk;

pub use cloud::memory::MemoryStore;
pub use config::{
    AzureConfig, AzureUploadOptions, GcsConfig, GcsUploadOptions, PrefetchConfig, RetryPolicy,
    S3Config, S3Encryption, S3UploadOptions, SecretString, StorageConfig, UploadOptions,
};
pub use content_type::guess_content_type;
pub use error::{Result, StorageError, TransferPhase};
pub use facade::Storage;
pub use local::LocalStore;
pub use prefix::PrefixStore;
pub use redact::{REDACTED, RedactedError, redact};
pub use store::{ObjectMeta, Store, StoreExt, TransferSummary};
pub use uri::{Location, Scheme, StorageUri, join};
