//! The command line, flag for flag as flytekit 1.16's `pyflyte-execute`.

use clap::Parser;

/// The resolver flytekit's legacy `--task-module/--task-name` form stands for.
pub const DEFAULT_TASK_RESOLVER: &str = "flytekit.core.python_auto_container.default_task_resolver";

/// The flags `pyflyte-execute` and `pyflyte-map-execute` share.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// URI of the task's inputs.pb.
    #[arg(long)]
    pub inputs: String,
    /// URI of the directory that receives outputs.pb, futures.pb or error.pb.
    #[arg(long)]
    pub output_prefix: String,
    /// URI under which offloaded data (files, directories, dataframes) is written.
    #[arg(long)]
    pub raw_output_data_prefix: Option<String>,
    /// URI the task's checkpoint is written to.
    #[arg(long)]
    pub checkpoint_path: Option<String>,
    /// URI of the previous attempt's checkpoint.
    #[arg(long)]
    pub prev_checkpoint: Option<String>,
    /// Load the task and stop: nothing is run, read or written.
    #[arg(long)]
    pub test: bool,
    /// Fast-registration code archive, for dynamic tasks run in fast mode.
    #[arg(long)]
    pub dynamic_addl_distro: Option<String>,
    /// Where fast-registration code is unpacked, for dynamic tasks run in fast mode.
    #[arg(long)]
    pub dynamic_dest_dir: Option<String>,
    /// The resolver's arguments, usually after `--`: task-module M task-name N. An
    /// unknown option before them is refused (exit status 2), as click refuses it.
    #[arg(trailing_var_arg = true)]
    pub resolver_args: Vec<String>,
}

/// Runs one Flyte task: downloads its inputs, runs it through flytekit in a supervised
/// Python worker, and writes outputs.pb, futures.pb or an error document to the output prefix.
#[derive(Debug, Parser)]
#[command(name = "pyflyte-execute", version, about)]
pub struct ExecuteArgs {
    /// Flags shared with pyflyte-map-execute.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The task resolver (an importable Python object), e.g.
    /// flytekit.core.python_auto_container.default_task_resolver.
    #[arg(long)]
    pub resolver: Option<String>,
    /// Legacy form: the module holding the task (implies the default task resolver).
    #[arg(long, hide = true)]
    pub task_module: Option<String>,
    /// Legacy form: the task's name in --task-module.
    #[arg(long, hide = true)]
    pub task_name: Option<String>,
}

/// Runs one element of a map task: the element whose index the batch environment gives
/// (BATCH_JOB_ARRAY_INDEX_VAR_NAME names the variable holding it, plus
/// BATCH_JOB_ARRAY_INDEX_OFFSET).
#[derive(Debug, Parser)]
#[command(name = "pyflyte-map-execute", version, about)]
pub struct MapExecuteArgs {
    /// Flags shared with pyflyte-execute.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The map task resolver class, e.g.
    /// flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver.
    #[arg(long)]
    pub resolver: String,
    /// How many elements of the map run at once, passed to the resolver.
    #[arg(long)]
    pub max_concurrency: Option<i64>,
    /// flytekit 1.10 and 1.11 (whose array node map tasks are serialized with it): run
    /// the element with `ArrayNodeMapTaskResolver` rather than the legacy resolver,
    /// whatever `--resolver` says. Later flytekit has no such flag; ours ignores it there.
    #[arg(long)]
    pub experimental: bool,
}

/// Downloads and unpacks a fast-registered code archive, then runs the task command
/// after `--` with the archive's directory importable.
#[derive(Debug, Parser)]
#[command(name = "pyflyte-fast-execute", version, about)]
pub struct FastExecuteArgs {
    /// URI of the code archive (.tar.gz), on any supported storage.
    #[arg(long)]
    pub additional_distribution: Option<String>,
    /// Where to unpack it (default: the working directory).
    #[arg(long)]
    pub dest_dir: Option<String>,
    /// The task command to run, e.g. `pyflyte-execute --inputs … --resolver … -- …`,
    /// after `--`. An unknown option before it is refused (exit status 2), as click
    /// refuses it, instead of being run as the command.
    #[arg(trailing_var_arg = true)]
    pub task_execute_cmd: Vec<String>,
}

/// What to load, once the legacy and the current forms are reconciled.
#[derive(Debug, PartialEq, Eq)]
pub struct TaskLocation {
    /// The resolver to import.
    pub resolver: String,
    /// Its `load_task` arguments.
    pub resolver_args: Vec<String>,
}

impl ExecuteArgs {
    /// The resolver and its arguments, from `--resolver … -- args` or from the legacy
    /// `--task-module M --task-name N`.
    pub fn task_location(&self) -> Result<TaskLocation, String> {
        match (&self.resolver, &self.task_module, &self.task_name) {
            (Some(resolver), None, None) => resolver_location(resolver, &self.common.resolver_args),
            (None, Some(module), Some(name)) => Ok(TaskLocation {
                resolver: DEFAULT_TASK_RESOLVER.to_owned(),
                resolver_args: ["task-module", module, "task-name", name]
                    .map(str::to_owned)
                    .to_vec(),
            }),
            (None, None, None) => Err(
                "no task to run: pass --resolver <resolver> -- <resolver args>, or the legacy \
                 --task-module <module> --task-name <name>"
                    .to_owned(),
            ),
            _ => Err(
                "use either --resolver … -- <args> or --task-module with --task-name, not a mix"
                    .to_owned(),
            ),
        }
    }
}

impl MapExecuteArgs {
    /// The map task resolver and its arguments.
    pub fn task_location(&self) -> Result<TaskLocation, String> {
        resolver_location(&self.resolver, &self.common.resolver_args)
    }
}

/// `--resolver R -- args`; flytekit refuses a resolver with no arguments.
fn resolver_location(resolver: &str, args: &[String]) -> Result<TaskLocation, String> {
    if args.is_empty() {
        return Err(format!(
            "--resolver {resolver} was given no resolver arguments; pass them after `--`, \
             e.g. `-- task-module app.workflows task-name my_task`"
        ));
    }
    Ok(TaskLocation {
        resolver: resolver.to_owned(),
        resolver_args: args.to_vec(),
    })
}

impl CommonArgs {
    /// Propeller leaves template strings unfilled when it has no value; flytekit treats
    /// them (and an empty previous checkpoint) as absent. So do we.
    pub fn normalize_templates(&mut self) {
        let unfilled = |value: &Option<String>, template: &str| value.as_deref() == Some(template);
        if unfilled(&self.raw_output_data_prefix, "{{.rawOutputDataPrefix}}") {
            self.raw_output_data_prefix = None;
        }
        if unfilled(&self.checkpoint_path, "{{.checkpointOutputPrefix}}") {
            self.checkpoint_path = None;
        }
        if matches!(
            self.prev_checkpoint.as_deref(),
            Some("{{.prevCheckpointPrefix}}" | "" | "\"\"")
        ) {
            self.prev_checkpoint = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> ExecuteArgs {
        ExecuteArgs::try_parse_from(std::iter::once("pyflyte-execute").chain(args.iter().copied()))
            .expect("parses")
    }

    const BASE: [&str; 4] = [
        "--inputs",
        "s3://b/inputs.pb",
        "--output-prefix",
        "s3://b/out",
    ];

    #[test]
    fn resolver_args_after_double_dash_are_kept_verbatim() {
        let args = parse(
            &[
                &BASE[..],
                &[
                    "--resolver",
                    "r.res",
                    "--",
                    "task-module",
                    "app",
                    "task-name",
                    "--odd",
                ],
            ]
            .concat(),
        );
        let location = args.task_location().expect("location");
        assert_eq!(location.resolver, "r.res");
        assert_eq!(
            location.resolver_args,
            ["task-module", "app", "task-name", "--odd"]
        );
    }

    #[test]
    fn legacy_task_module_form_uses_the_default_resolver() {
        let args = parse(
            &[
                &BASE[..],
                &[
                    "--task-module",
                    "app.workflows.failing",
                    "--task-name",
                    "divider",
                ],
            ]
            .concat(),
        );
        assert_eq!(
            args.task_location().expect("location"),
            TaskLocation {
                resolver: DEFAULT_TASK_RESOLVER.to_owned(),
                resolver_args: vec![
                    "task-module".into(),
                    "app.workflows.failing".into(),
                    "task-name".into(),
                    "divider".into()
                ],
            }
        );
    }

    #[test]
    fn a_resolver_without_arguments_is_refused_with_a_hint() {
        let args = parse(&[&BASE[..], &["--resolver", "r.res"]].concat());
        assert!(
            args.task_location()
                .expect_err("refused")
                .contains("after `--`")
        );
    }

    #[test]
    fn unfilled_templates_are_treated_as_absent() {
        let mut args = parse(
            &[
                &BASE[..],
                &[
                    "--raw-output-data-prefix",
                    "{{.rawOutputDataPrefix}}",
                    "--checkpoint-path",
                    "{{.checkpointOutputPrefix}}",
                    "--prev-checkpoint",
                    "\"\"",
                    "--resolver",
                    "r",
                    "--",
                    "a",
                ],
            ]
            .concat(),
        );
        args.common.normalize_templates();
        assert_eq!(
            (
                args.common.raw_output_data_prefix,
                args.common.checkpoint_path,
                args.common.prev_checkpoint
            ),
            (None, None, None)
        );
    }

    #[test]
    fn map_execute_takes_max_concurrency_and_a_required_resolver() {
        let args = MapExecuteArgs::try_parse_from(
            ["pyflyte-map-execute", "--max-concurrency", "4"]
                .into_iter()
                .chain(BASE)
                .chain([
                    "--resolver",
                    "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver",
                    "--",
                    "vars",
                    "a",
                ]),
        )
        .expect("parses");
        assert_eq!(args.max_concurrency, Some(4));
        assert_eq!(
            args.task_location().expect("location").resolver_args,
            ["vars", "a"]
        );
        assert!(
            MapExecuteArgs::try_parse_from(["pyflyte-map-execute"].into_iter().chain(BASE))
                .is_err()
        );
    }

    #[test]
    fn fast_execute_keeps_the_inner_command_verbatim() {
        let args = FastExecuteArgs::try_parse_from([
            "pyflyte-fast-execute",
            "--additional-distribution",
            "s3://b/code.tar.gz",
            "--dest-dir",
            ".",
            "--",
            "pyflyte-execute",
            "--inputs",
            "x",
            "--resolver",
            "r",
            "--",
            "a",
        ])
        .expect("parses");
        assert_eq!(
            args.task_execute_cmd,
            [
                "pyflyte-execute",
                "--inputs",
                "x",
                "--resolver",
                "r",
                "--",
                "a"
            ]
        );
    }

    #[test]
    fn unknown_options_are_refused_not_taken_for_arguments() {
        let execute =
            ExecuteArgs::try_parse_from(["pyflyte-execute"].into_iter().chain(BASE).chain([
                "--bogus",
                "--resolver",
                "r",
                "--",
                "a",
            ]));
        assert_eq!(
            execute.expect_err("refused").kind(),
            clap::error::ErrorKind::UnknownArgument
        );
        let fast = FastExecuteArgs::try_parse_from([
            "pyflyte-fast-execute",
            "--bogus",
            "--",
            "pyflyte-execute",
        ]);
        assert_eq!(
            fast.expect_err("refused").kind(),
            clap::error::ErrorKind::UnknownArgument
        );
        // After `--`, anything goes.
        let fast = FastExecuteArgs::try_parse_from([
            "pyflyte-fast-execute",
            "--",
            "pyflyte-execute",
            "--bogus",
        ])
        .expect("parses");
        assert_eq!(fast.task_execute_cmd, ["pyflyte-execute", "--bogus"]);
    }

    #[test]
    fn every_flytekit_flag_is_accepted() {
        let args = parse(
            &[
                &BASE[..],
                &[
                    "--raw-output-data-prefix",
                    "s3://b/raw",
                    "--checkpoint-path",
                    "s3://b/ck",
                    "--prev-checkpoint",
                    "s3://b/prev",
                    "--test",
                    "--dynamic-addl-distro",
                    "s3://b/code.tar.gz",
                    "--dynamic-dest-dir",
                    ".",
                    "--resolver",
                    "r",
                    "--",
                    "x",
                ],
            ]
            .concat(),
        );
        assert!(args.common.test);
        assert_eq!(args.common.prev_checkpoint.as_deref(), Some("s3://b/prev"));
        assert_eq!(args.common.dynamic_dest_dir.as_deref(), Some("."));
    }
}
