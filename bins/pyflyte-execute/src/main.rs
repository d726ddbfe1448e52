//! `pyflyte-execute`: the Flyte task entrypoint, in Rust.
//!
//! A thin composition of the workspace's crates: it reads argv and the process
//! environment (the only place that does), builds the settings the library crates take,
//! and hands them to [`flyte_runtime::run_task`] with a supervised Python worker.
//!
//! One binary answers to three names, as flytekit's three console scripts:
//! `pyflyte-execute`, `pyflyte-map-execute` and `pyflyte-fast-execute` (install the
//! other two as links to this one).

mod cli;
mod environment;
mod plan;
mod scratch;
mod settings;
mod version;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use flyte_errors::{ContainerFailure, Origin, Recoverability};
use flyte_python::{MapTaskSettings, PythonExecutor, fast};
use flyte_runtime::run_task;
use flyte_storage::Storage;
use flyte_telemetry::Metrics;

use crate::cli::{CommonArgs, ExecuteArgs, FastExecuteArgs, MapExecuteArgs, TaskLocation};
use crate::environment::Environment;
use crate::plan::{ExecutePlan, FastExecutePlan};

/// Which of flytekit's entrypoints this process is.
enum Entrypoint {
    Execute(ExecuteArgs),
    MapExecute(MapExecuteArgs),
    FastExecute(FastExecuteArgs),
}

fn main() -> ExitCode {
    if environment::wants_config_report() {
        return match environment::load_config() {
            Ok(config) => {
                print!("{}", config.describe());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(1)
            }
        };
    }
    if environment::wants_version_report() {
        return version::main(environment::worker_python());
    }
    // clap exits with status 2 on a bad command line, as click does.
    let entrypoint = match environment::invoked_name().as_str() {
        "pyflyte-map-execute" => Entrypoint::MapExecute(MapExecuteArgs::parse()),
        "pyflyte-fast-execute" => Entrypoint::FastExecute(FastExecuteArgs::parse()),
        _ => Entrypoint::Execute(ExecuteArgs::parse()),
    };
    let environment = match Environment::from_process() {
        Ok(environment) => environment,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(1);
        }
    };
    if let Err(error) =
        flyte_telemetry::logging::init(&flyte_settings::log_settings(&environment.config))
    {
        eprintln!("warning: logging could not be set up: {error}");
    }
    for note in &environment.config.notes {
        tracing::warn!("{note}");
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let termination_message_path = environment.termination_message_path.clone();
    let result = runtime.block_on(async {
        match entrypoint {
            Entrypoint::Execute(args) => {
                // Caught first, so a stop at any later moment is honoured.
                let stop = flyte_python::catch_stop_signals(environment.stop_grace);
                let location = args.task_location().map_err(anyhow::Error::msg)?;
                execute(args.common, location, None, environment, stop).await
            }
            Entrypoint::MapExecute(args) => {
                let stop = flyte_python::catch_stop_signals(environment.stop_grace);
                let location = args.task_location().map_err(anyhow::Error::msg)?;
                let map_task = MapTaskSettings {
                    max_concurrency: args.max_concurrency,
                    experimental: args.experimental,
                };
                execute(args.common, location, Some(map_task), environment, stop).await
            }
            Entrypoint::FastExecute(args) => fast_execute(args, environment).await,
        }
    });
    // A thread of the blocking pool may be stuck for good (reading a FIFO the task left
    // as an output, a stalled local read whose future a stop dropped): everything is
    // written by now, so exit instead of waiting for it.
    runtime.shutdown_timeout(EXIT_WAIT);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let sources = settings::storage_setting_sources(&error);
            tracing::error!("{error:#}{sources}");
            eprintln!("error: {error:#}{sources}");
            // run_task summarised its own failures there already.
            if let Some(path) = &termination_message_path
                && error
                    .downcast_ref::<flyte_runtime::PipelineError>()
                    .is_none()
            {
                flyte_runtime::termination::write_termination_message(path, &format!("{error:#}"));
            }
            ExitCode::from(1)
        }
    }
}

/// How long the async runtime's blocking threads get to finish once the run is over.
const EXIT_WAIT: Duration = Duration::from_millis(250);

/// Runs the task; returns the exit status flytekit would end with.
async fn execute(
    args: CommonArgs,
    location: TaskLocation,
    map_task: Option<MapTaskSettings>,
    environment: Environment,
    stop: flyte_runtime::Stop,
) -> Result<u8> {
    let storage = Storage::new(flyte_storage::StorageConfig {
        prefetch: environment.prefetch.clone(),
        ..flyte_settings::storage_config(&environment.config)
    });
    // Nothing can be reported without a usable output prefix: refuse it up front.
    flyte_storage::StorageUri::parse(&args.output_prefix)
        .and_then(|uri| storage.store_for(&uri).map(drop))
        .with_context(|| format!("--output-prefix {} cannot be used", args.output_prefix))?;

    let scratch = scratch::create(&environment.temp_dirs)?;
    let mut plan = ExecutePlan::new(args, location, map_task, &environment, scratch.path());
    plan.run.stop = stop.clone();
    tracing::info!(
        inputs = %plan.run.task.inputs,
        output_prefix = %plan.run.task.output_prefix,
        resolver = %plan.worker.resolver,
        args = ?plan.worker.resolver_args,
        "pyflyte-execute (Rust) {} starting",
        env!("CARGO_PKG_VERSION")
    );

    let metrics = Metrics::new(
        &flyte_settings::statsd_settings(&environment.config),
        &flyte_settings::metric_scope(&environment.config),
    )
    .unwrap_or_else(|error| {
        // The library names the setting; how it is set is ours to say.
        let remedy = match &error {
            flyte_telemetry::TelemetryError::StatsdAddress { .. } => {
                " (fix FLYTE_STATSD_HOST / FLYTE_SECRETS_HOST, or set FLYTE_STATSD_DISABLED=true)"
            }
            flyte_telemetry::TelemetryError::StatsdSocket { .. } => {
                " (set FLYTE_STATSD_DISABLED=true to run without metrics)"
            }
            _ => "",
        };
        tracing::warn!(
            "statsd metrics are off: {}{remedy}",
            flyte_errors::Chain(&error)
        );
        Metrics::disabled()
    });
    let worker =
        PythonExecutor::spawn_with_stop(plan.worker, storage.clone(), metrics.clone(), stop);
    let report = run_task(worker, &storage, &plan.run, &metrics).await?;
    Ok(u8::try_from(report.exit_code).unwrap_or(1))
}

/// `pyflyte-fast-execute`: unpack the code, then run the task command; exits with its status.
async fn fast_execute(args: FastExecuteArgs, environment: Environment) -> Result<u8> {
    let storage = Storage::new(flyte_settings::storage_config(&environment.config));
    let plan = FastExecutePlan::new(args, &environment)?;
    if let Some(distribution) = &plan.distribution
        && let Err(error) =
            fast::install_distribution(&storage, &distribution.uri, &distribution.destination).await
    {
        // The task command never runs: report the failure where it would have written.
        if let Some(output_prefix) = &plan.failure_prefix {
            let failure = ContainerFailure::from_error(
                Origin::System,
                if error.is_transient() {
                    Recoverability::Recoverable
                } else {
                    Recoverability::NonRecoverable
                },
                flyte_errors::codes::SYSTEM,
                &error,
            )
            .with_worker(plan.worker_name.clone());
            if let Err(write_error) =
                flyte_runtime::write_failure(&storage, output_prefix, failure).await
            {
                tracing::error!("{}", flyte_errors::Chain(&write_error));
            }
        }
        return Err(error.into());
    }
    let status = fast::run_task_command(
        &plan.command,
        plan.dest_dir.as_deref().map(Path::new),
        environment.pythonpath,
    )
    .await?;
    Ok(exit_code_of(status))
}

/// A child's exit status as our own: its code, or 128 + the signal that killed it.
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    u8::try_from(code).unwrap_or(1)
}
