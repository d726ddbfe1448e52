//! [`StorageConfig`]: everything that decides how bytes move, filled in by the caller.
//!
//! This crate reads no environment variables. Each field says which flytekit setting
//! (or which variable that s3fs, gcsfs or adlfs reads on flytekit's behalf) feeds it, so
//! the caller that builds the configuration (the binary, through flyte-config) can give
//! it the value flytekit would have used. The one exception is deliberate and documented
//! on the fields it concerns: when no explicit credentials are configured, the official
//! SDK credential chains (AWS's default chain, Google's Application Default Credentials,
//! Azure's environment/managed identity credential) look for credentials where they
//! always do, exactly as botocore, google-auth and azure-identity do under flytekit.

use std::collections::BTreeMap;
use std::time::Duration;

pub use secrecy::SecretString;

/// How [`Storage`](crate::Storage) moves bytes. Built by the caller (this crate reads no
/// environment and no arguments); construct with
/// `StorageConfig { …, ..StorageConfig::default() }` so that fields added later keep
/// their defaults.
///
/// Memory: a transfer holds at most [`chunk_size`](Self::chunk_size) ×
/// [`chunk_concurrency`](Self::chunk_concurrency) bytes of object data in memory,
/// however large the objects and however many files move at once.
///
/// `Debug` never prints a secret: secrets are [`SecretString`]s.
///
/// ```
/// use std::time::Duration;
/// use flyte_storage::{RetryPolicy, S3Config, Storage, StorageConfig};
///
/// let config = StorageConfig {
///     transfer_concurrency: 32,
///     chunk_size: 16 * 1024 * 1024,
///     s3: S3Config {
///         endpoint: Some("http://minio:9000".into()),
///         ..S3Config::default()
///     },
///     retry: RetryPolicy {
///         max_attempts: 3,
///         ..RetryPolicy::default()
///     },
///     progress_interval: Some(Duration::from_secs(30)),
///     ..StorageConfig::default()
/// };
/// let storage = Storage::new(config); // builds no client and makes no request yet
/// ```
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Files moved at once by directory transfers (0 counts as 1). Default 128: small
    /// files are bound by each request's round trip, not by bandwidth, and memory is
    /// bounded by the chunk budget whatever this is. Measured on Garage 2.5.0, 10,000
    /// files of 10 KiB downloaded by rclone: 14.4 s with 32 in flight, 8.5 s with 64,
    /// 5.4 s with 128, 5.6 s with 256 (uploads: 9.9 s with 32, 9.4 s with 128); a
    /// cloud link's tens of milliseconds per request favour many in flight more.
    pub transfer_concurrency: usize,
    /// Part size in bytes for streamed transfers to and from object stores: multipart
    /// upload parts (S3), blocks (Azure), resumable-upload chunks (GCS) and ranged
    /// reads. Objects up to this size move in one request. S3 needs parts of at least
    /// 5 MiB, so smaller values are raised to that there; a part is also grown when an
    /// object would otherwise need more than 10,000 parts. The local store lets the
    /// kernel copy and does not use it. Fed by flytekit's `_F_P_WRITE_CHUNK_SIZE` when
    /// that is set (the part size flytekit gives s3fs's and gcsfs's uploads). Default
    /// 8 MiB, below flytekit's 25 MiB, because it also sizes the memory budget.
    pub chunk_size: usize,
    /// Chunks in flight at once across the whole [`Storage`](crate::Storage): parts of
    /// one large upload proceed in parallel up to this, and buffered object data of all
    /// transfers together never exceeds `chunk_size × chunk_concurrency` bytes (0
    /// counts as 1). A download range holds a 1 MiB write buffer, not a chunk, so one
    /// large download runs as many ranged requests as that budget holds buffers, at
    /// most 8 (8 with the defaults). Default 4.
    pub chunk_concurrency: usize,
    /// When and how often a failed request to an object store is tried again.
    pub retry: RetryPolicy,
    /// Settings for `s3://` and `s3a://` URIs.
    pub s3: S3Config,
    /// Settings for `gs://` and `gcs://` URIs.
    pub gcs: GcsConfig,
    /// Settings for `abfs://` and `abfss://` URIs.
    pub azure: AzureConfig,
    /// What every object written to an object store carries: metadata, content type,
    /// encryption, storage class, ACL. Applied to every write (single requests,
    /// multipart, resumable and block uploads, files, directories and bytes); local
    /// files carry none of it. [`Storage::with_upload_options`](crate::Storage::with_upload_options)
    /// gives a storage that writes with other options.
    pub upload: UploadOptions,
    /// How often a transfer still running reports its progress in an `INFO` log line
    /// (URI without its query, bytes done of the total, rate, retries; files done for
    /// a directory). A transfer that ends sooner logs nothing extra, so short
    /// transfers stay quiet and a 50 GB download is never silent for longer than this.
    /// `None`: never. Default 10 s.
    pub progress_interval: Option<Duration>,
    /// Bounds of [`Storage::prefetch`](crate::Storage::prefetch), and whether it runs.
    pub prefetch: PrefetchConfig,
}

/// Bounds of [`Storage::prefetch`](crate::Storage::prefetch): a prefetch that would cross
/// one is not started (the access then downloads as usual).
///
/// ```
/// use flyte_storage::{PrefetchConfig, StorageConfig};
///
/// let config = StorageConfig {
///     prefetch: PrefetchConfig {
///         byte_budget: 2 << 30, // 2 GiB of prefetched copies at most
///         ..PrefetchConfig::default()
///     },
///     ..StorageConfig::default()
/// };
/// # assert!(config.prefetch.enabled);
/// // Or none at all:
/// let off = PrefetchConfig { enabled: false, ..PrefetchConfig::default() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchConfig {
    /// Whether prefetches run at all; `false` makes [`Storage::prefetch`](crate::Storage::prefetch)
    /// do nothing. Default `true`.
    pub enabled: bool,
    /// Bytes all prefetched copies not yet taken may hold together. Default 16 GiB.
    pub byte_budget: u64,
    /// The share of the prefetch directory's file system, in percent of its size, a
    /// prefetch must leave free (counting the downloads still running). Default 10.
    pub min_free_percent: u8,
}

impl Default for PrefetchConfig {
    fn default() -> Self {
        PrefetchConfig {
            enabled: true,
            byte_budget: 16 << 30,
            min_free_percent: 10,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            transfer_concurrency: 128,
            chunk_size: 8 * 1024 * 1024,
            chunk_concurrency: 4,
            retry: RetryPolicy::default(),
            s3: S3Config::default(),
            gcs: GcsConfig::default(),
            azure: AzureConfig::default(),
            upload: UploadOptions::default(),
            progress_interval: Some(Duration::from_secs(10)),
            prefetch: PrefetchConfig::default(),
        }
    }
}

/// What an object is created with, on every upload path. The default writes objects as
/// the store's bucket defaults them (no metadata, the bucket's encryption and storage
/// class, no ACL), with a content type guessed from the file name.
///
/// Values are passed to the store as given: the store refuses what it does not know
/// (an unknown storage class, an ACL the bucket forbids) with an error naming the URI.
/// Callers that read them from configuration check them first (flyte-config does).
///
/// ```
/// use flyte_storage::{S3Encryption, S3UploadOptions, Storage, UploadOptions};
///
/// let options = UploadOptions {
///     metadata: [("flyte-execution-project".to_owned(), "flytesnacks".to_owned())].into(),
///     s3: S3UploadOptions {
///         server_side_encryption: Some(S3Encryption::Aes256),
///         ..S3UploadOptions::default()
///     },
///     ..UploadOptions::default()
/// };
/// // For every write of a storage (or in `StorageConfig::upload` from the start):
/// let storage = Storage::default().with_upload_options(options.clone());
/// assert_eq!(storage.upload_options(), &options);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadOptions {
    /// User metadata of every object: S3 `x-amz-meta-<key>`, GCS custom metadata, Azure
    /// `x-ms-meta-<key>`. Use lower-case ASCII keys (S3 and Azure fold case). Azure
    /// takes only C# identifiers as names, so there every character but letters,
    /// digits and `_` becomes `_` (`flyte-execution-project` is stored as
    /// `flyte_execution_project`). The Flyte entrypoint puts the execution's
    /// `flyte-execution-*` keys here (flytekit's `attach_execution_metadata`).
    pub metadata: BTreeMap<String, String>,
    /// The content type of every object. `None`: guessed from the file name (the local
    /// file's for file uploads, the object's for byte uploads) by a small table of
    /// common extensions; an unknown extension sends none and the store applies its
    /// default (`binary/octet-stream` on S3, `application/octet-stream` on GCS and
    /// Azure).
    pub content_type: Option<String>,
    /// S3-only options.
    pub s3: S3UploadOptions,
    /// GCS-only options.
    pub gcs: GcsUploadOptions,
    /// Azure-only options.
    pub azure: AzureUploadOptions,
}

/// S3 server-side encryption (`x-amz-server-side-encryption`).
///
/// ```
/// use flyte_storage::S3Encryption;
///
/// let kms = S3Encryption::Kms {
///     key_id: Some("alias/flyte-outputs".into()),
///     bucket_key: Some(true),
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Encryption {
    /// `AES256`: keys managed by S3 (SSE-S3).
    Aes256,
    /// `aws:kms`: keys in AWS KMS (SSE-KMS).
    Kms {
        /// `x-amz-server-side-encryption-aws-kms-key-id`: the key's id, ARN or alias.
        /// `None`: the account's AWS managed key (`aws/s3`), or the bucket's default key.
        key_id: Option<String>,
        /// `x-amz-server-side-encryption-bucket-key-enabled`: `Some(true)` uses an S3
        /// Bucket Key (fewer KMS requests), `Some(false)` refuses one, `None` leaves it
        /// to the bucket's setting.
        bucket_key: Option<bool>,
    },
}

/// Options only S3 understands.
///
/// ```
/// use flyte_storage::{S3UploadOptions, UploadOptions};
///
/// let upload = UploadOptions {
///     s3: S3UploadOptions {
///         storage_class: Some("INTELLIGENT_TIERING".into()),
///         acl: Some("bucket-owner-full-control".into()),
///         ..S3UploadOptions::default()
///     },
///     ..UploadOptions::default()
/// };
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3UploadOptions {
    /// Server-side encryption of every object. `None` sends no encryption header, so
    /// the bucket's default encryption applies (and a bucket policy that demands the
    /// header refuses the upload, as it refuses flytekit's).
    pub server_side_encryption: Option<S3Encryption>,
    /// `x-amz-storage-class`, e.g. `STANDARD_IA`, `INTELLIGENT_TIERING`, `GLACIER_IR`.
    /// `None`: `STANDARD`.
    pub storage_class: Option<String>,
    /// `x-amz-acl`, a canned ACL, e.g. `bucket-owner-full-control` (needed to write
    /// into another account's bucket that has not disabled ACLs). `None`: no ACL
    /// header.
    pub acl: Option<String>,
}

/// Options only GCS understands.
///
/// ```
/// use flyte_storage::{GcsUploadOptions, UploadOptions};
///
/// let upload = UploadOptions {
///     gcs: GcsUploadOptions {
///         kms_key_name: Some("projects/p/locations/us/keyRings/r/cryptoKeys/k".into()),
///         storage_class: Some("NEARLINE".into()),
///     },
///     ..UploadOptions::default()
/// };
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcsUploadOptions {
    /// The Cloud KMS key that encrypts every object (CMEK), as
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`. `None`: the bucket's default
    /// key, or Google-managed encryption.
    pub kms_key_name: Option<String>,
    /// The storage class, e.g. `NEARLINE`, `COLDLINE`, `ARCHIVE`. `None`: the bucket's
    /// default class.
    pub storage_class: Option<String>,
}

/// Options only Azure Blob Storage understands.
///
/// ```
/// use flyte_storage::{AzureUploadOptions, UploadOptions};
///
/// let upload = UploadOptions {
///     azure: AzureUploadOptions {
///         access_tier: Some("Cool".into()),
///         ..AzureUploadOptions::default()
///     },
///     ..UploadOptions::default()
/// };
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureUploadOptions {
    /// `x-ms-encryption-scope`: the account's encryption scope that encrypts every
    /// blob. `None`: the container's default scope.
    pub encryption_scope: Option<String>,
    /// `x-ms-access-tier`: `Hot`, `Cool`, `Cold` or `Archive`. `None`: the account's
    /// default tier.
    pub access_tier: Option<String>,
}

/// Retries of requests to object stores: exponential backoff with full jitter.
///
/// A request is tried again when the store throttles (HTTP 429, S3 `SlowDown`), fails
/// on its side (5xx), or the connection times out or is reset. Refusals (403), missing
/// objects (404) and bad requests are final at once. The SDKs' own retry loops are
/// switched off so that attempts do not multiply.
///
/// No flytekit setting feeds it: flytekit 1.16 reads `FLYTE_AWS_RETRIES` and
/// `FLYTE_AWS_BACKOFF_SECONDS` but never uses them (see docs/configuration.md).
///
/// ```
/// use std::time::Duration;
/// use flyte_storage::{RetryPolicy, StorageConfig};
///
/// // A slow link: more patience before an attempt counts as stalled.
/// let config = StorageConfig {
///     retry: RetryPolicy {
///         max_attempts: 8,
///         no_progress_timeout: Duration::from_secs(180),
///         ..RetryPolicy::default()
///     },
///     ..StorageConfig::default()
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 counts as 1). Default 5.
    pub max_attempts: u32,
    /// The backoff ceiling before the second attempt; it doubles for each further
    /// attempt, and the wait is drawn uniformly below it. Default 200 ms.
    pub initial_backoff: Duration,
    /// The largest backoff ceiling. Default 10 s.
    pub max_backoff: Duration,
    /// How long to wait for a connection to open (TCP and TLS) before the attempt
    /// counts as stalled and is retried. Default 10 s: a cloud endpoint connects in
    /// milliseconds, and 10 s still outlasts three lost SYNs (Linux resends after 1,
    /// 3 and 7 s). flytekit has no setting for it (s3fs uses 5 s, gcsfs and adlfs
    /// their HTTP clients' defaults).
    pub connect_timeout: Duration,
    /// The no-progress bound: how long bytes may stop moving before the attempt counts
    /// as stalled and is retried. It restarts with every piece that arrives, so it
    /// never cuts a transfer that keeps moving, however long it takes: a download may
    /// go this long without receiving a byte, a request this long without its answer
    /// starting, and a small answer (a listing page, an object's size) this long in
    /// all. Uploads to S3 count each 64 KiB of the body the connection takes as
    /// progress, so the socket's send buffer (up to 4 MiB on Linux) must drain within
    /// this: a link slower than about 70 KiB/s needs a longer bound. The Azure and GCS
    /// clients time an upload request from its first byte sent to its answer's
    /// headers, so there one part (at most [`StorageConfig::chunk_size`], grown only
    /// for objects above 10,000 parts) must go within this: with the defaults, 140
    /// KiB/s. Default 60 s, botocore's read timeout (flytekit has no setting for it;
    /// s3fs lowers it to 15 s with its own retries on top).
    pub no_progress_timeout: Duration,
    /// The longest one attempt may wait for a store that computes its answer before it
    /// sends anything: committing a multipart upload (S3 assembles the object first,
    /// minutes for a large one). Also the backstop of every upload request (a part of
    /// at most [`StorageConfig::chunk_size`] bytes must go within it, on a link of at
    /// least 27 KiB/s with the defaults), for clients that time nothing themselves.
    /// Default 5 min.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            no_progress_timeout: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(300),
        }
    }
}

/// Settings for Amazon S3 and S3-compatible stores (MinIO, moto, …).
///
/// Credentials: when [`access_key_id`](Self::access_key_id) and
/// [`secret_access_key`](Self::secret_access_key) are both set they are used, as
/// flytekit passes them to s3fs as `key`/`secret`. Otherwise (and unless
/// [`anonymous`](Self::anonymous)) the AWS SDK's default chain finds credentials where
/// botocore does: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, the
/// shared config and credentials files (`AWS_PROFILE`), web identity (IRSA:
/// `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`), the ECS container endpoint and EC2
/// instance metadata (unless [`disable_instance_metadata`](Self::disable_instance_metadata)
/// or `AWS_EC2_METADATA_DISABLED=true`).
///
/// ```
/// use flyte_storage::{S3Config, StorageConfig};
///
/// // MinIO with static keys, as flytekit's sandbox configuration gives them.
/// let s3 = S3Config {
///     endpoint: Some("http://localhost:30002".into()),
///     access_key_id: Some("minio".into()),
///     secret_access_key: Some("miniostorage".into()),
///     disable_instance_metadata: true,
///     ..S3Config::default()
/// };
/// assert!(!format!("{s3:?}").contains("miniostorage"), "Debug hides secrets");
/// let config = StorageConfig { s3, ..StorageConfig::default() };
/// ```
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    /// The endpoint URL, e.g. `http://minio:9000`. Fed by flytekit's
    /// `FLYTE_AWS_ENDPOINT` / `[aws] endpoint` / YAML `storage.connection.endpoint`
    /// (which flytekit passes to s3fs as `endpoint_url`). When `None`, the SDK honours
    /// `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL` as botocore does, and otherwise
    /// talks to AWS.
    pub endpoint: Option<String>,
    /// The region to sign for. flytekit has no setting for it; botocore reads
    /// `AWS_REGION`, `AWS_DEFAULT_REGION` and the profile, and so does the SDK when
    /// this is `None`. With none of them, `us-east-1`, as botocore. A bucket in
    /// another region is found by following S3's hint (`x-amz-bucket-region` on a 301
    /// or 400) once and remembering it per bucket, as botocore and s3fs's
    /// `cache_regions` do.
    pub region: Option<String>,
    /// Static access key id. Fed by `FLYTE_AWS_ACCESS_KEY_ID` / `[aws] access_key_id` /
    /// YAML `storage.connection.access-key`. Used only together with
    /// [`secret_access_key`](Self::secret_access_key).
    pub access_key_id: Option<String>,
    /// Static secret access key. Fed by `FLYTE_AWS_SECRET_ACCESS_KEY` /
    /// `[aws] secret_access_key` / YAML `storage.connection.secret-key`.
    pub secret_access_key: Option<SecretString>,
    /// Session token for temporary static credentials. flytekit has no setting for it
    /// (the SDK chain reads `AWS_SESSION_TOKEN` together with the keys from the
    /// environment); set it when the caller passes temporary keys explicitly.
    pub session_token: Option<SecretString>,
    /// `Some(true)` forces path-style addressing (`endpoint/bucket/key`),
    /// `Some(false)` virtual-host style (`bucket.endpoint/key`). `None`: path style
    /// with a custom [`endpoint`](Self::endpoint) (what MinIO and emulators need), virtual
    /// host style against AWS. Fed by `FLYTE_AWS_ADDRESSING_STYLE` /
    /// `[aws] addressing_style` / YAML `storage.connection.addressing-style`: note that
    /// flytekit 1.16 turns on virtual-host style for *any* value of that setting.
    pub force_path_style: Option<bool>,
    /// Unsigned requests, for public buckets (s3fs `anon=True`, which flytekit sets
    /// only for explicitly anonymous access).
    pub anonymous: bool,
    /// Leaves EC2 instance metadata out of the credential chain, so a machine that is
    /// not on EC2 does not wait for it to time out. `AWS_EC2_METADATA_DISABLED=true`
    /// has the same effect through the SDK.
    pub disable_instance_metadata: bool,
}

/// Settings for Google Cloud Storage.
///
/// Credentials: with [`anonymous`](Self::anonymous), none. Otherwise Application
/// Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's user credentials,
/// workload identity / the metadata server), found by Google's auth library as gcsfs
/// finds them. When ADC finds nothing, requests go out anonymously, as gcsfs falls back
/// to `token="anon"`.
///
/// ```
/// use flyte_storage::{GcsConfig, StorageConfig};
///
/// // fake-gcs-server, which takes no credentials.
/// let gcs = GcsConfig {
///     endpoint: Some("http://127.0.0.1:4443".into()),
///     anonymous: true,
///     ..GcsConfig::default()
/// };
/// let config = StorageConfig { gcs, ..StorageConfig::default() };
/// ```
#[derive(Debug, Clone, Default)]
pub struct GcsConfig {
    /// The JSON API endpoint, e.g. `http://127.0.0.1:4443` for fake-gcs-server. Fed by
    /// `STORAGE_EMULATOR_HOST` (which gcsfs reads; a value without a scheme gets
    /// `http://`, as gcsfs does). `None`: `https://storage.googleapis.com`.
    pub endpoint: Option<String>,
    /// No credentials at all (gcsfs `token="anon"`, which flytekit passes for anonymous
    /// access). An emulator needs this or finds nothing in ADC and falls back to it.
    pub anonymous: bool,
    /// Project billed for quota (`x-goog-user-project`) with user credentials. Fed by
    /// `GOOGLE_CLOUD_PROJECT` (gcsfs's `project`); `None` lets ADC decide.
    pub project: Option<String>,
}

/// Settings for Azure Blob Storage / ADLS Gen2 (`abfs://`, `abfss://`).
///
/// Which credential is used follows adlfs: a connection string wins over everything;
/// otherwise, for the account, an account key, then a SAS token, then a service
/// principal (tenant, client id and secret), then (unless
/// [`anonymous`](Self::anonymous)) Azure's environment / managed-identity credential
/// chain, which reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
/// `AZURE_FEDERATED_TOKEN_FILE` (workload identity) and the instance metadata endpoint
/// itself.
///
/// ```
/// use flyte_storage::{AzureConfig, StorageConfig};
///
/// // An account and its shared key; abfs://container/path URIs then name no account.
/// let azure = AzureConfig {
///     account_name: Some("flyteaccount".into()),
///     account_key: Some("base64-key==".into()),
///     ..AzureConfig::default()
/// };
/// let config = StorageConfig { azure, ..StorageConfig::default() };
/// ```
#[derive(Debug, Clone, Default)]
pub struct AzureConfig {
    /// The storage account, for URIs that do not name one
    /// (`abfs://container/path`). Fed by `FLYTE_AZURE_STORAGE_ACCOUNT_NAME` /
    /// `[azure] storage_account_name`, else `AZURE_STORAGE_ACCOUNT_NAME` (adlfs's
    /// fallback). A URI that names the account (`abfs://container@account.dfs.core.windows.net/p`)
    /// uses that one.
    pub account_name: Option<String>,
    /// Shared key of the account. Fed by `FLYTE_AZURE_STORAGE_ACCOUNT_KEY` /
    /// `[azure] storage_account_key`, else `AZURE_STORAGE_ACCOUNT_KEY`.
    pub account_key: Option<SecretString>,
    /// A SAS token (with or without the leading `?`). Fed by `AZURE_STORAGE_SAS_TOKEN`
    /// (flytekit has no setting of its own).
    pub sas_token: Option<SecretString>,
    /// A connection string (`DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;`
    /// or with `SharedAccessSignature=…`, `BlobEndpoint=…` for Azurite). Fed by
    /// `AZURE_STORAGE_CONNECTION_STRING`. It wins over every other credential and
    /// names the account and endpoint itself, as in adlfs.
    pub connection_string: Option<SecretString>,
    /// Service principal tenant. Fed by `FLYTE_AZURE_TENANT_ID` / `[azure] tenant_id`,
    /// else `AZURE_STORAGE_TENANT_ID` (adlfs); `AZURE_TENANT_ID` is read by the
    /// credential chain when nothing explicit is configured.
    pub tenant_id: Option<String>,
    /// Service principal client id. Fed by `FLYTE_AZURE_CLIENT_ID` /
    /// `[azure] client_id`, else `AZURE_STORAGE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// Service principal secret. Fed by `FLYTE_AZURE_CLIENT_SECRET` /
    /// `[azure] client_secret`, else `AZURE_STORAGE_CLIENT_SECRET`.
    pub client_secret: Option<SecretString>,
    /// The blob service URL in place of `https://<account>.blob.core.windows.net`,
    /// e.g. `http://127.0.0.1:10000/devstoreaccount1` for Azurite. flytekit has no
    /// setting for it (adlfs takes it from a connection string's `BlobEndpoint` or from
    /// `account_host`).
    pub endpoint: Option<String>,
    /// Unauthenticated requests, for public containers (adlfs `anon=True`, also
    /// `AZURE_STORAGE_ANON`).
    pub anonymous: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let secret = || Some(SecretString::from("hunter2-very-secret"));
        let config = StorageConfig {
            s3: S3Config {
                access_key_id: Some("AKIDPUBLIC".into()),
                secret_access_key: secret(),
                session_token: secret(),
                ..S3Config::default()
            },
            azure: AzureConfig {
                account_key: secret(),
                sas_token: secret(),
                connection_string: secret(),
                client_secret: secret(),
                ..AzureConfig::default()
            },
            ..StorageConfig::default()
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("AKIDPUBLIC"),
            "non-secrets stay visible: {debug}"
        );
    }
}
