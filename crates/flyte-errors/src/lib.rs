//! The error document (`error.pb`) a Flyte task container writes when it fails, built
//! exactly as flytekit 1.16's `pyflyte-execute` builds it.
//!
//! This crate owns the error-document format: the [`ContainerFailure`] value and its
//! conversion to and from flyteidl's `ErrorDocument`, flytekit's
//! `Trace: … Message: …` message layout ([`format_trace_message`]), the name of the
//! file the document is written to ([`error_file_name`]), and the size Flyte accepts:
//! messages are capped at [`MAX_MESSAGE_BYTES`], keeping head and tail
//! ([`cap_message`]), also when read from a file of any size ([`read_error_file`]).
//!
//! **Architecture invariant:** it never decides policy about processes or storage. It
//! does not choose whether a failure is the user's or the system's, whether it may be
//! retried, when a task fails, or where or how the document is written; callers decide
//! that and hand this crate the facts.
//!
//! # Example
//!
//! ```
//! use flyte_errors::{ContainerFailure, Origin, Recoverability, error_file_name};
//!
//! // A user's function raised `ValueError: bad input` (flytekit reports "USER:ValueError").
//! let failure = ContainerFailure::user(
//!     "USER:ValueError",
//!     flyte_errors::format_trace_message(
//!         "Traceback (most recent call last):\n  File \"t.py\", line 3, in f\nValueError: bad input\n",
//!         "ValueError",
//!         "bad input",
//!     ),
//! );
//! assert_eq!(failure.origin, Origin::User);
//! assert_eq!(failure.recoverability, Recoverability::NonRecoverable);
//!
//! // The message flyteidl carries for the engine and the UI.
//! let document = failure.to_error_document();
//! let error = document.error.as_ref().expect("to_error_document always sets the error");
//! assert!(error.message.starts_with("Trace:\n\n    Traceback"));
//! assert!(error.message.ends_with("Message:\n\n    ValueError: bad input"));
//!
//! // Reading a document back gives the same failure.
//! assert_eq!(ContainerFailure::from_error_document(&document), failure);
//!
//! // Without the distributed error strategy the file is always `error.pb`.
//! assert_eq!(error_file_name(false), "error.pb");
//! ```

mod cap;
mod chain;
mod failure;
mod file_name;
mod trace;

pub use cap::{ErrorFileError, MAX_MESSAGE_BYTES, cap_message, read_error_file};
pub use chain::Chain;
pub use failure::{ContainerFailure, Origin, Recoverability, codes};
pub use file_name::error_file_name;
pub use trace::format_trace_message;

/// The generated flyteidl types this crate reads and writes, in one place so that a
/// move of the generated module is a one-line change.
pub(crate) mod idl {
    pub(crate) use flyte_proto::core::{
        ContainerError, ErrorDocument, container_error::Kind, execution_error::ErrorKind,
    };
}
