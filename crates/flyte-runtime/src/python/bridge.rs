//! The supervisor's side of the storage bridge: the worker's fsspec calls for remote
//! protocols (fsspec_bridge.py) arrive here and are served by flyte-storage.
//!
//! One JSON request per line, one JSON response per line, per connection; the worker
//! opens one connection per thread, and each is served by its own task, so transfers
//! from concurrent Python threads run concurrently. Data never crosses the socket: the
//! worker names local files, and the supervisor moves bytes between them and the store.
//! The protocol is documented in docs/bridge.md.

use std::path::PathBuf;

use flyte_storage::{Storage, StorageError};
use flyte_telemetry::{Direction, Metrics};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// The protocol version this supervisor speaks.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

/// One request from the worker.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    /// The first request on every connection.
    Hello { protocol: u32 },
    /// Is `uri` an object (with its size), a prefix with objects under it, or nothing?
    Stat { uri: String },
    /// Every object under the prefix `uri`, recursively.
    List { uri: String },
    /// Download the object `uri` to the local file `path`.
    GetFile { uri: String, path: PathBuf },
    /// Upload the local file `path` to the object `uri`.
    PutFile { path: PathBuf, uri: String },
    /// Download every object under `uri` into the local directory `path`.
    GetDir { uri: String, path: PathBuf },
    /// Upload every file under the local directory `path` to the prefix `uri`.
    PutDir { path: PathBuf, uri: String },
    /// Delete the object `uri`.
    Delete { uri: String },
}

/// A failure, in the terms the worker turns into a Python exception.
#[derive(Debug, Serialize)]
struct BridgeFailure {
    /// `not_found`, `permission_denied`, `not_a_directory`, `invalid` or `io`.
    kind: &'static str,
    message: String,
    uri: String,
}

impl BridgeFailure {
    fn from_storage(error: &StorageError) -> Self {
        let kind = match error {
            StorageError::NotFound { .. } | StorageError::NoSuchBucket { .. } => "not_found",
            StorageError::PermissionDenied { .. } => "permission_denied",
            StorageError::NotADirectory { .. } => "not_a_directory",
            StorageError::InvalidUri { .. }
            | StorageError::UnsupportedScheme { .. }
            | StorageError::Config { .. } => "invalid",
            _ => "io",
        };
        BridgeFailure {
            kind,
            message: error.to_string(),
            uri: error.uri().to_owned(),
        }
    }
}

/// Serves bridge connections on `listener` until dropped.
pub(super) fn serve(listener: UnixListener, storage: Storage, metrics: Metrics) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (storage, metrics) = (storage.clone(), metrics.clone());
                    tokio::spawn(async move { serve_connection(stream, &storage, &metrics).await });
                }
                Err(error) => {
                    warn!("the storage bridge stopped accepting connections: {error}");
                    return;
                }
            }
        }
    })
}

async fn serve_connection(stream: UnixStream, storage: &Storage, metrics: &Metrics) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                debug!(?request, "bridge request");
                match handle(request, storage, metrics).await {
                    Ok(value) => json!({ "ok": value }),
                    Err(failure) => json!({ "error": failure }),
                }
            }
            Err(error) => json!({ "error": BridgeFailure {
                kind: "invalid",
                message: format!("the supervisor does not understand this bridge request ({error}): {line}"),
                uri: String::new(),
            }}),
        };
        let mut bytes = response.to_string().into_bytes();
        bytes.push(b'\n');
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

async fn handle(
    request: Request,
    storage: &Storage,
    metrics: &Metrics,
) -> Result<Value, BridgeFailure> {
    let failed = |error: StorageError| BridgeFailure::from_storage(&error);
    Ok(match request {
        Request::Hello { protocol } => {
            if protocol != PROTOCOL_VERSION {
                return Err(BridgeFailure {
                    kind: "invalid",
                    message: format!(
                        "the worker speaks bridge protocol {protocol}, this supervisor speaks {PROTOCOL_VERSION}: \
                         the worker script and the binary come from different builds"
                    ),
                    uri: String::new(),
                });
            }
            json!({ "protocol": PROTOCOL_VERSION })
        }
        Request::Stat { uri } => {
            if let Some(size) = storage.stat(&uri).await.map_err(failed)? {
                json!({ "type": "file", "size": size })
            } else if !storage.list(&uri).await.map_err(failed)?.is_empty() {
                json!({ "type": "directory" })
            } else {
                json!({ "type": "missing" })
            }
        }
        Request::List { uri } => {
            let objects = storage.list(&uri).await.map_err(failed)?;
            let objects: Vec<Value> = objects
                .iter()
                .map(|o| json!({ "key": o.key, "size": o.size }))
                .collect();
            json!({ "objects": objects })
        }
        Request::GetFile { uri, path } => {
            let bytes = storage.get_file(&uri, &path).await.map_err(failed)?;
            metrics.bytes(Direction::Download, bytes);
            json!({ "bytes": bytes })
        }
        Request::PutFile { path, uri } => {
            let bytes = storage.put_file(&path, &uri).await.map_err(failed)?;
            metrics.bytes(Direction::Upload, bytes);
            json!({ "bytes": bytes })
        }
        Request::GetDir { uri, path } => {
            let summary = storage.get_dir(&uri, &path).await.map_err(failed)?;
            metrics.bytes(Direction::Download, summary.bytes);
            json!({ "files": summary.files, "bytes": summary.bytes })
        }
        Request::PutDir { path, uri } => {
            let summary = storage.put_dir(&path, &uri).await.map_err(failed)?;
            metrics.bytes(Direction::Upload, summary.bytes);
            json!({ "files": summary.files, "bytes": summary.bytes })
        }
        Request::Delete { uri } => {
            storage.delete(&uri).await.map_err(failed)?;
            json!({})
        }
    })
}

#[cfg(test)]
mod tests {
    use flyte_storage::StorageConfig;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// A bridge over local storage and a client connection to it.
    async fn connect(dir: &std::path::Path) -> (UnixStream, JoinHandle<()>) {
        let socket = dir.join("bridge.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        let server = serve(
            listener,
            Storage::new(StorageConfig::default()),
            Metrics::disabled(),
        );
        (UnixStream::connect(&socket).await.expect("connect"), server)
    }

    async fn call(stream: &mut UnixStream, request: Value) -> Value {
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        stream.write_all(&line).await.expect("send");
        let mut response = String::new();
        BufReader::new(&mut *stream)
            .read_line(&mut response)
            .await
            .expect("receive");
        serde_json::from_str(&response).expect("JSON response")
    }

    #[tokio::test]
    async fn files_and_directories_move_and_stat_reports_what_is_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut stream, server) = connect(dir.path()).await;
        let store = format!("file://{}/store", dir.path().display());
        assert_eq!(
            call(&mut stream, json!({"op": "hello", "protocol": 1})).await,
            json!({"ok": {"protocol": 1}})
        );

        let local = dir.path().join("a.txt");
        std::fs::write(&local, "hello").expect("write");
        let put = call(
            &mut stream,
            json!({"op": "put_file", "path": local, "uri": format!("{store}/d/a.txt")}),
        )
        .await;
        assert_eq!(put, json!({"ok": {"bytes": 5}}));
        let stat = call(
            &mut stream,
            json!({"op": "stat", "uri": format!("{store}/d/a.txt")}),
        )
        .await;
        assert_eq!(stat, json!({"ok": {"type": "file", "size": 5}}));
        let stat = call(
            &mut stream,
            json!({"op": "stat", "uri": format!("{store}/d")}),
        )
        .await;
        assert_eq!(stat, json!({"ok": {"type": "directory"}}));
        let stat = call(
            &mut stream,
            json!({"op": "stat", "uri": format!("{store}/nothing")}),
        )
        .await;
        assert_eq!(stat, json!({"ok": {"type": "missing"}}));

        let copy = dir.path().join("copy");
        let get = call(
            &mut stream,
            json!({"op": "get_dir", "uri": format!("{store}/d"), "path": copy}),
        )
        .await;
        assert_eq!(get, json!({"ok": {"files": 1, "bytes": 5}}));
        assert_eq!(
            std::fs::read_to_string(copy.join("a.txt")).expect("read"),
            "hello"
        );
        let list = call(
            &mut stream,
            json!({"op": "list", "uri": format!("{store}/d")}),
        )
        .await;
        assert_eq!(
            list,
            json!({"ok": {"objects": [{"key": "a.txt", "size": 5}]}})
        );
        server.abort();
    }

    #[tokio::test]
    async fn failures_come_back_as_kinds_the_worker_maps_to_python_exceptions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut stream, server) = connect(dir.path()).await;
        let missing = format!("file://{}/missing.txt", dir.path().display());
        let response = call(
            &mut stream,
            json!({"op": "get_file", "uri": missing, "path": dir.path().join("x")}),
        )
        .await;
        assert_eq!(response["error"]["kind"], "not_found");
        assert!(
            response["error"]["message"]
                .as_str()
                .expect("message")
                .contains("missing.txt")
        );
        let response = call(&mut stream, json!({"op": "stat", "uri": "ftp://host/x"})).await;
        assert_eq!(response["error"]["kind"], "invalid");
        let response = call(&mut stream, json!({"op": "hello", "protocol": 99})).await;
        assert_eq!(response["error"]["kind"], "invalid");
        let response = call(&mut stream, json!({"op": "teleport"})).await;
        assert_eq!(response["error"]["kind"], "invalid");
        server.abort();
    }
}
