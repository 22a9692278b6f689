//! [`OperationSpanLayer`]: one span per logical call, named after the operation
//! (`aily.run.cancel`). It is entered while the call is polled, so every attempt,
//! wait, retry event and token fetch below it is its child.
//!
//! Fields: `otel.kind = internal`, `otel.name`, `aily.session_id`, `aily.run_id`,
//! and, recorded at the end: `otel.status_code` (`ERROR` on failure), `error.type`,
//! `feishu.code`, `feishu.log_id`, and `http.request.resend_count` (retries made:
//! the attempt the [`Reply`] answers, or the attempts the error counts).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{Level, Span};

use super::{fields, record_error};
use crate::api_call::Reply;
use crate::error::{BoxError, Error};
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
/// assert_eq!(reply.data.run.id, "r");
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
    S: Service<R, Response = Reply<R::Response>>,
    S::Error: Into<BoxError>,
{
    type Response = Reply<R::Response>;
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
    F: Future<Output = Result<Reply<R::Response>, E>>,
    R: AilyRequest,
    E: Into<BoxError>,
{
    type Output = Result<Reply<R::Response>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _enter = this.span.enter();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out.map_err(Into::into),
        };
        match &out {
            Ok(reply) => {
                if !this.span.is_disabled() {
                    if let Some(log_id) = reply.log_id() {
                        this.span.record(fields::FEISHU_LOG_ID, log_id);
                    }
                    if reply.attempt() > 0 {
                        this.span
                            .record(fields::HTTP_REQUEST_RESEND_COUNT, reply.attempt());
                    }
                }
                tracing::debug!(log_id = reply.log_id(), "call succeeded");
            }
            Err(err) => {
                if !this.span.is_disabled() {
                    record_error(this.span, err);
                    let resent = err
                        .downcast_ref::<Error>()
                        .and_then(Error::attempts)
                        .map_or(0, |attempts| attempts.saturating_sub(1));
                    if resent > 0 {
                        this.span.record(fields::HTTP_REQUEST_RESEND_COUNT, resent);
                    }
                }
                tracing::debug!(error = %err, "call failed");
            }
        }
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    //! The operation-span layer alone, over a `service_fn`, with a real subscriber.

    use std::future::ready;

    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::error::{Error, ErrorKind};
    use crate::runs::{Run, RunResponse};
    use crate::trace::tests::Recorder;
    use crate::{CancelRequest, GetRunRequest};

    fn response(log_id: Option<&str>) -> Reply<RunResponse> {
        Reply::new(
            RunResponse {
                run: Run::default(),
            },
            http::StatusCode::OK,
        )
        .with_log_id(log_id.map(|l| http::HeaderValue::from_str(l).unwrap()))
    }

    /// The inner service: the name of the span current when it is called and when
    /// its future is polled, with `out` as its answer.
    fn inner<R: AilyRequest<Response = RunResponse>>(
        out: impl Fn() -> Result<Reply<RunResponse>, BoxError> + Clone + Send + 'static,
        seen: std::sync::Arc<std::sync::Mutex<Vec<Option<&'static str>>>>,
    ) -> impl Service<R, Response = Reply<RunResponse>, Error = BoxError> {
        service_fn(move |_req: R| {
            let out = out.clone();
            let seen = seen.clone();
            seen.lock()
                .unwrap()
                .push(Span::current().metadata().map(|m| m.name()));
            async move {
                tokio::task::yield_now().await;
                seen.lock()
                    .unwrap()
                    .push(Span::current().metadata().map(|m| m.name()));
                out()
            }
        })
    }

    #[tokio::test]
    async fn one_span_named_after_the_operation_with_the_ids_around_the_call() {
        let (recorder, _guard) = Recorder::install();
        let seen = std::sync::Arc::default();
        let svc = OperationSpanLayer::new().layer(inner(
            || Ok(response(Some("log-ok"))),
            std::sync::Arc::clone(&seen),
        ));
        let reply = svc
            .oneshot(CancelRequest::new("s-op", "r-op").unwrap())
            .await
            .unwrap();
        assert_eq!(reply.log_id(), Some("log-ok"));

        let span = recorder.only_span();
        assert_eq!(
            (span.name, span.level, span.parent),
            ("aily.run.cancel", Level::INFO, None)
        );
        assert_eq!(span.field(fields::OTEL_KIND), Some("internal"));
        assert_eq!(span.field(fields::OTEL_NAME), Some("aily.run.cancel"));
        assert_eq!(span.field(fields::AILY_SESSION_ID), Some("s-op"));
        assert_eq!(span.field(fields::AILY_RUN_ID), Some("r-op"));
        assert_eq!(span.field(fields::FEISHU_LOG_ID), Some("log-ok"));
        for absent in [
            fields::OTEL_STATUS_CODE,
            fields::ERROR_TYPE,
            fields::FEISHU_CODE,
        ] {
            assert_eq!(span.field(absent), None, "{absent} on success");
        }
        // Entered when the inner service is called and whenever its future is polled.
        assert_eq!(
            *seen.lock().unwrap(),
            [Some("aily.run.cancel"), Some("aily.run.cancel")]
        );
        let ends: Vec<_> = recorder
            .events()
            .into_iter()
            .filter(|e| e.span == Some("aily.run.cancel"))
            .collect();
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert_eq!(ends[0].level, Level::DEBUG);
        assert_eq!(
            ends[0].fields.get("log_id").map(String::as_str),
            Some("log-ok")
        );
    }

    #[tokio::test]
    async fn a_failure_records_status_error_type_code_and_log_id() {
        let (recorder, _guard) = Recorder::install();
        let fail = || {
            Err(Error::new(ErrorKind::Api, "Feishu returned an error")
                .with_api(2700001, "param is invalid".into(), None)
                .with_log_id(Some("log-err".into()))
                .into())
        };
        let svc = OperationSpanLayer::new().layer(inner(fail, std::sync::Arc::default()));
        let err = svc
            .oneshot(CancelRequest::new("s", "r").unwrap())
            .await
            .unwrap_err();
        assert_eq!(Error::from_box(err).code(), Some(2700001));
        let span = recorder.only_span();
        assert_eq!(span.field(fields::OTEL_STATUS_CODE), Some("ERROR"));
        assert_eq!(span.field(fields::ERROR_TYPE), Some("api"));
        assert_eq!(span.field(fields::FEISHU_CODE), Some("2700001"));
        assert_eq!(span.field(fields::FEISHU_LOG_ID), Some("log-err"));
        assert_eq!(span.field(fields::AILY_RUN_ID), Some("r"));
    }

    #[tokio::test]
    async fn the_span_is_the_requests_operation_at_the_layers_level() {
        let (recorder, _guard) = Recorder::install();
        let svc = OperationSpanLayer::with_level(Level::DEBUG)
            .layer(inner(|| Ok(response(None)), std::sync::Arc::default()));
        svc.oneshot(GetRunRequest::new("s-get", "r-get").unwrap())
            .await
            .unwrap();
        let span = recorder.only_span();
        assert_eq!((span.name, span.level), ("aily.run.get", Level::DEBUG));
        assert_eq!(span.field(fields::AILY_SESSION_ID), Some("s-get"));
        assert_eq!(
            span.field(fields::FEISHU_LOG_ID),
            None,
            "no log id, none recorded"
        );
    }

    #[tokio::test]
    async fn a_call_is_not_failed_or_changed_without_a_subscriber() {
        // No subscriber: the span is disabled, and the call goes on as it is.
        let svc = OperationSpanLayer::new().layer(service_fn(|_r: CancelRequest| {
            ready(Ok::<_, BoxError>(response(Some("l"))))
        }));
        let reply = svc
            .oneshot(CancelRequest::new("s", "r").unwrap())
            .await
            .unwrap();
        assert_eq!(reply.log_id(), Some("l"));
    }
}
