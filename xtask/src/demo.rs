//! `cargo xtask demo`: the example tasks of examples/demo run through our binary, and
//! the Rust example task (examples/partition-csv) through its own, on local storage,
//! with their outputs and errors printed for people.

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
}

impl Task {
    fn name(&self) -> &'static str {
        match self {
            Task::Python(name) => name,
            Task::PartitionCsv => self.binary(),
        }
    }

    /// The binary under target/debug that runs it.
    fn binary(&self) -> &'static str {
        match self {
            Task::Python(_) => "pyflyte-execute",
            Task::PartitionCsv => "partition-csv",
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
    println!(
        "   exit status: {}",
        status.code().map_or("signal".to_owned(), |c| c.to_string())
    );
    print_output_prefix(&out)
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
