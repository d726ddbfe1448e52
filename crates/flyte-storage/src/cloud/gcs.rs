//! Google Cloud Storage: reads and single-request writes through the
//! google-cloud-storage crate; metadata requests (object size, listing, deletion) and
//! resumable uploads through a small JSON API path.
//!
//! Why two paths (see docs/storage.md for the evidence):
//! - google-cloud-storage 1.x's `StorageControl` client (get, list and delete objects)
//!   speaks gRPC only, and fake-gcs-server, the emulator the tests run against, serves
//!   no gRPC.
//! - The crate sends `Host: storage.googleapis.com` to every endpoint, custom ones
//!   included, and fake-gcs-server builds a resumable upload's session URL from the
//!   Host header, so the crate's resumable uploads go to the real
//!   `storage.googleapis.com` instead of the emulator.
//!
//! The JSON API requests here are authenticated with the same credentials object the
//! crate uses, so production (ADC) and the emulator (anonymous) behave alike. Resumable
//! uploads are what gcsfs does too: a session, then chunks of a multiple of 256 KiB in
//! order, the last one naming the total size.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream;
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_storage::client::Storage as GcsClient;
use google_cloud_storage::model_ext::ReadRange;
use tokio::sync::OnceCell;

use super::backend::{
    BackendError, BackendResult, ByteStream, Fault, LIST_PAGE, ListPage, Listed, NewObject,
    ObjectBackend, ObjectPath, Part, PartBody, PartRules, fault_of_status, reqwest_timeout,
};
use crate::config::{GcsConfig, RetryPolicy};

const PRODUCTION_ENDPOINT: &str = "https://storage.googleapis.com";

/// Everything built on first use.
#[derive(Debug)]
struct Clients {
    storage: GcsClient,
    credentials: Credentials,
    http: reqwest::Client,
    endpoint: url::Url,
}

/// GCS; clients are built on first use.
#[derive(Debug)]
pub(crate) struct GcsBackend {
    config: GcsConfig,
    retry: RetryPolicy,
    clients: OnceCell<Clients>,
    /// Resumable sessions whose last chunk failed: before sending again, ask the
    /// service how much of the object it holds.
    interrupted: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl GcsBackend {
    pub(crate) fn new(config: GcsConfig, retry: RetryPolicy) -> Self {
        Self {
            config,
            retry,
            clients: OnceCell::new(),
            interrupted: std::sync::Mutex::default(),
        }
    }

    async fn clients(&self) -> BackendResult<&Clients> {
        self.clients
            .get_or_try_init(|| build_clients(&self.config, &self.retry))
            .await
    }
}

/// The object resource a resumable upload session starts with: what the object is
/// created with, as the JSON API names it.
fn resumable_resource(new: NewObject<'_>) -> serde_json::Value {
    let mut resource = serde_json::Map::new();
    let options = new.options;
    if !options.metadata.is_empty() {
        resource.insert("metadata".into(), serde_json::json!(options.metadata));
    }
    if let Some(content_type) = new.content_type {
        resource.insert("contentType".into(), content_type.into());
    }
    if let Some(class) = &options.gcs.storage_class {
        resource.insert("storageClass".into(), class.as_str().into());
    }
    serde_json::Value::Object(resource)
}

/// The endpoint as a URL: `STORAGE_EMULATOR_HOST` values may lack a scheme, which
/// gcsfs then takes to be `http://`.
fn endpoint_url(config: &GcsConfig) -> BackendResult<url::Url> {
    let text = match config.endpoint.as_deref() {
        None => PRODUCTION_ENDPOINT.to_owned(),
        Some(e) if e.contains("://") => e.trim_end_matches('/').to_owned(),
        Some(e) => format!("http://{}", e.trim_end_matches('/')),
    };
    url::Url::parse(&text).map_err(|e| {
        BackendError::new(
            Fault::Config,
            format!("the GCS endpoint {text:?} (setting gcs.endpoint) is not a URL: {e}"),
        )
    })
}

/// Anonymous when asked; otherwise Application Default Credentials, falling back to
/// anonymous when they yield no token, as gcsfs does (it tries `google_default`, then
/// the metadata server, then `anon`).
///
/// The check fetches a token once: google-cloud-auth, finding no credentials file,
/// settles on the metadata server without asking it, so only a first token tells
/// whether ADC found anything. On GKE or GCE that token is needed anyway.
async fn credentials(config: &GcsConfig) -> Credentials {
    use google_cloud_auth::credentials::{Builder, anonymous};
    if config.anonymous {
        return anonymous::Builder::new().build();
    }
    let mut builder = Builder::default();
    if let Some(project) = &config.project {
        builder = builder.with_quota_project_id(project.clone());
    }
    let failure = match builder.build() {
        Ok(credentials) => {
            let probe = tokio::time::timeout(
                ADC_PROBE_TIMEOUT,
                credentials.headers(http::Extensions::new()),
            )
            .await;
            match probe {
                Ok(Ok(_)) => return credentials,
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no token within {ADC_PROBE_TIMEOUT:?}"),
            }
        }
        Err(error) => error.to_string(),
    };
    tracing::warn!(
        error = %crate::redact::redact(&failure),
        "Google Application Default Credentials yield no token; using anonymous access, as gcsfs does"
    );
    anonymous::Builder::new().build()
}

/// How long the first ADC token may take before access falls back to anonymous.
const ADC_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn build_clients(config: &GcsConfig, retry: &RetryPolicy) -> BackendResult<Clients> {
    // Both HTTP stacks use rustls without a built-in crypto provider: ring it is, the
    // one the S3 and Azure clients use too. Installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let endpoint = endpoint_url(config)?;
    let credentials = credentials(config).await;
    let storage = GcsClient::builder()
        .with_endpoint(endpoint.as_str().trim_end_matches('/'))
        .with_credentials(credentials.clone())
        // The engine retries; the crate's own loop would multiply attempts.
        .with_retry_policy(google_cloud_gax::retry_policy::NeverRetry)
        // Every write through the crate is one request, whatever its size: the crate's
        // resumable uploads go to the Host it sends (see the module doc), so objects
        // above a chunk go through `start_upload` here instead, and `put` (whole
        // buffers: outputs.pb, offloaded literals) must never switch to them.
        .with_resumable_upload_threshold(usize::MAX)
        .build()
        .await
        .map_err(|e| BackendError::new(Fault::Config, e))?;
    let http = reqwest::Client::builder()
        .connect_timeout(retry.connect_timeout)
        .read_timeout(retry.no_progress_timeout)
        .build()
        .map_err(|e| BackendError::new(Fault::Config, e))?;
    Ok(Clients {
        storage,
        credentials,
        http,
        endpoint,
    })
}

/// `projects/_/buckets/<bucket>`, as the crate names buckets.
fn bucket_name(bucket: &str) -> String {
    format!("projects/_/buckets/{bucket}")
}

/// Sorts a failure of the crate.
fn classify(error: google_cloud_storage::Error) -> BackendError {
    let fault = if let Some(status) = error.http_status_code() {
        fault_of_status(status)
    } else if error.is_timeout() || error.is_io() || error.is_connect() || error.is_transport() {
        Fault::Transient
    } else if error.is_authentication() {
        Fault::Denied
    } else {
        Fault::Other
    };
    if let Some(timeout) = reqwest_timeout(&error) {
        return BackendError::timed_out(timeout, error);
    }
    BackendError::new(fault, error)
}

/// Sorts a failure of a JSON API request.
fn classify_http(error: reqwest::Error) -> BackendError {
    let fault = match error.status() {
        Some(status) => fault_of_status(status.as_u16()),
        None if error.is_timeout() || error.is_connect() || error.is_request() => Fault::Transient,
        None => Fault::Other,
    };
    if let Some(timeout) = reqwest_timeout(&error) {
        return BackendError::timed_out(timeout, error);
    }
    BackendError::new(fault, error)
}

impl Clients {
    /// `<endpoint>/storage/v1/b/<bucket>/o[/<object>]`, each segment percent-encoded.
    fn objects_url(&self, bucket: &str, object: Option<&str>) -> url::Url {
        let mut url = self.endpoint.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .expect("an http(s) URL has path segments");
            segments
                .pop_if_empty()
                .extend(["storage", "v1", "b", bucket, "o"]);
            if let Some(object) = object {
                segments.push(object);
            }
        }
        url
    }

    /// Sends a JSON API request with the credentials' headers; a failure status is an
    /// error carrying the response's message.
    async fn send(&self, request: reqwest::RequestBuilder) -> BackendResult<reqwest::Response> {
        let headers = match self
            .credentials
            .headers(http::Extensions::new())
            .await
            .map_err(|e| BackendError::new(Fault::Denied, e))?
        {
            CacheableResource::New { data, .. } => data,
            CacheableResource::NotModified => http::HeaderMap::new(),
        };
        let response = request
            .headers(headers)
            .send()
            .await
            .map_err(classify_http)?;
        let status = response.status();
        // 308 "Resume Incomplete" acknowledges a resumable-upload chunk that is not the
        // last; no other request here gets it.
        if status.is_success() || status.as_u16() == 308 {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(BackendError::new(
            fault_of_status(status.as_u16()),
            format!("GCS answered {status}: {}", body.trim()),
        ))
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> BackendResult<serde_json::Value> {
        let body = self
            .send(request)
            .await?
            .bytes()
            .await
            .map_err(classify_http)?;
        serde_json::from_slice(&body).map_err(|e| BackendError::new(Fault::Other, e))
    }
}

/// How many bytes of a resumable upload the service holds, or `None` when the upload is
/// already complete: a `bytes */total` status query, answered with 308 and a `Range`
/// header (none when it holds nothing) or with 200/201.
async fn persisted(clients: &Clients, session: &str, total: u64) -> BackendResult<Option<u64>> {
    let query = clients
        .http
        .put(session)
        .header("content-range", format!("bytes */{total}"))
        .header("content-length", "0");
    let response = clients.send(query).await?;
    if response.status().as_u16() != 308 {
        return Ok(None);
    }
    let held = response
        .headers()
        .get("range")
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.rsplit_once('-'))
        .and_then(|(_, last)| last.parse::<u64>().ok())
        .map_or(0, |last| last + 1);
    Ok(Some(held))
}

/// GCS sends 64-bit sizes as decimal strings.
fn size_field(value: &serde_json::Value) -> u64 {
    match value.get("size") {
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

#[async_trait]
impl ObjectBackend for GcsBackend {
    async fn head(&self, object: &ObjectPath) -> BackendResult<u64> {
        let clients = self.clients().await?;
        let url = clients.objects_url(&object.bucket, Some(&object.key));
        let metadata = clients
            .json(clients.http.get(url).query(&[("fields", "size")]))
            .await?;
        Ok(size_field(&metadata))
    }

    async fn probe_bucket(&self, object: &ObjectPath) -> BackendResult<()> {
        // A listing of one name: storage.objects.list is granted wherever objects are
        // read, unlike storage.buckets.get.
        let clients = self.clients().await?;
        let url = clients.objects_url(&object.bucket, None);
        clients
            .send(
                clients
                    .http
                    .get(url)
                    .query(&[("maxResults", "1"), ("fields", "kind")]),
            )
            .await?;
        Ok(())
    }

    async fn get(
        &self,
        object: &ObjectPath,
        range: Option<(u64, u64)>,
    ) -> BackendResult<ByteStream> {
        let clients = self.clients().await?;
        let mut request = clients
            .storage
            .read_object(bucket_name(&object.bucket), &object.key)
            // The engine resumes broken reads itself.
            .with_read_resume_policy(google_cloud_storage::read_resume_policy::NeverResume);
        if let Some((start, end)) = range {
            request = request.set_read_range(if end == u64::MAX {
                ReadRange::offset(start)
            } else {
                ReadRange::segment(start, end - start)
            });
        }
        let response = request.send().await.map_err(classify)?;
        Ok(Box::pin(stream::try_unfold(
            response,
            |mut response| async move {
                match response.next().await {
                    Some(Ok(chunk)) => Ok(Some((chunk, response))),
                    Some(Err(error)) => {
                        let mut error = classify(error);
                        // Mid-body failures are broken connections, whatever else.
                        if error.fault == Fault::Other {
                            error.fault = Fault::Transient;
                        }
                        Err(error)
                    }
                    None => Ok(None),
                }
            },
        )))
    }

    async fn put(&self, object: &ObjectPath, body: Bytes, new: NewObject<'_>) -> BackendResult<()> {
        let options = new.options;
        let mut request = self.clients().await?.storage.write_object(
            bucket_name(&object.bucket),
            &object.key,
            body,
        );
        if !options.metadata.is_empty() {
            request = request.set_metadata(options.metadata.clone());
        }
        if let Some(content_type) = new.content_type {
            request = request.set_content_type(content_type);
        }
        if let Some(class) = &options.gcs.storage_class {
            request = request.set_storage_class(class.clone());
        }
        if let Some(key) = &options.gcs.kms_key_name {
            request = request.set_kms_key(key.clone());
        }
        request.send_unbuffered().await.map_err(classify)?;
        Ok(())
    }

    fn part_rules(&self) -> PartRules {
        PartRules {
            min_part: 256 * 1024,
            // A resumable upload has no part limit; this only bounds the request count.
            max_parts: 10_000,
            part_multiple: 256 * 1024,
            sequential: true,
            streams_from_file: false,
        }
    }

    async fn start_upload(&self, object: &ObjectPath, new: NewObject<'_>) -> BackendResult<String> {
        let clients = self.clients().await?;
        let mut url = clients.endpoint.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(["upload", "storage", "v1", "b", &object.bucket, "o"]);
        url.query_pairs_mut()
            .append_pair("uploadType", "resumable")
            .append_pair("name", &object.key);
        if let Some(key) = &new.options.gcs.kms_key_name {
            url.query_pairs_mut().append_pair("kmsKeyName", key);
        }
        let request = clients
            .http
            .post(url)
            .header("content-type", "application/json; charset=UTF-8")
            .body(resumable_resource(new).to_string());
        let response = clients.send(request).await?;
        response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                BackendError::new(
                    Fault::Other,
                    "GCS started a resumable upload without a session URL",
                )
            })
    }

    async fn upload_part(
        &self,
        _object: &ObjectPath,
        upload_id: &str,
        part: Part,
        body: PartBody,
        new: NewObject<'_>,
    ) -> BackendResult<String> {
        let body = body.into_bytes()?;
        let clients = self.clients().await?;
        let retrying = self
            .interrupted
            .lock()
            .expect("never poisoned")
            .remove(upload_id);
        let (offset, body) = if retrying {
            // Part of the chunk may have arrived: send only what the service lacks.
            match persisted(clients, upload_id, part.total).await? {
                None => return Ok(String::new()),
                Some(held) if held >= part.offset + body.len() as u64 => {
                    return Ok(String::new());
                }
                Some(held) if held >= part.offset => {
                    (held, body.slice((held - part.offset) as usize..))
                }
                Some(held) => {
                    return Err(BackendError::new(
                        Fault::Other,
                        format!(
                            "the resumable upload session holds {held} bytes, fewer than the \
                             {} already acknowledged",
                            part.offset
                        ),
                    ));
                }
            }
        } else {
            (part.offset, body)
        };
        let last = offset + body.len() as u64 - 1;
        let mut request = clients.http.put(upload_id).header(
            "content-range",
            format!("bytes {offset}-{last}/{}", part.total),
        );
        // GCS takes the content type from the session's resource; fake-gcs-server
        // from the chunks. Saying it on both costs nothing.
        if let Some(content_type) = new.content_type {
            request = request.header("content-type", content_type);
        }
        let request = request.body(body);
        if let Err(error) = clients.send(request).await {
            self.interrupted
                .lock()
                .expect("never poisoned")
                .insert(upload_id.to_owned());
            return Err(error);
        }
        Ok(String::new())
    }

    async fn complete_upload(
        &self,
        _object: &ObjectPath,
        _upload_id: &str,
        _parts: Vec<String>,
        _new: NewObject<'_>,
    ) -> BackendResult<()> {
        // The last chunk, naming the total size, finalized the object.
        Ok(())
    }

    async fn abort_upload(&self, _object: &ObjectPath, upload_id: &str) -> BackendResult<()> {
        let clients = self.clients().await?;
        // GCS answers 499 to a cancelled session: any answer will do.
        let _ = clients.http.delete(upload_id).send().await;
        Ok(())
    }

    async fn list_page(
        &self,
        prefix: &ObjectPath,
        token: Option<String>,
    ) -> BackendResult<ListPage> {
        let clients = self.clients().await?;
        let url = clients.objects_url(&prefix.bucket, None);
        let mut query = vec![
            ("prefix", prefix.key.clone()),
            ("fields", "items(name,size),nextPageToken".to_owned()),
            ("maxResults", LIST_PAGE.to_string()),
        ];
        if let Some(token) = token {
            query.push(("pageToken", token));
        }
        let page = clients.json(clients.http.get(url).query(&query)).await?;
        let objects = page
            .get("items")
            .and_then(|items| items.as_array())
            .into_iter()
            .flatten()
            .filter_map(|item| {
                Some(Listed {
                    key: item.get("name")?.as_str()?.to_owned(),
                    size: size_field(item),
                })
            })
            .collect();
        let next = page
            .get("nextPageToken")
            .and_then(|t| t.as_str())
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        Ok(ListPage { objects, next })
    }

    async fn delete(&self, object: &ObjectPath) -> BackendResult<()> {
        let clients = self.clients().await?;
        let url = clients.objects_url(&object.bucket, Some(&object.key));
        clients.send(clients.http.delete(url)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What the fake resumable-upload session has received.
    #[derive(Debug, Default)]
    struct Session {
        data: Vec<u8>,
        failed_once: bool,
        ranges: Vec<String>,
    }

    /// A resumable-upload session endpoint that, on the first chunk, keeps only its
    /// first 256 KiB and answers 503, as when a connection breaks mid-chunk; later
    /// chunks must start exactly where its data ends.
    async fn flaky_session() -> (String, Arc<Mutex<Session>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/session", listener.local_addr().expect("address"));
        let session = Arc::new(Mutex::new(Session::default()));
        let shared = session.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let session = shared.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let end = loop {
                            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                                break end;
                            }
                            let mut chunk = [0; 65536];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
                        buffer.drain(..end + 4);
                        let header = |name: &str| {
                            head.lines()
                                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                                .map(str::to_owned)
                        };
                        let length: usize = header("content-length")
                            .and_then(|l| l.parse().ok())
                            .unwrap_or(0);
                        while buffer.len() < length {
                            let mut chunk = [0; 65536];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body: Vec<u8> = buffer.drain(..length).collect();
                        let range = header("content-range").unwrap_or_default();
                        let answer = {
                            let mut session = session.lock().expect("lock");
                            session.ranges.push(range.clone());
                            let (span, total) = range
                                .trim_start_matches("bytes ")
                                .split_once('/')
                                .expect("a content-range");
                            let total: usize = total.parse().expect("total");
                            let held = session.data.len();
                            let incomplete = |held: usize| {
                                if held == 0 {
                                    "HTTP/1.1 308 Resume Incomplete\r\ncontent-length: 0\r\n\r\n"
                                        .to_owned()
                                } else {
                                    format!(
                                        "HTTP/1.1 308 Resume Incomplete\r\nrange: bytes=0-{}\r\n\
                                         content-length: 0\r\n\r\n",
                                        held - 1
                                    )
                                }
                            };
                            if span == "*" {
                                incomplete(held)
                            } else {
                                let start: usize = span
                                    .split_once('-')
                                    .and_then(|(s, _)| s.parse().ok())
                                    .expect("start");
                                if start != held {
                                    "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
                                        .to_owned()
                                } else if !session.failed_once {
                                    session.failed_once = true;
                                    session.data.extend_from_slice(&body[..256 * 1024]);
                                    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                                        .to_owned()
                                } else {
                                    session.data.extend_from_slice(&body);
                                    if session.data.len() == total {
                                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_owned()
                                    } else {
                                        incomplete(session.data.len())
                                    }
                                }
                            }
                        };
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, session)
    }

    #[tokio::test]
    async fn a_failed_resumable_chunk_resends_only_what_the_service_lacks() {
        let (session_url, session) = flaky_session().await;
        let backend = GcsBackend::new(
            GcsConfig {
                endpoint: Some(session_url.clone()),
                anonymous: true,
                ..GcsConfig::default()
            },
            RetryPolicy::default(),
        );
        let object = ObjectPath {
            bucket: "b".to_owned(),
            key: "k".to_owned(),
            host: None,
        };
        let contents: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let total = contents.len() as u64;
        let first = Bytes::copy_from_slice(&contents[..512 * 1024]);
        let second = Bytes::copy_from_slice(&contents[512 * 1024..]);
        let part = |index, offset| Part {
            index,
            offset,
            total,
        };
        let options = crate::config::UploadOptions::default();
        let new = NewObject {
            options: &options,
            content_type: None,
        };

        let error = backend
            .upload_part(
                &object,
                &session_url,
                part(0, 0),
                PartBody::Bytes(first.clone()),
                new,
            )
            .await
            .expect_err("the first attempt fails");
        assert_eq!(error.fault, Fault::Transient);
        backend
            .upload_part(
                &object,
                &session_url,
                part(0, 0),
                PartBody::Bytes(first),
                new,
            )
            .await
            .expect("the retry resumes");
        backend
            .upload_part(
                &object,
                &session_url,
                part(1, 512 * 1024),
                PartBody::Bytes(second),
                new,
            )
            .await
            .expect("the last chunk completes the object");

        let session = session.lock().expect("lock");
        assert!(
            session.data == contents,
            "the service holds the object, once"
        );
        assert_eq!(
            session.ranges,
            [
                "bytes 0-524287/1048576",
                "bytes */1048576",
                "bytes 262144-524287/1048576",
                "bytes 524288-1048575/1048576",
            ]
        );
    }
}
