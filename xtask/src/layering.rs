//! The crate graph docs/architecture.md draws, checked against `cargo metadata`: which
//! workspace crate may depend on which, and which may use anyhow. A new arrow fails
//! `cargo xtask test` until the map (this table and the document) says it is meant.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::test::cargo;
use crate::workspace_root;

/// Each workspace package and the workspace packages it may depend on (normal
/// dependencies; tests and build scripts may use more).
const ALLOWED: &[(&str, &[&str])] = &[
    ("flyte-proto", &[]),
    ("flyte-config", &[]),
    ("flyte-telemetry", &[]),
    ("flyte-storage", &[]),
    ("flyte-errors", &["flyte-proto"]),
    ("flyte-offload", &["flyte-proto", "flyte-storage"]),
    (
        "flyte-settings",
        &["flyte-config", "flyte-storage", "flyte-telemetry"],
    ),
    (
        "flyte-runtime",
        &[
            "flyte-proto",
            "flyte-errors",
            "flyte-storage",
            "flyte-telemetry",
        ],
    ),
    (
        "flyte-python",
        &[
            "flyte-runtime",
            "flyte-proto",
            "flyte-errors",
            "flyte-storage",
            "flyte-telemetry",
        ],
    ),
    (
        "pyflyte-execute",
        &[
            "flyte-python",
            "flyte-runtime",
            "flyte-proto",
            "flyte-errors",
            "flyte-storage",
            "flyte-telemetry",
            "flyte-config",
            "flyte-settings",
        ],
    ),
    (
        "flyte-copilot",
        &[
            "flyte-offload",
            "flyte-proto",
            "flyte-errors",
            "flyte-storage",
            "flyte-config",
            "flyte-settings",
        ],
    ),
    (
        "partition-csv",
        &[
            "flyte-runtime",
            "flyte-offload",
            "flyte-settings",
            "flyte-config",
            "flyte-errors",
            "flyte-proto",
            "flyte-storage",
            "flyte-telemetry",
        ],
    ),
    ("flyte-test-support", &["flyte-storage"]),
    ("xtask", &["flyte-proto"]),
];

/// The packages that may use anyhow: the binary and project automation. Libraries
/// return typed errors.
const ANYHOW_ALLOWED: &[&str] = &["pyflyte-execute", "flyte-copilot", "xtask"];

/// Every workspace package with its normal (non-dev, non-build) dependencies' names.
fn normal_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let output = cargo()
        .current_dir(workspace_root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let dependencies = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|dependency| dependency["kind"].is_null())
                .map(|dependency| dependency["name"].as_str().expect("name").to_owned())
                .collect();
            (
                package["name"].as_str().expect("name").to_owned(),
                dependencies,
            )
        })
        .collect()
}

#[test]
fn workspace_crates_depend_only_along_the_arrows_of_the_architecture_map() {
    let packages = normal_dependencies();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let workspace: BTreeSet<&str> = packages.keys().map(String::as_str).collect();
    assert_eq!(
        workspace,
        allowed.keys().copied().collect(),
        "every workspace package has a row in ALLOWED (and docs/architecture.md)"
    );
    for (package, dependencies) in &packages {
        for dependency in dependencies {
            if workspace.contains(dependency.as_str()) {
                assert!(
                    allowed[package.as_str()].contains(&dependency.as_str()),
                    "{package} depends on {dependency}, an arrow docs/architecture.md does not draw"
                );
            }
        }
    }
}

#[test]
fn only_the_binary_and_xtask_use_anyhow() {
    for (package, dependencies) in normal_dependencies() {
        if dependencies.contains("anyhow") {
            assert!(
                ANYHOW_ALLOWED.contains(&package.as_str()),
                "{package} uses anyhow: library crates return typed (thiserror) errors"
            );
        }
    }
}

/// Words that start a process or handle a signal in Rust source.
const PROCESS_AND_SIGNAL_APIS: &[&str] = &[
    "process::Command",
    "Command::new",
    "tokio::signal",
    "signal_hook",
    "kill_process",
    "rustix::process",
];

/// Every `.rs` file under `dir`, recursively.
pub(crate) fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn only_flyte_python_starts_processes_or_touches_signals() {
    let root = workspace_root();
    let mut sources = Vec::new();
    for parent in ["crates", "bins", "examples"] {
        for package in std::fs::read_dir(root.join(parent)).expect("package directory") {
            let package = package.expect("entry").path();
            // Test helpers run flytekit; they ship in nothing.
            let name = package
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if matches!(name, "flyte-python" | "flyte-test-support") {
                continue;
            }
            if package.join("src").is_dir() {
                sources.extend(rust_files(&package.join("src")));
            }
        }
    }
    assert!(
        sources.len() > 20,
        "the scan found the sources: {sources:?}"
    );
    // flyte-copilot's sidecar learns that the task's container ended from the
    // kubelet's SIGTERM: its watcher is the one other file allowed a signal.
    // So does the example task's entrypoint, which turns it into a run's `Stop`.
    let signal_watchers = [
        root.join("bins/flyte-copilot/src/watcher.rs"),
        root.join("examples/partition-csv/src/main.rs"),
    ];
    for file in sources {
        if signal_watchers.contains(&file) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        for api in PROCESS_AND_SIGNAL_APIS {
            assert!(
                !text.contains(api),
                "{} uses {api}: only crates/flyte-python starts processes or handles signals \
                 (docs/architecture.md)",
                file.display()
            );
        }
    }
}
