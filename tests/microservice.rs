//! The example microservice on loopback: its exported spans nest as inbound request
//! → `aily.run.cancel` → attempt spans.
#![cfg(feature = "testing")]

#[path = "../examples/microservice.rs"]
mod microservice;

use std::time::Duration;

use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, Credentials};

#[tokio::test]
async fn the_inbound_span_parents_the_operation_span_which_parents_the_attempts() {
    let (provider, exporter) = microservice::init_tracing();
    let fake = FakeAily::start().await.unwrap();
    fake.add_app("cli_ms", "ms-secret");
    fake.add_run("session_1", "run_1");
    // One retried attempt, so there are two attempt spans.
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Once);
    let client = Client::builder()
        .credentials(Credentials::app("cli_ms", "ms-secret"))
        .base_url(fake.base_url())
        .retry({
            let mut r = aily_client::retry::RetryConfig::default();
            r.initial_backoff = Duration::from_millis(1);
            r.max_backoff = Duration::from_millis(2);
            r
        })
        .build()
        .unwrap();
    let addr = microservice::serve(microservice::app(client))
        .await
        .unwrap();

    let reply = reqwest::Client::new()
        .post(format!("http://{addr}/runs/session_1/run_1/cancel"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let run: serde_json::Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
    assert_eq!(run["status"], "CANCELLED");

    // The inbound span ends once the response body is done; give it a moment.
    let mut spans = Vec::new();
    for _ in 0..100 {
        provider.force_flush().unwrap();
        spans = exporter.get_finished_spans().unwrap();
        if spans.iter().any(|s| s.name == "request") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let find = |name: &str| -> Vec<_> { spans.iter().filter(|s| s.name == name).collect() };
    let inbound = find("request");
    let operation = find("aily.run.cancel");
    let attempts = find("POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel");
    assert_eq!(
        inbound.len(),
        1,
        "spans: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert_eq!(operation.len(), 1);
    assert_eq!(attempts.len(), 2);

    let inbound_id = inbound[0].span_context.span_id();
    let operation_id = operation[0].span_context.span_id();
    assert_eq!(operation[0].parent_span_id, inbound_id);
    for attempt in &attempts {
        assert_eq!(attempt.parent_span_id, operation_id);
        assert_eq!(
            attempt.span_context.trace_id(),
            inbound[0].span_context.trace_id(),
            "one trace"
        );
    }
    // The token fetch sits under the first attempt.
    let fetch = find("aily.token.fetch");
    assert_eq!(fetch.len(), 1);
    assert!(
        attempts
            .iter()
            .any(|a| a.span_context.span_id() == fetch[0].parent_span_id)
    );
    // Kinds and attributes come through tracing-opentelemetry's conventions.
    assert_eq!(
        operation[0].span_kind,
        opentelemetry::trace::SpanKind::Internal
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.span_kind == opentelemetry::trace::SpanKind::Client)
    );
    let attr = |span: &opentelemetry_sdk::trace::SpanData, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert!(
        attempts
            .iter()
            .any(|a| attr(a, "http.request.resend_count").as_deref() == Some("1"))
    );
    assert_eq!(
        attr(operation[0], "http.request.resend_count").as_deref(),
        Some("1")
    );
    assert_eq!(attr(operation[0], "aily.run_id").as_deref(), Some("run_1"));
    // And no secret or token in any exported attribute.
    let mut secrets: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| r.bearer_token().map(str::to_owned))
        .collect();
    assert!(!secrets.is_empty());
    secrets.push("ms-secret".to_owned());
    for span in &spans {
        for kv in &span.attributes {
            let v = kv.value.to_string();
            for secret in &secrets {
                assert!(!v.contains(secret.as_str()), "{} holds a secret", kv.key);
            }
        }
    }
}
