//! [`InFlightLimitLayer`]: at most N attempts on the wire at once, shared by every
//! clone of a client.
//!
//! hyper-util's pool opens a new HTTP/1.1 connection for every request that finds no
//! idle one, with no cap: a burst of 10,000 calls would try to open 10,000 sockets,
//! overflow the server's accept queue, and run the process out of file descriptors.
//! This layer makes the burst wait instead, first come first served.
//!
//! It sits below retry and above the attempt timeout: each attempt takes a permit
//! and holds it until the whole body is read; the wait for a permit is not part of
//! the attempt (a long queue must not turn into attempt timeouts and retries) but is
//! bounded by the call's overall deadline, when the request carries one (then it
//! fails with [`TimeoutKind::Overall`]). The wait needs a timer only when there is
//! a wait: taking a free permit is one atomic operation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::error::{BoxError, Error, TimeoutKind};
use crate::request::AilyRequest;

/// The default limit on attempts in flight per client.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Lets at most `max` requests through at once; the others wait their turn, until
/// the request's overall deadline at most. Clones of the layer (and of the services
/// it makes) share the limit.
///
/// ```
/// use aily_client::in_flight::InFlightLimitLayer;
/// use aily_client::CancelRequest;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let echo = tower::service_fn(|req: CancelRequest| async move {
///     tokio::task::yield_now().await;
///     Ok::<_, aily_client::BoxError>(req.run_id().to_owned())
/// });
/// let limited = InFlightLimitLayer::new(2).layer(echo);
/// let call = |run: &str| limited.clone().oneshot(CancelRequest::new("s", run).unwrap());
/// // The third waits until one of the first two is done.
/// let (a, b, c) = tokio::join!(call("a"), call("b"), call("c"));
/// assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), ("a".into(), "b".into(), "c".into()));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InFlightLimitLayer {
    permits: Arc<Semaphore>,
}

impl InFlightLimitLayer {
    /// At most `max` requests at once (at least 1).
    pub fn new(max: usize) -> Self {
        InFlightLimitLayer {
            permits: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }

    /// Requests that may start now without waiting.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

impl<S> Layer<S> for InFlightLimitLayer {
    type Service = InFlightLimit<S>;
    fn layer(&self, inner: S) -> InFlightLimit<S> {
        InFlightLimit {
            inner,
            permits: self.permits.clone(),
        }
    }
}

/// The service of [`InFlightLimitLayer`].
#[derive(Clone, Debug)]
pub struct InFlightLimit<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

impl<S> InFlightLimit<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> Service<R> for InFlightLimit<S>
where
    R: AilyRequest,
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = InFlightFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // Fast path: a free permit is one atomic operation, and the call goes out now.
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return InFlightFuture {
                state: State::Sending {
                    future: self.inner.call(req),
                    permit: Some(permit),
                },
            };
        }
        // Slow path: wait for a permit (until the deadline at most), then ready and
        // call the service. The ready service waits with the request; a fresh clone
        // stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let acquire = self.permits.clone().acquire_owned();
        let deadline = req.options().deadline();
        let waiting = async move {
            // The semaphore is never closed, so the permit is always had.
            let _permit = match deadline {
                None => acquire.await.ok(),
                Some((at, overall)) => tokio::time::timeout_at(at, acquire)
                    .await
                    .map_err(|_| Error::timeout(TimeoutKind::Overall, overall))?
                    .ok(),
            };
            tower::ServiceExt::ready(&mut inner)
                .await
                .map_err(Into::into)?;
            // The attempt is over (its whole body read, below) when this returns, and
            // the permit goes with it.
            inner.call(req).await.map_err(Into::into)
        };
        InFlightFuture {
            state: State::Waiting {
                future: Box::pin(waiting),
            },
        }
    }
}

pin_project! {
    /// The future of [`InFlightLimit`]: the call with its permit, or — when every
    /// permit is taken — the boxed wait for one followed by the call.
    pub struct InFlightFuture<F, T> {
        #[pin]
        state: State<F, T>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, T> {
        Sending { #[pin] future: F, permit: Option<OwnedSemaphorePermit> },
        Waiting { future: BoxFuture<Result<T, BoxError>> },
    }
}

impl<F, T, E> Future for InFlightFuture<F, T>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Sending { future, permit } => {
                let out = ready!(future.poll(cx));
                // The attempt is over (its whole body read, below): let the next one go.
                drop(permit.take());
                Poll::Ready(out.map_err(Into::into))
            }
            StateProj::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}
