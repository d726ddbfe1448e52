//! The [`Executor`] trait: what runs a task, whatever language the task is in.

use std::future::Future;
use std::path::PathBuf;

use flyte_proto::core::LiteralMap;

use crate::TaskOutcome;

/// Where a task's data lives, as the command line gave it. The pipeline owns these: it
/// reads the inputs and writes the outcome itself, and tells the executor the rest in
/// [`Executor::prepare`] (a task may read its previous checkpoint, write raw data, or
/// write metadata such as decks under the output prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLocations {
    /// URI of `inputs.pb`.
    pub inputs: String,
    /// URI of the directory that receives `outputs.pb`, `futures.pb` or the error
    /// document.
    pub output_prefix: String,
    /// URI under which the task writes offloaded data (files, directories, dataframes);
    /// `None` leaves the choice to the executor's configured default.
    pub raw_output_data_prefix: Option<String>,
    /// URI the task's checkpoint is written to.
    pub checkpoint_path: Option<String>,
    /// URI of the previous attempt's checkpoint.
    pub prev_checkpoint: Option<String>,
}

impl TaskLocations {
    /// Locations with only the inputs and the output prefix set.
    pub fn new(inputs: impl Into<String>, output_prefix: impl Into<String>) -> Self {
        TaskLocations {
            inputs: inputs.into(),
            output_prefix: output_prefix.into(),
            raw_output_data_prefix: None,
            checkpoint_path: None,
            prev_checkpoint: None,
        }
    }
}

/// A task's inputs, once downloaded and checked: a local copy of `inputs.pb`, byte for
/// byte as downloaded. Executors that hand the file to another process never decode it
/// in this one; [`TaskInputs::literals`] decodes it for those that need the values.
#[derive(Debug, Clone)]
pub struct TaskInputs {
    /// The local copy of `inputs.pb`.
    pub local_path: PathBuf,
}

impl TaskInputs {
    /// Decodes the inputs. The pipeline has already checked that they decode.
    pub fn literals(&self) -> Result<LiteralMap, flyte_proto::ProtoError> {
        flyte_proto::io::read_literal_map(&self.local_path)
    }
}

/// What an executor learned while preparing that decides where the outcome goes, or the
/// outcome that ends the run before it started.
#[derive(Debug, Default)]
pub struct Prepared {
    /// A path below the output prefix where this task's outcome goes, when it is not the
    /// output prefix itself: flytekit's legacy map tasks write under
    /// `<output prefix>/<array index>`, an index only the loaded task can tell. The
    /// pipeline joins it to the output prefix; `None` means the prefix itself.
    pub output_subdirectory: Option<String>,
    /// Set when the task cannot run: the outcome to write instead of running it. It
    /// takes precedence over a failed inputs download, as in flytekit, which loads the
    /// task before it reads the inputs.
    pub early_outcome: Option<TaskOutcome>,
}

impl Prepared {
    /// Ready to run, writing the outcome at the output prefix itself.
    pub fn ready() -> Self {
        Self::default()
    }

    /// The run ends with `outcome`, written at the output prefix itself.
    pub fn ended(outcome: TaskOutcome) -> Self {
        Prepared {
            output_subdirectory: None,
            early_outcome: Some(outcome),
        }
    }
}

/// Runs one task. The pipeline calls [`prepare`](Executor::prepare) once, concurrently
/// with downloading the inputs, then [`execute`](Executor::execute) at most once, then
/// [`shutdown`](Executor::shutdown) exactly once.
///
/// Executors never decide where anything the pipeline writes goes: they return the
/// outcome as data (offloaded literals by file name, an output subdirectory as a
/// relative path) and the pipeline alone turns it into URIs.
///
/// Implementations report every failure as a [`TaskOutcome`] (never a panic, never a
/// lost error): the pipeline writes whatever they return.
pub trait Executor {
    /// Gets ready to run: loads the task. With `dry_run` (flytekit's `--test`) it only
    /// checks that the task can be loaded; `execute` is then never called.
    fn prepare(
        &mut self,
        task: &TaskLocations,
        dry_run: bool,
    ) -> impl Future<Output = Prepared> + Send {
        let _ = (task, dry_run);
        async { Prepared::ready() }
    }

    /// Runs the task on `inputs`.
    fn execute(&mut self, inputs: TaskInputs) -> impl Future<Output = TaskOutcome> + Send;

    /// Releases whatever the executor holds (processes, connections). Called after the
    /// outcome is written, so a slow shutdown never delays the outputs.
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send {
        async {}
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
        match inputs.literals() {
            Ok(literals) => (self.task)(literals),
            // The pipeline checked them; only a local copy changed underneath us gets here.
            Err(error) => TaskOutcome::Failed(flyte_errors::ContainerFailure::from_error(
                flyte_errors::Origin::System,
                flyte_errors::Recoverability::Recoverable,
                flyte_errors::codes::SYSTEM,
                &error,
            )),
        }
    }
}
