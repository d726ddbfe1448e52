//! A download that cannot write its local file fails as a local error, naming the local
//! path and the operating system's reason, never as "the object store failed a
//! request" (issue 10: a full disk during a download was reported as a store outage).
//!
//! The disk is filled by a file size limit (`RLIMIT_FSIZE`) on this test process, with
//! `SIGXFSZ` caught so that writes past it fail with `EFBIG` as writes to a full disk
//! fail with `ENOSPC`: both take the same path. It is the only test of this binary, as
//! the limit holds for the whole process.
#![cfg(all(unix, any(feature = "s3", feature = "gcs", feature = "azure")))]

use std::io;

use bytes::Bytes;
use flyte_storage::{Storage, StorageError, join};
use flyte_test_support::emulators::Emulator;

/// What the test process may write to one file.
const FILE_SIZE_LIMIT: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_cannot_write_its_file_is_a_local_error_on_every_store() {
    let emulators = [
        #[cfg(feature = "s3")]
        Emulator::S3,
        #[cfg(feature = "gcs")]
        Emulator::Gcs,
        #[cfg(feature = "azure")]
        Emulator::Azure,
    ];
    // Uploads first: the limit is on local files only, but set it once, after them.
    let mut objects = Vec::new();
    for emulator in emulators {
        let storage = Storage::new(emulator.config());
        emulator.prepare().await;
        let uri = join(&emulator.unique_prefix(), "big.bin");
        storage
            .put_bytes(&uri, Bytes::from(vec![7u8; 4 * FILE_SIZE_LIMIT as usize]))
            .await
            .unwrap_or_else(|e| panic!("{emulator:?}: upload {uri}: {e}"));
        objects.push((emulator, storage, uri));
    }
    let _caught = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
        rustix::process::Signal::XFSZ.as_raw(),
    ))
    .expect("catch SIGXFSZ");
    rustix::process::setrlimit(
        rustix::process::Resource::Fsize,
        rustix::process::Rlimit {
            current: Some(FILE_SIZE_LIMIT),
            maximum: rustix::process::getrlimit(rustix::process::Resource::Fsize).maximum,
        },
    )
    .expect("set RLIMIT_FSIZE");

    let dir = tempfile::tempdir().expect("tempdir");
    for (emulator, storage, uri) in objects {
        let to = dir.path().join(format!("{emulator:?}.bin"));
        let error = storage
            .get_file(&uri, &to)
            .await
            .expect_err("a download past the file size limit");
        let StorageError::Io { uri: path, source } = &error else {
            panic!("{emulator:?}: not a local I/O error: {error:?}");
        };
        assert!(
            path.starts_with(&dir.path().display().to_string()),
            "{emulator:?}: names {path}, not the local file"
        );
        assert_eq!(
            source.kind(),
            io::ErrorKind::FileTooLarge,
            "{emulator:?}: {error}"
        );
        assert!(
            !error.to_string().contains("object store"),
            "{emulator:?}: {error}"
        );
        assert!(
            !to.exists(),
            "{emulator:?}: a partial file was left at {to:?}"
        );
    }
}
