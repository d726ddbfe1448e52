//! The flytekit × Python version matrix `cargo xtask test` runs (issue 24):
//! `bins/pyflyte-execute/tests/flytekit_versions.rs` once per cell, against that cell's
//! environment in `target/flytekit-venvs/<flytekit>-py<python>/`, built from the pinned
//! requirements `xtask/flytekit-matrix/flytekit-<version>.txt` with that Python.
//!
//! The workspace run covers the pinned cell (flytekit 1.16.31 on the `.venv` Python,
//! 3.11), so it is not repeated here. What runs where is chosen so the matrix earns its
//! minutes: every test on the releases whose entrypoint differs most (1.10, before the
//! task was loaded inside `_dispatch_execute`; 1.13, the first that loads it there), on
//! 1.12 what changed since 1.10 (map tasks), on 1.15 errors, a directory and map tasks,
//! and what depends on the interpreter (outputs, files and a dataframe on S3, a crash)
//! on the other Pythons.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::python_env;

/// One cell: a flytekit release on a Python minor version, and the tests it runs.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    /// The flytekit release, as pinned in `xtask/flytekit-matrix/flytekit-<it>.txt`.
    pub flytekit: &'static str,
    /// The Python minor version, e.g. `3.11`.
    pub python: &'static str,
    /// Test-name filters for `cargo test` (any matching test runs); empty: all of them.
    pub tests: &'static [&'static str],
}

/// The tests that depend on the interpreter more than on flytekit: values, files and
/// dataframes crossing the type engine and the storage bridge, and a native crash.
const INTERPRETER_TESTS: &[&str] = &[
    "primitive_outputs_match_this_flytekit",
    "flyte_file_in_and_out_on_s3_matches_this_flytekit",
    "dataframe_in_and_out_on_s3_matches_this_flytekit",
    "a_segfaulting_task_is_reported_where_this_flytekit_writes_nothing",
];

/// What changed in the entrypoint from 1.10 to 1.12 (the legacy map task's module, the
/// end of `--experimental`), with a plain task and an error beside it.
const MAP_ENTRYPOINT_TESTS: &[&str] = &[
    "primitive_outputs_match_this_flytekit",
    "a_user_error_document_matches_this_flytekit",
    "a_dynamic_task_writes_the_same_futures_pb_as_this_flytekit",
    "an_array_node_map_task_runs_the_indexed_element_like_this_flytekit",
    "a_legacy_map_task_writes_under_the_index_like_this_flytekit",
    "fast_execute_runs_the_shipped_code_like_this_flytekit",
];

/// Between 1.13 (all tests) and the pinned 1.16 (all tests): errors, a directory, both
/// map tasks.
const LATER_ENTRYPOINT_TESTS: &[&str] = &[
    "a_user_error_document_matches_this_flytekit",
    "flyte_directory_in_and_out_on_s3_matches_this_flytekit",
    "an_array_node_map_task_runs_the_indexed_element_like_this_flytekit",
    "a_legacy_map_task_writes_under_the_index_like_this_flytekit",
];

/// Every cell besides the pinned one.
pub const CELLS: &[Cell] = &[
    Cell {
        flytekit: "1.10.7",
        python: "3.11",
        tests: &[],
    },
    Cell {
        flytekit: "1.12.3",
        python: "3.11",
        tests: MAP_ENTRYPOINT_TESTS,
    },
    Cell {
        flytekit: "1.13.15",
        python: "3.11",
        tests: &[],
    },
    Cell {
        flytekit: "1.15.4",
        python: "3.11",
        tests: LATER_ENTRYPOINT_TESTS,
    },
    Cell {
        flytekit: "1.16.31",
        python: "3.10",
        tests: INTERPRETER_TESTS,
    },
    Cell {
        flytekit: "1.16.31",
        python: "3.12",
        tests: INTERPRETER_TESTS,
    },
    Cell {
        flytekit: "1.16.12",
        python: "3.9",
        tests: INTERPRETER_TESTS,
    },
];

impl Cell {
    /// The cell's name, e.g. `1.10.7-py3.11`.
    pub fn name(&self) -> String {
        format!("{}-py{}", self.flytekit, self.python)
    }

    fn venv(&self, root: &Path) -> PathBuf {
        root.join("target/flytekit-venvs").join(self.name())
    }

    fn requirements(&self, root: &Path) -> PathBuf {
        root.join(format!(
            "xtask/flytekit-matrix/flytekit-{}.txt",
            self.flytekit
        ))
    }
}

/// Creates (or reuses) every cell's environment, several at once (pip waits on the
/// network and the disk more than on the CPU), and returns each cell's interpreter.
pub fn ensure_all(root: &Path, cells: &[Cell]) -> Result<Vec<(Cell, PathBuf)>> {
    let results: Vec<Result<PathBuf>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cells
            .iter()
            .map(|cell| {
                scope.spawn(move || {
                    let base = interpreter(cell.python)?;
                    python_env::ensure_with(&cell.venv(root), &cell.requirements(root), &base)
                        .with_context(|| format!("the environment of matrix cell {}", cell.name()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| bail!("a venv thread panicked"))
            })
            .collect()
    });
    cells
        .iter()
        .zip(results)
        .map(|(cell, python)| Ok((*cell, python?)))
        .collect()
}

/// Runs flytekit_versions.rs for every cell with its interpreter, the emulators' `env`
/// set; every cell runs, and the failed ones are named at the end.
pub fn run(root: &Path, cells: &[(Cell, PathBuf)], env: &[(String, String)]) -> Result<()> {
    let mut failed = Vec::new();
    for (cell, python) in cells {
        println!("flytekit matrix: {}", cell.name());
        let result = python_env::run(
            crate::test::cargo()
                .current_dir(root)
                // --workspace, as the workspace run: the same features, so the test
                // binary it built is the one run, not a second build.
                .args(["test", "--workspace", "--test", "flytekit_versions", "--"])
                .args(cell.tests)
                .env("PYFLYTE_EXECUTE_TEST_PYTHON", python)
                .envs(env.iter().map(|(k, v)| (k, v))),
        );
        if let Err(error) = result {
            eprintln!("flytekit matrix cell {} failed: {error:#}", cell.name());
            failed.push(cell.name());
        }
    }
    if !failed.is_empty() {
        bail!("flytekit matrix cells failed: {}", failed.join(", "));
    }
    Ok(())
}

/// A Python `minor` (e.g. `3.10`) to build a venv with: `python3.10` on PATH, else the
/// newest pyenv build of it.
pub fn interpreter(minor: &str) -> Result<PathBuf> {
    let on_path = format!("python{minor}");
    let reports = |python: &Path| {
        Command::new(python)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
            .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == minor)
    };
    if reports(Path::new(&on_path)) {
        return Ok(PathBuf::from(on_path));
    }
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")));
    if let Some(versions) = pyenv_root.map(|root| root.join("versions")) {
        let mut builds: Vec<(u32, PathBuf)> = std::fs::read_dir(&versions)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let patch = name
                    .strip_prefix(&format!("{minor}."))?
                    .parse::<u32>()
                    .ok()?;
                Some((patch, entry.path().join("bin/python")))
            })
            .filter(|(_, python)| reports(python))
            .collect();
        builds.sort();
        if let Some((_, python)) = builds.pop() {
            return Ok(python);
        }
    }
    bail!(
        "no Python {minor} for the flytekit matrix: put python{minor} on PATH or install it \
         with pyenv (pyenv install {minor})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_has_a_pinned_requirements_file() {
        let root = crate::workspace_root();
        for cell in CELLS {
            let requirements = std::fs::read_to_string(cell.requirements(&root))
                .unwrap_or_else(|e| panic!("{}: {e}", cell.name()));
            assert!(
                requirements
                    .lines()
                    .any(|line| line.trim() == format!("flytekit=={}", cell.flytekit)),
                "{} does not pin flytekit {}",
                cell.requirements(&root).display(),
                cell.flytekit
            );
        }
    }

    #[test]
    fn every_filter_names_a_test_of_flytekit_versions_rs() {
        let tests = std::fs::read_to_string(
            crate::workspace_root().join("bins/pyflyte-execute/tests/flytekit_versions.rs"),
        )
        .expect("flytekit_versions.rs");
        for filter in CELLS.iter().flat_map(|cell| cell.tests) {
            assert!(
                tests.contains(&format!("fn {filter}()")),
                "no test {filter}"
            );
        }
    }
}
