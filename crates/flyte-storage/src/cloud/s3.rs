//! Amazon S3 and S3-compatible stores through aws-sdk-s3.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::primitives::Length;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectCannedAcl, ServerSideEncryption, StorageClass,
};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use futures_util::stream;
use secrecy::ExposeSecret;
use tokio::sync::OnceCell;

use super::backend::{
    BackendError, BackendResult, ByteStream, Fault, LIST_PAGE, ListPage, Listed, LocalRead,
    NewObject, ObjectBackend, ObjectPath, Part, PartBody, PartRules, TimedOut, fault_of_status,
    file_shrank,
};
use super::s3_watch::WatchedClient;
use crate::config::{RetryPolicy, S3Config, S3Encryption};

/// The region used when neither the configuration nor the AWS chain names one, as
/// botocore does for S3.
const DEFAULT_REGION: &str = "us-east-1";

/// S3 through aws-sdk-s3; the client is built on first use.
#[derive(Debug)]
pub(crate) struct S3Backend {
    config: S3Config,
    retry: RetryPolicy,
    client: OnceCell<Client>,
    /// Clients for buckets that S3 said live in another region than the client's.
    regional: Mutex<HashMap<String, Client>>,
}

impl S3Backend {
    pub(crate) fn new(config: S3Config, retry: RetryPolicy) -> Self {
        Self {
            config,
            retry,
            client: OnceCell::new(),
            regional: Mutex::default(),
        }
    }

    async fn client(&self) -> BackendResult<&Client> {
        self.client
            .get_or_try_init(|| build_client(&self.config, &self.retry))
            .await
    }

    /// The client for `bucket`: the one for its own region once S3 has named it.
    async fn client_for(&self, bucket: &str) -> BackendResult<Client> {
        if let Some(client) = self.regional.lock().expect("never poisoned").get(bucket) {
            return Ok(client.clone());
        }
        Ok(self.client().await?.clone())
    }

    /// Sends a request for `bucket`; when S3 answers that the bucket lives in another
    /// region (a 301 or 400 carrying `x-amz-bucket-region`), sends it once more to that
    /// region and remembers it for the bucket, as botocore's redirect handler and
    /// s3fs's `cache_regions` do.
    async fn send<T, E, F, Fut>(&self, bucket: &str, request: F) -> BackendResult<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let client = self.client_for(bucket).await?;
        match request(client.clone()).await {
            Ok(value) => Ok(value),
            Err(error) => match bucket_region(&error) {
                Some(region)
                    if client.config().region().map(Region::as_ref) != Some(region.as_str()) =>
                {
                    tracing::debug!(bucket, region, "S3 bucket lives in another region");
                    let regional = Client::from_conf(
                        client
                            .config()
                            .to_builder()
                            .region(Region::new(region))
                            .build(),
                    );
                    self.regional
                        .lock()
                        .expect("never poisoned")
                        .insert(bucket.to_owned(), regional.clone());
                    request(regional).await.map_err(classify)
                }
                _ => Err(classify(error)),
            },
        }
    }
}

/// Sets what a new object is created with (metadata, content type, encryption, storage
/// class, ACL) on a `PutObject` or `CreateMultipartUpload` request builder: the two
/// requests that create objects take the same headers.
macro_rules! created_as {
    ($request:expr, $new:expr) => {{
        let new: NewObject<'_> = $new;
        let s3 = &new.options.s3;
        let metadata = &new.options.metadata;
        let (encryption, key_id, bucket_key) = match &s3.server_side_encryption {
            None => (None, None, None),
            Some(S3Encryption::Aes256) => (Some(ServerSideEncryption::Aes256), None, None),
            Some(S3Encryption::Kms { key_id, bucket_key }) => (
                Some(ServerSideEncryption::AwsKms),
                key_id.clone(),
                *bucket_key,
            ),
        };
        $request
            .set_metadata((!metadata.is_empty()).then(|| {
                metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
            .set_content_type(new.content_type.map(str::to_owned))
            .set_server_side_encryption(encryption)
            .set_ssekms_key_id(key_id)
            .set_bucket_key_enabled(bucket_key)
            .set_storage_class(s3.storage_class.as_deref().map(StorageClass::from))
            .set_acl(s3.acl.as_deref().map(ObjectCannedAcl::from))
    }};
}

/// The region S3 names in a wrong-region answer.
fn bucket_region<E>(error: &SdkError<E, HttpResponse>) -> Option<String> {
    let SdkError::ServiceError(service) = error else {
        return None;
    };
    let status = service.raw().status().as_u16();
    if !matches!(status, 301 | 307 | 400) {
        return None;
    }
    service
        .raw()
        .headers()
        .get("x-amz-bucket-region")
        .map(str::to_owned)
}

/// Builds the client: explicit settings first, the AWS default chain for the rest.
async fn build_client(config: &S3Config, retry: &RetryPolicy) -> BackendResult<Client> {
    // rustls with ring: the same TLS stack the GCS and Azure clients use.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(retry.connect_timeout)
        .read_timeout(retry.no_progress_timeout)
        .build();
    // The read timeout is enforced by the wrapper as a no-progress bound that request
    // bodies reset too (see `s3_watch`), not by smithy from first byte to answer.
    let watched = SharedHttpClient::new(WatchedClient::new(http_client.clone()));
    // The engine retries; the SDK's own loop would multiply attempts.
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(watched)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts);
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if config.anonymous {
        loader = loader.no_credentials();
    } else if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            id,
            secret.expose_secret(),
            config
                .session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            "flyte-storage configuration",
        ));
    } else if config.disable_instance_metadata {
        let region = match &config.region {
            Some(region) => Some(Region::new(region.clone())),
            None => {
                use aws_config::meta::region::ProvideRegion;
                aws_config::default_provider::region::default_provider()
                    .region()
                    .await
            }
        };
        let provider_config = ProviderConfig::default()
            .with_http_client(http_client)
            .with_region(region);
        loader = loader.credentials_provider(chain_without_instance_metadata(&provider_config));
    }
    let shared = loader.load().await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared);
    if shared.region().is_none() {
        builder = builder.region(Region::from_static(DEFAULT_REGION));
    }
    // Checksums only where S3 requires them: many S3-compatible stores reject the
    // trailing CRC32 chunked encoding the SDK sends by default, and computing it is a
    // second pass over every part. Integrity still rests on SigV4's payload hash.
    builder = builder
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired);
    let endpoint_set = config.endpoint.is_some() || shared.endpoint_url().is_some();
    builder = builder.force_path_style(config.force_path_style.unwrap_or(endpoint_set));
    Ok(Client::from_conf(builder.build()))
}

/// The default chain less EC2 instance metadata: environment, profile, web identity
/// (IRSA), then the ECS container endpoint.
fn chain_without_instance_metadata(provider_config: &ProviderConfig) -> CredentialsProviderChain {
    use aws_config::ecs::EcsCredentialsProvider;
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
    CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "Profile",
        ProfileFileCredentialsProvider::builder()
            .configure(provider_config)
            .build(),
    )
    .or_else(
        "WebIdentityToken",
        WebIdentityTokenCredentialsProvider::builder()
            .configure(provider_config)
            .build(),
    )
    .or_else(
        "EcsContainer",
        EcsCredentialsProvider::builder()
            .configure(provider_config)
            .build(),
    )
}

/// Sorts an SDK failure: S3's error code where there is one, else the HTTP status,
/// and connection failures and timeouts as transient.
fn classify<E>(error: SdkError<E, HttpResponse>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let fault = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            if let SdkError::DispatchFailure(failure) = &error
                && failure.is_user()
            {
                Fault::Other
            } else {
                Fault::Transient
            }
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            match service.err().code() {
                Some("NoSuchKey" | "NotFound") => Fault::NotFound,
                Some("NoSuchBucket") => Fault::NoSuchBucket,
                Some(
                    "AccessDenied"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "InvalidToken"
                    | "AllAccessDisabled"
                    | "AccountProblem",
                ) => Fault::Denied,
                Some(
                    "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestTimeout"
                    | "InternalError"
                    | "ServiceUnavailable",
                ) => Fault::Transient,
                _ => fault_of_status(status),
            }
        }
        // No credentials found, a bad endpoint URL and the like.
        SdkError::ConstructionFailure(_) => Fault::Other,
        _ => Fault::Other,
    };
    // `DisplayErrorContext` walks the whole chain: the SDK's top-level message alone
    // ("service error") says nothing.
    let message = aws_sdk_s3::error::DisplayErrorContext(&error).to_string();
    let timed_out = match &error {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_timeout(),
        _ => false,
    };
    if timed_out {
        // The smithy client's connect and read timeouts are one error kind; only their
        // message ("HTTP connect timeout occurred after …") tells them apart.
        let timeout = if message.contains("connect timeout") {
            TimedOut::Connect
        } else {
            TimedOut::Read
        };
        return BackendError::timed_out(timeout, message);
    }
    BackendError::new(fault, message)
}

#[async_trait]
impl ObjectBackend for S3Backend {
    async fn head(&self, object: &ObjectPath) -> BackendResult<u64> {
        let head = self
            .send(&object.bucket, |client| {
                client
                    .head_object()
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .send()
            })
            .await?;
        Ok(head.content_length().unwrap_or(0).max(0) as u64)
    }

    async fn probe_bucket(&self, object: &ObjectPath) -> BackendResult<()> {
        // Needs s3:ListBucket, as does telling a missing key from a refused one: without
        // it S3 answers 403 to a HEAD of a missing key.
        self.send(&object.bucket, |client| {
            client.head_bucket().bucket(&object.bucket).send()
        })
        .await?;
        Ok(())
    }

    async fn get(
        &self,
        object: &ObjectPath,
        range: Option<(u64, u64)>,
    ) -> BackendResult<ByteStream> {
        let range = range.map(|(start, end)| {
            if end == u64::MAX {
                format!("bytes={start}-")
            } else {
                format!("bytes={start}-{}", end - 1)
            }
        });
        let response = self
            .send(&object.bucket, |client| {
                client
                    .get_object()
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .set_range(range.clone())
                    .send()
            })
            .await?;
        let body = response.body;
        Ok(Box::pin(stream::try_unfold(body, |mut body| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, body))),
                Ok(None) => Ok(None),
                // A body that breaks off mid-way is a broken connection.
                Err(error) => Err(BackendError::new(Fault::Transient, error)),
            }
        })))
    }

    async fn put(&self, object: &ObjectPath, body: Bytes, new: NewObject<'_>) -> BackendResult<()> {
        self.send(&object.bucket, |client| {
            created_as!(client.put_object(), new)
                .bucket(&object.bucket)
                .key(&object.key)
                .body(SdkByteStream::from(body.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    fn part_rules(&self) -> PartRules {
        PartRules {
            min_part: 5 * 1024 * 1024,
            max_parts: 10_000,
            part_multiple: 1,
            sequential: false,
            streams_from_file: true,
        }
    }

    async fn start_upload(&self, object: &ObjectPath, new: NewObject<'_>) -> BackendResult<String> {
        let created = self
            .send(&object.bucket, |client| {
                created_as!(client.create_multipart_upload(), new)
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .send()
            })
            .await?;
        created.upload_id.ok_or_else(|| {
            BackendError::new(Fault::Other, "S3 started a multipart upload without an id")
        })
    }

    async fn upload_part(
        &self,
        object: &ObjectPath,
        upload_id: &str,
        part: Part,
        body: PartBody,
        _new: NewObject<'_>,
    ) -> BackendResult<String> {
        let body = match body {
            PartBody::Bytes(bytes) => SdkBody::from(bytes),
            PartBody::File { path, offset, len } => file_range(path, offset, len).await?,
        };
        let uploaded = self
            .send(&object.bucket, |client| {
                client
                    .upload_part()
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .upload_id(upload_id)
                    .part_number(part.index as i32 + 1)
                    .body(SdkByteStream::new(
                        body.try_clone()
                            .expect("in-memory and file bodies are retryable"),
                    ))
                    .send()
            })
            .await?;
        uploaded
            .e_tag
            .ok_or_else(|| BackendError::new(Fault::Other, "S3 accepted a part without an ETag"))
    }

    async fn complete_upload(
        &self,
        object: &ObjectPath,
        upload_id: &str,
        parts: Vec<String>,
        _new: NewObject<'_>,
    ) -> BackendResult<()> {
        let parts: Vec<CompletedPart> = parts
            .into_iter()
            .enumerate()
            .map(|(index, e_tag)| {
                CompletedPart::builder()
                    .part_number(index as i32 + 1)
                    .e_tag(e_tag)
                    .build()
            })
            .collect();
        // S3 assembles the object before it answers (sending only whitespace, if
        // anything), which takes minutes for a large object on a slow store: measured,
        // 10 GiB on s3s-fs outlasted the 60 s read timeout, and the retry found the
        // upload gone. So completion waits for the whole attempt timeout instead.
        let patient = aws_sdk_s3::config::Builder::default().timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(self.retry.connect_timeout)
                .read_timeout(self.retry.attempt_timeout)
                .build(),
        );
        self.send(&object.bucket, |client| {
            client
                .complete_multipart_upload()
                .bucket(&object.bucket)
                .key(&object.key)
                .upload_id(upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts.clone()))
                        .build(),
                )
                .customize()
                .config_override(patient.clone())
                .send()
        })
        .await?;
        Ok(())
    }

    async fn abort_upload(&self, object: &ObjectPath, upload_id: &str) -> BackendResult<()> {
        self.send(&object.bucket, |client| {
            client
                .abort_multipart_upload()
                .bucket(&object.bucket)
                .key(&object.key)
                .upload_id(upload_id)
                .send()
        })
        .await?;
        Ok(())
    }

    async fn list_page(
        &self,
        prefix: &ObjectPath,
        token: Option<String>,
    ) -> BackendResult<ListPage> {
        let page = self
            .send(&prefix.bucket, |client| {
                client
                    .list_objects_v2()
                    .bucket(&prefix.bucket)
                    .prefix(&prefix.key)
                    .max_keys(LIST_PAGE.get() as i32)
                    .set_continuation_token(token.clone())
                    .send()
            })
            .await?;
        let objects = page
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|object| {
                Some(Listed {
                    key: object.key?,
                    size: object.size.unwrap_or(0).max(0) as u64,
                })
            })
            .collect();
        let next = page
            .next_continuation_token
            .filter(|_| page.is_truncated == Some(true));
        Ok(ListPage { objects, next })
    }

    async fn delete(&self, object: &ObjectPath) -> BackendResult<()> {
        self.send(&object.bucket, |client| {
            client
                .delete_object()
                .bucket(&object.bucket)
                .key(&object.key)
                .send()
        })
        .await?;
        Ok(())
    }
}

/// How much of a streamed part is read from its file at a time: a few of these per part
/// in flight are all the memory it holds.
const FILE_READ: usize = 256 * 1024;

/// A request body of `len` bytes at `offset` of the file at `path`, read as it is sent
/// and afresh each time the body is cloned (the SDK's file body opens the file per
/// clone). Its length is exact: a file now shorter than the range, or gone, is a
/// [`LocalRead`] failure, final.
async fn file_range(path: PathBuf, offset: u64, len: u64) -> BackendResult<SdkBody> {
    let stream = SdkByteStream::read_from()
        .path(&path)
        .offset(offset)
        .length(Length::Exact(len))
        .buffer_size(FILE_READ)
        .build()
        .await
        .map_err(|error| {
            let io = std::error::Error::source(&error)
                .and_then(|source| source.downcast_ref::<std::io::Error>());
            let error = match io {
                // Opening or reading the file's metadata failed (it vanished, say).
                Some(io) => std::io::Error::new(io.kind(), io.to_string()),
                // The SDK's own check: the file is now shorter than the range.
                None => file_shrank(offset + len),
            };
            BackendError::local_file(LocalRead(error))
        })?;
    Ok(stream.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stand-in for S3 that keeps the bucket in eu-west-1: requests signed for any
    /// other region get a 301 naming it, as S3 answers; requests for eu-west-1 find a
    /// 5-byte object. Returns the endpoint and the count of requests per region.
    async fn bucket_in_eu_west_1() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let (wrong, right) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let counters = (wrong.clone(), right.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (wrong, right) = counters.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0; 4096];
                    while let Ok(n) = socket.read(&mut buffer).await {
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buffer[..n]);
                        let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
                        request.drain(..end + 4);
                        let answer = if head.contains("/eu-west-1/s3/aws4_request") {
                            right.fetch_add(1, Ordering::SeqCst);
                            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
                        } else {
                            wrong.fetch_add(1, Ordering::SeqCst);
                            "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: eu-west-1\r\n\
                             content-length: 0\r\n\r\n"
                        };
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (endpoint, wrong, right)
    }

    #[tokio::test]
    async fn a_bucket_in_another_region_is_reached_by_following_s3s_hint_once() {
        let (endpoint, wrong, right) = bucket_in_eu_west_1().await;
        let backend = S3Backend::new(
            S3Config {
                endpoint: Some(endpoint),
                region: Some("us-east-1".to_owned()),
                access_key_id: Some("AKIDEXAMPLE".to_owned()),
                secret_access_key: Some(SecretString::from("secret")),
                disable_instance_metadata: true,
                ..S3Config::default()
            },
            RetryPolicy::default(),
        );
        let object = ObjectPath {
            bucket: "bucket".to_owned(),
            key: "key".to_owned(),
            host: None,
        };
        assert_eq!(backend.head(&object).await.expect("head"), 5);
        assert_eq!(backend.head(&object).await.expect("head"), 5);
        assert_eq!(wrong.load(Ordering::SeqCst), 1, "redirected once");
        assert_eq!(
            right.load(Ordering::SeqCst),
            2,
            "then straight to eu-west-1"
        );
    }

    #[test]
    fn s3_error_codes_sort_into_faults() {
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_sdk_s3::operation::get_object::GetObjectError;
        use aws_sdk_s3::primitives::SdkBody;
        let service_error = |status: u16, code: &str| {
            let response =
                HttpResponse::new(status.try_into().expect("a valid status"), SdkBody::empty());
            let error = GetObjectError::generic(ErrorMetadata::builder().code(code).build());
            classify(SdkError::service_error(error, response)).fault
        };
        assert_eq!(service_error(404, "NoSuchKey"), Fault::NotFound);
        assert_eq!(service_error(404, "NoSuchBucket"), Fault::NoSuchBucket);
        assert_eq!(service_error(403, "AccessDenied"), Fault::Denied);
        assert_eq!(service_error(403, "SignatureDoesNotMatch"), Fault::Denied);
        assert_eq!(service_error(503, "SlowDown"), Fault::Transient);
        assert_eq!(service_error(500, "InternalError"), Fault::Transient);
        assert_eq!(service_error(400, "InvalidArgument"), Fault::Other);
    }
}
