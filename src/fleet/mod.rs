//! Fleet mode: quotas, the rate-limit and token stores ([`store`]), Redis and the
//! sealing of what a shared store holds. Set on the builder
//! ([`ClientBuilder::quota`](crate::ClientBuilder::quota),
//! [`ClientBuilder::redis`](crate::ClientBuilder::redis), …); resolved here into
//! what a client is built with. Nothing here knows the client.

pub mod store;
pub(crate) mod token_store;

use std::sync::Arc;
use std::time::Duration;

use crate::Credentials;
use crate::auth::{AuthLayer, CredentialsInner, TokenHttp, TokenKey, TokenStore};
use crate::error::Error;
use crate::fleet::store::fingerprint;
use crate::layers::rate_limit::{LocalRateLimitStore, Quota, RateLimitLayer, RateLimitStore};
use crate::transport::BaseUrl;

/// What the builder was told about fleet mode.
#[derive(Clone, Debug, Default)]
pub(crate) struct FleetConfig {
    pub(crate) quota: Option<Quota>,
    pub(crate) operation_quotas: Vec<(&'static str, Quota)>,
    /// Feishu's published limits, with this headroom (percent), when turned on.
    pub(crate) published_headroom: Option<u32>,
    pub(crate) rate_limit_store: Option<Arc<dyn RateLimitStore>>,
    pub(crate) token_store: Option<Arc<dyn TokenStore>>,
    pub(crate) rate_limit_scope: Option<String>,
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<crate::fleet::store::redis::RedisConfig>,
    #[cfg(feature = "redis")]
    pub(crate) allow_insecure_redis: bool,
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
                let backend = crate::fleet::store::redis::RedisBackend::new(config)?;
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
        if let Some(headroom) = self.published_headroom {
            rate_limit = rate_limit.published_limits(headroom);
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
