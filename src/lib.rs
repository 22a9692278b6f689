//! The crate's documentation is its README (below), so the two never disagree: the
//! stack is drawn once, under [The stack](#the-stack), and every Rust block in it is
//! compiled as a doctest.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod api;
pub mod ask;
pub mod auth;
pub mod background;
mod client;
mod error;
mod fleet;
mod layers;
pub mod transport;

#[cfg(test)]
mod test_support;

#[cfg(feature = "testing")]
pub mod testing;

// The public modules keep their paths: the endpoints (`api/`), the typed-tier
// layers (`layers/`) and fleet mode (`fleet/`) are folders of the tree, not of the API.
pub use api::{envelope, messages, paginate, request, runs, sessions, skills};
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
