//! The crate inside a user's own stack: helpers take any service whose error converts
//! into a `BoxError`, from inside a spawned task (the bounds an axum handler needs),
//! and a call that the user's `LoadShed` sheds comes out as `ErrorKind::Overloaded`.
//! The builder's settings do not depend on the order they are made in.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::retry::RetryConfig;
use aily_client::runs::cancel_and_wait;
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, Credentials, ErrorKind, RunStatus, WaitOptions};
use tower::ServiceBuilder;

use crate::support;

const TOKEN: &str = "t-user-stack";

async fn fake() -> FakeAily {
    support::fake_for(TOKEN).await
}

fn client(fake: &FakeAily) -> Client {
    support::tenant_client(fake, TOKEN, |b| b)
}

#[tokio::test]
async fn cancel_and_wait_over_load_shed_and_concurrency_limit_in_a_spawned_task() {
    let fake = fake().await;
    fake.add_run("session_1", "run_1");
    let client = client(&fake);
    let cancel = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(4)
        .service(client.cancel_service());
    let get = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(4)
        .service(client.get_run_service());
    let done = tokio::spawn(async move {
        cancel_and_wait(cancel, get, "session_1", "run_1", WaitOptions::new()).await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(done.run.status, RunStatus::Cancelled);
    assert_eq!(
        fake.run_status("session_1", "run_1").as_deref(),
        Some("CANCELLED")
    );
}

#[tokio::test]
async fn a_shed_call_is_overloaded_by_kind() {
    let fake = fake().await;
    fake.add_run("session_1", "run_1");
    // The first cancel hangs at the server, so the limit of 1 stays taken.
    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_secs(30)),
        Times::Once,
    );
    let client = client(&fake);
    let shed = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1)
        .service(client.cancel_service());
    let busy = shed.clone();
    let first = tokio::spawn(async move {
        cancel_and_wait(
            busy,
            client.get_run_service(),
            "session_1",
            "run_1",
            WaitOptions::new(),
        )
        .await
    });
    // Wait until the first call is at the server.
    for _ in 0..200 {
        if fake.request_count(Route::CancelRun) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.request_count(Route::CancelRun), 1);
    let client2 = Client::builder()
        .base_url(fake.base_url())
        .credentials(Credentials::tenant_token(TOKEN))
        .build()
        .unwrap();
    let err = tokio::spawn(async move {
        cancel_and_wait(
            shed,
            client2.get_run_service(),
            "session_1",
            "run_1",
            WaitOptions::new(),
        )
        .await
    })
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overloaded, "{err}");
    assert!(err.is_overloaded());
    assert!(!err.is_retryable(), "a shed call is the caller's to retry");
    // Shed before it was sent.
    assert_eq!(fake.request_count(Route::CancelRun), 1);
    first.abort();
}

/// `max_attempts` and `retry(config)` give the same client in either order.
#[tokio::test]
async fn builder_settings_do_not_depend_on_order() {
    let fake = fake().await;
    fake.add_run("session_1", "run_1");
    let quick = RetryConfig::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(2));
    let orders = [
        Client::builder().max_attempts(1).retry(quick.clone()),
        Client::builder().retry(quick.clone()).max_attempts(1),
    ];
    for builder in orders {
        let client = builder
            .base_url(fake.base_url())
            .credentials(Credentials::tenant_token(TOKEN))
            .build()
            .unwrap();
        let before = fake.request_count(Route::CancelRun);
        fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Once);
        let err = client.cancel_run("session_1", "run_1").await.unwrap_err();
        assert_eq!(err.attempts(), Some(1), "{err}");
        assert_eq!(fake.request_count(Route::CancelRun) - before, 1);
    }
    // And the config alone makes its 3 attempts.
    let client = Client::builder()
        .retry(quick)
        .base_url(fake.base_url())
        .credentials(Credentials::tenant_token(TOKEN))
        .build()
        .unwrap();
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::N(3));
    let err = client.cancel_run("session_1", "run_1").await.unwrap_err();
    assert_eq!(err.attempts(), Some(3), "{err}");
}
