//! `pyflyte-execute --version`: which entrypoint is active, and what it will run with.
//!
//! flytekit's own `pyflyte-execute` has no `--version` (click refuses it, exit 2), so a
//! report at all says ours is the one on `PATH`. It names this binary and its version,
//! the Python the worker will run in (and why that one), and the flytekit that Python
//! imports; the exit status is 1 when that Python cannot be started or has no flytekit,
//! so `RUN pyflyte-execute --version` fails an image build that could not run tasks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flyte_python::interpreter::{self, InterpreterFacts, ProbeError};

/// Prints the report for the worker's interpreter `python` (chosen by `python_source`)
/// to stdout; returns the exit status.
pub fn main((python, python_source): (PathBuf, &str)) -> ExitCode {
    let binary = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|error| format!("<unknown path: {error}>"));
    let facts = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(interpreter::probe(&python)),
        Err(source) => Err(ProbeError::Start { source }),
    };
    let (text, ok) = render(&binary, &python, python_source, &facts);
    print!("{text}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The report's lines, and whether tasks could run.
fn render(
    binary: &str,
    python: &Path,
    python_source: &str,
    facts: &Result<InterpreterFacts, ProbeError>,
) -> (String, bool) {
    let mut text = format!(
        "pyflyte-execute (Rust) {}: {binary}\n",
        env!("CARGO_PKG_VERSION")
    );
    let ok = match facts {
        Ok(facts) => {
            match &facts.flytekit {
                Some(flytekit) => {
                    let version = flytekit.version.as_deref().unwrap_or("(version unknown)");
                    let _ = writeln!(text, "flytekit {version}: {}", flytekit.location);
                }
                None => {
                    let _ = writeln!(text, "{}", interpreter::missing_flytekit_message(python));
                }
            }
            let _ = writeln!(
                text,
                "python {}: {} ({python_source})",
                facts.version,
                python.display()
            );
            facts.flytekit.is_some()
        }
        Err(error) => {
            let _ = writeln!(
                text,
                "flytekit: unknown, the Python below could not be asked"
            );
            let _ = writeln!(
                text,
                "python: {} ({python_source}) {}",
                python.display(),
                flyte_errors::Chain(error)
            );
            false
        }
    };
    (text, ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyte_python::interpreter::FlytekitFound;

    fn facts(flytekit: Option<FlytekitFound>) -> Result<InterpreterFacts, ProbeError> {
        Ok(InterpreterFacts {
            executable: "/venv/bin/python".into(),
            version: "3.11.7".into(),
            flytekit,
        })
    }

    #[test]
    fn report_names_our_version_flytekits_and_the_interpreter() {
        let found = FlytekitFound {
            version: Some("1.16.31".into()),
            location: "/venv/lib/python3.11/site-packages/flytekit".into(),
        };
        let (text, ok) = render(
            "/venv/bin/pyflyte-execute",
            Path::new("/venv/bin/python"),
            "PYFLYTE_EXECUTE_PYTHON",
            &facts(Some(found)),
        );
        assert!(ok);
        assert_eq!(
            text,
            format!(
                "pyflyte-execute (Rust) {}: /venv/bin/pyflyte-execute\n\
                 flytekit 1.16.31: /venv/lib/python3.11/site-packages/flytekit\n\
                 python 3.11.7: /venv/bin/python (PYFLYTE_EXECUTE_PYTHON)\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn report_without_flytekit_says_where_it_looked_and_fails() {
        let (text, ok) = render(
            "/x/pyflyte-execute",
            Path::new("/venv/bin/python"),
            "python3 on PATH",
            &facts(None),
        );
        assert!(!ok);
        assert!(
            text.contains("flytekit is not installed for /venv/bin/python (the Python the task"),
            "{text}"
        );
    }

    #[test]
    fn report_for_an_interpreter_that_cannot_start_fails_naming_it() {
        let error = ProbeError::Start {
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let (text, ok) = render(
            "/x/pyflyte-execute",
            Path::new("/no/python"),
            "PYFLYTE_EXECUTE_PYTHON",
            &Err(error),
        );
        assert!(!ok);
        assert!(
            text.contains("python: /no/python (PYFLYTE_EXECUTE_PYTHON) cannot be started"),
            "{text}"
        );
    }
}
