//! # aily-client
//!
//! A client for the Feishu/Lark **Aily** OpenAPI, built as a
//! [`tower::Service`] from public, reusable layers over hyper-util and rustls.
//! Its first call cancels a run:
//! `POST /open-apis/aily/v1/sessions/:aily_session_id/runs/:run_id/cancel`.
//!
//! ```no_run
//! use aily_client::{Client, Credentials};
//!
//! # async fn run() -> Result<(), aily_client::Error> {
//! let client = Client::builder()
//!     .credentials(Credentials::tenant_token("t-…"))
//!     .build()?;
//! let reply = client.cancel_run("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj").await?;
//! println!("{} -> {} (log id {:?})", reply.run.id, reply.run.status, reply.log_id);
//! # Ok(()) }
//! ```
//!
//! ## The stack
//!
//! ```text
//! typed tier   Service<R: AilyRequest>  (CancelRequest is small and Clone)
//!   map_err(Error::from_box)   one crate Error at the edge
//!   OperationSpanLayer         one span per call: aily.run.cancel
//!   DeadlineLayer              the whole call (30 s): sets the deadline the layers below keep
//!   RetryLayer(RetryPolicy)    tower::retry; connect/5xx/timeouts/rate limits; shared budget
//!   InFlightLimitLayer         at most 256 attempts on the wire per client; the rest wait
//!   AttemptSpanLayer           one span per attempt: POST /open-apis/…/cancel
//!   TimeoutLayer::attempt      one attempt: token, send, whole body (10 s); never past the deadline
//!   ApiCallLayer               R -> http::Request; envelope -> R::Response | Error
//! http tier    Service<http::Request<Full<Bytes>>, Response = http::Response<Bytes>>
//!   AuthLayer                  Authorization: Bearer <token> (sensitive)
//!   BaseUriLayer               https://open.feishu.cn | https://open.larksuite.com | custom
//!   CollectBodyLayer           whole body, bounded (1 MiB)
//!   hyper-util Client          rustls (ring), HTTP/1.1 + HTTP/2 by ALPN, pooled, connect timeout (5 s)
//! ```
//!
//! [`Client::service`] assembles it; every layer is public, so the same stack can be
//! rebuilt (and extended) in your own [`tower::ServiceBuilder`] — see
//! `examples/custom_stack.rs`.
//!
//! ## Features
//! - `testing`: [`testing::FakeAily`], an in-process fake Feishu server for tests and demos.
//! - `cli`: the `aily` command-line tool.

#![warn(missing_docs)]

pub mod api_call;
pub mod auth;
mod client;
pub mod envelope;
mod error;
mod fleet;
pub mod in_flight;
pub mod rate_limit;
pub mod request;
pub mod retry;
pub mod runs;
pub mod store;
pub mod timeout;
pub mod trace;
pub mod transport;

#[cfg(feature = "testing")]
pub mod testing;

pub use auth::{AccessToken, Credentials, SecretString, TokenFuture, TokenKind, TokenSource};
pub use client::{AilyService, CancelService, Client, ClientBuilder};
pub use error::{BoxError, Error, ErrorKind, TimeoutKind};
pub use request::{AilyRequest, RequestOptions};
pub use runs::{
    CancelRequest, CancelResponse, GetRunRequest, GetRunResponse, Run, RunError, RunResponse,
    RunStatus, Timestamp, WaitOptions,
};

/// The README's Rust examples, compiled as doctests so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
