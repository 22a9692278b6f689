//! Shared state for a fleet of replicas: what the [`RateLimitStore`](crate::layers::rate_limit::RateLimitStore)
//! and [`TokenStore`](crate::auth::TokenStore) traits have in common ([`StoreError`],
//! [`StoreFuture`], [`fingerprint`]), and — with feature `redis` — their Redis
//! implementations in [`redis`].
//!
//! A store is an optimisation, never a dependency: every caller of a store treats an
//! error as "the store is not there" and carries on with its in-process behaviour.
//!
//! # Running many replicas
//!
//! Every replica of a service uses the same Feishu app, and Feishu limits each API
//! *per app* (create run: 100/min; create session: 1000/min and 50/s). Without fleet
//! mode each [`Client`](crate::Client) is an island: each fetches and refreshes its own
//! tenant token, and each learns about the limit only when Feishu answers it 429 /
//! `99991400` — while the other replicas keep sending into the same limit. Fleet mode
//! puts the count, the penalty and the token where the whole fleet sees them: Redis
//! (feature `redis`, off by default; a single process needs nothing). The design — the
//! one Lua script and its one clock, the key layout, what a Redis reader or writer can
//! and cannot do, the failure model, and what was measured — is `docs/fleet.md` in the
//! repository.
//!
//! ```no_run
//! use aily_client::rate_limit::Quota;
//! # #[cfg(feature = "redis")]
//! use aily_client::store::redis::RedisConfig;
//! use aily_client::runs::CreateRunRequest;
//! use aily_client::{AilyRequest, Client, Credentials};
//!
//! # #[cfg(feature = "redis")]
//! # fn example() -> Result<(), aily_client::Error> {
//! let client = Client::builder()
//!     .credentials(Credentials::app("cli_a1b2", std::env::var("FEISHU_APP_SECRET").unwrap()))
//!     .redis_config(
//!         RedisConfig::new(std::env::var("AILY_REDIS_URL").unwrap()) // redis:// or rediss://
//!             .key_prefix("billing:aily:") // default "aily:"
//!             .expected_replicas(8),       // each replica's share while Redis is down
//!     )
//!     // Each operation under its published limit, with headroom:
//!     // cancel, get run, sessions, messages: 1000/min & 50/s.
//!     .quota(Quota::per_second(45).and_per_minute(850))
//!     // create run: 100/min (a per-minute window alone).
//!     .operation_quota(CreateRunRequest::OPERATION, Quota::per_minute(85))
//!     .build()?;
//! # let _ = client;
//! # Ok(()) }
//! # fn main() {}
//! ```
//!
//! `.redis(url)` is the short form. The stores are traits
//! ([`RateLimitStore`](crate::layers::rate_limit::RateLimitStore),
//! [`TokenStore`](crate::auth::TokenStore), object-safe and async), so
//! [`rate_limit_store`](crate::ClientBuilder::rate_limit_store) and
//! [`token_store`](crate::ClientBuilder::token_store) take any implementation:
//! [`LocalRateLimitStore`](crate::layers::rate_limit::LocalRateLimitStore) and
//! [`LocalTokenStore`](crate::auth::LocalTokenStore) share within a process, and with
//! feature `redis` `RedisRateLimitStore` and `RedisTokenStore` across processes:
//!
//! ```
//! use std::sync::Arc;
//! use aily_client::auth::LocalTokenStore;
//! use aily_client::rate_limit::{LocalRateLimitStore, Quota};
//! use aily_client::{Client, Credentials};
//!
//! // Two clients of one process share one count and one tenant token.
//! let limits = Arc::new(LocalRateLimitStore::new());
//! let tokens = Arc::new(LocalTokenStore::new());
//! let client = |name: &str| {
//!     Client::builder()
//!         .credentials(Credentials::app("cli_a1b2", "app secret"))
//!         .quota(Quota::per_second(45).and_per_minute(850))
//!         .rate_limit_store(limits.clone())
//!         .token_store(tokens.clone())
//!         .build()
//!         .map(|c| (name.to_owned(), c))
//! };
//! let (a, b) = (client("a")?, client("b")?);
//! # let _ = (a, b);
//! # Ok::<(), aily_client::Error>(())
//! ```
//!
//! [`ClientBuilder::from_env`](crate::ClientBuilder::from_env) (and the CLI) read
//! `AILY_REDIS_URL` (and `AILY_REDIS_BUDGET_MS`, `AILY_REDIS_CONNECT_BUDGET_MS`) from the
//! environment, never from argv. Plain `redis://` to a host that is not loopback is
//! refused when the client is built (nothing connects) unless
//! `allow_insecure_redis(true)` (`RedisConfig::allow_insecure`) is set — as plain
//! `http://` needs `allow_insecure_http(true)`; use `rediss://` across a network.
//!
//! ## The quota recipe
//!
//! Each window of a [`Quota`](crate::layers::rate_limit::Quota) has its own burst. A
//! per-second window bursts 1 (calls evenly spaced); a per-minute window of N bursts N/6
//! (ten seconds' worth), so beside a per-second window the per-second rate sets the
//! pace: `per_second(45).and_per_minute(850)` admits 45/s for over four seconds from a
//! quiet start, and any 60 s hold at most 850 + 141 = 991 calls. GCRA admits at most
//! count + burst − 1 in any one period, sliding or fixed, so the recipe keeps that sum
//! under Feishu's limit: **~90 % of a per-second limit, ~85 % of a per-minute limit**.
//! Feishu's published limits: 1000/min & 50/s for sessions, messages, get/list/cancel
//! run → `per_second(45).and_per_minute(850)`; 100/min for create run, skill start and
//! knowledge ask → `per_minute(85)`. `with_burst(n)` sets one burst for every window;
//! `with_second_burst` / `with_minute_burst` set one window's. How the limiter decides
//! (GCRA, the penalty box, the cap on a server's reset) is in
//! [`rate_limit`](crate::layers::rate_limit).
//!
//! ## When Redis fails
//!
//! Redis is never a single point of failure. Connecting, and every command until Redis
//! first answers, has a budget that survives a cold start on a busy machine (1 s,
//! `RedisConfig::connect_budget`, `AILY_REDIS_CONNECT_BUDGET_MS`); from then on every
//! command has a tight one (50 ms, `RedisConfig::budget`, `AILY_REDIS_BUDGET_MS`).
//! Redis down, slow past the budget or answering garbage makes the backend *down* for
//! that replica: **one WARN event per outage** (target `aily_client::store::redis`,
//! "redis unreachable; this replica stops sharing tokens and rate limits …"), and each
//! command skipped or failed counts in `aily.client.store.fallbacks` (feature
//! `metrics`); calls then decide in process — the local GCRA at the quota divided by
//! `expected_replicas`, the replica's own token fetch — and one call per 250 ms tries
//! Redis again. The first success logs "redis answers again" at INFO and the fleet
//! shares again. No call fails because Redis failed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
mod seal;

/// The boxed future a store method returns (the traits are object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store could not answer: unreachable, too slow, or an answer it did not understand.
/// Callers fall back to their in-process behaviour.
///
/// ```
/// let e = aily_client::store::StoreError::new("redis did not answer within 50 ms");
/// assert_eq!(e.to_string(), "redis did not answer within 50 ms");
/// ```
#[derive(Debug)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with this message (which must hold no secret).
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// The first 16 bytes of SHA-256 over the parts (each length-prefixed, so no two
/// lists of parts collide), in lower-case hex: names a key without revealing what
/// went into it. A secret among the parts cannot be recovered from the result, and a
/// different secret gives a different fingerprint.
///
/// ```
/// use aily_client::store::fingerprint;
/// let a = fingerprint(&["https://open.feishu.cn", "cli_a1", "secret-1"]);
/// let b = fingerprint(&["https://open.feishu.cn", "cli_a1", "secret-2"]);
/// assert_eq!(a.len(), 32);
/// assert_ne!(a, b);
/// assert!(!a.contains("secret"));
/// ```
pub fn fingerprint(parts: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"aily-client fingerprint v1");
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    hex(&ctx.finish().as_ref()[..16])
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xF) as usize] as char);
    }
    out
}
