//! `pyflyte-execute --version`: which entrypoint is active, and what it will run with.
//!
//! flytekit's own `pyflyte-execute` has no `--version` (click refuses it, exit 2), so a
//! report at all says ours is the one on `PATH`. It names this binary and its version,
//! the Python the worker will run in (and why that one), and the flytekit that Python
//! imports, and whether both are in the range tasks run with
//! (`flyte_python::compat`); the exit status is 1 when that Python cannot be started,
//! has no flytekit, or either is outside the range, so `RUN pyflyte-execute --version`
//! fails an image build that could not run tasks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flyte_python::compat::{SUPPORTED_FLYTEKIT, SUPPORTED_PYTHON};
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
            let flytekit_ok = match &facts.flytekit {
                Some(flytekit) => {
                    let version = flytekit.version.as_deref().unwrap_or("(version unknown)");
                    // A version without package metadata is not refused here: the worker
                    // checks flytekit's entrypoint functions themselves.
                    let supported = flytekit
                        .version
                        .as_deref()
                        .and_then(|version| SUPPORTED_FLYTEKIT.contains(version))
                        .unwrap_or(true);
                    let verdict = if supported {
                        format!("in the supported range, {}", SUPPORTED_FLYTEKIT.describe())
                    } else {
                        format!(
                            "NOT in the supported range, {}: tasks fail with \
                             SYSTEM:UnsupportedFlytekit, and the wheel's hook leaves \
                             flytekit's own entrypoints running",
                            SUPPORTED_FLYTEKIT.describe()
                        )
                    };
                    let _ = writeln!(
                        text,
                        "flytekit {version}: {} ({verdict})",
                        flytekit.location
                    );
                    supported
                }
                None => {
                    let _ = writeln!(
                        text,
                        "{}",
                        interpreter::missing_flytekit_message(
                            python,
                            &crate::environment::worker_setting_names(),
                        )
                    );
                    false
                }
            };
            let _ = writeln!(
                text,
                "python {}: {} ({python_source})",
                facts.version,
                python.display()
            );
            let python_ok = SUPPORTED_PYTHON.contains(&facts.version).unwrap_or(false);
            if !python_ok {
                let _ = writeln!(
                    text,
                    "python {} is NOT in the supported range, {}: tasks fail with \
                     SYSTEM:UnsupportedPython",
                    facts.version,
                    SUPPORTED_PYTHON.describe()
                );
            }
            flytekit_ok && python_ok
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
                 flytekit 1.16.31: /venv/lib/python3.11/site-packages/flytekit (in the \
                 supported range, 1.10.0 up to (not including) 2.0.0)\n\
                 python 3.11.7: /venv/bin/python (PYFLYTE_EXECUTE_PYTHON)\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn report_on_a_flytekit_outside_the_range_says_so_and_fails() {
        for version in ["1.9.2", "2.0.0"] {
            let found = FlytekitFound {
                version: Some(version.into()),
                location: "/venv/flytekit".into(),
            };
            let (text, ok) = render(
                "/x",
                Path::new("/venv/bin/python"),
                "p",
                &facts(Some(found)),
            );
            assert!(!ok, "{text}");
            assert!(
                text.contains(&format!(
                    "flytekit {version}: /venv/flytekit (NOT in the supported range, 1.10.0 up to"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn report_on_a_python_outside_the_range_says_so_and_fails() {
        let found = FlytekitFound {
            version: Some("1.12.3".into()),
            location: "/venv/flytekit".into(),
        };
        let mut facts = facts(Some(found));
        if let Ok(facts) = &mut facts {
            facts.version = "3.8.18".into();
        }
        let (text, ok) = render("/x", Path::new("/venv/bin/python"), "p", &facts);
        assert!(!ok, "{text}");
        assert!(
            text.contains(
                "python 3.8.18 is NOT in the supported range, 3.9 up to (not including) 3.13"
            ),
            "{text}"
        );
    }

    /// The wheel's start-up hook decides before the binary runs, from constants of its
    /// own: they must be this build's range.
    #[test]
    fn the_wheels_hook_has_the_binarys_supported_flytekit_range() {
        let hook = include_str!("../wheel/pyflyte_execute_rs/__init__.py");
        let tuple = |numbers: &[u32]| {
            format!(
                "({})",
                numbers
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        for (name, numbers) in [
            ("SUPPORTED_FLYTEKIT_MIN", SUPPORTED_FLYTEKIT.min),
            ("SUPPORTED_FLYTEKIT_BELOW", SUPPORTED_FLYTEKIT.below),
        ] {
            let line = format!("{name} = {}", tuple(numbers));
            assert!(hook.lines().any(|l| l == line), "the hook lacks `{line}`");
        }
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
