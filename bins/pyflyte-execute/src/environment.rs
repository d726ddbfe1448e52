//! The process environment and argv, read once, here and nowhere else.

// The one module clippy.toml's disallowed-methods lets read them (docs/architecture.md).
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use flyte_config::{Dirs, Env, FlyteConfig};

/// What this process takes from its environment.
#[derive(Debug)]
pub struct Environment {
    /// Every Flyte setting, resolved as flytekit resolves them.
    pub config: FlyteConfig,
    /// `$PYFLYTE_EXECUTE_PYTHON`, else `python3`, else `python` on PATH.
    pub python: PathBuf,
    /// `PYTHONPATH`, which fast execution extends with the unpacked code's directory.
    pub pythonpath: Option<OsString>,
    /// The working directory, where fast execution unpacks code when no `--dest-dir`
    /// is given (as flytekit does); `None` when it cannot be read.
    pub current_dir: Option<PathBuf>,
    /// `$PYFLYTE_EXECUTE_STOP_GRACE_SECONDS`: how long a worker passed SIGTERM may take
    /// to stop before it is killed and the error document written.
    pub stop_grace: Duration,
    /// `$PYFLYTE_EXECUTE_TERMINATION_MESSAGE_PATH`, else Kubernetes' default
    /// `/dev/termination-log` when it exists (Kubernetes creates it; outside a pod it is
    /// not made up): where a summary of every failure goes.
    pub termination_message_path: Option<PathBuf>,
    /// Where temporary files may go, in the order Python's `tempfile.gettempdir()`
    /// tries them: `TMPDIR`, `TEMP`, `TMP`, `/tmp`, `/var/tmp`, `/usr/tmp`, the working
    /// directory.
    pub temp_dirs: Vec<PathBuf>,
    /// `$PYFLYTE_EXECUTE_PREFETCH` (on/off), `$PYFLYTE_EXECUTE_PREFETCH_BUDGET_BYTES` and
    /// `$PYFLYTE_EXECUTE_PREFETCH_MIN_FREE_PERCENT`: whether and within which bounds the
    /// task's file, directory and dataset inputs are downloaded while it starts.
    pub prefetch: flyte_storage::PrefetchConfig,
}

/// The variable that sets [`Environment::stop_grace`].
const STOP_GRACE_ENV: &str = "PYFLYTE_EXECUTE_STOP_GRACE_SECONDS";
/// The variable choosing the worker's interpreter.
const PYTHON_ENV: &str = "PYFLYTE_EXECUTE_PYTHON";
/// The variable the wheel's start-up hook reads to leave flytekit's own entrypoints in
/// place (`wheel/pyflyte_execute_rs/__init__.py`).
const USE_FLYTEKIT_ENV: &str = "PYFLYTE_EXECUTE_USE_FLYTEKIT";

/// How a user of this binary changes the worker settings flyte-python's failure
/// messages point at: our environment variables (the library names only the setting).
pub fn worker_setting_names() -> flyte_python::SettingNames {
    let mut names = flyte_python::SettingNames::default();
    names.python = PYTHON_ENV.to_owned();
    names.stop_grace = STOP_GRACE_ENV.to_owned();
    names.use_flytekit = Some(format!("{USE_FLYTEKIT_ENV}=1"));
    names
}
/// The variable that sets [`Environment::termination_message_path`].
const TERMINATION_MESSAGE_PATH_ENV: &str = "PYFLYTE_EXECUTE_TERMINATION_MESSAGE_PATH";
/// The variable that turns [`Environment::prefetch`] on or off.
const PREFETCH_ENV: &str = "PYFLYTE_EXECUTE_PREFETCH";
/// The variable that sets [`PrefetchConfig::byte_budget`](flyte_storage::PrefetchConfig::byte_budget).
const PREFETCH_BUDGET_ENV: &str = "PYFLYTE_EXECUTE_PREFETCH_BUDGET_BYTES";
/// The variable that sets [`PrefetchConfig::min_free_percent`](flyte_storage::PrefetchConfig::min_free_percent).
const PREFETCH_MIN_FREE_ENV: &str = "PYFLYTE_EXECUTE_PREFETCH_MIN_FREE_PERCENT";
/// Kubernetes' default `terminationMessagePath`.
const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

impl Environment {
    /// Reads the process environment and the config file it points at.
    pub fn from_process() -> Result<Self> {
        Ok(Environment {
            config: load_config()?,
            python: worker_python().0,
            pythonpath: std::env::var_os("PYTHONPATH"),
            current_dir: std::env::current_dir().ok(),
            stop_grace: stop_grace(std::env::var_os(STOP_GRACE_ENV))?,
            termination_message_path: termination_message_path(
                std::env::var_os(TERMINATION_MESSAGE_PATH_ENV),
                Path::new(DEFAULT_TERMINATION_MESSAGE_PATH),
            ),
            temp_dirs: ["TMPDIR", "TEMP", "TMP"]
                .into_iter()
                .filter_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
                .map(PathBuf::from)
                .chain(["/tmp", "/var/tmp", "/usr/tmp"].map(PathBuf::from))
                .chain(std::env::current_dir().ok())
                .collect(),
            prefetch: prefetch_config(
                std::env::var_os(PREFETCH_ENV),
                std::env::var_os(PREFETCH_BUDGET_ENV),
                std::env::var_os(PREFETCH_MIN_FREE_ENV),
            )?,
        })
    }
}

/// The Flyte configuration from the environment and the config file flytekit would pick.
pub fn load_config() -> Result<FlyteConfig> {
    let dirs = Dirs {
        home: std::env::var_os("HOME").map(PathBuf::from),
        current: std::env::current_dir().ok(),
    };
    FlyteConfig::load(&Env::from_os(std::env::vars_os()), &dirs)
        .context("loading the Flyte configuration")
}

/// The name this binary was invoked as (`pyflyte-execute`, or a link's name).
pub fn invoked_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|argv0| {
            Path::new(&argv0)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "pyflyte-execute".to_owned())
}

/// Whether the operator asked for the effective configuration (`--show-config` alone).
pub fn wants_config_report() -> bool {
    only_argument_is(&["--show-config"])
}

/// Whether the operator asked for the version report (`--version` or `-V` alone).
pub fn wants_version_report() -> bool {
    only_argument_is(&["--version", "-V"])
}

fn only_argument_is(flags: &[&str]) -> bool {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    args.len() == 1 && flags.iter().any(|flag| args[0] == *flag)
}

/// The interpreter to run the worker with, and where that choice came from.
pub fn worker_python() -> (PathBuf, &'static str) {
    let explicit = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty());
    let source = if explicit.is_some() {
        "PYFLYTE_EXECUTE_PYTHON"
    } else {
        "the first python3 or python on PATH"
    };
    (find_python(explicit, std::env::var_os("PATH")), source)
}

/// The stop grace from its variable's value: seconds, fractions allowed, at most
/// [`flyte_python::MAX_STOP_GRACE`]; unset or empty means
/// [`flyte_python::DEFAULT_STOP_GRACE`].
/// The prefetch bounds from their variables; unset or empty ones keep the defaults.
fn prefetch_config(
    switch: Option<OsString>,
    budget: Option<OsString>,
    min_free: Option<OsString>,
) -> Result<flyte_storage::PrefetchConfig> {
    let mut config = flyte_storage::PrefetchConfig::default();
    let text = |value: Option<OsString>| {
        value
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().trim().to_owned())
    };
    if let Some(switch) = text(switch) {
        config.enabled = match switch.to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => true,
            "0" | "false" | "off" | "no" => false,
            _ => anyhow::bail!(
                "{PREFETCH_ENV}={switch:?} is neither on nor off: set it to 1/true/on to \
                 prefetch the task's file inputs while it starts, or 0/false/off not to"
            ),
        };
    }
    if let Some(budget) = text(budget) {
        config.byte_budget = budget.parse().with_context(|| {
            format!(
                "{PREFETCH_BUDGET_ENV}={budget:?} is not a number of bytes: set it to how \
                 many bytes of inputs may be prefetched at once (e.g. 17179869184 for 16 GiB)"
            )
        })?;
    }
    if let Some(min_free) = text(min_free) {
        config.min_free_percent = min_free
            .parse()
            .ok()
            .filter(|percent| *percent <= 100)
            .with_context(|| {
                format!(
                    "{PREFETCH_MIN_FREE_ENV}={min_free:?} is not a percentage: set it to the \
                     share of the scratch file system (0 to 100) a prefetch must leave free"
                )
            })?;
    }
    Ok(config)
}

fn stop_grace(value: Option<OsString>) -> Result<Duration> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(flyte_python::DEFAULT_STOP_GRACE);
    };
    let text = value.to_string_lossy();
    let max = flyte_python::MAX_STOP_GRACE.as_secs();
    let grace = text
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .with_context(|| {
            format!(
                "{STOP_GRACE_ENV}={text:?} is not a number of seconds: set it to how long a task \
                 passed SIGTERM may take to stop (e.g. 20, from 0 to {max}), below the pod's \
                 termination grace period"
            )
        })?;
    if grace > flyte_python::MAX_STOP_GRACE {
        anyhow::bail!(
            "{STOP_GRACE_ENV}={text:?} is out of range: it must be from 0 to {max} seconds (one \
             day); set it to how long a task passed SIGTERM may take to stop (e.g. 20), below \
             the pod's termination grace period"
        );
    }
    Ok(grace)
}

/// The termination message file: the variable's value when set and not empty, else
/// `default` when it exists.
fn termination_message_path(value: Option<OsString>, default: &Path) -> Option<PathBuf> {
    match value.filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => default.exists().then(|| default.to_path_buf()),
    }
}

/// The interpreter to run the worker with.
fn find_python(explicit: Option<OsString>, path: Option<OsString>) -> PathBuf {
    if let Some(python) = explicit.filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    ["python3", "python"]
        .iter()
        .find_map(|name| {
            dirs.iter()
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
        // Not found: keep the name, so the spawn error names what was looked for.
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_settings_default_when_unset_and_name_their_variable_when_wrong() {
        let defaults = prefetch_config(None, None, Some(OsString::new())).expect("defaults");
        assert_eq!(defaults, flyte_storage::PrefetchConfig::default());
        let set = prefetch_config(Some("off".into()), Some("1024".into()), Some("25".into()))
            .expect("valid");
        assert_eq!(
            (set.enabled, set.byte_budget, set.min_free_percent),
            (false, 1024, 25)
        );
        for (switch, budget, min_free, variable) in [
            (Some("maybe"), None, None, PREFETCH_ENV),
            (None, Some("lots"), None, PREFETCH_BUDGET_ENV),
            (None, None, Some("101"), PREFETCH_MIN_FREE_ENV),
        ] {
            let error = prefetch_config(
                switch.map(OsString::from),
                budget.map(OsString::from),
                min_free.map(OsString::from),
            )
            .expect_err("invalid");
            assert!(format!("{error:#}").contains(variable), "{error:#}");
        }
    }

    #[test]
    fn the_stop_grace_is_seconds_with_a_default_and_a_clear_error() {
        assert_eq!(
            stop_grace(None).expect("default"),
            flyte_python::DEFAULT_STOP_GRACE
        );
        assert_eq!(
            stop_grace(Some("".into())).expect("default"),
            flyte_python::DEFAULT_STOP_GRACE
        );
        assert_eq!(
            stop_grace(Some("2.5".into())).expect("seconds"),
            Duration::from_millis(2500)
        );
        let error = stop_grace(Some("soon".into())).expect_err("not a number");
        assert!(
            format!("{error:#}").contains("PYFLYTE_EXECUTE_STOP_GRACE_SECONDS"),
            "{error:#}"
        );
        assert!(stop_grace(Some("-1".into())).is_err());
    }

    #[test]
    fn a_stop_grace_too_long_for_a_clock_is_refused_naming_the_variable_value_and_range() {
        let error = stop_grace(Some("9223372036854775807".into())).expect_err("out of range");
        let message = format!("{error:#}");
        for needle in [
            "PYFLYTE_EXECUTE_STOP_GRACE_SECONDS",
            "9223372036854775807",
            "from 0 to 86400 seconds",
        ] {
            assert!(message.contains(needle), "{needle} in {message}");
        }
        assert!(stop_grace(Some("inf".into())).is_err());
        assert!(stop_grace(Some("NaN".into())).is_err());
        assert_eq!(
            stop_grace(Some("86400".into())).expect("the maximum"),
            flyte_python::MAX_STOP_GRACE
        );
    }

    #[test]
    fn the_termination_message_path_is_the_variable_else_kubernetes_default_when_it_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let default = dir.path().join("termination-log");
        assert_eq!(termination_message_path(None, &default), None);
        std::fs::write(&default, "").expect("write");
        assert_eq!(
            termination_message_path(None, &default),
            Some(default.clone())
        );
        assert_eq!(
            termination_message_path(Some("".into()), &default),
            Some(default.clone())
        );
        assert_eq!(
            termination_message_path(Some("/elsewhere/log".into()), &default),
            Some(PathBuf::from("/elsewhere/log"))
        );
    }

    #[test]
    fn explicit_python_wins_over_path() {
        let python = find_python(Some("/opt/py/bin/python".into()), Some("/usr/bin".into()));
        assert_eq!(python, PathBuf::from("/opt/py/bin/python"));
    }

    #[test]
    fn python3_is_preferred_to_python_on_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("python"), "").expect("write");
        assert_eq!(
            find_python(None, Some(dir.path().into())),
            dir.path().join("python")
        );
        std::fs::write(dir.path().join("python3"), "").expect("write");
        assert_eq!(
            find_python(None, Some(dir.path().into())),
            dir.path().join("python3")
        );
    }
}
