//! What the Python executor takes from its caller.

use std::path::PathBuf;
use std::time::Duration;

/// How to start the worker and which task it loads. Where the task's data lives is not
/// here: the pipeline owns that and tells the executor in `prepare`.
///
/// `#[non_exhaustive]`: the worker will learn new switches; build one with
/// [`PythonWorkerSettings::new`] and set the fields that differ from its defaults.
///
/// ```
/// use flyte_python::PythonWorkerSettings;
/// let mut settings = PythonWorkerSettings::new(
///     "python3",
///     "flytekit.core.python_auto_container.default_task_resolver",
///     ["task-module", "app.workflows", "task-name", "divide"].map(String::from),
///     "/tmp/run/worker",
/// );
/// settings.env.push(("FLYTE_SDK_LOGGING_LEVEL".into(), "20".into()));
/// assert_eq!(settings.stop_grace, flyte_python::DEFAULT_STOP_GRACE);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PythonWorkerSettings {
    /// The Python interpreter to run (one with flytekit installed).
    pub python: PathBuf,
    /// The task resolver, e.g. `flytekit.core.python_auto_container.default_task_resolver`.
    pub resolver: String,
    /// The resolver's arguments, e.g. `["task-module", "app", "task-name", "t1"]`.
    pub resolver_args: Vec<String>,
    /// The fast-registration code archive, for dynamic tasks run in fast mode.
    pub dynamic_addl_distro: Option<String>,
    /// Where fast-registration code is unpacked, for dynamic tasks run in fast mode.
    pub dynamic_dest_dir: Option<String>,
    /// A local directory for the worker script, its sockets and its staged outputs.
    pub scratch_dir: PathBuf,
    /// Set for `pyflyte-map-execute`: the task is one element of a map task.
    pub map_task: Option<MapTaskSettings>,
    /// Variables added to the worker's environment (which is otherwise this process's),
    /// e.g. so flytekit inside it logs at our level and format.
    pub env: Vec<(String, String)>,
    /// How long a worker that was passed SIGTERM or SIGINT may take to stop before the
    /// supervisor SIGKILLs it and writes the error document. Keep it shorter than the
    /// pod's termination grace period (Kubernetes: 30 s by default), or Kubernetes kills
    /// the supervisor first and nothing is written.
    pub stop_grace: Duration,
    /// How the caller's users change the settings a failure tells them to change; this
    /// crate phrases remediation by setting and reads no environment, so it cannot know.
    pub setting_names: SettingNames,
}

/// How the people running a task change the settings that failure messages point them
/// at. This crate says *which* setting to change; the caller, which knows where its
/// settings come from, says *how* (the pyflyte-execute binary: its environment
/// variables). The defaults name the [`PythonWorkerSettings`] fields.
///
/// ```
/// use flyte_python::SettingNames;
/// let mut names = SettingNames::default();
/// names.python = "the `python` key of tool.toml".to_owned();
/// assert!(names.use_flytekit.is_none());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SettingNames {
    /// How to choose another interpreter ([`PythonWorkerSettings::python`]), as it fits
    /// "set … to a Python that has flytekit".
    pub python: String,
    /// How to lengthen [`PythonWorkerSettings::stop_grace`], as it fits "raise …".
    pub stop_grace: String,
    /// How to run flytekit's own entrypoint instead, as it fits "set … to run
    /// flytekit's own entrypoint"; `None` when the caller offers no such fallback.
    pub use_flytekit: Option<String>,
}

impl Default for SettingNames {
    fn default() -> Self {
        SettingNames {
            python: "PythonWorkerSettings::python".to_owned(),
            stop_grace: "PythonWorkerSettings::stop_grace".to_owned(),
            use_flytekit: None,
        }
    }
}

impl PythonWorkerSettings {
    /// Settings to run the task `resolver` loads from `resolver_args` with `python`,
    /// keeping the worker's files in `scratch_dir`: not a map task, no fast-registered
    /// dynamic code, no extra environment, [`DEFAULT_STOP_GRACE`], the default
    /// [`SettingNames`].
    ///
    /// ```
    /// use flyte_python::{MapTaskSettings, PythonWorkerSettings};
    ///
    /// // pyflyte-map-execute's task: the same settings, with the map's.
    /// let mut settings = PythonWorkerSettings::new(
    ///     "/opt/venv/bin/python",
    ///     "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver",
    ///     ["vars", "", "resolver", "flytekit.core.python_auto_container.default_task_resolver",
    ///      "task-module", "app.workflows", "task-name", "score"].map(String::from),
    ///     "/tmp/run/worker",
    /// );
    /// settings.map_task = Some(MapTaskSettings { max_concurrency: Some(8), ..Default::default() });
    /// assert!(settings.dynamic_addl_distro.is_none());
    /// ```
    pub fn new(
        python: impl Into<PathBuf>,
        resolver: impl Into<String>,
        resolver_args: impl IntoIterator<Item = String>,
        scratch_dir: impl Into<PathBuf>,
    ) -> Self {
        PythonWorkerSettings {
            python: python.into(),
            resolver: resolver.into(),
            resolver_args: resolver_args.into_iter().collect(),
            dynamic_addl_distro: None,
            dynamic_dest_dir: None,
            scratch_dir: scratch_dir.into(),
            map_task: None,
            env: Vec::new(),
            stop_grace: DEFAULT_STOP_GRACE,
            setting_names: SettingNames::default(),
        }
    }
}

/// The [`PythonWorkerSettings::stop_grace`] the binary uses unless told otherwise:
/// 10 s of Kubernetes' default 30 s are left for writing the error document.
///
/// ```
/// // A pod with a 60 s termination grace period can give its worker more.
/// let grace = flyte_python::DEFAULT_STOP_GRACE * 2;
/// assert!(grace <= flyte_python::MAX_STOP_GRACE);
/// ```
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(20);

/// The longest [`PythonWorkerSettings::stop_grace`] the binary accepts: one day, far
/// beyond any pod's termination grace period, and far from where adding it to a clock
/// reading could overflow.
///
/// ```
/// use std::time::Duration;
/// let asked = Duration::from_secs(7 * 24 * 3600);
/// let grace = asked.min(flyte_python::MAX_STOP_GRACE);
/// assert_eq!(grace, Duration::from_secs(86_400));
/// ```
pub const MAX_STOP_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// How `pyflyte-map-execute` differs from `pyflyte-execute`: the resolver is a class whose
/// `load_task` also takes the map's concurrency, and the worker runs the element whose
/// index flytekit computes from `BATCH_JOB_ARRAY_INDEX_VAR_NAME` and
/// `BATCH_JOB_ARRAY_INDEX_OFFSET` in the worker's environment.
///
/// ```
/// let map_task = flyte_python::MapTaskSettings { max_concurrency: None, experimental: true };
/// assert!(map_task.experimental);
/// ```
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MapTaskSettings {
    /// `--max-concurrency`, passed to the map task resolver.
    pub max_concurrency: Option<i64>,
    /// `--experimental`: where flytekit's map entrypoint takes this flag (1.10 and 1.11),
    /// it picks the resolver (array node when set, legacy otherwise) in place of
    /// `--resolver`, and the worker does the same; later flytekit has no such flag.
    pub experimental: bool,
}
