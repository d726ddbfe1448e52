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
        BridgeFailure { kind, message: error.to_string(), uri: error.uri().to_owned() }
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

async fn handle(request: Request, storage: &Storage, metrics: &Metrics) -> Result<Value, BridgeFailure> {
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
            let objects: Vec<Value> =
                objects.iter().map(|o| json!({ "key": o.key, "size": o.size })).collect();
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
