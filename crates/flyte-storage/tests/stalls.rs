//! Every storage request has a stall bound: fault injection against misbehaving HTTP
//! servers on 127.0.0.1 (`faults`), through the real SDKs, no emulator needed.
//!
//! Each stalled operation must end with [`StorageError::Stalled`] naming the URI and
//! what stalled, within a generous bound (the configured timeouts are 1 s; the bound
//! only catches a hang); a slow transfer that keeps moving must succeed; retried faults
//! (resets, 503 with `Retry-After`) must pass unseen.
#![cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]

mod faults;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faults::{Plan, Server, blackhole, serve};
use flyte_storage::{RetryPolicy, Storage, StorageConfig, StorageError, TransferPhase};

/// The connect and no-progress timeouts of every test.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts of every test.
const ATTEMPTS: u32 = 2;
/// Far above what any operation here should take: exceeding it means a hang.
const HANG: Duration = Duration::from_secs(30);

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: ATTEMPTS,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        connect_timeout: TIMEOUT,
        no_progress_timeout: TIMEOUT,
        attempt_timeout: Duration::from_secs(3),
    }
}

/// Runs `operation`, failing the test if it has not ended within [`HANG`].
async fn bounded<T>(operation: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let outcome = tokio::time::timeout(HANG, operation)
        .await
        .unwrap_or_else(|_| panic!("still running after {HANG:?}: a stall was not bounded"));
    assert!(started.elapsed() < HANG);
    outcome
}

/// Asserts that `outcome` is a stall of `uri` while `during`, after every attempt.
fn assert_stalled<T: std::fmt::Debug>(
    outcome: Result<T, StorageError>,
    uri: &str,
    during: TransferPhase,
) {
    match outcome {
        Err(
            ref error @ StorageError::Stalled {
                during: got,
                attempts,
                ..
            },
        ) => {
            assert_eq!(got, during, "{error}");
            assert_eq!(attempts, ATTEMPTS, "{error}");
            let message = error.to_string();
            assert!(message.contains(uri), "{message}");
            assert!(message.contains(&during.to_string()), "{message}");
            assert!(error.is_transient());
        }
        other => panic!("expected a stall of {uri} while {during}: {other:?}"),
    }
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use flyte_storage::S3Config;

    pub(super) fn storage(server: &Server) -> Storage {
        storage_with(server, None, ATTEMPTS)
    }

    pub(super) fn storage_with(
        server: &Server,
        progress_interval: Option<Duration>,
        attempts: u32,
    ) -> Storage {
        Storage::new(storage_config(server, progress_interval, attempts))
    }

    fn storage_config(
        server: &Server,
        progress_interval: Option<Duration>,
        attempts: u32,
    ) -> StorageConfig {
        StorageConfig {
            retry: RetryPolicy {
                max_attempts: attempts,
                ..retry()
            },
            progress_interval,
            s3: S3Config {
                endpoint: Some(server.url()),
                region: Some("us-east-1".into()),
                force_path_style: Some(true),
                anonymous: true,
                disable_instance_metadata: true,
                ..S3Config::default()
            },
            ..StorageConfig::default()
        }
    }

    const BODY: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    #[tokio::test]
    async fn a_store_that_never_answers_is_a_stall_waiting_for_an_answer() {
        let server = blackhole().await;
        every_read_of_a_silent_store_stalls(&storage(&server), "s3://bucket/silent").await;
        assert!(server.requests() >= 4 * ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn an_upload_the_store_never_acknowledges_is_a_stall_while_uploading() {
        let server = blackhole().await;
        let storage = storage(&server);
        let uri = "s3://bucket/silent/outputs.pb";
        assert_stalled(
            bounded(storage.put_bytes(uri, b"outputs".to_vec())).await,
            uri,
            TransferPhase::Uploading,
        );
    }

    #[tokio::test]
    async fn a_slow_upload_that_keeps_moving_is_never_cut() {
        // 48 MiB taken at 512 KiB every 20 ms or so: seconds in all, beyond the 1 s that
        // smithy's read timeout would allow from the first byte sent to the answer, but
        // never still for long. (The socket buffers take the first few MiB at once, and
        // drain well within the 1 s no-progress bound at this pace.)
        let (server, received) = faults::slow_reader(512 * 1024, Duration::from_millis(20)).await;
        let storage = Storage::new(StorageConfig {
            retry: RetryPolicy {
                attempt_timeout: HANG,
                ..retry()
            },
            ..self::storage_config(&server, None, ATTEMPTS)
        });
        let body = vec![5u8; 48 * 1024 * 1024];
        let started = Instant::now();
        bounded(storage.put_bytes("s3://bucket/slow/outputs.pb", body.clone()))
            .await
            .expect("a moving upload succeeds");
        assert!(started.elapsed() > TIMEOUT, "{:?}", started.elapsed());
        assert_eq!(server.requests(), 1, "one attempt, never cut");
        assert_eq!(
            received.load(std::sync::atomic::Ordering::SeqCst),
            body.len()
        );
    }

    #[tokio::test]
    async fn an_upload_the_store_stops_reading_is_a_stall_while_uploading() {
        // Takes one piece of the body, then nothing: the socket buffers fill and the
        // upload stops moving.
        let (server, _) = faults::slow_reader(64 * 1024, Duration::from_secs(3600)).await;
        let storage = storage(&server);
        let uri = "s3://bucket/stuck/outputs.pb";
        assert_stalled(
            bounded(storage.put_bytes(uri, vec![5u8; 16 * 1024 * 1024])).await,
            uri,
            TransferPhase::Uploading,
        );
    }

    /// Storage for `server` uploading in parts of 5 MiB (the smallest S3 takes).
    fn storage_in_parts(server: &Server) -> Storage {
        Storage::new(StorageConfig {
            chunk_size: PART,
            ..storage_config(server, None, ATTEMPTS)
        })
    }

    /// The part size of [`storage_in_parts`].
    const PART: usize = 5 * 1024 * 1024;

    /// A local file of `parts` parts of [`PART`] bytes.
    fn file_of_parts(dir: &std::path::Path, parts: usize) -> std::path::PathBuf {
        let path = dir.join("outputs.bin");
        std::fs::write(&path, vec![7u8; parts * PART]).expect("write the local file");
        path
    }

    #[tokio::test]
    async fn a_part_streamed_from_its_file_the_store_stops_reading_is_a_stall_while_uploading() {
        let (server, _) = faults::slow_reader(64 * 1024, Duration::from_secs(3600)).await;
        let local = tempfile::tempdir().expect("temp dir");
        let path = file_of_parts(local.path(), 3);
        let uri = "s3://bucket/stuck/outputs.bin";
        assert_stalled(
            bounded(storage_in_parts(&server).put_file(&path, uri)).await,
            uri,
            TransferPhase::Uploading,
        );
    }

    #[tokio::test]
    async fn a_file_that_shrinks_while_its_parts_stream_fails_naming_the_file() {
        // Parts taken at 64 KiB every 10 ms: each takes most of a second, so the
        // truncation lands while they are on the wire.
        let (server, received) = faults::slow_reader(64 * 1024, Duration::from_millis(10)).await;
        let local = tempfile::tempdir().expect("temp dir");
        let path = file_of_parts(local.path(), 4);
        let storage = storage_in_parts(&server);
        let upload = storage.put_file(&path, "s3://bucket/shrinking/outputs.bin");
        let shrink = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_len(1024 * 1024))
                .expect("truncate the local file");
        };
        let (outcome, ()) = bounded(async { tokio::join!(upload, shrink) }).await;
        match outcome {
            Err(ref error @ StorageError::Io { ref uri, .. }) => {
                assert_eq!(uri, &path.display().to_string(), "{error}");
                let cause = std::error::Error::source(error).map(ToString::to_string);
                assert!(
                    cause
                        .as_deref()
                        .is_some_and(|cause| cause.contains("shrank")),
                    "{error}: {cause:?}"
                );
            }
            other => panic!("expected the shrunk file's error: {other:?}"),
        }
        assert!(
            received.load(std::sync::atomic::Ordering::SeqCst) < 4 * PART,
            "the store never got the whole body"
        );
    }

    #[tokio::test]
    async fn a_file_that_vanishes_before_its_parts_stream_fails_naming_the_file() {
        // Each part takes most of a second, so the parts after the first wave open
        // the file after it is gone.
        let (server, _) = faults::slow_reader(64 * 1024, Duration::from_millis(10)).await;
        let local = tempfile::tempdir().expect("temp dir");
        let path = file_of_parts(local.path(), 8);
        let storage = Storage::new(StorageConfig {
            chunk_size: PART,
            // A 5 MiB budget: 5 streamed parts in flight, the other 3 start later.
            chunk_concurrency: 1,
            ..storage_config(&server, None, ATTEMPTS)
        });
        let upload = storage.put_file(&path, "s3://bucket/vanishing/outputs.bin");
        let vanish = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            std::fs::remove_file(&path).expect("remove the local file");
        };
        let (outcome, ()) = bounded(async { tokio::join!(upload, vanish) }).await;
        match outcome {
            Err(ref error @ StorageError::NotFound { ref uri }) => {
                assert_eq!(uri, &path.display().to_string(), "{error}");
            }
            other => panic!("expected the vanished file's error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_body_that_stops_half_way_is_a_stall_while_downloading() {
        let server = serve(|_, request| {
            if request.method == "HEAD" {
                Plan::ok(BODY)
            } else {
                Plan::half_then_stall(BODY)
            }
        })
        .await;
        let storage = storage(&server);
        let uri = "s3://bucket/half/inputs.pb";
        assert_stalled(
            bounded(storage.get_bytes(uri)).await,
            uri,
            TransferPhase::Downloading,
        );
        let local = tempfile::tempdir().expect("temp dir");
        let target = local.path().join("inputs.pb");
        assert_stalled(
            bounded(storage.get_file(uri, &target)).await,
            uri,
            TransferPhase::Downloading,
        );
        assert!(!target.exists(), "a stalled download leaves no file");
    }

    #[tokio::test]
    async fn a_ranged_download_abandoned_mid_way_leaves_no_temporary_file() {
        // Above a chunk, so the file is allocated whole and written by its writer from
        // several ranges; every range sends half its bytes and then nothing.
        let body = vec![3u8; 20 * 1024 * 1024];
        let served = body.clone();
        let server = serve(move |_, request| {
            if request.method == "HEAD" {
                Plan::ok(&served)
            } else {
                Plan::half_then_stall(&served)
            }
        })
        .await;
        let storage = storage(&server);
        let local = tempfile::tempdir().expect("temp dir");
        let target = local.path().join("inputs.bin");
        let names = || -> Vec<_> {
            std::fs::read_dir(local.path())
                .expect("listed")
                .map(|entry| entry.expect("entry").file_name())
                .collect()
        };
        // Boxed, so that dropping it drops the download itself.
        let mut download = Box::pin(storage.get_file("s3://bucket/abandoned/inputs.bin", &target));
        // Abandoned once its temporary file exists and bytes have arrived, as a caller
        // that gives up (a task cancelled, a prefetch not needed) drops it.
        bounded(async {
            loop {
                tokio::select! {
                    outcome = &mut download => panic!("the download ended: {outcome:?}"),
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
                if !names().is_empty() && server.requests() > 1 {
                    break;
                }
            }
        })
        .await;
        drop(download);
        assert_eq!(
            names(),
            Vec::<std::ffi::OsString>::new(),
            "nothing left behind"
        );
    }

    #[tokio::test]
    async fn reset_connections_are_retried_until_the_store_answers() {
        let server = serve(|n, _| if n < 3 { Plan::Reset } else { Plan::ok(BODY) }).await;
        let storage = storage_with(&server, None, 4);
        let got = bounded(storage.get_bytes("s3://bucket/reset/k")).await;
        assert_eq!(got.expect("succeeds after three resets").as_ref(), BODY);
        assert_eq!(server.requests(), 4);

        // A store that resets every connection fails as a remote error, not a stall.
        let always = serve(|_, _| Plan::Reset).await;
        let uri = "s3://bucket/reset/always";
        match bounded(self::storage(&always).get_bytes(uri)).await {
            Err(
                error @ StorageError::Remote {
                    attempts: ATTEMPTS, ..
                },
            ) => {
                assert!(error.to_string().contains(uri), "{error}");
            }
            other => panic!("expected a remote failure: {other:?}"),
        }
    }

    #[tokio::test]
    async fn unavailable_answers_with_retry_after_are_retried_until_the_store_serves() {
        let server = serve(|n, _| {
            if n < 3 {
                Plan::Answer {
                    status: 503,
                    headers: vec![
                        ("Retry-After".into(), "1".into()),
                        ("Content-Type".into(), "application/xml".into()),
                    ],
                    body: b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
                            <Message>Please reduce your request rate.</Message></Error>"
                        .to_vec(),
                    stall_after: None,
                }
            } else {
                Plan::ok(BODY)
            }
        })
        .await;
        let storage = storage_with(&server, None, 4);
        let got = bounded(storage.get_bytes("s3://bucket/busy/k")).await;
        assert_eq!(got.expect("succeeds after three 503s").as_ref(), BODY);
        assert_eq!(server.requests(), 4);
    }

    #[tokio::test]
    async fn a_slow_transfer_that_keeps_moving_is_never_cut() {
        // Twelve pieces a quarter second apart: three seconds in all, beyond the
        // connect and no-progress timeouts together, but never still for one of them.
        let body: Vec<u8> = (0..=255u8).cycle().take(12 * 1024).collect();
        let trickled = body.clone();
        let server = serve(move |_, request| {
            if request.method == "HEAD" {
                Plan::ok(&trickled)
            } else {
                Plan::trickle(&trickled, 12, Duration::from_millis(250))
            }
        })
        .await;
        let storage = storage(&server);
        let started = Instant::now();
        let got = bounded(storage.get_bytes("s3://bucket/slow/k")).await;
        assert_eq!(got.expect("a moving transfer succeeds").as_ref(), &body[..]);
        assert!(
            started.elapsed() > TIMEOUT * 2,
            "the transfer outlasted both timeouts"
        );
        let local = tempfile::tempdir().expect("temp dir");
        let target = local.path().join("slow");
        let bytes = bounded(storage.get_file("s3://bucket/slow/k", &target)).await;
        assert_eq!(
            bytes.expect("a moving download succeeds"),
            body.len() as u64
        );
        assert_eq!(std::fs::read(&target).expect("read"), body);
    }
}

/// Every way of reading under `prefix` (an object's bytes, into a file, its size, a
/// listing) from a store that accepts connections and never answers ends as a stall
/// waiting for the answer, naming what was asked for.
async fn every_read_of_a_silent_store_stalls(storage: &Storage, prefix: &str) {
    let uri = format!("{prefix}/inputs.pb");
    let local = tempfile::tempdir().expect("temp dir");
    let phase = TransferPhase::WaitingForAnswer;
    assert_stalled(bounded(storage.get_bytes(&uri)).await, &uri, phase);
    let target = local.path().join("x");
    assert_stalled(bounded(storage.get_file(&uri, &target)).await, &uri, phase);
    assert_stalled(bounded(storage.stat(&uri)).await, &uri, phase);
    assert_stalled(bounded(storage.list(prefix)).await, prefix, phase);
}

#[cfg(feature = "gcs")]
mod gcs {
    use super::*;
    use flyte_storage::GcsConfig;

    fn storage(server: &Server) -> Storage {
        Storage::new(StorageConfig {
            retry: retry(),
            gcs: GcsConfig {
                endpoint: Some(server.url()),
                anonymous: true,
                ..GcsConfig::default()
            },
            ..StorageConfig::default()
        })
    }

    #[tokio::test]
    async fn a_store_that_never_answers_is_a_stall_waiting_for_an_answer() {
        let server = blackhole().await;
        every_read_of_a_silent_store_stalls(&storage(&server), "gs://bucket/silent").await;
    }

    #[tokio::test]
    async fn an_answer_that_stops_half_way_is_a_stall() {
        let server = serve(|_, _| Plan::Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"kind": "storage#objects", "items": [{"name": "half/a", "size": "1"}]}"#
                .to_vec(),
            stall_after: Some(20),
        })
        .await;
        let storage = storage(&server);
        let uri = "gs://bucket/half/inputs.pb";
        assert_stalled(
            bounded(storage.stat(uri)).await,
            uri,
            TransferPhase::WaitingForAnswer,
        );
        assert_stalled(
            bounded(storage.list("gs://bucket/half")).await,
            "gs://bucket/half",
            TransferPhase::WaitingForAnswer,
        );
    }
}

#[cfg(feature = "azure")]
mod azure {
    use super::*;
    use flyte_storage::AzureConfig;

    fn storage(server: &Server) -> Storage {
        Storage::new(StorageConfig {
            retry: retry(),
            azure: AzureConfig {
                account_name: Some("devstoreaccount1".into()),
                endpoint: Some(format!("{}/devstoreaccount1", server.url())),
                anonymous: true,
                ..AzureConfig::default()
            },
            ..StorageConfig::default()
        })
    }

    #[tokio::test]
    async fn a_store_that_never_answers_is_a_stall_waiting_for_an_answer() {
        let server = blackhole().await;
        every_read_of_a_silent_store_stalls(&storage(&server), "abfs://container/silent").await;
    }

    #[tokio::test]
    async fn a_listing_that_stops_half_way_is_a_stall() {
        let server = serve(|_, _| Plan::Answer {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/xml".into()),
                ("x-ms-version".into(), "2023-11-03".into()),
            ],
            body: b"<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults \
                    ServiceEndpoint=\"http://127.0.0.1/devstoreaccount1\" ContainerName=\"container\">\
                    <Blobs></Blobs><NextMarker /></EnumerationResults>"
                .to_vec(),
            stall_after: Some(60),
        })
        .await;
        let storage = storage(&server);
        let uri = "abfs://container/half";
        assert_stalled(
            bounded(storage.list(uri)).await,
            uri,
            TransferPhase::WaitingForAnswer,
        );
    }
}

/// Log lines written while the test's subscriber is the default.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn a_long_transfer_logs_its_progress_and_a_short_one_logs_nothing_extra() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runs on one thread (tokio's test runtime), so a thread default sees
    // every line of the transfer.
    let _guard = tracing::subscriber::set_default(subscriber);

    let body: Vec<u8> = vec![7; 8 * 1024];
    let trickled = body.clone();
    let server = serve(move |_, request| {
        if request.target.contains("list-type=2") {
            Plan::Answer {
                status: 200,
                headers: vec![("Content-Type".into(), "application/xml".into())],
                body: listing(&["tree/a", "tree/b"], trickled.len()).into_bytes(),
                stall_after: None,
            }
        } else if request.target.contains("slow") || request.target.contains("tree") {
            Plan::trickle(&trickled, 8, Duration::from_millis(200))
        } else {
            Plan::ok(b"quick")
        }
    })
    .await;
    let storage = s3::storage_with(&server, Some(Duration::from_millis(300)), ATTEMPTS);

    bounded(storage.get_bytes("s3://bucket/quick/k"))
        .await
        .expect("quick");
    assert!(
        !captured.text().contains("still running"),
        "a short transfer logs nothing: {}",
        captured.text()
    );

    bounded(storage.get_bytes("s3://bucket/slow/k"))
        .await
        .expect("slow");
    let logs = captured.text();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("download still running"))
        .collect();
    assert!(lines.len() >= 2, "a line per interval: {logs}");
    for line in &lines {
        assert!(line.contains("s3://bucket/slow/k"), "{line}");
        assert!(line.contains("rate="), "{line}");
        assert!(line.contains("retries=0"), "{line}");
    }
    assert!(
        lines.last().expect("a line").contains(" KiB"),
        "bytes done grow: {logs}"
    );

    // A directory reports files done as a whole, beside its files' own lines.
    let local = tempfile::tempdir().expect("temp dir");
    let summary = bounded(storage.get_dir("s3://bucket/tree", local.path()))
        .await
        .expect("directory");
    assert_eq!(summary.files, 2);
    let logs = captured.text();
    let line = logs
        .lines()
        .find(|line| line.contains("directory download still running"))
        .unwrap_or_else(|| panic!("a directory line: {logs}"));
    assert!(line.contains("uri=s3://bucket/tree"), "{line}");
    assert!(line.contains("files_started=2"), "{line}");
}

/// An S3 ListObjectsV2 answer naming `keys`, each of `size` bytes.
#[cfg(feature = "s3")]
fn listing(keys: &[&str], size: usize) -> String {
    let contents: String = keys
        .iter()
        .map(|key| format!("<Contents><Key>{key}</Key><Size>{size}</Size></Contents>"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Name>bucket</Name><Prefix>tree/</Prefix><KeyCount>{}</KeyCount>\
         <MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>",
        keys.len()
    )
}
