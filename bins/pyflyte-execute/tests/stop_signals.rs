//! A stop signal is honoured at every moment of a run, and a failure that cannot be
//! written still says why: each test runs our binary through real flytekit, reaches a
//! phase (known from the process tree or a marker file, not guessed by sleeping), sends
//! SIGTERM, and asserts an error document naming the stop and an exit well within the
//! grace plus a margin. Loopback only: the "store" that never answers is a listener
//! this test starts, which accepts and stays silent, and stops by itself.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flyte_proto::core::ContainerError;
use flyte_proto::literal;

/// The stop grace every run here gets.
const GRACE_SECONDS: &str = "3";
/// How long after SIGTERM a run may take to exit: the grace, the pipeline's margins, and
/// plenty for a loaded machine; a run that hangs (waits for a SIGKILL that a pod would
/// send) fails well before the suite's own bounds.
const EXIT_BOUND: Duration = Duration::from_secs(30);
/// How long a phase may take to be reached (Python and flytekit start up first).
const PHASE_BOUND: Duration = Duration::from_secs(60);

/// Tasks that reach the phases the tests stop them in; the marker file tells the test.
const TASKS: &str = r#"
import os
import tempfile
import time

from flytekit import task
from flytekit.types.file import FlyteFile


def _mark():
    with open(os.environ["STOP_TEST_MARKER"], "w"):
        pass


@task
def closes_its_descriptors() -> int:
    # Closes the control and bridge sockets it inherited, then outlives any test.
    os.closerange(3, 65536)
    _mark()
    time.sleep(120)
    return 1


@task
def lingers_at_exit() -> int:
    import atexit

    def linger():
        _mark()
        time.sleep(120)

    atexit.register(linger)
    return 1


@task
def returns_a_fifo() -> FlyteFile:
    path = os.path.join(tempfile.mkdtemp(), "pipe")
    os.mkfifo(path)
    _mark()
    return FlyteFile(path)
"#;

/// A task module whose import outlives any test, once it has written the marker.
const SLOW_IMPORT: &str = r#"
import os
import time

from flytekit import task

with open(os.environ["STOP_TEST_MARKER"], "w"):
    pass
time.sleep(120)


@task
def never_loaded() -> int:
    return 1
"#;

/// A TCP listener on loopback that accepts connections and never answers; it stops
/// by itself when dropped or after two minutes.
struct Blackhole {
    port: u16,
    accepted: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
}

impl Blackhole {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("its address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (count, stop) = (accepted.clone(), done.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        held.push(stream);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Blackhole {
            port,
            accepted,
            done,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment pointing S3 at this listener.
    fn s3_env(&self) -> Vec<(String, String)> {
        [
            ("FLYTE_AWS_ENDPOINT", self.endpoint()),
            ("FLYTE_AWS_ACCESS_KEY_ID", "minio".to_owned()),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", "miniostorage".to_owned()),
        ]
        .map(|(name, value)| (name.to_owned(), value))
        .to_vec()
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// One run of our binary, in its own directory.
struct Run {
    dir: tempfile::TempDir,
    child: Child,
    /// The output prefix.
    out: PathBuf,
}

/// How a run ended.
struct Ended {
    status: ExitStatus,
    after_signal: Duration,
    stderr: String,
    out: PathBuf,
    /// The run's directory, kept until the outcome is read.
    _dir: tempfile::TempDir,
}

impl Ended {
    fn error(&self) -> ContainerError {
        let path = self.out.join("error.pb");
        flyte_proto::io::read_error_document(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\nstderr:\n{}", path.display(), self.stderr))
            .error
            .expect("a container error")
    }
}

/// What to run: `task-module <module> task-name <task>`.
#[derive(Default)]
struct Task<'a> {
    module: &'a str,
    task: &'a str,
    /// `--inputs`; default: `<dir>/inputs.pb` with `a=7, b=<b>`.
    inputs: Option<String>,
    /// The divider's `b` in the default inputs.
    b: i64,
    /// `--output-prefix`; default `<dir>/out`.
    out: Option<PathBuf>,
    /// `--raw-output-data-prefix`; default `<dir>/raw`.
    raw: Option<String>,
    env: Vec<(String, String)>,
}

/// The demo's divider, on `b`.
fn divider(b: i64) -> Task<'static> {
    Task {
        module: "demo.tasks",
        task: "divider",
        b,
        ..Task::default()
    }
}

/// One of [`TASKS`].
fn stop_task(task: &str) -> Task<'_> {
    Task {
        module: "stop_tasks",
        task,
        ..Task::default()
    }
}

/// Starts `task` in a fresh directory.
#[allow(
    clippy::disallowed_methods,
    reason = "clears the caller's Flyte variables from the run"
)]
fn start(task: Task<'_>) -> Run {
    let Task {
        module,
        task,
        inputs,
        b,
        out,
        raw,
        env,
    } = task;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("stop_tasks.py"), TASKS).expect("the tasks");
    std::fs::write(dir.path().join("slow_import.py"), SLOW_IMPORT).expect("the tasks");
    let default_inputs = dir.path().join("inputs.pb");
    let map = literal::literal_map([("a", literal::integer(7)), ("b", literal::integer(b))]);
    flyte_proto::io::write_literal_map(&default_inputs, &map).expect("inputs");
    let inputs = inputs.unwrap_or_else(|| default_inputs.display().to_string());
    let raw = raw.unwrap_or_else(|| dir.path().join("raw").display().to_string());
    let out = out.unwrap_or_else(|| dir.path().join("out"));
    let cwd = if module != "demo.tasks" {
        dir.path().to_path_buf()
    } else {
        flyte_test_support::workspace_root().join("examples")
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyflyte-execute"));
    command
        .current_dir(cwd)
        .env("PYFLYTE_EXECUTE_PYTHON", flyte_test_support::python())
        .env("HOME", dir.path())
        .env("TMPDIR", dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYFLYTE_EXECUTE_STOP_GRACE_SECONDS", GRACE_SECONDS)
        .env("STOP_TEST_MARKER", dir.path().join("marker"))
        .arg("--inputs")
        .arg(inputs)
        .arg("--output-prefix")
        .arg(&out)
        .arg("--raw-output-data-prefix")
        .arg(raw)
        .args([
            "--resolver",
            "flytekit.core.python_auto_container.default_task_resolver",
            "--",
        ])
        .args(["task-module", module, "task-name", task])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.txt")).expect("stderr file"));
    for (name, _) in std::env::vars() {
        if name.starts_with("FLYTE")
            || name.starts_with("_F_")
            || name.starts_with("AWS_")
            || name.starts_with("AZURE_")
            || name.starts_with("PYFLYTE_EXECUTE_TERMINATION")
        {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().map(|(name, value)| (name, value)));
    let child = command.spawn().expect("pyflyte-execute starts");
    Run { dir, child, out }
}

impl Run {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn marker(&self) -> PathBuf {
        self.dir.path().join("marker")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.txt")).unwrap_or_default()
    }

    /// Waits until `reached` says the phase is reached; fails the test (killing the
    /// run) if the run ends first or the phase takes longer than [`PHASE_BOUND`].
    fn wait_for(&mut self, phase: &str, reached: impl Fn(&Run) -> bool) {
        let started = Instant::now();
        while !reached(self) {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "the run ended ({status}) before {phase}:\n{}",
                    self.stderr()
                );
            }
            if started.elapsed() > PHASE_BOUND {
                self.child.kill().ok();
                self.child.wait().ok();
                panic!(
                    "{phase} was not reached within {PHASE_BOUND:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit, at most [`EXIT_BOUND`].
    fn terminate(mut self) -> Ended {
        let sent = Command::new("kill")
            .args(["-s", "TERM", &self.pid().to_string()])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -s TERM failed");
        let signalled = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if signalled.elapsed() > EXIT_BOUND {
                self.child.kill().ok();
                self.child.wait().ok();
                panic!(
                    "the run was still there {EXIT_BOUND:?} after SIGTERM (a pod would have been \
                     SIGKILLed with nothing written):\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Not asserted beyond the bound; printed for whoever reads the test's output.
        eprintln!("exited {:?} after SIGTERM ({status})", signalled.elapsed());
        Ended {
            status,
            after_signal: signalled.elapsed(),
            stderr: self.stderr(),
            out: self.out,
            _dir: self.dir,
        }
    }

    /// Waits for the exit, at most [`PHASE_BOUND`], with no signal sent.
    fn finish(mut self) -> Ended {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if started.elapsed() > PHASE_BOUND {
                self.child.kill().ok();
                self.child.wait().ok();
                panic!(
                    "the run did not end within {PHASE_BOUND:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ended {
            status,
            after_signal: Duration::ZERO,
            stderr: self.stderr(),
            out: self.out,
            _dir: self.dir,
        }
    }
}

/// Asserts that the run ended promptly with exit 0 and an error document saying the
/// stop, with one of `codes`.
fn assert_stopped(ended: &Ended, codes: &[&str]) -> ContainerError {
    assert!(
        ended.status.success(),
        "{}:\n{}",
        ended.status,
        ended.stderr
    );
    assert!(
        ended.after_signal < EXIT_BOUND,
        "exited {:?} after SIGTERM",
        ended.after_signal
    );
    let error = ended.error();
    assert!(codes.contains(&error.code.as_str()), "{error:?}");
    assert!(error.message.contains("SIGTERM"), "{}", error.message);
    assert_eq!(
        error.kind(),
        flyte_proto::core::container_error::Kind::Recoverable,
        "{error:?}"
    );
    error
}

#[test]
fn sigterm_while_inputs_download_from_a_store_that_never_answers_writes_a_stopped_error() {
    let blackhole = Blackhole::start();
    let mut run = start(Task {
        inputs: Some("s3://bucket/metadata/inputs.pb".to_owned()),
        env: blackhole.s3_env(),
        ..divider(2)
    });
    run.wait_for("the inputs download", |_| {
        blackhole.accepted.load(Ordering::Relaxed) > 0
    });
    let ended = run.terminate();
    let error = assert_stopped(&ended, &["SYSTEM:Stopped"]);
    assert!(
        error.message.contains("inputs were being downloaded")
            || error.message.contains("loaded and its inputs downloaded"),
        "{}",
        error.message
    );
}

#[test]
fn a_fifo_as_inputs_is_refused_at_once_naming_it_instead_of_blocking_the_run() {
    // Reading a FIFO would block until a writer came (and a SIGTERM meanwhile found a
    // thread stuck in the kernel): the file's type is checked before it is opened.
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("inputs.pb");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let ended = start(Task {
        inputs: Some(fifo.display().to_string()),
        ..divider(2)
    })
    .finish();
    assert!(
        ended.status.success(),
        "{}:\n{}",
        ended.status,
        ended.stderr
    );
    let error = ended.error();
    assert!(
        error.message.contains(&*fifo.to_string_lossy()) && error.message.contains("FIFO"),
        "{}",
        error.message
    );
}

#[test]
fn sigterm_while_the_task_module_imports_writes_a_stopped_error() {
    let mut run = start(Task {
        module: "slow_import",
        task: "never_loaded",
        ..Task::default()
    });
    run.wait_for("the task module's import", |run| run.marker().exists());
    let ended = run.terminate();
    let error = assert_stopped(&ended, &["SYSTEM:Stopped"]);
    assert!(error.message.contains("being loaded"), "{}", error.message);
}

#[test]
fn sigterm_while_the_worker_exits_after_its_result_keeps_the_outputs_and_ends_promptly() {
    let mut run = start(stop_task("lingers_at_exit"));
    run.wait_for("the worker's exit", |run| run.marker().exists());
    let ended = run.terminate();
    assert!(
        ended.status.success(),
        "{}:\n{}",
        ended.status,
        ended.stderr
    );
    let outputs = flyte_proto::io::read_literal_map(ended.out.join("outputs.pb"))
        .unwrap_or_else(|e| panic!("outputs.pb: {e}\n{}", ended.stderr));
    assert_eq!(outputs.literals["o0"].as_integer(), Some(1));
    assert!(!ended.out.join("error.pb").exists());
}

#[test]
fn sigterm_after_the_task_closed_its_control_socket_is_passed_on_and_reported() {
    let mut run = start(stop_task("closes_its_descriptors"));
    run.wait_for("the task closing its descriptors", |run| {
        run.marker().exists()
    });
    let ended = run.terminate();
    assert_stopped(&ended, &["SYSTEM:WorkerDied", "SYSTEM:Stopped"]);
}

#[test]
fn a_fifo_returned_as_a_flytefile_is_refused_naming_it_instead_of_blocking_the_upload() {
    let blackhole = Blackhole::start();
    let ended = start(Task {
        raw: Some("s3://bucket/raw".to_owned()),
        env: blackhole.s3_env(),
        ..stop_task("returns_a_fifo")
    })
    .finish();
    assert!(
        ended.status.success(),
        "{}:\n{}",
        ended.status,
        ended.stderr
    );
    let error = ended.error();
    assert!(
        error.message.contains("FIFO") && error.message.contains("pipe"),
        "{}",
        error.message
    );
    assert_eq!(
        blackhole.accepted.load(Ordering::Relaxed),
        0,
        "nothing was sent to the store"
    );
}

#[test]
fn sigterm_while_the_outcome_goes_to_a_store_that_never_answers_ends_and_leaves_a_termination_message()
 {
    let blackhole = Blackhole::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let termination = dir.path().join("termination-log");
    let mut env = blackhole.s3_env();
    env.push((
        "PYFLYTE_EXECUTE_TERMINATION_MESSAGE_PATH".to_owned(),
        termination.display().to_string(),
    ));
    let mut run = start(Task {
        out: Some("s3://bucket/metadata/out".into()),
        env,
        ..divider(2)
    });
    run.wait_for("a connection to the store", |_| {
        blackhole.accepted.load(Ordering::Relaxed) > 0
    });
    let ended = run.terminate();
    // Nothing could be written: flytekit's exit status for that.
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
    let message = std::fs::read_to_string(&termination).expect("a termination message");
    assert!(message.len() <= 4096, "{} bytes", message.len());
    assert!(message.contains("could not write"), "{message}");
    assert!(message.contains("SIGTERM"), "{message}");
}

#[test]
fn a_stop_grace_too_long_for_a_clock_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_pyflyte-execute"))
        .env("PYFLYTE_EXECUTE_STOP_GRACE_SECONDS", "9223372036854775807")
        .env("HOME", dir.path())
        .args(["--inputs", "/nonexistent/inputs.pb", "--output-prefix"])
        .arg(dir.path().join("out"))
        .args(["--", "task-module", "m", "task-name", "t"])
        .output()
        .expect("pyflyte-execute runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "PYFLYTE_EXECUTE_STOP_GRACE_SECONDS",
        "9223372036854775807",
        "from 0 to 86400 seconds",
    ] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn an_error_document_that_cannot_be_written_leaves_its_cause_in_the_termination_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The output prefix lies under a regular file: error.pb cannot be written there.
    std::fs::write(dir.path().join("file"), b"").expect("write");
    let termination = dir.path().join("termination-log");
    let ended = start(Task {
        out: Some(dir.path().join("file/out")),
        env: vec![(
            "PYFLYTE_EXECUTE_TERMINATION_MESSAGE_PATH".to_owned(),
            termination.display().to_string(),
        )],
        ..divider(0)
    })
    .finish();
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
    let message = std::fs::read_to_string(&termination).expect("a termination message");
    assert!(message.len() <= 4096, "{} bytes", message.len());
    assert!(
        message.starts_with("could not write error.pb under the output prefix"),
        "{message}"
    );
    assert!(message.contains("ZeroDivisionError"), "{message}");
}
