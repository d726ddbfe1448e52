//! A no-progress bound for the S3 client's requests, request bodies included.
//!
//! smithy's own read timeout runs from the request's first byte to its answer's
//! headers: a total bound on sending the body, which cuts an upload part on a slow
//! link however steadily it moves. So the S3 client's HTTP client is wrapped: the
//! request body (in memory, already signed) is handed to the connection in slices of
//! [`SLICE`] bytes, each slice taken counts as progress, and the attempt fails with a
//! timeout only when nothing was taken and no answer came for the read timeout the
//! operation is configured with (`retry.no_progress_timeout`, or the patient bound of
//! a multipart commit). The inner client gets no read timeout of its own. The response
//! body is the engine's to watch ([`TimedBody`](super::transfers)).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use tokio::time::Instant;

/// How much of a request body the connection is given at a time: small enough that a
/// moving upload shows progress often, large enough to cost nothing.
const SLICE: usize = 64 * 1024;

/// The S3 client's HTTP client, with the no-progress bound around every request.
#[derive(Debug)]
pub(crate) struct WatchedClient {
    inner: SharedHttpClient,
}

impl WatchedClient {
    pub(crate) fn new(inner: SharedHttpClient) -> Self {
        Self { inner }
    }
}

impl HttpClient for WatchedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The connect timeout stays the inner client's; the read timeout becomes ours.
        let mut inner_settings = HttpConnectorSettings::builder();
        if let Some(connect) = settings.connect_timeout() {
            inner_settings = inner_settings.connect_timeout(connect);
        }
        let inner = self
            .inner
            .http_connector(&inner_settings.build(), components);
        SharedHttpConnector::new(WatchedConnector {
            inner,
            no_progress: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct WatchedConnector {
    inner: SharedHttpConnector,
    no_progress: Option<Duration>,
}

impl HttpConnector for WatchedConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let Some(no_progress) = self.no_progress else {
            return self.inner.call(request);
        };
        let started = Instant::now();
        let last = Arc::new(AtomicU64::new(0));
        let body = request.take_body();
        *request.body_mut() = match body.content_length() {
            // Only bodies worth slicing: a small one goes in one write anyway.
            Some(len) if len > SLICE as u64 => SdkBody::from_body_1_x(Sliced {
                inner: body,
                pending: Bytes::new(),
                remaining: len,
                last: last.clone(),
                started,
            }),
            _ => body,
        };
        let response = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let mut response = std::pin::pin!(response);
            loop {
                let deadline =
                    started + Duration::from_millis(last.load(Ordering::Relaxed)) + no_progress;
                tokio::select! {
                    answer = &mut response => return answer,
                    () = tokio::time::sleep_until(deadline) => {
                        let moved = started + Duration::from_millis(last.load(Ordering::Relaxed));
                        if moved + no_progress <= Instant::now() {
                            return Err(ConnectorError::timeout(
                                format!(
                                    "HTTP read timeout: nothing sent or received for {no_progress:?}"
                                )
                                .into(),
                            ));
                        }
                    }
                }
            }
        })
    }
}

/// A request body handed on in [`SLICE`]-byte frames, each taken frame recorded in
/// `last` (milliseconds since `started`).
struct Sliced {
    inner: SdkBody,
    pending: Bytes,
    remaining: u64,
    last: Arc<AtomicU64>,
    started: Instant,
}

impl http_body::Body for Sliced {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.pending.is_empty() {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.pending = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return other,
            }
        }
        let slice = this.pending.split_to(this.pending.len().min(SLICE));
        this.remaining = this.remaining.saturating_sub(slice.len() as u64);
        this.last
            .store(this.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(http_body::Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}
