//! No message content — neither the question nor the answer — appears in any span
//! or event at any level while asking, streaming, and cancelling a dropped ask.
//!
//! It runs alone, under the binary's global subscriber at TRACE, so that every
//! callsite of the crate (and of the fake server, and of hyper/h2) is captured.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::WaitOptions;
use aily_client::testing::Route;
use futures_util::StreamExt;

const QUESTION: &str = "zebra-quartz-marmalade secret question";

#[tokio::test]
async fn no_message_content_in_spans_or_events() {
    let (_, capture) = crate::support::trace::alone();

    let fake = crate::support::fake_for("t-trace").await;
    fake.set_run_schedule(Duration::from_millis(20), Duration::from_millis(300));
    let client = crate::support::tenant_client(&fake, "t-trace", |b| b);
    let wait = WaitOptions::new()
        .timeout(Duration::from_secs(10))
        .interval(Duration::from_millis(20), Duration::from_millis(50));

    let answer = client
        .ask("spring_trace__c")
        .text(QUESTION)
        .wait(wait.clone())
        .await
        .unwrap();
    assert!(
        answer.text().contains(QUESTION),
        "the fake echoes the question"
    );
    let events: Vec<_> = client
        .ask("spring_trace__c")
        .text(QUESTION)
        .wait(wait.clone())
        .stream()
        .collect()
        .await;
    assert!(events.iter().all(Result::is_ok));
    // A dropped ask: its background cancel logs too.
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(60));
    let task = tokio::spawn(
        client
            .ask("spring_trace__c")
            .text(QUESTION)
            .wait(wait)
            .send(),
    );
    for _ in 0..300 {
        if fake.request_count(Route::CreateRun) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    task.abort();
    for _ in 0..300 {
        if client.background_cancels().succeeded >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.shutdown().await;
    assert_eq!(client.background_cancels().succeeded, 1);

    let captured = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        captured.contains("aily.message.create"),
        "spans were captured"
    );
    assert!(
        captured.contains("in the background"),
        "the background cancel was logged"
    );
    for secret in ["zebra", "quartz", "marmalade", "fake answer"] {
        assert!(
            !captured.contains(secret),
            "{secret:?} reached a span or event"
        );
    }
}
