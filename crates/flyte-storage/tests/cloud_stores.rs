//! The conformance suite against real servers: moto (S3), fake-gcs-server (GCS) and
//! Azurite (Azure), started by `cargo xtask test`. Without them every test here fails
//! with a message saying to run `cargo xtask test`: none is skipped silently.
//!
//! Each test writes under its own fresh prefix of the emulator's test bucket. Each
//! backend's tests are built with the backend's cargo feature.
#![cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use flyte_storage::{
    RetryPolicy, Storage, StorageConfig, StorageError, StorageUri, Store, TransferPhase,
    conformance,
};
use flyte_test_support::emulators::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Storage for `emulator` and a fresh base URI in its test bucket.
async fn storage_and_base(emulator: Emulator) -> (Storage, String) {
    let storage = Storage::new(emulator.config());
    emulator.prepare().await;
    (storage, emulator.unique_prefix())
}

fn uri(text: &str) -> StorageUri {
    StorageUri::parse(text).expect("valid test URI")
}

fn store_for<'a>(storage: &'a Storage, base: &str) -> &'a dyn Store {
    storage
        .store_for(&StorageUri::parse(base).expect("valid base URI"))
        .expect("a store serves the emulator's scheme")
}

/// A TCP proxy in front of the emulator at `endpoint` that answers the first
/// `failures` connections itself with `503 Slow Down` and pipes every later one
/// through. Returns the endpoint to use instead and the count of refused connections.
async fn flaky_proxy(endpoint: &str, failures: usize) -> (String, Arc<AtomicUsize>) {
    let rest = endpoint.strip_prefix("http://").expect("an http endpoint");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let target = authority.to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = format!(
        "http://{}{}{path}",
        listener.local_addr().expect("address"),
        if path.is_empty() { "" } else { "/" }
    );
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let target = target.clone();
            let refuse = counter.fetch_add(1, Ordering::SeqCst) < failures;
            if !refuse {
                counter.fetch_sub(1, Ordering::SeqCst);
            }
            tokio::spawn(async move {
                if refuse {
                    // Read the request head, answer 503 and close, as a throttling
                    // store or a failing load balancer does.
                    let mut head = Vec::new();
                    let mut buffer = [0; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match client.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let body = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>\
                                <Message>Please reduce your request rate.</Message></Error>";
                    let answer = format!(
                        "HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(answer.as_bytes()).await;
                    let _ = client.shutdown().await;
                } else if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (proxy, refused)
}

/// A TCP proxy in front of the emulator at `endpoint` that cuts the first connection
/// on which the server has sent more than `cut_after` bytes, mid-response, as a reset
/// connection does. Returns the endpoint to use instead and the count of cuts.
async fn cutting_proxy(endpoint: &str, cut_after: usize) -> (String, Arc<AtomicUsize>) {
    let rest = endpoint.strip_prefix("http://").expect("an http endpoint");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let target = authority.to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = format!(
        "http://{}{}{path}",
        listener.local_addr().expect("address"),
        if path.is_empty() { "" } else { "/" }
    );
    let cuts = Arc::new(AtomicUsize::new(0));
    let counter = cuts.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                continue;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut sent = 0;
                let mut buffer = vec![0; 64 * 1024];
                loop {
                    let n = match server_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    sent += n;
                    if sent > cut_after
                        && counter
                            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                    {
                        // Half a response, then the connection is gone.
                        let _ = client_write.write_all(&buffer[..n / 2]).await;
                        break;
                    }
                    if client_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
                upstream.abort();
            });
        }
    });
    (proxy, cuts)
}

/// A download whose connection breaks mid-body resumes where it stopped.
async fn a_download_cut_mid_body_resumes_where_it_stopped(emulator: Emulator) {
    let (storage, base) = storage_and_base(emulator).await;
    let contents = conformance::pattern(42, 3 * 1024 * 1024 + 5);
    let object = format!("{base}/cut/large.bin");
    storage
        .put_bytes(&object, Bytes::from(contents.clone()))
        .await
        .expect("put");
    let (proxy, cuts) = cutting_proxy(&emulator.endpoint(), 1024 * 1024).await;
    let config = StorageConfig {
        retry: fast_retries(5),
        ..with_endpoint(emulator, emulator.config(), proxy)
    };
    let through_proxy = Storage::new(config);
    let local = tempfile::tempdir().expect("temp dir");
    let target = local.path().join("large.bin");
    assert_eq!(
        through_proxy
            .get_file(&object, &target)
            .await
            .expect("get_file resumes"),
        contents.len() as u64
    );
    assert_eq!(cuts.load(Ordering::SeqCst), 1, "one connection was cut");
    assert!(
        std::fs::read(&target).expect("read") == contents,
        "contents differ"
    );
}

/// A store that accepts connections and never answers times out, is retried, and is
/// given up, naming the URI.
async fn a_store_that_never_answers_times_out(emulator: Emulator) {
    let (_, base) = storage_and_base(emulator).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let path = match emulator {
        Emulator::Azure => "/devstoreaccount1",
        _ => "",
    };
    let config = StorageConfig {
        retry: RetryPolicy {
            connect_timeout: Duration::from_millis(300),
            no_progress_timeout: Duration::from_millis(300),
            attempt_timeout: Duration::from_millis(600),
            ..fast_retries(2)
        },
        ..with_endpoint(
            emulator,
            emulator.config(),
            format!("http://{address}{path}"),
        )
    };
    let storage = Storage::new(config);
    let object = format!("{base}/silent/inputs.pb");
    let started = std::time::Instant::now();
    match storage.get_bytes(&object).await {
        Err(
            error @ StorageError::Stalled {
                attempts: 2,
                during: TransferPhase::WaitingForAnswer,
                ..
            },
        ) => {
            assert!(error.to_string().contains(&object), "{error}");
        }
        other => panic!("get_bytes from a silent store: {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// `config` with its endpoint for `emulator` replaced.
fn with_endpoint(emulator: Emulator, mut config: StorageConfig, endpoint: String) -> StorageConfig {
    match emulator {
        Emulator::S3 => config.s3.endpoint = Some(endpoint),
        Emulator::Gcs => config.gcs.endpoint = Some(endpoint),
        Emulator::Azure => config.azure.endpoint = Some(endpoint),
    }
    config
}

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..RetryPolicy::default()
    }
}

/// Throttling answers are retried until the store answers: the caller never sees them.
async fn throttled_requests_are_retried_until_they_pass(emulator: Emulator) {
    let (_, base) = storage_and_base(emulator).await;
    let (proxy, refused) = flaky_proxy(&emulator.endpoint(), 3).await;
    let config = StorageConfig {
        retry: fast_retries(5),
        ..with_endpoint(emulator, emulator.config(), proxy)
    };
    let storage = Storage::new(config);
    let object = format!("{base}/throttled/outputs.pb");
    storage
        .put_bytes(&object, Bytes::from_static(b"through the throttle"))
        .await
        .expect("put succeeds after retries");
    assert_eq!(
        refused.load(Ordering::SeqCst),
        3,
        "three 503s were answered"
    );
    assert_eq!(
        &storage.get_bytes(&object).await.expect("get")[..],
        b"through the throttle"
    );
}

/// A store that keeps failing gives up after the configured attempts, naming the URI.
async fn a_store_that_keeps_failing_is_given_up_after_max_attempts(emulator: Emulator) {
    let (_, base) = storage_and_base(emulator).await;
    let (proxy, refused) = flaky_proxy(&emulator.endpoint(), usize::MAX).await;
    let config = StorageConfig {
        retry: fast_retries(3),
        ..with_endpoint(emulator, emulator.config(), proxy)
    };
    let storage = Storage::new(config);
    let object = format!("{base}/down/outputs.pb");
    match storage.get_bytes(&object).await {
        Err(error @ StorageError::Remote { attempts: 3, .. }) => {
            assert!(error.to_string().contains(&object), "{error}");
        }
        other => panic!("get_bytes from a failing store: {other:?}"),
    }
    assert_eq!(refused.load(Ordering::SeqCst), 3);
}

macro_rules! conformance_tests {
    ($emulator:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (storage, base) = super::storage_and_base($emulator).await;
                super::conformance::$check(super::store_for(&storage, &base), &super::uri(&base)).await;
            }
        )*

        #[tokio::test]
        async fn throttled_requests_are_retried_until_they_pass() {
            super::throttled_requests_are_retried_until_they_pass($emulator).await;
        }

        #[tokio::test]
        async fn a_store_that_keeps_failing_is_given_up_after_max_attempts() {
            super::a_store_that_keeps_failing_is_given_up_after_max_attempts($emulator).await;
        }

        #[tokio::test]
        async fn a_download_cut_mid_body_resumes_where_it_stopped() {
            super::a_download_cut_mid_body_resumes_where_it_stopped($emulator).await;
        }

        #[tokio::test]
        async fn a_store_that_never_answers_times_out() {
            super::a_store_that_never_answers_times_out($emulator).await;
        }

        #[tokio::test]
        async fn a_missing_bucket_is_never_absent() {
            let (storage, _) = super::storage_and_base($emulator).await;
            let bucket = format!("no-such-bucket-{}", uuid_like());
            let object = format!("{}://{bucket}/x/inputs.pb", $emulator.scheme());
            super::conformance::a_missing_bucket_is_never_absent(
                super::store_for(&storage, &object),
                &super::uri(&object),
                super::conformance::Namespace::Bucket(bucket),
            )
            .await;
        }

        fn uuid_like() -> String {
            format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos())
        }
    };
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;

    conformance_tests!(Emulator::S3;
        bytes_round_trip_and_overwrite,
        empty_object_round_trips,
        unicode_and_space_names_round_trip,
        large_file_round_trips,
        bytes_over_a_chunk_round_trip,
        hundred_mib_file_round_trips_through_multipart,
        nested_directory_goes_up_and_comes_down,
        listing_ignores_trailing_slash_and_scopes_to_the_prefix,
        missing_prefix_lists_empty_and_downloads_as_not_found,
        exists_is_true_only_for_objects,
        missing_object_is_not_found_naming_the_uri,
        delete_removes_and_tolerates_missing,
        uploading_a_file_as_a_directory_is_refused,
        directory_links_are_uploaded_as_flytekit_uploads_them,
        a_link_to_nothing_fails_the_upload_naming_it,
        odd_keys_download_inside_the_directory_like_flytekit,
    );

    #[tokio::test]
    async fn wrong_credentials_are_permission_denied() {
        let (_, base) = storage_and_base(Emulator::S3).await;
        let refused = Storage::new(Emulator::S3.wrong_credentials_config());
        conformance::wrong_credentials_are_permission_denied(
            store_for(&refused, &base),
            &uri(&base),
        )
        .await;
    }
}

#[cfg(feature = "gcs")]
mod gcs {
    use super::*;

    conformance_tests!(Emulator::Gcs;
        bytes_round_trip_and_overwrite,
        empty_object_round_trips,
        unicode_and_space_names_round_trip,
        large_file_round_trips,
        bytes_over_a_chunk_round_trip,
        hundred_mib_file_round_trips_through_multipart,
        nested_directory_goes_up_and_comes_down,
        listing_ignores_trailing_slash_and_scopes_to_the_prefix,
        missing_prefix_lists_empty_and_downloads_as_not_found,
        exists_is_true_only_for_objects,
        missing_object_is_not_found_naming_the_uri,
        delete_removes_and_tolerates_missing,
        uploading_a_file_as_a_directory_is_refused,
        directory_links_are_uploaded_as_flytekit_uploads_them,
        a_link_to_nothing_fails_the_upload_naming_it,
        odd_keys_download_inside_the_directory_like_flytekit,
    );

    /// gcsfs, finding no Application Default Credentials, goes anonymous; so do we.
    #[tokio::test]
    async fn without_credentials_access_falls_back_to_anonymous_like_gcsfs() {
        let (_, base) = storage_and_base(Emulator::Gcs).await;
        let mut config = Emulator::Gcs.config();
        config.gcs.anonymous = false;
        let storage = Storage::new(config);
        let started = std::time::Instant::now();
        conformance::bytes_round_trip_and_overwrite(store_for(&storage, &base), &uri(&base)).await;
        println!("fell back to anonymous in {:?}", started.elapsed());
    }
}

#[cfg(feature = "azure")]
mod azure {
    use super::*;

    conformance_tests!(Emulator::Azure;
        bytes_round_trip_and_overwrite,
        empty_object_round_trips,
        unicode_and_space_names_round_trip,
        large_file_round_trips,
        bytes_over_a_chunk_round_trip,
        hundred_mib_file_round_trips_through_multipart,
        nested_directory_goes_up_and_comes_down,
        listing_ignores_trailing_slash_and_scopes_to_the_prefix,
        missing_prefix_lists_empty_and_downloads_as_not_found,
        exists_is_true_only_for_objects,
        missing_object_is_not_found_naming_the_uri,
        delete_removes_and_tolerates_missing,
        uploading_a_file_as_a_directory_is_refused,
        directory_links_are_uploaded_as_flytekit_uploads_them,
        a_link_to_nothing_fails_the_upload_naming_it,
        odd_keys_download_inside_the_directory_like_flytekit,
    );

    #[tokio::test]
    async fn a_connection_string_alone_names_account_endpoint_and_key() {
        let (_, base) = storage_and_base(Emulator::Azure).await;
        let storage = Storage::new(Emulator::Azure.azure_connection_string_config());
        conformance::bytes_round_trip_and_overwrite(store_for(&storage, &base), &uri(&base)).await;
    }

    #[tokio::test]
    async fn a_sas_token_reads_and_writes_objects() {
        let (_, base) = storage_and_base(Emulator::Azure).await;
        let storage = Storage::new(Emulator::Azure.azure_sas_config().await);
        conformance::bytes_round_trip_and_overwrite(store_for(&storage, &base), &uri(&base)).await;
    }

    #[tokio::test]
    async fn a_uri_naming_the_account_uses_it() {
        let (_, base) = storage_and_base(Emulator::Azure).await;
        let mut config = Emulator::Azure.config();
        config.azure.account_name = None;
        let storage = Storage::new(config);
        let named = base.replacen(
            "abfs://flyte-tests/",
            "abfss://flyte-tests@devstoreaccount1.dfs.core.windows.net/",
            1,
        );
        conformance::bytes_round_trip_and_overwrite(store_for(&storage, &named), &uri(&named))
            .await;
    }

    #[tokio::test]
    async fn wrong_credentials_are_permission_denied() {
        let (_, base) = storage_and_base(Emulator::Azure).await;
        let refused = Storage::new(Emulator::Azure.wrong_credentials_config());
        conformance::wrong_credentials_are_permission_denied(
            store_for(&refused, &base),
            &uri(&base),
        )
        .await;
    }
}
