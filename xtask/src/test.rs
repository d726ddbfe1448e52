//! `cargo xtask test`: everything CI runs, on a fresh machine.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::emulators::{Emulators, Which};
use crate::python_env;

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
    let result = python_env::run(
        Command::new(cargo())
            .current_dir(root)
            .args(["test", "--workspace", "--no-fail-fast"])
            .args(extra_args)
            .env("PYFLYTE_EXECUTE_TEST_PYTHON", &python)
            .envs(emulators.env().iter().map(|(k, v)| (k, v))),
    );
    drop(emulators);
    result?;
    if extra_args.is_empty() {
        python_env::run(Command::new(cargo()).current_dir(root).args([
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
            Command::new(cargo())
                .current_dir(root)
                .args(["test", "-p", package])
                .args(tests.iter().flat_map(|test| ["--test", test]))
                .env("PYFLYTE_EXECUTE_TEST_PYTHON", &python)
                .envs(emulators.env().iter().map(|(k, v)| (k, v))),
        )?;
    }
    Ok(())
}

/// The cargo that runs xtask, so a toolchain override applies to the tests too.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
