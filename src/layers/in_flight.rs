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

use crate::api::request::AilyRequest;
use crate::error::{Error, TimeoutKind};

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
    S::Error: Into<Error>,
{
    type Response = S::Response;
    type Error = Error;
    type Future = InFlightFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
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
        Waiting { future: BoxFuture<Result<T, Error>> },
    }
}

impl<F, T, E> Future for InFlightFuture<F, T>
where
    F: Future<Output = Result<T, E>>,
    E: Into<Error>,
{
    type Output = Result<T, Error>;

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

#[cfg(test)]
mod tests {
    //! The limiter alone, over tower-test's mock service: the mock shows which calls
    //! reached the inner service and answers them one by one. (It also panics on a
    //! call it was not readied for, which pins the slow path's "the ready service
    //! waits with the request".)

    use std::time::Duration;

    use tokio::task::JoinHandle;
    use tokio::time::Instant;
    use tower::ServiceExt;
    use tower_test::mock::{self, Handle, Mock};

    use super::*;
    use crate::error::ErrorKind;
    use crate::{AilyRequest, CancelRequest};

    use crate::test_support::Bounded;

    type Limited = InFlightLimit<Mock<CancelRequest, String>>;

    fn limited(max: usize) -> (InFlightLimitLayer, Limited, Handle<CancelRequest, String>) {
        let (mock, handle) = mock::pair::<CancelRequest, String>();
        let layer = InFlightLimitLayer::new(max);
        let svc = layer.layer(mock);
        (layer, svc, handle)
    }

    fn req(run: &str) -> CancelRequest {
        CancelRequest::new("s", run).unwrap()
    }

    fn spawn_call(svc: &Limited, req: CancelRequest) -> JoinHandle<Result<String, Error>> {
        tokio::spawn(svc.clone().oneshot(req))
    }

    /// The next request the inner service receives, if one comes within a second
    /// (on the paused clock: once every task is idle, "none" is certain).
    async fn next(
        handle: &mut Handle<CancelRequest, String>,
    ) -> Option<(CancelRequest, mock::SendResponse<String>)> {
        tokio::time::timeout(Duration::from_secs(1), handle.next_request())
            .await
            .ok()
            .flatten()
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_n_calls_reach_the_inner_service_and_the_next_goes_when_one_ends() {
        let (layer, svc, mut handle) = limited(2);
        let a = spawn_call(&svc, req("a"));
        let (ra, sa) = next(&mut handle).await.expect("a is sent");
        let b = spawn_call(&svc, req("b"));
        let (rb, sb) = next(&mut handle).await.expect("b is sent");
        let c = spawn_call(&svc, req("c"));
        assert!(
            next(&mut handle).await.is_none(),
            "c waits while a and b are in flight"
        );
        assert_eq!(layer.available(), 0);

        sb.send_response(format!("done {}", rb.run_id()));
        assert_eq!(b.bounded().await.unwrap().unwrap(), "done b");
        let (rc, sc) = next(&mut handle).await.expect("c goes once b is done");
        assert_eq!(rc.run_id(), "c");
        assert!(next(&mut handle).await.is_none());

        sa.send_response(format!("done {}", ra.run_id()));
        sc.send_response(format!("done {}", rc.run_id()));
        assert_eq!(a.bounded().await.unwrap().unwrap(), "done a");
        assert_eq!(c.bounded().await.unwrap().unwrap(), "done c");
        assert_eq!(layer.available(), 2);
    }

    /// Polls `fut` to its end and leaves it alive (not dropped), so what is released
    /// is released by completing, not by dropping.
    async fn complete<F: Future + Unpin>(fut: &mut F) -> F::Output {
        std::future::poll_fn(|cx| Pin::new(&mut *fut).poll(cx)).await
    }

    #[tokio::test(start_paused = true)]
    async fn the_permit_is_held_while_the_inner_future_runs_and_released_when_it_completes() {
        let (layer, mut svc, mut handle) = limited(1);
        // Fast path: a free permit.
        svc.ready().await.unwrap();
        let mut fast = Box::pin(svc.call(req("fast")));
        let answer = tokio::spawn(async move {
            let (r, send) = handle.next_request().await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            send.send_response(r.run_id().to_owned());
            handle
        });
        tokio::select! {
            _ = &mut fast => panic!("the mock has not answered yet"),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        assert_eq!(layer.available(), 0, "held while the inner future runs");
        assert_eq!(complete(&mut fast).bounded().await.unwrap(), "fast");
        assert_eq!(
            layer.available(),
            1,
            "released on completion, before the drop"
        );
        let mut handle = answer.bounded().await.unwrap();
        drop(fast);

        // Slow path: the one permit is taken, so the call waits, then holds it in turn.
        svc.ready().await.unwrap();
        let first = svc.call(req("first"));
        let (_r1, s1) = next(&mut handle).await.expect("first is sent");
        svc.ready().await.unwrap();
        let mut slow = Box::pin(svc.call(req("slow")));
        tokio::select! {
            _ = &mut slow => panic!("no permit is free"),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        s1.send_response("first".into());
        assert_eq!(first.bounded().await.unwrap(), "first");
        let answer = tokio::spawn(async move {
            let (r, send) = handle.next_request().await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            send.send_response(r.run_id().to_owned());
        });
        tokio::select! {
            _ = &mut slow => panic!("the mock has not answered yet"),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        assert_eq!(
            layer.available(),
            0,
            "the waiter holds the permit while sending"
        );
        assert_eq!(complete(&mut slow).bounded().await.unwrap(), "slow");
        assert_eq!(
            layer.available(),
            1,
            "released on completion, before the drop"
        );
        answer.bounded().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_call_releases_its_permit_and_a_dropped_waiter_never_sends() {
        let (layer, svc, mut handle) = limited(1);
        let a = spawn_call(&svc, req("a"));
        let (_ra, _sa) = next(&mut handle).await.expect("a is sent");
        let b = spawn_call(&svc, req("b"));
        assert!(next(&mut handle).await.is_none(), "b waits");

        b.abort();
        assert!(b.bounded().await.unwrap_err().is_cancelled());
        a.abort();
        assert!(a.bounded().await.unwrap_err().is_cancelled());
        assert_eq!(
            layer.available(),
            1,
            "the dropped call gave its permit back"
        );
        assert!(
            next(&mut handle).await.is_none(),
            "the dropped waiter never sent"
        );

        let c = spawn_call(&svc, req("c"));
        let (rc, sc) = next(&mut handle).await.expect("c goes at once");
        assert_eq!(rc.run_id(), "c");
        sc.send_response("c".into());
        assert_eq!(c.bounded().await.unwrap().unwrap(), "c");
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_ends_at_the_deadline_with_the_overall_timeout_and_sends_nothing() {
        let (layer, svc, mut handle) = limited(1);
        let a = spawn_call(&svc, req("a"));
        let (_ra, sa) = next(&mut handle).await.expect("a is sent");

        // 4 s of a 7 s overall timeout are spent: b may wait 3 s.
        let start = Instant::now();
        let mut b = req("b");
        b.options_mut()
            .set_deadline(start + Duration::from_secs(3), Duration::from_secs(7));
        let err = svc.clone().oneshot(b).bounded().await.unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        let err = err;
        assert_eq!(err.timeout_kind(), Some(TimeoutKind::Overall), "{err}");
        assert!(err.to_string().contains("7000 ms"), "{err}");

        sa.send_response("a".into());
        assert_eq!(a.bounded().await.unwrap().unwrap(), "a");
        assert!(
            next(&mut handle).await.is_none(),
            "b never reached the inner service"
        );
        assert_eq!(layer.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_does_not_fail_a_call_that_gets_its_permit_in_time() {
        let (_layer, svc, mut handle) = limited(1);
        let a = spawn_call(&svc, req("a"));
        let (_ra, sa) = next(&mut handle).await.expect("a is sent");
        let mut b = req("b");
        b.options_mut().set_deadline(
            Instant::now() + Duration::from_secs(3),
            Duration::from_secs(3),
        );
        let b = spawn_call(&svc, b);
        tokio::time::sleep(Duration::from_secs(2)).await;
        sa.send_response("a".into());
        a.bounded().await.unwrap().unwrap();
        let (rb, sb) = next(&mut handle).await.expect("b goes before its deadline");
        // Past the deadline now: the limiter bounds the wait, not the attempt.
        tokio::time::sleep(Duration::from_secs(5)).await;
        sb.send_response(rb.run_id().to_owned());
        assert_eq!(b.bounded().await.unwrap().unwrap(), "b");
    }

    #[tokio::test(start_paused = true)]
    async fn clones_of_the_layer_share_the_limit() {
        let (mock1, mut handle1) = mock::pair::<CancelRequest, String>();
        let (mock2, mut handle2) = mock::pair::<CancelRequest, String>();
        let layer1 = InFlightLimitLayer::new(1);
        let layer2 = layer1.clone();
        let svc1 = layer1.layer(mock1);
        let svc2 = layer2.layer(mock2);
        let a = spawn_call(&svc1, req("a"));
        let (_ra, sa) = next(&mut handle1).await.expect("a is sent");
        assert_eq!(layer2.available(), 0);
        let b = spawn_call(&svc2, req("b"));
        assert!(next(&mut handle2).await.is_none(), "b waits for a's permit");
        sa.send_response("a".into());
        a.bounded().await.unwrap().unwrap();
        let (rb, sb) = next(&mut handle2).await.expect("b goes once a is done");
        sb.send_response(rb.run_id().to_owned());
        assert_eq!(b.bounded().await.unwrap().unwrap(), "b");
        assert_eq!(layer1.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_inner_error_passes_through_and_gives_the_permit_back() {
        let (layer, svc, mut handle) = limited(1);
        let a = spawn_call(&svc, req("a"));
        let (_ra, sa) = next(&mut handle).await.expect("a is sent");
        sa.send_error(Error::new(ErrorKind::Api, "no").with_api(2700001, "no".into(), None));
        let err = a.bounded().await.unwrap().unwrap_err();
        assert_eq!(err.code(), Some(2700001));
        assert_eq!(layer.available(), 1);
    }

    #[test]
    fn available_counts_free_permits_and_the_limit_is_at_least_one() {
        assert_eq!(InFlightLimitLayer::new(3).available(), 3);
        assert_eq!(InFlightLimitLayer::new(0).available(), 1);
        assert_eq!(
            InFlightLimitLayer::new(usize::MAX).available(),
            Semaphore::MAX_PERMITS
        );
    }
}
