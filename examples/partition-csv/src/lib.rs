//! An example Flyte task written in Rust, for tool authors to copy: it reads a CSV
//! `FlyteFile`, splits its rows by the value of one column and returns the parts as a
//! `FlyteDirectory`, one CSV file per value, each with the header line.
//!
//! In flytekit's terms the task is
//! `partition_csv(rows: FlyteFile, column: str) -> Tuple[FlyteDirectory, int]`: outputs
//! `o0` (the directory) and `o1` (how many rows were partitioned). A Python task
//! downstream reads `o0` as any other `FlyteDirectory`.
//!
//! What the crates do for it: [`flyte_runtime`] runs it (inputs downloaded and checked,
//! outputs or an error document written, a stop from outside honoured),
//! [`flyte_offload`] turns the input literal into a local file and the output directory
//! into the literal flytekit would have made, under the raw output prefix with
//! flytekit's layout. The task itself is [`partition_csv`]: an async function from a
//! [`TaskContext`] and the inputs to the outputs; every error it returns becomes a user
//! error document with its causes (see [`PartitionError`]). `src/main.rs` is the whole
//! container entrypoint.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use flyte_proto::literal;
//! use flyte_runtime::{FnExecutor, RunSettings, TaskLocations, run_task};
//! use flyte_storage::{Storage, StorageConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let csv = dir.path().join("people.csv");
//! std::fs::write(&csv, "name,city\nada,london\nalan,manchester\ngrace,london\n")?;
//! let rows = flyte_offload::Offloader::new(
//!     Storage::new(StorageConfig::default()),
//!     dir.path().join("uploaded").display().to_string(),
//! )
//! .file(&csv, "csv")
//! .await?;
//! let inputs = literal::literal_map([("rows", rows), ("column", literal::string("city"))]);
//! flyte_proto::io::write_literal_map(dir.path().join("inputs.pb"), &inputs)?;
//!
//! let mut locations = TaskLocations::new(
//!     dir.path().join("inputs.pb").display().to_string(),
//!     dir.path().join("out").display().to_string(),
//! );
//! locations.raw_output_data_prefix = Some(dir.path().join("raw").display().to_string());
//! let settings = RunSettings::new(locations, dir.path().join("scratch"));
//! let storage = Storage::new(StorageConfig::default());
//! let task = FnExecutor::new(partition_csv::partition_csv);
//! let report = run_task(task, &storage, &settings, &flyte_telemetry::Metrics::disabled()).await?;
//! assert_eq!(report.outcome_kind, "outputs");
//!
//! let outputs = flyte_proto::io::read_literal_map(dir.path().join("out/outputs.pb"))?;
//! assert_eq!(outputs.literals["o1"].as_integer(), Some(3));
//! let parts = outputs.literals["o0"].as_blob().expect("a FlyteDirectory");
//! let london = std::path::Path::new(&parts.uri).join("part-london.csv");
//! assert_eq!(std::fs::read_to_string(london)?, "name,city\nada,london\ngrace,london\n");
//! # Ok(())
//! # }
//! ```

pub mod csv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flyte_offload::{Materializer, OffloadError, Offloader};
use flyte_proto::core::{Literal, LiteralMap};
use flyte_proto::literal;
use flyte_runtime::TaskContext;

pub use csv::CsvError;

/// The longest partition file name this task writes, in bytes: file systems and object
/// stores accept 255, and the name is `part-<value>.csv` with the value escaped.
pub const MAX_PART_NAME: usize = 255;

/// Why the task failed. Each message says what was wrong and what to do; the cause, when
/// there is one, is the error's [`source`](std::error::Error::source), which the error
/// document lists below it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// An input the task needs is not in `inputs.pb`, or is not of its type.
    #[error(
        "input `{name}` is missing or is not {expected}: the task takes rows (a CSV FlyteFile) and column (a string)"
    )]
    Input {
        /// The input's name.
        name: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// Input `rows` is not a file (a Blob SINGLE), looked through unions and offloaded
    /// literals.
    #[error("input `rows` is not a file: the task takes rows as a CSV FlyteFile")]
    RowsNotAFile(#[source] OffloadError),
    /// The CSV file could not be downloaded.
    #[error("could not download the CSV file of input `rows`")]
    Download(#[source] OffloadError),
    /// The downloaded CSV file could not be read, or is not UTF-8.
    #[error("could not read the CSV file {}", path.display())]
    Read {
        /// The local copy.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CSV file is not well formed.
    #[error("the CSV file of input `rows` is malformed")]
    Csv(#[from] CsvError),
    /// The CSV file has no header line.
    #[error("the CSV file of input `rows` is empty: its first line must name the columns")]
    NoHeader,
    /// The header has no column of the name input `column` gives.
    #[error(
        "the CSV file has no column `{column}`: input `column` must be one of its columns ({})",
        header.join(", ")
    )]
    NoSuchColumn {
        /// The name asked for.
        column: String,
        /// The columns the header names.
        header: Vec<String>,
    },
    /// A row has more or fewer fields than the header.
    #[error(
        "line {line} of the CSV file has {found} fields where the header has {expected}: give every row one field per column"
    )]
    RaggedRow {
        /// The row's 1-based line.
        line: usize,
        /// Its fields.
        found: usize,
        /// The header's.
        expected: usize,
    },
    /// A value whose partition file name would be longer than [`MAX_PART_NAME`].
    #[error(
        "line {line}: the value of column `{column}` is too long to name a file ({bytes} bytes escaped, at most {MAX_PART_NAME}): partition by a column with shorter values"
    )]
    ValueTooLong {
        /// The row's 1-based line.
        line: usize,
        /// The partitioning column.
        column: String,
        /// The escaped file name's length.
        bytes: usize,
    },
    /// A partition file could not be written locally.
    #[error("could not write the partition {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The run has no raw output prefix to put the directory under.
    #[error(
        "the run has no raw output prefix to upload the partitions under: pass --raw-output-data-prefix"
    )]
    NoRawOutputPrefix,
    /// The partitions could not be uploaded.
    #[error("could not upload the partitions")]
    Upload(#[source] OffloadError),
}

/// The task: downloads input `rows`, partitions it by input `column`, uploads the parts
/// under the run's raw output prefix and returns them as output `o0`, with the number of
/// rows as `o1`.
///
/// Nothing in it blocks the runtime's threads: the file system is reached through
/// `tokio::fs` and the CSV is parsed on the blocking pool, so a stop from outside
/// (which drops this future) takes effect at the next step instead of after the whole
/// file.
pub async fn partition_csv(
    context: TaskContext,
    inputs: LiteralMap,
) -> Result<LiteralMap, PartitionError> {
    let rows = inputs.literals.get("rows").ok_or(PartitionError::Input {
        name: "rows",
        expected: "a file",
    })?;
    let column = inputs
        .literals
        .get("column")
        .and_then(Literal::as_str)
        .ok_or(PartitionError::Input {
            name: "column",
            expected: "a string",
        })?
        .to_owned();
    let raw_output_prefix = context
        .raw_output_prefix()
        .ok_or(PartitionError::NoRawOutputPrefix)?
        .to_owned();

    // The materializer checks the kind itself, looking through unions and offloaded
    // literals, so an Optional[FlyteFile] or a large offloaded input works too.
    let local_rows = Materializer::new(context.storage().clone())
        .file(rows, &context.scratch_dir().join("rows.csv"))
        .await
        .map_err(|error| match error {
            OffloadError::UnexpectedLiteral { .. } => PartitionError::RowsNotAFile(error),
            other => PartitionError::Download(other),
        })?;
    let text = tokio::fs::read_to_string(&local_rows)
        .await
        .map_err(|source| PartitionError::Read {
            path: local_rows.clone(),
            source,
        })?;

    let partitions = tokio::task::spawn_blocking(move || partition(&text, &column))
        .await
        .unwrap_or_else(|join_error| std::panic::resume_unwind(join_error.into_panic()))?;
    let parts_dir = context.scratch_dir().join("parts");
    partitions.write(&parts_dir).await?;
    let parts = Offloader::new(context.storage().clone(), raw_output_prefix)
        .directory(&parts_dir, "")
        .await
        .map_err(PartitionError::Upload)?;
    Ok(literal::literal_map([
        ("o0", parts),
        ("o1", literal::integer(partitions.rows as i64)),
    ]))
}

/// A CSV file split by the values of one column: the contents of each partition file
/// by its name, each starting with the header line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Partitions {
    /// `part-<value>.csv` (see [`part_file_name`]) to its contents.
    pub files: BTreeMap<String, String>,
    /// How many rows were partitioned (the header not counted).
    pub rows: usize,
}

impl Partitions {
    /// Writes every partition file under `into`, creating it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let partitions = partition_csv::partition("k,v\na,1\nb,2\n", "k")?;
    /// partitions.write(&dir.path().join("parts")).await?;
    /// assert_eq!(std::fs::read_to_string(dir.path().join("parts/part-b.csv"))?, "k,v\nb,2\n");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write(&self, into: &Path) -> Result<(), PartitionError> {
        let write_error = |path: &Path| {
            let path = path.to_owned();
            move |source| PartitionError::Write { path, source }
        };
        tokio::fs::create_dir_all(into)
            .await
            .map_err(write_error(into))?;
        for (name, contents) in &self.files {
            let path = into.join(name);
            tokio::fs::write(&path, contents)
                .await
                .map_err(write_error(&path))?;
        }
        Ok(())
    }
}

/// Splits the CSV `text` by the values of `column` into `part-<value>.csv` files, each
/// starting with the header; values are escaped in file names (see
/// [`part_file_name`]). The whole file is checked first: a malformed one yields no
/// partition at all.
///
/// ```
/// let partitions = partition_csv::partition("name,city\nada,london\nalan,leeds\n", "city")?;
/// assert_eq!(partitions.rows, 2);
/// assert_eq!(partitions.files["part-leeds.csv"], "name,city\nalan,leeds\n");
/// # Ok::<(), partition_csv::PartitionError>(())
/// ```
pub fn partition(text: &str, column: &str) -> Result<Partitions, PartitionError> {
    let mut records = csv::parse(text)?.into_iter();
    let header = records.next().ok_or(PartitionError::NoHeader)?.fields;
    let index = header
        .iter()
        .position(|name| name == column)
        .ok_or_else(|| PartitionError::NoSuchColumn {
            column: column.to_owned(),
            header: header.clone(),
        })?;
    let header_line = csv::format_record(&header) + "\n";
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut rows = 0;
    for record in records {
        if record.fields.len() != header.len() {
            return Err(PartitionError::RaggedRow {
                line: record.line,
                found: record.fields.len(),
                expected: header.len(),
            });
        }
        let name = part_file_name(&record.fields[index]);
        if name.len() > MAX_PART_NAME {
            return Err(PartitionError::ValueTooLong {
                line: record.line,
                column: column.to_owned(),
                bytes: name.len(),
            });
        }
        let part = files.entry(name).or_insert_with(|| header_line.clone());
        part.push_str(&csv::format_record(&record.fields));
        part.push('\n');
        rows += 1;
    }
    Ok(Partitions { files, rows })
}

/// The file name of the partition holding rows whose column has `value`:
/// `part-<value>.csv`, every byte of the value but ASCII letters, digits, `-` and `_`
/// written as `%XX`, so that any two values get two names and no name is a path.
///
/// ```
/// use partition_csv::part_file_name;
/// assert_eq!(part_file_name("london"), "part-london.csv");
/// assert_eq!(part_file_name("../etc"), "part-%2E%2E%2Fetc.csv");
/// assert_eq!(part_file_name(""), "part-.csv");
/// ```
pub fn part_file_name(value: &str) -> String {
    let mut name = String::from("part-");
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    name.push_str(".csv");
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .expect("readable")
            .map(|entry| {
                let path = entry.expect("entry").path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .expect("a name")
                    .to_owned();
                (name, std::fs::read_to_string(&path).expect("readable"))
            })
            .collect()
    }

    #[tokio::test]
    async fn rows_go_to_one_file_per_value_each_with_the_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "id,city\n1,london\n2,\"new york, ny\"\n3,london\n4,\n";
        let partitions = partition(text, "city").expect("well formed");
        assert_eq!(partitions.rows, 4);
        partitions.write(dir.path()).await.expect("written");
        assert_eq!(
            files(dir.path()),
            BTreeMap::from([
                ("part-.csv".to_owned(), "id,city\n4,\n".to_owned()),
                (
                    "part-london.csv".to_owned(),
                    "id,city\n1,london\n3,london\n".to_owned()
                ),
                (
                    "part-new%20york%2C%20ny.csv".to_owned(),
                    "id,city\n2,\"new york, ny\"\n".to_owned()
                ),
            ])
        );
    }

    #[test]
    fn a_ragged_row_names_its_line() {
        let error = partition("a,b\n1,2\n3\n", "a").expect_err("the input is refused");
        assert!(
            matches!(
                error,
                PartitionError::RaggedRow {
                    line: 3,
                    found: 1,
                    expected: 2
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn an_unknown_column_lists_the_columns_there_are() {
        let error = partition("a,b\n1,2\n", "c").expect_err("the input is refused");
        assert_eq!(
            error.to_string(),
            "the CSV file has no column `c`: input `column` must be one of its columns (a, b)"
        );
        assert!(matches!(partition("", "c"), Err(PartitionError::NoHeader)));
    }

    #[test]
    fn a_value_too_long_for_a_file_name_is_refused() {
        let text = format!("k\n{}\n", "é".repeat(60));
        assert!(matches!(
            partition(&text, "k"),
            Err(PartitionError::ValueTooLong { line: 2, .. })
        ));
    }

    /// A context whose raw output prefix and scratch directory are under `dir`.
    fn context(dir: &Path) -> TaskContext {
        let mut locations = flyte_runtime::TaskLocations::new("unused", "unused");
        locations.raw_output_data_prefix = Some(dir.join("raw").display().to_string());
        let scratch = dir.join("scratch");
        std::fs::create_dir_all(&scratch).expect("mkdir");
        TaskContext::new(flyte_storage::Storage::default(), locations, scratch)
    }

    /// The CSV file `rows.csv` under `dir`, offloaded as a FlyteFile.
    async fn uploaded_rows(dir: &Path) -> Literal {
        let csv = dir.join("rows.csv");
        std::fs::write(&csv, "name,city\nada,london\n").expect("write");
        Offloader::new(
            flyte_storage::Storage::default(),
            dir.join("uploaded").display().to_string(),
        )
        .file(&csv, "csv")
        .await
        .expect("offloaded")
    }

    #[tokio::test]
    async fn rows_in_a_union_or_an_offloaded_literal_are_accepted_as_the_materializer_reads_them() {
        use flyte_proto::Message;
        use flyte_proto::core::{LiteralType, Union, scalar::Value as ScalarValue};

        let dir = tempfile::tempdir().expect("tempdir");
        let rows = uploaded_rows(dir.path()).await;
        let optional = literal::scalar(ScalarValue::Union(Box::new(Union {
            value: Some(Box::new(rows.clone())),
            r#type: Some(LiteralType::default()),
        })));
        let stored = dir.path().join("rows_offloaded_metadata.pb");
        std::fs::write(&stored, rows.encode_to_vec()).expect("write");
        let offloaded = literal::offloaded(stored.display().to_string(), 0, None);
        for (case, rows) in [("a union", optional), ("an offloaded literal", offloaded)] {
            let inputs =
                literal::literal_map([("rows", rows), ("column", literal::string("city"))]);
            let outputs = partition_csv(context(&dir.path().join(case)), inputs)
                .await
                .unwrap_or_else(|error| panic!("{case}: {error}"));
            assert_eq!(outputs.literals["o1"].as_integer(), Some(1), "{case}");
        }
    }

    #[tokio::test]
    async fn rows_that_are_not_a_file_are_refused_naming_what_they_are() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inputs = literal::literal_map([
            ("rows", literal::integer(3)),
            ("column", literal::string("city")),
        ]);
        let error = partition_csv(context(dir.path()), inputs)
            .await
            .expect_err("an integer is no file");
        assert!(
            matches!(error, PartitionError::RowsNotAFile(_)),
            "{error:?}"
        );
        let chain = flyte_errors::Chain(&error).to_string();
        assert!(chain.contains("found a primitive"), "{chain}");
    }

    #[test]
    fn distinct_values_get_distinct_file_names() {
        let values = ["a/b", "a_b", "a%2Fb", "a b", "a.b", ".", ""];
        let names: std::collections::BTreeSet<_> =
            values.iter().map(|v| part_file_name(v)).collect();
        assert_eq!(names.len(), values.len());
        assert!(
            names
                .iter()
                .all(|n| !n.contains('/') && !n.starts_with('.'))
        );
    }
}
