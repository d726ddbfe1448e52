//! The [`Executor`] trait: what runs a task, whatever language the task is in.

use std::future::Future;
use std::path::PathBuf;

use flyte_proto::core::LiteralMap;

use crate::TaskOutcome;

/// A task's inputs, once downloaded and decoded.
#[derive(Debug, Clone)]
pub struct TaskInputs {
    /// The decoded input literals.
    pub literals: LiteralMap,
    /// A local copy of `inputs.pb`, byte for byte as downloaded, for executors that
    /// hand the file to another process.
    pub local_path: PathBuf,
}

/// Runs one task. The pipeline calls [`prepare`](Executor::prepare) once, concurrently
/// with downloading the inputs, then [`execute`](Executor::execute) at most once, then
/// [`shutdown`](Executor::shutdown) exactly once.
///
/// Implementations report every failure as a [`TaskOutcome`] (never a panic, never a
/// lost error): the pipeline writes whatever they return.
pub trait Executor {
    /// Gets ready to run: loads the task. An `Err` ends the run with that outcome and
    /// takes precedence over a failed inputs download, as in flytekit, which loads the
    /// task before it reads the inputs.
    fn prepare(&mut self) -> impl Future<Output = Result<(), TaskOutcome>> + Send {
        async { Ok(()) }
    }

    /// Runs the task on `inputs`.
    fn execute(&mut self, inputs: TaskInputs) -> impl Future<Output = TaskOutcome> + Send;

    /// Releases whatever the executor holds (processes, connections). Called after the
    /// outcome is written, so a slow shutdown never delays the outputs.
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Where the outcome goes, when the executor knows better than the run's settings;
    /// asked after [`prepare`](Executor::prepare). flytekit's legacy map tasks write
    /// under `<output prefix>/<array index>`, which only the loaded resolver can tell.
    fn output_prefix(&self) -> Option<&str> {
        None
    }
}

/// An [`Executor`] made of a Rust function from inputs to an outcome.
///
/// ```
/// use flyte_proto::literal;
/// use flyte_runtime::{FnExecutor, TaskOutcome};
///
/// let echo = FnExecutor::new(|inputs| TaskOutcome::outputs(inputs));
/// # let _ = echo;
/// ```
pub struct FnExecutor<F> {
    task: F,
}

impl<F> FnExecutor<F>
where
    F: FnMut(LiteralMap) -> TaskOutcome + Send,
{
    /// Wraps `task`, which receives the decoded inputs.
    pub fn new(task: F) -> Self {
        FnExecutor { task }
    }
}

impl<F> Executor for FnExecutor<F>
where
    F: FnMut(LiteralMap) -> TaskOutcome + Send,
{
    async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
        (self.task)(inputs.literals)
    }
}
