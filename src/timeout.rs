//! [`TimeoutLayer`]: the attempt and overall timeouts of the typed tier.
//!
//! Unlike `tower::timeout`, the error says which timeout fired
//! ([`TimeoutKind`]), and a request may override the duration
//! ([`AilyRequest::with_attempt_timeout`], [`AilyRequest::with_overall_timeout`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
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
    /// The bound on the whole call.
    pub fn overall(duration: Duration) -> Self {
        TimeoutLayer {
            duration,
            kind: TimeoutKind::Overall,
        }
    }

    /// The bound on one attempt.
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
        let duration = match self.kind {
            TimeoutKind::Overall => options.overall_timeout(),
            _ => options.attempt_timeout(),
        }
        .unwrap_or(self.duration);
        if self.kind == TimeoutKind::Overall {
            // Tell the layers below (retry) when the call must be over.
            let deadline = tokio::time::Instant::now() + duration;
            req.options_mut().set_deadline(deadline);
        }
        TimeoutFuture {
            inner: self.inner.call(req),
            sleep: tokio::time::sleep(duration),
            duration,
            kind: self.kind,
        }
    }
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
