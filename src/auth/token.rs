//! Secrets and tokens: [`SecretString`], [`AccessToken`], [`TokenKind`],
//! the [`TokenSource`] trait, and the [`Credentials`] a client is built with.
//!
//! No secret reaches `Debug` or `Display`: both print `<redacted>`. The crate's own
//! copies of a secret (a [`SecretString`], an [`AccessToken`]'s header bytes) are
//! overwritten with zeros when dropped (the last clone, for an `AccessToken`), with
//! the `zeroize` crate. Copies made outside the crate — the `String` you pass in,
//! hyper's write buffer, a reply's body — are not the crate's to wipe.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;

/// A string that never shows itself in `Debug` or `Display`, and is overwritten with
/// zeros when dropped.
///
/// ```
/// let s = aily_client::SecretString::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<Box<str>>);

impl SecretString {
    /// Wraps a secret. The `String` it is given is wiped once copied (to the exact size:
    /// shrinking it in place could leave a copy behind in freed memory).
    pub fn new(secret: impl Into<String>) -> Self {
        let mut given = secret.into();
        let kept = Box::<str>::from(given.as_str());
        given.zeroize();
        SecretString(Zeroizing::new(kept))
    }

    /// The secret itself. Keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl zeroize::ZeroizeOnDrop for SecretString {}

/// Bytes whose memory is wiped when the last [`Bytes`] sharing it drops: the owner
/// [`Bytes::from_owner`] drops then is a [`Zeroizing`] buffer.
pub(crate) fn wiped_on_drop<T>(buffer: T) -> Bytes
where
    T: AsRef<[u8]> + Zeroize + Send + 'static,
{
    Bytes::from_owner(Zeroizing::new(buffer))
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString::new(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString::new(s)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Whose token it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// A `tenant_access_token` (`t-…`): the app acting in a tenant.
    Tenant,
    /// A `user_access_token` (`u-…`): the app acting for a user.
    User,
    /// An `app_access_token` (`a-…`): a store app itself, to buy tenant tokens with.
    App,
}

/// An access token, ready to send: it holds the whole `Authorization: Bearer …`
/// header value, built once and marked sensitive, so sending it costs a reference
/// count, not a format.
///
/// ```
/// use aily_client::{AccessToken, TokenKind};
///
/// let token = AccessToken::new(TokenKind::Tenant, "t-abc")?;
/// assert_eq!(token.secret(), "t-abc");
/// assert!(token.header_value().is_sensitive());
/// assert!(!format!("{token:?}").contains("t-abc"));
/// assert!(AccessToken::new(TokenKind::User, "u-bad\nvalue").is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    kind: TokenKind,
    header: HeaderValue,
}

const BEARER: &str = "Bearer ";
/// Tokens may be JWTs of several kilobytes; this is a sanity bound, not a guess at their size.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

impl AccessToken {
    /// Wraps a token. It must be non-empty, at most 16 KiB, and visible ASCII (no spaces).
    pub fn new(kind: TokenKind, token: impl AsRef<str>) -> Result<AccessToken, Error> {
        let token = token.as_ref();
        if token.is_empty() {
            return Err(Error::config("the access token is empty"));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Error::config("the access token is longer than 16 KiB"));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::config(
                "the access token contains characters that cannot be sent in a header",
            ));
        }
        // Sized once, so no growth leaves a copy behind; wiped when the last clone drops.
        let mut value = Vec::with_capacity(BEARER.len() + token.len());
        value.extend_from_slice(BEARER.as_bytes());
        value.extend_from_slice(token.as_bytes());
        let mut header = HeaderValue::from_maybe_shared(wiped_on_drop(value))
            .map_err(|_| Error::config("the access token is not a valid header value"))?;
        header.set_sensitive(true);
        Ok(AccessToken { kind, header })
    }

    /// Whose token it is.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The token itself. Keep it out of logs.
    pub fn secret(&self) -> &str {
        // Built from visible ASCII behind the "Bearer " prefix.
        self.header
            .to_str()
            .ok()
            .and_then(|s| s.strip_prefix(BEARER))
            .unwrap_or_default()
    }

    /// The `Authorization` header value (`Bearer …`), marked sensitive.
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("kind", &self.kind)
            .field("token", &format_args!("<redacted>"))
            .finish()
    }
}

/// A boxed future returned by [`TokenSource::token`].
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<AccessToken, Error>> + Send + 'a>>;

/// Where the auth layer gets its token from, for each attempt.
///
/// The built-in sources are a fixed token ([`Credentials::tenant_token`],
/// [`Credentials::user_token`]); implement it to plug in your own provider, for example
/// one that refreshes user tokens:
///
/// ```
/// use aily_client::{AccessToken, Credentials, Error, TokenFuture, TokenKind, TokenSource};
///
/// #[derive(Debug)]
/// struct FromVault;
///
/// impl TokenSource for FromVault {
///     fn token(&self) -> TokenFuture<'_> {
///         Box::pin(async { AccessToken::new(TokenKind::User, "u-from-vault") })
///     }
/// }
///
/// let creds = Credentials::source(FromVault);
/// # let _ = creds;
/// ```
pub trait TokenSource: fmt::Debug + Send + Sync + 'static {
    /// The token to send now.
    fn token(&self) -> TokenFuture<'_>;

    /// The token to send now, if it is at hand without waiting (a warm cache): lets the
    /// auth layer skip awaiting [`token`](TokenSource::token). The default says never.
    fn cached(&self) -> Option<AccessToken> {
        None
    }

    /// Called when the server rejected `token` as invalid or expired. Return `true` if
    /// a fresh token is now available, so the call may be replayed once with it; the
    /// default says no fresher token can be had.
    fn invalidate(&self, token: &AccessToken) -> bool {
        let _ = token;
        false
    }

    /// The name of the rate-limit scope this source's calls count against (see
    /// [`crate::layers::rate_limit`]), when it should share one. Clients whose sources name
    /// the same scope, on the same base URL and the same rate-limit store, share their
    /// limits — name the app the tokens are for, for example. The default, `None`,
    /// gives each source its own scope: the clients built from one
    /// [`Credentials::source`] (and their clones) share it, and no other source does.
    /// [`ClientBuilder::rate_limit_scope`](crate::ClientBuilder::rate_limit_scope)
    /// overrides both.
    ///
    /// ```
    /// use aily_client::{AccessToken, TokenFuture, TokenKind, TokenSource};
    ///
    /// #[derive(Debug)]
    /// struct ForApp(&'static str);
    ///
    /// impl TokenSource for ForApp {
    ///     fn token(&self) -> TokenFuture<'_> {
    ///         Box::pin(async { AccessToken::new(TokenKind::User, "u-x") })
    ///     }
    ///     fn rate_limit_scope(&self) -> Option<&str> {
    ///         Some(self.0)
    ///     }
    /// }
    /// # let _ = ForApp("cli_a1");
    /// ```
    fn rate_limit_scope(&self) -> Option<&str> {
        None
    }
}

/// The rate-limit scope of a client on `base_url` authenticated by `source`: the name
/// the source gives, else this source itself — its address, salted with a random value
/// drawn once per process, so two processes (whose addresses may coincide) never share
/// a scope through a shared store. A fingerprint: it shows neither name nor address.
pub(crate) fn source_scope(source: &Arc<dyn TokenSource>, base_url: &str) -> String {
    if let Some(name) = source.rate_limit_scope() {
        return crate::fleet::store::fingerprint(&["source", base_url, "named", name]);
    }
    static PROCESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let salt = PROCESS.get_or_init(|| super::LockId::random().as_str().to_owned());
    let address = (Arc::as_ptr(source) as *const () as usize).to_string();
    crate::fleet::store::fingerprint(&["source", base_url, "own", salt, &address])
}

/// What a client authenticates with.
///
/// `Debug` never shows a token or secret:
///
/// ```
/// use aily_client::Credentials;
/// let c = Credentials::tenant_token("t-very-secret");
/// assert!(!format!("{c:?}").contains("very-secret"));
/// ```
#[derive(Clone)]
pub struct Credentials(pub(crate) CredentialsInner);

#[derive(Clone)]
pub(crate) enum CredentialsInner {
    Token {
        kind: TokenKind,
        token: SecretString,
    },
    App {
        app_id: String,
        app_secret: SecretString,
    },
    Source(Arc<dyn TokenSource>),
    User {
        app_id: String,
        app_secret: SecretString,
        store: Arc<dyn super::UserTokenStore>,
        user: String,
    },
    ClientAssertion {
        app_id: String,
        provider: Arc<dyn super::AssertionProvider>,
        oauth_url: Option<crate::transport::BaseUrl>,
        audience: Option<String>,
    },
}

impl Credentials {
    /// A fixed `tenant_access_token` (`t-…`). When it expires the server rejects it and the
    /// call fails with an [`Auth`](crate::ErrorKind::Auth) error: replace the client's token.
    pub fn tenant_token(token: impl Into<String>) -> Credentials {
        Credentials(CredentialsInner::Token {
            kind: TokenKind::Tenant,
            token: SecretString::new(token),
        })
    }

    /// A fixed `user_access_token` (`u-…`). User tokens are the caller's to refresh; to
    /// refresh them automatically, implement [`TokenSource`] and use [`Credentials::source`].
    pub fn user_token(token: impl Into<String>) -> Credentials {
        Credentials(CredentialsInner::Token {
            kind: TokenKind::User,
            token: SecretString::new(token),
        })
    }

    /// A self-built app's `app_id` and `app_secret`, from which the client obtains and
    /// refreshes tenant tokens.
    pub fn app(app_id: impl Into<String>, app_secret: impl Into<SecretString>) -> Credentials {
        Credentials(CredentialsInner::App {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
        })
    }

    /// Your own token provider.
    pub fn source(source: impl TokenSource) -> Credentials {
        Credentials(CredentialsInner::Source(Arc::new(source)))
    }

    /// A user's token from `store` (logged in before, e.g. with `aily auth login`),
    /// refreshed with app `app_id`'s secret by the rotation rule (see
    /// [`UserTokenSource`](super::UserTokenSource)): one refresh per user at a time
    /// across every client sharing the store. The user is `"default"` unless
    /// [`for_user`](Credentials::for_user) names another.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aily_client::auth::FileUserTokenStore;
    /// use aily_client::{Client, Credentials};
    ///
    /// let store = Arc::new(FileUserTokenStore::new("/tmp/aily-doc/user-token.json"));
    /// let client = Client::builder().credentials(Credentials::user_tokens("cli_a", "app-secret", store)).build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn user_tokens(
        app_id: impl Into<String>,
        app_secret: impl Into<SecretString>,
        store: Arc<dyn super::UserTokenStore>,
    ) -> Credentials {
        Credentials(CredentialsInner::User {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            store,
            user: "default".to_owned(),
        })
    }

    /// With [`user_tokens`](Credentials::user_tokens): whose token (an open id or any
    /// stable label). Ignored by other credentials.
    pub fn for_user(mut self, label: impl Into<String>) -> Credentials {
        if let CredentialsInner::User { user, .. } = &mut self.0 {
            *user = label.into();
        }
        self
    }

    /// A keyless tenant token: app `app_id` proves itself with a client assertion
    /// from `provider` (RFC 7523) at the OAuth v3 token endpoint, no app secret. The
    /// OAuth host is mapped from the base URL (`open.feishu.cn` →
    /// `accounts.feishu.cn`, `open.larksuite.com` → `accounts.larksuite.com`); any
    /// other base URL needs [`oauth_url`](Credentials::oauth_url). Cached and
    /// refreshed like [`Credentials::app`]'s token.
    ///
    /// ```
    /// use aily_client::auth::{AssertionFuture, AssertionProvider};
    /// use aily_client::{Client, Credentials, SecretString};
    ///
    /// #[derive(Debug)]
    /// struct Fixed;
    /// impl AssertionProvider for Fixed {
    ///     fn assertion<'a>(&'a self, _: &'a str, _: &'a str) -> AssertionFuture<'a> {
    ///         Box::pin(async { Ok(SecretString::new("eyJ.a.b")) })
    ///     }
    /// }
    /// let client = Client::builder().credentials(Credentials::client_assertion("cli_a", Fixed)).build()?;
    /// # let _ = client;
    /// // A base URL that is not Feishu's or Lark's must say where its OAuth host is.
    /// assert!(Client::builder()
    ///     .base_url("https://gateway.example.com")
    ///     .credentials(Credentials::client_assertion("cli_a", Fixed))
    ///     .build()
    ///     .is_err());
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn client_assertion(
        app_id: impl Into<String>,
        provider: impl super::AssertionProvider,
    ) -> Credentials {
        Credentials(CredentialsInner::ClientAssertion {
            app_id: app_id.into(),
            provider: Arc::new(provider),
            oauth_url: None,
            audience: None,
        })
    }

    /// With [`client_assertion`](Credentials::client_assertion): the OAuth host the
    /// token endpoint (`/oauth/v3/token`) is under, e.g. `https://accounts.feishu.cn`
    /// or a test server. Ignored by other credentials.
    pub fn oauth_url(mut self, url: &str) -> Result<Credentials, Error> {
        if let CredentialsInner::ClientAssertion { oauth_url, .. } = &mut self.0 {
            *oauth_url = Some(crate::transport::BaseUrl::parse(url)?);
        }
        Ok(self)
    }

    /// With [`client_assertion`](Credentials::client_assertion): the audience the
    /// provider signs for (default: the OAuth host's URL, as the official Node SDK).
    /// Ignored by other credentials.
    pub fn audience(mut self, aud: impl Into<String>) -> Credentials {
        if let CredentialsInner::ClientAssertion { audience, .. } = &mut self.0 {
            *audience = Some(aud.into());
        }
        self
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CredentialsInner::Token { kind, token } => f
                .debug_struct("Credentials::Token")
                .field("kind", kind)
                .field("token", token)
                .finish(),
            CredentialsInner::App { app_id, app_secret } => f
                .debug_struct("Credentials::App")
                .field("app_id", app_id)
                .field("app_secret", app_secret)
                .finish(),
            CredentialsInner::Source(source) => {
                f.debug_tuple("Credentials::Source").field(source).finish()
            }
            CredentialsInner::User {
                app_id,
                store,
                user,
                ..
            } => f
                .debug_struct("Credentials::User")
                .field("app_id", app_id)
                .field("app_secret", &"<redacted>")
                .field("store", store)
                .field("user", user)
                .finish(),
            CredentialsInner::ClientAssertion {
                app_id,
                provider,
                oauth_url,
                audience,
            } => f
                .debug_struct("Credentials::ClientAssertion")
                .field("app_id", app_id)
                .field("provider", provider)
                .field("oauth_url", oauth_url)
                .field("audience", audience)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! What can honestly be checked of wiping: that the storage is `zeroize`'s, and
    //! that the path an [`AccessToken`]'s header bytes take runs `zeroize` exactly
    //! when the last copy drops (observed through a probe buffer). Reading freed
    //! memory to see the zeros would itself be undefined behaviour.

    use std::sync::{Arc, Mutex};

    use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

    use super::*;

    #[test]
    fn a_secret_string_is_stored_in_zeroizing_memory() {
        fn wiped_on_drop<T: ZeroizeOnDrop>(_: &T) {}
        let s = SecretString::new(String::from("hunter2"));
        // The field's type is the guarantee: `Zeroizing`'s Drop zeroizes the box.
        let storage: &Zeroizing<Box<str>> = &s.0;
        wiped_on_drop(storage);
        wiped_on_drop(&s);
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.clone(), s);
    }

    /// A buffer that records each `zeroize` and the bytes it wiped.
    struct Probe {
        data: Vec<u8>,
        wiped: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl AsRef<[u8]> for Probe {
        fn as_ref(&self) -> &[u8] {
            &self.data
        }
    }

    impl Zeroize for Probe {
        fn zeroize(&mut self) {
            let before = self.data.clone();
            self.data.zeroize();
            assert!(self.data.is_empty());
            self.wiped.lock().unwrap().push(before);
        }
    }

    #[test]
    fn header_bytes_are_wiped_when_the_last_copy_drops() {
        let wiped = Arc::new(Mutex::new(Vec::new()));
        let bytes = wiped_on_drop(Probe {
            data: b"Bearer t-secret".to_vec(),
            wiped: wiped.clone(),
        });
        let header = HeaderValue::from_maybe_shared(bytes).unwrap();
        let copy = header.clone();
        drop(header);
        assert!(wiped.lock().unwrap().is_empty(), "a copy is still alive");
        assert_eq!(copy, "Bearer t-secret");
        drop(copy);
        assert_eq!(*wiped.lock().unwrap(), [b"Bearer t-secret".to_vec()]);
    }

    #[test]
    fn an_access_token_still_reads_back_after_the_change_of_storage() {
        let token = AccessToken::new(TokenKind::Tenant, "t-abc").unwrap();
        let copy = token.clone();
        drop(token);
        assert_eq!(copy.secret(), "t-abc");
        assert_eq!(copy.header_value(), "Bearer t-abc");
    }
}
