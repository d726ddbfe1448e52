//! [`TransferProgress`]: progress of a long transfer, logged at a steady interval.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts the bytes of one transfer and logs, at INFO, how far it got (bytes, rate and,
/// when the total is known, an ETA) at most once per interval, however many chunks
/// arrive; [`finish`](Self::finish) logs a summary. Safe to share between the tasks
/// moving the chunks.
///
/// ```
/// use flyte_telemetry::TransferProgress;
///
/// let progress = TransferProgress::new("download s3://bucket/inputs.pb", Some(1 << 30));
/// for _chunk in 0..4 {
///     progress.advance(8 << 20); // logs only when the interval has passed
/// }
/// progress.finish();
/// ```
#[derive(Debug)]
pub struct TransferProgress {
    label: String,
    total: Option<u64>,
    interval: Duration,
    started: Instant,
    moved: AtomicU64,
    last_report: Mutex<Instant>,
}

/// One progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressReport {
    /// Bytes moved so far.
    pub bytes: u64,
    /// Total bytes, when known.
    pub total: Option<u64>,
    /// Average bytes per second since the start.
    pub bytes_per_second: f64,
    /// Estimated time left, when the total and a rate are known.
    pub eta: Option<Duration>,
    /// Time since the start.
    pub elapsed: Duration,
}

impl TransferProgress {
    /// The default interval between reports.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

    /// Starts tracking a transfer described by `label` (its URI, say), of `total` bytes
    /// when known, reporting every [`DEFAULT_INTERVAL`](Self::DEFAULT_INTERVAL).
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Self {
        Self::with_interval(label, total, Self::DEFAULT_INTERVAL)
    }

    /// Like [`new`](Self::new), with another interval.
    pub fn with_interval(label: impl Into<String>, total: Option<u64>, interval: Duration) -> Self {
        let now = Instant::now();
        TransferProgress {
            label: label.into(),
            total,
            interval,
            started: now,
            moved: AtomicU64::new(0),
            last_report: Mutex::new(now),
        }
    }

    /// Adds `bytes` moved; logs a report if the interval has passed since the last one.
    pub fn advance(&self, bytes: u64) {
        if let Some(report) = self.advance_at(bytes, Instant::now()) {
            tracing::info!(
                transfer = %self.label,
                bytes = report.bytes,
                total = report.total,
                bytes_per_second = report.bytes_per_second.round() as u64,
                eta_seconds = report.eta.map(|d| d.as_secs()),
                "{}: {}",
                self.label,
                describe(&report)
            );
        }
    }

    /// Bytes moved so far.
    pub fn bytes(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// Logs the final summary (bytes, time, average rate) and returns it.
    pub fn finish(&self) -> ProgressReport {
        let report = self.report(self.bytes(), Instant::now());
        tracing::info!(
            transfer = %self.label,
            bytes = report.bytes,
            seconds = report.elapsed.as_secs_f64(),
            bytes_per_second = report.bytes_per_second.round() as u64,
            "{}: done, {} in {:.1}s ({}/s)",
            self.label,
            human_bytes(report.bytes as f64),
            report.elapsed.as_secs_f64(),
            human_bytes(report.bytes_per_second)
        );
        report
    }

    /// [`advance`](Self::advance) at a given instant; the report to log, if one is due.
    pub(crate) fn advance_at(&self, bytes: u64, now: Instant) -> Option<ProgressReport> {
        let moved = self.moved.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let mut last = self.last_report.lock().ok()?;
        if now.saturating_duration_since(*last) < self.interval {
            return None;
        }
        *last = now;
        drop(last);
        Some(self.report(moved, now))
    }

    fn report(&self, bytes: u64, now: Instant) -> ProgressReport {
        let elapsed = now.saturating_duration_since(self.started);
        let seconds = elapsed.as_secs_f64();
        let bytes_per_second = if seconds > 0.0 {
            bytes as f64 / seconds
        } else {
            0.0
        };
        let eta = match self.total {
            Some(total) if bytes_per_second > 0.0 => Some(Duration::from_secs_f64(
                total.saturating_sub(bytes) as f64 / bytes_per_second,
            )),
            _ => None,
        };
        ProgressReport {
            bytes,
            total: self.total,
            bytes_per_second,
            eta,
            elapsed,
        }
    }
}

/// `12.0 MiB of 100.0 MiB (12%), 4.0 MiB/s, ETA 22s`.
fn describe(report: &ProgressReport) -> String {
    let mut text = human_bytes(report.bytes as f64);
    if let Some(total) = report.total {
        let percent = report
            .bytes
            .saturating_mul(100)
            .checked_div(total)
            .unwrap_or(100);
        text.push_str(&format!(" of {} ({percent}%)", human_bytes(total as f64)));
    }
    text.push_str(&format!(", {}/s", human_bytes(report.bytes_per_second)));
    if let Some(eta) = report.eta {
        text.push_str(&format!(", ETA {}s", eta.as_secs()));
    }
    text
}

fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_come_once_per_interval_not_per_chunk() {
        let progress = TransferProgress::with_interval("t", Some(1000), Duration::from_secs(1));
        let t0 = progress.started;
        let mut reports = Vec::new();
        // 100 chunks of 10 bytes over 2.5 seconds: two reports (at 1s and 2s).
        for i in 0..100u64 {
            let now = t0 + Duration::from_millis(i * 25 + 25);
            reports.extend(progress.advance_at(10, now));
        }
        assert_eq!(reports.len(), 2, "{reports:?}");
        let first = &reports[0];
        assert_eq!(first.bytes, 400);
        assert_eq!(first.elapsed, Duration::from_secs(1));
        assert!((first.bytes_per_second - 400.0).abs() < 1e-9);
        assert_eq!(first.eta, Some(Duration::from_millis(1500)));
        assert_eq!(progress.bytes(), 1000);
    }

    #[test]
    fn descriptions_are_readable() {
        let report = ProgressReport {
            bytes: 12 << 20,
            total: Some(100 << 20),
            bytes_per_second: f64::from(4 << 20),
            eta: Some(Duration::from_secs(22)),
            elapsed: Duration::from_secs(3),
        };
        assert_eq!(
            describe(&report),
            "12.0 MiB of 100.0 MiB (12%), 4.0 MiB/s, ETA 22s"
        );
        assert_eq!(human_bytes(512.0), "512 B");
    }
}
