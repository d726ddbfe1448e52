//! The messages between the supervisor and worker.py, one JSON object per line.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{MapTaskSettings, PythonWorkerSettings};

/// Supervisor to worker.
#[derive(Debug, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub(super) enum Command {
    /// The run's settings; sent once, first.
    Start(Box<StartSettings>),
    /// Run the loaded task on these inputs (a local inputs.pb).
    Run { inputs: String },
}

/// The settings flytekit's `setup_execution` and `_dispatch_execute` take.
#[derive(Debug, Serialize)]
pub(super) struct StartSettings {
    resolver: String,
    resolver_args: Vec<String>,
    output_prefix: String,
    raw_output_data_prefix: Option<String>,
    checkpoint_path: Option<String>,
    prev_checkpoint: Option<String>,
    dynamic_addl_distro: Option<String>,
    dynamic_dest_dir: Option<String>,
    test: bool,
    staging_dir: String,
    map_task: Option<MapTaskSettings>,
    bridge_module: String,
}

impl StartSettings {
    pub(super) fn new(settings: &PythonWorkerSettings, staging_dir: &Path) -> Self {
        StartSettings {
            resolver: settings.resolver.clone(),
            resolver_args: settings.resolver_args.clone(),
            output_prefix: settings.output_prefix.clone(),
            raw_output_data_prefix: settings.raw_output_data_prefix.clone(),
            checkpoint_path: settings.checkpoint_path.clone(),
            prev_checkpoint: settings.prev_checkpoint.clone(),
            dynamic_addl_distro: settings.dynamic_addl_distro.clone(),
            dynamic_dest_dir: settings.dynamic_dest_dir.clone(),
            test: settings.test,
            staging_dir: staging_dir.display().to_string(),
            map_task: settings.map_task.clone(),
            bridge_module: settings
                .scratch_dir
                .join("pyflyte_execute_bridge.py")
                .display()
                .to_string(),
        }
    }
}

/// Worker to supervisor.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum WorkerEvent {
    /// The task was loaded (`ok`), or loading it raised (`!ok`; flytekit reports it on
    /// run). `output_prefix` is where flytekit writes the outcome: the run's output
    /// prefix, or `<output prefix>/<array index>` for legacy map tasks.
    Loaded { ok: bool, output_prefix: String },
    /// The resolver named on the command line could not be imported.
    ResolverFailed(PythonError),
    /// `--test`: everything loaded, nothing run.
    TestPassed,
    /// flytekit's dispatch finished; these files are in the staging directory.
    Finished {
        files: Vec<String>,
        /// The worker's peak resident memory so far, in KiB.
        #[serde(default)]
        peak_rss_kib: Option<u64>,
    },
    /// The worker script itself failed (e.g. flytekit is not installed).
    Fatal(PythonError),
}

/// An exception the worker caught, described.
#[derive(Debug, Deserialize)]
pub(super) struct PythonError {
    /// The formatted traceback.
    pub(super) trace: String,
    /// `type(exc).__name__`.
    pub(super) error_type: String,
    /// `str(exc)`.
    pub(super) error_message: String,
}
