//! `cargo xtask dist [--arch x86_64|aarch64]`: the wheel `pyflyte-execute-rs` to publish.
//!
//! The binary is built with the `dist` profile (release, stripped) and linked by zig
//! (cargo-zigbuild, from PyPI like zig itself) against glibc 2.17, so it runs on every
//! manylinux2014 system, whatever glibc this machine has; it is then packed by
//! `bins/pyflyte-execute/wheel/build_wheel.py` (the same packer the wheel test uses) and
//! the wheel is checked with `auditwheel show`. The tools live in `target/dist-tools`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{python_env, test::cargo};

/// The oldest glibc the binary is linked against: manylinux2014's.
const GLIBC: &str = "2.17";
/// The packaging tools, pinned.
const TOOLS_REQUIREMENTS: &str = "xtask/dist-requirements.txt";

/// Builds, packs and checks the wheel for `--arch` (default: this machine's); prints its
/// path, size and how long it all took.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let arch = match args {
        [] => std::env::consts::ARCH,
        [flag, arch] if flag == "--arch" => arch.as_str(),
        _ => bail!("usage: cargo xtask dist [--arch x86_64|aarch64]"),
    };
    if !["x86_64", "aarch64"].contains(&arch) {
        bail!("cargo xtask dist builds for x86_64 or aarch64, not {arch}");
    }
    let started = Instant::now();
    let tools_python = python_env::ensure_at(
        &root.join("target/dist-tools"),
        &root.join(TOOLS_REQUIREMENTS),
    )?;
    let tools_bin = tools_python
        .parent()
        .context("the tools environment has a bin directory")?
        .to_path_buf();
    // cargo finds `cargo-zigbuild` on PATH, and cargo-zigbuild finds zig as
    // `python3 -m ziglang` of the same environment.
    let path = std::env::join_paths(std::iter::once(tools_bin.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .context("building PATH")?;
    let triple = format!("{arch}-unknown-linux-gnu");
    python_env::run(
        cargo()
            .current_dir(root)
            .env("PATH", &path)
            .args(["zigbuild", "--profile", "dist", "-p", "pyflyte-execute"])
            .args(["--bin", "pyflyte-execute", "--target"])
            .arg(format!("{triple}.{GLIBC}")),
    )
    .with_context(|| {
        format!("building for {triple} (a machine of another architecture needs `rustup target add {triple}`)")
    })?;
    let binary = root
        .join("target")
        .join(&triple)
        .join("dist/pyflyte-execute");

    let tag = format!("manylinux_2_17_{arch}.manylinux2014_{arch}");
    let packed = Command::new(&tools_python)
        .arg(root.join("bins/pyflyte-execute/wheel/build_wheel.py"))
        .arg("--binary")
        .arg(&binary)
        .args(["--version", &crate_version(root)?, "--platform-tag", &tag])
        .arg("--out")
        .arg(root.join("target/wheels"))
        .output()
        .context("starting build_wheel.py")?;
    if !packed.status.success() {
        bail!(
            "build_wheel.py failed ({}):\n{}",
            packed.status,
            String::from_utf8_lossy(&packed.stderr)
        );
    }
    let wheel = PathBuf::from(String::from_utf8_lossy(&packed.stdout).trim());

    let audit = Command::new(tools_bin.join("auditwheel"))
        .arg("show")
        .arg(&wheel)
        .output()
        .context("starting auditwheel")?;
    let report = String::from_utf8_lossy(&audit.stdout);
    print!("{report}");
    // auditwheel wraps its lines, but never inside the quoted tag.
    let expected = format!("\"manylinux_2_17_{arch}\"");
    if !audit.status.success() || !report.contains(&expected) {
        bail!(
            "auditwheel does not find {} consistent with {expected} ({}):\n{}",
            wheel.display(),
            audit.status,
            String::from_utf8_lossy(&audit.stderr)
        );
    }
    let size = std::fs::metadata(&wheel)
        .with_context(|| format!("reading {}", wheel.display()))?
        .len();
    println!(
        "{} ({:.1} MiB), built, packed and checked in {:.0?}",
        wheel.display(),
        size as f64 / f64::from(1 << 20),
        started.elapsed()
    );
    Ok(())
}

/// The binary crate's version, which the wheel carries.
fn crate_version(root: &Path) -> Result<String> {
    let manifest = root.join("bins/pyflyte-execute/Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("version = \"")
                .and_then(|rest| rest.strip_suffix('"'))
        })
        .map(str::to_owned)
        .with_context(|| format!("no `version = \"…\"` line in {}", manifest.display()))
}
