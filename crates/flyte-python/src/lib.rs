//! Runs flytekit tasks for the pyflyte-execute pipeline: a supervised Python worker.
//!
//! This crate owns everything about Python:
//! - [`PythonExecutor`], the [`flyte_runtime::Executor`] that starts a worker process
//!   (`python/worker.py`, embedded in the binary) at once, so Python's start-up and
//!   flytekit's import overlap the inputs download, and turns whatever the worker does
//!   (report, raise, segfault, `os._exit`, get OOM-killed) into a
//!   [`flyte_runtime::TaskOutcome`];
//! - the control protocol with the worker (`control`), typed on the Rust side and listed
//!   once in `protocol.json`, whose version the worker checks at start-up;
//! - the storage bridge (`bridge` and `python/fsspec_bridge.py`): the worker's fsspec
//!   calls for s3, gs and abfs are served by flyte-storage in this process, so no
//!   remote byte moves through Python and s3fs, gcsfs and adlfs are never imported;
//! - [`fast`]: `pyflyte-fast-execute`'s code archive, unpacked safely, and the task
//!   command run with it importable;
//! - [`interpreter`]: what an interpreter says about its flytekit (`--version`);
//! - [`compat`]: the flytekit and Python versions tasks run with;
//! - signals: [`catch_stop_signals`] catches SIGTERM, SIGINT and SIGUSR1 for the whole
//!   process and turns the first stop signal into a [`flyte_runtime::Stop`] request,
//!   which the pipeline races every phase against and [`PythonExecutor`] passes on to
//!   its worker at whatever phase it comes, SIGKILLing a worker that does not stop
//!   within its grace, so an error document is still written.
//!
//! **Architecture invariants:**
//! - the only crate that starts processes or touches signals;
//! - never decides where the outcome goes: the worker stages flytekit's files locally
//!   and the pipeline writes them (an output subdirectory and offloaded literals come
//!   back as data);
//! - never reads the process environment or argv: [`PythonWorkerSettings`] carries
//!   everything, and the worker's environment is this process's plus
//!   [`PythonWorkerSettings::env`];
//! - the worker runs the task through flytekit's own entrypoint functions, so outputs
//!   and error classification are flytekit's, not a re-implementation.
//!
//! # Example
//!
//! ```no_run
//! use flyte_python::{PythonExecutor, PythonWorkerSettings};
//! use flyte_runtime::{RunSettings, TaskLocations, run_task};
//! use flyte_storage::{Storage, StorageConfig};
//! use flyte_telemetry::Metrics;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = Storage::new(StorageConfig::default());
//! let worker = PythonExecutor::spawn(
//!     PythonWorkerSettings::new(
//!         "python3",
//!         "flytekit.core.python_auto_container.default_task_resolver",
//!         ["task-module", "app.workflows", "task-name", "divide"].map(String::from),
//!         "/tmp/run/worker",
//!     ),
//!     storage.clone(),
//!     Metrics::disabled(),
//! );
//! let task = TaskLocations::new("s3://bucket/inputs.pb", "s3://bucket/outputs/0");
//! let settings = RunSettings::new(task, "/tmp/run/pipeline");
//! let report = run_task(worker, &storage, &settings, &Metrics::disabled()).await?;
//! std::process::exit(report.exit_code);
//! # }
//! ```

mod bridge;
pub mod compat;
mod control;
mod embedded;
mod executor;
mod exit;
pub mod fast;
pub mod interpreter;
mod lines;
mod memory;
mod settings;
mod signals;
mod staged;
mod stderr_tail;
mod worker;

pub use executor::PythonExecutor;
pub use settings::{
    DEFAULT_STOP_GRACE, MAX_STOP_GRACE, MapTaskSettings, PythonWorkerSettings, SettingNames,
};
pub use signals::catch_stop_signals;
