//! A real flytekit `ContainerTask`: its serialised interface and DataLoadingConfig are
//! what copilot is given, its inputs.pb is made by flytekit's TypeEngine, and the
//! outputs.pb copilot writes is read back by flytekit's TypeEngine into the task's
//! Python output types.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use support::{run, stderr};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/flytekit/container_task.py"
);

fn python(args: &[&str]) -> serde_json::Value {
    let output = Command::new(flyte_test_support::python())
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn a_container_tasks_inputs_come_down_and_its_outputs_read_back_in_flytekit() {
    let work = tempfile::tempdir().expect("temp dir");
    let workdir = work.path().display().to_string();
    let task = python(&["prepare", &workdir]);
    let field = |name: &str| task[name].as_str().expect(name).to_owned();
    assert_eq!(task["data_config_enabled"], true);
    let (input_dir, output_dir) = (field("input_path"), field("output_path"));
    let prefix = work.path().join("prefix").display().to_string();
    let raw = work.path().join("raw").display().to_string();

    // The init container, as propeller starts it for this task.
    let output = run(
        &[
            "download",
            "--from-remote",
            &field("inputs"),
            "--to-output-prefix",
            &prefix,
            "--to-local-dir",
            &input_dir,
            "--format",
            &field("format"),
            "--input-interface",
            &field("inputs_variables"),
        ],
        &BTreeMap::new(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let inputs = Path::new(&input_dir);
    assert_eq!(text(&inputs.join("a")), "7");
    assert_eq!(text(&inputs.join("s")), "seven");
    assert_eq!(text(&inputs.join("f")), "hello from flytekit");
    assert_eq!(text(&inputs.join("d/nested/deep.txt")), "deep");
    assert_eq!(text(&inputs.join("xs/2")), "3");
    let described: serde_json::Value =
        serde_json::from_str(&text(&inputs.join("inputs.json"))).expect("inputs.json");
    assert_eq!(described["xs"], serde_json::json!([1, 2, 3]));

    // The task's container, writing its outputs as a raw container does.
    let outputs = Path::new(&output_dir);
    let write = |name: &str, body: &str| {
        let path = outputs.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, body).expect("written");
    };
    write("total", "13\n");
    write("report.txt", "all good");
    write("out_dir/a.txt", "A");
    write("out_dir/sub/b.txt", "B");
    write("names/0", "ann");
    write("names/1", "bob");
    write("scores/ann", "0.25");
    write("scores/bob", "4");
    write("ratio", "0.5");
    write("done", "True\n");
    write("when", "2024-01-02T05:04:05.25+02:00");
    write("took", "1h30m0.5s");
    write("maybe", "null");
    write("label.txt", "tagged");
    write("pick", "seven");
    std::fs::copy(field("frame"), outputs.join("frame.parquet")).expect("frame copied");

    // The sidecar, as propeller starts it (the task has ended: noop watcher).
    let output = run(
        &[
            "sidecar",
            "--timeout",
            "1h0m0s",
            "--to-raw-output",
            &raw,
            "--to-output-prefix",
            &prefix,
            "--from-local-dir",
            &output_dir,
            "--interface",
            &field("interface"),
            "--start-watcher-type",
            "noop",
        ],
        &BTreeMap::new(),
    );
    assert!(output.status.success(), "{}", stderr(&output));

    let outputs_pb = work.path().join("prefix/outputs.pb").display().to_string();
    let values = python(&["read", &workdir, &outputs_pb]);
    assert_eq!(
        values,
        serde_json::json!({
            "total": 13,
            "report": "all good",
            "out_dir": ["a.txt", "sub/b.txt"],
            "names": ["ann", "bob"],
            "scores": {"ann": 0.25, "bob": 4.0},
            "ratio": 0.5,
            "done": true,
            "when": "2024-01-02T03:04:05.250000+00:00",
            "took": 5400.5,
            "maybe": null,
            "label": "tagged",
            "pick": "seven",
            "frame": {"x": [1, 2, 3], "name": ["a", "b", "c"]},
            "frame_columns": ["x", "name"],
        })
    );
}
