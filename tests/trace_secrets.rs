//! A capture of every span and event at TRACE level, over every token path, holds
//! no secret and no token; neither does any `Debug` or `Display` output.
//!
//! Its own test binary, with a global subscriber, so that no other test's
//! callsites or threads can hide a span from the capture.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, Credentials, ErrorKind};

const APP_ID: &str = "cli_a1b2c3d4e5";
const APP_SECRET: &str = "s3cr3t-app-secret-value-xyz";
/// A password put in a base URL's user info.
const URL_PASSWORD: &str = "hunter2";

#[cfg(feature = "cli")]
mod common;

mod capture;
use capture::Capture;

#[tokio::test(start_paused = true)]
async fn no_secret_or_token_reaches_spans_events_or_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let fake = FakeAily::start().await.unwrap();
    fake.add_app(APP_ID, APP_SECRET);
    fake.add_run("s", "r");
    fake.set_token_ttl(Duration::from_secs(7200));
    fake.add_user_token("u-user-secret-token");
    let client = Client::builder()
        .credentials(Credentials::app(APP_ID, APP_SECRET))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let mut shown = Vec::new();
    // Cold fetch, warm call, invalid-token replay, refresh, wrong secret, user token.
    shown.push(format!("{:?}", client.cancel_run("s", "r").await.unwrap()));
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Once);
    shown.push(format!("{:?}", client.cancel_run("s", "r").await.unwrap()));
    tokio::time::advance(Duration::from_secs(7100)).await;
    client.cancel_run("s", "r").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Always);
    let err = client.cancel_run("s", "r").await.unwrap_err();
    shown.push(format!("{err:?} {err}"));
    fake.clear_faults();
    let wrong = Client::builder()
        .credentials(Credentials::app(APP_ID, "wrong-secret-value"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = wrong.cancel_run("s", "r").await.unwrap_err();
    shown.push(format!("{err:?} {err} {wrong:?}"));
    // Over HTTP/2 too, whose frames h2 traces.
    let user = Client::builder()
        .credentials(Credentials::user_token("u-user-secret-token"))
        .base_url(fake.base_url())
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    user.cancel_run("s", "r").await.unwrap();
    shown.push(format!("{user:?} {client:?}"));
    shown.push(format!("{:?}", Credentials::app(APP_ID, APP_SECRET)));

    // A password in the base URL: refused, and echoed by neither the error nor the
    // builder's Debug (nor, below, any span or event).
    let builder = Client::builder()
        .credentials(Credentials::app(APP_ID, APP_SECRET))
        .base_url(format!("http://user:{URL_PASSWORD}@127.0.0.1:1"));
    shown.push(format!("{builder:?}"));
    let err = builder.build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("user info"), "{err}");
    assert!(
        err.to_string().contains("http://<redacted>@127.0.0.1:1"),
        "{err}"
    );
    tracing::warn!(error = %err, "the client could not be built");
    shown.push(format!("{err:?} {err}"));

    let log = fake.requests();
    let mut secrets: Vec<String> = log
        .iter()
        .filter_map(|r| r.bearer_token().map(str::to_owned))
        .collect();
    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 3,
        "tokens were issued and used: {}",
        secrets.len()
    );
    secrets.push(APP_SECRET.to_owned());
    secrets.push("wrong-secret-value".to_owned());
    secrets.push(URL_PASSWORD.to_owned());

    let captured = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(captured.contains("aily.run.cancel"), "spans were captured");
    assert!(
        captured.contains("aily.token.fetch"),
        "token fetch spans were captured"
    );
    assert!(captured.contains("h2"), "HTTP/2 frames were traced");
    for secret in &secrets {
        assert!(
            !captured.contains(secret.as_str()),
            "a secret reached the trace output"
        );
        for text in &shown {
            assert!(
                !text.contains(secret.as_str()),
                "a secret reached Debug/Display: {text}"
            );
        }
    }
}

/// The built `aily` binary given a base URL with a password (FEISHU_BASE_URL or
/// --base-url): a clear error on stderr, which never holds the password.
#[cfg(feature = "cli")]
#[tokio::test]
async fn the_cli_never_echoes_a_password_in_the_base_url() {
    use common::cli::{aily, text};

    let url = format!("http://user:{URL_PASSWORD}@127.0.0.1:1");
    let token = ("FEISHU_TENANT_ACCESS_TOKEN", "t-cli-url-test");
    for out in [
        aily(
            &["cancel", "s", "r"],
            &[token, ("FEISHU_BASE_URL", url.as_str())],
        )
        .await,
        aily(&["cancel", "s", "r", "--base-url", url.as_str()], &[token]).await,
    ] {
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert_ne!(out.status.code(), Some(101), "no panic: {stderr}");
        assert!(stderr.contains("user info"), "{stderr}");
        assert!(stderr.contains("<redacted>@127.0.0.1:1"), "{stderr}");
        assert!(!stderr.contains(URL_PASSWORD), "{stderr}");
        assert!(!text(&out.stdout).contains(URL_PASSWORD));
    }
}
