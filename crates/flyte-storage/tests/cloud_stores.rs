//! The conformance suite against real servers: moto (S3), fake-gcs-server (GCS) and
//! Azurite (Azure), started by `cargo xtask test`. Without them every test here fails
//! with a message saying to run `cargo xtask test`: none is skipped silently.
//!
//! Each test writes under its own fresh prefix of the emulator's test bucket.

mod conformance;

use flyte_storage::emulators::Emulator;
use flyte_storage::{Storage, StorageUri, Store};

/// Storage for `emulator` and a fresh base URI in its test bucket.
async fn storage_and_base(emulator: Emulator) -> (Storage, String) {
    let storage = Storage::new(emulator.config());
    emulator.prepare().await;
    (storage, emulator.unique_prefix())
}

fn store_for<'a>(storage: &'a Storage, base: &str) -> &'a dyn Store {
    storage
        .store_for(&StorageUri::parse(base).expect("valid base URI"))
        .expect("a store serves the emulator's scheme")
}

macro_rules! conformance_tests {
    ($emulator:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (storage, base) = super::storage_and_base($emulator).await;
                super::conformance::$check(super::store_for(&storage, &base), &base).await;
            }
        )*

        #[tokio::test]
        async fn missing_bucket_is_no_such_bucket() {
            let (storage, _) = super::storage_and_base($emulator).await;
            let uri = format!("{}://no-such-bucket-{}/x/inputs.pb", $emulator.scheme(), uuid_like());
            super::conformance::missing_bucket_is_no_such_bucket(super::store_for(&storage, &uri), &uri).await;
        }

        fn uuid_like() -> String {
            format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos())
        }
    };
}

mod s3 {
    use super::*;

    conformance_tests!(Emulator::S3;
        bytes_round_trip_and_overwrite,
        empty_object_round_trips,
        unicode_and_space_names_round_trip,
        large_file_round_trips,
        hundred_mib_file_round_trips_through_multipart,
        nested_directory_goes_up_and_comes_down,
        listing_ignores_trailing_slash_and_scopes_to_the_prefix,
        missing_prefix_lists_empty_and_downloads_as_not_found,
        exists_is_true_only_for_objects,
        missing_object_is_not_found_naming_the_uri,
        delete_removes_and_tolerates_missing,
        uploading_a_file_as_a_directory_is_refused,
    );

    #[tokio::test]
    async fn wrong_credentials_are_permission_denied() {
        let (_, base) = storage_and_base(Emulator::S3).await;
        let refused = Storage::new(Emulator::S3.wrong_credentials_config());
        conformance::wrong_credentials_are_permission_denied(store_for(&refused, &base), &base)
            .await;
    }
}

mod gcs {
    use super::*;

    conformance_tests!(Emulator::Gcs;
        bytes_round_trip_and_overwrite,
        empty_object_round_trips,
        unicode_and_space_names_round_trip,
        large_file_round_trips,
        hundred_mib_file_round_trips_through_multipart,
        nested_directory_goes_up_and_comes_down,
        listing_ignores_trailing_slash_and_scopes_to_the_prefix,
        missing_prefix_lists_empty_and_downloads_as_not_found,
        exists_is_true_only_for_objects,
        missing_object_is_not_found_naming_the_uri,
        delete_removes_and_tolerates_missing,
        uploading_a_file_as_a_directory_is_refused,
    );

    /// gcsfs, finding no Application Default Credentials, goes anonymous; so do we.
    #[tokio::test]
    async fn without_credentials_access_falls_back_to_anonymous_like_gcsfs() {
        let (_, base) = storage_and_base(Emulator::Gcs).await;
        let mut config = Emulator::Gcs.config();
        config.gcs.anonymous = false;
        let storage = Storage::new(config);
        let started = std::time::Instant::now();
        conformance::bytes_round_trip_and_overwrite(store_for(&storage, &base), &base).await;
        println!("fell back to anonymous in {:?}", started.elapsed());
    }
}

mod azure {
    use super::*;

    conformance_tests!(Emulator::Azure;
        bytes_round_trip_and_overwrite,
        empty_object_round_trips,
        unicode_and_space_names_round_trip,
        large_file_round_trips,
        hundred_mib_file_round_trips_through_multipart,
        nested_directory_goes_up_and_comes_down,
        listing_ignores_trailing_slash_and_scopes_to_the_prefix,
        missing_prefix_lists_empty_and_downloads_as_not_found,
        exists_is_true_only_for_objects,
        missing_object_is_not_found_naming_the_uri,
        delete_removes_and_tolerates_missing,
        uploading_a_file_as_a_directory_is_refused,
    );

    #[tokio::test]
    async fn wrong_credentials_are_permission_denied() {
        let (_, base) = storage_and_base(Emulator::Azure).await;
        let refused = Storage::new(Emulator::Azure.wrong_credentials_config());
        conformance::wrong_credentials_are_permission_denied(store_for(&refused, &base), &base)
            .await;
    }
}
