//! [`StorageConfig`]s and flytekit environments for the storage emulators `cargo xtask
//! test` starts (moto for S3, fake-gcs-server for GCS, Azurite for Azure), and what a
//! test needs of them besides a [`Storage`](flyte_storage::Storage): creating the test
//! bucket, reading back what an object was created with, signing a SAS token.
//! Feature `storage-emulators`.
//!
//! The endpoints and keys of the running emulators come from the
//! `PYFLYTE_EXECUTE_TEST_*` variables xtask sets; without them every helper panics,
//! saying to run `cargo xtask test`. The requests go through the stores' SDKs
//! directly, not through flyte-storage, so that a test checks flyte-storage against
//! the server rather than against itself.
//!
//! ```no_run
//! # async fn demo() {
//! use flyte_storage::Storage;
//! use flyte_test_support::emulators::Emulator;
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

use flyte_storage::{AzureConfig, GcsConfig, S3Config, SecretString, StorageConfig};

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

/// What an object was created with, as the emulator reports it back. Each store
/// reports its own part; the rest stays empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectProperties {
    /// User metadata (S3 `x-amz-meta-*`, GCS `metadata`, Azure `x-ms-meta-*`).
    pub metadata: BTreeMap<String, String>,
    /// The content type.
    pub content_type: Option<String>,
    /// S3: `x-amz-server-side-encryption` (`AES256`, `aws:kms`).
    pub server_side_encryption: Option<String>,
    /// S3: the SSE-KMS key id; GCS: `kmsKeyName`.
    pub kms_key: Option<String>,
    /// S3: `x-amz-server-side-encryption-bucket-key-enabled`.
    pub bucket_key_enabled: Option<bool>,
    /// S3 and GCS: the storage class.
    pub storage_class: Option<String>,
    /// S3: the object's ACL grants, as `PERMISSION grantee` (the grantee's URI, id or
    /// name).
    pub acl_grants: Vec<String>,
    /// Azure: the access tier.
    pub access_tier: Option<String>,
}

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
    reason = "test support: the emulators cargo xtask test started"
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
    /// The cargo feature of flyte-storage that builds the backend it emulates.
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

    /// Azurite only: a configuration that authenticates with an account SAS token
    /// (read, write, delete, list on objects and containers for an hour), signed with
    /// the account key.
    pub async fn azure_sas_config(self) -> StorageConfig {
        assert_eq!(self, Emulator::Azure, "only Azure has SAS tokens");
        let token = azure::account_sas_token(&self.endpoint(), 3600)
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

    /// What the object at `uri` was created with, read back from the emulator (S3:
    /// `HeadObject` and `GetObjectAcl`; GCS: the object resource; Azure: Get Blob
    /// Properties). Panics when the object cannot be read.
    pub async fn properties(self, uri: &str) -> ObjectProperties {
        let parsed = flyte_storage::StorageUri::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        let (bucket, key) = match parsed.location() {
            flyte_storage::Location::S3 { bucket, key }
            | flyte_storage::Location::Gcs { bucket, key } => (bucket.clone(), key.clone()),
            flyte_storage::Location::Azure {
                container, path, ..
            } => (container.clone(), path.clone()),
            other => panic!("{uri} is no emulator's object: {other:?}"),
        };
        let read = match self {
            Emulator::S3 => s3::object_properties(&self.config().s3, &bucket, &key).await,
            Emulator::Gcs => gcs::object_properties(&self.endpoint(), &bucket, &key).await,
            Emulator::Azure => azure::object_properties(&self.endpoint(), &bucket, &key).await,
        };
        read.unwrap_or_else(|e| panic!("reading the properties of {uri} on {self:?}: {e}"))
    }

    /// Creates the test bucket or container if it does not exist yet.
    pub async fn prepare(self) {
        let created = match self {
            Emulator::S3 => s3::create_bucket(&self.config().s3, TEST_BUCKET).await,
            Emulator::Gcs => gcs::create_bucket(&self.endpoint(), TEST_BUCKET).await,
            Emulator::Azure => azure::create_container(&self.endpoint(), TEST_BUCKET).await,
        };
        created.unwrap_or_else(|e| panic!("creating {TEST_BUCKET} on the {self:?} emulator: {e}"));
    }
}

/// moto, through aws-sdk-s3.
mod s3 {
    use aws_sdk_s3::Client;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
    use secrecy::ExposeSecret;

    use super::{ObjectProperties, S3Config};

    fn client(config: &S3Config) -> Client {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let secret = config
            .secret_access_key
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default();
        let sdk = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(config.region.clone().unwrap_or_default()))
            .endpoint_url(config.endpoint.clone().unwrap_or_default())
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                config.access_key_id.clone().unwrap_or_default(),
                secret,
                None,
                None,
                "emulator",
            ))
            .build();
        Client::from_conf(sdk)
    }

    pub(super) async fn create_bucket(config: &S3Config, bucket: &str) -> Result<(), String> {
        match client(config).create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(DisplayErrorContext(&error).to_string()),
        }
    }

    pub(super) async fn object_properties(
        config: &S3Config,
        bucket: &str,
        key: &str,
    ) -> Result<ObjectProperties, String> {
        let client = client(config);
        let head = client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
        // moto answers 500 for the ACL of an object that went up in parts without one:
        // no grants to report then.
        let acl = client
            .get_object_acl()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .ok();
        let acl_grants = acl
            .iter()
            .flat_map(|acl| acl.grants())
            .map(|grant| {
                let grantee = grant.grantee().map_or_else(String::new, |g| {
                    g.uri()
                        .or(g.id())
                        .or(g.display_name())
                        .unwrap_or_default()
                        .to_owned()
                });
                let permission = grant.permission().map_or("", |p| p.as_str());
                format!("{permission} {grantee}")
            })
            .collect();
        Ok(ObjectProperties {
            metadata: head
                .metadata()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            content_type: head.content_type().map(str::to_owned),
            server_side_encryption: head.server_side_encryption().map(|e| e.as_str().to_owned()),
            kms_key: head.ssekms_key_id().map(str::to_owned),
            bucket_key_enabled: head.bucket_key_enabled(),
            storage_class: head.storage_class().map(|c| c.as_str().to_owned()),
            acl_grants,
            ..Default::default()
        })
    }
}

/// fake-gcs-server, through its JSON API (it checks no credentials).
mod gcs {
    use super::ObjectProperties;

    fn url(endpoint: &str, segments: &[&str]) -> Result<url::Url, String> {
        let mut url = url::Url::parse(endpoint).map_err(|e| format!("{endpoint}: {e}"))?;
        url.path_segments_mut()
            .map_err(|()| format!("{endpoint} has no path"))?
            .pop_if_empty()
            .extend(["storage", "v1", "b"])
            .extend(segments);
        Ok(url)
    }

    pub(super) async fn create_bucket(endpoint: &str, bucket: &str) -> Result<(), String> {
        let response = reqwest::Client::new()
            .post(url(endpoint, &[])?)
            .query(&[("project", "flyte-tests")])
            .header("content-type", "application/json")
            .body(serde_json::json!({ "name": bucket }).to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            200..=299 | 409 => Ok(()),
            status => Err(format!(
                "{status}: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }

    pub(super) async fn object_properties(
        endpoint: &str,
        bucket: &str,
        key: &str,
    ) -> Result<ObjectProperties, String> {
        let response = reqwest::Client::new()
            .get(url(endpoint, &[bucket, "o", key])?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {text}"));
        }
        let resource: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        let field = |name: &str| resource[name].as_str().map(str::to_owned);
        Ok(ObjectProperties {
            metadata: resource["metadata"]
                .as_object()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            content_type: field("contentType"),
            kms_key: field("kmsKeyName"),
            storage_class: field("storageClass"),
            ..Default::default()
        })
    }
}

/// Azurite, through azure_storage_blobs with its built-in account key.
mod azure {
    use azure_core::error::ErrorKind;
    use azure_storage::{CloudLocation, StorageCredentials};
    use azure_storage_blobs::prelude::{BlobServiceClient, ClientBuilder};

    use super::{AZURITE_ACCOUNT, AZURITE_KEY, ObjectProperties};

    fn service(endpoint: &str) -> BlobServiceClient {
        ClientBuilder::with_location(
            CloudLocation::Custom {
                account: AZURITE_ACCOUNT.to_owned(),
                uri: endpoint.trim_end_matches('/').to_owned(),
            },
            StorageCredentials::access_key(AZURITE_ACCOUNT, AZURITE_KEY.to_owned()),
        )
        .blob_service_client()
    }

    pub(super) async fn create_container(endpoint: &str, container: &str) -> Result<(), String> {
        match service(endpoint).container_client(container).create().await {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(error.kind(), ErrorKind::HttpResponse { status, .. }
                    if u16::from(*status) == 409) =>
            {
                Ok(())
            }
            Err(error) => Err(format!("{error:?}")),
        }
    }

    pub(super) async fn object_properties(
        endpoint: &str,
        container: &str,
        path: &str,
    ) -> Result<ObjectProperties, String> {
        let properties = service(endpoint)
            .container_client(container)
            .blob_client(path)
            .get_properties()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let blob = properties.blob;
        Ok(ObjectProperties {
            metadata: blob.metadata.unwrap_or_default().into_iter().collect(),
            content_type: Some(blob.properties.content_type.clone()),
            access_tier: blob.properties.access_tier.map(|tier| format!("{tier:?}")),
            ..Default::default()
        })
    }

    /// An account SAS token valid for `seconds`, signed with Azurite's account key.
    pub(super) async fn account_sas_token(endpoint: &str, seconds: i64) -> Result<String, String> {
        use azure_storage::shared_access_signature::SasToken;
        use azure_storage::shared_access_signature::account_sas::{
            AccountSasPermissions, AccountSasResourceType,
        };
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
        let permissions = AccountSasPermissions {
            read: true,
            write: true,
            delete: true,
            list: true,
            add: true,
            create: true,
            ..AccountSasPermissions::default()
        };
        service(endpoint)
            .shared_access_signature(AccountSasResourceType::Object, expiry, permissions)
            .await
            .and_then(|sas| sas.token())
            .map_err(|e| e.to_string())
    }
}
