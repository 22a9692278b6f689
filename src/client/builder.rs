//! [`ClientBuilder`]: every setting of a [`Client`], validated and turned into its
//! stack by [`build`](ClientBuilder::build).
//!
//! # Configuration
//!
//! | builder method | default | what it does |
//! | --- | --- | --- |
//! | `credentials(Credentials::…)` | required | `tenant_token`, `user_token`, `app(app_id, app_secret)`, or `source(impl TokenSource)` (see [`auth`](crate::auth)) |
//! | `base_url(url)` / `lark()` | `https://open.feishu.cn` | API host; `http://` only to loopback unless `allow_insecure_http(true)` |
//! | `connect_timeout(d)` | 5 s | TCP connect |
//! | `attempt_timeout(d)` | 10 s | one attempt: token, send, reading the whole body (also bounds a token request) |
//! | `overall_timeout(d)` | 30 s | the whole call |
//! | `max_response_bytes(n)` | 1 MiB | larger replies are a `BodyTooLarge` error, decided as the limit is crossed |
//! | `max_attempts(n)` | 3 | attempts per call, the first included; 1 turns retry off |
//! | `retry(RetryConfig)` | see [`retry`](crate::layers::retry) | backoff 200 ms doubling to 5 s (full jitter), max rate-limit wait 20 s, budget 0.2 retries per call + 10/s floor over 10 s |
//! | `token_refresh_margin(d)` | 3 min | refresh the tenant token this long before expiry |
//! | `add_root_certificate(der)` | — | trust an extra CA (test servers, private gateways) |
//! | `http2_prior_knowledge(bool)` | off | h2c over plain TCP; over TLS HTTP/2 is negotiated by ALPN anyway |
//! | `pool_idle_timeout(d)` | 90 s | idle pooled connections |
//! | `operation_span_level`, `attempt_span_level`, `retry_event_level` | INFO, DEBUG, WARN | see [`trace`](crate::layers::observe::trace) |
//! | `record_url_full(bool)` | off | `url.full` on the attempt span (the path holds IDs) |
//! | `observer(impl Observer)` | none | your own [`Observer`](crate::layers::observe::Observer), told of every call and attempt |
//! | `background_cancels(concurrency, timeout)` | 16, 10 s | the cancels of dropped runs (see [`background`](crate::background)) |
//! | `quota(Quota)` / `operation_quota(op, Quota)` | none | proactive rate limit per app and operation (see [`store`](crate::fleet::store)); per request: `with_extension(Quota)` |
//! | `published_rate_limits()` / `published_rate_limits_with_headroom(percent)` | off | each endpoint's published Feishu limit, less 10 % headroom (create run 90/min, create session 900/min & 45/s; the table: [`rate_limit::published`](crate::layers::rate_limit::published)), shared through the rate-limit store; `operation_quota` wins, `quota` covers endpoints without one |
//! | `rate_limit_store(Arc<dyn RateLimitStore>)` | in-process | where limits and penalties are kept; share one to share the count. Without a quota the in-process one is the penalty box alone: a server's reset (at most 60 s) holds that operation's next calls |
//! | `token_store(Arc<dyn TokenStore>)` | none | with app credentials: where the tenant token is shared |
//! | `redis(url)` / `redis_config(RedisConfig)` | off (feature `redis`) | both stores on Redis: `redis://`, `rediss://` (feature `redis-tls`), key prefix, budget per command (50 ms) and to connect (1 s), expected replicas |
//! | `allow_insecure_redis(bool)` | false | allow plain `redis://` to a host that is not loopback (refused at build otherwise) |
//! | `max_in_flight(n)` | 256 | attempts on the wire at once, shared by clones; the others wait their turn (not part of an attempt; bounded by the overall deadline). Over HTTP/1.1 each is a connection, and hyper-util's pool has no cap of its own; idle connections kept are capped at the same number |
//!
//! [`ClientBuilder::from_env`] reads the credentials, the base URL and (feature
//! `redis`) `AILY_REDIS_URL`, `AILY_REDIS_BUDGET_MS` and
//! `AILY_REDIS_CONNECT_BUDGET_MS` from the environment, as the `aily` CLI does.
//!
//! Per request ([`AilyRequest`](crate::AilyRequest)): `with_overall_timeout`,
//! `with_attempt_timeout`, `with_max_attempts`, `with_idempotent(false)` (no retry of
//! failures after which the server may have acted), `with_biz_user_id`
//! (`X-Aily-BizUserID`), `with_request_id` (`Oapi-Sdk-Request-Id`, as the official
//! SDKs send it), `with_extension(Quota)` (this request's rate-limit quota; the
//! request's extensions carry the layers' per-request settings). In the CLI:
//! `--timeout` (overall), `--attempt-timeout`, `--max-attempts`.
//!
//! ```
//! use std::time::Duration;
//! use aily_client::{AilyRequest, CancelRequest, Client, Credentials};
//!
//! let client = Client::builder()
//!     .credentials(Credentials::app("cli_a1b2c3", "app secret"))
//!     .lark()
//!     .overall_timeout(Duration::from_secs(20))
//!     .attempt_timeout(Duration::from_secs(5))
//!     .max_attempts(4)
//!     .max_in_flight(64)
//!     .build()?; // validates everything, connects to nothing, spawns nothing
//! assert_eq!(client.base_url().to_string(), "https://open.larksuite.com");
//!
//! // One request's own settings.
//! let cancel = CancelRequest::new("session_1", "run_1")?
//!     .with_overall_timeout(Duration::from_secs(3))
//!     .with_idempotent(false);
//! # let _ = cancel;
//!
//! // Refused when built, before any I/O: plain HTTP to a remote host.
//! let refused = Client::builder()
//!     .credentials(Credentials::tenant_token("t-x"))
//!     .base_url("http://open.feishu.cn")
//!     .build();
//! assert!(refused.is_err());
//! # Ok::<(), aily_client::Error>(())
//! ```
//!
//! # What goes on the wire
//!
//! For a cancel: `POST`, path segments percent-encoded (everything but
//! `A-Z a-z 0-9 - . _ ~`), body `{}`, `Content-Type: application/json; charset=utf-8`,
//! `User-Agent: aily-client/<version>`, `Authorization: Bearer …` (marked sensitive).
//! IDs are validated before any I/O: empty, over 256 bytes, whitespace or control
//! characters, `.` or `..` are refused with an error naming the field.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::auth::{Credentials, DEFAULT_REFRESH_MARGIN};
use crate::background::{
    BackgroundCancels, DEFAULT_CANCEL_CONCURRENCY, DEFAULT_CANCEL_QUEUE, DEFAULT_CANCEL_TIMEOUT,
};
use crate::error::Error;
use crate::layers::in_flight::{DEFAULT_MAX_IN_FLIGHT, InFlightLimitLayer};
use crate::layers::observe::{AttemptLayer, Observer, OperationLayer};
use crate::layers::retry::{RetryConfig, RetryPolicy};
use crate::layers::timeout::{DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_OVERALL_TIMEOUT};
use crate::transport::{BaseUrl, DEFAULT_MAX_BODY_BYTES, HttpService, TransportConfig};

use super::stack::{http_tier, stream_tier, unauthenticated_tier};
use super::{Client, Settings};

/// Builds a [`Client`]. Nothing is validated or spawned until [`build`](ClientBuilder::build).
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    credentials: Option<Credentials>,
    /// As given; `Debug` hides its user info.
    base_url: Option<crate::transport::BaseUrlText>,
    allow_insecure_http: bool,
    transport: TransportConfig,
    extra_roots_der: Vec<Vec<u8>>,
    attempt_timeout: Duration,
    overall_timeout: Duration,
    max_body_bytes: usize,
    max_in_flight: usize,
    cancel_concurrency: usize,
    cancel_timeout: Duration,
    token_refresh_margin: Duration,
    retry: RetryConfig,
    /// Set by [`ClientBuilder::max_attempts`]; wins over `retry`'s, in any order.
    max_attempts: Option<u32>,
    /// Set by [`ClientBuilder::retry_event_level`]; wins over `retry`'s, in any order.
    retry_event_level: Option<tracing::Level>,
    operation_span_level: tracing::Level,
    attempt_span_level: tracing::Level,
    record_url_full: bool,
    observer: Option<UserObserver>,
    pub(crate) fleet: crate::fleet::FleetConfig,
    pub(crate) journal: Option<Arc<dyn crate::journal::RunJournal>>,
    pub(crate) journal_config: crate::journal::JournalConfig,
}

/// A user's [`Observer`], as the builder keeps it.
#[derive(Clone)]
struct UserObserver(Arc<dyn Observer>);

impl fmt::Debug for UserObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            credentials: None,
            base_url: None,
            allow_insecure_http: false,
            transport: TransportConfig::default(),
            extra_roots_der: Vec::new(),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            overall_timeout: DEFAULT_OVERALL_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            cancel_concurrency: DEFAULT_CANCEL_CONCURRENCY,
            cancel_timeout: DEFAULT_CANCEL_TIMEOUT,
            token_refresh_margin: DEFAULT_REFRESH_MARGIN,
            retry: RetryConfig::default(),
            max_attempts: None,
            retry_event_level: None,
            operation_span_level: tracing::Level::INFO,
            attempt_span_level: tracing::Level::DEBUG,
            record_url_full: false,
            observer: None,
            fleet: Default::default(),
            journal: None,
            journal_config: Default::default(),
        }
    }
}

impl ClientBuilder {
    /// What to authenticate with (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The API's base URL, e.g. `https://open.feishu.cn` (the default),
    /// `https://open.larksuite.com`, or a test server. Plain `http://` is refused
    /// unless the host is loopback or [`allow_insecure_http`](ClientBuilder::allow_insecure_http) is set.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(crate::transport::BaseUrlText(base_url.into()));
        self
    }

    /// Use Lark's base URL, `https://open.larksuite.com`.
    pub fn lark(self) -> Self {
        self.base_url(BaseUrl::lark().to_string())
    }

    /// Allow plain `http://` to a host that is not loopback. Tokens then cross the network
    /// in clear text: only for trusted networks.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Bound on opening a TCP connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// Bound on one attempt: token, send, and reading the whole body (default 10 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Bound on the whole call, retries and waits included (default 30 s).
    pub fn overall_timeout(mut self, timeout: Duration) -> Self {
        self.overall_timeout = timeout;
        self
    }

    /// Largest reply body accepted, in bytes (default 1 MiB). A larger one is an
    /// [`ErrorKind::BodyTooLarge`](crate::ErrorKind::BodyTooLarge) error.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Trust this certificate (DER) in addition to the webpki roots — for a test server
    /// or a private gateway.
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_der.push(der.into());
        self
    }

    /// Speak HTTP/2 without negotiation, also over plain `http://` (h2c). Over TLS,
    /// HTTP/2 is negotiated by ALPN anyway.
    pub fn http2_prior_knowledge(mut self, enabled: bool) -> Self {
        self.transport.http2_prior_knowledge = enabled;
        self
    }

    /// How retries are made: attempts, backoff, rate-limit waits, budget
    /// (see [`RetryConfig`] for the defaults). [`max_attempts`](ClientBuilder::max_attempts)
    /// and [`retry_event_level`](ClientBuilder::retry_event_level), when set, win over
    /// the config's, whichever is called first.
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.retry = config;
        self
    }

    /// At most this many attempts per call, the first included (default 3; 1 turns retry off).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The level of the operation span, `aily.run.cancel` (default INFO).
    pub fn operation_span_level(mut self, level: tracing::Level) -> Self {
        self.operation_span_level = level;
        self
    }

    /// The level of the attempt spans (default DEBUG).
    pub fn attempt_span_level(mut self, level: tracing::Level) -> Self {
        self.attempt_span_level = level;
        self
    }

    /// The level of the event logged for each retry (default WARN).
    pub fn retry_event_level(mut self, level: tracing::Level) -> Self {
        self.retry_event_level = Some(level);
        self
    }

    /// Record `url.full` on attempt spans (default off: the path holds session and run
    /// IDs, which may count as personal data).
    pub fn record_url_full(mut self, enabled: bool) -> Self {
        self.record_url_full = enabled;
        self
    }

    /// Also tell `observer` how each call and each attempt ended (see
    /// [`observe`](crate::layers::observe)): your own metrics, sampling or audit, beside the
    /// crate's spans and metrics.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(UserObserver(observer));
        self
    }

    /// With [`Credentials::app`]: refresh the tenant token this long before it expires
    /// (default 3 min). Callers keep using the old token while the refresh runs.
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.token_refresh_margin = margin;
        self
    }

    /// At most this many attempts of this client (and its clones) on the wire at once
    /// (default 256); the others wait their turn, until their call's overall deadline
    /// at most (the wait is not part of an attempt, so a queue never costs attempts).
    ///
    /// Over HTTP/1.1 each request in flight is a connection (two file descriptors when
    /// the server is in the same process), and hyper-util's pool has no cap of its
    /// own: without this bound a burst of 10,000 calls opens 10,000 sockets at once.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// Background cancels (of runs whose [`RunHandle`](crate::api::runs::RunHandle) or `ask` future was dropped):
    /// at most `concurrency` at once (default 16), each bounded by `timeout`, retries
    /// included (default 10 s).
    pub fn background_cancels(mut self, concurrency: usize, timeout: Duration) -> Self {
        self.cancel_concurrency = concurrency;
        self.cancel_timeout = timeout;
        self
    }

    /// Idle connections are kept this long (default 90 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.transport.pool_idle_timeout = timeout;
        self
    }

    /// Builds the client: validates the configuration and assembles the stack.
    /// Spawns nothing, so it may be called outside a tokio runtime.
    pub fn build(self) -> Result<Client, Error> {
        let base_url = match &self.base_url {
            Some(text) => BaseUrl::parse(&text.0)?,
            None => BaseUrl::feishu(),
        };
        if !base_url.is_https() && !base_url.is_loopback() && !self.allow_insecure_http {
            return Err(Error::config(format!(
                "refusing plain http to {base_url}: tokens would cross the network unencrypted; \
                 use https, or allow_insecure_http(true) for a trusted network"
            )));
        }
        let mut retry = self.retry;
        retry.max_attempts = self.max_attempts.unwrap_or(retry.max_attempts);
        retry.event_level = self.retry_event_level.unwrap_or(retry.event_level);
        let max_rate_limit_wait = retry.max_rate_limit_wait;
        let retry = RetryPolicy::new(retry)?;
        let credentials = self
            .credentials
            .ok_or_else(|| Error::config("no credentials: call ClientBuilder::credentials(...)"))?;
        let fleet = self
            .fleet
            .resolve(&base_url, &credentials.0, max_rate_limit_wait)?;
        let mut transport = self.transport;
        // Connections a burst opened beyond the in-flight limit are not kept idle.
        transport.pool_max_idle_per_host = transport.pool_max_idle_per_host.min(self.max_in_flight);
        transport
            .extra_root_certificates
            .extend(self.extra_roots_der.into_iter().map(CertificateDer::from));
        let unauthenticated = unauthenticated_tier(&base_url, &transport, self.max_body_bytes)?;
        let token_http = crate::auth::TokenHttp::to(
            HttpService::new(unauthenticated.get_ref().clone()),
            &base_url,
            self.attempt_timeout,
        )
        .span_level(self.attempt_span_level);
        let auth = fleet.auth_layer(
            &credentials,
            &base_url,
            token_http.clone(),
            self.token_refresh_margin,
        )?;
        let stream_http = stream_tier(
            auth.clone(),
            &base_url,
            unauthenticated.get_ref().get_ref().clone(),
            self.max_body_bytes,
        );
        let http = http_tier(auth, unauthenticated);
        let journal = self
            .journal
            .map(|store| Arc::new(crate::journal::Journal::new(store, self.journal_config)));
        Ok(Client {
            http,
            settings: Arc::new(Settings {
                token_http,
                operation: {
                    let layer = OperationLayer::new().with_level(self.operation_span_level);
                    match &self.observer {
                        Some(UserObserver(observer)) => layer.observer(observer.clone()),
                        None => layer,
                    }
                },
                attempt: {
                    let layer = AttemptLayer::new()
                        .with_level(self.attempt_span_level)
                        .server(&base_url)
                        .record_url_full(self.record_url_full);
                    match self.observer {
                        Some(UserObserver(observer)) => layer.observer(observer),
                        None => layer,
                    }
                },
                base_url,
                retry,
                in_flight: InFlightLimitLayer::new(self.max_in_flight),
                attempt_timeout: self.attempt_timeout,
                overall_timeout: self.overall_timeout,
                cancels: Arc::new(BackgroundCancels::new(
                    self.cancel_concurrency,
                    DEFAULT_CANCEL_QUEUE,
                    self.cancel_timeout,
                )),
                rate_limit: fleet.rate_limit,
                journal,
                stream_http,
            }),
        })
    }
}
