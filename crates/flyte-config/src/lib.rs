//! Flyte's configuration, resolved the way flytekit 1.16's container entrypoint resolves
//! it, so that a platform's existing settings mean the same thing to us.
//!
//! **Owns:** every setting flytekit's runtime path reads: object storage (`[aws]`,
//! `[gcp]`, `[azure]`, `[persistence]` and the provider variables s3fs, gcsfs and adlfs
//! read), statsd, logging, secrets lookup, the execution and task identity
//! (`FLYTE_INTERNAL_*` / `_F_*`), the entrypoint's runtime switches, and the admin
//! connection, each with where its value came from. Sources, in flytekit's order:
//! the environment variable `FLYTE_{SECTION}_{OPTION}`; else the one config file
//! flytekit would pick (`_FLYTECTL_CONFIG_PYFLYTE_OVERRIDE`, `FLYTECTL_CONFIG`,
//! `./flytekit.config`, `~/.flyte/config`, `~/.flyte/config.yaml`), legacy INI or
//! flytectl YAML; else the default.
//!
//! **Never:** reads the process environment, the working directory or the home
//! directory itself (the caller passes an [`Env`] snapshot and [`Dirs`]); logs (it has no
//! logger yet when it runs: [`FlyteConfig::notes`] carries what to log); shows a secret
//! (keys, tokens and client secrets are [`secrecy::SecretString`], redacted in `Debug`,
//! [`FlyteConfig::describe`], serialization and errors).
//!
//! ```
//! use flyte_config::{Dirs, Env, FlyteConfig};
//! use secrecy::ExposeSecret;
//!
//! // The binary passes `Env::from_os(std::env::vars_os())` and the real directories.
//! let env = Env::new()
//!     .with("FLYTE_AWS_ENDPOINT", "http://minio:9000")
//!     .with("FLYTE_AWS_SECRET_ACCESS_KEY", "miniostorage")
//!     .with("FLYTE_SDK_LOGGING_LEVEL", "20");
//! let config = FlyteConfig::load(&env, &Dirs::default())?;
//!
//! assert_eq!(config.storage.s3.endpoint.as_deref(), Some("http://minio:9000"));
//! let secret = config.storage.s3.secret_access_key.as_ref().unwrap();
//! assert_eq!(secret.expose_secret(), "miniostorage");
//! assert_eq!(config.statsd.port, 8125);
//! assert_eq!(config.logging.level, 20);
//!
//! let report = config.describe();
//! assert!(report.contains("storage.s3.secret_access_key"));
//! assert!(!report.contains("miniostorage"));
//! # Ok::<(), flyte_config::ConfigError>(())
//! ```

mod env;
mod error;
mod file;
mod ini;
mod load;
mod resolve;
mod settings;
mod source;
mod upload;
mod yaml;

pub use env::Env;
pub use error::{Choices, ConfigError};
pub use file::{
    ConfigFileFormat, ConfigFileInfo, Dirs, FLYTE_INTERNAL_CONFIGURATION_PATH, FLYTECTL_CONFIG,
    FLYTECTL_CONFIG_PYFLYTE_OVERRIDE,
};
pub use load::FlyteConfig;
pub use secrecy::{ExposeSecret, SecretString};
pub use settings::{
    ArrayJobEnv, AwsEnv, AzureEnv, AzureSettings, AzureUploadSettings, CredentialsSettings,
    ExecutionIdentity, GcpEnv, GcsSettings, GcsUploadSettings, IDENTITY_VARIABLES,
    LiteralOffloading, LoggingFormat, LoggingSettings, PlatformSettings, ProviderEnv,
    RuntimeSwitches, S3Settings, S3UploadSettings, SecretsSettings, StatsdSettings,
    StorageSettings, StorageTimeouts,
};
pub use source::Source;
