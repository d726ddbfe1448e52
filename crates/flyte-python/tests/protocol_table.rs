//! The Python side of the protocols speaks the names and versions `protocol.json` lists
//! (the Rust side's unit tests check the same table), and cuts error texts to the limit
//! the control protocol has room for.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The protocol constants of `worker.py` and `fsspec_bridge.py`, as the Python the tests
/// run flytekit with reads them.
fn python_constants() -> Value {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = r#"
import importlib.util, json, sys

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

worker = load("worker", sys.argv[1])
bridge = load("bridge", sys.argv[2])
print(json.dumps({
    "control": {"version": worker.PROTOCOL_VERSION, "max_error_text_chars": worker.MAX_ERROR_TEXT_CHARS,
                "commands": worker.COMMANDS, "events": worker.EVENTS},
    "bridge": {"version": bridge.PROTOCOL_VERSION, "requests": bridge.REQUESTS,
               "stat_types": bridge.STAT_TYPES, "failure_kinds": bridge.FAILURE_KINDS},
}))
"#;
    let output = Command::new(flyte_test_support::python())
        .arg("-c")
        .arg(script)
        .arg(crate_dir.join("python/worker.py"))
        .arg(crate_dir.join("python/fsspec_bridge.py"))
        .output()
        .expect("the test Python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn the_python_side_speaks_the_names_and_versions_of_protocol_json() {
    let mut table: Value =
        serde_json::from_str(include_str!("../protocol.json")).expect("protocol.json parses");
    table.as_object_mut().expect("an object").remove("comment");
    assert_eq!(python_constants(), table);
}

#[test]
fn the_worker_cuts_an_enormous_error_text_to_its_head_and_tail_with_a_note() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = r#"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("worker", sys.argv[1])
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)
limit = worker.MAX_ERROR_TEXT_CHARS
text = "H" * limit + "middle" + "T" * limit
cut = worker._cut(text)
print(json.dumps({
    "short_kept": worker._cut("short") == "short",
    "len_ok": len(cut) < limit + 200,
    "head": cut.startswith("H" * (limit // 2)),
    "tail": cut.endswith("T" * (limit // 2)),
    "note": f"{len(text) - limit} characters cut" in cut,
    "middle_gone": "middle" not in cut,
}))
"#;
    let output = Command::new(flyte_test_support::python())
        .arg("-c")
        .arg(script)
        .arg(crate_dir.join("python/worker.py"))
        .output()
        .expect("the test Python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checks: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    for (check, passed) in checks.as_object().expect("an object") {
        assert_eq!(passed, &Value::Bool(true), "{check}");
    }
}
