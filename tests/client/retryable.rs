//! One answer to "is this retryable?": for every kind of failure the tests can
//! produce, `Error::is_retryable()` says yes exactly when the client's own retry
//! policy tried again (an idempotent request, attempts to spare).
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::retry::RetryConfig;
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, Credentials, Error, ErrorKind, Retryable, TimeoutKind};

use crate::support;

const TOKEN: &str = "t-retryable";

fn client(base: &str) -> Client {
    Client::builder()
        .base_url(base)
        .credentials(Credentials::tenant_token(TOKEN))
        .retry(
            RetryConfig::default()
                .with_max_attempts(2)
                .with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
        )
        .attempt_timeout(Duration::from_millis(300))
        .overall_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The error of one call whose first attempt (and any retry) meets `fault`.
async fn error_under(fault: Fault) -> Error {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run("session_1", "run_1");
    fake.push_fault(Route::CancelRun, fault, Times::Always);
    client(&fake.base_url())
        .cancel_run("session_1", "run_1")
        .await
        .unwrap_err()
}

fn assert_agrees(what: &str, err: &Error, expected: Retryable) {
    assert_eq!(err.retryable(), expected, "{what}: {err}");
    let retried = err.attempts() == Some(2);
    assert_eq!(
        err.is_retryable(),
        retried,
        "{what}: is_retryable() = {} but the policy made {:?} attempts: {err}",
        err.is_retryable(),
        err.attempts()
    );
}

#[tokio::test]
async fn the_predicate_and_the_policy_agree() {
    let cases = [
        ("HTTP 503", Fault::Status(503), Retryable::IfIdempotent),
        ("HTTP 404", Fault::Status(404), Retryable::Never),
        ("rate limited", Fault::rate_limited(0), Retryable::AfterWait),
        (
            "API error",
            Fault::api_error(400, 2700001, "param is invalid"),
            Retryable::Never,
        ),
        (
            "reset connection",
            Fault::ResetConnection,
            Retryable::IfIdempotent,
        ),
        ("malformed JSON", Fault::MalformedJson, Retryable::Never),
        (
            "wrong field types",
            Fault::WrongFieldTypes,
            Retryable::Never,
        ),
        ("stalled body", Fault::StallBody, Retryable::IfIdempotent),
        ("token invalid", Fault::TokenInvalid, Retryable::Never),
        (
            "monthly quota spent",
            Fault::api_error(400, 99991403, "tenant quota exceeded"),
            Retryable::Never,
        ),
        (
            "monthly quota spent, with HTTP 429",
            Fault::api_error(429, 99991403, "tenant quota exceeded"),
            Retryable::Never,
        ),
        (
            "oversized body",
            Fault::OversizedBody {
                bytes: 2 << 20,
                chunked: false,
            },
            Retryable::Never,
        ),
    ];
    for (what, fault, expected) in cases {
        let err = error_under(fault).await;
        assert_agrees(what, &err, expected);
        if what.starts_with("monthly quota") {
            assert_eq!(err.kind(), ErrorKind::QuotaExhausted, "{what}: {err}");
            assert!(err.is_quota_exhausted());
            assert!(err.to_string().contains("99991403"), "{err}");
        }
    }
}

#[tokio::test]
async fn connect_failures_agree_too() {
    // Connection refused: nothing was sent, always retryable.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client(&format!("http://127.0.0.1:{port}"))
        .cancel_run("session_1", "run_1")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_agrees("connection refused", &err, Retryable::Always);

    // An untrusted certificate: a connect error that is never retried.
    let tls = FakeAily::start_tls().await.unwrap();
    let err = client(&tls.base_url())
        .cancel_run("session_1", "run_1")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_agrees("untrusted certificate", &err, Retryable::Never);
}

#[tokio::test]
async fn invalid_input_and_overall_timeouts_are_never_retryable() {
    let err = aily_client::CancelRequest::new("..", "r").unwrap_err();
    assert_eq!(err.retryable(), Retryable::Never);
    assert!(!err.is_retryable());

    let fake = support::fake_for(TOKEN).await;
    fake.add_run("session_1", "run_1");
    fake.push_fault(Route::CancelRun, Fault::StallBody, Times::Always);
    let err = Client::builder()
        .base_url(fake.base_url())
        .credentials(Credentials::tenant_token(TOKEN))
        .overall_timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .cancel_run("session_1", "run_1")
        .await
        .unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Overall), "{err}");
    assert_eq!(err.retryable(), Retryable::Never);
}
