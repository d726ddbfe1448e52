//! Flyte's data offloading for Rust tools: local files, directories and structured
//! datasets put under a task's raw output prefix with flytekit's layout and names, and
//! the reverse, a literal's blobs and datasets materialised into local paths.
//!
//! **What it owns.** The remote layout and the literals flytekit's type transformers
//! make (1.16): a `FlyteFile` at `<prefix>/<32 hex>/<file name>` as a Blob SINGLE, a
//! `FlyteDirectory` under `<prefix>/<32 hex>/` as a Blob MULTIPART, a DataFrame's one
//! file at `<prefix>/<32 hex>/00000` (parquet) or `<prefix>/<32 hex>/.csv` (csv), or a
//! directory of its files, as a StructuredDataset with its format and columns
//! ([`Offloader`]); and walking a literal (offloaded literals, collections, maps,
//! unions) to download what it refers to, rewriting each URI to its local path
//! ([`Materializer`]). What ours writes, flytekit's TypeEngine reads, and the reverse
//! (the crate's tests run both).
//!
//! **What it never does.** It reads no environment and no configuration file (the
//! [`Storage`](flyte_storage::Storage) and the prefix are passed in); it moves bytes
//! only through that `Storage` (`put_file`, `put_dir`, `get_file`, `get_dir`), so the
//! transfer engine's parallelism, retries and memory bound apply; it writes no literal
//! for data it could not upload whole, and uploads nothing from a directory whose links
//! leave it; it knows no task, no pipeline and no Python.
//!
//! ```no_run
//! # async fn demo() -> Result<(), flyte_offload::OffloadError> {
//! use flyte_offload::{Materializer, Offloader};
//! use flyte_storage::{Storage, StorageConfig};
//! use std::path::Path;
//!
//! let storage = Storage::new(StorageConfig::default());
//! // An output: the directory a task wrote, as a FlyteDirectory literal.
//! let offloader = Offloader::new(storage.clone(), "s3://my-bucket/raw/ab/cd-n0-0");
//! let output = offloader.directory(Path::new("/tmp/out/plots"), "").await?;
//!
//! // An input: whatever the literal refers to, downloaded under /tmp/in/plots.
//! let local = Materializer::new(storage).literal(&output, Path::new("/tmp/in/plots")).await?;
//! assert_eq!(local.as_blob().map(|b| b.uri.as_str()), Some("/tmp/in/plots"));
//! # Ok(())
//! # }
//! ```

mod error;
mod local;
mod materializer;
mod offloader;

pub use error::OffloadError;
pub use materializer::{DEFAULT_CONCURRENCY, MAX_OFFLOAD_DEPTH, Materializer};
pub use offloader::{Offloader, dataset_file_name};
