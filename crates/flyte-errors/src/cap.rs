//! Error documents Flyte accepts: a message too long to carry whole keeps the head and
//! tail of its trace and of its summary, with a note of what was cut.
//!
//! Flyte refuses error documents over about 10 MiB, and then the user sees nothing at
//! all; a task that raises with a 50 MiB message (a dataframe printed into an
//! exception, say) would lose its error. The whole message still reaches the task's log
//! (flytekit logs it before writing the document); the document carries at most
//! [`MAX_MESSAGE_BYTES`] of it.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use flyte_proto::wire::{self, FieldValue};

use crate::{ContainerFailure, Origin, Recoverability};

/// The most bytes of message an error document carries: far below what Flyte accepts,
/// and far more than anyone reads.
///
/// ```
/// use flyte_errors::{ContainerFailure, MAX_MESSAGE_BYTES};
///
/// let huge = "x".repeat(3 * MAX_MESSAGE_BYTES);
/// let document = ContainerFailure::user("USER:ValueError", huge).to_error_document();
/// assert!(document.error.expect("always set").message.len() <= MAX_MESSAGE_BYTES);
/// ```
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Where flytekit's layout (see [`format_trace_message`](crate::format_trace_message))
/// turns from the trace to the summary.
const SECTION_MARKER: &[u8] = b"\nMessage:\n\n";

/// `message` as an error document carries it: whole when it fits in
/// [`MAX_MESSAGE_BYTES`], otherwise the head and tail of its trace and of its summary
/// (or of the whole, when it does not have flytekit's layout), each cut marked.
///
/// ```
/// use flyte_errors::{MAX_MESSAGE_BYTES, cap_message, format_trace_message};
///
/// // A dataframe printed into an exception: megabytes of trace.
/// let rows: String = (0..200_000).map(|row| format!("row {row}: 1.0 2.0 3.0\n")).collect();
/// let message = format_trace_message(&rows, "ValueError", "the frame has NaNs");
/// assert!(message.len() > MAX_MESSAGE_BYTES);
///
/// let capped = cap_message(message);
/// assert!(capped.len() <= MAX_MESSAGE_BYTES);
/// // Head and tail of the trace are kept, the cut is marked, the summary is whole.
/// assert!(capped.starts_with("Trace:\n\n    row 0: 1.0 2.0 3.0\n"));
/// assert!(capped.contains("row 199999: 1.0 2.0 3.0\n"));
/// assert!(capped.contains("bytes cut here"));
/// assert!(capped.ends_with("Message:\n\n    ValueError: the frame has NaNs"));
///
/// // A message that fits is returned as it is.
/// assert_eq!(cap_message("short".to_owned()), "short");
/// ```
pub fn cap_message(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut text = InMemory(message.as_bytes());
    capped(&mut text, MAX_MESSAGE_BYTES)
        .unwrap_or_else(|_| message[..MAX_MESSAGE_BYTES / 2].to_owned())
}

/// Why an error document file could not be read.
///
/// ```
/// use flyte_errors::{ErrorFileError, read_error_file};
///
/// let dir = tempfile::tempdir().expect("tempdir");
///
/// // No file: Io, naming the path.
/// let missing = dir.path().join("error.pb");
/// let error = read_error_file(&missing).unwrap_err();
/// assert!(matches!(&error, ErrorFileError::Io { source, .. }
///     if source.kind() == std::io::ErrorKind::NotFound));
/// assert!(error.to_string().contains("error.pb"));
///
/// // Not protobuf: Corrupt.
/// let text = dir.path().join("error.txt");
/// std::fs::write(&text, b"\xff\xff\xff").expect("write");
/// assert!(matches!(read_error_file(&text), Err(ErrorFileError::Corrupt { .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorFileError {
    /// The file could not be read.
    #[error("cannot read the error document {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not an `ErrorDocument`.
    #[error("{} is not a valid flyteidl.core.ErrorDocument: the file is corrupt or is not an error.pb", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the encoding went wrong.
        #[source]
        source: wire::WireError,
    },
}

/// Reads the error document at `path` (e.g. one a Python worker wrote) as
/// [`ContainerFailure::from_error_document`] does, with its message capped as
/// [`cap_message`] caps it, holding no more than that of the file in memory however
/// large it is.
///
/// ```
/// use flyte_errors::{ContainerFailure, MAX_MESSAGE_BYTES, Origin, read_error_file};
/// use flyte_proto::Message;
/// use flyte_proto::core::{ContainerError, ErrorDocument};
///
/// let dir = tempfile::tempdir().expect("tempdir");
/// let path = dir.path().join("error.pb");
///
/// // A worker wrote its failure.
/// let failure = ContainerFailure::user("USER:ValueError", "bad input").with_worker("worker-1");
/// std::fs::write(&path, failure.to_error_document().encode_to_vec()).expect("write");
/// assert_eq!(read_error_file(&path).expect("a valid document"), failure);
///
/// // One written by a tool that does not cap its messages is capped while read.
/// let document = ErrorDocument {
///     error: Some(ContainerError {
///         code: "USER:ValueError".into(),
///         message: "y".repeat(4 * MAX_MESSAGE_BYTES),
///         origin: 1, // USER
///         ..ContainerError::default()
///     }),
/// };
/// std::fs::write(&path, document.encode_to_vec()).expect("write");
/// let read = read_error_file(&path).expect("a valid document");
/// assert_eq!(read.origin, Origin::User);
/// assert!(read.message.len() <= MAX_MESSAGE_BYTES);
/// ```
pub fn read_error_file(path: &Path) -> Result<ContainerFailure, ErrorFileError> {
    let io_error = |source| ErrorFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |source| ErrorFileError::Corrupt {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let mut error_at = None;
    for field in wire::fields(BufReader::new(&mut file)) {
        if let wire::Field {
            number: 1,
            value: FieldValue::Delimited { offset, len },
        } = field.map_err(corrupt)?
        {
            error_at = Some(offset..offset + len);
        }
    }
    let Some(error_at) = error_at else {
        return Ok(ContainerFailure::from_error_document(&Default::default()));
    };

    let mut failure = ContainerFailure {
        timestamp: UNIX_EPOCH,
        ..ContainerFailure::user("", "")
    };
    let mut message_at = None;
    file.seek(SeekFrom::Start(error_at.start))
        .map_err(io_error)?;
    let container_error = BufReader::new(&mut file).take(error_at.end - error_at.start);
    let mut fields = Vec::new();
    for field in wire::fields(container_error) {
        fields.push(field.map_err(corrupt)?);
    }
    let absolute = |offset: u64, len: u64| error_at.start + offset..error_at.start + offset + len;
    for field in fields {
        match (field.number, field.value) {
            (1, FieldValue::Delimited { offset, len }) => {
                failure.code = read_text(&mut file, absolute(offset, len)).map_err(io_error)?;
            }
            (2, FieldValue::Delimited { offset, len }) => message_at = Some(absolute(offset, len)),
            (3, FieldValue::Varint(kind)) => {
                failure.recoverability = if kind == 1 {
                    Recoverability::Recoverable
                } else {
                    Recoverability::NonRecoverable
                };
            }
            (4, FieldValue::Varint(origin)) => {
                // flyteidl's ExecutionError.ErrorKind: UNKNOWN 0, USER 1, SYSTEM 2.
                failure.origin = if origin == 1 {
                    Origin::User
                } else {
                    Origin::System
                };
            }
            (5, FieldValue::Delimited { offset, len }) => {
                // google.protobuf.Timestamp: seconds 1, nanos 2 (varints, two's complement).
                let bytes =
                    read_range(&mut file, absolute(offset, len.min(64))).map_err(io_error)?;
                let (mut seconds, mut nanos) = (0i64, 0i32);
                for field in wire::fields(&bytes[..]) {
                    match field.map_err(corrupt)? {
                        wire::Field {
                            number: 1,
                            value: FieldValue::Varint(v),
                        } => seconds = v as i64,
                        wire::Field {
                            number: 2,
                            value: FieldValue::Varint(v),
                        } => nanos = v as i32,
                        _ => {}
                    }
                }
                failure.timestamp = unix_time(seconds, nanos);
            }
            (6, FieldValue::Delimited { offset, len }) => {
                failure.worker = read_text(&mut file, absolute(offset, len)).map_err(io_error)?;
            }
            _ => {}
        }
    }
    if let Some(range) = message_at {
        let mut text = InFile {
            file: &mut file,
            range,
        };
        failure.message = capped(&mut text, MAX_MESSAGE_BYTES).map_err(io_error)?;
    }
    Ok(failure)
}

/// A time from flyteidl's split Unix time (seconds and same-signed nanos).
fn unix_time(seconds: i64, nanos: i32) -> std::time::SystemTime {
    let whole = Duration::from_secs(seconds.unsigned_abs());
    let part = Duration::from_nanos(u64::from(nanos.unsigned_abs()));
    if seconds < 0 || nanos < 0 {
        UNIX_EPOCH - whole - part
    } else {
        UNIX_EPOCH + whole + part
    }
}

/// A short text field (code, worker), capped like a message in case a worker wrote
/// nonsense into it.
fn read_text(file: &mut File, range: Range<u64>) -> io::Result<String> {
    let mut text = InFile { file, range };
    capped(&mut text, MAX_MESSAGE_BYTES)
}

fn read_range(file: &mut File, range: Range<u64>) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(range.start))?;
    let mut bytes = vec![0u8; (range.end - range.start) as usize];
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Text that can be read by byte range: a message in memory or in a file.
trait Text {
    fn len(&self) -> u64;
    fn read(&mut self, range: Range<u64>) -> io::Result<Vec<u8>>;
    /// Where `needle` first occurs.
    fn find(&mut self, needle: &[u8]) -> io::Result<Option<u64>>;
}

struct InMemory<'a>(&'a [u8]);

impl Text for InMemory<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read(&mut self, range: Range<u64>) -> io::Result<Vec<u8>> {
        Ok(self.0[range.start as usize..range.end as usize].to_vec())
    }

    fn find(&mut self, needle: &[u8]) -> io::Result<Option<u64>> {
        Ok(self
            .0
            .windows(needle.len())
            .position(|window| window == needle)
            .map(|at| at as u64))
    }
}

/// A message lying at `range` of a file.
struct InFile<'f> {
    file: &'f mut File,
    range: Range<u64>,
}

impl Text for InFile<'_> {
    fn len(&self) -> u64 {
        self.range.end - self.range.start
    }

    fn read(&mut self, range: Range<u64>) -> io::Result<Vec<u8>> {
        read_range(
            self.file,
            self.range.start + range.start..self.range.start + range.end,
        )
    }

    fn find(&mut self, needle: &[u8]) -> io::Result<Option<u64>> {
        self.file.seek(SeekFrom::Start(self.range.start))?;
        let mut reader = BufReader::new(&mut *self.file).take(self.range.end - self.range.start);
        // The last needle.len() - 1 bytes of the previous chunk, so a needle split
        // across chunks is found.
        let mut window: Vec<u8> = Vec::with_capacity(64 * 1024 + needle.len());
        let mut consumed = 0u64;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let read = reader.read(&mut chunk)?;
            if read == 0 {
                return Ok(None);
            }
            let carried = window.len();
            window.extend_from_slice(&chunk[..read]);
            if let Some(at) = window.windows(needle.len()).position(|w| w == needle) {
                return Ok(Some(consumed - carried as u64 + at as u64));
            }
            consumed += read as u64;
            let keep = window.len().min(needle.len() - 1);
            window.drain(..window.len() - keep);
        }
    }
}

/// `text` cut to at most `max` bytes, notes included: the trace and the summary each
/// keep their head and tail within their share, with a note where bytes were cut. The
/// result fits in `max`, so capping it again (a worker's capped error file becoming a
/// capped document) keeps it whole and its notes true.
fn capped(text: &mut impl Text, max: usize) -> io::Result<String> {
    let len = text.len();
    if len <= max as u64 {
        return Ok(String::from_utf8_lossy(&text.read(0..len)?).into_owned());
    }
    let mut sections: Vec<Range<u64>> = Vec::with_capacity(2);
    match text.find(SECTION_MARKER)? {
        Some(at) => sections.extend([0..at, at..len]),
        None => sections.push(0..len),
    }
    // The notes take room too: reserve the longest a note can be for each section.
    let reserve = cut_note(u64::MAX, u64::MAX, max).len() * sections.len();
    let budget = max.saturating_sub(reserve) as u64;
    // Each section gets an equal share; what a short one leaves goes to the others.
    let lengths: Vec<u64> = sections.iter().map(|s| s.end - s.start).collect();
    let mut shares = vec![0u64; sections.len()];
    let mut left = budget;
    let mut open: Vec<usize> = (0..sections.len()).collect();
    while !open.is_empty() {
        let share = left / open.len() as u64;
        let (fits, cut): (Vec<usize>, Vec<usize>) =
            open.iter().partition(|&&index| lengths[index] <= share);
        if fits.is_empty() {
            for index in cut {
                shares[index] = share;
            }
            break;
        }
        for index in fits {
            shares[index] = lengths[index];
            left -= lengths[index];
        }
        open = cut;
    }
    let mut out = String::with_capacity(max);
    for (section, share) in sections.into_iter().zip(shares) {
        let section_len = section.end - section.start;
        if section_len <= share {
            out.push_str(&String::from_utf8_lossy(&text.read(section)?));
            continue;
        }
        let half = share / 2;
        let head = text.read(section.start..section.start + half)?;
        let tail = text.read(section.end - half..section.end)?;
        let head = head_to_line_end(trim_to_char_end(&head));
        let tail = tail_from_line_start(trim_to_char_start(&tail));
        let cut = section_len - head.len() as u64 - tail.len() as u64;
        out.push_str(&String::from_utf8_lossy(head));
        out.push_str(&cut_note(cut, section_len, max));
        out.push_str(&String::from_utf8_lossy(tail));
    }
    Ok(out)
}

/// The note standing where `cut` bytes of a `section_len`-byte section were left out.
fn cut_note(cut: u64, section_len: u64, max: usize) -> String {
    format!(
        "\n\n    [... {cut} bytes cut here: this part of the error message is {section_len} \
         bytes, and error documents carry at most {max} bytes of message so that Flyte \
         accepts them; the whole message is in the task's log ...]\n\n"
    )
}

/// How far from a cut a line boundary may be and still be where the cut goes: a whole
/// line reads better than a fragment, but not at the price of most of what is kept.
const LINE_SEARCH_FRACTION: usize = 4;

/// `head` ending at the end of its last whole line, when that line ends near the cut.
fn head_to_line_end(head: &[u8]) -> &[u8] {
    let search_from = head.len() - head.len() / LINE_SEARCH_FRACTION;
    match head[search_from..].iter().rposition(|&byte| byte == b'\n') {
        Some(at) => &head[..search_from + at + 1],
        None => head,
    }
}

/// `tail` starting at the start of its first whole line (indentation and all), when that
/// line starts near the cut.
fn tail_from_line_start(tail: &[u8]) -> &[u8] {
    let search_to = tail.len() / LINE_SEARCH_FRACTION;
    match tail[..search_to].iter().position(|&byte| byte == b'\n') {
        Some(at) => &tail[at + 1..],
        None => tail,
    }
}

/// `bytes` without a character cut off at its end.
fn trim_to_char_end(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(error) if error.error_len().is_none() => &bytes[..error.valid_up_to()],
        _ => bytes,
    }
}

/// `bytes` without a character cut off at its start.
fn trim_to_char_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .take(3)
        .take_while(|&&byte| byte & 0xC0 == 0x80)
        .count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format_trace_message;

    fn huge_failure() -> String {
        let trace = format!(
            "Traceback (most recent call last):\n  File \"t.py\", line 3, in f\nValueError: {}\n",
            "x".repeat(3 * MAX_MESSAGE_BYTES)
        );
        format_trace_message(&trace, "ValueError", &"y".repeat(5 * MAX_MESSAGE_BYTES))
    }

    #[test]
    fn a_message_that_fits_is_kept_whole() {
        let message = format_trace_message("tb\n", "ValueError", "bad");
        assert_eq!(cap_message(message.clone()), message);
    }

    #[test]
    fn a_huge_message_keeps_the_head_and_tail_of_its_trace_and_its_summary() {
        let capped = cap_message(huge_failure());
        assert!(capped.len() <= MAX_MESSAGE_BYTES + 1024, "{}", capped.len());
        assert!(capped.starts_with("Trace:\n\n    Traceback (most recent call last):"));
        assert!(
            capped.contains("\nMessage:\n\n    ValueError: yyy"),
            "the summary's head"
        );
        assert!(capped.ends_with("yyy"), "the summary's tail");
        assert_eq!(
            capped.matches("bytes cut here").count(),
            2,
            "one note per section"
        );
    }

    /// The message of `raise ValueError(<10 MiB of indented lines>)` in flytekit's
    /// layout: the lines are in the trace and in the summary.
    fn ten_mib_of_indented_lines() -> (String, String) {
        let mut body = String::new();
        let mut line = 0;
        while body.len() < 10 * 1024 * 1024 {
            body.push_str(&format!("    line {line:08}\n"));
            line += 1;
        }
        let trace = format!("Traceback (most recent call last):\nValueError: {body}");
        (format_trace_message(&trace, "ValueError", &body), body)
    }

    /// The numbers every cut note in `capped` gives: (bytes cut, section length).
    fn notes(capped: &str) -> Vec<(u64, u64)> {
        capped
            .match_indices("[... ")
            .map(|(at, _)| {
                let words: Vec<&str> = capped[at + 5..].split_whitespace().take(12).collect();
                (
                    words[0].parse().expect("cut"),
                    words[11].parse().expect("section length"),
                )
            })
            .collect()
    }

    #[test]
    fn the_cut_notes_of_a_ten_mib_message_add_up_to_what_was_cut() {
        let (message, _) = ten_mib_of_indented_lines();
        let original = message.len() as u64;
        let capped = cap_message(message);
        assert!(capped.len() <= MAX_MESSAGE_BYTES, "{}", capped.len());
        let notes = notes(&capped);
        assert_eq!(notes.len(), 2, "one note per section");
        let sections: u64 = notes.iter().map(|(_, section)| section).sum();
        assert_eq!(sections, original, "the sections make up the message");
        let cut: u64 = notes.iter().map(|(cut, _)| cut).sum();
        assert!(cut > 9 * 1024 * 1024, "about 10 MB were cut: {notes:?}");
        let note_bytes: usize = capped
            .match_indices("\n\n    [... ")
            .map(|(at, _)| capped[at..].find("...]\n\n").expect("note end") + 6)
            .sum();
        assert_eq!(
            capped.len() as u64 - note_bytes as u64 + cut,
            original,
            "kept plus cut is the whole"
        );
    }

    #[test]
    fn capping_a_capped_message_again_keeps_it_whole() {
        let (message, _) = ten_mib_of_indented_lines();
        let once = cap_message(message);
        let twice = cap_message(once.clone());
        assert!(
            twice == once,
            "notes {:?}, not {:?}",
            notes(&twice),
            notes(&once)
        );
    }

    #[test]
    fn a_huge_error_file_read_and_written_again_keeps_the_first_cut_notes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("error.pb");
        let (message, _) = ten_mib_of_indented_lines();
        let mut document = ContainerFailure::user("USER:ValueError", "").to_error_document();
        document.error.as_mut().expect("error").message = message.clone();
        flyte_proto::io::write_error_document(&path, &document).expect("write");
        let read = read_error_file(&path).expect("read");
        let written = read.to_error_document().error.expect("error").message;
        let expected = cap_message(message);
        assert!(
            written == expected,
            "the document differs from the message capped once: notes {:?}, not {:?}",
            notes(&written),
            notes(&expected)
        );
    }

    #[test]
    fn the_kept_head_and_tail_are_whole_indented_lines() {
        let (message, _) = ten_mib_of_indented_lines();
        let capped = cap_message(message);
        for part in capped.split("\n\n    [... ").skip(1) {
            let after = &part[part.find("...]\n\n").expect("note end") + 6..];
            let first_line = after.lines().next().expect("a kept tail");
            assert!(
                first_line.starts_with("    line ") || first_line.starts_with("        line "),
                "the tail starts at a whole line: {first_line:?}"
            );
        }
        for (at, _) in capped.match_indices("\n\n    [... ") {
            assert!(
                capped[..at].ends_with('\n'),
                "the head ends with a whole line: {:?}",
                &capped[at.saturating_sub(40)..at]
            );
        }
    }

    #[test]
    fn cuts_never_split_a_character() {
        let message = "é".repeat(MAX_MESSAGE_BYTES);
        let capped = cap_message(message);
        assert!(!capped.contains('\u{FFFD}'), "no replacement characters");
    }

    #[test]
    fn a_huge_error_file_is_read_capped_with_its_other_fields_intact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("error.pb");
        let failure = ContainerFailure::user("USER:ValueError", huge_failure())
            .with_recoverability(Recoverability::Recoverable)
            .with_worker("worker-1");
        // Written uncapped, as flytekit writes it.
        let mut document = failure.to_error_document();
        document.error.as_mut().expect("error").message = huge_failure();
        flyte_proto::io::write_error_document(&path, &document).expect("write");

        let read = read_error_file(&path).expect("read");
        assert_eq!(read.message, cap_message(huge_failure()));
        assert_eq!(read.code, "USER:ValueError");
        assert_eq!(read.worker, "worker-1");
        assert_eq!(read.origin, Origin::User);
        assert_eq!(read.recoverability, Recoverability::Recoverable);
        assert_eq!(read.timestamp, failure.timestamp);
    }

    #[test]
    fn a_small_error_file_reads_as_from_error_document_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("error.pb");
        let failure = ContainerFailure::system("boom");
        flyte_proto::io::write_error_document(&path, &failure.to_error_document()).expect("write");
        assert_eq!(read_error_file(&path).expect("read"), failure);
    }

    #[test]
    fn a_corrupt_error_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("error.pb");
        std::fs::write(&path, b"\x0a\xff\xff\xff").expect("write");
        let error = read_error_file(&path).expect_err("corrupt");
        assert!(error.to_string().contains("error.pb"), "{error}");
    }
}
