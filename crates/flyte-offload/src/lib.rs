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
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use flyte_offload::{Materializer, Offloader};
//! use flyte_storage::{MemoryStore, Storage, StorageConfig};
//!
//! // In a task: Storage::new(config) reaching s3://, gs:// or abfs://; here memory.
//! let storage = Storage::new(StorageConfig::default())
//!     .with_store("mem://", Arc::new(MemoryStore::new()));
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("out/plots"))?;
//! std::fs::write(dir.path().join("out/plots/loss.svg"), "<svg/>")?;
//!
//! // An output: the directory a task wrote, as a FlyteDirectory literal.
//! let offloader = Offloader::new(storage.clone(), "mem://my-bucket/raw/ab/cd-n0-0");
//! let output = offloader.directory(&dir.path().join("out/plots"), "").await?;
//! assert!(output.as_blob().is_some_and(|b| b.uri.starts_with("mem://my-bucket/raw/ab/cd-n0-0/")));
//!
//! // An input: whatever the literal refers to, downloaded under a local path.
//! let to = dir.path().join("in/plots");
//! let local = Materializer::new(storage).literal(&output, &to).await?;
//! assert_eq!(local.as_blob().map(|b| b.uri.as_str()), to.to_str());
//! assert_eq!(std::fs::read_to_string(to.join("loss.svg"))?, "<svg/>");
//! # Ok(())
//! # }
//! ```

mod error;
mod local;
mod materializer;
mod offloader;

pub use error::{OffloadError, OffloadErrorKind};
pub use local::check_directory;
pub use materializer::{DEFAULT_CONCURRENCY, MAX_OFFLOAD_DEPTH, Materializer};
pub use offloader::{Offloader, dataset_file_name};
