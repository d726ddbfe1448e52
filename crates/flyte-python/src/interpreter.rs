//! What a Python interpreter says about itself and its flytekit, for
//! `pyflyte-execute --version` (which entrypoint is active, and what a task would run
//! with). A run does not ask: its worker reports a missing flytekit itself (the
//! `flytekit_missing` event), with [`missing_flytekit_message`].

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::SettingNames;

/// Prints, as one JSON object, the interpreter, its version and where flytekit would be
/// imported from (without importing flytekit), and flytekit's version. `-c` puts the working directory first on `sys.path`, where the worker
/// has its own script's directory (which it removes): drop it, so a `flytekit/` in the
/// working directory is not taken for the package.
const PROBE: &str = r#"
import sys
if sys.path and sys.path[0] in ("", "."):
    del sys.path[0]
import importlib.util, json
spec = importlib.util.find_spec("flytekit")
flytekit = None
if spec is not None:
    flytekit_version = None
    try:
        from importlib.metadata import version
        flytekit_version = version("flytekit")
    except Exception:
        pass
    places = list(spec.submodule_search_locations or [])
    flytekit = {"version": flytekit_version, "location": places[0] if places else spec.origin}
print(json.dumps({"python": sys.executable, "python_version": sys.version.split()[0], "flytekit": flytekit}))
"#;

/// What an interpreter told about itself ([`probe`]).
///
/// ```
/// use flyte_python::interpreter::{FlytekitFound, InterpreterFacts};
///
/// # let facts = InterpreterFacts { executable: "/opt/venv/bin/python".into(), version: "3.11.7".into(),
/// #     flytekit: Some(FlytekitFound { version: Some("1.16.31".into()), location: "/opt/venv/lib/python3.11/site-packages/flytekit".into() }) };
/// let flytekit = facts.flytekit.as_ref().and_then(|f| f.version.as_deref()).unwrap_or("none");
/// println!("Python {} at {} with flytekit {flytekit}", facts.version, facts.executable);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterFacts {
    /// `sys.executable`: the interpreter's own path for itself.
    pub executable: String,
    /// Its version, e.g. `3.11.7`.
    pub version: String,
    /// flytekit, when it can be imported.
    pub flytekit: Option<FlytekitFound>,
}

/// The flytekit an interpreter would import.
///
/// ```
/// use flyte_python::compat::SUPPORTED_FLYTEKIT;
/// use flyte_python::interpreter::FlytekitFound;
///
/// let found = FlytekitFound { version: Some("1.9.1".into()), location: "/site-packages/flytekit".into() };
/// let supported = found.version.as_deref().and_then(|v| SUPPORTED_FLYTEKIT.contains(v));
/// assert_eq!(supported, Some(false));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlytekitFound {
    /// Its distribution's version; `None` when it has no package metadata (e.g. a
    /// source checkout on `PYTHONPATH`).
    pub version: Option<String>,
    /// The package's directory.
    pub location: String,
}

/// Why an interpreter could not be asked.
///
/// ```no_run
/// # async fn demo() {
/// use flyte_python::interpreter::{ProbeError, probe};
///
/// match probe(std::path::Path::new("/usr/bin/python2")).await {
///     Ok(facts) => println!("Python {}", facts.version),
///     Err(ProbeError::Start { .. }) => println!("no such interpreter"),
///     Err(other) => println!("it is no Python 3 we can ask: {other}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// It could not be started at all.
    #[error("cannot be started")]
    Start {
        /// What starting it failed with.
        source: std::io::Error,
    },
    /// It ran, but did not answer (it failed, or it is not a Python 3 we can talk to).
    #[error("did not answer ({status}): {stderr}")]
    NoAnswer {
        /// How it ended.
        status: std::process::ExitStatus,
        /// The end of what it printed to stderr.
        stderr: String,
    },
}

/// Asks `python` about itself and flytekit.
///
/// ```no_run
/// # async fn demo() -> Result<(), flyte_python::interpreter::ProbeError> {
/// let facts = flyte_python::interpreter::probe(std::path::Path::new("python3")).await?;
/// if facts.flytekit.is_none() {
///     eprintln!("{} has no flytekit", facts.executable);
/// }
/// # Ok(())
/// # }
/// ```
pub async fn probe(python: &Path) -> Result<InterpreterFacts, ProbeError> {
    let output = Command::new(python)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| ProbeError::Start { source })?;
    let answer = String::from_utf8_lossy(&output.stdout);
    match serde_json::from_str::<serde_json::Value>(answer.trim()) {
        Ok(facts) if output.status.success() => Ok(facts_from_json(&facts)),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last_line = stderr.lines().last().unwrap_or("no output").trim();
            Err(ProbeError::NoAnswer {
                status: output.status,
                stderr: last_line.to_owned(),
            })
        }
    }
}

fn facts_from_json(facts: &serde_json::Value) -> InterpreterFacts {
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    InterpreterFacts {
        executable: text(&facts["python"]).unwrap_or_default(),
        version: text(&facts["python_version"]).unwrap_or_default(),
        flytekit: facts["flytekit"].as_object().map(|flytekit| FlytekitFound {
            version: flytekit.get("version").and_then(text),
            location: flytekit.get("location").and_then(text).unwrap_or_default(),
        }),
    }
}

/// The one line a run without flytekit ends with, naming the package, the interpreter
/// and what to do (`names` says how the interpreter is chosen).
///
/// ```
/// use flyte_python::{SettingNames, interpreter::missing_flytekit_message};
///
/// let mut names = SettingNames::default();
/// names.python = "PYFLYTE_EXECUTE_PYTHON".to_owned();
/// let line = missing_flytekit_message(std::path::Path::new("/usr/bin/python3"), &names);
/// assert!(line.contains("/usr/bin/python3") && line.contains("set PYFLYTE_EXECUTE_PYTHON"));
/// ```
pub fn missing_flytekit_message(python: &Path, names: &SettingNames) -> String {
    format!(
        "flytekit is not installed for {} (the Python the task would run in): install \
         flytekit into that environment, or set {} to a Python that has it",
        python.display(),
        names.python
    )
}

/// The error code and the one line a run refused by the worker ends with: what was
/// found, where, what is supported and what to do.
pub(crate) fn unsupported_message(
    python: &Path,
    names: &SettingNames,
    unsupported: &crate::control::Unsupported,
) -> (&'static str, String) {
    use crate::compat::{
        FLYTEKIT_IMPORT_FAILED, SUPPORTED_FLYTEKIT, SUPPORTED_PYTHON, UNSUPPORTED_FLYTEKIT,
        UNSUPPORTED_PYTHON,
    };
    use crate::control::UnsupportedComponent;

    let found = unsupported.found.as_deref().unwrap_or("(version unknown)");
    let detail = unsupported
        .detail
        .as_deref()
        .map(|detail| format!(" ({detail})"))
        .unwrap_or_default();
    match unsupported.component {
        UnsupportedComponent::Python => (
            UNSUPPORTED_PYTHON,
            format!(
                "Python {found} ({}) cannot run tasks: pyflyte-execute supports Python {} \
                 (the interpreters flytekit 1.10 to 1.16 support); set {} to one of those, \
                 or use an image built on one",
                unsupported.location,
                SUPPORTED_PYTHON.describe(),
                names.python
            ),
        ),
        UnsupportedComponent::Flytekit => (
            UNSUPPORTED_FLYTEKIT,
            format!(
                "flytekit {found} ({}) is not supported{detail}: pyflyte-execute runs flytekit \
                 {}; install one of those into {}{}",
                unsupported.location,
                SUPPORTED_FLYTEKIT.describe(),
                python.display(),
                names
                    .use_flytekit
                    .as_deref()
                    .map_or_else(String::new, |fallback| format!(
                        ", or set {fallback} to run flytekit's own entrypoint"
                    ))
            ),
        ),
        UnsupportedComponent::FlytekitImport => (
            FLYTEKIT_IMPORT_FAILED,
            format!(
                "flytekit {found} ({}) is installed but cannot be imported{detail}: repair the \
                 installation in {} (pyflyte-execute runs flytekit {})",
                unsupported.location,
                python.display(),
                SUPPORTED_FLYTEKIT.describe()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Unsupported, UnsupportedComponent};

    fn old_flytekit() -> Unsupported {
        Unsupported {
            component: UnsupportedComponent::Flytekit,
            found: Some("1.9.2".to_owned()),
            location: "/venv/lib/flytekit".to_owned(),
            detail: None,
        }
    }

    #[test]
    fn remediation_names_the_setting_unless_the_caller_says_how_it_is_set() {
        let python = Path::new("/venv/bin/python");
        let library = missing_flytekit_message(python, &SettingNames::default());
        assert!(
            library.contains("set PythonWorkerSettings::python to a Python"),
            "{library}"
        );
        assert!(!library.contains("PYFLYTE_EXECUTE"), "{library}");
        let (_, library) = unsupported_message(python, &SettingNames::default(), &old_flytekit());
        assert!(
            !library.contains("own entrypoint"),
            "no fallback offered: {library}"
        );

        let names = SettingNames {
            python: "TOOL_PYTHON".to_owned(),
            use_flytekit: Some("TOOL_FALLBACK=1".to_owned()),
            ..SettingNames::default()
        };
        let tool = missing_flytekit_message(python, &names);
        assert!(tool.contains("set TOOL_PYTHON to a Python"), "{tool}");
        let (_, tool) = unsupported_message(python, &names, &old_flytekit());
        assert!(
            tool.ends_with(", or set TOOL_FALLBACK=1 to run flytekit's own entrypoint"),
            "{tool}"
        );
    }
}
