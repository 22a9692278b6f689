//! Read a run, and cancel-then-wait, against the fake server on tokio's paused clock.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, ErrorKind, RunStatus, TimeoutKind, WaitOptions};
use tokio::time::Instant;

use crate::support;

const TOKEN: &str = "t-wait-token";

async fn setup(status: &str, cancel_delay: Duration) -> (FakeAily, Client) {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run_with_status("s", "r", status);
    fake.set_cancel_delay(cancel_delay);
    let client = support::tenant_client(&fake, TOKEN, |b| b);
    (fake, client)
}

#[tokio::test(start_paused = true)]
async fn get_run_reads_the_current_status() {
    let (fake, client) = setup("IN_PROGRESS", Duration::ZERO).await;
    let reply = client.get_run("s", "r").await.unwrap();
    assert_eq!(reply.run.status, RunStatus::InProgress);
    assert!(reply.log_id().is_some());
    let req = &fake.requests()[0];
    assert_eq!(req.route, Route::GetRun);
    assert_eq!(req.method, http::Method::GET);
    assert_eq!(req.path, "/open-apis/aily/v1/sessions/s/runs/r");
    assert!(req.body.is_empty());
    // Same validation as cancel, nothing sent.
    assert_eq!(
        client.get_run("s", "..").await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let err = client.get_run("s", "missing").await.unwrap_err();
    assert_eq!(err.code(), Some(2700001));
    assert_eq!(fake.request_count(Route::GetRun), 2);
}

#[tokio::test(start_paused = true)]
async fn an_immediate_cancellation_needs_no_read() {
    let (fake, client) = setup("IN_PROGRESS", Duration::ZERO).await;
    let started = Instant::now();
    let done = client
        .cancel_and_wait("s", "r", WaitOptions::new())
        .await
        .unwrap();
    assert_eq!(done.run.status, RunStatus::Cancelled);
    assert_eq!(fake.request_count(Route::CancelRun), 1);
    assert_eq!(fake.request_count(Route::GetRun), 0);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_delayed_cancellation_is_read_until_cancelled_with_growing_intervals() {
    // The run turns CANCELLED 1 s after the cancel; reads at 0.25 s, 0.75 s (+0.5),
    // 1.75 s (+1): the third sees CANCELLED.
    let (fake, client) = setup("IN_PROGRESS", Duration::from_secs(1)).await;
    let started = Instant::now();
    let done = client
        .cancel_and_wait("s", "r", WaitOptions::new())
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(done.run.status, RunStatus::Cancelled);
    assert_eq!(fake.request_count(Route::CancelRun), 1);
    assert_eq!(fake.request_count(Route::GetRun), 3);
    assert!(
        took >= Duration::from_millis(1750) && took < Duration::from_millis(1800),
        "reads spaced 250, 500, 1000 ms: {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_interval_is_capped() {
    // 10 s of delay with reads 250 ms doubling to a 2 s cap:
    // 0.25, 0.75, 1.75, 3.75, 5.75, 7.75, 9.75, 11.75 -> 8 reads.
    let (fake, client) = setup("IN_PROGRESS", Duration::from_secs(10)).await;
    let started = Instant::now();
    client
        .cancel_and_wait("s", "r", WaitOptions::new())
        .await
        .unwrap();
    assert_eq!(fake.request_count(Route::GetRun), 8);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(11750) && took < Duration::from_millis(11800));
}

#[tokio::test(start_paused = true)]
async fn a_run_that_never_finishes_times_out_at_the_deadline_with_the_last_run() {
    let (fake, client) = setup("IN_PROGRESS", Duration::from_secs(3600)).await;
    let started = Instant::now();
    let err = client
        .cancel_and_wait("s", "r", WaitOptions::new().timeout(Duration::from_secs(5)))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Wait));
    assert_eq!(err.last_run().unwrap().status, RunStatus::InProgress);
    assert!(err.log_id().is_some(), "the last read's log id");
    assert!(err.to_string().contains("IN_PROGRESS"), "{err}");
    assert_eq!(took, Duration::from_secs(5), "at the deadline, not later");
    // 0.25, 0.75, 1.75, 3.75; the next (5.75) would be past the deadline.
    assert_eq!(fake.request_count(Route::GetRun), 4);
}

#[tokio::test(start_paused = true)]
async fn a_slow_read_is_cut_at_the_deadline() {
    let (fake, client) = setup("IN_PROGRESS", Duration::from_secs(3600)).await;
    fake.push_fault(
        Route::GetRun,
        Fault::DelayHeaders(Duration::from_secs(8)),
        Times::Always,
    );
    let started = Instant::now();
    let err = client
        .cancel_and_wait("s", "r", WaitOptions::new().timeout(Duration::from_secs(3)))
        .await
        .unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Wait));
    assert_eq!(err.last_run().unwrap().status, RunStatus::InProgress);
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_transient_503_during_the_reads_is_retried_by_the_stack() {
    let (fake, client) = setup("IN_PROGRESS", Duration::from_secs(1)).await;
    fake.push_fault(Route::GetRun, Fault::Status(503), Times::Once);
    let done = client
        .cancel_and_wait("s", "r", WaitOptions::new())
        .await
        .unwrap();
    assert_eq!(done.run.status, RunStatus::Cancelled);
    // The wait loop made 3 reads, as without the fault; the stack sent one more.
    assert_eq!(fake.request_count(Route::GetRun), 4);
}

#[tokio::test(start_paused = true)]
async fn a_failed_read_is_returned_not_retried_by_the_loop() {
    let (fake, client) = setup("IN_PROGRESS", Duration::from_secs(1)).await;
    fake.push_fault(
        Route::GetRun,
        Fault::api_error(400, 99991672, "no permission to read runs"),
        Times::Always,
    );
    let err = client
        .cancel_and_wait("s", "r", WaitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(99991672));
    assert_eq!(fake.request_count(Route::GetRun), 1);
}

#[tokio::test(start_paused = true)]
async fn requires_message_and_unknown_statuses_are_waited_on() {
    // REQUIRES_MESSAGE: the cancel takes effect after the delay.
    let (fake, client) = setup("REQUIRES_MESSAGE", Duration::from_millis(600)).await;
    let done = client
        .cancel_and_wait("s", "r", WaitOptions::new())
        .await
        .unwrap();
    assert_eq!(done.run.status, RunStatus::Cancelled);
    assert_eq!(fake.request_count(Route::GetRun), 2);

    // A status this version does not know never counts as final.
    let (fake, client) = setup("PAUSED", Duration::ZERO).await;
    let err = client
        .cancel_and_wait("s", "r", WaitOptions::new().timeout(Duration::from_secs(2)))
        .await
        .unwrap_err();
    assert_eq!(
        err.last_run().unwrap().status,
        RunStatus::Unknown("PAUSED".into())
    );
    assert!(fake.request_count(Route::GetRun) >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_run_that_completes_instead_is_returned_as_it_is() {
    let (fake, client) = setup("COMPLETED", Duration::ZERO).await;
    let done = client
        .cancel_and_wait("s", "r", WaitOptions::new())
        .await
        .unwrap();
    assert_eq!(done.run.status, RunStatus::Completed);
    assert_eq!(fake.request_count(Route::GetRun), 0);
}
