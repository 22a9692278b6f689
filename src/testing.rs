//! The fake Feishu server for your tests (feature `testing`): the [`aily-fake`]
//! crate, re-exported, with the conversation's state read back as this crate's
//! types.
//!
//! [`aily-fake`] is an independent oracle: it shares no code with the client
//! and speaks only HTTP and JSON. Everything it offers is here under the same
//! names; [`FakeAily`] derefs to [`aily_fake::FakeAily`] and adds
//! [`session_runs`](FakeAily::session_runs) and
//! [`session_messages`](FakeAily::session_messages), which decode the fake's
//! JSON into [`Run`] and [`Message`]. The fake's own reference (routes, checks,
//! faults, scripted replies, the request log) is in [`aily_fake`].
//!
//! It is a real hyper server on `127.0.0.1:0`, HTTP/1.1 and h2c, or HTTPS with a
//! generated certificate (`start_tls`, `ca_cert_der`). It serves the tenant-token
//! endpoint and every conversation endpoint the client covers — sessions (create, get,
//! update, delete), messages (create, get, list) and runs (create, list, get, cancel),
//! plus routes you script with `FakeAily::route` — with the platform's semantics
//! (envelope, `X-Tt-Logid`, 99991661 / 99991663 / 99991668 / 99991671 for token
//! problems, 2700001 for invalid params, pagination, runs that progress on a script and
//! answer with an assistant message). It records every request, and plays scripted
//! faults on any route: any status, 429 with `x-ogw-ratelimit-reset`, code 99991400,
//! token invalid, delayed headers, a stalled body, a reset connection, malformed JSON,
//! an oversized body, wrong field types, a non-JSON body. It also enforces per-app rate
//! limits (`set_rate_limit(Route::CancelRun, FakeRateLimit::per_second(50))`: 429 +
//! `99991400` + `x-ogw-ratelimit-reset` past the limit, `refuse_next` for one scripted
//! reset) and counts what it accepted and refused (`rate_limit_counts`,
//! `rate_limit_arrivals`). Outside Rust, `aily fake` (crate `aily-cli`) serves the same
//! fake from a shell.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use aily_client::testing::FakeAily;
//! use aily_client::{Client, Credentials};
//!
//! let fake = FakeAily::start().await?;
//! fake.add_tenant_token("t-test");
//! fake.add_run("session_1", "run_1");
//! let client = Client::builder()
//!     .credentials(Credentials::tenant_token("t-test"))
//!     .base_url(fake.base_url())
//!     .build()?;
//! client.cancel_run("session_1", "run_1").await?;
//! let runs = fake.session_runs("session_1").unwrap_or_default();
//! assert!(runs[0].status.is_terminal());
//! # Ok(())
//! # }
//! ```
//!
//! [`aily-fake`]: aily_fake

pub use aily_fake::*;

use std::ops::{Deref, DerefMut};

use serde::de::DeserializeOwned;

use crate::Run;
use crate::api::messages::Message;

/// [`aily_fake::FakeAily`], with its state read back as this crate's types.
///
/// Every method of the fake is reachable through `Deref`.
#[derive(Debug)]
pub struct FakeAily(aily_fake::FakeAily);

impl FakeAily {
    /// Starts the fake on a free port of `127.0.0.1` (HTTP/1.1 and h2c):
    /// [`aily_fake::FakeAily::start`].
    pub async fn start() -> std::io::Result<FakeAily> {
        aily_fake::FakeAily::start().await.map(FakeAily)
    }

    /// Starts the fake on `port` of `127.0.0.1` (0: a free one):
    /// [`aily_fake::FakeAily::start_on_port`].
    pub async fn start_on_port(port: u16) -> std::io::Result<FakeAily> {
        aily_fake::FakeAily::start_on_port(port).await.map(FakeAily)
    }

    /// Starts the fake behind TLS with a fresh self-signed certificate:
    /// [`aily_fake::FakeAily::start_tls`].
    pub async fn start_tls() -> std::io::Result<FakeAily> {
        aily_fake::FakeAily::start_tls().await.map(FakeAily)
    }

    /// The session's runs now, oldest first (all pages), as [`Run`]s; `None`
    /// if there is no such session. Runs the client could not decode are left
    /// out (see [`aily_fake::FakeAily::session_runs_json`] for the raw JSON).
    pub fn session_runs(&self, session_id: &str) -> Option<Vec<Run>> {
        self.0.session_runs_json(session_id).map(decode_all)
    }

    /// The session's visible messages now, oldest first, as the list endpoint
    /// with `with_partial_message=true` would return them (all pages), as
    /// [`Message`]s; `None` if there is no such session.
    pub fn session_messages(&self, session_id: &str) -> Option<Vec<Message>> {
        self.0.session_messages_json(session_id).map(decode_all)
    }

    /// The fake itself.
    pub fn into_inner(self) -> aily_fake::FakeAily {
        self.0
    }
}

impl Deref for FakeAily {
    type Target = aily_fake::FakeAily;

    fn deref(&self) -> &aily_fake::FakeAily {
        &self.0
    }
}

impl DerefMut for FakeAily {
    fn deref_mut(&mut self) -> &mut aily_fake::FakeAily {
        &mut self.0
    }
}

fn decode_all<T: DeserializeOwned>(json: Vec<serde_json::Value>) -> Vec<T> {
    json.into_iter()
        .filter_map(|value| serde_json::from_value(value).ok())
        .collect()
}
