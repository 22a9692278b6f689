//! Keyless tenant tokens: an RFC 7523 client assertion exchanged at the OAuth v3
//! token endpoint (`grant_type` jwt-bearer) instead of the app secret.
//!
//! The assertion comes from an [`AssertionProvider`] — a KMS, a workload identity, an
//! HSM, or (feature `pem-signer`) [`PemSigner`](crate::auth::PemSigner) with a private
//! key in memory — asked for a fresh one per exchange, for the audience the token
//! endpoint expects. The source caching the token is the app secret's
//! ([`TenantTokenSource`](crate::auth::TenantTokenSource)): the same single flight,
//! refresh ahead, compare-and-invalidate, fleet sharing and redaction.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::exchange::{IssuedToken, OAuthGrant, OAuthV3TokenRequest, TokenHttp};
use super::token::SecretString;
use crate::error::{Error, ErrorKind};
use crate::layers::api_call::Reply;
use crate::transport::BaseUrl;

/// The future an [`AssertionProvider`] returns.
pub type AssertionFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SecretString, Error>> + Send + 'a>>;

/// Hands out signed client assertions (JWTs) for an app: the signer of the keyless
/// tenant token. Called once per token exchange; mint a new, short-lived assertion
/// with a fresh `jti` each time (`iss` = `sub` = `client_id`, `aud` = `audience`).
///
/// ```
/// use aily_client::auth::{AssertionFuture, AssertionProvider};
/// use aily_client::SecretString;
///
/// /// Asks a (here: pretend) KMS to sign.
/// #[derive(Debug)]
/// struct Kms;
///
/// impl AssertionProvider for Kms {
///     fn assertion<'a>(&'a self, client_id: &'a str, audience: &'a str) -> AssertionFuture<'a> {
///         Box::pin(async move { Ok(SecretString::new(format!("signed-for-{client_id}-{audience}"))) })
///     }
/// }
/// # let _ = Kms;
/// ```
pub trait AssertionProvider: fmt::Debug + Send + Sync + 'static {
    /// A fresh signed assertion for app `client_id`, for `audience`.
    fn assertion<'a>(&'a self, client_id: &'a str, audience: &'a str) -> AssertionFuture<'a>;
}

/// The OAuth host of an API host, mapped exactly: `open.feishu.cn` →
/// `accounts.feishu.cn`, `open.larksuite.com` → `accounts.larksuite.com`; `None` for
/// any other base URL, which must name its OAuth host itself.
///
/// ```
/// use aily_client::auth::oauth_base;
/// use aily_client::transport::BaseUrl;
///
/// assert_eq!(oauth_base(&BaseUrl::feishu()).unwrap().to_string(), "https://accounts.feishu.cn");
/// assert_eq!(oauth_base(&BaseUrl::lark()).unwrap().to_string(), "https://accounts.larksuite.com");
/// assert!(oauth_base(&BaseUrl::parse("https://open.feishu.cn.example.com").unwrap()).is_none());
/// ```
pub fn oauth_base(api: &BaseUrl) -> Option<BaseUrl> {
    if !api.is_https() || api.port() != 443 {
        return None;
    }
    let host = match api.host() {
        "open.feishu.cn" => "https://accounts.feishu.cn",
        "open.larksuite.com" => "https://accounts.larksuite.com",
        _ => return None,
    };
    BaseUrl::parse(host).ok()
}

/// One exchange: an assertion from `provider`, sent to the OAuth v3 token endpoint
/// through `http`; the tenant token it issued.
pub(crate) async fn exchange(
    http: &TokenHttp,
    provider: &dyn AssertionProvider,
    app_id: &str,
    audience: &str,
) -> Result<Reply<IssuedToken>, Error> {
    let assertion = provider.assertion(app_id, audience).await.map_err(|e| {
        Error::new(
            ErrorKind::Auth,
            format!("the client-assertion provider failed: {e}"),
        )
    })?;
    let request = OAuthV3TokenRequest::new(OAuthGrant::client_assertion(app_id, assertion)?)?;
    let reply = http.send(request).await?;
    Ok(reply.map(|t| IssuedToken {
        token: t.access_token,
        lifetime: t.expires_in,
    }))
}
