//! [`PythonExecutor`]: the [`Executor`] that runs a flytekit task in a supervised worker.

use flyte_errors::{ContainerFailure, Origin, Recoverability};
use flyte_runtime::{
    Executor, Prepared, Stop, TaskContext, TaskInputs, TaskLocations, TaskOutcome,
};
use flyte_storage::Storage;
use flyte_telemetry::Metrics;
use tracing::info;

use crate::control::{Command, Event, PROTOCOL_VERSION, StartSettings};
use crate::exit::own_peak_rss_kib;
use crate::settings::PythonWorkerSettings;
use crate::signals::catch_stop_signals;
use crate::staged::staged_outcome;
use crate::worker::Worker;

/// An [`Executor`] that runs a flytekit task in a supervised Python worker.
///
/// The worker starts the moment this is created ([`PythonExecutor::spawn`]), so Python's
/// start-up and flytekit's import overlap the download of the inputs. The supervisor
/// outlives it: whatever the worker does (report a result, raise, segfault, call
/// `os._exit`, get SIGKILLed by the OOM killer) becomes a [`TaskOutcome`].
///
/// The crate's example runs one with [`run_task`](flyte_runtime::run_task); this one
/// shows the signals wired by hand, as a binary that also stops other work would.
///
/// ```no_run
/// use flyte_python::{PythonExecutor, PythonWorkerSettings, catch_stop_signals};
/// use flyte_runtime::{RunSettings, TaskLocations, run_task};
/// use flyte_storage::{Storage, StorageConfig};
/// use flyte_telemetry::Metrics;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let worker_settings = PythonWorkerSettings::new(
///     "/opt/venv/bin/python",
///     "flytekit.core.python_auto_container.default_task_resolver",
///     ["task-module", "app.workflows", "task-name", "train"].map(String::from),
///     "/tmp/run/worker",
/// );
/// let stop = catch_stop_signals(worker_settings.stop_grace);
/// let storage = Storage::new(StorageConfig::default());
/// let worker = PythonExecutor::spawn_with_stop(worker_settings, storage.clone(), Metrics::disabled(), stop.clone());
/// let mut settings = RunSettings::new(
///     TaskLocations::new("gs://bucket/run/inputs.pb", "gs://bucket/run/0"),
///     "/tmp/run/pipeline",
/// );
/// settings.stop = stop;
/// let report = run_task(worker, &storage, &settings, &Metrics::disabled()).await?;
/// std::process::exit(report.exit_code);
/// # }
/// ```
pub struct PythonExecutor {
    settings: PythonWorkerSettings,
    state: State,
}

enum State {
    /// The worker process could not be started: the run ends with this failure.
    NotStarted(ContainerFailure),
    Running(Box<Run>),
}

/// A started worker and how far the run has got with it.
struct Run {
    worker: Worker,
    /// The interpreter it runs in, as configured.
    python: std::path::PathBuf,
    /// How the interpreter is chosen, for messages saying to choose another.
    setting_names: crate::SettingNames,
    told_to_run: bool,
    reported_result: bool,
}

impl PythonExecutor {
    /// Starts the worker now. Must be called inside a tokio runtime.
    ///
    /// The worker's remote storage calls (s3, gs, abfs through fsspec) are served with
    /// `storage`, and their bytes counted in `metrics`.
    ///
    /// Never fails: a worker that cannot be started (no such interpreter, unwritable
    /// scratch directory) makes [`Executor::prepare`] end the run with that failure, so
    /// it ends up in the error document like any other.
    ///
    /// SIGTERM, SIGINT and SIGUSR1 sent to this process from now on are passed on to the
    /// worker ([`catch_stop_signals`] with the settings' stop grace); to stop the pipeline
    /// as well, catch them yourself and use [`PythonExecutor::spawn_with_stop`].
    ///
    /// ```no_run
    /// # async fn demo(settings: flyte_python::PythonWorkerSettings, storage: flyte_storage::Storage) {
    /// // The worker is importing flytekit while the caller goes on to download the inputs.
    /// let worker = flyte_python::PythonExecutor::spawn(settings, storage, flyte_telemetry::Metrics::disabled());
    /// # let _ = worker;
    /// # }
    /// ```
    pub fn spawn(settings: PythonWorkerSettings, storage: Storage, metrics: Metrics) -> Self {
        let stop = catch_stop_signals(settings.stop_grace);
        Self::spawn_with_stop(settings, storage, metrics, stop)
    }

    /// Starts the worker now, passing a stop requested on `stop` on to it at whatever
    /// phase it comes (before it connects, while it loads the task, while it runs it,
    /// after it closed its control channel, while it exits) and SIGKILLing it when it
    /// outlives [`PythonWorkerSettings::stop_grace`] from the request. Give the
    /// pipeline the same `stop` ([`flyte_runtime::RunSettings::stop`]). Must be called
    /// inside a tokio runtime; never fails, as [`PythonExecutor::spawn`].
    ///
    /// ```no_run
    /// # async fn demo(settings: flyte_python::PythonWorkerSettings, storage: flyte_storage::Storage) {
    /// // A stop of the caller's own (here, a deadline) instead of the process's signals.
    /// let (sender, stop) = flyte_runtime::stop_channel();
    /// let grace = settings.stop_grace;
    /// let worker = flyte_python::PythonExecutor::spawn_with_stop(
    ///     settings,
    ///     storage,
    ///     flyte_telemetry::Metrics::disabled(),
    ///     stop,
    /// );
    /// tokio::spawn(async move {
    ///     tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    ///     sender.request(flyte_runtime::StopRequest::new("the one-hour deadline", grace));
    /// });
    /// # let _ = worker;
    /// # }
    /// ```
    pub fn spawn_with_stop(
        settings: PythonWorkerSettings,
        storage: Storage,
        metrics: Metrics,
        stop: Stop,
    ) -> Self {
        let state = match Worker::spawn(&settings, storage, metrics, stop) {
            Ok(worker) => State::Running(Box::new(Run {
                worker,
                python: settings.python.clone(),
                setting_names: settings.setting_names.clone(),
                told_to_run: false,
                reported_result: false,
            })),
            Err(failure) => State::NotStarted(failure),
        };
        PythonExecutor { settings, state }
    }
}

impl Executor for PythonExecutor {
    async fn prepare(&mut self, context: &TaskContext, dry_run: bool) -> Prepared {
        let run = match &mut self.state {
            State::NotStarted(failure) => {
                return Prepared::ended(TaskOutcome::Failed(failure.clone()));
            }
            State::Running(run) => run,
        };
        let start = start_settings(&self.settings, context.locations(), dry_run, run);
        run.load(start).await.unwrap_or_else(Prepared::ended)
    }

    async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
        match &mut self.state {
            State::NotStarted(failure) => TaskOutcome::Failed(failure.clone()),
            State::Running(run) => run
                .execute(Command::Run {
                    inputs: inputs.local_path,
                })
                .await
                .unwrap_or_else(|outcome| outcome),
        }
    }

    async fn shutdown(&mut self) {
        if let State::Running(run) = &mut self.state {
            run.worker
                .shutdown(run.told_to_run, run.reported_result)
                .await;
        }
    }
}

/// The `start` command for this run.
fn start_settings(
    settings: &PythonWorkerSettings,
    task: &TaskLocations,
    dry_run: bool,
    run: &Run,
) -> StartSettings {
    StartSettings {
        protocol: PROTOCOL_VERSION,
        resolver: settings.resolver.clone(),
        resolver_args: settings.resolver_args.clone(),
        output_prefix: task.output_prefix.clone(),
        raw_output_data_prefix: task.raw_output_data_prefix.clone(),
        checkpoint_path: task.checkpoint_path.clone(),
        prev_checkpoint: task.prev_checkpoint.clone(),
        dynamic_addl_distro: settings.dynamic_addl_distro.clone(),
        dynamic_dest_dir: settings.dynamic_dest_dir.clone(),
        dry_run,
        staging_dir: run.worker.files.staging_dir.clone(),
        map_task: settings.map_task.clone(),
        bridge_module: run.worker.files.bridge_module.clone(),
        supported: crate::compat::SUPPORTED,
    }
}

impl Run {
    /// Sends `start` and waits until the task is loaded.
    async fn load(&mut self, start: StartSettings) -> Result<Prepared, TaskOutcome> {
        self.worker.connect().await?;
        self.worker.send(&Command::Start(Box::new(start))).await?;
        match self.worker.next_event().await? {
            Event::DryRunPassed => Ok(Prepared::ready()),
            Event::Loaded {
                ok: true,
                output_subdirectory,
            } => Ok(Prepared::ready().at_subdirectory(output_subdirectory)),
            Event::Loaded {
                ok: false,
                output_subdirectory,
            } => {
                // flytekit reports a task that fails to load from inside its dispatch,
                // before it looks at the inputs: let it (no inputs file is needed), so
                // the document is flytekit's.
                let outcome = self
                    .execute(Command::Run {
                        inputs: Default::default(),
                    })
                    .await
                    .unwrap_or_else(|outcome| outcome);
                Ok(Prepared::ended(outcome).at_subdirectory(output_subdirectory))
            }
            other => Err(unrunnable(other, &self.python, &self.setting_names)),
        }
    }

    /// Sends `run` and turns what the worker reports into the task's outcome.
    async fn execute(&mut self, run: Command) -> Result<TaskOutcome, TaskOutcome> {
        self.told_to_run = true;
        self.worker.send(&run).await?;
        match self.worker.next_event().await? {
            Event::Finished {
                files,
                peak_rss_kib,
            } => {
                self.reported_result = true;
                info!(
                    worker_peak_rss_kib = peak_rss_kib,
                    supervisor_peak_rss_kib = own_peak_rss_kib(),
                    "task finished in the worker"
                );
                Ok(
                    staged_outcome(&self.worker.files.staging_dir, &files).unwrap_or_else(
                        |error| {
                            tracing::error!("{}", flyte_errors::Chain(&error));
                            TaskOutcome::Failed(ContainerFailure::from_error(
                                Origin::System,
                                Recoverability::Recoverable,
                                flyte_errors::codes::SYSTEM,
                                &error,
                            ))
                        },
                    ),
                )
            }
            Event::Fatal(error) => Err(TaskOutcome::Failed(ContainerFailure::system(
                error.to_message(),
            ))),
            other => Err(TaskOutcome::Failed(out_of_order(&other))),
        }
    }
}

/// The outcome of an event that ends the run before the task could run in the
/// interpreter `python`.
fn unrunnable(event: Event, python: &std::path::Path, names: &crate::SettingNames) -> TaskOutcome {
    match event {
        // flytekit crashes with a traceback here; log ours as visibly.
        Event::ResolverFailed(error) => {
            tracing::error!("the task resolver could not be loaded:\n{}", error.trace);
            TaskOutcome::Unrunnable(ContainerFailure::user(
                flyte_errors::codes::USER_RUNTIME_ERROR,
                error.to_message(),
            ))
        }
        Event::FlytekitMissing {
            interpreter,
            error_message,
        } => {
            let message = crate::interpreter::missing_flytekit_message(python, names);
            tracing::error!("{message}");
            tracing::debug!(%interpreter, %error_message, "the worker's own report");
            TaskOutcome::Unrunnable(ContainerFailure::non_recoverable_system(message))
        }
        Event::Unsupported(unsupported) => {
            let (code, message) =
                crate::interpreter::unsupported_message(python, names, &unsupported);
            tracing::error!("{message}");
            TaskOutcome::Unrunnable(ContainerFailure {
                code: code.to_owned(),
                ..ContainerFailure::non_recoverable_system(message)
            })
        }
        Event::Fatal(error) => {
            tracing::error!(
                "the worker failed before it could run the task:\n{}",
                error.trace
            );
            TaskOutcome::Unrunnable(ContainerFailure::system(error.to_message()))
        }
        other => TaskOutcome::Failed(out_of_order(&other)),
    }
}

fn out_of_order(event: &Event) -> ContainerFailure {
    ContainerFailure::system(format!(
        "the worker sent the event {:?} out of order: {event:?}",
        event.name()
    ))
}
