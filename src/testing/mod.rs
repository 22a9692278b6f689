//! An in-process fake of the Feishu/Lark OpenAPI for the Aily "cancel run"
//! call, for tests, demos and your own integration tests (feature `testing`).
//!
//! [`FakeAily`] is a real HTTP server (hyper 1) listening on `127.0.0.1` on a
//! free port, over real TCP. It speaks HTTP/1.1 and HTTP/2 (h2c with prior
//! knowledge on plain TCP, ALPN `h2`/`http/1.1` with [`FakeAily::start_tls`]),
//! and serves:
//!
//! | route | method and path |
//! | --- | --- |
//! | [`Route::TenantToken`] | `POST /open-apis/auth/v3/tenant_access_token/internal` |
//! | [`Route::CancelRun`] | `POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel` |
//! | [`Route::GetRun`] | `GET /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}` |
//! | [`Route::Other`] | anything else: HTTP 404, `{"code":404,"msg":"404 page not found"}` |
//!
//! # What it fakes
//!
//! * **Log ids.** Every response carries a unique `X-Tt-Logid` header; every
//!   error envelope also carries
//!   `"error": {"log_id": <same id>, "troubleshooter": "https://open.feishu.cn/search?from=openapi&log_id=<id>&code=<code>"}`.
//!   JSON replies have `Content-Type: application/json; charset=utf-8`.
//! * **Tenant tokens.** The token endpoint takes `{"app_id","app_secret"}` of
//!   an app registered with [`FakeAily::add_app`] and answers (not wrapped in
//!   `data`) `{"code":0,"msg":"ok","tenant_access_token":"t-…","expire":7200}`.
//!   Like the platform, it hands out the app's current token again, with the
//!   seconds it has left as `expire`, while at least 30 minutes are left;
//!   otherwise it issues a new token and the old one stays valid until its own
//!   expiry. Errors: unknown `app_id` → HTTP 400 code 10003 `invalid param`;
//!   wrong secret → HTTP 400 code 10014 `app secret invalid`; a body that is
//!   not a JSON object → HTTP 400 code 9499 `Bad Request`. Expiry uses
//!   [`tokio::time::Instant`], so tests with a paused clock
//!   (`#[tokio::test(start_paused = true)]`, `tokio::time::advance`) control it.
//! * **Auth on the Aily routes** (`Authorization: Bearer <token>`), all HTTP 400:
//!   missing or empty → 99991661; a token starting with neither `t-` nor `u-`
//!   → 99991671; an unknown, revoked or expired tenant token → 99991663; an
//!   unknown or revoked user token → 99991668; an expired user token → 99991677.
//! * **Runs.** Path segments are percent-decoded to find the ids. A cancel body
//!   may be empty, `{}` or `null` (any JSON object is accepted), with or
//!   without `Content-Type`; any other body → HTTP 400 code 9499. A run that is `QUEUED`, `IN_PROGRESS` or
//!   `REQUIRES_MESSAGE` becomes `CANCELLED` (at once, or after
//!   [`FakeAily::set_cancel_delay`]); any other run (`CANCELLED`, `COMPLETED`,
//!   `FAILED`, `EXPIRED`, or a status this fake does not know) is returned
//!   unchanged with code 0. An unknown session or run, an empty id, bad
//!   percent-encoding, an id that is not UTF-8 or that holds control
//!   characters → HTTP 400 code 2700001
//!   `param is invalid` with `error.field_violations`
//!   `[{"field": "aily_session_id" | "run_id", "value"?, "description"}]`.
//!   Success is HTTP 200
//!   `{"code":0,"msg":"success","data":{"run":{…}}}` where the run has `id`,
//!   `created_at`, `app_id` (`spring_fake__c`), `session_id`, `status`,
//!   `started_at`, `ended_at` (only once terminal), `error` (only when
//!   `FAILED`: `{"code":"sp_ec_sm_900101","message":"技能不存在或已删除"}`) and
//!   `metadata` (`"{}"`). Timestamps are strings of Unix milliseconds.
//!   Checks run in the platform's order: auth, then body, then ids.
//!
//! # Scripted faults and the request log
//!
//! [`FakeAily::push_fault`] appends a rule (which [`Route`], which [`Fault`],
//! how many [`Times`]) to a FIFO list. For each request the first rule whose
//! route matches ([`Route::Any`] matches every request) and that has uses left
//! applies, and one use is consumed. Every request, including those answered
//! by a fault, is recorded (see [`FakeAily::requests`]) before its response is
//! produced.
//!
//! # Example
//!
//! The client here is a bare hyper-util client, to show the wire protocol; in
//! practice you point this crate's client (or any other) at
//! [`FakeAily::base_url`].
//!
//! ```
//! use aily_client::testing::{FakeAily, Fault, Route, Times};
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! # type BoxError = Box<dyn std::error::Error + Send + Sync>;
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), BoxError> {
//!     let fake = FakeAily::start().await?;
//!     fake.add_app("cli_test", "s3cret");
//!     fake.add_run("session_1", "run_1");
//!     // The first cancel gets a 503; a client with retries would try again.
//!     fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Once);
//!
//!     let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
//!
//!     // 1. Fetch a tenant token.
//!     let request = http::Request::post(format!(
//!         "{}/open-apis/auth/v3/tenant_access_token/internal",
//!         fake.base_url()
//!     ))
//!     .header("content-type", "application/json; charset=utf-8")
//!     .body(Full::from(r#"{"app_id":"cli_test","app_secret":"s3cret"}"#))?;
//!     let response = client.request(request).await?;
//!     let body = response.into_body().collect().await?.to_bytes();
//!     let json: serde_json::Value = serde_json::from_slice(&body)?;
//!     assert_eq!(json["code"], 0);
//!     assert_eq!(json["expire"], 7200);
//!     let token = json["tenant_access_token"].as_str().unwrap_or_default().to_owned();
//!     assert!(token.starts_with("t-"));
//!
//!     // 2. Cancel the run; the first attempt hits the scripted 503.
//!     let cancel_url = format!(
//!         "{}/open-apis/aily/v1/sessions/session_1/runs/run_1/cancel",
//!         fake.base_url()
//!     );
//!     let mut statuses = Vec::new();
//!     for _ in 0..2 {
//!         let request = http::Request::post(cancel_url.as_str())
//!             .header("authorization", format!("Bearer {token}"))
//!             .body(Full::new(Bytes::new()))?;
//!         let response = client.request(request).await?;
//!         assert!(response.headers().contains_key("x-tt-logid"));
//!         statuses.push(response.status().as_u16());
//!         let body = response.into_body().collect().await?.to_bytes();
//!         let json: serde_json::Value = serde_json::from_slice(&body)?;
//!         if statuses.len() == 2 {
//!             assert_eq!(json["code"], 0);
//!             assert_eq!(json["data"]["run"]["status"], "CANCELLED");
//!         } else {
//!             assert_eq!(json["code"], 503);
//!         }
//!     }
//!     assert_eq!(statuses, [503, 200]);
//!
//!     // 3. Inspect the fake.
//!     assert_eq!(fake.run_status("session_1", "run_1").as_deref(), Some("CANCELLED"));
//!     assert_eq!(fake.request_count(Route::TenantToken), 1);
//!     assert_eq!(fake.request_count(Route::CancelRun), 2);
//!     let last = fake.requests().pop().expect("recorded");
//!     assert_eq!(last.path, "/open-apis/aily/v1/sessions/session_1/runs/run_1/cancel");
//!     assert_eq!(last.bearer_token(), Some(token.as_str()));
//!     Ok(())
//! }
//! ```
//!
//! # Lifetime
//!
//! The server runs on tasks of the tokio runtime that called
//! [`FakeAily::start`]. Dropping the [`FakeAily`] stops it: the listener
//! closes and every open connection is closed (the tasks are aborted, which
//! takes effect at their next poll).

mod body;
mod handler;
mod rate_limit;
mod server;
mod state;
mod util;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use self::rate_limit::{Arrival, FakeRateLimit, RateLimitCounts};
use self::state::{Shared, TokenKind};

/// Which endpoint a request was for (by method and path shape); also the
/// filter of a fault rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// Matches every request. Only meaningful as a filter in
    /// [`FakeAily::push_fault`] and [`FakeAily::request_count`]; a request is
    /// never recorded with it.
    Any,
    /// `POST /open-apis/auth/v3/tenant_access_token/internal`.
    TenantToken,
    /// `POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel`.
    CancelRun,
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}`.
    GetRun,
    /// Any other method or path (answered with HTTP 404).
    Other,
}

/// How many requests a fault rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The next matching request only.
    Once,
    /// The next `n` matching requests (`N(0)` is a rule that never applies;
    /// it is not stored).
    N(usize),
    /// Every matching request, until [`FakeAily::clear_faults`].
    Always,
}

/// A scripted misbehaviour, applied with [`FakeAily::push_fault`].
///
/// Every fault response that is sent carries an `X-Tt-Logid` header. HTTP
/// statuses outside `200..=599` are sent as 500.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Fault {
    /// That HTTP status with the envelope
    /// `{"code": <status>, "msg": "<canonical reason>", "error": {…}}`.
    Status(u16),
    /// Exactly this error envelope: `{"code": code, "msg": msg, "error": {…}}`
    /// with HTTP status `status`.
    ApiError {
        /// The HTTP status.
        status: u16,
        /// The envelope's `code`.
        code: i64,
        /// The envelope's `msg`.
        msg: String,
    },
    /// Rate limiting: code 99991400 `request trigger frequency limit`, header
    /// `x-ogw-ratelimit-limit: 100` and, when `reset_secs` is `Some(n)`,
    /// `x-ogw-ratelimit-reset: n`. See [`Fault::rate_limited`] for the common
    /// HTTP 429 form (some older APIs use HTTP 400).
    RateLimited {
        /// The HTTP status (429 today, 400 on some older APIs).
        status: u16,
        /// The value of `x-ogw-ratelimit-reset` (seconds to wait), if any.
        reset_secs: Option<u64>,
    },
    /// HTTP 400, code 99991663 (invalid tenant access token), whatever token
    /// was sent — as after the platform revoked it.
    TokenInvalid,
    /// Waits this long ([`tokio::time::sleep`], so a paused clock drives it),
    /// then handles the request normally.
    DelayHeaders(Duration),
    /// Handles the request normally (state changes included), sends the status
    /// and headers (with the `content-length` of the real body) and the first
    /// half of the body, then never sends the rest — and never fails either.
    StallBody,
    /// Closes the connection without any response, abruptly: the socket is
    /// closed with a zero linger time, so the client sees a TCP RST. On an
    /// HTTP/2 connection this ends every stream of that connection.
    ResetConnection,
    /// HTTP 200, JSON content type, a truncated envelope:
    /// `{"code":0,"msg":"success","data":{"run":`.
    MalformedJson,
    /// HTTP 200, JSON content type, a valid JSON envelope of at least `bytes`
    /// bytes (`{"code":0,"msg":"success","data":{"padding":"aaa…"}}`), streamed
    /// in frames of up to 16 KiB without ever being held in memory whole.
    OversizedBody {
        /// The minimum body size in bytes.
        bytes: usize,
        /// `false`: sent with a `content-length`. `true`: no `content-length`,
        /// chunked transfer encoding on HTTP/1.1, several frames.
        chunked: bool,
    },
    /// HTTP 200, code 0, but `data.run` has fields of the wrong JSON types
    /// (`id` a number, `status` a number, `created_at` an object, `metadata`
    /// an object, …).
    WrongFieldTypes,
    /// That HTTP status with `Content-Type: text/html; charset=utf-8` and an
    /// HTML body, like a proxy's error page.
    NonJson {
        /// The HTTP status.
        status: u16,
    },
}

impl Fault {
    /// HTTP 429 with code 99991400 and `x-ogw-ratelimit-reset: reset_secs`.
    ///
    /// ```
    /// use aily_client::testing::Fault;
    ///
    /// let fault = Fault::rate_limited(3);
    /// assert!(matches!(
    ///     fault,
    ///     Fault::RateLimited { status: 429, reset_secs: Some(3) }
    /// ));
    /// ```
    pub fn rate_limited(reset_secs: u64) -> Fault {
        Fault::RateLimited {
            status: 429,
            reset_secs: Some(reset_secs),
        }
    }

    /// Shorthand for [`Fault::ApiError`].
    ///
    /// ```
    /// use aily_client::testing::Fault;
    ///
    /// let fault = Fault::api_error(400, 99991672, "app has not applied for the scope");
    /// assert!(matches!(fault, Fault::ApiError { status: 400, code: 99991672, .. }));
    /// ```
    pub fn api_error(status: u16, code: i64, msg: impl Into<String>) -> Fault {
        Fault::ApiError {
            status,
            code,
            msg: msg.into(),
        }
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The endpoint the request was classified as (never [`Route::Any`]).
    pub route: Route,
    /// The HTTP method.
    pub method: http::Method,
    /// The raw path and query exactly as received, still percent-encoded.
    pub path: String,
    /// The HTTP version (`HTTP/1.1` or `HTTP/2.0`).
    pub version: http::Version,
    /// All request headers.
    pub headers: http::HeaderMap,
    /// The complete request body (empty if none was sent; bodies over 16 MiB
    /// are refused with HTTP 413 and recorded empty).
    pub body: Bytes,
}

impl RecordedRequest {
    /// The value of header `name` if present and valid UTF-8 (the first one
    /// if repeated).
    ///
    /// ```
    /// # use aily_client::testing::{RecordedRequest, Route};
    /// # let mut headers = http::HeaderMap::new();
    /// # headers.insert("user-agent", http::HeaderValue::from_static("demo/1"));
    /// # let request = RecordedRequest {
    /// #     route: Route::Other, method: http::Method::GET, path: "/".into(),
    /// #     version: http::Version::HTTP_11, headers, body: bytes::Bytes::new(),
    /// # };
    /// assert_eq!(request.header("User-Agent"), Some("demo/1"));
    /// assert_eq!(request.header("x-missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The token of an `Authorization: Bearer <token>` header, if any.
    ///
    /// ```
    /// # use aily_client::testing::{RecordedRequest, Route};
    /// # let mut headers = http::HeaderMap::new();
    /// # headers.insert("authorization", http::HeaderValue::from_static("Bearer t-abc"));
    /// # let request = RecordedRequest {
    /// #     route: Route::CancelRun, method: http::Method::POST, path: "/".into(),
    /// #     version: http::Version::HTTP_11, headers, body: bytes::Bytes::new(),
    /// # };
    /// assert_eq!(request.bearer_token(), Some("t-abc"));
    /// ```
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }
}

/// The fake Feishu server. See the [module documentation](self) for what it
/// fakes and a full example.
///
/// All methods take `&self` and may be called at any time, also while
/// requests are in flight; the state sits behind a mutex that is never held
/// across an `.await`. Dropping the handle stops the server and closes every
/// connection.
pub struct FakeAily {
    shared: Arc<Shared>,
    server: server::Server,
    tls: Option<(Vec<u8>, String)>,
}

impl std::fmt::Debug for FakeAily {
    /// Shows the address only: the state holds app secrets and tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAily")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl FakeAily {
    /// Starts a plain-TCP fake on `127.0.0.1` on a free port, serving HTTP/1.1
    /// and HTTP/2 with prior knowledge (h2c).
    ///
    /// Must be called within a tokio runtime (an error is returned
    /// otherwise); the server's tasks run on that runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_client::testing::FakeAily::start().await?;
    /// assert!(fake.base_url().starts_with("http://127.0.0.1:"));
    /// assert_eq!(fake.ca_cert_der(), None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start() -> std::io::Result<FakeAily> {
        let shared = Arc::new(Shared::default());
        let server = server::start(Arc::clone(&shared), None).await?;
        Ok(FakeAily {
            shared,
            server,
            tls: None,
        })
    }

    /// Starts an HTTPS fake on `127.0.0.1` on a free port, with a freshly
    /// generated certificate for `localhost` and `127.0.0.1`, signed by a
    /// freshly generated CA ([`FakeAily::ca_cert_der`] /
    /// [`FakeAily::ca_cert_pem`]) that clients must trust. ALPN offers `h2`
    /// and `http/1.1`. TLS is rustls with an explicit ring `CryptoProvider`;
    /// no process-wide default provider is needed or installed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_client::testing::FakeAily::start_tls().await?;
    /// assert!(fake.base_url().starts_with("https://localhost:"));
    /// assert!(fake.ca_cert_der().is_some());
    /// assert!(fake.ca_cert_pem().unwrap_or_default().starts_with("-----BEGIN CERTIFICATE-----"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_tls() -> std::io::Result<FakeAily> {
        let tls = server::make_tls()?;
        let shared = Arc::new(Shared::default());
        let server = server::start(Arc::clone(&shared), Some(tls.acceptor)).await?;
        Ok(FakeAily {
            shared,
            server,
            tls: Some((tls.ca_der, tls.ca_pem)),
        })
    }

    /// The address the fake listens on (always `127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The base URL to give a client, without a trailing slash:
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` for
    /// [`FakeAily::start_tls`] (the certificate is also valid for
    /// `127.0.0.1`).
    pub fn base_url(&self) -> String {
        let port = self.server.addr.port();
        if self.tls.is_some() {
            format!("https://localhost:{port}")
        } else {
            format!("http://127.0.0.1:{port}")
        }
    }

    /// The DER bytes of the CA certificate a client must trust
    /// ([`FakeAily::start_tls`] only; `None` for plain TCP).
    pub fn ca_cert_der(&self) -> Option<Vec<u8>> {
        self.tls.as_ref().map(|(der, _)| der.clone())
    }

    /// The same CA certificate as PEM ([`FakeAily::start_tls`] only).
    pub fn ca_cert_pem(&self) -> Option<String> {
        self.tls.as_ref().map(|(_, pem)| pem.clone())
    }

    // ---- apps and tokens -----------------------------------------------------

    /// Registers (or replaces) a self-built app whose credentials the token
    /// endpoint accepts.
    pub fn add_app(&self, app_id: &str, app_secret: &str) {
        self.shared.lock().add_app(app_id, app_secret);
    }

    /// Sets the lifetime (`expire`) of tenant tokens issued from now on;
    /// default 7200 s. With a TTL under 30 minutes every token request gets a
    /// new token, since the current one never has 30 minutes left.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.lock().set_token_ttl(ttl);
    }

    /// Accepts `token` as a valid tenant access token until it is revoked.
    /// Tokens must start with `t-` (others fail the format check with
    /// 99991671 before they are looked up).
    pub fn add_tenant_token(&self, token: &str) {
        self.shared.lock().add_token(token, TokenKind::Tenant, None);
    }

    /// Accepts `token` as a tenant access token for `ttl` from now (measured
    /// on tokio's clock); afterwards it answers 99991663.
    pub fn add_tenant_token_with_ttl(&self, token: &str, ttl: Duration) {
        self.shared
            .lock()
            .add_token(token, TokenKind::Tenant, Some(ttl));
    }

    /// Accepts `token` as a valid user access token until it is revoked.
    /// Tokens must start with `u-`.
    pub fn add_user_token(&self, token: &str) {
        self.shared.lock().add_token(token, TokenKind::User, None);
    }

    /// Accepts `token` as a user access token for `ttl` from now (tokio's
    /// clock); afterwards it answers 99991677 `user access token expired`.
    pub fn add_user_token_with_ttl(&self, token: &str, ttl: Duration) {
        self.shared
            .lock()
            .add_token(token, TokenKind::User, Some(ttl));
    }

    /// Forgets `token` (issued or added): it is now unknown (99991663 for a
    /// tenant token, 99991668 for a user token). The next token request of
    /// its app issues a new token.
    pub fn revoke_token(&self, token: &str) {
        self.shared.lock().revoke_token(token);
    }

    /// Forgets every token, issued or added.
    pub fn revoke_all_tokens(&self) {
        self.shared.lock().revoke_all_tokens();
    }

    // ---- runs ----------------------------------------------------------------

    /// Adds (or replaces) run `run_id` in session `session_id`, status
    /// `IN_PROGRESS`. The session exists as long as it has a run.
    pub fn add_run(&self, session_id: &str, run_id: &str) {
        self.add_run_with_status(session_id, run_id, "IN_PROGRESS");
    }

    /// Adds (or replaces) a run with any status string, e.g. `QUEUED`,
    /// `REQUIRES_MESSAGE`, `COMPLETED`, `FAILED` (which carries an `error`),
    /// or one the client does not know. Terminal statuses get an `ended_at`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_client::testing::FakeAily::start().await?;
    /// fake.add_run_with_status("s", "r", "COMPLETED");
    /// assert_eq!(fake.run_status("s", "r").as_deref(), Some("COMPLETED"));
    /// assert_eq!(fake.run_status("s", "nope"), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_run_with_status(&self, session_id: &str, run_id: &str, status: &str) {
        self.shared.lock().add_run(session_id, run_id, status);
    }

    /// The run's current status (after any delayed cancel that is due), or
    /// `None` if there is no such run.
    pub fn run_status(&self, session_id: &str, run_id: &str) -> Option<String> {
        self.shared.lock().run_status(session_id, run_id)
    }

    /// Makes cancellation asynchronous. With the default of zero a cancel
    /// turns the run `CANCELLED` at once and the reply says so. With a
    /// non-zero delay the reply (and every read before the delay is over)
    /// still shows the old status, e.g. `IN_PROGRESS`, and the run is
    /// `CANCELLED` from `delay` after the cancel on. Time is tokio's clock, so
    /// a paused clock drives it; nothing is spawned.
    ///
    /// ```
    /// use aily_client::testing::FakeAily;
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    /// use std::time::Duration;
    ///
    /// # type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// async fn main() -> Result<(), BoxError> {
    ///     let fake = FakeAily::start().await?;
    ///     fake.add_tenant_token("t-test");
    ///     fake.add_run("s", "r");
    ///     fake.set_cancel_delay(Duration::from_secs(2));
    ///
    ///     let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    ///     let url = format!("{}/open-apis/aily/v1/sessions/s/runs/r/cancel", fake.base_url());
    ///     let request = http::Request::post(url)
    ///         .header("authorization", "Bearer t-test")
    ///         .body(Full::default())?;
    ///     let body = client.request(request).await?.into_body().collect().await?;
    ///     let json: serde_json::Value = serde_json::from_slice(&body.to_bytes())?;
    ///     assert_eq!(json["data"]["run"]["status"], "IN_PROGRESS");
    ///
    ///     tokio::time::advance(Duration::from_secs(2)).await;
    ///     assert_eq!(fake.run_status("s", "r").as_deref(), Some("CANCELLED"));
    ///     Ok(())
    /// }
    /// ```
    pub fn set_cancel_delay(&self, delay: Duration) {
        self.shared.lock().set_cancel_delay(delay);
    }

    // ---- faults --------------------------------------------------------------

    /// Appends a fault rule: the next `times` requests matching `route`
    /// ([`Route::Any`] for every request) get `fault` instead of the normal
    /// answer. Rules apply in the order pushed; the first matching rule with
    /// uses left wins, and each request consumes at most one use.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use aily_client::testing::{FakeAily, Fault, Route, Times};
    /// use std::time::Duration;
    ///
    /// let fake = FakeAily::start().await?;
    /// // Two rate-limited cancels, then a slow one, then normal answers.
    /// fake.push_fault(Route::CancelRun, Fault::rate_limited(1), Times::N(2));
    /// fake.push_fault(
    ///     Route::CancelRun,
    ///     Fault::DelayHeaders(Duration::from_millis(50)),
    ///     Times::Once,
    /// );
    /// // Every token request fails with a 500.
    /// fake.push_fault(Route::TenantToken, Fault::Status(500), Times::Always);
    /// # Ok(())
    /// # }
    /// ```
    pub fn push_fault(&self, route: Route, fault: Fault, times: Times) {
        self.shared.lock().push_fault(route, fault, times);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.lock().clear_faults();
    }

    // ---- request log ---------------------------------------------------------

    /// Every request received so far, oldest first (a copy; see also
    /// [`FakeAily::set_request_log_limit`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests()
    }

    /// How many requests for `route` were received since the start or the
    /// last [`FakeAily::clear_requests`]; [`Route::Any`] counts all. Counts
    /// include requests no longer kept in the log (see
    /// [`FakeAily::set_request_log_limit`]).
    pub fn request_count(&self, route: Route) -> usize {
        self.shared.lock().request_count(route)
    }

    /// Empties the request log and resets the counts of
    /// [`FakeAily::request_count`].
    pub fn clear_requests(&self) {
        self.shared.lock().clear_requests();
    }

    /// Keeps at most the `limit` most recent requests in the log (`Some(0)`:
    /// keep none; `None`, the default: keep all). Useful for long benchmarks,
    /// where a full log would grow without bound. Counting is not affected.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_client::testing::FakeAily::start().await?;
    /// fake.set_request_log_limit(Some(100));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_request_log_limit(&self, limit: Option<usize>) {
        self.shared.lock().set_request_log_limit(limit);
    }
}
