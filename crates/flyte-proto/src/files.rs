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
pub const INPUTS_FILE: &str = "inputs.pb";

/// A finished task's outputs under the output prefix, a `flyteidl.core.LiteralMap`.
pub const OUTPUTS_FILE: &str = "outputs.pb";

/// A dynamic task's result under the output prefix, a `flyteidl.core.DynamicJobSpec`.
pub const FUTURES_FILE: &str = "futures.pb";

/// A failed task's `flyteidl.core.ErrorDocument` under the output prefix, without the
/// distributed error strategy (with it, flyte-errors names the file
/// `error-<uuid>.pb`).
pub const ERROR_FILE: &str = "error.pb";
