//! The supervisor's side of the storage bridge: the worker's fsspec calls for remote
//! protocols (fsspec_bridge.py) arrive here and are served by flyte-storage.
//!
//! One JSON request per line, one JSON response per line, per connection; the worker
//! opens one connection per thread, and each is served by its own task, so transfers
//! from concurrent Python threads run concurrently. Data never crosses the socket: the
//! worker names local files, and the supervisor moves bytes between them and the store.
//! The protocol is documented in docs/bridge.md.
//!
//! Any process of the container's user can connect to the socket, and the task shares
//! the worker's process: so a connection is served only after a `hello` carrying the
//! run's token, every request line is read with a bound ([`MAX_REQUEST_BYTES`]), and a
//! connection that breaks the protocol (no `hello` in time, a wrong token, an overlong
//! or unreadable line) gets one `invalid` error saying why, is closed, and is logged.
//! Nothing a connection sends can stop the bridge serving the others.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flyte_storage::{Storage, StorageError};
use flyte_telemetry::{Direction, Metrics};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::control::{HELLO_TIMEOUT, same_token};
use crate::lines::{BoundedLines, Line};

/// The protocol version this supervisor speaks; `protocol.json` has the same.
/// Version 3 added the token to `hello`, and enforces that `hello` comes first.
pub(crate) const PROTOCOL_VERSION: u32 = 3;

/// The longest request line served. A request names one URI and one local path (Linux
/// allows 4 KiB for a path; URIs are no longer in practice), so a line over this is not
/// a request. Replies are not bounded: the supervisor writes them, and a `list` of a
/// large prefix is legitimately long (about 60 bytes per key).
pub(crate) const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// How long the bridge pauses accepting after accepting failed (out of descriptors,
/// say), before it tries again: the worker's later connections must still be served.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// One request from the worker.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    /// The first request on every connection, with the run's token.
    Hello {
        protocol: u32,
        #[serde(default)]
        token: String,
    },
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
    fn op(&self) -> &'static str {
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

/// Serves bridge connections on `listener` until dropped; a connection is served once
/// its `hello` carries `token`.
pub(crate) fn serve(
    listener: UnixListener,
    storage: Storage,
    metrics: Metrics,
    token: Arc<str>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (storage, metrics, token) =
                        (storage.clone(), metrics.clone(), Arc::clone(&token));
                    tokio::spawn(async move {
                        serve_connection(stream, &storage, &metrics, &token).await;
                    });
                }
                Err(error) => {
                    // Out of descriptors, say: transient, and the worker's next
                    // connection must still be served.
                    warn!("the storage bridge could not accept a connection: {error}");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            }
        }
    })
}

/// Why a bridge connection was closed.
#[derive(Debug, thiserror::Error)]
enum Broken {
    #[error("it said nothing within {0:?}")]
    Silent(Duration),
    #[error("its first request was not a hello ({0})")]
    NoHello(&'static str),
    #[error("its hello did not carry this run's token")]
    WrongToken,
    #[error(
        "it speaks bridge protocol {0}, this supervisor speaks {PROTOCOL_VERSION}: the worker \
         script and the binary come from different builds"
    )]
    Version(u32),
    #[error("it sent a second hello")]
    SecondHello,
    #[error("it sent a request line over the limit of {MAX_REQUEST_BYTES} bytes ({0} read)")]
    TooLong(u64),
    #[error("it sent a request line of {0} bytes that is not UTF-8")]
    NotUtf8(usize),
    #[error("it sent a line that is not a bridge request ({0})")]
    NotARequest(serde_json::Error),
}

async fn serve_connection(stream: UnixStream, storage: &Storage, metrics: &Metrics, token: &str) {
    let (read, mut write) = stream.into_split();
    let mut lines = BoundedLines::new(BufReader::new(read), MAX_REQUEST_BYTES).cut_at_limit();
    let mut greeted = false;
    loop {
        let next = if greeted {
            lines.next_line().await
        } else {
            match tokio::time::timeout(HELLO_TIMEOUT, lines.next_line()).await {
                Ok(next) => next,
                Err(_) => {
                    refuse(lines, write, Broken::Silent(HELLO_TIMEOUT)).await;
                    return;
                }
            }
        };
        let Ok(Some(line)) = next else {
            return;
        };
        let request = match line {
            Line::Text(text) => serde_json::from_str::<Request>(&text).map_err(Broken::NotARequest),
            Line::TooLong { bytes } => Err(Broken::TooLong(bytes)),
            Line::NotUtf8 { bytes } => Err(Broken::NotUtf8(bytes)),
        };
        let reply = match (request, greeted) {
            (Err(broken), _) => Err(broken),
            (
                Ok(Request::Hello {
                    protocol,
                    token: given,
                }),
                false,
            ) => {
                if !same_token(&given, token) {
                    Err(Broken::WrongToken)
                } else if protocol != PROTOCOL_VERSION {
                    Err(Broken::Version(protocol))
                } else {
                    greeted = true;
                    Ok(Ok(Reply::Hello {
                        protocol: PROTOCOL_VERSION,
                    }))
                }
            }
            (Ok(Request::Hello { .. }), true) => Err(Broken::SecondHello),
            (Ok(request), false) => Err(Broken::NoHello(request.op())),
            (Ok(request), true) => {
                debug!(?request, "bridge request");
                Ok(handle(request, storage, metrics).await)
            }
        };
        let response = match reply {
            Ok(Ok(reply)) => Response::Ok(reply),
            Ok(Err(failure)) => Response::Error(failure),
            Err(broken) => {
                refuse(lines, write, broken).await;
                return;
            }
        };
        if !respond(&mut write, &response).await {
            return;
        }
    }
}

/// How long a refused peer's further bytes are read and thrown away before its
/// connection is closed: closing a socket with unread bytes resets it, and the reset
/// can overtake the refusal.
const DRAIN_BEFORE_CLOSE: Duration = Duration::from_secs(1);

/// Tells the peer why it is cut off, logs it, and closes the connection.
async fn refuse(
    lines: BoundedLines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    mut write: tokio::net::unix::OwnedWriteHalf,
    broken: Broken,
) {
    let message = format!("the storage bridge closed this connection: {broken}");
    warn!("{message}");
    let _ = respond(
        &mut write,
        &Response::Error(BridgeFailure::invalid(message)),
    )
    .await;
    let _ = write.shutdown().await;
    let mut reader = lines.into_inner();
    let _ = tokio::time::timeout(
        DRAIN_BEFORE_CLOSE,
        tokio::io::copy(&mut reader, &mut tokio::io::sink()),
    )
    .await;
}

/// Writes one response line; `false` when the peer is gone.
async fn respond(write: &mut tokio::net::unix::OwnedWriteHalf, response: &Response) -> bool {
    let Ok(mut bytes) = serde_json::to_vec(response) else {
        return false;
    };
    bytes.push(b'\n');
    write.write_all(&bytes).await.is_ok()
}

async fn handle(
    request: Request,
    storage: &Storage,
    metrics: &Metrics,
) -> Result<Reply, BridgeFailure> {
    let failed = |error: StorageError| BridgeFailure::from_storage(&error);
    Ok(match request {
        // Answered by the connection itself, before any other request.
        Request::Hello { .. } => Reply::Hello {
            protocol: PROTOCOL_VERSION,
        },
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
            json!({"op": "hello", "protocol": PROTOCOL_VERSION, "token": "t"}),
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
            assert_eq!(wire["op"], json!(request.op()));
            names.insert(request.op().to_owned());
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

    const TOKEN: &str = "the-runs-token";

    /// A bridge over local storage and a client connection to it that said hello.
    async fn connect(dir: &std::path::Path) -> (UnixStream, JoinHandle<()>) {
        let (mut stream, server) = connect_without_hello(dir).await;
        assert_eq!(
            call(
                &mut stream,
                json!({"op": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN})
            )
            .await,
            json!({"ok": {"protocol": PROTOCOL_VERSION}})
        );
        (stream, server)
    }

    /// A bridge over local storage and a fresh connection to it.
    async fn connect_without_hello(dir: &std::path::Path) -> (UnixStream, JoinHandle<()>) {
        let socket = dir.join("bridge.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).expect("bind");
        let server = serve(
            listener,
            Storage::new(StorageConfig::default()),
            Metrics::disabled(),
            TOKEN.into(),
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
        server.abort();
    }

    /// Sends `line` on a fresh connection and reads what the bridge answers until it
    /// closes the connection.
    async fn cut_off_after(line: &[u8]) -> Vec<Value> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (stream, server) = connect_without_hello(dir.path()).await;
        let (read, mut write) = stream.into_split();
        let line = line.to_vec();
        // Written concurrently: a flood is cut off before it is all written.
        let writer = tokio::spawn(async move { write.write_all(&line).await.is_ok() });
        let mut replies = Vec::new();
        let mut lines = BufReader::new(read).lines();
        let bound = Duration::from_secs(60);
        while let Some(reply) = tokio::time::timeout(bound, lines.next_line())
            .await
            .expect("the bridge closed the connection in time")
            .expect("read")
        {
            replies.push(serde_json::from_str(&reply).expect("JSON"));
        }
        let _ = writer.await;
        server.abort();
        replies
    }

    fn the_one_refusal(replies: &[Value], saying: &str) {
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(replies[0]["error"]["kind"], "invalid", "{replies:?}");
        let message = replies[0]["error"]["message"].as_str().expect("message");
        assert!(message.contains(saying), "{message}");
    }

    #[tokio::test]
    async fn a_connection_without_the_runs_token_is_refused_and_closed() {
        let wrong = json!({"op": "hello", "protocol": PROTOCOL_VERSION, "token": "guess"});
        the_one_refusal(
            &cut_off_after(format!("{wrong}\n").as_bytes()).await,
            "token",
        );
        let missing = json!({"op": "hello", "protocol": PROTOCOL_VERSION});
        the_one_refusal(
            &cut_off_after(format!("{missing}\n").as_bytes()).await,
            "token",
        );
        let first = json!({"op": "delete", "uri": "file:///etc/passwd"});
        the_one_refusal(
            &cut_off_after(format!("{first}\n").as_bytes()).await,
            "not a hello (delete)",
        );
    }

    #[tokio::test]
    async fn a_hello_of_another_protocol_version_is_refused_naming_both() {
        let hello = json!({"op": "hello", "protocol": 99, "token": TOKEN});
        the_one_refusal(
            &cut_off_after(format!("{hello}\n").as_bytes()).await,
            "protocol 99, this supervisor speaks 3",
        );
    }

    #[tokio::test]
    async fn a_flood_without_a_newline_is_refused_at_the_limit_without_being_kept() {
        let flood = vec![b'x'; 4 * MAX_REQUEST_BYTES];
        the_one_refusal(&cut_off_after(&flood).await, "over the limit");
    }

    #[tokio::test]
    async fn junk_after_hello_is_refused_and_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut stream, server) = connect(dir.path()).await;
        let response = call(&mut stream, json!({"op": "teleport"})).await;
        assert_eq!(response["error"]["kind"], "invalid");
        let mut rest = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest)
            .await
            .expect("read");
        assert!(rest.is_empty(), "the connection was closed");
        server.abort();
    }

    #[tokio::test]
    async fn a_refused_connection_leaves_the_bridge_serving_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut good, server) = connect(dir.path()).await;
        let socket = dir.path().join("bridge.sock");
        let mut junk = UnixStream::connect(&socket).await.expect("connect");
        junk.write_all(b"junk\n").await.expect("written");
        let stat = call(
            &mut good,
            json!({"op": "stat", "uri": format!("file://{}/nothing", dir.path().display())}),
        )
        .await;
        assert_eq!(stat, json!({"ok": {"type": "missing"}}));
        server.abort();
    }
}
