//! Whether the worker's interpreter has flytekit, asked of the interpreter itself.
//!
//! The worker imports flytekit only after the supervisor tells it to start; an
//! interpreter without flytekit would fail there with a Python traceback from our own
//! worker script. So every run asks the interpreter first, in a short process started
//! beside the worker (an interpreter start, about 25 ms of CPU, no wall time while a
//! second core is free), and
//! [`RequireFlytekit`] turns a definite "not installed" into one line naming the package
//! and the interpreter, written to `error.pb` like any failure to set up a task. The
//! `--version` report (`version.rs`) shows the same facts.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use flyte_errors::ContainerFailure;
use flyte_runtime::{Executor, TaskInputs, TaskOutcome};
use tokio::process::Command;
use tokio::task::JoinHandle;

/// Prints, as one JSON object, the interpreter, its version and where flytekit would be
/// imported from, without importing flytekit; with the argument `version`, flytekit's
/// version too (importlib.metadata alone costs about 100 ms of CPU, so a run does not
/// ask for it). `-c` puts the working directory first on `sys.path`, where the worker
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
    if sys.argv[1:] == ["version"]:
        try:
            from importlib.metadata import version
            flytekit_version = version("flytekit")
        except Exception:
            pass
    places = list(spec.submodule_search_locations or [])
    flytekit = {"version": flytekit_version, "location": places[0] if places else spec.origin}
print(json.dumps({"python": sys.executable, "python_version": sys.version.split()[0], "flytekit": flytekit}))
"#;

/// What an interpreter told about itself.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlytekitFound {
    /// Its distribution's version; `None` when it has no package metadata (e.g. a
    /// source checkout on `PYTHONPATH`).
    pub version: Option<String>,
    /// The package's directory.
    pub location: String,
}

/// Why an interpreter could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// It could not be started at all.
    #[error("cannot be started: {source}")]
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

/// What to ask of the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Only whether (and where) flytekit is: what a run needs.
    WhereIsFlytekit,
    /// Also flytekit's version: what `--version` reports.
    WithFlytekitVersion,
}

/// Asks `python` about itself and flytekit.
pub async fn probe(python: &Path, question: Question) -> Result<InterpreterFacts, ProbeError> {
    let output = Command::new(python)
        .args(["-c", PROBE])
        .args((question == Question::WithFlytekitVersion).then_some("version"))
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
/// and what to do.
pub fn missing_flytekit_message(python: &Path) -> String {
    format!(
        "flytekit is not installed for {} (the Python the task would run in): install \
         flytekit into that environment, or set PYFLYTE_EXECUTE_PYTHON to a Python that has it",
        python.display()
    )
}

/// An executor that runs the task with `worker` only once the interpreter is known to
/// have flytekit (or could not be asked: then the worker reports what is wrong itself).
pub struct RequireFlytekit<E> {
    python: PathBuf,
    probe: Option<JoinHandle<Result<InterpreterFacts, ProbeError>>>,
    /// `None` once dropped for a missing flytekit (which kills the waiting worker).
    worker: Option<E>,
}

impl<E: Executor> RequireFlytekit<E> {
    /// Asks `python` about flytekit now, beside `worker`, which `python` is starting.
    /// Must be called inside a tokio runtime.
    pub fn new(python: &Path, worker: E) -> Self {
        let probed = python.to_path_buf();
        RequireFlytekit {
            python: python.to_path_buf(),
            probe: Some(tokio::spawn(async move {
                probe(&probed, Question::WhereIsFlytekit).await
            })),
            worker: Some(worker),
        }
    }
}

impl<E> RequireFlytekit<E> {
    /// Whether the interpreter said it has no flytekit (not merely failed to answer).
    async fn flytekit_is_missing(&mut self) -> bool {
        match self.probe.take() {
            Some(probe) => matches!(probe.await, Ok(Ok(facts)) if facts.flytekit.is_none()),
            None => self.worker.is_none(),
        }
    }

    fn missing_flytekit(&self) -> TaskOutcome {
        TaskOutcome::Unrunnable(ContainerFailure::non_recoverable_system(
            missing_flytekit_message(&self.python),
        ))
    }
}

impl<E: Executor + Send> Executor for RequireFlytekit<E> {
    async fn prepare(&mut self) -> Result<(), TaskOutcome> {
        if self.flytekit_is_missing().await {
            // The worker is waiting for its start command, before importing anything of
            // flytekit: dropping it kills it before it can print a traceback.
            self.worker = None;
            tracing::error!("{}", missing_flytekit_message(&self.python));
            return Err(self.missing_flytekit());
        }
        match self.worker.as_mut() {
            Some(worker) => worker.prepare().await,
            None => Err(self.missing_flytekit()),
        }
    }

    async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
        match self.worker.as_mut() {
            Some(worker) => worker.execute(inputs).await,
            None => self.missing_flytekit(),
        }
    }

    async fn shutdown(&mut self) {
        if let Some(worker) = self.worker.as_mut() {
            worker.shutdown().await;
        }
    }

    fn output_prefix(&self) -> Option<&str> {
        self.worker.as_ref().and_then(Executor::output_prefix)
    }
}
