//! Fleet mode on the [`ClientBuilder`]: quotas, the rate-limit and token stores, and
//! Redis. Kept apart from `client.rs`, which only carries the resolved settings.

use std::sync::Arc;
use std::time::Duration;

use crate::Credentials;
use crate::auth::{AuthLayer, CredentialsInner, TokenHttp, TokenKey, TokenStore};
use crate::client::ClientBuilder;
use crate::error::Error;
use crate::rate_limit::{LocalRateLimitStore, Quota, RateLimitLayer, RateLimitStore};
use crate::store::fingerprint;
use crate::transport::BaseUrl;

/// What the builder was told about fleet mode.
#[derive(Clone, Debug, Default)]
pub(crate) struct FleetConfig {
    quota: Option<Quota>,
    operation_quotas: Vec<(&'static str, Quota)>,
    rate_limit_store: Option<Arc<dyn RateLimitStore>>,
    token_store: Option<Arc<dyn TokenStore>>,
    rate_limit_scope: Option<String>,
    #[cfg(feature = "redis")]
    redis: Option<crate::store::redis::RedisConfig>,
    #[cfg(feature = "redis")]
    allow_insecure_redis: bool,
}

/// The stores and the layer a client is built with.
pub(crate) struct Fleet {
    pub(crate) rate_limit: RateLimitLayer,
    pub(crate) token_store: Option<Arc<dyn TokenStore>>,
}

impl FleetConfig {
    /// Resolves the configuration for a client of `base_url` with `credentials`.
    pub(crate) fn resolve(
        &self,
        base_url: &BaseUrl,
        credentials: &CredentialsInner,
        max_wait: Duration,
    ) -> Result<Fleet, Error> {
        #[cfg(not(feature = "redis"))]
        let (rate_limit_store, token_store) =
            (self.rate_limit_store.clone(), self.token_store.clone());
        #[cfg(feature = "redis")]
        let (rate_limit_store, token_store) = match &self.redis {
            None => (self.rate_limit_store.clone(), self.token_store.clone()),
            Some(config) => {
                let config = config.clone();
                let config = if self.allow_insecure_redis {
                    config.allow_insecure(true)
                } else {
                    config
                };
                let backend = crate::store::redis::RedisBackend::new(config)?;
                let limits: Arc<dyn RateLimitStore> = Arc::new(backend.rate_limit_store());
                let tokens: Arc<dyn TokenStore> = Arc::new(backend.token_store());
                (
                    Some(self.rate_limit_store.clone().unwrap_or(limits)),
                    Some(self.token_store.clone().unwrap_or(tokens)),
                )
            }
        };
        // Always a layer: without a quota or a shared store it is this client's own
        // penalty box, so a server's reset holds the operation's next calls.
        // Always a layer: without a quota or a shared store it is this client's own
        // penalty box, so a server's reset holds the operation's next calls.
        let store = rate_limit_store.unwrap_or_else(|| Arc::new(LocalRateLimitStore::new()));
        let scope = self
            .rate_limit_scope
            .clone()
            .unwrap_or_else(|| app_scope(base_url, credentials));
        let mut rate_limit = RateLimitLayer::new(store, scope).max_wait(max_wait);
        if let Some(q) = self.quota {
            rate_limit = rate_limit.quota(q);
        }
        for (op, q) in &self.operation_quotas {
            rate_limit = rate_limit.operation_quota(op, *q);
        }
        Ok(Fleet {
            rate_limit,
            token_store,
        })
    }
}

impl Fleet {
    /// The auth layer of `credentials`: as [`Credentials::auth_layer`] makes it, except
    /// that app credentials get their tenant token through the fleet's token store
    /// when there is one.
    pub(crate) fn auth_layer(
        &self,
        credentials: &Credentials,
        base_url: &BaseUrl,
        token_http: TokenHttp,
        refresh_margin: Duration,
    ) -> Result<AuthLayer, Error> {
        let Some(store) = &self.token_store else {
            return credentials.auth_layer(token_http, refresh_margin);
        };
        let key = match &credentials.0 {
            CredentialsInner::App { app_id, app_secret } => {
                TokenKey::tenant(&base_url.to_string(), app_id, app_secret)
            }
            CredentialsInner::ClientAssertion { app_id, .. } => {
                TokenKey::keyless(&base_url.to_string(), app_id)
            }
            _ => return credentials.auth_layer(token_http, refresh_margin),
        };
        let source = credentials
            .tenant_source(token_http, refresh_margin)?
            .with_token_store(store.clone(), key);
        Ok(AuthLayer::from_source(Arc::new(source)))
    }
}

/// The rate-limit scope of a client: its app, as a fingerprint (never a secret).
fn app_scope(base_url: &BaseUrl, credentials: &CredentialsInner) -> String {
    let base = base_url.to_string();
    match credentials {
        CredentialsInner::App { app_id, .. }
        | CredentialsInner::ClientAssertion { app_id, .. }
        | CredentialsInner::User { app_id, .. } => fingerprint(&["app", &base, app_id]),
        CredentialsInner::Token { token, .. } => fingerprint(&["token", &base, token.expose()]),
        // Each source its own scope, unless it names one (TokenSource::rate_limit_scope).
        CredentialsInner::Source(source) => crate::auth::source_scope(source, &base),
    }
}

impl ClientBuilder {
    /// Limits every operation of this client to `quota` (its app's calls through
    /// every client that shares the rate-limit store; see [`crate::rate_limit`]).
    /// Default: no quota, no proactive limiting.
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
    /// client's [`quota`](ClientBuilder::quota).
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
        self.redis_config(crate::store::redis::RedisConfig::new(url))
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
    pub fn redis_config(mut self, config: crate::store::redis::RedisConfig) -> Self {
        self.fleet.redis = Some(config);
        self
    }

    /// Allow plain `redis://` to a host that is not loopback (default: [`build`]
    /// refuses it, before anything connects; see
    /// [`RedisConfig::allow_insecure`](crate::store::redis::RedisConfig::allow_insecure)).
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
