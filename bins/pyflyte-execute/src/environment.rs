//! The process environment and argv, read once, here and nowhere else.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

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
}

impl Environment {
    /// Reads the process environment and the config file it points at.
    pub fn from_process() -> Result<Self> {
        Ok(Environment {
            config: load_config()?,
            python: worker_python().0,
            pythonpath: std::env::var_os("PYTHONPATH"),
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
    let explicit = std::env::var_os("PYFLYTE_EXECUTE_PYTHON").filter(|p| !p.is_empty());
    let source = if explicit.is_some() {
        "PYFLYTE_EXECUTE_PYTHON"
    } else {
        "the first python3 or python on PATH"
    };
    (find_python(explicit, std::env::var_os("PATH")), source)
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
