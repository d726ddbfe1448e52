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
//! **Owns:** argv, the environment and config files (`environment.rs`), copilot's local
//! layout (`download.rs`, `sidecar.rs`) and its value formats (`values.rs`).
//! **Never:** moves bytes itself (flyte-storage does), nor decides error-document
//! fields (flyte-errors does).

mod blobs;
mod cli;
mod download;
mod environment;
mod report;
mod settings;
mod sidecar;
mod values;
mod watcher;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use base64::Engine;
use clap::{CommandFactory, FromArgMatches};
use flyte_proto::core::{TypedInterface, VariableMap};
use flyte_storage::Storage;

use crate::cli::{Cli, Command, DownloadArgs, GlobalArgs, SidecarArgs};
use crate::report::{Fault, codes, exit};

fn main() -> ExitCode {
    let args = environment::args();
    let name = environment::invoked_name(&args);
    let command = Cli::command().bin_name(name);
    let cli = match command
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(error) => {
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
    ExitCode::from(runtime.block_on(run(cli)))
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

async fn run(cli: Cli) -> u8 {
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
    let output_prefix = match &cli.command {
        Command::Download(args) => args.to_output_prefix.clone(),
        Command::Sidecar(args) => args.to_output_prefix.clone(),
    };
    let err_name = cli.global.err_output_name.clone();
    let storage = match storage(&cli.global) {
        Ok(storage) => storage,
        Err(error) => {
            // Without storage there is nowhere to write the error document.
            tracing::error!("{error:#}");
            return exit::UNREPORTED;
        }
    };
    let outcome = match cli.command {
        Command::Download(args) => run_download(&storage, args).await,
        Command::Sidecar(args) => run_sidecar(&storage, args, stop).await,
    };
    match outcome {
        Ok(()) => exit::SUCCESS,
        Err(fault) => report::report(&storage, output_prefix.as_deref(), &err_name, &fault).await,
    }
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

fn required(value: Option<String>, flag: &str) -> Result<String, Fault> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| Fault::fatal(codes::INPUT_DOWNLOAD_FAILED, anyhow!("{flag} is required")))
}

fn decode_base64<M: flyte_proto::Message + flyte_proto::Name + Default>(
    text: &str,
    flag: &str,
    what: &'static str,
) -> anyhow::Result<M> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .with_context(|| {
            format!("{flag} is not base64: pass the serialized {what}, base64-encoded")
        })?;
    flyte_proto::io::decode::<M>(&bytes)
        .with_context(|| format!("{flag} is base64, but not of a {what}"))
}

async fn run_download(storage: &Storage, args: DownloadArgs) -> Result<(), Fault> {
    let bad_flag = |error: anyhow::Error| Fault::fatal(codes::INPUT_DOWNLOAD_FAILED, error);
    let inputs = required(args.from_remote, "--from-remote")?;
    let local_dir = PathBuf::from(required(args.to_local_dir, "--to-local-dir")?);
    let format = download::Format::parse(&args.format).map_err(bad_flag)?;
    match args.download_mode.as_str() {
        "DOWNLOAD_EAGER" | "DOWNLOAD_STREAM" | "DO_NOT_DOWNLOAD" => {}
        other => {
            return Err(bad_flag(anyhow!(
                "--download-mode {other:?} is not a mode: use DOWNLOAD_EAGER, DOWNLOAD_STREAM or DO_NOT_DOWNLOAD"
            )));
        }
    }
    if args.file_input_layout != "DIRECT" {
        return Err(bad_flag(anyhow!(
            "--file-input-layout {:?} is not supported: only DIRECT (<dir>/<var>) is",
            args.file_input_layout
        )));
    }
    let timeout = values::parse_timeout(&args.timeout)
        .context("--timeout")
        .map_err(bad_flag)?;
    let interface = args
        .input_interface
        .as_deref()
        .map(|text| {
            decode_base64::<VariableMap>(text, "--input-interface", "flyteidl.core.VariableMap")
        })
        .transpose()
        .map_err(bad_flag)?;
    let plan = download::DownloadPlan {
        inputs,
        local_dir,
        format,
        timeout,
        interface,
    };
    download::run(storage, &plan).await
}

async fn run_sidecar(
    storage: &Storage,
    args: SidecarArgs,
    stop: Option<watcher::ContainerEnd>,
) -> Result<(), Fault> {
    // Flag problems are reported only once the task's container has ended: a sidecar
    // that exits early is restarted by the kubelet, over and over, for nothing.
    let watcher = sidecar_watcher(&args);
    let plan = sidecar_plan(args, matches!(watcher, Ok(watcher::Watcher::Signal)));
    // A watcher flag that is wrong is reported too, once SIGTERM says the task ended.
    let waiting = watcher.as_ref().map_or(watcher::Watcher::Signal, |w| *w);
    if let Some(stop) = stop {
        stop.wait(waiting).await;
    }
    watcher?;
    sidecar::run(storage, &plan?).await
}

/// The watcher the flags ask for. Without `--start-watcher-type`, the pod's protocol is
/// told by the flags propeller passes: up to 1.15 it passes `--start-timeout` (how long
/// the task's container may take to start) and no `--timeout`, for flytecopilot's
/// default then, `shared-process-ns`; from 1.16 it passes `--timeout`, for `signal`.
fn sidecar_watcher(args: &SidecarArgs) -> Result<watcher::Watcher, Fault> {
    let bad_flag = |error: anyhow::Error| Fault::fatal(codes::OUTPUT_UPLOAD_FAILED, error);
    let start_timeout = match &args.start_timeout {
        Some(text) => values::parse_timeout(text)
            .context("--start-timeout")
            .map_err(bad_flag)?,
        None => None,
    };
    let named = |flag: &str, value: &str| {
        watcher::Watcher::parse(value, start_timeout).ok_or_else(|| {
            bad_flag(anyhow!(
                "{flag} {value:?} is not a watcher: use signal, shared-process-ns or noop"
            ))
        })
    };
    let exit = args
        .exit_watcher_type
        .as_deref()
        .map(|value| named("--exit-watcher-type", value))
        .transpose()?;
    if exit == Some(watcher::Watcher::Noop) {
        return Ok(watcher::Watcher::Noop);
    }
    match args.start_watcher_type.as_deref() {
        Some(value) => named("--start-watcher-type", value),
        None if args.timeout.is_none() && args.start_timeout.is_some() => {
            Ok(watcher::Watcher::SharedProcessNamespace { start_timeout })
        }
        None => Ok(watcher::Watcher::Signal),
    }
}

/// The upload's plan. `start_is_upload_timeout`: the watcher is `signal`, under which a
/// positive --start-timeout stands for --timeout, as in flytecopilot 1.16 (under
/// shared-process-ns it bounds the container's start instead).
fn sidecar_plan(
    args: SidecarArgs,
    start_is_upload_timeout: bool,
) -> Result<sidecar::SidecarPlan, Fault> {
    let bad_flag = |error: anyhow::Error| Fault::fatal(codes::OUTPUT_UPLOAD_FAILED, error);
    match args.upload_mode.as_str() {
        "UPLOAD_ON_EXIT" | "UPLOAD_EAGER" | "DO_NOT_UPLOAD" => {}
        other => {
            return Err(bad_flag(anyhow!(
                "--upload-mode {other:?} is not a mode: use UPLOAD_ON_EXIT, UPLOAD_EAGER or DO_NOT_UPLOAD"
            )));
        }
    }
    download::Format::parse(&args.format).map_err(bad_flag)?;
    let output_prefix = args
        .to_output_prefix
        .filter(|prefix| !prefix.is_empty())
        .ok_or_else(|| bad_flag(anyhow!("--to-output-prefix is required")))?;
    let raw_output_prefix = args
        .to_raw_output
        .filter(|prefix| !prefix.is_empty())
        .ok_or_else(|| bad_flag(anyhow!("--to-raw-output is required")))?;
    let local_dir = args
        .from_local_dir
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| bad_flag(anyhow!("--from-local-dir is required")))?;
    let timeout_text = match (&args.timeout, &args.start_timeout) {
        (Some(timeout), _) => timeout.clone(),
        (None, Some(start))
            if start_is_upload_timeout && values::parse_timeout(start).ok().flatten().is_some() =>
        {
            start.clone()
        }
        _ => "1h".to_owned(),
    };
    let timeout = values::parse_timeout(&timeout_text)
        .context("--timeout")
        .map_err(bad_flag)?;
    let interface = match args.interface.as_deref() {
        Some(text) => {
            decode_base64::<TypedInterface>(text, "--interface", "flyteidl.core.TypedInterface")
                .map_err(bad_flag)?
        }
        None => {
            tracing::info!("no --interface: the task has no outputs");
            TypedInterface::default()
        }
    };
    Ok(sidecar::SidecarPlan {
        output_prefix,
        raw_output_prefix,
        local_dir,
        meta_output_name: args.meta_output_name,
        timeout,
        interface,
    })
}
