//! Just enough of RFC 4180 for the example: comma-separated fields, double-quoted fields
//! that may hold commas, quotes (doubled) and line breaks, and `\n` or `\r\n` records.

/// A CSV text that is not well formed, at a 1-based line of the file.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A quoted field still open at the end of the file.
    #[error("line {line}: a quoted field is never closed: end it with a double quote")]
    UnclosedQuote {
        /// The line the field starts on.
        line: usize,
    },
    /// A quote in the middle of an unquoted field, or text after a closing quote.
    #[error(
        "line {line}: a double quote inside a field: quote the whole field and double the quote (\"\")"
    )]
    StrayQuote {
        /// The line of the quote.
        line: usize,
    },
}

/// One record and the line it starts on.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    /// The 1-based line of the file the record starts on.
    pub line: usize,
    /// The record's fields, unquoted.
    pub fields: Vec<String>,
}

/// The records of `text`. Empty lines are skipped, as most CSV readers do.
pub fn parse(text: &str) -> Result<Vec<Record>, CsvError> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut line, mut record_line) = (1, 1);
    // `quoted`: inside a quoted field; `closed`: just after its closing quote.
    let (mut quoted, mut closed, mut quoted_since) = (false, false, 0);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => (quoted, closed) = (false, true),
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            ',' => {
                fields.push(std::mem::take(&mut field));
                closed = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if !(fields.is_empty() && field.is_empty() && !closed) {
                    fields.push(std::mem::take(&mut field));
                    records.push(Record {
                        line: record_line,
                        fields: std::mem::take(&mut fields),
                    });
                }
                closed = false;
                line += 1;
                record_line = line;
            }
            '"' if field.is_empty() && !closed => (quoted, quoted_since) = (true, line),
            '"' => return Err(CsvError::StrayQuote { line }),
            _ if closed => return Err(CsvError::StrayQuote { line }),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(CsvError::UnclosedQuote { line: quoted_since });
    }
    if !(fields.is_empty() && field.is_empty() && !closed) {
        fields.push(field);
        records.push(Record {
            line: record_line,
            fields,
        });
    }
    Ok(records)
}

/// `fields` as one CSV record (no line break), quoting the fields that need it.
pub fn format_record(fields: &[String]) -> String {
    let quote = |field: &String| {
        if field.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field.clone()
        }
    };
    fields.iter().map(quote).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(records: &[Record]) -> Vec<Vec<&str>> {
        records
            .iter()
            .map(|r| r.fields.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn plain_and_quoted_fields_with_commas_quotes_and_line_breaks() {
        let records =
            parse("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n\"two\nlines\",\n").expect("well formed");
        assert_eq!(
            fields(&records),
            [
                vec!["a", "b"],
                vec!["x, y", "say \"hi\""],
                vec!["two\nlines", ""]
            ]
        );
        assert_eq!(
            records.iter().map(|r| r.line).collect::<Vec<_>>(),
            [1, 2, 4]
        );
    }

    #[test]
    fn a_last_record_without_a_line_break_counts() {
        assert_eq!(
            fields(&parse("a\nb").expect("well formed")),
            [vec!["a"], vec!["b"]]
        );
        assert_eq!(fields(&parse("\"\"").expect("well formed")), [vec![""]]);
    }

    #[test]
    fn malformed_quotes_name_their_line() {
        assert_eq!(parse("a\nb\"c\n"), Err(CsvError::StrayQuote { line: 2 }));
        assert_eq!(parse("a\n\"b\"c\n"), Err(CsvError::StrayQuote { line: 2 }));
        assert_eq!(
            parse("a\n\"open\n\n"),
            Err(CsvError::UnclosedQuote { line: 2 })
        );
    }

    #[test]
    fn formatting_a_record_parses_back_to_its_fields() {
        let record = ["plain", "with,comma", "with \"quote\"", "two\nlines", ""]
            .map(str::to_owned)
            .to_vec();
        let text = format_record(&record) + "\n";
        assert_eq!(parse(&text).expect("well formed")[0].fields, record);
    }
}
