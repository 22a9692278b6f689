//! The crate's `Client` over real TCP to `FakeAily`: one module a subject.
//!
//! * `cancel`: cancel a run end to end; transports, errors, limits, configuration.
//! * `lifecycle`: every conversation endpoint, its errors and retry class, pages.
//! * `ask`: the conversation helper, and cancel on drop.
//! * `wait`: reading a run, cancel-then-wait.
//! * `skills`, `skill_start`: the skill endpoints.
//! * `data_assets`: the data-asset endpoints, the multipart upload.
//! * `app_stats`, `agents`: app stats; the agents' chats, sessions, attachments, artifacts.
//! * `agent_stream`: the agent chat's event stream and its fallback to chat get.
//! * `knowledge`: knowledge ask, streamed and buffered.
//! * `published_limits`: the published rate limits, against the fake enforcing them.
//! * `resilience`: the fault matrix (attempts and the final result per fault).
//! * `retryable`: `Error::is_retryable()` agrees with the retry policy.
//! * `causes`: a connect error names its OS or TLS cause.
//! * `tokens`, `user_tokens`: tenant tokens, user tokens, keyless tokens, store apps.
//! * `user_stack`: the crate inside a user's own tower stack.
#![cfg(feature = "testing")]

#[path = "../support/mod.rs"]
mod support;

mod agent_stream;
mod agents;
mod app_stats;
mod ask;
mod cancel;
mod causes;
mod data_assets;
/// The fake's conversation replies, sent with bare hyper and read with the client's models.
mod fake_replies;
mod knowledge;
mod lifecycle;
mod published_limits;
mod resilience;
mod retryable;
mod skill_start;
mod skills;
mod tokens;
mod user_stack;
mod user_tokens;
mod wait;
/// Bare hyper requests to the fake (shared with the fake's own tests).
#[path = "../../crates/aily-fake/tests/fake/wire.rs"]
mod wire;
