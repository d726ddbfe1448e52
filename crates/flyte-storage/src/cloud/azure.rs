//! Azure Blob Storage / ADLS Gen2 (`abfs://`, `abfss://`) through azure_storage_blobs.
//!
//! Like adlfs, this talks to the blob endpoint even for `abfs://` URIs (every ADLS Gen2
//! account has one), so hierarchical-namespace and flat accounts behave the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::prelude::{MaxResults, NextMarker};
use azure_storage::{CloudLocation, ConnectionString, StorageCredentials};
use azure_storage_blobs::blob::{BlobBlockType, BlockList};
use azure_storage_blobs::prelude::{BlobServiceClient, BlockId, ClientBuilder};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use secrecy::ExposeSecret;

use super::backend::{
    BackendError, BackendResult, ByteStream, Fault, LIST_PAGE, ListPage, Listed, NewObject,
    ObjectBackend, ObjectPath, Part, PartBody, PartRules, fault_of_status, reqwest_timeout,
};
use crate::config::{AzureConfig, RetryPolicy};

/// Azure; one client per storage account, built on first use.
#[derive(Debug)]
pub(crate) struct AzureBackend {
    config: AzureConfig,
    retry: RetryPolicy,
    clients: Mutex<HashMap<Option<String>, Arc<BlobServiceClient>>>,
}

impl AzureBackend {
    pub(crate) fn new(config: AzureConfig, retry: RetryPolicy) -> Self {
        Self {
            config,
            retry,
            clients: Mutex::default(),
        }
    }

    /// The client for the account the URI names (its host) or, without one, the
    /// configured account.
    fn service(&self, object: &ObjectPath) -> BackendResult<Arc<BlobServiceClient>> {
        let account = object
            .host
            .as_deref()
            .map(|host| host.split('.').next().unwrap_or(host).to_owned());
        let mut clients = self
            .clients
            .lock()
            .expect("the client map is never poisoned");
        if let Some(client) = clients.get(&account) {
            return Ok(client.clone());
        }
        let client = Arc::new(build_client(&self.config, &self.retry, account.as_deref())?);
        clients.insert(account, client.clone());
        Ok(client)
    }

    fn blob(&self, object: &ObjectPath) -> BackendResult<azure_storage_blobs::prelude::BlobClient> {
        Ok(self
            .service(object)?
            .container_client(&object.bucket)
            .blob_client(&object.key))
    }
}

fn config_error(message: impl Into<String>) -> BackendError {
    BackendError::new(Fault::Config, message.into())
}

/// The credentials and location for `account`, in adlfs's order of precedence.
fn build_client(
    config: &AzureConfig,
    retry: &RetryPolicy,
    uri_account: Option<&str>,
) -> BackendResult<BlobServiceClient> {
    let (location, credentials) = if let Some(connection_string) = &config.connection_string {
        let parsed = ConnectionString::new(connection_string.expose_secret()).map_err(|e| {
            config_error(format!(
                "the Azure connection string (setting azure.connection_string) does not parse: {e}"
            ))
        })?;
        let credentials = parsed.storage_credentials().map_err(|e| {
            config_error(format!(
                "the Azure connection string has no usable credentials: {e}"
            ))
        })?;
        let account = parsed
            .account_name
            .map(str::to_owned)
            .or_else(|| uri_account.map(str::to_owned))
            .ok_or_else(|| config_error("the Azure connection string names no AccountName"))?;
        let location = match parsed.blob_endpoint.or(config.endpoint.as_deref()) {
            Some(uri) => CloudLocation::Custom {
                account,
                uri: uri.trim_end_matches('/').to_owned(),
            },
            None => CloudLocation::Public { account },
        };
        (location, credentials)
    } else {
        let account = uri_account
            .map(str::to_owned)
            .or_else(|| config.account_name.clone())
            .ok_or_else(|| {
                config_error(
                    "no Azure storage account: name it in the URI \
                     (abfs://container@account.dfs.core.windows.net/path) or in the \
                     setting azure.account_name",
                )
            })?;
        let credentials = if let Some(key) = &config.account_key {
            StorageCredentials::access_key(account.clone(), key.expose_secret().to_owned())
        } else if let Some(sas) = &config.sas_token {
            StorageCredentials::sas_token(sas.expose_secret().trim_start_matches('?')).map_err(
                |e| {
                    config_error(format!(
                        "the Azure SAS token (setting azure.sas_token) does not parse: {e}"
                    ))
                },
            )?
        } else if let (Some(tenant), Some(client_id), Some(secret)) =
            (&config.tenant_id, &config.client_id, &config.client_secret)
        {
            let credential = azure_identity::ClientSecretCredential::new(
                azure_core::new_http_client(),
                azure_core::authority_hosts::AZURE_PUBLIC_CLOUD.clone(),
                tenant.clone(),
                client_id.clone(),
                secret.expose_secret().to_owned(),
            );
            StorageCredentials::token_credential(Arc::new(credential))
        } else if config.anonymous {
            StorageCredentials::anonymous()
        } else {
            // Environment, workload identity, managed identity, Azure CLI: the chain
            // adlfs falls back to (DefaultAzureCredential) reads its own sources.
            let credential = azure_identity::create_default_credential()
                .map_err(|e| config_error(format!("no Azure credentials could be set up: {e}")))?;
            StorageCredentials::token_credential(credential)
        };
        let location = match &config.endpoint {
            Some(uri) => CloudLocation::Custom {
                account,
                uri: uri.trim_end_matches('/').to_owned(),
            },
            None => CloudLocation::Public { account },
        };
        (location, credentials)
    };
    // The SDK's default HTTP client has no timeouts: a stalled connection would hang
    // the transfer instead of failing and being retried.
    let http = reqwest::Client::builder()
        .connect_timeout(retry.connect_timeout)
        .read_timeout(retry.no_progress_timeout)
        .build()
        .map_err(|e| config_error(format!("cannot build the HTTP client for Azure: {e}")))?;
    Ok(ClientBuilder::with_location(location, credentials)
        .transport(azure_core::TransportOptions::new(Arc::new(http)))
        // The engine retries; the SDK's own loop would multiply attempts.
        .retry(azure_core::RetryOptions::none())
        .blob_service_client())
}

/// Sorts an SDK failure by status and Azure's error code.
fn classify(error: azure_core::Error) -> BackendError {
    let fault = match error.kind() {
        ErrorKind::HttpResponse { status, error_code } => match error_code.as_deref() {
            Some("BlobNotFound") => Fault::NotFound,
            Some("ContainerNotFound") => Fault::NoSuchBucket,
            Some(
                "AuthenticationFailed"
                | "AuthorizationFailure"
                | "AuthorizationPermissionMismatch"
                | "InsufficientAccountPermissions",
            ) => Fault::Denied,
            _ => fault_of_status(u16::from(*status)),
        },
        ErrorKind::Io => Fault::Transient,
        ErrorKind::Credential => Fault::Denied,
        _ => Fault::Other,
    };
    if let Some(timeout) = reqwest_timeout(&error) {
        return BackendError::timed_out(timeout, error);
    }
    BackendError::new(fault, error)
}

/// The headers a blob is created with (Put Blob, Put Block List): metadata
/// (`x-ms-meta-*`), content type, access tier and encryption scope.
fn creation_headers(new: NewObject<'_>) -> azure_core::Context {
    let options = new.options;
    let mut headers = encryption_headers(new);
    for (key, value) in &options.metadata {
        headers.insert(format!("x-ms-meta-{}", metadata_name(key)), value.clone());
    }
    if let Some(content_type) = new.content_type {
        headers.insert("x-ms-blob-content-type", content_type.to_owned());
    }
    if let Some(tier) = &options.azure.access_tier {
        headers.insert("x-ms-access-tier", tier.clone());
    }
    let mut context = azure_core::Context::new();
    context.insert(azure_core::CustomHeaders::from(headers));
    context
}

/// `key` as an Azure metadata name, which must be a C# identifier: every character
/// other than an ASCII letter, digit or `_` becomes `_`, and a leading digit gets a `_`
/// before it. So flytekit's `flyte-execution-project` is `flyte_execution_project` on
/// Azure (Azure refuses the name with hyphens as `InvalidMetadata`).
pub(crate) fn metadata_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) || name.is_empty() {
        name.insert(0, '_');
    }
    name
}

/// The encryption scope header, which Put Block needs as well as the requests that
/// create the blob (the SDK's builders have no setting for it on those two).
fn encryption_headers(new: NewObject<'_>) -> azure_core::headers::Headers {
    let mut headers = azure_core::headers::Headers::new();
    if let Some(scope) = &new.options.azure.encryption_scope {
        headers.insert("x-ms-encryption-scope", scope.clone());
    }
    headers
}

/// Block ids must all have the same length within a blob: a fixed-width number.
fn block_id(index: u32) -> BlockId {
    BlockId::new(Bytes::from(format!("block-{index:08}")))
}

#[async_trait]
impl ObjectBackend for AzureBackend {
    async fn head(&self, object: &ObjectPath) -> BackendResult<u64> {
        let properties = self
            .blob(object)?
            .get_properties()
            .await
            .map_err(classify)?;
        Ok(properties.blob.properties.content_length)
    }

    async fn probe_bucket(&self, object: &ObjectPath) -> BackendResult<()> {
        self.service(object)?
            .container_client(&object.bucket)
            .get_properties()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get(
        &self,
        object: &ObjectPath,
        range: Option<(u64, u64)>,
    ) -> BackendResult<ByteStream> {
        let mut request = self.blob(object)?.get();
        request = match range {
            // One request for the whole range: the SDK would otherwise split it into
            // 1 MiB requests of its own.
            Some((start, end)) => request.range(start..end).chunk_size(end - start),
            None => request.chunk_size(u64::MAX / 2),
        };
        let first = request.into_stream().next().await;
        let response = match first {
            Some(Ok(response)) => response,
            Some(Err(error)) => {
                let error = classify(error);
                // A whole-object read of an empty blob asks for an unsatisfiable range.
                if range.is_none() && error.source.to_string().contains("416") {
                    return Ok(Box::pin(futures_util::stream::empty()));
                }
                return Err(error);
            }
            None => return Ok(Box::pin(futures_util::stream::empty())),
        };
        Ok(Box::pin(response.data.map_err(|error| {
            let mut error = classify(error);
            // Mid-body failures are broken connections.
            if error.fault == Fault::Other {
                error.fault = Fault::Transient;
            }
            error
        })))
    }

    async fn put(&self, object: &ObjectPath, body: Bytes, new: NewObject<'_>) -> BackendResult<()> {
        self.blob(object)?
            .put_block_blob(body)
            .context(creation_headers(new))
            .await
            .map_err(classify)?;
        Ok(())
    }

    fn part_rules(&self) -> PartRules {
        PartRules {
            min_part: 1,
            max_parts: 50_000,
            part_multiple: 1,
            sequential: false,
            streams_from_file: false,
        }
    }

    async fn start_upload(
        &self,
        _object: &ObjectPath,
        _new: NewObject<'_>,
    ) -> BackendResult<String> {
        // Blocks need no session: they are staged under the blob and committed by list.
        Ok(String::new())
    }

    async fn upload_part(
        &self,
        object: &ObjectPath,
        _upload_id: &str,
        part: Part,
        body: PartBody,
        new: NewObject<'_>,
    ) -> BackendResult<String> {
        let body = body.into_bytes()?;
        let mut context = azure_core::Context::new();
        context.insert(azure_core::CustomHeaders::from(encryption_headers(new)));
        self.blob(object)?
            .put_block(block_id(part.index), body)
            .context(context)
            .await
            .map_err(classify)?;
        Ok(part.index.to_string())
    }

    async fn complete_upload(
        &self,
        object: &ObjectPath,
        _upload_id: &str,
        parts: Vec<String>,
        new: NewObject<'_>,
    ) -> BackendResult<()> {
        let blocks = parts
            .iter()
            .map(|index| {
                let index = index.parse().map_err(|_| {
                    BackendError::new(Fault::Other, format!("bad block index {index:?}"))
                })?;
                Ok(BlobBlockType::new_uncommitted(block_id(index)))
            })
            .collect::<BackendResult<Vec<_>>>()?;
        self.blob(object)?
            .put_block_list(BlockList { blocks })
            .context(creation_headers(new))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn abort_upload(&self, _object: &ObjectPath, _upload_id: &str) -> BackendResult<()> {
        // Uncommitted blocks are garbage-collected by the service after a week.
        Ok(())
    }

    async fn list_page(
        &self,
        prefix: &ObjectPath,
        token: Option<String>,
    ) -> BackendResult<ListPage> {
        let mut list = self
            .service(prefix)?
            .container_client(&prefix.bucket)
            .list_blobs()
            .prefix(prefix.key.clone())
            .max_results(MaxResults::new(LIST_PAGE));
        if let Some(token) = token {
            list = list.marker(NextMarker::new(token));
        }
        // The SDK's stream asks for the next page only when polled again: take one.
        let page = match list.into_stream().next().await {
            Some(page) => page.map_err(classify)?,
            None => {
                return Ok(ListPage {
                    objects: Vec::new(),
                    next: None,
                });
            }
        };
        let objects = page
            .blobs
            .blobs()
            .map(|blob| Listed {
                key: blob.name.clone(),
                size: blob.properties.content_length,
            })
            .collect();
        let next = page.next_marker.map(|marker| marker.as_str().to_owned());
        Ok(ListPage { objects, next })
    }

    async fn delete(&self, object: &ObjectPath) -> BackendResult<()> {
        self.blob(object)?.delete().await.map_err(classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_become_c_identifiers() {
        assert_eq!(
            metadata_name("flyte-execution-project"),
            "flyte_execution_project"
        );
        assert_eq!(metadata_name("team"), "team");
        assert_eq!(metadata_name("9lives.x"), "_9lives_x");
        assert_eq!(metadata_name(""), "_");
    }
}
