//! The command line flytecopilot takes: its two subcommands with their flags, and the
//! flytestdlib flags (storage, logger, config file) propeller puts before them.
//!
//! Every flag propeller's `co-pilot` plugin passes is accepted with the same spelling,
//! short form and default, so an image holding this binary at `/bin/flyte-copilot` runs
//! unchanged pod specs. Flags are global, as cobra's persistent flags are: they may come
//! before or after the subcommand.

use std::ffi::OsString;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// `flyte-copilot` / `flytedata`: the command line.
#[derive(Debug, Parser)]
#[command(
    name = "flyte-copilot",
    version,
    about = "Moves a raw container's inputs and outputs between Flyte's storage and local files (a flytecopilot drop-in)",
    long_about = None,
    // pflag lets a repeated flag's last value win; propeller's command line may repeat one.
    args_override_self = true,
)]
pub struct Cli {
    /// The flytestdlib flags every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What the command line gave.
#[derive(Debug)]
pub enum Parsed {
    /// Every flag understood.
    Complete(Cli),
    /// clap refused the command line, but a lenient reading (clap's `ignore_errors`)
    /// found the subcommand and its output prefix, so the refusal can be reported in
    /// the error document, and the sidecar can wait for the task's end before it exits.
    Flawed {
        /// What the lenient reading understood.
        cli: Cli,
        /// Why clap refused the command line.
        error: clap::Error,
    },
    /// Nothing usable (or `--help`, `--version`): clap's own output and exit status.
    Rejected(clap::Error),
}

/// Reads `args` (argv, the program's name first), naming the program `bin_name` in
/// help and errors.
pub fn parse(bin_name: String, args: Vec<OsString>) -> Parsed {
    let command = Cli::command().bin_name(bin_name);
    let error = match command
        .clone()
        .try_get_matches_from(&args)
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => return Parsed::Complete(cli),
        Err(error) => error,
    };
    if !error.use_stderr() {
        // --help or --version: not an error.
        return Parsed::Rejected(error);
    }
    match lenient(&command, args).filter(|cli| cli.command.output_prefix().is_some()) {
        Some(cli) => Parsed::Flawed { cli, error },
        None => Parsed::Rejected(error),
    }
}

/// `args` read as well as they can be, only to report what was wrong with them: each
/// argument clap names as unknown (a flag from a newer propeller, then its value) is
/// dropped in turn; failing that, clap's `ignore_errors` keeps what it read up to the
/// error.
fn lenient(command: &clap::Command, mut args: Vec<OsString>) -> Option<Cli> {
    let read = |command: clap::Command, args: &[OsString]| {
        command
            .try_get_matches_from(args)
            .and_then(|matches| Cli::from_arg_matches(&matches))
    };
    for _ in 0..args.len() {
        let error = match read(command.clone(), &args) {
            Ok(cli) => return Some(cli),
            Err(error) => error,
        };
        let Some(clap::error::ContextValue::String(unknown)) =
            error.get(clap::error::ContextKind::InvalidArg)
        else {
            break;
        };
        let with_value = format!("{unknown}=");
        let Some(position) = args.iter().skip(1).position(|arg| {
            arg.to_str()
                .is_some_and(|arg| arg == unknown || arg.starts_with(&with_value))
        }) else {
            break;
        };
        args.remove(position + 1);
    }
    read(command.clone().ignore_errors(true), &args).ok()
}

/// The two things copilot does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Downloads a task's inputs into a local directory, one file or directory per variable (the init container).
    Download(DownloadArgs),
    /// Waits for the task's container to end, then uploads its outputs (the native sidecar).
    Sidecar(SidecarArgs),
}

impl Command {
    /// Where the error document goes: the output prefix, when one was given.
    pub fn output_prefix(&self) -> Option<&str> {
        let prefix = match self {
            Command::Download(args) => args.to_output_prefix.as_deref(),
            Command::Sidecar(args) => args.to_output_prefix.as_deref(),
        };
        prefix.filter(|prefix| !prefix.is_empty())
    }
}

/// flytestdlib's storage, logger and config flags, and copilot's root flags.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// A flytestdlib YAML config file (its `storage:` section is read); a `*` in the file
    /// name matches several, read in name order (propeller passes `/etc/flyte/copilot/*.yaml`).
    #[arg(long = "config", global = true, value_name = "FILE")]
    pub config: Option<String>,
    /// The name of the error document under the output prefix.
    #[arg(
        long = "err-output-name",
        global = true,
        default_value = flyte_proto::files::ERROR_FILE,
        value_name = "NAME"
    )]
    pub err_output_name: String,
    /// Accepted for compatibility; copilot never talks to the Kubernetes API.
    #[arg(long = "kubeconfig", global = true, value_name = "FILE", hide = true)]
    pub kubeconfig: Option<String>,
    /// Accepted for compatibility (flytecopilot: show line numbers in errors).
    #[arg(short = 's', long = "show-source", global = true, hide = true)]
    pub show_source: bool,
    /// flytestdlib's storage type: s3, minio, stow, local (mem is refused: nothing would survive the container).
    #[arg(long = "storage.type", global = true, value_name = "TYPE")]
    pub storage_type: Option<String>,
    /// flytestdlib's default container (bucket); URIs name their bucket, so it is only logged.
    #[arg(long = "storage.container", global = true, value_name = "BUCKET")]
    pub storage_container: Option<String>,
    /// Accepted for compatibility: every URI names its own bucket.
    #[arg(
        long = "storage.enable-multicontainer",
        global = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub storage_enable_multicontainer: Option<bool>,
    /// The S3-compatible endpoint (minio / s3 storage types).
    #[arg(
        long = "storage.connection.endpoint",
        global = true,
        value_name = "URL"
    )]
    pub connection_endpoint: Option<String>,
    /// The S3 region.
    #[arg(
        long = "storage.connection.region",
        global = true,
        value_name = "REGION"
    )]
    pub connection_region: Option<String>,
    /// `iam` (the SDK's credential chain) or `accesskey` (the two keys below).
    #[arg(
        long = "storage.connection.auth-type",
        global = true,
        value_name = "TYPE"
    )]
    pub connection_auth_type: Option<String>,
    /// The S3 access key id (prefer the environment or a config file: flags show in the pod spec).
    #[arg(
        long = "storage.connection.access-key",
        global = true,
        value_name = "KEY"
    )]
    pub connection_access_key: Option<String>,
    /// The S3 secret key (prefer the environment or a config file: flags show in the pod spec).
    #[arg(
        long = "storage.connection.secret-key",
        global = true,
        value_name = "KEY"
    )]
    pub connection_secret_key: Option<String>,
    /// Talk plain HTTP to an endpoint given without a scheme.
    #[arg(
        long = "storage.connection.disable-ssl",
        global = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub connection_disable_ssl: Option<bool>,
    /// The stow kind: s3, google, azure, local.
    #[arg(long = "storage.stow.kind", global = true, value_name = "KIND")]
    pub stow_kind: Option<String>,
    /// Stow settings as pflag reads them: `key=value` (commas and all), or `a=1,b=2`
    /// (a pair holding a comma double-quoted whole); repeatable.
    #[arg(long = "storage.stow.config", global = true, value_name = "KEY=VALUE")]
    pub stow_config: Vec<String>,
    /// Accepted for compatibility: downloads stream to disk, so no size limit is needed.
    #[arg(
        long = "storage.limits.maxDownloadMBs",
        global = true,
        value_name = "MB"
    )]
    pub max_download_mbs: Option<i64>,
    /// flytestdlib's log level: 0 panic … 3 warn, 4 info, 5 debug.
    #[arg(long = "logger.level", global = true, value_name = "LEVEL")]
    pub logger_level: Option<u8>,
}

/// `download`'s flags, as flytecopilot names them.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The inputs.pb to download.
    #[arg(short = 'f', long = "from-remote", value_name = "URI")]
    pub from_remote: Option<String>,
    /// The task's output prefix, where an error document goes if the download fails.
    #[arg(long = "to-output-prefix", value_name = "URI")]
    pub to_output_prefix: Option<String>,
    /// The local directory the inputs are written to.
    #[arg(short = 'o', long = "to-local-dir", value_name = "DIR")]
    pub to_local_dir: Option<String>,
    /// How the inputs are also described: JSON (inputs.json), YAML (inputs.yaml) or PROTO (inputs.pb only).
    #[arg(
        short = 'm',
        long = "format",
        default_value = "JSON",
        value_name = "FORMAT"
    )]
    pub format: String,
    /// DOWNLOAD_EAGER, DOWNLOAD_STREAM or DO_NOT_DOWNLOAD: checked, then ignored; all three download everything before the task starts, as flytecopilot does.
    #[arg(
        short = 'd',
        long = "download-mode",
        default_value = "DOWNLOAD_EAGER",
        value_name = "MODE"
    )]
    pub download_mode: String,
    /// How file inputs are laid out: DIRECT (`<dir>/<var>`, the only layout flyteidl 1.16 knows).
    #[arg(
        long = "file-input-layout",
        default_value = "DIRECT",
        value_name = "LAYOUT"
    )]
    pub file_input_layout: String,
    /// The longest the download may take (Go duration: 1h, 90s, 1h30m).
    #[arg(
        short = 't',
        long = "timeout",
        default_value = "1h",
        value_name = "DURATION"
    )]
    pub timeout: String,
    /// The task's input interface, a base64 flyteidl.core.VariableMap; checked when given.
    #[arg(short = 'i', long = "input-interface", value_name = "BASE64")]
    pub input_interface: Option<String>,
}

/// `sidecar`'s flags, as flytecopilot names them.
#[derive(Debug, Args)]
pub struct SidecarArgs {
    /// The task's output prefix: outputs.pb, or the error document, goes there.
    #[arg(short = 'o', long = "to-output-prefix", value_name = "URI")]
    pub to_output_prefix: Option<String>,
    /// The raw output prefix, under which files, directories and datasets are uploaded.
    #[arg(short = 'x', long = "to-raw-output", value_name = "URI")]
    pub to_raw_output: Option<String>,
    /// The local directory the task writes its outputs to.
    #[arg(short = 'f', long = "from-local-dir", value_name = "DIR")]
    pub from_local_dir: Option<String>,
    /// Accepted for compatibility (JSON, YAML, PROTO): outputs are read per their type.
    #[arg(
        short = 'm',
        long = "format",
        default_value = "JSON",
        value_name = "FORMAT"
    )]
    pub format: String,
    /// UPLOAD_ON_EXIT, UPLOAD_EAGER or DO_NOT_UPLOAD; all upload once the task ends.
    #[arg(
        short = 'u',
        long = "upload-mode",
        default_value = "UPLOAD_ON_EXIT",
        value_name = "MODE"
    )]
    pub upload_mode: String,
    /// The name of the outputs document under the output prefix.
    #[arg(
        long = "meta-output-name",
        default_value = "outputs.pb",
        value_name = "NAME"
    )]
    pub meta_output_name: String,
    /// The longest the upload may take once the task ended (Go duration; default 1h).
    #[arg(short = 't', long = "timeout", value_name = "DURATION")]
    pub timeout: Option<String>,
    /// The task's interface, a base64 flyteidl.core.TypedInterface.
    #[arg(short = 'i', long = "interface", value_name = "BASE64")]
    pub interface: Option<String>,
    /// Under the signal watcher, a deprecated alias of --timeout, used only when --timeout
    /// is not given (flytecopilot let its default 0 override --timeout, expiring the
    /// upload at once); under shared-process-ns, how long the task's container may take
    /// to start (0: no bound).
    #[arg(long = "start-timeout", value_name = "DURATION")]
    pub start_timeout: Option<String>,
    /// `signal` (wait for SIGTERM, sent to a native sidecar when the task's container
    /// ends), `shared-process-ns` (watch the pod's shared process namespace for the
    /// task's processes) or `noop` (do not wait). Unset: `shared-process-ns` when
    /// --start-timeout is given without --timeout (what propeller up to 1.15 passes),
    /// else `signal`.
    #[arg(long = "start-watcher-type", value_name = "TYPE")]
    pub start_watcher_type: Option<String>,
    /// Same choices as --start-watcher-type; `noop` here also means do not wait.
    #[arg(long = "exit-watcher-type", value_name = "TYPE")]
    pub exit_watcher_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_argv(argv: &[&str]) -> Parsed {
        parse(
            "flyte-copilot".to_owned(),
            argv.iter().map(OsString::from).collect(),
        )
    }

    #[test]
    fn a_refused_command_line_is_still_reportable_when_the_output_prefix_is_known() {
        for argv in [
            &[
                "flyte-copilot",
                "--flag-from-the-future=1",
                "sidecar",
                "-o",
                "/out",
            ][..],
            &[
                "flyte-copilot",
                "sidecar",
                "-o",
                "/out",
                "--logger.level=loud",
            ],
            &[
                "flyte-copilot",
                "download",
                "--to-output-prefix",
                "/out",
                "--bogus",
            ],
            &[
                "flyte-copilot",
                "sidecar",
                "--new-flag",
                "value",
                "-o",
                "/out",
            ],
            &["flyte-copilot", "sidecar", "-o", "/out", "--start-timeout"],
        ] {
            match parse_argv(argv) {
                Parsed::Flawed { cli, error } => {
                    assert_eq!(cli.command.output_prefix(), Some("/out"), "{argv:?}");
                    assert!(error.use_stderr());
                }
                other => panic!("{argv:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_command_line_with_nothing_to_report_to_is_clap_s_to_refuse() {
        for argv in [
            &["flyte-copilot", "sidecar", "--flag-from-the-future"][..],
            &["flyte-copilot", "sidecar", "-o", "", "--bogus"],
            &["flyte-copilot", "--bogus"],
            &["flyte-copilot", "upload", "-o", "/out"],
        ] {
            match parse_argv(argv) {
                Parsed::Rejected(error) => assert!(error.use_stderr(), "{argv:?}"),
                other => panic!("{argv:?}: {other:?}"),
            }
        }
        match parse_argv(&["flyte-copilot", "--help"]) {
            Parsed::Rejected(help) => assert!(!help.use_stderr()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_argv(&["flyte-copilot", "sidecar", "-o", "/out"]),
            Parsed::Complete(_)
        ));
    }
}
