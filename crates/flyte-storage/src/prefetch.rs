//! Prefetch: objects downloaded ahead of their first access, and that access served
//! from the copy.
//!
//! A caller that knows which objects a consumer will probably read (the entrypoint, from
//! a task's inputs) starts their downloads with [`Storage::prefetch`] while the consumer
//! is still starting. A later [`Storage::get_file`] or [`Storage::get_dir`] of a
//! prefetched URI, or `get_file` of an object under a prefetched directory, waits for
//! the download if it is still running, checks that the object is still what was
//! fetched, and moves the copy into the requested path instead of downloading again.
//!
//! The rules that keep it invisible to the consumer:
//!
//! - A prefetch never fails anything. One that fails (any error, a full disk included)
//!   deletes what it wrote and is forgotten; the access then downloads as if there had
//!   been no prefetch, so any error the consumer sees is the plain download's.
//! - Before serving, the object is checked: a `stat` for a file (gone, or another size:
//!   the plain download runs, and reports what it reports), a listing compared with the
//!   fetched one for a directory (names and sizes).
//! - Each copy serves one access: the first access takes it (the consumer owns its copy
//!   and may delete or rewrite it); a second access downloads as usual.
//! - Bounded: a byte budget for all copies not yet taken, and a share of the file
//!   system that is left free ([`PrefetchConfig`]). A prefetch that would cross either
//!   bound is not started.
//! - [`Storage::cancel_prefetches`] stops every download still running and deletes every
//!   copy not taken.
//!
//! Memory: one small entry per prefetched URI (its URI, its local path and, for a
//! directory, a count, a byte total and a 64-bit digest of the listing), whatever the
//! number of files under a directory.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::config::PrefetchConfig;
use crate::facade::Storage;
use crate::store::{ObjectMeta, TransferSummary};

/// Every prefetch of one [`Storage`] and its clones.
#[derive(Debug)]
pub(crate) struct Prefetcher {
    config: PrefetchConfig,
    state: Mutex<State>,
    /// Names each prefetch's own directory under the caller's.
    next_slot: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Prefetches not yet taken, by URI (without a trailing `/`).
    entries: HashMap<String, Entry>,
    /// Bytes of every entry's object(s): counted against the budget.
    reserved: u64,
    /// Bytes of the entries whose download is still running: not yet on disk, so not
    /// yet seen by the free-space check.
    pending: u64,
}

#[derive(Debug)]
struct Entry {
    /// This prefetch's own directory; deleting it deletes everything it wrote.
    slot: PathBuf,
    /// Bytes reserved for it.
    bytes: u64,
    /// Whether `bytes` are also counted in [`State::pending`] (its download runs).
    pending: bool,
    /// What the download came to; `None` while it runs.
    outcome: watch::Receiver<Option<Outcome>>,
    /// The download, for cancelling.
    task: Option<JoinHandle<()>>,
    /// For a directory: set once a file was taken from the copy, which is then no
    /// longer whole and cannot serve the directory itself.
    partly_taken: std::sync::Arc<AtomicBool>,
}

/// What a prefetch came to.
#[derive(Debug, Clone)]
enum Outcome {
    /// One object, at `path`, of `size` bytes.
    File { path: PathBuf, size: u64 },
    /// A directory's objects under `path`, as listed before the download.
    Dir { path: PathBuf, listing: Listing },
    /// Failed or not started: nothing on disk.
    Dropped,
}

/// A directory listing in constant memory: what is needed to tell whether it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listing {
    files: usize,
    bytes: u64,
    digest: u64,
}

impl Listing {
    fn of(objects: &[ObjectMeta]) -> Self {
        let mut hasher = DefaultHasher::new();
        let mut bytes = 0u64;
        for object in objects {
            object.key.hash(&mut hasher);
            object.size.hash(&mut hasher);
            bytes = bytes.saturating_add(object.size);
        }
        Listing {
            files: objects.len(),
            bytes,
            digest: hasher.finish(),
        }
    }
}

/// The key an entry is stored under: the URI without trailing `/`.
fn entry_key(uri: &str) -> &str {
    uri.trim_end_matches('/')
}

impl Prefetcher {
    pub(crate) fn new(config: PrefetchConfig) -> Self {
        Prefetcher {
            config,
            state: Mutex::new(State::default()),
            next_slot: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: every update is one step.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts prefetching `uri` under `into`; see [`Storage::prefetch`].
    pub(crate) fn start(&self, storage: &Storage, uri: &str, into: &Path) -> bool {
        if !self.config.enabled {
            return false;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let key = entry_key(uri).to_owned();
        let slot = into.join(format!(
            "{}",
            self.next_slot.fetch_add(1, Ordering::Relaxed)
        ));
        let (sender, receiver) = watch::channel(None);
        let partly_taken = std::sync::Arc::new(AtomicBool::new(false));
        {
            let mut state = self.state();
            if state.entries.contains_key(&key) {
                return false;
            }
            state.entries.insert(
                key.clone(),
                Entry {
                    slot: slot.clone(),
                    bytes: 0,
                    pending: false,
                    outcome: receiver,
                    task: None,
                    partly_taken,
                },
            );
        }
        let storage = storage.clone();
        let task_key = key.clone();
        let task = runtime.spawn(async move {
            let outcome = storage
                .prefetcher()
                .download(&storage, &task_key, &slot)
                .await;
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(reason) => {
                    debug!(uri = %task_key, "prefetch dropped: {reason}");
                    remove_all(&slot).await;
                    storage.prefetcher().release(&task_key);
                    Outcome::Dropped
                }
            };
            if let Outcome::File { size, .. } = &outcome {
                debug!(uri = %task_key, bytes = size, "prefetched");
            }
            if let Outcome::Dir { listing, .. } = &outcome {
                debug!(uri = %task_key, files = listing.files, bytes = listing.bytes, "prefetched");
            }
            storage.prefetcher().finished(&task_key);
            // Nobody waiting is fine: the entry keeps its receiver.
            let _ = sender.send(Some(outcome));
        });
        if let Some(entry) = self.state().entries.get_mut(&key) {
            entry.task = Some(task);
        }
        true
    }

    /// Finds out what `uri` is, reserves its bytes, downloads it into `slot`.
    async fn download(&self, storage: &Storage, uri: &str, slot: &Path) -> Result<Outcome, String> {
        // Some servers refuse a HEAD of a key that is only a prefix (403, not 404): the
        // listing decides then.
        let size = storage.stat(uri).await;
        let (bytes, listing) = match size {
            Ok(Some(size)) => (size, None),
            Ok(None) | Err(_) => {
                let objects = storage.list(uri).await.map_err(|e| e.to_string())?;
                if objects.is_empty() {
                    return Err(match size {
                        Err(error) => error.to_string(),
                        Ok(_) => "nothing there".to_owned(),
                    });
                }
                let listing = Listing::of(&objects);
                (listing.bytes, Some(listing))
            }
        };
        tokio::fs::create_dir_all(slot)
            .await
            .map_err(|e| format!("cannot create {}: {e}", slot.display()))?;
        self.reserve(uri, bytes, slot)?;
        match listing {
            None => {
                let path = slot.join("file");
                let size = storage
                    .plain_get_file(uri, &path)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Outcome::File { path, size })
            }
            Some(listing) => {
                let path = slot.join("dir");
                storage
                    .plain_get_dir(uri, &path)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Outcome::Dir { path, listing })
            }
        }
    }

    /// Counts `bytes` against the budget and the free-space bound, or says which it
    /// would cross.
    fn reserve(&self, uri: &str, bytes: u64, slot: &Path) -> Result<(), String> {
        let free = free_space(slot).map_err(|e| format!("cannot stat {}: {e}", slot.display()))?;
        let mut state = self.state();
        if state.reserved.saturating_add(bytes) > self.config.byte_budget {
            return Err(format!(
                "{bytes} bytes would exceed the prefetch budget of {} bytes ({} in use)",
                self.config.byte_budget, state.reserved
            ));
        }
        let keep_free =
            (free.total as u128 * u128::from(self.config.min_free_percent) / 100) as u64;
        let left = free
            .available
            .saturating_sub(state.pending)
            .saturating_sub(bytes);
        if left < keep_free {
            return Err(format!(
                "{bytes} bytes would leave {left} bytes free on the file system of {}, \
                 under the {}% kept free",
                slot.display(),
                self.config.min_free_percent
            ));
        }
        let Some(entry) = state.entries.get_mut(uri) else {
            return Err("cancelled".to_owned());
        };
        entry.bytes = bytes;
        entry.pending = true;
        state.reserved += bytes;
        state.pending += bytes;
        Ok(())
    }

    /// The download of `uri` ended: its bytes are on disk (or gone).
    fn finished(&self, uri: &str) {
        let mut state = self.state();
        if let Some(entry) = state.entries.get_mut(uri)
            && std::mem::take(&mut entry.pending)
        {
            let bytes = entry.bytes;
            state.pending = state.pending.saturating_sub(bytes);
        }
    }

    /// Gives back what `uri` reserved; the entry stays (as dropped) for its access.
    fn release(&self, uri: &str) {
        let mut state = self.state();
        if let Some(entry) = state.entries.get_mut(uri) {
            let bytes = std::mem::take(&mut entry.bytes);
            let pending = std::mem::take(&mut entry.pending);
            state.reserved = state.reserved.saturating_sub(bytes);
            if pending {
                state.pending = state.pending.saturating_sub(bytes);
            }
        }
    }

    /// Removes the entry for `uri` (the access takes it) and releases its bytes.
    fn take(&self, uri: &str) -> Option<Entry> {
        let mut state = self.state();
        let entry = state.entries.remove(uri)?;
        state.reserved = state.reserved.saturating_sub(entry.bytes);
        if entry.pending {
            state.pending = state.pending.saturating_sub(entry.bytes);
        }
        Some(entry)
    }

    /// Serves `get_file(uri, to)` from a prefetched copy; `None`: download as usual.
    pub(crate) async fn serve_file(&self, storage: &Storage, uri: &str, to: &Path) -> Option<u64> {
        if let Some(entry) = self.take(entry_key(uri)) {
            let outcome = wait(entry.outcome).await;
            return match outcome {
                Outcome::File { path, size } => {
                    let served = match storage.stat(uri).await {
                        Ok(Some(now)) if now == size => move_file(&path, to).await.ok(),
                        _ => None,
                    };
                    log_served(uri, served.is_some(), "file");
                    remove_all(&entry.slot).await;
                    served.map(|()| size)
                }
                Outcome::Dir { .. } | Outcome::Dropped => {
                    remove_all(&entry.slot).await;
                    None
                }
            };
        }
        // A file under a prefetched directory: served from the directory's copy.
        let (receiver, partly_taken, relative) = {
            let state = self.state();
            state.entries.iter().find_map(|(prefix, entry)| {
                let relative = uri.strip_prefix(prefix.as_str())?.strip_prefix('/')?;
                let safe = !relative.is_empty()
                    && relative
                        .split('/')
                        .all(|part| !part.is_empty() && part != "." && part != "..");
                safe.then(|| {
                    (
                        entry.outcome.clone(),
                        entry.partly_taken.clone(),
                        relative.to_owned(),
                    )
                })
            })?
        };
        let Outcome::Dir { path, .. } = wait(receiver).await else {
            return None;
        };
        let local = path.join(&relative);
        let size = tokio::fs::symlink_metadata(&local)
            .await
            .ok()
            .filter(|meta| meta.is_file())?
            .len();
        let served = match storage.stat(uri).await {
            Ok(Some(now)) if now == size => {
                partly_taken.store(true, Ordering::Relaxed);
                move_file(&local, to).await.ok()
            }
            _ => None,
        };
        log_served(uri, served.is_some(), "file of a prefetched directory");
        served.map(|()| size)
    }

    /// Serves `get_dir(uri, to)` from a prefetched copy; `None`: download as usual.
    pub(crate) async fn serve_dir(
        &self,
        storage: &Storage,
        uri: &str,
        to: &Path,
    ) -> Option<TransferSummary> {
        let entry = self.take(entry_key(uri))?;
        let outcome = wait(entry.outcome).await;
        let served = match outcome {
            Outcome::Dir { path, listing } if !entry.partly_taken.load(Ordering::Relaxed) => {
                match storage.list(uri).await {
                    Ok(objects) if Listing::of(&objects) == listing => {
                        drop(objects);
                        move_dir(&path, to).await.ok().map(|()| TransferSummary {
                            files: listing.files,
                            bytes: listing.bytes,
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        log_served(uri, served.is_some(), "directory");
        remove_all(&entry.slot).await;
        served
    }

    /// Stops every download still running and deletes every copy not taken; returns
    /// how many prefetches that was.
    ///
    /// Every task is aborted before any is waited for: waiting yields, and a prefetch
    /// not yet aborted would start then, its directory created by a blocking call that
    /// can land after the deletion. A blocking step already under way when its task is
    /// aborted (creating the slot, writing a small file) can still land after it; the
    /// owner of the prefetch directory removes what is left (the pipeline removes its
    /// whole prefetch directory after this).
    pub(crate) async fn cancel_all(&self) -> usize {
        let entries: Vec<(String, Entry)> = {
            let mut state = self.state();
            state.reserved = 0;
            state.pending = 0;
            state.entries.drain().collect()
        };
        let count = entries.len();
        let mut stopped = Vec::with_capacity(count);
        for (uri, mut entry) in entries {
            let task = entry.task.take().map(|task| {
                let running = !task.is_finished();
                task.abort();
                (task, running)
            });
            stopped.push((uri, entry, task));
        }
        for (uri, entry, task) in stopped {
            if let Some((task, running)) = task {
                // Waited for, so nothing of the task itself writes into the slot once
                // it is deleted.
                let _ = task.await;
                if running {
                    info!(uri = %uri, "prefetch cancelled: the task ended before it was used");
                } else {
                    debug!(uri = %uri, "prefetched copy never used: deleted");
                }
            }
            remove_all(&entry.slot).await;
        }
        count
    }
}

/// The outcome once the download has ended; a download that was aborted counts as
/// dropped.
async fn wait(mut receiver: watch::Receiver<Option<Outcome>>) -> Outcome {
    match receiver.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or(Outcome::Dropped),
        Err(_) => Outcome::Dropped,
    }
}

fn log_served(uri: &str, served: bool, what: &str) {
    if served {
        info!(uri = %uri, "{what} served from its prefetched copy");
    } else {
        debug!(uri = %uri, "prefetched {what} not usable (changed, or could not be moved): downloading it");
    }
}

/// Moves the file `from` to `to` (creating `to`'s directory, as a download does):
/// a rename, or across file systems a copy beside `to` renamed over it.
async fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    match tokio::fs::rename(from, to).await {
        Ok(()) => Ok(()),
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
            let name = to.file_name().unwrap_or_default().to_string_lossy();
            let temporary = to.with_file_name(format!(".{name}.{}.prefetch", uuid::Uuid::new_v4()));
            let copied = tokio::fs::copy(from, &temporary).await;
            let renamed = match copied {
                Ok(_) => tokio::fs::rename(&temporary, to).await,
                Err(error) => Err(error),
            };
            if renamed.is_err() {
                let _ = tokio::fs::remove_file(&temporary).await;
            }
            let _ = tokio::fs::remove_file(from).await;
            renamed
        }
        Err(error) => Err(error),
    }
}

/// Moves the directory `from` to `to`, which must not exist or be empty. Across file
/// systems it fails, and the directory is downloaded as usual.
async fn move_dir(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::rename(from, to).await
}

/// Deletes `path` and everything under it; already gone is fine.
async fn remove_all(path: &Path) {
    if let Err(error) = tokio::fs::remove_dir_all(path).await
        && error.kind() != io::ErrorKind::NotFound
    {
        debug!(path = %path.display(), "could not delete a prefetched copy: {error}");
    }
}

struct FreeSpace {
    available: u64,
    total: u64,
}

/// Free and total bytes of the file system `path` is on.
fn free_space(path: &Path) -> io::Result<FreeSpace> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(FreeSpace {
        available: stat.f_bavail.saturating_mul(stat.f_frsize),
        total: stat.f_blocks.saturating_mul(stat.f_frsize),
    })
}
