//! The Redis stores (feature `redis`): [`RedisRateLimitStore`] and [`RedisTokenStore`],
//! sharing one [`RedisBackend`] — a lazily opened, self-reconnecting
//! [`redis::aio::ConnectionManager`] from the `redis` crate, with a
//! time budget per command and an outage detector.
//!
//! # Keys
//!
//! With the default prefix `aily:` (see [`RedisConfig::key_prefix`]); `{…}` is a Redis
//! Cluster hash tag, so one app's keys share a slot and a script may use them together:
//!
//! | key | holds |
//! | --- | --- |
//! | `aily:{<app>}:rl:<operation>:s`, `…:m` | GCRA theoretical arrival time (µs of Redis `TIME`) of the per-second and per-minute windows; `PX` = until it no longer matters |
//! | `aily:{<app>}:rl:<operation>:penalty` | present while Feishu's `x-ogw-ratelimit-reset` runs; `PX` = the reset |
//! | `aily:{<token>}:token` | the tenant token and its expiry, sealed together (AES-256-GCM, key from the app secret); `PX` = the token's time left (a replica uses the shorter of `PTTL` and the sealed expiry) |
//! | `aily:{<token>}:token-lock` | the fetch lock: a random value, `SET NX PX` (the attempt timeout) |
//!
//! `<app>` is a fingerprint of the base URL and app id; `<token>` one of the base URL,
//! app id and app secret ([`TokenKey`]). Neither reveals a secret.
//!
//! # Failure
//!
//! Connecting and every command until Redis first answers have a budget that survives
//! a loaded machine ([`RedisConfig::connect_budget`], default 1 s); from then on every
//! command has a tight one ([`RedisConfig::budget`], default 50 ms). A command that
//! fails, times out or answers something unexpected makes the backend *down*: one
//! WARN event (`aily_client::store::redis`, "redis unreachable; this replica stops
//! sharing …"), and every command skipped or failed meanwhile counts in the metric
//! `aily.client.store.fallbacks` (feature `metrics`); then calls skip Redis —
//! the rate limiter decides in process (the quota divided by
//! [`RedisConfig::expected_replicas`]), the token source fetches its own token —
//! and one call per probe interval (250 ms) tries Redis again. The first success logs
//! "redis answers again" at INFO, and the fleet shares again. No call fails because
//! Redis failed.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script};

use super::seal::{ID_LEN, Sealer};
use super::{StoreError, StoreFuture};
use crate::TokenKind;
use crate::auth::{
    AccessToken, LockId, StoredToken, TokenKey, TokenStore, UserKey, UserLock, UserTokenStore,
    UserTokens, poll_lock,
};
use crate::error::Error;
use crate::layers::rate_limit::{
    Admission, LocalRateLimitStore, MAX_SERVER_RESET, Quota, RateLimitKey, RateLimitStore,
    capped_reset,
};

/// The default budget of one Redis command, once Redis has answered.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(50);
/// The default budget of connecting and of every command until Redis first answers.
pub const DEFAULT_CONNECT_BUDGET: Duration = Duration::from_secs(1);
/// The longest lifetime a saved token is sealed with (a tenant token lives 2 h).
const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// While Redis is down, one call per this interval tries it again.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// Every rate-limit decision: penalty and all windows, atomically, on Redis `TIME`.
/// KEYS[1] = penalty, KEYS[2..] = windows; ARGV[1] = max wait (µs), ARGV[2] = the
/// longest penalty honoured (ms), then per window its interval and tolerance (µs).
/// Returns {admitted (0/1), wait (µs)}.
///
/// Whatever another writer left in the keys is bounded here: a penalty counts for at
/// most ARGV[2]; a window's value that is not a finite number of µs within an hour of
/// now (`nan`, `inf`, text, a hash or list: wrong type) counts as absent, and is
/// overwritten when a slot is taken.
const ACQUIRE: &str = include_str!("lua/acquire.lua");

/// Extends (never shortens) a penalty, to at most ARGV[2] ms; a penalty longer than
/// that (another writer's) is cut to it. KEYS[1] = penalty; ARGV[1] = ms.
const PENALIZE: &str = include_str!("lua/penalize.lua");

/// A value and its time left, in one step. A key of the wrong type (not a string)
/// holds no token: a miss, overwritten by the next save.
const LOAD: &str = include_str!("lua/load.lua");

/// Deletes KEYS[1] if its value starts with ARGV[1] (a token id, or a whole lock value).
const COMPARE_AND_DELETE: &str = include_str!("lua/compare_and_delete.lua");
/// Saves a user token record under its lock, compare-and-swap on the generation.
const USER_SAVE: &str = include_str!("lua/user_save.lua");

static ACQUIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ACQUIRE));
static PENALIZE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(PENALIZE));
static LOAD_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LOAD));
static CAD_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(COMPARE_AND_DELETE));
static USER_SAVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(USER_SAVE));

/// Where the fleet's Redis is and how to use it.
///
/// `Debug` shows the scheme, host and port, never a password in the URL.
///
/// ```
/// use std::time::Duration;
/// use aily_client::store::redis::RedisConfig;
///
/// let config = RedisConfig::new("redis://:hunter2@10.0.0.5:6379/0")
///     .key_prefix("billing:aily:")
///     .budget(Duration::from_millis(30))
///     .connect_budget(Duration::from_secs(2))
///     .expected_replicas(8)
///     .allow_insecure(true); // plain redis:// to a host that is not loopback
/// assert!(!format!("{config:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    prefix: String,
    budget: Duration,
    connect_budget: Duration,
    expected_replicas: u32,
    allow_insecure: bool,
}

impl RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS, feature
    /// `redis-tls`) or `redis+unix:///path`.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            prefix: "aily:".to_owned(),
            budget: DEFAULT_BUDGET,
            connect_budget: DEFAULT_CONNECT_BUDGET,
            expected_replicas: 1,
            allow_insecure: false,
        }
    }

    /// Put before every key (default `aily:`), to share one Redis between services.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> RedisConfig {
        self.prefix = prefix.into();
        self
    }

    /// The longest one command may take, once Redis has answered, before Redis
    /// counts as down for the call (default 50 ms).
    pub fn budget(mut self, budget: Duration) -> RedisConfig {
        self.budget = budget;
        self
    }

    /// The longest connecting, and every command until Redis first answers, may take
    /// (default 1 s, at least the [`budget`](RedisConfig::budget)): a cold start on a
    /// busy machine is slow once, and should not stop this replica sharing.
    pub fn connect_budget(mut self, budget: Duration) -> RedisConfig {
        self.connect_budget = budget;
        self
    }

    /// Allows plain `redis://` to a host that is not loopback (default: refused when
    /// the backend is made, before anything connects). Without TLS a network
    /// observer sees the keys, the sealed token and the password in `AUTH`; prefer
    /// `rediss://` (feature `redis-tls`), or set this for a trusted network.
    pub fn allow_insecure(mut self, allow: bool) -> RedisConfig {
        self.allow_insecure = allow;
        self
    }

    /// How many replicas share the quota: while Redis is down each one limits itself
    /// to its share (default 1: the whole quota, which may overshoot by the number of
    /// replicas; the server's 429s are then waited out as usual).
    pub fn expected_replicas(mut self, replicas: u32) -> RedisConfig {
        self.expected_replicas = replicas.max(1);
        self
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted_url(&self.url))
            .field("prefix", &self.prefix)
            .field("budget", &self.budget)
            .field("connect_budget", &self.connect_budget)
            .field("expected_replicas", &self.expected_replicas)
            .field("allow_insecure", &self.allow_insecure)
            .finish()
    }
}

/// `localhost` or a loopback address (IPv6 with or without brackets).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `scheme://host:port` without credentials, path or query.
fn redacted_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("?", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

/// One connection to Redis (opened on first use, reconnecting by itself) and its
/// health, shared by the stores made from it.
///
/// ```
/// use aily_client::store::redis::{RedisBackend, RedisConfig};
///
/// let backend = RedisBackend::new(RedisConfig::new("redis://127.0.0.1:6379"))?;
/// let limits = backend.rate_limit_store();
/// let tokens = backend.token_store();
/// # let _ = (limits, tokens);
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    client: redis::Client,
    conn: OnceLock<ConnectionManager>,
    down: AtomicBool,
    /// Whether Redis has answered a command yet (the connect budget applies until then).
    answered: AtomicBool,
    /// Milliseconds since `epoch` when a down backend may be tried again.
    next_probe: AtomicU64,
    epoch: std::time::Instant,
}

impl RedisBackend {
    /// Checks the URL; connects only when first used (so it may run outside a runtime,
    /// and a client starts even while Redis is down). Plain `redis://` to a host that
    /// is not loopback is refused here unless [`RedisConfig::allow_insecure`] is set.
    ///
    /// ```
    /// use aily_client::store::redis::{RedisBackend, RedisConfig};
    /// let err = RedisBackend::new(RedisConfig::new("redis://10.0.0.1:6379")).unwrap_err();
    /// assert!(err.to_string().contains("allow_insecure"), "{err}");
    /// assert!(RedisBackend::new(RedisConfig::new("redis://10.0.0.1:6379").allow_insecure(true)).is_ok());
    /// ```
    pub fn new(config: RedisConfig) -> Result<RedisBackend, Error> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            Error::config(format!(
                "invalid redis URL {}: {}",
                redacted_url(&config.url),
                e.category()
            ))
        })?;
        if !config.allow_insecure
            && let redis::ConnectionAddr::Tcp(host, _) = client.get_connection_info().addr()
            && !is_loopback(host)
        {
            return Err(Error::config(format!(
                "refusing plain redis:// to {}, which is not loopback: the token (sealed), \
                 the keys and the password would cross the network in clear; use rediss://, \
                 or allow_insecure(true) (ClientBuilder::allow_insecure_redis) for a trusted network",
                redacted_url(&config.url)
            )));
        }
        Ok(RedisBackend {
            inner: Arc::new(Inner {
                config,
                client,
                conn: OnceLock::new(),
                down: AtomicBool::new(false),
                answered: AtomicBool::new(false),
                next_probe: AtomicU64::new(0),
                epoch: std::time::Instant::now(),
            }),
        })
    }

    /// The rate-limit store on this backend.
    pub fn rate_limit_store(&self) -> RedisRateLimitStore {
        RedisRateLimitStore {
            backend: self.clone(),
            fallback: LocalRateLimitStore::new(),
        }
    }

    /// The token store on this backend.
    pub fn token_store(&self) -> RedisTokenStore {
        RedisTokenStore {
            backend: self.clone(),
        }
    }

    /// The user token store on this backend, sealing records with `app_secret`
    /// (AES-256-GCM, as the tenant token): Redis holds no token in clear.
    pub fn user_token_store(&self, app_secret: &crate::SecretString) -> RedisUserTokenStore {
        RedisUserTokenStore {
            backend: self.clone(),
            secret: app_secret.clone(),
        }
    }

    /// Whether the last command succeeded (or none was sent yet).
    pub fn is_up(&self) -> bool {
        !self.inner.down.load(Ordering::Acquire)
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.config.prefix
    }

    fn now_ms(&self) -> u64 {
        self.inner.epoch.elapsed().as_millis() as u64
    }

    /// Whether this call may use Redis: always while up; while down, one call per
    /// probe interval.
    fn may_try(&self) -> bool {
        if self.is_up() {
            return true;
        }
        let now = self.now_ms();
        let next = self.inner.next_probe.load(Ordering::Acquire);
        now >= next
            && self
                .inner
                .next_probe
                .compare_exchange(
                    next,
                    now + PROBE_INTERVAL.as_millis() as u64,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    fn failed(&self, what: &'static str, why: &str) -> StoreError {
        self.inner.next_probe.store(
            self.now_ms() + PROBE_INTERVAL.as_millis() as u64,
            Ordering::Release,
        );
        if !self.inner.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(target: "aily_client::store::redis", { redis.server = %redacted_url(&self.inner.config.url),
                redis.command = what,
                error = why }, "redis unreachable; this replica stops sharing tokens and rate limits (in-process ones until it answers)");
        }
        StoreError::new(format!("redis {what}: {why}"))
    }

    fn succeeded(&self) {
        if self.inner.down.swap(false, Ordering::AcqRel) {
            tracing::info!(target: "aily_client::store::redis", { redis.server = %redacted_url(&self.inner.config.url) }, "redis answers again; sharing tokens and rate limits through it");
        }
    }

    fn connection(&self) -> Result<ConnectionManager, String> {
        if let Some(conn) = self.inner.conn.get() {
            return Ok(conn.clone());
        }
        let timeout = self.connect_budget().max(Duration::from_millis(250));
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(PROBE_INTERVAL);
        let conn = ConnectionManager::new_lazy_with_config(self.inner.client.clone(), config)
            .map_err(|e| e.category().to_owned())?;
        Ok(self.inner.conn.get_or_init(|| conn).clone())
    }

    /// Runs one command within the budget, tracking the backend's health.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        what: &'static str,
        command: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let answered = self.try_run(what, command).await;
        if answered.is_err() {
            crate::layers::observe::record::store_fallback(what);
        }
        answered
    }

    /// [`run`](Self::run) without the count of fallbacks.
    async fn try_run<T, F, Fut>(&self, what: &'static str, command: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if !self.may_try() {
            return Err(StoreError::new("redis is down; not tried"));
        }
        let conn = self.connection().map_err(|e| self.failed(what, &e))?;
        // Until Redis first answers (connecting, a cold machine), the connect budget;
        // then the tight one.
        let budget = if self.inner.answered.load(Ordering::Acquire) {
            self.inner.config.budget
        } else {
            self.connect_budget()
        };
        match tokio::time::timeout(budget, command(conn)).await {
            Ok(Ok(value)) => {
                self.inner.answered.store(true, Ordering::Release);
                self.succeeded();
                Ok(value)
            }
            Ok(Err(e)) => Err(self.failed(what, &e.to_string())),
            Err(_) => Err(self.failed(what, "no answer within the budget")),
        }
    }

    fn connect_budget(&self) -> Duration {
        self.inner
            .config
            .connect_budget
            .max(self.inner.config.budget)
    }

    /// `SET name value NX PX ms`: whether the key was set (a lock taken).
    async fn set_nx_px(
        &self,
        what: &'static str,
        name: &str,
        value: &str,
        ms: i64,
    ) -> Result<bool, StoreError> {
        let taken: Option<String> = self
            .run(what, |mut conn| async move {
                redis::cmd("SET")
                    .arg(name)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(taken.is_some())
    }

    pub(crate) fn key(&self, tag: &str, rest: &str) -> String {
        format!("{}{{{tag}}}:{rest}", self.inner.config.prefix)
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("config", &self.inner.config)
            .field("up", &self.is_up())
            .finish()
    }
}

/// The fleet's rate limits in Redis: every decision is one Lua script (GCRA over the
/// penalty and all windows, Redis `TIME` as the clock). While Redis is down it decides
/// in process with the quota divided by [`RedisConfig::expected_replicas`]; it never
/// fails.
///
/// ```
/// use std::sync::Arc;
/// use aily_client::rate_limit::Quota;
/// use aily_client::store::redis::{RedisBackend, RedisConfig};
/// use aily_client::{Client, Credentials};
///
/// let backend = RedisBackend::new(RedisConfig::new("redis://127.0.0.1:6379").expected_replicas(8))?;
/// let client = Client::builder()
///     .credentials(Credentials::app("cli_a1", "secret"))
///     .quota(Quota::per_second(45))
///     .rate_limit_store(Arc::new(backend.rate_limit_store()))
///     .token_store(Arc::new(backend.token_store()))
///     .build()?;
/// # let _ = client;
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisRateLimitStore {
    backend: RedisBackend,
    fallback: LocalRateLimitStore,
}

impl RedisRateLimitStore {
    fn keys(&self, key: &RateLimitKey) -> [String; 3] {
        let base = format!("rl:{}", key.operation());
        [
            self.backend.key(key.scope(), &format!("{base}:penalty")),
            self.backend.key(key.scope(), &format!("{base}:s")),
            self.backend.key(key.scope(), &format!("{base}:m")),
        ]
    }

    async fn acquire_redis(
        &self,
        key: &RateLimitKey,
        quota: Option<&Quota>,
        max_wait: Duration,
    ) -> Result<Admission, StoreError> {
        let [penalty, per_second, per_minute] = self.keys(key);
        let mut invocation = ACQUIRE_SCRIPT.key(&penalty);
        invocation
            .arg(max_wait.as_micros().min(i64::MAX as u128) as i64)
            .arg(MAX_SERVER_RESET.as_millis() as i64);
        if let Some(q) = quota {
            for w in q.windows() {
                let name = if w.period() == Duration::from_secs(1) {
                    &per_second
                } else {
                    &per_minute
                };
                invocation
                    .key(name)
                    .arg(w.interval_micros())
                    .arg(w.tolerance_micros());
            }
        }
        let reply: Vec<i64> = self
            .backend
            .run("acquire", |mut conn| async move {
                invocation.invoke_async(&mut conn).await
            })
            .await?;
        // Bounded where it enters: no wait from Redis is longer than an hour (the
        // script never makes one; a longer one is a broken server's).
        match reply.as_slice() {
            [admitted, wait] if (0..=3_600_000_000).contains(wait) => {
                let wait = Duration::from_micros(*wait as u64);
                Ok(if *admitted == 1 {
                    Admission::Admitted { wait }
                } else {
                    Admission::Refused { retry_after: wait }
                })
            }
            _ => Err(self.backend.failed("acquire", "unexpected reply")),
        }
    }
}

impl RateLimitStore for RedisRateLimitStore {
    fn acquire<'a>(
        &'a self,
        key: &'a RateLimitKey,
        quota: Option<&'a Quota>,
        max_wait: Duration,
    ) -> StoreFuture<'a, Admission> {
        Box::pin(async move {
            match self.acquire_redis(key, quota, max_wait).await {
                Ok(admission) => Ok(admission),
                Err(e) => {
                    tracing::debug!(target: "aily_client::store::redis", { error = %e, rate_limit.key = %key }, "rate limit decided in process");
                    let share =
                        quota.map(|q| q.divided(self.backend.inner.config.expected_replicas));
                    Ok(self.fallback.acquire_now(key, share.as_ref(), max_wait))
                }
            }
        })
    }

    fn penalize<'a>(&'a self, key: &'a RateLimitKey, reset: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // Also in process: it holds this replica's calls should Redis go away.
            self.fallback.penalize_now(key, reset);
            let [penalty, ..] = self.keys(key);
            let ms = capped_reset(reset).as_millis().max(1) as i64;
            let mut invocation = PENALIZE_SCRIPT.key(&penalty);
            invocation.arg(ms).arg(MAX_SERVER_RESET.as_millis() as i64);
            self.backend
                .run("penalize", |mut conn| async move {
                    invocation.invoke_async::<i64>(&mut conn).await
                })
                .await
                .map(drop)
        })
    }

    fn penalty<'a>(&'a self, key: &'a RateLimitKey) -> StoreFuture<'a, Option<Duration>> {
        Box::pin(async move {
            let [penalty, ..] = self.keys(key);
            let ms: Result<i64, _> = self
                .backend
                .run("penalty", |mut conn| async move {
                    redis::cmd("PTTL")
                        .arg(&penalty)
                        .query_async(&mut conn)
                        .await
                })
                .await;
            match ms {
                Ok(ms) => Ok((ms > 0).then(|| capped_reset(Duration::from_millis(ms as u64)))),
                Err(_) => Ok(self.fallback.penalty_now(key)),
            }
        })
    }
}

/// The fleet's tenant token in Redis, sealed with AES-256-GCM under a key derived from
/// the app secret (see the module docs for the keys). Every method may fail with a
/// [`StoreError`]; the token source then fetches its own token.
///
/// ```
/// use std::sync::Arc;
/// use aily_client::store::redis::{RedisBackend, RedisConfig};
/// use aily_client::{Client, Credentials};
///
/// let backend = RedisBackend::new(RedisConfig::new("redis://127.0.0.1:6379"))?;
/// let client = Client::builder()
///     .credentials(Credentials::app("cli_a1", "secret"))
///     .token_store(Arc::new(backend.token_store()))
///     .build()?;
/// # let _ = client;
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisTokenStore {
    backend: RedisBackend,
}

impl RedisTokenStore {
    fn token_key(&self, key: &TokenKey) -> String {
        self.backend.key(key.fingerprint(), "token")
    }

    fn lock_key(&self, key: &TokenKey) -> String {
        self.backend.key(key.fingerprint(), "token-lock")
    }

    fn sealer(key: &TokenKey) -> Result<Sealer, StoreError> {
        Sealer::new(key.app_secret().expose(), key.fingerprint())
            .ok_or_else(|| StoreError::new("cannot derive the token sealing key"))
    }
}

impl TokenStore for RedisTokenStore {
    fn load<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<StoredToken>> {
        Box::pin(async move {
            let name = self.token_key(key);
            let invocation = LOAD_SCRIPT.key(&name);
            let found: Option<(Vec<u8>, i64)> = self
                .backend
                .run("load token", |mut conn| async move {
                    invocation.invoke_async(&mut conn).await
                })
                .await?;
            let Some((value, pttl)) = found else {
                return Ok(None);
            };
            // A value that does not open (another secret, tampering, garbage) is no
            // token: the fleet fetches a new one and overwrites it.
            let Some((token, expires_at)) = Self::sealer(key)?.open(&name, &value) else {
                return Ok(None);
            };
            let Ok(token) = AccessToken::new(TokenKind::Tenant, token) else {
                return Ok(None);
            };
            // The lifetime is the sealed (authenticated) expiry's, which a Redis
            // writer cannot extend; PTTL may only shorten it. Expired: a miss.
            let sealed_left = expires_at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let ttl = Duration::from_millis(pttl.max(0) as u64).min(sealed_left);
            Ok((!ttl.is_zero()).then_some(StoredToken { token, ttl }))
        })
    }

    fn save<'a>(
        &'a self,
        key: &'a TokenKey,
        token: &'a AccessToken,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.token_key(key);
            let ttl = ttl.min(MAX_TOKEN_TTL);
            let expires_at = SystemTime::now() + ttl;
            let value = Self::sealer(key)?
                .seal(&name, token.secret(), expires_at)
                .ok_or_else(|| StoreError::new("cannot seal the token"))?;
            let ms = ttl.as_millis().clamp(1, i64::MAX as u128) as i64;
            self.backend
                .run("save token", |mut conn| async move {
                    redis::cmd("SET")
                        .arg(&name)
                        .arg(value)
                        .arg("PX")
                        .arg(ms)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await
        })
    }

    fn lock<'a>(&'a self, key: &'a TokenKey, ttl: Duration) -> StoreFuture<'a, Option<LockId>> {
        Box::pin(async move {
            let name = self.lock_key(key);
            let id = LockId::random();
            let ms = ttl.as_millis().clamp(1, i64::MAX as u128) as i64;
            let taken = self
                .backend
                .set_nx_px("lock token", &name, id.as_str(), ms)
                .await?;
            Ok(taken.then_some(id))
        })
    }

    fn unlock<'a>(&'a self, key: &'a TokenKey, lock: &'a LockId) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.lock_key(key);
            let mut invocation = CAD_SCRIPT.key(&name);
            invocation.arg(lock.as_str());
            self.backend
                .run("unlock token", |mut conn| async move {
                    invocation.invoke_async::<i64>(&mut conn).await
                })
                .await
                .map(drop)
        })
    }

    fn invalidate<'a>(
        &'a self,
        key: &'a TokenKey,
        token: &'a AccessToken,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let name = self.token_key(key);
            let id = Self::sealer(key)?.token_id(token.secret());
            debug_assert_eq!(id.len(), ID_LEN);
            let mut invocation = CAD_SCRIPT.key(&name);
            invocation.arg(id);
            let deleted: i64 = self
                .backend
                .run("invalidate token", |mut conn| async move {
                    invocation.invoke_async(&mut conn).await
                })
                .await?;
            Ok(deleted == 1)
        })
    }
}

/// User tokens in Redis, for a fleet: each record sealed (AES-256-GCM, key from the
/// app secret), the rotation under a fleet-wide lock (`SET NX PX` with a random id,
/// released by compare-and-delete) and saved by a script that checks both the lock's
/// id (fencing: a holder whose lock expired cannot write) and the generation.
#[derive(Debug)]
pub struct RedisUserTokenStore {
    backend: RedisBackend,
    secret: crate::SecretString,
}

impl RedisUserTokenStore {
    fn sealer(&self, key: &UserKey) -> Result<Sealer, StoreError> {
        Sealer::new(self.secret.expose(), key.fingerprint())
            .ok_or_else(|| StoreError::new("cannot derive the user token sealing key"))
    }
}

impl UserTokenStore for RedisUserTokenStore {
    fn load<'a>(&'a self, key: &'a UserKey) -> StoreFuture<'a, Option<UserTokens>> {
        Box::pin(async move {
            let name = self.backend.key(key.fingerprint(), "user");
            let found: Option<Vec<u8>> = self
                .backend
                .run("load user token", |mut conn| async move {
                    redis::cmd("HGET")
                        .arg(&name)
                        .arg("data")
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            let Some(value) = found else { return Ok(None) };
            let name = self.backend.key(key.fingerprint(), "user");
            let Some((text, _)) = self.sealer(key)?.open(&name, &value) else {
                return Err(StoreError::new(
                    "the stored user token does not open (another app secret?)",
                ));
            };
            let text = zeroize::Zeroizing::new(text);
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| StoreError::new("the stored user token is not a record"))
        })
    }

    fn lock<'a>(&'a self, key: &'a UserKey, wait: Duration) -> StoreFuture<'a, UserLock> {
        Box::pin(async move {
            let name = self.backend.key(key.fingerprint(), "user-lock");
            let id = LockId::random();
            // Held at most the wait (the refresh budget), so a replica that died
            // holding it does not block the others for longer.
            let ms = wait.as_millis().clamp(1, i64::MAX as u128) as i64;
            poll_lock(wait, "user token lock", || async {
                let taken = self
                    .backend
                    .set_nx_px("lock user token", &name, id.as_str(), ms)
                    .await?;
                Ok(taken.then_some(()))
            })
            .await?;
            Ok(UserLock::new(id))
        })
    }

    fn save<'a>(
        &'a self,
        key: &'a UserKey,
        lock: &'a UserLock,
        tokens: &'a UserTokens,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let name = self.backend.key(key.fingerprint(), "user");
            let text = zeroize::Zeroizing::new(
                serde_json::to_string(tokens).map_err(|_| StoreError::new("cannot encode"))?,
            );
            // Kept while the refresh token lives (at least a day for a record without one).
            let until = tokens.refresh_expires_at.max(tokens.access_expires_at);
            let left = Duration::from_secs(until.saturating_sub(crate::auth::unix_now()))
                .max(Duration::from_secs(24 * 3600));
            let sealed = self
                .sealer(key)?
                .seal(&name, &text, SystemTime::now() + left)
                .ok_or_else(|| StoreError::new("cannot seal the user token"))?;
            let mut invocation = USER_SAVE_SCRIPT.key(&name);
            invocation
                .key(self.backend.key(key.fingerprint(), "user-lock"))
                .arg(lock.id().as_str())
                .arg(tokens.generation)
                .arg(sealed)
                .arg(left.as_millis().min(i64::MAX as u128) as i64);
            let saved: i64 = self
                .backend
                .run("save user token", |mut conn| async move {
                    invocation.invoke_async(&mut conn).await
                })
                .await?;
            match saved {
                1 => Ok(true),
                0 => Ok(false),
                _ => Err(StoreError::new(
                    "the user token lock expired before the save",
                )),
            }
        })
    }

    fn unlock<'a>(&'a self, key: &'a UserKey, lock: UserLock) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.backend.key(key.fingerprint(), "user-lock");
            let mut invocation = CAD_SCRIPT.key(&name);
            invocation.arg(lock.id().as_str());
            self.backend
                .run("unlock user token", |mut conn| async move {
                    invocation.invoke_async::<i64>(&mut conn).await
                })
                .await
                .map(drop)
        })
    }

    fn clear<'a>(&'a self, key: &'a UserKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.backend.key(key.fingerprint(), "user");
            self.backend
                .run("clear user token", |mut conn| async move {
                    redis::cmd("DEL")
                        .arg(&name)
                        .query_async::<i64>(&mut conn)
                        .await
                })
                .await
                .map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redacted_url("redis://:pw@host:6379/2"), "redis://host:6379");
        assert_eq!(redacted_url("rediss://u:p@h/0?x=1"), "rediss://h");
        assert_eq!(redacted_url("redis://127.0.0.1:1"), "redis://127.0.0.1:1");
    }
}
