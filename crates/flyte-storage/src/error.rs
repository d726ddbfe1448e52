//! [`StorageError`]: everything that can go wrong moving bytes, in the caller's terms.

use std::fmt;
use std::io;
use std::time::Duration;

/// A storage failure. Every message names the URI or path involved and says what to do;
/// the underlying error, when there is one, is the [`source`](std::error::Error::source).
///
/// The enum is `#[non_exhaustive]`: a `match` ends with a catch-all arm.
///
/// ```
/// use flyte_storage::{Storage, StorageError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// # let dir = tempfile::tempdir().expect("temp dir");
/// # let prefix = dir.path().display().to_string();
/// let storage = Storage::default();
/// let checkpoint = flyte_storage::join(&prefix, "checkpoint/state.bin");
/// let previous = match storage.get_bytes(&checkpoint).await {
///     Ok(bytes) => Some(bytes),
///     // The first attempt has no checkpoint yet.
///     Err(StorageError::NotFound { .. }) => None,
///     Err(error) if error.is_transient() => {
///         eprintln!("{checkpoint} is unreachable for now, try again later: {error}");
///         return Err(error);
///     }
///     Err(error) => return Err(error),
/// };
/// assert!(previous.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The text is neither a local path nor a well-formed URI of a known scheme.
    #[error(
        "invalid storage URI {uri:?}: {reason}; write a local path, file:///absolute/path, \
         s3://bucket/key, gs://bucket/key or abfs://container/path"
    )]
    InvalidUri {
        /// The text as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No store serves the URI's scheme: it is not one this crate has a backend for,
    /// and no store is [registered](crate::Storage::with_store) for the URI.
    #[error(
        "no store serves the scheme {scheme:?} of {uri:?}: use a local path or a file://, \
         s3://, s3a://, gs://, gcs://, abfs:// or abfss:// URI, or register a store for \
         the scheme (Storage::with_store)"
    )]
    UnsupportedScheme {
        /// The URI as given.
        uri: String,
        /// Its scheme, lowercased.
        scheme: String,
    },

    /// The URI's scheme is known, but this build of the crate leaves its backend out
    /// (each object store is a cargo feature).
    #[error(
        "{uri} needs the {backend} backend, which this build of flyte-storage leaves out: \
         build flyte-storage with `--features {feature}` (or features = [\"{feature}\"] in \
         Cargo.toml)"
    )]
    BackendNotBuilt {
        /// The URI as given.
        uri: String,
        /// The object store, e.g. `S3`.
        backend: &'static str,
        /// The cargo feature that builds it, e.g. `s3`.
        feature: &'static str,
    },

    /// Nothing exists at the URI (or, for a directory download, under it).
    #[error("no object at {uri}: check the URI, and that whatever should have written it did")]
    NotFound {
        /// The URI or local path that was looked for.
        uri: String,
    },

    /// The process may not read or write the URI.
    #[error(
        "permission denied on {uri}: give this process access to it (file permissions, or \
         the rights of the storage credentials)"
    )]
    PermissionDenied {
        /// The URI or local path that was refused.
        uri: String,
        /// The refusal as the file system or the object store reported it.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The bucket (S3, GCS) or container (Azure) the URI names does not exist.
    #[error(
        "the bucket or container {bucket:?} of {uri} does not exist: check the URI, or create \
         the bucket in the account the storage credentials belong to"
    )]
    NoSuchBucket {
        /// The URI as given.
        uri: String,
        /// The bucket or container it names.
        bucket: String,
    },

    /// The object store could not be reached or kept failing: the last failure, after
    /// retrying those worth retrying, is the source.
    #[error(
        "the object store failed a request for {uri} ({attempts} attempt(s)): check the \
         endpoint, the network and the store's status"
    )]
    Remote {
        /// The URI the request was for.
        uri: String,
        /// Attempts made before giving up.
        attempts: u32,
        /// The last failure as the store or the HTTP client reported it.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The object store stopped moving bytes: no connection, no answer, or a body that
    /// stopped arriving for the no-progress timeout, on every attempt the retry policy
    /// allowed. Worth retrying later (the store or the network may recover).
    #[error(
        "{} {uri} for {} while {during}, after {attempts} attempt(s): check the endpoint, the \
         network and the store's status, or raise the storage timeouts if the link is this slow",
        during.lead(),
        Seconds(*after)
    )]
    Stalled {
        /// The URI as the caller gave it.
        uri: String,
        /// What the transfer was doing when bytes stopped moving, on the last attempt.
        during: TransferPhase,
        /// How long nothing moved before the attempt was abandoned.
        after: Duration,
        /// Attempts made before giving up.
        attempts: u32,
    },

    /// The configuration cannot serve the URI (e.g. no Azure account is named, or a
    /// connection string does not parse). The reason names the [`StorageConfig`]
    /// setting by its field path (`azure.account_name`); which environment variable or
    /// file feeds it is the program's to say, since this crate reads neither.
    ///
    /// [`StorageConfig`]: crate::StorageConfig
    #[error("cannot set up storage for {uri}: {reason}")]
    Config {
        /// The URI that needed the configuration.
        uri: String,
        /// What is missing or wrong, and which setting fixes it.
        reason: String,
    },

    /// A directory transfer was given something that is not a directory.
    #[error("{uri} is not a directory: pass a directory, or transfer the single file instead")]
    NotADirectory {
        /// The local path or URI that should have been a directory.
        uri: String,
    },

    /// A directory upload met a symbolic link whose target does not exist. (Links to
    /// files are uploaded as the file, links to directories are skipped.)
    #[error(
        "{uri} is a symbolic link to {target}, which does not exist: remove the link, or \
         make it point at a file before the directory is uploaded"
    )]
    DanglingLink {
        /// The link's path.
        uri: String,
        /// Where it points.
        target: String,
    },

    /// A file transfer was given a local path that is not a regular file (nor a link to
    /// one): a FIFO, a socket or a device has no contents to copy, and reading one can
    /// block forever (a FIFO) or never end (`/dev/zero`).
    #[error(
        "{uri} is {kind}, not a regular file, so it has no contents to transfer: write \
         the data to a regular file and name that"
    )]
    NotAFile {
        /// The local path.
        uri: String,
        /// What it is instead, in words: "a FIFO (named pipe)", "a socket", ...
        kind: &'static str,
    },

    /// Any other I/O failure.
    #[error("I/O error on {uri}: check that the path is usable and that its disk has space")]
    Io {
        /// The URI or local path the operation failed on.
        uri: String,
        /// The operating system's error.
        source: io::Error,
    },
}

/// What a transfer was doing when it stalled ([`StorageError::Stalled`]).
///
/// ```
/// use std::time::Duration;
/// use flyte_storage::{StorageError, TransferPhase};
///
/// let error = StorageError::Stalled {
///     uri: "s3://bucket/big.bin".into(),
///     during: TransferPhase::Connecting,
///     after: Duration::from_secs(10),
///     attempts: 5,
/// };
/// assert!(error.to_string().starts_with("no connection to s3://bucket/big.bin for 10 s"));
/// if let StorageError::Stalled { during: TransferPhase::Connecting, .. } = error {
///     eprintln!("check the endpoint and the network");
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferPhase {
    /// Opening the connection (the connect timeout ran out).
    Connecting,
    /// Waiting for the store to answer a request (its status line and headers, or the
    /// whole of a small answer such as a listing page).
    WaitingForAnswer,
    /// Sending an object's bytes, or waiting for the store to acknowledge them.
    Uploading,
    /// Receiving an object's bytes.
    Downloading,
}

impl TransferPhase {
    /// The start of the error's sentence: what did not come from the URI.
    fn lead(self) -> &'static str {
        match self {
            Self::Connecting => "no connection to",
            Self::WaitingForAnswer => "no answer from",
            Self::Uploading => "no progress sending to",
            Self::Downloading => "no bytes from",
        }
    }
}

impl fmt::Display for TransferPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connecting => "connecting",
            Self::WaitingForAnswer => "waiting for an answer",
            Self::Uploading => "uploading",
            Self::Downloading => "downloading",
        })
    }
}

/// A duration as people read a timeout: `60 s`, `1.5 s`, `300 ms`.
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis < 1000 {
            write!(f, "{millis} ms")
        } else if millis % 1000 == 0 {
            write!(f, "{} s", millis / 1000)
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
}

/// `Result` with [`StorageError`].
///
/// ```
/// use flyte_storage::{Storage, join};
///
/// async fn read_outputs(storage: &Storage, prefix: &str) -> flyte_storage::Result<Vec<u8>> {
///     Ok(storage.get_bytes(&join(prefix, "outputs.pb")).await?.to_vec())
/// }
/// ```
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// Sorts an I/O error on `uri` into [`StorageError::NotFound`],
    /// [`StorageError::PermissionDenied`] or [`StorageError::Io`].
    pub(crate) fn from_io(uri: impl Into<String>, source: io::Error) -> Self {
        let uri = uri.into();
        match source.kind() {
            io::ErrorKind::NotFound => Self::NotFound { uri },
            io::ErrorKind::PermissionDenied => Self::PermissionDenied {
                uri,
                source: Box::new(source),
            },
            _ => Self::Io { uri, source },
        }
    }

    /// A local directory where a file was expected (`uri` names it).
    pub(crate) fn directory_given_as_file(uri: String) -> Self {
        Self::Io {
            uri,
            source: io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory, not a file: transfer it as a directory",
            ),
        }
    }

    /// Whether trying the whole operation again later may succeed: the store failed
    /// on its side, could not be reached, or stopped moving bytes. Refusals, missing
    /// objects and bad input fail the same way every time.
    ///
    /// ```
    /// use flyte_storage::StorageError;
    /// let missing = StorageError::NotFound { uri: "s3://bucket/inputs.pb".into() };
    /// assert!(!missing.is_transient(), "retrying will not make it appear");
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Remote { .. } | Self::Stalled { .. })
    }

    /// Refuses a local path to upload as one file unless `metadata` (followed through
    /// links) is a regular file's: a directory is to be transferred as one, anything
    /// else is [`StorageError::NotAFile`].
    pub(crate) fn unless_regular_file(metadata: &std::fs::Metadata, uri: &str) -> Result<()> {
        let file_type = metadata.file_type();
        if file_type.is_file() {
            return Ok(());
        }
        if file_type.is_dir() {
            return Err(Self::directory_given_as_file(uri.to_owned()));
        }
        Err(Self::NotAFile {
            uri: uri.to_owned(),
            kind: special_file_kind(file_type),
        })
    }

    /// The error with the URI it names replaced by `to` when it is `from`: a store
    /// that serves URIs by calling another store with other URIs (a
    /// [`PrefixStore`](crate::PrefixStore)) names the caller's.
    pub(crate) fn naming(mut self, from: &str, to: &str) -> Self {
        let uri = match &mut self {
            Self::InvalidUri { uri, .. }
            | Self::UnsupportedScheme { uri, .. }
            | Self::BackendNotBuilt { uri, .. }
            | Self::NoSuchBucket { uri, .. }
            | Self::Remote { uri, .. }
            | Self::Stalled { uri, .. }
            | Self::Config { uri, .. }
            | Self::NotFound { uri }
            | Self::PermissionDenied { uri, .. }
            | Self::NotADirectory { uri }
            | Self::DanglingLink { uri, .. }
            | Self::NotAFile { uri, .. }
            | Self::Io { uri, .. } => uri,
        };
        if uri == from {
            to.clone_into(uri);
        }
        self
    }

    /// The URI or path the error is about.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let storage = flyte_storage::Storage::default();
    /// let error = storage.get_bytes("/nonexistent/inputs.pb").await.unwrap_err();
    /// assert_eq!(error.uri(), "/nonexistent/inputs.pb");
    /// # }
    /// ```
    pub fn uri(&self) -> &str {
        match self {
            Self::InvalidUri { uri, .. }
            | Self::UnsupportedScheme { uri, .. }
            | Self::BackendNotBuilt { uri, .. }
            | Self::NoSuchBucket { uri, .. }
            | Self::Remote { uri, .. }
            | Self::Stalled { uri, .. }
            | Self::Config { uri, .. }
            | Self::NotFound { uri }
            | Self::PermissionDenied { uri, .. }
            | Self::NotADirectory { uri }
            | Self::DanglingLink { uri, .. }
            | Self::NotAFile { uri, .. }
            | Self::Io { uri, .. } => uri,
        }
    }
}

/// What a file that is neither a regular file nor a directory is, in words.
pub(crate) fn special_file_kind(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_stall_says_what_stopped_for_how_long_and_after_how_many_attempts() {
        let error = StorageError::Stalled {
            uri: "s3://b/k".into(),
            during: TransferPhase::Downloading,
            after: Duration::from_secs(60),
            attempts: 3,
        };
        let message = error.to_string();
        assert!(
            message.starts_with(
                "no bytes from s3://b/k for 60 s while downloading, after 3 attempt(s)"
            ),
            "{message}"
        );
        assert!(error.is_transient());
        let connect = StorageError::Stalled {
            uri: "gs://b/k".into(),
            during: TransferPhase::Connecting,
            after: Duration::from_millis(1500),
            attempts: 1,
        };
        assert!(
            connect
                .to_string()
                .starts_with("no connection to gs://b/k for 1.5 s while connecting"),
            "{connect}"
        );
    }

    #[test]
    fn io_errors_sort_by_kind_and_keep_the_uri() {
        let not_found = StorageError::from_io("/a", io::Error::from(io::ErrorKind::NotFound));
        assert!(matches!(&not_found, StorageError::NotFound { uri } if uri == "/a"));
        let denied = StorageError::from_io("/b", io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(denied, StorageError::PermissionDenied { .. }));
        assert!(denied.source().is_some());
        let other = StorageError::from_io("/c", io::Error::other("disk on fire"));
        assert_eq!(other.uri(), "/c");
        assert_eq!(
            other.source().map(ToString::to_string).as_deref(),
            Some("disk on fire")
        );
    }

    /// `anyhow`'s `{:#}` walks `source()`: a message that printed its cause too would
    /// show it twice.
    #[test]
    fn an_error_with_a_source_does_not_print_it_in_its_message() {
        let cause = "the cause, once";
        let errors = [
            StorageError::PermissionDenied {
                uri: "u".into(),
                source: cause.into(),
            },
            StorageError::Remote {
                uri: "u".into(),
                attempts: 2,
                source: cause.into(),
            },
            StorageError::Io {
                uri: "u".into(),
                source: io::Error::other(cause),
            },
        ];
        for error in errors {
            let source = std::error::Error::source(&error).expect("a source");
            assert_eq!(source.to_string(), cause);
            assert!(!error.to_string().contains(cause), "{error}");
        }
    }

    #[test]
    fn every_message_names_the_uri() {
        let errors = [
            StorageError::InvalidUri {
                uri: "u1".into(),
                reason: "r".into(),
            },
            StorageError::UnsupportedScheme {
                uri: "u2".into(),
                scheme: "ftp".into(),
            },
            StorageError::NoSuchBucket {
                uri: "u3".into(),
                bucket: "b".into(),
            },
            StorageError::BackendNotBuilt {
                uri: "u10".into(),
                backend: "S3",
                feature: "s3",
            },
            StorageError::Remote {
                uri: "u8".into(),
                attempts: 3,
                source: "reset".into(),
            },
            StorageError::Stalled {
                uri: "u12".into(),
                during: TransferPhase::Downloading,
                after: Duration::from_secs(60),
                attempts: 3,
            },
            StorageError::Config {
                uri: "u9".into(),
                reason: "no account".into(),
            },
            StorageError::NotFound { uri: "u4".into() },
            StorageError::from_io("u5", io::Error::from(io::ErrorKind::PermissionDenied)),
            StorageError::NotADirectory { uri: "u6".into() },
            StorageError::DanglingLink {
                uri: "u11".into(),
                target: "t".into(),
            },
            StorageError::NotAFile {
                uri: "u12".into(),
                kind: "a socket",
            },
            StorageError::from_io("u7", io::Error::other("x")),
        ];
        for error in errors {
            let message = error.to_string();
            assert!(message.contains(error.uri()), "{message}");
        }
    }
}
