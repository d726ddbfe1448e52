//! The stores the bench runs against, how each entrypoint and rclone reach them, and the
//! fast S3 server (s3s-fs) that shows what the network path can do when the server is
//! not the bottleneck.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::measure::tail;
use crate::emulators::Emulators;
use crate::python_env;
use crate::test::cargo;

/// The bucket (or container) every remote store holds the bench's data in.
pub const BUCKET: &str = "flyte-bench";
/// s3s-fs, pinned, built once into `target/bench-tools`: 0.14.1 is the newest that builds
/// with this workspace's toolchain (0.17 needs rustc 1.96).
const S3S_FS: (&str, &str) = ("s3s-fs", "0.14.1");
const S3S_ACCESS_KEY: &str = "flytebench";
const S3S_SECRET_KEY: &str = "flytebench-secret-key";
/// Azurite's built-in account and its key (public: in Azurite's documentation).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// One place tasks read from and write to.
pub struct Store {
    /// The name in tables: "S3 (moto)".
    pub label: &'static str,
    /// The prefix everything of the bench goes under: `s3://flyte-bench` or a local path.
    pub root: String,
    /// What points flytekit and ours at it (both read the same variables).
    pub env: Vec<(String, String)>,
    /// rclone's remote for [`Store::root`] (`moto:flyte-bench`), or the local path.
    pub remote: String,
    /// The `RCLONE_CONFIG_*` variables defining that remote.
    pub rclone_env: Vec<(String, String)>,
    /// Set up, read back and clean up with rclone, or (Azurite) with a Python helper.
    access: Access,
}

/// How the bench sets a store up, reads outputs back and cleans up.
enum Access {
    Rclone,
    /// rclone, but deleting straight from s3s-fs's directory: s3s-fs answers a HEAD of
    /// a "directory" key with 500, which rclone's purge retries for a minute.
    RcloneOnDirectory(PathBuf),
    /// `xtask/python/azure_blob.py` run by this interpreter.
    AzureHelper {
        python: PathBuf,
        script: PathBuf,
    },
}

impl Store {
    /// Local files under `dir`.
    pub fn local(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        let root = dir.to_str().context("a UTF-8 bench directory")?.to_owned();
        Ok(Store {
            label: "local files",
            root: root.clone(),
            env: Vec::new(),
            remote: root,
            rclone_env: Vec::new(),
            access: Access::Rclone,
        })
    }

    /// An S3 server at `endpoint`.
    fn s3(label: &'static str, name: &str, endpoint: &str, key: &str, secret: &str) -> Store {
        let env = [
            ("FLYTE_AWS_ENDPOINT", endpoint),
            ("FLYTE_AWS_ACCESS_KEY_ID", key),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let rclone = [
            ("TYPE", "s3"),
            ("PROVIDER", "Other"),
            ("ENDPOINT", endpoint),
            ("ACCESS_KEY_ID", key),
            ("SECRET_ACCESS_KEY", secret),
            ("REGION", "us-east-1"),
            ("FORCE_PATH_STYLE", "true"),
        ];
        Store {
            label,
            root: format!("s3://{BUCKET}"),
            env: owned(&env),
            remote: format!("{name}:{BUCKET}"),
            rclone_env: rclone_config(name, &rclone),
            access: Access::Rclone,
        }
    }

    /// moto's S3 server, as `cargo xtask test` starts it.
    pub fn moto(emulators: &Emulators) -> Result<Store> {
        let var = |name| emulator_var(emulators, name);
        Ok(Store::s3(
            "S3 (moto)",
            "moto",
            &var("PYFLYTE_EXECUTE_TEST_S3_ENDPOINT")?,
            &var("PYFLYTE_EXECUTE_TEST_S3_ACCESS_KEY_ID")?,
            &var("PYFLYTE_EXECUTE_TEST_S3_SECRET_ACCESS_KEY")?,
        ))
    }

    /// The running s3s-fs server.
    pub fn s3s(server: &S3sServer) -> Store {
        Store {
            access: Access::RcloneOnDirectory(server.dir.join(BUCKET)),
            ..Store::s3(
                "S3 (s3s-fs)",
                "s3s",
                &server.endpoint,
                S3S_ACCESS_KEY,
                S3S_SECRET_KEY,
            )
        }
    }

    /// fake-gcs-server.
    pub fn gcs(emulators: &Emulators) -> Result<Store> {
        let endpoint = emulator_var(emulators, "PYFLYTE_EXECUTE_TEST_GCS_ENDPOINT")?;
        let rclone = [
            ("TYPE", "google cloud storage"),
            ("ENDPOINT", &format!("{endpoint}/storage/v1/")),
            ("ANONYMOUS", "true"),
            // rclone creates buckets only with a project number; any will do.
            ("PROJECT_NUMBER", "flyte-bench"),
        ];
        Ok(Store {
            label: "GCS (fake-gcs-server)",
            root: format!("gs://{BUCKET}"),
            env: owned(&[("STORAGE_EMULATOR_HOST", endpoint.as_str())]),
            remote: format!("gcs:{BUCKET}"),
            rclone_env: rclone_config("gcs", &rclone),
            access: Access::Rclone,
        })
    }

    /// Azurite's blob service, set up through `xtask/python/azure_blob.py` run by
    /// `python` (rclone 1.60 takes no endpoint URL for Azure).
    pub fn azure(emulators: &Emulators, root: &Path, python: &Path) -> Result<Store> {
        let endpoint = emulator_var(emulators, "PYFLYTE_EXECUTE_TEST_AZURE_ENDPOINT")?;
        let connection = format!(
            "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};\
             AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
        );
        let env = [
            ("AZURE_STORAGE_CONNECTION_STRING", connection.as_str()),
            ("FLYTE_AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT),
            ("FLYTE_AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY),
            // flytekit 1.16.31 passes `metadata=` to adlfs's put, which passes its own
            // too: every upload to Azure fails unless execution metadata is off.
            ("FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA", "false"),
        ];
        Ok(Store {
            label: "Azure (Azurite)",
            root: format!("abfs://{BUCKET}"),
            env: owned(&env),
            remote: BUCKET.to_owned(),
            rclone_env: Vec::new(),
            access: Access::AzureHelper {
                python: python.to_path_buf(),
                script: root.join("xtask/python/azure_blob.py"),
            },
        })
    }

    /// `root/path` as the entrypoints address it.
    pub fn uri(&self, path: &str) -> String {
        format!("{}/{path}", self.root)
    }

    /// `root/path` as rclone addresses it.
    pub fn rclone_path(&self, path: &str) -> String {
        format!("{}/{path}", self.remote)
    }

    /// An rclone command with this store's remote defined.
    pub fn rclone(&self) -> Command {
        let mut command = Command::new("rclone");
        command
            // Remotes come from the environment only; no config file is read or missed.
            .env("RCLONE_CONFIG", "/dev/null")
            // rclone's AWS SDK refuses to start with a custom CA bundle set (and the
            // endpoints here are plain HTTP anyway).
            .env_remove("AWS_CA_BUNDLE")
            // After a multipart upload rclone 1.60 HEADs the object with
            // `versionId=null`, which moto refuses (400): the upload fails.
            .env("RCLONE_S3_NO_HEAD", "true")
            .envs(self.rclone_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// Runs rclone with `args` and returns its stdout, failing with its stderr.
    pub fn rclone_run(&self, args: &[&str]) -> Result<Vec<u8>> {
        self.output(self.rclone().args(args), false)
    }

    /// Runs the set-up command `command` and returns its stdout, failing with its
    /// stderr; when `absent_is_fine`, failing on something not found is no failure.
    fn output(&self, command: &mut Command, absent_is_fine: bool) -> Result<Vec<u8>> {
        let output = command
            .output()
            .with_context(|| format!("running {command:?}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success()
            || (absent_is_fine && (stderr.contains("not found") || stderr.contains("NotFound")))
        {
            return Ok(output.stdout);
        }
        bail!(
            "{:?} {:?} on {} failed ({}):\n{}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>(),
            self.label,
            output.status,
            tail(&stderr)
        )
    }

    /// The Azure helper with `args`, or `None` for rclone's stores.
    fn helper(&self, args: &[&str]) -> Option<Command> {
        let Access::AzureHelper { python, script } = &self.access else {
            return None;
        };
        let mut command = Command::new(python);
        command
            .arg(script)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        Some(command)
    }

    /// Creates the bucket (or container, or directory) when it does not exist yet.
    pub fn create_bucket(&self) -> Result<()> {
        match self.helper(&["mkdir", BUCKET]) {
            Some(mut helper) => self.output(&mut helper, false),
            None => self.rclone_run(&["mkdir", &self.remote]),
        }
        .map(drop)
    }

    /// Uploads the local file `local` to `root/path`.
    pub fn put(&self, local: &str, path: &str) -> Result<()> {
        let target = self.rclone_path(path);
        match self.helper(&["put", local, &target]) {
            Some(mut helper) => self.output(&mut helper, false),
            None => self.rclone_run(&["copyto", local, &target]),
        }
        .map(drop)
    }

    /// The contents of `root/path`.
    pub fn cat(&self, path: &str) -> Result<Vec<u8>> {
        let target = self.rclone_path(path);
        match self.helper(&["cat", &target]) {
            Some(mut helper) => self.output(&mut helper, false),
            None => self.rclone_run(&["cat", &target]),
        }
    }

    /// Deletes everything under `root/path`; nothing there is fine.
    pub fn purge(&self, path: &str) -> Result<()> {
        if let Access::RcloneOnDirectory(bucket) = &self.access {
            let target = bucket.join(path);
            let removed = if target.is_dir() {
                std::fs::remove_dir_all(&target)
            } else {
                std::fs::remove_file(&target)
            };
            return match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("deleting {}", target.display()))
                }
                _ => Ok(()),
            };
        }
        let target = self.rclone_path(path);
        match self.helper(&["purge", &target]) {
            Some(mut helper) => self.output(&mut helper, true),
            // `delete`, not `purge`: purge refuses a path that is a file (the file case's
            // read input), and object stores have no directories left to remove.
            None => self.output(self.rclone().args(["delete", &target]), true),
        }
        .map(drop)
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// rclone reads a remote `NAME`'s option `OPT` from `RCLONE_CONFIG_NAME_OPT`.
fn rclone_config(name: &str, options: &[(&str, &str)]) -> Vec<(String, String)> {
    options
        .iter()
        .map(|(option, value)| {
            (
                format!("RCLONE_CONFIG_{}_{option}", name.to_uppercase()),
                (*value).to_owned(),
            )
        })
        .collect()
}

fn emulator_var(emulators: &Emulators, name: &str) -> Result<String> {
    emulators
        .env()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .with_context(|| format!("the emulators did not set {name}"))
}

/// A running s3s-fs (a Rust S3 server on a local directory); dropping this stops it.
pub struct S3sServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The directory it serves; a bucket is a directory in it, an object a file.
    dir: PathBuf,
}

impl S3sServer {
    /// Builds s3s-fs once into `target/bench-tools` and starts it on a free port, serving
    /// an empty `target/bench/s3s-fs`.
    pub fn start(root: &Path) -> Result<S3sServer> {
        let binary = ensure_s3s_fs(root)?;
        let dir = root.join("target/bench/s3s-fs");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log_path = root.join("target/bench/s3s-fs.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(&binary)
            .args([
                "--access-key",
                S3S_ACCESS_KEY,
                "--secret-key",
                S3S_SECRET_KEY,
            ])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = S3sServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "s3s-fs exited with {status}; its log:\n{}",
                    tail(&std::fs::read_to_string(&log_path).unwrap_or_default())
                );
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("s3s-fs did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "s3s-fs listens on {} (log: {})",
            server.endpoint,
            log_path.display()
        );
        Ok(server)
    }

    /// The version the bench built.
    pub fn version() -> String {
        format!("{} {}", S3S_FS.0, S3S_FS.1)
    }
}

impl Drop for S3sServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo install`s s3s-fs (its `binary` feature) into `target/bench-tools` unless that
/// version is there already.
fn ensure_s3s_fs(root: &Path) -> Result<PathBuf> {
    let tools = root.join("target/bench-tools");
    let binary = tools.join("bin/s3s-fs");
    let stamp = tools.join(".s3s-fs-version");
    if binary.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == S3S_FS.1) {
        return Ok(binary);
    }
    println!(
        "building {} {} into {} (once; a few minutes)",
        S3S_FS.0,
        S3S_FS.1,
        tools.display()
    );
    python_env::run(
        cargo()
            .args(["install", "--quiet", "--locked", "--features", "binary"])
            .args([S3S_FS.0, "--version", S3S_FS.1, "--root"])
            .arg(&tools)
            // Its own target dir: nothing of the workspace's build is touched.
            .env("CARGO_TARGET_DIR", tools.join("build")),
    )
    .context("building s3s-fs")?;
    std::fs::write(&stamp, S3S_FS.1)?;
    let _ = std::fs::remove_dir_all(tools.join("build"));
    Ok(binary)
}
