//! Compares this crate with flytekit itself: the same strings through flytekit's
//! `get_traceback_str`, the same failures through flytekit's error models, and the error
//! file names of `_build_error_file_name`. Runs the workspace's Python environment once
//! for all cases (see flyte-test-support).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use flyte_errors::{
    ContainerFailure, Origin, Recoverability, error_file_name, format_trace_message,
};
use flyte_proto::Message as _;
use flyte_proto::core::ErrorDocument;
use serde_json::{Value, json};

/// Reads the cases as JSON on stdin and answers with what flytekit makes of them.
const FLYTEKIT_SCRIPT: &str = r#"
import json, os, sys, traceback
import flytekit.bin.entrypoint as entrypoint
from flytekit.exceptions.base import FlyteException
from flytekit.models.core import errors as error_models

request = json.load(sys.stdin)
answer = {"traces": [], "documents": []}

for case in request["traces"]:
    # get_traceback_str formats the exception's traceback with traceback.format_exception;
    # substitute the case's trace text for it, and give the exception the case's type
    # name and message.
    traceback.format_exception = lambda *args, _trace=case["trace"], **kwargs: [_trace]
    error_type = type(case["type"], (Exception,), {"__str__": lambda self, _m=case["message"]: _m})
    answer["traces"].append(entrypoint.get_traceback_str(error_type()))

for case in request["documents"]:
    timestamp = entrypoint.get_container_error_timestamp(FlyteException("x", timestamp=case["time"]))
    document = error_models.ErrorDocument(error_models.ContainerError(
        code=case["code"], message=case["message"], kind=case["kind"], origin=case["origin"],
        timestamp=timestamp, worker=case["worker"],
    ))
    answer["documents"].append(document.to_flyte_idl().SerializeToString().hex())

for name in ("FLYTE_INTERNAL_DIST_ERROR_STRATEGY", "_F_DES"):
    os.environ.pop(name, None)
answer["error_file_name"] = entrypoint._build_error_file_name()
os.environ["_F_DES"] = "Yes"
answer["distributed_error_file_name"] = entrypoint._build_error_file_name()

json.dump(answer, sys.stdout)
"#;

fn run_flytekit(request: &Value) -> Value {
    let mut child = Command::new(flyte_test_support::python())
        .args(["-c", FLYTEKIT_SCRIPT])
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONUTF8", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the flytekit Python");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(request.to_string().as_bytes())
        .expect("send cases to Python");
    let output = child.wait_with_output().expect("run the flytekit Python");
    assert!(
        output.status.success(),
        "flytekit script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("flytekit script prints JSON")
}

/// (trace, error type, error message) cases, hand-written and one per character that
/// Python treats as whitespace or a line break, plus look-alikes it does not.
fn trace_cases() -> Vec<(String, String, String)> {
    let mut cases: Vec<(String, String, String)> = [
        (
            "Traceback (most recent call last):\n  File \"/app/wf.py\", line 9, in t\n    raise ValueError(\"x\")\nValueError: x\n",
            "ValueError",
            "x",
        ),
        ("no trailing newline", "E", "m"),
        ("", "E", ""),
        ("\n", "E", "\n"),
        ("a\n\nb\n\n\n", "KeyError", "'k'"),
        ("a\n   \n\t\nb", "E", "line 1\nline 2\n"),
        ("crlf\r\nline\rcr\r\n\r\n", "E", "m\r\nn"),
        ("unicode é ✓ 🚀\n  indented\n", "UnicodeError", "é\n🚀"),
        ("trailing spaces   \n", "", "message with only ':' before it"),
        ("x\n", "Name With Spaces", "  leading and trailing  "),
    ]
    .into_iter()
    .map(|(t, e, m)| (t.to_owned(), e.to_owned(), m.to_owned()))
    .collect();
    let special = [
        '\t', '\n', '\x0b', '\x0c', '\r', '\x1c', '\x1d', '\x1e', '\x1f', ' ', '\u{85}', '\u{a0}',
        '\u{1680}', '\u{2000}', '\u{2007}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}',
        '\u{205f}', '\u{3000}', '\u{200b}', '\u{180e}', '\u{feff}', '\x00', '\x1b',
    ];
    for c in special {
        cases.push((
            format!("a{c}b\n{c}\n {c} \n{c}x\n{c}{c}"),
            "E".to_owned(),
            format!("m{c}n{c}"),
        ));
    }
    cases
}

/// (failure, its time as Python's float seconds) cases, with times a float holds exactly.
fn document_cases() -> Vec<(ContainerFailure, f64)> {
    let at = |secs: u64, nanos: u32| UNIX_EPOCH + Duration::new(secs, nanos);
    vec![
        (
            ContainerFailure::user(
                "USER:ValueError",
                "Trace:\n\n    x\n\nMessage:\n\n    ValueError: x",
            )
            .with_timestamp(at(1_700_000_000, 500_000_000)),
            1_700_000_000.5,
        ),
        (
            ContainerFailure::system("boom ✓").with_timestamp(at(1_700_000_123, 250_000_000)),
            1_700_000_123.25,
        ),
        (
            ContainerFailure::non_recoverable_system("").with_timestamp(at(1_700_000_000, 0)),
            1_700_000_000.0,
        ),
        (
            ContainerFailure::user("USER:Recoverable", "again")
                .with_recoverability(Recoverability::Recoverable)
                .with_worker("worker-1")
                .with_timestamp(UNIX_EPOCH),
            0.0,
        ),
        (
            ContainerFailure {
                code: "UNKNOWN_OUTPUT".to_owned(),
                message: "m".to_owned(),
                recoverability: Recoverability::Recoverable,
                origin: Origin::System,
                timestamp: UNIX_EPOCH - Duration::from_millis(1_500),
                worker: String::new(),
            },
            -1.5,
        ),
    ]
}

fn kind_number(recoverability: Recoverability) -> i32 {
    match recoverability {
        Recoverability::NonRecoverable => 0,
        Recoverability::Recoverable => 1,
    }
}

fn origin_number(origin: Origin) -> i32 {
    match origin {
        Origin::User => 1,
        Origin::System => 2,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from Python"))
        .collect()
}

#[test]
fn rust_matches_flytekit_for_messages_documents_and_file_names() {
    let traces = trace_cases();
    let documents = document_cases();
    let request = json!({
        "traces": traces
            .iter()
            .map(|(trace, error_type, message)| json!({"trace": trace, "type": error_type, "message": message}))
            .collect::<Vec<_>>(),
        "documents": documents
            .iter()
            .map(|(failure, time)| json!({
                "code": failure.code,
                "message": failure.message,
                "kind": kind_number(failure.recoverability),
                "origin": origin_number(failure.origin),
                "worker": failure.worker,
                "time": time,
            }))
            .collect::<Vec<_>>(),
    });
    let answer = run_flytekit(&request);

    // Messages: flytekit's get_traceback_str, character for character.
    let python_traces = answer["traces"].as_array().expect("traces");
    assert_eq!(python_traces.len(), traces.len());
    for ((trace, error_type, message), python) in traces.iter().zip(python_traces) {
        assert_eq!(
            format_trace_message(trace, error_type, message),
            python.as_str().expect("string"),
            "trace {trace:?}, type {error_type:?}, message {message:?}"
        );
    }

    // Documents: byte for byte, and read back into the same failure.
    let python_documents = answer["documents"].as_array().expect("documents");
    assert_eq!(python_documents.len(), documents.len());
    for ((failure, time), python) in documents.iter().zip(python_documents) {
        let python_hex = python.as_str().expect("hex string");
        assert_eq!(
            hex(&failure.to_error_document().encode_to_vec()),
            python_hex,
            "document for {failure:?} at {time}"
        );
        let decoded =
            ErrorDocument::decode(unhex(python_hex).as_slice()).expect("flytekit's bytes decode");
        assert_eq!(&ContainerFailure::from_error_document(&decoded), failure);
    }

    // File names: the same name, and the same shape under the distributed strategy.
    assert_eq!(answer["error_file_name"], error_file_name(false));
    let python_distributed = answer["distributed_error_file_name"]
        .as_str()
        .expect("name");
    let ours = error_file_name(true);
    for name in [ours.as_str(), python_distributed] {
        let random = name
            .strip_prefix("error-")
            .and_then(|rest| rest.strip_suffix(".pb"))
            .unwrap_or_else(|| panic!("{name} is not error-<hex>.pb"));
        assert_eq!(random.len(), 32, "{name}");
        assert!(
            random.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{name}"
        );
    }
}
