//! [`InFlightLimitLayer`]: at most N requests on the wire at once, shared by every
//! clone of a client.
//!
//! hyper-util's pool opens a new HTTP/1.1 connection for every request that finds no
//! idle one, with no cap: a burst of 10,000 calls would try to open 10,000 sockets,
//! overflow the server's accept queue, and run the process out of file descriptors.
//! This layer makes the burst wait instead, first come first served. The wait is
//! inside the attempt timeout (the layer sits below it), so a call never waits longer
//! than it may take; and the permit is held until the whole body is read.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Request;
use pin_project_lite::pin_project;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tower::{Layer, Service};

use crate::error::BoxError;

/// The default limit on requests in flight per client.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Lets at most `max` requests through at once; the others wait their turn.
/// Clones of the layer (and of the services it makes) share the limit.
///
/// ```
/// use aily_client::transport::InFlightLimitLayer;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let echo = tower::service_fn(|req: http::Request<()>| async move {
///     Ok::<_, aily_client::BoxError>(req.uri().path().to_owned())
/// });
/// let limited = InFlightLimitLayer::new(2).layer(echo);
/// let (a, b, c) = tokio::join!(
///     limited.clone().oneshot(http::Request::get("/a").body(()).unwrap()),
///     limited.clone().oneshot(http::Request::get("/b").body(()).unwrap()),
///     limited.clone().oneshot(http::Request::get("/c").body(()).unwrap()), // waits for a or b
/// );
/// assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), ("/a".into(), "/b".into(), "/c".into()));
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

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

impl<S, B> Service<Request<B>> for InFlightLimit<S>
where
    S: Service<Request<B>> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = InFlightFuture<S, S::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let state = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => State::Sending {
                future: self.inner.call(req),
                permit: Some(permit),
            },
            // The semaphore is never closed; were it, the limit would no longer apply.
            Err(TryAcquireError::Closed) => State::Sending {
                future: self.inner.call(req),
                permit: None,
            },
            Err(TryAcquireError::NoPermits) => {
                // The ready service waits with the request; a fresh clone stays behind.
                let clone = self.inner.clone();
                State::Waiting {
                    acquire: Some(Box::pin(self.permits.clone().acquire_owned())),
                    permit: None,
                    inner: Some(std::mem::replace(&mut self.inner, clone)),
                    req: Some(req),
                }
            }
        };
        InFlightFuture { state }
    }
}

pin_project! {
    /// The future of [`InFlightLimit`].
    pub struct InFlightFuture<S, F, B> {
        #[pin]
        state: State<S, F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, B> {
        Waiting {
            acquire: Option<Acquire>,
            permit: Option<OwnedSemaphorePermit>,
            inner: Option<S>,
            req: Option<Request<B>>,
        },
        Sending { #[pin] future: F, permit: Option<OwnedSemaphorePermit> },
    }
}

impl<S, F, B, T, E> Future for InFlightFuture<S, F, B>
where
    S: Service<Request<B>, Future = F, Error = E>,
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Sending { future, permit } => {
                    let out = ready!(future.poll(cx));
                    // The reply (its whole body, below) is in: let the next one go.
                    drop(permit.take());
                    return Poll::Ready(out.map_err(Into::into));
                }
                StateProj::Waiting {
                    acquire,
                    permit,
                    inner,
                    req,
                } => {
                    if let Some(waiting) = acquire.as_mut() {
                        *permit = ready!(waiting.as_mut().poll(cx)).ok();
                        *acquire = None;
                    }
                    let Some(service) = inner.as_mut() else {
                        return Poll::Ready(Err("InFlightFuture polled after completion".into()));
                    };
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(e.into()));
                    }
                    let (Some(mut service), Some(req)) = (inner.take(), req.take()) else {
                        return Poll::Ready(Err("InFlightFuture polled after completion".into()));
                    };
                    let future = service.call(req);
                    let permit = permit.take();
                    state.set(State::Sending { future, permit });
                }
            }
        }
    }
}
