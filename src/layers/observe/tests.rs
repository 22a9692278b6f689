//! The two layers alone, over a `service_fn`, with a real subscriber: their spans,
//! and what an observer of yours is told.

use std::future::ready;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use tower::{Layer, Service, ServiceExt, service_fn};
use tracing::{Level, Span};

use super::*;
use crate::api::runs::RunResponse;
use crate::error::{ErrorKind, TimeoutKind};
use crate::layers::observe::trace::fields;
use crate::layers::observe::trace::tests::{Recorder, SpanRec};
use crate::transport::BaseUrl;
use crate::{AilyRequest, CancelRequest, GetRunRequest};

const CANCEL: &str = "POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";
const CANCEL_TEMPLATE: &str = "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";

fn cancel() -> CancelRequest {
    CancelRequest::new("s", "r").unwrap()
}

fn response(log_id: Option<&str>) -> Reply<RunResponse> {
    Reply::new(RunResponse::default(), StatusCode::OK)
        .with_log_id(log_id.map(|l| http::HeaderValue::from_str(l).unwrap()))
}

fn api_error() -> Error {
    Error::new(ErrorKind::Api, "Feishu returned an error")
        .with_api(2700001, "param is invalid".into(), None)
        .with_log_id(Some("log-err".into()))
}

type Seen = Arc<Mutex<Vec<Option<&'static str>>>>;

/// The inner service: the name of the span current when it is called and when its
/// future is polled, with `out` as its answer.
fn inner<R: AilyRequest<Response = RunResponse>>(
    out: impl Fn() -> Result<Reply<RunResponse>, Error> + Clone + Send + 'static,
    seen: Seen,
) -> impl Service<R, Response = Reply<RunResponse>, Error = Error> {
    service_fn(move |_req: R| {
        let out = out.clone();
        let seen = seen.clone();
        seen.lock()
            .unwrap()
            .push(Span::current().metadata().map(|m| m.name()));
        async move {
            tokio::task::yield_now().await;
            seen.lock()
                .unwrap()
                .push(Span::current().metadata().map(|m| m.name()));
            out()
        }
    })
}

#[tokio::test]
async fn one_operation_span_named_after_the_operation_with_the_ids_around_the_call() {
    let (recorder, _guard) = Recorder::install();
    let seen = Seen::default();
    let svc = OperationLayer::new().layer(inner(|| Ok(response(Some("log-ok"))), seen.clone()));
    let reply = svc
        .oneshot(CancelRequest::new("s-op", "r-op").unwrap())
        .await
        .unwrap();
    assert_eq!(reply.log_id(), Some("log-ok"));

    let span = recorder.only_span();
    assert_eq!(
        (span.name, span.level, span.parent),
        ("aily.run.cancel", Level::INFO, None)
    );
    assert_eq!(span.field(fields::OTEL_KIND), Some("internal"));
    assert_eq!(span.field(fields::OTEL_NAME), Some("aily.run.cancel"));
    assert_eq!(span.field(fields::AILY_SESSION_ID), Some("s-op"));
    assert_eq!(span.field(fields::AILY_RUN_ID), Some("r-op"));
    assert_eq!(span.field(fields::FEISHU_LOG_ID), Some("log-ok"));
    for absent in [
        fields::OTEL_STATUS_CODE,
        fields::ERROR_TYPE,
        fields::FEISHU_CODE,
    ] {
        assert_eq!(span.field(absent), None, "{absent} on success");
    }
    // Entered when the inner service is called and whenever its future is polled.
    assert_eq!(
        *seen.lock().unwrap(),
        [Some("aily.run.cancel"), Some("aily.run.cancel")]
    );
    let ends: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.span == Some("aily.run.cancel"))
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].level, Level::DEBUG);
    assert_eq!(
        ends[0].fields.get("log_id").map(String::as_str),
        Some("log-ok")
    );
}

#[tokio::test]
async fn a_failed_operation_records_status_error_type_code_and_log_id() {
    let (recorder, _guard) = Recorder::install();
    let svc = OperationLayer::new().layer(inner(|| Err(api_error()), Seen::default()));
    let err = svc.oneshot(cancel()).await.unwrap_err();
    assert_eq!(err.code(), Some(2700001));
    let span = recorder.only_span();
    assert_eq!(span.field(fields::OTEL_STATUS_CODE), Some("ERROR"));
    assert_eq!(span.field(fields::ERROR_TYPE), Some("api"));
    assert_eq!(span.field(fields::FEISHU_CODE), Some("2700001"));
    assert_eq!(span.field(fields::FEISHU_LOG_ID), Some("log-err"));
    assert_eq!(span.field(fields::AILY_RUN_ID), Some("r"));
}

#[tokio::test]
async fn the_operation_span_is_the_requests_operation_at_the_layers_level() {
    let (recorder, _guard) = Recorder::install();
    let svc = OperationLayer::new()
        .with_level(Level::DEBUG)
        .layer(inner(|| Ok(response(None)), Seen::default()));
    svc.oneshot(GetRunRequest::new("s-get", "r-get").unwrap())
        .await
        .unwrap();
    let span = recorder.only_span();
    assert_eq!((span.name, span.level), ("aily.run.get", Level::DEBUG));
    assert_eq!(span.field(fields::AILY_SESSION_ID), Some("s-get"));
    assert_eq!(
        span.field(fields::FEISHU_LOG_ID),
        None,
        "no log id, none recorded"
    );
}

#[tokio::test]
async fn a_call_is_not_failed_or_changed_without_a_subscriber() {
    // No subscriber: the spans are disabled, and the call goes on as it is.
    let svc =
        OperationLayer::new().layer(AttemptLayer::new().layer(service_fn(|_r: CancelRequest| {
            ready(Ok::<_, Error>(response(Some("l"))))
        })));
    let reply = svc.oneshot(cancel()).await.unwrap();
    assert_eq!(reply.log_id(), Some("l"));
}

/// One call of `req` through `layer` over a service that answers `Ok` (or an attempt
/// timeout when `fail`), naming the span current when the service is called; the
/// one attempt span recorded.
async fn attempt<R: AilyRequest<Response = RunResponse>>(
    layer: AttemptLayer,
    req: R,
    fail: bool,
) -> (SpanRec, Option<&'static str>) {
    let (recorder, _guard) = Recorder::install();
    let seen = Arc::new(Mutex::new(None));
    let seen_inner = Arc::clone(&seen);
    let svc = layer.layer(service_fn(move |_req: R| {
        *seen_inner.lock().unwrap() = Span::current().metadata().map(|m| m.name());
        ready(if fail {
            Err(Error::timeout(TimeoutKind::Attempt, Duration::from_secs(1)))
        } else {
            Ok(Reply::new(RunResponse::default(), StatusCode::OK))
        })
    }));
    let current = match svc.oneshot(req).await {
        Ok(_) => *seen.lock().unwrap(),
        Err(err) => {
            assert_eq!(err.timeout_kind(), Some(TimeoutKind::Attempt));
            None
        }
    };
    (recorder.only_span(), current)
}

#[tokio::test]
async fn the_attempt_span_has_the_http_client_fields_and_no_server_by_default() {
    let (span, current) = attempt(AttemptLayer::new(), cancel(), false).await;
    assert_eq!((span.name, span.level), (CANCEL, Level::DEBUG));
    assert_eq!(current, Some(CANCEL), "the inner call runs in the span");
    assert_eq!(span.field(fields::OTEL_KIND), Some("client"));
    assert_eq!(span.field(fields::OTEL_NAME), Some(CANCEL));
    assert_eq!(span.field(fields::HTTP_REQUEST_METHOD), Some("POST"));
    assert_eq!(span.field(fields::URL_TEMPLATE), Some(CANCEL_TEMPLATE));
    assert_eq!(span.field(fields::HTTP_RESPONSE_STATUS_CODE), Some("200"));
    for absent in [
        fields::SERVER_ADDRESS,
        fields::SERVER_PORT,
        fields::URL_FULL,
        fields::HTTP_REQUEST_RESEND_COUNT,
        fields::OTEL_STATUS_CODE,
        fields::ERROR_TYPE,
    ] {
        assert_eq!(span.field(absent), None, "{absent}");
    }
}

#[tokio::test]
async fn server_fields_when_configured_and_url_full_only_when_enabled() {
    let base = BaseUrl::parse("https://open.example.test:8443").unwrap();
    let (span, _) = attempt(AttemptLayer::new().server(&base), cancel(), false).await;
    assert_eq!(
        span.field(fields::SERVER_ADDRESS),
        Some("open.example.test")
    );
    assert_eq!(span.field(fields::SERVER_PORT), Some("8443"));
    assert_eq!(span.field(fields::URL_FULL), None, "off by default");

    let layer = AttemptLayer::new().server(&base).record_url_full(true);
    let (span, _) = attempt(layer, CancelRequest::new("s_1", "run#1").unwrap(), false).await;
    assert_eq!(
        span.field(fields::URL_FULL),
        Some("https://open.example.test:8443/open-apis/aily/v1/sessions/s_1/runs/run%231/cancel")
    );

    // Without a server there is no URL to record.
    let (span, _) = attempt(AttemptLayer::new().record_url_full(true), cancel(), false).await;
    assert_eq!(span.field(fields::URL_FULL), None);
}

#[tokio::test]
async fn the_resend_count_is_recorded_from_the_first_retry_on() {
    let mut retry = cancel();
    retry.options_mut().set_attempt(2);
    let (span, _) = attempt(AttemptLayer::new(), retry, false).await;
    assert_eq!(span.field(fields::HTTP_REQUEST_RESEND_COUNT), Some("2"));

    let mut first = cancel();
    first.options_mut().set_attempt(0);
    let (span, _) = attempt(AttemptLayer::new(), first, false).await;
    assert_eq!(span.field(fields::HTTP_REQUEST_RESEND_COUNT), None);
}

#[tokio::test]
async fn a_failed_attempt_records_the_error() {
    let (span, _) = attempt(AttemptLayer::new(), cancel(), true).await;
    assert_eq!(span.field(fields::OTEL_STATUS_CODE), Some("ERROR"));
    assert_eq!(span.field(fields::ERROR_TYPE), Some("timeout"));
    assert_eq!(span.field(fields::HTTP_RESPONSE_STATUS_CODE), None);
}

#[tokio::test]
async fn the_attempt_span_is_the_requests_operation_at_the_layers_level() {
    let layer = AttemptLayer::new().with_level(Level::INFO);
    let (span, _) = attempt(layer, GetRunRequest::new("s", "r").unwrap(), false).await;
    let name = "GET /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}";
    assert_eq!(
        (span.name, span.level, span.parent),
        (name, Level::INFO, None)
    );
    assert_eq!(span.field(fields::HTTP_REQUEST_METHOD), Some("GET"));
}

#[tokio::test]
async fn the_attempt_span_is_a_child_of_the_span_it_is_called_in() {
    let (recorder, _guard) = Recorder::install();
    let mut svc = AttemptLayer::new().layer(service_fn(|_r: CancelRequest| {
        ready(Ok::<_, Error>(Reply::new(
            RunResponse::default(),
            StatusCode::OK,
        )))
    }));
    svc.ready().await.unwrap();
    let call = tracing::info_span!("aily.run.cancel").in_scope(|| svc.call(cancel()));
    call.await.unwrap();
    let spans = recorder.spans();
    let attempt = spans
        .iter()
        .find(|s| s.name == CANCEL)
        .expect("an attempt span");
    assert_eq!(attempt.parent, Some("aily.run.cancel"));
}

/// What an observer of the tests was told: per event, its level, operation,
/// attempt, status, log id, error code and whether the time was measured.
type Told = Vec<(
    &'static str,
    &'static str,
    u32,
    Option<u16>,
    Option<String>,
    Option<i64>,
    bool,
)>;

#[derive(Default)]
struct Tell(Mutex<Told>);

impl Tell {
    fn push(&self, level: &'static str, e: &Event<'_>) {
        self.0.lock().unwrap().push((
            level,
            e.operation(),
            e.attempt(),
            e.status().map(|s| s.as_u16()),
            e.log_id().map(str::to_owned),
            e.error().and_then(Error::code),
            e.elapsed() > Duration::ZERO,
        ));
    }
}

impl Observer for Tell {
    fn on_operation(&self, event: &Event<'_>) {
        self.push("operation", event);
    }
    fn on_attempt(&self, event: &Event<'_>) {
        self.push("attempt", event);
    }
}

#[tokio::test]
async fn a_users_observer_is_told_each_attempt_and_each_call_with_its_reply() {
    let tell = Arc::new(Tell::default());
    let replies = Arc::new(Mutex::new(vec![
        Ok(response(Some("log-2")).with_attempt(1)),
        Err(api_error().replied(StatusCode::BAD_REQUEST, None)),
    ]));
    let svc = OperationLayer::new().observer(tell.clone()).layer(
        AttemptLayer::new()
            .observer(tell.clone())
            .layer(service_fn(move |_r: CancelRequest| {
                let out = replies.lock().unwrap().pop().unwrap();
                async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    out
                }
            })),
    );
    let mut svc = svc;
    let err = svc.ready().await.unwrap().call(cancel()).await.unwrap_err();
    assert_eq!(err.code(), Some(2700001));
    let mut retry = cancel();
    retry.options_mut().set_attempt(1);
    svc.ready().await.unwrap().call(retry).await.unwrap();
    let op = "aily.run.cancel";
    assert_eq!(
        *tell.0.lock().unwrap(),
        [
            (
                "attempt",
                op,
                0,
                Some(400),
                Some("log-err".into()),
                Some(2700001),
                true
            ),
            (
                "operation",
                op,
                0,
                Some(400),
                Some("log-err".into()),
                Some(2700001),
                true
            ),
            (
                "attempt",
                op,
                1,
                Some(200),
                Some("log-2".into()),
                None,
                true
            ),
            (
                "operation",
                op,
                1,
                Some(200),
                Some("log-2".into()),
                None,
                true
            ),
        ]
    );
}
