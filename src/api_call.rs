//! [`ApiCallLayer`]: the boundary between the two tiers. A typed request
//! ([`AilyRequest`]) goes in, becomes an `http::Request`, and its complete reply is
//! decoded into the typed response or the [`Error`](crate::Error) it describes.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::envelope::LOG_ID_HEADER;
use crate::error::BoxError;
use crate::request::{AilyRequest, Attempt};
use crate::trace::fields;
use crate::transport::RequestBody;

/// Turns any [`AilyRequest`] into HTTP and decodes the reply.
///
/// ```
/// use aily_client::api_call::ApiCallLayer;
/// use aily_client::{CancelRequest, RunStatus};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // An in-memory "server" standing in for the HTTP tier.
/// let http = tower::service_fn(|req: http::Request<aily_client::transport::RequestBody>| async move {
///     assert_eq!(req.uri().path(), "/open-apis/aily/v1/sessions/s1/runs/r1/cancel");
///     let body = r#"{"code":0,"msg":"success","data":{"run":{"id":"r1","status":"CANCELLED"}}}"#;
///     Ok::<_, aily_client::BoxError>(http::Response::new(bytes::Bytes::from(body)))
/// });
/// let svc = ApiCallLayer::new().layer(http);
/// let resp = svc.oneshot(CancelRequest::new("s1", "r1").unwrap()).await.unwrap();
/// assert_eq!(resp.run.status, RunStatus::Cancelled);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiCallLayer;

impl ApiCallLayer {
    /// The layer.
    pub fn new() -> Self {
        ApiCallLayer
    }
}

impl<S> Layer<S> for ApiCallLayer {
    type Service = ApiCall<S>;
    fn layer(&self, inner: S) -> ApiCall<S> {
        ApiCall { inner }
    }
}

/// The service of [`ApiCallLayer`]: a `Service<R>` for every [`AilyRequest`] `R`.
#[derive(Clone, Debug)]
pub struct ApiCall<S> {
    inner: S,
}

impl<S> ApiCall<S> {
    /// The wrapped HTTP service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, R> Service<R> for ApiCall<S>
where
    R: AilyRequest,
    S: Service<Request<RequestBody>, Response = Response<Bytes>>,
    S::Error: Into<BoxError>,
{
    type Response = R::Response;
    type Error = BoxError;
    type Future = ApiCallFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let mut http = req.to_http();
        let attempt = req.options().attempt();
        if attempt > 0 {
            http.extensions_mut().insert(Attempt(attempt));
        }
        ApiCallFuture {
            inner: self.inner.call(http),
            _request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`ApiCall`].
    pub struct ApiCallFuture<F, R> {
        #[pin]
        inner: F,
        _request: PhantomData<fn() -> R>,
    }
}

impl<F, E, R> Future for ApiCallFuture<F, R>
where
    F: Future<Output = Result<Response<Bytes>, E>>,
    E: Into<BoxError>,
    R: AilyRequest,
{
    type Output = Result<R::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx)).map_err(Into::into)?;
        #[cfg(feature = "metrics")]
        crate::metrics::note_status(response.status());
        // Under the attempt span, when there is one: what the server answered.
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record(
                fields::HTTP_RESPONSE_STATUS_CODE,
                response.status().as_u16(),
            );
            if let Some(log_id) = response
                .headers()
                .get(LOG_ID_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                span.record(fields::FEISHU_LOG_ID, log_id);
            }
        }
        Poll::Ready(R::decode(response).map_err(Into::into))
    }
}
