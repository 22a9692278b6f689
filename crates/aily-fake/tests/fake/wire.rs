//! Helpers of the FakeAily tests: bare hyper clients over real TCP, requests,
//! complete replies and their assertions.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aily_fake::FakeAily;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Upper bound of every real-time test.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Upper bound of the tests on a paused clock. Those advance the clock by
/// hours; a hang there auto-advances the clock to this limit and fails at once.
pub const PAUSED_LIMIT: Duration = Duration::from_secs(30 * 24 * 3600);

pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";

/// Runs a test body, failing it if it takes longer than [`LIMIT`].
///
/// The test stands aside for the one that reads the whole TRACE capture (`trace`).
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    crate::support::serial::beside_others();
    tokio::time::timeout(LIMIT, body)
        .await
        .expect("test exceeded its time limit");
}

/// Like [`bounded`], for tests with `start_paused = true`.
pub async fn bounded_paused<F: Future<Output = ()>>(body: F) {
    crate::support::serial::beside_others();
    tokio::time::timeout(PAUSED_LIMIT, body)
        .await
        .expect("test exceeded its (paused-clock) time limit");
}

pub fn cancel_path(session: &str, run: &str) -> String {
    format!("/open-apis/aily/v1/sessions/{session}/runs/{run}/cancel")
}

pub fn get_path(session: &str, run: &str) -> String {
    format!("/open-apis/aily/v1/sessions/{session}/runs/{run}")
}

/// A complete response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn log_id(&self) -> &str {
        self.header("x-tt-logid").expect("x-tt-logid header")
    }

    /// Asserts a Feishu error envelope with the usual `error` block.
    pub fn assert_error(&self, status: u16, code: i64) -> Value {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        let json = self.json();
        assert_eq!(json["code"], code, "{json}");
        assert!(json["msg"].is_string());
        assert_eq!(json["error"]["log_id"], self.log_id());
        assert_eq!(
            json["error"]["troubleshooter"],
            format!(
                "https://open.feishu.cn/search?from=openapi&log_id={}&code={code}",
                self.log_id()
            )
        );
        json
    }
}

/// A plain HTTP/1.1 client.
pub fn http1_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An h2c (prior knowledge) client.
pub fn h2c_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// An HTTPS client trusting only the fake's CA, with ALPN as given.
pub fn tls_client(
    fake: &FakeAily,
    h2: bool,
) -> Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>> {
    let mut roots = rustls::RootCertStore::empty();
    let der = fake.ca_cert_der().expect("a TLS fake has a CA");
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .expect("valid CA certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only();
    let connector = if h2 {
        builder.enable_all_versions().build()
    } else {
        builder.enable_http1().build()
    };
    Client::builder(TokioExecutor::new()).build(connector)
}

pub async fn send<C>(client: &Client<C, Full<Bytes>>, request: Request<Full<Bytes>>) -> Reply
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let response = client.request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    }
}

pub fn request(
    fake: &FakeAily,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{}{path}", fake.base_url()));
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .expect("request")
}

pub async fn cancel(fake: &FakeAily, session: &str, run: &str, token: &str) -> Reply {
    let req = request(
        fake,
        Method::POST,
        &cancel_path(session, run),
        Some(token),
        "",
    );
    send(&http1_client(), req).await
}

pub async fn get_run(fake: &FakeAily, session: &str, run: &str, token: &str) -> Reply {
    let req = request(fake, Method::GET, &get_path(session, run), Some(token), "");
    send(&http1_client(), req).await
}

pub async fn fetch_token(fake: &FakeAily, app_id: &str, secret: &str) -> Reply {
    let body = serde_json::json!({"app_id": app_id, "app_secret": secret}).to_string();
    let mut req = request(fake, Method::POST, TOKEN_PATH, None, &body);
    req.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    send(&http1_client(), req).await
}

/// A fake with one tenant token `t-test` and one run `session_1`/`run_1`.
pub async fn fake_with_run() -> FakeAily {
    let fake = FakeAily::start().await.expect("start");
    fake.add_tenant_token("t-test");
    fake.add_run("session_1", "run_1");
    fake
}

pub fn assert_run_shape(run: &Value, session: &str, id: &str, status: &str) {
    assert_eq!(run["id"], id);
    assert_eq!(run["session_id"], session);
    assert_eq!(run["status"], status);
    assert!(run["app_id"].is_string());
    assert_eq!(run["metadata"], "{}");
    for field in ["created_at", "started_at"] {
        let ms = run[field].as_str().expect("timestamp string");
        assert!(ms.parse::<u64>().expect("millis") > 1_600_000_000_000);
    }
    let terminal = ["CANCELLED", "COMPLETED", "FAILED", "EXPIRED"].contains(&status);
    assert_eq!(run.get("ended_at").is_some(), terminal, "{run}");
    if terminal {
        let ms = run["ended_at"].as_str().expect("ended_at string");
        assert!(ms.parse::<u64>().is_ok());
    }
}

// ---- the conversation endpoints --------------------------------------------

/// `/open-apis/aily/v1/sessions`.
pub const SESSIONS: &str = "/open-apis/aily/v1/sessions";

/// A fake with the tenant token `t-test` and nothing else.
pub async fn fake_with_token() -> FakeAily {
    let fake = FakeAily::start().await.expect("start");
    fake.add_tenant_token("t-test");
    fake
}

/// An HTTP/1.1 call with `Authorization: Bearer t-test` and, if given, a JSON
/// body.
pub async fn call(fake: &FakeAily, method: Method, path: &str, body: Option<Value>) -> Reply {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = request(fake, method, path, Some("t-test"), &text);
    if !text.is_empty() {
        req.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    send(&http1_client(), req).await
}

/// `POST /open-apis/aily/v1/sessions` with `{}`; the new session's id.
pub async fn create_session(fake: &FakeAily) -> String {
    let data = call(fake, Method::POST, SESSIONS, Some(serde_json::json!({})))
        .await
        .data();
    data["session"]["id"]
        .as_str()
        .expect("session id")
        .to_owned()
}

/// Creates a `TEXT` message; returns `data.message`.
pub async fn create_message(
    fake: &FakeAily,
    session: &str,
    idempotent_id: &str,
    text: &str,
) -> Value {
    let body = serde_json::json!({
        "idempotent_id": idempotent_id, "content_type": "TEXT", "content": text,
    });
    let path = format!("{SESSIONS}/{session}/messages");
    call(fake, Method::POST, &path, Some(body)).await.data()["message"].clone()
}

/// Creates a run of `spring_test__c`; returns `data.run`.
pub async fn create_run(fake: &FakeAily, session: &str) -> Value {
    let path = format!("{SESSIONS}/{session}/runs");
    let body = serde_json::json!({"app_id": "spring_test__c"});
    call(fake, Method::POST, &path, Some(body)).await.data()["run"].clone()
}

impl Reply {
    /// Asserts success (HTTP 200, code 0, `msg` "success") and returns `data`.
    pub fn data(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        let json = self.json();
        assert_eq!(json["code"], 0, "{json}");
        assert_eq!(json["msg"], "success");
        json["data"].clone()
    }

    /// Asserts HTTP 400 / 2700001 with one field violation naming `field`;
    /// returns the violation.
    pub fn assert_param_error(&self, field: &str) -> Value {
        let json = self.assert_error(400, 2700001);
        assert_eq!(json["msg"], "param is invalid");
        let violations = json["error"]["field_violations"]
            .as_array()
            .expect("field_violations");
        assert_eq!(violations.len(), 1, "{json}");
        assert_eq!(violations[0]["field"], field, "{json}");
        assert!(violations[0]["description"].is_string());
        violations[0].clone()
    }
}

/// The frames `body` sends until it falls silent for 300 ms, failing the test if it
/// ends instead; the body is left open.
pub async fn frames_until_stalled(body: &mut hyper::body::Incoming) -> Vec<Bytes> {
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), body.frame()).await {
            Ok(Some(frame)) => frames.push(frame.unwrap().into_data().unwrap()),
            Ok(None) => panic!("the stalled body ended"),
            Err(_) => return frames, // nothing more: stalled
        }
    }
}
