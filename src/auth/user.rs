//! User access tokens that survive rotation: the authorization code + PKCE login,
//! and [`UserTokenSource`], which refreshes a stored user token by the rotation rule
//! across threads, processes and replicas.
//!
//! Feishu's refresh tokens are **single use**: a refresh returns a new one and the old
//! one dies at once. Two workers refreshing the same user at once therefore revoke
//! the session (the loser answers 20064). The rule, as implemented:
//!
//! 1. Tokens are stored per [`UserKey`] (base URL, app, user) with a *generation*.
//! 2. In process, one refresh per source at a time; the others wait for it.
//! 3. Across processes and replicas, one per key: the store's lock (a file lock, a
//!    Redis lock with a TTL above the refresh budget).
//! 4. Under the lock the stored record is read again: if the access token is fresh
//!    (someone else rotated), it is used and nothing is sent.
//! 5. The refresh runs detached from the caller, bounded by its own budget: a caller
//!    that goes away does not stop it, and its result is stored.
//! 6. At most two sends, the second only after 20050 (server error) or a connect
//!    error (nothing was written). A refresh that was sent and whose reply was lost
//!    *consumed* the refresh token: the record is marked "log in again", never
//!    replayed.
//! 7. The new record is saved (compare-and-swap on the generation) before its access
//!    token is handed out; a failed refresh never writes an empty token.
//! 8. 20026/20037/20064/20073 after the re-read: the record is marked "log in again"
//!    and the error says so ([`Error::reauthorization_required`]).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::exchange::{
    OAUTH_SERVER_ERROR, OAuthGrant, OAuthTokens, REAUTHORIZE_CODES, TokenHttp, UserTokenRequest,
};
use super::token::{AccessToken, SecretString, TokenFuture, TokenKind, TokenSource};
use super::{LockId, pkce};
use crate::error::{Error, ErrorKind};
use crate::fleet::store::{StoreError, StoreFuture, fingerprint};
use crate::transport::BaseUrl;

/// Default: refresh a user token this long before it expires.
pub const DEFAULT_USER_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The bound on one refresh, waiting for the lock included (as the official CLI).
pub const DEFAULT_REFRESH_BUDGET: Duration = Duration::from_secs(60);
/// The scope that makes Feishu return a refresh token; always requested.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Which stored user token: the API's base URL, the app and the user. Its
/// [`fingerprint`](UserKey::fingerprint) names it in stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserKey {
    base_url: String,
    app_id: String,
    user: String,
    fingerprint: String,
}

impl UserKey {
    /// The key of `user`'s token (an open id, or any stable label such as
    /// `"default"`) of app `app_id` at `base_url`.
    ///
    /// ```
    /// use aily_client::auth::UserKey;
    /// let a = UserKey::new("https://open.feishu.cn", "cli_a", "ou_1");
    /// assert_ne!(a.fingerprint(), UserKey::new("https://open.feishu.cn", "cli_a", "ou_2").fingerprint());
    /// ```
    pub fn new(base_url: &str, app_id: &str, user: &str) -> UserKey {
        UserKey {
            fingerprint: fingerprint(&["user", base_url, app_id, user]),
            base_url: base_url.to_owned(),
            app_id: app_id.to_owned(),
            user: user.to_owned(),
        }
    }

    /// 32 hex digits naming the key without revealing it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The app's ID.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// A stored user token: what a login or a refresh issued, with its generation.
/// Times are Unix seconds (the record outlives the process). `Debug` hides the tokens.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserTokens {
    /// The format's version (1).
    pub version: u32,
    /// Which key it belongs to ([`UserKey::fingerprint`]).
    pub key: String,
    /// Bumped by every save: what compare-and-swap compares.
    pub generation: u64,
    /// The user's open id, when known.
    #[serde(default)]
    pub open_id: String,
    /// The user's name, when known.
    #[serde(default)]
    pub name: String,
    /// The scopes granted.
    #[serde(default)]
    pub scope: String,
    /// The access token.
    #[serde(with = "secret_text")]
    pub access_token: SecretString,
    /// When it expires.
    pub access_expires_at: u64,
    /// The single-use refresh token, if any.
    #[serde(default, with = "secret_opt")]
    pub refresh_token: Option<SecretString>,
    /// When the refresh token expires.
    #[serde(default)]
    pub refresh_expires_at: u64,
    /// The refresh token was spent without a usable answer (or refused): only a new
    /// login helps.
    #[serde(default)]
    pub needs_login: bool,
}

mod secret_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::auth::SecretString;

    pub(super) fn serialize<S: Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.expose())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

mod secret_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::auth::SecretString;

    pub(super) fn serialize<S: Serializer>(
        v: &Option<SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(v.expose()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Option::<String>::deserialize(d).map(|v| v.filter(|s| !s.is_empty()).map(SecretString::new))
    }
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl UserTokens {
    /// The record of freshly issued `tokens` for `key` (generation 1).
    pub fn issued(key: &UserKey, tokens: OAuthTokens) -> UserTokens {
        let now = unix_now();
        UserTokens {
            version: 1,
            key: key.fingerprint().to_owned(),
            generation: 1,
            open_id: String::new(),
            name: String::new(),
            scope: tokens.scope,
            access_token: tokens.access_token,
            access_expires_at: now.saturating_add(tokens.expires_in.as_secs()),
            refresh_expires_at: tokens
                .refresh_expires_in
                .map_or(0, |d| now.saturating_add(d.as_secs())),
            refresh_token: tokens.refresh_token,
            needs_login: false,
        }
    }

    /// Seconds the access token has left.
    pub fn access_left(&self) -> Duration {
        Duration::from_secs(self.access_expires_at.saturating_sub(unix_now()))
    }

    /// Whether a refresh token is there and not expired.
    pub fn can_refresh(&self) -> bool {
        !self.needs_login && self.refresh_token.is_some() && self.refresh_expires_at > unix_now()
    }
}

impl fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserTokens")
            .field("key", &self.key)
            .field("generation", &self.generation)
            .field("open_id", &self.open_id)
            .field("scope", &self.scope)
            .field("access_token", &self.access_token)
            .field("access_expires_at", &self.access_expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("needs_login", &self.needs_login)
            .finish()
    }
}

/// A held lock of a [`UserTokenStore`]: released by
/// [`UserTokenStore::unlock`], or — for locks a process holds (a file lock, an
/// in-process mutex) — when it drops.
pub struct UserLock {
    id: LockId,
    /// Released when dropped.
    _held: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl UserLock {
    /// A lock known by `id` (a fencing value, e.g. a Redis lock's).
    pub fn new(id: LockId) -> UserLock {
        UserLock { id, _held: None }
    }

    /// A lock that is released when `guard` drops (a locked file, a mutex guard).
    pub fn held(guard: impl std::any::Any + Send + Sync) -> UserLock {
        UserLock {
            id: LockId::random(),
            _held: Some(Box::new(guard)),
        }
    }

    /// The lock's id (its fencing value).
    pub fn id(&self) -> &LockId {
        &self.id
    }
}

impl fmt::Debug for UserLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserLock").field("id", &self.id).finish()
    }
}

/// Where user tokens live, with a lock per key: the heart of the rotation rule (see
/// the [auth module's "Tokens"](crate::auth#tokens)). Implementations: [`MemoryUserTokenStore`] (one process),
/// [`FileUserTokenStore`] (one host: a file and a file lock),
/// [`RedisUserTokenStore`](crate::fleet::store::redis::RedisUserTokenStore) (a fleet).
pub trait UserTokenStore: fmt::Debug + Send + Sync + 'static {
    /// The stored record of `key`, if any.
    fn load<'a>(&'a self, key: &'a UserKey) -> StoreFuture<'a, Option<UserTokens>>;

    /// Takes `key`'s lock (waiting for it at most `wait`, then failing); held at most
    /// `wait` by a store whose locks expire. One holder per key across every user of
    /// the store.
    fn lock<'a>(&'a self, key: &'a UserKey, wait: Duration) -> StoreFuture<'a, UserLock>;

    /// Saves `tokens` under the held `lock` if the stored generation is still
    /// `tokens.generation - 1` (or nothing is stored and it is 1): `false` when it
    /// moved. A store's write is atomic: a reader sees the old record or the new one.
    fn save<'a>(
        &'a self,
        key: &'a UserKey,
        lock: &'a UserLock,
        tokens: &'a UserTokens,
    ) -> StoreFuture<'a, bool>;

    /// Releases `lock`.
    fn unlock<'a>(&'a self, key: &'a UserKey, lock: UserLock) -> StoreFuture<'a, ()>;

    /// Forgets `key`'s record (logout).
    fn clear<'a>(&'a self, key: &'a UserKey) -> StoreFuture<'a, ()>;
}

/// User tokens in this process's memory, a mutex per key.
#[derive(Debug, Default)]
pub struct MemoryUserTokenStore {
    records: std::sync::Mutex<std::collections::HashMap<String, UserTokens>>,
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl MemoryUserTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl UserTokenStore for MemoryUserTokenStore {
    fn load<'a>(&'a self, key: &'a UserKey) -> StoreFuture<'a, Option<UserTokens>> {
        let found = self
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key.fingerprint())
            .cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn lock<'a>(&'a self, key: &'a UserKey, wait: Duration) -> StoreFuture<'a, UserLock> {
        let mutex = self
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.fingerprint().to_owned())
            .or_default()
            .clone();
        Box::pin(async move {
            match tokio::time::timeout(wait, mutex.lock_owned()).await {
                Ok(guard) => Ok(UserLock::held(guard)),
                Err(_) => Err(StoreError::new("timed out waiting for the user token lock")),
            }
        })
    }

    fn save<'a>(
        &'a self,
        key: &'a UserKey,
        _lock: &'a UserLock,
        tokens: &'a UserTokens,
    ) -> StoreFuture<'a, bool> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let stored = records.get(key.fingerprint()).map_or(0, |r| r.generation);
        let ok = generation_follows(stored, tokens.generation);
        if ok {
            records.insert(key.fingerprint().to_owned(), tokens.clone());
        }
        Box::pin(std::future::ready(Ok(ok)))
    }

    fn unlock<'a>(&'a self, _key: &'a UserKey, lock: UserLock) -> StoreFuture<'a, ()> {
        drop(lock);
        Box::pin(std::future::ready(Ok(())))
    }

    fn clear<'a>(&'a self, key: &'a UserKey) -> StoreFuture<'a, ()> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key.fingerprint());
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The compare-and-swap rule: a save of generation `new` follows `stored` (0: none).
pub(crate) fn generation_follows(stored: u64, new: u64) -> bool {
    new == stored.saturating_add(1) || (stored == 0 && new >= 1)
}

/// A user token in a file: one record, replaced atomically (a new file, `fsync`,
/// `rename`), mode 0600 on Unix, and a lock on a sibling `.lock` file (`flock`
/// through std's `File::lock`) that every process using the file takes before it
/// rotates the token.
#[derive(Debug, Clone)]
pub struct FileUserTokenStore {
    path: std::path::PathBuf,
}

/// The largest token file read: a record is a few KB.
const MAX_TOKEN_FILE: u64 = 64 * 1024;
/// How often a waiter tries a user token lock again (a file lock, a Redis key).
const LOCK_POLL: Duration = Duration::from_millis(20);

/// Tries to take a lock with `try_once` every [`LOCK_POLL`] until it is had or
/// `wait` has passed (then "timed out waiting for the `what`"); an error of
/// `try_once` ends the wait at once. What the file and Redis stores' `lock` share.
pub(crate) async fn poll_lock<T, F, Fut>(
    wait: Duration,
    what: &str,
    mut try_once: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(held) = try_once().await? {
            return Ok(held);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::new(format!("timed out waiting for the {what}")));
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

impl FileUserTokenStore {
    /// The store at `path` (its directory is created on the first save, mode 0700).
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        FileUserTokenStore { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn lock_path(&self) -> std::path::PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        p.into()
    }

    /// Reads the record, whatever its key (the CLI's view).
    pub fn read(&self) -> Result<Option<UserTokens>, StoreError> {
        use std::io::Read;
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::new(format!("cannot open the token file: {e}"))),
        };
        let mut text = zeroize::Zeroizing::new(Vec::new());
        file.take(MAX_TOKEN_FILE + 1)
            .read_to_end(&mut text)
            .map_err(|e| StoreError::new(format!("cannot read the token file: {e}")))?;
        if text.len() as u64 > MAX_TOKEN_FILE {
            return Err(StoreError::new("the token file is larger than 64 KiB"));
        }
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|_| StoreError::new("the token file is not a token record"))
    }

    fn write(&self, tokens: &UserTokens) -> Result<(), StoreError> {
        use std::io::Write;
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        create_private_dir(dir)?;
        let bytes = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(tokens).map_err(|_| StoreError::new("cannot encode"))?,
        );
        let name = format!(
            ".{}.{}.tmp",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("tokens"),
            LockId::random().as_str()
        );
        let tmp = dir.join(name);
        let written = (|| {
            let mut file = private_file(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok::<_, std::io::Error>(())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(|e| StoreError::new(format!("cannot write the token file: {e}")))
    }
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| StoreError::new(format!("cannot create the token directory: {e}")))
}

fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

impl UserTokenStore for FileUserTokenStore {
    fn load<'a>(&'a self, key: &'a UserKey) -> StoreFuture<'a, Option<UserTokens>> {
        let found = self
            .read()
            .map(|r| r.filter(|r| r.key == key.fingerprint()));
        Box::pin(std::future::ready(found))
    }

    fn lock<'a>(&'a self, _key: &'a UserKey, wait: Duration) -> StoreFuture<'a, UserLock> {
        Box::pin(async move {
            let path = self.lock_path();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options
                .open(&path)
                .map_err(|e| StoreError::new(format!("cannot open the token lock file: {e}")))?;
            let held = poll_lock(wait, "token file lock", || {
                let outcome = match file.try_lock() {
                    Ok(()) => Ok(Some(())),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => {
                        Err(StoreError::new(format!("cannot lock the token file: {e}")))
                    }
                };
                std::future::ready(outcome)
            })
            .await;
            held.map(|()| UserLock::held(file))
        })
    }

    fn save<'a>(
        &'a self,
        key: &'a UserKey,
        _lock: &'a UserLock,
        tokens: &'a UserTokens,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let stored = self.load(key).await?.map_or(0, |r| r.generation);
            if !generation_follows(stored, tokens.generation) {
                return Ok(false);
            }
            self.write(tokens)?;
            Ok(true)
        })
    }

    fn unlock<'a>(&'a self, _key: &'a UserKey, lock: UserLock) -> StoreFuture<'a, ()> {
        // Dropping the locked file releases the lock.
        drop(lock);
        Box::pin(std::future::ready(Ok(())))
    }

    fn clear<'a>(&'a self, _key: &'a UserKey) -> StoreFuture<'a, ()> {
        let removed = match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::new(format!(
                "cannot remove the token file: {e}"
            ))),
            _ => Ok(()),
        };
        Box::pin(std::future::ready(removed))
    }
}

/// The authorization page's URL for a login with PKCE: the browser goes there, the
/// user agrees, and Feishu redirects to `redirect_uri` with `code` and `state`.
/// `offline_access` is always among the scopes (else no refresh token comes back).
///
/// ```
/// use aily_client::auth::authorize_url;
/// use aily_client::transport::BaseUrl;
///
/// let url = authorize_url(&BaseUrl::parse("https://accounts.feishu.cn")?, "cli_a", "http://127.0.0.1:8080/callback", &["aily:run:write"], "st4te", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// assert!(url.starts_with("https://accounts.feishu.cn/open-apis/authen/v1/authorize?client_id=cli_a&"));
/// assert!(url.contains("scope=aily%3Arun%3Awrite%20offline_access"));
/// assert!(url.contains("code_challenge_method=S256"));
/// # Ok::<(), aily_client::Error>(())
/// ```
pub fn authorize_url(
    accounts: &BaseUrl,
    app_id: &str,
    redirect_uri: &str,
    scopes: &[&str],
    state: &str,
    challenge: &str,
) -> String {
    let mut scope: Vec<&str> = scopes.iter().copied().filter(|s| !s.is_empty()).collect();
    if !scope.contains(&OFFLINE_ACCESS) {
        scope.push(OFFLINE_ACCESS);
    }
    let mut query = crate::api::request::Query::new();
    query
        .push("client_id", app_id)
        .push("redirect_uri", redirect_uri)
        .push("scope", scope.join(" "))
        .push("state", state)
        .push("code_challenge", challenge)
        .push("code_challenge_method", "S256");
    format!(
        "{accounts}/open-apis/authen/v1/authorize?{}",
        query.as_str()
    )
}

/// The authorization code exchange (with the PKCE verifier) at the user-token endpoint.
pub async fn exchange_code(
    http: &TokenHttp,
    app_id: &str,
    app_secret: &SecretString,
    code: SecretString,
    redirect_uri: &str,
    verifier: &SecretString,
) -> Result<OAuthTokens, Error> {
    let grant = OAuthGrant::authorization_code(app_id, app_secret, code, redirect_uri, verifier)?;
    let reply = http.send(UserTokenRequest::new(grant)?).await?;
    Ok(reply.into_data())
}

/// A new random `state` for a login (CSRF protection), 22 characters.
pub fn login_state() -> String {
    pkce::base64url(&pkce::random_bytes::<16>())
}

/// A user's access token from a [`UserTokenStore`], refreshed by the rotation rule
/// (see [the rotation rule](crate::auth#the-rotation-rule-and-why)). Cheap to clone; clones share the cache.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use aily_client::auth::{MemoryUserTokenStore, TokenHttp, UserKey, UserTokenSource};
/// use aily_client::transport::{BaseUriLayer, BaseUrl, CollectBodyLayer, HttpService, TransportConfig, hyper_client};
/// use aily_client::{Client, Credentials};
/// use tower::ServiceBuilder;
///
/// let plain = ServiceBuilder::new()
///     .layer(BaseUriLayer::new(BaseUrl::feishu()))
///     .layer(CollectBodyLayer::default())
///     .service(hyper_client(&TransportConfig::default())?);
/// let http = TokenHttp::new(HttpService::new(plain), Duration::from_secs(10));
/// let key = UserKey::new("https://open.feishu.cn", "cli_a", "default");
/// let source = UserTokenSource::new("cli_a", "app-secret", http, Arc::new(MemoryUserTokenStore::new()), key);
/// let client = Client::builder().credentials(Credentials::source(source)).build()?;
/// # let _ = client;
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone)]
pub struct UserTokenSource {
    shared: Arc<Shared>,
}

struct Shared {
    app_id: String,
    app_secret: SecretString,
    http: TokenHttp,
    store: Arc<dyn UserTokenStore>,
    key: UserKey,
    margin: Duration,
    budget: Duration,
    /// The token in use and when it expires (Unix seconds).
    cached: RwLock<Option<(AccessToken, u64)>>,
    /// The token the server last rejected: never handed out again.
    rejected: std::sync::Mutex<Option<AccessToken>>,
    /// One refresh at a time in this process.
    flight: tokio::sync::Mutex<()>,
}

impl UserTokenSource {
    /// The token of `key` in `store`, refreshed with app `app_id`'s secret through
    /// `http` (to the API's base URL): 5 minutes ahead, each refresh bounded by 60 s.
    pub fn new(
        app_id: impl Into<String>,
        app_secret: impl Into<SecretString>,
        http: TokenHttp,
        store: Arc<dyn UserTokenStore>,
        key: UserKey,
    ) -> Self {
        UserTokenSource {
            shared: Arc::new(Shared {
                app_id: app_id.into(),
                app_secret: app_secret.into(),
                http,
                store,
                key,
                margin: DEFAULT_USER_REFRESH_MARGIN,
                budget: DEFAULT_REFRESH_BUDGET,
                cached: RwLock::new(None),
                rejected: std::sync::Mutex::new(None),
                flight: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// With another refresh margin and refresh budget (the budget bounds the lock
    /// wait and the refresh together).
    pub fn with_timing(self, margin: Duration, budget: Duration) -> Self {
        let s = &self.shared;
        UserTokenSource {
            shared: Arc::new(Shared {
                app_id: s.app_id.clone(),
                app_secret: s.app_secret.clone(),
                http: s.http.clone(),
                store: s.store.clone(),
                key: s.key.clone(),
                margin,
                budget,
                cached: RwLock::new(None),
                rejected: std::sync::Mutex::new(None),
                flight: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The key of the token.
    pub fn key(&self) -> &UserKey {
        &self.shared.key
    }

    fn fresh_cached(&self) -> Option<AccessToken> {
        let cached = self
            .shared
            .cached
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let (token, until) = cached.as_ref()?;
        (until.saturating_sub(unix_now()) > self.shared.margin.as_secs()).then(|| token.clone())
    }

    /// The token to send: the cached one while it is fresh, else the stored one, else
    /// a refresh by the rotation rule.
    pub async fn current(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.fresh_cached() {
            return Ok(token);
        }
        let _one = self.shared.flight.lock().await;
        if let Some(token) = self.fresh_cached() {
            return Ok(token);
        }
        let rejected = self
            .shared
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Detached: a caller that goes away does not stop a refresh once started.
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            match tokio::time::timeout(shared.budget, rotate(&shared, rejected)).await {
                Ok(result) => result,
                Err(_) => Err(Error::timeout(crate::TimeoutKind::Attempt, shared.budget)),
            }
        });
        let (token, until) = task
            .await
            .map_err(|_| Error::new(ErrorKind::Auth, "the user token refresh task failed"))??;
        *self
            .shared
            .cached
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some((token.clone(), until));
        Ok(token)
    }
}

/// Under the store's lock: the stored token if someone else rotated it, else one
/// refresh; the record saved before the token is handed out.
async fn rotate(
    shared: &Shared,
    rejected: Option<AccessToken>,
) -> Result<(AccessToken, u64), Error> {
    let store = shared.store.as_ref();
    let key = &shared.key;
    let fresh = |r: &UserTokens| {
        r.access_left() > shared.margin
            && rejected
                .as_ref()
                .is_none_or(|bad| bad.secret() != r.access_token.expose())
    };
    let span = tracing::info_span!(
        "aily.token.user_refresh",
        otel.kind = "client",
        app_id = %shared.app_id,
        key = %key.fingerprint(),
        source = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    // Fast path, no lock: the store already holds a fresh token.
    if let Some(r) = store.load(key).await.map_err(store_error)?
        && fresh(&r)
        && !r.needs_login
    {
        span.record("source", "store");
        return handout(&r);
    }
    let lock = store.lock(key, shared.budget).await.map_err(store_error)?;
    let result =
        tracing::Instrument::instrument(rotate_locked(shared, &lock, &fresh), span.clone()).await;
    if let Err(e) = store.unlock(key, lock).await {
        tracing::debug!(error = %e, "user token store: unlock failed (the lock expires)");
    }
    match &result {
        Ok((_, refreshed)) => span.record("source", if *refreshed { "feishu" } else { "store" }),
        Err(e) => span.record("error.type", e.kind().as_str()),
    };
    result.map(|(t, _)| t)
}

async fn rotate_locked(
    shared: &Shared,
    lock: &UserLock,
    fresh: &(dyn Fn(&UserTokens) -> bool + Sync),
) -> Result<((AccessToken, u64), bool), Error> {
    let store = shared.store.as_ref();
    let key = &shared.key;
    // Re-read under the lock: another process may have rotated meanwhile.
    let Some(record) = store.load(key).await.map_err(store_error)? else {
        return Err(login_again("no user token is stored (log in first)"));
    };
    if record.needs_login {
        return Err(login_again("the stored user token needs a new login"));
    }
    if fresh(&record) {
        return Ok((handout(&record)?, false));
    }
    let Some(refresh) = record
        .refresh_token
        .clone()
        .filter(|_| record.can_refresh())
    else {
        return Err(login_again(
            "the user token expired and no valid refresh token is stored",
        ));
    };
    let grant = OAuthGrant::refresh_token(&shared.app_id, &shared.app_secret, &refresh)?;
    let mut sent = shared
        .http
        .send(UserTokenRequest::new(grant.clone())?)
        .await;
    // The one second send: only when the first surely did not consume the token.
    let retry = match &sent {
        Err(e) => e.code() == Some(OAUTH_SERVER_ERROR) || e.kind() == ErrorKind::Connect,
        Ok(_) => false,
    };
    if retry {
        sent = shared.http.send(UserTokenRequest::new(grant)?).await;
    }
    let issued = match sent {
        Ok(reply) => reply.into_data(),
        Err(e) => {
            let refused = e.code().is_some_and(|c| REAUTHORIZE_CODES.contains(&c));
            let unanswered = e.code().is_none() && e.kind() != ErrorKind::Connect;
            if refused || unanswered {
                // Spent or dead: never sent again. Marked so that no process tries.
                let mut dead = record.clone();
                dead.generation = record.generation.saturating_add(1);
                dead.needs_login = true;
                dead.refresh_token = None;
                let _ = store.save(key, lock, &dead).await;
                let why = if refused {
                    "Feishu refused the refresh token"
                } else {
                    "the refresh was sent but its reply was lost, so its single-use refresh token is spent"
                };
                let mut err = login_again(why);
                if let Some(code) = e.code() {
                    err = err.with_api(code, e.msg().unwrap_or_default().to_owned(), None);
                }
                return Err(err.with_log_id(e.log_id().map(str::to_owned)));
            }
            return Err(e);
        }
    };
    let mut next = UserTokens::issued(key, issued);
    next.generation = record.generation.saturating_add(1);
    next.open_id = record.open_id.clone();
    next.name = record.name.clone();
    if next.refresh_token.is_none() {
        next.refresh_expires_at = 0;
    }
    // Persisted before the token is handed out.
    if !store.save(key, lock, &next).await.map_err(store_error)? {
        return Err(Error::new(
            ErrorKind::Auth,
            "the stored user token changed under the lock (another writer without the lock?)",
        ));
    }
    Ok((handout(&next)?, true))
}

fn handout(record: &UserTokens) -> Result<(AccessToken, u64), Error> {
    let token = AccessToken::new(TokenKind::User, record.access_token.expose()).map_err(|_| {
        Error::new(
            ErrorKind::Decode,
            "the stored user token cannot be sent in a header",
        )
    })?;
    Ok((token, record.access_expires_at))
}

fn login_again(why: &str) -> Error {
    Error::new(
        ErrorKind::Auth,
        format!("{why}: log in again (aily auth login)"),
    )
    .reauthorization()
}

fn store_error(e: StoreError) -> Error {
    Error::new(ErrorKind::Auth, format!("the user token store failed: {e}"))
}

impl TokenSource for UserTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.current())
    }

    fn cached(&self) -> Option<AccessToken> {
        self.fresh_cached()
    }

    fn invalidate(&self, token: &AccessToken) -> bool {
        *self
            .shared
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(token.clone());
        let mut cached = self
            .shared
            .cached
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if cached.as_ref().is_some_and(|(t, _)| t == token) {
            *cached = None;
        }
        true
    }
}

impl fmt::Debug for UserTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserTokenSource")
            .field("app_id", &self.shared.app_id)
            .field("key", &self.shared.key.fingerprint())
            .field("store", &self.shared.store)
            .finish_non_exhaustive()
    }
}

crate::operation! {
    /// Who a user access token belongs to.
    pub GetUserInfo = "aily.auth.user_info", GET "/open-apis/authen/v1/user_info"
}

/// The reply's `data` of [`GetUserInfo`]: the user (lenient: fields may be missing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user's open id (`ou_…`).
    pub open_id: String,
    /// The user's name.
    pub name: String,
}

impl crate::api::request::Endpoint for GetUserInfo {
    type Response = UserInfo;
    type Body = ();
}

/// `GET /open-apis/authen/v1/user_info`, sent with a user token.
///
/// ```
/// use aily_client::auth::UserInfoRequest;
/// assert_eq!(UserInfoRequest::new()?.path(), "/open-apis/authen/v1/user_info");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type UserInfoRequest = crate::api::request::ApiRequest<GetUserInfo>;

impl UserInfoRequest {
    /// The request.
    pub fn new() -> Result<Self, Error> {
        crate::api::request::ApiRequest::with_ids(&[])
    }
}
