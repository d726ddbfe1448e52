//! `cargo xtask bench`: the memory bound of uploads, measured. Uploads a 1 GiB file to
//! moto's S3 server through flyte-storage and reports the process's peak RSS, read
//! from `/usr/bin/time -v`; then whole task runs (see `bench_tasks`). A report, not a
//! timed test: nothing fails on speed.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::emulators::{Emulators, Which};
use crate::{python_env, test::cargo};

/// The budget the issue sets for a 1 GiB upload.
const RSS_BUDGET_MIB: u64 = 100;
const FILE_SIZE: u64 = 1 << 30;

/// Builds the upload example (release, as shipped), makes the 1 GiB file once, runs the
/// upload under `/usr/bin/time -v` against moto and prints the figures.
pub fn run(root: &Path) -> Result<()> {
    python_env::run(Command::new(cargo()).current_dir(root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "flyte-storage",
        "--example",
        "upload_bench",
    ]))?;
    let binary = root.join("target/release/examples/upload_bench");
    let file = root.join("target/emulators/bench-1GiB.bin");
    ensure_file(&file)?;
    if !Path::new("/usr/bin/time").exists() {
        bail!("/usr/bin/time is missing: install it (Debian package `time`)");
    }

    let emulators = Emulators::start(root, Which::S3Only)?;
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(&binary)
        .arg(&file)
        .envs(emulators.env().iter().map(|(k, v)| (k, v)))
        .output()
        .context("running the upload under /usr/bin/time")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("the upload failed ({}):\n{stdout}{stderr}", output.status);
    }
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    let peak_kib: u64 = field("Maximum resident set size (kbytes):")
        .context("/usr/bin/time printed no maximum resident set size")?
        .parse()?;
    let peak_mib = peak_kib / 1024;
    print!("{stdout}");
    println!(
        "wall clock {}, user {} s, system {} s",
        field("Elapsed (wall clock) time (h:mm:ss or m:ss):").unwrap_or_default(),
        field("User time (seconds):").unwrap_or_default(),
        field("System time (seconds):").unwrap_or_default(),
    );
    println!(
        "peak RSS uploading 1 GiB to S3 (moto): {peak_mib} MiB ({peak_kib} KiB); budget \
         {RSS_BUDGET_MIB} MiB: {}",
        if peak_mib < RSS_BUDGET_MIB {
            "within"
        } else {
            "EXCEEDED"
        }
    );
    crate::bench_tasks::run(root, &emulators)
}

/// Writes the 1 GiB test file once, a megabyte at a time, with contents that differ
/// per megabyte so that nothing downstream can deduplicate it.
fn ensure_file(path: &Path) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == FILE_SIZE) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..(FILE_SIZE >> 20) {
        for byte in block.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        file.write_all(&block)?;
    }
    file.flush()?;
    Ok(())
}
