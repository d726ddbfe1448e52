//! `cargo xtask test`: everything CI runs, on a fresh machine.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::emulators::{Emulators, Which};
use crate::{flytekit_matrix, python_env};

/// Prepares what the tests need (the flytekit environment, the storage emulators),
/// then runs every test of the workspace. The emulators stop when this returns, also
/// when tests fail.
///
/// Without ARGS (the whole run, as CI does) it then also runs flyte-storage's unit
/// tests in a build with the S3 backend alone, so that the crate keeps building
/// without its other backends and says which feature a URI of theirs needs.
pub fn run(root: &Path, extra_args: &[String]) -> Result<()> {
    let python = python_env::ensure(root)?;
    let emulators = Emulators::start(root, Which::All)?;
    let whole_run = extra_args.is_empty();
    let result = std::thread::scope(|scope| {
        // The matrix's environments are built while the workspace's tests run: pip waits
        // on the network and the disk, the tests on the CPU.
        let matrix = whole_run
            .then(|| scope.spawn(|| flytekit_matrix::ensure_all(root, flytekit_matrix::CELLS)));
        let mut workspace = cargo();
        workspace.current_dir(root).arg("test");
        // `-p CRATE` narrows the run to that crate; with --workspace beside it cargo
        // would test everything anyway.
        if !names_packages(extra_args) {
            workspace.arg("--workspace");
        }
        workspace
            .arg("--no-fail-fast")
            .args(extra_args)
            .env("PYFLYTE_EXECUTE_TEST_PYTHON", &python)
            .envs(emulators.env().iter().map(|(k, v)| (k, v)));
        // A Python pyflyte-execute refuses, for tests/unsupported_environments.rs (which
        // fails saying so when there is none).
        if let Ok(old_python) = flytekit_matrix::interpreter("3.8") {
            workspace.env("PYFLYTE_EXECUTE_TEST_UNSUPPORTED_PYTHON", old_python);
        }
        let workspace = python_env::run(&mut workspace);
        let matrix = match matrix {
            Some(handle) => {
                let cells = handle
                    .join()
                    .unwrap_or_else(|_| anyhow::bail!("building the matrix venvs panicked"))?;
                flytekit_matrix::run(root, &cells, emulators.env())
            }
            None => Ok(()),
        };
        workspace.and(matrix)
    });
    drop(emulators);
    result?;
    if extra_args.is_empty() {
        python_env::run(cargo().current_dir(root).args([
            "test",
            "--package",
            "flyte-storage",
            "--no-default-features",
            "--features",
            "s3",
            "--lib",
        ]))?;
    }
    Ok(())
}

/// Whether cargo test arguments choose packages (`-p`, `--package`, in any spelling).
fn names_packages(args: &[String]) -> bool {
    args.iter().take_while(|arg| *arg != "--").any(|arg| {
        arg == "-p"
            || arg == "--package"
            || arg.starts_with("--package=")
            || (arg.starts_with("-p") && !arg.starts_with("--"))
    })
}

/// `cargo xtask matrix [CELL...]`: only the flytekit version matrix (every cell, or
/// those named, e.g. `1.10.7-py3.11`), its environments created first.
pub fn matrix(root: &Path, names: &[String]) -> Result<()> {
    let cells: Vec<_> = flytekit_matrix::CELLS
        .iter()
        .filter(|cell| names.is_empty() || names.contains(&cell.name()))
        .copied()
        .collect();
    if cells.is_empty() {
        let known: Vec<_> = flytekit_matrix::CELLS.iter().map(|c| c.name()).collect();
        anyhow::bail!(
            "no matrix cell named {names:?}; the cells are {}",
            known.join(", ")
        );
    }
    let cells = flytekit_matrix::ensure_all(root, &cells)?;
    let emulators = Emulators::start(root, Which::All)?;
    let result = flytekit_matrix::run(root, &cells, emulators.env());
    drop(emulators);
    result
}

/// `cargo xtask conformance`: only the suites that compare us with flytekit and flyteidl
/// (the backend suites need the emulators, which it starts and stops).
pub fn conformance(root: &Path) -> Result<()> {
    let python = python_env::ensure(root)?;
    let emulators = Emulators::start(root, Which::All)?;
    let suites: [(&str, &[&str]); 2] = [
        ("flyte-proto", &["wire_compat", "flytekit_round_trip"]),
        (
            "pyflyte-execute",
            &["flytekit_parity", "entrypoints_parity", "backend_parity"],
        ),
    ];
    for (package, tests) in suites {
        python_env::run(
            cargo()
                .current_dir(root)
                .args(["test", "-p", package])
                .args(tests.iter().flat_map(|test| ["--test", test]))
                .env("PYFLYTE_EXECUTE_TEST_PYTHON", &python)
                .envs(emulators.env().iter().map(|(k, v)| (k, v))),
        )?;
    }
    Ok(())
}

/// A command running the cargo that runs xtask, so a toolchain override applies to the
/// tests too, without the variables cargo set for xtask's own package.
///
/// Those name xtask (`CARGO_MANIFEST_DIR=…/xtask`), and build scripts that watch them
/// (ring's watches `CARGO_MANIFEST_DIR`) would rerun, rebuilding rustls and the cloud
/// clients above it every time a plain `cargo build` and a `cargo xtask` alternate.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if XTASK_OWN_VARIABLES.contains(&name) || name.starts_with("CARGO_PKG_") {
            command.env_remove(name);
        }
    }
    command
}

/// The variables, besides `CARGO_PKG_*`, that `cargo run` sets for the program it runs.
const XTASK_OWN_VARIABLES: [&str; 5] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_commands_leave_out_what_cargo_set_for_xtask() {
        // `cargo test` sets these for this test as `cargo xtask` sets them for xtask.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
        let command = cargo();
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert!(
            removed.contains(&"CARGO_MANIFEST_DIR".to_owned()),
            "{removed:?}"
        );
        assert!(
            removed.contains(&"CARGO_PKG_NAME".to_owned()),
            "{removed:?}"
        );
        assert!(
            removed
                .iter()
                .all(|name| name != "CARGO" && name != "CARGO_HOME"),
            "{removed:?}"
        );
    }

    #[test]
    fn package_arguments_narrow_the_run_and_test_arguments_do_not() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(names_packages(&args(&["-p", "flyte-copilot"])));
        assert!(names_packages(&args(&["-pflyte-copilot"])));
        assert!(names_packages(&args(&[
            "--package",
            "flyte-offload",
            "--test",
            "local_files"
        ])));
        assert!(names_packages(&args(&["--package=flyte-offload"])));
        assert!(!names_packages(&args(&["--test", "secrets"])));
        // After `--` the arguments are the test binaries' own, e.g. a name filter.
        assert!(!names_packages(&args(&["--", "-p"])));
        assert!(!names_packages(&[]));
    }
}
