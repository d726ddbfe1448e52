//! What the worker sends survives text that is not valid UTF-8 (issue 20, item 7): a
//! lone surrogate in an exception message (`raise ValueError("\udc80")`) reaches the
//! supervisor, which reads strict JSON as `control.rs` does, escaped as Python prints it,
//! instead of making the event unreadable and the user's error lost.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What `worker.py`'s own `Channel` writes (its hello, then the line `Channel.send` writes) for a `fatal` event describing
/// `ValueError("bad \udc80 byte")`, read from a socket as the supervisor reads it.
fn fatal_event_line() -> Vec<u8> {
    let script = r#"
import importlib.util, os, socket, sys, tempfile

spec = importlib.util.spec_from_file_location("worker", sys.argv[1])
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)

path = os.path.join(tempfile.mkdtemp(), "control")
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
channel = worker.Channel(path, "test-token")
connection, _ = server.accept()
channel.send("fatal", **worker.describe(ValueError("bad \udc80 byte")))
channel._sock.shutdown(socket.SHUT_WR)
sys.stdout.buffer.write(connection.makefile("rb").read())
"#;
    let mut child = Command::new(flyte_test_support::python())
        .arg("-c")
        .arg(script)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/worker.py"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test Python runs");
    // Bounded: a channel that never ends its line must fail the test, not hang it.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the Python side did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (Vec::new(), String::new());
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut stdout)
        .expect("stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(status.success(), "Channel.send failed:\n{stderr}");
    stdout
}

#[test]
fn a_lone_surrogate_in_an_event_reaches_the_supervisor_escaped() {
    // The channel's first line is its `hello`; every event starts on a fresh line.
    let written = fatal_event_line();
    let line = written
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .nth(1)
        .unwrap_or_else(|| {
            panic!(
                "no event after the hello: {}",
                String::from_utf8_lossy(&written)
            )
        });
    let event: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
        panic!(
            "the supervisor cannot read the event ({e}): {}",
            String::from_utf8_lossy(line)
        )
    });
    assert_eq!(event["event"], "fatal");
    assert_eq!(event["error_type"], "ValueError");
    assert_eq!(event["error_message"], "bad \\udc80 byte");
}
