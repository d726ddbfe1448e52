//! Upload options against the real servers `cargo xtask test` starts (moto,
//! fake-gcs-server, Azurite): what every upload path (bytes, a small file in one
//! request, a large file in parts, a directory) creates objects with, read back from
//! the server (S3 `HeadObject` and `GetObjectAcl`, the GCS object resource, Azure Get
//! Blob Properties).
//!
//! What an emulator does not record cannot be checked here; docs/storage.md lists those
//! gaps. Each test writes under its own fresh prefix of the emulator's test bucket.
#![cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]

use std::collections::BTreeMap;

use flyte_storage::{Storage, StorageConfig, UploadOptions};
use flyte_test_support::emulators::{Emulator, ObjectProperties};

/// A part size the S3 minimum allows, so that [`LARGE`] goes up in three parts.
const CHUNK: usize = 5 * 1024 * 1024;
/// Bytes of the file that is uploaded in parts.
const LARGE: usize = 2 * CHUNK + 1234;

/// The execution metadata the entrypoint attaches, and one key of the caller's own.
fn metadata() -> BTreeMap<String, String> {
    [
        ("flyte-execution-project", "flytesnacks"),
        ("flyte-execution-domain", "development"),
        ("flyte-execution-name", "a1b2c3"),
        ("team", "data-platform"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// [`metadata`] as `emulator` stores it: Azure metadata names are C# identifiers, so
/// `-` becomes `_` there.
fn stored_metadata(emulator: Emulator) -> BTreeMap<String, String> {
    metadata()
        .into_iter()
        .map(|(k, v)| match emulator {
            Emulator::Azure => (k.replace('-', "_"), v),
            _ => (k, v),
        })
        .collect()
}

/// Storage for `emulator` writing with `upload`, in parts above [`CHUNK`].
async fn storage_with(emulator: Emulator, upload: UploadOptions) -> (Storage, String) {
    emulator.prepare().await;
    let storage = Storage::new(StorageConfig {
        chunk_size: CHUNK,
        upload,
        ..emulator.config()
    });
    (storage, emulator.unique_prefix())
}

/// One object written by [`write_by_every_path`].
struct Written {
    uri: String,
    /// The content type it should carry when none is configured.
    guessed: Option<&'static str>,
    /// Whether it went up in parts (multipart, resumable or block upload).
    in_parts: bool,
}

/// Writes one object by every upload path under `base`: bytes (`deck.html`), a small
/// file in one request (`table.csv`), a large file in parts (`model.json`), and a
/// directory of two files (`dir/a.txt`, `dir/b.pb`).
async fn write_by_every_path(storage: &Storage, base: &str) -> Vec<Written> {
    let local = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, len: usize| {
        let path = local.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, vec![b'x'; len]).expect("write");
        path
    };
    let bytes = format!("{base}/deck.html");
    storage
        .put_bytes(&bytes, b"<html></html>".to_vec())
        .await
        .expect("put_bytes");
    let small = format!("{base}/table.csv");
    storage
        .put_file(&write("table.csv", 100), &small)
        .await
        .expect("put_file of a small file");
    let large = format!("{base}/model.json");
    storage
        .put_file(&write("model.json", LARGE), &large)
        .await
        .expect("put_file in parts");
    write("dir/a.txt", 10);
    write("dir/b.pb", 10);
    let summary = storage
        .put_dir(&local.path().join("dir"), &format!("{base}/dir"))
        .await
        .expect("put_dir");
    assert_eq!(summary.files, 2);
    let one = |uri: String, guessed| Written {
        uri,
        guessed,
        in_parts: false,
    };
    vec![
        one(bytes, Some("text/html")),
        one(small, Some("text/csv")),
        Written {
            uri: large,
            guessed: Some("application/json"),
            in_parts: true,
        },
        one(format!("{base}/dir/a.txt"), Some("text/plain")),
        one(format!("{base}/dir/b.pb"), None),
    ]
}

/// How an emulator reports content types.
#[derive(Clone, Copy)]
struct ContentTypes {
    /// What it reports for an object created without one.
    defaults: &'static [&'static str],
    /// Whether it records the content type of objects written in one request
    /// (fake-gcs-server does not: it reads the media part's header, which
    /// google-cloud-storage leaves out, sending the type in the object resource).
    single_request: bool,
}

impl ContentTypes {
    /// Checks `properties` of `object` against the content type it should carry:
    /// `expected`, or the store's default when that is `None`.
    fn check(self, object: &Written, expected: Option<&str>, properties: &ObjectProperties) {
        if !object.in_parts && !self.single_request {
            return;
        }
        let found = properties.content_type.as_deref();
        match expected {
            Some(expected) => assert_eq!(found, Some(expected), "{}: {properties:?}", object.uri),
            None => assert!(
                found.is_some_and(|found| self.defaults.contains(&found)),
                "{}: {properties:?}",
                object.uri
            ),
        }
    }
}

/// Every object carries `metadata` and the guessed content type (or, when there is
/// none, the store's default), and `check` holds for it.
async fn assert_every_path(
    emulator: Emulator,
    objects: &[Written],
    content_types: ContentTypes,
    check: impl Fn(&Written, &ObjectProperties),
) {
    for object in objects {
        let properties = emulator.properties(&object.uri).await;
        assert_eq!(
            properties.metadata,
            stored_metadata(emulator),
            "{}: {properties:?}",
            object.uri
        );
        content_types.check(object, object.guessed, &properties);
        check(object, &properties);
    }
}

/// Without options, objects carry no metadata, and a content type only when one was
/// guessed.
async fn plain_uploads_carry_no_metadata(emulator: Emulator, content_types: ContentTypes) {
    let (storage, base) = storage_with(emulator, UploadOptions::default()).await;
    for object in write_by_every_path(&storage, &base).await {
        let properties = emulator.properties(&object.uri).await;
        assert!(
            properties.metadata.is_empty(),
            "{}: {properties:?}",
            object.uri
        );
        content_types.check(&object, object.guessed, &properties);
    }
}

/// A configured content type wins over the guess, on every path.
async fn a_configured_content_type_wins(emulator: Emulator, content_types: ContentTypes) {
    let upload = UploadOptions {
        content_type: Some("application/x-flyte-test".to_owned()),
        ..UploadOptions::default()
    };
    let (storage, base) = storage_with(emulator, upload).await;
    for object in write_by_every_path(&storage, &base).await {
        let properties = emulator.properties(&object.uri).await;
        content_types.check(&object, Some("application/x-flyte-test"), &properties);
    }
}

/// A storage made with other options writes with those, and the original keeps its own.
async fn with_upload_options_changes_only_the_new_storage(emulator: Emulator) {
    let (storage, base) = storage_with(emulator, UploadOptions::default()).await;
    let tagged = storage.with_upload_options(UploadOptions {
        metadata: metadata(),
        ..storage.upload_options().clone()
    });
    let (plain, marked) = (format!("{base}/plain.txt"), format!("{base}/marked.txt"));
    storage.put_bytes(&plain, b"p".to_vec()).await.expect("put");
    tagged.put_bytes(&marked, b"m".to_vec()).await.expect("put");
    assert!(emulator.properties(&plain).await.metadata.is_empty());
    assert_eq!(
        emulator.properties(&marked).await.metadata,
        stored_metadata(emulator)
    );
}

#[cfg(feature = "s3")]
mod s3 {
    use flyte_storage::{S3Encryption, S3UploadOptions};

    use super::*;

    const EMULATOR: Emulator = Emulator::S3;
    /// S3 calls an object without a content type `binary/octet-stream`; moto says
    /// `application/octet-stream` for some.
    const CONTENT_TYPES: ContentTypes = ContentTypes {
        defaults: &["binary/octet-stream", "application/octet-stream"],
        single_request: true,
    };
    const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

    fn options(s3: S3UploadOptions) -> UploadOptions {
        UploadOptions {
            metadata: metadata(),
            s3,
            ..UploadOptions::default()
        }
    }

    #[tokio::test]
    async fn every_upload_path_carries_metadata_sse_kms_storage_class_and_acl() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let upload = options(S3UploadOptions {
            server_side_encryption: Some(S3Encryption::Kms {
                key_id: Some(key.to_owned()),
                bucket_key: Some(true),
            }),
            storage_class: Some("STANDARD_IA".to_owned()),
            acl: Some("public-read".to_owned()),
        });
        let (storage, base) = storage_with(EMULATOR, upload).await;
        let objects = write_by_every_path(&storage, &base).await;
        assert_every_path(EMULATOR, &objects, CONTENT_TYPES, |object, properties| {
            let uri = &object.uri;
            assert_eq!(
                properties.server_side_encryption.as_deref(),
                Some("aws:kms"),
                "{uri}"
            );
            assert_eq!(properties.kms_key.as_deref(), Some(key), "{uri}");
            // moto does not record the bucket key of a multipart upload.
            if !object.in_parts {
                assert_eq!(properties.bucket_key_enabled, Some(true), "{uri}");
            }
            assert_eq!(
                properties.storage_class.as_deref(),
                Some("STANDARD_IA"),
                "{uri}"
            );
            assert!(
                properties
                    .acl_grants
                    .iter()
                    .any(|grant| grant == &format!("READ {ALL_USERS}")),
                "{uri}: {:?}",
                properties.acl_grants
            );
        })
        .await;
    }

    #[tokio::test]
    async fn every_upload_path_carries_sse_s3_and_a_bucket_owner_acl() {
        let upload = options(S3UploadOptions {
            server_side_encryption: Some(S3Encryption::Aes256),
            storage_class: Some("INTELLIGENT_TIERING".to_owned()),
            acl: Some("bucket-owner-full-control".to_owned()),
        });
        let (storage, base) = storage_with(EMULATOR, upload).await;
        let objects = write_by_every_path(&storage, &base).await;
        assert_every_path(EMULATOR, &objects, CONTENT_TYPES, |object, properties| {
            let uri = &object.uri;
            assert_eq!(
                properties.server_side_encryption.as_deref(),
                Some("AES256"),
                "{uri}"
            );
            assert_eq!(properties.kms_key, None, "{uri}");
            assert_eq!(
                properties.storage_class.as_deref(),
                Some("INTELLIGENT_TIERING"),
                "{uri}"
            );
            assert!(
                !properties.acl_grants.iter().any(|g| g.ends_with(ALL_USERS)),
                "{uri}: {:?}",
                properties.acl_grants
            );
        })
        .await;
    }

    #[tokio::test]
    async fn plain_uploads_carry_no_metadata_and_only_a_guessed_content_type() {
        plain_uploads_carry_no_metadata(EMULATOR, CONTENT_TYPES).await;
    }

    #[tokio::test]
    async fn a_configured_content_type_wins_over_the_guess() {
        a_configured_content_type_wins(EMULATOR, CONTENT_TYPES).await;
    }

    #[tokio::test]
    async fn a_storage_with_other_upload_options_leaves_the_original_alone() {
        with_upload_options_changes_only_the_new_storage(EMULATOR).await;
    }
}

#[cfg(feature = "gcs")]
mod gcs {
    use flyte_storage::GcsUploadOptions;

    use super::*;

    const EMULATOR: Emulator = Emulator::Gcs;
    const CONTENT_TYPES: ContentTypes = ContentTypes {
        defaults: &["application/octet-stream"],
        single_request: false,
    };

    #[tokio::test]
    async fn every_upload_path_carries_metadata_and_the_storage_class() {
        let key = "projects/p/locations/global/keyRings/flyte/cryptoKeys/outputs";
        let upload = UploadOptions {
            metadata: metadata(),
            gcs: GcsUploadOptions {
                kms_key_name: Some(key.to_owned()),
                storage_class: Some("NEARLINE".to_owned()),
            },
            ..UploadOptions::default()
        };
        let (storage, base) = storage_with(EMULATOR, upload).await;
        let objects = write_by_every_path(&storage, &base).await;
        // fake-gcs-server records no KMS key, and takes the storage class only from
        // single-request uploads (docs/storage.md).
        assert_every_path(EMULATOR, &objects, CONTENT_TYPES, |object, properties| {
            if !object.in_parts {
                assert_eq!(
                    properties.storage_class.as_deref(),
                    Some("NEARLINE"),
                    "{}",
                    object.uri
                );
            }
        })
        .await;
    }

    #[tokio::test]
    async fn plain_uploads_carry_no_metadata_and_only_a_guessed_content_type() {
        plain_uploads_carry_no_metadata(EMULATOR, CONTENT_TYPES).await;
    }

    #[tokio::test]
    async fn a_configured_content_type_wins_over_the_guess() {
        a_configured_content_type_wins(EMULATOR, CONTENT_TYPES).await;
    }

    #[tokio::test]
    async fn a_storage_with_other_upload_options_leaves_the_original_alone() {
        with_upload_options_changes_only_the_new_storage(EMULATOR).await;
    }
}

#[cfg(feature = "azure")]
mod azure {
    use flyte_storage::AzureUploadOptions;

    use super::*;

    const EMULATOR: Emulator = Emulator::Azure;
    const CONTENT_TYPES: ContentTypes = ContentTypes {
        defaults: &["application/octet-stream"],
        single_request: true,
    };

    #[tokio::test]
    /// The encryption scope goes with every request too, and Azurite takes it, but
    /// neither Azurite nor azure_storage_blobs 0.21 reports it back (docs/storage.md).
    async fn every_upload_path_carries_metadata_and_the_access_tier() {
        let upload = UploadOptions {
            metadata: metadata(),
            azure: AzureUploadOptions {
                access_tier: Some("Cool".to_owned()),
                encryption_scope: Some("flytescope".to_owned()),
            },
            ..UploadOptions::default()
        };
        let (storage, base) = storage_with(EMULATOR, upload).await;
        let objects = write_by_every_path(&storage, &base).await;
        assert_every_path(EMULATOR, &objects, CONTENT_TYPES, |object, properties| {
            let uri = &object.uri;
            assert_eq!(properties.access_tier.as_deref(), Some("Cool"), "{uri}");
        })
        .await;
    }

    #[tokio::test]
    async fn plain_uploads_carry_no_metadata_and_only_a_guessed_content_type() {
        plain_uploads_carry_no_metadata(EMULATOR, CONTENT_TYPES).await;
    }

    #[tokio::test]
    async fn a_configured_content_type_wins_over_the_guess() {
        a_configured_content_type_wins(EMULATOR, CONTENT_TYPES).await;
    }

    #[tokio::test]
    async fn a_storage_with_other_upload_options_leaves_the_original_alone() {
        with_upload_options_changes_only_the_new_storage(EMULATOR).await;
    }
}
