//! [`TokenStore`]: where the tenant token of a fleet lives, so that one replica
//! fetches it and every replica uses it. [`LocalTokenStore`] keeps it in process (for
//! clients of one process); with feature `redis`,
//! [`RedisTokenStore`](crate::fleet::store::redis::RedisTokenStore) shares it across processes.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::auth::tenant::{MAX_TOKEN_LIFETIME, instant_after};
use crate::auth::{AccessToken, SecretString};
use crate::error::Error;
use crate::fleet::store::{StoreFuture, fingerprint, hex};

/// How often a replica that lost the lock looks for the winner's token.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// A replica that uses a token due for refresh while another replica refreshes it
/// looks again this soon.
const RECHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Names one app's token in a store: a fingerprint of the base URL, the app id and
/// the app secret (so a rotated secret is a different key, and the key never shows
/// the secret), plus the secret itself for stores that encrypt what they keep.
///
/// `Debug` shows the fingerprint only.
///
/// ```
/// use aily_client::SecretString;
/// use aily_client::auth::TokenKey;
///
/// let key = TokenKey::tenant("https://open.feishu.cn", "cli_a1", &SecretString::new("s3cret"));
/// assert_eq!(key.fingerprint().len(), 32);
/// assert!(!format!("{key:?}").contains("s3cret"));
/// let rotated = TokenKey::tenant("https://open.feishu.cn", "cli_a1", &SecretString::new("new"));
/// assert_ne!(key.fingerprint(), rotated.fingerprint());
/// ```
#[derive(Clone)]
pub struct TokenKey {
    fingerprint: String,
    app_secret: SecretString,
}

impl TokenKey {
    /// The key of the tenant token of app `app_id` with `app_secret` at `base_url`.
    pub fn tenant(base_url: &str, app_id: &str, app_secret: &SecretString) -> TokenKey {
        TokenKey {
            fingerprint: fingerprint(&["tenant", base_url, app_id, app_secret.expose()]),
            app_secret: app_secret.clone(),
        }
    }

    /// The key of a keyless (client-assertion) app's tenant token at `base_url`:
    /// there is no secret, so the store's sealing key comes from the app and host
    /// alone — a store that others can read should not hold it (see the auth module's
    /// "Tokens" reference).
    pub fn keyless(base_url: &str, app_id: &str) -> TokenKey {
        TokenKey {
            fingerprint: fingerprint(&["keyless", base_url, app_id]),
            app_secret: SecretString::new(fingerprint(&["keyless seal", base_url, app_id])),
        }
    }

    /// The fingerprint: 32 hex digits, safe to put in key names and logs.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The app secret, for a store that encrypts the tokens it keeps. Keep it out of logs.
    pub fn app_secret(&self) -> &SecretString {
        &self.app_secret
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// A token found in a store, with the time it has left.
#[derive(Clone, Debug)]
pub struct StoredToken {
    /// The token.
    pub token: AccessToken,
    /// How long it stays valid.
    pub ttl: Duration,
}

/// Proof of holding a store's fetch lock: a random value, released only by its holder.
///
/// ```
/// let a = aily_client::auth::LockId::random();
/// assert_eq!(a.as_str().len(), 32);
/// assert_ne!(a, aily_client::auth::LockId::random());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockId(String);

impl LockId {
    /// A fresh random lock value (128 bits from the system's generator).
    pub fn random() -> LockId {
        let mut bytes = [0u8; 16];
        // The system generator only fails where no OS randomness exists at all; then
        // uniqueness is still kept by the time and a counter.
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            bytes[..8].copy_from_slice(&t.to_be_bytes());
            bytes[8..].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        }
        LockId(hex(&bytes))
    }

    /// A lock value read back from a store.
    pub fn from_string(value: String) -> LockId {
        LockId(value)
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a fleet keeps its tenant token.
///
/// How [`TenantTokenSource`](crate::auth::TenantTokenSource) uses a store, inside its own
/// single flight (so one request per replica at most reaches the store):
///
/// 1. a token the server rejected is removed from the store, only if it is still that
///    token (compare-and-delete);
/// 2. a stored token with more than the refresh margin left is used as it is;
/// 3. otherwise the replica takes the fleet's lock (`SET NX PX` on Redis): the winner
///    fetches one token from Feishu and stores it; the others use the stored token
///    if it is still valid (refresh ahead: nobody waits), else poll for the winner's
///    token, for at most half the attempt timeout;
/// 4. a store that fails or stays silent is skipped: the replica fetches its own token,
///    as without a store.
///
/// Object-safe and async; every method may fail with a
/// [`StoreError`](crate::fleet::store::StoreError), after which the caller carries on as if
/// there were no store.
///
/// ```
/// use std::time::Duration;
/// use aily_client::auth::{LocalTokenStore, TokenKey, TokenStore};
/// use aily_client::{AccessToken, SecretString, TokenKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store: &dyn TokenStore = &LocalTokenStore::new();
/// let key = TokenKey::tenant("https://open.feishu.cn", "cli_a1", &SecretString::new("s"));
/// let lock = store.lock(&key, Duration::from_secs(10)).await?.expect("free");
/// assert!(store.lock(&key, Duration::from_secs(10)).await?.is_none(), "held");
/// let token = AccessToken::new(TokenKind::Tenant, "t-1")?;
/// store.save(&key, &token, Duration::from_secs(7200)).await?;
/// store.unlock(&key, &lock).await?;
/// assert_eq!(store.load(&key).await?.unwrap().token, token);
/// // Compare-and-delete: only the token that was rejected.
/// assert!(!store.invalidate(&key, &AccessToken::new(TokenKind::Tenant, "t-0")?).await?);
/// assert!(store.invalidate(&key, &token).await?);
/// assert!(store.load(&key).await?.is_none());
/// # Ok(()) }
/// ```
pub trait TokenStore: fmt::Debug + Send + Sync + 'static {
    /// The stored token of `key` and the time it has left, if any.
    fn load<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<StoredToken>>;

    /// Stores `token` for `key`, valid for `ttl`.
    fn save<'a>(
        &'a self,
        key: &'a TokenKey,
        token: &'a AccessToken,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Takes the fetch lock of `key` for at most `ttl` if nobody holds it.
    fn lock<'a>(&'a self, key: &'a TokenKey, ttl: Duration) -> StoreFuture<'a, Option<LockId>>;

    /// Releases the lock, if `lock` still holds it.
    fn unlock<'a>(&'a self, key: &'a TokenKey, lock: &'a LockId) -> StoreFuture<'a, ()>;

    /// Deletes the stored token of `key` if it is `token`; says whether it was.
    fn invalidate<'a>(&'a self, key: &'a TokenKey, token: &'a AccessToken)
    -> StoreFuture<'a, bool>;
}

/// An in-process [`TokenStore`]: clients of one process that share it (in an `Arc`)
/// share one token and one fetch. Time is tokio's clock.
///
/// ```
/// use std::sync::Arc;
/// use aily_client::auth::LocalTokenStore;
/// use aily_client::{Client, Credentials};
///
/// let tokens = Arc::new(LocalTokenStore::new());
/// let a = Client::builder().credentials(Credentials::app("cli_a1", "s")).token_store(tokens.clone()).build()?;
/// let b = Client::builder().credentials(Credentials::app("cli_a1", "s")).token_store(tokens).build()?;
/// # let _ = (a, b);
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct LocalTokenStore {
    state: Mutex<LocalState>,
}

#[derive(Debug, Default)]
struct LocalState {
    tokens: HashMap<String, (AccessToken, Instant)>,
    locks: HashMap<String, (LockId, Instant)>,
}

impl LocalTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        LocalTokenStore::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut LocalState, Instant) -> T) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
    {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut state, Instant::now());
        Box::pin(std::future::ready(Ok(out)))
    }
}

impl TokenStore for LocalTokenStore {
    fn load<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<StoredToken>> {
        self.with(|s, now| {
            let (token, until) = s.tokens.get(key.fingerprint())?;
            (*until > now).then(|| StoredToken {
                token: token.clone(),
                ttl: *until - now,
            })
        })
    }

    fn save<'a>(
        &'a self,
        key: &'a TokenKey,
        token: &'a AccessToken,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        self.with(|s, now| {
            s.tokens.insert(
                key.fingerprint().to_owned(),
                (token.clone(), instant_after(now, ttl)),
            );
        })
    }

    fn lock<'a>(&'a self, key: &'a TokenKey, ttl: Duration) -> StoreFuture<'a, Option<LockId>> {
        self.with(|s, now| {
            if s.locks
                .get(key.fingerprint())
                .is_some_and(|(_, until)| *until > now)
            {
                return None;
            }
            let id = LockId::random();
            s.locks.insert(
                key.fingerprint().to_owned(),
                (id.clone(), instant_after(now, ttl)),
            );
            Some(id)
        })
    }

    fn unlock<'a>(&'a self, key: &'a TokenKey, lock: &'a LockId) -> StoreFuture<'a, ()> {
        self.with(|s, _| {
            if s.locks
                .get(key.fingerprint())
                .is_some_and(|(id, _)| id == lock)
            {
                s.locks.remove(key.fingerprint());
            }
        })
    }

    fn invalidate<'a>(
        &'a self,
        key: &'a TokenKey,
        token: &'a AccessToken,
    ) -> StoreFuture<'a, bool> {
        self.with(|s, _| {
            let same = s
                .tokens
                .get(key.fingerprint())
                .is_some_and(|(t, _)| t == token);
            if same {
                s.tokens.remove(key.fingerprint());
            }
            same
        })
    }
}

/// A token obtained through a store: the token, its time left, and — when it is due
/// for refresh but another replica is refreshing it — when to look again.
pub(crate) struct Obtained {
    pub(crate) token: AccessToken,
    pub(crate) ttl: Duration,
    pub(crate) recheck: Option<Duration>,
    /// True when the token came from Feishu (this replica's fetch), false from the store.
    pub(crate) fetched: bool,
}

/// The store protocol of the module docs. `fetch` asks Feishu for a token; `bound`
/// limits the wait for another replica's fetch.
pub(crate) async fn obtain<F, Fut>(
    store: &dyn TokenStore,
    key: &TokenKey,
    margin: Duration,
    bound: Duration,
    rejected: Option<AccessToken>,
    fetch: F,
) -> Result<Obtained, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(AccessToken, Duration), Error>>,
{
    let own = |(token, ttl)| Obtained {
        token,
        ttl,
        recheck: None,
        fetched: true,
    };
    if let Some(bad) = &rejected
        && let Err(e) = store.invalidate(key, bad).await
    {
        tracing::debug!(target: "aily_client::auth::token_store", error = %e, "token store: could not invalidate the rejected token");
    }
    let deadline = instant_after(Instant::now(), bound);
    let rounds = (bound.as_millis() / POLL_INTERVAL.as_millis()).max(1) + 1;
    for _ in 0..rounds {
        let stored = match store.load(key).await {
            // A store's time left is bounded where it enters, like Feishu's `expire`.
            Ok(stored) => stored
                .filter(|s| rejected.as_ref() != Some(&s.token))
                .map(|s| StoredToken {
                    ttl: s.ttl.min(MAX_TOKEN_LIFETIME),
                    ..s
                }),
            Err(e) => {
                tracing::debug!(target: "aily_client::auth::token_store", error = %e, "token store: load failed; fetching in process");
                return fetch().await.map(own);
            }
        };
        if let Some(s) = &stored
            && s.ttl > margin
        {
            return Ok(Obtained {
                token: s.token.clone(),
                ttl: s.ttl,
                recheck: None,
                fetched: false,
            });
        }
        match store.lock(key, bound).await {
            Ok(Some(lock)) => {
                // Double check under the lock: the replica that held it before may
                // have stored its token between our load and our lock.
                if let Ok(Some(s)) = store.load(key).await
                    && s.ttl > margin
                    && rejected.as_ref() != Some(&s.token)
                {
                    let ttl = s.ttl.min(MAX_TOKEN_LIFETIME);
                    if let Err(e) = store.unlock(key, &lock).await {
                        tracing::debug!(target: "aily_client::auth::token_store", error = %e, "token store: could not release the lock (it expires)");
                    }
                    return Ok(Obtained {
                        token: s.token,
                        ttl,
                        recheck: None,
                        fetched: false,
                    });
                }
                let fetched = fetch().await;
                if let Ok((token, ttl)) = &fetched
                    && let Err(e) = store.save(key, token, *ttl).await
                {
                    tracing::debug!(target: "aily_client::auth::token_store", error = %e, "token store: could not save the new token");
                }
                if let Err(e) = store.unlock(key, &lock).await {
                    tracing::debug!(target: "aily_client::auth::token_store", error = %e, "token store: could not release the lock (it expires)");
                }
                return fetched.map(own);
            }
            Ok(None) => {
                // Another replica is fetching. Refresh ahead: a still-valid token serves
                // meanwhile, and this replica looks again soon.
                if let Some(s) = stored
                    && !s.ttl.is_zero()
                {
                    let recheck = RECHECK_INTERVAL.min(s.ttl / 2);
                    return Ok(Obtained {
                        token: s.token,
                        ttl: s.ttl,
                        recheck: Some(recheck),
                        fetched: false,
                    });
                }
                if Instant::now() + POLL_INTERVAL >= deadline {
                    break;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            Err(e) => {
                tracing::debug!(target: "aily_client::auth::token_store", error = %e, "token store: lock failed; fetching in process");
                return fetch().await.map(own);
            }
        }
    }
    tracing::debug!(target: "aily_client::auth::token_store", "token store: no token from the fleet in time; fetching in process");
    fetch().await.map(own)
}
