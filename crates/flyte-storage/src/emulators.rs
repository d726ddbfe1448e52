//! Test support (feature `test-emulators`): [`StorageConfig`]s and flytekit environments
//! for the local emulators `cargo xtask test` starts (moto for S3, fake-gcs-server for
//! GCS, Azurite for Azure).
//!
//! This is the one place in the crate that reads environment variables: the endpoints
//! and keys of the running emulators, which xtask passes as `PYFLYTE_EXECUTE_TEST_*`.
//! Production code never enables this feature.
//!
//! ```no_run
//! # async fn demo() {
//! use flyte_storage::Storage;
//! use flyte_storage::emulators::Emulator;
//!
//! let storage = Storage::new(Emulator::S3.config());
//! Emulator::S3.prepare().await; // creates the test bucket
//! let base = Emulator::S3.unique_prefix(); // s3://flyte-tests/<uuid>
//! // flytekit in a child process reaches the same emulator with:
//! let env = Emulator::S3.flytekit_env();
//! # let _ = (storage, base, env);
//! # }
//! ```

use std::collections::BTreeMap;

use crate::config::{AzureConfig, GcsConfig, S3Config, SecretString, StorageConfig};

/// Endpoint of moto's S3 server, e.g. `http://127.0.0.1:40123`.
const S3_ENDPOINT_VAR: &str = "PYFLYTE_EXECUTE_TEST_S3_ENDPOINT";
/// Access key id of the IAM user xtask created in moto.
const S3_ACCESS_KEY_ID_VAR: &str = "PYFLYTE_EXECUTE_TEST_S3_ACCESS_KEY_ID";
/// Secret access key of that user.
const S3_SECRET_ACCESS_KEY_VAR: &str = "PYFLYTE_EXECUTE_TEST_S3_SECRET_ACCESS_KEY";
/// fake-gcs-server's JSON API endpoint, e.g. `http://127.0.0.1:40124`.
const GCS_ENDPOINT_VAR: &str = "PYFLYTE_EXECUTE_TEST_GCS_ENDPOINT";
/// Azurite's blob service URL, e.g. `http://127.0.0.1:40125/devstoreaccount1`.
const AZURE_ENDPOINT_VAR: &str = "PYFLYTE_EXECUTE_TEST_AZURE_ENDPOINT";

/// The bucket (S3, GCS) or container (Azure) every test writes under.
const TEST_BUCKET: &str = "flyte-tests";
/// Azurite's built-in account.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's built-in account key (public: it is in Azurite's documentation).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// One of the emulators `cargo xtask test` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulator {
    /// moto's server, with IAM authentication on.
    S3,
    /// fake-gcs-server.
    Gcs,
    /// Azurite's blob service.
    Azure,
}

#[allow(
    clippy::disallowed_methods,
    reason = "test support only (feature test-emulators): the emulators cargo xtask test started"
)]
fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: this test needs the storage emulators; run it with \
             `cargo xtask test`, which starts moto, fake-gcs-server and Azurite and sets \
             the PYFLYTE_EXECUTE_TEST_* variables"
        )
    })
}

impl Emulator {
    /// The cargo feature of this crate that builds the backend it emulates.
    pub fn feature(self) -> &'static str {
        match self {
            Emulator::S3 => "s3",
            Emulator::Gcs => "gcs",
            Emulator::Azure => "azure",
        }
    }

    /// The URI scheme tests use for it.
    pub fn scheme(self) -> &'static str {
        match self {
            Emulator::S3 => "s3",
            Emulator::Gcs => "gs",
            Emulator::Azure => "abfs",
        }
    }

    /// The emulator's endpoint. Panics, telling to run `cargo xtask test`, when the
    /// emulators are not running.
    pub fn endpoint(self) -> String {
        required(match self {
            Emulator::S3 => S3_ENDPOINT_VAR,
            Emulator::Gcs => GCS_ENDPOINT_VAR,
            Emulator::Azure => AZURE_ENDPOINT_VAR,
        })
    }

    /// A configuration that reaches the emulator with valid credentials. Panics,
    /// telling to run `cargo xtask test`, when the emulators are not running.
    pub fn config(self) -> StorageConfig {
        let mut config = StorageConfig::default();
        match self {
            Emulator::S3 => {
                config.s3 = S3Config {
                    endpoint: Some(self.endpoint()),
                    region: Some("us-east-1".to_owned()),
                    access_key_id: Some(required(S3_ACCESS_KEY_ID_VAR)),
                    secret_access_key: Some(SecretString::from(required(S3_SECRET_ACCESS_KEY_VAR))),
                    force_path_style: Some(true),
                    disable_instance_metadata: true,
                    ..S3Config::default()
                };
            }
            Emulator::Gcs => {
                config.gcs = GcsConfig {
                    endpoint: Some(self.endpoint()),
                    anonymous: true,
                    ..GcsConfig::default()
                };
            }
            Emulator::Azure => {
                config.azure = AzureConfig {
                    account_name: Some(AZURITE_ACCOUNT.to_owned()),
                    account_key: Some(SecretString::from(AZURITE_KEY)),
                    endpoint: Some(self.endpoint()),
                    ..AzureConfig::default()
                };
            }
        }
        config
    }

    /// A configuration for the same emulator whose credentials it refuses (a valid
    /// access key id with a wrong secret; a wrong Azure account key). fake-gcs-server
    /// checks no credentials, so for GCS this is [`Emulator::config`].
    pub fn wrong_credentials_config(self) -> StorageConfig {
        let mut config = self.config();
        let wrong = || Some(SecretString::from("d3JvbmcgY3JlZGVudGlhbHMgZm9yIHRlc3Rz"));
        match self {
            Emulator::S3 => config.s3.secret_access_key = wrong(),
            Emulator::Gcs => {}
            Emulator::Azure => config.azure.account_key = wrong(),
        }
        config
    }

    /// Azurite only: a configuration that authenticates with the connection string
    /// alone (`AZURE_STORAGE_CONNECTION_STRING`), which names account and endpoint.
    pub fn azure_connection_string_config(self) -> StorageConfig {
        assert_eq!(self, Emulator::Azure, "only Azure has connection strings");
        StorageConfig {
            azure: AzureConfig {
                connection_string: Some(SecretString::from(
                    self.flytekit_env()["AZURE_STORAGE_CONNECTION_STRING"].clone(),
                )),
                ..AzureConfig::default()
            },
            ..StorageConfig::default()
        }
    }

    /// Azurite only (feature `azure`): a configuration that authenticates with an
    /// account SAS token
    /// (read, write, delete, list on objects and containers for an hour), signed with
    /// the account key.
    #[cfg(feature = "azure")]
    pub async fn azure_sas_config(self) -> StorageConfig {
        assert_eq!(self, Emulator::Azure, "only Azure has SAS tokens");
        let token = crate::cloud::azure::account_sas_token(&self.config().azure, 3600)
            .await
            .unwrap_or_else(|e| panic!("signing a SAS token for Azurite: {e}"));
        StorageConfig {
            azure: AzureConfig {
                account_name: Some(AZURITE_ACCOUNT.to_owned()),
                sas_token: Some(SecretString::from(token)),
                endpoint: Some(self.endpoint()),
                ..AzureConfig::default()
            },
            ..StorageConfig::default()
        }
    }

    /// A fresh prefix in the test bucket, e.g. `s3://flyte-tests/<uuid>`, so that tests
    /// running at once never see each other's objects.
    pub fn unique_prefix(self) -> String {
        format!(
            "{}://{TEST_BUCKET}/{}",
            self.scheme(),
            uuid::Uuid::new_v4().simple()
        )
    }

    /// The environment that points flytekit (s3fs, gcsfs, adlfs) in a child process at
    /// the same emulator with the same credentials.
    pub fn flytekit_env(self) -> BTreeMap<String, String> {
        let pairs: Vec<(&str, String)> = match self {
            Emulator::S3 => vec![
                ("FLYTE_AWS_ENDPOINT", self.endpoint()),
                ("FLYTE_AWS_ACCESS_KEY_ID", required(S3_ACCESS_KEY_ID_VAR)),
                (
                    "FLYTE_AWS_SECRET_ACCESS_KEY",
                    required(S3_SECRET_ACCESS_KEY_VAR),
                ),
                ("AWS_REGION", "us-east-1".to_owned()),
                ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ],
            // gcsfs reads the emulator host itself and, finding no credentials, goes
            // anonymous.
            Emulator::Gcs => vec![("STORAGE_EMULATOR_HOST", self.endpoint())],
            Emulator::Azure => vec![
                (
                    "AZURE_STORAGE_CONNECTION_STRING",
                    format!(
                        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};\
                         AccountKey={AZURITE_KEY};BlobEndpoint={};",
                        self.endpoint()
                    ),
                ),
                (
                    "FLYTE_AZURE_STORAGE_ACCOUNT_NAME",
                    AZURITE_ACCOUNT.to_owned(),
                ),
                ("FLYTE_AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY.to_owned()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Creates the test bucket or container if it does not exist yet.
    pub async fn prepare(self) {
        let created = match self {
            #[cfg(feature = "s3")]
            Emulator::S3 => {
                let config = self.config();
                crate::cloud::s3::create_bucket(&config.s3, &config.retry, TEST_BUCKET).await
            }
            #[cfg(feature = "gcs")]
            Emulator::Gcs => {
                crate::cloud::gcs::create_bucket(&self.config().gcs, TEST_BUCKET).await
            }
            #[cfg(feature = "azure")]
            Emulator::Azure => {
                crate::cloud::azure::create_container(&self.config().azure, TEST_BUCKET).await
            }
            #[allow(unreachable_patterns)]
            _ => Err(format!(
                "this build of flyte-storage leaves the {self:?} backend out (cargo feature {:?})",
                self.feature()
            )),
        };
        created.unwrap_or_else(|e| panic!("creating {TEST_BUCKET} on the {self:?} emulator: {e}"));
    }
}
