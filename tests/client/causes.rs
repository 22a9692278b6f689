//! A connect error keeps its cause, with app credentials (the token fetch is shared by
//! every waiter) as with a static token: connection refused, a DNS failure and an
//! untrusted certificate each name the OS or TLS cause in the library's `Display`
//! (the CLI's stderr line: tests/cli/causes.rs).
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::testing::FakeAily;
use aily_client::{Client, Credentials, Error, ErrorKind};

use crate::support::closed_port;

fn credentials() -> [(&'static str, Credentials); 2] {
    [
        ("app", Credentials::app("cli_causes", "s3cret")),
        ("static", Credentials::tenant_token("t-causes")),
    ]
}

async fn first_call_error(base: &str, credentials: Credentials) -> Error {
    let client = Client::builder()
        .base_url(base)
        .credentials(credentials)
        .max_attempts(1)
        .overall_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    client.cancel_run("session_1", "run_1").await.unwrap_err()
}

#[tokio::test]
async fn connection_refused_names_the_os_cause() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    for (what, credentials) in credentials() {
        let err = first_call_error(&base, credentials).await;
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::Connect, "{what}: {text}");
        assert!(text.contains("Connection refused"), "{what}: {text}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "{what}: the cause is kept"
        );
    }
}

#[tokio::test]
async fn dns_failure_names_the_resolver_cause() {
    // `.invalid` never resolves (RFC 6761).
    let base = "https://aily-client-test.invalid";
    for (what, credentials) in credentials() {
        let err = first_call_error(base, credentials).await;
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::Connect, "{what}: {text}");
        assert!(text.contains("dns error"), "{what}: {text}");
    }
}

#[tokio::test]
async fn untrusted_certificate_names_the_tls_cause() {
    let fake = FakeAily::start_tls().await.unwrap();
    let base = fake.base_url();
    for (what, credentials) in credentials() {
        let err = first_call_error(&base, credentials).await;
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::Connect, "{what}: {text}");
        assert!(text.contains("invalid peer certificate"), "{what}: {text}");
        assert!(
            !err.is_retryable(),
            "{what}: a TLS failure is not retryable"
        );
    }
}

/// Every waiter of one shared token fetch gets the whole cause, not only the first.
#[tokio::test]
async fn every_waiter_of_a_shared_fetch_gets_the_cause() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    let client = Client::builder()
        .base_url(&base)
        .credentials(Credentials::app("cli_causes", "s3cret"))
        .max_attempts(1)
        .build()
        .unwrap();
    let calls = (0..8).map(|_| client.cancel_run("session_1", "run_1"));
    for result in spawn_all(calls).await {
        let err = result.unwrap_err();
        assert!(err.to_string().contains("Connection refused"), "{err}");
    }
}

/// Runs every future on its own task and collects the outputs.
async fn spawn_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}
