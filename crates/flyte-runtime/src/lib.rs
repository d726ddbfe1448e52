//! The execute pipeline of pyflyte-execute, and the executors that run a task in it.
//!
//! This crate owns one task run from start to end:
//! 1. [`Executor::prepare`] (loading the task) runs while the pipeline downloads
//!    `inputs.pb`, so the slow part of starting Python overlaps the transfer;
//! 2. [`Executor::execute`] runs the task on the decoded inputs;
//! 3. the pipeline writes the [`TaskOutcome`] to the output prefix: `outputs.pb`,
//!    `futures.pb`, an error document, or nothing (IgnoreOutputs).
//!
//! Two executors exist: [`PythonExecutor`], a supervised Python worker that runs a
//! flytekit task through flytekit itself, and [`FnExecutor`], a Rust closure, so Rust
//! tools and tests can run tasks with no Python at all.
//!
//! **Architecture invariants:**
//! - this is the only crate that starts processes or touches signals;
//! - it never reads the process environment or argv: everything arrives in
//!   [`RunSettings`] and [`PythonWorkerSettings`], built by the binary;
//! - a task run always ends in a written outcome when the output prefix is writable:
//!   a worker that crashes, is killed or exits early still yields an error document
//!   (the supervisor outlives the worker).
//!
//! # Example
//!
//! ```
//! use flyte_proto::literal;
//! use flyte_runtime::{FnExecutor, RunSettings, TaskOutcome, run_task};
//! use flyte_storage::{Storage, StorageConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let inputs = literal::literal_map([("a", literal::integer(7)), ("b", literal::integer(2))]);
//! flyte_proto::io::write_literal_map(&dir.path().join("inputs.pb"), &inputs)?;
//!
//! let divide = FnExecutor::new(|inputs: flyte_proto::core::LiteralMap| {
//!     let a = inputs.literals["a"].as_integer().unwrap_or_default() as f64;
//!     let b = inputs.literals["b"].as_integer().unwrap_or_default() as f64;
//!     TaskOutcome::outputs(literal::literal_map([("o0", literal::float(a / b))]))
//! });
//! let settings = RunSettings::new(
//!     dir.path().join("inputs.pb").display().to_string(),
//!     dir.path().join("out").display().to_string(),
//!     dir.path().join("scratch"),
//! );
//! let storage = Storage::new(StorageConfig::default());
//! let report = run_task(divide, &storage, &settings, &flyte_telemetry::Metrics::disabled()).await?;
//! assert_eq!(report.exit_code, 0);
//! let outputs = flyte_proto::io::read_literal_map(&dir.path().join("out/outputs.pb"))?;
//! assert_eq!(outputs.literals["o0"].as_float(), Some(3.5));
//! # Ok(())
//! # }
//! ```

mod executor;
pub mod fast;
mod outcome;
mod pipeline;
mod python;
mod signals;

pub use executor::{Executor, FnExecutor, TaskInputs};
pub use outcome::TaskOutcome;
pub use pipeline::{PipelineError, RunReport, RunSettings, run_task};
pub use python::{MapTaskSettings, PythonExecutor, PythonWorkerSettings};
