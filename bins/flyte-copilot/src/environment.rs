//! The process environment, argv and config files, read once, here and nowhere else.

// The one module clippy.toml's disallowed-methods lets read them (docs/architecture.md).
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flyte_config::{Dirs, Env, FlyteConfig};

/// argv, as given.
pub fn args() -> Vec<OsString> {
    std::env::args_os().collect()
}

/// The name this binary was invoked as: `flyte-copilot`, `flytedata`, or a link's name.
pub fn invoked_name(args: &[OsString]) -> String {
    args.first()
        .and_then(|argv0| Path::new(argv0).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flyte-copilot".to_owned())
}

/// The Flyte configuration from the environment and the config file flytekit would pick,
/// exactly as pyflyte-execute loads it (so `FLYTE_AWS_*`, `AWS_*`, `FLYTE_AZURE_*`,
/// `STORAGE_EMULATOR_HOST` … mean the same to both binaries).
pub fn load_flyte_config() -> Result<FlyteConfig> {
    let dirs = Dirs {
        home: std::env::var_os("HOME").map(PathBuf::from),
        current: std::env::current_dir().ok(),
    };
    FlyteConfig::load(&Env::from_os(std::env::vars_os()), &dirs)
        .context("loading the Flyte configuration from the environment")
}

/// The files `--config` names, in name order: the path itself, or, when its file name
/// has a `*`, every file in its directory matching it (how propeller passes a mounted
/// Secret: `/etc/flyte/copilot/*.yaml`).
pub fn config_files(pattern: &str) -> Result<Vec<(PathBuf, String)>> {
    let path = Path::new(pattern);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let paths = if name.contains('*') {
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if dir.to_string_lossy().contains('*') {
            bail!("--config {pattern}: only the file name may hold a `*`, not the directory");
        }
        let mut matches = Vec::new();
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("listing {} for --config {pattern}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if glob_matches(&name, &file_name) && entry.path().is_file() {
                matches.push(entry.path());
            }
        }
        matches.sort();
        matches
    } else {
        vec![path.to_path_buf()]
    };
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("reading the config file {} (--config)", path.display())
            })?;
            Ok((path, text))
        })
        .collect()
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().expect("split yields at least one part");
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn a_star_matches_any_run_of_characters() {
        assert!(glob_matches("*.yaml", "storage.yaml"));
        assert!(glob_matches("*.yaml", ".yaml"));
        assert!(!glob_matches("*.yaml", "storage.yml"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXcYYb"));
        assert!(glob_matches("plain", "plain"));
        assert!(!glob_matches("plain", "plainer"));
    }
}
