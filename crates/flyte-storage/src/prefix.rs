//! [`PrefixStore`]: any store, with every key moved under a prefix.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::error::Result;
use crate::store::{ObjectMeta, Store};
use crate::uri::{Location, StorageUri};

/// Another store, with every key under a prefix: `s3://bucket/a/b.pb` is
/// `s3://bucket/<prefix>/a/b.pb` of the wrapped store, for every operation, and
/// listings give keys and URIs as the caller named them. A local path `/a/b` (or
/// `a/b`) is `<prefix>/a/b`: the prefix of a local store is a directory, absolute
/// when it starts with `/`.
///
/// Use it to give each test, tenant or run its own part of a bucket without threading
/// a prefix through every URI. Errors name the URI the caller gave. It is not a
/// sandbox: a key with `..` segments is passed on as it is.
///
/// ```
/// use std::sync::Arc;
/// use flyte_storage::{MemoryStore, PrefixStore, StorageUri, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flyte_storage::Result<()> {
/// let memory = Arc::new(MemoryStore::new());
/// let tenant = PrefixStore::new(memory.clone(), "tenant-a");
/// tenant.put_bytes(&StorageUri::parse("mem://b/x.pb")?, "x".into()).await?;
/// assert_eq!(memory.stat(&StorageUri::parse("mem://b/tenant-a/x.pb")?).await?, Some(1));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PrefixStore {
    inner: Arc<dyn Store>,
    /// Without trailing `/`; empty for none.
    prefix: String,
}

impl PrefixStore {
    /// `inner` with every key under `prefix` (trailing `/` are dropped, and leading
    /// ones for object stores: `"a/b"` and `"a/b/"` are one prefix; `""` adds none).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, PrefixStore, Storage};
    ///
    /// // Each run writes under its own part of the bucket.
    /// let bucket = Arc::new(MemoryStore::new());
    /// let run = PrefixStore::new(bucket, "runs/run-42/");
    /// let storage = Storage::default().with_store("s3://", Arc::new(run));
    /// ```
    pub fn new(inner: Arc<dyn Store>, prefix: impl Into<String>) -> Self {
        Self {
            inner,
            prefix: prefix.into().trim_end_matches('/').to_owned(),
        }
    }

    /// The key prefix, without trailing `/`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use flyte_storage::{MemoryStore, PrefixStore};
    /// let store = PrefixStore::new(Arc::new(MemoryStore::new()), "tenant-a/");
    /// assert_eq!(store.prefix(), "tenant-a");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where `uri` is in the wrapped store.
    fn inner_uri(&self, uri: &StorageUri) -> Result<StorageUri> {
        if self.prefix.is_empty() {
            return Ok(uri.clone());
        }
        let moved = match uri.location() {
            // /a/b -> <prefix>/a/b, and a/b -> <prefix>/a/b.
            Location::Local(path) => {
                let path = path.to_string_lossy();
                format!("{}/{}", self.prefix, path.trim_start_matches('/'))
            }
            // scheme://authority/rest -> scheme://authority/<prefix>/rest
            _ => {
                let text = uri.as_str();
                let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
                let (authority, key) = rest.split_once('/').unwrap_or((rest, ""));
                format!(
                    "{scheme}://{authority}/{}/{key}",
                    self.prefix.trim_start_matches('/')
                )
            }
        };
        StorageUri::parse(&moved)
    }
}

#[async_trait]
impl Store for PrefixStore {
    async fn get_file(&self, from: &StorageUri, to: &Path) -> Result<u64> {
        let inner = self.inner_uri(from)?;
        named(self.inner.get_file(&inner, to).await, &inner, from)
    }

    async fn put_file(&self, from: &Path, to: &StorageUri) -> Result<u64> {
        let inner = self.inner_uri(to)?;
        named(self.inner.put_file(from, &inner).await, &inner, to)
    }

    async fn get_bytes(&self, from: &StorageUri) -> Result<Bytes> {
        let inner = self.inner_uri(from)?;
        named(self.inner.get_bytes(&inner).await, &inner, from)
    }

    async fn put_bytes(&self, to: &StorageUri, bytes: Bytes) -> Result<()> {
        let inner = self.inner_uri(to)?;
        named(self.inner.put_bytes(&inner, bytes).await, &inner, to)
    }

    fn list_pages<'a>(&'a self, prefix: &'a StorageUri) -> BoxStream<'a, Result<Vec<ObjectMeta>>> {
        let inner = match self.inner_uri(prefix) {
            Ok(inner) => inner,
            Err(error) => return stream::once(async { Err(error) }).boxed(),
        };
        // The wrapped listing borrows its URI for as long as it runs, so it runs in a
        // future that owns the URI and hands pages over one at a time.
        let inner_text = inner.to_string();
        let (pages_tx, mut pages_rx) = tokio::sync::mpsc::channel(1);
        let lister = stream::once(async move {
            let mut pages = self.inner.list_pages(&inner);
            while let Some(page) = pages.next().await {
                if pages_tx.send(page).await.is_err() {
                    break;
                }
            }
        })
        .filter_map(|()| std::future::ready(None));
        let received = stream::poll_fn(move |cx| pages_rx.poll_recv(cx));
        // Keys are relative to the listed prefix, the same on both sides; only the
        // URIs move back.
        stream::select(lister, received)
            .map_err(move |error| error.naming(&inner_text, prefix.as_str()))
            .and_then(move |page| async move {
                page.into_iter()
                    .map(|object| {
                        Ok(ObjectMeta {
                            uri: prefix.join(&object.key)?,
                            key: object.key,
                            size: object.size,
                        })
                    })
                    .collect()
            })
            .boxed()
    }

    async fn stat(&self, uri: &StorageUri) -> Result<Option<u64>> {
        let inner = self.inner_uri(uri)?;
        named(self.inner.stat(&inner).await, &inner, uri)
    }

    async fn delete(&self, uri: &StorageUri) -> Result<()> {
        let inner = self.inner_uri(uri)?;
        named(self.inner.delete(&inner).await, &inner, uri)
    }

    async fn get_listed_file(&self, object: &ObjectMeta, to: &Path) -> Result<u64> {
        let inner = ObjectMeta {
            uri: self.inner_uri(&object.uri)?,
            key: object.key.clone(),
            size: object.size,
        };
        named(
            self.inner.get_listed_file(&inner, to).await,
            &inner.uri,
            &object.uri,
        )
    }

    async fn put_walked_file(&self, from: &Path, size: u64, to: &StorageUri) -> Result<u64> {
        let inner = self.inner_uri(to)?;
        named(
            self.inner.put_walked_file(from, size, &inner).await,
            &inner,
            to,
        )
    }
}

/// `result`, its error naming `outer` where it named `inner`.
fn named<T>(result: Result<T>, inner: &StorageUri, outer: &StorageUri) -> Result<T> {
    result.map_err(|error| error.naming(inner.as_str(), outer.as_str()))
}
