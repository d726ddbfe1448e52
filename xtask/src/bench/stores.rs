//! The stores the bench runs against, how each entrypoint and rclone reach them, and
//! Garage, the production S3 server (Rust) the transfers run on: fast enough that the
//! tools, not the server, decide a transfer's time.

use std::net::SocketAddr;
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
/// Garage, pinned, built once into `target/bench-tools` (about 9 minutes).
const GARAGE: (&str, &str) = ("garage", "2.5.0");
/// The key the bench imports into its Garage (Garage's formats: `GK` and 24 hex digits,
/// a 64-digit secret). Only ever on loopback, in a server the bench made.
const GARAGE_KEY_ID: &str = "GK0be4c11f1e7eb3c4b3e9c0a1";
const GARAGE_SECRET: &str = "f1ab5c0de0be4c11f1e7eb3c4b3e9c0a1d2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b";
/// The label of Garage reached through the shaping proxy.
pub const CLOUD_LABEL: &str = "S3 (Garage, cloud-like link)";
/// Garage's region, as its configuration names it.
const GARAGE_REGION: &str = "garage";
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
    /// The same remote as set-up, checks and clean-up reach it: for the cloud-like
    /// link, Garage directly, so that only the measured runs pay the link.
    setup_rclone_env: Vec<(String, String)>,
    /// Set up, read back and clean up with rclone, or (Azurite) with a Python helper.
    access: Access,
}

/// How the bench sets a store up, reads outputs back and cleans up.
enum Access {
    Rclone,
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
            setup_rclone_env: Vec::new(),
            access: Access::Rclone,
        })
    }

    /// An S3 server at `endpoint` in `region`.
    fn s3(
        label: &'static str,
        name: &str,
        endpoint: &str,
        (key, secret): (&str, &str),
        region: &str,
    ) -> Store {
        let env = [
            ("FLYTE_AWS_ENDPOINT", endpoint),
            ("FLYTE_AWS_ACCESS_KEY_ID", key),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_REGION", region),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let rclone = [
            ("TYPE", "s3"),
            ("PROVIDER", "Other"),
            ("ENDPOINT", endpoint),
            ("ACCESS_KEY_ID", key),
            ("SECRET_ACCESS_KEY", secret),
            ("REGION", region),
            ("FORCE_PATH_STYLE", "true"),
        ];
        Store {
            label,
            root: format!("s3://{BUCKET}"),
            env: owned(&env),
            remote: format!("{name}:{BUCKET}"),
            rclone_env: rclone_config(name, &rclone),
            setup_rclone_env: rclone_config(name, &rclone),
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
            (
                &var("PYFLYTE_EXECUTE_TEST_S3_ACCESS_KEY_ID")?,
                &var("PYFLYTE_EXECUTE_TEST_S3_SECRET_ACCESS_KEY")?,
            ),
            "us-east-1",
        ))
    }

    /// The bench's Garage, reached directly.
    pub fn garage(server: &GarageServer) -> Store {
        Store::s3(
            "S3 (Garage)",
            "garage",
            &format!("http://{}", server.s3_addr),
            (GARAGE_KEY_ID, GARAGE_SECRET),
            GARAGE_REGION,
        )
    }

    /// The bench's Garage reached through the shaping proxy at `proxy`: the
    /// entrypoints' and rclone's endpoint is simply the proxy's address. Set-up, checks
    /// and clean-up go to Garage's S3 API at `server` directly.
    pub fn garage_through(proxy: SocketAddr, server: SocketAddr) -> Store {
        let through = |endpoint: String| {
            Store::s3(
                CLOUD_LABEL,
                "garagelink",
                &endpoint,
                (GARAGE_KEY_ID, GARAGE_SECRET),
                GARAGE_REGION,
            )
        };
        Store {
            setup_rclone_env: through(format!("http://{server}")).rclone_env,
            ..through(format!("http://{proxy}"))
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
            setup_rclone_env: rclone_config("gcs", &rclone),
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
            setup_rclone_env: Vec::new(),
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

    /// An rclone command with this store's remote defined, for measured runs.
    pub fn rclone(&self) -> Command {
        rclone_with(&self.rclone_env)
    }

    /// Runs rclone with `args` for set-up, checks or clean-up, and returns its stdout,
    /// failing with its stderr.
    pub fn rclone_run(&self, args: &[&str]) -> Result<Vec<u8>> {
        self.output(rclone_with(&self.setup_rclone_env).args(args), false)
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
        let target = self.rclone_path(path);
        match self.helper(&["purge", &target]) {
            Some(mut helper) => self.output(&mut helper, true),
            // `delete`, not `purge`: purge refuses a path that is a file (the file case's
            // read input), and object stores have no directories left to remove.
            None => self.output(
                rclone_with(&self.setup_rclone_env).args(["delete", &target]),
                true,
            ),
        }
        .map(drop)
    }
}

/// An rclone command with the remotes of `remote_env` defined.
fn rclone_with(remote_env: &[(String, String)]) -> Command {
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
        .envs(remote_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    command
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

/// A running single-node Garage on loopback, made afresh in `target/bench/garage`;
/// dropping this stops it and deletes its data. Its log and configuration stay in
/// `target/bench/garage.log` and `garage.toml`.
pub struct GarageServer {
    child: Child,
    /// Where its S3 API listens.
    pub s3_addr: SocketAddr,
    binary: PathBuf,
    config: PathBuf,
    /// Its data and metadata, deleted when it stops (the memory part leaves 10 GiB).
    dir: PathBuf,
}

impl GarageServer {
    /// Builds Garage once into `target/bench-tools`, then starts one node on free
    /// loopback ports with lmdb metadata and replication factor 1, gives it a layout,
    /// and makes the bench's key and bucket.
    pub fn start(root: &Path) -> Result<GarageServer> {
        let binary = ensure_garage(root)?;
        let dir = root.join("target/bench/garage");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let [s3, rpc, admin] = free_ports()?;
        // The configuration beside the data, not in it: kept with the log.
        let config = root.join("target/bench/garage.toml");
        std::fs::write(&config, garage_config(&dir, s3, rpc, admin, &rpc_secret()))?;
        let log_path = root.join("target/bench/garage.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = GarageServer {
            child,
            s3_addr: SocketAddr::from(([127, 0, 0, 1], s3)),
            binary,
            config,
            dir,
        };
        let started = Instant::now();
        // The node answers its CLI once its RPC listens; its id is what the layout names.
        let node = loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "Garage exited with {status}; its log:\n{}",
                    tail(&std::fs::read_to_string(&log_path).unwrap_or_default())
                );
            }
            if let Ok(id) = server.cli(&["node", "id", "-q"]) {
                break id.trim().split('@').next().unwrap_or_default().to_owned();
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "Garage did not answer `node id` within 30 s; its log:\n{}",
                    tail(&std::fs::read_to_string(&log_path).unwrap_or_default())
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        server.cli(&["layout", "assign", "-z", "dc1", "-c", "20G", &node])?;
        server.cli(&["layout", "apply", "--version", "1"])?;
        server.cli(&[
            "key",
            "import",
            "--yes",
            "-n",
            "flyte-bench",
            GARAGE_KEY_ID,
            GARAGE_SECRET,
        ])?;
        // The layout takes a moment to reach the tables: retry the bucket for a while.
        let bucket_made = Instant::now();
        while let Err(error) = server.cli(&["bucket", "create", BUCKET]) {
            if bucket_made.elapsed() > Duration::from_secs(30) {
                return Err(error.context("creating the bench's bucket in Garage"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        server.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            BUCKET,
            "--key",
            "flyte-bench",
        ])?;
        while std::net::TcpStream::connect(server.s3_addr).is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "Garage's S3 API did not listen on {} within 60 s",
                    server.s3_addr
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "Garage {} listens on http://{} (log: {})",
            GARAGE.1,
            server.s3_addr,
            log_path.display()
        );
        Ok(server)
    }

    /// `garage -c CONFIG ARGS`'s stdout, failing with its stderr.
    fn cli(&self, args: &[&str]) -> Result<String> {
        let output = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running garage {}", args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "garage {} failed ({}):\n{}",
                args.join(" "),
                output.status,
                tail(&String::from_utf8_lossy(&output.stderr))
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The version the bench built.
    pub fn version() -> String {
        format!("Garage {} (single node, lmdb)", GARAGE.1)
    }
}

impl Drop for GarageServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three free loopback ports (held until all are picked, so they differ).
fn free_ports() -> Result<[u16; 3]> {
    let listeners = [
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
    ];
    let mut ports = [0; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// A fresh RPC secret (64 hex digits): the node talks to nobody else, so the clock and
/// the process id make it unique enough.
fn rpc_secret() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:032x}{:032x}", u128::from(std::process::id()))
}

/// Garage's configuration for one node under `dir`.
fn garage_config(dir: &Path, s3: u16, rpc: u16, admin: u16, secret: &str) -> String {
    format!(
        r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{GARAGE_REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
        meta = dir.join("meta").display(),
        data = dir.join("data").display(),
    )
}

/// `cargo install`s Garage into `target/bench-tools` unless that version is there
/// already.
fn ensure_garage(root: &Path) -> Result<PathBuf> {
    let tools = root.join("target/bench-tools");
    let binary = tools.join("bin/garage");
    let stamp = tools.join(".garage-version");
    if binary.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == GARAGE.1) {
        return Ok(binary);
    }
    // A binary put there by hand (copied from another checkout) counts when it says
    // it is the pinned version.
    if binary.exists() {
        let said = Command::new(&binary).arg("--version").output();
        if said.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(GARAGE.1)) {
            std::fs::write(&stamp, GARAGE.1)?;
            return Ok(binary);
        }
    }
    println!(
        "building {} {} into {} (once; about 9 minutes)",
        GARAGE.0,
        GARAGE.1,
        tools.display()
    );
    python_env::run(
        cargo()
            .args(["install", "--quiet", "--locked"])
            .args([GARAGE.0, "--version", GARAGE.1, "--root"])
            .arg(&tools)
            // Its own target dir: nothing of the workspace's build is touched.
            .env("CARGO_TARGET_DIR", tools.join("build")),
    )
    .context("building Garage")?;
    std::fs::write(&stamp, GARAGE.1)?;
    let _ = std::fs::remove_dir_all(tools.join("build"));
    Ok(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_garage_config_names_one_lmdb_node_on_the_ports_given() {
        let config = garage_config(Path::new("/b/garage"), 1, 2, 3, "ab");
        for line in [
            "metadata_dir = \"/b/garage/meta\"",
            "db_engine = \"lmdb\"",
            "replication_factor = 1",
            "rpc_bind_addr = \"127.0.0.1:2\"",
            "api_bind_addr = \"127.0.0.1:1\"",
            "api_bind_addr = \"127.0.0.1:3\"",
            "s3_region = \"garage\"",
        ] {
            assert!(
                config.lines().any(|l| l == line),
                "{line} missing:\n{config}"
            );
        }
    }

    #[test]
    fn the_cloud_like_link_is_measured_through_the_proxy_and_set_up_directly() {
        let server_addr: SocketAddr = "127.0.0.1:3900".parse().expect("an address");
        let proxy: SocketAddr = "127.0.0.1:4900".parse().expect("an address");
        let endpoint = |env: &[(String, String)]| {
            env.iter()
                .find(|(k, _)| k.ends_with("_ENDPOINT"))
                .map(|(_, v)| v.clone())
        };
        let cloud = Store::garage_through(proxy, server_addr);
        assert_eq!(
            endpoint(&cloud.rclone_env).as_deref(),
            Some(format!("http://{proxy}").as_str())
        );
        assert_eq!(
            endpoint(&cloud.setup_rclone_env).as_deref(),
            Some(format!("http://{server_addr}").as_str())
        );
        let flyte = cloud.env.iter().find(|(k, _)| k == "FLYTE_AWS_ENDPOINT");
        assert_eq!(
            flyte.map(|(_, v)| v.as_str()),
            Some("http://127.0.0.1:4900")
        );
    }

    #[test]
    fn an_rpc_secret_is_64_hex_digits() {
        let secret = rpc_secret();
        assert_eq!(secret.len(), 64);
        assert!(secret.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
