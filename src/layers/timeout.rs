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

use crate::api::request::AilyRequest;
use crate::error::{Error, TimeoutKind};

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

/// Sets the call's deadline — now plus the request's overall timeout, else this
/// layer's — for the layers below to keep: the attempt timeout, the in-flight limit
/// and the retry policy never wait past it. It arms no timer: use it over an
/// [`AttemptTimeoutLayer`] and a [`RetryPolicy`](crate::layers::retry::RetryPolicy), as the
/// default stack does, so each attempt costs one timer, not two. Over anything else,
/// use [`OverallTimeoutLayer`].
///
/// ```
/// use std::time::Duration;
/// use aily_client::timeout::{AttemptTimeoutLayer, DeadlineLayer};
/// use aily_client::{CancelRequest, TimeoutKind};
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
/// assert_eq!(err.timeout_kind(), Some(TimeoutKind::Overall));
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
/// use aily_client::{CancelRequest, TimeoutKind};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let never = tower::service_fn(|_req: CancelRequest| std::future::pending::<Result<(), aily_client::BoxError>>());
/// let svc = AttemptTimeoutLayer::new(Duration::from_secs(1)).layer(never);
/// let err = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await.unwrap_err();
/// assert_eq!(err.timeout_kind(), Some(TimeoutKind::Attempt));
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
    S::Error: Into<Error>,
{
    type Response = S::Response;
    type Error = Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
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
/// use aily_client::{CancelRequest, TimeoutKind};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let never = tower::service_fn(|_req: CancelRequest| std::future::pending::<Result<(), aily_client::BoxError>>());
/// let svc = OverallTimeoutLayer::new(Duration::from_secs(2)).layer(never);
/// let err = svc.oneshot(CancelRequest::new("s", "r").unwrap()).await.unwrap_err();
/// assert_eq!(err.timeout_kind(), Some(TimeoutKind::Overall));
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
    S::Error: Into<Error>,
{
    type Response = S::Response;
    type Error = Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
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
    E: Into<Error>,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out.map_err(Into::into));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::timeout(*this.kind, *this.duration))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each layer alone, over a `service_fn`, on tokio's paused clock: a timer fires
    //! at its exact instant, so "when" is asserted, not "how fast".

    use std::future::{Ready, pending, ready};
    use std::sync::{Arc, Mutex};

    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::CancelRequest;

    use crate::error::ErrorKind;
    use crate::test_support::Bounded;

    fn req() -> CancelRequest {
        CancelRequest::new("s", "r").unwrap()
    }

    /// A request whose deadline is `in_` from now, set by an overall timeout of
    /// `overall` (as if `overall - in_` had already been spent).
    fn with_deadline(in_: Duration, overall: Duration) -> CancelRequest {
        let mut r = req();
        r.options_mut().set_deadline(Instant::now() + in_, overall);
        r
    }

    type Seen = Arc<Mutex<Option<Option<(Instant, Duration)>>>>;

    /// An inner service that keeps the deadline it was called with and never answers.
    fn deadline_spy() -> (
        Seen,
        impl Service<
            CancelRequest,
            Response = (),
            Error = Error,
            Future = std::future::Pending<Result<(), Error>>,
        > + Clone,
    ) {
        let seen: Seen = Arc::default();
        let spy = seen.clone();
        let svc = service_fn(move |r: CancelRequest| {
            *spy.lock().unwrap() = Some(r.options().deadline());
            pending::<Result<(), Error>>()
        });
        (seen, svc)
    }

    fn never() -> impl Service<CancelRequest, Response = (), Error = Error> + Clone {
        service_fn(|_r: CancelRequest| pending::<Result<(), Error>>())
    }

    fn timeout_of(err: Error) -> (Option<TimeoutKind>, String) {
        let err = err;
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        (err.timeout_kind(), err.to_string())
    }

    /// Calls `svc`, which never answers, with `request`: how long until the timeout
    /// fired, which one it was, and the error's text.
    async fn fire<S>(svc: S, request: CancelRequest) -> (Duration, Option<TimeoutKind>, String)
    where
        S: Service<CancelRequest, Error = Error>,
        S::Response: std::fmt::Debug,
    {
        let start = Instant::now();
        let err = svc.oneshot(request).bounded().await.unwrap_err();
        let (kind, text) = timeout_of(err);
        (start.elapsed(), kind, text)
    }

    fn api_error() -> Error {
        Error::new(ErrorKind::Api, "Feishu returned an error").with_api(
            2700001,
            "param is invalid".into(),
            None,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_layer_writes_now_plus_its_duration() {
        let start = Instant::now();
        let svc = service_fn(|r: CancelRequest| ready(Ok::<_, Error>(r.options().deadline())));
        let seen = DeadlineLayer::new(Duration::from_secs(5))
            .layer(svc)
            .oneshot(req())
            .bounded()
            .await
            .unwrap();
        assert_eq!(
            seen,
            Some((start + Duration::from_secs(5), Duration::from_secs(5)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_layer_prefers_the_request_overall_timeout() {
        tokio::time::advance(Duration::from_secs(1)).await;
        let start = Instant::now();
        let svc = service_fn(|r: CancelRequest| ready(Ok::<_, Error>(r.options().deadline())));
        let seen = DeadlineLayer::new(Duration::from_secs(30))
            .layer(svc)
            .oneshot(req().with_overall_timeout(Duration::from_secs(2)))
            .bounded()
            .await
            .unwrap();
        assert_eq!(
            seen,
            Some((start + Duration::from_secs(2), Duration::from_secs(2)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_layer_arms_no_timer_and_returns_the_inner_future() {
        // Its future is the inner one, as a type: no timer can hide in it.
        let mut svc = DeadlineLayer::new(Duration::from_secs(1))
            .layer(service_fn(|_r: CancelRequest| ready(Ok::<u8, Error>(7))));
        let fut: Ready<Result<u8, Error>> = svc.call(req());
        assert_eq!(fut.await.unwrap(), 7);

        // And a call that outlives the deadline is not failed by this layer, nor is
        // an inner error changed.
        let start = Instant::now();
        let slow = service_fn(|_r: CancelRequest| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Error>("late but fine")
        });
        let out = DeadlineLayer::new(Duration::from_secs(1))
            .layer(slow)
            .oneshot(req())
            .bounded()
            .await
            .unwrap();
        assert_eq!(
            (out, start.elapsed()),
            ("late but fine", Duration::from_secs(60))
        );
        let failing = service_fn(|_r: CancelRequest| ready(Err::<(), Error>(api_error())));
        let err = DeadlineLayer::new(Duration::from_secs(1))
            .layer(failing)
            .oneshot(req())
            .bounded()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(2700001));
    }

    #[tokio::test(start_paused = true)]
    async fn attempt_timeout_fires_attempt_after_its_duration() {
        let (took, kind, text) = fire(
            AttemptTimeoutLayer::new(Duration::from_secs(3)).layer(never()),
            req(),
        )
        .await;
        assert_eq!(took, Duration::from_secs(3));
        assert_eq!(kind, Some(TimeoutKind::Attempt));
        assert!(text.contains("3000 ms"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn attempt_timeout_takes_the_request_override() {
        let (took, kind, text) = fire(
            AttemptTimeoutLayer::new(Duration::from_secs(10)).layer(never()),
            req().with_attempt_timeout(Duration::from_millis(1500)),
        )
        .await;
        assert_eq!(took, Duration::from_millis(1500));
        assert_eq!(kind, Some(TimeoutKind::Attempt));
        assert!(text.contains("1500 ms"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn attempt_timeout_is_capped_at_the_deadline_with_the_overall_error() {
        // 5 s of a 7 s overall timeout are spent: the 10 s attempt ends in 2 s, and
        // the error is the overall timeout's, carrying its 7 s (not the 2 s left).
        let (took, kind, text) = fire(
            AttemptTimeoutLayer::new(Duration::from_secs(10)).layer(never()),
            with_deadline(Duration::from_secs(2), Duration::from_secs(7)),
        )
        .await;
        assert_eq!(took, Duration::from_secs(2));
        assert_eq!(kind, Some(TimeoutKind::Overall));
        assert!(text.contains("7000 ms"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn attempt_timeout_before_a_later_deadline_is_an_attempt_timeout() {
        let (took, kind, text) = fire(
            AttemptTimeoutLayer::new(Duration::from_secs(3)).layer(never()),
            with_deadline(Duration::from_secs(20), Duration::from_secs(30)),
        )
        .await;
        assert_eq!(took, Duration::from_secs(3));
        assert_eq!(kind, Some(TimeoutKind::Attempt), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn attempt_timeout_under_a_deadline_layer_ends_at_the_request_overall_timeout() {
        let svc = ServiceBuilder::new()
            .layer(DeadlineLayer::new(Duration::from_secs(30)))
            .layer(AttemptTimeoutLayer::new(Duration::from_secs(10)))
            .service(never());
        let (took, kind, text) =
            fire(svc, req().with_overall_timeout(Duration::from_secs(4))).await;
        assert_eq!(took, Duration::from_secs(4));
        assert_eq!(kind, Some(TimeoutKind::Overall));
        assert!(text.contains("4000 ms"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_pass_inner_results_and_errors_through() {
        let ok = service_fn(|r: CancelRequest| ready(Ok::<_, Error>(r.run_id().to_owned())));
        let out = AttemptTimeoutLayer::new(Duration::from_secs(1))
            .layer(ok)
            .oneshot(req())
            .bounded()
            .await
            .unwrap();
        assert_eq!(out, "r");
        let out = OverallTimeoutLayer::new(Duration::from_secs(1))
            .layer(ok)
            .oneshot(req())
            .bounded()
            .await
            .unwrap();
        assert_eq!(out, "r");

        let failing = service_fn(|_r: CancelRequest| ready(Err::<(), Error>(api_error())));
        let err = AttemptTimeoutLayer::new(Duration::from_secs(1))
            .layer(failing)
            .oneshot(req())
            .bounded()
            .await
            .unwrap_err();
        let err = err;
        assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(2700001)));
        let err = OverallTimeoutLayer::new(Duration::from_secs(1))
            .layer(failing)
            .oneshot(req())
            .bounded()
            .await
            .unwrap_err();
        let err = err;
        assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(2700001)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_inner_result_wins_when_ready_with_the_timer() {
        // The inner call ends on the very tick the timer fires: its answer is kept.
        let tie = service_fn(|_r: CancelRequest| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<_, Error>("answered")
        });
        let out = AttemptTimeoutLayer::new(Duration::from_secs(2))
            .layer(tie)
            .oneshot(req())
            .bounded()
            .await
            .unwrap();
        assert_eq!(out, "answered");
        let out = OverallTimeoutLayer::new(Duration::from_secs(2))
            .layer(tie)
            .oneshot(req())
            .bounded()
            .await
            .unwrap();
        assert_eq!(out, "answered");
    }

    #[tokio::test(start_paused = true)]
    async fn overall_timeout_sets_the_deadline_and_fires_though_the_inner_ignores_it() {
        let start = Instant::now();
        let (seen, spy) = deadline_spy();
        let (took, kind, text) = fire(
            OverallTimeoutLayer::new(Duration::from_secs(4)).layer(spy),
            req(),
        )
        .await;
        assert_eq!(took, Duration::from_secs(4));
        assert_eq!(
            *seen.lock().unwrap(),
            Some(Some((
                start + Duration::from_secs(4),
                Duration::from_secs(4)
            )))
        );
        assert_eq!(kind, Some(TimeoutKind::Overall));
        assert!(text.contains("4000 ms"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn overall_timeout_takes_the_request_override() {
        let start = Instant::now();
        let (seen, spy) = deadline_spy();
        let (took, kind, text) = fire(
            OverallTimeoutLayer::new(Duration::from_secs(30)).layer(spy),
            req().with_overall_timeout(Duration::from_secs(1)),
        )
        .await;
        assert_eq!(took, Duration::from_secs(1));
        assert_eq!(
            *seen.lock().unwrap(),
            Some(Some((
                start + Duration::from_secs(1),
                Duration::from_secs(1)
            )))
        );
        assert_eq!(kind, Some(TimeoutKind::Overall));
        assert!(text.contains("1000 ms"), "{text}");
    }
}
