//! The control protocol between the supervisor and `worker.py`: typed messages, one JSON
//! object per line over a Unix socket the supervisor listens on.
//!
//! ```text
//! supervisor -> worker  start {protocol, run settings}   once, first
//! worker -> supervisor  loaded {ok, output_subdirectory}  the task loaded (or its load error is kept)
//!                       resolver_failed {error}           the resolver itself did not import
//!                       dry_run_passed                    --test: everything loaded, nothing run
//!                       flytekit_missing {interpreter}    the interpreter has no flytekit
//!                       unsupported {component, found}    this Python or flytekit cannot run tasks
//! supervisor -> worker  run {inputs} | exit
//! worker -> supervisor  finished {files, peak_rss_kib}    flytekit's files are in the staging dir
//!                       fatal {error}                     the worker script itself failed
//! ```
//!
//! The names are listed once, in `protocol.json`, which this module's tests and the
//! Python side's (`tests/protocol_table.rs`) check. The worker refuses a `start` whose
//! `protocol` is not its own, so a worker script and a supervisor from different builds
//! fail at once and say so.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::MapTaskSettings;

/// The control protocol version this supervisor speaks; `protocol.json` has the same.
pub(crate) const PROTOCOL_VERSION: u32 = 3;

/// Supervisor to worker.
#[derive(Debug, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub(crate) enum Command {
    /// The run's settings; sent once, first.
    Start(Box<StartSettings>),
    /// Run the loaded task on these inputs (a local inputs.pb).
    Run {
        /// The local copy of `inputs.pb`.
        inputs: PathBuf,
    },
    /// Exit without running anything (the run ended before the task could run).
    Exit,
}

impl Command {
    /// The name this command has on the wire.
    #[cfg(test)]
    fn name(&self) -> &'static str {
        match self {
            Command::Start(_) => "start",
            Command::Run { .. } => "run",
            Command::Exit => "exit",
        }
    }
}

/// The settings flytekit's `setup_execution` and `_dispatch_execute` take.
#[derive(Debug, Serialize)]
pub(crate) struct StartSettings {
    /// [`PROTOCOL_VERSION`], which the worker checks against its own.
    pub(crate) protocol: u32,
    pub(crate) resolver: String,
    pub(crate) resolver_args: Vec<String>,
    /// flytekit's output metadata prefix (decks go there); the outcome itself is staged
    /// locally and written by the pipeline.
    pub(crate) output_prefix: String,
    pub(crate) raw_output_data_prefix: Option<String>,
    pub(crate) checkpoint_path: Option<String>,
    pub(crate) prev_checkpoint: Option<String>,
    pub(crate) dynamic_addl_distro: Option<String>,
    pub(crate) dynamic_dest_dir: Option<String>,
    /// flytekit's `--test`: load the resolver, report, run nothing.
    pub(crate) dry_run: bool,
    /// Where flytekit writes outputs.pb, futures.pb, error.pb and offloaded literals.
    pub(crate) staging_dir: PathBuf,
    pub(crate) map_task: Option<MapTaskSettings>,
    /// The storage bridge's fsspec module, installed before flytekit is imported.
    pub(crate) bridge_module: PathBuf,
    /// The flytekit and Python versions the worker may run a task with.
    pub(crate) supported: crate::compat::Supported,
}

/// Worker to supervisor.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// The task was loaded (`ok`), or loading it raised (`!ok`; flytekit reports that
    /// when it runs the task). `output_subdirectory` is where below the output prefix
    /// flytekit writes this task's outcome: `None` for the prefix itself, the array
    /// index for legacy map tasks.
    Loaded {
        ok: bool,
        output_subdirectory: Option<String>,
    },
    /// The resolver named on the command line could not be imported.
    ResolverFailed(PythonError),
    /// `--test`: everything loaded, nothing run.
    DryRunPassed,
    /// flytekit's dispatch finished; these files are in the staging directory.
    Finished {
        files: Vec<String>,
        /// The worker's peak resident memory so far, in KiB.
        #[serde(default)]
        peak_rss_kib: Option<u64>,
    },
    /// The interpreter the worker runs in cannot import flytekit.
    FlytekitMissing {
        /// `sys.executable`.
        interpreter: String,
        /// The import error's message.
        error_message: String,
    },
    /// The interpreter, or the flytekit it imports, is one tasks cannot run with.
    Unsupported(Unsupported),
    /// The worker script itself failed.
    Fatal(PythonError),
}

/// What the worker found that it cannot run a task with.
#[derive(Debug, Deserialize)]
pub(crate) struct Unsupported {
    /// What was refused.
    pub(crate) component: UnsupportedComponent,
    /// Its version, e.g. `3.8.18` or `1.9.2` (`None`: flytekit without package metadata).
    pub(crate) found: Option<String>,
    /// Where it is: the interpreter's path, or flytekit's package directory.
    pub(crate) location: String,
    /// What exactly did not fit (a missing function, an import error), when not the
    /// version alone.
    #[serde(default)]
    pub(crate) detail: Option<String>,
}

/// Which part of the worker's environment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UnsupportedComponent {
    /// The interpreter's version is outside [`crate::compat::SUPPORTED_PYTHON`].
    Python,
    /// flytekit's version is outside [`crate::compat::SUPPORTED_FLYTEKIT`], or its
    /// entrypoint functions are not the ones the worker knows how to call.
    Flytekit,
    /// flytekit is installed but importing it failed (a broken install, a missing
    /// dependency).
    FlytekitImport,
}

impl Event {
    /// The name this event has on the wire.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Event::Loaded { .. } => "loaded",
            Event::ResolverFailed(_) => "resolver_failed",
            Event::DryRunPassed => "dry_run_passed",
            Event::Finished { .. } => "finished",
            Event::FlytekitMissing { .. } => "flytekit_missing",
            Event::Unsupported(_) => "unsupported",
            Event::Fatal(_) => "fatal",
        }
    }
}

/// An exception the worker caught, described.
#[derive(Debug, Deserialize)]
pub(crate) struct PythonError {
    /// The formatted traceback.
    pub(crate) trace: String,
    /// `type(exc).__name__`.
    pub(crate) error_type: String,
    /// `str(exc)`.
    pub(crate) error_message: String,
}

impl PythonError {
    /// flytekit's "Trace: … Message: …" layout for the exception.
    pub(crate) fn to_message(&self) -> String {
        flyte_errors::format_trace_message(&self.trace, &self.error_type, &self.error_message)
    }
}

/// What the worker sent that was not an event this supervisor knows.
#[derive(Debug, thiserror::Error)]
#[error("the worker sent a message the supervisor does not understand ({source}): {line}")]
pub(crate) struct UnknownEvent {
    line: String,
    #[source]
    source: serde_json::Error,
}

/// The supervisor's end of one worker's control connection.
pub(crate) struct Channel {
    events: Lines<BufReader<OwnedReadHalf>>,
    commands: OwnedWriteHalf,
}

impl Channel {
    pub(crate) fn new(stream: UnixStream) -> Self {
        let (read, write) = stream.into_split();
        Channel {
            events: BufReader::new(read).lines(),
            commands: write,
        }
    }

    /// Sends `command`; an error means the worker is gone.
    pub(crate) async fn send(&mut self, command: &Command) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(command).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.commands.write_all(&line).await
    }

    /// The next line the worker sent; `None` when it closed the connection.
    pub(crate) async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        self.events.next_line().await
    }

    /// Closes the supervisor's side, which the worker reads as "nothing more to do".
    pub(crate) async fn close(&mut self) {
        let _ = self.commands.shutdown().await;
    }
}

/// Parses one line the worker sent.
pub(crate) fn parse_event(line: &str) -> Result<Event, UnknownEvent> {
    serde_json::from_str(line).map_err(|source| UnknownEvent {
        line: line.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use super::*;

    fn table() -> Value {
        serde_json::from_str(include_str!("../protocol.json")).expect("protocol.json parses")
    }

    fn names(table: &Value, list: &str) -> BTreeSet<String> {
        table["control"][list]
            .as_array()
            .expect("a list of names")
            .iter()
            .map(|name| name.as_str().expect("a name").to_owned())
            .collect()
    }

    fn start() -> StartSettings {
        StartSettings {
            protocol: PROTOCOL_VERSION,
            resolver: "r".into(),
            resolver_args: vec![],
            output_prefix: "s3://b/o".into(),
            raw_output_data_prefix: None,
            checkpoint_path: None,
            prev_checkpoint: None,
            dynamic_addl_distro: None,
            dynamic_dest_dir: None,
            dry_run: false,
            staging_dir: "/s".into(),
            map_task: None,
            bridge_module: "/b.py".into(),
            supported: crate::compat::SUPPORTED,
        }
    }

    #[test]
    fn the_version_is_the_tables() {
        assert_eq!(table()["control"]["version"], json!(PROTOCOL_VERSION));
    }

    #[test]
    fn every_command_goes_out_under_a_name_the_table_lists_and_none_is_missing() {
        let commands = [
            Command::Start(Box::new(start())),
            Command::Run {
                inputs: "/i.pb".into(),
            },
            Command::Exit,
        ];
        let mut sent = BTreeSet::new();
        for command in &commands {
            let wire = serde_json::to_value(command).expect("serializes");
            assert_eq!(wire["command"], json!(command.name()), "{wire}");
            sent.insert(command.name().to_owned());
        }
        assert_eq!(sent, names(&table(), "commands"));
        let start = serde_json::to_value(Command::Start(Box::new(start()))).expect("serializes");
        assert_eq!(start["protocol"], json!(PROTOCOL_VERSION));
        assert_eq!(start["dry_run"], json!(false));
        assert_eq!(start["supported"]["flytekit"]["min"], json!([1, 10, 0]));
        assert_eq!(start["supported"]["python"]["below"], json!([3, 13]));
    }

    #[test]
    fn every_event_the_table_lists_parses_under_its_name() {
        let error = r#""trace": "t", "error_type": "E", "error_message": "m""#;
        let samples = [
            r#"{"event": "loaded", "ok": true, "output_subdirectory": "3"}"#.to_owned(),
            format!(r#"{{"event": "resolver_failed", {error}}}"#),
            r#"{"event": "dry_run_passed"}"#.to_owned(),
            r#"{"event": "finished", "files": ["outputs.pb"], "peak_rss_kib": 1}"#.to_owned(),
            r#"{"event": "flytekit_missing", "interpreter": "/p", "error_message": "m"}"#
                .to_owned(),
            r#"{"event": "unsupported", "component": "flytekit", "found": "1.9.2", "location": "/f", "detail": null}"#
                .to_owned(),
            format!(r#"{{"event": "fatal", {error}}}"#),
        ];
        let mut parsed = BTreeSet::new();
        for sample in &samples {
            let event = parse_event(sample).expect(sample);
            let wire: Value = serde_json::from_str(sample).expect("JSON");
            assert_eq!(wire["event"], json!(event.name()));
            parsed.insert(event.name().to_owned());
        }
        assert_eq!(parsed, names(&table(), "events"));
    }

    #[test]
    fn an_unknown_event_is_an_error_quoting_the_line() {
        let error = parse_event(r#"{"event": "teleported"}"#).expect_err("unknown");
        assert!(error.to_string().contains("teleported"), "{error}");
    }
}
