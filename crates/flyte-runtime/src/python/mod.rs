//! [`PythonExecutor`]: runs a flytekit task in a supervised Python worker process.
//!
//! The supervisor (this module) starts the worker (`worker.py`, embedded in the binary)
//! the moment it is created, so Python's start-up and flytekit's import overlap the
//! download of the inputs. It outlives the worker: whatever the worker does — report a
//! result, raise, segfault, call `os._exit`, get SIGKILLed by the OOM killer — the
//! supervisor turns it into a [`TaskOutcome`]. The protocol is described in worker.py.

mod bridge;
mod protocol;
mod stderr_tail;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use flyte_errors::{ContainerFailure, Origin, Recoverability, format_trace_message};
use flyte_proto::visit::UriKind;
use flyte_storage::Storage;
use flyte_telemetry::Metrics;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};
use tracing::{debug, info, warn};

use self::protocol::{Command as WorkerCommand, PythonError, StartSettings, WorkerEvent};
use self::stderr_tail::StderrTail;
use crate::signals::{ForwardedSignals, signal_name};
use crate::{Executor, TaskInputs, TaskOutcome};

/// The worker script, shipped inside the binary so nothing is installed beside it.
const WORKER_SCRIPT: &str = include_str!("worker.py");
/// The worker's fsspec filesystems for remote protocols, served by [`bridge`].
const BRIDGE_MODULE: &str = include_str!("fsspec_bridge.py");
/// The environment variable telling the worker where the supervisor's socket is.
const SOCKET_ENV: &str = "PYFLYTE_EXECUTE_WORKER_SOCKET";
/// The environment variable telling the worker's fsspec bridge where to connect.
const BRIDGE_SOCKET_ENV: &str = "PYFLYTE_EXECUTE_BRIDGE_SOCKET";
/// How long a worker that has reported its result may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(30);
/// The error code of a worker that died without reporting a result.
const WORKER_DIED_CODE: &str = "USER:WorkerDied";
/// The error code of a worker that died after the supervisor passed it a stop signal.
const WORKER_STOPPED_CODE: &str = "SYSTEM:WorkerDied";

/// Everything the worker needs to run a task, as flytekit's pyflyte-execute takes it.
#[derive(Debug, Clone)]
pub struct PythonWorkerSettings {
    /// The Python interpreter to run (one with flytekit installed).
    pub python: PathBuf,
    /// The task resolver, e.g. `flytekit.core.python_auto_container.default_task_resolver`.
    pub resolver: String,
    /// The resolver's arguments, e.g. `["task-module", "app", "task-name", "t1"]`.
    pub resolver_args: Vec<String>,
    /// The output prefix (flytekit also uses it as the output metadata prefix, e.g. decks).
    pub output_prefix: String,
    /// Where offloaded data (files, directories, dataframes) goes; `None` lets flytekit
    /// fall back to its configured default.
    pub raw_output_data_prefix: Option<String>,
    /// Where the task's checkpoint is written.
    pub checkpoint_path: Option<String>,
    /// Where the previous attempt's checkpoint is read from.
    pub prev_checkpoint: Option<String>,
    /// The fast-registration code archive, for dynamic tasks run in fast mode.
    pub dynamic_addl_distro: Option<String>,
    /// Where fast-registration code is unpacked, for dynamic tasks run in fast mode.
    pub dynamic_dest_dir: Option<String>,
    /// flytekit's `--test`: load the resolver, run nothing.
    pub test: bool,
    /// A local directory for the worker script, its socket and its staged outputs.
    pub scratch_dir: PathBuf,
    /// Set for `pyflyte-map-execute`: the task is one element of a map task.
    pub map_task: Option<MapTaskSettings>,
    /// Variables added to the worker's environment (which is otherwise this process's),
    /// e.g. so flytekit inside it logs at our level and format.
    pub env: Vec<(String, String)>,
}

/// How `pyflyte-map-execute` differs from `pyflyte-execute`: the resolver is a class whose
/// `load_task` also takes the map's concurrency, and the worker runs the element whose
/// index flytekit computes from `BATCH_JOB_ARRAY_INDEX_VAR_NAME` and
/// `BATCH_JOB_ARRAY_INDEX_OFFSET` in the worker's environment.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MapTaskSettings {
    /// `--max-concurrency`, passed to the map task resolver.
    pub max_concurrency: Option<i64>,
}

/// An [`Executor`] that runs a flytekit task in a supervised Python worker.
pub struct PythonExecutor {
    state: State,
}

enum State {
    /// The worker process could not be started: the run ends with this outcome.
    NotStarted(Option<TaskOutcome>),
    Running(Box<Worker>),
}

struct Worker {
    child: Child,
    listener: Option<UnixListener>,
    connection: Option<Connection>,
    stderr: StderrTail,
    signals: ForwardedSignals,
    settings: PythonWorkerSettings,
    staging_dir: PathBuf,
    /// Serves the worker's remote storage calls until the worker is done.
    bridge: tokio::task::JoinHandle<()>,
    /// Where flytekit writes the outcome, once the worker has said.
    output_prefix: Option<String>,
    told_to_run: bool,
    reported_result: bool,
}

struct Connection {
    events: Lines<BufReader<OwnedReadHalf>>,
    commands: OwnedWriteHalf,
}

impl PythonExecutor {
    /// Starts the worker now. Must be called inside a tokio runtime.
    ///
    /// The worker's remote storage calls (s3, gs, abfs through fsspec) are served with
    /// `storage`, and their bytes counted in `metrics`.
    ///
    /// Never fails: a worker that cannot be started (no such interpreter, unwritable
    /// scratch directory) makes [`Executor::prepare`] return that failure, so it ends
    /// up in the error document like any other.
    pub fn spawn(settings: PythonWorkerSettings, storage: Storage, metrics: Metrics) -> Self {
        match Worker::spawn(settings, storage, metrics) {
            Ok(worker) => PythonExecutor {
                state: State::Running(Box::new(worker)),
            },
            Err(failure) => PythonExecutor {
                state: State::NotStarted(Some(TaskOutcome::Failed(failure))),
            },
        }
    }
}

impl Executor for PythonExecutor {
    async fn prepare(&mut self) -> Result<(), TaskOutcome> {
        match &mut self.state {
            State::NotStarted(outcome) => Err(outcome.take().unwrap_or(TaskOutcome::IgnoreOutputs)),
            State::Running(worker) => worker.prepare().await,
        }
    }

    async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
        match &mut self.state {
            State::NotStarted(outcome) => outcome.take().unwrap_or(TaskOutcome::IgnoreOutputs),
            State::Running(worker) => worker
                .run(&inputs.local_path)
                .await
                .unwrap_or_else(|outcome| outcome),
        }
    }

    async fn shutdown(&mut self) {
        if let State::Running(worker) = &mut self.state {
            worker.shutdown().await;
        }
    }

    fn output_prefix(&self) -> Option<&str> {
        match &self.state {
            State::Running(worker) => worker.output_prefix.as_deref(),
            State::NotStarted(_) => None,
        }
    }
}

impl Worker {
    fn spawn(
        settings: PythonWorkerSettings,
        storage: Storage,
        metrics: Metrics,
    ) -> Result<Self, ContainerFailure> {
        let scratch = &settings.scratch_dir;
        let setup_failure = |what: &str, path: &Path, error: std::io::Error| {
            ContainerFailure::from_error(
                Origin::System,
                Recoverability::Recoverable,
                flyte_errors::codes::SYSTEM,
                &SetupError {
                    what: format!("{what} {}", path.display()),
                    source: error,
                },
            )
        };
        let staging_dir = scratch.join("staged-outputs");
        std::fs::create_dir_all(&staging_dir)
            .map_err(|e| setup_failure("creating", &staging_dir, e))?;
        let script = scratch.join("pyflyte_execute_worker.py");
        std::fs::write(&script, WORKER_SCRIPT).map_err(|e| setup_failure("writing", &script, e))?;
        let socket = scratch.join("worker.sock");
        let _ = std::fs::remove_file(&socket);
        let listener =
            UnixListener::bind(&socket).map_err(|e| setup_failure("listening on", &socket, e))?;
        let bridge_module = scratch.join("pyflyte_execute_bridge.py");
        std::fs::write(&bridge_module, BRIDGE_MODULE)
            .map_err(|e| setup_failure("writing", &bridge_module, e))?;
        let bridge_socket = scratch.join("bridge.sock");
        let _ = std::fs::remove_file(&bridge_socket);
        let bridge_listener = UnixListener::bind(&bridge_socket)
            .map_err(|e| setup_failure("listening on", &bridge_socket, e))?;

        let mut child = Command::new(&settings.python)
            .arg(&script)
            .envs(settings.env.iter().map(|(name, value)| (name, value)))
            .env(SOCKET_ENV, &socket)
            .env(BRIDGE_SOCKET_ENV, &bridge_socket)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| {
                ContainerFailure::from_error(
                    Origin::System,
                    Recoverability::NonRecoverable,
                    flyte_errors::codes::SYSTEM,
                    &SetupError {
                        what: format!(
                            "starting the Python interpreter {} (set PYFLYTE_EXECUTE_PYTHON to a Python with flytekit installed)",
                            settings.python.display()
                        ),
                        source,
                    },
                )
            })?;
        debug!(pid = child.id(), python = %settings.python.display(), "worker started");
        let stderr = StderrTail::forward(child.stderr.take());
        let bridge = bridge::serve(bridge_listener, storage, metrics);
        Ok(Worker {
            child,
            listener: Some(listener),
            connection: None,
            stderr,
            signals: ForwardedSignals::install(),
            settings,
            staging_dir,
            bridge,
            output_prefix: None,
            told_to_run: false,
            reported_result: false,
        })
    }

    async fn prepare(&mut self) -> Result<(), TaskOutcome> {
        self.connect().await.map_err(TaskOutcome::Failed)?;
        let start = StartSettings::new(&self.settings, &self.staging_dir);
        self.send(&WorkerCommand::Start(Box::new(start)))
            .await
            .map_err(TaskOutcome::Failed)?;
        match self.next_event().await.map_err(TaskOutcome::Failed)? {
            WorkerEvent::TestPassed => Ok(()),
            WorkerEvent::Loaded { ok, output_prefix } => {
                self.output_prefix = Some(output_prefix);
                if ok {
                    Ok(())
                } else {
                    // flytekit reports a task that fails to load from inside its dispatch,
                    // before it looks at the inputs: let it, so the document is flytekit's.
                    Err(self
                        .run(Path::new(""))
                        .await
                        .unwrap_or_else(|outcome| outcome))
                }
            }
            // flytekit crashes with a traceback here; log ours as visibly.
            WorkerEvent::ResolverFailed(error) => {
                tracing::error!(
                    "the task resolver {} could not be loaded:\n{}",
                    self.settings.resolver,
                    error.trace
                );
                Err(TaskOutcome::Unrunnable(ContainerFailure::user(
                    flyte_errors::codes::USER_RUNTIME_ERROR,
                    error.to_message(),
                )))
            }
            WorkerEvent::Fatal(error) => {
                tracing::error!(
                    "the worker failed before it could run the task:\n{}",
                    error.trace
                );
                Err(TaskOutcome::Unrunnable(ContainerFailure::system(
                    error.to_message(),
                )))
            }
            other => Err(TaskOutcome::Failed(protocol_failure(&other))),
        }
    }

    async fn run(&mut self, inputs: &Path) -> Result<TaskOutcome, TaskOutcome> {
        self.told_to_run = true;
        let command = WorkerCommand::Run {
            inputs: inputs.display().to_string(),
        };
        self.send(&command).await.map_err(TaskOutcome::Failed)?;
        match self.next_event().await.map_err(TaskOutcome::Failed)? {
            WorkerEvent::Finished {
                files,
                peak_rss_kib,
            } => {
                self.reported_result = true;
                info!(
                    worker_peak_rss_kib = peak_rss_kib,
                    supervisor_peak_rss_kib = own_peak_rss_kib(),
                    "task finished in the worker"
                );
                Ok(self.collect_outcome(&files))
            }
            WorkerEvent::Fatal(error) => Err(TaskOutcome::Failed(ContainerFailure::system(
                error.to_message(),
            ))),
            other => Err(TaskOutcome::Failed(protocol_failure(&other))),
        }
    }

    async fn connect(&mut self) -> Result<(), ContainerFailure> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted.map_err(|e| ContainerFailure::system(format!("accepting the worker's connection failed: {e}")))?;
                let (read, write) = UnixStream::into_split(stream);
                self.connection = Some(Connection { events: BufReader::new(read).lines(), commands: write });
                Ok(())
            }
            status = self.child.wait() => Err(self.died(status).await),
        }
    }

    async fn send(&mut self, command: &WorkerCommand) -> Result<(), ContainerFailure> {
        let mut line = serde_json::to_vec(command).expect("worker commands always serialize");
        line.push(b'\n');
        let connection = self.connection.as_mut().expect("connected before sending");
        if connection.commands.write_all(&line).await.is_err() {
            // The worker is gone; its exit status says why.
            let status = self.child.wait().await;
            return Err(self.died(status).await);
        }
        Ok(())
    }

    /// The worker's next event, or the failure its death amounts to. SIGTERM and SIGINT
    /// sent to the supervisor meanwhile are passed on to the worker, whose death then
    /// gets reported like any other.
    async fn next_event(&mut self) -> Result<WorkerEvent, ContainerFailure> {
        enum Next {
            Line(std::io::Result<Option<String>>),
            Exited(std::io::Result<ExitStatus>),
            Signal(i32),
        }
        loop {
            let connection = self.connection.as_mut().expect("connected before reading");
            let next = tokio::select! {
                biased;
                line = connection.events.next_line() => Next::Line(line),
                status = self.child.wait() => Next::Exited(status),
                signal = self.signals.recv() => Next::Signal(signal),
            };
            let line = match next {
                Next::Line(line) => line,
                Next::Signal(signal) => {
                    self.signals.forward(signal, self.child.id());
                    continue;
                }
                // It exited; it may still have written a last event before it did.
                Next::Exited(status) => match connection.events.next_line().await {
                    Ok(Some(line)) => Ok(Some(line)),
                    _ => return Err(self.died(status).await),
                },
            };
            return match line {
                Ok(Some(line)) => serde_json::from_str(&line).map_err(|error| {
                    ContainerFailure::system(format!(
                        "the worker sent a message the supervisor does not understand ({error}): {line}"
                    ))
                }),
                Ok(None) | Err(_) => {
                    let status = self.child.wait().await;
                    Err(self.died(status).await)
                }
            };
        }
    }

    /// The failure for a worker that exited without reporting a result.
    async fn died(&mut self, status: std::io::Result<ExitStatus>) -> ContainerFailure {
        let tail = self.stderr.finish().await;
        let what = match status {
            Ok(status) => describe_exit(status),
            Err(error) => format!("could not be waited for ({error})"),
        };
        let mut message =
            format!("the Python worker running the task {what} before it reported a result");
        if let Some(signal) = self.signals.forwarded() {
            message.push_str(&format!(
                "; the supervisor had received {} and passed it on (the pod is being stopped)",
                signal_name(signal)
            ));
        }
        tracing::error!("{message}");
        let trace = if tail.trim().is_empty() {
            "(the worker wrote nothing to stderr)\n".to_owned()
        } else {
            format!("Last lines the worker wrote to stderr:\n{tail}")
        };
        let message = format_trace_message(&trace, "WorkerDied", &message);
        // Being stopped from outside is the platform's doing, not the task's.
        let (origin, code) = match self.signals.forwarded() {
            Some(_) => (Origin::System, WORKER_STOPPED_CODE),
            None => (Origin::User, WORKER_DIED_CODE),
        };
        ContainerFailure {
            origin,
            ..ContainerFailure::user(code, message)
        }
        .with_recoverability(Recoverability::Recoverable)
    }

    /// Reads what flytekit left in the staging directory.
    fn collect_outcome(&self, files: &[String]) -> TaskOutcome {
        let output_prefix = self
            .output_prefix
            .as_deref()
            .unwrap_or(&self.settings.output_prefix);
        match staged_outcome(&self.staging_dir, output_prefix, files) {
            Ok(outcome) => outcome,
            Err(error) => TaskOutcome::Failed(ContainerFailure::from_error(
                Origin::System,
                Recoverability::Recoverable,
                flyte_errors::codes::SYSTEM,
                &error,
            )),
        }
    }

    async fn shutdown(&mut self) {
        if let Some(connection) = self.connection.as_mut() {
            if !self.told_to_run {
                let _ = connection
                    .commands
                    .write_all(b"{\"command\": \"exit\"}\n")
                    .await;
            }
            let _ = connection.commands.shutdown().await;
        }
        self.listener = None;
        match tokio::time::timeout(EXIT_GRACE, self.child.wait()).await {
            Ok(Ok(status)) if !status.success() && self.reported_result => {
                warn!(
                    "the worker {} after reporting its result",
                    describe_exit(status)
                );
            }
            Ok(_) => {}
            Err(_) => {
                warn!(
                    "the worker did not exit {EXIT_GRACE:?} after reporting its result; killing it"
                );
                let _ = self.child.kill().await;
            }
        }
        self.stderr.finish().await;
        self.bridge.abort();
    }
}

/// Turns flytekit's staged files into an outcome.
///
/// flytekit names offloaded literals by the output prefix it was given, which for the
/// worker is the staging directory: those URIs are pointed back at `output_prefix`,
/// where the pipeline writes the files, joined as flytekit joins them.
fn staged_outcome(
    staging_dir: &Path,
    output_prefix: &str,
    files: &[String],
) -> Result<TaskOutcome, flyte_proto::ProtoError> {
    if let Some(error_file) = files
        .iter()
        .find(|f| f.starts_with("error") && f.ends_with(".pb"))
    {
        let document = flyte_proto::io::read_error_document(staging_dir.join(error_file))?;
        return Ok(TaskOutcome::Failed(ContainerFailure::from_error_document(
            &document,
        )));
    }
    if files.iter().any(|f| f == "futures.pb") {
        return Ok(TaskOutcome::DynamicJob(
            flyte_proto::io::read_dynamic_job_spec(staging_dir.join("futures.pb"))?,
        ));
    }
    if files.iter().any(|f| f == "outputs.pb") {
        let mut outputs = flyte_proto::io::read_literal_map(staging_dir.join("outputs.pb"))?;
        let staged_prefix = format!("{}/", staging_dir.display());
        flyte_proto::visit::rewrite_uris(&mut outputs, |kind, uri| match kind {
            UriKind::OffloadedLiteral => uri
                .strip_prefix(&staged_prefix)
                .map(|name| format!("{output_prefix}/{name}")),
            _ => None,
        });
        let mut offloaded = std::collections::BTreeMap::new();
        for name in files
            .iter()
            .filter(|f| f.ends_with("_offloaded_metadata.pb"))
        {
            let literal = flyte_proto::io::read_message(staging_dir.join(name))?;
            offloaded.insert(name.clone(), literal);
        }
        return Ok(TaskOutcome::Outputs { outputs, offloaded });
    }
    Ok(TaskOutcome::IgnoreOutputs)
}

fn protocol_failure(event: &WorkerEvent) -> ContainerFailure {
    ContainerFailure::system(format!("the worker sent an event out of order: {event:?}"))
}

/// This process's peak resident memory in KiB (Linux's VmHWM), when it can be read.
fn own_peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// "exited with status 1", "was killed by signal 9 (SIGKILL) ...".
fn describe_exit(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = signal_name(signal);
        let hint = match signal {
            9 => {
                "; SIGKILL usually means the container ran out of memory and the kernel's OOM killer stopped the worker"
            }
            11 => "; SIGSEGV means native code in the task or a library it uses crashed",
            _ => "",
        };
        format!("was killed by signal {signal} ({name}){hint}")
    } else {
        match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "ended for an unknown reason".to_owned(),
        }
    }
}

/// A step of starting the worker that failed.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed")]
struct SetupError {
    what: String,
    #[source]
    source: std::io::Error,
}

impl PythonError {
    /// flytekit's "Trace: … Message: …" layout for an exception the worker caught.
    fn to_message(&self) -> String {
        format_trace_message(&self.trace, &self.error_type, &self.error_message)
    }
}
