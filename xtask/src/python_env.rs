//! The workspace's Python environments: `.venv` (flytekit, for the demo and the tests)
//! and the packaging tools of `cargo xtask dist`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The requirements the environment is built from.
const REQUIREMENTS: &str = "xtask/python-requirements.txt";
/// Written into the environment after a successful install: the requirements it holds.
const STAMP: &str = ".pyflyte-execute-requirements";

/// Creates `.venv` from the pinned requirements when it is missing or out of date, and
/// returns its interpreter.
pub fn ensure(root: &Path) -> Result<PathBuf> {
    ensure_at(&root.join(".venv"), &root.join(REQUIREMENTS))
}

/// Creates the environment `venv` from the file `requirements_file` when it is
/// missing or holds other requirements, and returns its interpreter.
pub fn ensure_at(venv: &Path, requirements_file: &Path) -> Result<PathBuf> {
    let base = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .context("no python3 or python on PATH: install Python 3.9 or newer")?;
    ensure_with(venv, requirements_file, Path::new(base))
}

/// [`ensure_at`] with the interpreter `base` creating the environment.
pub fn ensure_with(venv: &Path, requirements_file: &Path, base: &Path) -> Result<PathBuf> {
    let python = venv.join("bin/python");
    let requirements = std::fs::read_to_string(requirements_file)
        .with_context(|| format!("reading {}", requirements_file.display()))?;
    let stamp = venv.join(STAMP);
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(python);
    }
    if !python.exists() {
        println!("creating the Python environment {}", venv.display());
        run(Command::new(base).args(["-m", "venv"]).arg(venv))?;
    }
    println!(
        "installing {} into {} (this takes a minute)",
        requirements_file.display(),
        venv.display()
    );
    pip_install(&python, ["-r".as_ref(), requirements_file.as_os_str()])?;
    std::fs::write(&stamp, requirements).context("stamping the Python environment")?;
    Ok(python)
}

/// Runs a command to completion, failing with its command line when it fails.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// `python -m pip install --quiet ARGS`, failing with the command line when pip fails.
pub fn pip_install<I, A>(python: &Path, args: I) -> Result<()>
where
    I: IntoIterator<Item = A>,
    A: AsRef<std::ffi::OsStr>,
{
    run(Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(args))
}
