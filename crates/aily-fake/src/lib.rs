//! An in-process fake of the Feishu/Lark OpenAPI for the Aily conversation
//! endpoints (sessions, messages, runs), for tests, demos and your own
//! integration tests (feature `testing`).
//!
//! [`FakeAily`] is a real HTTP server (hyper 1) listening on `127.0.0.1` on a
//! free port, over real TCP. It speaks HTTP/1.1 and HTTP/2 (h2c with prior
//! knowledge on plain TCP, ALPN `h2`/`http/1.1` with [`FakeAily::start_tls`]),
//! and serves (`S` is `/open-apis/aily/v1/sessions`, `A` is
//! `/open-apis/aily/v1/agents/{agent_id}`, `P` is `/open-apis/aily/v1/apps/{app_id}`):
//!
//! | route | method and path | `data` of a success |
//! | --- | --- | --- |
//! | [`Route::TenantToken`] | `POST /open-apis/auth/v3/tenant_access_token/internal` | (not wrapped) |
//! | [`Route::Authorize`] | `GET /open-apis/authen/v1/authorize` | a 302 to `redirect_uri?code=…&state=…` |
//! | [`Route::UserToken`] | `POST /open-apis/authen/v2/oauth/token` | (flat) `{access_token, expires_in, refresh_token?, …}` |
//! | [`Route::UserInfo`] | `GET /open-apis/authen/v1/user_info` | `{open_id, name}` |
//! | [`Route::OAuthV3Token`] | `POST /oauth/v3/token` | (flat) `{access_token, expires_in}` |
//! | [`Route::AppAccessToken`] | `POST /open-apis/auth/v3/app_access_token` | (not wrapped) |
//! | [`Route::StoreTenantToken`] | `POST /open-apis/auth/v3/tenant_access_token` | (not wrapped) |
//! | [`Route::AppTicketResend`] | `POST /open-apis/auth/v3/app_ticket/resend` | (not wrapped) |
//! | [`Route::CreateSession`] | `POST S` | `{session}` |
//! | [`Route::GetSession`] | `GET S/{aily_session_id}` | `{session}` |
//! | [`Route::UpdateSession`] | `PUT S/{aily_session_id}` | `{session}` |
//! | [`Route::DeleteSession`] | `DELETE S/{aily_session_id}` | `{}` |
//! | [`Route::CreateMessage`] | `POST S/{aily_session_id}/messages` | `{message}` |
//! | [`Route::GetMessage`] | `GET S/{aily_session_id}/messages/{aily_message_id}` | `{message}` |
//! | [`Route::ListMessages`] | `GET S/{aily_session_id}/messages` | `{messages, has_more, page_token?}` |
//! | [`Route::CreateRun`] | `POST S/{aily_session_id}/runs` | `{run}` |
//! | [`Route::ListRuns`] | `GET S/{aily_session_id}/runs` | `{runs, has_more, page_token?}` |
//! | [`Route::GetRun`] | `GET S/{aily_session_id}/runs/{run_id}` | `{run}` |
//! | [`Route::CancelRun`] | `POST S/{aily_session_id}/runs/{run_id}/cancel` | `{run}` |
//! | [`Route::AppStats`] | `GET /open-apis/aily/v1/app_stats` | `{items, has_more, page_token?}` |
//! | [`Route::CreateAgentChat`] | `POST A/chats` | `{agent_chat_id, session_id}`; with `stream: true` an event stream (see [Agent chat stream](#agent-chat-stream)) |
//! | [`Route::GetAgentChat`] | `GET A/chats/{agent_chat_id}` | `{content, finish_reason?, status}` |
//! | [`Route::CreateAgentSession`] | `POST A/sessions` | `{session_id, name, created_at}` |
//! | [`Route::GetAgentSession`] | `GET A/sessions/{id}` | `{session_id, name, status, created_at, last_chat_at, turns}` |
//! | [`Route::ListAgentSessions`] | `GET A/sessions` | `{sessions, has_more, next_page_token?}` |
//! | [`Route::DeleteAgentSession`] | `DELETE A/sessions/{id}` | `{}` |
//! | [`Route::UploadAgentAttachment`] | `POST A/attachments` (multipart) | `{agent_attachment_id}` |
//! | [`Route::GetAgentArtifact`] | `GET A/artifacts/{id}` | `{agent_artifact: {artifact_id, name, url}}` |
//! | [`Route::CheckAgentVisibility`] | `POST A/agent_visibility/check` | `{visibility}` |
//! | [`Route::ListSkills`] | `GET P/skills` | `{skills, has_more, page_token?}` |
//! | [`Route::GetSkill`] | `GET P/skills/{skill_id}` | `{skill}` |
//! | [`Route::StartSkill`] | `POST P/skills/{skill_id}/start` | `{output, status}` |
//! | [`Route::CreateDataAsset`] | `POST P/data_assets?tenant_type=dev` | `{data_asset}` |
//! | [`Route::GetDataAsset`] | `GET P/data_assets/{data_asset_id}` | `{data_asset}` |
//! | [`Route::DeleteDataAsset`] | `DELETE P/data_assets/{data_asset_id}?tenant_type=dev` | `{data_asset}` |
//! | [`Route::ListDataAssets`] | `GET P/data_assets` | `{items, has_more, page_token?}` |
//! | [`Route::ListDataAssetTags`] | `GET P/data_asset_tags` | `{items, has_more, page_token?}` |
//! | [`Route::UploadDataAssetFile`] | `POST P/data_assets/upload_file?tenant_type=dev` (multipart) | `{file_info}` |
//! | [`Route::KnowledgeAsk`] | `POST P/knowledges/ask` | an event stream (see [Knowledge ask](#knowledge-ask)) |
//! | [`Route::Scripted`] | a method and path given to [`FakeAily::route`] | the [`ScriptedReply`] |
//! | [`Route::Other`] | anything else: HTTP 404, `{"code":404,"msg":"404 page not found"}` | |
//!
//! # What it fakes
//!
//! * **Log ids.** Every response carries a unique `X-Tt-Logid` header; every
//!   error envelope also carries
//!   `"error": {"log_id": <same id>, "troubleshooter": "https://open.feishu.cn/search?from=openapi&log_id=<id>&code=<code>"}`.
//!   JSON replies have `Content-Type: application/json; charset=utf-8`.
//!   Success is HTTP 200 `{"code":0,"msg":"success","data":{…}}`.
//! * **User tokens.** The authorize page takes `client_id` (an app of
//!   [`FakeAily::add_app`]), `redirect_uri`, `scope`, `state` and an S256
//!   `code_challenge`, and redirects with a code good once for 5 minutes; the
//!   token endpoint checks the code's `redirect_uri` and `code_verifier`, and
//!   issues a refresh token only with `offline_access`. Refresh tokens are
//!   **single use**: presented again they answer 20064 (revoked), counted by
//!   [`FakeAily::refresh_reuse_count`]; refreshes by [`FakeAily::refresh_count`];
//!   lifetimes by [`FakeAily::set_user_token_ttl`].
//! * **Keyless and store apps.** `POST /oauth/v3/token` grants a tenant token
//!   (over 4 KB) for the assertion of [`FakeAily::add_keyless_app`]; store apps
//!   ([`FakeAily::add_store_app`]) get an app token for the ticket of
//!   [`FakeAily::set_app_ticket`] (else 10012) and a tenant token per
//!   `tenant_key` ([`FakeAily::tenant_of_token`]).
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
//! * **Auth on every other route** (the Aily routes and scripted ones;
//!   `Authorization: Bearer <token>`), all HTTP 400:
//!   missing or empty → 99991661; a token starting with neither `t-` nor `u-`
//!   → 99991671; an unknown, revoked or expired tenant token → 99991663; an
//!   unknown or revoked user token → 99991668; an expired user token → 99991677.
//! * **Checks, in the platform's order:** auth, then the body, then the path
//!   ids and fields. A body (on the `POST` and `PUT` routes) may be empty,
//!   `null` or any JSON object, with or without `Content-Type`; any other body
//!   → HTTP 400 code 9499 `Bad Request`. Path segments are percent-decoded to
//!   find the ids. An unknown session, message or run, an empty id, bad
//!   percent-encoding, an id that is not UTF-8 or that holds control
//!   characters, a body field that is missing, too long or of the wrong type,
//!   or a bad query value → HTTP 400 code 2700001 `param is invalid` with
//!   `error.field_violations` `[{"field", "value"?, "description"}]` naming
//!   one field (`aily_session_id`, `aily_message_id`, `run_id`, a body field
//!   such as `app_id`, or a query parameter such as `page_token`). The
//!   platform's limits apply: `metadata`, `channel_context`, `skill_input` ≤
//!   255 characters, `app_id` ≤ 64, `skill_id` ≤ 32, `idempotent_id` ≤ 64,
//!   `content` ≤ 61,440, `file_ids` and `mentions` ≤ 32 items.
//!   [`FakeAily::set_accept_any_ids`] turns unknown (but valid) ids into
//!   things created on first use.
//! * **Sessions** have `id` (`session_…`), `created_at`, `modified_at`,
//!   `created_by` and, when set, `channel_context` and `metadata`, kept as
//!   the strings sent. `PUT` changes the fields it sends; `DELETE` removes the
//!   session with its messages and runs.
//! * **Messages.** Create needs `idempotent_id`, `content_type` (`MDX`,
//!   `TEXT`, `CLIP`, `SmartCard`, `JSON`) and `content`; `quote_message_id`
//!   must name a message of the session; `file_ids` come back as `files` with
//!   a `preview_url` whose `expired_at` is in **seconds** (an hour on). The
//!   same `idempotent_id` in the same session within 72 hours returns the
//!   first message again instead of creating one. User messages have sender
//!   `{entity_id: <X-Aily-BizUserID or ou_fake_user>, identity_provider:
//!   FEISHU, sender_type: USER}`. List is oldest first; `run_id` filters to
//!   one run's messages; `with_partial_message=true` (any case) adds messages
//!   still being written (`status: IN_PROGRESS`, the content so far).
//! * **Runs.** Create needs `app_id` (`skill_input` only with `skill_id`) and
//!   echoes `app_id` and `metadata` as sent (`"{}"` when none). A session has
//!   at most one active run (`QUEUED`, `IN_PROGRESS`, `REQUIRES_MESSAGE`):
//!   creating another → 2700001 on `aily_session_id` (the platform's code for
//!   this is not documented). A created run takes the session's user messages
//!   that no run took yet (they get its `run_id`), is `QUEUED`, then
//!   `IN_PROGRESS`, then `COMPLETED` on the schedule of
//!   [`FakeAily::set_run_schedule`] (tokio's clock), and writes an assistant
//!   message (sender `ASSISTANT`, `MDX`) `This is the fake answer to: <last
//!   input>` that grows while the run is `IN_PROGRESS` and is `COMPLETED`
//!   with it. [`FakeAily::require_message`] parks a run in
//!   `REQUIRES_MESSAGE` until the next message. Runs added with
//!   [`FakeAily::add_run`] keep their status until acted on. A cancel turns
//!   an active run `CANCELLED` (at once, or after
//!   [`FakeAily::set_cancel_delay`]; a run that completes first stays
//!   `COMPLETED`; a cancelled run shows no answer); any other run
//!   (`CANCELLED`, `COMPLETED`, `FAILED`, `EXPIRED`, or a status this fake
//!   does not know) is returned unchanged with code 0. A run has `id`,
//!   `created_at`, `app_id` (`spring_fake__c` for added runs), `session_id`,
//!   `status`, `started_at` (once started), `ended_at` (only once terminal),
//!   `error` (only when `FAILED`:
//!   `{"code":"sp_ec_sm_900101","message":"技能不存在或已删除"}`) and
//!   `metadata`. Timestamps are strings of Unix milliseconds.
//! * **Skills and data assets** of the Aily apps, set up with
//!   [`FakeAily::add_skill`] and [`FakeAily::add_data_asset`] (whose docs say
//!   each route's checks and codes): the platform's limits, `tenant_type=dev`
//!   on create, delete and upload (else 2700026), HTTP 404 / 2700404 for an
//!   unknown asset, each endpoint's own codes, and a real multipart upload whose
//!   bytes a test reads back ([`FakeAily::uploaded_file`]). Their lists are
//!   pages of at most 100.
//! * **Pagination.** `page_size` defaults to 20, must be a positive integer
//!   and is capped at [`FakeAily::set_max_page_size`] (default 100);
//!   `page_token` must be one the fake issued; `has_more` says whether a next
//!   page exists, and `page_token` is sent only then.
//!
//! # Knowledge ask
//!
//! `POST /open-apis/aily/v1/apps/{app_id}/knowledges/ask` answers, after the token
//! check, with a real `text/event-stream` (`Content-Type: text/event-stream;
//! charset=utf-8`, no `content-length`): [`FakeAily::set_knowledge_frames`]'s count
//! of `processing` frames `data: {"message":{"content":…},"status":"processing"}`,
//! each the whole answer so far (of [`FakeAily::set_knowledge_answer`]), paced
//! apart on tokio's clock, then the `finished` frame with `finish_type: "qa"`,
//! `has_answer: true` and `process_data`. A body that is not a JSON object, or
//! whose `message.content` is missing, empty or over 65,535 characters, or whose
//! `data_asset_ids` / `data_asset_tag_ids` are not lists of ids → HTTP 400 code
//! 2700001. [`Fault::Stream`] with a [`StreamFault`] stalls or cuts the stream,
//! sends an error frame or an oversized one, sends no frame at all, answers a JSON
//! error with HTTP 200, or varies the format (BOM, CRLF, comments, unknown fields,
//! wrapped payloads).
//!
//! # Agent chat stream
//!
//! `POST /open-apis/aily/v1/agents/{agent_id}/chats` with `"stream": true` creates the
//! chat as without it (the same checks and codes), and answers with a real
//! `text/event-stream`, in the one third-party format known: `event: start`
//! `{agent_chat_id, session_id}`; when the chat's final status
//! ([`FakeAily::set_agent_chat_plan`]) is `Completed`, its answer
//! ([`FakeAily::set_agent_answer`], joined) in [`FakeAily::set_agent_stream_frames`]'s
//! count of `event: message_delta` frames `{agent_chat_id, delta: {type: "content",
//! text}}`, paced apart on tokio's clock; then `event: done` `{agent_chat_id,
//! status}`. A chat streamed to its `done` is final at once for chat get; one whose
//! stream a [`StreamFault`] stopped (stall, cut, error frame — `event: error` —,
//! oversized frame, no frame) goes on over chat-get polls like a chat in the
//! background. [`StreamFault::JsonError`] answers the error envelope with HTTP 200
//! and creates nothing.
//!
//! # Scripted faults, scripted replies and the request log
//!
//! [`FakeAily::push_fault`] appends a rule (which [`Route`], which [`Fault`],
//! how many [`Times`]) to a FIFO list. For each request the first rule whose
//! route matches ([`Route::Any`] matches every request) and that has uses left
//! applies, and one use is consumed. Faults apply to every route, scripted
//! ones included; [`Fault::ResetAfterHandling`] loses a reply after the
//! server acted, and [`Fault::RepeatPageToken`] makes a list repeat its page
//! token forever.
//!
//! [`FakeAily::route`] answers a method and path the fake does not know with
//! a [`ScriptedReply`], behind the same token check, so an endpoint you add
//! yourself is tested the same way. It also replaces the tenant token
//! endpoint's reply (`POST /open-apis/auth/v3/tenant_access_token/internal`),
//! which, like the real one, checks no token.
//!
//! Every request, including those answered by a fault, is recorded (see
//! [`FakeAily::requests`]) before its response is produced; once produced,
//! the record also holds the HTTP status and the log id that were sent
//! ([`RecordedRequest::status`], [`RecordedRequest::log_id`]).
//!
//! # Example
//!
//! The client here is a bare hyper-util client, to show the wire protocol; in
//! practice you point this crate's client (or any other) at
//! [`FakeAily::base_url`].
//!
//! ```
//! use aily_fake::{FakeAily, Fault, Route, Times};
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
//! # The conversation flow
//!
//! Session, message, run, answer, on a paused clock so the run's schedule
//! moves only when the test says so:
//!
//! ```
//! use aily_fake::FakeAily;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use serde_json::{Value, json};
//! use std::time::Duration;
//!
//! # type BoxError = Box<dyn std::error::Error + Send + Sync>;
//! #[tokio::main(flavor = "current_thread", start_paused = true)]
//! async fn main() -> Result<(), BoxError> {
//!     let fake = FakeAily::start().await?;
//!     fake.add_tenant_token("t-test");
//!     fake.set_run_schedule(Duration::from_secs(1), Duration::from_secs(10));
//!     let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
//!     let call = |method: &str, path: String, body: Value| {
//!         let request = http::Request::builder()
//!             .method(method)
//!             .uri(format!("{}/open-apis/aily/v1/sessions{path}", fake.base_url()))
//!             .header("authorization", "Bearer t-test")
//!             .body(Full::from(body.to_string()));
//!         let client = client.clone();
//!         async move {
//!             let body = client.request(request?).await?.into_body().collect().await?;
//!             let json: Value = serde_json::from_slice(&body.to_bytes())?;
//!             Ok::<Value, BoxError>(json["data"].clone())
//!         }
//!     };
//!
//!     let session = call("POST", String::new(), json!({})).await?;
//!     let s = session["session"]["id"].as_str().unwrap_or_default().to_owned();
//!     let message = json!({"idempotent_id": "q1", "content_type": "TEXT", "content": "hi"});
//!     call("POST", format!("/{s}/messages"), message).await?;
//!     let run = call("POST", format!("/{s}/runs"), json!({"app_id": "spring_x__c"})).await?;
//!     assert_eq!(run["run"]["status"], "QUEUED");
//!     let r = run["run"]["id"].as_str().unwrap_or_default().to_owned();
//!
//!     tokio::time::advance(Duration::from_secs(6)).await; // half-way through
//!     let partial = call("GET", format!("/{s}/messages?with_partial_message=true"), json!(null)).await?;
//!     assert_eq!(partial["messages"][1]["status"], "IN_PROGRESS");
//!
//!     tokio::time::advance(Duration::from_secs(5)).await;
//!     let done = call("GET", format!("/{s}/runs/{r}"), json!(null)).await?;
//!     assert_eq!(done["run"]["status"], "COMPLETED");
//!     let list = call("GET", format!("/{s}/messages?run_id={r}"), json!(null)).await?;
//!     assert_eq!(list["messages"][1]["content"], "This is the fake answer to: hi");
//!     assert_eq!(list["messages"][1]["sender"]["sender_type"], "ASSISTANT");
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

mod agent_scenario;
mod agents;
mod app_stats;
mod body;
mod conv;
mod data_assets;
mod event_stream;
mod fault;
mod form;
mod handler;
mod knowledge;
mod messages;
mod oauth;
mod page;
mod rate_limit;
mod record;
mod reply;
mod route;
mod runs;
mod scenario;
mod scripted;
mod server;
mod sessions;
mod skills;
mod state;
mod util;

pub use event_stream::StreamFault;
pub use fault::{Fault, Times};
pub use record::RecordedRequest;
pub use route::Route;
pub use scripted::ScriptedReply;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use self::rate_limit::{Arrival, FakeRateLimit, RateLimitCounts};
use self::state::{Shared, TokenKind};

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
    /// let fake = aily_fake::FakeAily::start().await?;
    /// assert!(fake.base_url().starts_with("http://127.0.0.1:"));
    /// assert_eq!(fake.ca_cert_der(), None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start() -> std::io::Result<FakeAily> {
        FakeAily::start_on_port(0).await
    }

    /// Like [`FakeAily::start`], on `127.0.0.1:port` (`0`: a free port); fails if
    /// the port is taken. What `aily fake --port N` serves.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let first = aily_fake::FakeAily::start_on_port(0).await?;
    /// let port = first.addr().port();
    /// assert!(aily_fake::FakeAily::start_on_port(port).await.is_err());
    /// drop(first);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_on_port(port: u16) -> std::io::Result<FakeAily> {
        let shared = Arc::new(Shared::default());
        let server = server::start(Arc::clone(&shared), None, port).await?;
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
    /// let fake = aily_fake::FakeAily::start_tls().await?;
    /// assert!(fake.base_url().starts_with("https://localhost:"));
    /// assert!(fake.ca_cert_der().is_some());
    /// assert!(fake.ca_cert_pem().unwrap_or_default().starts_with("-----BEGIN CERTIFICATE-----"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_tls() -> std::io::Result<FakeAily> {
        let tls = server::make_tls()?;
        let shared = Arc::new(Shared::default());
        let server = server::start(Arc::clone(&shared), Some(tls.acceptor), 0).await?;
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

    /// Sets the lifetimes of the user tokens issued from now on: the access token's
    /// (`expires_in`, default 7200 s) and the refresh token's
    /// (`refresh_token_expires_in`, default 30 days).
    pub fn set_user_token_ttl(&self, access: Duration, refresh: Duration) {
        let mut state = self.shared.lock();
        state.oauth.user_ttl = access;
        state.oauth.refresh_ttl = refresh;
    }

    /// Who the user tokens belong to (`GET /open-apis/authen/v1/user_info`); default
    /// `ou_fake_user`, "Fake User".
    pub fn set_oauth_user(&self, open_id: &str, name: &str) {
        self.shared.lock().oauth.user = (open_id.to_owned(), name.to_owned());
    }

    /// A fresh single-use refresh token of app `client_id` (registered with
    /// [`add_app`](FakeAily::add_app)) with `scope`, as if the user had logged in.
    pub fn issue_refresh_token(&self, client_id: &str, scope: &str) -> String {
        self.shared
            .lock()
            .oauth
            .issue_refresh_token(client_id, scope)
    }

    /// How many refreshes the user-token endpoint granted.
    pub fn refresh_count(&self) -> usize {
        self.shared.lock().oauth.refreshes
    }

    /// How many times a refresh token was presented again after its one use (each
    /// answered 20064, revoked).
    pub fn refresh_reuse_count(&self) -> usize {
        self.shared.lock().oauth.refresh_reuses
    }

    /// Lets app `app_id` get keyless tenant tokens at `POST /oauth/v3/token` with
    /// the client assertion `assertion` (anything else is refused, 7102). Tokens
    /// granted there are over 4 KB long, like the OAuth v3 tenant token.
    pub fn add_keyless_app(&self, app_id: &str, assertion: &str) {
        self.shared
            .lock()
            .oauth
            .assertions
            .insert(app_id.to_owned(), assertion.to_owned());
    }

    /// How many client-assertion grants the fake made.
    pub fn assertion_grant_count(&self) -> usize {
        self.shared.lock().oauth.assertion_grants
    }

    /// Registers a store app (`app_access_token` with this secret and the ticket set
    /// with [`set_app_ticket`](FakeAily::set_app_ticket); any other ticket: 10012).
    pub fn add_store_app(&self, app_id: &str, app_secret: &str) {
        self.shared
            .lock()
            .oauth
            .store_apps
            .insert(app_id.to_owned(), oauth::StoreApp::new(app_secret));
    }

    /// The `app_ticket` the fake accepts for store app `app_id` from now on.
    pub fn set_app_ticket(&self, app_id: &str, ticket: &str) {
        if let Some(app) = self.shared.lock().oauth.store_apps.get_mut(app_id) {
            app.ticket = Some(ticket.to_owned());
        }
    }

    /// How many `app_ticket/resend` requests were answered.
    pub fn ticket_resend_count(&self) -> usize {
        self.shared.lock().oauth.ticket_resends
    }

    /// The tenant key a store app's tenant token was issued for.
    pub fn tenant_of_token(&self, token: &str) -> Option<String> {
        self.shared
            .lock()
            .oauth
            .store_apps
            .values()
            .find_map(|app| app.tenant_tokens.get(token).cloned())
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

    // ---- faults --------------------------------------------------------------

    /// Appends a fault rule: the next `times` requests matching `route`
    /// ([`Route::Any`] for every request) get `fault` instead of the normal
    /// answer. Rules apply in the order pushed; the first matching rule with
    /// uses left wins, and each request consumes at most one use.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use aily_fake::{FakeAily, Fault, Route, Times};
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
    /// // The next created message is stored, but its reply is lost.
    /// fake.push_fault(Route::CreateMessage, Fault::ResetAfterHandling, Times::Once);
    /// // Listing messages never ends for a client that follows tokens blindly.
    /// fake.push_fault(Route::ListMessages, Fault::RepeatPageToken, Times::Always);
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
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.set_request_log_limit(Some(100));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_request_log_limit(&self, limit: Option<usize>) {
        self.shared.lock().set_request_log_limit(limit);
    }

    /// The text knowledge ask answers (default `This is the fake knowledge answer.`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.set_knowledge_answer("Aily is Feishu's AI app platform.");
    /// fake.set_knowledge_frames(4, std::time::Duration::from_millis(10));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_knowledge_answer(&self, text: &str) {
        self.shared.lock().knowledge.answer = text.to_owned();
    }

    /// How many cumulative `processing` frames knowledge ask sends before the
    /// `finished` one (at least 1; default 3), and the pause before each frame after
    /// the first (tokio's clock; default none).
    pub fn set_knowledge_frames(&self, frames: usize, pace: Duration) {
        let mut state = self.shared.lock();
        state.knowledge.frames = frames.max(1);
        state.knowledge.pace = pace;
    }
}
