//! Cancel a run end to end, over real TCP to the fake Feishu server.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{
    AilyRequest, CancelRequest, Client, Credentials, ErrorKind, RunStatus, TimeoutKind,
};
use http::Version;

use crate::support;

const TOKEN: &str = "t-test-tenant-token-0123456789";

async fn fake_with_run(session: &str, run: &str) -> FakeAily {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run(session, run);
    fake
}

fn client(fake: &FakeAily) -> Client {
    support::tenant_client(fake, TOKEN, |b| b)
}

/// A client that makes one attempt per call, so each fault shows its own error
/// (retries are the subject of tests/resilience.rs).
fn single_attempt_client(fake: &FakeAily) -> Client {
    support::tenant_client(fake, TOKEN, |b| b.max_attempts(1))
}

#[tokio::test]
async fn cancels_a_run_and_returns_it_with_the_log_id() {
    let fake = fake_with_run("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj").await;
    let reply = client(&fake)
        .cancel_run("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj")
        .await
        .expect("cancel succeeds");

    assert_eq!(reply.run.id, "run_4dfrxvctjqzzj");
    assert_eq!(reply.run.status, RunStatus::Cancelled);
    assert_eq!(
        reply.run.session_id.as_deref(),
        Some("session_4dfunz7sp1g8m")
    );
    assert!(
        reply
            .run
            .created_at
            .as_ref()
            .unwrap()
            .to_system_time()
            .is_some()
    );
    assert_eq!(
        fake.run_status("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj")
            .as_deref(),
        Some("CANCELLED")
    );

    let log = fake.requests();
    assert_eq!(log.len(), 1);
    let req = &log[0];
    assert_eq!(req.route, Route::CancelRun);
    assert_eq!(req.method, http::Method::POST);
    assert_eq!(
        req.path,
        "/open-apis/aily/v1/sessions/session_4dfunz7sp1g8m/runs/run_4dfrxvctjqzzj/cancel"
    );
    assert_eq!(req.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(
        req.headers["user-agent"],
        concat!("aily-client/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        req.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(&req.body[..], b"{}");
    // The log id is the one the server put in X-Tt-Logid.
    let log_id = reply.log_id().expect("a log id");
    assert!(!log_id.is_empty());
}

#[tokio::test]
async fn user_tokens_and_extra_headers_are_sent() {
    let fake = FakeAily::start().await.unwrap();
    fake.add_user_token("u-user-token-abc");
    fake.add_run("s", "r");
    let client = Client::builder()
        .credentials(Credentials::user_token("u-user-token-abc"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let req = CancelRequest::new("s", "r")
        .unwrap()
        .with_biz_user_id("ou_42")
        .unwrap()
        .with_request_id("trace-7")
        .unwrap();
    let reply = client.call(req).await.unwrap();
    assert_eq!(reply.run.status, RunStatus::Cancelled);
    let log = fake.requests();
    assert_eq!(log[0].headers["authorization"], "Bearer u-user-token-abc");
    assert_eq!(log[0].headers["x-aily-bizuserid"], "ou_42");
    assert_eq!(log[0].headers["oapi-sdk-request-id"], "trace-7");
}

#[tokio::test]
async fn cancelling_a_terminal_run_returns_it_unchanged() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run_with_status("s", "r", "FAILED");
    let reply = client(&fake).cancel_run("s", "r").await.unwrap();
    assert_eq!(reply.run.status, RunStatus::Failed);
    let err = reply
        .into_data()
        .run
        .error
        .expect("a failed run carries its error");
    assert_eq!(err.code, "sp_ec_sm_900101");
}

#[tokio::test]
async fn invalid_ids_fail_before_anything_is_sent() {
    let fake = fake_with_run("s", "r").await;
    let client = client(&fake);
    let long = "x".repeat(257);
    let cases: [(&str, &str, &str); 10] = [
        ("", "r", "aily_session_id"),
        ("s", "", "run_id"),
        (".", "r", "aily_session_id"),
        ("s", "..", "run_id"),
        (&long, "r", "aily_session_id"),
        ("s", &long, "run_id"),
        ("s 1", "r", "aily_session_id"),
        ("s", "r\t1", "run_id"),
        ("s\n", "r", "aily_session_id"),
        ("s", "r\u{0}", "run_id"),
    ];
    for (session, run, field) in cases {
        let err = client.cancel_run(session, run).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{session:?} {run:?}");
        assert!(err.to_string().contains(field), "{err} should name {field}");
        assert!(err.is_invalid_input());
    }
    assert_eq!(fake.requests().len(), 0, "no request may reach the server");
}

#[tokio::test]
async fn odd_but_valid_ids_arrive_percent_encoded() {
    let fake = support::fake_for(TOKEN).await;
    let cases = [
        ("s/../../x", "r?x=1#f", "s%2F..%2F..%2Fx", "r%3Fx%3D1%23f"),
        ("会话", "run%2F1", "%E4%BC%9A%E8%AF%9D", "run%252F1"),
        ("...", "a+b&c", "...", "a%2Bb%26c"),
    ];
    let client = client(&fake);
    for (session, run, enc_session, enc_run) in cases {
        fake.add_run(session, run);
        let reply = client.cancel_run(session, run).await.unwrap();
        assert_eq!(reply.run.id, run);
        let last = fake.requests().pop().unwrap();
        assert_eq!(
            last.path,
            format!("/open-apis/aily/v1/sessions/{enc_session}/runs/{enc_run}/cancel")
        );
        assert_eq!(fake.run_status(session, run).as_deref(), Some("CANCELLED"));
    }
}

#[tokio::test]
async fn error_envelopes_are_decoded() {
    let fake = fake_with_run("s", "r").await;
    let client = single_attempt_client(&fake);

    // Unknown run: the platform's "param is invalid".
    let err = client.cancel_run("s", "no_such_run").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.code(), Some(2700001));
    assert_eq!(err.msg(), Some("param is invalid"));
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
    let log_id = err.log_id().expect("log id").to_owned();
    let text = err.to_string();
    assert!(
        text.contains("2700001") && text.contains("param is invalid") && text.contains(&log_id),
        "{text}"
    );
    assert!(!err.detail().unwrap().field_violations.is_empty());

    // An exact error chosen by the test.
    fake.push_fault(
        Route::CancelRun,
        Fault::ApiError {
            status: 400,
            code: 99991672,
            msg: "app has no permission".into(),
        },
        Times::Once,
    );
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(99991672)));
    assert_eq!(err.msg(), Some("app has no permission"));
    assert!(err.log_id().is_some());

    // Rate limited, with the wait attached.
    fake.push_fault(Route::CancelRun, Fault::rate_limited(7), Times::Once);
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.code(), Some(99991400));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));

    // Code 99991400 under HTTP 200 is a rate limit too.
    fake.push_fault(
        Route::CancelRun,
        Fault::RateLimited {
            status: 200,
            reset_secs: None,
        },
        Times::Once,
    );
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);

    // A server error with an envelope keeps status, code and log id.
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Once);
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    assert!(err.log_id().is_some());
    assert!(err.is_retryable());

    // A gateway's HTML error page.
    fake.push_fault(
        Route::CancelRun,
        Fault::NonJson { status: 502 },
        Times::Once,
    );
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Http);
    assert_eq!(err.status(), Some(http::StatusCode::BAD_GATEWAY));

    // A non-JSON 200 is a decode error, not a success.
    fake.push_fault(
        Route::CancelRun,
        Fault::NonJson { status: 200 },
        Times::Once,
    );
    assert_eq!(
        client.cancel_run("s", "r").await.unwrap_err().kind(),
        ErrorKind::Decode
    );

    // Malformed JSON and wrong field types are decode errors.
    fake.push_fault(Route::CancelRun, Fault::MalformedJson, Times::Once);
    assert_eq!(
        client.cancel_run("s", "r").await.unwrap_err().kind(),
        ErrorKind::Decode
    );
    fake.push_fault(Route::CancelRun, Fault::WrongFieldTypes, Times::Once);
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.log_id().is_some());

    // After all that, the run is still there to cancel.
    let reply = client.cancel_run("s", "r").await.unwrap();
    assert_eq!(reply.run.status, RunStatus::Cancelled);
}

#[tokio::test]
async fn rejected_tokens_are_auth_errors_sent_once() {
    let fake = fake_with_run("s", "r").await;

    // A tenant token the server does not know.
    let stranger = Client::builder()
        .credentials(Credentials::tenant_token("t-unknown"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = stranger.cancel_run("s", "r").await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Auth, Some(99991663)));
    assert!(err.to_string().contains("must be replaced"), "{err}");
    assert!(!err.to_string().contains("t-unknown"));
    assert_eq!(fake.request_count(Route::CancelRun), 1);

    // A revoked user token.
    fake.add_user_token("u-soon-revoked");
    fake.revoke_token("u-soon-revoked");
    let user = Client::builder()
        .credentials(Credentials::user_token("u-soon-revoked"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = user.cancel_run("s", "r").await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Auth, Some(99991668)));
    assert_eq!(fake.request_count(Route::CancelRun), 2);

    // A malformed token.
    let odd = Client::builder()
        .credentials(Credentials::tenant_token("x-not-a-feishu-token"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = odd.cancel_run("s", "r").await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Auth, Some(99991671)));
}

#[tokio::test]
async fn https_with_a_trusted_generated_certificate_negotiates_http2() {
    let fake = FakeAily::start_tls().await.unwrap();
    fake.add_tenant_token(TOKEN);
    fake.add_run("s", "r");
    assert!(fake.base_url().starts_with("https://"));
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .add_root_certificate(fake.ca_cert_der().expect("TLS fake has a cert"))
        .build()
        .unwrap();
    let reply = client.cancel_run("s", "r").await.unwrap();
    assert_eq!(reply.run.status, RunStatus::Cancelled);
    let log = fake.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].version, Version::HTTP_2, "ALPN picks HTTP/2");

    // Without trusting the certificate, the handshake fails and nothing is served.
    let untrusting = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = untrusting.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn http2_prior_knowledge_over_plain_tcp() {
    let fake = fake_with_run("s", "r").await;
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    for _ in 0..3 {
        client.cancel_run("s", "r").await.unwrap();
    }
    let log = fake.requests();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|r| r.version == Version::HTTP_2));
    // And HTTP/1.1 by default.
    client_plain_is_http11(&fake).await;
}

async fn client_plain_is_http11(fake: &FakeAily) {
    fake.clear_requests();
    client(fake).cancel_run("s", "r").await.unwrap();
    assert_eq!(fake.requests()[0].version, Version::HTTP_11);
}

#[tokio::test]
async fn bodies_over_the_limit_are_errors() {
    let fake = fake_with_run("s", "r").await;
    let client = single_attempt_client(&fake);
    for chunked in [false, true] {
        fake.push_fault(
            Route::CancelRun,
            Fault::OversizedBody {
                bytes: 3 << 20,
                chunked,
            },
            Times::Once,
        );
        let err = client.cancel_run("s", "r").await.unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::BodyTooLarge,
            "chunked={chunked}: {err}"
        );
        assert!(err.log_id().is_some());
    }
    // A small limit rejects even a normal reply.
    let tiny = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .max_response_bytes(64)
        .build()
        .unwrap();
    let err = tiny.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
    // And the default limit still serves a normal reply after all that.
    assert!(client.cancel_run("s", "r").await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn timeouts_say_which_one_fired() {
    let fake = fake_with_run("s", "r").await;
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .attempt_timeout(Duration::from_secs(2))
        .overall_timeout(Duration::from_secs(5))
        .max_attempts(1)
        .build()
        .unwrap();

    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_secs(60)),
        Times::Once,
    );
    let started = tokio::time::Instant::now();
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Attempt), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A stalled body is caught by the attempt timeout too.
    fake.push_fault(Route::CancelRun, Fault::StallBody, Times::Once);
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Attempt), "{err}");

    // A per-request overall timeout shorter than the attempt timeout wins.
    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_secs(60)),
        Times::Once,
    );
    let req = CancelRequest::new("s", "r")
        .unwrap()
        .with_overall_timeout(Duration::from_secs(1));
    let err = client.call(req).await.unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Overall), "{err}");
    assert!(err.is_timeout());
}

#[tokio::test]
async fn a_reset_connection_is_a_transport_error() {
    let fake = fake_with_run("s", "r").await;
    fake.push_fault(Route::CancelRun, Fault::ResetConnection, Times::Once);
    let err = single_attempt_client(&fake)
        .cancel_run("s", "r")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let client = support::closed_port_builder(TOKEN).build().unwrap();
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
}

#[tokio::test]
async fn many_concurrent_cancels_through_clones_of_one_client() {
    let fake = support::fake_for(TOKEN).await;
    let client = client(&fake);
    let mut ok = 0;
    for done in support::cancel_many(&fake, &client, 64).await {
        assert_eq!(done.unwrap().run.status, RunStatus::Cancelled);
        ok += 1;
    }
    assert_eq!(ok, 64);
    assert_eq!(fake.request_count(Route::CancelRun), 64);
}

#[test]
fn configuration_is_checked_at_build() {
    let build = |url: &str| {
        Client::builder()
            .credentials(Credentials::tenant_token(TOKEN))
            .base_url(url)
            .build()
    };
    let err = build("http://open.feishu.cn").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("plain http"), "{err}");
    assert!(build("http://127.0.0.1:9").is_ok());
    assert!(build("http://localhost:9").is_ok());
    assert!(build("http://[::1]:9").is_ok());
    assert!(build("https://open.larksuite.com").is_ok());
    assert!(build("open.feishu.cn").is_err());
    assert!(
        Client::builder()
            .credentials(Credentials::tenant_token(TOKEN))
            .base_url("http://10.1.2.3")
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
    let err = Client::builder().build().unwrap_err();
    assert!(err.to_string().contains("no credentials"));
    let err = Client::builder()
        .credentials(Credentials::tenant_token("t-has space"))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(!err.to_string().contains("has space"));
    // Building spawns nothing: it works outside any runtime.
    assert!(tokio::runtime::Handle::try_current().is_err());
    let client = build("https://open.feishu.cn").unwrap();
    let _svc = client.cancel_service();
}

#[test]
fn debug_output_never_shows_secrets() {
    let secret = "t-super-secret-token-value";
    let creds = Credentials::tenant_token(secret);
    let client = Client::builder()
        .credentials(creds.clone())
        .build()
        .unwrap();
    let user = Credentials::user_token("u-another-secret");
    let app = Credentials::app("cli_123", "app-secret-value");
    let token = aily_client::AccessToken::new(aily_client::TokenKind::Tenant, secret).unwrap();
    let outputs = [
        format!("{creds:?}"),
        format!("{creds:#?}"),
        format!("{client:?}"),
        format!("{user:?}"),
        format!("{app:?}"),
        format!("{token:?}"),
        format!("{:?}", token.header_value()),
        format!("{:?}", aily_client::SecretString::new(secret)),
        format!("{}", aily_client::SecretString::new(secret)),
    ];
    for out in &outputs {
        for s in [secret, "another-secret", "app-secret-value"] {
            assert!(!out.contains(s), "{out} shows a secret");
        }
    }
    assert!(outputs[4].contains("cli_123"), "the app id is not a secret");
}

#[test]
fn services_are_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>(_: &T) {}
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .build()
        .unwrap();
    assert_traits(&client);
    assert_traits(&client.cancel_service());
    assert_traits(&client.http_service());
    let req = CancelRequest::new("s", "r").unwrap();
    assert_traits(&req);
    assert_eq!(<CancelRequest as AilyRequest>::OPERATION, "aily.run.cancel");
}

/// The call futures do nothing until polled, so they may be made outside a tokio
/// runtime (in sync code, say) and run inside one; they own what they need, so they
/// outlive the client that made them.
#[test]
fn a_call_future_made_outside_the_runtime_runs_inside_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(fake_with_run("session_1", "run_1"));
    fake.add_app("cli_outside", "s3cret");
    for credentials in [
        Credentials::tenant_token(TOKEN),
        Credentials::app("cli_outside", "s3cret"),
    ] {
        let client = Client::builder()
            .credentials(credentials)
            .base_url(fake.base_url())
            .build()
            .unwrap();
        // No runtime is entered here.
        let cancel = client.cancel_run("session_1", "run_1");
        let get = client.get_run("session_1", "run_1");
        let invalid = client.cancel_run("session_1", "..");
        drop(client);
        let cancelled = rt.block_on(cancel).unwrap();
        assert_eq!(cancelled.run.status, aily_client::RunStatus::Cancelled);
        assert_eq!(rt.block_on(get).unwrap().run.id, "run_1");
        assert_eq!(
            rt.block_on(invalid).unwrap_err().kind(),
            aily_client::ErrorKind::InvalidInput
        );
    }
    assert_eq!(fake.request_count(Route::CancelRun), 2);
}
