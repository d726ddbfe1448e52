//! Bounded line reading for the sockets the worker's process can write to.
//!
//! Both protocols are one JSON object per `\n`-terminated line. A line is read into
//! memory only up to a limit; past it, the rest of the line is read and thrown away as
//! it arrives, so a peer writing gigabytes without a newline costs the supervisor one
//! buffer, not gigabytes, and the stream is back in step at the next newline.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line, as far as the reader kept it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line within the limit, without its `\n`.
    Text(String),
    /// A line (or, at the end of the stream, its unterminated tail) longer than the
    /// limit: `bytes` bytes were read and dropped.
    TooLong {
        /// How long the line was.
        bytes: u64,
    },
    /// A line within the limit that is not UTF-8.
    NotUtf8 {
        /// How long the line was.
        bytes: usize,
    },
}

/// Lines of `reader`, none kept longer than `limit` bytes.
pub(crate) struct BoundedLines<R> {
    reader: R,
    limit: usize,
    line: Vec<u8>,
    /// Bytes of the current line dropped so far (it is over the limit when not 0).
    dropped: u64,
    /// Whether a line over the limit is reported as soon as it crosses it, rather than
    /// read to its end.
    cut_at_limit: bool,
}

impl<R: AsyncBufRead + Unpin> BoundedLines<R> {
    /// Reads lines of `reader`, keeping at most `limit` bytes of each.
    pub(crate) fn new(reader: R, limit: usize) -> Self {
        BoundedLines {
            reader,
            limit,
            line: Vec::new(),
            dropped: 0,
            cut_at_limit: false,
        }
    }

    /// Reports a line over the limit as soon as it crosses it, without reading the
    /// rest, for a peer that is cut off after one: a flood without a newline gets its
    /// answer at once, not when (if ever) the flood ends.
    pub(crate) fn cut_at_limit(mut self) -> Self {
        self.cut_at_limit = true;
        self
    }

    /// Reads lines over the limit to their end again (dropping them), to stay in step
    /// with a peer that is kept after one.
    pub(crate) fn read_through_overlong_lines(&mut self) {
        self.cut_at_limit = false;
    }

    /// The reader, with what is buffered of it.
    pub(crate) fn into_inner(self) -> R {
        self.reader
    }

    /// The next line; `None` at the end of the stream (an unterminated last line within
    /// the limit is still a line).
    ///
    /// Cancel-safe: what was read of a line so far (or how much of it was dropped)
    /// stays in `self`, so a `select!` that drops this future and calls again resumes
    /// the same line.
    pub(crate) async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                // The end of the stream: what is left is the last line, if anything.
                if self.dropped > 0 {
                    return Ok(Some(Line::TooLong {
                        bytes: std::mem::take(&mut self.dropped),
                    }));
                }
                if self.line.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.take_line()));
            }
            let (piece, ends_line) = match memchr_newline(available) {
                Some(at) => (&available[..at], true),
                None => (available, false),
            };
            let consumed = piece.len() + usize::from(ends_line);
            if self.dropped == 0 && self.line.len() + piece.len() <= self.limit {
                self.line.extend_from_slice(piece);
            } else {
                // Over the limit: count the line's bytes, keep none of them.
                self.dropped += (self.line.len() + piece.len()) as u64;
                self.line.clear();
                self.line.shrink_to(self.limit.min(64 * 1024));
            }
            self.reader.consume(consumed);
            if self.cut_at_limit && self.dropped > 0 {
                return Ok(Some(Line::TooLong {
                    bytes: std::mem::take(&mut self.dropped),
                }));
            }
            if ends_line {
                if self.dropped > 0 {
                    return Ok(Some(Line::TooLong {
                        bytes: std::mem::take(&mut self.dropped),
                    }));
                }
                return Ok(Some(self.take_line()));
            }
        }
    }

    /// Keeps at most `limit` bytes of the lines from here on.
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    fn take_line(&mut self) -> Line {
        let bytes = std::mem::take(&mut self.line);
        let len = bytes.len();
        String::from_utf8(bytes).map_or(Line::NotUtf8 { bytes: len }, Line::Text)
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], limit: usize) -> Vec<Line> {
        let mut lines = BoundedLines::new(input, limit);
        let mut all = Vec::new();
        while let Some(line) = lines.next_line().await.expect("in-memory reads") {
            all.push(line);
        }
        all
    }

    #[tokio::test]
    async fn lines_within_the_limit_come_whole_and_the_unterminated_last_one_too() {
        assert_eq!(
            lines_of(b"one\n\ntwo\nthree", 5).await,
            [
                Line::Text("one".into()),
                Line::Text(String::new()),
                Line::Text("two".into()),
                Line::Text("three".into()),
            ]
        );
    }

    #[tokio::test]
    async fn an_overlong_line_is_dropped_and_counted_and_the_next_line_still_reads() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\nafter\n");
        // A small buffer, so that the long line arrives in many pieces.
        let reader = tokio::io::BufReader::with_capacity(1024, input.as_slice());
        let mut lines = BoundedLines::new(reader, 10);
        assert_eq!(
            lines.next_line().await.expect("read"),
            Some(Line::TooLong { bytes: 100_000 })
        );
        assert!(lines.line.capacity() <= 64 * 1024);
        assert_eq!(
            lines.next_line().await.expect("read"),
            Some(Line::Text("after".into()))
        );
        assert_eq!(lines.next_line().await.expect("read"), None);
    }

    #[tokio::test]
    async fn cut_at_the_limit_an_endless_line_is_reported_without_reading_to_its_end() {
        // A reader that never ends and has no newline.
        let endless = tokio::io::BufReader::with_capacity(1024, tokio::io::repeat(b'z'));
        let mut lines = BoundedLines::new(endless, 10_000).cut_at_limit();
        match lines.next_line().await.expect("read") {
            Some(Line::TooLong { bytes }) => assert!((10_001..=11_024).contains(&bytes), "{bytes}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_is_kept_and_one_byte_more_is_not() {
        assert_eq!(
            lines_of(b"12345\n123456\n", 5).await,
            [Line::Text("12345".into()), Line::TooLong { bytes: 6 }]
        );
    }

    #[tokio::test]
    async fn an_overlong_unterminated_tail_is_reported_at_the_end() {
        assert_eq!(
            lines_of(b"ok\n0123456789", 4).await,
            [Line::Text("ok".into()), Line::TooLong { bytes: 10 }]
        );
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_reported_as_such() {
        assert_eq!(
            lines_of(b"\xff\xfe\nok\n", 10).await,
            [Line::NotUtf8 { bytes: 2 }, Line::Text("ok".into())]
        );
    }
}
