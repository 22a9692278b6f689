//! The typed tier's timeouts, one type each:
//!
//! * [`DeadlineLayer`] sets the call's deadline (now + the overall timeout) in the
//!   request's options, and does nothing else: no timer, no error of its own.
//! * [`AttemptTimeoutLayer`] bounds one attempt, and never lets it run past the
//!   deadline (when the deadline comes first, its error is the overall timeout).
//! * [`OverallTimeoutLayer`] sets the deadline and arms a timer of its own, for
//!   stacks whose inner layers do not honour the deadline.
//!
//! Unlike `tower::timeout`, the error says which timeout fired ([`TimeoutKind`]),
//! and a request may override the duration
//! ([`AilyRequest::with_attempt_timeout`], [`AilyRequest::with_overall_timeout`]).
//! The retry policy never sleeps past the deadline either, so in the default stack
//! one timer per attempt bounds the whole call.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::error::{BoxError, Error, TimeoutKind};
use crate::request::AilyRequest;

/// Each layer here is a duration and the service it wraps around the inner one:
/// this writes that `Layer` impl once.
macro_rules! layer_of_duration {
    ($layer:ident => $service:ident) => {
        impl<S> Layer<S> for $layer {
            type Service = $service<S>;
            fn layer(&self, inner: S) -> $service<S> {
                $service {
                    inner,
                    duration: self.duration,
                }
            }
        }
    };
}

/// Default bound on one attempt (token, send and reading the whole body).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on the whole call, retries and waits included.
pub const DEFAULT_OVERALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The two timeout layers by what they bound: [`TimeoutLayer::attempt`] and
/// [`TimeoutLayer::overall`].
///
/// ```
/// use std::time::Duration;
/// use aily_client::timeout::TimeoutLayer;
/// use aily_client::{CancelRequest, Error, TimeoutKind};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let never = tower::service_fn(|_req: CancelRequest| std::future::pending::<Result<(), aily_client::BoxError>>());
/// let svc = TimeoutLayer::overall(Duration::from_secs(2)).layer(never);
/// let err = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await.unwrap_err();
/// assert_eq!(Error::from_box(err).timeout_kind(), Some(TimeoutKind::Overall));
/// # }
/// ```
#[derive(Debug)]
pub enum TimeoutLayer {}

impl TimeoutLayer {
    /// [`OverallTimeoutLayer::new`]: the whole call, with a timer of its own.
    pub fn overall(duration: Duration) -> OverallTimeoutLayer {
        OverallTimeoutLayer::new(duration)
    }

    /// [`AttemptTimeoutLayer::new`]: one attempt, never past the deadline.
    pub fn attempt(duration: Duration) -> AttemptTimeoutLayer {
        AttemptTimeoutLayer::new(duration)
    }
}

/// Sets the call's deadline — now plus the request's overall timeout, else this
/// layer's — for the layers below to keep: the attempt timeout, the in-flight limit
/// and the retry policy never wait past it. It arms no timer: use it over an
/// [`AttemptTimeoutLayer`] and a [`RetryPolicy`](crate::retry::RetryPolicy), as the
/// default stack does, so each attempt costs one timer, not two. Over anything else,
/// use [`OverallTimeoutLayer`].
///
/// ```
/// use std::time::Duration;
/// use aily_client::timeout::{AttemptTimeoutLayer, DeadlineLayer};
/// use aily_client::{CancelRequest, Error, TimeoutKind};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let never = tower::service_fn(|_req: CancelRequest| std::future::pending::<Result<(), aily_client::BoxError>>());
/// let svc = ServiceBuilder::new()
///     .layer(DeadlineLayer::new(Duration::from_secs(2)))
///     .layer(AttemptTimeoutLayer::new(Duration::from_secs(10)))
///     .service(never);
/// let started = tokio::time::Instant::now();
/// let err = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await.unwrap_err();
/// assert_eq!(Error::from_box(err).timeout_kind(), Some(TimeoutKind::Overall));
/// assert_eq!(started.elapsed(), Duration::from_secs(2));
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    duration: Duration,
}

impl DeadlineLayer {
    /// The whole call may take `duration` (a request may override it with
    /// [`AilyRequest::with_overall_timeout`]).
    pub fn new(duration: Duration) -> Self {
        DeadlineLayer { duration }
    }
}

layer_of_duration!(DeadlineLayer => Deadline);

/// The service of [`DeadlineLayer`]: the inner service, its future and its error as
/// they are.
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    duration: Duration,
}

impl<S, R> Service<R> for Deadline<S>
where
    R: AilyRequest,
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: R) -> S::Future {
        set_deadline(&mut req, self.duration, Instant::now());
        self.inner.call(req)
    }
}

/// Writes the call's deadline into `req`: `now` plus the request's overall timeout,
/// else `default`. Returns the deadline and the overall timeout it comes from.
fn set_deadline<R: AilyRequest>(
    req: &mut R,
    default: Duration,
    now: Instant,
) -> (Instant, Duration) {
    let overall = req.options().overall_timeout().unwrap_or(default);
    req.options_mut().set_deadline(now + overall, overall);
    (now + overall, overall)
}

/// Bounds one attempt (token, send and reading the whole body) with a
/// [`TimeoutKind::Attempt`] error. When the request's deadline comes first, the
/// attempt ends there instead, with a [`TimeoutKind::Overall`] error.
///
/// ```
/// use std::time::Duration;
/// use aily_client::timeout::AttemptTimeoutLayer;
/// use aily_client::{CancelRequest, Error, TimeoutKind};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let never = tower::service_fn(|_req: CancelRequest| std::future::pending::<Result<(), aily_client::BoxError>>());
/// let svc = AttemptTimeoutLayer::new(Duration::from_secs(1)).layer(never);
/// let err = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await.unwrap_err();
/// assert_eq!(Error::from_box(err).timeout_kind(), Some(TimeoutKind::Attempt));
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AttemptTimeoutLayer {
    duration: Duration,
}

impl AttemptTimeoutLayer {
    /// Each attempt may take `duration` (a request may override it with
    /// [`AilyRequest::with_attempt_timeout`]).
    pub fn new(duration: Duration) -> Self {
        AttemptTimeoutLayer { duration }
    }
}

layer_of_duration!(AttemptTimeoutLayer => AttemptTimeout);

/// The service of [`AttemptTimeoutLayer`].
#[derive(Clone, Debug)]
pub struct AttemptTimeout<S> {
    inner: S,
    duration: Duration,
}

impl<S, R> Service<R> for AttemptTimeout<S>
where
    R: AilyRequest,
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let options = req.options();
        let attempt = options.attempt_timeout().unwrap_or(self.duration);
        let now = Instant::now();
        let (at, kind, duration) = match options.deadline() {
            // The deadline comes first: end the attempt there.
            Some((deadline, overall)) if deadline <= now + attempt => {
                (deadline, TimeoutKind::Overall, overall)
            }
            _ => (now + attempt, TimeoutKind::Attempt, attempt),
        };
        TimeoutFuture::new(self.inner.call(req), at, kind, duration)
    }
}

/// Bounds the whole call with a [`TimeoutKind::Overall`] error: sets the deadline
/// the layers below keep (as [`DeadlineLayer`] does) and arms a timer that fails the
/// call when it passes, whatever the layers below do.
///
/// ```
/// use std::time::Duration;
/// use aily_client::timeout::OverallTimeoutLayer;
/// use aily_client::{CancelRequest, Error, TimeoutKind};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let never = tower::service_fn(|_req: CancelRequest| std::future::pending::<Result<(), aily_client::BoxError>>());
/// let svc = OverallTimeoutLayer::new(Duration::from_secs(2)).layer(never);
/// let err = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await.unwrap_err();
/// assert_eq!(Error::from_box(err).timeout_kind(), Some(TimeoutKind::Overall));
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct OverallTimeoutLayer {
    duration: Duration,
}

impl OverallTimeoutLayer {
    /// The whole call may take `duration` (a request may override it with
    /// [`AilyRequest::with_overall_timeout`]).
    pub fn new(duration: Duration) -> Self {
        OverallTimeoutLayer { duration }
    }
}

layer_of_duration!(OverallTimeoutLayer => OverallTimeout);

/// The service of [`OverallTimeoutLayer`].
#[derive(Clone, Debug)]
pub struct OverallTimeout<S> {
    inner: S,
    duration: Duration,
}

impl<S, R> Service<R> for OverallTimeout<S>
where
    R: AilyRequest,
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: R) -> Self::Future {
        let (at, overall) = set_deadline(&mut req, self.duration, Instant::now());
        TimeoutFuture::new(self.inner.call(req), at, TimeoutKind::Overall, overall)
    }
}

pin_project! {
    /// The future of [`AttemptTimeout`] and [`OverallTimeout`]: the inner future, or
    /// a timeout error of its kind when its timer fires first.
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        duration: Duration,
        kind: TimeoutKind,
    }
}

impl<F> TimeoutFuture<F> {
    fn new(inner: F, at: Instant, kind: TimeoutKind, duration: Duration) -> Self {
        TimeoutFuture {
            inner,
            sleep: tokio::time::sleep_until(at),
            duration,
            kind,
        }
    }
}

impl<F, T, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out.map_err(Into::into));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::timeout(*this.kind, *this.duration).into())),
            Poll::Pending => Poll::Pending,
        }
    }
}
