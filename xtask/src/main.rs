//! Project automation, run as `cargo xtask <command>` (see `cargo xtask help`).

mod codegen;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

const HELP: &str = "\
cargo xtask <command>

commands:
  codegen   regenerate crates/flyte-proto/src/generated from proto/
  help      this text
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("codegen") => codegen::run(&root),
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
