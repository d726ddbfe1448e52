//! Bad input against the object stores (the emulators `cargo xtask test` starts): each
//! error names what was wrong, and nothing is left under the raw output prefix.

mod support;

use std::os::unix::fs::symlink;

use flyte_offload::{OffloadError, Offloader};
use support::{EMULATORS, objects_under, write_tree};

#[tokio::test]
async fn refused_directories_and_missing_paths_leave_nothing_in_the_bucket() {
    for place in EMULATORS {
        let scratch = tempfile::tempdir().expect("tempdir");
        let (storage, prefix) = place.storage_and_prefix(scratch.path()).await;
        let offloader = Offloader::new(storage.clone(), &prefix);
        let root = scratch.path().join("tree");
        write_tree(&root);
        symlink("/etc/hostname", root.join("nested/escape")).expect("link");

        let error = offloader.directory(&root, "").await.expect_err("refused");
        assert!(
            matches!(error, OffloadError::LinkOutside { .. }),
            "{place:?}: {error:?}"
        );
        let error = offloader
            .file(&scratch.path().join("absent.bin"), "")
            .await
            .expect_err("missing");
        assert!(
            matches!(error, OffloadError::NotFound { .. }),
            "{place:?}: {error:?}"
        );
        assert!(
            objects_under(&storage, &prefix).await.is_empty(),
            "{place:?}: nothing under {prefix}"
        );

        // The same directory without the link goes up whole.
        std::fs::remove_file(root.join("nested/escape")).expect("rm");
        offloader.directory(&root, "").await.expect("uploaded");
        assert_eq!(objects_under(&storage, &prefix).await.len(), 3, "{place:?}");
    }
}

#[tokio::test]
async fn an_upload_to_a_bucket_that_does_not_exist_names_the_file_and_the_uri() {
    for place in EMULATORS {
        let scratch = tempfile::tempdir().expect("tempdir");
        let (storage, prefix) = place.storage_and_prefix(scratch.path()).await;
        let scheme = prefix.split_once("://").map(|(s, _)| s).expect("a scheme");
        let missing_bucket = format!("{scheme}://no-such-bucket-for-offload/raw");
        let root = scratch.path().join("tree");
        write_tree(&root);
        let error = Offloader::new(storage, &missing_bucket)
            .directory(&root, "")
            .await
            .expect_err("no bucket");
        match &error {
            OffloadError::Upload { uri, path, .. } => {
                assert!(uri.starts_with(&missing_bucket), "{place:?}: {uri}");
                assert_eq!(path, &root);
            }
            other => panic!("{place:?}: expected Upload, got {other:?}"),
        }
    }
}
