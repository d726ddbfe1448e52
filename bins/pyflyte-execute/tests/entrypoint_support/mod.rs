//! Runs the container command flytekit serialises for a task, as Propeller would start it,
//! once under flytekit's console scripts and once under ours, and compares everything
//! the two leave under their prefixes.
//!
//! A [`Scenario`] is prepared by `tests/parity/entrypoint_cases.py` (all cases at once, in
//! one Python start-up per test process): it writes the case's inputs.pb and the task's
//! container command and environment from flytekit's `get_serializable` (so `pyflyte-map-execute`, the map resolvers' arguments and
//! `pyflyte-fast-execute` come from flytekit, not from us). The command still holds
//! Propeller's templates; each run fills them with its own prefixes:
//!
//! | template                       | filled with (default)                       |
//! |--------------------------------|---------------------------------------------|
//! | `{{.input}}`                   | `{case}/inputs.pb` (shared by both runs)    |
//! | `{{.outputPrefix}}`            | `{run}/outputs`                             |
//! | `{{.rawOutputDataPrefix}}`     | `{run}/raw`                                 |
//! | `{{.checkpointOutputPrefix}}`  | left unfilled unless the test fills it      |
//! | `{{.prevCheckpointPrefix}}`    | left unfilled unless the test fills it      |
//! | `@DISTRIBUTION@`               | `{case}/code.tar.gz`                        |
//! | `@DEST_DIR@`                   | `{local}/code`                              |
//!
//! `{case}` is the case's root on the [`Backend`] (a local directory, or a fresh
//! `s3://flyte-tests/<uuid>` on the emulator), `{run}` the run's own root there, and
//! `{local}` the run's local directory (its `bin/`, `tmp/`, logs, fast-execute destination
//! `code/` and an empty `site/` for `pip --target`). Environment values are expanded the same way.
//!
//! Each entrypoint is invoked by the command's first word: flytekit's console script of
//! that name from the workspace's `.venv/bin`, or for ours a symbolic link of that name to
//! our binary. That directory also goes first on `PATH`, so the task command
//! `pyflyte-fast-execute` starts is the same implementation's `pyflyte-execute`.

// Shared by entrypoints_parity.rs and installed_wheel.rs, each of which uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use flyte_proto::Message;
use flyte_proto::core::{DynamicJobSpec, ErrorDocument, Literal, LiteralMap};
use flyte_storage::StorageError;
use flyte_test_support::emulators::{Emulator, ObjectProperties};
use tempfile::TempDir;

pub use crate::parity_support::Backend;
use crate::parity_support::{
    Entrypoint, on_emulator, parity_dir, read_tree, side_by_side, split_error_message,
};

/// Longest any one entrypoint may run before the test fails (and the process is killed).
const TIMEOUT: Duration = Duration::from_secs(180);

/// Storage operations of the suite on a [`Backend`]: everything a test reads or writes on
/// the storage side goes through these, so a case runs on local files or on an emulator
/// alike.
mod store {
    use super::*;

    /// A fresh root for a case whose local temporary directory is `case_dir`: a directory
    /// in it, or a unique prefix of the emulator's test bucket (`s3://flyte-tests/<uuid>`).
    pub fn case_root(backend: Backend, case_dir: &Path) -> String {
        match backend {
            Backend::Local => case_dir.join("store").display().to_string(),
            Backend::Remote(emulator) => emulator.unique_prefix(),
        }
    }

    /// Copies the local file `from` to `uri`.
    pub fn put(backend: Backend, from: &Path, uri: &str) {
        match backend {
            Backend::Local => {
                let to = Path::new(uri);
                fs::create_dir_all(to.parent().expect("a parent")).expect("a local prefix");
                fs::copy(from, to)
                    .unwrap_or_else(|e| panic!("copying {} to {uri}: {e}", from.display()));
            }
            Backend::Remote(emulator) => {
                on_emulator(emulator, async |storage| storage.put_file(from, uri).await)
                    .unwrap_or_else(|e| panic!("uploading {} to {uri}: {e}", from.display()));
            }
        }
    }

    /// Every object under `uri`, by its path relative to `uri` (none when there is none).
    pub fn snapshot(backend: Backend, uri: &str) -> BTreeMap<String, Vec<u8>> {
        match backend {
            Backend::Local => {
                let mut files = BTreeMap::new();
                read_tree(Path::new(uri), Path::new(uri), &mut files);
                files
            }
            Backend::Remote(emulator) => on_emulator(emulator, async |storage| {
                let objects = match storage.list(uri).await {
                    Ok(objects) => objects,
                    Err(StorageError::NotFound { .. }) => Vec::new(),
                    Err(e) => panic!("listing {uri}: {e}"),
                };
                let mut files = BTreeMap::new();
                for object in objects {
                    let object_uri = object.uri.to_string();
                    let bytes = storage
                        .get_bytes(&object_uri)
                        .await
                        .unwrap_or_else(|e| panic!("downloading {object_uri}: {e}"));
                    files.insert(object.key, bytes.to_vec());
                }
                files
            }),
        }
    }
}

/// One case: its inputs on the backend, the container command and environment, and how
/// the templates in them are filled.
pub struct Scenario {
    /// The case's name in entrypoint_cases.py.
    pub name: String,
    dir: TempDir,
    backend: Backend,
    /// `{case}`: the case's root on the backend.
    root: String,
    /// The container command, templates unfilled.
    pub command: Vec<String>,
    env: BTreeMap<String, String>,
    fills: Vec<(String, String)>,
    /// Run in the parity task directory (true) or in the run's local directory, where no
    /// task module is importable (fast-registered code).
    in_parity_dir: bool,
}

impl Scenario {
    /// Prepares case `name` of entrypoint_cases.py on `backend`.
    pub fn prepare(name: &str, backend: Backend) -> Scenario {
        let dir = tempfile::Builder::new()
            .prefix(&format!("entrypoints-{name}-"))
            .tempdir()
            .expect("a temporary directory for the case");
        let prepared = prepared_cases().join(name);
        let json = fs::read_to_string(prepared.join("case.json"))
            .unwrap_or_else(|e| panic!("no case {name} in entrypoint_cases.py ({e})"));
        let spec: serde_json::Value = serde_json::from_str(&json).expect("case.json is JSON");
        if let Some(reason) = spec["unavailable"].as_str() {
            panic!("case {name} cannot be prepared with this flytekit: {reason}");
        }
        let command = spec["command"]
            .as_array()
            .expect("a command")
            .iter()
            .map(|arg| arg.as_str().expect("string arguments").to_owned())
            .collect();
        let mut env: BTreeMap<String, String> = spec["env"]
            .as_object()
            .expect("an env")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string values").to_owned()))
            .collect();
        // What Propeller puts in every task pod: the execution's and the task's identity.
        for (key, value) in [
            ("FLYTE_INTERNAL_EXECUTION_PROJECT", "parity"),
            ("FLYTE_INTERNAL_EXECUTION_DOMAIN", "development"),
            ("FLYTE_INTERNAL_EXECUTION_ID", "parityexec1"),
            ("FLYTE_INTERNAL_EXECUTION_WORKFLOW", "parity.workflow"),
            ("FLYTE_INTERNAL_EXECUTION_LAUNCHPLAN", "parity.launchplan"),
            ("FLYTE_INTERNAL_TASK_PROJECT", "parity"),
            ("FLYTE_INTERNAL_TASK_DOMAIN", "development"),
            ("FLYTE_INTERNAL_TASK_NAME", name),
            ("FLYTE_INTERNAL_TASK_VERSION", "v1"),
        ] {
            env.insert(key.to_owned(), value.to_owned());
        }
        let root = store::case_root(backend, dir.path());
        let scenario = Scenario {
            name: name.to_owned(),
            dir,
            backend,
            root,
            command,
            env,
            fills: [
                ("{{.input}}", "{case}/inputs.pb"),
                ("{{.outputPrefix}}", "{run}/outputs"),
                ("{{.rawOutputDataPrefix}}", "{run}/raw"),
                ("@DISTRIBUTION@", "{case}/code.tar.gz"),
                ("@DEST_DIR@", "{local}/code"),
            ]
            .map(|(t, v)| (t.to_owned(), v.to_owned()))
            .to_vec(),
            in_parity_dir: true,
        };
        let inputs = format!("{}/inputs.pb", scenario.case_root());
        store::put(backend, &prepared.join("inputs.pb"), &inputs);
        scenario
    }

    /// The case's root URI on the backend (`{case}`).
    pub fn case_root(&self) -> String {
        self.root.clone()
    }

    /// Fills `template` in the command with `value` (which may use `{case}`, `{run}`
    /// and `{local}`) instead of the default.
    pub fn fill(&mut self, template: &str, value: &str) -> &mut Self {
        self.fills.retain(|(t, _)| t != template);
        self.fills.push((template.to_owned(), value.to_owned()));
        self
    }

    /// Sets an environment variable for both runs (`{case}`, `{run}` and `{local}` expand).
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Builds a code archive of `kind` (see entrypoint_cases.py) and stores it as the
    /// case's `code.tar.gz`; the runs then start in their own directory, where only the
    /// unpacked archive makes the task importable.
    pub fn with_archive(&mut self, kind: &str) -> &mut Self {
        let work = self.dir.path().join(format!("archive-{kind}"));
        fs::create_dir_all(&work).expect("an archive directory");
        helper(&["archive", kind], &work);
        let uri = format!("{}/code.tar.gz", self.case_root());
        store::put(self.backend, &work.join("code.tar.gz"), &uri);
        self.in_parity_dir = false;
        self
    }

    /// Stores the local file `from` at `{case}/<name>`, e.g. a previous checkpoint.
    pub fn put(&self, from: &Path, name: &str) {
        store::put(self.backend, from, &format!("{}/{name}", self.case_root()));
    }

    /// The case's local temporary directory (for files the test builds).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Builds a wheel of the module `parity_runtime_pkg` in the case's local directory
    /// and returns its path.
    pub fn build_wheel(&self) -> PathBuf {
        let work = self.dir.path().join("wheel");
        let stdout = helper(&["wheel", "-"], &work);
        PathBuf::from(stdout.lines().last().expect("the wheel's path"))
    }

    /// Runs one entrypoint.
    pub fn run(&self, entrypoint: Entrypoint) -> Run {
        self.run_signalled(entrypoint, None)
    }

    /// Runs one entrypoint and, once the file `{local}/<marker>` exists (the task writes
    /// it), sends the process `signal` (a name `kill -s` takes, e.g. `TERM`).
    pub fn run_signalled(&self, entrypoint: Entrypoint, signal: Option<(&str, &str)>) -> Run {
        let label = label(entrypoint);
        let local = self.dir.path().join(format!("{label}-local"));
        let bin = match entrypoint {
            Entrypoint::Flytekit => flyte_test_support::python()
                .parent()
                .expect("the venv's bin directory")
                .to_path_buf(),
            Entrypoint::Ours => local.join("bin"),
        };
        if entrypoint == Entrypoint::Ours {
            fs::create_dir_all(&bin).expect("a bin directory");
            for name in [
                "pyflyte-execute",
                "pyflyte-map-execute",
                "pyflyte-fast-execute",
            ] {
                std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pyflyte-execute"), bin.join(name))
                    .expect("a link to our binary");
            }
        }
        self.launch(label, &bin, Some(&flyte_test_support::python()), signal)
    }

    /// Runs the command as an image that installed its entrypoints into the Python
    /// environment whose scripts are in `bin` runs it: that directory first on `PATH`,
    /// and nothing else set up (no `PYFLYTE_EXECUTE_PYTHON`). `label` names the run's
    /// root and local directory, so one scenario can run in several environments.
    pub fn run_installed(&self, label: &str, bin: &Path) -> Run {
        self.launch(label, bin, None, None)
    }

    /// Runs the command's first word from `bin`, with `bin` first on `PATH` and
    /// `PYFLYTE_EXECUTE_PYTHON` set to `python` (or removed).
    fn launch(
        &self,
        label: &str,
        bin: &Path,
        python: Option<&Path>,
        signal: Option<(&str, &str)>,
    ) -> Run {
        let local = self.dir.path().join(format!("{label}-local"));
        let root = format!("{}/{label}", self.case_root());
        // `site` is an empty directory a test may put on PYTHONPATH for `pip --target`.
        for dir in ["tmp", "code", "site"] {
            fs::create_dir_all(local.join(dir)).expect("a local run directory");
        }
        let expand = |value: &str| {
            value
                .replace("{case}", &self.case_root())
                .replace("{run}", &root)
                .replace("{local}", &local.display().to_string())
        };
        let args: Vec<String> = self
            .command
            .iter()
            .map(|arg| {
                self.fills
                    .iter()
                    .fold(arg.clone(), |arg, (template, value)| {
                        arg.replace(template, &expand(value))
                    })
            })
            .collect();
        let path = flyte_test_support::path_with_first(bin);

        let stderr_path = local.join("stderr.txt");
        let mut command = Command::new(bin.join(&args[0]));
        command
            .args(&args[1..])
            .current_dir(if self.in_parity_dir {
                parity_dir()
            } else {
                local.clone()
            })
            .env("PATH", path)
            .env_remove("PYFLYTE_EXECUTE_PYTHON")
            .envs(python.map(|python| ("PYFLYTE_EXECUTE_PYTHON", python)))
            .env("FLYTE_SDK_LOGGING_LEVEL", "30")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("TMPDIR", local.join("tmp"))
            .envs(self.backend.env())
            .envs(self.env.iter().map(|(k, v)| (k.clone(), expand(v))))
            .stdin(File::open("/dev/null").expect("/dev/null"))
            .stdout(File::create(local.join("stdout.txt")).expect("stdout file"))
            .stderr(File::create(&stderr_path).expect("stderr file"));
        let signal = signal.map(|(marker, signal)| (local.join(marker), signal));
        let status = wait_with_timeout(command, label, signal);
        Run {
            label: label.to_owned(),
            status,
            stderr: fs::read_to_string(&stderr_path).unwrap_or_default(),
            files: store::snapshot(self.backend, &root),
            root,
            local,
            args,
        }
    }

    /// Runs flytekit and ours side by side.
    pub fn run_both(self) -> Pair {
        let (flytekit, ours) = side_by_side(|entrypoint| self.run(entrypoint));
        Pair {
            scenario: self,
            flytekit,
            ours,
        }
    }
}

/// Every case of entrypoint_cases.py, prepared once per test process (one Python start-up
/// instead of one per test): `<case>/inputs.pb` and `<case>/case.json`.
fn prepared_cases() -> &'static Path {
    static PREPARED: OnceLock<PathBuf> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let dir = per_process_dir("entrypoint-cases");
        helper(&["all", "-"], &dir);
        dir
    })
}

/// A fresh, empty directory for this test process under cargo's temporary directory for
/// integration tests, `<name>/<pid>`; the directories of finished test processes are
/// removed on the way.
pub fn per_process_dir(name: &str) -> PathBuf {
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if let Ok(entries) = fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !Path::new("/proc").join(&pid).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = parent.join(std::process::id().to_string());
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Runs entrypoint_cases.py in `dir`, returning its stdout.
fn helper(args: &[&str], dir: &Path) -> String {
    let output = Command::new(flyte_test_support::python())
        .arg(parity_dir().join("entrypoint_cases.py"))
        .args(args)
        .arg(dir)
        .current_dir(parity_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("entrypoint_cases.py starts");
    assert!(
        output.status.success(),
        "entrypoint_cases.py {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn label(entrypoint: Entrypoint) -> &'static str {
    match entrypoint {
        Entrypoint::Flytekit => "flytekit",
        Entrypoint::Ours => "ours",
    }
}

fn wait_with_timeout(
    mut command: Command,
    label: &str,
    mut signal: Option<(PathBuf, &str)>,
) -> ExitStatus {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {label} ({command:?}): {e}"));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return status;
        }
        if signal.as_ref().is_some_and(|(marker, _)| marker.exists()) {
            let (_, name) = signal.take().expect("checked");
            let sent = Command::new("kill")
                .args(["-s", name, &child.id().to_string()])
                .status();
            assert!(sent.is_ok_and(|s| s.success()), "kill -s {name} failed");
        }
        if started.elapsed() > TIMEOUT {
            child.kill().ok();
            child.wait().ok();
            panic!("{label} did not finish within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// What one entrypoint did.
pub struct Run {
    /// Which implementation ran (`flytekit`, `ours`) or in which environment.
    pub label: String,
    /// How the process ended.
    pub status: ExitStatus,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Every object under the run's root (`{run}`), by relative path: `outputs/…`,
    /// `raw/…`, `checkpoint/…`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The run's root URI.
    pub root: String,
    /// The run's local directory.
    pub local: PathBuf,
    /// The command line it ran, templates filled.
    pub args: Vec<String>,
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

    /// Relative paths of the run's objects, with a random error file name
    /// (`error-<32 hex digits>.pb`) shown as `error-<uuid>.pb`.
    pub fn names(&self) -> Vec<String> {
        self.files.keys().map(|name| normalise_name(name)).collect()
    }

    /// The object at `name` (relative to the run's root), decoded as `M`.
    pub fn message<M: Message + Default>(&self, name: &str) -> M {
        let bytes = self
            .files
            .get(name)
            .unwrap_or_else(|| panic!("{} wrote no {name}\n{}", self.label, self.summary()));
        M::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{} {name}: {e}", self.label))
    }

    /// The one error document under `dir` (e.g. `outputs`), whatever its name.
    pub fn error_document(&self, dir: &str) -> (String, ErrorDocument) {
        let names: Vec<&String> = self
            .files
            .keys()
            .filter(|name| {
                name.strip_prefix(&format!("{dir}/")).is_some_and(|file| {
                    !file.contains('/') && file.starts_with("error") && file.ends_with(".pb")
                })
            })
            .collect();
        assert_eq!(
            names.len(),
            1,
            "not exactly one error document in {dir}\n{}",
            self.summary()
        );
        (names[0].clone(), self.message(names[0]))
    }

    /// The object at `name` rendered for comparison: decoded by its file name, with the
    /// run's own root and local directory replaced by placeholders and error timestamps
    /// dropped. deck.html is compared by kind only (flytekit's own renders differ in
    /// timestamps), any other file byte for byte.
    pub fn rendered(&self, name: &str) -> String {
        let bytes = &self.files[name];
        let file = name.rsplit('/').next().unwrap_or(name);
        let text = if file == "outputs.pb" {
            debug_of::<LiteralMap>(bytes)
        } else if file.ends_with("_offloaded_metadata.pb") {
            debug_of::<Literal>(bytes)
        } else if file == "futures.pb" {
            debug_of::<DynamicJobSpec>(bytes)
        } else if file.starts_with("error") && file.ends_with(".pb") {
            let mut document = ErrorDocument::decode(bytes.as_slice()).expect("an error document");
            if let Some(error) = document.error.as_mut() {
                error.timestamp = None;
            }
            format!("{document:#?}")
        } else if file == "deck.html" {
            let text = String::from_utf8_lossy(bytes);
            format!(
                "HTML document: {}",
                text.trim_start()
                    .to_lowercase()
                    .starts_with("<!doctype html")
                    || text.contains("<html")
            )
        } else {
            format!("{:?}", String::from_utf8_lossy(bytes))
        };
        text.replace(&self.root, "<run>")
            .replace(&self.local.display().to_string(), "<local>")
    }

    /// How the run ended, its command line, files and the tail of its stderr.
    pub fn summary(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        let errors: String = self
            .files
            .iter()
            .filter(|(name, _)| {
                let file = name.rsplit('/').next().unwrap_or(name);
                file.starts_with("error") && file.ends_with(".pb")
            })
            .map(
                |(name, bytes)| match ErrorDocument::decode(bytes.as_slice()) {
                    Ok(document) => format!("{name}: {:?}\n", document.error),
                    Err(e) => format!("{name}: not an error document ({e})\n"),
                },
            )
            .collect();
        format!(
            "--- {} ({}), command {:?}\nfiles {:?}\n{errors}stderr tail:\n{tail}",
            self.label,
            self.ending(),
            self.args,
            self.names()
        )
    }
}

fn debug_of<M: Message + Default + Debug>(bytes: &[u8]) -> String {
    format!("{:#?}", M::decode(bytes).expect("a decodable message"))
}

/// `error-<32 hex digits>.pb` (flytekit's distributed error file) as `error-<uuid>.pb`.
fn normalise_name(name: &str) -> String {
    let (dir, file) = match name.rsplit_once('/') {
        Some((dir, file)) => (format!("{dir}/"), file),
        None => (String::new(), name),
    };
    match file
        .strip_prefix("error-")
        .and_then(|rest| rest.strip_suffix(".pb"))
    {
        Some(id) if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{dir}error-<uuid>.pb")
        }
        _ => name.to_owned(),
    }
}

/// flytekit's and our run of the same scenario.
pub struct Pair {
    /// The scenario both ran (kept so its temporary directory outlives the comparison).
    pub scenario: Scenario,
    /// The reference run.
    pub flytekit: Run,
    /// Our run.
    pub ours: Run,
}

impl Pair {
    /// Both runs' summaries, for failure messages.
    pub fn context(&self) -> String {
        context(&self.scenario.name, &self.flytekit, &self.ours)
    }

    /// [`assert_same_prefix`] of the two runs.
    pub fn assert_same_prefix(&self) {
        assert_same_prefix(&self.scenario.name, &self.flytekit, &self.ours);
    }

    /// [`Pair::assert_same_prefix`] for a failure: also the same last `Message:` section
    /// in both error documents under `outputs`.
    pub fn assert_same_error(&self) -> ErrorDocument {
        self.assert_same_prefix();
        let message = |run: &Run| {
            let (_, document) = run.error_document("outputs");
            document.error.expect("a container error")
        };
        let (flytekit, ours) = (message(&self.flytekit), message(&self.ours));
        assert_eq!(
            split_error_message(&flytekit.message).1,
            split_error_message(&ours.message).1
        );
        self.ours.error_document("outputs").1
    }
}

/// The case's name and both runs' summaries, for failure messages.
pub fn context(case: &str, flytekit: &Run, ours: &Run) -> String {
    format!("case {case}\n{}\n{}", flytekit.summary(), ours.summary())
}

/// Same exit status, same object names under the roots (random error ids aside), and
/// equal contents, each rendered by [`Run::rendered`]. Files under `raw/` are compared
/// by count only (flytekit names them randomly).
pub fn assert_same_prefix(case: &str, flytekit: &Run, ours: &Run) {
    let context = || context(case, flytekit, ours);
    assert!(
        !ours.stderr.contains("panicked at"),
        "ours panicked\n{}",
        context()
    );
    assert_eq!(
        flytekit.ending(),
        ours.ending(),
        "exit status differs\n{}",
        context()
    );
    let visible = |run: &Run| {
        run.names()
            .into_iter()
            .filter(|n| !n.starts_with("raw/"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        visible(flytekit),
        visible(ours),
        "object names differ\n{}",
        context()
    );
    let raw = |run: &Run| run.names().iter().filter(|n| n.starts_with("raw/")).count();
    assert_eq!(
        raw(flytekit),
        raw(ours),
        "numbers of raw objects differ\n{}",
        context()
    );
    let ours_by_name: BTreeMap<String, &String> =
        ours.files.keys().map(|n| (normalise_name(n), n)).collect();
    for name in flytekit.files.keys().filter(|n| !n.starts_with("raw/")) {
        let our_name = ours_by_name[&normalise_name(name)];
        let (expected, actual) = (flytekit.rendered(name), ours.rendered(our_name));
        if expected != actual {
            panic!(
                "{} differs (left: flytekit, right: ours)\n{}\n{}",
                normalise_name(name),
                line_diff(&expected, &actual),
                context()
            );
        }
    }
}

impl Pair {
    /// The execution metadata flytekit names and fills from the scenario's
    /// `FLYTE_INTERNAL_EXECUTION_*` variables, with the names `emulator` stores (Azure
    /// metadata names are C# identifiers: `-` becomes `_`).
    pub fn execution_metadata(&self, emulator: Emulator) -> BTreeMap<String, String> {
        [
            (
                "flyte-execution-project",
                "FLYTE_INTERNAL_EXECUTION_PROJECT",
            ),
            ("flyte-execution-domain", "FLYTE_INTERNAL_EXECUTION_DOMAIN"),
            ("flyte-execution-name", "FLYTE_INTERNAL_EXECUTION_ID"),
            (
                "flyte-execution-workflow",
                "FLYTE_INTERNAL_EXECUTION_WORKFLOW",
            ),
            (
                "flyte-execution-launchplan",
                "FLYTE_INTERNAL_EXECUTION_LAUNCHPLAN",
            ),
        ]
        .into_iter()
        .map(|(key, variable)| {
            let key = match emulator {
                Emulator::Azure => key.replace('-', "_"),
                _ => key.to_owned(),
            };
            (key, self.scenario.env[variable].clone())
        })
        .collect()
    }

    /// Every object our run wrote carries the execution metadata, and every object
    /// flytekit's run wrote with metadata carries the same as ours of the same name
    /// (objects under `raw/`, named randomly, are compared as a set). Where flytekit
    /// attaches none (s3fs drops it), ours still does; `flytekit_attaches` says which
    /// it is for this backend, so the difference docs/compatibility.md describes is
    /// checked too. On S3, whose emulator records content types faithfully, both
    /// runs' objects of the same name also carry the same content type ("unknown"
    /// spelled either way S3 spells it).
    pub fn assert_execution_metadata(&self, emulator: Emulator, flytekit_attaches: bool) {
        let expected = self.execution_metadata(emulator);
        let ours = object_properties(emulator, &self.ours);
        let flytekit = object_properties(emulator, &self.flytekit);
        assert!(!ours.is_empty(), "ours wrote nothing\n{}", self.context());
        for (name, properties) in &ours {
            assert_eq!(
                properties.metadata,
                expected,
                "our {name} lacks the execution metadata\n{}",
                self.context()
            );
        }
        let raw_metadata = |objects: &BTreeMap<String, ObjectProperties>| {
            objects
                .iter()
                .filter(|(name, _)| name.starts_with("raw/"))
                .map(|(_, properties)| properties.metadata.clone())
                .collect::<Vec<_>>()
        };
        for (name, theirs) in &flytekit {
            if name.starts_with("raw/") {
                continue;
            }
            let mine = &ours[name];
            if flytekit_attaches {
                assert_eq!(
                    theirs.metadata,
                    mine.metadata,
                    "{name}: metadata differs (left: flytekit, right: ours)\n{}",
                    self.context()
                );
            } else {
                assert!(
                    theirs.metadata.is_empty(),
                    "flytekit attached metadata to {name} after all: {:?}\n{}",
                    theirs.metadata,
                    self.context()
                );
            }
            if emulator == Emulator::S3 {
                assert_eq!(
                    unknown_type_as_one(&theirs.content_type),
                    unknown_type_as_one(&mine.content_type),
                    "{name}: content type differs (left: flytekit, right: ours)\n{}",
                    self.context()
                );
            }
        }
        if flytekit_attaches {
            assert_eq!(
                raw_metadata(&flytekit),
                raw_metadata(&ours),
                "metadata of raw objects differs\n{}",
                self.context()
            );
        }
    }
}

/// A content type with S3's two spellings of "unknown" as one: an object put with no
/// type is `binary/octet-stream` (S3's default, what s3fs leaves) or
/// `application/octet-stream` (what the AWS SDK for Rust sends for a body of no stated
/// type).
fn unknown_type_as_one(content_type: &Option<String>) -> Option<&str> {
    match content_type.as_deref() {
        Some("binary/octet-stream") => Some("application/octet-stream"),
        other => other,
    }
}

/// What each object of `run` was created with, read back from `emulator`, by path
/// relative to the run's root.
pub fn object_properties(emulator: Emulator, run: &Run) -> BTreeMap<String, ObjectProperties> {
    on_emulator(emulator, async |_| {
        let mut found = BTreeMap::new();
        for name in run.files.keys() {
            let uri = format!("{}/{name}", run.root);
            found.insert(name.clone(), emulator.properties(&uri).await);
        }
        found
    })
}

/// The lines of two renderings that differ, with a little context, for failure messages.
fn line_diff(left: &str, right: &str) -> String {
    let (left, right): (Vec<&str>, Vec<&str>) = (left.lines().collect(), right.lines().collect());
    let mut out = String::new();
    let mut shown = 0;
    for index in 0..left.len().max(right.len()) {
        let (l, r) = (left.get(index).copied(), right.get(index).copied());
        if l != r {
            out += &format!(
                "line {index}:\n  - {}\n  + {}\n",
                l.unwrap_or("<none>"),
                r.unwrap_or("<none>")
            );
            shown += 1;
            if shown == 12 {
                out += "…\n";
                break;
            }
        }
    }
    out
}
