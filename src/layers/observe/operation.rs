//! [`OperationLayer`]: one span per logical call, named after the operation
//! (`aily.run.cancel`), and one [`Event`] per call for the observers.
//!
//! The span is entered while the call is polled, so every attempt, wait, retry event
//! and token fetch below it is its child. Its fields: `otel.kind = internal`,
//! `otel.name`, the request's IDs (`aily.session_id`, `aily.run_id`, …) and, recorded
//! at the end: `otel.status_code` (`ERROR` on failure), `error.type`, `feishu.code`,
//! `feishu.log_id`, and `http.request.resend_count` (retries made: the attempt the
//! [`Reply`] answers, or the attempts the error counts).

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};
use tracing::Level;

use super::{Observer, Observers, OperationFuture};
use crate::api::request::AilyRequest;
use crate::error::Error;
use crate::layers::api_call::Reply;

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
        OperationFuture::new(inner, span, 0, &self.observers)
    }
}
