//! Progress lines for long transfers: one `INFO` line every
//! [`progress_interval`](crate::StorageConfig::progress_interval) for each transfer still
//! running, so the log of a 50 GB download is never silent for minutes.
//!
//! A transfer that ends before the first interval logs nothing: short transfers (almost
//! all of them) cost one timer and no line. The counters live in task-locals, so the
//! code that moves bytes (the transfer engine, the directory loops) adds to whatever
//! transfer it runs inside without every signature carrying a handle; outside one, the
//! additions are no-ops.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    /// The single-object transfer the current code is part of.
    static OBJECT: Arc<Counters>;
    /// The directory transfer the current code is part of.
    static DIRECTORY: Arc<Counters>;
}

/// What a transfer has done so far.
#[derive(Debug, Default)]
struct Counters {
    bytes: AtomicU64,
    retries: AtomicU32,
    files_done: AtomicU64,
    files_started: AtomicU64,
}

/// Which way a transfer goes, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Download,
    Upload,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Download => "download",
            Self::Upload => "upload",
        })
    }
}

/// Runs `transfer`, the move of one object at `uri` of `total` bytes (when known),
/// logging its progress every `interval` while it runs.
pub(crate) async fn object<F: Future>(
    interval: Option<Duration>,
    direction: Direction,
    uri: &(dyn fmt::Display + Sync),
    total: Option<u64>,
    transfer: F,
) -> F::Output {
    let counters = Arc::new(Counters::default());
    let scoped = OBJECT.scope(counters.clone(), transfer);
    watch(
        interval,
        scoped,
        || {
            let done = counters.bytes.load(Ordering::Relaxed);
            (done, total, counters.retries.load(Ordering::Relaxed), None)
        },
        direction,
        uri,
    )
    .await
}

/// Runs `transfer`, the move of a directory at `uri`, logging files and bytes done
/// every `interval` while it runs.
pub(crate) async fn directory<F: Future>(
    interval: Option<Duration>,
    direction: Direction,
    uri: &(dyn fmt::Display + Sync),
    transfer: F,
) -> F::Output {
    let counters = Arc::new(Counters::default());
    let scoped = DIRECTORY.scope(counters.clone(), transfer);
    watch(
        interval,
        scoped,
        || {
            let files = (
                counters.files_done.load(Ordering::Relaxed),
                counters.files_started.load(Ordering::Relaxed),
            );
            (
                counters.bytes.load(Ordering::Relaxed),
                None,
                counters.retries.load(Ordering::Relaxed),
                Some(files),
            )
        },
        direction,
        uri,
    )
    .await
}

/// `transfer`, with a progress line every `interval` from `read` (bytes done, total,
/// retries, files done and started) until it ends.
async fn watch<F: Future>(
    interval: Option<Duration>,
    transfer: F,
    read: impl Fn() -> (u64, Option<u64>, u32, Option<(u64, u64)>),
    direction: Direction,
    uri: &(dyn fmt::Display + Sync),
) -> F::Output {
    let Some(interval) = interval.filter(|i| !i.is_zero()) else {
        return transfer.await;
    };
    let started = Instant::now();
    let mut ticks = tokio::time::interval_at(started + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut transfer = std::pin::pin!(transfer);
    loop {
        tokio::select! {
            biased;
            output = &mut transfer => return output,
            _ = ticks.tick() => {
                let (bytes, total, retries, files) = read();
                let elapsed = started.elapsed();
                let rate = bytes as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
                let done = match total {
                    Some(total) if total > 0 => format!(
                        "{} of {} ({:.0}%)",
                        Bytes(bytes),
                        Bytes(total),
                        bytes as f64 * 100.0 / total as f64
                    ),
                    Some(total) => format!("{} of {}", Bytes(bytes), Bytes(total)),
                    None => Bytes(bytes).to_string(),
                };
                let uri = without_query(&uri.to_string()).to_owned();
                let rate = format!("{}/s", Bytes(rate as u64));
                let elapsed = format!("{:.1} s", elapsed.as_secs_f64());
                match files {
                    Some((files_done, files_started)) => tracing::info!(
                        uri = %uri,
                        files_done,
                        files_started,
                        done = %done,
                        rate = %rate,
                        retries,
                        elapsed = %elapsed,
                        "directory {direction} still running"
                    ),
                    None => tracing::info!(
                        uri = %uri,
                        done = %done,
                        rate = %rate,
                        retries,
                        elapsed = %elapsed,
                        "{direction} still running"
                    ),
                }
            }
        }
    }
}

/// Counts `bytes` moved for the transfers the current code is part of.
pub(crate) fn add_bytes(bytes: u64) {
    let _ = OBJECT.try_with(|c| c.bytes.fetch_add(bytes, Ordering::Relaxed));
}

/// Counts one retried request for the transfers the current code is part of.
pub(crate) fn add_retry() {
    let _ = OBJECT.try_with(|c| c.retries.fetch_add(1, Ordering::Relaxed));
    let _ = DIRECTORY.try_with(|c| c.retries.fetch_add(1, Ordering::Relaxed));
}

/// Counts a file a directory transfer started on.
pub(crate) fn file_started() {
    let _ = DIRECTORY.try_with(|c| c.files_started.fetch_add(1, Ordering::Relaxed));
}

/// Counts a file of `bytes` bytes done by a directory transfer.
pub(crate) fn file_done(bytes: u64) {
    let _ = DIRECTORY.try_with(|c| {
        c.files_done.fetch_add(1, Ordering::Relaxed);
        c.bytes.fetch_add(bytes, Ordering::Relaxed);
    });
}

/// `uri` without a query string or fragment: signed URLs and SAS tokens live there.
fn without_query(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

/// A byte count as people read it: `512 B`, `1.5 MiB`, `50.0 GiB`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Bytes(50 * 1024 * 1024 * 1024).to_string(), "50.0 GiB");
    }

    #[test]
    fn logged_uris_lose_their_query_and_fragment() {
        assert_eq!(without_query("abfs://c/p?sv=1&sig=SECRET"), "abfs://c/p");
        assert_eq!(without_query("s3://b/k#x"), "s3://b/k");
        assert_eq!(without_query("gs://b/k"), "gs://b/k");
    }

    #[tokio::test]
    async fn counters_reach_the_transfer_they_run_inside_and_nothing_else() {
        add_bytes(5); // outside any transfer: ignored, no panic
        let counted = object(None, Direction::Download, &"s3://b/k", Some(10), async {
            add_bytes(3);
            add_retry();
            OBJECT.with(|c| {
                (
                    c.bytes.load(Ordering::Relaxed),
                    c.retries.load(Ordering::Relaxed),
                )
            })
        })
        .await;
        assert_eq!(counted, (3, 1));
    }
}
