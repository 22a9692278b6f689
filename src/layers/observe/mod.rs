//! Observing calls: one layer per level — [`OperationLayer`] around each call,
//! [`AttemptLayer`] around each attempt — and the [`Observer`]s they drive.
//!
//! Each layer owns one span (it opens it, enters it while the call is polled, and is
//! the only code that records on it) and, when its call or attempt ends, hands one
//! [`Event`] to its observers, in order:
//!
//! 1. the span's own fields (`otel.status_code`, `error.type`, `feishu.code`,
//!    `feishu.log_id`, `http.response.status_code`, `http.request.resend_count` — see
//!    [`crate::layers::observe::trace`]), when the span is enabled;
//! 2. the crate's instruments (feature `metrics`: `aily.client.operation.duration`,
//!    `http.client.request.duration`, `aily.client.feishu.errors`; without the
//!    feature a no-op that compiles to nothing);
//! 3. your own [`Observer`], if you gave one
//!    ([`ClientBuilder::observer`](crate::ClientBuilder::observer)) — in tower-http's
//!    `OnResponse`/`OnFailure` style: told how each call and each attempt ended,
//!    with its latency and its span.
//!
//! Everything an observer reads is in the [`Event`]: the layer reads it off the
//! value the call returned — the [`Reply`] (data, HTTP
//! status, log id, attempt) or the crate's [`Error`] (kind, code, log id, the
//! status of this attempt's own reply) — never from ambient state, so a `Buffer`, a
//! spawned task or any async layer may sit between a layer and
//! [`ApiCallLayer`](crate::layers::api_call::ApiCallLayer).
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use aily_client::observe::{Event, Observer};
//!
//! /// Counts the attempts that got no reply at all.
//! #[derive(Default)]
//! struct Unanswered(AtomicU32);
//!
//! impl Observer for Unanswered {
//!     fn on_attempt(&self, event: &Event<'_>) {
//!         if event.status().is_none() {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! let client = aily_client::Client::builder()
//!     .credentials(aily_client::Credentials::tenant_token("t-x"))
//!     .observer(Arc::new(Unanswered::default()))
//!     .build()?;
//! # let _ = client;
//! # Ok::<(), aily_client::Error>(())
//! ```

mod attempt;
#[cfg(feature = "metrics")]
pub mod metrics;
mod operation;
pub(crate) mod record;
mod span;
pub mod trace;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use pin_project_lite::pin_project;
use tracing::Span;

pub use attempt::{AttemptLayer, AttemptService};
pub use operation::{OperationLayer, OperationService};
#[cfg(test)]
pub(crate) use span::record_error;

use crate::error::Error;
use crate::layers::api_call::Reply;

/// Told how each call ([`on_operation`](Observer::on_operation)) and each attempt
/// ([`on_attempt`](Observer::on_attempt)) ended. Both do nothing by default.
///
/// Called on the task that polls the call, once per call or attempt, after the
/// crate's own span fields and metrics were recorded: keep it short (count, sample,
/// record on [`Event::span`]), and never block.
pub trait Observer: Send + Sync + 'static {
    /// A call (all its attempts, retries, backoff and waits) ended.
    fn on_operation(&self, event: &Event<'_>) {
        let _ = event;
    }

    /// One attempt (token, send, the whole reply read and decoded) ended.
    fn on_attempt(&self, event: &Event<'_>) {
        let _ = event;
    }
}

/// How one call or one attempt ended, as its [`Observer`]s are told.
#[derive(Debug)]
pub struct Event<'a> {
    operation: &'static str,
    method: &'a Method,
    url_template: &'static str,
    elapsed: Duration,
    attempt: u32,
    outcome: Outcome<'a>,
    span: &'a Span,
}

/// What a call or attempt came to.
#[derive(Clone, Copy, Debug)]
enum Outcome<'a> {
    Replied {
        status: StatusCode,
        /// The header as it came: read as text only when asked.
        log_id: Option<&'a http::HeaderValue>,
    },
    Failed(&'a Error),
}

impl<'a> Event<'a> {
    /// The event of a call or attempt of `R` that returned `result`: `attempt` is
    /// the attempt's number, or — for a call (`attempt` 0) — the retries the result
    /// says were made.
    fn new<R: crate::AilyRequest, T>(
        method: &'a Method,
        result: Result<&'a Reply<T>, &'a Error>,
        attempt: u32,
        started: Option<Instant>,
        span: &'a Span,
    ) -> Self {
        let attempt = match result {
            _ if attempt > 0 => attempt,
            Ok(reply) => reply.attempt(),
            Err(error) => error.attempts().map_or(0, |n| n.saturating_sub(1)),
        };
        Event {
            operation: R::OPERATION,
            method,
            url_template: R::URL_TEMPLATE,
            elapsed: started.map_or(Duration::ZERO, |at| at.elapsed()),
            attempt,
            outcome: match result {
                Ok(reply) => Outcome::Replied {
                    status: reply.status(),
                    log_id: reply.log_id_header(),
                },
                Err(error) => Outcome::Failed(error),
            },
            span,
        }
    }

    /// The operation, e.g. `aily.run.cancel`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The URL template, e.g.
    /// `/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel`.
    pub fn url_template(&self) -> &'static str {
        self.url_template
    }

    /// How long the call or attempt took (zero when the layer had nothing that
    /// needed the time: no metrics and no observer of yours).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// On an attempt, its number (0 for the first, 1 for the first retry, …); on a
    /// call, the retries it made.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The HTTP status of the reply this attempt (or the call's last attempt) got, if
    /// a reply came: a success's, or the one an error reply carried
    /// ([`Error::reply_status`]).
    pub fn status(&self) -> Option<StatusCode> {
        match self.outcome {
            Outcome::Replied { status, .. } => Some(status),
            Outcome::Failed(error) => error.reply_status(),
        }
    }

    /// The reply's log id (`X-Tt-Logid`), when it had one.
    pub fn log_id(&self) -> Option<&'a str> {
        match self.outcome {
            Outcome::Replied { log_id, .. } => crate::api::envelope::log_id_text(log_id),
            Outcome::Failed(error) => error.log_id(),
        }
    }

    /// The error the call or attempt ended with, or `None` on success.
    pub fn error(&self) -> Option<&'a Error> {
        match self.outcome {
            Outcome::Replied { .. } => None,
            Outcome::Failed(error) => Some(error),
        }
    }

    /// The span of the call or attempt (disabled when no subscriber wants it).
    pub fn span(&self) -> &'a Span {
        self.span
    }
}

/// The observers a layer drives besides its span: the crate's instruments and the
/// user's own.
#[derive(Clone, Default)]
struct Observers {
    instruments: record::Instruments,
    user: Option<Arc<dyn Observer>>,
}

impl Observers {
    /// The start of a call or attempt, when anything will read
    /// [`Event::elapsed`] (the clock is read only then).
    fn start(&self) -> Option<Instant> {
        (record::Instruments::ENABLED || self.user.is_some()).then(Instant::now)
    }
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers")
            .field("metrics", &record::Instruments::ENABLED)
            .field("user", &self.user.is_some())
            .finish()
    }
}

/// The level a layer observes: a whole call or one attempt.
pub trait Stage: Send + Sync + 'static {
    /// Tells `observer` of `event` at this level.
    fn tell(observer: &dyn Observer, event: &Event<'_>);

    /// Whether the level emits an event of its end ([`ended`](Stage::ended)).
    const ENDED_EVENT: bool = false;

    /// After the observers: an event of the end in the layer's span, if the level
    /// has one.
    fn ended(event: &Event<'_>) {
        let _ = event;
    }
}

/// The level of [`OperationLayer`]: a whole call.
#[derive(Debug)]
pub enum CallStage {}

impl Stage for CallStage {
    fn tell(observer: &dyn Observer, event: &Event<'_>) {
        observer.on_operation(event);
    }

    const ENDED_EVENT: bool = true;

    fn ended(event: &Event<'_>) {
        match event.error() {
            None => {
                tracing::debug!(target: "aily_client::observe", log_id = event.log_id(), "call succeeded")
            }
            Some(error) => tracing::debug!(target: "aily_client::observe", %error, "call failed"),
        }
    }
}

/// The level of [`AttemptLayer`]: one attempt.
#[derive(Debug)]
pub enum AttemptStage {}

impl Stage for AttemptStage {
    fn tell(observer: &dyn Observer, event: &Event<'_>) {
        observer.on_attempt(event);
    }
}

/// The future of [`OperationService`].
pub type OperationFuture<F, R> = ObservedFuture<F, R, CallStage>;
/// The future of [`AttemptService`].
pub type AttemptFuture<F, R> = ObservedFuture<F, R, AttemptStage>;

pin_project! {
    /// The future of both observing layers: the inner call, polled inside the layer's
    /// span; when it ends, one [`Event`] for the span's fields, the instruments and
    /// the user's observer, at stage `L`.
    pub struct ObservedFuture<F, R, L> {
        #[pin]
        inner: F,
        span: Span,
        // The attempt's number (an operation reads its retries off the result).
        attempt: u32,
        started: Option<Instant>,
        observers: Observers,
        _stage: PhantomData<fn() -> (R, L)>,
    }
}

impl<F, R, L> ObservedFuture<F, R, L> {
    fn new(inner: F, span: Span, attempt: u32, observers: &Observers) -> Self {
        ObservedFuture {
            inner,
            span,
            attempt,
            started: observers.start(),
            observers: observers.clone(),
            _stage: PhantomData,
        }
    }
}

impl<F, R, L, E> Future for ObservedFuture<F, R, L>
where
    F: Future<Output = Result<Reply<R::Response>, E>>,
    R: crate::AilyRequest,
    L: Stage,
    E: Into<Error>,
{
    type Output = Result<Reply<R::Response>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _enter = this.span.enter();
        let out = ready!(this.inner.poll(cx)).map_err(Into::into);
        // Nothing to tell (no subscriber wants the span or the end event, no metrics,
        // no observer of yours): no event is made at all.
        let spanned = !this.span.is_disabled();
        let told = spanned || record::Instruments::ENABLED || this.observers.user.is_some();
        if !(told || ended_event_wanted::<L>()) {
            return Poll::Ready(out);
        }
        let method = R::METHOD;
        let event = Event::new::<R, _>(
            &method,
            out.as_ref(),
            *this.attempt,
            *this.started,
            this.span,
        );
        if spanned {
            L::tell(&span::SpanFields, &event);
        }
        L::tell(&this.observers.instruments, &event);
        if let Some(user) = &this.observers.user {
            L::tell(user.as_ref(), &event);
        }
        L::ended(&event);
        Poll::Ready(out)
    }
}

/// Whether stage `L` has an end event that a subscriber may want.
fn ended_event_wanted<L: Stage>() -> bool {
    L::ENDED_EVENT && tracing::level_enabled!(tracing::Level::DEBUG)
}

#[cfg(test)]
mod tests;
