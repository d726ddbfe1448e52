//! Unpacking fast-registered code: good archives land in the destination, hostile ones
//! are refused whole and write nothing anywhere.

use std::path::Path;

use flyte_python::fast::{FastExecuteError, install_distribution, unpack_archive};
use flyte_storage::{Storage, StorageConfig};

/// One archive member, with its raw name and link target (no sanitising: these
/// archives are meant to be hostile).
struct Member<'a> {
    name: &'a str,
    kind: tar::EntryType,
    link: Option<&'a str>,
    data: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Member<'a> {
    Member {
        name,
        kind: tar::EntryType::Regular,
        link: None,
        data,
    }
}

fn write_archive(path: &Path, members: &[Member<'_>]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::fast(),
    );
    let mut builder = tar::Builder::new(gz);
    for member in members {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().expect("gnu header");
        gnu.name[..member.name.len()].copy_from_slice(member.name.as_bytes());
        if let Some(link) = member.link {
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(member.kind);
        header.set_mode(0o644);
        header.set_size(member.data.len() as u64);
        header.set_cksum();
        builder.append(&header, member.data).expect("append");
    }
    builder.into_inner().expect("tar").finish().expect("gzip");
}

fn assert_refused(members: &[Member<'_>], reason: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("code.tar.gz");
    write_archive(&archive, members);
    let destination = dir.path().join("dest");
    std::fs::create_dir(&destination).expect("dest");
    let error = unpack_archive(&archive, &destination).expect_err("hostile archive refused");
    assert!(
        matches!(error, FastExecuteError::UnsafeMember { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(reason), "{error}");
    assert_eq!(
        std::fs::read_dir(&destination).expect("dest").count(),
        0,
        "nothing written into dest"
    );
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(outside.len(), 2, "nothing written beside dest: {outside:?}");
}

#[test]
fn a_member_climbing_out_with_dot_dot_is_refused() {
    assert_refused(
        &[file("pkg/ok.py", b"x = 1\n"), file("../evil", b"evil")],
        "`..`",
    );
}

#[test]
fn a_member_with_an_absolute_path_is_refused() {
    assert_refused(
        &[file("/tmp/pyflyte-execute-evil-absolute", b"evil")],
        "absolute path",
    );
}

#[test]
fn a_symlink_to_etc_is_refused() {
    let link = Member {
        name: "etc",
        kind: tar::EntryType::Symlink,
        link: Some("/etc"),
        data: b"",
    };
    assert_refused(&[link], "symbolic link");
}

#[test]
fn a_relative_symlink_leading_out_is_refused() {
    let link = Member {
        name: "pkg/up",
        kind: tar::EntryType::Symlink,
        link: Some("../../.."),
        data: b"",
    };
    assert_refused(&[link], "pointing outside");
}

#[test]
fn a_well_formed_archive_unpacks_with_its_internal_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("code.tar.gz");
    let link = Member {
        name: "pkg/alias.py",
        kind: tar::EntryType::Symlink,
        link: Some("mod.py"),
        data: b"",
    };
    write_archive(
        &archive,
        &[
            file("pkg/__init__.py", b""),
            file("pkg/mod.py", b"VALUE = 42\n"),
            link,
        ],
    );
    let destination = dir.path().join("dest");
    std::fs::create_dir(&destination).expect("dest");
    assert_eq!(unpack_archive(&archive, &destination).expect("unpacks"), 3);
    assert_eq!(
        std::fs::read_to_string(destination.join("pkg/alias.py")).expect("read"),
        "VALUE = 42\n"
    );
}

#[tokio::test]
async fn install_downloads_into_the_destination_and_unpacks_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("fast1234.tar.gz");
    write_archive(&archive, &[file("workflows/app.py", b"print('hi')\n")]);
    let destination = dir.path().join("root");
    std::fs::create_dir(&destination).expect("dest");
    let storage = Storage::new(StorageConfig::default());
    install_distribution(
        &storage,
        &format!("file://{}", archive.display()),
        &destination,
    )
    .await
    .expect("install");
    assert!(destination.join("workflows/app.py").is_file());
    assert!(
        destination.join("fast1234.tar.gz").is_file(),
        "the archive is kept, as flytekit keeps it"
    );
}

#[tokio::test]
async fn install_refuses_a_missing_destination_and_an_unknown_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::new(StorageConfig::default());
    let missing =
        install_distribution(&storage, "file:///x/code.tar.gz", &dir.path().join("nope")).await;
    assert!(matches!(
        missing,
        Err(FastExecuteError::DestinationNotADirectory { .. })
    ));
    let zip = install_distribution(&storage, "file:///x/code.zip", dir.path()).await;
    assert!(matches!(
        zip,
        Err(FastExecuteError::UnrecognizedFormat { .. })
    ));
}
