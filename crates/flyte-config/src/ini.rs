//! The legacy INI config file, read the way Python's `configparser.ConfigParser()` with
//! its defaults reads it, because that is what flytekit uses:
//!
//! - `key = value` or `key: value` (the first `=` or `:` splits); keys are lower-cased,
//!   keys and values are stripped; section names are case-sensitive;
//! - whole-line comments start with `#` or `;` (after optional indentation); there are
//!   no inline comments, so `host = a ; b` is the value `a ; b`;
//! - a line indented deeper than the option line above it continues that value (joined
//!   with newlines; blank lines inside a value are kept, trailing ones dropped);
//! - `[DEFAULT]` supplies options to every section that exists;
//! - `%(other)s` interpolates another option of the section, `%%` is a literal `%`; any
//!   other `%` makes the option unreadable (flytekit then ignores it);
//! - a line before any section header, a line with no `=`/`:`, a repeated section or a
//!   repeated option is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// One option's raw text, before interpolation.
type Options = BTreeMap<String, Vec<String>>;

/// A parsed INI file.
#[derive(Debug, Clone, Default)]
pub(crate) struct IniFile {
    defaults: Options,
    sections: BTreeMap<String, Options>,
}

/// Why an option that exists could not be read (configparser's interpolation errors,
/// which flytekit swallows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterpolationProblem(pub(crate) String);

impl IniFile {
    /// Parses `text`, read from `path` (named in errors).
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let syntax = |line: usize, problem: String| ConfigError::IniSyntax {
            path: path.to_path_buf(),
            line,
            problem,
        };
        let mut file = IniFile::default();
        // Which section receives options: None before the first header.
        enum Target {
            Defaults,
            Section(String),
        }
        let mut target: Option<Target> = None;
        let mut option: Option<String> = None;
        let mut indent_level = 0usize;
        let mut seen_sections: Vec<String> = Vec::new();

        for (index, line) in text.lines().enumerate() {
            let lineno = index + 1;
            let stripped = line.trim();
            let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
            if stripped.is_empty() || is_comment {
                // A blank line (not a comment) inside a value is kept, as configparser does.
                if let (false, Some(t), Some(name)) = (is_comment, &target, &option) {
                    let options = match t {
                        Target::Defaults => &mut file.defaults,
                        Target::Section(s) => file.sections.entry(s.clone()).or_default(),
                    };
                    if let Some(value) = options.get_mut(name) {
                        value.push(String::new());
                    }
                }
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if target.is_some() && option.is_some() && indent > indent_level {
                let options = match target.as_ref() {
                    Some(Target::Defaults) => &mut file.defaults,
                    Some(Target::Section(s)) => file.sections.entry(s.clone()).or_default(),
                    None => unreachable!("checked above"),
                };
                if let Some(value) = option.as_ref().and_then(|name| options.get_mut(name)) {
                    value.push(stripped.to_owned());
                }
                continue;
            }
            indent_level = indent;
            // configparser's header pattern: `[`, at least one character, the last `]`.
            let header = stripped.strip_prefix('[').and_then(|rest| {
                rest.rfind(']')
                    .filter(|close| *close > 0)
                    .map(|close| &rest[..close])
            });
            if let Some(name) = header {
                if name == "DEFAULT" {
                    target = Some(Target::Defaults);
                } else {
                    if seen_sections.iter().any(|s| s == name) {
                        return Err(syntax(lineno, format!("section [{name}] appears twice")));
                    }
                    seen_sections.push(name.to_owned());
                    file.sections.entry(name.to_owned()).or_default();
                    target = Some(Target::Section(name.to_owned()));
                }
                option = None;
                continue;
            }
            let Some(t) = target.as_ref() else {
                return Err(syntax(
                    lineno,
                    "an option comes before any [section] header".to_owned(),
                ));
            };
            let Some(split) = stripped.find(['=', ':']) else {
                return Err(syntax(
                    lineno,
                    format!("{stripped:?} has no `=` or `:` between a key and a value"),
                ));
            };
            let key = stripped[..split].trim_end().to_lowercase();
            if key.is_empty() {
                return Err(syntax(
                    lineno,
                    "an option has no name before `=`".to_owned(),
                ));
            }
            let value = stripped[split + 1..].trim().to_owned();
            let (options, section_name) = match t {
                Target::Defaults => (&mut file.defaults, "DEFAULT"),
                Target::Section(s) => (file.sections.entry(s.clone()).or_default(), s.as_str()),
            };
            if options.contains_key(&key) {
                return Err(syntax(
                    lineno,
                    format!("option `{key}` appears twice in section [{section_name}]"),
                ));
            }
            options.insert(key.clone(), vec![value]);
            option = Some(key);
        }
        Ok(file)
    }

    /// Whether the file has `[name]` (never true for `DEFAULT`, as in configparser).
    pub(crate) fn has_section(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }

    /// The value of `option` in `[section]`, interpolated: `None` when the section or the
    /// option does not exist; `Err` when interpolation fails.
    pub(crate) fn get(
        &self,
        section: &str,
        option: &str,
    ) -> Option<Result<String, InterpolationProblem>> {
        let options = self.sections.get(section)?;
        let option = option.to_lowercase();
        let raw = raw_value(options, &self.defaults, &option)?;
        Some(self.interpolate(options, &raw, 1))
    }

    fn interpolate(
        &self,
        options: &Options,
        raw: &str,
        depth: usize,
    ) -> Result<String, InterpolationProblem> {
        const MAX_DEPTH: usize = 10;
        if depth > MAX_DEPTH {
            return Err(InterpolationProblem(
                "references nest more than 10 deep".to_owned(),
            ));
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("%%") {
                out.push('%');
                rest = after;
            } else if let Some((after, close)) = rest
                .strip_prefix("%(")
                .and_then(|after| after.find(")s").map(|close| (after, close)))
            {
                let name = after[..close].to_lowercase();
                let Some(referenced) = raw_value(options, &self.defaults, &name) else {
                    return Err(InterpolationProblem(format!(
                        "refers to `%({name})s`, which is not set"
                    )));
                };
                out.push_str(&self.interpolate(options, &referenced, depth + 1)?);
                rest = &after[close + 2..];
            } else {
                return Err(InterpolationProblem(
                    "has a `%` that is neither `%%` nor `%(name)s`".to_owned(),
                ));
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// An option's text with continuation lines joined, from the section or `[DEFAULT]`.
fn raw_value(options: &Options, defaults: &Options, option: &str) -> Option<String> {
    let lines = options.get(option).or_else(|| defaults.get(option))?;
    Some(lines.join("\n").trim_end().to_owned())
}

/// Reads and parses an INI file. Like configparser (which skips files it cannot open), an
/// unreadable file reads as empty; the returned note says why.
pub(crate) fn read(path: &Path) -> Result<(IniFile, Option<String>), ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| ConfigError::IniSyntax {
                path: PathBuf::from(path),
                line: 0,
                problem: "the file is not UTF-8 text".to_owned(),
            })?;
            Ok((IniFile::parse(&text, path)?, None))
        }
        Err(io) => Ok((
            IniFile::default(),
            Some(format!(
                "config file {} could not be read ({io}); flytekit ignores it, and so do we",
                path.display()
            )),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> IniFile {
        IniFile::parse(text, Path::new("test.config")).expect("parses")
    }

    fn get(file: &IniFile, section: &str, option: &str) -> Option<String> {
        file.get(section, option).map(|r| r.expect("interpolates"))
    }

    #[test]
    fn keys_are_case_insensitive_and_sections_are_not() {
        let file = parse("[aws]\nEndPoint = http://x:9000\n[AWS]\nendpoint: other\n");
        assert_eq!(
            get(&file, "aws", "endpoint").as_deref(),
            Some("http://x:9000")
        );
        assert_eq!(
            get(&file, "aws", "ENDPOINT").as_deref(),
            Some("http://x:9000")
        );
        assert_eq!(get(&file, "AWS", "endpoint").as_deref(), Some("other"));
    }

    #[test]
    fn first_delimiter_splits_and_inline_semicolons_stay_in_the_value() {
        let file = parse("[statsd]\nhost: a=b ; not a comment\nurl = http://h:1\n");
        assert_eq!(
            get(&file, "statsd", "host").as_deref(),
            Some("a=b ; not a comment")
        );
        assert_eq!(get(&file, "statsd", "url").as_deref(), Some("http://h:1"));
    }

    #[test]
    fn comments_blank_lines_and_continuations() {
        let file = parse(
            "# top\n[sdk]\n  ; indented comment\nworkflow_packages = a,\n    b,\n\n    c\n\nlocal_sandbox = /tmp\n",
        );
        assert_eq!(
            get(&file, "sdk", "workflow_packages").as_deref(),
            Some("a,\nb,\n\nc")
        );
        assert_eq!(get(&file, "sdk", "local_sandbox").as_deref(), Some("/tmp"));
    }

    #[test]
    fn defaults_apply_only_to_existing_sections() {
        let file = parse("[DEFAULT]\nretries = 7\n[aws]\nendpoint = e\n");
        assert_eq!(get(&file, "aws", "retries").as_deref(), Some("7"));
        assert_eq!(get(&file, "gcp", "retries"), None);
        assert!(!file.has_section("DEFAULT"));
    }

    #[test]
    fn interpolation_follows_basic_interpolation() {
        let file = parse(
            "[aws]\nhost = minio\nendpoint = http://%(host)s:9000\npct = 100%%\nbad = 50%\nmissing = %(nope)s\n",
        );
        assert_eq!(
            get(&file, "aws", "endpoint").as_deref(),
            Some("http://minio:9000")
        );
        assert_eq!(get(&file, "aws", "pct").as_deref(), Some("100%"));
        assert!(matches!(file.get("aws", "bad"), Some(Err(_))));
        assert!(matches!(file.get("aws", "missing"), Some(Err(_))));
    }

    #[test]
    fn malformed_files_are_errors_naming_the_line() {
        for (text, line) in [
            ("endpoint = x\n", 1),
            ("[aws]\njust words\n", 2),
            ("[aws]\na = 1\n[aws]\n", 3),
            ("[aws]\na = 1\nA = 2\n", 3),
            ("[aws]\n= 2\n", 2),
        ] {
            match IniFile::parse(text, Path::new("f.config")) {
                Err(ConfigError::IniSyntax { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}
