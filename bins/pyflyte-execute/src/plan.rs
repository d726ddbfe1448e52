//! Flags and environment in, the library crates' settings out: the one place where a
//! command-line flag becomes a setting (ripgrep's "low-level args to high-level args"
//! step). main.rs only composes what this returns.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flyte_python::{MapTaskSettings, PythonWorkerSettings};
use flyte_runtime::{RunSettings, TaskLocations};

use crate::cli::{CommonArgs, FastExecuteArgs, TaskLocation};
use crate::environment::Environment;

/// Everything one `pyflyte-execute` / `pyflyte-map-execute` run needs, decided up front.
#[derive(Debug)]
pub struct ExecutePlan {
    /// The pipeline's settings: where the task's data lives, and flytekit's policies.
    pub run: RunSettings,
    /// How to start the Python worker and which task it loads.
    pub worker: PythonWorkerSettings,
}

impl ExecutePlan {
    /// The plan for running the task `location` with `args`, using the local directory
    /// `scratch` for this run's own files.
    pub fn new(
        mut args: CommonArgs,
        location: TaskLocation,
        map_task: Option<MapTaskSettings>,
        environment: &Environment,
        scratch: &Path,
    ) -> Self {
        args.normalize_templates();
        let runtime = &environment.config.runtime;
        let mut task = TaskLocations::new(args.inputs, args.output_prefix);
        task.raw_output_data_prefix = args.raw_output_data_prefix;
        task.checkpoint_path = args.checkpoint_path;
        task.prev_checkpoint = args.prev_checkpoint;
        let mut run = RunSettings::new(task, scratch.join("pipeline"));
        run.dry_run = args.test;
        run.error_file_name =
            flyte_errors::error_file_name(runtime.distributed_error_strategy.is_some());
        run.worker_name = runtime.worker_name.clone();
        run.fail_on_error = runtime.fail_on_error;
        run.termination_message_path = environment.termination_message_path.clone();
        let mut worker = PythonWorkerSettings::new(
            environment.python.clone(),
            location.resolver,
            location.resolver_args,
            scratch.join("worker"),
        );
        worker.dynamic_addl_distro = args.dynamic_addl_distro;
        worker.dynamic_dest_dir = args.dynamic_dest_dir;
        worker.map_task = map_task;
        worker.env = flyte_settings::worker_env(&environment.config);
        worker.stop_grace = environment.stop_grace;
        worker.setting_names = crate::environment::worker_setting_names();
        ExecutePlan { run, worker }
    }
}

/// Everything one `pyflyte-fast-execute` run needs.
#[derive(Debug)]
pub struct FastExecutePlan {
    /// The code archive to install, and where.
    pub distribution: Option<Distribution>,
    /// The task command to run once it is installed.
    pub command: Vec<String>,
    /// The directory appended to `PYTHONPATH` for the task command.
    pub dest_dir: Option<PathBuf>,
    /// The output prefix the task command would write its outcome under, so that a
    /// failure to install the code is reported there instead of lost (`None` when the
    /// command names none).
    pub failure_prefix: Option<String>,
    /// The worker name stamped on that failure (flytekit's, under the distributed error
    /// strategy; empty otherwise).
    pub worker_name: String,
}

/// A fast-registered code archive and where it is unpacked.
#[derive(Debug, PartialEq, Eq)]
pub struct Distribution {
    /// The archive's URI.
    pub uri: String,
    /// The directory it is unpacked into.
    pub destination: PathBuf,
}

impl FastExecutePlan {
    /// The plan for `args`. flytekit unpacks into the working directory when no
    /// destination is given, and tells the task command where it did.
    pub fn new(args: FastExecuteArgs, environment: &Environment) -> Result<Self> {
        let dest_dir = args.dest_dir.map(PathBuf::from);
        let failure_prefix = output_prefix_of(&args.task_execute_cmd);
        let worker_name = environment.config.runtime.worker_name.clone();
        let Some(uri) = args.additional_distribution else {
            return Ok(FastExecutePlan {
                distribution: None,
                command: args.task_execute_cmd,
                dest_dir,
                failure_prefix,
                worker_name,
            });
        };
        let destination = match dest_dir {
            Some(dir) => dir,
            None => environment
                .current_dir
                .clone()
                .context("reading the working directory, where the code archive is unpacked without --dest-dir")?,
        };
        let command = flyte_python::fast::inner_command(
            &args.task_execute_cmd,
            &uri,
            &destination.display().to_string(),
        );
        Ok(FastExecutePlan {
            distribution: Some(Distribution {
                uri,
                destination: destination.clone(),
            }),
            command,
            dest_dir: Some(destination),
            failure_prefix,
            worker_name,
        })
    }
}

/// The `--output-prefix` of a `pyflyte-execute`/`pyflyte-map-execute` command line (as
/// `--output-prefix X` or `--output-prefix=X`, before any `--`).
fn output_prefix_of(command: &[String]) -> Option<String> {
    let mut args = command.iter().take_while(|arg| *arg != "--");
    while let Some(arg) = args.next() {
        if arg == "--output-prefix" {
            return args.next().cloned();
        }
        if let Some(value) = arg.strip_prefix("--output-prefix=") {
            return Some(value.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn the_inner_commands_output_prefix_is_found_in_either_spelling() {
        let spaced = strings(&[
            "pyflyte-execute",
            "--inputs",
            "i",
            "--output-prefix",
            "s3://b/o",
            "--",
            "x",
        ]);
        assert_eq!(output_prefix_of(&spaced).as_deref(), Some("s3://b/o"));
        let joined = strings(&["pyflyte-map-execute", "--output-prefix=s3://b/m"]);
        assert_eq!(output_prefix_of(&joined).as_deref(), Some("s3://b/m"));
        let after_separator = strings(&["pyflyte-execute", "--", "--output-prefix", "no"]);
        assert_eq!(output_prefix_of(&after_separator), None);
    }
}
