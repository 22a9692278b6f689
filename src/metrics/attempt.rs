//! [`AttemptMetricsLayer`]: `http.client.request.duration`, one sample per attempt,
//! and `aily.client.feishu.errors`, one per error reply.
//!
//! It sits where the attempt span sits — between the retry layer and the attempt
//! timeout — so a timed-out attempt is measured with `error.type = timeout`. The
//! reply's status is read from what the attempt returns: the
//! [`Reply`](crate::api_call::Reply) of [`ApiCallLayer`](crate::api_call::ApiCallLayer),
//! or the error a reply decoded into ([`Error::reply_status`](crate::Error::reply_status)).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use metrics::{Label, SharedString};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{HTTP_CLIENT_REQUEST_DURATION, HistogramHandles, labels};
use crate::api_call::Reply;
use crate::error::{BoxError, ErrorKind};
use crate::request::AilyRequest;
use crate::transport::BaseUrl;

/// Records each attempt of the calls through it.
///
/// Its clones share one set of registered handles: keep one layer per client rather
/// than one per call.
///
/// ```
/// use aily_client::metrics::AttemptMetricsLayer;
/// use aily_client::transport::BaseUrl;
///
/// let layer = AttemptMetricsLayer::new().server(&BaseUrl::feishu()); // server.address / server.port
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default)]
pub struct AttemptMetricsLayer {
    shared: Arc<Shared>,
}

/// What every attempt through the layer shares.
#[derive(Debug, Default)]
struct Shared {
    /// `server.address` and `server.port`, made once.
    server: Option<(SharedString, SharedString)>,
    /// By operation (the address and length of its name), status (0: no reply) and
    /// error kind.
    handles: HistogramHandles<((usize, usize), u16, Option<ErrorKind>)>,
}

impl AttemptMetricsLayer {
    /// Attempts recorded without server labels.
    pub fn new() -> Self {
        AttemptMetricsLayer::default()
    }

    /// Label every sample with `server.address` and `server.port` of `base`.
    pub fn server(self, base: &BaseUrl) -> Self {
        AttemptMetricsLayer {
            shared: Arc::new(Shared {
                server: Some((
                    SharedString::from_shared(Arc::from(base.host())),
                    SharedString::from_shared(Arc::from(base.port().to_string())),
                )),
                handles: HistogramHandles::default(),
            }),
        }
    }
}

impl<S> Layer<S> for AttemptMetricsLayer {
    type Service = AttemptMetrics<S>;
    fn layer(&self, inner: S) -> AttemptMetrics<S> {
        AttemptMetrics {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service of [`AttemptMetricsLayer`].
#[derive(Clone, Debug)]
pub struct AttemptMetrics<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, R> Service<R> for AttemptMetrics<S>
where
    R: AilyRequest,
    S: Service<R, Response = Reply<R::Response>>,
    S::Error: Into<BoxError>,
{
    type Response = Reply<R::Response>;
    type Error = BoxError;
    type Future = AttemptMetricsFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        AttemptMetricsFuture {
            started: Instant::now(),
            inner: self.inner.call(req),
            shared: self.shared.clone(),
            _request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`AttemptMetrics`].
    pub struct AttemptMetricsFuture<F, R> {
        #[pin]
        inner: F,
        started: Instant,
        shared: Arc<Shared>,
        _request: PhantomData<fn() -> R>,
    }
}

impl<F, T, E, R> Future for AttemptMetricsFuture<F, R>
where
    F: Future<Output = Result<Reply<T>, E>>,
    E: Into<BoxError>,
    R: AilyRequest,
{
    type Output = Result<Reply<T>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out.map_err(Into::into),
        };
        let elapsed = this.started.elapsed().as_secs_f64();
        // Only the status of this attempt's own reply: a token fetch that failed under
        // it is not a reply to it (and counts its code itself).
        let (status, kind) = match &out {
            Ok(reply) => (Some(reply.status().as_u16()), None),
            Err(err) => {
                let e = super::crate_error(err);
                let status = e.reply_status().map(|s| s.as_u16());
                if let Some(code) = e.code().filter(|_| status.is_some()) {
                    super::feishu_error(R::OPERATION, code);
                }
                (status, Some(e.kind()))
            }
        };
        let server = &this.shared.server;
        let labels = || {
            let mut labels = Vec::with_capacity(6);
            labels.push(Label::new(
                labels::HTTP_REQUEST_METHOD,
                super::method_label(&R::METHOD),
            ));
            labels.push(Label::from_static_parts(
                labels::URL_TEMPLATE,
                R::URL_TEMPLATE,
            ));
            if let Some((address, port)) = server {
                labels.push(Label::new(labels::SERVER_ADDRESS, address.clone()));
                labels.push(Label::new(labels::SERVER_PORT, port.clone()));
            }
            if let Some(kind) = kind {
                labels.push(Label::from_static_parts(labels::ERROR_TYPE, kind.as_str()));
            }
            if let Some(status) = status {
                labels.push(Label::new(
                    labels::HTTP_RESPONSE_STATUS_CODE,
                    super::status_label(status),
                ));
            }
            labels
        };
        let operation = (R::OPERATION.as_ptr() as usize, R::OPERATION.len());
        this.shared.handles.record(
            HTTP_CLIENT_REQUEST_DURATION,
            (operation, status.unwrap_or(0), kind),
            labels,
            elapsed,
        );
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    //! The layer alone over a `service_fn`, with the facade's debugging recorder.

    use std::time::Duration;

    use tower::{ServiceExt, service_fn};

    use super::super::tests::{Value, recorded};
    use super::*;
    use crate::error::{Error, ErrorKind, TimeoutKind};
    use crate::{CancelRequest, GetRunRequest};

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = p
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    /// Drives one call of `req` through the layer over `reply` (a reply with
    /// `status` on success; the error of a reply with `status`, when given, on
    /// failure — as `ApiCallLayer` makes them), on this thread.
    fn once<R>(layer: AttemptMetricsLayer, req: R, reply: Result<(), Error>, status: Option<u16>)
    where
        R: AilyRequest + Send + 'static,
        R::Response: Default,
    {
        let status = status.map(|s| http::StatusCode::from_u16(s).unwrap());
        let svc = layer.layer(service_fn(move |_req: R| {
            let reply = match (reply.clone(), status) {
                (Ok(()), status) => Ok(Reply::new(
                    R::Response::default(),
                    status.unwrap_or(http::StatusCode::OK),
                )),
                (Err(e), Some(status)) => Err(BoxError::from(e.replied(status, None))),
                (Err(e), None) => Err(BoxError::from(e)),
            };
            std::future::ready(reply)
        }));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _ = rt.block_on(svc.oneshot(req));
    }

    const CANCEL: &str = "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";

    #[test]
    fn a_success_is_one_sample_with_the_status_noted() {
        let got = recorded(|| {
            let layer = AttemptMetricsLayer::new().server(&BaseUrl::feishu());
            once(
                layer,
                CancelRequest::new("s", "r").unwrap(),
                Ok(()),
                Some(200),
            );
        });
        let want = pairs(&[
            ("http.request.method", "POST"),
            ("url.template", CANCEL),
            ("server.address", "open.feishu.cn"),
            ("server.port", "443"),
            ("http.response.status_code", "200"),
        ]);
        assert_eq!(
            got,
            vec![(
                HTTP_CLIENT_REQUEST_DURATION.to_owned(),
                want,
                Value::Samples(1)
            )]
        );
    }

    #[test]
    fn an_api_error_has_its_kind_its_status_and_a_code_count() {
        let err = Error::new(ErrorKind::Api, "param is invalid")
            .with_status(http::StatusCode::BAD_REQUEST)
            .with_api(2700001, "param is invalid".into(), None);
        let got = recorded(|| {
            once(
                AttemptMetricsLayer::new(),
                GetRunRequest::new("s", "r").unwrap(),
                Err(err),
                Some(400),
            );
        });
        let attempt = pairs(&[
            ("http.request.method", "GET"),
            (
                "url.template",
                "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}",
            ),
            ("http.response.status_code", "400"),
            ("error.type", "api"),
        ]);
        let code = pairs(&[
            ("aily.operation", "aily.run.get"),
            ("feishu.code", "2700001"),
        ]);
        let mut want = vec![
            (
                HTTP_CLIENT_REQUEST_DURATION.to_owned(),
                attempt,
                Value::Samples(1),
            ),
            (
                super::super::FEISHU_ERRORS.to_owned(),
                code,
                Value::Count(1),
            ),
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn a_timeout_has_no_status() {
        let err = Error::timeout(TimeoutKind::Attempt, Duration::from_secs(1));
        let got = recorded(|| {
            once(
                AttemptMetricsLayer::new(),
                CancelRequest::new("s", "r").unwrap(),
                Err(err),
                None,
            );
        });
        let want = pairs(&[
            ("http.request.method", "POST"),
            ("url.template", CANCEL),
            ("error.type", "timeout"),
        ]);
        assert_eq!(
            got,
            vec![(
                HTTP_CLIENT_REQUEST_DURATION.to_owned(),
                want,
                Value::Samples(1)
            )]
        );
    }
}
