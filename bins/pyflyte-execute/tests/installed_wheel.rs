//! The wheel `pyflyte-execute-rs` installed the way images install it (issue 12): pip
//! into a fresh virtual environment, beside flytekit, in every order; then the container
//! command flytekit serialises, run through the `pyflyte-execute` (or
//! `pyflyte-fast-execute`) found on `PATH` with nothing else set up.
//!
//! The wheel is packed from the binary these tests already built, by the packer
//! `cargo xtask dist` uses (bins/pyflyte-execute/wheel/build_wheel.py), with this
//! machine's plain platform tag; only the binary differs from the published wheel.
//! flytekit and its dependencies are downloaded from PyPI once into a wheelhouse under
//! cargo's temporary directory, then installed from it (a fresh environment still costs
//! about half a minute). The reference is flytekit's own entrypoint from the workspace's
//! `.venv`, as in `entrypoints_parity.rs`.
//!
//! Which supervisor ran a task is read off the process tree by the task itself
//! (`ancestry` in tests/parity): the executables of its parent and grandparent.

mod parity_support;

mod entrypoint_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use entrypoint_support::{Backend, Run, Scenario, assert_same_prefix, per_process_dir};
use flyte_proto::Message;
use flyte_proto::core::{ContainerError, ErrorDocument, LiteralMap, container_error};
use parity_support::Entrypoint;
use tempfile::TempDir;

/// The distribution the wheel installs.
const DISTRIBUTION: &str = "pyflyte-execute-rs";
/// A flytekit release before the reference one, to upgrade from.
const OLDER_FLYTEKIT: &str = "1.16.30";

/// The flytekit version the workspace pins (xtask/python-requirements.txt): the reference.
fn flytekit_version() -> String {
    let requirements = flyte_test_support::workspace_root().join("xtask/python-requirements.txt");
    fs::read_to_string(&requirements)
        .expect("the workspace's Python requirements")
        .lines()
        .find_map(|line| line.trim().strip_prefix("flytekit=="))
        .expect("flytekit is pinned with ==")
        .to_owned()
}

/// The wheel of the binary under test, packed once per test process.
fn wheel() -> &'static Path {
    static WHEEL: OnceLock<PathBuf> = OnceLock::new();
    WHEEL.get_or_init(|| {
        let packer = Path::new(env!("CARGO_MANIFEST_DIR")).join("wheel/build_wheel.py");
        let output = Command::new(flyte_test_support::python())
            .arg(packer)
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_pyflyte-execute"))
            .args(["--version", env!("CARGO_PKG_VERSION"), "--out"])
            .arg(per_process_dir("installed-wheel"))
            .output()
            .expect("build_wheel.py starts");
        assert!(
            output.status.success(),
            "build_wheel.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    })
}

/// flytekit (the reference version and its dependencies, and the older version alone),
/// downloaded once; kept across test runs, since it only changes with the pin.
fn wheelhouse() -> &'static Path {
    static WHEELHOUSE: OnceLock<PathBuf> = OnceLock::new();
    WHEELHOUSE.get_or_init(|| {
        let version = flytekit_version();
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wheelhouse-flytekit-{version}"));
        let complete = dir.join(".complete");
        if !complete.exists() {
            let download = |args: &[&str]| {
                let status = Command::new(flyte_test_support::python())
                    .args([
                        "-m",
                        "pip",
                        "download",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    .arg("--dest")
                    .arg(&dir)
                    .args(args)
                    .status()
                    .expect("pip starts");
                assert!(
                    status.success(),
                    "pip download {args:?} failed: is PyPI reachable?"
                );
            };
            download(&[&format!("flytekit=={version}")]);
            download(&["--no-deps", &format!("flytekit=={OLDER_FLYTEKIT}")]);
            fs::write(&complete, "").expect("marking the wheelhouse complete");
        }
        dir
    })
}

/// A fresh virtual environment, as an image's Python environment.
struct Venv {
    dir: TempDir,
    bin: PathBuf,
}

impl Venv {
    fn create(name: &str) -> Venv {
        let dir = tempfile::Builder::new()
            .prefix(&format!("venv-{name}-"))
            .tempdir()
            .expect("a directory for the environment");
        let status = Command::new(flyte_test_support::python())
            .args(["-m", "venv"])
            .arg(dir.path())
            .status()
            .expect("python -m venv starts");
        assert!(
            status.success(),
            "python -m venv {} failed",
            dir.path().display()
        );
        let bin = dir.path().join("bin");
        Venv { dir, bin }
    }

    fn python(&self) -> PathBuf {
        self.bin.join("python")
    }

    /// `pip ARGS` in the environment, which must succeed.
    fn pip(&self, args: &[&str]) {
        let output = Command::new(self.python())
            .args(["-m", "pip", "--disable-pip-version-check"])
            .args(args)
            .output()
            .expect("pip starts");
        assert!(
            output.status.success(),
            "pip {args:?} failed in {}:\n{}{}",
            self.dir.path().display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn install_ours(&self) {
        let wheel = wheel().display().to_string();
        self.pip(&["install", "--quiet", wheel.as_str()]);
    }

    fn uninstall_ours(&self) {
        self.pip(&["uninstall", "--yes", "--quiet", DISTRIBUTION]);
    }

    /// pip installs flytekit `version` (from the wheelhouse) with `extra` arguments.
    fn install_flytekit(&self, version: &str, extra: &[&str]) {
        let wheelhouse = wheelhouse().display().to_string();
        let requirement = format!("flytekit=={version}");
        let mut args = vec![
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            wheelhouse.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push(requirement.as_str());
        self.pip(&args);
    }

    /// `program ARGS` from the environment's bin directory, as an image runs it: that
    /// directory first on `PATH`, `PYFLYTE_EXECUTE_PYTHON` unset.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = flyte_test_support::path_with_first(&self.bin);
        Command::new(self.bin.join(program))
            .args(args)
            .env("PATH", path)
            .env_remove("PYFLYTE_EXECUTE_PYTHON")
            .output()
            .unwrap_or_else(|e| panic!("{program} {args:?} does not start: {e}"))
    }

    /// Where the wheel puts the binary, as `/proc/<pid>/exe` names it.
    fn our_binary(&self) -> PathBuf {
        let output = self.run(
            "python",
            &[
                "-c",
                "import pyflyte_execute_rs; print(pyflyte_execute_rs.binary())",
            ],
        );
        assert!(
            output.status.success(),
            "pyflyte_execute_rs is not importable"
        );
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        fs::canonicalize(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// The plain and the fast-registered task, each with flytekit's reference run.
struct References {
    cases: Vec<(Scenario, Run)>,
}

impl References {
    fn prepare() -> References {
        let mut execute = Scenario::prepare("ancestry", Backend::Local);
        execute.env("PARITY_ANCESTRY", "{local}/ancestry.txt");
        let mut fast = Scenario::prepare("fast_ancestry", Backend::Local);
        fast.with_archive("code")
            .env("PARITY_ANCESTRY", "{local}/ancestry.txt");
        assert_eq!(fast.command[0], "pyflyte-fast-execute");
        let cases = [execute, fast]
            .into_iter()
            .map(|scenario| {
                let reference = scenario.run(Entrypoint::Flytekit);
                assert!(reference.status.success(), "{}", reference.summary());
                (scenario, reference)
            })
            .collect();
        References { cases }
    }

    /// Runs both tasks in `venv` as `label` (short: the worker's socket lives under the
    /// run's directory, and a socket path has at most 107 bytes); each must write what
    /// flytekit's run wrote.
    /// Returns each run with the executables that ran above the task (parent first).
    fn run_in(&self, venv: &Venv, label: &str) -> Vec<(String, Vec<PathBuf>)> {
        self.cases
            .iter()
            .map(|(scenario, reference)| {
                let run = scenario.run_installed(label, &venv.bin);
                assert_same_prefix(&scenario.name, reference, &run);
                let ancestry =
                    fs::read_to_string(run.local.join("ancestry.txt")).unwrap_or_else(|e| {
                        panic!("the task wrote no ancestry ({e})\n{}", run.summary())
                    });
                (
                    scenario.name.clone(),
                    ancestry.lines().map(PathBuf::from).collect(),
                )
            })
            .collect()
    }

    /// Ours answers to all three names, and runs both tasks under our supervisor: the
    /// task's parent is our binary, and so is the fast task's grandparent (our
    /// pyflyte-fast-execute started our pyflyte-execute).
    fn assert_ours_active(&self, venv: &Venv, label: &str) {
        let ours = venv.our_binary();
        for name in [
            "pyflyte-execute",
            "pyflyte-fast-execute",
            "pyflyte-map-execute",
        ] {
            let output = venv.run(name, &["--version"]);
            let report = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{label}: {name} --version failed:\n{report}"
            );
            for expected in [
                format!(
                    "pyflyte-execute (Rust) {}: {}",
                    env!("CARGO_PKG_VERSION"),
                    ours.display()
                ),
                format!("flytekit {}: ", flytekit_version()),
                // The interpreter of flytekit's console script: pip names it by the
                // path it was started as, bin/python or bin/python3.11.
                format!(": {}/python", venv.bin.display()),
                "(PYFLYTE_EXECUTE_PYTHON)".to_owned(),
            ] {
                assert!(
                    report.contains(&expected),
                    "{label}: {name} --version lacks {expected:?}:\n{report}"
                );
            }
        }
        for (case, ancestry) in self.run_in(venv, label) {
            let supervisors = if case.starts_with("fast") { 2 } else { 1 };
            assert!(
                ancestry.len() >= supervisors
                    && ancestry[..supervisors].iter().all(|exe| *exe == ours),
                "{label}: {case} was not run under {}: {ancestry:?}",
                ours.display()
            );
        }
    }

    /// flytekit's own entrypoints are back, untouched: `--version` is no option of
    /// theirs, and no binary of ours ran the tasks.
    fn assert_flytekit_active(&self, venv: &Venv, label: &str) {
        let output = venv.run("pyflyte-execute", &["--version"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{label}: {stderr}");
        assert!(
            stderr.contains("No such option '--version'"),
            "{label}: {stderr}"
        );
        for (case, ancestry) in self.run_in(venv, label) {
            assert!(
                ancestry
                    .iter()
                    .all(|exe| !exe.ends_with("pyflyte_execute_rs/pyflyte-execute")),
                "{label}: {case} ran under our binary: {ancestry:?}"
            );
        }
    }
}

#[test]
fn installed_wheel_takes_over_flytekits_entrypoints_whatever_the_install_order_and_gives_them_back()
{
    let references = References::prepare();
    let venv = Venv::create("orders");
    let version = flytekit_version();

    // Ours first, then flytekit, whose console scripts are written after ours.
    venv.install_ours();
    venv.install_flytekit(&version, &[]);
    references.assert_ours_active(&venv, "ours-fk");

    // Uninstalling ours removes nothing of flytekit's.
    venv.uninstall_ours();
    references.assert_flytekit_active(&venv, "ours-rm");

    // flytekit first, then ours.
    venv.install_ours();
    references.assert_ours_active(&venv, "fk-ours");

    // flytekit downgraded and upgraded after ours: pip removes its console scripts and
    // writes them anew each time.
    venv.install_flytekit(OLDER_FLYTEKIT, &["--no-deps"]);
    venv.install_flytekit(&version, &["--no-deps"]);
    references.assert_ours_active(&venv, "fk-upgrade");

    venv.uninstall_ours();
    references.assert_flytekit_active(&venv, "ours-rm2");
}

#[test]
fn without_flytekit_a_run_fails_in_one_line_naming_flytekit_and_the_interpreter() {
    let venv = Venv::create("no-flytekit");
    venv.install_ours();
    // The entrypoint names are flytekit's console scripts; the wheel claims none of them.
    for name in [
        "pyflyte-execute",
        "pyflyte-fast-execute",
        "pyflyte-map-execute",
    ] {
        assert!(!venv.bin.join(name).exists(), "the wheel installed {name}");
    }
    let missing = format!("flytekit is not installed for {}", venv.python().display());

    let version = venv.run("python", &["-m", "pyflyte_execute_rs", "--version"]);
    let report = String::from_utf8_lossy(&version.stdout);
    assert_eq!(version.status.code(), Some(1), "{report}");
    assert!(report.contains(&missing), "{report}");

    let work = tempfile::tempdir().expect("a work directory");
    let inputs = work.path().join("inputs.pb");
    fs::write(&inputs, LiteralMap::default().encode_to_vec()).expect("writing inputs.pb");
    let output_prefix = work.path().join("outputs");
    let [inputs, outputs, raw] =
        [&inputs, &output_prefix, &work.path().join("raw")].map(|path| path.display().to_string());
    let run = venv.run(
        "python",
        &[
            "-m",
            "pyflyte_execute_rs",
            "--inputs",
            inputs.as_str(),
            "--output-prefix",
            outputs.as_str(),
            "--raw-output-data-prefix",
            raw.as_str(),
            "--resolver",
            parity_support::DEFAULT_RESOLVER,
            "--",
            "task-module",
            "entrypoint_tasks",
            "task-name",
            "ancestry",
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains("Traceback"),
        "a Python traceback:\n{stderr}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("flytekit"))
        .collect();
    assert!(
        lines.len() == 1 && lines[0].contains(&missing),
        "not one line naming flytekit and {}:\n{stderr}",
        venv.python().display()
    );

    let document = ErrorDocument::decode(
        fs::read(output_prefix.join("error.pb"))
            .expect("error.pb is written")
            .as_slice(),
    )
    .expect("an error document");
    let ContainerError {
        code,
        message,
        kind,
        ..
    } = document.error.expect("an error");
    assert_eq!(code, "SYSTEM");
    assert_eq!(kind, container_error::Kind::NonRecoverable as i32);
    assert!(
        message.starts_with(&missing) && !message.contains('\n'),
        "{message}"
    );
}

/// Installs a stand-in for flytekit `version` into `venv` as pip would leave one: the
/// package with its metadata in site-packages, and the console script
/// `pyflyte-execute` pip writes for flytekit's entry point. Its entrypoint prints a line
/// naming itself, so a run shows whose entrypoint ran.
fn install_stand_in_flytekit(venv: &Venv, version: &str) {
    let output = venv.run(
        "python",
        &[
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
    );
    let site = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let package = site.join("flytekit/bin");
    fs::create_dir_all(&package).expect("the stand-in's package");
    fs::write(
        site.join("flytekit/__init__.py"),
        format!("__version__ = {version:?}\n"),
    )
    .expect("flytekit/__init__.py");
    fs::write(package.join("__init__.py"), "").expect("flytekit/bin/__init__.py");
    fs::write(
        package.join("entrypoint.py"),
        "import sys\n\ndef execute_task_cmd():\n    import flytekit\n    \
         print('stand-in flytekit %s entrypoint ran' % flytekit.__version__)\n    return 0\n",
    )
    .expect("flytekit/bin/entrypoint.py");
    let metadata = site.join(format!("flytekit-{version}.dist-info"));
    fs::create_dir_all(&metadata).expect("the stand-in's metadata");
    fs::write(
        metadata.join("METADATA"),
        format!("Metadata-Version: 2.1\nName: flytekit\nVersion: {version}\n"),
    )
    .expect("METADATA");
    let script = venv.bin.join("pyflyte-execute");
    fs::write(
        &script,
        format!(
            "#!{}\nimport re\nimport sys\nfrom flytekit.bin.entrypoint import execute_task_cmd\n\
             if __name__ == '__main__':\n    \
             sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    \
             sys.exit(execute_task_cmd())\n",
            venv.python().display()
        ),
    )
    .expect("the console script");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod +x");
}

#[test]
fn the_hook_stands_aside_for_a_flytekit_outside_the_supported_range_saying_why() {
    for version in ["1.9.2", "2.0.0"] {
        let venv = Venv::create("stand-aside");
        venv.install_ours();
        install_stand_in_flytekit(&venv, version);

        let run = venv.run("pyflyte-execute", &["--inputs", "unused"]);
        let stdout = String::from_utf8_lossy(&run.stdout);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("stand-in flytekit {version} entrypoint ran")),
            "flytekit's own entrypoint did not run:\n{stdout}\n{stderr}"
        );
        assert_eq!(
            stderr.trim(),
            format!(
                "pyflyte-execute-rs: flytekit {version} is outside the range pyflyte-execute \
                 runs (1.10.0 up to, not including, 2.0.0); running flytekit's own \
                 pyflyte-execute"
            ),
        );

        // Ours, asked directly, says the same and fails, so an image build checking it
        // stops.
        let report = venv.run("python", &["-m", "pyflyte_execute_rs", "--version"]);
        let text = String::from_utf8_lossy(&report.stdout);
        assert_eq!(report.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&format!("flytekit {version}: "))
                && text.contains("NOT in the supported range, 1.10.0 up to (not including) 2.0.0"),
            "{text}"
        );
    }
}
