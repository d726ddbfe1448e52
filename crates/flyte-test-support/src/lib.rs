//! Helpers shared by this workspace's tests, and nothing else: no production crate
//! depends on this one.
//!
//! Tests that need real flytekit run the workspace's Python environment (`.venv`,
//! prepared by `cargo xtask test` and `cargo xtask demo` from
//! `xtask/python-requirements.txt`). A missing environment fails the test with a message
//! saying how to create it; it never skips, because a skipped comparison proves nothing.
//!
//! With the `storage-emulators` feature, [`emulators`] gives storage configurations
//! for the emulators `cargo xtask test` runs (moto, fake-gcs-server, Azurite).

use std::path::{Path, PathBuf};

#[cfg(feature = "storage-emulators")]
pub mod emulators;

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("flyte-test-support lives at crates/flyte-test-support")
        .to_path_buf()
}

/// The Python interpreter that has flytekit installed.
///
/// `PYFLYTE_EXECUTE_TEST_PYTHON` overrides the default `<workspace>/.venv/bin/python`.
///
/// # Panics
/// When the interpreter does not exist: run `cargo xtask test`, which creates it.
#[allow(
    clippy::disallowed_methods,
    reason = "tests take their interpreter from cargo xtask test"
)]
pub fn python() -> PathBuf {
    let python = std::env::var_os("PYFLYTE_EXECUTE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no Python environment with flytekit at {}: run `cargo xtask test` (it creates .venv \
         from xtask/python-requirements.txt) or set PYFLYTE_EXECUTE_TEST_PYTHON",
        python.display()
    );
    python
}

/// This process's `PATH` with `dir` in front, for running a command that must find the
/// programs in `dir` first (our binary under flytekit's names, a venv's scripts).
#[allow(
    clippy::disallowed_methods,
    reason = "tests pass their own PATH on, extended"
)]
pub fn path_with_first(dir: &Path) -> std::ffi::OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&rest)))
        .expect("PATH entries without ':'")
}

/// A Python outside the range pyflyte-execute supports (e.g. 3.8), for the tests that
/// check it is refused; `cargo xtask test` finds one and passes it in
/// `PYFLYTE_EXECUTE_TEST_UNSUPPORTED_PYTHON`.
///
/// # Panics
/// When the variable is not set.
#[allow(
    clippy::disallowed_methods,
    reason = "tests take their interpreters from cargo xtask test"
)]
pub fn unsupported_python() -> PathBuf {
    std::env::var_os("PYFLYTE_EXECUTE_TEST_UNSUPPORTED_PYTHON")
        .map(PathBuf::from)
        .expect(
            "no PYFLYTE_EXECUTE_TEST_UNSUPPORTED_PYTHON: run `cargo xtask test` (it finds a \
             Python 3.8 on PATH or in pyenv) or set it to a Python outside 3.9-3.12",
        )
}
