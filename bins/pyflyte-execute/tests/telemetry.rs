//! What a real task run tells the outside world: statsd metrics, log lines, and never a
//! secret. Each test runs our binary on examples/demo's divider through real flytekit.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use flyte_proto::literal;

/// A finished run: its output, and the directory holding its output prefix.
struct Run {
    output: Output,
    dir: tempfile::TempDir,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }
}

/// Runs `divider(7, b)` with `env` added to a clean Flyte environment.
#[allow(
    clippy::disallowed_methods,
    reason = "clears the caller's Flyte variables from the run"
)]
fn run_divider(b: i64, env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = dir.path().join("inputs.pb");
    let map = literal::literal_map([("a", literal::integer(7)), ("b", literal::integer(b))]);
    flyte_proto::io::write_literal_map(&inputs, &map).expect("inputs");
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyflyte-execute"));
    command
        .current_dir(flyte_test_support::workspace_root().join("examples"))
        .env("PYFLYTE_EXECUTE_PYTHON", flyte_test_support::python())
        .env("HOME", dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("--inputs")
        .arg(&inputs)
        .arg("--output-prefix")
        .arg(dir.path().join("out"))
        .arg("--raw-output-data-prefix")
        .arg(dir.path().join("raw"))
        .args([
            "--resolver",
            "flytekit.core.python_auto_container.default_task_resolver",
            "--",
        ])
        .args(["task-module", "demo.tasks", "task-name", "divider"]);
    for (name, _) in std::env::vars() {
        if name.starts_with("FLYTE")
            || name.starts_with("_F_")
            || name.starts_with("AWS_")
            || name.starts_with("AZURE_")
        {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("pyflyte-execute runs");
    Run { output, dir }
}

const IDENTITY: [(&str, &str); 7] = [
    ("_F_TK_PRJ", "flytesnacks"),
    ("_F_TK_DM", "development"),
    ("_F_TK_NM", "demo.tasks.divider"),
    ("_F_PRJ", "flytesnacks"),
    ("_F_DM", "development"),
    ("_F_WF", "demo.wf"),
    ("_F_LP", "demo.lp"),
];

/// Runs the divider with statsd pointed at a fresh listener; returns the metric lines.
fn metrics_of_run(b: i64, extra: &[(&str, &str)]) -> Vec<String> {
    let listener = UdpSocket::bind("127.0.0.1:0").expect("udp listener");
    listener
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let port = listener.local_addr().expect("addr").port().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("FLYTE_STATSD_HOST", "127.0.0.1"),
        ("FLYTE_STATSD_PORT", &port),
    ];
    env.extend(IDENTITY);
    env.extend(extra);
    let run = run_divider(b, &env);
    assert!(run.output.status.success(), "run failed:\n{}", run.stderr());
    let mut lines = Vec::new();
    let mut buffer = [0u8; 65536];
    while let Ok(read) = listener.recv(&mut buffer) {
        lines.extend(
            String::from_utf8_lossy(&buffer[..read])
                .lines()
                .map(str::to_owned),
        );
    }
    lines
}

fn metric<'a>(lines: &'a [String], name: &str) -> Option<&'a String> {
    lines.iter().find(|line| line.starts_with(name))
}

#[test]
fn a_run_sends_phase_timers_byte_counters_and_its_outcome_with_flytekit_tags() {
    let lines = metrics_of_run(2, &[]);
    let prefix = "flytesnacks.development.demo.tasks.divider.entrypoint";
    let tags = ".__exec_domain=development.__exec_launchplan=demo_lp.__exec_project=flytesnacks.__exec_workflow=demo_wf";
    for phase in [
        "inputs_download",
        "worker_start",
        "task_execution",
        "outputs_upload",
    ] {
        let name = format!("{prefix}.{phase}{tags}:");
        let line = metric(&lines, &name).unwrap_or_else(|| panic!("no {name} in {lines:#?}"));
        assert!(line.ends_with("|ms"), "{line}");
    }
    for counter in ["bytes_downloaded", "bytes_uploaded", "outcome.success"] {
        let name = format!("{prefix}.{counter}{tags}:");
        let line = metric(&lines, &name).unwrap_or_else(|| panic!("no {name} in {lines:#?}"));
        assert!(line.ends_with("|c"), "{line}");
    }
    let downloaded = metric(&lines, &format!("{prefix}.bytes_downloaded")).expect("bytes");
    assert_ne!(
        downloaded.split(':').nth(1),
        Some("0|c"),
        "inputs.pb is not empty: {downloaded}"
    );
}

#[test]
fn a_user_error_is_counted_as_one() {
    let lines = metrics_of_run(0, &[]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(".entrypoint.outcome.user_error.")),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(".entrypoint.outcome.success")),
        "{lines:#?}"
    );
}

#[test]
fn statsd_disabled_sends_nothing() {
    let lines = metrics_of_run(2, &[("FLYTE_STATSD_DISABLED", "true")]);
    assert!(lines.is_empty(), "{lines:#?}");
}

#[test]
fn statsd_disable_tags_sends_bare_names() {
    let lines = metrics_of_run(2, &[("FLYTE_STATSD_DISABLE_TAGS", "true")]);
    assert!(
        metric(
            &lines,
            "flytesnacks.development.demo.tasks.divider.entrypoint.task_execution:"
        )
        .is_some(),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("__exec")), "{lines:#?}");
}

/// Lines our own crates wrote (flytekit's carry the name `flytekit`).
fn our_log_lines(run: &Run) -> Vec<serde_json::Value> {
    run.stderr()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|value| {
            value["name"]
                .as_str()
                .is_some_and(|name| !name.starts_with("flytekit"))
        })
        .collect()
}

#[test]
fn json_log_lines_carry_flytekits_keys_and_levels_filter() {
    // With an execution id flytekit logs JSON too, as in a pod: every line must parse.
    let run = run_divider(
        2,
        &[
            ("FLYTE_SDK_LOGGING_LEVEL", "20"),
            ("FLYTE_INTERNAL_EXECUTION_ID", "a1"),
        ],
    );
    assert!(run.output.status.success(), "{}", run.stderr());
    for line in run.stderr().lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        for key in ["asctime", "name", "levelname", "message"] {
            assert!(keys.contains(&key), "{key} missing in {line}");
        }
    }
    let ours = our_log_lines(&run);
    assert!(
        ours.iter().any(|v| v["levelname"] == "INFO"),
        "INFO lines expected at level 20: {}",
        run.stderr()
    );

    let quiet = run_divider(
        2,
        &[
            ("FLYTE_SDK_LOGGING_LEVEL", "40"),
            ("FLYTE_INTERNAL_EXECUTION_ID", "a1"),
        ],
    );
    assert!(
        our_log_lines(&quiet)
            .iter()
            .all(|v| v["levelname"] == "ERROR"),
        "{}",
        quiet.stderr()
    );
}

#[test]
fn text_log_format_writes_plain_lines() {
    let run = run_divider(
        2,
        &[
            ("FLYTE_SDK_LOGGING_LEVEL", "20"),
            ("FLYTE_SDK_LOGGING_FORMAT", "text"),
        ],
    );
    assert!(run.output.status.success(), "{}", run.stderr());
    let finished = run
        .stderr()
        .lines()
        .find(|l| l.contains("task run finished"))
        .map(str::to_owned);
    let finished =
        finished.unwrap_or_else(|| panic!("no 'task run finished' line:\n{}", run.stderr()));
    assert!(
        serde_json::from_str::<serde_json::Value>(&finished).is_err(),
        "{finished}"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path)
            } else {
                files.push(path)
            }
        }
    }
    files
}

#[test]
fn secrets_never_reach_logs_or_error_documents() {
    let secrets = [
        ("FLYTE_AWS_ACCESS_KEY_ID", "AKIAPYFLYTEEXECUTETEST"),
        ("FLYTE_AWS_SECRET_ACCESS_KEY", "aws-secret-4c1f9e7d2b"),
        (
            "AZURE_STORAGE_SAS_TOKEN",
            "sv=2024-01-01&sig=sas-secret-77aa99",
        ),
        ("FLYTE_AZURE_CLIENT_SECRET", "azure-client-secret-5e3d"),
        ("AZURE_CLIENT_SECRET", "azure-client-secret-5e3d"),
    ];
    let mut env: Vec<(&str, &str)> = secrets.to_vec();
    env.push(("FLYTE_SDK_LOGGING_LEVEL", "10"));
    let run = run_divider(0, &env);
    let mut captured = run.stderr() + &String::from_utf8_lossy(&run.output.stdout);
    let files = files_under(&run.out_dir());
    assert!(
        !files.is_empty(),
        "the failing run writes an error document"
    );
    for file in files {
        captured.push_str(&String::from_utf8_lossy(
            &std::fs::read(file).expect("read"),
        ));
    }
    for (name, value) in secrets {
        assert!(!captured.contains(value), "{name}'s value leaked");
    }
    // The debug-level run did log: the check above looked at real output.
    assert!(captured.contains("ZeroDivisionError"));
    let report = Command::new(env!("CARGO_BIN_EXE_pyflyte-execute"))
        .arg("--show-config")
        .envs(secrets)
        .output()
        .expect("--show-config runs");
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(report.contains("secret_access_key"), "{report}");
    for (name, value) in secrets {
        assert!(
            !report.contains(value),
            "{name}'s value shown by --show-config"
        );
    }
}
