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
#[derive(Debug, Clone, Serialize)]
pub struct GcsSettings {
    /// `FLYTE_GCP_GSUTIL_PARALLELISM` / `[gcp] gsutil_parallelism`. Default `false`.
    pub gsutil_parallelism: bool,
    /// What uploads to GCS are created with (ours, named after flytekit's `[gcp]`).
    pub upload: GcsUploadSettings,
}

/// GCS upload settings (ours; docs/configuration.md).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LiteralOffloading {
    /// Outputs at least this many MiB are offloaded. `_F_L_MIN_SIZE_MB`, default 10.
    pub min_size_mb: i64,
    /// Outputs at least this many MiB fail the task. `_F_L_MAX_SIZE_MB`, default 1000.
    pub max_size_mb: i64,
}

impl LiteralOffloading {
    /// The minimum in bytes.
    pub fn min_bytes(&self) -> i64 {
        self.min_size_mb.saturating_mul(1024 * 1024)
    }

    /// The maximum in bytes.
    pub fn max_bytes(&self) -> i64 {
        self.max_size_mb.saturating_mul(1024 * 1024)
    }
}

/// Switches flytekit's entrypoint reads straight from the environment.
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
