//! Forwards the worker's stderr to ours, keeping the last few KiB for error documents.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStderr;
use tokio::task::JoinHandle;

/// How much of the worker's last stderr output an error document quotes.
const TAIL_BYTES: usize = 8 * 1024;
/// How long to wait for the last stderr bytes after the worker has exited. Bounded
/// because a grandchild process may hold the pipe open.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct StderrTail {
    tail: Arc<Mutex<Vec<u8>>>,
    pump: Option<JoinHandle<()>>,
}

impl StderrTail {
    /// Starts copying `stderr` to this process's stderr.
    pub(crate) fn forward(stderr: Option<ChildStderr>) -> Self {
        let tail = Arc::new(Mutex::new(Vec::with_capacity(TAIL_BYTES)));
        let pump = stderr.map(|mut stderr| {
            let tail = Arc::clone(&tail);
            tokio::spawn(async move {
                let mut out = tokio::io::stderr();
                let mut buffer = vec![0u8; 8192];
                while let Ok(read @ 1..) = stderr.read(&mut buffer).await {
                    let chunk = &buffer[..read];
                    let _ = out.write_all(chunk).await;
                    let mut tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    tail.extend_from_slice(chunk);
                    if tail.len() > TAIL_BYTES {
                        let excess = tail.len() - TAIL_BYTES;
                        tail.drain(..excess);
                    }
                }
                let _ = out.flush().await;
            })
        });
        StderrTail { tail, pump }
    }

    /// Waits (briefly) for the worker's stderr to close, then returns its last lines.
    pub(crate) async fn finish(&mut self) -> String {
        if let Some(pump) = self.pump.take() {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, pump).await;
        }
        let tail = self
            .tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let text = String::from_utf8_lossy(&tail);
        // Start at a line boundary unless the whole output fits.
        match (tail.len() >= TAIL_BYTES, text.find('\n')) {
            (true, Some(newline)) => text[newline + 1..].to_owned(),
            _ => text.into_owned(),
        }
    }
}
