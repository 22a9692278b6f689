//! [`Instruments`]: the observer the operation and attempt layers drive for the
//! crate's metrics — `aily.client.operation.duration` (one sample per call, retries,
//! backoff and rate-limit waits included), `http.client.request.duration` (one sample
//! per attempt, labelled with the status of that attempt's own reply) and
//! `aily.client.feishu.errors` (one per error reply).

use std::sync::Arc;

use metrics::{Label, SharedString};

use super::{HTTP_CLIENT_REQUEST_DURATION, HistogramHandles, OPERATION_DURATION, labels};
use crate::error::ErrorKind;
use crate::layers::observe::{Event, Observer};
use crate::transport::BaseUrl;

/// The crate's instruments, as an [`Observer`] of calls and attempts.
///
/// Its clones share the histogram handles it registered (by label set and recorder,
/// so the hot path builds no metric key): one per layer of a client, not per call.
#[derive(Clone, Debug, Default)]
pub(crate) struct Instruments {
    shared: Arc<Shared>,
}

/// What every call through a layer shares.
#[derive(Debug, Default)]
struct Shared {
    /// `server.address` and `server.port`, made once (attempts only).
    server: Option<(SharedString, SharedString)>,
    /// By operation (the address and length of its name), status (0: no reply) and
    /// error kind.
    handles: HistogramHandles<((usize, usize), u16, Option<ErrorKind>)>,
}

impl Instruments {
    /// Whether anything is recorded (the clock is read only then).
    pub(crate) const ENABLED: bool = true;

    /// Label every attempt with `server.address` and `server.port` of `base`.
    pub(crate) fn server(self, base: &BaseUrl) -> Self {
        Instruments {
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

/// The key of an operation's name: its address and length (a `&'static str`).
fn name_key(name: &'static str) -> (usize, usize) {
    (name.as_ptr() as usize, name.len())
}

impl Observer for Instruments {
    fn on_operation(&self, event: &Event<'_>) {
        let kind = event.error().map(|e| e.kind());
        let operation = event.operation();
        let labels = || {
            let mut labels = vec![Label::from_static_parts(labels::OPERATION, operation)];
            if let Some(kind) = kind {
                labels.push(Label::from_static_parts(labels::ERROR_TYPE, kind.as_str()));
            }
            labels
        };
        self.shared.handles.record(
            OPERATION_DURATION,
            (name_key(operation), 0, kind),
            labels,
            event.elapsed().as_secs_f64(),
        );
    }

    fn on_attempt(&self, event: &Event<'_>) {
        // Only the status of this attempt's own reply: a token fetch that failed under
        // it is not a reply to it (and counts its code itself).
        let status = event.status().map(|s| s.as_u16());
        let kind = event.error().map(|e| e.kind());
        if let (Some(code), Some(_)) = (event.error().and_then(|e| e.code()), status) {
            super::feishu_error(event.operation(), code);
        }
        let server = &self.shared.server;
        let labels = || {
            let mut labels = Vec::with_capacity(6);
            labels.push(Label::new(
                labels::HTTP_REQUEST_METHOD,
                SharedString::from_owned(event.method().as_str().to_owned()),
            ));
            labels.push(Label::from_static_parts(
                labels::URL_TEMPLATE,
                event.url_template(),
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
                    SharedString::from_owned(status.to_string()),
                ));
            }
            labels
        };
        self.shared.handles.record(
            HTTP_CLIENT_REQUEST_DURATION,
            (name_key(event.operation()), status.unwrap_or(0), kind),
            labels,
            event.elapsed().as_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    //! The two observing layers over a `service_fn`, with the facade's debugging
    //! recorder: what the instruments record.

    use std::time::Duration;

    use tower::{Layer, ServiceExt, service_fn};

    use super::super::tests::{Recorded, Value, recorded};
    use super::*;
    use crate::error::{Error, TimeoutKind};
    use crate::layers::api_call::Reply;
    use crate::layers::observe::{AttemptLayer, OperationLayer};
    use crate::{AilyRequest, CancelRequest, GetRunRequest};

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = p
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    /// The inner service of [`once`]: answers each request at once.
    type Answer<R> = tower::util::ServiceFn<
        Box<
            dyn FnMut(R) -> std::future::Ready<Result<Reply<<R as AilyRequest>::Response>, Error>>
                + Send,
        >,
    >;

    /// Drives one call of `req` through `layer` over `reply` (a reply with `status` on
    /// success; the error of a reply with `status`, when given, on failure — as
    /// `ApiCallLayer` makes them), on this thread.
    fn once<L, R>(layer: L, req: R, reply: Result<(), Error>, status: Option<u16>)
    where
        R: AilyRequest + Send + 'static,
        R::Response: Default,
        L: Layer<Answer<R>>,
        L::Service: tower::Service<R, Response = Reply<R::Response>, Error = Error>,
    {
        let status = status.map(|s| http::StatusCode::from_u16(s).unwrap());
        let answer: Answer<R> = service_fn(Box::new(move |_req: R| {
            std::future::ready(match (reply.clone(), status) {
                (Ok(()), status) => Ok(Reply::new(
                    R::Response::default(),
                    status.unwrap_or(http::StatusCode::OK),
                )),
                (Err(e), Some(status)) => Err(e.replied(status, None)),
                (Err(e), None) => Err(e),
            })
        }));
        let svc = layer.layer(answer);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _ = rt.block_on(svc.oneshot(req));
    }

    /// One sample of histogram `name` with `labels`, and nothing else.
    fn one_sample(name: &str, labels: Vec<(String, String)>) -> Vec<Recorded> {
        vec![(name.to_owned(), labels, Value::Samples(1))]
    }

    const CANCEL: &str = "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";

    fn operation(reply: Result<(), Error>) -> Vec<Recorded> {
        recorded(|| {
            once(
                OperationLayer::new(),
                CancelRequest::new("s", "r").unwrap(),
                reply,
                None,
            )
        })
    }

    #[test]
    fn a_call_is_one_sample_named_by_its_operation() {
        let want = vec![("aily.operation".to_owned(), "aily.run.cancel".to_owned())];
        assert_eq!(operation(Ok(())), one_sample(OPERATION_DURATION, want));
    }

    #[test]
    fn a_failed_call_has_its_error_type() {
        let want = pairs(&[
            ("aily.operation", "aily.run.cancel"),
            ("error.type", "rate_limited"),
        ]);
        let err = Error::new(ErrorKind::RateLimited, "slow down");
        assert_eq!(operation(Err(err)), one_sample(OPERATION_DURATION, want));
    }

    #[test]
    fn an_attempt_is_one_sample_with_the_status_noted() {
        let got = recorded(|| {
            let layer = AttemptLayer::new().server(&BaseUrl::feishu());
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
        assert_eq!(got, one_sample(HTTP_CLIENT_REQUEST_DURATION, want));
    }

    #[test]
    fn an_api_error_has_its_kind_its_status_and_a_code_count() {
        let err = Error::new(ErrorKind::Api, "param is invalid")
            .with_status(http::StatusCode::BAD_REQUEST)
            .with_api(2700001, "param is invalid".into(), None);
        let got = recorded(|| {
            once(
                AttemptLayer::new(),
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
    fn a_timed_out_attempt_has_no_status() {
        let err = Error::timeout(TimeoutKind::Attempt, Duration::from_secs(1));
        let got = recorded(|| {
            once(
                AttemptLayer::new(),
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
        assert_eq!(got, one_sample(HTTP_CLIENT_REQUEST_DURATION, want));
    }
}
