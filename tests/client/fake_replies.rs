//! FakeAily's conversation endpoints over real TCP with a bare hyper client, their
//! replies read with the client's models: sessions, messages, runs and their
//! lifecycle, pagination, and the "accept any id" mode.

use std::collections::HashSet;
use std::time::Duration;

use crate::wire::*;
use aily_client::Run;
use aily_client::messages::{Message, MessageStatus, SenderType};
use aily_client::sessions::{Page, Session};
use aily_fake::{FakeAily, Fault, Route, Times};
use http::Method;
use serde_json::{Value, json};

fn session_path(session: &str) -> String {
    format!("{SESSIONS}/{session}")
}

fn messages_path(session: &str) -> String {
    format!("{SESSIONS}/{session}/messages")
}

fn runs_path(session: &str) -> String {
    format!("{SESSIONS}/{session}/runs")
}

async fn get(fake: &FakeAily, path: &str) -> Reply {
    call(fake, Method::GET, path, None).await
}

/// The messages of one list call, decoded.
async fn list_messages(fake: &FakeAily, session: &str, query: &str) -> Page<Message> {
    let data = get(fake, &format!("{}?{query}", messages_path(session)))
        .await
        .data();
    serde_json::from_value(data).expect("a page of messages")
}

// ---- sessions -------------------------------------------------------------

#[tokio::test]
async fn session_create_get_update_delete() {
    bounded(async {
        let fake = fake_with_token().await;
        let body = json!({"channel_context": "{\"channel\":\"web\"}", "metadata": "{\"k\":1}"});
        let created = call(&fake, Method::POST, SESSIONS, Some(body)).await.data();
        let session: Session = serde_json::from_value(created["session"].clone()).unwrap();
        assert!(session.id.starts_with("session_"), "{}", session.id);
        assert_eq!(session.metadata.as_deref(), Some("{\"k\":1}"));
        assert_eq!(
            session.channel_context_json().unwrap().unwrap()["channel"],
            "web"
        );
        let created_ms = session
            .created_at
            .as_ref()
            .and_then(|t| t.millis())
            .unwrap();
        assert!(created_ms > 1_600_000_000_000);
        assert!(
            created["session"]["created_at"].is_string(),
            "timestamps are strings"
        );
        assert!(fake.has_session(&session.id));

        let got = get(&fake, &session_path(&session.id)).await.data();
        assert_eq!(got, created);

        // PUT changes only what it sends.
        let updated = call(
            &fake,
            Method::PUT,
            &session_path(&session.id),
            Some(json!({"metadata": "{\"k\":2}"})),
        )
        .await
        .data();
        let updated: Session = serde_json::from_value(updated["session"].clone()).unwrap();
        assert_eq!(updated.metadata.as_deref(), Some("{\"k\":2}"));
        assert_eq!(updated.channel_context, session.channel_context);
        assert!(updated.modified_at.unwrap().millis() >= Some(created_ms));

        let deleted = call(&fake, Method::DELETE, &session_path(&session.id), None).await;
        assert_eq!(deleted.data(), json!({}));
        assert!(!fake.has_session(&session.id));
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            call(&fake, method, &session_path(&session.id), None)
                .await
                .assert_param_error("aily_session_id");
        }
    })
    .await;
}

#[tokio::test]
async fn session_bodies_are_checked() {
    bounded(async {
        let fake = fake_with_token().await;
        // No body, `null` and `{}` are all an empty create.
        for body in ["", "null", "{}"] {
            let req = request(&fake, Method::POST, SESSIONS, Some("t-test"), body);
            let data = send(&http1_client(), req).await.data();
            assert!(data["session"].get("metadata").is_none(), "{body:?}");
        }
        let req = request(&fake, Method::POST, SESSIONS, Some("t-test"), "[1]");
        send(&http1_client(), req).await.assert_error(400, 9499);
        let long = "x".repeat(256);
        for (body, field) in [
            (json!({"metadata": {"k": 1}}), "metadata"),
            (json!({"channel_context": 5}), "channel_context"),
            (json!({"metadata": long}), "metadata"),
        ] {
            let reply = call(&fake, Method::POST, SESSIONS, Some(body)).await;
            reply.assert_param_error(field);
        }
        let id = create_session(&fake).await;
        call(
            &fake,
            Method::PUT,
            &session_path(&id),
            Some(json!({"metadata": 1})),
        )
        .await
        .assert_param_error("metadata");
    })
    .await;
}

// ---- messages -------------------------------------------------------------

#[tokio::test]
async fn message_create_get_and_idempotent_retry() {
    bounded(async {
        let fake = fake_with_token().await;
        let session = create_session(&fake).await;
        let body = json!({
            "idempotent_id": "req-1", "content_type": "MDX", "content": "**hi**",
            "file_ids": ["file_1"],
            "mentions": [{"entity_id": "ou_2", "identity_provider": "FEISHU",
                          "key": "@_user_1", "name": "Ada"}],
        });
        let mut req = request(
            &fake,
            Method::POST,
            &messages_path(&session),
            Some("t-test"),
            &body.to_string(),
        );
        req.headers_mut()
            .insert("x-aily-bizuserid", http::HeaderValue::from_static("ou_1"));
        let first = send(&http1_client(), req).await.data();
        let message: Message = serde_json::from_value(first["message"].clone()).unwrap();
        assert!(message.id.starts_with("message_"));
        assert_eq!(message.session_id.as_deref(), Some(session.as_str()));
        assert_eq!(message.status, MessageStatus::Completed);
        assert_eq!(message.content.as_deref(), Some("**hi**"));
        let sender = message.sender.as_ref().unwrap();
        assert_eq!(sender.sender_type, SenderType::User);
        assert_eq!(sender.entity_id.as_deref(), Some("ou_1"));
        assert_eq!(message.mentions[0].key.as_deref(), Some("@_user_1"));
        let preview = message.files[0].preview_url.clone().unwrap();
        let created_ms = message
            .created_at
            .as_ref()
            .and_then(|t| t.millis())
            .unwrap();
        // Preview expiry is in seconds, an hour after the message.
        assert_eq!(preview.expired_at_secs(), Some(created_ms / 1000 + 3600));

        // The same idempotent_id, even with other content: the same message.
        let again = create_message(&fake, &session, "req-1", "different").await;
        assert_eq!(again, first["message"]);
        let other = create_message(&fake, &session, "req-2", "second").await;
        assert_ne!(other["id"], first["message"]["id"]);
        assert_eq!(fake.session_messages_json(&session).unwrap().len(), 2);

        let path = format!("{}/{}", messages_path(&session), message.id);
        assert_eq!(get(&fake, &path).await.data(), first);
        get(&fake, &format!("{}/message_nope", messages_path(&session)))
            .await
            .assert_param_error("aily_message_id");
        let valid = json!({"idempotent_id": "i", "content_type": "TEXT", "content": "x"});
        let violation = create_message_reply(&fake, "session_nope", valid).await;
        violation.assert_param_error("aily_session_id");
    })
    .await;
}

async fn create_message_reply(fake: &FakeAily, session: &str, body: Value) -> Reply {
    call(fake, Method::POST, &messages_path(session), Some(body)).await
}

#[tokio::test]
async fn message_bodies_are_checked() {
    bounded(async {
        let fake = fake_with_token().await;
        let session = create_session(&fake).await;
        let valid = json!({"idempotent_id": "i", "content_type": "TEXT", "content": "x"});
        let with = |field: &str, value: Value| {
            let mut body = valid.clone();
            body[field] = value;
            body
        };
        let without = |field: &str| {
            let mut body = valid.clone();
            body.as_object_mut().unwrap().remove(field);
            body
        };
        let too_many: Vec<Value> = (0..33).map(|i| json!(format!("file_{i}"))).collect();
        let cases = [
            (without("idempotent_id"), "idempotent_id"),
            (
                with("idempotent_id", json!("x".repeat(65))),
                "idempotent_id",
            ),
            (without("content_type"), "content_type"),
            (with("content_type", json!("VIDEO")), "content_type"),
            (without("content"), "content"),
            (with("content", json!("x".repeat(61_441))), "content"),
            (with("file_ids", Value::Array(too_many)), "file_ids"),
            (with("file_ids", json!([1])), "file_ids"),
            (with("mentions", json!(["ou_1"])), "mentions"),
            (
                with("quote_message_id", json!("message_nope")),
                "quote_message_id",
            ),
        ];
        for (body, field) in cases {
            create_message_reply(&fake, &session, body)
                .await
                .assert_param_error(field);
        }
        assert_eq!(fake.session_messages_json(&session).unwrap().len(), 0);
        // Every documented content type is accepted.
        for (i, kind) in ["MDX", "TEXT", "CLIP", "SmartCard", "JSON"]
            .iter()
            .enumerate()
        {
            let body = json!({"idempotent_id": format!("k{i}"), "content_type": kind,
                              "content": "{}"});
            assert_eq!(
                create_message_reply(&fake, &session, body).await.data()["message"]["content_type"],
                *kind
            );
        }
    })
    .await;
}

// ---- runs -----------------------------------------------------------------

/// Long steps, so that nothing but `advance` moves a run along.
const QUEUED: Duration = Duration::from_secs(600);
const WORKING: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn run_moves_through_its_schedule_and_writes_an_answer() {
    bounded_paused(async {
        let fake = fake_with_token().await;
        fake.set_run_schedule(QUEUED, WORKING);
        let session = create_session(&fake).await;
        let question = create_message(&fake, &session, "q1", "what is 6 x 7?").await;

        let run = create_run(&fake, &session).await;
        let run: Run = serde_json::from_value(run).unwrap();
        assert_eq!(run.status.as_str(), "QUEUED");
        assert_eq!(run.app_id.as_deref(), Some("spring_test__c"));
        assert!(run.started_at.is_none() && run.ended_at.is_none());
        let run_path = format!("{}/{}", runs_path(&session), run.id);

        // Queued: no answer, not even a partial one.
        let page = list_messages(&fake, &session, "with_partial_message=true").await;
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, question["id"]);
        assert_eq!(page.items[0].run_id.as_deref(), Some(run.id.as_str()));

        tokio::time::advance(QUEUED).await;
        let data = get(&fake, &run_path).await.data();
        assert_eq!(data["run"]["status"], "IN_PROGRESS");
        assert!(data["run"]["started_at"].is_string());

        // In progress: a partial answer that grows, shown only on request.
        let mut lengths = Vec::new();
        for _ in 0..3 {
            tokio::time::advance(WORKING / 4).await;
            let complete_only = list_messages(&fake, &session, "").await;
            assert_eq!(complete_only.items.len(), 1, "no partial without the flag");
            let page = list_messages(&fake, &session, "with_partial_message=true").await;
            assert_eq!(page.items.len(), 2);
            let answer = &page.items[1];
            assert!(answer.is_partial() && answer.is_from_assistant());
            assert_eq!(answer.run_id.as_deref(), Some(run.id.as_str()));
            lengths.push(
                answer
                    .content
                    .as_deref()
                    .unwrap_or_default()
                    .chars()
                    .count(),
            );
            // The same message by id, also in progress.
            let by_id = get(&fake, &format!("{}/{}", messages_path(&session), answer.id)).await;
            assert_eq!(by_id.data()["message"]["status"], "IN_PROGRESS");
        }
        assert!(lengths.windows(2).all(|w| w[0] < w[1]), "{lengths:?}");
        assert!(lengths[0] > 0);

        tokio::time::advance(WORKING / 4).await;
        let done: Run =
            serde_json::from_value(get(&fake, &run_path).await.data()["run"].clone()).unwrap();
        assert_eq!(done.status.as_str(), "COMPLETED");
        let (started, ended) = (done.started_at.unwrap(), done.ended_at.unwrap());
        assert_eq!(
            ended.millis().unwrap() - started.millis().unwrap(),
            WORKING.as_millis() as u64
        );
        let page = list_messages(&fake, &session, &format!("run_id={}", run.id)).await;
        assert_eq!(page.items.len(), 2);
        let answer = &page.items[1];
        assert_eq!(answer.status, MessageStatus::Completed);
        assert_eq!(
            answer.content.as_deref(),
            Some("This is the fake answer to: what is 6 x 7?")
        );
        assert!(lengths[2] < answer.content.as_deref().unwrap().chars().count());
    })
    .await;
}

#[tokio::test]
async fn one_active_run_per_session_and_metadata_is_echoed() {
    bounded(async {
        let fake = fake_with_token().await;
        fake.set_run_schedule(QUEUED, WORKING);
        let session = create_session(&fake).await;
        let body = json!({"app_id": "spring_test__c", "skill_id": "skill_1",
                          "skill_input": "{\"x\":1}", "metadata": "{\"request\":\"r-1\"}"});
        let first = call(&fake, Method::POST, &runs_path(&session), Some(body))
            .await
            .data();
        assert_eq!(first["run"]["metadata"], "{\"request\":\"r-1\"}");
        let id = first["run"]["id"].as_str().unwrap().to_owned();
        let second = call(
            &fake,
            Method::POST,
            &runs_path(&session),
            Some(json!({"app_id": "spring_test__c"})),
        )
        .await;
        second.assert_param_error("aily_session_id");
        // Metadata comes back exactly as sent from get and list.
        let got = get(&fake, &format!("{}/{id}", runs_path(&session)))
            .await
            .data();
        assert_eq!(got["run"]["metadata"], "{\"request\":\"r-1\"}");
        let listed = get(&fake, &runs_path(&session)).await.data();
        assert_eq!(listed["runs"][0]["metadata"], "{\"request\":\"r-1\"}");
        assert_eq!(listed["has_more"], false);
        // Cancelling frees the slot.
        let cancelled = call(&fake, Method::POST, &cancel_path(&session, &id), None).await;
        assert_eq!(cancelled.data()["run"]["status"], "CANCELLED");
        let third = create_run(&fake, &session).await;
        assert_eq!(third["status"], "QUEUED");
        assert_eq!(fake.session_runs_json(&session).unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn run_bodies_are_checked() {
    bounded(async {
        let fake = fake_with_token().await;
        let session = create_session(&fake).await;
        let cases = [
            (json!({}), "app_id"),
            (json!({"app_id": ""}), "app_id"),
            (json!({"app_id": 7}), "app_id"),
            (json!({"app_id": "a".repeat(65)}), "app_id"),
            (
                json!({"app_id": "a", "skill_id": "s".repeat(33)}),
                "skill_id",
            ),
            (json!({"app_id": "a", "skill_input": "{}"}), "skill_input"),
            (json!({"app_id": "a", "metadata": {"k": 1}}), "metadata"),
        ];
        for (body, field) in cases {
            call(&fake, Method::POST, &runs_path(&session), Some(body))
                .await
                .assert_param_error(field);
        }
        let req = request(
            &fake,
            Method::POST,
            &runs_path(&session),
            Some("t-test"),
            "\"x\"",
        );
        send(&http1_client(), req).await.assert_error(400, 9499);
        assert_eq!(fake.session_runs_json(&session).unwrap().len(), 0);
        call(
            &fake,
            Method::POST,
            &runs_path("session_nope"),
            Some(json!({"app_id": "a"})),
        )
        .await
        .assert_param_error("aily_session_id");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn requires_message_waits_for_the_next_message() {
    bounded_paused(async {
        let fake = fake_with_token().await;
        fake.set_run_schedule(Duration::ZERO, WORKING);
        let session = create_session(&fake).await;
        create_message(&fake, &session, "q1", "book a room").await;
        let run = create_run(&fake, &session).await;
        let run_id = run["id"].as_str().unwrap().to_owned();
        assert_eq!(run["status"], "IN_PROGRESS");
        let run_path = format!("{}/{run_id}", runs_path(&session));

        assert!(fake.require_message(&session, &run_id));
        tokio::time::advance(WORKING * 3).await;
        assert_eq!(
            get(&fake, &run_path).await.data()["run"]["status"],
            "REQUIRES_MESSAGE"
        );
        let page = list_messages(&fake, &session, "with_partial_message=true").await;
        assert_eq!(page.items.len(), 1, "no answer while waiting");

        let reply = create_message(&fake, &session, "q2", "for two").await;
        assert_eq!(
            reply["run_id"],
            run_id.as_str(),
            "the waiting run takes the message"
        );
        assert_eq!(
            get(&fake, &run_path).await.data()["run"]["status"],
            "IN_PROGRESS"
        );
        tokio::time::advance(WORKING).await;
        assert_eq!(
            fake.run_status(&session, &run_id).as_deref(),
            Some("COMPLETED")
        );
        let page = list_messages(&fake, &session, &format!("run_id={run_id}")).await;
        let texts: Vec<_> = page
            .items
            .iter()
            .map(|m| m.content.clone().unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "book a room",
                "for two",
                "This is the fake answer to: for two"
            ]
        );
        assert!(
            !fake.require_message(&session, &run_id),
            "a completed run stays completed"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancel_races_the_schedule() {
    bounded_paused(async {
        let fake = fake_with_token().await;
        fake.set_run_schedule(Duration::ZERO, WORKING);
        fake.set_cancel_delay(WORKING / 2);
        let session = create_session(&fake).await;
        let run = create_run(&fake, &session).await;
        let id = run["id"].as_str().unwrap().to_owned();
        let reply = call(&fake, Method::POST, &cancel_path(&session, &id), None).await;
        assert_eq!(
            reply.data()["run"]["status"],
            "IN_PROGRESS",
            "asynchronous cancel"
        );
        tokio::time::advance(WORKING / 2).await;
        assert_eq!(fake.run_status(&session, &id).as_deref(), Some("CANCELLED"));
        tokio::time::advance(WORKING).await;
        assert_eq!(fake.run_status(&session, &id).as_deref(), Some("CANCELLED"));
        let page = list_messages(&fake, &session, "with_partial_message=true").await;
        assert!(page.items.is_empty(), "a cancelled run leaves no answer");

        // A cancel due after the run completes finds it completed.
        fake.set_cancel_delay(WORKING * 2);
        let run = create_run(&fake, &session).await;
        let id = run["id"].as_str().unwrap().to_owned();
        call(&fake, Method::POST, &cancel_path(&session, &id), None)
            .await
            .data();
        tokio::time::advance(WORKING * 3).await;
        assert_eq!(fake.run_status(&session, &id).as_deref(), Some("COMPLETED"));
    })
    .await;
}

// ---- pagination -----------------------------------------------------------

#[tokio::test]
async fn three_pages_of_25_messages() {
    bounded(async {
        let fake = fake_with_token().await;
        let session = create_session(&fake).await;
        let added: Vec<String> = (0..75)
            .map(|i| fake.add_user_message(&session, &format!("m{i}")))
            .collect();
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        for _ in 0..10 {
            let query = match &token {
                Some(t) => format!("page_size=25&page_token={t}"),
                None => "page_size=25".to_owned(),
            };
            let page = list_messages(&fake, &session, &query).await;
            pages += 1;
            assert_eq!(page.items.len(), 25);
            seen.extend(page.items.iter().map(|m| m.id.clone()));
            match page.next_page_token() {
                Some(next) => token = Some(next.to_owned()),
                None => {
                    assert!(!page.has_more);
                    break;
                }
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, added, "every message once, in order");

        // The fake's cap wins over page_size; the default is 20.
        fake.set_max_page_size(10);
        assert_eq!(
            list_messages(&fake, &session, "page_size=25")
                .await
                .items
                .len(),
            10
        );
        fake.set_max_page_size(100);
        assert_eq!(list_messages(&fake, &session, "").await.items.len(), 20);

        for (query, field) in [
            ("page_size=0", "page_size"),
            ("page_size=abc", "page_size"),
            ("page_token=bogus", "page_token"),
            ("with_partial_message=yes", "with_partial_message"),
            ("run_id=run_nope", "run_id"),
        ] {
            get(&fake, &format!("{}?{query}", messages_path(&session)))
                .await
                .assert_param_error(field);
        }
        // The Python SDK's capital `True` is accepted.
        list_messages(&fake, &session, "with_partial_message=True").await;
    })
    .await;
}

#[tokio::test]
async fn runs_are_listed_in_pages() {
    bounded(async {
        let fake = fake_with_token().await;
        for i in 0..30 {
            fake.add_run_with_status("s", &format!("run_{i:02}"), "COMPLETED");
        }
        let first: Page<Run> =
            serde_json::from_value(get(&fake, &runs_path("s")).await.data()).unwrap();
        assert_eq!(first.items.len(), 20);
        let token = first.next_page_token().expect("more").to_owned();
        let second: Page<Run> = serde_json::from_value(
            get(&fake, &format!("{}?page_token={token}", runs_path("s")))
                .await
                .data(),
        )
        .unwrap();
        assert_eq!(second.items.len(), 10);
        assert_eq!(second.next_page_token(), None);
        let ids: Vec<_> = first
            .items
            .iter()
            .chain(&second.items)
            .map(|r| r.id.clone())
            .collect();
        let expected: Vec<_> = (0..30).map(|i| format!("run_{i:02}")).collect();
        assert_eq!(ids, expected);
    })
    .await;
}

#[tokio::test]
async fn a_repeating_page_token_can_be_scripted() {
    bounded(async {
        let fake = fake_with_token().await;
        let session = create_session(&fake).await;
        for i in 0..3 {
            fake.add_user_message(&session, &format!("m{i}"));
        }
        fake.push_fault(Route::ListMessages, Fault::RepeatPageToken, Times::Always);
        let mut tokens = Vec::new();
        let mut repeated = false;
        let mut query = "page_size=2".to_owned();
        for _ in 0..5 {
            let page = list_messages(&fake, &session, &query).await;
            let Some(token) = page.next_page_token().map(str::to_owned) else {
                break;
            };
            if tokens.contains(&token) {
                repeated = true;
                break;
            }
            query = format!("page_size=2&page_token={token}");
            tokens.push(token);
        }
        assert!(repeated, "the token came back: {tokens:?}");
        assert_eq!(tokens.len(), 1);
        // Without the fault, the same walk ends.
        fake.clear_faults();
        let last = list_messages(
            &fake,
            &session,
            &format!("page_size=2&page_token={}", tokens[0]),
        )
        .await;
        assert_eq!(last.items.len(), 1);
        assert_eq!(last.next_page_token(), None);
    })
    .await;
}

// ---- accept any id ----------------------------------------------------------

#[tokio::test]
async fn accept_any_ids_creates_what_it_is_asked_for() {
    bounded(async {
        let fake = fake_with_token().await;
        let run_path = format!("{}/run_y", runs_path("session_x"));
        get(&fake, &run_path)
            .await
            .assert_param_error("aily_session_id");

        fake.set_accept_any_ids(true);
        assert_eq!(
            get(&fake, &run_path).await.data()["run"]["status"],
            "IN_PROGRESS"
        );
        assert!(fake.has_session("session_x"));
        let cancelled = call(
            &fake,
            Method::POST,
            &cancel_path("session_x", "run_z"),
            None,
        )
        .await;
        assert_eq!(cancelled.data()["run"]["status"], "CANCELLED");
        let session = get(&fake, &session_path("session_new")).await.data();
        assert_eq!(session["session"]["id"], "session_new");
        let message = get(&fake, &format!("{}/message_m", messages_path("session_x"))).await;
        assert_eq!(message.data()["message"]["status"], "COMPLETED");
        let page = list_messages(&fake, "session_x", "run_id=run_w").await;
        assert!(page.items.is_empty());
        assert_eq!(
            fake.run_status("session_x", "run_w").as_deref(),
            Some("IN_PROGRESS")
        );
        let created = create_message(&fake, "session_other", "i1", "hello").await;
        assert_eq!(created["session_id"], "session_other");
        // Invalid ids are still refused.
        get(&fake, &format!("{}/run%zz", runs_path("session_x")))
            .await
            .assert_param_error("run_id");
        get(&fake, &session_path("ctl%0A"))
            .await
            .assert_param_error("aily_session_id");

        fake.set_accept_any_ids(false);
        get(&fake, &session_path("session_unseen"))
            .await
            .assert_param_error("aily_session_id");
        // What was created stays.
        assert_eq!(get(&fake, &run_path).await.data()["run"]["id"], "run_y");
    })
    .await;
}

#[tokio::test]
async fn deleting_a_session_removes_its_runs_and_messages() {
    bounded(async {
        let fake = fake_with_token().await;
        fake.add_run("session_1", "run_1");
        fake.add_user_message("session_1", "hi");
        call(&fake, Method::DELETE, &session_path("session_1"), None)
            .await
            .data();
        assert_eq!(fake.run_status("session_1", "run_1"), None);
        assert!(fake.session_messages_json("session_1").is_none());
        get_run(&fake, "session_1", "run_1", "t-test")
            .await
            .assert_param_error("aily_session_id");
        let ids: HashSet<_> = fake.requests().iter().map(|r| r.log_id.clone()).collect();
        assert_eq!(ids.len(), 2, "two requests, two log ids");
    })
    .await;
}
