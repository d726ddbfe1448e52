//! Bytes and files to messages and back.
//!
//! Decoding never panics: bytes that are not the expected message come back as
//! [`ProtoError::Decode`], naming the file and what it should have held. Writes are
//! atomic: a reader sees the old file or the complete new one, never a prefix of it.
//!
//! ```
//! use flyte_proto::{core::LiteralMap, files, io, literal};
//!
//! # fn main() -> Result<(), flyte_proto::ProtoError> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let path = dir.path().join(files::OUTPUTS_FILE);
//! io::write_literal_map(&path, &literal::literal_map([("o0", literal::integer(1))]))?;
//!
//! // The same bytes, from a file or from anywhere else (an object store, a socket).
//! let bytes = std::fs::read(&path).expect("read");
//! let outputs: LiteralMap = io::decode(&bytes)?;
//! assert_eq!(outputs, io::read_literal_map(&path)?);
//! assert_eq!(io::encode(&outputs), bytes);
//! # Ok(())
//! # }
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use prost::{Message, Name};
use rustix::fs::{AtFlags, CWD, Mode, OFlags};

use crate::core::{DynamicJobSpec, ErrorDocument, LiteralMap};

/// Everything that can go wrong reading or writing a message.
///
/// ```
/// use flyte_proto::{ProtoError, io};
///
/// let error = io::read_literal_map("/nonexistent/inputs.pb").unwrap_err();
/// assert_eq!(error.to_string(), "cannot read /nonexistent/inputs.pb");
/// match &error {
///     ProtoError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {}
///     ProtoError::Decode { what, path, .. } => panic!("{path:?} is not a {what}"),
///     other => panic!("unexpected: {other}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The file system refused an operation on `path`.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What we were doing, in words: "read", "write", "rename into place" …
        action: &'static str,
        /// The file (or directory) concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid encoding of the expected message.
    #[error(
        "{} is not a valid {what}: {}",
        path.as_deref().map_or_else(|| "the data".to_owned(), |p| p.display().to_string()),
        decode_hint(what)
    )]
    Decode {
        /// The protobuf name of the message that was expected (its [`prost::Name`]),
        /// e.g. `flyteidl.core.LiteralMap`.
        what: String,
        /// The file the bytes came from, when they came from one.
        path: Option<PathBuf>,
        /// What prost found wrong.
        source: prost::DecodeError,
    },
}

/// What the user should suspect when bytes do not decode as the message named `what`.
fn decode_hint(what: &str) -> &'static str {
    if what == LiteralMap::full_name() {
        "the file is corrupt or is not an inputs.pb/outputs.pb"
    } else if what == ErrorDocument::full_name() {
        "the file is corrupt or is not an error.pb"
    } else if what == DynamicJobSpec::full_name() {
        "the file is corrupt or is not a futures.pb"
    } else {
        "the data is corrupt or holds a different message"
    }
}

/// Decodes `bytes` as an `M`; errors name the message by its protobuf name.
///
/// ```
/// use flyte_proto::{core::LiteralMap, io};
/// let err = io::decode::<LiteralMap>(b"\xff\xff").unwrap_err();
/// assert!(err.to_string().starts_with("the data is not a valid flyteidl.core.LiteralMap"));
/// ```
pub fn decode<M: Message + Name + Default>(bytes: &[u8]) -> Result<M, ProtoError> {
    M::decode(bytes).map_err(|source| ProtoError::Decode {
        what: M::full_name(),
        path: None,
        source,
    })
}

/// Encodes `message`. Map entries come out in key byte order, so equal messages encode
/// to equal bytes.
///
/// ```
/// use flyte_proto::{io, literal};
/// let outputs = literal::literal_map([("b", literal::integer(2)), ("a", literal::integer(1))]);
/// let bytes = io::encode(&outputs);
/// assert_eq!(io::encode(&outputs.clone()), bytes);
/// assert_eq!(io::decode::<flyte_proto::core::LiteralMap>(&bytes).ok(), Some(outputs));
/// ```
pub fn encode<M: Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}

/// Reads and decodes the `M` stored at `path`. Errors name the file and the message by
/// its protobuf name (e.g. `flyteidl.core.TaskTemplate`).
///
/// ```
/// use flyte_proto::core::TaskTemplate;
/// use flyte_proto::io;
///
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// # let dir = tempfile::tempdir().expect("temp dir");
/// # let path = dir.path().join("task.pb");
/// # let task = TaskTemplate { r#type: "python-task".into(), ..Default::default() };
/// # io::write_message(&path, &task)?;
/// let task: TaskTemplate = io::read_message(&path)?;
/// assert_eq!(task.r#type, "python-task");
/// # Ok(())
/// # }
/// ```
pub fn read_message<M: Message + Name + Default>(path: impl AsRef<Path>) -> Result<M, ProtoError> {
    read_as(path.as_ref())
}

/// Encodes `message` and writes it to `path` atomically: the bytes go to a temporary
/// file in the same directory, are flushed to disk, and the file is renamed over `path`.
/// The directory must exist.
///
/// ```
/// use flyte_proto::core::TaskTemplate;
/// use flyte_proto::io;
///
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// let dir = tempfile::tempdir().expect("temp dir");
/// let task = TaskTemplate { r#type: "python-task".into(), ..Default::default() };
/// io::write_message(dir.path().join("task.pb"), &task)?;
/// assert_eq!(io::read_message::<TaskTemplate>(dir.path().join("task.pb"))?, task);
/// # Ok(())
/// # }
/// ```
pub fn write_message<M: Message>(path: impl AsRef<Path>, message: &M) -> Result<(), ProtoError> {
    write_atomically(path.as_ref(), &message.encode_to_vec())
}

/// Reads a `LiteralMap` (an inputs.pb or outputs.pb).
///
/// ```
/// use flyte_proto::{files, io};
///
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// # let dir = tempfile::tempdir().expect("temp dir");
/// # let path = dir.path().join(files::INPUTS_FILE);
/// # let inputs = flyte_proto::literal::literal_map([("n", flyte_proto::literal::integer(3))]);
/// # io::write_literal_map(&path, &inputs)?;
/// let inputs = io::read_literal_map(&path)?;
/// let n = inputs.literals.get("n").and_then(|n| n.as_integer());
/// assert_eq!(n, Some(3));
/// # Ok(())
/// # }
/// ```
pub fn read_literal_map(path: impl AsRef<Path>) -> Result<LiteralMap, ProtoError> {
    read_as(path.as_ref())
}

/// Writes a `LiteralMap` atomically (see [`write_message`]).
///
/// ```
/// use flyte_proto::{files, io, literal};
///
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// let output_dir = tempfile::tempdir().expect("temp dir");
/// let outputs = literal::literal_map([("o0", literal::string("done"))]);
/// io::write_literal_map(output_dir.path().join(files::OUTPUTS_FILE), &outputs)?;
/// # assert_eq!(io::read_literal_map(output_dir.path().join(files::OUTPUTS_FILE))?, outputs);
/// # Ok(())
/// # }
/// ```
pub fn write_literal_map(path: impl AsRef<Path>, map: &LiteralMap) -> Result<(), ProtoError> {
    write_message(path, map)
}

/// Reads an `ErrorDocument` (an error.pb).
///
/// ```
/// use flyte_proto::core::{ContainerError, ErrorDocument};
/// use flyte_proto::{files, io};
///
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// # let dir = tempfile::tempdir().expect("temp dir");
/// # let path = dir.path().join(files::ERROR_FILE);
/// # let error = ContainerError { code: "USER:ValueError".into(), ..Default::default() };
/// # io::write_error_document(&path, &ErrorDocument { error: Some(error) })?;
/// let document = io::read_error_document(&path)?;
/// let code = document.error.as_ref().map(|e| e.code.as_str());
/// assert_eq!(code, Some("USER:ValueError"));
/// # Ok(())
/// # }
/// ```
pub fn read_error_document(path: impl AsRef<Path>) -> Result<ErrorDocument, ProtoError> {
    read_as(path.as_ref())
}

/// Writes an `ErrorDocument` atomically (see [`write_message`]).
///
/// ```
/// use flyte_proto::core::{ContainerError, ErrorDocument, container_error::Kind};
/// use flyte_proto::{files, io};
///
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// let output_dir = tempfile::tempdir().expect("temp dir");
/// let document = ErrorDocument {
///     error: Some(ContainerError {
///         code: "USER:ValueError".into(),
///         message: "the input was negative".into(),
///         kind: Kind::NonRecoverable.into(),
///         ..Default::default()
///     }),
/// };
/// io::write_error_document(output_dir.path().join(files::ERROR_FILE), &document)?;
/// # assert_eq!(io::read_error_document(output_dir.path().join(files::ERROR_FILE))?, document);
/// # Ok(())
/// # }
/// ```
pub fn write_error_document(
    path: impl AsRef<Path>,
    document: &ErrorDocument,
) -> Result<(), ProtoError> {
    write_message(path, document)
}

/// Reads a `DynamicJobSpec` (a futures.pb).
///
/// ```
/// use flyte_proto::{core::DynamicJobSpec, files, io};
///
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// # let dir = tempfile::tempdir().expect("temp dir");
/// # let path = dir.path().join(files::FUTURES_FILE);
/// # let spec = DynamicJobSpec { min_successes: 2, ..Default::default() };
/// # io::write_dynamic_job_spec(&path, &spec)?;
/// let spec = io::read_dynamic_job_spec(&path)?;
/// assert_eq!((spec.nodes.len(), spec.min_successes), (0, 2));
/// # Ok(())
/// # }
/// ```
pub fn read_dynamic_job_spec(path: impl AsRef<Path>) -> Result<DynamicJobSpec, ProtoError> {
    read_as(path.as_ref())
}

/// Writes a `DynamicJobSpec` atomically (see [`write_message`]).
///
/// ```
/// use flyte_proto::{core::DynamicJobSpec, files, io};
///
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// let output_dir = tempfile::tempdir().expect("temp dir");
/// let spec = DynamicJobSpec { min_successes: 2, ..Default::default() };
/// io::write_dynamic_job_spec(output_dir.path().join(files::FUTURES_FILE), &spec)?;
/// # assert_eq!(io::read_dynamic_job_spec(output_dir.path().join(files::FUTURES_FILE))?, spec);
/// # Ok(())
/// # }
/// ```
pub fn write_dynamic_job_spec(
    path: impl AsRef<Path>,
    spec: &DynamicJobSpec,
) -> Result<(), ProtoError> {
    write_message(path, spec)
}

fn read_as<M: Message + Name + Default>(path: &Path) -> Result<M, ProtoError> {
    let bytes = fs::read(path).map_err(|source| ProtoError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    M::decode(bytes.as_slice()).map_err(|source| ProtoError::Decode {
        what: M::full_name(),
        path: Some(path.to_owned()),
        source,
    })
}

/// Writes `bytes` to a fresh temporary file beside `path` and renames it over `path`.
///
/// The directory is opened once and everything after is relative to its descriptor:
/// the temporary file is created there (`O_EXCL`, `O_NOFOLLOW`: never through a link
/// planted at its name), written and synced through the descriptor its creation
/// returned, and renamed within that directory. So a process that can write to the
/// directory cannot make this write land anywhere else.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ProtoError> {
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| ProtoError::Io {
            action,
            path,
            source,
        }
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(io_error("write", path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file",
        )));
    };
    let temporary = temporary_path_beside(path);
    let temporary_name = temporary.file_name().unwrap_or(name);

    let dir = rustix::fs::openat(
        CWD,
        directory,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error("create a temporary file", &temporary)(e.into()))?;
    // O_EXCL: never clobber a file someone else (another writer) is using as its own
    // temporary; the name is unique per process and call, so a clash means a stale file.
    let created = rustix::fs::openat(
        &dir,
        temporary_name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )
    .map(File::from)
    .map_err(|e| io_error("create a temporary file", &temporary)(e.into()))?;
    let written = Ok(created)
        .and_then(|mut file: File| {
            file.write_all(bytes)
                .map_err(io_error("write", &temporary))?;
            // Without this, a crash after the rename could leave an empty or partial file
            // under the final name on some file systems.
            file.sync_all()
                .map_err(io_error("flush to disk", &temporary))
        })
        .and_then(|()| {
            rustix::fs::renameat(&dir, temporary_name, &dir, name)
                .map_err(|e| io_error("rename into place", path)(e.into()))
        });
    if written.is_err() {
        // Best effort: the temporary is garbage now, and the original error is what matters.
        let _ = rustix::fs::unlinkat(&dir, temporary_name, AtFlags::empty());
        return written;
    }
    // Makes the rename itself durable. Best effort: some file systems cannot sync a
    // directory, and the file's content is already safe by then.
    let _ = File::from(dir).sync_all();
    Ok(())
}

/// `<dir>/.<name>.<pid>.<n>.tmp`: hidden, in the same directory (so the rename stays on one
/// file system and is atomic), and unique across processes and calls.
fn temporary_path_beside(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(|| "message".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ContainerError, container_error};
    use crate::literal;

    fn sample_map() -> LiteralMap {
        literal::literal_map([("a", literal::integer(1)), ("b", literal::string("two"))])
    }

    #[test]
    fn written_literal_map_reads_back_equal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("outputs.pb");
        write_literal_map(&path, &sample_map()).expect("write");
        assert_eq!(read_literal_map(&path).expect("read"), sample_map());
    }

    #[test]
    fn write_replaces_an_existing_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("outputs.pb");
        fs::write(&path, b"old contents that are longer than the new message").expect("seed");
        write_literal_map(&path, &LiteralMap::default()).expect("write");
        assert_eq!(fs::read(&path).expect("read"), Vec::<u8>::new());
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("outputs.pb")]);
    }

    #[test]
    fn error_document_and_dynamic_job_spec_round_trip_through_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error_path = dir.path().join("error.pb");
        let document = ErrorDocument {
            error: Some(ContainerError {
                code: "USER:ValueError".into(),
                message: "boom".into(),
                kind: container_error::Kind::NonRecoverable.into(),
                ..Default::default()
            }),
        };
        write_error_document(&error_path, &document).expect("write error");
        assert_eq!(
            read_error_document(&error_path).expect("read error"),
            document
        );

        let futures_path = dir.path().join("futures.pb");
        let spec = DynamicJobSpec {
            min_successes: 3,
            ..Default::default()
        };
        write_dynamic_job_spec(&futures_path, &spec).expect("write spec");
        assert_eq!(
            read_dynamic_job_spec(&futures_path).expect("read spec"),
            spec
        );
    }

    #[test]
    fn writing_into_a_missing_directory_names_the_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing").join("outputs.pb");
        let err = write_literal_map(&path, &sample_map()).expect_err("no directory");
        let message = err.to_string();
        assert!(
            message.starts_with("cannot create a temporary file "),
            "{message}"
        );
        assert!(message.contains("missing"), "{message}");
    }

    #[test]
    fn a_racer_swapping_temporary_files_for_symlinks_never_gets_a_message_written_through_them() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().expect("temp dir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"victim").expect("victim");
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).expect("shared");
        let stop = Arc::new(AtomicBool::new(false));
        let racer = {
            let (shared, victim, stop) = (shared.clone(), victim.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut swaps = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    for entry in fs::read_dir(&shared).into_iter().flatten().flatten() {
                        let path = entry.path();
                        if path.to_string_lossy().ends_with(".tmp")
                            && !path.is_symlink()
                            && fs::remove_file(&path).is_ok()
                            && std::os::unix::fs::symlink(&victim, &path).is_ok()
                        {
                            swaps += 1;
                        }
                    }
                }
                swaps
            })
        };
        for round in 0..300 {
            let _ = write_literal_map(shared.join(format!("m{}.pb", round % 4)), &sample_map());
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = racer.join().expect("racer");
        assert!(swaps > 0, "the racer never swapped a temporary file");
        assert_eq!(fs::read(&victim).expect("victim"), b"victim");
    }

    #[test]
    fn missing_file_error_names_the_path() {
        let err = read_literal_map("/nonexistent/inputs.pb").expect_err("missing");
        assert!(matches!(err, ProtoError::Io { action: "read", .. }));
        assert_eq!(err.to_string(), "cannot read /nonexistent/inputs.pb");
    }

    #[test]
    fn corrupt_inputs_pb_error_says_what_it_should_have_been() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("inputs.pb");
        // Field 1, wire type 2 (length-delimited), length 100, but only 2 bytes follow.
        fs::write(&path, [0x0a, 100, 1, 2]).expect("seed");
        let err = read_literal_map(&path).expect_err("corrupt");
        let message = err.to_string();
        assert_eq!(
            message,
            format!(
                "{} is not a valid flyteidl.core.LiteralMap: the file is corrupt or is not an \
                 inputs.pb/outputs.pb",
                path.display()
            )
        );
        let cause = std::error::Error::source(&err).expect("prost's error is the cause");
        assert_once_each(&err, &cause.to_string());
    }

    /// `error` and its causes as anyhow's `{:#}` prints them.
    fn full_chain(error: &(dyn std::error::Error + 'static)) -> String {
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(next) = cause {
            text.push_str(&format!(": {next}"));
            cause = next.source();
        }
        text
    }

    /// The chain of `error` says `cause` exactly once.
    fn assert_once_each(error: &(dyn std::error::Error + 'static), cause: &str) {
        let chain = full_chain(error);
        assert_eq!(chain.matches(cause).count(), 1, "{chain}");
    }

    #[test]
    fn io_and_decode_errors_print_their_cause_once_in_a_chain() {
        let err = read_literal_map("/nonexistent/inputs.pb").expect_err("missing");
        assert_once_each(&err, "No such file or directory");
        let wire = crate::wire::check_file(
            "/nonexistent/inputs.pb",
            "flyteidl.core.LiteralMap",
            crate::wire::Limits::default(),
        )
        .expect_err("missing");
        assert_once_each(&wire, "No such file or directory");
    }

    #[test]
    fn generic_read_names_the_protobuf_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("task.pb");
        fs::write(&path, [0xff]).expect("seed");
        let err = read_message::<crate::core::TaskTemplate>(&path).expect_err("corrupt");
        assert!(
            matches!(
                err,
                ProtoError::Decode { ref what, .. } if what == "flyteidl.core.TaskTemplate"
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("the data is corrupt or holds a different message"),
            "{err}"
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic byte soup (xorshift): decoding must return, never panic.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for length in 0..512 {
            let bytes: Vec<u8> = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = decode::<LiteralMap>(&bytes);
            let _ = decode::<DynamicJobSpec>(&bytes);
            let _ = decode::<ErrorDocument>(&bytes);
        }
    }

    #[test]
    fn encode_is_decode_inverse() {
        let bytes = encode(&sample_map());
        assert_eq!(decode::<LiteralMap>(&bytes).expect("decode"), sample_map());
    }
}
