//! One setting at a time: environment first, then the one config file, then the default,
//! with flytekit's conversions for each source (`flytekit.configuration.file`).

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::env::Env;
use crate::error::{Choices, ConfigError};
use crate::ini::IniFile;
use crate::source::Source;
use crate::yaml::{YamlFile, YamlValue};

/// A configuration entry as flytekit declares it: an INI `[section] option`, whose
/// environment variable is `FLYTE_{SECTION}_{OPTION}` upper-cased, and optionally a
/// dotted key in the flytectl YAML file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub(crate) section: &'static str,
    pub(crate) option: &'static str,
    pub(crate) yaml: Option<&'static str>,
}

impl Key {
    pub(crate) const fn ini(section: &'static str, option: &'static str) -> Self {
        Key {
            section,
            option,
            yaml: None,
        }
    }

    pub(crate) const fn both(
        section: &'static str,
        option: &'static str,
        yaml: &'static str,
    ) -> Self {
        Key {
            section,
            option,
            yaml: Some(yaml),
        }
    }

    /// `FLYTE_{SECTION}_{OPTION}`, as flytekit derives it.
    pub(crate) fn env_name(&self) -> String {
        format!(
            "FLYTE_{}_{}",
            self.section.to_uppercase(),
            self.option.to_uppercase()
        )
    }
}

/// The config file in use, parsed.
#[derive(Debug, Clone)]
pub(crate) enum FileContent {
    Ini(IniFile),
    Yaml(YamlFile),
}

/// The value shown for a setting in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shown {
    /// Text, shown quoted.
    Value(String),
    /// A number or boolean, shown as is.
    Plain(String),
    Redacted,
    Unset,
}

/// One resolved setting, for [`FlyteConfig::describe`](crate::FlyteConfig::describe).
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) setting: &'static str,
    pub(crate) shown: Shown,
    pub(crate) source: Source,
}

/// What the sources hold for one entry, before conversion.
enum Found {
    Nothing,
    Env {
        name: String,
        value: String,
    },
    Ini {
        source: Source,
        value: Result<String, String>,
    },
    Yaml {
        source: Source,
        value: YamlValue,
    },
}

/// Resolves entries against one environment and at most one config file, remembering
/// where each value came from.
pub(crate) struct Resolver<'a> {
    env: &'a Env,
    file: Option<(&'a Path, &'a FileContent)>,
    pub(crate) resolved: Vec<Resolved>,
    pub(crate) notes: Vec<String>,
}

/// A converted value (`None` = not set, use the default) and where it came from.
type Converted<T> = (Option<T>, Source);

impl<'a> Resolver<'a> {
    pub(crate) fn new(env: &'a Env, file: Option<(&'a Path, &'a FileContent)>) -> Self {
        Resolver {
            env,
            file,
            resolved: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn env(&self) -> &'a Env {
        self.env
    }

    /// Looks `keys` up: the first key's environment variable that is set (even empty)
    /// wins; else, in an INI file, the first key whose option exists (no YAML then, as in
    /// flytekit); else, in a YAML file, the first key with a YAML twin that holds a value.
    fn find(&self, keys: &[Key]) -> Found {
        for key in keys {
            let name = key.env_name();
            if let Some(value) = self.env.get(&name) {
                return Found::Env {
                    value: value.to_owned(),
                    name,
                };
            }
        }
        match self.file {
            Some((path, FileContent::Ini(ini))) => {
                for key in keys {
                    if let Some(value) = ini.get(key.section, key.option) {
                        return Found::Ini {
                            source: Source::Ini {
                                path: PathBuf::from(path),
                                section: key.section.to_owned(),
                                option: key.option.to_owned(),
                            },
                            value: value.map_err(|problem| problem.0),
                        };
                    }
                }
                Found::Nothing
            }
            Some((path, FileContent::Yaml(yaml))) => {
                for key in keys {
                    if let Some((yaml_key, value)) =
                        key.yaml.and_then(|k| yaml.get(k).map(|value| (k, value)))
                    {
                        return Found::Yaml {
                            source: Source::Yaml {
                                path: PathBuf::from(path),
                                key: yaml_key.to_owned(),
                            },
                            value,
                        };
                    }
                }
                Found::Nothing
            }
            None => Found::Nothing,
        }
    }

    fn record(&mut self, setting: &'static str, shown: Shown, source: Source) {
        self.resolved.push(Resolved {
            setting,
            shown,
            source,
        });
    }

    /// An INI option that exists but cannot be interpolated: flytekit ignores it.
    fn unreadable(&mut self, source: &Source, problem: &str) {
        self.notes.push(format!(
            "{source} is ignored because it {problem} (flytekit ignores it too)"
        ));
    }

    fn convert_string(&mut self, keys: &[Key]) -> Result<Converted<String>, ConfigError> {
        Ok(match self.find(keys) {
            Found::Nothing => (None, Source::Default),
            Found::Env { name, value } if value.is_empty() => (None, Source::EmptyEnv { name }),
            Found::Env { name, value } => (Some(value), Source::Env { name }),
            Found::Ini { source, value } => match value {
                Ok(v) if v.is_empty() => (None, Source::Default),
                Ok(v) => (Some(v), source),
                Err(problem) => {
                    self.unreadable(&source, &problem);
                    (None, Source::Default)
                }
            },
            Found::Yaml { source, value } => {
                let text = match value {
                    YamlValue::Str(s) => Some(s),
                    YamlValue::Int(0) => None,
                    YamlValue::Int(i) => Some(i.to_string()),
                    YamlValue::Float(f) if f.parse::<f64>().is_ok_and(|v| v == 0.0) => None,
                    YamlValue::Float(f) => Some(f),
                    YamlValue::Bool(true) => Some("True".to_owned()),
                    YamlValue::Bool(false) => Some("False".to_owned()),
                    YamlValue::List(items) if items.is_empty() => None,
                    YamlValue::List(_) => {
                        return Err(ConfigError::NotAScalar {
                            origin: source,
                            found: "list",
                        });
                    }
                    YamlValue::Map { empty: true } => None,
                    YamlValue::Map { empty: false } => {
                        return Err(ConfigError::NotAScalar {
                            origin: source,
                            found: "mapping",
                        });
                    }
                };
                match text {
                    Some(t) if !t.is_empty() => (Some(t), source),
                    _ => (None, Source::Default),
                }
            }
        })
    }

    /// A string setting with no default.
    pub(crate) fn string(
        &mut self,
        setting: &'static str,
        keys: &[Key],
    ) -> Result<Option<String>, ConfigError> {
        let (value, source) = self.convert_string(keys)?;
        let shown = value.clone().map_or(Shown::Unset, Shown::Value);
        self.record(setting, shown, source);
        Ok(value)
    }

    /// A string setting that must not be empty when it is set at all (a KMS key, an
    /// encryption scope): an empty environment variable, INI option or YAML string is
    /// an error naming it, not "unset" as for other settings, because an empty key in
    /// a deployment is a templating mistake that would write unencrypted objects.
    pub(crate) fn non_empty(
        &mut self,
        setting: &'static str,
        keys: &[Key],
        what: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        let empty = match self.find(keys) {
            Found::Env { name, value } if value.trim().is_empty() => Some(Source::Env { name }),
            Found::Ini {
                source,
                value: Ok(value),
            } if value.trim().is_empty() => Some(source),
            Found::Yaml {
                source,
                value: YamlValue::Str(value),
            } if value.trim().is_empty() => Some(source),
            _ => None,
        };
        if let Some(origin) = empty {
            return Err(ConfigError::Empty { origin, what });
        }
        self.string(setting, keys)
    }

    /// A string setting that must be one of `choices` (compared without regard to
    /// case, given back as spelled in `choices`); unset gives `None`.
    pub(crate) fn choice(
        &mut self,
        setting: &'static str,
        keys: &[Key],
        expected: &'static Choices,
    ) -> Result<Option<String>, ConfigError> {
        let (value, source) = self.convert_string(keys)?;
        let value = match value {
            None => None,
            Some(text) => {
                let wanted = text.trim();
                match expected
                    .values
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(wanted))
                {
                    Some(choice) => Some((*choice).to_owned()),
                    None => {
                        return Err(ConfigError::UnknownChoice {
                            origin: source,
                            value: text,
                            expected,
                        });
                    }
                }
            }
        };
        let shown = value.clone().map_or(Shown::Unset, Shown::Value);
        self.record(setting, shown, source);
        Ok(value)
    }

    /// Where `setting`, resolved before, got its value.
    pub(crate) fn source_of(&self, setting: &str) -> Source {
        self.resolved
            .iter()
            .find(|r| r.setting == setting)
            .map_or(Source::Default, |r| r.source.clone())
    }

    /// A string setting with a default.
    pub(crate) fn string_or(
        &mut self,
        setting: &'static str,
        keys: &[Key],
        default: &str,
    ) -> Result<String, ConfigError> {
        let (value, source) = self.convert_string(keys)?;
        let value = value.unwrap_or_else(|| default.to_owned());
        self.record(setting, Shown::Value(value.clone()), source);
        Ok(value)
    }

    /// A secret string setting: reported as redacted, never shown.
    pub(crate) fn secret(
        &mut self,
        setting: &'static str,
        keys: &[Key],
    ) -> Result<Option<SecretString>, ConfigError> {
        let (value, source) = self.convert_string(keys)?;
        let shown = if value.is_some() {
            Shown::Redacted
        } else {
            Shown::Unset
        };
        self.record(setting, shown, source);
        Ok(value.map(SecretString::from))
    }

    /// A boolean setting: `FLYTE_*` text is false only when empty or one of
    /// false/0/off/no (any case); INI text goes through configparser's `getboolean`.
    pub(crate) fn boolean(
        &mut self,
        setting: &'static str,
        keys: &[Key],
        default: bool,
    ) -> Result<bool, ConfigError> {
        let (value, source) = match self.find(keys) {
            Found::Nothing => (None, Source::Default),
            Found::Env { name, value } => (Some(env_bool(&value)), Source::Env { name }),
            Found::Ini { source, value } => match value {
                Ok(v) => match v.to_lowercase().as_str() {
                    "1" | "yes" | "true" | "on" => (Some(true), source),
                    "0" | "no" | "false" | "off" => (Some(false), source),
                    _ => {
                        return Err(ConfigError::NotABoolean {
                            origin: source,
                            value: v,
                        });
                    }
                },
                Err(problem) => {
                    self.unreadable(&source, &problem);
                    (None, Source::Default)
                }
            },
            Found::Yaml { source, value } => match value {
                YamlValue::Bool(b) => (Some(b), source),
                YamlValue::Str(s) if s.is_empty() => (None, Source::Default),
                YamlValue::Str(s) => (Some(env_bool(&s)), source),
                YamlValue::Int(0) => (None, Source::Default),
                YamlValue::Int(_) => (Some(true), source),
                YamlValue::Float(f) if f.parse::<f64>().is_ok_and(|v| v == 0.0) => {
                    (None, Source::Default)
                }
                YamlValue::Float(_) => (Some(true), source),
                YamlValue::List(items) if items.is_empty() => (None, Source::Default),
                YamlValue::Map { empty: true } => (None, Source::Default),
                YamlValue::List(_) | YamlValue::Map { .. } => {
                    return Err(ConfigError::NotABoolean {
                        origin: source,
                        value: "a list or mapping".to_owned(),
                    });
                }
            },
        };
        let value = value.unwrap_or(default);
        self.record(setting, Shown::Plain(value.to_string()), source);
        Ok(value)
    }

    /// An integer setting. As in flytekit, `0` counts as "not set" and gives the default
    /// (a note says so); text that is not an integer is an error (flytekit would carry the
    /// text on as the value, or crash, depending on the source). With `strict`, an empty
    /// value is an error too (flytekit crashes on it for `[aws] backoff_seconds`).
    pub(crate) fn integer(
        &mut self,
        setting: &'static str,
        keys: &[Key],
        default: i64,
        strict: bool,
    ) -> Result<i64, ConfigError> {
        let parse = |text: String, source: Source| -> Result<Option<i64>, ConfigError> {
            match python_int(&text) {
                Some(v) => Ok(Some(v)),
                None => Err(ConfigError::NotAnInteger {
                    origin: source,
                    value: text,
                }),
            }
        };
        let (value, source) = match self.find(keys) {
            Found::Nothing => (None, Source::Default),
            Found::Env { name, value } if value.is_empty() && !strict => {
                (None, Source::EmptyEnv { name })
            }
            Found::Env { name, value } => {
                let source = Source::Env { name };
                (parse(value, source.clone())?, source)
            }
            Found::Ini { source, value } => match value {
                Ok(v) => (parse(v, source.clone())?, source),
                Err(problem) => {
                    self.unreadable(&source, &problem);
                    (None, Source::Default)
                }
            },
            Found::Yaml { source, value } => match value {
                YamlValue::Int(i) => (Some(i), source),
                YamlValue::Str(s) if s.is_empty() => (None, Source::Default),
                YamlValue::Str(s) => (parse(s, source.clone())?, source),
                other => {
                    return Err(ConfigError::NotAnInteger {
                        origin: source,
                        value: format!("{other:?}"),
                    });
                }
            },
        };
        let (value, source) = match value {
            Some(0) if source != Source::Default => {
                self.notes.push(format!(
                    "{source} is 0, which flytekit treats as unset: {setting} is the default {default}"
                ));
                (default, Source::Default)
            }
            Some(v) => (v, source),
            None => (default, source),
        };
        self.record(setting, Shown::Plain(value.to_string()), source);
        Ok(value)
    }

    /// A comma-separated list setting (no default: `None` when unset).
    pub(crate) fn list(
        &mut self,
        setting: &'static str,
        keys: &[Key],
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let split = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        let (value, source) = match self.find(keys) {
            Found::Nothing => (None, Source::Default),
            Found::Env { name, value } => (Some(split(&value)), Source::Env { name }),
            Found::Ini { source, value } => match value {
                Ok(v) => (Some(split(&v)), source),
                Err(problem) => {
                    self.unreadable(&source, &problem);
                    (None, Source::Default)
                }
            },
            Found::Yaml { source, value } => match value {
                YamlValue::List(items) if items.is_empty() => (None, Source::Default),
                YamlValue::List(items) => (Some(items), source),
                YamlValue::Str(s) if s.is_empty() => (None, Source::Default),
                YamlValue::Str(s) => (Some(split(&s)), source),
                _ => {
                    return Err(ConfigError::NotAScalar {
                        origin: source,
                        found: "mapping",
                    });
                }
            },
        };
        let shown = value
            .as_ref()
            .map_or(Shown::Unset, |v| Shown::Value(v.join(",")));
        self.record(setting, shown, source);
        Ok(value)
    }

    /// A plain environment variable (not a `FLYTE_{SECTION}_{OPTION}` entry): set and
    /// non-empty, or `None`.
    pub(crate) fn plain_env(&mut self, setting: &'static str, name: &str) -> Option<String> {
        let value = self
            .env
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let (shown, source) = match &value {
            Some(v) => (Shown::Value(v.clone()), Source::env(name)),
            None => (Shown::Unset, Source::Default),
        };
        self.record(setting, shown, source);
        value
    }

    /// A plain environment variable holding a secret.
    pub(crate) fn plain_env_secret(
        &mut self,
        setting: &'static str,
        name: &str,
    ) -> Option<SecretString> {
        let value = self.env.get(name).filter(|v| !v.is_empty());
        let (shown, source) = match value {
            Some(_) => (Shown::Redacted, Source::env(name)),
            None => (Shown::Unset, Source::Default),
        };
        self.record(setting, shown, source);
        value.map(SecretString::from)
    }

    /// Records a text value computed by the caller.
    pub(crate) fn computed(&mut self, setting: &'static str, shown: String, source: Source) {
        self.record(setting, Shown::Value(shown), source);
    }

    /// Records a number or boolean computed by the caller.
    pub(crate) fn computed_plain(
        &mut self,
        setting: &'static str,
        shown: impl ToString,
        source: Source,
    ) {
        self.record(setting, Shown::Plain(shown.to_string()), source);
    }

    /// Shows the setting recorded last as unset (an optional boolean left to default).
    pub(crate) fn unshow_last(&mut self) {
        if let Some(last) = self.resolved.last_mut() {
            last.shown = Shown::Unset;
        }
    }

    /// Replaces the shown value of the setting recorded last (after a transformation).
    pub(crate) fn reshow_last(&mut self, shown: String) {
        if let Some(last) = self.resolved.last_mut() {
            last.shown = Shown::Value(shown);
        }
    }
}

/// flytekit's `bool_transformer` for text: false when empty or false/0/off/no in any case.
pub(crate) fn env_bool(text: &str) -> bool {
    !(text.is_empty() || matches!(text.to_lowercase().as_str(), "false" | "0" | "off" | "no"))
}

/// Python's `int(text)` for base-10 text: surrounding whitespace, an optional sign,
/// digits with single underscores between them. `None` when Python would raise
/// `ValueError` (or the number does not fit in 64 bits).
pub(crate) fn python_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !well_formed {
        return None;
    }
    let magnitude: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_accepts_what_python_accepts() {
        for (text, want) in [
            ("8125", Some(8125)),
            (" 42 ", Some(42)),
            ("+7", Some(7)),
            ("-3", Some(-3)),
            ("007", Some(7)),
            ("1_000", Some(1000)),
            ("", None),
            ("1__0", None),
            ("_1", None),
            ("1.5", None),
            ("0x10", None),
            ("abc", None),
        ] {
            assert_eq!(python_int(text), want, "{text:?}");
        }
    }

    #[test]
    fn env_bool_is_flytekits_bool_transformer() {
        for (text, want) in [
            ("", false),
            ("False", false),
            ("0", false),
            ("OFF", false),
            ("no", false),
            ("true", true),
            ("1", true),
            ("nope", true),
            ("yes", true),
        ] {
            assert_eq!(env_bool(text), want, "{text:?}");
        }
    }
}
