//! Spans and events, recorded by a real `tracing` subscriber, for calls against the
//! fake server: names, tree, field names and values — and no secrets.
#![cfg(feature = "testing")]

use std::time::Duration;

use crate::support::trace::{EventRec, SpanRec, field, recorder};
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, Credentials};

use crate::support;

const TOKEN: &str = "t-observability-token-secret";
const APP_ID: &str = "cli_obs_app";
const APP_SECRET: &str = "obs-app-secret-value";
/// The token-span test's own app, so other tests' fetches don't count.
const TOKEN_TEST_APP: &str = "cli_obs_token_app";
const ATTEMPT: &str = "POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";

/// The operation span of the one call made with `session`, its attempt spans, and
/// the events under it.
fn call_tree(session: &str) -> (SpanRec, Vec<SpanRec>, Vec<EventRec>, Vec<SpanRec>) {
    let store = recorder().0.lock().unwrap();
    let ops = cancel_spans(&store.spans, session);
    assert_eq!(ops.len(), 1, "one operation span for {session}");
    let op = ops[0];
    let attempts: Vec<SpanRec> = store
        .spans
        .iter()
        .filter(|s| s.parent == Some(op))
        .cloned()
        .collect();
    let attempt_ids: Vec<usize> = store
        .spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.parent == Some(op))
        .map(|(i, _)| i)
        .collect();
    let grandchildren = store
        .spans
        .iter()
        .filter(|s| s.parent.is_some_and(|p| attempt_ids.contains(&p)))
        .cloned()
        .collect();
    let events = store
        .events
        .iter()
        .filter(|e| e.parent == Some(op))
        .cloned()
        .collect();
    (store.spans[op].clone(), attempts, events, grandchildren)
}

/// The indexes of the `aily.run.cancel` operation spans of `session`.
fn cancel_spans(spans: &[SpanRec], session: &str) -> Vec<usize> {
    spans
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.name == "aily.run.cancel"
                && s.fields.get("aily.session_id").map(String::as_str) == Some(session)
        })
        .map(|(i, _)| i)
        .collect()
}

async fn fake(session: &str) -> FakeAily {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run(session, "run_1");
    fake
}

fn client(fake: &FakeAily) -> Client {
    support::tenant_client(fake, TOKEN, |b| b)
}

#[tokio::test]
async fn a_successful_call_has_one_operation_span_over_one_attempt_span() {
    recorder();
    let fake = fake("obs_success").await;
    let reply = client(&fake)
        .cancel_run("obs_success", "run_1")
        .await
        .unwrap();
    let log_id = reply.log_id().unwrap().to_owned();

    let (op, attempts, _, _) = call_tree("obs_success");
    assert_eq!(op.level, "INFO");
    // The target `RUST_LOG` filters on: the public module path, whatever the folders.
    assert_eq!(op.target, "aily_client::runs::cancel");
    assert_eq!(field(&op, "otel.kind"), Some("internal"));
    assert_eq!(field(&op, "otel.name"), Some("aily.run.cancel"));
    assert_eq!(field(&op, "aily.run_id"), Some("run_1"));
    assert_eq!(field(&op, "feishu.log_id"), Some(log_id.as_str()));
    assert_eq!(field(&op, "otel.status_code"), None);
    assert_eq!(field(&op, "http.request.resend_count"), None);

    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(a.name, ATTEMPT);
    assert_eq!(a.level, "DEBUG");
    assert_eq!(a.target, "aily_client::runs::cancel");
    assert_eq!(field(a, "otel.kind"), Some("client"));
    assert_eq!(field(a, "otel.name"), Some(ATTEMPT));
    assert_eq!(field(a, "http.request.method"), Some("POST"));
    assert_eq!(
        field(a, "url.template"),
        Some("/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel")
    );
    assert_eq!(field(a, "server.address"), Some("127.0.0.1"));
    assert_eq!(
        field(a, "server.port"),
        Some(fake.addr().port().to_string().as_str())
    );
    assert_eq!(field(a, "http.response.status_code"), Some("200"));
    assert_eq!(field(a, "feishu.log_id"), Some(log_id.as_str()));
    assert_eq!(field(a, "http.request.resend_count"), None);
    assert_eq!(field(a, "url.full"), None, "url.full is opt-in");
    assert_eq!(field(a, "otel.status_code"), None);
}

#[tokio::test]
async fn an_api_error_marks_both_spans() {
    recorder();
    let fake = fake("obs_api_error").await;
    let err = client(&fake)
        .cancel_run("obs_api_error", "no_such_run")
        .await
        .unwrap_err();
    let (op, attempts, _, _) = call_tree("obs_api_error");
    for span in [&op, &attempts[0]] {
        assert_eq!(field(span, "otel.status_code"), Some("ERROR"));
        assert_eq!(field(span, "error.type"), Some("api"));
        assert_eq!(field(span, "feishu.code"), Some("2700001"));
        assert_eq!(field(span, "feishu.log_id"), err.log_id());
    }
    assert_eq!(
        field(&attempts[0], "http.response.status_code"),
        Some("400")
    );
}

#[tokio::test(start_paused = true)]
async fn a_retried_call_numbers_its_attempts_and_warns_per_retry() {
    recorder();
    let fake = fake("obs_retry").await;
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::N(2));
    client(&fake)
        .cancel_run("obs_retry", "run_1")
        .await
        .unwrap();

    let (op, attempts, events, _) = call_tree("obs_retry");
    assert_eq!(field(&op, "http.request.resend_count"), Some("2"));
    assert_eq!(field(&op, "otel.status_code"), None, "the call succeeded");
    assert_eq!(attempts.len(), 3);
    let counts: Vec<Option<&str>> = attempts
        .iter()
        .map(|a| field(a, "http.request.resend_count"))
        .collect();
    assert_eq!(counts, [None, Some("1"), Some("2")]);
    let statuses: Vec<Option<&str>> = attempts
        .iter()
        .map(|a| field(a, "http.response.status_code"))
        .collect();
    assert_eq!(statuses, [Some("503"), Some("503"), Some("200")]);
    assert_eq!(field(&attempts[0], "otel.status_code"), Some("ERROR"));
    assert_eq!(field(&attempts[0], "error.type"), Some("api"));
    assert_eq!(field(&attempts[2], "otel.status_code"), None);

    let retries: Vec<&EventRec> = events
        .iter()
        .filter(|e| e.fields.get("message").map(String::as_str) == Some("retrying"))
        .collect();
    assert_eq!(retries.len(), 2);
    for (i, e) in retries.iter().enumerate() {
        assert_eq!(e.level, "WARN");
        assert_eq!(e.fields["attempt"], (i + 1).to_string());
        assert_eq!(e.fields["reason"], "transient");
        assert!(e.fields.contains_key("delay_ms"));
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_is_recorded_on_the_attempt_span() {
    recorder();
    let fake = fake("obs_timeout").await;
    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_secs(60)),
        Times::Always,
    );
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .attempt_timeout(Duration::from_secs(1))
        .max_attempts(1)
        .build()
        .unwrap();
    client.cancel_run("obs_timeout", "run_1").await.unwrap_err();
    let (op, attempts, _, _) = call_tree("obs_timeout");
    assert_eq!(attempts.len(), 1);
    for span in [&op, &attempts[0]] {
        assert_eq!(field(span, "otel.status_code"), Some("ERROR"));
        assert_eq!(field(span, "error.type"), Some("timeout"));
    }
    assert_eq!(field(&attempts[0], "http.response.status_code"), None);
}

#[tokio::test(start_paused = true)]
async fn token_fetches_have_their_own_span_under_the_attempt() {
    recorder();
    let fake = fake("obs_token").await;
    fake.add_app(TOKEN_TEST_APP, APP_SECRET);
    fake.set_token_ttl(Duration::from_secs(7200));
    let client = Client::builder()
        .credentials(Credentials::app(TOKEN_TEST_APP, APP_SECRET))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    client.cancel_run("obs_token", "run_1").await.unwrap();
    let (_, attempts, _, under_attempts) = call_tree("obs_token");
    assert_eq!(attempts.len(), 1);
    let fetch = under_attempts
        .iter()
        .find(|s| s.name == "aily.token.fetch")
        .expect("the cold fetch is a child of the attempt");
    assert_eq!(field(fetch, "app_id"), Some(TOKEN_TEST_APP));
    assert!(field(fetch, "feishu.log_id").is_some());

    // A refresh inside the margin runs in the background: its own span, and the
    // call that started it is not delayed.
    tokio::time::advance(Duration::from_secs(7100)).await;
    fake.add_run("obs_token_2", "run_1");
    client.cancel_run("obs_token_2", "run_1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.request_count(Route::TenantToken), 2);
    let fetches = recorder()
        .0
        .lock()
        .unwrap()
        .spans
        .iter()
        .filter(|s| s.name == "aily.token.fetch" && field(s, "app_id") == Some(TOKEN_TEST_APP))
        .count();
    assert_eq!(fetches, 2);
}

#[tokio::test]
async fn url_full_is_recorded_only_when_asked_for() {
    recorder();
    let fake = fake("obs_url_full").await;
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .record_url_full(true)
        .build()
        .unwrap();
    client.cancel_run("obs_url_full", "run_1").await.unwrap();
    let (_, attempts, _, _) = call_tree("obs_url_full");
    assert_eq!(
        field(&attempts[0], "url.full"),
        Some(
            format!(
                "{}/open-apis/aily/v1/sessions/obs_url_full/runs/run_1/cancel",
                fake.base_url()
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn levels_are_configurable() {
    recorder();
    let fake = fake("obs_levels").await;
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .operation_span_level(tracing::Level::DEBUG)
        .attempt_span_level(tracing::Level::TRACE)
        .build()
        .unwrap();
    client.cancel_run("obs_levels", "run_1").await.unwrap();
    let (op, attempts, _, _) = call_tree("obs_levels");
    assert_eq!(op.level, "DEBUG");
    assert_eq!(attempts[0].level, "TRACE");
}

#[tokio::test(start_paused = true)]
async fn nothing_recorded_holds_a_token_or_secret() {
    recorder();
    // Exercise every path once more in this test, then scan everything recorded so far.
    let fake = fake("obs_secrets").await;
    fake.add_app(APP_ID, APP_SECRET);
    let app = Client::builder()
        .credentials(Credentials::app(APP_ID, APP_SECRET))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Once);
    app.cancel_run("obs_secrets", "run_1").await.unwrap();
    client(&fake)
        .cancel_run("obs_secrets", "nope")
        .await
        .unwrap_err();
    let mut secrets: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| r.bearer_token().map(str::to_owned))
        .collect();
    secrets.push(APP_SECRET.to_owned());
    secrets.push(TOKEN.to_owned());
    let everything = recorder().0.lock().unwrap().everything();
    assert!(everything.contains("aily.run.cancel"));
    for secret in secrets {
        assert!(!everything.contains(&secret), "a secret was recorded");
    }
}

/// A user's typed stack with `hop` between the attempt layer (span, metrics, the
/// user's observer) and `ApiCallLayer`: what the observers need reaches them in the
/// values (the `Reply`, the error of a reply), not in ambient state, so a hop to
/// another task loses none of it. One success and one Feishu error through it: the
/// status label, the log id on the attempt span, the `feishu.errors` count and what
/// the user's observer is told are all there.
#[cfg(feature = "metrics")]
async fn observers_see_the_reply_across<L>(session: &str, hop: L)
where
    L: tower::Layer<aily_client::api_call::ApiCall<aily_client::transport::HttpService>> + Clone,
    L::Service: tower::Service<
            aily_client::CancelRequest,
            Response = aily_client::api_call::Reply<aily_client::CancelResponse>,
            Error: Into<aily_client::Error>,
        > + Clone,
{
    use std::sync::{Arc, Mutex};

    use aily_client::CancelRequest;
    use aily_client::api_call::ApiCallLayer;
    use aily_client::observe::{AttemptLayer, Event, Observer, OperationLayer};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower::{ServiceBuilder, ServiceExt};

    recorder();
    let metrics = DebuggingRecorder::new();
    let snapshotter = metrics.snapshotter();
    let _recording = metrics::set_default_local_recorder(&metrics);
    let fake = fake(session).await;
    let client = client(&fake);
    /// What the user's observer was told of each attempt: status, log id, code.
    #[derive(Default)]
    struct Told(Mutex<Vec<Seen>>);
    type Seen = (Option<u16>, Option<String>, Option<i64>);
    impl Observer for Told {
        fn on_attempt(&self, e: &Event<'_>) {
            self.0.lock().unwrap().push((
                e.status().map(|s| s.as_u16()),
                e.log_id().map(str::to_owned),
                e.error().and_then(aily_client::Error::code),
            ));
        }
    }
    let told = Arc::new(Told::default());
    let stack = ServiceBuilder::new()
        .layer(OperationLayer::new())
        .layer(
            AttemptLayer::new()
                .server(client.base_url())
                .observer(told.clone()),
        )
        .layer(hop)
        .layer(ApiCallLayer::new())
        .service(client.http_service());

    let reply = stack
        .clone()
        .oneshot(CancelRequest::new(session, "run_1").unwrap())
        .await
        .unwrap();
    let log_id = reply.log_id().expect("a log id").to_owned();
    assert_eq!(reply.status(), http::StatusCode::OK);
    let err = stack
        .oneshot(CancelRequest::new(session, "no_such_run").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(2700001));

    // The spans: the attempt's status and log id, for the reply and for the error.
    let store = recorder().0.lock().unwrap();
    let ops = cancel_spans(&store.spans, session);
    assert_eq!(ops.len(), 2, "two calls");
    let attempt_of = |op: usize| {
        let attempts: Vec<&SpanRec> = store
            .spans
            .iter()
            .filter(|s| s.parent == Some(op))
            .collect();
        assert_eq!(attempts.len(), 1);
        attempts[0].clone()
    };
    let (ok, failed) = (attempt_of(ops[0]), attempt_of(ops[1]));
    assert_eq!(field(&ok, "http.response.status_code"), Some("200"));
    assert_eq!(field(&ok, "feishu.log_id"), Some(log_id.as_str()));
    assert_eq!(
        field(&store.spans[ops[0]], "feishu.log_id"),
        Some(log_id.as_str())
    );
    assert_eq!(field(&failed, "http.response.status_code"), Some("400"));
    assert_eq!(field(&failed, "feishu.code"), Some("2700001"));
    assert_eq!(field(&failed, "feishu.log_id"), err.log_id());
    assert!(err.log_id().is_some());
    drop(store);

    // The metrics: both attempts with their status labels, and the error's code count.
    let mut statuses = Vec::new();
    let mut feishu_errors = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let label = |name: &str| {
            key.key()
                .labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
        };
        match (key.key().name(), value) {
            ("http.client.request.duration", DebugValue::Histogram(samples)) => {
                statuses.push((label("http.response.status_code"), samples.len()));
            }
            ("aily.client.feishu.errors", DebugValue::Counter(n)) => {
                feishu_errors.push((label("feishu.code"), n));
            }
            _ => {}
        }
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [(Some("200".to_owned()), 1), (Some("400".to_owned()), 1)]
    );
    assert_eq!(feishu_errors, [(Some("2700001".to_owned()), 1)]);

    // The user's observer: the same status, log id and code.
    assert_eq!(
        *told.0.lock().unwrap(),
        [
            (Some(200), Some(log_id.clone()), None),
            (Some(400), err.log_id().map(str::to_owned), Some(2700001)),
        ]
    );
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn a_buffer_between_the_attempt_observers_and_api_call_loses_nothing() {
    observers_see_the_reply_across("obs_buffer", tower::buffer::BufferLayer::new(8)).await;
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn a_spawned_hop_between_the_attempt_observers_and_api_call_loses_nothing() {
    use tower::ServiceExt;
    // Each call runs to its end in a task of its own.
    type Inner = aily_client::api_call::ApiCall<aily_client::transport::HttpService>;
    let hop = tower::layer::layer_fn(|inner: Inner| {
        tower::service_fn(move |req: aily_client::CancelRequest| {
            let inner = Clone::clone(&inner);
            async move {
                tokio::spawn(inner.oneshot(req))
                    .await
                    .expect("the hop's task")
            }
        })
    });
    observers_see_the_reply_across("obs_spawned", hop).await;
}

/// An `{app_id}` of the calling app's form (`cli_…`) is sent as given, with a WARN
/// event naming the mix-up; an Aily app's ID makes no event.
#[test]
fn a_calling_app_id_in_app_id_is_warned_about_not_refused() {
    let _ = recorder();
    let suspicious = "cli_obs_mixup_9f3";
    let fine = "spring_obs_mixup_9f3__c";
    let req = aily_client::skills::GetSkillRequest::new(suspicious, "skill_1")
        .expect("a cli_ id is still a valid id");
    assert!(req.path().contains(suspicious));
    aily_client::skills::GetSkillRequest::new(fine, "skill_1").unwrap();

    let store = recorder().0.lock().unwrap();
    let about = |id: &str| -> Vec<EventRec> {
        store
            .events
            .iter()
            .filter(|e| e.fields.get("app_id").map(String::as_str) == Some(id))
            .cloned()
            .collect()
    };
    let warned = about(suspicious);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0].level, "WARN");
    assert!(
        warned[0].fields["message"].contains("spring_"),
        "{warned:?}"
    );
    assert!(about(fine).is_empty());
}
