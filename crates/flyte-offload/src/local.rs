//! Checks on local paths made before anything is uploaded.

use std::io;
use std::path::Path;

use crate::error::OffloadError;

/// What a local path to offload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Directory,
}

/// Whether `path` (links followed) is a file or a directory; anything else, or nothing,
/// is an error naming it.
pub(crate) async fn kind_of(path: &Path) -> Result<Kind, OffloadError> {
    match tokio::fs::metadata(path).await {
        Ok(metadata) if metadata.is_dir() => Ok(Kind::Directory),
        Ok(metadata) if metadata.is_file() => Ok(Kind::File),
        Ok(_) => Err(OffloadError::NotAFile {
            path: path.to_owned(),
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(OffloadError::NotFound {
            path: path.to_owned(),
        }),
        Err(source) => Err(OffloadError::Local {
            action: "read the metadata of",
            path: path.to_owned(),
            source,
        }),
    }
}

/// [`check_directory`] on the blocking pool.
pub(crate) async fn check_links(root: &Path) -> Result<(), OffloadError> {
    let owned = root.to_owned();
    match tokio::task::spawn_blocking(move || check_directory(&owned)).await {
        Ok(checked) => checked,
        Err(join_error) if join_error.is_panic() => {
            std::panic::resume_unwind(join_error.into_panic())
        }
        // Only a runtime shutting down cancels a blocking task.
        Err(join_error) => Err(OffloadError::Local {
            action: "walk the directory",
            path: root.to_owned(),
            source: io::Error::other(join_error),
        }),
    }
}

/// Checks the directory `root` as [`Offloader::directory`](crate::Offloader::directory)
/// does before it uploads anything, for a caller that wants to know before it starts
/// (a sidecar checking every output of a task first): every name under it is UTF-8,
/// since an object key must be, and every symbolic link points inside it. A link
/// inside is fine: the transfer engine uploads a link to a file as the file, and the
/// target is part of the value anyway. A link outside, or to nothing, is
/// [`OffloadError::LinkOutside`]; a name that is not UTF-8, [`OffloadError::NonUtf8Path`].
/// Blocking: it walks the whole tree.
///
/// ```
/// use flyte_offload::{OffloadError, check_directory};
///
/// let outputs = tempfile::tempdir()?;
/// std::fs::write(outputs.path().join("model.bin"), b"weights")?;
/// check_directory(outputs.path())?;
///
/// std::os::unix::fs::symlink("/etc/hostname", outputs.path().join("host"))?;
/// assert!(matches!(check_directory(outputs.path()), Err(OffloadError::LinkOutside { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_directory(root: &Path) -> Result<(), OffloadError> {
    let local = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| OffloadError::Local {
            action,
            path,
            source,
        }
    };
    let canonical_root =
        std::fs::canonicalize(root).map_err(local("resolve the directory", root))?;
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(local("read the directory", &dir))?;
        for entry in entries {
            let entry = entry.map_err(local("read the directory", &dir))?;
            let path = entry.path();
            if entry.file_name().to_str().is_none() {
                return Err(OffloadError::NonUtf8Path { path });
            }
            let file_type = entry
                .file_type()
                .map_err(local("read the metadata of", &path))?;
            if file_type.is_dir() {
                pending.push(path);
            } else if file_type.is_symlink() {
                let outside = || OffloadError::LinkOutside {
                    target: std::fs::read_link(&path).unwrap_or_default(),
                    link: path.clone(),
                    root: root.to_owned(),
                };
                match std::fs::canonicalize(&path) {
                    Ok(target) if target.starts_with(&canonical_root) => {}
                    Ok(_) => return Err(outside()),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {
                        return Err(outside());
                    }
                    Err(source) => {
                        return Err(OffloadError::Local {
                            action: "resolve the symbolic link",
                            path,
                            source,
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_inside_pass_and_links_outside_or_dangling_fail() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret"), b"s").expect("write");
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join("sub")).expect("mkdir");
        std::fs::write(root.path().join("sub/a"), b"a").expect("write");
        symlink("sub/a", root.path().join("inside")).expect("link");
        assert!(check_directory(root.path()).is_ok());

        symlink(outside.path().join("secret"), root.path().join("sub/out")).expect("link");
        match check_directory(root.path()) {
            Err(OffloadError::LinkOutside { link, .. }) => {
                assert_eq!(link, root.path().join("sub/out"))
            }
            other => panic!("expected LinkOutside, got {other:?}"),
        }
        std::fs::remove_file(root.path().join("sub/out")).expect("rm");

        symlink("../nowhere", root.path().join("sub/dangling")).expect("link");
        assert!(matches!(
            check_directory(root.path()),
            Err(OffloadError::LinkOutside { .. })
        ));
    }

    #[test]
    fn a_link_to_the_parent_of_the_root_is_outside() {
        let root = tempfile::tempdir().expect("tempdir");
        symlink("..", root.path().join("up")).expect("link");
        assert!(matches!(
            check_directory(root.path()),
            Err(OffloadError::LinkOutside { .. })
        ));
    }
}
