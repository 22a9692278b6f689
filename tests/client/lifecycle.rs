//! Every conversation endpoint through the crate's `Client`, over real TCP to
//! `FakeAily`: success, each error envelope, invalid input with nothing sent,
//! the retry class of each endpoint (a lost reply after the server acted), and
//! following pages with the streams.
#![cfg(feature = "testing")]

use std::time::Duration;

use crate::support::{APP, Class, Op, Opts, World, bounded, client, fake};
use aily_client::messages::{
    ContentType, CreateMessageRequest, ListMessagesRequest, MessageStatus, SenderType,
};
use aily_client::runs::{CreateRunRequest, ListRunsRequest};
use aily_client::sessions::{CreateSessionRequest, UpdateSessionRequest};
use aily_client::testing::{FakeAily, Fault, Route, ScriptedReply, Times};
use aily_client::{AilyRequest, Error, ErrorKind, RunStatus};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

/// The log id the fake sent with its last response.
fn last_log_id(fake: &FakeAily) -> Option<String> {
    fake.requests().last().and_then(|r| r.log_id.clone())
}

/// The JSON bodies of the requests for `route`, oldest first.
fn bodies(fake: &FakeAily, route: Route) -> Vec<Value> {
    fake.requests()
        .iter()
        .filter(|r| r.route == route)
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON body"))
        .collect()
}

/// Every item of `stream` until it ends, at most `max` (a stream that loops fails
/// the test instead of hanging it).
async fn drain<T>(
    stream: impl Stream<Item = Result<T, Error>>,
    max: usize,
) -> Vec<Result<T, Error>> {
    let items: Vec<_> = bounded(stream.take(max + 1).collect()).await;
    assert!(items.len() <= max, "the stream did not end");
    items
}

// ---- success --------------------------------------------------------------

#[tokio::test]
async fn a_whole_conversation_over_every_endpoint() {
    bounded(async {
        let fake = fake().await;
        fake.set_run_schedule(Duration::ZERO, Duration::ZERO);
        let client = client(&fake);

        let created = client
            .create_session(
                CreateSessionRequest::new()
                    .metadata(r#"{"ticket":"T-1"}"#)
                    .unwrap()
                    .channel_context(r#"{"channel":"web"}"#)
                    .unwrap(),
            )
            .await
            .unwrap();
        let session = created.session.id.clone();
        assert!(session.starts_with("session_"), "{session}");
        assert_eq!(
            created.session.metadata.as_deref(),
            Some(r#"{"ticket":"T-1"}"#)
        );
        assert_eq!(created.log_id(), last_log_id(&fake).as_deref());
        assert!(fake.has_session(&session));

        let got = client.get_session(&session).await.unwrap();
        assert_eq!(got.session, created.session);
        assert_eq!(got.log_id(), last_log_id(&fake).as_deref());

        let updated = client
            .update_session(
                UpdateSessionRequest::new(&session)
                    .unwrap()
                    .metadata(r#"{"ticket":"T-2"}"#)
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            updated.session.metadata.as_deref(),
            Some(r#"{"ticket":"T-2"}"#)
        );
        assert_eq!(
            updated.session.channel_context,
            created.session.channel_context
        );

        let request = CreateMessageRequest::new(&session, ContentType::Text, "What is 2+2?")
            .unwrap()
            .with_idempotent_id("life-msg-1")
            .unwrap();
        let posted = client.create_message(request).await.unwrap();
        let message = posted.into_data().message;
        assert!(message.id.starts_with("message_"), "{}", message.id);
        assert_eq!(message.content.as_deref(), Some("What is 2+2?"));
        assert_eq!(message.content_type, ContentType::Text);
        assert_eq!(
            message.sender.as_ref().map(|s| s.sender_type.clone()),
            Some(SenderType::User)
        );
        assert_eq!(
            bodies(&fake, Route::CreateMessage)[0]["idempotent_id"],
            "life-msg-1"
        );

        let got = client.get_message(&session, &message.id).await.unwrap();
        assert_eq!(got.message, message);

        let run = client
            .create_run(
                CreateRunRequest::new(&session, APP)
                    .unwrap()
                    .metadata(r#"{"request_id":"r-1"}"#)
                    .unwrap(),
            )
            .await
            .unwrap()
            .into_data()
            .run;
        assert!(run.id.starts_with("run_"), "{}", run.id);
        assert_eq!(run.app_id.as_deref(), Some(APP));
        assert_eq!(run.session_id.as_deref(), Some(session.as_str()));
        assert_eq!(bodies(&fake, Route::CreateRun)[0]["app_id"], APP);

        let got = client
            .get_run(&session, &run.id)
            .await
            .unwrap()
            .into_data()
            .run;
        assert_eq!(got.id, run.id);
        assert_eq!(
            got.status,
            RunStatus::Completed,
            "a zero schedule completes at once"
        );

        let runs = client
            .list_runs(ListRunsRequest::new(&session).unwrap())
            .await
            .unwrap();
        assert_eq!(runs.page.items.len(), 1);
        assert_eq!(
            runs.page.items[0].metadata.as_deref(),
            Some(r#"{"request_id":"r-1"}"#)
        );
        assert!(!runs.page.has_more);

        let answers = client
            .list_messages(
                ListMessagesRequest::new(&session)
                    .unwrap()
                    .run(&run.id)
                    .unwrap()
                    .partial(true),
            )
            .await
            .unwrap();
        let answer = answers
            .page
            .items
            .iter()
            .find(|m| {
                m.sender.as_ref().map(|s| s.sender_type.clone()) == Some(SenderType::Assistant)
            })
            .expect("the run's answer");
        assert_eq!(answer.run_id.as_deref(), Some(run.id.as_str()));
        assert_eq!(answer.status, MessageStatus::Completed);
        let recorded = fake.requests().last().unwrap().path.clone();
        assert!(
            recorded.contains(&format!("run_id={}", run.id)),
            "{recorded}"
        );
        assert!(recorded.contains("with_partial_message=true"), "{recorded}");

        // Cancelling a terminal run leaves it unchanged.
        let cancelled = client.cancel_run(&session, &run.id).await.unwrap();
        assert_eq!(cancelled.run.status, RunStatus::Completed);

        let deleted = client.delete_session(&session).await.unwrap();
        assert_eq!(deleted.log_id(), last_log_id(&fake).as_deref());
        assert!(!fake.has_session(&session));
        let gone = client.get_session(&session).await.unwrap_err();
        assert!(gone.is_invalid_param(), "{gone}");
    })
    .await;
}

// ---- error envelopes ------------------------------------------------------

#[tokio::test]
async fn every_error_envelope_maps_to_its_kind_code_status_and_log_id() {
    struct Case {
        fault: Fault,
        opts: Opts,
        kind: ErrorKind,
        status: u16,
        code: Option<i64>,
        /// A failure after which the request may have reached the server.
        ambiguous: bool,
    }
    let cases = || {
        [
            Case {
                fault: Fault::api_error(400, 2700001, "param is invalid"),
                opts: Opts::default(),
                kind: ErrorKind::Api,
                status: 400,
                code: Some(2700001),
                ambiguous: false,
            },
            Case {
                fault: Fault::TokenInvalid,
                opts: Opts::default(),
                kind: ErrorKind::Auth,
                status: 400,
                code: Some(99991663),
                ambiguous: false,
            },
            // A reset over the 20 s wait limit: not waited for.
            Case {
                fault: Fault::rate_limited(60),
                opts: Opts::default(),
                kind: ErrorKind::RateLimited,
                status: 429,
                code: Some(99991400),
                ambiguous: false,
            },
            Case {
                fault: Fault::Status(503),
                opts: Opts::attempts(1),
                kind: ErrorKind::Api,
                status: 503,
                code: Some(503),
                ambiguous: true,
            },
            Case {
                fault: Fault::NonJson { status: 502 },
                opts: Opts::attempts(1),
                kind: ErrorKind::Http,
                status: 502,
                code: None,
                ambiguous: true,
            },
        ]
    };
    bounded(async {
        for op in Op::ALL {
            for case in cases() {
                let fake = fake().await;
                let world = World::seed(&fake);
                fake.push_fault(op.route(), case.fault.clone(), Times::Once);
                let err = op
                    .call(&client(&fake), &world, case.opts)
                    .await
                    .expect_err("the fault is an error");
                let what = format!("{op:?} {:?}: {err}", case.fault);
                assert_eq!(err.kind(), case.kind, "{what}");
                assert_eq!(
                    err.status().map(|s| s.as_u16()),
                    Some(case.status),
                    "{what}"
                );
                assert_eq!(err.code(), case.code, "{what}");
                assert!(err.log_id().is_some(), "{what}");
                assert_eq!(
                    err.log_id().map(str::to_owned),
                    last_log_id(&fake),
                    "{what}"
                );
                assert_eq!(fake.request_count(op.route()), 1, "{what}");
                if case.kind == ErrorKind::RateLimited {
                    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)), "{what}");
                }
                let acted = case.ambiguous && op.class() == Class::CreateWithoutKey;
                assert_eq!(err.may_have_acted(), acted, "{what}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_sessions_get_the_fakes_own_2700001() {
    bounded(async {
        for op in Op::ALL.into_iter().filter(|op| *op != Op::CreateSession) {
            let fake = fake().await;
            let world = World {
                session: "session_nobody".into(),
                ..World::seed(&fake)
            };
            let err = op
                .call(&client(&fake), &world, Opts::default())
                .await
                .unwrap_err();
            assert!(err.is_invalid_param(), "{op:?}: {err}");
            assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{op:?}");
            assert_eq!(
                err.field_violations()[0].field.as_deref(),
                Some("aily_session_id"),
                "{op:?}"
            );
            assert_eq!(
                err.log_id().map(str::to_owned),
                last_log_id(&fake),
                "{op:?}"
            );
            assert_eq!(fake.request_count(op.route()), 1, "{op:?}: not retried");
        }
    })
    .await;
}

// ---- invalid input --------------------------------------------------------

#[tokio::test]
async fn invalid_ids_fail_before_anything_is_sent() {
    let long = "a".repeat(300);
    let bad_ids = [
        "",
        ".",
        "..",
        "has space",
        "tab\there",
        "new\nline",
        long.as_str(),
    ];
    bounded(async {
        let fake = fake().await;
        let client = client(&fake);
        let good = World::seed(&fake);
        fake.clear_requests();
        for op in Op::ALL.into_iter().filter(|op| *op != Op::CreateSession) {
            for bad in bad_ids {
                let mut worlds = vec![(
                    "aily_session_id",
                    World {
                        session: bad.into(),
                        ..good.clone()
                    },
                )];
                if op.has_second_id() {
                    let field = if op == Op::GetMessage {
                        "aily_message_id"
                    } else {
                        "run_id"
                    };
                    worlds.push((
                        field,
                        World {
                            run: bad.into(),
                            message: bad.into(),
                            ..good.clone()
                        },
                    ));
                }
                for (field, world) in worlds {
                    let err = op.call(&client, &world, Opts::default()).await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{op:?} {bad:?}: {err}");
                    assert!(err.to_string().contains(field), "{op:?} {bad:?}: {err}");
                }
            }
        }
        // The client's methods that take IDs fail the same way.
        let errors = [
            client.get_session("..").await.map(|_| ()),
            client.delete_session("").await.map(|_| ()),
            client.get_message("s", "a b").await.map(|_| ()),
            client.get_run("s", "..").await.map(|_| ()),
            client.cancel_run("", "r").await.map(|_| ()),
        ];
        for result in errors {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::InvalidInput);
        }
        assert_eq!(fake.request_count(Route::Any), 0, "nothing may be sent");
    })
    .await;
}

#[tokio::test]
async fn invalid_body_fields_fail_before_anything_is_sent() {
    let over_255 = format!("\"{}\"", "x".repeat(254));
    let s = "session_1";
    let cases: Vec<(&str, Result<(), Error>)> = vec![
        (
            "metadata",
            CreateSessionRequest::new().metadata("not json").map(drop),
        ),
        (
            "metadata",
            CreateSessionRequest::new()
                .metadata(over_255.clone())
                .map(drop),
        ),
        (
            "channel_context",
            CreateSessionRequest::new().channel_context("{").map(drop),
        ),
        (
            "metadata",
            UpdateSessionRequest::new(s)
                .and_then(|r| r.metadata("nope"))
                .map(drop),
        ),
        ("app_id", CreateRunRequest::new(s, "").map(drop)),
        ("app_id", CreateRunRequest::new(s, "a".repeat(65)).map(drop)),
        (
            "skill_id",
            CreateRunRequest::new(s, APP)
                .and_then(|r| r.skill("", None))
                .map(drop),
        ),
        (
            "skill_input",
            CreateRunRequest::new(s, APP)
                .and_then(|r| r.skill("skill_1", Some("not json")))
                .map(drop),
        ),
        (
            "metadata",
            CreateRunRequest::new(s, APP)
                .and_then(|r| r.metadata("["))
                .map(drop),
        ),
        (
            "metadata",
            CreateRunRequest::new(s, APP)
                .and_then(|r| r.metadata(over_255.clone()))
                .map(drop),
        ),
        (
            "page_size",
            ListMessagesRequest::new(s)
                .and_then(|r| r.page_size(0))
                .map(drop),
        ),
        (
            "page_size",
            ListRunsRequest::new(s)
                .and_then(|r| r.page_size(0))
                .map(drop),
        ),
        (
            "run_id",
            ListMessagesRequest::new(s)
                .and_then(|r| r.run(""))
                .map(drop),
        ),
        (
            "content",
            CreateMessageRequest::new(s, ContentType::Text, "x".repeat(61_441)).map(drop),
        ),
        (
            "idempotent_id",
            CreateMessageRequest::new(s, ContentType::Text, "hi")
                .and_then(|r| r.with_idempotent_id(""))
                .map(drop),
        ),
        (
            "idempotent_id",
            CreateMessageRequest::new(s, ContentType::Text, "hi")
                .and_then(|r| r.with_idempotent_id("i".repeat(65)))
                .map(drop),
        ),
    ];
    for (field, result) in cases {
        let err = result.expect_err(field);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{field}: {err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    // At the limits the same fields are accepted, and the fake takes them.
    bounded(async {
        let fake = fake().await;
        fake.add_session(s);
        let at_255 = format!("\"{}\"", "x".repeat(253));
        let request = CreateRunRequest::new(s, "a".repeat(64))
            .and_then(|r| r.metadata(at_255.clone()))
            .unwrap();
        let run = client(&fake).create_run(request).await.unwrap().data.run;
        assert_eq!(run.metadata.as_deref(), Some(at_255.as_str()));
        assert_eq!(
            fake.request_count(Route::Any),
            1,
            "only the valid request was sent"
        );
    })
    .await;
}

// ---- retry classes --------------------------------------------------------

#[tokio::test]
async fn each_endpoint_is_retried_after_a_503_or_a_reset_by_its_class() {
    bounded(async {
        for op in Op::ALL {
            for fault in [Fault::Status(503), Fault::ResetConnection] {
                let fake = fake().await;
                let world = World::seed(&fake);
                fake.push_fault(op.route(), fault.clone(), Times::Once);
                let result = op.call(&client(&fake), &world, Opts::default()).await;
                let what = format!("{op:?} {fault:?} ({:?})", op.class());
                if op.class().retried() {
                    result.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(fake.request_count(op.route()), 2, "{what}");
                } else {
                    let err = result.expect_err(&what);
                    assert_eq!(fake.request_count(op.route()), 1, "{what}: not sent again");
                    assert!(err.may_have_acted(), "{what}: {err}");
                    assert!(err.to_string().contains("may exist"), "{what}: {err}");
                    assert_eq!(err.attempts(), Some(1), "{what}");
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn creates_without_a_key_opt_back_in_and_are_always_retried_after_a_rate_limit() {
    bounded(async {
        for op in [Op::CreateSession, Op::CreateRun] {
            // with_idempotent(true): retried after a 503 like a read.
            let fake = fake().await;
            let world = World::seed(&fake);
            fake.push_fault(op.route(), Fault::Status(503), Times::Once);
            let opts = Opts {
                idempotent: Some(true),
                ..Opts::default()
            };
            op.call(&client(&fake), &world, opts).await.unwrap();
            assert_eq!(fake.request_count(op.route()), 2, "{op:?}");

            // A rate limit means the server did not act: retried after the wait.
            let limited = crate::support::fake().await;
            let world = World::seed(&limited);
            limited.push_fault(op.route(), Fault::rate_limited(1), Times::Once);
            op.call(&client(&limited), &world, Opts::default())
                .await
                .unwrap();
            assert_eq!(limited.request_count(op.route()), 2, "{op:?}");
        }
    })
    .await;
}

/// The faults after which the server has acted but the client has no reply.
fn lost_replies() -> [Fault; 2] {
    [Fault::StallBody, Fault::ResetAfterHandling]
}

const SHORT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn create_message_after_a_lost_reply_is_retried_with_the_same_idempotent_id() {
    bounded(async {
        for fault in lost_replies() {
            let fake = fake().await;
            fake.add_session("session_1");
            fake.push_fault(Route::CreateMessage, fault.clone(), Times::Once);
            let request = CreateMessageRequest::new("session_1", ContentType::Text, "only once")
                .unwrap()
                .with_attempt_timeout(SHORT);
            let key = request.idempotent_id().to_owned();
            let reply = client(&fake).create_message(request).await.unwrap();

            let sent = bodies(&fake, Route::CreateMessage);
            assert_eq!(sent.len(), 2, "{fault:?}: retried once");
            assert!(
                sent.iter().all(|b| b["idempotent_id"] == key.as_str()),
                "{sent:?}"
            );
            let held = fake.session_messages("session_1").unwrap();
            assert_eq!(held.len(), 1, "{fault:?}: no duplicate message");
            assert_eq!(held[0].id, reply.message.id);
            assert_eq!(held[0].content.as_deref(), Some("only once"));
        }
    })
    .await;
}

#[tokio::test]
async fn create_run_after_a_lost_reply_is_not_retried_and_says_the_run_may_exist() {
    bounded(async {
        for (fault, kind) in lost_replies()
            .into_iter()
            .zip([ErrorKind::Timeout, ErrorKind::Transport])
        {
            let fake = fake().await;
            // Runs end at once, so a second create would not be refused as "active".
            fake.set_run_schedule(Duration::ZERO, Duration::ZERO);
            fake.add_session("session_1");
            fake.push_fault(Route::CreateRun, fault.clone(), Times::Once);
            let request = CreateRunRequest::new("session_1", APP)
                .unwrap()
                .with_attempt_timeout(SHORT);
            let err = client(&fake).create_run(request).await.unwrap_err();
            assert_eq!(err.kind(), kind, "{fault:?}: {err}");
            assert!(err.may_have_acted(), "{fault:?}: {err}");
            assert!(err.to_string().contains("may exist"), "{fault:?}: {err}");
            assert_eq!(
                fake.request_count(Route::CreateRun),
                1,
                "{fault:?}: not sent again"
            );
            assert_eq!(
                fake.session_runs("session_1").unwrap().len(),
                1,
                "{fault:?}: it does exist"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn create_run_that_opts_in_is_retried_after_a_lost_reply_and_may_run_twice() {
    bounded(async {
        let fake = fake().await;
        fake.set_run_schedule(Duration::ZERO, Duration::ZERO);
        fake.add_session("session_1");
        fake.push_fault(Route::CreateRun, Fault::StallBody, Times::Once);
        let request = CreateRunRequest::new("session_1", APP)
            .unwrap()
            .with_attempt_timeout(SHORT)
            .with_idempotent(true);
        let run = client(&fake).create_run(request).await.unwrap().data.run;
        assert_eq!(fake.request_count(Route::CreateRun), 2);
        let runs = fake.session_runs("session_1").unwrap();
        assert_eq!(
            runs.len(),
            2,
            "what the default protects against: a second run"
        );
        assert_eq!(runs[1].id, run.id);
    })
    .await;
}

#[tokio::test]
async fn create_session_after_a_lost_reply_is_not_retried() {
    bounded(async {
        let fake = fake().await;
        fake.push_fault(Route::CreateSession, Fault::StallBody, Times::Once);
        let request = CreateSessionRequest::new().with_attempt_timeout(SHORT);
        let err = client(&fake).create_session(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(err.may_have_acted(), "{err}");
        assert!(err.to_string().contains("may exist"), "{err}");
        let log = fake.requests();
        assert_eq!(log.len(), 1, "not sent again");
        assert_eq!(
            log[0].status.map(|s| s.as_u16()),
            Some(200),
            "the server made it"
        );
    })
    .await;
}

// ---- pagination -----------------------------------------------------------

/// Walks `stream` to its end and checks it yielded the IDs `expected`, in order,
/// with `pages` list requests to `route`.
async fn assert_walks<T>(
    fake: &FakeAily,
    stream: impl Stream<Item = Result<T, Error>>,
    id: impl Fn(T) -> String,
    expected: &[String],
    (route, pages): (Route, usize),
) {
    let items = drain(stream, expected.len() * 2).await;
    let ids: Vec<String> = items.into_iter().map(|item| id(item.unwrap())).collect();
    assert_eq!(ids, expected);
    assert_eq!(fake.request_count(route), pages);
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert!(paths[1].contains("page_token=pt_25"), "{paths:?}");
    assert!(paths[2].contains("page_token=pt_50"), "{paths:?}");
}

#[tokio::test]
async fn messages_stream_walks_three_pages_of_25() {
    let fake = fake().await;
    fake.set_max_page_size(25);
    let expected: Vec<String> = (0..75)
        .map(|i| fake.add_user_message("session_1", &format!("m{i}")))
        .collect();
    // Asks for 100 a page; the server caps pages at 25.
    let request = ListMessagesRequest::new("session_1")
        .unwrap()
        .page_size(100)
        .unwrap();
    let stream = client(&fake).messages_stream(request);
    assert_walks(&fake, stream, |m| m.id, &expected, (Route::ListMessages, 3)).await;
}

#[tokio::test]
async fn runs_stream_walks_three_pages_of_25() {
    let fake = fake().await;
    fake.set_max_page_size(25);
    let expected: Vec<String> = (0..75).map(|i| format!("run_{i:02}")).collect();
    for id in &expected {
        fake.add_run_with_status("session_1", id, "COMPLETED");
    }
    let request = ListRunsRequest::new("session_1")
        .unwrap()
        .page_size(25)
        .unwrap();
    let stream = client(&fake).runs_stream(request);
    assert_walks(&fake, stream, |r| r.id, &expected, (Route::ListRuns, 3)).await;
}

#[tokio::test]
async fn a_repeated_page_token_ends_the_stream_with_an_error() {
    let fake = fake().await;
    fake.set_max_page_size(25);
    for i in 0..40 {
        fake.add_user_message("session_1", &format!("m{i}"));
    }
    fake.push_fault(Route::ListMessages, Fault::RepeatPageToken, Times::Always);
    let request = ListMessagesRequest::new("session_1")
        .unwrap()
        .page_size(25)
        .unwrap();
    let mut items = drain(client(&fake).messages_stream(request), 1000).await;
    let last = items
        .pop()
        .expect("an item")
        .expect_err("the stream ends with an error");
    assert_eq!(last.kind(), ErrorKind::Decode, "{last}");
    assert!(last.to_string().contains("repeated a page token"), "{last}");
    assert_eq!(items.len(), 25, "the first page, once");
    assert!(items.iter().all(Result::is_ok));
    assert_eq!(fake.request_count(Route::ListMessages), 2);
}

#[tokio::test]
async fn a_repeated_next_page_token_ends_the_stream_with_an_error() {
    let fake = fake().await;
    // Every page: one run, "more", and the same `next_page_token`.
    fake.route(
        http::Method::GET,
        "/open-apis/aily/v1/sessions/{id}/runs",
        ScriptedReply::ok(json!({
            "runs": [{"id": "run_a", "status": "COMPLETED"}],
            "has_more": true,
            "next_page_token": "same",
        })),
    );
    let request = ListRunsRequest::new("session_1").unwrap();
    let items = drain(client(&fake).runs_stream(request), 1000).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().id, "run_a");
    assert_eq!(items[1].as_ref().unwrap_err().kind(), ErrorKind::Decode);
    assert_eq!(fake.request_count(Route::Scripted), 2);
    assert!(fake.requests()[1].path.contains("page_token=same"));
}

#[tokio::test]
async fn an_error_on_a_later_page_ends_the_stream_after_the_pages_before_it() {
    let fake = fake().await;
    fake.set_max_page_size(25);
    for i in 0..30 {
        fake.add_run_with_status("session_1", &format!("run_{i:02}"), "COMPLETED");
    }
    // The first page is fine; the second fails (not retried: a 400).
    fake.push_fault(
        Route::ListRuns,
        Fault::DelayHeaders(Duration::ZERO),
        Times::Once,
    );
    fake.push_fault(
        Route::ListRuns,
        Fault::api_error(400, 2700001, "param is invalid"),
        Times::Once,
    );
    let items = drain(
        client(&fake).runs_stream(
            ListRunsRequest::new("session_1")
                .unwrap()
                .page_size(25)
                .unwrap(),
        ),
        100,
    )
    .await;
    assert_eq!(items.len(), 26, "25 runs, then the error");
    assert_eq!(items[25].as_ref().unwrap_err().code(), Some(2700001));
    assert_eq!(fake.request_count(Route::ListRuns), 2);
}
