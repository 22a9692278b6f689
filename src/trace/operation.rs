//! [`OperationSpanLayer`]: one span per logical call, named after the operation
//! (`aily.run.cancel`). It is entered while the call is polled, so every attempt,
//! wait, retry event and token fetch below it is its child.
//!
//! Fields: `otel.kind = internal`, `otel.name`, `aily.session_id`, `aily.run_id`,
//! and, recorded at the end: `otel.status_code` (`ERROR` on failure), `error.type`,
//! `feishu.code`, `feishu.log_id`, and `http.request.resend_count` (retries made,
//! recorded by the retry policy).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{Level, Span};

use super::{fields, record_error};
use crate::error::BoxError;
use crate::request::AilyRequest;

/// Wraps each call in the request's operation span ([`AilyRequest::span`]).
///
/// ```
/// use aily_client::api_call::ApiCallLayer;
/// use aily_client::trace::OperationSpanLayer;
/// use aily_client::CancelRequest;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let http = tower::service_fn(|_req: http::Request<aily_client::transport::RequestBody>| async {
///     let body = r#"{"code":0,"msg":"ok","data":{"run":{"id":"r","status":"CANCELLED"}}}"#;
///     Ok::<_, aily_client::BoxError>(http::Response::new(bytes::Bytes::from(body)))
/// });
/// let svc = ServiceBuilder::new()
///     .layer(OperationSpanLayer::new()) // span "aily.run.cancel" around the call
///     .layer(ApiCallLayer::new())
///     .service(http);
/// let reply = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await.unwrap();
/// assert_eq!(reply.run.id, "r");
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct OperationSpanLayer {
    level: Level,
}

impl OperationSpanLayer {
    /// Operation spans at INFO.
    pub fn new() -> Self {
        OperationSpanLayer { level: Level::INFO }
    }

    /// Operation spans at `level`.
    pub fn with_level(level: Level) -> Self {
        OperationSpanLayer { level }
    }
}

impl Default for OperationSpanLayer {
    fn default() -> Self {
        OperationSpanLayer::new()
    }
}

impl<S> Layer<S> for OperationSpanLayer {
    type Service = OperationSpan<S>;
    fn layer(&self, inner: S) -> OperationSpan<S> {
        OperationSpan {
            inner,
            level: self.level,
        }
    }
}

/// The service of [`OperationSpanLayer`].
#[derive(Clone, Debug)]
pub struct OperationSpan<S> {
    inner: S,
    level: Level,
}

impl<S, R> Service<R> for OperationSpan<S>
where
    R: AilyRequest,
    S: Service<R, Response = R::Response>,
    S::Error: Into<BoxError>,
{
    type Response = R::Response;
    type Error = BoxError;
    type Future = OperationFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let span = req.span(self.level);
        let inner = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        OperationFuture {
            inner,
            span,
            _request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`OperationSpan`].
    pub struct OperationFuture<F, R> {
        #[pin]
        inner: F,
        span: Span,
        _request: PhantomData<fn() -> R>,
    }
}

impl<F, R, E> Future for OperationFuture<F, R>
where
    F: Future<Output = Result<R::Response, E>>,
    R: AilyRequest,
    E: Into<BoxError>,
{
    type Output = Result<R::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _enter = this.span.enter();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out.map_err(Into::into),
        };
        match &out {
            Ok(response) => {
                let log_id = R::response_log_id(response);
                if let Some(log_id) = log_id
                    && !this.span.is_disabled()
                {
                    this.span.record(fields::FEISHU_LOG_ID, log_id);
                }
                tracing::debug!(log_id, "call succeeded");
            }
            Err(err) => {
                if !this.span.is_disabled() {
                    record_error(this.span, err);
                }
                tracing::debug!(error = %err, "call failed");
            }
        }
        Poll::Ready(out)
    }
}
