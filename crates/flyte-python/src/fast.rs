//! `pyflyte-fast-execute`: install a fast-registered code archive, then run the task
//! command with it importable.
//!
//! flytekit downloads the archive into the destination directory and runs `tar -xvf`
//! on it. We unpack it ourselves and refuse any member that would land outside the
//! destination: a `..` component, an absolute path, or a link pointing out.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::process::ExitStatus;

use flyte_storage::{Storage, StorageError};
use tracing::info;

use crate::signals::ForwardedSignals;

/// The file name flytekit gives an interactive-mode distribution: a pickled task,
/// downloaded but not unpacked.
const PICKLED_DISTRIBUTION: &str = "pkl.gz";

/// Why a fast execution could not start its task command.
///
/// ```
/// use flyte_python::fast::{FastExecuteError, unpack_archive};
///
/// let dir = tempfile::tempdir().expect("tempdir");
/// let not_an_archive = dir.path().join("code.tar.gz");
/// std::fs::write(&not_an_archive, b"plain text").expect("write");
/// match unpack_archive(&not_an_archive, dir.path()) {
///     Err(error @ FastExecuteError::Unpack { .. }) => assert!(!error.is_transient()),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FastExecuteError {
    /// `--dest-dir` does not name an existing directory.
    #[error(
        "the destination {path} is not an existing directory: create it or pass --dest-dir <existing directory>"
    )]
    DestinationNotADirectory {
        /// The destination.
        path: PathBuf,
    },
    /// The archive could not be downloaded.
    #[error("task execution code could not be downloaded from {uri}")]
    Download {
        /// The archive's URI.
        uri: String,
        /// Why.
        #[source]
        source: StorageError,
    },
    /// The archive is neither a `.tar.gz` nor flytekit's pickled distribution.
    #[error(
        "unrecognized additional distribution format for {uri}: expected a .tar.gz archive or {PICKLED_DISTRIBUTION}"
    )]
    UnrecognizedFormat {
        /// The archive's URI.
        uri: String,
    },
    /// A member of the archive would land outside the destination.
    #[error(
        "refusing to unpack {archive}: member {member:?} {reason}; nothing outside {destination} was written"
    )]
    UnsafeMember {
        /// The archive.
        archive: PathBuf,
        /// The offending member's path.
        member: String,
        /// What is wrong with it.
        reason: &'static str,
        /// The destination directory.
        destination: PathBuf,
    },
    /// The archive is not a readable gzip-compressed tar file.
    #[error("could not unpack {archive} into {destination}")]
    Unpack {
        /// The archive.
        archive: PathBuf,
        /// The destination directory.
        destination: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No task command was given after `--`.
    #[error(
        "no task command to run: pass it after `--`, e.g. `-- pyflyte-execute --inputs … --resolver … -- …`"
    )]
    EmptyCommand,
    /// The task command could not be started.
    #[error("could not start the task command {program}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl FastExecuteError {
    /// Whether trying again may succeed: the archive's store failed, could not be
    /// reached or stopped moving bytes. Everything else (no such archive, a refused member, a corrupt archive)
    /// fails the same way every time.
    ///
    /// ```
    /// let error = flyte_python::fast::FastExecuteError::EmptyCommand;
    /// // A binary retries transient failures as recoverable system errors.
    /// assert!(!error.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FastExecuteError::Download { source, .. } if source.is_transient()
        )
    }
}

/// Downloads the archive at `distribution` into `dest_dir` and unpacks it there.
///
/// ```no_run
/// # async fn demo(storage: flyte_storage::Storage) -> Result<(), flyte_python::fast::FastExecuteError> {
/// let dest = std::path::Path::new("/root");
/// flyte_python::fast::install_distribution(&storage, "s3://bucket/fast/abc123.tar.gz", dest).await?;
/// # Ok(())
/// # }
/// ```
pub async fn install_distribution(
    storage: &Storage,
    distribution: &str,
    dest_dir: &Path,
) -> Result<(), FastExecuteError> {
    if !dest_dir.is_dir() {
        return Err(FastExecuteError::DestinationNotADirectory {
            path: dest_dir.to_path_buf(),
        });
    }
    let file_name = distribution
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let is_archive = file_name.ends_with(".tar.gz");
    if !is_archive && file_name != PICKLED_DISTRIBUTION {
        return Err(FastExecuteError::UnrecognizedFormat {
            uri: distribution.to_owned(),
        });
    }
    let local = dest_dir.join(file_name);
    let bytes = storage
        .get_file(distribution, &local)
        .await
        .map_err(|source| FastExecuteError::Download {
            uri: distribution.to_owned(),
            source,
        })?;
    info!(%distribution, bytes, destination = %dest_dir.display(), "code distribution downloaded");
    if is_archive {
        let destination = dest_dir.to_path_buf();
        let files = tokio::task::spawn_blocking(move || unpack_archive(&local, &destination))
            .await
            .expect("the unpacking task does not panic")?;
        info!(files, "code distribution unpacked");
    }
    Ok(())
}

/// Unpacks the gzip-compressed tar `archive` into `destination`, returning the number of
/// members written. Every member is checked before anything is written, so a refused
/// archive writes nothing at all.
///
/// ```no_run
/// let dest = tempfile::tempdir().expect("tempdir");
/// let members = flyte_python::fast::unpack_archive(std::path::Path::new("code.tar.gz"), dest.path())?;
/// println!("{members} files and directories unpacked");
/// # Ok::<(), flyte_python::fast::FastExecuteError>(())
/// ```
pub fn unpack_archive(archive: &Path, destination: &Path) -> Result<usize, FastExecuteError> {
    let unpack_error = |source| FastExecuteError::Unpack {
        archive: archive.to_path_buf(),
        destination: destination.to_path_buf(),
        source,
    };
    let open =
        || -> Result<tar::Archive<flate2::read::GzDecoder<std::fs::File>>, FastExecuteError> {
            let file = std::fs::File::open(archive).map_err(unpack_error)?;
            Ok(tar::Archive::new(flate2::read::GzDecoder::new(file)))
        };

    // First pass: vet every member.
    for entry in open()?.entries().map_err(unpack_error)? {
        let entry = entry.map_err(unpack_error)?;
        let member = entry.path().map_err(unpack_error)?.into_owned();
        let link = entry
            .link_name()
            .map_err(unpack_error)?
            .map(|l| l.into_owned());
        vet_member(&member, entry.header().entry_type(), link.as_deref()).map_err(|reason| {
            FastExecuteError::UnsafeMember {
                archive: archive.to_path_buf(),
                member: member.display().to_string(),
                reason,
                destination: destination.to_path_buf(),
            }
        })?;
    }

    // Second pass: write. `unpack_in` also refuses to write through a link that leads out.
    let mut written = 0;
    let mut archive_reader = open()?;
    archive_reader.set_overwrite(true);
    archive_reader.set_preserve_permissions(true);
    for entry in archive_reader.entries().map_err(unpack_error)? {
        let mut entry = entry.map_err(unpack_error)?;
        if entry.unpack_in(destination).map_err(unpack_error)? {
            written += 1;
        }
    }
    Ok(written)
}

/// Why a member may not be unpacked, if it may not.
fn vet_member(
    member: &Path,
    kind: tar::EntryType,
    link: Option<&Path>,
) -> Result<(), &'static str> {
    let inside = |path: &Path| lexically_inside(Path::new(""), path);
    if member.is_absolute() {
        return Err("has an absolute path");
    }
    if !inside(member) {
        return Err("climbs out of the destination with `..`");
    }
    // One that stays inside would be skipped without a word by the unpacker, leaving the
    // task without that file: refused instead, loudly.
    if member.components().any(|c| c == Component::ParentDir) {
        return Err("has a `..` component (refused even where it stays inside)");
    }
    match (kind, link) {
        (tar::EntryType::Symlink, Some(target)) => {
            if target.is_absolute() {
                return Err("is a symbolic link to an absolute path");
            }
            let parent = member.parent().unwrap_or(Path::new(""));
            if !lexically_inside(parent, target) {
                return Err("is a symbolic link pointing outside the destination");
            }
        }
        (tar::EntryType::Link, Some(target)) if target.is_absolute() || !inside(target) => {
            return Err("is a hard link to a file outside the destination");
        }
        (tar::EntryType::Symlink | tar::EntryType::Link, None) => {
            return Err("is a link without a target");
        }
        _ => {}
    }
    Ok(())
}

/// Whether `relative`, resolved lexically from the directory `base` (itself relative
/// to the destination), stays inside the destination.
fn lexically_inside(base: &Path, relative: &Path) -> bool {
    let mut depth: usize = base
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count();
    for component in relative.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// The task command with flytekit's fast-mode flags inserted before `--resolver`, so a
/// dynamic task can register its sub-tasks against the same code.
///
/// ```
/// let task = ["pyflyte-execute", "--inputs", "s3://b/in.pb", "--resolver", "r", "--", "task-module", "m"]
///     .map(String::from);
/// let command = flyte_python::fast::inner_command(&task, "s3://b/fast/code.tar.gz", "/root");
/// assert_eq!(
///     command[3..8],
///     ["--dynamic-addl-distro", "s3://b/fast/code.tar.gz", "--dynamic-dest-dir", "/root", "--resolver"]
/// );
/// ```
pub fn inner_command(
    task_execute_cmd: &[String],
    distribution: &str,
    dest_dir: &str,
) -> Vec<String> {
    let mut command = Vec::with_capacity(task_execute_cmd.len() + 4);
    for arg in task_execute_cmd {
        if arg == "--resolver" {
            command.extend(
                [
                    "--dynamic-addl-distro",
                    distribution,
                    "--dynamic-dest-dir",
                    dest_dir,
                ]
                .map(str::to_owned),
            );
        }
        command.push(arg.clone());
    }
    command
}

/// Runs `command` with `dest_dir` appended to `PYTHONPATH` (whose current value the
/// caller passes in), passing SIGTERM and SIGINT on to it, and returns its exit status.
///
/// ```no_run
/// # async fn demo() -> Result<(), flyte_python::fast::FastExecuteError> {
/// let command = ["pyflyte-execute", "--inputs", "s3://b/in.pb"].map(String::from);
/// // The caller read PYTHONPATH; this crate reads no environment.
/// let status = flyte_python::fast::run_task_command(&command, Some(std::path::Path::new("/root")), None).await?;
/// std::process::exit(status.code().unwrap_or(1));
/// # }
/// ```
pub async fn run_task_command(
    command: &[String],
    dest_dir: Option<&Path>,
    current_pythonpath: Option<OsString>,
) -> Result<ExitStatus, FastExecuteError> {
    let (program, args) = command
        .split_first()
        .ok_or(FastExecuteError::EmptyCommand)?;
    let mut child = tokio::process::Command::new(program);
    child.args(args);
    if let Some(dest_dir) = dest_dir {
        child.env(
            "PYTHONPATH",
            extended_pythonpath(current_pythonpath, dest_dir),
        );
    }
    // Caught before the child exists, so no signal in between ends us and orphans it.
    let mut signals = ForwardedSignals::install();
    let mut child = child.spawn().map_err(|source| FastExecuteError::Spawn {
        program: program.clone(),
        source,
    })?;
    loop {
        tokio::select! {
            status = child.wait() => {
                return status.map_err(|source| FastExecuteError::Spawn { program: program.clone(), source });
            }
            signal = signals.recv() => signals.forward(signal, child.id()),
        }
    }
}

/// `PYTHONPATH` with the destination's real path appended, as flytekit appends it: after
/// a `:` whenever the variable is set, even to nothing.
fn extended_pythonpath(current: Option<OsString>, dest_dir: &Path) -> OsString {
    let dest_dir = std::fs::canonicalize(dest_dir)
        .or_else(|_| std::path::absolute(dest_dir))
        .unwrap_or_else(|_| dest_dir.to_path_buf());
    let mut pythonpath = match current {
        Some(mut current) => {
            current.push(":");
            current
        }
        None => OsString::new(),
    };
    pythonpath.push(dest_dir.as_os_str());
    pythonpath
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_gets_the_fast_flags_in_front() {
        let cmd: Vec<String> = [
            "pyflyte-execute",
            "--inputs",
            "i",
            "--resolver",
            "r",
            "--",
            "a",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            inner_command(&cmd, "s3://b/c.tar.gz", "/root"),
            [
                "pyflyte-execute",
                "--inputs",
                "i",
                "--dynamic-addl-distro",
                "s3://b/c.tar.gz",
                "--dynamic-dest-dir",
                "/root",
                "--resolver",
                "r",
                "--",
                "a"
            ]
        );
    }

    #[test]
    fn pythonpath_gets_the_destination_appended_as_flytekit_appends_it() {
        let dest = tempfile::tempdir().expect("tempdir");
        let real = std::fs::canonicalize(dest.path())
            .expect("real path")
            .display()
            .to_string();
        let extended = |current: Option<&str>| {
            extended_pythonpath(current.map(OsString::from), dest.path())
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(extended(None), real);
        assert_eq!(extended(Some("/app")), format!("/app:{real}"));
        // Set but empty: flytekit still joins with the separator.
        assert_eq!(extended(Some("")), format!(":{real}"));
    }

    #[test]
    fn members_are_vetted_lexically() {
        use tar::EntryType::{Link, Regular, Symlink};
        let ok = |m: &str, k, l: Option<&str>| vet_member(Path::new(m), k, l.map(Path::new));
        assert!(ok("pkg/mod.py", Regular, None).is_ok());
        assert!(ok("pkg/./mod.py", Regular, None).is_ok());
        assert!(ok("pkg/../mod.py", Regular, None).is_err());
        assert!(ok("../evil", Regular, None).is_err());
        assert!(ok("pkg/../../evil", Regular, None).is_err());
        assert!(ok("/etc/passwd", Regular, None).is_err());
        assert!(ok("pkg/link", Symlink, Some("../other.py")).is_ok());
        assert!(ok("pkg/link", Symlink, Some("../../etc")).is_err());
        assert!(ok("link", Symlink, Some("/etc")).is_err());
        assert!(ok("hard", Link, Some("../x")).is_err());
        assert!(ok("hard", Link, Some("pkg/mod.py")).is_ok());
    }
}
