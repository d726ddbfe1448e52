//! [`Storage`]: string URIs in, routed by scheme to the right [`Store`].

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

#[cfg(feature = "azure")]
use crate::cloud::azure::AzureBackend;
#[cfg(feature = "gcs")]
use crate::cloud::gcs::GcsBackend;
#[cfg(feature = "s3")]
use crate::cloud::s3::S3Backend;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
use crate::cloud::{store::CloudStore, transfers::Transfers};
use crate::config::{StorageConfig, UploadOptions};
use crate::error::Result;
use crate::local::LocalStore;
use crate::prefetch::Prefetcher;
use crate::progress::{self, Direction};
use crate::store::StoreExt;
use crate::store::{ObjectMeta, Store, TransferSummary};
use crate::uri::{Location, StorageUri};

/// The storage the rest of the program uses: takes URIs as strings, parses them, and
/// routes each call to the store that serves it.
///
/// Local paths and `file://` URIs go to [`LocalStore`]; `s3://`/`s3a://`, `gs://`/`gcs://`
/// and `abfs://`/`abfss://` URIs to the object store backends, which share one transfer
/// engine (streaming, multipart uploads, ranged parallel downloads, retries) and one
/// memory budget. Cloud clients are built on first use, so a configuration problem shows
/// up as an error naming the first URI that needed it, and a run that only touches
/// local files never builds one. Cloning is cheap and clones share their stores.
///
/// Any [`Store`] can be registered for a URI prefix with [`with_store`](Self::with_store):
/// a scheme of one's own (`mem://`), or a part of a built-in one (`s3://test-bucket/`).
/// Prefixes match whole path segments, and the longest registered prefix a URI lies
/// under wins; a URI under no registered prefix goes to the built-in store of its
/// scheme, and a scheme with neither is
/// [`StorageError::UnsupportedScheme`](crate::StorageError::UnsupportedScheme).
///
/// Each object store backend is a cargo feature of this crate (`s3`, `gcs`, `azure`,
/// all on by default). A URI whose backend the build leaves out, and that no
/// registered store serves, is
/// [`StorageError::BackendNotBuilt`](crate::StorageError::BackendNotBuilt), naming the
/// feature that builds it.
///
/// ```
/// use std::sync::Arc;
/// use flyte_storage::{MemoryStore, PrefixStore, Storage, StorageConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// let memory = Arc::new(MemoryStore::new());
/// let storage = Storage::new(StorageConfig::default())
///     // mem://… in memory.
///     .with_store("mem://", memory.clone())
///     // s3://scratch/… in memory too, under the key prefix "scratch-copy/"; the rest
///     // of s3:// still goes to S3.
///     .with_store("s3://scratch/", Arc::new(PrefixStore::new(memory, "scratch-copy/")));
/// storage.put_bytes("s3://scratch/a.txt", &b"a"[..]).await?;
/// assert_eq!(&storage.get_bytes("mem://scratch/scratch-copy/a.txt").await?[..], b"a");
///
/// // A scheme nobody serves is an error naming the URI and what to do.
/// let error = storage.get_bytes("vault://box/k").await.unwrap_err();
/// assert!(error.to_string().contains("vault://box/k"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Storage {
    /// Files moved at once by directory transfers.
    transfer_concurrency: usize,
    /// How often a long directory transfer logs its progress.
    progress_interval: Option<std::time::Duration>,
    /// What the object stores create objects with.
    upload: Arc<UploadOptions>,
    local: Arc<LocalStore>,
    /// Prefetched copies, shared by every clone (see [`Storage::prefetch`]).
    prefetch: Arc<Prefetcher>,
    #[cfg(feature = "s3")]
    s3: Arc<CloudStore>,
    #[cfg(feature = "gcs")]
    gcs: Arc<CloudStore>,
    #[cfg(feature = "azure")]
    azure: Arc<CloudStore>,
    /// Stores registered by URI prefix, longest prefix first.
    registered: Arc<Vec<Registered>>,
}

/// A store registered for the URIs under `prefix`.
#[derive(Debug)]
struct Registered {
    /// As given, with its scheme lowercased (URIs are compared with theirs lowercased)
    /// and without trailing `/` ([`registered_prefix`]).
    prefix: String,
    store: Arc<dyn Store>,
}

/// `prefix` as the registry keeps it: its scheme lowercased and its trailing `/`s
/// dropped, so that `s3://scratch/` and `s3://scratch` are one prefix. A bare scheme
/// (`mem://`) or the root `/` is kept whole: there is no segment left to trim to.
fn registered_prefix(prefix: &str) -> String {
    let prefix = lowercase_scheme(prefix);
    let keep = prefix.find("://").map_or(1, |at| at + "://".len());
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.len() < keep {
        prefix.into_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Whether `uri` (its scheme lowercased) is `prefix` itself or lies under it: the
/// prefix must end where a path segment of the URI ends, so `s3://scratch` serves
/// `s3://scratch/a` and `s3://scratch` but not `s3://scratch-2/a`.
fn is_under(uri: &str, prefix: &str) -> bool {
    match uri.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

/// `text` with the scheme before its `://` lowercased, as [`StorageUri`] reads schemes.
fn lowercase_scheme(text: &str) -> std::borrow::Cow<'_, str> {
    match text.split_once("://") {
        Some((scheme, rest)) if scheme.bytes().any(|b| b.is_ascii_uppercase()) => {
            format!("{}://{rest}", scheme.to_ascii_lowercase()).into()
        }
        _ => text.into(),
    }
}

impl Storage {
    /// Storage with the given configuration. Builds no client and makes no request yet.
    ///
    /// ```
    /// use flyte_storage::{S3Config, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// // No S3 server answers here, and nothing fails: the client is built on first use.
    /// let storage = Storage::new(StorageConfig {
    ///     transfer_concurrency: 16,
    ///     s3: S3Config { endpoint: Some("http://127.0.0.1:9".into()), ..S3Config::default() },
    ///     ..StorageConfig::default()
    /// });
    /// // Local files never need a client.
    /// let dir = tempfile::tempdir().expect("tempdir");
    /// let inputs = format!("file://{}/inputs.pb", dir.path().display());
    /// storage.put_bytes(&inputs, &b"\x0a\x00"[..]).await?;
    /// assert_eq!(storage.stat(&inputs).await?, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(config: StorageConfig) -> Self {
        #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
        let transfers = Arc::new(Transfers::new(&config));
        let upload = Arc::new(config.upload.clone());
        Self {
            #[cfg(feature = "s3")]
            s3: Arc::new(CloudStore::new(
                Arc::new(S3Backend::new(config.s3.clone(), config.retry.clone())),
                transfers.clone(),
                upload.clone(),
            )),
            #[cfg(feature = "gcs")]
            gcs: Arc::new(CloudStore::new(
                Arc::new(GcsBackend::new(config.gcs.clone(), config.retry.clone())),
                transfers.clone(),
                upload.clone(),
            )),
            #[cfg(feature = "azure")]
            azure: Arc::new(CloudStore::new(
                Arc::new(AzureBackend::new(
                    config.azure.clone(),
                    config.retry.clone(),
                )),
                transfers.clone(),
                upload.clone(),
            )),
            upload,
            transfer_concurrency: config.transfer_concurrency,
            progress_interval: config.progress_interval,
            local: Arc::new(LocalStore::new()),
            prefetch: Arc::new(Prefetcher::new(config.prefetch.clone())),
            registered: Arc::default(),
        }
    }

    /// This storage with `store` serving every URI under `prefix` (`"mem://"`,
    /// `"s3://test-bucket/"`; the scheme is compared case-insensitively, the rest as
    /// written). A prefix matches whole path segments only: `s3://scratch` (with or
    /// without a trailing `/`, which is dropped) serves `s3://scratch` and
    /// `s3://scratch/a`, never `s3://scratch-2/a`; a bare scheme (`mem://`) serves the
    /// whole scheme. The longest registered prefix of a URI wins; URIs under no
    /// registered prefix keep going to the built-in store of their scheme.
    /// Registering a prefix again (`s3://scratch/` after `s3://scratch`) replaces its
    /// store.
    ///
    /// A registered store is called with the URI as given (a [`PrefixStore`] moves it
    /// under a key prefix of another store) and writes objects as it was built to:
    /// [`with_upload_options`](Self::with_upload_options) changes the built-in object
    /// stores only. Clones made before this call do not see the store; prefetching and
    /// directory transfers use it like any other.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let scratch = Arc::new(MemoryStore::new());
    /// // Tests of code written for S3: one bucket in memory, every other still on S3.
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("s3://test-bucket", scratch.clone());
    /// storage.put_bytes("s3://test-bucket/run/outputs.pb", &b"\x0a\x00"[..]).await?;
    /// let uri = StorageUri::parse("s3://test-bucket/run/outputs.pb")?;
    /// assert_eq!(scratch.stat(&uri).await?, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// See the [type's documentation](Self) for a scheme of one's own and a
    /// [`PrefixStore`].
    ///
    /// [`PrefixStore`]: crate::PrefixStore
    pub fn with_store(mut self, prefix: impl Into<String>, store: Arc<dyn Store>) -> Self {
        let prefix = registered_prefix(&prefix.into());
        let mut registered: Vec<Registered> = self
            .registered
            .iter()
            .filter(|entry| entry.prefix != prefix)
            .map(|entry| Registered {
                prefix: entry.prefix.clone(),
                store: entry.store.clone(),
            })
            .collect();
        registered.push(Registered { prefix, store });
        // Longest first, so that the first match is the longest.
        registered.sort_by_key(|entry| std::cmp::Reverse(entry.prefix.len()));
        self.registered = Arc::new(registered);
        self
    }

    /// What objects written through this storage are created with
    /// ([`StorageConfig::upload`], or what [`with_upload_options`](Self::with_upload_options) set).
    ///
    /// ```
    /// use flyte_storage::{Storage, StorageConfig, UploadOptions};
    ///
    /// let storage = Storage::new(StorageConfig {
    ///     upload: UploadOptions {
    ///         content_type: Some("application/octet-stream".into()),
    ///         ..UploadOptions::default()
    ///     },
    ///     ..StorageConfig::default()
    /// });
    /// let options = storage.upload_options();
    /// assert_eq!(options.content_type.as_deref(), Some("application/octet-stream"));
    /// assert!(options.metadata.is_empty());
    /// ```
    pub fn upload_options(&self) -> &UploadOptions {
        &self.upload
    }

    /// This storage writing objects with `options` instead: the same clients, transfer
    /// engine and memory budget (requests of both count against one budget), other
    /// metadata, content type, encryption, storage class or ACL. For a caller whose
    /// writes need more (say, metadata of its own on top of the configured keys), start
    /// from [`upload_options`](Self::upload_options).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// // The configured options, plus a key of this tool's own.
    /// let mut options = storage.upload_options().clone();
    /// options.metadata.insert("my-tool-run".into(), "42".into());
    /// let tagged = storage.with_upload_options(options);
    /// assert_eq!(tagged.upload_options().metadata["my-tool-run"], "42");
    /// assert!(storage.upload_options().metadata.is_empty(), "the original is unchanged");
    ///
    /// // Both share their stores: what one writes, the other reads.
    /// tagged.put_bytes("mem://bucket/report.json", &b"{}"[..]).await?;
    /// assert!(storage.exists("mem://bucket/report.json").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_upload_options(&self, options: UploadOptions) -> Self {
        let upload = Arc::new(options);
        Self {
            transfer_concurrency: self.transfer_concurrency,
            progress_interval: self.progress_interval,
            local: self.local.clone(),
            prefetch: self.prefetch.clone(),
            #[cfg(feature = "s3")]
            s3: Arc::new(self.s3.with_options(upload.clone())),
            #[cfg(feature = "gcs")]
            gcs: Arc::new(self.gcs.with_options(upload.clone())),
            #[cfg(feature = "azure")]
            azure: Arc::new(self.azure.with_options(upload.clone())),
            upload,
            registered: self.registered.clone(),
        }
    }

    /// The store that serves `uri`: the one registered for the longest prefix of it
    /// (see [`with_store`](Self::with_store)), else the built-in store of its scheme.
    /// A scheme with neither is
    /// [`StorageError::UnsupportedScheme`](crate::StorageError::UnsupportedScheme); a
    /// built-in scheme whose backend this build leaves out is
    /// [`StorageError::BackendNotBuilt`](crate::StorageError::BackendNotBuilt).
    ///
    /// For calls [`Storage`] does not wrap: the [`Store`] and
    /// [`StoreExt`](crate::StoreExt) methods on a parsed URI.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig, StorageError, StorageUri, Store};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let everything = Arc::new(MemoryStore::new());
    /// let scratch = Arc::new(MemoryStore::new());
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", everything.clone())
    ///     .with_store("mem://bucket/scratch", scratch.clone());
    ///
    /// // The longest registered prefix wins, whatever the order of registration.
    /// let uri = StorageUri::parse("mem://bucket/scratch/tmp.bin")?;
    /// storage.store_for(&uri)?.put_bytes(&uri, "x".into()).await?;
    /// assert_eq!(scratch.stat(&uri).await?, Some(1));
    /// assert_eq!(everything.stat(&uri).await?, None);
    ///
    /// // Prefixes match whole segments: "scratch-2" is not under "scratch".
    /// let other = StorageUri::parse("mem://bucket/scratch-2/tmp.bin")?;
    /// storage.store_for(&other)?.put_bytes(&other, "y".into()).await?;
    /// assert_eq!(everything.stat(&other).await?, Some(1));
    ///
    /// // A scheme with neither a registered nor a built-in store.
    /// let unknown = StorageUri::parse("vault://box/k")?;
    /// assert!(matches!(storage.store_for(&unknown), Err(StorageError::UnsupportedScheme { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn store_for(&self, uri: &StorageUri) -> Result<&dyn Store> {
        if !self.registered.is_empty() {
            let text = lowercase_scheme(uri.as_str());
            if let Some(entry) = self
                .registered
                .iter()
                .find(|entry| is_under(&text, &entry.prefix))
            {
                return Ok(entry.store.as_ref());
            }
        }
        match uri.location() {
            Location::Local(_) => Ok(self.local.as_ref()),
            #[cfg(feature = "s3")]
            Location::S3 { .. } => Ok(self.s3.as_ref()),
            #[cfg(feature = "gcs")]
            Location::Gcs { .. } => Ok(self.gcs.as_ref()),
            #[cfg(feature = "azure")]
            Location::Azure { .. } => Ok(self.azure.as_ref()),
            #[cfg(not(feature = "s3"))]
            Location::S3 { .. } => Err(not_built(uri, "S3", "s3")),
            #[cfg(not(feature = "gcs"))]
            Location::Gcs { .. } => Err(not_built(uri, "Google Cloud Storage", "gcs")),
            #[cfg(not(feature = "azure"))]
            Location::Azure { .. } => Err(not_built(uri, "Azure Blob Storage", "azure")),
            Location::Other { scheme, .. } => Err(crate::StorageError::UnsupportedScheme {
                uri: crate::redact::redact(uri.as_str()).into_owned(),
                scheme: scheme.clone(),
            }),
        }
    }

    fn route(&self, uri: &str) -> Result<(StorageUri, &dyn Store)> {
        let uri = StorageUri::parse(uri)?;
        let store = self.store_for(&uri)?;
        Ok((uri, store))
    }

    /// Reads a whole (small) object into memory, e.g. `inputs.pb`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig, StorageError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/run/inputs.pb", &b"\x0a\x00"[..]).await?;
    /// assert_eq!(&storage.get_bytes("mem://bucket/run/inputs.pb").await?[..], b"\x0a\x00");
    ///
    /// // A missing object is NotFound, naming the URI.
    /// let error = storage.get_bytes("mem://bucket/run/missing.pb").await.unwrap_err();
    /// assert!(matches!(error, StorageError::NotFound { .. }));
    /// assert_eq!(error.uri(), "mem://bucket/run/missing.pb");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_bytes(&self, uri: &str) -> Result<Bytes> {
        let (uri, store) = self.route(uri)?;
        store.get_bytes(&uri).await
    }

    /// Writes a whole (small) object, replacing any object there, e.g. `outputs.pb`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// let storage = Storage::new(StorageConfig::default()).with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/run/0/outputs.pb", &b"\x0a\x00"[..]).await?;
    /// assert_eq!(&storage.get_bytes("mem://bucket/run/0/outputs.pb").await?[..], b"\x0a\x00");
    /// assert_eq!(storage.stat("mem://bucket/run/0/outputs.pb").await?, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn put_bytes(&self, uri: &str, bytes: impl Into<Bytes>) -> Result<()> {
        let (uri, store) = self.route(uri)?;
        store.put_bytes(&uri, bytes.into()).await
    }

    /// Downloads one object into a local file; returns the bytes written.
    ///
    /// A [prefetched](Self::prefetch) copy of `uri`, or of a directory `uri` is under,
    /// that is still the object's size is moved into `to` instead (after its download
    /// if that still runs); otherwise, and for every later call, this downloads.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/raw/data.csv", &b"a,b\n1,2\n"[..]).await?;
    ///
    /// let dir = tempfile::tempdir().expect("tempdir");
    /// // Missing parent directories are created.
    /// let to = dir.path().join("inputs/data.csv");
    /// assert_eq!(storage.get_file("mem://bucket/raw/data.csv", &to).await?, 8);
    /// assert_eq!(std::fs::read(&to).expect("read"), b"a,b\n1,2\n");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_file(&self, uri: &str, to: &Path) -> Result<u64> {
        if let Some(bytes) = self.prefetch.serve_file(self, uri, to).await {
            return Ok(bytes);
        }
        self.plain_get_file(uri, to).await
    }

    /// [`get_file`](Self::get_file) without looking for a prefetched copy.
    pub(crate) async fn plain_get_file(&self, uri: &str, to: &Path) -> Result<u64> {
        let (uri, store) = self.route(uri)?;
        store.get_file(&uri, to).await
    }

    /// Uploads one local file; returns the bytes uploaded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// let storage = Storage::new(StorageConfig::default()).with_store("mem://", Arc::new(MemoryStore::new()));
    /// let dir = tempfile::tempdir().expect("tempdir");
    /// std::fs::write(dir.path().join("model.bin"), b"weights").expect("write");
    /// storage.put_file(&dir.path().join("model.bin"), "mem://bucket/raw/ab/model.bin").await?;
    /// let copy = dir.path().join("copy.bin");
    /// assert_eq!(storage.get_file("mem://bucket/raw/ab/model.bin", &copy).await?, 7);
    /// assert_eq!(std::fs::read(&copy).expect("read"), b"weights");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn put_file(&self, from: &Path, uri: &str) -> Result<u64> {
        let (uri, store) = self.route(uri)?;
        store.put_file(from, &uri).await
    }

    /// Downloads every object under the prefix `uri` into the local directory `to`,
    /// [`transfer_concurrency`](StorageConfig::transfer_concurrency) at a time.
    ///
    /// A [prefetched](Self::prefetch) copy of the directory whose listing (names and
    /// sizes) is unchanged is moved into `to` instead, when `to` is absent or empty and
    /// on the same file system; otherwise, and for every later call, this downloads.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/raw/model/config.json", &b"{}"[..]).await?;
    /// storage.put_bytes("mem://bucket/raw/model/weights/0.bin", &b"0123"[..]).await?;
    /// storage.put_bytes("mem://bucket/raw/model-2/other.bin", &b"no"[..]).await?;
    ///
    /// let dir = tempfile::tempdir().expect("tempdir");
    /// let to = dir.path().join("model");
    /// // The objects under the prefix, as a directory: not those of "model-2".
    /// let summary = storage.get_dir("mem://bucket/raw/model", &to).await?;
    /// assert_eq!((summary.files, summary.bytes), (2, 6));
    /// assert_eq!(std::fs::read(to.join("weights/0.bin")).expect("read"), b"0123");
    /// assert!(to.join("config.json").is_file());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_dir(&self, uri: &str, to: &Path) -> Result<TransferSummary> {
        if let Some(summary) = self.prefetch.serve_dir(self, uri, to).await {
            return Ok(summary);
        }
        self.plain_get_dir(uri, to).await
    }

    /// [`get_dir`](Self::get_dir) without looking for a prefetched copy.
    pub(crate) async fn plain_get_dir(&self, uri: &str, to: &Path) -> Result<TransferSummary> {
        let (uri, store) = self.route(uri)?;
        let transfer = store.get_dir(&uri, to, self.transfer_concurrency);
        progress::directory(self.progress_interval, Direction::Download, &uri, transfer).await
    }

    /// Uploads every file under the local directory `from` to the prefix `uri`,
    /// [`transfer_concurrency`](StorageConfig::transfer_concurrency) at a time.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// let storage = Storage::new(StorageConfig::default()).with_store("mem://", Arc::new(MemoryStore::new()));
    /// let dir = tempfile::tempdir().expect("tempdir");
    /// std::fs::create_dir_all(dir.path().join("plots/2024")).expect("mkdir");
    /// std::fs::write(dir.path().join("plots/2024/a.png"), b"png").expect("write");
    /// let summary = storage.put_dir(&dir.path().join("plots"), "mem://bucket/raw/cd").await?;
    /// assert_eq!((summary.files, summary.bytes), (1, 3));
    /// storage.get_dir("mem://bucket/raw/cd", &dir.path().join("back")).await?;
    /// assert_eq!(std::fs::read(dir.path().join("back/2024/a.png")).expect("read"), b"png");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn put_dir(&self, from: &Path, uri: &str) -> Result<TransferSummary> {
        let (uri, store) = self.route(uri)?;
        let transfer = store.put_dir(from, &uri, self.transfer_concurrency);
        progress::directory(self.progress_interval, Direction::Upload, &uri, transfer).await
    }

    /// The size of the object at exactly `uri`, or `None` when there is none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/out/outputs.pb", &b"\x0a\x00"[..]).await?;
    /// assert_eq!(storage.stat("mem://bucket/out/outputs.pb").await?, Some(2));
    /// // Nothing there is not an error.
    /// assert_eq!(storage.stat("mem://bucket/out/error.pb").await?, None);
    /// // Nor is a prefix an object.
    /// assert_eq!(storage.stat("mem://bucket/out").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stat(&self, uri: &str) -> Result<Option<u64>> {
        let (uri, store) = self.route(uri)?;
        store.stat(&uri).await
    }

    pub(crate) fn prefetcher(&self) -> &Prefetcher {
        &self.prefetch
    }

    /// Starts downloading `uri` (one object, or when there is none at exactly `uri`,
    /// every object under it) into a new directory under `into`, in the background, so
    /// that the first [`get_file`](Self::get_file) / [`get_dir`](Self::get_dir) of it
    /// (or `get_file` of an object under it) is served from the copy. Returns whether it
    /// started: not when [`PrefetchConfig::enabled`](crate::PrefetchConfig::enabled) is
    /// off, outside a tokio runtime, or when `uri` is already being prefetched.
    ///
    /// A prefetch never reports an error: one that fails, or would cross the
    /// [`PrefetchConfig`](crate::PrefetchConfig) bounds, deletes what it wrote and the
    /// access downloads as usual. Call [`cancel_prefetches`](Self::cancel_prefetches)
    /// when the consumer is done, so that nothing is left under `into`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/raw/model.bin", &b"weights"[..]).await?;
    /// let scratch = tempfile::tempdir().expect("tempdir");
    /// let into = scratch.path().join("prefetch");
    ///
    /// // While the consumer starts, its input downloads in the background.
    /// assert!(storage.prefetch("mem://bucket/raw/model.bin", &into));
    /// assert!(!storage.prefetch("mem://bucket/raw/model.bin", &into), "already running");
    ///
    /// // The access waits for that download and takes its copy (or, when the copy
    /// // cannot be used, downloads as usual): the same bytes either way.
    /// let to = scratch.path().join("task/model.bin");
    /// assert_eq!(storage.get_file("mem://bucket/raw/model.bin", &to).await?, 7);
    /// assert_eq!(std::fs::read(&to).expect("read"), b"weights");
    ///
    /// // The access took the prefetch: nothing is left under `into`, nothing to cancel.
    /// assert_eq!(std::fs::read_dir(&into).map_or(0, |entries| entries.count()), 0);
    /// assert_eq!(storage.cancel_prefetches().await, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn prefetch(&self, uri: &str, into: &Path) -> bool {
        self.prefetch.start(self, uri, into)
    }

    /// Stops every prefetch still running and deletes every prefetched copy not taken
    /// by an access; returns how many prefetches there were. Copies already taken
    /// belong to whoever took them.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/raw/a.bin", &b"a"[..]).await?;
    /// storage.put_bytes("mem://bucket/raw/b.bin", &b"b"[..]).await?;
    /// let scratch = tempfile::tempdir().expect("tempdir");
    /// let into = scratch.path().join("prefetch");
    /// storage.prefetch("mem://bucket/raw/a.bin", &into);
    /// storage.prefetch("mem://bucket/raw/b.bin", &into);
    ///
    /// // The consumer ended without reading them: stop and delete both.
    /// assert_eq!(storage.cancel_prefetches().await, 2);
    /// assert_eq!(std::fs::read_dir(&into).map_or(0, |entries| entries.count()), 0);
    ///
    /// // A later access downloads as usual.
    /// let to = scratch.path().join("a.bin");
    /// assert_eq!(storage.get_file("mem://bucket/raw/a.bin", &to).await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn cancel_prefetches(&self) -> usize {
        self.prefetch.cancel_all().await
    }

    /// Whether an object exists at exactly `uri`. For "anything under this prefix?",
    /// use [`has_objects_under`](Self::has_objects_under).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// assert!(!storage.exists("mem://bucket/run/0/outputs.pb").await?);
    /// storage.put_bytes("mem://bucket/run/0/outputs.pb", &b"\x0a\x00"[..]).await?;
    /// assert!(storage.exists("mem://bucket/run/0/outputs.pb").await?);
    /// // The prefix holding it is not an object.
    /// assert!(!storage.exists("mem://bucket/run/0").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exists(&self, uri: &str) -> Result<bool> {
        let (uri, store) = self.route(uri)?;
        store.exists(&uri).await
    }

    /// Every object under the prefix `uri`, recursively, sorted by key.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// let storage = Storage::new(StorageConfig::default()).with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/out/a.pb", &b"a"[..]).await?;
    /// storage.put_bytes("mem://bucket/out/deck/index.html", &b"<html>"[..]).await?;
    /// let keys: Vec<_> = storage.list("mem://bucket/out").await?.into_iter().map(|o| o.key).collect();
    /// assert_eq!(keys, ["a.pb", "deck/index.html"]);
    /// storage.delete("mem://bucket/out/a.pb").await?;
    /// assert!(!storage.exists("mem://bucket/out/a.pb").await?);
    /// assert!(storage.has_objects_under("mem://bucket/out").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list(&self, uri: &str) -> Result<Vec<ObjectMeta>> {
        let (uri, store) = self.route(uri)?;
        store.list(&uri).await
    }

    /// Whether any object is under the prefix `uri`; see [`StoreExt::has_objects_under`](crate::StoreExt::has_objects_under).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// // Did an earlier attempt leave outputs behind?
    /// assert!(!storage.has_objects_under("mem://bucket/run/0").await?);
    /// storage.put_bytes("mem://bucket/run/0/deck/index.html", &b"<html>"[..]).await?;
    /// assert!(storage.has_objects_under("mem://bucket/run/0").await?);
    /// // Where `exists` looks for one object at exactly the URI.
    /// assert!(!storage.exists("mem://bucket/run/0").await?);
    /// // Whole segments only: "run/0" is not under "run/0/deck/index".
    /// assert!(!storage.has_objects_under("mem://bucket/run/0/deck/index").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn has_objects_under(&self, uri: &str) -> Result<bool> {
        let (uri, store) = self.route(uri)?;
        store.has_objects_under(&uri).await
    }

    /// Deletes the object at `uri`; succeeds when there is none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, Storage, StorageConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> flyte_storage::Result<()> {
    /// let storage = Storage::new(StorageConfig::default())
    ///     .with_store("mem://", Arc::new(MemoryStore::new()));
    /// storage.put_bytes("mem://bucket/run/0/error.pb", &b"stale"[..]).await?;
    /// storage.delete("mem://bucket/run/0/error.pb").await?;
    /// assert!(!storage.exists("mem://bucket/run/0/error.pb").await?);
    /// // Deleting again is not an error, so a cleanup can be retried.
    /// storage.delete("mem://bucket/run/0/error.pb").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete(&self, uri: &str) -> Result<()> {
        let (uri, store) = self.route(uri)?;
        store.delete(&uri).await
    }
}

/// The error for `uri` when the build leaves its backend out.
#[cfg(not(all(feature = "s3", feature = "gcs", feature = "azure")))]
fn not_built(
    uri: &StorageUri,
    backend: &'static str,
    feature: &'static str,
) -> crate::StorageError {
    crate::StorageError::BackendNotBuilt {
        uri: uri.to_string(),
        backend,
        feature,
    }
}

impl Default for Storage {
    fn default() -> Self {
        Self::new(StorageConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StorageError;

    #[test]
    fn each_cloud_scheme_routes_to_its_backend_or_names_the_feature_that_builds_it() {
        let storage = Storage::default();
        for (text, built, feature) in [
            ("s3://b/k", cfg!(feature = "s3"), "s3"),
            ("s3a://b/k", cfg!(feature = "s3"), "s3"),
            ("gs://b/k", cfg!(feature = "gcs"), "gcs"),
            ("gcs://b/k", cfg!(feature = "gcs"), "gcs"),
            ("abfs://c/p", cfg!(feature = "azure"), "azure"),
            (
                "abfss://c@a.dfs.core.windows.net/p",
                cfg!(feature = "azure"),
                "azure",
            ),
        ] {
            let uri = StorageUri::parse(text).expect("valid");
            match storage.store_for(&uri) {
                Ok(_) => assert!(built, "{text} routes to a backend this build leaves out"),
                Err(error @ StorageError::BackendNotBuilt { .. }) => {
                    assert!(!built, "{text}: {error}");
                    let message = error.to_string();
                    assert!(message.contains(text), "{message}");
                    assert!(
                        message.contains(&format!("--features {feature}")),
                        "{message}"
                    );
                }
                Err(other) => panic!("{text}: {other:?}"),
            }
        }
    }

    /// Run by `cargo xtask test` in a build with the S3 backend alone.
    #[cfg(not(feature = "gcs"))]
    #[tokio::test]
    async fn a_gcs_uri_in_a_build_without_gcs_says_which_feature_to_enable() {
        let error = Storage::default()
            .get_bytes("gs://bucket/inputs.pb")
            .await
            .expect_err("no GCS backend");
        assert_eq!(
            error.to_string(),
            "gs://bucket/inputs.pb needs the Google Cloud Storage backend, which this build \
             of flyte-storage leaves out: build flyte-storage with `--features gcs` (or \
             features = [\"gcs\"] in Cargo.toml)"
        );
    }

    /// Which of `stores` serves `uri`, by index.
    fn served_by(
        storage: &Storage,
        stores: &[Arc<crate::MemoryStore>],
        uri: &str,
    ) -> Option<usize> {
        let parsed = StorageUri::parse(uri).expect("valid");
        let store: *const dyn Store = storage.store_for(&parsed).ok()?;
        stores
            .iter()
            .position(|candidate| std::ptr::addr_eq(Arc::as_ptr(candidate), store))
    }

    #[test]
    fn a_registered_prefix_serves_whole_path_segments_only() {
        let scratch = Arc::new(crate::MemoryStore::new());
        let storage = Storage::default().with_store("s3://scratch", scratch.clone());
        let stores = [scratch];
        assert_eq!(served_by(&storage, &stores, "s3://scratch/a/b"), Some(0));
        assert_eq!(served_by(&storage, &stores, "s3://scratch"), Some(0));
        assert_eq!(served_by(&storage, &stores, "s3://scratch/"), Some(0));
        assert_eq!(
            served_by(&storage, &stores, "s3://scratch-2/a"),
            None,
            "another bucket whose name starts the same"
        );
        assert_eq!(served_by(&storage, &stores, "s3://scratchpad"), None);
    }

    #[test]
    fn a_trailing_slash_at_registration_is_dropped() {
        let scratch = Arc::new(crate::MemoryStore::new());
        let storage = Storage::default().with_store("s3://scratch/", scratch.clone());
        let stores = [scratch];
        assert_eq!(
            served_by(&storage, &stores, "s3://scratch"),
            Some(0),
            "the bucket itself, as a listing names it"
        );
        assert_eq!(served_by(&storage, &stores, "s3://scratch/k"), Some(0));
        assert_eq!(served_by(&storage, &stores, "s3://scratch-2/k"), None);
    }

    #[test]
    fn a_prefix_with_and_without_its_trailing_slash_is_one_registration() {
        let first = Arc::new(crate::MemoryStore::new());
        let second = Arc::new(crate::MemoryStore::new());
        let storage = Storage::default()
            .with_store("mem://b/dir", first.clone())
            .with_store("MEM://b/dir//", second.clone());
        let stores = [first, second];
        assert_eq!(served_by(&storage, &stores, "mem://b/dir/k"), Some(1));
        assert_eq!(storage.registered.len(), 1);
    }

    #[test]
    fn a_bare_scheme_or_the_root_serves_everything_under_it() {
        let memory = Arc::new(crate::MemoryStore::new());
        let root = Arc::new(crate::MemoryStore::new());
        let storage = Storage::default()
            .with_store("mem://", memory.clone())
            .with_store("/", root.clone());
        let stores = [memory, root];
        assert_eq!(served_by(&storage, &stores, "mem://bucket/k"), Some(0));
        assert_eq!(served_by(&storage, &stores, "/tmp/x"), Some(1));
        assert_eq!(registered_prefix("mem://"), "mem://");
        assert_eq!(registered_prefix("/"), "/");
        assert_eq!(registered_prefix("file:///tmp/x/"), "file:///tmp/x");
    }

    #[test]
    fn local_uris_route_to_the_local_store() {
        let storage = Storage::default();
        for text in ["/tmp/x", "rel", "file:///tmp/x"] {
            let uri = StorageUri::parse(text).expect("valid");
            assert!(storage.store_for(&uri).is_ok(), "{text}");
        }
    }
}
