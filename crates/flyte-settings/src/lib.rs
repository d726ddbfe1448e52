//! The library crates' settings, made from the one [`FlyteConfig`] a binary loads at
//! start-up: storage ([`storage_config`]), logging ([`log_settings`]) and metrics
//! ([`statsd_settings`], [`metric_scope`]), as flytekit would set each up from the same
//! environment and config file.
//!
//! **What it owns.** The mapping, and only the mapping: which flytekit setting feeds which
//! field, which wins when several are set, what an unset one leaves to the SDKs' own
//! chains. flyte-config knows nothing of the crates that consume it and they know nothing
//! of it; this crate is the one place the two meet, so pyflyte-execute, flyte-copilot and
//! a Rust tool's own entrypoint reach storage the same way from the same pod.
//!
//! **What it never does.** It reads no environment and no file itself (the
//! [`FlyteConfig`] is loaded by the caller, once) and it opens no connection: it returns
//! plain settings values.
//!
//! ```
//! use flyte_config::{Dirs, Env, FlyteConfig};
//!
//! let env = Env::new()
//!     .with("FLYTE_AWS_ENDPOINT", "http://minio:9000")
//!     .with("AWS_DEFAULT_REGION", "eu-west-1");
//! let config = FlyteConfig::load(&env, &Dirs::default()).expect("the configuration loads");
//! let storage = flyte_settings::storage_config(&config);
//! assert_eq!(storage.s3.endpoint.as_deref(), Some("http://minio:9000"));
//! assert_eq!(storage.s3.region.as_deref(), Some("eu-west-1"));
//! ```

use std::time::Duration;

use flyte_config::{ExposeSecret, FlyteConfig, Source, StorageTimeouts};
use flyte_storage::{
    AzureConfig, AzureUploadOptions, GcsConfig, GcsUploadOptions, RetryPolicy, S3Config,
    S3Encryption, S3UploadOptions, StorageConfig, UploadOptions,
};
use flyte_telemetry::{LogFormat, LogSettings, MetricScope, StatsdSettings};

/// Logging as flytekit would set it up.
///
/// ```
/// # let config = |pairs: &[(&str, &str)]| flyte_config::FlyteConfig::load(
/// #     &pairs.iter().fold(flyte_config::Env::new(), |env, (k, v)| env.with(*k, *v)),
/// #     &flyte_config::Dirs::default()).expect("loads");
/// let logging = flyte_settings::log_settings(&config(&[("FLYTE_SDK_LOGGING_LEVEL", "10")]));
/// assert_eq!(logging.python_level, 10);
/// assert_eq!(logging.format, flyte_telemetry::LogFormat::Json, "flytekit's default");
/// ```
pub fn log_settings(config: &FlyteConfig) -> LogSettings {
    LogSettings {
        python_level: config.logging.level,
        format: match config.logging.format {
            flyte_config::LoggingFormat::Json => LogFormat::Json,
            flyte_config::LoggingFormat::Text => LogFormat::Text,
        },
    }
}

/// Where the entrypoint's metrics go: flytekit's `statsd` section.
///
/// ```
/// # let config = |pairs: &[(&str, &str)]| flyte_config::FlyteConfig::load(
/// #     &pairs.iter().fold(flyte_config::Env::new(), |env, (k, v)| env.with(*k, *v)),
/// #     &flyte_config::Dirs::default()).expect("loads");
/// let statsd = flyte_settings::statsd_settings(&config(&[("FLYTE_STATSD_HOST", "statsd.monitoring")]));
/// assert_eq!((statsd.host.as_str(), statsd.port), ("statsd.monitoring", 8125));
/// ```
pub fn statsd_settings(config: &FlyteConfig) -> StatsdSettings {
    let statsd = &config.statsd;
    StatsdSettings {
        host: statsd.host.clone(),
        port: statsd.port,
        disabled: statsd.disabled,
        disable_tags: statsd.disable_tags,
    }
}

/// The task and execution the metrics are about, as flytekit names them.
///
/// ```
/// # let config = |pairs: &[(&str, &str)]| flyte_config::FlyteConfig::load(
/// #     &pairs.iter().fold(flyte_config::Env::new(), |env, (k, v)| env.with(*k, *v)),
/// #     &flyte_config::Dirs::default()).expect("loads");
/// let scope = flyte_settings::metric_scope(&config(&[("FLYTE_INTERNAL_TASK_PROJECT", "flytesnacks")]));
/// assert_eq!(scope.task_project, "flytesnacks");
/// ```
pub fn metric_scope(config: &FlyteConfig) -> MetricScope {
    let identity = &config.identity;
    MetricScope {
        task_project: identity.task_project.clone(),
        task_domain: identity.task_domain.clone(),
        task_name: identity.task_name.clone(),
        exec_project: identity.execution_project.clone(),
        exec_domain: identity.execution_domain.clone(),
        exec_workflow: identity.execution_workflow.clone(),
        exec_launchplan: identity.execution_launchplan.clone(),
    }
}

/// The environment a Python worker gets so that its own flytekit logs and counts as the
/// supervisor does (same level, format and statsd target).
///
/// ```
/// # let config = |pairs: &[(&str, &str)]| flyte_config::FlyteConfig::load(
/// #     &pairs.iter().fold(flyte_config::Env::new(), |env, (k, v)| env.with(*k, *v)),
/// #     &flyte_config::Dirs::default()).expect("loads");
/// let env = flyte_settings::worker_env(&config(&[("FLYTE_SDK_LOGGING_LEVEL", "20")]));
/// assert!(env.contains(&("FLYTE_SDK_LOGGING_LEVEL".to_owned(), "20".to_owned())));
/// ```
pub fn worker_env(config: &FlyteConfig) -> Vec<(String, String)> {
    flyte_telemetry::worker_env(&log_settings(config), &statsd_settings(config))
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Storage as flytekit and its fsspec backends would reach it.
///
/// flytekit hands its own settings (`FLYTE_AWS_*`, `FLYTE_AZURE_*` and their file
/// twins) to s3fs and adlfs, which fall back to the provider variables they read
/// themselves (`AWS_*`, `AZURE_STORAGE_*`); gcsfs takes `STORAGE_EMULATOR_HOST`. So:
/// flytekit's setting first, the provider variable second. Credentials neither names are
/// left to the SDKs' own chains, as botocore, google-auth and azure-identity find them.
///
/// Every object written (outputs.pb, futures.pb, error.pb, offloaded literals, and
/// whatever the task uploads through the storage bridge) is created with
/// [`upload_options`].
///
/// Read but deliberately not mapped (docs/configuration.md says why for each):
/// `storage.s3.retries`, `backoff_seconds` and `enable_debug` and
/// `storage.gcs.gsutil_parallelism`, which flytekit 1.16 reads and never uses; and
/// the provider variables the SDKs read on their own.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
/// use flyte_storage::Storage;
///
/// let env = Env::new()
///     .with("FLYTE_AWS_ENDPOINT", "http://minio:9000")
///     .with("AWS_ENDPOINT_URL", "http://elsewhere:9000")
///     .with("STORAGE_EMULATOR_HOST", "127.0.0.1:4443");
/// let config = FlyteConfig::load(&env, &Dirs::default()).expect("the configuration loads");
/// let storage_config = flyte_settings::storage_config(&config);
/// // flytekit's own setting wins over the provider variable.
/// assert_eq!(storage_config.s3.endpoint.as_deref(), Some("http://minio:9000"));
/// // gcsfs's emulator host, without a scheme, is http.
/// assert_eq!(storage_config.gcs.endpoint.as_deref(), Some("http://127.0.0.1:4443"));
/// let storage = Storage::new(storage_config);
/// ```
pub fn storage_config(config: &FlyteConfig) -> StorageConfig {
    let storage = &config.storage;
    let (s3, aws) = (&storage.s3, &storage.provider_env.aws);
    let (azure, azure_env) = (&storage.azure, &storage.provider_env.azure);
    let gcp = &storage.provider_env.gcp;
    // s3fs gets flytekit's keys only as a pair; alone, neither is used.
    let (access_key_id, secret_access_key) = match (&s3.access_key_id, &s3.secret_access_key) {
        (Some(id), Some(secret)) => (Some(id.expose_secret().to_owned()), Some(secret.clone())),
        _ => (None, None),
    };
    StorageConfig {
        s3: S3Config {
            endpoint: s3
                .endpoint
                .clone()
                .or_else(|| aws.endpoint_url_s3.clone())
                .or_else(|| aws.endpoint_url.clone()),
            region: aws.region.clone().or_else(|| aws.default_region.clone()),
            access_key_id,
            secret_access_key,
            // flytekit asks for virtual-host addressing whenever a style is set at all.
            force_path_style: s3.addressing_style.as_ref().map(|_| false),
            ..S3Config::default()
        },
        gcs: GcsConfig {
            endpoint: gcp.storage_emulator_host.as_deref().map(|host| {
                if host.contains("://") {
                    host.to_owned()
                } else {
                    format!("http://{host}")
                }
            }),
            project: gcp
                .cloud_project
                .clone()
                .or_else(|| gcp.default_project.clone()),
            ..GcsConfig::default()
        },
        azure: AzureConfig {
            account_name: azure
                .account_name
                .clone()
                .or_else(|| azure_env.storage_account_name.clone()),
            account_key: azure
                .account_key
                .clone()
                .or_else(|| azure_env.storage_account_key.clone()),
            sas_token: azure_env.storage_sas_token.clone(),
            connection_string: azure_env.storage_connection_string.clone(),
            tenant_id: azure
                .tenant_id
                .clone()
                .or_else(|| azure_env.storage_tenant_id.clone()),
            client_id: azure
                .client_id
                .clone()
                .or_else(|| azure_env.storage_client_id.clone()),
            client_secret: azure
                .client_secret
                .clone()
                .or_else(|| azure_env.storage_client_secret.clone()),
            ..AzureConfig::default()
        },
        chunk_size: chunk_size(config),
        upload: upload_options(config),
        retry: retry_policy(&storage.timeouts),
        progress_interval: match storage.timeouts.progress_interval_seconds {
            0 => None,
            seconds => Some(Duration::from_secs(seconds)),
        },
        ..StorageConfig::default()
    }
}

/// The stall bounds of every storage request, from our `PYFLYTE_EXECUTE_STORAGE_*`
/// variables (flytekit has no such setting; flyte-config bounds each value). Attempts
/// and backoff keep the storage defaults.
fn retry_policy(timeouts: &StorageTimeouts) -> RetryPolicy {
    RetryPolicy {
        connect_timeout: Duration::from_secs(timeouts.connect_seconds),
        no_progress_timeout: Duration::from_secs(timeouts.no_progress_seconds),
        ..RetryPolicy::default()
    }
}

/// What every object a run writes is created with: the execution metadata flytekit
/// attaches (`storage.attach_execution_metadata`, on by default: the five
/// `flyte-execution-*` keys, filled from `FLYTE_INTERNAL_EXECUTION_*` / `_F_*` and empty
/// when those are unset, exactly as flytekit's entrypoint fills them), and the upload
/// settings of each store. Content types are guessed from file names.
///
/// ```
/// # let config = |pairs: &[(&str, &str)]| flyte_config::FlyteConfig::load(
/// #     &pairs.iter().fold(flyte_config::Env::new(), |env, (k, v)| env.with(*k, *v)),
/// #     &flyte_config::Dirs::default()).expect("loads");
/// let upload = flyte_settings::upload_options(&config(&[
///     ("FLYTE_AWS_SERVER_SIDE_ENCRYPTION", "AES256"),
///     ("FLYTE_INTERNAL_EXECUTION_ID", "a1b2c3"),
/// ]));
/// assert_eq!(upload.s3.server_side_encryption, Some(flyte_storage::S3Encryption::Aes256));
/// assert_eq!(upload.metadata["flyte-execution-name"], "a1b2c3");
/// ```
pub fn upload_options(config: &FlyteConfig) -> UploadOptions {
    let storage = &config.storage;
    let identity = &config.identity;
    let metadata = if storage.attach_execution_metadata {
        [
            ("flyte-execution-project", &identity.execution_project),
            ("flyte-execution-domain", &identity.execution_domain),
            ("flyte-execution-launchplan", &identity.execution_launchplan),
            ("flyte-execution-workflow", &identity.execution_workflow),
            ("flyte-execution-name", &identity.execution_name),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.clone()))
        .collect()
    } else {
        Default::default()
    };
    let (s3, gcs, azure) = (
        &storage.s3.upload,
        &storage.gcs.upload,
        &storage.azure.upload,
    );
    UploadOptions {
        metadata,
        content_type: None,
        s3: S3UploadOptions {
            // flyte-config accepts only these two values.
            server_side_encryption: match s3.server_side_encryption.as_deref() {
                Some("AES256") => Some(S3Encryption::Aes256),
                Some(_) => Some(S3Encryption::Kms {
                    key_id: s3.sse_kms_key_id.clone(),
                    bucket_key: s3.bucket_key_enabled,
                }),
                None => None,
            },
            storage_class: s3.storage_class.clone(),
            acl: s3.acl.clone(),
        },
        gcs: GcsUploadOptions {
            kms_key_name: gcs.kms_key_name.clone(),
            storage_class: gcs.storage_class.clone(),
        },
        azure: AzureUploadOptions {
            encryption_scope: azure.encryption_scope.clone(),
            access_tier: azure.access_tier.clone(),
        },
    }
}

/// `_F_P_WRITE_CHUNK_SIZE` when it is set: under flytekit it is the `chunksize` of
/// s3fs's and gcsfs's `put`, their upload part size, which `chunk_size` is for us.
/// Unset, our default stays rather than flytekit's 25 MiB: `chunk_size` also sizes
/// the memory budget (`chunk_size × chunk_concurrency`).
fn chunk_size(config: &FlyteConfig) -> usize {
    match config.source_of("storage.write_chunk_size") {
        None | Some(Source::Default) => StorageConfig::default().chunk_size,
        Some(_) => usize::try_from(config.storage.write_chunk_size).unwrap_or(usize::MAX),
    }
}

#[cfg(test)]
mod tests {
    use flyte_config::{Dirs, Env};

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> FlyteConfig {
        let env = pairs
            .iter()
            .fold(Env::new(), |env, (name, value)| env.with(*name, *value));
        FlyteConfig::load(&env, &Dirs::default()).expect("config loads")
    }

    #[test]
    fn flytekits_s3_settings_win_over_the_aws_variables() {
        let storage = storage_config(&config(&[
            ("FLYTE_AWS_ENDPOINT", "http://minio:9000"),
            ("AWS_ENDPOINT_URL", "http://elsewhere:1"),
            ("FLYTE_AWS_ACCESS_KEY_ID", "flyte-id"),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", "flyte-secret"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ]));
        assert_eq!(storage.s3.endpoint.as_deref(), Some("http://minio:9000"));
        assert_eq!(storage.s3.access_key_id.as_deref(), Some("flyte-id"));
        assert_eq!(
            storage
                .s3
                .secret_access_key
                .expect("secret")
                .expose_secret(),
            "flyte-secret"
        );
        assert_eq!(storage.s3.region.as_deref(), Some("eu-west-1"));
        assert_eq!(storage.s3.force_path_style, None);
    }

    #[test]
    fn storage_stall_bounds_and_progress_interval_come_from_our_variables() {
        let defaults = storage_config(&config(&[]));
        assert_eq!(defaults.retry, RetryPolicy::default());
        assert_eq!(defaults.progress_interval, Some(Duration::from_secs(10)));
        let storage = storage_config(&config(&[
            ("PYFLYTE_EXECUTE_STORAGE_CONNECT_TIMEOUT_SECONDS", "3"),
            ("PYFLYTE_EXECUTE_STORAGE_NO_PROGRESS_TIMEOUT_SECONDS", "120"),
            ("PYFLYTE_EXECUTE_STORAGE_PROGRESS_INTERVAL_SECONDS", "0"),
        ]));
        assert_eq!(storage.retry.connect_timeout, Duration::from_secs(3));
        assert_eq!(storage.retry.no_progress_timeout, Duration::from_secs(120));
        assert_eq!(
            storage.retry.max_attempts,
            RetryPolicy::default().max_attempts
        );
        assert_eq!(
            storage.progress_interval, None,
            "0 turns progress lines off"
        );
    }

    #[test]
    fn without_flytekit_settings_the_provider_variables_apply() {
        let storage = storage_config(&config(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("FLYTE_AWS_ACCESS_KEY_ID", "half-a-pair"),
            ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
            ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1"),
            ("AZURE_STORAGE_SAS_TOKEN", "sv=1&sig=x"),
        ]));
        assert_eq!(
            storage.s3.endpoint.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            storage.s3.access_key_id, None,
            "a key without its secret is not used, as in s3fs"
        );
        assert_eq!(
            storage.gcs.endpoint.as_deref(),
            Some("http://127.0.0.1:4443")
        );
        assert_eq!(
            storage.azure.account_name.as_deref(),
            Some("devstoreaccount1")
        );
        assert!(storage.azure.sas_token.is_some());
    }

    #[test]
    fn the_s3_specific_endpoint_variable_wins_over_the_general_one() {
        let storage = storage_config(&config(&[
            ("AWS_ENDPOINT_URL", "http://general:1"),
            ("AWS_ENDPOINT_URL_S3", "http://s3-only:2"),
        ]));
        assert_eq!(storage.s3.endpoint.as_deref(), Some("http://s3-only:2"));
    }

    #[test]
    fn aws_region_wins_over_aws_default_region() {
        let storage = storage_config(&config(&[
            ("AWS_REGION", "eu-central-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ]));
        assert_eq!(storage.s3.region.as_deref(), Some("eu-central-1"));
    }

    #[test]
    fn gcs_takes_the_emulator_host_as_given_and_the_cloud_project_first() {
        let storage = storage_config(&config(&[
            ("STORAGE_EMULATOR_HOST", "https://gcs.example:4443"),
            ("GCSFS_DEFAULT_PROJECT", "gcsfs-project"),
            ("GOOGLE_CLOUD_PROJECT", "cloud-project"),
        ]));
        assert_eq!(
            storage.gcs.endpoint.as_deref(),
            Some("https://gcs.example:4443")
        );
        assert_eq!(storage.gcs.project.as_deref(), Some("cloud-project"));
        let storage = storage_config(&config(&[("GCSFS_DEFAULT_PROJECT", "gcsfs-project")]));
        assert_eq!(storage.gcs.project.as_deref(), Some("gcsfs-project"));
    }

    #[test]
    fn flytekits_azure_settings_win_over_adlfs_variables_which_fill_the_rest() {
        let storage = storage_config(&config(&[
            ("FLYTE_AZURE_STORAGE_ACCOUNT_NAME", "flyteaccount"),
            ("AZURE_STORAGE_ACCOUNT_NAME", "envaccount"),
            ("FLYTE_AZURE_STORAGE_ACCOUNT_KEY", "flyte-key"),
            ("AZURE_STORAGE_ACCOUNT_KEY", "env-key"),
            ("FLYTE_AZURE_TENANT_ID", "flyte-tenant"),
            ("AZURE_STORAGE_TENANT_ID", "env-tenant"),
            ("AZURE_STORAGE_CLIENT_ID", "env-client"),
            ("AZURE_STORAGE_CLIENT_SECRET", "env-secret"),
            (
                "AZURE_STORAGE_CONNECTION_STRING",
                "AccountName=a;AccountKey=k",
            ),
        ]));
        let azure = storage.azure;
        assert_eq!(azure.account_name.as_deref(), Some("flyteaccount"));
        assert_eq!(azure.account_key.expect("key").expose_secret(), "flyte-key");
        assert_eq!(azure.tenant_id.as_deref(), Some("flyte-tenant"));
        assert_eq!(azure.client_id.as_deref(), Some("env-client"));
        assert_eq!(
            azure.client_secret.expect("secret").expose_secret(),
            "env-secret"
        );
        assert_eq!(
            azure
                .connection_string
                .expect("connection string")
                .expose_secret(),
            "AccountName=a;AccountKey=k"
        );
    }

    #[test]
    fn a_write_chunk_size_that_is_set_is_the_part_size() {
        let storage = storage_config(&config(&[("_F_P_WRITE_CHUNK_SIZE", "16777216")]));
        assert_eq!(storage.chunk_size, 16 * 1024 * 1024);
    }

    #[test]
    fn without_a_write_chunk_size_the_storage_default_stays() {
        let config = config(&[]);
        assert_eq!(config.storage.write_chunk_size, 25 * 1024 * 1024);
        assert_eq!(
            storage_config(&config).chunk_size,
            StorageConfig::default().chunk_size
        );
    }

    /// flytekit 1.16 reads these and never uses them: they are reported, and change
    /// nothing here.
    #[test]
    fn settings_flytekit_never_uses_are_read_and_change_nothing() {
        let plain = storage_config(&config(&[]));
        let config = config(&[
            ("FLYTE_AWS_RETRIES", "9"),
            ("FLYTE_AWS_BACKOFF_SECONDS", "1"),
            ("FLYTE_AWS_ENABLE_DEBUG", "true"),
            ("FLYTE_GCP_GSUTIL_PARALLELISM", "true"),
        ]);
        let storage = &config.storage;
        assert_eq!((storage.s3.retries, storage.s3.backoff_seconds), (9, 1));
        assert!(storage.s3.enable_debug && storage.gcs.gsutil_parallelism);
        assert_eq!(
            format!("{:?}", storage_config(&config)),
            format!("{plain:?}")
        );
    }

    #[test]
    fn every_upload_carries_the_execution_metadata_as_flytekit_names_and_fills_it() {
        let upload = storage_config(&config(&[
            ("FLYTE_INTERNAL_EXECUTION_PROJECT", "flytesnacks"),
            ("_F_DM", "development"),
            ("FLYTE_INTERNAL_EXECUTION_ID", "a1b2c3"),
            ("FLYTE_INTERNAL_EXECUTION_WORKFLOW", "wf.my_wf"),
        ]))
        .upload;
        let pairs: Vec<(&str, &str)> = upload
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("flyte-execution-domain", "development"),
                ("flyte-execution-launchplan", ""),
                ("flyte-execution-name", "a1b2c3"),
                ("flyte-execution-project", "flytesnacks"),
                ("flyte-execution-workflow", "wf.my_wf"),
            ]
        );
        assert_eq!(upload.content_type, None, "guessed per file");
    }

    #[test]
    fn attach_execution_metadata_false_attaches_none() {
        let upload = storage_config(&config(&[
            ("FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA", "false"),
            ("FLYTE_INTERNAL_EXECUTION_PROJECT", "flytesnacks"),
        ]))
        .upload;
        assert!(upload.metadata.is_empty(), "{upload:?}");
    }

    #[test]
    fn upload_settings_become_each_stores_upload_options() {
        let upload = storage_config(&config(&[
            ("FLYTE_AWS_SERVER_SIDE_ENCRYPTION", "aws:kms"),
            ("FLYTE_AWS_SSE_KMS_KEY_ID", "alias/flyte"),
            ("FLYTE_AWS_BUCKET_KEY_ENABLED", "true"),
            ("FLYTE_AWS_STORAGE_CLASS", "standard_ia"),
            ("FLYTE_AWS_ACL", "bucket-owner-full-control"),
            (
                "FLYTE_GCP_KMS_KEY_NAME",
                "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            ),
            ("FLYTE_GCP_STORAGE_CLASS", "nearline"),
            ("FLYTE_AZURE_ENCRYPTION_SCOPE", "scope1"),
            ("FLYTE_AZURE_ACCESS_TIER", "cool"),
        ]))
        .upload;
        assert_eq!(
            upload.s3,
            S3UploadOptions {
                server_side_encryption: Some(S3Encryption::Kms {
                    key_id: Some("alias/flyte".into()),
                    bucket_key: Some(true),
                }),
                storage_class: Some("STANDARD_IA".into()),
                acl: Some("bucket-owner-full-control".into()),
            }
        );
        assert_eq!(
            upload.gcs,
            GcsUploadOptions {
                kms_key_name: Some("projects/p/locations/l/keyRings/r/cryptoKeys/k".into()),
                storage_class: Some("NEARLINE".into()),
            }
        );
        assert_eq!(
            upload.azure,
            AzureUploadOptions {
                encryption_scope: Some("scope1".into()),
                access_tier: Some("Cool".into()),
            }
        );
        let sse_s3 = storage_config(&config(&[("FLYTE_AWS_SERVER_SIDE_ENCRYPTION", "aes256")]));
        assert_eq!(
            sse_s3.upload.s3.server_side_encryption,
            Some(S3Encryption::Aes256)
        );
    }

    #[test]
    fn any_addressing_style_means_virtual_host_as_in_flytekit() {
        let storage = storage_config(&config(&[("FLYTE_AWS_ADDRESSING_STYLE", "path")]));
        assert_eq!(storage.s3.force_path_style, Some(false));
    }
}
