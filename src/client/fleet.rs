//! The fleet-mode settings of the [`ClientBuilder`]: quotas, the rate-limit and token
//! stores, Redis. Resolved by [`crate::fleet`].

use std::sync::Arc;

use crate::auth::TokenStore;
use crate::layers::rate_limit::{Quota, RateLimitStore};

use super::ClientBuilder;

impl ClientBuilder {
    /// Limits every operation of this client to `quota` (its app's calls through
    /// every client that shares the rate-limit store; see [`crate::layers::rate_limit`])
    /// — with [`published_rate_limits`](ClientBuilder::published_rate_limits), every
    /// operation without a published limit. Default: no quota, no proactive limiting.
    ///
    /// ```
    /// use aily_client::{Client, Credentials, rate_limit::Quota};
    /// let client = Client::builder()
    ///     .credentials(Credentials::app("cli_a1", "secret"))
    ///     .quota(Quota::per_second(45).and_per_minute(900))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn quota(mut self, quota: Quota) -> Self {
        self.fleet.quota = Some(quota);
        self
    }

    /// Limits one operation (e.g. `CancelRequest::OPERATION`) to `quota`, over the
    /// client's [`quota`](ClientBuilder::quota) and the operation's published limit.
    ///
    /// ```
    /// use aily_client::{AilyRequest, CancelRequest, Client, Credentials, rate_limit::Quota};
    /// let client = Client::builder()
    ///     .credentials(Credentials::app("cli_a1", "secret"))
    ///     .operation_quota(CancelRequest::OPERATION, Quota::per_minute(90))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn operation_quota(mut self, operation: &'static str, quota: Quota) -> Self {
        self.fleet.operation_quotas.push((operation, quota));
        self
    }

    /// Limits each request to Feishu's published limit of its endpoint, less 10 %
    /// headroom (create run: published 100/min, applied 90/min; create session:
    /// 1000/min & 50/s, applied 900/min & 45/s; the table and its sources:
    /// [`rate_limit::published`](crate::layers::rate_limit::published)). Counted in
    /// the client's [`rate_limit_store`](ClientBuilder::rate_limit_store) — with
    /// [`redis`](ClientBuilder::redis), once for the whole fleet, so the replicas
    /// together stay under the limit. An [`operation_quota`](ClientBuilder::operation_quota)
    /// wins over the published limit of its operation; the client's
    /// [`quota`](ClientBuilder::quota) applies to endpoints without one (app stats,
    /// agents). Default: off.
    ///
    /// ```
    /// use aily_client::{Client, Credentials};
    /// let client = Client::builder()
    ///     .credentials(Credentials::app("cli_a1", "secret"))
    ///     .published_rate_limits()
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn published_rate_limits(self) -> Self {
        self.published_rate_limits_with_headroom(
            crate::layers::rate_limit::published::DEFAULT_HEADROOM_PERCENT,
        )
    }

    /// [`published_rate_limits`](ClientBuilder::published_rate_limits) with
    /// `headroom_percent` (at most 100) left under each published window instead of
    /// 10: each window's count is cut by it (at least 1 call), and a per-minute
    /// window's burst is half of what was cut (see
    /// [`rate_limit::published`](crate::layers::rate_limit::published)).
    ///
    /// ```
    /// use aily_client::{Client, Credentials};
    /// // Two services share the app: take at most half of each published limit.
    /// let client = Client::builder()
    ///     .credentials(Credentials::app("cli_a1", "secret"))
    ///     .published_rate_limits_with_headroom(50)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn published_rate_limits_with_headroom(mut self, headroom_percent: u32) -> Self {
        self.fleet.published_headroom = Some(headroom_percent.min(100));
        self
    }

    /// Where rate-limit decisions and penalties are kept (default: in this client;
    /// without a quota only the server's resets are kept there, as a penalty box). Clients sharing a store share their app's count.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aily_client::{Client, Credentials, rate_limit::LocalRateLimitStore};
    /// let client = Client::builder()
    ///     .credentials(Credentials::tenant_token("t-x"))
    ///     .rate_limit_store(Arc::new(LocalRateLimitStore::new()))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn rate_limit_store(mut self, store: Arc<dyn RateLimitStore>) -> Self {
        self.fleet.rate_limit_store = Some(store);
        self
    }

    /// What the limits are counted on (default: a fingerprint of the base URL and the
    /// app id, or of the token; for [`Credentials::source`](crate::Credentials::source),
    /// see [`TokenSource::rate_limit_scope`](crate::TokenSource::rate_limit_scope)).
    /// Set it when replicas authenticate differently but share one app.
    ///
    /// ```
    /// use aily_client::{Client, Credentials, rate_limit::Quota};
    /// let client = Client::builder()
    ///     .credentials(Credentials::tenant_token("t-x"))
    ///     .quota(Quota::per_second(10))
    ///     .rate_limit_scope("cli_a1")
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn rate_limit_scope(mut self, scope: impl Into<String>) -> Self {
        self.fleet.rate_limit_scope = Some(scope.into());
        self
    }

    /// With [`Credentials::app`](crate::Credentials::app): where the tenant token is
    /// shared (default: nowhere, each client fetches its own). See
    /// [`TokenStore`](crate::auth::TokenStore).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aily_client::{Client, Credentials, auth::LocalTokenStore};
    /// let client = Client::builder()
    ///     .credentials(Credentials::app("cli_a1", "secret"))
    ///     .token_store(Arc::new(LocalTokenStore::new()))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.fleet.token_store = Some(store);
        self
    }

    /// Fleet mode through Redis at `url` (`redis://`, `rediss://` with feature
    /// `redis-tls`): the tenant token and the rate limits (quotas and penalties) are
    /// shared by every client with the same Redis, app and base URL. Nothing connects
    /// until the first call; Redis down never fails a call. Feature `redis`.
    ///
    /// ```
    /// use aily_client::{Client, Credentials, rate_limit::Quota};
    /// let client = Client::builder()
    ///     .credentials(Credentials::app("cli_a1", "secret"))
    ///     .redis("redis://127.0.0.1:6379")
    ///     .quota(Quota::per_second(45))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(self, url: impl Into<String>) -> Self {
        self.redis_config(crate::fleet::store::redis::RedisConfig::new(url))
    }

    /// Like [`redis`](ClientBuilder::redis), with a key prefix, a budget per command
    /// and the number of replicas that share the quota. Feature `redis`.
    ///
    /// ```
    /// use aily_client::{Client, Credentials};
    /// use aily_client::store::redis::RedisConfig;
    /// let client = Client::builder()
    ///     .credentials(Credentials::app("cli_a1", "secret"))
    ///     .redis_config(RedisConfig::new("redis://127.0.0.1:6379").key_prefix("svc:").expected_replicas(8))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis_config(mut self, config: crate::fleet::store::redis::RedisConfig) -> Self {
        self.fleet.redis = Some(config);
        self
    }

    /// Allow plain `redis://` to a host that is not loopback (default: [`build`]
    /// refuses it, before anything connects; see
    /// [`RedisConfig::allow_insecure`](crate::fleet::store::redis::RedisConfig::allow_insecure)).
    /// The Redis counterpart of [`allow_insecure_http`](ClientBuilder::allow_insecure_http).
    /// Feature `redis`.
    ///
    /// [`build`]: ClientBuilder::build
    ///
    /// ```
    /// use aily_client::{Client, Credentials, ErrorKind};
    /// let builder = || Client::builder()
    ///     .credentials(Credentials::app("cli_a1", "secret"))
    ///     .redis("redis://10.0.0.1:6379");
    /// let err = builder().build().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// assert!(builder().allow_insecure_redis(true).build().is_ok());
    /// ```
    #[cfg(feature = "redis")]
    pub fn allow_insecure_redis(mut self, allow: bool) -> Self {
        self.fleet.allow_insecure_redis = allow;
        self
    }
}
