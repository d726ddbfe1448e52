//! `cargo xtask bench`, part two: whole task runs that offload large outputs to S3
//! (moto), through flytekit's pyflyte-execute and through ours, with wall time and peak
//! memory of each process. A report, not a timed test: nothing fails on speed.
//!
//! flytekit runs in one process, measured by `/usr/bin/time -v`. Ours is a supervisor
//! and a worker: each reports its own peak (VmHWM and getrusage) in the run's log.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use flyte_proto::literal;

use crate::emulators::Emulators;
use crate::{python_env, test::cargo};

/// One benchmarked task and its input.
struct BenchTask {
    label: &'static str,
    task: &'static str,
    input: (&'static str, i64),
}

const TASKS: [BenchTask; 2] = [
    BenchTask {
        label: "1 GiB FlyteFile",
        task: "big_file",
        input: ("size_mib", 1024),
    },
    BenchTask {
        label: "10,000-file FlyteDirectory",
        task: "many_files",
        input: ("count", 10_000),
    },
];

/// What one run cost.
struct Measured {
    wall_seconds: f64,
    /// Peak RSS of the measured process tree's largest process (`/usr/bin/time`).
    tree_peak_mib: u64,
    /// Ours only: the supervisor's and the worker's own peaks.
    supervisor_peak_mib: Option<u64>,
    worker_peak_mib: Option<u64>,
}

/// Runs every bench task through both entrypoints against the running moto server.
pub fn run(root: &Path, emulators: &Emulators) -> Result<()> {
    // Measured as shipped: an optimised build.
    python_env::run(Command::new(cargo()).current_dir(root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "pyflyte-execute",
    ]))?;
    let python = python_env::ensure(root)?;
    let env: Vec<(String, String)> = emulators.env().to_vec();
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (endpoint, key, secret) = (
        var("PYFLYTE_EXECUTE_TEST_S3_ENDPOINT"),
        var("PYFLYTE_EXECUTE_TEST_S3_ACCESS_KEY_ID"),
        var("PYFLYTE_EXECUTE_TEST_S3_SECRET_ACCESS_KEY"),
    );
    let flyte_env = [
        ("FLYTE_AWS_ENDPOINT", endpoint.as_str()),
        ("FLYTE_AWS_ACCESS_KEY_ID", key.as_str()),
        ("FLYTE_AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("FLYTE_SDK_LOGGING_LEVEL", "20"),
        ("FLYTE_SDK_LOGGING_FORMAT", "json"),
        (
            "PYFLYTE_EXECUTE_PYTHON",
            python.to_str().context("a UTF-8 venv path")?,
        ),
    ];
    let bucket = "flyte-bench";
    python_env::run(
        Command::new(root.join("target/emulators/venv/bin/python"))
            .args(["-c", "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], region_name='us-east-1').create_bucket(Bucket=sys.argv[4])"])
            .args([&endpoint, &key, &secret, bucket]),
    )?;

    let work = root.join("target/bench-tasks");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    for task in &TASKS {
        let inputs = work.join(format!("{}-inputs.pb", task.task));
        flyte_proto::io::write_literal_map(
            &inputs,
            &literal::literal_map([(task.input.0, literal::integer(task.input.1))]),
        )?;
        println!(
            "\n== {} ({} {}={})",
            task.label, task.task, task.input.0, task.input.1
        );
        for (who, program) in [
            ("flytekit", python.with_file_name("pyflyte-execute")),
            ("ours", root.join("target/release/pyflyte-execute")),
        ] {
            let prefix = format!("s3://{bucket}/{}/{who}", task.task);
            let measured = measure(root, &program, &inputs, &prefix, task.task, &flyte_env)
                .with_context(|| format!("{who} running {}", task.task))?;
            let own = |v: Option<u64>| v.map_or("-".to_owned(), |m| format!("{m} MiB"));
            println!(
                "   {who:9} wall {:7.1} s   peak RSS {:5} MiB   supervisor {:>8}   worker {:>8}",
                measured.wall_seconds,
                measured.tree_peak_mib,
                own(measured.supervisor_peak_mib),
                own(measured.worker_peak_mib),
            );
        }
    }
    Ok(())
}

fn measure(
    root: &Path,
    program: &Path,
    inputs: &Path,
    prefix: &str,
    task: &str,
    env: &[(&str, &str)],
) -> Result<Measured> {
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(program)
        .arg("--inputs")
        .arg(inputs)
        .args(["--output-prefix", &format!("{prefix}/outputs")])
        .args(["--raw-output-data-prefix", &format!("{prefix}/raw")])
        .args([
            "--resolver",
            "flytekit.core.python_auto_container.default_task_resolver",
            "--",
        ])
        .args(["task-module", "bench_tasks", "task-name", task])
        .current_dir(root.join("xtask/bench"))
        .envs(env.iter().copied())
        .output()
        .context("running under /usr/bin/time")?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("failed ({}):\n{}", output.status, tail(&stderr));
    }
    let tree_peak_kib: u64 = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .context("/usr/bin/time printed no maximum resident set size")?
        .trim()
        .parse()?;
    // Ours logs both peaks as JSON fields on one line.
    let field = |name: &str| -> Option<u64> {
        stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v.get(name)?.as_u64())
    };
    Ok(Measured {
        wall_seconds,
        tree_peak_mib: tree_peak_kib / 1024,
        supervisor_peak_mib: field("supervisor_peak_rss_kib").map(|k| k / 1024),
        worker_peak_mib: field("worker_peak_rss_kib").map(|k| k / 1024),
    })
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
