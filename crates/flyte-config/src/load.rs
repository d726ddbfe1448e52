//! [`FlyteConfig`] and its one constructor, [`FlyteConfig::load`].

use std::fmt::Write as _;

use serde::Serialize;

use crate::env::Env;
use crate::error::ConfigError;
use crate::file::{self, ConfigFileInfo, Dirs};
use crate::resolve::{Key, Resolved, Resolver, Shown, python_int};
use crate::settings::*;
use crate::source::Source;
use crate::upload;

/// Everything flytekit's container entrypoint reads from its configuration, resolved
/// once, with the source of every value.
///
/// `Debug`, `Serialize` and [`describe`](Self::describe) never show secret values.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// let env = Env::new()
///     .with("FLYTE_AWS_ENDPOINT", "http://minio:9000")
///     .with("_F_PRJ", "flytesnacks");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert_eq!(config.storage.s3.endpoint.as_deref(), Some("http://minio:9000"));
/// assert_eq!(config.identity.execution_project, "flytesnacks");
/// for note in &config.notes {
///     eprintln!("config: {note}"); // once logging is up
/// }
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FlyteConfig {
    /// The config file in use, if any (flytekit uses at most one).
    pub config_file: Option<ConfigFileInfo>,
    /// Object storage.
    pub storage: StorageSettings,
    /// statsd metrics.
    pub statsd: StatsdSettings,
    /// Logging.
    pub logging: LoggingSettings,
    /// Where task secrets are looked up.
    pub secrets: SecretsSettings,
    /// The execution and task being run.
    pub identity: ExecutionIdentity,
    /// Entrypoint switches (`_F_*`, `FLYTE_FAIL_ON_ERROR`...).
    pub runtime: RuntimeSwitches,
    /// Flyte admin connection, as read.
    pub platform: PlatformSettings,
    /// Flyte admin credentials, as read.
    pub credentials: CredentialsSettings,
    /// Things an operator should know that did not stop loading: files flytekit ignores,
    /// ignored variables, values flytekit treats as unset. Log them once logging is up.
    pub notes: Vec<String>,
    #[serde(skip)]
    resolved: Vec<Resolved>,
}

const AWS: &str = "aws";
const GCP: &str = "gcp";
const AZURE: &str = "azure";
const CREDENTIALS: &str = "credentials";
const PLATFORM: &str = "platform";

/// statsd entries: the documented `[statsd]` names first, then flytekit 1.16's actual
/// `[secrets]` ones.
fn statsd_keys(option: &'static str) -> [Key; 2] {
    [Key::ini("statsd", option), Key::ini("secrets", option)]
}

impl FlyteConfig {
    /// Resolves the configuration from a snapshot of the environment and the config file
    /// flytekit would pick (see [`Dirs`]), with flytekit 1.16's precedence: for each
    /// setting, its environment variable (when set, even to the empty string); else the
    /// one config file (an INI file is never combined with YAML); else the default.
    ///
    /// Fails on values flytekit would crash on or silently carry on as garbage (a port
    /// that is not a number, an INI boolean configparser rejects, a malformed INI file),
    /// naming the variable, file and key.
    ///
    /// ```no_run
    /// use flyte_config::{Dirs, Env, FlyteConfig};
    ///
    /// // A binary: the process environment and the real directories, once, at start-up.
    /// let env = Env::from_os(std::env::vars_os());
    /// let dirs = Dirs { home: None, current: std::env::current_dir().ok() };
    /// match FlyteConfig::load(&env, &dirs) {
    ///     Ok(config) => println!("{}", config.describe()),
    ///     Err(error) => eprintln!("cannot load the Flyte configuration: {error}"),
    /// }
    /// ```
    pub fn load(env: &Env, dirs: &Dirs) -> Result<FlyteConfig, ConfigError> {
        let mut notes = Vec::new();
        let config_file = file::discover(env, dirs, &mut notes);
        let content = match &config_file {
            Some(info) => Some(file::read(info, &mut notes)?),
            None => None,
        };
        let file = config_file
            .as_ref()
            .zip(content.as_ref())
            .map(|(info, content)| (info.path.as_path(), content));
        let mut r = Resolver::new(env, file);

        let storage = storage(&mut r)?;
        let statsd = StatsdSettings {
            host: r.string_or("statsd.host", &statsd_keys("host"), "localhost")?,
            port: port(&mut r)?,
            disabled: r.boolean("statsd.disabled", &statsd_keys("disabled"), false)?,
            disable_tags: r.boolean("statsd.disable_tags", &statsd_keys("disable_tags"), false)?,
        };
        let logging = logging(&mut r)?;
        let secrets = SecretsSettings {
            env_prefix: r.string_or(
                "secrets.env_prefix",
                &[Key::ini("secrets", "env_prefix")],
                "_FSEC_",
            )?,
            default_dir: r.string_or(
                "secrets.default_dir",
                &[Key::ini("secrets", "default_dir")],
                "/etc/secrets",
            )?,
            file_prefix: r.string_or(
                "secrets.file_prefix",
                &[Key::ini("secrets", "file_prefix")],
                "",
            )?,
        };
        let identity = identity(&mut r);
        let runtime = runtime(&mut r)?;
        let platform = platform(&mut r)?;
        let credentials = credentials(&mut r)?;

        notes.append(&mut r.notes);
        let resolved = r.resolved;
        Ok(FlyteConfig {
            config_file,
            storage,
            statsd,
            logging,
            secrets,
            identity,
            runtime,
            platform,
            credentials,
            notes,
            resolved,
        })
    }

    /// Where `setting` (a dotted name such as `storage.s3.endpoint` or `statsd.port`, as
    /// listed by [`describe`](Self::describe)) got its value.
    ///
    /// ```
    /// use flyte_config::{Dirs, Env, FlyteConfig, Source};
    ///
    /// let env = Env::new().with("FLYTE_AWS_ENDPOINT", "http://minio:9000");
    /// let config = FlyteConfig::load(&env, &Dirs::default())?;
    /// assert_eq!(
    ///     config.source_of("storage.s3.endpoint"),
    ///     Some(&Source::Env { name: "FLYTE_AWS_ENDPOINT".into() })
    /// );
    /// assert_eq!(config.source_of("statsd.port"), Some(&Source::Default));
    /// # Ok::<(), flyte_config::ConfigError>(())
    /// ```
    pub fn source_of(&self, setting: &str) -> Option<&Source> {
        self.resolved
            .iter()
            .find(|r| r.setting == setting)
            .map(|r| &r.source)
    }

    /// The effective configuration for people: one line per setting with its value and
    /// its source, secrets shown as `<redacted>`, followed by the notes.
    ///
    /// ```
    /// use flyte_config::{Dirs, Env, FlyteConfig};
    ///
    /// let env = Env::new().with("FLYTE_AWS_SECRET_ACCESS_KEY", "miniostorage");
    /// let config = FlyteConfig::load(&env, &Dirs::default())?;
    /// let report = config.describe();
    /// assert!(report.starts_with("config file: none"));
    /// assert!(report.contains("storage.s3.secret_access_key"));
    /// assert!(!report.contains("miniostorage"));
    /// # Ok::<(), flyte_config::ConfigError>(())
    /// ```
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match &self.config_file {
            Some(info) => {
                let _ = writeln!(
                    out,
                    "config file: {} ({:?}; {})",
                    info.path.display(),
                    info.format,
                    info.chosen_because
                );
            }
            None => out.push_str("config file: none (environment and defaults only)\n"),
        }
        let width = self
            .resolved
            .iter()
            .map(|r| r.setting.len())
            .max()
            .unwrap_or(0);
        for r in &self.resolved {
            let shown = match &r.shown {
                Shown::Value(v) => format!("{v:?}"),
                Shown::Plain(v) => v.clone(),
                Shown::Redacted => "<redacted>".to_owned(),
                Shown::Unset => "(unset)".to_owned(),
            };
            let _ = writeln!(
                out,
                "{:width$} = {shown}  [{}]",
                r.setting,
                r.source,
                width = width
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

fn storage(r: &mut Resolver<'_>) -> Result<StorageSettings, ConfigError> {
    let s3 = S3Settings {
        enable_debug: r.boolean(
            "storage.s3.enable_debug",
            &[Key::ini(AWS, "enable_debug")],
            false,
        )?,
        endpoint: r.string(
            "storage.s3.endpoint",
            &[Key::both(AWS, "endpoint", "storage.connection.endpoint")],
        )?,
        retries: r.integer("storage.s3.retries", &[Key::ini(AWS, "retries")], 3, false)?,
        backoff_seconds: r.integer(
            "storage.s3.backoff_seconds",
            &[Key::ini(AWS, "backoff_seconds")],
            5,
            true,
        )?,
        access_key_id: r.secret(
            "storage.s3.access_key_id",
            &[Key::both(
                AWS,
                "access_key_id",
                "storage.connection.access-key",
            )],
        )?,
        secret_access_key: r.secret(
            "storage.s3.secret_access_key",
            &[Key::both(
                AWS,
                "secret_access_key",
                "storage.connection.secret-key",
            )],
        )?,
        addressing_style: r.string(
            "storage.s3.addressing_style",
            &[Key::both(
                AWS,
                "addressing_style",
                "storage.connection.addressing-style",
            )],
        )?,
        upload: upload::s3(r)?,
    };
    let gcs = GcsSettings {
        gsutil_parallelism: r.boolean(
            "storage.gcs.gsutil_parallelism",
            &[Key::ini(GCP, "gsutil_parallelism")],
            false,
        )?,
        upload: upload::gcs(r)?,
    };
    let azure = AzureSettings {
        account_name: r.string(
            "storage.azure.account_name",
            &[Key::ini(AZURE, "storage_account_name")],
        )?,
        account_key: r.secret(
            "storage.azure.account_key",
            &[Key::ini(AZURE, "storage_account_key")],
        )?,
        tenant_id: r.string("storage.azure.tenant_id", &[Key::ini(AZURE, "tenant_id")])?,
        client_id: r.string("storage.azure.client_id", &[Key::ini(AZURE, "client_id")])?,
        client_secret: r.secret(
            "storage.azure.client_secret",
            &[Key::ini(AZURE, "client_secret")],
        )?,
        upload: upload::azure(r)?,
    };
    let attach_execution_metadata = r.boolean(
        "storage.attach_execution_metadata",
        &[Key::ini("persistence", "attach_execution_metadata")],
        true,
    )?;
    let write_chunk_size = write_chunk_size(r)?;
    let timeouts = StorageTimeouts {
        connect_seconds: seconds(
            r,
            "storage.timeouts.connect_seconds",
            "PYFLYTE_EXECUTE_STORAGE_CONNECT_TIMEOUT_SECONDS",
            10,
            1..=300,
        )?,
        no_progress_seconds: seconds(
            r,
            "storage.timeouts.no_progress_seconds",
            "PYFLYTE_EXECUTE_STORAGE_NO_PROGRESS_TIMEOUT_SECONDS",
            60,
            1..=3600,
        )?,
        progress_interval_seconds: seconds(
            r,
            "storage.timeouts.progress_interval_seconds",
            "PYFLYTE_EXECUTE_STORAGE_PROGRESS_INTERVAL_SECONDS",
            10,
            0..=3600,
        )?,
    };
    let provider_env = ProviderEnv {
        aws: AwsEnv {
            access_key_id: r.plain_env_secret("env.aws.access_key_id", "AWS_ACCESS_KEY_ID"),
            secret_access_key: r
                .plain_env_secret("env.aws.secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            session_token: r.plain_env_secret("env.aws.session_token", "AWS_SESSION_TOKEN"),
            region: r.plain_env("env.aws.region", "AWS_REGION"),
            default_region: r.plain_env("env.aws.default_region", "AWS_DEFAULT_REGION"),
            endpoint_url: r.plain_env("env.aws.endpoint_url", "AWS_ENDPOINT_URL"),
            endpoint_url_s3: r.plain_env("env.aws.endpoint_url_s3", "AWS_ENDPOINT_URL_S3"),
            profile: r.plain_env("env.aws.profile", "AWS_PROFILE"),
            role_arn: r.plain_env("env.aws.role_arn", "AWS_ROLE_ARN"),
            web_identity_token_file: r.plain_env(
                "env.aws.web_identity_token_file",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
            ),
            config_file: r.plain_env("env.aws.config_file", "AWS_CONFIG_FILE"),
            shared_credentials_file: r.plain_env(
                "env.aws.shared_credentials_file",
                "AWS_SHARED_CREDENTIALS_FILE",
            ),
            ca_bundle: r.plain_env("env.aws.ca_bundle", "AWS_CA_BUNDLE"),
        },
        gcp: GcpEnv {
            storage_emulator_host: r
                .plain_env("env.gcp.storage_emulator_host", "STORAGE_EMULATOR_HOST"),
            application_credentials: r.plain_env(
                "env.gcp.application_credentials",
                "GOOGLE_APPLICATION_CREDENTIALS",
            ),
            default_project: r.plain_env("env.gcp.default_project", "GCSFS_DEFAULT_PROJECT"),
            cloud_project: r.plain_env("env.gcp.cloud_project", "GOOGLE_CLOUD_PROJECT"),
        },
        azure: AzureEnv {
            storage_account_name: r.plain_env(
                "env.azure.storage_account_name",
                "AZURE_STORAGE_ACCOUNT_NAME",
            ),
            storage_account_key: r
                .plain_env_secret("env.azure.storage_account_key", "AZURE_STORAGE_ACCOUNT_KEY"),
            storage_connection_string: r.plain_env_secret(
                "env.azure.storage_connection_string",
                "AZURE_STORAGE_CONNECTION_STRING",
            ),
            storage_sas_token: r
                .plain_env_secret("env.azure.storage_sas_token", "AZURE_STORAGE_SAS_TOKEN"),
            storage_client_id: r
                .plain_env("env.azure.storage_client_id", "AZURE_STORAGE_CLIENT_ID"),
            storage_client_secret: r.plain_env_secret(
                "env.azure.storage_client_secret",
                "AZURE_STORAGE_CLIENT_SECRET",
            ),
            storage_tenant_id: r
                .plain_env("env.azure.storage_tenant_id", "AZURE_STORAGE_TENANT_ID"),
            client_id: r.plain_env("env.azure.client_id", "AZURE_CLIENT_ID"),
            client_secret: r.plain_env_secret("env.azure.client_secret", "AZURE_CLIENT_SECRET"),
            tenant_id: r.plain_env("env.azure.tenant_id", "AZURE_TENANT_ID"),
            federated_token_file: r.plain_env(
                "env.azure.federated_token_file",
                "AZURE_FEDERATED_TOKEN_FILE",
            ),
            authority_host: r.plain_env("env.azure.authority_host", "AZURE_AUTHORITY_HOST"),
        },
    };
    Ok(StorageSettings {
        s3,
        gcs,
        azure,
        attach_execution_metadata,
        write_chunk_size,
        timeouts,
        provider_env,
    })
}

/// A whole number of seconds from the variable `name`, within `range`; `default` when
/// it is unset or empty. Bounded here, so that no later sum of durations can overflow
/// and no zero turns a timeout into an instant failure.
fn seconds(
    r: &mut Resolver<'_>,
    setting: &'static str,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(text) = r.env().get(name).filter(|text| !text.trim().is_empty()) else {
        r.computed(setting, default.to_string(), Source::Default);
        return Ok(default);
    };
    let origin = || Source::env(name);
    let trimmed = text.trim();
    let parsed = match trimmed.parse::<i64>() {
        Ok(value) => value,
        // A whole number too large for i64 is out of range, not "not a number".
        Err(_)
            if trimmed
                .trim_start_matches(['-', '+'])
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
        {
            if trimmed.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            }
        }
        Err(_) => {
            return Err(ConfigError::NotAnInteger {
                origin: origin(),
                value: text.to_owned(),
            });
        }
    };
    let expected = match (*range.start(), *range.end()) {
        (0, 3600) => "whole seconds from 0 (never) to 3600",
        (1, 3600) => "whole seconds from 1 to 3600",
        (1, 300) => "whole seconds from 1 to 300",
        _ => "whole seconds in the documented range",
    };
    let value = u64::try_from(parsed)
        .ok()
        .filter(|value| range.contains(value))
        .ok_or(ConfigError::OutOfRange {
            origin: origin(),
            value: parsed,
            expected,
        })?;
    r.computed(setting, value.to_string(), origin());
    Ok(value)
}

/// `_F_P_WRITE_CHUNK_SIZE`: read with `int()` at flytekit's import, so any non-integer
/// (even empty) stops flytekit.
fn write_chunk_size(r: &mut Resolver<'_>) -> Result<u64, ConfigError> {
    const NAME: &str = "_F_P_WRITE_CHUNK_SIZE";
    const DEFAULT: u64 = 26_214_400;
    let Some(text) = r.env().get(NAME) else {
        r.computed(
            "storage.write_chunk_size",
            DEFAULT.to_string(),
            Source::Default,
        );
        return Ok(DEFAULT);
    };
    let origin = || Source::env(NAME);
    let parsed = python_int(text).ok_or_else(|| ConfigError::NotAnInteger {
        origin: origin(),
        value: text.to_owned(),
    })?;
    let value = u64::try_from(parsed)
        .ok()
        .filter(|v| *v > 0)
        .ok_or(ConfigError::OutOfRange {
            origin: origin(),
            value: parsed,
            expected: "positive byte counts",
        })?;
    r.computed(
        "storage.write_chunk_size",
        value.to_string(),
        Source::env(NAME),
    );
    Ok(value)
}

/// The statsd port: an integer (0 means unset, as in flytekit) that must fit a UDP port.
fn port(r: &mut Resolver<'_>) -> Result<u16, ConfigError> {
    let port = r.integer("statsd.port", &statsd_keys("port"), 8125, false)?;
    u16::try_from(port).map_err(|_| ConfigError::OutOfRange {
        origin: r
            .resolved
            .last()
            .map_or(Source::Default, |resolved| resolved.source.clone()),
        value: port,
        expected: "the UDP ports 1 to 65535",
    })
}

/// Logging comes from the environment only, read with Python's `int()`.
fn logging(r: &mut Resolver<'_>) -> Result<LoggingSettings, ConfigError> {
    let mut level = |setting: &'static str, name: &str, default: i64| match r.env().get(name) {
        None => {
            r.computed(setting, default.to_string(), Source::Default);
            Ok(default)
        }
        Some(text) => match python_int(text) {
            Some(v) => {
                r.computed(setting, v.to_string(), Source::env(name));
                Ok(v)
            }
            None => Err(ConfigError::NotAnInteger {
                origin: Source::env(name),
                value: text.to_owned(),
            }),
        },
    };
    let level_value = level("logging.level", "FLYTE_SDK_LOGGING_LEVEL", 30)?;
    let dev_level = level("logging.dev_level", "FLYTE_SDK_DEV_LOGGING_LEVEL", 20)?;
    const FORMAT: &str = "FLYTE_SDK_LOGGING_FORMAT";
    let (format, source) = match r.env().get(FORMAT) {
        None => (LoggingFormat::Json, Source::Default),
        Some("json") => (LoggingFormat::Json, Source::env(FORMAT)),
        Some(_) => (LoggingFormat::Text, Source::env(FORMAT)),
    };
    let shown = match format {
        LoggingFormat::Json => "json",
        LoggingFormat::Text => "text",
    };
    r.computed("logging.format", shown.to_owned(), source);
    Ok(LoggingSettings {
        level: level_value,
        format,
        dev_level,
    })
}

fn identity(r: &mut Resolver<'_>) -> ExecutionIdentity {
    const SETTINGS: [&str; 9] = [
        "identity.execution_project",
        "identity.execution_domain",
        "identity.execution_name",
        "identity.execution_workflow",
        "identity.execution_launchplan",
        "identity.task_project",
        "identity.task_domain",
        "identity.task_name",
        "identity.task_version",
    ];
    let [
        execution_project,
        execution_domain,
        execution_name,
        execution_workflow,
        execution_launchplan,
        task_project,
        task_domain,
        task_name,
        task_version,
    ] = std::array::from_fn(|i| {
        let (long, short) = IDENTITY_VARIABLES[i];
        let (name, value) = r.env().first_of(&[long, short]);
        let value = value.to_owned();
        r.computed(
            SETTINGS[i],
            value.clone(),
            name.map_or(Source::Default, Source::env),
        );
        value
    });
    ExecutionIdentity {
        execution_project,
        execution_domain,
        execution_name,
        execution_workflow,
        execution_launchplan,
        task_project,
        task_domain,
        task_name,
        task_version,
    }
}

fn runtime(r: &mut Resolver<'_>) -> Result<RuntimeSwitches, ConfigError> {
    let env = r.env();
    let source_of = |name: Option<&str>| name.map_or(Source::Default, Source::env);

    let (name, strategy) = env.first_of(&["FLYTE_INTERNAL_DIST_ERROR_STRATEGY", "_F_DES"]);
    let distributed_error_strategy = (!strategy.is_empty()).then(|| strategy.to_owned());
    r.computed(
        "runtime.distributed_error_strategy",
        strategy.to_owned(),
        source_of(name),
    );
    let worker_name = if distributed_error_strategy.is_some() {
        let (name, worker) = env.first_of(&["FLYTE_INTERNAL_WORKER_NAME", "_F_WN"]);
        r.computed("runtime.worker_name", worker.to_owned(), source_of(name));
        worker.to_owned()
    } else {
        r.computed("runtime.worker_name", String::new(), Source::Default);
        String::new()
    };

    let fail_on_error = env
        .get("FLYTE_FAIL_ON_ERROR")
        .is_some_and(|v| matches!(v.to_lowercase().as_str(), "true" | "t" | "1"));
    r.computed_plain(
        "runtime.fail_on_error",
        fail_on_error,
        source_of(
            env.contains("FLYTE_FAIL_ON_ERROR")
                .then_some("FLYTE_FAIL_ON_ERROR"),
        ),
    );

    let literal_offloading = match env.get("_F_L_MIN_SIZE_MB") {
        None => {
            r.computed("runtime.literal_offloading", "off".into(), Source::Default);
            None
        }
        Some(min) => {
            let max = env.get("_F_L_MAX_SIZE_MB");
            match (python_int(min), max.map(python_int)) {
                (Some(min_size_mb), None | Some(Some(_))) => {
                    let max_size_mb = max.and_then(python_int).unwrap_or(1000);
                    r.computed(
                        "runtime.literal_offloading",
                        format!("min {min_size_mb} MiB, max {max_size_mb} MiB"),
                        Source::env("_F_L_MIN_SIZE_MB"),
                    );
                    Some(LiteralOffloading {
                        min_size_mb,
                        max_size_mb,
                    })
                }
                _ => {
                    // flytekit reads these inside the task run and fails it with a SYSTEM
                    // error document; the worker's flytekit still does, so start anyway.
                    r.notes.push(format!(
                        "_F_L_MIN_SIZE_MB={min:?} / _F_L_MAX_SIZE_MB={:?} is not a whole number: \
                         every task run fails with a SYSTEM error, as in flytekit; fix or unset it",
                        max.unwrap_or_default()
                    ));
                    r.computed(
                        "runtime.literal_offloading",
                        "invalid".into(),
                        Source::env("_F_L_MIN_SIZE_MB"),
                    );
                    None
                }
            }
        }
    };

    let runtime_packages = match env.get("_F_RUNTIME_PACKAGES").filter(|v| !v.is_empty()) {
        Some(text) => {
            r.computed(
                "runtime.runtime_packages",
                text.to_owned(),
                Source::env("_F_RUNTIME_PACKAGES"),
            );
            text.split(' ').map(str::to_owned).collect()
        }
        None => {
            r.computed("runtime.runtime_packages", String::new(), Source::Default);
            Vec::new()
        }
    };

    let serialized_context = env
        .get("_F_SS_C")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    r.computed(
        "runtime.serialized_context",
        if serialized_context.is_some() {
            "(set)".into()
        } else {
            String::new()
        },
        source_of(serialized_context.is_some().then_some("_F_SS_C")),
    );

    let index_var_name = env.get("BATCH_JOB_ARRAY_INDEX_VAR_NAME").map(str::to_owned);
    let array_job = ArrayJobEnv {
        offset: env.get("BATCH_JOB_ARRAY_INDEX_OFFSET").map(str::to_owned),
        index_var_value: index_var_name
            .as_deref()
            .and_then(|name| env.get(name))
            .map(str::to_owned),
        index_var_name,
    };

    Ok(RuntimeSwitches {
        distributed_error_strategy,
        worker_name,
        fail_on_error,
        literal_offloading,
        runtime_packages,
        serialized_context,
        array_job,
    })
}

fn platform(r: &mut Resolver<'_>) -> Result<PlatformSettings, ConfigError> {
    let endpoint = r
        .string(
            "platform.endpoint",
            &[Key::both(PLATFORM, "url", "admin.endpoint")],
        )?
        .map(|url| url.replace("dns:///", ""))
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "localhost:30080".to_owned());
    r.reshow_last(endpoint.clone());
    Ok(PlatformSettings {
        endpoint,
        insecure: r.boolean(
            "platform.insecure",
            &[Key::both(PLATFORM, "insecure", "admin.insecure")],
            false,
        )?,
        insecure_skip_verify: r.boolean(
            "platform.insecure_skip_verify",
            &[Key::both(
                PLATFORM,
                "insecure_skip_verify",
                "admin.insecureSkipVerify",
            )],
            false,
        )?,
        console_endpoint: r.string(
            "platform.console_endpoint",
            &[Key::both(PLATFORM, "console_endpoint", "console.endpoint")],
        )?,
        ca_cert_file_path: r.string(
            "platform.ca_cert_file_path",
            &[Key::both(
                PLATFORM,
                "ca_cert_file_path",
                "admin.caCertFilePath",
            )],
        )?,
        http_proxy_url: r.string(
            "platform.http_proxy_url",
            &[Key::both(PLATFORM, "http_proxy_url", "admin.httpProxyURL")],
        )?,
    })
}

fn credentials(r: &mut Resolver<'_>) -> Result<CredentialsSettings, ConfigError> {
    Ok(CredentialsSettings {
        client_id: r.string(
            "credentials.client_id",
            &[Key::both(CREDENTIALS, "client_id", "admin.clientId")],
        )?,
        client_secret: r.secret(
            "credentials.client_secret",
            &[Key::ini(CREDENTIALS, "client_secret")],
        )?,
        client_secret_location: r.string(
            "credentials.client_secret_location",
            &[Key::both(
                CREDENTIALS,
                "client_secret_location",
                "admin.clientSecretLocation",
            )],
        )?,
        client_secret_env_var: r.string(
            "credentials.client_secret_env_var",
            &[Key::both(
                CREDENTIALS,
                "client_secret_env_var",
                "admin.clientSecretEnvVar",
            )],
        )?,
        scopes: r.list(
            "credentials.scopes",
            &[Key::both(CREDENTIALS, "scopes", "admin.scopes")],
        )?,
        auth_mode: r.string(
            "credentials.auth_mode",
            &[Key::both(CREDENTIALS, "auth_mode", "admin.authType")],
        )?,
        audience: r.string(
            "credentials.audience",
            &[Key::both(CREDENTIALS, "audience", "admin.audience")],
        )?,
        command: r.list(
            "credentials.command",
            &[Key::both(CREDENTIALS, "command", "admin.command")],
        )?,
        proxy_command: r.list(
            "credentials.proxy_command",
            &[Key::both(
                CREDENTIALS,
                "proxy_command",
                "admin.proxyCommand",
            )],
        )?,
    })
}
