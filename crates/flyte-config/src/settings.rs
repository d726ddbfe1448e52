//! The typed settings. Field docs name each setting's environment variable, file key
//! and default; docs/configuration.md has the same in one table.

use secrecy::SecretString;
use serde::{Serialize, Serializer};

use crate::error::ConfigError;

/// Serializes a secret as `"<redacted>"` (or `null` when unset): reports and JSON dumps
/// of the configuration never carry secret values.
fn redacted<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_some("<redacted>"),
        None => s.serialize_none(),
    }
}

/// Object storage settings: flytekit's `DataConfig` (what it passes to fsspec) plus the
/// provider variables s3fs, gcsfs and adlfs read on their own.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA", "false");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let storage = &config.storage;
/// assert!(!storage.attach_execution_metadata);
/// assert_eq!(storage.write_chunk_size, 25 * 1024 * 1024, "flytekit's default part size");
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct StorageSettings {
    /// `S3Config`: `[aws]` / `FLYTE_AWS_*` / `storage.connection.*`.
    pub s3: S3Settings,
    /// `GCSConfig`: `[gcp]` / `FLYTE_GCP_*`.
    pub gcs: GcsSettings,
    /// `AzureBlobStorageConfig`: `[azure]` / `FLYTE_AZURE_*`.
    pub azure: AzureSettings,
    /// `FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA` / `[persistence]
    /// attach_execution_metadata`: attach the execution's project, domain, workflow,
    /// launch plan and name as metadata on written objects. Default `true`.
    pub attach_execution_metadata: bool,
    /// `_F_P_WRITE_CHUNK_SIZE`: the part size flytekit gives fsspec's `put` for S3 and
    /// GCS, in bytes. Default 26214400 (25 MiB).
    pub write_chunk_size: u64,
    /// Stall bounds and progress lines of every storage request: ours only, since
    /// flytekit 1.16 has no setting for them (s3fs, gcsfs and adlfs use their own
    /// built-in timeouts, read from no variable).
    pub timeouts: StorageTimeouts,
    /// Variables the storage libraries read directly (`AWS_*`, `GOOGLE_*`,
    /// `STORAGE_EMULATOR_HOST`, `AZURE_*`). flytekit's own settings above win over these
    /// where both exist, because flytekit passes them as explicit arguments.
    pub provider_env: ProviderEnv,
}

/// How long storage requests may go without progress, and how often long transfers
/// log it. Each is a whole number of seconds, checked when the configuration loads.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("PYFLYTE_EXECUTE_STORAGE_NO_PROGRESS_TIMEOUT_SECONDS", "180");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let timeouts = &config.storage.timeouts;
/// assert_eq!(timeouts.no_progress_seconds, 180);
/// assert_eq!((timeouts.connect_seconds, timeouts.progress_interval_seconds), (10, 10));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageTimeouts {
    /// `PYFLYTE_EXECUTE_STORAGE_CONNECT_TIMEOUT_SECONDS`: how long a connection to an
    /// object store may take to open. 1 to 300; default 10.
    pub connect_seconds: u64,
    /// `PYFLYTE_EXECUTE_STORAGE_NO_PROGRESS_TIMEOUT_SECONDS`: how long bytes may stop
    /// moving (no answer, no byte of a body) before the attempt is retried. 1 to 3600;
    /// default 60.
    pub no_progress_seconds: u64,
    /// `PYFLYTE_EXECUTE_STORAGE_PROGRESS_INTERVAL_SECONDS`: how often a transfer still
    /// running logs its progress; 0 never. 0 to 3600; default 10.
    pub progress_interval_seconds: u64,
}

/// S3 settings as flytekit resolves them (`flytekit.configuration.S3Config`).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig, ExposeSecret};
///
/// let env = Env::new()
///     .with("FLYTE_AWS_ENDPOINT", "http://minio:9000")
///     .with("FLYTE_AWS_ACCESS_KEY_ID", "minio");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let s3 = &config.storage.s3;
/// assert_eq!(s3.endpoint.as_deref(), Some("http://minio:9000"));
/// let key_id = s3.access_key_id.as_ref().map(|id| id.expose_secret());
/// assert_eq!(key_id, Some("minio"));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct S3Settings {
    /// `FLYTE_AWS_ENDPOINT` / `[aws] endpoint` / `storage.connection.endpoint`: the S3
    /// endpoint URL (MinIO, LocalStack...). Default: none (AWS's own endpoints).
    pub endpoint: Option<String>,
    /// `FLYTE_AWS_ACCESS_KEY_ID` / `[aws] access_key_id` / `storage.connection.access-key`.
    #[serde(serialize_with = "redacted")]
    pub access_key_id: Option<SecretString>,
    /// `FLYTE_AWS_SECRET_ACCESS_KEY` / `[aws] secret_access_key` /
    /// `storage.connection.secret-key`.
    #[serde(serialize_with = "redacted")]
    pub secret_access_key: Option<SecretString>,
    /// `FLYTE_AWS_ENABLE_DEBUG` / `[aws] enable_debug`. Default `false`.
    pub enable_debug: bool,
    /// `FLYTE_AWS_RETRIES` / `[aws] retries`. Default 3.
    pub retries: i64,
    /// `FLYTE_AWS_BACKOFF_SECONDS` / `[aws] backoff_seconds`. Default 5.
    pub backoff_seconds: i64,
    /// `FLYTE_AWS_ADDRESSING_STYLE` / `[aws] addressing_style` /
    /// `storage.connection.addressing-style`. flytekit 1.16 asks s3fs for
    /// virtual-hosted addressing whenever this is set to anything; the value itself is
    /// kept here as written. Default: none.
    pub addressing_style: Option<String>,
    /// What uploads to S3 are created with. Not flytekit settings: flytekit has no way
    /// to say these (flytekit#1887); the names follow its `[aws]` section.
    pub upload: S3UploadSettings,
}

/// S3 upload settings (ours; docs/configuration.md). Values are checked at load: an
/// unknown one stops start-up naming its variable or key.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("FLYTE_AWS_SERVER_SIDE_ENCRYPTION", "aws:kms")
///     .with("FLYTE_AWS_SSE_KMS_KEY_ID", "alias/flyte");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let upload = &config.storage.s3.upload;
/// assert_eq!(upload.sse_kms_key_id.as_deref(), Some("alias/flyte"));
/// assert!(upload.server_side_encryption.is_some());
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct S3UploadSettings {
    /// `FLYTE_AWS_SERVER_SIDE_ENCRYPTION` / `[aws] server_side_encryption` /
    /// `storage.upload.s3.server-side-encryption`: `AES256` or `aws:kms` (any case).
    /// Default: none (the bucket's default encryption).
    pub server_side_encryption: Option<String>,
    /// `FLYTE_AWS_SSE_KMS_KEY_ID` / `[aws] sse_kms_key_id` /
    /// `storage.upload.s3.sse-kms-key-id`: the KMS key id, ARN or alias for `aws:kms`.
    /// Set but empty is an error. Default: none (the AWS managed key `aws/s3`).
    pub sse_kms_key_id: Option<String>,
    /// `FLYTE_AWS_BUCKET_KEY_ENABLED` / `[aws] bucket_key_enabled` /
    /// `storage.upload.s3.bucket-key-enabled`: use an S3 Bucket Key with `aws:kms`.
    /// Default: none (the bucket's setting).
    pub bucket_key_enabled: Option<bool>,
    /// `FLYTE_AWS_STORAGE_CLASS` / `[aws] storage_class` /
    /// `storage.upload.s3.storage-class`: an S3 storage class (`STANDARD_IA`,
    /// `INTELLIGENT_TIERING`, ...). Default: none (`STANDARD`).
    pub storage_class: Option<String>,
    /// `FLYTE_AWS_ACL` / `[aws] acl` / `storage.upload.s3.acl`: a canned ACL such as
    /// `bucket-owner-full-control`. Default: none.
    pub acl: Option<String>,
}

/// GCS settings as flytekit resolves them (`GCSConfig`).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_GCP_GSUTIL_PARALLELISM", "true");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert!(config.storage.gcs.gsutil_parallelism); // read, and unused by flytekit 1.16
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct GcsSettings {
    /// `FLYTE_GCP_GSUTIL_PARALLELISM` / `[gcp] gsutil_parallelism`. Default `false`.
    pub gsutil_parallelism: bool,
    /// What uploads to GCS are created with (ours, named after flytekit's `[gcp]`).
    pub upload: GcsUploadSettings,
}

/// GCS upload settings (ours; docs/configuration.md).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_GCP_STORAGE_CLASS", "NEARLINE");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let class = config.storage.gcs.upload.storage_class.as_deref();
/// assert!(class.is_some_and(|class| class.eq_ignore_ascii_case("nearline")));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcsUploadSettings {
    /// `FLYTE_GCP_KMS_KEY_NAME` / `[gcp] kms_key_name` / `storage.upload.gcs.kms-key-name`:
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`. Set but empty, or of another
    /// form, is an error. Default: none (the bucket's default key).
    pub kms_key_name: Option<String>,
    /// `FLYTE_GCP_STORAGE_CLASS` / `[gcp] storage_class` /
    /// `storage.upload.gcs.storage-class`: `STANDARD`, `NEARLINE`, `COLDLINE`,
    /// `ARCHIVE` (any case). Default: none (the bucket's default class).
    pub storage_class: Option<String>,
}

/// Azure Blob Storage settings as flytekit resolves them (`AzureBlobStorageConfig`).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_AZURE_STORAGE_ACCOUNT_NAME", "flyteaccount");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert_eq!(config.storage.azure.account_name.as_deref(), Some("flyteaccount"));
/// assert!(config.storage.azure.account_key.is_none());
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct AzureSettings {
    /// `FLYTE_AZURE_STORAGE_ACCOUNT_NAME` / `[azure] storage_account_name`.
    pub account_name: Option<String>,
    /// `FLYTE_AZURE_STORAGE_ACCOUNT_KEY` / `[azure] storage_account_key`.
    #[serde(serialize_with = "redacted")]
    pub account_key: Option<SecretString>,
    /// `FLYTE_AZURE_TENANT_ID` / `[azure] tenant_id`.
    pub tenant_id: Option<String>,
    /// `FLYTE_AZURE_CLIENT_ID` / `[azure] client_id`.
    pub client_id: Option<String>,
    /// `FLYTE_AZURE_CLIENT_SECRET` / `[azure] client_secret`.
    #[serde(serialize_with = "redacted")]
    pub client_secret: Option<SecretString>,
    /// What uploads to Azure are created with (ours, named after flytekit's `[azure]`).
    pub upload: AzureUploadSettings,
}

/// Azure upload settings (ours; docs/configuration.md).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_AZURE_ACCESS_TIER", "Cool");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let tier = config.storage.azure.upload.access_tier.as_deref();
/// assert!(tier.is_some_and(|tier| tier.eq_ignore_ascii_case("cool")));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AzureUploadSettings {
    /// `FLYTE_AZURE_ENCRYPTION_SCOPE` / `[azure] encryption_scope` /
    /// `storage.upload.azure.encryption-scope`. Set but empty is an error. Default:
    /// none (the container's default scope).
    pub encryption_scope: Option<String>,
    /// `FLYTE_AZURE_ACCESS_TIER` / `[azure] access_tier` /
    /// `storage.upload.azure.access-tier`: `Hot`, `Cool`, `Cold` or `Archive` (any
    /// case). Default: none (the account's default tier).
    pub access_tier: Option<String>,
}

/// Provider variables read by the storage libraries themselves (environment only; a
/// variable set to the empty string counts as unset, as in botocore and adlfs).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("AWS_PROFILE", "flyte")
///     .with("GOOGLE_CLOUD_PROJECT", "my-project");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let provider = &config.storage.provider_env;
/// assert_eq!(provider.aws.profile.as_deref(), Some("flyte"));
/// assert_eq!(provider.gcp.cloud_project.as_deref(), Some("my-project"));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct ProviderEnv {
    /// botocore's variables.
    pub aws: AwsEnv,
    /// gcsfs's and Google auth's variables.
    pub gcp: GcpEnv,
    /// adlfs's and azure-identity's variables.
    pub azure: AzureEnv,
}

/// `AWS_*` variables (botocore, and the AWS SDK for Rust, read these).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("AWS_REGION", "eu-west-1")
///     .with("AWS_ENDPOINT_URL", "");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let aws = &config.storage.provider_env.aws;
/// assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
/// assert_eq!(aws.endpoint_url, None, "empty counts as unset");
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct AwsEnv {
    /// `AWS_ACCESS_KEY_ID`.
    #[serde(serialize_with = "redacted")]
    pub access_key_id: Option<SecretString>,
    /// `AWS_SECRET_ACCESS_KEY`.
    #[serde(serialize_with = "redacted")]
    pub secret_access_key: Option<SecretString>,
    /// `AWS_SESSION_TOKEN`.
    #[serde(serialize_with = "redacted")]
    pub session_token: Option<SecretString>,
    /// `AWS_REGION`.
    pub region: Option<String>,
    /// `AWS_DEFAULT_REGION` (the one botocore reads).
    pub default_region: Option<String>,
    /// `AWS_ENDPOINT_URL`: endpoint for every AWS service.
    pub endpoint_url: Option<String>,
    /// `AWS_ENDPOINT_URL_S3`: endpoint for S3, winning over `AWS_ENDPOINT_URL`.
    pub endpoint_url_s3: Option<String>,
    /// `AWS_PROFILE`.
    pub profile: Option<String>,
    /// `AWS_ROLE_ARN` (web identity / IRSA).
    pub role_arn: Option<String>,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` (web identity / IRSA).
    pub web_identity_token_file: Option<String>,
    /// `AWS_CONFIG_FILE`.
    pub config_file: Option<String>,
    /// `AWS_SHARED_CREDENTIALS_FILE`.
    pub shared_credentials_file: Option<String>,
    /// `AWS_CA_BUNDLE`.
    pub ca_bundle: Option<String>,
}

/// Google Cloud variables (gcsfs and google-auth read these).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let gcp = &config.storage.provider_env.gcp;
/// assert_eq!(gcp.storage_emulator_host.as_deref(), Some("http://127.0.0.1:4443"));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct GcpEnv {
    /// `STORAGE_EMULATOR_HOST`: a GCS emulator's URL (fake-gcs-server...).
    pub storage_emulator_host: Option<String>,
    /// `GOOGLE_APPLICATION_CREDENTIALS`: path of a service account key file.
    pub application_credentials: Option<String>,
    /// `GCSFS_DEFAULT_PROJECT`.
    pub default_project: Option<String>,
    /// `GOOGLE_CLOUD_PROJECT`.
    pub cloud_project: Option<String>,
}

/// Azure variables. adlfs reads the `AZURE_STORAGE_*` ones when flytekit's
/// [`AzureSettings`] leave a value unset; azure-identity's credential chain reads the
/// others.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let azure = &config.storage.provider_env.azure;
/// assert_eq!(azure.storage_account_name.as_deref(), Some("devstoreaccount1"));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct AzureEnv {
    /// `AZURE_STORAGE_ACCOUNT_NAME`.
    pub storage_account_name: Option<String>,
    /// `AZURE_STORAGE_ACCOUNT_KEY`.
    #[serde(serialize_with = "redacted")]
    pub storage_account_key: Option<SecretString>,
    /// `AZURE_STORAGE_CONNECTION_STRING`.
    #[serde(serialize_with = "redacted")]
    pub storage_connection_string: Option<SecretString>,
    /// `AZURE_STORAGE_SAS_TOKEN`.
    #[serde(serialize_with = "redacted")]
    pub storage_sas_token: Option<SecretString>,
    /// `AZURE_STORAGE_CLIENT_ID`.
    pub storage_client_id: Option<String>,
    /// `AZURE_STORAGE_CLIENT_SECRET`.
    #[serde(serialize_with = "redacted")]
    pub storage_client_secret: Option<SecretString>,
    /// `AZURE_STORAGE_TENANT_ID`.
    pub storage_tenant_id: Option<String>,
    /// `AZURE_CLIENT_ID` (azure-identity).
    pub client_id: Option<String>,
    /// `AZURE_CLIENT_SECRET` (azure-identity).
    #[serde(serialize_with = "redacted")]
    pub client_secret: Option<SecretString>,
    /// `AZURE_TENANT_ID` (azure-identity).
    pub tenant_id: Option<String>,
    /// `AZURE_FEDERATED_TOKEN_FILE` (workload identity).
    pub federated_token_file: Option<String>,
    /// `AZURE_AUTHORITY_HOST`.
    pub authority_host: Option<String>,
}

/// statsd settings (flytekit's `StatsConfig`).
///
/// flytekit 1.16 declares these entries under the section `secrets`, so the names it
/// actually reads are `FLYTE_SECRETS_HOST` / `_PORT` / `_DISABLED` / `_DISABLE_TAGS` and
/// `[secrets] host` etc. The documented names `FLYTE_STATSD_*` / `[statsd]` are honoured
/// too, and win over flytekit's: env `FLYTE_STATSD_X`, env `FLYTE_SECRETS_X`, then the INI
/// file's `[statsd] x`, then `[secrets] x`. There are no YAML keys.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("FLYTE_SECRETS_HOST", "statsd.monitoring")
///     .with("FLYTE_STATSD_HOST", "statsd.local");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// // The documented name wins over the one flytekit 1.16 reads.
/// assert_eq!(config.statsd.host, "statsd.local");
/// assert_eq!(config.statsd.port, 8125);
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsdSettings {
    /// Host to send UDP datagrams to. Default `localhost`.
    pub host: String,
    /// UDP port. Default 8125.
    pub port: u16,
    /// Send nothing. Default `false`.
    pub disabled: bool,
    /// Send metrics without tags (lower cardinality). Default `false`.
    pub disable_tags: bool,
}

/// How log lines are written (`FLYTE_SDK_LOGGING_FORMAT`).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig, LoggingFormat};
///
/// let env = Env::new().with("FLYTE_SDK_LOGGING_FORMAT", "text");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert_eq!(config.logging.format, LoggingFormat::Text);
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoggingFormat {
    /// JSON lines (`asctime`, `name`, `levelname`, `message`): unset, or exactly `json`.
    Json,
    /// `[name] message`: any other value.
    Text,
}

/// Logging settings. flytekit reads these from the environment only (its INI entry
/// `[sdk] logging_level` exists but nothing reads it), and so does this crate.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_SDK_LOGGING_LEVEL", "10");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert_eq!(config.logging.level, 10, "DEBUG");
/// assert_eq!(config.logging.dev_level, 20);
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggingSettings {
    /// `FLYTE_SDK_LOGGING_LEVEL`: a Python numeric level (10 DEBUG, 20 INFO, 30 WARNING,
    /// 40 ERROR, 50 CRITICAL). Default 30.
    pub level: i64,
    /// `FLYTE_SDK_LOGGING_FORMAT`. Default JSON.
    pub format: LoggingFormat,
    /// `FLYTE_SDK_DEV_LOGGING_LEVEL`: level of flytekit's `developer` logger. Default 20.
    pub dev_level: i64,
}

/// Where flytekit looks for task secrets (`SecretsConfig`).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new();
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let secrets = &config.secrets;
/// assert_eq!(secrets.env_prefix, "_FSEC_");
/// assert_eq!(secrets.default_dir, "/etc/secrets");
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretsSettings {
    /// `FLYTE_SECRETS_ENV_PREFIX` / `[secrets] env_prefix`. Default `_FSEC_`.
    pub env_prefix: String,
    /// `FLYTE_SECRETS_DEFAULT_DIR` / `[secrets] default_dir`. Default `/etc/secrets`.
    pub default_dir: String,
    /// `FLYTE_SECRETS_FILE_PREFIX` / `[secrets] file_prefix`. Default empty.
    pub file_prefix: String,
}

/// The Flyte admin connection (`PlatformConfig`), as read; not used by the entrypoint
/// itself, listed so operators see it.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new().with("FLYTE_PLATFORM_URL", "dns:///flyte.example.com:443");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert_eq!(config.platform.endpoint, "flyte.example.com:443");
/// assert!(!config.platform.insecure);
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformSettings {
    /// `FLYTE_PLATFORM_URL` / `[platform] url` / `admin.endpoint`, with `dns:///`
    /// removed. Default `localhost:30080`.
    pub endpoint: String,
    /// `FLYTE_PLATFORM_INSECURE` / `[platform] insecure` / `admin.insecure`. Default false.
    pub insecure: bool,
    /// `FLYTE_PLATFORM_INSECURE_SKIP_VERIFY` / `[platform] insecure_skip_verify` /
    /// `admin.insecureSkipVerify`. Default false.
    pub insecure_skip_verify: bool,
    /// `FLYTE_PLATFORM_CONSOLE_ENDPOINT` / `[platform] console_endpoint` /
    /// `console.endpoint`.
    pub console_endpoint: Option<String>,
    /// `FLYTE_PLATFORM_CA_CERT_FILE_PATH` / `[platform] ca_cert_file_path` /
    /// `admin.caCertFilePath`.
    pub ca_cert_file_path: Option<String>,
    /// `FLYTE_PLATFORM_HTTP_PROXY_URL` / `[platform] http_proxy_url` / `admin.httpProxyURL`.
    pub http_proxy_url: Option<String>,
}

/// Credentials for Flyte admin (`[credentials]` entries), as read. The secret named by
/// `client_secret_location` or `client_secret_env_var` is not read here.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("FLYTE_CREDENTIALS_CLIENT_ID", "flytepropeller")
///     .with("FLYTE_CREDENTIALS_SCOPES", "all,offline");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let credentials = &config.credentials;
/// assert_eq!(credentials.client_id.as_deref(), Some("flytepropeller"));
/// assert_eq!(credentials.scopes, Some(vec!["all".to_owned(), "offline".to_owned()]));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct CredentialsSettings {
    /// `FLYTE_CREDENTIALS_CLIENT_ID` / `[credentials] client_id` / `admin.clientId`.
    pub client_id: Option<String>,
    /// `FLYTE_CREDENTIALS_CLIENT_SECRET` / `[credentials] client_secret`.
    #[serde(serialize_with = "redacted")]
    pub client_secret: Option<SecretString>,
    /// `FLYTE_CREDENTIALS_CLIENT_SECRET_LOCATION` / `[credentials] client_secret_location` /
    /// `admin.clientSecretLocation`.
    pub client_secret_location: Option<String>,
    /// `FLYTE_CREDENTIALS_CLIENT_SECRET_ENV_VAR` / `[credentials] client_secret_env_var` /
    /// `admin.clientSecretEnvVar`.
    pub client_secret_env_var: Option<String>,
    /// `FLYTE_CREDENTIALS_SCOPES` / `[credentials] scopes` / `admin.scopes` (comma list).
    pub scopes: Option<Vec<String>>,
    /// `FLYTE_CREDENTIALS_AUTH_MODE` / `[credentials] auth_mode` / `admin.authType`.
    pub auth_mode: Option<String>,
    /// `FLYTE_CREDENTIALS_AUDIENCE` / `[credentials] audience` / `admin.audience`.
    pub audience: Option<String>,
    /// `FLYTE_CREDENTIALS_COMMAND` / `[credentials] command` / `admin.command`.
    pub command: Option<Vec<String>>,
    /// `FLYTE_CREDENTIALS_PROXY_COMMAND` / `[credentials] proxy_command` /
    /// `admin.proxyCommand`.
    pub proxy_command: Option<Vec<String>>,
}

/// Which execution and task this process runs, from the variables Flyte propeller sets.
/// Each field takes the first of its two variables that is set (even to ""), else "".
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("_F_PRJ", "flytesnacks")
///     .with("FLYTE_INTERNAL_EXECUTION_PROJECT", "wins")
///     .with("_F_TK_NM", "workflows.example.say_hello");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let identity = &config.identity;
/// assert_eq!(identity.execution_project, "wins", "the long name first");
/// assert_eq!(identity.task_name, "workflows.example.say_hello");
/// assert_eq!(identity.execution_domain, "", "unset");
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecutionIdentity {
    /// `FLYTE_INTERNAL_EXECUTION_PROJECT` or `_F_PRJ`.
    pub execution_project: String,
    /// `FLYTE_INTERNAL_EXECUTION_DOMAIN` or `_F_DM`.
    pub execution_domain: String,
    /// `FLYTE_INTERNAL_EXECUTION_ID` or `_F_NM`: the execution's name.
    pub execution_name: String,
    /// `FLYTE_INTERNAL_EXECUTION_WORKFLOW` or `_F_WF`.
    pub execution_workflow: String,
    /// `FLYTE_INTERNAL_EXECUTION_LAUNCHPLAN` or `_F_LP`.
    pub execution_launchplan: String,
    /// `FLYTE_INTERNAL_TASK_PROJECT` or `_F_TK_PRJ`.
    pub task_project: String,
    /// `FLYTE_INTERNAL_TASK_DOMAIN` or `_F_TK_DM`.
    pub task_domain: String,
    /// `FLYTE_INTERNAL_TASK_NAME` or `_F_TK_NM`.
    pub task_name: String,
    /// `FLYTE_INTERNAL_TASK_VERSION` or `_F_TK_V`.
    pub task_version: String,
}

/// The environment variable pairs behind [`ExecutionIdentity`], in field order.
///
/// ```
/// use flyte_config::IDENTITY_VARIABLES;
///
/// // The identity an environment snapshot carries, under either name, passed on to
/// // a child's environment under both.
/// let pod = std::collections::BTreeMap::from([("_F_PRJ", "flytesnacks"), ("FLYTE_INTERNAL_EXECUTION_DOMAIN", "dev")]);
/// let mut child_env = Vec::new();
/// for (long, short) in IDENTITY_VARIABLES {
///     if let Some(value) = pod.get(long).or_else(|| pod.get(short)) {
///         child_env.extend([(long, *value), (short, *value)]);
///     }
/// }
/// assert!(child_env.contains(&("FLYTE_INTERNAL_EXECUTION_PROJECT", "flytesnacks")));
/// assert!(child_env.contains(&("_F_DM", "dev")));
/// ```
pub const IDENTITY_VARIABLES: [(&str, &str); 9] = [
    ("FLYTE_INTERNAL_EXECUTION_PROJECT", "_F_PRJ"),
    ("FLYTE_INTERNAL_EXECUTION_DOMAIN", "_F_DM"),
    ("FLYTE_INTERNAL_EXECUTION_ID", "_F_NM"),
    ("FLYTE_INTERNAL_EXECUTION_WORKFLOW", "_F_WF"),
    ("FLYTE_INTERNAL_EXECUTION_LAUNCHPLAN", "_F_LP"),
    ("FLYTE_INTERNAL_TASK_PROJECT", "_F_TK_PRJ"),
    ("FLYTE_INTERNAL_TASK_DOMAIN", "_F_TK_DM"),
    ("FLYTE_INTERNAL_TASK_NAME", "_F_TK_NM"),
    ("FLYTE_INTERNAL_TASK_VERSION", "_F_TK_V"),
];

/// Literal offloading limits (`_F_L_MIN_SIZE_MB`, `_F_L_MAX_SIZE_MB`).
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("_F_L_MIN_SIZE_MB", "10")
///     .with("_F_L_MAX_SIZE_MB", "1000");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let offloading = config.runtime.literal_offloading.expect("_F_L_MIN_SIZE_MB is set");
/// assert_eq!((offloading.min_size_mb, offloading.max_size_mb), (10, 1000));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LiteralOffloading {
    /// Outputs at least this many MiB are offloaded. `_F_L_MIN_SIZE_MB`, default 10.
    pub min_size_mb: i64,
    /// Outputs at least this many MiB fail the task. `_F_L_MAX_SIZE_MB`, default 1000.
    pub max_size_mb: i64,
}

impl LiteralOffloading {
    /// The minimum in bytes.
    ///
    /// ```
    /// let offloading = flyte_config::LiteralOffloading { min_size_mb: 10, max_size_mb: 1000 };
    /// assert_eq!(offloading.min_bytes(), 10 * 1024 * 1024);
    /// ```
    pub fn min_bytes(&self) -> i64 {
        self.min_size_mb.saturating_mul(1024 * 1024)
    }

    /// The maximum in bytes.
    ///
    /// ```
    /// let offloading = flyte_config::LiteralOffloading { min_size_mb: 10, max_size_mb: 1000 };
    /// let outputs_pb_len: i64 = 4096;
    /// assert!(outputs_pb_len < offloading.max_bytes());
    /// ```
    pub fn max_bytes(&self) -> i64 {
        self.max_size_mb.saturating_mul(1024 * 1024)
    }
}

/// Switches flytekit's entrypoint reads straight from the environment.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("FLYTE_FAIL_ON_ERROR", "True")
///     .with("_F_RUNTIME_PACKAGES", "pandas==2.2 pyarrow");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let runtime = &config.runtime;
/// assert!(runtime.fail_on_error);
/// assert_eq!(runtime.runtime_packages, ["pandas==2.2", "pyarrow"]);
/// assert!(runtime.literal_offloading.is_none());
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeSwitches {
    /// `FLYTE_INTERNAL_DIST_ERROR_STRATEGY` or `_F_DES`, when non-empty: distributed tasks
    /// write `error-<uuid>.pb` and name their worker.
    pub distributed_error_strategy: Option<String>,
    /// `FLYTE_INTERNAL_WORKER_NAME` or `_F_WN`; empty unless a distributed error strategy
    /// is set, as in flytekit.
    pub worker_name: String,
    /// `FLYTE_FAIL_ON_ERROR`: true for `true`, `t` or `1` in any case. Exit 1 after
    /// writing an error document.
    pub fail_on_error: bool,
    /// Set when `_F_L_MIN_SIZE_MB` is set to a whole number (and `_F_L_MAX_SIZE_MB`, if
    /// set, too); a bad value leaves it unset with a note, as flytekit fails in the run.
    pub literal_offloading: Option<LiteralOffloading>,
    /// `_F_RUNTIME_PACKAGES`, split on single spaces: packages flytekit pip-installs
    /// before loading the task. Empty when unset.
    pub runtime_packages: Vec<String>,
    /// `_F_SS_C`: compressed serialization settings, when non-empty.
    pub serialized_context: Option<String>,
    /// The array-job index variables (map tasks).
    pub array_job: ArrayJobEnv,
}

/// The variables a map task's index comes from (`BATCH_JOB_ARRAY_INDEX_OFFSET`,
/// `BATCH_JOB_ARRAY_INDEX_VAR_NAME` and the variable it names), kept raw: only map tasks
/// compute the index, so only they fail on bad values.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "AWS_BATCH_JOB_ARRAY_INDEX")
///     .with("AWS_BATCH_JOB_ARRAY_INDEX", "3")
///     .with("BATCH_JOB_ARRAY_INDEX_OFFSET", "10");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert_eq!(config.runtime.array_job.index()?, 13);
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArrayJobEnv {
    /// `BATCH_JOB_ARRAY_INDEX_OFFSET`.
    pub offset: Option<String>,
    /// `BATCH_JOB_ARRAY_INDEX_VAR_NAME`.
    pub index_var_name: Option<String>,
    /// The value of the variable `index_var_name` names.
    pub index_var_value: Option<String>,
}

impl ArrayJobEnv {
    /// The task's absolute array index as flytekit computes it: the offset (0 when
    /// unset or empty) plus the named variable's value (when a name is set).
    ///
    /// ```
    /// use flyte_config::ArrayJobEnv;
    ///
    /// let array_job = ArrayJobEnv {
    ///     index_var_name: Some("AWS_BATCH_JOB_ARRAY_INDEX".into()),
    ///     index_var_value: Some("4".into()),
    ///     ..ArrayJobEnv::default()
    /// };
    /// assert_eq!(array_job.index()?, 4);
    /// let broken = ArrayJobEnv { offset: Some("ten".into()), ..ArrayJobEnv::default() };
    /// assert!(broken.index().is_err());
    /// # Ok::<(), flyte_config::ConfigError>(())
    /// ```
    pub fn index(&self) -> Result<i64, ConfigError> {
        let int = |what: &str, text: &str| {
            crate::resolve::python_int(text).ok_or_else(|| ConfigError::ArrayJobIndex {
                problem: format!("{what} is {text:?}, not an integer"),
            })
        };
        let offset = match self.offset.as_deref() {
            Some(text) if !text.is_empty() => int("BATCH_JOB_ARRAY_INDEX_OFFSET", text)?,
            _ => 0,
        };
        match self.index_var_name.as_deref() {
            Some(name) if !name.is_empty() => match self.index_var_value.as_deref() {
                Some(value) => Ok(offset + int(name, value)?),
                None => Err(ConfigError::ArrayJobIndex {
                    problem: format!(
                        "BATCH_JOB_ARRAY_INDEX_VAR_NAME names {name}, which is not set"
                    ),
                }),
            },
            _ => Ok(offset),
        }
    }
}
