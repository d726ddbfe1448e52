//! Project automation, run as `cargo xtask <command>` (see `cargo xtask help`).

// xtask drives cargo, Python and emulators for developers and CI; it ships in nothing,
// so it may read its own arguments and environment (clippy.toml forbids that elsewhere).
#![allow(clippy::disallowed_methods)]

mod bench;
mod bench_tasks;
mod codegen;
mod demo;
mod dist;
#[cfg(test)]
mod doc_examples;
mod emulators;
mod flytekit_matrix;
#[cfg(test)]
mod layering;
mod python_env;
mod shaper;
mod test;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

const HELP: &str = "\
cargo xtask <command>

commands:
  demo          build, prepare .venv with flytekit, run the example tasks and print their results
  test [ARGS]   prepare what the tests need and run every test (ARGS go to cargo test)
  conformance   only the comparisons with flytekit and flyteidl
  matrix [CELL...]
                only the flytekit x Python version matrix (every cell, or those named,
                e.g. 1.10.7-py3.11); its venvs are cached in target/flytekit-venvs
  bench [--quick] [--runs N] [startup] [transfers] [cloud] [memory]
                start-up, transfer (on Garage, direct and through the shaping proxy) and
                memory runs of ours against flytekit, rclone and the Python import floor,
                release builds (docs/benchmarks.md); --quick: a subset in under five
                minutes; `bench tune-rclone` tries rclone settings
  shaper --upstream HOST:PORT [--listen HOST:PORT] [--rate-mib 64] [--delay-ms 20]
                the bench's cloud-like link on its own: a TCP proxy capping each connection
                and delaying each response's first byte
  codegen       regenerate crates/flyte-proto/src/generated from proto/
  dist [wheel|copilot] [--arch x86_64|aarch64]
                what a release publishes (both without a name): the wheel pyflyte-execute-rs
                in target/wheels (the release binary linked for manylinux2014, glibc 2.17,
                with zig, checked with auditwheel), and flyte-copilot as one static musl
                executable in target/copilot (checked to need no libc, run in an empty root)
  help          this text
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("bench") => bench::run(&root, &args[1..]),
        Some("codegen") => codegen::run(&root),
        Some("demo") => demo::run(&root),
        Some("dist") => dist::run(&root, &args[1..]),
        Some("shaper") => shaper::run(&args[1..]),
        Some("test") => test::run(&root, &args[1..]),
        Some("conformance") => test::conformance(&root),
        Some("matrix") => test::matrix(&root, &args[1..]),
        None | Some("help" | "--help" | "-h") => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown xtask command {other:?}\n\n{HELP}"),
    }
}

/// The workspace root: xtask always lives one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}
