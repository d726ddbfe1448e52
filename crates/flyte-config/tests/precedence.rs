//! Table tests: each source and each conflict, with the source every value reports.
//! (The same rules are cross-checked against real flytekit in flytekit_cross_check.rs;
//! the cases here that flytekit does not share are marked "unlike flytekit".)

use std::path::{Path, PathBuf};

use flyte_config::{
    ConfigError, ConfigFileFormat, Dirs, Env, ExposeSecret, FlyteConfig, LoggingFormat, Source,
};

/// A home and a working directory in a temp dir, with files written under them.
struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("home")).expect("home");
        std::fs::create_dir_all(root.join("cwd")).expect("cwd");
        Sandbox { _dir: dir, root }
    }

    fn file(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.root.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(&path, content).expect("write");
        path
    }

    fn dirs(&self) -> Dirs {
        Dirs {
            home: Some(self.root.join("home")),
            current: Some(self.root.join("cwd")),
        }
    }

    fn load(&self, env: &[(&str, &str)]) -> Result<FlyteConfig, ConfigError> {
        let root = self.root.display().to_string();
        let env: Env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.replace("{root}", &root)))
            .collect();
        FlyteConfig::load(&env, &self.dirs())
    }
}

fn env_source(name: &str) -> Source {
    Source::Env {
        name: name.to_owned(),
    }
}

fn ini_source(path: &Path, section: &str, option: &str) -> Source {
    Source::Ini {
        path: path.to_path_buf(),
        section: section.to_owned(),
        option: option.to_owned(),
    }
}

fn yaml_source(path: &Path, key: &str) -> Source {
    Source::Yaml {
        path: path.to_path_buf(),
        key: key.to_owned(),
    }
}

const YAML: &str =
    "storage:\n  connection:\n    endpoint: http://yaml:9000\n    access-key: yaml-key\n";
const INI: &str = "[aws]\nendpoint = http://ini:9000\nretries = 9\n[secrets]\nhost = ini-statsd\nport = 9000\n[statsd]\ndisabled = true\n";

#[test]
fn s3_endpoint_takes_env_then_file_then_default() {
    let sb = Sandbox::new();
    let yaml = sb.file("etc/c.yaml", YAML);
    let ini = sb.file("etc/c.config", INI);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>, Source);
    let cases: Vec<Case<'_>> = vec![
        ("nothing", vec![], None, Source::Default),
        (
            "env only",
            vec![("FLYTE_AWS_ENDPOINT", "http://env:9000")],
            Some("http://env:9000"),
            env_source("FLYTE_AWS_ENDPOINT"),
        ),
        (
            "yaml only",
            vec![("FLYTECTL_CONFIG", "{root}/etc/c.yaml")],
            Some("http://yaml:9000"),
            yaml_source(&yaml, "storage.connection.endpoint"),
        ),
        (
            "ini only",
            vec![("FLYTECTL_CONFIG", "{root}/etc/c.config")],
            Some("http://ini:9000"),
            ini_source(&ini, "aws", "endpoint"),
        ),
        (
            "env beats yaml",
            vec![
                ("FLYTECTL_CONFIG", "{root}/etc/c.yaml"),
                ("FLYTE_AWS_ENDPOINT", "http://env:9000"),
            ],
            Some("http://env:9000"),
            env_source("FLYTE_AWS_ENDPOINT"),
        ),
        (
            "env beats ini",
            vec![
                ("FLYTECTL_CONFIG", "{root}/etc/c.config"),
                ("FLYTE_AWS_ENDPOINT", "http://env:9000"),
            ],
            Some("http://env:9000"),
            env_source("FLYTE_AWS_ENDPOINT"),
        ),
        (
            "empty env hides the file",
            vec![
                ("FLYTECTL_CONFIG", "{root}/etc/c.config"),
                ("FLYTE_AWS_ENDPOINT", ""),
            ],
            None,
            Source::EmptyEnv {
                name: "FLYTE_AWS_ENDPOINT".into(),
            },
        ),
    ];
    for (name, env, want, source) in cases {
        let config = sb.load(&env).expect(name);
        assert_eq!(config.storage.s3.endpoint.as_deref(), want, "{name}");
        assert_eq!(
            config.source_of("storage.s3.endpoint"),
            Some(&source),
            "{name}"
        );
    }
}

#[test]
fn an_ini_file_is_never_combined_with_yaml_keys() {
    let sb = Sandbox::new();
    // INI chosen via ./flytekit.config; a YAML file exists at home but is not read.
    sb.file("cwd/flytekit.config", "[aws]\nretries = 4\n");
    sb.file("home/.flyte/config.yaml", YAML);
    let config = sb.load(&[]).expect("loads");
    let file = config.config_file.as_ref().expect("a file");
    assert_eq!(file.format, ConfigFileFormat::Ini);
    assert!(file.path.ends_with("cwd/flytekit.config"));
    assert_eq!(config.storage.s3.endpoint, None);
    assert_eq!(config.storage.s3.retries, 4);
}

#[test]
fn config_file_discovery_order() {
    let sb = Sandbox::new();
    sb.file("etc/a.yaml", "storage:\n  connection:\n    endpoint: a\n");
    sb.file("etc/b.yaml", "storage:\n  connection:\n    endpoint: b\n");
    let endpoint = |env: &[(&str, &str)]| {
        sb.load(env)
            .expect("loads")
            .storage
            .s3
            .endpoint
            .unwrap_or_default()
    };
    assert_eq!(endpoint(&[]), "", "no file at all");
    sb.file(
        "home/.flyte/config.yaml",
        "storage:\n  connection:\n    endpoint: home-yaml\n",
    );
    assert_eq!(endpoint(&[]), "home-yaml");
    sb.file("home/.flyte/config", "[aws]\nendpoint = home-ini\n");
    assert_eq!(endpoint(&[]), "home-ini");
    sb.file("cwd/flytekit.config", "[aws]\nendpoint = cwd\n");
    assert_eq!(endpoint(&[]), "cwd");
    assert_eq!(endpoint(&[("FLYTECTL_CONFIG", "{root}/etc/a.yaml")]), "a");
    assert_eq!(
        endpoint(&[
            ("FLYTECTL_CONFIG", "{root}/etc/a.yaml"),
            ("_FLYTECTL_CONFIG_PYFLYTE_OVERRIDE", "{root}/etc/b.yaml"),
        ]),
        "b"
    );
    assert_eq!(
        endpoint(&[
            ("FLYTECTL_CONFIG", "{root}/etc/a.yaml"),
            ("_FLYTECTL_CONFIG_PYFLYTE_OVERRIDE", ""),
        ]),
        "cwd",
        "an empty override hides FLYTECTL_CONFIG"
    );
    let config = sb
        .load(&[("FLYTECTL_CONFIG", "{root}/etc/missing.yaml")])
        .expect("loads");
    assert_eq!(config.storage.s3.endpoint.as_deref(), Some("cwd"));
    assert!(
        config.notes.iter().any(|n| n.contains("does not exist")),
        "{:?}",
        config.notes
    );
}

#[test]
fn flyte_internal_configuration_path_is_ignored_with_a_note() {
    let sb = Sandbox::new();
    sb.file("etc/legacy.config", "[aws]\nendpoint = legacy\n");
    let config = sb
        .load(&[(
            "FLYTE_INTERNAL_CONFIGURATION_PATH",
            "{root}/etc/legacy.config",
        )])
        .expect("loads");
    assert_eq!(config.config_file, None);
    assert_eq!(config.storage.s3.endpoint, None);
    assert!(
        config
            .notes
            .iter()
            .any(|n| n.contains("FLYTE_INTERNAL_CONFIGURATION_PATH")
                && n.contains("FLYTECTL_CONFIG"))
    );
}

#[test]
fn statsd_names_flytekit_reads_and_the_documented_ones() {
    let sb = Sandbox::new();
    let ini = sb.file("etc/c.config", INI);
    let file = ("FLYTECTL_CONFIG", "{root}/etc/c.config");

    let config = sb.load(&[]).expect("defaults");
    assert_eq!(
        (config.statsd.host.as_str(), config.statsd.port),
        ("localhost", 8125)
    );
    assert!(!config.statsd.disabled && !config.statsd.disable_tags);

    // flytekit 1.16's actual names: FLYTE_SECRETS_* and [secrets].
    let config = sb.load(&[file]).expect("ini");
    assert_eq!(config.statsd.host, "ini-statsd");
    assert_eq!(
        config.source_of("statsd.host"),
        Some(&ini_source(&ini, "secrets", "host"))
    );
    // [statsd] (unlike flytekit) wins over [secrets] for the same option.
    assert!(config.statsd.disabled);
    assert_eq!(
        config.source_of("statsd.disabled"),
        Some(&ini_source(&ini, "statsd", "disabled"))
    );

    let config = sb
        .load(&[file, ("FLYTE_SECRETS_HOST", "secrets-env")])
        .expect("env");
    assert_eq!(config.statsd.host, "secrets-env");

    // Unlike flytekit 1.16, which ignores FLYTE_STATSD_*: the documented name wins.
    let config = sb
        .load(&[
            file,
            ("FLYTE_SECRETS_HOST", "secrets-env"),
            ("FLYTE_STATSD_HOST", "statsd-env"),
            ("FLYTE_STATSD_DISABLE_TAGS", "true"),
        ])
        .expect("env");
    assert_eq!(config.statsd.host, "statsd-env");
    assert_eq!(
        config.source_of("statsd.host"),
        Some(&env_source("FLYTE_STATSD_HOST"))
    );
    assert!(config.statsd.disable_tags);
}

#[test]
fn statsd_port_zero_means_default_and_garbage_is_an_error() {
    let sb = Sandbox::new();
    let config = sb.load(&[("FLYTE_STATSD_PORT", "0")]).expect("zero");
    assert_eq!(config.statsd.port, 8125);
    assert!(config.notes.iter().any(|n| n.contains("treats as unset")));

    // Unlike flytekit, which carries "abc" on as the port and fails later.
    for (name, value) in [
        ("FLYTE_STATSD_PORT", "abc"),
        ("FLYTE_SECRETS_PORT", "70000"),
    ] {
        let error = sb.load(&[(name, value)]).expect_err(value).to_string();
        assert!(error.contains(name) && error.contains(value), "{error}");
    }
}

#[test]
fn booleans_follow_each_sources_rules() {
    let sb = Sandbox::new();
    for (value, want) in [("nope", true), ("off", false), ("", false), ("1", true)] {
        let config = sb.load(&[("FLYTE_AWS_ENABLE_DEBUG", value)]).expect(value);
        assert_eq!(config.storage.s3.enable_debug, want, "env {value:?}");
    }
    for (value, want) in [
        ("yes", Some(true)),
        ("Off", Some(false)),
        ("nope", None),
        ("", None),
    ] {
        sb.file("etc/b.config", &format!("[aws]\nenable_debug = {value}\n"));
        let result = sb.load(&[("FLYTECTL_CONFIG", "{root}/etc/b.config")]);
        match want {
            Some(want) => assert_eq!(result.expect(value).storage.s3.enable_debug, want),
            None => {
                let error = result.expect_err(value).to_string();
                assert!(
                    error.contains("enable_debug") && error.contains("[aws]"),
                    "{error}"
                );
            }
        }
    }
}

#[test]
fn logging_comes_from_the_environment_only() {
    let sb = Sandbox::new();
    sb.file("cwd/flytekit.config", "[sdk]\nlogging_level = 10\n");
    let config = sb.load(&[]).expect("defaults");
    assert_eq!(
        config.logging.level, 30,
        "[sdk] logging_level is dead in flytekit 1.16"
    );
    assert_eq!(config.logging.format, LoggingFormat::Json);
    for (format, want) in [
        ("json", LoggingFormat::Json),
        ("text", LoggingFormat::Text),
        ("JSON", LoggingFormat::Text),
        ("", LoggingFormat::Text),
    ] {
        let config = sb
            .load(&[("FLYTE_SDK_LOGGING_FORMAT", format)])
            .expect(format);
        assert_eq!(config.logging.format, want, "{format:?}");
    }
    let config = sb.load(&[("FLYTE_SDK_LOGGING_LEVEL", " 20 ")]).expect("20");
    assert_eq!(config.logging.level, 20);
    let error = sb
        .load(&[("FLYTE_SDK_LOGGING_LEVEL", "")])
        .expect_err("empty");
    assert!(error.to_string().contains("FLYTE_SDK_LOGGING_LEVEL"));
}

#[test]
fn identity_takes_the_first_variable_that_is_set() {
    let sb = Sandbox::new();
    let config = sb
        .load(&[
            ("FLYTE_INTERNAL_EXECUTION_PROJECT", "long"),
            ("_F_PRJ", "short"),
            ("_F_DM", "short-domain"),
            ("FLYTE_INTERNAL_TASK_NAME", ""),
            ("_F_TK_NM", "hidden"),
        ])
        .expect("loads");
    assert_eq!(config.identity.execution_project, "long");
    assert_eq!(config.identity.execution_domain, "short-domain");
    assert_eq!(config.identity.task_name, "");
    assert_eq!(config.identity.task_version, "");
    assert_eq!(
        config.source_of("identity.execution_domain"),
        Some(&env_source("_F_DM"))
    );
}

#[test]
fn runtime_switches() {
    let sb = Sandbox::new();
    let config = sb.load(&[("_F_WN", "w")]).expect("loads");
    assert_eq!(
        config.runtime.worker_name, "",
        "no worker name without a strategy"
    );
    assert_eq!(config.runtime.literal_offloading, None);
    assert!(config.runtime.runtime_packages.is_empty());

    let config = sb
        .load(&[
            ("_F_DES", "Earliest"),
            ("_F_WN", "w"),
            ("FLYTE_FAIL_ON_ERROR", "True"),
            ("_F_L_MIN_SIZE_MB", "5"),
            ("_F_RUNTIME_PACKAGES", "pandas==2.2 numpy"),
            ("_F_SS_C", "H4sI..."),
            ("BATCH_JOB_ARRAY_INDEX_OFFSET", "10"),
            ("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "JOB_INDEX"),
            ("JOB_INDEX", "3"),
        ])
        .expect("loads");
    let rt = &config.runtime;
    assert_eq!(rt.distributed_error_strategy.as_deref(), Some("Earliest"));
    assert_eq!(rt.worker_name, "w");
    assert!(rt.fail_on_error);
    let offloading = rt.literal_offloading.expect("on");
    assert_eq!((offloading.min_size_mb, offloading.max_size_mb), (5, 1000));
    assert_eq!(offloading.min_bytes(), 5 * 1024 * 1024);
    assert_eq!(rt.runtime_packages, ["pandas==2.2", "numpy"]);
    assert_eq!(rt.serialized_context.as_deref(), Some("H4sI..."));
    assert_eq!(rt.array_job.index().expect("index"), 13);

    for value in ["yes", "0", ""] {
        let config = sb.load(&[("FLYTE_FAIL_ON_ERROR", value)]).expect(value);
        assert!(!config.runtime.fail_on_error, "{value:?}");
    }
    // flytekit fails each run over a bad size, inside the task: loading goes on, noted.
    let config = sb.load(&[("_F_L_MIN_SIZE_MB", "")]).expect("loads");
    assert!(config.runtime.literal_offloading.is_none());
    assert!(
        config
            .notes
            .iter()
            .any(|note| note.contains("_F_L_MIN_SIZE_MB")),
        "{:?}",
        config.notes
    );
    let config = sb
        .load(&[("_F_L_MIN_SIZE_MB", "1"), ("_F_L_MAX_SIZE_MB", "big")])
        .expect("loads");
    assert!(config.runtime.literal_offloading.is_none());
    let config = sb
        .load(&[("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "UNSET_INDEX")])
        .expect("loads: only map tasks compute the index");
    assert!(config.runtime.array_job.index().is_err());
}

#[test]
fn provider_variables_are_read_and_empty_ones_are_unset() {
    let sb = Sandbox::new();
    let config = sb
        .load(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_REGION", ""),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("STORAGE_EMULATOR_HOST", "http://gcs:4443"),
            ("AZURE_STORAGE_SAS_TOKEN", "sv=2024&sig=abc"),
        ])
        .expect("loads");
    let env = &config.storage.provider_env;
    assert_eq!(
        env.aws.access_key_id.as_ref().map(|s| s.expose_secret()),
        Some("AKIAEXAMPLE")
    );
    assert_eq!(env.aws.region, None);
    assert_eq!(env.aws.default_region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        env.gcp.storage_emulator_host.as_deref(),
        Some("http://gcs:4443")
    );
    assert!(env.azure.storage_sas_token.is_some());
}

/// Every secret this crate knows, set at once, must not appear in any output.
#[test]
fn secrets_never_appear_in_debug_describe_serialization_or_errors() {
    let sb = Sandbox::new();
    let secrets = [
        ("FLYTE_AWS_ACCESS_KEY_ID", "S3CRET-flyte-access"),
        ("FLYTE_AWS_SECRET_ACCESS_KEY", "S3CRET-flyte-secret"),
        ("FLYTE_AZURE_STORAGE_ACCOUNT_KEY", "S3CRET-azure-key"),
        ("FLYTE_AZURE_CLIENT_SECRET", "S3CRET-azure-client"),
        ("FLYTE_CREDENTIALS_CLIENT_SECRET", "S3CRET-admin-client"),
        ("AWS_ACCESS_KEY_ID", "S3CRET-aws-access"),
        ("AWS_SECRET_ACCESS_KEY", "S3CRET-aws-secret"),
        ("AWS_SESSION_TOKEN", "S3CRET-aws-session"),
        ("AZURE_STORAGE_ACCOUNT_KEY", "S3CRET-adlfs-key"),
        ("AZURE_STORAGE_SAS_TOKEN", "S3CRET-sas"),
        ("AZURE_STORAGE_CONNECTION_STRING", "S3CRET-conn"),
        ("AZURE_STORAGE_CLIENT_SECRET", "S3CRET-adlfs-client"),
        ("AZURE_CLIENT_SECRET", "S3CRET-identity-client"),
    ];
    let config = sb.load(&secrets).expect("loads");
    let outputs = [
        format!("{config:?}"),
        config.describe(),
        serde_json::to_string(&config).expect("serializes"),
        format!("{:?}", secrets.iter().copied().collect::<Env>()),
    ];
    for output in &outputs {
        assert!(!output.contains("S3CRET"), "a secret leaked:\n{output}");
    }
    assert!(
        config
            .describe()
            .contains("<redacted>  [environment variable FLYTE_AWS_SECRET_ACCESS_KEY]")
    );

    // A secret in the wrong shape is reported by key, without its value.
    sb.file(
        "etc/bad.yaml",
        "storage:\n  connection:\n    secret-key: [S3CRET-in-a-list]\n",
    );
    let error = sb
        .load(&[("FLYTECTL_CONFIG", "{root}/etc/bad.yaml")])
        .expect_err("a list is not a key");
    let message = error.to_string();
    assert!(
        message.contains("storage.connection.secret-key"),
        "{message}"
    );
    assert!(!message.contains("S3CRET") && !format!("{error:?}").contains("S3CRET"));
}

#[test]
fn describe_lists_every_setting_with_its_source() {
    let sb = Sandbox::new();
    let yaml = sb.file("etc/c.yaml", YAML);
    let config = sb
        .load(&[
            ("FLYTECTL_CONFIG", "{root}/etc/c.yaml"),
            ("FLYTE_STATSD_HOST", "statsd.local"),
        ])
        .expect("loads");
    let report = config.describe();
    assert!(
        report.starts_with(&format!("config file: {}", yaml.display())),
        "{report}"
    );
    for line in [
        "statsd.host",
        "environment variable FLYTE_STATSD_HOST",
        "storage.s3.endpoint",
        "key `storage.connection.endpoint` of",
        "storage.s3.access_key_id",
        "<redacted>",
        "statsd.port",
        "= 8125  [default]",
        "logging.level",
        "identity.task_name",
        "runtime.fail_on_error",
        "env.azure.storage_sas_token",
    ] {
        assert!(report.contains(line), "missing {line:?} in\n{report}");
    }
}
