//! [`OperationMetricsLayer`]: `aily.client.operation.duration`, one sample per call,
//! retries, backoff and rate-limit waits included.
//!
//! It sits just inside the operation span, outside the deadline, so a call that runs
//! out of time is measured with `error.type = timeout`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use metrics::Label;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{HistogramHandles, OPERATION_DURATION, labels};
use crate::error::{BoxError, ErrorKind};
use crate::request::AilyRequest;

/// Records each call through it.
///
/// Its clones share the histogram handles it registered (by label set and recorder,
/// so the hot path builds no metric key): keep one layer per client rather than one
/// per call.
///
/// ```
/// use aily_client::metrics::OperationMetricsLayer;
/// use tower::ServiceBuilder;
///
/// let builder = ServiceBuilder::new().layer(OperationMetricsLayer::new());
/// # let _ = builder;
/// ```
#[derive(Clone, Debug, Default)]
pub struct OperationMetricsLayer {
    handles: Arc<Handles>,
}

/// By operation (the address and length of its name) and error kind.
type Handles = HistogramHandles<((usize, usize), Option<ErrorKind>)>;

impl OperationMetricsLayer {
    /// The layer.
    pub fn new() -> Self {
        OperationMetricsLayer::default()
    }
}

impl<S> Layer<S> for OperationMetricsLayer {
    type Service = OperationMetrics<S>;
    fn layer(&self, inner: S) -> OperationMetrics<S> {
        OperationMetrics {
            inner,
            handles: self.handles.clone(),
        }
    }
}

/// The service of [`OperationMetricsLayer`].
#[derive(Clone, Debug)]
pub struct OperationMetrics<S> {
    inner: S,
    handles: Arc<Handles>,
}

impl<S, R> Service<R> for OperationMetrics<S>
where
    R: AilyRequest,
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = OperationMetricsFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        OperationMetricsFuture {
            started: Instant::now(),
            inner: self.inner.call(req),
            handles: self.handles.clone(),
            _request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`OperationMetrics`].
    pub struct OperationMetricsFuture<F, R> {
        #[pin]
        inner: F,
        started: Instant,
        handles: Arc<Handles>,
        _request: PhantomData<fn() -> R>,
    }
}

impl<F, T, E, R> Future for OperationMetricsFuture<F, R>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    R: AilyRequest,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out.map_err(Into::into),
        };
        let elapsed = this.started.elapsed().as_secs_f64();
        let kind = out.as_ref().err().map(|e| super::crate_error(e).kind());
        let name = (R::OPERATION.as_ptr() as usize, R::OPERATION.len());
        let labels = || {
            let operation = Label::from_static_parts(labels::OPERATION, R::OPERATION);
            match kind {
                None => vec![operation],
                Some(kind) => vec![
                    operation,
                    Label::from_static_parts(labels::ERROR_TYPE, kind.as_str()),
                ],
            }
        };
        this.handles
            .record(OPERATION_DURATION, (name, kind), labels, elapsed);
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use tower::{ServiceExt, service_fn};

    use super::super::tests::{Recorded, Value, recorded};
    use super::*;
    use crate::CancelRequest;
    use crate::error::{Error, ErrorKind};

    /// One call through the layer over `reply`: every series recorded.
    fn once(reply: Result<(), Error>) -> Vec<Recorded> {
        recorded(|| {
            let svc = OperationMetricsLayer::new().layer(service_fn(move |_req: CancelRequest| {
                std::future::ready(reply.clone().map_err(BoxError::from))
            }));
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let _ = rt.block_on(svc.oneshot(CancelRequest::new("s", "r").unwrap()));
        })
    }

    #[test]
    fn a_success_is_one_sample_named_by_its_operation() {
        let want = vec![("aily.operation".to_owned(), "aily.run.cancel".to_owned())];
        assert_eq!(
            once(Ok(())),
            vec![(OPERATION_DURATION.to_owned(), want, Value::Samples(1))]
        );
    }

    #[test]
    fn a_failure_has_its_error_type() {
        let want = vec![
            ("aily.operation".to_owned(), "aily.run.cancel".to_owned()),
            ("error.type".to_owned(), "rate_limited".to_owned()),
        ];
        let err = Error::new(ErrorKind::RateLimited, "slow down");
        assert_eq!(
            once(Err(err)),
            vec![(OPERATION_DURATION.to_owned(), want, Value::Samples(1))]
        );
    }
}
