//! `cargo xtask demo`: the example tasks of examples/demo run through our binary, the
//! Rust example task (examples/partition-csv) through its own, and raw containers (a
//! shell script standing in for a container image) between flyte-copilot's `download`
//! and `sidecar`, as propeller runs them, all on local storage, with their outputs and
//! errors printed for people.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::{Literal, LiteralMap, container_error, execution_error};
use flyte_proto::literal;

use crate::{python_env, test::cargo};

/// One example run: a task and its inputs.
struct Example {
    name: &'static str,
    task: Task,
    inputs: LiteralMap,
}

/// What runs an example.
enum Task {
    /// A task of examples/demo/tasks.py, by name, run by pyflyte-execute.
    Python(&'static str),
    /// examples/partition-csv's binary.
    PartitionCsv,
    /// A raw container (flytekit's `ContainerTask`): this shell script, with `$INPUTS`
    /// and `$OUTPUTS` the directories flyte-copilot fills and empties, between
    /// `flyte-copilot download` and `flyte-copilot sidecar`.
    RawContainer(&'static str),
}

impl Task {
    fn name(&self) -> &'static str {
        match self {
            Task::Python(name) => name,
            Task::PartitionCsv | Task::RawContainer(_) => self.binary(),
        }
    }

    /// The binary under target/debug that runs it.
    fn binary(&self) -> &'static str {
        match self {
            Task::Python(_) => "pyflyte-execute",
            Task::PartitionCsv => "partition-csv",
            Task::RawContainer(_) => "flyte-copilot",
        }
    }
}

/// Builds the binary, prepares .venv, runs every example and prints what it wrote.
pub fn run(root: &Path) -> Result<()> {
    python_env::run(cargo().current_dir(root).args([
        "build",
        "--quiet",
        "-p",
        "pyflyte-execute",
        "-p",
        "partition-csv",
        "-p",
        "flyte-copilot",
    ]))?;
    let python = python_env::ensure(root)?;
    let demo_dir = root.join("target/demo");
    if demo_dir.exists() {
        std::fs::remove_dir_all(&demo_dir)
            .with_context(|| format!("clearing {}", demo_dir.display()))?;
    }
    let csv_file = |name: &str, text: &str| -> Result<Literal> {
        let path = demo_dir.join(name);
        std::fs::create_dir_all(&demo_dir)?;
        std::fs::write(&path, text)?;
        Ok(literal::blob(
            path.display().to_string(),
            "csv",
            BlobDimensionality::Single,
        ))
    };
    let people = csv_file(
        "people.csv",
        "name,city\nada,london\nalan,manchester\ngrace,\"new york, ny\"\nhedy,london\n",
    )?;
    let ragged = csv_file("ragged.csv", "name,city\nada,london\nalan\n")?;
    let sales = csv_file("sales.csv", "day,amount\nmon,12\ntue,30\nwed,7\n")?;

    let examples = [
        Example {
            name: "divide 7 by 2",
            task: Task::Python("divider"),
            inputs: literal::literal_map([("a", literal::integer(7)), ("b", literal::integer(2))]),
        },
        Example {
            name: "divide 7 by 0",
            task: Task::Python("divider"),
            inputs: literal::literal_map([("a", literal::integer(7)), ("b", literal::integer(0))]),
        },
        Example {
            name: "write a FlyteFile",
            task: Task::Python("write_report"),
            inputs: literal::literal_map([("title", literal::string("demo report"))]),
        },
        Example {
            name: "write a FlyteDirectory",
            task: Task::Python("write_shards"),
            inputs: literal::literal_map([("count", literal::integer(3))]),
        },
        Example {
            name: "partition a CSV FlyteFile into a FlyteDirectory, in Rust",
            task: Task::PartitionCsv,
            inputs: literal::literal_map([("rows", people), ("column", literal::string("city"))]),
        },
        Example {
            name: "partition a CSV with a short row, in Rust",
            task: Task::PartitionCsv,
            inputs: literal::literal_map([("rows", ragged), ("column", literal::string("city"))]),
        },
        Example {
            name: "sum a CSV column in a raw container (shell), through flyte-copilot",
            task: Task::RawContainer(
                r#"total=$(awk -F, 'NR > 1 { s += $2 } END { print s }' "$INPUTS/sales")
echo "$total" > "$OUTPUTS/total"
printf '%s: %s\n' "$(cat "$INPUTS/label")" "$total" > "$OUTPUTS/summary.txt""#,
            ),
            inputs: literal::literal_map([
                ("sales", sales.clone()),
                ("label", literal::string("week 49")),
            ]),
        },
        Example {
            name: "a raw container that reports its own error in _ERROR",
            task: Task::RawContainer(
                r#"echo "refusing to sum $INPUTS/sales: the label is empty" > "$OUTPUTS/_ERROR"
exit 3"#,
            ),
            inputs: literal::literal_map([("sales", sales), ("label", literal::string(""))]),
        },
    ];
    for (index, example) in examples.iter().enumerate() {
        let dir = demo_dir.join(format!("{index}-{}", example.task.name()));
        run_example(&python, root, &dir, example)?;
    }
    Ok(())
}

fn run_example(python: &Path, root: &Path, dir: &Path, example: &Example) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let inputs = dir.join("inputs.pb");
    flyte_proto::io::write_literal_map(&inputs, &example.inputs)?;
    let out = dir.join("out");
    let raw = dir.join("raw");
    println!("\n== {} ({})", example.name, example.task.name());
    println!(
        "   inputs: {}",
        flyte_proto::json::literal_map_to_json(&example.inputs)
    );
    let binary = example.task.binary();
    if let Task::RawContainer(script) = example.task {
        run_raw_container(&debug_binaries(root).join(binary), dir, script, &raw)?;
        return print_output_prefix(&out);
    }
    let mut command = Command::new(debug_binaries(root).join(binary));
    command
        .arg("--inputs")
        .arg(&inputs)
        .arg("--output-prefix")
        .arg(&out)
        .arg("--raw-output-data-prefix")
        .arg(&raw);
    if let Task::Python(task) = example.task {
        command
            .current_dir(root.join("examples"))
            .env("PYFLYTE_EXECUTE_PYTHON", python)
            // flytekit logs the error it captured at length; the demo prints the
            // document instead.
            .env("FLYTE_SDK_LOGGING_LEVEL", "50")
            .args([
                "--resolver",
                "flytekit.core.python_auto_container.default_task_resolver",
                "--",
            ])
            .args(["task-module", "demo.tasks", "task-name", task]);
    }
    let status = command
        .status()
        .with_context(|| format!("running {binary}"))?;
    println!("   exit status: {}", exit_text(status));
    print_output_prefix(&out)
}

/// Runs a raw container as propeller's pod would: `flyte-copilot download` (the init
/// container) writes the inputs to `dir/inputs`, the script (the task's container)
/// runs, and `flyte-copilot sidecar`, started before it, uploads `dir/outputs` once
/// SIGTERM (the kubelet's, when the task's container has ended) says so.
fn run_raw_container(copilot: &Path, dir: &Path, script: &str, raw: &Path) -> Result<()> {
    let (inputs, outputs, out) = (dir.join("inputs"), dir.join("outputs"), dir.join("out"));
    std::fs::create_dir_all(&outputs)?;
    let download = Command::new(copilot)
        .arg("download")
        .arg("--from-remote")
        .arg(dir.join("inputs.pb"))
        .arg("--to-output-prefix")
        .arg(&out)
        .arg("--to-local-dir")
        .arg(&inputs)
        .status()
        .context("running flyte-copilot download")?;
    println!("   download exit status: {}", exit_text(download));
    if !download.success() {
        return Ok(());
    }
    let mut sidecar = Command::new(copilot)
        .arg("sidecar")
        .arg("--to-output-prefix")
        .arg(&out)
        .arg("--to-raw-output")
        .arg(raw)
        .arg("--from-local-dir")
        .arg(&outputs)
        .arg("--interface")
        .arg(raw_container_interface())
        .spawn()
        .context("starting flyte-copilot sidecar")?;
    let container = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("INPUTS", &inputs)
        .env("OUTPUTS", &outputs)
        .status()
        .context("running the raw container's script with sh");
    wait_until_catching_sigterm(sidecar.id())?;
    let pid = rustix::process::Pid::from_raw(i32::try_from(sidecar.id())?)
        .context("the sidecar's pid")?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)
        .context("sending SIGTERM to the sidecar")?;
    let sidecar = sidecar.wait().context("waiting for the sidecar")?;
    println!("   container exit status: {}", exit_text(container?));
    println!("   sidecar exit status: {}", exit_text(sidecar));
    Ok(())
}

/// Waits until process `pid` catches SIGTERM (its bit in `SigCgt` of /proc/PID/status),
/// so the kubelet's signal, stood in for here, cannot find the sidecar still starting.
fn wait_until_catching_sigterm(pid: u32) -> Result<()> {
    const SIGTERM_BIT: u64 = 1 << (15 - 1);
    let status = format!("/proc/{pid}/status");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let caught = std::fs::read_to_string(&status)
            .ok()
            .and_then(|text| {
                let mask = text.lines().find_map(|line| line.strip_prefix("SigCgt:"))?;
                u64::from_str_radix(mask.trim(), 16).ok()
            })
            .is_some_and(|mask| mask & SIGTERM_BIT != 0);
        if caught {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("the sidecar (pid {pid}) did not start catching SIGTERM within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The raw container examples' interface, as propeller passes it: base64 of a
/// `flyteidl.core.TypedInterface` declaring the outputs `total` (an integer) and
/// `summary` (a text FlyteFile).
fn raw_container_interface() -> String {
    use base64::Engine as _;
    use flyte_proto::core::literal_type::Type;
    use flyte_proto::core::{
        BlobType, LiteralType, SimpleType, TypedInterface, Variable, VariableMap,
    };
    let variable = |r#type: Type| Variable {
        r#type: Some(LiteralType {
            r#type: Some(r#type),
            ..Default::default()
        }),
        ..Default::default()
    };
    let outputs = VariableMap {
        variables: [
            (
                "total".to_owned(),
                variable(Type::Simple(SimpleType::Integer.into())),
            ),
            (
                "summary".to_owned(),
                variable(Type::Blob(BlobType {
                    format: "txt".to_owned(),
                    dimensionality: BlobDimensionality::Single.into(),
                })),
            ),
        ]
        .into(),
    };
    let interface = TypedInterface {
        inputs: None,
        outputs: Some(outputs),
    };
    base64::engine::general_purpose::STANDARD.encode(flyte_proto::io::encode(&interface))
}

fn exit_text(status: std::process::ExitStatus) -> String {
    status
        .code()
        .map_or_else(|| "signal".to_owned(), |code| code.to_string())
}

/// Prints outputs.pb as JSON, or the error document, whichever the run wrote.
fn print_output_prefix(out: &Path) -> Result<()> {
    let outputs = out.join("outputs.pb");
    let error = out.join("error.pb");
    if outputs.exists() {
        let map = flyte_proto::io::read_literal_map(&outputs)?;
        let json = serde_json::to_string_pretty(&flyte_proto::json::literal_map_to_json(&map))?;
        println!("   outputs.pb:\n{}", indent(&json, 6));
        print_blob_files(&map)?;
    } else if error.exists() {
        let document = flyte_proto::io::read_error_document(&error)?;
        let Some(error) = document.error else {
            bail!("{} holds no error", out.display())
        };
        println!(
            "   error.pb: code={} kind={:?} origin={:?}",
            error.code,
            container_error::Kind::try_from(error.kind).unwrap_or_default(),
            execution_error::ErrorKind::try_from(error.origin).unwrap_or_default(),
        );
        println!("{}", indent(&error.message, 6));
    } else {
        println!("   (nothing written to {})", out.display());
    }
    Ok(())
}

/// Lists the local files each output blob points at, so the uploaded data is visible.
fn print_blob_files(map: &LiteralMap) -> Result<()> {
    let mut uris = Vec::new();
    flyte_proto::visit::for_each_uri(map, |_, uri| uris.push(uri.to_owned()));
    for uri in uris {
        let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(&uri));
        if path.is_dir() {
            let mut names: Vec<_> = std::fs::read_dir(&path)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect();
            names.sort();
            println!("      {uri} holds {names:?}");
        } else if path.is_file() {
            println!(
                "      {uri}: {:?}",
                std::fs::read_to_string(&path).unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn indent(text: &str, width: usize) -> String {
    let pad = " ".repeat(width);
    text.lines()
        .map(|line| format!("{pad}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where `cargo build` put the debug binaries: `$CARGO_TARGET_DIR/debug` when that is
/// set (relative to the workspace, as cargo reads it), else `target/debug`.
fn debug_binaries(root: &Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir))
        .join("debug")
}
