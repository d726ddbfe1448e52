//! The execute pipeline of pyflyte-execute: one task run, whatever runs the task.
//!
//! This crate owns one task run from start to end:
//! 1. [`Executor::prepare`] (loading the task) runs while the pipeline downloads
//!    `inputs.pb`, so the slow part of starting a task overlaps the transfer;
//! 2. [`Executor::execute`] runs the task on the checked inputs;
//! 3. the pipeline writes the [`TaskOutcome`] under the output prefix: `outputs.pb` (and
//!    any offloaded literals beside it), `futures.pb`, an error document, or nothing
//!    (IgnoreOutputs).
//!
//! What runs the task is an [`Executor`], told where the task's data lives and given the
//! run's storage and a scratch directory in a [`TaskContext`]: [`FnExecutor`] runs an
//! async Rust closure, so Rust tools and tests run tasks with no other language at all; the flyte-python crate's
//! executor runs a flytekit task in a supervised Python worker.
//!
//! **Architecture invariants:**
//! - the pipeline alone decides every URI it writes ([`run_task`] joins them, with
//!   [`flyte_storage::join`]); executors hand back data (an outcome, file names, an
//!   output subdirectory), never locations;
//! - it knows no task language, starts no process and touches no signal: a stop from
//!   outside arrives as a [`Stop`] in [`RunSettings`], which every phase races;
//! - it never reads the process environment or argv: everything arrives in
//!   [`RunSettings`], built by the caller;
//! - a run always ends in a written outcome when the output prefix is writable: every
//!   failure of the task, its loading, its inputs, its executor (a panic included) or
//!   the run's scratch directory becomes an error document, and [`run_task`] returns
//!   `Err` only when that document cannot be written (or a dry run, which writes
//!   nothing, cannot make its scratch directory).
//!
//! # Example
//!
//! ```
//! use flyte_proto::literal;
//! use flyte_proto::core::LiteralMap;
//! use flyte_runtime::{FnExecutor, RunSettings, TaskContext, TaskLocations, run_task};
//! use flyte_storage::{Storage, StorageConfig};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("input `{0}` is not an integer")]
//! struct NotAnInteger(&'static str);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let inputs = literal::literal_map([("a", literal::integer(7)), ("b", literal::integer(2))]);
//! flyte_proto::io::write_literal_map(&dir.path().join("inputs.pb"), &inputs)?;
//!
//! // An `Err` would be written as a user error document, its causes in the message.
//! let divide = FnExecutor::new(|_context: TaskContext, inputs: LiteralMap| async move {
//!     let int = |name| inputs.literals.get(name).and_then(|l| l.as_integer()).ok_or(NotAnInteger(name));
//!     let (a, b) = (int("a")? as f64, int("b")? as f64);
//!     Ok::<_, NotAnInteger>(literal::literal_map([("o0", literal::float(a / b))]))
//! });
//! let task = TaskLocations::new(
//!     dir.path().join("inputs.pb").display().to_string(),
//!     dir.path().join("out").display().to_string(),
//! );
//! let settings = RunSettings::new(task, dir.path().join("scratch"));
//! let storage = Storage::new(StorageConfig::default());
//! let report = run_task(divide, &storage, &settings, &flyte_telemetry::Metrics::disabled()).await?;
//! assert_eq!(report.exit_code, 0);
//! let outputs = flyte_proto::io::read_literal_map(&dir.path().join("out/outputs.pb"))?;
//! assert_eq!(outputs.literals["o0"].as_float(), Some(3.5));
//! # Ok(())
//! # }
//! ```

mod executor;
mod outcome;
mod panic;
mod pipeline;
mod recoverable;
mod stop;
pub mod termination;

pub use executor::{Executor, FnExecutor, Prepared, TaskContext, TaskInputs, TaskLocations};
pub use outcome::{Payload, TaskOutcome, TaskOutputs};
pub use pipeline::{PipelineError, RunReport, RunSettings, STOPPED_CODE, run_task, write_failure};
pub use recoverable::Recoverable;
pub use stop::{Stop, StopRequest, StopSender, stop_channel};
