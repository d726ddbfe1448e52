//! No credential reaches error.pb, stderr or a log line, at debug level, whichever file
//! the store that holds it fails on (issue 20, item 1): inputs.pb, the output prefix, or
//! a FlyteFile the task's flytekit uploads through the storage bridge.
//!
//! The stores are configured as a pod would be, through flytekit's variables, with
//! secrets in them, and pointed at a loopback port nothing listens on (bound by the test,
//! then closed), so every request fails at once. Each run is bounded in time.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use flyte_proto::core::Literal;
use flyte_proto::literal;

/// How long one run may take before the test fails: the retries against a closed port
/// take seconds.
const RUN_BOUND: Duration = Duration::from_secs(120);

/// The secrets the environments below carry.
const SECRETS: &[&str] = &["SASSECRET", "USERSECRET", "KEYSECRET", "TOKENSECRET"];

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The Azure connection string of issue 20, for a dead endpoint.
fn azure_env(port: u16) -> Vec<(String, String)> {
    vec![(
        "AZURE_STORAGE_CONNECTION_STRING".into(),
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
             BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;\
             SharedAccessSignature=sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=SASSECRET"
        ),
    )]
}

/// S3 with a secret key, a session token and `user:password@` in the endpoint.
fn s3_env(port: u16) -> Vec<(String, String)> {
    [
        (
            "FLYTE_AWS_ENDPOINT",
            format!("http://user:USERSECRET@127.0.0.1:{port}"),
        ),
        ("FLYTE_AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".into()),
        ("FLYTE_AWS_SECRET_ACCESS_KEY", "KEYSECRET".into()),
        ("AWS_SESSION_TOKEN", "TOKENSECRET".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// Where a run reads and writes; `{dir}` is replaced by the run's directory.
struct Places {
    inputs: &'static str,
    output_prefix: &'static str,
    raw_prefix: &'static str,
}

/// A finished run.
struct Run {
    output: Output,
    dir: tempfile::TempDir,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs `task` of examples/demo with `inputs` written to `{dir}/inputs.pb` (and, for a
/// remote `--inputs`, nowhere the run can reach), at debug level, with `env` added to a
/// clean Flyte environment.
#[allow(
    clippy::disallowed_methods,
    reason = "clears the caller's Flyte and cloud variables from the run"
)]
fn run(task: &str, inputs: &[(&str, Literal)], places: &Places, env: &[(String, String)]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |text: &str| text.replace("{dir}", &dir.path().display().to_string());
    let map = literal::literal_map(inputs.iter().cloned());
    flyte_proto::io::write_literal_map(dir.path().join("inputs.pb"), &map).expect("inputs");
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyflyte-execute"));
    command
        .current_dir(flyte_test_support::workspace_root().join("examples"))
        .env("PYFLYTE_EXECUTE_PYTHON", flyte_test_support::python())
        .env("HOME", dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("FLYTE_SDK_LOGGING_LEVEL", "10")
        .arg("--inputs")
        .arg(at(places.inputs))
        .arg("--output-prefix")
        .arg(at(places.output_prefix))
        .arg("--raw-output-data-prefix")
        .arg(at(places.raw_prefix))
        .args([
            "--resolver",
            "flytekit.core.python_auto_container.default_task_resolver",
            "--",
        ])
        .args(["task-module", "demo.tasks", "task-name", task])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("FLYTE")
            || name.starts_with("_F_")
            || name.starts_with("AWS_")
            || name.starts_with("AZURE_")
            || name.starts_with("STORAGE_EMULATOR")
        {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().map(|(name, value)| (name, value)));
    let mut child = command.spawn().expect("pyflyte-execute starts");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > RUN_BOUND {
            let _ = child.kill();
            panic!("pyflyte-execute {task} ran over {RUN_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    Run { output, dir }
}

/// The run's error.pb, decoded, as text: its code and message.
fn error_document_text(path: &Path, run: &Run) -> String {
    let document = flyte_proto::io::read_error_document(path)
        .unwrap_or_else(|e| panic!("no error document at {path:?} ({e}):\n{}", run.stderr()));
    let error = document.error.expect("the document holds an error");
    format!("{}: {}", error.code, error.message)
}

fn assert_says_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} says {secret}:\n{text}");
    }
}

#[test]
fn an_unreachable_azure_inputs_pb_leaves_no_sas_in_error_pb_or_stderr() {
    let run = run(
        "divider",
        &[],
        &Places {
            inputs: "abfs://cont/run/inputs.pb",
            output_prefix: "{dir}/out",
            raw_prefix: "{dir}/raw",
        },
        &azure_env(dead_port()),
    );
    let document = error_document_text(&run.dir.path().join("out/error.pb"), &run);
    assert_says_no_secret("error.pb", &document);
    assert!(
        document.contains("abfs://cont/run/inputs.pb"),
        "error.pb names what could not be read: {document}"
    );
    assert!(
        document.contains("http://127.0.0.1:"),
        "error.pb keeps where the request went: {document}"
    );
    assert_says_no_secret("stderr", &run.stderr());
}

#[test]
fn an_unreachable_azure_output_prefix_leaves_no_sas_on_stderr() {
    let run = run(
        "divider",
        &[("a", literal::integer(7)), ("b", literal::integer(2))],
        &Places {
            inputs: "{dir}/inputs.pb",
            output_prefix: "abfs://cont/run/out",
            raw_prefix: "{dir}/raw",
        },
        &azure_env(dead_port()),
    );
    let stderr = run.stderr();
    assert!(
        !run.output.status.success(),
        "nothing could be written:\n{stderr}"
    );
    assert!(
        stderr.contains("abfs://cont/run/out"),
        "stderr names where the outputs could not go:\n{stderr}"
    );
    assert_says_no_secret("stderr", &stderr);
}

#[test]
fn an_unreachable_azure_raw_prefix_leaves_no_sas_in_the_workers_error_pb_or_stderr() {
    // Inputs and outputs local: the FlyteFile upload fails in the worker, through the
    // storage bridge, and the error document says what flytekit made of it.
    let run = run(
        "write_report",
        &[("title", literal::string("t"))],
        &Places {
            inputs: "{dir}/inputs.pb",
            output_prefix: "{dir}/out",
            raw_prefix: "abfs://cont/run/raw",
        },
        &azure_env(dead_port()),
    );
    let document = error_document_text(&run.dir.path().join("out/error.pb"), &run);
    assert_says_no_secret("error.pb", &document);
    assert!(
        document.contains("abfs://cont/run/raw"),
        "error.pb names where the file could not go: {document}"
    );
    assert_says_no_secret("stderr", &run.stderr());
}

#[test]
fn an_unreachable_s3_endpoint_with_userinfo_leaves_no_secret_in_error_pb_or_stderr() {
    let run = run(
        "divider",
        &[],
        &Places {
            inputs: "s3://bucket/run/inputs.pb",
            output_prefix: "{dir}/out",
            raw_prefix: "{dir}/raw",
        },
        &s3_env(dead_port()),
    );
    let document = error_document_text(&run.dir.path().join("out/error.pb"), &run);
    assert_says_no_secret("error.pb", &document);
    assert!(
        document.contains("s3://bucket/run/inputs.pb"),
        "error.pb names what could not be read: {document}"
    );
    assert_says_no_secret("stderr", &run.stderr());
}
