//! [`StreamBodyLayer`]: the body collection of the streaming HTTP tier. An
//! event-stream reply (2xx, `Content-Type: text/event-stream`) is answered at its
//! headers, its body left unread and handed up in the response's extensions
//! ([`StreamingBody`]); any other reply is collected exactly as
//! [`CollectBodyLayer`](super::CollectBodyLayer) collects it (the same code), so the
//! layers above — auth's token-rejection replay, the typed tier's decoding, retry —
//! see an error reply as they always do.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tower::{Layer, Service};

use super::collect::collect_response;
use crate::error::BoxError;

/// The body of an event-stream reply, not yet read.
pub type StreamBodyOf = UnsyncBoxBody<Bytes, BoxError>;

/// An event-stream reply's unread body, in the extensions of the (empty-bodied)
/// `Response<Bytes>` the streaming tier answers with. The first
/// [`take`](StreamingBody::take) gets it; dropping every copy drops the body, which
/// closes the connection.
#[derive(Clone)]
pub struct StreamingBody(Arc<Mutex<Option<StreamBodyOf>>>);

impl StreamingBody {
    /// Holds `body`.
    pub fn new(body: StreamBodyOf) -> Self {
        StreamingBody(Arc::new(Mutex::new(Some(body))))
    }

    /// The body, once.
    pub fn take(&self) -> Option<StreamBodyOf> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl fmt::Debug for StreamingBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingBody").finish_non_exhaustive()
    }
}

/// True for a reply whose body is an event stream to read as it arrives: a 2xx
/// with `Content-Type: text/event-stream` (parameters allowed).
///
/// ```
/// let head = http::Response::builder().header("content-type", "text/event-stream; charset=utf-8").body(()).unwrap();
/// assert!(aily_client::transport::is_event_stream(&head));
/// ```
pub fn is_event_stream<B>(response: &Response<B>) -> bool {
    response.status().is_success() && has_media_type(response.headers(), "text/event-stream")
}

/// True when the `Content-Type` is `media_type` (case-insensitive, parameters allowed).
pub(crate) fn has_media_type(headers: &http::HeaderMap, media_type: &str) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(media_type))
}

/// Answers an event-stream reply at its headers ([`StreamingBody`] in its
/// extensions, an empty body) and collects any other reply up to `limit` bytes.
#[derive(Clone, Copy, Debug)]
pub struct StreamBodyLayer {
    limit: usize,
}

impl StreamBodyLayer {
    /// Collect the replies that are not event streams up to `limit` bytes.
    pub fn new(limit: usize) -> Self {
        StreamBodyLayer { limit }
    }
}

impl<S> Layer<S> for StreamBodyLayer {
    type Service = StreamBody<S>;
    fn layer(&self, inner: S) -> StreamBody<S> {
        StreamBody {
            inner,
            limit: self.limit,
        }
    }
}

/// The service of [`StreamBodyLayer`].
#[derive(Clone, Debug)]
pub struct StreamBody<S> {
    inner: S,
    limit: usize,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for StreamBody<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<Bytes>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Bytes>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let head = self.inner.call(req);
        let limit = self.limit;
        Box::pin(async move {
            let response = head.await.map_err(Into::into)?;
            if !is_event_stream(&response) {
                return collect_response(response, limit).await;
            }
            let (mut parts, body) = response.into_parts();
            let body = StreamingBody::new(body.map_err(Into::into).boxed_unsync());
            parts.extensions.insert(body);
            Ok(Response::from_parts(parts, Bytes::new()))
        })
    }
}
