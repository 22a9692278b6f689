//! [`OperationLayer`]: one span per logical call, named after the operation
//! (`aily.run.cancel`), and one [`Event`] per call for the observers.
//!
//! The span is entered while the call is polled, so every attempt, wait, retry event
//! and token fetch below it is its child. Its fields: `otel.kind = internal`,
//! `otel.name`, the request's IDs (`aily.session_id`, `aily.run_id`, …) and, recorded
//! at the end: `otel.status_code` (`ERROR` on failure), `error.type`, `feishu.code`,
//! `feishu.log_id`, and `http.request.resend_count` (retries made: the attempt the
//! [`Reply`] answers, or the attempts the error counts).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{Level, Span};

use super::span::SpanFields;
use super::{Event, Observer, Observers};
use crate::api_call::Reply;
use crate::error::Error;
use crate::request::AilyRequest;

/// Wraps each call in the request's operation span ([`AilyRequest::span`]) and
/// tells the observers how it ended.
///
/// ```
/// use aily_client::api_call::ApiCallLayer;
/// use aily_client::observe::OperationLayer;
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
///     .layer(OperationLayer::new()) // span "aily.run.cancel" around the call
///     .layer(ApiCallLayer::new())
///     .service(http);
/// let reply = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await.unwrap();
/// assert_eq!(reply.data.run.id, "r");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OperationLayer {
    level: Level,
    observers: Observers,
}

impl OperationLayer {
    /// Operation spans at INFO; the crate's metrics (feature `metrics`); no observer
    /// of yours.
    pub fn new() -> Self {
        OperationLayer {
            level: Level::INFO,
            observers: Observers::default(),
        }
    }

    /// Spans at `level`.
    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Also tell `observer` how each call ended.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.user = Some(observer);
        self
    }
}

impl Default for OperationLayer {
    fn default() -> Self {
        OperationLayer::new()
    }
}

impl<S> Layer<S> for OperationLayer {
    type Service = OperationService<S>;
    fn layer(&self, inner: S) -> OperationService<S> {
        OperationService {
            inner,
            level: self.level,
            observers: self.observers.clone(),
        }
    }
}

/// The service of [`OperationLayer`].
#[derive(Clone, Debug)]
pub struct OperationService<S> {
    inner: S,
    level: Level,
    observers: Observers,
}

impl<S, R> Service<R> for OperationService<S>
where
    R: AilyRequest,
    S: Service<R, Response = Reply<R::Response>>,
    S::Error: Into<Error>,
{
    type Response = Reply<R::Response>;
    type Error = Error;
    type Future = OperationFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
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
            started: self.observers.start(),
            observers: self.observers.clone(),
            _request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`OperationService`].
    pub struct OperationFuture<F, R> {
        #[pin]
        inner: F,
        span: Span,
        started: Option<Instant>,
        observers: Observers,
        _request: PhantomData<fn() -> R>,
    }
}

impl<F, R, E> Future for OperationFuture<F, R>
where
    F: Future<Output = Result<Reply<R::Response>, E>>,
    R: AilyRequest,
    E: Into<Error>,
{
    type Output = Result<Reply<R::Response>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _enter = this.span.enter();
        let out = ready!(this.inner.poll(cx)).map_err(Into::into);
        let retries = match &out {
            Ok(reply) => reply.attempt(),
            Err(error) => error.attempts().map_or(0, |n| n.saturating_sub(1)),
        };
        let method = R::METHOD;
        let event = Event::new::<R, _>(&method, out.as_ref(), retries, *this.started, this.span);
        if !this.span.is_disabled() {
            SpanFields.on_operation(&event);
        }
        this.observers.instruments.on_operation(&event);
        if let Some(user) = &this.observers.user {
            user.on_operation(&event);
        }
        match &out {
            Ok(reply) => tracing::debug!(log_id = reply.log_id(), "call succeeded"),
            Err(error) => tracing::debug!(%error, "call failed"),
        }
        Poll::Ready(out)
    }
}
