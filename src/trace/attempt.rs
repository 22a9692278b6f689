//! [`AttemptSpanLayer`]: one span per attempt, named `"{METHOD} {url template}"`
//! (low cardinality), with the OpenTelemetry HTTP client fields.
//!
//! It sits between the retry layer and the attempt timeout, so the span covers the
//! whole attempt — token, send, reading the body — and records how it ended, a
//! timeout included. The HTTP status and log id are read from what the attempt
//! returns: the [`Reply`] [`ApiCallLayer`](crate::api_call::ApiCallLayer) made, or
//! the error a reply decoded into ([`Error::reply_status`]).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{Level, Span};

use super::{fields, record_error};
use crate::api_call::Reply;
use crate::error::{BoxError, Error};
use crate::request::AilyRequest;
use crate::transport::BaseUrl;

/// Wraps each attempt in the request's attempt span ([`AilyRequest::attempt_span`]).
///
/// ```
/// use aily_client::trace::AttemptSpanLayer;
/// use aily_client::transport::BaseUrl;
///
/// let layer = AttemptSpanLayer::new()
///     .server(&BaseUrl::feishu())  // server.address / server.port
///     .record_url_full(true);      // url.full (off by default: IDs may be personal data)
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct AttemptSpanLayer {
    config: Arc<Config>,
}

#[derive(Clone, Debug)]
struct Config {
    level: Level,
    base: Option<BaseUrl>,
    url_full: bool,
}

impl AttemptSpanLayer {
    /// Attempt spans at DEBUG, without server fields.
    pub fn new() -> Self {
        AttemptSpanLayer {
            config: Arc::new(Config {
                level: Level::DEBUG,
                base: None,
                url_full: false,
            }),
        }
    }

    /// Spans at `level`.
    pub fn with_level(mut self, level: Level) -> Self {
        Arc::make_mut(&mut self.config).level = level;
        self
    }

    /// Record `server.address` and `server.port` of `base`, where requests go.
    pub fn server(mut self, base: &BaseUrl) -> Self {
        Arc::make_mut(&mut self.config).base = Some(base.clone());
        self
    }

    /// Also record `url.full` (the base URL and the encoded path). Off by default: the
    /// path holds session and run IDs. Needs [`server`](AttemptSpanLayer::server).
    pub fn record_url_full(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).url_full = enabled;
        self
    }
}

impl Default for AttemptSpanLayer {
    fn default() -> Self {
        AttemptSpanLayer::new()
    }
}

impl<S> Layer<S> for AttemptSpanLayer {
    type Service = AttemptSpan<S>;
    fn layer(&self, inner: S) -> AttemptSpan<S> {
        AttemptSpan {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`AttemptSpanLayer`].
#[derive(Clone, Debug)]
pub struct AttemptSpan<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S, R> Service<R> for AttemptSpan<S>
where
    R: AilyRequest,
    S: Service<R, Response = Reply<R::Response>>,
    S::Error: Into<BoxError>,
{
    type Response = Reply<R::Response>;
    type Error = BoxError;
    type Future = AttemptSpanFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let span = req.attempt_span(self.config.level);
        if !span.is_disabled() {
            if let Some(base) = &self.config.base {
                span.record(fields::SERVER_ADDRESS, base.host());
                span.record(fields::SERVER_PORT, base.port());
                if self.config.url_full {
                    span.record(
                        fields::URL_FULL,
                        tracing::field::display(format_args!("{base}{}", req.path())),
                    );
                }
            }
            let attempt = req.options().attempt();
            if attempt > 0 {
                span.record(fields::HTTP_REQUEST_RESEND_COUNT, attempt);
            }
        }
        let inner = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        AttemptSpanFuture {
            inner,
            span,
            _request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`AttemptSpan`].
    pub struct AttemptSpanFuture<F, R> {
        #[pin]
        inner: F,
        span: Span,
        _request: PhantomData<fn() -> R>,
    }
}

impl<F, T, E, R> Future for AttemptSpanFuture<F, R>
where
    F: Future<Output = Result<Reply<T>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Reply<T>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _enter = this.span.enter();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out.map_err(Into::into),
        };
        if !this.span.is_disabled() {
            match &out {
                Ok(reply) => {
                    this.span
                        .record(fields::HTTP_RESPONSE_STATUS_CODE, reply.status().as_u16());
                    if let Some(log_id) = reply.log_id() {
                        this.span.record(fields::FEISHU_LOG_ID, log_id);
                    }
                }
                Err(err) => {
                    // What the server answered, when the error is its reply.
                    if let Some(status) = err.downcast_ref::<Error>().and_then(Error::reply_status)
                    {
                        this.span
                            .record(fields::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
                    }
                    record_error(this.span, err);
                }
            }
        }
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    //! The attempt-span layer alone, over a `service_fn`, with a real subscriber.

    use std::future::ready;
    use std::time::Duration;

    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::error::{Error, TimeoutKind};
    use crate::runs::RunResponse;
    use crate::trace::tests::{Recorder, SpanRec};
    use crate::{AilyRequest, CancelRequest, GetRunRequest};

    const CANCEL: &str = "POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";
    const CANCEL_TEMPLATE: &str =
        "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";

    /// One call of `req` through `layer` over a service that answers `Ok` (or `Err`
    /// when `fail`), naming the span current when the service is called; the one
    /// attempt span recorded.
    async fn attempt<R: AilyRequest<Response = RunResponse>>(
        layer: AttemptSpanLayer,
        req: R,
        fail: bool,
    ) -> (SpanRec, Option<&'static str>) {
        let (recorder, _guard) = Recorder::install();
        let seen = Arc::new(std::sync::Mutex::new(None));
        let seen_inner = Arc::clone(&seen);
        let svc = layer.layer(service_fn(move |_req: R| {
            *seen_inner.lock().unwrap() = Span::current().metadata().map(|m| m.name());
            ready(if fail {
                Err::<_, BoxError>(
                    Error::timeout(TimeoutKind::Attempt, Duration::from_secs(1)).into(),
                )
            } else {
                Ok(Reply::new(RunResponse::default(), http::StatusCode::OK))
            })
        }));
        let current = match svc.oneshot(req).await {
            Ok(_) => *seen.lock().unwrap(),
            Err(err) => {
                assert_eq!(
                    Error::from_box(err).timeout_kind(),
                    Some(TimeoutKind::Attempt)
                );
                None
            }
        };
        (recorder.only_span(), current)
    }

    fn cancel() -> CancelRequest {
        CancelRequest::new("s", "r").unwrap()
    }

    #[tokio::test]
    async fn the_attempt_span_has_the_http_client_fields_and_no_server_by_default() {
        let (span, current) = attempt(AttemptSpanLayer::new(), cancel(), false).await;
        assert_eq!((span.name, span.level), (CANCEL, Level::DEBUG));
        assert_eq!(current, Some(CANCEL), "the inner call runs in the span");
        assert_eq!(span.field(fields::OTEL_KIND), Some("client"));
        assert_eq!(span.field(fields::OTEL_NAME), Some(CANCEL));
        assert_eq!(span.field(fields::HTTP_REQUEST_METHOD), Some("POST"));
        assert_eq!(span.field(fields::URL_TEMPLATE), Some(CANCEL_TEMPLATE));
        for absent in [
            fields::SERVER_ADDRESS,
            fields::SERVER_PORT,
            fields::URL_FULL,
            fields::HTTP_REQUEST_RESEND_COUNT,
            fields::OTEL_STATUS_CODE,
            fields::ERROR_TYPE,
        ] {
            assert_eq!(span.field(absent), None, "{absent}");
        }
    }

    #[tokio::test]
    async fn server_fields_when_configured_and_url_full_only_when_enabled() {
        let base = BaseUrl::parse("https://open.example.test:8443").unwrap();
        let (span, _) = attempt(AttemptSpanLayer::new().server(&base), cancel(), false).await;
        assert_eq!(
            span.field(fields::SERVER_ADDRESS),
            Some("open.example.test")
        );
        assert_eq!(span.field(fields::SERVER_PORT), Some("8443"));
        assert_eq!(span.field(fields::URL_FULL), None, "off by default");

        let layer = AttemptSpanLayer::new().server(&base).record_url_full(true);
        let (span, _) = attempt(layer, CancelRequest::new("s_1", "run#1").unwrap(), false).await;
        assert_eq!(
            span.field(fields::URL_FULL),
            Some(
                "https://open.example.test:8443/open-apis/aily/v1/sessions/s_1/runs/run%231/cancel"
            )
        );

        // Without a server there is no URL to record.
        let (span, _) = attempt(
            AttemptSpanLayer::new().record_url_full(true),
            cancel(),
            false,
        )
        .await;
        assert_eq!(span.field(fields::URL_FULL), None);
    }

    #[tokio::test]
    async fn the_resend_count_is_recorded_from_the_first_retry_on() {
        let mut retry = cancel();
        retry.options_mut().set_attempt(2);
        let (span, _) = attempt(AttemptSpanLayer::new(), retry, false).await;
        assert_eq!(span.field(fields::HTTP_REQUEST_RESEND_COUNT), Some("2"));

        let mut first = cancel();
        first.options_mut().set_attempt(0);
        let (span, _) = attempt(AttemptSpanLayer::new(), first, false).await;
        assert_eq!(span.field(fields::HTTP_REQUEST_RESEND_COUNT), None);
    }

    #[tokio::test]
    async fn a_failed_attempt_records_the_error() {
        let (span, _) = attempt(AttemptSpanLayer::new(), cancel(), true).await;
        assert_eq!(span.field(fields::OTEL_STATUS_CODE), Some("ERROR"));
        assert_eq!(span.field(fields::ERROR_TYPE), Some("timeout"));
    }

    #[tokio::test]
    async fn the_span_is_the_requests_operation_at_the_layers_level() {
        let layer = AttemptSpanLayer::new().with_level(Level::INFO);
        let (span, _) = attempt(layer, GetRunRequest::new("s", "r").unwrap(), false).await;
        let name = "GET /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}";
        assert_eq!(
            (span.name, span.level, span.parent),
            (name, Level::INFO, None)
        );
        assert_eq!(span.field(fields::HTTP_REQUEST_METHOD), Some("GET"));
    }

    #[tokio::test]
    async fn the_attempt_span_is_a_child_of_the_span_it_is_called_in() {
        let (recorder, _guard) = Recorder::install();
        let mut svc = AttemptSpanLayer::new().layer(service_fn(|_r: CancelRequest| {
            ready(Ok::<_, BoxError>(Reply::new(
                RunResponse::default(),
                http::StatusCode::OK,
            )))
        }));
        svc.ready().await.unwrap();
        let call = tracing::info_span!("aily.run.cancel").in_scope(|| svc.call(cancel()));
        call.await.unwrap();
        let spans = recorder.spans();
        let attempt = spans
            .iter()
            .find(|s| s.name == CANCEL)
            .expect("an attempt span");
        assert_eq!(attempt.parent, Some("aily.run.cancel"));
    }
}
