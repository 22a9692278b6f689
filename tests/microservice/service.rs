//! The example microservice on loopback, against `FakeAily` with scripted faults: its
//! exported spans nest as inbound request → `aily.run.cancel` → attempt spans, and
//! each kind of failure gets the HTTP answer of the `error` module docs' table.
#![cfg(all(feature = "testing", feature = "metrics"))]

use crate::microservice;

use std::time::Duration;

use std::net::SocketAddr;

use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, ClientBuilder, Credentials};

use crate::support;

#[tokio::test]
async fn the_inbound_span_parents_the_operation_span_which_parents_the_attempts() {
    support::serial::beside_others();
    // This thread's subscriber only (the test runtime is single-threaded): the other
    // tests of this file, on other threads, must not add spans to this exporter.
    let (subscriber, provider, exporter) = microservice::tracing_setup();
    let _guard = tracing::subscriber::set_default(subscriber);
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

const TOKEN: &str = "t-microservice";

/// A fake Feishu with one run (`session_1`/`run_1`) and the example service in front of
/// it, with at most `limit` cancels in flight; `configure` adjusts the client.
async fn service(
    limit: usize,
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> (FakeAily, SocketAddr) {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run("session_1", "run_1");
    let client = support::tenant_client(&fake, TOKEN, configure);
    let addr = microservice::serve(microservice::app_with_limit(client, limit))
        .await
        .unwrap();
    (fake, addr)
}

/// `POST http://addr{path}`: the status, the headers and the body as JSON.
async fn post(
    addr: SocketAddr,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let reply = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    let text = reply.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    (status, headers, json)
}

const CANCEL: &str = "/runs/session_1/run_1/cancel";

#[tokio::test]
async fn invalid_input_is_400_and_nothing_is_sent() {
    support::serial::beside_others();
    let (fake, addr) = service(4, |b| b).await;
    let long = "r".repeat(300);
    for path in [
        "/runs/session%201/run_1/cancel".to_owned(),
        format!("/runs/session_1/{long}/cancel"),
    ] {
        let (status, _, body) = post(addr, &path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid_input", "{body}");
    }
    assert_eq!(fake.request_count(Route::Any), 0, "nothing sent to Feishu");
}

#[tokio::test]
async fn rate_limited_is_429_with_retry_after_in_whole_seconds() {
    support::serial::beside_others();
    let (fake, addr) = service(4, |b| b).await;
    // A reset longer than the client waits (20 s): it fails at once with the wait.
    fake.push_fault(Route::CancelRun, Fault::rate_limited(30), Times::Once);
    let (status, headers, body) = post(addr, CANCEL).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "30");
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert_eq!(body["code"], 99991400, "{body}");
    assert_eq!(fake.request_count(Route::CancelRun), 1);
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    use microservice::retry_after_secs;
    assert_eq!(retry_after_secs(Duration::ZERO), 0);
    assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
    assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
}

#[tokio::test]
async fn a_timeout_is_504() {
    support::serial::beside_others();
    let (fake, addr) = service(4, |b| {
        b.attempt_timeout(Duration::from_millis(150))
            .overall_timeout(Duration::from_millis(400))
    })
    .await;
    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_secs(30)),
        Times::Always,
    );
    let started = std::time::Instant::now();
    let (status, headers, body) = post(addr, CANCEL).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "timeout", "{body}");
    assert!(headers.get("retry-after").is_none());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the client's timeout"
    );
    assert!(fake.request_count(Route::CancelRun) >= 1);
}

#[tokio::test]
async fn feishu_errors_are_502_with_the_log_id() {
    support::serial::beside_others();
    let (fake, addr) = service(4, |b| b.max_attempts(1)).await;
    fake.push_fault(
        Route::CancelRun,
        Fault::api_error(400, 99991672, "app has not applied for the scope"),
        Times::Once,
    );
    // An API error, a gateway's HTML page, and an unknown run (2700001).
    fake.push_fault(
        Route::CancelRun,
        Fault::NonJson { status: 502 },
        Times::Once,
    );
    for (path, kind, code) in [
        (CANCEL, "api", Some(99991672)),
        (CANCEL, "http", None),
        ("/runs/session_1/no_such_run/cancel", "api", Some(2700001)),
    ] {
        let (status, headers, body) = post(addr, path).await;
        assert_eq!(status, 502, "{path}: {body}");
        assert_eq!(body["error"], kind, "{body}");
        assert_eq!(body["code"].as_i64(), code, "{body}");
        let log_id = body["log_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a log id: {body}"));
        assert!(!log_id.is_empty());
        assert_eq!(
            headers[microservice::LOG_ID_HEADER],
            log_id,
            "header and body agree"
        );
    }
    assert_eq!(fake.request_count(Route::CancelRun), 3);
}

#[tokio::test]
async fn overload_is_503_and_sheds_without_sending() {
    support::serial::beside_others();
    // One cancel at a time; the first is held by the fake for 2 s.
    let (fake, addr) = service(1, |b| b).await;
    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_secs(2)),
        Times::Once,
    );
    let first = tokio::spawn(async move { post(addr, CANCEL).await });
    // Wait (bounded) until the first cancel is on the wire: it holds the one permit.
    for _ in 0..1000 {
        if fake.request_count(Route::CancelRun) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "the first cancel was sent"
    );

    let (status, headers, body) = post(addr, CANCEL).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "overloaded", "{body}");
    assert!(headers.get(microservice::LOG_ID_HEADER).is_none());
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "shed: nothing sent"
    );

    let (status, _, body) = first.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CANCELLED");
    // The permit is back: the next cancel goes through.
    let (status, _, body) = post(addr, CANCEL).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_rejected_token_and_an_unreachable_feishu_are_502() {
    support::serial::beside_others();
    // Feishu rejects the service's token: an `Auth` error, with Feishu's log id.
    let fake = FakeAily::start().await.unwrap();
    fake.add_run("session_1", "run_1");
    let client = support::tenant_client(&fake, "t-not-known-to-the-fake", |b| b);
    let addr = microservice::serve(microservice::app(client))
        .await
        .unwrap();
    let (status, headers, body) = post(addr, CANCEL).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "auth", "{body}");
    assert_eq!(body["code"], 99991663, "{body}");
    let log_id = body["log_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a log id: {body}"));
    assert_eq!(headers[microservice::LOG_ID_HEADER], log_id);
    assert!(!body.to_string().contains("t-not-known-to-the-fake"));

    // Nothing listens: a `Connect` error, and no log id since nothing answered.
    let client = support::closed_port_builder(TOKEN).build().unwrap();
    let addr = microservice::serve(microservice::app(client))
        .await
        .unwrap();
    let (status, headers, body) = post(addr, CANCEL).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "connect", "{body}");
    assert!(body["log_id"].is_null(), "{body}");
    assert!(headers.get(microservice::LOG_ID_HEADER).is_none());
}

/// `POST /ask` streams the answer; a client that disconnects mid-answer gets its
/// Aily run cancelled (the handler's future and the ask's stream are dropped).
#[tokio::test]
async fn ask_streams_and_a_disconnect_cancels_the_run() {
    support::serial::beside_others();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let fake = support::fake_for("t-ask-ms").await;
    fake.add_session("session_ask");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(60));
    let client = Client::builder()
        .credentials(Credentials::tenant_token("t-ask-ms"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let addr = microservice::serve(microservice::app(client.clone()))
        .await
        .unwrap();

    let body = r#"{"app_id":"spring_ms__c","text":"hello","session_id":"session_ask"}"#;
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /ask HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    // Read until the answer has started to grow.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&seen).contains("event: delta") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "the stream ended early: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the answer starts within 10 s");
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(text.contains("event: started"), "{text}");
    let run_id = fake.session_runs("session_ask").unwrap()[0].id.clone();
    assert_eq!(fake.request_count(Route::CancelRun), 0);

    drop(conn);
    let dropped = tokio::time::Instant::now();
    while fake.request_count(Route::CancelRun) == 0 {
        assert!(
            dropped.elapsed() < Duration::from_secs(1),
            "a cancel within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.shutdown().await;
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "exactly one cancel"
    );
    assert_eq!(
        fake.run_status("session_ask", &run_id).as_deref(),
        Some("CANCELLED")
    );
}
