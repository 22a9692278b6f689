//! [`OperationSpanLayer`]: one span per logical call, named after the operation
//! (`aily.run.cancel`), with OpenTelemetry-shaped fields. The span is entered while
//! the call is polled, so every attempt, wait and token fetch below it is its child.
//!
//! Fields: `otel.kind` (`internal`), `otel.name`, the request's IDs
//! (`aily.session_id`, `aily.run_id`), and, recorded at the end, `otel.status_code`
//! (`ERROR` on failure), `error.type` (the [`ErrorKind`](crate::ErrorKind) name),
//! `feishu.code` and `feishu.log_id`. No token or secret is ever recorded.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;

use crate::error::{BoxError, Error};
use crate::request::AilyRequest;

/// Span field names, as recorded on the operation span.
pub mod fields {
    /// `otel.status_code`: `ERROR` on failure.
    pub const OTEL_STATUS_CODE: &str = "otel.status_code";
    /// `error.type`: the error kind's name.
    pub const ERROR_TYPE: &str = "error.type";
    /// `feishu.code`: the envelope's non-zero code.
    pub const FEISHU_CODE: &str = "feishu.code";
    /// `feishu.log_id`: the request's log id.
    pub const FEISHU_LOG_ID: &str = "feishu.log_id";
}

/// Wraps each call in the request's operation span ([`AilyRequest::span`]).
///
/// ```
/// use aily_client::trace::OperationSpanLayer;
/// use aily_client::CancelRequest;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inner = tower::service_fn(|_req: CancelRequest| async {
///     Ok::<_, aily_client::BoxError>(tracing::Span::current().metadata().map(|m| m.name()))
/// });
/// let svc = OperationSpanLayer::new().layer(inner);
/// let _ = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await;
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct OperationSpanLayer;

impl OperationSpanLayer {
    /// The layer.
    pub fn new() -> Self {
        OperationSpanLayer
    }
}

impl<S> Layer<S> for OperationSpanLayer {
    type Service = OperationSpan<S>;
    fn layer(&self, inner: S) -> OperationSpan<S> {
        OperationSpan { inner }
    }
}

/// The service of [`OperationSpanLayer`].
#[derive(Clone, Debug)]
pub struct OperationSpan<S> {
    inner: S,
}

impl<S, R> Service<R> for OperationSpan<S>
where
    R: AilyRequest,
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = OperationFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let span = req.span();
        let inner = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        OperationFuture { inner, span }
    }
}

pin_project! {
    /// The future of [`OperationSpan`].
    pub struct OperationFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F, T, E> Future for OperationFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _enter = this.span.enter();
        match this.inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(v)) => {
                tracing::debug!("call succeeded");
                Poll::Ready(Ok(v))
            }
            Poll::Ready(Err(e)) => {
                let e = e.into();
                if !this.span.is_disabled() {
                    record_error(this.span, &e);
                }
                Poll::Ready(Err(e))
            }
        }
    }
}

fn record_error(span: &Span, err: &BoxError) {
    span.record(fields::OTEL_STATUS_CODE, "ERROR");
    match err.downcast_ref::<Error>() {
        Some(e) => {
            span.record(fields::ERROR_TYPE, e.kind().as_str());
            if let Some(code) = e.code() {
                span.record(fields::FEISHU_CODE, code);
            }
            if let Some(log_id) = e.log_id() {
                span.record(fields::FEISHU_LOG_ID, log_id);
            }
            tracing::debug!(error = %e, "call failed");
        }
        None => {
            span.record(fields::ERROR_TYPE, "other");
            tracing::debug!(error = %err, "call failed");
        }
    }
}
