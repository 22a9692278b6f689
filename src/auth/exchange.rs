//! The token endpoints, each an [`Endpoint`] of the crate's one endpoint shape, and
//! [`TokenHttp`], the small stack they are sent through: the HTTP tier *without*
//! auth, under the attempt timeout and the attempt observers (span and metrics).
//!
//! Every token source of this module — the app secret's, the client assertion's, the
//! user's, the store app's — sends its requests here; none builds an HTTP request or
//! reads a reply of its own.
//!
//! Bodies hold secrets (an app secret, an assertion, a code, a refresh token): they
//! are serialized into a buffer sized exactly once and wiped when the last copy of
//! the bytes drops ([`secret_json`]), and no `Debug` prints them. Replies hold tokens:
//! they are read into [`SecretString`]s at once and the decoders' errors never quote
//! a body.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::Response;
use serde::{Deserialize, Serialize, Serializer};
use tower::{ServiceBuilder, ServiceExt};
use zeroize::Zeroize;

use super::tenant::token_lifetime;
use super::token::{SecretString, wiped_on_drop};
use crate::api::envelope::{log_id_header, not_an_envelope};
use crate::api::request::{ApiRequest, RawEndpoint};
use crate::error::{Error, ErrorKind};
use crate::layers::api_call::{ApiCallLayer, Reply};
use crate::layers::observe::AttemptLayer;
use crate::layers::timeout::AttemptTimeoutLayer;
use crate::transport::{BaseUriLayer, BaseUrl, HttpService};

/// The largest `refresh_token_expires_in` accepted (seconds): 1,000 × the 30 days
/// Feishu grants; larger is garbage, refused like an absurd `expire`.
pub const MAX_ACCEPTED_REFRESH_EXPIRE: i64 = 1_000 * 30 * 24 * 3600;
/// The longest a refresh token is trusted to live: Feishu grants 30 days (a longer
/// `refresh_token_expires_in`, up to [`MAX_ACCEPTED_REFRESH_EXPIRE`], is clamped to it).
pub const MAX_REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where token requests go, and the small stack they go through: an HTTP service
/// *without* the auth layer, the host the endpoints live on, the bound on one
/// request, and the attempt observers' settings. Cheap to clone.
///
/// [`TokenHttp::to`] takes a transport without a base URI and a host, so the same
/// transport can reach the OAuth host too ([`TokenHttp::at`]); [`TokenHttp::new`]
/// takes a service that already sends where it should.
///
/// ```
/// use std::time::Duration;
/// use aily_client::auth::TokenHttp;
/// use aily_client::transport::{BaseUrl, CollectBodyLayer, HttpService, TransportConfig, hyper_client};
/// use tower::ServiceBuilder;
///
/// let transport = ServiceBuilder::new()
///     .layer(CollectBodyLayer::default())
///     .service(hyper_client(&TransportConfig::default())?);
/// let http = TokenHttp::to(HttpService::new(transport), &BaseUrl::feishu(), Duration::from_secs(10));
/// let oauth = http.at(&BaseUrl::parse("https://accounts.feishu.cn")?)?;
/// assert_eq!(oauth.base().unwrap().host(), "accounts.feishu.cn");
/// assert_eq!(oauth.timeout(), Duration::from_secs(10));
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenHttp {
    http: HttpService,
    /// Where requests go, when `http` has no base URI of its own.
    base: Option<BaseUrl>,
    timeout: Duration,
    level: tracing::Level,
}

impl TokenHttp {
    /// Token requests through `http` (which sends to the right host and adds no
    /// `Authorization`), each bounded by `timeout`; attempt spans at DEBUG.
    pub fn new(http: HttpService, timeout: Duration) -> Self {
        TokenHttp {
            http,
            base: None,
            timeout,
            level: tracing::Level::DEBUG,
        }
    }

    /// Token requests to `base` through `transport` (which has no base URI layer and
    /// adds no `Authorization`), each bounded by `timeout`; the attempt observers name
    /// `base` as the server.
    pub fn to(transport: HttpService, base: &BaseUrl, timeout: Duration) -> Self {
        TokenHttp {
            base: Some(base.clone()),
            ..TokenHttp::new(transport, timeout)
        }
    }

    /// The same transport and settings, to another host (the OAuth host): only for a
    /// `TokenHttp` made with [`to`](TokenHttp::to).
    pub fn at(&self, base: &BaseUrl) -> Result<TokenHttp, Error> {
        if self.base.is_none() {
            return Err(Error::config(
                "this token HTTP service has a fixed host; make it with TokenHttp::to to reach the OAuth host",
            ));
        }
        Ok(TokenHttp {
            base: Some(base.clone()),
            ..self.clone()
        })
    }

    /// Attempt spans at `level`.
    pub fn span_level(mut self, level: tracing::Level) -> Self {
        self.level = level;
        self
    }

    /// The host requests go to, when this was made with [`to`](TokenHttp::to).
    pub fn base(&self) -> Option<&BaseUrl> {
        self.base.as_ref()
    }

    /// The bound on one token request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one token request through the token stack — the only place that stack is
    /// assembled: the attempt layer (its span, the metrics with the feature `metrics`),
    /// the attempt timeout, [`ApiCallLayer`], the base URI, the HTTP tier. The error says
    /// nothing of a reply to the *caller's* request: the token endpoint's reply is not
    /// it ([`Error::reply_status`] is cleared), though its code, status and log id stay.
    pub fn send<E: RawEndpoint>(
        &self,
        request: ApiRequest<E>,
    ) -> impl Future<Output = Result<Reply<E::Response>, Error>> + Send + 'static {
        let mut attempt = AttemptLayer::new().with_level(self.level);
        if let Some(base) = &self.base {
            attempt = attempt.server(base);
        }
        let stack = ServiceBuilder::new()
            .layer(attempt)
            .layer(AttemptTimeoutLayer::new(self.timeout))
            .layer(ApiCallLayer::new())
            .option_layer(self.base.clone().map(BaseUriLayer::new))
            .service(self.http.clone());
        // Built here, owned by the future: it borrows nothing of `self`.
        stack
            .oneshot(request)
            .map(|result| result.map_err(Error::not_replied))
    }
}

impl fmt::Debug for TokenHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenHttp")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `body` as JSON in a buffer sized exactly once (so no growth leaves a copy of a
/// secret behind) and wiped when the last copy of the bytes drops: what every token
/// endpoint's [`RawEndpoint::encode_body`] returns.
///
/// ```
/// let bytes = aily_client::auth::secret_json(&serde_json::json!({"app_secret": "s"}));
/// assert_eq!(bytes, r#"{"app_secret":"s"}"#);
/// ```
pub fn secret_json<T: Serialize + ?Sized>(body: &T) -> Bytes {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    if serde_json::to_writer(&mut count, body).is_err() {
        return Bytes::from_static(b"{}");
    }
    let mut out = Vec::with_capacity(count.0);
    if serde_json::to_writer(&mut out, body).is_err() || out.len() != count.0 {
        out.zeroize();
        return Bytes::from_static(b"{}");
    }
    wiped_on_drop(out)
}

/// Serializes a secret as its text (for the bodies of this module only).
fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// A token as an endpoint issued it: the token and how long it lives (bounded where it
/// entered, see [`token_lifetime`]).
#[derive(Clone, Debug)]
pub struct IssuedToken {
    /// The token.
    pub token: SecretString,
    /// Its lifetime, at most [`MAX_TOKEN_LIFETIME`](crate::auth::MAX_TOKEN_LIFETIME).
    pub lifetime: Duration,
}

/// The flat `{code, msg, <token field>, expire}` reply of the `auth/v3` endpoints.
#[derive(Deserialize)]
struct FlatReply {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    tenant_access_token: Option<String>,
    #[serde(default)]
    app_access_token: Option<String>,
    #[serde(default)]
    expire: Option<i64>,
}

/// Decodes a flat `auth/v3` reply: `code` 0 and `field` with `expire`, or the error
/// (`hint` says what to check) with the reply's code, msg, status and log id.
fn decode_flat(
    response: &Response<Bytes>,
    field: &'static str,
    hint: &'static str,
) -> Result<IssuedToken, Error> {
    let log_id = log_id_header(response.headers());
    let Ok(mut reply) = serde_json::from_slice::<FlatReply>(response.body()) else {
        // Not the token endpoint's JSON: say what came back, never the body itself.
        return Err(not_an_envelope(response, "the token endpoint's reply"));
    };
    let token = match field {
        "app_access_token" => reply.app_access_token.take(),
        _ => reply.tenant_access_token.take(),
    };
    // The reply's copy of the token goes into a secret at once.
    let token = token.map(SecretString::new);
    let code = reply.code.unwrap_or(-1);
    if code != 0 {
        return Err(Error::new(ErrorKind::Auth, hint)
            .with_status(response.status())
            .with_api(code, reply.msg, None)
            .with_log_id(log_id));
    }
    let (Some(token), Some(expire)) = (token, reply.expire) else {
        return Err(Error::new(
            ErrorKind::Decode,
            format!("the token endpoint answered code 0 without {field} and expire"),
        )
        .with_log_id(log_id));
    };
    if token.expose().is_empty() {
        return Err(Error::new(
            ErrorKind::Decode,
            format!("the token endpoint answered an empty {field}"),
        )
        .with_log_id(log_id));
    }
    let lifetime = token_lifetime(expire).map_err(|e| e.with_log_id(log_id))?;
    Ok(IssuedToken { token, lifetime })
}

/// A request to an operation whose URL template has no placeholders, with `body`.
fn fixed_path<E: RawEndpoint>(body: E::Body) -> Result<ApiRequest<E>, Error> {
    Ok(ApiRequest::<E>::with_ids(&[])?.with_body(body))
}

/// A token endpoint: its typed response and body, its decoder, a body serialized by
/// [`secret_json`] (it holds a secret); `idempotent: false` for an endpoint never
/// sent again on its own.
macro_rules! token_endpoint {
    ($op:ty, $body:ty => $response:ty, $decode:expr $(, idempotent: $idem:expr)?) => {
        impl RawEndpoint for $op {
            type Response = $response;
            type Body = $body;
            $(const IDEMPOTENT: bool = $idem;)?
            fn decode(response: Response<Bytes>) -> Result<$response, Error> {
                ($decode)(&response)
            }
            fn encode_body(body: &$body) -> Bytes {
                secret_json(body)
            }
        }
    };
}

/// Refuses an empty or oversized value before anything is sent.
fn check(what: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid_input(format!(
            "the {what} must not be empty"
        )));
    }
    if value.len() > max {
        return Err(Error::invalid_input(format!(
            "the {what} is longer than {max} bytes"
        )));
    }
    Ok(())
}

/// The longest ID (app ID, tenant key, client ID) a token request accepts.
const MAX_ID_LEN: usize = 255;
/// The longest secret (app secret, ticket, code, verifier) a token request accepts.
const MAX_SECRET_LEN: usize = 4096;
/// The longest client assertion or refresh token accepted: a JWT, sized for keys and
/// claims of any reasonable size.
pub const MAX_ASSERTION_LEN: usize = 16 * 1024;

crate::operation! {
    /// Fetches a self-built app's tenant access token with its app secret.
    pub FetchTenantToken = "aily.token.fetch", POST "/open-apis/auth/v3/tenant_access_token/internal"
}

/// The body of [`FetchTenantToken`] and [`ResendAppTicket`]: `{app_id, app_secret}`.
#[derive(Clone, Debug, Serialize)]
pub struct AppCredentialsBody {
    /// The app's ID.
    pub app_id: String,
    /// The app's secret.
    #[serde(serialize_with = "expose")]
    pub app_secret: SecretString,
}

impl AppCredentialsBody {
    fn new(app_id: &str, app_secret: &SecretString) -> Result<Self, Error> {
        check("app_id", app_id, MAX_ID_LEN)?;
        check("app_secret", app_secret.expose(), MAX_SECRET_LEN)?;
        Ok(AppCredentialsBody {
            app_id: app_id.to_owned(),
            app_secret: app_secret.clone(),
        })
    }
}

token_endpoint!(FetchTenantToken, AppCredentialsBody => IssuedToken, |r| decode_flat(
    r,
    "tenant_access_token",
    "could not obtain a tenant access token (check FEISHU_APP_ID / app_secret)",
));

/// `POST /open-apis/auth/v3/tenant_access_token/internal` with a self-built app's
/// credentials.
///
/// ```
/// use aily_client::auth::FetchTenantTokenRequest;
/// use aily_client::{AilyRequest, SecretString};
///
/// let req = FetchTenantTokenRequest::new("cli_a", &SecretString::new("s3cret"))?;
/// assert_eq!(req.path(), "/open-apis/auth/v3/tenant_access_token/internal");
/// assert!(!format!("{req:?}").contains("s3cret"));
/// assert!(FetchTenantTokenRequest::new("", &SecretString::new("s")).is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type FetchTenantTokenRequest = ApiRequest<FetchTenantToken>;

impl FetchTenantTokenRequest {
    /// The request for app `app_id` with `app_secret` (neither empty).
    pub fn new(app_id: &str, app_secret: &SecretString) -> Result<Self, Error> {
        fixed_path(AppCredentialsBody::new(app_id, app_secret)?)
    }
}

crate::operation! {
    /// Fetches a store app's app access token with its app secret and app ticket.
    pub FetchAppToken = "aily.token.app", POST "/open-apis/auth/v3/app_access_token"
}

/// The body of [`FetchAppToken`]: `{app_id, app_secret, app_ticket}`.
#[derive(Clone, Debug, Serialize)]
pub struct AppTicketBody {
    /// The app's ID.
    pub app_id: String,
    /// The app's secret.
    #[serde(serialize_with = "expose")]
    pub app_secret: SecretString,
    /// The latest `app_ticket` Feishu pushed.
    #[serde(serialize_with = "expose")]
    pub app_ticket: SecretString,
}

token_endpoint!(FetchAppToken, AppTicketBody => IssuedToken, |r| decode_flat(
    r,
    "app_access_token",
    "could not obtain the store app's app access token (check the app secret and the app_ticket)",
));

/// `POST /open-apis/auth/v3/app_access_token` for a store app.
pub type FetchAppTokenRequest = ApiRequest<FetchAppToken>;

impl FetchAppTokenRequest {
    /// The request for store app `app_id` with its secret and the latest ticket.
    pub fn new(
        app_id: &str,
        app_secret: &SecretString,
        app_ticket: &SecretString,
    ) -> Result<Self, Error> {
        let app = AppCredentialsBody::new(app_id, app_secret)?;
        check("app_ticket", app_ticket.expose(), MAX_SECRET_LEN)?;
        fixed_path(AppTicketBody {
            app_id: app.app_id,
            app_secret: app.app_secret,
            app_ticket: app_ticket.clone(),
        })
    }
}

crate::operation! {
    /// Fetches a store app's tenant access token for one tenant.
    pub FetchStoreTenantToken = "aily.token.tenant", POST "/open-apis/auth/v3/tenant_access_token"
}

/// The body of [`FetchStoreTenantToken`]: `{app_access_token, tenant_key}`.
#[derive(Clone, Debug, Serialize)]
pub struct StoreTenantBody {
    /// The store app's app access token.
    #[serde(serialize_with = "expose")]
    pub app_access_token: SecretString,
    /// The tenant the token is for.
    pub tenant_key: String,
}

token_endpoint!(FetchStoreTenantToken, StoreTenantBody => IssuedToken, |r| decode_flat(
    r,
    "tenant_access_token",
    "could not obtain the store app's tenant access token (is the app installed in this tenant?)",
));

/// `POST /open-apis/auth/v3/tenant_access_token` for a store app in one tenant.
pub type FetchStoreTenantTokenRequest = ApiRequest<FetchStoreTenantToken>;

impl FetchStoreTenantTokenRequest {
    /// The request for tenant `tenant_key` with the app access token.
    pub fn new(app_access_token: &SecretString, tenant_key: &str) -> Result<Self, Error> {
        check("tenant_key", tenant_key, MAX_ID_LEN)?;
        fixed_path(StoreTenantBody {
            app_access_token: app_access_token.clone(),
            tenant_key: tenant_key.to_owned(),
        })
    }
}

crate::operation! {
    /// Asks Feishu to push the store app's `app_ticket` event again, now.
    pub ResendAppTicket = "aily.token.app_ticket_resend", POST "/open-apis/auth/v3/app_ticket/resend"
}

token_endpoint!(ResendAppTicket, AppCredentialsBody => (), decode_ack);

/// Decodes the `{code, msg}` of `app_ticket/resend`.
fn decode_ack(response: &Response<Bytes>) -> Result<(), Error> {
    let log_id = log_id_header(response.headers());
    let Ok(reply) = serde_json::from_slice::<FlatReply>(response.body()) else {
        return Err(not_an_envelope(response, "the app_ticket resend reply"));
    };
    match reply.code {
        Some(0) => Ok(()),
        code => Err(
            Error::new(ErrorKind::Auth, "Feishu refused to resend the app_ticket")
                .with_status(response.status())
                .with_api(code.unwrap_or(-1), reply.msg, None)
                .with_log_id(log_id),
        ),
    }
}

/// `POST /open-apis/auth/v3/app_ticket/resend`.
pub type ResendAppTicketRequest = ApiRequest<ResendAppTicket>;

impl ResendAppTicketRequest {
    /// The request for store app `app_id`.
    pub fn new(app_id: &str, app_secret: &SecretString) -> Result<Self, Error> {
        fixed_path(AppCredentialsBody::new(app_id, app_secret)?)
    }
}

/// The `client_assertion_type` of an RFC 7523 client assertion.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The `grant_type` of the keyless tenant token (RFC 7523).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What an OAuth token request asks for (the body's `grant_type` and its fields).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "grant_type")]
#[non_exhaustive]
pub enum OAuthGrant {
    /// A tenant token for a signed client assertion (RFC 7523), no secret.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    ClientAssertion {
        /// Always [`CLIENT_ASSERTION_TYPE`].
        client_assertion_type: &'static str,
        /// The signed JWT.
        #[serde(serialize_with = "expose")]
        client_assertion: SecretString,
        /// The app's ID.
        client_id: String,
    },
    /// A user's tokens for the code of an authorization (with the PKCE verifier).
    #[serde(rename = "authorization_code")]
    AuthorizationCode {
        /// The app's ID.
        client_id: String,
        /// The app's secret.
        #[serde(serialize_with = "expose")]
        client_secret: SecretString,
        /// The code the redirect brought.
        #[serde(serialize_with = "expose")]
        code: SecretString,
        /// The redirect URI the authorization used.
        redirect_uri: String,
        /// The PKCE verifier whose S256 challenge the authorization carried.
        #[serde(serialize_with = "expose")]
        code_verifier: SecretString,
    },
    /// A user's new tokens for the (single-use) refresh token.
    #[serde(rename = "refresh_token")]
    RefreshToken {
        /// The app's ID.
        client_id: String,
        /// The app's secret.
        #[serde(serialize_with = "expose")]
        client_secret: SecretString,
        /// The refresh token; Feishu revokes it as it answers.
        #[serde(serialize_with = "expose")]
        refresh_token: SecretString,
    },
}

impl OAuthGrant {
    /// A client-assertion grant for app `client_id` (checked: neither empty, the
    /// assertion at most [`MAX_ASSERTION_LEN`]).
    pub fn client_assertion(client_id: &str, assertion: SecretString) -> Result<Self, Error> {
        check("client_id", client_id, MAX_ID_LEN)?;
        check("client assertion", assertion.expose(), MAX_ASSERTION_LEN)?;
        Ok(OAuthGrant::ClientAssertion {
            client_assertion_type: CLIENT_ASSERTION_TYPE,
            client_assertion: assertion,
            client_id: client_id.to_owned(),
        })
    }

    /// An authorization-code grant (checked: nothing empty or oversized).
    pub fn authorization_code(
        client_id: &str,
        client_secret: &SecretString,
        code: SecretString,
        redirect_uri: &str,
        code_verifier: &SecretString,
    ) -> Result<Self, Error> {
        check("client_id", client_id, MAX_ID_LEN)?;
        check("app_secret", client_secret.expose(), MAX_SECRET_LEN)?;
        check("authorization code", code.expose(), MAX_SECRET_LEN)?;
        check("redirect_uri", redirect_uri, MAX_SECRET_LEN)?;
        check("code_verifier", code_verifier.expose(), MAX_SECRET_LEN)?;
        Ok(OAuthGrant::AuthorizationCode {
            client_id: client_id.to_owned(),
            client_secret: client_secret.clone(),
            code,
            redirect_uri: redirect_uri.to_owned(),
            code_verifier: code_verifier.clone(),
        })
    }

    /// A refresh-token grant (checked: nothing empty or oversized).
    pub fn refresh_token(
        client_id: &str,
        client_secret: &SecretString,
        refresh_token: &SecretString,
    ) -> Result<Self, Error> {
        check("client_id", client_id, MAX_ID_LEN)?;
        check("app_secret", client_secret.expose(), MAX_SECRET_LEN)?;
        check("refresh token", refresh_token.expose(), MAX_ASSERTION_LEN)?;
        Ok(OAuthGrant::RefreshToken {
            client_id: client_id.to_owned(),
            client_secret: client_secret.clone(),
            refresh_token: refresh_token.clone(),
        })
    }
}

/// What an OAuth token endpoint issued: the access token, and for a user with
/// `offline_access`, the next refresh token. Every lifetime bounded where it entered.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OAuthTokens {
    /// The access token.
    pub access_token: SecretString,
    /// Its lifetime (`expires_in`; 7200 s when absent), at most
    /// [`MAX_TOKEN_LIFETIME`](crate::auth::MAX_TOKEN_LIFETIME).
    pub expires_in: Duration,
    /// The new refresh token, if one was issued (only with `offline_access`).
    pub refresh_token: Option<SecretString>,
    /// Its lifetime (`refresh_token_expires_in`; 30 days when absent), at most
    /// [`MAX_REFRESH_LIFETIME`].
    pub refresh_expires_in: Option<Duration>,
    /// The scopes granted, space-separated.
    pub scope: String,
}

/// The OAuth reply, v2 (`{code, access_token, …}` or `{code, error, error_description}`)
/// or v3 (flat on success, non-200 with `{error, error_description, code?}` on failure).
#[derive(Deserialize)]
struct OAuthWire {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_token_expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

/// Codes of the OAuth endpoints after which only a new authorization helps: the
/// refresh token is invalid (20026), expired (20037), revoked (20064) or already used
/// (20073).
pub const REAUTHORIZE_CODES: [i64; 4] = [20026, 20037, 20064, 20073];
/// The OAuth endpoints' "server error, try again" code.
pub const OAUTH_SERVER_ERROR: i64 = 20050;

fn decode_oauth(response: &Response<Bytes>) -> Result<OAuthTokens, Error> {
    let log_id = log_id_header(response.headers());
    let Ok(mut wire) = serde_json::from_slice::<OAuthWire>(response.body()) else {
        return Err(not_an_envelope(
            response,
            "the OAuth token endpoint's reply",
        ));
    };
    let access = wire.access_token.take().map(SecretString::new);
    let refresh = wire.refresh_token.take().map(SecretString::new);
    let code = wire.code.unwrap_or(0);
    if !response.status().is_success() || code != 0 || wire.error.is_some() {
        let error = wire.error.unwrap_or_else(|| "error".to_owned());
        let description = wire.error_description.or(wire.msg).unwrap_or_default();
        let code = match wire.code {
            Some(code) if code != 0 => code,
            // v3 may answer without a code: the HTTP status stands in for it.
            _ => i64::from(response.status().as_u16()),
        };
        return Err(Error::new(
            ErrorKind::Auth,
            format!("the OAuth token endpoint refused the request ({error})"),
        )
        .with_status(response.status())
        .with_api(code, description, None)
        .with_log_id(log_id));
    }
    let access = access.filter(|a| !a.expose().is_empty()).ok_or_else(|| {
        Error::new(
            ErrorKind::Decode,
            "the OAuth token endpoint answered no access_token",
        )
        .with_log_id(log_id.clone())
    })?;
    let expires_in = token_lifetime(wire.expires_in.unwrap_or(7200))
        .map_err(|e| e.with_log_id(log_id.clone()))?;
    let refresh = refresh.filter(|r| !r.expose().is_empty());
    let refresh_expires_in = match (&refresh, wire.refresh_token_expires_in) {
        (None, _) => None,
        (Some(_), None) => Some(MAX_REFRESH_LIFETIME),
        (Some(_), Some(secs)) => Some(refresh_lifetime(secs).map_err(|e| e.with_log_id(log_id))?),
    };
    Ok(OAuthTokens {
        access_token: access,
        expires_in,
        refresh_token: refresh,
        refresh_expires_in,
        scope: wire.scope.unwrap_or_default(),
    })
}

/// The lifetime of a refresh token whose reply says `secs`: refused when not
/// positive or above [`MAX_ACCEPTED_REFRESH_EXPIRE`], clamped to
/// [`MAX_REFRESH_LIFETIME`].
///
/// ```
/// use aily_client::auth::{MAX_REFRESH_LIFETIME, refresh_lifetime};
/// assert_eq!(refresh_lifetime(60).unwrap().as_secs(), 60);
/// assert_eq!(refresh_lifetime(100 * 24 * 3600).unwrap(), MAX_REFRESH_LIFETIME);
/// assert!(refresh_lifetime(0).is_err() && refresh_lifetime(i64::MAX).is_err());
/// ```
pub fn refresh_lifetime(secs: i64) -> Result<Duration, Error> {
    match u64::try_from(secs) {
        Ok(s) if s > 0 && secs <= MAX_ACCEPTED_REFRESH_EXPIRE => {
            Ok(Duration::from_secs(s).min(MAX_REFRESH_LIFETIME))
        }
        _ => Err(Error::new(
            ErrorKind::Decode,
            "the OAuth token endpoint answered an absurd refresh_token_expires_in",
        )),
    }
}

crate::operation! {
    /// The OAuth v3 token endpoint (`accounts.feishu.cn`): the client assertion's
    /// keyless tenant token.
    pub OAuthV3Token = "aily.token.oauth", POST "/oauth/v3/token"
}

token_endpoint!(OAuthV3Token, OAuthGrant => OAuthTokens, decode_oauth);

/// `POST {oauth host}/oauth/v3/token`.
///
/// ```
/// use aily_client::auth::{OAuthGrant, OAuthV3TokenRequest};
/// use aily_client::{AilyRequest, SecretString};
///
/// let grant = OAuthGrant::client_assertion("cli_a", SecretString::new("eyJ.signed.jwt"))?;
/// let req = OAuthV3TokenRequest::new(grant)?;
/// assert_eq!(req.path(), "/oauth/v3/token");
/// assert!(!format!("{req:?}").contains("eyJ"));
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type OAuthV3TokenRequest = ApiRequest<OAuthV3Token>;

impl OAuthV3TokenRequest {
    /// The request for `grant`.
    pub fn new(grant: OAuthGrant) -> Result<Self, Error> {
        fixed_path(grant)
    }
}

crate::operation! {
    /// The documented user-token endpoint (RFC 6749, on the API host): the
    /// authorization-code exchange and the refresh.
    pub UserTokenEndpoint = "aily.token.user", POST "/open-apis/authen/v2/oauth/token"
}

// Never sent again on its own: a refresh that may have reached Feishu consumed its
// refresh token.
token_endpoint!(UserTokenEndpoint, OAuthGrant => OAuthTokens, decode_oauth, idempotent: false);

/// `POST /open-apis/authen/v2/oauth/token`.
pub type UserTokenRequest = ApiRequest<UserTokenEndpoint>;

impl UserTokenRequest {
    /// The request for `grant`.
    pub fn new(grant: OAuthGrant) -> Result<Self, Error> {
        fixed_path(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Response<Bytes> {
        let mut r = Response::new(Bytes::from(body.to_owned()));
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r
    }

    #[test]
    fn secret_json_is_exactly_the_json() {
        let body = AppCredentialsBody::new("cli_a", &SecretString::new("s\"x")).unwrap();
        assert_eq!(
            secret_json(&body),
            r#"{"app_id":"cli_a","app_secret":"s\"x"}"#
        );
        assert!(!format!("{body:?}").contains("s\"x"));
    }

    #[test]
    fn grants_serialize_with_their_grant_type() {
        let g =
            OAuthGrant::refresh_token("cli", &SecretString::new("sec"), &SecretString::new("r1"))
                .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&secret_json(&g)).unwrap();
        assert_eq!(v["grant_type"], "refresh_token");
        assert_eq!(v["refresh_token"], "r1");
        let g = OAuthGrant::client_assertion("cli", SecretString::new("jwt")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&secret_json(&g)).unwrap();
        assert_eq!(v["grant_type"], JWT_BEARER_GRANT);
        assert_eq!(v["client_assertion_type"], CLIENT_ASSERTION_TYPE);
        assert!(!format!("{g:?}").contains("jwt\""));
        assert!(OAuthGrant::client_assertion("cli", SecretString::new("")).is_err());
        assert!(
            OAuthGrant::client_assertion(
                "cli",
                SecretString::new("x".repeat(MAX_ASSERTION_LEN + 1))
            )
            .is_err()
        );
    }

    #[test]
    fn oauth_replies_decode_and_are_bounded() {
        let ok = decode_oauth(&reply(200, r#"{"code":0,"access_token":"u-1","expires_in":7200,"refresh_token":"r-1","refresh_token_expires_in":604800,"scope":"a offline_access"}"#)).unwrap();
        assert_eq!(ok.access_token.expose(), "u-1");
        assert_eq!(ok.refresh_token.unwrap().expose(), "r-1");
        assert_eq!(ok.refresh_expires_in, Some(Duration::from_secs(604800)));
        let v3 = decode_oauth(&reply(200, r#"{"access_token":"t-1","expires_in":60}"#)).unwrap();
        assert_eq!(
            (v3.expires_in.as_secs(), v3.refresh_token.is_none()),
            (60, true)
        );
        let err = decode_oauth(&reply(
            400,
            r#"{"code":20064,"error":"invalid_grant","error_description":"revoked"}"#,
        ))
        .unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::Auth, Some(20064)));
        let err = decode_oauth(&reply(401, r#"{"error":"invalid_client"}"#)).unwrap_err();
        assert_eq!(err.code(), Some(401));
        for bad in [
            r#"{"access_token":"t","expires_in":-1}"#,
            r#"{"access_token":"t","expires_in":9223372036854775807}"#,
            r#"{"access_token":"t","refresh_token":"r","refresh_token_expires_in":9223372036854775807}"#,
            r#"{"access_token":""}"#,
        ] {
            assert_eq!(
                decode_oauth(&reply(200, bad)).unwrap_err().kind(),
                ErrorKind::Decode,
                "{bad}"
            );
        }
        let err = decode_oauth(&reply(200, "<html>u-secret</html>")).unwrap_err();
        assert!(!err.to_string().contains("u-secret"));
    }
}
