//! Authentication: [`AuthLayer`] puts `Authorization: Bearer <token>` (marked
//! sensitive) on every attempt, and the token sources behind it.
//!
//! With a fixed token the layer costs one header insert and forwards the inner
//! future as it is. With a [`TokenSource`], each attempt asks the source for its
//! current token, and a reply saying the token is invalid makes the layer call
//! [`TokenSource::invalidate`] and, if the source has a fresher token, replay the
//! request exactly once.
//!
//! # Tokens
//!
//! ## Compared with the official SDKs
//!
//! | | aily-client | official SDKs (Go / Python / Java / Node) |
//! | --- | --- | --- |
//! | cache scope | per client; a different app, secret or base URL is a different cache | process-global (Go, Python, Java); module-level default (Node) |
//! | concurrent cold callers | one token request, the rest wait for it (1,000 callers → 1 request, tested) | every caller fetches (Node: 32 calls → 32 requests; Python 8) |
//! | refresh | from 3 min before expiry, in the background; callers keep the valid token and never wait | Go/Java/Node 3 min, Python 10 min, in the caller's path |
//! | failed refresh | the old token is served while valid; retried after 10 s | error to the caller |
//! | failed fetch | an `Auth` error with the endpoint's code, msg and log id; shared by the waiters; nothing cached | Node < 1.x cached `undefined`; others raise per caller |
//! | token-invalid reply (99991661/3/4/8/71/77) | compare-and-invalidate, fetch, replay **once**; a second rejection is an `Auth` error | Go replays once *with the same stale token*; others do nothing |
//! | static tenant/user token rejected | `Auth` error saying it must be replaced; no replay | passed through |
//! | wrong secret with a warm cache | never served another client's token | Go #126: a wrong secret rides on the cached token |
//! | secrets in logs | `app_secret` and tokens redacted in `Debug`/`Display`; `Authorization` sensitive; token bodies never logged; tested with a TRACE capture | SDK debug logs can print requests |
//!
//! ```
//! use aily_client::Credentials;
//!
//! let creds = Credentials::app("cli_a1b2c3", "the app secret");
//! let shown = format!("{creds:?}");
//! assert!(shown.contains("cli_a1b2c3"));
//! assert!(!shown.contains("the app secret")); // `<redacted>`
//! ```
//!
//! ## Which source for which app
//!
//! | you have | credentials | token | endpoint (one [`Endpoint`](crate::api::request::Endpoint) each) |
//! | --- | --- | --- | --- |
//! | a token from elsewhere | [`Credentials::tenant_token`], [`Credentials::user_token`] | fixed, never refreshed | — |
//! | a self-built app's id and secret | [`Credentials::app`] | tenant, [`TenantTokenSource`] | `POST /open-apis/auth/v3/tenant_access_token/internal` ([`FetchTenantToken`]) |
//! | a self-built app and a signer (KMS, workload identity, or a key in memory with feature `pem-signer`'s `PemSigner`), no secret | [`Credentials::client_assertion`] + an [`AssertionProvider`] | tenant, [`TenantTokenSource`] | `POST {accounts}/oauth/v3/token`, jwt-bearer ([`OAuthV3Token`]) |
//! | a user who logged in (`aily auth login`, or [`authorize_url`] + [`exchange_code`]) | [`Credentials::user_tokens`] + a [`UserTokenStore`] | user, [`UserTokenSource`] | `POST /open-apis/authen/v2/oauth/token` ([`UserTokenEndpoint`]) |
//! | a store (ISV) app, installed by many tenants | [`StoreApp`] → [`StoreApp::tenant`] → [`Credentials::source`] | tenant per `tenant_key` | `app_access_token` with the `app_ticket`, then `tenant_access_token` ([`FetchAppToken`], [`FetchStoreTenantToken`]) |
//!
//! Every token request goes through [`TokenHttp`]: the client's transport without
//! auth, under the attempt timeout and the attempt span and metrics — the same
//! observers as any call (`aily.token.fetch` / `aily.token.oauth` / `aily.token.user`
//! / `aily.token.app` / `aily.token.tenant` in `aily.client.feishu.errors`).
//!
//! User tokens use the **documented** v2 endpoint on the API host (RFC 6749, JSON,
//! `client_secret`): it is the one Feishu documents for custom and store apps, it
//! needs no second host, and its refresh families are not mixed with v3's (which
//! the SDKs call; whether the two share refresh families is unverified, so one
//! stored token always uses one endpoint). The keyless tenant token exists only at
//! the v3 endpoint on the accounts host, mapped exactly (`open.feishu.cn` →
//! `accounts.feishu.cn`, `open.larksuite.com` → `accounts.larksuite.com`, see
//! [`oauth_base`]); any other base URL sets [`Credentials::oauth_url`].
//!
//! ## What is stored where, and who can read it
//!
//! | what | where | who can read it |
//! | --- | --- | --- |
//! | app secret, tenant and app tokens | this process's memory (zeroized on drop) | the process |
//! | a fleet's tenant token | Redis ([`TokenStore`]), sealed with AES-256-GCM under a key from the app secret | holders of the app secret; Redis sees ciphertext. A keyless app has no secret: its key comes from the app id and host ([`TokenKey::keyless`]), so anyone who can read that Redis can read the token — restrict Redis with ACLs |
//! | a user's tokens, CLI | a file ([`FileUserTokenStore`]; `AILY_USER_TOKEN_FILE`, default `~/.config/aily/user-token.json`), mode 0600 in a 0700 directory | the OS user (and root) |
//! | a user's tokens, fleet | Redis ([`RedisUserTokenStore`](crate::fleet::store::redis::RedisUserTokenStore)), sealed with the app secret | holders of the app secret |
//! | a user's tokens, one process | [`MemoryUserTokenStore`] | the process |
//!
//! No token, secret, assertion, code, verifier or refresh token appears in any
//! `Debug`, `Display`, span, event or error (`tests/secrets/trace_secrets.rs` checks a TRACE
//! capture of every path); bodies that carry them are serialized once into memory
//! that is wiped when dropped ([`secret_json`]).
//!
//! ## The rotation rule, and why
//!
//! Feishu's refresh tokens are **single use**: a refresh returns a new one and kills
//! the old one at once. Two workers refreshing the same user at the same moment
//! therefore log the user out (the loser's refresh answers 20064, revoked), and a
//! worker that retries a refresh whose reply it lost sends a dead token. So
//! [`UserTokenSource`]:
//!
//! 1. refreshes one user at a time across threads (an in-process single flight),
//!    processes (a file lock) and replicas (a Redis lock with a TTL and a fencing id);
//! 2. re-reads the stored token under the lock and uses it if another process already
//!    rotated it;
//! 3. persists the new refresh token (compare-and-swap on a generation number) before
//!    it hands out the new access token, and never writes an empty token;
//! 4. sends a refresh at most twice — the second only after 20050 or a connect error,
//!    when the first surely did not reach Feishu; a refresh that was sent and whose
//!    reply was lost consumed the token: the record is marked, and the error
//!    ([`Error::reauthorization_required`](crate::Error::reauthorization_required))
//!    says to log in again;
//! 5. finishes a refresh it started even if the caller goes away (it runs detached,
//!    under its own budget), so the rotated token is never lost.
//!
//! Tenant tokens have no refresh token: any replica may fetch one at any time (both
//! stay valid), so their sources only share them to save requests.

mod assertion;
mod exchange;
#[cfg(feature = "pem-signer")]
mod pem_signer;
mod pkce;
mod store_app;
pub(crate) mod tenant;
mod token;
mod user;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

pub use crate::fleet::token_store::{LocalTokenStore, LockId, StoredToken, TokenKey, TokenStore};
pub use assertion::{AssertionFuture, AssertionProvider, oauth_base};
pub use exchange::{
    AppCredentialsBody, AppTicketBody, CLIENT_ASSERTION_TYPE, FetchAppToken, FetchAppTokenRequest,
    FetchStoreTenantToken, FetchStoreTenantTokenRequest, FetchTenantToken, FetchTenantTokenRequest,
    IssuedToken, JWT_BEARER_GRANT, MAX_ACCEPTED_REFRESH_EXPIRE, MAX_ASSERTION_LEN,
    MAX_REFRESH_LIFETIME, OAUTH_SERVER_ERROR, OAuthGrant, OAuthTokens, OAuthV3Token,
    OAuthV3TokenRequest, REAUTHORIZE_CODES, ResendAppTicket, ResendAppTicketRequest,
    StoreTenantBody, TokenHttp, UserTokenEndpoint, UserTokenRequest, refresh_lifetime, secret_json,
};
#[cfg(feature = "pem-signer")]
pub use pem_signer::{ASSERTION_LIFETIME, PemSigner};
pub use pkce::{base64url, pkce_challenge, pkce_verifier};
pub use store_app::{CODE_APP_TICKET_INVALID, StoreApp};
pub use tenant::{
    DEFAULT_FETCH_TIMEOUT, DEFAULT_REFRESH_MARGIN, MAX_ACCEPTED_EXPIRE, MAX_TOKEN_LIFETIME,
    TENANT_TOKEN_PATH, TenantTokenSource, token_lifetime,
};
pub use token::{AccessToken, Credentials, SecretString, TokenFuture, TokenKind, TokenSource};
pub(crate) use token::{CredentialsInner, source_scope};
#[cfg(feature = "redis")]
pub(crate) use user::poll_lock;
#[cfg(feature = "redis")]
pub(crate) use user::unix_now;
pub use user::{
    DEFAULT_REFRESH_BUDGET, DEFAULT_USER_REFRESH_MARGIN, FileUserTokenStore, GetUserInfo,
    MemoryUserTokenStore, OFFLINE_ACCESS, UserInfo, UserInfoRequest, UserKey, UserLock,
    UserTokenSource, UserTokenStore, UserTokens, authorize_url, exchange_code, login_state,
};

use crate::api::envelope::{envelope_code, is_token_code};
use crate::error::{BoxError, Error};
use crate::transport::RequestBody;

#[derive(Clone, Debug)]
enum Tokens {
    Fixed(AccessToken),
    Source(Arc<dyn TokenSource>),
}

/// Adds the access token to every request.
///
/// ```
/// use aily_client::auth::AuthLayer;
/// use aily_client::{AccessToken, TokenKind};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aily_client::Error> {
/// let http = tower::service_fn(|req: http::Request<aily_client::transport::RequestBody>| async move {
///     let auth = req.headers()["authorization"].clone();
///     assert!(auth.is_sensitive());
///     Ok::<_, aily_client::BoxError>(http::Response::new(bytes::Bytes::from(auth.as_bytes().to_vec())))
/// });
/// let svc = AuthLayer::fixed(AccessToken::new(TokenKind::Tenant, "t-abc")?).layer(http);
/// let resp = svc.oneshot(http::Request::new(Default::default())).await.unwrap();
/// assert_eq!(resp.body(), "Bearer t-abc");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer {
    tokens: Tokens,
}

impl AuthLayer {
    /// Always sends `token`.
    pub fn fixed(token: AccessToken) -> Self {
        AuthLayer {
            tokens: Tokens::Fixed(token),
        }
    }

    /// Asks `source` for the token on every attempt.
    pub fn from_source(source: Arc<dyn TokenSource>) -> Self {
        AuthLayer {
            tokens: Tokens::Source(source),
        }
    }
}

impl Credentials {
    /// The [`AuthLayer`] these credentials need (as kube-client's `auth_layer()`): a
    /// fixed token's, a [`TokenSource`]'s, or — for [`Credentials::app`] and
    /// [`Credentials::client_assertion`] — a [`TenantTokenSource`] that fetches tenant
    /// tokens through `token_http` (the HTTP tier without auth, see [`TokenHttp`]),
    /// refreshed `refresh_margin` before they expire. Spawns nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aily_client::auth::TokenHttp;
    /// use aily_client::{Client, Credentials};
    ///
    /// # fn main() -> Result<(), aily_client::Error> {
    /// let client = Client::builder().credentials(Credentials::tenant_token("t-x")).build()?;
    /// let http = TokenHttp::new(client.http_service(), Duration::from_secs(10));
    /// let layer = Credentials::app("cli_a", "s3cret").auth_layer(http.clone(), Duration::from_secs(180))?;
    /// # let _ = layer;
    /// assert!(Credentials::app("", "x").auth_layer(http, Duration::ZERO).is_err());
    /// # Ok(()) }
    /// ```
    pub fn auth_layer(
        &self,
        token_http: TokenHttp,
        refresh_margin: Duration,
    ) -> Result<AuthLayer, Error> {
        Ok(match &self.0 {
            CredentialsInner::Token { kind, token } => {
                AuthLayer::fixed(AccessToken::new(*kind, token.expose())?)
            }
            CredentialsInner::Source(source) => AuthLayer::from_source(source.clone()),
            CredentialsInner::User {
                app_id,
                app_secret,
                store,
                user,
            } => {
                if app_id.is_empty() || app_secret.expose().is_empty() {
                    return Err(Error::config("the app_id and app_secret must not be empty"));
                }
                let base = token_http
                    .base()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let key = UserKey::new(&base, app_id, user);
                AuthLayer::from_source(Arc::new(UserTokenSource::new(
                    app_id.clone(),
                    app_secret.clone(),
                    token_http,
                    store.clone(),
                    key,
                )))
            }
            CredentialsInner::App { .. } | CredentialsInner::ClientAssertion { .. } => {
                AuthLayer::from_source(Arc::new(self.tenant_source(token_http, refresh_margin)?))
            }
        })
    }

    /// The tenant token source of app credentials (the app secret's or the client
    /// assertion's), checked: nothing empty, an OAuth host known.
    pub(crate) fn tenant_source(
        &self,
        token_http: TokenHttp,
        refresh_margin: Duration,
    ) -> Result<TenantTokenSource, Error> {
        match &self.0 {
            CredentialsInner::App { app_id, app_secret } => {
                if app_id.is_empty() || app_secret.expose().is_empty() {
                    return Err(Error::config("the app_id and app_secret must not be empty"));
                }
                Ok(TenantTokenSource::with_options(
                    app_id.clone(),
                    app_secret.clone(),
                    token_http,
                    refresh_margin,
                ))
            }
            CredentialsInner::ClientAssertion {
                app_id,
                provider,
                oauth_url,
                audience,
            } => {
                if app_id.is_empty() {
                    return Err(Error::config("the app_id must not be empty"));
                }
                let oauth = match (oauth_url, token_http.base()) {
                    (Some(url), _) => url.clone(),
                    (None, Some(api)) => oauth_base(api).ok_or_else(|| {
                        Error::config(format!(
                            "no OAuth host is known for {api}: set Credentials::oauth_url"
                        ))
                    })?,
                    (None, None) => {
                        return Err(Error::config(
                            "the OAuth host is not known: set Credentials::oauth_url",
                        ));
                    }
                };
                let audience = audience.clone().unwrap_or_else(|| oauth.to_string());
                Ok(TenantTokenSource::from_fetcher(
                    app_id.clone(),
                    tenant::Fetcher::Assertion {
                        provider: provider.clone(),
                        audience,
                    },
                    token_http.at(&oauth)?,
                    refresh_margin,
                ))
            }
            _ => Err(Error::config("these credentials fetch no tenant token")),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct Auth<S> {
    inner: S,
    tokens: Tokens,
}

impl<S> Auth<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<RequestBody>> for Auth<S>
where
    S: Service<Request<RequestBody>, Response = Response<Bytes>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = Response<Bytes>;
    type Error = BoxError;
    type Future = AuthFuture<S, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<RequestBody>) -> Self::Future {
        let source = match &self.tokens {
            Tokens::Fixed(token) => {
                req.headers_mut()
                    .insert(AUTHORIZATION, token.header_value().clone());
                return AuthFuture {
                    state: AuthState::Fixed {
                        future: self.inner.call(req),
                    },
                };
            }
            Tokens::Source(source) => source.clone(),
        };
        // The ready service goes into the future; a fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        match source.cached() {
            // Warm: send now, keeping what a replay would need.
            Some(token) => {
                let replay = copy_request(&req);
                req.headers_mut()
                    .insert(AUTHORIZATION, token.header_value().clone());
                AuthFuture {
                    state: AuthState::Sent {
                        future: inner.call(req),
                        replay: Some(Box::new(Replay {
                            inner,
                            source,
                            token,
                            request: replay,
                        })),
                    },
                }
            }
            // Cold: the token must be awaited first.
            None => AuthFuture {
                state: AuthState::Slow {
                    future: Box::pin(fetch_then_send(inner, source, req)),
                },
            },
        }
    }
}

/// What replaying a request with a fresh token needs.
struct Replay<S> {
    inner: S,
    source: Arc<dyn TokenSource>,
    token: AccessToken,
    request: Request<RequestBody>,
}

impl<S> Replay<S>
where
    S: Service<Request<RequestBody>, Response = Response<Bytes>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    /// After a reply: the reply itself, or — if it rejects the token and the source has
    /// a fresher one — the replay, once.
    fn after(
        self,
        response: Response<Bytes>,
    ) -> Result<Response<Bytes>, BoxFuture<Result<Response<Bytes>, BoxError>>> {
        if !replays(&response, &*self.source, &self.token) {
            return Ok(response);
        }
        let Replay {
            inner,
            source,
            request,
            ..
        } = self;
        Err(Box::pin(resend(inner, source, request)))
    }
}

/// The replay rule, in one place: a reply that rejects `token` invalidates it, and if
/// the source held it (so a fresher one is coming), the request is sent once more.
fn replays(response: &Response<Bytes>, source: &dyn TokenSource, token: &AccessToken) -> bool {
    rejects_token(response) && source.invalidate(token)
}

/// The HTTP tier below the auth layer, as the slow paths need it.
trait Http: Service<Request<RequestBody>, Response = Response<Bytes>, Error: Into<BoxError>> {}

impl<S> Http for S where
    S: Service<Request<RequestBody>, Response = Response<Bytes>, Error: Into<BoxError>>
{
}

/// The one replay: a fresh token from `source`, and `request` sent with it.
async fn resend<S: Http>(
    mut inner: S,
    source: Arc<dyn TokenSource>,
    request: Request<RequestBody>,
) -> Result<Response<Bytes>, BoxError> {
    let fresh = source.token().await?;
    send(&mut inner, request, &fresh).await
}

/// The cold path: await the token, send, and replay once if the reply rejects it.
async fn fetch_then_send<S: Http>(
    mut inner: S,
    source: Arc<dyn TokenSource>,
    req: Request<RequestBody>,
) -> Result<Response<Bytes>, BoxError> {
    let replay = copy_request(&req);
    let token = source.token().await?;
    let response = send(&mut inner, req, &token).await?;
    if !replays(&response, &*source, &token) {
        return Ok(response);
    }
    resend(inner, source, replay).await
}

/// Readies `inner` and sends `req` with `token`.
async fn send<S: Http>(
    inner: &mut S,
    mut req: Request<RequestBody>,
    token: &AccessToken,
) -> Result<Response<Bytes>, BoxError> {
    req.headers_mut()
        .insert(AUTHORIZATION, token.header_value().clone());
    tower::ServiceExt::ready(&mut *inner)
        .await
        .map_err(Into::into)?;
    inner.call(req).await.map_err(Into::into)
}

fn copy_request(req: &Request<RequestBody>) -> Request<RequestBody> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

/// True when the reply's envelope says the token is invalid or expired.
fn rejects_token(response: &Response<Bytes>) -> bool {
    envelope_code(response.body()).is_some_and(is_token_code)
}

pin_project! {
    /// The future of [`Auth`]. A fixed token forwards the inner future as it is; a
    /// source's cached token sends at once and keeps what a replay needs; only a token
    /// that must be awaited, or a replay, is boxed.
    pub struct AuthFuture<S, F> {
        #[pin]
        state: AuthState<S, F>,
    }
}

pin_project! {
    #[project = AuthStateProj]
    enum AuthState<S, F> {
        Fixed { #[pin] future: F },
        // Boxed: what a replay needs is a few hundred bytes, and every layer above
        // moves this future; a fixed token's call should not carry them.
        Sent { #[pin] future: F, replay: Option<Box<Replay<S>>> },
        Slow { future: BoxFuture<Result<Response<Bytes>, BoxError>> },
    }
}

impl<S, F, E> Future for AuthFuture<S, F>
where
    F: Future<Output = Result<Response<Bytes>, E>>,
    E: Into<BoxError>,
    S: Service<Request<RequestBody>, Response = Response<Bytes>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Output = Result<Response<Bytes>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                AuthStateProj::Fixed { future } => return future.poll(cx).map_err(Into::into),
                AuthStateProj::Slow { future } => return future.as_mut().poll(cx),
                AuthStateProj::Sent { future, replay } => {
                    let response = ready!(future.poll(cx)).map_err(Into::into)?;
                    let Some(replay) = replay.take() else {
                        return Poll::Ready(Ok(response));
                    };
                    match (*replay).after(response) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(future) => this.state.set(AuthState::Slow { future }),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The auth layer alone, over tower-test's mock HTTP service, with a token
    //! source written here that counts what the layer asks of it.

    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::sync::Notify;
    use tower::ServiceExt;
    use tower_test::mock::{self, Handle, Mock, SendResponse};

    use super::*;
    use crate::api::envelope::CODE_TOKEN_INVALID;
    use crate::error::ErrorKind;

    use crate::test_support::Bounded;

    type Http = Mock<Request<RequestBody>, Response<Bytes>>;
    type HttpHandle = Handle<Request<RequestBody>, Response<Bytes>>;

    fn token(secret: &str) -> AccessToken {
        AccessToken::new(TokenKind::Tenant, secret).unwrap()
    }

    /// A token source that holds one current token (cold when none), hands out the
    /// `fresh` ones in order when asked for a token with none current or after an
    /// invalidation, and counts every call.
    #[derive(Debug, Default)]
    struct TestSource {
        current: Mutex<Option<AccessToken>>,
        fresh: Mutex<VecDeque<AccessToken>>,
        /// What `invalidate` answers.
        refreshes: bool,
        /// `token()` fails with an auth error.
        fails: bool,
        /// When set, `token()` waits for a notification first.
        gate: Option<Notify>,
        token_calls: AtomicUsize,
        invalidated: Mutex<Vec<String>>,
    }

    impl TestSource {
        fn warm(current: &str, fresh: &[&str]) -> TestSource {
            TestSource {
                current: Mutex::new(Some(token(current))),
                fresh: Mutex::new(fresh.iter().map(|s| token(s)).collect()),
                refreshes: true,
                ..TestSource::default()
            }
        }

        fn cold(fresh: &[&str]) -> TestSource {
            TestSource {
                fresh: Mutex::new(fresh.iter().map(|s| token(s)).collect()),
                refreshes: true,
                ..TestSource::default()
            }
        }

        fn token_calls(&self) -> usize {
            self.token_calls.load(Ordering::SeqCst)
        }

        fn invalidated(&self) -> Vec<String> {
            self.invalidated.lock().unwrap().clone()
        }
    }

    impl TokenSource for TestSource {
        fn token(&self) -> TokenFuture<'_> {
            Box::pin(async move {
                self.token_calls.fetch_add(1, Ordering::SeqCst);
                if let Some(gate) = &self.gate {
                    gate.notified().await;
                }
                if self.fails {
                    return Err(Error::new(ErrorKind::Auth, "no token to be had"));
                }
                let mut current = self.current.lock().unwrap();
                if current.is_none() {
                    *current = self.fresh.lock().unwrap().pop_front();
                }
                current
                    .clone()
                    .ok_or_else(|| Error::new(ErrorKind::Auth, "no fresh token left"))
            })
        }

        fn cached(&self) -> Option<AccessToken> {
            self.current.lock().unwrap().clone()
        }

        fn invalidate(&self, token: &AccessToken) -> bool {
            self.invalidated
                .lock()
                .unwrap()
                .push(token.secret().to_owned());
            let mut current = self.current.lock().unwrap();
            if current.as_ref() == Some(token) {
                *current = None;
            }
            self.refreshes
        }
    }

    fn auth_over_mock(layer: AuthLayer) -> (Auth<Http>, HttpHandle) {
        let (http, handle) = mock::pair::<Request<RequestBody>, Response<Bytes>>();
        (layer.layer(http), handle)
    }

    fn request() -> Request<RequestBody> {
        let mut req = Request::new(RequestBody::new(Bytes::from_static(b"{}")));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = "/open-apis/aily/v1/sessions/s/runs/r/cancel"
            .parse()
            .unwrap();
        req.headers_mut()
            .insert("x-aily-bizuserid", http::HeaderValue::from_static("ou_1"));
        req
    }

    fn reply(code: i64) -> Response<Bytes> {
        Response::new(Bytes::from(format!(r#"{{"code":{code},"msg":"m"}}"#)))
    }

    /// The next request sent, its bearer token (checked to be marked sensitive) and
    /// where to answer it.
    async fn sent(
        handle: &mut HttpHandle,
    ) -> (Request<RequestBody>, String, SendResponse<Response<Bytes>>) {
        let (req, send) = handle
            .next_request()
            .bounded()
            .await
            .expect("a request is sent");
        let auth = req.headers()[AUTHORIZATION].clone();
        assert!(auth.is_sensitive());
        let bearer = auth.to_str().unwrap().to_owned();
        (req, bearer, send)
    }

    /// Once the call is over and the layer dropped, nothing more was sent.
    async fn nothing_more(handle: &mut HttpHandle) {
        assert!(
            handle.next_request().bounded().await.is_none(),
            "no further request"
        );
    }

    async fn body_of(req: Request<RequestBody>) -> Bytes {
        req.into_body().collect().await.unwrap().to_bytes()
    }

    fn code_of(resp: &Response<Bytes>) -> Option<i64> {
        crate::api::envelope::envelope_code(resp.body())
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_token_is_a_sensitive_bearer_header_and_never_replayed() {
        let (svc, mut handle) = auth_over_mock(AuthLayer::fixed(token("t-fixed")));
        let call = tokio::spawn(svc.oneshot(request()));
        let (req, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-fixed");
        assert_eq!(req.headers()["x-aily-bizuserid"], "ou_1");
        send.send_response(reply(CODE_TOKEN_INVALID));
        // A rejected fixed token has nothing fresher: the reply is the answer.
        let resp = call.bounded().await.unwrap().unwrap();
        assert_eq!(code_of(&resp), Some(CODE_TOKEN_INVALID));
        nothing_more(&mut handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_warm_source_sends_once_with_its_cached_token() {
        let source = Arc::new(TestSource::warm("t-warm", &[]));
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let call = tokio::spawn(svc.oneshot(request()));
        let (_req, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-warm");
        send.send_response(reply(0));
        assert_eq!(code_of(&call.bounded().await.unwrap().unwrap()), Some(0));
        nothing_more(&mut handle).await;
        assert_eq!(source.token_calls(), 0, "a warm token is not awaited");
        assert!(source.invalidated().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_token_is_invalidated_and_the_call_replayed_once_with_the_fresh_one() {
        let source = Arc::new(TestSource::warm("t-old", &["t-new"]));
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let call = tokio::spawn(svc.oneshot(request()));
        let (_first, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-old");
        send.send_response(reply(CODE_TOKEN_INVALID));

        let (replay, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-new");
        assert_eq!(source.invalidated(), ["t-old"]);
        // The replay is the same request.
        assert_eq!(replay.method(), http::Method::POST);
        assert_eq!(replay.uri(), "/open-apis/aily/v1/sessions/s/runs/r/cancel");
        assert_eq!(replay.headers()["x-aily-bizuserid"], "ou_1");
        assert_eq!(body_of(replay).await, "{}");
        send.send_response(reply(0));

        assert_eq!(code_of(&call.bounded().await.unwrap().unwrap()), Some(0));
        nothing_more(&mut handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_replay_rejected_again_is_not_replayed_a_second_time() {
        let source = Arc::new(TestSource::warm("t-1", &["t-2", "t-3"]));
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let call = tokio::spawn(svc.oneshot(request()));
        let (_r, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-1");
        send.send_response(reply(CODE_TOKEN_INVALID));
        let (_r, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-2");
        send.send_response(reply(CODE_TOKEN_INVALID));
        // The second rejection is the answer (the API-call layer makes it an auth error).
        assert_eq!(
            code_of(&call.bounded().await.unwrap().unwrap()),
            Some(CODE_TOKEN_INVALID)
        );
        nothing_more(&mut handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn no_replay_when_the_source_has_nothing_fresher() {
        let source = Arc::new(TestSource {
            refreshes: false,
            ..TestSource::warm("t-only", &["t-unused"])
        });
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let call = tokio::spawn(svc.oneshot(request()));
        let (_r, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-only");
        send.send_response(reply(CODE_TOKEN_INVALID));
        assert_eq!(
            code_of(&call.bounded().await.unwrap().unwrap()),
            Some(CODE_TOKEN_INVALID)
        );
        nothing_more(&mut handle).await;
        assert_eq!(source.invalidated(), ["t-only"], "asked, and it said no");
        assert_eq!(source.token_calls(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn other_failures_are_not_token_rejections() {
        let source = Arc::new(TestSource::warm("t-1", &["t-2"]));
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let call = tokio::spawn(svc.oneshot(request()));
        let (_r, _bearer, send) = sent(&mut handle).await;
        send.send_response(reply(2700001));
        assert_eq!(
            code_of(&call.bounded().await.unwrap().unwrap()),
            Some(2700001)
        );
        nothing_more(&mut handle).await;
        assert!(source.invalidated().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cold_source_is_awaited_before_anything_is_sent() {
        let source = Arc::new(TestSource {
            gate: Some(Notify::new()),
            ..TestSource::cold(&["t-cold"])
        });
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let call = tokio::spawn(svc.oneshot(request()));
        let early = tokio::time::timeout(Duration::from_secs(1), handle.next_request()).await;
        assert!(early.is_err(), "nothing is sent while the token is awaited");
        assert_eq!(source.token_calls(), 1);

        source.gate.as_ref().unwrap().notify_one();
        let (_r, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-cold");
        send.send_response(reply(0));
        assert_eq!(code_of(&call.bounded().await.unwrap().unwrap()), Some(0));
        nothing_more(&mut handle).await;
        assert_eq!(source.token_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cold_source_replays_once_too() {
        let source = Arc::new(TestSource::cold(&["t-1", "t-2", "t-3"]));
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let call = tokio::spawn(svc.oneshot(request()));
        let (_r, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-1");
        send.send_response(reply(CODE_TOKEN_INVALID));
        let (replay, bearer, send) = sent(&mut handle).await;
        assert_eq!(bearer, "Bearer t-2");
        assert_eq!(source.invalidated(), ["t-1"]);
        assert_eq!(replay.headers()["x-aily-bizuserid"], "ou_1");
        assert_eq!(body_of(replay).await, "{}");
        send.send_response(reply(CODE_TOKEN_INVALID));
        assert_eq!(
            code_of(&call.bounded().await.unwrap().unwrap()),
            Some(CODE_TOKEN_INVALID)
        );
        nothing_more(&mut handle).await;
        assert_eq!(
            source.token_calls(),
            2,
            "the first token, then the fresh one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_error_propagates_and_nothing_is_sent() {
        let source = Arc::new(TestSource {
            fails: true,
            ..TestSource::cold(&[])
        });
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let err = svc.oneshot(request()).bounded().await.unwrap_err();
        let err = Error::from_box(err);
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.to_string().contains("no token to be had"), "{err}");
        nothing_more(&mut handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_error_on_the_replay_propagates_after_one_send() {
        let source = Arc::new(TestSource::warm("t-1", &[]));
        let (svc, mut handle) = auth_over_mock(AuthLayer::from_source(source.clone()));
        let call = tokio::spawn(svc.oneshot(request()));
        let (_r, _bearer, send) = sent(&mut handle).await;
        send.send_response(reply(CODE_TOKEN_INVALID));
        let err = Error::from_box(call.bounded().await.unwrap().unwrap_err());
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.to_string().contains("no fresh token left"), "{err}");
        nothing_more(&mut handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_inner_error_passes_through() {
        let (svc, mut handle) =
            auth_over_mock(AuthLayer::from_source(Arc::new(TestSource::warm("t", &[]))));
        let call = tokio::spawn(svc.oneshot(request()));
        let (_r, _bearer, send) = sent(&mut handle).await;
        send.send_error(Error::new(ErrorKind::Transport, "reset"));
        let err = Error::from_box(call.bounded().await.unwrap().unwrap_err());
        assert_eq!(err.kind(), ErrorKind::Transport);
        nothing_more(&mut handle).await;
    }
}
