//! The spans of every conversation endpoint, recorded by a real `tracing`
//! subscriber at TRACE: operation names, the attempt span's `url.template`,
//! the IDs — and no message content or body in any span or event.
//!
//! It runs alone under the binary's global subscriber, so that every span of the
//! process (hyper's and h2's too) is recorded, and only this test's.
#![cfg(feature = "testing")]

use std::time::Duration;

use crate::support::trace::{SpanRec, field, recorder};
use crate::support::{OP_MESSAGE, Op, Opts, World, bounded, client_with, fake};
use aily_client::testing::FakeAily;

/// What the user wrote; the fake's answer repeats it.
const USER_TEXT: &str = "the private words of the user 4711";

/// Every endpoint once against `fake`, the delete last; the log id of each.
async fn call_every_endpoint(fake: &FakeAily, h2: bool) -> Vec<(Op, Option<String>)> {
    let world = World::seed(fake);
    fake.add_user_message(&world.session, USER_TEXT);
    let client = client_with(fake, |b| b.http2_prior_knowledge(h2));
    let mut order: Vec<Op> = Op::ALL
        .into_iter()
        .filter(|op| *op != Op::DeleteSession)
        .collect();
    order.push(Op::DeleteSession);
    let mut log_ids = Vec::new();
    for op in order {
        let log_id = op
            .call(&client, &world, Opts::default())
            .await
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
        log_ids.push((op, log_id));
    }
    log_ids
}

#[tokio::test]
async fn every_endpoint_has_its_spans_and_no_content_is_recorded() {
    crate::support::trace::alone();
    recorder();
    bounded(async {
        let http1 = fake().await;
        let h2 = fake().await;
        for fake in [&http1, &h2] {
            fake.set_run_schedule(Duration::ZERO, Duration::ZERO);
        }
        let calls = [
            (
                http1.addr().port(),
                call_every_endpoint(&http1, false).await,
            ),
            (h2.addr().port(), call_every_endpoint(&h2, true).await),
        ];
        // What crossed the wire: the users' messages and the fake's answers.
        let world = World::seed(&http1);
        let answer = format!("This is the fake answer to: {USER_TEXT}");
        // The content did cross the wire, so its absence below means something.
        let listed = h2
            .requests()
            .into_iter()
            .filter(|r| r.route == aily_client::testing::Route::CreateMessage)
            .count();
        assert_eq!(listed, 1);

        // Copied out, so that a failed assertion does not poison the recorder.
        let (spans, everything, trace_events) = {
            let store = recorder().0.lock().unwrap();
            let trace_events = store.events.iter().filter(|e| e.level == "TRACE").count();
            (store.spans.clone(), store.everything(), trace_events)
        };
        for (port, log_ids) in &calls {
            for (op, log_id) in log_ids {
                let (_, name, method, template) = op.spec();
                let attempt_name = format!("{method} {template}");
                // The operation spans of this op whose attempt went to this fake.
                let found: Vec<(&SpanRec, &SpanRec)> = spans
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.name == name)
                    .filter_map(|(i, op_span)| {
                        let attempt = spans.iter().find(|a| {
                            a.parent == Some(i)
                                && field(a, "server.port") == Some(port.to_string().as_str())
                        })?;
                        Some((op_span, attempt))
                    })
                    .collect();
                assert_eq!(found.len(), 1, "{op:?} on port {port}: one operation span");
                let (op_span, attempt) = found[0];
                assert_eq!(op_span.level, "INFO", "{op:?}");
                assert_eq!(field(op_span, "otel.name"), Some(name), "{op:?}");
                assert_eq!(field(op_span, "feishu.log_id"), log_id.as_deref(), "{op:?}");
                assert_eq!(field(op_span, "otel.status_code"), None, "{op:?}");
                if *op != Op::CreateSession {
                    assert_eq!(
                        field(op_span, "aily.session_id"),
                        Some(world.session.as_str()),
                        "{op:?}"
                    );
                }
                if matches!(op, Op::GetRun | Op::CancelRun) {
                    assert_eq!(field(op_span, "aily.run_id"), Some(world.run.as_str()));
                }
                if *op == Op::GetMessage {
                    assert!(
                        field(op_span, "aily.message_id")
                            .is_some_and(|m| m.starts_with("message_"))
                    );
                }
                assert_eq!(attempt.name, attempt_name, "{op:?}");
                assert_eq!(field(attempt, "url.template"), Some(template), "{op:?}");
                assert_eq!(
                    field(attempt, "http.request.method"),
                    Some(method),
                    "{op:?}"
                );
                assert_eq!(
                    field(attempt, "http.response.status_code"),
                    Some("200"),
                    "{op:?}"
                );
            }
        }

        assert!(
            everything.contains("aily.message.create"),
            "spans were recorded"
        );
        assert!(trace_events > 0, "TRACE events were recorded");
        assert!(
            h2.requests()
                .iter()
                .all(|r| r.version == http::Version::HTTP_2),
            "the second fake was called over HTTP/2"
        );
        for content in [
            USER_TEXT,
            answer.as_str(),
            OP_MESSAGE,
            "seeded message",
            "op-metadata-created",
            "op-metadata-updated",
        ] {
            assert!(
                !everything.contains(content),
                "{content:?} reached a span or an event"
            );
        }
    })
    .await;
}
