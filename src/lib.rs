//! The crate's documentation is its README (below), so the two never disagree: the
//! stack is drawn once, under [The stack](#the-stack), and every Rust block in it is
//! compiled as a doctest.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod api_call;
pub mod ask;
pub mod auth;
pub mod background;
mod client;
mod env;
pub mod envelope;
mod error;
mod fleet;
pub mod in_flight;
pub mod journal;
pub mod messages;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod observe;
pub mod paginate;
pub mod rate_limit;
pub mod request;
pub mod retry;
pub mod runs;
pub mod sessions;
pub mod skills;
pub mod store;
pub mod timeout;
pub mod trace;
pub mod transport;
mod wire;

#[cfg(test)]
mod test_support;

#[cfg(feature = "testing")]
pub mod testing;

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
