//! The run's private scratch directory: where the inputs' local copy, the worker's
//! script, its sockets and flytekit's staged outputs live while the task runs.
//!
//! It is made where Python's `tempfile.gettempdir()` would make it, trying `TMPDIR`,
//! `TEMP`, `TMP`, `/tmp`, `/var/tmp`, `/usr/tmp` and the working directory in turn and
//! taking the first it can actually write to; so a full or unusable `TMPDIR`, which
//! flytekit shrugs off the same way, does not stop a task here either. It is readable
//! by this user only (mode 0700): the worker's control and bridge sockets are in it.

use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use tempfile::TempDir;

/// How much a candidate must take before it is used: more than the worker's two scripts.
const PROBE_BYTES: usize = 64 * 1024;

/// Creates the scratch directory in the first of `candidates` that takes it.
pub fn create(candidates: &[PathBuf]) -> Result<TempDir> {
    let mut refused = Vec::new();
    for candidate in candidates {
        match try_create(candidate) {
            Ok(dir) => {
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

fn try_create(parent: &Path) -> std::io::Result<TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("pyflyte-execute-")
        .permissions(Permissions::from_mode(0o700))
        .tempdir_in(parent)?;
    let mut probe = std::fs::File::create(dir.path().join(".probe"))?;
    probe.write_all(&[0u8; PROBE_BYTES])?;
    probe.sync_all()?;
    drop(probe);
    std::fs::remove_file(dir.path().join(".probe"))?;
    Ok(dir)
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
