//! [`AttemptSpanLayer`]: one span per attempt, named `"{METHOD} {url template}"`
//! (low cardinality), with the OpenTelemetry HTTP client fields.
//!
//! It sits between the retry layer and the attempt timeout, so the span covers the
//! whole attempt — token, send, reading the body — and records how it ended, a
//! timeout included. The HTTP status and log id are recorded by
//! [`ApiCallLayer`](crate::api_call::ApiCallLayer) as soon as the reply arrives.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{Level, Span};

use super::{fields, record_error};
use crate::error::BoxError;
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
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
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
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _enter = this.span.enter();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out.map_err(Into::into),
        };
        if let Err(err) = &out
            && !this.span.is_disabled()
        {
            record_error(this.span, err);
        }
        Poll::Ready(out)
    }
}
