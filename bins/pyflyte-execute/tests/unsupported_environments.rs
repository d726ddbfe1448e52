//! Environments tasks cannot run in (issue 24): a flytekit outside 1.10 to 1.x, one whose
//! import fails, one whose entrypoint functions the worker does not recognise, and a
//! Python outside 3.9 to 3.12. Each run ends as a failed flytekit import would (exit 1),
//! with one log line naming what was found and what is supported, the same line as the
//! message of a non-recoverable error document, and nothing else under the output prefix.
//!
//! The fake flytekits are packages with package metadata on `PYTHONPATH`, in front of the
//! workspace environment's real one: the worker reads their version as it reads a real
//! one's (`importlib.metadata`), and imports them only when the version is supported.

mod parity_support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use flyte_proto::core::{ContainerError, container_error};
use parity_support::{Case, Entrypoint, Run};

/// Writes a package `flytekit` of `version` under `dir`: `files` are (path below the
/// package, contents); the package metadata says `version`.
fn fake_flytekit(dir: &Path, version: &str, files: &[(&str, &str)]) {
    let metadata = dir.join(format!("flytekit-{version}.dist-info"));
    fs::create_dir_all(&metadata).expect("a dist-info directory");
    fs::write(
        metadata.join("METADATA"),
        format!("Metadata-Version: 2.1\nName: flytekit\nVersion: {version}\n"),
    )
    .expect("METADATA");
    for (path, contents) in files {
        let path = dir.join("flytekit").join(path);
        fs::create_dir_all(path.parent().expect("a parent")).expect("package directories");
        fs::write(&path, contents).expect("a package file");
    }
}

/// Runs ours on a one-input case with `env`; returns the run and its error document,
/// after checking what every refusal has in common.
fn refused(case: &Case, env: &[(&str, &str)], needle: &str) -> (Run, ContainerError) {
    case.write_inputs(&[]);
    let run = case.run_with(Entrypoint::Ours, env);
    run.assert_no_panic();
    assert_eq!(run.ending(), "exit code 1", "{}", run.summary());
    assert_eq!(
        run.written_files(),
        BTreeSet::from(["error.pb".to_owned()]),
        "{}",
        run.summary()
    );
    assert!(!run.stderr.contains("Traceback"), "{}", run.summary());
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains(needle)).collect();
    assert_eq!(
        lines.len(),
        1,
        "not one line naming {needle:?}:\n{}",
        run.stderr
    );
    let error = run.error();
    assert_eq!(
        error.kind,
        container_error::Kind::NonRecoverable as i32,
        "{error:?}"
    );
    assert!(!error.message.contains('\n'), "{}", error.message);
    assert!(
        lines[0].contains(&error.message.replace('"', "\\\"")),
        "the log line is not the document's message:\n{}\n{}",
        lines[0],
        error.message
    );
    (run, error)
}

#[test]
fn a_flytekit_outside_the_supported_range_is_refused_without_being_imported() {
    for version in ["1.9.2", "2.0.0"] {
        let case = Case::without_inputs("old-flytekit", "app", "t");
        let site = tempfile::tempdir().expect("a site directory");
        // Importing it would fail the run with a traceback.
        fake_flytekit(
            site.path(),
            version,
            &[("__init__.py", "raise AssertionError('imported')\n")],
        );
        let pythonpath = site.path().display().to_string();
        let (_, error) = refused(
            &case,
            &[("PYTHONPATH", &pythonpath)],
            &format!("flytekit {version}"),
        );
        assert_eq!(error.code, "SYSTEM:UnsupportedFlytekit");
        assert!(
            error.message.starts_with(&format!(
                "flytekit {version} ({}/flytekit) is not supported: pyflyte-execute runs \
                 flytekit 1.10.0 up to (not including) 2.0.0",
                site.path().display()
            )),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("PYFLYTE_EXECUTE_USE_FLYTEKIT=1"),
            "{}",
            error.message
        );
    }
}

#[test]
fn a_flytekit_whose_import_fails_is_refused_naming_the_missing_dependency() {
    let case = Case::without_inputs("broken-flytekit", "app", "t");
    let site = tempfile::tempdir().expect("a site directory");
    fake_flytekit(
        site.path(),
        "1.12.3",
        &[(
            "__init__.py",
            "raise ModuleNotFoundError(\"No module named 'numpy'\", name='numpy')\n",
        )],
    );
    let pythonpath = site.path().display().to_string();
    let (_, error) = refused(&case, &[("PYTHONPATH", &pythonpath)], "flytekit 1.12.3");
    assert_eq!(error.code, "SYSTEM:FlytekitImportFailed");
    assert!(
        error.message.starts_with(&format!(
            "flytekit 1.12.3 ({}/flytekit) is installed but cannot be imported \
             (ModuleNotFoundError: No module named 'numpy')",
            site.path().display()
        )),
        "{}",
        error.message
    );
}

#[test]
fn a_flytekit_whose_entrypoint_is_not_recognised_is_refused_naming_what_differs() {
    let case = Case::without_inputs("strange-flytekit", "app", "t");
    let site = tempfile::tempdir().expect("a site directory");
    fake_flytekit(
        site.path(),
        "1.17.0",
        &[
            ("__init__.py", ""),
            ("bin/__init__.py", ""),
            (
                "bin/entrypoint.py",
                "import contextlib\n\
                 @contextlib.contextmanager\n\
                 def setup_execution(raw_output_data_prefix, output_metadata_prefix=None):\n    yield None\n\
                 def _dispatch_execute(ctx, task_spec, inputs_path):\n    pass\n\
                 def _compute_array_job_index():\n    return 0\n",
            ),
            ("tools/__init__.py", ""),
            (
                "tools/module_loader.py",
                "def load_object_from_module(path):\n    raise AssertionError('used')\n",
            ),
        ],
    );
    let pythonpath = site.path().display().to_string();
    let (_, error) = refused(&case, &[("PYTHONPATH", &pythonpath)], "flytekit 1.17.0");
    assert_eq!(error.code, "SYSTEM:UnsupportedFlytekit");
    assert!(
        error
            .message
            .contains("is not supported (_dispatch_execute takes (ctx, task_spec, inputs_path))"),
        "{}",
        error.message
    );
}

#[test]
fn a_python_outside_3_9_to_3_12_is_refused_naming_its_version() {
    let python = flyte_test_support::unsupported_python();
    let case = Case::without_inputs("old-python", "app", "t");
    let python_arg = python.display().to_string();
    let (_, error) = refused(
        &case,
        &[("PYFLYTE_EXECUTE_PYTHON", &python_arg)],
        "cannot run tasks",
    );
    assert_eq!(error.code, "SYSTEM:UnsupportedPython");
    assert!(
        error.message.starts_with("Python 3.")
            && error.message.contains(
                "cannot run tasks: pyflyte-execute supports Python 3.9 up to (not including) 3.13"
            ),
        "{}",
        error.message
    );
}
