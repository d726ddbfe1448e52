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
mod flytekit_probe;
mod settings;
mod version;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use flyte_runtime::{
    MapTaskSettings, PythonExecutor, PythonWorkerSettings, RunSettings, fast, run_task,
};
use flyte_storage::Storage;
use flyte_telemetry::Metrics;

use crate::cli::{CommonArgs, ExecuteArgs, FastExecuteArgs, MapExecuteArgs, TaskLocation};
use crate::environment::Environment;

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
    if let Err(error) = flyte_telemetry::logging::init(&settings::log_settings(&environment.config))
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
    let result = runtime.block_on(async {
        match entrypoint {
            Entrypoint::Execute(args) => {
                let location = args.task_location().map_err(anyhow::Error::msg)?;
                execute(args.common, location, None, environment).await
            }
            Entrypoint::MapExecute(args) => {
                let location = args.task_location().map_err(anyhow::Error::msg)?;
                let map_task = MapTaskSettings {
                    max_concurrency: args.max_concurrency,
                };
                execute(args.common, location, Some(map_task), environment).await
            }
            Entrypoint::FastExecute(args) => fast_execute(args, environment).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs the task; returns the exit status flytekit would end with.
async fn execute(
    mut args: CommonArgs,
    location: TaskLocation,
    map_task: Option<MapTaskSettings>,
    environment: Environment,
) -> Result<u8> {
    args.normalize_templates();
    let storage = Storage::new(settings::storage_config(&environment.config));
    // Nothing can be reported without a usable output prefix: refuse it up front.
    flyte_storage::StorageUri::parse(&args.output_prefix)
        .and_then(|uri| storage.store_for(&uri).map(drop))
        .with_context(|| format!("--output-prefix {} cannot be used", args.output_prefix))?;

    let scratch = tempfile::Builder::new()
        .prefix("pyflyte-execute-")
        .tempdir()
        .context("creating a scratch directory under the system temp directory")?;
    tracing::info!(
        inputs = %args.inputs,
        output_prefix = %args.output_prefix,
        resolver = %location.resolver,
        args = ?location.resolver_args,
        "pyflyte-execute (Rust) {} starting",
        env!("CARGO_PKG_VERSION")
    );

    let metrics = Metrics::new(
        &settings::statsd_settings(&environment.config),
        &settings::metric_scope(&environment.config),
    )
    .unwrap_or_else(|error| {
        tracing::warn!("statsd metrics are off: {error}");
        Metrics::disabled()
    });
    let worker_settings = PythonWorkerSettings {
        python: environment.python.clone(),
        resolver: location.resolver,
        resolver_args: location.resolver_args,
        output_prefix: args.output_prefix.clone(),
        raw_output_data_prefix: args.raw_output_data_prefix,
        checkpoint_path: args.checkpoint_path,
        prev_checkpoint: args.prev_checkpoint,
        dynamic_addl_distro: args.dynamic_addl_distro,
        dynamic_dest_dir: args.dynamic_dest_dir,
        test: args.test,
        scratch_dir: scratch.path().join("worker"),
        map_task,
        env: settings::worker_env(&environment.config),
    };
    let worker = flytekit_probe::RequireFlytekit::new(
        &environment.python,
        PythonExecutor::spawn(worker_settings, storage.clone(), metrics.clone()),
    );
    let runtime = &environment.config.runtime;
    let settings = RunSettings {
        dry_run: args.test,
        error_file_name: flyte_errors::error_file_name(
            runtime.distributed_error_strategy.is_some(),
        ),
        worker_name: runtime.worker_name.clone(),
        fail_on_error: runtime.fail_on_error,
        ..RunSettings::new(
            args.inputs,
            args.output_prefix,
            scratch.path().join("pipeline"),
        )
    };
    let report = run_task(worker, &storage, &settings, &metrics).await?;
    Ok(u8::try_from(report.exit_code).unwrap_or(1))
}

/// `pyflyte-fast-execute`: unpack the code, then run the task command; exits with its status.
async fn fast_execute(args: FastExecuteArgs, environment: Environment) -> Result<u8> {
    let storage = Storage::new(settings::storage_config(&environment.config));
    let mut command = args.task_execute_cmd.clone();
    let mut dest_dir = args.dest_dir.clone();
    if let Some(distribution) = &args.additional_distribution {
        // flytekit unpacks into the working directory when no destination is given.
        let destination = match &dest_dir {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_dir().context("reading the working directory")?,
        };
        fast::install_distribution(&storage, distribution, &destination).await?;
        let destination = destination.display().to_string();
        command = fast::inner_command(&command, distribution, &destination);
        dest_dir = Some(destination);
    }
    let status = fast::run_task_command(
        &command,
        dest_dir.as_deref().map(Path::new),
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
