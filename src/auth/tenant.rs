//! [`TenantTokenSource`]: tenant access tokens from a self-built app's `app_id` and
//! `app_secret`, fetched, cached and refreshed the way a long-lived service needs.
//!
//! - **Per client.** The cache belongs to the source, which belongs to one client (and
//!   its clones): a different app, secret or base URL is a different client and never
//!   sees this token. Nothing is process-global.
//! - **Single flight.** Any number of concurrent callers on a cold or expired cache
//!   cause exactly one request to
//!   `POST {base}/open-apis/auth/v3/tenant_access_token/internal`; the others wait for
//!   its result — success or failure — instead of sending their own.
//! - **Refresh ahead.** From `refresh_margin` (3 min) before expiry, the first caller
//!   starts one refresh in the background; every caller, that one included, keeps
//!   using the still-valid token without waiting.
//! - **Failures.** A failed background refresh keeps the old token and is tried again
//!   later; a failed fetch with no valid token is an [`Auth`](crate::ErrorKind::Auth)
//!   error carrying the endpoint's code, msg and log id, and nothing is cached.
//! - **Compare-and-invalidate.** [`TokenSource::invalidate`] drops the cached token
//!   only if it is still the one the server rejected, so a token another caller just
//!   fetched is never thrown away.
//! - **Warm path.** A read lock held for a clone of the header value: no await under a
//!   lock, no allocation.
//!
//! The token request goes through the HTTP tier *without* the auth layer; its body
//! (which holds the secret) and the reply (which holds the token) are never logged.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;
use tracing::Instrument;

use super::exchange::{FetchTenantTokenRequest, IssuedToken, TokenHttp};
use super::token::{AccessToken, SecretString, TokenFuture, TokenKind, TokenSource};
use crate::error::{Error, ErrorKind};
use crate::fleet::token_store::{Obtained, TokenKey, TokenStore, obtain};
use crate::layers::observe::record;
use crate::transport::HttpService;

/// The token endpoint's path.
pub const TENANT_TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
/// Default: refresh this long before the token expires (as the official Go/Java/Node SDKs).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(180);
/// Default bound on one token request.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a tenant token is kept: Feishu grants at most 7200 s (2 h). A longer
/// `expire` in a token reply (up to [`MAX_ACCEPTED_EXPIRE`]) — or a longer time left
/// reported by a token store — is clamped to this, so no lifetime from outside can
/// overflow a clock (see [`token_lifetime`]).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(7200);

/// The largest `expire` (seconds) a token reply may carry: 1,000 × the 7200 s Feishu
/// grants, so a units mistake upstream (milliseconds sent as seconds) is clamped and
/// still works; anything larger is not a lifetime but garbage, and is refused.
pub const MAX_ACCEPTED_EXPIRE: i64 = 7_200_000;

/// The lifetime of a token whose reply says `expire` seconds: refused (a
/// [`Decode`](crate::ErrorKind::Decode) error saying why) when `expire` is zero or
/// negative, or larger than [`MAX_ACCEPTED_EXPIRE`]; clamped to
/// [`MAX_TOKEN_LIFETIME`] when longer than that.
///
/// ```
/// use std::time::Duration;
/// use aily_client::auth::{MAX_TOKEN_LIFETIME, token_lifetime};
///
/// assert_eq!(token_lifetime(7200).unwrap(), Duration::from_secs(7200));
/// assert_eq!(token_lifetime(60).unwrap(), Duration::from_secs(60));
/// assert_eq!(token_lifetime(7_200_000).unwrap(), MAX_TOKEN_LIFETIME); // ms sent as s
/// assert!(token_lifetime(i64::MAX).is_err());
/// assert!(token_lifetime(0).is_err());
/// assert!(token_lifetime(i64::MIN).is_err());
/// ```
pub fn token_lifetime(expire: i64) -> Result<Duration, Error> {
    match u64::try_from(expire) {
        Ok(secs) if secs > 0 && expire <= MAX_ACCEPTED_EXPIRE => {
            Ok(Duration::from_secs(secs).min(MAX_TOKEN_LIFETIME))
        }
        Ok(secs) if secs > 0 => Err(Error::new(
            ErrorKind::Decode,
            format!(
                "the token endpoint answered an absurd expire ({secs} s; Feishu grants at most {} s)",
                MAX_TOKEN_LIFETIME.as_secs()
            ),
        )),
        _ => Err(Error::new(
            ErrorKind::Decode,
            "the token endpoint answered a non-positive expire",
        )),
    }
}

/// `at + d`, with `d` first clamped to [`MAX_TOKEN_LIFETIME`]: never panics, whatever
/// duration came from a server or a store.
pub(crate) fn instant_after(at: Instant, d: Duration) -> Instant {
    let d = d.min(MAX_TOKEN_LIFETIME);
    at.checked_add(d).unwrap_or(at)
}

/// After a failed background refresh, wait this long before trying again
/// (or half the token's remaining life, if that is shorter).
const REFRESH_RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// Fetches, caches and refreshes the tenant access token of a self-built app.
///
/// Usually made for you by [`Credentials::app`](crate::Credentials::app); build it
/// yourself to use it in a custom stack, over an HTTP service *without* the auth layer:
///
/// ```
/// use std::sync::Arc;
/// use aily_client::auth::{AuthLayer, TenantTokenSource};
/// use aily_client::transport::{BaseUriLayer, BaseUrl, CollectBodyLayer, HttpService, TransportConfig, hyper_client};
/// use tower::ServiceBuilder;
///
/// let plain = ServiceBuilder::new()
///     .layer(BaseUriLayer::new(BaseUrl::feishu()))
///     .layer(CollectBodyLayer::default())
///     .service(hyper_client(&TransportConfig::default())?);
/// let tokens = TenantTokenSource::new("cli_a1b2", "app-secret", HttpService::new(plain.clone()));
/// let authed = ServiceBuilder::new()
///     .layer(AuthLayer::from_source(Arc::new(tokens)))
///     .service(plain);
/// # let _ = authed;
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone)]
pub struct TenantTokenSource {
    shared: Arc<Shared>,
}

struct Shared {
    app_id: String,
    /// How a token is obtained from Feishu.
    fetcher: Fetcher,
    /// The token stack the requests go through.
    http: TokenHttp,
    refresh_margin: Duration,
    fetch_timeout: Duration,
    state: RwLock<State>,
    /// A fleet's shared store, if any (see [`TenantTokenSource::with_token_store`]).
    store: Option<(Arc<dyn TokenStore>, TokenKey)>,
    /// The token the server last rejected, for the store's compare-and-delete.
    rejected: std::sync::Mutex<Option<AccessToken>>,
}

/// How a [`TenantTokenSource`] obtains a token from Feishu: each a request of the
/// crate's one endpoint shape ([`super::exchange`]), sent through [`TokenHttp`].
#[derive(Clone)]
pub(crate) enum Fetcher {
    /// A self-built app's secret (`tenant_access_token/internal`).
    Secret(SecretString),
    /// A client assertion for `audience` from the provider (OAuth v3, keyless).
    Assertion {
        provider: std::sync::Arc<dyn super::AssertionProvider>,
        audience: String,
    },
    /// A store app's app access token (with its latest `app_ticket`).
    AppToken(Arc<super::store_app::Core>),
    /// A store app's token for one tenant: its app access token (cached in
    /// `app_token`), then `tenant_access_token` with the tenant key.
    Store {
        app_token: TenantTokenSource,
        core: Arc<super::store_app::Core>,
        tenant_key: String,
    },
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    /// The fetch in flight, shared by every caller that waits for it.
    flight: Option<Arc<Flight>>,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    expires_at: Instant,
    refresh_at: Instant,
}

type Flight = OnceCell<Result<Cached, Arc<Error>>>;

impl TenantTokenSource {
    /// A source for app `app_id` with `app_secret`, fetching through `http` (which must
    /// send requests to the API's base URL and must not add an `Authorization` header),
    /// each request bounded by [`DEFAULT_FETCH_TIMEOUT`].
    pub fn new(
        app_id: impl Into<String>,
        app_secret: impl Into<SecretString>,
        http: HttpService,
    ) -> Self {
        TenantTokenSource::with_options(
            app_id.into(),
            app_secret.into(),
            TokenHttp::new(http, DEFAULT_FETCH_TIMEOUT),
            DEFAULT_REFRESH_MARGIN,
        )
    }

    /// Like [`new`](TenantTokenSource::new), through the token stack `http` (which
    /// bounds each token request) and with the refresh margin given.
    pub fn with_options(
        app_id: String,
        app_secret: SecretString,
        http: TokenHttp,
        refresh_margin: Duration,
    ) -> Self {
        TenantTokenSource::from_fetcher(app_id, Fetcher::Secret(app_secret), http, refresh_margin)
    }

    pub(crate) fn from_fetcher(
        app_id: String,
        fetcher: Fetcher,
        http: TokenHttp,
        refresh_margin: Duration,
    ) -> Self {
        TenantTokenSource {
            shared: Arc::new(Shared {
                app_id,
                fetcher,
                fetch_timeout: http.timeout(),
                http,
                refresh_margin,
                state: RwLock::new(State::default()),
                store: None,
                rejected: std::sync::Mutex::new(None),
            }),
        }
    }

    /// This source (with an empty cache), getting its token through `store` under
    /// `key` first: one replica of a fleet fetches, all use it (see
    /// [`TokenStore`]). A store that fails is skipped.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aily_client::auth::{LocalTokenStore, TenantTokenSource, TokenKey};
    /// use aily_client::transport::{BaseUriLayer, BaseUrl, CollectBodyLayer, HttpService, TransportConfig, hyper_client};
    /// use aily_client::SecretString;
    /// use tower::ServiceBuilder;
    ///
    /// let plain = ServiceBuilder::new()
    ///     .layer(BaseUriLayer::new(BaseUrl::feishu()))
    ///     .layer(CollectBodyLayer::default())
    ///     .service(hyper_client(&TransportConfig::default())?);
    /// let secret = SecretString::new("app-secret");
    /// let key = TokenKey::tenant("https://open.feishu.cn", "cli_a1b2", &secret);
    /// let tokens = TenantTokenSource::new("cli_a1b2", secret, HttpService::new(plain))
    ///     .with_token_store(Arc::new(LocalTokenStore::new()), key);
    /// # let _ = tokens;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn with_token_store(self, store: Arc<dyn TokenStore>, key: TokenKey) -> Self {
        let s = &self.shared;
        TenantTokenSource {
            shared: Arc::new(Shared {
                app_id: s.app_id.clone(),
                fetcher: s.fetcher.clone(),
                http: s.http.clone(),
                refresh_margin: s.refresh_margin,
                fetch_timeout: s.fetch_timeout,
                state: RwLock::new(State::default()),
                store: Some((store, key)),
                rejected: std::sync::Mutex::new(None),
            }),
        }
    }

    /// A token from the fleet's store when there is one, else from Feishu; with the
    /// time it has left, where it came from and, for a token another replica is
    /// refreshing, when to look again.
    async fn obtain(&self, span: &tracing::Span) -> Result<Obtained, Error> {
        let Some((store, key)) = &self.shared.store else {
            return self.fetch(span).await.map(|(token, ttl)| Obtained {
                token,
                ttl,
                recheck: None,
                fetched: true,
            });
        };
        let rejected = self
            .shared
            .rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        // Half the bound for waiting on another replica, half for a fetch of our own.
        let bound = self.shared.fetch_timeout / 2;
        obtain(
            store.as_ref(),
            key,
            self.shared.refresh_margin,
            bound,
            rejected,
            || self.fetch(span),
        )
        .await
    }

    /// The app's ID.
    pub fn app_id(&self) -> &str {
        &self.shared.app_id
    }

    /// The token to send now: the cached one if valid (starting a background refresh
    /// inside the refresh margin), else the result of the one fetch in flight.
    pub async fn current(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.cached_token() {
            return Ok(token);
        }
        let now = Instant::now();
        let flight = self.read_state().flight.clone();
        let flight = match flight {
            Some(f) if !f.initialized() => f,
            _ => match self.join_or_start_flight(now) {
                Ok(token) => return Ok(token),
                Err(flight) => flight,
            },
        };
        match flight.get_or_init(|| self.fetch_and_store()).await {
            Ok(cached) => Ok(cached.token.clone()),
            Err(e) => Err(Error::clone(e)),
        }
    }

    /// The cached token if it is still valid — starting one background refresh when it
    /// is inside the refresh margin. A read lock and a reference count: the warm path.
    fn cached_token(&self) -> Option<AccessToken> {
        let now = Instant::now();
        let state = self.read_state();
        let cached = state.current.as_ref().filter(|c| now < c.expires_at)?;
        let token = cached.token.clone();
        let refresh_due = now >= cached.refresh_at;
        drop(state);
        if refresh_due {
            self.refresh_in_background(now);
        }
        Some(token)
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.shared
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.shared
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Under the write lock: the token another caller cached meanwhile, else the
    /// flight in progress, else a new flight.
    fn join_or_start_flight(&self, now: Instant) -> Result<AccessToken, Arc<Flight>> {
        let mut state = self.write_state();
        if let Some(c) = &state.current
            && now < c.expires_at
        {
            return Ok(c.token.clone());
        }
        match &state.flight {
            Some(f) if !f.initialized() => Err(f.clone()),
            _ => {
                let f = Arc::new(Flight::new());
                state.flight = Some(f.clone());
                Err(f)
            }
        }
    }

    /// Starts one refresh in the background, unless one is already running.
    fn refresh_in_background(&self, now: Instant) {
        let flight = {
            let mut state = self.write_state();
            let due = state.current.as_ref().is_some_and(|c| now >= c.refresh_at);
            let running = state.flight.as_ref().is_some_and(|f| !f.initialized());
            if !due || running {
                return;
            }
            let f = Arc::new(Flight::new());
            state.flight = Some(f.clone());
            f
        };
        let this = self.clone();
        tokio::spawn(async move {
            let result = flight.get_or_init(|| this.fetch_and_store()).await;
            if let Err(e) = result {
                tracing::warn!(
                    app_id = %this.shared.app_id,
                    error = %e,
                    "tenant token refresh failed; the current token stays in use"
                );
            }
        });
    }

    /// One token request; on success the token is cached, on failure nothing is, and a
    /// still-valid token is kept with its next refresh put off a little.
    async fn fetch_and_store(&self) -> Result<Cached, Arc<Error>> {
        let started = Instant::now();
        // `source`: `feishu` when the token endpoint was asked (recorded by `fetch` on
        // the span handed to it), `store` when the fleet's store had the token and
        // Feishu was not asked.
        let span = tracing::info_span!(
            "aily.token.fetch",
            otel.kind = "client",
            app_id = %self.shared.app_id,
            source = tracing::field::Empty,
            feishu.code = tracing::field::Empty,
            feishu.log_id = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let fetched = tokio::time::timeout(self.shared.fetch_timeout, self.obtain(&span))
            .instrument(span.clone())
            .await
            .unwrap_or_else(|_| {
                Err(Error::timeout(
                    crate::TimeoutKind::Attempt,
                    self.shared.fetch_timeout,
                ))
            });
        let mut state = self.write_state();
        match fetched {
            Ok(Obtained {
                token,
                ttl,
                recheck,
                fetched,
            }) => {
                if !fetched {
                    span.record("source", "store");
                }
                // A store's time left is as much from outside as Feishu's `expire`.
                let ttl = ttl.min(MAX_TOKEN_LIFETIME);
                let expires_at = instant_after(started, ttl);
                let margin = self.shared.refresh_margin.min(ttl / 2);
                let refresh_at = match recheck {
                    Some(after) => instant_after(started, after).min(expires_at),
                    None => expires_at - margin,
                };
                let cached = Cached {
                    token,
                    expires_at,
                    refresh_at,
                };
                state.current = Some(cached.clone());
                Ok(cached)
            }
            Err(e) => {
                span.record("error.type", e.kind().as_str());
                if let Some(code) = e.code() {
                    span.record("feishu.code", code);
                }
                if let Some(c) = state.current.as_mut() {
                    let now = Instant::now();
                    if now < c.expires_at {
                        let left = c.expires_at - now;
                        c.refresh_at = instant_after(now, REFRESH_RETRY_INTERVAL.min(left / 2));
                    }
                }
                Err(Arc::new(e))
            }
        }
    }

    /// Sends the token request and reads the token and its lifetime (and, with the
    /// feature `metrics`, counts it by outcome; one abandoned by its timeout is an
    /// error). The attempt observers of the token stack count the endpoint's Feishu
    /// error codes under its operation (`aily.token.fetch` for the app secret's).
    /// `span` is the `aily.token.fetch` span of `fetch_and_store`, which owns it.
    async fn fetch(&self, span: &tracing::Span) -> Result<(AccessToken, Duration), Error> {
        span.record("source", "feishu");
        let counted = record::TokenFetch::start();
        let fetched = self.request_token().await;
        if fetched.is_ok() {
            counted.succeeded();
        }
        // The log id of the token endpoint's reply, on the span this source owns.
        let log_id = match &fetched {
            Ok((_, log_id)) => log_id.clone(),
            Err(e) => e.log_id().map(str::to_owned),
        };
        if let Some(id) = &log_id {
            span.record("feishu.log_id", id.as_str());
        }
        let (issued, _) = fetched?;
        let kind = match self.shared.fetcher {
            Fetcher::AppToken(_) => TokenKind::App,
            _ => TokenKind::Tenant,
        };
        let token = AccessToken::new(kind, issued.token.expose()).map_err(|_| {
            Error::new(
                ErrorKind::Decode,
                "the token endpoint answered a token that cannot be sent in a header",
            )
            .with_log_id(log_id)
        })?;
        Ok((token, issued.lifetime))
    }

    /// The token request through the token stack, and the reply's log id.
    async fn request_token(&self) -> Result<(IssuedToken, Option<String>), Error> {
        let sh = &self.shared;
        let reply = match &sh.fetcher {
            Fetcher::Secret(secret) => {
                sh.http
                    .send(FetchTenantTokenRequest::new(&sh.app_id, secret)?)
                    .await?
            }
            Fetcher::Assertion { provider, audience } => {
                super::assertion::exchange(&sh.http, provider.as_ref(), &sh.app_id, audience)
                    .await?
            }
            Fetcher::AppToken(core) => core.fetch_app_token().await?,
            Fetcher::Store {
                app_token,
                core,
                tenant_key,
            } => super::store_app::fetch_tenant_token(app_token, core, tenant_key).await?,
        };
        let log_id = reply.log_id().map(str::to_owned);
        Ok((reply.into_data(), log_id))
    }
}

impl TokenSource for TenantTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.current())
    }

    fn cached(&self) -> Option<AccessToken> {
        self.cached_token()
    }

    fn invalidate(&self, token: &AccessToken) -> bool {
        if self.shared.store.is_some() {
            *self
                .shared
                .rejected
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token.clone());
        }
        let mut state = self.write_state();
        if state.current.as_ref().is_some_and(|c| &c.token == token) {
            state.current = None;
        }
        true
    }
}

impl fmt::Debug for TenantTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantTokenSource")
            .field("app_id", &self.shared.app_id)
            .field(
                "via",
                &match &self.shared.fetcher {
                    Fetcher::Secret(_) => "app_secret",
                    Fetcher::Assertion { .. } => "client_assertion",
                    Fetcher::AppToken(_) => "app_ticket",
                    Fetcher::Store { .. } => "store_app",
                },
            )
            .field("app_secret", &format_args!("<redacted>"))
            .field("refresh_margin", &self.shared.refresh_margin)
            .finish_non_exhaustive()
    }
}
