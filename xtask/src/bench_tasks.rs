//! `cargo xtask bench`: how each tool is run on one case, and the data the cases move.
//!
//! A task run is flytekit's pyflyte-execute or ours on a task of `xtask/bench/`, with
//! inputs.pb, the output prefix and the raw output prefix on one store; every run is
//! checked (its outputs.pb read back) and cleaned up outside the timed part. rclone runs
//! `rclone copy` on the same bytes. The bytes are made once under `target/bench/data`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use flyte_proto::Message;
use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::{Literal, LiteralMap};
use flyte_proto::literal;

use crate::bench::measure::{Sample, StatsdListener, Tool, measure};
use crate::bench::stores::Store;

/// rclone's settings for the bench, the best found on the 2-core bench machine with
/// `cargo xtask bench tune-rclone` and, for `--transfers`, by hand on Garage
/// (docs/benchmarks.md lists what was tried).
pub const RCLONE_FLAGS: [&str; 12] = [
    "--transfers=128",
    "--checkers=32",
    "--s3-upload-concurrency=8",
    "--s3-chunk-size=16M",
    "--multi-thread-streams=8",
    "--multi-thread-cutoff=64M",
    "--s3-no-check-bucket",
    "--s3-disable-checksum",
    "--no-check-dest",
    "--no-traverse",
    "--use-mmap",
    "--s3-no-head",
];

/// The programs the bench runs and where.
pub struct Runner<'a> {
    /// Our release binary.
    pub ours: PathBuf,
    /// flytekit's `pyflyte-execute` in `.venv`.
    pub flytekit: PathBuf,
    /// `.venv`'s interpreter.
    pub python: PathBuf,
    /// `xtask/bench`: the task modules; the tasks run in it.
    pub tasks_dir: PathBuf,
    /// Where runs keep their temporary files (`TMPDIR`), emptied after each run.
    pub scratch: PathBuf,
    /// Receives the statsd timers of every run.
    pub statsd: &'a StatsdListener,
    /// rclone's flags (the tuned ones, or those being tried).
    pub rclone_flags: Vec<String>,
}

/// What a task run should leave in its outputs.pb.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// `o0` is this integer.
    Integer(i64),
    /// `o0` is an offloaded value (a blob or a structured dataset).
    Offloaded,
}

/// One task run's settings.
pub struct TaskRun<'a> {
    /// The Python module in `xtask/bench`.
    pub module: &'a str,
    /// The task's name in it.
    pub task: &'a str,
    /// inputs.pb: a local path or a URI on the store.
    pub inputs: String,
    /// A path under the store's root, unique to this run: outputs and raw data go there.
    pub prefix: String,
    /// Extra environment (logging settings).
    pub env: &'a [(&'a str, &'a str)],
    /// What outputs.pb must hold.
    pub expect: Expect,
}

impl Runner<'_> {
    /// Runs `tool` (ours or flytekit) on `run` against `store`, measured, then checks its
    /// outputs and deletes what it wrote.
    pub fn task(&self, tool: Tool, store: &Store, run: &TaskRun<'_>) -> Result<Sample> {
        let program = match tool {
            Tool::Ours => &self.ours,
            Tool::Flytekit => &self.flytekit,
            other => bail!("{} does not run tasks", other.label()),
        };
        let scratch = self.fresh_scratch()?;
        let outputs = store.uri(&format!("{}/outputs", run.prefix));
        let mut command = Command::new(program);
        command
            .arg("--inputs")
            .arg(&run.inputs)
            .args(["--output-prefix", &outputs])
            .args([
                "--raw-output-data-prefix",
                &store.uri(&format!("{}/raw", run.prefix)),
            ])
            .args([
                "--resolver",
                "flytekit.core.python_auto_container.default_task_resolver",
                "--",
            ])
            .args(["task-module", run.module, "task-name", run.task])
            .current_dir(&self.tasks_dir)
            .env("PYFLYTE_EXECUTE_PYTHON", &self.python)
            .env("TMPDIR", &scratch)
            .env("FLYTE_STATSD_HOST", "127.0.0.1")
            .env("FLYTE_STATSD_PORT", self.statsd.port().to_string())
            .envs(run.env.iter().copied())
            .envs(store.env.iter().map(|(k, v)| (k, v)));
        let sample = measure(&command, self.statsd).with_context(|| {
            format!(
                "{} running {}.{} on {}",
                tool.label(),
                run.module,
                run.task,
                store.label
            )
        })?;
        let checked = self.check_outputs(
            store,
            &format!("{}/outputs/outputs.pb", run.prefix),
            run.expect,
        );
        store.purge(&run.prefix)?;
        std::fs::remove_dir_all(&scratch)?;
        checked.with_context(|| {
            format!(
                "{} on {}.{} ({})",
                tool.label(),
                run.module,
                run.task,
                store.label
            )
        })?;
        Ok(sample)
    }

    /// `python -c "import flytekit, MODULE"`, measured.
    pub fn floor(&self, module: &str) -> Result<Sample> {
        let mut command = Command::new(&self.python);
        command
            .args(["-c", &format!("import flytekit, {module}")])
            .current_dir(&self.tasks_dir);
        measure(&command, self.statsd)
    }

    /// `rclone copy FROM TO` with the bench's flags, measured; `cleanup` runs after it.
    pub fn rclone(&self, store: &Store, from: &str, to: &str) -> Result<Sample> {
        let mut command = store.rclone();
        command.args(["copy", from, to]).args(&self.rclone_flags);
        measure(&command, self.statsd)
    }

    /// An empty `TMPDIR` for one run.
    pub fn fresh_scratch(&self) -> Result<PathBuf> {
        let _ = std::fs::remove_dir_all(&self.scratch);
        std::fs::create_dir_all(&self.scratch)?;
        Ok(self.scratch.clone())
    }

    fn check_outputs(&self, store: &Store, path: &str, expect: Expect) -> Result<()> {
        let bytes = store.cat(path).context("reading outputs.pb back")?;
        let outputs = LiteralMap::decode(bytes.as_slice())
            .with_context(|| format!("{path} is no LiteralMap (an error document instead?)"))?;
        let Some(o0) = outputs.literals.get("o0") else {
            // rclone cats a missing file as an empty directory: look for an error document.
            let error = store
                .cat(&path.replace("outputs.pb", "error.pb"))
                .unwrap_or_default();
            bail!(
                "{path} has no output o0 ({outputs:?}); error.pb says: {}",
                String::from_utf8_lossy(&error)
            );
        };
        match expect {
            Expect::Integer(want) if o0.as_integer() == Some(want) => Ok(()),
            Expect::Offloaded if o0.as_blob().is_some() || o0.as_structured_dataset().is_some() => {
                Ok(())
            }
            _ => bail!("{path}: o0 is {o0:?}, expected {expect:?}"),
        }
    }
}

/// Writes `literals` as an inputs.pb under `dir`, named `name`.
pub fn write_inputs(dir: &Path, name: &str, literals: LiteralMap) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.pb"));
    flyte_proto::io::write_literal_map(&path, &literals)?;
    Ok(path.to_str().context("a UTF-8 path")?.to_owned())
}

/// The input literal of a read task for data at `uri`.
pub fn file_input(uri: String) -> Literal {
    literal::blob(uri, "", BlobDimensionality::Single)
}

/// The input literal of a directory read task for data at `uri`.
pub fn directory_input(uri: String) -> Literal {
    literal::blob(uri, "", BlobDimensionality::Multipart)
}

/// The input literal of a dataframe read task for parquet files under `uri`.
pub fn frame_input(uri: String) -> Literal {
    literal::structured_dataset(uri, "parquet")
}

/// A file of `mib` MiB whose every MiB differs (a random MiB, stamped with its index),
/// made once. `sparse` makes a file of holes instead, for the memory runs: what is read
/// does not matter there, and it costs no disk.
pub fn ensure_file(path: &Path, mib: u64, sparse: bool) -> Result<()> {
    let size = mib << 20;
    let done = stamp(path);
    if done.exists() && std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("under the data dir"))?;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    if sparse {
        file.set_len(size)?;
    } else {
        let mut out = std::io::BufWriter::new(file);
        let block = random_block(1 << 20);
        for index in 0..mib {
            out.write_all(&index.to_le_bytes())?;
            out.write_all(&block[8..])?;
        }
        out.flush()?;
    }
    std::fs::write(done, "")?;
    Ok(())
}

/// A directory of `count` files of `kib` KiB each, a thousand per subdirectory, made once.
pub fn ensure_directory(path: &Path, count: u64, kib: u64) -> Result<()> {
    let done = stamp(path);
    if done.exists() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(path);
    let block = random_block((kib as usize) << 10);
    for index in 0..count {
        let folder = path.join(format!("{:03}", index / 1000));
        if index % 1000 == 0 {
            std::fs::create_dir_all(&folder)?;
        }
        let mut contents = block.clone();
        contents[..8].copy_from_slice(&index.to_le_bytes());
        std::fs::write(folder.join(format!("file-{index:06}.bin")), contents)?;
    }
    std::fs::write(done, "")?;
    Ok(())
}

/// The dataframe the write task builds, as the parquet file [`FRAME_FILE`] in the directory
/// `dir` (written by the task module itself), made once.
pub fn ensure_frame(runner: &Runner<'_>, dir: &Path, rows: u64) -> Result<()> {
    let done = stamp(dir);
    if done.exists() && dir.exists() {
        return Ok(());
    }
    // Made afresh: nothing but the frame's parquet file may be in it, since readers take
    // every file under the prefix for a part of the frame.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    crate::python_env::run(
        Command::new(&runner.python)
            .arg(runner.tasks_dir.join("bench_tasks.py"))
            .args(["frame", &rows.to_string()])
            .arg(dir.join(FRAME_FILE)),
    )?;
    std::fs::write(done, "")?;
    Ok(())
}

/// The one parquet file of the bench's frame directory.
pub const FRAME_FILE: &str = "00000";

/// Marks data as complete, beside it (never inside a directory that gets uploaded).
fn stamp(path: &Path) -> PathBuf {
    let mut name = path.file_name().expect("a named path").to_os_string();
    name.push(".complete");
    path.with_file_name(name)
}

/// `len` bytes no compressor or deduplicator can shrink (xorshift64).
fn random_block(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The total size of the files under `path` (or of the file `path`).
pub fn size_on_disk(path: &Path) -> Result<u64> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if metadata.is_file() {
        return Ok(metadata.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        total += size_on_disk(&entry?.path())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_a_bench_directory_differs_and_has_the_size_asked_for() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("many");
        ensure_directory(&path, 1001, 2).expect("made");
        assert_eq!(size_on_disk(&path).expect("sized"), 1001 * 2048);
        let first = std::fs::read(path.join("000/file-000000.bin")).expect("file 0");
        let last = std::fs::read(path.join("001/file-001000.bin")).expect("file 1000");
        assert_ne!(first, last);
        assert!(
            stamp(&path).exists(),
            "marked complete, beside the directory"
        );
    }

    #[test]
    fn a_sparse_bench_file_has_its_size() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("big.bin");
        ensure_file(&path, 3, true).expect("made");
        assert_eq!(std::fs::metadata(&path).expect("exists").len(), 3 << 20);
    }
}
