//! What the tests share: the contents every round trip moves, the places values are
//! offloaded to (local files and the three emulators), and running flytekit's half.
//!
//! The emulator helpers are used here only (`Place`), so moving them to another crate
//! changes this file alone.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use flyte_storage::{Storage, StorageConfig};
use flyte_test_support::emulators::Emulator;

/// The file flytekit's side and ours offload (`FILE_TEXT` in flytekit_side.py).
pub const FILE_TEXT: &[u8] = b"hello from flytekit\n";

/// The directory tree both sides offload (`TREE` in flytekit_side.py).
pub fn tree() -> BTreeMap<String, Vec<u8>> {
    let binary: Vec<u8> = (0..=255u8).collect::<Vec<_>>().repeat(40);
    BTreeMap::from([
        ("a.txt".to_owned(), b"alpha\n".to_vec()),
        ("nested/b.txt".to_owned(), b"bravo\n".to_vec()),
        ("nested/deeper/c.bin".to_owned(), binary),
    ])
}

/// Writes [`tree`] under `root`.
pub fn write_tree(root: &Path) {
    for (name, data) in tree() {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, data).expect("write");
    }
}

/// Every file under `root`, by `/`-separated relative path.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let key = path.strip_prefix(root).expect("under root");
                let key = key.to_str().expect("utf-8").replace('\\', "/");
                files.insert(key, std::fs::read(&path).expect("read"));
            }
        }
    }
    files
}

/// Where a test offloads to.
#[derive(Clone, Copy, Debug)]
pub enum Place {
    /// A temporary local directory.
    Local,
    /// A fresh prefix of an emulator's test bucket (`cargo xtask test` starts them).
    Remote(Emulator),
}

pub const EMULATORS: [Place; 3] = [
    Place::Remote(Emulator::S3),
    Place::Remote(Emulator::Gcs),
    Place::Remote(Emulator::Azure),
];

impl Place {
    /// Storage reaching the place, and a fresh raw output prefix there (under `scratch`
    /// when local).
    pub async fn storage_and_prefix(self, scratch: &Path) -> (Storage, String) {
        match self {
            Place::Local => {
                let raw = scratch.join("raw");
                std::fs::create_dir_all(&raw).expect("mkdir raw");
                (
                    Storage::new(StorageConfig::default()),
                    raw.to_str().expect("utf-8").to_owned(),
                )
            }
            Place::Remote(emulator) => {
                emulator.prepare().await;
                (Storage::new(emulator.config()), emulator.unique_prefix())
            }
        }
    }

    /// The variables that point flytekit at the place.
    pub fn flytekit_env(self) -> BTreeMap<String, String> {
        match self {
            Place::Local => BTreeMap::new(),
            Place::Remote(emulator) => {
                let mut env = emulator.flytekit_env();
                // flytekit 1.16.31 passes `metadata=` to adlfs's put, which adds its own:
                // uploads to Azure fail unless execution metadata is off (as in
                // bins/pyflyte-execute/tests/parity_support).
                env.insert(
                    "FLYTE_PERSISTENCE_ATTACH_EXECUTION_METADATA".to_owned(),
                    "false".to_owned(),
                );
                env
            }
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/flytekit_side.py")
}

/// Runs flytekit_side.py with `args` in the place's environment; panics with its output
/// when it fails.
pub fn flytekit(place: Place, args: &[&str]) -> String {
    let output = Command::new(flyte_test_support::python())
        .arg(script())
        .args(args)
        .envs(place.flytekit_env())
        .env("FLYTE_SDK_LOGGING_LEVEL", "30")
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "flytekit_side.py {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Every object under `prefix`, by key.
pub async fn objects_under(storage: &Storage, prefix: &str) -> Vec<String> {
    storage
        .list(prefix)
        .await
        .unwrap_or_else(|e| panic!("listing {prefix}: {e}"))
        .into_iter()
        .map(|object| object.key)
        .collect()
}
