//! Tests of `aily_fake::FakeAily` over real TCP, with bare hyper
//! clients (and raw sockets where the wire matters).

use std::sync::Arc;
use std::time::Duration;

use crate::wire::*;
use aily_fake::{FakeAily, Fault, Route, Times};
use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---- tokens ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn token_is_issued_reused_and_renewed() {
    bounded_paused(async {
        let fake = FakeAily::start().await.expect("start");
        fake.add_app("cli_a", "secret_a");

        let first = fetch_token(&fake, "cli_a", "secret_a").await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(
            first.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert!(first.header("x-tt-logid").is_some());
        let json = first.json();
        assert_eq!(json["code"], 0);
        assert_eq!(json["msg"], "ok");
        assert_eq!(json["expire"], 7200);
        assert!(json.get("data").is_none(), "not wrapped in data");
        let token = json["tenant_access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let hex = token.strip_prefix("t-").expect("t- prefix");
        assert!(hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));

        // Plenty of time left: the same token, with the remaining seconds.
        tokio::time::advance(Duration::from_secs(100)).await;
        let again = fetch_token(&fake, "cli_a", "secret_a").await.json();
        assert_eq!(again["tenant_access_token"], token.as_str());
        assert_eq!(again["expire"], 7100);

        // Less than 30 minutes left: a new token; the old one stays valid.
        tokio::time::advance(Duration::from_secs(5301)).await;
        let renewed = fetch_token(&fake, "cli_a", "secret_a").await.json();
        let new_token = renewed["tenant_access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        assert_ne!(new_token, token);
        assert_eq!(renewed["expire"], 7200);
        fake.add_run("s", "r");
        assert_eq!(
            get_run(&fake, "s", "r", &token).await.status,
            StatusCode::OK
        );
        assert_eq!(
            get_run(&fake, "s", "r", &new_token).await.status,
            StatusCode::OK
        );

        // The old token expires on its own schedule.
        tokio::time::advance(Duration::from_secs(1800)).await;
        get_run(&fake, "s", "r", &token)
            .await
            .assert_error(400, 99991663);
        assert_eq!(
            get_run(&fake, "s", "r", &new_token).await.status,
            StatusCode::OK
        );

        // A revoked current token is replaced at the next request.
        fake.revoke_token(&new_token);
        let fresh = fetch_token(&fake, "cli_a", "secret_a").await.json();
        assert_ne!(fresh["tenant_access_token"], new_token.as_str());
        assert_eq!(fake.request_count(Route::TenantToken), 4);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn token_ttl_is_configurable() {
    bounded_paused(async {
        let fake = FakeAily::start().await.expect("start");
        fake.add_app("cli_a", "secret_a");
        fake.set_token_ttl(Duration::from_secs(60));
        let json = fetch_token(&fake, "cli_a", "secret_a").await.json();
        assert_eq!(json["expire"], 60);
        let token = json["tenant_access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        // Under 30 minutes of validity: every request gets a new token.
        let next = fetch_token(&fake, "cli_a", "secret_a").await.json();
        assert_ne!(next["tenant_access_token"], token.as_str());
        fake.add_run("s", "r");
        tokio::time::advance(Duration::from_secs(61)).await;
        get_run(&fake, "s", "r", &token)
            .await
            .assert_error(400, 99991663);
    })
    .await;
}

#[tokio::test]
async fn token_endpoint_errors() {
    bounded(async {
        let fake = FakeAily::start().await.expect("start");
        fake.add_app("cli_a", "secret_a");

        let wrong = fetch_token(&fake, "cli_a", "nope").await;
        assert_eq!(wrong.assert_error(400, 10014)["msg"], "app secret invalid");
        let unknown = fetch_token(&fake, "cli_b", "secret_a").await;
        assert_eq!(unknown.assert_error(400, 10003)["msg"], "invalid param");

        for body in ["", "not json", "[1,2]", "{\"app_id\":"] {
            let req = request(&fake, Method::POST, TOKEN_PATH, None, body);
            let reply = send(&http1_client(), req).await;
            assert_eq!(reply.assert_error(400, 9499)["msg"], "Bad Request");
        }
        let req = request(&fake, Method::POST, TOKEN_PATH, None, "{}");
        send(&http1_client(), req).await.assert_error(400, 10003);

        // Only POST is the token route.
        let req = request(&fake, Method::GET, TOKEN_PATH, None, "");
        send(&http1_client(), req).await.assert_error(404, 404);
        assert_eq!(fake.request_count(Route::TenantToken), 7);
        assert_eq!(fake.request_count(Route::Other), 1);
    })
    .await;
}

// ---- auth --------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn auth_error_codes() {
    bounded_paused(async {
        let fake = fake_with_run().await;
        fake.add_user_token("u-user");
        fake.add_user_token_with_ttl("u-short", Duration::from_secs(10));
        fake.add_tenant_token_with_ttl("t-short", Duration::from_secs(10));
        let path = cancel_path("session_1", "run_1");
        let client = http1_client();

        let with_header = |value: Option<&str>| {
            let mut req = request(&fake, Method::POST, &path, None, "");
            if let Some(value) = value {
                req.headers_mut().insert(
                    "authorization",
                    http::HeaderValue::from_str(value).expect("header"),
                );
            }
            req
        };

        let cases: [(Option<&str>, i64); 8] = [
            (None, 99991661),
            (Some("Bearer "), 99991661),
            (Some("Bearer"), 99991661),
            (Some("Bearer abc"), 99991671),
            (Some("Basic dXNlcjpwYXNz"), 99991671),
            (Some("Bearer t-unknown"), 99991663),
            (Some("Bearer u-unknown"), 99991668),
            (Some("bearer x-y"), 99991671),
        ];
        for (value, code) in cases {
            let reply = send(&client, with_header(value)).await;
            reply.assert_error(400, code);
        }
        let missing = send(&client, with_header(None)).await.json();
        assert_eq!(
            missing["msg"],
            "Missing access token for authorization. Please make a request with token attached."
        );
        let format = send(&client, with_header(Some("Bearer abc"))).await.json();
        assert_eq!(format["msg"], "Invalid access token format.");
        let invalid = send(&client, with_header(Some("Bearer t-nope")))
            .await
            .json();
        assert_eq!(
            invalid["msg"],
            "Invalid access token for authorization. Please make a request with token attached."
        );

        // Valid user and short-lived tokens work on GET.
        for token in ["u-user", "u-short", "t-short"] {
            let reply = get_run(&fake, "session_1", "run_1", token).await;
            assert_eq!(reply.status, StatusCode::OK, "{token}");
        }
        // Expiry.
        tokio::time::advance(Duration::from_secs(10)).await;
        get_run(&fake, "session_1", "run_1", "u-short")
            .await
            .assert_error(400, 99991677);
        get_run(&fake, "session_1", "run_1", "t-short")
            .await
            .assert_error(400, 99991663);
        // Revocation.
        fake.revoke_token("u-user");
        get_run(&fake, "session_1", "run_1", "u-user")
            .await
            .assert_error(400, 99991668);
        fake.revoke_all_tokens();
        get_run(&fake, "session_1", "run_1", "t-test")
            .await
            .assert_error(400, 99991663);
        // Nothing was cancelled by the failed calls.
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("IN_PROGRESS")
        );
    })
    .await;
}

// ---- runs --------------------------------------------------------------------

#[tokio::test]
async fn cancel_turns_run_cancelled() {
    bounded(async {
        let fake = fake_with_run().await;
        let before = get_run(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(before.status, StatusCode::OK);
        assert_run_shape(
            &before.json()["data"]["run"],
            "session_1",
            "run_1",
            "IN_PROGRESS",
        );

        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        let json = reply.json();
        assert_eq!(json["code"], 0);
        assert_eq!(json["msg"], "success");
        assert_run_shape(&json["data"]["run"], "session_1", "run_1", "CANCELLED");
        assert!(json["data"]["run"].get("error").is_none());
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("CANCELLED")
        );
        let after = get_run(&fake, "session_1", "run_1", "t-test").await.json();
        assert_eq!(after["data"]["run"]["status"], "CANCELLED");
        assert_eq!(
            after["data"]["run"]["ended_at"],
            json["data"]["run"]["ended_at"]
        );
    })
    .await;
}

#[tokio::test]
async fn cancel_accepts_the_bodies_sdks_send() {
    bounded(async {
        let fake = FakeAily::start().await.expect("start");
        fake.add_tenant_token("t-test");
        let client = http1_client();
        let cases: [(&str, Option<&str>); 6] = [
            ("", None),
            ("", Some("application/json; charset=utf-8")),
            ("{}", Some("application/json")),
            ("{}", None),
            ("null", Some("application/json")),
            ("null", None),
        ];
        for (i, (body, content_type)) in cases.into_iter().enumerate() {
            let run = format!("run_{i}");
            fake.add_run("s", &run);
            let mut req = request(
                &fake,
                Method::POST,
                &cancel_path("s", &run),
                Some("t-test"),
                body,
            );
            if let Some(ct) = content_type {
                req.headers_mut()
                    .insert("content-type", http::HeaderValue::from_static(ct));
            }
            let reply = send(&client, req).await;
            assert_eq!(reply.status, StatusCode::OK, "{body:?} {content_type:?}");
            assert_eq!(reply.json()["data"]["run"]["status"], "CANCELLED");
        }
        // A body that is not JSON is a bad request; the run is untouched.
        fake.add_run("s", "kept");
        let req = request(
            &fake,
            Method::POST,
            &cancel_path("s", "kept"),
            Some("t-test"),
            "nope",
        );
        send(&client, req).await.assert_error(400, 9499);
        assert_eq!(fake.run_status("s", "kept").as_deref(), Some("IN_PROGRESS"));
    })
    .await;
}

#[tokio::test]
async fn cancel_of_each_status() {
    bounded(async {
        let fake = FakeAily::start().await.expect("start");
        fake.add_tenant_token("t-test");
        let cases = [
            ("QUEUED", "CANCELLED"),
            ("IN_PROGRESS", "CANCELLED"),
            ("REQUIRES_MESSAGE", "CANCELLED"),
            ("CANCELLED", "CANCELLED"),
            ("COMPLETED", "COMPLETED"),
            ("FAILED", "FAILED"),
            ("EXPIRED", "EXPIRED"),
            ("SOMETHING_NEW", "SOMETHING_NEW"),
        ];
        for (before, after) in cases {
            fake.add_run_with_status("s", before, before);
            let before_json = get_run(&fake, "s", before, "t-test").await.json();
            let reply = cancel(&fake, "s", before, "t-test").await;
            assert_eq!(reply.status, StatusCode::OK, "{before}");
            let json = reply.json();
            assert_eq!(json["code"], 0);
            let run = &json["data"]["run"];
            assert_eq!(run["status"], after, "{before}");
            assert_eq!(fake.run_status("s", before).as_deref(), Some(after));
            if before == after && before != "SOMETHING_NEW" {
                // Terminal runs come back unchanged, ended_at included.
                assert_eq!(run, &before_json["data"]["run"], "{before}");
            }
            if before == "FAILED" {
                assert_eq!(run["error"]["code"], "sp_ec_sm_900101");
                assert_eq!(run["error"]["message"], "技能不存在或已删除");
            } else {
                assert!(run.get("error").is_none());
            }
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_or_invalid_ids_are_param_errors() {
    bounded(async {
        let fake = fake_with_run().await;
        let client = http1_client();
        let cases = [
            ("nope", "run_1", "aily_session_id"),
            ("session_1", "nope", "run_id"),
            ("", "run_1", "aily_session_id"),
            ("session_1", "", "run_id"),
            ("bad%zz", "run_1", "aily_session_id"),
            ("session_1", "bad%FF", "run_id"),
            ("session_1", "trunc%4", "run_id"),
            ("session_1", "ctl%0A", "run_id"),
        ];
        for (session, run, field) in cases {
            for (method, path) in [
                (Method::POST, cancel_path(session, run)),
                (Method::GET, get_path(session, run)),
            ] {
                let req = request(&fake, method, &path, Some("t-test"), "");
                let reply = send(&client, req).await;
                let json = reply.assert_error(400, 2700001);
                assert_eq!(json["msg"], "param is invalid");
                let violations = json["error"]["field_violations"]
                    .as_array()
                    .expect("field_violations");
                assert_eq!(violations.len(), 1);
                assert_eq!(violations[0]["field"], field, "{path}");
                assert!(violations[0]["description"].is_string());
            }
        }
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("IN_PROGRESS")
        );
    })
    .await;
}

#[tokio::test]
async fn percent_encoded_ids() {
    bounded(async {
        let fake = FakeAily::start().await.expect("start");
        fake.add_tenant_token("t-test");
        fake.add_run("s 1/x", "run/会+%");
        let session = "s%201%2Fx";
        let run = "run%2F%E4%BC%9A+%25";
        let reply = cancel(&fake, session, run, "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
        let json = reply.json();
        assert_run_shape(&json["data"]["run"], "s 1/x", "run/会+%", "CANCELLED");
        assert_eq!(
            fake.run_status("s 1/x", "run/会+%").as_deref(),
            Some("CANCELLED")
        );
        // The log keeps the raw path; lower-case escapes decode too.
        let recorded = fake.requests().pop().expect("recorded");
        assert_eq!(recorded.path, cancel_path(session, run));
        let lower = get_run(&fake, "s%201%2fx", "run%2f%e4%bc%9a+%25", "t-test").await;
        assert_eq!(lower.status, StatusCode::OK);
        // An unencoded '/' changes the path shape: not a cancel at all.
        let req = request(
            &fake,
            Method::POST,
            &cancel_path("s%201/x", "r"),
            Some("t-test"),
            "",
        );
        send(&http1_client(), req).await.assert_error(404, 404);
    })
    .await;
}

#[tokio::test]
async fn other_routes_are_404() {
    bounded(async {
        let fake = fake_with_run().await;
        let client = http1_client();
        let cases = [
            (Method::GET, cancel_path("session_1", "run_1")),
            (Method::PUT, cancel_path("session_1", "run_1")),
            (Method::POST, get_path("session_1", "run_1")),
            (
                Method::POST,
                format!("{}/", cancel_path("session_1", "run_1")),
            ),
            (Method::GET, "/".to_owned()),
            // GET …/runs (list runs) and DELETE …/sessions/:id (delete
            // session) are served since issue 13; these shapes are not.
            (
                Method::DELETE,
                "/open-apis/aily/v1/sessions/session_1/runs".to_owned(),
            ),
            (
                Method::PATCH,
                "/open-apis/aily/v1/sessions/session_1".to_owned(),
            ),
        ];
        for (method, path) in &cases {
            let req = request(&fake, method.clone(), path, Some("t-test"), "");
            let reply = send(&client, req).await;
            let json = reply.assert_error(404, 404);
            assert_eq!(json["msg"], "404 page not found");
        }
        assert_eq!(fake.request_count(Route::Other), cases.len());
        assert!(fake.requests().iter().all(|r| r.route == Route::Other));
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("IN_PROGRESS")
        );
    })
    .await;
}

#[tokio::test]
async fn log_ids_are_unique() {
    bounded(async {
        let fake = fake_with_run().await;
        let mut ids = std::collections::HashSet::new();
        for _ in 0..50 {
            let reply = get_run(&fake, "session_1", "run_1", "t-test").await;
            let id = reply.log_id().to_owned();
            assert!((20..=40).contains(&id.len()), "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
            assert!(ids.insert(id));
        }
    })
    .await;
}

// ---- faults ------------------------------------------------------------------

#[tokio::test]
async fn fault_status() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Once);
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        let json = reply.assert_error(503, 503);
        assert_eq!(json["msg"], "Service Unavailable");
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("IN_PROGRESS")
        );
        // Out-of-range statuses become 500.
        fake.push_fault(Route::CancelRun, Fault::Status(42), Times::Once);
        cancel(&fake, "session_1", "run_1", "t-test")
            .await
            .assert_error(500, 500);
        // Used up: the next call is normal.
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn fault_api_error() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(
            Route::CancelRun,
            Fault::api_error(400, 99991672, "scope missing"),
            Times::Once,
        );
        fake.push_fault(
            Route::GetRun,
            Fault::ApiError {
                status: 500,
                code: 1234,
                msg: "internal".into(),
            },
            Times::Once,
        );
        let json = cancel(&fake, "session_1", "run_1", "t-test")
            .await
            .assert_error(400, 99991672);
        assert_eq!(json["msg"], "scope missing");
        let json = get_run(&fake, "session_1", "run_1", "t-test")
            .await
            .assert_error(500, 1234);
        assert_eq!(json["msg"], "internal");
    })
    .await;
}

#[tokio::test]
async fn fault_rate_limited() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::CancelRun, Fault::rate_limited(7), Times::Once);
        fake.push_fault(
            Route::CancelRun,
            Fault::RateLimited {
                status: 400,
                reset_secs: None,
            },
            Times::Once,
        );
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        let json = reply.assert_error(429, 99991400);
        assert_eq!(json["msg"], "request trigger frequency limit");
        assert_eq!(reply.header("x-ogw-ratelimit-limit"), Some("100"));
        assert_eq!(reply.header("x-ogw-ratelimit-reset"), Some("7"));

        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        reply.assert_error(400, 99991400);
        assert_eq!(reply.header("x-ogw-ratelimit-limit"), Some("100"));
        assert_eq!(reply.header("x-ogw-ratelimit-reset"), None);
    })
    .await;
}

#[tokio::test]
async fn fault_token_invalid() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::Any, Fault::TokenInvalid, Times::Once);
        cancel(&fake, "session_1", "run_1", "t-test")
            .await
            .assert_error(400, 99991663);
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("IN_PROGRESS")
        );
        // The token itself is still fine.
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn fault_delay_headers() {
    bounded(async {
        let fake = fake_with_run().await;
        let delay = Duration::from_millis(600);
        fake.push_fault(Route::CancelRun, Fault::DelayHeaders(delay), Times::N(2));

        // A client giving up earlier sees nothing.
        let req = request(
            &fake,
            Method::POST,
            &cancel_path("session_1", "run_1"),
            Some("t-test"),
            "",
        );
        let client = http1_client();
        let early = tokio::time::timeout(Duration::from_millis(100), client.request(req)).await;
        assert!(early.is_err(), "headers came before the delay");

        // A patient one gets the normal answer after the delay.
        let started = std::time::Instant::now();
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert!(started.elapsed() >= delay);
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["data"]["run"]["status"], "CANCELLED");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn fault_delay_headers_follows_the_paused_clock() {
    bounded_paused(async {
        let fake = fake_with_run().await;
        fake.push_fault(
            Route::GetRun,
            Fault::DelayHeaders(Duration::from_secs(3600)),
            Times::Once,
        );
        let started = tokio::time::Instant::now();
        let reply = get_run(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(started.elapsed() >= Duration::from_secs(3600));
    })
    .await;
}

#[tokio::test]
async fn fault_stall_body() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::CancelRun, Fault::StallBody, Times::Once);
        let req = request(
            &fake,
            Method::POST,
            &cancel_path("session_1", "run_1"),
            Some("t-test"),
            "",
        );
        let client = http1_client();
        let response = client.request(req).await.expect("headers arrive");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("x-tt-logid"));
        let length: usize = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("content-length");
        let mut body = response.into_body();
        let first = body
            .frame()
            .await
            .expect("a first frame")
            .expect("no error")
            .into_data()
            .expect("data");
        assert!(!first.is_empty() && first.len() < length);
        assert!(first.starts_with(b"{\"code\":0"));
        let rest = tokio::time::timeout(Duration::from_millis(500), body.frame()).await;
        assert!(rest.is_err(), "the body must stall, got {rest:?}");
        // The request itself was handled.
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("CANCELLED")
        );
    })
    .await;
}

#[tokio::test]
async fn fault_reset_connection() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::CancelRun, Fault::ResetConnection, Times::N(2));

        // A hyper client sees an error, not a response.
        let req = request(&fake, Method::POST, &cancel_path("session_1", "run_1"), Some("t-test"), "");
        let result = http1_client().request(req).await;
        assert!(result.is_err(), "{result:?}");

        // On the wire: a TCP RST, no bytes.
        let mut stream = TcpStream::connect(fake.addr()).await.expect("connect");
        let raw = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer t-test\r\ncontent-length: 0\r\n\r\n",
            cancel_path("session_1", "run_1"),
            fake.addr()
        );
        stream.write_all(raw.as_bytes()).await.expect("write");
        let mut buf = [0u8; 64];
        let read = stream.read(&mut buf).await;
        match read {
            Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset),
            Ok(n) => panic!("expected a reset, read {n} bytes"),
        }
        assert_eq!(fake.request_count(Route::CancelRun), 2);
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("IN_PROGRESS")
        );
        // Later connections are served normally.
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn fault_reset_connection_over_h2c() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::CancelRun, Fault::ResetConnection, Times::Once);
        let client = h2c_client();
        let req = request(
            &fake,
            Method::POST,
            &cancel_path("session_1", "run_1"),
            Some("t-test"),
            "",
        );
        assert!(client.request(req).await.is_err());
        let req = request(
            &fake,
            Method::POST,
            &cancel_path("session_1", "run_1"),
            Some("t-test"),
            "",
        );
        let reply = send(&client, req).await;
        assert_eq!(reply.version, Version::HTTP_2);
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn fault_malformed_json() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::CancelRun, Fault::MalformedJson, Times::Once);
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert!(reply.header("x-tt-logid").is_some());
        assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
        assert!(
            reply
                .body
                .starts_with(br#"{"code":0,"msg":"success","data":{"run":"#)
        );
    })
    .await;
}

#[tokio::test]
async fn fault_oversized_body_with_length() {
    bounded(async {
        let fake = fake_with_run().await;
        let bytes = 3 * 1024 * 1024 + 7;
        fake.push_fault(
            Route::CancelRun,
            Fault::OversizedBody {
                bytes,
                chunked: false,
            },
            Times::Once,
        );
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
        let length: usize = reply
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .expect("content-length");
        assert_eq!(length, reply.body.len());
        assert!(reply.body.len() >= bytes);
        assert_eq!(reply.json()["code"], 0);
    })
    .await;
}

#[tokio::test]
async fn fault_oversized_body_chunked() {
    bounded(async {
        let fake = fake_with_run().await;
        let bytes = 100_000;
        fake.push_fault(
            Route::CancelRun,
            Fault::OversizedBody {
                bytes,
                chunked: true,
            },
            Times::Once,
        );
        let req = request(
            &fake,
            Method::POST,
            &cancel_path("session_1", "run_1"),
            Some("t-test"),
            "",
        );
        let response = http1_client().request(req).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("content-length").is_none());
        assert_eq!(
            response
                .headers()
                .get("transfer-encoding")
                .and_then(|v| v.to_str().ok()),
            Some("chunked")
        );
        let mut body = response.into_body();
        let mut frames = 0;
        let mut data = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(chunk) = frame.expect("frame").into_data() {
                frames += 1;
                data.extend_from_slice(&chunk);
            }
        }
        assert!(frames >= 2, "{frames} frames");
        assert!(data.len() >= bytes);
        let json: Value = serde_json::from_slice(&data).expect("valid JSON");
        assert_eq!(json["code"], 0);
    })
    .await;
}

#[tokio::test]
async fn fault_wrong_field_types() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::CancelRun, Fault::WrongFieldTypes, Times::Once);
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
        let json = reply.json();
        assert_eq!(json["code"], 0);
        let run = &json["data"]["run"];
        assert!(run["id"].is_number());
        assert!(run["status"].is_number());
        assert!(run["created_at"].is_object());
        assert!(!run["metadata"].is_string());
    })
    .await;
}

#[tokio::test]
async fn fault_non_json() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(
            Route::CancelRun,
            Fault::NonJson { status: 502 },
            Times::Once,
        );
        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(reply.header("x-tt-logid").is_some());
        let text = String::from_utf8(reply.body.to_vec()).expect("utf-8");
        assert!(text.contains("<html>") && text.contains("502 Bad Gateway"));
        assert!(serde_json::from_str::<Value>(&text).is_err());
    })
    .await;
}

#[tokio::test]
async fn fault_rules_are_fifo_with_counts() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.add_app("cli_a", "secret_a");
        fake.push_fault(Route::CancelRun, Fault::Status(500), Times::N(2));
        fake.push_fault(Route::Any, Fault::Status(502), Times::Once);
        fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Always);

        let status = |reply: Reply| reply.status.as_u16();
        // The token route skips the cancel-only rules and takes the Any rule.
        assert_eq!(status(fetch_token(&fake, "cli_a", "secret_a").await), 502);
        assert_eq!(status(fetch_token(&fake, "cli_a", "secret_a").await), 200);
        // Cancels: two 500s, then the Always rule.
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(status(cancel(&fake, "session_1", "run_1", "t-test").await));
        }
        assert_eq!(seen, [500, 500, 503, 503]);
        assert_eq!(
            status(get_run(&fake, "session_1", "run_1", "t-test").await),
            200
        );
        fake.clear_faults();
        assert_eq!(
            status(cancel(&fake, "session_1", "run_1", "t-test").await),
            200
        );
        // N(0) never applies.
        fake.push_fault(Route::Any, Fault::Status(500), Times::N(0));
        assert_eq!(
            status(get_run(&fake, "session_1", "run_1", "t-test").await),
            200
        );
    })
    .await;
}

// ---- protocols -----------------------------------------------------------------

#[tokio::test]
async fn h2c_prior_knowledge() {
    bounded(async {
        let fake = fake_with_run().await;
        let client = h2c_client();
        // Concurrent streams on one connection.
        let mut handles = Vec::new();
        for i in 0..16 {
            let run = format!("run_{i}");
            fake.add_run("s", &run);
            let req = request(
                &fake,
                Method::POST,
                &cancel_path("s", &run),
                Some("t-test"),
                "",
            );
            let client = client.clone();
            handles.push(tokio::spawn(async move { send(&client, req).await }));
        }
        for handle in handles {
            let reply = handle.await.expect("task");
            assert_eq!(reply.version, Version::HTTP_2);
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.json()["data"]["run"]["status"], "CANCELLED");
            assert!(reply.header("x-tt-logid").is_some());
        }
        let requests = fake.requests();
        assert_eq!(requests.len(), 16);
        assert!(requests.iter().all(|r| r.version == Version::HTTP_2));
        assert!(requests.iter().all(|r| r.path.starts_with("/open-apis/")));
    })
    .await;
}

#[tokio::test]
async fn tls_with_alpn_h2() {
    bounded(async {
        let fake = FakeAily::start_tls().await.expect("start_tls");
        assert!(fake.base_url().starts_with("https://localhost:"));
        assert!(!fake.base_url().ends_with('/'));
        assert!(
            fake.ca_cert_pem()
                .expect("pem")
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        fake.add_app("cli_a", "secret_a");
        fake.add_run("session_1", "run_1");
        let client = tls_client(&fake, true);

        let body = r#"{"app_id":"cli_a","app_secret":"secret_a"}"#;
        let token_reply = send(
            &client,
            request(&fake, Method::POST, TOKEN_PATH, None, body),
        )
        .await;
        assert_eq!(token_reply.version, Version::HTTP_2);
        let token = token_reply.json()["tenant_access_token"]
            .as_str()
            .expect("token")
            .to_owned();

        let req = request(
            &fake,
            Method::POST,
            &cancel_path("session_1", "run_1"),
            Some(&token),
            "{}",
        );
        let reply = send(&client, req).await;
        assert_eq!(reply.version, Version::HTTP_2);
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["data"]["run"]["status"], "CANCELLED");
        assert!(fake.requests().iter().all(|r| r.version == Version::HTTP_2));
        assert_eq!(fake.requests()[1].bearer_token(), Some(token.as_str()));
    })
    .await;
}

#[tokio::test]
async fn tls_with_http1_and_ip_address() {
    bounded(async {
        let fake = FakeAily::start_tls().await.expect("start_tls");
        fake.add_tenant_token("t-test");
        fake.add_run("s", "r");
        let client = tls_client(&fake, false);
        let reply = send(
            &client,
            request(&fake, Method::GET, &get_path("s", "r"), Some("t-test"), ""),
        )
        .await;
        assert_eq!(reply.version, Version::HTTP_11);
        assert_eq!(reply.status, StatusCode::OK);
        // The certificate also covers 127.0.0.1.
        let req = Request::get(format!("https://{}{}", fake.addr(), get_path("s", "r")))
            .header("authorization", "Bearer t-test")
            .body(Full::new(Bytes::new()))
            .expect("request");
        assert_eq!(send(&client, req).await.status, StatusCode::OK);
        // A client that does not trust the CA fails the handshake.
        let untrusting = {
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_only()
                .enable_http1()
                .build();
            Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector)
        };
        let req = request(&fake, Method::GET, &get_path("s", "r"), Some("t-test"), "");
        assert!(untrusting.request(req).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn body_faults_over_h2c() {
    bounded(async {
        let fake = fake_with_run().await;
        let client = h2c_client();
        let path = get_path("session_1", "run_1");

        fake.push_fault(Route::GetRun, Fault::StallBody, Times::Once);
        let req = request(&fake, Method::GET, &path, Some("t-test"), "");
        let response = client.request(req).await.expect("headers arrive");
        assert_eq!(response.version(), Version::HTTP_2);
        assert!(response.headers().contains_key("content-length"));
        let mut body = response.into_body();
        let first = body.frame().await.expect("frame").expect("no error");
        assert!(first.into_data().is_ok_and(|d| !d.is_empty()));
        let rest = tokio::time::timeout(Duration::from_millis(300), body.frame()).await;
        assert!(rest.is_err(), "the body must stall");

        fake.push_fault(
            Route::GetRun,
            Fault::OversizedBody {
                bytes: 200_000,
                chunked: true,
            },
            Times::Once,
        );
        let reply = send(
            &client,
            request(&fake, Method::GET, &path, Some("t-test"), ""),
        )
        .await;
        assert_eq!(reply.version, Version::HTTP_2);
        assert!(reply.header("content-length").is_none());
        assert!(reply.body.len() >= 200_000);
        assert_eq!(reply.json()["code"], 0);

        fake.push_fault(
            Route::GetRun,
            Fault::OversizedBody {
                bytes: 200_000,
                chunked: false,
            },
            Times::Once,
        );
        let reply = send(
            &client,
            request(&fake, Method::GET, &path, Some("t-test"), ""),
        )
        .await;
        assert_eq!(
            reply.header("content-length"),
            Some(reply.body.len().to_string().as_str())
        );
        assert_eq!(reply.json()["code"], 0);
    })
    .await;
}

#[tokio::test]
async fn reset_connection_over_tls() {
    bounded(async {
        let fake = FakeAily::start_tls().await.expect("start_tls");
        fake.add_tenant_token("t-test");
        fake.add_run("s", "r");
        fake.push_fault(Route::Any, Fault::ResetConnection, Times::Once);
        let client = tls_client(&fake, true);
        let req = request(&fake, Method::GET, &get_path("s", "r"), Some("t-test"), "");
        assert!(client.request(req).await.is_err());
        let req = request(&fake, Method::GET, &get_path("s", "r"), Some("t-test"), "");
        assert_eq!(send(&client, req).await.status, StatusCode::OK);
    })
    .await;
}

// ---- request log ---------------------------------------------------------------

#[tokio::test]
async fn request_log_records_everything() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(Route::GetRun, Fault::Status(500), Times::Once);

        let mut req = request(
            &fake,
            Method::POST,
            &format!("{}?x=1&y=%20", cancel_path("session_1", "run_1")),
            Some("t-test"),
            "{}",
        );
        req.headers_mut()
            .insert("user-agent", http::HeaderValue::from_static("fake-test/1"));
        req.headers_mut()
            .insert("x-aily-bizuserid", http::HeaderValue::from_static("ou_1"));
        assert_eq!(send(&http1_client(), req).await.status, StatusCode::OK);
        let faulted = get_run(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(faulted.status.as_u16(), 500);

        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        let first = &requests[0];
        assert_eq!(first.route, Route::CancelRun);
        assert_eq!(first.method, Method::POST);
        assert_eq!(
            first.path,
            "/open-apis/aily/v1/sessions/session_1/runs/run_1/cancel?x=1&y=%20"
        );
        assert_eq!(first.version, Version::HTTP_11);
        assert_eq!(first.header("user-agent"), Some("fake-test/1"));
        assert_eq!(first.header("X-Aily-BizUserID"), Some("ou_1"));
        assert_eq!(first.bearer_token(), Some("t-test"));
        assert_eq!(first.body, Bytes::from_static(b"{}"));
        let second = &requests[1];
        assert_eq!(second.route, Route::GetRun);
        assert_eq!(second.method, Method::GET);
        assert!(second.body.is_empty());

        assert_eq!(fake.request_count(Route::CancelRun), 1);
        assert_eq!(fake.request_count(Route::GetRun), 1);
        assert_eq!(fake.request_count(Route::TenantToken), 0);
        assert_eq!(fake.request_count(Route::Any), 2);
        fake.clear_requests();
        assert!(fake.requests().is_empty());
        assert_eq!(fake.request_count(Route::Any), 0);
    })
    .await;
}

#[tokio::test]
async fn request_is_recorded_before_a_stalled_response() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.push_fault(
            Route::CancelRun,
            Fault::DelayHeaders(Duration::from_secs(3600)),
            Times::Once,
        );
        let req = request(
            &fake,
            Method::POST,
            &cancel_path("session_1", "run_1"),
            Some("t-test"),
            "",
        );
        let client = http1_client();
        let pending = tokio::spawn(async move { client.request(req).await });
        // Wait until it is recorded, while its response is still held back.
        while fake.request_count(Route::CancelRun) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!pending.is_finished());
        pending.abort();
    })
    .await;
}

// ---- cancel delay --------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn cancel_delay_on_the_paused_clock() {
    bounded_paused(async {
        let fake = fake_with_run().await;
        fake.set_cancel_delay(Duration::from_secs(5));

        let reply = cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(reply.status, StatusCode::OK);
        let json = reply.json();
        assert_eq!(json["code"], 0);
        assert_run_shape(&json["data"]["run"], "session_1", "run_1", "IN_PROGRESS");
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("IN_PROGRESS")
        );

        tokio::time::advance(Duration::from_millis(4900)).await;
        let read = get_run(&fake, "session_1", "run_1", "t-test").await.json();
        assert_eq!(read["data"]["run"]["status"], "IN_PROGRESS");
        // A second cancel does not restart the delay.
        let again = cancel(&fake, "session_1", "run_1", "t-test").await.json();
        assert_eq!(again["data"]["run"]["status"], "IN_PROGRESS");

        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(
            fake.run_status("session_1", "run_1").as_deref(),
            Some("CANCELLED")
        );
        let read = get_run(&fake, "session_1", "run_1", "t-test").await.json();
        assert_run_shape(&read["data"]["run"], "session_1", "run_1", "CANCELLED");

        // Back to synchronous cancels.
        fake.set_cancel_delay(Duration::ZERO);
        fake.add_run("session_1", "run_2");
        let now = cancel(&fake, "session_1", "run_2", "t-test").await.json();
        assert_eq!(now["data"]["run"]["status"], "CANCELLED");
    })
    .await;
}

// ---- lifecycle -----------------------------------------------------------------

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<FakeAily>();
    assert_send_sync::<Fault>();
    assert_send_sync::<Route>();
    assert_send_sync::<Times>();
    assert_send_sync::<aily_fake::RecordedRequest>();
}

#[tokio::test]
async fn debug_output_hides_secrets() {
    bounded(async {
        let fake = FakeAily::start().await.expect("start");
        fake.add_app("cli_a", "very-secret");
        fake.add_tenant_token("t-secret-token");
        let debug = format!("{fake:?}");
        assert!(debug.contains(&fake.base_url()), "{debug}");
        assert!(!debug.contains("very-secret") && !debug.contains("t-secret-token"));
    })
    .await;
}

#[tokio::test]
async fn drop_stops_the_server_and_its_connections() {
    bounded(async {
        let fake = fake_with_run().await;
        let addr = fake.addr();
        assert_eq!(fake.base_url(), format!("http://{addr}"));
        // An idle keep-alive connection that has been served once.
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let raw = format!(
            "GET {} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer t-test\r\n\r\n",
            get_path("session_1", "run_1")
        );
        stream.write_all(raw.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
        // A connection that never sent anything.
        let mut silent = TcpStream::connect(addr).await.expect("connect");

        drop(fake);

        for s in [&mut stream, &mut silent] {
            let closed = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("closed within 5 s");
            assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        }
        // The listener is gone.
        let mut refused = false;
        for _ in 0..100 {
            if TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "listener still accepting");
    })
    .await;
}

#[tokio::test]
async fn request_log_limit() {
    bounded(async {
        let fake = fake_with_run().await;
        fake.set_request_log_limit(Some(2));
        for run in ["a", "b", "c"] {
            get_run(&fake, "session_1", run, "t-test").await;
        }
        let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            [get_path("session_1", "b"), get_path("session_1", "c")]
        );
        assert_eq!(fake.request_count(Route::GetRun), 3);
        fake.set_request_log_limit(Some(0));
        assert!(fake.requests().is_empty());
        cancel(&fake, "session_1", "run_1", "t-test").await;
        assert!(fake.requests().is_empty());
        assert_eq!(fake.request_count(Route::Any), 4);
        fake.set_request_log_limit(None);
        cancel(&fake, "session_1", "run_1", "t-test").await;
        assert_eq!(fake.requests().len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests() -> Result<(), BoxError> {
    crate::support::serial::beside_others();
    let fake = fake_with_run().await;
    let client = http1_client();
    let mut handles = Vec::new();
    for _ in 0..64 {
        let req = request(
            &fake,
            Method::GET,
            &get_path("session_1", "run_1"),
            Some("t-test"),
            "",
        );
        let client = client.clone();
        handles.push(tokio::spawn(async move { send(&client, req).await }));
    }
    tokio::time::timeout(LIMIT, async {
        for handle in handles {
            assert_eq!(handle.await.expect("task").status, StatusCode::OK);
        }
    })
    .await?;
    assert_eq!(fake.request_count(Route::GetRun), 64);
    Ok(())
}
