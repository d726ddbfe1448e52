//! The outcome flytekit left in the worker's staging directory.
//!
//! The worker runs flytekit's `_dispatch_execute` with a local staging directory as its
//! output prefix, so flytekit writes outputs.pb, futures.pb, the error document and
//! offloaded literals there; the supervisor reads them back as a [`TaskOutcome`] and the
//! pipeline writes them where they belong.

use std::collections::BTreeMap;
use std::path::Path;

use flyte_proto::files::{FUTURES_FILE, OUTPUTS_FILE};
use flyte_proto::wire::{self, Limits};
use flyte_runtime::{Payload, TaskOutcome, TaskOutputs};

/// Why flytekit's staged files cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StagedError {
    /// A staged file is not the message its name says.
    #[error("flytekit's staged {file} is not a valid {message}")]
    Invalid {
        file: String,
        message: &'static str,
        #[source]
        source: wire::WireError,
    },
    /// The staged error document cannot be read.
    #[error(transparent)]
    ErrorFile(#[from] flyte_errors::ErrorFileError),
    /// outputs.pb could not be read to point its references at the offloaded files.
    #[error("could not read flytekit's staged outputs.pb")]
    Read(#[source] std::io::Error),
}

/// Turns flytekit's staged `files` (names in `staging_dir`) into an outcome.
///
/// Nothing is decoded: each file is checked as a stream and handed to the pipeline as
/// a file to upload, except an error document (read with its message capped) and,
/// when literals were offloaded, outputs.pb: flytekit names an offloaded literal by the
/// output prefix it was given, here the staging directory
/// (`<staging_dir>/o0_offloaded_metadata.pb`), and such URIs become the bare file name,
/// which [`TaskOutputs::offloaded`] documents as a reference the pipeline resolves.
pub(crate) fn staged_outcome(
    staging_dir: &Path,
    files: &[String],
) -> Result<TaskOutcome, StagedError> {
    if let Some(error_file) = files
        .iter()
        .find(|f| f.starts_with("error") && f.ends_with(".pb"))
    {
        let failure = flyte_errors::read_error_file(&staging_dir.join(error_file))?;
        return Ok(TaskOutcome::Failed(failure));
    }
    let checked = |name: &str, message: &'static str| {
        let path = staging_dir.join(name);
        wire::check_file(&path, message, Limits::default())
            .map(|()| Payload::File(path))
            .map_err(|source| StagedError::Invalid {
                file: name.to_owned(),
                message,
                source,
            })
    };
    if files.iter().any(|f| f == FUTURES_FILE) {
        return Ok(TaskOutcome::DynamicJob(checked(
            FUTURES_FILE,
            "flyteidl.core.DynamicJobSpec",
        )?));
    }
    if files.iter().any(|f| f == OUTPUTS_FILE) {
        let mut offloaded = BTreeMap::new();
        for name in files.iter().filter(|f| f.ends_with(OFFLOADED_SUFFIX)) {
            offloaded.insert(name.clone(), checked(name, "flyteidl.core.Literal")?);
        }
        let mut outputs = checked(OUTPUTS_FILE, "flyteidl.core.LiteralMap")?;
        if !offloaded.is_empty() {
            let bytes = outputs.to_bytes().map_err(StagedError::Read)?;
            let staged_prefix = format!("{}/", staging_dir.display());
            let rewritten = wire::rewrite_offloaded_uris(&bytes, |uri| {
                uri.strip_prefix(&staged_prefix)
                    .filter(|name| offloaded.contains_key(*name))
                    .map(str::to_owned)
            })
            .map_err(|source| StagedError::Invalid {
                file: OUTPUTS_FILE.to_owned(),
                message: "flyteidl.core.LiteralMap",
                source,
            })?;
            outputs = Payload::Bytes(rewritten);
        }
        return Ok(TaskOutcome::Outputs(TaskOutputs { outputs, offloaded }));
    }
    Ok(TaskOutcome::IgnoreOutputs)
}

/// How flytekit names an offloaded literal's file: `<output name>_offloaded_metadata.pb`.
const OFFLOADED_SUFFIX: &str = "_offloaded_metadata.pb";

#[cfg(test)]
mod tests {
    use flyte_errors::ContainerFailure;
    use flyte_proto::Message;
    use flyte_proto::core::LiteralMap;
    use flyte_proto::literal;

    use super::*;

    #[test]
    fn offloaded_literals_come_back_by_file_name_for_the_pipeline_to_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staged = format!("{}/o0_offloaded_metadata.pb", dir.path().display());
        let outputs = literal::literal_map([("o0", literal::offloaded(&staged, 2, None))]);
        flyte_proto::io::write_literal_map(dir.path().join("outputs.pb"), &outputs).expect("write");
        flyte_proto::io::write_message(&staged, &literal::integer(5)).expect("write");
        let files = [
            "o0_offloaded_metadata.pb".to_owned(),
            "outputs.pb".to_owned(),
        ];
        let TaskOutcome::Outputs(TaskOutputs { outputs, offloaded }) =
            staged_outcome(dir.path(), &files).expect("staged")
        else {
            panic!("outputs expected")
        };
        let outputs = LiteralMap::decode(&outputs.to_bytes().expect("bytes")[..]).expect("decode");
        assert_eq!(
            outputs.literals["o0"]
                .as_offloaded()
                .expect("offloaded")
                .uri,
            "o0_offloaded_metadata.pb"
        );
        assert_eq!(
            offloaded["o0_offloaded_metadata.pb"],
            Payload::File(dir.path().join("o0_offloaded_metadata.pb"))
        );
    }

    #[test]
    fn outputs_without_offloading_are_handed_on_as_the_staged_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outputs = literal::literal_map([("o0", literal::integer(1))]);
        flyte_proto::io::write_literal_map(dir.path().join("outputs.pb"), &outputs).expect("write");
        let outcome = staged_outcome(dir.path(), &["outputs.pb".to_owned()]).expect("staged");
        assert_eq!(
            outcome,
            TaskOutcome::Outputs(TaskOutputs {
                outputs: Payload::File(dir.path().join("outputs.pb")),
                offloaded: Default::default(),
            })
        );
    }

    #[test]
    fn a_corrupt_staged_outputs_pb_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("outputs.pb"), b"\x0a\xff").expect("write");
        let error = staged_outcome(dir.path(), &["outputs.pb".to_owned()]).expect_err("corrupt");
        assert!(error.to_string().contains("outputs.pb"), "{error}");
    }

    #[test]
    fn an_error_document_wins_over_everything_else_staged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let failure = ContainerFailure::user("USER:ValueError", "bad");
        flyte_proto::io::write_error_document(
            dir.path().join("error.pb"),
            &failure.to_error_document(),
        )
        .expect("write");
        let files = ["error.pb".to_owned(), "outputs.pb".to_owned()];
        let outcome = staged_outcome(dir.path(), &files).expect("staged");
        assert_eq!(
            outcome.failure().map(|f| f.code.as_str()),
            Some("USER:ValueError")
        );
    }

    #[test]
    fn nothing_staged_means_ignore_outputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            staged_outcome(dir.path(), &[]).expect("staged"),
            TaskOutcome::IgnoreOutputs
        );
    }
}
