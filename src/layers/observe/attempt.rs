//! [`AttemptLayer`]: one span per attempt, named `"{METHOD} {url template}"` (low
//! cardinality), with the OpenTelemetry HTTP client fields, and one [`Event`] per
//! attempt for the observers.
//!
//! It sits between the retry layer and the attempt timeout, so the span covers the
//! whole attempt — token, send, reading the body — and records how it ended, a
//! timeout included. The HTTP status and log id are read from what the attempt
//! returns: the [`Reply`] [`ApiCallLayer`](crate::layers::api_call::ApiCallLayer) made, or
//! the error a reply decoded into ([`Error::reply_status`]).

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};
use tracing::Level;

use super::{AttemptFuture, Observer, Observers};
use crate::api::request::AilyRequest;
use crate::error::Error;
use crate::layers::api_call::Reply;
use crate::layers::observe::trace::fields;
use crate::transport::BaseUrl;

/// Wraps each attempt in the request's attempt span ([`AilyRequest::attempt_span`])
/// and tells the observers how it ended.
///
/// ```
/// use aily_client::observe::AttemptLayer;
/// use aily_client::transport::BaseUrl;
///
/// let layer = AttemptLayer::new()
///     .server(&BaseUrl::feishu())  // server.address / server.port (spans and metrics)
///     .record_url_full(true);      // url.full (off by default: IDs may be personal data)
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct AttemptLayer {
    config: Arc<Config>,
}

#[derive(Clone, Debug)]
struct Config {
    level: Level,
    base: Option<BaseUrl>,
    url_full: bool,
    observers: Observers,
}

impl AttemptLayer {
    /// Attempt spans at DEBUG, without server fields; the crate's metrics (feature
    /// `metrics`); no observer of yours.
    pub fn new() -> Self {
        AttemptLayer {
            config: Arc::new(Config {
                level: Level::DEBUG,
                base: None,
                url_full: false,
                observers: Observers::default(),
            }),
        }
    }

    /// Spans at `level`.
    pub fn with_level(mut self, level: Level) -> Self {
        Arc::make_mut(&mut self.config).level = level;
        self
    }

    /// Record `server.address` and `server.port` of `base`, where requests go, on the
    /// spans and the metrics.
    pub fn server(mut self, base: &BaseUrl) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.observers.instruments = config.observers.instruments.clone().server(base);
        config.base = Some(base.clone());
        self
    }

    /// Also record `url.full` (the base URL and the encoded path). Off by default: the
    /// path holds session and run IDs. Needs [`server`](AttemptLayer::server).
    pub fn record_url_full(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).url_full = enabled;
        self
    }

    /// Also tell `observer` how each attempt ended.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        Arc::make_mut(&mut self.config).observers.user = Some(observer);
        self
    }
}

impl Default for AttemptLayer {
    fn default() -> Self {
        AttemptLayer::new()
    }
}

impl<S> Layer<S> for AttemptLayer {
    type Service = AttemptService<S>;
    fn layer(&self, inner: S) -> AttemptService<S> {
        AttemptService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`AttemptLayer`].
#[derive(Clone, Debug)]
pub struct AttemptService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S, R> Service<R> for AttemptService<S>
where
    R: AilyRequest,
    S: Service<R, Response = Reply<R::Response>>,
    S::Error: Into<Error>,
{
    type Response = Reply<R::Response>;
    type Error = Error;
    type Future = AttemptFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let config = &self.config;
        let span = req.attempt_span(config.level);
        let attempt = req.options().attempt();
        if !span.is_disabled() {
            if let Some(base) = &config.base {
                span.record(fields::SERVER_ADDRESS, base.host());
                span.record(fields::SERVER_PORT, base.port());
                if config.url_full {
                    span.record(
                        fields::URL_FULL,
                        tracing::field::display(format_args!("{base}{}", req.path())),
                    );
                }
            }
            if attempt > 0 {
                span.record(fields::HTTP_REQUEST_RESEND_COUNT, attempt);
            }
        }
        let inner = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        AttemptFuture::new(inner, span, attempt, &config.observers)
    }
}
