//! Every public item of the library crates carries an example a tool author can copy:
//! a code fence in the `///` block above it. Checked on the source text, so it needs
//! no nightly rustdoc; `missing_docs` (a workspace lint) already makes every item
//! documented, this makes the documentation show the item in use.
//!
//! An item is a line starting `pub fn|struct|enum|trait|const|static|type` (not
//! `pub(crate)`), or a method declared in a `pub trait`. `src/generated/` (prost's
//! output) and `#[cfg(test)] mod` blocks are skipped. Attributes between the doc
//! comment and the item are stepped over.

use std::path::Path;

use crate::workspace_root;

/// The crates other Rust tools build on (docs/architecture.md, "Stability"), and the
/// leaves they configure themselves with.
const CRATES: &[&str] = &[
    "flyte-proto",
    "flyte-storage",
    "flyte-offload",
    "flyte-runtime",
    "flyte-python",
    "flyte-errors",
    "flyte-config",
    "flyte-telemetry",
    "flyte-settings",
];

/// The public items of `text` whose doc comment holds no code fence, as `line: name`.
fn items_without_example(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut missing = Vec::new();
    // The indentation of the `mod tests {` being skipped, or of the `pub trait` whose
    // methods are items.
    let mut test_module: Option<usize> = None;
    let mut public_trait: Option<usize> = None;
    for (index, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if let Some(depth) = test_module {
            if indent == depth && trimmed.starts_with('}') {
                test_module = None;
            }
            continue;
        }
        if trimmed == "#[cfg(test)]"
            && lines
                .get(index + 1)
                .is_some_and(|next| is_module_opening(next.trim_start()))
        {
            test_module = Some(indent);
            continue;
        }
        let name = match public_item(trimmed) {
            Some((kind, name)) => {
                if kind == "trait" {
                    public_trait = Some(indent);
                }
                Some(name)
            }
            None => match public_trait {
                Some(depth) if indent == depth && trimmed.starts_with('}') => {
                    public_trait = None;
                    None
                }
                Some(depth) if indent == depth + 4 => trait_method(trimmed),
                _ => None,
            },
        };
        let Some(name) = name else { continue };
        let doc = lines[..index]
            .iter()
            .rev()
            .map(|line| line.trim_start())
            .skip_while(|line| {
                line.starts_with("#[") || line.starts_with(')') || line.starts_with('"')
            })
            .take_while(|line| line.starts_with("///"));
        if !doc.into_iter().any(|line| line.contains("```")) {
            missing.push(format!("{}: {name}", index + 1));
        }
    }
    missing
}

fn is_module_opening(line: &str) -> bool {
    line.strip_prefix("mod ")
        .is_some_and(|rest| rest.trim_end().ends_with('{'))
}

/// `(kind, name)` of a line declaring a public item.
fn public_item(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("pub ")?;
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let rest = rest.strip_prefix("unsafe ").unwrap_or(rest);
    let (kind, rest) = rest.split_once(' ')?;
    if !matches!(
        kind,
        "fn" | "struct" | "enum" | "trait" | "const" | "static" | "type"
    ) {
        return None;
    }
    Some((kind, identifier(rest)?))
}

/// The name of a method declared in a trait's body.
fn trait_method(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("async ").unwrap_or(line);
    identifier(rest.strip_prefix("fn ")?)
}

fn identifier(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

fn check_crate(dir: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    for file in crate::layering::rust_files(&dir.join("src")) {
        if file
            .components()
            .any(|part| part.as_os_str() == "generated")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let relative = file.strip_prefix(workspace_root()).unwrap_or(&file);
        missing.extend(
            items_without_example(&text)
                .into_iter()
                .map(|item| format!("{}:{item}", relative.display())),
        );
    }
    missing
}

#[test]
fn every_public_item_of_the_library_crates_has_an_example() {
    let root = workspace_root();
    let mut missing = Vec::new();
    for name in CRATES {
        let dir = root.join("crates").join(name);
        assert!(
            dir.join("src/lib.rs").is_file(),
            "{name} is a crate under crates/"
        );
        missing.extend(check_crate(&dir));
    }
    assert!(
        missing.is_empty(),
        "{} public items have no example in their doc comment (a ``` block a tool author \
         can copy; docs/architecture.md, invariants):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn the_scan_finds_items_without_examples_and_skips_tests_and_attributes() {
    let text = r#"
/// Has one.
///
/// ```
/// let _ = 1;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Documented;

/// None here.
pub fn bare() {}

/// A trait.
///
/// ```
/// ```
pub trait Store {
    /// Without.
    async fn get(&self);
    /// With.
    ///
    /// ```
    /// ```
    fn put(&self);
}

pub(crate) fn internal() {}

#[cfg(test)]
mod tests {
    pub fn helper() {}
}
"#;
    assert_eq!(items_without_example(text), ["12: bare", "20: get"]);
}
