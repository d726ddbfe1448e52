//! `pyflyte-execute`: the Flyte task entrypoint, in Rust.
//!
//! A thin composition of the workspace's crates: it reads argv and the process
//! environment (the only place that does), builds the settings the library crates take,
//! and hands them to [`flyte_runtime::run_task`] with a supervised Python worker.

mod cli;
mod environment;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use flyte_runtime::{PythonExecutor, PythonWorkerSettings, RunSettings, run_task};
use flyte_storage::{Storage, StorageConfig};

use crate::cli::ExecuteArgs;
use crate::environment::Environment;

fn main() -> ExitCode {
    let program = environment::invoked_name();
    if program != "pyflyte-execute" && program.starts_with("pyflyte-") {
        eprintln!(
            "error: this build of pyflyte-execute does not implement `{program}` yet; \
             run flytekit's own `{program}` for this task"
        );
        return ExitCode::from(1);
    }
    let mut args = ExecuteArgs::parse();
    args.normalize_templates();
    let environment = Environment::from_process();
    init_logging(environment.logging_level);

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
    match runtime.block_on(execute(args, environment)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs the task the arguments name; returns the exit status flytekit would end with.
async fn execute(args: ExecuteArgs, environment: Environment) -> Result<u8> {
    let location = args.task_location().map_err(anyhow::Error::msg)?;
    let storage = Storage::new(StorageConfig::default());
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

    let worker = PythonExecutor::spawn(PythonWorkerSettings {
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
    });
    let settings = RunSettings {
        dry_run: args.test,
        error_file_name: flyte_errors::error_file_name(environment.distributed_error_strategy),
        worker_name: environment.worker_name,
        fail_on_error: environment.fail_on_error,
        ..RunSettings::new(
            args.inputs,
            args.output_prefix,
            scratch.path().join("pipeline"),
        )
    };
    let report = run_task(worker, &storage, &settings).await?;
    Ok(u8::try_from(report.exit_code).unwrap_or(1))
}

/// Logs go to stderr, filtered at flytekit's level (Python's numeric levels).
fn init_logging(level: tracing::Level) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
