//! Storage settings: flytestdlib's (flags, then `--config` files) over flytekit's (the
//! environment and flytekit's config file, as flyte-config resolves them for
//! pyflyte-execute), turned into one [`StorageConfig`].
//!
//! The order, most specific first: a flag; a `--config` file (the last file that sets a
//! value wins, as viper merges them); flytekit's settings (`FLYTE_AWS_*`,
//! `FLYTE_AZURE_*`, their config-file twins, then the provider variables `AWS_*`,
//! `AZURE_STORAGE_*`, `STORAGE_EMULATOR_HOST`, mapped by flyte-settings exactly as for
//! pyflyte-execute, upload settings and stall bounds included); the SDKs' own credential
//! chains. So
//! credentials never need to be on the command line, where the pod spec shows them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use flyte_config::{ExposeSecret, FlyteConfig, SecretString};
use flyte_storage::{AzureConfig, GcsConfig, S3Config, StorageConfig};
use yaml_rust2::{Yaml, YamlLoader};

use crate::cli::GlobalArgs;

/// flytestdlib's `storage:` section, as much of it as copilot's pods use.
#[derive(Debug, Default)]
pub struct StdlibStorage {
    /// `storage.type`: s3, minio, stow, local, mem.
    pub kind: Option<String>,
    /// `storage.container`.
    pub container: Option<String>,
    /// `storage.connection.endpoint`.
    pub endpoint: Option<String>,
    /// `storage.connection.region`.
    pub region: Option<String>,
    /// `storage.connection.auth-type`: iam or accesskey.
    pub auth_type: Option<String>,
    /// `storage.connection.access-key`.
    pub access_key: Option<String>,
    /// `storage.connection.secret-key`.
    pub secret_key: Option<SecretString>,
    /// `storage.connection.disable-ssl`.
    pub disable_ssl: Option<bool>,
    /// `storage.stow.kind`: s3, google, azure, local.
    pub stow_kind: Option<String>,
    /// `storage.stow.config`: the stow backend's own keys.
    pub stow_config: BTreeMap<String, SecretString>,
}

impl StdlibStorage {
    /// The settings `files` (path and text of each `--config` file) give, the later
    /// files' values over the earlier ones'.
    pub fn from_files(files: &[(impl AsRef<Path>, String)]) -> Result<Self> {
        let mut storage = StdlibStorage::default();
        for (path, text) in files {
            let path = path.as_ref();
            let docs = YamlLoader::load_from_str(text).with_context(|| {
                format!(
                    "{} is not YAML: fix the file --config names",
                    path.display()
                )
            })?;
            for doc in &docs {
                storage.merge_yaml(&doc["storage"]).with_context(|| {
                    format!("reading the storage section of {}", path.display())
                })?;
            }
        }
        Ok(storage)
    }

    fn merge_yaml(&mut self, section: &Yaml) -> Result<()> {
        if section.is_badvalue() || section.is_null() {
            return Ok(());
        }
        let text = |value: &Yaml, key: &str| -> Result<Option<String>> {
            match value {
                Yaml::BadValue | Yaml::Null => Ok(None),
                // An empty value is no value, as for the flags (see `set`).
                Yaml::String(text) if text.is_empty() => Ok(None),
                Yaml::String(text) => Ok(Some(text.clone())),
                Yaml::Integer(number) => Ok(Some(number.to_string())),
                Yaml::Real(number) => Ok(Some(number.clone())),
                Yaml::Boolean(flag) => Ok(Some(flag.to_string())),
                _ => bail!("storage.{key} must be a single value"),
            }
        };
        let connection = &section["connection"];
        let stow = &section["stow"];
        set(&mut self.kind, text(&section["type"], "type")?);
        set(
            &mut self.container,
            text(&section["container"], "container")?,
        );
        set(
            &mut self.endpoint,
            text(&connection["endpoint"], "connection.endpoint")?,
        );
        set(
            &mut self.region,
            text(&connection["region"], "connection.region")?,
        );
        set(
            &mut self.auth_type,
            text(&connection["auth-type"], "connection.auth-type")?,
        );
        set(
            &mut self.access_key,
            text(&connection["access-key"], "connection.access-key")?,
        );
        set(
            &mut self.secret_key,
            text(&connection["secret-key"], "connection.secret-key")?.map(SecretString::from),
        );
        if let Some(flag) = text(&connection["disable-ssl"], "connection.disable-ssl")? {
            self.disable_ssl = Some(parse_bool(&flag).context("storage.connection.disable-ssl")?);
        }
        set(&mut self.stow_kind, text(&stow["kind"], "stow.kind")?);
        match &stow["config"] {
            Yaml::BadValue | Yaml::Null => {}
            Yaml::Hash(entries) => {
                for (key, value) in entries {
                    let key = text(key, "stow.config")?.unwrap_or_default();
                    let value = text(value, &format!("stow.config.{key}"))?.unwrap_or_default();
                    self.stow_config.insert(key, SecretString::from(value));
                }
            }
            _ => bail!("storage.stow.config must be a map of keys to values"),
        }
        Ok(())
    }

    /// These settings with the flags' values over them.
    pub fn with_flags(mut self, flags: &GlobalArgs) -> Result<Self> {
        set(&mut self.kind, flags.storage_type.clone());
        set(&mut self.container, flags.storage_container.clone());
        set(&mut self.endpoint, flags.connection_endpoint.clone());
        set(&mut self.region, flags.connection_region.clone());
        set(&mut self.auth_type, flags.connection_auth_type.clone());
        set(&mut self.access_key, flags.connection_access_key.clone());
        set(
            &mut self.secret_key,
            flags.connection_secret_key.clone().map(SecretString::from),
        );
        self.disable_ssl = flags.connection_disable_ssl.or(self.disable_ssl);
        set(&mut self.stow_kind, flags.stow_kind.clone());
        for flag in &flags.stow_config {
            for (key, value) in string_to_string(flag)? {
                self.stow_config.insert(key, SecretString::from(value));
            }
        }
        Ok(self)
    }

    fn stow(&self, key: &str) -> Option<String> {
        self.stow_config
            .get(key)
            .map(|value| value.expose_secret().to_owned())
            .filter(|value| !value.is_empty())
    }

    fn stow_secret(&self, key: &str) -> Option<SecretString> {
        self.stow_config
            .get(key)
            .filter(|value| !value.expose_secret().is_empty())
            .cloned()
    }
}

/// Puts `value` in `slot` unless it is absent or empty. propeller (1.15, 1.16) passes
/// every `--storage.connection.*` flag, empty when its own setting is unset (e.g.
/// `--storage.connection.endpoint=` for S3 with IAM on EKS): an empty value means "not
/// configured", not "configured to nothing", so it must not hide a value from a file or
/// the environment.
fn set<T: Blank>(slot: &mut Option<T>, value: Option<T>) {
    if let Some(value) = value.filter(|value| !value.is_blank()) {
        *slot = Some(value);
    }
}

/// A setting's value that may be empty.
trait Blank {
    fn is_blank(&self) -> bool;
}

impl Blank for String {
    fn is_blank(&self) -> bool {
        self.is_empty()
    }
}

impl Blank for SecretString {
    fn is_blank(&self) -> bool {
        self.expose_secret().is_empty()
    }
}

/// The `key=value` pairs of one `--storage.stow.config` flag, read as pflag's
/// `StringToString` (which flytestdlib binds it to) reads them: an empty value holds no
/// pair; a value with one `=` is one pair, commas and all (`a=1,2`), its surrounding
/// double quotes dropped; a value with more is a CSV record of pairs (`a=1,b="x,y"`).
fn string_to_string(flag: &str) -> Result<Vec<(String, String)>> {
    let pairs = match flag.matches('=').count() {
        _ if flag.is_empty() => Vec::new(),
        0 => bail!(
            "--storage.stow.config {flag:?} is not key=value: give each stow setting as key=value"
        ),
        1 => vec![flag.trim_matches('"').to_owned()],
        _ => csv_record(flag).with_context(|| {
            format!(
                "--storage.stow.config {flag:?} is not a comma-separated list of key=value: quote a pair holding a comma (\"key=a,b\")"
            )
        })?,
    };
    pairs
        .into_iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
            None => bail!(
                "--storage.stow.config {pair:?} is not key=value: give each stow setting as key=value"
            ),
        })
        .collect()
}

/// The first record of `text` read as Go's `encoding/csv` reads it (comma-separated;
/// a field may be double-quoted, with `""` for a quote inside; a quote inside an
/// unquoted field is an error). A newline ends the record, even inside quotes, where Go
/// would go on: a stow setting holds no newline.
fn csv_record(text: &str) -> Result<Vec<String>> {
    let line = text.split('\n').next().unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => bail!("a quoted field is not closed"),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => bail!("{c:?} follows a closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => bail!("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

fn parse_bool(text: &str) -> Result<bool> {
    Ok(crate::values::parse_bool(text)?)
}

/// The storage every transfer of this run uses.
pub fn storage_config(flyte: &FlyteConfig, stdlib: &StdlibStorage) -> Result<StorageConfig> {
    let mut config = flyte_settings::storage_config(flyte);
    let kind = stdlib.kind.as_deref().unwrap_or("");
    let stow_kind = stdlib.stow_kind.as_deref().unwrap_or("");
    match (kind, stow_kind) {
        ("mem", _) => bail!(
            "--storage.type mem keeps data in this process only, so the task's container would never see it: use s3, minio, stow or local"
        ),
        ("s3" | "minio", _) | ("stow", "s3") | ("", "s3") => apply_s3(&mut config.s3, stdlib)?,
        ("stow", "google") | ("", "google") => apply_gcs(&mut config.gcs, stdlib),
        ("stow", "azure") | ("", "azure") => apply_azure(&mut config.azure, stdlib),
        ("local" | "" | "stow", "" | "local") => {}
        (kind, stow_kind) => bail!(
            "unknown storage: --storage.type {kind:?} with --storage.stow.kind {stow_kind:?}; use type s3, minio, local, or stow with kind s3, google, azure or local"
        ),
    }
    Ok(config)
}

fn apply_s3(s3: &mut S3Config, stdlib: &StdlibStorage) -> Result<()> {
    let endpoint = stdlib.endpoint.clone().or_else(|| stdlib.stow("endpoint"));
    let disable_ssl = match (stdlib.disable_ssl, stdlib.stow("disable_ssl")) {
        (Some(flag), _) => flag,
        (None, Some(text)) => parse_bool(&text).context("storage.stow.config disable_ssl")?,
        (None, None) => false,
    };
    if let Some(endpoint) = endpoint {
        let endpoint = if endpoint.contains("://") {
            endpoint
        } else if disable_ssl {
            format!("http://{endpoint}")
        } else {
            format!("https://{endpoint}")
        };
        s3.endpoint = Some(endpoint);
        // An S3-compatible server (minio, moto …) is addressed by path, as stow's s3
        // backend addresses any custom endpoint.
        s3.force_path_style = Some(true);
    }
    if let Some(region) = stdlib.region.clone().or_else(|| stdlib.stow("region")) {
        s3.region = Some(region);
    }
    let auth_type = stdlib
        .auth_type
        .clone()
        .or_else(|| stdlib.stow("auth_type"))
        .unwrap_or_default();
    let access_key = stdlib
        .access_key
        .clone()
        .or_else(|| stdlib.stow("access_key_id"));
    let secret_key = stdlib
        .secret_key
        .clone()
        .or_else(|| stdlib.stow_secret("secret_key"));
    match (auth_type.as_str(), access_key, secret_key) {
        // iam: the SDK's chain (web identity, instance profile, AWS_* …).
        ("iam", _, _) => {}
        (_, Some(id), Some(secret)) => {
            s3.access_key_id = Some(id);
            s3.secret_access_key = Some(secret);
        }
        ("accesskey", _, _) => bail!(
            "storage auth-type accesskey needs both an access key and a secret key (storage.connection.access-key and secret-key, in a --config file or as flags)"
        ),
        _ => {}
    }
    Ok(())
}

fn apply_gcs(gcs: &mut GcsConfig, stdlib: &StdlibStorage) {
    if let Some(project) = stdlib.stow("project_id") {
        gcs.project = Some(project);
    }
}

fn apply_azure(azure: &mut AzureConfig, stdlib: &StdlibStorage) {
    if let Some(account) = stdlib.stow("account") {
        azure.account_name = Some(account);
    }
    if let Some(key) = stdlib.stow_secret("key") {
        azure.account_key = Some(key);
    }
}

#[cfg(test)]
mod tests {
    use flyte_config::{Dirs, Env};

    use super::*;

    fn flyte(pairs: &[(&str, &str)]) -> FlyteConfig {
        let env = pairs
            .iter()
            .fold(Env::new(), |env, (name, value)| env.with(*name, *value));
        FlyteConfig::load(&env, &Dirs::default()).expect("config loads")
    }

    const MINIO_FILE: &str = "
storage:
  type: minio
  container: my-s3-bucket
  connection:
    access-key: minio
    auth-type: accesskey
    disable-ssl: true
    endpoint: minio.flyte:9000
    region: us-east-1
    secret-key: miniostorage
";

    #[test]
    fn a_config_file_gives_minio_credentials_without_any_flag() {
        let stdlib =
            StdlibStorage::from_files(&[("a.yaml", MINIO_FILE.to_owned())]).expect("reads");
        let config = storage_config(&flyte(&[]), &stdlib).expect("valid");
        assert_eq!(
            config.s3.endpoint.as_deref(),
            Some("http://minio.flyte:9000")
        );
        assert_eq!(config.s3.access_key_id.as_deref(), Some("minio"));
        assert_eq!(
            config
                .s3
                .secret_access_key
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            Some("miniostorage".to_owned())
        );
        assert_eq!(config.s3.region.as_deref(), Some("us-east-1"));
        assert_eq!(config.s3.force_path_style, Some(true));
    }

    #[test]
    fn stow_config_pairs_set_the_s3_keys_and_flags_win_over_files() {
        let stdlib =
            StdlibStorage::from_files(&[("a.yaml", MINIO_FILE.to_owned())]).expect("reads");
        let flags = GlobalArgs {
            config: None,
            err_output_name: "error.pb".into(),
            kubeconfig: None,
            show_source: false,
            storage_type: Some("stow".into()),
            storage_container: None,
            storage_enable_multicontainer: None,
            connection_endpoint: None,
            connection_region: Some("eu-west-1".into()),
            connection_auth_type: None,
            connection_access_key: None,
            connection_secret_key: None,
            connection_disable_ssl: None,
            stow_kind: Some("s3".into()),
            stow_config: vec!["access_key_id=other,secret_key=s3cret".into()],
            max_download_mbs: Some(0),
            logger_level: None,
        };
        let stdlib = stdlib.with_flags(&flags).expect("valid flags");
        let config = storage_config(&flyte(&[]), &stdlib).expect("valid");
        assert_eq!(config.s3.region.as_deref(), Some("eu-west-1"));
        // The file's connection keys are more specific than stow's, as in flytestdlib.
        assert_eq!(config.s3.access_key_id.as_deref(), Some("minio"));
    }

    #[test]
    fn flytekit_variables_are_used_when_no_stdlib_setting_is_given() {
        let config = storage_config(
            &flyte(&[
                ("FLYTE_AWS_ENDPOINT", "http://moto:5000"),
                ("FLYTE_AWS_ACCESS_KEY_ID", "id"),
                ("FLYTE_AWS_SECRET_ACCESS_KEY", "secret"),
            ]),
            &StdlibStorage::default(),
        )
        .expect("valid");
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://moto:5000"));
        assert_eq!(config.s3.access_key_id.as_deref(), Some("id"));
    }

    /// The command line propeller 1.16 gives both copilot containers for `type: s3`
    /// with IAM (EKS): every connection flag is passed, empty when unset
    /// (flyteplugins' `CopilotCommandArgs` and `SidecarCommandArgs`).
    fn propeller_v1_16_sidecar_argv(region: &str) -> Vec<String> {
        [
            "/bin/flyte-copilot",
            "--storage.limits.maxDownloadMBs=0",
            "--logger.level=4",
            "--storage.container=my-bucket",
            "--storage.type=s3",
            "--storage.connection.secret-key=",
            "--storage.connection.access-key=",
            "--storage.connection.auth-type=iam",
            &format!("--storage.connection.region={region}"),
            "--storage.connection.endpoint=",
            "sidecar",
            "--timeout",
            "1h0m0s",
            "--to-raw-output",
            "s3://my-bucket/raw/ab",
            "--to-output-prefix",
            "s3://my-bucket/metadata/n0/data/0",
            "--from-local-dir",
            "/var/flyte/outputs",
            "--interface",
            "",
        ]
        .map(String::from)
        .to_vec()
    }

    fn from_argv(argv: &[String], flyte: &FlyteConfig) -> StorageConfig {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(argv).expect("propeller's argv parses");
        let stdlib = StdlibStorage::default()
            .with_flags(&cli.global)
            .expect("valid flags");
        storage_config(flyte, &stdlib).expect("valid storage")
    }

    #[test]
    fn propellers_empty_connection_flags_leave_the_sdk_chain_and_the_environment_in_charge() {
        let config = from_argv(&propeller_v1_16_sidecar_argv("us-east-2"), &flyte(&[]));
        assert_eq!(config.s3.endpoint, None, "AWS's own endpoint, not https://");
        assert_eq!(
            config.s3.force_path_style, None,
            "virtual-hosted, as AWS wants"
        );
        assert_eq!(config.s3.region.as_deref(), Some("us-east-2"));
        assert_eq!(
            config.s3.access_key_id, None,
            "IRSA's web identity, not an empty key"
        );
        assert!(config.s3.secret_access_key.is_none());

        let env = [
            ("FLYTE_AWS_ENDPOINT", "http://minio:9000"),
            ("FLYTE_AWS_ACCESS_KEY_ID", "from-env"),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_REGION", "eu-west-3"),
        ];
        let baseline = flyte_settings::storage_config(&flyte(&env)).s3;
        let config = from_argv(&propeller_v1_16_sidecar_argv(""), &flyte(&env));
        assert_eq!(config.s3.endpoint, baseline.endpoint);
        assert_eq!(config.s3.force_path_style, baseline.force_path_style);
        assert_eq!(config.s3.region, baseline.region, "no empty region");
        assert_eq!(config.s3.access_key_id.as_deref(), Some("from-env"));
        assert_eq!(
            config
                .s3
                .secret_access_key
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            Some("env-secret".to_owned())
        );
    }

    #[test]
    fn propellers_stow_flags_set_every_key_one_flag_each() {
        // CopilotCommandArgs with a stow config: one flag per key, `key=value` as is.
        let argv = [
            "/bin/flyte-copilot",
            "--storage.limits.maxDownloadMBs=0",
            "--logger.level=4",
            "--storage.type=stow",
            "--storage.stow.config",
            "region=us-east-1",
            "--storage.stow.config",
            "access_key_id=id",
            "--storage.stow.config",
            "secret_key=a,b",
            "--storage.stow.config",
            "endpoint=http://minio:9000",
            "--storage.stow.kind=s3",
            "download",
        ]
        .map(String::from);
        let config = from_argv(&argv, &flyte(&[]));
        assert_eq!(config.s3.region.as_deref(), Some("us-east-1"));
        assert_eq!(config.s3.access_key_id.as_deref(), Some("id"));
        assert_eq!(
            config
                .s3
                .secret_access_key
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            Some("a,b".to_owned()),
            "a value with a comma is one value"
        );
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://minio:9000"));
    }

    #[test]
    fn empty_values_in_a_config_file_are_unset_too() {
        let empty = "storage:\n  type: s3\n  connection:\n    endpoint: \"\"\n    region: ''\n    access-key: \"\"\n    secret-key: \"\"\n    auth-type: \"\"\n";
        let stdlib = StdlibStorage::from_files(&[
            ("a.yaml", MINIO_FILE.to_owned()),
            ("b.yaml", empty.to_owned()),
        ])
        .expect("reads");
        assert_eq!(stdlib.endpoint.as_deref(), Some("minio.flyte:9000"));
        assert_eq!(stdlib.region.as_deref(), Some("us-east-1"));
        assert_eq!(stdlib.access_key.as_deref(), Some("minio"));
        assert_eq!(stdlib.auth_type.as_deref(), Some("accesskey"));

        let stdlib = StdlibStorage::from_files(&[("b.yaml", empty.to_owned())]).expect("reads");
        let config = storage_config(&flyte(&[]), &stdlib).expect("valid");
        assert_eq!(config.s3.endpoint, None);
        assert_eq!(config.s3.region, None);
        assert_eq!(config.s3.force_path_style, None);
    }

    #[test]
    fn stow_config_flags_are_split_as_pflags_string_to_string_splits_them() {
        let pairs = |flag: &str| {
            string_to_string(flag)
                .unwrap_or_else(|error| panic!("{flag}: {error:#}"))
                .into_iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(pairs("region=us-east-1"), ["region=us-east-1"]);
        // One `=`: one pair, commas and all.
        assert_eq!(pairs("key=a,b,c"), ["key=a,b,c"]);
        assert_eq!(pairs("\"key=a,b\""), ["key=a,b"]);
        // More: a CSV record, where a quoted field keeps its commas.
        assert_eq!(pairs("a=1,b=2"), ["a=1", "b=2"]);
        assert_eq!(
            pairs("account=acc,\"key=x,y==\",\"note=say \"\"hi\"\"\""),
            ["account=acc", "key=x,y==", "note=say \"hi\""]
        );
        assert_eq!(pairs("secret_key=abc=="), ["secret_key=abc=="]);
        assert!(pairs("").is_empty());
        for bad in [
            "novalue",
            "a=1,b,c=3",
            "a=1,b=\"open",
            "a=1,b=x\"y",
            "a=\"1\"x,b=2",
            // A quote inside an unquoted field: quote the whole pair instead.
            "a=1,b=\"x,y\"",
            "\"a=1\"x,b=2",
        ] {
            assert!(string_to_string(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn in_memory_storage_is_refused_with_what_to_use_instead() {
        let stdlib = StdlibStorage {
            kind: Some("mem".into()),
            ..StdlibStorage::default()
        };
        let error = storage_config(&flyte(&[]), &stdlib).expect_err("mem is refused");
        assert!(error.to_string().contains("use s3, minio"), "{error}");
    }

    #[test]
    fn accesskey_without_a_secret_is_an_error_naming_the_settings() {
        let stdlib = StdlibStorage {
            kind: Some("s3".into()),
            auth_type: Some("accesskey".into()),
            access_key: Some("id".into()),
            ..StdlibStorage::default()
        };
        let error = storage_config(&flyte(&[]), &stdlib).expect_err("incomplete");
        assert!(error.to_string().contains("secret key"), "{error}");
    }
}
