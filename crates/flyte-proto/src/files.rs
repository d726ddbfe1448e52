//! The names of the files a task's prefixes hold, as flytekit writes and reads them.
//!
//! Every crate that names one of these files takes the name from here, so a rename (or a
//! typo) cannot make two parts of a tool disagree about where a task's result is.
//!
//! ```
//! use flyte_proto::files;
//! assert_eq!(files::OUTPUTS_FILE, "outputs.pb");
//! let outputs = std::path::Path::new("/tmp/out").join(files::OUTPUTS_FILE);
//! assert!(outputs.ends_with("outputs.pb"));
//! ```

/// The task's inputs, a `flyteidl.core.LiteralMap` (the file `--inputs` names).
///
/// ```
/// use flyte_proto::files::INPUTS_FILE;
/// let inputs = format!("s3://bucket/metadata/n0/data/inputs/{INPUTS_FILE}");
/// assert!(inputs.ends_with("/inputs.pb"));
/// ```
pub const INPUTS_FILE: &str = "inputs.pb";

/// A finished task's outputs under the output prefix, a `flyteidl.core.LiteralMap`.
///
/// ```
/// use flyte_proto::{files::OUTPUTS_FILE, io, literal};
/// # fn main() -> Result<(), flyte_proto::ProtoError> {
/// let output_dir = tempfile::tempdir().expect("temp dir");
/// let outputs = literal::literal_map([("o0", literal::integer(1))]);
/// io::write_literal_map(output_dir.path().join(OUTPUTS_FILE), &outputs)?;
/// # Ok(())
/// # }
/// ```
pub const OUTPUTS_FILE: &str = "outputs.pb";

/// A dynamic task's result under the output prefix, a `flyteidl.core.DynamicJobSpec`.
///
/// ```
/// use flyte_proto::files::{FUTURES_FILE, OUTPUTS_FILE};
/// // A task's result is one of the two (or an error document).
/// let is_result = |name: &str| name == OUTPUTS_FILE || name == FUTURES_FILE;
/// assert!(is_result("futures.pb"));
/// ```
pub const FUTURES_FILE: &str = "futures.pb";

/// A failed task's `flyteidl.core.ErrorDocument` under the output prefix, without the
/// distributed error strategy (with it, flyte-errors names the file
/// `error-<uuid>.pb`).
///
/// ```
/// use flyte_proto::{files::ERROR_FILE, io};
/// # let output_dir = tempfile::tempdir().expect("temp dir");
/// let error_pb = output_dir.path().join(ERROR_FILE);
/// if error_pb.exists() {
///     let document = io::read_error_document(&error_pb).expect("an error document");
///     println!("task failed: {:?}", document.error);
/// }
/// ```
pub const ERROR_FILE: &str = "error.pb";
