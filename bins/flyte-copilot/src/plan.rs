//! Flags in, plans out: the one place where a subcommand's flags become what
//! `download.rs`, `sidecar.rs` and `watcher.rs` act on. main.rs only composes them.
//!
//! Every refusal here is the platform's configuration (propeller's flags), so it is a
//! SYSTEM error no retry can fix.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use base64::Engine;
use flyte_proto::core::{TypedInterface, VariableMap};

use crate::cli::{DownloadArgs, SidecarArgs};
use crate::report::{Fault, codes};
use crate::{download, sidecar, values, watcher};

/// What `download` is to do, from its flags.
pub fn download_plan(args: DownloadArgs) -> Result<download::DownloadPlan, Fault> {
    let bad_flag = |error: anyhow::Error| Fault::fatal(codes::INPUT_DOWNLOAD_FAILED, error);
    let inputs = required(args.from_remote, "--from-remote").map_err(bad_flag)?;
    let local_dir = PathBuf::from(required(args.to_local_dir, "--to-local-dir").map_err(bad_flag)?);
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
    Ok(download::DownloadPlan {
        inputs,
        local_dir,
        format,
        timeout,
        interface,
    })
}

/// The watcher the flags ask for. Without `--start-watcher-type`, the pod's protocol is
/// told by the flags propeller passes: up to 1.15 it passes `--start-timeout` (how long
/// the task's container may take to start) and no `--timeout`, for flytecopilot's
/// default then, `shared-process-ns`; from 1.16 it passes `--timeout`, for `signal`.
pub fn sidecar_watcher(args: &SidecarArgs) -> Result<watcher::Watcher, Fault> {
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

/// What `sidecar` is to do once the task has ended, from its flags.
/// `start_is_upload_timeout`: the watcher is `signal`, under which a positive
/// `--start-timeout` stands for `--timeout`, as in flytecopilot 1.16 (under
/// `shared-process-ns` it bounds the container's start instead).
pub fn sidecar_plan(
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
    let output_prefix = required(args.to_output_prefix, "--to-output-prefix").map_err(bad_flag)?;
    let raw_output_prefix = required(args.to_raw_output, "--to-raw-output").map_err(bad_flag)?;
    let local_dir =
        PathBuf::from(required(args.from_local_dir, "--from-local-dir").map_err(bad_flag)?);
    // flytecopilot 1.16 let --start-timeout's default 0 override --timeout, expiring the
    // upload at once: an explicit --timeout wins, and --start-timeout stands in for it
    // only when it alone is given, and positive.
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

fn required(value: Option<String>, flag: &str) -> anyhow::Result<String> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| anyhow!("{flag} is required"))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::watcher::Watcher;

    fn sidecar_args(flags: &[&str]) -> SidecarArgs {
        let argv = [
            "flyte-copilot",
            "sidecar",
            "-o",
            "/out",
            "-x",
            "/raw",
            "-f",
            "/local",
        ]
        .iter()
        .chain(flags);
        match Cli::try_parse_from(argv).expect("valid flags").command {
            Command::Sidecar(args) => args,
            Command::Download(_) => unreachable!("the sidecar subcommand"),
        }
    }

    fn watcher_of(flags: &[&str]) -> Watcher {
        sidecar_watcher(&sidecar_args(flags))
            .unwrap_or_else(|fault| panic!("{flags:?}: {:#}", fault.error))
    }

    #[test]
    fn the_watcher_follows_the_flags_each_propeller_passes() {
        // propeller 1.16: --timeout, a native sidecar that gets SIGTERM.
        assert_eq!(watcher_of(&["--timeout", "1h0m0s"]), Watcher::Signal);
        // propeller up to 1.15: --start-timeout alone, a shared process namespace.
        assert_eq!(
            watcher_of(&["--start-timeout", "1m40s"]),
            Watcher::SharedProcessNamespace {
                start_timeout: Some(Duration::from_secs(100))
            }
        );
        assert_eq!(
            watcher_of(&["--start-timeout", "0s"]),
            Watcher::SharedProcessNamespace {
                start_timeout: None
            },
            "0 is no bound on the start"
        );
        assert_eq!(watcher_of(&[]), Watcher::Signal);
        assert_eq!(
            watcher_of(&["--timeout", "1h", "--start-timeout", "1m"]),
            Watcher::Signal,
            "--timeout marks propeller 1.16"
        );
        assert_eq!(
            watcher_of(&[
                "--start-watcher-type",
                "shared-process-ns",
                "--timeout",
                "1h"
            ]),
            Watcher::SharedProcessNamespace {
                start_timeout: None
            },
            "a named watcher wins over the inference"
        );
        assert_eq!(
            watcher_of(&[
                "--start-watcher-type",
                "signal",
                "--exit-watcher-type",
                "noop"
            ]),
            Watcher::Noop
        );
        assert_eq!(
            watcher_of(&["--start-timeout", "1m", "--exit-watcher-type", "signal"]),
            Watcher::SharedProcessNamespace {
                start_timeout: Some(Duration::from_secs(60))
            },
            "only noop in --exit-watcher-type changes the wait"
        );
        for flags in [
            &["--start-watcher-type", "kube-api"][..],
            &["--exit-watcher-type", "file"],
            &["--start-timeout", "soon"],
        ] {
            let fault = sidecar_watcher(&sidecar_args(flags)).expect_err("refused");
            assert_eq!(fault.code, codes::OUTPUT_UPLOAD_FAILED);
            assert!(format!("{:#}", fault.error).contains(flags[0]), "{flags:?}");
        }
    }

    fn timeout_of(flags: &[&str], signal: bool) -> Option<Duration> {
        sidecar_plan(sidecar_args(flags), signal)
            .unwrap_or_else(|fault| panic!("{flags:?}: {:#}", fault.error))
            .timeout
    }

    #[test]
    fn the_upload_timeout_is_timeout_and_start_timeout_stands_in_only_alone_and_positive() {
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(timeout_of(&[], true), hour, "1h by default");
        assert_eq!(
            timeout_of(&["--timeout", "5m"], true),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            timeout_of(&["--timeout", "0s"], true),
            None,
            "0 is no bound"
        );
        assert_eq!(
            timeout_of(&["--timeout", "1h", "--start-timeout", "0s"], true),
            hour
        );
        assert_eq!(
            timeout_of(&["--timeout", "1h", "--start-timeout", "1ns"], true),
            hour
        );
        assert_eq!(
            timeout_of(&["--start-timeout", "0s"], true),
            hour,
            "0 never expires the upload"
        );
        assert_eq!(
            timeout_of(&["--start-timeout", "10m"], true),
            Some(Duration::from_secs(600)),
            "a deprecated alias of --timeout under signal"
        );
        assert_eq!(
            timeout_of(&["--start-timeout", "10m"], false),
            hour,
            "a bound on the start under shared-process-ns"
        );
    }

    #[test]
    fn the_sidecars_flags_are_checked_and_named_when_wrong() {
        let plan =
            sidecar_plan(sidecar_args(&["--meta-output-name", "out.pb"]), true).expect("valid");
        assert_eq!(plan.meta_output_name, "out.pb");
        assert_eq!(plan.output_prefix, "/out");
        assert_eq!(plan.raw_output_prefix, "/raw");
        assert!(
            plan.interface.outputs.is_none(),
            "no --interface: no outputs"
        );
        for (flags, named) in [
            (&["--upload-mode", "SOMETIMES"][..], "--upload-mode"),
            (&["--format", "XML"], "--format"),
            (&["--timeout", "1.2.3s"], "--timeout"),
            (&["--interface", "not base64!"], "--interface"),
            (&["--interface", "bm90IGEgcHJvdG9idWY="], "--interface"),
            (&["--to-raw-output", ""], "--to-raw-output"),
        ] {
            let fault = sidecar_plan(sidecar_args(flags), true).expect_err("refused");
            assert_eq!(fault.code, codes::OUTPUT_UPLOAD_FAILED, "{flags:?}");
            assert_eq!(fault.origin, flyte_errors::Origin::System);
            assert_eq!(
                fault.recoverability,
                flyte_errors::Recoverability::NonRecoverable
            );
            assert!(
                format!("{:#}", fault.error).contains(named),
                "{flags:?}: {:#}",
                fault.error
            );
        }
    }
}
