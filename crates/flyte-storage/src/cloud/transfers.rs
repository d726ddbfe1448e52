//! [`Transfers`]: the transfer engine every object store shares, whatever the backend.
//!
//! It owns how bytes move:
//! - retries with exponential backoff and full jitter on transient faults (throttling,
//!   5xx, timeouts, resets), and nowhere else;
//! - a memory budget of `chunk_size × chunk_concurrency` bytes shared by every transfer
//!   of a [`Storage`](crate::Storage), so memory does not grow with data size or with
//!   the number of files in flight, and part buffers reused from one part to the next;
//! - downloads streamed into a temporary file beside the target (renamed into place
//!   when complete), as ranged parallel requests above one chunk, a body that breaks
//!   off resumed where it stopped;
//! - uploads: one request up to a chunk, above it the backend's multipart, block or
//!   resumable upload, by its [`PartRules`]; parts read into budgeted buffers, or, where
//!   the backend streams them from the file (S3), read as they are sent, holding no
//!   part buffer, and so many more in flight.
//!
//! It never decides what a failure means to the caller: a request that fails for good
//! comes back as a [`Failure`] carrying its [`Fault`], and the store
//! ([`CloudStore`](super::store::CloudStore)) turns that into a [`StorageError`].

use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::backend::{
    BackendError, BackendResult, ByteStream, Fault, LocalRead, NewObject, ObjectBackend,
    ObjectPath, Part, PartBody, TimedOut, file_shrank,
};
use crate::config::{RetryPolicy, StorageConfig};
use crate::error::{StorageError, TransferPhase};
use crate::progress::{self, Direction};
use crate::temp_file::TempFile;
use crate::uri::StorageUri;

/// The largest object downloaded into memory first and written in one blocking call.
const SMALL_OBJECT: u64 = 1024 * 1024;

/// How much of a download is gathered in memory before it is handed to the file's
/// writer. Measured on Garage (2 GiB, 8 streams, one writer): 1 MiB writes cost
/// 1.0-1.5 s of system CPU, 2 MiB writes 2.4-2.5 s (the buffer no longer stays in
/// the CPU's cache between the copy from the socket and the copy into the page cache).
const WRITE_BUFFER: u64 = 1024 * 1024;

/// Ranged requests of one download in flight at most, however many write buffers the
/// memory budget holds. A cloud connection carries 50-100 MB/s, so one large file needs
/// several to be fast; each costs about 2 MiB of resident memory (its write buffer and
/// its HTTP client's), measured: 33 MiB peak with 8, 51 MiB with 16, within the
/// supervisor's 64 MiB.
const MAX_STREAMS: usize = 8;

/// What one upload part streamed from its file costs in memory, for the count of parts
/// in flight: its read buffers and its HTTP client's, generously.
const STREAMED_PART: u64 = 1024 * 1024;

/// Upload parts streamed from their file in flight at most, however many the memory
/// budget holds: a cloud connection carries 50-100 MB/s, and an upload takes five or
/// more of them to be fast.
const MAX_STREAMED_PARTS: usize = 16;

/// Ranges of a download per request in flight: two, so that a range that runs slow
/// is made up by the others' second ranges, with few round trips.
const RANGES_PER_SLOT: u64 = 2;

/// A response body whose every piece must arrive within the no-progress timeout: the
/// stream adapter that bounds a download without bounding its length, since the timer
/// restarts with every piece.
struct TimedBody {
    body: ByteStream,
    no_progress: Duration,
}

impl TimedBody {
    /// The next piece, `None` at the end; waiting longer than the no-progress timeout
    /// is a stall while downloading (and so is the HTTP client's own read timeout).
    async fn next(&mut self) -> BackendResult<Option<Bytes>> {
        let no_progress = self.no_progress;
        let piece = tokio::time::timeout(no_progress, self.body.try_next())
            .await
            .map_err(|_| stalled(TransferPhase::Downloading, no_progress))?
            .map_err(|error| in_phase(error, TransferPhase::Downloading, no_progress))?;
        if let Some(piece) = &piece {
            progress::add_bytes(piece.len() as u64);
        }
        Ok(piece)
    }
}

/// The transient fault of a store that moved nothing `during` a phase for `after`.
fn stalled(during: TransferPhase, after: Duration) -> BackendError {
    BackendError::timed_out(
        TimedOut::Engine { during, after },
        format!("nothing moved for {after:?} while {during}"),
    )
}

/// `error`, with an HTTP client's read timeout pinned to the phase it happened in.
fn in_phase(mut error: BackendError, during: TransferPhase, after: Duration) -> BackendError {
    if error.timeout == Some(TimedOut::Read) {
        error.timeout = Some(TimedOut::Engine { during, after });
    }
    error
}

/// Why a transfer failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A request to the store failed for good: a final fault, or transient ones until
    /// the attempts ran out.
    Request {
        /// The last attempt's failure.
        error: BackendError,
        /// Attempts made.
        attempts: u32,
    },
    /// Bytes stopped moving on the last attempt, and no attempts were left.
    Stalled {
        /// What was under way.
        during: TransferPhase,
        /// How long nothing moved.
        after: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// Anything else, already in the caller's terms (local file I/O).
    Storage(StorageError),
}

impl From<StorageError> for Failure {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

/// What all the cloud stores of one [`Storage`](crate::Storage) share: the transfer
/// settings and the memory budget.
#[derive(Debug)]
pub(crate) struct Transfers {
    chunk_size: u64,
    chunk_concurrency: usize,
    /// Ranged requests of one download in flight: as many write buffers as the budget
    /// holds, at most [`MAX_STREAMS`].
    streams: usize,
    /// Upload parts streamed from their file in flight: as many as the budget holds at
    /// [`STREAMED_PART`] each, at most [`MAX_STREAMED_PARTS`].
    streamed_parts: usize,
    retry: RetryPolicy,
    /// How often a long transfer logs its progress.
    progress_interval: Option<Duration>,
    /// Bytes of object data in memory, counted in KiB so that budgets above 4 GiB fit
    /// the semaphore's `u32` requests.
    budget: Semaphore,
    budget_kib: u32,
    /// Part buffers kept for the next part. Freeing an 8 MiB buffer on one thread and
    /// allocating the next on another makes glibc keep both (its mmap threshold grows
    /// and each thread has its own arena): measured, a 1 GiB upload peaked at 86 MiB
    /// without reuse and 54 MiB with a fixed threshold.
    buffers: std::sync::Mutex<Vec<BytesMut>>,
}

impl Transfers {
    pub(crate) fn new(config: &StorageConfig) -> Self {
        let chunk_size = config.chunk_size.max(1) as u64;
        let chunk_concurrency = config.chunk_concurrency.max(1);
        let budget_kib = (chunk_size.saturating_mul(chunk_concurrency as u64) / 1024)
            .clamp(1, u64::from(u32::MAX >> 4)) as u32;
        let budget = u64::from(budget_kib) * 1024;
        // Downloads hold one write buffer per request in flight, not a chunk: the
        // budget that holds `chunk_concurrency` upload parts holds many more ranges.
        let streams = (budget / WRITE_BUFFER).clamp(1, MAX_STREAMS as u64) as usize;
        // Likewise a part streamed from its file holds a few read buffers, not a chunk.
        let streamed_parts = (budget / STREAMED_PART).clamp(1, MAX_STREAMED_PARTS as u64) as usize;
        Self {
            chunk_size,
            chunk_concurrency,
            streams,
            streamed_parts,
            retry: config.retry.clone(),
            progress_interval: config.progress_interval,
            budget: Semaphore::new(budget_kib as usize),
            budget_kib,
            buffers: std::sync::Mutex::default(),
        }
    }

    /// A buffer of `len` bytes, reused when one is free.
    fn buffer(&self, len: usize) -> BytesMut {
        let reused = self.buffers.lock().expect("never poisoned").pop();
        let mut buffer = reused.unwrap_or_default();
        buffer.clear();
        buffer.resize(len, 0);
        buffer
    }

    /// Keeps the buffer behind `bytes` for the next part, if nothing else holds it.
    fn recycle(&self, bytes: Bytes) {
        if let Ok(buffer) = bytes.try_into_mut() {
            let mut buffers = self.buffers.lock().expect("never poisoned");
            if buffers.len() < self.chunk_concurrency {
                buffers.push(buffer);
            }
        }
    }

    /// Waits until `bytes` more may be held in memory. A single buffer larger than the
    /// whole budget takes all of it.
    async fn reserve(&self, bytes: u64) -> SemaphorePermit<'_> {
        let kib = bytes.div_ceil(1024).clamp(1, u64::from(self.budget_kib)) as u32;
        self.budget
            .acquire_many(kib)
            .await
            .expect("the budget semaphore is never closed")
    }

    /// How often a long transfer logs its progress.
    pub(crate) fn progress_interval(&self) -> Option<Duration> {
        self.progress_interval
    }

    /// Runs `attempt` until it succeeds, fails for good, or attempts run out, sleeping
    /// with exponential backoff and full jitter between attempts. `uri` is what the
    /// request is for, for the log; `during` what it does, which bounds each attempt:
    ///
    /// - [`TransferPhase::WaitingForAnswer`]: a request with a small answer (size,
    ///   listing page, deletion, a new upload's id) gets the connect timeout plus the
    ///   no-progress timeout in all, so a body the client reads by itself (a listing's
    ///   XML, JSON) cannot stall it either;
    /// - [`TransferPhase::Uploading`]: a request carrying a part's bytes, or committing
    ///   them, is bounded by its HTTP client (no progress for the no-progress timeout
    ///   before its answer starts) and, as a backstop, by the connect timeout plus
    ///   `attempt_timeout`.
    pub(crate) async fn retry<T, F, Fut>(
        &self,
        uri: &StorageUri,
        during: TransferPhase,
        mut attempt: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = BackendResult<T>>,
    {
        let bound = match during {
            TransferPhase::Uploading => self.retry.attempt_timeout,
            _ => self.retry.no_progress_timeout,
        };
        let whole = self.retry.connect_timeout.saturating_add(bound);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = tokio::time::timeout(whole, attempt())
                .await
                .unwrap_or_else(|_| Err(stalled(during, whole)));
            match outcome {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let error = in_phase(error, during, self.retry.no_progress_timeout);
                    if !self.pause_before_retry(uri, &error, attempts).await {
                        return Err(self.failure(error, attempts));
                    }
                }
            }
        }
    }

    /// The failure of a request whose last attempt (of `attempts`) failed with `error`.
    fn failure(&self, error: BackendError, attempts: u32) -> Failure {
        let (during, after) = match error.timeout {
            None => return Failure::Request { error, attempts },
            Some(TimedOut::Connect) => (TransferPhase::Connecting, self.retry.connect_timeout),
            Some(TimedOut::Read) => (
                TransferPhase::WaitingForAnswer,
                self.retry.no_progress_timeout,
            ),
            Some(TimedOut::Engine { during, after }) => (during, after),
        };
        Failure::Stalled {
            during,
            after,
            attempts,
        }
    }

    /// After attempt number `attempts` failed with `error`: when another attempt may
    /// follow (a transient fault, attempts left), sleeps the backoff and says `true`;
    /// otherwise says `false` at once. `target` is what the request was for, for the log.
    async fn pause_before_retry(
        &self,
        target: &(dyn std::fmt::Display + Sync),
        error: &BackendError,
        attempts: u32,
    ) -> bool {
        if error.fault != Fault::Transient || attempts >= self.retry.max_attempts.max(1) {
            return false;
        }
        let delay = backoff(&self.retry, attempts);
        progress::add_retry();
        if let Some(timeout) = error.timeout {
            // A stall cost a whole timeout: worth a line at the default level, so that a
            // store that stopped answering is never silent for minutes. Not the HTTP
            // client's error text, which names the request URL, query string included.
            let stalled = match timeout {
                TimedOut::Connect => "connecting".to_owned(),
                TimedOut::Read => "waiting for an answer".to_owned(),
                TimedOut::Engine { during, after } => format!("{during}, for {after:?}"),
            };
            tracing::warn!(
                uri = %target,
                attempt = attempts,
                ?delay,
                stalled = %stalled,
                "retrying a stalled storage request"
            );
        } else {
            tracing::debug!(
                uri = %target,
                attempt = attempts,
                ?delay,
                error = %error.source,
                "retrying a failed storage request"
            );
        }
        tokio::time::sleep(delay).await;
        true
    }

    /// One attempt's response body for `range` of `object` (all of it when `None`).
    /// The answer must start within the connect and no-progress timeouts, and every
    /// piece of the body after it within the no-progress timeout: a body that stops
    /// arriving is a stall, retried.
    async fn open_body(
        &self,
        backend: &dyn ObjectBackend,
        object: &ObjectPath,
        range: Option<(u64, u64)>,
    ) -> BackendResult<TimedBody> {
        let no_progress = self.retry.no_progress_timeout;
        let whole = self.retry.connect_timeout.saturating_add(no_progress);
        let body = tokio::time::timeout(whole, backend.get(object, range))
            .await
            .map_err(|_| stalled(TransferPhase::WaitingForAnswer, whole))?
            .map_err(|error| in_phase(error, TransferPhase::WaitingForAnswer, no_progress))?;
        Ok(TimedBody { body, no_progress })
    }

    /// The whole of the object at `uri` in memory, with the no-progress bound on its
    /// answer and on every piece of its body (however long it keeps arriving).
    pub(crate) async fn get_bytes(
        &self,
        backend: &dyn ObjectBackend,
        uri: &StorageUri,
        object: &ObjectPath,
    ) -> Result<Bytes, Failure> {
        let transfer = async {
            let mut attempts = 0;
            loop {
                attempts += 1;
                let attempt: BackendResult<Bytes> = async {
                    let mut body = self.open_body(backend, object, None).await?;
                    let mut contents = BytesMut::new();
                    while let Some(piece) = body.next().await? {
                        contents.extend_from_slice(&piece);
                    }
                    Ok(contents.freeze())
                }
                .await;
                match attempt {
                    Ok(contents) => return Ok(contents),
                    Err(error) => {
                        if !self.pause_before_retry(uri, &error, attempts).await {
                            return Err(self.failure(error, attempts));
                        }
                    }
                }
            }
        };
        progress::object(
            self.progress_interval,
            Direction::Download,
            uri,
            None,
            transfer,
        )
        .await
    }

    /// Downloads the `size`-byte object at `uri` into `to` through a temporary file
    /// beside it: one streamed request up to a chunk, ranged parallel requests above.
    pub(crate) async fn download(
        &self,
        backend: &dyn ObjectBackend,
        uri: &StorageUri,
        object: &ObjectPath,
        to: &Path,
        size: u64,
    ) -> Result<u64, Failure> {
        progress::object(
            self.progress_interval,
            Direction::Download,
            uri,
            Some(size),
            self.download_unwatched(backend, object, to, size),
        )
        .await
    }

    async fn download_unwatched(
        &self,
        backend: &dyn ObjectBackend,
        object: &ObjectPath,
        to: &Path,
        size: u64,
    ) -> Result<u64, Failure> {
        if size <= self.chunk_size.min(SMALL_OBJECT)
            && let Some(written) = self.download_small(backend, object, to, size).await?
        {
            return Ok(written);
        }
        let to_text = to.display().to_string();
        let (file, temp) = TempFile::create_beside(to, &to_text).await?;
        let mut file = file.into_std().await;
        if size > self.chunk_size {
            // Allocate the whole file now, so that ranges land anywhere in it without
            // each write allocating blocks, and a full disk fails before any request.
            file = tokio::task::spawn_blocking(move || preallocate(&file, size).map(|()| file))
                .await
                .map_err(std::io::Error::other)
                .and_then(|file| file)
                .map_err(|e| StorageError::from_io(&to_text, e))?;
        }
        // Every write to the file goes through its one writer: writers on one file
        // contend for its inode lock, and the kernel copies no faster for more threads.
        let writer = FileWriter::start(file);
        if size > self.chunk_size {
            let range_len = self.range_len(size);
            let ranges = (0..size.div_ceil(range_len)).map(|index| {
                let start = index * range_len;
                let end = (start + range_len).min(size);
                self.download_range(backend, object, &writer, temp.path(), Some((start, end)))
            });
            stream::iter(ranges)
                .buffer_unordered(self.streams)
                .try_collect::<Vec<()>>()
                .await?;
        } else if size > 0 {
            self.download_range(backend, object, &writer, temp.path(), None)
                .await?;
        }
        drop(writer);
        temp.rename_to(to, &to_text).await?;
        Ok(size)
    }

    /// How many bytes each ranged request of a `size`-byte download asks for: at least a
    /// chunk, and enough that the object splits into at most [`RANGES_PER_SLOT`] ranges
    /// per request in flight. Memory does not depend on it (a range streams through one
    /// [`WRITE_BUFFER`]), but each request costs a round trip, and some servers (moto)
    /// read the whole object for every range.
    fn range_len(&self, size: u64) -> u64 {
        let ranges = (self.streams as u64).saturating_mul(RANGES_PER_SLOT);
        self.chunk_size.max(size.div_ceil(ranges.max(1)))
    }

    /// Downloads a small object (at most [`SMALL_OBJECT`]) with one request into
    /// memory, then creates, writes and renames its file in one blocking call: a tree
    /// of small files costs one blocking-pool hop per file, not one per step (directory,
    /// open, write, rename). `None` when the object turned out larger than a buffer
    /// (it changed since it was listed): the caller streams it instead.
    async fn download_small(
        &self,
        backend: &dyn ObjectBackend,
        object: &ObjectPath,
        to: &Path,
        size: u64,
    ) -> Result<Option<u64>, Failure> {
        let _permit = self.reserve(size).await;
        let mut attempts = 0;
        let contents = loop {
            attempts += 1;
            let attempt: BackendResult<Option<BytesMut>> = async {
                let mut body = self.open_body(backend, object, None).await?;
                let mut contents = BytesMut::with_capacity(size as usize);
                while let Some(piece) = body.next().await? {
                    if (contents.len() + piece.len()) as u64 > SMALL_OBJECT {
                        return Ok(None);
                    }
                    contents.extend_from_slice(&piece);
                }
                Ok(Some(contents))
            }
            .await;
            match attempt {
                Ok(Some(contents)) => break contents,
                Ok(None) => return Ok(None),
                Err(error) => {
                    if !self.pause_before_retry(&object.key, &error, attempts).await {
                        return Err(self.failure(error, attempts));
                    }
                }
            }
        };
        let target = to.to_path_buf();
        let written = contents.len() as u64;
        tokio::task::spawn_blocking(move || {
            TempFile::write_whole(&target, &target.display().to_string(), &contents)
        })
        .await
        .map_err(|e| StorageError::Io {
            uri: to.display().to_string(),
            source: std::io::Error::other(e),
        })??;
        Ok(Some(written))
    }

    /// Streams `range` of the object (all of it when `None`) into the temporary file at
    /// `path` through its `writer`, at the range's offset. A body that breaks off is
    /// resumed from what was written, within the retry policy.
    ///
    /// The body arrives in the pieces the connection delivers (4 to 16 KiB); they are
    /// gathered into one write buffer, handed whole to the file's writer, and taken
    /// back for the next bytes: the range holds one buffer, whatever its length, and
    /// the file sees large writes from one thread.
    async fn download_range(
        &self,
        backend: &dyn ObjectBackend,
        object: &ObjectPath,
        writer: &FileWriter,
        path: &Path,
        range: Option<(u64, u64)>,
    ) -> Result<(), Failure> {
        let (start, end) = match range {
            Some((start, end)) => (start, Some(end)),
            None => (0, None),
        };
        let buffer_len = end
            .map_or(self.chunk_size, |end| end - start)
            .min(WRITE_BUFFER) as usize;
        let _permit = self.reserve(buffer_len as u64).await;
        let mut buffer = BytesMut::with_capacity(buffer_len);
        // Everything before `written` is in the file.
        let mut written = start;
        let mut attempts = 0;
        loop {
            attempts += 1;
            buffer.clear();
            let attempt: BackendResult<()> = async {
                // The first attempt of a whole-object read sends no Range header: an
                // empty object has no satisfiable range.
                let request = match (range, written) {
                    (None, 0) => None,
                    _ => Some((written, end.unwrap_or(u64::MAX))),
                };
                let mut body = self.open_body(backend, object, request).await?;
                while let Some(piece) = body.next().await? {
                    let mut piece = &piece[..];
                    while !piece.is_empty() {
                        let room = buffer_len - buffer.len();
                        let (now, rest) = piece.split_at(room.min(piece.len()));
                        buffer.extend_from_slice(now);
                        piece = rest;
                        if buffer.len() == buffer_len {
                            buffer = writer.write(std::mem::take(&mut buffer), written).await?;
                            written += buffer_len as u64;
                            buffer.clear();
                        }
                    }
                }
                if !buffer.is_empty() {
                    let len = buffer.len() as u64;
                    buffer = writer.write(std::mem::take(&mut buffer), written).await?;
                    written += len;
                }
                Ok(())
            }
            .await;
            match attempt {
                Ok(()) => break,
                Err(error) if self.pause_before_retry(&object.key, &error, attempts).await => {}
                Err(error) => {
                    return Err(match error.source.downcast::<LocalWrite>() {
                        // The local file failed: the caller's terms, naming the file.
                        Ok(local) => {
                            StorageError::from_io(path.display().to_string(), local.0).into()
                        }
                        Err(source) => self.failure(
                            BackendError {
                                fault: error.fault,
                                source,
                                timeout: error.timeout,
                            },
                            attempts,
                        ),
                    });
                }
            }
        }
        if let Some(end) = end
            && written != end
        {
            return Err(Failure::Request {
                error: BackendError::new(
                    Fault::Other,
                    format!(
                        "the store sent {} bytes of the range {start}..{end}",
                        written - start
                    ),
                ),
                attempts,
            });
        }
        Ok(())
    }

    /// Uploads the `size`-byte local file `from` to `object`, created as `new` says:
    /// one request up to a chunk, the backend's multipart upload above. `uri` is the
    /// object's, for the log.
    pub(crate) async fn upload(
        &self,
        backend: &dyn ObjectBackend,
        uri: &StorageUri,
        from: &Path,
        object: &ObjectPath,
        size: u64,
        new: NewObject<'_>,
    ) -> Result<(), Failure> {
        let transfer = async {
            if size > self.chunk_size {
                return self
                    .upload_in_parts(backend, uri, from, object, size, new)
                    .await;
            }
            let _permit = self.reserve(size).await;
            let body = self.read_part(from, 0, size).await?;
            let put = self
                .retry(uri, TransferPhase::Uploading, || {
                    backend.put(object, body.clone(), new)
                })
                .await;
            self.recycle(body);
            put
        };
        progress::object(
            self.progress_interval,
            Direction::Upload,
            uri,
            Some(size),
            transfer,
        )
        .await
    }

    async fn upload_in_parts(
        &self,
        backend: &dyn ObjectBackend,
        uri: &StorageUri,
        from: &Path,
        object: &ObjectPath,
        size: u64,
        new: NewObject<'_>,
    ) -> Result<(), Failure> {
        let rules = backend.part_rules();
        let part_size = self
            .chunk_size
            .max(rules.min_part)
            .max(size.div_ceil(rules.max_parts))
            .next_multiple_of(rules.part_multiple.max(1));
        let parts = size.div_ceil(part_size);
        let upload_id = self
            .retry(uri, TransferPhase::WaitingForAnswer, || {
                backend.start_upload(object, new)
            })
            .await?;
        let uploads = (0..parts).map(|index| {
            let upload_id = &upload_id;
            async move {
                let offset = index * part_size;
                let len = part_size.min(size - offset);
                let part = Part {
                    index: index as u32,
                    offset,
                    total: size,
                };
                let (body, _permit) = if rules.streams_from_file {
                    // No buffer, so no permit: the parts in flight are bounded below.
                    let body = PartBody::File {
                        path: from.to_path_buf(),
                        offset,
                        len,
                    };
                    (body, None)
                } else {
                    let permit = self.reserve(len).await;
                    let bytes = self.read_part(from, offset, len).await?;
                    (PartBody::Bytes(bytes), Some(permit))
                };
                let tag = self
                    .retry(uri, TransferPhase::Uploading, || {
                        backend.upload_part(object, upload_id, part, body.clone(), new)
                    })
                    .await;
                let tag = match body {
                    PartBody::Bytes(bytes) => {
                        self.recycle(bytes);
                        tag
                    }
                    PartBody::File { .. } => {
                        tag.map_err(|failure| local_failure(failure, from, offset + len))
                    }
                };
                if tag.is_ok() {
                    progress::add_bytes(len);
                }
                Ok::<_, Failure>((index, tag?))
            }
        });
        let parallel = if rules.sequential {
            1
        } else if rules.streams_from_file {
            self.streamed_parts
        } else {
            self.chunk_concurrency
        };
        // `buffered` keeps the order, which is what sequential parts need.
        let result = stream::iter(uploads)
            .buffered(parallel)
            .try_collect::<Vec<_>>()
            .await;
        let mut tags = match result {
            Ok(tags) => tags,
            Err(error) => {
                // Best effort: the upload's failure is the error worth reporting, and
                // stores expire abandoned parts anyway.
                let _ = backend.abort_upload(object, &upload_id).await;
                return Err(error);
            }
        };
        tags.sort_unstable_by_key(|(index, _)| *index);
        let tags: Vec<String> = tags.into_iter().map(|(_, tag)| tag).collect();
        let completed = self
            .retry(uri, TransferPhase::Uploading, || {
                backend.complete_upload(object, &upload_id, tags.clone(), new)
            })
            .await;
        if completed.is_err() {
            let _ = backend.abort_upload(object, &upload_id).await;
        }
        completed
    }

    /// Reads `len` bytes at `offset` of the local file at `path` into a (reused) part
    /// buffer.
    ///
    /// One blocking positional read straight into the buffer: `tokio::fs` would copy
    /// through buffers of its own on the blocking pool's threads.
    async fn read_part(&self, path: &Path, offset: u64, len: u64) -> Result<Bytes, StorageError> {
        use std::os::unix::fs::FileExt;
        let owned = path.to_path_buf();
        let mut buffer = self.buffer(len as usize);
        let read = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&owned)?;
            file.read_exact_at(&mut buffer, offset)?;
            Ok::<_, std::io::Error>(buffer)
        })
        .await
        .map_err(|e| StorageError::Io {
            uri: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        read.map(BytesMut::freeze)
            .map_err(|e| StorageError::from_io(path.display().to_string(), e))
    }
}

/// Allocates `size` bytes of `file` (and sets its length): `fallocate`, or a sparse
/// `set_len` where the file system cannot allocate ahead.
fn preallocate(file: &std::fs::File, size: u64) -> std::io::Result<()> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, size) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NOTSUP | rustix::io::Errno::NOSYS) => file.set_len(size),
        Err(error) => Err(error.into()),
    }
}

/// The one thread that writes a download's file: ranges hand it filled buffers with
/// their offsets and get each buffer back once it is in the file. One writer per file
/// because writers on one file contend for its inode lock (measured: 4 concurrent
/// 1 MiB `pwrite64`s spent more CPU spinning on it than copying), while one thread
/// copies into the page cache faster than a local network delivers.
///
/// Dropping it (and every write in flight) ends the thread once the writes handed to
/// it are done.
struct FileWriter {
    jobs: tokio::sync::mpsc::UnboundedSender<WriteJob>,
}

/// A buffer to write at an offset, and where to send it back.
struct WriteJob {
    buffer: BytesMut,
    offset: u64,
    done: tokio::sync::oneshot::Sender<std::io::Result<BytesMut>>,
}

impl FileWriter {
    /// Starts the writer of `file` on the blocking pool.
    fn start(file: std::fs::File) -> Self {
        use std::os::unix::fs::FileExt;
        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<WriteJob>();
        tokio::task::spawn_blocking(move || {
            while let Some(job) = queue.blocking_recv() {
                let written = file.write_all_at(&job.buffer, job.offset);
                // A range that gave up no longer waits for its buffer.
                let _ = job.done.send(written.map(|()| job.buffer));
            }
        });
        Self { jobs }
    }

    /// Writes all of `buffer` at `offset` of the file; gives the buffer back for the
    /// next bytes. A failure is the local file's ([`LocalWrite`]): final.
    async fn write(&self, buffer: BytesMut, offset: u64) -> BackendResult<BytesMut> {
        let (done, written) = tokio::sync::oneshot::channel();
        let job = WriteJob {
            buffer,
            offset,
            done,
        };
        let gone = || std::io::Error::other("the download's file writer stopped");
        if self.jobs.send(job).is_err() {
            return Err(BackendError::local_file(LocalWrite(gone())));
        }
        written
            .await
            .unwrap_or_else(|_| Err(gone()))
            .map_err(|e| BackendError::local_file(LocalWrite(e)))
    }
}

/// A download's write to its local file failed: told apart from the store's failures
/// so that the error names the file, not the object.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct LocalWrite(std::io::Error);

/// The failure of a part streamed from the local file `path`, in the caller's terms
/// when the file is to blame: reading it failed ([`LocalRead`]), or it is now gone or
/// shorter than `end`, which the store only saw as a body that broke off.
fn local_failure(failure: Failure, path: &Path, end: u64) -> Failure {
    let uri = || path.display().to_string();
    if let Failure::Request { error, .. } = &failure
        && let Some(LocalRead(read)) = error.source.downcast_ref::<LocalRead>()
    {
        return StorageError::from_io(uri(), std::io::Error::new(read.kind(), read.to_string()))
            .into();
    }
    // One blocking stat, only once a part has failed for good.
    match std::fs::metadata(path) {
        Err(error) => StorageError::from_io(uri(), error).into(),
        Ok(metadata) if metadata.len() < end => {
            StorageError::from_io(uri(), file_shrank(end)).into()
        }
        Ok(_) => failure,
    }
}

/// The wait before attempt `failed + 1`: uniform in `[0, min(max, initial × 2^(failed-1)))`
/// ("full jitter"), so clients that failed together do not retry together.
fn backoff(policy: &RetryPolicy, failed: u32) -> std::time::Duration {
    let ceiling = policy
        .initial_backoff
        .saturating_mul(1u32 << (failed - 1).min(20))
        .min(policy.max_backoff);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[test]
    fn backoff_grows_exponentially_below_its_cap_with_jitter() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            assert!(backoff(&policy, 1) < Duration::from_millis(100));
            assert!(backoff(&policy, 3) < Duration::from_millis(400));
            assert!(backoff(&policy, 30) < Duration::from_millis(1000));
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| backoff(&policy, 4)).collect();
        assert!(spread.len() > 1, "waits are jittered");
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_final_ones_are_not() {
        let transfers = Transfers::new(&StorageConfig {
            retry: RetryPolicy {
                initial_backoff: Duration::from_millis(1),
                ..RetryPolicy::default()
            },
            ..StorageConfig::default()
        });
        let uri = StorageUri::parse("s3://b/k").expect("valid");
        let failures_left = AtomicU32::new(3);
        let value = transfers
            .retry(&uri, TransferPhase::WaitingForAnswer, || async {
                if failures_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    Err(BackendError::new(Fault::Transient, "503 SlowDown"))
                } else {
                    Ok(7)
                }
            })
            .await
            .expect("succeeds on the fourth attempt");
        assert_eq!(value, 7);

        let mut calls = 0;
        let failure = transfers
            .retry(&uri, TransferPhase::WaitingForAnswer, || {
                calls += 1;
                async { Err::<(), _>(BackendError::new(Fault::Denied, "403")) }
            })
            .await
            .expect_err("denied");
        assert_eq!(calls, 1, "a refusal is final");
        assert!(
            matches!(failure, Failure::Request { ref error, attempts: 1 } if error.fault == Fault::Denied),
            "{failure:?}"
        );

        let failure = transfers
            .retry(&uri, TransferPhase::WaitingForAnswer, || async {
                Err::<(), _>(BackendError::new(Fault::Transient, "reset"))
            })
            .await
            .expect_err("gives up");
        assert!(
            matches!(failure, Failure::Request { ref error, attempts: 5 } if error.fault == Fault::Transient),
            "{failure:?}"
        );
    }

    #[tokio::test]
    async fn the_memory_budget_bounds_what_is_reserved_at_once() {
        let transfers = Transfers::new(&StorageConfig {
            chunk_size: 1024 * 1024,
            chunk_concurrency: 2,
            ..StorageConfig::default()
        });
        let first = transfers.reserve(1024 * 1024).await;
        let second = transfers.reserve(1024 * 1024).await;
        let third = tokio::time::timeout(Duration::from_millis(50), transfers.reserve(1)).await;
        assert!(third.is_err(), "the budget is spent");
        drop(first);
        drop(second);
        // One buffer larger than the whole budget takes all of it rather than waiting
        // forever.
        let huge =
            tokio::time::timeout(Duration::from_secs(5), transfers.reserve(u64::MAX / 2)).await;
        assert!(huge.is_ok());
    }

    #[test]
    fn a_download_splits_into_two_ranges_per_request_in_flight_each_at_least_a_chunk() {
        const MIB: u64 = 1024 * 1024;
        let transfers = Transfers::new(&StorageConfig {
            chunk_size: 8 * MIB as usize,
            chunk_concurrency: 4,
            ..StorageConfig::default()
        });
        assert_eq!(
            transfers.streams, MAX_STREAMS,
            "a 32 MiB budget holds 32 buffers"
        );
        // (object size, expected range length, expected number of ranges)
        for (size, len, count) in [
            (9 * MIB, 8 * MIB, 2),
            (64 * MIB, 8 * MIB, 8),
            (256 * MIB, 16 * MIB, 16),
            (256 * MIB + 1, 16 * MIB + 1, 16),
            (10 * 1024 * MIB, 640 * MIB, 16),
        ] {
            let range_len = transfers.range_len(size);
            assert_eq!(
                (range_len, size.div_ceil(range_len)),
                (len, count),
                "{size}"
            );
        }
    }

    #[test]
    fn downloads_in_flight_are_as_many_write_buffers_as_the_budget_holds() {
        const MIB: usize = 1024 * 1024;
        let streams = |chunk_size, chunk_concurrency| {
            Transfers::new(&StorageConfig {
                chunk_size,
                chunk_concurrency,
                ..StorageConfig::default()
            })
            .streams
        };
        assert_eq!(streams(MIB, 3), 3);
        assert_eq!(streams(5 * MIB, 1), 5);
        assert_eq!(streams(64 * 1024, 1), 1, "at least one");
        assert_eq!(streams(64 * MIB, 4), MAX_STREAMS);
    }

    #[test]
    fn streamed_upload_parts_in_flight_are_as_many_as_the_budget_holds_at_a_mib_each() {
        const MIB: usize = 1024 * 1024;
        let parts = |chunk_size, chunk_concurrency| {
            Transfers::new(&StorageConfig {
                chunk_size,
                chunk_concurrency,
                ..StorageConfig::default()
            })
            .streamed_parts
        };
        assert_eq!(parts(5 * MIB, 1), 5);
        assert_eq!(parts(64 * 1024, 1), 1, "at least one");
        assert_eq!(
            parts(8 * MIB, 4),
            MAX_STREAMED_PARTS,
            "the default 32 MiB budget holds 32"
        );
    }

    #[tokio::test]
    async fn the_file_writer_puts_every_buffer_at_its_offset_and_hands_it_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.bin");
        let file = std::fs::File::create(&path).expect("created");
        preallocate(&file, 12).expect("allocated");
        let writer = FileWriter::start(file);
        // Out of order, as ranges finish.
        let (high, low) = tokio::join!(
            writer.write(BytesMut::from(&b"world!"[..]), 6),
            writer.write(BytesMut::from(&b"hello "[..]), 0),
        );
        assert_eq!(
            &high.expect("written")[..],
            b"world!",
            "the buffer comes back"
        );
        assert_eq!(&low.expect("written")[..], b"hello ");
        drop(writer);
        assert_eq!(std::fs::read(&path).expect("read"), b"hello world!");
    }

    #[tokio::test]
    async fn a_failed_write_is_the_local_files_and_final() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("read-only.bin");
        std::fs::write(&path, b"x").expect("written");
        // Opened read-only: every write fails with EBADF.
        let file = std::fs::File::open(&path).expect("opened");
        let writer = FileWriter::start(file);
        let error = writer
            .write(BytesMut::from(&b"bytes"[..]), 0)
            .await
            .expect_err("cannot write");
        assert_eq!(error.fault, Fault::Other, "never retried");
        assert!(
            error.source.downcast_ref::<LocalWrite>().is_some(),
            "{error:?}"
        );
    }
}
