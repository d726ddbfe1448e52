//! [`OffloadError`]: what can go wrong offloading or materialising, in the caller's terms.

use std::path::PathBuf;

use flyte_storage::{Storage, StorageError, StorageUri};

/// [`OffloadError::NoStore`], naming `named`, unless `storage` has a store for `uri`:
/// checked before anything is read or written, so a URI no store serves fails first.
pub(crate) fn check_served(storage: &Storage, uri: &str, named: &str) -> Result<(), OffloadError> {
    let no_store = |source| OffloadError::NoStore {
        uri: named.to_owned(),
        source,
    };
    let parsed = StorageUri::parse(uri).map_err(no_store)?;
    storage.store_for(&parsed).map_err(no_store)?;
    Ok(())
}

/// An offload or materialise failure. Every message names the local path or URI involved
/// and says what to do; the underlying error, when there is one, is the
/// [`source`](std::error::Error::source) and is not repeated in the message.
///
/// ```
/// use flyte_offload::OffloadError;
/// use std::path::PathBuf;
///
/// let error = OffloadError::NotFound { path: PathBuf::from("/tmp/report.csv") };
/// assert!(error.to_string().contains("/tmp/report.csv"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    /// The local path to offload does not exist.
    #[error(
        "{} does not exist: pass the path of a file or directory that exists when the value \
         is offloaded",
        path.display()
    )]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },

    /// A file was expected (a Blob SINGLE, or a one-file dataset) but the path is
    /// something else.
    #[error(
        "{} is not a regular file: pass a file, or offload a directory with \
         Offloader::directory",
        path.display()
    )]
    NotAFile {
        /// The path as given.
        path: PathBuf,
    },

    /// A directory was expected (a Blob MULTIPART) but the path is something else.
    #[error(
        "{} is not a directory: pass a directory, or offload a single file with \
         Offloader::file",
        path.display()
    )]
    NotADirectory {
        /// The path as given.
        path: PathBuf,
    },

    /// A single file was offloaded as a structured dataset of a format whose one file
    /// flytekit names nothing it would read back (only parquet's `00000`, also used for
    /// the generic format `""`, and csv's `.csv` are known, see [`dataset_file_name`](crate::dataset_file_name)). Nothing
    /// was uploaded.
    #[error(
        "{} is a single file of a {format:?} dataset, and flytekit's decoders only find the \
         one file of a parquet (00000) or csv (.csv) dataset: offload a directory holding \
         the dataset's files instead",
        path.display()
    )]
    DatasetFileFormat {
        /// The file as given.
        path: PathBuf,
        /// The dataset format asked for.
        format: String,
    },

    /// The path has no final component to name the uploaded object by (e.g. `/` or `..`).
    #[error(
        "{} has no file name to keep in the remote path: pass the file's own path, e.g. \
         dir/report.csv",
        path.display()
    )]
    NoFileName {
        /// The path as given.
        path: PathBuf,
    },

    /// A symbolic link inside a directory to offload points outside the directory, or
    /// at nothing. Nothing was uploaded.
    #[error(
        "{} is a symbolic link to {}, outside {} (or to nothing): a directory is offloaded \
         with what is inside it only; copy the target into the directory or remove the link",
        link.display(),
        target.display(),
        root.display()
    )]
    LinkOutside {
        /// The link.
        link: PathBuf,
        /// Where it points, as the link says.
        target: PathBuf,
        /// The directory being offloaded.
        root: PathBuf,
    },

    /// A local file or directory could not be read or written.
    #[error("cannot {action} {}: check that it exists and this process may access it", path.display())]
    Local {
        /// What was being done, e.g. `read the directory`.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },

    /// The URI cannot be served: its scheme has no store in this storage (or in this
    /// build), or it is not a URI at all. Nothing was transferred.
    #[error(
        "no store serves {uri}: use a local path or an s3://, gs:// or abfs:// URI the \
         storage is configured for (and built with), or register a store for its scheme \
         or prefix with Storage::with_store"
    )]
    NoStore {
        /// The URI as given or built.
        uri: String,
        /// Why the storage refused it.
        source: StorageError,
    },

    /// The raw output prefix is empty, so there is nowhere to offload to.
    #[error(
        "the raw output prefix is empty: pass the task's raw output prefix (e.g. \
         s3://bucket/raw/ab/cd-n0-0) to Offloader::new"
    )]
    EmptyPrefix,

    /// An upload failed. What it had written under its fresh random prefix was deleted
    /// (best effort) and no literal was made.
    #[error("uploading {} to {uri} failed: nothing was kept; retry, or see the cause", path.display())]
    Upload {
        /// The local file or directory.
        path: PathBuf,
        /// Where it was going.
        uri: String,
        /// The storage failure.
        source: StorageError,
    },

    /// A download failed.
    #[error("downloading {uri} to {} failed: check the URI and the storage's access", path.display())]
    Download {
        /// The object or prefix.
        uri: String,
        /// Where it was going.
        path: PathBuf,
        /// The storage failure.
        source: StorageError,
    },

    /// An offloaded literal (`LiteralOffloadedMetadata`) could not be downloaded: the
    /// storage failed, so a retry may succeed.
    #[error(
        "cannot download the offloaded literal at {uri}: check the URI and the storage's \
         access, or retry"
    )]
    OffloadedLiteralDownload {
        /// The offloaded literal's URI.
        uri: String,
        /// The storage failure.
        source: StorageError,
    },

    /// An offloaded literal (`LiteralOffloadedMetadata`) was downloaded but is not a
    /// serialized `Literal`: the data is wrong, and a retry reads the same bytes.
    #[error(
        "the offloaded literal at {uri} cannot be decoded: check that it is what \
         flytekit's literal offloading wrote"
    )]
    OffloadedLiteralInvalid {
        /// The offloaded literal's URI.
        uri: String,
        /// The decoding failure.
        source: flyte_proto::ProtoError,
    },

    /// Offloaded literals nest deeper than [`MAX_OFFLOAD_DEPTH`](crate::MAX_OFFLOAD_DEPTH):
    /// most likely one refers to itself.
    #[error(
        "the offloaded literal at {uri} is nested more than {depth} levels deep: check that \
         no offloaded literal refers to itself"
    )]
    OffloadLoop {
        /// The offloaded literal at which the walk gave up.
        uri: String,
        /// The nesting allowed.
        depth: usize,
    },

    /// A literal is not of the kind the caller asked for.
    #[error("expected {expected} at {}, found {found}: pass a literal of that kind", path.display())]
    UnexpectedLiteral {
        /// What was expected, e.g. `a file (Blob SINGLE)`.
        expected: &'static str,
        /// What the literal is, e.g. `an integer`.
        found: String,
        /// Where it would have been materialised.
        path: PathBuf,
    },

    /// A blob or dataset literal has no URI.
    #[error(
        "the {kind} to be materialised at {} has an empty URI: the literal was built \
         without its data; check what produced it",
        path.display()
    )]
    EmptyUri {
        /// `blob`, `structured dataset` or `schema`.
        kind: &'static str,
        /// Where it would have been materialised.
        path: PathBuf,
    },

    /// A map key cannot be a file name under the target directory (empty, `.`, `..`, or
    /// holding a `/` or NUL), so the entry has no safe local path.
    #[error(
        "the map key {key:?} cannot name a file under {}: rename the key, or materialise \
         that entry yourself",
        dir.display()
    )]
    UnsafeKey {
        /// The key.
        key: String,
        /// The directory it would have gone under.
        dir: PathBuf,
    },

    /// A local path cannot be written into a literal because it is not UTF-8.
    #[error("{} is not valid UTF-8, so no literal can name it: use a UTF-8 path", path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
}

/// Where an [`OffloadError`]'s cause lies, for a caller deciding whose fault a failure
/// is and whether a retry can help: the same variant may mean different things to an
/// uploader and a downloader (an unreadable local file is the task's output; an
/// unwritable one is the pod's volume), so this says where, and the caller says whose.
///
/// ```
/// use flyte_offload::{OffloadError, OffloadErrorKind};
/// use std::path::PathBuf;
///
/// let error = OffloadError::LinkOutside {
///     link: PathBuf::from("/out/dir/escape"),
///     target: PathBuf::from("/etc/passwd"),
///     root: PathBuf::from("/out/dir"),
/// };
/// let retry_can_help = match error.kind() {
///     OffloadErrorKind::Storage => true,
///     _ => false, // the local data, the configuration or the literal: the same next time
/// };
/// assert!(!retry_can_help);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffloadErrorKind {
    /// The local side: a path that is missing, of the wrong kind, unnamed, not UTF-8, a
    /// link leaving its directory, a format with no single-file layout, or a file
    /// system refusing a read or a write.
    Local,
    /// No store of the [`Storage`](flyte_storage::Storage) serves the URI or prefix
    /// (or the prefix is empty): how the storage was set up.
    Configuration,
    /// The store failed a transfer; [`StorageError::is_transient`] on the source says
    /// whether the failure itself is likely to pass.
    Storage,
    /// The literal is not what was asked for or cannot be followed: another type, an
    /// empty URI, an unsafe map key, an offloaded literal that does not decode or
    /// refers back to itself.
    Literal,
}

impl OffloadError {
    /// Where this failure's cause lies (see [`OffloadErrorKind`]).
    ///
    /// ```
    /// use flyte_offload::{OffloadError, OffloadErrorKind};
    /// assert_eq!(OffloadError::EmptyPrefix.kind(), OffloadErrorKind::Configuration);
    /// ```
    pub fn kind(&self) -> OffloadErrorKind {
        match self {
            OffloadError::NotFound { .. }
            | OffloadError::NotAFile { .. }
            | OffloadError::NotADirectory { .. }
            | OffloadError::DatasetFileFormat { .. }
            | OffloadError::NoFileName { .. }
            | OffloadError::LinkOutside { .. }
            | OffloadError::Local { .. }
            | OffloadError::NonUtf8Path { .. } => OffloadErrorKind::Local,
            OffloadError::NoStore { .. } | OffloadError::EmptyPrefix => {
                OffloadErrorKind::Configuration
            }
            OffloadError::Upload { .. }
            | OffloadError::Download { .. }
            | OffloadError::OffloadedLiteralDownload { .. } => OffloadErrorKind::Storage,
            OffloadError::OffloadedLiteralInvalid { .. }
            | OffloadError::OffloadLoop { .. }
            | OffloadError::UnexpectedLiteral { .. }
            | OffloadError::EmptyUri { .. }
            | OffloadError::UnsafeKey { .. } => OffloadErrorKind::Literal,
        }
    }
}
