//! What a task run produced.

use std::collections::BTreeMap;

use flyte_errors::ContainerFailure;
use flyte_proto::core::{DynamicJobSpec, Literal, LiteralMap};

/// The result of running a task: exactly one of these is written to the output prefix.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// The task returned values: written as `outputs.pb`.
    Outputs {
        /// The output literals, by output name.
        outputs: LiteralMap,
        /// Literals too large to inline (flytekit's `_F_L_MIN_SIZE_MB`), by the file name
        /// they are written under beside `outputs.pb` (`<name>_offloaded_metadata.pb`).
        ///
        /// An output that refers to one holds an offloaded-metadata literal
        /// ([`flyte_proto::literal::offloaded`]) whose URI is that bare file name; the
        /// pipeline writes the file and points the URI at where it wrote it. Executors
        /// never decide that location.
        offloaded: BTreeMap<String, Literal>,
    },
    /// A dynamic task produced a workflow to run next: written as `futures.pb`.
    DynamicJob(DynamicJobSpec),
    /// The task asked for its outputs to be dropped (flytekit's `IgnoreOutputs`):
    /// nothing is written.
    IgnoreOutputs,
    /// The task failed: written as the error document (`error.pb`).
    Failed(ContainerFailure),
    /// The process running the task ended without reporting an outcome (it crashed, was
    /// killed, or exited early): written as the error document, like [`Failed`], and
    /// counted apart in metrics.
    ///
    /// [`Failed`]: TaskOutcome::Failed
    WorkerDied(ContainerFailure),
    /// The task could not even be set up (its resolver did not import, the execution
    /// context could not be built). flytekit crashes here with exit status 1 and writes
    /// nothing; we write the error document too, so the cause is never lost, and still
    /// exit 1 as flytekit does.
    Unrunnable(ContainerFailure),
}

impl TaskOutcome {
    /// Outputs with nothing offloaded.
    pub fn outputs(outputs: LiteralMap) -> Self {
        TaskOutcome::Outputs {
            outputs,
            offloaded: BTreeMap::new(),
        }
    }

    /// The failure this outcome reports, if it is one.
    pub fn failure(&self) -> Option<&ContainerFailure> {
        match self {
            TaskOutcome::Failed(failure)
            | TaskOutcome::WorkerDied(failure)
            | TaskOutcome::Unrunnable(failure) => Some(failure),
            _ => None,
        }
    }

    /// The same outcome with its failure, if it is one, changed by `change`.
    pub fn map_failure(self, change: impl FnOnce(ContainerFailure) -> ContainerFailure) -> Self {
        match self {
            TaskOutcome::Failed(failure) => TaskOutcome::Failed(change(failure)),
            TaskOutcome::WorkerDied(failure) => TaskOutcome::WorkerDied(change(failure)),
            TaskOutcome::Unrunnable(failure) => TaskOutcome::Unrunnable(change(failure)),
            other => other,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskOutcome::Outputs { .. } => "outputs",
            TaskOutcome::DynamicJob(_) => "dynamic_job",
            TaskOutcome::IgnoreOutputs => "ignore_outputs",
            TaskOutcome::Failed(_) => "failed",
            TaskOutcome::WorkerDied(_) => "worker_died",
            TaskOutcome::Unrunnable(_) => "unrunnable",
        }
    }
}
