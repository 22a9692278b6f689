//! The example microservice's `GET /metrics`, scraped over real HTTP after calls that
//! succeed, are retried after a 503, and fail with a Feishu error; the Prometheus
//! text is parsed (every sample line: name, labels, value) and the client's series
//! are found with the expected counts.
//!
//! Only one test of this binary records: it installs the process's global recorder,
//! as the example's `main` does (the other tests the parser alone).
#![cfg(all(feature = "testing", feature = "metrics"))]

use crate::microservice;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aily_client::testing::{FakeAily, Fault, Route, Times};

use crate::support;

/// One sample of the exposition: its metric name and labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
}

/// The parsed exposition: every sample's value, and every `# TYPE`.
#[derive(Debug, Default)]
struct Exposition {
    samples: BTreeMap<Sample, f64>,
    types: HashMap<String, String>,
}

impl Exposition {
    /// Parses the Prometheus text format (0.0.4): `# TYPE name kind` lines, other
    /// comments, blank lines, and `name{k="v",…} value [timestamp]` samples with
    /// `\\`, `\"` and `\n` escapes in label values. Panics on anything else.
    fn parse(text: &str) -> Exposition {
        let mut out = Exposition::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let words: Vec<&str> = comment.split_whitespace().collect();
                if let ["TYPE", name, kind] = words.as_slice() {
                    out.types.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            let (sample, rest) = parse_series(line);
            let value = rest
                .split_whitespace()
                .next()
                .unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line}"));
            assert!(
                out.samples.insert(sample, value).is_none(),
                "a series twice: {line}"
            );
        }
        out
    }

    /// The value of `name` with exactly `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let key = Sample {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        self.samples.get(&key).copied()
    }

    /// Every sample named `name`.
    fn named(&self, name: &str) -> Vec<(&BTreeMap<String, String>, f64)> {
        self.samples
            .iter()
            .filter(|(s, _)| s.name == name)
            .map(|(s, v)| (&s.labels, *v))
            .collect()
    }
}

/// `name{labels}` at the start of `line`, and what follows it.
fn parse_series(line: &str) -> (Sample, &str) {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or_else(|| panic!("a sample without a value: {line}"));
    let name = &line[..name_end];
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "not a metric name: {name:?} in {line}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            // A label name up to '=', or the closing brace.
            let start = chars.peek().map(|(i, _)| *i).expect("unterminated labels");
            if body[start..].starts_with('}') {
                rest = &body[start + 1..];
                break;
            }
            let eq = body[start..].find('=').expect("a label without '='") + start;
            let key = body[start..eq].to_owned();
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().expect("unterminated label value").1 {
                    '\\' => match chars.next().expect("a dangling escape").1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        c => panic!("unknown escape \\{c} in {line}"),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            assert!(labels.insert(key, value).is_none(), "a label twice: {line}");
            if chars.peek().is_some_and(|(_, c)| *c == ',') {
                chars.next();
            }
        }
    }
    (
        Sample {
            name: name.to_owned(),
            labels,
        },
        rest,
    )
}

#[test]
fn the_parser_reads_labels_escapes_and_values() {
    let text = "# HELP x_total A counter.\n# TYPE x_total counter\n\
                x_total{a=\"1\",b=\"say \\\"hi\\\"\\n\",c=\"back\\\\slash\"} 3\n\
                y 0.5 1700000000\n\nz{} 7\n";
    let e = Exposition::parse(text);
    assert_eq!(
        e.get(
            "x_total",
            &[("a", "1"), ("b", "say \"hi\"\n"), ("c", "back\\slash")]
        ),
        Some(3.0)
    );
    assert_eq!(e.get("y", &[]), Some(0.5));
    assert_eq!(e.get("z", &[]), Some(7.0));
    assert_eq!(e.types["x_total"], "counter");
    assert_eq!(e.samples.len(), 3);
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
    let e = Exposition::parse(&reply.text().await.unwrap());

    let port = fake.addr().port().to_string();
    let attempt_at = |template: &'static str, status: &'static str, error: Option<&'static str>| {
        let mut l = vec![
            ("http_request_method", "POST"),
            ("url_template", template),
            ("server_address", "127.0.0.1"),
            ("server_port", port.as_str()),
            ("http_response_status_code", status),
        ];
        l.extend(error.map(|e| ("error_type", e)));
        l.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
    };
    let attempt = |status, error| attempt_at(CANCEL, status, error);
    let count = |name: &str, labels: &[(String, String)]| {
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        e.get(name, &labels)
    };

    // Attempts: three 200s, a 503 and a 400.
    let attempts = "http_client_request_duration_seconds_count";
    assert_eq!(count(attempts, &attempt("200", None)), Some(3.0));
    assert_eq!(count(attempts, &attempt("503", Some("api"))), Some(1.0));
    assert_eq!(count(attempts, &attempt("400", Some("api"))), Some(1.0));
    // And the one token request, an attempt of its own through the token stack.
    let token = "/open-apis/auth/v3/tenant_access_token/internal";
    assert_eq!(count(attempts, &attempt_at(token, "200", None)), Some(1.0));
    assert_eq!(e.named(attempts).len(), 4, "{:#?}", e.named(attempts));
    assert_eq!(
        e.types["http_client_request_duration_seconds"], "histogram",
        "a real histogram, with buckets"
    );
    // The histogram's +Inf bucket holds every sample.
    let mut inf = attempt("200", None);
    inf.push(("le".to_owned(), "+Inf".to_owned()));
    assert_eq!(
        count("http_client_request_duration_seconds_bucket", &inf),
        Some(3.0)
    );

    // Operations: three successes, one Feishu error.
    let ops = "aily_client_operation_duration_seconds_count";
    assert_eq!(
        e.get(ops, &[("aily_operation", "aily.run.cancel")]),
        Some(3.0)
    );
    assert_eq!(
        e.get(
            ops,
            &[("aily_operation", "aily.run.cancel"), ("error_type", "api")]
        ),
        Some(1.0)
    );
    assert_eq!(e.named(ops).len(), 2);

    assert_eq!(
        e.get(
            "aily_client_retries_total",
            &[
                ("aily_operation", "aily.run.cancel"),
                ("reason", "transient")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(e.named("aily_client_retries_total").len(), 1);
    assert_eq!(
        e.get("aily_client_token_fetches_total", &[("outcome", "success")]),
        Some(1.0)
    );
    assert_eq!(e.named("aily_client_token_fetches_total").len(), 1);
    let codes = "aily_client_feishu_errors_total";
    for code in ["503", "2700001"] {
        assert_eq!(
            e.get(
                codes,
                &[("aily_operation", "aily.run.cancel"), ("feishu_code", code)]
            ),
            Some(1.0),
            "{code}"
        );
    }
    assert_eq!(e.named(codes).len(), 2);

    // Bounded labels: no ID or log ID anywhere in the scrape.
    for sample in e.samples.keys() {
        for value in sample.labels.values() {
            assert!(
                !value.contains("s-metrics") && !value.contains("r-metrics"),
                "an ID in a label: {sample:?}"
            );
        }
    }
}
