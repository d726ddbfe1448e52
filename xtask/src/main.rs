//! Project automation, run as `cargo xtask <command>` (see `cargo xtask help`).

mod bench;
mod bench_tasks;
mod codegen;
mod demo;
mod emulators;
mod python_env;
mod test;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

const HELP: &str = "\
cargo xtask <command>

commands:
  demo          build, prepare .venv with flytekit, run the example tasks and print their results
  test [ARGS]   prepare what the tests need and run every test (ARGS go to cargo test)
  conformance   only the comparisons with flytekit and flyteidl
  bench [--quick] [--runs N] [startup] [transfers] [memory]
                start-up, transfer and memory runs of ours against flytekit, rclone and the
                Python import floor, release builds (docs/benchmarks.md); --quick: a subset
                in under five minutes; `bench tune-rclone` tries rclone settings
  codegen       regenerate crates/flyte-proto/src/generated from proto/
  help          this text
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("bench") => bench::run(&root, &args[1..]),
        Some("codegen") => codegen::run(&root),
        Some("demo") => demo::run(&root),
        Some("test") => test::run(&root, &args[1..]),
        Some("conformance") => test::conformance(&root),
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
