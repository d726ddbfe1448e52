//! The outcome flytekit left in the worker's staging directory.
//!
//! The worker runs flytekit's `_dispatch_execute` with a local staging directory as its
//! output prefix, so flytekit writes outputs.pb, futures.pb, the error document and
//! offloaded literals there; the supervisor reads them back as a [`TaskOutcome`] and the
//! pipeline writes them where they belong.

use std::collections::BTreeMap;
use std::path::Path;

use flyte_errors::ContainerFailure;
use flyte_proto::visit::UriKind;
use flyte_runtime::TaskOutcome;

/// Turns flytekit's staged `files` (names in `staging_dir`) into an outcome.
///
/// flytekit names an offloaded literal by the output prefix it was given, here the
/// staging directory (`<staging_dir>/o0_offloaded_metadata.pb`); such URIs become the
/// bare file name, which [`TaskOutcome::Outputs`] documents as a reference the pipeline
/// resolves.
pub(crate) fn staged_outcome(
    staging_dir: &Path,
    files: &[String],
) -> Result<TaskOutcome, flyte_proto::ProtoError> {
    if let Some(error_file) = files
        .iter()
        .find(|f| f.starts_with("error") && f.ends_with(".pb"))
    {
        let document = flyte_proto::io::read_error_document(staging_dir.join(error_file))?;
        return Ok(TaskOutcome::Failed(ContainerFailure::from_error_document(
            &document,
        )));
    }
    if files.iter().any(|f| f == FUTURES_FILE) {
        return Ok(TaskOutcome::DynamicJob(
            flyte_proto::io::read_dynamic_job_spec(staging_dir.join(FUTURES_FILE))?,
        ));
    }
    if files.iter().any(|f| f == OUTPUTS_FILE) {
        let mut outputs = flyte_proto::io::read_literal_map(staging_dir.join(OUTPUTS_FILE))?;
        let mut offloaded = BTreeMap::new();
        for name in files.iter().filter(|f| f.ends_with(OFFLOADED_SUFFIX)) {
            let literal = flyte_proto::io::read_message(staging_dir.join(name))?;
            offloaded.insert(name.clone(), literal);
        }
        let staged_prefix = format!("{}/", staging_dir.display());
        flyte_proto::visit::rewrite_uris(&mut outputs, |kind, uri| match kind {
            UriKind::OffloadedLiteral => uri
                .strip_prefix(&staged_prefix)
                .filter(|name| offloaded.contains_key(*name))
                .map(str::to_owned),
            _ => None,
        });
        return Ok(TaskOutcome::Outputs { outputs, offloaded });
    }
    Ok(TaskOutcome::IgnoreOutputs)
}

/// flytekit's name for the outputs file.
const OUTPUTS_FILE: &str = "outputs.pb";
/// flytekit's name for a dynamic task's job spec.
const FUTURES_FILE: &str = "futures.pb";
/// How flytekit names an offloaded literal's file: `<output name>_offloaded_metadata.pb`.
const OFFLOADED_SUFFIX: &str = "_offloaded_metadata.pb";

#[cfg(test)]
mod tests {
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
        let TaskOutcome::Outputs { outputs, offloaded } =
            staged_outcome(dir.path(), &files).expect("staged")
        else {
            panic!("outputs expected")
        };
        assert_eq!(
            outputs.literals["o0"]
                .as_offloaded()
                .expect("offloaded")
                .uri,
            "o0_offloaded_metadata.pb"
        );
        assert_eq!(offloaded["o0_offloaded_metadata.pb"].as_integer(), Some(5));
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
