//! flytekit's `Trace: … Message: …` layout for a failure's message.

/// What flytekit indents each line of the trace and the summary with.
const INDENT: &str = "    ";

/// The message flytekit's `get_traceback_str` builds: `"Trace:\n\n"`, the trace
/// indented four spaces, `"\nMessage:\n\n"`, and `"{error_type}: {error_message}"`
/// indented four spaces.
///
/// Indentation follows Python's `textwrap.indent` exactly: lines are split where
/// Python's `str.splitlines` splits (`\n`, `\r\n`, `\r`, `\v`, `\f`, `\x1c`–`\x1e`,
/// `\u{85}`, `\u{2028}`, `\u{2029}`) and keep their line ends; a line that is empty or
/// only whitespace (by Python's `str.isspace`) is left unindented. Nothing is added or
/// removed at the ends: a trace that ends with a newline (as Python tracebacks do) is
/// followed by a blank line before `Message:`, one without is not.
///
/// ```
/// let message = flyte_errors::format_trace_message("line 1\n\nline 3\n", "ValueError", "bad");
/// assert_eq!(message, "Trace:\n\n    line 1\n\n    line 3\n\nMessage:\n\n    ValueError: bad");
/// ```
pub fn format_trace_message(trace: &str, error_type: &str, error_message: &str) -> String {
    let summary = format!("{error_type}: {error_message}");
    let mut message = String::with_capacity(trace.len() + summary.len() + 64);
    message.push_str("Trace:\n\n");
    push_indented(&mut message, trace);
    message.push_str("\nMessage:\n\n");
    push_indented(&mut message, &summary);
    message
}

/// Python's `textwrap.indent(text, INDENT)`, appended to `out`.
fn push_indented(out: &mut String, text: &str) {
    for line in python_lines(text) {
        if !line.chars().all(is_python_space) {
            out.push_str(INDENT);
        }
        out.push_str(line);
    }
}

/// Python's `str.splitlines(keepends=True)`.
fn python_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => break rest.len(),
                Some((at, '\r')) => {
                    break if rest[at + 1..].starts_with('\n') {
                        at + 2
                    } else {
                        at + 1
                    };
                }
                Some((at, c)) if is_python_line_boundary(c) => break at + c.len_utf8(),
                Some(_) => {}
            }
        };
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// The characters Python's `str.splitlines` ends a line at (`\r` is handled apart for
/// `\r\n`).
fn is_python_line_boundary(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Python's `str.isspace` for one character: Unicode White_Space plus the four
/// information separators `\x1c`–`\x1f`.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\x1c'..='\x1f')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_whitespace_only_lines_stay_unindented() {
        assert_eq!(
            format_trace_message("a\n\n  \nb", "T", "m"),
            "Trace:\n\n    a\n\n  \n    b\nMessage:\n\n    T: m"
        );
    }

    #[test]
    fn trailing_newline_of_trace_gives_blank_line_before_message() {
        assert_eq!(
            format_trace_message("a\n", "T", "m"),
            "Trace:\n\n    a\n\nMessage:\n\n    T: m"
        );
        assert_eq!(
            format_trace_message("", "T", ""),
            "Trace:\n\n\nMessage:\n\n    T: "
        );
    }

    #[test]
    fn multi_line_summary_indents_every_line() {
        assert_eq!(
            format_trace_message("t\n", "KeyError", "one\ntwo\n"),
            "Trace:\n\n    t\n\nMessage:\n\n    KeyError: one\n    two\n"
        );
    }

    #[test]
    fn lines_split_where_python_splits_them() {
        let lines: Vec<_> = python_lines("a\r\nb\rc\x0bd\u{2028}e\x1ff").collect();
        assert_eq!(lines, ["a\r\n", "b\r", "c\x0b", "d\u{2028}", "e\x1ff"]);
        assert_eq!(python_lines("").count(), 0);
        assert_eq!(python_lines("\n\n").collect::<Vec<_>>(), ["\n", "\n"]);
    }
}
