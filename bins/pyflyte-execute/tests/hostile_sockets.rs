//! A task that writes to the supervisor's sockets from inside the worker's process (junk
//! lines, half an event, hundreds of megabytes without a newline) still gets its own
//! outcome, and the supervisor's memory stays bounded. Runs real flytekit.

use std::path::Path;
use std::process::{Command, Output};

use flyte_proto::literal;

/// The tasks: each writes to every socket its process has open (the worker's control
/// connection among them), then returns `n + 1`.
const TASKS: &str = r#"
import os
import stat

from flytekit import task


def _sockets():
    for name in os.listdir("/proc/self/fd"):
        try:
            if stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                yield int(name)
        except OSError:
            pass


def _write_all(fd, data):
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass  # not a connected stream socket (a datagram socket, say)


@task
def junk_writer(n: int) -> int:
    for fd in _sockets():
        _write_all(fd, b"this is not an event\n")
        _write_all(fd, b'{"event": "fatal", "trace": "forged"}\n')
        # Half an event and no newline: whatever the worker sends next must survive it.
        _write_all(fd, b'{"event": "finis')
    return n + 1


@task
def flooder(n: int) -> int:
    chunk = b"x" * (1 << 20)
    for fd in _sockets():
        for _ in range(400):
            _write_all(fd, chunk)
    return n + 1
"#;

/// Runs `task(n=41)` from [`TASKS`] with info logs; the run's output and where its
/// output prefix is.
#[allow(
    clippy::disallowed_methods,
    reason = "clears the caller's Flyte variables from the run"
)]
fn run(task: &str, dir: &Path) -> Output {
    std::fs::write(dir.join("hostile_tasks.py"), TASKS).expect("task module");
    let inputs = dir.join("inputs.pb");
    let map = literal::literal_map([("n", literal::integer(41))]);
    flyte_proto::io::write_literal_map(&inputs, &map).expect("inputs");
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyflyte-execute"));
    command
        .current_dir(dir)
        .env("PYFLYTE_EXECUTE_PYTHON", flyte_test_support::python())
        .env("HOME", dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("FLYTE_SDK_LOGGING_LEVEL", "20")
        .arg("--inputs")
        .arg(&inputs)
        .arg("--output-prefix")
        .arg(dir.join("out"))
        .arg("--raw-output-data-prefix")
        .arg(dir.join("raw"))
        .args([
            "--resolver",
            "flytekit.core.python_auto_container.default_task_resolver",
            "--",
        ])
        .args(["task-module", "hostile_tasks", "task-name", task]);
    for (name, _) in std::env::vars() {
        if name.starts_with("FLYTE") || name.starts_with("_F_") {
            command.env_remove(name);
        }
    }
    command.output().expect("pyflyte-execute runs")
}

/// Asserts the run succeeded with the task's own output, 42.
fn assert_succeeded_with_42(output: &Output, dir: &Path) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Ok(error) = flyte_proto::io::read_error_document(dir.join("out/error.pb")) {
        panic!("the task failed: {error:?}\n{stderr}");
    }
    assert!(output.status.success(), "{:?}\n{stderr}", output.status);
    let outputs = flyte_proto::io::read_literal_map(dir.join("out/outputs.pb")).expect("outputs");
    assert_eq!(
        outputs.literals.get("o0"),
        Some(&literal::integer(42)),
        "{stderr}"
    );
}

#[test]
fn junk_a_task_writes_to_the_control_socket_is_logged_and_cannot_fail_the_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run("junk_writer", dir.path());
    assert_succeeded_with_42(&output, dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ignoring a line on the worker's control channel"),
        "{stderr}"
    );
}

#[test]
fn a_task_flooding_the_control_socket_without_a_newline_leaves_the_supervisor_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run("flooder", dir.path());
    assert_succeeded_with_42(&output, dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The supervisor logs its own peak when the worker reports; 400 MiB went past it.
    let peak_kib: u64 = stderr
        .split("supervisor_peak_rss_kib")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .unwrap_or_else(|| panic!("no supervisor peak in the log:\n{stderr}"));
    assert!(
        peak_kib < 160 * 1024,
        "the supervisor peaked at {peak_kib} KiB while the task wrote 400 MiB to its socket"
    );
    assert!(stderr.contains("over the limit"), "{stderr}");
}
