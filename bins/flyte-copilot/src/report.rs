//! Failures and the error document: what went wrong, whose fault it was, and how it
//! reaches propeller (`error.pb` under the output prefix) and the exit status.

use flyte_errors::{Chain, ContainerFailure, Origin, Recoverability};
use flyte_storage::{Storage, join};

/// Error codes this binary writes. flytecopilot's two stay for system failures, so
/// dashboards keyed on them keep working; user failures get `USER:` codes, as flytekit's do.
pub mod codes {
    /// The download of inputs failed (flytecopilot's code).
    pub const INPUT_DOWNLOAD_FAILED: &str = "InputDownloadFailed";
    /// The upload of outputs failed (flytecopilot's code).
    pub const OUTPUT_UPLOAD_FAILED: &str = "OutputUploadFailed";
    /// The task wrote `_ERROR`: the message is the user's.
    pub const CONTAINER_ERROR: &str = "USER:ContainerError";
    /// An output the interface declares is not in the local directory.
    pub const MISSING_OUTPUT: &str = "USER:MissingOutput";
    /// An output's file is not what its type asks for.
    pub const INVALID_OUTPUT: &str = "USER:InvalidOutput";
}

/// How the process ends.
pub mod exit {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// A failure, reported in the error document.
    pub const FAILED: u8 = 1;
    /// A usage error (a flag missing or malformed); clap's own status.
    pub const USAGE: u8 = 2;
    /// A failure that could not be reported: the error document could not be written.
    pub const UNREPORTED: u8 = 3;
}

/// One failed run: the error and who is to blame.
#[derive(Debug)]
pub struct Fault {
    /// The error code of the document.
    pub code: &'static str,
    /// Whose fault it was.
    pub origin: Origin,
    /// Whether a retry may help.
    pub recoverability: Recoverability,
    /// What went wrong, with its causes.
    pub error: anyhow::Error,
}

impl Fault {
    /// A platform failure a retry may fix (storage, network, timeouts).
    pub fn system(code: &'static str, error: impl Into<anyhow::Error>) -> Self {
        Fault {
            code,
            origin: Origin::System,
            recoverability: Recoverability::Recoverable,
            error: error.into(),
        }
    }

    /// A platform failure a retry cannot fix (a corrupt inputs.pb, a bad interface flag).
    pub fn fatal(code: &'static str, error: impl Into<anyhow::Error>) -> Self {
        Fault {
            recoverability: Recoverability::NonRecoverable,
            ..Fault::system(code, error)
        }
    }

    /// The task's own failure: what it wrote, or did not write.
    pub fn user(code: &'static str, error: impl Into<anyhow::Error>) -> Self {
        Fault {
            code,
            origin: Origin::User,
            recoverability: Recoverability::NonRecoverable,
            error: error.into(),
        }
    }

    /// The failure as the error document states it.
    pub fn failure(&self) -> ContainerFailure {
        let message = Chain(self.error.as_ref()).to_string();
        ContainerFailure {
            code: self.code.to_owned(),
            recoverability: self.recoverability,
            origin: self.origin,
            ..ContainerFailure::user(self.code, message)
        }
    }
}

/// Writes `fault`'s error document as `<output_prefix>/<name>`; the exit status that
/// tells what happened.
pub async fn report(
    storage: &Storage,
    output_prefix: Option<&str>,
    name: &str,
    fault: &Fault,
) -> u8 {
    let failure = fault.failure();
    tracing::error!(code = fault.code, "{}", failure.message);
    let Some(prefix) = output_prefix.filter(|prefix| !prefix.is_empty()) else {
        tracing::error!("no output prefix was given, so no error document could be written");
        return exit::UNREPORTED;
    };
    let uri = join(prefix, name);
    let bytes = flyte_proto::io::encode(&failure.to_error_document());
    match storage.put_bytes(&uri, bytes).await {
        Ok(()) => {
            tracing::info!(%uri, "wrote the error document");
            exit::FAILED
        }
        Err(error) => {
            tracing::error!(%uri, "could not write the error document: {}", Chain(&error));
            exit::UNREPORTED
        }
    }
}
