//! The [`Executor`] trait: what runs a task, whatever language the task is in.

use std::future::Future;
use std::path::{Path, PathBuf};

use flyte_errors::{ContainerFailure, Origin, Recoverability, codes};
use flyte_proto::core::LiteralMap;
use flyte_storage::Storage;

use crate::{Recoverable, TaskOutcome};

/// Where a task's data lives, as the command line gave it. The pipeline owns these: it
/// reads the inputs and writes the outcome itself, and tells the executor the rest in
/// [`Executor::prepare`]'s [`TaskContext`] (a task may read its previous checkpoint, write raw data, or
/// write metadata such as decks under the output prefix).
///
/// `#[non_exhaustive]`: more locations may come (flytekit grows flags); build one with
/// [`TaskLocations::new`] and set the optional fields.
///
/// ```
/// use flyte_runtime::TaskLocations;
///
/// // pyflyte-execute --inputs … --output-prefix … --raw-output-data-prefix … --checkpoint-path …
/// let mut locations = TaskLocations::new("s3://bucket/meta/n0/inputs.pb", "s3://bucket/meta/n0/0");
/// locations.raw_output_data_prefix = Some("s3://bucket/raw/ab/n0-0".to_owned());
/// locations.checkpoint_path = Some("s3://bucket/raw/ab/n0-0/_flytecheckpoints".to_owned());
/// assert_eq!(locations.prev_checkpoint, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    ///
    /// ```
    /// let locations = flyte_runtime::TaskLocations::new("/tmp/run/inputs.pb", "/tmp/run/out");
    /// assert_eq!(locations.output_prefix, "/tmp/run/out");
    /// assert_eq!(locations.raw_output_data_prefix, None);
    /// ```
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
///
/// `#[non_exhaustive]`: the pipeline may hand executors more about the inputs (their
/// size, a prefetched copy); read the fields, build one with [`TaskInputs::new`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use flyte_proto::literal;
/// use flyte_runtime::TaskInputs;
///
/// // What an executor's own test hands its `execute`, as the pipeline would.
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("inputs.pb");
/// flyte_proto::io::write_literal_map(&path, &literal::literal_map([("x", literal::integer(3))]))?;
/// let inputs = TaskInputs::new(&path);
/// assert_eq!(inputs.local_path, path);
/// assert_eq!(inputs.literals()?.literals["x"].as_integer(), Some(3));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskInputs {
    /// The local copy of `inputs.pb`.
    pub local_path: PathBuf,
}

impl TaskInputs {
    /// The inputs in the local file `local_path`, an encoded `LiteralMap` (the
    /// pipeline passes its checked copy of `inputs.pb`).
    ///
    /// ```
    /// let inputs = flyte_runtime::TaskInputs::new("/tmp/run/inputs.pb");
    /// assert!(inputs.local_path.ends_with("inputs.pb"));
    /// ```
    pub fn new(local_path: impl Into<PathBuf>) -> Self {
        TaskInputs {
            local_path: local_path.into(),
        }
    }

    /// Decodes the inputs. The pipeline has already checked that they decode; for a
    /// file that is not an encoded `LiteralMap` the error names the file.
    ///
    /// ```
    /// let inputs = flyte_runtime::TaskInputs::new("/nonexistent/inputs.pb");
    /// let error = inputs.literals().unwrap_err();
    /// assert!(error.to_string().contains("/nonexistent/inputs.pb"));
    /// ```
    pub fn literals(&self) -> Result<LiteralMap, flyte_proto::ProtoError> {
        flyte_proto::io::read_literal_map(&self.local_path)
    }
}

/// What a task may use while it runs, besides its inputs: the run's [`Storage`], the
/// task's [`TaskLocations`] and a local scratch directory of its own. The pipeline builds
/// it and hands it to [`Executor::prepare`]; it is cheap to clone (the storage's clients
/// are shared).
///
/// ```
/// use flyte_runtime::{TaskContext, TaskLocations};
/// use flyte_storage::{Storage, StorageConfig};
///
/// let mut locations = TaskLocations::new("s3://bucket/in/inputs.pb", "s3://bucket/out");
/// locations.raw_output_data_prefix = Some("s3://bucket/raw".to_owned());
/// let context = TaskContext::new(Storage::new(StorageConfig::default()), locations, "/tmp/task");
/// assert_eq!(context.raw_output_prefix(), Some("s3://bucket/raw"));
/// assert_eq!(context.checkpoint_path(), None);
/// ```
#[derive(Debug, Clone)]
pub struct TaskContext {
    storage: Storage,
    locations: TaskLocations,
    scratch_dir: PathBuf,
}

impl TaskContext {
    /// The context of a task whose data lives at `locations`, moved with `storage`,
    /// with `scratch_dir` (which the caller creates) for its local files. The pipeline
    /// builds it; build one yourself to call an executor or a task function in a test.
    ///
    /// ```
    /// use flyte_runtime::{TaskContext, TaskLocations};
    ///
    /// let scratch = tempfile::tempdir().expect("tempdir");
    /// let context = TaskContext::new(
    ///     flyte_storage::Storage::default(),
    ///     TaskLocations::new("/tmp/run/inputs.pb", "/tmp/run/out"),
    ///     scratch.path(),
    /// );
    /// assert_eq!(context.scratch_dir(), scratch.path());
    /// ```
    pub fn new(
        storage: Storage,
        locations: TaskLocations,
        scratch_dir: impl Into<PathBuf>,
    ) -> Self {
        TaskContext {
            storage,
            locations,
            scratch_dir: scratch_dir.into(),
        }
    }

    /// The storage the run reads its inputs and writes its outcome with; a task uses it
    /// for its own data (files under the raw output prefix, checkpoints).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use flyte_runtime::{TaskContext, TaskLocations};
    /// use flyte_storage::{MemoryStore, Storage};
    ///
    /// let storage = Storage::default().with_store("mem://", Arc::new(MemoryStore::new()));
    /// let context = TaskContext::new(storage, TaskLocations::new("mem://b/inputs.pb", "mem://b/out"), "/tmp/task");
    /// // A task writing a deck beside its outputs.
    /// context.storage().put_bytes("mem://b/out/deck.html", &b"<html/>"[..]).await?;
    /// assert!(context.storage().exists("mem://b/out/deck.html").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Where the task's data lives, as the command line gave it.
    ///
    /// ```
    /// use flyte_runtime::{TaskContext, TaskLocations};
    /// let locations = TaskLocations::new("s3://b/inputs.pb", "s3://b/out");
    /// let context = TaskContext::new(flyte_storage::Storage::default(), locations.clone(), "/tmp/task");
    /// assert_eq!(context.locations(), &locations);
    /// ```
    pub fn locations(&self) -> &TaskLocations {
        &self.locations
    }

    /// The URI under which the task writes offloaded data (files, directories,
    /// dataframes), when the run was given one (`--raw-output-data-prefix`). Hand it to
    /// `flyte_offload::Offloader::new` to offload with flytekit's layout.
    ///
    /// ```
    /// use flyte_runtime::{TaskContext, TaskLocations};
    /// let mut locations = TaskLocations::new("s3://b/inputs.pb", "s3://b/out");
    /// locations.raw_output_data_prefix = Some("s3://b/raw/ab".to_owned());
    /// let context = TaskContext::new(flyte_storage::Storage::default(), locations, "/tmp/task");
    /// assert_eq!(context.raw_output_prefix(), Some("s3://b/raw/ab"));
    /// ```
    pub fn raw_output_prefix(&self) -> Option<&str> {
        self.locations.raw_output_data_prefix.as_deref()
    }

    /// The URI the task's checkpoint is written to, when the run has one.
    ///
    /// ```
    /// use flyte_runtime::{TaskContext, TaskLocations};
    /// let mut locations = TaskLocations::new("s3://b/inputs.pb", "s3://b/out");
    /// locations.checkpoint_path = Some("s3://b/raw/ab/_flytecheckpoints".to_owned());
    /// let context = TaskContext::new(flyte_storage::Storage::default(), locations, "/tmp/task");
    /// assert_eq!(context.checkpoint_path(), Some("s3://b/raw/ab/_flytecheckpoints"));
    /// ```
    pub fn checkpoint_path(&self) -> Option<&str> {
        self.locations.checkpoint_path.as_deref()
    }

    /// The URI of the previous attempt's checkpoint, when there was one: a retried
    /// task resumes from it.
    ///
    /// ```
    /// use flyte_runtime::{TaskContext, TaskLocations};
    /// let context = TaskContext::new(
    ///     flyte_storage::Storage::default(),
    ///     TaskLocations::new("s3://b/inputs.pb", "s3://b/out"),
    ///     "/tmp/task",
    /// );
    /// // A first attempt has nothing to resume from.
    /// assert_eq!(context.prev_checkpoint(), None);
    /// ```
    pub fn prev_checkpoint(&self) -> Option<&str> {
        self.locations.prev_checkpoint.as_deref()
    }

    /// A local directory for the task's own files, created before the task is prepared:
    /// `task/` inside the run's scratch directory ([`RunSettings::scratch_dir`](crate::RunSettings::scratch_dir)),
    /// beside the pipeline's own files, and cleaned up with it.
    ///
    /// ```
    /// use flyte_runtime::{TaskContext, TaskLocations};
    /// let scratch = tempfile::tempdir().expect("tempdir");
    /// let context = TaskContext::new(
    ///     flyte_storage::Storage::default(),
    ///     TaskLocations::new("/tmp/in/inputs.pb", "/tmp/out"),
    ///     scratch.path(),
    /// );
    /// // A task's intermediate files go here, never beside the inputs.
    /// std::fs::write(context.scratch_dir().join("partial.csv"), "a\n").expect("write");
    /// ```
    pub fn scratch_dir(&self) -> &Path {
        &self.scratch_dir
    }
}

/// What an executor learned while preparing that decides where the outcome goes, or the
/// outcome that ends the run before it started.
///
/// `#[non_exhaustive]`: build one with [`Prepared::ready`], [`Prepared::ended`] and
/// [`Prepared::at_subdirectory`].
///
/// ```
/// use flyte_runtime::Prepared;
///
/// // A legacy map task's element 3: its outcome goes under <output prefix>/3.
/// let element = Prepared::ready().at_subdirectory(Some("3".to_owned()));
/// assert!(element.early_outcome.is_none());
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
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
    ///
    /// ```
    /// let prepared = flyte_runtime::Prepared::ready();
    /// assert!(prepared.early_outcome.is_none() && prepared.output_subdirectory.is_none());
    /// ```
    pub fn ready() -> Self {
        Self::default()
    }

    /// The run ends with `outcome`, written at the output prefix itself: the task could
    /// not be loaded, so it is not run (the inputs are not even looked at).
    ///
    /// ```
    /// use flyte_errors::ContainerFailure;
    /// use flyte_runtime::{Prepared, TaskOutcome};
    ///
    /// let prepared = Prepared::ended(TaskOutcome::Unrunnable(ContainerFailure::user(
    ///     "USER:RuntimeError",
    ///     "no task named `train` in module app.tasks",
    /// )));
    /// assert_eq!(prepared.early_outcome.map(|o| o.kind()), Some("unrunnable"));
    /// ```
    pub fn ended(outcome: TaskOutcome) -> Self {
        Prepared {
            output_subdirectory: None,
            early_outcome: Some(outcome),
        }
    }

    /// The same, with the outcome written under `subdirectory` of the output prefix
    /// (`None`: the prefix itself), e.g. a legacy map task's array index.
    ///
    /// ```
    /// use flyte_runtime::Prepared;
    /// let prepared = Prepared::ready().at_subdirectory(Some("3".to_owned()));
    /// assert_eq!(prepared.output_subdirectory.as_deref(), Some("3"));
    /// ```
    #[must_use]
    pub fn at_subdirectory(self, subdirectory: Option<String>) -> Self {
        Prepared {
            output_subdirectory: subdirectory,
            ..self
        }
    }
}

/// Runs one task. The pipeline calls [`prepare`](Executor::prepare) at most once,
/// concurrently with downloading the inputs (not at all when the run fails before the
/// task can be loaded, e.g. its scratch directory cannot be created), then
/// [`execute`](Executor::execute) at most once, then [`shutdown`](Executor::shutdown)
/// exactly once, whatever happened before.
///
/// Executors never decide where anything the pipeline writes goes: they return the
/// outcome as data (offloaded literals by file name, an output subdirectory as a
/// relative path) and the pipeline alone turns it into URIs.
///
/// Implementations report every failure as a [`TaskOutcome`] (never a lost error): the
/// pipeline writes whatever they return. A panic in `prepare` or `execute` is a bug of
/// the executor, not of the task: the pipeline catches it and writes a system failure
/// (`SYSTEM`, recoverable, as flytekit reports an exception outside user code) with the
/// panic's message, then shuts the executor down as usual. Only a binary built with
/// `panic = "abort"` loses that document.
///
/// # Example
///
/// An executor for tasks of one's own kind: it loads a model while the inputs download,
/// ends the run with a user error when there is none, and scores the input otherwise.
///
/// ```
/// use flyte_errors::ContainerFailure;
/// use flyte_proto::literal;
/// use flyte_runtime::{Executor, Prepared, TaskContext, TaskInputs, TaskOutcome};
///
/// struct Scorer {
///     weight: Option<f64>,
/// }
///
/// impl Executor for Scorer {
///     async fn prepare(&mut self, context: &TaskContext, _dry_run: bool) -> Prepared {
///         // Runs concurrently with the inputs download: the place for slow set-up.
///         let model = context.storage().get_bytes("mem://models/weight").await;
///         match model.ok().and_then(|bytes| String::from_utf8(bytes.to_vec()).ok()) {
///             Some(text) => {
///                 self.weight = text.trim().parse().ok();
///                 Prepared::ready()
///             }
///             None => Prepared::ended(TaskOutcome::Failed(ContainerFailure::user(
///                 "USER:ModelMissing",
///                 "no model at mem://models/weight: upload it before running the task",
///             ))),
///         }
///     }
///
///     async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
///         let x = inputs.literals().ok().and_then(|map| map.literals.get("x")?.as_float());
///         match (x, self.weight) {
///             (Some(x), Some(weight)) => {
///                 TaskOutcome::outputs(literal::literal_map([("o0", literal::float(x * weight))]))
///             }
///             _ => TaskOutcome::Failed(ContainerFailure::user(
///                 "USER:BadInput",
///                 "input x must be a float and the model a number",
///             )),
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::sync::Arc;
/// # use flyte_runtime::{RunSettings, TaskLocations, run_task};
/// # use flyte_storage::{MemoryStore, Storage, StorageConfig};
/// let storage = Storage::new(StorageConfig::default()).with_store("mem://", Arc::new(MemoryStore::new()));
/// storage.put_bytes("mem://models/weight", &b"2.5"[..]).await?;
/// let inputs = literal::literal_map([("x", literal::float(4.0))]);
/// storage.put_bytes("mem://run/inputs.pb", flyte_proto::io::encode(&inputs)).await?;
/// let dir = tempfile::tempdir()?;
/// let settings = RunSettings::new(TaskLocations::new("mem://run/inputs.pb", "mem://run/out"), dir.path());
/// let report = run_task(Scorer { weight: None }, &storage, &settings, &flyte_telemetry::Metrics::disabled()).await?;
/// assert_eq!(report.outcome_kind, "outputs");
/// let outputs: flyte_proto::core::LiteralMap =
///     flyte_proto::io::decode(&storage.get_bytes("mem://run/out/outputs.pb").await?)?;
/// assert_eq!(outputs.literals["o0"].as_float(), Some(10.0));
/// # Ok(())
/// # }
/// ```
pub trait Executor {
    /// Gets ready to run: loads the task. `context` says where the task's data lives and
    /// gives it the run's storage and a scratch directory; an executor keeps what it
    /// needs of it (it is cheap to clone). With `dry_run` (flytekit's `--test`) it only
    /// checks that the task can be loaded; `execute` is then never called.
    ///
    /// ```
    /// use flyte_runtime::{Executor, Prepared, TaskContext, TaskInputs, TaskOutcome};
    ///
    /// /// Runs a script from the task's code archive, if it is there.
    /// struct Script(Option<std::path::PathBuf>);
    ///
    /// impl Executor for Script {
    ///     async fn prepare(&mut self, context: &TaskContext, dry_run: bool) -> Prepared {
    ///         let script = context.scratch_dir().join("main.sh");
    ///         if !dry_run && !script.is_file() {
    ///             let failure = flyte_errors::ContainerFailure::user(
    ///                 "USER:ScriptMissing",
    ///                 format!("{} is not in the code archive", script.display()),
    ///             );
    ///             return Prepared::ended(TaskOutcome::Failed(failure));
    ///         }
    ///         self.0 = Some(script);
    ///         Prepared::ready()
    ///     }
    ///     async fn execute(&mut self, _inputs: TaskInputs) -> TaskOutcome {
    ///         TaskOutcome::outputs(Default::default())
    ///     }
    /// }
    /// # let _ = Script(None);
    /// ```
    fn prepare(
        &mut self,
        context: &TaskContext,
        dry_run: bool,
    ) -> impl Future<Output = Prepared> + Send {
        let _ = (context, dry_run);
        async { Prepared::ready() }
    }

    /// Runs the task on `inputs`. Every failure is returned as an outcome (a panic
    /// is caught by [`run_task`](crate::run_task) too, but says less).
    ///
    /// ```
    /// use flyte_proto::literal;
    /// use flyte_runtime::{Executor, TaskInputs, TaskOutcome};
    ///
    /// struct Count;
    ///
    /// impl Executor for Count {
    ///     async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
    ///         match inputs.literals() {
    ///             Ok(map) => TaskOutcome::outputs(literal::literal_map([(
    ///                 "o0",
    ///                 literal::integer(map.literals.len() as i64),
    ///             )])),
    ///             Err(error) => TaskOutcome::Failed(flyte_errors::ContainerFailure::system(error.to_string())),
    ///         }
    ///     }
    /// }
    /// # let _ = Count;
    /// ```
    fn execute(&mut self, inputs: TaskInputs) -> impl Future<Output = TaskOutcome> + Send;

    /// Releases whatever the executor holds (processes, connections). Called after the
    /// outcome is written, so a slow shutdown never delays the outputs.
    ///
    /// ```
    /// use flyte_runtime::{Executor, TaskInputs, TaskOutcome};
    ///
    /// /// Keeps a model cache on local disk while the task runs.
    /// struct WithCache(Option<std::path::PathBuf>);
    ///
    /// impl Executor for WithCache {
    ///     async fn execute(&mut self, _inputs: TaskInputs) -> TaskOutcome {
    ///         TaskOutcome::outputs(Default::default())
    ///     }
    ///     async fn shutdown(&mut self) {
    ///         // The outcome is written by now: nothing waits on this.
    ///         if let Some(cache) = self.0.take() {
    ///             let _ = tokio::fs::remove_dir_all(cache).await;
    ///         }
    ///     }
    /// }
    /// # let _ = WithCache(None);
    /// ```
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// An [`Executor`] made of an async Rust function from a [`TaskContext`] and the decoded
/// inputs to the outputs.
///
/// The function receives its own clone of the context (the [`Storage`], the task's
/// locations, the raw output prefix, the checkpoint paths and a scratch directory), so
/// the future it returns owns everything it uses.
///
/// Its error type is anything that converts into `Box<dyn Error + Send + Sync>`: an
/// error type of one's own, `anyhow::Error`, a boxed error, a `String`. An `Err`
/// becomes a user failure, as flytekit reports an exception raised by a task: code
/// `USER:RuntimeError`, origin `USER`, not recoverable, the message in flytekit's
/// `Trace:`/`Message:` layout with the error's whole
/// [`source`](std::error::Error::source) chain, each cause once. An error holding a
/// [`Recoverable`](crate::Recoverable) anywhere in that chain is `USER:Recoverable` and
/// recoverable instead, as flytekit reports a `FlyteRecoverableException`. A panic of
/// the function is the user's code failing too: `USER:RuntimeError`, with the panic's
/// message (unless the binary is built with `panic = "abort"`, which no one can catch).
///
/// ```
/// use flyte_proto::{core::LiteralMap, literal};
/// use flyte_runtime::{FnExecutor, TaskContext};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("input `a` is missing")]
/// struct MissingInput;
///
/// let double = FnExecutor::new(|context: TaskContext, inputs: LiteralMap| async move {
///     // A task would write its files under `context.scratch_dir()` and upload them
///     // with `context.storage()` under `context.raw_output_prefix()`.
///     let _ = context.scratch_dir();
///     let a = inputs.literals.get("a").and_then(|a| a.as_integer()).ok_or(MissingInput)?;
///     Ok::<_, MissingInput>(literal::literal_map([("o0", literal::integer(2 * a))]))
/// });
/// # let _ = double;
/// ```
pub struct FnExecutor<F> {
    task: F,
    /// Set by [`Executor::prepare`]; the pipeline always prepares before it executes.
    context: Option<TaskContext>,
}

impl<F, Fut, E> FnExecutor<F>
where
    F: FnMut(TaskContext, LiteralMap) -> Fut + Send,
    Fut: Future<Output = Result<LiteralMap, E>> + Send,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    /// Wraps `task`, which receives the run's [`TaskContext`] and the decoded inputs. A
    /// plain `async fn` of that shape will do.
    ///
    /// ```
    /// use flyte_proto::{core::LiteralMap, literal};
    /// use flyte_runtime::{FnExecutor, TaskContext};
    ///
    /// async fn hello(_context: TaskContext, _inputs: LiteralMap) -> anyhow::Result<LiteralMap> {
    ///     Ok(literal::literal_map([("o0", literal::string("hello"))]))
    /// }
    /// let executor = FnExecutor::new(hello);
    /// # let _ = executor;
    /// ```
    pub fn new(task: F) -> Self {
        FnExecutor {
            task,
            context: None,
        }
    }
}

impl<F, Fut, E> Executor for FnExecutor<F>
where
    F: FnMut(TaskContext, LiteralMap) -> Fut + Send,
    Fut: Future<Output = Result<LiteralMap, E>> + Send,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    async fn prepare(&mut self, context: &TaskContext, _dry_run: bool) -> Prepared {
        self.context = Some(context.clone());
        Prepared::ready()
    }

    async fn execute(&mut self, inputs: TaskInputs) -> TaskOutcome {
        let Some(context) = self.context.clone() else {
            return TaskOutcome::Failed(ContainerFailure::system(
                "FnExecutor::execute was called before prepare: run it with run_task, which \
                 prepares every executor first",
            ));
        };
        let literals = match inputs.literals() {
            Ok(literals) => literals,
            // The pipeline checked them; only a local copy changed underneath us gets here.
            Err(error) => {
                return TaskOutcome::Failed(ContainerFailure::from_error(
                    Origin::System,
                    Recoverability::Recoverable,
                    codes::SYSTEM,
                    &error,
                ));
            }
        };
        // The call inside the future too, so that a panic before the function's own
        // future exists is caught like one inside it.
        let task = &mut self.task;
        match crate::panic::catching(async move { task(context, literals).await }).await {
            Ok(Ok(outputs)) => TaskOutcome::outputs(outputs),
            Ok(Err(error)) => TaskOutcome::Failed(task_error_failure(error)),
            Err(panic) => TaskOutcome::Failed(crate::panic::task_failure(panic.as_ref())),
        }
    }
}

/// The user failure a task's `Err` is written as: `USER:Recoverable` when a
/// [`Recoverable`] is in its chain, `USER:RuntimeError` otherwise; the summary names
/// the error's type as the task returned it (boxing hides it).
fn task_error_failure<E>(error: E) -> ContainerFailure
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    let error_type = summary_type_name::<E>();
    let error: Box<dyn std::error::Error + Send + Sync> = error.into();
    let (code, recoverability) = if Recoverable::is_in_chain(error.as_ref()) {
        (codes::USER_RECOVERABLE, Recoverability::Recoverable)
    } else {
        (codes::USER_RUNTIME_ERROR, Recoverability::NonRecoverable)
    };
    ContainerFailure::from_error_named(
        Origin::User,
        recoverability,
        code,
        error_type,
        error.as_ref(),
    )
}

/// The name of `E` for a failure's summary, as Python's `type(e).__name__`: without
/// module path or generic arguments; `Error` for the containers that only carry an
/// error (`Box<dyn Error>`, `String`, `&str`), which name nothing about it.
fn summary_type_name<E>() -> &'static str {
    let full = std::any::type_name::<E>();
    let path = full.split(['<', ' ']).next().unwrap_or(full);
    match path.rsplit("::").next().unwrap_or(path) {
        "Box" | "String" | "&str" | "Cow" => "Error",
        name => name,
    }
}
