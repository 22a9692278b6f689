//! The conversation helper over real TCP to FakeAily: `ask`, `ask_stream`,
//! `RunHandle`, and cancel on drop (each dropped owner leads to exactly one cancel;
//! `detach` to none; a burst of 1,000 drops to 1,000 cancels, at most the configured
//! number at once, with no task left after `shutdown`).
#![cfg(feature = "testing")]

use std::pin::pin;
use std::time::Duration;

use aily_client::ask::AskEvent;
use aily_client::runs::CreateRunRequest;
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, Credentials, ErrorKind, RunStatus, TimeoutKind, WaitOptions};
use futures_util::StreamExt;

const TOKEN: &str = "t-ask";
const APP: &str = "spring_ask__c";

async fn fake() -> FakeAily {
    let fake = FakeAily::start().await.unwrap();
    fake.add_tenant_token(TOKEN);
    fake
}

fn client(fake: &FakeAily) -> Client {
    Client::builder()
        .base_url(fake.base_url())
        .credentials(Credentials::tenant_token(TOKEN))
        .http2_prior_knowledge(true)
        .build()
        .unwrap()
}

fn quick_wait(timeout: Duration) -> WaitOptions {
    WaitOptions::new()
        .timeout(timeout)
        .interval(Duration::from_millis(20), Duration::from_millis(50))
}

/// Waits (up to 5 s) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done(), "the condition never held");
}

/// One cancel of `run`'s session reaches the fake within a second, and it ends
/// `CANCELLED`; then no second cancel comes.
async fn exactly_one_cancel(fake: &FakeAily, session: &str, run: &str) {
    let started = tokio::time::Instant::now();
    until(|| fake.request_count(Route::CancelRun) >= 1).await;
    assert!(
        started.elapsed() <= Duration::from_secs(1),
        "the cancel came within a second"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "exactly one cancel"
    );
    assert_eq!(fake.run_status(session, run).as_deref(), Some("CANCELLED"));
}

fn only_run(fake: &FakeAily, session: &str) -> String {
    let runs = fake.session_runs(session).unwrap_or_default();
    assert_eq!(runs.len(), 1, "one run in {session}");
    runs[0].id.clone()
}

#[tokio::test]
async fn ask_returns_the_assistants_answer() {
    let fake = fake().await;
    fake.set_run_schedule(Duration::from_millis(50), Duration::from_millis(200));
    let client = client(&fake);
    let answer = client
        .ask(APP)
        .text("what is aily")
        .wait(quick_wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.run.status, RunStatus::Completed);
    assert_eq!(answer.messages.len(), 1);
    assert!(answer.messages[0].is_from_assistant());
    assert_eq!(answer.text(), "This is the fake answer to: what is aily");
    assert_eq!(fake.request_count(Route::CreateSession), 1);
    assert_eq!(fake.request_count(Route::CreateMessage), 1);
    assert_eq!(fake.request_count(Route::CreateRun), 1);
    assert_eq!(
        fake.request_count(Route::CancelRun),
        0,
        "a finished run is not cancelled"
    );

    // The conversation goes on in the same session.
    let next = client
        .ask(APP)
        .session(&answer.session_id)
        .text("and then")
        .wait(quick_wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(next.session_id, answer.session_id);
    assert_eq!(next.text(), "This is the fake answer to: and then");
    assert_eq!(fake.request_count(Route::CreateSession), 1);
}

#[tokio::test]
async fn requires_message_returns_to_the_caller() {
    let fake = fake().await;
    fake.add_session("session_rm");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(30));
    let client = client(&fake);
    let ask = client
        .ask(APP)
        .session("session_rm")
        .text("book a room")
        .wait(quick_wait(Duration::from_secs(10)));
    let answer = tokio::spawn(ask.send());
    until(|| {
        fake.session_runs("session_rm")
            .is_some_and(|r| !r.is_empty())
    })
    .await;
    let run = only_run(&fake, "session_rm");
    assert!(fake.require_message("session_rm", &run));
    let answer = answer.await.unwrap().unwrap();
    assert_eq!(answer.run.status, RunStatus::RequiresMessage);
    assert_eq!(fake.request_count(Route::CancelRun), 0);
}

#[tokio::test]
async fn a_failed_run_is_a_typed_error_carrying_the_run() {
    let fake = fake().await;
    fake.add_session("session_f");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(30));
    let client = client(&fake);
    let ask = client
        .ask(APP)
        .session("session_f")
        .text("x")
        .wait(quick_wait(Duration::from_secs(10)));
    let answer = tokio::spawn(ask.send());
    until(|| {
        fake.session_runs("session_f")
            .is_some_and(|r| !r.is_empty())
    })
    .await;
    let run = only_run(&fake, "session_f");
    // Cancelled by someone else: the ask ends with the run, not an answer.
    client.cancel_run("session_f", &run).await.unwrap();
    let err = answer.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RunEnded, "{err}");
    assert_eq!(err.last_run().unwrap().status, RunStatus::Cancelled);
}

#[tokio::test]
async fn ask_stream_yields_growing_partials_then_the_final_answer() {
    let fake = fake().await;
    fake.set_run_schedule(Duration::from_millis(20), Duration::from_millis(800));
    let client = client(&fake);
    let question = "tell me a long story about tower layers and hyper";
    let events: Vec<_> = client
        .ask(APP)
        .text(question)
        .wait(quick_wait(Duration::from_secs(10)))
        .stream()
        .collect()
        .await;
    let events: Vec<AskEvent> = events.into_iter().map(Result::unwrap).collect();
    assert!(
        matches!(events.first(), Some(AskEvent::Started { .. })),
        "{events:?}"
    );
    let Some(AskEvent::Done(answer)) = events.last() else {
        panic!("the last event is Done: {events:?}");
    };
    let expected = format!("This is the fake answer to: {question}");
    assert_eq!(answer.text(), expected);
    let mut built = String::new();
    let mut deltas = 0;
    for event in &events[1..events.len() - 1] {
        match event {
            AskEvent::Delta { delta, .. } => {
                assert!(!delta.is_empty(), "no empty update");
                built.push_str(delta);
                deltas += 1;
            }
            other => panic!("only deltas between start and done: {other:?}"),
        }
    }
    assert_eq!(built, expected, "the deltas add up to the answer, in order");
    assert!(
        deltas >= 2,
        "the answer streamed in more than one piece ({deltas})"
    );
}

#[tokio::test]
async fn a_deadline_mid_run_is_a_wait_timeout_and_the_run_is_cancelled() {
    let fake = fake().await;
    fake.add_session("session_d");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(60));
    let client = client(&fake);
    let err = client
        .ask(APP)
        .session("session_d")
        .text("slow")
        .wait(quick_wait(Duration::from_millis(400)))
        .await
        .unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Wait), "{err}");
    assert_eq!(err.last_run().unwrap().status, RunStatus::InProgress);
    let run = only_run(&fake, "session_d");
    exactly_one_cancel(&fake, "session_d", &run).await;
    client.shutdown().await;
}

#[tokio::test]
async fn a_dropped_ask_future_cancels_its_run() {
    let fake = fake().await;
    fake.add_session("session_a");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(60));
    let client = client(&fake);
    let ask = client
        .ask(APP)
        .session("session_a")
        .text("q")
        .wait(quick_wait(Duration::from_secs(30)));
    let task = tokio::spawn(ask.send());
    until(|| {
        fake.session_runs("session_a")
            .is_some_and(|r| !r.is_empty())
    })
    .await;
    // Let the future see the run's reply, then drop it (as a server drops a handler).
    tokio::time::sleep(Duration::from_millis(100)).await;
    task.abort();
    let run = only_run(&fake, "session_a");
    exactly_one_cancel(&fake, "session_a", &run).await;
    client.shutdown().await;
    assert_eq!(client.background_cancels().succeeded, 1);
}

#[tokio::test]
async fn a_dropped_stream_cancels_its_run() {
    let fake = fake().await;
    fake.add_session("session_s");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(60));
    let client = client(&fake);
    {
        let mut stream = pin!(
            client
                .ask(APP)
                .session("session_s")
                .text("q")
                .wait(quick_wait(Duration::from_secs(30)))
                .stream()
        );
        // Read until the answer has started to grow, then drop the stream.
        loop {
            match stream.next().await.unwrap().unwrap() {
                AskEvent::Delta { .. } => break,
                AskEvent::Started { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let run = only_run(&fake, "session_s");
    exactly_one_cancel(&fake, "session_s", &run).await;
}

#[tokio::test]
async fn a_dropped_handle_cancels_and_a_detached_one_does_not() {
    let fake = fake().await;
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(60));
    fake.add_session("session_h");
    fake.add_session("session_k");
    let client = client(&fake);
    let handle = client
        .create_run_handle(CreateRunRequest::new("session_k", APP).unwrap())
        .await
        .unwrap();
    let kept = handle.detach();
    let handle = client
        .create_run_handle(CreateRunRequest::new("session_h", APP).unwrap())
        .await
        .unwrap();
    let run = handle.run_id().to_owned();
    drop(handle);
    exactly_one_cancel(&fake, "session_h", &run).await;
    assert_eq!(
        fake.run_status("session_k", &kept.id).as_deref(),
        Some("IN_PROGRESS")
    );

    // A handle whose wait saw the run end cancels nothing.
    fake.set_run_schedule(Duration::ZERO, Duration::from_millis(100));
    fake.add_session("session_w");
    let mut handle = client
        .create_run_handle(CreateRunRequest::new("session_w", APP).unwrap())
        .await
        .unwrap();
    let run = handle
        .wait(quick_wait(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    drop(handle);
    client.shutdown().await;
    assert_eq!(fake.request_count(Route::CancelRun), 1);
}

#[tokio::test]
async fn a_thousand_drops_make_a_thousand_cancels_at_most_sixteen_at_once() {
    const N: usize = 1000;
    const AT_ONCE: usize = 16;
    let fake = fake().await;
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(600));
    let client = Client::builder()
        .base_url(fake.base_url())
        .credentials(Credentials::tenant_token(TOKEN))
        .http2_prior_knowledge(true)
        .background_cancels(AT_ONCE, Duration::from_secs(30))
        .build()
        .unwrap();
    let mut handles = Vec::with_capacity(N);
    for i in 0..N {
        let session = format!("session_{i}");
        fake.add_session(&session);
        handles.push(
            client
                .create_run_handle(CreateRunRequest::new(&session, APP).unwrap())
                .await
                .unwrap(),
        );
    }
    let alive_before = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    // The first cancels hang at the server: the limit is what holds the rest back.
    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_millis(600)),
        Times::N(AT_ONCE),
    );
    drop(handles);
    until(|| fake.request_count(Route::CancelRun) >= AT_ONCE).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.request_count(Route::CancelRun),
        AT_ONCE,
        "no more than {AT_ONCE} cancels at once"
    );
    client.shutdown().await;
    let stats = client.background_cancels();
    assert_eq!(
        (stats.queued, stats.succeeded, stats.failed),
        (N as u64, N as u64, 0)
    );
    assert_eq!(stats.pending, 0);
    assert_eq!(fake.request_count(Route::CancelRun), N);
    for i in 0..N {
        let session = format!("session_{i}");
        let run = &fake.session_runs(&session).unwrap()[0];
        assert_eq!(run.status, RunStatus::Cancelled, "{session}");
    }
    let alive_after = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert!(
        alive_after <= alive_before,
        "no task left after shutdown ({alive_before} before, {alive_after} after)"
    );
}
