//! The container's termination message: a short summary of why the run failed, written
//! to the file Kubernetes reads when the container ends (`terminationMessagePath`,
//! `/dev/termination-log` by default) and shows as the pod's failure message. The Flyte
//! console shows it when there is no error document to read, e.g. when the store that
//! should have held `error.pb` was down.

use std::io::Write;
use std::path::Path;

use flyte_errors::{ContainerFailure, Origin, Recoverability};

/// The most Kubernetes keeps of a termination message (4 KiB).
///
/// ```
/// let long = "x".repeat(10_000);
/// let capped = flyte_runtime::termination::cap_termination_message(&long);
/// assert!(capped.len() <= flyte_runtime::termination::MAX_TERMINATION_MESSAGE_BYTES);
/// ```
pub const MAX_TERMINATION_MESSAGE_BYTES: usize = 4096;

/// What marks a summary that was cut to fit [`MAX_TERMINATION_MESSAGE_BYTES`].
const CUT_MARK: &str = "\n… (cut to Kubernetes' 4 KiB termination message limit)";

/// The summary of `failure` for a termination message: its code, origin and
/// recoverability, then the last part of flytekit's message layout (`Message:`, which
/// names the exception; the whole message when it has no such part). `not_written`
/// says why the error document itself could not be written, and goes first, so it
/// survives the cap.
///
/// ```
/// use flyte_errors::{ContainerFailure, format_trace_message};
/// use flyte_runtime::termination::failure_summary;
///
/// let message = format_trace_message("Traceback …\n", "ValueError", "b must not be 0");
/// let failure = ContainerFailure::user("USER:ValueError", message);
/// assert_eq!(
///     failure_summary(&failure, None),
///     "USER:ValueError (USER, non-recoverable): ValueError: b must not be 0"
/// );
/// ```
pub fn failure_summary(failure: &ContainerFailure, not_written: Option<&str>) -> String {
    let origin = match failure.origin {
        Origin::User => "USER",
        Origin::System => "SYSTEM",
    };
    let recoverability = match failure.recoverability {
        Recoverability::Recoverable => "recoverable",
        Recoverability::NonRecoverable => "non-recoverable",
    };
    let mut summary = String::new();
    if let Some(why) = not_written {
        summary.push_str(why);
        summary.push('\n');
    }
    summary.push_str(&format!(
        "{} ({origin}, {recoverability}): {}",
        failure.code,
        message_summary(&failure.message)
    ));
    summary
}

/// The part of a failure message that says what went wrong: what follows flytekit's
/// `Message:` heading, unindented, or the whole message.
fn message_summary(message: &str) -> String {
    match message.rsplit_once("\nMessage:\n") {
        Some((_, summary)) => summary
            .lines()
            .map(|line| line.strip_prefix("    ").unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned(),
        None => message.trim().to_owned(),
    }
}

/// `summary` cut to at most [`MAX_TERMINATION_MESSAGE_BYTES`] bytes, on a character
/// boundary, with a note saying it was cut.
///
/// ```
/// use flyte_runtime::termination::cap_termination_message;
/// assert_eq!(cap_termination_message("short"), "short");
/// let cut = cap_termination_message(&"é".repeat(5000));
/// assert!(cut.ends_with("(cut to Kubernetes' 4 KiB termination message limit)"));
/// ```
pub fn cap_termination_message(summary: &str) -> String {
    if summary.len() <= MAX_TERMINATION_MESSAGE_BYTES {
        return summary.to_owned();
    }
    let mut end = MAX_TERMINATION_MESSAGE_BYTES - CUT_MARK.len();
    while !summary.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARK}", &summary[..end])
}

/// Writes `summary`, capped, to the termination message file at `path`. A file that
/// cannot be written is never an error of the run (outside Kubernetes there is usually
/// none): it is logged once, at info level, and the run goes on.
///
/// ```
/// use flyte_runtime::termination::write_termination_message;
///
/// let dir = tempfile::tempdir().expect("tempdir");
/// let path = dir.path().join("termination-log");
/// write_termination_message(&path, "SYSTEM (SYSTEM, recoverable): the store was down");
/// assert_eq!(std::fs::read_to_string(&path).expect("written"), "SYSTEM (SYSTEM, recoverable): the store was down");
/// // Outside Kubernetes there may be no such file: never an error.
/// write_termination_message(&dir.path().join("no/such/dir/log"), "ignored");
/// ```
pub fn write_termination_message(path: &Path, summary: &str) {
    let capped = cap_termination_message(summary);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .and_then(|mut file| file.write_all(capped.as_bytes()));
    match written {
        Ok(()) => tracing::debug!(path = %path.display(), "termination message written"),
        Err(error) => tracing::info!(
            "the termination message could not be written to {}: {error}",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_the_code_and_the_exception_of_flytekits_layout() {
        let message = flyte_errors::format_trace_message(
            "Traceback (most recent call last):\n  line 1\n",
            "ValueError",
            "b must not be 0",
        );
        let failure = ContainerFailure::user("USER:ValueError", message);
        assert_eq!(
            failure_summary(&failure, None),
            "USER:ValueError (USER, non-recoverable): ValueError: b must not be 0"
        );
    }

    #[test]
    fn why_the_error_document_was_not_written_comes_first() {
        let failure = ContainerFailure::system("stopped");
        let summary = failure_summary(&failure, Some("error.pb could not be written: down"));
        assert_eq!(
            summary,
            "error.pb could not be written: down\nSYSTEM (SYSTEM, recoverable): stopped"
        );
    }

    #[test]
    fn a_long_summary_is_cut_to_4_kib_on_a_character_boundary() {
        let summary = "é".repeat(5000);
        let capped = cap_termination_message(&summary);
        assert!(
            capped.len() <= MAX_TERMINATION_MESSAGE_BYTES,
            "{}",
            capped.len()
        );
        assert!(capped.len() > MAX_TERMINATION_MESSAGE_BYTES - 8);
        assert!(capped.ends_with(CUT_MARK));
        assert_eq!(cap_termination_message("short"), "short");
    }

    #[test]
    fn an_unwritable_termination_file_is_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_termination_message(&dir.path().join("missing/dir/termination-log"), "x");
        let path = dir.path().join("termination-log");
        write_termination_message(&path, "the cause");
        assert_eq!(
            std::fs::read_to_string(&path).expect("written"),
            "the cause"
        );
    }
}
