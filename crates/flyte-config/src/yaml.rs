//! The flytectl YAML config file, looked up the way flytekit looks up its keys: a dotted
//! key walks nested mappings; anything else on the way (a missing key, a list, a scalar)
//! means "not set".

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::error::ConfigError;

/// A parsed YAML config file; `None` inside when the document is empty or unusable.
#[derive(Debug, Clone, Default)]
pub(crate) struct YamlFile {
    root: Option<Yaml>,
}

/// A value found under a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum YamlValue {
    /// A string scalar.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float, as written.
    Float(String),
    /// A boolean.
    Bool(bool),
    /// A sequence of scalars rendered as strings (non-scalars are skipped).
    List(Vec<String>),
    /// A mapping (only whether it is empty matters).
    Map {
        /// Whether it has no keys.
        empty: bool,
    },
}

impl YamlFile {
    /// Parses `text`. Like flytekit (which catches `yaml.YAMLError` and logs a warning),
    /// a document that does not parse, or a stream of several documents, reads as empty;
    /// the returned note says why.
    pub(crate) fn parse(text: &str, path: &Path) -> (Self, Option<String>) {
        match YamlLoader::load_from_str(text) {
            Ok(mut docs) if docs.len() <= 1 => (YamlFile { root: docs.pop() }, None),
            Ok(docs) => (
                YamlFile::default(),
                Some(format!(
                    "config file {} holds {} YAML documents, not one; flytekit ignores it, and so do we",
                    path.display(),
                    docs.len()
                )),
            ),
            Err(error) => (
                YamlFile::default(),
                Some(format!(
                    "config file {} is not valid YAML ({error}); flytekit ignores it, and so do we",
                    path.display()
                )),
            ),
        }
    }

    /// The value under the dotted `key`; `None` when any step is missing or not a mapping,
    /// or the value is null.
    pub(crate) fn get(&self, key: &str) -> Option<YamlValue> {
        let mut node = self.root.as_ref()?;
        for part in key.split('.') {
            let Yaml::Hash(map) = node else {
                return None;
            };
            node = map.get(&Yaml::String(part.to_owned()))?;
        }
        match node {
            Yaml::String(s) => Some(YamlValue::Str(s.clone())),
            Yaml::Integer(i) => Some(YamlValue::Int(*i)),
            Yaml::Real(r) => Some(YamlValue::Float(r.clone())),
            Yaml::Boolean(b) => Some(YamlValue::Bool(*b)),
            Yaml::Array(items) => Some(YamlValue::List(
                items.iter().filter_map(scalar_text).collect(),
            )),
            Yaml::Hash(map) => Some(YamlValue::Map {
                empty: map.is_empty(),
            }),
            Yaml::Null | Yaml::Alias(_) | Yaml::BadValue => None,
        }
    }
}

/// A scalar as Python's `str()` would render what PyYAML loaded.
fn scalar_text(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(true) => Some("True".to_owned()),
        Yaml::Boolean(false) => Some("False".to_owned()),
        _ => None,
    }
}

/// Reads and parses a YAML file. Unlike an INI file, a YAML file that cannot be opened
/// stops flytekit (it opens the file itself), so it is an error here too.
pub(crate) fn read(path: &Path) -> Result<(YamlFile, Option<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|io| ConfigError::ReadFile {
        path: path.to_path_buf(),
        io,
    })?;
    Ok(YamlFile::parse(&text, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> YamlFile {
        let (file, note) = YamlFile::parse(text, Path::new("config.yaml"));
        assert_eq!(note, None);
        file
    }

    #[test]
    fn dotted_keys_walk_nested_mappings() {
        let file = parse(
            "storage:\n  connection:\n    endpoint: http://minio:9000\n    access-key: minio\n    disable-ssl: true\n",
        );
        assert_eq!(
            file.get("storage.connection.endpoint"),
            Some(YamlValue::Str("http://minio:9000".into()))
        );
        assert_eq!(
            file.get("storage.connection.disable-ssl"),
            Some(YamlValue::Bool(true))
        );
        assert_eq!(file.get("storage.connection.secret-key"), None);
        assert_eq!(
            file.get("storage.connection"),
            Some(YamlValue::Map { empty: false })
        );
    }

    #[test]
    fn non_mappings_on_the_way_mean_not_set() {
        let file = parse("storage: [a, b]\nadmin:\n  endpoint: ~\n");
        assert_eq!(file.get("storage.connection.endpoint"), None);
        assert_eq!(file.get("admin.endpoint"), None);
        assert_eq!(parse("").get("storage"), None);
        assert_eq!(parse("- a\n").get("storage"), None);
    }

    #[test]
    fn broken_yaml_reads_as_empty_with_a_note() {
        let (file, note) = YamlFile::parse("storage: [unclosed\n", Path::new("c.yaml"));
        assert_eq!(file.get("storage"), None);
        assert!(note.expect("a note").contains("c.yaml"));
        let (_, note) = YamlFile::parse("a: 1\n---\nb: 2\n", Path::new("c.yaml"));
        assert!(note.expect("a note").contains("2 YAML documents"));
    }
}
