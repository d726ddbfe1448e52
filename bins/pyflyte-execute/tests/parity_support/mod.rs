//! Runs flytekit's `pyflyte-execute` and ours on the same case and compares what they
//! leave behind: exit status, the files in the output prefix, the literals in outputs.pb
//! (with every data URI replaced by what it points to) and the error document.
//!
//! A case is prepared by `tests/parity/make_inputs.py`, which writes inputs.pb with
//! flytekit's TypeEngine into a fresh temporary directory. Each entrypoint then gets its
//! own output prefix and raw output prefix in that directory, and runs with the parity
//! task directory as its working directory, the way a Flyte pod runs it.
//!
//! On a [`Backend::Remote`] emulator, inputs.pb, the input data and both entrypoints'
//! prefixes live in a fresh prefix of the emulator's test bucket instead; after each run
//! its prefixes are downloaded and the URIs in its outputs.pb pointed at the downloaded
//! copies, so every comparison below is the same as on local storage.

// Shared by several test crates, each of which uses part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use flyte_proto::core::{ContainerError, Literal, LiteralMap};
use flyte_proto::{io, visit};
use flyte_storage::{Storage, StorageError};
use flyte_test_support::emulators::Emulator;
use tempfile::TempDir;

/// The resolver every Flyte pod names for Python function tasks.
pub const DEFAULT_RESOLVER: &str = "flytekit.core.python_auto_container.default_task_resolver";

/// Longest any one entrypoint may run before the test fails (and the process is killed).
const TIMEOUT: Duration = Duration::from_secs(150);

/// The directory holding the parity task modules; both entrypoints run with it as cwd.
pub fn parity_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity")
}

/// One of the two implementations under comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entrypoint {
    /// flytekit's `pyflyte-execute` from the workspace's Python environment: the reference.
    Flytekit,
    /// This crate's binary.
    Ours,
}

impl Entrypoint {
    fn program(self) -> PathBuf {
        match self {
            Entrypoint::Flytekit => flyte_test_support::python().with_file_name("pyflyte-execute"),
            Entrypoint::Ours => PathBuf::from(env!("CARGO_BIN_EXE_pyflyte-execute")),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Entrypoint::Flytekit => "flytekit",
            Entrypoint::Ours => "ours",
        }
    }
}

/// Where a case's inputs and outputs live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Directories under the case's temporary directory.
    Local,
    /// A fresh prefix in the test bucket of one of the emulators `cargo xtask test` runs.
    Remote(Emulator),
}

impl Backend {
    /// The variables that point flytekit (and our binary, which reads the same ones) at
    /// the backend.
    pub fn env(self) -> BTreeMap<String, String> {
        match self {
            Backend::Local => BTreeMap::new(),
            Backend::Remote(Emulator::Azure) => {
                let mut env = Emulator::Azure.flytekit_env();
                // flytekit 1.16.31 passes `metadata=` to adlfs's put, which passes its
                // own too: every upload to Azure fails ("got multiple values for keyword
                // argument 'metadata'") unless execution metadata is off. Ours honours
                // the same switch; entrypoints_parity.rs runs both with it on.
                env.insert(
                    "FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA".to_owned(),
                    "false".to_owned(),
                );
                env
            }
            Backend::Remote(emulator) => emulator.flytekit_env(),
        }
    }
}

/// Runs one storage call against an emulator from synchronous test code (the test
/// bucket created first).
pub fn on_emulator<T>(emulator: Emulator, call: impl AsyncFnOnce(&Storage) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        emulator.prepare().await;
        call(&Storage::new(emulator.config())).await
    })
}

/// A temporary directory with one case's inputs, and the command-line arguments to run it.
pub struct Case {
    /// The case's name in make_inputs.py (or a made-up one for hand-built inputs).
    pub name: String,
    dir: TempDir,
    /// `--inputs`.
    pub inputs: String,
    /// `--resolver`.
    pub resolver: String,
    /// `task-module` of the resolver arguments.
    pub task_module: String,
    /// `task-name` of the resolver arguments.
    pub task_name: String,
    /// `--output-prefix` for both runs, when not a fresh local directory per run.
    pub output_prefix: Option<String>,
    /// Where the case lives.
    pub backend: Backend,
    /// On a remote backend, the case's prefix in the test bucket.
    remote_base: Option<String>,
}

impl Case {
    /// Writes the inputs.pb of `name` (a case of make_inputs.py).
    pub fn prepare(name: &str) -> Case {
        Case::prepare_on(name, Backend::Local)
    }

    /// Writes the inputs.pb of `name` on `backend`: its data under the case's input
    /// prefix there, inputs.pb itself at `<case prefix>/inputs.pb`.
    pub fn prepare_on(name: &str, backend: Backend) -> Case {
        let mut case = Case::without_inputs(name, "", "");
        case.backend = backend;
        if let Backend::Remote(emulator) = backend {
            case.remote_base = Some(emulator.unique_prefix());
            on_emulator(emulator, async |_| ()); // creates the test bucket first
        }
        let output = Command::new(flyte_test_support::python())
            .arg(parity_dir().join("make_inputs.py"))
            .arg(name)
            .arg(&case.inputs)
            .arg("--data-dir")
            .arg(case.input_data_dir())
            .arg("--raw-prefix")
            .arg(case.input_raw_uri())
            .current_dir(parity_dir())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(backend.env())
            .output()
            .expect("make_inputs.py starts");
        assert!(
            output.status.success(),
            "make_inputs.py {name} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last_line = stdout.lines().last().unwrap_or_default();
        let mut words = last_line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(module), Some(task)) => {
                case.task_module = module.to_owned();
                case.task_name = task.to_owned();
            }
            _ => panic!("make_inputs.py {name} printed no `TASK_MODULE TASK_NAME` line:\n{stdout}"),
        }
        if let (Backend::Remote(emulator), Some(base)) = (backend, &case.remote_base) {
            let remote_inputs = format!("{base}/inputs.pb");
            on_emulator(emulator, async |storage| {
                storage
                    .put_file(Path::new(&case.inputs), &remote_inputs)
                    .await
            })
            .unwrap_or_else(|e| panic!("uploading inputs.pb to {remote_inputs}: {e}"));
            case.inputs = remote_inputs;
        }
        case
    }

    /// A case whose `--inputs` names a file that does not exist yet: write it with
    /// [`Case::write_inputs`] or leave it missing.
    pub fn without_inputs(name: &str, task_module: &str, task_name: &str) -> Case {
        let dir = tempfile::Builder::new()
            .prefix(&format!("parity-{name}-"))
            .tempdir()
            .expect("a temporary directory for the case");
        let inputs = dir.path().join("inputs.pb").display().to_string();
        Case {
            name: name.to_owned(),
            dir,
            inputs,
            resolver: DEFAULT_RESOLVER.to_owned(),
            task_module: task_module.to_owned(),
            task_name: task_name.to_owned(),
            output_prefix: None,
            backend: Backend::Local,
            remote_base: None,
        }
    }

    /// Replaces inputs.pb with `bytes`.
    pub fn write_inputs(&self, bytes: &[u8]) {
        fs::write(&self.inputs, bytes).expect("inputs.pb is writable");
    }

    fn input_raw_prefix(&self) -> PathBuf {
        self.dir.path().join("input-raw")
    }

    /// Where make_inputs.py puts the case's input data: the local input prefix, or its
    /// twin on the remote backend.
    fn input_raw_uri(&self) -> String {
        match &self.remote_base {
            Some(base) => format!("{base}/input-raw"),
            None => self.input_raw_prefix().display().to_string(),
        }
    }

    /// Runs one entrypoint on this case, in its own subdirectory of the case directory.
    pub fn run(&self, entrypoint: Entrypoint) -> Run {
        self.run_with(entrypoint, &[])
    }

    /// [`Case::run`] with `env` set on top of the backend's variables.
    pub fn run_with(&self, entrypoint: Entrypoint, env: &[(&str, &str)]) -> Run {
        let root = self.dir.path().join(entrypoint.label());
        let tmp = self.scratch_parent(entrypoint);
        fs::create_dir_all(&tmp).expect("a run directory");
        let remote_root = self.remote_root(entrypoint);
        let output_prefix = match (&self.output_prefix, &remote_root) {
            (Some(prefix), _) => prefix.clone(),
            (None, Some(remote)) => format!("{remote}/outputs"),
            (None, None) => root.join("outputs").display().to_string(),
        };
        let raw_prefix = root.join("raw");
        let raw_prefix_arg = match &remote_root {
            Some(remote) => format!("{remote}/raw"),
            None => raw_prefix.display().to_string(),
        };
        let stdout = root.join("stdout.txt");
        let stderr = root.join("stderr.txt");

        let mut command = Command::new(entrypoint.program());
        command
            .arg("--inputs")
            .arg(&self.inputs)
            .arg("--output-prefix")
            .arg(&output_prefix)
            .arg("--raw-output-data-prefix")
            .arg(&raw_prefix_arg)
            .arg("--resolver")
            .arg(&self.resolver)
            .arg("--")
            .args([
                "task-module",
                &self.task_module,
                "task-name",
                &self.task_name,
            ])
            .current_dir(parity_dir())
            .env("PYFLYTE_EXECUTE_PYTHON", flyte_test_support::python())
            .env("FLYTE_SDK_LOGGING_LEVEL", "30")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("TMPDIR", &tmp)
            .envs(self.backend.env())
            .envs(env.iter().copied())
            .stdin(File::open("/dev/null").expect("/dev/null"))
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"));
        let status = wait_with_timeout(command, entrypoint);

        let local_output_prefix = match (self.backend, &remote_root) {
            (Backend::Remote(emulator), Some(remote)) => {
                let copy = root.join("outputs");
                self.download(emulator, &output_prefix, &copy);
                self.download(emulator, &format!("{remote}/raw"), &raw_prefix);
                self.download(emulator, &self.input_raw_uri(), &self.input_raw_prefix());
                let replacements = [
                    (format!("{remote}/raw"), raw_prefix.display().to_string()),
                    (
                        self.input_raw_uri(),
                        self.input_raw_prefix().display().to_string(),
                    ),
                ];
                point_outputs_at_copies(&copy.join("outputs.pb"), &replacements);
                copy.exists().then_some(copy)
            }
            _ => local_path(&output_prefix),
        };
        Run {
            entrypoint,
            status,
            stderr: fs::read_to_string(&stderr).unwrap_or_default(),
            stdout: fs::read_to_string(&stdout).unwrap_or_default(),
            local_output_prefix,
            raw_prefix,
            input_raw_prefix: self.input_raw_prefix(),
        }
    }

    /// The `TMPDIR` `entrypoint`'s runs get: the parent of the binary's scratch
    /// directories, empty before the first run.
    pub fn scratch_parent(&self, entrypoint: Entrypoint) -> PathBuf {
        self.dir.path().join(entrypoint.label()).join("tmp")
    }

    /// Where make_inputs.py created the case's input files before uploading them.
    pub fn input_data_dir(&self) -> PathBuf {
        self.dir.path().join("input-data")
    }

    /// On a remote backend, the root of `entrypoint`'s run there (its `outputs` and
    /// `raw` prefixes are under it).
    pub fn remote_root(&self, entrypoint: Entrypoint) -> Option<String> {
        self.remote_base
            .as_ref()
            .map(|base| format!("{base}/{}", entrypoint.label()))
    }

    /// Copies everything under the remote prefix `uri` into `to` (nothing there: nothing).
    fn download(&self, emulator: Emulator, uri: &str, to: &Path) {
        match on_emulator(emulator, async |storage| storage.get_dir(uri, to).await) {
            Ok(_) | Err(StorageError::NotFound { .. }) => {}
            Err(e) => panic!("downloading {uri}: {e}"),
        }
    }

    /// Runs flytekit and ours side by side.
    pub fn run_both(self) -> Pair {
        let (flytekit, ours) = side_by_side(|entrypoint| self.run(entrypoint));
        Pair {
            case: self,
            flytekit,
            ours,
        }
    }
}

fn wait_with_timeout(mut command: Command, entrypoint: Entrypoint) -> ExitStatus {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", entrypoint.program().display()));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the entrypoint") {
            return status;
        }
        if started.elapsed() > TIMEOUT {
            child.kill().ok();
            child.wait().ok();
            panic!("{} did not finish within {TIMEOUT:?}", entrypoint.label());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Rewrites the data URIs in the local copy of a remote outputs.pb so they name the
/// downloaded copies: each `(remote prefix, local directory)` pair maps one onto the other.
fn point_outputs_at_copies(outputs: &Path, replacements: &[(String, String)]) {
    let Ok(mut map) = io::read_literal_map(outputs) else {
        return; // no outputs.pb, or one the comparison itself will report
    };
    visit::rewrite_uris(&mut map, |_, uri| {
        replacements.iter().find_map(|(remote, local)| {
            uri.strip_prefix(remote.as_str())
                .map(|rest| format!("{local}{rest}"))
        })
    });
    io::write_literal_map(outputs, &map).expect("rewriting the downloaded outputs.pb");
}

/// Runs `run` for flytekit and for ours at once, in two threads: (flytekit's, ours).
pub fn side_by_side<R: Send>(run: impl Fn(Entrypoint) -> R + Sync) -> (R, R) {
    thread::scope(|scope| {
        let flytekit = scope.spawn(|| run(Entrypoint::Flytekit));
        let ours = scope.spawn(|| run(Entrypoint::Ours));
        (
            flytekit.join().expect("the flytekit run does not panic"),
            ours.join().expect("our run does not panic"),
        )
    })
}

/// The local path a URI names, if it names one.
fn local_path(uri: &str) -> Option<PathBuf> {
    if let Some(path) = uri.strip_prefix("file://") {
        Some(PathBuf::from(path))
    } else if uri.contains("://") {
        None
    } else {
        Some(PathBuf::from(uri))
    }
}

/// What one entrypoint did with a case.
pub struct Run {
    /// Which implementation ran.
    pub entrypoint: Entrypoint,
    /// How the process ended.
    pub status: ExitStatus,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Everything it wrote to stdout.
    pub stdout: String,
    local_output_prefix: Option<PathBuf>,
    raw_prefix: PathBuf,
    input_raw_prefix: PathBuf,
}

impl Run {
    /// The exit code, or the signal that ended the process, in words.
    pub fn ending(&self) -> String {
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => format!("{}", self.status),
        }
    }

    /// Relative paths of every file under the output prefix (none when it was not created).
    pub fn written_files(&self) -> BTreeSet<String> {
        let Some(prefix) = &self.local_output_prefix else {
            return BTreeSet::new();
        };
        let mut files = BTreeMap::new();
        read_tree(prefix, prefix, &mut files);
        files.into_keys().collect()
    }

    /// Fails the test when the process panicked.
    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked at"),
            "{} panicked:\n{}",
            self.entrypoint.label(),
            self.stderr
        );
    }

    /// outputs.pb, decoded.
    pub fn outputs(&self) -> LiteralMap {
        io::read_literal_map(self.output_file("outputs.pb"))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", self.entrypoint.label(), self.summary()))
    }

    /// The container error of error.pb.
    pub fn error(&self) -> ContainerError {
        let document = io::read_error_document(self.output_file("error.pb"))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", self.entrypoint.label(), self.summary()));
        document
            .error
            .unwrap_or_else(|| panic!("{}'s error.pb holds no error", self.entrypoint.label()))
    }

    fn output_file(&self, name: &str) -> PathBuf {
        self.local_output_prefix
            .as_ref()
            .expect("the output prefix is a local directory")
            .join(name)
    }

    /// How the run ended and the tail of its stderr, for failure messages.
    pub fn summary(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "--- {} ({}), files {:?}, stderr tail:\n{tail}",
            self.entrypoint.label(),
            self.ending(),
            self.written_files()
        )
    }

    /// `outputs` with every data URI replaced by a placeholder, and what each URI held.
    fn normalise(&self, mut outputs: LiteralMap) -> (LiteralMap, Vec<Pointee>) {
        let mut pointees = Vec::new();
        visit::rewrite_uris(&mut outputs, |kind, uri| {
            pointees.push(self.pointee(kind, uri));
            Some(format!("<{kind:?} #{}>", pointees.len() - 1))
        });
        (outputs, pointees)
    }

    fn pointee(&self, kind: visit::UriKind, uri: &str) -> Pointee {
        let Some(path) = local_path(uri) else {
            let place = Place::Elsewhere(uri.to_owned());
            return Pointee {
                kind,
                place,
                stored: Stored::Missing,
                path: None,
            };
        };
        let place = if is_under(&path, &self.raw_prefix) {
            Place::RawOutputPrefix
        } else if is_under(&path, &self.input_raw_prefix) {
            Place::CaseInputs
        } else {
            Place::Elsewhere(uri.to_owned())
        };
        let stored = if path.is_dir() {
            let mut files = BTreeMap::new();
            read_tree(&path, &path, &mut files);
            Stored::Directory(
                files
                    .into_iter()
                    .map(|(name, bytes)| (name, Bytes(bytes)))
                    .collect(),
            )
        } else if path.is_file() {
            Stored::File {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes: Bytes(fs::read(&path).expect("a readable output file")),
            }
        } else {
            Stored::Missing
        };
        Pointee {
            kind,
            place,
            stored,
            path: Some(path),
        }
    }
}

fn is_under(path: &Path, prefix: &Path) -> bool {
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    path.starts_with(prefix) || canonical(path).starts_with(canonical(prefix))
}

/// Every file under `dir`, keyed by its path relative to `root`.
pub fn read_tree(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            read_tree(root, &path, files);
        } else {
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            files.insert(relative, fs::read(&path).expect("a readable file"));
        }
    }
}

/// What a data URI in outputs.pb points to, independent of the URI itself.
#[derive(Debug)]
struct Pointee {
    kind: visit::UriKind,
    place: Place,
    stored: Stored,
    /// The local path the URI names (not compared: it differs between runs).
    path: Option<PathBuf>,
}

impl PartialEq for Pointee {
    fn eq(&self, other: &Pointee) -> bool {
        (self.kind, &self.place, &self.stored) == (other.kind, &other.place, &other.stored)
    }
}

/// A failure message for two different pointees: both, where their bytes first
/// differ, and for dataframes the decoded tables.
fn explain_difference(index: usize, flytekit: &Pointee, ours: &Pointee) -> String {
    let mut message = format!(
        "the data behind output URI #{index} differs (left: flytekit, right: ours)\n  left: {flytekit:?}\n right: {ours:?}"
    );
    let files = |stored: &Stored| match stored {
        Stored::File { name, bytes } => BTreeMap::from([(name.clone(), bytes.0.clone())]),
        Stored::Directory(files) => files
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
        Stored::Missing => BTreeMap::new(),
    };
    let (left, right) = (files(&flytekit.stored), files(&ours.stored));
    for (name, left_bytes) in &left {
        if let Some(right_bytes) = right.get(name) {
            if let Some(at) = left_bytes.iter().zip(right_bytes).position(|(l, r)| l != r) {
                message += &format!("\nfile {name:?}: first differing byte at offset {at}");
            } else if left_bytes.len() != right_bytes.len() {
                message += &format!("\nfile {name:?}: one is a prefix of the other");
            }
        }
    }
    if flytekit.kind == visit::UriKind::StructuredDataset {
        for (label, pointee) in [("flytekit's", flytekit), ("our", ours)] {
            if let Some(path) = &pointee.path {
                message += &format!("\n{label} dataframe:\n{}", describe_parquet(path));
            }
        }
    }
    message
}

/// pandas' rendering of the parquet data at `path`, or why it cannot be read.
fn describe_parquet(path: &Path) -> String {
    let script = "import sys, pandas; d = pandas.read_parquet(sys.argv[1]); print(d.dtypes.to_dict()); print(d)";
    match Command::new(flyte_test_support::python())
        .args(["-c", script])
        .arg(path)
        .output()
    {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("(cannot run python: {e})"),
    }
}

/// Where a URI points, relative to the run's own prefixes.
#[derive(Debug, PartialEq)]
enum Place {
    /// Under the run's `--raw-output-data-prefix`: data the task produced.
    RawOutputPrefix,
    /// Under the case's input data: an input passed through unchanged.
    CaseInputs,
    /// Anywhere else (never expected).
    Elsewhere(String),
}

#[derive(Debug, PartialEq)]
enum Stored {
    File { name: String, bytes: Bytes },
    Directory(BTreeMap<String, Bytes>),
    Missing,
}

/// File contents, shown as (truncated) text in failure messages.
#[derive(PartialEq)]
struct Bytes(Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(&self.0);
        let shown: String = text.chars().take(120).collect();
        write!(f, "{} bytes {shown:?}", self.0.len())
    }
}

/// Flytekit's and our run of the same case.
pub struct Pair {
    /// The case both ran (kept so its temporary directory outlives the comparison).
    pub case: Case,
    /// The reference run.
    pub flytekit: Run,
    /// Our run.
    pub ours: Run,
}

impl Pair {
    /// Prepares case `name` with make_inputs.py and runs both entrypoints on it.
    pub fn run(name: &str) -> Pair {
        Case::prepare(name).run_both()
    }

    /// The same on `backend`.
    pub fn run_on(name: &str, backend: Backend) -> Pair {
        Case::prepare_on(name, backend).run_both()
    }

    fn context(&self) -> String {
        format!(
            "case {}\n{}\n{}",
            self.case.name,
            self.flytekit.summary(),
            self.ours.summary()
        )
    }

    /// Same exit status, same files in the output prefix, no panic.
    pub fn assert_same_ending(&self) {
        self.ours.assert_no_panic();
        assert_eq!(
            self.flytekit.ending(),
            self.ours.ending(),
            "exit status differs\n{}",
            self.context()
        );
        assert_eq!(
            self.flytekit.written_files(),
            self.ours.written_files(),
            "files in the output prefix differ\n{}",
            self.context()
        );
    }

    /// Both wrote outputs.pb, with equal literals once each data URI is replaced by
    /// what it points to.
    pub fn assert_same_outputs(&self) {
        self.assert_same_ending();
        assert!(
            self.flytekit.written_files().contains("outputs.pb"),
            "flytekit wrote no outputs.pb\n{}",
            self.context()
        );
        let (flytekit, flytekit_data) = self.flytekit.normalise(self.flytekit.outputs());
        let (ours, our_data) = self.ours.normalise(self.ours.outputs());
        let names = |map: &LiteralMap| map.literals.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&flytekit),
            names(&ours),
            "output names differ\n{}",
            self.context()
        );
        for (name, expected) in &flytekit.literals {
            let actual: &Literal = &ours.literals[name];
            assert_eq!(
                expected, actual,
                "output {name:?} differs (left: flytekit, right: ours)"
            );
        }
        assert_eq!(
            flytekit_data.len(),
            our_data.len(),
            "the outputs point to different numbers of data URIs\n{}",
            self.context()
        );
        for (index, (flytekit, ours)) in flytekit_data.iter().zip(&our_data).enumerate() {
            assert!(
                flytekit == ours,
                "{}",
                explain_difference(index, flytekit, ours)
            );
        }
    }

    /// Both wrote error.pb with the same code, kind, origin and worker.
    pub fn assert_same_error_kind(&self) -> (ContainerError, ContainerError) {
        self.assert_same_ending();
        assert!(
            self.flytekit.written_files().contains("error.pb"),
            "flytekit wrote no error.pb\n{}",
            self.context()
        );
        let (flytekit, ours) = (self.flytekit.error(), self.ours.error());
        let fields = |e: &ContainerError| (e.code.clone(), e.kind(), e.origin(), e.worker.clone());
        assert_eq!(
            fields(&flytekit),
            fields(&ours),
            "(code, kind, origin, worker) differ (left: flytekit, right: ours)\nflytekit's message:\n{}\nour message:\n{}",
            flytekit.message,
            ours.message
        );
        assert!(ours.timestamp.is_some(), "our error has no timestamp");
        (flytekit, ours)
    }

    /// [`Pair::assert_same_error_kind`], the same final `Message:` section, and a
    /// non-empty trace in both.
    pub fn assert_same_error(&self) {
        let (flytekit, ours) = self.assert_same_error_kind();
        let (flytekit_trace, flytekit_message) = split_error_message(&flytekit.message);
        let (our_trace, our_message) = split_error_message(&ours.message);
        assert_eq!(
            flytekit_message, our_message,
            "the Message: sections differ (left: flytekit, right: ours)\nour whole message:\n{}",
            ours.message
        );
        assert!(
            !flytekit_trace.is_empty(),
            "flytekit's error has no trace:\n{}",
            flytekit.message
        );
        assert!(
            !our_trace.is_empty(),
            "our error has no trace:\n{}",
            ours.message
        );
    }
}

/// Splits a flytekit-style error message ("Trace:\n\n…\nMessage:\n\n…") at its last
/// `Message:` line into the trace (without its `Trace:` heading) and the message, both
/// trimmed. A message without a `Message:` line is all message.
pub fn split_error_message(message: &str) -> (&str, &str) {
    let mut split = None;
    let mut offset = 0;
    for line in message.split_inclusive('\n') {
        if line.trim_end() == "Message:" {
            split = Some((offset, offset + line.len()));
        }
        offset += line.len();
    }
    let Some((start, end)) = split else {
        return ("", message.trim());
    };
    let trace = message[..start].trim();
    let trace = trace.strip_prefix("Trace:").unwrap_or(trace).trim();
    (trace, message[end..].trim())
}

/// Runs only our binary on case `name` (for endings flytekit does not report at all).
pub fn run_ours(name: &str) -> (Case, Run) {
    let case = Case::prepare(name);
    let run = case.run(Entrypoint::Ours);
    (case, run)
}

#[test]
fn split_error_message_takes_the_last_message_line() {
    let message = "Trace:\n\n    boom\n    Message:\n\nMessage:\n\n    ValueError: x\n";
    assert_eq!(
        split_error_message(message),
        ("boom\n    Message:", "ValueError: x")
    );
    assert_eq!(split_error_message("plain"), ("", "plain"));
}
