//! Tests of FakeAily's route table over real TCP with a bare hyper client:
//! auth and faults on every route, lost replies after the server acted,
//! scripted replies for routes the fake does not know, and the responses
//! recorded in the request log.

use crate::wire::*;
use aily_fake::{FakeAily, Fault, Route, ScriptedReply, Times};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

/// Every Aily route, and the scripted one, with a request that succeeds
/// against [`fixture`].
fn every_route() -> Vec<(Route, Method, String, Option<Value>)> {
    let s = format!("{SESSIONS}/session_1");
    vec![
        (
            Route::CreateSession,
            Method::POST,
            SESSIONS.to_owned(),
            Some(json!({})),
        ),
        (Route::GetSession, Method::GET, s.clone(), None),
        (
            Route::UpdateSession,
            Method::PUT,
            s.clone(),
            Some(json!({"metadata": "{}"})),
        ),
        (
            Route::CreateMessage,
            Method::POST,
            format!("{s}/messages"),
            Some(json!({"idempotent_id": "i", "content_type": "TEXT", "content": "x"})),
        ),
        (
            Route::GetMessage,
            Method::GET,
            format!("{s}/messages/message_1"),
            None,
        ),
        (
            Route::ListMessages,
            Method::GET,
            format!("{s}/messages"),
            None,
        ),
        (Route::ListRuns, Method::GET, format!("{s}/runs"), None),
        (Route::GetRun, Method::GET, format!("{s}/runs/run_1"), None),
        (
            Route::CancelRun,
            Method::POST,
            format!("{s}/runs/run_1/cancel"),
            None,
        ),
        (
            Route::CreateRun,
            Method::POST,
            format!("{SESSIONS}/session_2/runs"),
            Some(json!({"app_id": "spring_test__c"})),
        ),
        (Route::DeleteSession, Method::DELETE, s, None),
        (Route::Scripted, Method::GET, "/custom".to_owned(), None),
    ]
}

/// Sessions `session_1` (with run `run_1`, message `message_1`) and
/// `session_2` (empty); the scripted route `GET /custom`.
async fn fixture() -> FakeAily {
    let fake = fake_with_token().await;
    fake.add_run("session_1", "run_1");
    fake.set_accept_any_ids(true);
    // Creates message_1 on first use, then stops accepting unknown ids.
    let path = format!("{SESSIONS}/session_1/messages/message_1");
    call(&fake, Method::GET, &path, None).await.data();
    fake.set_accept_any_ids(false);
    fake.add_session("session_2");
    fake.route(
        Method::GET,
        "/custom",
        ScriptedReply::ok(json!({"ok": true})),
    );
    fake.clear_requests();
    fake
}

#[tokio::test]
async fn every_route_is_classified_and_served() {
    bounded(async {
        let fake = fixture().await;
        for (route, method, path, body) in every_route() {
            let reply = call(&fake, method.clone(), &path, body).await;
            reply.data();
            let recorded = fake.requests().pop().expect("recorded");
            assert_eq!(recorded.route, route, "{method} {path}");
            assert_eq!(fake.request_count(route), 1, "{route:?}");
        }
        assert_eq!(fake.request_count(Route::Any), every_route().len());
    })
    .await;
}

#[tokio::test]
async fn every_route_checks_the_token_first() {
    bounded(async {
        let fake = fixture().await;
        for (route, method, path, body) in every_route() {
            let text = body.map(|b| b.to_string()).unwrap_or_default();
            for (token, code) in [
                (None, 99991661),
                (Some("t-unknown"), 99991663),
                (Some("x"), 99991671),
            ] {
                let req = request(&fake, method.clone(), &path, token, &text);
                send(&http1_client(), req).await.assert_error(400, code);
            }
            assert_eq!(fake.request_count(route), 3, "{route:?}");
        }
        // Nothing was changed by the refused calls.
        assert!(fake.has_session("session_1"));
        assert_eq!(fake.session_messages_json("session_1").unwrap().len(), 1);
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("IN_PROGRESS")
        );
    })
    .await;
}

#[tokio::test]
async fn faults_apply_on_every_route() {
    bounded(async {
        let fake = fixture().await;
        for (route, method, path, body) in every_route() {
            fake.push_fault(route, Fault::Status(503), Times::Once);
            fake.push_fault(route, Fault::rate_limited(2), Times::Once);
            let first = call(&fake, method.clone(), &path, body.clone()).await;
            first.assert_error(503, 503);
            let second = call(&fake, method.clone(), &path, body.clone()).await;
            second.assert_error(429, 99991400);
            assert_eq!(second.header("x-ogw-ratelimit-reset"), Some("2"));
            // Then the normal answer.
            call(&fake, method, &path, body).await.data();
            assert_eq!(fake.request_count(route), 3, "{route:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_and_invalid_ids_on_every_route() {
    bounded(async {
        let fake = fixture().await;
        for (_, method, path, body) in every_route() {
            if path == SESSIONS {
                continue;
            }
            for (from, to, field) in [
                ("session_1", "session_nope", "aily_session_id"),
                ("session_2", "session_nope", "aily_session_id"),
                ("session_1", "bad%zz", "aily_session_id"),
                ("session_1", "", "aily_session_id"),
                ("run_1", "run_nope", "run_id"),
                ("run_1", "run%0A", "run_id"),
                ("message_1", "message_nope", "aily_message_id"),
            ] {
                if !path.contains(from) {
                    continue;
                }
                let bad = path.replacen(from, to, 1);
                call(&fake, method.clone(), &bad, body.clone())
                    .await
                    .assert_param_error(field);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_lost_reply_after_the_server_acted() {
    bounded(async {
        let fake = fixture().await;
        let path = format!("{SESSIONS}/session_2/messages");
        let body = json!({"idempotent_id": "retry-1", "content_type": "TEXT", "content": "x"});
        fake.push_fault(Route::CreateMessage, Fault::ResetAfterHandling, Times::Once);
        let req = request(
            &fake,
            Method::POST,
            &path,
            Some("t-test"),
            &body.to_string(),
        );
        assert!(http1_client().request(req).await.is_err(), "no reply");
        // The message exists; a retry with the same idempotent_id finds it.
        let stored = fake.session_messages_json("session_2").unwrap();
        assert_eq!(stored.len(), 1);
        let retried = call(&fake, Method::POST, &path, Some(body)).await.data();
        assert_eq!(
            retried["message"]["id"],
            stored[0]["id"]
                .as_str()
                .expect("the stored message has an id")
        );
        assert_eq!(fake.session_messages_json("session_2").unwrap().len(), 1);

        // A run created before its reply was lost blocks a blind second one.
        fake.push_fault(Route::CreateRun, Fault::ResetAfterHandling, Times::Once);
        let runs = format!("{SESSIONS}/session_2/runs");
        let req = request(
            &fake,
            Method::POST,
            &runs,
            Some("t-test"),
            r#"{"app_id":"a"}"#,
        );
        assert!(http1_client().request(req).await.is_err(), "no reply");
        assert_eq!(fake.session_runs_json("session_2").unwrap().len(), 1);
        call(&fake, Method::POST, &runs, Some(json!({"app_id": "a"})))
            .await
            .assert_param_error("aily_session_id");
        let recorded = fake.requests();
        let lost: Vec<_> = recorded.iter().filter(|r| r.status.is_none()).collect();
        assert_eq!(
            lost.len(),
            2,
            "no response was recorded for the lost replies"
        );
        assert!(lost.iter().all(|r| r.log_id.is_none()));
    })
    .await;
}

#[tokio::test]
async fn scripted_replies() {
    bounded(async {
        let fake = fake_with_token().await;
        let skills = "/open-apis/aily/v1/apps/:app_id/skills";
        fake.route(
            Method::GET,
            skills,
            ScriptedReply::ok(json!({"skills": [{"id": "skill_1"}]})).with_header(
                HeaderName::from_static("x-extra"),
                HeaderValue::from_static("1"),
            ),
        );
        let path = "/open-apis/aily/v1/apps/spring_1/skills?page_size=5";
        let ok = call(&fake, Method::GET, path, None).await;
        assert_eq!(ok.data()["skills"][0]["id"], "skill_1");
        assert_eq!(ok.header("x-extra"), Some("1"));
        assert!(ok.header("x-tt-logid").is_some());
        // Another method or shape is not scripted.
        let other = call(&fake, Method::POST, path, None).await;
        other.assert_error(404, 404);
        call(&fake, Method::GET, "/open-apis/aily/v1/apps/skills", None)
            .await
            .assert_error(404, 404);

        // An error envelope with its code, the troubleshooter and the log id.
        fake.route(
            Method::GET,
            skills,
            ScriptedReply::error(400, 2700001, "param is invalid"),
        );
        let err = call(&fake, Method::GET, path, None).await;
        let json = err.assert_error(400, 2700001);
        assert_eq!(json["msg"], "param is invalid");

        // Raw JSON, exactly as given.
        fake.route(
            Method::POST,
            "/raw/{id}",
            ScriptedReply::json(201, json!({"anything": [1]})),
        );
        let raw = call(&fake, Method::POST, "/raw/7", Some(json!({}))).await;
        assert_eq!(raw.status, StatusCode::CREATED);
        assert_eq!(raw.json(), json!({"anything": [1]}));

        // Scripted routes come before built-in ones, and can be removed.
        fake.add_run("s", "r");
        fake.route(
            Method::GET,
            &get_path("s", "r"),
            ScriptedReply::error(500, 1, "scripted"),
        );
        get_run(&fake, "s", "r", "t-test")
            .await
            .assert_error(500, 1);
        fake.clear_routes();
        assert_eq!(
            get_run(&fake, "s", "r", "t-test").await.data()["run"]["id"],
            "r"
        );
        // Unscripted, list skills is the fake's own route again (no skills added).
        let built_in = call(&fake, Method::GET, path, None).await.data();
        assert_eq!(built_in["skills"], json!([]));
        assert_eq!(fake.request_count(Route::ListSkills), 1);
        assert_eq!(fake.request_count(Route::Scripted), 4);
        assert_eq!(fake.request_count(Route::Other), 2);
    })
    .await;
}

#[tokio::test]
async fn the_log_records_what_was_answered() {
    bounded(async {
        let fake = fixture().await;
        let ok = get_run(&fake, "session_1", "run_1", "t-test").await;
        fake.push_fault(Route::GetRun, Fault::Status(502), Times::Once);
        let faulted = get_run(&fake, "session_1", "run_1", "t-test").await;
        let refused = get_run(&fake, "session_1", "nope", "t-test").await;
        let scripted = call(&fake, Method::GET, "/custom", None).await;
        let replies = [&ok, &faulted, &refused, &scripted];
        let recorded = fake.requests();
        assert_eq!(recorded.len(), replies.len());
        for (request, reply) in recorded.iter().zip(replies) {
            assert_eq!(request.status, Some(reply.status));
            assert_eq!(request.log_id.as_deref(), Some(reply.log_id()));
        }
        let statuses: Vec<u16> = recorded
            .iter()
            .filter_map(|r| r.status)
            .map(|s| s.as_u16())
            .collect();
        assert_eq!(statuses, [200, 502, 400, 200]);
        let ids: std::collections::HashSet<_> = recorded.iter().map(|r| r.log_id.clone()).collect();
        assert_eq!(ids.len(), 4, "each reply has its own log id");
    })
    .await;
}
