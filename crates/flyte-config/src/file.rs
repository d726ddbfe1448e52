//! Which config file flytekit would use, and reading it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::env::Env;
use crate::error::ConfigError;
use crate::resolve::FileContent;
use crate::{ini, yaml};

/// `FLYTECTL_CONFIG`: the config file flytectl's sandbox instructions tell users to set.
///
/// ```
/// use flyte_config::{ConfigFileFormat, Dirs, Env, FLYTECTL_CONFIG, FlyteConfig};
///
/// let dir = tempfile::tempdir().expect("temp dir");
/// let path = dir.path().join("config.yaml");
/// std::fs::write(&path, "admin:\n  endpoint: dns:///flyte.example.com\n").expect("write");
/// let env = Env::new().with(FLYTECTL_CONFIG, path.display().to_string());
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert_eq!(config.config_file.map(|file| file.format), Some(ConfigFileFormat::Yaml));
/// assert_eq!(config.platform.endpoint, "flyte.example.com");
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
pub const FLYTECTL_CONFIG: &str = "FLYTECTL_CONFIG";
/// pyflyte's own override of [`FLYTECTL_CONFIG`]; it wins when set, even to "" (which
/// then disables both).
///
/// ```
/// use flyte_config::{Dirs, Env, FLYTECTL_CONFIG, FLYTECTL_CONFIG_PYFLYTE_OVERRIDE, FlyteConfig};
///
/// # let dir = tempfile::tempdir().expect("temp dir");
/// # let path = dir.path().join("config.yaml");
/// # std::fs::write(&path, "admin:\n  insecure: true\n").expect("write");
/// let env = Env::new()
///     .with(FLYTECTL_CONFIG, path.display().to_string())
///     .with(FLYTECTL_CONFIG_PYFLYTE_OVERRIDE, ""); // set but empty: no config file at all
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert!(config.config_file.is_none());
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
pub const FLYTECTL_CONFIG_PYFLYTE_OVERRIDE: &str = "_FLYTECTL_CONFIG_PYFLYTE_OVERRIDE";
/// Legacy flytekit's INI path variable. flytekit 1.16 no longer reads it, and neither do
/// we; a note says so when it is set.
///
/// ```
/// use flyte_config::{Dirs, Env, FLYTE_INTERNAL_CONFIGURATION_PATH, FlyteConfig};
///
/// let env = Env::new().with(FLYTE_INTERNAL_CONFIGURATION_PATH, "/etc/flyte/flytekit.config");
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// assert!(config.config_file.is_none());
/// assert!(config.notes.iter().any(|note| note.contains(FLYTE_INTERNAL_CONFIGURATION_PATH)));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
pub const FLYTE_INTERNAL_CONFIGURATION_PATH: &str = "FLYTE_INTERNAL_CONFIGURATION_PATH";

/// The directories config file discovery depends on, supplied by the caller (this crate
/// reads no process state).
///
/// ```
/// use flyte_config::{ConfigFileFormat, Dirs, Env, FlyteConfig};
///
/// // In a binary: Dirs { home: <$HOME>, current: std::env::current_dir().ok() }.
/// let home = tempfile::tempdir().expect("temp dir");
/// std::fs::create_dir(home.path().join(".flyte")).expect("mkdir");
/// std::fs::write(home.path().join(".flyte/config"), "[aws]\nendpoint = http://minio:9000\n")
///     .expect("write");
/// let dirs = Dirs { home: Some(home.path().to_owned()), current: None };
/// let config = FlyteConfig::load(&Env::new(), &dirs)?;
/// assert_eq!(config.config_file.map(|file| file.format), Some(ConfigFileFormat::Ini));
/// assert_eq!(config.storage.s3.endpoint.as_deref(), Some("http://minio:9000"));
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirs {
    /// The user's home directory (Python's `Path.home()`: `$HOME`, else the password
    /// database). `None` skips `~/.flyte/config` and `~/.flyte/config.yaml`.
    pub home: Option<PathBuf>,
    /// The process's working directory, where flytekit looks for `flytekit.config` and
    /// against which relative `FLYTECTL_CONFIG` paths resolve. `None` skips the former and
    /// leaves the latter relative.
    pub current: Option<PathBuf>,
}

/// The format of the config file in use.
///
/// ```
/// use flyte_config::{ConfigFileFormat, Dirs, Env, FlyteConfig};
///
/// # let dir = tempfile::tempdir().expect("temp dir");
/// # let path = dir.path().join("flytekit.config");
/// # std::fs::write(&path, "[sdk]\n").expect("write");
/// let env = Env::new().with("FLYTECTL_CONFIG", path.display().to_string());
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// match config.config_file.map(|file| file.format) {
///     Some(ConfigFileFormat::Ini) => println!("a legacy flytekit.config"),
///     Some(ConfigFileFormat::Yaml) => println!("a flytectl config.yaml"),
///     None => println!("environment and defaults only"),
/// }
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigFileFormat {
    /// A flytectl YAML file (the path ends in `yaml` or `yml`).
    Yaml,
    /// A legacy INI file (any other path), read like Python's configparser.
    Ini,
}

/// The one config file in use, and why it was chosen.
///
/// ```
/// use flyte_config::{Dirs, Env, FlyteConfig};
///
/// # let dir = tempfile::tempdir().expect("temp dir");
/// # let path = dir.path().join("config.yaml");
/// # std::fs::write(&path, "storage:\n  type: minio\n").expect("write");
/// let env = Env::new().with("FLYTECTL_CONFIG", path.display().to_string());
/// let config = FlyteConfig::load(&env, &Dirs::default())?;
/// let file = config.config_file.expect("a config file");
/// assert_eq!(file.path, path);
/// println!("using {} because {}", file.path.display(), file.chosen_because);
/// # Ok::<(), flyte_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigFileInfo {
    /// Its absolute path (when the working directory was known).
    pub path: PathBuf,
    /// Its format, chosen by the path's ending as flytekit does.
    pub format: ConfigFileFormat,
    /// Why this file: the variable that named it, or the default location that exists.
    pub chosen_because: String,
}

/// Picks the file flytekit's `get_config_file(None)` picks:
/// 1. `_FLYTECTL_CONFIG_PYFLYTE_OVERRIDE` if set, else `FLYTECTL_CONFIG`, if it names a
///    path that exists;
/// 2. `flytekit.config` in the working directory;
/// 3. `~/.flyte/config` (INI);
/// 4. `~/.flyte/config.yaml`.
pub(crate) fn discover(env: &Env, dirs: &Dirs, notes: &mut Vec<String>) -> Option<ConfigFileInfo> {
    let absolute = |p: &Path| match &dirs.current {
        Some(cwd) if p.is_relative() => cwd.join(p),
        _ => p.to_path_buf(),
    };
    if let Some(path) = env.get(FLYTE_INTERNAL_CONFIGURATION_PATH) {
        notes.push(format!(
            "{FLYTE_INTERNAL_CONFIGURATION_PATH}={path} is ignored, as flytekit 1.16 ignores it: \
             set {FLYTECTL_CONFIG} to that path to use the file"
        ));
    }
    let (name, value) = env.first_of(&[FLYTECTL_CONFIG_PYFLYTE_OVERRIDE, FLYTECTL_CONFIG]);
    if let Some(name) = name.filter(|_| !value.is_empty()) {
        let path = absolute(Path::new(value));
        if path.exists() {
            return Some(info(path, format!("named by {name}")));
        }
        notes.push(format!(
            "{name} names {}, which does not exist; flytekit ignores it, and so do we",
            path.display()
        ));
    }
    if let Some(cwd) = &dirs.current {
        let path = cwd.join("flytekit.config");
        if path.exists() {
            return Some(info(
                path,
                "flytekit.config in the working directory".into(),
            ));
        }
    }
    if let Some(home) = &dirs.home {
        let path = home.join(".flyte").join("config");
        if path.exists() {
            return Some(info(path, "~/.flyte/config exists".into()));
        }
        let path = home.join(".flyte").join("config.yaml");
        if path.exists() {
            return Some(info(path, "~/.flyte/config.yaml exists".into()));
        }
    }
    None
}

fn info(path: PathBuf, chosen_because: String) -> ConfigFileInfo {
    let text = path.to_string_lossy();
    let format = if text.ends_with("yaml") || text.ends_with("yml") {
        ConfigFileFormat::Yaml
    } else {
        ConfigFileFormat::Ini
    };
    ConfigFileInfo {
        path,
        format,
        chosen_because,
    }
}

/// Reads the chosen file.
pub(crate) fn read(
    info: &ConfigFileInfo,
    notes: &mut Vec<String>,
) -> Result<FileContent, ConfigError> {
    match info.format {
        ConfigFileFormat::Yaml => {
            let (file, note) = yaml::read(&info.path)?;
            notes.extend(note);
            Ok(FileContent::Yaml(file))
        }
        ConfigFileFormat::Ini => {
            let (file, note) = ini::read(&info.path)?;
            notes.extend(note);
            if file.has_section("internal") {
                return Err(ConfigError::IniInternalSection {
                    path: info.path.clone(),
                });
            }
            Ok(FileContent::Ini(file))
        }
    }
}
