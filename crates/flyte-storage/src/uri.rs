//! [`StorageUri`]: where an object lives, parsed from the strings Flyte passes around.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Result, StorageError};

/// The kind of store a URI addresses.
///
/// ```
/// use flyte_storage::{Scheme, StorageUri};
/// # fn main() -> flyte_storage::Result<()> {
/// assert_eq!(StorageUri::parse("s3a://bucket/key")?.scheme(), Scheme::S3);
/// assert_eq!(StorageUri::parse("/tmp/inputs.pb")?.scheme(), Scheme::File);
/// assert_eq!(StorageUri::parse("mem://bucket/key")?.scheme(), Scheme::Other);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// The local file system: plain paths, `file://` and `file:`.
    File,
    /// Amazon S3 and compatible stores: `s3://`, `s3a://`.
    S3,
    /// Google Cloud Storage: `gs://`, `gcs://`.
    Gcs,
    /// Azure Data Lake Storage Gen2: `abfs://`, `abfss://`.
    Azure,
    /// Any other scheme (`mem://`, `vault://`, ...): served only by a store
    /// registered for it with [`Storage::with_store`](crate::Storage::with_store).
    Other,
}

/// What a [`StorageUri`] points at, split into the parts its store needs.
///
/// ```
/// use flyte_storage::{Location, StorageUri};
/// # fn main() -> flyte_storage::Result<()> {
/// let uri = StorageUri::parse("abfss://data@account.dfs.core.windows.net/runs/0/outputs.pb")?;
/// match uri.location() {
///     Location::Azure { container, host, path } => {
///         assert_eq!(container, "data");
///         assert_eq!(host.as_deref(), Some("account.dfs.core.windows.net"));
///         assert_eq!(path, "runs/0/outputs.pb");
///     }
///     Location::S3 { bucket, key } | Location::Gcs { bucket, key } => println!("{bucket} {key}"),
///     Location::Local(path) => println!("{}", path.display()),
///     other => println!("{other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Location {
    /// A local path, absolute or relative to the working directory.
    Local(PathBuf),
    /// An S3 object or prefix.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key or key prefix; empty for the whole bucket.
        key: String,
    },
    /// A Google Cloud Storage object or prefix.
    Gcs {
        /// The bucket.
        bucket: String,
        /// The object name or prefix; empty for the whole bucket.
        key: String,
    },
    /// An Azure Data Lake Storage Gen2 file or directory.
    Azure {
        /// The container (file system).
        container: String,
        /// The account's host, e.g. `account.dfs.core.windows.net`, when the URI names
        /// one (`abfs://container@host/path`); otherwise the account comes from
        /// configuration.
        host: Option<String>,
        /// The path inside the container; empty for the whole container.
        path: String,
    },
    /// A URI of a scheme this crate has no backend for (`mem://bucket/key`), split as
    /// the object stores' URIs are: what comes before the first `/` after `://`, and
    /// the rest. Only a store registered for it serves it.
    Other {
        /// The scheme, lowercased.
        scheme: String,
        /// The text between `://` and the next `/` (a bucket, for [`MemoryStore`]);
        /// may be empty.
        ///
        /// [`MemoryStore`]: crate::MemoryStore
        bucket: String,
        /// The rest after that `/`; empty when there is none.
        key: String,
    },
}

/// A parsed storage location, keeping the text it was parsed from.
///
/// Accepted forms:
///
/// | text | location |
/// | --- | --- |
/// | `/abs/path`, `rel/path` | [`Location::Local`] |
/// | `file:///abs/path`, `file:/abs/path` | [`Location::Local`] `/abs/path` |
/// | `file://rel/path`, `file:rel/path` | [`Location::Local`] `rel/path` (as fsspec reads them) |
/// | `s3://bucket/key`, `s3a://bucket/key` | [`Location::S3`] |
/// | `gs://bucket/key`, `gcs://bucket/key` | [`Location::Gcs`] |
/// | `abfs://container/path`, `abfss://container/path` | [`Location::Azure`] without host |
/// | `abfs[s]://container@account.dfs.core.windows.net/path` | [`Location::Azure`] with host |
/// | `other://bucket/key`, any other scheme | [`Location::Other`] |
///
/// Schemes are case-insensitive. Text is taken literally: no percent-decoding, and
/// trailing slashes are kept. A scheme outside the table parses, and is served only by
/// a store registered for it ([`Storage::with_store`](crate::Storage::with_store));
/// without one, the [`Storage`](crate::Storage) facade answers
/// [`StorageError::UnsupportedScheme`]. A known scheme without its bucket or container
/// is [`StorageError::InvalidUri`].
///
/// Display gives the text as parsed, so errors name the URI as the user wrote it.
///
/// ```
/// use flyte_storage::{Location, StorageUri};
/// # fn main() -> flyte_storage::Result<()> {
/// let prefix: StorageUri = "S3://bucket/metadata/n0/".parse()?;
/// assert_eq!(prefix.to_string(), "S3://bucket/metadata/n0/");
/// assert_eq!(
///     prefix.location(),
///     &Location::S3 { bucket: "bucket".into(), key: "metadata/n0/".into() }
/// );
/// assert_eq!(prefix.join("outputs.pb")?.as_str(), "S3://bucket/metadata/n0/outputs.pb");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageUri {
    text: String,
    location: Location,
}

impl StorageUri {
    /// Parses a local path or URI (the forms in the table above); anything else is
    /// [`StorageError::InvalidUri`], naming the text and saying what is wrong.
    ///
    /// ```
    /// use flyte_storage::{StorageError, StorageUri};
    /// assert!(StorageUri::parse("gs://bucket/data/df.parquet").is_ok());
    /// assert!(matches!(StorageUri::parse("s3:///key"), Err(StorageError::InvalidUri { .. })));
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        // The text is quoted back in the message: a signed URL given by mistake must not
        // carry its signature into an error document.
        let invalid = |reason: &str| StorageError::InvalidUri {
            uri: crate::redact::redact(text).into_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            // No "://": a local path, unless it is fsspec's "file:path" form. Other
            // colons are legal in file names, so "a:b" stays a path.
            let path = strip_prefix_ignore_case(text, "file:").unwrap_or(text);
            if path.is_empty() {
                return Err(invalid("the file URI has no path"));
            }
            return Ok(Self::local(text, path));
        };
        if !is_scheme_syntax(scheme) {
            return Err(invalid(
                "the text before \"://\" is not a URI scheme (letters, digits, '+', '-', '.')",
            ));
        }
        let scheme = scheme.to_ascii_lowercase();
        let location = match scheme.as_str() {
            "file" => {
                if rest.is_empty() {
                    return Err(invalid("the file URI has no path"));
                }
                return Ok(Self::local(text, rest));
            }
            "s3" | "s3a" => {
                let (bucket, key) = bucket_and_key(rest).ok_or_else(|| invalid("no bucket"))?;
                Location::S3 { bucket, key }
            }
            "gs" | "gcs" => {
                let (bucket, key) = bucket_and_key(rest).ok_or_else(|| invalid("no bucket"))?;
                Location::Gcs { bucket, key }
            }
            "abfs" | "abfss" => {
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                let (container, host) = match authority.split_once('@') {
                    Some((container, host)) => {
                        if host.is_empty() {
                            return Err(invalid("no account host after '@'"));
                        }
                        (container, Some(host.to_owned()))
                    }
                    None => (authority, None),
                };
                if container.is_empty() {
                    return Err(invalid("no container"));
                }
                Location::Azure {
                    container: container.to_owned(),
                    host,
                    path: path.to_owned(),
                }
            }
            _ => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                Location::Other {
                    scheme,
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }
            }
        };
        Ok(Self {
            text: text.to_owned(),
            location,
        })
    }

    fn local(text: &str, path: &str) -> Self {
        Self {
            text: text.to_owned(),
            location: Location::Local(PathBuf::from(path)),
        }
    }

    /// The text this URI was parsed from.
    ///
    /// ```
    /// let uri = flyte_storage::StorageUri::parse("file:///tmp/outputs").expect("valid");
    /// assert_eq!(uri.as_str(), "file:///tmp/outputs");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The kind of store this URI addresses.
    ///
    /// ```
    /// use flyte_storage::{Scheme, StorageUri};
    /// let uri = StorageUri::parse("gcs://bucket/key").expect("valid");
    /// assert_eq!(uri.scheme(), Scheme::Gcs);
    /// ```
    pub fn scheme(&self) -> Scheme {
        match self.location {
            Location::Local(_) => Scheme::File,
            Location::S3 { .. } => Scheme::S3,
            Location::Gcs { .. } => Scheme::Gcs,
            Location::Azure { .. } => Scheme::Azure,
            Location::Other { .. } => Scheme::Other,
        }
    }

    /// The parts the store needs.
    ///
    /// ```
    /// use flyte_storage::{Location, StorageUri};
    /// let uri = StorageUri::parse("s3://bucket/a/b.pb").expect("valid");
    /// let Location::S3 { bucket, key } = uri.location() else { panic!("an S3 URI") };
    /// assert_eq!((bucket.as_str(), key.as_str()), ("bucket", "a/b.pb"));
    /// ```
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The local path, for local URIs.
    ///
    /// ```
    /// use std::path::Path;
    /// use flyte_storage::StorageUri;
    /// let uri = StorageUri::parse("file:///tmp/inputs.pb").expect("valid");
    /// assert_eq!(uri.local_path(), Some(Path::new("/tmp/inputs.pb")));
    /// assert_eq!(StorageUri::parse("s3://b/k").expect("valid").local_path(), None);
    /// ```
    pub fn local_path(&self) -> Option<&Path> {
        match &self.location {
            Location::Local(path) => Some(path),
            _ => None,
        }
    }

    /// This URI with `name` appended after a `/` (see [`join`]).
    ///
    /// ```
    /// use flyte_storage::StorageUri;
    /// let prefix = StorageUri::parse("s3://bucket/outputs/").expect("valid");
    /// let outputs = prefix.join("outputs.pb").expect("valid");
    /// assert_eq!(outputs.as_str(), "s3://bucket/outputs/outputs.pb");
    /// ```
    pub fn join(&self, name: &str) -> Result<Self> {
        Self::parse(&join(&self.text, name))
    }
}

impl fmt::Display for StorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for StorageUri {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

/// Appends `name` to `prefix` with one `/` between them, as flytekit's
/// `FileAccessProvider.join` does: one trailing `/` of the prefix is dropped, and
/// `name` is appended as given.
///
/// An empty prefix gives `name` alone (flytekit would give `/name`, an absolute path).
///
/// ```
/// use flyte_storage::join;
/// assert_eq!(join("s3://bucket/prefix", "outputs.pb"), "s3://bucket/prefix/outputs.pb");
/// assert_eq!(join("s3://bucket/prefix/", "outputs.pb"), "s3://bucket/prefix/outputs.pb");
/// assert_eq!(join("file:///", "tmp"), "file:///tmp");
/// ```
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        return name.to_owned();
    }
    let base = prefix.strip_suffix('/').unwrap_or(prefix);
    format!("{base}/{name}")
}

/// `bucket/key` after the scheme: `None` without a bucket.
fn bucket_and_key(rest: &str) -> Option<(String, String)> {
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// RFC 3986 scheme syntax: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme_syntax(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(path: &str) -> Location {
        Location::Local(PathBuf::from(path))
    }

    fn s3(bucket: &str, key: &str) -> Location {
        Location::S3 {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    fn gcs(bucket: &str, key: &str) -> Location {
        Location::Gcs {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    fn azure(container: &str, host: Option<&str>, path: &str) -> Location {
        Location::Azure {
            container: container.into(),
            host: host.map(Into::into),
            path: path.into(),
        }
    }

    #[test]
    fn every_accepted_form_parses_to_its_location() {
        let table = [
            ("/abs/path", local("/abs/path")),
            ("rel/path", local("rel/path")),
            ("./rel", local("./rel")),
            ("name with spaces/ü.pb", local("name with spaces/ü.pb")),
            ("a:b", local("a:b")),
            ("/trailing/", local("/trailing/")),
            ("file:///abs/path", local("/abs/path")),
            ("FILE:///abs/path", local("/abs/path")),
            ("file://rel/path", local("rel/path")),
            ("file:/abs/path", local("/abs/path")),
            ("file:rel", local("rel")),
            ("s3://bucket/key/part.pb", s3("bucket", "key/part.pb")),
            ("s3://bucket", s3("bucket", "")),
            ("s3://bucket/", s3("bucket", "")),
            ("s3://bucket/dir/", s3("bucket", "dir/")),
            ("S3://Bucket/Key", s3("Bucket", "Key")),
            ("s3a://bucket/key", s3("bucket", "key")),
            ("gs://bucket/key", gcs("bucket", "key")),
            ("gcs://bucket/a/b", gcs("bucket", "a/b")),
            (
                "abfs://container/path/x",
                azure("container", None, "path/x"),
            ),
            ("abfss://container/path", azure("container", None, "path")),
            ("abfss://container", azure("container", None, "")),
            (
                "abfs://container@account.dfs.core.windows.net/path",
                azure("container", Some("account.dfs.core.windows.net"), "path"),
            ),
            (
                "abfss://c@acct.dfs.core.windows.net/a/b",
                azure("c", Some("acct.dfs.core.windows.net"), "a/b"),
            ),
        ];
        for (text, location) in table {
            let uri = StorageUri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(uri.location(), &location, "{text}");
            assert_eq!(uri.to_string(), text, "Display keeps the text");
        }
    }

    #[test]
    fn schemes_group_their_aliases() {
        let scheme = |text: &str| StorageUri::parse(text).map(|uri| uri.scheme()).ok();
        assert_eq!(scheme("/x"), Some(Scheme::File));
        assert_eq!(scheme("file:///x"), Some(Scheme::File));
        assert_eq!(scheme("s3a://b/k"), Some(Scheme::S3));
        assert_eq!(scheme("gcs://b/k"), Some(Scheme::Gcs));
        assert_eq!(scheme("abfss://c/p"), Some(Scheme::Azure));
    }

    #[test]
    fn other_schemes_parse_into_bucket_and_key_for_a_registered_store() {
        for (text, scheme, bucket, key) in [
            ("mem://b/dir/x.pb", "mem", "b", "dir/x.pb"),
            ("HTTP://example.com/x", "http", "example.com", "x"),
            ("az://container", "az", "container", ""),
            ("flyte:///x", "flyte", "", "x"),
        ] {
            let uri = StorageUri::parse(text).expect(text);
            assert_eq!(uri.scheme(), Scheme::Other, "{text}");
            assert_eq!(
                uri.location(),
                &Location::Other {
                    scheme: scheme.to_owned(),
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                },
                "{text}"
            );
            assert_eq!(uri.to_string(), text);
        }
    }

    #[test]
    fn malformed_uris_are_invalid_with_a_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("file://", "no path"),
            ("file:", "no path"),
            ("s3://", "no bucket"),
            ("s3:///key", "no bucket"),
            ("gs://", "no bucket"),
            ("abfs://", "no container"),
            ("abfs:///path", "no container"),
            ("abfss://@acct.dfs.core.windows.net/p", "no container"),
            ("abfs://container@/path", "no account host"),
            ("my dir://x", "not a URI scheme"),
            ("://x", "not a URI scheme"),
        ] {
            match StorageUri::parse(text) {
                Err(StorageError::InvalidUri { uri, reason: got }) => {
                    assert_eq!(uri, text);
                    assert!(got.contains(reason), "{text}: {got}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn join_drops_one_trailing_slash_like_flytekit() {
        assert_eq!(join("s3://b/p", "x"), "s3://b/p/x");
        assert_eq!(join("s3://b/p/", "x"), "s3://b/p/x");
        assert_eq!(join("s3://b/p//", "x"), "s3://b/p//x");
        assert_eq!(join("/tmp/dir", "a/b.pb"), "/tmp/dir/a/b.pb");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("file:///", "x"), "file:///x");
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("s3://b", ""), "s3://b/");
    }

    #[test]
    fn uri_join_parses_the_joined_text() {
        let prefix = StorageUri::parse("s3://b/prefix/").expect("valid");
        let joined = prefix.join("outputs.pb").expect("valid");
        assert_eq!(joined.location(), &s3("b", "prefix/outputs.pb"));
        assert_eq!(joined.as_str(), "s3://b/prefix/outputs.pb");
    }

    #[test]
    fn local_paths_become_uris_that_display_the_path() {
        let uri: StorageUri = "/tmp/x y".parse().expect("valid");
        assert_eq!(uri.local_path(), Some(Path::new("/tmp/x y")));
        assert_eq!(uri.to_string(), "/tmp/x y");
        assert_eq!(StorageUri::parse("/tmp/x y").expect("valid"), uri);
    }
}
