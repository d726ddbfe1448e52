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
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// The protocol version this supervisor speaks; `protocol.json` has the same.
pub(crate) const PROTOCOL_VERSION: u32 = 2;

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

impl Request {
    /// The name this request has on the wire.
    #[cfg(test)]
    fn name(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Stat { .. } => "stat",
            Request::List { .. } => "list",
            Request::GetFile { .. } => "get_file",
            Request::PutFile { .. } => "put_file",
            Request::GetDir { .. } => "get_dir",
            Request::PutDir { .. } => "put_dir",
            Request::Delete { .. } => "delete",
        }
    }
}

/// One response: `{"ok": …}` or `{"error": …}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Response {
    Ok(Reply),
    Error(BridgeFailure),
}

/// What a request that succeeded returns.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Reply {
    /// `hello`: the protocol spoken.
    Hello { protocol: u32 },
    /// `stat`.
    Stat(Stat),
    /// `list`: the objects, by key relative to the listed prefix.
    List { objects: Vec<Listed> },
    /// `get_dir`, `put_dir`: files and bytes moved.
    Directory { files: usize, bytes: u64 },
    /// `get_file`, `put_file`: bytes moved.
    File { bytes: u64 },
    /// `delete`.
    Done {},
}

/// What `stat` found.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Stat {
    File { size: u64 },
    Directory,
    Missing,
}

/// One listed object.
#[derive(Debug, Serialize)]
struct Listed {
    key: String,
    size: u64,
}

/// What kind of failure the worker turns into which Python exception.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum FailureKind {
    /// `FileNotFoundError`.
    NotFound,
    /// `PermissionError`.
    PermissionDenied,
    /// `NotADirectoryError`.
    NotADirectory,
    /// `ValueError`.
    Invalid,
    /// `OSError` (EIO).
    Io,
}

/// A failure, in the terms the worker turns into a Python exception.
#[derive(Debug, Serialize)]
struct BridgeFailure {
    kind: FailureKind,
    /// The error and every cause under it, so the root cause ("File name too long",
    /// "No space left on device") reaches the error document.
    message: String,
    uri: String,
    /// The operating system's error number at the root of the chain, if there is one,
    /// so that Python raises the OSError that names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    errno: Option<i32>,
}

/// How much of one cause a message carries: an SDK's error can be a whole dump of the
/// request and response, which belongs in a debug log, not in the error document.
const MAX_CAUSE_CHARS: usize = 500;

/// `error` and its causes, `top: cause: root`, each cut at [`MAX_CAUSE_CHARS`]. (Each
/// error prints only its own part, so nothing repeats.)
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut current = Some(error);
    while let Some(error) = current {
        let line: String = error.to_string().lines().collect::<Vec<_>>().join(" ");
        let line = match line.char_indices().nth(MAX_CAUSE_CHARS) {
            Some((at, _)) => format!("{}…", &line[..at]),
            None => line,
        };
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&line);
        current = error.source();
    }
    text
}

/// The OS error number of the deepest `io::Error` in `error`'s chain.
fn root_errno(error: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut found = None;
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(code) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            found = Some(code);
        }
        current = error.source();
    }
    found
}

impl BridgeFailure {
    fn from_storage(error: &StorageError) -> Self {
        let kind = match error {
            StorageError::NotFound { .. }
            | StorageError::NoSuchBucket { .. }
            | StorageError::DanglingLink { .. } => FailureKind::NotFound,
            StorageError::PermissionDenied { .. } => FailureKind::PermissionDenied,
            StorageError::NotADirectory { .. } => FailureKind::NotADirectory,
            StorageError::InvalidUri { .. }
            | StorageError::UnsupportedScheme { .. }
            | StorageError::Config { .. } => FailureKind::Invalid,
            _ => FailureKind::Io,
        };
        BridgeFailure {
            kind,
            message: chain(error),
            uri: error.uri().to_owned(),
            errno: root_errno(error),
        }
    }

    fn invalid(message: String) -> Self {
        BridgeFailure {
            kind: FailureKind::Invalid,
            message,
            uri: String::new(),
            errno: None,
        }
    }
}

/// Serves bridge connections on `listener` until dropped.
pub(crate) fn serve(listener: UnixListener, storage: Storage, metrics: Metrics) -> JoinHandle<()> {
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
                    Ok(reply) => Response::Ok(reply),
                    Err(failure) => Response::Error(failure),
                }
            }
            Err(error) => Response::Error(BridgeFailure::invalid(format!(
                "the supervisor does not understand this bridge request ({error}): {line}"
            ))),
        };
        let Ok(mut bytes) = serde_json::to_vec(&response) else {
            return;
        };
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
) -> Result<Reply, BridgeFailure> {
    let failed = |error: StorageError| BridgeFailure::from_storage(&error);
    Ok(match request {
        Request::Hello { protocol } => {
            if protocol != PROTOCOL_VERSION {
                return Err(BridgeFailure::invalid(format!(
                    "the worker speaks bridge protocol {protocol}, this supervisor speaks {PROTOCOL_VERSION}: \
                     the worker script and the binary come from different builds"
                )));
            }
            Reply::Hello {
                protocol: PROTOCOL_VERSION,
            }
        }
        Request::Stat { uri } => Reply::Stat(stat(storage, &uri).await.map_err(failed)?),
        Request::List { uri } => Reply::List {
            objects: storage
                .list(&uri)
                .await
                .map_err(failed)?
                .into_iter()
                .map(|object| Listed {
                    key: object.key,
                    size: object.size,
                })
                .collect(),
        },
        Request::GetFile { uri, path } => {
            let bytes = storage.get_file(&uri, &path).await.map_err(failed)?;
            metrics.bytes(Direction::Download, bytes);
            Reply::File { bytes }
        }
        Request::PutFile { path, uri } => {
            let bytes = storage.put_file(&path, &uri).await.map_err(failed)?;
            metrics.bytes(Direction::Upload, bytes);
            Reply::File { bytes }
        }
        Request::GetDir { uri, path } => {
            let summary = storage.get_dir(&uri, &path).await.map_err(failed)?;
            metrics.bytes(Direction::Download, summary.bytes);
            Reply::Directory {
                files: summary.files,
                bytes: summary.bytes,
            }
        }
        Request::PutDir { path, uri } => {
            let summary = storage.put_dir(&path, &uri).await.map_err(failed)?;
            metrics.bytes(Direction::Upload, summary.bytes);
            Reply::Directory {
                files: summary.files,
                bytes: summary.bytes,
            }
        }
        Request::Delete { uri } => {
            storage.delete(&uri).await.map_err(failed)?;
            Reply::Done {}
        }
    })
}

/// Whether `uri` is an object, a prefix with objects under it, or nothing.
///
/// An object's own answer comes first. When asking for it fails, a listing with objects
/// under `uri` still makes it a directory: some stores answer a HEAD of a key that is
/// also a "directory" with an error, not 404 (s3s-fs, which keeps objects as files, says
/// 500 "Is a directory"). The failure counts only when nothing is under `uri` either.
async fn stat(storage: &Storage, uri: &str) -> Result<Stat, StorageError> {
    let object = storage.stat(uri).await;
    if let Ok(Some(size)) = object {
        return Ok(Stat::File { size });
    }
    let listed = storage.has_objects_under(uri).await;
    match (object, listed) {
        (_, Ok(true)) => Ok(Stat::Directory),
        (Err(error), _) | (Ok(_), Err(error)) => Err(error),
        (Ok(_), Ok(_)) => Ok(Stat::Missing),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use flyte_storage::StorageConfig;
    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    fn table(list: &str) -> BTreeSet<String> {
        let table: Value =
            serde_json::from_str(include_str!("../protocol.json")).expect("protocol.json parses");
        table["bridge"][list]
            .as_array()
            .expect("a list")
            .iter()
            .map(|name| name.as_str().expect("a name").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_local_failure_carries_its_root_cause_and_os_error_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut stream, server) = connect(dir.path()).await;
        let source = dir.path().join("a.txt");
        std::fs::write(&source, "hello").expect("write");
        // A file name longer than any file system takes.
        let target = format!("file://{}/{}", dir.path().display(), "n".repeat(300));
        let response = call(
            &mut stream,
            json!({"op": "put_file", "path": source, "uri": target}),
        )
        .await;
        let message = response["error"]["message"].as_str().expect("a message");
        assert!(message.contains("File name too long"), "{message}");
        assert_eq!(response["error"]["errno"], json!(36), "ENAMETOOLONG");
        server.abort();
    }

    #[test]
    fn causes_are_chained_once_each_and_cut() {
        let io = std::io::Error::other("x".repeat(2000));
        let error = StorageError::Io {
            uri: "/p".into(),
            source: io,
        };
        let text = chain(&error);
        assert!(text.starts_with("I/O error on /p"), "{text}");
        assert!(
            text.len() < 1000,
            "an enormous cause is cut: {}",
            text.len()
        );
        assert!(text.ends_with('…'));
        let short = StorageError::Io {
            uri: "/p".into(),
            source: std::io::Error::other("disk on fire"),
        };
        let text = chain(&short);
        assert_eq!(text.matches("/p").count(), 1, "{text}");
        assert_eq!(text.matches("disk on fire").count(), 1, "{text}");
    }

    #[test]
    fn the_bridge_speaks_the_tables_names_and_version() {
        let table_json: Value =
            serde_json::from_str(include_str!("../protocol.json")).expect("protocol.json parses");
        assert_eq!(table_json["bridge"]["version"], json!(PROTOCOL_VERSION));

        let requests = [
            json!({"op": "hello", "protocol": PROTOCOL_VERSION}),
            json!({"op": "stat", "uri": "u"}),
            json!({"op": "list", "uri": "u"}),
            json!({"op": "get_file", "uri": "u", "path": "p"}),
            json!({"op": "put_file", "uri": "u", "path": "p"}),
            json!({"op": "get_dir", "uri": "u", "path": "p"}),
            json!({"op": "put_dir", "uri": "u", "path": "p"}),
            json!({"op": "delete", "uri": "u"}),
        ];
        let mut names = BTreeSet::new();
        for wire in requests {
            let request: Request = serde_json::from_value(wire.clone()).expect("parses");
            assert_eq!(wire["op"], json!(request.name()));
            names.insert(request.name().to_owned());
        }
        assert_eq!(names, table("requests"));

        let stat_types: BTreeSet<String> = [Stat::File { size: 1 }, Stat::Directory, Stat::Missing]
            .iter()
            .map(|stat| {
                let wire = serde_json::to_value(stat).expect("serializes");
                wire["type"].as_str().expect("a type").to_owned()
            })
            .collect();
        assert_eq!(stat_types, table("stat_types"));

        let kinds: BTreeSet<String> = [
            FailureKind::NotFound,
            FailureKind::PermissionDenied,
            FailureKind::NotADirectory,
            FailureKind::Invalid,
            FailureKind::Io,
        ]
        .iter()
        .map(|kind| {
            serde_json::to_value(kind)
                .expect("serializes")
                .as_str()
                .expect("a name")
                .to_owned()
        })
        .collect();
        assert_eq!(kinds, table("failure_kinds"));
    }

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
            call(
                &mut stream,
                json!({"op": "hello", "protocol": PROTOCOL_VERSION})
            )
            .await,
            json!({"ok": {"protocol": PROTOCOL_VERSION}})
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
