//! The example microservice's `GET /metrics`, scraped over real HTTP after calls that
//! succeed, are retried after a 503, and fail with a Feishu error; the client's series
//! are found as the exact lines the Prometheus exporter writes (name, labels in the
//! order the client records them, value), with the expected counts.
//!
//! Only one test of this binary records: it installs the process's global recorder,
//! as the example's `main` does.
#![cfg(all(feature = "testing", feature = "metrics"))]

use crate::microservice;

use std::time::Duration;

use aily_client::testing::{FakeAily, Fault, Route, Times};

use crate::support;

/// The scrape's lines, as the exporter wrote them.
struct Scrape<'a>(Vec<&'a str>);

impl<'a> Scrape<'a> {
    fn new(text: &'a str) -> Scrape<'a> {
        Scrape(text.lines().collect())
    }

    /// Whether the scrape has exactly this line.
    fn has(&self, line: &str) -> bool {
        self.0.contains(&line)
    }

    /// The sample lines of the series `name` (not its `_bucket`s, `_sum`s or other
    /// names it prefixes).
    fn named(&self, name: &str) -> Vec<&'a str> {
        self.samples()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .collect()
    }

    /// Every sample line (not a comment, not blank).
    fn samples(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.0
            .iter()
            .copied()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    }
}

/// The exporter's line for `name` with `labels` (in order) and `value`.
fn series(name: &str, labels: &[(&str, &str)], value: &str) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if labels.is_empty() {
        format!("{name} {value}")
    } else {
        format!("{name}{{{}}} {value}", labels.join(","))
    }
}

const CANCEL: &str = "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";

#[tokio::test]
async fn the_scrape_has_every_call_retry_token_and_code() {
    support::serial::alone();
    let scrape = microservice::metrics_setup();
    let fake = FakeAily::start().await.unwrap();
    fake.add_app("cli_ms", "ms-secret");
    for run in ["r-metrics-1", "r-metrics-2", "r-metrics-3", "r-metrics-4"] {
        fake.add_run("s-metrics", run);
    }
    let retry = aily_client::retry::RetryConfig::default()
        .with_backoff(Duration::from_millis(1), Duration::from_millis(2));
    let client = support::app_client(&fake, "cli_ms", "ms-secret", |b| b.retry(retry));
    let addr = microservice::serve(microservice::with_metrics(
        microservice::app(client),
        scrape,
    ))
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let cancel = |run: &'static str| {
        let http = http.clone();
        async move {
            http.post(format!("http://{addr}/runs/s-metrics/{run}/cancel"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    // Two successes; one retried after a 503, then a success; one Feishu error.
    assert_eq!(cancel("r-metrics-1").await, 200);
    assert_eq!(cancel("r-metrics-2").await, 200);
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Once);
    assert_eq!(cancel("r-metrics-3").await, 200);
    fake.push_fault(
        Route::CancelRun,
        Fault::ApiError {
            status: 400,
            code: 2700001,
            msg: "param is invalid".into(),
        },
        Times::Once,
    );
    assert_eq!(cancel("r-metrics-4").await, 502);

    let reply = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let content_type = reply.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = reply.text().await.unwrap();
    let e = Scrape::new(&text);

    let port = fake.addr().port().to_string();
    // An attempt's labels, in the order the client records them.
    let attempt_at = |template: &'static str, status: &'static str, error: Option<&'static str>| {
        let mut l = vec![
            ("http_request_method", "POST"),
            ("url_template", template),
            ("server_address", "127.0.0.1"),
            ("server_port", port.as_str()),
        ];
        l.extend(error.map(|e| ("error_type", e)));
        l.push(("http_response_status_code", status));
        l
    };
    let attempt = |status, error| attempt_at(CANCEL, status, error);
    let has = |name: &str, labels: &[(&str, &str)], value: &str| {
        let line = series(name, labels, value);
        assert!(e.has(&line), "no line {line} in:\n{text}");
    };

    // Attempts: three 200s, a 503 and a 400.
    let attempts = "http_client_request_duration_seconds_count";
    has(attempts, &attempt("200", None), "3");
    has(attempts, &attempt("503", Some("api")), "1");
    has(attempts, &attempt("400", Some("api")), "1");
    // And the one token request, an attempt of its own through the token stack.
    let token = "/open-apis/auth/v3/tenant_access_token/internal";
    has(attempts, &attempt_at(token, "200", None), "1");
    assert_eq!(e.named(attempts).len(), 4, "{:#?}", e.named(attempts));
    assert!(
        e.has("# TYPE http_client_request_duration_seconds histogram"),
        "a real histogram, with buckets"
    );
    // The histogram's +Inf bucket holds every sample.
    let mut inf = attempt("200", None);
    inf.push(("le", "+Inf"));
    has("http_client_request_duration_seconds_bucket", &inf, "3");

    // Operations: three successes, one Feishu error.
    let ops = "aily_client_operation_duration_seconds_count";
    has(ops, &[("aily_operation", "aily.run.cancel")], "3");
    has(
        ops,
        &[("aily_operation", "aily.run.cancel"), ("error_type", "api")],
        "1",
    );
    assert_eq!(e.named(ops).len(), 2);

    has(
        "aily_client_retries_total",
        &[
            ("aily_operation", "aily.run.cancel"),
            ("reason", "transient"),
        ],
        "1",
    );
    assert_eq!(e.named("aily_client_retries_total").len(), 1);
    has(
        "aily_client_token_fetches_total",
        &[("outcome", "success")],
        "1",
    );
    assert_eq!(e.named("aily_client_token_fetches_total").len(), 1);
    let codes = "aily_client_feishu_errors_total";
    for code in ["503", "2700001"] {
        has(
            codes,
            &[("aily_operation", "aily.run.cancel"), ("feishu_code", code)],
            "1",
        );
    }
    assert_eq!(e.named(codes).len(), 2);

    // Bounded labels: no ID or log ID anywhere in the scrape.
    for line in e.samples() {
        assert!(
            !line.contains("s-metrics") && !line.contains("r-metrics"),
            "an ID in a label: {line}"
        );
    }
}
