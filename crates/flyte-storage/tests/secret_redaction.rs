//! No credential reaches a [`StorageError`] or a log line (issue 20, item 1).
//!
//! Each object store is configured with secrets in every place they can be given (keys,
//! tokens, a SAS in a connection string, `user:password@` in the endpoint) and pointed at
//! loopback endpoints that cannot serve it: a port nobody listens on, and a listener that
//! accepts each connection and closes it unanswered. Every operation must fail, and neither the
//! error (its message, every cause, its `Debug`) nor any log line this crate writes, at
//! TRACE, says a secret. The servers are this test's own and stop with it.
#![cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flyte_storage::{RetryPolicy, SecretString, Storage, StorageConfig, StorageError};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;

/// Every secret the configurations below carry; none may be printed.
const SECRETS: &[&str] = &[
    "USERINFOSECRET",
    "S3KEYSECRET",
    "S3TOKENSECRET",
    "SASSECRET",
    "ACCOUNTKEYSECRET",
];

/// A port on loopback that nothing listens on (bound, then closed).
fn dead_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// A loopback listener that accepts every connection and closes it before answering,
/// for as long as the test runs (the thread ends with the process): the request is
/// sent, so the HTTP client's error is about that request, URL and all.
fn closing_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            drop(stream);
        }
    });
    address
}

/// Few, fast attempts: the endpoints never answer, and retries only repeat the failure.
fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        connect_timeout: Duration::from_secs(5),
        no_progress_timeout: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(10),
    }
}

fn secret(text: &str) -> Option<SecretString> {
    Some(SecretString::from(text.to_owned()))
}

/// Storage configurations with secrets for `address`, each with the URI prefix it serves.
fn configurations(address: SocketAddr) -> Vec<(&'static str, StorageConfig, String)> {
    #[allow(unused_mut)]
    let mut configurations = Vec::new();
    #[cfg(feature = "s3")]
    {
        let mut config = StorageConfig {
            retry: quick_retries(),
            ..StorageConfig::default()
        };
        config.s3.endpoint = Some(format!("http://user:USERINFOSECRET@{address}"));
        config.s3.region = Some("us-east-1".into());
        config.s3.access_key_id = Some("AKIDEXAMPLE".into());
        config.s3.secret_access_key = secret("S3KEYSECRET");
        config.s3.session_token = secret("S3TOKENSECRET");
        config.s3.disable_instance_metadata = true;
        configurations.push((
            "s3 with userinfo in the endpoint",
            config,
            "s3://bucket/a".into(),
        ));
        let mut config = StorageConfig {
            retry: quick_retries(),
            ..StorageConfig::default()
        };
        config.s3.endpoint = Some(format!("http://{address}"));
        config.s3.region = Some("us-east-1".into());
        config.s3.access_key_id = Some("AKIDEXAMPLE".into());
        config.s3.secret_access_key = secret("S3KEYSECRET");
        config.s3.session_token = secret("S3TOKENSECRET");
        config.s3.disable_instance_metadata = true;
        configurations.push(("s3", config, "s3://bucket/a".into()));
    }
    #[cfg(feature = "gcs")]
    {
        let mut config = StorageConfig {
            retry: quick_retries(),
            ..StorageConfig::default()
        };
        config.gcs.endpoint = Some(format!("http://user:USERINFOSECRET@{address}"));
        config.gcs.anonymous = true;
        configurations.push(("gcs", config, "gs://bucket/a".into()));
    }
    #[cfg(feature = "azure")]
    {
        let mut config = StorageConfig {
            retry: quick_retries(),
            ..StorageConfig::default()
        };
        config.azure.connection_string = secret(&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
             BlobEndpoint=http://{address}/devstoreaccount1;\
             SharedAccessSignature=sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=SASSECRET"
        ));
        configurations.push((
            "azure with a SAS connection string",
            config,
            "abfs://cont/a".into(),
        ));
        let mut config = StorageConfig {
            retry: quick_retries(),
            ..StorageConfig::default()
        };
        config.azure.account_name = Some("devstoreaccount1".into());
        config.azure.sas_token = secret("sv=2022-11-02&sp=r&sig=SASSECRET");
        config.azure.endpoint = Some(format!("http://{address}/devstoreaccount1"));
        configurations.push(("azure with a SAS token", config, "abfs://cont/a".into()));
        let mut config = StorageConfig {
            retry: quick_retries(),
            ..StorageConfig::default()
        };
        config.azure.connection_string = secret(&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
             AccountKey=QUNDT1VOVEtFWVNFQ1JFVA==ACCOUNTKEYSECRET;\
             BlobEndpoint=http://{address}/devstoreaccount1"
        ));
        configurations.push(("azure with an account key", config, "abfs://cont/a".into()));
    }
    configurations
}

/// `error` as every path prints it: its `Display`, each cause, `{:?}`.
fn everything_said(error: &StorageError) -> String {
    let mut text = format!("{error}\n{error:?}\n");
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        text.push_str(&format!("{error}\n{error:?}\n"));
        cause = error.source();
    }
    text
}

/// Log lines captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_an_error_or_a_log_line_on_any_store() {
    let logs = Captured::default();
    let writer = logs.clone();
    // As the binary filters: this workspace's targets at the most verbose level, the
    // SDKs' at WARN.
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(
            Targets::new()
                .with_target("flyte", LevelFilter::TRACE)
                .with_default(LevelFilter::WARN),
        );
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("in.pb");
    std::fs::write(&local, b"inputs").expect("write");
    let mut checked = 0;
    for address in [dead_port(), closing_port()] {
        for (name, config, prefix) in configurations(address) {
            let storage = Storage::new(config);
            let uri = format!("{prefix}/in.pb");
            let failures = [
                ("get_bytes", storage.get_bytes(&uri).await.map(drop)),
                ("put_bytes", storage.put_bytes(&uri, &b"x"[..]).await),
                ("stat", storage.stat(&uri).await.map(drop)),
                ("list", storage.list(&prefix).await.map(drop)),
                (
                    "get_file",
                    storage
                        .get_file(&uri, &dir.path().join("got"))
                        .await
                        .map(drop),
                ),
                ("put_file", storage.put_file(&local, &uri).await.map(drop)),
            ];
            for (operation, result) in failures {
                let error = result.expect_err(&format!("{name} {operation} at {address}"));
                let said = everything_said(&error);
                for secret in SECRETS {
                    assert!(
                        !said.contains(secret),
                        "{name} {operation} at {address} says {secret}:\n{said}"
                    );
                }
                assert!(
                    said.contains(&prefix),
                    "{name} {operation}: names the URI: {said}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "every store was tried");
    let logs = String::from_utf8_lossy(&logs.0.lock().expect("lock")).into_owned();
    for secret in SECRETS {
        assert!(!logs.contains(secret), "a log line says {secret}:\n{logs}");
    }
}
