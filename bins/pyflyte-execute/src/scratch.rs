//! The run's private scratch directory: where the inputs' local copy, the worker's
//! script, its sockets and flytekit's staged outputs live while the task runs.
//!
//! It is made where Python's `tempfile.gettempdir()` would make it, trying `TMPDIR`,
//! `TEMP`, `TMP`, `/tmp`, `/var/tmp`, `/usr/tmp` and the working directory in turn and
//! taking the first it can actually write to; so a full or unusable `TMPDIR`, which
//! flytekit shrugs off the same way, does not stop a task here either. It is readable
//! by this user only (mode 0700): the worker's control and bridge sockets are in it.
//!
//! A run that ends normally removes it. One that is SIGKILLed (the OOM killer, the
//! kubelet) or panics cannot, and its directory holds a copy of inputs.pb; so the
//! directory is named `pyflyte-execute-<pid>-<random>` and holds a lock file the run
//! keeps locked (flock) for as long as it lives, and every run, once its own directory
//! exists, removes the stale ones beside it: ours by name and owner, whose lock nobody
//! holds (the kernel drops a dead process's locks), or, without a lock file, whose pid
//! is not alive. Nothing else in the directory is touched, and never a live run's.

use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use rustix::fs::FlockOperation;
use tempfile::TempDir;

/// The scratch directory's name starts with this, then `<pid>-`.
const PREFIX: &str = "pyflyte-execute-";
/// The lock file in it, held for the run's lifetime.
const LOCK_FILE: &str = ".lock";

/// The run's scratch directory, removed when dropped, locked while it exists.
#[derive(Debug)]
pub struct Scratch {
    // Dropped in this order: the directory (with the lock file) goes first, then the
    // lock, so no later run can see it unlocked while it still exists.
    dir: TempDir,
    _lock: File,
}

impl Scratch {
    /// Where it is.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// How much a candidate must take before it is used: more than the worker's two scripts.
const PROBE_BYTES: usize = 64 * 1024;

/// Creates the scratch directory in the first of `candidates` that takes it, then
/// removes the stale scratch directories of earlier runs beside it.
pub fn create(candidates: &[PathBuf]) -> Result<Scratch> {
    let mut refused = Vec::new();
    for candidate in candidates {
        match try_create(candidate) {
            Ok(dir) => {
                remove_stale(candidate, dir.path());
                if !refused.is_empty() {
                    tracing::warn!(
                        "the scratch directory is {} ({})",
                        dir.path().display(),
                        refused.join("; ")
                    );
                }
                return Ok(dir);
            }
            Err(error) => refused.push(format!("{} is unusable: {error}", candidate.display())),
        }
    }
    bail!(
        "no usable directory for this run's scratch files: {}; free some space in TMPDIR or \
         point TMPDIR at a writable directory",
        refused.join("; ")
    )
}

fn try_create(parent: &Path) -> std::io::Result<Scratch> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .permissions(Permissions::from_mode(0o700))
        .tempdir_in(parent)?;
    let lock = File::create(dir.path().join(LOCK_FILE))?;
    rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive)?;
    let mut probe = std::fs::File::create(dir.path().join(".probe"))?;
    probe.write_all(&[0u8; PROBE_BYTES])?;
    probe.sync_all()?;
    drop(probe);
    std::fs::remove_file(dir.path().join(".probe"))?;
    Ok(Scratch { dir, _lock: lock })
}

/// Removes the stale scratch directories in `parent` (see the module's documentation),
/// never `own`. Best effort: what cannot be looked at or removed is left, and the run
/// goes on.
fn remove_stale(parent: &Path, own: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    // Ours are owned by whoever owns the directory this run just made.
    let Ok(uid) = std::fs::metadata(own).map(|own| own.uid()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == own {
            continue;
        }
        let Some(pid) = entry.file_name().to_str().and_then(scratch_pid) else {
            continue;
        };
        // Not following links: a link named like ours is not ours.
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !metadata.is_dir() || metadata.uid() != uid || !is_stale(&path, pid) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(
                "removed the scratch directory {} that an earlier run (pid {pid}) left behind",
                path.display()
            ),
            Err(error) => tracing::debug!(
                "could not remove the stale scratch directory {}: {error}",
                path.display()
            ),
        }
    }
}

/// The pid in a scratch directory's name, `pyflyte-execute-<pid>-<random>`.
fn scratch_pid(name: &str) -> Option<u32> {
    let (pid, random) = name.strip_prefix(PREFIX)?.split_once('-')?;
    (!random.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether the run that made `dir` is gone: its lock is free, or, if it has no lock
/// file (it died between making the directory and the lock, or the lock file was
/// removed), its pid is not a live process.
fn is_stale(dir: &Path, pid: u32) -> bool {
    match File::open(dir.join(LOCK_FILE)) {
        // Taking the lock says nobody holds it; it is let go when the file closes.
        Ok(lock) => rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).is_ok(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => !pid_is_alive(pid),
        Err(_) => false,
    }
}

/// Whether a process `pid` exists (a zombie counts: its parent has not reaped it yet).
/// Read from /proc rather than probed with a signal: only flyte-python touches signals.
fn pid_is_alive(pid: u32) -> bool {
    pid != 0 && Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_directory_is_private_and_an_unusable_candidate_is_passed_over() {
        let base = tempfile::tempdir().expect("tempdir");
        let not_a_directory = base.path().join("file");
        std::fs::write(&not_a_directory, "").expect("write");
        let usable = base.path().join("usable");
        std::fs::create_dir(&usable).expect("mkdir");
        let scratch = create(&[not_a_directory, usable.clone()]).expect("created");
        assert!(scratch.path().starts_with(&usable));
        let mode = std::fs::metadata(scratch.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    /// A scratch directory as a run `pid` would have left it, with its lock file.
    fn left_behind(parent: &Path, pid: u32) -> PathBuf {
        let dir = parent.join(format!("{PREFIX}{pid}-abc123"));
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join(LOCK_FILE), "").expect("lock file");
        std::fs::write(dir.join("inputs.pb"), "inputs").expect("inputs copy");
        dir
    }

    #[test]
    fn a_new_run_removes_scratch_directories_whose_lock_nobody_holds_and_nothing_else() {
        let base = tempfile::tempdir().expect("tempdir");
        // Left by a SIGKILLed run: the lock file is there, and nobody holds it.
        let stale = left_behind(base.path(), 4_000_000);
        // A live run's, locked (by this test, standing in for that run).
        let live = left_behind(base.path(), std::process::id());
        let live_lock = File::open(live.join(LOCK_FILE)).expect("open");
        rustix::fs::flock(&live_lock, FlockOperation::NonBlockingLockExclusive).expect("locked");
        // Named like ours but not ours: other files, a name without a pid, a link.
        let other_file = base.path().join(format!("{PREFIX}1-file"));
        std::fs::write(&other_file, "not a directory").expect("write");
        let no_pid = base.path().join(format!("{PREFIX}abcdef"));
        std::fs::create_dir(&no_pid).expect("mkdir");
        let target = left_behind(&base.path().join("elsewhere").tap_mkdir(), 4_000_001);
        let link = base.path().join(format!("{PREFIX}4000001-link"));
        std::os::unix::fs::symlink(&target, &link).expect("link");
        let unrelated = base.path().join("someone-elses.txt");
        std::fs::write(&unrelated, "keep").expect("write");

        let scratch = create(&[base.path().to_path_buf()]).expect("created");

        assert!(!stale.exists(), "the stale directory is gone");
        for kept in [&live, &other_file, &no_pid, &link, &target, &unrelated] {
            assert!(kept.exists(), "{} was kept", kept.display());
        }
        assert!(scratch.path().exists());
        drop(live_lock);
    }

    #[test]
    fn a_scratch_directory_without_a_lock_file_is_stale_only_when_its_pid_is_dead() {
        let base = tempfile::tempdir().expect("tempdir");
        let dead = base.path().join(format!("{PREFIX}4000002-x"));
        std::fs::create_dir(&dead).expect("mkdir");
        // This test's own pid: alive, so a run in the moment before its lock exists.
        let alive = base
            .path()
            .join(format!("{PREFIX}{}-y", std::process::id()));
        std::fs::create_dir(&alive).expect("mkdir");
        let _scratch = create(&[base.path().to_path_buf()]).expect("created");
        assert!(!dead.exists());
        assert!(alive.exists());
    }

    #[test]
    fn the_running_scratch_directory_is_locked_until_it_is_dropped() {
        let base = tempfile::tempdir().expect("tempdir");
        let scratch = create(&[base.path().to_path_buf()]).expect("created");
        let path = scratch.path().to_owned();
        assert!(!is_stale(&path, std::process::id()));
        // A second run now leaves it alone.
        let second = create(&[base.path().to_path_buf()]).expect("created");
        assert!(path.exists());
        drop(second);
        drop(scratch);
        assert!(!path.exists());
    }

    #[test]
    fn only_names_with_a_pid_and_a_suffix_are_scratch_directories() {
        assert_eq!(scratch_pid("pyflyte-execute-123-abc"), Some(123));
        assert_eq!(scratch_pid("pyflyte-execute-abc"), None);
        assert_eq!(scratch_pid("pyflyte-execute-123-"), None);
        assert_eq!(scratch_pid("pyflyte-execute--abc"), None);
        assert_eq!(scratch_pid("other-123-abc"), None);
    }

    trait MkDir {
        fn tap_mkdir(self) -> Self;
    }

    impl MkDir for PathBuf {
        fn tap_mkdir(self) -> Self {
            std::fs::create_dir_all(&self).expect("mkdir");
            self
        }
    }

    #[test]
    fn no_usable_candidate_says_which_were_tried() {
        let base = tempfile::tempdir().expect("tempdir");
        let missing = base.path().join("missing");
        let error = create(std::slice::from_ref(&missing)).expect_err("nothing usable");
        assert!(
            error.to_string().contains(&missing.display().to_string()),
            "{error}"
        );
        assert!(error.to_string().contains("TMPDIR"), "{error}");
    }
}
