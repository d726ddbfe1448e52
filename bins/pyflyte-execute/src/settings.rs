//! What this binary adds to the library crates' settings, which flyte-settings maps from
//! the one [`FlyteConfig`](flyte_config::FlyteConfig) loaded at start-up: the
//! environment variables behind a storage setting an error names, for the message the
//! user reads.

/// Where the storage settings a flyte-storage error names (by field, `azure.account_name`)
/// come from in this binary's environment, for the message the user reads: the library
/// reads no environment, so only the binary can say which variable to set. Empty when
/// `error`'s chain names none.
pub fn storage_setting_sources(error: &anyhow::Error) -> String {
    /// Each setting `storage_config` fills from the environment, and its variables.
    const SOURCES: &[(&str, &str)] = &[
        ("azure.connection_string", "AZURE_STORAGE_CONNECTION_STRING"),
        (
            "azure.account_name",
            "FLYTE_AZURE_STORAGE_ACCOUNT_NAME or AZURE_STORAGE_ACCOUNT_NAME",
        ),
        ("azure.sas_token", "AZURE_STORAGE_SAS_TOKEN"),
        ("gcs.endpoint", "STORAGE_EMULATOR_HOST"),
    ];
    let named: Vec<String> = error
        .chain()
        .filter_map(
            |cause| match cause.downcast_ref::<flyte_storage::StorageError>() {
                Some(flyte_storage::StorageError::Config { reason, .. }) => Some(reason.as_str()),
                _ => None,
            },
        )
        .flat_map(|reason| {
            SOURCES
                .iter()
                .filter(move |(setting, _)| reason.contains(setting))
                .map(|(setting, variables)| format!("{setting} is set by {variables}"))
        })
        .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!(" ({})", named.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_setting_named_by_an_error_is_told_by_its_variables() {
        let error = anyhow::Error::new(flyte_storage::StorageError::Config {
            uri: "abfs://c/p".to_owned(),
            reason: "no Azure storage account: name it in the URI or in the setting \
                     azure.account_name"
                .to_owned(),
        })
        .context("uploading the outputs");
        assert_eq!(
            storage_setting_sources(&error),
            " (azure.account_name is set by FLYTE_AZURE_STORAGE_ACCOUNT_NAME or \
             AZURE_STORAGE_ACCOUNT_NAME)"
        );
        assert_eq!(storage_setting_sources(&anyhow::anyhow!("other")), "");
    }
}
