//! A client for the Feishu/Lark **Aily** OpenAPI: sessions, messages, runs and
//! skills; [`ask`](Client::ask) (session, message, run, wait, answer in one call) and
//! its streamed form; cancel on drop, so a caller that goes away never leaves a run
//! behind. Every endpoint is a [`tower::Service`] built from public, reusable layers
//! (tokens, retry, deadlines, rate limits, tracing, metrics) over hyper-util and
//! rustls, and a fleet of replicas can share one token and one quota through Redis
//! (feature `redis`).
//!
//! ```no_run
//! use aily_client::{Client, Credentials};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), aily_client::Error> {
//! // Or `ClientBuilder::from_env()?`: FEISHU_APP_ID + FEISHU_APP_SECRET, FEISHU_BASE_URL, …
//! let client = Client::builder()
//!     .credentials(Credentials::app("cli_a1b2c3", "app secret"))
//!     .build()?; // validates, spawns nothing
//! let answer = client.ask("spring_xxx__c").text("What can you do?").send().await?;
//! println!("{}: {}", answer.run.status, answer.text());
//! let reply = client.cancel_run("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj").await?;
//! println!("{} is {} (log id {:?})", reply.run.id, reply.run.status, reply.log_id());
//! # Ok(()) }
//! ```
//!
//! # Requirements
//!
//! - Rust 1.89 or later (edition 2024; std's `File::lock` for the user token file).
//! - A tokio runtime for every call: hyper-util drives connections on spawned tasks,
//!   the tenant-token refresh (app credentials) runs in the background with
//!   `tokio::spawn`, and the timeouts are tokio timers. Building the client needs none.
//!   The crate enables tokio's `rt`, `time` and `sync`; `#[tokio::main]` needs
//!   `macros` and `rt-multi-thread` (or `flavor = "current_thread"`) in your crate.
//!
//! # Cancelling, and waiting for the run to stop
//!
//! Cancellation can be asynchronous: the cancel reply may still say `IN_PROGRESS`.
//! [`Client::cancel_and_wait`] returns as soon as a read says the run is terminal
//! (`CANCELLED`, `COMPLETED`, `FAILED`, `EXPIRED`; `REQUIRES_MESSAGE` and unknown
//! statuses are waited on), reading 250 ms apart growing to 2 s; at the deadline (30 s
//! by default, [`WaitOptions`]), and not later, it fails with a
//! [`TimeoutKind::Wait`] error whose [`last_run`](Error::last_run) is the last run
//! seen. A failed read is returned as it is: the stack below already retried what was
//! worth retrying. [`Client::get_run`] reads a run once.
//!
//! ```no_run
//! # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
//! let done = client
//!     .cancel_and_wait("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj", aily_client::WaitOptions::new())
//!     .await?;
//! assert!(done.run.status.is_terminal());
//! # Ok(()) }
//! ```
//!
//! # As tower services
//!
//! Every request type is served by [`Client::service`] (`Clone + Send + Sync`, no
//! `Buffer` and no worker task in front of it; it runs on the caller's tokio runtime),
//! and any typed request goes through [`Client::call`]:
//!
//! ```no_run
//! # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
//! use aily_client::CancelRequest;
//! use tower::{Service, ServiceExt};
//!
//! let mut svc = client.cancel_service(); // aily_client::CancelService
//! let reply = svc.ready().await?.call(CancelRequest::new("session_1", "run_1")?).await?;
//! println!("{}", reply.run.status);
//! # Ok(()) }
//! ```
//!
//! # The stack
//!
//! `Client::stack` and `http_tier` (`src/client/stack.rs`) assemble it, outer to
//! inner (the README draws the same; `tests/observability/stack_drawing.rs` checks that drawing):
//!
//! ```text
//! typed tier   Service<R: AilyRequest, Response = Reply<R::Response>, Error = Error>
//!   OperationLayer              per call: span aily.run.cancel (INFO); observers: metrics (feature), yours
//!   DeadlineLayer               sets the call's deadline (30 s) for the layers below; no timer of its own
//!   RetryLayer(RetryPolicy)     tower::retry: connect, 5xx, attempt timeouts, rate limits; shared budget
//!   RateLimitLayer              per attempt: a slot of the quota and the fleet's penalty box
//!   InFlightLimitLayer          at most 256 attempts on the wire per client; the rest wait
//!   AttemptLayer                per attempt: span POST /open-apis/aily/v1/sessions/{…}/runs/{…}/cancel (DEBUG)
//!   AttemptTimeoutLayer         one attempt: token, send, whole body (10 s); never past the deadline
//!   ApiCallLayer                R -> http::Request; envelope -> Reply<R::Response> | Error
//! http tier    Service<http::Request<Full<Bytes>>, Response = http::Response<Bytes>>
//!   AuthLayer                   Authorization: Bearer <token> (sensitive); replay once on token-invalid
//!   BaseUriLayer                https://open.feishu.cn | https://open.larksuite.com | custom
//!   CollectBodyLayer            whole body, bounded (1 MiB)
//!   (StreamBodyLayer)           streamed calls (Client::open_stream, knowledge ask): an event stream comes up at its headers, its body read frame by frame (sse)
//!   hyper-util Client           rustls (ring), HTTP/1.1 + HTTP/2 by ALPN, pooled, connect timeout (5 s)
//! ```
//!
//! [`Client::typed_layers`] lists the typed tier as built:
//!
//! ```
//! use aily_client::{CancelRequest, Client, Credentials};
//!
//! let client = Client::builder().credentials(Credentials::tenant_token("t-x")).build()?;
//! assert_eq!(
//!     client.typed_layers::<CancelRequest>(),
//!     [
//!         "OperationLayer", "DeadlineLayer", "RetryLayer", "RateLimitLayer",
//!         "InFlightLimitLayer", "AttemptLayer", "AttemptTimeoutLayer", "ApiCallLayer",
//!     ],
//! );
//! # Ok::<(), aily_client::Error>(())
//! ```
//!
//! One layer is one file, and each does one thing. Why this order: the attempt timeout
//! sits below retry so a hang costs one attempt, not the call; the body is collected at
//! the bottom so the attempt timeout covers reading it and the auth layer can see
//! Feishu's `code` without consuming a stream; the token fetch goes through the HTTP
//! tier *without* the auth layer. [`OverallTimeoutLayer`](timeout::OverallTimeoutLayer)
//! (the deadline and a timer of its own) is there for stacks of your own whose inner
//! layers do not honour the deadline. Every layer is public: `examples/custom_stack.rs`
//! rebuilds the default stack in a plain `ServiceBuilder` and adds layers of its own
//! at both tiers.
//!
//! # Where the reference is
//!
//! | topic | module |
//! | --- | --- |
//! | every builder setting and its default, per-request settings, what goes on the wire | [`ClientBuilder`] |
//! | the environment variables | [`ClientBuilder::from_env`] |
//! | retries, timeouts and the fault matrix | [`retry`], [`timeout`] |
//! | errors, and the HTTP answer a service should give for each | [`Error`] |
//! | tokens: sources, single flight, rotation, the SDK comparison | [`auth`] |
//! | `ask`, streaming, cancel on drop | [`ask`], [`background`] |
//! | tracing: spans and fields | [`trace`] |
//! | metrics (feature `metrics`): instruments and labels | `metrics` |
//! | adding an endpoint | [`request`] |
//! | many replicas: quotas, stores, Redis | [`store`], [`rate_limit`] |
//! | testing your code against a fake Feishu (feature `testing`) | `testing` |
//!
//! The repository's `docs/` holds the fleet's design (`docs/fleet.md`) and the
//! security and reliability guarantees with their tests (`docs/guarantees.md`);
//! `benches/README.md` what the stack costs.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod api;
pub mod ask;
pub mod auth;
pub mod background;
mod client;
mod error;
mod fleet;
pub mod journal;
mod layers;
pub mod transport;

#[cfg(test)]
mod test_support;

#[cfg(feature = "testing")]
pub mod testing;

// The public modules keep their paths: the endpoints (`api/`), the typed-tier
// layers (`layers/`) and fleet mode (`fleet/`) are folders of the tree, not of the API.
pub use api::{
    agents, app_stats, data_assets, envelope, knowledge, messages, multipart, paginate, request,
    runs, sessions, skills, sse,
};
pub use fleet::store;
#[cfg(feature = "metrics")]
pub use layers::observe::metrics;
pub use layers::observe::trace;
pub use layers::{api_call, in_flight, observe, rate_limit, retry, timeout};

pub use auth::{AccessToken, Credentials, SecretString, TokenFuture, TokenKind, TokenSource};
pub use client::{AilyService, CancelService, Client, ClientBuilder};
pub use error::{BoxError, Error, ErrorKind, Retryable, TimeoutKind};
pub use request::{AilyRequest, RequestOptions};
pub use runs::{
    CancelRequest, CancelResponse, GetRunRequest, GetRunResponse, Run, RunError, RunResponse,
    RunStatus, Timestamp, WaitOptions,
};

/// What the [`operation!`] macro expands to refers to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use http::Method;
    pub use tracing;
    pub use tracing::field::Empty;
    pub use tracing::{Level, Span};
}
