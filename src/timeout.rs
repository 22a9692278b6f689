//! [`TimeoutLayer`]: the attempt and overall timeouts of the typed tier.
//!
//! Unlike `tower::timeout`, the error says which timeout fired
//! ([`TimeoutKind`]), and a request may override the duration
//! ([`AilyRequest::with_attempt_timeout`], [`AilyRequest::with_overall_timeout`]).
//!
//! The overall layer writes the call's deadline into the request's options; the
//! attempt layer below it never waits past that deadline (when the deadline comes
//! first, its error is the overall timeout), and the retry policy never sleeps past
//! it. So in the default stack one timer per attempt bounds the whole call:
//! [`DeadlineLayer`] sets the deadline without a timer of its own.
//! [`TimeoutLayer::overall`] also arms its own timer, for stacks whose inner layers
//! do not honour the deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::error::{BoxError, Error, TimeoutKind};
use crate::request::AilyRequest;

/// Default bound on one attempt (token, send and reading the whole body).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on the whole call, retries and waits included.
pub const DEFAULT_OVERALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Fails a call that takes longer than its duration with a
/// [`Timeout`](crate::ErrorKind::Timeout) error naming the [`TimeoutKind`].
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
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    duration: Duration,
    kind: TimeoutKind,
}

impl TimeoutLayer {
    /// The bound on the whole call: sets the deadline the layers below respect, and
    /// arms a timer that fails the call when it passes, whatever the layers below do.
    pub fn overall(duration: Duration) -> Self {
        TimeoutLayer {
            duration,
            kind: TimeoutKind::Overall,
        }
    }

    /// The bound on one attempt. When the request carries an overall deadline that
    /// comes first, the attempt ends there instead, with an overall-timeout error.
    pub fn attempt(duration: Duration) -> Self {
        TimeoutLayer {
            duration,
            kind: TimeoutKind::Attempt,
        }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            duration: self.duration,
            kind: self.kind,
        }
    }
}

/// The service of [`TimeoutLayer`].
#[derive(Clone, Debug)]
pub struct Timeout<S> {
    inner: S,
    duration: Duration,
    kind: TimeoutKind,
}

impl<S, R> Service<R> for Timeout<S>
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
        let options = req.options();
        let now = Instant::now();
        let (at, kind, duration) = if self.kind == TimeoutKind::Overall {
            let (deadline, overall) = set_deadline(&mut req, self.duration, now);
            (deadline, TimeoutKind::Overall, overall)
        } else {
            let attempt = options.attempt_timeout().unwrap_or(self.duration);
            match options.deadline() {
                // The overall deadline comes first: end the attempt there.
                Some((deadline, overall)) if deadline <= now + attempt => {
                    (deadline, TimeoutKind::Overall, overall)
                }
                _ => (now + attempt, self.kind, attempt),
            }
        };
        TimeoutFuture {
            inner: self.inner.call(req),
            sleep: tokio::time::sleep_until(at),
            duration,
            kind,
        }
    }
}

/// Tells the layers below (attempt timeout, in-flight limit, retry) when the call
/// must be over: `now` plus the request's overall timeout, else `default`. Returns
/// the deadline and the overall timeout it comes from.
fn set_deadline<R: AilyRequest>(
    req: &mut R,
    default: Duration,
    now: Instant,
) -> (Instant, Duration) {
    let overall = req.options().overall_timeout().unwrap_or(default);
    req.options_mut().set_deadline(now + overall, overall);
    (now + overall, overall)
}

pin_project! {
    /// The future of [`Timeout`].
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        duration: Duration,
        kind: TimeoutKind,
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

/// The bound on the whole call, enforced by the layers below: sets the deadline
/// and arms no timer. Use it only over a [`TimeoutLayer::attempt`] (which never
/// waits past the deadline, failing with [`TimeoutKind::Overall`] when it is the
/// deadline that passes) and a retry policy that never sleeps past it
/// ([`RetryPolicy`](crate::retry::RetryPolicy)), as the default stack does: then
/// each attempt costs one timer, not two. Over anything else, use
/// [`TimeoutLayer::overall`].
///
/// ```
/// use std::time::Duration;
/// use aily_client::timeout::{DeadlineLayer, TimeoutLayer};
/// use aily_client::{CancelRequest, Error, TimeoutKind};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let never = tower::service_fn(|_req: CancelRequest| std::future::pending::<Result<(), aily_client::BoxError>>());
/// let svc = ServiceBuilder::new()
///     .layer(DeadlineLayer::new(Duration::from_secs(2)))
///     .layer(TimeoutLayer::attempt(Duration::from_secs(10)))
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

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            duration: self.duration,
        }
    }
}

/// The service of [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    duration: Duration,
}

impl<S, R> Service<R> for Deadline<S>
where
    R: AilyRequest,
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: R) -> Self::Future {
        set_deadline(&mut req, self.duration, Instant::now());
        DeadlineFuture {
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    /// The future of [`Deadline`]: the inner future, its error boxed.
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, T, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(Into::into)
    }
}
