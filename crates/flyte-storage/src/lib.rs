//! Moves bytes between local files and object stores, addressed by URI.
//!
//! This crate owns storage I/O: parsing the URIs Flyte passes around ([`StorageUri`]),
//! the [`Store`] trait every backend implements (the local file system today as
//! [`LocalStore`]; S3, GCS and Azure later), and the [`Storage`] facade that routes
//! string URIs to the right store. Errors are one [`StorageError`] enum whose messages
//! name the URI and say what to do.
//!
//! **Architecture invariant:** it knows nothing of Flyte: no literal, no task, no error
//! document. It also reads no environment variables and no arguments: configuration
//! comes in as a [`StorageConfig`].
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
//! // output_prefix is e.g. "file:///tmp/outputs" or, once its backend lands,
//! // "s3://bucket/metadata/…/0".
//! let outputs = join(&output_prefix, "outputs.pb");
//! storage.put_bytes(&outputs, b"\x0a\x00".to_vec()).await?;
//! assert!(storage.exists(&outputs).await?);
//! assert_eq!(&storage.get_bytes(&outputs).await?[..], b"\x0a\x00");
//!
//! // A missing object is NotFound, naming the URI.
//! let missing = storage.get_bytes(&join(&output_prefix, "error.pb")).await.unwrap_err();
//! assert!(missing.to_string().contains("error.pb"));
//!
//! // Cloud URIs parse, but have no backend in this build yet.
//! let unavailable = storage.get_bytes("s3://bucket/inputs.pb").await.unwrap_err();
//! assert!(unavailable.to_string().contains("not supported by this build yet"));
//! # Ok(())
//! # }
//! ```

mod error;
mod facade;
mod local;
mod store;
mod uri;

pub use error::{Result, StorageError};
pub use facade::{Storage, StorageConfig};
pub use local::LocalStore;
pub use store::{ObjectMeta, Store, TransferSummary};
pub use uri::{Location, Scheme, StorageUri, join};
