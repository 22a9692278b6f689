//! What every test binary shares (each includes it as `mod support`):
//!
//! * the fake and the client: a [`FakeAily`] that accepts a tenant token or knows an
//!   app ([`fake`], [`fake_for`], [`fake_with_app`]), the crate's client pointed at it
//!   ([`client`], [`client_with`], [`tenant_client`], [`app_client`]), [`bounded`];
//! * every conversation endpoint as one value ([`Op`]) that a test can call, fault
//!   and check by its route, span names and retry class ([`World`], [`Opts`]);
//! * [`trace`]: the TRACE capture, one global subscriber per binary;
//! * [`serial`]: tests that must run alone in their binary;
//! * [`flat_out`]: clients calling one operation as fast as their limiter lets them,
//!   and the operations with a published limit as such a test calls them;
//! * [`redis_server`]: a real `redis-server` (and a proxy in front of it);
//! * running the built `aily` binary: `crates/aily-cli/tests/cli/runner.rs`, beside the
//!   CLI's tests (only they have the binary).
#![allow(dead_code)]

pub mod flat_out;
// Where it was: benches/fleet.rs includes it from there too.
pub mod invariants;
#[cfg(feature = "redis")]
#[path = "../redis_server/mod.rs"]
pub mod redis_server;
pub mod serial;
pub mod trace;

use std::future::Future;
use std::time::Duration;

use aily_client::messages::{ContentType, CreateMessageRequest, ListMessagesRequest};
use aily_client::runs::{CreateRunRequest, ListRunsRequest};
use aily_client::sessions::{
    CreateSessionRequest, DeleteSessionRequest, GetSessionRequest, UpdateSessionRequest,
};
use aily_client::testing::{FakeAily, Route};
use aily_client::{
    AilyRequest, CancelRequest, Client, ClientBuilder, Credentials, Error, GetRunRequest,
};

/// The tenant token the fake accepts and the client sends.
pub const TOKEN: &str = "t-lifecycle-test-token";

/// The Aily app that runs are created for.
pub const APP: &str = "spring_lifecycle__c";

/// The content of the message [`Op::CreateMessage`] posts.
pub const OP_MESSAGE: &str = "hello from the op message";

/// Upper bound of every test.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs `body`, failing the test if it takes longer than [`LIMIT`].
pub async fn bounded<F: Future>(body: F) -> F::Output {
    bounded_by(LIMIT, body).await
}

/// Runs `body`, failing the test if it takes longer than `limit`.
pub async fn bounded_by<F: Future>(limit: Duration, body: F) -> F::Output {
    tokio::time::timeout(limit, body)
        .await
        .expect("test exceeded its time limit")
}

/// A fake that accepts [`TOKEN`].
pub async fn fake() -> FakeAily {
    fake_for(TOKEN).await
}

/// A fake that accepts the tenant token `token`.
pub async fn fake_for(token: &str) -> FakeAily {
    let fake = FakeAily::start().await.expect("start the fake");
    fake.add_tenant_token(token);
    fake
}

/// A fake that knows app `app_id` with `app_secret`, with run `r` of session `s`.
pub async fn fake_with_app(app_id: &str, app_secret: &str) -> FakeAily {
    let fake = FakeAily::start().await.expect("start the fake");
    fake.add_app(app_id, app_secret);
    fake.add_run("s", "r");
    fake
}

/// A client builder with the tenant token `token` against `fake`.
pub fn tenant_builder(fake: &FakeAily, token: &str) -> ClientBuilder {
    builder_at(&fake.base_url(), token)
}

/// A client builder with the tenant token `token` against the server at `base`
/// (a raw test server rather than the fake).
pub fn builder_at(base: &str, token: &str) -> ClientBuilder {
    Client::builder()
        .credentials(Credentials::tenant_token(token))
        .base_url(base)
}

/// A client builder with app credentials against `fake`.
pub fn app_builder(fake: &FakeAily, app_id: &str, app_secret: &str) -> ClientBuilder {
    Client::builder()
        .credentials(Credentials::app(app_id, app_secret))
        .base_url(fake.base_url())
}

/// The crate's client with the tenant token `token` against `fake`, after `tweak`.
pub fn tenant_client(
    fake: &FakeAily,
    token: &str,
    tweak: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Client {
    tweak(tenant_builder(fake, token))
        .build()
        .expect("a valid client")
}

/// The crate's client with app credentials against `fake`, after `tweak`.
pub fn app_client(
    fake: &FakeAily,
    app_id: &str,
    app_secret: &str,
    tweak: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Client {
    tweak(app_builder(fake, app_id, app_secret))
        .build()
        .expect("a valid client")
}

/// The crate's client with [`TOKEN`] against `fake`, after `tweak`.
pub fn client_with(fake: &FakeAily, tweak: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
    tenant_client(fake, TOKEN, tweak)
}

/// Scripts the token endpoint to answer `token` with this `expire`.
pub fn script_token_reply(fake: &FakeAily, token: &str, expire: serde_json::Value) {
    fake.route(
        http::Method::POST,
        aily_client::auth::TENANT_TOKEN_PATH,
        aily_client::testing::ScriptedReply::json(
            200,
            serde_json::json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": expire}),
        ),
    );
}

/// Adds runs `run_0` … `run_{n-1}` to session `s` of `fake` and cancels them all at
/// once, each through its own clone of `client`; the results as they end.
pub async fn cancel_many(
    fake: &FakeAily,
    client: &Client,
    n: usize,
) -> Vec<Result<aily_client::api_call::Reply<aily_client::CancelResponse>, Error>> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let run = format!("run_{i}");
        fake.add_run("s", &run);
        let client = client.clone();
        tasks.spawn(async move { client.cancel_run("s", run).await });
    }
    let mut results = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        results.push(done.expect("no call panics"));
    }
    results
}

/// A client builder with the tenant token `token` against a loopback port with
/// nothing listening on it, one attempt per call.
pub fn closed_port_builder(token: &str) -> ClientBuilder {
    builder_at(&format!("http://127.0.0.1:{}", closed_port()), token).max_attempts(1)
}

/// Revokes the token the last request to `fake` carried, and empties its request
/// log; returns the revoked token.
pub fn revoke_last_token(fake: &FakeAily) -> String {
    let stale = fake
        .requests()
        .last()
        .expect("a request was made")
        .bearer_token()
        .expect("it carried a token")
        .to_owned();
    fake.revoke_token(&stale);
    fake.clear_requests();
    stale
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
    // The listener closes here: the port refuses connections.
}

/// The default client against `fake`.
pub fn client(fake: &FakeAily) -> Client {
    client_with(fake, |b| b)
}

/// The IDs an [`Op`] is called with.
#[derive(Clone, Debug)]
pub struct World {
    pub session: String,
    pub run: String,
    pub message: String,
}

impl World {
    /// A session with one completed run (so a new run may start) and one user
    /// message, in `fake`.
    pub fn seed(fake: &FakeAily) -> World {
        let session = "session_life1".to_owned();
        let run = "run_life1".to_owned();
        fake.add_run_with_status(&session, &run, "COMPLETED");
        let message = fake.add_user_message(&session, "seeded message");
        World {
            session,
            run,
            message,
        }
    }
}

/// Per-request options an [`Op`] call applies.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opts {
    pub max_attempts: Option<u32>,
    pub attempt_timeout: Option<Duration>,
    pub idempotent: Option<bool>,
}

impl Opts {
    pub fn attempts(n: u32) -> Opts {
        Opts {
            max_attempts: Some(n),
            ..Opts::default()
        }
    }

    pub fn apply<R: AilyRequest>(self, mut request: R) -> R {
        if let Some(n) = self.max_attempts {
            request = request.with_max_attempts(n);
        }
        if let Some(t) = self.attempt_timeout {
            request = request.with_attempt_timeout(t);
        }
        if let Some(i) = self.idempotent {
            request = request.with_idempotent(i);
        }
        request
    }
}

/// What a failure after the request may have reached the server does to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// GET: retried.
    Read,
    /// PUT, DELETE, cancel: retried (HTTP semantics; cancel leaves a terminal run alone).
    IdempotentWrite,
    /// Create message: retried with the same `idempotent_id`.
    CreateWithKey,
    /// Create session, create run: not retried; the error says it may have acted.
    CreateWithoutKey,
}

impl Class {
    pub fn retried(self) -> bool {
        self != Class::CreateWithoutKey
    }
}

/// Every endpoint of the conversation API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    CreateSession,
    GetSession,
    UpdateSession,
    DeleteSession,
    CreateMessage,
    GetMessage,
    ListMessages,
    CreateRun,
    GetRun,
    ListRuns,
    CancelRun,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::CreateSession,
        Op::GetSession,
        Op::UpdateSession,
        Op::DeleteSession,
        Op::CreateMessage,
        Op::GetMessage,
        Op::ListMessages,
        Op::CreateRun,
        Op::GetRun,
        Op::ListRuns,
        Op::CancelRun,
    ];

    /// The fake's route, the operation span's name, the method and the URL template.
    pub fn spec(self) -> (Route, &'static str, &'static str, &'static str) {
        const S: &str = "/open-apis/aily/v1/sessions";
        match self {
            Op::CreateSession => (Route::CreateSession, "aily.session.create", "POST", S),
            Op::GetSession => (
                Route::GetSession,
                "aily.session.get",
                "GET",
                "/open-apis/aily/v1/sessions/{aily_session_id}",
            ),
            Op::UpdateSession => (
                Route::UpdateSession,
                "aily.session.update",
                "PUT",
                "/open-apis/aily/v1/sessions/{aily_session_id}",
            ),
            Op::DeleteSession => (
                Route::DeleteSession,
                "aily.session.delete",
                "DELETE",
                "/open-apis/aily/v1/sessions/{aily_session_id}",
            ),
            Op::CreateMessage => (
                Route::CreateMessage,
                "aily.message.create",
                "POST",
                "/open-apis/aily/v1/sessions/{aily_session_id}/messages",
            ),
            Op::GetMessage => (
                Route::GetMessage,
                "aily.message.get",
                "GET",
                "/open-apis/aily/v1/sessions/{aily_session_id}/messages/{aily_message_id}",
            ),
            Op::ListMessages => (
                Route::ListMessages,
                "aily.message.list",
                "GET",
                "/open-apis/aily/v1/sessions/{aily_session_id}/messages",
            ),
            Op::CreateRun => (
                Route::CreateRun,
                "aily.run.create",
                "POST",
                "/open-apis/aily/v1/sessions/{aily_session_id}/runs",
            ),
            Op::GetRun => (
                Route::GetRun,
                "aily.run.get",
                "GET",
                "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}",
            ),
            Op::ListRuns => (
                Route::ListRuns,
                "aily.run.list",
                "GET",
                "/open-apis/aily/v1/sessions/{aily_session_id}/runs",
            ),
            Op::CancelRun => (
                Route::CancelRun,
                "aily.run.cancel",
                "POST",
                "/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel",
            ),
        }
    }

    pub fn route(self) -> Route {
        self.spec().0
    }

    pub fn class(self) -> Class {
        match self {
            Op::GetSession | Op::GetMessage | Op::ListMessages | Op::GetRun | Op::ListRuns => {
                Class::Read
            }
            Op::UpdateSession | Op::DeleteSession | Op::CancelRun => Class::IdempotentWrite,
            Op::CreateMessage => Class::CreateWithKey,
            Op::CreateSession | Op::CreateRun => Class::CreateWithoutKey,
        }
    }

    /// Whether the path carries a second ID (run or message) after the session's.
    pub fn has_second_id(self) -> bool {
        matches!(self, Op::GetMessage | Op::GetRun | Op::CancelRun)
    }

    /// Calls the endpoint through `client` with `world`'s IDs and `opts`; the
    /// reply's log id. Invalid IDs fail here, before anything is sent.
    pub async fn call(self, client: &Client, w: &World, o: Opts) -> Result<Option<String>, Error> {
        let (s, r, m) = (w.session.as_str(), w.run.as_str(), w.message.as_str());
        Ok(match self {
            Op::CreateSession => {
                let request =
                    CreateSessionRequest::new().metadata(r#"{"note":"op-metadata-created"}"#)?;
                client
                    .create_session(o.apply(request))
                    .await?
                    .log_id()
                    .map(str::to_owned)
            }
            Op::GetSession => client
                .call(o.apply(GetSessionRequest::new(s)?))
                .await?
                .log_id()
                .map(str::to_owned),
            Op::UpdateSession => {
                let request =
                    UpdateSessionRequest::new(s)?.metadata(r#"{"note":"op-metadata-updated"}"#)?;
                client
                    .update_session(o.apply(request))
                    .await?
                    .log_id()
                    .map(str::to_owned)
            }
            Op::DeleteSession => client
                .call(o.apply(DeleteSessionRequest::new(s)?))
                .await?
                .log_id()
                .map(str::to_owned),
            Op::CreateMessage => {
                let request = CreateMessageRequest::new(s, ContentType::Text, OP_MESSAGE)?;
                client
                    .create_message(o.apply(request))
                    .await?
                    .log_id()
                    .map(str::to_owned)
            }
            Op::GetMessage => {
                let request = aily_client::messages::GetMessageRequest::new(s, m)?;
                client
                    .call(o.apply(request))
                    .await?
                    .log_id()
                    .map(str::to_owned)
            }
            Op::ListMessages => {
                let request = ListMessagesRequest::new(s)?.page_size(10)?;
                client
                    .list_messages(o.apply(request))
                    .await?
                    .log_id()
                    .map(str::to_owned)
            }
            Op::CreateRun => {
                let request = CreateRunRequest::new(s, APP)?;
                client
                    .create_run(o.apply(request))
                    .await?
                    .log_id()
                    .map(str::to_owned)
            }
            Op::GetRun => client
                .call(o.apply(GetRunRequest::new(s, r)?))
                .await?
                .log_id()
                .map(str::to_owned),
            Op::ListRuns => {
                let request = ListRunsRequest::new(s)?.page_size(10)?;
                client
                    .list_runs(o.apply(request))
                    .await?
                    .log_id()
                    .map(str::to_owned)
            }
            Op::CancelRun => client
                .call(o.apply(CancelRequest::new(s, r)?))
                .await?
                .log_id()
                .map(str::to_owned),
        })
    }
}
