//! The metrics of the default stack, recorded by the facade's own debugging recorder
//! (the thread's recorder for one test; the runtime is current-thread, so every task
//! of the test records into it), over real TCP to `FakeAily`: exact counts and label
//! values of every series.
#![cfg(all(feature = "metrics", feature = "testing"))]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::bounded;
use aily_client::rate_limit::Quota;
use aily_client::retry::RetryConfig;
use aily_client::runs::CreateRunRequest;
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, ClientBuilder, Credentials, ErrorKind};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const CANCEL: &str = "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel";

/// A series: its name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

/// What one series recorded: a counter's value, or a histogram's samples.
#[derive(Debug, PartialEq)]
enum Value {
    Count(u64),
    Samples(Vec<f64>),
}

impl Value {
    /// The count: a counter's value, a histogram's number of samples.
    fn n(&self) -> u64 {
        match self {
            Value::Count(n) => *n,
            Value::Samples(s) => s.len() as u64,
        }
    }
}

/// Every series recorded since the last snapshot (a snapshot drains histograms).
fn snapshot(snapshotter: &Snapshotter) -> BTreeMap<Series, Value> {
    let mut out = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let mut labels: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        let value = match value {
            DebugValue::Counter(n) => Value::Count(n),
            DebugValue::Histogram(samples) => {
                Value::Samples(samples.into_iter().map(|s| s.into_inner()).collect())
            }
            DebugValue::Gauge(_) => panic!("the crate records no gauge"),
        };
        out.insert((key.key().name().to_owned(), labels), value);
    }
    out
}

/// Every series recorded so far, by its count.
fn counts(snapshotter: &Snapshotter) -> BTreeMap<Series, u64> {
    snapshot(snapshotter)
        .into_iter()
        .map(|(k, v)| (k, v.n()))
        .collect()
}

fn series(name: &str, pairs: &[(&str, &str)]) -> Series {
    let mut labels: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// One attempt at the cancel endpoint of `fake`: its status (when a reply came) and
/// its error type (when it failed).
fn attempt(fake: &FakeAily, status: Option<&str>, error: Option<&str>) -> Series {
    attempt_at(fake, "POST", CANCEL, status, error)
}

/// The token endpoint's URL template.
const TOKEN: &str = "/open-apis/auth/v3/tenant_access_token/internal";

fn attempt_at(
    fake: &FakeAily,
    method: &str,
    template: &str,
    status: Option<&str>,
    error: Option<&str>,
) -> Series {
    let port = fake.addr().port().to_string();
    let mut l = vec![
        ("http.request.method", method),
        ("url.template", template),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
    ];
    if let Some(s) = status {
        l.push(("http.response.status_code", s));
    }
    if let Some(e) = error {
        l.push(("error.type", e));
    }
    series("http.client.request.duration", &l)
}

fn operation(name: &str, error: Option<&str>) -> Series {
    let mut l = vec![("aily.operation", name)];
    if let Some(e) = error {
        l.push(("error.type", e));
    }
    series("aily.client.operation.duration", &l)
}

fn retries(reason: &str) -> Series {
    series(
        "aily.client.retries",
        &[("aily.operation", "aily.run.cancel"), ("reason", reason)],
    )
}

fn feishu(operation: &str, code: &str) -> Series {
    series(
        "aily.client.feishu.errors",
        &[("aily.operation", operation), ("feishu.code", code)],
    )
}

/// The lifecycle tests' fake (it accepts `crate::support::TOKEN`) with run `r` of session `s`.
async fn fake() -> FakeAily {
    let fake = crate::support::fake().await;
    fake.add_run("s", "r");
    fake
}

/// `crate::support::client_with` with fast retries, after `tweak`.
fn client_with(fake: &FakeAily, tweak: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
    let retry =
        RetryConfig::default().with_backoff(Duration::from_millis(1), Duration::from_millis(2));
    crate::support::client_with(fake, |b| tweak(b.retry(retry)))
}

fn client(fake: &FakeAily) -> Client {
    client_with(fake, |b| b)
}

/// A fresh debugging recorder and its snapshotter.
fn recorder() -> (DebuggingRecorder, Snapshotter) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    (recorder, snapshotter)
}

#[tokio::test]
async fn a_success_is_one_attempt_and_one_operation() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    let client = client(&fake);
    bounded(client.cancel_run("s", "r")).await.unwrap();
    let got = snapshot(&snapshotter);
    assert_eq!(got.len(), 2, "{got:#?}");
    let Value::Samples(attempts) = &got[&attempt(&fake, Some("200"), None)] else {
        panic!("a histogram: {got:#?}");
    };
    let Value::Samples(operations) = &got[&operation("aily.run.cancel", None)] else {
        panic!("a histogram: {got:#?}");
    };
    assert_eq!((attempts.len(), operations.len()), (1, 1));
    // Seconds, and the operation contains its attempt.
    assert!(attempts[0] > 0.0 && attempts[0] < 10.0, "{attempts:?}");
    assert!(operations[0] >= attempts[0], "{operations:?} {attempts:?}");
}

#[tokio::test]
async fn a_retried_503_then_success() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    let client = client(&fake);
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Once);
    bounded(client.cancel_run("s", "r")).await.unwrap();
    let want = BTreeMap::from([
        (attempt(&fake, Some("503"), Some("api")), 1),
        (attempt(&fake, Some("200"), None), 1),
        (operation("aily.run.cancel", None), 1),
        (retries("transient"), 1),
        (feishu("aily.run.cancel", "503"), 1),
    ]);
    assert_eq!(counts(&snapshotter), want);
}

#[tokio::test]
async fn an_exhausted_outage() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    let client = client(&fake);
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Always);
    let err = bounded(client.cancel_run("s", "r")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(fake.request_count(Route::CancelRun), 3);
    let want = BTreeMap::from([
        (attempt(&fake, Some("503"), Some("api")), 3),
        (operation("aily.run.cancel", Some("api")), 1),
        (retries("transient"), 2),
        (feishu("aily.run.cancel", "503"), 3),
    ]);
    assert_eq!(counts(&snapshotter), want);
}

#[tokio::test]
async fn a_cold_cache_fetches_one_token_for_many_calls() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    fake.add_app("cli_metrics", "metrics-secret");
    let client = client_with(&fake, |b| {
        b.credentials(Credentials::app("cli_metrics", "metrics-secret"))
    });
    let calls = (0..10).map(|_| client.cancel_run("s", "r"));
    for result in bounded(futures_util::future::join_all(calls)).await {
        result.unwrap();
    }
    assert_eq!(fake.request_count(Route::TenantToken), 1);
    let want = BTreeMap::from([
        (
            series("aily.client.token.fetches", &[("outcome", "success")]),
            1,
        ),
        (attempt(&fake, Some("200"), None), 10),
        // The token request is an attempt of its own, through the token stack.
        (attempt_at(&fake, "POST", TOKEN, Some("200"), None), 1),
        (operation("aily.run.cancel", None), 10),
    ]);
    assert_eq!(counts(&snapshotter), want);
}

#[tokio::test]
async fn a_rejected_app_secret_is_a_failed_fetch_with_its_code_and_no_reply_status() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    fake.add_app("cli_metrics", "the-right-secret");
    let client = client_with(&fake, |b| {
        b.credentials(Credentials::app("cli_metrics", "a-wrong-secret"))
    });
    let err = bounded(client.cancel_run("s", "r")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    let code = err.code().expect("the token endpoint's code").to_string();
    assert_eq!(fake.request_count(Route::CancelRun), 0);
    // The attempt sent nothing: no status; the code is the token endpoint's.
    let want = BTreeMap::from([
        (
            series("aily.client.token.fetches", &[("outcome", "error")]),
            1,
        ),
        (feishu("aily.token.fetch", &code), 1),
        // The token endpoint's reply is its own attempt's, never the cancel attempt's.
        (
            attempt_at(&fake, "POST", TOKEN, Some("400"), Some("auth")),
            1,
        ),
        (attempt(&fake, None, Some("auth")), 1),
        (operation("aily.run.cancel", Some("auth")), 1),
    ]);
    assert_eq!(counts(&snapshotter), want);
}

#[tokio::test]
async fn an_unknown_feishu_code_is_labelled_other_and_a_known_one_keeps_its_value() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    let client = client(&fake);
    // Any code a server makes up would otherwise be a new series.
    for (code, times) in [(1234567, 1), (987654321, 2), (99991672, 1)] {
        for _ in 0..times {
            fake.push_fault(
                Route::CancelRun,
                Fault::ApiError {
                    status: 400,
                    code,
                    msg: "made up".into(),
                },
                Times::Once,
            );
            let err = bounded(client.cancel_run("s", "r")).await.unwrap_err();
            assert_eq!(err.code(), Some(code), "the error itself keeps the code");
        }
    }
    let got = counts(&snapshotter);
    assert_eq!(
        got.get(&feishu("aily.run.cancel", "other")),
        Some(&3),
        "{got:#?}"
    );
    assert_eq!(
        got.get(&feishu("aily.run.cancel", "99991672")),
        Some(&1),
        "{got:#?}"
    );
    let codes: Vec<_> = got
        .keys()
        .filter(|(name, _)| name == "aily.client.feishu.errors")
        .collect();
    assert_eq!(codes.len(), 2, "{codes:#?}");
}

#[tokio::test]
async fn a_rate_limit_wait_is_one_sample_of_the_time_waited() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    // 2 per second, burst 1: the second call waits for its slot, about 500 ms less
    // the first call's time (plenty of margin on a loaded machine).
    let client = client_with(&fake, |b| b.quota(Quota::per_second(2)));
    bounded(client.cancel_run("s", "r")).await.unwrap();
    bounded(client.cancel_run("s", "r")).await.unwrap();
    let got = snapshot(&snapshotter);
    let wait = series(
        "aily.client.rate_limit.wait",
        &[("aily.operation", "aily.run.cancel")],
    );
    let Some(Value::Samples(waits)) = got.get(&wait) else {
        panic!("no wait recorded: {got:#?}");
    };
    assert_eq!(waits.len(), 1, "only the call that waited: {waits:?}");
    assert!(
        (0.05..1.0).contains(&waits[0]),
        "about 500 ms, in seconds: {waits:?}"
    );
    let want = BTreeMap::from([
        (wait, 1),
        (attempt(&fake, Some("200"), None), 2),
        (operation("aily.run.cancel", None), 2),
    ]);
    let got: BTreeMap<Series, u64> = got.into_iter().map(|(k, v)| (k, v.n())).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_refused_slot_is_a_fail_fast() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    // 1 per minute: the second call would wait a minute, past the 30 s deadline.
    let client = client_with(&fake, |b| b.quota(Quota::per_minute(1)));
    bounded(client.cancel_run("s", "r")).await.unwrap();
    let err = bounded(client.cancel_run("s", "r")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(fake.request_count(Route::CancelRun), 1);
    let want = BTreeMap::from([
        (
            series(
                "aily.client.rate_limit.fail_fast",
                &[("aily.operation", "aily.run.cancel")],
            ),
            1,
        ),
        (attempt(&fake, Some("200"), None), 1),
        (operation("aily.run.cancel", None), 1),
        (operation("aily.run.cancel", Some("rate_limited")), 1),
    ]);
    assert_eq!(counts(&snapshotter), want);
}

#[tokio::test]
async fn an_invalid_id_records_nothing() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    let client = client(&fake);
    let err = bounded(client.cancel_run("", "r")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = bounded(client.cancel_run("s", "run 1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(fake.request_count(Route::CancelRun), 0);
    assert_eq!(counts(&snapshotter), BTreeMap::new());
}

#[tokio::test]
async fn a_dropped_run_handle_is_one_background_cancel() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(60));
    fake.add_session("session_m");
    let client = client(&fake);
    let handle = bounded(
        client.create_run_handle(CreateRunRequest::new("session_m", "spring_metrics__c").unwrap()),
    )
    .await
    .unwrap();
    drop(handle);
    bounded(client.shutdown()).await;
    let got = counts(&snapshotter);
    let outcome = series(
        "aily.client.background_cancels",
        &[("outcome", "succeeded")],
    );
    assert_eq!(got.get(&outcome), Some(&1), "{got:#?}");
    assert_eq!(got[&operation("aily.run.cancel", None)], 1, "{got:#?}");
    assert_eq!(got[&operation("aily.run.create", None)], 1, "{got:#?}");
    assert_eq!(got.len(), 5, "{got:#?}");
}

/// A Redis nobody listens on: every store command fails over to the process.
#[cfg(feature = "redis")]
#[tokio::test]
async fn an_unreachable_redis_is_counted_per_command_that_fell_back() {
    let (recorder, snapshotter) = recorder();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let fake = fake().await;
    fake.add_app("cli_metrics", "metrics-secret");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let client = client_with(&fake, |b| {
        b.credentials(Credentials::app("cli_metrics", "metrics-secret"))
            .quota(Quota::per_second(1000))
            .redis(format!("redis://127.0.0.1:{port}"))
    });
    bounded(client.cancel_run("s", "r")).await.unwrap();
    let got = counts(&snapshotter);
    let fallbacks: BTreeMap<&str, u64> = got
        .iter()
        .filter(|((name, _), _)| name == "aily.client.store.fallbacks")
        .map(|((_, labels), n)| {
            assert_eq!(labels.len(), 1, "{labels:?}");
            assert_eq!(labels[0].0, "store.command");
            (labels[0].1.as_str(), *n)
        })
        .collect();
    // The limiter's acquire finds Redis down; the token load right after falls back
    // too (not tried within the probe interval, or refused); the token is fetched and
    // kept in process. Saving it may be tried too when the fetch outlasted the probe
    // interval on a loaded machine: once at most.
    assert_eq!(fallbacks.get("acquire"), Some(&1), "{got:#?}");
    assert_eq!(fallbacks.get("load token"), Some(&1), "{got:#?}");
    for (command, n) in &fallbacks {
        assert!(
            matches!(
                *command,
                "acquire" | "load token" | "lock token" | "save token" | "unlock token"
            ) && *n == 1,
            "{fallbacks:?}"
        );
    }
    assert_eq!(got[&operation("aily.run.cancel", None)], 1);
}
