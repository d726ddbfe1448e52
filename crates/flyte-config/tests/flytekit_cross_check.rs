//! Asks flytekit 1.16 itself: for each scenario (environment plus config files in a
//! home directory and a working directory), real flytekit in the workspace's `.venv`
//! resolves its storage, statsd, logging, secrets, platform, identity and runtime
//! settings, and ours must match, including where flytekit fails.
//!
//! Where we deliberately differ (the documented `FLYTE_STATSD_*` names; garbage that
//! flytekit carries on with) the scenarios live in `precedence.rs` instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flyte_config::{Dirs, Env, ExposeSecret, FlyteConfig, LoggingFormat, SecretString};
use serde_json::{Value, json};

struct Scenario {
    name: &'static str,
    /// `{root}` is replaced by the scenario's directory.
    env: &'static [(&'static str, &'static str)],
    /// Paths relative to the scenario's directory (`home/...`, `cwd/...`, anything else).
    files: &'static [(&'static str, &'static str)],
}

const FULL_YAML: &str = "\
admin:
  endpoint: dns:///flyte.example.com:443
  insecure: true
  clientId: flytepropeller
  scopes: [all, offline]
console:
  endpoint: https://console.example.com
storage:
  type: minio
  connection:
    endpoint: http://minio.flyte:9000
    access-key: yaml-access
    secret-key: yaml-secret
    addressing-style: path
";

const FULL_INI: &str = "\
[aws]
endpoint = http://ini-minio:9000
access_key_id = ini-access
secret_access_key = ini-secret
retries = 9
backoff_seconds = 11
enable_debug = on
addressing_style = virtual

[gcp]
gsutil_parallelism = yes

[azure]
storage_account_name = iniaccount
storage_account_key = ini-account-key
tenant_id = ini-tenant
client_id = ini-client
client_secret = ini-client-secret

[secrets]
host = statsd.ini
port = 9125
disabled = false
disable_tags = true
env_prefix = _INI_

[persistence]
attach_execution_metadata = no

[platform]
url = dns:///ini.example.com
insecure = True

[credentials]
client_id = ini-client
scopes = a,b

[sdk]
logging_level = 10
";

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "nothing set: every default",
        env: &[],
        files: &[],
    },
    Scenario {
        name: "environment only",
        env: &[
            ("FLYTE_AWS_ENDPOINT", "http://env-minio:9000"),
            ("FLYTE_AWS_ACCESS_KEY_ID", "env-access"),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("FLYTE_AWS_RETRIES", "7"),
            ("FLYTE_AWS_BACKOFF_SECONDS", "2"),
            ("FLYTE_AWS_ENABLE_DEBUG", "yes"),
            ("FLYTE_AWS_ADDRESSING_STYLE", "virtual"),
            ("FLYTE_GCP_GSUTIL_PARALLELISM", "1"),
            ("FLYTE_AZURE_STORAGE_ACCOUNT_NAME", "envaccount"),
            ("FLYTE_AZURE_STORAGE_ACCOUNT_KEY", "env-account-key"),
            ("FLYTE_AZURE_TENANT_ID", "env-tenant"),
            ("FLYTE_AZURE_CLIENT_ID", "env-client"),
            ("FLYTE_AZURE_CLIENT_SECRET", "env-client-secret"),
            ("FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA", "false"),
            ("FLYTE_SECRETS_HOST", "statsd.env"),
            ("FLYTE_SECRETS_PORT", "9125"),
            ("FLYTE_SECRETS_DISABLED", "TRUE"),
            ("FLYTE_SECRETS_DISABLE_TAGS", "1"),
            ("FLYTE_SECRETS_ENV_PREFIX", "_ENV_"),
            ("FLYTE_SECRETS_DEFAULT_DIR", "/var/secrets"),
            ("FLYTE_SDK_LOGGING_LEVEL", "10"),
            ("FLYTE_SDK_LOGGING_FORMAT", "text"),
            ("FLYTE_SDK_DEV_LOGGING_LEVEL", "40"),
            ("FLYTE_PLATFORM_URL", "dns:///env.example.com"),
            ("FLYTE_PLATFORM_INSECURE", "off"),
            ("FLYTE_CREDENTIALS_CLIENT_ID", "env-client"),
            ("FLYTE_CREDENTIALS_SCOPES", "x,y"),
            ("FLYTE_INTERNAL_EXECUTION_PROJECT", "flytesnacks"),
            ("FLYTE_INTERNAL_EXECUTION_DOMAIN", "development"),
            ("FLYTE_INTERNAL_EXECUTION_ID", "a1b2c3"),
            ("FLYTE_INTERNAL_EXECUTION_WORKFLOW", "wf.module.my_wf"),
            ("FLYTE_INTERNAL_EXECUTION_LAUNCHPLAN", "wf.module.my_lp"),
            ("FLYTE_INTERNAL_TASK_PROJECT", "tp"),
            ("FLYTE_INTERNAL_TASK_DOMAIN", "td"),
            ("FLYTE_INTERNAL_TASK_NAME", "wf.module.t1"),
            ("FLYTE_INTERNAL_TASK_VERSION", "v1"),
            ("FLYTE_INTERNAL_DIST_ERROR_STRATEGY", "Earliest"),
            ("FLYTE_INTERNAL_WORKER_NAME", "worker-0"),
            ("FLYTE_FAIL_ON_ERROR", "T"),
        ],
        files: &[],
    },
    Scenario {
        name: "flytectl YAML named by FLYTECTL_CONFIG",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/config.yaml")],
        files: &[("etc/config.yaml", FULL_YAML)],
    },
    Scenario {
        name: "environment wins over YAML, key by key",
        env: &[
            ("FLYTECTL_CONFIG", "{root}/etc/config.yaml"),
            ("FLYTE_AWS_ENDPOINT", "http://env-minio:9000"),
            ("FLYTE_PLATFORM_INSECURE", "false"),
        ],
        files: &[("etc/config.yaml", FULL_YAML)],
    },
    Scenario {
        name: "legacy INI named by FLYTECTL_CONFIG",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/flytekit.config")],
        files: &[("etc/flytekit.config", FULL_INI)],
    },
    Scenario {
        name: "environment wins over INI; empty and zero values mean the default",
        env: &[
            ("FLYTECTL_CONFIG", "{root}/etc/flytekit.config"),
            ("FLYTE_AWS_ENDPOINT", ""),
            ("FLYTE_AWS_RETRIES", "0"),
            ("FLYTE_SECRETS_PORT", "9999"),
            ("FLYTE_SECRETS_HOST", ""),
            ("FLYTE_GCP_GSUTIL_PARALLELISM", ""),
            ("FLYTE_AZURE_CLIENT_SECRET", "env-wins"),
        ],
        files: &[("etc/flytekit.config", FULL_INI)],
    },
    Scenario {
        name: "INI interpolation, DEFAULT section, continuation lines and comments",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/interp.config")],
        files: &[(
            "etc/interp.config",
            "# a comment\n[DEFAULT]\nhost = minio\n\n[aws]\nendpoint = http://%(host)s:9000\n\
             secret_access_key = abc%%def\naccess_key_id = bad%value\n  ; indented comment\n\
             addressing_style = path\n    continued\n[secrets]\nport: 7000\n",
        )],
    },
    Scenario {
        name: "pyflyte's override wins over FLYTECTL_CONFIG",
        env: &[
            (
                "_FLYTECTL_CONFIG_PYFLYTE_OVERRIDE",
                "{root}/etc/override.yaml",
            ),
            ("FLYTECTL_CONFIG", "{root}/etc/config.yaml"),
        ],
        files: &[
            ("etc/config.yaml", FULL_YAML),
            (
                "etc/override.yaml",
                "storage:\n  connection:\n    endpoint: http://override:9000\n",
            ),
        ],
    },
    Scenario {
        name: "an empty override disables FLYTECTL_CONFIG too",
        env: &[
            ("_FLYTECTL_CONFIG_PYFLYTE_OVERRIDE", ""),
            ("FLYTECTL_CONFIG", "{root}/etc/config.yaml"),
        ],
        files: &[
            ("etc/config.yaml", FULL_YAML),
            (
                "home/.flyte/config.yaml",
                "storage:\n  connection:\n    endpoint: http://home:9000\n",
            ),
        ],
    },
    Scenario {
        name: "a FLYTECTL_CONFIG that does not exist falls through to ./flytekit.config",
        env: &[("FLYTECTL_CONFIG", "{root}/nowhere/config.yaml")],
        files: &[("cwd/flytekit.config", "[aws]\nendpoint = http://cwd:9000\n")],
    },
    Scenario {
        name: "./flytekit.config wins over ~/.flyte/config and ~/.flyte/config.yaml",
        env: &[],
        files: &[
            ("cwd/flytekit.config", "[aws]\nendpoint = http://cwd:9000\n"),
            (
                "home/.flyte/config",
                "[aws]\nendpoint = http://home-ini:9000\n",
            ),
            ("home/.flyte/config.yaml", FULL_YAML),
        ],
    },
    Scenario {
        name: "~/.flyte/config wins over ~/.flyte/config.yaml",
        env: &[],
        files: &[
            (
                "home/.flyte/config",
                "[aws]\nendpoint = http://home-ini:9000\n",
            ),
            ("home/.flyte/config.yaml", FULL_YAML),
        ],
    },
    Scenario {
        name: "~/.flyte/config.yaml when nothing else exists",
        env: &[],
        files: &[("home/.flyte/config.yaml", FULL_YAML)],
    },
    Scenario {
        name: "a relative FLYTECTL_CONFIG resolves against the working directory",
        env: &[("FLYTECTL_CONFIG", "conf/my.yml")],
        files: &[(
            "cwd/conf/my.yml",
            "storage:\n  connection:\n    endpoint: http://relative:9000\n",
        )],
    },
    Scenario {
        name: "a FLYTECTL_CONFIG not ending in yaml/yml is read as INI",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/settings.txt")],
        files: &[("etc/settings.txt", "[aws]\nendpoint = http://txt:9000\n")],
    },
    Scenario {
        name: "a YAML file that does not parse is ignored",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/broken.yaml")],
        files: &[("etc/broken.yaml", "storage: [unclosed\n  connection: {\n")],
    },
    Scenario {
        name: "YAML has no keys for INI-only settings, and empty or zero YAML values are unset",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/config.yaml")],
        files: &[(
            "etc/config.yaml",
            "aws:\n  retries: 9\nstatsd:\n  host: yaml-statsd\nsecrets:\n  host: x\n\
             storage:\n  connection:\n    endpoint: ''\n    access-key: 0\n    secret-key: ~\n",
        )],
    },
    Scenario {
        name: "identity from short names; a set-but-empty long name hides its short name",
        env: &[
            ("FLYTE_INTERNAL_EXECUTION_PROJECT", ""),
            ("_F_PRJ", "short-project"),
            ("_F_DM", "short-domain"),
            ("_F_NM", "short-name"),
            ("_F_WF", "short.wf"),
            ("_F_LP", "short.lp"),
            ("_F_TK_PRJ", "stp"),
            ("_F_TK_DM", "std"),
            ("_F_TK_NM", "short.task"),
            ("_F_TK_V", "sv"),
            ("_F_WN", "worker-without-strategy"),
            ("FLYTE_FAIL_ON_ERROR", "yes"),
        ],
        files: &[],
    },
    Scenario {
        name: "short names for the distributed error strategy and worker",
        env: &[("_F_DES", "Earliest"), ("_F_WN", "worker-3")],
        files: &[],
    },
    Scenario {
        name: "flytekit's boolean text rules for environment variables",
        env: &[
            ("FLYTE_AWS_ENABLE_DEBUG", "nope"),
            ("FLYTE_SECRETS_DISABLED", "OFF"),
            ("FLYTE_SECRETS_DISABLE_TAGS", "No"),
            ("FLYTE_PLATFORM_INSECURE_SKIP_VERIFY", "0"),
            ("FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA", ""),
        ],
        files: &[],
    },
    Scenario {
        name: "error: an INI boolean configparser rejects",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/bad.config")],
        files: &[("etc/bad.config", "[aws]\nenable_debug = maybe\n")],
    },
    Scenario {
        name: "error: an INI integer that is not one",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/bad.config")],
        files: &[("etc/bad.config", "[aws]\nretries = three\n")],
    },
    Scenario {
        name: "error: an [internal] INI section",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/bad.config")],
        files: &[("etc/bad.config", "[internal]\nimage = x\n")],
    },
    Scenario {
        name: "error: an INI option before any section",
        env: &[("FLYTECTL_CONFIG", "{root}/etc/bad.config")],
        files: &[("etc/bad.config", "endpoint = x\n[aws]\n")],
    },
    Scenario {
        name: "error: a logging level that is not an integer",
        env: &[("FLYTE_SDK_LOGGING_LEVEL", "INFO")],
        files: &[],
    },
    Scenario {
        name: "error: backoff seconds that are not an integer",
        env: &[("FLYTE_AWS_BACKOFF_SECONDS", "")],
        files: &[],
    },
];

fn secret(value: &Option<SecretString>) -> Value {
    value
        .as_ref()
        .map_or(Value::Null, |s| Value::from(s.expose_secret()))
}

/// Our resolution, in the shape flytekit_resolve.py prints.
fn ours(env: &Env, dirs: &Dirs) -> Value {
    let c = match FlyteConfig::load(env, dirs) {
        Ok(c) => c,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let s3 = &c.storage.s3;
    let az = &c.storage.azure;
    json!({
        "config_file": c.config_file.as_ref().map(|f| f.path.display().to_string()),
        "storage": {
            "s3": {
                "endpoint": s3.endpoint,
                "access_key_id": secret(&s3.access_key_id),
                "secret_access_key": secret(&s3.secret_access_key),
                "enable_debug": s3.enable_debug,
                "retries": s3.retries,
                "backoff_seconds": s3.backoff_seconds,
                "addressing_style": s3.addressing_style,
            },
            "gcs": { "gsutil_parallelism": c.storage.gcs.gsutil_parallelism },
            "azure": {
                "account_name": az.account_name,
                "account_key": secret(&az.account_key),
                "tenant_id": az.tenant_id,
                "client_id": az.client_id,
                "client_secret": secret(&az.client_secret),
            },
            "attach_execution_metadata": c.storage.attach_execution_metadata,
        },
        "statsd": {
            "host": c.statsd.host,
            "port": c.statsd.port,
            "disabled": c.statsd.disabled,
            "disable_tags": c.statsd.disable_tags,
        },
        "logging": {
            "level": c.logging.level,
            "format": match c.logging.format {
                LoggingFormat::Json => "json",
                LoggingFormat::Text => "text",
            },
            "dev_level": c.logging.dev_level,
        },
        "secrets": {
            "env_prefix": c.secrets.env_prefix,
            "default_dir": c.secrets.default_dir,
            "file_prefix": c.secrets.file_prefix,
        },
        "platform": {
            "endpoint": c.platform.endpoint,
            "insecure": c.platform.insecure,
            "insecure_skip_verify": c.platform.insecure_skip_verify,
            "console_endpoint": c.platform.console_endpoint,
            "client_id": c.credentials.client_id,
            "scopes": c.credentials.scopes,
        },
        "identity": {
            "execution_project": c.identity.execution_project,
            "execution_domain": c.identity.execution_domain,
            "execution_name": c.identity.execution_name,
            "execution_workflow": c.identity.execution_workflow,
            "execution_launchplan": c.identity.execution_launchplan,
            "task_project": c.identity.task_project,
            "task_domain": c.identity.task_domain,
            "task_name": c.identity.task_name,
            "task_version": c.identity.task_version,
        },
        "runtime": {
            "distributed_error_strategy": c.runtime.distributed_error_strategy,
            "worker_name": c.runtime.worker_name,
            "fail_on_error": c.runtime.fail_on_error,
        },
    })
}

struct Prepared {
    env: Vec<(String, String)>,
    dirs: Dirs,
}

fn prepare(scenario: &Scenario, root: &Path) -> Prepared {
    let home = root.join("home");
    let cwd = root.join("cwd");
    std::fs::create_dir_all(&home).expect("home dir");
    std::fs::create_dir_all(&cwd).expect("cwd dir");
    for (path, content) in scenario.files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("file's dir");
        std::fs::write(&path, content).expect("write config file");
    }
    let root_text = root.display().to_string();
    let mut env: Vec<(String, String)> = scenario
        .env
        .iter()
        .map(|(k, v)| (k.to_string(), v.replace("{root}", &root_text)))
        .collect();
    env.push(("HOME".into(), home.display().to_string()));
    // Without an execution id, flytekit's loggers would try rich output on import.
    Prepared {
        env,
        dirs: Dirs {
            home: Some(home),
            current: Some(cwd),
        },
    }
}

fn flytekit(prepared: &[Prepared]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flytekit_resolve.py");
    let input: Vec<Value> = prepared
        .iter()
        .map(|p| {
            json!({
                "env": p.env.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>(),
                "cwd": p.dirs.current.as_ref().expect("cwd").display().to_string(),
            })
        })
        .collect();
    let mut child = Command::new(flyte_test_support::python())
        .arg(&script)
        .env("FLYTE_INTERNAL_EXECUTION_ID", "import-quietly")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the venv's python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(&input).expect("json").as_bytes())
        .expect("write scenarios");
    let output = child.wait_with_output().expect("python finishes");
    assert!(
        output.status.success(),
        "flytekit_resolve.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "CROSS_CHECK_VERBOSE prints every scenario"
)]
fn flytekit_and_we_resolve_every_scenario_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base: PathBuf = dir.path().canonicalize().expect("canonical tempdir");
    let prepared: Vec<Prepared> = SCENARIOS
        .iter()
        .enumerate()
        .map(|(i, s)| prepare(s, &base.join(format!("s{i}"))))
        .collect();
    let theirs = flytekit(&prepared);
    assert_eq!(theirs.len(), SCENARIOS.len(), "one line per scenario");

    let mut failures = Vec::new();
    for ((scenario, prepared), theirs) in SCENARIOS.iter().zip(&prepared).zip(&theirs) {
        let env: Env = prepared.env.iter().cloned().collect();
        let ours = ours(&env, &prepared.dirs);
        if std::env::var_os("CROSS_CHECK_VERBOSE").is_some() {
            eprintln!(
                "{}\n  flytekit: {}\n  ours:     {}",
                scenario.name, theirs, ours
            );
        }
        let agree = match (theirs.get("error"), ours.get("error")) {
            // Both refuse: the messages differ by design (ours say what to do).
            (Some(_), Some(_)) => true,
            (None, None) => theirs == &ours,
            _ => false,
        };
        if !agree {
            failures.push(format!(
                "{}\n  flytekit: {}\n  ours:     {}",
                scenario.name, theirs, ours
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ:\n{}",
        failures.len(),
        SCENARIOS.len(),
        failures.join("\n")
    );
}
