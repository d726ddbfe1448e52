//! Local files that fight back: a racer swapping temporary files for symbolic links while
//! writes run, and special files (FIFOs, sockets, devices) given to an upload.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flyte_storage::{LocalStore, StorageError, StorageUri, Store, StoreExt};
use rustix::fs::{CWD, Mode};

fn uri(path: &Path) -> StorageUri {
    StorageUri::parse(&path.display().to_string()).expect("valid test URI")
}

/// A generous bound: none of these operations may wait on a FIFO's writer.
const NO_HANG: Duration = Duration::from_secs(30);

/// Replaces every temporary file it sees in `dir` with a symbolic link to `victim`, until
/// `stop`; counts the swaps it made.
fn swap_temporaries_for_links(
    dir: PathBuf,
    victim: PathBuf,
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if !path.to_string_lossy().ends_with(".tmp") || path.is_symlink() {
                    continue;
                }
                if std::fs::remove_file(&path).is_ok()
                    && std::os::unix::fs::symlink(&victim, &path).is_ok()
                {
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_racer_swapping_temporary_files_for_symlinks_never_writes_through_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"the victim's own contents").expect("victim written");
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).expect("shared dir");
    let source = dir.path().join("payload.bin");
    std::fs::write(&source, vec![b'x'; 64 * 1024]).expect("payload written");

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let racer = swap_temporaries_for_links(
        shared.clone(),
        victim.clone(),
        Arc::clone(&stop),
        Arc::clone(&swaps),
    );
    let store = LocalStore::new();
    let mut writes = Vec::new();
    for round in 0..400 {
        let target = uri(&shared.join(format!("out-{}.bin", round % 8)));
        let source = source.clone();
        writes.push(async move {
            // Every kind of local write: a copy, and bytes from memory.
            let _ = store.put_file(&source, &target).await;
            let _ = store.put_bytes(&target, vec![b'y'; 4096].into()).await;
        });
    }
    futures_util::future::join_all(writes).await;
    stop.store(true, Ordering::Relaxed);
    racer.join().expect("racer thread");

    assert!(
        swaps.load(Ordering::Relaxed) > 0,
        "the racer never swapped a temporary file, so the test proved nothing"
    );
    let victim_now = std::fs::read(&victim).expect("victim read");
    assert!(
        victim_now == b"the victim's own contents",
        "a write went through a symbolic link planted at its temporary name: the victim \
         now holds {} bytes, starting {:?}",
        victim_now.len(),
        String::from_utf8_lossy(&victim_now[..victim_now.len().min(16)])
    );
}

/// Collects what the code under test logs, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

fn make_fifo(path: &Path) {
    rustix::fs::mkfifoat(CWD, path, Mode::from_raw_mode(0o600)).expect("FIFO made");
}

#[tokio::test]
async fn a_directory_upload_skips_fifos_and_sockets_and_names_each_in_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("tree");
    std::fs::write(tree.join("data.txt"), b"data").expect("file");
    make_fifo(&tree.join("sub/pipe"));
    let _socket = std::os::unix::net::UnixListener::bind(tree.join("sock")).expect("socket");
    std::os::unix::fs::symlink(tree.join("sub/pipe"), tree.join("link-to-pipe")).expect("link");
    let destination = dir.path().join("uploaded");

    let (logs, _guard) = capture_logs();
    let summary = tokio::time::timeout(
        NO_HANG,
        LocalStore::new().put_dir(&tree, &uri(&destination), 4),
    )
    .await
    .expect("the upload did not wait on the FIFO")
    .expect("uploaded");

    assert_eq!(summary.files, 1, "{summary:?}");
    assert_eq!(
        std::fs::read(destination.join("data.txt")).expect("uploaded file"),
        b"data"
    );
    let logs = logs.text();
    for (name, kind) in [
        ("sub/pipe", "a FIFO"),
        ("sock", "a socket"),
        ("link-to-pipe", "a FIFO"),
    ] {
        let line = logs
            .lines()
            .find(|line| line.contains(&tree.join(name).display().to_string()))
            .unwrap_or_else(|| panic!("no warning names {name}:\n{logs}"));
        assert!(line.contains("WARN") && line.contains(kind), "{line}");
    }
}

#[tokio::test]
async fn uploading_a_fifo_as_a_file_is_refused_by_its_type_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("pipe");
    make_fifo(&fifo);
    let error = tokio::time::timeout(
        NO_HANG,
        LocalStore::new().put_file(&fifo, &uri(&dir.path().join("out"))),
    )
    .await
    .expect("the upload did not wait on the FIFO")
    .expect_err("a FIFO is not a file");
    assert!(
        matches!(&error, StorageError::NotAFile { uri, kind } if *uri == fifo.display().to_string() && kind.contains("FIFO")),
        "{error:?}"
    );
    assert!(error.to_string().contains("not a regular file"), "{error}");
    assert!(!dir.path().join("out").exists());
}

#[tokio::test]
async fn uploading_dev_zero_as_a_file_is_refused_instead_of_reading_forever() {
    let dir = tempfile::tempdir().expect("temp dir");
    let error = tokio::time::timeout(
        NO_HANG,
        LocalStore::new().put_file(Path::new("/dev/zero"), &uri(&dir.path().join("zeros"))),
    )
    .await
    .expect("the upload ended")
    .expect_err("a device is not a file");
    assert!(
        matches!(&error, StorageError::NotAFile { uri, kind } if uri == "/dev/zero" && *kind == "a character device"),
        "{error:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("listed").collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
