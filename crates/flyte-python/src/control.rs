//! The control protocol between the supervisor and `worker.py`: typed messages, one JSON
//! object per line over a Unix socket the supervisor listens on.
//!
//! ```text
//! worker -> supervisor  hello {protocol, token}           once, first on the connection
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
//!
//! The socket's path is in the worker's environment, so any process of the container's
//! user can connect to it, and the task runs in the worker's own process, where it can
//! write to the connection's descriptor by accident. So (see docs/bridge.md, "Threat
//! model"):
//! - a connection is the worker's only once its first line is a `hello` carrying the
//!   run's token, which the supervisor gave the worker in its environment and the worker
//!   removed from it before importing anything; other connections are logged and
//!   dropped, and keep nobody waiting;
//! - every line is read with a bound ([`MAX_EVENT_BYTES`], [`MAX_HELLO_BYTES`]): past
//!   it, the rest of the line is thrown away as it arrives;
//! - on the worker's connection, a line that is not an event (overlong, not UTF-8, not
//!   JSON, an unknown or repeated event) is logged and skipped, never taken as the
//!   task's result; the worker starts every event on a fresh line (`\n{...}\n`), so
//!   that junk written without a newline before it ends there and cannot swallow it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tracing::warn;

use crate::MapTaskSettings;
use crate::lines::{BoundedLines, Line};

/// The control protocol version this supervisor speaks; `protocol.json` has the same.
/// Version 3 added `hello` and its token, `unsupported`, and `start`'s supported range.
pub(crate) const PROTOCOL_VERSION: u32 = 3;

/// The longest event line kept. The largest events are `fatal` and `resolver_failed`,
/// whose trace and message the worker cuts to [`MAX_ERROR_TEXT_CHARS`] characters each
/// (head and tail kept); JSON's `\uXXXX` escapes make a character at most 12 bytes, so
/// both fit with room to spare. An error document carries at most
/// [`flyte_errors::MAX_MESSAGE_BYTES`] of them anyway.
pub(crate) const MAX_EVENT_BYTES: usize = 32 * 1024 * 1024;

/// How many characters of an exception's trace, and of its message, the worker sends
/// (`worker.py` has the same number): twice what an error document keeps.
pub(crate) const MAX_ERROR_TEXT_CHARS: usize = 1024 * 1024;

// A `fatal` event fits its line however its two texts escape (12 bytes a character at
// most), with room for the rest of the event.
const _: () = assert!(2 * 12 * MAX_ERROR_TEXT_CHARS + 64 * 1024 <= MAX_EVENT_BYTES);

/// The longest `hello` line read from a connection that is not yet known to be the
/// worker's: a protocol number and a token.
pub(crate) const MAX_HELLO_BYTES: usize = 4 * 1024;

/// How long a new connection has to say `hello` before it is dropped; the worker says
/// it as soon as it connects.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a line that breaks the protocol a log line quotes.
const QUOTED_BYTES: usize = 200;

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
    /// The first line on a connection: who is speaking, and which protocol.
    Hello {
        /// The worker's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The run's token, as the supervisor gave it to the worker.
        token: String,
    },
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
            Event::Hello { .. } => "hello",
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
#[error("the worker sent a message the supervisor does not understand: {line}")]
pub(crate) struct UnknownEvent {
    line: String,
    #[source]
    source: serde_json::Error,
}

/// Why a connection was not taken as the worker's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// It sent nothing in time.
    #[error("it said nothing within {0:?}")]
    Silent(Duration),
    /// It closed before saying `hello`.
    #[error("it closed without a word")]
    Closed,
    /// Its first line was not a `hello` with this run's token.
    #[error("its first line was not a hello with this run's token: {0}")]
    NoToken(String),
    /// Reading from it failed.
    #[error("reading from it failed")]
    Io(#[from] std::io::Error),
}

/// The supervisor's end of one worker's control connection.
pub(crate) struct Channel {
    events: BoundedLines<BufReader<OwnedReadHalf>>,
    commands: OwnedWriteHalf,
}

impl Channel {
    /// Takes `stream` as the worker's channel once its first line, within `wait`, is a
    /// `hello` with `token`; the worker's protocol version with it.
    pub(crate) async fn accept(
        stream: UnixStream,
        token: &str,
        wait: Duration,
    ) -> Result<(Self, u32), Refused> {
        let (read, write) = stream.into_split();
        let mut hello = BoundedLines::new(BufReader::new(read), MAX_HELLO_BYTES).cut_at_limit();
        let line = tokio::time::timeout(wait, hello.next_line())
            .await
            .map_err(|_| Refused::Silent(wait))??
            .ok_or(Refused::Closed)?;
        let protocol = match &line {
            Line::Text(text) => match parse_event(text) {
                Ok(Event::Hello {
                    protocol,
                    token: given,
                }) if same_token(&given, token) => protocol,
                _ => return Err(Refused::NoToken(quote(text))),
            },
            other => return Err(Refused::NoToken(describe_unreadable(other))),
        };
        let mut events = hello;
        events.set_limit(MAX_EVENT_BYTES);
        events.read_through_overlong_lines();
        Ok((
            Channel {
                events,
                commands: write,
            },
            protocol,
        ))
    }

    /// Sends `command`; an error means the worker is gone.
    pub(crate) async fn send(&mut self, command: &Command) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(command).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.commands.write_all(&line).await
    }

    /// The next event the worker sent; `None` when it closed the connection. Lines
    /// that are not events are logged and skipped (see the module's documentation):
    /// the worker's own events are all the supervisor acts on.
    pub(crate) async fn next_event(&mut self) -> std::io::Result<Option<Event>> {
        loop {
            let Some(line) = self.events.next_line().await? else {
                return Ok(None);
            };
            let text = match line {
                // Every event starts on a fresh line: the empty line before it.
                Line::Text(text) if text.is_empty() => continue,
                Line::Text(text) => text,
                other => {
                    warn!(
                        "ignoring a line on the worker's control channel that is not an event ({}); \
                         something in the task's process wrote to the supervisor's socket",
                        describe_unreadable(&other)
                    );
                    continue;
                }
            };
            match parse_event(&text) {
                Ok(Event::Hello { .. }) => warn!(
                    "ignoring a second hello on the worker's control channel; something in the \
                     task's process wrote to the supervisor's socket"
                ),
                Ok(event) => return Ok(Some(event)),
                Err(error) => warn!(
                    "ignoring a line on the worker's control channel that is not an event; \
                     something in the task's process wrote to the supervisor's socket: {error}"
                ),
            }
        }
    }

    /// Closes the supervisor's side, which the worker reads as "nothing more to do".
    pub(crate) async fn close(&mut self) {
        let _ = self.commands.shutdown().await;
    }
}

/// Whether `given` is `expected`, compared without stopping at the first difference
/// (the time a comparison takes says nothing about where the token differs).
pub(crate) fn same_token(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

/// A line that could not be read as text, in words.
fn describe_unreadable(line: &Line) -> String {
    match line {
        Line::Text(text) => quote(text),
        Line::TooLong { bytes } => format!("a line of {bytes} bytes, over the limit"),
        Line::NotUtf8 { bytes } => format!("a line of {bytes} bytes that is not UTF-8"),
    }
}

/// The head of `text`, for a log line.
fn quote(text: &str) -> String {
    if text.len() <= QUOTED_BYTES {
        return format!("{text:?}");
    }
    let mut end = QUOTED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &text[..end], text.len())
}

/// Parses one line the worker sent.
pub(crate) fn parse_event(line: &str) -> Result<Event, UnknownEvent> {
    serde_json::from_str(line).map_err(|source| UnknownEvent {
        line: quote(line),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[test]
    fn an_unknown_event_prints_the_parse_error_once_in_a_chain() {
        let error = parse_event("junk").expect_err("not JSON");
        let cause = std::error::Error::source(&error).expect("serde's error");
        let chain = flyte_errors::Chain(&error).to_string();
        assert_eq!(chain.matches(&cause.to_string()).count(), 1, "{chain}");
        assert!(chain.contains("junk"), "{chain}");
    }

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
    fn the_version_and_the_error_text_limit_are_the_tables() {
        assert_eq!(table()["control"]["version"], json!(PROTOCOL_VERSION));
        assert_eq!(
            table()["control"]["max_error_text_chars"],
            json!(MAX_ERROR_TEXT_CHARS)
        );
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
            r#"{"event": "hello", "protocol": 3, "token": "t"}"#.to_owned(),
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

    /// The worker's end of a control connection, and the supervisor's stream.
    fn connection() -> (UnixStream, UnixStream) {
        UnixStream::pair().expect("socket pair")
    }

    #[tokio::test]
    async fn a_connection_whose_hello_has_another_token_is_refused() {
        let (mut worker, supervisor) = connection();
        worker
            .write_all(b"{\"event\": \"hello\", \"protocol\": 3, \"token\": \"guess\"}\n")
            .await
            .expect("written");
        let refused = Channel::accept(supervisor, "the-token", HELLO_TIMEOUT)
            .await
            .err();
        assert!(matches!(refused, Some(Refused::NoToken(_))), "{refused:?}");
    }

    #[tokio::test]
    async fn a_connection_that_floods_instead_of_saying_hello_is_refused_without_reading_it_all() {
        let (mut worker, supervisor) = connection();
        let flood = tokio::spawn(async move {
            // Far more than the hello limit, and no newline; it stops when refused.
            let chunk = vec![b'x'; 64 * 1024];
            while worker.write_all(&chunk).await.is_ok() {}
        });
        let refused = Channel::accept(supervisor, "the-token", HELLO_TIMEOUT)
            .await
            .err();
        assert!(
            matches!(&refused, Some(Refused::NoToken(why)) if why.contains("over the limit")),
            "{refused:?}"
        );
        flood
            .await
            .expect("the flood ended once the connection was dropped");
    }

    #[tokio::test]
    async fn a_connection_that_says_nothing_is_refused_after_the_hello_timeout() {
        let (_worker, supervisor) = connection();
        let refused = Channel::accept(supervisor, "the-token", Duration::from_millis(50))
            .await
            .err();
        assert!(matches!(refused, Some(Refused::Silent(_))), "{refused:?}");
    }

    #[tokio::test]
    async fn junk_and_an_overlong_line_on_the_workers_channel_are_skipped_and_the_result_still_arrives()
     {
        let (mut worker, supervisor) = connection();
        let writer = tokio::spawn(async move {
            worker
                .write_all(b"{\"event\": \"hello\", \"protocol\": 3, \"token\": \"tok\"}\n")
                .await?;
            // What a task writing to the worker's socket by mistake could send: junk,
            // an unknown event, a second hello, and a line far over the limit without
            // a newline, which the worker's own event (starting on a fresh line) ends.
            worker.write_all(b"not json at all\n").await?;
            worker.write_all(b"{\"event\": \"teleported\"}\n").await?;
            worker
                .write_all(b"{\"event\": \"hello\", \"protocol\": 3, \"token\": \"tok\"}\n")
                .await?;
            worker.write_all(b"\xff\xfe\n").await?;
            let chunk = vec![b'y'; 1024 * 1024];
            for _ in 0..(MAX_EVENT_BYTES / chunk.len() + 2) {
                worker.write_all(&chunk).await?;
            }
            worker
                .write_all(b"\n{\"event\": \"finished\", \"files\": [\"outputs.pb\"]}\n")
                .await?;
            std::io::Result::Ok(worker)
        });
        let (mut channel, protocol) = Channel::accept(supervisor, "tok", HELLO_TIMEOUT)
            .await
            .expect("accepted");
        assert_eq!(protocol, 3);
        let event = channel.next_event().await.expect("read");
        assert!(
            matches!(&event, Some(Event::Finished { files, .. }) if files == &["outputs.pb"]),
            "{event:?}"
        );
        drop(writer.await.expect("writer task").expect("all written"));
        assert!(channel.next_event().await.expect("read").is_none());
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abd", "abc"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("", "abc"));
    }

    #[test]
    fn an_unknown_event_is_an_error_quoting_the_line() {
        let error = parse_event(r#"{"event": "teleported"}"#).expect_err("unknown");
        assert!(error.to_string().contains("teleported"), "{error}");
    }
}
