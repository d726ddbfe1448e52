//! Log lines captured from our subscriber: JSON that parses with flytekit's keys (checked
//! against real flytekit's output), text format, level filtering, and the Python
//! worker's logging configured by `worker_env`.

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};

use flyte_telemetry::{LogFormat, LogSettings, StatsdSettings, logging, worker_env};
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

/// A writer collecting everything into a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("lock").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `f` with our subscriber installed for this thread; returns the lines written.
fn capture(settings: LogSettings, f: impl FnOnce()) -> Vec<String> {
    let out = Capture::default();
    let subscriber = logging::subscriber(&settings, out.clone());
    tracing::subscriber::with_default(subscriber, f);
    out.lines()
}

fn json(python_level: i64) -> LogSettings {
    LogSettings {
        python_level,
        format: LogFormat::Json,
    }
}

/// The keys of a JSON object line, in the order the line writes them.
fn keys(line: &str) -> Vec<String> {
    let parsed = parse(line);
    let mut keys: Vec<(usize, String)> = parsed
        .as_object()
        .expect("an object")
        .keys()
        .map(|k| {
            let at = line
                .find(&format!("{}:", Value::from(k.as_str())))
                .expect("key in line");
            (at, k.clone())
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
}

#[test]
fn json_lines_carry_flytekits_keys_and_extra_fields() {
    let lines = capture(json(20), || {
        tracing::info!(target: "flyte_runtime::pipeline", uri = "s3://b/k", attempt = 2, "downloading \"inputs\" ünï");
        tracing::warn!(target: "flyte_runtime::pipeline", name = "clash", "careful");
    });
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first = parse(&lines[0]);
    assert_eq!(first["name"], "flyte_runtime::pipeline");
    assert_eq!(first["levelname"], "INFO");
    assert_eq!(first["message"], "downloading \"inputs\" ünï");
    assert_eq!(first["uri"], "s3://b/k");
    assert_eq!(first["attempt"], 2);
    let asctime = first["asctime"].as_str().expect("asctime");
    assert_eq!(asctime.len(), "2024-01-01 00:00:00,000".len(), "{asctime}");
    assert_eq!(&asctime[19..20], ",");
    assert!(
        lines[0].starts_with("{\"asctime\": \""),
        "python's separators: {}",
        lines[0]
    );
    let second = parse(&lines[1]);
    assert_eq!(second["levelname"], "WARNING");
    assert_eq!(second["name"], "flyte_runtime::pipeline");
    assert_eq!(second["extra_name"], "clash");
}

#[test]
fn levels_filter_our_targets_by_the_python_level_and_others_at_warning() {
    let emit = || {
        tracing::debug!(target: "flyte_storage::s3", "debug");
        tracing::info!(target: "pyflyte_execute", "info");
        tracing::warn!(target: "flyte_runtime", "warn");
        tracing::error!(target: "flyte_runtime", "error");
        tracing::info!(target: "hyper::client", "library info");
        tracing::warn!(target: "hyper::client", "library warn");
    };
    let messages = |level| -> Vec<String> {
        capture(json(level), emit)
            .iter()
            .map(|l| parse(l)["message"].as_str().expect("message").to_owned())
            .collect()
    };
    assert_eq!(
        messages(10),
        ["debug", "info", "warn", "error", "library warn"]
    );
    assert_eq!(messages(20), ["info", "warn", "error", "library warn"]);
    assert_eq!(messages(30), ["warn", "error", "library warn"]);
    assert_eq!(
        messages(0),
        ["warn", "error", "library warn"],
        "NOTSET defers to WARNING"
    );
    assert_eq!(messages(40), ["error", "library warn"]);
    assert_eq!(messages(50), ["library warn"]);
}

#[test]
fn text_format_is_flytekits_bracketed_name_and_message() {
    let lines = capture(
        LogSettings {
            python_level: 20,
            format: LogFormat::Text,
        },
        || tracing::info!(target: "flyte_runtime::pipeline", uri = "s3://b/k", n = 3, "hello"),
    );
    assert_eq!(lines, ["[flyte_runtime::pipeline] hello uri=s3://b/k n=3"]);
}

/// Runs flytekit in the venv with `env`, logging one WARNING through its logger; returns
/// its stderr lines and what it reports about its configuration on stdout.
fn flytekit_logs(env: &[(&'static str, String)]) -> (Vec<String>, Value) {
    let script = r#"
import json, logging
from flytekit.loggers import logger
from flytekit.configuration import StatsConfig
logger.warning("hello from flytekit")
s = StatsConfig.auto()
print(json.dumps({
    "level": logger.getEffectiveLevel(),
    "json": type(logger.handlers[0].formatter).__name__ == "JsonFormatter",
    "statsd": [s.host, s.port, s.disabled, s.disabled_tags],
}))
"#;
    let output = Command::new(flyte_test_support::python())
        .args(["-c", script])
        .env_clear()
        .env("HOME", std::env::temp_dir())
        .env("FLYTE_INTERNAL_EXECUTION_ID", "x")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    let report = serde_json::from_slice(&output.stdout).expect("json report");
    (stderr.lines().map(str::to_owned).collect(), report)
}

#[test]
fn our_json_lines_have_the_keys_flytekit_writes_for_the_same_level() {
    let settings = json(30);
    let (theirs, _) = flytekit_logs(&worker_env(&settings, &StatsdSettings::default()));
    let ours = capture(
        settings,
        || tracing::warn!(target: "flyte_runtime", "hello from us"),
    );
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(keys(&ours[0]), keys(&theirs[0]));
    assert_eq!(keys(&ours[0]), ["asctime", "name", "levelname", "message"]);
    assert_eq!(parse(&ours[0])["levelname"], parse(&theirs[0])["levelname"]);
    let (our_time, their_time) = (&parse(&ours[0])["asctime"], &parse(&theirs[0])["asctime"]);
    assert_eq!(
        our_time.as_str().map(str::len),
        their_time.as_str().map(str::len),
        "{our_time} vs {their_time}"
    );
}

#[test]
fn worker_env_makes_the_workers_flytekit_log_and_count_like_us() {
    let statsd = StatsdSettings {
        host: "statsd.example".into(),
        port: 9125,
        disabled: true,
        disable_tags: true,
    };
    for (settings, want_level, want_json) in [
        (json(20), 20, true),
        (
            LogSettings {
                python_level: 40,
                format: LogFormat::Text,
            },
            40,
            false,
        ),
    ] {
        let (lines, report) = flytekit_logs(&worker_env(&settings, &statsd));
        assert_eq!(report["level"], want_level);
        assert_eq!(report["json"], want_json);
        assert_eq!(
            report["statsd"],
            serde_json::json!(["statsd.example", 9125, true, true])
        );
        let line = lines.first().cloned().unwrap_or_default();
        if want_json {
            assert_eq!(parse(&line)["message"], "hello from flytekit");
        } else {
            assert!(lines.is_empty(), "level 40 hides a WARNING: {lines:?}");
        }
    }
}
