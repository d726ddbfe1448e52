//! The container entrypoint of the example task: the same flags as pyflyte-execute
//! (`--inputs`, `--output-prefix`, `--raw-output-data-prefix`, `--checkpoint-path`,
//! `--prev-checkpoint`), so a task template registers it with Flyte's usual argument
//! template. Configuration comes from the pod as for pyflyte-execute: the `FLYTE_*`
//! environment and flytekit's config file, loaded once by flyte-config and mapped by
//! flyte-settings.
//!
//! Exit status: what flytekit's entrypoint ends with (0 once outputs.pb or error.pb is
//! written); 1 when not even the error document could be written, with the reason on
//! stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use flyte_config::{Dirs, Env, FlyteConfig};
use flyte_errors::Chain;
use flyte_runtime::{FnExecutor, RunSettings, StopRequest, TaskLocations, run_task, stop_channel};
use flyte_storage::Storage;
use flyte_telemetry::Metrics;

/// How long the run may take to write its error document once Kubernetes asks the pod
/// to stop (SIGTERM), well inside the default 30 s termination grace period.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Runs the partition-csv task: downloads inputs.pb, partitions the CSV file of input
/// `rows` by input `column`, and writes outputs.pb or error.pb under the output prefix.
#[derive(Debug, Parser)]
#[command(name = "partition-csv", version, about)]
struct Args {
    /// URI of the task's inputs.pb.
    #[arg(long)]
    inputs: String,
    /// URI of the directory that receives outputs.pb or error.pb.
    #[arg(long)]
    output_prefix: String,
    /// URI under which the partitions are uploaded.
    #[arg(long)]
    raw_output_data_prefix: Option<String>,
    /// URI the task's checkpoint is written to (unused by this task).
    #[arg(long)]
    checkpoint_path: Option<String>,
    /// URI of the previous attempt's checkpoint (unused by this task).
    #[arg(long)]
    prev_checkpoint: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match runtime.block_on(run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("partition-csv: {message}");
    ExitCode::FAILURE
}

/// The Flyte configuration from the environment and the config file flytekit would pick.
// The entrypoint is the one place a task binary reads its environment (clippy.toml).
#[allow(clippy::disallowed_methods)]
fn load_config() -> Result<FlyteConfig, String> {
    let dirs = Dirs {
        home: std::env::var_os("HOME").map(PathBuf::from),
        current: std::env::current_dir().ok(),
    };
    FlyteConfig::load(&Env::from_os(std::env::vars_os()), &dirs)
        .map_err(|error| format!("loading the Flyte configuration: {}", Chain(&error)))
}

async fn run(args: Args) -> Result<u8, String> {
    let config = load_config()?;
    flyte_telemetry::logging::init(&flyte_settings::log_settings(&config))
        .map_err(|error| format!("setting up logging: {}", Chain(&error)))?;
    let storage = Storage::new(flyte_settings::storage_config(&config));

    let scratch = tempfile::Builder::new()
        .prefix("partition-csv-")
        .tempdir()
        .map_err(|error| format!("cannot create a scratch directory: {error}"))?;
    let mut locations = TaskLocations::new(args.inputs, args.output_prefix);
    locations.raw_output_data_prefix = args.raw_output_data_prefix;
    locations.checkpoint_path = args.checkpoint_path;
    locations.prev_checkpoint = args.prev_checkpoint;
    let mut settings = RunSettings::new(locations, scratch.path());

    // Kubernetes stops a pod with SIGTERM: the run then ends with an error document
    // saying so, instead of dying with nothing written.
    let (stop_sender, stop) = stop_channel();
    settings.stop = stop;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|error| format!("cannot watch for SIGTERM: {error}"))?;
    tokio::spawn(async move {
        if terminate.recv().await.is_some() {
            stop_sender.request(StopRequest::new("SIGTERM", STOP_GRACE));
        }
    });

    let task = FnExecutor::new(partition_csv::partition_csv);
    let report = run_task(task, &storage, &settings, &Metrics::disabled())
        .await
        .map_err(|error| format!("the outcome could not be written: {}", Chain(&error)))?;
    Ok(u8::try_from(report.exit_code).unwrap_or(1))
}
