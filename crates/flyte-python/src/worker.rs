//! One worker process: started with its script, sockets and staging directory, talked to
//! over the control channel, and watched until it exits.
//!
//! Every way the worker can go away (exit, signal, closed socket) while the supervisor
//! waits for it is turned into a [`TaskOutcome`] here, so callers never see an I/O
//! error, only an outcome to write.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use flyte_errors::{ContainerFailure, Origin, Recoverability};
use flyte_runtime::{Stop, TaskOutcome};
use flyte_storage::Storage;
use flyte_telemetry::Metrics;
use tokio::net::UnixListener;
use tokio::process::{Child, Command};
use tracing::{debug, warn};

use crate::control::{self, Channel, Command as ControlCommand, Event};
use crate::exit;
use crate::memory::CgroupMemory;
use crate::settings::PythonWorkerSettings;
use crate::signals::{self, stop_signal_of};
use crate::stderr_tail::StderrTail;
use crate::{bridge, embedded};

/// The environment variable telling the worker where the supervisor's control socket is.
const SOCKET_ENV: &str = "PYFLYTE_EXECUTE_WORKER_SOCKET";
/// The environment variable telling the worker's fsspec bridge where to connect.
const BRIDGE_SOCKET_ENV: &str = "PYFLYTE_EXECUTE_BRIDGE_SOCKET";
/// The environment variable handing the worker the run's token, which the first line of
/// each of its connections (control and bridge) must carry; the worker removes it from
/// its environment before the task's code runs.
const TOKEN_ENV: &str = "PYFLYTE_EXECUTE_CHANNEL_TOKEN";
/// The environment variable telling the worker the supervisor's pid, so that it can
/// ask the kernel to kill it when the supervisor dies (it then never outlives it).
const SUPERVISOR_PID_ENV: &str = "PYFLYTE_EXECUTE_SUPERVISOR_PID";
/// How long a worker that has reported its result may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(30);
/// How long a worker that has reported its result, and is then passed a stop signal,
/// may take to stop: the outcome is written, so there is nothing left to wait for.
const STOPPED_EXIT_GRACE: Duration = Duration::from_secs(2);

/// The files the worker is started with, under its scratch directory.
pub(crate) struct WorkerFiles {
    /// Where flytekit writes the outcome's files.
    pub(crate) staging_dir: PathBuf,
    /// The storage bridge's fsspec module.
    pub(crate) bridge_module: PathBuf,
}

/// A running worker process.
pub(crate) struct Worker {
    child: Child,
    listener: Option<UnixListener>,
    /// The run's token, which the worker's connections present.
    token: Arc<str>,
    channel: Option<Channel>,
    stderr: StderrTail,
    /// A stop requested from outside: passed on to the worker by `forwarder`, and the
    /// start of its stop grace.
    stop: Stop,
    /// Passes stop signals and SIGUSR1 on to the worker until it is seen to exit.
    forwarder: AbortOnDrop,
    /// Serves the worker's remote storage calls until the worker is done.
    bridge: tokio::task::JoinHandle<()>,
    pub(crate) files: WorkerFiles,
    /// How long the worker may take to stop once passed a stop signal.
    stop_grace: Duration,
    /// How the stop grace is set, for the message of a worker killed after it.
    stop_grace_setting: String,
    /// Set once the supervisor SIGKILLed the worker for outliving its stop grace.
    killed_after_grace: bool,
    /// The container's memory cgroup when the worker started, to tell an OOM kill.
    memory_at_start: CgroupMemory,
    /// Where the sockets are; kept (and removed) with the worker.
    _sockets: SocketDir,
}

/// Where the worker's sockets go: the scratch directory, unless its path is too long for
/// a Unix socket address (108 bytes on Linux, easily passed by a deep `TMPDIR`); then a
/// private directory with a short name under `/tmp`.
enum SocketDir {
    Scratch(PathBuf),
    Short(tempfile::TempDir),
}

/// The longest socket directory that leaves room for `/bridge.sock` in a Unix socket
/// address (`sun_path` holds 108 bytes with its terminating NUL).
const MAX_SOCKET_DIR_LEN: usize = 107 - "/bridge.sock".len();

impl SocketDir {
    fn for_scratch(scratch: &Path) -> Result<Self, ContainerFailure> {
        if scratch.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
            return Ok(SocketDir::Scratch(scratch.to_path_buf()));
        }
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .prefix("pfe-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in("/tmp")
            .map(SocketDir::Short)
            .map_err(|e| setup_failed("creating a socket directory under", Path::new("/tmp"), e))
    }

    fn path(&self) -> &Path {
        match self {
            SocketDir::Scratch(path) => path,
            SocketDir::Short(dir) => dir.path(),
        }
    }
}

impl Worker {
    /// Writes the worker's files, opens its sockets and starts the interpreter.
    pub(crate) fn spawn(
        settings: &PythonWorkerSettings,
        storage: Storage,
        metrics: Metrics,
        stop: Stop,
    ) -> Result<Self, ContainerFailure> {
        let scratch = &settings.scratch_dir;
        let staging_dir = scratch.join("staged-outputs");
        std::fs::create_dir_all(&staging_dir)
            .map_err(|e| setup_failed("creating", &staging_dir, e))?;
        let script = scratch.join("pyflyte_execute_worker.py");
        std::fs::write(&script, embedded::WORKER_SCRIPT)
            .map_err(|e| setup_failed("writing", &script, e))?;
        let bridge_module = scratch.join("pyflyte_execute_bridge.py");
        std::fs::write(&bridge_module, embedded::BRIDGE_MODULE)
            .map_err(|e| setup_failed("writing", &bridge_module, e))?;
        let sockets = SocketDir::for_scratch(scratch)?;
        let socket = sockets.path().join("worker.sock");
        let listener = listen(&socket)?;
        let bridge_socket = sockets.path().join("bridge.sock");
        let bridge_listener = listen(&bridge_socket)?;
        let token = run_token();

        let mut child = Command::new(&settings.python)
            .arg(&script)
            .envs(settings.env.iter().map(|(name, value)| (name, value)))
            .env(SOCKET_ENV, &socket)
            .env(BRIDGE_SOCKET_ENV, &bridge_socket)
            .env(TOKEN_ENV, &*token)
            .env(SUPERVISOR_PID_ENV, std::process::id().to_string())
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
                            "starting the Python interpreter {} (set {} to a Python with flytekit installed)",
                            settings.python.display(),
                            settings.setting_names.python
                        ),
                        source,
                    },
                )
            })?;
        debug!(pid = child.id(), python = %settings.python.display(), "worker started");
        let stderr = StderrTail::forward(child.stderr.take());
        let forwarder = match child.id() {
            Some(pid) => AbortOnDrop(Some(signals::forward_to_worker(pid, stop.clone()))),
            None => AbortOnDrop(None),
        };
        Ok(Worker {
            child,
            listener: Some(listener),
            token: Arc::clone(&token),
            channel: None,
            stderr,
            stop,
            forwarder,
            bridge: bridge::serve(bridge_listener, storage, metrics, token),
            files: WorkerFiles {
                staging_dir,
                bridge_module,
            },
            stop_grace: settings.stop_grace,
            stop_grace_setting: settings.setting_names.stop_grace.clone(),
            killed_after_grace: false,
            memory_at_start: CgroupMemory::of_this_process(),
            _sockets: sockets,
        })
    }

    /// Waits for the worker to connect; the outcome of its death if it dies first.
    /// Connections that do not present the run's token are logged and dropped; each has
    /// [`control::HELLO_TIMEOUT`] to say hello, meanwhile others are accepted.
    pub(crate) async fn connect(&mut self) -> Result<(), TaskOutcome> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        let mut greetings = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = accepted.map_err(|e| {
                        TaskOutcome::Failed(ContainerFailure::system(format!(
                            "accepting the worker's connection failed: {e}"
                        )))
                    })?;
                    let token = Arc::clone(&self.token);
                    greetings.spawn(async move {
                        Channel::accept(stream, &token, control::HELLO_TIMEOUT).await
                    });
                }
                Some(greeted) = greetings.join_next() => match greeted {
                    Ok(Ok((channel, protocol))) => {
                        if protocol != control::PROTOCOL_VERSION {
                            return Err(TaskOutcome::Failed(ContainerFailure::system(format!(
                                "the worker script speaks control protocol {protocol}, this \
                                 supervisor speaks {}: the worker script and the binary come \
                                 from different builds",
                                control::PROTOCOL_VERSION
                            ))));
                        }
                        self.channel = Some(channel);
                        return Ok(());
                    }
                    Ok(Err(refused)) => warn!(
                        "dropped a connection to the worker's control socket that is not the \
                         worker's: {}",
                        flyte_errors::Chain(&refused)
                    ),
                    Err(_) => {}
                },
                status = self.wait_for_exit() => return Err(self.died(status).await),
            }
        }
    }

    /// Sends `command`; the outcome of the worker's death if it is gone.
    pub(crate) async fn send(&mut self, command: &ControlCommand) -> Result<(), TaskOutcome> {
        let channel = self.channel.as_mut().ok_or_else(not_connected)?;
        if channel.send(command).await.is_err() {
            // The worker is gone; its exit status says why.
            let status = self.wait_for_exit().await;
            return Err(self.died(status).await);
        }
        Ok(())
    }

    /// The worker's next event, or the outcome its death amounts to. A stop requested
    /// meanwhile has been passed on to the worker (by the forwarder), whose death then
    /// gets reported like any other; one that outlives its stop grace is killed.
    pub(crate) async fn next_event(&mut self) -> Result<Event, TaskOutcome> {
        enum Next {
            Event(std::io::Result<Option<Event>>),
            Exited(std::io::Result<ExitStatus>),
            Stopped,
            StopGraceOver,
        }
        loop {
            let channel = self.channel.as_mut().ok_or_else(not_connected)?;
            let deadline = kill_deadline(&self.stop, self.stop_grace);
            let not_stopped = self.stop.requested().is_none();
            let next = tokio::select! {
                biased;
                event = channel.next_event() => Next::Event(event),
                status = self.child.wait() => Next::Exited(status),
                _ = self.stop.wait(), if not_stopped => Next::Stopped,
                () = signals::until(deadline), if !self.killed_after_grace => Next::StopGraceOver,
            };
            let event = match next {
                Next::Event(event) => event,
                // The grace starts: the deadline is computed again.
                Next::Stopped => continue,
                Next::StopGraceOver => {
                    self.kill_after_grace();
                    continue;
                }
                // It exited; it may still have written a last event before it did.
                Next::Exited(status) => {
                    // Reaped: its pid may be reused, so nothing is passed on to it any more.
                    self.forwarder.abort();
                    match channel.next_event().await {
                        Ok(Some(event)) => Ok(Some(event)),
                        _ => return Err(self.died(status).await),
                    }
                }
            };
            return match event {
                Ok(Some(event)) => Ok(event),
                // The channel closed (the task may have closed every descriptor it
                // inherited) while the worker lives on: wait for it, still honouring a
                // stop and its grace.
                Ok(None) | Err(_) => {
                    let status = self.wait_for_exit().await;
                    Err(self.died(status).await)
                }
            };
        }
    }

    /// Waits for the worker to exit, SIGKILLing it once a stop's grace is over.
    async fn wait_for_exit(&mut self) -> std::io::Result<ExitStatus> {
        loop {
            let deadline = kill_deadline(&self.stop, self.stop_grace);
            let not_stopped = self.stop.requested().is_none();
            tokio::select! {
                biased;
                status = self.child.wait() => return status,
                _ = self.stop.wait(), if not_stopped => {}
                () = signals::until(deadline), if !self.killed_after_grace => self.kill_after_grace(),
            }
        }
    }

    /// SIGKILLs a worker that outlived its stop grace.
    fn kill_after_grace(&mut self) {
        warn!(
            "the worker did not stop within {:?} of being passed a stop signal; killing it",
            self.stop_grace
        );
        self.killed_after_grace = true;
        let _ = self.child.start_kill();
    }

    /// The outcome for a worker that exited without reporting a result.
    async fn died(&mut self, status: std::io::Result<ExitStatus>) -> TaskOutcome {
        // Reaped: its pid may be reused, so nothing is passed on to it any more.
        self.forwarder.abort();
        let stderr_tail = self.stderr.finish().await;
        let killed_by_sigkill = status
            .as_ref()
            .is_ok_and(|status| status.signal() == Some(9));
        let oom_report = (killed_by_sigkill && !self.killed_after_grace)
            .then(|| CgroupMemory::of_this_process().oom_kill_since(&self.memory_at_start))
            .flatten();
        exit::worker_died(exit::Death {
            status,
            stderr_tail: &stderr_tail,
            forwarded_stop: self.stop.requested().as_ref().map(stop_signal_of),
            killed_after: self.killed_after_grace.then_some(self.stop_grace),
            stop_grace_setting: &self.stop_grace_setting,
            oom_report,
        })
    }

    /// Lets the worker go: tells it to exit if it was never told to run, closes the
    /// channel, waits a grace period for it to exit, then kills it.
    pub(crate) async fn shutdown(&mut self, told_to_run: bool, reported_result: bool) {
        if let Some(channel) = self.channel.as_mut() {
            if !told_to_run {
                let _ = channel.send(&ControlCommand::Exit).await;
            }
            channel.close().await;
        }
        self.listener = None;
        // Stop signals keep being passed on meanwhile; after one, the worker gets only a
        // short while, since the outcome is already written.
        let mut deadline = tokio::time::Instant::now() + EXIT_GRACE;
        loop {
            if self.stop.requested().is_some() {
                deadline = deadline.min(tokio::time::Instant::now() + STOPPED_EXIT_GRACE);
            }
            let not_stopped = self.stop.requested().is_none();
            tokio::select! {
                status = self.child.wait() => {
                    if let Ok(status) = status
                        && !status.success()
                        && reported_result
                    {
                        warn!("the worker {} after reporting its result", exit::describe(status));
                    }
                    break;
                }
                _ = self.stop.wait(), if not_stopped => {}
                () = tokio::time::sleep_until(deadline) => {
                    warn!("the worker did not exit after the run ended; killing it");
                    let _ = self.child.kill().await;
                    break;
                }
            }
        }
        self.forwarder.abort();
        self.stderr.finish().await;
        self.bridge.abort();
    }
}

/// When a worker passed a stop must have exited: `grace` after the stop was requested;
/// `None` before any stop, or when that lies beyond what the clock can represent.
fn kill_deadline(stop: &Stop, grace: Duration) -> Option<tokio::time::Instant> {
    stop.requested()
        .and_then(|request| request.received_at.checked_add(grace))
}

/// A background task aborted when its owner is dropped (a worker dropped mid-run must
/// not leave a task passing signals to a pid that may be reused).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl AbortOnDrop {
    fn abort(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.abort();
    }
}

/// A fresh random token for one run: 244 bits from the operating system's generator
/// (two version-4 UUIDs), as hex.
fn run_token() -> Arc<str> {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    format!("{}{}", a.simple(), b.simple()).into()
}

/// Binds a Unix socket at `path`, replacing a stale one.
fn listen(path: &Path) -> Result<UnixListener, ContainerFailure> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).map_err(|e| setup_failed("listening on", path, e))
}

/// A step of starting the worker that failed, as a system failure.
fn setup_failed(what: &str, path: &Path, source: std::io::Error) -> ContainerFailure {
    ContainerFailure::from_error(
        Origin::System,
        Recoverability::Recoverable,
        flyte_errors::codes::SYSTEM,
        &SetupError {
            what: format!("{what} {}", path.display()),
            source,
        },
    )
}

fn not_connected() -> TaskOutcome {
    TaskOutcome::Failed(ContainerFailure::system(
        "the supervisor used the worker's control channel before the worker connected",
    ))
}

/// A step of starting the worker that failed.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed")]
struct SetupError {
    what: String,
    #[source]
    source: std::io::Error,
}
