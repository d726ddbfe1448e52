//! `flyte-copilot` (also answering as `flytedata`): a drop-in for flytecopilot, the
//! program propeller runs beside raw containers (flytekit `ContainerTask`s) to move
//! their inputs and outputs.
//!
//! `download` (the init container) writes a task's inputs.pb into a local directory,
//! one file or directory per input; `sidecar` (the native sidecar) waits for the task's
//! container to end (SIGTERM from the kubelet), then turns the local output directory
//! into outputs.pb and uploads the data under the raw output prefix. Every failure
//! leaves an error document (`error.pb`, the name propeller reads) and a non-zero exit.
//!
//! **Owns:** argv, the environment and config files (`environment.rs`), flags turned
//! into plans (`cli.rs`, `plan.rs`, `settings.rs`), copilot's local layout
//! (`download.rs`, `sidecar.rs`) and its value formats (`values.rs`).
//! **Never:** moves bytes itself (flyte-storage does), nor decides error-document
//! fields (flyte-errors does).

mod blobs;
mod cli;
mod download;
mod environment;
mod plan;
mod report;
mod settings;
mod sidecar;
mod values;
mod watcher;

use std::process::ExitCode;

use anyhow::anyhow;
use flyte_storage::Storage;

use crate::cli::{Cli, Command, GlobalArgs, Parsed};
use crate::report::{Fault, codes, exit};

fn main() -> ExitCode {
    let args = environment::args();
    let name = environment::invoked_name(&args);
    let (cli, flag_error) = match cli::parse(name, args) {
        Parsed::Complete(cli) => (cli, None),
        Parsed::Flawed { cli, error } => (cli, Some(error)),
        Parsed::Rejected(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    init_logging(cli.global.logger_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("cannot start the async runtime: {error}");
            return ExitCode::from(exit::UNREPORTED);
        }
    };
    ExitCode::from(runtime.block_on(run(cli, flag_error)))
}

/// flytestdlib's levels (0 panic, 1 fatal, 2 error, 3 warn, 4 info, 5 debug); info when unset.
fn init_logging(level: Option<u8>) {
    let filter = match level {
        Some(0..=2) => "error",
        Some(3) => "warn",
        Some(4) | None => "info",
        Some(_) => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// `flag_error`: clap refused the command line, though `cli` (read leniently) names the
/// subcommand and the output prefix.
async fn run(cli: Cli, flag_error: Option<clap::Error>) -> u8 {
    // Before anything slow: the kubelet's SIGTERM must find a handler, not the default
    // action (which would end the process without uploading anything).
    let stop = match &cli.command {
        Command::Sidecar(_) => match watcher::ContainerEnd::watch() {
            Ok(watch) => Some(watch),
            Err(error) => {
                tracing::error!("cannot watch for SIGTERM: {error}");
                return exit::UNREPORTED;
            }
        },
        Command::Download(_) => None,
    };
    let code = match &cli.command {
        Command::Download(_) => codes::INPUT_DOWNLOAD_FAILED,
        Command::Sidecar(_) => codes::OUTPUT_UPLOAD_FAILED,
    };
    let output_prefix = cli.command.output_prefix().map(str::to_owned);
    let err_name = cli.global.err_output_name.clone();
    // A failure found before the real work: a command line clap refused, storage
    // settings that cannot be used.
    let mut early = flag_error.map(|error| Fault::fatal(code, refused_command_line(&error)));
    let storage = match storage(&cli.global) {
        Ok(storage) => storage,
        Err(error) => {
            early.get_or_insert(Fault::fatal(code, error));
            // The error document still has to go somewhere: the environment's storage
            // (flytekit's settings, the SDKs' chains) is the best guess left.
            fallback_storage()
        }
    };
    if let (Command::Sidecar(args), Some(stop)) = (&cli.command, stop) {
        // A native sidecar that exits before the task's container has ended is
        // restarted by the kubelet, over and over: whatever is wrong (the command line,
        // the storage settings, a watcher flag) is reported once the task is done. A
        // wrong watcher flag waits for SIGTERM, which always comes.
        let watcher = plan::sidecar_watcher(args).unwrap_or(watcher::Watcher::Signal);
        stop.wait(watcher).await;
    }
    if let Some(fault) = early {
        return report::report(&storage, output_prefix.as_deref(), &err_name, &fault).await;
    }
    let outcome = match cli.command {
        Command::Download(args) => run_download(&storage, args).await,
        Command::Sidecar(args) => run_sidecar(&storage, args).await,
    };
    match outcome {
        Ok(()) => exit::SUCCESS,
        Err(fault) => report::report(&storage, output_prefix.as_deref(), &err_name, &fault).await,
    }
}

/// clap's error, without its usage lines (the error document is read by people who
/// did not type the command).
fn refused_command_line(error: &clap::Error) -> anyhow::Error {
    let rendered = error.render().to_string();
    let first = rendered
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("error: ");
    anyhow!(
        "the command line was refused: {first}; check the flags against docs/copilot.md (a propeller newer than this binary may pass flags it does not know)"
    )
}

fn storage(global: &GlobalArgs) -> anyhow::Result<Storage> {
    let flyte = environment::load_flyte_config()?;
    let files = match &global.config {
        Some(pattern) => environment::config_files(pattern)?,
        None => Vec::new(),
    };
    let stdlib = settings::StdlibStorage::from_files(&files)?.with_flags(global)?;
    if let Some(container) = &stdlib.container {
        tracing::debug!(
            container,
            "default container (every URI names its own bucket)"
        );
    }
    Ok(Storage::new(settings::storage_config(&flyte, &stdlib)?))
}

/// The storage the environment alone configures, to report a failure of the rest.
fn fallback_storage() -> Storage {
    match environment::load_flyte_config() {
        Ok(flyte) => Storage::new(flyte_settings::storage_config(&flyte)),
        Err(_) => Storage::default(),
    }
}

async fn run_download(storage: &Storage, args: cli::DownloadArgs) -> Result<(), Fault> {
    download::run(storage, &plan::download_plan(args)?).await
}

/// The sidecar's work, once the task's container has ended (`run` waited for it).
async fn run_sidecar(storage: &Storage, args: cli::SidecarArgs) -> Result<(), Fault> {
    let watcher = plan::sidecar_watcher(&args)?;
    let plan = plan::sidecar_plan(args, watcher == watcher::Watcher::Signal)?;
    sidecar::run(storage, &plan).await
}
