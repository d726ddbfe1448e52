//! The process environment, read once, here and nowhere else.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The settings this binary takes from environment variables, with flytekit's names.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `$PYFLYTE_EXECUTE_PYTHON`, else `python3`, else `python` on PATH.
    pub python: PathBuf,
    /// `FLYTE_SDK_LOGGING_LEVEL`: Python's numeric levels, WARNING (30) by default.
    pub logging_level: tracing::Level,
    /// `FLYTE_INTERNAL_DIST_ERROR_STRATEGY` or `_F_DES` set to anything non-empty.
    pub distributed_error_strategy: bool,
    /// `FLYTE_INTERNAL_WORKER_NAME` or `_F_WN`, used only under the distributed strategy.
    pub worker_name: String,
    /// `FLYTE_FAIL_ON_ERROR`, true for flytekit's "true", "t" and "1" in any case.
    pub fail_on_error: bool,
    /// `PYTHONPATH`, which fast execution extends with the unpacked code's directory.
    pub pythonpath: Option<OsString>,
}

impl Environment {
    /// Reads the process environment.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok();
        let first_of = |names: &[&str]| names.iter().find_map(|name| var(name)).unwrap_or_default();
        let distributed_error_strategy =
            !first_of(&["FLYTE_INTERNAL_DIST_ERROR_STRATEGY", "_F_DES"]).is_empty();
        Environment {
            python: find_python(
                std::env::var_os("PYFLYTE_EXECUTE_PYTHON"),
                std::env::var_os("PATH"),
            ),
            logging_level: python_logging_level(var("FLYTE_SDK_LOGGING_LEVEL").as_deref()),
            distributed_error_strategy,
            worker_name: if distributed_error_strategy {
                first_of(&["FLYTE_INTERNAL_WORKER_NAME", "_F_WN"])
            } else {
                String::new()
            },
            fail_on_error: var("FLYTE_FAIL_ON_ERROR")
                .is_some_and(|value| matches!(value.to_lowercase().as_str(), "true" | "t" | "1")),
            pythonpath: std::env::var_os("PYTHONPATH"),
        }
    }
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

/// Python's numeric logging levels mapped onto tracing's.
fn python_logging_level(value: Option<&str>) -> tracing::Level {
    match value
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(30)
    {
        ..=10 => tracing::Level::DEBUG,
        11..=20 => tracing::Level::INFO,
        21..=30 => tracing::Level::WARN,
        _ => tracing::Level::ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_levels_map_to_tracing_levels() {
        assert_eq!(python_logging_level(Some("10")), tracing::Level::DEBUG);
        assert_eq!(python_logging_level(Some("20")), tracing::Level::INFO);
        assert_eq!(python_logging_level(None), tracing::Level::WARN);
        assert_eq!(python_logging_level(Some("40")), tracing::Level::ERROR);
        assert_eq!(
            python_logging_level(Some("not a number")),
            tracing::Level::WARN
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
